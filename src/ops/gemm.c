/* The packed-GEMM driver (spd_gemm_run) and spd_sgemm on top of it: picks
 * the packed kernel for the CPU (ops/sgemm_fast.h) or the plain-C
 * reference, and splits products over the thread pool.
 *
 * Threading: C is cut into a grid of row x column blocks (whole micro-tiles)
 * and each block is one task that runs the single-threaded packed loops on
 * it, packing its own slices of whatever is not prepacked. The grid is
 * chosen by a small cost model (multiply-adds, plus the packing each task
 * repeats, plus a per-task overhead, times the number of waves over the
 * threads), so skinny products split along whichever side balances, and
 * tasks share no buffers and need no barriers.
 *
 * Inside a block (Goto's loop order): for each kc-deep slice, the block's
 * B slice is packed (or found prepacked); for each mc-row chunk of A the
 * chunk (L2-sized) is packed (or found prepacked); then every nr-wide B
 * panel (L1-sized) meets every mr-row A panel of the chunk (when the block
 * is one chunk, each B panel is packed as it is reached). In the last
 * slice the epilogue (bias, residual, activation) runs on each 256 columns
 * of the chunk as soon as they are written, while they are in cache. */
#include "ops/gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemv.h"
#include "ops/sgemm_fast.h"
#include "util/alloc.h"
#include "util/cpu.h"
#include "util/scratch.h"
#include "util/threadpool.h"

/* Below this many multiply-adds a pool wake-up costs more than it saves. */
#define PARALLEL_MIN_MACS (1 << 18)
/* What a task costs besides its arithmetic (wake-up, scratch, edge tiles),
 * in multiply-adds. */
#define TASK_OVERHEAD 20000.0
/* Widest column block over prepacked B, for balance (a task's B slice
 * packed per task is bounded by the kernel's nc instead: Goto's L3 block). */
#define NB_PREPACKED 512
/* The epilogue runs on this many columns of a row chunk at a time, right
 * after the micro-kernel wrote them (mc x 256 floats stay in L2). */
#define EPI_COLS 256

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

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

/* SPEEDSTER_GEMM_BLOCKING=mc,kc,nc: the kernels' cache blocking, for trying
 * other blockings in a whole model on another CPU without a rebuild (the
 * device Xeon's 1x1 convolutions ran 1.4x ORT's time where this CPU's run
 * 1.1x: bench/device/run.sh); also a second set of slicing paths for the
 * tests. Read once; a kernel whose mr or nr does not divide mc or nc keeps
 * its own. */
static pthread_once_t g_blocking_once = PTHREAD_ONCE_INIT;
static spd_sgemm_kernel g_blocked[2]; /* avx512, avx2 */
static bool g_blocked_on[2];

static void read_blocking(void)
{
    const char *e = getenv("SPEEDSTER_GEMM_BLOCKING");
    long mc, kc, nc;
    char tail;
    if (!e || sscanf(e, "%ld,%ld,%ld%c", &mc, &kc, &nc, &tail) != 3 || mc < 1 || kc < 8 || kc > 8192 || nc < 1)
        return;
    const spd_sgemm_kernel *ks[2] = {spd_sgemm_kernel_avx512(), spd_sgemm_kernel_avx2()};
    for (int i = 0; i < 2; i++) {
        if (!ks[i] || mc % ks[i]->mr || nc % ks[i]->nr) continue;
        g_blocked[i] = *ks[i];
        g_blocked[i].mc = mc;
        g_blocked[i].kc = kc;
        g_blocked[i].nc = nc;
        g_blocked_on[i] = true;
    }
}

const spd_sgemm_kernel *spd_sgemm_kernel_current(void)
{
    pthread_once(&g_blocking_once, read_blocking);
    switch (spd_sgemm_isa_current()) {
    case SPD_SGEMM_AVX512: return g_blocked_on[0] ? &g_blocked[0] : spd_sgemm_kernel_avx512();
    case SPD_SGEMM_AVX2: return g_blocked_on[1] ? &g_blocked[1] : spd_sgemm_kernel_avx2();
    default: return NULL;
    }
}

/* ---- prepacking ---- */

int64_t spd_sgemm_kc(const spd_sgemm_kernel *kern, int64_t K) { return min64(K, kern->kc); }

