/* AVX2+FMA packing and a 6x16 micro-kernel for the packed SGEMM.
 *
 * 6x16: twelve ymm accumulators (6 rows x 2 vectors of 8), two for the B
 * row and two for broadcast A values: all 16 ymm registers, 12 FMAs for 2
 * loads + 6 broadcasts per k step. The micro-kernel's k loop is x86-64
 * inline assembly (see below); everything else is intrinsics. Only this file's functions
 * carry target("avx2,fma"); the dispatcher calls them only when CPUID says
 * the CPU has both. */
#include "ops/sgemm_fast.h"

#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 6
#define NR 16
#define TARGET __attribute__((target("avx2,fma")))
#define COPY_B_ROW(d, s) (_mm256_store_ps((d), _mm256_loadu_ps(s)), _mm256_store_ps((d) + 8, _mm256_loadu_ps((s) + 8)))
#include "ops/sgemm_pack.inc"

/* Row r of the tile in k step u: broadcast a[u][r] into ymm<br> and multiply
 * it into the accumulators ymm<c0>, ymm<c1> with the B row in ymm0, ymm1. */
#define ROW(u, r, br, c0, c1)                                                                                     \
    "vbroadcastss 24*" #u "+4*" #r "(%[a]), %%ymm" #br "\n\t"                                                     \
    "vfmadd231ps %%ymm0, %%ymm" #br ", %%ymm" #c0 "\n\t"                                                          \
    "vfmadd231ps %%ymm1, %%ymm" #br ", %%ymm" #c1 "\n\t"
#define STEP(u)                                                                                                   \
    "vmovaps 64*" #u "(%[b]), %%ymm0\n\t"                                                                         \
    "vmovaps 64*" #u "+32(%[b]), %%ymm1\n\t"                                                                      \
    ROW(u, 0, 2, 4, 5) ROW(u, 1, 3, 6, 7) ROW(u, 2, 2, 8, 9) ROW(u, 3, 3, 10, 11) ROW(u, 4, 2, 12, 13)            \
    ROW(u, 5, 3, 14, 15)

TARGET static void store_tile(const float *t, float *C, int64_t ldc, int m, int n, float alpha, float beta,
                              const float *z, int clamp, const float *lohi);

/* The twelve accumulators ymm4..ymm15: cleared before the k loop, and
 * stored to the tile buffer t after it. */
#define ZERO_ACC                                                                                                 \
    "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"                                                                            \
    "vmovaps %%ymm4, %%ymm5\n\tvmovaps %%ymm4, %%ymm6\n\tvmovaps %%ymm4, %%ymm7\n\t"                            \
    "vmovaps %%ymm4, %%ymm8\n\tvmovaps %%ymm4, %%ymm9\n\tvmovaps %%ymm4, %%ymm10\n\t"                           \
    "vmovaps %%ymm4, %%ymm11\n\tvmovaps %%ymm4, %%ymm12\n\tvmovaps %%ymm4, %%ymm13\n\t"                         \
    "vmovaps %%ymm4, %%ymm14\n\tvmovaps %%ymm4, %%ymm15\n\t"
#define SAVE_ACC                                                                                                 \
    "vmovaps %%ymm4, 0(%[t])\n\tvmovaps %%ymm5, 32(%[t])\n\tvmovaps %%ymm6, 64(%[t])\n\t"                       \
    "vmovaps %%ymm7, 96(%[t])\n\tvmovaps %%ymm8, 128(%[t])\n\tvmovaps %%ymm9, 160(%[t])\n\t"                    \
    "vmovaps %%ymm10, 192(%[t])\n\tvmovaps %%ymm11, 224(%[t])\n\tvmovaps %%ymm12, 256(%[t])\n\t"                \
    "vmovaps %%ymm13, 288(%[t])\n\tvmovaps %%ymm14, 320(%[t])\n\tvmovaps %%ymm15, 352(%[t])\n\t"

/* The accumulators start at the tile's row bias (%[bias], 6 floats) or,
 * with mode bit 32, its column bias (%[bias], 16 floats) when there is
 * one, at zero otherwise. */
