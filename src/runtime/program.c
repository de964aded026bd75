#include "runtime/program.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "runtime/memplan.h"
#include "util/alloc.h"
#include "util/status.h"

const char *spd_pnode_label(const spd_program *p, int i, char *buf, size_t n)
{
    const spd_node *nd = p->nodes[i].node;
    if (nd->name && *nd->name)
        snprintf(buf, n, "node '%s' (%s)", nd->name, nd->op_type);
    else if (nd->n_outputs > 0 && nd->outputs[0][0])
        snprintf(buf, n, "node producing '%s' (%s)", nd->outputs[0], nd->op_type);
    else
        snprintf(buf, n, "node #%d (%s)", (int)(nd - p->graph->nodes), nd->op_type);
    return buf;
}

static const char *node_label(const spd_node *nd, int idx, char *buf, size_t n)
{
    if (nd->name && *nd->name)
        snprintf(buf, n, "node '%s' (%s)", nd->name, nd->op_type);
    else
        snprintf(buf, n, "node #%d (%s)", idx, nd->op_type);
    return buf;
}

static spd_status add_value(spd_program *p, int *cap, const char *name, spd_value_kind kind,
                            const spd_tensor *init, int producer, int *id)
{
    *id = -1;
    if (p->n_values == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        spd_pvalue *nv = spd_realloc(p->values, (size_t)nc * sizeof *nv);
        if (!nv) return spd_errorf(SPD_ERR_NOMEM, "out of memory preparing the graph");
        p->values = nv;
        *cap = nc;
    }
    *id = p->n_values++;
    p->values[*id] = (spd_pvalue){name, kind, init, producer};
    return spd_strmap_put(&p->names, name, *id);
}

static int chain_has(const spd_program *p, const char *name)
{
    for (; p; p = p->parent)
        if (spd_strmap_get(&p->names, name) >= 0) return 1;
    return 0;
}

/* The id of `name` here, adding an OUTER value when an enclosing graph has
 * it; -1 when nobody defines it. */
static spd_status resolve(spd_program *p, int *cap, const char *name, int *id)
{
    *id = spd_strmap_get(&p->names, name);
    if (*id >= 0) return SPD_OK;
    if (!chain_has(p->parent, name)) return SPD_OK;
    SPD_TRY(add_value(p, cap, name, SPD_VAL_OUTER, NULL, -1, id));
    int *no = spd_realloc(p->outer, (size_t)(p->n_outer + 1) * sizeof *no);
    if (!no) return spd_errorf(SPD_ERR_NOMEM, "out of memory preparing the graph");
    p->outer = no;
    p->outer[p->n_outer++] = *id;
    return SPD_OK;
}

