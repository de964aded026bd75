/* Optimizers of the ai.onnx.preview.training domain: Adagrad, Adam and
 * Momentum. Each takes a learning rate R and a step count T followed by
 * groups of same-length variadic tensors (X..., G..., and the optimizer's
 * state), and returns the updated X... followed by the updated state, one
 * tensor per X. Updates are computed in double and stored in the tensor's
 * own type (float or double). */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "ir/op.h"
#include "util/status.h"

static inline double ld(const spd_tensor *t, int64_t i)
{
    return t->dtype == SPD_FLOAT ? ((const float *)t->data)[i] : ((const double *)t->data)[i];
}

static inline void st(spd_tensor *t, int64_t i, double v)
{
    if (t->dtype == SPD_FLOAT) ((float *)t->data)[i] = (float)v;
    else ((double *)t->data)[i] = v;
}

/* Reads R and T, and checks that the variadic inputs form `groups` groups
 * of n tensors of float/double, each group matching the first in shape and
 * type, and that there are groups - 1 outputs per X (X_new plus the state).
 * Allocates every output with the shape of its X. */
static spd_status prepare(spd_op_ctx *ctx, int groups, double *r, int64_t *t, int *n_out)
{
    if (ctx->n_inputs < 2 + groups || !ctx->in[0] || !ctx->in[1])
        return spd_errorf(SPD_ERR_INVALID, "expected R, T and %d groups of tensors", groups);
    const spd_tensor *R = ctx->in[0], *T = ctx->in[1];
    if ((R->dtype != SPD_FLOAT && R->dtype != SPD_DOUBLE) || spd_tensor_numel(R) != 1)
        return spd_errorf(SPD_ERR_INVALID, "R must be a float or double scalar");
    if (T->dtype != SPD_INT64 || spd_tensor_numel(T) != 1)
        return spd_errorf(SPD_ERR_INVALID, "T must be an int64 scalar");
    *r = ld(R, 0);
    *t = ((const int64_t *)T->data)[0];

    int nv = ctx->n_inputs - 2;
    if (nv % groups)
        return spd_errorf(SPD_ERR_INVALID, "%d optimized inputs do not split into %d groups", nv, groups);
    int n = nv / groups;
    if (ctx->n_outputs != (groups - 1) * n)
        return spd_errorf(SPD_ERR_INVALID, "expected %d outputs for %d tensors, got %d",
                          (groups - 1) * n, n, ctx->n_outputs);
    for (int k = 0; k < nv; k++) {
        const spd_tensor *v = ctx->in[2 + k];
        if (!v) return spd_errorf(SPD_ERR_INVALID, "optimized input %d is missing", k);
        if (v->dtype != SPD_FLOAT && v->dtype != SPD_DOUBLE)
            return spd_errorf(SPD_ERR_INVALID, "optimized input %d has dtype %s (float or double expected)",
                              k, spd_dtype_name(v->dtype));
        const spd_tensor *x = ctx->in[2 + k % n];
        if (v->dtype != x->dtype || !spd_tensor_same_shape(v, x))
            return spd_errorf(SPD_ERR_INVALID, "optimized input %d does not match its X in shape or type", k);
    }
    for (int k = 0; k < ctx->n_outputs; k++) {
        const spd_tensor *x = ctx->in[2 + k % n];
        SPD_TRY(spd_tensor_alloc(&ctx->out[k], x->dtype, x->ndim, x->dims));
    }
    *n_out = n;
    return SPD_OK;
}

/* Inputs R, T, X..., G..., H...; outputs X_new..., H_new... */
static spd_status op_adagrad(spd_op_ctx *ctx)
{
    double r = 0;
    int64_t t = 0;
    int n = 0;
    SPD_TRY(prepare(ctx, 3, &r, &t, &n));
    double norm = spd_attr_float(ctx->node, "norm_coefficient", 0.0f);
    double eps = spd_attr_float(ctx->node, "epsilon", 1e-6f);
    double decay = spd_attr_float(ctx->node, "decay_factor", 0.0f);
    double lr = r / (1.0 + (double)t * decay);
    for (int k = 0; k < n; k++) {
        const spd_tensor *x = ctx->in[2 + k], *g = ctx->in[2 + n + k], *h = ctx->in[2 + 2 * n + k];
        spd_tensor *xo = &ctx->out[k], *ho = &ctx->out[n + k];
        int64_t m = spd_tensor_numel(x);
        for (int64_t i = 0; i < m; i++) {
            double xv = ld(x, i), gr = norm * xv + ld(g, i);
            double hn = ld(h, i) + gr * gr;
            st(xo, i, xv - lr * gr / (sqrt(hn) + eps));
            st(ho, i, hn);
        }
    }
    return SPD_OK;
}

