/* Serialization of the in-memory model back to an ONNX ModelProto. Fields
 * are written in field-number order, as protobuf's own serializers do;
 * tensor data always goes out as raw_data. */
#include "io/onnx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "io/pb.h"
#include "util/alloc.h"
#include "util/status.h"

static void put_str(spd_pbw *w, uint32_t field, const char *s)
{
    if (s && *s) spd_pbw_string(w, field, s);
}

static void put_tensor_fields(spd_pbw *w, const spd_tensor *t, const char *name)
{
    spd_pbw_packed_ints(w, 1, t->dims, t->ndim > 0 ? (size_t)t->ndim : 0);
    spd_pbw_int(w, 2, t->dtype);
    put_str(w, 8, name);
    size_t nb = spd_tensor_nbytes(t);
    if (t->dtype != SPD_STRING && t->data && nb) spd_pbw_bytes(w, 9, t->data, nb);
}

static void put_tensor(spd_pbw *w, uint32_t field, const spd_tensor *t, const char *name)
{
    size_t mark = spd_pbw_begin(w, field);
    put_tensor_fields(w, t, name);
    spd_pbw_end(w, mark);
}

static void put_value_info(spd_pbw *w, uint32_t field, const spd_value_info *v)
{
    size_t mark = spd_pbw_begin(w, field);
    put_str(w, 1, v->name);
    if (v->dtype != SPD_UNDEFINED || v->ndim >= 0) {
        size_t tm = spd_pbw_begin(w, 2);           /* TypeProto */
        size_t tt = spd_pbw_begin(w, 1);           /* .tensor_type */
        if (v->dtype != SPD_UNDEFINED) spd_pbw_int(w, 1, v->dtype);
        if (v->ndim >= 0) {
            size_t sh = spd_pbw_begin(w, 2);       /* .shape */
            for (int i = 0; i < v->ndim && i < SPD_MAX_DIMS; i++) {
                size_t dm = spd_pbw_begin(w, 1);   /* .dim */
                if (v->dims[i].value >= 0) spd_pbw_int(w, 1, v->dims[i].value);
                else if (v->dims[i].param && *v->dims[i].param) spd_pbw_string(w, 2, v->dims[i].param);
                spd_pbw_end(w, dm);
            }
            spd_pbw_end(w, sh);
        }
        spd_pbw_end(w, tt);
        spd_pbw_end(w, tm);
    }
    put_str(w, 3, v->doc);
    spd_pbw_end(w, mark);
}

static void put_graph(spd_pbw *w, uint32_t field, const spd_graph *g);

static void put_attr(spd_pbw *w, const spd_attr *a)
{
    size_t mark = spd_pbw_begin(w, 5);
    put_str(w, 1, a->name);
    switch (a->type) {
    case SPD_ATTR_FLOAT: spd_pbw_float(w, 2, a->f); break;
    case SPD_ATTR_INT: spd_pbw_int(w, 3, a->i); break;
    case SPD_ATTR_STRING: spd_pbw_bytes(w, 4, a->s ? a->s : "", a->s ? a->s_len : 0); break;
    case SPD_ATTR_TENSOR: if (a->t) put_tensor(w, 5, a->t, NULL); break;
    case SPD_ATTR_GRAPH: if (a->graphs && a->graphs[0]) put_graph(w, 6, a->graphs[0]); break;
    case SPD_ATTR_FLOATS:
        if (a->floats) for (size_t i = 0; i < a->n; i++) spd_pbw_float(w, 7, a->floats[i]);
        break;
    case SPD_ATTR_INTS:
        if (a->ints) for (size_t i = 0; i < a->n; i++) spd_pbw_int(w, 8, a->ints[i]);
        break;
    case SPD_ATTR_STRINGS:
        if (a->strings) for (size_t i = 0; i < a->n; i++) spd_pbw_string(w, 9, a->strings[i] ? a->strings[i] : "");
        break;
    case SPD_ATTR_TENSORS:
        if (a->t) for (size_t i = 0; i < a->n; i++) put_tensor(w, 10, &a->t[i], NULL);
        break;
    case SPD_ATTR_GRAPHS:
        if (a->graphs) for (size_t i = 0; i < a->n; i++) if (a->graphs[i]) put_graph(w, 11, a->graphs[i]);
        break;
    case SPD_ATTR_TYPE_PROTO: /* the reader keeps the serialized proto in s */
        if (a->s) spd_pbw_bytes(w, 14, a->s, a->s_len);
        break;
    default: break;
    }
    spd_pbw_int(w, 20, a->type);
    put_str(w, 21, a->ref_attr_name);
    if (a->type == SPD_ATTR_SPARSE_TENSOR && a->s) spd_pbw_bytes(w, 22, a->s, a->s_len);
    spd_pbw_end(w, mark);
}

