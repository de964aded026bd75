/* Tests of spd_sgemm on every path this CPU runs (ref, avx2, avx512), against
 * a double-precision naive GEMM: odd and edge shapes, all transposes,
 * alpha/beta combinations, padded leading dimensions, NaN-filled C with
 * beta 0, one and several threads, and scratch allocation failure.
 *
 *   test_gemm            run all checks
 *
 * One line per failed check (and per skipped path); the last line is
 * "N checks, N failed"; exit status 1 when any check fails. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "ops/sgemm_fast.h"
#include "speedster.h"
#include "util/alloc.h"
#include "util/scratch.h"

#include "test_util.h"

#define SENTINEL 12345.0f

typedef struct gemm_case {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    int nan_c; /* fill C with NaN (only with beta 0) */
} gemm_case;

typedef struct gemm_data {
    float *A, *B, *C0, *C;
    double *want, *tol;
    size_t a_n, b_n, c_n;
} gemm_data;

static void *xmalloc(size_t n)
{
    /* 64-byte aligned, as the library's tensors are (the in-place B path
     * of the packed driver needs it) */
    void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void make_data(const gemm_case *c, gemm_data *d)
{
    int64_t a_rows = c->ta ? c->K : c->M, b_rows = c->tb ? c->N : c->K;
    d->a_n = (size_t)(a_rows * c->lda);
    d->b_n = (size_t)(b_rows * c->ldb);
    d->c_n = (size_t)(c->M * c->ldc);
    d->A = xmalloc(d->a_n * sizeof(float));
    d->B = xmalloc(d->b_n * sizeof(float));
    d->C0 = xmalloc(d->c_n * sizeof(float));
    d->C = xmalloc(d->c_n * sizeof(float));
    d->want = xmalloc((size_t)(c->M * c->N) * sizeof(double));
    d->tol = xmalloc((size_t)(c->M * c->N) * sizeof(double));
    for (size_t i = 0; i < d->a_n; i++) d->A[i] = rnd_float();
    for (size_t i = 0; i < d->b_n; i++) d->B[i] = rnd_float();
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = 0; j < c->ldc; j++)
            d->C0[i * c->ldc + j] = j >= c->N ? SENTINEL : c->nan_c ? NAN : rnd_float();
    const double eps = 1.0 / (1 << 23);
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = 0; j < c->N; j++) {
            double s = 0, sa = 0;
            for (int64_t p = 0; p < c->K; p++) {
                double a = c->ta ? d->A[p * c->lda + i] : d->A[i * c->lda + p];
                double b = c->tb ? d->B[j * c->ldb + p] : d->B[p * c->ldb + j];
                s += a * b;
                sa += fabs(a * b);
            }
            double c0 = d->C0[i * c->ldc + j];
            double w = c->alpha * s, t = fabs(c->alpha) * sa * (c->K + 2) * eps;
            if (c->beta != 0.0f) {
                w += c->beta * c0;
                t += 2 * fabs(c->beta * c0) * eps;
            }
            d->want[i * c->N + j] = w;
            d->tol[i * c->N + j] = t + 1e-30;
        }
}

static void free_data(gemm_data *d)
{
    free(d->A);
    free(d->B);
    free(d->C0);
    free(d->C);
    free(d->want);
    free(d->tol);
}

static void describe(const gemm_case *c, const char *path, int threads, char *buf, size_t n)
{
    snprintf(buf, n, "%s threads=%d ta=%d tb=%d M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld alpha=%g beta=%g%s",
             path, threads, c->ta, c->tb, (long long)c->M, (long long)c->N, (long long)c->K, (long long)c->lda,
             (long long)c->ldb, (long long)c->ldc, c->alpha, c->beta, c->nan_c ? " C=NaN" : "");
}

/* Runs one case on the current path and checks every element of C. */
static void check_run(const gemm_case *c, gemm_data *d, const char *path, int threads)
{
    char what[256];
    g_checks++;
    memcpy(d->C, d->C0, d->c_n * sizeof(float));
    spd_sgemm(c->ta, c->tb, c->M, c->N, c->K, c->alpha, d->A, c->lda, d->B, c->ldb, c->beta, d->C, c->ldc);
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = 0; j < c->ldc; j++) {
            float got = d->C[i * c->ldc + j];
            if (j >= c->N) {
                if (got != SENTINEL) {
                    describe(c, path, threads, what, sizeof what);
                    printf("FAIL %s: C[%lld][%lld] past N was written (%g)\n", what, (long long)i, (long long)j,
                           got);
                    g_failed++;
                    return;
                }
                continue;
            }
            double want = d->want[i * c->N + j];
            if (!(fabs(got - want) <= d->tol[i * c->N + j])) {
                describe(c, path, threads, what, sizeof what);
                printf("FAIL %s: C[%lld][%lld] = %.9g, want %.9g (tol %.3g)\n", what, (long long)i, (long long)j,
                       got, want, d->tol[i * c->N + j]);
                g_failed++;
                return;
            }
        }
}