#define INIT_ACC                                                                                                 \
    "test %[bias], %[bias]\n\t"                                                                                  \
    "jnz 13f\n\t" ZERO_ACC "jmp 11f\n\t"                                                                         \
    "13:\n\t"                                                                                                    \
    "test $32, %[mode]\n\t"                                                                                      \
    "jz 10f\n\t"                                                                                                 \
    "vmovups 0(%[bias]), %%ymm4\n\tvmovups 32(%[bias]), %%ymm5\n\t"                                              \
    "vmovaps %%ymm4, %%ymm6\n\tvmovaps %%ymm5, %%ymm7\n\tvmovaps %%ymm4, %%ymm8\n\t"                             \
    "vmovaps %%ymm5, %%ymm9\n\tvmovaps %%ymm4, %%ymm10\n\tvmovaps %%ymm5, %%ymm11\n\t"                           \
    "vmovaps %%ymm4, %%ymm12\n\tvmovaps %%ymm5, %%ymm13\n\tvmovaps %%ymm4, %%ymm14\n\t"                          \
    "vmovaps %%ymm5, %%ymm15\n\t"                                                                                \
    "jmp 11f\n\t"                                                                                                \
    "10:\n\t"                                                                                                    \
    "vbroadcastss 0(%[bias]), %%ymm4\n\tvmovaps %%ymm4, %%ymm5\n\t"                                                \
    "vbroadcastss 4(%[bias]), %%ymm6\n\tvmovaps %%ymm6, %%ymm7\n\t"                                                \
    "vbroadcastss 8(%[bias]), %%ymm8\n\tvmovaps %%ymm8, %%ymm9\n\t"                                                \
    "vbroadcastss 12(%[bias]), %%ymm10\n\tvmovaps %%ymm10, %%ymm11\n\t"                                            \
    "vbroadcastss 16(%[bias]), %%ymm12\n\tvmovaps %%ymm12, %%ymm13\n\t"                                            \
    "vbroadcastss 20(%[bias]), %%ymm14\n\tvmovaps %%ymm14, %%ymm15\n\t"                                            \
    "11:\n\t"

/* After the k loop: a full tile with alpha 1 goes straight from the
 * accumulators to C (mode 1: C = acc, mode 2: C += acc, the same roundings
 * as store_tile's); anything else (mode 0) goes to t for store_tile. A
 * round trip through t cost as much as a 27-deep k loop's last steps. */
#define ROWS_C(op)                                                                                               \
    op(4, 5, "(%[c])", "32(%[c])") op(6, 7, "(%[c],%[ldc])", "32(%[c],%[ldc])")                                  \
    op(8, 9, "(%[c],%[ldc],2)", "32(%[c],%[ldc],2)") op(10, 11, "(%[c3])", "32(%[c3])")                          \
    op(12, 13, "(%[c3],%[ldc])", "32(%[c3],%[ldc])") op(14, 15, "(%[c3],%[ldc],2)", "32(%[c3],%[ldc],2)")
#define ROWS_Z(op)                                                                                               \
    op(4, 5, "(%[z])", "32(%[z])") op(6, 7, "(%[z],%[ldc])", "32(%[z],%[ldc])")                                  \
    op(8, 9, "(%[z],%[ldc],2)", "32(%[z],%[ldc],2)") op(10, 11, "(%[z3])", "32(%[z3])")                          \
    op(12, 13, "(%[z3],%[ldc])", "32(%[z3],%[ldc])") op(14, 15, "(%[z3],%[ldc],2)", "32(%[z3],%[ldc],2)")
#define PUT(x, y, m0, m1) "vmovups %%ymm" #x ", " m0 "\n\tvmovups %%ymm" #y ", " m1 "\n\t"
#define ADD(x, y, m0, m1) "vaddps " m0 ", %%ymm" #x ", %%ymm" #x "\n\tvaddps " m1 ", %%ymm" #y ", %%ymm" #y "\n\t"
#define ALL_ACC(f) f(4) f(5) f(6) f(7) f(8) f(9) f(10) f(11) f(12) f(13) f(14) f(15)
/* act8's semantics: Relu is max(x, 0) with NaN -> 0; Clip min(hi, max(lo, x))
 * with NaN kept (maxps/minps return their second source on NaN). */
#define RELU(x) "vmaxps %%ymm0, %%ymm" #x ", %%ymm" #x "\n\t"
#define CLIP(x) "vmaxps %%ymm" #x ", %%ymm0, %%ymm" #x "\n\tvminps %%ymm" #x ", %%ymm1, %%ymm" #x "\n\t"
/* mode & 31: 0 to t; else bit 1: add C, bit 4: add the residual z (ld
 * ldc), bits 2-3: clamp (SPD_CLAMP_* << 2), then store to C. ymm0/ymm1
 * (the B row) are free after the k loop. */
