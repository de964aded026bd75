/* Conv and ConvTranspose, 1-D to N-D, grouped, dilated, strided and padded.
 *
 * Both reduce to a GEMM per (image, group):
 *   Conv:          Y_g = W_g * im2col(X_g)
 *   ConvTranspose: Y_g = col2im(W_g^T * X_g)
 * The two share one geometry: a "big" grid (Conv's input, ConvTranspose's
 * output) and a "small" grid (Conv's output, ConvTranspose's input) related by
 *   big = small * stride - pad_begin + kernel_pos * dilation.
 *
 * Conv's GEMM runs on the packed-GEMM driver (ops/sgemm_fast.h): a constant
 * W is packed once, on first use (state made by spd_conv_prepare, the
 * prepare hook), any other once per call; the column matrix is never materialised: each
 * task packs the im2col tile it needs straight into the kernel's B panels,
 * for 2-D kernels from a padded, phase-split copy of X (ops/conv_pack.h;
 * 1x1 stride-1 unpadded kernels read X itself). Small output grids (7x7,
 * 14x14) run transposed, positions on the kernel's short side. The driver splits the
 * output into row x column blocks over the threads and applies the bias, the
 * residual Z and the activation (FusedConv's epilogue) to each block while it
 * is in cache. Without a packed kernel (SPEEDSTER_ISA=ref) a full im2col
 * buffer feeds the reference GEMM. 2-D depthwise Conv is a direct loop (a
 * GEMM with one row would waste the packing).
 *
 * float32 is computed directly; float16, bfloat16 and double are converted to
 * float32 and back. ConvTranspose's GEMMs run on spd_sgemm; col2im and the
 * depthwise loop run on the thread pool split by channel. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ir/op.h"
#include "ops/conv.h"
#include "ops/conv_dw.h"
#include "ops/conv_implicit.h"
#include "ops/conv_pack.h"
#include "ops/conv_taps.h"
#include "ops/conv_wino.h"
#include "ops/gemm.h"
#include "ops/gemv.h"
#include "ops/sgemm_fast.h"
#include "ops/transpose2d.h"
#include "ops/vmath.h"
#include "util/threadpool.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"

typedef struct geom {
    int nd;                      /* spatial dims */
    int64_t big[SPD_MAX_DIMS];
    int64_t small[SPD_MAX_DIMS];
    int64_t k[SPD_MAX_DIMS];     /* kernel */
    int64_t s[SPD_MAX_DIMS];     /* strides */
    int64_t d[SPD_MAX_DIMS];     /* dilations */
    int64_t pb[SPD_MAX_DIMS];    /* padding at the start of each big axis */
    int64_t pe[SPD_MAX_DIMS];    /* and at its end */
    int64_t big_n, small_n, k_n; /* element counts of one channel */
} geom;

/* What FusedConv adds to the convolution: act(Conv(X, W, B) + Z); z is
 * float32 with the output's shape, or NULL. */
typedef struct conv_prep conv_prep;
typedef struct conv_epi {
    spd_act ac;
    const float *z;
    conv_prep *prep; /* Conv's prepared weights, or NULL */
    int64_t y_image; /* floats from one image's output to the next; 0: M x the plane (dense) */
} conv_epi;

/* ---- float32 views of tensors of other float types ---------------------- */

static bool is_conv_dtype(spd_dtype t)
{
    return t == SPD_FLOAT || t == SPD_FLOAT16 || t == SPD_BFLOAT16 || t == SPD_DOUBLE;
}

/* *out points at t's data when it is float32, else at a converted copy that
 * the caller frees with spd_free(*owned). */
