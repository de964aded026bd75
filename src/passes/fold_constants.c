/* Constant folding: a node whose inputs are all constants is evaluated once
 * with its reference kernel and replaced by initializers. With sample inputs
 * the input shapes become fixed, so Shape and Size are constants too, and
 * the shape arithmetic PyTorch exports (Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape) folds away. */
#include <string.h>

#include "ir/op.h"
#include "passes/passes.h"
#include "util/alloc.h"
#include "util/status.h"

/* Folding must not inflate the model: an output this much larger than the
 * node's inputs (ConstantOfShape, Expand, Tile of a tiny constant) stays a
 * node. */
#define FOLD_MAX_BYTES ((size_t)16 << 20)

static int has_subgraph(const spd_node *n)
{
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].type == SPD_ATTR_GRAPH || n->attrs[a].type == SPD_ATTR_GRAPHS) return 1;
    return 0;
}

/* Operators whose result is not a function of their inputs, or that are
 * not plain tensors. */
static int never_fold(const spd_node *n)
{
    static const char *const ops[] = {
        "If", "Loop", "Scan", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
        "Bernoulli", "Multinomial", "Dropout", "Optional", "OptionalHasElement", "OptionalGetElement",
        "SplitToSequence", "ConcatFromSequence",
    };
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) return 1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(n->op_type, ops[i])) return 1;
    if (!strncmp(n->op_type, "Sequence", 8)) return 1;
    return has_subgraph(n);
}

static spd_status fold_node(spd_model *m, int i, int *folded)
{
    spd_graph *g = m->graph;
    spd_node *n = &g->nodes[i];
    *folded = 0;
    if (!n->op_type || never_fold(n)) return SPD_OK;
    const spd_tensor *in_small[16];
    if (n->n_inputs > 16 || n->n_outputs > 8) return SPD_OK;
    size_t in_bytes = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        in_small[k] = NULL;
        if (!n->inputs[k][0]) continue;
        in_small[k] = spd_graph_constant(g, n->inputs[k]);
        if (!in_small[k] || in_small[k]->dtype == SPD_STRING) return SPD_OK;
        in_bytes += spd_tensor_nbytes(in_small[k]);
    }
    int any_out = 0;
    for (int k = 0; k < n->n_outputs; k++) {
        if (!n->outputs[k][0]) continue;
        /* a graph output keeps its producing node: outputs are node values */
        if (spd_graph_output_index(g, n->outputs[k]) >= 0) return SPD_OK;
        any_out = 1;
    }
    if (!any_out) return SPD_OK;
    int64_t opset = spd_model_opset(m, n->domain);
    const spd_op_def *def = spd_op_find(n->domain, n->op_type, opset);
    if (!def) {
        spd_error_clear();
        return SPD_OK;
    }
    spd_tensor out[8];
    memset(out, 0, sizeof out);
    spd_op_ctx ctx = {.node = n, .opset = opset, .n_inputs = n->n_inputs, .in = in_small,
                      .n_outputs = n->n_outputs, .out = out};
    spd_status st = def->run(&ctx);
    size_t out_bytes = 0;
    for (int k = 0; k < n->n_outputs && st == SPD_OK; k++) {
        if (!n->outputs[k][0]) continue;
        if (out[k].dtype == SPD_UNDEFINED || spd_dtype_size(out[k].dtype) == 0) st = SPD_ERR_UNSUPPORTED;
        out_bytes += spd_tensor_nbytes(&out[k]);
    }
    if (st == SPD_OK && out_bytes > FOLD_MAX_BYTES && out_bytes > 2 * in_bytes) st = SPD_ERR_UNSUPPORTED;
    if (st != SPD_OK) {
        for (int k = 0; k < n->n_outputs; k++) spd_tensor_release(&out[k]);
        if (st == SPD_ERR_NOMEM) return st;
        spd_error_clear(); /* the node stays; running it will report the problem */
        return SPD_OK;
    }
    for (int k = 0; k < n->n_outputs; k++) {
        if (!n->outputs[k][0]) {
            spd_tensor_release(&out[k]);
            continue;
        }
        st = spd_graph_add_initializer(g, n->outputs[k], &out[k]);
        if (st != SPD_OK) {
            for (int j = k; j < n->n_outputs; j++) spd_tensor_release(&out[j]);
            return st;
        }
    }
    spd_graph_remove_node(g, i);
    *folded = 1;
    return SPD_OK;
}

static spd_status fold_all(spd_model *m, int *count)
{
    SPD_TRY(spd_graph_toposort(m->graph));
    /* in topological order one sweep folds whole constant chains */
    for (int i = 0; i < m->graph->n_nodes; i++) {
        int f;
        SPD_TRY(fold_node(m, i, &f));
        *count += f;
    }
    spd_graph_compact(m->graph);
    return SPD_OK;
}

