/* Graph editing helpers shared by the passes: deep copies, node and
 * initializer edits, and queries over value names. */
#include <stdio.h>
#include <string.h>

#include "passes/passes.h"
#include "util/alloc.h"
#include "util/status.h"
#include "util/strmap.h"

#define NOMEM() spd_errorf(SPD_ERR_NOMEM, "out of memory")

/* ------------------------------------------------------------------ clone */

static spd_status dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src) return SPD_OK;
    *dst = spd_strdup(src);
    return *dst ? SPD_OK : NOMEM();
}

/* Tensors without a storable element type (strings as decoded) have no data
 * to copy: keep their header only. */
static spd_status tensor_dup(spd_tensor *dst, const spd_tensor *src)
{
    if (spd_dtype_size(src->dtype) == 0 || !src->data) {
        *dst = *src;
        dst->data = NULL;
        dst->owner = 0;
        return SPD_OK;
    }
    return spd_tensor_copy(dst, src);
}

static spd_status value_info_copy(spd_value_info *dst, const spd_value_info *src)
{
    memset(dst, 0, sizeof *dst);
    dst->dtype = src->dtype;
    dst->ndim = src->ndim;
    SPD_TRY(dup_str(&dst->name, src->name));
    SPD_TRY(dup_str(&dst->doc, src->doc));
    for (int i = 0; i < SPD_MAX_DIMS; i++) {
        dst->dims[i].value = src->dims[i].value;
        SPD_TRY(dup_str(&dst->dims[i].param, src->dims[i].param));
    }
    return SPD_OK;
}

spd_status spd_attr_copy(spd_attr *dst, const spd_attr *src)
{
    memset(dst, 0, sizeof *dst);
    dst->type = src->type;
    dst->f = src->f;
    dst->i = src->i;
    dst->n = src->n;
    dst->s_len = src->s_len;
    SPD_TRY(dup_str(&dst->name, src->name));
    SPD_TRY(dup_str(&dst->ref_attr_name, src->ref_attr_name));
    if (src->s) {
        dst->s = spd_malloc(src->s_len + 1);
        if (!dst->s) return NOMEM();
        memcpy(dst->s, src->s, src->s_len);
        dst->s[src->s_len] = 0;
    }
    if (src->floats && src->n) {
        dst->floats = spd_malloc(src->n * sizeof(float));
        if (!dst->floats) return NOMEM();
        memcpy(dst->floats, src->floats, src->n * sizeof(float));
    }
    if (src->ints && src->n) {
        dst->ints = spd_malloc(src->n * sizeof(int64_t));
        if (!dst->ints) return NOMEM();
        memcpy(dst->ints, src->ints, src->n * sizeof(int64_t));
    }
    if (src->strings && src->n) {
        dst->strings = spd_calloc(src->n, sizeof(char *));
        if (!dst->strings) return NOMEM();
        for (size_t i = 0; i < src->n; i++) SPD_TRY(dup_str(&dst->strings[i], src->strings[i]));
    }
    if (src->t) {
        size_t nt = src->type == SPD_ATTR_TENSORS ? src->n : 1;
        dst->t = spd_calloc(nt ? nt : 1, sizeof(spd_tensor));
        if (!dst->t) return NOMEM();
        for (size_t i = 0; i < nt; i++) SPD_TRY(tensor_dup(&dst->t[i], &src->t[i]));
    }
    if (src->graphs) {
        size_t ng = src->type == SPD_ATTR_GRAPHS ? src->n : 1;
        dst->graphs = spd_calloc(ng ? ng : 1, sizeof(spd_graph *));
        if (!dst->graphs) return NOMEM();
        for (size_t i = 0; i < ng; i++)
            if (src->graphs[i]) SPD_TRY(spd_graph_clone(src->graphs[i], &dst->graphs[i]));
    }
    return SPD_OK;
}

