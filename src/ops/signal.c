/* Signal processing: DFT, STFT and MelWeightMatrix.
 *
 * Every transform is computed in double, one fibre at a time: a radix-2 FFT
 * when the length is a power of two, otherwise a plain O(n^2) sum over a
 * table of twiddle factors (so no sin/cos per product and no accumulated
 * phase error). Complex values travel as a trailing dimension of 2 (real,
 * imaginary); real inputs have a trailing dimension of 1. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "ir/op.h"
#include "util/alloc.h"
#include "util/status.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static inline double ld(const spd_tensor *t, int64_t i)
{
    if (t->dtype == SPD_FLOAT) return ((const float *)t->data)[i];
    if (t->dtype == SPD_DOUBLE) return ((const double *)t->data)[i];
    return spd_tensor_get(t, i);
}

static inline void st(spd_tensor *t, int64_t i, double v)
{
    if (t->dtype == SPD_FLOAT) ((float *)t->data)[i] = (float)v;
    else if (t->dtype == SPD_DOUBLE) ((double *)t->data)[i] = v;
    else spd_tensor_set(t, i, v);
}

static bool is_signal_dtype(spd_dtype t)
{
    return t == SPD_FLOAT || t == SPD_DOUBLE || t == SPD_FLOAT16 || t == SPD_BFLOAT16;
}

/* A scalar (or one-element) integer input. */
static spd_status scalar_int(const spd_tensor *t, const char *what, int64_t *v)
{
    if (t->dtype != SPD_INT32 && t->dtype != SPD_INT64)
        return spd_errorf(SPD_ERR_INVALID, "%s must be int32 or int64, got %s", what,
                          spd_dtype_name(t->dtype));
    if (spd_tensor_numel(t) != 1)
        return spd_errorf(SPD_ERR_INVALID, "%s must be a scalar, got %lld values", what,
                          (long long)spd_tensor_numel(t));
    *v = spd_tensor_get_i64(t, 0);
    return SPD_OK;
}

static spd_status scalar_float(const spd_tensor *t, const char *what, double *v)
{
    if (!spd_dtype_is_float(t->dtype))
        return spd_errorf(SPD_ERR_INVALID, "%s must be a float tensor, got %s", what,
                          spd_dtype_name(t->dtype));
    if (spd_tensor_numel(t) != 1)
        return spd_errorf(SPD_ERR_INVALID, "%s must be a scalar, got %lld values", what,
                          (long long)spd_tensor_numel(t));
    *v = spd_tensor_get(t, 0);
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* One-dimensional complex DFT                                              */

/* w^k = cs[k] + i*sn[k] with w = exp(-+2*pi*i/n); scratch holds a copy of
 * the input for the O(n^2) path. */
typedef struct dft_plan {
    int64_t n;
    bool inverse, pow2;
    double *cs, *sn, *tr, *ti;
} dft_plan;

static void plan_free(dft_plan *p)
{
    spd_free(p->cs);
    spd_free(p->sn);
    spd_free(p->tr);
    spd_free(p->ti);
    memset(p, 0, sizeof *p);
}

static spd_status plan_init(dft_plan *p, int64_t n, bool inverse)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->inverse = inverse;
    p->pow2 = n > 0 && (n & (n - 1)) == 0;
    size_t bytes = (size_t)n * sizeof(double);
    p->cs = spd_malloc(bytes);
    p->sn = spd_malloc(bytes);
    p->tr = spd_malloc(bytes);
    p->ti = spd_malloc(bytes);
    if (!p->cs || !p->sn || !p->tr || !p->ti) {
        plan_free(p);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for a DFT of length %lld", (long long)n);
    }
    double sign = inverse ? 1.0 : -1.0;
    for (int64_t k = 0; k < n; k++) {
        double a = 2.0 * M_PI * (double)k / (double)n;
        p->cs[k] = cos(a);
        p->sn[k] = sign * sin(a);
    }
    return SPD_OK;
}

