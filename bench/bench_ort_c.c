/*
 * bench_ort_c - time one model with ONNX Runtime through its C API, the way a
 * C or C++ program calls it: no interpreter or binding between the clock and
 * OrtApi::Run. It prints the same JSON line as bench_ort.js, so run_bench.sh
 * can use either.
 *
 * usage: bench_ort_c CASE_DIR [--threads N] [--warmup N] [--warmup-ms MS] [--runs N]
 *                    [--check] [--times] [--profile PREFIX] [--lib PATH]
 *   CASE_DIR holds model.onnx and test_data_set_0/input_K.pb (output_K.pb for
 *   --check). The library is --lib, else $ORT_LIB, else the one that ships
 *   inside bench/node_modules/onnxruntime-node (run_bench.sh passes it as
 *   --lib). --profile writes ORT's per-node profile of every call to
 *   PREFIX_<date>.json (bench/ort_profile.py sums it).
 *
 * No ONNX Runtime header is on this machine, so the few OrtApi members used
 * are reached by their slot in the function table. The table only ever grows
 * at its end (the runtime asserts the positions of its members at build
 * time), and GetApi returns the same table for every version up to its own,
 * so asking for version 13 gives slots that hold for 1.13 through 1.30.
 *
 * Session options are those of bench_ort.js: intra-op threads N, inter-op 1,
 * every graph optimisation, sequential execution, ORT's default arena and
 * memory pattern. Inputs are wrapped in place, and outputs are bound to
 * buffers allocated once after the first call, so a timed call is Run and
 * nothing else: the fastest way a user can call ORT.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "speedster.h"

/* ---- the slice of the C API used here ------------------------------------ */

typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtAllocator OrtAllocator;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;

typedef struct OrtApiBase {
    const void *(*GetApi)(uint32_t version);
    const char *(*GetVersionString)(void);
} OrtApiBase;

enum {
    SLOT_GET_ERROR_MESSAGE = 2,
    SLOT_CREATE_ENV = 3,
    SLOT_CREATE_SESSION = 7,
    SLOT_RUN = 9,
    SLOT_CREATE_SESSION_OPTIONS = 10,
    SLOT_SET_EXECUTION_MODE = 13,
    SLOT_ENABLE_PROFILING = 14,
    SLOT_SET_GRAPH_OPT_LEVEL = 23,
    SLOT_SET_INTRA_OP_THREADS = 24,
    SLOT_SET_INTER_OP_THREADS = 25,
    SLOT_SESSION_INPUT_COUNT = 30,
    SLOT_SESSION_OUTPUT_COUNT = 31,
    SLOT_SESSION_INPUT_NAME = 36,
    SLOT_SESSION_OUTPUT_NAME = 37,
    SLOT_CREATE_TENSOR_WITH_DATA = 49,
    SLOT_TENSOR_MUTABLE_DATA = 51,
    SLOT_TENSOR_ELEMENT_TYPE = 60,
    SLOT_DIMENSIONS_COUNT = 61,
    SLOT_DIMENSIONS = 62,
    SLOT_TENSOR_TYPE_AND_SHAPE = 65,
    SLOT_CREATE_CPU_MEMORY_INFO = 69,
    SLOT_ALLOCATOR_FREE = 76,
    SLOT_DEFAULT_ALLOCATOR = 78,
    SLOT_RELEASE_ENV = 92,
    SLOT_RELEASE_STATUS = 93,
    SLOT_RELEASE_MEMORY_INFO = 94,
    SLOT_RELEASE_SESSION = 95,
    SLOT_RELEASE_VALUE = 96,
    SLOT_RELEASE_SHAPE_INFO = 99,
    SLOT_RELEASE_SESSION_OPTIONS = 100,
    SLOT_END_PROFILING = 110,
    API_VERSION = 13,
};

enum { ORT_LOGGING_WARNING = 2, ORT_ENABLE_ALL = 99, ORT_SEQUENTIAL = 0 };
enum { ORT_ARENA_ALLOCATOR = 1, ORT_MEM_TYPE_DEFAULT = 0 };

static void *const *api; /* the OrtApi table */

#define SLOT(type, slot) ((type)api[slot])

