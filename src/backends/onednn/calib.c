/* Static int8 calibration of the onednn backend; see calib.h.
 *
 * Every pass runs the backend's own program (its candidates in fp32, so the
 * statistics are the fp32 model's) with an observer on every value:
 *   1. min/max of each candidate's input, the fp32 outputs of the first
 *      samples (the reference for the error), and on the first sample fp32
 *      copies of the candidates' inputs and outputs (for the fallback);
 *   2. a histogram of |x| per input, for the percentile scale.
 * Both scale choices are then run in int8 and the one with the smaller drop
 * of the user's metric (when the search lends its judge; then the smaller
 * relative error of the outputs) is kept. The accuracy fallback that
 * follows is shared with int8_dynamic (spd_onednn_fallback). */
#include "backends/onednn/calib.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir/tensor.h"
#include "runtime/exec.h"
#include "util/alloc.h"
#include "util/status.h"

#define MAX_CALIB 32
#define MAX_EVAL 16
#define HIST_BINS 2048
#define PERCENTILE 0.9999
#define KEEP_BYTES_MAX ((size_t)512 << 20) /* fp32 copies for the per-node errors */
#define FALLBACK_STEP 0.10                 /* share of the int8 nodes returned per step */

typedef struct vstat {
    bool tracked, seen, keep;
    float lo, hi;
    uint32_t *hist;
    uint64_t count;
} vstat;

typedef struct calib {
    spd_program *p;
    vstat *vs;          /* per program value */
    int pass;           /* 1: min/max, 2: histogram, 0: none */
    bool keeping;       /* copy kept values (fp32 run of sample 0) */
    bool comparing;     /* compare with the kept copies (int8 run of sample 0) */
    spd_tensor *kept;   /* per value */
    size_t kept_bytes;
    double *err;        /* per value: relative L2 error against the kept copy */
} calib;

static double rel_l2(const spd_tensor *a, const spd_tensor *ref)
{
    if (a->dtype != SPD_FLOAT || ref->dtype != SPD_FLOAT || !spd_tensor_same_shape(a, ref)) return INFINITY;
    const float *x = a->data, *r = ref->data;
    double d = 0, n = 0;
    for (int64_t i = 0, e = spd_tensor_numel(ref); i < e; i++) {
        double t = (double)x[i] - r[i];
        d += t * t;
        n += (double)r[i] * r[i];
    }
    return n > 0 ? sqrt(d / n) : d > 0 ? INFINITY : 0;
}

static void observe_value(calib *c, int v, const spd_tensor *t)
{
    vstat *s = &c->vs[v];
    if (t->dtype != SPD_FLOAT) return;
    const float *x = t->data;
    const int64_t n = spd_tensor_numel(t);
    if (s->tracked && c->pass == 1) {
        float lo = s->seen ? s->lo : INFINITY, hi = s->seen ? s->hi : -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            /* NaN and inf would make every scale useless: ranges are of finite values */
            if (!isfinite(x[i])) continue;
            lo = fminf(lo, x[i]);
            hi = fmaxf(hi, x[i]);
        }
        if (lo <= hi) {
            s->lo = lo;
            s->hi = hi;
            s->seen = true;
        }
    } else if (s->tracked && c->pass == 2 && s->hist) {
        const float amax = fmaxf(-s->lo, s->hi);
        const float k = amax > 0 ? (float)HIST_BINS / amax : 0;
        for (int64_t i = 0; i < n; i++) {
            float a = fabsf(x[i]);
            if (!isfinite(a)) continue;
            int b = (int)(a * k);
            s->hist[b < HIST_BINS ? b : HIST_BINS - 1]++;
        }
        s->count += (uint64_t)n;
    }
    if (s->keep && c->keeping && c->kept[v].dtype == SPD_UNDEFINED) {
        size_t nb = (size_t)n * sizeof(float);
        if (c->kept_bytes + nb <= KEEP_BYTES_MAX && spd_tensor_copy(&c->kept[v], t) == SPD_OK) c->kept_bytes += nb;
    }
    if (c->comparing && c->kept[v].dtype != SPD_UNDEFINED) c->err[v] = rel_l2(t, &c->kept[v]);
}

static void observer(void *user, const char *name, const spd_tensor *t)
{
    calib *c = user;
    int v = spd_strmap_get(&c->p->names, name);
    if (v >= 0 && v < c->p->n_values) observe_value(c, v, t);
}

