#include "runtime/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/memplan.h"
#include "util/alloc.h"
#include "util/status.h"

spd_status spd_check_declared(const spd_value_info *vi, const spd_tensor *t)
{
    char got[160], want[160];
    if (vi->dtype != SPD_UNDEFINED && vi->dtype != t->dtype)
        return spd_errorf(SPD_ERR_INVALID, "input '%s' has dtype %s, the model expects %s", vi->name,
                          spd_dtype_name(t->dtype), spd_dtype_name(vi->dtype));
    if (vi->ndim < 0) return SPD_OK;
    int bad = vi->ndim != t->ndim;
    for (int i = 0; !bad && i < vi->ndim; i++)
        bad = vi->dims[i].value >= 0 && vi->dims[i].value != t->dims[i];
    if (!bad) return SPD_OK;
    size_t k = (size_t)snprintf(want, sizeof want, "[");
    for (int i = 0; i < vi->ndim && k < sizeof want; i++) {
        if (vi->dims[i].value >= 0)
            k += (size_t)snprintf(want + k, sizeof want - k, i ? ",%lld" : "%lld", (long long)vi->dims[i].value);
        else
            k += (size_t)snprintf(want + k, sizeof want - k, i ? ",%s" : "%s",
                                  vi->dims[i].param ? vi->dims[i].param : "?");
    }
    if (k < sizeof want) snprintf(want + k, sizeof want - k, "]");
    return spd_errorf(SPD_ERR_INVALID, "input '%s' has shape %s, the model expects %s", vi->name,
                      spd_tensor_describe(t, got, sizeof got), want);
}

/* Symbolic dims named alike must agree across the inputs of one call. */
static spd_status check_symbols(const spd_graph *g, const spd_tensor *const *inputs, int n)
{
    for (int i = 0; i < n && i < g->n_inputs; i++) {
        if (!inputs[i]) continue;
        const spd_value_info *a = &g->inputs[i];
        for (int d = 0; d < a->ndim && d < inputs[i]->ndim; d++) {
            if (!a->dims[d].param || !*a->dims[d].param) continue;
            for (int j = 0; j <= i; j++) {
                if (!inputs[j]) continue;
                const spd_value_info *b = &g->inputs[j];
                for (int e = 0; e < b->ndim && e < inputs[j]->ndim; e++) {
                    if ((j == i && e >= d) || !b->dims[e].param || strcmp(b->dims[e].param, a->dims[d].param))
                        continue;
                    if (inputs[j]->dims[e] != inputs[i]->dims[d])
                        return spd_errorf(SPD_ERR_INVALID,
                                          "dimension '%s' is %lld in input '%s' but %lld in input '%s'",
                                          a->dims[d].param, (long long)inputs[j]->dims[e], b->name,
                                          (long long)inputs[i]->dims[d], a->name);
                }
            }
        }
    }
    return SPD_OK;
}

static const spd_tensor *lookup_outer(const spd_exec *ex, const char *name)
{
    for (; ex; ex = ex->parent) {
        int id = spd_strmap_get(&ex->prog->names, name);
        if (id >= 0 && ex->vals[id].dtype != SPD_UNDEFINED) return &ex->vals[id];
    }
    return NULL;
}


/* SPEEDSTER_PROFILE=1: time spent per operator type, printed to stderr at
 * exit. For finding the hot operators of a model; costs two clock reads per
 * node when on, one getenv per process when off. */
typedef struct prof_row { char op[160]; double sec; long calls, skipped; double macs; } prof_row;
static prof_row prof_rows[1024];
static int prof_n, prof_state = -1;

static void prof_print(void)
{
    double total = 0;
    for (int i = 0; i < prof_n; i++) total += prof_rows[i].sec;
    for (int i = 0; i < prof_n; i++)
        for (int j = i + 1; j < prof_n; j++)
            if (prof_rows[j].sec > prof_rows[i].sec) {
                prof_row t = prof_rows[i]; prof_rows[i] = prof_rows[j]; prof_rows[j] = t;
            }
    fprintf(stderr, "profile: %.3f ms in kernels\n", total * 1e3);
    for (int i = 0; i < prof_n; i++) {
        fprintf(stderr, "  %-28s %9.3f ms %5.1f%% %8ld calls%s", prof_rows[i].op, prof_rows[i].sec * 1e3,
                total > 0 ? 100 * prof_rows[i].sec / total : 0, prof_rows[i].calls,
                prof_rows[i].macs > 0 ? "" : "\n");
        if (prof_rows[i].macs > 0) fprintf(stderr, " %7.1f GFLOP/s\n", 2e-9 * prof_rows[i].macs / prof_rows[i].sec);
    }
}