#define STORE_ACC                                                                                                \
    "test $31, %[mode]\n\t"                                                                                      \
    "jnz 5f\n\t" SAVE_ACC "jmp 9f\n\t"                                                                           \
    "5:\n\t"                                                                                                     \
    "lea (%[c],%[ldc],2), %[c3]\n\t"                                                                              \
    "add %[ldc], %[c3]\n\t"                                                                                       \
    "test $2, %[mode]\n\t"                                                                                        \
    "jz 6f\n\t" ROWS_C(ADD) "6:\n\t"                                                                              \
    "test $16, %[mode]\n\t"                                                                                       \
    "jz 12f\n\t"                                                                                                  \
    "lea (%[z],%[ldc],2), %[z3]\n\t"                                                                              \
    "add %[ldc], %[z3]\n\t" ROWS_Z(ADD) "12:\n\t"                                                                 \
    "test $12, %[mode]\n\t"                                                                                       \
    "jz 8f\n\t"                                                                                                   \
    "vbroadcastss 0(%[lohi]), %%ymm0\n\t"                                                                         \
    "vbroadcastss 4(%[lohi]), %%ymm1\n\t"                                                                         \
    "test $8, %[mode]\n\t"                                                                                        \
    "jnz 7f\n\t" ALL_ACC(RELU) "jmp 8f\n\t"                                                                       \
    "7:\n\t" ALL_ACC(CLIP) "8:\n\t" ROWS_C(PUT) "9:\n\t"

/* Which STORE_ACC path a tile takes (bit 32, the column bias, is
 * INIT_ACC's and is set by tile_begin). */
static inline int64_t store_mode(int m, int n, float alpha, float beta, const spd_tile_epi *te)
{
    if (m != MR || n != NR || alpha != 1.0f || (beta != 0.0f && beta != 1.0f)) return 0;
    return 1 | (beta == 1.0f ? 2 : 0) | (te ? te->clamp << 2 : 0) | (te && te->z ? 16 : 0);
}

/* The bias pointer the assembly reads 6 floats from: an edge tile's m
 * values padded into pad. */
static inline const float *tile_bias(const spd_tile_epi *te, int m, float *pad)
{
    if (!te || !te->bias) return NULL;
    if (m == MR) return te->bias;
    for (int r = 0; r < MR; r++) pad[r] = r < m ? te->bias[r] : 0.0f;
    return pad;
}

/* What the assembly needs besides the operands, set up by both kernels
 * alike; C's rows (and the residual's) are prefetched meanwhile, read only
 * after the k loop. */
typedef struct tile_out {
    int64_t mode, ldc_bytes;
    const float *bias, *z;
    float lohi[2], pad[NR];
} tile_out;

