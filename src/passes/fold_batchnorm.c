/* BatchNormalization folding. In inference BN is y = x * s + t per channel,
 * s = scale / sqrt(var + eps), t = bias - mean * s; after a linear operator
 * with constant weights it folds into them: Conv scales each filter, Gemm
 * and MatMul scale each output column, and t joins the bias. New weight
 * initializers are made, so weights shared with other nodes are untouched.
 * A float BN that nothing absorbs (after a Concat, an Add, a graph input)
 * becomes ai.speedster ChannelAffine(x, s, t) (ops/channel_affine.c), which
 * an activation after it can join. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

typedef struct bn_params {
    int64_t c;       /* channels */
    double *s, *t;
} bn_params;

/* The per-channel affine form of an inference BN node, or 0. */
static int bn_affine(const spd_model *m, const spd_node *n, bn_params *p)
{
    const spd_graph *g = m->graph;
    memset(p, 0, sizeof *p);
    if (n->n_inputs < 5 || n->n_outputs < 1 || !n->outputs[0][0]) return 0;
    for (int k = 1; k < n->n_outputs; k++)
        if (n->outputs[k][0] && spd_graph_use_count(g, n->outputs[k]) > 0) return 0;
    if (spd_attr_int(n, "training_mode", 0) != 0) return 0;
    if (spd_attr_int(n, "spatial", 1) != 1) return 0; /* opset < 9: per-element statistics */
    const spd_tensor *sc = spd_pat_float_const(g, n->inputs[1]), *b = spd_pat_float_const(g, n->inputs[2]);
    const spd_tensor *mean = spd_pat_float_const(g, n->inputs[3]), *var = spd_pat_float_const(g, n->inputs[4]);
    if (!sc || !b || !mean || !var) return 0;
    int64_t c = spd_tensor_numel(sc);
    if (c < 1 || sc->ndim != 1 || spd_tensor_numel(b) != c || spd_tensor_numel(mean) != c ||
        spd_tensor_numel(var) != c)
        return 0;
    double eps = spd_attr_float(n, "epsilon", 1e-5f);
    p->s = spd_malloc((size_t)c * sizeof(double));
    p->t = spd_malloc((size_t)c * sizeof(double));
    if (!p->s || !p->t) {
        spd_free(p->s);
        spd_free(p->t);
        p->s = p->t = NULL;
        return 0;
    }
    p->c = c;
    const float *fs = sc->data, *fb = b->data, *fm = mean->data, *fv = var->data;
    for (int64_t i = 0; i < c; i++) {
        p->s[i] = fs[i] / sqrt((double)fv[i] + eps);
        p->t[i] = fb[i] - fm[i] * p->s[i];
    }
    return 1;
}

static void bn_free(bn_params *p)
{
    spd_free(p->s);
    spd_free(p->t);
}

/* Points the producer's output at the BN's output and removes the BN. */
static spd_status retarget(spd_graph *g, int prod, const char *from, int bn)
{
    spd_node *pn = &g->nodes[prod];
    for (int k = 0; k < pn->n_outputs; k++)
        if (!strcmp(pn->outputs[k], from)) {
            SPD_TRY(spd_node_set_output(pn, k, g->nodes[bn].outputs[0]));
            break;
        }
    spd_graph_remove_node(g, bn);
    return SPD_OK;
}

/* Replaces input k of node i by a new float initializer. */
static spd_status set_new_input(spd_graph *g, int i, int k, const char *base, int ndim, const int64_t *dims,
                                const float *data)
{
    char *name;
    SPD_TRY(spd_pat_add_floats(g, base, ndim, dims, data, &name));
    spd_status st = spd_node_set_input(&g->nodes[i], k, name);
    spd_free(name);
    return st;
}

