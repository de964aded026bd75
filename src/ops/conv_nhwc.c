/* ai.speedster NhwcConv: FusedConv (act(Conv(X, W, B) + Z)) with X, Z and
 * Y channels-last, [N, H, W, C]; W stays ONNX's [M, C/group, KH, KW].
 * Attributes: Conv's (kernel_shape, strides, pads, dilations, group,
 * auto_pad) and FusedConv's (activation, activation_params). 2-D only,
 * group 1 or depthwise (group = C = M).
 *
 * Why channels-last: depthwise-separable networks (keyword spotting,
 * MobileNet) alternate 1x1 convolutions with depthwise ones on small
 * planes. Channels-first, a 1x1 convolution is W[M x C] * X[C x HW] with
 * HW (125, 196, 49) as the GEMM's columns: short rows that straddle cache
 * lines and a ragged last panel. Channels-last it is X[HW x C] * W^T[C x M]:
 * the weights are the prepacked B, the channel counts (multiples of 8) its
 * columns, and the depthwise convolution runs along contiguous channel
 * vectors. The layout changes are placed once per region by
 * passes/layout_nhwc.c, not per node. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ir/op.h"
#include "ops/conv.h"
#include "ops/conv_nhwc.h"
#include "ops/gemm.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"
#include "util/threadpool.h"

#define NHWC_PREP_MAGIC 0x6e687763u


/* Weights rearranged once: group 1, W^T as [KH*KW*C, M] (rows in the order
 * im2col writes a pixel's taps) prepacked for `kern`; depthwise, one channel
 * vector per tap, [KH*KW][C]. */
typedef struct nhwc_prep {
    uint32_t magic;
    const spd_sgemm_kernel *kern;
    int64_t K, M;
    float *wpack;
    float *wdw;
    spd_nhwc_attrs attrs;
} nhwc_prep;

static void prep_free(void *p)
{
    nhwc_prep *s = p;
    if (!s) return;
    spd_free(s->wpack);
    spd_free(s->wdw);
    spd_free(s);
}

/* wr[(t*C + c)*M + m] = W[m][c][t] */
static void reorder_w(const float *w, int64_t M, int64_t C, int64_t T, float *wr)
{
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < T; t++) wr[(t * C + c) * M + m] = w[(m * C + c) * T + t];
}

static bool is_depthwise(int64_t group, const int64_t *wdims) { return group > 1 && group == wdims[0] && wdims[1] == 1; }

static spd_status nhwc_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                               void **state, void (**state_free)(void *))
{
    (void)opset;
    const spd_tensor *W = n_in > 1 ? consts[1] : NULL;
    if (!W || W->dtype != SPD_FLOAT || W->ndim != 4 || !W->data) return SPD_OK;
    const int64_t group = spd_attr_int(node, "group", 1), M = W->dims[0], C = W->dims[1];
    const int64_t T = W->dims[2] * W->dims[3];
    if (M < 1 || C < 1 || T < 1) return SPD_OK;
    nhwc_prep *s = spd_calloc(1, sizeof *s);
    if (!s) return SPD_OK;
    if (spd_nhwc_parse_attrs(node, &s->attrs) != SPD_OK) { /* the call reports it */
        spd_error_clear();
        goto fail;
    }
    s->magic = NHWC_PREP_MAGIC;
    s->M = M;
    if (is_depthwise(group, W->dims)) {
        s->wdw = spd_malloc((size_t)(M * T) * sizeof(float));
        if (!s->wdw) goto fail;
        spd_nhwc_dw_weights(W->data, M, T, s->wdw);
    } else if (group == 1) {
        const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
        if (!kern) goto fail; /* the reference reads W^T raw, rearranged per call */
        s->kern = kern;
        s->K = C * T;
        float *wr = spd_malloc((size_t)(s->K * M) * sizeof(float));
        s->wpack = spd_malloc(spd_sgemm_prepacked_b_floats(kern, s->K, M) * sizeof(float));
        if (!wr || !s->wpack) {
            spd_free(wr);
            goto fail;
        }
        reorder_w(W->data, M, C, T, wr);
        spd_sgemm_prepack_b(kern, 0, s->K, M, wr, M, s->wpack);
        spd_free(wr);
    } else {
        goto fail;
    }
    *state = s;
    *state_free = prep_free;
    return SPD_OK;
fail:
    prep_free(s);
    return SPD_OK;
}

