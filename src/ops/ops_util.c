/* Helpers shared by the data-movement kernels (shape.c, index.c, resize.c). */
#include "ops/ops_util.h"
#include "ops/transpose2d.h"
#include "util/threadpool.h"

#include <string.h>

#include "util/alloc.h"
#include "util/status.h"

const spd_tensor *spd_op_in(const spd_op_ctx *ctx, int i)
{
    return i < ctx->n_inputs ? ctx->in[i] : NULL;
}

bool spd_op_out_named(const spd_op_ctx *ctx, int k)
{
    return k < ctx->n_outputs && k < ctx->node->n_outputs && ctx->node->outputs[k] && ctx->node->outputs[k][0];
}

spd_status spd_op_need(const spd_op_ctx *ctx, int i, const spd_tensor **t)
{
    *t = spd_op_in(ctx, i);
    if (!*t) return spd_errorf(SPD_ERR_INVALID, "required input %d is missing", i);
    return SPD_OK;
}

spd_status spd_check_fixed_size(const spd_tensor *t)
{
    if (spd_dtype_size(t->dtype) == 0)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "tensors of type %s are not supported",
                          spd_dtype_name(t->dtype));
    return SPD_OK;
}

/* Maps a possibly negative axis into [0, rank). */
spd_status spd_norm_axis(int64_t axis, int rank, int *out)
{
    *out = 0;
    if (axis < -rank || axis >= rank)
        return spd_errorf(SPD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                          rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return SPD_OK;
}

/* Reads an int32/int64 tensor of any length into a new array. */
spd_status spd_read_i64s(const spd_tensor *t, int64_t **vals, int64_t *n)
{
    if (t->dtype != SPD_INT64 && t->dtype != SPD_INT32)
        return spd_errorf(SPD_ERR_INVALID, "expected an int64 tensor, got %s", spd_dtype_name(t->dtype));
    if (t->ndim > 1) return spd_errorf(SPD_ERR_INVALID, "expected a 1-D tensor, got rank %d", t->ndim);
    int64_t k = spd_tensor_numel(t);
    int64_t *v = spd_malloc((size_t)(k ? k : 1) * sizeof *v);
    if (!v) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < k; i++) v[i] = spd_tensor_get_i64(t, i);
    *vals = v;
    *n = k;
    return SPD_OK;
}

/* Copies the n elements of size esz from src with stride s into contiguous
 * dst. A constant-size memcpy per element compiles to a plain move and
 * is safe for the unaligned data of memory-mapped initializers. */
static void copy_run(char *dst, const char *src, int64_t n, int64_t s, size_t esz)
{
    if (s == 1) {
        memcpy(dst, src, (size_t)n * esz);
        return;
    }
    switch (esz) {
    case 1: for (int64_t j = 0; j < n; j++) dst[j] = src[j * s]; break;
    case 2: for (int64_t j = 0; j < n; j++) memcpy(dst + j * 2, src + j * s * 2, 2); break;
    case 4: for (int64_t j = 0; j < n; j++) memcpy(dst + j * 4, src + j * s * 4, 4); break;
    case 8: for (int64_t j = 0; j < n; j++) memcpy(dst + j * 8, src + j * s * 8, 8); break;
    default:
        for (int64_t j = 0; j < n; j++) memcpy(dst + (size_t)j * esz, src + j * s * (int64_t)esz, esz);
        break;
    }
}

#define MAX_VIEW_DIMS SPD_VIEW_MAX_DIMS

/* Drops size-1 dims and merges neighbours the source walks as one
 * (st[k] == st[k+1] * dims[k+1]); returns the new count. */
static int merge_dims(int nd, const int64_t *dims, const int64_t *st, int64_t *md, int64_t *ms)
{
    int m = 0;
    for (int k = 0; k < nd; k++) {
        if (dims[k] == 1) continue;
        if (m > 0 && ms[m - 1] == st[k] * dims[k]) {
            md[m - 1] *= dims[k];
            ms[m - 1] = st[k];
            continue;
        }
        md[m] = dims[k];
        ms[m++] = st[k];
    }
    return m;
}

