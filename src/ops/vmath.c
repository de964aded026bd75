/* Portable float32 elementwise math and the dispatch to vmath_avx2.c.
 *
 * The portable loops keep the activation switch out of the element loop and
 * write each activation without data-dependent branches: with random-signed
 * data a branch per element mispredicts half the time, which cost more than
 * the convolution itself on MobileNet (FusedConv's Clip). */
#include "ops/vmath.h"

#include <math.h>
#include <string.h>

#include "ops/sgemm_fast.h"
#include "util/cpu.h"

bool spd_vmath_avx2(void)
{
#if defined(__x86_64__)
    const spd_cpu_features *f = spd_cpu();
    return f->avx2 && f->fma && spd_sgemm_isa_current() != SPD_SGEMM_REF;
#else
    return false;
#endif
}

bool spd_vmath_avx512(void) { return spd_sgemm_isa_current() == SPD_SGEMM_AVX512; }

static inline float sigmoid1(float x)
{
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

float spd_act_scalar(const spd_act *ac, float x)
{
    switch (ac->kind) {
    case SPD_ACT_RELU: return x > 0 ? x : 0;
    case SPD_ACT_LEAKYRELU: return x >= 0 ? x : ac->a * x;
    case SPD_ACT_SIGMOID: return sigmoid1(x);
    case SPD_ACT_TANH: return tanhf(x);
    case SPD_ACT_CLIP: { /* as Clip: the max wins when min > max */
        const float v = x < ac->a ? ac->a : x;
        return v > ac->b ? ac->b : v;
    }
    case SPD_ACT_HARDSIGMOID: {
        float v = ac->a * x + ac->b;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case SPD_ACT_SILU: return x * sigmoid1(ac->a * x);
    case SPD_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case SPD_ACT_HARDSWISH: {
        float v = ac->a * x + ac->b;
        return x * (v < 0 ? 0 : v > 1 ? 1 : v);
    }
    default: return x;
    }
}

void spd_vact_bias_f32(const spd_act *ac, float *y, int64_t n, float bias, const float *z)
{
    if (n <= 0) return;
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_vact_bias_f32_avx2(ac, y, n, bias, z);
        return;
    }
#endif
    if (bias != 0.0f)
        for (int64_t i = 0; i < n; i++) y[i] += bias;
    if (z)
        for (int64_t i = 0; i < n; i++) y[i] += z[i];
    const float a = ac->a, b = ac->b;
    switch (ac->kind) {
    case SPD_ACT_NONE: break;
    case SPD_ACT_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
        break;
    case SPD_ACT_LEAKYRELU:
        for (int64_t i = 0; i < n; i++) y[i] = y[i] >= 0 ? y[i] : a * y[i];
        break;
    case SPD_ACT_CLIP:
        for (int64_t i = 0; i < n; i++) {
            const float v = y[i] < a ? a : y[i];
            y[i] = v > b ? b : v;
        }
        break;
    case SPD_ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            const float v = a * y[i] + b;
            y[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        break;
    case SPD_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = sigmoid1(y[i]);
        break;
    case SPD_ACT_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(y[i]);
        break;
    case SPD_ACT_SILU:
        for (int64_t i = 0; i < n; i++) y[i] = y[i] * sigmoid1(a * y[i]);
        break;
    case SPD_ACT_GELU:
        for (int64_t i = 0; i < n; i++) y[i] = 0.5f * y[i] * (1.0f + erff(y[i] * 0.70710678118654752f));
        break;
    case SPD_ACT_HARDSWISH:
        for (int64_t i = 0; i < n; i++) {
            const float v = a * y[i] + b;
            y[i] *= v < 0 ? 0 : v > 1 ? 1 : v;
        }
        break;
    }
}

void spd_vact_f32(const spd_act *ac, float *y, const float *x, int64_t n)
{
    if (n <= 0) return;
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_vact_f32_avx2(ac, y, x, n);
        return;
    }
#endif
    if (y != x) memcpy(y, x, (size_t)n * sizeof *y);
    spd_vact_bias_f32(ac, y, n, 0.0f, NULL);
}

void spd_vaffine_act_f32(const spd_act *ac, float *y, const float *x, int64_t n, float s, float t)
{
    if (n <= 0) return;
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_vaffine_act_f32_avx2(ac, y, x, n, s, t);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        const float p = x[i] * s;
        y[i] = p + t;
    }
    spd_vact_bias_f32(ac, y, n, 0.0f, NULL);
}

void spd_vtanh_f32(float *y, const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_vtanh_f32_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

void spd_vexp_f32(float *y, const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_vexp_f32_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

void spd_verf_f32(float *y, const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_verf_f32_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]);
}

void spd_vsigmoid_f32(float *y, const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_vsigmoid_f32_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = sigmoid1(x[i]);
}

void spd_vgelu_f32(float *y, const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (spd_vmath_avx2()) {
        spd_vgelu_f32_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

float spd_vexp_sub_sum_f32(float *y, const float *x, int64_t n, float sub)
{
#if defined(__x86_64__)
    if (spd_vmath_avx2()) return spd_vexp_sub_sum_f32_avx2(y, x, n, sub);
#endif
    float s = 0;
    for (int64_t i = 0; i < n; i++) {
        y[i] = expf(x[i] - sub);
        s += y[i];
    }
    return s;
}

float spd_vmax_f32(const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (spd_vmath_avx2()) return spd_vmax_f32_avx2(x, n);
#endif
    float m = x[0];
    for (int64_t i = 1; i < n; i++) {
        if (x[i] != x[i]) return x[i];
        m = x[i] > m ? x[i] : m;
    }
    return m;
}

void spd_add_col_bias(float *y, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += b[i];
}