static spd_status shape_constant(spd_graph *g, spd_node *n, int64_t opset, const spd_shape_entry *e)
{
    spd_tensor t;
    memset(&t, 0, sizeof t);
    if (!strcmp(n->op_type, "Size")) {
        SPD_TRY(spd_tensor_alloc(&t, SPD_INT64, 0, NULL));
        ((int64_t *)t.data)[0] = spd_dims_prod(e->dims, 0, e->ndim);
    } else {
        int64_t r = e->ndim, start = 0, end = r;
        if (opset >= 15) {
            start = spd_attr_int(n, "start", 0);
            end = spd_attr_int(n, "end", r);
            if (start < 0) start += r;
            if (end < 0) end += r;
            start = start < 0 ? 0 : start > r ? r : start;
            end = end < 0 ? 0 : end > r ? r : end;
            if (end < start) end = start;
        }
        int64_t len = end - start;
        SPD_TRY(spd_tensor_alloc(&t, SPD_INT64, 1, &len));
        for (int64_t k = 0; k < len; k++) ((int64_t *)t.data)[k] = e->dims[start + k];
    }
    spd_status st = spd_graph_add_initializer(g, n->outputs[0], &t);
    if (st != SPD_OK) spd_tensor_release(&t);
    return st;
}

/* Replaces Shape/Size of values whose shape the sample run fixed. */
static spd_status fold_shapes(spd_model *m, const spd_shape_table *tab, int *count)
{
    spd_graph *g = m->graph;
    int64_t opset = spd_model_opset(m, "");
    for (int i = 0; i < g->n_nodes; i++) {
        spd_node *n = &g->nodes[i];
        if (!n->op_type || (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))) continue;
        if (strcmp(n->op_type, "Shape") && strcmp(n->op_type, "Size")) continue;
        if (n->n_inputs < 1 || n->n_outputs < 1 || !n->outputs[0][0]) continue;
        if (spd_graph_output_index(g, n->outputs[0]) >= 0) continue;
        spd_shape_entry tmp;
        const spd_shape_entry *e = spd_shape_lookup(tab, g, n->inputs[0], &tmp);
        if (!e || e->ndim < 0) continue;
        int known = 1;
        for (int d = 0; d < e->ndim; d++) known &= e->dims[d] >= 0;
        if (!known) continue;
        SPD_TRY(shape_constant(g, n, opset, e));
        spd_graph_remove_node(g, i);
        (*count)++;
    }
    spd_graph_compact(g);
    return SPD_OK;
}

/* The inputs keep only the shapes the folded constants were computed for. */
static int fix_input_dims(spd_graph *g, const spd_tensor *samples, int n_samples)
{
    int s = 0, fixed = 0;
    for (int k = 0; k < g->n_inputs && s < n_samples; k++) {
        spd_value_info *vi = &g->inputs[k];
        if (spd_graph_find_initializer(g, vi->name) >= 0) continue;
        const spd_tensor *t = &samples[s++];
        int changed = vi->ndim != t->ndim;
        for (int d = 0; d < t->ndim && !changed; d++) changed = vi->dims[d].value != t->dims[d];
        if (!changed) continue;
        vi->ndim = t->ndim;
        for (int d = 0; d < SPD_MAX_DIMS; d++) {
            spd_free(vi->dims[d].param);
            vi->dims[d].param = NULL;
            vi->dims[d].value = d < t->ndim ? t->dims[d] : 0;
        }
        if (vi->dtype == SPD_UNDEFINED) vi->dtype = t->dtype;
        fixed++;
    }
    return fixed;
}

spd_status spd_pass_fold_constants_ex(spd_model *m, const spd_tensor *samples, int n_samples,
                                      spd_pass_report *rep)
{
    if (!m->graph) return SPD_OK;
    int folded = 0, shapes = 0, fixed = 0;
    SPD_TRY(fold_all(m, &folded));
    if (samples) {
        spd_shape_table tab;
        SPD_TRY(spd_shapes_from_run(m, samples, n_samples, &tab));
        spd_status st = fold_shapes(m, &tab, &shapes);
        spd_shapes_free(&tab);
        SPD_TRY(st);
        if (shapes) {
            fixed = fix_input_dims(m->graph, samples, n_samples);
            SPD_TRY(fold_all(m, &folded));
        }
    }
    if (rep) {
        rep->folded_nodes += folded;
        rep->folded_shapes += shapes;
        rep->fixed_inputs += fixed;
    }
    return SPD_OK;
}

spd_status spd_pass_fold_constants(spd_model *m, const spd_tensor *samples, int n_samples)
{
    return spd_pass_fold_constants_ex(m, samples, n_samples, NULL);
}
