/* The matrix-vector path of the GEMM driver (see gemv.h): picks the inner
 * loops for the CPU, cuts the columns of C into tasks and chunks, and
 * applies alpha, beta and the epilogue to each chunk while it is in cache.
 *
 * A task owns a run of whole panels (or 16-column groups of raw B) and
 * walks it CHUNK columns at a time: the chunk's sums sit in a stack buffer
 * while B streams past. Prepacked B is read slice by slice, so each slice
 * of a chunk is one contiguous run of memory. */
#include "ops/gemv.h"

#include <string.h>

#include "util/alloc.h"
#include "util/threadpool.h"

/* Columns a task sums at a time: SPD_GEMV_MAX_M x CHUNK floats of stack
 * (8 KiB), a multiple of every kernel's nr. */
#define CHUNK 512
/* Below this many floats of B (1 MiB, some 20 us from L3) a pool wake-up
 * costs about what the second thread's share of the traffic saves. */
#define PAR_MIN_FLOATS (1 << 18)
/* Tasks per thread, so a thread that starts late still gets a share. */
#define TASKS_PER_THREAD 2
/* A strided or prepacked op(A) of at most this many floats is gathered on
 * the stack, larger on the heap. */
#define A_STACK 2048

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- portable inner loops ---- */

static void panels_c(int m, int64_t k, const float *a, int64_t lda, const float *b, int64_t nr, int64_t npan,
                     float *acc, int64_t ldacc)
{
    for (int64_t q = 0; q < npan; q++)
        for (int r = 0; r < m; r++) {
            float *s = acc + r * ldacc + q * nr;
            const float *bq = b + q * k * nr;
            for (int64_t p = 0; p < k; p++) {
                const float av = a[r * lda + p];
                for (int64_t i = 0; i < nr; i++) s[i] += av * bq[p * nr + i];
            }
        }
}

static void rows_c(int m, int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb, int64_t n, float *acc,
                   int64_t ldacc)
{
    for (int r = 0; r < m; r++)
        for (int64_t p = 0; p < k; p++) {
            const float av = a[r * lda + p];
            for (int64_t j = 0; j < n; j++) acc[r * ldacc + j] += av * B[p * ldb + j];
        }
}

static void dots_c(int m, int64_t k, const float *a, int64_t lda, const float *B, int64_t ldb, int64_t n, float *acc,
                   int64_t ldacc)
{
    for (int r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < k; p++) s += a[r * lda + p] * B[j * ldb + p];
            acc[r * ldacc + j] = s;
        }
}

static const spd_gemv_kernels g_portable = {.panels = panels_c, .rows = rows_c, .dots = dots_c};

/* ---- the driver ---- */

typedef struct gv {
    const spd_gemv_kernels *kr;
    int m;
    int64_t N, K, kc, npad, nr;
    float alpha, beta;
    const float *a;
    int64_t lda;
    const spd_gemm_b *B;
    float *C;
    int64_t ldc;
    const spd_gemm_epi *epi;
    int64_t task_cols; /* columns per task, a multiple of the unit */
} gv;

static const spd_act g_no_act = {SPD_ACT_NONE, 0, 0};

/* C = epi(alpha * acc + beta * C) on columns [c0, c0+n) of every row; the
 * epilogue is the driver's, call for call. */
static void finish(const gv *g, const float *acc, int64_t c0, int64_t n)
{
    const spd_gemm_epi *e = g->epi;
    const bool epi = e && (e->row_bias || e->col_bias || e->z || (e->ac && e->ac->kind != SPD_ACT_NONE));
    for (int r = 0; r < g->m; r++) {
        float *c = g->C + r * g->ldc + c0;
        const float *s = acc + r * CHUNK;
        if (g->beta == 0.0f)
            for (int64_t j = 0; j < n; j++) c[j] = g->alpha * s[j];
        else
            for (int64_t j = 0; j < n; j++) c[j] = g->alpha * s[j] + g->beta * c[j];
        if (e && e->col_bias) spd_add_col_bias(c, e->col_bias + c0, n);
        if (epi)
            spd_vact_bias_f32(e->ac ? e->ac : &g_no_act, c, n, e->row_bias ? e->row_bias[r] : 0.0f,
                              e->z ? e->z + r * e->ldz + c0 : NULL);
    }
}

