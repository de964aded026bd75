/* The quant family: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
 * QLinearMatMul, QLinearConv, MatMulInteger and ConvInteger.
 *
 * Integer products are accumulated exactly in 32 bits (wrapping, as the spec
 * allows only there) and requantized as ONNX Runtime does: the float
 * multiplier in_scale * w_scale / y_scale times the accumulator, rounded half
 * to even, plus the zero point, saturated to the output type. */
#include <math.h>
#include <string.h>

#include "ir/op.h"
#include "util/alloc.h"
#include "util/status.h"

/* ------------------------------------------------------------------------ */
/* shared helpers */

static bool q_range(spd_dtype t, int64_t *lo, int64_t *hi)
{
    switch (t) {
    case SPD_UINT8: *lo = 0; *hi = 255; return true;
    case SPD_INT8: *lo = -128; *hi = 127; return true;
    case SPD_UINT16: *lo = 0; *hi = 65535; return true;
    case SPD_INT16: *lo = -32768; *hi = 32767; return true;
    default: return false;
    }
}

static bool is_scale_type(spd_dtype t)
{
    return t == SPD_FLOAT || t == SPD_FLOAT16 || t == SPD_BFLOAT16;
}

static bool is_8bit(spd_dtype t)
{
    return t == SPD_UINT8 || t == SPD_INT8;
}

/* Saturates v (already rounded) into [lo, hi]; NaN goes to 0 clamped. */
static int64_t q_sat(double v, int64_t lo, int64_t hi)
{
    if (v != v) v = 0.0;
    if (v <= (double)lo) return lo;
    if (v >= (double)hi) return hi;
    return (int64_t)v;
}

static void q_store(spd_tensor *y, int64_t i, int64_t v)
{
    switch (y->dtype) {
    case SPD_UINT8: ((uint8_t *)y->data)[i] = (uint8_t)v; break;
    case SPD_INT8: ((int8_t *)y->data)[i] = (int8_t)v; break;
    case SPD_UINT16: ((uint16_t *)y->data)[i] = (uint16_t)v; break;
    case SPD_INT16: ((int16_t *)y->data)[i] = (int16_t)v; break;
    case SPD_INT32: ((int32_t *)y->data)[i] = (int32_t)v; break;
    default: break;
    }
}

static inline int32_t q_load(const spd_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case SPD_UINT8: return ((const uint8_t *)t->data)[i];
    case SPD_INT8: return ((const int8_t *)t->data)[i];
    case SPD_UINT16: return ((const uint16_t *)t->data)[i];
    case SPD_INT16: return ((const int16_t *)t->data)[i];
    case SPD_INT32: return ((const int32_t *)t->data)[i];
    default: return 0;
    }
}

/* Scale values as float (float32, float16, bfloat16); NULL on no memory. */
static float *scales_f32(const spd_tensor *s)
{
    int64_t n = spd_tensor_numel(s);
    float *v = spd_malloc((size_t)(n ? n : 1) * sizeof(float));
    if (v)
        for (int64_t i = 0; i < n; i++) v[i] = (float)spd_tensor_get(s, i);
    return v;
}

/* Zero points as int32; all zeros (n of them) when zp is NULL. */
static int32_t *zps_i32(const spd_tensor *zp, int64_t n)
{
    if (zp) n = spd_tensor_numel(zp);
    int32_t *v = spd_calloc((size_t)(n ? n : 1), sizeof(int32_t));
    if (v && zp)
        for (int64_t i = 0; i < n; i++) v[i] = q_load(zp, i);
    return v;
}

static const spd_tensor *in_at(const spd_op_ctx *ctx, int k)
{
    return k < ctx->n_inputs ? ctx->in[k] : NULL;
}

/* ------------------------------------------------------------------------ */
/* QuantizeLinear / DequantizeLinear: where each element's scale is */

/* x viewed as (outer, D, inner) around `axis`; the scale index of element
 * (o, d, i) is 0 (per tensor), d (per axis) or, with blocks of `block`
 * along the axis, (o * Dblk + d / block) * inner + i. */
typedef struct q_layout {
    int64_t outer, D, inner;
    int mode; /* 0 per tensor, 1 per axis, 2 blocked */
    int64_t block, Dblk;
} q_layout;