/* pads: top, left, bottom, right, as ONNX orders them */
static spd_status pads_for(const spd_nhwc_attrs *a, int axis, int64_t in, int64_t k, int64_t s, int64_t d,
                           int64_t *begin, int64_t *out)
{
    const int64_t ek = (k - 1) * d + 1;
    if (a->pad == SPD_NHWC_PAD_SAME_UPPER || a->pad == SPD_NHWC_PAD_SAME_LOWER) {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + ek - in;
        if (total < 0) total = 0;
        *begin = a->pad == SPD_NHWC_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        return SPD_OK;
    }
    const int64_t pb = a->pad == SPD_NHWC_PAD_VALID ? 0 : a->pads[axis], pe = a->pad == SPD_NHWC_PAD_VALID ? 0 : a->pads[2 + axis];
    if (in + pb + pe < ek)
        return spd_errorf(SPD_ERR_INVALID, "kernel extent %lld on spatial axis %d exceeds the padded input size %lld",
                          (long long)ek, axis, (long long)(in + pb + pe));
    *begin = pb;
    *out = (in + pb + pe - ek) / s + 1;
    return SPD_OK;
}

static spd_status two_ints(const spd_node *node, const char *name, int64_t *a, int64_t *b)
{
    size_t n;
    const int64_t *v = spd_attr_ints(node, name, &n);
    if (!v) return SPD_OK;
    if (n != 2) return spd_errorf(SPD_ERR_INVALID, "%s has %zu values for a 2-D convolution (wants 2)", name, n);
    if (v[0] < 1 || v[1] < 1) return spd_errorf(SPD_ERR_INVALID, "%s must be positive", name);
    *a = v[0];
    *b = v[1];
    return SPD_OK;
}

