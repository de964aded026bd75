/* GELU fusion. The exact form x * 0.5 * (1 + erf(x / sqrt(2))) becomes
 * com.microsoft Gelu, the tanh approximation
 * 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) becomes FastGelu,
 * in the operand orders exporters write. */
#include <string.h>

#include "passes/pattern.h"
#include "util/status.h"

#define MAXN 12
#define TOL 1e-5

typedef struct chain {
    int nodes[MAXN]; /* the matched nodes, the last one producing the result */
    int n;
} chain;

static void push(chain *c, int i) { if (c->n < MAXN) c->nodes[c->n++] = i; }

/* The sole consumer of `name` if it is `op`; -1 otherwise. */
static int next_is(const spd_graph *g, const char *name, const char *op)
{
    int c = spd_pat_sole_consumer(g, name);
    return c >= 0 && spd_pat_is(&g->nodes[c], op) ? c : -1;
}

/* `name` is a scalar constant near want. */
static int is_const(const spd_graph *g, const char *name, double want)
{
    double v;
    return name && spd_pat_scalar(g, name, &v) && spd_pat_near(v, want, TOL);
}

/* Given c = 1 + f(x), matches 0.5 * x * c in its three groupings:
 * (x * c) * 0.5, (x * 0.5) * c and x * (c * 0.5). */
static int match_half_x(const spd_graph *g, const char *x, const char *c, chain *ch)
{
    int m1 = next_is(g, c, "Mul");
    if (m1 < 0) return 0;
    const char *other = spd_pat_other_input(&g->nodes[m1], c);
    if (!other) return 0;
    if (!strcmp(other, x) || is_const(g, other, 0.5)) {
        int m2 = next_is(g, g->nodes[m1].outputs[0], "Mul");
        if (m2 < 0) return 0;
        const char *o2 = spd_pat_other_input(&g->nodes[m2], g->nodes[m1].outputs[0]);
        int ok = !strcmp(other, x) ? is_const(g, o2, 0.5) : o2 && !strcmp(o2, x);
        if (!ok) return 0;
        push(ch, m1);
        push(ch, m2);
        return 1;
    }
    int h = spd_pat_producer_is(g, other, "Mul");
    if (h < 0 || spd_pat_sole_consumer(g, other) != m1) return 0;
    const char *hx = spd_pat_other_input(&g->nodes[h], x);
    if (!hx || !is_const(g, hx, 0.5)) return 0;
    push(ch, h);
    push(ch, m1);
    return 1;
}

/* The last node of the chain becomes the fused node; the others go. */
static spd_status rewrite(spd_graph *g, const chain *ch, const char *op, const char *x)
{
    int last = ch->nodes[ch->n - 1];
    const char *ins[1] = {x};
    const char *outs[1] = {g->nodes[last].outputs[0]};
    SPD_TRY(spd_graph_replace_node(g, last, op, "com.microsoft", 1, ins, 1, outs));
    for (int k = 0; k < ch->n - 1; k++) spd_graph_remove_node(g, ch->nodes[k]);
    return SPD_OK;
}

/* From an Erf node: Erf(x / sqrt(2)) or Erf(x * (1/sqrt(2))). */
static int match_erf(const spd_graph *g, int erf, const char **x_out, chain *ch)
{
    const spd_node *e = &g->nodes[erf];
    if (e->n_inputs != 1 || e->n_outputs != 1) return 0;
    const char *a = e->inputs[0];
    if (spd_pat_sole_consumer(g, a) != erf) return 0;
    int p = spd_graph_producer(g, a);
    if (p < 0) return 0;
    const spd_node *pn = &g->nodes[p];
    const char *x = NULL;
    if (spd_pat_is(pn, "Div") && pn->n_inputs == 2 && is_const(g, pn->inputs[1], 1.4142135623730951))
        x = pn->inputs[0];
    else if (spd_pat_is(pn, "Mul") && pn->n_inputs == 2) {
        for (int k = 0; k < 2 && !x; k++)
            if (is_const(g, pn->inputs[k], 0.7071067811865476)) x = pn->inputs[1 - k];
    }
    if (!x) return 0;
    int add = next_is(g, e->outputs[0], "Add");
    if (add < 0 || !is_const(g, spd_pat_other_input(&g->nodes[add], e->outputs[0]), 1.0)) return 0;
    ch->n = 0;
    push(ch, p);
    push(ch, erf);
    push(ch, add);
    if (!match_half_x(g, x, g->nodes[add].outputs[0], ch)) return 0;
    *x_out = x;
    return 1;
}

