/* Shape and data-movement operators: Reshape, Flatten, Transpose, Squeeze,
 * Unsqueeze, Concat, Split, Expand, Tile, Shape, Size, ConstantOfShape,
 * Constant, Range, Identity, Dropout, DepthToSpace, SpaceToDepth, EyeLike,
 * Compress, ReverseSequence.
 *
 * These kernels never look at element values (except Range, EyeLike and the
 * Dropout mask): they move elements by their byte size, so every fixed-size
 * dtype works the same way. */
#include <math.h>
#include <string.h>

#include "ir/op.h"
#include "ops/ops_util.h"
#include "util/alloc.h"
#include "util/status.h"

/* ---------------------------------------------------------------- helpers */

static void contiguous_strides(int nd, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

/* out[k] = in with a new shape and the same bytes. */
static spd_status copy_as(spd_op_ctx *ctx, int k, const spd_tensor *in, int ndim, const int64_t *dims)
{
    if (spd_dims_prod(dims, 0, ndim) != spd_tensor_numel(in))
        return spd_errorf(SPD_ERR_INTERNAL, "copy_as: element count changes");
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[k], in->dtype, ndim, dims)); /* every byte copied */
    size_t nb = spd_tensor_nbytes(in);
    /* The memory plan may hand the output the input's own slot (it dies
     * here): the bytes are already in place. */
    if (nb && ctx->out[k].data != in->data) memcpy(ctx->out[k].data, in->data, nb);
    return SPD_OK;
}

/* ---------------------------------------------------------------- Reshape */

static spd_status op_reshape(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int64_t req[SPD_MAX_DIMS];
    int n = 0;
    if (ctx->opset < 5) {
        size_t cnt;
        const int64_t *s = spd_attr_ints(ctx->node, "shape", &cnt);
        if (!s) return spd_errorf(SPD_ERR_INVALID, "attribute shape is missing");
        if (cnt > SPD_MAX_DIMS)
            return spd_errorf(SPD_ERR_UNSUPPORTED, "output rank %zu (at most %d)", cnt, SPD_MAX_DIMS);
        for (size_t i = 0; i < cnt; i++) req[i] = s[i];
        n = (int)cnt;
    } else {
        const spd_tensor *sh;
        SPD_TRY(spd_op_need(ctx, 1, &sh));
        SPD_TRY(spd_tensor_to_i64s(sh, req, SPD_MAX_DIMS, &n));
    }
    int allowzero = ctx->opset >= 14 && spd_attr_int(ctx->node, "allowzero", 0) != 0;
    int64_t dims[SPD_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < n; i++) {
        if (req[i] == -1) {
            if (infer >= 0) return spd_errorf(SPD_ERR_INVALID, "shape has more than one -1");
            infer = i;
            dims[i] = 1;
            continue;
        }
        if (req[i] < -1) return spd_errorf(SPD_ERR_INVALID, "shape has a negative value %lld", (long long)req[i]);
        if (req[i] == 0 && !allowzero) {
            if (i >= x->ndim)
                return spd_errorf(SPD_ERR_INVALID, "shape[%d] = 0 copies a dimension the rank-%d input lacks",
                                  i, x->ndim);
            dims[i] = x->dims[i];
        } else {
            dims[i] = req[i];
        }
        known *= dims[i];
    }
    int64_t numel = spd_tensor_numel(x);
    if (infer >= 0) {
        if (known == 0 || numel % known)
            return spd_errorf(SPD_ERR_INVALID, "cannot infer the -1 dimension of %lld elements", (long long)numel);
        dims[infer] = numel / known;
    } else if (known != numel) {
        return spd_errorf(SPD_ERR_INVALID, "cannot reshape %lld elements into %lld", (long long)numel,
                          (long long)known);
    }
    return copy_as(ctx, 0, x, n, dims);
}

/* ---------------------------------------------------------------- Flatten */

static spd_status op_flatten(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int64_t axis = spd_attr_int(ctx->node, "axis", 1);
    int r = x->ndim;
    if (axis < 0 && ctx->opset >= 11) axis += r;
    if (axis < 0 || axis > r)
        return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for rank %d",
                          (long long)spd_attr_int(ctx->node, "axis", 1), r);
    int64_t dims[2] = {spd_dims_prod(x->dims, 0, (int)axis), spd_dims_prod(x->dims, (int)axis, r)};
    return copy_as(ctx, 0, x, 2, dims);
}

/* ---------------------------------------------------------------- Transpose */

