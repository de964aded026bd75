/* ai.speedster NhwcConv (ops/conv_nhwc.c): the geometry of one call, and
 * its depthwise half (ops/conv_nhwc_dw.c). */
#ifndef SPD_OPS_CONV_NHWC_H
#define SPD_OPS_CONV_NHWC_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/graph.h"
#include "ir/tensor.h"
#include "ops/vmath.h"
#include "util/status.h"

/* X [N, H, W, C] and Y [N, OH, OW, M]; a KH x KW kernel with strides sh,
 * sw, dilations dh, dw and the top and left pads pt, pl. */
typedef struct spd_nhwc_geom {
    int64_t N, H, W, C, M, KH, KW, sh, sw, dh, dw, pt, pl, OH, OW;
    bool depthwise, pointwise;
} spd_nhwc_geom;

/* A node's Conv attributes (kernel_shape, strides, pads, dilations, group,
 * auto_pad) and FusedConv's activation, parsed once at prepare time when
 * they can be (each call would otherwise look up eight of them by name). */
typedef enum spd_nhwc_pad {
    SPD_NHWC_PAD_NOTSET,
    SPD_NHWC_PAD_VALID,
    SPD_NHWC_PAD_SAME_UPPER,
    SPD_NHWC_PAD_SAME_LOWER
} spd_nhwc_pad;

typedef struct spd_nhwc_attrs {
    int64_t group, sh, sw, dh, dw, pads[4], ks[2];
    bool has_ks;
    spd_nhwc_pad pad;
    spd_act ac;
} spd_nhwc_attrs;

spd_status spd_nhwc_parse_attrs(const spd_node *node, spd_nhwc_attrs *a);

/* The geometry of X [N, H, W, C] under W [M, C/group, KH, KW] and the
 * attributes; an error names what does not fit. */
spd_status spd_nhwc_make_geom(const spd_nhwc_attrs *a, const spd_tensor *X, const spd_tensor *W, spd_nhwc_geom *g);

/* wd[t*C + c] = W[c][0][t]: depthwise weights [C, 1, KH, KW] as one channel
 * vector per tap (T = KH*KW taps). */
void spd_nhwc_dw_weights(const float *w, int64_t C, int64_t T, float *wd);

/* Y = act(depthwise(X, W) + B + Z), channels-last. wd: the weights as
 * spd_nhwc_dw_weights lays them out, or NULL to lay out W per call. ac and
 * z may be NULL. */
spd_status spd_nhwc_depthwise(const spd_nhwc_geom *g, const float *x, const float *wd, const float *w,
                              const float *bias, const float *z, const spd_act *ac, float *y);

/* Output rows [r0, r1) (row r is image r / OH, row r % OH) of
 * act(depthwise(X, W) + B), each written at its place in Y: the work of
 * one task of spd_nhwc_depthwise, for callers that split the rows
 * themselves. wd as spd_nhwc_dw_weights lays it out; bias and ac may be
 * NULL. */
void spd_nhwc_depthwise_rows(const spd_nhwc_geom *g, const float *x, const float *wd, const float *bias,
                             const spd_act *ac, float *y, int64_t r0, int64_t r1);

/* Output rows [r0, r1) (row r is image r / OH, row r % OH) of a 3x3
 * depthwise convolution with strides and dilations 1, any padding and
 * channel count: y = clamp(depthwise(x, wd) + bias), wd as
 * spd_nhwc_dw_weights lays it out, bias may be NULL, clamp SPD_CLAMP_NONE,
 * _RELU or _CLIP (lo, hi). Call only when spd_vmath_avx512(). */
void spd_nhwc_dw3_rows_avx512(const spd_nhwc_geom *g, const float *x, const float *wd, const float *bias, int clamp,
                              float lo, float hi, float *y, int64_t r0, int64_t r1);

/* The same for square kernels of 3 or 5 taps with equal strides 1 or 2
 * (dilation 1), when spd_nhwc_dwk_fits says so. */
bool spd_nhwc_dwk_fits(const spd_nhwc_geom *g);
void spd_nhwc_dwk_rows_avx512(const spd_nhwc_geom *g, const float *x, const float *wd, const float *bias, int clamp,
                              float lo, float hi, float *y, int64_t r0, int64_t r1);

/* Group 1, not pointwise, without a column matrix (conv_nhwc_implicit.c):
 * when spd_nhwc_implicit_fits, Y = act(conv(X) + bias + Z) from xp, X
 * zero-padded to [N, Hp, Wp, C] over the rows and columns the taps span
 * (from the first padded one), and the weights W^T [KH*KW*C, M] prepacked
 * for kern (one k slice). bias and z may be NULL. */
struct spd_sgemm_kernel;
bool spd_nhwc_implicit_fits(const struct spd_sgemm_kernel *kern, const spd_nhwc_geom *g, const spd_act *ac);
void spd_nhwc_implicit(const struct spd_sgemm_kernel *kern, const spd_nhwc_geom *g, const float *xp, int64_t Hp,
                       int64_t Wp, const float *wpack, const float *bias, const float *z, const spd_act *ac, float *y,
                       int threads);

#endif
