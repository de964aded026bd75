#include "io/pb.h"

#include <string.h>

#include "util/alloc.h"
#include "util/status.h"

void spd_pb_init(spd_pb *r, const void *buf, size_t len)
{
    r->base = buf;
    r->p = buf;
    r->end = r->p + len;
    if (!buf) r->p = r->end = r->base = (const uint8_t *)"";
}

static const char *wt_name(int wt)
{
    switch (wt) {
    case SPD_PB_VARINT: return "varint";
    case SPD_PB_FIXED64: return "64-bit";
    case SPD_PB_LEN: return "length-delimited";
    case SPD_PB_FIXED32: return "32-bit";
    case 3: case 4: return "group";
    default: return "invalid";
    }
}

spd_status spd_pb_varint(spd_pb *r, uint64_t *v, const char *what)
{
    size_t off = spd_pb_offset(r);
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return spd_errorf(SPD_ERR_INVALID, "%s: truncated varint at byte offset %zu", what, off);
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1)
            return spd_errorf(SPD_ERR_INVALID, "%s: varint overflows 64 bits at byte offset %zu",
                              what, off);
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return SPD_OK;
        }
    }
    return spd_errorf(SPD_ERR_INVALID, "%s: varint longer than 10 bytes at byte offset %zu", what, off);
}

spd_status spd_pb_fixed32(spd_pb *r, uint32_t *v, const char *what)
{
    if (r->end - r->p < 4)
        return spd_errorf(SPD_ERR_INVALID, "%s: truncated 32-bit value at byte offset %zu", what,
                          spd_pb_offset(r));
    memcpy(v, r->p, 4); /* the wire is little-endian, as are our hosts */
    r->p += 4;
    return SPD_OK;
}

spd_status spd_pb_fixed64(spd_pb *r, uint64_t *v, const char *what)
{
    if (r->end - r->p < 8)
        return spd_errorf(SPD_ERR_INVALID, "%s: truncated 64-bit value at byte offset %zu", what,
                          spd_pb_offset(r));
    memcpy(v, r->p, 8);
    r->p += 8;
    return SPD_OK;
}

spd_status spd_pb_bytes(spd_pb *r, const uint8_t **p, size_t *n, const char *what)
{
    size_t off = spd_pb_offset(r);
    uint64_t len = 0;
    SPD_TRY(spd_pb_varint(r, &len, what));
    if (len > (uint64_t)(r->end - r->p))
        return spd_errorf(SPD_ERR_INVALID,
                          "%s: length %llu at byte offset %zu runs past the end of its message "
                          "(%zu bytes left)",
                          what, (unsigned long long)len, off, (size_t)(r->end - r->p));
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return SPD_OK;
}

spd_status spd_pb_sub(spd_pb *r, spd_pb *sub, const char *what)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    SPD_TRY(spd_pb_bytes(r, &p, &n, what));
    sub->base = r->base;
    sub->p = p;
    sub->end = p + n;
    return SPD_OK;
}

spd_status spd_pb_tag(spd_pb *r, const char *msg, uint32_t *field, int *wt)
{
    size_t off = spd_pb_offset(r);
    uint64_t t = 0;
    SPD_TRY(spd_pb_varint(r, &t, msg));
    int w = (int)(t & 7);
    uint64_t f = t >> 3;
    if (f == 0 || f > 0x1fffffff)
        return spd_errorf(SPD_ERR_INVALID, "%s: invalid field number %llu at byte offset %zu", msg,
                          (unsigned long long)f, off);
    if (w != SPD_PB_VARINT && w != SPD_PB_FIXED64 && w != SPD_PB_LEN && w != SPD_PB_FIXED32)
        return spd_errorf(SPD_ERR_INVALID,
                          "%s: field %llu has unsupported wire type %d (%s) at byte offset %zu", msg,
                          (unsigned long long)f, w, wt_name(w), off);
    *field = (uint32_t)f;
    *wt = w;
    return SPD_OK;
}