static spd_status as_f32(const spd_tensor *t, const float **out, float **owned)
{
    *owned = NULL;
    if (t->dtype == SPD_FLOAT) {
        *out = (const float *)t->data;
        return SPD_OK;
    }
    int64_t n = spd_tensor_numel(t);
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

/* Stores n float32 values into t (already allocated with its own dtype). */
static void store_from_f32(spd_tensor *t, const float *src, int64_t n)
{
    if (t->dtype == SPD_FLOAT16)
        for (int64_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = spd_f32_to_f16(src[i]);
    else if (t->dtype == SPD_BFLOAT16)
        for (int64_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = spd_f32_to_bf16(src[i]);
    else if (t->dtype == SPD_DOUBLE)
        for (int64_t i = 0; i < n; i++) ((double *)t->data)[i] = src[i];
}

/* ---- attributes ------------------------------------------------------------ */

/* prefix + name in buf: a branch of ai.speedster ConvConcat carries its
 * attributes as b0_kernel_shape, b0_strides, ...; Conv's prefix is "". */
static const char *attr_name(char *buf, size_t size, const char *prefix, const char *name)
{
    snprintf(buf, size, "%s%s", prefix, name);
    return buf;
}

/* An INTS attribute of exactly `want` values into out[], or dflt everywhere
 * when absent. */
static spd_status ints_attr(const spd_node *node, const char *prefix, const char *base, int want, int64_t dflt,
                            int64_t *out)
{
    char name[64];
    attr_name(name, sizeof name, prefix, base);
    size_t n = 0;
    const int64_t *v = spd_attr_ints(node, name, &n);
    if (!v || n == 0) {
        for (int i = 0; i < want; i++) out[i] = dflt;
        return SPD_OK;
    }
    if ((int64_t)n != want)
        return spd_errorf(SPD_ERR_INVALID, "%s has %zu values, expected %d", name, n, want);
    memcpy(out, v, (size_t)want * sizeof(int64_t));
    return SPD_OK;
}

typedef enum pad_mode { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID } pad_mode;

static spd_status parse_auto_pad(const spd_node *node, const char *prefix, pad_mode *m)
{
    char name[64];
    const char *s = spd_attr_string(node, attr_name(name, sizeof name, prefix, "auto_pad"), "NOTSET");
    if (!strcmp(s, "NOTSET") || !*s) *m = PAD_NOTSET;
    else if (!strcmp(s, "SAME_UPPER")) *m = PAD_SAME_UPPER;
    else if (!strcmp(s, "SAME_LOWER")) *m = PAD_SAME_LOWER;
    else if (!strcmp(s, "VALID")) *m = PAD_VALID;
    else return spd_errorf(SPD_ERR_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", s);
    return SPD_OK;
}

/* kernel_shape (checked against W's spatial dims), strides, dilations and
 * explicit pads, shared by Conv and ConvTranspose. */
static spd_status parse_common(const spd_node *node, const char *prefix, const spd_tensor *W, geom *g)
{
    int nd = g->nd;
    int64_t ks[SPD_MAX_DIMS], pads[2 * SPD_MAX_DIMS];
    SPD_TRY(ints_attr(node, prefix, "kernel_shape", nd, -1, ks));
    SPD_TRY(ints_attr(node, prefix, "strides", nd, 1, g->s));
    SPD_TRY(ints_attr(node, prefix, "dilations", nd, 1, g->d));
    SPD_TRY(ints_attr(node, prefix, "pads", 2 * nd, 0, pads));
    g->k_n = 1;
    for (int i = 0; i < nd; i++) {
        g->k[i] = W->dims[2 + i];
        if (ks[i] != -1 && ks[i] != g->k[i])
            return spd_errorf(SPD_ERR_INVALID, "kernel_shape[%d] = %lld but W has %lld there", i,
                              (long long)ks[i], (long long)g->k[i]);
        if (g->k[i] < 1) return spd_errorf(SPD_ERR_INVALID, "W has an empty kernel axis %d", i);
        if (g->s[i] < 1) return spd_errorf(SPD_ERR_INVALID, "strides[%d] = %lld is not positive", i, (long long)g->s[i]);
        if (g->d[i] < 1) return spd_errorf(SPD_ERR_INVALID, "dilations[%d] = %lld is not positive", i, (long long)g->d[i]);
        if (pads[i] < 0 || pads[nd + i] < 0)
            return spd_errorf(SPD_ERR_INVALID, "pads on axis %d are negative", i);
        g->pb[i] = pads[i];
        g->pe[i] = pads[nd + i];
        g->k_n *= g->k[i];
    }
    return SPD_OK;
}

static void count_grids(geom *g)
{
    g->big_n = spd_dims_prod(g->big, 0, g->nd);
    g->small_n = spd_dims_prod(g->small, 0, g->nd);
}

/* ---- im2col / col2im --------------------------------------------------------- */

/* The small positions o in [*lo, *hi) whose big position o*s + off lies in
 * [0, nbig). */
static void valid_range(int64_t nsmall, int64_t nbig, int64_t off, int64_t s, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = nbig - off <= 0 ? 0 : (nbig - 1 - off) / s + 1;
    if (a > nsmall) a = nsmall;
    if (b > nsmall) b = nsmall;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* Both im2col and col2im walk every (channel, kernel position) row of the
 * column matrix and, within a row, every line of the small grid along its
 * last axis. These helpers locate a line in the big grid. */

/* The kernel position kk (row-major over the kernel) as per-axis offsets. */
static void kernel_pos(const geom *g, int64_t kk, int64_t *kp)
{
    for (int a = g->nd - 1; a >= 0; a--) {
        kp[a] = kk % g->k[a];
        kk /= g->k[a];
    }
}

/* For the line at small coordinates op[0..nd-2] and kernel position kp: the
 * offset within one big-grid channel of the element that small position 0 of
 * the line would map to (it may itself be in padding), or false when the
 * whole line lies in padding. */
static bool line_base(const geom *g, const int64_t *kp, const int64_t *op, int64_t *base)
{
    const int last = g->nd - 1;
    int64_t b = 0;
    for (int a = 0; a < last; a++) {
        const int64_t i = op[a] * g->s[a] + kp[a] * g->d[a] - g->pb[a];
        if (i < 0 || i >= g->big[a]) return false;
        b = b * g->big[a] + i;
    }
    *base = b * g->big[last] + kp[last] * g->d[last] - g->pb[last];
    return true;
}

/* Advances op to the next line (odometer over all but the last axis). */
static void next_line(const geom *g, int64_t *op)
{
    for (int a = g->nd - 2; a >= 0; a--) {
        if (++op[a] < g->small[a]) return;
        op[a] = 0;
    }
}

/* col[(c*k_n + kpos) * small_n + o] = x[c][big position of (o, kpos)], or 0
 * where that position is padding. */
static void im2col(const geom *g, const float *x, int64_t channels, float *col)
{
    const int last = g->nd - 1;
    const int64_t line = g->small[last], lines = line ? g->small_n / line : 0, step = g->s[last];
    for (int64_t c = 0; c < channels; c++) {
        const float *xc = x + c * g->big_n;
        for (int64_t kk = 0; kk < g->k_n; kk++) {
            int64_t kp[SPD_MAX_DIMS], op[SPD_MAX_DIMS] = {0}, lo, hi;
            kernel_pos(g, kk, kp);
            valid_range(line, g->big[last], kp[last] * g->d[last] - g->pb[last], step, &lo, &hi);
            float *row = col + (c * g->k_n + kk) * g->small_n;
            for (int64_t l = 0; l < lines; l++, next_line(g, op)) {
                float *cl = row + l * line;
                int64_t base;
                if (!line_base(g, kp, op, &base)) {
                    memset(cl, 0, (size_t)line * sizeof(float));
                    continue;
                }
                for (int64_t o = 0; o < lo; o++) cl[o] = 0.0f;
                if (step == 1)
                    for (int64_t o = lo; o < hi; o++) cl[o] = xc[base + o];
                else
                    for (int64_t o = lo; o < hi; o++) cl[o] = xc[base + o * step];
                for (int64_t o = hi; o < line; o++) cl[o] = 0.0f;
            }
        }
    }
}

/* The adjoint of im2col: y[c][big position of (o, kpos)] += col[...]. */
static void col2im(const geom *g, const float *col, int64_t channels, float *y)
{
    const int last = g->nd - 1;
    const int64_t line = g->small[last], lines = line ? g->small_n / line : 0, step = g->s[last];
    for (int64_t c = 0; c < channels; c++) {
        float *yc = y + c * g->big_n;
        for (int64_t kk = 0; kk < g->k_n; kk++) {
            int64_t kp[SPD_MAX_DIMS], op[SPD_MAX_DIMS] = {0}, lo, hi;
            kernel_pos(g, kk, kp);
            valid_range(line, g->big[last], kp[last] * g->d[last] - g->pb[last], step, &lo, &hi);
            const float *row = col + (c * g->k_n + kk) * g->small_n;
            for (int64_t l = 0; l < lines; l++, next_line(g, op)) {
                const float *cl = row + l * line;
                int64_t base;
                if (!line_base(g, kp, op, &base)) continue;
                if (step == 1)
                    for (int64_t o = lo; o < hi; o++) yc[base + o] += cl[o];
                else
                    for (int64_t o = lo; o < hi; o++) yc[base + o * step] += cl[o];
            }
        }
    }
}

/* Channel-parallel im2col / col2im / depthwise: channels are independent
 * (each writes its own rows of col, or its own plane of y). */
typedef struct chan_job {
    const geom *g;
    const float *in;
    const float *w;
    float *out;
    int64_t channels; /* per image, for the depthwise planes */
    const float *bias; /* depthwise: per channel, or NULL */
    const conv_epi *epi;
} chan_job;

/* Below this many floats moved, waking the pool costs more than it saves. */
#define PARALLEL_MIN 65536

static void im2col_task(void *ctx, int64_t c)
{
    const chan_job *j = ctx;
    im2col(j->g, j->in + c * j->g->big_n, 1, j->out + c * j->g->k_n * j->g->small_n);
}

static void col2im_task(void *ctx, int64_t c)
{
    const chan_job *j = ctx;
    col2im(j->g, j->in + c * j->g->k_n * j->g->small_n, 1, j->out + c * j->g->big_n);
}

static void im2col_par(const geom *g, const float *x, int64_t channels, float *col)
{
    chan_job j = {g, x, NULL, col, channels, NULL, NULL};
    if (channels * g->k_n * g->small_n < PARALLEL_MIN) im2col(g, x, channels, col);
    else spd_parallel_for(channels, im2col_task, &j);
}

static void col2im_par(const geom *g, const float *col, int64_t channels, float *y)
{
    chan_job j = {g, col, NULL, y, channels, NULL, NULL};
    if (channels * g->k_n * g->small_n < PARALLEL_MIN) col2im(g, col, channels, y);
    else spd_parallel_for(channels, col2im_task, &j);
}

/* ---- Conv -------------------------------------------------------------------- */

/* Depthwise 2-D: one filter per channel, convolved directly. Padding is
 * handled by clipping each kernel row's output range, not by branching per
 * element. y must hold the bias (or zeros). */
static void depthwise2d(const geom *g, const float *x, const float *w, float *y, int64_t channels)
{
    const int64_t H = g->big[0], Wd = g->big[1], OH = g->small[0], OW = g->small[1];
    const int64_t KH = g->k[0], KW = g->k[1], sy = g->s[0], sx = g->s[1];
    for (int64_t c = 0; c < channels; c++) {
        const float *xc = x + c * H * Wd, *wc = w + c * KH * KW;
        float *yc = y + c * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++) {
            float *yr = yc + oy * OW;
            for (int64_t ky = 0; ky < KH; ky++) {
                int64_t iy = oy * sy + ky * g->d[0] - g->pb[0];
                if (iy < 0 || iy >= H) continue;
                const float *xr = xc + iy * Wd;
                for (int64_t kx = 0; kx < KW; kx++) {
                    const float wv = wc[ky * KW + kx];
                    const int64_t off = kx * g->d[1] - g->pb[1];
                    int64_t lo, hi;
                    valid_range(OW, Wd, off, sx, &lo, &hi);
                    if (sx == 1) {
                        const float *xs = xr + off;
                        for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xs[ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * sx + off];
                    }
                }
            }
        }
    }
}

/* Whether the depthwise planes of g take the AVX2 kernels (ops/conv_dw.h). */
static bool dw_avx2(const geom *g)
{
    return g->d[0] == 1 && g->d[1] == 1 && g->s[0] <= 2 && g->s[1] <= 2 && g->k[0] <= 64 && spd_vmath_avx2();
}

/* A depthwise call: N*C planes, `per` to a task. */
typedef struct dw_job {
    chan_job j;
    spd_dw_params dp;
    bool avx2, avx512;
    bool phases; /* dilated: by depthwise_phases */
    int64_t per, planes;
} dw_job;

/* Whether a dilated depthwise convolution of g goes phase by phase: stride
 * 1, and padding before each axis of at least its dilation less one (as
 * "same" padding has), so that every phase's padding is >= 0. */
static bool dw_phases(const geom *g)
{
    return spd_vmath_avx2() && g->nd == 2 && (g->d[0] > 1 || g->d[1] > 1) && g->s[0] == 1 && g->s[1] == 1 &&
           g->pb[0] >= g->d[0] - 1 && g->pb[1] >= g->d[1] - 1 && g->k[0] <= 64 && g->k[1] <= 64;
}

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* nch (1 or 8) consecutive planes x of a dilated depthwise convolution at
 * stride 1 into y (bias in, no activation; bias NULL or nch values), as
 * dy x dx undilated ones: the output rows py, py + dy, ... read only the
 * input rows of one phase, (py - pt) mod dy, through the undilated kernel
 * with padding -floor((py - pt) / dy) (likewise for columns). Each phase is
 * copied out, run by the plane kernels (8 planes: the interleaved one, for
 * the narrow phases of a small map) and copied back: DeepLab's 5x5
 * depthwise layers at dilation 2 over 14x14 went a tap at a time through
 * the scalar loop (1420 us; a plane at a time 730, interleaved 394). */
static void depthwise_phases(const dw_job *d, const float *x, const float *w, const float *bias, float *y, int nch)
{
    const geom *g = d->j.g;
    const int64_t H = g->big[0], W = g->big[1], OH = g->small[0], OW = g->small[1];
    const int64_t dy = g->d[0], dx = g->d[1];
    const int64_t Hr = (H + dy - 1) / dy, Wr = (W + dx - 1) / dx, OHp = (OH + dy - 1) / dy, OWp = (OW + dx - 1) / dx;
    float *xin = spd_scratch(SPD_SCRATCH_OP, (size_t)(nch * (Hr * Wr + OHp * OWp)) * sizeof(float) + 64);
    const spd_act none = {SPD_ACT_NONE, 0, 0};
    if (!xin) { /* the scalar walk needs no buffer */
        for (int c = 0; c < nch; c++) {
            float *yc = y + c * g->small_n;
            for (int64_t i = 0; i < g->small_n; i++) yc[i] = bias ? bias[c] : 0.0f;
            depthwise2d(g, x + c * g->big_n, w + c * g->k_n, yc, 1);
        }
        return;
    }
    for (int64_t py = 0; py < dy && py < OH; py++)
        for (int64_t px = 0; px < dx && px < OW; px++) {
            const int64_t qy = floor_div(py - g->pb[0], dy), ry = py - g->pb[0] - qy * dy;
            const int64_t qx = floor_div(px - g->pb[1], dx), rx = px - g->pb[1] - qx * dx;
            const int64_t h = (H - ry + dy - 1) / dy, wd = (W - rx + dx - 1) / dx;
            const int64_t oh = (OH - py + dy - 1) / dy, ow = (OW - px + dx - 1) / dx;
            const bool reads = h > 0 && wd > 0; /* else the phase reads only padding: its bias */
            float *out = xin + (reads ? nch * h * wd : 0);
            if (reads) {
                for (int c = 0; c < nch; c++)
                    for (int64_t i = 0; i < h; i++)
                        for (int64_t k = 0; k < wd; k++)
                            xin[(c * h + i) * wd + k] = x[c * g->big_n + (i * dy + ry) * W + k * dx + rx];
                const spd_dw_params dp = {h, wd, oh, ow, g->k[0], g->k[1], 1, 1, -qy, -qx};
                if (nch == 8) {
                    spd_depthwise8_avx2(&dp, xin, w, bias, &none, NULL, out);
                } else {
                    const float b = bias ? bias[0] : 0.0f;
                    if (!d->avx512 || !spd_depthwise_plane_avx512(&dp, xin, w, b, &none, NULL, out))
                        spd_depthwise_plane_avx2(&dp, xin, w, b, &none, NULL, out);
                }
            }
            for (int c = 0; c < nch; c++)
                for (int64_t a = 0; a < oh; a++)
                    for (int64_t b = 0; b < ow; b++)
                        y[c * g->small_n + (a * dy + py) * OW + b * dx + px] =
                            reads ? out[(c * oh + a) * ow + b] : bias ? bias[c] : 0.0f;
        }
}

/* Plane p = n*C + c, with its bias and epilogue. */
static void depthwise_plane(const dw_job *d, int64_t p)
{
    const chan_job *j = &d->j;
    const geom *g = j->g;
    const int64_t c = p % j->channels;
    const float bias = j->bias ? j->bias[c] : 0.0f;
    const float *x = j->in + p * g->big_n, *w = j->w + c * g->k_n;
    const float *z = j->epi->z ? j->epi->z + p * g->small_n : NULL;
    float *y = j->out + p * g->small_n;
    if (d->phases) {
        depthwise_phases(d, x, w, j->bias ? j->bias + c : NULL, y, 1);
        spd_vact_bias_f32(&j->epi->ac, y, g->small_n, 0.0f, z);
        return;
    }
    if (d->avx512 && spd_depthwise_plane_avx512(&d->dp, x, w, bias, &j->epi->ac, z, y)) return;
    if (d->avx2) {
        spd_depthwise_plane_avx2(&d->dp, x, w, bias, &j->epi->ac, z, y);
        return;
    }
    for (int64_t i = 0; i < g->small_n; i++) y[i] = bias;
    depthwise2d(g, x, w, y, 1);
    spd_vact_bias_f32(&j->epi->ac, y, g->small_n, 0.0f, z);
}

static void depthwise_task(void *ctx, int64_t t)
{
    const dw_job *d = ctx;
    const int64_t end = (t + 1) * d->per < d->planes ? (t + 1) * d->per : d->planes;
    for (int64_t p = t * d->per; p < end; p++) depthwise_plane(d, p);
}

/* Task t of the channel-interleaved path: channels [8u, 8u+8) of image n,
 * where t = n * units + u; a last unit with fewer than 8 channels goes
 * plane by plane. */
static void depthwise8_unit(const dw_job *d, int64_t t)
{
    const chan_job *j = &d->j;
    const geom *g = j->g;
    const int64_t units = (j->channels + 7) / 8, n = t / units, c0 = t % units * 8;
    if (c0 + 8 > j->channels) {
        for (int64_t c = c0; c < j->channels; c++) depthwise_plane(d, n * j->channels + c);
        return;
    }
    const int64_t p = n * j->channels + c0;
    if (d->phases) {
        depthwise_phases(d, j->in + p * g->big_n, j->w + c0 * g->k_n, j->bias ? j->bias + c0 : NULL,
                         j->out + p * g->small_n, 8);
        for (int64_t c = 0; c < 8; c++)
            spd_vact_bias_f32(&j->epi->ac, j->out + (p + c) * g->small_n, g->small_n, 0.0f,
                              j->epi->z ? j->epi->z + (p + c) * g->small_n : NULL);
        return;
    }
    spd_depthwise8_avx2(&d->dp, j->in + p * g->big_n, j->w + c0 * g->k_n, j->bias ? j->bias + c0 : NULL, &j->epi->ac,
                        j->epi->z ? j->epi->z + p * g->small_n : NULL, j->out + p * g->small_n);
}

/* Task t: units [t*per, (t+1)*per) of the interleaved path (d->per of
 * them a task, d->planes units in all). */
static void depthwise8_task(void *ctx, int64_t t)
{
    const dw_job *d = ctx;
    const int64_t end = (t + 1) * d->per < d->planes ? (t + 1) * d->per : d->planes;
    for (int64_t u = t * d->per; u < end; u++) depthwise8_unit(d, u);
}

/* Planes narrower than this go eight channels at a time, one per lane
 * (conv_dw.h): the 7x7 and 14x14 depthwise convolutions of mobilenet_v2
 * and efficientnet_b0 ran 0.55-0.85x as long as with the specialised
 * kernels a plane at a time, keyword spotting's 25x5 0.56x; 28 and more
 * wide ran slower (1.1-1.3x). */
#define DW_NARROW 16
/* With the AVX-512 plane kernels only planes narrower than 8 do: the 14x14
 * layers of efficientnet_b0 took 0.72x as long, mobilenet_v2's 7x7 and
 * 14x14 together 0.9x, with the 7x7 interleaved (a plane at a time they
 * ran 1.1x as long). */
#define DW_NARROW_AVX512 8
/* Multiply-adds a depthwise task should have at least: small planes (the
 * 7x7 of a CNN's last stage) go several to a task. */
#define DW_TASK_MACS 65536

/* 2-D depthwise Conv of N images of C channels. */
static void depthwise(const geom *g, int64_t N, int64_t C, const float *x, const float *w, const float *bias, float *y,
                      const conv_epi *e)
{
    dw_job d = {{g, x, w, y, C, bias, e},
                {g->big[0], g->big[1], g->small[0], g->small[1], g->k[0], g->k[1], g->s[0], g->s[1], g->pb[0], g->pb[1]},
                dw_avx2(g),
                (dw_avx2(g) || dw_phases(g)) && spd_vmath_avx512(),
                dw_phases(g),
                1,
                N * C};
    const int64_t macs = g->small_n * g->k_n; /* per plane */
    const bool serial = d.planes * macs < PARALLEL_MIN;
    /* a dilated one's phases: each a 1/d-wide plane */
    const int64_t narrow_w = d.phases ? (g->small[1] + g->d[1] - 1) / g->d[1] : g->small[1];
    if ((d.avx2 || d.phases) && narrow_w < (d.avx512 ? DW_NARROW_AVX512 : DW_NARROW) && C >= 8 &&
        g->k_n <= SPD_DW8_MAX_TAPS) {
        /* several units to a task: one unit of a 7x7 plane is a fraction of
         * a microsecond, and 120 tasks of them (mobilenet_v2's 960
         * channels) ran slower on two threads than on one, the claims of
         * the shared task counter costing more than the work */
        const int64_t units = N * ((C + 7) / 8), unit_macs = 8 * macs;
        d.planes = units;
        d.per = unit_macs >= DW_TASK_MACS ? 1 : DW_TASK_MACS / (unit_macs > 0 ? unit_macs : 1);
        const int64_t even = units / (4 * (int64_t)spd_thread_count()); /* and four tasks a thread, for balance */
        if (d.per > even) d.per = even > 1 ? even : 1;
        const int64_t tasks = (units + d.per - 1) / d.per;
        if (serial || tasks == 1)
            for (int64_t t = 0; t < tasks; t++) depthwise8_task(&d, t);
        else
            spd_parallel_for(tasks, depthwise8_task, &d);
        return;
    }
    d.per = macs >= DW_TASK_MACS ? 1 : DW_TASK_MACS / (macs > 0 ? macs : 1);
    const int64_t tasks = (d.planes + d.per - 1) / d.per;
    if (serial)
        for (int64_t t = 0; t < tasks; t++) depthwise_task(&d, t);
    else
        spd_parallel_for(tasks, depthwise_task, &d);
}

static void fill_bias(float *y, const float *bias, int64_t channels, int64_t n)
{
    if (!bias) return; /* outputs arrive zeroed */
    for (int64_t c = 0; c < channels; c++)
        for (int64_t i = 0; i < n; i++) y[c * n + i] = bias[c];
}

/* ---- the GEMM: Y_g = W_g * im2col(X_g), with the epilogue ----------------- */

/* Conv's prepared state for a constant W: W packed for the kernel that
 * was current then (ops/sgemm_fast.h), per group, on first use, in the
 * layout the output's shape calls for: as the product's A (mr-row panels)
 * or, for the transposed product of small output grids, as its B (W^T in
 * nr-column panels). A model with fixed shapes so holds one packed copy. */
#define CONV_PREP_MAGIC 0x43505250u /* "CPRP" */
typedef struct conv_prep {
    uint32_t magic;
    const spd_sgemm_kernel *kern;
    int64_t M, K, group; /* W as M x K (K = C/group x kernel size) */
    _Atomic(float *) w;  /* A layout, per group */
    _Atomic(float *) wt; /* W^T in B layout, per group */
    _Atomic(float *) wino; /* Winograd U (ops/conv_wino.h) */
    _Atomic(float *) taps; /* per tap, A layout (ops/conv_taps.h) */
} conv_prep;

static void conv_prep_free(void *p)
{
    conv_prep *s = p;
    if (!s) return;
    spd_free(atomic_load(&s->w));
    spd_free(atomic_load(&s->wt));
    spd_conv_wino_free_weights(atomic_load(&s->wino));
    spd_free(atomic_load(&s->taps));
    spd_free(s);
}

/* True when the kernel given by the geometry needs no im2col: 1x1, stride
 * 1, no padding; the input channels already are the column matrix. */
static bool is_pointwise(const geom *g)
{
    for (int i = 0; i < g->nd; i++)
        if (g->k[i] != 1 || g->s[i] != 1 || g->pb[i] != 0 || g->pe[i] != 0) return false;
    return true;
}

/* Writes runs of op(B)'s row into the panel layout: d is this row in the
 * current panel, lane the next column in it. */
typedef struct panel_cursor {
    float *d;
    int64_t lane, nr, stride; /* stride: floats between panels (k * nr) */
} panel_cursor;

static void put_zeros(panel_cursor *c, int64_t n)
{
    while (n > 0) {
        const int64_t t = n < c->nr - c->lane ? n : c->nr - c->lane;
        for (int64_t i = 0; i < t; i++) c->d[c->lane + i] = 0.0f; /* a few floats: no memset call */
        n -= t;
        c->lane += t;
        if (c->lane == c->nr) {
            c->lane = 0;
            c->d += c->stride;
        }
    }
}

static void put_strided(panel_cursor *c, const float *src, int64_t step, int64_t n)
{
    while (n > 0) {
        const int64_t t = n < c->nr - c->lane ? n : c->nr - c->lane;
        float *d = c->d + c->lane;
        if (step == 1)
            memcpy(d, src, (size_t)t * sizeof(float));
        else
            for (int64_t i = 0; i < t; i++) d[i] = src[i * step];
        src += t * step;
        n -= t;
        c->lane += t;
        if (c->lane == c->nr) {
            c->lane = 0;
            c->d += c->stride;
        }
    }
}

/* im2col straight into B panels: row p of the column matrix is (channel,
 * kernel position), column o an output position; each row is written line
 * by line of the output grid, split into padding and input runs. */
typedef struct im2col_src {
    const geom *g;
    const float *x; /* this image's and group's channels */
    int64_t nr;
} im2col_src;

static void im2col_pack(const void *ctx, int64_t pc, int64_t k, int64_t jc, int64_t n, float *dst)
{
    const im2col_src *s = ctx;
    const geom *g = s->g;
    const int last = g->nd - 1;
    const int64_t line = g->small[last], step = g->s[last], nr = s->nr;
    const int64_t l0 = jc / line, ox0 = jc % line, tail = (n + nr - 1) / nr * nr - n;
    int64_t op0[SPD_MAX_DIMS] = {0};
    for (int64_t l = l0, a = last - 1; a >= 0; a--) {
        op0[a] = l % g->small[a];
        l /= g->small[a];
    }
    for (int64_t p = 0; p < k; p++) {
        const int64_t row = pc + p, c = row / g->k_n;
        int64_t kp[SPD_MAX_DIMS], op[SPD_MAX_DIMS], lo, hi;
        kernel_pos(g, row % g->k_n, kp);
        valid_range(line, g->big[last], kp[last] * g->d[last] - g->pb[last], step, &lo, &hi);
        memcpy(op, op0, sizeof op);
        const float *xc = s->x + c * g->big_n;
        panel_cursor cur = {dst + p * nr, 0, nr, k * nr};
        for (int64_t done = 0, ox = ox0; done < n; ox = 0, next_line(g, op)) {
            const int64_t end = ox + (n - done < line - ox ? n - done : line - ox); /* this line's [ox, end) */
            done += end - ox;
            int64_t base;
            if (!line_base(g, kp, op, &base)) {
                put_zeros(&cur, end - ox);
                continue;
            }
            const int64_t a = ox > lo ? ox : lo, b = end < hi ? end : hi;
            if (a >= b) {
                put_zeros(&cur, end - ox);
                continue;
            }
            put_zeros(&cur, a - ox);
            put_strided(&cur, xc + base + a * step, step, b - a);
            put_zeros(&cur, end - b);
        }
        put_zeros(&cur, tail);
    }
}

/* Y[M x N] = epilogue(W[M x K] * B[K x N]) for one image and group: B is X
 * itself (pointwise), packed tile by tile from the phase planes (x2d, 2-D
 * with a kernel) or from X (x_im, other ranks), or a full im2col buffer
 * (the reference). W is prepacked (wpack) or raw. */
static spd_status conv_gemm(const spd_sgemm_kernel *kern, const geom *g, int64_t M, int64_t K, const float *w,
                            const float *wpack, const float *braw, const float *x_im,
                            const spd_conv2d_src *x2d, const float *bias, const float *z, const spd_act *ac,
                            float *y)
{
    const int64_t N = g->small_n;
    const spd_gemm_a A = {.trans = 0, .p = w, .ld = K, .packed = kern ? wpack : NULL};
    const im2col_src src = {g, x_im, kern ? kern->nr : 0};
    spd_gemm_b B = {.trans = 0, .p = braw, .ld = N};
    if (!braw && x2d) { /* runs copied from the phase-split input: cheap */
        B.pack = spd_conv2d_pack;
        B.ctx = x2d;
        /* except straight from X at stride 2 (the direct packer), which
         * gathers every other float from rows read cold: resnet50's
         * layer2.0.conv2 packed its 1152 x 784 B in 184 of 1168 us, ~24
         * multiply-adds' time a float. Priced at 2, the 2-thread split went
         * by rows of W and both threads packed all of B: 730 -> 595 us
         * there, layer3.0/4.0's 853 -> 727 and 902 -> 818 (whatever the
         * price from 8 to 32). */
        B.pack_cost = x2d->direct ? 16.0f : 2.0f;
    } else if (!braw) {
        B.pack = im2col_pack;
        B.ctx = &src;
        B.pack_cost = 8.0f;
    }
    const spd_gemm_epi epi = {.ac = ac, .row_bias = bias, .z = z, .ldz = N};
    return spd_gemm_run(kern, M, N, K, 1.0f, &A, &B, 0.0f, y, N, &epi, spd_thread_count());
}

typedef struct wpack_job {
    const spd_sgemm_kernel *kern;
    const float *w;
    float *dst;
    int64_t Mg, K;
    size_t gstride;
} wpack_job;

static void wpack_task(void *ctx, int64_t gi)
{
    const wpack_job *j = ctx;
    spd_sgemm_prepack_a(j->kern, 0, j->Mg, j->K, j->w + gi * j->Mg * j->K, j->K, j->dst + (size_t)gi * j->gstride);
}

/* W (M x K, `group` blocks of M/group rows) packed for kern, or NULL when
 * out of memory. */
static float *pack_weights(const spd_sgemm_kernel *kern, const float *w, int64_t M, int64_t K, int64_t group,
                           size_t *gstride, bool parallel)
{
    const int64_t Mg = M / group;
    *gstride = spd_sgemm_prepacked_a_floats(kern, Mg, K);
    float *dst = spd_malloc(*gstride * (size_t)group * sizeof(float) + 1);
    if (!dst) return NULL;
    wpack_job j = {kern, w, dst, Mg, K, *gstride};
    if (parallel && group > 1 && M * K >= 65536)
        spd_parallel_for(group, wpack_task, &j);
    else
        for (int64_t gi = 0; gi < group; gi++) wpack_task(&j, gi);
    return dst;
}

/* W^T per group in the kernel's packed-B layout (K x M/group), for the
 * transposed product; NULL when out of memory. */
static float *pack_weights_t(const spd_sgemm_kernel *kern, const float *w, int64_t M, int64_t K, int64_t group,
                             size_t *gstride)
{
    const int64_t Mg = M / group;
    *gstride = spd_sgemm_prepacked_b_floats(kern, K, Mg);
    float *dst = spd_malloc(*gstride * (size_t)group * sizeof(float) + 1);
    if (!dst) return NULL;
    for (int64_t gi = 0; gi < group; gi++)
        spd_sgemm_prepack_b(kern, 1, K, Mg, w + gi * Mg * K, K, dst + (size_t)gi * *gstride);
    return dst;
}

/* The prepared packing of W in one layout, made on first use; concurrent
 * first callers may both pack, and the loser frees its copy. */
static const float *prep_packed(conv_prep *prep, bool transposed, const float *w)
{
    _Atomic(float *) *slot = transposed ? &prep->wt : &prep->w;
    float *have = atomic_load(slot);
    if (have) return have;
    size_t gs = 0;
    float *mine = transposed ? pack_weights_t(prep->kern, w, prep->M, prep->K, prep->group, &gs)
                             : pack_weights(prep->kern, w, prep->M, prep->K, prep->group, &gs, spd_thread_count() > 1);
    return mine ? spd_install_once(slot, mine) : NULL;
}

/* Small output grids (a CNN's 7x7 and 14x14 stages) leave the kernel's
 * nr-wide column panels part empty: 49 positions fill 4 panels of 16 to
 * 77%. As Y^T = im2col(X)^T * W^T the positions become the mr-row side (9
 * panels of 6: 91%) and the channels the nr side; the product goes to a
 * positions x channels scratch, transposed into Y with the epilogue. */
static bool use_transposed(const spd_sgemm_kernel *kern, int64_t M, int64_t N, int64_t K)
{
    if (!kern) return false;
    const int64_t mr = kern->mr, nr = kern->nr;
    const double fit = (double)N / (double)((N + nr - 1) / nr * nr) * (double)M / (double)((M + mr - 1) / mr * mr);
    const double fit_t = (double)N / (double)((N + mr - 1) / mr * mr) * (double)M / (double)((M + nr - 1) / nr * nr);
    /* the transposition costs about 64 multiply-adds per output element */
    return fit_t > fit * (1.0 + 64.0 / (double)K);
}

typedef struct untranspose_job {
    const float *t; /* N x M scratch */
    float *y;       /* M x N */
    int64_t M, N;
    const float *bias, *z;
    const spd_act *ac;
} untranspose_job;

#define UNT_CH 16 /* channels per task */

static void untranspose_task(void *ctx, int64_t task)
{
    const untranspose_job *j = ctx;
    const int64_t m0 = task * UNT_CH, m1 = m0 + UNT_CH < j->M ? m0 + UNT_CH : j->M;
    spd_transpose2d_f32(j->y + m0 * j->N, j->t + m0, j->N, m1 - m0, j->M);
    for (int64_t m = m0; m < m1; m++)
        spd_vact_bias_f32(j->ac, j->y + m * j->N, j->N, j->bias ? j->bias[m] : 0.0f,
                          j->z ? j->z + m * j->N : NULL);
}

/* Y (M x N) = epilogue(T^T) for T (N x M). */
static void untranspose(const untranspose_job *j)
{
    const int64_t tasks = (j->M + UNT_CH - 1) / UNT_CH;
    if (spd_thread_count() > 1 && tasks > 1 && j->M * j->N >= 32768)
        spd_parallel_for(tasks, untranspose_task, (void *)j);
    else
        for (int64_t t = 0; t < tasks; t++) untranspose_task((void *)j, t);
}

/* One image and group as Y^T = B^T W^T: positions packed from the phase
 * planes (x2d), W^T prepacked. */
static spd_status conv_gemm_t(const spd_sgemm_kernel *kern, const geom *g, int64_t M, int64_t K, const float *w,
                              const float *wt, const spd_conv2d_src *x2d, const float *bias, const float *z,
                              const spd_act *ac, float *y, float *scratch)
{
    const int64_t N = g->small_n;
    spd_conv2d_src xa = *x2d; /* the same planes, packed in mr-row panels */
    xa.nr = kern->mr;
    /* an 8-position panel gathers from every row of the planes: Inception's
     * 7x1 192->192 at 17x17 packed its 1344 x 289 A in 53 of 694 us at 1
     * thread, ~16 multiply-adds' time a float; priced at 2, the 2-thread
     * split went by channels and both threads packed all of A (0.97x at 8
     * to 16) */
    const spd_gemm_a A = {.pack = spd_conv2d_pack, .ctx = &xa, .pack_cost = 8.0f};
    const spd_gemm_b B = {.trans = 1, .p = w, .ld = K, .packed = wt};
    SPD_TRY(spd_gemm_run(kern, N, M, K, 1.0f, &A, &B, 0.0f, scratch, M, NULL, spd_thread_count()));
    const untranspose_job j = {scratch, y, M, N, bias, z, ac};
    untranspose(&j);
    return SPD_OK;
}

static bool conv_is_depthwise(const geom *g, int64_t C, int64_t M, int64_t group)
{
    return group == C && group == M && g->nd == 2;
}

/* 3x3 stride-1 undilated ungrouped 2-D kernels with pads up to 2, enough
 * channels and enough output take Winograd F(2x2, 3x3) (ops/conv_wino.h). */
static bool wino_fits(const geom *g, int64_t C, int64_t M, int64_t group)
{
    if (g->nd != 2 || group != 1) return false;
    for (int a = 0; a < 2; a++)
        if (g->k[a] != 3 || g->s[a] != 1 || g->d[a] != 1 || g->pb[a] > 2 || g->pe[a] > 2) return false;
    return spd_conv_wino_fits(C, M, g->small[0], g->small[1]);
}

static spd_status conv_wino(const geom *g, int64_t N, int64_t C, int64_t M, const float *x, const float *w,
                            const float *bias, float *y, const conv_epi *e)
{
    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    conv_prep *prep = e->prep;
    if (prep && (prep->kern != kern || prep->M != M || prep->K != C * 9 || prep->group != 1)) prep = NULL;
    float *own = NULL; /* unprepared: transformed per call */
    const float *u = prep ? spd_conv_wino_cached_weights(&prep->wino, kern, w, M, C)
                          : (own = spd_conv_wino_pack_weights(kern, w, M, C));
    if (!u)
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for the Winograd transform of a %lld x %lld x 3 x 3 weight",
                          (long long)M, (long long)C);
    const spd_wino_shape s = {N, C, M, g->big[0], g->big[1], g->pb[0], g->pb[1], g->pe[0], g->pe[1], e->y_image};
    const spd_status st = spd_conv_wino(kern, &s, x, u, bias, e->z, &e->ac, y, spd_thread_count());
    spd_conv_wino_free_weights(own);
    return st;
}

/* A pointwise conv over 1x1 planes (squeeze-and-excitation's) is a
 * matrix-vector product: rows of X times W^T, read as W lies (a dot product
 * per output channel), where the upright product padded each 16-column
 * panel from one column (efficientnet_b0's 48x1152: 40 -> 4 us). */
static spd_status conv_vector(int64_t N, int64_t C, int64_t M, const float *x, const float *w, const float *bias,
                              float *y, const spd_act *ac)
{
    const spd_gemm_a A = {.trans = 0, .p = x, .ld = C};
    const spd_gemm_b B = {.trans = 1, .p = w, .ld = C};
    SPD_TRY(spd_gemm_run(spd_sgemm_kernel_current(), N, M, C, 1.0f, &A, &B, 0.0f, y, M, NULL, spd_thread_count()));
    if (bias || ac->kind != SPD_ACT_NONE)
        for (int64_t n = 0; n < N; n++) spd_vact_bias_f32(ac, y + n * M, M, 0.0f, bias);
    return SPD_OK;
}

/* A batch's images split over the threads, each image run whole on one
 * thread, where there are as many images as threads or a multiple: no
 * meeting of the threads inside an image, and each thread's source planes,
 * panels and output stay in its own cache. Run image by image on all the
 * threads, squeezenet1_1 at batch 4 and 2 threads took 1030 us in its stem
 * (258 an image, against 146-164 at batch 1) and its 55x55 3x3 layers
 * 170 us an image (141 at batch 1). Images of fewer multiply-adds than
 * this stay as they were (they split poorly anyway). */
#define IMAGE_SPLIT_MIN_MACS (1 << 20)

typedef struct image_job {
    const geom *g;
    int64_t C, M, group;
    const float *x, *w, *bias;
    float *y;
    int64_t ys; /* floats from one image's output to the next */
    const conv_epi *e;
    atomic_int failed;
} image_job;

static spd_status conv_f32(const geom *g, int64_t N, int64_t C, int64_t M, int64_t group,
                           const float *x, const float *w, const float *bias, float *y, const conv_epi *e);

/* A convolution whose taps mostly read padding (ops/conv_taps.h), image by
 * image, W packed per tap once in the prepared state (else per call). */
static spd_status conv_taps(const spd_sgemm_kernel *kern, const spd_taps_shape *ts, int64_t N, const float *x,
                            const float *w, const float *bias, float *y, int64_t ys, const conv_epi *e, int threads)
{
    conv_prep *prep = e->prep;
    if (prep && (prep->kern != kern || prep->M != ts->M || prep->K != ts->C * ts->KH * ts->KW || prep->group != 1))
        prep = NULL;
    const size_t floats = spd_conv_taps_packed_floats(kern, ts);
    float *wp = prep ? atomic_load(&prep->taps) : NULL, *own = NULL;
    if (!wp) {
        float *mine = spd_malloc(floats * sizeof(float) + 1);
        if (mine && !spd_conv_taps_pack(kern, ts, w, mine)) {
            spd_free(mine);
            mine = NULL;
        }
        if (!mine)
            return spd_errorf(SPD_ERR_NOMEM, "out of memory packing a %lld x %lld weight per tap", (long long)ts->M,
                              (long long)ts->C);
        if (prep) wp = spd_install_once(&prep->taps, mine);
        else wp = own = mine;
    }
    const int64_t plane = ts->OH * ts->OW;
    spd_status st = SPD_OK;
    for (int64_t n = 0; n < N && st == SPD_OK; n++)
        st = spd_conv_taps(kern, ts, wp, x + n * ts->C * ts->H * ts->W, bias, e->z ? e->z + n * ts->M * plane : NULL,
                           &e->ac, y + n * ys, threads);
    spd_free(own);
    return st;
}

static spd_status one_image(const image_job *j, int64_t n)
{
    const geom *g = j->g;
    conv_epi e = *j->e;
    e.y_image = 0; /* one image's output is dense */
    if (e.z) e.z += n * j->M * g->small_n;
    return conv_f32(g, 1, j->C, j->M, j->group, j->x + n * j->C * g->big_n, j->w, j->bias, j->y + n * j->ys, &e);
}

static void image_task(void *ctx, int64_t n)
{
    image_job *j = ctx;
    const int cap = spd_thread_cap(1);
    const spd_status st = one_image(j, n);
    spd_thread_cap(cap);
    if (st != SPD_OK) atomic_store(&j->failed, (int)st);
}

/* A 1-D geometry as a 2-D one of height 1 (the same bytes): 1-D
 * convolutions (audio front ends) then take the 2-D paths, whose packers
 * copy runs of a row, where the generic im2col moved one float at a time
 * (a wav2vec-like 128-channel stride-2 layer: 1.11 ms, ORT 0.89). */
static geom as_2d(const geom *g)
{
    geom h = *g;
    h.nd = 2;
    h.big[0] = h.small[0] = h.k[0] = h.s[0] = h.d[0] = 1;
    h.pb[0] = h.pe[0] = 0;
    h.big[1] = g->big[0], h.small[1] = g->small[0], h.k[1] = g->k[0], h.s[1] = g->s[0], h.d[1] = g->d[0];
    h.pb[1] = g->pb[0], h.pe[1] = g->pe[0];
    return h;
}

static spd_status conv_f32(const geom *g, int64_t N, int64_t C, int64_t M, int64_t group,
                           const float *x, const float *w, const float *bias, float *y, const conv_epi *e)
{
    if (g->nd == 1) {
        const geom h = as_2d(g);
        return conv_f32(&h, N, C, M, group, x, w, bias, y, e);
    }
    const int64_t Cg = C / group, Mg = M / group, kdim = Cg * g->k_n;
    if (g->small_n == 0 || N == 0) return SPD_OK;

    const int threads = spd_thread_count();
    const int64_t ys = e->y_image ? e->y_image : M * g->small_n;
    const bool dw = conv_is_depthwise(g, C, M, group);
    const bool split =
        !dw && N > 1 && threads > 1 && N % threads == 0 && Mg * kdim * g->small_n * group >= IMAGE_SPLIT_MIN_MACS;
    const bool vector = is_pointwise(g) && g->small_n == 1 && group == 1 && N <= SPD_GEMV_MAX_M && !e->z && C > 0;
    /* images apart: split over the threads, or one at a time where the
     * output's images are not packed together (a ConvConcat branch) and
     * the kernel takes whole batches packed (the Winograd and GEMM paths
     * below take the stride) */
    if (split || (N > 1 && ys != M * g->small_n && (dw || vector))) {
        image_job j = {g, C, M, group, x, w, bias, y, ys, e, 0};
        atomic_init(&j.failed, 0);
        if (!split) {
            for (int64_t n = 0; n < N; n++) SPD_TRY(one_image(&j, n));
            return SPD_OK;
        }
        spd_parallel_for(N, image_task, &j);
        const int failed = atomic_load(&j.failed);
        if (failed)
            return spd_errorf((spd_status)failed, "a %lld x %lld convolution of one image failed%s", (long long)M,
                              (long long)kdim, failed == SPD_ERR_NOMEM ? ": out of memory" : "");
        return SPD_OK;
    }
    if (dw) {
        depthwise(g, N, C, x, w, bias, y, e);
        return SPD_OK;
    }
    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    if (kern && group == 1 && g->nd == 2 && !vector) {
        const spd_taps_shape ts = {C,       M,       g->big[0], g->big[1], g->small[0], g->small[1], g->k[0],
                                   g->k[1], g->s[0], g->s[1],   g->d[0],   g->d[1],     g->pb[0],    g->pb[1]};
        if (spd_conv_taps_fit(&ts)) return conv_taps(kern, &ts, N, x, w, bias, y, ys, e, threads);
    }
    if (wino_fits(g, C, M, group)) return conv_wino(g, N, C, M, x, w, bias, y, e);
    if (vector) return conv_vector(N, C, M, x, w, bias, y, &e->ac);

    const bool pointwise = is_pointwise(g);
    conv_prep *prep = e->prep;
    if (prep && (prep->kern != kern || prep->M != M || prep->K != kdim || prep->group != group)) prep = NULL;
    /* 2-D kernels pack B from a padded, phase-split copy of each image's
     * group (ops/conv_pack.h); other ranks from X itself */
    spd_conv2d_src x2d;
    bool use2d = false;
    /* only kernels with taps (use2d) may go transposed; pointwise ones stay
     * upright: X's rows feed B's panels as they lie, while transposed each
     * position panel would gather from every row (measured slower in
     * resnet50's 7x7 stage, on both ISAs) */
    const bool want_trans = kern && use_transposed(kern, Mg, g->small_n, kdim);
    /* (a pointwise kernel reads X as B itself and needs no planes: their
     * set-up was 1% of mobilenet_v2's time; a strided 1x1 kernel comes
     * here only to be packed straight from X by the direct packer, in
     * 16-lane units where im2col_pack moved one float at a time: resnet50's
     * stride-2 downsample layers at 1 thread -59, -16 and -10 us, and
     * 0.78x as long at batch 4, where X comes cold from memory. Upright
     * only: transposed, layer4.0's took 1.13x as long.) */
    if (kern && kdim > 0 && g->nd == 2 && (g->k_n > 1 || (!pointwise && !want_trans))) {
        const spd_conv2d_shape cs = {Cg,      g->big[0], g->big[1], g->small[0], g->small[1], g->k[0], g->k[1],
                                     g->s[0], g->s[1],   g->d[0],   g->d[1],     g->pb[0],    g->pb[1]};
        /* the transposed product packs A panels of 8 positions, 2x the
         * direct packer's work per float of B's: direct on one thread
         * (resnet50's layer3.0 and layer4.0 conv2: -120 and -90 us), planes
         * on more (layer3.0 at 2 threads 1.1x-1.3x as long direct, whatever
         * the task grid) */
        use2d = spd_conv2d_src_fits(&cs) && spd_conv2d_src_init(&x2d, &cs, kern->nr, !want_trans || threads == 1) == SPD_OK;
        if (!use2d) spd_error_clear();
        /* a strided 1x1 kernel only where it packs straight from X: its
         * planes would be a subsampled copy, an extra pass for nothing
         * (im2col_pack reads X in place) */
        if (use2d && g->k_n == 1 && !x2d.direct) {
            spd_conv2d_src_free(&x2d);
            use2d = false;
        }
    }
    const bool trans = use2d && want_trans;
    /* B read in place from the planes where the kernel can (conv_implicit.h) */
    const bool implicit = use2d && !trans && spd_conv_implicit_fits(kern, &x2d, kdim, &e->ac);
    float *col = NULL, *wown = NULL, *scratch = NULL;
    const float *wpack = prep && kdim > 0 ? prep_packed(prep, trans, w) : NULL;
    size_t gstride = !kern ? 0 : trans ? spd_sgemm_prepacked_b_floats(kern, kdim, Mg) : spd_sgemm_prepacked_a_floats(kern, Mg, kdim);
    if (kern && !wpack && kdim > 0) {
        /* unprepared (W not constant, or another ISA): pack W once per call */
        wpack = wown = trans ? pack_weights_t(kern, w, M, kdim, group, &gstride)
                             : pack_weights(kern, w, M, kdim, group, &gstride, threads > 1);
        if (!wown) {
            if (use2d) spd_conv2d_src_free(&x2d);
            return spd_errorf(SPD_ERR_NOMEM, "out of memory packing a %lld x %lld weight", (long long)M,
                              (long long)kdim);
        }
    }
    if (trans && !(scratch = spd_scratch(SPD_SCRATCH_CONV_OUT, (size_t)(Mg * g->small_n) * sizeof(float)))) {
        if (use2d) spd_conv2d_src_free(&x2d);
        spd_free(wown);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for a %lld x %lld convolution output", (long long)Mg,
                          (long long)g->small_n);
    }
    if (!kern && !pointwise) {
        col = spd_malloc((size_t)kdim * (size_t)g->small_n * sizeof(float));
        if (!col)
            return spd_errorf(SPD_ERR_NOMEM, "out of memory for a %lld x %lld im2col buffer",
                              (long long)kdim, (long long)g->small_n);
    }
    spd_status st = SPD_OK;
    for (int64_t n = 0; n < N && st == SPD_OK; n++) {
        for (int64_t gi = 0; gi < group && st == SPD_OK; gi++) {
            const float *xg = x + (n * C + gi * Cg) * g->big_n;
            const float *braw = pointwise || kdim == 0 ? xg : NULL; /* K = 0 reads no B */
            if (col) {
                im2col_par(g, xg, Cg, col);
                braw = col;
            }
            if (use2d) spd_conv2d_src_fill(&x2d, xg, threads);
            const int64_t off = (n * M + gi * Mg) * g->small_n, yoff = n * ys + gi * Mg * g->small_n;
            if (trans) {
                st = conv_gemm_t(kern, g, Mg, kdim, w + gi * Mg * kdim, wpack + gi * gstride, &x2d, bias ? bias + gi * Mg : NULL, e->z ? e->z + off : NULL, &e->ac,
                                 y + yoff, scratch);
                continue;
            }
            if (implicit) {
                spd_conv_implicit(kern, &x2d, Mg, kdim, wpack + gi * gstride, bias ? bias + gi * Mg : NULL,
                                  e->z ? e->z + off : NULL, &e->ac, y + yoff, threads);
                continue;
            }
            st = conv_gemm(kern, g, Mg, kdim, w + gi * Mg * kdim, wpack ? wpack + gi * gstride : NULL, braw, xg,
                           use2d ? &x2d : NULL, bias ? bias + gi * Mg : NULL, e->z ? e->z + off : NULL, &e->ac,
                           y + yoff);
        }
    }
    if (use2d) spd_conv2d_src_free(&x2d);
    spd_free(col);
    spd_free(wown);
    return st;
}

/* The prepare hook of Conv and FusedConv: packs a constant float32 W. */
spd_status spd_conv_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                            void **state, void (**state_free)(void *))
{
    (void)opset;
    return spd_conv_prepare_named(node, "", n_in > 1 ? consts[1] : NULL, state, state_free);
}

spd_status spd_conv_prepare_named(const spd_node *node, const char *prefix, const spd_tensor *W, void **state,
                                  void (**state_free)(void *))
{
    char name[64];
    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    if (!W || !kern || W->dtype != SPD_FLOAT || W->ndim < 3 || !W->data) return SPD_OK;
    const int64_t group = spd_attr_int(node, attr_name(name, sizeof name, prefix, "group"), 1), M = W->dims[0];
    const int64_t K = spd_dims_prod(W->dims, 1, W->ndim);
    if (group < 1 || M < 1 || K < 1 || M % group) return SPD_OK;
    if (W->dims[1] == 1 && group == M && W->ndim == 4) return SPD_OK; /* depthwise: no GEMM */
    conv_prep *s = spd_calloc(1, sizeof *s);
    if (!s) return SPD_OK;
    atomic_init(&s->w, NULL);
    atomic_init(&s->wt, NULL);
    atomic_init(&s->wino, NULL);
    s->magic = CONV_PREP_MAGIC;
    s->kern = kern;
    s->M = M;
    s->K = K;
    s->group = group;
    *state = s;
    *state_free = conv_prep_free;
    return SPD_OK;
}

/* Checks X, W and B, fills in the parts of the geometry common to both
 * operators; *C is X's channel count. */
static spd_status check_inputs(spd_op_ctx *ctx, const char *prefix, geom *g, const char *wlayout)
{
    if (ctx->n_inputs < 2 || !ctx->in[0] || !ctx->in[1])
        return spd_errorf(SPD_ERR_INVALID, "needs inputs X and W");
    const spd_tensor *X = ctx->in[0], *W = ctx->in[1];
    const spd_tensor *B = ctx->n_inputs > 2 ? ctx->in[2] : NULL;
    if (!is_conv_dtype(X->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(X->dtype));
    if (W->dtype != X->dtype || (B && B->dtype != X->dtype))
        return spd_errorf(SPD_ERR_INVALID, "X, W and B must share one type (got %s, %s%s%s)",
                          spd_dtype_name(X->dtype), spd_dtype_name(W->dtype), B ? ", " : "",
                          B ? spd_dtype_name(B->dtype) : "");
    if (X->ndim < 3)
        return spd_errorf(SPD_ERR_INVALID, "X has %d dims; expected N x C x D1 ... (at least 3)", X->ndim);
    if (W->ndim != X->ndim)
        return spd_errorf(SPD_ERR_INVALID, "W has %d dims but X has %d; W must be %s", W->ndim, X->ndim, wlayout);
    g->nd = X->ndim - 2;
    SPD_TRY(parse_common(ctx->node, prefix, W, g));
    return SPD_OK;
}

static spd_status check_bias(const spd_tensor *B, int64_t M)
{
    if (B && (B->ndim != 1 || B->dims[0] != M))
        return spd_errorf(SPD_ERR_INVALID, "B must be 1-D with %lld values", (long long)M);
    return SPD_OK;
}

/* Converts inputs to float32 if needed, runs `fn`, and stores the result in
 * ctx->out[0], whose dtype and shape are already set. */
typedef spd_status (*f32_kernel)(const geom *g, int64_t N, int64_t C, int64_t M, int64_t group,
                                 const float *x, const float *w, const float *bias, float *y, const conv_epi *e);

static spd_status run_f32(spd_op_ctx *ctx, const geom *g, int64_t N, int64_t C, int64_t M,
                          int64_t group, f32_kernel fn, const spd_act *ac, const spd_tensor *Z)
{
    conv_epi e = {{SPD_ACT_NONE, 0, 0}, NULL, NULL, 0};
    float *oz = NULL;
    if (ac) e.ac = *ac;
    conv_prep *prep = ctx->state;
    if (prep && prep->magic == CONV_PREP_MAGIC) e.prep = prep;
    const spd_tensor *B = ctx->n_inputs > 2 ? ctx->in[2] : NULL;
    const float *x, *w, *b = NULL;
    float *ox = NULL, *ow = NULL, *ob = NULL, *oy = NULL;
    spd_tensor *Y = &ctx->out[0];
    int64_t ny = spd_tensor_numel(Y);
    spd_status st = as_f32(ctx->in[0], &x, &ox);
    if (st == SPD_OK) st = as_f32(ctx->in[1], &w, &ow);
    if (st == SPD_OK && B) st = as_f32(B, &b, &ob);
    if (st == SPD_OK && Z) st = as_f32(Z, &e.z, &oz);
    float *y = (float *)Y->data;
    if (st == SPD_OK && Y->dtype != SPD_FLOAT) {
        y = oy = spd_calloc((size_t)(ny > 0 ? ny : 1), sizeof(float));
        if (!oy) st = spd_errorf(SPD_ERR_NOMEM, "out of memory for a float32 copy of the output");
    }
    if (st == SPD_OK) st = fn(g, N, C, M, group, x, w, b, y, &e);
    if (st == SPD_OK && oy) store_from_f32(Y, oy, ny);
    spd_free(oz);
    spd_free(ox);
    spd_free(ow);
    spd_free(ob);
    spd_free(oy);
    return st;
}

/* Conv's geometry from ctx (X, W, B and the attributes named prefix +
 * Conv's names) and its output dims (ydims, X->ndim of them); *group_out
 * is the group attribute's. */
static spd_status conv_shape(spd_op_ctx *ctx, const char *prefix, geom *gp, int64_t *group_out, int64_t *ydims)
{
    geom g;
    char name[64];
    memset(&g, 0, sizeof g);
    SPD_TRY(check_inputs(ctx, prefix, &g, "M x C/group x k1 ..."));
    const spd_tensor *X = ctx->in[0], *W = ctx->in[1];
    const int64_t N = X->dims[0], C = X->dims[1], M = W->dims[0];
    const int64_t group = spd_attr_int(ctx->node, attr_name(name, sizeof name, prefix, "group"), 1);
    if (group < 1) return spd_errorf(SPD_ERR_INVALID, "group = %lld is not positive", (long long)group);
    if (C % group || M % group)
        return spd_errorf(SPD_ERR_INVALID, "X's %lld channels and W's %lld filters are not divisible by group %lld",
                          (long long)C, (long long)M, (long long)group);
    if (W->dims[1] * group != C)
        return spd_errorf(SPD_ERR_INVALID, "channel mismatch: X has %lld channels, W expects %lld x group %lld",
                          (long long)C, (long long)W->dims[1], (long long)group);
    SPD_TRY(check_bias(ctx->n_inputs > 2 ? ctx->in[2] : NULL, M));

    pad_mode pm;
    SPD_TRY(parse_auto_pad(ctx->node, prefix, &pm));
    ydims[0] = N;
    ydims[1] = M;
    for (int i = 0; i < g.nd; i++) {
        const int64_t in = X->dims[2 + i], ek = (g.k[i] - 1) * g.d[i] + 1;
        g.big[i] = in;
        if (pm == PAD_SAME_UPPER || pm == PAD_SAME_LOWER) {
            int64_t out = (in + g.s[i] - 1) / g.s[i];
            int64_t total = (out - 1) * g.s[i] + ek - in;
            if (total < 0) total = 0;
            g.pb[i] = pm == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g.pe[i] = total - g.pb[i];
            g.small[i] = out;
        } else {
            if (pm == PAD_VALID) g.pb[i] = g.pe[i] = 0;
            int64_t padded = in + g.pb[i] + g.pe[i];
            if (padded < ek)
                return spd_errorf(SPD_ERR_INVALID,
                                  "kernel extent %lld on spatial axis %d exceeds the padded input size %lld",
                                  (long long)ek, i, (long long)padded);
            g.small[i] = (padded - ek) / g.s[i] + 1;
        }
        if (in < 1) return spd_errorf(SPD_ERR_INVALID, "X has an empty spatial axis %d", i);
        ydims[2 + i] = g.small[i];
    }
    count_grids(&g);
    *gp = g;
    *group_out = group;
    return SPD_OK;
}

spd_status spd_conv_fused(spd_op_ctx *ctx, const spd_act *ac, const spd_tensor *Z)
{
    geom g;
    int64_t group = 1, ydims[SPD_MAX_DIMS] = {0};
    SPD_TRY(conv_shape(ctx, "", &g, &group, ydims));
    const spd_tensor *X = ctx->in[0], *W = ctx->in[1];
    const int64_t N = X->dims[0], C = X->dims[1], M = W->dims[0];
    /* float32 with a non-empty W writes every output element (GEMM with
     * beta 0, or the depthwise planes that start from the bias) */
    if (X->dtype == SPD_FLOAT && spd_tensor_numel(W) > 0)
        SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], X->dtype, X->ndim, ydims));
    else
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, ydims));
    if (Z && (Z->dtype != X->dtype || !spd_tensor_same_shape(Z, &ctx->out[0])))
        return spd_errorf(SPD_ERR_INVALID, "Z must have the output's type and shape");
    return run_f32(ctx, &g, N, C, M, group, conv_f32, ac, Z);
}

