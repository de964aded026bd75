#include "ir/tensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/status.h"

size_t spd_dtype_size(spd_dtype t)
{
    switch (t) {
    case SPD_BOOL: case SPD_UINT8: case SPD_INT8: return 1;
    case SPD_UINT16: case SPD_INT16: case SPD_FLOAT16: case SPD_BFLOAT16: return 2;
    case SPD_FLOAT: case SPD_INT32: case SPD_UINT32: return 4;
    case SPD_DOUBLE: case SPD_INT64: case SPD_UINT64: case SPD_COMPLEX64: return 8;
    case SPD_COMPLEX128: return 16;
    default: return 0;
    }
}

const char *spd_dtype_name(spd_dtype t)
{
    switch (t) {
    case SPD_FLOAT: return "float32";
    case SPD_UINT8: return "uint8";
    case SPD_INT8: return "int8";
    case SPD_UINT16: return "uint16";
    case SPD_INT16: return "int16";
    case SPD_INT32: return "int32";
    case SPD_INT64: return "int64";
    case SPD_STRING: return "string";
    case SPD_BOOL: return "bool";
    case SPD_FLOAT16: return "float16";
    case SPD_DOUBLE: return "float64";
    case SPD_UINT32: return "uint32";
    case SPD_UINT64: return "uint64";
    case SPD_COMPLEX64: return "complex64";
    case SPD_COMPLEX128: return "complex128";
    case SPD_BFLOAT16: return "bfloat16";
    default: return "undefined";
    }
}

bool spd_dtype_is_float(spd_dtype t)
{
    return t == SPD_FLOAT || t == SPD_DOUBLE || t == SPD_FLOAT16 || t == SPD_BFLOAT16;
}

bool spd_dtype_is_int(spd_dtype t)
{
    switch (t) {
    case SPD_UINT8: case SPD_INT8: case SPD_UINT16: case SPD_INT16:
    case SPD_INT32: case SPD_INT64: case SPD_UINT32: case SPD_UINT64: return true;
    default: return false;
    }
}

bool spd_dtype_is_signed(spd_dtype t)
{
    return t == SPD_INT8 || t == SPD_INT16 || t == SPD_INT32 || t == SPD_INT64 ||
           spd_dtype_is_float(t);
}

int64_t spd_dims_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= dims[i];
    return p;
}

int64_t spd_tensor_numel(const spd_tensor *t)
{
    return spd_dims_prod(t->dims, 0, t->ndim);
}

size_t spd_tensor_nbytes(const spd_tensor *t)
{
    return (size_t)spd_tensor_numel(t) * spd_dtype_size(t->dtype);
}

void spd_tensor_release(spd_tensor *t)
{
    if (!t) return;
    if (t->owner) spd_free(t->data);
    memset(t, 0, sizeof *t);
}

static _Thread_local spd_out_slots tls_slots;

spd_out_slots spd_tensor_use_slots(spd_out_slots s)
{
    spd_out_slots prev = tls_slots;
    tls_slots = s;
    return prev;
}

static void *take_slot(const spd_tensor *t, size_t bytes)
{
    for (int i = 0; i < tls_slots.n; i++)
        if (tls_slots.slot[i].t == t) return bytes <= tls_slots.slot[i].cap ? tls_slots.slot[i].data : NULL;
    return NULL;
}

