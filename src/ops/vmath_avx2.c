/* AVX2+FMA versions of ops/vmath.h: 8 floats at a time, tails through
 * masked loads and stores. Only this file's functions carry
 * target("avx2,fma"); vmath.c calls them only when CPUID says the CPU has
 * both.
 *
 * exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Cephes' degree-6
 * polynomial, and 2^n applied as two factors 2^(n/2) 2^(n - n/2) so that
 * results down to the subnormal range round once, as libm's do.
 * erf: the faithfully rounded erff of N. Juffa (a polynomial in x^2 for
 * |x| <= 0.9277, 1 - exp(polynomial in |x|) above). */
#include "ops/vmath.h"
#include "util/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define INLINE TARGET static inline __attribute__((always_inline))

static const int32_t g_mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lanes [0, rem) set, 0 < rem < 8. */
INLINE __m256i tail_mask(int64_t rem) { return _mm256_loadu_si256((const __m256i *)(g_mask_tab + 8 - rem)); }

INLINE __m256 exp8(__m256 x)
{
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(88.8f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    p = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_blendv_ps(p, x, nan);
}

INLINE __m256 erf8(__m256 a)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 nan = _mm256_cmp_ps(a, a, _CMP_UNORD_Q);
    const __m256 t = _mm256_min_ps(_mm256_andnot_ps(sign, a), _mm256_set1_ps(10.0f));
    const __m256 s = _mm256_mul_ps(a, a);
    /* |a| > 0.927734375 */
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(-1.72853470e-5f), t, _mm256_set1_ps(3.83197126e-4f));
    __m256 u = _mm256_fmadd_ps(_mm256_set1_ps(-3.88396438e-3f), t, _mm256_set1_ps(2.42546219e-2f));
    const __m256 ts = _mm256_mul_ps(t, t);
    r = _mm256_fmadd_ps(r, ts, u);
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.06777877e-1f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-6.34846687e-1f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.28717512e-1f));
    r = _mm256_fmadd_ps(r, t, _mm256_sub_ps(_mm256_setzero_ps(), t));
    r = _mm256_sub_ps(_mm256_set1_ps(1.0f), exp8(r));
    r = _mm256_or_ps(r, _mm256_and_ps(a, sign));
    /* |a| <= 0.927734375 */
    __m256 q = _mm256_set1_ps(-5.96761703e-4f);
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(4.99119423e-3f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-2.67681349e-2f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.12819925e-1f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-3.76125336e-1f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.28379166e-1f));
    q = _mm256_fmadd_ps(q, a, a);
    const __m256 big = _mm256_cmp_ps(t, _mm256_set1_ps(0.927734375f), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_blendv_ps(q, r, big), a, nan);
}

/* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below, from one e = exp(-|x|). */
INLINE __m256 sigmoid8(__m256 x)
{
    const __m256 e = exp8(_mm256_or_ps(x, _mm256_set1_ps(-0.0f)));
    const __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(r, _mm256_mul_ps(e, r), neg);
}

INLINE __m256 gelu8(__m256 x)
{
    const __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* Cephes' tanhf: x + x^3 P(x^2) below |x| = 0.625, 1 - 2 / (e^2|x| + 1)
 * with x's sign above (|x| capped at 10: tanhf is 1 from about 9.01). */
INLINE __m256 tanh8(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x, z), p, x);
    const __m256 axc = _mm256_min_ps(ax, _mm256_set1_ps(10.0f));
    const __m256 e = exp8(_mm256_add_ps(axc, axc));
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    big = _mm256_or_ps(big, _mm256_and_ps(x, sign));
    const __m256 r = _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* The activations with the reference's NaN behaviour: maxps/minps return
 * their second operand when either is NaN. */
