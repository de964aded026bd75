/* Indexing operators: Slice, Gather, GatherElements, GatherND, ScatterND,
 * ScatterElements, Scatter, OneHot, NonZero, Trilu, Pad, Unique.
 *
 * Elements move by their byte size, so every fixed-size dtype works; only
 * the scatter reductions and Unique's ordering look at values. Every index
 * read from a tensor is checked against the axis it indexes. */
#include <math.h>
#include <string.h>

#include "ir/op.h"
#include "ops/ops_util.h"
#include "util/alloc.h"
#include "util/status.h"

/* ---------------------------------------------------------------- helpers */

static spd_status check_index_dtype(const spd_tensor *t, const char *what)
{
    if (t->dtype != SPD_INT64 && t->dtype != SPD_INT32)
        return spd_errorf(SPD_ERR_INVALID, "%s must be int32 or int64, got %s", what, spd_dtype_name(t->dtype));
    return SPD_OK;
}

/* An index into an axis of size dim, negative counting from the end. */
static spd_status norm_index(int64_t idx, int64_t dim, int64_t *out)
{
    *out = 0;
    if (idx < -dim || idx >= dim)
        return spd_errorf(SPD_ERR_INVALID, "index %lld is out of range for an axis of size %lld",
                          (long long)idx, (long long)dim);
    *out = idx < 0 ? idx + dim : idx;
    return SPD_OK;
}

static void contiguous_strides(int nd, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

/* Advances a row-major multi-index over dims; returns 0 after the last. */
static int next_index(int64_t *idx, const int64_t *dims, int nd)
{
    for (int k = nd - 1; k >= 0; k--) {
        if (++idx[k] < dims[k]) return 1;
        idx[k] = 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- Slice */

static spd_status op_slice(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int r = x->ndim;
    int64_t *starts = NULL, *ends = NULL, *axes = NULL, *steps = NULL;
    int64_t ns = 0, ne = 0, na = -1, nst = -1;
    spd_status st = SPD_OK;
    if (ctx->opset < 10) {
        size_t c1, c2, c3;
        const int64_t *a1 = spd_attr_ints(ctx->node, "starts", &c1), *a2 = spd_attr_ints(ctx->node, "ends", &c2),
                      *a3 = spd_attr_ints(ctx->node, "axes", &c3);
        if (!a1 || !a2) return spd_errorf(SPD_ERR_INVALID, "attributes starts and ends are required");
        size_t total = c1 + c2 + (a3 ? c3 : 0) + 1;
        starts = spd_malloc(total * sizeof *starts);
        if (!starts) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        ends = starts + c1;
        memcpy(starts, a1, c1 * sizeof *a1);
        memcpy(ends, a2, c2 * sizeof *a2);
        ns = (int64_t)c1;
        ne = (int64_t)c2;
        if (a3) {
            axes = ends + c2;
            memcpy(axes, a3, c3 * sizeof *a3);
            na = (int64_t)c3;
        }
    } else {
        const spd_tensor *ts, *te;
        if ((st = spd_op_need(ctx, 1, &ts)) != SPD_OK || (st = spd_op_need(ctx, 2, &te)) != SPD_OK) return st;
        if ((st = spd_read_i64s(ts, &starts, &ns)) != SPD_OK) goto done;
        if ((st = spd_read_i64s(te, &ends, &ne)) != SPD_OK) goto done;
        if (spd_op_in(ctx, 3) && (st = spd_read_i64s(spd_op_in(ctx, 3), &axes, &na)) != SPD_OK) goto done;
        if (spd_op_in(ctx, 4) && (st = spd_read_i64s(spd_op_in(ctx, 4), &steps, &nst)) != SPD_OK) goto done;
    }
    if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns)) {
        st = spd_errorf(SPD_ERR_INVALID, "starts, ends, axes and steps differ in length");
        goto done;
    }
    if (na < 0 && ns > r) {
        st = spd_errorf(SPD_ERR_INVALID, "%lld starts for a rank-%d input", (long long)ns, r);
        goto done;
    }
    {
        int64_t b[SPD_MAX_DIMS], step[SPD_MAX_DIMS], dims[SPD_MAX_DIMS], in_st[SPD_MAX_DIMS], vst[SPD_MAX_DIMS];
        int seen[SPD_MAX_DIMS] = {0};
        for (int i = 0; i < r; i++) {
            b[i] = 0;
            step[i] = 1;
            dims[i] = x->dims[i];
        }
        for (int64_t i = 0; i < ns; i++) {
            int a = (int)i;
            if (na >= 0 && (st = spd_norm_axis(axes[i], r, &a)) != SPD_OK) goto done;
            if (seen[a]) {
                st = spd_errorf(SPD_ERR_INVALID, "axis %d is sliced twice", a);
                goto done;
            }
            seen[a] = 1;
            int64_t s = nst >= 0 ? steps[i] : 1, d = x->dims[a], lo = starts[i], hi = ends[i];
            if (s == 0) {
                st = spd_errorf(SPD_ERR_INVALID, "step is zero");
                goto done;
            }
            if (s < -INT64_MAX) s = -INT64_MAX; /* so that -s exists; the slice is the same */
            if (lo < 0) lo += d;
            if (hi < 0) hi += d;
            int64_t n;
            if (s > 0) {
                lo = lo < 0 ? 0 : lo > d ? d : lo;
                hi = hi < 0 ? 0 : hi > d ? d : hi;
                n = hi > lo ? (hi - lo - 1) / s + 1 : 0;
            } else {
                lo = lo < 0 ? 0 : lo > d - 1 ? d - 1 : lo;
                hi = hi < -1 ? -1 : hi > d - 1 ? d - 1 : hi;
                n = lo > hi ? (lo - hi - 1) / -s + 1 : 0;
            }
            if (d == 0) n = 0;
            b[a] = n ? lo : 0;
            step[a] = n > 1 ? s : 1; /* |s| < d when it matters: no stride overflow */
            dims[a] = n;
        }
        contiguous_strides(r, x->dims, in_st);
        int64_t off = 0;
        for (int i = 0; i < r; i++) {
            off += b[i] * in_st[i];
            vst[i] = in_st[i] * step[i];
        }
        if ((st = spd_tensor_alloc(&ctx->out[0], x->dtype, r, dims)) != SPD_OK) goto done;
        size_t esz = spd_dtype_size(x->dtype);
        if (spd_tensor_numel(&ctx->out[0]))
            spd_strided_copy(ctx->out[0].data, (const char *)x->data + off * (int64_t)esz, r, dims, vst, esz);
    }
done:
    if (ctx->opset < 10) {
        spd_free(starts);
    } else {
        spd_free(starts);
        spd_free(ends);
        spd_free(axes);
        spd_free(steps);
    }
    return st;
}

/* ---------------------------------------------------------------- Gather family */

static spd_status op_gather(spd_op_ctx *ctx)
{
    const spd_tensor *x, *ind;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &ind));
    SPD_TRY(spd_check_fixed_size(x));
    SPD_TRY(check_index_dtype(ind, "indices"));
    int r = x->ndim, q = ind->ndim, axis;
    if (r < 1) return spd_errorf(SPD_ERR_INVALID, "data must have rank >= 1");
    SPD_TRY(spd_norm_axis(spd_attr_int(ctx->node, "axis", 0), r, &axis));
    if (r - 1 + q > SPD_MAX_DIMS) return spd_errorf(SPD_ERR_UNSUPPORTED, "output rank %d", r - 1 + q);
    int64_t dims[SPD_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < axis; i++) dims[k++] = x->dims[i];
    for (int i = 0; i < q; i++) dims[k++] = ind->dims[i];
    for (int i = axis + 1; i < r; i++) dims[k++] = x->dims[i];
    int64_t outer = spd_dims_prod(x->dims, 0, axis), inner = spd_dims_prod(x->dims, axis + 1, r);
    int64_t N = x->dims[axis], ni = spd_tensor_numel(ind);
    for (int64_t j = 0; j < ni; j++) {
        int64_t t;
        SPD_TRY(norm_index(spd_tensor_get_i64(ind, j), N, &t));
    }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, k, dims));
    size_t row = (size_t)inner * spd_dtype_size(x->dtype);
    if (!row) return SPD_OK;
    char *d = ctx->out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t t = spd_tensor_get_i64(ind, j);
            if (t < 0) t += N;
            memcpy(d, (const char *)x->data + (size_t)(o * N + t) * row, row);
            d += row;
        }
    return SPD_OK;
}