static int g_n_paths;
static spd_sgemm_isa g_paths[3];

static void run_case(const gemm_case *c, int threads)
{
    gemm_data d;
    make_data(c, &d);
    for (int p = 0; p < g_n_paths; p++) {
        spd_sgemm_set_isa(g_paths[p]);
        spd_set_num_threads(threads);
        check_run(c, &d, spd_sgemm_isa_name(g_paths[p]), threads);
    }
    free_data(&d);
}

static const float alphas[] = {1.0f, 0.5f, 0.0f};
static const float betas[] = {0.0f, 1.0f, -0.5f};

static gemm_case make_case(int64_t M, int64_t N, int64_t K, int ta, int tb, int ab, int pad)
{
    gemm_case c = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K};
    c.alpha = alphas[ab % 3];
    c.beta = betas[(ab / 3) % 3];
    c.nan_c = c.beta == 0.0f && (ab & 1);
    int64_t acols = ta ? M : K, bcols = tb ? K : N;
    int64_t extra[3] = {0, 0, 0};
    if (pad == 1)
        for (int i = 0; i < 3; i++) extra[i] = rnd_range(1, 9);
    else if (pad == 2)
        for (int i = 0; i < 3; i++) extra[i] = 4096 + rnd_range(0, 3);
    c.lda = (acols > 0 ? acols : 1) + extra[0];
    c.ldb = (bcols > 0 ? bcols : 1) + extra[1];
    c.ldc = (N > 0 ? N : 1) + extra[2];
    return c;
}

/* The driver's epilogue (row bias, residual, Relu/Clip/none) on every
 * path: the AVX2 kernels apply bias and clamp in registers (spd_tile_epi),
 * others in a pass. A has NaNs in some rows, so NaN semantics show: Relu
 * turns NaN into 0, Clip keeps it (like spd_act_scalar). */
static void check_epilogue(int64_t M, int64_t N, int64_t K, int act, int with_bias, int with_z, int threads)
{
    float *A = xmalloc((size_t)(M * K) * sizeof(float)), *B = xmalloc((size_t)(K * N) * sizeof(float));
    float *C = xmalloc((size_t)(M * N) * sizeof(float)), *bias = xmalloc((size_t)M * sizeof(float));
    float *Z = xmalloc((size_t)(M * N) * sizeof(float));
    for (int64_t i = 0; i < M * K; i++) A[i] = rnd_float();
    for (int64_t i = 0; i < K * N; i++) B[i] = rnd_float();
    for (int64_t i = 0; i < M; i++) bias[i] = rnd_float();
    for (int64_t i = 0; i < M * N; i++) Z[i] = rnd_float();
    for (int64_t i = 3; i < M; i += 7) A[i * K] = NAN; /* rows of NaN outputs */
    /* act 3: SiLU, 4: SiLU with a scale (x sigmoid(1.702 x)), 5: GELU, 6:
     * HardSwish (x clamp(-0.25 x + 0.5, 0, 1): both bends in range), fused by
     * the AVX-512 kernel */
    static const spd_act_kind kinds[] = {SPD_ACT_NONE, SPD_ACT_RELU, SPD_ACT_CLIP, SPD_ACT_SILU,
                                         SPD_ACT_SILU, SPD_ACT_GELU, SPD_ACT_HARDSWISH};
    const spd_act ac = {kinds[act], act == 3 ? 1.0f : act == 4 ? 1.702f : -0.25f, 0.5f};
    /* with_z 2: Z's first row as a bias over columns (ldz 0, a Gemm's C) */
    const spd_gemm_epi epi = {&ac, with_bias ? bias : NULL, with_z ? Z : NULL, with_z == 2 ? 0 : N};
    for (int p = 0; p < g_n_paths; p++) {
        spd_sgemm_set_isa(g_paths[p]);
        const spd_gemm_a ga = {0, A, K, NULL, NULL, NULL, 0};
        const spd_gemm_b gb = {0, B, N, NULL, NULL, NULL, 0};
        for (int64_t i = 0; i < M * N; i++) C[i] = NAN; /* beta 0 must not read C */
        spd_gemm_run(spd_sgemm_kernel_current(), M, N, K, 1.0f, &ga, &gb, 0.0f, C, N, &epi, threads);
        int bad = 0;
        for (int64_t i = 0; i < M && !bad; i++)
            for (int64_t j = 0; j < N && !bad; j++) {
                double acc = with_bias ? bias[i] : 0.0, mag = fabs(acc);
                for (int64_t q = 0; q < K; q++) {
                    acc += (double)A[i * K + q] * B[q * N + j];
                    mag += fabs((double)A[i * K + q] * B[q * N + j]);
                }
                const float zv = with_z ? Z[(with_z == 2 ? 0 : i * N) + j] : 0.0f;
                acc += zv, mag += fabs(zv);
                const float want = spd_act_scalar(&ac, (float)acc), got = C[i * N + j];
                const int ok = isnan(want) ? isnan(got) : got == want || fabs(got - want) <= 1e-5 * (mag + 1.0);
                if (!ok) {
                    printf("FAIL epilogue %s M=%lld N=%lld K=%lld act=%d bias=%d z=%d threads=%d: C[%lld][%lld] = %.9g, "
                           "want %.9g\n",
                           spd_sgemm_isa_name(g_paths[p]), (long long)M, (long long)N, (long long)K, act, with_bias,
                           with_z, threads, (long long)i, (long long)j, got, want);
                    bad = 1;
                }
            }
        g_checks++;
        g_failed += bad;
    }
    free(A), free(B), free(C), free(bias), free(Z);
}

