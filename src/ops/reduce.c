/* Reductions: the Reduce* family, ArgMax/ArgMin, TopK and CumSum.
 *
 * Reduce* walk the input once in memory order, keeping the offset of the
 * output element each input element folds into; this handles any set of
 * axes without transposing. Float data accumulates in double, integer data
 * in int64 (wrapping like the narrow type would, then truncated on store). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ir/op.h"
#include "ops/vmath.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"
#include "util/threadpool.h"

/* ------------------------------------------------------------------------ */
/* Shared helpers                                                           */

/* Element i as a double, without the generic switch for the common float. */
static inline double ld(const spd_tensor *t, int64_t i)
{
    if (t->dtype == SPD_FLOAT) return ((const float *)t->data)[i];
    return spd_tensor_get(t, i);
}

static inline void st(spd_tensor *t, int64_t i, double v)
{
    if (t->dtype == SPD_FLOAT) ((float *)t->data)[i] = (float)v;
    else spd_tensor_set(t, i, v);
}

/* Integer dtypes are compared and summed exactly in int64 (uint64 is kept as
 * its bit pattern; see int_less). */
static bool is_exact_int(spd_dtype t)
{
    return spd_dtype_is_int(t) || t == SPD_BOOL;
}

static bool int_less(spd_dtype t, int64_t a, int64_t b)
{
    if (t == SPD_UINT64) return (uint64_t)a < (uint64_t)b;
    return a < b;
}

/* Stores an integer result wrapping to the element type, as integer
 * arithmetic in that type would (spd_tensor_set_i64 saturates narrow types). */
static void st_int(spd_tensor *t, int64_t i, int64_t v)
{
    switch (t->dtype) {
    case SPD_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case SPD_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case SPD_INT16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case SPD_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    case SPD_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
    case SPD_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: spd_tensor_set_i64(t, i, v); break;
    }
}

static bool is_numeric(spd_dtype t)
{
    return spd_dtype_is_float(t) || spd_dtype_is_int(t);
}

/* Normalises a possibly negative axis against rank r. */
static spd_status norm_axis(int64_t axis, int r, const char *what, int *out)
{
    if (axis < -r || axis >= r)
        return spd_errorf(SPD_ERR_INVALID, "%s %lld is out of range for rank %d", what,
                          (long long)axis, r);
    *out = (int)(axis < 0 ? axis + r : axis);
    return SPD_OK;
}

/* A counter over an input's dims that tracks the offset of the matching
 * output element (ostr[d] is 0 on reduced axes). */
typedef struct walker {
    int nd;
    int64_t dims[SPD_MAX_DIMS], ostr[SPD_MAX_DIMS], cnt[SPD_MAX_DIMS];
    int64_t o;
} walker;

static void walker_init(walker *w, const spd_tensor *x, const int64_t *ostr)
{
    memset(w, 0, sizeof *w);
    w->nd = x->ndim;
    for (int d = 0; d < x->ndim; d++) {
        w->dims[d] = x->dims[d];
        w->ostr[d] = ostr[d];
    }
}

static inline void walker_next(walker *w)
{
    for (int d = w->nd - 1; d >= 0; d--) {
        w->o += w->ostr[d];
        if (++w->cnt[d] < w->dims[d]) return;
        w->o -= w->ostr[d] * w->dims[d];
        w->cnt[d] = 0;
    }
}

