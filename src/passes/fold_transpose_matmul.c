/* Transposes around a MatMul folded into ai.speedster PermutedMatMul
 * (ops/matmul_perm.c).
 *
 * Attention splits Q, K and V into heads with Transposes ([b, t, h, d] ->
 * [b, h, t, d], and K further to [b, h, d, t]) and merges the context back
 * with another; each is a full copy of the tensor. A Transpose read only by
 * a MatMul becomes that operand's perm_a/perm_b, and a Transpose that is the
 * MatMul's only reader becomes perm_y, when the GEMM can still read the
 * operand (or write the result) through strides: the operand's innermost
 * dim stays among its last two, the result's last dim stays last. A Div or
 * Mul by a scalar constant between the Transpose and the MatMul (ViT scales
 * Q there) goes into alpha. Needs the sample run's shapes: MatMul's batch
 * broadcasting is left to MatMul. */
#include <string.h>

#include "passes/pattern.h"
#include "util/status.h"

/* Transpose node t's perm for rank r (reversed dims when absent); 0 when
 * it is malformed. */
static int transpose_perm(const spd_node *t, int r, int64_t *perm)
{
    size_t cnt;
    const int64_t *p = spd_attr_ints(t, "perm", &cnt);
    for (int i = 0; i < r; i++) perm[i] = p ? (i < (int)cnt ? p[i] : -1) : r - 1 - i;
    if (p && (int)cnt != r) return 0;
    for (int i = 0; i < r; i++)
        if (perm[i] < 0 || perm[i] >= r) return 0;
    return 1;
}

static int is_identity(const int64_t *perm, int r)
{
    for (int i = 0; i < r; i++)
        if (perm[i] != i) return 0;
    return 1;
}

/* What feeds one MatMul operand: the value read in the end, its perm, and
 * the nodes that go (Transpose, scaling node; -1 when none). */
typedef struct operand {
    const char *src;
    int64_t perm[SPD_MAX_DIMS];
    int transpose, scale;
    double factor;
} operand;

static void find_operand(const spd_graph *g, int mm, const char *name, int r, operand *o)
{
    o->src = name;
    for (int i = 0; i < r; i++) o->perm[i] = i;
    o->transpose = o->scale = -1;
    o->factor = 1.0;
    const char *x = name;
    int reader = mm;
    /* a scalar Div or Mul read only by the MatMul, over a Transpose */
    int s = spd_pat_producer_is(g, name, "Div");
    if (s < 0) s = spd_pat_producer_is(g, name, "Mul");
    if (s >= 0 && spd_pat_sole_consumer(g, name) == mm && g->nodes[s].n_inputs == 2) {
        const spd_node *sn = &g->nodes[s];
        double c;
        const char *t_in = NULL;
        if (spd_pat_is(sn, "Div") && spd_pat_scalar(g, sn->inputs[1], &c) && c != 0.0) {
            t_in = sn->inputs[0];
            c = 1.0 / c;
        } else if (spd_pat_is(sn, "Mul") && spd_pat_scalar(g, sn->inputs[1], &c)) {
            t_in = sn->inputs[0];
        } else if (spd_pat_is(sn, "Mul") && spd_pat_scalar(g, sn->inputs[0], &c)) {
            t_in = sn->inputs[1];
        }
        if (t_in && spd_pat_producer_is(g, t_in, "Transpose") >= 0) {
            x = t_in;
            reader = s;
            o->scale = s;
            o->factor = c;
        }
    }
    const int t = spd_pat_producer_is(g, x, "Transpose");
    int64_t perm[SPD_MAX_DIMS];
    /* the GEMM reads the operand in place only when its innermost dim
     * stays among the last two */
    if (t < 0 || spd_pat_sole_consumer(g, x) != reader || g->nodes[t].n_inputs != 1 ||
        !transpose_perm(&g->nodes[t], r, perm) || (perm[r - 1] != r - 1 && perm[r - 2] != r - 1)) {
        o->scale = -1;
        o->factor = 1.0;
        return;
    }
    o->src = g->nodes[t].inputs[0];
    memcpy(o->perm, perm, sizeof perm);
    o->transpose = t;
}

/* Both operands float32 with known shapes of one rank and equal batch
 * dims (no broadcasting). */
static int plain_batched(const spd_shape_table *tab, const spd_graph *g, const spd_node *n, int *rank)
{
    spd_shape_entry ta, tb;
    const spd_shape_entry *a = spd_shape_lookup(tab, g, n->inputs[0], &ta);
    const spd_shape_entry *b = spd_shape_lookup(tab, g, n->inputs[1], &tb);
    if (!a || !b || a->dtype != SPD_FLOAT || b->dtype != SPD_FLOAT || a->ndim < 2 || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim - 2; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    *rank = a->ndim;
    return 1;
}

spd_status spd_pass_fold_transpose_matmul_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g || !shapes) return SPD_OK;
    int folded = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        int r;
        if (!spd_pat_is(n, "MatMul") || n->n_inputs != 2 || n->n_outputs != 1 || !plain_batched(shapes, g, n, &r))
            continue;
        operand a, b;
        find_operand(g, i, n->inputs[0], r, &a);
        find_operand(g, i, n->inputs[1], r, &b);
        /* the result's Transpose: its last dim must stay last */
        int64_t py[SPD_MAX_DIMS];
        const char *out = n->outputs[0];
        int ty = spd_pat_sole_consumer(g, out);
        if (ty >= 0 && (!spd_pat_is(&g->nodes[ty], "Transpose") || g->nodes[ty].n_outputs != 1 ||
                        !transpose_perm(&g->nodes[ty], r, py) || py[r - 1] != r - 1))
            ty = -1;
        if (ty >= 0) out = g->nodes[ty].outputs[0];
        const int found = (a.transpose >= 0) + (b.transpose >= 0) + (ty >= 0);
        if (!found) continue;
        const char *ins[2] = {a.src, b.src};
        const char *outs[1] = {out};
        SPD_TRY(spd_graph_replace_node(g, i, "PermutedMatMul", "ai.speedster", 2, ins, 1, outs));
        spd_node *pm = &g->nodes[i];
        if (!is_identity(a.perm, r)) SPD_TRY(spd_node_set_ints(pm, "perm_a", a.perm, (size_t)r));
        if (!is_identity(b.perm, r)) SPD_TRY(spd_node_set_ints(pm, "perm_b", b.perm, (size_t)r));
        if (ty >= 0) SPD_TRY(spd_node_set_ints(pm, "perm_y", py, (size_t)r));
        if (a.factor * b.factor != 1.0) SPD_TRY(spd_node_set_float(pm, "alpha", (float)(a.factor * b.factor)));
        const int gone[5] = {a.transpose, a.scale, b.transpose, b.scale, ty};
        for (int k = 0; k < 5; k++)
            if (gone[k] >= 0) spd_graph_remove_node(g, gone[k]);
        folded += found;
    }
    spd_graph_compact(g);
    if (folded) SPD_TRY(spd_model_require_opset(m, "ai.speedster", 1));
    if (rep) rep->folded_transposes += folded;
    return SPD_OK;
}