int main(void)
{
    spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int isa = SPD_SGEMM_REF; isa <= SPD_SGEMM_AVX512; isa++) {
        if (isa > (int)best)
            printf("skip %s: this CPU (or build) lacks it\n", spd_sgemm_isa_name((spd_sgemm_isa)isa));
        else
            g_paths[g_n_paths++] = (spd_sgemm_isa)isa;
    }

    /* Edge sizes around the micro-tile widths, every trans/alpha/beta mix. */
    static const int64_t edges[] = {0, 1, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129};
    const int ne = (int)(sizeof edges / sizeof edges[0]);
    int n = 0;
    for (int i = 0; i < ne; i++)
        for (int j = 0; j < ne; j++) {
            int64_t K = edges[(i * 5 + j * 7) % ne];
            gemm_case c = make_case(edges[i], edges[j], K, n & 1, (n >> 1) & 1, n % 9, n % 7 == 3);
            run_case(&c, n % 3 == 0 ? 2 : 1);
            n++;
        }
    /* Each edge value as K with a tile-sized and an odd M, N. */
    for (int i = 0; i < ne; i++)
        for (int t = 0; t < 4; t++) {
            gemm_case c = make_case(t & 1 ? 13 : 12, t & 2 ? 33 : 32, edges[i], t & 1, t >> 1, i + t, 0);
            run_case(&c, 1);
        }
    /* Random shapes. */
    for (int r = 0; r < 120; r++) {
        int64_t M = rnd_range(1, 300), N = rnd_range(1, 300), K = rnd_range(1, 300);
        gemm_case c = make_case(M, N, K, (int)(rnd() & 1), (int)(rnd() & 1), (int)rnd_range(0, 8),
                                (int)rnd_range(0, 2) == 1 ? 1 : (r % 10 == 0 ? 2 : 0));
        run_case(&c, r % 2 ? 3 : 1);
    }
    /* Several cache blocks in every dimension (K > kc, M > mc, N > nc). */
    {
        gemm_case c = make_case(250, 2100, 530, 0, 0, 4, 1);
        run_case(&c, 2);
        c = make_case(500, 70, 300, 1, 1, 3, 0);
        run_case(&c, 3);
        c = make_case(1, 3000, 40, 0, 1, 0, 0);
        run_case(&c, 2);
        c = make_case(3000, 1, 40, 1, 0, 0, 0);
        run_case(&c, 2);
        c = make_case(70, 200, 2100, 0, 0, 4, 1); /* K past the AVX-512 kernel's kc of 1024 */
        run_case(&c, 2);
        c = make_case(130, 45, 1500, 1, 1, 3, 0);
        run_case(&c, 1);
    }
    /* B read in place by the kernel: upright, rows of 16k floats on cache
     * lines, N >= 512, few rows; N not a multiple of 16 leaves a packed
     * last panel, K > kc several slices. */
    {
        gemm_case c = make_case(100, 600, 300, 0, 0, 4, 0);
        c.ldb = 608;
        run_case(&c, 1);
        c = make_case(37, 1029, 41, 1, 0, 3, 0);
        c.ldb = 1040;
        run_case(&c, 2);
        c = make_case(160, 768, 16, 0, 0, 0, 0);
        run_case(&c, 2);
    }
    /* The epilogue: every activation with and without bias and residual,
     * edge tiles (M, N not multiples of 6, 8, 16, 32), several k slices, the
     * in-place B path (N >= 512, 64-byte rows). */
    for (int act = 0; act < 7; act++)
        for (int bz = 0; bz < 4; bz++) {
            check_epilogue(13, 37, 29, act, bz & 1, bz >> 1, 1);
            check_epilogue(24, 64, 300, act, bz & 1, bz >> 1, 2);
            check_epilogue(7, 512, 20, act, bz & 1, bz >> 1, 1);
            check_epilogue(9, 700, 33, act, bz & 1, bz >> 1, 1); /* rows off cache lines, read in place by AVX-512 */
            check_epilogue(10, 40, 1300, act, bz & 1, bz >> 1, 1);  /* two k slices of the AVX-512 kernel */
        }
    for (int r = 0; r < 12; r++)
        check_epilogue(rnd_range(1, 70), rnd_range(1, 90), rnd_range(1, 600), (int)rnd_range(0, 6), (int)(rnd() & 1),
                       (int)(rnd() & 1), r % 2 ? 2 : 1);
    /* The AVX-512 64-column tiles with A in place (N <= 128): 5- and 6-row
     * tiles, partial ones, a 32-column rest (96), two k slices (1100),
     * every activation with row bias, residual or column bias. */
    {
        static const int64_t ms[] = {1, 4, 5, 6, 10, 12, 13, 125};
        static const int64_t ns[] = {64, 96, 128};
        int i = 0;
        for (int mi = 0; mi < 8; mi++)
            for (int act = 0; act < 7; act++, i++)
                check_epilogue(ms[mi], ns[i % 3], i % 7 == 0 ? 1100 : i % 2 ? 40 : 64, act, i & 1, (i >> 1) % 3,
                               mi % 2 ? 2 : 1);
    }
    /* A bias over columns (fused into the AVX2 tiles' accumulators): full
     * and edge tiles, several k slices, in-place B, alone and beside a row
     * bias (then the pass applies both). */
    for (int act = 0; act < 7; act++) {
        check_epilogue(13, 37, 29, act, 0, 2, 1);
        check_epilogue(24, 64, 300, act, 0, 2, 2);
        check_epilogue(7, 512, 20, act, 0, 2, 1);
        check_epilogue(12, 48, 600, act, 1, 2, 1);
    }
    for (int r = 0; r < 12; r++)
        check_epilogue(rnd_range(1, 70), rnd_range(1, 90), rnd_range(1, 600), (int)rnd_range(0, 2), 0, 2,
                       r % 2 ? 2 : 1);
    /* Scratch allocation fails: the packed paths fall back to the reference. */
    {
        gemm_case c = make_case(40, 50, 60, 0, 0, 3, 0);
        gemm_data d;
        make_data(&c, &d);
        for (int p = 0; p < g_n_paths; p++) {
            spd_sgemm_set_isa(g_paths[p]);
            spd_set_num_threads(1);
            spd_alloc_fail_after(1);
            check_run(&c, &d, spd_sgemm_isa_name(g_paths[p]), 1);
            spd_alloc_fail_after(0);
        }
        free_data(&d);
    }
    /* SPEEDSTER_GEMM_BLOCKING (the second ctest run, test_gemm_blocking,
     * gives 24,200,96: more K slices and column blocks on every path
     * above) reaches the kernels that dividing mr and nr allow */
    const char *blk = getenv("SPEEDSTER_GEMM_BLOCKING");
    long bm, bk, bn;
    if (blk && sscanf(blk, "%ld,%ld,%ld", &bm, &bk, &bn) == 3)
        for (int p = 0; p < g_n_paths; p++) {
            spd_sgemm_set_isa(g_paths[p]);
            const spd_sgemm_kernel *k = spd_sgemm_kernel_current();
            g_checks++;
            if (k && bm % k->mr == 0 && bn % k->nr == 0 && (k->mc != bm || k->kc != bk || k->nc != bn)) {
                printf("FAIL %s: blocking %s not taken (mc %lld kc %lld nc %lld)\n", k->name, blk,
                       (long long)k->mc, (long long)k->kc, (long long)k->nc);
                g_failed++;
            }
        }
    g_checks++;
    if ((spd_alloc_current() - spd_scratch_held()) != 0) {
        printf("FAIL %zu bytes of scratch still allocated\n", (spd_alloc_current() - spd_scratch_held()));
        g_failed++;
    }
    printf("%d checks, %d failed\n", g_checks, g_failed);
    return g_failed ? 1 : 0;
}