spd_status spd_conv_named_dims(spd_op_ctx *ctx, const char *prefix, int64_t *ydims)
{
    geom g;
    int64_t group = 1;
    SPD_TRY(conv_shape(ctx, prefix, &g, &group, ydims));
    if (ctx->in[0]->dtype != SPD_FLOAT)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported (float32 only)",
                          spd_dtype_name(ctx->in[0]->dtype));
    return SPD_OK;
}

spd_status spd_conv_named_into(spd_op_ctx *ctx, const char *prefix, const spd_act *ac, float *y, int64_t y_image)
{
    geom g;
    int64_t group = 1, ydims[SPD_MAX_DIMS] = {0};
    SPD_TRY(conv_shape(ctx, prefix, &g, &group, ydims));
    const spd_tensor *X = ctx->in[0], *W = ctx->in[1], *B = ctx->n_inputs > 2 ? ctx->in[2] : NULL;
    if (X->dtype != SPD_FLOAT)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported (float32 only)", spd_dtype_name(X->dtype));
    conv_prep *prep = ctx->state;
    const conv_epi e = {ac ? *ac : (spd_act){SPD_ACT_NONE, 0, 0}, NULL,
                        prep && prep->magic == CONV_PREP_MAGIC ? prep : NULL, y_image};
    return conv_f32(&g, X->dims[0], X->dims[1], W->dims[0], group, X->data, W->data, B ? B->data : NULL, y, &e);
}

