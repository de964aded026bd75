/* ONNX protobuf decoding into the in-memory model of src/ir/graph.h.
 *
 * Each repeated message field is read in two passes over its parent: the
 * first counts elements and checks wire types, the second decodes into an
 * array allocated once at its final size. Arrays are zeroed before being
 * filled so that a failure half-way can be cleaned up by the ordinary free
 * functions.
 *
 * Tensor data: raw_data and external data are used in place (owner = 0) when
 * the bytes live in a mapping owned by the model and are aligned for the
 * element type; everything else is copied into owned memory. */
#include "io/onnx.h"

#include <stdio.h>
#include <string.h>

#include "io/pb.h"
#include "ir/tensor.h"
#include "util/alloc.h"
#include "util/status.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX reader assumes a little-endian host"
#endif

#define MAX_GRAPH_DEPTH 64
#define MAX_ELEMS ((int64_t)1 << 40)
/* A sparse initializer is densified; refuse dense sizes beyond this. */
#define MAX_DENSE_BYTES ((uint64_t)1 << 32)

typedef struct dctx {
    const char *dir;      /* folder of the model file; NULL: no external data */
    spd_model *model;     /* owner of the mappings */
    spd_mapping *map;     /* the mapping the buffer lies in, or NULL (copy) */
    int depth;
} dctx;

static spd_status nomem(void) { return spd_errorf(SPD_ERR_NOMEM, "out of memory"); }

static spd_status set_str(char **dst, const uint8_t *p, size_t n)
{
    char *s = spd_strndup((const char *)p, n);
    if (!s) return nomem();
    spd_free(*dst);
    *dst = s;
    return SPD_OK;
}

static spd_status read_str(spd_pb *r, int wt, const char *what, char **dst)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    SPD_TRY(spd_pb_expect(r, wt, SPD_PB_LEN, what));
    SPD_TRY(spd_pb_bytes(r, &p, &n, what));
    return set_str(dst, p, n);
}

static spd_status read_i64(spd_pb *r, int wt, const char *what, int64_t *v)
{
    uint64_t u = 0;
    SPD_TRY(spd_pb_expect(r, wt, SPD_PB_VARINT, what));
    SPD_TRY(spd_pb_varint(r, &u, what));
    *v = (int64_t)u;
    return SPD_OK;
}

static spd_status read_sub(spd_pb *r, int wt, const char *what, spd_pb *sub)
{
    SPD_TRY(spd_pb_expect(r, wt, SPD_PB_LEN, what));
    return spd_pb_sub(r, sub, what);
}

/* Every char* of the model is non-NULL after loading ("" when absent). */
static spd_status ensure_str(char **s)
{
    if (*s) return SPD_OK;
    *s = spd_strdup("");
    return *s ? SPD_OK : nomem();
}

/* ------------------------------------------------------------------ */
/* TensorProto                                                          */

typedef struct tscan {
    int64_t dims[SPD_MAX_DIMS];
    int ndim;             /* all dims seen, may exceed SPD_MAX_DIMS */
    int64_t data_type;
    int64_t data_location;
    int has_segment;
    const uint8_t *raw;
    size_t raw_len;
    int has_raw;
    size_t n_float, n_int32, n_string, n_int64, n_double, n_uint64;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *loc, *off, *len;
    size_t loc_len, off_len, len_len;
    int has_loc, has_off, has_len;
} tscan;

static spd_status scan_dim(tscan *t, int64_t v)
{
    if (t->ndim < SPD_MAX_DIMS) t->dims[t->ndim] = v;
    if (t->ndim < 1000000) t->ndim++;
    return SPD_OK;
}

/* A repeated varint field, packed or not: counts its values. */
static spd_status count_varint_field(spd_pb *r, int wt, const char *what, size_t *count)
{
    if (wt == SPD_PB_LEN) {
        spd_pb sub;
        size_t c;
        SPD_TRY(spd_pb_sub(r, &sub, what));
        SPD_TRY(spd_pb_count_varints(&sub, &c, what));
        *count += c;
        return SPD_OK;
    }
    SPD_TRY(spd_pb_expect(r, wt, SPD_PB_VARINT, what));
    SPD_TRY(spd_pb_skip(r, wt, what));
    (*count)++;
    return SPD_OK;
}

/* A repeated fixed-size field (float: 4, double: 8), packed or not. */
static spd_status count_fixed_field(spd_pb *r, int wt, int size, const char *what, size_t *count)
{
    if (wt == SPD_PB_LEN) {
        const uint8_t *p = NULL;
        size_t n = 0;
        size_t off = spd_pb_offset(r);
        SPD_TRY(spd_pb_bytes(r, &p, &n, what));
        if (n % (size_t)size)
            return spd_errorf(SPD_ERR_INVALID,
                              "%s: packed length %zu at byte offset %zu is not a multiple of %d",
                              what, n, off, size);
        *count += n / (size_t)size;
        return SPD_OK;
    }
    SPD_TRY(spd_pb_expect(r, wt, size == 4 ? SPD_PB_FIXED32 : SPD_PB_FIXED64, what));
    SPD_TRY(spd_pb_skip(r, wt, what));
    (*count)++;
    return SPD_OK;
}

static spd_status scan_external_entry(spd_pb *r, int wt, tscan *t)
{
    spd_pb e;
    SPD_TRY(read_sub(r, wt, "TensorProto.external_data", &e));
    const uint8_t *k = NULL, *v = NULL;
    size_t kn = 0, vn = 0;
    while (!spd_pb_done(&e)) {
        uint32_t f = 0;
        int w = 0;
        SPD_TRY(spd_pb_tag(&e, "StringStringEntryProto", &f, &w));
        if (f == 1 || f == 2) {
            const char *what = f == 1 ? "StringStringEntryProto.key" : "StringStringEntryProto.value";
            SPD_TRY(spd_pb_expect(&e, w, SPD_PB_LEN, what));
            SPD_TRY(spd_pb_bytes(&e, f == 1 ? &k : &v, f == 1 ? &kn : &vn, what));
        } else {
            SPD_TRY(spd_pb_skip(&e, w, "StringStringEntryProto"));
        }
    }
    if (!k) return SPD_OK;
    if (kn == 8 && !memcmp(k, "location", 8)) {
        t->loc = v, t->loc_len = vn, t->has_loc = 1;
    } else if (kn == 6 && !memcmp(k, "offset", 6)) {
        t->off = v, t->off_len = vn, t->has_off = 1;
    } else if (kn == 6 && !memcmp(k, "length", 6)) {
        t->len = v, t->len_len = vn, t->has_len = 1;
    }
    return SPD_OK;
}