int64_t spd_sgemm_kc_b(const spd_sgemm_kernel *kern, int64_t K)
{
    return K <= kern->kc + kern->kc / 8 ? K : kern->kc;
}

size_t spd_sgemm_prepacked_a_floats(const spd_sgemm_kernel *kern, int64_t M, int64_t K)
{
    return (size_t)(round_up(M, kern->mr) * K);
}

size_t spd_sgemm_prepacked_b_floats(const spd_sgemm_kernel *kern, int64_t K, int64_t N)
{
    return (size_t)(round_up(N, kern->nr) * K);
}

void spd_sgemm_prepack_a(const spd_sgemm_kernel *kern, int trans, int64_t M, int64_t K, const float *A, int64_t lda,
                         float *dst)
{
    const int64_t kc = spd_sgemm_kc(kern, K), mpad = round_up(M, kern->mr);
    for (int64_t pc = 0; pc < K; pc += kc)
        kern->pack_a(trans, M, min64(kc, K - pc), trans ? A + pc * lda : A + pc, lda, dst + pc * mpad);
}

void spd_sgemm_prepack_b(const spd_sgemm_kernel *kern, int trans, int64_t K, int64_t N, const float *B, int64_t ldb,
                         float *dst)
{
    const int64_t kc = spd_sgemm_kc_b(kern, K), npad = round_up(N, kern->nr);
    for (int64_t pc = 0; pc < K; pc += kc)
        kern->pack_b(trans, min64(kc, K - pc), N, trans ? B + pc : B + pc * ldb, ldb, dst + pc * npad);
}

/* ---- the driver ---- */

typedef struct drv {
    const spd_sgemm_kernel *kern; /* NULL: the reference */
    int64_t M, N, K, kc, mpad, npad;
    float alpha, beta;
    const spd_gemm_a *A;
    const spd_gemm_b *B;
    float *C;
    int64_t ldc;
    const spd_gemm_epi *epi;
    int64_t mb, nb, ncols; /* the task grid */
    atomic_int failed;
} drv;

static const spd_act g_no_act = {SPD_ACT_NONE, 0, 0};

static void epilogue(const spd_gemm_epi *e, float *C, int64_t ldc, int64_t r0, int64_t m, int64_t c0, int64_t n)
{
    if (!e || (!e->row_bias && !e->col_bias && !e->z && (!e->ac || e->ac->kind == SPD_ACT_NONE))) return;
    const spd_act *ac = e->ac ? e->ac : &g_no_act;
    for (int64_t r = r0; r < r0 + m; r++) {
        if (e->col_bias) spd_add_col_bias(C + r * ldc + c0, e->col_bias + c0, n);
        spd_vact_bias_f32(ac, C + r * ldc + c0, n, e->row_bias ? e->row_bias[r] : 0.0f,
                          e->z ? e->z + r * e->ldz + c0 : NULL);
    }
}

static void ref_block(drv *d, int64_t r0, int64_t m, int64_t c0, int64_t n)
{
    const spd_gemm_a *A = d->A;
    const spd_gemm_b *B = d->B;
    if ((!A->p || !B->p) && d->K > 0 && d->alpha != 0.0f) { /* a B packer only: nothing to fall back on */
        atomic_store(&d->failed, 1);
        return;
    }
    spd_sgemm_ref(A->trans, B->trans, m, n, d->K, d->alpha, A->trans ? A->p + r0 : A->p + r0 * A->ld, A->ld,
                  B->trans ? B->p + c0 * B->ld : B->p + c0, B->ld, d->beta, d->C + r0 * d->ldc + c0, d->ldc);
    epilogue(d->epi, d->C, d->ldc, r0, m, c0, n);
}

/* A block of up to this many rows packs A as one chunk, not the kernel's
 * mc rows and a remainder: each chunk streams the block's B panels again,
 * prepacked weights from memory. ViT's 197 tokens in chunks of 144 + 53
 * ran its QKV and FC1 products 5-7% slower at 2 threads; beyond ~200 rows
 * (BERT at batch 4) the larger chunk no longer fits L2 with the rest. A
 * multiple of the AVX2 and AVX-512 kernels' mr. */
#define MC_ONE_CHUNK 204

