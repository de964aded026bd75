/* Activation fusion: MatMul + bias Add becomes Gemm (fuse_matmul.c), a
 * residual Add after a Conv becomes FusedConv's input Z, then an activation
 * after Conv or Gemm joins it as ONNX Runtime's FusedConv / FusedGemm
 * (com.microsoft), computed by the Conv/Gemm kernel with the activation as
 * its epilogue. */
#include <float.h>
#include <string.h>

#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

static const char *const MS = "com.microsoft";

typedef struct act_info {
    const char *name;
    int n_params;
    float params[2];
} act_info;

/* The activation node i computes, with its parameters; 0 if it is not one
 * we fuse (or its Clip bounds are not constants). */
static int activation_of(const spd_model *m, const spd_node *n, act_info *a)
{
    memset(a, 0, sizeof *a);
    if (n->n_inputs < 1 || n->n_outputs < 1 || !n->outputs[0][0]) return 0;
    static const char *const plain[] = {"Relu", "Sigmoid", "Tanh"};
    for (int k = 0; k < 3; k++)
        if (spd_pat_is(n, plain[k])) {
            a->name = plain[k];
            return 1;
        }
    if (spd_pat_is(n, "LeakyRelu")) {
        a->name = "LeakyRelu";
        a->n_params = 1;
        a->params[0] = spd_attr_float(n, "alpha", 0.01f);
        return 1;
    }
    if (spd_pat_is(n, "HardSigmoid")) {
        a->name = "HardSigmoid";
        a->n_params = 2;
        a->params[0] = spd_attr_float(n, "alpha", 0.2f);
        a->params[1] = spd_attr_float(n, "beta", 0.5f);
        return 1;
    }
    /* com.microsoft Gelu (erf) and QuickGelu (x * sigmoid(alpha * x)),
     * from the GELU and SiLU fusions */
    if (spd_pat_is_ms(n, "Gelu") && n->n_inputs == 1) {
        a->name = "Gelu";
        return 1;
    }
    /* HardSwish: ai.onnx's (alpha 1/6, beta 1/2) and the fusion's */
    const int hs_ours = spd_pat_is_sp(n, "HardSwish");
    if ((hs_ours || spd_pat_is(n, "HardSwish")) && n->n_inputs == 1) {
        a->name = "HardSwish";
        a->n_params = 2;
        a->params[0] = hs_ours ? spd_attr_float(n, "alpha", 1.0f / 6) : 1.0f / 6;
        a->params[1] = hs_ours ? spd_attr_float(n, "beta", 0.5f) : 0.5f;
        return 1;
    }
    if (spd_pat_is_ms(n, "QuickGelu") && n->n_inputs == 1) {
        a->name = "QuickGelu";
        a->n_params = 1;
        a->params[0] = spd_attr_float(n, "alpha", 1.702f);
        return 1;
    }
    if (spd_pat_is(n, "Clip")) {
        a->name = "Clip";
        a->n_params = 2;
        a->params[0] = -FLT_MAX;
        a->params[1] = FLT_MAX;
        if (spd_model_opset(m, "") < 11) {
            a->params[0] = spd_attr_float(n, "min", -FLT_MAX);
            a->params[1] = spd_attr_float(n, "max", FLT_MAX);
            return 1;
        }
        for (int k = 1; k < 3 && k < n->n_inputs; k++) {
            if (!n->inputs[k][0]) continue;
            double v;
            if (!spd_pat_scalar(m->graph, n->inputs[k], &v)) return 0;
            a->params[k - 1] = (float)v;
        }
        return 1;
    }
    return 0;
}

static int is_float(const spd_shape_table *tab, const spd_graph *g, const char *name)
{
    spd_shape_entry tmp;
    const spd_shape_entry *e = spd_shape_lookup(tab, g, name, &tmp);
    return e && e->dtype == SPD_FLOAT;
}

/* Node `prod` takes over activation node `act`: new type (op NULL: it
 * keeps its own), the activation attributes, and the activation's output. */
static spd_status absorb(spd_graph *g, int prod, int act, const char *op, const act_info *a, int gemm_style)
{
    spd_node *pn = &g->nodes[prod];
    if (op) {
        char *type = spd_strdup(op), *dom = spd_strdup(MS);
        if (!type || !dom) {
            spd_free(type);
            spd_free(dom);
            return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        }
        spd_free(pn->op_type);
        spd_free(pn->domain);
        pn->op_type = type;
        pn->domain = dom;
    }
    SPD_TRY(spd_node_set_string(pn, "activation", a->name));
    if (gemm_style) {
        if (a->n_params > 0) SPD_TRY(spd_node_set_float(pn, "activation_alpha", a->params[0]));
        if (a->n_params > 1) SPD_TRY(spd_node_set_float(pn, "activation_beta", a->params[1]));
    } else if (a->n_params > 0) {
        SPD_TRY(spd_node_set_floats(pn, "activation_params", a->params, (size_t)a->n_params));
    }
    SPD_TRY(spd_node_set_output(pn, 0, g->nodes[act].outputs[0]));
    spd_graph_remove_node(g, act);
    return SPD_OK;
}

