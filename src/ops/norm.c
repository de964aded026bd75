/* Normalizations: BatchNormalization, InstanceNormalization,
 * LayerNormalization, GroupNormalization, LpNormalization, LRN and
 * MeanVarianceNormalization.
 *
 * Data is processed as float32 (float16, bfloat16 and double are converted on
 * the way in and out); means and variances are accumulated in double so that
 * long rows (a ViT's hidden size, a large spatial plane) do not lose
 * precision. Variances are the population variance, as ONNX specifies. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "ir/op.h"
#include "ops/ops_util.h"
#include "util/alloc.h"
#include "util/status.h"
#include "util/threadpool.h"

/* ---- float32 views ------------------------------------------------------------ */

static bool norm_dtype_ok(spd_dtype t)
{
    return t == SPD_FLOAT || t == SPD_FLOAT16 || t == SPD_BFLOAT16 || t == SPD_DOUBLE;
}

/* *out points at t's data when it is float32, else at a converted copy that
 * the caller frees with spd_free(*owned). */
static spd_status as_f32(const spd_tensor *t, const float **out, float **owned)
{
    *owned = NULL;
    if (!norm_dtype_ok(t->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "type %s is not supported", spd_dtype_name(t->dtype));
    if (t->dtype == SPD_FLOAT) {
        *out = (const float *)t->data;
        return SPD_OK;
    }
    const int64_t n = spd_tensor_numel(t);
    float *buf = spd_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!buf) return spd_errorf(SPD_ERR_NOMEM, "out of memory converting %lld values to float32", (long long)n);
    if (t->dtype == SPD_FLOAT16)
        for (int64_t i = 0; i < n; i++) buf[i] = spd_f16_to_f32(((const uint16_t *)t->data)[i]);
    else if (t->dtype == SPD_BFLOAT16)
        for (int64_t i = 0; i < n; i++) buf[i] = spd_bf16_to_f32(((const uint16_t *)t->data)[i]);
    else
        for (int64_t i = 0; i < n; i++) buf[i] = (float)((const double *)t->data)[i];
    *out = buf;
    *owned = buf;
    return SPD_OK;
}

/* A float32 buffer to compute output t (already allocated) into: t's own
 * data when float32, else a scratch copy that finish_out() stores back. */
static spd_status out_f32(spd_tensor *t, float **out)
{
    if (t->dtype == SPD_FLOAT) {
        *out = (float *)t->data;
        return SPD_OK;
    }
    const int64_t n = spd_tensor_numel(t);
    *out = spd_calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    return *out ? SPD_OK : spd_errorf(SPD_ERR_NOMEM, "out of memory for a float32 output buffer");
}

static void finish_out(spd_tensor *t, float *buf)
{
    if (!buf || t->dtype == SPD_FLOAT) return;
    const int64_t n = spd_tensor_numel(t);
    if (t->dtype == SPD_FLOAT16)
        for (int64_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = spd_f32_to_f16(buf[i]);
    else if (t->dtype == SPD_BFLOAT16)
        for (int64_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = spd_f32_to_bf16(buf[i]);
    else if (t->dtype == SPD_DOUBLE)
        for (int64_t i = 0; i < n; i++) ((double *)t->data)[i] = buf[i];
    spd_free(buf);
}

/* Up to 6 converted inputs and 3 outputs, released together. */
typedef struct views {
    const float *in[6];
    float *owned[6];
    float *out[3];
    spd_tensor *outt[3];
} views;

static void views_release(views *v, bool store)
{
    for (int i = 0; i < 6; i++) spd_free(v->owned[i]);
    for (int i = 0; i < 3; i++) {
        if (!v->outt[i]) continue;
        if (store) finish_out(v->outt[i], v->out[i]);
        else if (v->outt[i]->dtype != SPD_FLOAT) spd_free(v->out[i]);
    }
}

static spd_status view_in(views *v, int k, const spd_tensor *t)
{
    if (!t) {
        v->in[k] = NULL;
        return SPD_OK;
    }
    return as_f32(t, &v->in[k], &v->owned[k]);
}

static spd_status view_out(views *v, int k, spd_tensor *t)
{
    SPD_TRY(out_f32(t, &v->out[k]));
    v->outt[k] = t;
    return SPD_OK;
}

static const spd_tensor *input(const spd_op_ctx *ctx, int k)
{
    return k < ctx->n_inputs ? ctx->in[k] : NULL;
}

/* mean and 1/sqrt(var + eps) of n values */
static void moments(const float *x, int64_t n, int64_t stride, double eps, double *mean, double *inv_std,
                    double *var_out)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i * stride];
    const double m = n ? s / (double)n : 0.0;
    double q = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = x[i * stride] - m;
        q += d * d;
    }
    const double var = n ? q / (double)n : 0.0;
    *mean = m;
    *inv_std = 1.0 / sqrt(var + eps);
    if (var_out) *var_out = var;
}

