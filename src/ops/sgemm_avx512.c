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
#define COPY_B_ROW(d, s) (_mm512_store_ps((d), _mm512_loadu_ps(s)), _mm512_store_ps((d) + 16, _mm512_loadu_ps((s) + 16)))
#include "ops/sgemm_pack.inc"

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
                                float alpha, float beta, const spd_tile_epi *te)
{
    (void)te; /* fuses_epi unset: the driver passes NULL */
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
        _mm_prefetch((const char *)(a + 1024), _MM_HINT_T0);
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