/* Runs BODY for every input element i, with o the output offset. */
#define WALK(x, ostr, BODY)                                                    \
    do {                                                                       \
        walker w_;                                                             \
        walker_init(&w_, (x), (ostr));                                         \
        int64_t n_ = spd_tensor_numel(x);                                      \
        for (int64_t i = 0; i < n_; i++) {                                     \
            int64_t o = w_.o;                                                  \
            BODY;                                                              \
            walker_next(&w_);                                                  \
        }                                                                      \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Reduce*                                                                  */

typedef enum rkind {
    R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ
} rkind;

/* Which axes to reduce: from the `axes` attribute before `axes_input_since`,
 * from the optional second input from then on. No axes means all axes,
 * unless noop_with_empty_axes asks for none. */
static spd_status reduce_axes(spd_op_ctx *ctx, int axes_input_since, const spd_tensor *x,
                              bool *mask)
{
    int r = x->ndim;
    int64_t axes[SPD_MAX_DIMS];
    int n = 0;
    bool given = false;
    if (ctx->opset >= axes_input_since) {
        const spd_tensor *a = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
        if (a) {
            if (spd_tensor_numel(a) > SPD_MAX_DIMS)
                return spd_errorf(SPD_ERR_INVALID, "axes has %lld values for a rank-%d input",
                                  (long long)spd_tensor_numel(a), r);
            SPD_TRY(spd_tensor_to_i64s(a, axes, SPD_MAX_DIMS, &n));
            given = n > 0;
        }
    } else {
        size_t cnt = 0;
        const int64_t *v = spd_attr_ints(ctx->node, "axes", &cnt);
        if (v && cnt > 0) {
            if (cnt > SPD_MAX_DIMS)
                return spd_errorf(SPD_ERR_INVALID, "axes has %zu values for a rank-%d input", cnt, r);
            for (size_t k = 0; k < cnt; k++) axes[k] = v[k];
            n = (int)cnt;
            given = true;
        }
    }
    for (int d = 0; d < r; d++) mask[d] = false;
    if (!given) {
        bool noop = spd_attr_int(ctx->node, "noop_with_empty_axes", 0) != 0;
        for (int d = 0; d < r; d++) mask[d] = !noop;
        return SPD_OK;
    }
    for (int k = 0; k < n; k++) {
        if (axes[k] < -r || axes[k] >= r)
            return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for rank %d",
                              (long long)axes[k], r);
        mask[axes[k] < 0 ? axes[k] + r : axes[k]] = true;
    }
    return SPD_OK;
}

#if defined(__x86_64__)
/* acc[j] += xr[j] for each of the red rows of inner floats xr = xo + r *
 * inner, in double and in row order as the scalar loop sums them (so the
 * same bits), 64 columns at a time in registers: the scalar loop kept acc
 * in memory (keyword spotting's mean over 25x5 pixels of 64 channels: 2 us,
 * 5% of the model). */
__attribute__((target("avx512f"))) static void sum_rows_avx512(const float *xo, int64_t red, int64_t inner,
                                                               int64_t j0, int64_t j1, double *acc)
{
    int64_t j = j0;
    for (; j + 64 <= j1; j += 64) {
        __m512d a[8];
        for (int q = 0; q < 8; q++) a[q] = _mm512_loadu_pd(acc + j + 8 * q);
        for (int64_t r = 0; r < red; r++) {
            const float *xr = xo + r * inner + j;
            for (int q = 0; q < 8; q++) a[q] = _mm512_add_pd(a[q], _mm512_cvtps_pd(_mm256_loadu_ps(xr + 8 * q)));
        }
        for (int q = 0; q < 8; q++) _mm512_storeu_pd(acc + j + 8 * q, a[q]);
    }
    for (; j + 8 <= j1; j += 8) {
        __m512d a = _mm512_loadu_pd(acc + j);
        for (int64_t r = 0; r < red; r++) a = _mm512_add_pd(a, _mm512_cvtps_pd(_mm256_loadu_ps(xo + r * inner + j)));
        _mm512_storeu_pd(acc + j, a);
    }
    for (; j < j1; j++)
        for (int64_t r = 0; r < red; r++) acc[j] += xo[r * inner + j];
}

/* The column sums split by blocks of 64 columns over the threads, from
 * SPD_PAR_MIN_STREAM values: a channels-last mean over the plane
 * (EfficientNet's squeeze over 14x14x480) sits between two split
 * convolutions, whose output it reads from both cores (its 12 such means
 * at 2 threads 50 -> 40 us; 45 at 1). Each column keeps its row order:
 * the same bits. */