static spd_status need_nc(const spd_tensor *X, int min_rank)
{
    if (X->ndim < min_rank)
        return spd_errorf(SPD_ERR_INVALID, "X has %d dims; expected at least %d (N x C ...)", X->ndim, min_rank);
    return SPD_OK;
}

static spd_status need_count(const spd_tensor *t, const char *name, int64_t want, int64_t alt)
{
    if (!t) return spd_errorf(SPD_ERR_INVALID, "input %s is missing", name);
    const int64_t n = spd_tensor_numel(t);
    if (n != want && n != alt)
        return spd_errorf(SPD_ERR_INVALID, "%s has %lld values, expected %lld", name, (long long)n, (long long)want);
    return SPD_OK;
}

/* ---- BatchNormalization --------------------------------------------------------- */

static spd_status batchnorm_train(spd_op_ctx *ctx, views *v, int64_t N, int64_t C, int64_t inner, double eps)
{
    const float momentum = spd_attr_float(ctx->node, "momentum", 0.9f);
    const float *x = v->in[0], *scale = v->in[1], *bias = v->in[2], *rmean = v->in[3], *rvar = v->in[4];
    float *y = v->out[0];
    for (int k = 1; k < 3; k++) {
        if (!spd_op_out_named(ctx, k)) continue;
        const spd_tensor *like = ctx->in[2 + k];
        SPD_TRY(spd_tensor_alloc(&ctx->out[k], like->dtype, 1, &C));
        SPD_TRY(view_out(v, k, &ctx->out[k]));
    }
    for (int64_t c = 0; c < C; c++) {
        double s = 0.0, q = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *xc = x + (n * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) s += xc[i];
        }
        const double cnt = (double)(N * inner), m = cnt > 0 ? s / cnt : 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *xc = x + (n * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) q += (xc[i] - m) * (xc[i] - m);
        }
        const double var = cnt > 0 ? q / cnt : 0.0;
        const float a = (float)(scale[c] / sqrt(var + eps)), b = (float)(bias[c] - m * a);
        for (int64_t n = 0; n < N; n++) {
            const float *xc = x + (n * C + c) * inner;
            float *yc = y + (n * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) yc[i] = xc[i] * a + b;
        }
        if (v->out[1]) v->out[1][c] = (float)(rmean[c] * momentum + m * (1.0 - momentum));
        if (v->out[2]) v->out[2][c] = (float)(rvar[c] * momentum + var * (1.0 - momentum));
    }
    return SPD_OK;
}

