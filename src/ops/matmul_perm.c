/* ai.speedster PermutedMatMul: a batched MatMul that reads its operands
 * through transposes and writes its result through one,
 *     Y = Transpose(alpha * MatMul(Transpose(A, perm_a), Transpose(B, perm_b)), perm_y)
 * (an absent perm is the identity). Attention layers split each projection
 * into heads with a Transpose before the score and context products and
 * merge them with one after; folded in here (passes/fold_transpose_matmul.c)
 * the GEMMs read the projections in place through strides and write the
 * context straight into the merged layout, and the copies are gone.
 *
 * A and B have one rank r >= 2 and, after their perms, equal batch dims (no
 * broadcasting). The GEMM needs a unit stride in one of each operand's last
 * two dims and in the result's last dim; where a permutation leaves none
 * (only a hand-written node: the pass does not create those) the operand
 * is copied contiguous first, or the result computed contiguous and then
 * permuted, so every permutation gives the right answer. */
#include <stdbool.h>
#include <string.h>

#include "ir/op.h"
#include "ops/gemm.h"
#include "ops/ops_util.h"
#include "ops/sgemm_fast.h"
#include "util/alloc.h"
#include "util/threadpool.h"

/* A logical operand: dims and element strides into p. */
typedef struct view {
    int64_t dims[SPD_MAX_DIMS], st[SPD_MAX_DIMS];
    const float *p;
    float *own; /* a contiguous copy, when one was needed */
} view;