typedef struct sum_job {
    const float *xo;
    int64_t red, inner, per;
    double *acc;
} sum_job;

static void sum_task(void *ctx, int64_t t)
{
    const sum_job *j = ctx;
    const int64_t j0 = t * j->per, j1 = j0 + j->per < j->inner ? j0 + j->per : j->inner;
    sum_rows_avx512(j->xo, j->red, j->inner, j0, j1, j->acc);
}

static void sum_rows(const float *xo, int64_t red, int64_t inner, double *acc)
{
    const int threads = spd_thread_count();
    if (threads <= 1 || red * inner < SPD_PAR_MIN_STREAM || inner < 128) {
        sum_rows_avx512(xo, red, inner, 0, inner, acc);
        return;
    }
    sum_job j = {xo, red, inner, (inner + 2 * threads - 1) / (2 * threads), acc};
    j.per = (j.per + 63) / 64 * 64;
    spd_parallel_for((inner + j.per - 1) / j.per, sum_task, &j);
}
#endif

/* float32 Sum/Mean/Max/Min over one run of adjacent axes (a pooling-like
 * ReduceMean over H x W, a LayerNorm-like mean over the last axis): x is
 * [outer, red, inner] and each output sums a strided run, no index walk.
 * Accumulates in double like the general path. False when the axes are
 * not one run or there is no memory (the general path then runs). */
static bool reduce_f32_run(const spd_tensor *x, const bool *mask, rkind kind, spd_tensor *y)
{
    int lo = -1, hi = -1;
    for (int d = 0; d < x->ndim; d++)
        if (mask[d]) {
            if (lo < 0) lo = d;
            else if (hi != d - 1) return false; /* a gap */
            hi = d;
        }
    if (lo < 0) return false;
    const int64_t outer = spd_dims_prod(x->dims, 0, lo), red = spd_dims_prod(x->dims, lo, hi + 1);
    const int64_t inner = spd_dims_prod(x->dims, hi + 1, x->ndim);
    if (red == 0) return false;
    const float *in = (const float *)x->data;
    float *out = (float *)y->data;
    /* per-thread scratch: a planned call allocates only its outputs */
    double *acc = inner > 1 ? spd_scratch(SPD_SCRATCH_OP, (size_t)inner * sizeof *acc) : NULL;
    if (inner > 1 && !acc) return false;
    for (int64_t o = 0; o < outer; o++) {
        const float *xo = in + o * red * inner;
        if (inner == 1) { /* a contiguous run: four partial results for speed */
            double a[4];
            const double init = kind == R_MAX || kind == R_MIN ? (double)xo[0] : 0.0;
            for (int k = 0; k < 4; k++) a[k] = init;
            int64_t r = 0;
            if (kind == R_SUM || kind == R_MEAN) {
                for (; r + 4 <= red; r += 4)
                    for (int k = 0; k < 4; k++) a[k] += xo[r + k];
                for (; r < red; r++) a[0] += xo[r];
                a[0] = (a[0] + a[1]) + (a[2] + a[3]);
                out[o] = (float)(kind == R_MEAN ? a[0] / (double)red : a[0]);
            } else {
                double m = init;
                for (; r < red; r++) {
                    const double v = xo[r];
                    if (kind == R_MAX ? v > m || isnan(v) : v < m || isnan(v)) m = v;
                    if (isnan(m)) break;
                }
                out[o] = (float)m;
            }
            continue;
        }
        const double init = kind == R_MAX ? -INFINITY : kind == R_MIN ? INFINITY : 0.0;
        bool red_done = false;
        for (int64_t j = 0; j < inner; j++) acc[j] = init;
#if defined(__x86_64__)
        if ((kind == R_SUM || kind == R_MEAN) && spd_vmath_avx512()) {
            sum_rows(xo, red, inner, acc);
            red_done = true;
        }
#endif
        for (int64_t r = 0; r < red && !red_done; r++) {
            const float *xr = xo + r * inner;
            if (kind == R_SUM || kind == R_MEAN)
                for (int64_t j = 0; j < inner; j++) acc[j] += xr[j];
            else
                for (int64_t j = 0; j < inner; j++) {
                    const double v = xr[j];
                    if (kind == R_MAX ? v > acc[j] || isnan(v) : v < acc[j] || isnan(v)) acc[j] = v;
                }
        }
        for (int64_t j = 0; j < inner; j++)
            out[o * inner + j] = (float)(kind == R_MEAN ? acc[j] / (double)red : acc[j]);
    }
    return true;
}

