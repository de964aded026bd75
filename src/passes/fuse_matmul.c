/* MatMul + bias fusion and the clean-ups it calls for.
 *
 * Transformers write a linear layer as Add(MatMul(A, W), b) with A of rank 3
 * ([batch, tokens, K]); Gemm takes 2-D operands only, so such an A goes
 * through Reshape(A, [-1, K]) and the Gemm's [M, N] result back through
 * Reshape to A's leading dims + [N] (ONNX Runtime's MatMul + Add fusion does
 * the same). The bias then rides in the GEMM's epilogue and an activation
 * can follow it into a FusedGemm: an elementwise activation commutes with a
 * Reshape, so a Reshape between the Gemm and the activation moves after the
 * activation; likewise below Slices of the last dim (ViT's fused Q/K/V
 * projection), and a Transpose that only moves size-1 dims is a Reshape.
 * The Reshapes this leaves next to each other merge into one, and a pair
 * that restores the shape (one fused Gemm feeding another) disappears.
 *
 * Attention scores are MatMul(Q, K^T) / sqrt(d): when Q (or K) comes from a
 * Gemm through Reshape/Transpose only, the scale goes into that Gemm's alpha
 * and beta instead of a pass over the scores.
 *
 * Shapes come from the sample run's table; values this pass creates are
 * recorded beside it. Without a table only 2-D MatMuls (ranks from the
 * declarations) become Gemm. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

#define NOMEM() spd_errorf(SPD_ERR_NOMEM, "out of memory")

typedef struct shape_ctx {
    const spd_shape_table *tab; /* from the sample run; may be NULL */
    spd_shape_table extra;      /* values created here */
} shape_ctx;

/* A fully known shape (every dim >= 0) of `name`, from the sample run or
 * this pass; NULL otherwise. Declarations are not trusted for dims: without
 * samples the inputs' dims are not fixed. */
static const spd_shape_entry *known(const shape_ctx *c, const char *name)
{
    const spd_shape_entry *e = NULL;
    for (int i = 0; i < c->extra.n && !e; i++)
        if (!strcmp(c->extra.e[i].name, name)) e = &c->extra.e[i];
    for (int i = 0; c->tab && i < c->tab->n && !e; i++)
        if (!strcmp(c->tab->e[i].name, name)) e = &c->tab->e[i];
    if (!e) return NULL;
    for (int d = 0; d < e->ndim; d++)
        if (e->dims[d] < 0) return NULL;
    return e;
}

static spd_status remember(shape_ctx *c, const char *name, spd_dtype dt, int ndim, const int64_t *dims)
{
    spd_shape_table *t = &c->extra;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        spd_shape_entry *e = spd_realloc(t->e, (size_t)cap * sizeof *e);
        if (!e) return NOMEM();
        t->e = e;
        t->cap = cap;
    }
    spd_shape_entry *e = &t->e[t->n];
    memset(e, 0, sizeof *e);
    e->name = spd_strdup(name);
    if (!e->name) return NOMEM();
    e->dtype = dt;
    e->ndim = ndim;
    memcpy(e->dims, dims, (size_t)ndim * sizeof *dims);
    t->n++;
    return SPD_OK;
}

static int same_shape(const spd_shape_entry *a, const spd_shape_entry *b)
{
    if (!a || !b || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

/* A node name derived from another's ("" stays ""); to be spd_free'd. */
static char *derived_name(const char *base, const char *suffix)
{
    if (!base || !*base) return spd_strdup("");
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *s = spd_malloc(n);
    if (s) snprintf(s, n, "%s%s", base, suffix);
    return s;
}

/* ------------------------------------------------------- MatMul + bias */

/* A Reshape(a, [-1, k]) already in the graph, to share between the Gemms
 * reading the same A (attention's Q, K and V projections). */
static int find_flatten(const spd_graph *g, const char *a, int64_t k)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        int64_t v[2];
        int nv;
        if (!spd_pat_is(n, "Reshape") || n->n_inputs != 2 || strcmp(n->inputs[0], a)) continue;
        if (spd_attr_int(n, "allowzero", 0)) continue;
        if (spd_pat_ints(g, n->inputs[1], v, 2, &nv) && nv == 2 && v[0] == -1 && v[1] == k) return i;
    }
    return -1;
}

