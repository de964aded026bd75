/* AVX-512 packing and a 12x32 micro-kernel for the packed SGEMM.
 *
 * 12x32: 24 zmm accumulators (12 rows x 2 vectors of 16), two for the B row
 * and broadcasts folded into the FMAs: 24 FMAs for 2 loads + 12 broadcasts
 * per k step, enough independent chains to cover FMA latency on two ports.
 * Only AVX-512F instructions are used (plus AVX2 in the packing); only this
 * file's functions carry the target attribute and the dispatcher calls them
 * only when CPUID and XGETBV say the CPU and OS support AVX-512F. */
#include "ops/sgemm_fast.h"

#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 12
#define NR 32
#define TARGET __attribute__((target("avx512f,avx2,fma")))

/* dst[c*8 + r] = src[r*lds + c] for an 8x8 block, dst rows ldd apart. */
TARGET static inline void transpose8x8(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* One panel of w <= width values per k step, taken from w rows of src that
 * are lds apart (element (p, r) at src[r*lds + p]): a transpose, done in
 * 8x8 blocks when the panel is full. */
TARGET static void pack_rows(int width, int w, int64_t k, const float *src, int64_t lds, float *dst)
{
    int64_t p = 0;
    if (w == width && width % 8 == 0) {
        for (; p + 8 <= k; p += 8)
            for (int r = 0; r < width; r += 8) transpose8x8(src + r * lds + p, lds, dst + p * width + r, width);
    }
    for (; p < k; p++) {
        float *d = dst + p * width;
        int r = 0;
        for (; r < w; r++) d[r] = src[r * lds + p];
        for (; r < width; r++) d[r] = 0.0f;
    }
}

/* One panel from w contiguous values per k step (element (p, r) at
 * src[p*lds + r]): a strided copy. */
TARGET static void pack_cols(int width, int w, int64_t k, const float *src, int64_t lds, float *dst)
{
    for (int64_t p = 0; p < k; p++) {
        const float *s = src + p * lds;
        float *d = dst + p * width;
        int r = 0;
        for (; r < w; r++) d[r] = s[r];
        for (; r < width; r++) d[r] = 0.0f;
    }
}

TARGET static void pack_a(int trans, int64_t m, int64_t k, const float *A, int64_t lda, float *dst)
{
    for (int64_t i = 0; i < m; i += MR) {
        int w = m - i < MR ? (int)(m - i) : MR;
        if (trans)
            pack_cols(MR, w, k, A + i, lda, dst);
        else
            pack_rows(MR, w, k, A + i * lda, lda, dst);
        dst += k * MR;
    }
}

TARGET static void pack_b(int trans, int64_t k, int64_t n, const float *B, int64_t ldb, float *dst)
{
    if (!trans) {
        /* Eight rows at a time across all panels: B (often cold, its rows
         * far apart) is read as eight sequential streams, and each panel
         * gets 8*NR contiguous floats per visit. Panel by panel would read
         * B with a page-sized stride; row by row would write with a stride
         * that maps every panel to the same L1 set. */
        const int64_t full = n / NR * NR;
        for (int64_t p0 = 0; p0 < k; p0 += 8) {
            const int64_t p1 = p0 + 8 < k ? p0 + 8 : k;
            float *d = dst;
            for (int64_t j = 0; j < full; j += NR) {
                for (int64_t p = p0; p < p1; p++) {
                    const float *s = B + p * ldb;
                    _mm512_store_ps(d + p * NR, _mm512_loadu_ps(s + j));
                    _mm512_store_ps(d + p * NR + 16, _mm512_loadu_ps(s + j + 16));
                }
                d += k * NR;
            }
        }
        if (full < n) pack_cols(NR, (int)(n - full), k, B + full, ldb, dst + full * k);
        return;
    }
    for (int64_t j = 0; j < n; j += NR) {
        pack_rows(NR, n - j < NR ? (int)(n - j) : NR, k, B + j * ldb, ldb, dst);
        dst += k * NR;
    }
}

/* c = alpha*acc + beta*c on 16 floats; beta == 0 does not read c. */
TARGET static inline void update16(float *c, __m512 acc, __m512 va, __m512 vb, float beta)
{
    if (beta == 0.0f)
        _mm512_storeu_ps(c, _mm512_mul_ps(va, acc));
    else if (beta == 1.0f)
        _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc, _mm512_loadu_ps(c)));
    else
        _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc, _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
}

TARGET static void kernel_12x32(int64_t k, const float *a, const float *b, float *C, int64_t ldc, int m, int n,
                                float alpha, float beta)
{
#define DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5) DECL(6) DECL(7) DECL(8) DECL(9) DECL(10) DECL(11)
#undef DECL
    for (int r = 0; r < m; r++) _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
    for (int r = 0; r < m; r++) _mm_prefetch((const char *)(C + r * ldc + 31), _MM_HINT_T0);
#define ROW(r)                                                                                                    \
    {                                                                                                             \
        __m512 ar = _mm512_set1_ps(a[r]);                                                                         \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                                               \
        c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                                               \
    }
#define STEP                                                                                                      \
    {                                                                                                             \
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);                                               \
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)                     \
        a += MR;                                                                                                  \
        b += NR;                                                                                                  \
    }
    /* Not unrolled: with an unrolled body gcc 12 spills accumulators; one
     * step per iteration it keeps all 24 in registers. */
    for (int64_t p = 0; p < k; p++) {
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 8 * NR + 16), _MM_HINT_T0);
        STEP
    }
#undef STEP
#undef ROW
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (m == MR && n == NR) {
#define STORE(r)                                                                                                  \
    update16(C + r * ldc, c##r##0, va, vb, beta);                                                                 \
    update16(C + r * ldc + 16, c##r##1, va, vb, beta);
        STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7) STORE(8) STORE(9) STORE(10)
        STORE(11)
#undef STORE
        return;
    }
    /* An edge tile: spill the accumulators and update only the valid part. */
    float t[MR * NR];
#define SPILL(r)                                                                                                  \
    _mm512_storeu_ps(t + r * NR, c##r##0);                                                                        \
    _mm512_storeu_ps(t + r * NR + 16, c##r##1);
    SPILL(0) SPILL(1) SPILL(2) SPILL(3) SPILL(4) SPILL(5) SPILL(6) SPILL(7) SPILL(8) SPILL(9) SPILL(10) SPILL(11)
#undef SPILL
    for (int r = 0; r < m; r++) {
        float *c = C + r * ldc;
        const float *s = t + r * NR;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) c[j] = alpha * s[j];
        else
            for (int j = 0; j < n; j++) c[j] = alpha * s[j] + beta * c[j];
    }
}

static const spd_sgemm_kernel g_avx512 = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .mc = 240,
    .kc = 256,
    .nc = 2048,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel_12x32,
};

const spd_sgemm_kernel *spd_sgemm_kernel_avx512(void) { return &g_avx512; }

#else

const spd_sgemm_kernel *spd_sgemm_kernel_avx512(void) { return NULL; }

#endif
