/* Depthwise 2-D convolution, float32 NCHW, AVX-512F (see conv_dw.h): the
 * 3x3 and 5x5 kernels with equal strides 1 or 2, sixteen output columns
 * per vector.
 *
 * The scheme is conv_dw_avx2.c's: the weights are broadcast once per
 * plane, each pass computes DW_ROWS output rows, and each input row loaded
 * serves every output row it touches; the padding costs no copy. What the
 * wider ISA changes: loads and stores at the row's ends take a mask
 * register (cheap here, where AVX2's masked stores cost several plain ones
 * on AMD, so no spilling order is needed), and stride 2 splits each pair
 * of loaded vectors into its even and odd elements with one two-source
 * permute each, in order. Bias, residual, Relu, Clip and SiLU are applied
 * in registers; other activations go over each pass's rows after it.
 *
 * MobileNetV2's and EfficientNet-B0's depthwise layers ran 1.3-3x as long
 * as ONNX Runtime's on AVX-512 machines with the AVX2 kernels (SiLU
 * included, which EfficientNet fuses into every one). */
#include "ops/conv_dw.h"

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__)
#include "ops/vmath_avx512_inl.h"

#define DW_RMAX 4
#define DW_ROWS(S) ((S) == 1 ? 4 : 2)

typedef struct plane16 {
    const float *x, *z;
    float *y;
    int64_t H, W, OH, OW, pt, pl;
} plane16;

/* Lanes i with 0 <= start + i < n. */
INLINE512 __mmask16 range16(int64_t start, int64_t n)
{
    const int64_t lo = start < 0 ? -start : 0, hi = n - start < 16 ? n - start : 16;
    if (hi <= lo) return 0;
    const uint32_t below_hi = hi >= 16 ? 0xFFFFu : (1u << hi) - 1u;
    return (__mmask16)(below_hi & ~((1u << lo) - 1u));
}

/* acc[0..R) += the taps of output columns [ox, ox+16) of the pass whose
 * input rows are rows[0 .. (R-1)*S + K) (NULL: padding); w: the K*K
 * weights, broadcast. EDGE: every load masked to [0, W). */
INLINE512 void dw_col16(const plane16 *c, const __m512 *w, const int K, const int S, const bool EDGE,
                        const bool FULL, const float *const *rows, int64_t ox, __m512 *acc)
{
    const int R = DW_ROWS(S);
    if (S == 1) {
        const int64_t x0 = ox - c->pl;
        __mmask16 m[5];
        if (EDGE) {
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) m[kx] = range16(x0 + kx, c->W);
        }
#pragma GCC unroll 12
        for (int j = 0; j < R - 1 + K; j++) {
            if (!FULL && !rows[j]) continue;
            const float *r = rows[j] + x0;
            __m512 t[5];
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) t[kx] = EDGE ? _mm512_maskz_loadu_ps(m[kx], r + kx) : _mm512_loadu_ps(r + kx);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const int ky = j - i;
                if (ky < 0 || ky >= K) continue;
#pragma GCC unroll 5
                for (int kx = 0; kx < K; kx++) acc[i] = _mm512_fmadd_ps(w[ky * K + kx], t[kx], acc[i]);
            }
        }
    } else {
        /* pair q = the 32 floats from x0 + 2q: its evens are tap column 2q,
         * its odds 2q + 1 */
        const int NP = (K + 1) / 2;
        const int64_t x0 = 2 * ox - c->pl;
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        __mmask16 m[6];
        if (EDGE) {
#pragma GCC unroll 3
            for (int q = 0; q < NP; q++) {
                m[2 * q] = range16(x0 + 2 * q, c->W);
                m[2 * q + 1] = range16(x0 + 2 * q + 16, c->W);
            }
        }
#pragma GCC unroll 12
        for (int j = 0; j < 2 * (R - 1) + K; j++) {
            if (!FULL && !rows[j]) continue;
            const float *r = rows[j] + x0;
            __m512 t[6];
#pragma GCC unroll 3
            for (int q = 0; q < NP; q++) {
                const __m512 lo = EDGE ? _mm512_maskz_loadu_ps(m[2 * q], r + 2 * q) : _mm512_loadu_ps(r + 2 * q);
                const __m512 hi =
                    EDGE ? _mm512_maskz_loadu_ps(m[2 * q + 1], r + 2 * q + 16) : _mm512_loadu_ps(r + 2 * q + 16);
                t[2 * q] = _mm512_permutex2var_ps(lo, even, hi);
                if (2 * q + 1 < K) t[2 * q + 1] = _mm512_permutex2var_ps(lo, odd, hi);
            }
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const int ky = j - 2 * i;
                if (ky < 0 || ky >= K) continue;
#pragma GCC unroll 5
                for (int kx = 0; kx < K; kx++) acc[i] = _mm512_fmadd_ps(w[ky * K + kx], t[kx], acc[i]);
            }
        }
    }
}

/* One plane; KIND is ac's kind when act16 applies it in registers, else
 * SPD_ACT_NONE and ac goes over each pass's rows after it. */
