/* Tests of the ONNX reader/writer and tensor files (src/io).
 *
 *   test_io CONF_DIR          run all checks; CONF_DIR holds conformance cases
 *                             (<case>/model.onnx, <case>/test_data_set_0/NAME.pb)
 *   test_io --load MODEL...   time spd_onnx_load on each model
 *
 * One line per check; exit status 1 when any check fails. */
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/onnx.h"
#include "io/pb.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"

static int g_failed, g_checks;
static char g_tmp[64] = "/tmp/test_io.XXXXXX"; /* a private folder for files */

/* name inside g_tmp; a few results may be alive at once */
static const char *tmp(const char *name)
{
    static char bufs[4][256];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", g_tmp, name);
    return b;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    g_checks++;
    if (!ok) g_failed++;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------- structural comparison ---------------- */

static char g_diff[512];

#define DIFF(...) (snprintf(g_diff, sizeof g_diff, __VA_ARGS__), 0)

static int streq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static int same_tensor(const spd_tensor *a, const spd_tensor *b, const char *where)
{
    if (a->dtype != b->dtype) return DIFF("%s: dtype %d vs %d", where, a->dtype, b->dtype);
    if (a->ndim != b->ndim) return DIFF("%s: ndim %d vs %d", where, a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return DIFF("%s: dims[%d]", where, i);
    if (a->dtype == SPD_STRING) return 1;
    size_t nb = spd_tensor_nbytes(a);
    if (nb && (!a->data || !b->data)) return DIFF("%s: missing data", where);
    if (nb && memcmp(a->data, b->data, nb)) return DIFF("%s: data differs", where);
    return 1;
}

static int same_vi(const spd_value_info *a, const spd_value_info *b)
{
    if (!streq(a->name, b->name)) return DIFF("value info name %s vs %s", a->name, b->name);
    if (a->dtype != b->dtype || a->ndim != b->ndim) return DIFF("value info %s type", a->name);
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i].value != b->dims[i].value || !streq(a->dims[i].param, b->dims[i].param))
            return DIFF("value info %s dim %d", a->name, i);
    if (!streq(a->doc, b->doc)) return DIFF("value info %s doc", a->name);
    return 1;
}

static int same_graph(const spd_graph *a, const spd_graph *b);

static int same_attr(const spd_attr *a, const spd_attr *b)
{
    if (!streq(a->name, b->name) || a->type != b->type) return DIFF("attr %s name/type", a->name);
    switch (a->type) {
    case SPD_ATTR_FLOAT: if (memcmp(&a->f, &b->f, 4)) return DIFF("attr %s f", a->name); break;
    case SPD_ATTR_INT: if (a->i != b->i) return DIFF("attr %s i", a->name); break;
    case SPD_ATTR_STRING:
    case SPD_ATTR_TYPE_PROTO:
        if (a->s_len != b->s_len || (a->s_len && memcmp(a->s, b->s, a->s_len)))
            return DIFF("attr %s s", a->name);
        break;
    case SPD_ATTR_SPARSE_TENSOR:
        if (a->s_len != b->s_len || (a->s_len && memcmp(a->s, b->s, a->s_len)))
            return DIFF("attr %s s", a->name);
        if (!a->t != !b->t || (a->t && !same_tensor(a->t, b->t, a->name))) return 0;
        break;
    case SPD_ATTR_TENSOR: return same_tensor(a->t, b->t, a->name);
    case SPD_ATTR_GRAPH: return same_graph(a->graphs[0], b->graphs[0]);
    case SPD_ATTR_FLOATS:
    case SPD_ATTR_INTS:
    case SPD_ATTR_STRINGS:
    case SPD_ATTR_TENSORS:
    case SPD_ATTR_GRAPHS:
        if (a->n != b->n) return DIFF("attr %s n %zu vs %zu", a->name, a->n, b->n);
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == SPD_ATTR_FLOATS && memcmp(&a->floats[i], &b->floats[i], 4))
                return DIFF("attr %s floats[%zu]", a->name, i);
            if (a->type == SPD_ATTR_INTS && a->ints[i] != b->ints[i])
                return DIFF("attr %s ints[%zu]", a->name, i);
            if (a->type == SPD_ATTR_STRINGS && !streq(a->strings[i], b->strings[i]))
                return DIFF("attr %s strings[%zu]", a->name, i);
            if (a->type == SPD_ATTR_TENSORS && !same_tensor(&a->t[i], &b->t[i], a->name)) return 0;
            if (a->type == SPD_ATTR_GRAPHS && !same_graph(a->graphs[i], b->graphs[i])) return 0;
        }
        break;
    default: break;
    }
    return 1;
}

static int same_graph(const spd_graph *a, const spd_graph *b)
{
    if (!streq(a->name, b->name)) return DIFF("graph name");
    if (!streq(a->doc, b->doc)) return DIFF("graph doc");
    if (a->n_nodes != b->n_nodes || a->n_initializers != b->n_initializers ||
        a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs ||
        a->n_value_infos != b->n_value_infos)
        return DIFF("graph %s counts", a->name);
    for (int i = 0; i < a->n_nodes; i++) {
        const spd_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (!streq(x->name, y->name) || !streq(x->op_type, y->op_type) ||
            !streq(x->domain, y->domain) || !streq(x->doc, y->doc) ||
            x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs || x->n_attrs != y->n_attrs)
            return DIFF("node %d header", i);
        for (int k = 0; k < x->n_inputs; k++)
            if (!streq(x->inputs[k], y->inputs[k])) return DIFF("node %d input %d", i, k);
        for (int k = 0; k < x->n_outputs; k++)
            if (!streq(x->outputs[k], y->outputs[k])) return DIFF("node %d output %d", i, k);
        for (int k = 0; k < x->n_attrs; k++)
            if (!same_attr(&x->attrs[k], &y->attrs[k])) return 0;
    }
    for (int i = 0; i < a->n_initializers; i++) {
        if (!streq(a->initializers[i].name, b->initializers[i].name)) return DIFF("init %d name", i);
        if (!same_tensor(&a->initializers[i].tensor, &b->initializers[i].tensor, a->initializers[i].name))
            return 0;
    }
    for (int i = 0; i < a->n_inputs; i++) if (!same_vi(&a->inputs[i], &b->inputs[i])) return 0;
    for (int i = 0; i < a->n_outputs; i++) if (!same_vi(&a->outputs[i], &b->outputs[i])) return 0;
    for (int i = 0; i < a->n_value_infos; i++)
        if (!same_vi(&a->value_infos[i], &b->value_infos[i])) return 0;
    return 1;
}

