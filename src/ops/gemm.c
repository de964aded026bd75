/* spd_sgemm: picks the packed GEMM for the CPU (ops/sgemm_fast.h) or the
 * plain-C reference, and splits large products over the thread pool.
 *
 * Threading: the larger of M and N (counted in micro-tiles) is cut into one
 * block per thread, and each task runs an independent single-threaded packed
 * GEMM on its block of C. Each task packs its own slice of the split operand
 * and all of the other one; that duplicated packing is a 1/(block size)
 * fraction of the work, and in exchange the tasks share no buffers and need
 * no barriers. */
#include "ops/gemm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ops/sgemm_fast.h"
#include "util/alloc.h"
#include "util/cpu.h"
#include "util/threadpool.h"

/* Below this many multiply-adds a pool wake-up costs more than it saves. */
#define PARALLEL_MIN_MACS (1 << 18)

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void spd_sgemm_packed(const spd_sgemm_kernel *kern, int transA, int transB, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (!kern || K <= 0 || alpha == 0.0f) {
        /* Only C = beta*C is left (or there is no kernel): the reference
         * does exactly that without reading A or B. */
        spd_sgemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int64_t mr = kern->mr, nr = kern->nr;
    const int64_t kc = min64(K, kern->kc);
    const int64_t mc = min64(round_up(M, mr), kern->mc);
    /* With a single row block of A, a packed B panel is used once, right
     * after packing: keep it small enough to still be in L2 then. */
    const int64_t nc_max = M <= kern->mc ? 512 : kern->nc;
    const int64_t nc = min64(round_up(N, nr), nc_max);
    /* Both panels in one block; the B part starts on a 64-byte boundary
     * because mc*kc floats is a multiple of 16 floats when mr or kc is even,
     * and is rounded up otherwise. */
    const size_t a_floats = (size_t)round_up(mc * kc, 16);
    float *ap = spd_malloc((a_floats + (size_t)(kc * nc)) * sizeof(float));
    if (!ap) {
        spd_sgemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    float *bp = ap + a_floats;

    for (int64_t jc = 0; jc < N; jc += nc) {
        const int64_t n = min64(nc, N - jc);
        for (int64_t pc = 0; pc < K; pc += kc) {
            const int64_t k = min64(kc, K - pc);
            /* Later K slices accumulate onto what the first one wrote. */
            const float bt = pc == 0 ? beta : 1.0f;
            kern->pack_b(transB, k, n, transB ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, bp);
            for (int64_t ic = 0; ic < M; ic += mc) {
                const int64_t m = min64(mc, M - ic);
                kern->pack_a(transA, m, k, transA ? A + pc * lda + ic : A + ic * lda + pc, lda, ap);
                for (int64_t jr = 0; jr < n; jr += nr) {
                    const int nn = (int)min64(nr, n - jr);
                    const float *b = bp + jr * k;
                    float *c = C + ic * ldc + jc + jr;
                    for (int64_t ir = 0; ir < m; ir += mr)
                        kern->kernel(k, ap + ir * k, b, c + ir * ldc, ldc, (int)min64(mr, m - ir), nn, alpha, bt);
                }
            }
        }
    }
    spd_free(ap);
}

/* ---- dispatch ---- */

static atomic_int g_isa = -1; /* -1: not chosen yet */

spd_sgemm_isa spd_sgemm_isa_best(void)
{
    const spd_cpu_features *f = spd_cpu();
    if (f->avx512f && f->avx2 && f->fma && spd_sgemm_kernel_avx512()) return SPD_SGEMM_AVX512;
    if (f->avx2 && f->fma && spd_sgemm_kernel_avx2()) return SPD_SGEMM_AVX2;
    return SPD_SGEMM_REF;
}

spd_sgemm_isa spd_sgemm_set_isa(spd_sgemm_isa isa)
{
    spd_sgemm_isa best = spd_sgemm_isa_best();
    if ((int)isa < 0 || isa > best) isa = best;
    atomic_store(&g_isa, (int)isa);
    return isa;
}

spd_sgemm_isa spd_sgemm_isa_current(void)
{
    int isa = atomic_load(&g_isa);
    if (isa >= 0) return (spd_sgemm_isa)isa;
    spd_sgemm_isa want = spd_sgemm_isa_best();
    const char *env = getenv("SPEEDSTER_ISA");
    if (env) {
        if (!strcmp(env, "ref"))
            want = SPD_SGEMM_REF;
        else if (!strcmp(env, "avx2"))
            want = SPD_SGEMM_AVX2;
        else if (!strcmp(env, "avx512"))
            want = SPD_SGEMM_AVX512;
    }
    return spd_sgemm_set_isa(want);
}

const char *spd_sgemm_isa_name(spd_sgemm_isa isa)
{
    switch (isa) {
    case SPD_SGEMM_AVX2: return "avx2";
    case SPD_SGEMM_AVX512: return "avx512";
    default: return "ref";
    }
}

static const spd_sgemm_kernel *current_kernel(void)
{
    switch (spd_sgemm_isa_current()) {
    case SPD_SGEMM_AVX512: return spd_sgemm_kernel_avx512();
    case SPD_SGEMM_AVX2: return spd_sgemm_kernel_avx2();
    default: return NULL;
    }
}

/* ---- threading ---- */

typedef struct gemm_job {
    const spd_sgemm_kernel *kern; /* NULL: the reference */
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc, block;
    int by_rows;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

static void run_block(const gemm_job *j, int64_t M, int64_t N, const float *A, const float *B, float *C)
{
    if (j->kern)
        spd_sgemm_packed(j->kern, j->ta, j->tb, M, N, j->K, j->alpha, A, j->lda, B, j->ldb, j->beta, C, j->ldc);
    else
        spd_sgemm_ref(j->ta, j->tb, M, N, j->K, j->alpha, A, j->lda, B, j->ldb, j->beta, C, j->ldc);
}

static void gemm_task(void *ctx, int64_t t)
{
    const gemm_job *j = ctx;
    int64_t lo = t * j->block;
    if (j->by_rows) {
        int64_t m = min64(j->block, j->M - lo);
        run_block(j, m, j->N, j->ta ? j->A + lo : j->A + lo * j->lda, j->B, j->C + lo * j->ldc);
    } else {
        int64_t n = min64(j->block, j->N - lo);
        run_block(j, j->M, n, j->A, j->tb ? j->B + lo * j->ldb : j->B + lo, j->C + lo);
    }
}

void spd_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    const spd_sgemm_kernel *kern = current_kernel();
    int threads = spd_thread_count();
    if (threads <= 1 || M * N * (K > 0 ? K : 1) < PARALLEL_MIN_MACS) {
        run_block(&(gemm_job){.kern = kern, .ta = transA, .tb = transB, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                              .alpha = alpha, .beta = beta},
                  M, N, A, B, C);
        return;
    }
    gemm_job j = {kern, transA, transB, M, N, K, lda, ldb, ldc, 0, 0, alpha, beta, A, B, C};
    const int64_t mr = kern ? kern->mr : 4, nr = kern ? kern->nr : 16;
    /* Split the dimension with more micro-tiles, so blocks stay whole tiles. */
    j.by_rows = (M + mr - 1) / mr >= (N + nr - 1) / nr;
    const int64_t span = j.by_rows ? M : N, align = j.by_rows ? mr : nr;
    j.block = round_up((span + threads - 1) / threads, align);
    spd_parallel_for((span + j.block - 1) / j.block, gemm_task, &j);
}
