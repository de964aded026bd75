/* Tensor files: a serialized ONNX TensorProto (.pb) or a numpy array (.npy,
 * format versions 1.0 to 3.0, little-endian, C order). */
#include "io/onnx.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/status.h"

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* numpy's type codes for our dtypes. */
static const struct {
    spd_dtype dt;
    char kind;
    int size;
} npy_types[] = {
    {SPD_FLOAT16, 'f', 2}, {SPD_FLOAT, 'f', 4},    {SPD_DOUBLE, 'f', 8},
    {SPD_INT8, 'i', 1},    {SPD_INT16, 'i', 2},    {SPD_INT32, 'i', 4},   {SPD_INT64, 'i', 8},
    {SPD_UINT8, 'u', 1},   {SPD_UINT16, 'u', 2},   {SPD_UINT32, 'u', 4},  {SPD_UINT64, 'u', 8},
    {SPD_BOOL, 'b', 1},    {SPD_COMPLEX64, 'c', 8}, {SPD_COMPLEX128, 'c', 16},
};

/* ---- .npy header parsing ---- */

typedef struct hdr {
    const char *p, *end;
} hdr;

static void skip_ws(hdr *h)
{
    while (h->p < h->end && isspace((unsigned char)*h->p)) h->p++;
}

/* Positions h just after "'key':" (or the double-quoted form). */
static int find_key(const char *text, size_t n, const char *key, hdr *h)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 <= n; i++) {
        char q = text[i];
        if ((q == '\'' || q == '"') && !memcmp(text + i + 1, key, kl) && text[i + 1 + kl] == q) {
            h->p = text + i + kl + 2;
            h->end = text + n;
            skip_ws(h);
            if (h->p < h->end && *h->p == ':') {
                h->p++;
                skip_ws(h);
                return 1;
            }
        }
    }
    return 0;
}

static spd_status parse_npy(const char *path, const uint8_t *d, size_t size, spd_tensor *out)
{
    if (size < 10 || memcmp(d, "\x93NUMPY", 6))
        return spd_errorf(SPD_ERR_INVALID, "%s: not a .npy file (bad magic)", path);
    int major = d[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)d[8] | (size_t)d[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return spd_errorf(SPD_ERR_INVALID, "%s: truncated .npy header", path);
        hlen = (size_t)d[8] | (size_t)d[9] << 8 | (size_t)d[10] << 16 | (size_t)d[11] << 24;
        hstart = 12;
    } else {
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported",
                          path, major, d[7]);
    }
    if (hlen > size - hstart)
        return spd_errorf(SPD_ERR_INVALID, "%s: .npy header length %zu runs past the end of the file",
                          path, hlen);
    const char *text = (const char *)d + hstart;
    hdr h;

    if (!find_key(text, hlen, "descr", &h))
        return spd_errorf(SPD_ERR_INVALID, "%s: .npy header has no 'descr'", path);
    if (h.p >= h.end || (*h.p != '\'' && *h.p != '"'))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: structured .npy arrays are not supported", path);
    char q = *h.p++;
    const char *ds = h.p;
    while (h.p < h.end && *h.p != q) h.p++;
    if (h.p >= h.end) return spd_errorf(SPD_ERR_INVALID, "%s: .npy descr is not terminated", path);
    size_t dl = (size_t)(h.p - ds);
    char descr[32];
    snprintf(descr, sizeof descr, "%.*s", (int)(dl < 31 ? dl : 31), ds);
    if (dl < 2 || dl > 4)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", path, descr);
    char order = descr[0], kind = descr[1];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", path, descr);
    if (kind == 'O')
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: .npy object arrays are not supported", path);
    int esz = 0;
    for (size_t i = 2; i < dl; i++) {
        if (!isdigit((unsigned char)descr[i]))
            return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", path, descr);
        esz = esz * 10 + (descr[i] - '0');
    }
    if (order == '>' && esz > 1)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: big-endian .npy data ('%s') is not supported",
                          path, descr);
    spd_dtype dt = SPD_UNDEFINED;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].kind == kind && npy_types[i].size == esz) dt = npy_types[i].dt;
    if (dt == SPD_UNDEFINED)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", path, descr);

    if (!find_key(text, hlen, "fortran_order", &h))
        return spd_errorf(SPD_ERR_INVALID, "%s: .npy header has no 'fortran_order'", path);
    if ((size_t)(h.end - h.p) >= 4 && !memcmp(h.p, "True", 4))
        return spd_errorf(SPD_ERR_UNSUPPORTED,
                          "%s: .npy arrays in Fortran order are not supported (save a C-ordered "
                          "array, e.g. numpy.ascontiguousarray)",
                          path);
    if ((size_t)(h.end - h.p) < 5 || memcmp(h.p, "False", 5))
        return spd_errorf(SPD_ERR_INVALID, "%s: .npy fortran_order is neither True nor False", path);

    if (!find_key(text, hlen, "shape", &h) || h.p >= h.end || *h.p != '(')
        return spd_errorf(SPD_ERR_INVALID, "%s: .npy header has no 'shape' tuple", path);
    h.p++;
    int ndim = 0;
    int64_t dims[SPD_MAX_DIMS];
    int64_t numel = 1;
    for (;;) {
        skip_ws(&h);
        if (h.p >= h.end) return spd_errorf(SPD_ERR_INVALID, "%s: .npy shape is not terminated", path);
        if (*h.p == ')') break;
        if (!isdigit((unsigned char)*h.p))
            return spd_errorf(SPD_ERR_INVALID, "%s: .npy shape has a bad entry", path);
        int64_t v = 0;
        while (h.p < h.end && isdigit((unsigned char)*h.p)) {
            if (v > ((int64_t)1 << 40))
                return spd_errorf(SPD_ERR_INVALID, "%s: .npy dimension too large", path);
            v = v * 10 + (*h.p++ - '0');
        }
        if (h.p < h.end && *h.p == 'L') h.p++; /* Python 2 longs */
        if (ndim >= SPD_MAX_DIMS)
            return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: .npy array of rank > %d", path, SPD_MAX_DIMS);
        if (v > 0 && numel > (((int64_t)1 << 40) / v))
            return spd_errorf(SPD_ERR_INVALID, "%s: .npy array of more than 2^40 elements", path);
        numel *= v;
        dims[ndim++] = v;
        skip_ws(&h);
        if (h.p < h.end && *h.p == ',') h.p++;
    }

    size_t nbytes = (size_t)numel * (size_t)esz;
    size_t dstart = hstart + hlen;
    if (size - dstart != nbytes)
        return spd_errorf(SPD_ERR_INVALID, "%s: .npy data has %zu bytes but %s needs %zu", path,
                          size - dstart, descr, nbytes);
    memset(out, 0, sizeof *out);
    out->data = spd_malloc(nbytes ? nbytes : 1);
    if (!out->data) return spd_errorf(SPD_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, nbytes);
    if (nbytes) memcpy(out->data, d + dstart, nbytes);
    out->owner = 1;
    out->dtype = dt;
    out->ndim = ndim;
    memcpy(out->dims, dims, sizeof(int64_t) * (size_t)ndim);
    return SPD_OK;
}

