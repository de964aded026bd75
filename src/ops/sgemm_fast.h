/* Packed, cache-blocked SGEMM (GotoBLAS/BLIS layout) with one micro-kernel
 * per instruction set, chosen at run time.
 *
 * The portable driver (ops/gemm.c) walks the blocks: for each NC-wide column
 * block and KC-deep slice of op(B) it packs the slice into NR-wide panels,
 * then for each MC-tall row block of op(A) packs MR-tall panels, and calls
 * the micro-kernel on every MR x NR tile of C. Only the packing routines and
 * the micro-kernel are ISA specific; they live in sgemm_avx2.c and
 * sgemm_avx512.c, each compiled with function-level target attributes so
 * the rest of the build stays baseline x86-64 (or any other architecture). */
#ifndef SPD_OPS_SGEMM_FAST_H
#define SPD_OPS_SGEMM_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/vmath.h"
#include "util/status.h"

typedef enum spd_sgemm_isa { SPD_SGEMM_REF = 0, SPD_SGEMM_AVX2 = 1, SPD_SGEMM_AVX512 = 2 } spd_sgemm_isa;

/* What a micro-kernel applies to the tile it writes (kernels with
 * fuses_epi): bias[i] starts row i's accumulators (the first k slice, beta
 * 0); the residual is added and the result clamped as it is stored (the
 * last slice). This is the bias, residual and Relu/Clip epilogue of most
 * convolutions, done without another pass over C. The driver passes one
 * (with no epilogue) to such kernels also for its c_ahead hint. */
typedef struct spd_tile_epi {
    const float *bias; /* one per row of the tile (m of them); NULL: none */
    const float *col_bias; /* or one per column (n of them), a Gemm's bias:
                              starts every row's accumulators the same way */
    const float *z;    /* a residual added before the clamp, laid out like C
                          (same ldc), at the tile's corner; NULL: none */
    int clamp;         /* SPD_CLAMP_* */
    float lo, hi;      /* SPD_CLAMP_CLIP's bounds */
    int64_t c_ahead;   /* also prefetch C's rows this many floats ahead (0: not) */
    int64_t b_ahead;   /* and B's panel rows this many floats ahead: the next
                          prepacked panel, by the first tile of a panel (0: not) */
    int b_later;       /* kernel_sb: not the first row tile over this B panel:
                          the first one fetched the next panel's rows */
    int64_t b_from, b_to; /* kernel_sa_wide: only the rows of steps [b_from,
                             b_to) of the next panels (each row tile of a
                             panel fetches its share) */
} spd_tile_epi;
enum {
    SPD_CLAMP_NONE = 0,
    SPD_CLAMP_RELU = 1, /* max(x, 0), NaN -> 0 */
    SPD_CLAMP_CLIP = 2, /* NaN stays */
    SPD_CLAMP_SILU = 3, /* x sigmoid(lo x), as act8 computes it; only kernels with epi_silu */
    SPD_CLAMP_GELU = 4, /* x (1 + erf(x / sqrt 2)) / 2, as act8; only kernels with epi_gelu */
    SPD_CLAMP_HARDSWISH = 5 /* x clamp(lo x + hi, 0, 1), as act8; only kernels with epi_hardswish */
};

/* kernel_ib's B panel and C lanes: row p of the panel (32 floats) at
 * b + boff[p]; lane j of a row goes to C + j if bit j of first is set, to
 * C + j - shift if bit j of second is (an implicit convolution's output
 * columns run over padded rows: ops/conv_implicit.c). */
typedef struct spd_tile_map {
    const int64_t *boff;
    uint32_t first, second;
    int64_t shift;
} spd_tile_map;

