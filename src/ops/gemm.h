/* The GEMM kernels call: spd_sgemm_ref split over the thread pool. */
#ifndef SPD_OPS_GEMM_H
#define SPD_OPS_GEMM_H

#include "ir/op.h"
#include "ops/gemm_ref.h"
#include "ops/vmath.h"

/* Same contract as spd_sgemm_ref; large products are split into row or
 * column blocks, one per task, each an independent spd_sgemm_ref call. */
void spd_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* ai.onnx Gemm (inputs and attributes read from ctx as Gemm reads them)
 * computing act(Gemm(A, B, C)), for FusedGemm; ac NULL: plain Gemm. On
 * float32 the activation and C are applied to each output block while it is
 * in cache; float16/bfloat16 apply it before narrowing; other types do not
 * take an activation (SPD_ERR_UNSUPPORTED). */
spd_status spd_gemm_fused(spd_op_ctx *ctx, const spd_act *ac);

/* The prepare hook (ir/op.h) of Gemm and FusedGemm: a constant float32 B is
 * packed once for the GEMM kernel current at build time, and used while
 * that kernel stays current. */
spd_status spd_gemm_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                            void **state, void (**state_free)(void *));

#endif