static spd_status q_layout_of(const spd_op_ctx *ctx, const spd_tensor *x, const spd_tensor *scale,
                              const spd_tensor *zp, q_layout *L)
{
    memset(L, 0, sizeof *L);
    if (zp && !spd_tensor_same_shape(zp, scale))
        return spd_errorf(SPD_ERR_INVALID, "scale and zero point have different shapes");
    const int64_t block = ctx->opset >= 21 ? spd_attr_int(ctx->node, "block_size", 0) : 0;
    if (block < 0) return spd_errorf(SPD_ERR_INVALID, "block_size %lld is negative", (long long)block);
    const int64_t ns = spd_tensor_numel(scale);
    if (block == 0 && (scale->ndim == 0 || (scale->ndim == 1 && ns == 1))) {
        L->outer = 1;
        L->D = 1;
        L->inner = spd_tensor_numel(x);
        return SPD_OK;
    }
    int64_t axis = spd_attr_int(ctx->node, "axis", 1);
    if (axis < -x->ndim || axis >= x->ndim)
        return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis, x->ndim);
    if (axis < 0) axis += x->ndim;
    L->outer = spd_dims_prod(x->dims, 0, (int)axis);
    L->D = x->dims[axis];
    L->inner = spd_dims_prod(x->dims, (int)axis + 1, x->ndim);
    if (block == 0) {
        if (scale->ndim != 1 || ns != L->D)
            return spd_errorf(SPD_ERR_INVALID, "a per-axis scale must be 1-D with %lld values",
                              (long long)L->D);
        L->mode = 1;
        return SPD_OK;
    }
    L->mode = 2;
    L->block = block;
    L->Dblk = (L->D + block - 1) / block;
    if (scale->ndim != x->ndim)
        return spd_errorf(SPD_ERR_INVALID, "a blocked scale must have the input's rank");
    for (int d = 0; d < x->ndim; d++)
        if (scale->dims[d] != (d == axis ? L->Dblk : x->dims[d]))
            return spd_errorf(SPD_ERR_INVALID, "blocked scale shape does not match the input and block_size");
    return SPD_OK;
}

static inline int64_t q_sidx(const q_layout *L, int64_t o, int64_t d, int64_t i)
{
    switch (L->mode) {
    case 0: return 0;
    case 1: return d;
    default: return (o * L->Dblk + d / L->block) * L->inner + i;
    }
}

static inline float q_xval(const spd_tensor *x, int64_t i)
{
    switch (x->dtype) {
    case SPD_FLOAT: return ((const float *)x->data)[i];
    case SPD_FLOAT16: return spd_f16_to_f32(((const uint16_t *)x->data)[i]);
    case SPD_BFLOAT16: return spd_bf16_to_f32(((const uint16_t *)x->data)[i]);
    case SPD_INT32: return (float)((const int32_t *)x->data)[i];
    default: return 0.0f;
    }
}

static spd_status op_quantize_linear(spd_op_ctx *ctx)
{
    const spd_tensor *x = in_at(ctx, 0), *scale = in_at(ctx, 1), *zp = in_at(ctx, 2);
    if (!x || !scale) return spd_errorf(SPD_ERR_INVALID, "QuantizeLinear needs x and y_scale");
    if (!(is_scale_type(x->dtype) || x->dtype == SPD_INT32))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "QuantizeLinear of %s", spd_dtype_name(x->dtype));
    if (!is_scale_type(scale->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "y_scale of type %s", spd_dtype_name(scale->dtype));
    spd_dtype yt = SPD_UINT8;
    const int64_t odt = ctx->opset >= 21 ? spd_attr_int(ctx->node, "output_dtype", 0) : 0;
    if (zp) {
        yt = zp->dtype;
        if (odt && odt != (int64_t)yt)
            return spd_errorf(SPD_ERR_INVALID, "output_dtype differs from the zero point's type");
    } else if (odt) {
        yt = (spd_dtype)odt;
    }
    int64_t lo, hi;
    if (!q_range(yt, &lo, &hi) || ((yt == SPD_UINT16 || yt == SPD_INT16) && ctx->opset < 21))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "quantizing to type %d", (int)yt);
    q_layout L;
    SPD_TRY(q_layout_of(ctx, x, scale, zp, &L));
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], yt, x->ndim, x->dims));
    spd_tensor *y = &ctx->out[0];

    float *s = scales_f32(scale);
    int32_t *z = zps_i32(zp, spd_tensor_numel(scale));
    if (!s || !z) {
        spd_free(s);
        spd_free(z);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    int64_t e = 0;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t d = 0; d < L.D; d++)
            for (int64_t i = 0; i < L.inner; i++, e++) {
                const int64_t k = q_sidx(&L, o, d, i);
                /* float32 division and rint (ties to even), as the spec's
                 * reference computes it. */
                const float r = rintf(q_xval(x, e) / s[k]);
                q_store(y, e, q_sat((double)r + z[k], lo, hi));
            }
    spd_free(s);
    spd_free(z);
    return SPD_OK;
}