/* The graph inputs of sample s (NULL where an initializer gives the default). */
static spd_status sample_inputs(const spd_program *p, const spd_sample_view *smp, const spd_tensor **in)
{
    if (smp->n_inputs != p->n_required)
        return spd_errorf(SPD_ERR_INVALID, "a calibration sample has %d inputs, the model takes %d", smp->n_inputs,
                          p->n_required);
    for (int k = 0, u = 0; k < p->n_inputs; k++) in[k] = p->values[p->inputs[k]].init ? NULL : &smp->inputs[u++];
    return SPD_OK;
}

/* One observed run of sample s; outputs go to out (released by the caller). */
static spd_status run_sample(calib *c, const spd_sample_view *smp, const spd_tensor **in, spd_tensor *out)
{
    const spd_program *p = c->p;
    SPD_TRY(sample_inputs(p, smp, in));
    /* graph inputs and initializers are no node's output: observe them here */
    for (int k = 0; k < p->n_inputs; k++) {
        int v = p->inputs[k];
        const spd_tensor *t = in[k] ? in[k] : p->values[v].init;
        if (t) observe_value(c, v, t);
    }
    for (int v = 0; v < p->n_values; v++)
        if (p->values[v].kind == SPD_VAL_INIT && p->values[v].init) observe_value(c, v, p->values[v].init);
    memset(out, 0, (size_t)p->n_outputs * sizeof *out);
    return spd_exec_run_observed(p, in, p->n_inputs, out, p->n_outputs, observer, c);
}

/* Relative L2 error of the outputs over the first n_eval samples. */
static spd_status eval_error(calib *c, const spd_sample_view *calib_s, int n_eval, const spd_tensor *ref,
                             const spd_tensor **in, spd_tensor *out, double *err)
{
    const spd_program *p = c->p;
    double d = 0, r = 0;
    *err = 0;
    for (int s = 0; s < n_eval; s++) {
        SPD_TRY(sample_inputs(p, &calib_s[s], in));
        memset(out, 0, (size_t)p->n_outputs * sizeof *out);
        SPD_TRY(spd_exec_run(p, NULL, in, p->n_inputs, out, p->n_outputs));
        for (int k = 0; k < p->n_outputs; k++) {
            const spd_tensor *want = &ref[s * p->n_outputs + k];
            if (want->dtype == SPD_FLOAT) {
                if (out[k].dtype != SPD_FLOAT || !spd_tensor_same_shape(&out[k], want)) {
                    d = INFINITY;
                } else {
                    const float *x = out[k].data, *y = want->data;
                    for (int64_t i = 0, e = spd_tensor_numel(want); i < e; i++) {
                        double t = (double)x[i] - y[i];
                        d += t * t;
                        r += (double)y[i] * y[i];
                    }
                }
            }
            spd_tensor_release(&out[k]);
        }
    }
    *err = r > 0 ? sqrt(d / r) : d > 0 ? INFINITY : 0;
    return SPD_OK;
}

static float clip_percentile(const vstat *s)
{
    const float amax = fmaxf(-s->lo, s->hi);
    if (!s->hist || s->count == 0 || amax <= 0) return amax;
    const uint64_t want = (uint64_t)ceil(PERCENTILE * (double)s->count);
    uint64_t acc = 0;
    for (int b = 0; b < HIST_BINS; b++) {
        acc += s->hist[b];
        if (acc >= want) return fminf(amax, (float)(b + 1) * amax / HIST_BINS);
    }
    return amax;
}

/* Sets every seen candidate to int8 with scales from min/max or the percentile. */
static spd_status apply_scales(calib *c, spd_q8_cand *cand, int n, spd_q8_set_fn set, bool percentile)
{
    for (int i = 0; i < n; i++) {
        const vstat *s = &c->vs[cand[i].in_value];
        if (!cand[i].seen) continue;
        /* symmetric: u8 for non-negative inputs (after a Relu, mostly), else s8 */
        bool u8 = s->lo >= 0;
        float clip = percentile ? clip_percentile(s) : fmaxf(-s->lo, s->hi);
        float scale = clip / (u8 ? 255.f : 127.f);
        if (!(scale > 0) || !isfinite(scale)) scale = 1.f;
        cand[i].scale = scale;
        cand[i].is_u8 = u8;
        cand[i].on = true;
        SPD_TRY(set(c->p->nodes[cand[i].node].state, true, scale, u8));
    }
    return SPD_OK;
}

