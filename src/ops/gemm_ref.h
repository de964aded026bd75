/* A plain-C single-precision GEMM shared by Conv, MatMul and Gemm. */
#ifndef SPD_OPS_GEMM_REF_H
#define SPD_OPS_GEMM_REF_H

#include <stdint.h>

/* C = alpha * op(A) * op(B) + beta * C, all row-major.
 * op(A) is M x K: A is M x K (lda >= K) or, with transA, K x M (lda >= M).
 * op(B) is K x N: B is K x N (ldb >= N) or, with transB, N x K (ldb >= K).
 * C is M x N (ldc >= N). beta == 0 overwrites C (NaNs in C do not survive).
 * C must not overlap A or B. Never allocates, never fails. */
void spd_sgemm_ref(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                   float *C, int64_t ldc);

#endif