static spd_status node_copy(spd_node *dst, const spd_node *src)
{
    memset(dst, 0, sizeof *dst);
    SPD_TRY(dup_str(&dst->name, src->name));
    SPD_TRY(dup_str(&dst->op_type, src->op_type));
    SPD_TRY(dup_str(&dst->domain, src->domain));
    SPD_TRY(dup_str(&dst->doc, src->doc));
    if (src->n_inputs) {
        dst->inputs = spd_calloc((size_t)src->n_inputs, sizeof(char *));
        if (!dst->inputs) return NOMEM();
        dst->n_inputs = src->n_inputs;
        for (int i = 0; i < src->n_inputs; i++) SPD_TRY(dup_str(&dst->inputs[i], src->inputs[i]));
    }
    if (src->n_outputs) {
        dst->outputs = spd_calloc((size_t)src->n_outputs, sizeof(char *));
        if (!dst->outputs) return NOMEM();
        dst->n_outputs = src->n_outputs;
        for (int i = 0; i < src->n_outputs; i++) SPD_TRY(dup_str(&dst->outputs[i], src->outputs[i]));
    }
    if (src->n_attrs) {
        dst->attrs = spd_calloc((size_t)src->n_attrs, sizeof(spd_attr));
        if (!dst->attrs) return NOMEM();
        dst->n_attrs = src->n_attrs;
        for (int i = 0; i < src->n_attrs; i++) SPD_TRY(spd_attr_copy(&dst->attrs[i], &src->attrs[i]));
    }
    return SPD_OK;
}

static spd_status clone_graph_into(spd_graph *d, const spd_graph *g)
{
    SPD_TRY(dup_str(&d->name, g->name));
    SPD_TRY(dup_str(&d->doc, g->doc));
    if (g->n_nodes) {
        d->nodes = spd_calloc((size_t)g->n_nodes, sizeof(spd_node));
        if (!d->nodes) return NOMEM();
        d->n_nodes = g->n_nodes;
        for (int i = 0; i < g->n_nodes; i++) SPD_TRY(node_copy(&d->nodes[i], &g->nodes[i]));
    }
    if (g->n_initializers) {
        d->initializers = spd_calloc((size_t)g->n_initializers, sizeof(spd_initializer));
        if (!d->initializers) return NOMEM();
        d->n_initializers = g->n_initializers;
        for (int i = 0; i < g->n_initializers; i++) {
            SPD_TRY(dup_str(&d->initializers[i].name, g->initializers[i].name));
            SPD_TRY(tensor_dup(&d->initializers[i].tensor, &g->initializers[i].tensor));
        }
    }
    struct { int n; const spd_value_info *src; int *dn; spd_value_info **dst; } lists[3] = {
        {g->n_inputs, g->inputs, &d->n_inputs, &d->inputs},
        {g->n_outputs, g->outputs, &d->n_outputs, &d->outputs},
        {g->n_value_infos, g->value_infos, &d->n_value_infos, &d->value_infos},
    };
    for (int l = 0; l < 3; l++) {
        if (!lists[l].n) continue;
        *lists[l].dst = spd_calloc((size_t)lists[l].n, sizeof(spd_value_info));
        if (!*lists[l].dst) return NOMEM();
        *lists[l].dn = lists[l].n;
        for (int i = 0; i < lists[l].n; i++) SPD_TRY(value_info_copy(&(*lists[l].dst)[i], &lists[l].src[i]));
    }
    return SPD_OK;
}

spd_status spd_graph_clone(const spd_graph *g, spd_graph **out)
{
    *out = NULL;
    spd_graph *d = spd_calloc(1, sizeof *d);
    if (!d) return NOMEM();
    spd_status st = clone_graph_into(d, g);
    if (st != SPD_OK) {
        spd_graph_free(d);
        return st;
    }
    *out = d;
    return SPD_OK;
}

/* Frees what a partial clone holds (mirrors spd_onnx_model_free, which
 * lives in src/io and would also do). */
static void model_clone_free(spd_model *m)
{
    spd_graph_free(m->graph);
    spd_free(m->path);
    spd_free(m->producer_name);
    spd_free(m->producer_version);
    spd_free(m->domain);
    spd_free(m->doc);
    for (int i = 0; i < m->n_opsets; i++) spd_free(m->opsets[i].domain);
    spd_free(m->opsets);
    for (int i = 0; i < m->n_metadata; i++) {
        spd_free(m->metadata[i].key);
        spd_free(m->metadata[i].value);
    }
    spd_free(m->metadata);
    spd_free(m);
}

