/* Tensor helpers shared by the reader, the interpreter and the kernels. */
#ifndef SPD_IR_TENSOR_H
#define SPD_IR_TENSOR_H

#include <stdbool.h>
#include "speedster.h"

/* Sets dtype and shape and allocates zeroed storage (owner = 1). Any data the
 * tensor owned before is released first. Fails with a message on a negative
 * dim, too many dims, or a size that overflows. */
spd_status spd_tensor_alloc(spd_tensor *t, spd_dtype dt, int ndim, const int64_t *dims);
/* The same without zeroing, for kernels that write every element: a memset
 * of every intermediate costs a few percent of a CNN's time. */
spd_status spd_tensor_alloc_uninit(spd_tensor *t, spd_dtype dt, int ndim, const int64_t *dims);

/* Memory a caller (the interpreter's memory plan) lends for specific output
 * tensors: while slots are in use on this thread, spd_tensor_alloc() of one
 * of those tensors takes its slot (zeroed, not owned: release does not free
 * it) when the size fits, and allocates as usual otherwise. */
typedef struct spd_out_slot {
    const spd_tensor *t;
    void *data;
    size_t cap;
} spd_out_slot;
typedef struct spd_out_slots {
    const spd_out_slot *slot;
    int n;
} spd_out_slots;
/* Installs s for this thread; returns the previous set to restore. */
spd_out_slots spd_tensor_use_slots(spd_out_slots s);
/* A deep copy of src into dst (dst is overwritten, not released). */
spd_status spd_tensor_copy(spd_tensor *dst, const spd_tensor *src);
/* dst views src's data without owning it. */
void spd_tensor_view(spd_tensor *dst, const spd_tensor *src);
bool spd_tensor_same_shape(const spd_tensor *a, const spd_tensor *b);
/* Product of dims[from..to), 1 when empty. */
int64_t spd_dims_prod(const int64_t *dims, int from, int to);

bool spd_dtype_is_float(spd_dtype t);   /* float16, bfloat16, float, double */
bool spd_dtype_is_int(spd_dtype t);     /* signed and unsigned integers */
bool spd_dtype_is_signed(spd_dtype t);

/* Half-precision conversions (round to nearest even). */
float spd_f16_to_f32(uint16_t h);
uint16_t spd_f32_to_f16(float f);
float spd_bf16_to_f32(uint16_t h);
uint16_t spd_f32_to_bf16(float f);

/* Element i of a tensor of any numeric or bool dtype, as a double, and back
 * (stores round or truncate as a C cast would, bool stores != 0). Slow but
 * dtype-generic: for kernels that are not hot. */
double spd_tensor_get(const spd_tensor *t, int64_t i);
void spd_tensor_set(spd_tensor *t, int64_t i, double v);
/* Same for int64 values exactly (no double rounding). */
int64_t spd_tensor_get_i64(const spd_tensor *t, int64_t i);
void spd_tensor_set_i64(spd_tensor *t, int64_t i, int64_t v);

/* Reads a 1-D (or scalar) int32/int64 tensor into out[] (at most max values);
 * for shape-like inputs such as Reshape's shape or Slice's starts. */
spd_status spd_tensor_to_i64s(const spd_tensor *t, int64_t *out, int max, int *n);

/* Numpy broadcasting of n shapes into (*ndim, dims). */
spd_status spd_broadcast_shapes(int n, const spd_tensor *const *ts, int *ndim, int64_t *dims);
/* Element strides of t seen through the broadcast shape (0 on broadcast
 * axes), right-aligned to ndim. */
void spd_broadcast_strides(const spd_tensor *t, int ndim, const int64_t *dims, int64_t *strides);

#endif
