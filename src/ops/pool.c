/* Pooling: MaxPool (with Indices), AveragePool, LpPool, their Global forms,
 * MaxUnpool and MaxRoiPool, over 1-D to N-D spatial inputs.
 *
 * Values are converted to double for the computation and back on store: that
 * is exact for every supported input type (float16, bfloat16, float, double,
 * int8, uint8), keeps one code path, and costs little next to the window
 * walks, which are the same for all pooling kinds. The exception is the
 * hot case of CNNs, float32 1-D/2-D MaxPool/AveragePool without indices and
 * the float32 global poolings: ops/pool_fast.c's vectorised plane walks (same
 * results, averages summed in double), planes split over the pool. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "ir/op.h"
#include "ops/pool_fast.h"
#include "util/alloc.h"
#include "util/status.h"
#include "util/threadpool.h"

typedef struct pgeom {
    int nd;
    int64_t in[SPD_MAX_DIMS], out[SPD_MAX_DIMS];
    int64_t k[SPD_MAX_DIMS], s[SPD_MAX_DIMS], d[SPD_MAX_DIMS];
    int64_t pb[SPD_MAX_DIMS], pe[SPD_MAX_DIMS];
    int64_t in_n, out_n, k_n, nc; /* spatial sizes, kernel taps, N*C */
} pgeom;

/* ---- dtype handling -------------------------------------------------------- */

static bool pool_dtype_ok(spd_dtype t, bool ints_too)
{
    if (t == SPD_FLOAT || t == SPD_DOUBLE || t == SPD_FLOAT16 || t == SPD_BFLOAT16) return true;
    return ints_too && (t == SPD_INT8 || t == SPD_UINT8);
}

/* A double copy of t's values (to spd_free). */
static spd_status load_f64(const spd_tensor *t, double **out)
{
    int64_t n = spd_tensor_numel(t);
    double *b = spd_malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!b) return spd_errorf(SPD_ERR_NOMEM, "out of memory for %lld values", (long long)n);
    switch (t->dtype) {
    case SPD_FLOAT:
        for (int64_t i = 0; i < n; i++) b[i] = ((const float *)t->data)[i];
        break;
    case SPD_DOUBLE:
        memcpy(b, t->data, (size_t)n * sizeof(double));
        break;
    case SPD_INT8:
        for (int64_t i = 0; i < n; i++) b[i] = ((const int8_t *)t->data)[i];
        break;
    case SPD_UINT8:
        for (int64_t i = 0; i < n; i++) b[i] = ((const uint8_t *)t->data)[i];
        break;
    default:
        for (int64_t i = 0; i < n; i++) b[i] = spd_tensor_get(t, i);
        break;
    }
    *out = b;
    return SPD_OK;
}

/* Stores n doubles into t (allocated); integers saturate after rounding. */
static void store_f64(spd_tensor *t, const double *v, int64_t n)
{
    switch (t->dtype) {
    case SPD_FLOAT:
        for (int64_t i = 0; i < n; i++) ((float *)t->data)[i] = (float)v[i];
        break;
    case SPD_DOUBLE:
        memcpy(t->data, v, (size_t)n * sizeof(double));
        break;
    case SPD_INT8:
    case SPD_UINT8: {
        const double lo = t->dtype == SPD_INT8 ? -128.0 : 0.0, hi = t->dtype == SPD_INT8 ? 127.0 : 255.0;
        for (int64_t i = 0; i < n; i++) {
            double r = nearbyint(v[i]);
            r = r < lo ? lo : r > hi ? hi : r;
            if (t->dtype == SPD_INT8) ((int8_t *)t->data)[i] = (int8_t)r;
            else ((uint8_t *)t->data)[i] = (uint8_t)r;
        }
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++) spd_tensor_set(t, i, v[i]);
        break;
    }
}

/* ---- attributes and geometry -------------------------------------------------- */