static spd_status tensor_alloc(spd_tensor *t, spd_dtype dt, int ndim, const int64_t *dims, int zero)
{
    spd_tensor_release(t);
    if (ndim < 0 || ndim > SPD_MAX_DIMS)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "tensor rank %d (at most %d is supported)",
                          ndim, SPD_MAX_DIMS);
    size_t esz = spd_dtype_size(dt);
    if (esz == 0)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "tensors of type %s are not supported",
                          spd_dtype_name(dt));
    /* Refuse sizes no machine could hold rather than overflowing. */
    const int64_t limit = (int64_t)1 << 40;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return spd_errorf(SPD_ERR_INVALID, "negative dimension %lld", (long long)dims[i]);
        if (dims[i] > 0 && n > limit / dims[i])
            return spd_errorf(SPD_ERR_INVALID, "tensor of more than 2^40 elements");
        n *= dims[i];
    }
    size_t bytes = (size_t)n * esz;
    void *p = tls_slots.n && bytes ? take_slot(t, bytes) : NULL;
    int owner = !p;
    if (!p && !(p = spd_malloc(bytes ? bytes : 1)))
        return spd_errorf(SPD_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    if (zero) memset(p, 0, bytes);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    t->data = p;
    t->owner = owner;
    return SPD_OK;
}

spd_status spd_tensor_alloc(spd_tensor *t, spd_dtype dt, int ndim, const int64_t *dims)
{
    return tensor_alloc(t, dt, ndim, dims, 1);
}

spd_status spd_tensor_alloc_uninit(spd_tensor *t, spd_dtype dt, int ndim, const int64_t *dims)
{
    return tensor_alloc(t, dt, ndim, dims, 0);
}

spd_status spd_tensor_copy(spd_tensor *dst, const spd_tensor *src)
{
    memset(dst, 0, sizeof *dst);
    SPD_TRY(spd_tensor_alloc_uninit(dst, src->dtype, src->ndim, src->dims));
    size_t nb = spd_tensor_nbytes(src);
    if (nb) memcpy(dst->data, src->data, nb);
    return SPD_OK;
}

void spd_tensor_view(spd_tensor *dst, const spd_tensor *src)
{
    *dst = *src;
    dst->owner = 0;
}