TARGET static inline void tile_begin(tile_out *o, const float *C, int64_t ldc, int m, int n, float alpha, float beta,
                                     const spd_tile_epi *te, int64_t c_ahead)
{
    for (int r = 0; r < m; r++) _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
    for (int r = 0; r < m; r++) _mm_prefetch((const char *)(C + r * ldc + 15), _MM_HINT_T0);
    if (c_ahead)
        for (int r = 0; r < m; r++) _mm_prefetch((const char *)(C + r * ldc + c_ahead), _MM_HINT_T0);
    o->z = te ? te->z : NULL;
    if (o->z)
        for (int r = 0; r < m; r++) {
            _mm_prefetch((const char *)(o->z + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(o->z + r * ldc + 15), _MM_HINT_T0);
            if (c_ahead) _mm_prefetch((const char *)(o->z + r * ldc + c_ahead), _MM_HINT_T0); /* as C's */
        }
    o->mode = store_mode(m, n, alpha, beta, te);
    o->ldc_bytes = ldc * (int64_t)sizeof(float);
    o->bias = tile_bias(te, m, o->pad);
    if (te && te->col_bias && !o->bias) { /* the assembly reads 16 values */
        o->bias = n == NR ? te->col_bias : o->pad;
        for (int j = 0; n < NR && j < NR; j++) o->pad[j] = j < n ? te->col_bias[j] : 0.0f;
        o->mode |= 32;
    }
    o->lohi[0] = te ? te->lo : 0.0f;
    o->lohi[1] = te ? te->hi : 0.0f;
}

/* Edge tiles that the 6x16 assembly would pad out to a full tile: a tile
 * of at most 8 columns (the last panel of N = 49 or 196), or of at most 2
 * or 4 rows (the last row tile of M = 128 or 64). Each keeps at least 8
 * independent FMA chains in flight (4-cycle latency, 2 per cycle), split
 * over two k parities where the tile is too small for 8 accumulators, so
 * it costs a third to two thirds of a full tile instead of all of it.
 * Written out register by register: as arrays, gcc stored every
 * accumulator back to the stack after each FMA. The sums go to t (rows NR
 * apart) for store_tile. B's row p is at b + p*ldb. */
#define BC(i) _mm256_broadcast_ss(a + (i))
#define INIT(r) (bias ? _mm256_set1_ps(bias[r]) : _mm256_setzero_ps())

TARGET static void tile_n8(int64_t k, const float *a, const float *b, int64_t ldb, const float *bias, float *t)
{
    __m256 e0 = INIT(0), e1 = INIT(1), e2 = INIT(2), e3 = INIT(3), e4 = INIT(4), e5 = INIT(5);
    __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, o4 = o0, o5 = o0;
    int64_t p = 0;
    for (; p + 2 <= k; p += 2, a += 2 * MR, b += 2 * ldb) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + ldb);
        e0 = _mm256_fmadd_ps(BC(0), b0, e0);
        e1 = _mm256_fmadd_ps(BC(1), b0, e1);
        e2 = _mm256_fmadd_ps(BC(2), b0, e2);
        e3 = _mm256_fmadd_ps(BC(3), b0, e3);
        e4 = _mm256_fmadd_ps(BC(4), b0, e4);
        e5 = _mm256_fmadd_ps(BC(5), b0, e5);
        o0 = _mm256_fmadd_ps(BC(6), b1, o0);
        o1 = _mm256_fmadd_ps(BC(7), b1, o1);
        o2 = _mm256_fmadd_ps(BC(8), b1, o2);
        o3 = _mm256_fmadd_ps(BC(9), b1, o3);
        o4 = _mm256_fmadd_ps(BC(10), b1, o4);
        o5 = _mm256_fmadd_ps(BC(11), b1, o5);
    }
    if (p < k) {
        const __m256 b0 = _mm256_loadu_ps(b);
        e0 = _mm256_fmadd_ps(BC(0), b0, e0);
        e1 = _mm256_fmadd_ps(BC(1), b0, e1);
        e2 = _mm256_fmadd_ps(BC(2), b0, e2);
        e3 = _mm256_fmadd_ps(BC(3), b0, e3);
        e4 = _mm256_fmadd_ps(BC(4), b0, e4);
        e5 = _mm256_fmadd_ps(BC(5), b0, e5);
    }
    _mm256_store_ps(t + 0 * NR, _mm256_add_ps(e0, o0));
    _mm256_store_ps(t + 1 * NR, _mm256_add_ps(e1, o1));
    _mm256_store_ps(t + 2 * NR, _mm256_add_ps(e2, o2));
    _mm256_store_ps(t + 3 * NR, _mm256_add_ps(e3, o3));
    _mm256_store_ps(t + 4 * NR, _mm256_add_ps(e4, o4));
    _mm256_store_ps(t + 5 * NR, _mm256_add_ps(e5, o5));
}