static spd_status scan_tensor(spd_pb r, tscan *t)
{
    memset(t, 0, sizeof *t);
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "TensorProto", &f, &wt));
        switch (f) {
        case 1: /* dims */
            if (wt == SPD_PB_LEN) {
                spd_pb sub;
                SPD_TRY(spd_pb_sub(&r, &sub, "TensorProto.dims"));
                while (!spd_pb_done(&sub)) {
                    uint64_t v = 0;
                    SPD_TRY(spd_pb_varint(&sub, &v, "TensorProto.dims"));
                    SPD_TRY(scan_dim(t, (int64_t)v));
                }
            } else {
                int64_t v = 0;
                SPD_TRY(read_i64(&r, wt, "TensorProto.dims", &v));
                SPD_TRY(scan_dim(t, v));
            }
            break;
        case 2: SPD_TRY(read_i64(&r, wt, "TensorProto.data_type", &t->data_type)); break;
        case 3:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, "TensorProto.segment"));
            SPD_TRY(spd_pb_skip(&r, wt, "TensorProto.segment"));
            t->has_segment = 1;
            break;
        case 4: SPD_TRY(count_fixed_field(&r, wt, 4, "TensorProto.float_data", &t->n_float)); break;
        case 5: SPD_TRY(count_varint_field(&r, wt, "TensorProto.int32_data", &t->n_int32)); break;
        case 6:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, "TensorProto.string_data"));
            SPD_TRY(spd_pb_skip(&r, wt, "TensorProto.string_data"));
            t->n_string++;
            break;
        case 7: SPD_TRY(count_varint_field(&r, wt, "TensorProto.int64_data", &t->n_int64)); break;
        case 8:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, "TensorProto.name"));
            SPD_TRY(spd_pb_bytes(&r, &t->name, &t->name_len, "TensorProto.name"));
            break;
        case 9:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, "TensorProto.raw_data"));
            SPD_TRY(spd_pb_bytes(&r, &t->raw, &t->raw_len, "TensorProto.raw_data"));
            t->has_raw = 1;
            break;
        case 10: SPD_TRY(count_fixed_field(&r, wt, 8, "TensorProto.double_data", &t->n_double)); break;
        case 11: SPD_TRY(count_varint_field(&r, wt, "TensorProto.uint64_data", &t->n_uint64)); break;
        case 12:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, "TensorProto.doc_string"));
            SPD_TRY(spd_pb_skip(&r, wt, "TensorProto.doc_string"));
            break;
        case 13: SPD_TRY(scan_external_entry(&r, wt, t)); break;
        case 14: SPD_TRY(read_i64(&r, wt, "TensorProto.data_location", &t->data_location)); break;
        default: SPD_TRY(spd_pb_skip(&r, wt, "TensorProto")); break;
        }
    }
    return SPD_OK;
}

/* The name for messages, cut to a sane length. */
static void tensor_label(const tscan *t, char *buf, size_t n)
{
    if (!t->name_len) {
        snprintf(buf, n, "tensor");
        return;
    }
    int k = t->name_len > 200 ? 200 : (int)t->name_len;
    snprintf(buf, n, "tensor '%.*s'", k, (const char *)t->name);
}

static spd_status parse_decimal(const uint8_t *p, size_t n, uint64_t *out, const char *tl,
                                const char *key)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return spd_errorf(SPD_ERR_INVALID, "%s: external_data %s is not a valid number", tl, key);
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return spd_errorf(SPD_ERR_INVALID, "%s: external_data %s '%.*s' is not a number", tl,
                              key, (int)n, (const char *)p);
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return SPD_OK;
}

/* Refuses locations that could leave the model's folder. */
static spd_status check_location(const uint8_t *p, size_t n, const char *tl)
{
    if (n == 0) return spd_errorf(SPD_ERR_INVALID, "%s: external_data location is empty", tl);
    if (memchr(p, 0, n))
        return spd_errorf(SPD_ERR_INVALID, "%s: external_data location contains a NUL byte", tl);
    if (p[0] == '/' || p[0] == '\\')
        return spd_errorf(SPD_ERR_INVALID,
                          "%s: external_data location '%.*s' is an absolute path (only paths "
                          "relative to the model's folder are allowed)",
                          tl, (int)n, (const char *)p);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '/' || p[i] == '\\') {
            if (i - start == 2 && p[start] == '.' && p[start + 1] == '.')
                return spd_errorf(SPD_ERR_INVALID,
                                  "%s: external_data location '%.*s' has a '..' component", tl,
                                  (int)n, (const char *)p);
            start = i + 1;
        }
    }
    return SPD_OK;
}

static spd_status model_mapping(dctx *c, const char *path, spd_mapping **out)
{
    spd_model *m = c->model;
    for (int i = 0; i < m->n_mappings; i++) {
        if (!strcmp(m->mappings[i]->path, path)) {
            *out = m->mappings[i];
            return SPD_OK;
        }
    }
    spd_mapping **arr = spd_realloc(m->mappings, sizeof *arr * (size_t)(m->n_mappings + 1));
    if (!arr) return nomem();
    m->mappings = arr;
    SPD_TRY(spd_mapping_open(path, out));
    m->mappings[m->n_mappings++] = *out;
    return SPD_OK;
}

static spd_status resolve_external(dctx *c, const tscan *t, const char *tl, size_t nbytes,
                                   const uint8_t **data, spd_mapping **map)
{
    if (!c->dir || !c->model)
        return spd_errorf(SPD_ERR_UNSUPPORTED,
                          "%s: external data needs a model file (it cannot be used from a buffer)",
                          tl);
    if (!t->has_loc) return spd_errorf(SPD_ERR_INVALID, "%s: external_data has no location", tl);
    SPD_TRY(check_location(t->loc, t->loc_len, tl));
    uint64_t off = 0, len = 0;
    if (t->has_off) SPD_TRY(parse_decimal(t->off, t->off_len, &off, tl, "offset"));
    if (t->has_len) SPD_TRY(parse_decimal(t->len, t->len_len, &len, tl, "length"));

    size_t dl = strlen(c->dir);
    char *path = spd_malloc(dl + 1 + t->loc_len + 1);
    if (!path) return nomem();
    memcpy(path, c->dir, dl);
    path[dl] = '/';
    memcpy(path + dl + 1, t->loc, t->loc_len);
    path[dl + 1 + t->loc_len] = '\0';
    spd_mapping *mp = NULL;
    spd_status s = model_mapping(c, path, &mp);
    spd_free(path);
    if (s != SPD_OK) return spd_error_prefix(s, "%s: external data", tl);

    if (off > mp->size)
        return spd_errorf(SPD_ERR_INVALID, "%s: external data offset %llu is past the end of %s (%zu bytes)",
                          tl, (unsigned long long)off, mp->path, mp->size);
    if (!t->has_len) len = mp->size - off;
    if (len > mp->size - off)
        return spd_errorf(SPD_ERR_INVALID,
                          "%s: external data (offset %llu, length %llu) runs past the end of %s "
                          "(%zu bytes)",
                          tl, (unsigned long long)off, (unsigned long long)len, mp->path, mp->size);
    if (len != nbytes)
        return spd_errorf(SPD_ERR_INVALID,
                          "%s: external data has %llu bytes but the shape needs %zu", tl,
                          (unsigned long long)len, nbytes);
    *data = mp->data ? mp->data + off : NULL;
    *map = mp;
    return SPD_OK;
}

static spd_status check_dtype(int64_t dt, const char *tl)
{
    if (dt >= 1 && dt <= 16) return SPD_OK;
    if (dt >= 17 && dt <= 23)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: data_type %lld (float8/int4) is not supported",
                          tl, (long long)dt);
    return spd_errorf(SPD_ERR_INVALID, "%s: unknown data_type %lld", tl, (long long)dt);
}