/* Columns [c0, c0+n) of C, n <= CHUNK, c0 on a panel boundary. */
static void run_chunk(const gv *g, int64_t c0, int64_t n)
{
    float acc[SPD_GEMV_MAX_M * CHUNK] __attribute__((aligned(64)));
    const spd_gemm_b *B = g->B;
    if (B->packed) {
        const int64_t npan = cdiv(n, g->nr);
        for (int r = 0; r < g->m; r++) memset(acc + r * CHUNK, 0, (size_t)(npan * g->nr) * sizeof(float));
        for (int64_t pc = 0; pc < g->K; pc += g->kc) {
            const int64_t k = min64(g->kc, g->K - pc);
            g->kr->panels(g->m, k, g->a + pc, g->lda, B->packed + pc * g->npad + c0 * k, g->nr, npan, acc, CHUNK);
        }
    } else if (B->trans) {
        g->kr->dots(g->m, g->K, g->a, g->lda, B->p + c0 * B->ld, B->ld, n, acc, CHUNK);
    } else {
        for (int r = 0; r < g->m; r++) memset(acc + r * CHUNK, 0, (size_t)n * sizeof(float));
        g->kr->rows(g->m, g->K, g->a, g->lda, B->p + c0, B->ld, n, acc, CHUNK);
    }
    finish(g, acc, c0, n);
}

static void run_task(void *ctx, int64_t t)
{
    const gv *g = ctx;
    const int64_t c_end = min64(g->N, (t + 1) * g->task_cols);
    for (int64_t c0 = t * g->task_cols; c0 < c_end; c0 += CHUNK) run_chunk(g, c0, min64(CHUNK, c_end - c0));
}

bool spd_gemv_run(const spd_sgemm_kernel *kern, int64_t M, int64_t N, int64_t K, float alpha, const spd_gemm_a *A,
                  const spd_gemm_b *B, float beta, float *C, int64_t ldc, const spd_gemm_epi *epi, int threads)
{
    if (!kern || M < 1 || M > SPD_GEMV_MAX_M || N < 1 || K < 1 || alpha == 0.0f) return false;
    if (!B->packed && !B->p) return false; /* a B packer: the driver's job */
    if (B->packed && (kern->nr % 8 || CHUNK % kern->nr)) return false;
    if (!A->p && !A->packed) return false;

    const spd_gemv_kernels *kr = &g_portable;
    if (spd_sgemm_isa_current() >= SPD_SGEMM_AVX2 && spd_gemv_kernels_avx2()) kr = spd_gemv_kernels_avx2();
    spd_gemv_kernels k512;
    if (spd_sgemm_isa_current() >= SPD_SGEMM_AVX512 && kr != &g_portable && B->packed && kern->nr == 32) {
        k512 = *kr;
        k512.panels = spd_gemv_panels32_avx512;
        kr = &k512;
    }

    gv g = {.kr = kr, .m = (int)M, .N = N, .K = K, .alpha = alpha, .beta = beta, .B = B, .C = C, .ldc = ldc,
            .epi = epi};
    if (B->packed) {
        g.nr = kern->nr;
        g.kc = spd_sgemm_kc_b(kern, K);
        g.npad = cdiv(N, g.nr) * g.nr;
    }

    /* op(A) as rows contiguous over p: as it lies, or gathered. */
    float a_stack[A_STACK], *a_heap = NULL;
    if (A->p && !A->trans) {
        g.a = A->p;
        g.lda = A->ld;
    } else {
        float *a = a_stack;
        if (M * K > A_STACK) {
            a = a_heap = spd_malloc((size_t)(M * K) * sizeof(float));
            if (!a) return false;
        }
        if (A->p) { /* transposed: op(A)(i, p) = A[p*ld + i] */
            for (int64_t p = 0; p < K; p++)
                for (int64_t i = 0; i < M; i++) a[i * K + p] = A->p[p * A->ld + i];
        } else { /* prepacked (sgemm_fast.h): slices of mr-row panels */
            const int64_t mr = kern->mr, akc = spd_sgemm_kc(kern, K), mpad = cdiv(M, mr) * mr;
            for (int64_t pc = 0; pc < K; pc += akc) {
                const int64_t k = min64(akc, K - pc);
                const float *s = A->packed + pc * mpad;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t p = 0; p < k; p++) a[i * K + pc + p] = s[i / mr * k * mr + p * mr + i % mr];
            }
        }
        g.a = a;
        g.lda = K;
    }

    /* Tasks of whole units (panels, or 16 columns of raw B). */
    const int64_t unit = B->packed ? g.nr : 16, units = cdiv(N, unit);
    int64_t tasks = 1;
    if (threads > 1 && N * K >= PAR_MIN_FLOATS) tasks = min64(units, (int64_t)threads * TASKS_PER_THREAD);
    g.task_cols = cdiv(units, tasks) * unit;
    tasks = cdiv(N, g.task_cols);
    if (tasks == 1)
        run_task(&g, 0);
    else
        spd_parallel_for(tasks, run_task, &g);
    spd_free(a_heap);
    return true;
}