typedef struct spd_sgemm_kernel {
    const char *name;
    int mr, nr;           /* micro-tile */
    int64_t mc, kc, nc;   /* cache blocks; mc is a multiple of mr, nc of nr */
    /* Packs op(A)[0:m, 0:k] (m <= mc) into ceil(m/mr) panels, each k x mr
     * with element (i, p) at p*mr + i; rows past m are zero.
     * op(A)(i, p) = trans ? A[p*lda + i] : A[i*lda + p]. */
    void (*pack_a)(int trans, int64_t m, int64_t k, const float *A, int64_t lda, float *dst);
    /* Packs op(B)[0:k, 0:n] into ceil(n/nr) panels, each k x nr with element
     * (p, j) at p*nr + j; columns past n are zero.
     * op(B)(p, j) = trans ? B[j*ldb + p] : B[p*ldb + j]. */
    void (*pack_b)(int trans, int64_t k, int64_t n, const float *B, int64_t ldb, float *dst);
    /* C[0:m, 0:n] = alpha * (a * b) + beta * C for one packed mr-panel a and
     * nr-panel b of depth k >= 1, with m <= mr, n <= nr. beta == 0 never
     * reads C. te: see spd_tile_epi, NULL or ignored unless fuses_epi. */
    void (*kernel)(int64_t k, const float *a, const float *b, float *C, int64_t ldc, int m, int n, float alpha,
                   float beta, const spd_tile_epi *te);
    /* The same with op(B) read in place, not packed: row p of the panel's
     * nr columns at b + p*ldb (all nr readable); NULL where the ISA has none. */
    void (*kernel_sb)(int64_t k, const float *a, const float *b, int64_t ldb, float *C, int64_t ldc, int m, int n,
                      float alpha, float beta, const spd_tile_epi *te);
    /* The same with op(A) = A read in place, not packed: row i's k values at
     * a + i*lda (rows past m are not read); NULL where the ISA has none. */
    void (*kernel_sa)(int64_t k, const float *a, int64_t lda, const float *b, float *C, int64_t ldc, int m, int n,
                      float alpha, float beta, const spd_tile_epi *te);
    /* C[0:m, lanes] = a * B with B and C's lanes as map says (32 columns,
     * alpha 1, beta 0; te's z laid out like C); NULL where the ISA has none. */
    void (*kernel_ib)(int64_t k, const float *a, const float *b, const spd_tile_map *map, float *C, int64_t ldc,
                      int m, const spd_tile_epi *te);
    /* The same as kernel_sa over 2*nr columns, op(B) two consecutive
     * packed panels (the second ps floats after the first), m <= wide_mr;
     * NULL where the ISA has none. */
    void (*kernel_sa_wide)(int64_t k, const float *a, int64_t lda, const float *b, int64_t ps, float *C,
                           int64_t ldc, int m, float alpha, float beta, const spd_tile_epi *te);
    /* The same with alpha 1, beta 0 and step p of row i at a + i*lda +
     * aoff[p]; te not NULL. NULL where the ISA has none. */
    void (*kernel_sa_wide_off)(int64_t k, const float *a, int64_t lda, const int32_t *aoff, const float *b,
                               int64_t ps, float *C, int64_t ldc, int m, const spd_tile_epi *te);
    int wide_mr;
    int fuses_epi; /* the kernels apply a spd_tile_epi (with alpha 1) */
    int epi_silu;  /* ... including SPD_CLAMP_SILU */
    int epi_gelu;  /* ... and SPD_CLAMP_GELU */
    int epi_hardswish; /* ... and SPD_CLAMP_HARDSWISH */
    int sb_unaligned; /* kernel_sb loses little on rows that do not start on cache lines */
} spd_sgemm_kernel;

/* kernel_sa_wide's tile height for m rows (5 or 6: whichever computes
 * fewer rows). */
int64_t spd_sgemm_wide_rows(const spd_sgemm_kernel *kern, int64_t m);

/* The tile clamp (SPD_CLAMP_*) and its bounds that apply ac (NULL: none)
 * in kern's store; false when kern has none for it. */
bool spd_tile_clamp(const spd_sgemm_kernel *kern, const spd_act *ac, int *clamp, float *lo, float *hi);

/* NULL where the compiler cannot target the ISA (not x86). They do not check
 * the CPU: the caller does. */
const spd_sgemm_kernel *spd_sgemm_kernel_avx2(void);
const spd_sgemm_kernel *spd_sgemm_kernel_avx512(void);
/* kernel_sa_wide of the AVX-512 kernel (sgemm_wide_avx512.c; x86-64 only) */
void spd_kernel_6x64_sa(int64_t k, const float *a, int64_t lda, const float *b, int64_t ps, float *C, int64_t ldc,
                        int m, float alpha, float beta, const spd_tile_epi *te);
void spd_kernel_6x64_sao(int64_t k, const float *a, int64_t lda, const int32_t *aoff, const float *b, int64_t ps,
                         float *C, int64_t ldc, int m, const spd_tile_epi *te);

/* The best path this CPU (and build) runs. */
spd_sgemm_isa spd_sgemm_isa_best(void);
/* The path spd_sgemm uses: the best one, lowered by SPEEDSTER_ISA=ref|avx2|avx512
 * in the environment (read once) or by spd_sgemm_set_isa. */
spd_sgemm_isa spd_sgemm_isa_current(void);
/* Forces a path (for tests and benchmarks); one the CPU lacks is lowered to
 * the best available. Returns the path now in use. */
spd_sgemm_isa spd_sgemm_set_isa(spd_sgemm_isa isa);
const char *spd_sgemm_isa_name(spd_sgemm_isa isa);

/* The kernel of the current path (spd_sgemm_isa_current()), NULL for ref. */
const spd_sgemm_kernel *spd_sgemm_kernel_current(void);

