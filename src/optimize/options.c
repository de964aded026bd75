#include "optimize/options.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/tensor.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/status.h"

/* Names on the spec page (and Speedster's) that this build does not have:
 * accepted, and reported as such. */
static const char *const spec_compilers[] = {
    "deepsparse", "tensor_rt", "tensorrt", "torch_tensor_rt", "onnx_tensor_rt", "torchscript", "onnxruntime",
    "tflite", "tvm", "onnx_tvm", "torch_tvm", "bladedisc", "openvino", "intel_neural_compressor", "torch_xla",
    "torch_neuron", "onednn", "cuda", NULL};
static const char *const spec_compressors[] = {"sparseml", "intel_pruning", NULL};

__attribute__((format(printf, 2, 3))) static void note(spd_resolved_options *r, const char *fmt, ...)
{
    if (r->n_notes >= 32) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->notes[r->n_notes] = spd_strdup(buf);
    if (r->notes[r->n_notes]) r->n_notes++;
}

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s)) return 1;
    return 0;
}

/* Splits "a, b,c" into trimmed lowercase names and calls fn on each. */
static spd_status each_name(const char *csv, spd_resolved_options *r,
                            spd_status (*fn)(spd_resolved_options *, const char *))
{
    if (!csv) return SPD_OK;
    const char *p = csv;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) break;
        char name[64];
        size_t n = 0;
        while (*p && *p != ',') {
            if (n < sizeof name - 1) name[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
        while (n > 0 && isspace((unsigned char)name[n - 1])) n--;
        name[n] = '\0';
        /* "tensor RT" as the spec writes it */
        for (size_t i = 0; i < n; i++)
            if (name[i] == ' ' || name[i] == '-') name[i] = '_';
        SPD_TRY(fn(r, name));
    }
    return SPD_OK;
}

static spd_status ignore_compiler(spd_resolved_options *r, const char *name)
{
    const spd_backend *b = spd_backend_find(name);
    if (b) {
        for (int i = 0; i < spd_backend_count() && i < 16; i++)
            if (spd_backend_at(i) == b) r->ignored_backend[i] = true;
        return SPD_OK;
    }
    if (in_list(spec_compilers, name)) {
        note(r, "ignore_compilers: '%s' is not available in this build (nothing to ignore)", name);
        return SPD_OK;
    }
    return spd_errorf(SPD_ERR_INVALID, "ignore_compilers: unknown compiler '%s' (known: native, and the spec's names: "
                      "deepsparse, tensor_rt, torch_tensor_rt, onnx_tensor_rt, torchscript, onnxruntime, tflite, tvm, "
                      "onnx_tvm, torch_tvm, bladedisc, openvino, intel_neural_compressor, torch_xla, torch_neuron)", name);
}

static spd_status ignore_compressor(spd_resolved_options *r, const char *name)
{
    if (in_list(spec_compressors, name)) {
        note(r, "ignore_compressors: '%s' is not available in this build (nothing to ignore)", name);
        return SPD_OK;
    }
    return spd_errorf(SPD_ERR_INVALID, "ignore_compressors: unknown compressor '%s' (known: sparseml, intel_pruning)", name);
}

static spd_status parse_device(const char *dev, spd_resolved_options *r)
{
    r->device.gpu = false;
    r->device.index = 0;
    snprintf(r->device_name, sizeof r->device_name, "cpu");
    if (!dev || !*dev) {
        note(r, "device: no GPU backend in this build; using the CPU");
        return SPD_OK;
    }
    char kind[16] = "";
    size_t n = strcspn(dev, ":");
    if (n >= sizeof kind) return spd_errorf(SPD_ERR_INVALID, "device '%s' is not one of cpu, gpu, cuda, gpu:N, cuda:N", dev);
    for (size_t i = 0; i < n; i++) kind[i] = (char)tolower((unsigned char)dev[i]);
    long index = 0;
    if (dev[n] == ':') {
        char *end;
        index = strtol(dev + n + 1, &end, 10);
        if (!dev[n + 1] || *end || index < 0 || index > 1024)
            return spd_errorf(SPD_ERR_INVALID, "device '%s': the index after ':' must be a number", dev);
    }
    if (!strcmp(kind, "cpu")) {
        if (dev[n] == ':') return spd_errorf(SPD_ERR_INVALID, "device '%s': cpu takes no index", dev);
        return SPD_OK;
    }
    if (!strcmp(kind, "gpu") || !strcmp(kind, "cuda")) {
        note(r, "device '%s': warning: no GPU backend is available in this build or on this machine; using the CPU", dev);
        return SPD_OK;
    }
    if (!strcmp(kind, "tpu") || !strcmp(kind, "neuron"))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "device '%s' is not supported: speedster runs on CPUs and NVIDIA GPUs", dev);
    return spd_errorf(SPD_ERR_INVALID, "device '%s' is not one of cpu, gpu, cuda, gpu:N, cuda:N", dev);
}

