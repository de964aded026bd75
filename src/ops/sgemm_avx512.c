/* AVX-512 packing and an MR x 32 micro-kernel for the packed SGEMM.
 *
 * MR x 32: 2*MR zmm accumulators (MR rows x 2 vectors of 16), two for the
 * B row, the A values broadcast from memory: 2*MR FMAs for 2 loads + MR
 * broadcasts per k step. MR is 8: the row counts of CNN layers (16, 24,
 * 32, 64, 96, 144, ...) are multiples of 8 and not of 12, and a 12-row
 * tile padded 64 rows to 72 and 16 to 24 (resnet50's 1x1 convolutions
 * with 64 output channels ran 12% slower than ORT's); 16 accumulators
 * still cover the FMA latency on two ports.
 *
 * The kernel applies the driver's tile epilogue (spd_tile_epi: row or
 * column bias, residual, Relu/Clip/SiLU/GELU) as it stores, and has a variant that
 * reads B in place (kernel_sb). Edge tiles use AVX-512 masks, and a tile of
 * at most 16 columns runs one vector per row. Only AVX-512F instructions
 * are used (plus AVX2 in the packing); only this file's functions carry
 * the target attribute and the dispatcher calls them only when CPUID and
 * XGETBV say the CPU and OS support AVX-512F. */
#include "ops/sgemm_fast.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 8
#define NR 32
#define TARGET __attribute__((target("avx512f,avx2,fma")))
#define COPY_B_ROW(d, s) (_mm512_store_ps((d), _mm512_loadu_ps(s)), _mm512_store_ps((d) + 16, _mm512_loadu_ps((s) + 16)))
#include "ops/sgemm_pack.inc"
#include "ops/sgemm_avx512_inl.h"

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* How far ahead in A the k loop prefetches: prepacked weights come from
 * memory in a model whose weights do not stay in L3 (mobilenet_v2's 14 MB
 * on a 32 MB L3 shared with the activations), and the hardware prefetcher
 * alone left the kernel waiting (1x1 convolutions on 7x7 planes ran 1.5x
 * as long in-model as with warm weights; with this, 1.1x). */
#define A_AHEAD 1024

/* p - shift floats, as an address: for kernel_ib the start may lie before
 * the array (only lanes that land inside are stored or loaded). */
TARGET static inline float *shifted(float *p, int64_t shift)
{
    return (float *)((uintptr_t)p - (uintptr_t)shift * sizeof(float));
}
TARGET static inline const float *shifted_c(const float *p, int64_t shift)
{
    return (const float *)((uintptr_t)p - (uintptr_t)shift * sizeof(float));
}

/* kernel_ib's 16 columns: lanes of fm at c, lanes of sm at c - shift, each
 * with its residual from z laid out alike; the activation once for both. */
TARGET static inline void store16_ib(float *c, const float *z, int64_t shift, __mmask16 fm, __mmask16 sm, __m512 acc,
                                     int clamp, __m512 lo, __m512 hi, float a)
{
    if (z) {
        __m512 zv = _mm512_maskz_loadu_ps(fm, z);
        if (sm) zv = _mm512_mask_loadu_ps(zv, sm, shifted_c(z, shift));
        acc = _mm512_add_ps(acc, zv);
    }
    const __m512 v = clamp16(acc, clamp, lo, hi, a);
    _mm512_mask_storeu_ps(c, fm, v);
    if (sm) _mm512_mask_storeu_ps(shifted(c, shift), sm, v);
}

/* The tile C[0:m, 0:n] from an MR-row A panel a and B rows ldb floats
 * apart (NR for a packed panel); wide: both vectors of each row (n > 16),
 * else only the first; sb: B read in place (kernel_sb); sa: A read in
 * place, rows lda apart (kernel_sa; a panel otherwise); ib: B rows read in
 * place at b + map->boff[p] and C's lanes stored where map says
 * (kernel_ib; n is then 32); full: a tile of MR rows with alpha 1, beta 0
 * and te's clamp full - 1 (0: none of these known); rows: the A panel
 * rows computed (MR, or fewer for a last tile of m <= rows: 4, 2 or 1).
 * Inlined into each kernel with rows, wide, sb, sa, ib and full constant. */