/* With at most this many rows in a chunk, the kernels prefetch C's rows
 * C_AHEAD_PANELS panels (4 nr) ahead of the tile they write: few row tiles
 * per panel, so the lines are still in L1 when their tile comes, and the
 * write-allocate misses of a wide, freshly allocated output are off the
 * critical path (cold C: 96x12544x16 ran 0.66x as long, 16x12544x32
 * 0.79x; with ~100 row tiles per panel the lines were evicted before use:
 * 576x196x96 ran 1.1x). For the AVX-512 kernel's two-line panels this
 * was one line two panels ahead: squeezenet's stem (64 x 12321, K = 27)
 * after a pass that evicted the caches ran 355 us; both lines four panels
 * ahead, 268-312 us (ORT's: 230). */
#define C_AHEAD_MAX_ROWS 160
#define C_AHEAD_PANELS 4

/* Whether the kernel reads B in place (kernel_sb) instead of from packed
 * panels: B raw and upright, with long rows starting on cache lines (a
 * pointwise convolution's X: packing copies all of X once per row block,
 * while read in place a panel's rows stay in L1 for the block's row tiles
 * just the same; 1x1 convs of mobilenet_v2 and resnet50 with 3136-12544
 * columns and 24-144 rows of W ran up to 15% faster). Short or misaligned rows (49 or 196
 * columns) straddle lines and ran slower with the AVX2 kernel, so they stay
 * packed there; the AVX-512 kernel reads misaligned rows in place at little
 * cost (squeezenet's 1x1 convolutions on 55x55 and 27x27 planes took 0.9x
 * as long). */
#define DIRECT_B_MIN_N 512
/* With more rows of A a packed panel is shared by enough tiles to pay
 * for its copy (256 rows: packed 4% faster). */
#define DIRECT_B_MAX_M 160

static bool direct_b(const drv *d)
{
    const spd_gemm_b *B = d->B;
    if (!d->kern->kernel_sb || B->packed || B->pack || B->trans || !B->p) return false;
    const bool lines = B->ld % 16 == 0 && ((uintptr_t)B->p & 63) == 0;
    return d->M <= DIRECT_B_MAX_M && (d->N >= DIRECT_B_MIN_N || B->in_place) && (lines || d->kern->sb_unaligned);
}

/* Whether the kernel reads A in place (kernel_sa) instead of from packed
 * panels: A raw and upright, and few column panels to share a packed
 * panel's copy (a channels-last 1x1 convolution of 64 output channels has
 * two: keyword spotting's packed A took 8% of its time). */
#define DIRECT_A_MAX_N 128

/* kernel_sa_wide's tile height for m rows: its most or one less, whichever
 * computes fewer rows (125 pixels: 25 tiles of 5, not 21 of 6). */
int64_t spd_sgemm_wide_rows(const spd_sgemm_kernel *kern, int64_t m)
{
    const int64_t most = kern->wide_mr;
    return cdiv(m, most - 1) * (most - 1) < cdiv(m, most) * most ? most - 1 : most;
}

/* Wider products too, in the 64-column tiles (kernel_sa_wide), when K is
 * one cache slice and the 5- or 6-row tiles waste no more rows than the
 * 8-row ones: 196x384x64 (a channels-last expansion) 0.93x as long as
 * packed, 49x960x160 0.89x, ViT's 197x2304x768 0.94x; 128x2304x768 (8-row
 * tiles fit 128) 1.015x, 128x768x3072 (three slices) 1.09x. */
static bool wide_a(const drv *d)
{
    const spd_sgemm_kernel *k = d->kern;
    if (!k->kernel_sa_wide || d->K > d->kc) return false;
    const int64_t h = spd_sgemm_wide_rows(k, d->M);
    return cdiv(d->M, h) * h <= cdiv(d->M, k->mr) * k->mr;
}

static bool direct_a(const drv *d, bool b_direct)
{
    const spd_gemm_a *A = d->A;
    return d->kern->kernel_sa && !b_direct && !A->packed && !A->pack && !A->trans && A->p &&
           (d->N <= DIRECT_A_MAX_N || wide_a(d));
}

/* A bias over columns: the epilogue's z as one row (ldz 0), a Gemm's C. */
static bool col_bias(const spd_gemm_epi *e) { return e && e->z && e->ldz == 0 && !e->row_bias; }

