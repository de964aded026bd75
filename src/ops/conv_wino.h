/* Winograd F(2x2, 3x3) convolution for float32 NCHW (conv_wino.c):
 *
 *   Y = act(conv3x3(X, W) + bias + Z)
 *
 * for a 2-D Conv with a 3x3 kernel, stride 1, dilation 1, one group and
 * pads of 0..2 on each side. Each 2x2 block of outputs (a tile) comes from
 * a 4x4 input patch d as A^T [(G g G^T) . (B^T d B)] A, so the 36
 * multiply-adds of a tile per channel pair become 16, done as 16 GEMMs
 * (one per element of the 4x4 transformed tile) on the packed-GEMM kernel.
 * The transforms only add, subtract and halve, so fp32 stays accurate:
 * results match a direct convolution to a few units of 1e-6 of the
 * output's magnitude. */
#ifndef SPD_OPS_CONV_WINO_H
#define SPD_OPS_CONV_WINO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "util/status.h"

typedef struct spd_wino_shape {
    int64_t N, C, M;        /* batch, input channels, output channels */
    int64_t H, W;           /* input height and width */
    int64_t pt, pl, pb, pr; /* pads: top, left, bottom, right, each 0..2 */
    int64_t y_image;        /* floats from one image's output to the next (0: M x OH x OW); Z's are packed */
} spd_wino_shape;

/* Whether the transform is worth it for C -> M channels and an OH x OW
 * output (measured: enough channels for the GEMMs to dominate the
 * transforms, enough tiles to fill them). False when SPEEDSTER_WINO=0 is
 * set in the environment (read once), for A/B comparisons. */
bool spd_conv_wino_fits(int64_t C, int64_t M, int64_t OH, int64_t OW);

/* The transformed weights U = G g G^T of W (M x C x 3 x 3) as 16 M x C
 * matrices, each prepacked as op(A) for kern (ops/sgemm_fast.h), or raw
 * (row-major) for kern NULL (the reference GEMM). Valid only with the
 * kernel that packed them. NULL when out of memory (with an error set).
 * Free with spd_conv_wino_free_weights. */
float *spd_conv_wino_pack_weights(const spd_sgemm_kernel *kern, const float *W, int64_t M, int64_t C);
void spd_conv_wino_free_weights(float *u);

/* The lazily packed U kept in *slot (a prepared state's): packed on first
 * use, published by compare-and-swap (a losing concurrent packer frees its
 * copy). NULL when out of memory. */
const float *spd_conv_wino_cached_weights(_Atomic(float *) *slot, const spd_sgemm_kernel *kern, const float *W,
                                          int64_t M, int64_t C);

/* Y (N x M x OH x OW) = act(conv(X, W) + bias + Z) with U from
 * spd_conv_wino_pack_weights(kern, ...); bias (M values) and z (Y's
 * shape, not aliasing y) may be NULL, ac too. Runs over up to `threads`
 * threads. Fails only when out of memory. */
spd_status spd_conv_wino(const spd_sgemm_kernel *kern, const spd_wino_shape *s, const float *x, const float *u,
                         const float *bias, const float *z, const spd_act *ac, float *y, int threads);

/* For tests: true makes the transforms take the portable scalar code even
 * where AVX2 is in use. */
void spd_conv_wino_force_scalar(bool on);

#endif
