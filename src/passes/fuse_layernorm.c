/* LayerNorm fusion: the primitive pattern PyTorch exports for nn.LayerNorm
 * below opset 17,
 *     d = x - ReduceMean(x); v = ReduceMean(d^2)        (d^2: Pow(d, 2) or d*d)
 *     n = d / Sqrt(v + eps)                             (or d * Reciprocal(...))
 *     y = n * gamma + beta                              (each optional)
 * over trailing axes, becomes com.microsoft LayerNormalization(x, gamma,
 * beta) with axis = first normalized axis (negative) and epsilon. */
#include <string.h>

#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

#define MAXN 12

typedef struct ln_match {
    int nodes[MAXN], n;   /* matched nodes; the last produces the result */
    const char *x;
    int64_t axis;         /* negative */
    double eps;
    const char *gamma, *beta;
} ln_match;

static void push(ln_match *c, int i) { if (c->n < MAXN) c->nodes[c->n++] = i; }

static int next_is(const spd_graph *g, const char *name, const char *op)
{
    int c = spd_pat_sole_consumer(g, name);
    return c >= 0 && spd_pat_is(&g->nodes[c], op) ? c : -1;
}

/* ReduceMean's axes as a trailing run -k..-1; returns k (0 if not). */
static int trailing_axes(const spd_model *m, const spd_shape_table *tab, const spd_node *n)
{
    const spd_graph *g = m->graph;
    if (spd_attr_int(n, "keepdims", 1) != 1) return 0;
    int64_t ax[SPD_MAX_DIMS];
    int na = 0;
    if (spd_model_opset(m, "") >= 18) {
        if (n->n_inputs < 2 || !n->inputs[1][0]) return 0;
        const spd_tensor *t = spd_pat_const(g, n->inputs[1]);
        if (!t || t->ndim != 1 || !spd_dtype_is_int(t->dtype) || t->dims[0] < 1 || t->dims[0] > SPD_MAX_DIMS) return 0;
        na = (int)t->dims[0];
        for (int i = 0; i < na; i++) ax[i] = spd_tensor_get_i64(t, i);
    } else {
        size_t cnt;
        const int64_t *a = spd_attr_ints(n, "axes", &cnt);
        if (!a || cnt < 1 || cnt > SPD_MAX_DIMS) return 0;
        na = (int)cnt;
        memcpy(ax, a, cnt * sizeof *a);
    }
    int rank = spd_pat_rank(tab, g, n->inputs[0]);
    int seen[SPD_MAX_DIMS + 1] = {0};
    for (int i = 0; i < na; i++) {
        int64_t a = ax[i];
        if (a >= 0) {
            if (rank < 0 || a >= rank) return 0;
            a -= rank;
        }
        if (a < -na || a > -1 || seen[-a]) return 0;
        seen[-a] = 1;
    }
    return na;
}

static int same_axes(const spd_model *m, const spd_shape_table *tab, const spd_node *a, const spd_node *b)
{
    int ka = trailing_axes(m, tab, a);
    return ka > 0 && ka == trailing_axes(m, tab, b);
}

