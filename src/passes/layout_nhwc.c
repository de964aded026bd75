/* Channels-last regions for depthwise-separable networks: their Conv and
 * FusedConv nodes become ai.speedster NhwcConv (ops/conv_nhwc.c), and the
 * layout changes once where a region starts or ends, not per node.
 *
 * A region is a set of convolutions (group 1 or depthwise, 2-D, constant
 * float W) joined by values that only convolutions read, as X or as the
 * residual Z. Only regions that hold a depthwise convolution change: there
 * the 1x1 convolutions have few positions and many channels, which the
 * channels-first GEMM runs poorly (see ops/conv_nhwc.c), and only when
 * they are long enough to pay for their layout changes and small (see
 * max_activation); a ResNet's 3x3
 * convolutions keep the channels-first kernels (Winograd among them).
 * Where a region reads a value from outside, a Transpose (0, 2, 3, 1) makes
 * its channels-last copy; where something outside (or a graph output) reads
 * a region's value, a Transpose (0, 3, 1, 2) gives it back. Values inside a
 * region are renamed "<name>_nhwc": their shapes change, and any
 * value_info declaring the old one goes with the old name.
 *
 * SPEEDSTER_NHWC=0 in the environment turns the pass off (to compare). */
#include <stdlib.h>
#include <string.h>

#include "ops/sgemm_fast.h"
#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

/* A region changes layout only with at least this many convolutions per
 * layout change: each change is a Transpose, a full copy of an activation.
 * EfficientNet's squeeze-and-excitation blocks read the depthwise output
 * outside the convolutions, which cuts its regions to three convolutions
 * between two changes: channels-last, it ran 1.08x as long. Keyword
 * spotting (9 convolutions) and MobileNetV2 (52) have two changes. */
#define MIN_CONVS_PER_CHANGE 4
/* ... and only convolutions whose output has at most this many values an
 * image, which depends on the kernels this CPU runs. (An image's, not the
 * batch's: the batch only lengthens the channels-last GEMMs, while the
 * channels-first ones stay as poor per image. Counted over the batch,
 * MobileNetV2 and EfficientNet-B0 at batch 4 stayed channels-first and
 * ran 1.14x and 1.13x as long at 1 thread, 1.28x for MobileNetV2 at 2.)
 * Measured at batch 1 against the
 * channels-first kernels: keyword spotting (8000 values per activation)
 * ran 0.91x as long at 1 and 2 threads with the AVX2 kernels; MobileNetV2
 * (up to 1.2M values) 0.99-1.06x, its 7x7 and 14x14 stages no faster.
 * With the AVX-512 channels-last depthwise kernels, MobileNetV2: at most
 * 32768 values (none of its convolutions) 3.88 ms at 1 thread, 2.05-2.16
 * at 2; at most 115000 (its 14x14 and 7x7 stages) 3.65 / 1.87-1.94;
 * 160000 (from the 28x28 stage on: 42 of 52) 3.51-3.60 / 1.86-1.94; all
 * 52, 3.57-3.72 / 1.90-2.00 (the 112x112 and 56x56 depthwise layers are
 * faster channels-first). EfficientNet-B0: 200000 no better, 500000 1.03x
 * as long. */
#define MAX_ACTIVATION_AVX2 32768
#define MAX_ACTIVATION_AVX512 160000

static int64_t max_activation(void)
{
    return spd_sgemm_isa_current() == SPD_SGEMM_AVX512 ? MAX_ACTIVATION_AVX512 : MAX_ACTIVATION_AVX2;
}

typedef struct region_state {
    int n; /* nodes when the pass began; the Transposes it adds come after */
    int *parent, *count;
    unsigned char *cand, *dw, *conv;
    /* squeeze-and-excitation Muls that a region runs through (se_bridge):
     * per Mul, its GlobalAveragePool (-1: not one) and d's input slot */
    int *gap, *dslot;
    unsigned char *bridge_on; /* ... that change with their region */
    unsigned char *pool_on;   /* per node: the pool of a changing bridge */
    int64_t opset;            /* the model's ai.onnx opset */
} region_state;

static int find(int *parent, int i)
{
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
}