/* Inputs R, T, X..., G..., V..., H...; outputs X_new..., V_new..., H_new... */
static spd_status op_adam(spd_op_ctx *ctx)
{
    double r = 0;
    int64_t t = 0;
    int n = 0;
    SPD_TRY(prepare(ctx, 4, &r, &t, &n));
    double norm = spd_attr_float(ctx->node, "norm_coefficient", 0.0f);
    double norm_post = spd_attr_float(ctx->node, "norm_coefficient_post", 0.0f);
    double alpha = spd_attr_float(ctx->node, "alpha", 0.9f);
    double beta = spd_attr_float(ctx->node, "beta", 0.999f);
    double eps = spd_attr_float(ctx->node, "epsilon", 1e-6f);
    /* bias correction of the moments only after the first step */
    double lr = r;
    if (t > 0) lr = r * sqrt(1.0 - pow(beta, (double)t)) / (1.0 - pow(alpha, (double)t));
    for (int k = 0; k < n; k++) {
        const spd_tensor *x = ctx->in[2 + k], *g = ctx->in[2 + n + k];
        const spd_tensor *v = ctx->in[2 + 2 * n + k], *h = ctx->in[2 + 3 * n + k];
        spd_tensor *xo = &ctx->out[k], *vo = &ctx->out[n + k], *ho = &ctx->out[2 * n + k];
        int64_t m = spd_tensor_numel(x);
        for (int64_t i = 0; i < m; i++) {
            double xv = ld(x, i), gr = norm * xv + ld(g, i);
            double vn = alpha * ld(v, i) + (1.0 - alpha) * gr;
            double hn = beta * ld(h, i) + (1.0 - beta) * gr * gr;
            double xn = xv - lr * (vn / (sqrt(hn) + eps));
            st(xo, i, (1.0 - norm_post) * xn);
            st(vo, i, vn);
            st(ho, i, hn);
        }
    }
    return SPD_OK;
}

/* Inputs R, T, X..., G..., V...; outputs X_new..., V_new... */
static spd_status op_momentum(spd_op_ctx *ctx)
{
    const char *mode = spd_attr_string(ctx->node, "mode", NULL);
    bool nesterov;
    if (!mode) return spd_errorf(SPD_ERR_INVALID, "attribute mode is required");
    if (!strcmp(mode, "standard")) nesterov = false;
    else if (!strcmp(mode, "nesterov")) nesterov = true;
    else return spd_errorf(SPD_ERR_INVALID, "mode '%s' is neither 'standard' nor 'nesterov'", mode);
    if (!spd_node_attr(ctx->node, "alpha") || !spd_node_attr(ctx->node, "beta") ||
        !spd_node_attr(ctx->node, "norm_coefficient"))
        return spd_errorf(SPD_ERR_INVALID, "attributes alpha, beta and norm_coefficient are required");
    double r = 0;
    int64_t t = 0;
    int n = 0;
    SPD_TRY(prepare(ctx, 3, &r, &t, &n));
    double norm = spd_attr_float(ctx->node, "norm_coefficient", 0.0f);
    double alpha = spd_attr_float(ctx->node, "alpha", 0.0f);
    double beta = spd_attr_float(ctx->node, "beta", 0.0f);
    /* the gradient enters with weight 1 on the first step */
    double beta_t = t > 0 ? beta : 1.0;
    for (int k = 0; k < n; k++) {
        const spd_tensor *x = ctx->in[2 + k], *g = ctx->in[2 + n + k], *v = ctx->in[2 + 2 * n + k];
        spd_tensor *xo = &ctx->out[k], *vo = &ctx->out[n + k];
        int64_t m = spd_tensor_numel(x);
        for (int64_t i = 0; i < m; i++) {
            double xv = ld(x, i), gr = norm * xv + ld(g, i);
            double vn = alpha * ld(v, i) + beta_t * gr;
            st(xo, i, nesterov ? xv - r * (gr + alpha * vn) : xv - r * vn);
            st(vo, i, vn);
        }
    }
    return SPD_OK;
}

const spd_op_def spd_ops_training[] = {
    {"Adagrad", "ai.onnx.preview.training", 1, 1, op_adagrad},
    {"Adam", "ai.onnx.preview.training", 1, 1, op_adam},
    {"Momentum", "ai.onnx.preview.training", 1, 1, op_momentum},
};
const int spd_ops_training_count = (int)(sizeof spd_ops_training / sizeof spd_ops_training[0]);