/* Whether the kernel applies the epilogue itself (spd_tile_epi): a row or
 * column bias, a residual laid out like C and Relu or Clip (and SiLU and
 * GELU where the kernel has them: EfficientNet's expansions spent as long
 * in a SiLU pass over their output as in the product; a transformer's FC1
 * 3-4% of its time in the GELU pass), on a product
 * that starts C afresh, with the clamp it takes. Other activations keep the
 * pass over each finished 256 columns (a Gemm's bias over columns went
 * there too, 1-2% of a transformer's time). */
static bool tile_epi_fits(const drv *d, int *clamp, float *lo, float *hi)
{
    const spd_gemm_epi *e = d->epi;
    *clamp = SPD_CLAMP_NONE;
    *lo = *hi = 0.0f;
    if (!d->kern->fuses_epi || !e || (e->z && e->ldz != d->ldc && !col_bias(e)) || d->alpha != 1.0f ||
        d->beta != 0.0f || (e->col_bias && (e->row_bias || col_bias(e))))
        return false;
    if (!spd_tile_clamp(d->kern, e->ac, clamp, lo, hi)) return false;
    return e->row_bias || e->col_bias || e->z || *clamp != SPD_CLAMP_NONE;
}

bool spd_tile_clamp(const spd_sgemm_kernel *kern, const spd_act *ac, int *clamp, float *lo, float *hi)
{
    *clamp = SPD_CLAMP_NONE;
    *lo = *hi = 0.0f;
    switch (ac ? ac->kind : SPD_ACT_NONE) {
    case SPD_ACT_NONE: return true;
    case SPD_ACT_RELU: *clamp = SPD_CLAMP_RELU; return true;
    case SPD_ACT_CLIP:
        *clamp = SPD_CLAMP_CLIP;
        *lo = ac->a;
        *hi = ac->b;
        return true;
    case SPD_ACT_SILU:
        *clamp = SPD_CLAMP_SILU;
        *lo = ac->a;
        return kern->epi_silu != 0;
    case SPD_ACT_GELU: *clamp = SPD_CLAMP_GELU; return kern->epi_gelu != 0;
    case SPD_ACT_HARDSWISH:
        *clamp = SPD_CLAMP_HARDSWISH;
        *lo = ac->a;
        *hi = ac->b;
        return kern->epi_hardswish != 0;
    default: return false;
    }
}

/* Rows pc..pc+k of B's columns c0..c0+n in the kernel's panels. */
static void pack_b_cols(const drv *d, int64_t pc, int64_t k, int64_t c0, int64_t n, float *dst)
{
    const spd_gemm_b *B = d->B;
    if (B->pack)
        B->pack(B->ctx, pc, k, c0, n, dst);
    else
        d->kern->pack_b(B->trans, k, n, B->trans ? B->p + c0 * B->ld + pc : B->p + pc * B->ld + c0, B->ld, dst);
}