spd_status spd_nhwc_parse_attrs(const spd_node *node, spd_nhwc_attrs *a)
{
    memset(a, 0, sizeof *a);
    a->group = spd_attr_int(node, "group", 1);
    a->sh = a->sw = a->dh = a->dw = 1;
    SPD_TRY(two_ints(node, "strides", &a->sh, &a->sw));
    SPD_TRY(two_ints(node, "dilations", &a->dh, &a->dw));
    size_t nk;
    const int64_t *ks = spd_attr_ints(node, "kernel_shape", &nk);
    if (ks && nk != 2) return spd_errorf(SPD_ERR_INVALID, "kernel_shape has %zu values for a 2-D convolution", nk);
    if (ks) {
        a->has_ks = true;
        a->ks[0] = ks[0];
        a->ks[1] = ks[1];
    }
    const char *ap = spd_attr_string(node, "auto_pad", "NOTSET");
    if (!strcmp(ap, "SAME_UPPER"))
        a->pad = SPD_NHWC_PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER"))
        a->pad = SPD_NHWC_PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID"))
        a->pad = SPD_NHWC_PAD_VALID;
    else if (strcmp(ap, "NOTSET"))
        return spd_errorf(SPD_ERR_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", ap);
    size_t np;
    const int64_t *p = spd_attr_ints(node, "pads", &np);
    if (a->pad == SPD_NHWC_PAD_NOTSET && p) {
        if (np != 4) return spd_errorf(SPD_ERR_INVALID, "pads has %zu values for a 2-D convolution (wants 4)", np);
        for (int i = 0; i < 4; i++) {
            if (p[i] < 0) return spd_errorf(SPD_ERR_INVALID, "negative pads");
            a->pads[i] = p[i];
        }
    }
    return spd_conv_act_attrs(node, &a->ac);
}

spd_status spd_nhwc_make_geom(const spd_nhwc_attrs *a, const spd_tensor *X, const spd_tensor *W, spd_nhwc_geom *g)
{
    if (X->dtype != SPD_FLOAT || W->dtype != SPD_FLOAT)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "NhwcConv on %s and %s (float only)", spd_dtype_name(X->dtype),
                          spd_dtype_name(W->dtype));
    if (X->ndim != 4 || W->ndim != 4)
        return spd_errorf(SPD_ERR_INVALID, "NhwcConv wants X [N, H, W, C] and W [M, C/group, KH, KW] (ranks %d and %d)",
                          X->ndim, W->ndim);
    memset(g, 0, sizeof *g);
    g->N = X->dims[0];
    g->H = X->dims[1];
    g->W = X->dims[2];
    g->C = X->dims[3];
    g->M = W->dims[0];
    g->KH = W->dims[2];
    g->KW = W->dims[3];
    g->depthwise = is_depthwise(a->group, W->dims);
    if (g->depthwise ? g->C != a->group : (a->group != 1 || W->dims[1] != g->C))
        return spd_errorf(SPD_ERR_UNSUPPORTED,
                          "NhwcConv runs group 1 or depthwise (group = channels = filters): X has %lld channels, W is "
                          "[%lld, %lld, ...], group %lld",
                          (long long)g->C, (long long)W->dims[0], (long long)W->dims[1], (long long)a->group);
    if (g->H < 1 || g->W < 1 || g->KH < 1 || g->KW < 1) return spd_errorf(SPD_ERR_INVALID, "empty plane or kernel");
    if (a->has_ks && (a->ks[0] != g->KH || a->ks[1] != g->KW))
        return spd_errorf(SPD_ERR_INVALID, "kernel_shape does not match W's [%lld, %lld]", (long long)g->KH,
                          (long long)g->KW);
    g->sh = a->sh;
    g->sw = a->sw;
    g->dh = a->dh;
    g->dw = a->dw;
    SPD_TRY(pads_for(a, 0, g->H, g->KH, g->sh, g->dh, &g->pt, &g->OH));
    SPD_TRY(pads_for(a, 1, g->W, g->KW, g->sw, g->dw, &g->pl, &g->OW));
    g->pointwise = g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 &&
                   g->OH == g->H && g->OW == g->W;
    return SPD_OK;
}

/* ------------------------------------------------------------- group 1 */

typedef struct im2col_job {
    const spd_nhwc_geom *g;
    const float *xp; /* X zero-padded to Hp x Wp (pad_source) */
    int64_t Hp, Wp;
    float *col;
} im2col_job;

static void put(float *d, const float *s, int64_t n)
{
    if (n < 16)
        for (int64_t i = 0; i < n; i++) d[i] = s[i];
    else
        memcpy(d, s, (size_t)n * sizeof(float));
}

static void zero(float *d, int64_t n)
{
    if (n < 16)
        for (int64_t i = 0; i < n; i++) d[i] = 0.0f;
    else
        memset(d, 0, (size_t)n * sizeof(float));
}

/* X with the padding written out, over the rows and columns the taps
 * reach: im2col then copies every kernel row's run without a bounds test.
 * The per-pixel tests cost more than the copies for a stem of 1 channel
 * (kws_dscnn's 10x4 taps: 10% of the whole model's time). */
static void pad_source(const spd_nhwc_geom *g, const float *x, float *xp, int64_t Hp, int64_t Wp)
{
    const int64_t C = g->C, left = g->pl < Wp ? g->pl : Wp;
    const int64_t cols = g->W < Wp - left ? g->W : Wp - left; /* X's columns that some tap reads */
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t py = 0; py < Hp; py++) {
            float *d = xp + (n * Hp + py) * Wp * C;
            const int64_t iy = py - g->pt;
            if (iy < 0 || iy >= g->H || cols <= 0) {
                zero(d, Wp * C);
                continue;
            }
            zero(d, left * C);
            put(d + left * C, x + (n * g->H + iy) * g->W * C, cols * C);
            zero(d + (left + cols) * C, (Wp - left - cols) * C);
        }
}

