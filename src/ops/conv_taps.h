/* 2-D convolution as one GEMM per kernel tap, over the output rectangle
 * where that tap reads inside the input: Y += W[:, :, ky, kx] * X shifted.
 * A dilated convolution on a small map (DeepLab's atrous pyramid: 3x3
 * kernels with dilations 12-36 over 14x14 or 28x28 planes) reads padding
 * with most of its taps; im2col and the implicit GEMM multiply those
 * zeros, while here they cost nothing. */
#ifndef SPD_OPS_CONV_TAPS_H
#define SPD_OPS_CONV_TAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/status.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"

typedef struct spd_taps_shape {
    int64_t C, M;         /* input and output channels (group 1) */
    int64_t H, W, OH, OW; /* one image's planes */
    int64_t KH, KW, sy, sx, dy, dx, pt, pl;
} spd_taps_shape;

/* Whether the tap-wise product pays: the taps' multiply-adds inside the
 * input are at most half of the full kernel's. */
bool spd_conv_taps_fit(const spd_taps_shape *s);

/* Floats of W packed for kern: one block of A panels (M x C) per tap. */
size_t spd_conv_taps_packed_floats(const spd_sgemm_kernel *kern, const spd_taps_shape *s);
/* W [M, C, KH, KW] into that layout (dst: spd_conv_taps_packed_floats);
 * false when its staging copy cannot be allocated. */
bool spd_conv_taps_pack(const spd_sgemm_kernel *kern, const spd_taps_shape *s, const float *w, float *dst);

/* One image: y [M, OH, OW] = act(conv + bias + z), W packed by
 * spd_conv_taps_pack; bias, z NULL for none. Fails only when scratch
 * memory runs out. */
spd_status spd_conv_taps(const spd_sgemm_kernel *kern, const spd_taps_shape *s, const float *wpack, const float *x,
                         const float *bias, const float *z, const spd_act *ac, float *y, int threads);

#endif