INLINE __m256 act8(spd_act_kind kind, __m256 v, __m256 a, __m256 b)
{
    const __m256 zero = _mm256_setzero_ps();
    switch (kind) {
    case SPD_ACT_RELU: return _mm256_max_ps(v, zero); /* NaN -> 0 like x > 0 ? x : 0 */
    case SPD_ACT_LEAKYRELU:
        return _mm256_blendv_ps(_mm256_mul_ps(v, a), v, _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
    case SPD_ACT_CLIP: return _mm256_min_ps(b, _mm256_max_ps(a, v)); /* NaN stays */
    case SPD_ACT_HARDSIGMOID: {
        const __m256 t = _mm256_add_ps(_mm256_mul_ps(a, v), b);
        return _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(zero, t));
    }
    case SPD_ACT_SIGMOID: return sigmoid8(v);
    case SPD_ACT_TANH: return tanh8(v);
    case SPD_ACT_SILU: return _mm256_mul_ps(v, sigmoid8(_mm256_mul_ps(a, v)));
    case SPD_ACT_GELU: return gelu8(v);
    default: return v;
    }
}

INLINE void act_loop(spd_act_kind kind, const spd_act *ac, float *y, int64_t n, float bias, const float *z)
{
    const __m256 a = _mm256_set1_ps(ac->a), b = _mm256_set1_ps(ac->b), bv = _mm256_set1_ps(bias);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), bv);
        if (z) v = _mm256_add_ps(v, _mm256_loadu_ps(z + i));
        _mm256_storeu_ps(y + i, act8(kind, v, a, b));
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        __m256 v = _mm256_add_ps(_mm256_maskload_ps(y + i, m), bv);
        if (z) v = _mm256_add_ps(v, _mm256_maskload_ps(z + i, m));
        _mm256_maskstore_ps(y + i, m, act8(kind, v, a, b));
    }
}

TARGET void spd_vact_bias_f32_avx2(const spd_act *ac, float *y, int64_t n, float bias, const float *z)
{
    switch (ac->kind) {
    case SPD_ACT_NONE: act_loop(SPD_ACT_NONE, ac, y, n, bias, z); break;
    case SPD_ACT_RELU: act_loop(SPD_ACT_RELU, ac, y, n, bias, z); break;
    case SPD_ACT_LEAKYRELU: act_loop(SPD_ACT_LEAKYRELU, ac, y, n, bias, z); break;
    case SPD_ACT_CLIP: act_loop(SPD_ACT_CLIP, ac, y, n, bias, z); break;
    case SPD_ACT_HARDSIGMOID: act_loop(SPD_ACT_HARDSIGMOID, ac, y, n, bias, z); break;
    case SPD_ACT_SIGMOID: act_loop(SPD_ACT_SIGMOID, ac, y, n, bias, z); break;
    case SPD_ACT_TANH: act_loop(SPD_ACT_TANH, ac, y, n, bias, z); break;
    case SPD_ACT_SILU: act_loop(SPD_ACT_SILU, ac, y, n, bias, z); break;
    case SPD_ACT_GELU: act_loop(SPD_ACT_GELU, ac, y, n, bias, z); break;
    }
}

/* y = act(x), out of place (no bias, no residual). */
INLINE void act_map(spd_act_kind kind, const spd_act *ac, float *y, const float *x, int64_t n)
{
    const __m256 a = _mm256_set1_ps(ac->a), b = _mm256_set1_ps(ac->b);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, act8(kind, _mm256_loadu_ps(x + i), a, b));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, act8(kind, _mm256_maskload_ps(x + i, m), a, b));
    }
}

