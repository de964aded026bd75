/* Pad into Conv and AveragePool: a constant-zero Pad of the spatial axes
 * whose only reader is a Conv's X becomes the Conv's own padding
 * (TensorFlow-style "same" padding, F.pad before a convolution), and one
 * before an AveragePool becomes its padding with the zeros counted
 * (count_include_pad 1: what PyTorch exports avg_pool2d(padding=p) as,
 * Inception's pooling branches). The Pad would copy the whole activation;
 * the operator pads for free. */
#include <stdbool.h>
#include <string.h>

#include "passes/pattern.h"
#include "util/status.h"

/* Pad node n's begin and end pads per axis of a rank-r input (0 when an
 * axis is not named); 0 if they are not constants, or if its mode or
 * constant value is anything but a zero fill. */
static int zero_fill_pads(const spd_model *m, const spd_node *n, int r, int64_t *pb, int64_t *pe)
{
    const spd_graph *g = m->graph;
    const int64_t opset = spd_model_opset(m, "");
    if (strcmp(spd_attr_string(n, "mode", "constant"), "constant")) return 0;
    memset(pb, 0, (size_t)r * sizeof *pb);
    memset(pe, 0, (size_t)r * sizeof *pe);
    if (opset < 11) {
        size_t cnt;
        const int64_t *p = spd_attr_ints(n, opset < 2 ? "paddings" : "pads", &cnt);
        if (!p || cnt != (size_t)(2 * r) || spd_attr_float(n, "value", 0.0f) != 0.0f) return 0;
        memcpy(pb, p, (size_t)r * sizeof *pb);
        memcpy(pe, p + r, (size_t)r * sizeof *pe);
        return 1;
    }
    if (n->n_inputs < 2 || !n->inputs[1][0]) return 0;
    if (n->n_inputs > 2 && n->inputs[2][0]) {
        double v;
        if (!spd_pat_scalar(g, n->inputs[2], &v) || v != 0.0) return 0;
    }
    int64_t axes[SPD_MAX_DIMS];
    int na = r;
    for (int a = 0; a < r; a++) axes[a] = a;
    if (n->n_inputs > 3 && n->inputs[3][0]) {
        const spd_tensor *at = spd_pat_const(g, n->inputs[3]);
        if (!at || spd_tensor_numel(at) > r) return 0;
        na = (int)spd_tensor_numel(at);
        for (int k = 0; k < na; k++) {
            axes[k] = spd_tensor_get_i64(at, k);
            if (axes[k] < 0) axes[k] += r;
            if (axes[k] < 0 || axes[k] >= r) return 0;
        }
    }
    const spd_tensor *pt = spd_pat_const(g, n->inputs[1]);
    if (!pt || (pt->dtype != SPD_INT64 && pt->dtype != SPD_INT32) || spd_tensor_numel(pt) != 2 * na) return 0;
    for (int k = 0; k < na; k++) {
        pb[axes[k]] = spd_tensor_get_i64(pt, k);
        pe[axes[k]] = spd_tensor_get_i64(pt, na + k);
    }
    return 1;
}

spd_status spd_pass_fold_pad_ex(spd_model *m, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int folded = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *pad = &g->nodes[i];
        if (!spd_pat_is(pad, "Pad") || pad->n_outputs != 1 || !pad->inputs[0][0]) continue;
        const int c = spd_pat_sole_consumer(g, pad->outputs[0]);
        if (c < 0 || strcmp(g->nodes[c].inputs[0], pad->outputs[0])) continue;
        spd_node *conv = &g->nodes[c];
        const bool is_conv = spd_pat_is(conv, "Conv"), is_avg = spd_pat_is(conv, "AveragePool");
        if ((!is_conv && !is_avg) || strcmp(spd_attr_string(conv, "auto_pad", "NOTSET"), "NOTSET")) continue;
        size_t np;
        const int64_t *cp = spd_attr_ints(conv, "pads", &np);
        /* the rank: X is N, C and the spatial axes of W or of the window */
        int r = 0;
        if (is_conv) {
            const spd_tensor *w = conv->n_inputs > 1 ? spd_pat_const(g, conv->inputs[1]) : NULL;
            r = w ? w->ndim : 0;
        } else {
            size_t nk;
            /* the zeros join the average only where the pool counts its
             * own padding, or has none; ceil_mode's extra windows are left
             * to the Pad */
            (void)spd_attr_ints(conv, "kernel_shape", &nk);
            r = (int)nk + 2;
            if (spd_attr_int(conv, "ceil_mode", 0) != 0) continue;
            if (spd_attr_int(conv, "count_include_pad", 0) == 0) {
                int any = 0;
                for (size_t k = 0; cp && k < np; k++) any |= cp[k] != 0;
                if (any) continue;
            }
        }
        if (r < 3 || r > SPD_MAX_DIMS) continue;
        const int ns = r - 2;
        int64_t pb[SPD_MAX_DIMS], pe[SPD_MAX_DIMS];
        if (!zero_fill_pads(m, pad, r, pb, pe) || pb[0] || pe[0] || pb[1] || pe[1]) continue;
        int ok = 1;
        for (int a = 2; a < r; a++) ok &= pb[a] >= 0 && pe[a] >= 0;
        if (!ok || (cp && np != (size_t)(2 * ns))) continue;
        int64_t pads[2 * SPD_MAX_DIMS];
        for (int a = 0; a < ns; a++) {
            pads[a] = (cp ? cp[a] : 0) + pb[2 + a];
            pads[ns + a] = (cp ? cp[ns + a] : 0) + pe[2 + a];
        }
        SPD_TRY(spd_node_set_ints(conv, "pads", pads, (size_t)(2 * ns)));
        if (is_avg) SPD_TRY(spd_node_set_int(conv, "count_include_pad", 1));
        SPD_TRY(spd_node_set_input(conv, 0, pad->inputs[0]));
        spd_graph_remove_node(g, i);
        folded++;
    }
    spd_graph_compact(g);
    if (rep) rep->folded_pads += folded;
    return SPD_OK;
}
