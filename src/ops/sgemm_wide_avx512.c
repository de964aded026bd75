/* An AVX-512 micro-kernel of up to 6 rows x 64 columns for products whose A
 * is read in place (kernel_sa's case: a channels-last convolution's pixels
 * are the rows, its 64 or 128 output channels the columns).
 *
 * Why 64 columns: the 8 x 32 tile broadcasts each A value into two FMAs;
 * here it feeds four, so a k step is 24 FMAs for 4 B loads and 6
 * broadcasts instead of 16 FMAs for 2 and 8, and a tile's fixed costs
 * (C's prefetches, the epilogue, the call) are spread over 1.5x the work.
 * Tiles of 5 or 6 rows, whichever fits the rows better, also waste less
 * than 8-row tiles: keyword spotting's 125 pixels are 25 tiles of 5, not
 * 128 rows. 125 x 64 x 64 alone: 4.33 -> 3.92 us (K 40, its stem: 2.84 ->
 * 2.51). B is two consecutive packed 32-column panels, ps floats apart. */
#include "ops/sgemm_fast.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx2,fma")))
#include "ops/sgemm_avx512_inl.h"

#define WR 6 /* the most rows */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* The tile C[0:m, 0:64]; R (5 or 6) rows are computed, the ones past m
 * from row 0 and not stored. full: m = R, alpha 1, beta 0 and te's clamp
 * full - 1 (0: not known). aoff: step p of row r at a + r*lda + aoff[p]
 * (NULL: a + r*lda + p). Inlined with R, full and aoff's presence
 * constant. */
