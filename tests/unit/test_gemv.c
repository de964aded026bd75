/* Tests of the matrix-vector path of the GEMM driver (ops/gemv.c): products
 * with 1 to 4 rows through spd_gemm_run, against a double-precision naive
 * GEMM with the epilogue applied in the same order:
 *  - B raw (plain and transposed) or prepacked, A raw (plain, transposed) or
 *    prepacked, padded leading dimensions;
 *  - odd N (1..70) and wide N, odd K and K over several kc slices;
 *  - alpha/beta mixes (beta 0 on a NaN-filled C), row bias, a column bias
 *    (z with ldz 0), a full z, activations;
 *  - one and two threads, on the AVX-512 and AVX2 loops and the portable
 *    ones (the GEMM path forced to ref while the packed layout stays the
 *    kernel's), on the AVX2 and AVX-512 kernels' layouts and on
 *    two made-up packed layouts (mr 3 / nr 32, mr 5 / nr 8, odd kc) whose
 *    packers are written here;
 *  - columns past N never written.
 *
 * One line per failed check; the last line is "N checks, N failed"; exit
 * status 1 when any check fails. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemv.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "speedster.h"
#include "util/alloc.h"
#include "util/scratch.h"

#include "test_util.h"

#define SENTINEL 12345.0f

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- made-up packed layouts (the contract of sgemm_fast.h, in plain C) ---- */

static int g_fake_mr, g_fake_nr;

static void fake_pack_a(int trans, int64_t m, int64_t k, const float *A, int64_t lda, float *dst)
{
    const int mr = g_fake_mr;
    for (int64_t i0 = 0; i0 < m; i0 += mr)
        for (int64_t p = 0; p < k; p++)
            for (int i = 0; i < mr; i++) {
                const int64_t r = i0 + i;
                *dst++ = r >= m ? 0.0f : trans ? A[p * lda + r] : A[r * lda + p];
            }
}

static void fake_pack_b(int trans, int64_t k, int64_t n, const float *B, int64_t ldb, float *dst)
{
    const int nr = g_fake_nr;
    for (int64_t j0 = 0; j0 < n; j0 += nr)
        for (int64_t p = 0; p < k; p++)
            for (int j = 0; j < nr; j++) {
                const int64_t c = j0 + j;
                *dst++ = c >= n ? 0.0f : trans ? B[c * ldb + p] : B[p * ldb + c];
            }
}

/* Only reached if the matrix-vector path declines. */
static void fake_kernel(int64_t k, const float *a, const float *b, float *C, int64_t ldc, int m, int n, float alpha,
                        float beta, const spd_tile_epi *te)
{
    (void)te;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < k; p++) s += a[p * g_fake_mr + i] * b[p * g_fake_nr + j];
            C[i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
        }
}

static spd_sgemm_kernel g_fake = {.name = "fake", .pack_a = fake_pack_a, .pack_b = fake_pack_b, .kernel = fake_kernel};

/* ---- one case ---- */

enum { B_RAW, B_RAW_T, B_PACKED, B_PACKED_T };
enum { A_RAW, A_RAW_T, A_PACKED };
enum { E_NONE, E_ROW_BIAS, E_COL_BIAS, E_FULL_Z };

typedef struct gv_case {
    int64_t M, N, K, pad;
    int bmode, amode, emode;
    spd_act ac;
    float alpha, beta;
    int threads;
    int via_driver; /* through spd_gemm_run rather than spd_gemv_run */
} gv_case;

static const char *const bnames[] = {"B", "B^T", "packed B", "packed B^T"};
static const char *const anames[] = {"A", "A^T", "packed A"};
static const char *const enames[] = {"no epilogue", "row bias", "column bias", "full z"};