/* Which typed field carries each data type, and how many values per element. */
static int typed_field(spd_dtype dt, int *per_elem)
{
    *per_elem = 1;
    switch (dt) {
    case SPD_FLOAT: return 4;
    case SPD_COMPLEX64: *per_elem = 2; return 4;
    case SPD_INT32: case SPD_INT16: case SPD_INT8: case SPD_UINT16: case SPD_UINT8:
    case SPD_BOOL: case SPD_FLOAT16: case SPD_BFLOAT16: return 5;
    case SPD_STRING: return 6;
    case SPD_INT64: return 7;
    case SPD_DOUBLE: return 10;
    case SPD_COMPLEX128: *per_elem = 2; return 10;
    case SPD_UINT32: case SPD_UINT64: return 11;
    default: return 0;
    }
}

static const char *field_name(int f)
{
    switch (f) {
    case 4: return "float_data";
    case 5: return "int32_data";
    case 6: return "string_data";
    case 7: return "int64_data";
    case 10: return "double_data";
    case 11: return "uint64_data";
    default: return "?";
    }
}

static void store_int(void *data, spd_dtype dt, size_t i, uint64_t v)
{
    switch (dt) {
    case SPD_INT32: ((int32_t *)data)[i] = (int32_t)(uint32_t)v; break;
    case SPD_INT16: ((int16_t *)data)[i] = (int16_t)(uint16_t)v; break;
    case SPD_INT8: ((int8_t *)data)[i] = (int8_t)(uint8_t)v; break;
    case SPD_UINT16: case SPD_FLOAT16: case SPD_BFLOAT16: ((uint16_t *)data)[i] = (uint16_t)v; break;
    case SPD_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
    case SPD_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    case SPD_INT64: case SPD_UINT64: ((uint64_t *)data)[i] = v; break;
    case SPD_UINT32: ((uint32_t *)data)[i] = (uint32_t)v; break;
    default: break;
    }
}

/* Second pass: decodes the typed field `want` of message r into data. */
static spd_status fill_typed(spd_pb r, int want, spd_dtype dt, void *data, size_t count)
{
    size_t k = 0;
    const char *what = field_name(want);
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "TensorProto", &f, &wt));
        if ((int)f != want) {
            SPD_TRY(spd_pb_skip(&r, wt, "TensorProto"));
            continue;
        }
        if (want == 4 || want == 10) {
            size_t esz = want == 4 ? 4 : 8;
            if (wt == SPD_PB_LEN) {
                const uint8_t *p = NULL;
                size_t n = 0;
                SPD_TRY(spd_pb_bytes(&r, &p, &n, what));
                if (k + n / esz > count) break;
                memcpy((uint8_t *)data + k * esz, p, n);
                k += n / esz;
            } else {
                if (k >= count) break;
                if (esz == 4) {
                    uint32_t v = 0;
                    SPD_TRY(spd_pb_fixed32(&r, &v, what));
                    memcpy((uint8_t *)data + k * 4, &v, 4);
                } else {
                    uint64_t v = 0;
                    SPD_TRY(spd_pb_fixed64(&r, &v, what));
                    memcpy((uint8_t *)data + k * 8, &v, 8);
                }
                k++;
            }
        } else if (wt == SPD_PB_LEN) {
            spd_pb sub;
            SPD_TRY(spd_pb_sub(&r, &sub, what));
            while (!spd_pb_done(&sub) && k < count) {
                uint64_t v = 0;
                SPD_TRY(spd_pb_varint(&sub, &v, what));
                store_int(data, dt, k++, v);
            }
        } else {
            uint64_t v = 0;
            SPD_TRY(spd_pb_varint(&r, &v, what));
            if (k < count) store_int(data, dt, k++, v);
        }
    }
    if (k != count)
        return spd_errorf(SPD_ERR_INTERNAL, "%s: decoded %zu values, counted %zu", what, k, count);
    return SPD_OK;
}

/* Decodes one TensorProto from r. may_view: the data may stay in a mapping
 * (the tensor outlives this call inside the model). */
static spd_status decode_tensor(dctx *c, spd_pb r, int may_view, spd_tensor *out, char **name_out)
{
    tscan t;
    memset(out, 0, sizeof *out);
    SPD_TRY(scan_tensor(r, &t));
    char tl[256];
    tensor_label(&t, tl, sizeof tl);

    if (t.has_segment)
        return spd_errorf(SPD_ERR_UNSUPPORTED,
                          "%s: TensorProto.segment is set: segmented tensors are not supported "
                          "(or this is a SequenceProto/OptionalProto, not a TensorProto)",
                          tl);
    SPD_TRY(check_dtype(t.data_type, tl));
    spd_dtype dt = (spd_dtype)t.data_type;
    if (t.ndim > SPD_MAX_DIMS)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: rank %d (at most %d is supported)", tl, t.ndim,
                          SPD_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < t.ndim; i++) {
        if (t.dims[i] < 0)
            return spd_errorf(SPD_ERR_INVALID, "%s: negative dimension %lld (dims[%d])", tl,
                              (long long)t.dims[i], i);
        if (t.dims[i] > 0 && numel > MAX_ELEMS / t.dims[i])
            return spd_errorf(SPD_ERR_INVALID, "%s: more than 2^40 elements", tl);
        numel *= t.dims[i];
    }
    if (name_out) SPD_TRY(set_str(name_out, t.name ? t.name : (const uint8_t *)"", t.name_len));

    out->dtype = dt;
    out->ndim = t.ndim;
    memcpy(out->dims, t.dims, sizeof(int64_t) * (size_t)t.ndim);
    /* Strings are kept as a shape only; kernels report them unsupported. */
    if (dt == SPD_STRING) return SPD_OK;

    size_t esz = spd_dtype_size(dt);
    size_t nbytes = (size_t)numel * esz;
    int per_elem;
    int want = typed_field(dt, &per_elem);
    size_t counts[12] = {0};
    counts[4] = t.n_float, counts[5] = t.n_int32, counts[6] = t.n_string;
    counts[7] = t.n_int64, counts[10] = t.n_double, counts[11] = t.n_uint64;

    const uint8_t *bytes = NULL;
    spd_mapping *bmap = NULL;
    int have_bytes = 0;
    if (t.data_location == 1) {
        SPD_TRY(resolve_external(c, &t, tl, nbytes, &bytes, &bmap));
        have_bytes = 1;
    } else if (t.data_location != 0) {
        return spd_errorf(SPD_ERR_INVALID, "%s: unknown data_location %lld", tl,
                          (long long)t.data_location);
    } else if (t.has_raw) {
        if (t.raw_len != nbytes)
            return spd_errorf(SPD_ERR_INVALID,
                              "%s: raw_data has %zu bytes but %s[%lld elements] needs %zu", tl,
                              t.raw_len, spd_dtype_name(dt), (long long)numel, nbytes);
        bytes = t.raw;
        bmap = c->map;
        have_bytes = 1;
    }
    for (int f = 4; f <= 11; f++) {
        if (!counts[f]) continue;
        if (have_bytes)
            return spd_errorf(SPD_ERR_INVALID, "%s: has both %s and %s", tl,
                              t.data_location == 1 ? "external data" : "raw_data", field_name(f));
        if (f != want)
            return spd_errorf(SPD_ERR_INVALID, "%s: %s given for a %s tensor", tl, field_name(f),
                              spd_dtype_name(dt));
    }

    if (have_bytes) {
        size_t align = esz > 8 ? 8 : esz;
        if (may_view && bmap && bytes && nbytes && ((uintptr_t)bytes % align) == 0) {
            out->data = (void *)bytes;
            out->owner = 0;
            bmap->refs++;
            return SPD_OK;
        }
        out->data = spd_malloc(nbytes ? nbytes : 1);
        if (!out->data) return spd_errorf(SPD_ERR_NOMEM, "%s: out of memory (%zu bytes)", tl, nbytes);
        out->owner = 1;
        if (nbytes) memcpy(out->data, bytes, nbytes);
        return SPD_OK;
    }

    size_t want_count = (size_t)numel * (size_t)per_elem;
    if (counts[want] == 0 && want_count > 0)
        return spd_errorf(SPD_ERR_INVALID, "%s: has no data (%s[%lld elements])", tl,
                          spd_dtype_name(dt), (long long)numel);
    if (counts[want] != want_count)
        return spd_errorf(SPD_ERR_INVALID, "%s: %s has %zu values but %s[%lld elements] needs %zu",
                          tl, field_name(want),
                          counts[want], spd_dtype_name(dt), (long long)numel, want_count);
    out->data = spd_malloc(nbytes ? nbytes : 1);
    if (!out->data) return spd_errorf(SPD_ERR_NOMEM, "%s: out of memory (%zu bytes)", tl, nbytes);
    out->owner = 1;
    if (want_count) SPD_TRY(fill_typed(r, want, dt, out->data, want_count));
    return SPD_OK;
}