static spd_status op_conv(spd_op_ctx *ctx) { return spd_conv_fused(ctx, NULL, NULL); }

/* ---- ConvTranspose ----------------------------------------------------------- */

/* Here C is X's channel count and M the output's; W is C x M/group x k. */
static spd_status convt_f32(const geom *g, int64_t N, int64_t C, int64_t M, int64_t group,
                            const float *x, const float *w, const float *bias, float *y, const conv_epi *e)
{
    (void)e; /* ConvTranspose has no fused form */
    const int64_t Cg = C / group, Mg = M / group, rows = Mg * g->k_n;
    for (int64_t n = 0; n < N; n++) fill_bias(y + n * M * g->big_n, bias, M, g->big_n);
    if (g->small_n == 0 || g->big_n == 0 || N == 0) return SPD_OK;

    bool pointwise = true;
    for (int i = 0; i < g->nd; i++)
        if (g->k[i] != 1 || g->s[i] != 1 || g->pb[i] != 0 || g->big[i] != g->small[i]) pointwise = false;

    float *col = NULL;
    if (!pointwise) {
        col = spd_malloc((size_t)rows * (size_t)g->small_n * sizeof(float));
        if (!col)
            return spd_errorf(SPD_ERR_NOMEM, "out of memory for a %lld x %lld col2im buffer",
                              (long long)rows, (long long)g->small_n);
    }
    for (int64_t n = 0; n < N; n++) {
        for (int64_t gi = 0; gi < group; gi++) {
            const float *wg = w + gi * Cg * rows, *xg = x + (n * C + gi * Cg) * g->small_n;
            float *yg = y + (n * M + gi * Mg) * g->big_n;
            if (pointwise) {
                spd_sgemm(1, 0, Mg, g->small_n, Cg, 1.0f, wg, rows, xg, g->small_n, 1.0f, yg, g->big_n);
            } else {
                spd_sgemm(1, 0, rows, g->small_n, Cg, 1.0f, wg, rows, xg, g->small_n, 0.0f, col,
                              g->small_n);
                col2im_par(g, col, Mg, yg);
            }
        }
    }
    spd_free(col);
    return SPD_OK;
}