static spd_status declare_values(spd_program *p, int *cap)
{
    const spd_graph *g = p->graph;
    int id = -1;
    p->inputs = spd_calloc((size_t)g->n_inputs + 1, sizeof *p->inputs);
    if (!p->inputs) return spd_errorf(SPD_ERR_NOMEM, "out of memory preparing the graph");
    for (int i = 0; i < g->n_inputs; i++) {
        const char *nm = g->inputs[i].name;
        if (!nm || !*nm) return spd_errorf(SPD_ERR_INVALID, "graph input #%d has no name", i);
        if (spd_strmap_get(&p->names, nm) >= 0)
            return spd_errorf(SPD_ERR_INVALID, "graph input '%s' is declared twice", nm);
        SPD_TRY(add_value(p, cap, nm, SPD_VAL_INPUT, NULL, -1, &id));
        p->inputs[p->n_inputs++] = id;
    }
    for (int i = 0; i < g->n_initializers; i++) {
        const spd_initializer *in = &g->initializers[i];
        if (!in->name || !*in->name) return spd_errorf(SPD_ERR_INVALID, "initializer #%d has no name", i);
        id = spd_strmap_get(&p->names, in->name);
        if (id >= 0) {
            if (p->values[id].init)
                return spd_errorf(SPD_ERR_INVALID, "initializer '%s' is given twice", in->name);
            p->values[id].init = &in->tensor; /* a default for an input */
            continue;
        }
        SPD_TRY(add_value(p, cap, in->name, SPD_VAL_INIT, &in->tensor, -1, &id));
    }
    p->n_required = 0;
    for (int i = 0; i < p->n_inputs; i++)
        if (!p->values[p->inputs[i]].init) p->n_required++;

    char lab[256];
    for (int n = 0; n < g->n_nodes; n++) {
        const spd_node *nd = &g->nodes[n];
        for (int k = 0; k < nd->n_outputs; k++) {
            const char *nm = nd->outputs[k];
            if (!*nm) continue;
            int prev = spd_strmap_get(&p->names, nm);
            if (prev >= 0) {
                const spd_pvalue *v = &p->values[prev];
                char other[256];
                if (v->kind == SPD_VAL_NODE)
                    node_label(&g->nodes[v->producer], v->producer, other, sizeof other);
                else
                    snprintf(other, sizeof other, "%s", v->kind == SPD_VAL_INPUT ? "a graph input" : "an initializer");
                return spd_errorf(SPD_ERR_INVALID, "%s: output '%s' is also produced by %s",
                                  node_label(nd, n, lab, sizeof lab), nm, other);
            }
            SPD_TRY(add_value(p, cap, nm, SPD_VAL_NODE, NULL, n, &id));
        }
    }
    return SPD_OK;
}

static spd_status link_node(spd_program *p, int *cap, int n, spd_pnode *pn)
{
    const spd_node *nd = &p->graph->nodes[n];
    char lab[256];
    pn->node = nd;
    pn->n_in = nd->n_inputs;
    pn->n_out = nd->n_outputs;
    pn->in = spd_malloc(((size_t)nd->n_inputs + 1) * sizeof(int));
    pn->out = spd_malloc(((size_t)nd->n_outputs + 1) * sizeof(int));
    if (!pn->in || !pn->out) return spd_errorf(SPD_ERR_NOMEM, "out of memory preparing the graph");
    for (int k = 0; k < nd->n_inputs; k++) {
        pn->in[k] = -1;
        if (!*nd->inputs[k]) continue;
        SPD_TRY(resolve(p, cap, nd->inputs[k], &pn->in[k]));
        if (pn->in[k] < 0)
            return spd_errorf(SPD_ERR_INVALID, "%s: input '%s' is not produced by any node, initializer or graph input",
                              node_label(nd, n, lab, sizeof lab), nd->inputs[k]);
    }
    for (int k = 0; k < nd->n_outputs; k++)
        pn->out[k] = *nd->outputs[k] ? spd_strmap_get(&p->names, nd->outputs[k]) : -1;

    pn->opset = spd_model_opset(p->model, nd->domain);
    pn->def = spd_op_find(nd->domain, nd->op_type, pn->opset);
    if (!pn->def) return spd_error_prefix(SPD_ERR_UNSUPPORTED, "%s", node_label(nd, n, lab, sizeof lab));
    pn->run = pn->def->run;
    pn->placed_on = "native";

    /* Subgraphs: prepare them now, and count what they capture from here as
     * inputs of this node so those values stay alive until it runs. */
    for (int a = 0; a < nd->n_attrs; a++) {
        const spd_attr *at = &nd->attrs[a];
        if (at->type != SPD_ATTR_GRAPH && at->type != SPD_ATTR_GRAPHS) continue;
        size_t ng = at->type == SPD_ATTR_GRAPH ? 1 : at->n;
        for (size_t gi = 0; gi < ng; gi++) {
            if (!at->graphs || !at->graphs[gi]) continue;
            spd_subprogram *ns = spd_realloc(p->subs, (size_t)(p->n_subs + 1) * sizeof *ns);
            if (!ns) return spd_errorf(SPD_ERR_NOMEM, "out of memory preparing the graph");
            p->subs = ns;
            spd_subprogram *s = &p->subs[p->n_subs];
            s->graph = at->graphs[gi];
            s->prog = NULL;
            spd_status st = spd_program_build(p->model, s->graph, p, &s->prog);
            if (st != SPD_OK)
                return spd_error_prefix(st, "%s: subgraph '%s'", node_label(nd, n, lab, sizeof lab), at->name);
            p->n_subs++;
            for (int o = 0; o < s->prog->n_outer; o++) {
                const char *nm = s->prog->values[s->prog->outer[o]].name;
                int id = -1;
                SPD_TRY(resolve(p, cap, nm, &id));
                int *nc = spd_realloc(pn->captures, (size_t)(pn->n_captures + 1) * sizeof *nc);
                if (!nc) return spd_errorf(SPD_ERR_NOMEM, "out of memory preparing the graph");
                pn->captures = nc;
                pn->captures[pn->n_captures++] = id;
            }
        }
    }
    return SPD_OK;
}