static spd_status transpose_to(spd_tensor *out, const spd_tensor *x, const int *perm)
{
    int r = x->ndim;
    int64_t in_st[SPD_MAX_DIMS], dims[SPD_MAX_DIMS], st[SPD_MAX_DIMS];
    contiguous_strides(r, x->dims, in_st);
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[perm[i]];
        st[i] = in_st[perm[i]];
    }
    SPD_TRY(spd_tensor_alloc_uninit(out, x->dtype, r, dims)); /* every element copied */
    spd_strided_copy(out->data, x->data, r, dims, st, spd_dtype_size(x->dtype));
    return SPD_OK;
}

static spd_status op_transpose(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int r = x->ndim, perm[SPD_MAX_DIMS];
    size_t cnt;
    const int64_t *p = spd_attr_ints(ctx->node, "perm", &cnt);
    if (!p) {
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    } else {
        if ((int)cnt != r)
            return spd_errorf(SPD_ERR_INVALID, "perm has %zu values for a rank-%d input", cnt, r);
        int seen[SPD_MAX_DIMS] = {0};
        for (int i = 0; i < r; i++) {
            int a;
            SPD_TRY(spd_norm_axis(p[i], r, &a));
            if (seen[a]) return spd_errorf(SPD_ERR_INVALID, "perm repeats axis %d", a);
            seen[a] = 1;
            perm[i] = a;
        }
    }
    return transpose_to(&ctx->out[0], x, perm);
}

/* ---------------------------------------------------------------- Squeeze / Unsqueeze */

/* The axes of Squeeze/Unsqueeze: an attribute before opset 13, an input
 * from 13 on. *present is 0 when neither is given. */
static spd_status get_axes(spd_op_ctx *ctx, int64_t *axes, int *n, int *present)
{
    *n = 0;
    *present = 0;
    if (ctx->opset < 13) {
        size_t cnt;
        const int64_t *a = spd_attr_ints(ctx->node, "axes", &cnt);
        if (!a) return SPD_OK;
        if (cnt > 2 * SPD_MAX_DIMS) return spd_errorf(SPD_ERR_INVALID, "too many axes (%zu)", cnt);
        for (size_t i = 0; i < cnt; i++) axes[i] = a[i];
        *n = (int)cnt;
        *present = 1;
        return SPD_OK;
    }
    const spd_tensor *t = spd_op_in(ctx, 1);
    if (!t) return SPD_OK;
    SPD_TRY(spd_tensor_to_i64s(t, axes, 2 * SPD_MAX_DIMS, n));
    *present = 1;
    return SPD_OK;
}

static spd_status op_squeeze(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int64_t axes[2 * SPD_MAX_DIMS];
    int n, present, r = x->ndim;
    SPD_TRY(get_axes(ctx, axes, &n, &present));
    int drop[SPD_MAX_DIMS] = {0};
    if (!present) {
        for (int i = 0; i < r; i++) drop[i] = x->dims[i] == 1;
    } else {
        for (int i = 0; i < n; i++) {
            int a;
            SPD_TRY(spd_norm_axis(axes[i], r, &a));
            if (x->dims[a] != 1)
                return spd_errorf(SPD_ERR_INVALID, "cannot squeeze axis %d of size %lld", a,
                                  (long long)x->dims[a]);
            drop[a] = 1;
        }
    }
    int64_t dims[SPD_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < r; i++)
        if (!drop[i]) dims[k++] = x->dims[i];
    return copy_as(ctx, 0, x, k, dims);
}

static spd_status op_unsqueeze(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int64_t axes[2 * SPD_MAX_DIMS];
    int n, present;
    SPD_TRY(get_axes(ctx, axes, &n, &present));
    if (!present) return spd_errorf(SPD_ERR_INVALID, "axes are missing");
    int r = x->ndim + n;
    if (r > SPD_MAX_DIMS)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "output rank %d (at most %d)", r, SPD_MAX_DIMS);
    int ins[SPD_MAX_DIMS] = {0};
    for (int i = 0; i < n; i++) {
        int a;
        SPD_TRY(spd_norm_axis(axes[i], r, &a));
        if (ins[a]) return spd_errorf(SPD_ERR_INVALID, "axes repeat axis %d", a);
        ins[a] = 1;
    }
    int64_t dims[SPD_MAX_DIMS];
    for (int i = 0, k = 0; i < r; i++) dims[i] = ins[i] ? 1 : x->dims[k++];
    return copy_as(ctx, 0, x, r, dims);
}

/* ---------------------------------------------------------------- Concat */