TARGET void spd_vact_f32_avx2(const spd_act *ac, float *y, const float *x, int64_t n)
{
    switch (ac->kind) {
    case SPD_ACT_NONE: act_map(SPD_ACT_NONE, ac, y, x, n); break;
    case SPD_ACT_RELU: act_map(SPD_ACT_RELU, ac, y, x, n); break;
    case SPD_ACT_LEAKYRELU: act_map(SPD_ACT_LEAKYRELU, ac, y, x, n); break;
    case SPD_ACT_CLIP: act_map(SPD_ACT_CLIP, ac, y, x, n); break;
    case SPD_ACT_HARDSIGMOID: act_map(SPD_ACT_HARDSIGMOID, ac, y, x, n); break;
    case SPD_ACT_SIGMOID: act_map(SPD_ACT_SIGMOID, ac, y, x, n); break;
    case SPD_ACT_TANH: act_map(SPD_ACT_TANH, ac, y, x, n); break;
    case SPD_ACT_SILU: act_map(SPD_ACT_SILU, ac, y, x, n); break;
    case SPD_ACT_GELU: act_map(SPD_ACT_GELU, ac, y, x, n); break;
    }
}

/* y[i] = f(x[i]) for a vector function f. */
#define MAP_LOOP(F)                                                                                                    \
    do {                                                                                                               \
        int64_t i = 0;                                                                                                 \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, F(_mm256_loadu_ps(x + i)));                                \
        if (i < n) {                                                                                                   \
            const __m256i m = tail_mask(n - i);                                                                        \
            _mm256_maskstore_ps(y + i, m, F(_mm256_maskload_ps(x + i, m)));                                            \
        }                                                                                                              \
    } while (0)

TARGET void spd_vexp_f32_avx2(float *y, const float *x, int64_t n) { MAP_LOOP(exp8); }
TARGET void spd_verf_f32_avx2(float *y, const float *x, int64_t n) { MAP_LOOP(erf8); }
TARGET void spd_vsigmoid_f32_avx2(float *y, const float *x, int64_t n) { MAP_LOOP(sigmoid8); }
TARGET void spd_vgelu_f32_avx2(float *y, const float *x, int64_t n) { MAP_LOOP(gelu8); }
TARGET void spd_vtanh_f32_avx2(float *y, const float *x, int64_t n) { MAP_LOOP(tanh8); }

INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TARGET float spd_vexp_sub_sum_f32_avx2(float *y, const float *x, int64_t n, float sub)
{
    const __m256 sv = _mm256_set1_ps(sub);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), sv));
        _mm256_storeu_ps(y + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), sv)), _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(y + i, m, e);
        acc = _mm256_add_ps(acc, e);
    }
    return hsum8(acc);
}

TARGET float spd_vmax_f32_avx2(const float *x, int64_t n)
{
    __m256 mx = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        mx = _mm256_max_ps(mx, v);
    }
    if (!_mm256_testz_ps(nan, nan)) return NAN;
    float b[8];
    _mm256_storeu_ps(b, mx);
    float m = b[0];
    for (int k = 1; k < 8; k++) m = b[k] > m ? b[k] : m;
    for (; i < n; i++) {
        if (x[i] != x[i]) return x[i];
        m = x[i] > m ? x[i] : m;
    }
    return m;
}

/* ---- depthwise ---- */

/* 8 outputs of stride 2 starting at p: p[0], p[2], ..., p[14] (reads p[0..14]). */
INLINE __m256 load_even8(const float *p)
{
    const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 7);
    const __m256 s = _mm256_shuffle_ps(lo, hi, 0xD8); /* p0 p2 p8 p10 | p4 p6 p12 p14 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), 0xD8));
}

/* One output row, columns [ox0, ox1) all of whose taps are inside the row;
 * rows[ky] points at input row oy*sy + ky - pt or is NULL (padding). */
