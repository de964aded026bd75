#include "runtime/memplan.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define SLOT_ALIGN 64

/* An input signature: per input its dtype, rank and dims, flattened. */
typedef struct sig {
    int64_t *v;
    int n, cap;
} sig;

struct spd_memplan {
    const spd_program *prog;
    atomic_int busy;
    int n_values;
    int *def, *end;            /* lifetime of each value, in node indices */
    int *alias;                /* per value: the value whose bytes it may take over, -1: none */
    int *cnode;                /* per value: the Concat that may hold it in its output, -1: none */
    unsigned char *cflat;      /* per node: a Concat whose inputs lay end to end in the last run */
    int *par;                  /* lay_out's scratch: the value whose bytes hold v's, -1: none */
    size_t *poff;              /*   and where in them */
    int *gdef, *gend;          /* lay_out's scratch: a group's first definition and last use */
    unsigned char *plannable;  /* produced by a node and not a graph output */
    size_t *sizes;             /* per-call scratch: bytes each value took */
    spd_tensor *vals;          /* per-call scratch: the interpreter's values */
    sig cur, cand, plan;
    size_t *cand_sizes;
    int have_cand, have_plan;
    size_t *offset, *cap;      /* per value; cap 0: not in the arena */
    void *arena;
    size_t arena_bytes;
};