static void packed_block(drv *d, int64_t r0, int64_t m, int64_t c0, int64_t n)
{
    const spd_sgemm_kernel *kern = d->kern;
    const spd_gemm_a *A = d->A;
    const spd_gemm_b *B = d->B;
    const int64_t mr = kern->mr, nr = kern->nr, kc = d->kc, K = d->K, ldc = d->ldc;
    const int64_t mc = round_up(m, mr) <= MC_ONE_CHUNK ? round_up(m, mr) : min64(kern->mc, round_up(m, mr));
    const bool direct = direct_b(d), a_direct = direct_a(d, direct);
    int clamp;
    float lo, hi;
    const bool fused = tile_epi_fits(d, &clamp, &lo, &hi);
    const int64_t full = direct ? n / nr * nr : 0; /* direct: columns read in place; the rest packed */
    const size_t a_n = A->packed || a_direct ? 0 : (size_t)round_up(mc * kc, 16);
    /* With one row chunk, each B panel is packed just before its tiles use
     * it, into a buffer that stays in L2, not the block's whole slice
     * first: the slice went out to L3 and came back (resnet50's stride-2
     * 3x3 convolutions, 1024 x 416 floats a slice: 1.011x-1.022x as long
     * in the whole model) */
    const bool jit = !B->packed && !direct && round_up(m, mr) <= mc;
    const size_t b_n = B->packed ? 0
                       : direct ? (size_t)(kc * nr)
                       : jit    ? (size_t)(kc * 2 * nr) /* a wide tile's two panels */
                                : (size_t)(kc * round_up(n, nr));
    float *buf = NULL;
    if (a_n + b_n) {
        buf = spd_scratch(SPD_SCRATCH_GEMM, (a_n + b_n) * sizeof(float));
        if (!buf) {
            ref_block(d, r0, m, c0, n);
            return;
        }
    }
    float *ap = buf, *bp = buf + a_n;
    for (int64_t pc = 0; pc < K; pc += kc) {
        const int64_t k = min64(kc, K - pc);
        const float bt = pc == 0 ? d->beta : 1.0f; /* later slices accumulate */
        const float *bb = bp;
        if (B->packed)
            bb = B->packed + pc * d->npad + c0 * k;
        else if (direct) {
            if (full < n) kern->pack_b(0, k, n - full, B->p + pc * B->ld + c0 + full, B->ld, bp);
        } else if (!jit)
            pack_b_cols(d, pc, k, c0, n, bp);
        for (int64_t ic = 0; ic < m; ic += mc) {
            const int64_t mm = min64(mc, m - ic), r = r0 + ic;
            const float *aa = ap;
            if (A->packed)
                aa = A->packed + pc * d->mpad + r * k;
            else if (a_direct)
                aa = A->p + r * A->ld + pc;
            else if (A->pack)
                A->pack(A->ctx, pc, k, r, mm, ap);
            else
                kern->pack_a(A->trans, mm, k, A->trans ? A->p + pc * A->ld + r : A->p + r * A->ld + pc, A->ld, ap);
            float *cc = d->C + r * ldc + c0;
            const bool last = pc + k >= K, cb = fused && col_bias(d->epi);
            const float *z = fused && last && d->epi->z && !cb ? d->epi->z + r * ldc + c0 : NULL;
            const float *zc = cb && pc == 0 ? d->epi->z + c0 : NULL; /* the column bias, from column c0 */
            if (fused && pc == 0 && d->epi->col_bias) zc = d->epi->col_bias + c0;
            spd_tile_epi te = {fused && pc == 0 && d->epi->row_bias ? d->epi->row_bias + r : NULL, NULL, z,
                               fused && last ? clamp : SPD_CLAMP_NONE, lo, hi,
                               round_up(mm, mr) <= C_AHEAD_MAX_ROWS ? C_AHEAD_PANELS * nr : 0};
            const spd_tile_epi *tep = kern->fuses_epi ? &te : NULL;
            int nn; /* this step's columns */
            for (int64_t jr = 0, e0 = 0; jr < n; jr += nn) {
                const bool wide = a_direct && kern->kernel_sa_wide && n - jr >= 2 * nr;
                nn = (int)min64(wide ? 2 * nr : nr, n - jr);
                const float *b = direct ? bp : bb + jr * k;
                if (jit) {
                    pack_b_cols(d, pc, k, c0 + jr, nn, bp);
                    b = bp;
                }
                if (zc) te.col_bias = zc + jr;
                if (wide) {
                    const int64_t h = spd_sgemm_wide_rows(kern, mm), tiles = cdiv(mm, h);
                    /* prepacked B comes from memory: each row tile fetches
                     * its share of the next two panels (all of it in the
                     * first tile asked for 25 bytes a cycle: EfficientNet's
                     * 7x7 expansions, 49 rows, ran 1.16x as long as packed) */
                    te.b_ahead = B->packed && jr + nn < n ? 2 * k * nr : 0;
                    for (int64_t ir = 0, t = 0; ir < mm; ir += h, t++) {
                        if (te.bias) te.bias = d->epi->row_bias + r + ir;
                        if (z) te.z = z + ir * ldc + jr;
                        te.b_from = t * k / tiles;
                        te.b_to = (t + 1) * k / tiles;
                        kern->kernel_sa_wide(k, aa + ir * A->ld, A->ld, b, k * nr, cc + ir * ldc + jr, ldc,
                                             (int)min64(h, mm - ir), d->alpha, bt, tep);
                    }
                } else if (jr < full) {
                    const float *bd = B->p + pc * B->ld + c0 + jr;
                    for (int64_t ir = 0; ir < mm; ir += mr) {
                        te.b_later = ir > 0;
                        if (te.bias) te.bias = d->epi->row_bias + r + ir;
                        if (z) te.z = z + ir * ldc + jr;
                        kern->kernel_sb(k, aa + ir * k, bd, B->ld, cc + ir * ldc + jr, ldc, (int)min64(mr, mm - ir),
                                        nn, d->alpha, bt, tep);
                    }
                } else {
                    for (int64_t ir = 0; ir < mm; ir += mr) {
                        if (te.bias) te.bias = d->epi->row_bias + r + ir;
                        if (z) te.z = z + ir * ldc + jr;
                        /* prepacked B comes from memory (a channels-last 1x1
                         * convolution's weights): the panel's first tile
                         * fetches the next panel as it goes (EfficientNet's
                         * 7x7 expansions ran 1.15x as long channels-last as
                         * with W as the prepacked A, which is prefetched) */
                        te.b_ahead = B->packed && ir == 0 && jr + nr < n ? k * nr : 0;
                        if (a_direct)
                            kern->kernel_sa(k, aa + ir * A->ld, A->ld, b, cc + ir * ldc + jr, ldc,
                                            (int)min64(mr, mm - ir), nn, d->alpha, bt, tep);
                        else
                            kern->kernel(k, aa + ir * k, b, cc + ir * ldc + jr, ldc, (int)min64(mr, mm - ir), nn,
                                         d->alpha, bt, tep);
                    }
                }
                if (!fused && last && (jr + nn - e0 >= EPI_COLS || jr + nn == n)) {
                    epilogue(d->epi, d->C, ldc, r, mm, c0 + e0, jr + nn - e0);
                    e0 = jr + nn;
                }
            }
        }
    }
}