static spd_status ints_attr(const spd_node *node, const char *name, int want, int64_t dflt, int64_t *out,
                            bool *given)
{
    size_t n = 0;
    const int64_t *v = spd_attr_ints(node, name, &n);
    if (given) *given = v && n;
    if (!v || n == 0) {
        for (int i = 0; i < want; i++) out[i] = dflt;
        return SPD_OK;
    }
    if ((int64_t)n != want)
        return spd_errorf(SPD_ERR_INVALID, "%s has %zu values for %d spatial dims", name, n, want);
    memcpy(out, v, (size_t)want * sizeof(int64_t));
    return SPD_OK;
}

static spd_status check_x(const spd_op_ctx *ctx, bool ints_too)
{
    if (ctx->n_inputs < 1 || !ctx->in[0]) return spd_errorf(SPD_ERR_INVALID, "needs input X");
    const spd_tensor *X = ctx->in[0];
    if (!pool_dtype_ok(X->dtype, ints_too))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(X->dtype));
    if (X->ndim < 3)
        return spd_errorf(SPD_ERR_INVALID, "X has %d dims; expected N x C x D1 ... (at least 3)", X->ndim);
    return SPD_OK;
}

/* Reads kernel_shape, strides, pads, dilations, auto_pad and ceil_mode and
 * computes the output grid. `dil_ok` and `ceil_ok` say whether the operator
 * has the dilations and ceil_mode attributes at this opset. */
