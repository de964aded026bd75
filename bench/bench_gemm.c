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
 *       BENCH_CLOCK=cpu /tmp/bench_gemm 1  CPU time instead of wall time
 * The prepackB column runs spd_gemm_run with B packed beforehand and a bias
 * epilogue (how Gemm/MatMul run a constant weight).
 *       BENCH_ONLY=conv /tmp/bench_gemm   only the shapes whose name has "conv" */
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/gemm.h"
#include "ops/sgemm_fast.h"
#include "speedster.h"
#include "util/threadpool.h"

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

/* BENCH_CLOCK=cpu times process CPU time instead of wall time: on a busy
 * shared machine a single-threaded figure then ignores the other load (with
 * several threads it also counts their waiting, so read those as a floor). */
static double now(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("BENCH_CLOCK") && !strcmp(getenv("BENCH_CLOCK"), "cpu");
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
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
    {"conv 512x49x4608", 512, 49, 4608},
    /* transformer linears, activations x weight: [M, K] x [K, N] */
    {"bert 128x768x768", 128, 768, 768},
    {"bert 128x3072x768", 128, 3072, 768},
    {"bert 128x768x3072", 128, 768, 3072},
    {"attn 128x128x64", 128, 128, 64},
    {"vit 197x2304x768", 197, 2304, 768},
    {"pw 192x49x1152", 192, 49, 1152},
    {"pw 192x48x1152", 192, 48, 1152},
    {"pw 16x3025x64", 16, 3025, 64},
    {"pw 16x3024x64", 16, 3024, 64},
    {"vit 197x3072x768", 197, 3072, 768},
    {"vit 197x768x3072", 197, 768, 3072},
};

/* Path 100 + isa: the same product through spd_gemm_run with B prepacked
 * (a constant weight) and a bias row in the epilogue, as Gemm/MatMul run
 * with prepared weights. */
#define PREPACKED 100
static float *g_bpack, *g_bias;
static const spd_sgemm_kernel *g_bpack_kern;
static const shape *g_bpack_shape;

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
    if (path >= PREPACKED) {
        const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
        if (g_bpack_shape != s || g_bpack_kern != kern) { /* pack once per shape, outside the timing */
            free(g_bpack);
            free(g_bias);
            g_bpack = aligned_alloc(64, (spd_sgemm_prepacked_b_floats(kern, s->K, s->N) * sizeof(float) + 63) / 64 * 64);
            g_bias = calloc((size_t)s->N, sizeof(float));
            if (!g_bpack || !g_bias) exit(1);
            spd_sgemm_prepack_b(kern, 0, s->K, s->N, B, s->N, g_bpack);
            g_bpack_shape = s;
            g_bpack_kern = kern;
        }
        const spd_gemm_a a = {.p = A, .ld = s->K};
        const spd_gemm_b b = {.p = B, .ld = s->N, .packed = g_bpack};
        const spd_gemm_epi e = {.z = g_bias, .ldz = 0};
        spd_gemm_run(kern, s->M, s->N, s->K, 1.0f, &a, &b, 0.0f, C, s->N, &e, spd_thread_count());
        return;
    }
    spd_sgemm(0, 0, s->M, s->N, s->K, 1.0f, A, s->K, B, s->N, 0.0f, C, s->N);
}

static double gflops(int path, const shape *s, const float *A, const float *B, float *C)
{
    if (path >= 0) spd_sgemm_set_isa((spd_sgemm_isa)(path % PREPACKED));
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
    int paths[5], np = 0;
    for (int p = 0; p <= (int)spd_sgemm_isa_best(); p++) paths[np++] = p;
    if (spd_sgemm_isa_best() > SPD_SGEMM_REF) paths[np++] = PREPACKED + (int)spd_sgemm_isa_best();
#ifdef HAVE_OPENBLAS
    paths[np++] = -1;
#endif
    printf("%-20s %3s", "shape (MxNxK)", "thr");
    for (int p = 0; p < np; p++)
        printf(" %9s", paths[p] < 0 ? "openblas" : paths[p] >= PREPACKED ? "prepackB" : spd_sgemm_isa_name((spd_sgemm_isa)paths[p]));
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