typedef struct linear {
    const char *a, *w, *b, *out; /* strings of the matched nodes */
    const char *name;            /* the MatMul's node name */
    const spd_tensor *wt, *bt;
    int add, mm;
} linear;

/* Add(MatMul(A, W), b) at node i, W a float constant [K, N], b a float
 * constant of shape [N], [1, N], [1, .., 1, N] or a single element, the
 * MatMul's result read only by the Add. */
static int match_linear(const spd_graph *g, int i, linear *l)
{
    const spd_node *an = &g->nodes[i];
    if (!spd_pat_is(an, "Add") || an->n_inputs != 2 || an->n_outputs != 1) return 0;
    if (spd_node_attr(an, "axis")) return 0; /* opset < 7 broadcasting along another axis */
    int mm = -1, which = -1;
    for (int k = 0; k < 2 && mm < 0; k++) {
        int q = spd_pat_producer_is(g, an->inputs[k], "MatMul");
        if (q >= 0 && spd_pat_float_const(g, an->inputs[1 - k])) {
            mm = q;
            which = k;
        }
    }
    if (mm < 0 || spd_pat_sole_consumer(g, an->inputs[which]) != i) return 0;
    const spd_node *mn = &g->nodes[mm];
    if (mn->n_inputs != 2 || mn->n_outputs != 1) return 0;
    const spd_tensor *w = spd_pat_float_const(g, mn->inputs[1]);
    const spd_tensor *b = spd_pat_float_const(g, an->inputs[1 - which]);
    if (!w || w->ndim != 2) return 0;
    int64_t nb = spd_tensor_numel(b);
    if (nb != 1 && nb != w->dims[1]) return 0;
    for (int d = 0; d + 1 < b->ndim; d++)
        if (b->dims[d] != 1) return 0;
    *l = (linear){mn->inputs[0], mn->inputs[1], an->inputs[1 - which], an->outputs[0], mn->name, w, b, i, mm};
    return 1;
}

/* A 2-D A: the Gemm takes the Add's place (A and W exist before the
 * MatMul, so before the Add). */
static spd_status linear_2d(spd_model *m, const linear *l)
{
    spd_graph *g = m->graph;
    const char *ins[3] = {l->a, l->w, l->b};
    const char *outs[1] = {l->out};
    SPD_TRY(spd_graph_replace_node(g, l->add, "Gemm", "", 3, ins, 1, outs));
    /* Gemm before opset 7 broadcasts C only when told to */
    if (spd_model_opset(m, "") < 7) SPD_TRY(spd_node_set_int(&g->nodes[l->add], "broadcast", 1));
    spd_graph_remove_node(g, l->mm);
    return SPD_OK;
}

/* An A of rank > 2 with shape e: Reshape -> Gemm -> Reshape, appended (the
 * pass sorts the nodes at the end). */