spd_status spd_tensorproto_decode(const uint8_t *buf, size_t len, spd_tensor *out, char **name_out)
{
    dctx c = {0};
    spd_pb r;
    spd_pb_init(&r, buf, len);
    if (name_out) *name_out = NULL;
    spd_status s = decode_tensor(&c, r, 0, out, name_out);
    if (s != SPD_OK) {
        spd_tensor_release(out);
        if (name_out) {
            spd_free(*name_out);
            *name_out = NULL;
        }
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* SparseTensorProto, densified                                         */

static spd_status decode_sparse(dctx *c, spd_pb r, spd_tensor *out, char **name_out)
{
    spd_pb vals_r = {0}, idx_r = {0};
    int has_vals = 0, has_idx = 0;
    int64_t dims[SPD_MAX_DIMS];
    int ndim = 0;
    memset(out, 0, sizeof *out);
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "SparseTensorProto", &f, &wt));
        if (f == 1) {
            SPD_TRY(read_sub(&r, wt, "SparseTensorProto.values", &vals_r));
            has_vals = 1;
        } else if (f == 2) {
            SPD_TRY(read_sub(&r, wt, "SparseTensorProto.indices", &idx_r));
            has_idx = 1;
        } else if (f == 3) {
            spd_pb sub;
            if (wt == SPD_PB_LEN) {
                SPD_TRY(spd_pb_sub(&r, &sub, "SparseTensorProto.dims"));
            } else {
                sub = r;
                sub.end = r.p;
                int64_t v = 0;
                SPD_TRY(read_i64(&r, wt, "SparseTensorProto.dims", &v));
                if (ndim >= SPD_MAX_DIMS)
                    return spd_errorf(SPD_ERR_UNSUPPORTED, "sparse tensor of rank > %d", SPD_MAX_DIMS);
                dims[ndim++] = v;
            }
            while (!spd_pb_done(&sub)) {
                uint64_t v = 0;
                SPD_TRY(spd_pb_varint(&sub, &v, "SparseTensorProto.dims"));
                if (ndim >= SPD_MAX_DIMS)
                    return spd_errorf(SPD_ERR_UNSUPPORTED, "sparse tensor of rank > %d", SPD_MAX_DIMS);
                dims[ndim++] = (int64_t)v;
            }
        } else {
            SPD_TRY(spd_pb_skip(&r, wt, "SparseTensorProto"));
        }
    }
    if (!has_vals || !has_idx)
        return spd_errorf(SPD_ERR_INVALID, "sparse tensor without %s", has_vals ? "indices" : "values");
    spd_tensor vals = {0}, idx = {0};
    spd_status s = decode_tensor(c, vals_r, 0, &vals, name_out);
    if (s == SPD_OK) s = decode_tensor(c, idx_r, 0, &idx, NULL);
    const char *nm = name_out && *name_out ? *name_out : "";
    if (s != SPD_OK) goto done;
    if (vals.dtype == SPD_STRING || vals.ndim != 1) {
        s = spd_errorf(SPD_ERR_UNSUPPORTED, "sparse tensor '%s': values must be a 1-D numeric tensor", nm);
        goto done;
    }
    int64_t nnz = vals.dims[0];
    if (idx.dtype != SPD_INT64 ||
        !((idx.ndim == 1 && idx.dims[0] == nnz) ||
          (idx.ndim == 2 && idx.dims[0] == nnz && idx.dims[1] == ndim))) {
        s = spd_errorf(SPD_ERR_INVALID,
                       "sparse tensor '%s': indices must be int64 of shape [%lld] or [%lld,%d]", nm,
                       (long long)nnz, (long long)nnz, ndim);
        goto done;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && numel > MAX_ELEMS / dims[i])) {
            s = spd_errorf(SPD_ERR_INVALID, "sparse tensor '%s': invalid dims", nm);
            goto done;
        }
        numel *= dims[i];
    }
    size_t esz = spd_dtype_size(vals.dtype);
    if ((uint64_t)numel * esz > MAX_DENSE_BYTES) {
        s = spd_errorf(SPD_ERR_UNSUPPORTED, "sparse tensor '%s': dense form too large", nm);
        goto done;
    }
    s = spd_tensor_alloc(out, vals.dtype, ndim, dims);
    if (s != SPD_OK) goto done;
    const int64_t *ix = idx.data;
    for (int64_t k = 0; k < nnz; k++) {
        int64_t lin = 0;
        if (idx.ndim == 1) {
            lin = ix[k];
        } else {
            for (int j = 0; j < ndim; j++) {
                int64_t v = ix[k * ndim + j];
                if (v < 0 || v >= dims[j]) { lin = -1; break; }
                lin = lin * dims[j] + v;
            }
        }
        if (lin < 0 || lin >= numel) {
            s = spd_errorf(SPD_ERR_INVALID, "sparse tensor '%s': index %lld out of range", nm,
                           (long long)k);
            spd_tensor_release(out);
            goto done;
        }
        memcpy((uint8_t *)out->data + (size_t)lin * esz, (uint8_t *)vals.data + (size_t)k * esz, esz);
    }
done:
    spd_tensor_release(&vals);
    spd_tensor_release(&idx);
    return s;
}

/* ------------------------------------------------------------------ */
/* ValueInfoProto                                                       */

static spd_status decode_shape(spd_pb r, spd_value_info *v, int *rank)
{
    int n = 0;
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "TensorShapeProto", &f, &wt));
        if (f != 1) {
            SPD_TRY(spd_pb_skip(&r, wt, "TensorShapeProto"));
            continue;
        }
        spd_pb d;
        SPD_TRY(read_sub(&r, wt, "TensorShapeProto.dim", &d));
        int64_t value = -1;
        char *param = NULL;
        spd_status s = SPD_OK;
        while (s == SPD_OK && !spd_pb_done(&d)) {
            uint32_t df = 0;
            int dwt = 0;
            s = spd_pb_tag(&d, "TensorShapeProto.Dimension", &df, &dwt);
            if (s != SPD_OK) break;
            if (df == 1) {
                s = read_i64(&d, dwt, "TensorShapeProto.Dimension.dim_value", &value);
                spd_free(param);
                param = NULL;
            } else if (df == 2) {
                s = read_str(&d, dwt, "TensorShapeProto.Dimension.dim_param", &param);
                value = -1;
            } else {
                s = spd_pb_skip(&d, dwt, "TensorShapeProto.Dimension");
            }
        }
        if (s != SPD_OK) {
            spd_free(param);
            return s;
        }
        if (value < 0) value = -1; /* negative sizes in the wild mean "unknown" */
        if (param && !*param) {
            spd_free(param);
            param = NULL;
        }
        if (n < SPD_MAX_DIMS) {
            v->dims[n].value = value;
            v->dims[n].param = param;
        } else {
            spd_free(param);
        }
        if (n < 1000000) n++;
    }
    *rank = n;
    return SPD_OK;
}