static spd_status model_clone_into(spd_model *d, const spd_model *m)
{
    d->ir_version = m->ir_version;
    d->model_version = m->model_version;
    SPD_TRY(dup_str(&d->path, m->path));
    SPD_TRY(dup_str(&d->producer_name, m->producer_name));
    SPD_TRY(dup_str(&d->producer_version, m->producer_version));
    SPD_TRY(dup_str(&d->domain, m->domain));
    SPD_TRY(dup_str(&d->doc, m->doc));
    if (m->n_opsets) {
        d->opsets = spd_calloc((size_t)m->n_opsets, sizeof(spd_opset));
        if (!d->opsets) return NOMEM();
        d->n_opsets = m->n_opsets;
        for (int i = 0; i < m->n_opsets; i++) {
            d->opsets[i].version = m->opsets[i].version;
            SPD_TRY(dup_str(&d->opsets[i].domain, m->opsets[i].domain));
        }
    }
    if (m->n_metadata) {
        d->metadata = spd_calloc((size_t)m->n_metadata, sizeof(spd_kv));
        if (!d->metadata) return NOMEM();
        d->n_metadata = m->n_metadata;
        for (int i = 0; i < m->n_metadata; i++) {
            SPD_TRY(dup_str(&d->metadata[i].key, m->metadata[i].key));
            SPD_TRY(dup_str(&d->metadata[i].value, m->metadata[i].value));
        }
    }
    if (m->graph) SPD_TRY(spd_graph_clone(m->graph, &d->graph));
    return SPD_OK;
}

spd_status spd_model_clone(const spd_model *m, spd_model **out)
{
    *out = NULL;
    spd_model *d = spd_calloc(1, sizeof *d);
    if (!d) return NOMEM();
    spd_status st = model_clone_into(d, m);
    if (st != SPD_OK) {
        model_clone_free(d);
        return st;
    }
    *out = d;
    return SPD_OK;
}

/* ------------------------------------------------------------------ nodes */

static char **str_array(int n, const char *const *src)
{
    char **a = spd_calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (!a) return NULL;
    for (int i = 0; i < n; i++) {
        a[i] = spd_strdup(src && src[i] ? src[i] : "");
        if (!a[i]) {
            for (int k = 0; k < i; k++) spd_free(a[k]);
            spd_free(a);
            return NULL;
        }
    }
    return a;
}

spd_status spd_graph_add_node(spd_graph *g, const char *op_type, const char *domain, const char *name,
                              int n_in, const char *const *inputs, int n_out, const char *const *outputs,
                              int *idx)
{
    spd_node *nodes = spd_realloc(g->nodes, (size_t)(g->n_nodes + 1) * sizeof *nodes);
    if (!nodes) return NOMEM();
    g->nodes = nodes;
    spd_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op_type = spd_strdup(op_type);
    n->domain = spd_strdup(domain ? domain : "");
    n->name = spd_strdup(name ? name : "");
    n->inputs = str_array(n_in, inputs);
    n->outputs = str_array(n_out, outputs);
    if (!n->op_type || !n->domain || !n->name || !n->inputs || !n->outputs) {
        /* counts stay 0 so the clear below only frees what exists */
        if (n->inputs) for (int i = 0; i < n_in; i++) spd_free(n->inputs[i]);
        if (n->outputs) for (int i = 0; i < n_out; i++) spd_free(n->outputs[i]);
        spd_node_clear(n);
        return NOMEM();
    }
    n->n_inputs = n_in;
    n->n_outputs = n_out;
    if (idx) *idx = g->n_nodes;
    g->n_nodes++;
    return SPD_OK;
}

spd_status spd_graph_replace_node(spd_graph *g, int i, const char *op_type, const char *domain, int n_in,
                                  const char *const *inputs, int n_out, const char *const *outputs)
{
    if (i < 0 || i >= g->n_nodes) return spd_errorf(SPD_ERR_INTERNAL, "node index %d", i);
    int k;
    SPD_TRY(spd_graph_add_node(g, op_type, domain, g->nodes[i].name, n_in, inputs, n_out, outputs, &k));
    spd_node_clear(&g->nodes[i]);
    g->nodes[i] = g->nodes[k];
    memset(&g->nodes[k], 0, sizeof g->nodes[k]);
    g->n_nodes--;
    return SPD_OK;
}