static void unite(int *parent, int a, int b)
{
    a = find(parent, a);
    b = find(parent, b);
    if (a != b) parent[a] = b;
}

static bool named(const char *s) { return s && *s; }

/* A convolution NhwcConv runs: Conv or FusedConv over a 4-D float X with
 * a constant 4-D float W, group 1 or depthwise, one output. */
static bool candidate(const spd_graph *g, const spd_shape_table *tab, const spd_node *n, bool *dw)
{
    const spd_tensor *W = spd_pat_conv_weight(g, n);
    if (!W || W->ndim != 4 || n->n_inputs > 4 || n->n_outputs != 1 || !named(n->inputs[0]) || !named(n->outputs[0]))
        return false;
    if (n->n_inputs > 3 && !named(n->inputs[3])) return false;
    spd_shape_entry tmp;
    const spd_shape_entry *x = spd_shape_lookup(tab, g, n->inputs[0], &tmp);
    if (!x || x->ndim != 4 || x->dtype != SPD_FLOAT) return false;
    spd_shape_entry tmp_y;
    const spd_shape_entry *y = spd_shape_lookup(tab, g, n->outputs[0], &tmp_y);
    if (!y || y->ndim != 4 || spd_dims_prod(y->dims, 1, 4) > max_activation()) return false;
    const int64_t group = spd_attr_int(n, "group", 1);
    *dw = group > 1 && group == W->dims[0] && W->dims[1] == 1 && x->dims[1] == group;
    return group == 1 ? x->dims[1] == W->dims[1] : *dw;
}

/* Whether every reader of value v is a candidate reading it as X or Z. */
static bool read_by_candidates_only(const spd_graph *g, const unsigned char *cand, const char *v, int *readers,
                                    int *n_readers)
{
    if (spd_graph_output_index(g, v) >= 0) return false;
    const int n = spd_graph_consumers(g, v, readers, g->n_nodes);
    *n_readers = n;
    if (n == 0) return false;
    for (int k = 0; k < n; k++) {
        const spd_node *c = &g->nodes[readers[k]];
        if (!cand[readers[k]]) return false;
        for (int s = 1; s < c->n_inputs; s++)
            if (s != 3 && !strcmp(c->inputs[s], v)) return false;
    }
    return true;
}

/* Squeeze-and-excitation (EfficientNet, MobileNetV3): a candidate's output
 * d [N, C, H, W] read only by GlobalAveragePool(d) -> ... -> s [N, C, 1, 1]
 * and by Mul(s, d), whose output only candidates read. Channels-last, the
 * mean is a ReduceMean over axes 1 and 2 (its [N, 1, 1, C] result has the
 * bytes of [N, C, 1, 1]) and the Mul takes s as [N, 1, 1, C]: the region
 * runs through the block without a layout change (EfficientNet's blocks
 * each read the depthwise output outside the convolutions, which cut its
 * regions to three convolutions between two changes). Returns whether
 * Mul node i is such a bridge, with the pool's index and d's slot. The
 * mean keeps its axes as an attribute: opsets before 18. */