static void contiguous_strides(int r, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

static spd_status read_perm(const spd_node *n, const char *name, int r, int *perm)
{
    size_t cnt;
    const int64_t *v = spd_attr_ints(n, name, &cnt);
    for (int i = 0; i < r; i++) perm[i] = i;
    if (!v) return SPD_OK;
    if ((int)cnt != r) return spd_errorf(SPD_ERR_INVALID, "%s has %zu values for rank %d", name, cnt, r);
    bool seen[SPD_MAX_DIMS] = {false};
    for (int i = 0; i < r; i++) {
        if (v[i] < 0 || v[i] >= r || seen[v[i]])
            return spd_errorf(SPD_ERR_INVALID, "%s is not a permutation of 0..%d", name, r - 1);
        seen[v[i]] = true;
        perm[i] = (int)v[i];
    }
    return SPD_OK;
}

static void view_of(const spd_tensor *t, const int *perm, view *v)
{
    int64_t st[SPD_MAX_DIMS];
    contiguous_strides(t->ndim, t->dims, st);
    for (int i = 0; i < t->ndim; i++) {
        v->dims[i] = t->dims[perm[i]];
        v->st[i] = st[perm[i]];
    }
    v->p = t->data;
    v->own = NULL;
}

/* How the GEMM reads the view's last two dims (rows x cols): upright with
 * rows ld apart, or transposed with cols ld apart; false when neither has
 * a unit stride. */
static bool gemm_layout(const view *v, int r, int *trans, int64_t *ld)
{
    const int64_t rows = v->dims[r - 2], cols = v->dims[r - 1];
    if (cols == 1 || v->st[r - 1] == 1) {
        *trans = 0;
        *ld = rows > 1 ? v->st[r - 2] : cols;
        return true;
    }
    if (rows == 1 || v->st[r - 2] == 1) {
        *trans = 1;
        *ld = v->st[r - 1];
        return true;
    }
    return false;
}

/* Makes the view contiguous (a copy) when the GEMM cannot read it. */
static spd_status gemm_ready(view *v, int r, int *trans, int64_t *ld)
{
    if (gemm_layout(v, r, trans, ld)) return SPD_OK;
    const int64_t n = spd_dims_prod(v->dims, 0, r);
    v->own = spd_malloc((size_t)n * sizeof(float));
    if (!v->own) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_strided_copy(v->own, v->p, r, v->dims, v->st, sizeof(float));
    v->p = v->own;
    contiguous_strides(r, v->dims, v->st);
    gemm_layout(v, r, trans, ld);
    return SPD_OK;
}

typedef struct job {
    const spd_sgemm_kernel *kern;
    int r;
    int64_t M, N, K, batch_dims[SPD_MAX_DIMS];
    const view *a, *b;
    int ta, tb;
    int64_t lda, ldb, ldc;
    const int64_t *cst; /* the result's strides (batch dims used) */
    float alpha, *y;
    int threads;
} job;

static void batch_task(void *ctx, int64_t t)
{
    const job *j = ctx;
    int64_t oa = 0, ob = 0, oc = 0;
    for (int i = j->r - 3; i >= 0; i--) {
        const int64_t idx = t % j->batch_dims[i];
        t /= j->batch_dims[i];
        oa += idx * j->a->st[i];
        ob += idx * j->b->st[i];
        oc += idx * j->cst[i];
    }
    const spd_gemm_a ga = {.trans = j->ta, .p = j->a->p + oa, .ld = j->lda};
    const spd_gemm_b gb = {.trans = j->tb, .p = j->b->p + ob, .ld = j->ldb};
    (void)spd_gemm_run(j->kern, j->M, j->N, j->K, j->alpha, &ga, &gb, 0.0f, j->y + oc, j->ldc, NULL, j->threads);
}

static spd_status op_permuted_matmul(spd_op_ctx *ctx)
{
    const spd_tensor *A, *B;
    SPD_TRY(spd_op_need(ctx, 0, &A));
    SPD_TRY(spd_op_need(ctx, 1, &B));
    if (A->dtype != SPD_FLOAT || B->dtype != SPD_FLOAT)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "PermutedMatMul on %s and %s (float only)", spd_dtype_name(A->dtype),
                          spd_dtype_name(B->dtype));
    const int r = A->ndim;
    if (r < 2 || B->ndim != r)
        return spd_errorf(SPD_ERR_INVALID, "A and B need one rank of at least 2 (got %d and %d)", A->ndim, B->ndim);
    int pa[SPD_MAX_DIMS], pb[SPD_MAX_DIMS], py[SPD_MAX_DIMS];
    SPD_TRY(read_perm(ctx->node, "perm_a", r, pa));
    SPD_TRY(read_perm(ctx->node, "perm_b", r, pb));
    SPD_TRY(read_perm(ctx->node, "perm_y", r, py));
    const float alpha = spd_attr_float(ctx->node, "alpha", 1.0f);
    view a, b;
    view_of(A, pa, &a);
    view_of(B, pb, &b);
    const int64_t M = a.dims[r - 2], K = a.dims[r - 1], N = b.dims[r - 1];
    if (b.dims[r - 2] != K)
        return spd_errorf(SPD_ERR_INVALID, "inner dimensions differ (%lld and %lld)", (long long)K,
                          (long long)b.dims[r - 2]);
    for (int i = 0; i < r - 2; i++)
        if (a.dims[i] != b.dims[i])
            return spd_errorf(SPD_ERR_INVALID, "batch dimension %d differs (%lld and %lld)", i, (long long)a.dims[i],
                              (long long)b.dims[i]);

    /* The result R = [batch..., M, N]; Y = Transpose(R, perm_y). */
    int64_t rdims[SPD_MAX_DIMS], ydims[SPD_MAX_DIMS], yst[SPD_MAX_DIMS], rst[SPD_MAX_DIMS];
    memcpy(rdims, a.dims, (size_t)(r - 2) * sizeof *rdims);
    rdims[r - 2] = M;
    rdims[r - 1] = N;
    for (int i = 0; i < r; i++) ydims[i] = rdims[py[i]];
    contiguous_strides(r, ydims, yst);
    for (int i = 0; i < r; i++) rst[py[i]] = yst[i];
    if (K == 0) return spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, r, ydims); /* zeros */
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], SPD_FLOAT, r, ydims));
    const int64_t nbatch = spd_dims_prod(rdims, 0, r - 2);
    if (nbatch == 0 || M == 0 || N == 0) return SPD_OK;

    job j = {.kern = spd_sgemm_kernel_current(), .r = r, .M = M, .N = N, .K = K, .a = &a, .b = &b,
             .alpha = alpha, .y = ctx->out[0].data};
    memcpy(j.batch_dims, rdims, (size_t)(r - 2) * sizeof *rdims);
    spd_status st = gemm_ready(&a, r, &j.ta, &j.lda);
    if (st == SPD_OK) st = gemm_ready(&b, r, &j.tb, &j.ldb);
    /* The result's rows must be runs of N floats; otherwise compute it
     * contiguous and permute it into Y. */
    float *tmp = NULL;
    int64_t cst[SPD_MAX_DIMS];
    if (st == SPD_OK && N > 1 && rst[r - 1] != 1) {
        tmp = spd_malloc((size_t)(nbatch * M * N) * sizeof(float));
        if (!tmp) st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        contiguous_strides(r, rdims, cst);
        j.y = tmp;
    } else {
        memcpy(cst, rst, sizeof cst);
    }
    if (st == SPD_OK) {
        j.cst = cst;
        j.ldc = M > 1 ? cst[r - 2] : N;
        const int threads = spd_thread_count();
        if (nbatch >= threads) {
            j.threads = 1;
            spd_parallel_for(nbatch, batch_task, &j);
        } else {
            j.threads = threads;
            for (int64_t t = 0; t < nbatch; t++) batch_task(&j, t);
        }
        if (tmp) {
            int64_t tst[SPD_MAX_DIMS]; /* Y's dims read from the contiguous R */
            for (int i = 0; i < r; i++) tst[i] = cst[py[i]];
            spd_strided_copy(ctx->out[0].data, tmp, r, ydims, tst, sizeof(float));
        }
    }
    spd_free(tmp);
    spd_free(a.own);
    spd_free(b.own);
    return st;
}

const spd_op_def spd_ops_matmul_perm[] = {
    {"PermutedMatMul", "ai.speedster", 1, 1, op_permuted_matmul},
};
const int spd_ops_matmul_perm_count = (int)(sizeof spd_ops_matmul_perm / sizeof spd_ops_matmul_perm[0]);
