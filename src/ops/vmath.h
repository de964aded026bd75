/* Vectorised float32 elementwise math for the hot kernels: the activations
 * a Conv/Gemm epilogue applies, exp, erf, sigmoid and the softmax and GELU
 * building blocks.
 *
 * Each entry point runs an AVX2+FMA version (vmath_avx2.c, function-level
 * target attributes) when the CPU has it and spd_sgemm_isa_current() is not
 * "ref" (SPEEDSTER_ISA=ref or spd_sgemm_set_isa(SPD_SGEMM_REF) select the
 * portable code everywhere, for tests), else a portable loop written to
 * auto-vectorise. exp/erf/sigmoid/tanh are polynomial approximations within a
 * few ulp of libm (tests/unit/test_kernels.c sweeps them); NaN propagates,
 * +-inf give the limits. */
#ifndef SPD_OPS_VMATH_H
#define SPD_OPS_VMATH_H

#include <stdbool.h>
#include <stdint.h>

typedef enum spd_act_kind {
    SPD_ACT_NONE,
    SPD_ACT_RELU,        /* x > 0 ? x : 0 (NaN -> 0) */
    SPD_ACT_LEAKYRELU,   /* x >= 0 ? x : a*x */
    SPD_ACT_SIGMOID,
    SPD_ACT_TANH,
    SPD_ACT_CLIP,        /* v = x < a ? a : x; v > b ? b : v (NaN stays NaN; b wins if a > b) */
    SPD_ACT_HARDSIGMOID, /* clamp(a*x + b, 0, 1) */
    SPD_ACT_SILU,        /* x * sigmoid(a*x) (com.microsoft QuickGelu; a = 1 is SiLU/Swish) */
    SPD_ACT_GELU,        /* 0.5 x (1 + erf(x / sqrt 2)) */
    SPD_ACT_HARDSWISH,   /* x * clamp(a*x + b, 0, 1) (HardSwish: a = 1/6, b = 1/2) */
} spd_act_kind;

typedef struct spd_act {
    spd_act_kind kind;
    float a, b;
} spd_act;

/* The scalar definition every vector path must match (to fp32 rounding). */
float spd_act_scalar(const spd_act *ac, float x);

/* y[i] = act(y[i] + bias + (z ? z[i] : 0)), the Conv/Gemm epilogue, in the
 * reference's order: ((y + bias) + z), then the activation. */
void spd_vact_bias_f32(const spd_act *ac, float *y, int64_t n, float bias, const float *z);
/* y[i] += b[i]: a bias over a row's columns. */
void spd_add_col_bias(float *y, const float *b, int64_t n);
/* y[i] = act(x[i]); y may be x. */
void spd_vact_f32(const spd_act *ac, float *y, const float *x, int64_t n);
/* y[i] = act(x[i] * s + t), the product rounded before the sum; y may be x. */
void spd_vaffine_act_f32(const spd_act *ac, float *y, const float *x, int64_t n, float s, float t);

/* Whether the AVX2 paths are in use (CPU support and the ISA switch). */
bool spd_vmath_avx2(void);
/* Whether the AVX-512F kernels run: the CPU has them and the GEMM path in
 * use (SPEEDSTER_ISA) is avx512. */
bool spd_vmath_avx512(void);

void spd_vexp_f32(float *y, const float *x, int64_t n);
void spd_verf_f32(float *y, const float *x, int64_t n);
void spd_vsigmoid_f32(float *y, const float *x, int64_t n);
void spd_vtanh_f32(float *y, const float *x, int64_t n);
/* y = 0.5 x (1 + erf(x / sqrt 2)) */
void spd_vgelu_f32(float *y, const float *x, int64_t n);
/* y[i] = exp(x[i] - sub); returns the sum of the y[i] (in float). */
float spd_vexp_sub_sum_f32(float *y, const float *x, int64_t n, float sub);
/* max of x[0..n), n >= 1; NaN if any is NaN. */
float spd_vmax_f32(const float *x, int64_t n);

/* The AVX2 implementations (vmath_avx2.c); call only when spd_vmath_avx2(). */
void spd_vact_bias_f32_avx2(const spd_act *ac, float *y, int64_t n, float bias, const float *z);
void spd_vact_f32_avx2(const spd_act *ac, float *y, const float *x, int64_t n);
void spd_vaffine_act_f32_avx2(const spd_act *ac, float *y, const float *x, int64_t n, float s, float t);
void spd_vtanh_f32_avx2(float *y, const float *x, int64_t n);
void spd_vexp_f32_avx2(float *y, const float *x, int64_t n);
void spd_verf_f32_avx2(float *y, const float *x, int64_t n);
void spd_vsigmoid_f32_avx2(float *y, const float *x, int64_t n);
void spd_vgelu_f32_avx2(float *y, const float *x, int64_t n);
float spd_vexp_sub_sum_f32_avx2(float *y, const float *x, int64_t n, float sub);
float spd_vmax_f32_avx2(const float *x, int64_t n);

#endif