static void run_block(drv *d, int64_t r0, int64_t m, int64_t c0, int64_t n)
{
    if (d->kern && d->K > 0 && d->alpha != 0.0f)
        packed_block(d, r0, m, c0, n);
    else
        ref_block(d, r0, m, c0, n);
}

static void block_task(void *ctx, int64_t t)
{
    drv *d = ctx;
    const int64_t r0 = t / d->ncols * d->mb, c0 = t % d->ncols * d->nb;
    run_block(d, r0, min64(d->mb, d->M - r0), c0, min64(d->nb, d->N - c0));
}

/* The task grid: block sizes *mb x *nb (whole micro-tiles) minimising
 * waves x (arithmetic + repeated packing + overhead) of one task. */
/* n columns in nr-wide panels, the last one counted as half a panel when
 * it has at most nr / 2 columns: the kernels then compute one vector, not
 * two (squeezenet's classifier, 169 columns: 176 of work, not 192). */
static int64_t narrow_end(int64_t n, int64_t nr)
{
    const int64_t rem = n % nr;
    return rem && rem <= nr / 2 ? n - rem + nr / 2 : round_up(n, nr);
}

static void choose_grid(const drv *d, int threads, int64_t *mb, int64_t *nb)
{
    const bool packed = d->kern && d->K > 0 && d->alpha != 0.0f;
    const int64_t nr = d->kern ? d->kern->nr : 16;
    /* rows in units of the tiles that will run them: the 5- or 6-row wide
     * tiles where A is read in place (keyword spotting's 125 pixels at 2
     * threads: 65 + 60 rows, every tile full, not 64 + 61 with a tile of 4
     * and one of 1) */
    const bool wide = packed && d->kern->kernel_sa_wide && d->N >= 2 * nr && direct_a(d, direct_b(d));
    const int64_t mr = !d->kern ? 4 : wide ? spd_sgemm_wide_rows(d->kern, d->M) : d->kern->mr;
    const int64_t mt = cdiv(d->M, mr), nt = cdiv(d->N, nr);
    const double K = (double)(d->K > 0 ? d->K : 1);
    /* multiply-adds per element of A or B a task reads: packing one is a
     * copy or transpose; a prepacked one is still streamed from memory (a
     * weight-heavy product had better split the weights than share them) */
    const double a_cost = !packed                               ? 0.0
                          : d->A->packed                        ? 1.0
                          : d->A->pack && d->A->pack_cost > 0 ? d->A->pack_cost
                                                                : 8.0;
    const double b_cost = !packed            ? 0.0
                          : d->B->packed     ? 1.0
                          : d->B->pack && d->B->pack_cost > 0 ? d->B->pack_cost
                                                               : 4.0;
    const int64_t nb_max = cdiv(packed && !d->B->packed ? d->kern->nc : NB_PREPACKED, nr);
    const int64_t c_lo = cdiv(nt, nb_max), c_hi = min64(nt, c_lo + 4 * threads);
    const int64_t r_hi = min64(mt, 4 * threads);
    double best = -1;
    *mb = mt * mr;
    *nb = cdiv(nt, c_lo) * nr;
    if (threads <= 1) return; /* one wave: the fewest tasks cost least */
    for (int64_t nrows = 1; nrows <= r_hi; nrows++) {
        const int64_t mbt = cdiv(mt, nrows);
        if (nrows > 1 && cdiv(mt, mbt) != nrows) continue; /* same grid as a smaller count */
        for (int64_t ncols = c_lo; ncols <= c_hi; ncols++) {
            const int64_t nbt = cdiv(nt, ncols);
            if (ncols > c_lo && cdiv(nt, nbt) != ncols) continue;
            /* the widest task's columns: a full block, or with one block
             * the matrix's, whose last panel costs half when half empty
             * (the kernels' narrow tile) */
            const double rows = (double)(mbt * mr), cols = (double)(ncols > 1 ? nbt * nr : narrow_end(d->N, nr));
            const double task = rows * cols * K + a_cost * rows * K + b_cost * cols * K + TASK_OVERHEAD;
            const double cost = (double)cdiv(nrows * ncols, threads) * task;
            if (best < 0 || cost < best * 0.999) {
                best = cost;
                *mb = mbt * mr;
                *nb = nbt * nr;
            }
        }
    }
}