static spd_status op_dequantize_linear(spd_op_ctx *ctx)
{
    const spd_tensor *x = in_at(ctx, 0), *scale = in_at(ctx, 1), *zp = in_at(ctx, 2);
    if (!x || !scale) return spd_errorf(SPD_ERR_INVALID, "DequantizeLinear needs x and x_scale");
    int64_t lo, hi;
    if (!q_range(x->dtype, &lo, &hi) && x->dtype != SPD_INT32)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "DequantizeLinear of %s", spd_dtype_name(x->dtype));
    if (!is_scale_type(scale->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "x_scale of type %s", spd_dtype_name(scale->dtype));
    if (zp && zp->dtype != x->dtype)
        return spd_errorf(SPD_ERR_INVALID, "zero point type %s differs from the input's %s",
                          spd_dtype_name(zp->dtype), spd_dtype_name(x->dtype));
    q_layout L;
    SPD_TRY(q_layout_of(ctx, x, scale, zp, &L));
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], scale->dtype, x->ndim, x->dims));
    spd_tensor *y = &ctx->out[0];

    float *s = scales_f32(scale);
    int32_t *z = zps_i32(zp, spd_tensor_numel(scale));
    if (!s || !z) {
        spd_free(s);
        spd_free(z);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    int64_t e = 0;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t d = 0; d < L.D; d++)
            for (int64_t i = 0; i < L.inner; i++, e++) {
                const int64_t k = q_sidx(&L, o, d, i);
                /* Both converted to float32 before subtracting (exact for
                 * 8- and 16-bit types, the reference's rounding for int32). */
                const float v = ((float)q_load(x, e) - (float)z[k]) * s[k];
                if (y->dtype == SPD_FLOAT) ((float *)y->data)[e] = v;
                else if (y->dtype == SPD_FLOAT16) ((uint16_t *)y->data)[e] = spd_f32_to_f16(v);
                else ((uint16_t *)y->data)[e] = spd_f32_to_bf16(v);
            }
    spd_free(s);
    spd_free(z);
    return SPD_OK;
}

static spd_status op_dynamic_quantize_linear(spd_op_ctx *ctx)
{
    const spd_tensor *x = in_at(ctx, 0);
    if (!x) return spd_errorf(SPD_ERR_INVALID, "DynamicQuantizeLinear needs x");
    if (x->dtype != SPD_FLOAT)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "DynamicQuantizeLinear of %s", spd_dtype_name(x->dtype));
    const float *xv = (const float *)x->data;
    const int64_t n = spd_tensor_numel(x);
    /* The range always includes 0 so that 0 is exactly representable. */
    float mn = 0.0f, mx = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        if (xv[i] < mn) mn = xv[i];
        if (xv[i] > mx) mx = xv[i];
    }
    /* Scale and zero point in double, rounded as the reference does. */
    const float scale = (float)(((double)mx - (double)mn) / 255.0);
    int64_t zp = 0;
    if (scale > 0.0f) zp = q_sat(rint(-(double)mn / (double)scale), 0, 255);

    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_UINT8, x->ndim, x->dims));
    if (ctx->n_outputs > 1) {
        SPD_TRY(spd_tensor_alloc(&ctx->out[1], SPD_FLOAT, 0, NULL));
        ((float *)ctx->out[1].data)[0] = scale;
    }
    if (ctx->n_outputs > 2) {
        SPD_TRY(spd_tensor_alloc(&ctx->out[2], SPD_UINT8, 0, NULL));
        ((uint8_t *)ctx->out[2].data)[0] = (uint8_t)zp;
    }
    uint8_t *y = (uint8_t *)ctx->out[0].data;
    /* An all-zero input has scale 0: every value quantizes to the zero
     * point rather than dividing by zero. */
    for (int64_t i = 0; i < n; i++)
        y[i] = (uint8_t)(scale > 0.0f ? q_sat((double)rintf(xv[i] / scale) + (double)zp, 0, 255) : zp);
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* integer matrix products (MatMulInteger, QLinearMatMul) */

typedef struct imm_plan {
    int64_t M, N, K, nbatch;
    int64_t amats, bmats; /* matrices in A and in B */
    int64_t *aoff, *boff; /* per output batch: matrix index in A and in B */
    int ond;
    int64_t odims[SPD_MAX_DIMS];
} imm_plan;

