/* AVX2+FMA inner loops of the matrix-vector path (gemv.h).
 *
 * Each loop is written once over compile-time row counts (the bodies are
 * always inlined into one function per m, so the accumulator arrays live in
 * registers) with enough independent accumulators to cover FMA latency:
 * with B coming from L3 or DRAM the FMAs idle anyway, but a weight that
 * stays in L2 between calls should not make them the limit. Only this
 * file's functions carry target("avx2,fma"); gemv.c calls them only when
 * the GEMM path in use is AVX2 or better, which implies the CPU has both. */
#include "ops/gemv.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define INLINE TARGET static inline __attribute__((always_inline))

INLINE float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* acc[r][0:8*V] += sum_p a[r][p] * b[p*ld + 0:8*V] for M rows: V vectors
 * of a panel row (rows ld apart), U k steps in flight. */
INLINE void strip(const int M, const int V, const int U, int64_t k, const float *a, int64_t lda, const float *b,
                  int64_t ld, float *acc, int64_t ldacc)
{
    __m256 s[4][SPD_GEMV_MAX_M][2];
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
#pragma GCC unroll 4
        for (int r = 0; r < M; r++)
#pragma GCC unroll 2
            for (int v = 0; v < V; v++) s[u][r][v] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + U <= k; p += U)
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            const float *bp = b + (p + u) * ld;
            __m256 bv[2];
#pragma GCC unroll 2
            for (int v = 0; v < V; v++) bv[v] = _mm256_loadu_ps(bp + 8 * v);
#pragma GCC unroll 4
            for (int r = 0; r < M; r++) {
                const __m256 av = _mm256_broadcast_ss(a + r * lda + p + u);
#pragma GCC unroll 2
                for (int v = 0; v < V; v++) s[u][r][v] = _mm256_fmadd_ps(av, bv[v], s[u][r][v]);
            }
        }
    for (; p < k; p++) {
        const float *bp = b + p * ld;
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r * lda + p);
#pragma GCC unroll 2
            for (int v = 0; v < V; v++) s[0][r][v] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 8 * v), s[0][r][v]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 2
        for (int v = 0; v < V; v++) {
            __m256 t = s[0][r][v];
#pragma GCC unroll 4
            for (int u = 1; u < U; u++) t = _mm256_add_ps(t, s[u][r][v]);
            float *c = acc + r * ldacc + 8 * v;
            _mm256_storeu_ps(c, _mm256_add_ps(_mm256_loadu_ps(c), t));
        }
}

/* Panels nr wide, walked 16 columns (one cache line of a row) at a time. */
INLINE void panels_m(const int M, int64_t k, const float *a, int64_t lda, const float *b, int64_t nr, int64_t npan,
                     float *acc, int64_t ldacc)
{
    /* accumulators: M x 2 vectors x U steps, at most 8 of the 16 registers */
    const int U = M == 1 ? 4 : M == 2 ? 2 : 1;
    for (int64_t q = 0; q < npan; q++) {
        const float *bq = b + q * k * nr;
        float *aq = acc + q * nr;
        int64_t i = 0;
        for (; i + 16 <= nr; i += 16) strip(M, 2, U, k, a, lda, bq + i, nr, aq + i, ldacc);
        if (i < nr) strip(M, 1, U, k, a, lda, bq + i, nr, aq + i, ldacc);
    }
}

/* acc[r][j] += sum_p a[r][p] * B[p*ldb + j]: four rows of B per pass over
 * the chunk's columns, so each sum is loaded and stored once per four. */
INLINE void rows_m(const int M, int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb, int64_t n,
                   float *acc, int64_t ldacc)
{
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        const float *b0 = B + p * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
        __m256 av[SPD_GEMV_MAX_M][4];
#pragma GCC unroll 4
        for (int r = 0; r < M; r++)
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) av[r][u] = _mm256_broadcast_ss(a + r * lda + p + u);
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            const __m256 v0 = _mm256_loadu_ps(b0 + j), v1 = _mm256_loadu_ps(b1 + j);
            const __m256 v2 = _mm256_loadu_ps(b2 + j), v3 = _mm256_loadu_ps(b3 + j);
