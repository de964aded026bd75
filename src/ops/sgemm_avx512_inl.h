/* The AVX-512 SGEMM kernels' shared store: the tile epilogue applied to 16
 * lanes as they are written. Included by sgemm_avx512.c and
 * sgemm_wide_avx512.c after they define TARGET; static inline, so each
 * file carries its own copy. */
#ifndef SPD_OPS_SGEMM_AVX512_INL_H
#define SPD_OPS_SGEMM_AVX512_INL_H

#include <immintrin.h>

#include "ops/sgemm_fast.h"
#include "ops/vmath_avx512_inl.h"

/* v clamped as act8 does it (Relu: NaN -> 0; Clip: NaN stays; SiLU:
 * v sigmoid(lo v), without the product when lo is 1, as act8's SILU1;
 * GELU as gelu8; HardSwish v clamp(lo v + hi, 0, 1), NaN staying). */
TARGET static inline __m512 clamp16(__m512 v, int clamp, __m512 lo, __m512 hi, float a)
{
    if (clamp == SPD_CLAMP_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    if (clamp == SPD_CLAMP_CLIP) return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
    if (clamp == SPD_CLAMP_SILU) return mulsig16(v, a == 1.0f ? v : _mm512_mul_ps(lo, v));
    if (clamp == SPD_CLAMP_GELU) return gelu16(v);
    if (clamp == SPD_CLAMP_HARDSWISH) {
        const __m512 t = _mm512_add_ps(_mm512_mul_ps(lo, v), hi);
        return _mm512_mul_ps(v, _mm512_min_ps(_mm512_set1_ps(1.0f), _mm512_max_ps(_mm512_setzero_ps(), t)));
    }
    return v;
}

/* C's 16 columns under mask mk = clamp(alpha*acc + beta*C + z); beta 0
 * does not read C. */
TARGET static inline void store16(float *c, const float *z, __mmask16 mk, __m512 acc, float alpha, float beta,
                                  int clamp, __m512 lo, __m512 hi, float a)
{
    __m512 v = alpha == 1.0f ? acc : _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
    if (beta == 1.0f)
        v = _mm512_fmadd_ps(_mm512_set1_ps(alpha), acc, _mm512_maskz_loadu_ps(mk, c));
    else if (beta != 0.0f)
        v = _mm512_fmadd_ps(_mm512_set1_ps(alpha), acc,
                            _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mk, c)));
    if (z) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, z));
    _mm512_mask_storeu_ps(c, mk, clamp16(v, clamp, lo, hi, a));
}

/* The first n (clamped to 0..16) lanes. */
TARGET static inline __mmask16 cols_mask(int n)
{
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

#endif
