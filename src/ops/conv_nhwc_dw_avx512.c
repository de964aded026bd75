/* 3x3 depthwise convolution with strides and dilations 1, channels-last,
 * sixteen channels per vector (see conv_nhwc.h).
 *
 * Keyword spotting's planes are 25x5: two of a row's five pixels and
 * every pixel of the first and last rows touch the padding, so the AVX2
 * path (interior pixels four at a time, the others through a general loop
 * that loads a weight vector per multiply-add) spent 2.7 us a layer on
 * 72K multiply-adds. Here a strip of up to eight output pixels of one row
 * keeps its accumulators and the nine weight vectors in registers, and
 * each input vector is loaded once and added into the (up to) three
 * outputs it reaches. The padding is only a skipped load: the strip's
 * input columns and the row's kernel rows are clipped to the plane. */
#include <stdbool.h>
#include <stdint.h>

#include "ops/conv_nhwc.h"
#include "ops/sgemm_fast.h"

#if defined(__x86_64__)
#include "ops/vmath_avx512_inl.h"

#define STRIP 8

typedef struct dw3_ctx {
    const float *rows[4]; /* input rows oy-pt .. oy-pt+3 at channel c (NULL: padding) */
    int64_t W, C, ystep;  /* ystep: from one output row to the next */
    __m512 w[9], bias, lo, hi;
    __mmask16 m;
    int clamp;
} dw3_ctx;

/* S output pixels of R (1 or 2) rows from input column ix0 on (the first
 * tap of the first pixel); y: the first pixel, at channel c. Two rows
 * share three of their four input rows and give the multiply-adds twice
 * as many independent chains (one row of five pixels waited on the
 * chains' latency). FULL: all 16 lanes are channels, no masks.
 *
 * Everything read from k goes into locals first: the stores to y may
 * alias k's floats, and the compiler reloaded the clamp and the mask for
 * every store and load (7 scalar instructions per input vector, the
 * kernel's bottleneck, against 2-3 multiply-adds). ROW: the strip is a
 * whole row with one padding column on each side, known at compile time. */
INLINE512 void dw3_strip(const dw3_ctx *k, const int R, const int S, const bool FULL, const bool ROW, int64_t ix0,
                         float *y)
{
    const __mmask16 m = k->m;
    const int64_t C = k->C, ystep = k->ystep;
    const int clamp = k->clamp;
    const __m512 lo = k->lo, hi = k->hi;
    /* the strip's columns inside the plane: t in [tlo, thi) */
    const int64_t tlo = ROW ? 1 : ix0 < 0 ? -ix0 : 0, thi = ROW ? S + 1 : k->W - ix0;
    __m512 w[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) w[t] = k->w[t];
    const float *rows[4];
#pragma GCC unroll 4
    for (int j = 0; j < R + 2; j++) rows[j] = k->rows[j] ? k->rows[j] + ix0 * C : NULL;
    __m512 acc[2][STRIP];
#pragma GCC unroll 2
    for (int o = 0; o < R; o++)
#pragma GCC unroll 8
        for (int s = 0; s < S; s++) acc[o][s] = k->bias;
#pragma GCC unroll 4
    for (int j = 0; j < R + 2; j++) {
        const float *xr = rows[j];
        if (!xr) continue;
#pragma GCC unroll 10
        for (int t = 0; t < S + 2; t++) {
            if (t < tlo || t >= thi) continue;
            const __m512 v = FULL ? _mm512_loadu_ps(xr + t * C) : _mm512_maskz_loadu_ps(m, xr + t * C);
#pragma GCC unroll 2
            for (int o = 0; o < R; o++) {
                const int ky = j - o;
                if (ky < 0 || ky > 2) continue;
#pragma GCC unroll 3
                for (int kx = 0; kx < 3; kx++)
                    if (t - kx >= 0 && t - kx < S)
                        acc[o][t - kx] = _mm512_fmadd_ps(v, w[ky * 3 + kx], acc[o][t - kx]);
            }
        }
    }
#pragma GCC unroll 2
    for (int o = 0; o < R; o++)
#pragma GCC unroll 8
        for (int s = 0; s < S; s++) {
            __m512 v = acc[o][s];
            if (clamp == SPD_CLAMP_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps()); /* NaN -> 0, as the Relu pass */
            if (clamp == SPD_CLAMP_CLIP) v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
            if (FULL)
                _mm512_storeu_ps(y + o * ystep + s * C, v);
            else
                _mm512_mask_storeu_ps(y + o * ystep + s * C, m, v);
        }
}

