#include "learner/learner.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/tensor.h"
#include "runtime/program.h"
#include "util/threadpool.h"
#include "util/alloc.h"
#include "util/status.h"

spd_status spd_learner_new(spd_model *model, const spd_backend *b, spd_plan *plan, const spd_compile_opts *o,
                           spd_learner **out)
{
    /* The signature (inputs a user passes) comes from a prepared program. */
    if (!model->runtime) {
        spd_program *p = NULL;
        SPD_TRY(spd_program_build(model, model->graph, NULL, &p));
        model->runtime = p;
    }
    spd_learner *l = spd_calloc(1, sizeof *l);
    if (!l) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    l->model = model;
    l->backend = b;
    l->plan = plan;
    l->copts = *o;
    spd_thread_tuner_init(&l->tuner, 0, false);
    *out = l;
    return SPD_OK;
}

void spd_learner_ready(spd_learner *l)
{
    /* SPEEDSTER_TUNE_THREADS=0 keeps optimize's choice for good (a
     * benchmark of fixed configurations) */
    const char *env = getenv("SPEEDSTER_TUNE_THREADS");
    const bool on = !(env && !strcmp(env, "0")) && !strcmp(l->backend->name, "native") && l->latency_s > 0 &&
                    l->latency_s <= SPD_TUNE_MAX_S && l->max_threads <= 1;
    spd_thread_tuner_destroy(&l->tuner);
    spd_thread_tuner_init(&l->tuner, l->max_threads == 1, on);
}

bool spd_learner_one_thread(const spd_learner *l)
{
    return l->tuner.on ? atomic_load(&l->tuner.cap) == 1 : l->max_threads == 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void spd_learner_free(spd_learner *l)
{
    if (!l) return;
    if (l->plan) l->backend->destroy(l->plan);
    spd_model_free(l->model);
    spd_dynamic_info_free(&l->dyn);
    spd_free(l->metric_name);
    spd_free(l->report);
    spd_free(l->source_model);
    spd_thread_tuner_destroy(&l->tuner);
    spd_free(l);
}

spd_status spd_learner_run(spd_learner *l, const spd_tensor *inputs, int n_inputs, spd_tensor *outputs,
                           int n_outputs)
{
    spd_error_clear();
    if (n_inputs != spd_model_num_inputs(l->model))
        return spd_errorf(SPD_ERR_INVALID, "the learner takes %d inputs, %d given", spd_model_num_inputs(l->model),
                          n_inputs);
    /* The thread count it was optimized with, unless the caller or
     * NEBULLVM_THREADS_PER_MODEL says otherwise. */
    spd_set_default_threads(l->copts.threads);
    if (l->has_dyn)
        for (int i = 0; i < n_inputs; i++)
            SPD_TRY(spd_dynamic_info_check(&l->dyn, i, spd_model_input_name(l->model, i), &inputs[i]));
    bool timed = false;
    const int cap = l->tuner.on && spd_thread_count() > 1 ? spd_thread_tuner_begin(&l->tuner, &timed) : l->max_threads;
    const int prev = spd_thread_cap(cap);
    const double t0 = timed ? now_s() : 0.0;
    const spd_status st = l->backend->run(l->plan, inputs, n_inputs, outputs, n_outputs);
    if (timed) spd_thread_tuner_end(&l->tuner, now_s() - t0);
    spd_thread_cap(prev);
    return st;
}

int spd_learner_num_inputs(const spd_learner *l) { return spd_model_num_inputs(l->model); }
int spd_learner_num_outputs(const spd_learner *l) { return spd_model_num_outputs(l->model); }
const char *spd_learner_input_name(const spd_learner *l, int i) { return spd_model_input_name(l->model, i); }
const char *spd_learner_output_name(const spd_learner *l, int i) { return spd_model_output_name(l->model, i); }
const char *spd_learner_report(const spd_learner *l) { return l->report ? l->report : ""; }
const char *spd_learner_backend(const spd_learner *l) { return l->backend->name; }
const char *spd_learner_technique(const spd_learner *l) { return spd_technique_name(l->copts.technique); }
double spd_learner_latency(const spd_learner *l) { return l->latency_s; }
double spd_learner_metric_drop(const spd_learner *l) { return l->metric_drop; }

size_t spd_learner_size(const spd_learner *l)
{
    size_t n = 0;
    const spd_graph *g = l->model->graph;
    for (int i = 0; i < g->n_initializers; i++) n += spd_tensor_nbytes(&g->initializers[i].tensor);
    return n;
}

spd_status spd_learner_input_info(const spd_learner *l, int i, spd_dtype *dtype, int *ndim, int64_t dims[SPD_MAX_DIMS])
{
    SPD_TRY(spd_model_input_info(l->model, i, dtype, ndim, dims));
    /* Open axes take dynamic_info's opt value where it gives one. */
    for (int a = 0; l->has_dyn && a < l->dyn.n_axes; a++) {
        const spd_dyn_axis *x = &l->dyn.axes[a];
        if (x->input == i && x->axis < *ndim && dims[x->axis] < 0) dims[x->axis] = x->opt > 0 ? x->opt : x->min;
    }
    return SPD_OK;
}