TARGET static void tile_m2(int64_t k, const float *a, const float *b, int64_t ldb, const float *bias, float *t)
{
    __m256 e00 = INIT(0), e01 = e00, e10 = INIT(1), e11 = e10;
    __m256 o00 = _mm256_setzero_ps(), o01 = o00, o10 = o00, o11 = o00;
    int64_t p = 0;
    for (; p + 2 <= k; p += 2, a += 2 * MR, b += 2 * ldb) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        const __m256 c0 = _mm256_loadu_ps(b + ldb), c1 = _mm256_loadu_ps(b + ldb + 8);
        const __m256 x0 = BC(0), x1 = BC(1), y0 = BC(MR), y1 = BC(MR + 1);
        e00 = _mm256_fmadd_ps(x0, b0, e00);
        e01 = _mm256_fmadd_ps(x0, b1, e01);
        e10 = _mm256_fmadd_ps(x1, b0, e10);
        e11 = _mm256_fmadd_ps(x1, b1, e11);
        o00 = _mm256_fmadd_ps(y0, c0, o00);
        o01 = _mm256_fmadd_ps(y0, c1, o01);
        o10 = _mm256_fmadd_ps(y1, c0, o10);
        o11 = _mm256_fmadd_ps(y1, c1, o11);
    }
    if (p < k) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), x0 = BC(0), x1 = BC(1);
        e00 = _mm256_fmadd_ps(x0, b0, e00);
        e01 = _mm256_fmadd_ps(x0, b1, e01);
        e10 = _mm256_fmadd_ps(x1, b0, e10);
        e11 = _mm256_fmadd_ps(x1, b1, e11);
    }
    _mm256_store_ps(t, _mm256_add_ps(e00, o00));
    _mm256_store_ps(t + 8, _mm256_add_ps(e01, o01));
    _mm256_store_ps(t + NR, _mm256_add_ps(e10, o10));
    _mm256_store_ps(t + NR + 8, _mm256_add_ps(e11, o11));
}

TARGET static void tile_m4(int64_t k, const float *a, const float *b, int64_t ldb, const float *bias, float *t)
{
    __m256 c00 = INIT(0), c01 = c00, c10 = INIT(1), c11 = c10, c20 = INIT(2), c21 = c20, c30 = INIT(3), c31 = c30;
    for (int64_t p = 0; p < k; p++, a += MR, b += ldb) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 x = BC(0);
        c00 = _mm256_fmadd_ps(x, b0, c00);
        c01 = _mm256_fmadd_ps(x, b1, c01);
        x = BC(1);
        c10 = _mm256_fmadd_ps(x, b0, c10);
        c11 = _mm256_fmadd_ps(x, b1, c11);
        x = BC(2);
        c20 = _mm256_fmadd_ps(x, b0, c20);
        c21 = _mm256_fmadd_ps(x, b1, c21);
        x = BC(3);
        c30 = _mm256_fmadd_ps(x, b0, c30);
        c31 = _mm256_fmadd_ps(x, b1, c31);
    }
    _mm256_store_ps(t, c00);
    _mm256_store_ps(t + 8, c01);
    _mm256_store_ps(t + NR, c10);
    _mm256_store_ps(t + NR + 8, c11);
    _mm256_store_ps(t + 2 * NR, c20);
    _mm256_store_ps(t + 2 * NR + 8, c21);
    _mm256_store_ps(t + 3 * NR, c30);
    _mm256_store_ps(t + 3 * NR + 8, c31);
}
#undef BC
#undef INIT

/* Runs the tile through tile_n8/m2/m4 when it is narrow or short enough to
 * gain; returns 0 when the full assembly tile is the better fit. */
TARGET static int edge_kernel(int64_t k, const float *a, const float *b, int64_t ldb, float *C, int64_t ldc, int m,
                              int n, float alpha, float beta, const spd_tile_epi *te)
{
    if (n > 8 && m > 4) return 0;
    float t[MR * NR] __attribute__((aligned(32))), pad[MR];
    const float *bias = tile_bias(te, m, pad); /* the tiles read MR, 2 or 4 values */
    if (n <= 8)
        tile_n8(k, a, b, ldb, bias, t);
    else if (m <= 2)
        tile_m2(k, a, b, ldb, bias, t);
    else
        tile_m4(k, a, b, ldb, bias, t);
    if (te && te->col_bias && !bias)
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++) t[r * NR + j] += te->col_bias[j];
    const float lohi[2] = {te ? te->lo : 0.0f, te ? te->hi : 0.0f};
    store_tile(t, C, ldc, m, n, alpha, beta, te ? te->z : NULL, te ? te->clamp : 0, lohi);
    return 1;
}

/* The k loop is assembly: with 15 of the 16 ymm registers live, gcc's
 * register allocation adds moves and loses ~8% here. A is prefetched 4 KB
 * ahead: prepacked weights come from memory in a model whose weights do not
 * stay in L3, and the hardware prefetcher alone left the kernel waiting
 * (resnet50 0.96x the time with it, Zen 5 on this path). */