#define tile(...) tile_rows(MR, __VA_ARGS__)
TARGET static inline __attribute__((always_inline)) void tile_rows(int rows, int wide, int sb, int sa, int ib,
                                                                    int full, int64_t k,
                                                               const float *a, int64_t lda, const float *b,
                                                               int64_t ldb, const spd_tile_map *map, float *C,
                                                               int64_t ldc, int m, int n, float alpha, float beta,
                                                               const spd_tile_epi *te)
{
    if (full) {
        m = MR;
        alpha = 1.0f;
        beta = 0.0f;
    }
    const __mmask16 m0 = cols_mask(n), m1 = cols_mask(n - 16);
    float bpad[MR];
    const float *rb = te ? te->bias : NULL;
    if (rb && m < MR) {
        for (int r = 0; r < MR; r++) bpad[r] = r < m ? rb[r] : 0.0f;
        rb = bpad;
    }
    const float *cb = te && !rb ? te->col_bias : NULL;
    const __m512 cb0 = cb ? _mm512_maskz_loadu_ps(m0, cb) : _mm512_setzero_ps();
    const __m512 cb1 = cb && wide ? _mm512_maskz_loadu_ps(m1, cb + 16) : _mm512_setzero_ps();
    /* A row bias starts the accumulators (as in the AVX2 kernel); a column
     * bias is added after the sum, as MatMul then Add rounds it (started
     * from it, a transformer test's attention output moved by 1.2e-4
     * relative, past the fused Gemm's 1e-5 check). */
#define DECL(r)                                                                                                   \
    __m512 c##r##0 = rb ? _mm512_set1_ps(rb[r]) : _mm512_setzero_ps();                                            \
    __m512 c##r##1 = c##r##0;
    ROWS(DECL)
#undef DECL
    /* C's rows and the residual's are prefetched now and read after the
     * k loop: a residual read from memory at the store stalled resnet50's
     * 1x1 convolutions with K = 64 */
    const int64_t ahead = te ? te->c_ahead : 0;
    const float *zt = te ? te->z : NULL;
    for (int r = 0; r < m; r++) {
        _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
        if (wide) _mm_prefetch((const char *)(C + r * ldc + 31), _MM_HINT_T0);
        if (ahead) { /* both lines of the row's panel that far ahead */
            _mm_prefetch((const char *)(C + r * ldc + ahead), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + r * ldc + ahead + 16), _MM_HINT_T0);
        }
        if (zt) {
            _mm_prefetch((const char *)(zt + r * ldc), _MM_HINT_T0);
            if (wide) _mm_prefetch((const char *)(zt + r * ldc + 31), _MM_HINT_T0);
            if (ahead) { /* the residual comes from memory in batches, as C's lines do */
                _mm_prefetch((const char *)(zt + r * ldc + ahead), _MM_HINT_T0);
                _mm_prefetch((const char *)(zt + r * ldc + ahead + 16), _MM_HINT_T0);
            }
        }
    }
    /* A in place: row r's values (a row past m reads row 0, and is not stored) */
#define AROW(r) const float *a##r = sa ? a + (r < m ? r : 0) * lda : a;
    ROWS(AROW)
#undef AROW
    int64_t q = 0; /* the step, for A or B in place */
    const int64_t *boff = ib ? map->boff : NULL;
    const int64_t b_ahead = !sb && !ib && te ? te->b_ahead : 0;
    const int b_later = sb && te ? te->b_later : 0;
#define ROW(r)                                                                                                    \
    if (r < rows) {                                                                                               \
        const __m512 ar = _mm512_set1_ps(sa ? a##r[q] : a[r]);                                                    \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                                               \
        if (wide) c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                                     \
    }
#define STEP(pf_a)                                                                                                \
    {                                                                                                             \
        const float *bq = ib ? b + boff[q] : b;                                                                   \
        if (!ib) {                                                                                                \
            _mm_prefetch((const char *)(b + 8 * ldb), _MM_HINT_T0);                                               \
            if (wide) _mm_prefetch((const char *)(b + 8 * ldb + 16), _MM_HINT_T0);                               \
        }                                                                                                         \
        if (pf_a && !sa) _mm_prefetch((const char *)(a + A_AHEAD), _MM_HINT_T0);                                  \
        if (b_ahead) { /* the next prepacked panel, row by row */                                              \
            _mm_prefetch((const char *)(bq + b_ahead), _MM_HINT_T0);                                              \
            _mm_prefetch((const char *)(bq + b_ahead + 16), _MM_HINT_T0);                                         \
        }                                                                                                         \
        if ((sb && !b_later) || ib) { /* B in place: this row's next panel (32 row streams defeat the hardware's) */ \
            _mm_prefetch((const char *)(bq + NR), _MM_HINT_T0);                                                   \
            _mm_prefetch((const char *)(bq + NR + 16), _MM_HINT_T0);                                              \
        }                                                                                                         \
        const __m512 b0 = _mm512_loadu_ps(bq), b1 = wide ? _mm512_loadu_ps(bq + 16) : _mm512_setzero_ps();        \
        ROWS(ROW)                                                                                                 \
        if (sa || ib) q++;                                                                                        \
        if (!sa) a += MR;                                                                                         \
        if (!ib) b += ldb;                                                                                        \
    }
    /* Four steps per iteration, A prefetched once per cache line */
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        STEP(1) STEP(0) STEP(1) STEP(0)
    }
    for (; p < k; p++) STEP(1)