spd_status spd_tensor_read_file(const char *path, spd_tensor *out)
{
    memset(out, 0, sizeof *out);
    int pb = has_suffix(path, ".pb"), npy = has_suffix(path, ".npy");
    if (!pb && !npy)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: unknown tensor file type (expected .pb or .npy)", path);
    spd_mapping *m;
    SPD_TRY(spd_mapping_open(path, &m));
    spd_status s;
    if (npy) {
        s = parse_npy(path, m->data, m->size, out);
    } else if (m->size == 0) {
        s = spd_errorf(SPD_ERR_INVALID, "%s: empty file", path);
    } else {
        s = spd_tensorproto_decode(m->data, m->size, out, NULL);
        if (s == SPD_OK && out->dtype == SPD_STRING) {
            spd_tensor_release(out);
            s = spd_errorf(SPD_ERR_UNSUPPORTED, "string tensors are not supported");
        }
        if (s != SPD_OK) s = spd_error_prefix(s, "%s", path);
    }
    spd_mapping_free(m);
    return s;
}

static spd_status write_npy(const char *path, const spd_tensor *t)
{
    char kind = 0;
    int size = 0;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dt == t->dtype) kind = npy_types[i].kind, size = npy_types[i].size;
    if (!kind)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: numpy has no %s type", path, spd_dtype_name(t->dtype));
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '%c%c%d', 'fortran_order': False, 'shape': (",
                     size == 1 ? '|' : '<', kind, size);
    for (int i = 0; i < t->ndim; i++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", t->ndim == 1 ? "," : "");
    /* Version 1.0: magic, version, 2-byte length, then the dict padded with
     * spaces and ended by a newline so the data starts 64-byte aligned. */
    uint8_t header[640];
    size_t total = 10 + (size_t)k + 1;
    total = (total + 63) / 64 * 64;
    size_t hlen = total - 10;
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    header[8] = (uint8_t)(hlen & 0xff);
    header[9] = (uint8_t)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)k);
    memset(header + 10 + k, ' ', total - 10 - (size_t)k);
    header[total - 1] = '\n';
    return spd_io_write_parts(path, header, total, t->data, spd_tensor_nbytes(t));
}

spd_status spd_tensor_write_file(const char *path, const spd_tensor *t)
{
    int pb = has_suffix(path, ".pb"), npy = has_suffix(path, ".npy");
    if (!pb && !npy)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "%s: unknown tensor file type (expected .pb or .npy)", path);
    if (t->ndim < 0 || t->ndim > SPD_MAX_DIMS)
        return spd_errorf(SPD_ERR_INVALID, "%s: tensor rank %d", path, t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] < 0) return spd_errorf(SPD_ERR_INVALID, "%s: negative dimension", path);
    if (!t->data && spd_tensor_nbytes(t))
        return spd_errorf(SPD_ERR_INVALID, "%s: tensor has no data", path);
    if (npy) return write_npy(path, t);
    uint8_t *buf;
    size_t len;
    spd_status s = spd_tensorproto_encode(t, NULL, &buf, &len);
    if (s != SPD_OK) return spd_error_prefix(s, "%s", path);
    s = spd_io_write_parts(path, buf, len, NULL, 0);
    spd_free(buf);
    return s;
}
