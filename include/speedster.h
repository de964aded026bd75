/*
 * speedster.h - the public C API of speedster: load an ONNX model, run it,
 * and (later) search for the fastest equivalent inference learner.
 *
 * A worked example:
 *
 *     spd_model *m = NULL;
 *     if (spd_model_load("model.onnx", &m) != SPD_OK) {
 *         fprintf(stderr, "%s\n", spd_last_error());
 *         return 1;
 *     }
 *     spd_tensor in[1] = {0}, out[1] = {0};
 *     ...fill in[0] (dtype, ndim, dims, data)...
 *     if (spd_model_run(m, in, 1, out, 1) != SPD_OK) ...
 *     ...read out[0]...
 *     spd_tensor_release(&out[0]);
 *     spd_model_free(m);
 *
 * Every function returns a status; on failure spd_last_error() holds one
 * line naming the file, node or field and the problem. The library never
 * prints.
 */
#ifndef SPEEDSTER_H
#define SPEEDSTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPD_VERSION_MAJOR 0
#define SPD_VERSION_MINOR 1
#define SPD_VERSION_PATCH 0
#define SPD_VERSION_STRING "0.1.0"

typedef enum spd_status {
    SPD_OK = 0,
    SPD_ERR_INVALID = 1,     /* the user's input is wrong (model, data, option) */
    SPD_ERR_UNSUPPORTED = 2, /* valid, but this build cannot do it */
    SPD_ERR_IO = 3,          /* a file could not be read or written */
    SPD_ERR_NOMEM = 4,
    SPD_ERR_INTERNAL = 5     /* a bug in speedster */
} spd_status;

/* Element types, numbered as ONNX's TensorProto.DataType. */
typedef enum spd_dtype {
    SPD_UNDEFINED = 0,
    SPD_FLOAT = 1,
    SPD_UINT8 = 2,
    SPD_INT8 = 3,
    SPD_UINT16 = 4,
    SPD_INT16 = 5,
    SPD_INT32 = 6,
    SPD_INT64 = 7,
    SPD_STRING = 8,
    SPD_BOOL = 9,
    SPD_FLOAT16 = 10,
    SPD_DOUBLE = 11,
    SPD_UINT32 = 12,
    SPD_UINT64 = 13,
    SPD_COMPLEX64 = 14,
    SPD_COMPLEX128 = 15,
    SPD_BFLOAT16 = 16
} spd_dtype;

#define SPD_MAX_DIMS 8

/* A dense, row-major tensor. `owner` is non-zero when `data` was allocated by
 * speedster and must be released with spd_tensor_release(). */
typedef struct spd_tensor {
    spd_dtype dtype;
    int ndim;
    int64_t dims[SPD_MAX_DIMS];
    void *data;
    int owner;
} spd_tensor;

/* The last error message of this thread ("" when none). */
const char *spd_last_error(void);

/* Bytes per element (0 for strings and unknown types). */
size_t spd_dtype_size(spd_dtype t);
const char *spd_dtype_name(spd_dtype t);
int64_t spd_tensor_numel(const spd_tensor *t);
size_t spd_tensor_nbytes(const spd_tensor *t);
/* "float32[1,3,224,224]" into buf; returns buf. */
const char *spd_tensor_describe(const spd_tensor *t, char *buf, size_t n);
/* Element i of a numeric or bool tensor as a double. */
double spd_tensor_element(const spd_tensor *t, int64_t i);
/* Frees the data if the tensor owns it and clears the tensor. */
void spd_tensor_release(spd_tensor *t);

/* Tensor files: ONNX TensorProto (.pb) and numpy (.npy), chosen by suffix. */
spd_status spd_tensor_read_file(const char *path, spd_tensor *out);
spd_status spd_tensor_write_file(const char *path, const spd_tensor *t);

/* Models. */
typedef struct spd_model spd_model;

spd_status spd_model_load(const char *path, spd_model **out);
void spd_model_free(spd_model *m);
int spd_model_num_inputs(const spd_model *m);
int spd_model_num_outputs(const spd_model *m);
const char *spd_model_input_name(const spd_model *m, int i);
const char *spd_model_output_name(const spd_model *m, int i);
/* The declared dtype and shape of user input i; symbolic or unknown dims
 * are -1, and *ndim is -1 when the rank is unknown. */
spd_status spd_model_input_info(const spd_model *m, int i, spd_dtype *dtype, int *ndim,
                                int64_t dims[SPD_MAX_DIMS]);
spd_status spd_model_output_info(const spd_model *m, int i, spd_dtype *dtype, int *ndim,
                                 int64_t dims[SPD_MAX_DIMS]);
/* A human-readable summary (producer, opsets, inputs, outputs, operators,
 * weights), to be released with spd_string_free(). */
char *spd_model_summary(const spd_model *m);
void spd_string_free(char *s);

/* Runs the model. Outputs are allocated by speedster: release them with
 * spd_tensor_release(). Inputs are never modified. */
spd_status spd_model_run(spd_model *m, const spd_tensor *inputs, int n_inputs,
                         spd_tensor *outputs, int n_outputs);

