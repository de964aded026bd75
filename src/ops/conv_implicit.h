/* A 2-D convolution as an implicit GEMM: the column matrix is never
 * copied. Its row p = (c, ky, kx) at output position (oy, ox) is
 *   planes[off[p] + oy*Wh + ox]
 * in the padded, phase-split copy of X (ops/conv_pack.h), so over the
 * "virtual" columns v = oy*Wh + ox, ox running over the whole padded row
 * width Wh, each row of B is contiguous: a kernel panel of 32 columns is
 * read in place at planes + off[p] + v0 (kernel_ib). The Wh - OW columns
 * past each output row are computed and dropped: the kernel stores a
 * tile's lanes of one output row at their place and those of the next
 * row Wh - OW floats back.
 *
 * Packing the column matrix cost squeezenet's 3x3 convolutions on 55x55
 * planes a copy of 144 x 3025 floats each, its stem one of 27 x 12321 and
 * resnet50's 7x7 stem one of 147 x 12544 (7.4 MB). */
#ifndef SPD_OPS_CONV_IMPLICIT_H
#define SPD_OPS_CONV_IMPLICIT_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/conv_pack.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "util/status.h"

/* Whether spd_conv_implicit runs this convolution: a kernel with
 * kernel_ib, planes that are a copy (with the slack spd_conv2d_src_init
 * leaves after them) at least 32 wide, K within one cache block of the
 * kernel, and an activation the kernel applies as it stores. */
bool spd_conv_implicit_fits(const spd_sgemm_kernel *kern, const spd_conv2d_src *src, int64_t K, const spd_act *ac);

/* Y (M x OH*OW) = act(W * columns + bias + Z) for one image's group, from
 * the filled planes; wpack: W (M x K) prepacked for kern as A. bias (M
 * values) and z (laid out like Y) may be NULL. */
void spd_conv_implicit(const spd_sgemm_kernel *kern, const spd_conv2d_src *src, int64_t M, int64_t K,
                       const float *wpack, const float *bias, const float *z, const spd_act *ac, float *y,
                       int threads);

#endif