/* Shared by GatherElements and ScatterElements: checks indices against data
 * and returns, for every element of indices (row-major), the flat offset
 * into data it names. */
static spd_status element_offsets(const spd_tensor *x, const spd_tensor *ind, int axis, int64_t **offs)
{
    int r = x->ndim;
    if (ind->ndim != r)
        return spd_errorf(SPD_ERR_INVALID, "indices have rank %d, data rank %d", ind->ndim, r);
    for (int i = 0; i < r; i++)
        if (i != axis && ind->dims[i] > x->dims[i])
            return spd_errorf(SPD_ERR_INVALID, "indices are larger than data on axis %d", i);
    int64_t n = spd_tensor_numel(ind), xst[SPD_MAX_DIMS], idx[SPD_MAX_DIMS] = {0};
    contiguous_strides(r, x->dims, xst);
    int64_t *o = spd_malloc((size_t)(n ? n : 1) * sizeof *o);
    if (!o) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < n; j++) {
        int64_t t;
        spd_status s = norm_index(spd_tensor_get_i64(ind, j), x->dims[axis], &t);
        if (s != SPD_OK) {
            spd_free(o);
            return s;
        }
        int64_t off = 0;
        for (int i = 0; i < r; i++) off += (i == axis ? t : idx[i]) * xst[i];
        o[j] = off;
        next_index(idx, ind->dims, r);
    }
    *offs = o;
    return SPD_OK;
}