static spd_status decode_type(spd_pb r, spd_value_info *v, int *rank)
{
    v->dtype = SPD_UNDEFINED;
    *rank = -1;
    int is_tensor = 0;
    spd_pb tt = {0};
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "TypeProto", &f, &wt));
        if (f == 1) {
            SPD_TRY(read_sub(&r, wt, "TypeProto.tensor_type", &tt));
            is_tensor = 1;
        } else if (f == 4 || f == 5 || f == 8 || f == 9) {
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, "TypeProto"));
            SPD_TRY(spd_pb_skip(&r, wt, "TypeProto"));
            is_tensor = 0; /* oneof: the last one wins */
        } else {
            SPD_TRY(spd_pb_skip(&r, wt, "TypeProto"));
        }
    }
    if (!is_tensor) return SPD_OK;
    while (!spd_pb_done(&tt)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&tt, "TypeProto.Tensor", &f, &wt));
        if (f == 1) {
            int64_t et = 0;
            SPD_TRY(read_i64(&tt, wt, "TypeProto.Tensor.elem_type", &et));
            v->dtype = et >= 0 && et <= 16 ? (spd_dtype)et : SPD_UNDEFINED;
        } else if (f == 2) {
            spd_pb sh;
            SPD_TRY(read_sub(&tt, wt, "TypeProto.Tensor.shape", &sh));
            for (int i = 0; i < SPD_MAX_DIMS; i++) {
                spd_free(v->dims[i].param);
                v->dims[i].param = NULL;
            }
            SPD_TRY(decode_shape(sh, v, rank));
        } else {
            SPD_TRY(spd_pb_skip(&tt, wt, "TypeProto.Tensor"));
        }
    }
    return SPD_OK;
}

/* strict: graph inputs and outputs must fit SPD_MAX_DIMS; intermediate
 * value_info of higher rank is kept as "rank unknown". */
static spd_status decode_value_info(spd_pb r, spd_value_info *v, int strict)
{
    v->ndim = -1;
    for (int i = 0; i < SPD_MAX_DIMS; i++) v->dims[i].value = -1;
    int rank = -1;
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "ValueInfoProto", &f, &wt));
        if (f == 1) {
            SPD_TRY(read_str(&r, wt, "ValueInfoProto.name", &v->name));
        } else if (f == 2) {
            spd_pb t;
            SPD_TRY(read_sub(&r, wt, "ValueInfoProto.type", &t));
            SPD_TRY(decode_type(t, v, &rank));
        } else if (f == 3) {
            SPD_TRY(read_str(&r, wt, "ValueInfoProto.doc_string", &v->doc));
        } else {
            SPD_TRY(spd_pb_skip(&r, wt, "ValueInfoProto"));
        }
    }
    SPD_TRY(ensure_str(&v->name));
    SPD_TRY(ensure_str(&v->doc));
    if (rank > SPD_MAX_DIMS) {
        if (strict)
            return spd_errorf(SPD_ERR_UNSUPPORTED, "value '%s' has rank %d (at most %d is supported)",
                              v->name, rank, SPD_MAX_DIMS);
        for (int i = 0; i < SPD_MAX_DIMS; i++) {
            spd_free(v->dims[i].param);
            v->dims[i].param = NULL;
            v->dims[i].value = -1;
        }
        rank = -1;
    }
    v->ndim = rank;
    return SPD_OK;
}

/* ------------------------------------------------------------------ */
/* Attributes, nodes, graphs                                            */

static spd_status decode_graph(dctx *c, spd_pb r, spd_graph **out);

static spd_status copy_bytes(const uint8_t *p, size_t n, char **s, size_t *s_len)
{
    SPD_TRY(set_str(s, p, n));
    *s_len = n;
    return SPD_OK;
}