static bool se_bridge(const spd_graph *g, const spd_shape_table *tab, int64_t opset, const unsigned char *cand, int i,
                      int *gap, int *dslot, int *readers)
{
    const spd_node *n = &g->nodes[i];
    if (!n->op_type || strcmp(n->op_type, "Mul") || (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) ||
        n->n_inputs != 2 || n->n_outputs != 1 || !named(n->inputs[0]) || !named(n->inputs[1]) ||
        !named(n->outputs[0]) || opset >= 18)
        return false;
    for (int ds = 0; ds < 2; ds++) {
        const char *d = n->inputs[ds], *sv = n->inputs[1 - ds];
        const int pd = spd_graph_producer(g, d);
        if (pd < 0 || !cand[pd] || spd_graph_output_index(g, d) >= 0) continue;
        if (spd_graph_consumers(g, d, readers, g->n_nodes) != 2) continue;
        const int other = readers[0] == i ? readers[1] : readers[0];
        if (readers[0] != i && readers[1] != i) continue;
        const spd_node *pool = &g->nodes[other];
        if (strcmp(pool->op_type, "GlobalAveragePool") || (pool->domain && *pool->domain) || pool->n_inputs != 1 ||
            pool->n_outputs != 1 || !named(pool->outputs[0]) || spd_graph_output_index(g, pool->outputs[0]) >= 0)
            continue;
        spd_shape_entry td, ts, tp;
        const spd_shape_entry *xd = spd_shape_lookup(tab, g, d, &td), *xs = spd_shape_lookup(tab, g, sv, &ts);
        const spd_shape_entry *xp = spd_shape_lookup(tab, g, n->outputs[0], &tp);
        if (!xd || !xs || !xp || xd->ndim != 4 || xs->ndim != 4 || xp->ndim != 4 || xd->dtype != SPD_FLOAT ||
            xs->dtype != SPD_FLOAT || xs->dims[0] != xd->dims[0] || xs->dims[1] != xd->dims[1] || xs->dims[2] != 1 ||
            xs->dims[3] != 1 || memcmp(xp->dims, xd->dims, 4 * sizeof(int64_t)))
            continue;
        int k;
        if (!read_by_candidates_only(g, cand, n->outputs[0], readers, &k)) continue;
        *gap = other;
        *dslot = ds;
        return true;
    }
    return false;
}

/* Whether v's readers are exactly a bridge's Mul (reading it as d) and
 * that bridge's pool. */
static bool read_by_bridge(const spd_graph *g, const region_state *r, const char *v, int *readers)
{
    if (spd_graph_consumers(g, v, readers, g->n_nodes) != 2) return false;
    for (int k = 0; k < 2; k++) {
        const int b = readers[k];
        if (b < r->n && r->gap[b] == readers[1 - k] && !strcmp(g->nodes[b].inputs[r->dslot[b]], v)) return true;
    }
    return false;
}

/* Which nodes change: candidates in regions that hold a depthwise one. */
static void choose(const spd_graph *g, const spd_shape_table *tab, region_state *r, int *readers)
{
    const int N = g->n_nodes;
    for (int i = 0; i < N; i++) {
        r->parent[i] = i;
        bool dw = false;
        r->cand[i] = g->nodes[i].op_type && candidate(g, tab, &g->nodes[i], &dw);
        r->dw[i] = r->cand[i] && dw;
    }
    for (int i = 0; i < N; i++) {
        r->gap[i] = -1;
        if (g->nodes[i].op_type && !se_bridge(g, tab, r->opset, r->cand, i, &r->gap[i], &r->dslot[i], readers))
            r->gap[i] = -1;
    }
    for (int i = 0; i < N; i++) {
        int n;
        if (r->cand[i] && read_by_candidates_only(g, r->cand, g->nodes[i].outputs[0], readers, &n))
            for (int k = 0; k < n; k++) unite(r->parent, i, readers[k]);
        if (r->gap[i] >= 0) { /* a bridge joins d's producer and p's readers */
            unite(r->parent, i, spd_graph_producer(g, g->nodes[i].inputs[r->dslot[i]]));
            read_by_candidates_only(g, r->cand, g->nodes[i].outputs[0], readers, &n);
            for (int k = 0; k < n; k++) unite(r->parent, i, readers[k]);
        }
    }
    for (int i = 0; i < N; i++)
        if (r->dw[i]) r->dw[find(r->parent, i)] = 1; /* the root marks its region */
    /* per region: convolutions, and layout changes (values read from or
     * given back to the outside, counted per reading slot and per output) */
    int *convs = r->count, *changes = r->count + N;
    memset(r->count, 0, (size_t)(2 * N) * sizeof(int));
    for (int i = 0; i < N; i++) {
        if (!r->cand[i]) continue;
        const int root = find(r->parent, i);
        const spd_node *n = &g->nodes[i];
        int k;
        convs[root]++;
        for (int s = 0; s < n->n_inputs && s < 4; s++) {
            if (s == 1 || s == 2) continue;
            const int p = spd_graph_producer(g, n->inputs[s]);
            if (p < 0 || !(r->cand[p] || r->gap[p] >= 0) || find(r->parent, p) != root) changes[root]++;
        }
        if (!read_by_candidates_only(g, r->cand, n->outputs[0], readers, &k) && !read_by_bridge(g, r, n->outputs[0], readers))
            changes[root]++;
    }
    for (int i = 0; i < N; i++) {
        const int root = find(r->parent, i);
        const bool on = r->dw[root] && convs[root] >= MIN_CONVS_PER_CHANGE * changes[root];
        r->conv[i] = r->cand[i] && on;
        r->bridge_on[i] = r->gap[i] >= 0 && on;
    }
    for (int i = 0; i < N; i++)
        if (r->bridge_on[i]) r->pool_on[r->gap[i]] = 1;
}