static spd_status reduce_run(spd_op_ctx *ctx, rkind kind, int axes_input_since)
{
    const spd_tensor *x = ctx->in[0];
    if (!x) return spd_errorf(SPD_ERR_INVALID, "missing input data");
    spd_dtype dt = x->dtype;
    if (dt == SPD_BOOL ? !(kind == R_MAX || kind == R_MIN) : !is_numeric(dt))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(dt));

    bool mask[SPD_MAX_DIMS];
    SPD_TRY(reduce_axes(ctx, axes_input_since, x, mask));
    bool keep = spd_attr_int(ctx->node, "keepdims", 1) != 0;

    int ond = 0;
    int64_t odims[SPD_MAX_DIMS], ostr[SPD_MAX_DIMS];
    int64_t count = 1; /* elements folded into each output */
    for (int d = 0; d < x->ndim; d++) {
        if (mask[d]) {
            count *= x->dims[d];
            if (keep) odims[ond++] = 1;
        } else {
            odims[ond++] = x->dims[d];
        }
    }
    int64_t s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        ostr[d] = mask[d] ? 0 : s;
        if (!mask[d]) s *= x->dims[d];
    }
    spd_tensor *y = &ctx->out[0];
    SPD_TRY(spd_tensor_alloc(y, dt, ond, odims));
    int64_t nout = spd_tensor_numel(y);
    if (nout == 0) return SPD_OK;
    if (dt == SPD_FLOAT && (kind == R_SUM || kind == R_MEAN || kind == R_MAX || kind == R_MIN) &&
        reduce_f32_run(x, mask, kind, y))
        return SPD_OK;

    bool exact = is_exact_int(dt) && kind != R_L2 && kind != R_LOGSUM && kind != R_LOGSUMEXP;
    if (exact) {
        /* uint64 arithmetic wraps where int64 would overflow (undefined). */
        uint64_t *acc = spd_malloc((size_t)nout * sizeof *acc);
        if (!acc) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        uint64_t init = 0;
        if (kind == R_PROD) init = 1;
        if (kind == R_MAX) init = dt == SPD_UINT64 || dt == SPD_BOOL ? 0 : (uint64_t)INT64_MIN;
        if (kind == R_MIN) init = dt == SPD_BOOL ? 1 : dt == SPD_UINT64 ? UINT64_MAX : (uint64_t)INT64_MAX;
        for (int64_t o = 0; o < nout; o++) acc[o] = init;
        switch (kind) {
        case R_SUM: case R_MEAN:
            WALK(x, ostr, acc[o] += (uint64_t)spd_tensor_get_i64(x, i));
            break;
        case R_PROD:
            WALK(x, ostr, acc[o] *= (uint64_t)spd_tensor_get_i64(x, i));
            break;
        case R_L1:
            WALK(x, ostr, {
                int64_t v = spd_tensor_get_i64(x, i);
                acc[o] += v < 0 && dt != SPD_UINT64 ? 0 - (uint64_t)v : (uint64_t)v;
            });
            break;
        case R_SUMSQ:
            WALK(x, ostr, {
                uint64_t v = (uint64_t)spd_tensor_get_i64(x, i);
                acc[o] += v * v;
            });
            break;
        case R_MAX:
            WALK(x, ostr, {
                int64_t v = spd_tensor_get_i64(x, i);
                if (int_less(dt, (int64_t)acc[o], v)) acc[o] = (uint64_t)v;
            });
            break;
        case R_MIN:
            WALK(x, ostr, {
                int64_t v = spd_tensor_get_i64(x, i);
                if (int_less(dt, v, (int64_t)acc[o])) acc[o] = (uint64_t)v;
            });
            break;
        default: break;
        }
        for (int64_t o = 0; o < nout; o++) {
            int64_t v = (int64_t)acc[o];
            if (kind == R_MEAN) v = count > 0 ? v / count : 0;
            if ((kind == R_MAX || kind == R_MIN) && count == 0 && dt != SPD_INT64 && dt != SPD_UINT64 &&
                dt != SPD_BOOL) {
                /* The empty set gives the type's own extreme value. */
                double e = kind == R_MAX ? -INFINITY : INFINITY;
                spd_tensor_set(y, o, e);
                continue;
            }
            st_int(y, o, v);
        }
        spd_free(acc);
        return SPD_OK;
    }

    double *acc = spd_malloc((size_t)nout * sizeof *acc);
    double *mx = NULL;
    if (!acc) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    double init = 0.0;
    if (kind == R_PROD) init = 1.0;
    if (kind == R_MAX) init = -INFINITY;
    if (kind == R_MIN) init = INFINITY;
    for (int64_t o = 0; o < nout; o++) acc[o] = init;
    switch (kind) {
    case R_SUM: case R_MEAN: case R_LOGSUM:
        WALK(x, ostr, acc[o] += ld(x, i));
        break;
    case R_PROD:
        WALK(x, ostr, acc[o] *= ld(x, i));
        break;
    case R_L1:
        WALK(x, ostr, acc[o] += fabs(ld(x, i)));
        break;
    case R_L2: case R_SUMSQ:
        WALK(x, ostr, {
            double v = ld(x, i);
            acc[o] += v * v;
        });
        break;
    case R_MAX:
        WALK(x, ostr, {
            double v = ld(x, i);
            if (v > acc[o] || isnan(v)) acc[o] = v;
        });
        break;
    case R_MIN:
        WALK(x, ostr, {
            double v = ld(x, i);
            if (v < acc[o] || isnan(v)) acc[o] = v;
        });
        break;
    case R_LOGSUMEXP:
        /* Shift by the maximum so that exp cannot overflow. */
        mx = spd_malloc((size_t)nout * sizeof *mx);
        if (!mx) {
            spd_free(acc);
            return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        }
        for (int64_t o = 0; o < nout; o++) mx[o] = -INFINITY;
        WALK(x, ostr, {
            double v = ld(x, i);
            if (v > mx[o] || isnan(v)) mx[o] = v;
        });
        WALK(x, ostr, {
            if (isfinite(mx[o])) acc[o] += exp(ld(x, i) - mx[o]);
        });
        break;
    }
    for (int64_t o = 0; o < nout; o++) {
        double v = acc[o];
        switch (kind) {
        case R_MEAN: v = v / (double)count; break;
        case R_L2: v = sqrt(v); break;
        case R_LOGSUM: v = log(v); break;
        case R_LOGSUMEXP: v = isfinite(mx[o]) ? mx[o] + log(v) : mx[o]; break;
        default: break;
        }
        st(y, o, v);
    }
    spd_free(mx);
    spd_free(acc);
    return SPD_OK;
}