static void run_case(const spd_sgemm_kernel *kern, const char *path, const gv_case *c)
{
    const int64_t M = c->M, N = c->N, K = c->K;
    const int ta = c->amode == A_RAW_T, tb = c->bmode == B_RAW_T || c->bmode == B_PACKED_T;
    const int64_t lda = (ta ? M : K) + c->pad, ldb = (tb ? K : N) + c->pad, ldc = N + c->pad + 1;
    const int64_t ldz = N + c->pad;
    float *A = xmalloc((size_t)((ta ? K : M) * lda) * sizeof(float));
    float *B = xmalloc((size_t)((tb ? N : K) * ldb) * sizeof(float));
    float *C0 = xmalloc((size_t)(M * ldc) * sizeof(float)), *C = xmalloc((size_t)(M * ldc) * sizeof(float));
    float *rb = xmalloc((size_t)M * sizeof(float)), *z = xmalloc((size_t)(M * ldz) * sizeof(float));
    for (int64_t i = 0; i < (ta ? K : M) * lda; i++) A[i] = rnd_float();
    for (int64_t i = 0; i < (tb ? N : K) * ldb; i++) B[i] = rnd_float();
    for (int64_t i = 0; i < M; i++) rb[i] = rnd_float();
    for (int64_t i = 0; i < M * ldz; i++) z[i] = rnd_float();
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) C0[i * ldc + j] = j >= N ? SENTINEL : c->beta == 0.0f ? NAN : rnd_float();
    memcpy(C, C0, (size_t)(M * ldc) * sizeof(float));

    float *pa = NULL, *pb = NULL;
    spd_gemm_a ga = {.trans = ta, .p = A, .ld = lda};
    spd_gemm_b gb = {.trans = tb, .p = B, .ld = ldb};
    if (c->amode == A_PACKED) {
        pa = spd_malloc(spd_sgemm_prepacked_a_floats(kern, M, K) * sizeof(float));
        spd_sgemm_prepack_a(kern, 0, M, K, A, lda, pa);
        ga.p = NULL; /* only the packed copy: the path must read it */
        ga.packed = pa;
    }
    if (c->bmode >= B_PACKED) {
        pb = spd_malloc(spd_sgemm_prepacked_b_floats(kern, K, N) * sizeof(float));
        spd_sgemm_prepack_b(kern, tb, K, N, B, ldb, pb);
        gb.p = NULL;
        gb.packed = pb;
    }
    spd_gemm_epi epi = {.ac = &c->ac};
    if (c->emode == E_ROW_BIAS) epi.row_bias = rb;
    if (c->emode == E_COL_BIAS) epi.z = z; /* ldz 0 */
    if (c->emode == E_FULL_Z) {
        epi.z = z;
        epi.ldz = ldz;
    }
    spd_set_num_threads(c->threads);
    spd_status s = SPD_OK;
    bool took = true;
    if (c->via_driver)
        s = spd_gemm_run(kern, M, N, K, c->alpha, &ga, &gb, c->beta, C, ldc, &epi, c->threads);
    else
        took = spd_gemv_run(kern, M, N, K, c->alpha, &ga, &gb, c->beta, C, ldc, &epi, c->threads);

    snprintf(g_label, sizeof g_label, "%s M=%lld N=%lld K=%lld pad=%lld %s %s %s act=%d a=%g b=%g t=%d%s", path,
             (long long)M, (long long)N, (long long)K, (long long)c->pad, anames[c->amode], bnames[c->bmode],
             enames[c->emode], (int)c->ac.kind, c->alpha, c->beta, c->threads, c->via_driver ? " driver" : "");
    check(s == SPD_OK, "status %d", (int)s);
    check(took, "the matrix-vector path declined");
    const double eps = 1.0 / (1 << 23);
    int bad = 0;
    for (int64_t i = 0; i < M && !bad; i++)
        for (int64_t j = 0; j < ldc && !bad; j++) {
            const float got = C[i * ldc + j];
            if (j >= N) {
                if (got != SENTINEL) {
                    check(0, "C[%lld][%lld] past N was written (%g)", (long long)i, (long long)j, got);
                    bad = 1;
                }
                continue;
            }
            double sum = 0, mag = 0;
            for (int64_t p = 0; p < K; p++) {
                const double a = ta ? A[p * lda + i] : A[i * lda + p];
                const double b = tb ? B[j * ldb + p] : B[p * ldb + j];
                sum += a * b;
                mag += fabs(a * b);
            }
            double pre = c->alpha * sum, tol = fabs(c->alpha) * mag * (K + 2) * eps;
            if (c->beta != 0.0f) {
                pre += c->beta * C0[i * ldc + j];
                tol += 2 * fabs(c->beta * C0[i * ldc + j]) * eps;
            }
            if (c->emode == E_ROW_BIAS) pre += rb[i];
            if (c->emode == E_COL_BIAS) pre += z[j];
            if (c->emode == E_FULL_Z) pre += z[i * ldz + j];
            tol += 4 * eps * (fabs(pre) + 2);
            /* the activation is 1-Lipschitz for these kinds: the tolerance carries over */
            const double want = spd_act_scalar(&c->ac, (float)pre);
            if (!(fabs(got - want) <= tol + 4e-7)) {
                check(0, "C[%lld][%lld] = %.9g, want %.9g (tol %.3g)", (long long)i, (long long)j, got, want, tol);
                bad = 1;
            }
        }
    if (!bad) check(1, "ok");
    spd_free(pa);
    spd_free(pb);
    free(A);
    free(B);
    free(C0);
    free(C);
    free(rb);
    free(z);
}