static int same_known_shape(const spd_shape_table *tab, const spd_graph *g, const char *a, const char *b)
{
    spd_shape_entry ta, tb;
    const spd_shape_entry *ea = spd_shape_lookup(tab, g, a, &ta), *eb = spd_shape_lookup(tab, g, b, &tb);
    if (!ea || !eb || ea->ndim != eb->ndim || ea->dtype != SPD_FLOAT || eb->dtype != SPD_FLOAT) return 0;
    for (int d = 0; d < ea->ndim; d++)
        if (ea->dims[d] < 0 || ea->dims[d] != eb->dims[d]) return 0;
    return 1;
}

/* Add(Conv(X, W, B), Z) with Z of the Conv output's shape -> FusedConv(X, W,
 * B, Z), ONNX Runtime's residual input: the sum is made while the output
 * block is in cache, and an activation after the Add can then join too. */
static spd_status conv_add_to_fused(spd_model *m, const spd_shape_table *shapes, int *count)
{
    spd_graph *g = m->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *an = &g->nodes[i];
        if (!spd_pat_is(an, "Add") || an->n_inputs != 2 || an->n_outputs != 1 || spd_node_attr(an, "axis")) continue;
        if (!strcmp(an->inputs[0], an->inputs[1])) continue;
        int c = -1, z = -1;
        for (int k = 0; k < 2 && c < 0; k++) {
            int p = spd_pat_producer_is(g, an->inputs[k], "Conv");
            if (p < 0 || g->nodes[p].n_inputs < 2 || g->nodes[p].n_inputs > 3 || g->nodes[p].n_outputs != 1) continue;
            if (spd_pat_sole_consumer(g, an->inputs[k]) != i) continue;
            if (!same_known_shape(shapes, g, an->inputs[k], an->inputs[1 - k])) continue;
            c = p;
            z = 1 - k;
        }
        if (c < 0) continue;
        const spd_node *cn = &g->nodes[c];
        const char *ins[4] = {cn->inputs[0], cn->inputs[1], cn->n_inputs > 2 ? cn->inputs[2] : "", an->inputs[z]};
        const char *outs[1] = {an->outputs[0]};
        /* at the Add's place: Z may be computed after the Conv */
        SPD_TRY(spd_graph_replace_node(g, i, "FusedConv", MS, 4, ins, 1, outs));
        SPD_TRY(spd_node_copy_attrs(&g->nodes[i], &g->nodes[c]));
        spd_graph_remove_node(g, c);
        (*count)++;
    }
    spd_graph_compact(g);
    return SPD_OK;
}

spd_status spd_pass_fuse_activation_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int convs = 0, gemms = 0, residual = 0, affine = 0;
    SPD_TRY(spd_pass_fuse_matmul_ex(m, shapes, rep));
    SPD_TRY(conv_add_to_fused(m, shapes, &residual));
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        act_info a;
        if (!n->op_type || !activation_of(m, n, &a)) continue;
        const char *x = n->inputs[0];
        int p = spd_graph_producer(g, x);
        if (p < 0 || spd_pat_sole_consumer(g, x) != i) continue;
        const spd_node *pn = &g->nodes[p];
        if (pn->n_outputs != 1) continue;
        /* a FusedConv without activation (a Conv + residual Add) takes one
         * too: ONNX Runtime applies it after the sum */
        int conv_like = (spd_pat_is(pn, "Conv") && pn->n_inputs <= 3) ||
                        (spd_pat_is_ms(pn, "FusedConv") && pn->n_inputs <= 4 &&
                         !*spd_attr_string(pn, "activation", ""));
        if (conv_like && pn->n_inputs >= 2 &&
            (is_float(shapes, g, pn->inputs[1]) || is_float(shapes, g, pn->inputs[0]))) {
            SPD_TRY(absorb(g, p, i, "FusedConv", &a, 0));
            convs++;
        } else if (spd_pat_is(pn, "Gemm") && strcmp(a.name, "Clip") && pn->n_inputs >= 2 && pn->n_inputs <= 3 &&
                   (is_float(shapes, g, pn->inputs[1]) || is_float(shapes, g, pn->inputs[0]))) {
            /* ONNX Runtime's FusedGemm has no Clip: it is left as a node */
            SPD_TRY(absorb(g, p, i, "FusedGemm", &a, 1));
            gemms++;
        } else if (spd_pat_is_sp(pn, "ChannelAffine") && !*spd_attr_string(pn, "activation", "")) {
            /* a BatchNormalization's affine form (fold_batchnorm.c), with
             * FusedConv's activation attributes */
            SPD_TRY(absorb(g, p, i, NULL, &a, 0));
            affine++;
        }
    }
    spd_graph_compact(g);
    if (convs || gemms || residual) SPD_TRY(spd_model_require_opset(m, MS, 1));
    if (rep) {
        rep->fused_residual += residual;
        rep->fused_conv += convs;
        rep->fused_gemm += gemms;
        rep->fused_affine += affine;
    }
    return SPD_OK;
}

spd_status spd_pass_fuse_activation(spd_model *m)
{
    return spd_pass_fuse_activation_ex(m, NULL, NULL);
}