spd_status spd_gemm_run(const spd_sgemm_kernel *kern, int64_t M, int64_t N, int64_t K, float alpha,
                        const spd_gemm_a *A, const spd_gemm_b *B, float beta, float *C, int64_t ldc,
                        const spd_gemm_epi *epi, int threads)
{
    if (M <= 0 || N <= 0) return SPD_OK;
    if (M <= SPD_GEMV_MAX_M && spd_gemv_run(kern, M, N, K, alpha, A, B, beta, C, ldc, epi, threads)) return SPD_OK;
    drv d = {.kern = kern, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C,
             .ldc = ldc, .epi = epi};
    atomic_init(&d.failed, 0);
    if (kern) {
        d.kc = B->packed ? spd_sgemm_kc_b(kern, K) : spd_sgemm_kc(kern, K);
        d.mpad = round_up(M, kern->mr);
        d.npad = round_up(N, kern->nr);
    }
    if (threads < 1 || M * N * (K > 0 ? K : 1) < PARALLEL_MIN_MACS) threads = 1;
    choose_grid(&d, threads, &d.mb, &d.nb);
    d.ncols = cdiv(N, d.nb);
    const int64_t tasks = cdiv(M, d.mb) * d.ncols;
    if (tasks == 1 || threads == 1)
        for (int64_t t = 0; t < tasks; t++) block_task(&d, t);
    else
        spd_parallel_for(tasks, block_task, &d);
    if (atomic_load(&d.failed))
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for GEMM scratch (%lld x %lld x %lld)", (long long)M,
                          (long long)N, (long long)K);
    return SPD_OK;
}

void spd_sgemm_packed(const spd_sgemm_kernel *kern, int transA, int transB, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc)
{
    const spd_gemm_a a = {.trans = transA, .p = A, .ld = lda};
    const spd_gemm_b b = {.trans = transB, .p = B, .ld = ldb};
    (void)spd_gemm_run(kern, M, N, K, alpha, &a, &b, beta, C, ldc, NULL, 1); /* raw operands: cannot fail */
}

void spd_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    const spd_gemm_a a = {.trans = transA, .p = A, .ld = lda};
    const spd_gemm_b b = {.trans = transB, .p = B, .ld = ldb};
    (void)spd_gemm_run(spd_sgemm_kernel_current(), M, N, K, alpha, &a, &b, beta, C, ldc, NULL, spd_thread_count());
}