/* The KH kernel rows of one pixel's taps, run floats each, row_step apart
 * in the source; inlined with run constant for the common short runs, so
 * each is one or two moves (a 1-channel stem's 10x4 taps are 1250 runs of
 * 4 floats; a copy loop per run took 5% of keyword spotting's time). */
static inline __attribute__((always_inline)) float *pixel_rows(float *d, const float *s, int64_t KH, int64_t row_step,
                                                              int64_t run)
{
    for (int64_t ky = 0; ky < KH; ky++, s += row_step, d += run) memcpy(d, s, (size_t)run * sizeof(float));
    return d;
}

/* The rows of output row (n, oy): per pixel and kernel row, the taps'
 * channel runs, which lie end to end when the dilation is 1 (one copy per
 * kernel row: a stem's 1 or 3 channels per tap go 4-10 at once). */
static void im2col_task(void *ctx, int64_t t)
{
    const im2col_job *j = ctx;
    const spd_nhwc_geom *g = j->g;
    const int64_t n = t / g->OH, oy = t % g->OH, C = g->C, KW = g->KW, KH = g->KH, run = KW * C;
    const int64_t row_step = g->dh * j->Wp * C, px_step = g->sw * C;
    float *d = j->col + t * g->OW * KH * run;
    const float *top = j->xp + (n * j->Hp + oy * g->sh) * j->Wp * C;
    if (g->dw != 1) {
        for (int64_t ox = 0; ox < g->OW; ox++) {
            const float *s = top + ox * px_step;
            for (int64_t ky = 0; ky < KH; ky++, s += row_step, d += run)
                for (int64_t kx = 0; kx < KW; kx++) put(d + kx * C, s + kx * g->dw * C, C);
        }
        return;
    }
#define PIXELS(RUN)                                                                                                    \
    for (int64_t ox = 0; ox < g->OW; ox++) d = pixel_rows(d, top + ox * px_step, KH, row_step, RUN);
    switch (run) {
    case 3: PIXELS(3) break;
    case 4: PIXELS(4) break;
    case 5: PIXELS(5) break;
    case 9: PIXELS(9) break;
    case 21: PIXELS(21) break;
    default: PIXELS(run) break;
    }
#undef PIXELS
}

static spd_status conv_gemm_nhwc(const spd_nhwc_geom *g, const nhwc_prep *prep, const float *x, const float *w,
                                 const float *bias, const float *z, const spd_act *ac, float *y)
{
    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    const int64_t T = g->KH * g->KW, K = T * g->C, P = g->N * g->OH * g->OW;
    spd_gemm_a A = {.trans = 0, .p = x, .ld = g->C};
    const bool packed = prep && prep->wpack && kern && prep->kern == kern && prep->K == K && prep->M == g->M;
    /* the rows and columns the taps span, from the first padded one */
    const int64_t Hp = (g->OH - 1) * g->sh + (g->KH - 1) * g->dh + 1;
    const int64_t Wp = (g->OW - 1) * g->sw + (g->KW - 1) * g->dw + 1;
    if (!g->pointwise && packed && spd_nhwc_implicit_fits(kern, g, ac)) {
        float *xp = spd_scratch(SPD_SCRATCH_CONV_SRC, (size_t)(g->N * Hp * Wp * g->C) * sizeof(float));
        if (!xp) return spd_errorf(SPD_ERR_NOMEM, "out of memory for the padded input");
        pad_source(g, x, xp, Hp, Wp);
        spd_nhwc_implicit(kern, g, xp, Hp, Wp, prep->wpack, bias, z, ac, y, spd_thread_count());
        return SPD_OK;
    }
    if (!g->pointwise) {
        const int64_t col_n = (P * K + 15) / 16 * 16; /* the padded source after it, 64-byte aligned */
        float *col = spd_scratch(SPD_SCRATCH_CONV_SRC, (size_t)(col_n + g->N * Hp * Wp * g->C) * sizeof(float));
        if (!col) return spd_errorf(SPD_ERR_NOMEM, "out of memory for the %lld x %lld column matrix", (long long)P, (long long)K);
        pad_source(g, x, col + col_n, Hp, Wp);
        im2col_job j = {g, col + col_n, Hp, Wp, col};
        if (P * K < 16384)
            for (int64_t t = 0; t < g->N * g->OH; t++) im2col_task(&j, t);
        else
            spd_parallel_for(g->N * g->OH, im2col_task, &j);
        A.p = col;
        A.ld = K;
    }
    spd_gemm_b B = {.trans = 0};
    if (packed) {
        B.packed = prep->wpack;
    } else {
        float *wr = spd_scratch(SPD_SCRATCH_OP, (size_t)(K * g->M) * sizeof(float));
        if (!wr) return spd_errorf(SPD_ERR_NOMEM, "out of memory for the rearranged weights");
        reorder_w(w, g->M, g->C, T, wr);
        B.p = wr;
        B.ld = g->M;
    }
    const spd_gemm_epi epi = {.ac = ac, .z = z, .ldz = g->M, .col_bias = bias};
    return spd_gemm_run(kern, P, g->M, K, 1.0f, &A, &B, 0.0f, y, g->M, &epi, spd_thread_count());
}