static int same_model(const spd_model *a, const spd_model *b)
{
    if (a->ir_version != b->ir_version || a->model_version != b->model_version) return DIFF("versions");
    if (!streq(a->producer_name, b->producer_name) || !streq(a->producer_version, b->producer_version) ||
        !streq(a->domain, b->domain) || !streq(a->doc, b->doc))
        return DIFF("model strings");
    if (a->n_opsets != b->n_opsets || a->n_metadata != b->n_metadata) return DIFF("opsets/metadata");
    for (int i = 0; i < a->n_opsets; i++)
        if (!streq(a->opsets[i].domain, b->opsets[i].domain) || a->opsets[i].version != b->opsets[i].version)
            return DIFF("opset %d", i);
    for (int i = 0; i < a->n_metadata; i++)
        if (!streq(a->metadata[i].key, b->metadata[i].key) || !streq(a->metadata[i].value, b->metadata[i].value))
            return DIFF("metadata %d", i);
    return same_graph(a->graph, b->graph);
}

/* ---------------- helpers ---------------- */

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)n + 1);
    *len = fread(*buf, 1, (size_t)n, f);
    fclose(f);
    return *len == (size_t)n;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
}

/* Loads a buffer expecting failure; checks the message is non-empty. */
static void expect_fail(const void *buf, size_t len, spd_status want, const char *what)
{
    spd_model *m = NULL;
    spd_error_clear();
    spd_status s = spd_onnx_load_buffer(buf, len, "crafted", &m);
    int ok = s != SPD_OK && m == NULL && spd_last_error()[0] && (want == SPD_OK || s == want);
    check(ok, "%s -> status %d: %s", what, s, spd_last_error());
    spd_onnx_model_free(m);
}

/* Wraps a TensorProto's bytes as the only initializer of a minimal model. */
static void model_with_tensor(spd_pbw *w, const uint8_t *t, size_t tn)
{
    spd_pbw_init(w);
    spd_pbw_int(w, 1, 8);
    size_t g = spd_pbw_begin(w, 7);
    spd_pbw_bytes(w, 5, t, tn);
    spd_pbw_end(w, g);
    size_t o = spd_pbw_begin(w, 8);
    spd_pbw_int(w, 2, 17);
    spd_pbw_end(w, o);
}

static void bad_tensor_case(const char *what, spd_status want, void (*build)(spd_pbw *))
{
    spd_pbw t, w;
    uint8_t *tb, *mb;
    size_t tn, mn;
    spd_pbw_init(&t);
    build(&t);
    spd_pbw_finish(&t, &tb, &tn);
    model_with_tensor(&w, tb, tn);
    spd_pbw_finish(&w, &mb, &mn);
    expect_fail(mb, mn, want, what);
    spd_free(tb);
    spd_free(mb);
}

static void t_negative_dim(spd_pbw *w)
{
    spd_pbw_int(w, 1, -3);
    spd_pbw_int(w, 2, SPD_FLOAT);
    spd_pbw_bytes(w, 9, "abcd", 4);
}
static void t_raw_short(spd_pbw *w)
{
    spd_pbw_int(w, 1, 2);
    spd_pbw_int(w, 2, SPD_FLOAT);
    spd_pbw_string(w, 8, "W");
    spd_pbw_bytes(w, 9, "abcd", 4);
}
static void t_raw_long(spd_pbw *w)
{
    spd_pbw_int(w, 1, 1);
    spd_pbw_int(w, 2, SPD_FLOAT);
    spd_pbw_bytes(w, 9, "abcdefgh", 8);
}
static void t_typed_count(spd_pbw *w)
{
    float f[3] = {1, 2, 3};
    spd_pbw_int(w, 1, 2);
    spd_pbw_int(w, 2, SPD_FLOAT);
    spd_pbw_packed_floats(w, 4, f, 3);
}
static void t_wrong_field(spd_pbw *w)
{
    int64_t v[2] = {1, 2};
    spd_pbw_int(w, 1, 2);
    spd_pbw_int(w, 2, SPD_FLOAT);
    spd_pbw_packed_ints(w, 7, v, 2);
}
static void t_bad_dtype(spd_pbw *w)
{
    spd_pbw_int(w, 1, 1);
    spd_pbw_int(w, 2, 99);
    spd_pbw_bytes(w, 9, "abcd", 4);
}
static void t_rank9(spd_pbw *w)
{
    for (int i = 0; i < 9; i++) spd_pbw_int(w, 1, 1);
    spd_pbw_int(w, 2, SPD_FLOAT);
    spd_pbw_bytes(w, 9, "abcd", 4);
}
static void t_huge(spd_pbw *w)
{
    for (int i = 0; i < 4; i++) spd_pbw_int(w, 1, 1 << 20);
    spd_pbw_int(w, 2, SPD_FLOAT);
}
static void t_no_data(spd_pbw *w)
{
    spd_pbw_int(w, 1, 3);
    spd_pbw_int(w, 2, SPD_INT64);
}
static void t_external(spd_pbw *w)
{
    spd_pbw_int(w, 1, 1);
    spd_pbw_int(w, 2, SPD_FLOAT);
    size_t e = spd_pbw_begin(w, 13);
    spd_pbw_string(w, 1, "location");
    spd_pbw_string(w, 2, "data.bin");
    spd_pbw_end(w, e);
    spd_pbw_int(w, 14, 1);
}
static void t_dims_wt(spd_pbw *w)
{
    spd_pbw_float(w, 1, 1.0f); /* dims as a 32-bit value */
    spd_pbw_int(w, 2, SPD_FLOAT);
}