/* Kahn's algorithm over producer edges; a leftover node means a cycle. */
static spd_status topo_sort(spd_program *p, spd_pnode *linked)
{
    int n = p->graph->n_nodes;
    int *indeg = spd_calloc((size_t)n + 1, sizeof *indeg);
    int *start = spd_calloc((size_t)n + 2, sizeof *start);
    int *order = spd_malloc(((size_t)n + 1) * sizeof *order);
    int *edges = NULL;
    spd_status st = SPD_OK;
    if (!indeg || !start || !order) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }

    /* Count edges producer -> consumer (CSR by producer). */
    for (int pass = 0; pass < 2; pass++) {
        for (int c = 0; c < n; c++) {
            const spd_pnode *pn = &linked[c];
            int total = pn->n_in + pn->n_captures;
            for (int k = 0; k < total; k++) {
                int v = k < pn->n_in ? pn->in[k] : pn->captures[k - pn->n_in];
                if (v < 0 || p->values[v].kind != SPD_VAL_NODE) continue;
                int prod = p->values[v].producer;
                if (pass == 0) { start[prod + 1]++; indeg[c]++; }
                else edges[start[prod]++] = c;
            }
        }
        if (pass == 0) {
            for (int i = 0; i < n; i++) start[i + 1] += start[i];
            edges = spd_malloc(((size_t)start[n] + 1) * sizeof *edges);
            if (!edges) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
        }
    }
    /* start[i] now points one past producer i's edges: shift back. */
    for (int i = n; i > 0; i--) start[i] = start[i - 1];
    start[0] = 0;

    int head = 0, tail = 0;
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0) order[tail++] = i;
    while (head < tail) {
        int u = order[head++];
        for (int e = start[u]; e < start[u + 1]; e++)
            if (--indeg[edges[e]] == 0) order[tail++] = edges[e];
    }
    if (tail < n) {
        for (int i = 0; i < n; i++)
            if (indeg[i] > 0) {
                char lab[256];
                st = spd_errorf(SPD_ERR_INVALID, "the graph has a cycle through %s",
                                node_label(linked[i].node, i, lab, sizeof lab));
                break;
            }
        goto done;
    }
    for (int i = 0; i < n; i++) p->nodes[i] = linked[order[i]];
    for (int i = 0; i < n; i++)
        for (int k = 0; k < p->nodes[i].n_out; k++)
            if (p->nodes[i].out[k] >= 0) p->values[p->nodes[i].out[k]].producer = i;
done:
    spd_free(indeg);
    spd_free(start);
    spd_free(order);
    spd_free(edges);
    return st;
}