static int sig_put(sig *s, int64_t x)
{
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 64;
        int64_t *nv = spd_realloc(s->v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    return 0;
}

static int sig_set(sig *s, const spd_tensor *const *inputs, int n)
{
    s->n = 0;
    if (sig_put(s, n)) return -1;
    for (int i = 0; i < n; i++) {
        const spd_tensor *t = inputs[i];
        if (!t) {
            if (sig_put(s, -1)) return -1;
            continue;
        }
        if (sig_put(s, t->dtype) || sig_put(s, t->ndim)) return -1;
        for (int d = 0; d < t->ndim; d++)
            if (sig_put(s, t->dims[d])) return -1;
    }
    return 0;
}

static int sig_copy(sig *dst, const sig *src)
{
    dst->n = 0;
    for (int i = 0; i < src->n; i++)
        if (sig_put(dst, src->v[i])) return -1;
    return 0;
}

static int sig_eq(const sig *a, const sig *b)
{
    return a->n == b->n && (a->n == 0 || !memcmp(a->v, b->v, (size_t)a->n * sizeof *a->v));
}

/* Operators whose output holds its input's bytes unchanged (a new shape
 * only): the output shares the input's slot, the two alive as one from the
 * input's definition to the last use of either, and the kernel's copy
 * becomes a no-op (copy_as in ops/shape.c skips a copy onto itself). No
 * kernel writes into its inputs, so sharing bytes is safe while both live.
 * A transformer reshapes every projection this way. */
static int keeps_bytes(const char *op)
{
    return !strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze");
}

/* Concat along an axis with only 1s before it (a batch-1 NCHW concat of
 * channels) lays its inputs end to end: each input can be computed straight
 * into its part of the output, and the Concat copies nothing (op_concat
 * skips a copy onto itself). Squeezenet's fire modules and inception and
 * DenseNet blocks concatenate this way. Which Concats do is learned from a
 * run (spd_memplan_learn). */
static bool is_concat(const spd_pnode *pn)
{
    return pn->n_in >= 2 && pn->n_out == 1 && pn->def && pn->run == pn->def->run && !strcmp(pn->node->op_type, "Concat");
}

/* The value whose bytes hold v's in this layout (v itself for a group's
 * root), with v's byte offset in them; *in_concat: whether v is part of a
 * Concat's output (its slot is then its own size, not the root's). */
static int group_root(const spd_memplan *mp, int v, size_t *off, bool *in_concat)
{
    *off = 0;
    *in_concat = false;
    while (mp->par[v] >= 0) {
        *in_concat |= mp->par[v] != mp->alias[v]; /* a Concat's link, not a shape-only one */
        *off += mp->poff[v];
        v = mp->par[v];
    }
    return v;
}

/* The parent links of this layout: a shape-only operator's output takes its
 * input's bytes when their sizes agree; a flat Concat's inputs take their
 * parts of its output when the sizes add up. */
static void link_groups(spd_memplan *mp, const size_t *sizes)
{
    const spd_program *p = mp->prog;
    for (int v = 0; v < mp->n_values; v++) {
        mp->par[v] = mp->alias[v] >= 0 && sizes[mp->alias[v]] == sizes[v] ? mp->alias[v] : -1;
        mp->poff[v] = 0;
    }
    for (int i = 0; i < p->n_nodes; i++) {
        const spd_pnode *pn = &p->nodes[i];
        if (!mp->cflat[i] || !is_concat(pn)) continue;
        const int y = pn->out[0];
        size_t sum = 0;
        bool mine = true;
        for (int k = 0; k < pn->n_in; k++) {
            mine &= pn->in[k] >= 0 && mp->cnode[pn->in[k]] == i;
            if (mine) sum += sizes[pn->in[k]];
        }
        if (!mine || sum != sizes[y] || sum == 0) continue;
        size_t off = 0;
        for (int k = 0; k < pn->n_in; k++) {
            const int x = pn->in[k];
            if (sizes[x]) {
                mp->par[x] = y;
                mp->poff[x] = off;
            }
            off += sizes[x];
        }
    }
}

spd_memplan *spd_memplan_new(const spd_program *p)
{
    spd_memplan *mp = spd_calloc(1, sizeof *mp);
    if (!mp) return NULL;
    size_t nv = (size_t)p->n_values + 1;
    mp->prog = p;
    mp->n_values = p->n_values;
    mp->def = spd_malloc(nv * sizeof *mp->def);
    mp->end = spd_malloc(nv * sizeof *mp->end);
    mp->plannable = spd_calloc(nv, 1);
    mp->sizes = spd_calloc(nv, sizeof *mp->sizes);
    mp->cand_sizes = spd_calloc(nv, sizeof *mp->cand_sizes);
    mp->vals = spd_calloc(nv, sizeof *mp->vals);
    mp->offset = spd_calloc(nv, sizeof *mp->offset);
    mp->cap = spd_calloc(nv, sizeof *mp->cap);
    mp->alias = spd_malloc(nv * sizeof *mp->alias);
    mp->cnode = spd_malloc(nv * sizeof *mp->cnode);
    mp->cflat = spd_calloc((size_t)p->n_nodes + 1, 1);
    mp->par = spd_malloc(nv * sizeof *mp->par);
    mp->poff = spd_calloc(nv, sizeof *mp->poff);
    mp->gdef = spd_malloc(nv * sizeof *mp->gdef);
    mp->gend = spd_malloc(nv * sizeof *mp->gend);
    if (!mp->def || !mp->end || !mp->plannable || !mp->sizes || !mp->cand_sizes || !mp->vals || !mp->offset ||
        !mp->cap || !mp->alias || !mp->cnode || !mp->cflat || !mp->par || !mp->poff || !mp->gdef || !mp->gend) {
        spd_memplan_free(mp);
        return NULL;
    }
    for (int v = 0; v < p->n_values; v++) {
        mp->def[v] = p->values[v].producer;
        mp->end[v] = p->n_nodes; /* never freed: alive to the end */
        mp->plannable[v] = p->values[v].kind == SPD_VAL_NODE;
    }
    for (int o = 0; o < p->n_outputs; o++) mp->plannable[p->outputs[o]] = 0;
    for (int i = 0; i < p->n_nodes; i++)
        for (int k = 0; k < p->nodes[i].n_frees; k++) mp->end[p->nodes[i].frees[k]] = i;
    for (int v = 0; v < p->n_values; v++) mp->alias[v] = -1;
    for (int i = 0; i < p->n_nodes; i++) {
        const spd_pnode *pn = &p->nodes[i];
        if (pn->n_in < 1 || pn->n_out != 1 || !pn->def || pn->run != pn->def->run || !keeps_bytes(pn->node->op_type))
            continue;
        const int x = pn->in[0], y = pn->out[0];
        if (x >= 0 && y >= 0 && mp->plannable[x] && mp->plannable[y]) mp->alias[y] = x;
    }
    /* A Concat may hold its inputs when each is planned, its alone, and
     * takes over no other value's bytes (a reshaped value stays whole). */
    for (int v = 0; v < p->n_values; v++) mp->cnode[v] = -1;
    for (int i = 0; i < p->n_nodes; i++) {
        const spd_pnode *pn = &p->nodes[i];
        if (!is_concat(pn) || pn->out[0] < 0 || !mp->plannable[pn->out[0]]) continue;
        bool ok = true;
        for (int k = 0; k < pn->n_in && ok; k++) {
            const int x = pn->in[k];
            ok = x >= 0 && mp->plannable[x] && mp->alias[x] < 0 && mp->cnode[x] < 0;
            for (int j = 0; j < k && ok; j++) ok = pn->in[j] != x;
        }
        if (ok)
            for (int k = 0; k < pn->n_in; k++) mp->cnode[pn->in[k]] = i;
    }
    return mp;
}

void spd_memplan_free(spd_memplan *mp)
{
    if (!mp) return;
    spd_free(mp->def);
    spd_free(mp->end);
    spd_free(mp->plannable);
    spd_free(mp->sizes);
    spd_free(mp->cand_sizes);
    spd_free(mp->vals);
    spd_free(mp->offset);
    spd_free(mp->cap);
    spd_free(mp->alias);
    spd_free(mp->cnode);
    spd_free(mp->cflat);
    spd_free(mp->par);
    spd_free(mp->poff);
    spd_free(mp->gdef);
    spd_free(mp->gend);
    spd_free(mp->cur.v);
    spd_free(mp->cand.v);
    spd_free(mp->plan.v);
    spd_free(mp->arena);
    spd_free(mp);
}

spd_memplan *spd_memplan_acquire(spd_memplan *mp, const spd_tensor *const *inputs, int n_inputs, int *planned)
{
    *planned = 0;
    if (!mp || atomic_exchange(&mp->busy, 1)) return NULL;
    if (sig_set(&mp->cur, inputs, n_inputs)) {
        atomic_store(&mp->busy, 0);
        return NULL;
    }
    *planned = mp->have_plan && sig_eq(&mp->cur, &mp->plan);
    return mp;
}

typedef struct item {
    int v;
    size_t size;
} item;

static int by_size_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->v - y->v;
}

