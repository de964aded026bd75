/* A Concat along the channels of convolutions that all read the same X,
 * each output read by nothing else, becomes one ai.speedster ConvConcat
 * (ops/conv_concat.c) that writes every convolution's channels in place.
 * Only for batches of more than one image: at batch 1 the memory plan
 * already lays such inputs end to end in the Concat's output, for free.
 * squeezenet's fire modules (a 1x1 and a 3x3 expand of one squeeze) are
 * the pattern.
 *
 * Each convolution: Conv or FusedConv, no residual, W a constant float
 * tensor, B constant or absent, an activation's parameters in
 * activation_params (not the alpha of an older spelling). Branch i's
 * attributes are copied under the prefix b<i>_. SPEEDSTER_CONVCONCAT=0 in
 * the environment turns the pass off (to compare). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

#define MAX_BRANCHES 8 /* as ops/conv_concat.c */

static bool named(const char *s) { return s && *s; }

static bool is_branch_conv(const spd_graph *g, const spd_node *n)
{
    return spd_pat_conv_weight(g, n) && n->n_inputs <= 4 && n->n_outputs == 1 && named(n->inputs[0]) &&
           !(n->n_inputs > 3 && named(n->inputs[3])) && !spd_node_attr(n, "alpha");
}

/* The Concat's axis is 1 (or -rank + 1) on float X of more than one image. */
static bool channel_concat_of_batch(const spd_graph *g, const spd_shape_table *tab, const spd_node *cat)
{
    if (!cat->op_type || strcmp(cat->op_type, "Concat") || (cat->domain && *cat->domain && strcmp(cat->domain, "ai.onnx")))
        return false;
    if (cat->n_inputs < 2 || cat->n_inputs > MAX_BRANCHES || cat->n_outputs != 1 || !named(cat->outputs[0]))
        return false;
    spd_shape_entry ty;
    const spd_shape_entry *y = spd_shape_lookup(tab, g, cat->outputs[0], &ty);
    if (!y || y->ndim < 3 || y->dtype != SPD_FLOAT || y->dims[0] <= 1) return false;
    const int64_t axis = spd_attr_int(cat, "axis", 0);
    return axis == 1 || axis == 1 - y->ndim;
}

static spd_status fuse(spd_graph *g, int cat, const int *conv, int n)
{
    const char *ins[1 + 2 * MAX_BRANCHES];
    ins[0] = g->nodes[conv[0]].inputs[0];
    for (int i = 0; i < n; i++) {
        const spd_node *c = &g->nodes[conv[i]];
        ins[1 + 2 * i] = c->inputs[1];
        ins[2 + 2 * i] = c->n_inputs > 2 ? c->inputs[2] : "";
    }
    /* the names outlive the replacement: spd_graph_replace_node copies them */
    const char *outs[1] = {g->nodes[cat].outputs[0]};
    SPD_TRY(spd_graph_replace_node(g, cat, "ConvConcat", "ai.speedster", 1 + 2 * n, ins, 1, outs));
    for (int i = 0; i < n; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "b%d_", i);
        SPD_TRY(spd_node_copy_attrs_prefixed(&g->nodes[cat], &g->nodes[conv[i]], prefix));
    }
    for (int i = 0; i < n; i++) spd_graph_remove_node(g, conv[i]);
    return SPD_OK;
}

spd_status spd_pass_fuse_conv_concat_ex(spd_model *m, const spd_shape_table *tab, spd_pass_report *rep)
{
    const char *env = getenv("SPEEDSTER_CONVCONCAT");
    if (!m->graph || !tab || (env && env[0] == '0')) return SPD_OK;
    spd_graph *g = m->graph;
    int fused = 0;
    for (int k = 0; k < g->n_nodes; k++) {
        const spd_node *cat = &g->nodes[k];
        if (!channel_concat_of_batch(g, tab, cat)) continue;
        int conv[MAX_BRANCHES] = {0}, n = 0;
        for (int i = 0; i < cat->n_inputs; i++) {
            const char *v = cat->inputs[i];
            const int p = named(v) ? spd_graph_producer(g, v) : -1;
            if (p < 0 || spd_graph_use_count(g, v) != 1) break;
            if (!is_branch_conv(g, &g->nodes[p]) ||
                (n > 0 && strcmp(g->nodes[p].inputs[0], g->nodes[conv[0]].inputs[0])))
                break;
            conv[n++] = p;
        }
        if (n != cat->n_inputs) continue;
        SPD_TRY(fuse(g, k, conv, n));
        fused++;
    }
    if (rep) rep->fused_conv_concat += fused;
    if (fused) SPD_TRY(spd_model_require_opset(m, "ai.speedster", 1));
    spd_graph_compact(g);
    return SPD_OK;
}
