/* spd_optimize_model: every usable backend x every technique the threshold
 * allows x {the original graph, the optimized graph}; each candidate is
 * compiled, checked on the validation samples against the original model's
 * outputs, and timed; the fastest that passes becomes the learner. */
#include "optimize/search.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/tensor.h"
#include "learner/learner.h"
#include "optimize/dataset.h"
#include "optimize/metric.h"
#include "passes/passes.h"
#include "runtime/memplan.h"
#include "util/alloc.h"
#include "util/status.h"
#include "util/threadpool.h"

/* fp32 candidates must match the original this closely whatever the metric. */
#define FP32_NUMERIC_LIMIT 1e-4
#define LATENCY_BUDGET_S 10.0
/* Latencies this close are a tie on a shared machine: the candidate is still
 * validated, and the two fastest are timed again head to head. Two timings
 * of one plan seconds apart differ by up to a quarter on a busy virtual
 * machine, and more in a process's first seconds at two threads: with 1.03,
 * efficientnet_b0's optimized graph (0.96x the original's latency when
 * timed side by side) lost to the original graph, timed at 16.8 against
 * 21.3 ms, without being validated. */
#define NEAR_TIE 1.3
#define REMATCH_ROUNDS 5
#define GRAPH_TIE 0.03

typedef struct search {
    const spd_optimize_options *opts;
    spd_resolved_options r;
    spd_model *orig;
    const spd_dataset *data;
    spd_dataset *owned_data;
    int cb, ce, vb, ve;           /* calibration and validation ranges */
    int n_out;
    spd_tensor *ref;              /* original outputs per validation sample */
    double ref_accuracy;
    const char *metric_name;
    spd_latency original_lat;
    spd_sample_view *calib;       /* the calibration split, for compile */
    spd_drop_check check;         /* the user's metric, lent to the backends' fallbacks */
} search;

__attribute__((format(printf, 2, 3))) static void logf_(const search *s, const char *fmt, ...)
{
    if (!s->opts->log) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->opts->log(line, s->opts->log_user);
}

/* ---- random samples fitted to the signature ---------------------------- */

static uint32_t xorshift(uint32_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 17;
    *st ^= *st << 5;
    return *st;
}

static spd_status random_dataset(search *s, int n, spd_dataset **out)
{
    int n_in = spd_model_num_inputs(s->orig);
    spd_dataset *d = spd_dataset_new();
    spd_tensor in[64];
    uint32_t rng = 0x2545f491u;
    if (!d) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    if (n_in > 64) { spd_dataset_free(d); return spd_errorf(SPD_ERR_UNSUPPORTED, "more than 64 inputs"); }
    spd_status st = SPD_OK;
    for (int i = 0; i < n && st == SPD_OK; i++) {
        memset(in, 0, sizeof in);
        for (int k = 0; k < n_in && st == SPD_OK; k++) {
            spd_dtype dt;
            int nd;
            int64_t dims[SPD_MAX_DIMS];
            spd_model_input_info(s->orig, k, &dt, &nd, dims);
            if (nd < 0 || dt == SPD_UNDEFINED) {
                st = spd_errorf(SPD_ERR_INVALID, "input '%s' declares no type or shape: random samples cannot be made, give input data",
                                spd_model_input_name(s->orig, k));
                break;
            }
            for (int a = 0; a < nd; a++) {
                if (dims[a] >= 0) continue;
                dims[a] = 1;
                for (int x = 0; s->r.has_dyn && x < s->r.dyn.n_axes; x++) {
                    const spd_dyn_axis *ax = &s->r.dyn.axes[x];
                    if (ax->input == k && ax->axis == a) dims[a] = ax->opt > 0 ? ax->opt : ax->min;
                }
            }
            if ((st = spd_tensor_alloc(&in[k], dt, nd, dims)) != SPD_OK) break;
            int64_t cnt = spd_tensor_numel(&in[k]);
            for (int64_t e = 0; e < cnt; e++) {
                uint32_t v = xorshift(&rng);
                if (spd_dtype_is_float(dt)) spd_tensor_set(&in[k], e, (double)v / 2147483648.0 - 1.0);
                else spd_tensor_set(&in[k], e, (double)(v & 1)); /* token ids and masks: 0 and 1 are always valid */
            }
        }
        if (st == SPD_OK) st = spd_dataset_add(d, in, n_in, NULL);
        for (int k = 0; k < n_in; k++) spd_tensor_release(&in[k]);
    }
    if (st != SPD_OK) { spd_dataset_free(d); return st; }
    *out = d;
    return SPD_OK;
}