/* ReduceSum took axes as an input from opset 13, the others from 18. */
#define REDUCE_KERNEL(fn, kind, since)                                         \
    static spd_status fn(spd_op_ctx *ctx) { return reduce_run(ctx, kind, since); }
REDUCE_KERNEL(op_reduce_sum, R_SUM, 13)
REDUCE_KERNEL(op_reduce_mean, R_MEAN, 18)
REDUCE_KERNEL(op_reduce_max, R_MAX, 18)
REDUCE_KERNEL(op_reduce_min, R_MIN, 18)
REDUCE_KERNEL(op_reduce_prod, R_PROD, 18)
REDUCE_KERNEL(op_reduce_l1, R_L1, 18)
REDUCE_KERNEL(op_reduce_l2, R_L2, 18)
REDUCE_KERNEL(op_reduce_log_sum, R_LOGSUM, 18)
REDUCE_KERNEL(op_reduce_log_sum_exp, R_LOGSUMEXP, 18)
REDUCE_KERNEL(op_reduce_sum_square, R_SUMSQ, 18)

/* ------------------------------------------------------------------------ */
/* ArgMax / ArgMin                                                          */

static spd_status arg_run(spd_op_ctx *ctx, bool is_max)
{
    const spd_tensor *x = ctx->in[0];
    if (!x) return spd_errorf(SPD_ERR_INVALID, "missing input data");
    if (!is_numeric(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported",
                          spd_dtype_name(x->dtype));
    if (x->ndim == 0) return spd_errorf(SPD_ERR_INVALID, "input must have rank >= 1");
    int axis = 0;
    SPD_TRY(norm_axis(spd_attr_int(ctx->node, "axis", 0), x->ndim, "axis", &axis));
    bool keep = spd_attr_int(ctx->node, "keepdims", 1) != 0;
    bool last = ctx->opset >= 12 && spd_attr_int(ctx->node, "select_last_index", 0) != 0;

    int ond = 0;
    int64_t odims[SPD_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (d != axis) odims[ond++] = x->dims[d];
        else if (keep) odims[ond++] = 1;
    }
    spd_tensor *y = &ctx->out[0];
    SPD_TRY(spd_tensor_alloc(y, SPD_INT64, ond, odims));
    int64_t outer = spd_dims_prod(x->dims, 0, axis), n = x->dims[axis];
    int64_t inner = spd_dims_prod(x->dims, axis + 1, x->ndim);
    if (outer * inner == 0) return SPD_OK;
    if (n == 0) return spd_errorf(SPD_ERR_INVALID, "cannot take the arg%s of an empty axis",
                                  is_max ? "max" : "min");
    int64_t *yd = y->data;
    bool exact = spd_dtype_is_int(x->dtype);
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t b = 0; b < inner; b++) {
            int64_t base = a * n * inner + b, best = 0;
            if (exact) {
                int64_t bv = spd_tensor_get_i64(x, base);
                for (int64_t k = 1; k < n; k++) {
                    int64_t v = spd_tensor_get_i64(x, base + k * inner);
                    bool better = is_max ? int_less(x->dtype, bv, v) : int_less(x->dtype, v, bv);
                    if (better || (last && v == bv)) { bv = v; best = k; }
                }
            } else {
                /* NaN wins, the first one (numpy's rule). */
                double bv = ld(x, base);
                for (int64_t k = 1; k < n; k++) {
                    double v = ld(x, base + k * inner);
                    bool better;
                    if (isnan(bv)) better = last && isnan(v);
                    else if (isnan(v)) better = true;
                    else better = is_max ? v > bv : v < bv;
                    if (better || (last && v == bv)) { bv = v; best = k; }
                }
            }
            yd[a * inner + b] = best;
        }
    }
    return SPD_OK;
}