INLINE512 void dw_plane_run16(const plane16 *cp, const float *wp, float bias, const spd_act *ac, const int K,
                              const int S, const spd_act_kind KIND)
{
    const plane16 c = *cp; /* locals: the stores through y need not reload them */
    __m512 w[25];
#pragma GCC unroll 25
    for (int k = 0; k < K * K; k++) w[k] = _mm512_set1_ps(wp[k]);
    const __m512 bv = _mm512_set1_ps(bias), a = _mm512_set1_ps(ac->a), b = _mm512_set1_ps(ac->b);
    const bool late = KIND == SPD_ACT_NONE && ac->kind != SPD_ACT_NONE;
    const int R = DW_ROWS(S), NR = (R - 1) * S + K;
    /* the loads of a vector at ox cover [x0, x0 + span) */
    const int64_t span = S == 1 ? K - 1 + 16 : 2 * ((K + 1) / 2 - 1) + 32;
    const float *rows[2 * (DW_RMAX - 1) + 5];
    for (int64_t oy0 = 0; oy0 < c.OH; oy0 += R) {
        for (int j = 0; j < NR; j++) {
            const int64_t iy = oy0 * S - c.pt + j;
            rows[j] = iy >= 0 && iy < c.H ? c.x + iy * c.W : NULL;
        }
        const int nr = c.OH - oy0 < R ? (int)(c.OH - oy0) : R;
        bool full = nr == R;
        for (int j = 0; j < NR; j++) full = full && rows[j];
        const int64_t o0 = oy0 * c.OW;
        for (int64_t ox = 0; ox < c.OW; ox += 16) {
            const int64_t x0 = S == 1 ? ox - c.pl : 2 * ox - c.pl;
            const bool inside = ox + 16 <= c.OW && x0 >= 0 && x0 + span <= c.W;
            __m512 acc[DW_RMAX];
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) acc[i] = bv;
            if (inside && full) { /* the bulk: no padding rows, no masks, every output row */
                dw_col16(&c, w, K, S, false, true, rows, ox, acc);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    const int64_t o = o0 + i * c.OW + ox;
                    __m512 v = acc[i];
                    if (c.z) v = _mm512_add_ps(v, _mm512_loadu_ps(c.z + o));
                    _mm512_storeu_ps(c.y + o, act16(KIND, v, a, b, ac->a));
                }
                continue;
            }
            if (inside)
                dw_col16(&c, w, K, S, false, false, rows, ox, acc);
            else
                dw_col16(&c, w, K, S, true, false, rows, ox, acc);
            const __mmask16 sm = range16(ox, c.OW);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                if (i >= nr) continue;
                const int64_t o = o0 + i * c.OW + ox;
                __m512 v = acc[i];
                if (c.z) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(sm, c.z + o));
                _mm512_mask_storeu_ps(c.y + o, sm, act16(KIND, v, a, b, ac->a));
            }
        }
        if (late) spd_vact_f32(ac, c.y + o0, c.y + o0, nr * c.OW);
    }
}

/* One (K, S) kernel, with the activations applied in registers specialised. */
#define DW16_KERNEL(NAME, K, S)                                                                                        \
    static TARGET512 void NAME(const plane16 *c, const float *w, float bias, const spd_act *ac)                       \
    {                                                                                                                  \
        switch (ac->kind) {                                                                                            \
        case SPD_ACT_RELU: dw_plane_run16(c, w, bias, ac, K, S, SPD_ACT_RELU); break;                                  \
        case SPD_ACT_CLIP: dw_plane_run16(c, w, bias, ac, K, S, SPD_ACT_CLIP); break;                                  \
        case SPD_ACT_SILU: dw_plane_run16(c, w, bias, ac, K, S, SPD_ACT_SILU); break;                                  \
        case SPD_ACT_HARDSWISH: dw_plane_run16(c, w, bias, ac, K, S, SPD_ACT_HARDSWISH); break;                        \
        default: dw_plane_run16(c, w, bias, ac, K, S, SPD_ACT_NONE); break;                                            \
        }                                                                                                              \
    }

DW16_KERNEL(dw3s1_16, 3, 1)
DW16_KERNEL(dw3s2_16, 3, 2)
DW16_KERNEL(dw5s1_16, 5, 1)
DW16_KERNEL(dw5s2_16, 5, 2)

bool spd_depthwise_plane_avx512(const spd_dw_params *p, const float *x, const float *w, float bias,
                                const spd_act *ac, const float *z, float *y)
{
    if (!spd_depthwise_specialised(p)) return false;
    const plane16 c = {x, z, y, p->H, p->W, p->OH, p->OW, p->pt, p->pl};
    if (p->KH == 3) {
        if (p->sx == 1)
            dw3s1_16(&c, w, bias, ac);
        else
            dw3s2_16(&c, w, bias, ac);
    } else {
        if (p->sx == 1)
            dw5s1_16(&c, w, bias, ac);
        else
            dw5s2_16(&c, w, bias, ac);
    }
    return true;
}

#else

bool spd_depthwise_plane_avx512(const spd_dw_params *p, const float *x, const float *w, float bias,
                                const spd_act *ac, const float *z, float *y)
{
    (void)p, (void)x, (void)w, (void)bias, (void)ac, (void)z, (void)y;
    return false;
}

#endif
