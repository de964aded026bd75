/* What `speedster info` shows: the model's signature and contents. */
#include <stdio.h>
#include <string.h>

#include "runtime/program.h"
#include "util/alloc.h"
#include "util/strbuf.h"
#include "util/status.h"

static spd_status value_info(const spd_value_info *vi, spd_dtype *dtype, int *ndim, int64_t *dims)
{
    *dtype = vi->dtype;
    *ndim = vi->ndim;
    for (int d = 0; d < vi->ndim && d < SPD_MAX_DIMS; d++) dims[d] = vi->dims[d].value >= 0 ? vi->dims[d].value : -1;
    return SPD_OK;
}

spd_status spd_model_input_info(const spd_model *m, int i, spd_dtype *dtype, int *ndim, int64_t dims[SPD_MAX_DIMS])
{
    const spd_program *p = m->runtime;
    for (int k = 0; k < p->n_inputs; k++)
        if (!p->values[p->inputs[k]].init && i-- == 0) return value_info(&m->graph->inputs[k], dtype, ndim, dims);
    return spd_errorf(SPD_ERR_INVALID, "the model has no input #%d", i);
}

spd_status spd_model_output_info(const spd_model *m, int i, spd_dtype *dtype, int *ndim, int64_t dims[SPD_MAX_DIMS])
{
    if (i < 0 || i >= m->graph->n_outputs) return spd_errorf(SPD_ERR_INVALID, "the model has no output #%d", i);
    return value_info(&m->graph->outputs[i], dtype, ndim, dims);
}


static void put_value(spd_strbuf *b, const spd_value_info *vi)
{
    spd_strbuf_printf(b, "  %s: %s", vi->name, spd_dtype_name(vi->dtype));
    if (vi->ndim < 0) { spd_strbuf_printf(b, "[?]\n"); return; }
    spd_strbuf_printf(b, "[");
    for (int d = 0; d < vi->ndim; d++) {
        if (vi->dims[d].value >= 0) spd_strbuf_printf(b, d ? ",%lld" : "%lld", (long long)vi->dims[d].value);
        else spd_strbuf_printf(b, d ? ",%s" : "%s", vi->dims[d].param && *vi->dims[d].param ? vi->dims[d].param : "?");
    }
    spd_strbuf_printf(b, "]\n");
}

char *spd_model_summary(const spd_model *m)
{
    const spd_program *p = m->runtime;
    const spd_graph *g = m->graph;
    spd_strbuf b;
    spd_strbuf_init(&b);
    if (!b.s) return NULL;
    spd_strbuf_printf(&b, "model: %s\n", m->path ? m->path : "");
    spd_strbuf_printf(&b, "ir_version: %lld\n", (long long)m->ir_version);
    spd_strbuf_printf(&b, "producer: %s %s\n", m->producer_name ? m->producer_name : "", m->producer_version ? m->producer_version : "");
    spd_strbuf_printf(&b, "opsets:");
    for (int i = 0; i < m->n_opsets; i++)
        spd_strbuf_printf(&b, " %s=%lld", m->opsets[i].domain && *m->opsets[i].domain ? m->opsets[i].domain : "ai.onnx",
            (long long)m->opsets[i].version);
    spd_strbuf_printf(&b, "\ninputs (%d):\n", p->n_required);
    for (int k = 0; k < p->n_inputs; k++)
        if (!p->values[p->inputs[k]].init) put_value(&b, &g->inputs[k]);
    spd_strbuf_printf(&b, "outputs (%d):\n", g->n_outputs);
    for (int k = 0; k < g->n_outputs; k++) put_value(&b, &g->outputs[k]);

    size_t wbytes = 0;
    for (int i = 0; i < g->n_initializers; i++) wbytes += spd_tensor_nbytes(&g->initializers[i].tensor);
    spd_strbuf_printf(&b, "initializers: %d (%.2f MB)\n", g->n_initializers, (double)wbytes / 1e6);
    spd_strbuf_printf(&b, "nodes: %d\n", g->n_nodes);
    /* Operator histogram, in order of first appearance. */
    for (int i = 0; i < g->n_nodes; i++) {
        const char *op = g->nodes[i].op_type;
        int seen = 0, count = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(g->nodes[j].op_type, op);
        if (seen) continue;
        for (int j = i; j < g->n_nodes; j++) count += !strcmp(g->nodes[j].op_type, op);
        spd_strbuf_printf(&b, "  %-24s %d\n", op, count);
    }
    return b.s;
}

void spd_string_free(char *s) { spd_free(s); }
