/* Depthwise 2-D convolution of float32 NCHW planes on AVX2+FMA
 * (conv_dw_avx2.c), for ops/conv.c: call only when spd_vmath_avx2().
 *
 *   y[oy][ox] = act(bias + sum_{ky,kx} w[ky][kx] * x[oy*sy+ky-pt][ox*sx+kx-pl] + z[oy][ox])
 *
 * with out-of-range x taps as zero padding, dilation 1, stride 1 or 2. */
#ifndef SPD_OPS_CONV_DW_H
#define SPD_OPS_CONV_DW_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/vmath.h"

typedef struct spd_dw_params {
    int64_t H, W, OH, OW, KH, KW, sy, sx, pt, pl;
} spd_dw_params;

/* One plane; z (the residual, same shape as y) may be NULL. Any kernel
 * size; 3x3 and 5x5 with equal strides have their own kernels. */
void spd_depthwise_plane_avx2(const spd_dw_params *p, const float *x, const float *w, float bias,
                              const spd_act *ac, const float *z, float *y);
/* The same with AVX-512F for the shapes that have a specialised kernel;
 * false (nothing done) for others. Call only when spd_vmath_avx512(). */
bool spd_depthwise_plane_avx512(const spd_dw_params *p, const float *x, const float *w, float bias,
                                const spd_act *ac, const float *z, float *y);
/* Whether p has a specialised kernel (else the generic one runs). */
bool spd_depthwise_specialised(const spd_dw_params *p);
/* Eight consecutive planes (channels) at once, one per lane, for narrow
 * planes: bias holds 8 values or is NULL, w 8 kernels, x/z/y 8 consecutive
 * planes (y may be x or z). Kernels of more taps than this go a plane at a
 * time. */
#define SPD_DW8_MAX_TAPS 49
void spd_depthwise8_avx2(const spd_dw_params *p, const float *x, const float *w, const float *bias,
                         const spd_act *ac, const float *z, float *y);

#endif