spd_status spd_pb_expect(const spd_pb *r, int wt, int want, const char *what)
{
    if (wt == want) return SPD_OK;
    return spd_errorf(SPD_ERR_INVALID,
                      "%s: wrong wire type %d (%s), expected %d (%s), before byte offset %zu",
                      what, wt, wt_name(wt), want, wt_name(want), spd_pb_offset(r));
}

spd_status spd_pb_skip(spd_pb *r, int wt, const char *what)
{
    uint64_t v = 0;
    uint32_t v32 = 0;
    const uint8_t *p = NULL;
    size_t n = 0;
    switch (wt) {
    case SPD_PB_VARINT: return spd_pb_varint(r, &v, what);
    case SPD_PB_FIXED64: return spd_pb_fixed64(r, &v, what);
    case SPD_PB_FIXED32: return spd_pb_fixed32(r, &v32, what);
    case SPD_PB_LEN: return spd_pb_bytes(r, &p, &n, what);
    default:
        return spd_errorf(SPD_ERR_INVALID, "%s: cannot skip wire type %d at byte offset %zu", what,
                          wt, spd_pb_offset(r));
    }
}

spd_status spd_pb_count_varints(const spd_pb *r, size_t *count, const char *what)
{
    size_t c = 0;
    for (const uint8_t *p = r->p; p < r->end; p++)
        if (!(*p & 0x80)) c++;
    if (r->end > r->p && (r->end[-1] & 0x80))
        return spd_errorf(SPD_ERR_INVALID, "%s: packed varints end mid-value at byte offset %zu",
                          what, (size_t)(r->end - r->base));
    *count = c;
    return SPD_OK;
}

/* ---- writer ---- */

void spd_pbw_init(spd_pbw *w) { memset(w, 0, sizeof *w); }

void spd_pbw_init_counting(spd_pbw *w)
{
    memset(w, 0, sizeof *w);
    w->mode = 1;
}

void spd_pbw_free(spd_pbw *w)
{
    spd_free(w->buf);
    spd_free(w->sizes);
    memset(w, 0, sizeof *w);
}

void spd_pbw_start_writing(spd_pbw *w)
{
    if (w->mode != 1 || w->failed) return;
    w->mode = 2;
    w->next = 0;
    w->buf = spd_malloc(w->len ? w->len : 1);
    if (!w->buf) w->failed = 1;
    w->cap = w->len;
    w->len = 0;
}

spd_status spd_pbw_finish(spd_pbw *w, uint8_t **buf, size_t *len)
{
    if (w->mode == 1) spd_pbw_start_writing(w); /* nothing was written: misuse */
    if (w->failed) {
        size_t want = w->cap;
        spd_pbw_free(w);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory encoding protobuf (%zu bytes)", want);
    }
    if (w->mode == 2 && (w->len != w->cap || w->next != w->n_sizes)) {
        spd_pbw_free(w);
        return spd_errorf(SPD_ERR_INTERNAL, "protobuf writer: the two passes differ");
    }
    if (!w->buf) w->buf = spd_malloc(1);
    if (!w->buf) {
        spd_pbw_free(w);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory encoding protobuf");
    }
    *buf = w->buf;
    *len = w->len;
    w->buf = NULL;
    spd_pbw_free(w);
    return SPD_OK;
}

/* Room for `extra` more bytes; in counting mode nothing is stored. */
static int reserve(spd_pbw *w, size_t extra)
{
    if (w->failed) return 0;
    if (extra > SIZE_MAX / 2 - w->len) {
        w->failed = 1;
        return 0;
    }
    if (w->mode == 1) return 1;
    if (w->len + extra <= w->cap) return 1;
    if (w->mode == 2) { /* the second pass wrote more than the first counted */
        w->failed = 1;
        return 0;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra) cap *= 2;
    uint8_t *nb = spd_realloc(w->buf, cap);
    if (!nb) {
        w->failed = 1;
        w->cap = cap;
        return 0;
    }
    w->buf = nb;
    w->cap = cap;
    return 1;
}