static spd_status op_concat(spd_op_ctx *ctx)
{
    if (ctx->n_inputs < 1) return spd_errorf(SPD_ERR_INVALID, "no inputs");
    const spd_tensor *x0;
    SPD_TRY(spd_op_need(ctx, 0, &x0));
    SPD_TRY(spd_check_fixed_size(x0));
    const spd_attr *aa = spd_node_attr(ctx->node, "axis");
    if (!aa && ctx->opset >= 4) return spd_errorf(SPD_ERR_INVALID, "attribute axis is missing");
    int r = x0->ndim, axis;
    if (r == 0) return spd_errorf(SPD_ERR_INVALID, "cannot concatenate scalars");
    SPD_TRY(spd_norm_axis(aa ? aa->i : 1, r, &axis));
    int64_t dims[SPD_MAX_DIMS];
    for (int i = 0; i < r; i++) dims[i] = x0->dims[i];
    dims[axis] = 0;
    for (int k = 0; k < ctx->n_inputs; k++) {
        const spd_tensor *x;
        SPD_TRY(spd_op_need(ctx, k, &x));
        if (x->dtype != x0->dtype || x->ndim != r)
            return spd_errorf(SPD_ERR_INVALID, "input %d differs in type or rank from input 0", k);
        for (int i = 0; i < r; i++)
            if (i != axis && x->dims[i] != x0->dims[i])
                return spd_errorf(SPD_ERR_INVALID, "input %d has size %lld on axis %d, input 0 has %lld",
                                  k, (long long)x->dims[i], i, (long long)x0->dims[i]);
        dims[axis] += x->dims[axis];
    }
    /* the inputs' copies below cover the output exactly: no zeroing first
     * (it cost squeezenet's Concats 3% of the model) */
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], x0->dtype, r, dims));
    size_t esz = spd_dtype_size(x0->dtype);
    int64_t outer = spd_dims_prod(dims, 0, axis), inner = spd_dims_prod(dims, axis + 1, r);
    char *d = ctx->out[0].data;
    for (int64_t o = 0; o < outer; o++) {
        for (int k = 0; k < ctx->n_inputs; k++) {
            const spd_tensor *x = ctx->in[k];
            size_t block = (size_t)(x->dims[axis] * inner) * esz;
            const char *src = (const char *)x->data + (size_t)o * block;
            if (block && src != d) memcpy(d, src, block); /* not where the plan computed it already */
            d += block;
        }
    }
    return SPD_OK;
}

/* ---------------------------------------------------------------- Split */

static spd_status op_split(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int r = x->ndim, axis, nout = ctx->n_outputs;
    if (nout < 1) return spd_errorf(SPD_ERR_INVALID, "no outputs");
    SPD_TRY(spd_norm_axis(spd_attr_int(ctx->node, "axis", 0), r, &axis));
    int64_t dim = x->dims[axis];
    int64_t *sizes = spd_malloc((size_t)nout * sizeof *sizes);
    if (!sizes) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_status st = SPD_OK;
    int64_t *given = NULL, ngiven = -1;
    const spd_tensor *sp = ctx->opset >= 13 || ctx->opset == 1 ? spd_op_in(ctx, 1) : NULL;
    if (sp) {
        st = spd_read_i64s(sp, &given, &ngiven);
    } else if (ctx->opset < 13) {
        size_t cnt;
        const int64_t *a = spd_attr_ints(ctx->node, "split", &cnt);
        if (a) {
            given = spd_malloc((cnt ? cnt : 1) * sizeof *given);
            if (!given) st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
            else memcpy(given, a, cnt * sizeof *given);
            ngiven = (int64_t)cnt;
        }
    }
    if (st != SPD_OK) goto done;
    if (ngiven >= 0) {
        if (ngiven != nout) {
            st = spd_errorf(SPD_ERR_INVALID, "split has %lld values for %d outputs", (long long)ngiven, nout);
            goto done;
        }
        int64_t sum = 0;
        for (int i = 0; i < nout; i++) {
            if (given[i] < 0) {
                st = spd_errorf(SPD_ERR_INVALID, "split has a negative size");
                goto done;
            }
            sizes[i] = given[i];
            sum += given[i];
        }
        if (sum != dim) {
            st = spd_errorf(SPD_ERR_INVALID, "split sizes add up to %lld, axis %d has %lld", (long long)sum,
                            axis, (long long)dim);
            goto done;
        }
    } else {
        const spd_attr *no = ctx->opset >= 18 ? spd_node_attr(ctx->node, "num_outputs") : NULL;
        if (no && no->i != nout) {
            st = spd_errorf(SPD_ERR_INVALID, "num_outputs is %lld but the node has %d outputs", (long long)no->i,
                            nout);
            goto done;
        }
        if (dim % nout == 0) {
            for (int i = 0; i < nout; i++) sizes[i] = dim / nout;
        } else if (ctx->opset >= 18) {
            /* opset 18: chunks of ceil(dim / n), the last one smaller */
            int64_t c = (dim + nout - 1) / nout, left = dim;
            for (int i = 0; i < nout; i++) {
                sizes[i] = left < c ? left : c;
                left -= sizes[i];
            }
            if (sizes[nout - 1] <= 0) {
                st = spd_errorf(SPD_ERR_INVALID, "cannot split %lld into %d chunks", (long long)dim, nout);
                goto done;
            }
        } else {
            st = spd_errorf(SPD_ERR_INVALID, "axis of size %lld does not split into %d equal parts", (long long)dim,
                            nout);
            goto done;
        }
    }
    {
        size_t esz = spd_dtype_size(x->dtype);
        int64_t outer = spd_dims_prod(x->dims, 0, axis), inner = spd_dims_prod(x->dims, axis + 1, r);
        int64_t start = 0;
        for (int k = 0; k < nout; k++) {
            int64_t dims[SPD_MAX_DIMS];
            memcpy(dims, x->dims, sizeof dims);
            dims[axis] = sizes[k];
            st = spd_tensor_alloc(&ctx->out[k], x->dtype, r, dims);
            if (st != SPD_OK) goto done;
            size_t block = (size_t)(sizes[k] * inner) * esz;
            for (int64_t o = 0; o < outer && block; o++)
                memcpy((char *)ctx->out[k].data + (size_t)o * block,
                       (const char *)x->data + ((size_t)(o * dim + start) * (size_t)inner) * esz, block);
            start += sizes[k];
        }
    }
done:
    spd_free(given);
    spd_free(sizes);
    return st;
}