static spd_status plan_frees(spd_program *p)
{
    int *last = spd_malloc(((size_t)p->n_values + 1) * sizeof *last);
    if (!last) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int v = 0; v < p->n_values; v++)
        last[v] = p->values[v].kind == SPD_VAL_NODE ? p->values[v].producer : -1;
    for (int i = 0; i < p->n_nodes; i++) {
        const spd_pnode *pn = &p->nodes[i];
        for (int k = 0; k < pn->n_in + pn->n_captures; k++) {
            int v = k < pn->n_in ? pn->in[k] : pn->captures[k - pn->n_in];
            if (v >= 0) last[v] = i;
        }
    }
    for (int o = 0; o < p->n_outputs; o++) last[p->outputs[o]] = INT_MAX;
    for (int pass = 0; pass < 2; pass++) {
        for (int v = 0; v < p->n_values; v++) {
            if (p->values[v].kind != SPD_VAL_NODE || last[v] == INT_MAX) continue;
            spd_pnode *pn = &p->nodes[last[v]];
            if (pass == 0) pn->n_frees++;
            else pn->frees[pn->n_frees++] = v;
        }
        if (pass == 0)
            for (int i = 0; i < p->n_nodes; i++) {
                p->nodes[i].frees = spd_malloc(((size_t)p->nodes[i].n_frees + 1) * sizeof(int));
                if (!p->nodes[i].frees) { spd_free(last); return spd_errorf(SPD_ERR_NOMEM, "out of memory"); }
                p->nodes[i].n_frees = 0;
            }
    }
    spd_free(last);
    return SPD_OK;
}

/* Lets kernels with a prepare hook transform their constant inputs once
 * (packed weights, say). Only initializer-only values count as constants: a
 * graph input's default may be overridden at run time. */
static spd_status prepare_nodes(spd_program *p)
{
    const spd_tensor *small[16];
    char lab[256];
    for (int i = 0; i < p->n_nodes; i++) {
        spd_pnode *pn = &p->nodes[i];
        if (!pn->def || !pn->def->prepare || pn->state) continue;
        const spd_tensor **consts = pn->n_in <= 16 ? small : spd_malloc((size_t)pn->n_in * sizeof *consts);
        if (!consts) return spd_errorf(SPD_ERR_NOMEM, "out of memory preparing the graph");
        int any = 0;
        for (int k = 0; k < pn->n_in; k++) {
            const int v = pn->in[k];
            consts[k] = v >= 0 && p->values[v].kind == SPD_VAL_INIT ? p->values[v].init : NULL;
            any |= consts[k] != NULL;
        }
        spd_status st = SPD_OK;
        if (any) st = pn->def->prepare(pn->node, pn->opset, pn->n_in, consts, &pn->state, &pn->state_free);
        if (consts != small) spd_free(consts);
        if (st != SPD_OK) return spd_error_prefix(st, "%s", spd_pnode_label(p, i, lab, sizeof lab));
    }
    return SPD_OK;
}

spd_status spd_program_build(const spd_model *m, const spd_graph *g, const spd_program *parent,
                             spd_program **out)
{
    *out = NULL;
    spd_program *p = spd_calloc(1, sizeof *p);
    spd_pnode *linked = NULL;
    if (!p) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    p->model = m;
    p->graph = g;
    p->parent = parent;
    int cap = 0;
    spd_status st = spd_strmap_init(&p->names, (size_t)(g->n_inputs + g->n_initializers + 2 * g->n_nodes));
    if (st != SPD_OK) goto fail;
    if ((st = declare_values(p, &cap)) != SPD_OK) goto fail;

    linked = spd_calloc((size_t)g->n_nodes + 1, sizeof *linked);
    p->nodes = spd_calloc((size_t)g->n_nodes + 1, sizeof *p->nodes);
    if (!linked || !p->nodes) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto fail; }
    for (int n = 0; n < g->n_nodes; n++) {
        p->n_nodes = n + 1; /* so a failure frees what was linked */
        memset(&p->nodes[n], 0, sizeof p->nodes[n]);
        st = link_node(p, &cap, n, &linked[n]);
        p->nodes[n] = linked[n];
        if (st != SPD_OK) goto fail;
    }
    p->n_nodes = g->n_nodes;

    p->outputs = spd_malloc(((size_t)g->n_outputs + 1) * sizeof *p->outputs);
    if (!p->outputs) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto fail; }
    for (int o = 0; o < g->n_outputs; o++) {
        int id = -1;
        if ((st = resolve(p, &cap, g->outputs[o].name, &id)) != SPD_OK) goto fail;
        if (id < 0) {
            st = spd_errorf(SPD_ERR_INVALID, "graph output '%s' is not produced by any node, initializer or input",
                            g->outputs[o].name);
            goto fail;
        }
        p->outputs[p->n_outputs++] = id;
    }
    if ((st = topo_sort(p, linked)) != SPD_OK) goto fail;
    if ((st = plan_frees(p)) != SPD_OK) goto fail;
    if ((st = prepare_nodes(p)) != SPD_OK) goto fail;
    if (!parent && !(p->mem = spd_memplan_new(p))) {
        st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    spd_free(linked);
    *out = p;
    return SPD_OK;
fail:
    spd_free(linked);
    spd_program_free(p);
    return st;
}