static spd_status op_batchnorm(spd_op_ctx *ctx)
{
    const spd_tensor *X = input(ctx, 0);
    if (!X) return spd_errorf(SPD_ERR_INVALID, "needs input X");
    if (!norm_dtype_ok(X->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(X->dtype));
    SPD_TRY(need_nc(X, 2));
    const int64_t N = X->dims[0], C = X->dims[1], inner = spd_dims_prod(X->dims, 2, X->ndim);
    const double eps = spd_attr_float(ctx->node, "epsilon", 1e-5f);
    const bool training = ctx->opset >= 14 && spd_attr_int(ctx->node, "training_mode", 0) != 0;
    /* opsets 1-8: spatial=0 gives every (channel, position) its own statistics */
    const bool per_element = ctx->opset < 9 && spd_attr_int(ctx->node, "spatial", 1) == 0;
    const int64_t pc = per_element ? C * inner : C;
    static const char *const names[] = {"X", "scale", "B", "mean", "var"};
    for (int k = 1; k < 5; k++) SPD_TRY(need_count(input(ctx, k), names[k], pc, pc));
    if (!training)
        for (int k = 1; k < ctx->n_outputs; k++)
            if (spd_op_out_named(ctx, k))
                return spd_errorf(SPD_ERR_UNSUPPORTED, "training outputs (mean, var, saved statistics) are "
                                                       "only supported with training_mode=1 at opset 14+");

    SPD_TRY(spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, X->dims));
    views v;
    memset(&v, 0, sizeof v);
    spd_status st = SPD_OK;
    for (int k = 0; k < 5 && st == SPD_OK; k++) st = view_in(&v, k, input(ctx, k));
    if (st == SPD_OK) st = view_out(&v, 0, &ctx->out[0]);
    if (st == SPD_OK && training) {
        st = batchnorm_train(ctx, &v, N, C, inner, eps);
    } else if (st == SPD_OK) {
        const float *x = v.in[0], *scale = v.in[1], *bias = v.in[2], *mean = v.in[3], *var = v.in[4];
        float *y = v.out[0];
        for (int64_t n = 0; n < N; n++) {
            for (int64_t c = 0; c < C; c++) {
                const float *xc = x + (n * C + c) * inner;
                float *yc = y + (n * C + c) * inner;
                if (per_element) {
                    for (int64_t i = 0; i < inner; i++) {
                        const int64_t p = c * inner + i;
                        yc[i] = (float)(scale[p] * ((double)xc[i] - mean[p]) / sqrt((double)var[p] + eps) + bias[p]);
                    }
                } else {
                    /* folded into one multiply-add per element */
                    const double a = scale[c] / sqrt((double)var[c] + eps);
                    const float fa = (float)a, fb = (float)(bias[c] - mean[c] * a);
                    for (int64_t i = 0; i < inner; i++) yc[i] = xc[i] * fa + fb;
                }
            }
        }
    }
    views_release(&v, st == SPD_OK);
    return st;
}

/* ---- InstanceNormalization ---------------------------------------------------------- */

static spd_status op_instancenorm(spd_op_ctx *ctx)
{
    const spd_tensor *X = input(ctx, 0);
    if (!X) return spd_errorf(SPD_ERR_INVALID, "needs input X");
    SPD_TRY(need_nc(X, 3));
    const int64_t N = X->dims[0], C = X->dims[1], inner = spd_dims_prod(X->dims, 2, X->ndim);
    SPD_TRY(need_count(input(ctx, 1), "scale", C, C));
    SPD_TRY(need_count(input(ctx, 2), "B", C, C));
    const double eps = spd_attr_float(ctx->node, "epsilon", 1e-5f);
    views v;
    memset(&v, 0, sizeof v);
    spd_status st = SPD_OK;
    for (int k = 0; k < 3 && st == SPD_OK; k++) st = view_in(&v, k, input(ctx, k));
    if (st == SPD_OK) st = spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, X->dims);
    if (st == SPD_OK) st = view_out(&v, 0, &ctx->out[0]);
    if (st == SPD_OK) {
        for (int64_t n = 0; n < N; n++) {
            for (int64_t c = 0; c < C; c++) {
                const float *xc = v.in[0] + (n * C + c) * inner;
                float *yc = v.out[0] + (n * C + c) * inner;
                double m, is;
                moments(xc, inner, 1, eps, &m, &is, NULL);
                const float a = (float)(v.in[1][c] * is), b = (float)(v.in[2][c] - m * v.in[1][c] * is);
                for (int64_t i = 0; i < inner; i++) yc[i] = xc[i] * a + b;
            }
        }
    }
    views_release(&v, st == SPD_OK);
    return st;
}

/* ---- LayerNormalization --------------------------------------------------------------- */

/* t broadcast (numpy rules, right-aligned) onto the `nd` dims `dims`, as
 * a dense float array of prod(dims) values: t's own values when it has
 * them all already (the usual Scale and B), else a copy in *owned. */
