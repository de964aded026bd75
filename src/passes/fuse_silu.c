/* Self-gated activations, x * gate(x) in either operand order, become one
 * node: one pass over the tensor instead of two, and x is then read once,
 * so the activation fusion can take it into the Conv or Gemm producing x.
 *   Mul(x, Sigmoid(x))     -> com.microsoft QuickGelu(x), alpha 1 (SiLU /
 *                             Swish; QuickGelu is x * sigmoid(alpha * x));
 *   Mul(x, HardSigmoid(x)) -> ai.speedster HardSwish(x) with the
 *                             HardSigmoid's alpha and beta (HardSwish as
 *                             exporters write it below opset 14: every
 *                             activation of MobileNetV3). */
#include <string.h>

#include "passes/pattern.h"
#include "util/status.h"

spd_status spd_pass_fuse_silu_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int silu = 0, hswish = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *s = &g->nodes[i];
        const bool sig = spd_pat_is(s, "Sigmoid"), hard = spd_pat_is(s, "HardSigmoid");
        if ((!sig && !hard) || s->n_inputs != 1 || s->n_outputs != 1) continue;
        const char *x = s->inputs[0];
        /* the gate's value must vanish with it */
        int mul = spd_pat_sole_consumer(g, s->outputs[0]);
        if (mul < 0 || !spd_pat_is(&g->nodes[mul], "Mul") || g->nodes[mul].n_outputs != 1) continue;
        const char *other = spd_pat_other_input(&g->nodes[mul], s->outputs[0]);
        /* the fused kernels are float32 only */
        if (!other || strcmp(other, x) || !spd_pat_is_float(shapes, g, x)) continue;
        const float alpha = hard ? spd_attr_float(s, "alpha", 0.2f) : 1.0f;
        const float beta = hard ? spd_attr_float(s, "beta", 0.5f) : 0.0f;
        const char *ins[1] = {x};
        const char *outs[1] = {g->nodes[mul].outputs[0]};
        /* the Mul's place: x exists before the gate, so before the Mul */
        if (sig) {
            SPD_TRY(spd_graph_replace_node(g, mul, "QuickGelu", "com.microsoft", 1, ins, 1, outs));
            silu++;
        } else {
            SPD_TRY(spd_graph_replace_node(g, mul, "HardSwish", "ai.speedster", 1, ins, 1, outs));
            SPD_TRY(spd_node_set_float(&g->nodes[mul], "beta", beta));
            hswish++;
        }
        SPD_TRY(spd_node_set_float(&g->nodes[mul], "alpha", alpha));
        spd_graph_remove_node(g, i);
    }
    spd_graph_compact(g);
    if (silu) SPD_TRY(spd_model_require_opset(m, "com.microsoft", 1));
    if (hswish) SPD_TRY(spd_model_require_opset(m, "ai.speedster", 1));
    if (rep) {
        rep->fused_quickgelu += silu;
        rep->fused_hardswish += hswish;
    }
    return SPD_OK;
}

spd_status spd_pass_fuse_silu(spd_model *m)
{
    return spd_pass_fuse_silu_ex(m, NULL, NULL);
}
