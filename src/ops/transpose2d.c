#include "ops/transpose2d.h"

#include "ops/sgemm_fast.h"

static void block_ref(float *dst, const float *src, int64_t rows, int64_t ld, int64_t r0, int64_t r1, int64_t s0,
                      int64_t s1)
{
    for (int64_t s = s0; s < s1; s++)
        for (int64_t r = r0; r < r1; r++) dst[s * rows + r] = src[r * ld + s];
}

#if defined(__x86_64__) || defined(__i386__)
#define TARGET __attribute__((target("avx2,fma")))
#include "ops/avx2_regs.h"

/* Rows [r0, rows) of the transpose (r0 on a block edge of the caller's). */
TARGET static void transpose_avx2(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld, int64_t r0)
{
    const int64_t r8 = r0 + (rows - r0) / 8 * 8, s8 = cols / 8 * 8;
    for (int64_t r = r0; r < r8; r += 8) {
        for (int64_t s = 0; s < s8; s += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_ps(src + (r + i) * ld + s);
            transpose8_regs(v);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (s + i) * rows + r, v[i]);
        }
        block_ref(dst, src, rows, ld, r, r + 8, s8, cols);
    }
    block_ref(dst, src, rows, ld, r8, rows, 0, cols);
}
#endif

#if defined(__x86_64__)
#define TARGET512 __attribute__((target("avx512f")))

/* v[i] = row i of a 16 x 16 block becomes column i: 32-bit interleaves of
 * row pairs, 64-bit interleaves of those, then two rounds of 128-bit lane
 * shuffles (lanes 0 and 2, then 1 and 3, of each pair). */
TARGET512 static inline void transpose16_regs(__m512 v[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)
        for (int j = 0; j < 2; j++) {
            const __m512d a = _mm512_castps_pd(t[i + j]), b = _mm512_castps_pd(t[i + j + 2]);
            v[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            v[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(v[i], v[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(v[i], v[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(v[i + 8], v[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(v[i + 8], v[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        v[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        v[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

/* Sixteen by sixteen (half the loads and stores of the AVX2 blocks:
 * MobileNetV2's 144 x 3136 layout change 44.5 -> 32 us, EfficientNet's
 * 49 x 1280 8.7 -> 6.7 us, at 1 thread), the edges as the AVX2 path does
 * them. */
TARGET512 static void transpose_avx512(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld)
{
    const int64_t r16 = rows / 16 * 16, s16 = cols / 16 * 16;
    for (int64_t r = 0; r < r16; r += 16) {
        for (int64_t s = 0; s < s16; s += 16) {
            __m512 v[16];
            for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(src + (r + i) * ld + s);
            transpose16_regs(v);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (s + i) * rows + r, v[i]);
        }
        block_ref(dst, src, rows, ld, r, r + 16, s16, cols);
    }
    if (r16 < rows) transpose_avx2(dst, src, rows, cols, ld, r16);
}
#endif

void spd_transpose2d_f32(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld)
{
#if defined(__x86_64__)
    if (spd_sgemm_isa_current() >= SPD_SGEMM_AVX512) {
        transpose_avx512(dst, src, rows, cols, ld);
        return;
    }
#endif
#if defined(__x86_64__) || defined(__i386__)
    if (spd_sgemm_isa_current() >= SPD_SGEMM_AVX2) {
        transpose_avx2(dst, src, rows, cols, ld, 0);
        return;
    }
#endif
    /* eight by eight: each block's source rows and destination rows stay in cache */
    for (int64_t r = 0; r < rows; r += 8)
        for (int64_t s = 0; s < cols; s += 8)
            block_ref(dst, src, rows, ld, r, r + 8 < rows ? r + 8 : rows, s, s + 8 < cols ? s + 8 : cols);
}
