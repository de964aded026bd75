/* The GEMM kernels call: spd_sgemm_ref split over the thread pool. */
#ifndef SPD_OPS_GEMM_H
#define SPD_OPS_GEMM_H

#include "ops/gemm_ref.h"

/* Same contract as spd_sgemm_ref; large products are split into row or
 * column blocks, one per task, each an independent spd_sgemm_ref call. */
void spd_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