static spd_status op_gather_elements(spd_op_ctx *ctx)
{
    const spd_tensor *x, *ind;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &ind));
    SPD_TRY(spd_check_fixed_size(x));
    SPD_TRY(check_index_dtype(ind, "indices"));
    int axis;
    if (x->ndim < 1) return spd_errorf(SPD_ERR_INVALID, "data must have rank >= 1");
    SPD_TRY(spd_norm_axis(spd_attr_int(ctx->node, "axis", 0), x->ndim, &axis));
    int64_t *offs;
    SPD_TRY(element_offsets(x, ind, axis, &offs));
    spd_status st = spd_tensor_alloc(&ctx->out[0], x->dtype, ind->ndim, ind->dims);
    if (st == SPD_OK) {
        size_t esz = spd_dtype_size(x->dtype);
        int64_t n = spd_tensor_numel(ind);
        for (int64_t j = 0; j < n; j++)
            memcpy((char *)ctx->out[0].data + (size_t)j * esz, (const char *)x->data + (size_t)offs[j] * esz, esz);
    }
    spd_free(offs);
    return st;
}

/* GatherND/ScatterND: the flat offset (in slices of data.dims[b+k:]) named
 * by the index tuple at ind[tuple*k .. +k) within batch bi. */
static spd_status nd_offset(const spd_tensor *x, const spd_tensor *ind, int b, int64_t k, int64_t bi,
                            int64_t tuple, int64_t *off)
{
    *off = 0;
    int64_t o = bi;
    for (int64_t t = 0; t < k; t++) {
        int64_t dim = x->dims[b + t], v;
        SPD_TRY(norm_index(spd_tensor_get_i64(ind, tuple * k + t), dim, &v));
        o = o * dim + v;
    }
    *off = o;
    return SPD_OK;
}

static spd_status op_gather_nd(spd_op_ctx *ctx)
{
    const spd_tensor *x, *ind;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &ind));
    SPD_TRY(spd_check_fixed_size(x));
    SPD_TRY(check_index_dtype(ind, "indices"));
    int r = x->ndim, q = ind->ndim;
    int64_t b = ctx->opset >= 12 ? spd_attr_int(ctx->node, "batch_dims", 0) : 0;
    if (r < 1 || q < 1) return spd_errorf(SPD_ERR_INVALID, "data and indices must have rank >= 1");
    if (b < 0 || b >= q || b >= r) return spd_errorf(SPD_ERR_INVALID, "batch_dims %lld", (long long)b);
    int64_t k = ind->dims[q - 1];
    if (k < 1 || k > r - b) return spd_errorf(SPD_ERR_INVALID, "index tuples of length %lld", (long long)k);
    for (int i = 0; i < b; i++)
        if (ind->dims[i] != x->dims[i])
            return spd_errorf(SPD_ERR_INVALID, "batch dimension %d differs between data and indices", i);
    int nd = q - 1 + r - (int)(b + k);
    if (nd > SPD_MAX_DIMS) return spd_errorf(SPD_ERR_UNSUPPORTED, "output rank %d", nd);
    int64_t dims[SPD_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < q - 1; i++) dims[n++] = ind->dims[i];
    for (int i = (int)(b + k); i < r; i++) dims[n++] = x->dims[i];
    int64_t batch = spd_dims_prod(x->dims, 0, (int)b), per = spd_dims_prod(ind->dims, (int)b, q - 1);
    int64_t slice = spd_dims_prod(x->dims, (int)(b + k), r);
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t j = 0; j < per; j++) {
            int64_t off;
            SPD_TRY(nd_offset(x, ind, (int)b, k, bi, bi * per + j, &off));
        }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, nd, dims));
    size_t row = (size_t)slice * spd_dtype_size(x->dtype);
    if (!row) return SPD_OK;
    char *d = ctx->out[0].data;
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t j = 0; j < per; j++) {
            int64_t off;
            SPD_TRY(nd_offset(x, ind, (int)b, k, bi, bi * per + j, &off));
            memcpy(d, (const char *)x->data + (size_t)off * row, row);
            d += row;
        }
    return SPD_OK;
}

/* ---------------------------------------------------------------- Scatter family */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static spd_status get_reduction(spd_op_ctx *ctx, const spd_tensor *x, int *red)
{
    const char *s = ctx->opset >= 16 ? spd_attr_string(ctx->node, "reduction", "none") : "none";
    if (!strcmp(s, "none")) *red = RED_NONE;
    else if (!strcmp(s, "add")) *red = RED_ADD;
    else if (!strcmp(s, "mul")) *red = RED_MUL;
    else if (!strcmp(s, "max") && ctx->opset >= 18) *red = RED_MAX;
    else if (!strcmp(s, "min") && ctx->opset >= 18) *red = RED_MIN;
    else return spd_errorf(SPD_ERR_INVALID, "reduction '%s'", s);
    if (*red != RED_NONE && (x->dtype == SPD_COMPLEX64 || x->dtype == SPD_COMPLEX128))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "reduction over %s", spd_dtype_name(x->dtype));
    return SPD_OK;
}

/* Integer arithmetic wraps (through uint64) instead of overflowing. */
#define COMBINE_INT(T)                                                                                    \
    do {                                                                                                  \
        T a, b;                                                                                           \
        memcpy(&a, dst, sizeof a);                                                                        \
        memcpy(&b, src, sizeof b);                                                                        \
        switch (red) {                                                                                    \
        case RED_ADD: a = (T)((uint64_t)a + (uint64_t)b); break;                                          \
        case RED_MUL: a = (T)((uint64_t)a * (uint64_t)b); break;                                          \
        case RED_MAX: a = a > b ? a : b; break;                                                           \
        default: a = a < b ? a : b; break;                                                                \
        }                                                                                                 \
        memcpy(dst, &a, sizeof a);                                                                        \
    } while (0)