static spd_status rename_with_suffix(spd_graph *g, const char *base_name, char **out)
{
    char *base = spd_malloc(strlen(base_name) + 6);
    if (!base) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    strcpy(base, base_name);
    strcat(base, "_nhwc");
    *out = spd_graph_unique_name(g, base);
    spd_free(base);
    return *out ? SPD_OK : spd_errorf(SPD_ERR_NOMEM, "out of memory");
}

/* Appends Transpose(in, perm) -> out. */
static spd_status add_transpose(spd_graph *g, const char *in, const char *out, const int64_t *perm)
{
    const char *ins[1] = {in}, *outs[1] = {out};
    int idx;
    spd_status st = spd_graph_add_node(g, "Transpose", "", NULL, 1, ins, 1, outs, &idx);
    return st == SPD_OK ? spd_node_set_ints(&g->nodes[idx], "perm", perm, 4) : st;
}

/* Channels-last copies of values from outside the regions, made once each. */
typedef struct copies {
    int n;
    char **from, **to;
} copies;

/* The name of v's channels-last copy: Transpose(v, perm 0 2 3 1) ->
 * "<v>_nhwc", added on first use. */
static spd_status to_nhwc(spd_graph *g, copies *cp, const char *v, const char **out)
{
    for (int k = 0; k < cp->n; k++)
        if (!strcmp(cp->from[k], v)) {
            *out = cp->to[k];
            return SPD_OK;
        }
    char *t = NULL, *f = spd_strdup(v);
    spd_status st = f ? rename_with_suffix(g, v, &t) : spd_errorf(SPD_ERR_NOMEM, "out of memory");
    static const int64_t to_last[4] = {0, 2, 3, 1};
    if (st == SPD_OK) st = add_transpose(g, f, t, to_last);
    if (st != SPD_OK) {
        spd_free(f);
        spd_free(t);
        return st;
    }
    cp->from[cp->n] = f;
    cp->to[cp->n++] = t;
    *out = t;
    return SPD_OK;
}

/* ReduceMean over H and W without keepdims (a classifier head's
 * x.mean(dim=(2, 3))): [N, C] either way, so it can read the channels-last
 * value with its axes moved, and no Transpose goes back for it. Opsets
 * before 18 only (axes as an attribute). */
static bool plane_mean(const spd_node *n)
{
    if (strcmp(n->op_type, "ReduceMean") || (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) ||
        n->n_inputs != 1 || spd_attr_int(n, "keepdims", 1) != 0)
        return false;
    size_t na;
    const int64_t *ax = spd_attr_ints(n, "axes", &na);
    if (!ax || na != 2) return false;
    const int64_t a = ax[0] < 0 ? ax[0] + 4 : ax[0], b = ax[1] < 0 ? ax[1] + 4 : ax[1];
    return (a == 2 && b == 3) || (a == 3 && b == 2);
}

/* Node i (changing) writes its output channels-last as "<y>_nhwc", which
 * its changing readers take; a Transpose back to y serves the others and
 * the graph's outputs. */