static spd_status linear_nd(spd_graph *g, shape_ctx *sc, const linear *l, const spd_shape_entry *e)
{
    /* e may point into sc, which grows below */
    int64_t k = l->wt->dims[0], n = l->wt->dims[1], mrows = 1;
    int rank = e->ndim;
    for (int d = 0; d + 1 < rank; d++) mrows *= e->dims[d];
    int64_t out_dims[SPD_MAX_DIMS];
    memcpy(out_dims, e->dims, sizeof out_dims);
    out_dims[rank - 1] = n;

    char *flat_shape = NULL, *out_shape = NULL, *bias = NULL, *a2 = NULL, *z = NULL;
    char *n_in = NULL, *n_out = NULL, *n_gemm = NULL;
    spd_status st = SPD_OK;
    const char *bname = l->b;
    if (l->bt->ndim > 2) { /* Gemm's C broadcasts from at most 2-D */
        int64_t nb = spd_tensor_numel(l->bt);
        st = spd_pat_add_floats(g, l->b, 1, &nb, l->bt->data, &bias);
        if (st != SPD_OK) goto done;
        bname = bias;
    }
    int f = find_flatten(g, l->a, k);
    if (f >= 0) {
        a2 = spd_strdup(g->nodes[f].outputs[0]);
        if (!a2) { st = NOMEM(); goto done; }
    } else {
        const int64_t fs[2] = {-1, k};
        if ((st = spd_pat_add_i64s(g, "gemm_2d_shape", 2, fs, &flat_shape)) != SPD_OK) goto done;
        a2 = spd_graph_unique_name(g, l->a);
        n_in = derived_name(l->name, "/to_2d");
        if (!a2 || !n_in) { st = NOMEM(); goto done; }
        const char *ins[2] = {l->a, flat_shape}, *outs[1] = {a2};
        if ((st = spd_graph_add_node(g, "Reshape", "", n_in, 2, ins, 1, outs, NULL)) != SPD_OK) goto done;
    }
    const int64_t a2_dims[2] = {mrows, k}, z_dims[2] = {mrows, n};
    if ((st = remember(sc, a2, SPD_FLOAT, 2, a2_dims)) != SPD_OK) goto done;
    if ((st = spd_pat_add_i64s(g, "gemm_nd_shape", rank, out_dims, &out_shape)) != SPD_OK) goto done;
    z = spd_graph_unique_name(g, l->out);
    n_gemm = derived_name(l->name, "/gemm");
    n_out = derived_name(l->name, "/to_nd");
    if (!z || !n_gemm || !n_out) { st = NOMEM(); goto done; }
    if ((st = remember(sc, z, SPD_FLOAT, 2, z_dims)) != SPD_OK) goto done;
    {
        const char *ins[3] = {a2, l->w, bname}, *outs[1] = {z};
        if ((st = spd_graph_add_node(g, "Gemm", "", n_gemm, 3, ins, 1, outs, NULL)) != SPD_OK) goto done;
    }
    {
        const char *ins[2] = {z, out_shape}, *outs[1] = {l->out};
        if ((st = spd_graph_add_node(g, "Reshape", "", n_out, 2, ins, 1, outs, NULL)) != SPD_OK) goto done;
    }
    /* last: the matched names point into these nodes */
    spd_graph_remove_node(g, l->add);
    spd_graph_remove_node(g, l->mm);
done:
    spd_free(flat_shape);
    spd_free(out_shape);
    spd_free(bias);
    spd_free(a2);
    spd_free(z);
    spd_free(n_in);
    spd_free(n_out);
    spd_free(n_gemm);
    return st;
}

static spd_status matmul_bias_to_gemm(spd_model *m, shape_ctx *sc, int *count)
{
    spd_graph *g = m->graph;
    int n0 = g->n_nodes; /* the nodes appended here need no look */
    for (int i = 0; i < n0; i++) {
        linear l;
        if (!match_linear(g, i, &l)) continue;
        int rank = spd_pat_rank(sc->tab, g, l.a);
        if (rank == 2 && l.bt->ndim <= 2) {
            SPD_TRY(linear_2d(m, &l));
            (*count)++;
            continue;
        }
        const spd_shape_entry *e = known(sc, l.a);
        if (rank <= 2 || !e || e->ndim != rank || l.bt->ndim > rank || e->dims[rank - 1] != l.wt->dims[0]) continue;
        int empty = 0;
        for (int d = 0; d < e->ndim; d++) empty |= e->dims[d] == 0;
        if (empty || spd_model_opset(m, "") < 5) continue; /* Reshape's shape became an input in opset 5 */
        SPD_TRY(linear_nd(g, sc, &l, e));
        (*count)++;
    }
    return SPD_OK;
}

/* ---------------------------------------------------------------- Reshapes */