/* A transpose of a plane of SPD_PAR_MIN_STREAM floats or more is split by
 * source columns over the threads: a layout change into a channels-last
 * region (MobileNetV2's 144 x 3136, 1.8 MB) took 44 us on one thread, and
 * 52 us at two, when its source had been written by both cores; split, 22.
 * EfficientNet's way out of its region (49 x 1280) 10 -> 4.4 us. */

typedef struct transpose_job {
    float *dst;
    const float *src;
    int64_t rows, cols, ld, chunk;
} transpose_job;

static void transpose_task(void *ctx, int64_t t)
{
    const transpose_job *j = ctx;
    const int64_t s0 = t * j->chunk, s1 = s0 + j->chunk < j->cols ? s0 + j->chunk : j->cols;
    spd_transpose2d_f32(j->dst + s0 * j->rows, j->src + s0, j->rows, s1 - s0, j->ld);
}

static void transpose_plane(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld)
{
    const int threads = spd_thread_count();
    if (threads <= 1 || rows * cols < SPD_PAR_MIN_STREAM) {
        spd_transpose2d_f32(dst, src, rows, cols, ld);
        return;
    }
    /* a few chunks a thread, whole 8-column blocks each */
    transpose_job j = {dst, src, rows, cols, ld, (cols + 4 * threads - 1) / (4 * threads)};
    j.chunk = (j.chunk + 7) / 8 * 8;
    spd_parallel_for((cols + j.chunk - 1) / j.chunk, transpose_task, &j);
}

/* float views that are (batches of) 2-D transposes: the output's second
 * innermost dim is the source's contiguous one */
static bool copy_as_transposes(void *dst, const void *src, int nd, const int64_t *dims, const int64_t *st,
                               size_t esz)
{
    if (esz != 4 || nd < 2 || nd > MAX_VIEW_DIMS) return false;
    int64_t md[MAX_VIEW_DIMS], ms[MAX_VIEW_DIMS];
    const int m = merge_dims(nd, dims, st, md, ms);
    if (m < 2 || m > 3 || ms[m - 2] != 1 || md[m - 2] < 8 || md[m - 1] < 8) return false;
    const int64_t batches = m == 3 ? md[0] : 1, bst = m == 3 ? ms[0] : 0, plane = md[m - 2] * md[m - 1];
    for (int64_t b = 0; b < batches; b++)
        transpose_plane((float *)dst + b * plane, (const float *)src + b * bst, md[m - 1], md[m - 2], ms[m - 1]);
    return true;
}

void spd_strided_copy(void *dst, const void *src, int nd, const int64_t *dims, const int64_t *st,
                         size_t esz)
{
    int64_t total = spd_dims_prod(dims, 0, nd);
    if (total == 0) return;
    if (nd == 0) {
        memcpy(dst, src, esz);
        return;
    }
    if (copy_as_transposes(dst, src, nd, dims, st, esz)) return;
    /* the merged view: a transpose that moves only size-1 axes (channels
     * first to last with one channel, kws_dscnn's input) is one memcpy, not
     * a run of one element per row */
    int64_t md[MAX_VIEW_DIMS], ms[MAX_VIEW_DIMS];
    nd = merge_dims(nd, dims, st, md, ms);
    if (nd == 0) {
        memcpy(dst, src, esz);
        return;
    }
    int64_t idx[MAX_VIEW_DIMS] = {0};
    int64_t inner = md[nd - 1], off = 0;
    char *d = dst;
    const char *s = src;
    for (int64_t done = 0; done < total; done += inner) {
        copy_run(d, s + off * (int64_t)esz, inner, ms[nd - 1], esz);
        d += (size_t)inner * esz;
        for (int k = nd - 2; k >= 0; k--) {
            off += ms[k];
            if (++idx[k] < md[k]) break;
            off -= ms[k] * md[k];
            idx[k] = 0;
        }
    }
}