/* ---------------------------------------------------------------- Expand / Tile */

static spd_status op_expand(spd_op_ctx *ctx)
{
    const spd_tensor *x, *sh;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &sh));
    SPD_TRY(spd_check_fixed_size(x));
    spd_tensor shape = {0};
    SPD_TRY(spd_tensor_to_i64s(sh, shape.dims, SPD_MAX_DIMS, &shape.ndim));
    for (int i = 0; i < shape.ndim; i++)
        if (shape.dims[i] < 0)
            return spd_errorf(SPD_ERR_INVALID, "shape has a negative value %lld", (long long)shape.dims[i]);
    shape.dtype = x->dtype; /* only for the error message */
    const spd_tensor *both[2] = {x, &shape};
    int r = 0;
    int64_t dims[SPD_MAX_DIMS], st[SPD_MAX_DIMS];
    SPD_TRY(spd_broadcast_shapes(2, both, &r, dims));
    spd_broadcast_strides(x, r, dims, st);
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, r, dims));
    spd_strided_copy(ctx->out[0].data, x->data, r, dims, st, spd_dtype_size(x->dtype));
    return SPD_OK;
}

static spd_status op_tile(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    int r = x->ndim;
    int64_t reps[SPD_MAX_DIMS];
    if (ctx->opset < 6) {
        /* Tile-1: a scalar count of copies along one axis */
        const spd_tensor *tiles, *ax;
        SPD_TRY(spd_op_need(ctx, 1, &tiles));
        SPD_TRY(spd_op_need(ctx, 2, &ax));
        if (spd_tensor_numel(tiles) != 1 || spd_tensor_numel(ax) != 1)
            return spd_errorf(SPD_ERR_INVALID, "tiles and axis must be scalars");
        int a;
        SPD_TRY(spd_norm_axis(spd_tensor_get_i64(ax, 0), r, &a));
        for (int i = 0; i < r; i++) reps[i] = 1;
        reps[a] = spd_tensor_get_i64(tiles, 0);
    } else {
        const spd_tensor *rp;
        int n;
        SPD_TRY(spd_op_need(ctx, 1, &rp));
        SPD_TRY(spd_tensor_to_i64s(rp, reps, SPD_MAX_DIMS, &n));
        if (n != r) return spd_errorf(SPD_ERR_INVALID, "repeats has %d values for a rank-%d input", n, r);
    }
    /* Seen as a 2r-dimensional view (rep_0, d_0, rep_1, d_1, ...) in which
     * the repetition axes have stride 0. */
    int64_t in_st[SPD_MAX_DIMS], vdims[SPD_VIEW_MAX_DIMS], vst[SPD_VIEW_MAX_DIMS], dims[SPD_MAX_DIMS];
    contiguous_strides(r, x->dims, in_st);
    for (int i = 0; i < r; i++) {
        if (reps[i] < 0) return spd_errorf(SPD_ERR_INVALID, "repeats has a negative value");
        if (x->dims[i] > 0 && reps[i] > ((int64_t)1 << 40) / x->dims[i])
            return spd_errorf(SPD_ERR_INVALID, "repeats make axis %d larger than 2^40", i);
        vdims[2 * i] = reps[i];
        vst[2 * i] = 0;
        vdims[2 * i + 1] = x->dims[i];
        vst[2 * i + 1] = in_st[i];
        dims[i] = reps[i] * x->dims[i];
    }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, r, dims));
    spd_strided_copy(ctx->out[0].data, x->data, 2 * r, vdims, vst, spd_dtype_size(x->dtype));
    return SPD_OK;
}