/* An elementwise activation FusedGemm can take. */
static int gemm_activation(const spd_node *n)
{
    if (n->n_inputs != 1 || n->n_outputs != 1) return 0;
    static const char *const plain[] = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid"};
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++)
        if (spd_pat_is(n, plain[k])) return 1;
    return spd_pat_is_ms(n, "Gelu") || spd_pat_is_ms(n, "QuickGelu");
}

/* act(Reshape(Gemm(..))) -> Reshape(act(Gemm(..))), so that the activation
 * meets the Gemm. */
static spd_status sink_reshapes(spd_graph *g, shape_ctx *sc, int *moved)
{
    for (int i = 0; i < g->n_nodes; i++) {
        spd_node *act = &g->nodes[i];
        if (!act->op_type || !gemm_activation(act)) continue;
        int r = spd_pat_producer_is(g, act->inputs[0], "Reshape");
        if (r < 0 || spd_pat_sole_consumer(g, act->inputs[0]) != i) continue;
        const char *z = g->nodes[r].inputs[0];
        int p = spd_pat_producer_is(g, z, "Gemm");
        if (p < 0 || spd_pat_sole_consumer(g, z) != r) continue;
        char *t = spd_graph_unique_name(g, z), *y = spd_strdup(act->outputs[0]);
        spd_status st = t && y ? SPD_OK : NOMEM();
        const spd_shape_entry *ez = known(sc, z);
        spd_shape_entry zs; /* a copy: remember() may move the entry */
        if (ez) zs = *ez;
        if (st == SPD_OK && ez) st = remember(sc, t, zs.dtype, zs.ndim, zs.dims);
        if (st == SPD_OK) st = spd_node_set_input(act, 0, z);
        if (st == SPD_OK) st = spd_node_set_output(act, 0, t);
        if (st == SPD_OK) st = spd_node_set_input(&g->nodes[r], 0, t);
        if (st == SPD_OK) st = spd_node_set_output(&g->nodes[r], 0, y);
        spd_free(t);
        spd_free(y);
        SPD_TRY(st);
        (*moved)++;
    }
    return SPD_OK;
}

/* A Reshape without allowzero whose shape is a constant. */
static int plain_reshape(const spd_graph *g, const spd_node *n, int64_t *shape, int *ns)
{
    return spd_pat_is(n, "Reshape") && n->n_inputs == 2 && n->n_outputs == 1 &&
           !spd_attr_int(n, "allowzero", 0) && spd_pat_ints(g, n->inputs[1], shape, SPD_MAX_DIMS, ns);
}

/* A Transpose that only moves dims of size 1 keeps the elements in order:
 * it becomes a Reshape, which can then merge with the Reshapes around it
 * (ViT's [1, T, C] <-> [T, 1, C] around its attention). */
static spd_status transposes_to_reshapes(spd_graph *g, shape_ctx *sc, int *changed)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        if (!spd_pat_is(n, "Transpose") || n->n_inputs != 1 || n->n_outputs != 1) continue;
        const spd_shape_entry *e = known(sc, n->inputs[0]);
        size_t np;
        const int64_t *perm = spd_attr_ints(n, "perm", &np);
        if (!e || !perm || (int)np != e->ndim || e->ndim > SPD_MAX_DIMS) continue;
        int64_t dims[SPD_MAX_DIMS];
        int ok = 1, last = -1;
        for (int d = 0; d < e->ndim && ok; d++) {
            if (perm[d] < 0 || perm[d] >= e->ndim) ok = 0;
            else if ((dims[d] = e->dims[perm[d]]) != 1) {
                ok = perm[d] > last;
                last = (int)perm[d];
            }
        }
        if (!ok) continue;
        char *shape = NULL;
        SPD_TRY(spd_pat_add_i64s(g, "reshape_shape", e->ndim, dims, &shape));
        const char *ins[2] = {g->nodes[i].inputs[0], shape}, *outs[1] = {g->nodes[i].outputs[0]};
        spd_status st = spd_graph_replace_node(g, i, "Reshape", "", 2, ins, 1, outs);
        spd_free(shape);
        SPD_TRY(st);
        (*changed)++;
    }
    return SPD_OK;
}

