/* Conv with FusedConv's epilogue, for ops/fused.c. */
#ifndef SPD_OPS_CONV_H
#define SPD_OPS_CONV_H

#include "ir/op.h"
#include "ops/vmath.h"

/* ai.onnx Conv (inputs X, W, optional B, read from ctx as Conv reads them;
 * attributes by name) computing act(Conv(X, W, B) + Z). ac NULL: no
 * activation; Z NULL: no residual, else it must have the output's type and
 * shape. The bias, Z and activation are applied to each block of the output
 * right after it is computed. */
spd_status spd_conv_fused(spd_op_ctx *ctx, const spd_act *ac, const spd_tensor *Z);

/* FusedConv's activation and activation_params (also ai.speedster
 * NhwcConv's): SPD_ACT_NONE when the node has none. */
spd_status spd_conv_act_attrs(const spd_node *node, spd_act *ac);
/* The same from the attributes named act and params (ai.speedster
 * NhwcDwPwConv's second activation). */
spd_status spd_conv_act_attrs_named(const spd_node *node, const char *act, const char *params, spd_act *ac);

/* The prepare hook (ir/op.h) of Conv and FusedConv: a constant float32 W is
 * packed once for the GEMM kernel current at build time; the kernels use it
 * (ctx->state) while that kernel stays current, else pack W per call. */
spd_status spd_conv_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                            void **state, void (**state_free)(void *));

/* The same hook for a convolution whose attributes are named prefix +
 * Conv's names (a branch of ai.speedster ConvConcat), W its weight. */
spd_status spd_conv_prepare_named(const spd_node *node, const char *prefix, const spd_tensor *W, void **state,
                                  void (**state_free)(void *));

/* A 2-D or N-D float32 Conv over ctx's X, W and B (inputs 0-2, B may be
 * absent), its attributes named prefix + Conv's names, ctx->state its
 * prepared weights (spd_conv_prepare_named) or NULL:
 * spd_conv_named_dims checks it and gives the output's dims (X->ndim of
 * them); spd_conv_named_into writes act(Conv(X, W, B)) into y, image n at
 * y + n * y_image floats (0: packed together), for a caller that lays
 * several convolutions' outputs side by side (ops/conv_concat.c). */
spd_status spd_conv_named_dims(spd_op_ctx *ctx, const char *prefix, int64_t *ydims);
spd_status spd_conv_named_into(spd_op_ctx *ctx, const char *prefix, const spd_act *ac, float *y, int64_t y_image);

#endif