TARGET static inline __attribute__((always_inline)) void tile(int R, int full, int64_t k, const float *a,
                                                               int64_t lda, const int32_t *aoff, const float *b,
                                                               int64_t ps, float *C, int64_t ldc, int m, float alpha,
                                                               float beta, const spd_tile_epi *te)
{
    if (full) {
        m = R;
        alpha = 1.0f;
        beta = 0.0f;
    }
    float bpad[WR];
    const float *rb = te ? te->bias : NULL;
    if (rb && m < R) {
        for (int r = 0; r < WR; r++) bpad[r] = r < m ? rb[r] : 0.0f;
        rb = bpad;
    }
    const float *cb = te && !rb ? te->col_bias : NULL;
#define DECL(r)                                                                                                   \
    __m512 c##r##0 = rb && r < R ? _mm512_set1_ps(rb[r]) : _mm512_setzero_ps();                                  \
    __m512 c##r##1 = c##r##0, c##r##2 = c##r##0, c##r##3 = c##r##0;                                               \
    const float *a##r = a + (r < m ? r : 0) * lda;
    ROWS(DECL)
#undef DECL
    /* C's and the residual's lines now, read after the k loop */
    const int64_t ahead = te ? te->c_ahead : 0;
    const float *zt = te ? te->z : NULL;
    for (int r = 0; r < m; r++)
        for (int v = 0; v < 64; v += 16) {
            _mm_prefetch((const char *)(C + r * ldc + v), _MM_HINT_T0);
            if (ahead) _mm_prefetch((const char *)(C + r * ldc + ahead + v), _MM_HINT_T0);
            if (zt) _mm_prefetch((const char *)(zt + r * ldc + v), _MM_HINT_T0);
            if (zt && ahead) _mm_prefetch((const char *)(zt + r * ldc + ahead + v), _MM_HINT_T0); /* as C's */
        }
    const float *b2 = b + ps;
    const int64_t b_ahead = te ? te->b_ahead : 0;
#define ROW(r)                                                                                                    \
    if (r < R) {                                                                                                  \
        const __m512 ar = _mm512_set1_ps(a##r[aoff ? aoff[p] : p]);                                                                \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                                               \
        c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                                               \
        c##r##2 = _mm512_fmadd_ps(ar, b2v, c##r##2);                                                              \
        c##r##3 = _mm512_fmadd_ps(ar, b3, c##r##3);                                                               \
    }
    /* the prefetch test outside the loop: steps [0, from) and [to, k)
     * without it, [from, to) with it */
#define KLOOP(PF, END)                                                                                            \
    for (; p < (END); p++, b += 32, b2 += 32) {                                                                   \
        if (PF) { /* the next two panels, row by row */                                                          \
            _mm_prefetch((const char *)(b + b_ahead), _MM_HINT_T0);                                               \
            _mm_prefetch((const char *)(b + b_ahead + 16), _MM_HINT_T0);                                          \
            _mm_prefetch((const char *)(b2 + b_ahead), _MM_HINT_T0);                                              \
            _mm_prefetch((const char *)(b2 + b_ahead + 16), _MM_HINT_T0);                                         \
        }                                                                                                         \
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                                      \
        const __m512 b2v = _mm512_loadu_ps(b2), b3 = _mm512_loadu_ps(b2 + 16);                                    \
        ROWS(ROW)                                                                                                 \
    }
    const int64_t from = b_ahead ? (te->b_from < k ? te->b_from : k) : k;
    const int64_t to = b_ahead ? (te->b_to < k ? te->b_to : k) : k;
    int64_t p = 0;
    KLOOP(0, from)
    KLOOP(1, to)
    KLOOP(0, k)
#undef KLOOP
#undef ROW
    const int clamp = full ? full - 1 : te ? te->clamp : SPD_CLAMP_NONE;
    const __m512 lo = _mm512_set1_ps(te ? te->lo : 0.0f), hi = _mm512_set1_ps(te ? te->hi : 0.0f);
    const float la = te ? te->lo : 0.0f;
    const float *z = zt;
    if (cb) {
        const __m512 q0 = _mm512_loadu_ps(cb), q1 = _mm512_loadu_ps(cb + 16);
        const __m512 q2 = _mm512_loadu_ps(cb + 32), q3 = _mm512_loadu_ps(cb + 48);
#define ADDCB(r)                                                                                                  \
    c##r##0 = _mm512_add_ps(c##r##0, q0);                                                                         \
    c##r##1 = _mm512_add_ps(c##r##1, q1);                                                                         \
    c##r##2 = _mm512_add_ps(c##r##2, q2);                                                                         \
    c##r##3 = _mm512_add_ps(c##r##3, q3);
        ROWS(ADDCB)
#undef ADDCB
    }
#define STORE(r)                                                                                                  \
    if (r < m) {                                                                                                  \
        float *cr = C + r * ldc;                                                                                  \
        const float *zr = z ? z + r * ldc : NULL;                                                                 \
        store16(cr, zr, 0xFFFF, c##r##0, alpha, beta, clamp, lo, hi, la);                                         \
        store16(cr + 16, zr ? zr + 16 : NULL, 0xFFFF, c##r##1, alpha, beta, clamp, lo, hi, la);                   \
        store16(cr + 32, zr ? zr + 32 : NULL, 0xFFFF, c##r##2, alpha, beta, clamp, lo, hi, la);                   \
        store16(cr + 48, zr ? zr + 48 : NULL, 0xFFFF, c##r##3, alpha, beta, clamp, lo, hi, la);                   \
    }
    ROWS(STORE)
#undef STORE
}

/* Full tiles of 5 and 6 rows with alpha 1, beta 0 get a copy per clamp (as
 * the 8 x 32 kernel's full tiles do: runtime m, alpha, beta and clamp
 * cost tens of cycles a tile). */
#define CLAMPS(X)                                                                                                      \
    X(SPD_CLAMP_NONE) X(SPD_CLAMP_RELU) X(SPD_CLAMP_CLIP) X(SPD_CLAMP_SILU) X(SPD_CLAMP_GELU) X(SPD_CLAMP_HARDSWISH)
#define CASE6(cl)                                                                                                 \
    case cl: tile(6, 1 + cl, k, a, lda, AO, b, ps, C, ldc, 6, 1.0f, 0.0f, te); return;
#define CASE5(cl)                                                                                                 \
    case cl: tile(5, 1 + cl, k, a, lda, AO, b, ps, C, ldc, 5, 1.0f, 0.0f, te); return;

#define AO NULL
TARGET void spd_kernel_6x64_sa(int64_t k, const float *a, int64_t lda, const float *b, int64_t ps, float *C, int64_t ldc,
                               int m, float alpha, float beta, const spd_tile_epi *te)
{
    if (alpha == 1.0f && beta == 0.0f && te && (m == 6 || m == 5)) {
        if (m == 6) switch (te->clamp) {
                CLAMPS(CASE6)
            default: break;
            }
        else
            switch (te->clamp) {
                CLAMPS(CASE5)
            default: break;
            }
    }
    tile(WR, 0, k, a, lda, NULL, b, ps, C, ldc, m, alpha, beta, te);
}
#undef AO

/* A's steps through offsets: an implicit convolution's rows are pixels of
 * one output row (lda the stride between them), its steps the taps'
 * channels in the padded input (conv_nhwc.c). */
#define AO aoff
TARGET void spd_kernel_6x64_sao(int64_t k, const float *a, int64_t lda, const int32_t *aoff, const float *b,
                                int64_t ps, float *C, int64_t ldc, int m, const spd_tile_epi *te)
{
    if (!aoff) __builtin_unreachable(); /* so the inlined tiles test it once, here */
    if (m == 6) switch (te->clamp) {
            CLAMPS(CASE6)
        default: break;
        }
    else if (m == 5)
        switch (te->clamp) {
            CLAMPS(CASE5)
        default: break;
        }
    tile(WR, 0, k, a, lda, aoff, b, ps, C, ldc, m, 1.0f, 0.0f, te);
}
#undef AO

#endif