/* Slice(Reshape(z, s)) -> Reshape(Slice(z)) when every reader of the
 * Reshape slices its last dim, which the Reshape keeps (ViT's fused Q, K, V
 * projection): the new Reshapes merge with the ones after the Slices. */
static int last_dim_slice(const spd_graph *g, const spd_node *n, int rank)
{
    int64_t axes[1], steps[1];
    int na = 0, ns = 0;
    if (!spd_pat_is(n, "Slice") || n->n_inputs < 4 || n->n_inputs > 5 || n->n_outputs != 1) return 0;
    if (!spd_pat_ints(g, n->inputs[3], axes, 1, &na) || na != 1 || (axes[0] != -1 && axes[0] != rank - 1)) return 0;
    if (n->n_inputs == 5 && n->inputs[4][0] && (!spd_pat_ints(g, n->inputs[4], steps, 1, &ns) || ns != 1 || steps[0] != 1))
        return 0;
    return 1;
}

static spd_status sink_one(spd_graph *g, shape_ctx *sc, int sl, const char *z, const char *last_axis)
{
    spd_node *n = &g->nodes[sl];
    const spd_shape_entry *eo = known(sc, n->outputs[0]), *ez = known(sc, z);
    spd_shape_entry o = *eo, zs = *ez; /* copies: remember() may move entries */
    int64_t tdims[SPD_MAX_DIMS];
    memcpy(tdims, zs.dims, sizeof tdims);
    tdims[zs.ndim - 1] = o.dims[o.ndim - 1];
    char *t = spd_graph_unique_name(g, n->outputs[0]), *y = spd_strdup(n->outputs[0]), *shape = NULL;
    char *name = derived_name(n->name, "/reshape");
    spd_status st = t && y && name ? SPD_OK : NOMEM();
    if (st == SPD_OK) st = remember(sc, t, o.dtype, zs.ndim, tdims);
    if (st == SPD_OK) st = spd_pat_add_i64s(g, "reshape_shape", o.ndim, o.dims, &shape);
    if (st == SPD_OK) st = spd_node_set_input(&g->nodes[sl], 0, z);
    if (st == SPD_OK) st = spd_node_set_input(&g->nodes[sl], 3, last_axis);
    if (st == SPD_OK) st = spd_node_set_output(&g->nodes[sl], 0, t);
    const char *ins[2] = {t, shape}, *outs[1] = {y};
    if (st == SPD_OK) st = spd_graph_add_node(g, "Reshape", "", name, 2, ins, 1, outs, NULL);
    spd_free(t);
    spd_free(y);
    spd_free(shape);
    spd_free(name);
    return st;
}

static spd_status sink_below_slices(spd_graph *g, shape_ctx *sc, int *moved)
{
    int n0 = g->n_nodes;
    for (int i = 0; i < n0; i++) {
        int64_t shape[SPD_MAX_DIMS];
        int ns, idx[8];
        const spd_node *r = &g->nodes[i];
        if (!r->op_type || !spd_pat_is(r, "Reshape") || r->n_inputs != 2 || r->n_outputs != 1) continue;
        if (spd_attr_int(r, "allowzero", 0) || !spd_pat_ints(g, r->inputs[1], shape, SPD_MAX_DIMS, &ns)) continue;
        const spd_shape_entry *ez = known(sc, r->inputs[0]), *ev = known(sc, r->outputs[0]);
        if (!ez || !ev || ez->ndim < 1 || ev->ndim < 1 || ez->dims[ez->ndim - 1] != ev->dims[ev->ndim - 1]) continue;
        if (spd_graph_output_index(g, r->outputs[0]) >= 0) continue;
        int nc = spd_graph_consumers(g, r->outputs[0], idx, 8), ok = nc > 0 && nc <= 8;
        for (int k = 0; k < nc && ok; k++) {
            const spd_node *c = &g->nodes[idx[k]];
            ok = last_dim_slice(g, c, ev->ndim) && !strcmp(c->inputs[0], r->outputs[0]) && known(sc, c->outputs[0]);
            for (int j = 1; j < c->n_inputs && ok; j++) ok = strcmp(c->inputs[j], r->outputs[0]) != 0;
        }
        if (!ok) continue;
        const int64_t minus1 = -1;
        char *axis = NULL, *z = spd_strdup(r->inputs[0]);
        spd_status st = z ? spd_pat_add_i64s(g, "slice_axes", 1, &minus1, &axis) : NOMEM();
        for (int k = 0; k < nc && st == SPD_OK; k++) st = sink_one(g, sc, idx[k], z, axis);
        spd_free(axis);
        spd_free(z);
        SPD_TRY(st);
        spd_graph_remove_node(g, i);
        (*moved)++;
    }
    return SPD_OK;
}