void spd_pbw_raw(spd_pbw *w, const void *p, size_t n)
{
    if (!n || !reserve(w, n)) return;
    if (w->mode != 1) memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static size_t encode_varint(uint8_t *out, uint64_t v)
{
    size_t k = 0;
    while (v >= 0x80) {
        out[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[k++] = (uint8_t)v;
    return k;
}

void spd_pbw_varint(spd_pbw *w, uint64_t v)
{
    uint8_t tmp[10];
    spd_pbw_raw(w, tmp, encode_varint(tmp, v));
}

void spd_pbw_tag(spd_pbw *w, uint32_t field, int wt)
{
    spd_pbw_varint(w, ((uint64_t)field << 3) | (uint64_t)wt);
}

void spd_pbw_int(spd_pbw *w, uint32_t field, int64_t v)
{
    spd_pbw_tag(w, field, SPD_PB_VARINT);
    spd_pbw_varint(w, (uint64_t)v);
}

void spd_pbw_float(spd_pbw *w, uint32_t field, float v)
{
    spd_pbw_tag(w, field, SPD_PB_FIXED32);
    spd_pbw_raw(w, &v, 4);
}

void spd_pbw_double(spd_pbw *w, uint32_t field, double v)
{
    spd_pbw_tag(w, field, SPD_PB_FIXED64);
    spd_pbw_raw(w, &v, 8);
}

void spd_pbw_bytes(spd_pbw *w, uint32_t field, const void *p, size_t n)
{
    spd_pbw_tag(w, field, SPD_PB_LEN);
    spd_pbw_varint(w, n);
    spd_pbw_raw(w, p, n);
}

void spd_pbw_string(spd_pbw *w, uint32_t field, const char *s)
{
    if (s) spd_pbw_bytes(w, field, s, strlen(s));
}

void spd_pbw_packed_ints(spd_pbw *w, uint32_t field, const int64_t *v, size_t n)
{
    if (!n) return;
    size_t mark = spd_pbw_begin(w, field);
    for (size_t i = 0; i < n; i++) spd_pbw_varint(w, (uint64_t)v[i]);
    spd_pbw_end(w, mark);
}

void spd_pbw_packed_floats(spd_pbw *w, uint32_t field, const float *v, size_t n)
{
    if (!n) return;
    spd_pbw_tag(w, field, SPD_PB_LEN);
    spd_pbw_varint(w, (uint64_t)n * 4);
    spd_pbw_raw(w, v, n * 4);
}

/* Plain mode: the length goes before the payload but is known only after
 * it, so one byte is reserved and the payload shifted when the length needs
 * more. Counting mode records where the payload starts (in `sizes`, replaced
 * by the length at the end); writing mode writes the recorded length. */
size_t spd_pbw_begin(spd_pbw *w, uint32_t field)
{
    spd_pbw_tag(w, field, SPD_PB_LEN);
    if (w->mode == 1) {
        if (w->n_sizes == w->cap_sizes) {
            size_t nc = w->cap_sizes ? w->cap_sizes * 2 : 64;
            size_t *ns = spd_realloc(w->sizes, nc * sizeof *ns);
            if (!ns) {
                w->failed = 1;
                return 0;
            }
            w->sizes = ns;
            w->cap_sizes = nc;
        }
        w->len += 1;
        w->sizes[w->n_sizes] = w->len;
        return w->n_sizes++;
    }
    if (w->mode == 2) {
        if (w->next >= w->n_sizes) {
            w->failed = 1;
            return 0;
        }
        spd_pbw_varint(w, w->sizes[w->next]);
        return w->next++;
    }
    size_t mark = w->len;
    if (reserve(w, 1)) w->buf[w->len++] = 0;
    return mark;
}

void spd_pbw_end(spd_pbw *w, size_t mark)
{
    if (w->failed) return;
    uint8_t tmp[10];
    if (w->mode == 1) {
        size_t payload = w->len - w->sizes[mark];
        w->sizes[mark] = payload;
        w->len += encode_varint(tmp, payload) - 1;
        return;
    }
    if (w->mode == 2) return;
    size_t payload = w->len - mark - 1;
    size_t k = encode_varint(tmp, payload);
    if (k > 1) {
        if (!reserve(w, k - 1)) return;
        memmove(w->buf + mark + k, w->buf + mark + 1, payload);
        w->len += k - 1;
    }
    memcpy(w->buf + mark, tmp, k);
}