typedef struct ranked {
    int cand;
    double own;
} ranked;

static int by_own_desc(const void *a, const void *b)
{
    double x = ((const ranked *)a)->own, y = ((const ranked *)b)->own;
    return x < y ? 1 : x > y ? -1 : 0;
}

static spd_status run_prog(void *ctx, const spd_tensor *in, int n_in, spd_tensor *out, int n_out)
{
    return spd_exec_run_user(ctx, in, n_in, out, n_out);
}

/* What the fallback minimises: the user's metric drop when the search lent
 * its judge, else the relative L2 error of the outputs on the calibration
 * samples. */
typedef struct scorer {
    calib *c;
    const spd_drop_check *check;
    const spd_sample_view *calib_s;
    int n_eval;
    const spd_tensor *ref;
    const spd_tensor **in;
    spd_tensor *out;
    spd_q8_report *rep;
} scorer;

static spd_status score(scorer *sc, double *v)
{
    sc->rep->n_measured++;
    if (sc->check) return sc->check->measure(sc->check->user, run_prog, sc->c->p, v);
    return eval_error(sc->c, sc->calib_s, sc->n_eval, sc->ref, sc->in, sc->out, v);
}

static bool passes(const scorer *sc, double v)
{
    return sc->check ? v <= sc->check->threshold : !(v > SPD_Q8_FALLBACK_BUDGET);
}

static spd_status set_group(calib *c, spd_q8_cand *cand, const ranked *rk, int from, int to, spd_q8_set_fn set,
                            bool on)
{
    for (int j = from; j < to; j++) {
        spd_q8_cand *q = &cand[rk[j].cand];
        q->on = on;
        SPD_TRY(set(c->p->nodes[q->node].state, on, q->scale, q->is_u8));
    }
    return SPD_OK;
}

/* The accuracy fallback, from the current state with score `cur`: each
 * int8 node's own share of the error on sample 0 (its output's error less
 * its input's, both against the kept fp32 copies) ranks the nodes; the
 * worst return to fp32 a group at a time until the score passes. Groups
 * that gain nothing are given a second group's chance (a metric such as
 * accuracy moves in steps), then go back to int8 and the search stops. */
static spd_status fallback(scorer *sc, spd_q8_cand *cand, int n, spd_q8_set_fn set, ranked *rk, double cur)
{
    calib *c = sc->c;
    spd_q8_report *rep = sc->rep;
    spd_tensor *out = sc->out;
    rep->final = cur;
    if (passes(sc, cur)) return SPD_OK;
    c->comparing = true;
    spd_status st = run_sample(c, &sc->calib_s[0], sc->in, out);
    c->comparing = false;
    for (int k = 0; k < c->p->n_outputs; k++) spd_tensor_release(&out[k]);
    SPD_TRY(st);
    int n_rk = 0;
    for (int i = 0; i < n; i++) {
        if (!cand[i].on) continue;
        double eo = cand[i].out_value >= 0 ? c->err[cand[i].out_value] : 0, ei = c->err[cand[i].in_value];
        rk[n_rk++] = (ranked){i, isfinite(eo) ? fmax(0, eo - (isfinite(ei) ? ei : 0)) : INFINITY};
    }
    qsort(rk, (size_t)n_rk, sizeof *rk, by_own_desc);
    int step = (int)ceil(FALLBACK_STEP * n_rk);
    if (step < 1) step = 1;
    double best = cur;
    int stall = -1; /* where the groups that gained nothing begin */
    int at = 0; /* rk[0..at) are fp32 */
    while (at < n_rk && !passes(sc, cur)) {
        int end = at + step < n_rk ? at + step : n_rk;
        SPD_TRY(set_group(c, cand, rk, at, end, set, false));
        SPD_TRY(score(sc, &cur));
        rep->levels++;
        if (stall < 0 && !(cur < best)) stall = at;
        if (cur < best) {
            best = cur;
            stall = -1;
        }
        at = end;
        if (stall >= 0 && at - stall >= 2 * step) break;
    }
    if (!passes(sc, cur) && stall >= 0) {
        /* back to the best level seen: the stalled groups return to int8 */
        SPD_TRY(set_group(c, cand, rk, stall, at, set, true));
        cur = best;
    }
    rep->n_fallback = 0;
    int n_seen = 0;
    for (int i = 0; i < n; i++) {
        rep->n_fallback += cand[i].seen && !cand[i].on;
        n_seen += cand[i].seen;
    }
    rep->final = cur;
    /* an "int8" plan without an int8 node is fp32 under another name */
    if (sc->check && n_seen > 0 && rep->n_fallback == n_seen)
        return spd_errorf(SPD_ERR_UNSUPPORTED,
                          "every int8 node (%d) had to return to fp32 to bring the %s drop from %.4g within %g: "
                          "nothing is left in int8", n_seen, sc->check->metric_name ? sc->check->metric_name : "metric",
                          rep->initial, sc->check->threshold);
    return SPD_OK;
}