static int ok(OrtStatus *st, const char *what)
{
    if (!st) return 1;
    const char *msg = SLOT(const char *(*)(const OrtStatus *), SLOT_GET_ERROR_MESSAGE)(st);
    fprintf(stderr, "bench_ort_c: %s: %s\n", what, msg);
    SLOT(void (*)(OrtStatus *), SLOT_RELEASE_STATUS)(st);
    return 0;
}

/* ---- timing and statistics ----------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, int n, double q)
{
    double pos = (n - 1) * q;
    int lo = (int)floor(pos), hi = (int)ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/* ---- one session ---------------------------------------------------------- */

typedef struct bench {
    OrtEnv *env;
    OrtSessionOptions *opts;
    OrtSession *sess;
    OrtMemoryInfo *mem;
    OrtAllocator *alloc;
    size_t n_in, n_out;
    char **in_names, **out_names;
    spd_tensor *in_data, *out_data;
    OrtValue **in_vals, **out_vals;
} bench;

typedef struct options {
    const char *case_dir, *lib, *profile;
    int threads, warmup, runs, check, times;
    double warmup_ms;
} options;

/* ONNX element types and ORT's share one numbering. */
static int wrap(const bench *b, spd_tensor *t, OrtValue **out, const char *what)
{
    OrtStatus *(*create)(const OrtMemoryInfo *, void *, size_t, const int64_t *, size_t, int,
                         OrtValue **) =
        SLOT(OrtStatus * (*)(const OrtMemoryInfo *, void *, size_t, const int64_t *, size_t, int,
                             OrtValue **),
             SLOT_CREATE_TENSOR_WITH_DATA);
    return ok(create(b->mem, t->data, spd_tensor_nbytes(t), t->dims, (size_t)t->ndim, (int)t->dtype,
                     out),
              what);
}

static int open_session(bench *b, const options *o)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", o->case_dir);
    if (!ok(SLOT(OrtStatus * (*)(int, const char *, OrtEnv **), SLOT_CREATE_ENV)(
                ORT_LOGGING_WARNING, "bench_ort_c", &b->env),
            "CreateEnv") ||
        !ok(SLOT(OrtStatus * (*)(OrtSessionOptions **), SLOT_CREATE_SESSION_OPTIONS)(&b->opts),
            "CreateSessionOptions") ||
        !ok(SLOT(OrtStatus * (*)(OrtSessionOptions *, int), SLOT_SET_INTRA_OP_THREADS)(
                b->opts, o->threads),
            "SetIntraOpNumThreads") ||
        !ok(SLOT(OrtStatus * (*)(OrtSessionOptions *, int), SLOT_SET_INTER_OP_THREADS)(b->opts, 1),
            "SetInterOpNumThreads") ||
        !ok(SLOT(OrtStatus * (*)(OrtSessionOptions *, int), SLOT_SET_GRAPH_OPT_LEVEL)(
                b->opts, ORT_ENABLE_ALL),
            "SetSessionGraphOptimizationLevel") ||
        !ok(SLOT(OrtStatus * (*)(OrtSessionOptions *, int), SLOT_SET_EXECUTION_MODE)(
                b->opts, ORT_SEQUENTIAL),
            "SetSessionExecutionMode") ||
        (o->profile &&
         !ok(SLOT(OrtStatus * (*)(OrtSessionOptions *, const char *), SLOT_ENABLE_PROFILING)(
                 b->opts, o->profile),
             "EnableProfiling")) ||
        !ok(SLOT(OrtStatus * (*)(const OrtEnv *, const char *, const OrtSessionOptions *,
                                 OrtSession **),
                 SLOT_CREATE_SESSION)(b->env, path, b->opts, &b->sess),
            path) ||
        !ok(SLOT(OrtStatus * (*)(int, int, OrtMemoryInfo **), SLOT_CREATE_CPU_MEMORY_INFO)(
                ORT_ARENA_ALLOCATOR, ORT_MEM_TYPE_DEFAULT, &b->mem),
            "CreateCpuMemoryInfo") ||
        !ok(SLOT(OrtStatus * (*)(OrtAllocator **), SLOT_DEFAULT_ALLOCATOR)(&b->alloc),
            "GetAllocatorWithDefaultOptions"))
        return 0;
    if (!ok(SLOT(OrtStatus * (*)(const OrtSession *, size_t *), SLOT_SESSION_INPUT_COUNT)(
                b->sess, &b->n_in),
            "SessionGetInputCount") ||
        !ok(SLOT(OrtStatus * (*)(const OrtSession *, size_t *), SLOT_SESSION_OUTPUT_COUNT)(
                b->sess, &b->n_out),
            "SessionGetOutputCount"))
        return 0;
    b->in_names = calloc(b->n_in + 1, sizeof *b->in_names);
    b->out_names = calloc(b->n_out + 1, sizeof *b->out_names);
    b->in_data = calloc(b->n_in + 1, sizeof *b->in_data);
    b->out_data = calloc(b->n_out + 1, sizeof *b->out_data);
    b->in_vals = calloc(b->n_in + 1, sizeof *b->in_vals);
    b->out_vals = calloc(b->n_out + 1, sizeof *b->out_vals);
    if (!b->in_names || !b->out_names || !b->in_data || !b->out_data || !b->in_vals ||
        !b->out_vals) {
        fprintf(stderr, "bench_ort_c: out of memory\n");
        return 0;
    }
    typedef OrtStatus *(*name_fn)(const OrtSession *, size_t, OrtAllocator *, char **);
    for (size_t i = 0; i < b->n_in; i++)
        if (!ok(SLOT(name_fn, SLOT_SESSION_INPUT_NAME)(b->sess, i, b->alloc, &b->in_names[i]),
                "SessionGetInputName"))
            return 0;
    for (size_t i = 0; i < b->n_out; i++)
        if (!ok(SLOT(name_fn, SLOT_SESSION_OUTPUT_NAME)(b->sess, i, b->alloc, &b->out_names[i]),
                "SessionGetOutputName"))
            return 0;
    return 1;
}