#undef STEP
#undef ROW
    const int clamp = full ? full - 1 : te ? te->clamp : SPD_CLAMP_NONE;
    const __m512 lo = _mm512_set1_ps(te ? te->lo : 0.0f), hi = _mm512_set1_ps(te ? te->hi : 0.0f);
    const float *z = te ? te->z : NULL;
    const float la = te ? te->lo : 0.0f;
#define STORE(r)                                                                                                  \
    if (r < m && r < rows && !ib) {                                                                               \
        store16(C + r * ldc, z ? z + r * ldc : NULL, m0, c##r##0, alpha, beta, clamp, lo, hi, la);                   \
        if (wide) store16(C + r * ldc + 16, z ? z + r * ldc + 16 : NULL, m1, c##r##1, alpha, beta, clamp, lo, hi, la); \
    } else if (r < m && r < rows) {                                                                               \
        store16_ib(C + r * ldc, z ? z + r * ldc : NULL, shift, f0, s0, c##r##0, clamp, lo, hi, la);              \
        store16_ib(C + r * ldc + 16, z ? z + r * ldc + 16 : NULL, shift, f1, s1, c##r##1, clamp, lo, hi, la);    \
    }
    /* kernel_ib's lanes: the first mask's at C + j, the second's at C + j - shift */
    const uint32_t first = ib ? map->first : 0, second = ib ? map->second : 0;
    const int64_t shift = ib ? map->shift : 0;
    const __mmask16 f0 = (__mmask16)(first & 0xFFFFu), f1 = (__mmask16)(first >> 16);
    const __mmask16 s0 = (__mmask16)(second & 0xFFFFu), s1 = (__mmask16)(second >> 16);
    if (cb) {
#define ADDCB(r)                                                                                                  \
    c##r##0 = _mm512_add_ps(c##r##0, cb0);                                                                        \
    c##r##1 = _mm512_add_ps(c##r##1, cb1);
        ROWS(ADDCB)
#undef ADDCB
    }
    ROWS(STORE)
#undef STORE
}

/* A tile with runtime m, alpha, beta and clamp spent about 75 cycles more
 * than one with them constant (K = 27, the 3-channel stem: 313 cycles a
 * tile against 238; 216 are the FMAs'): full tiles of a layer's output
 * (MR rows, alpha 1, beta 0) get a copy per clamp. */
#define CLAMPS(X)                                                                                                      \
    X(SPD_CLAMP_NONE) X(SPD_CLAMP_RELU) X(SPD_CLAMP_CLIP) X(SPD_CLAMP_SILU) X(SPD_CLAMP_GELU) X(SPD_CLAMP_HARDSWISH)
#define FULL_TILE(SB)                                                                                             \
    if (m == MR && alpha == 1.0f && beta == 0.0f && te) {                                                         \
        if (n > 16) {                                                                                             \
            switch (te->clamp) {                                                                                  \
                CLAMPS(FULL_CASE_##SB)                                                                            \
            default: break;                                                                                       \
            }                                                                                                     \
        } else {                                                                                                  \
            switch (te->clamp) {                                                                                  \
                CLAMPS(NARROW_CASE_##SB)                                                                          \
            default: break;                                                                                       \
            }                                                                                                     \
        }                                                                                                         \
    }
/* wide: both vectors of each row (n > 16), or a product's last, narrow
 * panel (one vector a row) */
#define TILE_CASE(cl, wide, sb, sa, lda_, ldb_)                                                                   \
    case cl: tile(wide, sb, sa, 0, 1 + cl, k, a, lda_, b, ldb_, NULL, C, ldc, MR, n, 1.0f, 0.0f, te); return;
#define FULL_CASE_0(cl) TILE_CASE(cl, 1, 0, 0, 0, NR)
#define FULL_CASE_1(cl) TILE_CASE(cl, 1, 1, 0, 0, ldb)
#define FULL_CASE_SA(cl) TILE_CASE(cl, 1, 0, 1, lda, NR)
#define NARROW_CASE_0(cl) TILE_CASE(cl, 0, 0, 0, 0, NR)
#define NARROW_CASE_1(cl) TILE_CASE(cl, 0, 1, 0, 0, ldb)
#define NARROW_CASE_SA(cl) TILE_CASE(cl, 0, 0, 1, lda, NR)

TARGET static void kernel_8x32(int64_t k, const float *a, const float *b, float *C, int64_t ldc, int m, int n,
                               float alpha, float beta, const spd_tile_epi *te)
{
    FULL_TILE(0)
    /* a last tile of few rows (a transposed product's positions: 49 = 6 x 8
     * + 1) computes only those */
#define PART(R)                                                                                                   \
    if (m <= R) {                                                                                                 \
        if (n > 16) tile_rows(R, 1, 0, 0, 0, 0, k, a, 0, b, NR, NULL, C, ldc, m, n, alpha, beta, te);              \
        else tile_rows(R, 0, 0, 0, 0, 0, k, a, 0, b, NR, NULL, C, ldc, m, n, alpha, beta, te);                     \
        return;                                                                                                   \
    }
    PART(1)
    PART(2)
    PART(4)
#undef PART
    if (n > 16)
        tile(1, 0, 0, 0, 0, k, a, 0, b, NR, NULL, C, ldc, m, n, alpha, beta, te);
    else
        tile(0, 0, 0, 0, 0, k, a, 0, b, NR, NULL, C, ldc, m, n, alpha, beta, te);
}

/* The same with op(A) read in place, rows lda apart: no packing of A,
 * which for a product of few columns (a channels-last 1x1 convolution of
 * 64 output channels: two panels) costs a tenth of the product. */
TARGET static void kernel_8x32_sa(int64_t k, const float *a, int64_t lda, const float *b, float *C, int64_t ldc,
                                  int m, int n, float alpha, float beta, const spd_tile_epi *te)
{
    FULL_TILE(SA)
    if (n > 16)
        tile(1, 0, 1, 0, 0, k, a, lda, b, NR, NULL, C, ldc, m, n, alpha, beta, te);
    else
        tile(0, 0, 1, 0, 0, k, a, lda, b, NR, NULL, C, ldc, m, n, alpha, beta, te);
}

/* The same with op(B) read in place, rows ldb apart (a pointwise
 * convolution's X): no copy of B into panels. */
TARGET static void kernel_8x32_sb(int64_t k, const float *a, const float *b, int64_t ldb, float *C, int64_t ldc,
                                  int m, int n, float alpha, float beta, const spd_tile_epi *te)
{
    FULL_TILE(1)
    if (n > 16)
        tile(1, 1, 0, 0, 0, k, a, 0, b, ldb, NULL, C, ldc, m, n, alpha, beta, te);
    else
        tile(0, 1, 0, 0, 0, k, a, 0, b, ldb, NULL, C, ldc, m, n, alpha, beta, te);
}

/* B read in place through row offsets and C's lanes remapped (an
 * implicit convolution, ops/conv_implicit.c): no packed copy of the
 * column matrix. */
#define FULL_CASE_IB(cl)                                                                                          \
    case cl: tile(1, 0, 0, 1, 1 + cl, k, a, 0, b, 0, map, C, ldc, MR, NR, 1.0f, 0.0f, te); return;

TARGET static void kernel_8x32_ib(int64_t k, const float *a, const float *b, const spd_tile_map *map, float *C,
                                  int64_t ldc, int m, const spd_tile_epi *te)
{
    if (m == MR && te) {
        switch (te->clamp) {
            CLAMPS(FULL_CASE_IB)
        default: break;
        }
    }
    tile(1, 0, 0, 1, 0, k, a, 0, b, 0, map, C, ldc, m, NR, 1.0f, 0.0f, te);
}

/* Cache blocks, measured on Zen 5 (1 MB L2, 48 KB L1) against mc 240, kc
 * 256, nc 2048: a deep slice (kc 1024: a 32-column B panel of 128 KB is
 * read from L2 by each row tile, at 16 bytes a cycle) saves C's round
 * trips between slices, and a narrow block (nc 512) keeps the packed B
 * slice at 2 MB; few rows a chunk (mc 64) keep A's chunk in L2. At 1
 * thread bert_base 0.967x, vit_b_16 0.969x, resnet50 0.985x, mobilenet_v2
 * 0.986x; at 2 threads bert 0.932x, vit 0.949x, squeezenet1_1 0.966x. */
static const spd_sgemm_kernel g_avx512 = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .mc = 64,
    .kc = 1024,
    .nc = 512,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel_8x32,
    .kernel_sb = kernel_8x32_sb,
    .kernel_sa = kernel_8x32_sa,
    .kernel_ib = kernel_8x32_ib,
    .kernel_sa_wide = spd_kernel_6x64_sa,
    .kernel_sa_wide_off = spd_kernel_6x64_sao,
    .wide_mr = 6,
    .fuses_epi = 1,
    .epi_silu = 1,
    .epi_gelu = 1,
    .epi_hardswish = 1,
    .sb_unaligned = 1,
};

const spd_sgemm_kernel *spd_sgemm_kernel_avx512(void) { return &g_avx512; }

#else

const spd_sgemm_kernel *spd_sgemm_kernel_avx512(void) { return NULL; }

#endif
