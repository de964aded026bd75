/* Activation functions, Clip, and the Softmax family. Float16 and bfloat16
 * are computed in float32; the exponential-based functions are written in
 * their numerically stable forms. The hot float32 activations run through
 * ops/ew_fast.h (vectorised, split over the thread pool when large) and the
 * last-axis Softmax/LogSoftmax on ops/vmath.h's vectorised exp. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ops/elementwise.h"
#include "ops/ew_fast.h"
#include "ops/vmath.h"
#include "util/status.h"
#include "util/threadpool.h"

/* ------------------------------------------------------------------------ */
/* float32 fast paths (ops/ew_fast.h: vectorised, threaded when large)      */

#define FAST_UNARY(ctx, OP, AC)                                                \
    do {                                                                       \
        spd_status st_;                                                        \
        if (spd_ew_unary_op_f32((ctx), (OP), (AC), &st_)) return st_;          \
    } while (0)

#define FAST_ACT(ctx, KIND, A, B)                                              \
    do {                                                                       \
        const spd_act ac_ = {(KIND), (A), (B)};                                \
        FAST_UNARY(ctx, SPD_EW_U_ACT, &ac_);                                   \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Pointwise activations                                                     */

static inline float sigmoidf_(float x)
{
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

static inline double sigmoid_(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    const double e = exp(x);
    return e / (1.0 + e);
}

/* log(1 + exp(x)) without overflow for large x. */
static inline float softplusf_(float x)
{
    return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

static inline double softplus_(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static inline float clampf_(float x, float lo, float hi)
{
    const float v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

static inline double clamp_(double x, double lo, double hi)
{
    const double v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

static spd_status k_relu(spd_op_ctx *ctx)
{
    /* x < 0 ? 0 : x keeps NaN, as numpy's maximum(x, 0) does */
    FAST_UNARY(ctx, SPD_EW_U_RELU, NULL);
    SPD_EW_UNARY_NUM(ctx, x < 0 ? 0 : x, x < 0 ? 0 : x, x < 0 ? 0 : x, x);
}

static spd_status k_leakyrelu(spd_op_ctx *ctx)
{
    const float alpha = spd_attr_float(ctx->node, "alpha", 0.01f);
    FAST_ACT(ctx, SPD_ACT_LEAKYRELU, alpha, 0); /* NaN gives NaN either way */
    SPD_EW_UNARY_FLOAT(ctx, x < 0 ? alpha * x : x, x < 0 ? alpha * x : x);
}

static spd_status k_sigmoid(spd_op_ctx *ctx)
{
    FAST_ACT(ctx, SPD_ACT_SIGMOID, 0, 0);
    SPD_EW_UNARY_FLOAT(ctx, sigmoidf_(x), sigmoid_(x));
}

static spd_status k_hardsigmoid(spd_op_ctx *ctx)
{
    const float alpha = spd_attr_float(ctx->node, "alpha", 0.2f);
    const float beta = spd_attr_float(ctx->node, "beta", 0.5f);
    FAST_ACT(ctx, SPD_ACT_HARDSIGMOID, alpha, beta);
    SPD_EW_UNARY_FLOAT(ctx, clampf_(alpha * x + beta, 0, 1), clamp_(alpha * x + beta, 0, 1));
}

static spd_status k_hardswish(spd_op_ctx *ctx)
{
    FAST_UNARY(ctx, SPD_EW_U_HARDSWISH, NULL);
    SPD_EW_UNARY_FLOAT(ctx, x * clampf_(x / 6 + 0.5f, 0, 1), x * clamp_(x / 6 + 0.5, 0, 1));
}

/* ai.speedster HardSwish: x * HardSigmoid(x) with HardSigmoid's alpha and
 * beta, what exporters at opsets before 14 write for HardSwish (two nodes,
 * which passes/fuse_silu.c makes one). */
static spd_status k_hardswish_ab(spd_op_ctx *ctx)
{
    const float alpha = spd_attr_float(ctx->node, "alpha", 1.0f / 6);
    const float beta = spd_attr_float(ctx->node, "beta", 0.5f);
    FAST_ACT(ctx, SPD_ACT_HARDSWISH, alpha, beta);
    SPD_EW_UNARY_FLOAT(ctx, x * clampf_(alpha * x + beta, 0, 1), x * clamp_((double)alpha * x + beta, 0, 1));
}

static spd_status k_tanh(spd_op_ctx *ctx)
{
    FAST_ACT(ctx, SPD_ACT_TANH, 0, 0);
    SPD_EW_UNARY_FLOAT(ctx, tanhf(x), tanh(x));
}

static spd_status k_elu(spd_op_ctx *ctx)
{
    const float alpha = spd_attr_float(ctx->node, "alpha", 1.0f);
    SPD_EW_UNARY_FLOAT(ctx, x < 0 ? alpha * expm1f(x) : x, x < 0 ? alpha * expm1(x) : x);
}

static spd_status k_selu(spd_op_ctx *ctx)
{
    const float alpha = spd_attr_float(ctx->node, "alpha", 1.67326319217681884765625f);
    const float gamma = spd_attr_float(ctx->node, "gamma", 1.05070102214813232421875f);
    SPD_EW_UNARY_FLOAT(ctx, gamma * (x > 0 ? x : alpha * expm1f(x)), gamma * (x > 0 ? x : alpha * expm1(x)));
}

static spd_status k_celu(spd_op_ctx *ctx)
{
    const float alpha = spd_attr_float(ctx->node, "alpha", 1.0f);
    if (alpha == 0) return spd_errorf(SPD_ERR_INVALID, "alpha must not be 0");
    SPD_EW_UNARY_FLOAT(ctx, x > 0 ? x : alpha * expm1f(x / alpha), x > 0 ? x : alpha * expm1(x / alpha));
}

static spd_status k_gelu(spd_op_ctx *ctx)
{
    const char *approx = spd_attr_string(ctx->node, "approximate", "none");
    if (!strcmp(approx, "tanh")) {
        const spd_tensor *in = spd_ew_input(ctx, 0);
        if (in && in->dtype == SPD_FLOAT) {
            SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, in->ndim, in->dims));
            spd_ew_fast_gelu_f32(ctx->out[0].data, in->data, spd_tensor_numel(in), NULL, 1);
            return SPD_OK;
        }
        const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
        SPD_EW_UNARY_FLOAT(ctx, 0.5f * x * (1 + tanhf(c * (x + 0.044715f * x * x * x))),
                           0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))));
    }
    if (strcmp(approx, "none"))
        return spd_errorf(SPD_ERR_INVALID, "approximate must be \"none\" or \"tanh\", got \"%s\"", approx);
    FAST_ACT(ctx, SPD_ACT_GELU, 0, 0);
    SPD_EW_UNARY_FLOAT(ctx, 0.5f * x * (1 + erff(x * 0.70710678118654752f)),
                       0.5 * x * (1 + erf(x * 0.70710678118654752)));
}

static spd_status k_softplus(spd_op_ctx *ctx)
{
    SPD_EW_UNARY_FLOAT(ctx, softplusf_(x), softplus_(x));
}

static spd_status k_softsign(spd_op_ctx *ctx)
{
    SPD_EW_UNARY_FLOAT(ctx, x / (1 + fabsf(x)), x / (1 + fabs(x)));
}

static spd_status k_thresholdedrelu(spd_op_ctx *ctx)
{
    const float alpha = spd_attr_float(ctx->node, "alpha", 1.0f);
    SPD_EW_UNARY_FLOAT(ctx, x > alpha ? x : 0, x > alpha ? x : 0);
}

static spd_status k_shrink(spd_op_ctx *ctx)
{
    const float lambd = spd_attr_float(ctx->node, "lambd", 0.5f);
    const float bias = spd_attr_float(ctx->node, "bias", 0.0f);
    /* integers are compared and shifted in double, then cast back */
    SPD_EW_UNARY_NUM(ctx, x < -lambd ? x + bias : x > lambd ? x - bias : 0,
                     x < -lambd ? x + bias : x > lambd ? x - bias : 0,
                     (double)x < -lambd ? (double)x + bias : (double)x > lambd ? (double)x - bias : 0,
                     (double)x < -lambd ? (double)x + bias : (double)x > lambd ? (double)x - bias : 0);
}

static spd_status k_mish(spd_op_ctx *ctx)
{
    SPD_EW_UNARY_FLOAT(ctx, x * tanhf(softplusf_(x)), x * tanh(softplus_(x)));
}

/* ------------------------------------------------------------------------ */
/* Clip                                                                      */

static inline int64_t clamp_i64(int64_t x, int64_t lo, int64_t hi)
{
    const int64_t v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

static inline uint64_t clamp_u64(uint64_t x, uint64_t lo, uint64_t hi)
{
    const uint64_t v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

/* A bound given as an input: a one-element tensor of the input's type. */
static spd_status clip_bound(const spd_tensor *b, spd_dtype dt, const char *what)
{
    if (b->dtype != dt)
        return spd_errorf(SPD_ERR_INVALID, "%s has type %s, input has %s", what, spd_dtype_name(b->dtype),
                          spd_dtype_name(dt));
    if (spd_tensor_numel(b) != 1)
        return spd_errorf(SPD_ERR_INVALID, "%s must be a scalar, has %lld elements", what,
                          (long long)spd_tensor_numel(b));
    return SPD_OK;
}

static spd_status k_clip(spd_op_ctx *ctx)
{
    const spd_tensor *in = spd_ew_input(ctx, 0);
    if (!in) return spd_errorf(SPD_ERR_INVALID, "missing input");
    double lo = -INFINITY, hi = INFINITY;
    int64_t ilo = INT64_MIN, ihi = INT64_MAX;
    uint64_t ulo = 0, uhi = UINT64_MAX;
    if (ctx->opset < 11) {
        lo = spd_attr_float(ctx->node, "min", -FLT_MAX);
        hi = spd_attr_float(ctx->node, "max", FLT_MAX);
    } else {
        const spd_tensor *tmin = spd_ew_input(ctx, 1), *tmax = spd_ew_input(ctx, 2);
        if (tmin) {
            SPD_TRY(clip_bound(tmin, in->dtype, "min"));
            lo = spd_tensor_get(tmin, 0);
            ilo = spd_tensor_get_i64(tmin, 0);
            ulo = (uint64_t)ilo;
        }
        if (tmax) {
            SPD_TRY(clip_bound(tmax, in->dtype, "max"));
            hi = spd_tensor_get(tmax, 0);
            ihi = spd_tensor_get_i64(tmax, 0);
            uhi = (uint64_t)ihi;
        }
    }
    const float flo = (float)lo, fhi = (float)hi;
    FAST_ACT(ctx, SPD_ACT_CLIP, flo, fhi); /* branch-free, same clampf_ semantics */
    /* max wins when min > max, as the spec says */
    SPD_EW_UNARY_NUM(ctx, clampf_(x, flo, fhi), clamp_(x, lo, hi), clamp_i64(x, ilo, ihi),
                     clamp_u64(x, ulo, uhi));
}

/* ------------------------------------------------------------------------ */
/* PRelu                                                                     */

typedef struct prelu_arg {
    spd_dtype dt;
} prelu_arg;

#define PRELU_RUN(T, EXPR)                                                     \
    do {                                                                       \
        const T *x_ = in[0], *s_ = in[1];                                      \
        T *o_ = out;                                                           \
        for (int64_t i_ = 0; i_ < n; i_++) {                                   \
            const T x = x_[i_ * step[0]], y = s_[i_ * step[1]];                \
            o_[i_] = (T)(EXPR);                                                \
        }                                                                      \
    } while (0)

#define UPRELU_RUN(T)                                                          \
    do {                                                                       \
        const T *x_ = in[0];                                                   \
        T *o_ = out;                                                           \
        for (int64_t i_ = 0; i_ < n; i_++) o_[i_] = x_[i_ * step[0]];          \
    } while (0)

/* Signed products wrap (computed in uint64) rather than overflow. */
#define SPRELU (x < 0 ? (uint64_t)x * (uint64_t)y : (uint64_t)x)

static void run_prelu(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    switch (((const prelu_arg *)arg)->dt) {
    case SPD_FLOAT: PRELU_RUN(float, x < 0 ? x * y : x); break;
    case SPD_DOUBLE: PRELU_RUN(double, x < 0 ? x * y : x); break;
    case SPD_INT8: PRELU_RUN(int8_t, SPRELU); break;
    case SPD_INT16: PRELU_RUN(int16_t, SPRELU); break;
    case SPD_INT32: PRELU_RUN(int32_t, SPRELU); break;
    case SPD_INT64: PRELU_RUN(int64_t, SPRELU); break;
    /* unsigned inputs are never negative */
    case SPD_UINT8: UPRELU_RUN(uint8_t); break;
    case SPD_UINT16: UPRELU_RUN(uint16_t); break;
    case SPD_UINT32: UPRELU_RUN(uint32_t); break;
    case SPD_UINT64: UPRELU_RUN(uint64_t); break;
    default: break;
    }
}

static spd_status k_prelu(spd_op_ctx *ctx)
{
    const spd_tensor *x = spd_ew_input(ctx, 0), *slope = spd_ew_input(ctx, 1);
    if (!x || !slope) return spd_errorf(SPD_ERR_INVALID, "expects two inputs");
    if (x->dtype != slope->dtype)
        return spd_errorf(SPD_ERR_INVALID, "input types %s and %s differ", spd_dtype_name(x->dtype),
                          spd_dtype_name(slope->dtype));
    if (!spd_dtype_is_float(x->dtype) && !spd_dtype_is_int(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(x->dtype));

    /* Before opset 7 a 1-D slope held one value per channel (axis 1). */
    spd_tensor sview;
    if (ctx->opset < 7 && slope->ndim == 1 && x->ndim > 2 && slope->dims[0] == x->dims[1] &&
        slope->dims[0] != 1) {
        spd_tensor_view(&sview, slope);
        sview.ndim = x->ndim - 1;
        for (int i = 1; i < sview.ndim; i++) sview.dims[i] = 1;
        slope = &sview;
    }
    const spd_tensor *ins[2] = {x, slope};
    int nd;
    int64_t dims[SPD_MAX_DIMS];
    SPD_TRY(spd_broadcast_shapes(2, ins, &nd, dims));
    bool same = nd == x->ndim;
    for (int i = 0; same && i < nd; i++) same = dims[i] == x->dims[i];
    if (!same) {
        char a[128], b[128];
        return spd_errorf(SPD_ERR_INVALID, "slope %s does not broadcast to input %s",
                          spd_tensor_describe(slope, b, sizeof b), spd_tensor_describe(x, a, sizeof a));
    }
    if (!spd_ew_is_half(x->dtype)) {
        prelu_arg arg = {x->dtype};
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, nd, dims));
        return spd_ew_broadcast(2, ins, &ctx->out[0], run_prelu, &arg);
    }
    spd_tensor fx = {0}, fs = {0}, fo = {0};
    prelu_arg arg = {SPD_FLOAT};
    spd_status s = spd_ew_to_f32(x, &fx);
    if (s == SPD_OK) s = spd_ew_to_f32(slope, &fs);
    if (s == SPD_OK) s = spd_tensor_alloc(&fo, SPD_FLOAT, nd, dims);
    if (s == SPD_OK) {
        const spd_tensor *fins[2] = {&fx, &fs};
        s = spd_ew_broadcast(2, fins, &fo, run_prelu, &arg);
    }
    if (s == SPD_OK) s = spd_ew_from_f32(&fo, x->dtype, &ctx->out[0]);
    spd_tensor_release(&fx);
    spd_tensor_release(&fs);
    spd_tensor_release(&fo);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Softmax, LogSoftmax, Hardmax                                              */

/* The input seen as [outer, len, inner] with the reduction over len. Before
 * opset 13 the input is coerced to 2-D at `axis` (default 1), so len spans
 * every axis from `axis` on; from 13 it is the single axis (default -1). */
static spd_status softmax_layout(const spd_op_ctx *ctx, const spd_tensor *in, int64_t *outer,
                                 int64_t *len, int64_t *inner)
{
    const int r = in->ndim;
    const bool coerce = ctx->opset < 13;
    int64_t axis = spd_attr_int(ctx->node, "axis", coerce ? 1 : -1);
    if (axis < 0) axis += r;
    /* axis == r is allowed when coercing: the trailing block has size 1 */
    if (axis < 0 || axis > r || (!coerce && axis == r))
        return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for rank %d",
                          (long long)spd_attr_int(ctx->node, "axis", 0), r);
    *outer = spd_dims_prod(in->dims, 0, (int)axis);
    if (coerce) {
        *len = spd_dims_prod(in->dims, (int)axis, r);
        *inner = 1;
    } else {
        *len = in->dims[axis];
        *inner = spd_dims_prod(in->dims, (int)axis + 1, r);
    }
    return SPD_OK;
}

/* Subtracting the maximum keeps exp() from overflowing. */
#define SOFTMAX_IMPL(NAME, T, EXP, LOG)                                        \
    static void NAME(const T *x, T *y, int64_t outer, int64_t len, int64_t inner, bool log_) \
    {                                                                          \
        for (int64_t o = 0; o < outer; o++) {                                  \
            for (int64_t j = 0; j < inner; j++) {                              \
                const T *xs = x + o * len * inner + j;                         \
                T *ys = y + o * len * inner + j;                               \
                T m = xs[0];                                                   \
                for (int64_t k = 1; k < len; k++)                              \
                    if (xs[k * inner] > m) m = xs[k * inner];                  \
                T sum = 0;                                                     \
                for (int64_t k = 0; k < len; k++) {                            \
                    const T e = EXP(xs[k * inner] - m);                        \
                    ys[k * inner] = e;                                         \
                    sum += e;                                                  \
                }                                                              \
                if (log_) {                                                    \
                    const T ls = LOG(sum);                                     \
                    for (int64_t k = 0; k < len; k++) ys[k * inner] = xs[k * inner] - m - ls; \
                } else {                                                       \
                    const T inv = 1 / sum;                                     \
                    for (int64_t k = 0; k < len; k++) ys[k * inner] *= inv;    \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }

SOFTMAX_IMPL(softmax_f32_ref, float, expf, logf)
SOFTMAX_IMPL(softmax_f64, double, exp, log)

/* Contiguous rows (inner == 1): vectorised max, exp-and-sum and scale, rows
 * split over the pool. Same NaN/inf outcome as the reference: any NaN or
 * +inf in a row makes the whole row NaN. */
typedef struct softmax_job {
    const float *x;
    float *y;
    int64_t rows, len, rows_per_task;
    bool log_;
} softmax_job;

static void softmax_rows_task(void *ctx, int64_t t)
{
    const softmax_job *j = ctx;
    const int64_t r0 = t * j->rows_per_task, r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * j->len;
        float *y = j->y + r * j->len;
        const float m = spd_vmax_f32(x, j->len);
        const float sum = spd_vexp_sub_sum_f32(y, x, j->len, m);
        if (j->log_) {
            const float ls = logf(sum);
            for (int64_t k = 0; k < j->len; k++) y[k] = x[k] - m - ls;
        } else {
            const float inv = 1 / sum;
            for (int64_t k = 0; k < j->len; k++) y[k] *= inv;
        }
    }
}

static void softmax_f32(const float *x, float *y, int64_t outer, int64_t len, int64_t inner, bool log_)
{
    if (inner != 1) {
        softmax_f32_ref(x, y, outer, len, inner, log_);
        return;
    }
    softmax_job j = {x, y, outer, len, 1, log_};
    j.rows_per_task = len >= 4096 ? 1 : 4096 / len;
    spd_parallel_for((outer + j.rows_per_task - 1) / j.rows_per_task, softmax_rows_task, &j);
}

static spd_status softmax_common(spd_op_ctx *ctx, bool log_)
{
    const spd_tensor *in = spd_ew_input(ctx, 0);
    if (!in) return spd_errorf(SPD_ERR_INVALID, "missing input");
    if (!spd_dtype_is_float(in->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(in->dtype));
    int64_t outer, len, inner;
    SPD_TRY(softmax_layout(ctx, in, &outer, &len, &inner));
    spd_tensor *out = &ctx->out[0];
    if (in->dtype == SPD_FLOAT || in->dtype == SPD_DOUBLE) {
        SPD_TRY(spd_tensor_alloc_uninit(out, in->dtype, in->ndim, in->dims)); /* every row written */
        if (len == 0 || spd_tensor_numel(in) == 0) return SPD_OK;
        if (in->dtype == SPD_FLOAT)
            softmax_f32(in->data, out->data, outer, len, inner, log_);
        else
            softmax_f64(in->data, out->data, outer, len, inner, log_);
        return SPD_OK;
    }
    spd_tensor fx = {0}, fo = {0};
    spd_status s = spd_ew_to_f32(in, &fx);
    if (s == SPD_OK) s = spd_tensor_alloc(&fo, SPD_FLOAT, in->ndim, in->dims);
    if (s == SPD_OK && len > 0 && spd_tensor_numel(in) > 0)
        softmax_f32(fx.data, fo.data, outer, len, inner, log_);
    if (s == SPD_OK) s = spd_ew_from_f32(&fo, in->dtype, out);
    spd_tensor_release(&fx);
    spd_tensor_release(&fo);
    return s;
}

static spd_status k_softmax(spd_op_ctx *ctx) { return softmax_common(ctx, false); }
static spd_status k_logsoftmax(spd_op_ctx *ctx) { return softmax_common(ctx, true); }

/* One-hot of the first maximum along the axis. Not hot: generic access. */
static spd_status k_hardmax(spd_op_ctx *ctx)
{
    const spd_tensor *in = spd_ew_input(ctx, 0);
    if (!in) return spd_errorf(SPD_ERR_INVALID, "missing input");
    if (!spd_dtype_is_float(in->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(in->dtype));
    int64_t outer, len, inner;
    SPD_TRY(softmax_layout(ctx, in, &outer, &len, &inner));
    spd_tensor *out = &ctx->out[0];
    SPD_TRY(spd_tensor_alloc(out, in->dtype, in->ndim, in->dims)); /* zeroed */
    if (len == 0 || spd_tensor_numel(in) == 0) return SPD_OK;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            const int64_t base = o * len * inner + j;
            int64_t best = 0;
            double m = spd_tensor_get(in, base);
            for (int64_t k = 1; k < len; k++) {
                const double v = spd_tensor_get(in, base + k * inner);
                if (v > m) {
                    m = v;
                    best = k;
                }
            }
            spd_tensor_set(out, base + best * inner, 1.0);
        }
    }
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */

const spd_op_def spd_ops_activation[] = {
    {"Relu", "", 1, 21, k_relu},
    {"LeakyRelu", "", 1, 21, k_leakyrelu},
    {"PRelu", "", 1, 21, k_prelu},
    {"Sigmoid", "", 1, 21, k_sigmoid},
    {"HardSigmoid", "", 1, 21, k_hardsigmoid},
    {"HardSwish", "", 14, 21, k_hardswish},
    {"HardSwish", "ai.speedster", 1, 1, k_hardswish_ab},
    {"Tanh", "", 1, 21, k_tanh},
    {"Elu", "", 1, 21, k_elu},
    {"Selu", "", 1, 21, k_selu},
    {"Celu", "", 12, 21, k_celu},
    {"Gelu", "", 20, 21, k_gelu},
    {"Softplus", "", 1, 21, k_softplus},
    {"Softsign", "", 1, 21, k_softsign},
    {"Clip", "", 1, 21, k_clip},
    {"ThresholdedRelu", "", 10, 21, k_thresholdedrelu},
    {"Shrink", "", 9, 21, k_shrink},
    {"Mish", "", 18, 21, k_mish},
    {"Softmax", "", 1, 21, k_softmax},
    {"LogSoftmax", "", 1, 21, k_logsoftmax},
    {"Hardmax", "", 1, 21, k_hardmax},
};
const int spd_ops_activation_count = (int)(sizeof spd_ops_activation / sizeof spd_ops_activation[0]);
