/* A 2-D float transpose, blocked 16 x 16 with AVX-512, 8 x 8 with AVX2:
 * dst[s * rows + r] = src[r * ld + s] for r < rows, s < cols. The strided
 * copies of Transpose and of the layout changes around channels-last
 * regions (a [H*W, C] plane to [C, H*W]) take it instead of gathering
 * short runs one element at a time. */
#ifndef SPD_OPS_TRANSPOSE2D_H
#define SPD_OPS_TRANSPOSE2D_H

#include <stdint.h>

void spd_transpose2d_f32(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld);

#endif