static spd_status pool_geom(const spd_op_ctx *ctx, bool dil_ok, bool ceil_ok, pgeom *g)
{
    const spd_tensor *X = ctx->in[0];
    const spd_node *node = ctx->node;
    memset(g, 0, sizeof *g);
    g->nd = X->ndim - 2;
    const int nd = g->nd;
    bool have_k;
    int64_t pads[2 * SPD_MAX_DIMS];
    SPD_TRY(ints_attr(node, "kernel_shape", nd, 0, g->k, &have_k));
    if (!have_k) return spd_errorf(SPD_ERR_INVALID, "kernel_shape is required");
    SPD_TRY(ints_attr(node, "strides", nd, 1, g->s, NULL));
    SPD_TRY(ints_attr(node, "pads", 2 * nd, 0, pads, NULL));
    SPD_TRY(ints_attr(node, "dilations", nd, 1, g->d, NULL));
    if (!dil_ok)
        for (int i = 0; i < nd; i++) g->d[i] = 1;
    const int64_t ceil_mode = ceil_ok ? spd_attr_int(node, "ceil_mode", 0) : 0;
    const char *ap = spd_attr_string(node, "auto_pad", "NOTSET");
    const bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    const bool valid = !strcmp(ap, "VALID");
    if (!same && !valid && strcmp(ap, "NOTSET") && *ap)
        return spd_errorf(SPD_ERR_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", ap);

    g->nc = X->dims[0] * X->dims[1];
    g->k_n = 1;
    for (int i = 0; i < nd; i++) {
        const int64_t in = X->dims[2 + i];
        if (g->k[i] < 1) return spd_errorf(SPD_ERR_INVALID, "kernel_shape[%d] = %lld is not positive", i, (long long)g->k[i]);
        if (g->s[i] < 1) return spd_errorf(SPD_ERR_INVALID, "strides[%d] = %lld is not positive", i, (long long)g->s[i]);
        if (g->d[i] < 1) return spd_errorf(SPD_ERR_INVALID, "dilations[%d] = %lld is not positive", i, (long long)g->d[i]);
        if (pads[i] < 0 || pads[nd + i] < 0) return spd_errorf(SPD_ERR_INVALID, "pads on axis %d are negative", i);
        if (in < 1) return spd_errorf(SPD_ERR_INVALID, "X has an empty spatial axis %d", i);
        const int64_t ek = (g->k[i] - 1) * g->d[i] + 1;
        g->in[i] = in;
        if (same) {
            const int64_t out = (in + g->s[i] - 1) / g->s[i];
            int64_t total = (out - 1) * g->s[i] + ek - in;
            if (total < 0) total = 0;
            g->pb[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
            g->out[i] = out;
        } else {
            g->pb[i] = valid ? 0 : pads[i];
            g->pe[i] = valid ? 0 : pads[nd + i];
            const int64_t span = in + g->pb[i] + g->pe[i] - ek;
            if (span < 0)
                return spd_errorf(SPD_ERR_INVALID, "kernel extent %lld on spatial axis %d exceeds the padded input %lld",
                                  (long long)ek, i, (long long)(in + g->pb[i] + g->pe[i]));
            int64_t out = (ceil_mode ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
            /* As PyTorch and later ONNX references: the last window must
             * start inside the input or the begin padding. */
            if (ceil_mode && (out - 1) * g->s[i] >= in + g->pb[i]) out--;
            g->out[i] = out;
        }
        if (g->pb[i] >= ek || g->pe[i] >= ek)
            return spd_errorf(SPD_ERR_INVALID, "padding on spatial axis %d is as large as the kernel", i);
        g->k_n *= g->k[i];
    }
    g->in_n = spd_dims_prod(g->in, 0, nd);
    g->out_n = spd_dims_prod(g->out, 0, nd);
    return SPD_OK;
}

/* uninit: the caller writes every element (zeroing cost squeezenet's
 * MaxPools 1% of the model) */
static spd_status alloc_like_x(spd_tensor *t, spd_dtype dt, const pgeom *g, const spd_tensor *X, bool uninit)
{
    int64_t dims[SPD_MAX_DIMS] = {X->dims[0], X->dims[1]};
    for (int i = 0; i < g->nd; i++) dims[2 + i] = g->out[i];
    return uninit ? spd_tensor_alloc_uninit(t, dt, g->nd + 2, dims) : spd_tensor_alloc(t, dt, g->nd + 2, dims);
}

/* ---- the window walk ------------------------------------------------------------ */

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;

typedef struct pool_opts {
    pool_kind kind;
    bool count_include_pad;
    double p;                 /* LpPool */
    int64_t storage_order;    /* MaxPool indices: 0 row-major, 1 column-major */
    int64_t *indices;         /* MaxPool's optional second output */
} pool_opts;

/* For each (n, c) plane and output position, visits the kernel taps that land
 * inside the input and reduces them. */
static void pool_run(const pgeom *g, const pool_opts *o, const double *x, double *y)
{
    const int nd = g->nd;
    for (int64_t nc = 0; nc < g->nc; nc++) {
        const double *xc = x + nc * g->in_n;
        int64_t op[SPD_MAX_DIMS] = {0};
        for (int64_t oi = 0; oi < g->out_n; oi++) {
            double acc = o->kind == POOL_MAX ? -INFINITY : 0.0;
            int64_t best = -1, count = 0, padded_count = 0;
            int64_t kp[SPD_MAX_DIMS] = {0};
            for (int64_t t = 0; t < g->k_n; t++) {
                int64_t idx = 0;
                bool inside = true, in_pads = true;
                for (int a = 0; a < nd; a++) {
                    const int64_t i = op[a] * g->s[a] - g->pb[a] + kp[a] * g->d[a];
                    if (i < 0 || i >= g->in[a]) inside = false;
                    if (i < -g->pb[a] || i >= g->in[a] + g->pe[a]) in_pads = false;
                    idx = idx * g->in[a] + i;
                }
                if (in_pads) padded_count++;
                if (inside) {
                    const double v = xc[idx];
                    count++;
                    if (o->kind == POOL_MAX) {
                        if (v > acc || best < 0) {
                            acc = v;
                            best = idx;
                        }
                    } else if (o->kind == POOL_AVG) {
                        acc += v;
                    } else {
                        acc += pow(fabs(v), o->p);
                    }
                }
                for (int a = nd - 1; a >= 0; a--) {
                    if (++kp[a] < g->k[a]) break;
                    kp[a] = 0;
                }
            }
            double r;
            if (o->kind == POOL_MAX) r = acc;
            else if (o->kind == POOL_AVG) r = acc / (double)(o->count_include_pad ? padded_count : (count ? count : 1));
            else r = pow(acc, 1.0 / o->p);
            y[nc * g->out_n + oi] = r;
            if (o->indices) {
                int64_t flat = best;
                if (o->storage_order == 1 && best >= 0) {
                    /* the same element, numbered column-major */
                    int64_t rem = best, stride = 1;
                    int64_t coord[SPD_MAX_DIMS];
                    for (int a = nd - 1; a >= 0; a--) {
                        coord[a] = rem % g->in[a];
                        rem /= g->in[a];
                    }
                    flat = 0;
                    for (int a = 0; a < nd; a++) {
                        flat += coord[a] * stride;
                        stride *= g->in[a];
                    }
                }
                o->indices[nc * g->out_n + oi] = best < 0 ? -1 : nc * g->in_n + flat;
            }
            for (int a = nd - 1; a >= 0; a--) {
                if (++op[a] < g->out[a]) break;
                op[a] = 0;
            }
        }
    }
}

/* The float32 fast path (ops/pool_fast.h) when it applies: max/average
 * pooling over 1-D or 2-D planes without Indices, and the global poolings;
 * false otherwise. */
static bool pool_f32(spd_op_ctx *ctx, const pgeom *g, const pool_opts *o, bool global)
{
    const spd_tensor *X = ctx->in[0];
    if (X->dtype != SPD_FLOAT || o->indices || (o->kind != POOL_MAX && o->kind != POOL_AVG)) return false;
    if (global) {
        spd_global_pool_f32(o->kind == POOL_MAX, g->nc, g->in_n, X->data, ctx->out[0].data);
        return true;
    }
    if (g->nd != 1 && g->nd != 2) return false;
    /* a 1-D pool is a 2-D one over planes of height 1 */
    const int a = g->nd == 2 ? 0 : -1, b = g->nd - 1;
    spd_pool2d p = {
        .nc = g->nc,
        .H = a < 0 ? 1 : g->in[a], .W = g->in[b],
        .OH = a < 0 ? 1 : g->out[a], .OW = g->out[b],
        .KH = a < 0 ? 1 : g->k[a], .KW = g->k[b],
        .sy = a < 0 ? 1 : g->s[a], .sx = g->s[b],
        .dy = a < 0 ? 1 : g->d[a], .dx = g->d[b],
        .pt = a < 0 ? 0 : g->pb[a], .pl = g->pb[b],
        .pb = a < 0 ? 0 : g->pe[a], .pr = g->pe[b],
        .max = o->kind == POOL_MAX,
        .count_include_pad = o->count_include_pad,
    };
    spd_pool2d_f32(&p, X->data, ctx->out[0].data);
    return true;
}

static spd_status run_pool_ex(spd_op_ctx *ctx, const pgeom *g, pool_opts *o, bool global)
{
    const spd_tensor *X = ctx->in[0];
    SPD_TRY(alloc_like_x(&ctx->out[0], X->dtype, g, X, true)); /* both paths below store every output */
    if (o->kind == POOL_MAX && ctx->n_outputs > 1) {
        SPD_TRY(alloc_like_x(&ctx->out[1], SPD_INT64, g, X, false));
        o->indices = (int64_t *)ctx->out[1].data;
    }
    if (pool_f32(ctx, g, o, global)) return SPD_OK;
    double *x = NULL, *y = NULL;
    SPD_TRY(load_f64(X, &x));
    const int64_t ny = spd_tensor_numel(&ctx->out[0]);
    y = spd_malloc((size_t)(ny > 0 ? ny : 1) * sizeof(double));
    if (!y) {
        spd_free(x);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for the pooled output");
    }
    pool_run(g, o, x, y);
    store_f64(&ctx->out[0], y, ny);
    spd_free(x);
    spd_free(y);
    return SPD_OK;
}

static spd_status run_pool(spd_op_ctx *ctx, const pgeom *g, pool_opts *o) { return run_pool_ex(ctx, g, o, false); }

static spd_status op_maxpool(spd_op_ctx *ctx)
{
    SPD_TRY(check_x(ctx, ctx->opset >= 12));
    pgeom g;
    SPD_TRY(pool_geom(ctx, ctx->opset >= 10, ctx->opset >= 10, &g));
    pool_opts o = {POOL_MAX, false, 0, spd_attr_int(ctx->node, "storage_order", 0), NULL};
    if (o.storage_order != 0 && o.storage_order != 1)
        return spd_errorf(SPD_ERR_INVALID, "storage_order = %lld is not 0 or 1", (long long)o.storage_order);
    return run_pool(ctx, &g, &o);
}

static spd_status op_averagepool(spd_op_ctx *ctx)
{
    SPD_TRY(check_x(ctx, false));
    pgeom g;
    SPD_TRY(pool_geom(ctx, ctx->opset >= 19, ctx->opset >= 10, &g));
    pool_opts o = {POOL_AVG, ctx->opset >= 7 && spd_attr_int(ctx->node, "count_include_pad", 0) != 0, 0, 0, NULL};
    return run_pool(ctx, &g, &o);
}

/* p: a float attribute at opset 1, an int one later (default 2). */
static double lp_p(const spd_op_ctx *ctx)
{
    const spd_attr *a = spd_node_attr(ctx->node, "p");
    if (!a) return 2.0;
    return a->type == SPD_ATTR_FLOAT ? (double)a->f : (double)a->i;
}

static spd_status op_lppool(spd_op_ctx *ctx)
{
    SPD_TRY(check_x(ctx, false));
    pgeom g;
    SPD_TRY(pool_geom(ctx, ctx->opset >= 18, ctx->opset >= 18, &g));
    pool_opts o = {POOL_LP, false, lp_p(ctx), 0, NULL};
    if (!(o.p > 0)) return spd_errorf(SPD_ERR_INVALID, "p = %g is not positive", o.p);
    return run_pool(ctx, &g, &o);
}

/* Global pools: a kernel covering the whole spatial extent. */
static spd_status global_pool(spd_op_ctx *ctx, pool_kind kind)
{
    SPD_TRY(check_x(ctx, false));
    const spd_tensor *X = ctx->in[0];
    pgeom g;
    memset(&g, 0, sizeof g);
    g.nd = X->ndim - 2;
    g.nc = X->dims[0] * X->dims[1];
    for (int i = 0; i < g.nd; i++) {
        g.in[i] = g.k[i] = X->dims[2 + i];
        g.out[i] = g.s[i] = g.d[i] = 1;
    }
    g.in_n = g.k_n = spd_dims_prod(g.in, 0, g.nd);
    g.out_n = 1;
    if (g.in_n == 0) return spd_errorf(SPD_ERR_INVALID, "X has an empty spatial axis");
    pool_opts o = {kind, false, kind == POOL_LP ? lp_p(ctx) : 0, 0, NULL};
    if (kind == POOL_LP && !(o.p > 0)) return spd_errorf(SPD_ERR_INVALID, "p = %g is not positive", o.p);
    return run_pool_ex(ctx, &g, &o, true);
}

static spd_status op_global_avg(spd_op_ctx *ctx) { return global_pool(ctx, POOL_AVG); }
static spd_status op_global_max(spd_op_ctx *ctx) { return global_pool(ctx, POOL_MAX); }
static spd_status op_global_lp(spd_op_ctx *ctx) { return global_pool(ctx, POOL_LP); }

/* ---- MaxUnpool ------------------------------------------------------------------- */

static spd_status op_maxunpool(spd_op_ctx *ctx)
{
    SPD_TRY(check_x(ctx, false));
    const spd_tensor *X = ctx->in[0];
    const spd_tensor *I = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
    const spd_tensor *S = ctx->n_inputs > 2 ? ctx->in[2] : NULL;
    if (!I) return spd_errorf(SPD_ERR_INVALID, "needs input I (indices)");
    if (I->dtype != SPD_INT64) return spd_errorf(SPD_ERR_INVALID, "I must be int64, not %s", spd_dtype_name(I->dtype));
    if (!spd_tensor_same_shape(I, X)) return spd_errorf(SPD_ERR_INVALID, "I and X must have the same shape");
    const int nd = X->ndim - 2;
    int64_t k[SPD_MAX_DIMS], s[SPD_MAX_DIMS], pads[2 * SPD_MAX_DIMS];
    bool have_k;
    SPD_TRY(ints_attr(ctx->node, "kernel_shape", nd, 0, k, &have_k));
    if (!have_k) return spd_errorf(SPD_ERR_INVALID, "kernel_shape is required");
    SPD_TRY(ints_attr(ctx->node, "strides", nd, 1, s, NULL));
    SPD_TRY(ints_attr(ctx->node, "pads", 2 * nd, 0, pads, NULL));
    int64_t dims[SPD_MAX_DIMS] = {X->dims[0], X->dims[1]};
    for (int i = 0; i < nd; i++) {
        if (k[i] < 1 || s[i] < 1) return spd_errorf(SPD_ERR_INVALID, "kernel_shape and strides must be positive");
        dims[2 + i] = (X->dims[2 + i] - 1) * s[i] + k[i] - pads[i] - pads[nd + i];
        if (dims[2 + i] < 1) return spd_errorf(SPD_ERR_INVALID, "pads leave an empty output on axis %d", i);
    }
    /* Indices number elements of the default unpooled shape; an explicit
     * output_shape only enlarges the tensor they are placed in (as the
     * conformance case expects), so each index is re-based onto it. */
    int64_t odims[SPD_MAX_DIMS];
    memcpy(odims, dims, sizeof odims);
    if (S) {
        int n = 0;
        SPD_TRY(spd_tensor_to_i64s(S, odims, SPD_MAX_DIMS, &n));
        if (n != X->ndim) return spd_errorf(SPD_ERR_INVALID, "output_shape has %d values for a %d-D input", n, X->ndim);
        if (odims[0] != X->dims[0] || odims[1] != X->dims[1])
            return spd_errorf(SPD_ERR_INVALID, "output_shape must keep X's batch and channel dims");
        for (int i = 0; i < nd; i++)
            if (odims[2 + i] < dims[2 + i])
                return spd_errorf(SPD_ERR_INVALID, "output_shape[%d] = %lld is smaller than the unpooled size %lld",
                                  2 + i, (long long)odims[2 + i], (long long)dims[2 + i]);
    }
    spd_tensor *Y = &ctx->out[0];
    SPD_TRY(spd_tensor_alloc(Y, X->dtype, X->ndim, odims));
    const int64_t n = spd_tensor_numel(X), ndef = spd_dims_prod(dims, 0, X->ndim);
    const int64_t *idx = (const int64_t *)I->data;
    const size_t es = spd_dtype_size(X->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= ndef)
            return spd_errorf(SPD_ERR_INVALID, "index %lld is outside the unpooled output's %lld elements",
                              (long long)idx[i], (long long)ndef);
        int64_t rem = idx[i], at = 0, stride = 1;
        for (int a = X->ndim - 1; a >= 0; a--) {
            at += (rem % dims[a]) * stride;
            rem /= dims[a];
            stride *= odims[a];
        }
        memcpy((char *)Y->data + (size_t)at * es, (const char *)X->data + (size_t)i * es, es);
    }
    return SPD_OK;
}

/* ---- MaxRoiPool -------------------------------------------------------------------- */

static spd_status op_maxroipool(spd_op_ctx *ctx)
{
    SPD_TRY(check_x(ctx, false));
    const spd_tensor *X = ctx->in[0];
    const spd_tensor *R = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
    if (X->ndim != 4) return spd_errorf(SPD_ERR_INVALID, "X must be 4-D (N x C x H x W)");
    if (!R || R->ndim != 2 || R->dims[1] != 5)
        return spd_errorf(SPD_ERR_INVALID, "rois must be num_rois x 5");
    if (R->dtype != X->dtype) return spd_errorf(SPD_ERR_INVALID, "rois must have X's type");
    int64_t ps[2];
    bool have;
    SPD_TRY(ints_attr(ctx->node, "pooled_shape", 2, 0, ps, &have));
    if (!have || ps[0] < 1 || ps[1] < 1) return spd_errorf(SPD_ERR_INVALID, "pooled_shape must be 2 positive values");
    const double scale = spd_attr_float(ctx->node, "spatial_scale", 1.0f);
    const int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], W = X->dims[3], nr = R->dims[0];
    int64_t dims[4] = {nr, C, ps[0], ps[1]};
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], X->dtype, 4, dims));
    double *x = NULL, *r = NULL, *y = NULL;
    spd_status st = load_f64(X, &x);
    if (st == SPD_OK) st = load_f64(R, &r);
    const int64_t ny = spd_tensor_numel(&ctx->out[0]);
    if (st == SPD_OK && !(y = spd_calloc((size_t)(ny > 0 ? ny : 1), sizeof(double))))
        st = spd_errorf(SPD_ERR_NOMEM, "out of memory for MaxRoiPool's output");
    for (int64_t i = 0; st == SPD_OK && i < nr; i++) {
        const double *roi = r + i * 5;
        const int64_t b = (int64_t)roi[0];
        if (b < 0 || b >= N) {
            st = spd_errorf(SPD_ERR_INVALID, "roi %lld names batch %lld of %lld", (long long)i, (long long)b, (long long)N);
            break;
        }
        /* Caffe's RoIPool: corners rounded to the grid, bins of real size */
        const int64_t x1 = (int64_t)round(roi[1] * scale), y1 = (int64_t)round(roi[2] * scale);
        const int64_t x2 = (int64_t)round(roi[3] * scale), y2 = (int64_t)round(roi[4] * scale);
        const double rh = (double)(y2 - y1 + 1 > 1 ? y2 - y1 + 1 : 1), rw = (double)(x2 - x1 + 1 > 1 ? x2 - x1 + 1 : 1);
        const double bh = rh / (double)ps[0], bw = rw / (double)ps[1];
        for (int64_t c = 0; c < C; c++) {
            const double *xc = x + (b * C + c) * H * W;
            for (int64_t ph = 0; ph < ps[0]; ph++) {
                for (int64_t pw = 0; pw < ps[1]; pw++) {
                    int64_t hs = (int64_t)floor((double)ph * bh) + y1, he = (int64_t)ceil((double)(ph + 1) * bh) + y1;
                    int64_t ws = (int64_t)floor((double)pw * bw) + x1, we = (int64_t)ceil((double)(pw + 1) * bw) + x1;
                    hs = hs < 0 ? 0 : hs > H ? H : hs;
                    he = he < 0 ? 0 : he > H ? H : he;
                    ws = ws < 0 ? 0 : ws > W ? W : ws;
                    we = we < 0 ? 0 : we > W ? W : we;
                    double m = -INFINITY;
                    bool any = false;
                    for (int64_t h = hs; h < he; h++)
                        for (int64_t w = ws; w < we; w++) {
                            if (!any || xc[h * W + w] > m) m = xc[h * W + w];
                            any = true;
                        }
                    y[((i * C + c) * ps[0] + ph) * ps[1] + pw] = any ? m : 0.0;
                }
            }
        }
    }
    if (st == SPD_OK) store_f64(&ctx->out[0], y, ny);
    spd_free(x);
    spd_free(r);
    spd_free(y);
    return st;
}

const spd_op_def spd_ops_pool[] = {
    {"MaxPool", "", 1, 21, op_maxpool},
    {"AveragePool", "", 1, 21, op_averagepool},
    {"LpPool", "", 1, 21, op_lppool},
    {"GlobalAveragePool", "", 1, 21, op_global_avg},
    {"GlobalMaxPool", "", 1, 21, op_global_max},
    {"GlobalLpPool", "", 1, 21, op_global_lp},
    {"MaxUnpool", "", 9, 21, op_maxunpool},
    {"MaxRoiPool", "", 1, 21, op_maxroipool},
};
const int spd_ops_pool_count = (int)(sizeof spd_ops_pool / sizeof spd_ops_pool[0]);
