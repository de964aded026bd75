/* Activation fusion: MatMul + bias Add on a 2-D input becomes Gemm, then an
 * activation after Conv or Gemm joins it as ONNX Runtime's FusedConv /
 * FusedGemm (com.microsoft), computed by the Conv/Gemm kernel followed by
 * the activation in place. */
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

/* Node `prod` takes over activation node `act`: new type, the activation
 * attributes, and the activation's output. */
static spd_status absorb(spd_graph *g, int prod, int act, const char *op, const act_info *a, int gemm_style)
{
    spd_node *pn = &g->nodes[prod];
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

/* Add(MatMul(A, W), b) with A 2-D, W a constant [K, N] and b a constant
 * [N], [1, N] or [1] -> Gemm(A, W, b). */
static spd_status matmul_add_to_gemm(spd_model *m, const spd_shape_table *tab, int *count)
{
    spd_graph *g = m->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *an = &g->nodes[i];
        if (!spd_pat_is(an, "Add") || an->n_inputs != 2 || an->n_outputs != 1) continue;
        if (spd_node_attr(an, "axis")) continue; /* opset < 7 broadcasting along another axis */
        int mm = -1, which = -1;
        for (int k = 0; k < 2 && mm < 0; k++) {
            int q = spd_pat_producer_is(g, an->inputs[k], "MatMul");
            if (q >= 0 && spd_pat_float_const(g, an->inputs[1 - k])) { mm = q; which = k; }
        }
        if (mm < 0 || spd_pat_sole_consumer(g, an->inputs[which]) != i) continue;
        const spd_node *mn = &g->nodes[mm];
        if (mn->n_inputs != 2 || mn->n_outputs != 1) continue;
        const spd_tensor *w = spd_pat_float_const(g, mn->inputs[1]);
        const spd_tensor *b = spd_pat_float_const(g, an->inputs[1 - which]);
        if (!w || w->ndim != 2 || spd_pat_rank(tab, g, mn->inputs[0]) != 2) continue;
        int64_t nb = spd_tensor_numel(b);
        if (b->ndim > 2 || (b->ndim == 2 && b->dims[0] != 1) || (nb != 1 && nb != w->dims[1])) continue;
        const char *ins[3] = {mn->inputs[0], mn->inputs[1], an->inputs[1 - which]};
        const char *outs[1] = {an->outputs[0]};
        /* the Gemm takes the Add's place: A and W exist before the MatMul */
        SPD_TRY(spd_graph_replace_node(g, i, "Gemm", "", 3, ins, 1, outs));
        /* Gemm before opset 7 broadcasts C only when told to */
        if (spd_model_opset(m, "") < 7) SPD_TRY(spd_node_set_int(&g->nodes[i], "broadcast", 1));
        spd_graph_remove_node(g, mm);
        (*count)++;
    }
    spd_graph_compact(g);
    return SPD_OK;
}

spd_status spd_pass_fuse_activation_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int to_gemm = 0, convs = 0, gemms = 0;
    SPD_TRY(matmul_add_to_gemm(m, shapes, &to_gemm));
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        act_info a;
        if (!n->op_type || !activation_of(m, n, &a)) continue;
        const char *x = n->inputs[0];
        int p = spd_graph_producer(g, x);
        if (p < 0 || spd_pat_sole_consumer(g, x) != i) continue;
        const spd_node *pn = &g->nodes[p];
        if (pn->n_outputs != 1) continue;
        if (spd_pat_is(pn, "Conv") && pn->n_inputs >= 2 && pn->n_inputs <= 3 &&
            (is_float(shapes, g, pn->inputs[1]) || is_float(shapes, g, pn->inputs[0]))) {
            SPD_TRY(absorb(g, p, i, "FusedConv", &a, 0));
            convs++;
        } else if (spd_pat_is(pn, "Gemm") && strcmp(a.name, "Clip") && pn->n_inputs >= 2 && pn->n_inputs <= 3 &&
                   (is_float(shapes, g, pn->inputs[1]) || is_float(shapes, g, pn->inputs[0]))) {
            /* ONNX Runtime's FusedGemm has no Clip: it is left as a node */
            SPD_TRY(absorb(g, p, i, "FusedGemm", &a, 1));
            gemms++;
        }
    }
    spd_graph_compact(g);
    if (convs || gemms) SPD_TRY(spd_model_require_opset(m, MS, 1));
    if (rep) {
        rep->matmul_to_gemm += to_gemm;
        rep->fused_conv += convs;
        rep->fused_gemm += gemms;
    }
    return SPD_OK;
}

spd_status spd_pass_fuse_activation(spd_model *m)
{
    return spd_pass_fuse_activation_ex(m, NULL, NULL);
}