#pragma GCC unroll 4
            for (int r = 0; r < M; r++) {
                float *c = acc + r * ldacc + j;
                __m256 t = _mm256_fmadd_ps(av[r][0], v0, _mm256_loadu_ps(c));
                __m256 w = _mm256_mul_ps(av[r][1], v1);
                t = _mm256_fmadd_ps(av[r][2], v2, t);
                w = _mm256_fmadd_ps(av[r][3], v3, w);
                _mm256_storeu_ps(c, _mm256_add_ps(t, w));
            }
        }
        for (; j < n; j++)
#pragma GCC unroll 4
            for (int r = 0; r < M; r++) {
                const float *ar = a + r * lda + p;
                acc[r * ldacc + j] += ar[0] * b0[j] + ar[1] * b1[j] + ar[2] * b2[j] + ar[3] * b3[j];
            }
    }
    for (; p < k; p++) {
        const float *b0 = B + p * ldb;
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) {
            const float ar = a[r * lda + p];
            const __m256 av = _mm256_set1_ps(ar);
            float *c = acc + r * ldacc;
            int64_t j = 0;
            for (; j + 8 <= n; j += 8)
                _mm256_storeu_ps(c + j, _mm256_fmadd_ps(av, _mm256_loadu_ps(b0 + j), _mm256_loadu_ps(c + j)));
            for (; j < n; j++) c[j] += ar * b0[j];
        }
    }
}

/* acc[r][j..j+G) = dot products of the M rows of A with G rows of B. */
INLINE void dots_g(const int M, const int G, int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb,
                   float *acc, int64_t ldacc)
{
    __m256 s[SPD_GEMV_MAX_M][4];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) s[r][g] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 av[SPD_GEMV_MAX_M];
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) av[r] = _mm256_loadu_ps(a + r * lda + p);
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) {
            const __m256 bv = _mm256_loadu_ps(B + g * ldb + p);
#pragma GCC unroll 4
            for (int r = 0; r < M; r++) s[r][g] = _mm256_fmadd_ps(av[r], bv, s[r][g]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) {
            float t = hsum(s[r][g]);
            for (int64_t q = p; q < k; q++) t += a[r * lda + q] * B[g * ldb + q];
            acc[r * ldacc + g] = t;
        }
}

INLINE void dots_m(const int M, int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb, int64_t n,
                   float *acc, int64_t ldacc)
{
    /* columns at a time: M x G accumulators, at most 8 */
    const int G = M <= 2 ? 4 : 2;
    int64_t j = 0;
    for (; j + G <= n; j += G) dots_g(M, G, k, a, lda, B + j * ldb, ldb, acc + j, ldacc);
    for (; j < n; j++) dots_g(M, 1, k, a, lda, B + j * ldb, ldb, acc + j, ldacc);
}

/* The entry points: one specialised copy of the loops per row count. */
#define PANEL_PARAMS                                                                                              \
    int64_t k, const float *a, int64_t lda, const float *b, int64_t nr, int64_t npan, float *acc, int64_t ldacc
#define PANEL_ARGS k, a, lda, b, nr, npan, acc, ldacc
#define MAT_PARAMS                                                                                                \
    int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb, int64_t n, float *acc, int64_t ldacc
#define MAT_ARGS k, a, lda, B, ldb, n, acc, ldacc
#define SWITCH_M(body, args)                                                                                      \
    switch (m) {                                                                                                  \
    case 1: body(1, args); break;                                                                                 \
    case 2: body(2, args); break;                                                                                 \
    case 3: body(3, args); break;                                                                                 \
    default: body(4, args); break;                                                                                \
    }

TARGET static void panels(int m, PANEL_PARAMS) { SWITCH_M(panels_m, PANEL_ARGS) }
TARGET static void rows(int m, MAT_PARAMS) { SWITCH_M(rows_m, MAT_ARGS) }
TARGET static void dots(int m, MAT_PARAMS) { SWITCH_M(dots_m, MAT_ARGS) }

static const spd_gemv_kernels g_avx2 = {.panels = panels, .rows = rows, .dots = dots};

const spd_gemv_kernels *spd_gemv_kernels_avx2(void) { return &g_avx2; }

#else

const spd_gemv_kernels *spd_gemv_kernels_avx2(void) { return NULL; }

#endif