static void put_node(spd_pbw *w, const spd_node *n)
{
    size_t mark = spd_pbw_begin(w, 1);
    for (int i = 0; i < n->n_inputs; i++) spd_pbw_string(w, 1, n->inputs[i] ? n->inputs[i] : "");
    for (int i = 0; i < n->n_outputs; i++) spd_pbw_string(w, 2, n->outputs[i] ? n->outputs[i] : "");
    put_str(w, 3, n->name);
    put_str(w, 4, n->op_type);
    for (int i = 0; i < n->n_attrs; i++) put_attr(w, &n->attrs[i]);
    put_str(w, 6, n->doc);
    put_str(w, 7, n->domain);
    spd_pbw_end(w, mark);
}

static void put_graph(spd_pbw *w, uint32_t field, const spd_graph *g)
{
    size_t mark = spd_pbw_begin(w, field);
    for (int i = 0; i < g->n_nodes; i++) put_node(w, &g->nodes[i]);
    put_str(w, 2, g->name);
    for (int i = 0; i < g->n_initializers; i++)
        put_tensor(w, 5, &g->initializers[i].tensor, g->initializers[i].name);
    put_str(w, 10, g->doc);
    for (int i = 0; i < g->n_inputs; i++) put_value_info(w, 11, &g->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++) put_value_info(w, 12, &g->outputs[i]);
    for (int i = 0; i < g->n_value_infos; i++) put_value_info(w, 13, &g->value_infos[i]);
    spd_pbw_end(w, mark);
}

static void put_model(spd_pbw *w, const spd_model *m)
{
    if (m->ir_version) spd_pbw_int(w, 1, m->ir_version);
    put_str(w, 2, m->producer_name);
    put_str(w, 3, m->producer_version);
    put_str(w, 4, m->domain);
    if (m->model_version) spd_pbw_int(w, 5, m->model_version);
    put_str(w, 6, m->doc);
    put_graph(w, 7, m->graph);
    for (int i = 0; i < m->n_opsets; i++) {
        size_t mark = spd_pbw_begin(w, 8);
        spd_pbw_string(w, 1, m->opsets[i].domain ? m->opsets[i].domain : "");
        spd_pbw_int(w, 2, m->opsets[i].version);
        spd_pbw_end(w, mark);
    }
    for (int i = 0; i < m->n_metadata; i++) {
        size_t mark = spd_pbw_begin(w, 14);
        spd_pbw_string(w, 1, m->metadata[i].key ? m->metadata[i].key : "");
        spd_pbw_string(w, 2, m->metadata[i].value ? m->metadata[i].value : "");
        spd_pbw_end(w, mark);
    }
}

spd_status spd_onnx_encode(const spd_model *m, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!m || !m->graph) return spd_errorf(SPD_ERR_INVALID, "cannot encode a model without a graph");
    /* Two passes (measure, then write) so that hundreds of megabytes of
     * weights are copied exactly once. */
    spd_pbw w;
    spd_pbw_init_counting(&w);
    put_model(&w, m);
    spd_pbw_start_writing(&w);
    put_model(&w, m);
    return spd_pbw_finish(&w, buf, len);
}

spd_status spd_io_write_parts(const char *path, const void *a, size_t an, const void *b, size_t bn)
{
    FILE *f = fopen(path, "wb");
    if (!f) return spd_errorf(SPD_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t ka = an ? fwrite(a, 1, an, f) : 0;
    size_t kb = bn && ka == an ? fwrite(b, 1, bn, f) : 0;
    int ok = ka == an && kb == bn;
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(path);
        return spd_errorf(SPD_ERR_IO, "%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    return SPD_OK;
}

spd_status spd_onnx_save(const spd_model *m, const char *path)
{
    uint8_t *buf;
    size_t len;
    spd_status s = spd_onnx_encode(m, &buf, &len);
    if (s != SPD_OK) return spd_error_prefix(s, "%s", path);
    if (len > (size_t)INT32_MAX) {
        spd_free(buf);
        return spd_errorf(SPD_ERR_UNSUPPORTED,
                          "%s: the model is %zu bytes; protobuf files are limited to 2 GiB", path, len);
    }
    s = spd_io_write_parts(path, buf, len, NULL, 0);
    spd_free(buf);
    return s;
}

spd_status spd_tensorproto_encode(const spd_tensor *t, const char *name, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (t->ndim < 0 || t->ndim > SPD_MAX_DIMS)
        return spd_errorf(SPD_ERR_INVALID, "tensor rank %d", t->ndim);
    if (t->dtype == SPD_STRING || spd_dtype_size(t->dtype) == 0)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "cannot encode a tensor of type %s",
                          spd_dtype_name(t->dtype));
    if (!t->data && spd_tensor_nbytes(t))
        return spd_errorf(SPD_ERR_INVALID, "tensor has no data");
    spd_pbw w;
    spd_pbw_init_counting(&w);
    put_tensor_fields(&w, t, name);
    spd_pbw_start_writing(&w);
    put_tensor_fields(&w, t, name);
    return spd_pbw_finish(&w, buf, len);
}