static spd_status op_argmax(spd_op_ctx *ctx) { return arg_run(ctx, true); }
static spd_status op_argmin(spd_op_ctx *ctx) { return arg_run(ctx, false); }

/* ------------------------------------------------------------------------ */
/* TopK                                                                     */

typedef struct topk_item {
    double v;      /* float dtypes */
    int64_t iv;    /* integer dtypes */
    int64_t idx;
} topk_item;

/* NaN sorts above every number, so the orders below are total. */
static int cmp_f(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

static int cmp_i(int64_t a, int64_t b) { return (a > b) - (a < b); }
static int cmp_u(int64_t a, int64_t b) { return ((uint64_t)a > (uint64_t)b) - ((uint64_t)a < (uint64_t)b); }

/* Ties go to the lower index whatever the direction, as the spec asks. */
#define TOPK_CMP(name, field, cmp, sign)                                       \
    static int name(const void *pa, const void *pb)                            \
    {                                                                          \
        const topk_item *a = pa, *b = pb;                                      \
        int c = sign cmp(a->field, b->field);                                  \
        return c ? c : cmp_i(a->idx, b->idx);                                  \
    }
TOPK_CMP(topk_f_largest, v, cmp_f, -)
TOPK_CMP(topk_f_smallest, v, cmp_f, +)
TOPK_CMP(topk_i_largest, iv, cmp_i, -)
TOPK_CMP(topk_i_smallest, iv, cmp_i, +)
TOPK_CMP(topk_u_largest, iv, cmp_u, -)
TOPK_CMP(topk_u_smallest, iv, cmp_u, +)

static spd_status op_topk(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0];
    if (!x) return spd_errorf(SPD_ERR_INVALID, "missing input X");
    if (!is_numeric(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported",
                          spd_dtype_name(x->dtype));
    if (x->ndim == 0) return spd_errorf(SPD_ERR_INVALID, "input must have rank >= 1");
    int64_t k;
    if (ctx->opset >= 10) {
        const spd_tensor *kt = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
        if (!kt) return spd_errorf(SPD_ERR_INVALID, "missing input K");
        if (spd_tensor_numel(kt) != 1 || !spd_dtype_is_int(kt->dtype))
            return spd_errorf(SPD_ERR_INVALID, "K must hold one integer");
        k = spd_tensor_get_i64(kt, 0);
    } else {
        if (!spd_node_attr(ctx->node, "k")) return spd_errorf(SPD_ERR_INVALID, "missing attribute k");
        k = spd_attr_int(ctx->node, "k", 0);
    }
    int axis = 0;
    SPD_TRY(norm_axis(spd_attr_int(ctx->node, "axis", -1), x->ndim, "axis", &axis));
    bool largest = ctx->opset < 11 || spd_attr_int(ctx->node, "largest", 1) != 0;
    /* sorted=0 leaves the order unspecified; sorted output is one valid order. */
    int64_t n = x->dims[axis];
    if (k < 0 || k > n)
        return spd_errorf(SPD_ERR_INVALID, "k = %lld is out of range for an axis of %lld",
                          (long long)k, (long long)n);

    int64_t odims[SPD_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) odims[d] = d == axis ? k : x->dims[d];
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, x->ndim, odims));
    if (ctx->n_outputs > 1) SPD_TRY(spd_tensor_alloc(&ctx->out[1], SPD_INT64, x->ndim, odims));
    int64_t outer = spd_dims_prod(x->dims, 0, axis), inner = spd_dims_prod(x->dims, axis + 1, x->ndim);
    if (outer * inner * k == 0) return SPD_OK;

    bool exact = spd_dtype_is_int(x->dtype);
    int (*cmp)(const void *, const void *);
    if (!exact) cmp = largest ? topk_f_largest : topk_f_smallest;
    else if (x->dtype == SPD_UINT64) cmp = largest ? topk_u_largest : topk_u_smallest;
    else cmp = largest ? topk_i_largest : topk_i_smallest;

    topk_item *items = spd_malloc((size_t)n * sizeof *items);
    if (!items) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_tensor *vals = &ctx->out[0];
    int64_t *idx = ctx->n_outputs > 1 ? ctx->out[1].data : NULL;
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t b = 0; b < inner; b++) {
            int64_t base = a * n * inner + b;
            for (int64_t j = 0; j < n; j++) {
                items[j].idx = j;
                if (exact) items[j].iv = spd_tensor_get_i64(x, base + j * inner);
                else items[j].v = ld(x, base + j * inner);
            }
            qsort(items, (size_t)n, sizeof *items, cmp);
            int64_t obase = a * k * inner + b;
            for (int64_t j = 0; j < k; j++) {
                int64_t o = obase + j * inner;
                /* Copy the element's bytes so that every dtype round-trips. */
                size_t es = spd_dtype_size(x->dtype);
                memcpy((char *)vals->data + (size_t)o * es,
                       (const char *)x->data + (size_t)(base + items[j].idx * inner) * es, es);
                if (idx) idx[o] = items[j].idx;
            }
        }
    }
    spd_free(items);
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* CumSum                                                                   */