/* ---------------- checks ---------------- */

static void conformance_round_trips(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        check(0, "open conformance dir %s", dir);
        return;
    }
    struct dirent *e;
    int n_models = 0, n_model_ok = 0, n_load_fail = 0, n_t = 0, n_t_ok = 0, n_t_skip = 0;
    double t_load = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name);
        if (access(path, R_OK)) continue;
        n_models++;
        spd_model *a = NULL, *b = NULL;
        double t0 = now();
        spd_status s = spd_onnx_load(path, &a);
        t_load += now() - t0;
        if (s != SPD_OK) {
            n_load_fail++;
            printf("      load %s: %s\n", e->d_name, spd_last_error());
            continue;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        s = spd_onnx_encode(a, &buf, &len);
        if (s == SPD_OK) s = spd_onnx_load_buffer(buf, len, "re-encoded", &b);
        if (s == SPD_OK && same_model(a, b)) {
            n_model_ok++;
        } else {
            printf("      round trip %s: %s\n", e->d_name, s != SPD_OK ? spd_last_error() : g_diff);
        }
        spd_free(buf);
        spd_onnx_model_free(a);
        spd_onnx_model_free(b);

        /* Test data tensors: decode, re-encode, decode, compare. */
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < 8; i++) {
                char tp[4200];
                snprintf(tp, sizeof tp, "%s/%s/test_data_set_0/%s_%d.pb", dir, e->d_name,
                         k ? "output" : "input", i);
                uint8_t *fb;
                size_t fl;
                if (access(tp, R_OK) || !read_file(tp, &fb, &fl)) continue;
                n_t++;
                spd_tensor x = {0}, y = {0};
                char *name = NULL;
                if (spd_tensorproto_decode(fb, fl, &x, &name) != SPD_OK || x.dtype == SPD_STRING) {
                    n_t_skip++; /* sequences, optionals, strings */
                } else {
                    uint8_t *eb;
                    size_t el;
                    if (spd_tensorproto_encode(&x, name, &eb, &el) == SPD_OK &&
                        spd_tensorproto_decode(eb, el, &y, NULL) == SPD_OK &&
                        same_tensor(&x, &y, tp))
                        n_t_ok++;
                    else
                        printf("      tensor %s: %s %s\n", tp, spd_last_error(), g_diff);
                    spd_free(eb);
                }
                spd_free(name);
                spd_tensor_release(&x);
                spd_tensor_release(&y);
                free(fb);
            }
        }
    }
    closedir(d);
    check(n_models > 0 && n_load_fail == 0, "load %d conformance models (%d failed, %.3f s total)",
          n_models, n_load_fail, t_load);
    check(n_model_ok == n_models - n_load_fail, "encode+decode round trip identical for %d/%d models",
          n_model_ok, n_models - n_load_fail);
    check(n_t_ok == n_t - n_t_skip, "test-data TensorProto round trip %d/%d (%d not plain tensors)",
          n_t_ok, n_t - n_t_skip, n_t_skip);
}

static void named_models(const char *dir)
{
    static const char *names[] = {"test_conv_with_strides_padding", "test_loop11", "test_if",
                                  "test_scan9_sum", "test_constant", "test_cast_FLOAT_to_BFLOAT16",
                                  "test_lstm_defaults", "test_sequence_insert_at_back",
                                  "test_optional_has_element", "test_reshape_extended_dims"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096], out[4096];
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, names[i]);
        if (access(path, R_OK)) continue;
        snprintf(out, sizeof out, "%s/resaved_%s.onnx", g_tmp, names[i]);
        spd_model *a = NULL, *b = NULL;
        spd_status s = spd_onnx_load(path, &a);
        if (s == SPD_OK) s = spd_onnx_save(a, out);
        if (s == SPD_OK) s = spd_onnx_load(out, &b);
        int ok = s == SPD_OK && same_model(a, b);
        check(ok, "%s: load, save, load identical (%d nodes)%s%s", names[i],
              a ? a->graph->n_nodes : -1, ok ? "" : ": ", ok ? "" : (s ? spd_last_error() : g_diff));
        spd_onnx_model_free(a);
        spd_onnx_model_free(b);
    }
}

static void fill_pattern(spd_tensor *t)
{
    uint8_t *p = t->data;
    size_t nb = spd_tensor_nbytes(t);
    for (size_t i = 0; i < nb; i++) p[i] = (uint8_t)(i * 37 + 11);
    if (t->dtype == SPD_BOOL)
        for (size_t i = 0; i < nb; i++) p[i] &= 1;
}