INLINE void dw_row_interior(const spd_dw_params *p, const float *const *rows, const float *w, float bias, int64_t ox0,
                            int64_t ox1, float *yr, bool read_past_end)
{
    const int64_t KH = p->KH, KW = p->KW, sx = p->sx, pl = p->pl;
    const __m256 bv = _mm256_set1_ps(bias);
    int64_t ox = ox0;
    for (; ox + 16 <= ox1; ox += 16) {
        __m256 a0 = bv, a1 = bv;
        for (int64_t ky = 0; ky < KH; ky++) {
            if (!rows[ky]) continue;
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) {
                const __m256 wv = _mm256_broadcast_ss(w + ky * KW + kx);
                if (sx == 1) {
                    a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + kx), a0);
                    a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + kx + 8), a1);
                } else {
                    a0 = _mm256_fmadd_ps(wv, load_even8(xr + kx), a0);
                    a1 = _mm256_fmadd_ps(wv, load_even8(xr + kx + 16), a1);
                }
            }
        }
        _mm256_storeu_ps(yr + ox, a0);
        _mm256_storeu_ps(yr + ox + 8, a1);
    }
    for (; ox + 8 <= ox1; ox += 8) {
        __m256 a0 = bv;
        for (int64_t ky = 0; ky < KH; ky++) {
            if (!rows[ky]) continue;
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) {
                const __m256 wv = _mm256_broadcast_ss(w + ky * KW + kx);
                a0 = _mm256_fmadd_ps(wv, sx == 1 ? _mm256_loadu_ps(xr + kx) : load_even8(xr + kx), a0);
            }
        }
        _mm256_storeu_ps(yr + ox, a0);
    }
    if (read_past_end && ox < ox1) {
        /* the last 1..7 columns in one vector: the loads may read past the
         * row (the caller's buffer has room), only the valid lanes are stored */
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(ox1 - ox)),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 a0 = bv;
        for (int64_t ky = 0; ky < KH; ky++) {
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) {
                const __m256 wv = _mm256_broadcast_ss(w + ky * KW + kx);
                a0 = _mm256_fmadd_ps(wv, sx == 1 ? _mm256_loadu_ps(xr + kx) : load_even8(xr + kx), a0);
            }
        }
        _mm256_maskstore_ps(yr + ox, mask, a0);
        return;
    }
    for (; ox < ox1; ox++) {
        float acc = bias;
        for (int64_t ky = 0; ky < KH; ky++) {
            if (!rows[ky]) continue;
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) acc += w[ky * KW + kx] * xr[kx];
        }
        yr[ox] = acc;
    }
}

/* Output column ox with its taps clipped to the row. */
static inline float dw_edge(const spd_dw_params *p, const float *const *rows, const float *w, float bias, int64_t ox)
{
    float acc = bias;
    for (int64_t ky = 0; ky < p->KH; ky++) {
        if (!rows[ky]) continue;
        for (int64_t kx = 0; kx < p->KW; kx++) {
            const int64_t ix = ox * p->sx + kx - p->pl;
            if (ix >= 0 && ix < p->W) acc += w[ky * p->KW + kx] * rows[ky][ix];
        }
    }
    return acc;
}

/* Planes up to this many floats are zero-padded on the stack; the copy
 * has DW_SLACK floats beyond the plane for the last row's vector reads. */
#define DW_STACK_FLOATS 8192
#define DW_SLACK 32