static int load_inputs(bench *b, const char *case_dir)
{
    for (size_t i = 0; i < b->n_in; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%zu.pb", case_dir, i);
        if (spd_tensor_read_file(path, &b->in_data[i]) != SPD_OK) {
            fprintf(stderr, "bench_ort_c: %s\n", spd_last_error());
            return 0;
        }
        if (!wrap(b, &b->in_data[i], &b->in_vals[i], path)) return 0;
    }
    return 1;
}

static OrtStatus *run(bench *b)
{
    typedef OrtStatus *(*run_fn)(OrtSession *, const void *, const char *const *,
                                 const OrtValue *const *, size_t, const char *const *, size_t,
                                 OrtValue **);
    return SLOT(run_fn, SLOT_RUN)(b->sess, NULL, (const char *const *)b->in_names,
                                  (const OrtValue *const *)b->in_vals, b->n_in,
                                  (const char *const *)b->out_names, b->n_out, b->out_vals);
}

/* After a first call with ORT allocating the outputs: copy their shapes into
 * buffers of ours and bind those, so timed calls write in place. */
static int bind_outputs(bench *b)
{
    if (!ok(run(b), "Run")) return 0;
    for (size_t i = 0; i < b->n_out; i++) {
        OrtTensorTypeAndShapeInfo *info = NULL;
        int type = 0;
        size_t nd = 0;
        spd_tensor *t = &b->out_data[i];
        if (!ok(SLOT(OrtStatus * (*)(const OrtValue *, OrtTensorTypeAndShapeInfo **),
                     SLOT_TENSOR_TYPE_AND_SHAPE)(b->out_vals[i], &info),
                "GetTensorTypeAndShape"))
            return 0;
        int good = ok(SLOT(OrtStatus * (*)(const OrtTensorTypeAndShapeInfo *, int *),
                           SLOT_TENSOR_ELEMENT_TYPE)(info, &type),
                      "GetTensorElementType") &&
                   ok(SLOT(OrtStatus * (*)(const OrtTensorTypeAndShapeInfo *, size_t *),
                           SLOT_DIMENSIONS_COUNT)(info, &nd),
                      "GetDimensionsCount");
        if (good && nd > SPD_MAX_DIMS) {
            fprintf(stderr, "bench_ort_c: output %zu has %zu dimensions\n", i, nd);
            good = 0;
        }
        if (good)
            good = ok(SLOT(OrtStatus * (*)(const OrtTensorTypeAndShapeInfo *, int64_t *, size_t),
                           SLOT_DIMENSIONS)(info, t->dims, nd),
                      "GetDimensions");
        SLOT(void (*)(OrtTensorTypeAndShapeInfo *), SLOT_RELEASE_SHAPE_INFO)(info);
        if (!good) return 0;
        t->dtype = (spd_dtype)type;
        t->ndim = (int)nd;
        size_t bytes = spd_tensor_nbytes(t);
        if (spd_dtype_size(t->dtype) == 0) {
            fprintf(stderr, "bench_ort_c: output %zu: element type %d not timed here\n", i, type);
            return 0;
        }
        t->data = malloc(bytes ? bytes : 1); /* ours: freed by close_session */
        if (!t->data) return 0;
        SLOT(void (*)(OrtValue *), SLOT_RELEASE_VALUE)(b->out_vals[i]);
        b->out_vals[i] = NULL;
        if (!wrap(b, t, &b->out_vals[i], "output")) return 0;
    }
    return 1;
}

