/* Resampling operators: Resize (opsets 10-21), Upsample (7-9) and
 * GridSample (16-21).
 *
 * Resize follows the ONNX reference implementation: every output
 * coordinate is mapped back to a fractional input coordinate
 * (coordinate_transformation_mode), then nearest picks one input element
 * while linear and cubic weight a few neighbours, clamped to the edge.
 * Linear and cubic are separable, so they run one axis at a time in double
 * precision; nearest is a pure gather and so works for every dtype. */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ir/op.h"
#include "ops/ops_util.h"
#include "ops/vmath.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"
#include "util/threadpool.h"

static spd_status check_real_dtype(const spd_tensor *t)
{
    if (spd_dtype_size(t->dtype) == 0 || t->dtype == SPD_COMPLEX64 || t->dtype == SPD_COMPLEX128)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "tensors of type %s are not supported",
                          spd_dtype_name(t->dtype));
    return SPD_OK;
}

/* ---------------------------------------------------------------- Resize */

enum { M_NEAREST, M_LINEAR, M_CUBIC };
enum {
    CT_HALF_PIXEL, CT_HALF_PIXEL_SYM, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC, CT_TF_CROP,
    CT_TF_HALF_PIXEL_NN /* opsets 11-12 only */
};
enum { NR_PREFER_FLOOR, NR_PREFER_CEIL, NR_FLOOR, NR_CEIL, NR_SIMPLE };

typedef struct resize_params {
    int mode, ctm, nearest;
    double cubic_a, extrapolation;
    int exclude_outside, antialias;
} resize_params;

static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* The input coordinate that output coordinate x of axis (in -> out, with
 * scale s) comes from. roi_lo/roi_hi only for tf_crop_and_resize. *outside
 * is set when tf_crop_and_resize lands outside the input. */