/* numpy.matmul shapes: 1-D promotion and batch broadcasting. */
static spd_status imm_plan_make(const spd_tensor *A, const spd_tensor *B, imm_plan *p)
{
    memset(p, 0, sizeof *p);
    if (A->ndim < 1 || B->ndim < 1)
        return spd_errorf(SPD_ERR_INVALID, "inputs must have rank >= 1 (got %d and %d)", A->ndim, B->ndim);
    p->M = A->ndim >= 2 ? A->dims[A->ndim - 2] : 1;
    p->K = A->dims[A->ndim - 1];
    const int64_t Kb = B->ndim >= 2 ? B->dims[B->ndim - 2] : B->dims[0];
    p->N = B->ndim >= 2 ? B->dims[B->ndim - 1] : 1;
    if (p->K != Kb)
        return spd_errorf(SPD_ERR_INVALID, "inner dimensions differ (%lld and %lld)", (long long)p->K,
                          (long long)Kb);
    const int abn = A->ndim > 2 ? A->ndim - 2 : 0, bbn = B->ndim > 2 ? B->ndim - 2 : 0;
    const int bn = abn > bbn ? abn : bbn;
    int64_t bdims[SPD_MAX_DIMS] = {0}, astr[SPD_MAX_DIMS] = {0}, bstr[SPD_MAX_DIMS] = {0};
    int64_t sa = 1, sb = 1;
    for (int i = bn - 1; i >= 0; i--) {
        const int ai = i - (bn - abn), bi = i - (bn - bbn);
        const int64_t da = ai >= 0 ? A->dims[ai] : 1, db = bi >= 0 ? B->dims[bi] : 1;
        if (da != db && da != 1 && db != 1)
            return spd_errorf(SPD_ERR_INVALID, "batch dimensions %lld and %lld do not broadcast",
                              (long long)da, (long long)db);
        bdims[i] = da == 1 ? db : da;
        astr[i] = da == 1 ? 0 : sa;
        bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    p->amats = sa;
    p->bmats = sb;
    p->nbatch = spd_dims_prod(bdims, 0, bn);
    for (int i = 0; i < bn; i++) p->odims[p->ond++] = bdims[i];
    if (A->ndim >= 2) p->odims[p->ond++] = p->M;
    if (B->ndim >= 2) p->odims[p->ond++] = p->N;
    p->aoff = spd_malloc((size_t)(p->nbatch ? p->nbatch : 1) * 2 * sizeof(int64_t));
    if (!p->aoff) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    p->boff = p->aoff + (p->nbatch ? p->nbatch : 1);
    int64_t idx[SPD_MAX_DIMS] = {0}, oa = 0, ob = 0;
    for (int64_t t = 0; t < p->nbatch; t++) {
        p->aoff[t] = oa;
        p->boff[t] = ob;
        for (int d = bn - 1; d >= 0; d--) {
            oa += astr[d];
            ob += bstr[d];
            if (++idx[d] < bdims[d]) break;
            oa -= astr[d] * bdims[d];
            ob -= bstr[d] * bdims[d];
            idx[d] = 0;
        }
    }
    return SPD_OK;
}

/* How a quantization parameter (zero point or scale) of A's rows or B's
 * columns is laid out: 0 one value, 1 one per row/column (`per` values),
 * 2 one per row/column of every matrix (shape [..., M, 1] or [..., 1, N]). */
static spd_status imm_param_mode(const spd_tensor *t, int64_t per, int64_t mats, const char *what,
                                 const char *unit, int *mode)
{
    const int64_t n = spd_tensor_numel(t);
    if (n == 1) *mode = 0;
    else if (t->ndim == 1 && n == per) *mode = 1;
    else if (t->ndim >= 2 && n == per * mats) *mode = 2;
    else return spd_errorf(SPD_ERR_INVALID, "%s has %lld values, which is neither per-tensor nor per-%s",
                           what, (long long)n, unit);
    return SPD_OK;
}

static inline int64_t imm_param_idx(int mode, int64_t per, int64_t mat, int64_t i)
{
    return mode == 0 ? 0 : mode == 1 ? i : mat * per + i;
}

/* acc[t][m][n] = sum_k (a[t][m][k] - azp) * (b[t][k][n] - bzp), with 32-bit
 * wrapping accumulation. azp/bzp may be NULL (zero). acc holds
 * nbatch*M*N values. */
static spd_status imm_run(const imm_plan *p, const spd_tensor *A, const spd_tensor *B,
                          const spd_tensor *azp, const spd_tensor *bzp, int32_t *acc)
{
    const int64_t M = p->M, N = p->N, K = p->K;
    int am = 0, bm = 0;
    if (azp) SPD_TRY(imm_param_mode(azp, M, p->amats, "a_zero_point", "row", &am));
    if (bzp) SPD_TRY(imm_param_mode(bzp, N, p->bmats, "b_zero_point", "column", &bm));
    int32_t *a = spd_malloc((size_t)(M * K + K * N + 1) * sizeof(int32_t));
    if (!a) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    int32_t *b = a + M * K;
    for (int64_t t = 0; t < p->nbatch; t++) {
        const int64_t ma = p->aoff[t], mb = p->boff[t];
        for (int64_t m = 0; m < M; m++) {
            const int32_t z = azp ? q_load(azp, imm_param_idx(am, M, ma, m)) : 0;
            for (int64_t k = 0; k < K; k++) a[m * K + k] = q_load(A, (ma * M + m) * K + k) - z;
        }
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++) {
                const int32_t z = bzp ? q_load(bzp, imm_param_idx(bm, N, mb, n)) : 0;
                b[k * N + n] = q_load(B, (mb * K + k) * N + n) - z;
            }
        /* Products of 8-bit differences fit in int32; the sum wraps in
         * uint32 so overflow is defined. */
        uint32_t *c = (uint32_t *)(acc + t * M * N);
        for (int64_t m = 0; m < M; m++) {
            uint32_t *cm = c + m * N;
            for (int64_t n = 0; n < N; n++) cm[n] = 0;
            for (int64_t k = 0; k < K; k++) {
                const int32_t x = a[m * K + k];
                const int32_t *bk = b + k * N;
                for (int64_t n = 0; n < N; n++) cm[n] += (uint32_t)(x * bk[n]);
            }
        }
    }
    spd_free(a);
    return SPD_OK;
}

