/* The packed GEMM (spd_gemm_run, prepacked B, one thread) on transformer-
 * and CNN-shaped products under several cache blockings, as a fraction of
 * one core's measured FMA peak. The kernel struct is copied and its mc,
 * kc, nc changed, so no rebuild is needed to compare blockings on another
 * CPU (bench/device/). Prints figures; not a test.
 *   gcc -O2 -fopenmp -Isrc -Iinclude bench/device/gemm_probe.c build/libspeedster.a -lm -lpthread [-ldnnl]
 * On a shared host the clock moves: run it twice (a device Xeon's peak
 * read 94 and 171 GFLOP/s a minute apart). */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/gemm.h"
#include "ops/sgemm_fast.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* GFLOP/s of 12 independent FMA chains */
__attribute__((target("avx512f"), noinline)) static double fma_peak(void)
{
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(i * 0.001f);
    const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-6f);
    const long n = 20000000;
    const double t0 = now_ns();
    for (long i = 0; i < n; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], m, c);
    }
    const double t = now_ns() - t0;
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    if (s == 12345.0f) puts(""); /* keeps the chains */
    return 2.0 * 16 * 12 * n / t;
}

static double gflops(const spd_sgemm_kernel *kern, int M, int N, int K)
{
    float *a = aligned_alloc(64, (size_t)M * K * 4), *w = aligned_alloc(64, (size_t)K * N * 4);
    float *c = aligned_alloc(64, (size_t)M * N * 4);
    float *wp = aligned_alloc(64, (spd_sgemm_prepacked_b_floats(kern, K, N) + 15) / 16 * 64);
    for (long i = 0; i < (long)M * K; i++) a[i] = (i % 13) * 0.1f;
    for (long i = 0; i < (long)K * N; i++) w[i] = (i % 11) * 0.05f;
    spd_sgemm_prepack_b(kern, 0, K, N, w, N, wp);
    const spd_gemm_a A = {.p = a, .ld = K};
    const spd_gemm_b B = {.packed = wp};
    int reps = (int)(1e9 / ((double)M * N * K));
    if (reps < 3) reps = 3;
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        const double t0 = now_ns();
        for (int i = 0; i < reps; i++) spd_gemm_run(kern, M, N, K, 1.0f, &A, &B, 0.0f, c, N, NULL, 1);
        const double t = (now_ns() - t0) / reps;
        if (t < best) best = t;
    }
    free(a), free(w), free(c), free(wp);
    return 2.0 * M * N * K / best;
}

int main(void)
{
    const spd_sgemm_kernel *k0 = spd_sgemm_kernel_current();
    if (!k0) return puts("no SIMD kernel on this CPU"), 1;
    const double pk = fma_peak();
    printf("kernel %s, FMA peak of one core: %.1f GFLOP/s\n", k0->name, pk);
    static const int shapes[][3] = {{512, 768, 768}, {128, 3072, 768}, {784, 128, 1152},
                                    {3136, 256, 64}, {196, 1024, 256}, {125, 64, 64}};
    static const int blocks[][3] = {{64, 1024, 512}, {240, 256, 2048}, {128, 512, 1024},
                                    {96, 384, 1536}, {64, 512, 512},   {192, 768, 1024}};
    for (int b = 0; b < 6; b++) {
        spd_sgemm_kernel k = *k0;
        k.mc = blocks[b][0], k.kc = blocks[b][1], k.nc = blocks[b][2];
        printf("mc %d kc %d nc %d:", blocks[b][0], blocks[b][1], blocks[b][2]);
        for (int s = 0; s < 6; s++)
            printf(" %dx%dx%d %.0f%%", shapes[s][0], shapes[s][1], shapes[s][2],
                   100 * gflops(&k, shapes[s][0], shapes[s][1], shapes[s][2]) / pk);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