static spd_status expand_to(const spd_tensor *t, const float *vals, int nd, const int64_t *dims, const char *name,
                            const float **out, float **owned)
{
    if (t->ndim > nd)
        return spd_errorf(SPD_ERR_INVALID, "%s has %d dims, more than the %d normalized ones", name, t->ndim, nd);
    for (int i = 0; i < t->ndim; i++) {
        const int64_t td = t->dims[i], xd = dims[nd - t->ndim + i];
        if (td != 1 && td != xd)
            return spd_errorf(SPD_ERR_INVALID, "%s does not broadcast to the normalized shape", name);
    }
    const int64_t n = spd_dims_prod(dims, 0, nd);
    if (spd_tensor_numel(t) == n) { /* every dim matches: nothing to broadcast */
        *out = vals;
        return SPD_OK;
    }
    int64_t strides[SPD_MAX_DIMS];
    spd_broadcast_strides(t, nd, dims, strides);
    float *e = spd_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!e) return spd_errorf(SPD_ERR_NOMEM, "out of memory expanding %s", name);
    int64_t pos[SPD_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int a = 0; a < nd; a++) off += pos[a] * strides[a];
        e[i] = vals[off];
        for (int a = nd - 1; a >= 0; a--) {
            if (++pos[a] < dims[a]) break;
            pos[a] = 0;
        }
    }
    *out = *owned = e;
    return SPD_OK;
}

/* Rows are independent: split over the pool. The sums are in double with
 * four partial accumulators (instruction-level parallelism; double keeps
 * the order change far below float rounding). */
typedef struct ln_job {
    const float *x;
    float *y, *mean_out, *istd_out;
    const float *scale, *bias;
    int64_t rows, cols;
    double eps;
    int64_t rows_per_task;
} ln_job;

static void ln_moments(const float *x, int64_t n, double eps, double *mean, double *inv_std)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    for (; i < n; i++) s0 += x[i];
    const double m = n ? (s0 + s1 + s2 + s3) / (double)n : 0.0;
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    for (i = 0; i + 4 <= n; i += 4) {
        const double d0 = x[i] - m, d1 = x[i + 1] - m, d2 = x[i + 2] - m, d3 = x[i + 3] - m;
        q0 += d0 * d0;
        q1 += d1 * d1;
        q2 += d2 * d2;
        q3 += d3 * d3;
    }
    for (; i < n; i++) q0 += (x[i] - m) * (x[i] - m);
    const double var = n ? (q0 + q1 + q2 + q3) / (double)n : 0.0;
    *mean = m;
    *inv_std = 1.0 / sqrt(var + eps);
}

static void ln_task(void *ctx, int64_t t)
{
    const ln_job *j = ctx;
    const int64_t r0 = t * j->rows_per_task, r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    const int64_t cols = j->cols;
    const float *scale = j->scale, *bias = j->bias;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = j->x + r * cols;
        float *yr = j->y + r * cols;
        double m, is;
        ln_moments(xr, cols, j->eps, &m, &is);
        const float fm = (float)m, fis = (float)is;
        if (bias)
            for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - fm) * fis * scale[c] + bias[c];
        else
            for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - fm) * fis * scale[c];
        if (j->mean_out) j->mean_out[r] = fm;
        if (j->istd_out) j->istd_out[r] = fis;
    }
}

