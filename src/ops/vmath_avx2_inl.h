/* The AVX2+FMA vector math shared by the kernels that apply an activation
 * in registers (vmath_avx2.c, conv_dw_avx2.c): include only on x86-64, from
 * functions compiled with TARGET.
 *
 * exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Cephes' degree-6
 * polynomial, and 2^n applied as two factors 2^(n/2) 2^(n - n/2) so that
 * results down to the subnormal range round once, as libm's do; the
 * sigmoid's exp of t <= 0 is the shorter expneg8 below.
 * erf: the faithfully rounded erff of N. Juffa (a polynomial in x^2 for
 * |x| <= 0.9277, 1 - exp(polynomial in |x|) above). */
#ifndef SPD_OPS_VMATH_AVX2_INL_H
#define SPD_OPS_VMATH_AVX2_INL_H

#include <immintrin.h>
#include <stdint.h>

#include "ops/vmath.h"


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

/* e^t for t <= 0 or NaN, the sigmoid's exp: within 1.3 ulp of the exact
 * value (0.8 of a step on subnormal results). Fewer operations and a
 * shorter dependency chain than exp8: the activation loops are bound by
 * the chain's latency, which limits how many iterations are in flight.
 *  - n = round(t log2 e) comes from adding 1.5 2^23 + 151, whose low
 *    mantissa bits are then n + 151, so that 2^(n+24) is those bits
 *    shifted into the exponent (t >= -104 keeps n + 24 >= -126); the exact
 *    product 2^(n+24) 2^-24 is 2^n, subnormal ones too, off the polynomial's
 *    path, and p(r) 2^n rounds once;
 *  - e^r on |r| <= ln2/2 by a degree-6 minimax polynomial (relative error
 *    5e-9 before rounding) in Estrin's form. */
INLINE __m256 expneg8(__m256 t)
{
    t = _mm256_max_ps(_mm256_set1_ps(-104.0f), t); /* maxps returns t when t is NaN */
    const __m256 magic = _mm256_set1_ps(12582912.0f + 151.0f);
    const __m256 k = _mm256_fmadd_ps(t, _mm256_set1_ps(1.44269504088896341f), magic);
    const __m256 n = _mm256_sub_ps(k, magic);
    const __m256 s = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(k), 23)),
                                   _mm256_set1_ps(0x1p-24f));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t); /* ln 2 in two parts (Cody-Waite) */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    const __m256 r2 = _mm256_mul_ps(r, r);
    const __m256 lo = _mm256_fmadd_ps(_mm256_set1_ps(1.666653305e-1f), r, _mm256_set1_ps(4.999999404e-1f));
    __m256 hi = _mm256_fmadd_ps(_mm256_set1_ps(8.367339149e-3f), r, _mm256_set1_ps(4.166868329e-2f));
    hi = _mm256_fmadd_ps(_mm256_set1_ps(1.379102468e-3f), r2, hi);
    __m256 p = _mm256_fmadd_ps(hi, r2, lo);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    return _mm256_mul_ps(p, s);
}

/* v sigmoid(u): v / (1 + e) for u >= 0 and v e / (1 + e) below, from one
 * e = exp(-|u|) <= 1, which cannot overflow (the blend reads u's sign bit:
 * -0 takes v e with e = 1). One division, not 1/(1 + e) and a product: its
 * numerator is ready before 1 + e, and it rounds once. */
INLINE __m256 mulsig8(__m256 v, __m256 u)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = expneg8(_mm256_or_ps(u, _mm256_set1_ps(-0.0f)));
    const __m256 num = _mm256_mul_ps(v, _mm256_blendv_ps(one, e, u));
    return _mm256_div_ps(num, _mm256_add_ps(one, e));
}

INLINE __m256 sigmoid8(__m256 x) { return mulsig8(_mm256_set1_ps(1.0f), x); }

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

/* SiLU with a = 1 (x sigmoid(x)), a kind of act8 only: the loops that pick
 * it skip the multiplication by a, which lies on the sigmoid's path. */
#define SPD_ACT_SILU1 ((spd_act_kind)(SPD_ACT_HARDSWISH + 1))

/* The activations with the reference's NaN behaviour: maxps/minps return
 * their second operand when either is NaN. */
INLINE __m256 act8(spd_act_kind kind, __m256 v, __m256 a, __m256 b)
{
    const __m256 zero = _mm256_setzero_ps();
    switch ((int)kind) {
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
    case SPD_ACT_SILU: return mulsig8(v, _mm256_mul_ps(a, v));
    case SPD_ACT_SILU1: return mulsig8(v, v);
    case SPD_ACT_GELU: return gelu8(v);
    case SPD_ACT_HARDSWISH: {
        const __m256 t = _mm256_add_ps(_mm256_mul_ps(a, v), b);
        return _mm256_mul_ps(v, _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(zero, t)));
    }
    default: return v;
    }
}

#endif