static int match(const spd_model *m, const spd_shape_table *tab, int r1, ln_match *lm)
{
    const spd_graph *g = m->graph;
    memset(lm, 0, sizeof *lm);
    const spd_node *rn = &g->nodes[r1];
    if (rn->n_outputs != 1) return 0;
    int k = trailing_axes(m, tab, rn);
    if (k <= 0) return 0;
    const char *x = rn->inputs[0];
    int sub = next_is(g, rn->outputs[0], "Sub");
    if (sub < 0 || g->nodes[sub].n_inputs != 2 || strcmp(g->nodes[sub].inputs[0], x)) return 0;
    const char *d = g->nodes[sub].outputs[0];
    if (spd_graph_output_index(g, d) >= 0) return 0;
    int cons[3];
    if (spd_graph_consumers(g, d, cons, 3) != 2) return 0;
    /* one consumer squares d, the other divides it */
    int sq = -1, dv = -1;
    for (int i = 0; i < 2; i++) {
        const spd_node *c = &g->nodes[cons[i]];
        double e;
        if (spd_pat_is(c, "Pow") && c->n_inputs == 2 && !strcmp(c->inputs[0], d) &&
            spd_pat_scalar(g, c->inputs[1], &e) && e == 2.0)
            sq = cons[i];
        else if (spd_pat_is(c, "Mul") && c->n_inputs == 2 && !strcmp(c->inputs[0], d) && !strcmp(c->inputs[1], d))
            sq = cons[i];
        else
            dv = cons[i];
    }
    if (sq < 0 || dv < 0) return 0;
    int r2 = next_is(g, g->nodes[sq].outputs[0], "ReduceMean");
    if (r2 < 0 || !same_axes(m, tab, rn, &g->nodes[r2])) return 0;
    int ae = next_is(g, g->nodes[r2].outputs[0], "Add");
    if (ae < 0) return 0;
    const char *epsn = spd_pat_other_input(&g->nodes[ae], g->nodes[r2].outputs[0]);
    double eps;
    if (!epsn || !spd_pat_scalar(g, epsn, &eps) || eps < 0) return 0;
    int sq_root = next_is(g, g->nodes[ae].outputs[0], "Sqrt");
    if (sq_root < 0) return 0;
    const char *s = g->nodes[sq_root].outputs[0];
    push(lm, r1);
    push(lm, sub);
    push(lm, sq);
    push(lm, r2);
    push(lm, ae);
    push(lm, sq_root);
    const spd_node *dn = &g->nodes[dv];
    if (spd_pat_is(dn, "Div")) {
        if (dn->n_inputs != 2 || strcmp(dn->inputs[0], d) || strcmp(dn->inputs[1], s) ||
            spd_pat_sole_consumer(g, s) != dv)
            return 0;
    } else if (spd_pat_is(dn, "Mul")) {
        int rc = next_is(g, s, "Reciprocal");
        if (rc < 0 || spd_pat_sole_consumer(g, g->nodes[rc].outputs[0]) != dv) return 0;
        const char *o = spd_pat_other_input(dn, d);
        if (!o || strcmp(o, g->nodes[rc].outputs[0])) return 0;
        push(lm, rc);
    } else {
        return 0;
    }
    push(lm, dv);
    const char *cur = dn->outputs[0];
    int mg = next_is(g, cur, "Mul");
    if (mg >= 0) {
        const char *gm = spd_pat_other_input(&g->nodes[mg], cur);
        if (gm && spd_pat_float_const(g, gm) && !spd_node_attr(&g->nodes[mg], "axis")) {
            lm->gamma = gm;
            push(lm, mg);
            cur = g->nodes[mg].outputs[0];
        }
    }
    int ab = next_is(g, cur, "Add");
    if (ab >= 0) {
        const char *bt = spd_pat_other_input(&g->nodes[ab], cur);
        if (bt && spd_pat_float_const(g, bt) && !spd_node_attr(&g->nodes[ab], "axis")) {
            lm->beta = bt;
            push(lm, ab);
        }
    }
    lm->x = x;
    lm->axis = -k;
    lm->eps = eps;
    return 1;
}

/* The normalized shape (the last k dims of x): from x's known shape, else
 * from gamma or beta when they spell it out (rank k, no broadcast dims). */
static int normalized_shape(const spd_shape_table *tab, const spd_graph *g, const ln_match *lm, int k,
                            int64_t *nd)
{
    spd_shape_entry tmp;
    const spd_shape_entry *e = spd_shape_lookup(tab, g, lm->x, &tmp);
    if (e && e->ndim >= k) {
        int known = 1;
        for (int i = 0; i < k; i++) {
            nd[i] = e->dims[e->ndim - k + i];
            known &= nd[i] >= 0;
        }
        if (known) return 1;
    }
    const char *cands[2] = {lm->gamma, lm->beta};
    for (int c = 0; c < 2; c++) {
        if (!cands[c]) continue;
        const spd_tensor *t = spd_pat_float_const(g, cands[c]);
        int lead = 0;
        while (lead < t->ndim - k && t->dims[lead] == 1) lead++;
        if (t->ndim - lead != k) continue;
        int ok = 1;
        for (int i = 0; i < k; i++) {
            nd[i] = t->dims[lead + i];
            ok &= nd[i] > 1;
        }
        if (ok) return 1;
    }
    return 0;
}

/* t broadcast to shape nd (k dims) into a new float initializer; 0 if t
 * does not broadcast to it without growing the result. */