#define COMBINE_FLT(T)                                                                                    \
    do {                                                                                                  \
        T a, b;                                                                                           \
        memcpy(&a, dst, sizeof a);                                                                        \
        memcpy(&b, src, sizeof b);                                                                        \
        a = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b); \
        memcpy(dst, &a, sizeof a);                                                                        \
    } while (0)

/* dst = dst (red) src for one element of type dt. */
static void combine(spd_dtype dt, size_t esz, void *dst, const void *src, int red)
{
    if (red == RED_NONE) {
        memcpy(dst, src, esz);
        return;
    }
    switch (dt) {
    case SPD_FLOAT: COMBINE_FLT(float); break;
    case SPD_DOUBLE: COMBINE_FLT(double); break;
    case SPD_INT8: COMBINE_INT(int8_t); break;
    case SPD_UINT8: COMBINE_INT(uint8_t); break;
    case SPD_INT16: COMBINE_INT(int16_t); break;
    case SPD_UINT16: COMBINE_INT(uint16_t); break;
    case SPD_INT32: COMBINE_INT(int32_t); break;
    case SPD_UINT32: COMBINE_INT(uint32_t); break;
    case SPD_INT64: COMBINE_INT(int64_t); break;
    case SPD_UINT64: COMBINE_INT(uint64_t); break;
    case SPD_BOOL: {
        uint8_t a = *(uint8_t *)dst != 0, b = *(const uint8_t *)src != 0;
        *(uint8_t *)dst = (red == RED_ADD || red == RED_MAX) ? (a | b) : (a & b);
        break;
    }
    case SPD_FLOAT16:
    case SPD_BFLOAT16: {
        uint16_t ha, hb;
        memcpy(&ha, dst, 2);
        memcpy(&hb, src, 2);
        int h = dt == SPD_FLOAT16;
        float a = h ? spd_f16_to_f32(ha) : spd_bf16_to_f32(ha), b = h ? spd_f16_to_f32(hb) : spd_bf16_to_f32(hb);
        a = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
        ha = h ? spd_f32_to_f16(a) : spd_f32_to_bf16(a);
        memcpy(dst, &ha, 2);
        break;
    }
    default: break;
    }
}

static spd_status op_scatter_nd(spd_op_ctx *ctx)
{
    const spd_tensor *x, *ind, *upd;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &ind));
    SPD_TRY(spd_op_need(ctx, 2, &upd));
    SPD_TRY(spd_check_fixed_size(x));
    SPD_TRY(check_index_dtype(ind, "indices"));
    int red;
    SPD_TRY(get_reduction(ctx, x, &red));
    int r = x->ndim, q = ind->ndim;
    if (r < 1 || q < 1) return spd_errorf(SPD_ERR_INVALID, "data and indices must have rank >= 1");
    int64_t k = ind->dims[q - 1];
    if (k < 1 || k > r) return spd_errorf(SPD_ERR_INVALID, "index tuples of length %lld", (long long)k);
    /* updates.shape == indices.shape[:-1] + data.shape[k:] */
    int ok = upd->dtype == x->dtype && upd->ndim == q - 1 + r - (int)k;
    for (int i = 0; ok && i < q - 1; i++) ok = upd->dims[i] == ind->dims[i];
    for (int i = (int)k; ok && i < r; i++) ok = upd->dims[q - 1 + i - (int)k] == x->dims[i];
    if (!ok) return spd_errorf(SPD_ERR_INVALID, "updates have the wrong type or shape");
    int64_t n = spd_dims_prod(ind->dims, 0, q - 1), slice = spd_dims_prod(x->dims, (int)k, r);
    for (int64_t j = 0; j < n; j++) {
        int64_t off;
        SPD_TRY(nd_offset(x, ind, 0, k, 0, j, &off));
    }
    SPD_TRY(spd_tensor_copy(&ctx->out[0], x));
    size_t esz = spd_dtype_size(x->dtype);
    char *d = ctx->out[0].data;
    const char *u = upd->data;
    for (int64_t j = 0; j < n; j++) {
        int64_t off;
        SPD_TRY(nd_offset(x, ind, 0, k, 0, j, &off));
        if (red == RED_NONE) {
            if (slice) memcpy(d + (size_t)(off * slice) * esz, u + (size_t)(j * slice) * esz, (size_t)slice * esz);
            continue;
        }
        for (int64_t e = 0; e < slice; e++)
            combine(x->dtype, esz, d + (size_t)(off * slice + e) * esz, u + (size_t)(j * slice + e) * esz, red);
    }
    return SPD_OK;
}