void spd_graph_remove_node(spd_graph *g, int i)
{
    if (i >= 0 && i < g->n_nodes) spd_node_clear(&g->nodes[i]);
}

void spd_graph_compact(spd_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op_type) g->nodes[k++] = g->nodes[i];
    g->n_nodes = k;
    if (k == 0) {
        spd_free(g->nodes);
        g->nodes = NULL;
    }
}

/* Names a node reads, its subgraphs' captures included (conservatively:
 * every name any subgraph node reads). */
typedef spd_status (*name_fn)(void *user, const char *name);

static spd_status each_subgraph_read(const spd_graph *g, name_fn fn, void *user)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        if (!n->op_type) continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k][0]) SPD_TRY(fn(user, n->inputs[k]));
        for (int a = 0; a < n->n_attrs; a++) {
            const spd_attr *at = &n->attrs[a];
            if (!at->graphs) continue;
            size_t ng = at->type == SPD_ATTR_GRAPHS ? at->n : 1;
            for (size_t s = 0; s < ng; s++)
                if (at->graphs[s]) SPD_TRY(each_subgraph_read(at->graphs[s], fn, user));
        }
    }
    for (int o = 0; o < g->n_outputs; o++) SPD_TRY(fn(user, g->outputs[o].name));
    return SPD_OK;
}

static spd_status node_reads(const spd_node *n, name_fn fn, void *user)
{
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k][0]) SPD_TRY(fn(user, n->inputs[k]));
    for (int a = 0; a < n->n_attrs; a++) {
        const spd_attr *at = &n->attrs[a];
        if (!at->graphs) continue;
        size_t ng = at->type == SPD_ATTR_GRAPHS ? at->n : 1;
        for (size_t s = 0; s < ng; s++)
            if (at->graphs[s]) SPD_TRY(each_subgraph_read(at->graphs[s], fn, user));
    }
    return SPD_OK;
}

typedef struct reads_name {
    const char *name;
    int found;
} reads_name;

static spd_status match_name(void *user, const char *name)
{
    reads_name *r = user;
    if (!strcmp(r->name, name)) r->found = 1;
    return SPD_OK;
}

static int node_reads_name(const spd_node *n, const char *name)
{
    reads_name r = {name, 0};
    node_reads(n, match_name, &r);
    return r.found;
}

/* ---------------------------------------------------------- toposort */

typedef struct topo_ctx {
    const spd_strmap *producers;
    int *deps;
    int n_deps, cap;
} topo_ctx;

static spd_status collect_dep(void *user, const char *name)
{
    topo_ctx *t = user;
    int p = spd_strmap_get(t->producers, name);
    if (p < 0) return SPD_OK;
    if (t->n_deps == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        int *d = spd_realloc(t->deps, (size_t)cap * sizeof *d);
        if (!d) return NOMEM();
        t->deps = d;
        t->cap = cap;
    }
    t->deps[t->n_deps++] = p;
    return SPD_OK;
}

/* Depth-first, visiting nodes in their current order and each node's
 * producers before it: a graph already in order comes out unchanged. */