static spd_status expand_param(spd_graph *g, const spd_tensor *t, int k, const int64_t *nd, double fill,
                               const char *base, char **name, int *ok)
{
    *ok = 0;
    *name = NULL;
    int64_t total = spd_dims_prod(nd, 0, k);
    int64_t strides[SPD_MAX_DIMS] = {0};
    if (t) {
        if (t->ndim > k) {
            for (int i = 0; i < t->ndim - k; i++)
                if (t->dims[i] != 1) return SPD_OK;
        }
        int64_t st = 1;
        for (int i = t->ndim - 1, j = k - 1; i >= 0 && j >= 0; i--, j--) {
            if (t->dims[i] != nd[j] && t->dims[i] != 1) return SPD_OK;
            strides[j] = t->dims[i] == 1 ? 0 : st;
            st *= t->dims[i];
        }
    }
    float *v = spd_malloc((size_t)total * sizeof(float) + 1);
    if (!v) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < total; i++) {
        if (!t) { v[i] = (float)fill; continue; }
        int64_t rem = i, off = 0;
        for (int j = k - 1; j >= 0; j--) {
            off += (rem % nd[j]) * strides[j];
            rem /= nd[j];
        }
        v[i] = ((const float *)t->data)[off];
    }
    spd_status st = spd_pat_add_floats(g, base, k, nd, v, name);
    spd_free(v);
    *ok = st == SPD_OK;
    return st;
}

static spd_status rewrite(spd_model *m, const spd_shape_table *tab, const ln_match *lm, int *done)
{
    spd_graph *g = m->graph;
    *done = 0;
    int k = (int)-lm->axis;
    int64_t nd[SPD_MAX_DIMS];
    if (!normalized_shape(tab, g, lm, k, nd)) return SPD_OK;
    /* without gamma/beta the dtype comes only from x */
    if (!lm->gamma && !lm->beta) {
        spd_shape_entry tmp;
        const spd_shape_entry *e = spd_shape_lookup(tab, g, lm->x, &tmp);
        if (!e || e->dtype != SPD_FLOAT) return SPD_OK;
    }
    char *scale = NULL, *bias = NULL;
    int ok = 0;
    spd_status st = expand_param(g, lm->gamma ? spd_pat_float_const(g, lm->gamma) : NULL, k, nd, 1.0,
                                 "ln_scale", &scale, &ok);
    if (st == SPD_OK && ok && lm->beta)
        st = expand_param(g, spd_pat_float_const(g, lm->beta), k, nd, 0.0, "ln_bias", &bias, &ok);
    if (st != SPD_OK || !ok) {
        /* an unused new initializer is dropped by the dead-code pass */
        spd_free(scale);
        spd_free(bias);
        return st;
    }
    int last = lm->nodes[lm->n - 1];
    const char *ins[3] = {lm->x, scale, bias};
    const char *outs[1] = {g->nodes[last].outputs[0]};
    st = spd_graph_replace_node(g, last, "LayerNormalization", "com.microsoft", bias ? 3 : 2, ins, 1, outs);
    spd_free(scale);
    spd_free(bias);
    SPD_TRY(st);
    spd_node *n = &g->nodes[last];
    SPD_TRY(spd_node_set_int(n, "axis", lm->axis));
    SPD_TRY(spd_node_set_float(n, "epsilon", (float)lm->eps));
    for (int i = 0; i < lm->n - 1; i++) spd_graph_remove_node(g, lm->nodes[i]);
    *done = 1;
    return SPD_OK;
}

spd_status spd_pass_fuse_layernorm_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int count = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!spd_pat_is(&g->nodes[i], "ReduceMean")) continue;
        ln_match lm;
        if (!match(m, shapes, i, &lm)) continue;
        int done;
        SPD_TRY(rewrite(m, shapes, &lm, &done));
        count += done;
    }
    spd_graph_compact(g);
    if (count) SPD_TRY(spd_model_require_opset(m, "com.microsoft", 1));
    if (rep) rep->fused_layernorm += count;
    return SPD_OK;
}

spd_status spd_pass_fuse_layernorm(spd_model *m)
{
    return spd_pass_fuse_layernorm_ex(m, NULL, NULL);
}