static void tensor_files(void)
{
    static const spd_dtype dts[] = {SPD_FLOAT16, SPD_FLOAT, SPD_DOUBLE, SPD_INT8, SPD_INT16,
                                    SPD_INT32, SPD_INT64, SPD_UINT8, SPD_UINT16, SPD_UINT32,
                                    SPD_UINT64, SPD_BOOL, SPD_COMPLEX64, SPD_BFLOAT16};
    static const int64_t shapes[][3] = {{2, 3, 4}, {5, 0, 0}, {0, 0, 0}};
    static const int ranks[] = {3, 1, 0};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        for (int sh = 0; sh < 3; sh++) {
            spd_tensor t = {0};
            spd_tensor_alloc(&t, dts[i], ranks[sh], shapes[sh]);
            fill_pattern(&t);
            for (int fmt = 0; fmt < 2; fmt++) {
                if (fmt == 1 && dts[i] == SPD_BFLOAT16) continue;
                char path[256];
                snprintf(path, sizeof path, "%s/%s_r%d.%s", g_tmp, spd_dtype_name(dts[i]),
                         ranks[sh], fmt ? "npy" : "pb");
                spd_tensor r = {0};
                spd_status s = spd_tensor_write_file(path, &t);
                if (s == SPD_OK) s = spd_tensor_read_file(path, &r);
                int ok = s == SPD_OK && same_tensor(&t, &r, path) && r.owner;
                check(ok, "%s round trip %s", path, ok ? "" : (s ? spd_last_error() : g_diff));
                spd_tensor_release(&r);
            }
            spd_tensor_release(&t);
        }
    }
    spd_tensor t = {0};
    spd_tensor_alloc(&t, SPD_BFLOAT16, 1, (int64_t[]){3});
    spd_status s = spd_tensor_write_file(tmp("bf16.npy"), &t);
    check(s == SPD_ERR_UNSUPPORTED, "bfloat16 .npy refused: %s", spd_last_error());
    s = spd_tensor_write_file(tmp("x.txt"), &t);
    check(s == SPD_ERR_UNSUPPORTED, "unknown suffix refused: %s", spd_last_error());
    spd_tensor_release(&t);

    /* Hand-made .npy headers. */
    struct {
        const char *header;
        int version;
        size_t data;
        spd_status want;
        const char *what;
    } npys[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 2, 16, SPD_OK, "v2.0 <f4"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 3, 24, SPD_OK, "v3.0 <i8"},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (), }", 1, 1, SPD_OK, "bool scalar"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 1, 16, SPD_ERR_UNSUPPORTED,
         "fortran order"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 1, 8, SPD_ERR_UNSUPPORTED,
         "big-endian"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 1, 16, SPD_ERR_UNSUPPORTED,
         "object array"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 1, 12, SPD_ERR_INVALID,
         "data too short"},
        {"{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", 1, 24, SPD_ERR_UNSUPPORTED,
         "unicode"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 1, 8,
         SPD_ERR_UNSUPPORTED, "structured"},
    };
    for (size_t i = 0; i < sizeof npys / sizeof npys[0]; i++) {
        uint8_t buf[512] = {0};
        size_t hl = strlen(npys[i].header), pos;
        memcpy(buf, "\x93NUMPY", 6);
        buf[6] = (uint8_t)npys[i].version;
        if (npys[i].version == 1) {
            buf[8] = (uint8_t)hl;
            pos = 10;
        } else {
            buf[8] = (uint8_t)hl;
            pos = 12;
        }
        memcpy(buf + pos, npys[i].header, hl);
        pos += hl + npys[i].data;
        write_file(tmp("hand.npy"), buf, pos);
        spd_tensor r = {0};
        s = spd_tensor_read_file(tmp("hand.npy"), &r);
        check(s == npys[i].want && (s == SPD_OK || spd_last_error()[0]), ".npy %s -> %d %s",
              npys[i].what, s, s ? spd_last_error() : "");
        spd_tensor_release(&r);
    }
    write_file(tmp("empty.pb"), "", 0);
    spd_tensor r = {0};
    s = spd_tensor_read_file(tmp("empty.pb"), &r);
    check(s != SPD_OK && spd_last_error()[0], "empty .pb refused: %s", spd_last_error());
    s = spd_tensor_read_file(tmp("does_not_exist.npy"), &r);
    check(s == SPD_ERR_IO, "missing file: %s", spd_last_error());
}