/* Reshape node r's output becomes `to` for every reader; r goes. */
static spd_status bypass(spd_graph *g, int r, const char *to)
{
    char *y = spd_strdup(g->nodes[r].outputs[0]), *x = spd_strdup(to);
    spd_status st = y && x ? spd_graph_replace_uses(g, y, x) : NOMEM();
    if (st == SPD_OK) spd_graph_remove_node(g, r);
    spd_free(y);
    spd_free(x);
    return st;
}

/* Reshape(Reshape(x, s1), s2) -> Reshape(x, s2), or x when that is x's
 * shape; a Reshape to its input's own shape goes too. */
static spd_status merge_reshapes(spd_graph *g, shape_ctx *sc, int *removed)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const spd_node *r2 = &g->nodes[i];
            int64_t s2[SPD_MAX_DIMS], s1[SPD_MAX_DIMS];
            int n2, n1;
            if (!r2->op_type || !plain_reshape(g, r2, s2, &n2)) continue;
            const char *v = r2->inputs[0], *y = r2->outputs[0];
            const spd_shape_entry *ey = known(sc, y);
            int is_out = spd_graph_output_index(g, y) >= 0;
            int r1 = spd_graph_producer(g, v);
            if (r1 >= 0 && plain_reshape(g, &g->nodes[r1], s1, &n1) && spd_pat_sole_consumer(g, v) == i) {
                const char *x = g->nodes[r1].inputs[0];
                if (!is_out && same_shape(known(sc, x), ey)) {
                    SPD_TRY(bypass(g, i, x));
                    spd_graph_remove_node(g, r1);
                    *removed += 2;
                    changed = 1;
                    continue;
                }
                /* a 0 in s2 copies a dim of s1's result: spell it out */
                int zero = 0;
                for (int d = 0; d < n2; d++) zero |= s2[d] == 0;
                if (zero && !ey) continue;
                if (zero) {
                    char *shape = NULL;
                    SPD_TRY(spd_pat_add_i64s(g, "reshape_shape", ey->ndim, ey->dims, &shape));
                    spd_status st = spd_node_set_input(&g->nodes[i], 1, shape);
                    spd_free(shape);
                    SPD_TRY(st);
                }
                SPD_TRY(spd_node_set_input(&g->nodes[i], 0, g->nodes[r1].inputs[0]));
                spd_graph_remove_node(g, r1);
                (*removed)++;
                changed = 1;
            } else if (!is_out && same_shape(known(sc, v), ey)) {
                SPD_TRY(bypass(g, i, v));
                (*removed)++;
                changed = 1;
            }
        }
    }
    return SPD_OK;
}

/* ----------------------------------------------------------- attention scale */

/* The plain Gemm that `v` comes from through Reshape/Transpose nodes each
 * read only by the next; -1 if none. */
