/* The inference learner: a compiled candidate with the original model's
 * signature, that runs, saves and loads. */
#ifndef SPD_LEARNER_LEARNER_H
#define SPD_LEARNER_LEARNER_H

#include "learner/thread_tuner.h"
#include "backends/backend.h"
#include "optimize/options.h"
#include "util/cpu.h"

/* 3: model.onnx's checksum is "hash64x4" (persist.c), before "fnv1a64";
 * 2: reduced-precision learners keep their quantization in model.onnx
 * (QuantizeLinear/DequantizeLinear); 1: in backend files beside it. */
#define SPD_LEARNER_FORMAT 3
#define SPD_LEARNER_FORMAT_OLDEST 1

struct spd_learner {
    spd_model *model;            /* the graph the plan runs (owned) */
    const spd_backend *backend;
    spd_plan *plan;
    spd_compile_opts copts;
    bool graph_optimized;
    bool has_dyn;
    spd_dynamic_info dyn;
    double latency_s, p90_s, throughput, metric_drop;
    char *metric_name;
    char *report;
    char *source_model;          /* the path optimize was given */
    spd_cpu_features needs;      /* what the plan's kernels need */
    int max_threads;             /* optimize's choice: at most this many threads (0: as many as allowed) */
    spd_thread_tuner tuner;      /* that choice, revisited while the learner serves */
};

/* Takes ownership of model and plan. */
spd_status spd_learner_new(spd_model *model, const spd_backend *b, spd_plan *plan, const spd_compile_opts *o,
                           spd_learner **out);

/* Once backend, latency_s and max_threads are filled in (by optimize or a
 * load): sets up the thread tuner (learner/thread_tuner.h). */
void spd_learner_ready(spd_learner *l);

/* Whether the learner runs on one thread now (optimize's choice, or the
 * tuner's latest). */
bool spd_learner_one_thread(const spd_learner *l);

#endif