static void typed_fields(void)
{
    /* int32_data carrying float16 bits and int8, unpacked; int64 packed;
     * uint64_data for uint32; doubles unpacked. */
    struct {
        spd_dtype dt;
        int field;
        int packed;
        int64_t vals[3];
    } cases[] = {
        {SPD_FLOAT16, 5, 0, {0x3c00, 0xc000, 0x7bff}},
        {SPD_INT8, 5, 1, {-1, 127, -128}},
        {SPD_UINT8, 5, 0, {0, 255, 7}},
        {SPD_BOOL, 5, 1, {1, 0, 1}},
        {SPD_INT16, 5, 0, {-32768, 5, 32767}},
        {SPD_INT32, 5, 1, {-2147483647 - 1, 0, 2147483647}},
        {SPD_INT64, 7, 1, {INT64_MIN, -1, INT64_MAX}},
        {SPD_INT64, 7, 0, {1, -2, 3}},
        {SPD_UINT32, 11, 0, {4294967295LL, 0, 1}},
        {SPD_UINT64, 11, 1, {-1, 0, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spd_pbw w;
        spd_pbw_init(&w);
        spd_pbw_int(&w, 1, 3);
        spd_pbw_int(&w, 2, cases[i].dt);
        if (cases[i].packed) spd_pbw_packed_ints(&w, (uint32_t)cases[i].field, cases[i].vals, 3);
        else for (int k = 0; k < 3; k++) spd_pbw_int(&w, (uint32_t)cases[i].field, cases[i].vals[k]);
        uint8_t *b;
        size_t n;
        spd_pbw_finish(&w, &b, &n);
        spd_tensor t = {0};
        spd_status s = spd_tensorproto_decode(b, n, &t, NULL);
        int ok = s == SPD_OK && t.ndim == 1 && t.dims[0] == 3;
        for (int k = 0; ok && k < 3; k++) {
            int64_t want = cases[i].vals[k];
            int64_t got = cases[i].dt == SPD_FLOAT16 ? ((uint16_t *)t.data)[k] : spd_tensor_get_i64(&t, k);
            if (cases[i].dt == SPD_UINT64) ok = ((uint64_t *)t.data)[k] == (uint64_t)want;
            else ok = got == want;
        }
        check(ok, "typed %s in field %d (%s)", spd_dtype_name(cases[i].dt), cases[i].field,
              cases[i].packed ? "packed" : "unpacked");
        spd_tensor_release(&t);
        spd_free(b);
    }
    /* floats and doubles unpacked, complex64 packed */
    spd_pbw w;
    spd_pbw_init(&w);
    spd_pbw_int(&w, 1, 2);
    spd_pbw_int(&w, 2, SPD_DOUBLE);
    spd_pbw_double(&w, 10, 1.5);
    spd_pbw_double(&w, 10, -2.25);
    uint8_t *b;
    size_t n;
    spd_pbw_finish(&w, &b, &n);
    spd_tensor t = {0};
    spd_status s = spd_tensorproto_decode(b, n, &t, NULL);
    check(s == SPD_OK && ((double *)t.data)[0] == 1.5 && ((double *)t.data)[1] == -2.25,
          "typed double unpacked");
    spd_tensor_release(&t);
    spd_free(b);
    spd_pbw_init(&w);
    spd_pbw_int(&w, 1, 2);
    spd_pbw_int(&w, 2, SPD_COMPLEX64);
    spd_pbw_packed_floats(&w, 4, (float[]){1, 2, 3, 4}, 4);
    spd_pbw_finish(&w, &b, &n);
    s = spd_tensorproto_decode(b, n, &t, NULL);
    check(s == SPD_OK && ((float *)t.data)[3] == 4, "typed complex64 packed");
    spd_tensor_release(&t);
    spd_free(b);
    /* a string tensor keeps its shape and no data */
    spd_pbw_init(&w);
    spd_pbw_int(&w, 1, 2);
    spd_pbw_int(&w, 2, SPD_STRING);
    spd_pbw_string(&w, 6, "ab");
    spd_pbw_string(&w, 6, "c");
    spd_pbw_finish(&w, &b, &n);
    s = spd_tensorproto_decode(b, n, &t, NULL);
    check(s == SPD_OK && t.dtype == SPD_STRING && t.ndim == 1 && t.dims[0] == 2 && !t.data,
          "string tensor: shape kept, no data");
    spd_tensor_release(&t);
    spd_free(b);
}

static void bad_buffers(const char *dir)
{
    expect_fail("", 0, SPD_ERR_INVALID, "empty buffer");
    expect_fail("\x08\x08", 2, SPD_ERR_INVALID, "no graph");
    expect_fail("\x38\x01", 2, SPD_ERR_INVALID, "graph with wrong wire type");
    expect_fail("\x3a\x10\x00", 3, SPD_ERR_INVALID, "graph length past end");
    expect_fail("\x08\xff\xff", 3, SPD_ERR_INVALID, "truncated varint");
    expect_fail("\x0b\x0c", 2, SPD_ERR_INVALID, "group wire type");
    expect_fail("\x3a\x02\x0a\x05", 4, SPD_ERR_INVALID, "node length past its graph");
    expect_fail("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11, SPD_ERR_INVALID, "11-byte varint");
    bad_tensor_case("negative dim", SPD_ERR_INVALID, t_negative_dim);
    bad_tensor_case("raw_data too short", SPD_ERR_INVALID, t_raw_short);
    bad_tensor_case("raw_data too long", SPD_ERR_INVALID, t_raw_long);
    bad_tensor_case("float_data count mismatch", SPD_ERR_INVALID, t_typed_count);
    bad_tensor_case("int64_data for a float tensor", SPD_ERR_INVALID, t_wrong_field);
    bad_tensor_case("unknown data_type", SPD_ERR_INVALID, t_bad_dtype);
    bad_tensor_case("rank 9", SPD_ERR_UNSUPPORTED, t_rank9);
    bad_tensor_case("2^80 elements", SPD_ERR_INVALID, t_huge);
    bad_tensor_case("no data", SPD_ERR_INVALID, t_no_data);
    bad_tensor_case("external data from a buffer", SPD_ERR_UNSUPPORTED, t_external);
    bad_tensor_case("dims with 32-bit wire type", SPD_ERR_INVALID, t_dims_wt);

    /* Truncations of a real model: never a crash; cuts inside the graph fail. */
    char path[4096];
    snprintf(path, sizeof path, "%s/test_conv_with_strides_padding/model.onnx", dir);
    uint8_t *buf;
    size_t len;
    if (read_file(path, &buf, &len)) {
        int fails = 0, msgs = 1;
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *c = malloc(cut + 1);
            memcpy(c, buf, cut);
            spd_model *m = NULL;
            spd_error_clear();
            if (spd_onnx_load_buffer(c, cut, "cut", &m) != SPD_OK) {
                fails++;
                if (!spd_last_error()[0]) msgs = 0;
            }
            spd_onnx_model_free(m);
            free(c);
        }
        check(fails > (int)len / 2 && msgs, "%zu truncations: %d refused, all with messages", len, fails);
        /* random byte flips */
        srand(1);
        int flips_fail = 0;
        for (int it = 0; it < 2000; it++) {
            uint8_t *c = malloc(len);
            memcpy(c, buf, len);
            for (int k = 0; k < 3; k++) c[rand() % len] = (uint8_t)rand();
            spd_model *m = NULL;
            if (spd_onnx_load_buffer(c, len, "flipped", &m) != SPD_OK) flips_fail++;
            spd_onnx_model_free(m);
            free(c);
        }
        check(1, "2000 models with 3 random bytes changed: no crash (%d refused)", flips_fail);
        free(buf);
    }
    srand(2);
    int rnd_fail = 0;
    for (int it = 0; it < 2000; it++) {
        size_t n = (size_t)(rand() % 300);
        uint8_t *c = malloc(n + 1);
        for (size_t k = 0; k < n; k++) c[k] = (uint8_t)rand();
        spd_model *m = NULL;
        if (spd_onnx_load_buffer(c, n, "random", &m) != SPD_OK) rnd_fail++;
        spd_onnx_model_free(m);
        free(c);
    }
    check(rnd_fail == 2000, "2000 random buffers refused (%d)", rnd_fail);

    /* Allocation failures at every step of a load must not leak or crash. */
    snprintf(path, sizeof path, "%s/test_loop11/model.onnx", dir);
    if (read_file(path, &buf, &len)) {
        int nomem = 0, ok = 1;
        for (long k = 1; k < 2000; k++) {
            spd_model *m = NULL;
            spd_alloc_fail_after(k);
            spd_status s = spd_onnx_load_buffer(buf, len, "loop", &m);
            spd_alloc_fail_after(0);
            spd_onnx_model_free(m);
            if (s == SPD_ERR_NOMEM) nomem++;
            else if (s != SPD_OK) ok = 0;
            else break;
        }
        check(ok && nomem > 10, "allocation failure at each of %d steps: NOMEM, no leak", nomem);
        free(buf);
    }
}

/* A model with an initializer of given name/raw bytes, an external tensor,
 * a sparse initializer and attributes of every kind. */
static void build_rich_model(spd_pbw *w, const char *ext_location, int misalign)
{
    spd_pbw_init(w);
    spd_pbw_int(w, 1, 8);
    spd_pbw_string(w, 2, "test_io");
    size_t g = spd_pbw_begin(w, 7);
    /* node with attributes of every kind */
    size_t nd = spd_pbw_begin(w, 1);
    spd_pbw_string(w, 1, "X");
    spd_pbw_string(w, 1, "");
    spd_pbw_string(w, 2, "Y");
    spd_pbw_string(w, 3, "n0");
    spd_pbw_string(w, 4, "Custom");
    spd_pbw_string(w, 7, "my.domain");
    size_t a;
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "f"); spd_pbw_float(w, 2, 0.5f); spd_pbw_int(w, 20, 1); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "i"); spd_pbw_int(w, 3, -7); spd_pbw_int(w, 20, 2); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "s"); spd_pbw_bytes(w, 4, "he\0llo", 6); spd_pbw_int(w, 20, 3); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "fs"); spd_pbw_float(w, 7, 1); spd_pbw_float(w, 7, 2); spd_pbw_int(w, 20, 6); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "is_unpacked"); spd_pbw_int(w, 8, 1); spd_pbw_int(w, 8, -2); spd_pbw_int(w, 20, 7); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "is_packed"); spd_pbw_packed_ints(w, 8, (int64_t[]){3, -4, 5}, 3); spd_pbw_int(w, 20, 7); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "is_empty"); spd_pbw_int(w, 20, 7); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "ss"); spd_pbw_string(w, 9, "a"); spd_pbw_string(w, 9, ""); spd_pbw_int(w, 20, 8); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "t");
    { size_t t = spd_pbw_begin(w, 5); spd_pbw_int(w, 1, 2); spd_pbw_int(w, 2, SPD_INT64); spd_pbw_packed_ints(w, 7, (int64_t[]){9, 8}, 2); spd_pbw_end(w, t); }
    spd_pbw_int(w, 20, 4); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "ts");
    for (int k = 0; k < 2; k++) { size_t t = spd_pbw_begin(w, 10); spd_pbw_int(w, 2, SPD_FLOAT); spd_pbw_float(w, 4, (float)k); spd_pbw_end(w, t); }
    spd_pbw_int(w, 20, 9); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "g");
    { size_t sg = spd_pbw_begin(w, 6); spd_pbw_string(w, 2, "sub");
      size_t sn = spd_pbw_begin(w, 1); spd_pbw_string(w, 1, "X"); spd_pbw_string(w, 2, "Z"); spd_pbw_string(w, 4, "Identity"); spd_pbw_end(w, sn);
      size_t so = spd_pbw_begin(w, 12); spd_pbw_string(w, 1, "Z"); spd_pbw_end(w, so);
      spd_pbw_end(w, sg); }
    spd_pbw_int(w, 20, 5); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "gs");
    for (int k = 0; k < 2; k++) { size_t sg = spd_pbw_begin(w, 11); spd_pbw_string(w, 2, k ? "b" : "a"); spd_pbw_end(w, sg); }
    spd_pbw_int(w, 20, 10); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "tp");
    { size_t tp = spd_pbw_begin(w, 14); size_t tt = spd_pbw_begin(w, 1); spd_pbw_int(w, 1, 1); spd_pbw_end(w, tt); spd_pbw_end(w, tp); }
    spd_pbw_int(w, 20, 13); spd_pbw_end(w, a);
    a = spd_pbw_begin(w, 5); spd_pbw_string(w, 1, "sp");
    { size_t sp = spd_pbw_begin(w, 22);
      size_t v = spd_pbw_begin(w, 1); spd_pbw_int(w, 1, 2); spd_pbw_int(w, 2, SPD_FLOAT); spd_pbw_packed_floats(w, 4, (float[]){5, 6}, 2); spd_pbw_end(w, v);
      size_t ix = spd_pbw_begin(w, 2); spd_pbw_int(w, 1, 2); spd_pbw_int(w, 2, SPD_INT64); spd_pbw_packed_ints(w, 7, (int64_t[]){1, 3}, 2); spd_pbw_end(w, ix);
      spd_pbw_packed_ints(w, 3, (int64_t[]){4}, 1);
      spd_pbw_end(w, sp); }
    spd_pbw_int(w, 20, 11); spd_pbw_end(w, a);
    spd_pbw_end(w, nd);
    spd_pbw_string(w, 2, "rich");
    /* W: raw float data, 1000 floats, aligned or not */
    {
        size_t t = spd_pbw_begin(w, 5);
        spd_pbw_int(w, 1, 10);
        spd_pbw_int(w, 1, 100);
        spd_pbw_int(w, 2, SPD_FLOAT);
        spd_pbw_string(w, 8, misalign ? "Wx" : "W");
        float vals[1000];
        for (int k = 0; k < 1000; k++) vals[k] = (float)k * 0.25f;
        spd_pbw_bytes(w, 9, vals, sizeof vals);
        spd_pbw_end(w, t);
    }
    if (ext_location) {
        size_t t = spd_pbw_begin(w, 5);
        spd_pbw_int(w, 1, 4);
        spd_pbw_int(w, 2, SPD_FLOAT);
        spd_pbw_string(w, 8, "E");
        size_t e = spd_pbw_begin(w, 13); spd_pbw_string(w, 1, "location"); spd_pbw_string(w, 2, ext_location); spd_pbw_end(w, e);
        e = spd_pbw_begin(w, 13); spd_pbw_string(w, 1, "offset"); spd_pbw_string(w, 2, "64"); spd_pbw_end(w, e);
        e = spd_pbw_begin(w, 13); spd_pbw_string(w, 1, "length"); spd_pbw_string(w, 2, "16"); spd_pbw_end(w, e);
        spd_pbw_int(w, 14, 1);
        spd_pbw_end(w, t);
    }
    {   /* sparse initializer S: dims [2,3], values at (0,1) and (1,2) */
        size_t sp = spd_pbw_begin(w, 15);
        size_t v = spd_pbw_begin(w, 1); spd_pbw_int(w, 1, 2); spd_pbw_int(w, 2, SPD_INT32); spd_pbw_string(w, 8, "S");
        spd_pbw_packed_ints(w, 5, (int64_t[]){7, -8}, 2); spd_pbw_end(w, v);
        size_t ix = spd_pbw_begin(w, 2); spd_pbw_int(w, 1, 2); spd_pbw_int(w, 1, 2); spd_pbw_int(w, 2, SPD_INT64);
        spd_pbw_packed_ints(w, 7, (int64_t[]){0, 1, 1, 2}, 4); spd_pbw_end(w, ix);
        spd_pbw_packed_ints(w, 3, (int64_t[]){2, 3}, 2);
        spd_pbw_end(w, sp);
    }
    /* input with symbolic, fixed and unknown dims; a sequence-typed output */
    {
        size_t vi = spd_pbw_begin(w, 11);
        spd_pbw_string(w, 1, "X");
        size_t tp = spd_pbw_begin(w, 2), tt = spd_pbw_begin(w, 1);
        spd_pbw_int(w, 1, SPD_FLOAT);
        size_t sh = spd_pbw_begin(w, 2);
        size_t d = spd_pbw_begin(w, 1); spd_pbw_string(w, 2, "N"); spd_pbw_end(w, d);
        d = spd_pbw_begin(w, 1); spd_pbw_int(w, 1, 3); spd_pbw_end(w, d);
        d = spd_pbw_begin(w, 1); spd_pbw_end(w, d);
        spd_pbw_end(w, sh);
        spd_pbw_end(w, tt);
        spd_pbw_end(w, tp);
        spd_pbw_end(w, vi);
        vi = spd_pbw_begin(w, 12);
        spd_pbw_string(w, 1, "Y");
        tp = spd_pbw_begin(w, 2);
        size_t sq = spd_pbw_begin(w, 4); spd_pbw_end(w, sq);
        spd_pbw_end(w, tp);
        spd_pbw_end(w, vi);
    }
    spd_pbw_end(w, g);
    size_t o = spd_pbw_begin(w, 8); spd_pbw_string(w, 1, ""); spd_pbw_int(w, 2, 17); spd_pbw_end(w, o);
    o = spd_pbw_begin(w, 8); spd_pbw_string(w, 1, "my.domain"); spd_pbw_int(w, 2, 1); spd_pbw_end(w, o);
    o = spd_pbw_begin(w, 14); spd_pbw_string(w, 1, "k"); spd_pbw_string(w, 2, "v"); spd_pbw_end(w, o);
}