/* ------------------------------------------------------------ the op */

static spd_status op_nhwc_conv(spd_op_ctx *ctx)
{
    if (ctx->n_inputs < 2 || !ctx->in[0] || !ctx->in[1]) return spd_errorf(SPD_ERR_INVALID, "needs inputs X and W");
    const spd_tensor *X = ctx->in[0], *W = ctx->in[1];
    const spd_tensor *B = ctx->n_inputs > 2 ? ctx->in[2] : NULL, *Z = ctx->n_inputs > 3 ? ctx->in[3] : NULL;
    const nhwc_prep *prep = ctx->state && ((const nhwc_prep *)ctx->state)->magic == NHWC_PREP_MAGIC ? ctx->state : NULL;
    spd_nhwc_attrs parsed;
    const spd_nhwc_attrs *at = prep ? &prep->attrs : &parsed;
    if (!prep) SPD_TRY(spd_nhwc_parse_attrs(ctx->node, &parsed));
    spd_nhwc_geom g;
    SPD_TRY(spd_nhwc_make_geom(at, X, W, &g));
    if (B && (B->dtype != SPD_FLOAT || B->ndim != 1 || B->dims[0] != g.M))
        return spd_errorf(SPD_ERR_INVALID, "B must be float with %lld values", (long long)g.M);
    const int64_t ydims[4] = {g.N, g.OH, g.OW, g.M};
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], SPD_FLOAT, 4, ydims));
    if (Z && (Z->dtype != SPD_FLOAT || !spd_tensor_same_shape(Z, &ctx->out[0])))
        return spd_errorf(SPD_ERR_INVALID, "Z must have the output's type and shape [%lld, %lld, %lld, %lld]",
                          (long long)g.N, (long long)g.OH, (long long)g.OW, (long long)g.M);
    if (spd_tensor_numel(&ctx->out[0]) == 0) return SPD_OK;
    const float *x = X->data, *w = W->data, *b = B ? B->data : NULL, *z = Z ? Z->data : NULL;
    float *y = ctx->out[0].data;
    const spd_act *acp = at->ac.kind == SPD_ACT_NONE ? NULL : &at->ac;
    if (g.depthwise)
        return spd_nhwc_depthwise(&g, x, prep && prep->wdw && prep->M == g.C ? prep->wdw : NULL, w, b, z, acp, y);
    return conv_gemm_nhwc(&g, prep, x, w, b, z, acp, y);
}

const spd_op_def spd_ops_conv_nhwc[] = {
    {"NhwcConv", "ai.speedster", 1, 1, op_nhwc_conv, nhwc_prepare},
};
const int spd_ops_conv_nhwc_count = (int)(sizeof spd_ops_conv_nhwc / sizeof spd_ops_conv_nhwc[0]);
