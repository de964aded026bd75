/* GFLOP/s of spd_sgemm on each path this CPU runs (ref, avx2, avx512) and,
 * when built with -DHAVE_OPENBLAS, of OpenBLAS's cblas_sgemm in the same run,
 * for square and conv/transformer-like shapes at 1 and 2 threads. Not a
 * test: it prints a table. Each figure is the best of several timed batches
 * (the machines are shared and noisy).
 *
 * Build (after building speedster into BUILD, e.g. /tmp/build-gemm):
 *   gcc -O2 -D_GNU_SOURCE -DHAVE_OPENBLAS -Iinclude -Isrc bench/bench_gemm.c \
 *       BUILD/libspeedster.a -lopenblas -lm -lpthread [-ldnnl -lgomp] -o /tmp/bench_gemm
 * (add -ldnnl -lgomp when the build found oneDNN; drop -DHAVE_OPENBLAS and
 * -lopenblas without OpenBLAS). OpenBLAS is linked into the benchmark only.
 * Run:  /tmp/bench_gemm [threads...]      (default: 1 2)
 *       BENCH_ONLY=conv /tmp/bench_gemm   only the shapes whose name has "conv" */
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/gemm.h"
#include "ops/sgemm_fast.h"
#include "speedster.h"

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct shape {
    const char *name;
    int64_t M, N, K;
} shape;

static const shape shapes[] = {
    {"square 256", 256, 256, 256},
    {"square 512", 512, 512, 512},
    {"square 1024", 1024, 1024, 1024},
    {"square 2048", 2048, 2048, 2048},
    {"conv 64x3136x576", 64, 3136, 576},
    {"conv 256x784x1152", 256, 784, 1152},
    {"bert 768x128x768", 768, 128, 768},
    {"1x1 2048x128x512", 2048, 128, 512},
};

/* path < 0: OpenBLAS */
static void run(int path, const shape *s, const float *A, const float *B, float *C)
{
#ifdef HAVE_OPENBLAS
    if (path < 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)s->K,
                    B, (int)s->N, 0.0f, C, (int)s->N);
        return;
    }
#endif
    (void)path;
    spd_sgemm(0, 0, s->M, s->N, s->K, 1.0f, A, s->K, B, s->N, 0.0f, C, s->N);
}

static double gflops(int path, const shape *s, const float *A, const float *B, float *C)
{
    if (path >= 0) spd_sgemm_set_isa((spd_sgemm_isa)path);
    double flop = 2.0 * s->M * s->N * s->K;
    double t0 = now();
    run(path, s, A, B, C); /* warm-up, and sizes the batches */
    double once = now() - t0;
    int reps = once > 0.05 ? 1 : (int)(0.05 / (once > 1e-7 ? once : 1e-7)) + 1;
    double best = 1e30;
    for (int batch = 0; batch < 5; batch++) {
        t0 = now();
        for (int r = 0; r < reps; r++) run(path, s, A, B, C);
        double t = (now() - t0) / reps;
        if (t < best) best = t;
    }
    return flop / best * 1e-9;
}

int main(int argc, char **argv)
{
    int threads[8] = {1, 2}, nt = 2;
    if (argc > 1) {
        nt = 0;
        for (int i = 1; i < argc && nt < 8; i++) threads[nt++] = atoi(argv[i]);
    }
    int paths[4], np = 0;
    for (int p = 0; p <= (int)spd_sgemm_isa_best(); p++) paths[np++] = p;
#ifdef HAVE_OPENBLAS
    paths[np++] = -1;
#endif
    printf("%-20s %3s", "shape (MxNxK)", "thr");
    for (int p = 0; p < np; p++) printf(" %9s", paths[p] < 0 ? "openblas" : spd_sgemm_isa_name((spd_sgemm_isa)paths[p]));
    printf("   (GFLOP/s, best of 5)\n");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        const char *only = getenv("BENCH_ONLY");
        if (only && !strstr(s->name, only)) continue;
        float *A = malloc(sizeof(float) * (size_t)(s->M * s->K));
        float *B = malloc(sizeof(float) * (size_t)(s->K * s->N));
        float *C = malloc(sizeof(float) * (size_t)(s->M * s->N));
        if (!A || !B || !C) return 1;
        for (int64_t i = 0; i < s->M * s->K; i++) A[i] = (float)(i % 7) * 0.25f - 0.5f;
        for (int64_t i = 0; i < s->K * s->N; i++) B[i] = (float)(i % 5) * 0.25f - 0.5f;
        for (int t = 0; t < nt; t++) {
            spd_set_num_threads(threads[t]);
#ifdef HAVE_OPENBLAS
            openblas_set_num_threads(threads[t]);
#endif
            printf("%-20s %3d", s->name, threads[t]);
            for (int p = 0; p < np; p++) printf(" %9.1f", gflops(paths[p], s, A, B, C));
            printf("\n");
            fflush(stdout);
        }
        free(A);
        free(B);
        free(C);
    }
    return 0;
}