static spd_status rewrite_output(spd_graph *g, const region_state *r, int i, int *readers, int cap)
{
    char *y = spd_strdup(g->nodes[i].outputs[0]), *t = NULL;
    if (!y) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    const int n = spd_graph_consumers(g, y, readers, cap);
    bool outside = spd_graph_output_index(g, y) >= 0;
    spd_status st = rename_with_suffix(g, y, &t);
    if (st == SPD_OK) st = spd_node_set_output(&g->nodes[i], 0, t);
    for (int k = 0; k < n && st == SPD_OK; k++) {
        spd_node *c = &g->nodes[readers[k]];
        if (plane_mean(c)) { /* the mean reads the channels-last value, over axes 1 and 2 */
            const int64_t axes[2] = {1, 2};
            st = spd_node_set_input(c, 0, t);
            if (st == SPD_OK) st = spd_node_set_ints(c, "axes", axes, 2);
            continue;
        }
        if (readers[k] < r->n && r->bridge_on[readers[k]]) { /* the Mul reads d channels-last */
            st = spd_node_set_input(c, r->dslot[readers[k]], t);
            continue;
        }
        if (readers[k] < r->n && r->pool_on[readers[k]]) { /* made a ReduceMean by rewrite_bridge */
            st = spd_node_set_input(c, 0, t);
            continue;
        }
        if (readers[k] >= r->n || !r->conv[readers[k]]) {
            outside = true;
            continue;
        }
        for (int s = 0; s < c->n_inputs && st == SPD_OK; s++)
            if (!strcmp(c->inputs[s], y)) st = spd_node_set_input(c, s, t);
    }
    if (st == SPD_OK && outside) {
        static const int64_t to_first[4] = {0, 3, 1, 2};
        st = add_transpose(g, t, y, to_first);
    }
    spd_free(t);
    spd_free(y);
    return st;
}

/* Bridge b (changing) once its d is channels-last: the pool becomes
 * ReduceMean(d, axes 1 2) -> "<g>_nhwc" [N, 1, 1, C] and a Transpose (a
 * copy of C floats) gives back g [N, C, 1, 1]; s goes in as [N, 1, 1, C];
 * the product p is written channels-last, for its readers (all changing). */
static spd_status rewrite_bridge(spd_graph *g, const region_state *r, int b, int *readers, int cap)
{
    static const int64_t to_first[4] = {0, 3, 1, 2}, to_last[4] = {0, 2, 3, 1}, axes[2] = {1, 2};
    const int pool = r->gap[b];
    char *gname = spd_strdup(g->nodes[pool].outputs[0]), *pin = spd_strdup(g->nodes[pool].inputs[0]);
    char *sname = spd_strdup(g->nodes[b].inputs[1 - r->dslot[b]]), *p = spd_strdup(g->nodes[b].outputs[0]);
    char *glast = NULL, *slast = NULL, *plast = NULL;
    spd_status st = gname && pin && sname && p ? SPD_OK : spd_errorf(SPD_ERR_NOMEM, "out of memory");
    if (st == SPD_OK) st = rename_with_suffix(g, gname, &glast);
    if (st == SPD_OK) st = rename_with_suffix(g, sname, &slast);
    if (st == SPD_OK) st = rename_with_suffix(g, p, &plast);
    if (st == SPD_OK) {
        const char *ins[1] = {pin}, *outs[1] = {glast};
        st = spd_graph_replace_node(g, pool, "ReduceMean", "", 1, ins, 1, outs);
    }
    if (st == SPD_OK) st = spd_node_set_ints(&g->nodes[pool], "axes", axes, 2);
    if (st == SPD_OK) st = spd_node_set_int(&g->nodes[pool], "keepdims", 1);
    if (st == SPD_OK) st = add_transpose(g, glast, gname, to_first);
    if (st == SPD_OK) st = add_transpose(g, sname, slast, to_last);
    if (st == SPD_OK) st = spd_node_set_input(&g->nodes[b], 1 - r->dslot[b], slast);
    if (st == SPD_OK) {
        const int n = spd_graph_consumers(g, p, readers, cap);
        st = spd_node_set_output(&g->nodes[b], 0, plast);
        for (int k = 0; k < n && st == SPD_OK; k++) {
            spd_node *c = &g->nodes[readers[k]];
            for (int s = 0; s < c->n_inputs && st == SPD_OK; s++)
                if (!strcmp(c->inputs[s], p)) st = spd_node_set_input(c, s, plast);
        }
    }
    spd_free(gname);
    spd_free(pin);
    spd_free(sname);
    spd_free(p);
    spd_free(glast);
    spd_free(slast);
    spd_free(plast);
    return st;
}