static int by_offset(const void *a, const void *b)
{
    const size_t x = ((const item *)a)->size, y = ((const item *)b)->size;
    return x < y ? -1 : x > y;
}

/* Greedy best-known layout: the largest values first, each at the lowest
 * offset that does not overlap a placed value alive at the same time. A
 * group of values that share bytes (a chain of shape-only operators, a
 * Concat and its inputs) is placed once, alive from its first value's
 * definition to its last value's last use. */
static int lay_out(spd_memplan *mp, const size_t *sizes)
{
    int *gdef = mp->gdef, *gend = mp->gend;
    link_groups(mp, sizes);
    for (int v = 0; v < mp->n_values; v++) {
        gdef[v] = mp->def[v];
        gend[v] = mp->end[v];
    }
    for (int v = 0; v < mp->n_values; v++) {
        size_t off;
        bool in_concat;
        const int r = group_root(mp, v, &off, &in_concat);
        if (r == v) continue;
        if (gend[r] < mp->end[v]) gend[r] = mp->end[v];
        if (gdef[r] > mp->def[v]) gdef[r] = mp->def[v];
    }
    int n = 0;
    for (int v = 0; v < mp->n_values; v++) n += mp->plannable[v] && sizes[v] > 0;
    item *items = spd_malloc(((size_t)n + 1) * sizeof *items);
    item *busy = spd_malloc(((size_t)n + 1) * sizeof *busy); /* .size holds an offset here */
    if (!items || !busy) {
        spd_free(items);
        spd_free(busy);
        return -1;
    }
    n = 0;
    for (int v = 0; v < mp->n_values; v++) {
        size_t off;
        bool in_concat;
        if (mp->plannable[v] && sizes[v] > 0 && group_root(mp, v, &off, &in_concat) == v)
            items[n++] = (item){v, (sizes[v] + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN};
    }
    qsort(items, (size_t)n, sizeof *items, by_size_desc);
    memset(mp->cap, 0, (size_t)mp->n_values * sizeof *mp->cap);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int v = items[i].v, nb = 0;
        for (int j = 0; j < i; j++) {
            int w = items[j].v;
            if (gend[w] < gdef[v] || gend[v] < gdef[w]) continue;
            busy[nb++] = (item){w, mp->offset[w]};
        }
        qsort(busy, (size_t)nb, sizeof *busy, by_offset);
        size_t off = 0;
        for (int j = 0; j < nb; j++) {
            size_t lo = busy[j].size, hi = lo + mp->cap[busy[j].v];
            if (off + items[i].size <= lo) break;
            if (hi > off) off = hi;
        }
        mp->offset[v] = off;
        mp->cap[v] = items[i].size;
        if (off + items[i].size > total) total = off + items[i].size;
    }
    for (int v = 0; v < mp->n_values; v++) {
        if (!mp->plannable[v] || sizes[v] == 0) continue;
        size_t off;
        bool in_concat;
        const int r = group_root(mp, v, &off, &in_concat);
        if (r == v) continue;
        mp->offset[v] = mp->offset[r] + off;
        /* a part of a Concat's output holds exactly its own bytes */
        mp->cap[v] = in_concat ? sizes[v] : mp->cap[r];
    }
    spd_free(items);
    spd_free(busy);
    void *arena = total ? spd_malloc(total) : NULL;
    if (total && !arena) {
        memset(mp->cap, 0, (size_t)mp->n_values * sizeof *mp->cap);
        return -1;
    }
    spd_free(mp->arena);
    mp->arena = arena;
    mp->arena_bytes = total;
    return 0;
}