static spd_status op_layernorm(spd_op_ctx *ctx)
{
    const spd_tensor *X = input(ctx, 0), *S = input(ctx, 1), *B = input(ctx, 2);
    if (!X || !S) return spd_errorf(SPD_ERR_INVALID, "needs inputs X and Scale");
    if (X->ndim < 1) return spd_errorf(SPD_ERR_INVALID, "X must have at least one dim");
    int64_t axis = spd_attr_int(ctx->node, "axis", -1);
    if (axis < -X->ndim || axis >= X->ndim)
        return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for a %d-D input", (long long)axis, X->ndim);
    if (axis < 0) axis += X->ndim;
    const double eps = spd_attr_float(ctx->node, "epsilon", 1e-5f);
    const int64_t stash = spd_attr_int(ctx->node, "stash_type", 1);
    const spd_dtype stat_type = stash == 11 ? SPD_DOUBLE : SPD_FLOAT;
    const int ax = (int)axis, nin = X->ndim - ax;
    const int64_t rows = spd_dims_prod(X->dims, 0, ax), cols = spd_dims_prod(X->dims, ax, X->ndim);

    views v;
    memset(&v, 0, sizeof v);
    const float *scale = NULL, *bias = NULL;
    float *scale_own = NULL, *bias_own = NULL;
    spd_status st = SPD_OK;
    for (int k = 0; k < 3 && st == SPD_OK; k++) st = view_in(&v, k, input(ctx, k));
    if (st == SPD_OK) st = expand_to(S, v.in[1], nin, X->dims + ax, "Scale", &scale, &scale_own);
    if (st == SPD_OK && B) st = expand_to(B, v.in[2], nin, X->dims + ax, "B", &bias, &bias_own);
    if (st == SPD_OK) st = spd_tensor_alloc_uninit(&ctx->out[0], X->dtype, X->ndim, X->dims); /* every row written */
    if (st == SPD_OK) st = view_out(&v, 0, &ctx->out[0]);
    int64_t sdims[SPD_MAX_DIMS];
    for (int i = 0; i < X->ndim; i++) sdims[i] = i < ax ? X->dims[i] : 1;
    for (int k = 1; k < 3 && st == SPD_OK; k++) {
        if (!spd_op_out_named(ctx, k)) continue;
        st = spd_tensor_alloc(&ctx->out[k], stat_type, X->ndim, sdims);
        if (st == SPD_OK) st = view_out(&v, k, &ctx->out[k]);
    }
    if (st == SPD_OK) {
        ln_job j = {v.in[0], v.out[0], v.out[1], v.out[2], scale, bias, rows, cols, eps, 1};
        j.rows_per_task = cols >= 4096 ? 1 : 4096 / (cols > 0 ? cols : 1);
        spd_parallel_for((rows + j.rows_per_task - 1) / j.rows_per_task, ln_task, &j);
    }
    spd_free(scale_own);
    spd_free(bias_own);
    views_release(&v, st == SPD_OK);
    return st;
}

/* ---- GroupNormalization ------------------------------------------------------------------ */

static spd_status op_groupnorm(spd_op_ctx *ctx)
{
    const spd_tensor *X = input(ctx, 0), *S = input(ctx, 1), *B = input(ctx, 2);
    if (!X || !S || !B) return spd_errorf(SPD_ERR_INVALID, "needs inputs X, scale and bias");
    SPD_TRY(need_nc(X, 2));
    const int64_t N = X->dims[0], C = X->dims[1], inner = spd_dims_prod(X->dims, 2, X->ndim);
    const int64_t G = spd_attr_int(ctx->node, "num_groups", 0);
    if (G < 1 || C % G)
        return spd_errorf(SPD_ERR_INVALID, "num_groups = %lld does not divide the %lld channels", (long long)G,
                          (long long)C);
    const double eps = spd_attr_float(ctx->node, "epsilon", 1e-5f);
    /* opset 18 has one scale and bias per group, opset 21 one per channel */
    const int64_t want = ctx->opset >= 21 ? C : G;
    SPD_TRY(need_count(S, "scale", want, want));
    SPD_TRY(need_count(B, "bias", want, want));
    const int64_t Cg = C / G;
    views v;
    memset(&v, 0, sizeof v);
    spd_status st = SPD_OK;
    for (int k = 0; k < 3 && st == SPD_OK; k++) st = view_in(&v, k, input(ctx, k));
    if (st == SPD_OK) st = spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, X->dims);
    if (st == SPD_OK) st = view_out(&v, 0, &ctx->out[0]);
    if (st == SPD_OK) {
        for (int64_t n = 0; n < N; n++) {
            for (int64_t g = 0; g < G; g++) {
                const int64_t base = (n * C + g * Cg) * inner;
                double m, is;
                moments(v.in[0] + base, Cg * inner, 1, eps, &m, &is, NULL);
                for (int64_t c = 0; c < Cg; c++) {
                    const int64_t p = want == C ? g * Cg + c : g;
                    const float a = (float)(v.in[1][p] * is), b = (float)(v.in[2][p] - m * v.in[1][p] * is);
                    const float *xc = v.in[0] + base + c * inner;
                    float *yc = v.out[0] + base + c * inner;
                    for (int64_t i = 0; i < inner; i++) yc[i] = xc[i] * a + b;
                }
            }
        }
    }
    views_release(&v, st == SPD_OK);
    return st;
}

