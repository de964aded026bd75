/* Packed, cache-blocked SGEMM (GotoBLAS/BLIS layout) with one micro-kernel
 * per instruction set, chosen at run time.
 *
 * The portable driver (ops/gemm.c) walks the blocks: for each NC-wide column
 * block and KC-deep slice of op(B) it packs the slice into NR-wide panels,
 * then for each MC-tall row block of op(A) packs MR-tall panels, and calls
 * the micro-kernel on every MR x NR tile of C. Only the packing routines and
 * the micro-kernel are ISA specific; they live in sgemm_avx2.c and
 * sgemm_avx512.c, each compiled with function-level target attributes so
 * the rest of the build stays baseline x86-64 (or any other architecture). */
#ifndef SPD_OPS_SGEMM_FAST_H
#define SPD_OPS_SGEMM_FAST_H

#include <stdint.h>

typedef enum spd_sgemm_isa { SPD_SGEMM_REF = 0, SPD_SGEMM_AVX2 = 1, SPD_SGEMM_AVX512 = 2 } spd_sgemm_isa;

typedef struct spd_sgemm_kernel {
    const char *name;
    int mr, nr;           /* micro-tile */
    int64_t mc, kc, nc;   /* cache blocks; mc is a multiple of mr, nc of nr */
    /* Packs op(A)[0:m, 0:k] (m <= mc) into ceil(m/mr) panels, each k x mr
     * with element (i, p) at p*mr + i; rows past m are zero.
     * op(A)(i, p) = trans ? A[p*lda + i] : A[i*lda + p]. */
    void (*pack_a)(int trans, int64_t m, int64_t k, const float *A, int64_t lda, float *dst);
    /* Packs op(B)[0:k, 0:n] into ceil(n/nr) panels, each k x nr with element
     * (p, j) at p*nr + j; columns past n are zero.
     * op(B)(p, j) = trans ? B[j*ldb + p] : B[p*ldb + j]. */
    void (*pack_b)(int trans, int64_t k, int64_t n, const float *B, int64_t ldb, float *dst);
    /* C[0:m, 0:n] = alpha * (a * b) + beta * C for one packed mr-panel a and
     * nr-panel b of depth k >= 1, with m <= mr, n <= nr. beta == 0 never
     * reads C. */
    void (*kernel)(int64_t k, const float *a, const float *b, float *C, int64_t ldc, int m, int n, float alpha,
                   float beta);
} spd_sgemm_kernel;

/* NULL where the compiler cannot target the ISA (not x86). They do not check
 * the CPU: the caller does. */
const spd_sgemm_kernel *spd_sgemm_kernel_avx2(void);
const spd_sgemm_kernel *spd_sgemm_kernel_avx512(void);

/* The best path this CPU (and build) runs. */
spd_sgemm_isa spd_sgemm_isa_best(void);
/* The path spd_sgemm uses: the best one, lowered by SPEEDSTER_ISA=ref|avx2|avx512
 * in the environment (read once) or by spd_sgemm_set_isa. */
spd_sgemm_isa spd_sgemm_isa_current(void);
/* Forces a path (for tests and benchmarks); one the CPU lacks is lowered to
 * the best available. Returns the path now in use. */
spd_sgemm_isa spd_sgemm_set_isa(spd_sgemm_isa isa);
const char *spd_sgemm_isa_name(spd_sgemm_isa isa);

/* Single-threaded packed GEMM with a given kernel; same contract as
 * spd_sgemm_ref. Falls back to spd_sgemm_ref if scratch cannot be
 * allocated. */
void spd_sgemm_packed(const spd_sgemm_kernel *kern, int transA, int transB, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc);

#endif