/* ---- running a candidate ------------------------------------------------ */

static spd_status run_original(void *ctx, const spd_tensor *in, int n_in, spd_tensor *out, int n_out)
{
    return spd_model_run(ctx, in, n_in, out, n_out);
}

static spd_status run_candidate(void *ctx, const spd_tensor *in, int n_in, spd_tensor *out, int n_out)
{
    spd_candidate *c = ctx;
    return c->backend->run(c->plan, in, n_in, out, n_out);
}

static spd_status check_dataset(search *s)
{
    const spd_dataset *d = s->data;
    int n_in = spd_model_num_inputs(s->orig);
    if (!d || d->n == 0) return spd_errorf(SPD_ERR_INVALID, "input data is empty: give at least one sample");
    for (int x = 0; s->r.has_dyn && x < s->r.dyn.n_axes; x++)
        if (s->r.dyn.axes[x].input >= n_in)
            return spd_errorf(SPD_ERR_INVALID, "dynamic_info: inputs[%d] is given, the model has %d input%s", s->r.dyn.axes[x].input,
                              n_in, n_in == 1 ? "" : "s");
    for (int x = 0; s->r.has_dyn && x < s->r.dyn.n_out_axes; x++)
        if (s->r.dyn.out_axes[x].output >= s->n_out)
            return spd_errorf(SPD_ERR_INVALID, "dynamic_info: outputs[%d] is given, the model has %d output%s",
                              s->r.dyn.out_axes[x].output, s->n_out, s->n_out == 1 ? "" : "s");
    for (int i = 0; i < d->n; i++) {
        const spd_sample *smp = &d->samples[i];
        if (smp->n_inputs != n_in)
            return spd_errorf(SPD_ERR_INVALID, "sample %d has %d inputs, the model takes %d", i, smp->n_inputs, n_in);
        for (int k = 0; s->r.has_dyn && k < n_in; k++) {
            spd_status st = spd_dynamic_info_check(&s->r.dyn, k, spd_model_input_name(s->orig, k), &smp->inputs[k]);
            if (st != SPD_OK) return spd_error_prefix(st, "sample %d", i);
        }
    }
    if (s->r.metric == SPD_METRIC_ACCURACY && !spd_dataset_has_labels(d))
        return spd_errorf(SPD_ERR_INVALID, "metric 'accuracy' needs a label for every sample (label.pb or label.npy beside the inputs)");
    return SPD_OK;
}

static void release_outputs(spd_tensor *t, int n)
{
    for (int k = 0; k < n; k++) spd_tensor_release(&t[k]);
}

static spd_status reference_outputs(search *s)
{
    int nv = s->ve - s->vb;
    s->ref = spd_calloc((size_t)nv * (size_t)s->n_out + 1, sizeof *s->ref);
    if (!s->ref) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    double right = 0;
    for (int i = 0; i < nv; i++) {
        const spd_sample *smp = &s->data->samples[s->vb + i];
        spd_status st = spd_model_run(s->orig, smp->inputs, smp->n_inputs, &s->ref[i * s->n_out], s->n_out);
        if (st != SPD_OK) return spd_error_prefix(st, "the original model fails on sample %d", s->vb + i);
        if (s->r.metric == SPD_METRIC_ACCURACY) {
            double acc;
            SPD_TRY(spd_sample_accuracy(&s->ref[i * s->n_out], &smp->label, &acc));
            right += acc;
        }
    }
    s->ref_accuracy = nv ? right / nv : 0;
    return SPD_OK;
}

/* Runs `run` on the validation samples: the drop of the user's metric and
 * the numeric precision against the original outputs. */