static spd_status fold_conv(spd_graph *g, int conv, int bn, const bn_params *p, int *done)
{
    spd_node *cn = &g->nodes[conv];
    *done = 0;
    if (cn->n_inputs < 2) return SPD_OK;
    const spd_tensor *w = spd_pat_float_const(g, cn->inputs[1]);
    if (!w || w->ndim < 3 || w->dims[0] != p->c) return SPD_OK;
    const spd_tensor *b = NULL;
    if (cn->n_inputs > 2 && cn->inputs[2][0]) {
        b = spd_pat_float_const(g, cn->inputs[2]);
        if (!b || spd_tensor_numel(b) != p->c) return SPD_OK;
    }
    int64_t per = spd_tensor_numel(w) / p->c;
    float *nw = spd_malloc((size_t)spd_tensor_numel(w) * sizeof(float) + 1);
    float *nb = spd_malloc((size_t)p->c * sizeof(float));
    spd_status st = SPD_OK;
    if (!nw || !nb) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    const float *fw = w->data, *fb = b ? b->data : NULL;
    for (int64_t o = 0; o < p->c; o++) {
        for (int64_t k = 0; k < per; k++) nw[o * per + k] = (float)(fw[o * per + k] * p->s[o]);
        nb[o] = (float)((fb ? fb[o] : 0.0) * p->s[o] + p->t[o]);
    }
    int64_t wdims[SPD_MAX_DIMS];
    memcpy(wdims, w->dims, sizeof wdims);
    int wnd = w->ndim;
    /* w and b may move once initializers are added: read everything first */
    if ((st = set_new_input(g, conv, 1, "bnfold_W", wnd, wdims, nw)) != SPD_OK) goto done;
    if ((st = set_new_input(g, conv, 2, "bnfold_B", 1, &p->c, nb)) != SPD_OK) goto done;
    st = retarget(g, conv, g->nodes[bn].inputs[0], bn);
    *done = st == SPD_OK;
done:
    spd_free(nw);
    spd_free(nb);
    return st;
}

static spd_status fold_gemm(spd_graph *g, int64_t opset, int gemm, int bn, const bn_params *p, int *done)
{
    spd_node *gn = &g->nodes[gemm];
    *done = 0;
    if (gn->n_inputs < 2) return SPD_OK;
    const spd_tensor *w = spd_pat_float_const(g, gn->inputs[1]);
    if (!w || w->ndim != 2) return SPD_OK;
    int tb = spd_attr_int(gn, "transB", 0) != 0;
    int64_t n = tb ? w->dims[0] : w->dims[1], k = tb ? w->dims[1] : w->dims[0];
    if (n != p->c) return SPD_OK;
    const spd_tensor *c = NULL;
    int64_t rows = 1;
    if (gn->n_inputs > 2 && gn->inputs[2][0]) {
        c = spd_pat_float_const(g, gn->inputs[2]);
        if (!c || c->ndim > 2) return SPD_OK;
        int64_t last = c->ndim ? c->dims[c->ndim - 1] : 1;
        if (last != 1 && last != n) return SPD_OK;
        rows = c->ndim == 2 ? c->dims[0] : 1;
    }
    double beta = spd_attr_float(gn, "beta", 1.0f);
    float *nw = spd_malloc((size_t)(n * k) * sizeof(float) + 1);
    float *nc = spd_malloc((size_t)(rows * n) * sizeof(float) + 1);
    spd_status st = SPD_OK;
    if (!nw || !nc) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    const float *fw = w->data;
    for (int64_t a = 0; a < w->dims[0]; a++)
        for (int64_t b = 0; b < w->dims[1]; b++)
            nw[a * w->dims[1] + b] = (float)(fw[a * w->dims[1] + b] * p->s[tb ? a : b]);
    /* beta * C joins t, so the new Gemm has beta = 1 */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) {
            double cv = 0;
            if (c) {
                int64_t last = c->ndim ? c->dims[c->ndim - 1] : 1;
                cv = ((const float *)c->data)[r * last + (last == 1 ? 0 : j)];
            }
            nc[r * n + j] = (float)(beta * cv * p->s[j] + p->t[j]);
        }
    int64_t wdims[2] = {w->dims[0], w->dims[1]}, cdims[2] = {rows, n};
    int cnd = c && c->ndim == 2 ? 2 : 1;
    if ((st = set_new_input(g, gemm, 1, "bnfold_W", 2, wdims, nw)) != SPD_OK) goto done;
    if ((st = set_new_input(g, gemm, 2, "bnfold_C", cnd, cnd == 2 ? cdims : cdims + 1, nc)) != SPD_OK) goto done;
    if ((st = spd_node_set_float(&g->nodes[gemm], "beta", 1.0f)) != SPD_OK) goto done;
    /* Gemm before opset 7 broadcasts C only when told to */
    if (opset < 7 && (st = spd_node_set_int(&g->nodes[gemm], "broadcast", 1)) != SPD_OK) goto done;
    st = retarget(g, gemm, g->nodes[bn].inputs[0], bn);
    *done = st == SPD_OK;