static spd_status decode_attr(dctx *c, spd_pb r, spd_attr *a)
{
    spd_pb start = r;
    int64_t type = 0;
    int has_f = 0, has_i = 0, has_s = 0, has_t = 0, has_g = 0, has_sp = 0, has_tp = 0;
    uint32_t fbits = 0;
    int64_t ival = 0;
    const uint8_t *sp = NULL;
    size_t sn = 0;
    spd_pb t_r = {0}, g_r = {0}, sp_r = {0}, tp_r = {0};
    size_t n_floats = 0, n_ints = 0, n_strings = 0, n_tensors = 0, n_graphs = 0, n_sps = 0, n_tps = 0;

    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "AttributeProto", &f, &wt));
        switch (f) {
        case 1: SPD_TRY(read_str(&r, wt, "AttributeProto.name", &a->name)); break;
        case 21: SPD_TRY(read_str(&r, wt, "AttributeProto.ref_attr_name", &a->ref_attr_name)); break;
        case 20: SPD_TRY(read_i64(&r, wt, "AttributeProto.type", &type)); break;
        case 2:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_FIXED32, "AttributeProto.f"));
            SPD_TRY(spd_pb_fixed32(&r, &fbits, "AttributeProto.f"));
            has_f = 1;
            break;
        case 3: SPD_TRY(read_i64(&r, wt, "AttributeProto.i", &ival)); has_i = 1; break;
        case 4:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, "AttributeProto.s"));
            SPD_TRY(spd_pb_bytes(&r, &sp, &sn, "AttributeProto.s"));
            has_s = 1;
            break;
        case 5: SPD_TRY(read_sub(&r, wt, "AttributeProto.t", &t_r)); has_t = 1; break;
        case 6: SPD_TRY(read_sub(&r, wt, "AttributeProto.g", &g_r)); has_g = 1; break;
        case 22: SPD_TRY(read_sub(&r, wt, "AttributeProto.sparse_tensor", &sp_r)); has_sp = 1; break;
        case 14: SPD_TRY(read_sub(&r, wt, "AttributeProto.tp", &tp_r)); has_tp = 1; break;
        case 7: SPD_TRY(count_fixed_field(&r, wt, 4, "AttributeProto.floats", &n_floats)); break;
        case 8: SPD_TRY(count_varint_field(&r, wt, "AttributeProto.ints", &n_ints)); break;
        case 9: case 10: case 11: case 23: case 15: {
            spd_pb tmp;
            SPD_TRY(read_sub(&r, wt, "AttributeProto", &tmp));
            size_t *cnt = f == 9 ? &n_strings : f == 10 ? &n_tensors : f == 11 ? &n_graphs
                        : f == 23 ? &n_sps : &n_tps;
            (*cnt)++;
            break;
        }
        default: SPD_TRY(spd_pb_skip(&r, wt, "AttributeProto")); break;
        }
    }
    SPD_TRY(ensure_str(&a->name));
    if (type == 0) { /* IR version 1 had no type field: infer it */
        type = has_f ? SPD_ATTR_FLOAT : has_i ? SPD_ATTR_INT : has_s ? SPD_ATTR_STRING
             : has_t ? SPD_ATTR_TENSOR : has_g ? SPD_ATTR_GRAPH : n_floats ? SPD_ATTR_FLOATS
             : n_ints ? SPD_ATTR_INTS : n_strings ? SPD_ATTR_STRINGS : n_tensors ? SPD_ATTR_TENSORS
             : n_graphs ? SPD_ATTR_GRAPHS : has_sp ? SPD_ATTR_SPARSE_TENSOR
             : has_tp ? SPD_ATTR_TYPE_PROTO : SPD_ATTR_UNDEFINED;
    }
    if (type < 0 || type > 14)
        return spd_errorf(SPD_ERR_INVALID, "attribute '%s' has unknown type %lld", a->name, (long long)type);
    a->type = (spd_attr_type)type;

    switch (a->type) {
    case SPD_ATTR_UNDEFINED:
        return spd_errorf(SPD_ERR_INVALID, "attribute '%s' has no type and no value", a->name);
    case SPD_ATTR_FLOAT: memcpy(&a->f, &fbits, 4); break;
    case SPD_ATTR_INT: a->i = ival; break;
    case SPD_ATTR_STRING: SPD_TRY(copy_bytes(sp ? sp : (const uint8_t *)"", sn, &a->s, &a->s_len)); break;
    case SPD_ATTR_TENSOR:
        if (!has_t) return spd_errorf(SPD_ERR_INVALID, "attribute '%s' of type TENSOR has no tensor", a->name);
        a->n = 1;
        a->t = spd_calloc(1, sizeof *a->t);
        if (!a->t) return nomem();
        SPD_TRY(decode_tensor(c, t_r, 1, a->t, NULL));
        break;
    case SPD_ATTR_GRAPH:
        if (!has_g) return spd_errorf(SPD_ERR_INVALID, "attribute '%s' of type GRAPH has no graph", a->name);
        a->n = 1;
        a->graphs = spd_calloc(1, sizeof *a->graphs);
        if (!a->graphs) return nomem();
        SPD_TRY(decode_graph(c, g_r, &a->graphs[0]));
        break;
    case SPD_ATTR_SPARSE_TENSOR:
        /* The serialized proto is kept in s for writing back; t holds the
         * dense form for kernels (Constant's sparse_value). */
        if (!has_sp) break;
        SPD_TRY(copy_bytes(sp_r.p, (size_t)(sp_r.end - sp_r.p), &a->s, &a->s_len));
        a->n = 1;
        a->t = spd_calloc(1, sizeof *a->t);
        if (!a->t) return nomem();
        SPD_TRY(decode_sparse(c, sp_r, a->t, NULL));
        break;
    case SPD_ATTR_TYPE_PROTO:
        if (has_tp) SPD_TRY(copy_bytes(tp_r.p, (size_t)(tp_r.end - tp_r.p), &a->s, &a->s_len));
        break;
    case SPD_ATTR_SPARSE_TENSORS:
    case SPD_ATTR_TYPE_PROTOS:
        break;
    case SPD_ATTR_FLOATS:
    case SPD_ATTR_INTS:
    case SPD_ATTR_STRINGS:
    case SPD_ATTR_TENSORS:
    case SPD_ATTR_GRAPHS: {
        size_t n = a->type == SPD_ATTR_FLOATS ? n_floats : a->type == SPD_ATTR_INTS ? n_ints
                 : a->type == SPD_ATTR_STRINGS ? n_strings : a->type == SPD_ATTR_TENSORS ? n_tensors
                 : n_graphs;
        uint32_t want = a->type == SPD_ATTR_FLOATS ? 7 : a->type == SPD_ATTR_INTS ? 8
                      : a->type == SPD_ATTR_STRINGS ? 9 : a->type == SPD_ATTR_TENSORS ? 10 : 11;
        size_t m = n ? n : 1; /* a present but empty list is a non-NULL array */
        if (a->type == SPD_ATTR_FLOATS) a->floats = spd_calloc(m, sizeof *a->floats);
        if (a->type == SPD_ATTR_INTS) a->ints = spd_calloc(m, sizeof *a->ints);
        if (a->type == SPD_ATTR_STRINGS) a->strings = spd_calloc(m, sizeof *a->strings);
        if (a->type == SPD_ATTR_TENSORS) a->t = spd_calloc(m, sizeof *a->t);
        if (a->type == SPD_ATTR_GRAPHS) a->graphs = spd_calloc(m, sizeof *a->graphs);
        if (!a->floats && !a->ints && !a->strings && !a->t && !a->graphs) return nomem();
        a->n = n;
        size_t k = 0;
        r = start;
        while (!spd_pb_done(&r) && k < n) {
            uint32_t f = 0;
            int wt = 0;
            SPD_TRY(spd_pb_tag(&r, "AttributeProto", &f, &wt));
            if (f != want) {
                SPD_TRY(spd_pb_skip(&r, wt, "AttributeProto"));
                continue;
            }
            if (want == 7 && wt == SPD_PB_FIXED32) {
                uint32_t b = 0;
                SPD_TRY(spd_pb_fixed32(&r, &b, "AttributeProto.floats"));
                memcpy(&a->floats[k++], &b, 4);
            } else if (want == 7) {
                const uint8_t *p = NULL;
                size_t nb = 0;
                SPD_TRY(spd_pb_bytes(&r, &p, &nb, "AttributeProto.floats"));
                memcpy(&a->floats[k], p, nb);
                k += nb / 4;
            } else if (want == 8 && wt == SPD_PB_VARINT) {
                uint64_t v = 0;
                SPD_TRY(spd_pb_varint(&r, &v, "AttributeProto.ints"));
                a->ints[k++] = (int64_t)v;
            } else if (want == 8) {
                spd_pb sub;
                SPD_TRY(spd_pb_sub(&r, &sub, "AttributeProto.ints"));
                while (!spd_pb_done(&sub) && k < n) {
                    uint64_t v = 0;
                    SPD_TRY(spd_pb_varint(&sub, &v, "AttributeProto.ints"));
                    a->ints[k++] = (int64_t)v;
                }
            } else {
                spd_pb sub;
                SPD_TRY(spd_pb_sub(&r, &sub, "AttributeProto"));
                if (want == 9) {
                    SPD_TRY(set_str(&a->strings[k], sub.p, (size_t)(sub.end - sub.p)));
                } else if (want == 10) {
                    spd_status s = decode_tensor(c, sub, 1, &a->t[k], NULL);
                    if (s != SPD_OK) return spd_error_prefix(s, "tensors[%zu]", k);
                } else {
                    spd_status s = decode_graph(c, sub, &a->graphs[k]);
                    if (s != SPD_OK) return spd_error_prefix(s, "graphs[%zu]", k);
                }
                k++;
            }
        }
        if (k != n) return spd_errorf(SPD_ERR_INTERNAL, "attribute list decoded %zu of %zu", k, n);
        break;
    }
    }
    return SPD_OK;
}

