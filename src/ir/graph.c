#include "ir/graph.h"

#include <string.h>

#include "ir/tensor.h"
#include "util/alloc.h"

int64_t spd_model_opset(const spd_model *m, const char *domain)
{
    int def = !domain || !*domain || !strcmp(domain, "ai.onnx");
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain ? m->opsets[i].domain : "";
        int ddef = !*d || !strcmp(d, "ai.onnx");
        if (def ? ddef : !strcmp(d, domain)) return m->opsets[i].version;
    }
    return def ? 1 : 0;
}

const spd_attr *spd_node_attr(const spd_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t spd_attr_int(const spd_node *n, const char *name, int64_t dflt)
{
    const spd_attr *a = spd_node_attr(n, name);
    return a && a->type == SPD_ATTR_INT ? a->i : dflt;
}

float spd_attr_float(const spd_node *n, const char *name, float dflt)
{
    const spd_attr *a = spd_node_attr(n, name);
    if (!a) return dflt;
    if (a->type == SPD_ATTR_FLOAT) return a->f;
    if (a->type == SPD_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *spd_attr_string(const spd_node *n, const char *name, const char *dflt)
{
    const spd_attr *a = spd_node_attr(n, name);
    return a && a->type == SPD_ATTR_STRING ? a->s : dflt;
}

const int64_t *spd_attr_ints(const spd_node *n, const char *name, size_t *count)
{
    const spd_attr *a = spd_node_attr(n, name);
    if (!a || a->type != SPD_ATTR_INTS) { *count = 0; return NULL; }
    *count = a->n;
    return a->ints;
}

const float *spd_attr_floats(const spd_node *n, const char *name, size_t *count)
{
    const spd_attr *a = spd_node_attr(n, name);
    if (!a || a->type != SPD_ATTR_FLOATS) { *count = 0; return NULL; }
    *count = a->n;
    return a->floats;
}

const spd_tensor *spd_attr_tensor(const spd_node *n, const char *name)
{
    const spd_attr *a = spd_node_attr(n, name);
    return a && a->type == SPD_ATTR_TENSOR ? a->t : NULL;
}

const spd_graph *spd_attr_graph(const spd_node *n, const char *name)
{
    const spd_attr *a = spd_node_attr(n, name);
    return a && a->type == SPD_ATTR_GRAPH && a->graphs ? a->graphs[0] : NULL;
}

void spd_attr_clear(spd_attr *a)
{
    spd_free(a->name);
    spd_free(a->s);
    spd_free(a->floats);
    spd_free(a->ints);
    spd_free(a->ref_attr_name);
    if (a->strings) {
        for (size_t i = 0; i < a->n; i++) spd_free(a->strings[i]);
        spd_free(a->strings);
    }
    if (a->t) {
        size_t nt = a->type == SPD_ATTR_TENSORS ? a->n : 1;
        for (size_t i = 0; i < nt; i++) spd_tensor_release(&a->t[i]);
        spd_free(a->t);
    }
    if (a->graphs) {
        size_t ng = a->type == SPD_ATTR_GRAPHS ? a->n : 1;
        for (size_t i = 0; i < ng; i++) spd_graph_free(a->graphs[i]);
        spd_free(a->graphs);
    }
    memset(a, 0, sizeof *a);
}

void spd_node_clear(spd_node *n)
{
    spd_free(n->name);
    spd_free(n->op_type);
    spd_free(n->domain);
    spd_free(n->doc);
    for (int i = 0; i < n->n_inputs; i++) spd_free(n->inputs[i]);
    spd_free(n->inputs);
    for (int i = 0; i < n->n_outputs; i++) spd_free(n->outputs[i]);
    spd_free(n->outputs);
    for (int i = 0; i < n->n_attrs; i++) spd_attr_clear(&n->attrs[i]);
    spd_free(n->attrs);
    memset(n, 0, sizeof *n);
}

void spd_value_info_clear(spd_value_info *v)
{
    spd_free(v->name);
    spd_free(v->doc);
    for (int i = 0; i < SPD_MAX_DIMS; i++) spd_free(v->dims[i].param);
    memset(v, 0, sizeof *v);
}

void spd_graph_free(spd_graph *g)
{
    if (!g) return;
    spd_free(g->name);
    spd_free(g->doc);
    for (int i = 0; i < g->n_nodes; i++) spd_node_clear(&g->nodes[i]);
    spd_free(g->nodes);
    for (int i = 0; i < g->n_initializers; i++) {
        spd_free(g->initializers[i].name);
        spd_tensor_release(&g->initializers[i].tensor);
    }
    spd_free(g->initializers);
    for (int i = 0; i < g->n_inputs; i++) spd_value_info_clear(&g->inputs[i]);
    spd_free(g->inputs);
    for (int i = 0; i < g->n_outputs; i++) spd_value_info_clear(&g->outputs[i]);
    spd_free(g->outputs);
    for (int i = 0; i < g->n_value_infos; i++) spd_value_info_clear(&g->value_infos[i]);
    spd_free(g->value_infos);
    spd_free(g);
}