static spd_status op_scatter_elements(spd_op_ctx *ctx)
{
    const spd_tensor *x, *ind, *upd;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &ind));
    SPD_TRY(spd_op_need(ctx, 2, &upd));
    SPD_TRY(spd_check_fixed_size(x));
    SPD_TRY(check_index_dtype(ind, "indices"));
    int red = RED_NONE, axis;
    if (strcmp(ctx->node->op_type, "Scatter")) SPD_TRY(get_reduction(ctx, x, &red));
    if (x->ndim < 1) return spd_errorf(SPD_ERR_INVALID, "data must have rank >= 1");
    SPD_TRY(spd_norm_axis(spd_attr_int(ctx->node, "axis", 0), x->ndim, &axis));
    if (upd->dtype != x->dtype || !spd_tensor_same_shape(upd, ind))
        return spd_errorf(SPD_ERR_INVALID, "updates must have the type of data and the shape of indices");
    int64_t *offs;
    SPD_TRY(element_offsets(x, ind, axis, &offs));
    spd_status st = spd_tensor_copy(&ctx->out[0], x);
    if (st == SPD_OK) {
        size_t esz = spd_dtype_size(x->dtype);
        int64_t n = spd_tensor_numel(ind);
        for (int64_t j = 0; j < n; j++)
            combine(x->dtype, esz, (char *)ctx->out[0].data + (size_t)offs[j] * esz,
                    (const char *)upd->data + (size_t)j * esz, red);
    }
    spd_free(offs);
    return st;
}

/* ---------------------------------------------------------------- OneHot */

static spd_status op_one_hot(spd_op_ctx *ctx)
{
    const spd_tensor *ind, *dep, *vals;
    SPD_TRY(spd_op_need(ctx, 0, &ind));
    SPD_TRY(spd_op_need(ctx, 1, &dep));
    SPD_TRY(spd_op_need(ctx, 2, &vals));
    SPD_TRY(spd_check_fixed_size(vals));
    if (spd_tensor_numel(dep) != 1) return spd_errorf(SPD_ERR_INVALID, "depth must hold one value");
    if (spd_tensor_numel(vals) != 2) return spd_errorf(SPD_ERR_INVALID, "values must hold two values");
    if (ind->dtype == SPD_STRING || spd_dtype_size(ind->dtype) == 0 || ind->dtype == SPD_COMPLEX64 ||
        ind->dtype == SPD_COMPLEX128)
        return spd_errorf(SPD_ERR_INVALID, "indices of type %s", spd_dtype_name(ind->dtype));
    double dd = spd_tensor_get(dep, 0);
    if (!(dd >= 1) || dd > (double)((int64_t)1 << 40))
        return spd_errorf(SPD_ERR_INVALID, "depth %g", dd);
    int64_t depth = (int64_t)dd;
    int r = ind->ndim + 1, axis;
    if (r > SPD_MAX_DIMS) return spd_errorf(SPD_ERR_UNSUPPORTED, "output rank %d", r);
    SPD_TRY(spd_norm_axis(spd_attr_int(ctx->node, "axis", -1), r, &axis));
    int64_t dims[SPD_MAX_DIMS];
    for (int i = 0, k = 0; i < r; i++) dims[i] = i == axis ? depth : ind->dims[k++];
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], vals->dtype, r, dims));
    size_t esz = spd_dtype_size(vals->dtype);
    const char *off_v = vals->data, *on_v = (const char *)vals->data + esz;
    char *d = ctx->out[0].data;
    int64_t total = spd_tensor_numel(&ctx->out[0]);
    for (int64_t i = 0; i < total; i++) memcpy(d + (size_t)i * esz, off_v, esz);
    int64_t outer = spd_dims_prod(ind->dims, 0, axis), inner = spd_dims_prod(ind->dims, axis, ind->ndim);
    int is_flt = spd_dtype_is_float(ind->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t e = o * inner + j, v;
            if (is_flt) {
                double f = spd_tensor_get(ind, e);
                if (!(f > -(double)depth - 1 && f < (double)depth)) continue;
                v = (int64_t)f;
            } else {
                v = spd_tensor_get_i64(ind, e);
            }
            if (v < 0) v += depth; /* outside [-depth, depth): all off */
            if (v < 0 || v >= depth) continue;
            memcpy(d + (size_t)((o * depth + v) * inner + j) * esz, on_v, esz);
        }
    return SPD_OK;
}

/* ---------------------------------------------------------------- NonZero */

static spd_status op_nonzero(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    if (x->dtype == SPD_COMPLEX64 || x->dtype == SPD_COMPLEX128)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "NonZero over %s", spd_dtype_name(x->dtype));
    int64_t n = spd_tensor_numel(x), nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += spd_tensor_get(x, i) != 0;
    /* a scalar is treated as shape [1], as numpy does */
    int r = x->ndim ? x->ndim : 1;
    int64_t dims[2] = {r, nnz}, xd[SPD_MAX_DIMS], idx[SPD_MAX_DIMS] = {0};
    for (int i = 0; i < r; i++) xd[i] = x->ndim ? x->dims[i] : 1;
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_INT64, 2, dims));
    int64_t *o = ctx->out[0].data, k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (spd_tensor_get(x, i) != 0) {
            for (int a = 0; a < r; a++) o[a * nnz + k] = idx[a];
            k++;
        }
        next_index(idx, xd, r);
    }
    return SPD_OK;
}