/* Single-threaded packed GEMM with a given kernel; same contract as
 * spd_sgemm_ref. Falls back to spd_sgemm_ref if scratch cannot be
 * allocated. */
void spd_sgemm_packed(const spd_sgemm_kernel *kern, int transA, int transB, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc);

/* ---- the general driver: prepacked operands, custom B packing, epilogue ----
 *
 * Prepacked layouts (for operands that do not change between calls, such as
 * weights): op(A) (M x K) is cut into K slices of depth kc = spd_sgemm_kc(kern, K)
 * (spd_sgemm_kc_b where B is the prepacked one);
 * slice s starts at s*kc*mpad (mpad = M rounded up to mr) and holds the
 * slice's mr-row panels one after another, as kern->pack_a writes them.
 * op(B) (K x N) likewise, with npad = N rounded up to nr and nr-column
 * panels. Only valid for the kernel that packed them. */
/* The depth of K's slices for kern: min(K, kc), and where B is prepacked
 * (a layer's weights as B: A, the activations, may then be read in place
 * by the wide tiles, which take one slice) K itself up to an eighth past
 * kc. K = 1152 was a slice of 1024 and one of 128 that read and wrote all
 * of C again for 11% of the work, and kept EfficientNet's 1152-channel
 * channels-last projections off the 6x64 tiles. Where A is prepacked (W
 * of an NCHW convolution) one slice gained nothing measurable and would
 * change the rounding (the second slice's sum is added to C). */
int64_t spd_sgemm_kc(const spd_sgemm_kernel *kern, int64_t K);
int64_t spd_sgemm_kc_b(const spd_sgemm_kernel *kern, int64_t K);
size_t spd_sgemm_prepacked_a_floats(const spd_sgemm_kernel *kern, int64_t M, int64_t K);
size_t spd_sgemm_prepacked_b_floats(const spd_sgemm_kernel *kern, int64_t K, int64_t N);
void spd_sgemm_prepack_a(const spd_sgemm_kernel *kern, int trans, int64_t M, int64_t K, const float *A, int64_t lda,
                         float *dst);
void spd_sgemm_prepack_b(const spd_sgemm_kernel *kern, int trans, int64_t K, int64_t N, const float *B, int64_t ldb,
                         float *dst);

/* op(A): raw (trans, p, ld), prepacked for the kernel, or produced by a
 * packer: pack writes op(A)[ic:ic+m, pc:pc+k] as the kernel's mr-row
 * panels (rows past m zero). Like B's packer, it has no fallback without
 * raw p. */
typedef struct spd_gemm_a {
    int trans;
    const float *p;
    int64_t ld;
    const float *packed; /* NULL: packed per block from p (or by pack) */
    void (*pack)(const void *ctx, int64_t pc, int64_t k, int64_t ic, int64_t m, float *dst);
    const void *ctx;
    float pack_cost; /* multiply-adds one packed element costs; 0: a default */
} spd_gemm_a;

/* op(B): raw, prepacked, or produced by a packer (Conv's im2col goes
 * straight into panels). pack writes op(B)[pc:pc+k, jc:jc+n] in the
 * kernel's panel layout (columns past n zero). A packer without raw p has
 * no fallback: the driver fails if it cannot allocate scratch or runs
 * without a kernel. */
typedef struct spd_gemm_b {
    int trans;
    const float *p;
    int64_t ld;
    const float *packed;
    void (*pack)(const void *ctx, int64_t pc, int64_t k, int64_t jc, int64_t n, float *dst);
    const void *ctx;
    float pack_cost; /* multiply-adds one packed element costs, for the task split; 0: a default */
    int in_place;    /* raw upright B laid out for reading in place (rows of whole panels, made for
                        this product): read so however few its columns, where A has few rows */
} spd_gemm_b;

/* Applied to each block of C while it is in cache, after the product:
 *   C[i][j] = act(C[i][j] + row_bias[i] + col_bias[j] + z[i*ldz + j])
 * (ldz 0: one row z for every row, also a bias over columns; col_bias is
 * one that leaves z free for a residual). NULL parts are skipped. */
typedef struct spd_gemm_epi {
    const spd_act *ac;
    const float *row_bias;
    const float *z;
    int64_t ldz;
    const float *col_bias;
} spd_gemm_epi;

/* C = epi(alpha * op(A) * op(B) + beta * C), split into 2-D blocks over up
 * to `threads` threads. kern NULL: the reference, per block (needs raw A and
 * B). Fails only with a B packer when scratch cannot be allocated. */
spd_status spd_gemm_run(const spd_sgemm_kernel *kern, int64_t M, int64_t N, int64_t K, float alpha,
                        const spd_gemm_a *A, const spd_gemm_b *B, float beta, float *C, int64_t ldc,
                        const spd_gemm_epi *epi, int threads);

#endif