/* Largest errors of the bound outputs against output_K.pb, and whether every
 * element is within rtol 1e-4, atol 1e-5 (bench_ort.js's --check). */
static int check_outputs(const bench *b, const char *case_dir, double *max_abs, double *max_rel)
{
    int all = 1;
    *max_abs = *max_rel = 0;
    for (size_t i = 0; i < b->n_out; i++) {
        char path[4096];
        spd_tensor want = {0};
        snprintf(path, sizeof path, "%s/test_data_set_0/output_%zu.pb", case_dir, i);
        if (spd_tensor_read_file(path, &want) != SPD_OK) {
            fprintf(stderr, "bench_ort_c: %s\n", spd_last_error());
            return 0;
        }
        const spd_tensor *got = &b->out_data[i];
        int64_t n = spd_tensor_numel(&want);
        if (n != spd_tensor_numel(got)) all = 0;
        for (int64_t j = 0; all && j < n; j++) {
            double e = spd_tensor_element(&want, j), g = spd_tensor_element(got, j);
            double d = fabs(g - e);
            if (d > *max_abs) *max_abs = d;
            if (e != 0 && d / fabs(e) > *max_rel) *max_rel = d / fabs(e);
            if (!(d <= 1e-5 + 1e-4 * fabs(e))) all = 0;
        }
        spd_tensor_release(&want);
    }
    return all;
}

