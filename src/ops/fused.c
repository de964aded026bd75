/* The fused operators the graph passes (src/passes) create, under ONNX
 * Runtime's com.microsoft names and attributes: FusedConv, FusedGemm,
 * LayerNormalization, Gelu, FastGelu, QuickGelu. Conv, Gemm and LayerNormalization
 * math is not repeated here: FusedConv runs ops/conv.c's Conv with the
 * residual and activation as its epilogue (applied block by block while the
 * output is in cache); FusedGemm and LayerNormalization run the registered
 * ai.onnx kernel on the same node (its attributes are looked up by name, so
 * the extra activation attributes are ignored), then the activation is
 * applied to the output in place. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ir/op.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/ew_fast.h"
#include "ops/gemm.h"
#include "ops/vmath.h"
#include "util/status.h"

typedef spd_act act;

static spd_status parse_act(const char *name, act *ac)
{
    static const struct { const char *name; spd_act_kind kind; float a, b; } table[] = {
        {"Relu", SPD_ACT_RELU, 0, 0},
        {"LeakyRelu", SPD_ACT_LEAKYRELU, 0.01f, 0},
        {"Sigmoid", SPD_ACT_SIGMOID, 0, 0},
        {"Tanh", SPD_ACT_TANH, 0, 0},
        {"Clip", SPD_ACT_CLIP, -FLT_MAX, FLT_MAX},
        {"HardSigmoid", SPD_ACT_HARDSIGMOID, 0.2f, 0.5f},
        {"QuickGelu", SPD_ACT_SILU, 1.702f, 0}, /* alpha from the parameters, ONNX Runtime's default */
        {"Gelu", SPD_ACT_GELU, 0, 0},
        {"HardSwish", SPD_ACT_HARDSWISH, 1.0f / 6, 0.5f}, /* speedster's: x HardSigmoid(x), alpha and beta its */
    };
    if (!name || !*name) {
        ac->kind = SPD_ACT_NONE;
        return SPD_OK;
    }
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(name, table[i].name)) {
            ac->kind = table[i].kind;
            ac->a = table[i].a;
            ac->b = table[i].b;
            return SPD_OK;
        }
    return spd_errorf(SPD_ERR_UNSUPPORTED, "activation '%s' is not supported", name);
}

/* The activation over the whole output: one branch-free (vectorised) pass;
 * a per-element switch with data-dependent branches was slower than the
 * convolution it followed. */
static spd_status act_in_place(spd_tensor *y, const act *ac)
{
    if (ac->kind == SPD_ACT_NONE) return SPD_OK;
    int64_t n = spd_tensor_numel(y);
    if (y->dtype == SPD_FLOAT) {
        spd_ew_unary_f32(SPD_EW_U_ACT, ac, y->data, y->data, n);
        return SPD_OK;
    }
    if (!spd_dtype_is_float(y->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "fused activation on %s", spd_dtype_name(y->dtype));
    for (int64_t i = 0; i < n; i++) spd_tensor_set(y, i, spd_act_scalar(ac, (float)spd_tensor_get(y, i)));
    return SPD_OK;
}

/* Runs the ai.onnx kernel `op` at `opset` on this node with its first
 * n_inputs inputs. */
static spd_status run_base(spd_op_ctx *ctx, const char *op, int64_t opset, int n_inputs)
{
    const spd_op_def *d = spd_op_find("", op, opset);
    if (!d) return SPD_ERR_UNSUPPORTED; /* spd_op_find said why */
    spd_op_ctx c = *ctx;
    c.opset = opset; /* ctx->state (a prepare hook's, or NULL) goes along */
    c.n_inputs = ctx->n_inputs < n_inputs ? ctx->n_inputs : n_inputs;
    return d->run(&c);
}

/* FusedConv(X, W, B, Z): act(Conv(X, W, B) + Z), activation_params holding
 * alpha (LeakyRelu), min,max (Clip) or alpha,beta (HardSigmoid). */
spd_status spd_conv_act_attrs_named(const spd_node *node, const char *act, const char *params, spd_act *ac)
{
    ac->kind = SPD_ACT_NONE;
    ac->a = ac->b = 0;
    SPD_TRY(parse_act(spd_attr_string(node, act, ""), ac));
    size_t np;
    const float *p = spd_attr_floats(node, params, &np);
    if (np > 0) ac->a = p[0];
    if (np > 1) ac->b = p[1];
    return SPD_OK;
}

spd_status spd_conv_act_attrs(const spd_node *node, spd_act *ac)
{
    SPD_TRY(spd_conv_act_attrs_named(node, "activation", "activation_params", ac));
    size_t np;
    (void)spd_attr_floats(node, "activation_params", &np);
    if (ac->kind == SPD_ACT_LEAKYRELU && np < 1 && spd_node_attr(node, "alpha"))
        ac->a = spd_attr_float(node, "alpha", 0.01f);
    return SPD_OK;
}

static spd_status op_fused_conv(spd_op_ctx *ctx)
{
    act ac;
    SPD_TRY(spd_conv_act_attrs(ctx->node, &ac));
    const spd_tensor *z = ctx->n_inputs > 3 ? ctx->in[3] : NULL;
    spd_op_ctx c = *ctx;
    c.opset = 11; /* ctx->state: spd_conv_prepare's packed weights (Conv checks it) */
    c.n_inputs = ctx->n_inputs < 3 ? ctx->n_inputs : 3;
    return spd_conv_fused(&c, &ac, z);
}

/* FusedGemm(A, B, C): act(Gemm(A, B, C)), parameters in activation_alpha
 * and activation_beta (ONNX Runtime's "activation_" + attribute name). */
static spd_status op_fused_gemm(spd_op_ctx *ctx)
{
    act ac = {SPD_ACT_NONE, 0, 0};
    SPD_TRY(parse_act(spd_attr_string(ctx->node, "activation", ""), &ac));
    if (ac.kind == SPD_ACT_CLIP) {
        ac.a = spd_attr_float(ctx->node, "activation_min", ac.a);
        ac.b = spd_attr_float(ctx->node, "activation_max", ac.b);
    } else {
        ac.a = spd_attr_float(ctx->node, "activation_alpha", ac.a);
        ac.b = spd_attr_float(ctx->node, "activation_beta", ac.b);
    }
    /* older ONNX Runtime files spell LeakyRelu's alpha leaky_relu_alpha */
    if (ac.kind == SPD_ACT_LEAKYRELU && !spd_node_attr(ctx->node, "activation_alpha"))
        ac.a = spd_attr_float(ctx->node, "leaky_relu_alpha", ac.a);
    /* float32 takes the activation in the GEMM's epilogue; other types
     * run plain Gemm, then the activation in place */
    spd_op_ctx c = *ctx;
    c.opset = 13;
    c.n_inputs = ctx->n_inputs < 3 ? ctx->n_inputs : 3;
    if (c.n_inputs > 0 && ctx->in[0] && ctx->in[0]->dtype == SPD_FLOAT) return spd_gemm_fused(&c, &ac);
    SPD_TRY(spd_gemm_fused(&c, NULL));
    return act_in_place(&ctx->out[0], &ac);
}

/* com.microsoft LayerNormalization has ai.onnx LayerNormalization-17's
 * inputs, outputs and attributes. */
static spd_status op_layernorm(spd_op_ctx *ctx)
{
    return run_base(ctx, "LayerNormalization", 17, 3);
}

static spd_status need_float_input(spd_op_ctx *ctx, const spd_tensor **x)
{
    if (ctx->n_inputs < 1 || !ctx->in[0]) return spd_errorf(SPD_ERR_INVALID, "input X is missing");
    *x = ctx->in[0];
    if (!spd_dtype_is_float((*x)->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "X of type %s", spd_dtype_name((*x)->dtype));
    return SPD_OK;
}

static inline float fast_gelu(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* Y = act(X) for a float X: float32 directly (vectorised, threaded when
 * large), other float types staged through float32. */
static spd_status act_op(spd_op_ctx *ctx, const act *ac)
{
    const spd_tensor *x = NULL;
    SPD_TRY(need_float_input(ctx, &x));
    if (x->dtype == SPD_FLOAT) {
        SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], x->dtype, x->ndim, x->dims)); /* every element written */
        spd_ew_unary_f32(SPD_EW_U_ACT, ac, ctx->out[0].data, x->data, spd_tensor_numel(x));
        return SPD_OK;
    }
    spd_tensor fx = {0};
    spd_status s = spd_ew_to_f32(x, &fx);
    if (s == SPD_OK) {
        spd_ew_unary_f32(SPD_EW_U_ACT, ac, fx.data, fx.data, spd_tensor_numel(&fx));
        s = spd_ew_from_f32(&fx, x->dtype, &ctx->out[0]);
    }
    spd_tensor_release(&fx);
    return s;
}

