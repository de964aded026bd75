/* ONNX model and tensor files: reading (zero-copy where possible), writing,
 * and the memory mappings that initializers may point into. */
#ifndef SPD_IO_ONNX_H
#define SPD_IO_ONNX_H

#include <stddef.h>
#include <stdint.h>
#include "ir/graph.h"

/* A read-only memory-mapped file (or, for an empty file, no mapping). */
struct spd_mapping {
    char *path;
    const uint8_t *data; /* NULL when size == 0 */
    size_t size;
    int refs;            /* tensors pointing into it, counted by the reader */
};

/* Maps `path` read-only. Empty files are mapped with data = NULL, size = 0. */
spd_status spd_mapping_open(const char *path, spd_mapping **out);
void spd_mapping_free(spd_mapping *m);

/* Loads an ONNX model file. Initializers whose raw data is suitably aligned
 * point into the mapped file (owner = 0); the mappings live in
 * model->mappings until spd_onnx_model_free. */
spd_status spd_onnx_load(const char *path, spd_model **out);
/* Loads a model from memory; all tensor data is copied, so `buf` may be
 * freed afterwards. External data is refused. `label` names the source in
 * error messages. */
spd_status spd_onnx_load_buffer(const void *buf, size_t len, const char *label, spd_model **out);
/* Frees the model and all it owns except m->runtime (the caller frees that
 * first). NULL is fine. */
void spd_onnx_model_free(spd_model *m);

/* Serializes a model as a ModelProto (tensors as raw_data). */
spd_status spd_onnx_encode(const spd_model *m, uint8_t **buf, size_t *len);
spd_status spd_onnx_save(const spd_model *m, const char *path);

/* One TensorProto. The decoded tensor owns its data. *name_out (when
 * name_out is non-NULL) receives the tensor's name, "" when none, to be
 * spd_free'd. String tensors come back with dtype SPD_STRING, their shape,
 * and data NULL. */
spd_status spd_tensorproto_decode(const uint8_t *buf, size_t len, spd_tensor *out, char **name_out);
/* Encodes t as a TensorProto with raw_data; name may be NULL. *buf is to be
 * spd_free'd. */
spd_status spd_tensorproto_encode(const spd_tensor *t, const char *name, uint8_t **buf, size_t *len);

/* Internal to src/io: writes a then b to path (SPD_ERR_IO naming the path on
 * failure; a partly written file is removed). */
spd_status spd_io_write_parts(const char *path, const void *a, size_t an, const void *b, size_t bn);

#endif