/* x^3 as Pow(x, 3), x * (x * x) or (x * x) * x, produced for `cube`. */
static int match_cube(const spd_graph *g, const char *cube, const char *x, chain *ch)
{
    int p = spd_graph_producer(g, cube);
    if (p < 0 || spd_pat_sole_consumer(g, cube) < 0) return 0;
    const spd_node *pn = &g->nodes[p];
    if (spd_pat_is(pn, "Pow") && pn->n_inputs == 2 && !strcmp(pn->inputs[0], x) && is_const(g, pn->inputs[1], 3.0)) {
        push(ch, p);
        return 1;
    }
    if (!spd_pat_is(pn, "Mul")) return 0;
    const char *sq = spd_pat_other_input(pn, x);
    if (!sq) return 0;
    int q = spd_pat_producer_is(g, sq, "Mul");
    if (q < 0 || spd_pat_sole_consumer(g, sq) != p) return 0;
    const spd_node *qn = &g->nodes[q];
    if (qn->n_inputs != 2 || strcmp(qn->inputs[0], x) || strcmp(qn->inputs[1], x)) return 0;
    push(ch, q);
    push(ch, p);
    return 1;
}

/* From a Tanh node: tanh(c * (x + 0.044715 * x^3)), c = sqrt(2/pi). */
static int match_tanh(const spd_graph *g, int th, const char **x_out, chain *ch)
{
    const spd_node *t = &g->nodes[th];
    if (t->n_inputs != 1 || t->n_outputs != 1) return 0;
    const char *v = t->inputs[0];
    int mv = spd_pat_producer_is(g, v, "Mul");
    if (mv < 0 || spd_pat_sole_consumer(g, v) != th || g->nodes[mv].n_inputs != 2) return 0;
    const char *u = NULL;
    for (int k = 0; k < 2 && !u; k++)
        if (is_const(g, g->nodes[mv].inputs[k], 0.7978845608028654)) u = g->nodes[mv].inputs[1 - k];
    if (!u) return 0;
    int au = spd_pat_producer_is(g, u, "Add");
    if (au < 0 || spd_pat_sole_consumer(g, u) != mv || g->nodes[au].n_inputs != 2) return 0;
    for (int k = 0; k < 2; k++) {
        const char *x = g->nodes[au].inputs[k], *tt = g->nodes[au].inputs[1 - k];
        int mt = spd_pat_producer_is(g, tt, "Mul");
        if (mt < 0 || spd_pat_sole_consumer(g, tt) != au || g->nodes[mt].n_inputs != 2) continue;
        const char *cube = NULL;
        for (int j = 0; j < 2 && !cube; j++)
            if (is_const(g, g->nodes[mt].inputs[j], 0.044715)) cube = g->nodes[mt].inputs[1 - j];
        ch->n = 0;
        if (!cube || !match_cube(g, cube, x, ch)) continue;
        push(ch, mt);
        push(ch, au);
        push(ch, mv);
        push(ch, th);
        int add = next_is(g, t->outputs[0], "Add");
        if (add < 0 || !is_const(g, spd_pat_other_input(&g->nodes[add], t->outputs[0]), 1.0)) return 0;
        push(ch, add);
        if (!match_half_x(g, x, g->nodes[add].outputs[0], ch)) return 0;
        *x_out = x;
        return 1;
    }
    return 0;
}

spd_status spd_pass_fuse_gelu_ex(spd_model *m, spd_pass_report *rep)
{
    spd_graph *g = m->graph;
    if (!g) return SPD_OK;
    int gelu = 0, fast = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const spd_node *n = &g->nodes[i];
        chain ch = {{0}, 0};
        const char *x = NULL;
        if (spd_pat_is(n, "Erf") && match_erf(g, i, &x, &ch)) {
            SPD_TRY(rewrite(g, &ch, "Gelu", x));
            gelu++;
        } else if (spd_pat_is(n, "Tanh") && match_tanh(g, i, &x, &ch)) {
            SPD_TRY(rewrite(g, &ch, "FastGelu", x));
            fast++;
        }
    }
    spd_graph_compact(g);
    if (gelu || fast) SPD_TRY(spd_model_require_opset(m, "com.microsoft", 1));
    if (rep) {
        rep->fused_gelu += gelu;
        rep->fused_fastgelu += fast;
    }
    return SPD_OK;
}

spd_status spd_pass_fuse_gelu(spd_model *m)
{
    return spd_pass_fuse_gelu_ex(m, NULL);
}