TARGET void spd_depthwise_plane_avx2(const spd_dw_params *p, const float *x, const float *w, float bias,
                                     const spd_act *ac, const float *z, float *y)
{
    const float *rows[64];
    const int64_t OW = p->OW, OH = p->OH;
    /* The input window every output reads: with padding, a zero-bordered copy
     * of the plane makes every column an interior one, so each row runs in
     * vectors from edge to edge (small planes are mostly edge otherwise). */
    const int64_t PH = (OH - 1) * p->sy + p->KH, PW = (OW - 1) * p->sx + p->KW;
    const bool pad = p->pt > 0 || p->pl > 0 || PH > p->H || PW > p->W || OW % 8 != 0;
    float sbuf[DW_STACK_FLOATS];
    float *heap = NULL, *buf = NULL;
    if (pad) {
        const int64_t n = PH * PW + DW_SLACK;
        buf = n <= DW_STACK_FLOATS ? sbuf : (heap = spd_malloc((size_t)n * sizeof(float)));
        if (buf) memset(buf + PH * PW, 0, DW_SLACK * sizeof(float));
    }
    if (pad && buf) {
        for (int64_t r = 0; r < PH; r++) {
            float *dst = buf + r * PW;
            const int64_t iy = r - p->pt;
            if (iy < 0 || iy >= p->H) {
                memset(dst, 0, (size_t)PW * sizeof(float));
                continue;
            }
            const int64_t c0 = p->pl < PW ? p->pl : PW; /* first column inside the input */
            int64_t c1 = p->pl + p->W;                  /* one past the last */
            if (c1 > PW) c1 = PW;
            memset(dst, 0, (size_t)c0 * sizeof(float));
            if (c1 > c0) memcpy(dst + c0, x + iy * p->W + (c0 - p->pl), (size_t)(c1 - c0) * sizeof(float));
            if (c1 < PW) memset(dst + (c1 > c0 ? c1 : c0), 0, (size_t)(PW - (c1 > c0 ? c1 : c0)) * sizeof(float));
        }
        spd_dw_params q = *p;
        q.H = PH;
        q.W = PW;
        q.pt = q.pl = 0;
        for (int64_t oy = 0; oy < OH; oy++) {
            for (int64_t ky = 0; ky < q.KH; ky++) rows[ky] = buf + (oy * q.sy + ky) * PW;
            dw_row_interior(&q, rows, w, bias, 0, OW, y + oy * OW, true);
        }
    } else {
        /* no padding (or no memory for the copy): interior columns in
         * vectors, the clipped edge columns one by one */
        const int64_t sx = p->sx;
        int64_t lo = (p->pl + sx - 1) / sx;
        int64_t hi = p->W - p->KW + p->pl >= 0 ? (p->W - p->KW + p->pl) / sx + 1 : 0;
        if (lo > OW) lo = OW;
        if (hi > OW) hi = OW;
        if (hi < lo) hi = lo;
        for (int64_t oy = 0; oy < OH; oy++) {
            for (int64_t ky = 0; ky < p->KH; ky++) {
                const int64_t iy = oy * p->sy + ky - p->pt;
                rows[ky] = iy >= 0 && iy < p->H ? x + iy * p->W : NULL;
            }
            float *yr = y + oy * OW;
            for (int64_t ox = 0; ox < lo; ox++) yr[ox] = dw_edge(p, rows, w, bias, ox);
            dw_row_interior(p, rows, w, bias, lo, hi, yr, false);
            for (int64_t ox = hi; ox < OW; ox++) yr[ox] = dw_edge(p, rows, w, bias, ox);
        }
    }
    spd_free(heap);
    /* the epilogue once over the whole plane, not row by row */
    if (ac->kind != SPD_ACT_NONE || z) spd_vact_bias_f32_avx2(ac, y, OH * OW, 0.0f, z);
}

/* Eight depthwise planes at once, one channel per lane: for planes too
 * narrow to fill a vector along their width (keyword spotting's 25x5, the
 * 7x7 of a CNN's last stage). The planes are interleaved into a zero-padded
 * buffer, every output pixel is KH*KW vector FMAs, and the result is
 * de-interleaved with the epilogue applied per plane. x, y, z: the first of
 * eight consecutive planes; w: their KH*KW weights each; bias: 8 or NULL. */