static const float alphas[] = {1.0f, 0.5f, -2.0f};
static const float betas[] = {0.0f, 1.0f, -0.5f};
static const spd_act acts[] = {{SPD_ACT_NONE, 0, 0}, {SPD_ACT_RELU, 0, 0}, {SPD_ACT_SIGMOID, 0, 0},
                               {SPD_ACT_LEAKYRELU, 0.1f, 0}, {SPD_ACT_CLIP, -0.5f, 0.75f}};

static gv_case random_case(int64_t M, int64_t N, int64_t K, int n)
{
    gv_case c = {.M = M, .N = N, .K = K};
    c.pad = n % 3 == 1 ? rnd_range(1, 5) : 0;
    c.bmode = (int)rnd_range(0, 3);
    c.amode = (int)rnd_range(0, 2);
    c.emode = (int)rnd_range(0, 3);
    c.ac = acts[rnd_range(0, 4)];
    c.alpha = alphas[rnd_range(0, 2)];
    c.beta = betas[rnd_range(0, 2)];
    c.threads = n % 2 ? 2 : 1;
    c.via_driver = n % 4 == 3;
    return c;
}

/* Every case on kern with the AVX-512 and AVX2 loops (when the CPU has
 * them) and the portable ones. */
static void run_both(const spd_sgemm_kernel *kern, const char *name, const gv_case *c)
{
    char path[32];
    if (spd_sgemm_isa_best() >= SPD_SGEMM_AVX512) {
        spd_sgemm_set_isa(SPD_SGEMM_AVX512);
        snprintf(path, sizeof path, "%s/avx512", name);
        run_case(kern, path, c);
    }
    if (spd_sgemm_isa_best() >= SPD_SGEMM_AVX2) {
        spd_sgemm_set_isa(SPD_SGEMM_AVX2);
        snprintf(path, sizeof path, "%s/avx2", name);
        run_case(kern, path, c);
    }
    spd_sgemm_set_isa(SPD_SGEMM_REF);
    snprintf(path, sizeof path, "%s/portable", name);
    run_case(kern, path, c);
}

static void sweep(const spd_sgemm_kernel *kern, const char *name)
{
    int n = 0;
    /* odd and small N, K across several slices */
    for (int64_t M = 1; M <= SPD_GEMV_MAX_M; M++)
        for (int r = 0; r < 40; r++, n++) {
            const int64_t N = rnd_range(1, 70) | (r % 4 ? 1 : 0);
            const int64_t K = r % 5 == 0 ? rnd_range(kern->kc + 1, 3 * kern->kc + 7) : rnd_range(1, 90) | 1;
            gv_case c = random_case(M, N, K, n);
            run_both(kern, name, &c);
        }
    /* every B and A mode, each M, one awkward shape */
    for (int64_t M = 1; M <= SPD_GEMV_MAX_M; M++)
        for (int b = 0; b < 4; b++)
            for (int a = 0; a < 3; a++, n++) {
                gv_case c = random_case(M, 37, 2 * kern->kc + 3, n);
                c.bmode = b;
                c.amode = a;
                run_both(kern, name, &c);
            }
    /* over 2^18 floats of B (split over threads) and several chunks wide */
    static const int64_t wide[][2] = {{1000, 300}, {1283, 257}, {2049, 130}};
    for (int w = 0; w < 3; w++)
        for (int64_t M = 1; M <= SPD_GEMV_MAX_M; M += 2, n++) {
            gv_case c = random_case(M, wide[w][0], wide[w][1], n);
            c.threads = 2;
            run_both(kern, name, &c);
        }
}

int main(void)
{
    const spd_sgemm_kernel *avx2 = spd_sgemm_kernel_avx2();
    if (avx2 && spd_sgemm_isa_best() >= SPD_SGEMM_AVX2)
        sweep(avx2, "avx2 layout");
    else
        printf("skip the avx2 layout: this CPU (or build) lacks it\n");

    const spd_sgemm_kernel *avx512 = spd_sgemm_kernel_avx512();
    if (avx512 && spd_sgemm_isa_best() >= SPD_SGEMM_AVX512)
        sweep(avx512, "avx512 layout");
    else
        printf("skip the avx512 layout: this CPU (or build) lacks it\n");

    g_fake.mr = g_fake_mr = 3;
    g_fake.nr = g_fake_nr = 32;
    g_fake.mc = 30;
    g_fake.kc = 100;
    g_fake.nc = 512;
    sweep(&g_fake, "mr3/nr32/kc100");
    g_fake.mr = g_fake_mr = 5;
    g_fake.nr = g_fake_nr = 8;
    g_fake.mc = 40;
    g_fake.kc = 61;
    g_fake.nc = 256;
    sweep(&g_fake, "mr5/nr8/kc61");

    snprintf(g_label, sizeof g_label, "leaks");
    check((spd_alloc_current() - spd_scratch_held()) == 0, "%zu bytes still allocated", (spd_alloc_current() - spd_scratch_held()));
    return test_summary();
}