/* Transforms re/im (length n) in place; the inverse is scaled by 1/n. */
static void dft_run(dft_plan *p, double *re, double *im)
{
    int64_t n = p->n;
    if (p->pow2) {
        for (int64_t i = 1, j = 0; i < n; i++) {
            int64_t bit = n >> 1;
            for (; j & bit; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j) {
                double t = re[i]; re[i] = re[j]; re[j] = t;
                t = im[i]; im[i] = im[j]; im[j] = t;
            }
        }
        for (int64_t len = 2; len <= n; len <<= 1) {
            int64_t half = len >> 1, step = n / len;
            for (int64_t i = 0; i < n; i += len) {
                for (int64_t j = 0; j < half; j++) {
                    double wr = p->cs[j * step], wi = p->sn[j * step];
                    double *ar = &re[i + j], *ai = &im[i + j];
                    double *br = &re[i + j + half], *bi = &im[i + j + half];
                    double vr = *br * wr - *bi * wi, vi = *br * wi + *bi * wr;
                    *br = *ar - vr;
                    *bi = *ai - vi;
                    *ar += vr;
                    *ai += vi;
                }
            }
        }
    } else {
        memcpy(p->tr, re, (size_t)n * sizeof(double));
        memcpy(p->ti, im, (size_t)n * sizeof(double));
        for (int64_t k = 0; k < n; k++) {
            double sr = 0, si = 0;
            int64_t idx = 0; /* j*k mod n, kept incrementally to avoid overflow */
            for (int64_t j = 0; j < n; j++) {
                double wr = p->cs[idx], wi = p->sn[idx];
                sr += p->tr[j] * wr - p->ti[j] * wi;
                si += p->tr[j] * wi + p->ti[j] * wr;
                idx += k;
                if (idx >= n) idx -= n;
            }
            re[k] = sr;
            im[k] = si;
        }
    }
    if (p->inverse) {
        for (int64_t k = 0; k < n; k++) {
            re[k] /= (double)n;
            im[k] /= (double)n;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* DFT                                                                      */

static spd_status op_dft(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0];
    if (!is_signal_dtype(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          spd_dtype_name(x->dtype));
    int r = x->ndim;
    if (r < 2 || (x->dims[r - 1] != 1 && x->dims[r - 1] != 2))
        return spd_errorf(SPD_ERR_INVALID,
                          "input must have rank >= 2 and a last dimension of 1 (real) or 2 (complex)");
    int64_t c = x->dims[r - 1];
    bool inverse = spd_attr_int(ctx->node, "inverse", 0) != 0;
    bool onesided = spd_attr_int(ctx->node, "onesided", 0) != 0;

    /* Opset 20 moved axis from an attribute (default 1) to an input
     * (default -2, counted over the full rank including the complex dim). */
    int64_t axis = 0;
    if (ctx->opset >= 20) {
        axis = -2;
        if (ctx->n_inputs > 2 && ctx->in[2]) SPD_TRY(scalar_int(ctx->in[2], "axis", &axis));
    } else {
        axis = spd_attr_int(ctx->node, "axis", 1);
    }
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r - 2)
        return spd_errorf(SPD_ERR_INVALID, "axis is out of range for a rank-%d input "
                          "(the last dimension holds the real and imaginary parts)", r);
    int a = (int)axis;

    int64_t len = x->dims[a], n = len;
    if (ctx->n_inputs > 1 && ctx->in[1]) {
        SPD_TRY(scalar_int(ctx->in[1], "dft_length", &n));
        if (n < 1) return spd_errorf(SPD_ERR_INVALID, "dft_length must be positive, got %lld", (long long)n);
    }
    int64_t bins = onesided ? n / 2 + 1 : n;
    if (n == 0) bins = 0;

    int64_t odims[SPD_MAX_DIMS];
    for (int d = 0; d < r; d++) odims[d] = x->dims[d];
    odims[a] = bins;
    odims[r - 1] = 2;
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, r, odims));
    spd_tensor *y = &ctx->out[0];
    if (spd_tensor_numel(y) == 0) return SPD_OK;

    int64_t outer = spd_dims_prod(x->dims, 0, a);
    int64_t inner = spd_dims_prod(x->dims, a + 1, r - 1);
    dft_plan p;
    SPD_TRY(plan_init(&p, n, inverse));
    double *re = spd_malloc((size_t)n * sizeof(double));
    double *im = spd_malloc((size_t)n * sizeof(double));
    if (!re || !im) {
        spd_free(re);
        spd_free(im);
        plan_free(&p);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for a DFT of length %lld", (long long)n);
    }
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t q = 0; q < inner; q++) {
            /* dft_length pads with zeros or truncates the signal */
            for (int64_t j = 0; j < n; j++) {
                if (j < len) {
                    int64_t src = ((o * len + j) * inner + q) * c;
                    re[j] = ld(x, src);
                    im[j] = c == 2 ? ld(x, src + 1) : 0.0;
                } else {
                    re[j] = im[j] = 0.0;
                }
            }
            dft_run(&p, re, im);
            for (int64_t k = 0; k < bins; k++) {
                int64_t dst = ((o * bins + k) * inner + q) * 2;
                st(y, dst, re[k]);
                st(y, dst + 1, im[k]);
            }
        }
    }
    spd_free(re);
    spd_free(im);
    plan_free(&p);
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* STFT                                                                     */