spd_status spd_graph_toposort(spd_graph *g)
{
    int n = g->n_nodes;
    if (n < 2) return SPD_OK;
    spd_strmap prod;
    SPD_TRY(spd_strmap_init(&prod, (size_t)n * 2));
    spd_status st = SPD_OK;
    spd_node *sorted = spd_malloc((size_t)n * sizeof *sorted);
    char *state = spd_calloc((size_t)n, 1); /* 0 new, 1 on the stack, 2 placed */
    int *start = spd_calloc((size_t)n + 1, sizeof *start);
    int *stack = spd_malloc((size_t)n * sizeof *stack);
    int *next = spd_calloc((size_t)n, sizeof *next);
    topo_ctx t = {&prod, NULL, 0, 0};
    if (!sorted || !state || !start || !stack || !next) { st = NOMEM(); goto done; }
    for (int i = 0; i < n && st == SPD_OK; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++)
            if (g->nodes[i].outputs[o][0] && (st = spd_strmap_put(&prod, g->nodes[i].outputs[o], i)) != SPD_OK) break;
    for (int i = 0; i < n && st == SPD_OK; i++) {
        start[i] = t.n_deps;
        st = node_reads(&g->nodes[i], collect_dep, &t);
    }
    if (st != SPD_OK) goto done;
    start[n] = t.n_deps;
    int placed = 0;
    for (int r = 0; r < n; r++) {
        if (state[r]) continue;
        int sp = 0;
        stack[sp++] = r;
        state[r] = 1;
        next[r] = start[r];
        while (sp) {
            int v = stack[sp - 1];
            if (next[v] < start[v + 1]) {
                int d = t.deps[next[v]++];
                if (state[d] == 0) {          /* a cycle (state 1) is left to the program builder */
                    state[d] = 1;
                    next[d] = start[d];
                    stack[sp++] = d;
                }
                continue;
            }
            state[v] = 2;
            sorted[placed++] = g->nodes[v];
            sp--;
        }
    }
    memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
done:
    spd_strmap_free(&prod);
    spd_free(sorted);
    spd_free(state);
    spd_free(start);
    spd_free(stack);
    spd_free(next);
    spd_free(t.deps);
    return st;
}

/* ------------------------------------------------------------ attributes */

static spd_status attr_slot(spd_node *n, const char *name, spd_attr **out)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) {
            spd_attr_clear(&n->attrs[i]);
            n->attrs[i].name = spd_strdup(name);
            if (!n->attrs[i].name) return NOMEM();
            *out = &n->attrs[i];
            return SPD_OK;
        }
    spd_attr *a = spd_realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof *a);
    if (!a) return NOMEM();
    n->attrs = a;
    spd_attr *s = &n->attrs[n->n_attrs];
    memset(s, 0, sizeof *s);
    s->name = spd_strdup(name);
    if (!s->name) return NOMEM();
    n->n_attrs++;
    *out = s;
    return SPD_OK;
}

spd_status spd_node_set_int(spd_node *n, const char *name, int64_t v)
{
    spd_attr *a;
    SPD_TRY(attr_slot(n, name, &a));
    a->type = SPD_ATTR_INT;
    a->i = v;
    return SPD_OK;
}

spd_status spd_node_set_float(spd_node *n, const char *name, float v)
{
    spd_attr *a;
    SPD_TRY(attr_slot(n, name, &a));
    a->type = SPD_ATTR_FLOAT;
    a->f = v;
    return SPD_OK;
}

spd_status spd_node_set_string(spd_node *n, const char *name, const char *v)
{
    spd_attr *a;
    SPD_TRY(attr_slot(n, name, &a));
    a->type = SPD_ATTR_STRING;
    a->s = spd_strdup(v);
    if (!a->s) return NOMEM();
    a->s_len = strlen(v);
    return SPD_OK;
}

spd_status spd_node_set_floats(spd_node *n, const char *name, const float *v, size_t count)
{
    spd_attr *a;
    SPD_TRY(attr_slot(n, name, &a));
    a->type = SPD_ATTR_FLOATS;
    a->floats = spd_malloc((count ? count : 1) * sizeof(float));
    if (!a->floats) return NOMEM();
    if (count) memcpy(a->floats, v, count * sizeof(float));
    a->n = count;
    return SPD_OK;
}

spd_status spd_node_set_ints(spd_node *n, const char *name, const int64_t *v, size_t count)
{
    spd_attr *a;
    SPD_TRY(attr_slot(n, name, &a));
    a->type = SPD_ATTR_INTS;
    a->ints = spd_malloc((count ? count : 1) * sizeof(int64_t));
    if (!a->ints) return NOMEM();
    if (count) memcpy(a->ints, v, count * sizeof(int64_t));
    a->n = count;
    return SPD_OK;
}

spd_status spd_node_copy_attrs(spd_node *dst, const spd_node *src) { return spd_node_copy_attrs_prefixed(dst, src, ""); }