/* ---------------------------------------------------------------- Shape / Size */

static spd_status op_shape(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    int64_t r = x->ndim, start = 0, end = r;
    if (ctx->opset >= 15) {
        start = spd_attr_int(ctx->node, "start", 0);
        const spd_attr *e = spd_node_attr(ctx->node, "end");
        if (e) end = e->i;
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = start < 0 ? 0 : start > r ? r : start;
        end = end < 0 ? 0 : end > r ? r : end;
    }
    int64_t n = end > start ? end - start : 0;
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_INT64, 1, &n));
    for (int64_t i = 0; i < n; i++) ((int64_t *)ctx->out[0].data)[i] = x->dims[start + i];
    return SPD_OK;
}

static spd_status op_size(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_INT64, 0, NULL));
    *(int64_t *)ctx->out[0].data = spd_tensor_numel(x);
    return SPD_OK;
}

/* ---------------------------------------------------------------- ConstantOfShape / Constant */

static spd_status op_constant_of_shape(spd_op_ctx *ctx)
{
    const spd_tensor *sh;
    SPD_TRY(spd_op_need(ctx, 0, &sh));
    int64_t dims[SPD_MAX_DIMS];
    int n;
    SPD_TRY(spd_tensor_to_i64s(sh, dims, SPD_MAX_DIMS, &n));
    for (int i = 0; i < n; i++)
        if (dims[i] < 0) return spd_errorf(SPD_ERR_INVALID, "shape has a negative value %lld", (long long)dims[i]);
    const spd_tensor *v = spd_attr_tensor(ctx->node, "value");
    if (!v) {
        /* default: float32 zeros, which is what alloc gives */
        return spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, n, dims);
    }
    SPD_TRY(spd_check_fixed_size(v));
    if (spd_tensor_numel(v) != 1) return spd_errorf(SPD_ERR_INVALID, "value must hold exactly one element");
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], v->dtype, n, dims));
    size_t esz = spd_dtype_size(v->dtype);
    int64_t numel = spd_tensor_numel(&ctx->out[0]);
    char *d = ctx->out[0].data;
    for (int64_t i = 0; i < numel; i++) memcpy(d + (size_t)i * esz, v->data, esz);
    return SPD_OK;
}

static spd_status op_constant(spd_op_ctx *ctx)
{
    const spd_node *nd = ctx->node;
    const spd_tensor *v = spd_attr_tensor(nd, "value");
    if (v) {
        SPD_TRY(spd_check_fixed_size(v));
        return spd_tensor_copy(&ctx->out[0], v);
    }
    const spd_attr *a;
    if ((a = spd_node_attr(nd, "value_float")) != NULL) {
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, 0, NULL));
        *(float *)ctx->out[0].data = a->f;
        return SPD_OK;
    }
    if ((a = spd_node_attr(nd, "value_int")) != NULL) {
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_INT64, 0, NULL));
        *(int64_t *)ctx->out[0].data = a->i;
        return SPD_OK;
    }
    if ((a = spd_node_attr(nd, "value_floats")) != NULL) {
        int64_t n = (int64_t)a->n;
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, 1, &n));
        if (n) memcpy(ctx->out[0].data, a->floats, (size_t)n * sizeof(float));
        return SPD_OK;
    }
    if ((a = spd_node_attr(nd, "value_ints")) != NULL) {
        int64_t n = (int64_t)a->n;
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_INT64, 1, &n));
        if (n) memcpy(ctx->out[0].data, a->ints, (size_t)n * sizeof(int64_t));
        return SPD_OK;
    }
    if (spd_node_attr(nd, "value_string") || spd_node_attr(nd, "value_strings"))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "string constants are not supported");
    if (spd_node_attr(nd, "sparse_value"))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "sparse constants are not supported");
    return spd_errorf(SPD_ERR_INVALID, "no value attribute");
}

/* ---------------------------------------------------------------- Range */

