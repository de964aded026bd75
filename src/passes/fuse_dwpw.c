/* A channels-last depthwise convolution whose output only a 1x1
 * convolution reads becomes, with it, one ai.speedster NhwcDwPwConv
 * (ops/conv_nhwc_dwpw.c): each task of that node runs both on its own
 * output rows, with no meeting of the threads in between.
 *
 * The depthwise node: NhwcConv, W a constant [C, 1, KH, KW], group C, no
 * residual. The 1x1 node: NhwcConv reading it as X, W a constant
 * [M, C, 1, 1], group 1, strides 1, no padding; its residual, if any,
 * stays. SPEEDSTER_DWPW=0 in the environment turns the pass off (to
 * compare). */
#include <stdlib.h>
#include <string.h>

#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

static bool is_nhwc_conv(const spd_node *n)
{
    return spd_pat_is_sp(n, "NhwcConv") && n->n_outputs == 1;
}

static const spd_tensor *weight(const spd_graph *g, const spd_node *n)
{
    const spd_tensor *w = n->n_inputs > 1 ? spd_graph_constant(g, n->inputs[1]) : NULL;
    return w && w->dtype == SPD_FLOAT && w->ndim == 4 ? w : NULL;
}

static bool no_input(const spd_node *n, int k) { return n->n_inputs <= k || !n->inputs[k][0]; }

static bool all_ints(const spd_node *n, const char *name, int64_t v)
{
    size_t k;
    const int64_t *p = spd_attr_ints(n, name, &k);
    for (size_t i = 0; p && i < k; i++)
        if (p[i] != v) return false;
    return true;
}

static bool is_depthwise(const spd_graph *g, const spd_node *n)
{
    const spd_tensor *w = weight(g, n);
    return is_nhwc_conv(n) && w && w->dims[1] == 1 && w->dims[0] > 1 && spd_attr_int(n, "group", 1) == w->dims[0] &&
           no_input(n, 3);
}

/* A 1x1 convolution over C channels reading `v` as X, whose attributes
 * the fused node can carry (an activation's parameters in
 * activation_params, not the alpha of an older spelling). */
static bool is_pointwise_of(const spd_graph *g, const spd_node *n, const char *v, int64_t C)
{
    const spd_tensor *w = weight(g, n);
    if (!is_nhwc_conv(n) || !w || w->dims[1] != C || w->dims[2] != 1 || w->dims[3] != 1) return false;
    if (strcmp(n->inputs[0], v) || (n->n_inputs > 3 && !strcmp(n->inputs[3], v))) return false;
    const char *pad = spd_attr_string(n, "auto_pad", "NOTSET");
    return spd_attr_int(n, "group", 1) == 1 && all_ints(n, "strides", 1) && all_ints(n, "pads", 0) &&
           (!strcmp(pad, "NOTSET") || !strcmp(pad, "VALID")) && !spd_node_attr(n, "alpha");
}

/* Node p becomes the fused node of d and p; d goes. */
static spd_status fuse(spd_graph *g, int d, int p)
{
    spd_node *dn = &g->nodes[d], *pn = &g->nodes[p];
    const char *act = spd_attr_string(pn, "activation", "");
    char *act_copy = spd_strdup(act);
    size_t np = 0;
    const float *params = spd_attr_floats(pn, "activation_params", &np);
    float pv[2] = {0, 0};
    if (np > 2) np = 2; /* the kernels read two */
    for (size_t i = 0; i < np; i++) pv[i] = params[i];
    if (!act_copy) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    const char *ins[6] = {dn->inputs[0], dn->inputs[1], dn->n_inputs > 2 ? dn->inputs[2] : "",
                          pn->inputs[1], pn->n_inputs > 2 ? pn->inputs[2] : "", pn->n_inputs > 3 ? pn->inputs[3] : ""};
    const int n_in = ins[5][0] ? 6 : 5;
    const char *outs[1] = {pn->outputs[0]};
    spd_status st = spd_graph_replace_node(g, p, "NhwcDwPwConv", "ai.speedster", n_in, ins, 1, outs);
    pn = &g->nodes[p];
    dn = &g->nodes[d];
    if (st == SPD_OK) st = spd_node_copy_attrs(pn, dn);
    if (st == SPD_OK && act_copy[0]) st = spd_node_set_string(pn, "pw_activation", act_copy);
    if (st == SPD_OK && np) st = spd_node_set_floats(pn, "pw_activation_params", pv, np);
    spd_free(act_copy);
    if (st == SPD_OK) spd_graph_remove_node(g, d);
    return st;
}

spd_status spd_pass_fuse_dwpw_ex(spd_model *m, spd_pass_report *rep)
{
    const char *env = getenv("SPEEDSTER_DWPW");
    if (!m->graph || (env && env[0] == '0')) return SPD_OK;
    spd_graph *g = m->graph;
    for (int d = 0; d < g->n_nodes; d++) {
        const spd_node *dn = &g->nodes[d];
        if (!dn->op_type || !is_depthwise(g, dn)) continue;
        const char *v = dn->outputs[0];
        int p;
        if (spd_graph_use_count(g, v) != 1 || spd_graph_consumers(g, v, &p, 1) != 1) continue;
        if (!is_pointwise_of(g, &g->nodes[p], v, weight(g, dn)->dims[0])) continue;
        SPD_TRY(fuse(g, d, p));
        if (rep) rep->fused_dwpw++;
    }
    spd_graph_compact(g);
    return SPD_OK;
}