static spd_status decode_node(dctx *c, spd_pb r, spd_node *n)
{
    spd_pb start = r;
    int ni = 0, no = 0, na = 0;
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "NodeProto", &f, &wt));
        switch (f) {
        case 1: case 2: case 5:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, f == 1 ? "NodeProto.input"
                                  : f == 2 ? "NodeProto.output" : "NodeProto.attribute"));
            SPD_TRY(spd_pb_skip(&r, wt, "NodeProto"));
            if (f == 1) ni++;
            else if (f == 2) no++;
            else na++;
            break;
        case 3: SPD_TRY(read_str(&r, wt, "NodeProto.name", &n->name)); break;
        case 4: SPD_TRY(read_str(&r, wt, "NodeProto.op_type", &n->op_type)); break;
        case 7: SPD_TRY(read_str(&r, wt, "NodeProto.domain", &n->domain)); break;
        case 6: SPD_TRY(read_str(&r, wt, "NodeProto.doc_string", &n->doc)); break;
        default: SPD_TRY(spd_pb_skip(&r, wt, "NodeProto")); break;
        }
    }
    SPD_TRY(ensure_str(&n->name));
    SPD_TRY(ensure_str(&n->op_type));
    SPD_TRY(ensure_str(&n->domain));
    SPD_TRY(ensure_str(&n->doc));
    n->inputs = spd_calloc(ni ? (size_t)ni : 1, sizeof *n->inputs);
    n->outputs = spd_calloc(no ? (size_t)no : 1, sizeof *n->outputs);
    n->attrs = spd_calloc(na ? (size_t)na : 1, sizeof *n->attrs);
    if (!n->inputs || !n->outputs || !n->attrs) return nomem();
    n->n_inputs = ni;
    n->n_outputs = no;
    n->n_attrs = na;
    int ki = 0, ko = 0, ka = 0;
    r = start;
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "NodeProto", &f, &wt));
        if (f == 1) {
            SPD_TRY(read_str(&r, wt, "NodeProto.input", &n->inputs[ki++]));
        } else if (f == 2) {
            SPD_TRY(read_str(&r, wt, "NodeProto.output", &n->outputs[ko++]));
        } else if (f == 5) {
            spd_pb sub;
            SPD_TRY(read_sub(&r, wt, "NodeProto.attribute", &sub));
            spd_attr *a = &n->attrs[ka++];
            spd_status s = decode_attr(c, sub, a);
            if (s != SPD_OK) {
                if (a->name && *a->name) return spd_error_prefix(s, "attribute '%s'", a->name);
                return spd_error_prefix(s, "attribute %d", ka - 1);
            }
        } else {
            SPD_TRY(spd_pb_skip(&r, wt, "NodeProto"));
        }
    }
    return SPD_OK;
}

static spd_status decode_graph_body(dctx *c, spd_pb r, spd_graph *g)
{
    spd_pb start = r;
    size_t nn = 0, ninit = 0, nsp = 0, nin = 0, nout = 0, nvi = 0;
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "GraphProto", &f, &wt));
        size_t *cnt = NULL;
        const char *what = "GraphProto";
        switch (f) {
        case 1: cnt = &nn; what = "GraphProto.node"; break;
        case 5: cnt = &ninit; what = "GraphProto.initializer"; break;
        case 15: cnt = &nsp; what = "GraphProto.sparse_initializer"; break;
        case 11: cnt = &nin; what = "GraphProto.input"; break;
        case 12: cnt = &nout; what = "GraphProto.output"; break;
        case 13: cnt = &nvi; what = "GraphProto.value_info"; break;
        case 2: SPD_TRY(read_str(&r, wt, "GraphProto.name", &g->name)); continue;
        case 10: SPD_TRY(read_str(&r, wt, "GraphProto.doc_string", &g->doc)); continue;
        default: SPD_TRY(spd_pb_skip(&r, wt, "GraphProto")); continue;
        }
        SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, what));
        SPD_TRY(spd_pb_skip(&r, wt, what));
        (*cnt)++;
    }
    SPD_TRY(ensure_str(&g->name));
    SPD_TRY(ensure_str(&g->doc));
    if (nn > INT32_MAX || ninit + nsp > INT32_MAX || nin > INT32_MAX || nout > INT32_MAX ||
        nvi > INT32_MAX)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "graph too large");
    g->nodes = spd_calloc(nn ? nn : 1, sizeof *g->nodes);
    g->initializers = spd_calloc(ninit + nsp ? ninit + nsp : 1, sizeof *g->initializers);
    g->inputs = spd_calloc(nin ? nin : 1, sizeof *g->inputs);
    g->outputs = spd_calloc(nout ? nout : 1, sizeof *g->outputs);
    g->value_infos = spd_calloc(nvi ? nvi : 1, sizeof *g->value_infos);
    if (!g->nodes || !g->initializers || !g->inputs || !g->outputs || !g->value_infos) return nomem();
    g->n_nodes = (int)nn;
    g->n_initializers = (int)(ninit + nsp);
    g->n_inputs = (int)nin;
    g->n_outputs = (int)nout;
    g->n_value_infos = (int)nvi;

    size_t kn = 0, kinit = 0, kin = 0, kout = 0, kvi = 0;
    r = start;
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "GraphProto", &f, &wt));
        if (f != 1 && f != 5 && f != 15 && f != 11 && f != 12 && f != 13) {
            SPD_TRY(spd_pb_skip(&r, wt, "GraphProto"));
            continue;
        }
        spd_pb sub;
        SPD_TRY(spd_pb_sub(&r, &sub, "GraphProto"));
        spd_status s = SPD_OK;
        if (f == 1) {
            spd_node *n = &g->nodes[kn];
            s = decode_node(c, sub, n);
            if (s != SPD_OK)
                return spd_error_prefix(s, "node %zu '%s' (%s)", kn, n->name ? n->name : "",
                                        n->op_type ? n->op_type : "?");
            kn++;
        } else if (f == 5 || f == 15) {
            spd_initializer *in = &g->initializers[kinit];
            s = f == 5 ? decode_tensor(c, sub, 1, &in->tensor, &in->name)
                       : decode_sparse(c, sub, &in->tensor, &in->name);
            if (s == SPD_OK) s = ensure_str(&in->name);
            if (s != SPD_OK)
                return spd_error_prefix(s, "%s %zu", f == 5 ? "initializer" : "sparse_initializer", kinit);
            kinit++;
        } else {
            spd_value_info *v = f == 11 ? &g->inputs[kin] : f == 12 ? &g->outputs[kout] : &g->value_infos[kvi];
            s = decode_value_info(sub, v, f != 13);
            if (s != SPD_OK)
                return spd_error_prefix(s, "%s %zu", f == 11 ? "input" : f == 12 ? "output" : "value_info",
                                        f == 11 ? kin : f == 12 ? kout : kvi);
            if (f == 11) kin++;
            else if (f == 12) kout++;
            else kvi++;
        }
    }
    return SPD_OK;
}

static spd_status decode_graph(dctx *c, spd_pb r, spd_graph **out)
{
    if (c->depth >= MAX_GRAPH_DEPTH)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "subgraphs nested more than %d deep", MAX_GRAPH_DEPTH);
    spd_graph *g = spd_calloc(1, sizeof *g);
    if (!g) return nomem();
    *out = g;
    c->depth++;
    spd_status s = decode_graph_body(c, r, g);
    c->depth--;
    if (s != SPD_OK && g->name && *g->name) return spd_error_prefix(s, "graph '%s'", g->name);
    return s;
}

/* ------------------------------------------------------------------ */
/* ModelProto                                                           */

