/* Dead code: Identity, inference Dropout and Pad by zeros are bypassed, then nodes that
 * reach no graph output, initializers nobody reads and value_infos of
 * values that no longer exist are dropped. */
#include <string.h>

#include "passes/passes.h"
#include "util/alloc.h"
#include "util/status.h"
#include "util/strmap.h"

static int is_default_domain(const spd_node *n)
{
    return !n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx");
}

/* Dropout computes the identity unless training_mode is set (opset 12+) or
 * its mask is read; in training mode too when its ratio is a constant 0
 * (PyTorch exports Swin's attention dropouts so: training_mode True, ratio
 * 0, where each would otherwise draw a mask). Dropout-1..6's is_test=0 is
 * treated as inference, as the reference kernel does. */
static int dropout_is_identity(const spd_model *m, const spd_node *n)
{
    const spd_graph *g = m->graph;
    if (n->n_outputs > 1 && n->outputs[1][0] && spd_graph_use_count(g, n->outputs[1]) > 0) return 0;
    if (spd_model_opset(m, "") >= 12 && n->n_inputs > 2 && n->inputs[2][0]) {
        const spd_tensor *t = spd_graph_constant(g, n->inputs[2]);
        if (!t || spd_tensor_numel(t) != 1) return 0;
        if (spd_tensor_get(t, 0) != 0) {
            const spd_tensor *r = n->n_inputs > 1 && n->inputs[1][0] ? spd_graph_constant(g, n->inputs[1]) : NULL;
            if (!r || spd_tensor_numel(r) != 1 || spd_tensor_get(r, 0) != 0) return 0;
        }
    }
    return 1;
}

/* A Pad that pads nothing: every pad a constant 0 (PyTorch writes one
 * before each AvgPool2d of DenseNet's transitions); it would copy. */
static int pad_is_identity(const spd_model *m, const spd_node *n)
{
    const spd_graph *g = m->graph;
    if (spd_model_opset(m, "") < 11) {
        size_t cnt;
        const int64_t *p = spd_attr_ints(n, spd_model_opset(m, "") < 2 ? "paddings" : "pads", &cnt);
        if (!p) return 0;
        for (size_t k = 0; k < cnt; k++)
            if (p[k]) return 0;
        return 1;
    }
    if (n->n_inputs < 2 || !n->inputs[1][0]) return 0;
    const spd_tensor *t = spd_graph_constant(g, n->inputs[1]);
    if (!t || (t->dtype != SPD_INT64 && t->dtype != SPD_INT32)) return 0;
    for (int64_t k = 0; k < spd_tensor_numel(t); k++)
        if (spd_tensor_get_i64(t, k)) return 0;
    return 1;
}

/* Removes node i, whose output 0 equals its input 0, when that can be done
 * without renaming a graph input or output. */
static spd_status bypass(spd_graph *g, int i, int *removed)
{
    spd_node *n = &g->nodes[i];
    *removed = 0;
    if (n->n_inputs < 1 || n->n_outputs < 1 || !n->inputs[0][0]) return SPD_OK;
    const char *x = n->inputs[0], *y = n->outputs[0];
    if (!y[0]) {
        spd_graph_remove_node(g, i);
        *removed = 1;
        return SPD_OK;
    }
    if (spd_graph_output_index(g, y) < 0) {
        /* y is internal: its readers read x instead */
        SPD_TRY(spd_graph_replace_uses(g, y, x));
        spd_graph_remove_node(g, i);
        *removed = 1;
        return SPD_OK;
    }
    /* y is a graph output: x's producer may write y directly, if x is an
     * internal value read only here */
    int p = spd_graph_producer(g, x);
    if (p < 0 || spd_graph_output_index(g, x) >= 0 || spd_graph_use_count(g, x) != 1) return SPD_OK;
    char *y_name = spd_strdup(y);
    if (!y_name) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_node *pn = &g->nodes[p];
    spd_status st = SPD_OK;
    for (int k = 0; k < pn->n_outputs && st == SPD_OK; k++)
        if (!strcmp(pn->outputs[k], x)) st = spd_node_set_output(pn, k, y_name);
    spd_free(y_name);
    SPD_TRY(st);
    spd_graph_remove_node(g, i);
    *removed = 1;
    return SPD_OK;
}

static spd_status remove_identities(spd_model *m, int *count)
{
    spd_graph *g = m->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        spd_node *n = &g->nodes[i];
        if (!n->op_type || !is_default_domain(n)) continue;
        int id = !strcmp(n->op_type, "Identity") ||
                 (!strcmp(n->op_type, "Dropout") && dropout_is_identity(m, n)) ||
                 (!strcmp(n->op_type, "Pad") && pad_is_identity(m, n));
        if (!id) continue;
        int removed;
        SPD_TRY(bypass(g, i, &removed));
        *count += removed;
    }
    spd_graph_compact(g);
    return SPD_OK;
}

/* ------------------------------------------------------------ liveness */

typedef struct live_ctx {
    spd_strmap live;     /* names read by live nodes or graph outputs */
    const char **stack;
    int n, cap;
} live_ctx;