/* Threads used by one model (0 = NEBULLVM_THREADS_PER_MODEL or all cores). */
void spd_set_num_threads(int n);


/* ---------------------------------------------------------------------------
 * optimize_model: try every backend and technique the hardware and the
 * threshold allow, keep the candidates whose outputs stay within the metric
 * threshold, and return the fastest as a learner.
 *
 *     spd_dataset *data = NULL;
 *     spd_dataset_load_dir("samples/", &data);          // test_data_set_N/input_K.pb
 *     spd_optimize_options o = spd_optimize_options_default();
 *     o.metric_drop_ths = 0.01;
 *     spd_learner *l = NULL;
 *     if (spd_optimize_model("model.onnx", data, &o, &l) != SPD_OK) ...
 *     spd_learner_run(l, in, 1, out, 1);
 *     spd_learner_save(l, "learner/");
 * ------------------------------------------------------------------------- */

/* Input samples: each holds one tensor per model input and an optional label. */
typedef struct spd_dataset spd_dataset;

spd_dataset *spd_dataset_new(void);
void spd_dataset_free(spd_dataset *d);
/* Copies the inputs (and the label, which may be NULL) into the dataset. */
spd_status spd_dataset_add(spd_dataset *d, const spd_tensor *inputs, int n_inputs, const spd_tensor *label);
int spd_dataset_size(const spd_dataset *d);
/* DIR/test_data_set_N/input_K.{pb,npy} (+ optional label.{pb,npy}), N = 0, 1, ... */
spd_status spd_dataset_load_dir(const char *dir, spd_dataset **out);

/* A user metric, called once per validation sample with that sample's
 * outputs (n_outputs each) of the original and the candidate, and its label
 * (NULL when none). It returns the drop the candidate causes; the drops are
 * averaged over the validation samples and compared with metric_drop_ths. */
typedef double (*spd_metric_fn)(const spd_tensor *original, const spd_tensor *optimized, int n_outputs,
                                const spd_tensor *label, void *user);

/* Progress lines and the results table; the library itself never prints. */
typedef void (*spd_log_fn)(const char *line, void *user);

typedef struct spd_optimize_options {
    const char *metric;             /* "numeric_precision" (default) or "accuracy"; ignored with metric_fn */
    spd_metric_fn metric_fn;
    void *metric_user;
    double metric_drop_ths;         /* default 0: lossless candidates only */
    const char *optimization_time;  /* "constrained" (default) or "unconstrained" */
    const char *dynamic_info;       /* path of a dynamic_info JSON file, or NULL */
    const char *config_file;        /* JSON or YAML compression config, or NULL */
    const char *ignore_compilers;   /* comma-separated names, or NULL */
    const char *ignore_compressors; /* comma-separated names, or NULL */
    int store_latencies;            /* write <model>_latencies_<hex>.json */
    const char *latencies_dir;      /* where (NULL: the working directory) */
    const char *device;             /* cpu, gpu, cuda, gpu:N, cuda:N; NULL = GPU if present */
    int threads;                    /* 0: NEBULLVM_THREADS_PER_MODEL or all cores */
    int n_random_samples;           /* used when no dataset is given (default 100) */
    spd_log_fn log;                 /* progress lines and the report (NULL: silent) */
    void *log_user;
} spd_optimize_options;

spd_optimize_options spd_optimize_options_default(void);

typedef struct spd_learner spd_learner;

/* data may be NULL: then n_random_samples random inputs fitted to the
 * model's signature are used (metric "accuracy" then needs labels and fails). */
spd_status spd_optimize_model(const char *model_path, const spd_dataset *data,
                              const spd_optimize_options *opts, spd_learner **out);

/* The learner takes and returns what the original model did: same input and
 * output names, order and dtypes. */
spd_status spd_learner_run(spd_learner *l, const spd_tensor *inputs, int n_inputs,
                           spd_tensor *outputs, int n_outputs);
int spd_learner_num_inputs(const spd_learner *l);
int spd_learner_num_outputs(const spd_learner *l);
const char *spd_learner_input_name(const spd_learner *l, int i);
const char *spd_learner_output_name(const spd_learner *l, int i);
spd_status spd_learner_input_info(const spd_learner *l, int i, spd_dtype *dtype, int *ndim,
                                  int64_t dims[SPD_MAX_DIMS]);
/* The folder: metadata.json + model.onnx (+ backend files). */
spd_status spd_learner_save(const spd_learner *l, const char *dir);
spd_status spd_learner_load(const char *dir, spd_learner **out);
/* The results table of the search that made it ("" for a loaded learner). */
const char *spd_learner_report(const spd_learner *l);
const char *spd_learner_backend(const spd_learner *l);
const char *spd_learner_technique(const spd_learner *l);
double spd_learner_latency(const spd_learner *l);       /* seconds per batch, measured */
double spd_learner_metric_drop(const spd_learner *l);
size_t spd_learner_size(const spd_learner *l);          /* bytes of weights */
void spd_learner_free(spd_learner *l);

#ifdef __cplusplus
}
#endif
#endif