void spd_program_free(spd_program *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_nodes; i++) {
        spd_free(p->nodes[i].in);
        spd_free(p->nodes[i].out);
        spd_free(p->nodes[i].captures);
        spd_free(p->nodes[i].frees);
        if (p->nodes[i].state_free) p->nodes[i].state_free(p->nodes[i].state);
    }
    spd_free(p->nodes);
    spd_memplan_free(p->mem);
    for (int i = 0; i < p->n_subs; i++) spd_program_free(p->subs[i].prog);
    spd_free(p->subs);
    spd_free(p->values);
    spd_free(p->inputs);
    spd_free(p->outputs);
    spd_free(p->outer);
    spd_strmap_free(&p->names);
    spd_free(p);
}

const spd_program *spd_program_sub(const spd_program *p, const spd_graph *g)
{
    for (int i = 0; i < p->n_subs; i++)
        if (p->subs[i].graph == g) return p->subs[i].prog;
    return NULL;
}

void spd_program_placement(const spd_program *p, char *buf, size_t n)
{
    const char *other = NULL;
    int n_other = 0;
    for (int i = 0; i < p->n_nodes; i++)
        if (strcmp(p->nodes[i].placed_on, "native")) {
            other = p->nodes[i].placed_on;
            n_other++;
        }
    size_t k = 0;
    if (!other) {
        snprintf(buf, n, "native runs all %d nodes", p->n_nodes);
        return;
    }
    k += (size_t)snprintf(buf, n, "%s %d of %d nodes; native %d", other, n_other, p->n_nodes, p->n_nodes - n_other);
    /* The operators left on native, most frequent first (at most 6). */
    const char *seen[64];
    int counts[64], n_seen = 0;
    for (int i = 0; i < p->n_nodes; i++) {
        if (strcmp(p->nodes[i].placed_on, "native")) continue;
        const char *op = p->nodes[i].node->op_type;
        int j = 0;
        while (j < n_seen && strcmp(seen[j], op)) j++;
        if (j == n_seen) {
            if (n_seen == 64) continue;
            seen[n_seen] = op;
            counts[n_seen++] = 0;
        }
        counts[j]++;
    }
    for (int shown = 0; shown < 6 && shown < n_seen && k < n; shown++) {
        int best = shown;
        for (int j = shown + 1; j < n_seen; j++)
            if (counts[j] > counts[best]) best = j;
        const char *so = seen[shown];
        int sc = counts[shown];
        seen[shown] = seen[best], counts[shown] = counts[best];
        seen[best] = so, counts[best] = sc;
        k += (size_t)snprintf(buf + k, n - k, "%s%s x%d", shown ? ", " : " (", seen[shown], counts[shown]);
    }
    if (n_seen > 0 && k < n) snprintf(buf + k, n - k, "%s: not claimed)", n_seen > 6 ? ", ..." : "");
}
