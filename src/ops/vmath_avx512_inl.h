/* AVX-512F versions of vmath_avx2_inl.h's activation helpers, for the
 * AVX-512 kernels that apply an activation before they store (the GEMM
 * tile, depthwise). The same operations in the same order as the 8-lane
 * ones, so a result does not depend on which kernel produced it. Only for
 * functions compiled with AVX-512F enabled (TARGET512). */
#ifndef SPD_OPS_VMATH_AVX512_INL_H
#define SPD_OPS_VMATH_AVX512_INL_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#include "ops/vmath.h"

#define TARGET512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE512 TARGET512 static inline __attribute__((always_inline))

/* e^t for t <= 0 or NaN: expneg8 on 16 lanes (see there for the method and
 * its error). */
INLINE512 __m512 expneg16(__m512 t)
{
    t = _mm512_max_ps(_mm512_set1_ps(-104.0f), t); /* returns t when t is NaN */
    const __m512 magic = _mm512_set1_ps(12582912.0f + 151.0f);
    const __m512 k = _mm512_fmadd_ps(t, _mm512_set1_ps(1.44269504088896341f), magic);
    const __m512 n = _mm512_sub_ps(k, magic);
    const __m512 s = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(k), 23)),
                                   _mm512_set1_ps(0x1p-24f));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    const __m512 r2 = _mm512_mul_ps(r, r);
    const __m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(1.666653305e-1f), r, _mm512_set1_ps(4.999999404e-1f));
    __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(8.367339149e-3f), r, _mm512_set1_ps(4.166868329e-2f));
    hi = _mm512_fmadd_ps(_mm512_set1_ps(1.379102468e-3f), r2, hi);
    __m512 p = _mm512_fmadd_ps(hi, r2, lo);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_mul_ps(p, s);
}

/* v sigmoid(u) as mulsig8: one e = exp(-|u|), then v e or v over 1 + e by
 * u's sign bit. */
INLINE512 __m512 mulsig16(__m512 v, __m512 u)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i ui = _mm512_castps_si512(u);
    const __m512 e = expneg16(_mm512_castsi512_ps(_mm512_or_si512(ui, _mm512_set1_epi32(INT32_MIN))));
    const __mmask16 neg = _mm512_cmplt_epi32_mask(ui, _mm512_setzero_si512());
    const __m512 num = _mm512_mul_ps(v, _mm512_mask_blend_ps(neg, one, e));
    return _mm512_div_ps(num, _mm512_add_ps(one, e));
}

/* Lanes where v is NaN. */
INLINE512 __mmask16 nan16(__m512 v) { return _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); }

/* |v| and v's sign bit, without AVX-512DQ's float logic. */
INLINE512 __m512 abs16(__m512 v)
{
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MAX)));
}
INLINE512 __m512 signbit16(__m512 v)
{
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)));
}
INLINE512 __m512 or16(__m512 a, __m512 b)
{
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}

/* exp8 on 16 lanes. */
INLINE512 __m512 exp16(__m512 x)
{
    const __mmask16 nan = nan16(x);
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.8f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i ni = _mm512_cvtps_epi32(n);
    const __m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    p = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
    return _mm512_mask_blend_ps(nan, p, x);
}

/* erf8 on 16 lanes. */
INLINE512 __m512 erf16(__m512 a)
{
    const __mmask16 nan = nan16(a);
    const __m512 t = _mm512_min_ps(abs16(a), _mm512_set1_ps(10.0f));
    const __m512 s = _mm512_mul_ps(a, a);
    /* |a| > 0.927734375 */
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(-1.72853470e-5f), t, _mm512_set1_ps(3.83197126e-4f));
    const __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(-3.88396438e-3f), t, _mm512_set1_ps(2.42546219e-2f));
    const __m512 ts = _mm512_mul_ps(t, t);
    r = _mm512_fmadd_ps(r, ts, u);
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.06777877e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-6.34846687e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.28717512e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_sub_ps(_mm512_setzero_ps(), t));
    r = _mm512_sub_ps(_mm512_set1_ps(1.0f), exp16(r));
    r = or16(r, signbit16(a));
    /* |a| <= 0.927734375 */
    __m512 q = _mm512_set1_ps(-5.96761703e-4f);
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(4.99119423e-3f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-2.67681349e-2f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(1.12819925e-1f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-3.76125336e-1f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(1.28379166e-1f));
    q = _mm512_fmadd_ps(q, a, a);
    const __mmask16 big = _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.927734375f), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(nan, _mm512_mask_blend_ps(big, q, r), a);
}

/* sigmoid8 and tanh8 on 16 lanes. */
INLINE512 __m512 sigmoid16(__m512 x) { return mulsig16(_mm512_set1_ps(1.0f), x); }

INLINE512 __m512 tanh16(__m512 x)
{
    const __m512 ax = abs16(x);
    const __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(x, z), p, x);
    const __m512 axc = _mm512_min_ps(ax, _mm512_set1_ps(10.0f));
    const __m512 e = exp16(_mm512_add_ps(axc, axc));
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 big = or16(_mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one))),
                            signbit16(x));
    const __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ), big, small);
    return _mm512_mask_blend_ps(nan16(x), r, x);
}

/* gelu8 on 16 lanes: x (1 + erf(x / sqrt 2)) / 2. */
INLINE512 __m512 gelu16(__m512 x)
{
    const __m512 e = erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* The activations an AVX-512 kernel applies in registers, with act8's NaN
 * behaviour; others return v unchanged (the caller applies them after). */
INLINE512 bool act16_fits(spd_act_kind kind)
{
    return kind == SPD_ACT_RELU || kind == SPD_ACT_CLIP || kind == SPD_ACT_SILU || kind == SPD_ACT_HARDSWISH;
}
INLINE512 __m512 act16(spd_act_kind kind, __m512 v, __m512 a, __m512 b, float a_scalar)
{
    switch (kind) {
    case SPD_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps()); /* NaN -> 0 */
    case SPD_ACT_CLIP: return _mm512_min_ps(b, _mm512_max_ps(a, v)); /* NaN stays */
    case SPD_ACT_SILU: return mulsig16(v, a_scalar == 1.0f ? v : _mm512_mul_ps(a, v));
    case SPD_ACT_HARDSWISH: { /* as act8: max then min keep NaN */
        const __m512 t = _mm512_add_ps(_mm512_mul_ps(a, v), b);
        return _mm512_mul_ps(v, _mm512_min_ps(_mm512_set1_ps(1.0f), _mm512_max_ps(_mm512_setzero_ps(), t)));
    }
    default: return v;
    }
}

#endif
#endif