static const spd_initializer *find_init(const spd_model *m, const char *name)
{
    for (int i = 0; i < m->graph->n_initializers; i++)
        if (!strcmp(m->graph->initializers[i].name, name)) return &m->graph->initializers[i];
    return NULL;
}

static void rich_model(void)
{
    mkdir(tmp("ext"), 0755);
    float ext[20];
    for (int k = 0; k < 20; k++) ext[k] = (float)k;
    write_file(tmp("ext/data.bin"), ext, sizeof ext);

    for (int mis = 0; mis < 2; mis++) {
        spd_pbw w;
        uint8_t *b;
        size_t n;
        build_rich_model(&w, "data.bin", mis);
        spd_pbw_finish(&w, &b, &n);
        write_file(tmp("ext/rich.onnx"), b, n);
        spd_free(b);
        spd_model *m = NULL;
        spd_status s = spd_onnx_load(tmp("ext/rich.onnx"), &m);
        check(s == SPD_OK, "rich model (%s W) loads: %s", mis ? "misaligned" : "aligned?", s ? spd_last_error() : "");
        if (s) continue;
        const spd_initializer *W = find_init(m, mis ? "Wx" : "W"), *E = find_init(m, "E"), *S = find_init(m, "S");
        int wok = W && W->tensor.ndim == 2 && ((const float *)W->tensor.data)[999] == 999 * 0.25f &&
                  (uintptr_t)W->tensor.data % 4 == 0;
        check(wok, "W: values right, pointer aligned, owner=%d", W ? W->tensor.owner : -1);
        check(E && E->tensor.owner == 0 && ((const float *)E->tensor.data)[0] == 16.0f &&
                  ((const float *)E->tensor.data)[3] == 19.0f,
              "external tensor E: zero-copy and correct");
        const int32_t *sd = S ? S->tensor.data : NULL;
        check(S && S->tensor.dtype == SPD_INT32 && sd[1] == 7 && sd[5] == -8 && sd[0] == 0 && sd[4] == 0,
              "sparse initializer densified");
        const spd_node *nd = &m->graph->nodes[0];
        size_t c;
        const int64_t *ip = spd_attr_ints(nd, "is_packed", &c);
        int aok = spd_attr_float(nd, "f", 0) == 0.5f && spd_attr_int(nd, "i", 0) == -7 && ip && c == 3 &&
                  ip[1] == -4 && spd_attr_ints(nd, "is_unpacked", &c)[1] == -2 &&
                  spd_attr_ints(nd, "is_empty", &c) && c == 0 && spd_node_attr(nd, "s")->s_len == 6 &&
                  spd_attr_tensor(nd, "t") && ((int64_t *)spd_attr_tensor(nd, "t")->data)[1] == 8 &&
                  spd_attr_graph(nd, "g") && spd_attr_graph(nd, "g")->n_nodes == 1 &&
                  spd_node_attr(nd, "gs")->n == 2 && spd_node_attr(nd, "ts")->n == 2 &&
                  spd_node_attr(nd, "ss")->n == 2 && spd_node_attr(nd, "sp")->t &&
                  ((float *)spd_node_attr(nd, "sp")->t->data)[3] == 6 && nd->n_inputs == 2 &&
                  !strcmp(nd->inputs[1], "");
        check(aok, "attributes of every kind decoded");
        const spd_value_info *x = &m->graph->inputs[0];
        check(x->ndim == 3 && !strcmp(x->dims[0].param, "N") && x->dims[1].value == 3 &&
                  x->dims[2].value == -1 && !x->dims[2].param && m->graph->outputs[0].ndim == -1 &&
                  m->graph->outputs[0].dtype == SPD_UNDEFINED,
              "value infos: symbolic/fixed/unknown dims, sequence output");
        /* round trip via file (external tensor is written inline) */
        spd_model *m2 = NULL;
        s = spd_onnx_save(m, tmp("rich_resaved.onnx"));
        if (s == SPD_OK) s = spd_onnx_load(tmp("rich_resaved.onnx"), &m2);
        check(s == SPD_OK && same_model(m, m2), "rich model save/load identical %s",
              s ? spd_last_error() : g_diff);
        spd_onnx_model_free(m2);
        spd_onnx_model_free(m);
    }

    static const char *bad_locs[] = {"../data.bin", "/etc/passwd", "a/../../x", "missing.bin", ""};
    for (size_t i = 0; i < sizeof bad_locs / sizeof bad_locs[0]; i++) {
        spd_pbw w;
        uint8_t *b;
        size_t n;
        build_rich_model(&w, bad_locs[i], 0);
        spd_pbw_finish(&w, &b, &n);
        write_file(tmp("ext/bad.onnx"), b, n);
        spd_free(b);
        spd_model *m = NULL;
        spd_status s = spd_onnx_load(tmp("ext/bad.onnx"), &m);
        check(s != SPD_OK && !m && spd_last_error()[0], "external location '%s' refused: %s",
              bad_locs[i], spd_last_error());
        spd_onnx_model_free(m);
    }
    /* external data shorter than offset + length */
    write_file(tmp("ext/data.bin"), ext, 70);
    spd_model *m = NULL;
    spd_status s = spd_onnx_load(tmp("ext/rich.onnx"), &m);
    check(s == SPD_ERR_INVALID && !m, "external data past end of file: %s", spd_last_error());
    write_file(tmp("ext/empty.onnx"), "", 0);
    s = spd_onnx_load(tmp("ext/empty.onnx"), &m);
    check(s == SPD_ERR_INVALID && strstr(spd_last_error(), "empty"), "empty file: %s", spd_last_error());
    s = spd_onnx_load(tmp("ext/nope.onnx"), &m);
    check(s == SPD_ERR_IO, "missing file: %s", spd_last_error());
    write_file(tmp("ext/text.onnx"), "hello, this is not a model\n", 27);
    s = spd_onnx_load(tmp("ext/text.onnx"), &m);
    check(s != SPD_OK, "text file: %s", spd_last_error());
}