static spd_status op_range(spd_op_ctx *ctx)
{
    const spd_tensor *ts[3];
    for (int i = 0; i < 3; i++) {
        SPD_TRY(spd_op_need(ctx, i, &ts[i]));
        if (spd_tensor_numel(ts[i]) != 1)
            return spd_errorf(SPD_ERR_INVALID, "input %d must be a scalar", i);
        if (ts[i]->dtype != ts[0]->dtype)
            return spd_errorf(SPD_ERR_INVALID, "inputs differ in type");
    }
    spd_dtype dt = ts[0]->dtype;
    SPD_TRY(spd_check_fixed_size(ts[0]));
    if (dt == SPD_BOOL || dt == SPD_COMPLEX64 || dt == SPD_COMPLEX128)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "Range over %s", spd_dtype_name(dt));
    int64_t n;
    if (spd_dtype_is_float(dt)) {
        double start = spd_tensor_get(ts[0], 0), limit = spd_tensor_get(ts[1], 0), delta = spd_tensor_get(ts[2], 0);
        if (delta == 0 || !isfinite(start) || !isfinite(limit) || !isfinite(delta))
            return spd_errorf(SPD_ERR_INVALID, "start, limit and delta must be finite and delta non-zero");
        double c = ceil((limit - start) / delta);
        if (c > (double)((int64_t)1 << 40)) return spd_errorf(SPD_ERR_INVALID, "range of %g elements", c);
        n = c > 0 ? (int64_t)c : 0;
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], dt, 1, &n));
        spd_tensor *o = &ctx->out[0];
        if (dt == SPD_FLOAT) {
            /* in float, as a float32 reference would */
            float fs = (float)start, fd = (float)delta;
            for (int64_t i = 0; i < n; i++) ((float *)o->data)[i] = fs + (float)i * fd;
        } else {
            for (int64_t i = 0; i < n; i++) spd_tensor_set(o, i, start + (double)i * delta);
        }
        return SPD_OK;
    }
    /* integers: exact arithmetic, widened so that limit - start cannot overflow */
    __int128 start = spd_tensor_get_i64(ts[0], 0), limit = spd_tensor_get_i64(ts[1], 0),
             delta = spd_tensor_get_i64(ts[2], 0);
    if (dt == SPD_UINT64) {
        start = (uint64_t)spd_tensor_get_i64(ts[0], 0);
        limit = (uint64_t)spd_tensor_get_i64(ts[1], 0);
        delta = (uint64_t)spd_tensor_get_i64(ts[2], 0);
    }
    if (delta == 0) return spd_errorf(SPD_ERR_INVALID, "delta is zero");
    __int128 span = limit - start, c;
    if (delta > 0) c = span > 0 ? (span + delta - 1) / delta : 0;
    else c = span < 0 ? (-span + -delta - 1) / -delta : 0;
    if (c > ((__int128)1 << 40)) return spd_errorf(SPD_ERR_INVALID, "range of too many elements");
    n = (int64_t)c;
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], dt, 1, &n));
    for (int64_t i = 0; i < n; i++) spd_tensor_set_i64(&ctx->out[0], i, (int64_t)(start + (__int128)i * delta));
    return SPD_OK;
}

/* ---------------------------------------------------------------- Identity / Dropout */

static spd_status op_identity(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    return spd_tensor_copy(&ctx->out[0], x);
}

static spd_status op_dropout(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    if (ctx->opset >= 12) {
        const spd_tensor *ratio = spd_op_in(ctx, 1), *train = spd_op_in(ctx, 2);
        double r = 0.5;
        if (ratio) {
            if (spd_tensor_numel(ratio) != 1) return spd_errorf(SPD_ERR_INVALID, "ratio must be a scalar");
            r = spd_tensor_get(ratio, 0);
        }
        if (train) {
            if (spd_tensor_numel(train) != 1) return spd_errorf(SPD_ERR_INVALID, "training_mode must be a scalar");
            /* Training with a non-zero ratio draws random masks, which no
             * reference could reproduce. */
            if (spd_tensor_get(train, 0) != 0 && r != 0)
                return spd_errorf(SPD_ERR_UNSUPPORTED, "training mode with ratio %g", r);
        }
    }
    /* Inference: the output is the input (Dropout-1..6's is_test=0 means
     * training, but inference runtimes treat it as inference too). */
    SPD_TRY(spd_tensor_copy(&ctx->out[0], x));
    if (ctx->n_outputs > 1) {
        /* the mask keeps everything: bool from opset 10, the input type before */
        spd_dtype mdt = ctx->opset >= 10 ? SPD_BOOL : x->dtype;
        SPD_TRY(spd_tensor_alloc(&ctx->out[1], mdt, x->ndim, x->dims));
        int64_t n = spd_tensor_numel(x);
        for (int64_t i = 0; i < n; i++) spd_tensor_set(&ctx->out[1], i, 1.0);
    }
    return SPD_OK;
}

/* ---------------------------------------------------------------- DepthToSpace / SpaceToDepth */

