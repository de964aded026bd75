/* AVX2+FMA packing and a 6x16 micro-kernel for the packed SGEMM.
 *
 * 6x16: twelve ymm accumulators (6 rows x 2 vectors of 8), two for the B
 * row and two for broadcast A values: all 16 ymm registers, 12 FMAs for 2
 * loads + 6 broadcasts per k step. The micro-kernel's k loop is x86-64
 * inline assembly (see below); everything else is intrinsics. Only this file's functions
 * carry target("avx2,fma"); the dispatcher calls them only when CPUID says
 * the CPU has both. */
#include "ops/sgemm_fast.h"

#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 6
#define NR 16
#define TARGET __attribute__((target("avx2,fma")))

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
                    _mm256_store_ps(d + p * NR, _mm256_loadu_ps(s + j));
                    _mm256_store_ps(d + p * NR + 8, _mm256_loadu_ps(s + j + 8));
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

/* c = alpha*acc + beta*c on 8 floats; beta == 0 does not read c. */
TARGET static inline void update8(float *c, __m256 acc, __m256 va, __m256 vb, float beta)
{
    if (beta == 0.0f)
        _mm256_storeu_ps(c, _mm256_mul_ps(va, acc));
    else if (beta == 1.0f)
        _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc, _mm256_loadu_ps(c)));
    else
        _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc, _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
}

/* Row r of the tile in k step u: broadcast a[u][r] into ymm<br> and multiply
 * it into the accumulators ymm<c0>, ymm<c1> with the B row in ymm0, ymm1. */
#define ROW(u, r, br, c0, c1)                                                                                     \
    "vbroadcastss 24*" #u "+4*" #r "(%[a]), %%ymm" #br "\n\t"                                                     \
    "vfmadd231ps %%ymm0, %%ymm" #br ", %%ymm" #c0 "\n\t"                                                          \
    "vfmadd231ps %%ymm1, %%ymm" #br ", %%ymm" #c1 "\n\t"
#define STEP(u)                                                                                                   \
    "vmovaps 64*" #u "(%[b]), %%ymm0\n\t"                                                                         \
    "vmovaps 64*" #u "+32(%[b]), %%ymm1\n\t"                                                                      \
    ROW(u, 0, 2, 4, 5) ROW(u, 1, 3, 6, 7) ROW(u, 2, 2, 8, 9) ROW(u, 3, 3, 10, 11) ROW(u, 4, 2, 12, 13)            \
    ROW(u, 5, 3, 14, 15)

/* The k loop is assembly: with 15 of the 16 ymm registers live, gcc's
 * register allocation adds moves and loses ~8% here. The accumulators go to
 * t, and C is updated from there in C. */
TARGET static void kernel_6x16(int64_t k, const float *a, const float *b, float *C, int64_t ldc, int m, int n,
                               float alpha, float beta)
{
    float t[MR * NR] __attribute__((aligned(32)));
    for (int r = 0; r < m; r++) _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
    for (int r = 0; r < m; r++) _mm_prefetch((const char *)(C + r * ldc + 15), _MM_HINT_T0);
    uint64_t kk = (uint64_t)k;
    __asm__ volatile("vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
                     "vmovaps %%ymm4, %%ymm5\n\t"
                     "vmovaps %%ymm4, %%ymm6\n\t"
                     "vmovaps %%ymm4, %%ymm7\n\t"
                     "vmovaps %%ymm4, %%ymm8\n\t"
                     "vmovaps %%ymm4, %%ymm9\n\t"
                     "vmovaps %%ymm4, %%ymm10\n\t"
                     "vmovaps %%ymm4, %%ymm11\n\t"
                     "vmovaps %%ymm4, %%ymm12\n\t"
                     "vmovaps %%ymm4, %%ymm13\n\t"
                     "vmovaps %%ymm4, %%ymm14\n\t"
                     "vmovaps %%ymm4, %%ymm15\n\t"
                     "cmp $4, %[k]\n\t"
                     "jb 2f\n\t"
                     "1:\n\t" /* four k steps */
                     "prefetcht0 512(%[b])\n\t" STEP(0) STEP(1) STEP(2) STEP(3)
                     "add $96, %[a]\n\t"
                     "add $256, %[b]\n\t"
                     "sub $4, %[k]\n\t"
                     "cmp $4, %[k]\n\t"
                     "jae 1b\n\t"
                     "2:\n\t"
                     "test %[k], %[k]\n\t"
                     "jz 4f\n\t"
                     "3:\n\t" /* the remaining k steps one by one */
                     STEP(0)
                     "add $24, %[a]\n\t"
                     "add $64, %[b]\n\t"
                     "dec %[k]\n\t"
                     "jnz 3b\n\t"
                     "4:\n\t"
                     "vmovaps %%ymm4, 0(%[t])\n\t"
                     "vmovaps %%ymm5, 32(%[t])\n\t"
                     "vmovaps %%ymm6, 64(%[t])\n\t"
                     "vmovaps %%ymm7, 96(%[t])\n\t"
                     "vmovaps %%ymm8, 128(%[t])\n\t"
                     "vmovaps %%ymm9, 160(%[t])\n\t"
                     "vmovaps %%ymm10, 192(%[t])\n\t"
                     "vmovaps %%ymm11, 224(%[t])\n\t"
                     "vmovaps %%ymm12, 256(%[t])\n\t"
                     "vmovaps %%ymm13, 288(%[t])\n\t"
                     "vmovaps %%ymm14, 320(%[t])\n\t"
                     "vmovaps %%ymm15, 352(%[t])\n\t"
                     : [a] "+r"(a), [b] "+r"(b), [k] "+r"(kk)
                     : [t] "r"(t)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#undef STEP
#undef ROW
    if (m == MR && n == NR) {
        const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
        for (int r = 0; r < MR; r++) {
            update8(C + r * ldc, _mm256_load_ps(t + r * NR), va, vb, beta);
            update8(C + r * ldc + 8, _mm256_load_ps(t + r * NR + 8), va, vb, beta);
        }
        return;
    }
    /* An edge tile: update only the valid part. */
    for (int r = 0; r < m; r++) {
        float *c = C + r * ldc;
        const float *s = t + r * NR;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) c[j] = alpha * s[j];
        else
            for (int j = 0; j < n; j++) c[j] = alpha * s[j] + beta * c[j];
    }
}

static const spd_sgemm_kernel g_avx2 = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .mc = 144,
    .kc = 256,
    .nc = 2048,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel_6x16,
};

const spd_sgemm_kernel *spd_sgemm_kernel_avx2(void) { return &g_avx2; }

#else

const spd_sgemm_kernel *spd_sgemm_kernel_avx2(void) { return NULL; }

#endif