static void close_session(bench *b)
{
    typedef void (*release_fn)(void *);
    for (size_t i = 0; i < b->n_in && b->in_vals; i++) {
        SLOT(release_fn, SLOT_RELEASE_VALUE)(b->in_vals[i]);
        spd_tensor_release(&b->in_data[i]);
    }
    for (size_t i = 0; i < b->n_out && b->out_vals; i++) {
        SLOT(release_fn, SLOT_RELEASE_VALUE)(b->out_vals[i]);
        free(b->out_data[i].data);
    }
    typedef OrtStatus *(*free_fn)(OrtAllocator *, void *);
    for (size_t i = 0; i < b->n_in && b->in_names; i++)
        if (b->in_names[i]) ok(SLOT(free_fn, SLOT_ALLOCATOR_FREE)(b->alloc, b->in_names[i]), "free");
    for (size_t i = 0; i < b->n_out && b->out_names; i++)
        if (b->out_names[i])
            ok(SLOT(free_fn, SLOT_ALLOCATOR_FREE)(b->alloc, b->out_names[i]), "free");
    SLOT(release_fn, SLOT_RELEASE_SESSION)(b->sess);
    SLOT(release_fn, SLOT_RELEASE_SESSION_OPTIONS)(b->opts);
    SLOT(release_fn, SLOT_RELEASE_MEMORY_INFO)(b->mem);
    SLOT(release_fn, SLOT_RELEASE_ENV)(b->env);
    free(b->in_names);
    free(b->out_names);
    free(b->in_data);
    free(b->out_data);
    free(b->in_vals);
    free(b->out_vals);
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.threads = 1, .warmup = 2, .runs = 10};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--check")) o->check = 1;
        else if (!strcmp(a, "--times")) o->times = 1;
        else if (!strcmp(a, "--threads") && has_value) o->threads = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && has_value) o->warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup-ms") && has_value) o->warmup_ms = atof(argv[++i]);
        else if (!strcmp(a, "--runs") && has_value) o->runs = atoi(argv[++i]);
        else if (!strcmp(a, "--lib") && has_value) o->lib = argv[++i];
        else if (!strcmp(a, "--profile") && has_value) o->profile = argv[++i];
        else if (a[0] != '-' && !o->case_dir) o->case_dir = a;
        else {
            fprintf(stderr, "bench_ort_c: unexpected argument %s\n", a);
            return 0;
        }
    }
    if (!o->lib) o->lib = getenv("ORT_LIB");
    if (!o->case_dir || !o->lib || o->threads < 1 || o->runs < 1 || o->warmup < 0) {
        fprintf(stderr, "usage: bench_ort_c CASE_DIR [--threads N] [--warmup N] [--warmup-ms MS] "
                        "[--runs N] [--check] [--times] [--profile PREFIX]\n"
                        "                   [--lib LIBONNXRUNTIME | env ORT_LIB]\n");
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse_args(argc, argv, &o)) return 2;
    void *lib = dlopen(o.lib, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "bench_ort_c: %s\n", dlerror());
        return 1;
    }
    const OrtApiBase *(*get_base)(void) =
        (const OrtApiBase *(*)(void))dlsym(lib, "OrtGetApiBase");
    const OrtApiBase *base = get_base ? get_base() : NULL;
    api = base ? base->GetApi(API_VERSION) : NULL;
    if (!api) {
        fprintf(stderr, "bench_ort_c: %s offers no OrtApi version %d\n", o.lib, API_VERSION);
        return 1;
    }

    bench b = {0};
    double load_ms = now_ms();
    int good = open_session(&b, &o);
    load_ms = now_ms() - load_ms;
    good = good && load_inputs(&b, o.case_dir) && bind_outputs(&b);
    double *times = good ? malloc(sizeof *times * (size_t)o.runs) : NULL;
    if (good && !times) good = 0;
    if (good) {
        double warm_until = now_ms() + o.warmup_ms;
        for (int i = 0; good && (i < o.warmup || now_ms() < warm_until); i++)
            good = ok(run(&b), "Run");
        for (int i = 0; good && i < o.runs; i++) {
            double s = now_ms();
            OrtStatus *st = run(&b);
            times[i] = now_ms() - s;
            good = ok(st, "Run");
        }
    }
    if (good) {
        double *sorted = malloc(sizeof *sorted * (size_t)o.runs), mean = 0;
        if (!sorted) return 1;
        memcpy(sorted, times, sizeof *sorted * (size_t)o.runs);
        qsort(sorted, (size_t)o.runs, sizeof *sorted, cmp_double);
        for (int i = 0; i < o.runs; i++) mean += times[i] / o.runs;
        const char *name = strrchr(o.case_dir, '/');
        name = name && name[1] ? name + 1 : o.case_dir;
        printf("{\"model\": \"%s\", \"runtime\": \"onnxruntime %s (C API)\", \"threads\": %d, "
               "\"runs\": %d, \"warmup\": %d, \"median_ms\": %.4f, \"p90_ms\": %.4f, "
               "\"min_ms\": %.4f, \"max_ms\": %.4f, \"mean_ms\": %.4f, \"load_ms\": %.3f",
               name, base->GetVersionString(), o.threads, o.runs, o.warmup,
               quantile(sorted, o.runs, 0.5), quantile(sorted, o.runs, 0.9), sorted[0],
               sorted[o.runs - 1], mean, load_ms);
        if (o.check) {
            double ma, mr;
            int all = check_outputs(&b, o.case_dir, &ma, &mr);
            printf(", \"max_abs\": %.3g, \"max_rel\": %.3g, \"allclose\": %s", ma, mr,
                   all ? "true" : "false");
        }
        if (o.times) {
            printf(", \"times_ms\": [");
            for (int i = 0; i < o.runs; i++) printf("%s%.4f", i ? ", " : "", times[i]);
            printf("]");
        }
        printf("}\n");
        free(sorted);
    }
    free(times);
    if (o.profile && b.sess) {
        char *file = NULL;
        if (ok(SLOT(OrtStatus * (*)(OrtSession *, OrtAllocator *, char **), SLOT_END_PROFILING)(
                   b.sess, b.alloc, &file),
               "SessionEndProfiling") &&
            file) {
            fprintf(stderr, "bench_ort_c: profile in %s\n", file);
            ok(SLOT(OrtStatus * (*)(OrtAllocator *, void *), SLOT_ALLOCATOR_FREE)(b.alloc, file),
               "free");
        }
    }
    close_session(&b);
    dlclose(lib);
    return good ? 0 : 1;
}