static spd_status get_blocksize(spd_op_ctx *ctx, const spd_tensor *x, int64_t *bs)
{
    if (x->ndim != 4) return spd_errorf(SPD_ERR_INVALID, "input must be 4-D, got rank %d", x->ndim);
    const spd_attr *a = spd_node_attr(ctx->node, "blocksize");
    if (!a) return spd_errorf(SPD_ERR_INVALID, "attribute blocksize is missing");
    if (a->i <= 0 || a->i > (1 << 20)) return spd_errorf(SPD_ERR_INVALID, "blocksize %lld", (long long)a->i);
    *bs = a->i;
    return SPD_OK;
}

/* Writes the 6-D view (vdims, permutation perm of the contiguous 6-D shape
 * vin) of x into out with the 4-D shape odims. */
static spd_status shuffle6(spd_op_ctx *ctx, const spd_tensor *x, const int64_t *vin, const int *perm,
                           const int64_t *odims)
{
    int64_t in_st[6], vd[6], vs[6];
    contiguous_strides(6, vin, in_st);
    for (int i = 0; i < 6; i++) {
        vd[i] = vin[perm[i]];
        vs[i] = in_st[perm[i]];
    }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, 4, odims));
    spd_strided_copy(ctx->out[0].data, x->data, 6, vd, vs, spd_dtype_size(x->dtype));
    return SPD_OK;
}

static spd_status op_depth_to_space(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    int64_t bs = 1;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    SPD_TRY(get_blocksize(ctx, x, &bs));
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (C % (bs * bs)) return spd_errorf(SPD_ERR_INVALID, "channels %lld not divisible by blocksize^2", (long long)C);
    int64_t c = C / (bs * bs), odims[4] = {N, c, H * bs, W * bs};
    const char *mode = ctx->opset >= 11 ? spd_attr_string(ctx->node, "mode", "DCR") : "DCR";
    if (!strcmp(mode, "DCR")) {
        int64_t vin[6] = {N, bs, bs, c, H, W};
        int perm[6] = {0, 3, 4, 1, 5, 2};
        return shuffle6(ctx, x, vin, perm, odims);
    }
    if (!strcmp(mode, "CRD")) {
        int64_t vin[6] = {N, c, bs, bs, H, W};
        int perm[6] = {0, 1, 4, 2, 5, 3};
        return shuffle6(ctx, x, vin, perm, odims);
    }
    return spd_errorf(SPD_ERR_INVALID, "mode %s (expected DCR or CRD)", mode);
}

static spd_status op_space_to_depth(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    int64_t bs = 1;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_check_fixed_size(x));
    SPD_TRY(get_blocksize(ctx, x, &bs));
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (H % bs || W % bs) return spd_errorf(SPD_ERR_INVALID, "spatial size not divisible by blocksize");
    int64_t vin[6] = {N, C, H / bs, bs, W / bs, bs};
    int perm[6] = {0, 3, 5, 1, 2, 4};
    int64_t odims[4] = {N, C * bs * bs, H / bs, W / bs};
    return shuffle6(ctx, x, vin, perm, odims);
}

/* ---------------------------------------------------------------- EyeLike */

static spd_status op_eye_like(spd_op_ctx *ctx)
{
    const spd_tensor *x;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    if (x->ndim != 2) return spd_errorf(SPD_ERR_INVALID, "input must be 2-D, got rank %d", x->ndim);
    spd_dtype dt = (spd_dtype)spd_attr_int(ctx->node, "dtype", x->dtype);
    if (spd_dtype_size(dt) == 0 || dt == SPD_COMPLEX64 || dt == SPD_COMPLEX128)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "output type %s", spd_dtype_name(dt));
    int64_t k = spd_attr_int(ctx->node, "k", 0), R = x->dims[0], Cc = x->dims[1];
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], dt, 2, x->dims));
    for (int64_t i = 0; i < R; i++) {
        if (k > Cc || k < -R) break; /* also keeps i + k from overflowing */
        int64_t j = i + k;
        if (j >= 0 && j < Cc) spd_tensor_set(&ctx->out[0], i * Cc + j, 1.0);
    }
    return SPD_OK;
}

/* ---------------------------------------------------------------- Compress */

