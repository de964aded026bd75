#include "runtime/memplan.h"

#include <stdatomic.h>
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
    int *gend;                 /* lay_out's scratch: a group's last use */
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

/* The value at the start of v's alias chain (v itself when it takes over
 * nothing, or when the chain breaks on a size that differs in this layout). */
static int group_root(const spd_memplan *mp, const size_t *sizes, int v)
{
    while (mp->alias[v] >= 0 && sizes[mp->alias[v]] == sizes[v]) v = mp->alias[v];
    return v;
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
    mp->gend = spd_malloc(nv * sizeof *mp->gend);
    if (!mp->def || !mp->end || !mp->plannable || !mp->sizes || !mp->cand_sizes || !mp->vals || !mp->offset ||
        !mp->cap || !mp->alias || !mp->gend) {
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
 * chain of values that take over each other's bytes (alias) is placed once,
 * alive from its first value's definition to its last value's last use. */
static int lay_out(spd_memplan *mp, const size_t *sizes)
{
    int *gend = mp->gend;
    for (int v = 0; v < mp->n_values; v++) gend[v] = mp->end[v];
    for (int v = 0; v < mp->n_values; v++) {
        const int r = group_root(mp, sizes, v);
        if (r != v && gend[r] < mp->end[v]) gend[r] = mp->end[v];
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
    for (int v = 0; v < mp->n_values; v++)
        if (mp->plannable[v] && sizes[v] > 0 && group_root(mp, sizes, v) == v)
            items[n++] = (item){v, (sizes[v] + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN};
    qsort(items, (size_t)n, sizeof *items, by_size_desc);
    memset(mp->cap, 0, (size_t)mp->n_values * sizeof *mp->cap);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int v = items[i].v, nb = 0;
        for (int j = 0; j < i; j++) {
            int w = items[j].v;
            if (gend[w] < mp->def[v] || gend[v] < mp->def[w]) continue;
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
        const int r = group_root(mp, sizes, v);
        if (r == v) continue;
        mp->offset[v] = mp->offset[r];
        mp->cap[v] = mp->cap[r];
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

size_t *spd_memplan_sizes(spd_memplan *mp) { return mp->sizes; }
spd_tensor *spd_memplan_vals(spd_memplan *mp) { return mp->vals; }
size_t spd_memplan_arena_bytes(const spd_memplan *mp) { return mp ? mp->arena_bytes : 0; }