static int prof_on(void)
{
    if (prof_state < 0) {
        const char *e = getenv("SPEEDSTER_PROFILE");
        prof_state = !e || !*e || !strcmp(e, "0") ? 0 : !strcmp(e, "nodes") ? 2 : 1;
        if (prof_state) atexit(prof_print);
    }
    return prof_state;
}

/* Per node, the first PROF_SKIP calls are left out: they pack weights and
 * lay out the memory plan, and the rows should show the steady state. */
#define PROF_SKIP 2

static void prof_add(const char *op, double sec, double macs)
{
    for (int i = 0; i < prof_n; i++)
        if (!strncmp(prof_rows[i].op, op, sizeof prof_rows[i].op - 1)) {
            if (prof_state == 2 && prof_rows[i].skipped < PROF_SKIP) {
                prof_rows[i].skipped++;
                return;
            }
            prof_rows[i].sec += sec;
            prof_rows[i].calls++;
            prof_rows[i].macs += macs;
            return;
        }
    if (prof_n == 1024) return;
    prof_row *r = &prof_rows[prof_n++];
    snprintf(r->op, sizeof r->op, "%s", op);
    if (prof_state == 2) { /* the first call, left out */
        r->skipped = 1;
        return;
    }
    r->sec = sec;
    r->calls = 1;
    r->macs = macs;
}

/* SPEEDSTER_PROFILE=nodes: one row per node, named with its output shape
 * and, for convolutions, the multiply-adds (so the row shows GFLOP/s). */