static spd_status op_compress(spd_op_ctx *ctx)
{
    const spd_tensor *x, *cond;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &cond));
    SPD_TRY(spd_check_fixed_size(x));
    if (cond->ndim != 1) return spd_errorf(SPD_ERR_INVALID, "condition must be 1-D");
    const spd_attr *aa = spd_node_attr(ctx->node, "axis");
    int64_t outer, dim, inner;
    int axis = -1;
    if (aa) {
        SPD_TRY(spd_norm_axis(aa->i, x->ndim, &axis));
        outer = spd_dims_prod(x->dims, 0, axis);
        dim = x->dims[axis];
        inner = spd_dims_prod(x->dims, axis + 1, x->ndim);
    } else {
        outer = 1;
        dim = spd_tensor_numel(x);
        inner = 1;
    }
    int64_t nc = cond->dims[0], kept = 0;
    for (int64_t i = 0; i < nc; i++) {
        int on = spd_tensor_get(cond, i) != 0;
        if (on && i >= dim)
            return spd_errorf(SPD_ERR_INVALID, "condition selects index %lld of an axis of size %lld",
                              (long long)i, (long long)dim);
        kept += on;
    }
    int64_t dims[SPD_MAX_DIMS];
    int r;
    if (aa) {
        r = x->ndim;
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = kept;
    } else {
        r = 1;
        dims[0] = kept;
    }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, r, dims));
    size_t esz = spd_dtype_size(x->dtype), row = (size_t)inner * esz;
    char *d = ctx->out[0].data;
    int64_t lim = nc < dim ? nc : dim;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < lim; i++)
            if (spd_tensor_get(cond, i) != 0 && row) {
                memcpy(d, (const char *)x->data + (size_t)(o * dim + i) * row, row);
                d += row;
            }
    return SPD_OK;
}

/* ---------------------------------------------------------------- ReverseSequence */

static spd_status op_reverse_sequence(spd_op_ctx *ctx)
{
    const spd_tensor *x, *lens;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &lens));
    SPD_TRY(spd_check_fixed_size(x));
    if (x->ndim < 2) return spd_errorf(SPD_ERR_INVALID, "input must have rank >= 2");
    int64_t ta = spd_attr_int(ctx->node, "time_axis", 0), ba = spd_attr_int(ctx->node, "batch_axis", 1);
    if (!((ta == 0 && ba == 1) || (ta == 1 && ba == 0)))
        return spd_errorf(SPD_ERR_INVALID, "time_axis and batch_axis must be 0 and 1");
    int64_t T = x->dims[ta], B = x->dims[ba], inner = spd_dims_prod(x->dims, 2, x->ndim);
    if (lens->ndim != 1 || lens->dims[0] != B)
        return spd_errorf(SPD_ERR_INVALID, "sequence_lens must have shape [%lld]", (long long)B);
    SPD_TRY(spd_tensor_copy(&ctx->out[0], x));
    size_t esz = spd_dtype_size(x->dtype), row = (size_t)inner * esz;
    /* element (t, b) starts at row index t*B + b or b*T + t */
    for (int64_t b = 0; b < B; b++) {
        int64_t L = spd_tensor_get_i64(lens, b);
        if (L < 0 || L > T)
            return spd_errorf(SPD_ERR_INVALID, "sequence length %lld outside [0, %lld]", (long long)L, (long long)T);
        for (int64_t t = 0; t < L && row; t++) {
            int64_t src = L - 1 - t;
            int64_t di = ta == 0 ? t * B + b : b * T + t, si = ta == 0 ? src * B + b : b * T + src;
            memcpy((char *)ctx->out[0].data + (size_t)di * row, (const char *)x->data + (size_t)si * row, row);
        }
    }
    return SPD_OK;
}

/* ---------------------------------------------------------------- table */

const spd_op_def spd_ops_shape[] = {
    {"Reshape", "", 1, 21, op_reshape},
    {"Flatten", "", 1, 21, op_flatten},
    {"Transpose", "", 1, 21, op_transpose},
    {"Squeeze", "", 1, 21, op_squeeze},
    {"Unsqueeze", "", 1, 21, op_unsqueeze},
    {"Concat", "", 1, 21, op_concat},
    {"Split", "", 1, 21, op_split},
    {"Expand", "", 8, 21, op_expand},
    {"Tile", "", 1, 21, op_tile},
    {"Shape", "", 1, 21, op_shape},
    {"Size", "", 1, 21, op_size},
    {"ConstantOfShape", "", 9, 21, op_constant_of_shape},
    {"Constant", "", 1, 21, op_constant},
    {"Range", "", 11, 21, op_range},
    {"Identity", "", 1, 21, op_identity},
    {"Dropout", "", 1, 21, op_dropout},
    {"DepthToSpace", "", 1, 21, op_depth_to_space},
    {"SpaceToDepth", "", 1, 21, op_space_to_depth},
    {"EyeLike", "", 9, 21, op_eye_like},
    {"Compress", "", 9, 21, op_compress},
    {"ReverseSequence", "", 10, 21, op_reverse_sequence},
};
const int spd_ops_shape_count = (int)(sizeof spd_ops_shape / sizeof spd_ops_shape[0]);