#define DW3_STRIPS(R, FULL)                                                                                            \
    switch (s) {                                                                                                       \
    case 1: dw3_strip(k, R, 1, FULL, false, ix0, y); break;                                                                   \
    case 2: dw3_strip(k, R, 2, FULL, false, ix0, y); break;                                                                   \
    case 3: dw3_strip(k, R, 3, FULL, false, ix0, y); break;                                                                   \
    case 4: dw3_strip(k, R, 4, FULL, false, ix0, y); break;                                                                   \
    case 5: dw3_strip(k, R, 5, FULL, false, ix0, y); break;                                                                   \
    case 6: dw3_strip(k, R, 6, FULL, false, ix0, y); break;                                                                   \
    case 7: dw3_strip(k, R, 7, FULL, false, ix0, y); break;                                                                   \
    default: dw3_strip(k, R, 8, FULL, false, ix0, y); break;                                                                  \
    }

INLINE512 void dw3_strip_any(const dw3_ctx *k, int rows, int s, int64_t ix0, float *y)
{
    /* a whole row of 4 or 5 pixels with one padding column on each side
     * (keyword spotting's 25x5 planes): with the skipped taps tested at
     * run time the compiler kept each input vector on the stack as well
     * (0.95x as long without the tests) */
    if (k->m == 0xFFFF && rows == 2 && ix0 == -1 && k->W == s && (s == 5 || s == 4)) {
        if (s == 5)
            dw3_strip(k, 2, 5, true, true, ix0, y);
        else
            dw3_strip(k, 2, 4, true, true, ix0, y);
        return;
    }
    if (k->m == 0xFFFF) {
        if (rows == 2) {
            DW3_STRIPS(2, true)
        } else {
            DW3_STRIPS(1, true)
        }
    } else if (rows == 2) {
        DW3_STRIPS(2, false)
    } else {
        DW3_STRIPS(1, false)
    }
}

TARGET512 void spd_nhwc_dw3_rows_avx512(const spd_nhwc_geom *g, const float *x, const float *wd, const float *bias,
                                        int clamp, float lo, float hi, float *y, int64_t r0, int64_t r1)
{
    const int64_t C = g->C;
    dw3_ctx k = {.W = g->W, .C = C, .ystep = g->OW * C, .lo = _mm512_set1_ps(lo), .hi = _mm512_set1_ps(hi),
                 .clamp = clamp};
    const int64_t n0 = r0 / g->OH, oy0 = r0 % g->OH;
    /* channel blocks outside, so each block's weights are loaded once */
    for (int64_t c = 0; c < C; c += 16) {
        k.m = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1u);
        for (int t = 0; t < 9; t++) k.w[t] = _mm512_maskz_loadu_ps(k.m, wd + t * C + c);
        k.bias = bias ? _mm512_maskz_loadu_ps(k.m, bias + c) : _mm512_setzero_ps();
        int64_t n = n0, oy = oy0; /* row r, without a division per row */
        for (int64_t r = r0; r < r1;) {
            const int rows = r + 1 < r1 && oy + 1 < g->OH ? 2 : 1; /* two rows of one image */
            for (int j = 0; j < 4; j++) {
                const int64_t iy = oy - g->pt + j;
                k.rows[j] = iy >= 0 && iy < g->H ? x + ((n * g->H + iy) * g->W) * C + c : NULL;
            }
            float *yr = y + (n * g->OH + oy) * g->OW * C + c;
            for (int64_t ox = 0; ox < g->OW; ox += STRIP)
                dw3_strip_any(&k, rows, g->OW - ox < STRIP ? (int)(g->OW - ox) : STRIP, ox - g->pl, yr + ox * C);
            r += rows;
            oy += rows;
            if (oy == g->OH) n++, oy = 0;
        }
    }
}
#endif