static double source_coord(const resize_params *p, double x, double s, int64_t in, int64_t out, double roi_lo,
                           double roi_hi, int *outside)
{
    /* The reference uses the unrounded output length scale * in. */
    double out_f = s * (double)in, xo;
    *outside = 0;
    switch (p->ctm) {
    case CT_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case CT_HALF_PIXEL_SYM: {
        double adj = (double)out / out_f, center = (double)in / 2;
        return center * (1 - adj) + (x + 0.5) / s - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL: return out > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case CT_ALIGN_CORNERS: return out_f == 1 ? 0.0 : x * (double)(in - 1) / (out_f - 1);
    case CT_ASYMMETRIC: return x / s;
    case CT_TF_HALF_PIXEL_NN: return (x + 0.5) / s;
    default: /* tf_crop_and_resize */
        if (out_f == 1) xo = (roi_hi - roi_lo) * (double)(in - 1) / 2;
        else xo = x * (roi_hi - roi_lo) * (double)(in - 1) / (out_f - 1);
        xo += roi_lo * (double)(in - 1);
        if (!(xo >= 0 && xo <= (double)(in - 1))) *outside = 1; /* NaN roi too */
        return xo;
    }
}

static int64_t clamp_i(int64_t v, int64_t n)
{
    return v < 0 ? 0 : v >= n ? n - 1 : v;
}

static int64_t nearest_index(const resize_params *p, double xo, double s, int64_t in)
{
    double f = floor(xo), r = xo - f;
    int64_t i = (int64_t)f;
    switch (p->nearest) {
    case NR_PREFER_FLOOR: i += r > 0.5; break;
    case NR_PREFER_CEIL: i += r >= 0.5; break;
    case NR_FLOOR: break;
    case NR_CEIL: i += r > 0; break;
    default: i += s < 1 && r > 0; break; /* Resize-10 / Upsample: ceil when shrinking */
    }
    return clamp_i(i, in);
}

static double cubic_w(double x, double A)
{
    x = fabs(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}

/* The first tap offset of the filter: taps are base + i for i in
 * [start, 2 - start), two (linear) or four (cubic) at scale 1, more when
 * antialiasing widens the filter on a shrinking axis by 1/s. */
static int tap_start(const resize_params *p, double s)
{
    double sc = p->antialias && s < 1 ? s : 1.0;
    return p->mode == M_LINEAR ? (int)floor(-1 / sc) + 1 : (int)floor(-2 / sc) + 1;
}

/* Taps of one output coordinate: input indices (already clamped) and
 * weights; returns their count. */
static int taps_for(const resize_params *p, double xo, double s, int64_t in, int64_t *idx, double *w)
{
    /* The reference takes the fraction in (0, 1]: an exact integer xo
     * weights its left neighbour with ratio 1. */
    double f = floor(xo), r = xo - f;
    int64_t base = (int64_t)f;
    if (r == 0) {
        base -= 1;
        r = 1;
    }
    double sc = p->antialias && s < 1 ? s : 1.0;
    int start = tap_start(p, s), n = 2 - 2 * start;
    double sum = 0;
    for (int k = 0; k < n; k++) {
        int64_t i = base + start + k;
        double a = ((double)(start + k) - r) * sc;
        double wk = p->mode == M_LINEAR ? fmax(0.0, 1 - fabs(a)) : cubic_w(a, p->cubic_a);
        if (p->exclude_outside && (i < 0 || i >= in)) wk = 0;
        idx[k] = clamp_i(i, in);
        w[k] = wk;
        sum += wk;
    }
    /* antialiased and exclude_outside filters are renormalised */
    if ((sc != 1.0 || p->exclude_outside) && sum != 0)
        for (int k = 0; k < n; k++) w[k] /= sum;
    return n;
}

static double store_round(spd_dtype dt, double v)
{
    /* integer outputs round to nearest rather than truncate */
    return spd_dtype_is_int(dt) ? nearbyint(v) : v;
}

/* Whether an axis (in -> out at scale s; roi bounds for
 * tf_crop_and_resize) maps every output exactly onto its input. */
static bool axis_identity(const resize_params *p, int64_t in, int64_t out, double s, double roi_lo, double roi_hi)
{
    if (in != out) return false;
    for (int64_t o = 0; o < out; o++) {
        int outside;
        if (source_coord(p, (double)o, s, in, out, roi_lo, roi_hi, &outside) != (double)o || outside) return false;
    }
    return true;
}

/* ---- float32 over the last two axes: bilinear and nearest ---- */

/* Per output coordinate of one axis: two source indices and their weights
 * (nearest: one index, weights 1 and 0), as the reference's taps. */
typedef struct axis_taps {
    int64_t *i0, *i1;
    float *w0, *w1;
} axis_taps;

static void axis_taps_fill(const resize_params *p, int64_t in, int64_t out, double s, axis_taps *t)
{
    for (int64_t o = 0; o < out; o++) {
        int outside;
        const double xo = source_coord(p, (double)o, s, in, out, 0, 1, &outside);
        if (p->mode == M_NEAREST) {
            t->i0[o] = t->i1[o] = nearest_index(p, xo, s, in);
            t->w0[o] = 1.0f, t->w1[o] = 0.0f;
            continue;
        }
        int64_t idx[2];
        double w[2];
        taps_for(p, xo, s, in, idx, w);
        t->i0[o] = idx[0], t->i1[o] = idx[1];
        t->w0[o] = (float)w[0], t->w1[o] = (float)w[1];
    }
}

typedef struct planes_job {
    const float *x;
    float *y;
    int64_t H, W, OH, OW;
    axis_taps ty, tx;
    bool nearest;
    bool dup2; /* nearest, and output column ox reads input column ox / 2 (OW = 2 W) */
    atomic_int failed; /* a task found no scratch */
} planes_job;

#if defined(__x86_64__)
/* y[2i] = y[2i + 1] = x[i] for i < n, 16 inputs a step. */
__attribute__((target("avx512f"))) static void dup2_row_avx512(const float *x, int64_t n, float *y)
{
    const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    for (int64_t i = 0; i < n; i += 16) {
        const int64_t left = n - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __mmask16 m0 = left >= 8 ? (__mmask16)0xFFFF : (__mmask16)((1u << (2 * left)) - 1);
        const __mmask16 m1 = left >= 16 ? (__mmask16)0xFFFF : left <= 8 ? 0 : (__mmask16)((1u << (2 * (left - 8))) - 1);
        _mm512_mask_storeu_ps(y + 2 * i, m0, _mm512_permutexvar_ps(lo, v));
        _mm512_mask_storeu_ps(y + 2 * i + 16, m1, _mm512_permutexvar_ps(hi, v));
    }
}
#endif

static void dup2_row(const float *x, int64_t n, float *y)
{
#if defined(__x86_64__)
    if (spd_vmath_avx512()) {
        dup2_row_avx512(x, n, y);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[2 * i] = y[2 * i + 1] = x[i];
}

/* Nearest: each output row straight from its source row, or a copy of the
 * row before when both read the same one (an integer upscale's repeated
 * rows, while that row is in cache); a 2x upscale along W duplicates the
 * row's values by permutes, not a gather per column (YOLO-style 2x
 * upsamples: 128x40x40 -> 80x80 252 -> 150 us at 1 thread, as long as
 * writing its 3.3 MB takes). */
static void nearest_plane(const planes_job *j, const float *x, float *y)
{
    for (int64_t oy = 0; oy < j->OH; oy++) {
        float *yr = y + oy * j->OW;
        const int64_t r = j->ty.i0[oy];
        if (oy > 0 && r == j->ty.i0[oy - 1]) {
            memcpy(yr, yr - j->OW, (size_t)j->OW * sizeof(float));
            continue;
        }
        const float *xr = x + r * j->W;
        if (j->dup2)
            dup2_row(xr, j->W, yr);
        else
            for (int64_t ox = 0; ox < j->OW; ox++) yr[ox] = xr[j->tx.i0[ox]];
    }
}

/* One plane. Linear: each source row resized along W once (its OW
 * outputs), then each output row blended from two of those, contiguous and
 * vectorised: H x OW column lookups instead of OH x OW. Nearest: see
 * nearest_plane. */
static void resize_plane(void *ctx, int64_t pl)
{
    const planes_job *j = ctx;
    const float *x = j->x + pl * j->H * j->W;
    float *y = j->y + pl * j->OH * j->OW;
    if (j->nearest) {
        nearest_plane(j, x, y);
        return;
    }
    float *h = spd_scratch(SPD_SCRATCH_OP, (size_t)(j->H * j->OW) * sizeof(float));
    if (!h) {
        atomic_store((atomic_int *)&j->failed, 1);
        return;
    }
    const int64_t *i0 = j->tx.i0, *i1 = j->tx.i1;
    const float *w0 = j->tx.w0, *w1 = j->tx.w1;
    for (int64_t r = 0; r < j->H; r++) {
        const float *xr = x + r * j->W;
        float *hr = h + r * j->OW;
        for (int64_t ox = 0; ox < j->OW; ox++) hr[ox] = w0[ox] * xr[i0[ox]] + w1[ox] * xr[i1[ox]];
    }
    for (int64_t oy = 0; oy < j->OH; oy++) {
        const float *restrict a = h + j->ty.i0[oy] * j->OW, *restrict b = h + j->ty.i1[oy] * j->OW;
        const float wa = j->ty.w0[oy], wb = j->ty.w1[oy];
        float *restrict yr = y + oy * j->OW;
        if (wb == 0.0f && wa == 1.0f) {
            memcpy(yr, a, (size_t)j->OW * sizeof(float));
            continue;
        }
        for (int64_t ox = 0; ox < j->OW; ox++) yr[ox] = wa * a[ox] + wb * b[ox];
    }
}

/* float32 [..., H, W] resized on its last two axes only (linear without
 * antialias, or nearest; no tf_crop_and_resize): per output row its two
 * source rows blended once, then each output column from that row, in
 * float (the reference's double path allocated and zeroed two double
 * copies of the output per call: DeepLab's 21 x 224 x 224 logits took 3.6
 * ms). 0 when the shape is not one of these, -1 out of memory, 1 done. */
static int resize_planes_f32(const resize_params *p, const spd_tensor *x, const double *scales,
                             const int64_t *odims, float *y)
{
    const int r = x->ndim;
    if (x->dtype != SPD_FLOAT || r < 2 || p->antialias || p->ctm == CT_TF_CROP || p->mode == M_CUBIC) return 0;
    if (p->mode == M_LINEAR && p->exclude_outside) return 0;
    for (int a = 0; a < r - 2; a++)
        if (!axis_identity(p, x->dims[a], odims[a], scales[a], 0, 1)) return 0;
    const int64_t H = x->dims[r - 2], W = x->dims[r - 1], OH = odims[r - 2], OW = odims[r - 1];
    if (H <= 0 || W <= 0) return 0;
    int64_t *idx = spd_malloc((size_t)(2 * (OH + OW)) * sizeof *idx);
    float *wt = spd_malloc((size_t)(2 * (OH + OW)) * sizeof *wt);
    if (!idx || !wt) {
        spd_free(idx);
        spd_free(wt);
        return -1;
    }
    planes_job j = {x->data, y, H, W, OH, OW, {idx, idx + OH, wt, wt + OH},
                    {idx + 2 * OH, idx + 2 * OH + OW, wt + 2 * OH, wt + 2 * OH + OW}, p->mode == M_NEAREST, false, 0};
    axis_taps_fill(p, H, OH, scales[r - 2], &j.ty);
    axis_taps_fill(p, W, OW, scales[r - 1], &j.tx);
    j.dup2 = j.nearest && OW == 2 * W;
    for (int64_t ox = 0; ox < OW && j.dup2; ox++) j.dup2 = j.tx.i0[ox] == ox / 2;
    const int64_t planes = spd_dims_prod(odims, 0, r - 2);
    if (planes * OH * OW >= SPD_PAR_MIN_STREAM && spd_thread_count() > 1)
        spd_parallel_for(planes, resize_plane, &j);
    else
        for (int64_t pl = 0; pl < planes; pl++) resize_plane(&j, pl);
    spd_free(idx);
    spd_free(wt);
    return atomic_load(&j.failed) ? -1 : 1;
}

static spd_status resize_run(spd_op_ctx *ctx, const spd_tensor *x, const resize_params *p, const double *scales,
                             const int64_t *odims, const double *roi)
{
    int r = x->ndim;
    size_t esz = spd_dtype_size(x->dtype);
    for (int i = 0; i < r; i++)
        if (x->dims[i] == 0 && odims[i] > 0)
            return spd_errorf(SPD_ERR_INVALID, "cannot resize an empty axis %d to %lld", i, (long long)odims[i]);
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, r, odims));
    int64_t total = spd_tensor_numel(&ctx->out[0]);
    if (total == 0) return SPD_OK;
    if (r == 0) {
        memcpy(ctx->out[0].data, x->data, esz);
        return SPD_OK;
    }
    if (!roi) {
        const int fast = resize_planes_f32(p, x, scales, odims, ctx->out[0].data);
        if (fast < 0) return spd_errorf(SPD_ERR_NOMEM, "out of memory resizing [%lld, %lld] planes",
                                        (long long)x->dims[r - 2], (long long)x->dims[r - 1]);
        if (fast) return SPD_OK;
    }
    int64_t xst[SPD_MAX_DIMS], summap = 0;
    {
        int64_t s = 1;
        for (int i = r - 1; i >= 0; i--) {
            xst[i] = s;
            s *= x->dims[i];
        }
    }
    for (int i = 0; i < r; i++) {
        summap += odims[i];
        /* an antialias filter spans about 4 / scale taps */
        if (p->antialias && scales[i] < 1e-6)
            return spd_errorf(SPD_ERR_UNSUPPORTED, "antialias at scale %g", scales[i]);
    }
    spd_status st = SPD_OK;

    if (p->mode == M_NEAREST) {
        /* map[a][o]: source offset along axis a, -1 for extrapolation */
        int64_t *maps = spd_malloc((size_t)summap * sizeof *maps), *map[SPD_MAX_DIMS], at = 0;
        if (!maps) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        for (int a = 0; a < r; a++) {
            map[a] = maps + at;
            at += odims[a];
            for (int64_t o = 0; o < odims[a]; o++) {
                int outside;
                double xo = source_coord(p, (double)o, scales[a], x->dims[a], odims[a], roi ? roi[a] : 0,
                                         roi ? roi[r + a] : 1, &outside);
                map[a][o] = outside ? -1 : nearest_index(p, xo, scales[a], x->dims[a]) * xst[a];
            }
        }
        unsigned char ext[16] = {0};
        spd_tensor et = {0};
        et.dtype = x->dtype;
        et.data = ext;
        spd_tensor_set(&et, 0, store_round(x->dtype, p->extrapolation));
        int64_t idx[SPD_MAX_DIMS] = {0}, inner = odims[r - 1];
        char *d = ctx->out[0].data;
        const char *src = x->data;
        for (int64_t done = 0; done < total; done += inner) {
            int64_t base = 0;
            for (int i = 0; i < r - 1 && base >= 0; i++) base = map[i][idx[i]] < 0 ? -1 : base + map[i][idx[i]];
            for (int64_t o = 0; o < inner; o++, d += esz) {
                if (base < 0 || map[r - 1][o] < 0) memcpy(d, ext, esz);
                else memcpy(d, src + (size_t)(base + map[r - 1][o]) * esz, esz);
            }
            for (int k = r - 2; k >= 0; k--) {
                if (++idx[k] < odims[k]) break;
                idx[k] = 0;
            }
        }
        spd_free(maps);
        return SPD_OK;
    }

    /* linear / cubic: one axis at a time, innermost first, in double */
    int64_t n_in = spd_tensor_numel(x);
    double *cur = spd_malloc((size_t)n_in * sizeof *cur), *nxt = NULL;
    if (!cur) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    if (x->dtype == SPD_FLOAT)
        for (int64_t i = 0; i < n_in; i++) cur[i] = ((const float *)x->data)[i];
    else
        for (int64_t i = 0; i < n_in; i++) cur[i] = spd_tensor_get(x, i);
    int64_t dims[SPD_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    int64_t *tap_idx = NULL;
    double *tap_w = NULL;
    for (int a = r - 1; a >= 0; a--) {
        int64_t in = dims[a], out = odims[a];
        /* an axis that maps every output exactly onto its input is skipped */
        if (axis_identity(p, in, out, scales[a], roi ? roi[a] : 0, roi ? roi[r + a] : 1)) continue;
        int64_t outer = spd_dims_prod(dims, 0, a), inner = spd_dims_prod(dims, a + 1, r);
        int ntap = 2 - 2 * tap_start(p, scales[a]);
        spd_free(tap_idx);
        spd_free(tap_w);
        tap_idx = spd_malloc((size_t)ntap * sizeof *tap_idx);
        tap_w = spd_malloc((size_t)ntap * sizeof *tap_w);
        nxt = spd_calloc((size_t)(outer * out * inner), sizeof *nxt);
        if (!nxt || !tap_idx || !tap_w) {
            st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int64_t o = 0; o < out; o++) {
            int outside;
            double xo = source_coord(p, (double)o, scales[a], in, out, roi ? roi[a] : 0, roi ? roi[r + a] : 1,
                                     &outside);
            int n = outside ? 0 : taps_for(p, xo, scales[a], in, tap_idx, tap_w);
            for (int64_t b = 0; b < outer; b++) {
                double *dst = nxt + (b * out + o) * inner;
                if (outside) {
                    for (int64_t j = 0; j < inner; j++) dst[j] = p->extrapolation;
                    continue;
                }
                for (int k = 0; k < n; k++) {
                    if (tap_w[k] == 0) continue;
                    const double *s = cur + (b * in + tap_idx[k]) * inner, wk = tap_w[k];
                    for (int64_t j = 0; j < inner; j++) dst[j] += wk * s[j];
                }
            }
        }
        spd_free(cur);
        cur = nxt;
        nxt = NULL;
        dims[a] = out;
    }
    if (x->dtype == SPD_FLOAT)
        for (int64_t i = 0; i < total; i++) ((float *)ctx->out[0].data)[i] = (float)cur[i];
    else
        for (int64_t i = 0; i < total; i++) spd_tensor_set(&ctx->out[0], i, store_round(x->dtype, cur[i]));
done:
    spd_free(cur);
    spd_free(nxt);
    spd_free(tap_idx);
    spd_free(tap_w);
    return st;
}

static spd_status op_resize(spd_op_ctx *ctx)
{
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const ctms[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                                       "align_corners", "asymmetric", "tf_crop_and_resize",
                                       "tf_half_pixel_for_nn"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    const spd_node *nd = ctx->node;
    int is_upsample = !strcmp(nd->op_type, "Upsample");
    const spd_tensor *x = spd_op_in(ctx, 0);
    if (!x) return spd_errorf(SPD_ERR_INVALID, "input X is missing");
    SPD_TRY(check_real_dtype(x));
    int r = x->ndim;

    resize_params p = {0};
    const char *ms = spd_attr_string(nd, "mode", "nearest");
    /* Upsample-7 spelled linear "bilinear" in some exporters */
    p.mode = is_upsample && !strcmp(ms, "bilinear") ? M_LINEAR : lookup(ms, modes, 3);
    if (p.mode < 0 || (p.mode == M_CUBIC && (is_upsample || ctx->opset < 11)))
        return spd_errorf(SPD_ERR_INVALID, "mode '%s'", ms);
    int old = is_upsample || ctx->opset < 11; /* Upsample and Resize-10 */
    if (old) {
        p.ctm = CT_ASYMMETRIC;
        p.nearest = NR_SIMPLE;
    } else {
        const char *cs = spd_attr_string(nd, "coordinate_transformation_mode", "half_pixel");
        p.ctm = lookup(cs, ctms, 7);
        if (p.ctm < 0 || (p.ctm == CT_HALF_PIXEL_SYM && ctx->opset < 19) ||
            (p.ctm == CT_TF_HALF_PIXEL_NN && ctx->opset >= 13))
            return spd_errorf(SPD_ERR_INVALID, "coordinate_transformation_mode '%s'", cs);
        const char *ns = spd_attr_string(nd, "nearest_mode", "round_prefer_floor");
        p.nearest = lookup(ns, nearests, 4);
        if (p.nearest < 0) return spd_errorf(SPD_ERR_INVALID, "nearest_mode '%s'", ns);
        p.cubic_a = spd_attr_float(nd, "cubic_coeff_a", -0.75f);
        p.exclude_outside = spd_attr_int(nd, "exclude_outside", 0) != 0;
        p.extrapolation = spd_attr_float(nd, "extrapolation_value", 0.0f);
        p.antialias = ctx->opset >= 18 && spd_attr_int(nd, "antialias", 0) != 0 && p.mode != M_NEAREST;
    }
    if (p.mode != M_NEAREST && !spd_dtype_is_float(x->dtype) && !spd_dtype_is_int(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s resize of %s", ms, spd_dtype_name(x->dtype));

    /* The axes the scales/sizes/roi refer to (opset 18), all by default. */
    int axes[SPD_MAX_DIMS], na = r;
    for (int i = 0; i < r; i++) axes[i] = i;
    if (!old && ctx->opset >= 18) {
        size_t cnt;
        const int64_t *av = spd_attr_ints(nd, "axes", &cnt);
        if (av) {
            if ((int)cnt > r) return spd_errorf(SPD_ERR_INVALID, "axes has %zu values for rank %d", cnt, r);
            int seen[SPD_MAX_DIMS] = {0};
            for (size_t i = 0; i < cnt; i++) {
                int64_t a = av[i] < 0 ? av[i] + r : av[i];
                if (a < 0 || a >= r || seen[a]) return spd_errorf(SPD_ERR_INVALID, "bad or repeated axis %lld", (long long)av[i]);
                seen[a] = 1;
                axes[i] = (int)a;
            }
            na = (int)cnt;
        }
    }

    const spd_tensor *roi_t = NULL, *sc_t = NULL, *sz_t = NULL;
    float attr_scales[SPD_MAX_DIMS];
    if (is_upsample && ctx->opset < 9) {
        size_t cnt;
        const float *f = spd_attr_floats(nd, "scales", &cnt);
        if (!f || (int)cnt != r) return spd_errorf(SPD_ERR_INVALID, "attribute scales must have %d values", r);
        memcpy(attr_scales, f, cnt * sizeof *f);
    } else if (old) {
        sc_t = spd_op_in(ctx, 1);
        if (!sc_t) return spd_errorf(SPD_ERR_INVALID, "input scales is missing");
    } else {
        roi_t = spd_op_in(ctx, 1);
        sc_t = spd_op_in(ctx, 2);
        sz_t = spd_op_in(ctx, 3);
        if (sc_t && spd_tensor_numel(sc_t) == 0) sc_t = NULL; /* opset 11 passes an empty one */
        if (sz_t && spd_tensor_numel(sz_t) == 0) sz_t = NULL;
        if (!!sc_t == !!sz_t) return spd_errorf(SPD_ERR_INVALID, "exactly one of scales and sizes must be given");
    }

    double scales[SPD_MAX_DIMS], roi[2 * SPD_MAX_DIMS];
    int64_t odims[SPD_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        scales[i] = 1;
        odims[i] = x->dims[i];
        roi[i] = 0;
        roi[r + i] = 1;
    }
    if (p.ctm == CT_TF_CROP && roi_t && spd_tensor_numel(roi_t) > 0) {
        if (!spd_dtype_is_float(roi_t->dtype) || spd_tensor_numel(roi_t) != 2 * na)
            return spd_errorf(SPD_ERR_INVALID, "roi must hold %d floats", 2 * na);
        for (int i = 0; i < na; i++) {
            roi[axes[i]] = spd_tensor_get(roi_t, i);
            roi[r + axes[i]] = spd_tensor_get(roi_t, na + i);
        }
    }
    if (sz_t) {
        if (sz_t->dtype != SPD_INT64 || spd_tensor_numel(sz_t) != na)
            return spd_errorf(SPD_ERR_INVALID, "sizes must hold %d int64 values", na);
        const char *pol = ctx->opset >= 18 ? spd_attr_string(nd, "keep_aspect_ratio_policy", "stretch") : "stretch";
        int policy = !strcmp(pol, "stretch") ? 0 : !strcmp(pol, "not_larger") ? 1 : !strcmp(pol, "not_smaller") ? 2 : -1;
        if (policy < 0) return spd_errorf(SPD_ERR_INVALID, "keep_aspect_ratio_policy '%s'", pol);
        double keep = policy == 1 ? INFINITY : 0;
        for (int i = 0; i < na; i++) {
            int64_t s = spd_tensor_get_i64(sz_t, i), in = x->dims[axes[i]];
            if (s < 0) return spd_errorf(SPD_ERR_INVALID, "negative size %lld", (long long)s);
            odims[axes[i]] = s;
            scales[axes[i]] = in ? (double)s / (double)in : 1.0;
            if (policy == 1) keep = fmin(keep, scales[axes[i]]);
            if (policy == 2) keep = fmax(keep, scales[axes[i]]);
        }
        if (policy) {
            for (int i = 0; i < na; i++) {
                scales[axes[i]] = keep;
                odims[axes[i]] = (int64_t)floor(keep * (double)x->dims[axes[i]] + 0.5);
            }
        }
    } else {
        int ns = na;
        if (sc_t) {
            if (!spd_dtype_is_float(sc_t->dtype) || spd_tensor_numel(sc_t) != na)
                return spd_errorf(SPD_ERR_INVALID, "scales must hold %d floats", na);
        }
        for (int i = 0; i < ns; i++) {
            double s = sc_t ? spd_tensor_get(sc_t, i) : attr_scales[i];
            if (!(s > 0) || !isfinite(s)) return spd_errorf(SPD_ERR_INVALID, "scale %g", s);
            if (is_upsample && s < 1) return spd_errorf(SPD_ERR_INVALID, "Upsample scale %g is below 1", s);
            int a = axes[i];
            scales[a] = s;
            /* floor(in * scale), as the reference and ONNX Runtime compute
             * it (the roi does not enter, whatever the spec text says) */
            double len = (double)x->dims[a] * s;
            if (!(len >= 0) || len > (double)((int64_t)1 << 40))
                return spd_errorf(SPD_ERR_INVALID, "output size %g on axis %d", len, a);
            odims[a] = (int64_t)floor(len);
        }
    }
    return resize_run(ctx, x, &p, scales, odims, p.ctm == CT_TF_CROP ? roi : NULL);
}

/* ---------------------------------------------------------------- GridSample */

enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION };

/* As PyTorch's grid_sampler, which defines the operator's behaviour. */
static double reflect_coord(double v, double twice_low, double twice_high)
{
    if (twice_low == twice_high) return 0;
    double mn = twice_low / 2, span = (twice_high - twice_low) / 2;
    v = fabs(v - mn);
    double extra = fmod(v, span);
    int64_t flips = (int64_t)floor(v / span);
    return flips % 2 == 0 ? extra + mn : span - extra + mn;
}

static double pad_coord(double v, int64_t size, int padding, int align)
{
    if (padding == PAD_BORDER) return fmin((double)(size - 1), fmax(v, 0));
    if (padding == PAD_REFLECTION) {
        v = align ? reflect_coord(v, 0, 2 * (double)(size - 1)) : reflect_coord(v, -1, 2 * (double)size - 1);
        return fmin((double)(size - 1), fmax(v, 0));
    }
    return v;
}

static double cubic_conv1(double x, double A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
static double cubic_conv2(double x, double A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

static spd_status op_grid_sample(spd_op_ctx *ctx)
{
    const spd_tensor *x = spd_op_in(ctx, 0), *g = spd_op_in(ctx, 1);
    if (!x || !g) return spd_errorf(SPD_ERR_INVALID, "inputs X and grid are required");
    if (!spd_dtype_is_float(x->dtype) || !spd_dtype_is_float(g->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "GridSample of %s with a %s grid", spd_dtype_name(x->dtype),
                          spd_dtype_name(g->dtype));
    int r = x->ndim, D = r - 2;
    if (D < 1 || (ctx->opset < 20 && D != 2))
        return spd_errorf(SPD_ERR_INVALID, "X has rank %d", r);
    if (g->ndim != r || g->dims[0] != x->dims[0] || g->dims[r - 1] != D)
        return spd_errorf(SPD_ERR_INVALID, "grid must have shape [N, ..., %d] matching X", D);
    const char *ms = spd_attr_string(ctx->node, "mode", ctx->opset >= 20 ? "linear" : "bilinear");
    int mode;
    if (!strcmp(ms, "nearest")) mode = M_NEAREST;
    else if (!strcmp(ms, ctx->opset >= 20 ? "linear" : "bilinear")) mode = M_LINEAR;
    else if (!strcmp(ms, ctx->opset >= 20 ? "cubic" : "bicubic")) mode = M_CUBIC;
    else return spd_errorf(SPD_ERR_INVALID, "mode '%s'", ms);
    if (mode == M_CUBIC && D > 3) return spd_errorf(SPD_ERR_UNSUPPORTED, "cubic GridSample in %d-D", D);
    const char *ps = spd_attr_string(ctx->node, "padding_mode", "zeros");
    int padding = !strcmp(ps, "zeros") ? PAD_ZEROS : !strcmp(ps, "border") ? PAD_BORDER
                : !strcmp(ps, "reflection") ? PAD_REFLECTION : -1;
    if (padding < 0) return spd_errorf(SPD_ERR_INVALID, "padding_mode '%s'", ps);
    int align = spd_attr_int(ctx->node, "align_corners", 0) != 0;

    int64_t N = x->dims[0], C = x->dims[1], odims[SPD_MAX_DIMS];
    odims[0] = N;
    odims[1] = C;
    for (int i = 0; i < D; i++) odims[2 + i] = g->dims[1 + i];
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, r, odims));
    const int64_t *in_sz = x->dims + 2;
    int64_t P = spd_dims_prod(odims, 2, r), S = spd_dims_prod(x->dims, 2, r);
    int64_t xst[SPD_MAX_DIMS];
    {
        int64_t s = 1;
        for (int i = D - 1; i >= 0; i--) {
            xst[i] = s;
            s *= in_sz[i];
        }
    }
    int T = mode == M_NEAREST ? 1 : mode == M_LINEAR ? 2 : 4, ntaps = 1;
    for (int i = 0; i < D; i++) ntaps *= T;
    const double A = -0.75;
    spd_tensor *out = &ctx->out[0];
    for (int64_t n = 0; n < N; n++)
        for (int64_t pi = 0; pi < P; pi++) {
            /* per spatial dim: T source indices (-1 when out of bounds) and weights */
            int64_t ti[SPD_MAX_DIMS][4];
            double tw[SPD_MAX_DIMS][4];
            for (int d = 0; d < D; d++) {
                /* grid's last axis lists coordinates innermost dimension first */
                double c = spd_tensor_get(g, (n * P + pi) * D + (D - 1 - d));
                int64_t size = in_sz[d];
                double v = align ? (c + 1) / 2 * (double)(size - 1) : ((c + 1) * (double)size - 1) / 2;
                /* far-away coordinates are clamped so that index arithmetic stays in range */
                if (fabs(v) > 1e9) v = copysign(1e9, v);
                if (isnan(v)) { /* NaN samples nothing: zero */
                    for (int k = 0; k < T; k++) {
                        ti[d][k] = -1;
                        tw[d][k] = 0;
                    }
                    continue;
                }
                if (mode == M_NEAREST || mode == M_LINEAR) v = pad_coord(v, size, padding, align);
                if (mode == M_NEAREST) {
                    double rv = nearbyint(v);
                    ti[d][0] = rv >= 0 && rv < (double)size ? (int64_t)rv : -1;
                    tw[d][0] = 1;
                    continue;
                }
                double f = floor(v), t = v - f;
                int64_t i0 = (int64_t)f;
                if (mode == M_LINEAR) {
                    for (int k = 0; k < 2; k++) {
                        int64_t i = i0 + k;
                        ti[d][k] = i >= 0 && i < size ? i : -1;
                    }
                    tw[d][0] = 1 - t;
                    tw[d][1] = t;
                } else {
                    tw[d][0] = cubic_conv2(t + 1, A);
                    tw[d][1] = cubic_conv1(t, A);
                    tw[d][2] = cubic_conv1(1 - t, A);
                    tw[d][3] = cubic_conv2(2 - t, A);
                    for (int k = 0; k < 4; k++) {
                        /* each tap is padded on its own, as PyTorch does */
                        double q = pad_coord((double)(i0 - 1 + k), size, padding, align);
                        int64_t i = (int64_t)q;
                        ti[d][k] = q >= 0 && i < size ? i : -1;
                    }
                }
            }
            for (int64_t c = 0; c < C; c++) {
                int64_t plane = (n * C + c) * S;
                double acc = 0;
                for (int t = 0; t < ntaps; t++) {
                    int64_t off = 0;
                    double w = 1;
                    for (int d = D - 1, rem = t; d >= 0; d--, rem /= T) {
                        int k = rem % T;
                        if (ti[d][k] < 0) {
                            off = -1;
                            break;
                        }
                        off += ti[d][k] * xst[d];
                        w *= tw[d][k];
                    }
                    if (off >= 0) acc += w * spd_tensor_get(x, plane + off);
                }
                spd_tensor_set(out, (n * C + c) * P + pi, acc);
            }
        }
    return SPD_OK;
}

const spd_op_def spd_ops_resize[] = {
    {"Resize", "", 10, 21, op_resize},
    {"Upsample", "", 7, 10, op_resize},
    {"GridSample", "", 16, 21, op_grid_sample},
};
const int spd_ops_resize_count = (int)(sizeof spd_ops_resize / sizeof spd_ops_resize[0]);