static spd_status decode_kv(spd_pb r, spd_kv *kv)
{
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "StringStringEntryProto", &f, &wt));
        if (f == 1) SPD_TRY(read_str(&r, wt, "StringStringEntryProto.key", &kv->key));
        else if (f == 2) SPD_TRY(read_str(&r, wt, "StringStringEntryProto.value", &kv->value));
        else SPD_TRY(spd_pb_skip(&r, wt, "StringStringEntryProto"));
    }
    SPD_TRY(ensure_str(&kv->key));
    return ensure_str(&kv->value);
}

static spd_status decode_opset(spd_pb r, spd_opset *o)
{
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "OperatorSetIdProto", &f, &wt));
        if (f == 1) SPD_TRY(read_str(&r, wt, "OperatorSetIdProto.domain", &o->domain));
        else if (f == 2) SPD_TRY(read_i64(&r, wt, "OperatorSetIdProto.version", &o->version));
        else SPD_TRY(spd_pb_skip(&r, wt, "OperatorSetIdProto"));
    }
    return ensure_str(&o->domain);
}

static spd_status decode_model(dctx *c, spd_pb r, spd_model *m)
{
    spd_pb start = r;
    size_t nops = 0, nmeta = 0;
    int has_graph = 0;
    spd_pb gr = {0};
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "ModelProto", &f, &wt));
        switch (f) {
        case 1: SPD_TRY(read_i64(&r, wt, "ModelProto.ir_version", &m->ir_version)); break;
        case 2: SPD_TRY(read_str(&r, wt, "ModelProto.producer_name", &m->producer_name)); break;
        case 3: SPD_TRY(read_str(&r, wt, "ModelProto.producer_version", &m->producer_version)); break;
        case 4: SPD_TRY(read_str(&r, wt, "ModelProto.domain", &m->domain)); break;
        case 5: SPD_TRY(read_i64(&r, wt, "ModelProto.model_version", &m->model_version)); break;
        case 6: SPD_TRY(read_str(&r, wt, "ModelProto.doc_string", &m->doc)); break;
        case 7: SPD_TRY(read_sub(&r, wt, "ModelProto.graph", &gr)); has_graph = 1; break;
        case 8: case 14:
            SPD_TRY(spd_pb_expect(&r, wt, SPD_PB_LEN, f == 8 ? "ModelProto.opset_import"
                                                             : "ModelProto.metadata_props"));
            SPD_TRY(spd_pb_skip(&r, wt, "ModelProto"));
            if (f == 8) nops++;
            else nmeta++;
            break;
        default: SPD_TRY(spd_pb_skip(&r, wt, "ModelProto")); break;
        }
    }
    if (!has_graph) return spd_errorf(SPD_ERR_INVALID, "not an ONNX model (no graph)");
    SPD_TRY(ensure_str(&m->producer_name));
    SPD_TRY(ensure_str(&m->producer_version));
    SPD_TRY(ensure_str(&m->domain));
    SPD_TRY(ensure_str(&m->doc));
    if (nops > INT32_MAX || nmeta > INT32_MAX) return spd_errorf(SPD_ERR_UNSUPPORTED, "model too large");
    m->opsets = spd_calloc(nops ? nops : 1, sizeof *m->opsets);
    m->metadata = spd_calloc(nmeta ? nmeta : 1, sizeof *m->metadata);
    if (!m->opsets || !m->metadata) return nomem();
    m->n_opsets = (int)nops;
    m->n_metadata = (int)nmeta;
    size_t ko = 0, km = 0;
    r = start;
    while (!spd_pb_done(&r)) {
        uint32_t f = 0;
        int wt = 0;
        SPD_TRY(spd_pb_tag(&r, "ModelProto", &f, &wt));
        if (f == 8 || f == 14) {
            spd_pb sub;
            SPD_TRY(spd_pb_sub(&r, &sub, "ModelProto"));
            if (f == 8) SPD_TRY(decode_opset(sub, &m->opsets[ko++]));
            else SPD_TRY(decode_kv(sub, &m->metadata[km++]));
        } else {
            SPD_TRY(spd_pb_skip(&r, wt, "ModelProto"));
        }
    }
    spd_status s = decode_graph(c, gr, &m->graph);
    if (s != SPD_OK && !(m->graph && m->graph->name && *m->graph->name))
        return spd_error_prefix(s, "graph");
    return s;
}

void spd_onnx_model_free(spd_model *m)
{
    if (!m) return;
    spd_graph_free(m->graph);
    spd_free(m->path);
    spd_free(m->producer_name);
    spd_free(m->producer_version);
    spd_free(m->domain);
    spd_free(m->doc);
    for (int i = 0; i < m->n_opsets; i++) spd_free(m->opsets[i].domain);
    spd_free(m->opsets);
    for (int i = 0; i < m->n_metadata; i++) {
        spd_free(m->metadata[i].key);
        spd_free(m->metadata[i].value);
    }
    spd_free(m->metadata);
    for (int i = 0; i < m->n_mappings; i++) spd_mapping_free(m->mappings[i]);
    spd_free(m->mappings);
    spd_free(m);
}

/* Drops the mappings no tensor points into (all data was copied). */
static void drop_unused_mappings(spd_model *m)
{
    int k = 0;
    for (int i = 0; i < m->n_mappings; i++) {
        if (m->mappings[i]->refs > 0) m->mappings[k++] = m->mappings[i];
        else spd_mapping_free(m->mappings[i]);
    }
    m->n_mappings = k;
    if (k == 0) {
        spd_free(m->mappings);
        m->mappings = NULL;
    }
}

static spd_status load_common(const uint8_t *buf, size_t len, const char *label, const char *dir,
                              spd_mapping *map, spd_model **out)
{
    *out = NULL;
    spd_model *m = spd_calloc(1, sizeof *m);
    if (!m) {
        spd_mapping_free(map);
        return spd_error_prefix(nomem(), "%s", label);
    }
    if (map) {
        m->mappings = spd_calloc(1, sizeof *m->mappings);
        if (!m->mappings) {
            spd_mapping_free(map);
            spd_free(m);
            return spd_error_prefix(nomem(), "%s", label);
        }
        m->mappings[0] = map;
        m->n_mappings = 1;
    }
    spd_status s;
    if (len == 0) {
        s = spd_errorf(SPD_ERR_INVALID, "empty file");
    } else {
        dctx c = {.dir = dir, .model = m, .map = map, .depth = 0};
        spd_pb r;
        spd_pb_init(&r, buf, len);
        s = decode_model(&c, r, m);
    }
    if (s == SPD_OK) {
        m->path = spd_strdup(label);
        if (!m->path) s = nomem();
    }
    if (s != SPD_OK) {
        spd_onnx_model_free(m);
        return spd_error_prefix(s, "%s", label);
    }
    drop_unused_mappings(m);
    *out = m;
    return SPD_OK;
}

spd_status spd_onnx_load_buffer(const void *buf, size_t len, const char *label, spd_model **out)
{
    return load_common(buf, len, label ? label : "<buffer>", NULL, NULL, out);
}

spd_status spd_onnx_load(const char *path, spd_model **out)
{
    *out = NULL;
    spd_mapping *map;
    SPD_TRY(spd_mapping_open(path, &map));
    const char *slash = strrchr(path, '/');
    char *dir = slash ? spd_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : spd_strdup(".");
    if (!dir) {
        spd_mapping_free(map);
        return spd_error_prefix(nomem(), "%s", path);
    }
    spd_status s = load_common(map->data, map->size, path, dir, map, out);
    spd_free(dir);
    return s;
}
