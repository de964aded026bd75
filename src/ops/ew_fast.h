/* float32 fast paths of the elementwise and activation kernels (ew_fast.c;
 * pooling's are ops/pool_fast.h): vectorised loops, split over the thread pool when the tensor
 * is large enough to pay for it (small ones run inline, so tiny models pay
 * nothing). Each has an AVX2 build and a portable one, picked at run time
 * like ops/vmath.h's (SPEEDSTER_ISA=ref selects the portable loops). Results
 * match the generic kernels': the same IEEE operations per element, NaN and
 * infinities propagating the same way; the transcendental ones within a few
 * ulp (ops/vmath.h). */
#ifndef SPD_OPS_EW_FAST_H
#define SPD_OPS_EW_FAST_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/op.h"
#include "ir/tensor.h"
#include "ops/vmath.h"
#include "util/threadpool.h"

/* Below this many elements an operator runs on the calling thread: the
 * transcendental ones (~1 ns an element) from 32K, the memory-bound ones
 * (arithmetic, Relu, Clip) from SPD_PAR_MIN_STREAM (util/threadpool.h; from
 * 128K before: EfficientNet-B0 0.992x, MobileNetV2 0.993x, BERT 0.986x at 2
 * threads). */
#define SPD_EW_PAR_MIN 32768
#define SPD_EW_PAR_MIN_CHEAP SPD_PAR_MIN_STREAM

typedef enum spd_ew_binop {
    SPD_EW_ADD,
    SPD_EW_SUB,
    SPD_EW_MUL,
    SPD_EW_DIV,
    SPD_EW_MAX, /* (x > y || isnan(x)) ? x : y, as the generic Max */
    SPD_EW_MIN, /* (x < y || isnan(x)) ? x : y */
} spd_ew_binop;

/* out = a op b with numpy broadcasting; a, b and out are float32 and out is
 * allocated with the broadcast shape. out may be a (an in-place fold) but
 * must not otherwise overlap the inputs. */
void spd_ew_binary_f32(spd_ew_binop op, const spd_tensor *a, const spd_tensor *b, spd_tensor *out);

typedef enum spd_ew_unop {
    SPD_EW_U_ACT,       /* spd_vact_f32 with the given activation */
    SPD_EW_U_RELU,      /* x < 0 ? 0 : x (NaN stays NaN, unlike SPD_ACT_RELU) */
    SPD_EW_U_NEG,
    SPD_EW_U_ABS,
    SPD_EW_U_RECIP,     /* 1 / x */
    SPD_EW_U_HARDSWISH, /* x * clamp(x / 6 + 0.5, 0, 1) */
    SPD_EW_U_EXP,
    SPD_EW_U_ERF,
} spd_ew_unop;

/* y[i] = op(x[i]) for i < n; y may be x. */
void spd_ew_unary_f32(spd_ew_unop op, const spd_act *ac, float *y, const float *x, int64_t n);

/* A unary operator's float32 path: when input 0 is float32, allocates
 * output 0 like it, computes it and returns true with *st set; else returns
 * false (nothing done) for the generic path. */
bool spd_ew_unary_op_f32(spd_op_ctx *ctx, spd_ew_unop op, const spd_act *ac, spd_status *st);

/* FastGelu: y = 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), v = x + bias
 * where bias (NULL: none) has d elements repeated along x. */
void spd_ew_fast_gelu_f32(float *y, const float *x, int64_t n, const float *bias, int64_t d);

#endif