TARGET static void kernel_6x16(int64_t k, const float *a, const float *b, float *C, int64_t ldc, int m, int n,
                               float alpha, float beta, const spd_tile_epi *te)
{
    if ((n <= 8 || m <= 4) && edge_kernel(k, a, b, NR, C, ldc, m, n, alpha, beta, te)) return;
    float t[MR * NR] __attribute__((aligned(32)));
    tile_out o;
    tile_begin(&o, C, ldc, m, n, alpha, beta, te, te ? te->c_ahead : 0);
    const float *z3;
    float *c3;
    uint64_t kk = (uint64_t)k;
    __asm__ volatile(INIT_ACC
                     "cmp $4, %[k]\n\t"
                     "jb 2f\n\t"
                     "1:\n\t" /* four k steps */
                     "prefetcht0 512(%[b])\n\t"
                     "prefetcht0 4096(%[a])\n\t"
                     "prefetcht0 4160(%[a])\n\t" STEP(0) STEP(1) STEP(2) STEP(3)
                     "add $96, %[a]\n\t"
                     "add $256, %[b]\n\t"
                     "sub $4, %[k]\n\t"
                     "cmp $4, %[k]\n\t"
                     "jae 1b\n\t"
                     "2:\n\t"
                     "test %[k], %[k]\n\t"
                     "jz 4f\n\t"
                     "3:\n\t" /* the remaining k steps one by one */
                     STEP(0)
                     "add $24, %[a]\n\t"
                     "add $64, %[b]\n\t"
                     "dec %[k]\n\t"
                     "jnz 3b\n\t"
                     "4:\n\t" STORE_ACC
                     : [a] "+r"(a), [b] "+r"(b), [k] "+r"(kk), [c3] "=&r"(c3), [z3] "=&r"(z3)
                     : [t] "r"(t), [c] "r"(C), [ldc] "r"(o.ldc_bytes), [mode] "r"(o.mode), [bias] "r"(o.bias),
                       [lohi] "r"(o.lohi), [z] "r"(o.z)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    if (!(o.mode & 31)) store_tile(t, C, ldc, m, n, alpha, beta, o.z, te ? te->clamp : 0, o.lohi);
}

#define STEP_SB(u)                                                                                                \
    "vmovups (%[b]), %%ymm0\n\t"                                                                                  \
    "vmovups 32(%[b]), %%ymm1\n\t"                                                                                \
    "prefetcht0 128(%[b])\n\t"                                                                                    \
    "add %[ldb], %[b]\n\t"                                                                                        \
    ROW(u, 0, 2, 4, 5) ROW(u, 1, 3, 6, 7) ROW(u, 2, 2, 8, 9) ROW(u, 3, 3, 10, 11) ROW(u, 4, 2, 12, 13)            \
    ROW(u, 5, 3, 14, 15)

/* The same tile with B read in place: row p of the 16 columns at b + p*ldb
 * (a full 16-column run of a row-major B), so a product with few rows of A
 * does not copy B into panels first. Each row's line two panels ahead is
 * prefetched as the row is read: B is a freshly written activation, mostly
 * outside L2, read as K streams (one per row) that the hardware prefetcher
 * does not all follow; a 16-row projection of 32 x 12544 ran 0.78x as long
 * with B out of cache. */
TARGET static void kernel_6x16_sb(int64_t k, const float *a, const float *b, int64_t ldb, float *C, int64_t ldc,
                                  int m, int n, float alpha, float beta, const spd_tile_epi *te)
{
    if ((n <= 8 || m <= 4) && edge_kernel(k, a, b, ldb, C, ldc, m, n, alpha, beta, te)) return;
    float t[MR * NR] __attribute__((aligned(32)));
    tile_out o;
    tile_begin(&o, C, ldc, m, n, alpha, beta, te, te ? te->c_ahead : 0);
    const float *z3;
    float *c3;
    uint64_t kk = (uint64_t)k;
    const int64_t ldb_bytes = ldb * (int64_t)sizeof(float);
    __asm__ volatile(INIT_ACC
                     "cmp $4, %[k]\n\t"
                     "jb 2f\n\t"
                     "1:\n\t" /* four k steps */
                     "prefetcht0 (%[b], %[ldb], 8)\n\t"
                     "prefetcht0 4096(%[a])\n\t"
                     "prefetcht0 4160(%[a])\n\t" STEP_SB(0) STEP_SB(1) STEP_SB(2) STEP_SB(3)
                     "add $96, %[a]\n\t"
                     "sub $4, %[k]\n\t"
                     "cmp $4, %[k]\n\t"
                     "jae 1b\n\t"
                     "2:\n\t"
                     "test %[k], %[k]\n\t"
                     "jz 4f\n\t"
                     "3:\n\t" /* the remaining k steps one by one */
                     STEP_SB(0)
                     "add $24, %[a]\n\t"
                     "dec %[k]\n\t"
                     "jnz 3b\n\t"
                     "4:\n\t" STORE_ACC
                     : [a] "+r"(a), [b] "+r"(b), [k] "+r"(kk), [c3] "=&r"(c3), [z3] "=&r"(z3)
                     : [t] "r"(t), [ldb] "r"(ldb_bytes), [c] "r"(C), [ldc] "r"(o.ldc_bytes), [mode] "r"(o.mode),
                       [bias] "r"(o.bias), [lohi] "r"(o.lohi), [z] "r"(o.z)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    if (!(o.mode & 31)) store_tile(t, C, ldc, m, n, alpha, beta, o.z, te ? te->clamp : 0, o.lohi);
}
#undef STEP_SB
#undef STEP
#undef STORE_ACC
#undef ROWS_Z
#undef INIT_ACC
#undef RELU
#undef CLIP
#undef ALL_ACC
#undef ADD
#undef PUT
#undef ROWS_C
#undef ROW
#undef ZERO_ACC
#undef SAVE_ACC

/* v clamped as act8 does it (Relu: NaN -> 0; Clip: NaN stays). */
TARGET static inline __m256 clamp8(__m256 v, int clamp, __m256 lo, __m256 hi)
{
    if (clamp == SPD_CLAMP_RELU) return _mm256_max_ps(v, lo);
    if (clamp == SPD_CLAMP_CLIP) return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    return v;
}

/* C[0:m, 0:n] = clamp(alpha * t + beta * C + z) from the accumulators in
 * t, masked past column n (z NULL: none; its rows ldc apart). */
TARGET static void store_tile(const float *t, float *C, int64_t ldc, int m, int n, float alpha, float beta,
                              const float *z, int clamp, const float *lohi)
{
    static const int32_t lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256 lo = _mm256_set1_ps(clamp == SPD_CLAMP_RELU ? 0.0f : lohi[0]), hi = _mm256_set1_ps(lohi[1]);
    for (int r = 0; r < m; r++) {
        float *c = C + r * ldc;
        const float *s = t + r * NR;
        for (int j = 0; j < n; j += 8) {
            const __m256 acc = _mm256_load_ps(s + j);
            if (n - j >= 8) { /* plain loads and stores: vmaskmovps stores are slow on AMD */
                __m256 v = _mm256_mul_ps(va, acc);
                if (beta == 1.0f)
                    v = _mm256_fmadd_ps(va, acc, _mm256_loadu_ps(c + j));
                else if (beta != 0.0f)
                    v = _mm256_fmadd_ps(va, acc, _mm256_mul_ps(vb, _mm256_loadu_ps(c + j)));
                if (z) v = _mm256_add_ps(v, _mm256_loadu_ps(z + r * ldc + j));
                _mm256_storeu_ps(c + j, clamp8(v, clamp, lo, hi));
                continue;
            }
            const __m256i mask = _mm256_loadu_si256((const __m256i *)(lanes + 8 - (n - j)));
            __m256 v = _mm256_mul_ps(va, acc);
            if (beta == 1.0f)
                v = _mm256_fmadd_ps(va, acc, _mm256_maskload_ps(c + j, mask));
            else if (beta != 0.0f)
                v = _mm256_fmadd_ps(va, acc, _mm256_mul_ps(vb, _mm256_maskload_ps(c + j, mask)));
            if (z) v = _mm256_add_ps(v, _mm256_maskload_ps(z + r * ldc + j, mask));
            float out[8] __attribute__((aligned(32)));
            _mm256_store_ps(out, clamp8(v, clamp, lo, hi));
            for (int q = 0; q < n - j; q++) c[j + q] = out[q];
        }
    }
}

static const spd_sgemm_kernel g_avx2 = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .mc = 144,
    .kc = 256,
    .nc = 2048,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel_6x16,
    .kernel_sb = kernel_6x16_sb,
    .fuses_epi = 1,
};

const spd_sgemm_kernel *spd_sgemm_kernel_avx2(void) { return &g_avx2; }

#else

const spd_sgemm_kernel *spd_sgemm_kernel_avx2(void) { return NULL; }

#endif