static spd_status op_conv_transpose(spd_op_ctx *ctx)
{
    geom g;
    memset(&g, 0, sizeof g);
    SPD_TRY(check_inputs(ctx, "", &g, "C x M/group x k1 ..."));
    const spd_tensor *X = ctx->in[0], *W = ctx->in[1];
    const int64_t N = X->dims[0], C = X->dims[1];
    const int64_t group = spd_attr_int(ctx->node, "group", 1);
    if (group < 1) return spd_errorf(SPD_ERR_INVALID, "group = %lld is not positive", (long long)group);
    if (W->dims[0] != C)
        return spd_errorf(SPD_ERR_INVALID, "channel mismatch: X has %lld channels but W's first dim is %lld",
                          (long long)C, (long long)W->dims[0]);
    if (C % group)
        return spd_errorf(SPD_ERR_INVALID, "X's %lld channels are not divisible by group %lld", (long long)C,
                          (long long)group);
    const int64_t M = W->dims[1] * group;
    SPD_TRY(check_bias(ctx->n_inputs > 2 ? ctx->in[2] : NULL, M));

    pad_mode pm;
    SPD_TRY(parse_auto_pad(ctx->node, "", &pm));
    int64_t opad[SPD_MAX_DIMS];
    SPD_TRY(ints_attr(ctx->node, "", "output_padding", g.nd, 0, opad));
    size_t n_os = 0;
    const int64_t *os = spd_attr_ints(ctx->node, "output_shape", &n_os);
    if (os && n_os == (size_t)g.nd + 2) os += 2; /* given with N and C */
    else if (os && n_os && n_os != (size_t)g.nd)
        return spd_errorf(SPD_ERR_INVALID, "output_shape has %zu values for %d spatial dims", n_os, g.nd);
    if (os && !n_os) os = NULL;

    int64_t ydims[SPD_MAX_DIMS] = {N, M};
    for (int i = 0; i < g.nd; i++) {
        const int64_t in = X->dims[2 + i], ek = (g.k[i] - 1) * g.d[i] + 1;
        if (opad[i] < 0) return spd_errorf(SPD_ERR_INVALID, "output_padding[%d] is negative", i);
        if (in < 1) return spd_errorf(SPD_ERR_INVALID, "X has an empty spatial axis %d", i);
        g.small[i] = in;
        const int64_t full = g.s[i] * (in - 1) + opad[i] + ek;
        if (os) {
            /* As onnxruntime does (the conformance case agrees): an output
             * larger than the full result grows at the end, and odd padding
             * puts the extra element first only for SAME_UPPER. */
            const int64_t out = os[i];
            if (out < 1) return spd_errorf(SPD_ERR_INVALID, "output_shape[%d] = %lld is not positive", i, (long long)out);
            const int64_t total = full - out > 0 ? full - out : 0;
            g.pb[i] = pm == PAD_SAME_UPPER ? total - total / 2 : total / 2;
            g.pe[i] = full - out - g.pb[i];
            g.big[i] = out;
        } else if (pm == PAD_SAME_UPPER || pm == PAD_SAME_LOWER) {
            /* The output is input * stride; SAME_UPPER puts the smaller half
             * of the padding first, as the spec's formula says. */
            const int64_t out = in * g.s[i], total = full - out;
            g.pb[i] = pm == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g.pe[i] = total - g.pb[i];
            g.big[i] = out;
        } else {
            if (pm == PAD_VALID) g.pb[i] = g.pe[i] = 0;
            g.big[i] = full - g.pb[i] - g.pe[i];
            if (g.big[i] < 1)
                return spd_errorf(SPD_ERR_INVALID, "pads on spatial axis %d leave an empty output", i);
        }
        ydims[2 + i] = g.big[i];
    }
    count_grids(&g);
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], X->dtype, X->ndim, ydims));
    return run_f32(ctx, &g, N, C, M, group, convt_f32, NULL, NULL);
}

const spd_op_def spd_ops_conv[] = {
    {"Conv", "", 1, 21, op_conv, spd_conv_prepare},
    {"ConvTranspose", "", 1, 21, op_conv_transpose},
};
const int spd_ops_conv_count = (int)(sizeof spd_ops_conv / sizeof spd_ops_conv[0]);