static spd_status op_cumsum(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0];
    const spd_tensor *at = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
    if (!x || !at) return spd_errorf(SPD_ERR_INVALID, "CumSum needs inputs x and axis");
    if (!is_numeric(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported",
                          spd_dtype_name(x->dtype));
    if (spd_tensor_numel(at) != 1 || (at->dtype != SPD_INT32 && at->dtype != SPD_INT64))
        return spd_errorf(SPD_ERR_INVALID, "axis must be one int32 or int64 value");
    if (x->ndim == 0) return spd_errorf(SPD_ERR_INVALID, "input must have rank >= 1");
    int axis = 0;
    SPD_TRY(norm_axis(spd_tensor_get_i64(at, 0), x->ndim, "axis", &axis));
    bool exclusive = spd_attr_int(ctx->node, "exclusive", 0) != 0;
    bool reverse = spd_attr_int(ctx->node, "reverse", 0) != 0;

    spd_tensor *y = &ctx->out[0];
    SPD_TRY(spd_tensor_alloc(y, x->dtype, x->ndim, x->dims));
    int64_t outer = spd_dims_prod(x->dims, 0, axis), n = x->dims[axis];
    int64_t inner = spd_dims_prod(x->dims, axis + 1, x->ndim);
    bool exact = spd_dtype_is_int(x->dtype);
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t b = 0; b < inner; b++) {
            int64_t base = a * n * inner + b;
            double acc = 0.0;
            uint64_t iacc = 0; /* wraps like the integer type */
            for (int64_t j = 0; j < n; j++) {
                int64_t e = base + (reverse ? n - 1 - j : j) * inner;
                if (exact) {
                    uint64_t v = (uint64_t)spd_tensor_get_i64(x, e);
                    if (!exclusive) iacc += v;
                    st_int(y, e, (int64_t)iacc);
                    if (exclusive) iacc += v;
                } else {
                    double v = ld(x, e);
                    if (!exclusive) acc += v;
                    st(y, e, acc);
                    if (exclusive) acc += v;
                }
            }
        }
    }
    return SPD_OK;
}

const spd_op_def spd_ops_reduce[] = {
    {"ReduceSum", "", 1, 21, op_reduce_sum},
    {"ReduceMean", "", 1, 21, op_reduce_mean},
    {"ReduceMax", "", 1, 21, op_reduce_max},
    {"ReduceMin", "", 1, 21, op_reduce_min},
    {"ReduceProd", "", 1, 21, op_reduce_prod},
    {"ReduceL1", "", 1, 21, op_reduce_l1},
    {"ReduceL2", "", 1, 21, op_reduce_l2},
    {"ReduceLogSum", "", 1, 21, op_reduce_log_sum},
    {"ReduceLogSumExp", "", 1, 21, op_reduce_log_sum_exp},
    {"ReduceSumSquare", "", 1, 21, op_reduce_sum_square},
    {"ArgMax", "", 1, 21, op_argmax},
    {"ArgMin", "", 1, 21, op_argmin},
    {"TopK", "", 1, 21, op_topk},
    {"CumSum", "", 11, 21, op_cumsum},
};
const int spd_ops_reduce_count = (int)(sizeof spd_ops_reduce / sizeof spd_ops_reduce[0]);