static spd_status retype(spd_node *n)
{
    char *op = spd_strdup("NhwcConv"), *dom = spd_strdup("ai.speedster");
    if (!op || !dom) {
        spd_free(op);
        spd_free(dom);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    spd_free(n->op_type);
    spd_free(n->domain);
    n->op_type = op;
    n->domain = dom;
    return SPD_OK;
}

spd_status spd_pass_layout_nhwc_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    const char *env = getenv("SPEEDSTER_NHWC");
    if (!shapes || !m->graph || (env && env[0] == '0')) return SPD_OK;
    spd_graph *g = m->graph;
    const int N = g->n_nodes; /* nodes added below are Transposes, past N */
    if (N == 0) return SPD_OK;
    region_state r = {N,
                      spd_calloc((size_t)N, sizeof(int)),
                      spd_calloc((size_t)(2 * N), sizeof(int)),
                      spd_calloc((size_t)N, 1),
                      spd_calloc((size_t)N, 1),
                      spd_calloc((size_t)N, 1),
                      spd_calloc((size_t)N, sizeof(int)),
                      spd_calloc((size_t)N, sizeof(int)),
                      spd_calloc((size_t)N, 1),
                      spd_calloc((size_t)N, 1),
                      spd_model_opset(m, "")};
    const int cap = 2 * N + 1; /* readers of one value, Transposes added included */
    int *readers = spd_calloc((size_t)cap, sizeof(int));
    copies cp = {0, spd_calloc((size_t)N * 2 + 1, sizeof(char *)), spd_calloc((size_t)N * 2 + 1, sizeof(char *))};
    spd_status st = SPD_OK;
    if (!r.parent || !r.count || !r.cand || !r.dw || !r.conv || !r.gap || !r.dslot || !r.bridge_on || !r.pool_on || !readers ||
        !cp.from || !cp.to) {
        st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        goto done;
    }
    choose(g, shapes, &r, readers);
    int changed = 0;
    for (int i = 0; i < N; i++) changed += r.conv[i];
    if (!changed) goto done;
    /* Inputs first, while every name still means what it did: X and Z
     * from outside a region read their channels-last copy. */
    for (int i = 0; i < N && st == SPD_OK; i++) {
        if (!r.conv[i]) continue;
        for (int s = 0; s < 4 && st == SPD_OK; s++) {
            if (s == 1 || s == 2 || s >= g->nodes[i].n_inputs) continue;
            const int p = spd_graph_producer(g, g->nodes[i].inputs[s]);
            if (p >= 0 && p < N && (r.conv[p] || r.bridge_on[p])) continue; /* channels-last already */
            const char *t;
            st = to_nhwc(g, &cp, g->nodes[i].inputs[s], &t);
            if (st == SPD_OK) st = spd_node_set_input(&g->nodes[i], s, t);
        }
    }
    for (int i = 0; i < N && st == SPD_OK; i++)
        if (r.conv[i]) st = rewrite_output(g, &r, i, readers, cap);
    for (int i = 0; i < N && st == SPD_OK; i++)
        if (r.bridge_on[i]) st = rewrite_bridge(g, &r, i, readers, cap);
    for (int i = 0; i < N && st == SPD_OK; i++)
        if (r.conv[i]) st = retype(&g->nodes[i]);
    if (st == SPD_OK) st = spd_model_require_opset(m, "ai.speedster", 1);
    if (st == SPD_OK && rep) rep->nhwc_convs += changed;
done:
    for (int k = 0; k < cp.n; k++) {
        spd_free(cp.from[k]);
        spd_free(cp.to[k]);
    }
    spd_free(cp.from);
    spd_free(cp.to);
    spd_free(readers);
    spd_free(r.parent);
    spd_free(r.count);
    spd_free(r.cand);
    spd_free(r.dw);
    spd_free(r.conv);
    spd_free(r.gap);
    spd_free(r.dslot);
    spd_free(r.bridge_on);
    spd_free(r.pool_on);
    return st;
}
