#include "ops/gemm.h"

#include "util/threadpool.h"

typedef struct gemm_job {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc, block;
    int by_rows;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

static void gemm_task(void *ctx, int64_t t)
{
    const gemm_job *j = ctx;
    int64_t lo = t * j->block;
    if (j->by_rows) {
        int64_t m = j->M - lo < j->block ? j->M - lo : j->block;
        const float *a = j->ta ? j->A + lo : j->A + lo * j->lda;
        spd_sgemm_ref(j->ta, j->tb, m, j->N, j->K, j->alpha, a, j->lda, j->B, j->ldb, j->beta, j->C + lo * j->ldc, j->ldc);
    } else {
        int64_t n = j->N - lo < j->block ? j->N - lo : j->block;
        const float *b = j->tb ? j->B + lo * j->ldb : j->B + lo;
        spd_sgemm_ref(j->ta, j->tb, j->M, n, j->K, j->alpha, j->A, j->lda, b, j->ldb, j->beta, j->C + lo, j->ldc);
    }
}

void spd_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    int threads = spd_thread_count();
    /* Below ~1 MFLOP a split costs more than it saves. */
    if (threads <= 1 || M * N * K < (1 << 20)) {
        spd_sgemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job j = {transA, transB, M, N, K, lda, ldb, ldc, 0, M >= N, alpha, beta, A, B, C};
    int64_t span = j.by_rows ? M : N, align = j.by_rows ? 4 : 16;
    int64_t tasks = threads * 2;
    j.block = (span + tasks - 1) / tasks;
    j.block = (j.block + align - 1) / align * align;
    if (j.block < align) j.block = align;
    spd_parallel_for((span + j.block - 1) / j.block, gemm_task, &j);
}