done:
    spd_free(nw);
    spd_free(nc);
    return st;
}

/* MatMul(A, W) [+ bias] -> BN, with BN over the last axis (a 2-D value). */
static spd_status fold_matmul(spd_graph *g, const spd_shape_table *tab, int bn, const bn_params *p, int *done)
{
    *done = 0;
    const char *x = g->nodes[bn].inputs[0];
    int add = spd_pat_producer_is(g, x, "Add"), mm = -1;
    const char *bias_name = NULL;
    if (add >= 0) {
        const spd_node *an = &g->nodes[add];
        if (an->n_inputs != 2 || spd_node_attr(an, "axis")) return SPD_OK; /* opset < 7 axis broadcast */
        int which = -1;
        for (int k = 0; k < 2; k++) {
            int q = spd_pat_producer_is(g, an->inputs[k], "MatMul");
            if (q >= 0 && spd_pat_float_const(g, an->inputs[1 - k])) { which = k; mm = q; }
        }
        if (which < 0 || spd_pat_sole_consumer(g, an->inputs[which]) != add) return SPD_OK;
        bias_name = an->inputs[1 - which];
    } else {
        mm = spd_pat_producer_is(g, x, "MatMul");
        if (mm < 0) return SPD_OK;
    }
    const spd_node *mn = &g->nodes[mm];
    if (mn->n_inputs != 2) return SPD_OK;
    const spd_tensor *w = spd_pat_float_const(g, mn->inputs[1]);
    if (!w || w->ndim != 2 || w->dims[1] != p->c) return SPD_OK;
    if (spd_pat_rank(tab, g, x) != 2 && spd_pat_rank(tab, g, mn->inputs[0]) != 2) return SPD_OK;
    const spd_tensor *b = NULL;
    if (bias_name) {
        b = spd_pat_float_const(g, bias_name);
        int64_t nb = spd_tensor_numel(b);
        if (b->ndim > 2 || (b->ndim == 2 && b->dims[0] != 1) || (nb != 1 && nb != p->c)) return SPD_OK;
    }
    int64_t n = p->c, kdim = w->dims[0];
    float *nw = spd_malloc((size_t)(n * kdim) * sizeof(float) + 1);
    float *nbias = spd_malloc((size_t)n * sizeof(float));
    spd_status st = SPD_OK;
    if (!nw || !nbias) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    const float *fw = w->data;
    for (int64_t a = 0; a < kdim; a++)
        for (int64_t j = 0; j < n; j++) nw[a * n + j] = (float)(fw[a * n + j] * p->s[j]);
    for (int64_t j = 0; j < n; j++) {
        double bv = b ? ((const float *)b->data)[spd_tensor_numel(b) == 1 ? 0 : j] : 0.0;
        nbias[j] = (float)(bv * p->s[j] + p->t[j]);
    }
    int64_t wdims[2] = {kdim, n};
    if ((st = set_new_input(g, mm, 1, "bnfold_W", 2, wdims, nw)) != SPD_OK) goto done;
    char *bname = NULL;
    if ((st = spd_pat_add_floats(g, "bnfold_B", 1, &n, nbias, &bname)) != SPD_OK) goto done;
    if (add >= 0) {
        /* the Add keeps its place and now reads the folded bias */
        spd_node *an = &g->nodes[add];
        int bk = strcmp(an->inputs[0], bias_name) ? 1 : 0;
        st = spd_node_set_input(an, bk, bname);
        if (st == SPD_OK) st = retarget(g, add, x, bn);
    } else {
        /* the BN node becomes the bias Add */
        const char *ins[2] = {x, bname};
        const char *outs[1] = {g->nodes[bn].outputs[0]};
        st = spd_graph_replace_node(g, bn, "Add", "", 2, ins, 1, outs);
    }
    spd_free(bname);
    *done = st == SPD_OK;
done:
    spd_free(nw);
    spd_free(nbias);
    return st;
}

