/* float32 fast paths of 2-D (and 1-D, as planes of height 1) max and
 * average pooling and of the global poolings (pool_fast.c), called by
 * ops/pool.c. Each kernel has an AVX2 build and a portable one, picked at
 * run time like ops/vmath.h's (SPEEDSTER_ISA=ref selects the portable one).
 * Planes are split over the thread pool when the pool is large enough to pay
 * for waking it; small ones run on the calling thread. */
#ifndef SPD_OPS_POOL_FAST_H
#define SPD_OPS_POOL_FAST_H

#include <stdbool.h>
#include <stdint.h>

/* Pooling of float32 NCHW planes: nc planes of H x W into OH x OW, kernel
 * KH x KW, strides, dilations, begin pads (the end pads only enter
 * count_include_pad through pb/pr: the padded extent H + pt + pb). */
typedef struct spd_pool2d {
    int64_t nc, H, W, OH, OW, KH, KW, sy, sx, dy, dx, pt, pl, pb, pr;
    bool max, count_include_pad;
} spd_pool2d;

/* The results of the reference window walk (ops/pool.c): max starts from
 * the first in-bounds tap in row-major order and takes a later one only when
 * greater, so a NaN first tap gives NaN and later NaNs are ignored; exactly
 * so here, whatever order the taps are visited in. Averages are summed in
 * float and scaled by 1/count: within 1 ulp plus (taps + 2) float roundings
 * of sum |x| / count of the reference's double sum. */
void spd_pool2d_f32(const spd_pool2d *p, const float *x, float *y);
/* Global pooling of nc planes of n elements (average summed in double; max
 * with the rule above). */
void spd_global_pool_f32(bool max, int64_t nc, int64_t n, const float *x, float *y);

#endif