static spd_status calib_alloc(calib *c, spd_program *p, int n, int n_eval, const spd_tensor ***in, spd_tensor **out,
                              spd_tensor **ref, ranked **rk)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    *in = spd_calloc((size_t)p->n_inputs + 1, sizeof **in);
    *out = spd_calloc((size_t)p->n_outputs + 1, sizeof **out);
    *ref = spd_calloc((size_t)(n_eval * p->n_outputs) + 1, sizeof **ref);
    *rk = spd_calloc((size_t)n + 1, sizeof **rk);
    c->vs = spd_calloc((size_t)p->n_values + 1, sizeof *c->vs);
    c->kept = spd_calloc((size_t)p->n_values + 1, sizeof *c->kept);
    c->err = spd_calloc((size_t)p->n_values + 1, sizeof *c->err);
    if (!*in || !*out || !*ref || !*rk || !c->vs || !c->kept || !c->err) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    return SPD_OK;
}

static void calib_free(calib *c, int n_ref, const spd_tensor **in, spd_tensor *out, spd_tensor *ref, ranked *rk)
{
    if (ref)
        for (int i = 0; i < n_ref; i++) spd_tensor_release(&ref[i]);
    if (c->vs)
        for (int v = 0; v < c->p->n_values; v++) spd_free(c->vs[v].hist);
    if (c->kept)
        for (int v = 0; v < c->p->n_values; v++) spd_tensor_release(&c->kept[v]);
    spd_free(c->vs);
    spd_free(c->kept);
    spd_free(c->err);
    spd_free(rk);
    spd_free(ref);
    spd_free(out);
    spd_free((void *)in);
}

static void report_init(spd_q8_report *rep, const spd_drop_check *check)
{
    memset(rep, 0, sizeof *rep);
    rep->method = "minmax";
    rep->err_percentile = -1;
    rep->by_metric = check != NULL;
    rep->metric_name = check ? check->metric_name : NULL;
}