static void prof_node_label(const spd_op_ctx *c, char *buf, size_t n, double *macs)
{
    int w = snprintf(buf, n, "%s %s [", c->node->op_type, c->node->name ? c->node->name : "");
    double out_elems = 1;
    for (int d = 0; d < c->out[0].ndim && w > 0 && (size_t)w < n; d++) {
        w += snprintf(buf + w, n - (size_t)w, d ? "x%lld" : "%lld", (long long)c->out[0].dims[d]);
        out_elems *= (double)c->out[0].dims[d];
    }
    if (w > 0 && (size_t)w < n) snprintf(buf + w, n - (size_t)w, "]");
    *macs = 0;
    if (c->n_inputs > 1 && c->in[1] && (strstr(c->node->op_type, "Conv") != NULL)) {
        double k = 1;
        for (int d = 1; d < c->in[1]->ndim; d++) k *= (double)c->in[1]->dims[d];
        *macs = out_elems * k;
    }
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static spd_status run_node(spd_exec *ex, int i)
{
    const spd_program *p = ex->prog;
    const spd_pnode *pn = &p->nodes[i];
    const spd_tensor *in_small[16];
    spd_tensor out_small[8];
    const spd_tensor **in = pn->n_in <= 16 ? in_small : spd_malloc((size_t)pn->n_in * sizeof *in);
    spd_tensor *out = pn->n_out <= 8 ? out_small : spd_malloc((size_t)pn->n_out * sizeof *out);
    spd_status st = SPD_OK;
    char lab[300];
    if (!in || !out) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    for (int k = 0; k < pn->n_in; k++) {
        in[k] = pn->in[k] >= 0 ? &ex->vals[pn->in[k]] : NULL;
        if (in[k] && in[k]->dtype == SPD_UNDEFINED) {
            st = spd_errorf(SPD_ERR_INTERNAL, "%s: input '%s' has no value at run time",
                            spd_pnode_label(p, i, lab, sizeof lab), pn->node->inputs[k]);
            goto done;
        }
        if (in[k] && in[k]->dtype == SPD_STRING) {
            st = spd_errorf(SPD_ERR_UNSUPPORTED, "%s: string tensors are not supported",
                            spd_pnode_label(p, i, lab, sizeof lab));
            goto done;
        }
    }
    memset(out, 0, (size_t)pn->n_out * sizeof *out);
    spd_out_slot slot[8];
    spd_out_slots prev = {0}, mine = {slot, 0};
    if (ex->planned) {
        for (int k = 0; k < pn->n_out && mine.n < 8; k++) {
            size_t cap;
            void *d = spd_memplan_slot(ex->mem, pn->out[k], &cap);
            if (d) slot[mine.n++] = (spd_out_slot){&out[k], d, cap};
        }
    }
    prev = spd_tensor_use_slots(mine);
    spd_op_ctx ctx = {pn->node, pn->opset, pn->n_in, in, pn->n_out, out, ex, pn->state};
    if (prof_on()) {
        double t0 = now_sec();
        st = pn->run(&ctx);
        double dt = now_sec() - t0, macs = 0;
        char key[160];
        if (prof_state == 2 && st == SPD_OK && pn->n_out > 0)
            prof_node_label(&ctx, key, sizeof key, &macs);
        else
            snprintf(key, sizeof key, "%s", pn->node->op_type);
        prof_add(key, dt, macs);
    } else {
        st = pn->run(&ctx);
    }
    spd_tensor_use_slots(prev);
    if (st != SPD_OK) {
        spd_error_prefix(st, "%s", spd_pnode_label(p, i, lab, sizeof lab));
        for (int k = 0; k < pn->n_out; k++) spd_tensor_release(&out[k]);
        goto done;
    }
    if (ex->mem && !ex->planned) spd_memplan_learn(ex->mem, i, out);
    for (int k = 0; k < pn->n_out; k++) {
        if (pn->out[k] < 0) { spd_tensor_release(&out[k]); continue; }
        if (out[k].dtype == SPD_UNDEFINED && st == SPD_OK)
            st = spd_errorf(SPD_ERR_INTERNAL, "%s: the kernel did not produce output '%s'",
                            spd_pnode_label(p, i, lab, sizeof lab), pn->node->outputs[k]);
        ex->vals[pn->out[k]] = out[k];
        if (ex->mem && !ex->planned && out[k].owner) {
            size_t *sz = &spd_memplan_sizes(ex->mem)[pn->out[k]];
            size_t nb = spd_tensor_nbytes(&out[k]);
            if (nb > *sz) *sz = nb;
        }
        if (ex->observe && out[k].dtype != SPD_UNDEFINED)
            ex->observe(ex->observe_user, pn->node->outputs[k], &out[k]);
    }
    for (int k = 0; k < pn->n_frees; k++) spd_tensor_release(&ex->vals[pn->frees[k]]);
done:
    if (in != in_small) spd_free(in);
    if (out != out_small) spd_free(out);
    return st;
}

static spd_status exec_run(const spd_program *p, const spd_exec *parent,
                           const spd_tensor *const *inputs, int n_inputs,
                           spd_tensor *outputs, int n_outputs, spd_value_observer observe, void *user)
{
    const spd_graph *g = p->graph;
    if (n_inputs > p->n_inputs || n_inputs < p->n_required)
        return spd_errorf(SPD_ERR_INVALID, "the model takes %d input%s, %d given", p->n_required,
                          p->n_required == 1 ? "" : "s", n_inputs);
    if (n_outputs != p->n_outputs)
        return spd_errorf(SPD_ERR_INVALID, "the model has %d outputs, %d requested", p->n_outputs, n_outputs);
    if (!parent) SPD_TRY(check_symbols(g, inputs, n_inputs));

    spd_exec ex = {p, NULL, parent, observe, user, NULL, 0};
    /* Top-level calls use the program's memory plan, unless another thread
     * holds it or an observer wants to see every value. */
    if (!parent && !observe) ex.mem = spd_memplan_acquire(p->mem, inputs, n_inputs, &ex.planned);
    if (ex.mem) {
        ex.vals = spd_memplan_vals(ex.mem);
        memset(ex.vals, 0, ((size_t)p->n_values + 1) * sizeof *ex.vals);
        if (!ex.planned) memset(spd_memplan_sizes(ex.mem), 0, ((size_t)p->n_values + 1) * sizeof(size_t));
    } else if (!(ex.vals = spd_calloc((size_t)p->n_values + 1, sizeof(spd_tensor)))) {
        return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    /* A subgraph's kernels must not see the slots of the node running it. */
    spd_out_slots outer_slots = spd_tensor_use_slots((spd_out_slots){0});
    spd_status st = SPD_OK;
    for (int v = 0; v < p->n_values; v++)
        if (p->values[v].init) spd_tensor_view(&ex.vals[v], p->values[v].init);
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) continue;
        /* Subgraph inputs (Loop, Scan bodies) often leave shapes open or
         * differ legitimately; only the top level is checked. */
        if (!parent && (st = spd_check_declared(&g->inputs[i], inputs[i])) != SPD_OK) goto done;
        spd_tensor_view(&ex.vals[p->inputs[i]], inputs[i]);
    }
    for (int i = 0; i < p->n_inputs; i++)
        if (ex.vals[p->inputs[i]].dtype == SPD_UNDEFINED) {
            st = spd_errorf(SPD_ERR_INVALID, "input '%s' is missing", g->inputs[i].name);
            goto done;
        }
    for (int o = 0; o < p->n_outer; o++) {
        const char *nm = p->values[p->outer[o]].name;
        const spd_tensor *t = lookup_outer(parent, nm);
        if (!t) { st = spd_errorf(SPD_ERR_INTERNAL, "captured value '%s' has no value", nm); goto done; }
        spd_tensor_view(&ex.vals[p->outer[o]], t);
    }
    for (int i = 0; i < p->n_nodes; i++)
        if ((st = run_node(&ex, i)) != SPD_OK) goto done;

    for (int o = 0; o < n_outputs; o++) {
        spd_tensor *v = &ex.vals[p->outputs[o]];
        memset(&outputs[o], 0, sizeof outputs[o]);
        if (v->owner) {
            outputs[o] = *v;        /* hand over; later duplicates copy it */
            v->owner = 0;
        } else if ((st = spd_tensor_copy(&outputs[o], v)) != SPD_OK) {
            for (int k = 0; k < o; k++) spd_tensor_release(&outputs[k]);
            goto done;
        }
    }
done:
    /* only what the call allocated: the next call clears the slots, and
     * clearing every weight's view here cost keyword spotting 1% */
    for (int v = 0; v < p->n_values; v++)
        if (ex.vals[v].owner) spd_tensor_release(&ex.vals[v]);
    spd_tensor_use_slots(outer_slots);
    if (ex.mem) spd_memplan_release(ex.mem, st == SPD_OK && !ex.planned ? spd_memplan_sizes(ex.mem) : NULL);
    else spd_free(ex.vals);
    return st;
}