static spd_status op_stft(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0];
    if (!is_signal_dtype(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "signal dtype %s is not supported",
                          spd_dtype_name(x->dtype));
    /* [batch][length][1 or 2]; a rank-2 signal is read as real */
    int64_t c;
    if (x->ndim == 3 && (x->dims[2] == 1 || x->dims[2] == 2)) c = x->dims[2];
    else if (x->ndim == 2) c = 1;
    else
        return spd_errorf(SPD_ERR_INVALID, "signal must have shape [batch][length][1 or 2]");
    int64_t batch = x->dims[0], length = x->dims[1];

    if (ctx->n_inputs < 2 || !ctx->in[1]) return spd_errorf(SPD_ERR_INVALID, "frame_step is required");
    int64_t step = 0;
    SPD_TRY(scalar_int(ctx->in[1], "frame_step", &step));
    if (step < 1) return spd_errorf(SPD_ERR_INVALID, "frame_step must be positive, got %lld", (long long)step);

    const spd_tensor *w = ctx->n_inputs > 2 ? ctx->in[2] : NULL;
    const spd_tensor *fl = ctx->n_inputs > 3 ? ctx->in[3] : NULL;
    int64_t frame = -1;
    if (w) {
        if (w->ndim != 1) return spd_errorf(SPD_ERR_INVALID, "window must be 1-D, got rank %d", w->ndim);
        if (!is_signal_dtype(w->dtype))
            return spd_errorf(SPD_ERR_INVALID, "window dtype %s is not a float type", spd_dtype_name(w->dtype));
        frame = w->dims[0];
    }
    if (fl) {
        int64_t v = 0;
        SPD_TRY(scalar_int(fl, "frame_length", &v));
        if (frame >= 0 && v != frame)
            return spd_errorf(SPD_ERR_INVALID, "frame_length %lld differs from the window length %lld",
                              (long long)v, (long long)frame);
        frame = v;
    }
    if (frame < 0) return spd_errorf(SPD_ERR_INVALID, "either window or frame_length must be given");
    if (frame < 1 || frame > length)
        return spd_errorf(SPD_ERR_INVALID, "frame length %lld must be in [1, %lld]", (long long)frame,
                          (long long)length);
    bool onesided = spd_attr_int(ctx->node, "onesided", 1) != 0;
    int64_t frames = (length - frame) / step + 1;
    int64_t bins = onesided ? frame / 2 + 1 : frame;

    int64_t odims[4] = {batch, frames, bins, 2};
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, 4, odims));
    spd_tensor *y = &ctx->out[0];
    if (spd_tensor_numel(y) == 0) return SPD_OK;

    dft_plan p;
    SPD_TRY(plan_init(&p, frame, false));
    double *re = spd_malloc((size_t)frame * sizeof(double));
    double *im = spd_malloc((size_t)frame * sizeof(double));
    if (!re || !im) {
        spd_free(re);
        spd_free(im);
        plan_free(&p);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for an STFT of length %lld", (long long)frame);
    }
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t f = 0; f < frames; f++) {
            for (int64_t j = 0; j < frame; j++) {
                int64_t src = (b * length + f * step + j) * c;
                double wj = w ? ld(w, j) : 1.0;
                re[j] = ld(x, src) * wj;
                im[j] = c == 2 ? ld(x, src + 1) * wj : 0.0;
            }
            dft_run(&p, re, im);
            for (int64_t k = 0; k < bins; k++) {
                int64_t dst = ((b * frames + f) * bins + k) * 2;
                st(y, dst, re[k]);
                st(y, dst + 1, im[k]);
            }
        }
    }
    spd_free(re);
    spd_free(im);
    plan_free(&p);
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* MelWeightMatrix                                                          */

/* Follows the ONNX reference: num_mel_bins + 2 edge points equally spaced on
 * the mel scale (mel_step divides by num_mel_bins + 2, as the reference
 * does), mapped to spectrogram bins with floor((dft_length + 1) * hz / rate),
 * and a triangle per mel bin over those bins. */