spd_status spd_onednn_calibrate(spd_program *p, spd_q8_cand *cand, int n, spd_q8_set_fn set,
                                const spd_sample_view *calib_s, int n_calib, const spd_drop_check *check,
                                spd_q8_report *rep)
{
    report_init(rep, check);
    if (n_calib > MAX_CALIB) n_calib = MAX_CALIB;
    const int n_eval = n_calib < MAX_EVAL ? n_calib : MAX_EVAL;
    const int n_out = p->n_outputs;
    calib c;
    const spd_tensor **in = NULL;
    spd_tensor *out = NULL, *ref = NULL;
    ranked *rk = NULL;
    spd_status st = calib_alloc(&c, p, n, n_eval, &in, &out, &ref, &rk);
    if (st != SPD_OK) goto done;
    for (int i = 0; i < n; i++) {
        c.vs[cand[i].in_value].tracked = true;
        c.vs[cand[i].in_value].keep = true;
        if (cand[i].out_value >= 0) c.vs[cand[i].out_value].keep = true;
    }

    /* pass 1: ranges, reference outputs, fp32 copies of sample 0 */
    c.pass = 1;
    for (int s = 0; s < n_calib; s++) {
        c.keeping = s == 0;
        if ((st = run_sample(&c, &calib_s[s], in, out)) != SPD_OK) goto done;
        for (int k = 0; k < n_out; k++) {
            if (s < n_eval) ref[s * n_out + k] = out[k];
            else spd_tensor_release(&out[k]);
        }
    }
    c.keeping = false;
    for (int i = 0; i < n; i++) cand[i].seen = c.vs[cand[i].in_value].seen;

    /* pass 2: histograms of |x| for the percentile clip */
    bool want_hist = false;
    for (int v = 0; v < p->n_values; v++)
        if (c.vs[v].tracked && c.vs[v].seen && fmaxf(-c.vs[v].lo, c.vs[v].hi) > 0) {
            c.vs[v].hist = spd_calloc(HIST_BINS, sizeof(uint32_t));
            if (!c.vs[v].hist) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
            want_hist = true;
        }
    if (want_hist) {
        c.pass = 2;
        for (int s = 0; s < n_calib; s++) {
            if ((st = run_sample(&c, &calib_s[s], in, out)) != SPD_OK) goto done;
            for (int k = 0; k < n_out; k++) spd_tensor_release(&out[k]);
        }
    }
    c.pass = 0;

    /* min/max against the percentile: the smaller metric drop wins (when
     * the search lent its metric), then the smaller output error */
    scorer sc = {&c, check, calib_s, n_eval, ref, in, out, rep};
    double drop_mm = 0, drop_pc = 0;
    if ((st = apply_scales(&c, cand, n, set, false)) != SPD_OK) goto done;
    if ((st = eval_error(&c, calib_s, n_eval, ref, in, out, &rep->err_minmax)) != SPD_OK) goto done;
    if (check && (st = score(&sc, &drop_mm)) != SPD_OK) goto done;
    rep->err_final = rep->err_minmax;
    double cur = check ? drop_mm : rep->err_minmax;
    if (want_hist) {
        if ((st = apply_scales(&c, cand, n, set, true)) != SPD_OK) goto done;
        if ((st = eval_error(&c, calib_s, n_eval, ref, in, out, &rep->err_percentile)) != SPD_OK) goto done;
        if (check && (st = score(&sc, &drop_pc)) != SPD_OK) goto done;
        bool pc = check ? drop_pc < drop_mm || (drop_pc == drop_mm && rep->err_percentile < rep->err_minmax)
                        : rep->err_percentile < rep->err_minmax;
        if (pc) {
            rep->method = "percentile";
            rep->err_final = rep->err_percentile;
            cur = check ? drop_pc : rep->err_percentile;
        } else if ((st = apply_scales(&c, cand, n, set, false)) != SPD_OK) {
            goto done;
        }
    }
    rep->initial = cur;
    if ((st = fallback(&sc, cand, n, set, rk, cur)) != SPD_OK) goto done;
    if (!check) rep->err_final = rep->final;
    else if (rep->n_fallback > 0 && (st = eval_error(&c, calib_s, n_eval, ref, in, out, &rep->err_final)) != SPD_OK)
        goto done;

done:
    calib_free(&c, n_eval * n_out, in, out, ref, rk);
    return st;
}

spd_status spd_onednn_fallback(spd_program *p, spd_q8_cand *cand, int n, spd_q8_set_fn set,
                               const spd_sample_view *calib_s, int n_calib, const spd_drop_check *check,
                               spd_q8_report *rep)
{
    report_init(rep, check);
    rep->method = NULL;
    if (!check || n == 0 || n_calib < 1) return SPD_OK;
    calib c;
    const spd_tensor **in = NULL;
    spd_tensor *out = NULL, *ref = NULL;
    ranked *rk = NULL;
    scorer sc = {&c, check, calib_s, 0, NULL, NULL, NULL, rep};
    double cur;
    spd_status st = calib_alloc(&c, p, n, 0, &in, &out, &ref, &rk);
    sc.in = in;
    sc.out = out;
    if (st != SPD_OK || (st = score(&sc, &cur)) != SPD_OK) goto done;
    rep->initial = rep->final = cur;
    if (passes(&sc, cur)) goto done;
    /* fp32 copies of every candidate's input and output on sample 0 */
    for (int i = 0; i < n; i++) {
        c.vs[cand[i].in_value].keep = true;
        if (cand[i].out_value >= 0) c.vs[cand[i].out_value].keep = true;
        if ((st = set(p->nodes[cand[i].node].state, false, cand[i].scale, cand[i].is_u8)) != SPD_OK) goto done;
    }
    c.keeping = true;
    st = run_sample(&c, &calib_s[0], in, out);
    c.keeping = false;
    for (int k = 0; k < p->n_outputs; k++) spd_tensor_release(&out[k]);
    for (int i = 0; i < n && st == SPD_OK; i++)
        if (cand[i].on) st = set(p->nodes[cand[i].node].state, true, cand[i].scale, cand[i].is_u8);
    if (st != SPD_OK) goto done;
    st = fallback(&sc, cand, n, set, rk, cur);
done:
    calib_free(&c, 0, in, out, ref, rk);
    return st;
}
