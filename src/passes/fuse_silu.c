/* SiLU / Swish fusion: Mul(x, Sigmoid(x)), in either operand order, becomes
 * com.microsoft QuickGelu(x) with alpha 1 (QuickGelu is x * sigmoid(alpha *
 * x)): one pass over the tensor instead of two, and x is then read once, so
 * the activation fusion can take it into the Conv or Gemm producing x. */
#include <string.h>

#include "passes/pattern.h"
#include "util/status.h"

spd_status spd_pass_fuse_silu_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int fused = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *s = &g->nodes[i];
        if (!spd_pat_is(s, "Sigmoid") || s->n_inputs != 1 || s->n_outputs != 1) continue;
        const char *x = s->inputs[0];
        /* the Sigmoid's value must vanish with it */
        int mul = spd_pat_sole_consumer(g, s->outputs[0]);
        if (mul < 0 || !spd_pat_is(&g->nodes[mul], "Mul") || g->nodes[mul].n_outputs != 1) continue;
        const char *other = spd_pat_other_input(&g->nodes[mul], s->outputs[0]);
        /* QuickGelu's kernels are float32 only */
        if (!other || strcmp(other, x) || !spd_pat_is_float(shapes, g, x)) continue;
        const char *ins[1] = {x};
        const char *outs[1] = {g->nodes[mul].outputs[0]};
        /* the Mul's place: x exists before the Sigmoid, so before the Mul */
        SPD_TRY(spd_graph_replace_node(g, mul, "QuickGelu", "com.microsoft", 1, ins, 1, outs));
        SPD_TRY(spd_node_set_float(&g->nodes[mul], "alpha", 1.0f));
        spd_graph_remove_node(g, i);
        fused++;
    }
    spd_graph_compact(g);
    if (fused) SPD_TRY(spd_model_require_opset(m, "com.microsoft", 1));
    if (rep) rep->fused_quickgelu += fused;
    return SPD_OK;
}

spd_status spd_pass_fuse_silu(spd_model *m)
{
    return spd_pass_fuse_silu_ex(m, NULL, NULL);
}