spd_status spd_node_copy_attrs_prefixed(spd_node *dst, const spd_node *src, const char *prefix)
{
    for (int i = 0; i < src->n_attrs; i++) {
        spd_attr *a;
        const char *base = src->attrs[i].name ? src->attrs[i].name : "";
        char *full = spd_malloc(strlen(prefix) + strlen(base) + 1);
        if (!full) return NOMEM();
        strcpy(full, prefix);
        strcat(full, base);
        const spd_status slot = attr_slot(dst, full, &a);
        spd_free(full);
        SPD_TRY(slot);
        char *name = a->name;
        a->name = NULL;
        spd_status st = spd_attr_copy(a, &src->attrs[i]);
        spd_free(a->name);
        a->name = name;
        if (st != SPD_OK) return st;
    }
    return SPD_OK;
}

static spd_status set_str(char **slot, const char *name)
{
    char *s = spd_strdup(name ? name : "");
    if (!s) return NOMEM();
    spd_free(*slot);
    *slot = s;
    return SPD_OK;
}

spd_status spd_node_set_input(spd_node *n, int k, const char *name)
{
    if (k < 0) return spd_errorf(SPD_ERR_INTERNAL, "input index %d", k);
    while (n->n_inputs <= k) SPD_TRY(spd_node_add_input(n, ""));
    return set_str(&n->inputs[k], name);
}

spd_status spd_node_set_output(spd_node *n, int k, const char *name)
{
    if (k < 0 || k >= n->n_outputs) return spd_errorf(SPD_ERR_INTERNAL, "output index %d", k);
    return set_str(&n->outputs[k], name);
}

spd_status spd_node_add_input(spd_node *n, const char *name)
{
    char *s = spd_strdup(name ? name : "");
    if (!s) return NOMEM();
    char **a = spd_realloc(n->inputs, (size_t)(n->n_inputs + 1) * sizeof *a);
    if (!a) {
        spd_free(s);
        return NOMEM();
    }
    n->inputs = a;
    n->inputs[n->n_inputs++] = s;
    return SPD_OK;
}

/* ----------------------------------------------------------- initializers */

spd_status spd_graph_add_initializer(spd_graph *g, const char *name, spd_tensor *t)
{
    spd_tensor own = *t;
    if (!t->owner && t->data) SPD_TRY(spd_tensor_copy(&own, t));
    char *nm = spd_strdup(name);
    spd_initializer *a = nm ? spd_realloc(g->initializers, (size_t)(g->n_initializers + 1) * sizeof *a) : NULL;
    if (!a) {
        spd_free(nm);
        if (own.data != t->data) spd_tensor_release(&own);
        return NOMEM();
    }
    g->initializers = a;
    g->initializers[g->n_initializers].name = nm;
    g->initializers[g->n_initializers].tensor = own;
    g->n_initializers++;
    memset(t, 0, sizeof *t);
    return SPD_OK;
}

int spd_graph_find_initializer(const spd_graph *g, const char *name)
{
    for (int i = 0; i < g->n_initializers; i++)
        if (!strcmp(g->initializers[i].name, name)) return i;
    return -1;
}

void spd_graph_remove_initializer(spd_graph *g, int i)
{
    if (i < 0 || i >= g->n_initializers) return;
    spd_free(g->initializers[i].name);
    spd_tensor_release(&g->initializers[i].tensor);
    memmove(&g->initializers[i], &g->initializers[i + 1],
            (size_t)(g->n_initializers - i - 1) * sizeof g->initializers[0]);
    g->n_initializers--;
}

int spd_graph_input_index(const spd_graph *g, const char *name)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (!strcmp(g->inputs[i].name, name)) return i;
    return -1;
}

int spd_graph_output_index(const spd_graph *g, const char *name)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (!strcmp(g->outputs[i].name, name)) return i;
    return -1;
}

const spd_tensor *spd_graph_constant(const spd_graph *g, const char *name)
{
    if (!name || !*name || spd_graph_input_index(g, name) >= 0) return NULL;
    int i = spd_graph_find_initializer(g, name);
    if (i < 0) return NULL;
    const spd_tensor *t = &g->initializers[i].tensor;
    return t->data || spd_tensor_numel(t) == 0 ? t : NULL;
}

