/* Register-level helpers of the AVX2 kernels (sgemm_pack.inc,
 * conv_dw_avx2.c, conv_wino.c). Include on x86-64 after defining TARGET, the function
 * attribute of the includer's instruction set: every function is static,
 * so each file gets its own copy compiled for its ISA. */
#ifndef SPD_OPS_AVX2_REGS_H
#define SPD_OPS_AVX2_REGS_H

#include <immintrin.h>
#include <stdint.h>

static const int32_t spd_lanes8_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* The first n lanes of eight set, for masked loads and stores; n is
 * clamped to [0, 8]. */
TARGET static inline __m256i lanes8(int64_t n)
{
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_loadu_si256((const __m256i *)(spd_lanes8_tab + 8 - n));
}

/* Transposes eight rows of eight floats in registers: r[i] lane j becomes
 * r[j] lane i. */
TARGET static inline void transpose8_regs(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Stores the first g (1..8) floats of v at d, nothing past them. */
TARGET static inline void store_first(float *d, __m256 v, int g)
{
    if (g == 8) {
        _mm256_storeu_ps(d, v);
        return;
    }
    __m128 x = _mm256_castps256_ps128(v);
    if (g >= 4) {
        _mm_storeu_ps(d, x);
        x = _mm256_extractf128_ps(v, 1);
        d += 4;
        g -= 4;
    }
    if (g >= 2) {
        _mm_storel_pi((__m64 *)d, x);
        x = _mm_movehl_ps(x, x);
        d += 2;
        g -= 2;
    }
    if (g) _mm_store_ss(d, x);
}

#endif