/* ---------------------------------------------------------------- Trilu */

static spd_status op_trilu(spd_op_ctx *ctx)
{
    const spd_tensor *x, *kt = spd_op_in(ctx, 1);
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    if (x->ndim < 2) return spd_errorf(SPD_ERR_INVALID, "input must have rank >= 2");
    int64_t k = 0;
    if (kt) {
        if (spd_tensor_numel(kt) != 1) return spd_errorf(SPD_ERR_INVALID, "k must be a scalar");
        SPD_TRY(check_index_dtype(kt, "k"));
        k = spd_tensor_get_i64(kt, 0);
    }
    int upper = spd_attr_int(ctx->node, "upper", 1) != 0;
    SPD_TRY(spd_tensor_copy(&ctx->out[0], x));
    int64_t R = x->dims[x->ndim - 2], C = x->dims[x->ndim - 1], B = spd_dims_prod(x->dims, 0, x->ndim - 2);
    size_t esz = spd_dtype_size(x->dtype);
    char *d = ctx->out[0].data;
    /* all-zero bytes are zero in every dtype */
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++) {
                /* j - i is small, so comparing it with any k is safe */
                int keep = upper ? j - i >= k : j - i <= k;
                if (!keep) memset(d + (size_t)((b * R + i) * C + j) * esz, 0, esz);
            }
    return SPD_OK;
}

/* ---------------------------------------------------------------- Pad */

/* Position s (relative to the start of an axis of length n, maybe outside
 * it) mapped back into the axis by mode; -1 for the constant value. */
static int64_t pad_source(int64_t s, int64_t n, int mode)
{
    if (s >= 0 && s < n) return s;
    switch (mode) {
    case 1: { /* reflect, without repeating the edge */
        if (n == 1) return 0;
        int64_t p = 2 * (n - 1), m = ((s % p) + p) % p;
        return m >= n ? p - m : m;
    }
    case 2: return s < 0 ? 0 : n - 1;            /* edge */
    case 3: return ((s % n) + n) % n;             /* wrap */
    default: return -1;                           /* constant */
    }
}