/* BN node i -> ChannelAffine(x, s, t). */
static spd_status to_affine(spd_graph *g, int i, const bn_params *p)
{
    float *fs = spd_malloc((size_t)p->c * sizeof(float)), *ft = spd_malloc((size_t)p->c * sizeof(float));
    spd_status st = fs && ft ? SPD_OK : spd_errorf(SPD_ERR_NOMEM, "out of memory");
    char *sn = NULL, *tn = NULL;
    if (st == SPD_OK) {
        for (int64_t c = 0; c < p->c; c++) fs[c] = (float)p->s[c], ft[c] = (float)p->t[c];
        st = spd_pat_add_floats(g, "bn_scale", 1, &p->c, fs, &sn);
    }
    if (st == SPD_OK) st = spd_pat_add_floats(g, "bn_shift", 1, &p->c, ft, &tn);
    if (st == SPD_OK) {
        const char *ins[3] = {g->nodes[i].inputs[0], sn, tn}, *outs[1] = {g->nodes[i].outputs[0]};
        st = spd_graph_replace_node(g, i, "ChannelAffine", "ai.speedster", 3, ins, 1, outs);
    }
    spd_free(sn);
    spd_free(tn);
    spd_free(fs);
    spd_free(ft);
    return st;
}

spd_status spd_pass_fold_batchnorm_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int count = 0;
    spd_status st = SPD_OK;
    for (int i = 0; i < g->n_nodes && st == SPD_OK; i++) {
        const spd_node *n = &g->nodes[i];
        if (!spd_pat_is(n, "BatchNormalization")) continue;
        const char *x = n->inputs[0];
        int prod = spd_graph_producer(g, x);
        if (prod < 0 || spd_pat_sole_consumer(g, x) != i) continue;
        bn_params p;
        if (!bn_affine(m, n, &p)) continue;
        int done = 0;
        const spd_node *pn = &g->nodes[prod];
        if (spd_pat_is(pn, "Conv")) st = fold_conv(g, prod, i, &p, &done);
        else if (spd_pat_is(pn, "Gemm")) st = fold_gemm(g, spd_model_opset(m, ""), prod, i, &p, &done);
        else if (spd_pat_is(pn, "MatMul") || spd_pat_is(pn, "Add")) st = fold_matmul(g, shapes, i, &p, &done);
        bn_free(&p);
        count += done;
    }
    spd_graph_compact(g);
    int affine = 0;
    for (int i = 0; i < g->n_nodes && st == SPD_OK; i++) {
        const spd_node *n = &g->nodes[i];
        /* float X: known, or implied by float statistics, which share X's
         * type before opset 15 */
        if (!spd_pat_is(n, "BatchNormalization") || !n->inputs[0][0] ||
            !(spd_pat_is_float(shapes, g, n->inputs[0]) || spd_model_opset(m, "") < 15))
            continue;
        bn_params p;
        if (!bn_affine(m, n, &p)) continue;
        st = to_affine(g, i, &p);
        bn_free(&p);
        affine += st == SPD_OK;
    }
    spd_graph_compact(g);
    if (affine && st == SPD_OK) st = spd_model_require_opset(m, "ai.speedster", 1);
    if (rep) {
        rep->folded_batchnorm += count;
        rep->batchnorm_affine += affine;
    }
    return st;
}

spd_status spd_pass_fold_batchnorm(spd_model *m)
{
    return spd_pass_fold_batchnorm_ex(m, NULL, NULL);
}