void spd_memplan_release(spd_memplan *mp, const size_t *sizes)
{
    if (!mp) return;
    if (sizes) {
        if (mp->have_cand && sig_eq(&mp->cand, &mp->cur)) {
            /* The second call with these shapes: lay the arena out for
             * the larger size either call saw. */
            for (int v = 0; v < mp->n_values; v++)
                if (mp->cand_sizes[v] < sizes[v]) mp->cand_sizes[v] = sizes[v];
            mp->have_plan = 0;
            if (lay_out(mp, mp->cand_sizes) == 0 && sig_copy(&mp->plan, &mp->cur) == 0) mp->have_plan = 1;
            mp->have_cand = 0;
        } else if (sig_copy(&mp->cand, &mp->cur) == 0) {
            memcpy(mp->cand_sizes, sizes, (size_t)mp->n_values * sizeof *sizes);
            mp->have_cand = 1;
        }
    }
    atomic_store(&mp->busy, 0);
}

void *spd_memplan_slot(const spd_memplan *mp, int v, size_t *cap)
{
    if (v < 0 || v >= mp->n_values || !mp->cap[v]) return NULL;
    *cap = mp->cap[v];
    return (char *)mp->arena + mp->offset[v];
}

void spd_memplan_learn(spd_memplan *mp, int node, const spd_tensor *outs)
{
    const spd_pnode *pn = &mp->prog->nodes[node];
    if (!is_concat(pn)) return;
    const spd_tensor *y = &outs[0];
    int64_t axis = spd_attr_int(pn->node, "axis", 1);
    if (axis < 0) axis += y->ndim;
    int64_t outer = 1;
    for (int64_t d = 0; d < axis && d < y->ndim; d++) outer *= y->dims[d];
    mp->cflat[node] = y->ndim > 0 && axis >= 0 && axis < y->ndim && outer == 1;
}

size_t *spd_memplan_sizes(spd_memplan *mp) { return mp->sizes; }
spd_tensor *spd_memplan_vals(spd_memplan *mp) { return mp->vals; }
size_t spd_memplan_arena_bytes(const spd_memplan *mp) { return mp ? mp->arena_bytes : 0; }