/* ------------------------------------------------------------------ values */

int spd_graph_producer(const spd_graph *g, const char *name)
{
    if (!name || !*name) return -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        if (!n->op_type) continue;
        for (int k = 0; k < n->n_outputs; k++)
            if (!strcmp(n->outputs[k], name)) return i;
    }
    return -1;
}

int spd_graph_consumers(const spd_graph *g, const char *name, int *idx, int max)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!g->nodes[i].op_type || !node_reads_name(&g->nodes[i], name)) continue;
        if (idx && c < max) idx[c] = i;
        c++;
    }
    return c;
}

int spd_graph_use_count(const spd_graph *g, const char *name)
{
    return spd_graph_consumers(g, name, NULL, 0) + (spd_graph_output_index(g, name) >= 0);
}

/* Does a subgraph define `name` itself (so its reads of it are local)? */
static int graph_defines(const spd_graph *g, const char *name)
{
    if (spd_graph_input_index(g, name) >= 0 || spd_graph_find_initializer(g, name) >= 0) return 1;
    return spd_graph_producer(g, name) >= 0;
}

static spd_status rename_reads(spd_graph *g, const char *old_name, const char *new_name, int is_sub)
{
    if (is_sub && graph_defines(g, old_name)) return SPD_OK;
    for (int i = 0; i < g->n_nodes; i++) {
        spd_node *n = &g->nodes[i];
        if (!n->op_type) continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (!strcmp(n->inputs[k], old_name)) SPD_TRY(set_str(&n->inputs[k], new_name));
        for (int a = 0; a < n->n_attrs; a++) {
            spd_attr *at = &n->attrs[a];
            if (!at->graphs) continue;
            size_t ng = at->type == SPD_ATTR_GRAPHS ? at->n : 1;
            for (size_t s = 0; s < ng; s++)
                if (at->graphs[s]) SPD_TRY(rename_reads(at->graphs[s], old_name, new_name, 1));
        }
    }
    /* a subgraph output may be an outer value passed straight through */
    if (is_sub)
        for (int o = 0; o < g->n_outputs; o++)
            if (!strcmp(g->outputs[o].name, old_name)) SPD_TRY(set_str(&g->outputs[o].name, new_name));
    return SPD_OK;
}

spd_status spd_graph_replace_uses(spd_graph *g, const char *old_name, const char *new_name)
{
    return rename_reads(g, old_name, new_name, 0);
}

static spd_status name_is(void *user, const char *name)
{
    return strcmp(user, name) ? SPD_OK : SPD_ERR_INVALID;
}

static int name_used(const spd_graph *g, const char *name)
{
    if (spd_graph_input_index(g, name) >= 0 || spd_graph_output_index(g, name) >= 0 ||
        spd_graph_find_initializer(g, name) >= 0 || spd_graph_producer(g, name) >= 0)
        return 1;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op_type && node_reads(&g->nodes[i], name_is, (void *)name) != SPD_OK) return 1;
    for (int i = 0; i < g->n_value_infos; i++)
        if (!strcmp(g->value_infos[i].name, name)) return 1;
    return 0;
}

char *spd_graph_unique_name(const spd_graph *g, const char *base)
{
    size_t len = strlen(base) + 32;
    char *s = spd_malloc(len);
    if (!s) return NULL;
    for (unsigned k = 0;; k++) {
        snprintf(s, len, "%s_%u", base, k);
        if (!name_used(g, s)) return s;
    }
}

spd_status spd_model_require_opset(spd_model *m, const char *domain, int64_t version)
{
    for (int i = 0; i < m->n_opsets; i++)
        if (!strcmp(m->opsets[i].domain ? m->opsets[i].domain : "", domain)) return SPD_OK;
    spd_opset *o = spd_realloc(m->opsets, (size_t)(m->n_opsets + 1) * sizeof *o);
    if (!o) return NOMEM();
    m->opsets = o;
    m->opsets[m->n_opsets].domain = spd_strdup(domain);
    if (!m->opsets[m->n_opsets].domain) return NOMEM();
    m->opsets[m->n_opsets].version = version;
    m->n_opsets++;
    return SPD_OK;
}