static spd_status op_pad(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int r = x->ndim;
    size_t esz = spd_dtype_size(x->dtype);
    const char *ms = spd_attr_string(ctx->node, "mode", "constant");
    int mode;
    if (!strcmp(ms, "constant")) mode = 0;
    else if (!strcmp(ms, "reflect")) mode = 1;
    else if (!strcmp(ms, "edge")) mode = 2;
    else if (!strcmp(ms, "wrap")) mode = 3;
    else return spd_errorf(SPD_ERR_INVALID, "mode '%s'", ms);

    int64_t pb[SPD_MAX_DIMS] = {0}, pe[SPD_MAX_DIMS] = {0};
    unsigned char cval[16] = {0}; /* the constant, in x's dtype */
    if (ctx->opset < 11) {
        size_t cnt;
        const int64_t *p = spd_attr_ints(ctx->node, ctx->opset < 2 ? "paddings" : "pads", &cnt);
        if (!p) return spd_errorf(SPD_ERR_INVALID, "attribute pads is missing");
        if ((int)cnt != 2 * r) return spd_errorf(SPD_ERR_INVALID, "pads has %zu values for rank %d", cnt, r);
        for (int i = 0; i < r; i++) {
            pb[i] = p[i];
            pe[i] = p[r + i];
        }
        spd_tensor tmp = {0};
        tmp.dtype = x->dtype;
        tmp.data = cval;
        if (esz <= sizeof cval) spd_tensor_set(&tmp, 0, spd_attr_float(ctx->node, "value", 0.0f));
    } else {
        const spd_tensor *pt, *cv = spd_op_in(ctx, 2), *at = ctx->opset >= 18 ? spd_op_in(ctx, 3) : NULL;
        int64_t p[2 * SPD_MAX_DIMS], ax[SPD_MAX_DIMS];
        int np, na = r;
        SPD_TRY(spd_op_need(ctx, 1, &pt));
        SPD_TRY(check_index_dtype(pt, "pads"));
        if (at) SPD_TRY(spd_tensor_to_i64s(at, ax, SPD_MAX_DIMS, &na));
        else
            for (int i = 0; i < r; i++) ax[i] = i;
        SPD_TRY(spd_tensor_to_i64s(pt, p, 2 * SPD_MAX_DIMS, &np));
        if (np != 2 * na) return spd_errorf(SPD_ERR_INVALID, "pads has %d values for %d axes", np, na);
        int seen[SPD_MAX_DIMS] = {0};
        for (int i = 0; i < na; i++) {
            int a;
            SPD_TRY(spd_norm_axis(ax[i], r, &a));
            if (seen[a]) return spd_errorf(SPD_ERR_INVALID, "axes repeat axis %d", a);
            seen[a] = 1;
            pb[a] = p[i];
            pe[a] = p[na + i];
        }
        if (cv && mode == 0) {
            if (cv->dtype != x->dtype) return spd_errorf(SPD_ERR_INVALID, "constant_value differs in type from data");
            if (spd_tensor_numel(cv) != 1) return spd_errorf(SPD_ERR_INVALID, "constant_value must be a scalar");
            if (esz <= sizeof cval) memcpy(cval, cv->data, esz);
        }
    }
    if (esz > sizeof cval) return spd_errorf(SPD_ERR_UNSUPPORTED, "Pad over %s", spd_dtype_name(x->dtype));

    /* Negative pads crop first; the other modes then pad the cropped axis
     * (as the ONNX reference does). map[a][o] is the source element offset
     * for output position o on axis a, or -1 for the constant. */
    int64_t dims[SPD_MAX_DIMS], xst[SPD_MAX_DIMS], total_map = 0;
    contiguous_strides(r, x->dims, xst);
    for (int i = 0; i < r; i++) {
        const int64_t lim = (int64_t)1 << 40;
        if (pb[i] < -lim || pb[i] > lim || pe[i] < -lim || pe[i] > lim)
            return spd_errorf(SPD_ERR_INVALID, "pads of axis %d beyond 2^40", i);
        dims[i] = x->dims[i] + pb[i] + pe[i];
        if (dims[i] < 0) return spd_errorf(SPD_ERR_INVALID, "pads crop axis %d below zero", i);
        int64_t lo = pb[i] < 0 ? -pb[i] : 0, hi = x->dims[i] - (pe[i] < 0 ? -pe[i] : 0);
        if (mode != 0 && hi - lo <= 0 && dims[i] > 0)
            return spd_errorf(SPD_ERR_INVALID, "cannot %s-pad an empty axis %d", ms, i);
        total_map += dims[i];
    }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, r, dims));
    int64_t total = spd_tensor_numel(&ctx->out[0]);
    if (total == 0) return SPD_OK;
    char *d = ctx->out[0].data;
    if (r == 0) {
        memcpy(d, x->data, esz);
        return SPD_OK;
    }
    int64_t *maps = spd_malloc((size_t)total_map * sizeof *maps), *map[SPD_MAX_DIMS];
    if (!maps) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    int64_t at = 0;
    for (int i = 0; i < r; i++) {
        map[i] = maps + at;
        at += dims[i];
        int64_t lo = pb[i] < 0 ? -pb[i] : 0, hi = x->dims[i] - (pe[i] < 0 ? -pe[i] : 0);
        int64_t before = pb[i] > 0 ? pb[i] : 0;
        for (int64_t o = 0; o < dims[i]; o++) {
            int64_t s = pad_source(o - before, hi - lo, mode);
            map[i][o] = s < 0 ? -1 : (lo + s) * xst[i];
        }
    }
    int64_t idx[SPD_MAX_DIMS] = {0}, inner = dims[r - 1];
    /* the inner axis's longest run [run0, run1) of consecutive source
     * elements, copied as one block (the whole row, for a constant pad) */
    const int64_t *im = map[r - 1];
    int64_t run0 = 0, run1 = 0;
    while (run0 < inner && im[run0] < 0) run0++;
    for (run1 = run0 + (run0 < inner); run1 < inner && im[run1] == im[run1 - 1] + 1;) run1++;
    const char *src = x->data;
    for (int64_t done = 0; done < total; done += inner) {
        int64_t base = 0;
        for (int i = 0; i < r - 1 && base >= 0; i++) base = map[i][idx[i]] < 0 ? -1 : base + map[i][idx[i]];
        for (int64_t o = 0; o < inner; o++, d += esz) {
            if (base >= 0 && o == run0 && run1 > run0) {
                memcpy(d, src + (size_t)(base + im[o]) * esz, (size_t)(run1 - run0) * esz);
                d += (size_t)(run1 - run0 - 1) * esz;
                o = run1 - 1;
            } else if (base < 0 || im[o] < 0) {
                memcpy(d, cval, esz);
            } else {
                memcpy(d, src + (size_t)(base + im[o]) * esz, esz);
            }
        }
        for (int k = r - 2; k >= 0; k--) {
            if (++idx[k] < dims[k]) break;
            idx[k] = 0;
        }
    }
    spd_free(maps);
    return SPD_OK;
}

/* ---------------------------------------------------------------- Unique */

typedef struct uniq_ctx {
    const spd_tensor *x;
    int64_t outer, n, inner; /* slices along the axis: x[o, i, j] */
} uniq_ctx;

static int cmp_elem(const spd_tensor *x, int64_t a, int64_t b)
{
    if (spd_dtype_is_float(x->dtype)) {
        double p = spd_tensor_get(x, a), q = spd_tensor_get(x, b);
        int pn = isnan(p), qn = isnan(q);
        if (pn || qn) return pn - qn; /* NaNs sort last and equal each other */
        return p < q ? -1 : p > q;
    }
    if (x->dtype == SPD_UINT64) {
        uint64_t p = (uint64_t)spd_tensor_get_i64(x, a), q = (uint64_t)spd_tensor_get_i64(x, b);
        return p < q ? -1 : p > q;
    }
    int64_t p = spd_tensor_get_i64(x, a), q = spd_tensor_get_i64(x, b);
    return p < q ? -1 : p > q;
}

/* Slices compare lexicographically, element by element in row-major order. */
static int cmp_slice(const uniq_ctx *u, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < u->outer; o++)
        for (int64_t j = 0; j < u->inner; j++) {
            int c = cmp_elem(u->x, (o * u->n + a) * u->inner + j, (o * u->n + b) * u->inner + j);
            if (c) return c;
        }
    return 0;
}