/* ---- LpNormalization ------------------------------------------------------------------------ */

static spd_status op_lpnorm(spd_op_ctx *ctx)
{
    const spd_tensor *X = input(ctx, 0);
    if (!X) return spd_errorf(SPD_ERR_INVALID, "needs input X");
    if (X->ndim < 1) return spd_errorf(SPD_ERR_INVALID, "X must have at least one dim");
    int64_t axis = spd_attr_int(ctx->node, "axis", -1);
    if (axis < -X->ndim || axis >= X->ndim)
        return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for a %d-D input", (long long)axis, X->ndim);
    if (axis < 0) axis += X->ndim;
    const int64_t p = spd_attr_int(ctx->node, "p", 2);
    if (p != 1 && p != 2) return spd_errorf(SPD_ERR_INVALID, "p = %lld; only 1 and 2 are defined", (long long)p);
    const int64_t outer = spd_dims_prod(X->dims, 0, (int)axis), len = X->dims[axis];
    const int64_t inner = spd_dims_prod(X->dims, (int)axis + 1, X->ndim);
    views v;
    memset(&v, 0, sizeof v);
    spd_status st = view_in(&v, 0, X);
    if (st == SPD_OK) st = spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, X->dims);
    if (st == SPD_OK) st = view_out(&v, 0, &ctx->out[0]);
    if (st == SPD_OK) {
        for (int64_t o = 0; o < outer; o++) {
            for (int64_t i = 0; i < inner; i++) {
                const float *x = v.in[0] + o * len * inner + i;
                float *y = v.out[0] + o * len * inner + i;
                double s = 0.0;
                for (int64_t j = 0; j < len; j++) s += p == 1 ? fabs(x[j * inner]) : (double)x[j * inner] * x[j * inner];
                const double norm = p == 1 ? s : sqrt(s);
                /* a zero vector stays zero rather than becoming NaN */
                const double r = norm > 0 ? 1.0 / norm : 0.0;
                for (int64_t j = 0; j < len; j++) y[j * inner] = (float)(x[j * inner] * r);
            }
        }
    }
    views_release(&v, st == SPD_OK);
    return st;
}

/* ---- LRN ------------------------------------------------------------------------------------------ */

static spd_status op_lrn(spd_op_ctx *ctx)
{
    const spd_tensor *X = input(ctx, 0);
    if (!X) return spd_errorf(SPD_ERR_INVALID, "needs input X");
    SPD_TRY(need_nc(X, 3));
    const int64_t size = spd_attr_int(ctx->node, "size", 0);
    if (size < 1) return spd_errorf(SPD_ERR_INVALID, "size must be a positive attribute");
    const double alpha = spd_attr_float(ctx->node, "alpha", 1e-4f), beta = spd_attr_float(ctx->node, "beta", 0.75f);
    const double bias = spd_attr_float(ctx->node, "bias", 1.0f);
    const int64_t N = X->dims[0], C = X->dims[1], inner = spd_dims_prod(X->dims, 2, X->ndim);
    const int64_t before = (size - 1) / 2, after = size - 1 - before; /* floor and ceil of (size-1)/2 */
    views v;
    memset(&v, 0, sizeof v);
    spd_status st = view_in(&v, 0, X);
    if (st == SPD_OK) st = spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, X->dims);
    if (st == SPD_OK) st = view_out(&v, 0, &ctx->out[0]);
    if (st == SPD_OK) {
        for (int64_t n = 0; n < N; n++) {
            for (int64_t c = 0; c < C; c++) {
                const int64_t lo = c - before < 0 ? 0 : c - before, hi = c + after >= C ? C - 1 : c + after;
                const float *xc = v.in[0] + (n * C + c) * inner;
                float *yc = v.out[0] + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) {
                    double sq = 0.0;
                    for (int64_t j = lo; j <= hi; j++) {
                        const double t = v.in[0][(n * C + j) * inner + i];
                        sq += t * t;
                    }
                    yc[i] = (float)(xc[i] / pow(bias + alpha / (double)size * sq, beta));
                }
            }
        }
    }
    views_release(&v, st == SPD_OK);
    return st;
}

