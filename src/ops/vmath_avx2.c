/* AVX2+FMA versions of ops/vmath.h: 8 floats at a time, tails through
 * masked loads and stores. Only this file's functions carry
 * target("avx2,fma"); vmath.c calls them only when CPUID says the CPU has
 * both.
 *
 * The exp/erf/sigmoid/tanh/activation vector helpers live in
 * vmath_avx2_inl.h, shared with the depthwise convolution. */
#include "ops/vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include "ops/vmath_avx2_inl.h"

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
    case SPD_ACT_SILU:
        if (ac->a == 1.0f)
            act_loop(SPD_ACT_SILU1, ac, y, n, bias, z);
        else
            act_loop(SPD_ACT_SILU, ac, y, n, bias, z);
        break;
    case SPD_ACT_GELU: act_loop(SPD_ACT_GELU, ac, y, n, bias, z); break;
    case SPD_ACT_HARDSWISH: act_loop(SPD_ACT_HARDSWISH, ac, y, n, bias, z); break;
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
    case SPD_ACT_SILU:
        if (ac->a == 1.0f)
            act_map(SPD_ACT_SILU1, ac, y, x, n);
        else
            act_map(SPD_ACT_SILU, ac, y, x, n);
        break;
    case SPD_ACT_GELU: act_map(SPD_ACT_GELU, ac, y, x, n); break;
    case SPD_ACT_HARDSWISH: act_map(SPD_ACT_HARDSWISH, ac, y, x, n); break;
    }
}

/* y = act(x s + t) */
INLINE void affine_map(spd_act_kind kind, const spd_act *ac, float *y, const float *x, int64_t n, float s, float t)
{
    const __m256 a = _mm256_set1_ps(ac->a), b = _mm256_set1_ps(ac->b), sv = _mm256_set1_ps(s), tv = _mm256_set1_ps(t);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 v0 = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), tv);
        const __m256 v1 = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), sv), tv);
        _mm256_storeu_ps(y + i, act8(kind, v0, a, b));
        _mm256_storeu_ps(y + i + 8, act8(kind, v1, a, b));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, act8(kind, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), tv), a, b));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_maskload_ps(x + i, m), sv), tv);
        _mm256_maskstore_ps(y + i, m, act8(kind, v, a, b));
    }
}

TARGET void spd_vaffine_act_f32_avx2(const spd_act *ac, float *y, const float *x, int64_t n, float s, float t)
{
    switch (ac->kind) {
    case SPD_ACT_NONE: affine_map(SPD_ACT_NONE, ac, y, x, n, s, t); break;
    case SPD_ACT_RELU: affine_map(SPD_ACT_RELU, ac, y, x, n, s, t); break;
    case SPD_ACT_CLIP: affine_map(SPD_ACT_CLIP, ac, y, x, n, s, t); break;
    default: /* the rarer ones: the activation in a second pass */
        affine_map(SPD_ACT_NONE, ac, y, x, n, s, t);
        spd_vact_f32_avx2(ac, y, y, n);
        break;
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

/* exp(t), by the shorter expneg8 when no lane of t is above 0 (a softmax
 * subtracts its row's maximum: all of them; about half the time of exp8,
 * which softmax rows spent most of theirs in). */
INLINE __m256 exp_le0_8(__m256 t)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_GT_OQ)) ? exp8(t) : expneg8(t);
}

TARGET float spd_vexp_sub_sum_f32_avx2(float *y, const float *x, int64_t n, float sub)
{
    const __m256 sv = _mm256_set1_ps(sub);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp_le0_8(_mm256_sub_ps(_mm256_loadu_ps(x + i), sv));
        _mm256_storeu_ps(y + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 e =
            _mm256_and_ps(exp_le0_8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), sv)), _mm256_castsi256_ps(m));
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

#endif