static spd_status op_mel_weight_matrix(spd_op_ctx *ctx)
{
    for (int k = 0; k < 5; k++)
        if (ctx->n_inputs <= k || !ctx->in[k])
            return spd_errorf(SPD_ERR_INVALID, "all five inputs are required");
    int64_t nmel = 0, dft_length = 0, rate = 0;
    double lo = 0, hi = 0;
    SPD_TRY(scalar_int(ctx->in[0], "num_mel_bins", &nmel));
    SPD_TRY(scalar_int(ctx->in[1], "dft_length", &dft_length));
    SPD_TRY(scalar_int(ctx->in[2], "sample_rate", &rate));
    SPD_TRY(scalar_float(ctx->in[3], "lower_edge_hertz", &lo));
    SPD_TRY(scalar_float(ctx->in[4], "upper_edge_hertz", &hi));
    if (nmel < 1 || dft_length < 1 || rate < 1)
        return spd_errorf(SPD_ERR_INVALID, "num_mel_bins, dft_length and sample_rate must be positive");
    if (nmel > (1 << 24)) return spd_errorf(SPD_ERR_INVALID, "num_mel_bins %lld is too large", (long long)nmel);
    if (!(lo >= 0) || !(hi >= lo))
        return spd_errorf(SPD_ERR_INVALID, "need 0 <= lower_edge_hertz <= upper_edge_hertz");

    int64_t dt = spd_attr_int(ctx->node, "output_datatype", SPD_FLOAT);
    switch (dt) {
    case SPD_UINT8: case SPD_UINT16: case SPD_UINT32: case SPD_UINT64:
    case SPD_INT8: case SPD_INT16: case SPD_INT32: case SPD_INT64:
    case SPD_FLOAT16: case SPD_FLOAT: case SPD_DOUBLE: case SPD_BFLOAT16:
        break;
    default:
        return spd_errorf(SPD_ERR_INVALID, "output_datatype %lld is not a numeric type", (long long)dt);
    }

    int64_t nspec = dft_length / 2 + 1;
    int64_t npts = nmel + 2;
    int64_t *fb = spd_malloc((size_t)npts * sizeof(int64_t));
    if (!fb) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    double lo_mel = 2595.0 * log10(1.0 + lo / 700.0);
    double hi_mel = 2595.0 * log10(1.0 + hi / 700.0);
    double mel_step = (hi_mel - lo_mel) / (double)npts;
    for (int64_t i = 0; i < npts; i++) {
        double hz = 700.0 * (pow(10.0, ((double)i * mel_step + lo_mel) / 2595.0) - 1.0);
        fb[i] = (int64_t)floor((double)(dft_length + 1) * hz / (double)rate);
        if (fb[i] < 0 || fb[i] >= nspec + (i == npts - 1)) {
            spd_free(fb);
            return spd_errorf(SPD_ERR_INVALID,
                              "upper_edge_hertz %g lies beyond the %lld spectrogram bins of the DFT", hi,
                              (long long)nspec);
        }
    }

    int64_t odims[2] = {nspec, nmel};
    spd_status s = spd_tensor_alloc(&ctx->out[0], (spd_dtype)dt, 2, odims);
    if (s != SPD_OK) {
        spd_free(fb);
        return s;
    }
    spd_tensor *y = &ctx->out[0];
    for (int64_t i = 0; i < nmel; i++) {
        int64_t left = fb[i], center = fb[i + 1], right = fb[i + 2];
        if (center == left) {
            if (center < nspec) spd_tensor_set(y, center * nmel + i, 1.0);
        } else {
            for (int64_t j = left; j <= center && j < nspec; j++)
                spd_tensor_set(y, j * nmel + i, (double)(j - left) / (double)(center - left));
        }
        if (right > center) {
            for (int64_t j = center; j < right && j < nspec; j++)
                spd_tensor_set(y, j * nmel + i, (double)(right - j) / (double)(right - center));
        }
    }
    spd_free(fb);
    return SPD_OK;
}

const spd_op_def spd_ops_signal[] = {
    {"DFT", "", 17, 21, op_dft},
    {"STFT", "", 17, 21, op_stft},
    {"MelWeightMatrix", "", 17, 21, op_mel_weight_matrix},
};
const int spd_ops_signal_count = (int)(sizeof spd_ops_signal / sizeof spd_ops_signal[0]);