/* Gelu(X) = 0.5 * X * (1 + erf(X / sqrt(2))). */
static spd_status op_gelu(spd_op_ctx *ctx)
{
    const act ac = {SPD_ACT_GELU, 0, 0};
    return act_op(ctx, &ac);
}

/* QuickGelu(X) = X * sigmoid(alpha * X). */
static spd_status op_quick_gelu(spd_op_ctx *ctx)
{
    const act ac = {SPD_ACT_SILU, spd_attr_float(ctx->node, "alpha", 1.702f), 0};
    return act_op(ctx, &ac);
}

/* FastGelu(X, bias) = the tanh approximation of GELU of X + bias, bias
 * (optional) 1-D over X's last axis. */
static spd_status op_fast_gelu(spd_op_ctx *ctx)
{
    const spd_tensor *x = NULL;
    SPD_TRY(need_float_input(ctx, &x));
    const spd_tensor *b = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
    int64_t n = spd_tensor_numel(x), d = 1;
    if (b) {
        d = spd_tensor_numel(b);
        if (b->dtype != x->dtype || b->ndim != 1 || x->ndim < 1 || x->dims[x->ndim - 1] != d)
            return spd_errorf(SPD_ERR_INVALID, "bias must be 1-D with X's last dimension and type");
        if (d == 0) b = NULL;
    }
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], x->dtype, x->ndim, x->dims)); /* every element written */
    if (x->dtype == SPD_FLOAT) {
        spd_ew_fast_gelu_f32(ctx->out[0].data, x->data, n, b ? b->data : NULL, d);
    } else {
        for (int64_t i = 0; i < n; i++) {
            float v = (float)spd_tensor_get(x, i) + (b ? (float)spd_tensor_get(b, i % d) : 0.0f);
            spd_tensor_set(&ctx->out[0], i, fast_gelu(v));
        }
    }
    return SPD_OK;
}

const spd_op_def spd_ops_fused[] = {
    {"FusedConv", "com.microsoft", 1, 1, op_fused_conv, spd_conv_prepare},
    {"FusedGemm", "com.microsoft", 1, 1, op_fused_gemm, spd_gemm_prepare},
    {"LayerNormalization", "com.microsoft", 1, 1, op_layernorm},
    {"Gelu", "com.microsoft", 1, 1, op_gelu},
    {"FastGelu", "com.microsoft", 1, 1, op_fast_gelu},
    {"QuickGelu", "com.microsoft", 1, 1, op_quick_gelu},
};
const int spd_ops_fused_count = (int)(sizeof spd_ops_fused / sizeof spd_ops_fused[0]);