static spd_status evaluate_run(search *s, spd_run_fn run, void *ctx, double *drop, double *nprec)
{
    int nv = s->ve - s->vb;
    spd_tensor *out = spd_calloc((size_t)s->n_out + 1, sizeof *out);
    if (!out) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    double np_sum = 0, metric_sum = 0, right = 0;
    spd_status st = SPD_OK;
    for (int i = 0; i < nv && st == SPD_OK; i++) {
        const spd_sample *smp = &s->data->samples[s->vb + i];
        const spd_tensor *ref = &s->ref[i * s->n_out];
        if ((st = run(ctx, smp->inputs, smp->n_inputs, out, s->n_out)) != SPD_OK) break;
        double np = spd_numeric_precision(ref, out, s->n_out);
        np_sum += np;
        if (s->r.metric == SPD_METRIC_ACCURACY) {
            double acc;
            st = spd_sample_accuracy(out, &smp->label, &acc);
            right += acc;
        } else if (s->r.metric == SPD_METRIC_USER) {
            double v = s->opts->metric_fn(ref, out, s->n_out, smp->label.dtype ? &smp->label : NULL, s->opts->metric_user);
            if (isnan(v)) st = spd_errorf(SPD_ERR_INVALID, "the metric callback returned NaN");
            metric_sum += v;
        }
        release_outputs(out, s->n_out);
    }
    spd_free(out);
    if (st != SPD_OK) return st;
    *nprec = nv ? np_sum / nv : 0;
    if (s->r.metric == SPD_METRIC_NUMERIC_PRECISION) *drop = *nprec;
    else if (s->r.metric == SPD_METRIC_ACCURACY) *drop = s->ref_accuracy - (nv ? right / nv : 0);
    else *drop = nv ? metric_sum / nv : 0;
    return SPD_OK;
}

/* Runs c on the validation samples; sets metric_drop and numeric_precision. */
static spd_status evaluate(search *s, spd_candidate *c)
{
    return evaluate_run(s, run_candidate, c, &c->metric_drop, &c->numeric_precision);
}

/* spd_drop_check.measure: the same judgement evaluate() makes, for a plan a
 * backend is still shaping. */
static spd_status measure_drop(void *user, spd_run_fn run, void *ctx, double *drop)
{
    double np;
    return evaluate_run(user, run, ctx, drop, &np);
}

static void log_candidate(const search *s, const spd_candidate *c)
{
    const char *graph = c->optimized_graph ? "optimized graph" : "original graph";
    char where[900] = "";
    if (c->plan && c->backend->placement) {
        where[0] = ';', where[1] = ' ';
        c->backend->placement(c->plan, where + 2, sizeof where - 2);
    }
    if (c->state == CAND_OK)
        logf_(s, "[speedster] %-8s %-12s %-15s latency %.6f s (p90 %.6f s), metric drop %.3g%s", c->backend->name,
              spd_technique_name(c->technique), graph, c->lat.median_s, c->lat.p90_s, c->metric_drop, where);
    else
        logf_(s, "[speedster] %-8s %-12s %-15s %s: %s", c->backend->name, spd_technique_name(c->technique), graph,
              c->state == CAND_REJECTED ? "rejected" : c->state == CAND_SKIPPED ? "skipped" : "failed", c->reason);
}

/* Compiles, times, then checks c on the validation samples. Timing comes
 * first: a candidate slower than the fastest one already known to pass
 * cannot win, so its (costly) validation is skipped and said so. */