static int gemm_through_layout(const spd_graph *g, const char *v, int reader)
{
    for (int depth = 0; depth < 8; depth++) {
        if (spd_pat_sole_consumer(g, v) != reader) return -1;
        int p = spd_graph_producer(g, v);
        if (p < 0) return -1;
        const spd_node *n = &g->nodes[p];
        if (spd_pat_is(n, "Gemm") && n->n_inputs >= 2 && n->n_inputs <= 3 && n->n_outputs == 1) return p;
        if (!(spd_pat_is(n, "Reshape") || spd_pat_is(n, "Transpose")) || n->n_inputs < 1 || n->n_outputs != 1)
            return -1;
        v = n->inputs[0];
        reader = p;
    }
    return -1;
}

/* Div(MatMul(P, Q), c) or Mul by a scalar constant, P or Q from a Gemm:
 * the Gemm's alpha and beta take the scale and the MatMul the Div's output. */
static spd_status fold_scales(spd_graph *g, int *folded)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *d = &g->nodes[i];
        int is_div = spd_pat_is(d, "Div");
        if (!(is_div || spd_pat_is(d, "Mul")) || d->n_inputs != 2 || d->n_outputs != 1) continue;
        int ci = -1;
        for (int k = is_div ? 1 : 0; k < 2 && ci < 0; k++) {
            const spd_tensor *t = spd_pat_float_const(g, d->inputs[k]);
            if (t && spd_tensor_numel(t) == 1 && t->ndim == 0) ci = k;
        }
        if (ci < 0) continue;
        double c = spd_tensor_get(spd_pat_float_const(g, d->inputs[ci]), 0);
        double s = is_div ? 1.0 / c : c;
        if (!isfinite(s) || s == 0) continue;
        const char *x = d->inputs[1 - ci];
        int mm = spd_pat_producer_is(g, x, "MatMul");
        if (mm < 0 || spd_pat_sole_consumer(g, x) != i || g->nodes[mm].n_outputs != 1) continue;
        /* MatMul(P, P) would take the scale twice */
        if (g->nodes[mm].n_inputs != 2 || !strcmp(g->nodes[mm].inputs[0], g->nodes[mm].inputs[1])) continue;
        int gi = -1;
        for (int k = 0; k < 2 && gi < 0; k++)
            gi = gemm_through_layout(g, g->nodes[mm].inputs[k], mm);
        if (gi < 0) continue;
        spd_node *gn = &g->nodes[gi];
        SPD_TRY(spd_node_set_float(gn, "alpha", (float)(spd_attr_float(gn, "alpha", 1.0f) * s)));
        if (gn->n_inputs > 2 && gn->inputs[2][0])
            SPD_TRY(spd_node_set_float(gn, "beta", (float)(spd_attr_float(gn, "beta", 1.0f) * s)));
        SPD_TRY(spd_node_set_output(&g->nodes[mm], 0, g->nodes[i].outputs[0]));
        spd_graph_remove_node(g, i);
        (*folded)++;
    }
    return SPD_OK;
}

spd_status spd_pass_fuse_matmul_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    shape_ctx sc = {shapes, {0, 0, NULL}};
    int to_gemm = 0, moved = 0, removed = 0, folded = 0;
    spd_status st = matmul_bias_to_gemm(m, &sc, &to_gemm);
    if (st == SPD_OK) st = sink_reshapes(g, &sc, &moved);
    if (st == SPD_OK && to_gemm) st = transposes_to_reshapes(g, &sc, &moved);
    if (st == SPD_OK && to_gemm) st = sink_below_slices(g, &sc, &moved);
    if (st == SPD_OK) st = merge_reshapes(g, &sc, &removed);
    if (st == SPD_OK) st = fold_scales(g, &folded);
    spd_shapes_free(&sc.extra);
    spd_graph_compact(g);
    SPD_TRY(st);
    if (to_gemm + moved + removed + folded) SPD_TRY(spd_graph_toposort(g));
    if (rep) {
        rep->matmul_to_gemm += to_gemm;
        rep->removed_reshapes += removed;
        rep->folded_scales += folded;
    }
    return SPD_OK;
}
