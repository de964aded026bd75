/* Square depthwise kernels of 3 or 5 taps a side with equal strides 1 or 2
 * (dilation 1), channels-last, sixteen channels per vector (see
 * conv_nhwc.h; 3x3 with stride 1 has its own two-row kernel in
 * conv_nhwc_dw_avx512.c).
 *
 * A strip of up to 8 output pixels of one row keeps its accumulators in
 * registers; for each kernel row the K weight vectors are loaded once and
 * each input vector of the row is added into every output it reaches (up
 * to K at stride 1, up to (K+1)/2 at stride 2). The strip's input columns
 * and the row's kernel rows are clipped to the plane: padding costs no
 * copy and no multiply-add. EfficientNet's 5x5 and strided layers and
 * MobileNetV2's strided ones, channels-first, paid a set-up per plane of
 * 7x7 to 28x28 pixels (their 14x14 and 7x7 layers took 1.5-3x ONNX
 * Runtime's time). */
#include <stdbool.h>
#include <stdint.h>

#include "ops/conv_nhwc.h"
#include "ops/sgemm_fast.h"

#if defined(__x86_64__)
#include "ops/vmath_avx512_inl.h"

#define STRIP 8

/* What a strip reads besides its pixels, by value (see the 3x3 kernel:
 * read through a pointer, the fields were reloaded at every store). */
typedef struct dwk_ctx {
    const float *x;  /* image n's rows at channel c */
    const float *w;  /* tap vectors at channel c, C apart */
    int64_t H, W, C, pt, pl;
    __mmask16 m;
    int clamp;
} dwk_ctx;

/* S output pixels of output row oy from input column ix0 (the first tap
 * of the first pixel) on, written at y (the first pixel, channel c). */
INLINE512 void dwk_strip(const dwk_ctx k, const int K, const int ST, const int S, __m512 bias, __m512 lo, __m512 hi,
                         int64_t oy, int64_t ix0, float *y)
{
    const int64_t C = k.C;
    const int64_t tlo = ix0 < 0 ? -ix0 : 0, thi = k.W - ix0; /* columns in the plane: t in [tlo, thi) */
    __m512 acc[STRIP];
#pragma GCC unroll 8
    for (int s = 0; s < S; s++) acc[s] = bias;
    const int64_t iy0 = oy * ST - k.pt;
    for (int ky = 0; ky < K; ky++) {
        const int64_t iy = iy0 + ky;
        if (iy < 0 || iy >= k.H) continue;
        __m512 w[5];
#pragma GCC unroll 5
        for (int kx = 0; kx < K; kx++) w[kx] = _mm512_maskz_loadu_ps(k.m, k.w + (ky * K + kx) * C);
        const float *xr = k.x + (iy * k.W + ix0) * C;
#pragma GCC unroll 24
        for (int t = 0; t < (S - 1) * ST + K; t++) {
            if (t < tlo || t >= thi) continue;
            const __m512 v = _mm512_maskz_loadu_ps(k.m, xr + t * C);
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++)
                if (t - kx >= 0 && (t - kx) % ST == 0 && (t - kx) / ST < S)
                    acc[(t - kx) / ST] = _mm512_fmadd_ps(v, w[kx], acc[(t - kx) / ST]);
        }
    }
#pragma GCC unroll 8
    for (int s = 0; s < S; s++) {
        __m512 a = acc[s];
        if (k.clamp == SPD_CLAMP_RELU) a = _mm512_max_ps(a, _mm512_setzero_ps()); /* NaN -> 0, as the Relu pass */
        if (k.clamp == SPD_CLAMP_CLIP) a = _mm512_min_ps(hi, _mm512_max_ps(lo, a));
        _mm512_mask_storeu_ps(y + s * C, k.m, a);
    }
}

#define DWK_STRIPS(K, ST)                                                                                              \
    switch (s) {                                                                                                       \
    case 1: dwk_strip(*k, K, ST, 1, bias, lo, hi, oy, ix0, y); break;                                                  \
    case 2: dwk_strip(*k, K, ST, 2, bias, lo, hi, oy, ix0, y); break;                                                  \
    case 3: dwk_strip(*k, K, ST, 3, bias, lo, hi, oy, ix0, y); break;                                                  \
    case 4: dwk_strip(*k, K, ST, 4, bias, lo, hi, oy, ix0, y); break;                                                  \
    case 5: dwk_strip(*k, K, ST, 5, bias, lo, hi, oy, ix0, y); break;                                                  \
    case 6: dwk_strip(*k, K, ST, 6, bias, lo, hi, oy, ix0, y); break;                                                  \
    case 7: dwk_strip(*k, K, ST, 7, bias, lo, hi, oy, ix0, y); break;                                                  \
    default: dwk_strip(*k, K, ST, 8, bias, lo, hi, oy, ix0, y); break;                                                 \
    }

/* One strip of s pixels, the kernel size and stride made constant. */
TARGET512 static void dwk_strip_any(const dwk_ctx *k, int s, __m512 bias, __m512 lo, __m512 hi, int64_t oy,
                                    int64_t ix0, float *y, int K, int ST)
{
    if (K == 3 && ST == 1) {
        DWK_STRIPS(3, 1)
    } else if (K == 3) {
        DWK_STRIPS(3, 2)
    } else if (ST == 1) {
        DWK_STRIPS(5, 1)
    } else {
        DWK_STRIPS(5, 2)
    }
}

bool spd_nhwc_dwk_fits(const spd_nhwc_geom *g)
{
    return (g->KH == 3 || g->KH == 5) && g->KW == g->KH && (g->sh == 1 || g->sh == 2) && g->sw == g->sh &&
           g->dh == 1 && g->dw == 1;
}

TARGET512 void spd_nhwc_dwk_rows_avx512(const spd_nhwc_geom *g, const float *x, const float *wd, const float *bias,
                                        int clamp, float lo, float hi, float *y, int64_t r0, int64_t r1)
{
    const int64_t C = g->C;
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    dwk_ctx k = {.H = g->H, .W = g->W, .C = C, .pt = g->pt, .pl = g->pl, .clamp = clamp};
    for (int64_t c = 0; c < C; c += 16) {
        k.m = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1u);
        k.w = wd + c;
        const __m512 b = bias ? _mm512_maskz_loadu_ps(k.m, bias + c) : _mm512_setzero_ps();
        int64_t n = r0 / g->OH, oy = r0 % g->OH; /* row r, without a division per row */
        for (int64_t r = r0; r < r1; r++) {
            k.x = x + n * g->H * g->W * C + c;
            float *yr = y + (n * g->OH + oy) * g->OW * C + c;
            for (int64_t ox = 0; ox < g->OW; ox += STRIP)
                dwk_strip_any(&k, g->OW - ox < STRIP ? (int)(g->OW - ox) : STRIP, b, vlo, vhi, oy,
                              ox * g->sw - g->pl, yr + ox * C, (int)g->KH, (int)g->sh);
            if (++oy == g->OH) n++, oy = 0;
        }
    }
}
#else
bool spd_nhwc_dwk_fits(const spd_nhwc_geom *g)
{
    (void)g;
    return false;
}
#endif
