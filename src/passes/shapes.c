/* Value shapes for the passes: learned from one run on sample inputs, or
 * read from the model's own declarations. */
#include <string.h>

#include "passes/passes.h"
#include "runtime/exec.h"
#include "util/alloc.h"
#include "util/status.h"

static spd_status table_add(spd_shape_table *t, const char *name, const spd_tensor *v)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        spd_shape_entry *e = spd_realloc(t->e, (size_t)cap * sizeof *e);
        if (!e) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        t->e = e;
        t->cap = cap;
    }
    spd_shape_entry *e = &t->e[t->n];
    memset(e, 0, sizeof *e);
    e->name = spd_strdup(name);
    if (!e->name) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    e->dtype = v->dtype;
    e->ndim = v->ndim;
    memcpy(e->dims, v->dims, sizeof e->dims);
    t->n++;
    return SPD_OK;
}

typedef struct observe_state {
    spd_shape_table *tab;
    spd_status st;
} observe_state;

static void observe(void *user, const char *name, const spd_tensor *t)
{
    observe_state *s = user;
    if (s->st == SPD_OK) s->st = table_add(s->tab, name, t);
}

spd_status spd_shapes_from_run(const spd_model *m, const spd_tensor *samples, int n_samples,
                               spd_shape_table *out)
{
    memset(out, 0, sizeof *out);
    const spd_graph *g = m->graph;
    spd_program *p = NULL;
    SPD_TRY(spd_program_build(m, g, NULL, &p));
    spd_status st = SPD_OK;
    const spd_tensor **in = spd_calloc((size_t)p->n_inputs + 1, sizeof *in);
    spd_tensor *outs = spd_calloc((size_t)p->n_outputs + 1, sizeof *outs);
    if (!in || !outs) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    /* samples fill the inputs that have no initializer default, in order */
    int s = 0;
    for (int k = 0; k < p->n_inputs; k++) {
        if (p->values[p->inputs[k]].init) continue;
        if (s >= n_samples) {
            st = spd_errorf(SPD_ERR_INVALID, "%d sample inputs given, the model takes %d", n_samples,
                            p->n_required);
            goto done;
        }
        in[k] = &samples[s];
        if ((st = table_add(out, g->inputs[k].name, &samples[s])) != SPD_OK) goto done;
        s++;
    }
    if (s != n_samples) {
        st = spd_errorf(SPD_ERR_INVALID, "%d sample inputs given, the model takes %d", n_samples, p->n_required);
        goto done;
    }
    observe_state os = {out, SPD_OK};
    st = spd_exec_run_observed(p, in, p->n_inputs, outs, p->n_outputs, observe, &os);
    if (st == SPD_OK) st = os.st;
    for (int o = 0; o < p->n_outputs; o++) spd_tensor_release(&outs[o]);
done:
    spd_free(in);
    spd_free(outs);
    spd_program_free(p);
    if (st != SPD_OK) spd_shapes_free(out);
    return st;
}

static const spd_shape_entry *from_decl(const spd_value_info *vi, spd_shape_entry *tmp)
{
    if (vi->ndim < 0) return NULL;
    memset(tmp, 0, sizeof *tmp);
    tmp->dtype = vi->dtype;
    tmp->ndim = vi->ndim;
    for (int d = 0; d < vi->ndim && d < SPD_MAX_DIMS; d++) tmp->dims[d] = vi->dims[d].value;
    return tmp;
}

const spd_shape_entry *spd_shape_lookup(const spd_shape_table *tab, const spd_graph *g, const char *name,
                                        spd_shape_entry *tmp)
{
    if (!name || !*name) return NULL;
    if (tab)
        for (int i = 0; i < tab->n; i++)
            if (!strcmp(tab->e[i].name, name)) return &tab->e[i];
    int k = spd_graph_find_initializer(g, name);
    if (k >= 0 && spd_graph_input_index(g, name) < 0) {
        const spd_tensor *t = &g->initializers[k].tensor;
        memset(tmp, 0, sizeof *tmp);
        tmp->dtype = t->dtype;
        tmp->ndim = t->ndim;
        memcpy(tmp->dims, t->dims, sizeof tmp->dims);
        return tmp;
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (!strcmp(g->inputs[i].name, name)) return from_decl(&g->inputs[i], tmp);
    for (int i = 0; i < g->n_value_infos; i++)
        if (!strcmp(g->value_infos[i].name, name)) return from_decl(&g->value_infos[i], tmp);
    for (int i = 0; i < g->n_outputs; i++)
        if (!strcmp(g->outputs[i].name, name)) return from_decl(&g->outputs[i], tmp);
    return NULL;
}

void spd_shapes_free(spd_shape_table *t)
{
    for (int i = 0; i < t->n; i++) spd_free(t->e[i].name);
    spd_free(t->e);
    memset(t, 0, sizeof *t);
}