static spd_status resolve_threads(int explicit_threads, spd_resolved_options *r)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    r->threads = (int)cores;
    const char *env = getenv("NEBULLVM_THREADS_PER_MODEL");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 1 || v > 1024)
            return spd_errorf(SPD_ERR_INVALID, "NEBULLVM_THREADS_PER_MODEL='%s' is not a positive number", env);
        r->threads = (int)v;
    }
    if (explicit_threads < 0) return spd_errorf(SPD_ERR_INVALID, "threads must be positive, got %d", explicit_threads);
    if (explicit_threads > 0) r->threads = explicit_threads;
    return SPD_OK;
}

spd_status spd_options_resolve(const spd_optimize_options *o, spd_resolved_options *r)
{
    memset(r, 0, sizeof *r);
    spd_status st = SPD_OK;
    if (o->metric_fn) r->metric = SPD_METRIC_USER;
    else if (!o->metric || !strcmp(o->metric, "numeric_precision")) r->metric = SPD_METRIC_NUMERIC_PRECISION;
    else if (!strcmp(o->metric, "accuracy")) r->metric = SPD_METRIC_ACCURACY;
    else return spd_errorf(SPD_ERR_INVALID, "unknown metric '%s' (numeric_precision, accuracy, or a callback)", o->metric);

    if (!(o->metric_drop_ths >= 0) || o->metric_drop_ths > 1e30)
        return spd_errorf(SPD_ERR_INVALID, "metric_drop_ths must be a number >= 0, got %g", o->metric_drop_ths);
    r->threshold = o->metric_drop_ths;

    if (!o->optimization_time || !strcmp(o->optimization_time, "constrained")) r->unconstrained = false;
    else if (!strcmp(o->optimization_time, "unconstrained")) r->unconstrained = true;
    else return spd_errorf(SPD_ERR_INVALID, "optimization_time must be 'constrained' or 'unconstrained', got '%s'",
                           o->optimization_time);

    if ((st = each_name(o->ignore_compilers, r, ignore_compiler)) != SPD_OK) goto fail;
    if ((st = each_name(o->ignore_compressors, r, ignore_compressor)) != SPD_OK) goto fail;
    if ((st = parse_device(o->device, r)) != SPD_OK) goto fail;
    if ((st = resolve_threads(o->threads, r)) != SPD_OK) goto fail;
    if (o->dynamic_info) {
        if ((st = spd_dynamic_info_parse_file(o->dynamic_info, &r->dyn)) != SPD_OK) goto fail;
        r->has_dyn = true;
    }
    if (o->config_file) {
        char *summary = NULL;
        if ((st = spd_config_file_check(o->config_file, &summary)) != SPD_OK) goto fail;
        note(r, "config_file: %s", summary);
        spd_free(summary);
    }
    if (o->n_random_samples < 0) {
        st = spd_errorf(SPD_ERR_INVALID, "the number of random samples must be positive, got %d", o->n_random_samples);
        goto fail;
    }
    return SPD_OK;
fail:
    spd_options_clear(r);
    return st;
}

void spd_options_clear(spd_resolved_options *r)
{
    for (int i = 0; i < r->n_notes; i++) spd_free(r->notes[i]);
    spd_dynamic_info_free(&r->dyn);
    memset(r, 0, sizeof *r);
}
