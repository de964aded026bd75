/* Static int8 calibration of the onednn backend; see calib.h.
 *
 * Every pass runs the backend's own program (its candidates in fp32, so the
 * statistics are the fp32 model's) with an observer on every value:
 *   1. min/max of each candidate's input, the fp32 outputs of the first
 *      samples (the reference for the error), and on the first sample fp32
 *      copies of the candidates' inputs and outputs (for the fallback);
 *   2. a histogram of |x| per input, for the percentile scale.
 * Both scale choices are then run in int8 and the one with the smaller
 * relative error of the outputs is kept. */
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

static spd_status set_on(calib *c, spd_q8_cand *cand, spd_q8_set_fn set, bool on)
{
    cand->on = on;
    return set(c->p->nodes[cand->node].state, on, cand->scale, cand->is_u8);
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

spd_status spd_onednn_calibrate(spd_program *p, spd_q8_cand *cand, int n, spd_q8_set_fn set,
                                const spd_sample_view *calib_s, int n_calib, spd_q8_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->method = "minmax";
    rep->err_percentile = -1;
    if (n_calib > MAX_CALIB) n_calib = MAX_CALIB;
    const int n_eval = n_calib < MAX_EVAL ? n_calib : MAX_EVAL;
    const int n_out = p->n_outputs;
    calib c = {0};
    c.p = p;
    spd_status st = SPD_OK;
    const spd_tensor **in = spd_calloc((size_t)p->n_inputs + 1, sizeof *in);
    spd_tensor *out = spd_calloc((size_t)n_out + 1, sizeof *out);
    spd_tensor *ref = spd_calloc((size_t)(n_eval * n_out) + 1, sizeof *ref);
    ranked *rk = spd_calloc((size_t)n + 1, sizeof *rk);
    c.vs = spd_calloc((size_t)p->n_values + 1, sizeof *c.vs);
    c.kept = spd_calloc((size_t)p->n_values + 1, sizeof *c.kept);
    c.err = spd_calloc((size_t)p->n_values + 1, sizeof *c.err);
    if (!in || !out || !ref || !rk || !c.vs || !c.kept || !c.err) {
        st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        goto done;
    }
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

    /* min/max against the percentile: the smaller error wins */
    if ((st = apply_scales(&c, cand, n, set, false)) != SPD_OK) goto done;
    if ((st = eval_error(&c, calib_s, n_eval, ref, in, out, &rep->err_minmax)) != SPD_OK) goto done;
    rep->err_final = rep->err_minmax;
    if (want_hist) {
        if ((st = apply_scales(&c, cand, n, set, true)) != SPD_OK) goto done;
        if ((st = eval_error(&c, calib_s, n_eval, ref, in, out, &rep->err_percentile)) != SPD_OK) goto done;
        if (rep->err_percentile < rep->err_minmax) {
            rep->method = "percentile";
            rep->err_final = rep->err_percentile;
        } else if ((st = apply_scales(&c, cand, n, set, false)) != SPD_OK) {
            goto done;
        }
    }
    if (!(rep->err_final > SPD_Q8_FALLBACK_BUDGET)) goto done;

    /* the fallback: each node's own share of the error on sample 0 is its
     * output's error less its input's (both against fp32) */
    c.comparing = true;
    st = run_sample(&c, &calib_s[0], in, out);
    c.comparing = false;
    for (int k = 0; k < n_out; k++) spd_tensor_release(&out[k]);
    if (st != SPD_OK) goto done;
    int n_rk = 0;
    for (int i = 0; i < n; i++) {
        if (!cand[i].on) continue;
        double eo = cand[i].out_value >= 0 ? c.err[cand[i].out_value] : 0, ei = c.err[cand[i].in_value];
        rk[n_rk++] = (ranked){i, isfinite(eo) ? fmax(0, eo - (isfinite(ei) ? ei : 0)) : INFINITY};
    }
    qsort(rk, (size_t)n_rk, sizeof *rk, by_own_desc);
    int step = (int)ceil(FALLBACK_STEP * n_rk);
    if (step < 1) step = 1;
    double err = rep->err_final;
    for (int at = 0; at < n_rk && err > SPD_Q8_FALLBACK_BUDGET;) {
        int end = at + step < n_rk ? at + step : n_rk;
        for (int j = at; j < end; j++)
            if ((st = set_on(&c, &cand[rk[j].cand], set, false)) != SPD_OK) goto done;
        double e2;
        if ((st = eval_error(&c, calib_s, n_eval, ref, in, out, &e2)) != SPD_OK) goto done;
        if (!(e2 < err)) {
            /* nothing gained: these nodes go back to int8, and the search stops */
            for (int j = at; j < end; j++)
                if ((st = set_on(&c, &cand[rk[j].cand], set, true)) != SPD_OK) goto done;
            break;
        }
        err = e2;
        rep->n_fallback += end - at;
        at = end;
    }
    rep->err_final = err;

done:
    if (ref)
        for (int i = 0; i < n_eval * n_out; i++) spd_tensor_release(&ref[i]);
    if (c.vs)
        for (int v = 0; v < p->n_values; v++) spd_free(c.vs[v].hist);
    if (c.kept)
        for (int v = 0; v < p->n_values; v++) spd_tensor_release(&c.kept[v]);
    spd_free(c.vs);
    spd_free(c.kept);
    spd_free(c.err);
    spd_free(rk);
    spd_free(ref);
    spd_free(out);
    spd_free((void *)in);
    return st;
}
