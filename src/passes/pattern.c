#include <math.h>
#include <string.h>

#include "passes/pattern.h"
#include "util/alloc.h"
#include "util/status.h"

int spd_pat_is(const spd_node *n, const char *op)
{
    if (!n->op_type || strcmp(n->op_type, op)) return 0;
    return !n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx");
}

int spd_pat_is_ms(const spd_node *n, const char *op)
{
    return n->op_type && !strcmp(n->op_type, op) && n->domain && !strcmp(n->domain, "com.microsoft");
}

int spd_pat_is_sp(const spd_node *n, const char *op)
{
    return n->op_type && !strcmp(n->op_type, op) && n->domain && !strcmp(n->domain, "ai.speedster");
}

const spd_tensor *spd_pat_const(const spd_graph *g, const char *name)
{
    const spd_tensor *t = spd_graph_constant(g, name);
    if (t) return t;
    int p = spd_graph_producer(g, name);
    if (p < 0 || !spd_pat_is(&g->nodes[p], "Constant") || g->nodes[p].n_outputs != 1) return NULL;
    t = spd_attr_tensor(&g->nodes[p], "value");
    return t && t->data ? t : NULL;
}

int spd_pat_scalar(const spd_graph *g, const char *name, double *v)
{
    const spd_tensor *t = spd_pat_const(g, name);
    if (!t || spd_tensor_numel(t) != 1 || !t->data) return 0;
    if (!spd_dtype_is_float(t->dtype) && !spd_dtype_is_int(t->dtype)) return 0;
    *v = spd_tensor_get(t, 0);
    return 1;
}

int spd_pat_near(double v, double want, double rel)
{
    return fabs(v - want) <= rel * fabs(want);
}

int spd_pat_sole_consumer(const spd_graph *g, const char *name)
{
    int idx;
    if (!name || !*name || spd_graph_output_index(g, name) >= 0) return -1;
    if (spd_graph_consumers(g, name, &idx, 1) != 1) return -1;
    return idx;
}

const char *spd_pat_other_input(const spd_node *n, const char *name)
{
    if (n->n_inputs != 2) return NULL;
    int a = !strcmp(n->inputs[0], name), b = !strcmp(n->inputs[1], name);
    if (a == b) return NULL;
    return a ? n->inputs[1] : n->inputs[0];
}

int spd_pat_producer_is(const spd_graph *g, const char *name, const char *op)
{
    int p = spd_graph_producer(g, name);
    return p >= 0 && spd_pat_is(&g->nodes[p], op) ? p : -1;
}

const spd_tensor *spd_pat_float_const(const spd_graph *g, const char *name)
{
    const spd_tensor *t = spd_pat_const(g, name);
    return t && t->dtype == SPD_FLOAT && t->data ? t : NULL;
}

static spd_status add_init(spd_graph *g, const char *base, spd_dtype dt, int ndim, const int64_t *dims,
                           const void *data, char **name_out)
{
    *name_out = NULL;
    spd_tensor t;
    memset(&t, 0, sizeof t);
    SPD_TRY(spd_tensor_alloc(&t, dt, ndim, dims));
    memcpy(t.data, data, spd_tensor_nbytes(&t));
    char *name = spd_graph_unique_name(g, base);
    spd_status st = name ? spd_graph_add_initializer(g, name, &t) : spd_errorf(SPD_ERR_NOMEM, "out of memory");
    if (st != SPD_OK) {
        spd_tensor_release(&t);
        spd_free(name);
        return st;
    }
    *name_out = name;
    return SPD_OK;
}

spd_status spd_pat_add_floats(spd_graph *g, const char *base, int ndim, const int64_t *dims, const float *data,
                              char **name_out)
{
    return add_init(g, base, SPD_FLOAT, ndim, dims, data, name_out);
}

spd_status spd_pat_add_i64s(spd_graph *g, const char *base, int n, const int64_t *v, char **name_out)
{
    int64_t d = n;
    return add_init(g, base, SPD_INT64, 1, &d, v, name_out);
}

int spd_pat_ints(const spd_graph *g, const char *name, int64_t *v, int max, int *n)
{
    const spd_tensor *t = spd_pat_const(g, name);
    if (!t || (t->dtype != SPD_INT64 && t->dtype != SPD_INT32) || t->ndim > 1 || spd_tensor_numel(t) > max)
        return 0;
    return spd_tensor_to_i64s(t, v, max, n) == SPD_OK;
}

int spd_pat_rank(const spd_shape_table *tab, const spd_graph *g, const char *name)
{
    spd_shape_entry tmp;
    const spd_shape_entry *e = spd_shape_lookup(tab, g, name, &tmp);
    return e ? e->ndim : -1;
}

/* Operators whose output has the element type of their inputs (every
 * input of type T), so a float32 constant or a float32 input decides it. */
static int keeps_type(const spd_node *n)
{
    static const char *const ops[] = {"Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid",
                                      "Tanh", "LeakyRelu", "Reshape", "Transpose", "Flatten", "Squeeze",
                                      "Unsqueeze", "GlobalAveragePool", "AveragePool", "MaxPool", "Softmax"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (spd_pat_is(n, ops[k])) return 1;
    static const char *const ms[] = {"FusedConv", "FusedGemm", "Gelu", "FastGelu", "QuickGelu"};
    for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++)
        if (spd_pat_is_ms(n, ms[k])) return 1;
    return 0;
}

static int is_float_within(const spd_shape_table *tab, const spd_graph *g, const char *name, int depth)
{
    spd_shape_entry tmp;
    const spd_shape_entry *e = spd_shape_lookup(tab, g, name, &tmp);
    if (e) return e->dtype == SPD_FLOAT;
    int p = spd_graph_producer(g, name);
    if (p < 0 || depth == 0 || !keeps_type(&g->nodes[p])) return 0;
    const spd_node *n = &g->nodes[p];
    /* Reshape's and Squeeze's second inputs are int64, never float32 */
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k][0] && spd_pat_float_const(g, n->inputs[k])) return 1;
    return n->n_inputs > 0 && is_float_within(tab, g, n->inputs[0], depth - 1);
}

int spd_pat_is_float(const spd_shape_table *tab, const spd_graph *g, const char *name)
{
    return is_float_within(tab, g, name, 8);
}

const spd_tensor *spd_pat_conv_weight(const spd_graph *g, const spd_node *n)
{
    if (!(spd_pat_is(n, "Conv") || spd_pat_is_ms(n, "FusedConv")) || n->n_inputs < 2) return NULL;
    const spd_tensor *W = spd_graph_constant(g, n->inputs[1]);
    if (!W || W->dtype != SPD_FLOAT || W->ndim < 3) return NULL;
    if (n->n_inputs > 2 && n->inputs[2] && n->inputs[2][0]) {
        const spd_tensor *B = spd_graph_constant(g, n->inputs[2]);
        if (!B || B->dtype != SPD_FLOAT || B->ndim != 1 || B->dims[0] != W->dims[0]) return NULL;
    }
    return W;
}