spd_status spd_exec_run(const spd_program *p, const spd_exec *parent,
                        const spd_tensor *const *inputs, int n_inputs,
                        spd_tensor *outputs, int n_outputs)
{
    return exec_run(p, parent, inputs, n_inputs, outputs, n_outputs, NULL, NULL);
}

spd_status spd_exec_run_observed(const spd_program *p, const spd_tensor *const *inputs, int n_inputs,
                                 spd_tensor *outputs, int n_outputs, spd_value_observer observe, void *user)
{
    return exec_run(p, NULL, inputs, n_inputs, outputs, n_outputs, observe, user);
}

spd_status spd_exec_subgraph(spd_exec *ex, const spd_graph *g,
                             const spd_tensor *const *inputs, int n_inputs,
                             spd_tensor *outputs, int n_outputs)
{
    const spd_program *sub = spd_program_sub(ex->prog, g);
    if (!sub) return spd_errorf(SPD_ERR_INTERNAL, "subgraph '%s' was not prepared", g->name ? g->name : "");
    return spd_exec_run(sub, ex, inputs, n_inputs, outputs, n_outputs);
}

spd_status spd_exec_run_user(const spd_program *p, const spd_tensor *inputs, int n_inputs,
                             spd_tensor *outputs, int n_outputs)
{
    if (n_inputs != p->n_required)
        return spd_errorf(SPD_ERR_INVALID, "the model takes %d input%s, %d given", p->n_required,
                          p->n_required == 1 ? "" : "s", n_inputs);
    const spd_tensor *slots[64] = {0};
    const spd_tensor **in = p->n_inputs <= 64 ? slots : spd_calloc((size_t)p->n_inputs, sizeof *in);
    if (!in) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int k = 0, u = 0; k < p->n_inputs; k++)
        in[k] = p->values[p->inputs[k]].init ? NULL : &inputs[u++];
    spd_status st = spd_exec_run(p, NULL, in, p->n_inputs, outputs, n_outputs);
    if (in != slots) spd_free(in);
    return st;
}
