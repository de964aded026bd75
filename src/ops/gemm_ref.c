/* Reference SGEMM: i-k-j loop order over row-major data, blocked over K and
 * N so that a panel of B stays in cache while every row of A streams past it,
 * and four rows of C are updated per pass so each loaded B value is reused
 * four times. The innermost loop runs over contiguous j and is auto-vectorized
 * by gcc at -O2/-O3. */
#include "ops/gemm_ref.h"

#include <string.h>

/* A KC x NC panel of B is 32 KiB: it fits L1/L2 and, when B must be
 * transposed, is packed on the stack (no allocation, so no failure path). */
#define KC 64
#define NC 128

/* c_r[j] += sum over k of a[r][k] * b[k][j] for 4 rows r, one B panel. */
static void panel4(int64_t kc, int64_t nc, const float *a0, const float *a1, const float *a2,
                   const float *a3, int64_t astride, const float *b, int64_t ldb,
                   float *restrict c0, float *restrict c1, float *restrict c2, float *restrict c3)
{
    for (int64_t k = 0; k < kc; k++) {
        const float x0 = a0[k * astride], x1 = a1[k * astride];
        const float x2 = a2[k * astride], x3 = a3[k * astride];
        const float *restrict bk = b + k * ldb;
        for (int64_t j = 0; j < nc; j++) {
            const float v = bk[j];
            c0[j] += x0 * v;
            c1[j] += x1 * v;
            c2[j] += x2 * v;
            c3[j] += x3 * v;
        }
    }
}

static void panel1(int64_t kc, int64_t nc, const float *a0, int64_t astride, const float *b,
                   int64_t ldb, float *restrict c0)
{
    for (int64_t k = 0; k < kc; k++) {
        const float x0 = a0[k * astride];
        const float *restrict bk = b + k * ldb;
        for (int64_t j = 0; j < nc; j++) c0[j] += x0 * bk[j];
    }
}

void spd_sgemm_ref(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                   float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
    if (K <= 0 || alpha == 0.0f) return;

    /* Partial products of one panel go to acc and are then added to C scaled
     * by alpha, so the inner loops stay plain multiply-adds. */
    float packed[KC * NC];
    float acc[4][NC];
    /* a(i, k) lives at A + i*ia + k*ka */
    const int64_t ia = transA ? 1 : lda, ka = transA ? lda : 1;

    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        const int64_t nc = N - j0 < NC ? N - j0 : NC;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = K - k0 < KC ? K - k0 : KC;
            const float *bp;
            int64_t bld;
            if (transB) {
                /* B(k, j) = B[j*ldb + k]: transpose the panel once so the
                 * inner loop reads it contiguously. */
                for (int64_t j = 0; j < nc; j++) {
                    const float *src = B + (j0 + j) * ldb + k0;
                    for (int64_t k = 0; k < kc; k++) packed[k * nc + j] = src[k];
                }
                bp = packed;
                bld = nc;
            } else {
                bp = B + k0 * ldb + j0;
                bld = ldb;
            }
            const float *ak = A + k0 * ka;
            int64_t i = 0;
            for (; i + 4 <= M; i += 4) {
                memset(acc, 0, sizeof acc);
                panel4(kc, nc, ak + i * ia, ak + (i + 1) * ia, ak + (i + 2) * ia,
                       ak + (i + 3) * ia, ka, bp, bld, acc[0], acc[1], acc[2], acc[3]);
                for (int r = 0; r < 4; r++) {
                    float *c = C + (i + r) * ldc + j0;
                    for (int64_t j = 0; j < nc; j++) c[j] += alpha * acc[r][j];
                }
            }
            for (; i < M; i++) {
                memset(acc[0], 0, sizeof acc[0]);
                panel1(kc, nc, ak + i * ia, ka, bp, bld, acc[0]);
                float *c = C + i * ldc + j0;
                for (int64_t j = 0; j < nc; j++) c[j] += alpha * acc[0][j];
            }
        }
    }
}