static void try_candidate(search *s, spd_candidate *c, double best_valid_s)
{
    /* lossy techniques get the user's metric, so that a backend returning
     * nodes to fp32 stops where the search itself will accept it */
    spd_compile_opts o = {c->technique, s->r.threads, s->r.device, s->calib, s->ce - s->cb,
                          spd_technique_is_lossy(c->technique) ? &s->check : NULL, 0};
    const spd_sample *smp = &s->data->samples[s->vb];
    spd_status st = c->backend->compile(c->model, &o, &c->plan);
    /* native fp32 on the original graph is exactly how the original was run
     * and timed: its outputs are the reference and its latency is known. */
    bool is_baseline = st == SPD_OK && !strcmp(c->backend->name, "native") && c->technique == SPD_TECH_FP32 &&
                       !c->optimized_graph;
    if (is_baseline) {
        c->state = CAND_OK;
        c->lat = s->original_lat;
    } else if (st != SPD_OK) {
        c->state = CAND_FAILED;
        snprintf(c->reason, sizeof c->reason, "compile failed: %s", spd_last_error());
    } else if ((st = spd_measure_latency(run_candidate, c, smp->inputs, smp->n_inputs, s->n_out, LATENCY_BUDGET_S,
                                         &c->lat)) != SPD_OK) {
        c->state = CAND_FAILED;
        snprintf(c->reason, sizeof c->reason, "run failed: %s", spd_last_error());
    } else if (best_valid_s > 0 && c->lat.median_s >= best_valid_s * NEAR_TIE) {
        c->state = CAND_SKIPPED;
        snprintf(c->reason, sizeof c->reason, "latency %.6f s is not below the best valid candidate's %.6f s, so it "
                 "cannot win: not validated", c->lat.median_s, best_valid_s);
    } else if ((st = evaluate(s, c)) != SPD_OK) {
        c->state = CAND_FAILED;
        snprintf(c->reason, sizeof c->reason, "run failed: %s", spd_last_error());
    } else if (!spd_technique_is_lossy(c->technique) && c->numeric_precision > FP32_NUMERIC_LIMIT) {
        c->state = CAND_REJECTED;
        snprintf(c->reason, sizeof c->reason, "numeric_precision %.3g exceeds the fp32 limit %g", c->numeric_precision,
                 FP32_NUMERIC_LIMIT);
    } else if (c->metric_drop > s->r.threshold &&
               (spd_technique_is_lossy(c->technique) || s->r.metric != SPD_METRIC_NUMERIC_PRECISION)) {
        /* Every candidate answers to the user's metric; for fp32 under
         * numeric_precision the fp32 limit above is that rule (at threshold
         * 0 rounding differences would otherwise reject every compiler). */
        c->state = CAND_REJECTED;
        snprintf(c->reason, sizeof c->reason, "metric drop %.4g exceeds metric_drop_ths %g", c->metric_drop, s->r.threshold);
    } else {
        c->state = CAND_OK;
    }
    log_candidate(s, c);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One side of a head-to-head timing: a candidate, run under a thread cap
 * (0: none). */
typedef struct side {
    spd_candidate *c;
    int cap;
} side;

/* Times the two sides REMATCH_ROUNDS times in pairs that take turns going
 * first: *ratio is the median of the pairs' ratios (side 1's time over side
 * 0's), top[k] side k's fastest timing. False when a timing fails. */
static bool head_to_head(search *s, const side sd[2], spd_latency top[2], double *ratio)
{
    const spd_sample *smp = &s->data->samples[s->vb];
    double ratios[REMATCH_ROUNDS];
    for (int r = 0; r < REMATCH_ROUNDS; r++) {
        spd_latency l[2];
        for (int i = 0; i < 2; i++) {
            const int k = (r + i) & 1;
            const int prev = spd_thread_cap(sd[k].cap);
            const spd_status st = spd_measure_latency(run_candidate, sd[k].c, smp->inputs, smp->n_inputs, s->n_out,
                                                      LATENCY_BUDGET_S / 8, &l[k]);
            spd_thread_cap(prev);
            if (st != SPD_OK) {
                spd_error_clear();
                return false;
            }
        }
        for (int k = 0; k < 2; k++)
            if (r == 0 || l[k].median_s < top[k].median_s) top[k] = l[k];
        ratios[r] = l[1].median_s / l[0].median_s;
    }
    qsort(ratios, REMATCH_ROUNDS, sizeof ratios[0], cmp_double);
    *ratio = ratios[REMATCH_ROUNDS / 2];
    return true;
}

/* The two fastest valid candidates within NEAR_TIE of each other were timed
 * minutes apart, and the machine may have been busier for one: time them
 * again in pairs, taking turns going first, and judge by the median of the
 * pairs' ratios (a slow spell spans seconds, and hits a pair's two timings
 * alike more often than two pairs). Within GRAPH_TIE, the same backend and
 * technique on the optimized and the original graph cannot be told apart:
 * the optimized graph wins (fewer nodes, a smaller arena). Taking each
 * one's best median instead let squeezenet1_1's original graph (its Relus
 * unfused) win a tie by noise, and run 1.2-1.4x as long as the optimized
 * one did in the benchmark. */
static int rematch(search *s, spd_candidate *cands, int n, int best)
{
    int second = -1;
    for (int i = 0; i < n; i++)
        if (i != best && cands[i].state == CAND_OK && cands[i].plan &&
            (second < 0 || cands[i].lat.median_s < cands[second].lat.median_s))
            second = i;
    if (second < 0 || !cands[best].plan || cands[second].lat.median_s >= cands[best].lat.median_s * NEAR_TIE)
        return best;
    spd_candidate *pair[2] = {&cands[best], &cands[second]};
    const side sd[2] = {{pair[0], 0}, {pair[1], 0}};
    spd_latency top[2];
    double m; /* second's time over best's */
    if (!head_to_head(s, sd, top, &m)) return best;
    pair[0]->lat = top[0];
    pair[1]->lat = top[1];
    int win = m < 1.0 ? second : best;
    if (pair[0]->backend == pair[1]->backend && pair[0]->technique == pair[1]->technique &&
        pair[0]->optimized_graph != pair[1]->optimized_graph && fabs(m - 1.0) < GRAPH_TIE)
        win = pair[0]->optimized_graph ? best : second;
    logf_(s, "[speedster] near tie, timed again head to head: %s %s %s %.6f s, %s %s %s %.6f s (median ratio %.3f): %s %s %s",
          pair[0]->backend->name, spd_technique_name(pair[0]->technique),
          pair[0]->optimized_graph ? "optimized graph" : "original graph", top[0].median_s, pair[1]->backend->name,
          spd_technique_name(pair[1]->technique), pair[1]->optimized_graph ? "optimized graph" : "original graph",
          top[1].median_s, m, cands[win].backend->name, spd_technique_name(cands[win].technique),
          cands[win].optimized_graph ? "optimized graph" : "original graph");
    return win;
}

/* A plan this fast at the allowed thread count may run faster on one
 * thread: its operators are too short to split, and each one's halves
 * change cores (kws_dscnn at two threads ran 1.3-1.4x as long as at one,
 * in every operator). The winner is timed both ways in pairs taking turns;
 * below SPD_TUNE_GAIN it keeps to one thread, recorded in the learner
 * (the thread count asked for stays an upper bound). The machine's state
 * does not last: on a shared host the same learner measured 0.75 one hour
 * and 1.15 the next, so only a clear gain counts, and the learner revisits
 * the choice while it serves, by the same bars (learner/thread_tuner.h).
 * Native plans only: oneDNN's threads are OpenMP's. */

static int thread_cap(search *s, spd_candidate *w)
{
    const int allowed = spd_thread_count();
    if (allowed <= 1 || !w->plan || strcmp(w->backend->name, "native") || w->lat.median_s > SPD_TUNE_MAX_S)
        return 0;
    const side sd[2] = {{w, 0}, {w, 1}};
    spd_latency top[2];
    double m; /* on one thread over on all */
    if (!head_to_head(s, sd, top, &m)) return 0;
    const bool fewer = m < SPD_TUNE_GAIN;
    logf_(s, "[speedster] one thread against %d, head to head: median ratio %.3f: %s", allowed, m,
          fewer ? "the learner runs on one thread" : "it keeps them all");
    if (!fewer) return 0;
    w->lat = top[1];
    return 1;
}

/* SPEEDSTER_TECHNIQUES=int8,fp32 (a knob for tests and benchmarks, not an
 * option): only the listed techniques compete, so a reduced-precision
 * candidate is judged even where fp32 is faster. Unset: every technique. */
static bool technique_wanted(spd_technique t)
{
    const char *env = getenv("SPEEDSTER_TECHNIQUES");
    if (!env || !*env) return true;
    const char *name = spd_technique_name(t);
    size_t n = strlen(name);
    for (const char *p = env; *p;) {
        size_t k = strcspn(p, ", ");
        if (k == n && !strncmp(p, name, n)) return true;
        p += k;
        p += strspn(p, ", ");
    }
    return false;
}

/* A technique no backend can try still gets a row in the latencies file. */
static void record_unavailable(search *s, spd_candidate *c, const spd_backend *b, spd_technique t, const char *why)
{
    c->backend = b;
    c->technique = t;
    c->state = CAND_SKIPPED;
    snprintf(c->reason, sizeof c->reason, "%s", why);
    logf_(s, "[speedster] %-8s %-12s %s", b->name, spd_technique_name(t), why);
}

static bool same_shapes(const spd_dataset *d)
{
    for (int i = 1; i < d->n; i++)
        for (int k = 0; k < d->samples[0].n_inputs; k++)
            if (d->samples[i].inputs[k].dtype != d->samples[0].inputs[k].dtype ||
                !spd_tensor_same_shape(&d->samples[i].inputs[k], &d->samples[0].inputs[k]))
                return false;
    return true;
}

static void free_candidate(spd_candidate *c)
{
    if (c->plan) c->backend->destroy(c->plan);
    c->plan = NULL;
    if (c->optimized_graph) spd_model_free(c->model);
    c->model = NULL;
}

static double model_mb(const spd_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->graph->n_initializers; i++) n += spd_tensor_nbytes(&m->graph->initializers[i].tensor);
    return (double)n / 1e6;
}