TARGET void spd_depthwise8_avx2(const spd_dw_params *p, const float *x, const float *w, const float *bias,
                                const spd_act *ac, const float *z, float *y)
{
    const int64_t OH = p->OH, OW = p->OW, KH = p->KH, KW = p->KW, nk = KH * KW;
    const int64_t PH = (OH - 1) * p->sy + KH, PW = (OW - 1) * p->sx + KW;
    const int64_t in_n = p->H * p->W, out_n = OH * OW;
    float *xi = spd_malloc((size_t)(PH * PW + OH * OW + nk) * 8 * sizeof(float));
    if (!xi) {
        /* no memory for the interleaved copy: one plane at a time */
        for (int c = 0; c < 8; c++)
            spd_depthwise_plane_avx2(p, x + c * in_n, w + c * nk, bias ? bias[c] : 0.0f, ac,
                                     z ? z + c * out_n : NULL, y + c * out_n);
        return;
    }
    float *yi = xi + PH * PW * 8, *wi = yi + OH * OW * 8;
    for (int64_t k = 0; k < nk; k++)
        for (int c = 0; c < 8; c++) wi[k * 8 + c] = w[c * nk + k];
    for (int64_t r = 0; r < PH; r++)
        for (int64_t q = 0; q < PW; q++) {
            const int64_t iy = r - p->pt, ix = q - p->pl;
            float *dst = xi + (r * PW + q) * 8;
            if (iy < 0 || iy >= p->H || ix < 0 || ix >= p->W) {
                _mm256_storeu_ps(dst, _mm256_setzero_ps());
                continue;
            }
            const float *src = x + iy * p->W + ix;
            for (int c = 0; c < 8; c++) dst[c] = src[c * in_n];
        }
    const __m256 bv = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
            __m256 acc = bv;
            for (int64_t ky = 0; ky < KH; ky++) {
                const float *row = xi + ((oy * p->sy + ky) * PW + ox * p->sx) * 8;
                for (int64_t kx = 0; kx < KW; kx++)
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(wi + (ky * KW + kx) * 8), _mm256_loadu_ps(row + kx * 8), acc);
            }
            _mm256_storeu_ps(yi + (oy * OW + ox) * 8, acc);
        }
    for (int c = 0; c < 8; c++) {
        float *yc = y + c * out_n;
        for (int64_t i = 0; i < out_n; i++) yc[i] = yi[i * 8 + c];
        if (ac->kind != SPD_ACT_NONE || z) spd_vact_bias_f32_avx2(ac, yc, out_n, 0.0f, z ? z + c * out_n : NULL);
    }
    spd_free(xi);
}

#else /* not x86-64: never called (spd_vmath_avx2() is false) */

void spd_vact_bias_f32_avx2(const spd_act *ac, float *y, int64_t n, float bias, const float *z)
{
    (void)ac, (void)y, (void)n, (void)bias, (void)z;
}
void spd_vact_f32_avx2(const spd_act *ac, float *y, const float *x, int64_t n)
{
    (void)ac, (void)y, (void)x, (void)n;
}
void spd_vtanh_f32_avx2(float *y, const float *x, int64_t n) { (void)y, (void)x, (void)n; }
void spd_vexp_f32_avx2(float *y, const float *x, int64_t n) { (void)y, (void)x, (void)n; }
void spd_verf_f32_avx2(float *y, const float *x, int64_t n) { (void)y, (void)x, (void)n; }
void spd_vsigmoid_f32_avx2(float *y, const float *x, int64_t n) { (void)y, (void)x, (void)n; }
void spd_vgelu_f32_avx2(float *y, const float *x, int64_t n) { (void)y, (void)x, (void)n; }
float spd_vexp_sub_sum_f32_avx2(float *y, const float *x, int64_t n, float sub)
{
    (void)y, (void)x, (void)n, (void)sub;
    return 0;
}
float spd_vmax_f32_avx2(const float *x, int64_t n)
{
    (void)x, (void)n;
    return 0;
}
void spd_depthwise_plane_avx2(const spd_dw_params *p, const float *x, const float *w, float bias,
                              const spd_act *ac, const float *z, float *y)
{
    (void)p, (void)x, (void)w, (void)bias, (void)ac, (void)z, (void)y;
}
void spd_depthwise8_avx2(const spd_dw_params *p, const float *x, const float *w, const float *bias,
                         const spd_act *ac, const float *z, float *y)
{
    (void)p, (void)x, (void)w, (void)bias, (void)ac, (void)z, (void)y;
}

#endif
