/* The AVX-512 panel loop of the matrix-vector path (gemv.h): a batch-1
 * classifier's prepacked weight (the AVX-512 GEMM kernel's 32-column
 * panels) streamed in address order, one 128-byte panel row per k step,
 * with a prefetch ahead. The AVX2 loop walked each panel twice, 16 columns
 * a pass, reading every other cache line, and ran mobilenet_v2's 1280 x
 * 1000 classifier (5 MB from memory) at 24 GB/s against ORT's 36.
 *
 * The sums are grouped as the AVX2 loop groups them (U interleaved partial
 * sums per column by k modulo U, then added in order), so both give the
 * same results. Only this file's functions carry the AVX-512 target;
 * gemv.c calls them only when the GEMM path in use is AVX-512. */
#include "ops/gemv.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
#define INLINE TARGET static inline __attribute__((always_inline))

/* Panel rows ahead to prefetch: 2 KB, past the hardware's first misses on
 * each new page. */
#define PF_ROWS 16

/* acc[r][0:32] += sum_p a[r][p] * b[p*32 + 0:32] for M rows, U k steps in flight. */
INLINE void panel32(const int M, const int U, int64_t k, const float *a, int64_t lda, const float *b, float *acc,
                    int64_t ldacc)
{
    __m512 s[4][SPD_GEMV_MAX_M][2];
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) s[u][r][0] = s[u][r][1] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + U <= k; p += U)
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            const float *bp = b + (p + u) * 32;
            _mm_prefetch((const char *)(bp + PF_ROWS * 32), _MM_HINT_T0);
            _mm_prefetch((const char *)(bp + PF_ROWS * 32 + 16), _MM_HINT_T0);
            const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 4
            for (int r = 0; r < M; r++) {
                const __m512 av = _mm512_set1_ps(a[r * lda + p + u]);
                s[u][r][0] = _mm512_fmadd_ps(av, b0, s[u][r][0]);
                s[u][r][1] = _mm512_fmadd_ps(av, b1, s[u][r][1]);
            }
        }
    for (; p < k; p++) {
        const float *bp = b + p * 32;
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) {
            const __m512 av = _mm512_set1_ps(a[r * lda + p]);
            s[0][r][0] = _mm512_fmadd_ps(av, b0, s[0][r][0]);
            s[0][r][1] = _mm512_fmadd_ps(av, b1, s[0][r][1]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 2
        for (int v = 0; v < 2; v++) {
            __m512 t = s[0][r][v];
#pragma GCC unroll 4
            for (int u = 1; u < U; u++) t = _mm512_add_ps(t, s[u][r][v]);
            float *c = acc + r * ldacc + 16 * v;
            _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), t));
        }
}

/* U as the AVX2 loop picks it, for the same grouping of the sums. */
INLINE void panels_m(const int M, int64_t k, const float *a, int64_t lda, const float *b, int64_t nr, int64_t npan,
                     float *acc, int64_t ldacc)
{
    const int U = M == 1 ? 4 : M == 2 ? 2 : 1;
    for (int64_t q = 0; q < npan; q++) panel32(M, U, k, a, lda, b + q * k * nr, acc + q * nr, ldacc);
}

TARGET void spd_gemv_panels32_avx512(int m, int64_t k, const float *a, int64_t lda, const float *b, int64_t nr,
                                     int64_t npan, float *acc, int64_t ldacc)
{
    switch (m) {
    case 1: panels_m(1, k, a, lda, b, nr, npan, acc, ldacc); break;
    case 2: panels_m(2, k, a, lda, b, nr, npan, acc, ldacc); break;
    case 3: panels_m(3, k, a, lda, b, nr, npan, acc, ldacc); break;
    default: panels_m(4, k, a, lda, b, nr, npan, acc, ldacc); break;
    }
}

#else

void spd_gemv_panels32_avx512(int m, int64_t k, const float *a, int64_t lda, const float *b, int64_t nr, int64_t npan,
                              float *acc, int64_t ldacc)
{
    (void)m, (void)k, (void)a, (void)lda, (void)b, (void)nr, (void)npan, (void)acc, (void)ldacc;
}

#endif