/* ---- MeanVarianceNormalization ----------------------------------------------------------------- */

/* y = (x - mean) / (sqrt(var) + 1e-9) over `axes` (default N, H, W), as the
 * operator's function body defines it. */
static spd_status op_mvn(spd_op_ctx *ctx)
{
    const spd_tensor *X = input(ctx, 0);
    if (!X) return spd_errorf(SPD_ERR_INVALID, "needs input X");
    static const int64_t dflt[] = {0, 2, 3};
    size_t na = 0;
    const int64_t *axes = spd_attr_ints(ctx->node, "axes", &na);
    if (!axes) {
        axes = dflt;
        na = 3;
    }
    bool red[SPD_MAX_DIMS] = {false};
    for (size_t i = 0; i < na; i++) {
        int64_t a = axes[i];
        if (a < -X->ndim || a >= X->ndim)
            return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for a %d-D input", (long long)a, X->ndim);
        red[a < 0 ? a + X->ndim : a] = true;
    }
    /* groups: one per position in the kept axes */
    int64_t groups = 1;
    for (int a = 0; a < X->ndim; a++)
        if (!red[a]) groups *= X->dims[a];
    const int64_t n = spd_tensor_numel(X), per = groups ? n / groups : 0;
    views v;
    memset(&v, 0, sizeof v);
    double *acc = spd_calloc((size_t)(groups > 0 ? groups : 1) * 2, sizeof(double));
    int64_t *gid = spd_malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    spd_status st = acc && gid ? SPD_OK : spd_errorf(SPD_ERR_NOMEM, "out of memory for MVN statistics");
    if (st == SPD_OK) st = view_in(&v, 0, X);
    if (st == SPD_OK) st = spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, X->dims);
    if (st == SPD_OK) st = view_out(&v, 0, &ctx->out[0]);
    if (st == SPD_OK) {
        int64_t pos[SPD_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            int64_t g = 0;
            for (int a = 0; a < X->ndim; a++)
                if (!red[a]) g = g * X->dims[a] + pos[a];
            gid[i] = g;
            acc[2 * g] += v.in[0][i];
            for (int a = X->ndim - 1; a >= 0; a--) {
                if (++pos[a] < X->dims[a]) break;
                pos[a] = 0;
            }
        }
        for (int64_t g = 0; g < groups; g++) acc[2 * g] /= (double)(per ? per : 1);
        for (int64_t i = 0; i < n; i++) {
            const double d = v.in[0][i] - acc[2 * gid[i]];
            acc[2 * gid[i] + 1] += d * d;
        }
        for (int64_t g = 0; g < groups; g++) acc[2 * g + 1] = sqrt(acc[2 * g + 1] / (double)(per ? per : 1)) + 1e-9;
        for (int64_t i = 0; i < n; i++)
            v.out[0][i] = (float)((v.in[0][i] - acc[2 * gid[i]]) / acc[2 * gid[i] + 1]);
    }
    spd_free(acc);
    spd_free(gid);
    views_release(&v, st == SPD_OK);
    return st;
}

const spd_op_def spd_ops_norm[] = {
    {"BatchNormalization", "", 1, 21, op_batchnorm},
    {"InstanceNormalization", "", 1, 21, op_instancenorm},
    {"LayerNormalization", "", 17, 21, op_layernorm},
    {"GroupNormalization", "", 18, 21, op_groupnorm},
    {"LpNormalization", "", 1, 21, op_lpnorm},
    {"LRN", "", 1, 21, op_lrn},
    {"MeanVarianceNormalization", "", 1, 21, op_mvn},
};
const int spd_ops_norm_count = (int)(sizeof spd_ops_norm / sizeof spd_ops_norm[0]);