static spd_status mark(live_ctx *c, const char *name)
{
    if (!name[0] || spd_strmap_get(&c->live, name) >= 0) return SPD_OK;
    SPD_TRY(spd_strmap_put(&c->live, name, 1));
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        const char **s = spd_realloc(c->stack, (size_t)cap * sizeof *s);
        if (!s) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        c->stack = s;
        c->cap = cap;
    }
    c->stack[c->n++] = name;
    return SPD_OK;
}

/* Every name a subgraph reads may be a capture of the outer graph. */
static spd_status mark_graph_reads(live_ctx *c, const spd_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) SPD_TRY(mark(c, n->inputs[k]));
        for (int a = 0; a < n->n_attrs; a++) {
            const spd_attr *at = &n->attrs[a];
            if (!at->graphs) continue;
            size_t ng = at->type == SPD_ATTR_GRAPHS ? at->n : 1;
            for (size_t s = 0; s < ng; s++)
                if (at->graphs[s]) SPD_TRY(mark_graph_reads(c, at->graphs[s]));
        }
    }
    for (int o = 0; o < g->n_outputs; o++) SPD_TRY(mark(c, g->outputs[o].name));
    return SPD_OK;
}

static spd_status mark_node(live_ctx *c, const spd_node *n)
{
    for (int k = 0; k < n->n_inputs; k++) SPD_TRY(mark(c, n->inputs[k]));
    for (int a = 0; a < n->n_attrs; a++) {
        const spd_attr *at = &n->attrs[a];
        if (!at->graphs) continue;
        size_t ng = at->type == SPD_ATTR_GRAPHS ? at->n : 1;
        for (size_t s = 0; s < ng; s++)
            if (at->graphs[s]) SPD_TRY(mark_graph_reads(c, at->graphs[s]));
    }
    return SPD_OK;
}

static spd_status remove_unreachable(spd_graph *g, int *dead_nodes, int *dead_inits)
{
    live_ctx c;
    memset(&c, 0, sizeof c);
    spd_strmap prod;
    memset(&prod, 0, sizeof prod);
    spd_status st = spd_strmap_init(&c.live, (size_t)g->n_nodes * 2 + 16);
    if (st == SPD_OK) st = spd_strmap_init(&prod, (size_t)g->n_nodes * 2 + 16);
    char *live_node = spd_calloc((size_t)g->n_nodes + 1, 1);
    if (!live_node && st == SPD_OK) st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes && st == SPD_OK; i++)
        for (int k = 0; k < g->nodes[i].n_outputs && st == SPD_OK; k++)
            if (g->nodes[i].outputs[k][0]) st = spd_strmap_put(&prod, g->nodes[i].outputs[k], i);
    for (int o = 0; o < g->n_outputs && st == SPD_OK; o++) st = mark(&c, g->outputs[o].name);
    while (st == SPD_OK && c.n > 0) {
        int p = spd_strmap_get(&prod, c.stack[--c.n]);
        if (p < 0 || live_node[p]) continue;
        live_node[p] = 1;
        st = mark_node(&c, &g->nodes[p]);
    }
    if (st == SPD_OK) {
        for (int i = 0; i < g->n_nodes; i++)
            if (!live_node[i]) {
                spd_graph_remove_node(g, i);
                (*dead_nodes)++;
            }
        spd_graph_compact(g);
        /* initializers that are also graph inputs stay: they are inputs */
        for (int i = g->n_initializers - 1; i >= 0; i--) {
            const char *nm = g->initializers[i].name;
            if (spd_strmap_get(&c.live, nm) >= 0 || spd_graph_input_index(g, nm) >= 0) continue;
            spd_graph_remove_initializer(g, i);
            (*dead_inits)++;
        }
    }
    spd_free(live_node);
    spd_free(c.stack);
    spd_strmap_free(&c.live);
    spd_strmap_free(&prod);
    return st;
}

/* value_infos describing values no node, input or initializer defines. */
static void prune_value_infos(spd_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n_value_infos; i++) {
        const char *nm = g->value_infos[i].name;
        int exists = nm && (spd_graph_producer(g, nm) >= 0 || spd_graph_find_initializer(g, nm) >= 0 ||
                            spd_graph_input_index(g, nm) >= 0);
        if (exists) g->value_infos[k++] = g->value_infos[i];
        else spd_value_info_clear(&g->value_infos[i]);
    }
    g->n_value_infos = k;
}

spd_status spd_pass_remove_dead_ex(spd_model *m, spd_pass_report *rep)
{
    if (!m->graph) return SPD_OK;
    int ids = 0, dead = 0, inits = 0;
    SPD_TRY(remove_identities(m, &ids));
    /* the live names map borrows node strings: nothing is renamed after */
    SPD_TRY(remove_unreachable(m->graph, &dead, &inits));
    prune_value_infos(m->graph);
    if (rep) {
        rep->removed_identity += ids;
        rep->removed_dead += dead;
        rep->removed_initializers += inits;
    }
    return SPD_OK;
}

spd_status spd_pass_remove_dead(spd_model *m)
{
    return spd_pass_remove_dead_ex(m, NULL);
}