bool spd_tensor_same_shape(const spd_tensor *a, const spd_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

const char *spd_tensor_describe(const spd_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s[", spd_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

float spd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t spd_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow to inf */
    if (absx < 0x38800000u) { /* subnormal or zero in half */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t man = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absx >> 13) - ((127 - 15) << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float spd_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t spd_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

double spd_tensor_get(const spd_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case SPD_FLOAT: return ((const float *)d)[i];
    case SPD_DOUBLE: return ((const double *)d)[i];
    case SPD_FLOAT16: return spd_f16_to_f32(((const uint16_t *)d)[i]);
    case SPD_BFLOAT16: return spd_bf16_to_f32(((const uint16_t *)d)[i]);
    case SPD_INT8: return ((const int8_t *)d)[i];
    case SPD_UINT8: return ((const uint8_t *)d)[i];
    case SPD_BOOL: return ((const uint8_t *)d)[i] != 0;
    case SPD_INT16: return ((const int16_t *)d)[i];
    case SPD_UINT16: return ((const uint16_t *)d)[i];
    case SPD_INT32: return ((const int32_t *)d)[i];
    case SPD_UINT32: return ((const uint32_t *)d)[i];
    case SPD_INT64: return (double)((const int64_t *)d)[i];
    case SPD_UINT64: return (double)((const uint64_t *)d)[i];
    default: return 0.0;
    }
}

double spd_tensor_element(const spd_tensor *t, int64_t i) { return spd_tensor_get(t, i); }

/* A C cast of an out-of-range or NaN double to an integer is undefined;
 * saturate instead (the behaviour tests can rely on). */
static int64_t sat_i64(double v, double lo, double hi)
{
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

void spd_tensor_set(spd_tensor *t, int64_t i, double v)
{
    void *d = t->data;
    switch (t->dtype) {
    case SPD_FLOAT: ((float *)d)[i] = (float)v; break;
    case SPD_DOUBLE: ((double *)d)[i] = v; break;
    case SPD_FLOAT16: ((uint16_t *)d)[i] = spd_f32_to_f16((float)v); break;
    case SPD_BFLOAT16: ((uint16_t *)d)[i] = spd_f32_to_bf16((float)v); break;
    case SPD_INT8: ((int8_t *)d)[i] = (int8_t)sat_i64(v, -128, 127); break;
    case SPD_UINT8: ((uint8_t *)d)[i] = (uint8_t)sat_i64(v, 0, 255); break;
    case SPD_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case SPD_INT16: ((int16_t *)d)[i] = (int16_t)sat_i64(v, -32768, 32767); break;
    case SPD_UINT16: ((uint16_t *)d)[i] = (uint16_t)sat_i64(v, 0, 65535); break;
    case SPD_INT32: ((int32_t *)d)[i] = (int32_t)sat_i64(v, -2147483648.0, 2147483647.0); break;
    case SPD_UINT32: ((uint32_t *)d)[i] = (uint32_t)sat_i64(v, 0, 4294967295.0); break;
    case SPD_INT64: ((int64_t *)d)[i] = sat_i64(v, -9223372036854775808.0, 9223372036854774784.0); break;
    case SPD_UINT64:
        ((uint64_t *)d)[i] = v != v || v <= 0 ? 0 : v >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)v;
        break;
    default: break;
    }
}

int64_t spd_tensor_get_i64(const spd_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case SPD_INT64: return ((const int64_t *)t->data)[i];
    case SPD_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
    case SPD_INT32: return ((const int32_t *)t->data)[i];
    default: return sat_i64(spd_tensor_get(t, i), -9223372036854775808.0, 9223372036854774784.0);
    }
}

void spd_tensor_set_i64(spd_tensor *t, int64_t i, int64_t v)
{
    switch (t->dtype) {
    case SPD_INT64: ((int64_t *)t->data)[i] = v; break;
    case SPD_UINT64: ((uint64_t *)t->data)[i] = (uint64_t)v; break;
    case SPD_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    default: spd_tensor_set(t, i, (double)v); break;
    }
}

spd_status spd_tensor_to_i64s(const spd_tensor *t, int64_t *out, int max, int *n)
{
    if (t->dtype != SPD_INT64 && t->dtype != SPD_INT32)
        return spd_errorf(SPD_ERR_INVALID, "expected an int64 tensor, got %s",
                          spd_dtype_name(t->dtype));
    if (t->ndim > 1)
        return spd_errorf(SPD_ERR_INVALID, "expected a 1-D tensor, got rank %d", t->ndim);
    int64_t k = spd_tensor_numel(t);
    if (k > max) return spd_errorf(SPD_ERR_UNSUPPORTED, "%lld values (at most %d)", (long long)k, max);
    for (int64_t i = 0; i < k; i++) out[i] = spd_tensor_get_i64(t, i);
    *n = (int)k;
    return SPD_OK;
}

spd_status spd_broadcast_shapes(int n, const spd_tensor *const *ts, int *ndim, int64_t *dims)
{
    int r = 0;
    for (int k = 0; k < n; k++)
        if (ts[k] && ts[k]->ndim > r) r = ts[k]->ndim;
    for (int i = 0; i < r; i++) dims[i] = 1;
    for (int k = 0; k < n; k++) {
        if (!ts[k]) continue;
        int off = r - ts[k]->ndim;
        for (int i = 0; i < ts[k]->ndim; i++) {
            int64_t d = ts[k]->dims[i], *o = &dims[off + i];
            if (d == *o || d == 1) continue;
            if (*o == 1) { *o = d; continue; }
            char a[128], b[128];
            return spd_errorf(SPD_ERR_INVALID, "shapes %s and %s do not broadcast",
                              spd_tensor_describe(ts[0], a, sizeof a),
                              spd_tensor_describe(ts[k], b, sizeof b));
        }
    }
    *ndim = r;
    return SPD_OK;
}

void spd_broadcast_strides(const spd_tensor *t, int ndim, const int64_t *dims, int64_t *strides)
{
    int off = ndim - t->ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        if (i < off) { strides[i] = 0; continue; }
        int64_t d = t->dims[i - off];
        strides[i] = (d == 1 && dims[i] != 1) ? 0 : s;
        s *= d;
    }
}