spd_optimize_options spd_optimize_options_default(void)
{
    spd_optimize_options o;
    memset(&o, 0, sizeof o);
    o.metric = "numeric_precision";
    o.optimization_time = "constrained";
    o.n_random_samples = 100;
    return o;
}

spd_status spd_optimize_model(const char *model_path, const spd_dataset *data, const spd_optimize_options *opts,
                              spd_learner **out)
{
    spd_error_clear();
    *out = NULL;
    search s;
    memset(&s, 0, sizeof s);
    s.opts = opts;
    spd_candidate *cands = NULL;
    int n_cands = 0;
    spd_model *optimized = NULL;
    spd_pass_report prep;
    memset(&prep, 0, sizeof prep);
    char passes_summary[256] = "";
    spd_status st = spd_options_resolve(opts, &s.r);
    if (st != SPD_OK) return st;
    s.metric_name = s.r.metric == SPD_METRIC_USER ? "user metric" : s.r.metric == SPD_METRIC_ACCURACY ? "accuracy" : "numeric_precision";
    for (int i = 0; i < s.r.n_notes; i++) logf_(&s, "[speedster] %s", s.r.notes[i]);
    if (getenv("SPEEDSTER_TECHNIQUES") && *getenv("SPEEDSTER_TECHNIQUES"))
        logf_(&s, "[speedster] SPEEDSTER_TECHNIQUES=%s: only these techniques compete", getenv("SPEEDSTER_TECHNIQUES"));

    if ((st = spd_model_load(model_path, &s.orig)) != SPD_OK) goto done;
    s.n_out = spd_model_num_outputs(s.orig);
    if (data) {
        s.data = data;
    } else {
        int n = opts->n_random_samples > 0 ? opts->n_random_samples : 100;
        if ((st = random_dataset(&s, n, &s.owned_data)) != SPD_OK) goto done;
        s.data = s.owned_data;
        logf_(&s, "[speedster] no input data given: using %d random samples fitted to the model's inputs", n);
    }
    if ((st = check_dataset(&s)) != SPD_OK) goto done;
    spd_dataset_split(s.data, &s.cb, &s.ce, &s.vb, &s.ve);
    if (s.data->n >= 100)
        logf_(&s, "[speedster] %d samples: %d calibrate, %d validate", s.data->n, s.ce - s.cb, s.ve - s.vb);
    else
        logf_(&s, "[speedster] %d samples (fewer than 100): every sample both calibrates and validates", s.data->n);
    if ((st = reference_outputs(&s)) != SPD_OK) goto done;
    s.calib = spd_calloc((size_t)(s.ce - s.cb) + 1, sizeof *s.calib);
    if (!s.calib) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    for (int i = s.cb; i < s.ce; i++)
        s.calib[i - s.cb] = (spd_sample_view){s.data->samples[i].inputs, s.data->samples[i].n_inputs};
    s.check = (spd_drop_check){measure_drop, &s, s.r.threshold, s.metric_name};

    /* The original, timed like every candidate. */
    spd_candidate original;
    memset(&original, 0, sizeof original);
    original.model = s.orig;
    const spd_sample *first = &s.data->samples[s.vb];
    if ((st = spd_measure_latency(run_original, s.orig, first->inputs, first->n_inputs, s.n_out, LATENCY_BUDGET_S,
                                  &original.lat)) != SPD_OK)
        goto done;
    s.original_lat = original.lat;
    logf_(&s, "[speedster] original model: latency %.6f s (p90 %.6f s)", original.lat.median_s, original.lat.p90_s);

    /* The optimized graph, specialised to the sample shapes when every
     * sample has the same ones and dynamic_info does not keep them open. */
    bool fix_shapes = !s.r.has_dyn && same_shapes(s.data);
    if ((st = spd_model_clone(s.orig, &optimized)) == SPD_OK)
        st = spd_optimize_graph(optimized, fix_shapes ? first->inputs : NULL, fix_shapes ? first->n_inputs : 0, &prep);
    if (st != SPD_OK) {
        logf_(&s, "[speedster] graph optimization failed, only the original graph competes: %s", spd_last_error());
        spd_model_free(optimized);
        optimized = NULL;
    } else {
        snprintf(passes_summary, sizeof passes_summary, "%d -> %d nodes (%d folded, %d BN folded, %d fused)",
                 prep.nodes_before, prep.nodes_after, prep.folded_nodes + prep.folded_shapes, prep.folded_batchnorm,
                 spd_pass_report_fused(&prep));
        logf_(&s, "[speedster] graph optimized: %s", passes_summary);
    }

    cands = spd_calloc((size_t)spd_backend_count() * SPD_TECH_COUNT * 2 + 1, sizeof *cands);
    if (!cands) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    int usable = 0;
    for (int bi = 0; bi < spd_backend_count(); bi++) {
        const spd_backend *b = spd_backend_at(bi);
        if (bi < 16 && s.r.ignored_backend[bi]) {
            logf_(&s, "[speedster] %-8s skipped: in ignore_compilers", b->name);
            continue;
        }
        if (b->probe(&s.r.device) != SPD_OK) {
            logf_(&s, "[speedster] %-8s skipped: %s", b->name, spd_last_error());
            continue;
        }
        usable++;
        for (int t = 0; t < SPD_TECH_COUNT; t++) {
            spd_technique tech = (spd_technique)t;
            char why[320];
            if (!b->supports(tech)) {
                const char *reason = b->unsupported_reason ? b->unsupported_reason(tech) : NULL;
                if (reason) snprintf(why, sizeof why, "not available: %s", reason);
                else snprintf(why, sizeof why, "not available: this backend has no %s kernels on this machine",
                              spd_technique_name(tech));
                record_unavailable(&s, &cands[n_cands++], b, tech, why);
                continue;
            }
            if (!technique_wanted(tech)) {
                record_unavailable(&s, &cands[n_cands++], b, tech, "skipped: not in SPEEDSTER_TECHNIQUES");
                continue;
            }
            if (spd_technique_is_lossy(tech) && s.r.threshold <= 0) {
                record_unavailable(&s, &cands[n_cands++], b, tech,
                                   "skipped: metric_drop_ths 0 allows only lossless techniques");
                continue;
            }
            for (int g = 0; g < 2; g++) {
                if (g == 1 && !optimized) continue;
                spd_candidate *c = &cands[n_cands++];
                c->backend = b;
                c->technique = tech;
                c->optimized_graph = g == 1;
                c->model = g == 1 ? NULL : s.orig;
                if (g == 1 && (st = spd_model_clone(optimized, &c->model)) != SPD_OK) {
                    c->optimized_graph = false;
                    c->state = CAND_FAILED;
                    snprintf(c->reason, sizeof c->reason, "%s", spd_last_error());
                    st = SPD_OK;
                    continue;
                }
                double best_s = 0;
                for (int i = 0; i < n_cands - 1; i++)
                    if (cands[i].state == CAND_OK && (best_s == 0 || cands[i].lat.median_s < best_s))
                        best_s = cands[i].lat.median_s;
                try_candidate(&s, c, best_s);
                /* Keep plans only while they may win. */
                if (c->state != CAND_OK) free_candidate(c);
            }
        }
    }
    if (s.r.unconstrained)
        logf_(&s, "[speedster] compression (pruning) is not available in this build; unconstrained adds nothing yet");
    if (!usable) {
        st = spd_errorf(SPD_ERR_INVALID, "no compiler is left to try (all ignored or unavailable)");
        goto done;
    }
    int best = -1;
    for (int i = 0; i < n_cands; i++)
        if (cands[i].state == CAND_OK && (best < 0 || cands[i].lat.median_s < cands[best].lat.median_s)) best = i;
    if (best >= 0) best = rematch(&s, cands, n_cands, best);
    if (best < 0) {
        st = spd_errorf(SPD_ERR_INVALID, "no candidate passed the metric threshold; see the lines above for each reason");
        goto done;
    }
    spd_candidate *w = &cands[best];
    const int max_threads = thread_cap(&s, w);
    original.arena_bytes = s.orig->runtime ? spd_memplan_arena_bytes(((const spd_program *)s.orig->runtime)->mem) : 0;
    if (w->backend && w->backend->arena_bytes) w->arena_bytes = w->backend->arena_bytes(w->plan);
    char *table = spd_report_table(&original, w, &s.r, s.metric_name, model_mb(s.orig), model_mb(w->model),
                                   w->optimized_graph ? passes_summary : "");
    if (opts->store_latencies) {
        spd_candidate *all = spd_calloc((size_t)n_cands + 1, sizeof *all);
        char *path = NULL;
        if (all) {
            all[0] = original;
            memcpy(all + 1, cands, (size_t)n_cands * sizeof *all);
            st = spd_write_latencies(opts->latencies_dir, model_path, all, n_cands + 1, s.metric_name, &path);
            spd_free(all);
            if (st == SPD_OK) logf_(&s, "[speedster] latencies written to %s", path);
            else logf_(&s, "[speedster] warning: %s", spd_last_error());
            spd_free(path);
            st = SPD_OK; /* the learner is still good: a warning, not a lost search */
        } else {
            logf_(&s, "[speedster] warning: out of memory writing the latencies file");
        }
    }
    if (table && opts->log) opts->log(table, opts->log_user); /* whole: longer than a progress line */

    /* The learner takes the winner's model and plan. */
    spd_model *lm = w->model;
    if (!w->optimized_graph) {
        lm = s.orig; /* the original model object moves into the learner */
        s.orig = NULL;
        for (int i = 0; i < n_cands; i++)
            if (!cands[i].optimized_graph) cands[i].model = NULL;
    }
    spd_learner *l = NULL;
    st = spd_learner_new(lm, w->backend, w->plan,
                         &(spd_compile_opts){w->technique, s.r.threads, s.r.device, NULL, 0, NULL, 0}, &l);
    if (st != SPD_OK) { spd_free(table); goto done; }
    l->graph_optimized = w->optimized_graph;
    l->max_threads = max_threads;
    w->model = NULL;
    w->plan = NULL;
    w->optimized_graph = false;
    l->latency_s = cands[best].lat.median_s;
    spd_learner_ready(l);
    l->p90_s = cands[best].lat.p90_s;
    l->throughput = cands[best].lat.throughput;
    l->metric_drop = cands[best].metric_drop;
    l->metric_name = spd_strdup(s.metric_name);
    l->report = table;
    l->source_model = spd_strdup(model_path);
    if (s.r.has_dyn) {
        l->has_dyn = true;
        l->dyn = s.r.dyn;
        memset(&s.r.dyn, 0, sizeof s.r.dyn);
    }
    *out = l;
done:
    for (int i = 0; i < n_cands; i++) free_candidate(&cands[i]);
    spd_free(cands);
    spd_model_free(optimized);
    if (s.ref) {
        for (int i = 0; i < (s.ve - s.vb) * s.n_out; i++) spd_tensor_release(&s.ref[i]);
        spd_free(s.ref);
    }
    spd_model_free(s.orig);
    spd_free(s.calib);
    spd_dataset_free(s.owned_data);
    spd_options_clear(&s.r);
    return st;
}