static spd_status op_matmul_integer(spd_op_ctx *ctx)
{
    const spd_tensor *A = in_at(ctx, 0), *B = in_at(ctx, 1), *azp = in_at(ctx, 2), *bzp = in_at(ctx, 3);
    if (!A || !B) return spd_errorf(SPD_ERR_INVALID, "MatMulInteger needs A and B");
    if (!is_8bit(A->dtype) || !is_8bit(B->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "MatMulInteger of %s and %s", spd_dtype_name(A->dtype),
                          spd_dtype_name(B->dtype));
    if ((azp && azp->dtype != A->dtype) || (bzp && bzp->dtype != B->dtype))
        return spd_errorf(SPD_ERR_INVALID, "zero point types differ from their inputs'");
    imm_plan p;
    SPD_TRY(imm_plan_make(A, B, &p));
    spd_status s = spd_tensor_alloc(&ctx->out[0], SPD_INT32, p.ond, p.odims);
    if (s == SPD_OK) s = imm_run(&p, A, B, azp, bzp, (int32_t *)ctx->out[0].data);
    spd_free(p.aoff);
    return s;
}

static spd_status op_qlinear_matmul(spd_op_ctx *ctx)
{
    const spd_tensor *A = in_at(ctx, 0), *as = in_at(ctx, 1), *azp = in_at(ctx, 2);
    const spd_tensor *B = in_at(ctx, 3), *bs = in_at(ctx, 4), *bzp = in_at(ctx, 5);
    const spd_tensor *ys = in_at(ctx, 6), *yzp = in_at(ctx, 7);
    if (!A || !as || !B || !bs || !ys)
        return spd_errorf(SPD_ERR_INVALID, "QLinearMatMul needs a, a_scale, b, b_scale and y_scale");
    if (!is_8bit(A->dtype) || !is_8bit(B->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "QLinearMatMul of %s and %s", spd_dtype_name(A->dtype),
                          spd_dtype_name(B->dtype));
    if (!is_scale_type(as->dtype) || !is_scale_type(bs->dtype) || !is_scale_type(ys->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "scales must be float");
    if ((azp && azp->dtype != A->dtype) || (bzp && bzp->dtype != B->dtype))
        return spd_errorf(SPD_ERR_INVALID, "zero point types differ from their inputs'");
    const spd_dtype yt = yzp ? yzp->dtype : SPD_UINT8;
    int64_t lo, hi;
    if (!is_8bit(yt) || !q_range(yt, &lo, &hi))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "QLinearMatMul output of %s", spd_dtype_name(yt));
    if (spd_tensor_numel(ys) != 1 || (yzp && spd_tensor_numel(yzp) != 1))
        return spd_errorf(SPD_ERR_INVALID, "y_scale and y_zero_point must be scalars");

    imm_plan p;
    SPD_TRY(imm_plan_make(A, B, &p));
    int asm_ = 0, bsm = 0;
    int32_t *acc = NULL;
    spd_status s = imm_param_mode(as, p.M, p.amats, "a_scale", "row", &asm_);
    if (s == SPD_OK) s = imm_param_mode(bs, p.N, p.bmats, "b_scale", "column", &bsm);
    if (s == SPD_OK) s = spd_tensor_alloc(&ctx->out[0], yt, p.ond, p.odims);
    if (s == SPD_OK) {
        acc = spd_malloc((size_t)(p.nbatch * p.M * p.N + 1) * sizeof(int32_t));
        if (!acc) s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    if (s == SPD_OK) s = imm_run(&p, A, B, azp, bzp, acc);
    if (s == SPD_OK) {
        const float ysc = (float)spd_tensor_get(ys, 0);
        const int64_t yz = yzp ? q_load(yzp, 0) : 0;
        spd_tensor *y = &ctx->out[0];
        int64_t e = 0;
        for (int64_t t = 0; t < p.nbatch; t++)
            for (int64_t m = 0; m < p.M; m++) {
                const float sa = (float)spd_tensor_get(as, imm_param_idx(asm_, p.M, p.aoff[t], m));
                for (int64_t n = 0; n < p.N; n++, e++) {
                    const float sb = (float)spd_tensor_get(bs, imm_param_idx(bsm, p.N, p.boff[t], n));
                    const float mult = sa * sb / ysc;
                    q_store(y, e, q_sat((double)rintf((float)acc[e] * mult) + (double)yz, lo, hi));
                }
            }
    }
    spd_free(acc);
    spd_free(p.aoff);
    return s;
}

/* ------------------------------------------------------------------------ */
/* integer convolution (ConvInteger, QLinearConv) */

typedef struct iconv_geom {
    int nsp;                      /* spatial dims */
    int64_t N, C, M, group, Cg, Mg;
    int64_t in[SPD_MAX_DIMS], k[SPD_MAX_DIMS], out[SPD_MAX_DIMS];
    int64_t stride[SPD_MAX_DIMS], dil[SPD_MAX_DIMS], pad[SPD_MAX_DIMS]; /* pad: begin */
    int64_t in_sz, k_sz, out_sz;  /* spatial element counts */
} iconv_geom;

/* Conv attributes (auto_pad, dilations, group, kernel_shape, pads,
 * strides) checked against x (N, C, D1..Dn) and w (M, C/group, k1..kn). */
static spd_status iconv_geom_make(const spd_node *node, const spd_tensor *x, const spd_tensor *w, iconv_geom *g)
{
    memset(g, 0, sizeof *g);
    if (x->ndim < 3 || w->ndim != x->ndim)
        return spd_errorf(SPD_ERR_INVALID, "x (rank %d) and w (rank %d) must have the same rank >= 3",
                          x->ndim, w->ndim);
    g->nsp = x->ndim - 2;
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->M = w->dims[0];
    g->group = spd_attr_int(node, "group", 1);
    if (g->group < 1 || g->C % g->group || g->M % g->group)
        return spd_errorf(SPD_ERR_INVALID, "group %lld does not divide %lld input and %lld output channels",
                          (long long)g->group, (long long)g->C, (long long)g->M);
    g->Cg = g->C / g->group;
    g->Mg = g->M / g->group;
    if (w->dims[1] != g->Cg)
        return spd_errorf(SPD_ERR_INVALID, "w has %lld input channels, expected %lld", (long long)w->dims[1],
                          (long long)g->Cg);
    size_t n;
    const int64_t *ks = spd_attr_ints(node, "kernel_shape", &n);
    if (ks && (int)n != g->nsp)
        return spd_errorf(SPD_ERR_INVALID, "kernel_shape has %zu values for %d spatial dims", n, g->nsp);
    const int64_t *st = spd_attr_ints(node, "strides", &n);
    if (st && (int)n != g->nsp)
        return spd_errorf(SPD_ERR_INVALID, "strides has %zu values for %d spatial dims", n, g->nsp);
    const int64_t *di = spd_attr_ints(node, "dilations", &n);
    if (di && (int)n != g->nsp)
        return spd_errorf(SPD_ERR_INVALID, "dilations has %zu values for %d spatial dims", n, g->nsp);
    const int64_t *pa = spd_attr_ints(node, "pads", &n);
    if (pa && (int)n != 2 * g->nsp)
        return spd_errorf(SPD_ERR_INVALID, "pads has %zu values, expected %d", n, 2 * g->nsp);
    const char *ap = spd_attr_string(node, "auto_pad", "NOTSET");
    const bool same_upper = !strcmp(ap, "SAME_UPPER"), same_lower = !strcmp(ap, "SAME_LOWER");
    const bool valid = !strcmp(ap, "VALID");
    if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") && *ap)
        return spd_errorf(SPD_ERR_INVALID, "unknown auto_pad '%s'", ap);
    g->in_sz = g->k_sz = g->out_sz = 1;
    for (int d = 0; d < g->nsp; d++) {
        g->in[d] = x->dims[2 + d];
        g->k[d] = w->dims[2 + d];
        if (ks && ks[d] != g->k[d])
            return spd_errorf(SPD_ERR_INVALID, "kernel_shape does not match the weights");
        g->stride[d] = st ? st[d] : 1;
        g->dil[d] = di ? di[d] : 1;
        if (g->stride[d] < 1 || g->dil[d] < 1)
            return spd_errorf(SPD_ERR_INVALID, "strides and dilations must be positive");
        const int64_t ek = (g->k[d] - 1) * g->dil[d] + 1;
        int64_t pb = 0, pe = 0;
        if (same_upper || same_lower) {
            const int64_t o = (g->in[d] + g->stride[d] - 1) / g->stride[d];
            int64_t total = (o - 1) * g->stride[d] + ek - g->in[d];
            if (total < 0) total = 0;
            pb = same_upper ? total / 2 : total - total / 2;
            pe = total - pb;
        } else if (!valid && pa) {
            pb = pa[d];
            pe = pa[d + g->nsp];
            if (pb < 0 || pe < 0) return spd_errorf(SPD_ERR_INVALID, "pads must not be negative");
        }
        g->pad[d] = pb;
        const int64_t span = g->in[d] + pb + pe - ek;
        if (span < 0)
            return spd_errorf(SPD_ERR_INVALID, "the kernel is larger than the padded input");
        g->out[d] = span / g->stride[d] + 1;
        g->in_sz *= g->in[d];
        g->k_sz *= g->k[d];
        g->out_sz *= g->out[d];
    }
    return SPD_OK;
}

/* acc[n][m][p] = sum over c, kernel offsets of (x - xzp) * (w - wzp[m]),
 * where padding contributes 0 (it stands for the zero point). wzp may be
 * NULL, one value or one per output channel. im2col per (image, group),
 * then an integer GEMM. */
static spd_status iconv_run(const iconv_geom *g, const spd_tensor *x, int32_t xzp, const spd_tensor *w,
                            const spd_tensor *wzp, int32_t *acc)
{
    const int64_t rows = g->Cg * g->k_sz, P = g->out_sz;
    if (wzp) {
        const int64_t nz = spd_tensor_numel(wzp);
        if (nz != 1 && nz != g->M)
            return spd_errorf(SPD_ERR_INVALID, "w_zero_point has %lld values for %lld output channels",
                              (long long)nz, (long long)g->M);
    }
    int32_t *col = spd_malloc((size_t)(rows * P + rows * g->Mg + 1) * sizeof(int32_t));
    if (!col) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    int32_t *wm = col + rows * P;
    const int nsp = g->nsp;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t gr = 0; gr < g->group; gr++) {
            /* col[(c, kpos)][p] */
            for (int64_t r = 0; r < rows; r++) {
                const int64_t c = r / g->k_sz;
                int64_t kc[SPD_MAX_DIMS], rem = r % g->k_sz;
                for (int d = nsp - 1; d >= 0; d--) {
                    kc[d] = rem % g->k[d];
                    rem /= g->k[d];
                }
                const int64_t xbase = (n * g->C + gr * g->Cg + c) * g->in_sz;
                int64_t oc[SPD_MAX_DIMS] = {0};
                int32_t *cr = col + r * P;
                for (int64_t p = 0; p < P; p++) {
                    int64_t off = 0;
                    bool inside = true;
                    for (int d = 0; d < nsp; d++) {
                        const int64_t i = oc[d] * g->stride[d] - g->pad[d] + kc[d] * g->dil[d];
                        if (i < 0 || i >= g->in[d]) {
                            inside = false;
                            break;
                        }
                        off = off * g->in[d] + i;
                    }
                    cr[p] = inside ? q_load(x, xbase + off) - xzp : 0;
                    for (int d = nsp - 1; d >= 0; d--) {
                        if (++oc[d] < g->out[d]) break;
                        oc[d] = 0;
                    }
                }
            }
            for (int64_t m = 0; m < g->Mg; m++) {
                const int64_t mo = gr * g->Mg + m;
                const int32_t z = !wzp ? 0 : spd_tensor_numel(wzp) == 1 ? q_load(wzp, 0) : q_load(wzp, mo);
                for (int64_t r = 0; r < rows; r++) wm[m * rows + r] = q_load(w, mo * rows + r) - z;
            }
            for (int64_t m = 0; m < g->Mg; m++) {
                uint32_t *am = (uint32_t *)(acc + (n * g->M + gr * g->Mg + m) * P);
                for (int64_t p = 0; p < P; p++) am[p] = 0;
                for (int64_t r = 0; r < rows; r++) {
                    const int32_t v = wm[m * rows + r];
                    if (!v) continue;
                    const int32_t *cr = col + r * P;
                    for (int64_t p = 0; p < P; p++) am[p] += (uint32_t)(v * cr[p]);
                }
            }
        }
    spd_free(col);
    return SPD_OK;
}

static spd_status iconv_alloc_out(spd_op_ctx *ctx, const iconv_geom *g, spd_dtype dt)
{
    int64_t dims[SPD_MAX_DIMS];
    dims[0] = g->N;
    dims[1] = g->M;
    for (int d = 0; d < g->nsp; d++) dims[2 + d] = g->out[d];
    return spd_tensor_alloc(&ctx->out[0], dt, g->nsp + 2, dims);
}

static spd_status op_conv_integer(spd_op_ctx *ctx)
{
    const spd_tensor *x = in_at(ctx, 0), *w = in_at(ctx, 1), *xzp = in_at(ctx, 2), *wzp = in_at(ctx, 3);
    if (!x || !w) return spd_errorf(SPD_ERR_INVALID, "ConvInteger needs x and w");
    if (!is_8bit(x->dtype) || !is_8bit(w->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "ConvInteger of %s and %s", spd_dtype_name(x->dtype),
                          spd_dtype_name(w->dtype));
    if ((xzp && xzp->dtype != x->dtype) || (wzp && wzp->dtype != w->dtype))
        return spd_errorf(SPD_ERR_INVALID, "zero point types differ from their inputs'");
    if (xzp && spd_tensor_numel(xzp) != 1)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "x_zero_point must be a scalar");
    iconv_geom g;
    SPD_TRY(iconv_geom_make(ctx->node, x, w, &g));
    SPD_TRY(iconv_alloc_out(ctx, &g, SPD_INT32));
    return iconv_run(&g, x, xzp ? q_load(xzp, 0) : 0, w, wzp, (int32_t *)ctx->out[0].data);
}

static spd_status op_qlinear_conv(spd_op_ctx *ctx)
{
    const spd_tensor *x = in_at(ctx, 0), *xs = in_at(ctx, 1), *xzp = in_at(ctx, 2);
    const spd_tensor *w = in_at(ctx, 3), *ws = in_at(ctx, 4), *wzp = in_at(ctx, 5);
    const spd_tensor *ys = in_at(ctx, 6), *yzp = in_at(ctx, 7), *bias = in_at(ctx, 8);
    if (!x || !xs || !w || !ws || !ys)
        return spd_errorf(SPD_ERR_INVALID, "QLinearConv needs x, x_scale, w, w_scale and y_scale");
    if (!is_8bit(x->dtype) || !is_8bit(w->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "QLinearConv of %s and %s", spd_dtype_name(x->dtype),
                          spd_dtype_name(w->dtype));
    if (!is_scale_type(xs->dtype) || !is_scale_type(ws->dtype) || !is_scale_type(ys->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "scales must be float");
    if ((xzp && xzp->dtype != x->dtype) || (wzp && wzp->dtype != w->dtype))
        return spd_errorf(SPD_ERR_INVALID, "zero point types differ from their inputs'");
    const spd_dtype yt = yzp ? yzp->dtype : SPD_UINT8;
    int64_t lo, hi;
    if (!is_8bit(yt) || !q_range(yt, &lo, &hi))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "QLinearConv output of %s", spd_dtype_name(yt));
    if (spd_tensor_numel(xs) != 1 || (xzp && spd_tensor_numel(xzp) != 1) || spd_tensor_numel(ys) != 1 ||
        (yzp && spd_tensor_numel(yzp) != 1))
        return spd_errorf(SPD_ERR_INVALID, "x and y scales and zero points must be scalars");
    if (bias && bias->dtype != SPD_INT32)
        return spd_errorf(SPD_ERR_INVALID, "bias must be int32, got %s", spd_dtype_name(bias->dtype));

    iconv_geom g;
    SPD_TRY(iconv_geom_make(ctx->node, x, w, &g));
    const int64_t nws = spd_tensor_numel(ws);
    if (nws != 1 && nws != g.M)
        return spd_errorf(SPD_ERR_INVALID, "w_scale has %lld values for %lld output channels", (long long)nws,
                          (long long)g.M);
    if (bias && spd_tensor_numel(bias) != g.M)
        return spd_errorf(SPD_ERR_INVALID, "bias has %lld values for %lld output channels",
                          (long long)spd_tensor_numel(bias), (long long)g.M);
    SPD_TRY(iconv_alloc_out(ctx, &g, yt));
    const int64_t total = g.N * g.M * g.out_sz;
    int32_t *acc = spd_malloc((size_t)(total + 1) * sizeof(int32_t));
    if (!acc) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_status s = iconv_run(&g, x, xzp ? q_load(xzp, 0) : 0, w, wzp, acc);
    if (s == SPD_OK) {
        const float xsc = (float)spd_tensor_get(xs, 0), ysc = (float)spd_tensor_get(ys, 0);
        const int64_t yz = yzp ? q_load(yzp, 0) : 0;
        spd_tensor *y = &ctx->out[0];
        int64_t e = 0;
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t m = 0; m < g.M; m++) {
                const float mult = xsc * (float)spd_tensor_get(ws, nws == 1 ? 0 : m) / ysc;
                const uint32_t b = bias ? (uint32_t)((const int32_t *)bias->data)[m] : 0;
                for (int64_t p = 0; p < g.out_sz; p++, e++) {
                    const int32_t a = (int32_t)((uint32_t)acc[e] + b);
                    q_store(y, e, q_sat((double)rintf((float)a * mult) + (double)yz, lo, hi));
                }
            }
    }
    spd_free(acc);
    return s;
}

const spd_op_def spd_ops_quant[] = {
    {"QuantizeLinear", "", 10, 21, op_quantize_linear},
    {"DequantizeLinear", "", 10, 21, op_dequantize_linear},
    {"DynamicQuantizeLinear", "", 11, 21, op_dynamic_quantize_linear},
    {"MatMulInteger", "", 10, 21, op_matmul_integer},
    {"QLinearMatMul", "", 10, 21, op_qlinear_matmul},
    {"ConvInteger", "", 10, 21, op_conv_integer},
    {"QLinearConv", "", 10, 21, op_qlinear_conv},
};
const int spd_ops_quant_count = (int)(sizeof spd_ops_quant / sizeof spd_ops_quant[0]);
