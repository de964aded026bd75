/* Matrix-vector products for the GEMM driver: op(A) with at most
 * SPD_GEMV_MAX_M rows (a batch-1 classifier, a decoder step) times op(B),
 * with B raw (either orientation) or prepacked for a kernel.
 *
 * Such a product is bound by reading B once from memory; the packed driver's
 * micro-tile (6 or 12 rows) would spend most of its work on padding rows,
 * and raw B would be copied into panels first. Here B is streamed as it
 * lies: prepacked slices in address order, raw rows in column chunks, or
 * (transposed) as one dot product per column; the columns are split over
 * the thread pool when B is large. */
#ifndef SPD_OPS_GEMV_H
#define SPD_OPS_GEMV_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/sgemm_fast.h"

#define SPD_GEMV_MAX_M 4

/* spd_gemm_run's contract, for M <= SPD_GEMV_MAX_M: true when it computed
 * C; false when it declines (no kernel, M too large, K == 0, alpha == 0, B
 * only as a packer, or no scratch for a strided A), and then it has not
 * touched C. */
bool spd_gemv_run(const spd_sgemm_kernel *kern, int64_t M, int64_t N, int64_t K, float alpha, const spd_gemm_a *A,
                  const spd_gemm_b *B, float beta, float *C, int64_t ldc, const spd_gemm_epi *epi, int threads);

/* The inner loops, one set per instruction set. A holds m <= SPD_GEMV_MAX_M
 * rows of depth k, row r at a + r*lda; acc rows are ldacc apart. */
typedef struct spd_gemv_kernels {
    /* acc[r][j] += sum_p a[r][p] * b(p, j) for j < npan*nr, over npan
     * consecutive k x nr panels (b(p, q*nr + i) at b[q*k*nr + p*nr + i]);
     * nr is a multiple of 8. */
    void (*panels)(int m, int64_t k, const float *a, int64_t lda, const float *b, int64_t nr, int64_t npan,
                   float *acc, int64_t ldacc);
    /* acc[r][j] += sum_p a[r][p] * B[p*ldb + j] for j < n. */
    void (*rows)(int m, int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb, int64_t n, float *acc,
                 int64_t ldacc);
    /* acc[r][j] = sum_p a[r][p] * B[j*ldb + p] for j < n. */
    void (*dots)(int m, int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb, int64_t n, float *acc,
                 int64_t ldacc);
} spd_gemv_kernels;

/* NULL where the compiler cannot target AVX2 (not x86); it does not check
 * the CPU: the caller does. */
const spd_gemv_kernels *spd_gemv_kernels_avx2(void);
/* The panels loop for panels exactly 32 wide (the AVX-512 GEMM kernel's)
 * with AVX-512F, the same sums as the AVX2 loop's; call only on the
 * AVX-512 path. */
void spd_gemv_panels32_avx512(int m, int64_t k, const float *a, int64_t lda, const float *b, int64_t nr, int64_t npan,
                              float *acc, int64_t ldacc);

#endif