/* Stable merge sort of v[0..n) by cmp_slice, tmp as scratch. */
static void merge_sort(const uniq_ctx *u, int64_t *v, int64_t *tmp, int64_t n)
{
    if (n < 2) return;
    int64_t h = n / 2;
    merge_sort(u, v, tmp, h);
    merge_sort(u, v + h, tmp, n - h);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_slice(u, v[j], v[i]) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

static spd_status op_unique(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    if (x->dtype == SPD_COMPLEX64 || x->dtype == SPD_COMPLEX128)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "Unique over %s", spd_dtype_name(x->dtype));
    int sorted = spd_attr_int(ctx->node, "sorted", 1) != 0;
    const spd_attr *aa = spd_node_attr(ctx->node, "axis");
    uniq_ctx u = {x, 1, spd_tensor_numel(x), 1};
    int axis = -1;
    if (aa) {
        SPD_TRY(spd_norm_axis(aa->i, x->ndim, &axis));
        u.outer = spd_dims_prod(x->dims, 0, axis);
        u.n = x->dims[axis];
        u.inner = spd_dims_prod(x->dims, axis + 1, x->ndim);
    }
    int64_t n = u.n;
    /* order: slice indices in sorted order; grp: group of each sorted
     * position; first/count per group; rank: output position per group */
    int64_t *buf = spd_malloc((size_t)(6 * (n ? n : 1)) * sizeof *buf);
    if (!buf) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    int64_t *order = buf, *tmp = buf + n, *first = buf + 2 * n, *count = buf + 3 * n, *inv = buf + 4 * n,
            *rank = buf + 5 * n;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    merge_sort(&u, order, tmp, n);
    int64_t G = 0;
    for (int64_t p = 0; p < n; p++) {
        if (p == 0 || cmp_slice(&u, order[p - 1], order[p]) != 0) {
            first[G] = order[p]; /* stable: the smallest index of the group */
            count[G] = 0;
            G++;
        }
        count[G - 1]++;
        inv[order[p]] = G - 1;
    }
    /* unsorted output lists the groups by first occurrence */
    for (int64_t g = 0; g < G; g++) rank[g] = g;
    if (!sorted) {
        for (int64_t g = 0; g < G; g++) tmp[g] = g;
        /* insertion by first index: groups are few relative to the work above */
        for (int64_t g = 1; g < G; g++) {
            int64_t v = tmp[g], h = g;
            while (h > 0 && first[tmp[h - 1]] > first[v]) {
                tmp[h] = tmp[h - 1];
                h--;
            }
            tmp[h] = v;
        }
        for (int64_t p = 0; p < G; p++) rank[tmp[p]] = p;
    }
    spd_status st;
    int64_t dims[SPD_MAX_DIMS];
    int r;
    if (aa) {
        r = x->ndim;
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = G;
    } else {
        r = 1;
        dims[0] = G;
    }
    if ((st = spd_tensor_alloc(&ctx->out[0], x->dtype, r, dims)) != SPD_OK) goto done;
    {
        size_t esz = spd_dtype_size(x->dtype), row = (size_t)u.inner * esz;
        for (int64_t g = 0; g < G && row; g++)
            for (int64_t o = 0; o < u.outer; o++)
                memcpy((char *)ctx->out[0].data + (size_t)(o * G + rank[g]) * row,
                       (const char *)x->data + (size_t)(o * n + first[g]) * row, row);
    }
    for (int k = 1; k < ctx->n_outputs && k < 4; k++) {
        int64_t len = k == 2 ? n : G;
        if ((st = spd_tensor_alloc(&ctx->out[k], SPD_INT64, 1, &len)) != SPD_OK) goto done;
        int64_t *o = ctx->out[k].data;
        if (k == 1)
            for (int64_t g = 0; g < G; g++) o[rank[g]] = first[g];
        else if (k == 2)
            for (int64_t i = 0; i < n; i++) o[i] = rank[inv[i]];
        else
            for (int64_t g = 0; g < G; g++) o[rank[g]] = count[g];
    }
done:
    spd_free(buf);
    return st;
}

/* ---------------------------------------------------------------- table */

const spd_op_def spd_ops_index[] = {
    {"Slice", "", 1, 21, op_slice},
    {"Gather", "", 1, 21, op_gather},
    {"GatherElements", "", 11, 21, op_gather_elements},
    {"GatherND", "", 11, 21, op_gather_nd},
    {"ScatterND", "", 11, 21, op_scatter_nd},
    {"ScatterElements", "", 11, 21, op_scatter_elements},
    {"Scatter", "", 9, 10, op_scatter_elements},
    {"OneHot", "", 9, 21, op_one_hot},
    {"NonZero", "", 9, 21, op_nonzero},
    {"Trilu", "", 14, 21, op_trilu},
    {"Pad", "", 1, 21, op_pad},
    {"Unique", "", 11, 21, op_unique},
};
const int spd_ops_index_count = (int)(sizeof spd_ops_index / sizeof spd_ops_index[0]);