static int time_loads(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        spd_model *m = NULL;
        double t0 = now();
        spd_status s = spd_onnx_load(argv[i], &m);
        double t1 = now();
        if (s != SPD_OK) {
            printf("%s: %s\n", argv[i], spd_last_error());
            return 1;
        }
        int views = 0, copies = 0;
        size_t bytes = 0;
        for (int k = 0; k < m->graph->n_initializers; k++) {
            const spd_tensor *t = &m->graph->initializers[k].tensor;
            if (t->owner) copies++;
            else views++;
            bytes += spd_tensor_nbytes(t);
        }
        /* touch every byte so a lazy mapping is paid for */
        double sum = 0;
        for (int k = 0; k < m->graph->n_initializers; k++) {
            const spd_tensor *t = &m->graph->initializers[k].tensor;
            if (t->dtype == SPD_FLOAT)
                for (int64_t j = 0; j < spd_tensor_numel(t); j += 1024) sum += ((const float *)t->data)[j];
        }
        double t2 = now();
        printf("%s: loaded in %.3f s (%d initializers, %.1f MB, %d zero-copy, %d copied, "
               "heap %.1f MB; reading all pages %.3f s, checksum %g)\n",
               argv[i], t1 - t0, m->graph->n_initializers, bytes / 1e6, views, copies,
               spd_alloc_current() / 1e6, t2 - t1, sum);
        spd_onnx_model_free(m);
    }
    return 0;
}

/* Loads each IN and saves it as OUT (pairs), for checking with onnx.checker. */
static int resave(int argc, char **argv)
{
    int bad = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        spd_model *m = NULL;
        spd_status s = spd_onnx_load(argv[i], &m);
        if (s == SPD_OK) s = spd_onnx_save(m, argv[i + 1]);
        if (s != SPD_OK) {
            printf("%s\n", spd_last_error());
            bad = 1;
        }
        spd_onnx_model_free(m);
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--load")) return time_loads(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "--resave")) return resave(argc, argv);
    const char *dir = argc >= 2 ? argv[1] : "/tmp/conf/node";
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    conformance_round_trips(dir);
    named_models(dir);
    typed_fields();
    tensor_files();
    bad_buffers(dir);
    rich_model();
    check(spd_alloc_current() - spd_scratch_held() == 0, "no memory left allocated (%zu bytes)", spd_alloc_current());
    nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d checks, %d failed\n", g_checks, g_failed);
    return g_failed != 0;
}
