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

TARGET static void transpose_avx2(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld)
{
    const int64_t r8 = rows / 8 * 8, s8 = cols / 8 * 8;
    for (int64_t r = 0; r < r8; r += 8) {
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

void spd_transpose2d_f32(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld)
{
#if defined(__x86_64__) || defined(__i386__)
    if (spd_sgemm_isa_current() >= SPD_SGEMM_AVX2) {
        transpose_avx2(dst, src, rows, cols, ld);
        return;
    }
#endif
    /* eight by eight: each block's source rows and destination rows stay in cache */
    for (int64_t r = 0; r < rows; r += 8)
        for (int64_t s = 0; s < cols; s += 8)
            block_ref(dst, src, rows, ld, r, r + 8 < rows ? r + 8 : rows, s, s + 8 < cols ? s + 8 : cols);
}
