/* float32 pooling (ops/pool_fast.h).
 *
 * Each output row is computed separably: first the column reduction of its
 * (in-bounds) input rows over the whole width into a small buffer, then the
 * reduction along the row of that buffer. For stride 2 the column pass
 * writes even and odd columns to two arrays, so every tap of the row pass is
 * a contiguous run of the buffer and 8 outputs take one load per tap. The
 * output columns whose window lies inside the row take the vector row pass;
 * the few border ones (padding, ceil_mode) a scalar walk over the same
 * buffer. Rows with no in-bounds tap, windows of more than MAXK rows or
 * columns and buffers that cannot be allocated take the reference walk.
 *
 * Max and NaN: the reference starts from the first in-bounds tap and takes a
 * later tap when greater, so its result is NaN exactly when the first tap
 * is, and otherwise the largest non-NaN tap. The column pass therefore keeps
 * two results: V, the column max with NaN ignored (from -inf), and F, V made
 * NaN where the column's first row is NaN. The row pass starts from F at the
 * window's first column and folds V of the others with acc = v > acc ? v :
 * acc (vmaxps with v first: a NaN v leaves acc, a NaN acc stays). The
 * AVX2 column pass first folds from the first row, which is V and F at once
 * when that row has no NaN (the usual case, checked with one compare per 16
 * columns), and redoes the row the long way when it has.
 *
 * Averages sum in float, as ONNX Runtime's pools do: columns first, then
 * along the row, times 1/count. Against the reference's double sum that
 * costs at most about (taps + 2) float roundings of sum |x| / count; the
 * double column passes took Inception-v3's 3x3 stride-1 pools 8-9x ORT's
 * time. (Sums past FLT_MAX overflow to inf here, where the reference's
 * double sum of the same floats might not: no real activation is near.) */
#include "ops/pool_fast.h"

#include <math.h>
#include <string.h>

#include "ops/vmath.h"
#include "util/alloc.h"
#include "util/threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Pools below this much work (taps + input elements) run on the calling
 * thread; larger ones in tasks of about CHUNK (a few microseconds each). */
#define PAR_MIN 131072
#define CHUNK 16384
/* Most rows or columns a window may have on the vector path. */
#define MAXK 64

/* v > acc ? v : acc: the reference's step, also what vmaxps(v, acc) does. */
static inline float mx(float v, float acc) { return v > acc ? v : acc; }

/* The taps k in [0, nk) of output o along one axis whose input position
 * o*s - pb + k*d lies in [lo, hi): [*k0, *k1). */
static inline void taps(int64_t o, int64_t s, int64_t pb, int64_t d, int64_t nk, int64_t lo, int64_t hi, int64_t *k0,
                        int64_t *k1)
{
    const int64_t base = o * s - pb;
    int64_t a, b;
    if (d == 1) {
        a = lo - base > 0 ? lo - base : 0;
        b = hi - base;
    } else {
        a = base >= lo ? 0 : (lo - base + d - 1) / d;
        b = hi - base <= 0 ? 0 : (hi - 1 - base) / d + 1;
    }
    if (a > nk) a = nk;
    if (b > nk) b = nk;
    if (b < a) b = a;
    *k0 = a;
    *k1 = b;
}

/* s1_plane's buffers (below): the task's stack buffer, and the job's
 * tables (s1_tabs). */
#define PLANE_FLOATS 4096
#define S1_INV 1024
#define FLAT_MAX 2048 /* most H x W for the flat pass */
#define FLAT_KW 8     /* widest window for it */

/* The reciprocals of an average's window sizes, made once a job (a task
 * each cost 2x2 threads' time on Inception's 17x17 pools): for the row by
 * row pass, row ny - 1 (of KH) for windows of ny counted rows, one per
 * output column; for the flat pass (flat), one per output. */
typedef struct s1_tabs {
    bool flat;
    float inv[S1_INV];
    float finv[FLAT_MAX];
} s1_tabs;

/* ---- the kernels, portable build ---- */

/* Each build has four row kernels:
 *  - vmax(rows, nr, W, q, fpar, p0, p1, f): the column pass of max over
 *    rows[0..nr) (nr >= 1), columns [0, W). q == 1: p0[c] = V[c], f[c] =
 *    F[c]; q == 2: p0[i] = V[2i], p1[i] = V[2i+1], f[i] = F[2i + fpar].
 *    Returns 0 when no first-row value is NaN (then F = V and f may be left
 *    unwritten), else 1;
 *  - hmax(y, f, tp, kw, m, s): the row pass of max, y[j] for j < m = f[j*s]
 *    folded with tp[k][j*s] for 0 < k < kw;
 *  - vsum(rows, nr, W, q, p0, p1): the column sums, laid out as vmax's V;
 *  - hsum(y, tp, kw, m, s, inv): y[j] = (sum over k < kw of tp[k][j*s]) * inv.
 * The batch drivers below run them over several output rows. */

/* n output rows whose windows have nr rows, all in-bounds: both passes of
 * the batch (the column passes first, see row_buf), for the interior
 * columns; the column buffers are left for the border columns. */
typedef struct pool_batch {
    const float *x;       /* the first input row of the first output row */
    int64_t rstep, kstep; /* input elements from an output row to the next; from a window row to the next */
    int nr, n;
    int64_t W;
    int q, fpar;          /* as vmax's */
    char *buf;            /* row i's buffer at buf + i * stride bytes: q arrays of L elements (then F for max) */
    int64_t stride, L;
    const int64_t *off;   /* elements from a row's buffer to tap k of the first interior output */
    int64_t foff;         /* and to its F */
    int kw;
    int64_t m, s;         /* interior outputs and their step in the buffer */
    float *y;             /* output row 0's first interior output */
    int64_t mb;           /* border outputs right of the m interior ones that the direct rows compute too */
    bool s2_direct;       /* max, stride 2, 2 or 3 columns, undilated, no border columns on the left: the rows may skip the
                             buffers (AVX-512) */
    int64_t x0;           /* the input column of the first interior output's first tap */
    int64_t ystride;
    float inv;            /* average: 1 / count */
} pool_batch;

typedef struct pool_kern {
    unsigned (*max_batch)(const pool_batch *b); /* returns the rows whose border columns are still to do */
    void (*avg_batch)(const pool_batch *b);
    double (*gsum)(const float *x, int64_t n);
    float (*gmax)(const float *x, int64_t n);
} pool_kern;

/* The input rows output row i + PF_ROWS adds to its window, prefetched
 * while row i is pooled: a pool's input is a large activation just written
 * by the layer before, mostly gone from L2 (the 4 KB page boundaries stop
 * the hardware's streams every few rows). */
#define PF_ROWS 4
static inline void pool_prefetch(const pool_batch *b, int i)
{
    /* addresses, not pointers: the rows ahead may lie past the input's end,
     * which a prefetch may touch and pointer arithmetic may not */
    const uintptr_t end =
        (uintptr_t)b->x + (uintptr_t)((i + PF_ROWS) * b->rstep + (b->nr - 1) * b->kstep + b->W) * sizeof(float);
    /* a line at a time up to end's: the loop is most of a small row's work */
    for (uintptr_t a = end - (uintptr_t)b->rstep * sizeof(float); a < end + 63; a += 64)
        __builtin_prefetch((const void *)a);
}

/* The batch drivers of one build over its row kernels. */
#define BATCH_FNS(SUF, ATTR) MAX_BATCH_FN(SUF, ATTR) AVG_BATCH_FN(SUF, ATTR)
#define MAX_BATCH_FN(SUF, ATTR)                                                                                        \
    ATTR static unsigned max_batch##SUF(const pool_batch *b)                                                           \
    {                                                                                                                  \
        const float *rows[MAXK];                                                                                       \
        unsigned nan = 0;                                                                                              \
        for (int i = 0; i < b->n; i++) {                                                                               \
            for (int k = 0; k < b->nr; k++) rows[k] = b->x + i * b->rstep + k * b->kstep;                              \
            pool_prefetch(b, i);                                                                                       \
            float *p = (float *)(b->buf + i * b->stride);                                                              \
            if (vmax##SUF(rows, b->nr, b->W, b->q, b->fpar, p, p + b->L, p + b->q * b->L)) nan |= 1u << i;            \
        }                                                                                                              \
        for (int i = 0; i < b->n && b->m > 0; i++) {                                                                   \
            const float *p = (const float *)(b->buf + i * b->stride), *tp[MAXK];                                       \
            for (int k = 0; k < b->kw; k++) tp[k] = p + b->off[k];                                                     \
            hmax##SUF(b->y + i * b->ystride, nan >> i & 1 ? p + b->foff : tp[0], tp, b->kw, b->m, b->s);               \
        }                                                                                                              \
        return (1u << b->n) - 1u;                                                                                      \
    }
#define AVG_BATCH_FN(SUF, ATTR)                                                                                        \
    ATTR static void avg_batch##SUF(const pool_batch *b)                                                               \
    {                                                                                                                  \
        const float *rows[MAXK];                                                                                       \
        for (int i = 0; i < b->n; i++) {                                                                               \
            for (int k = 0; k < b->nr; k++) rows[k] = b->x + i * b->rstep + k * b->kstep;                              \
            float *p = (float *)(b->buf + i * b->stride);                                                              \
            vsum##SUF(rows, b->nr, b->W, b->q, p, p + b->L);                                                           \
        }                                                                                                              \
        for (int i = 0; i < b->n && b->m > 0; i++) {                                                                   \
            const float *p = (const float *)(b->buf + i * b->stride), *tp[MAXK];                                       \
            for (int k = 0; k < b->kw; k++) tp[k] = p + b->off[k];                                                     \
            hsum##SUF(b->y + i * b->ystride, tp, b->kw, b->m, b->s, b->inv);                                           \
        }                                                                                                              \
    }

/* The column results of column c (from c0 on, with r0 its first row) into the
 * buffers: the scalar step of both builds' column passes. */
static inline void vmax_put(float v, float r0, int64_t c, int q, int fpar, float *p0, float *p1, float *f)
{
    if (q == 1) {
        p0[c] = v;
        f[c] = mx(v, r0);
        return;
    }
    (c & 1 ? p1 : p0)[c >> 1] = v;
    if ((c & 1) == fpar) f[c >> 1] = mx(v, r0);
}

static void vmax_tail(const float *const *rows, int nr, int64_t c0, int64_t W, int q, int fpar, float *p0, float *p1,
                      float *f)
{
    for (int64_t c = c0; c < W; c++) {
        float v = -INFINITY;
        for (int k = 0; k < nr; k++) v = mx(rows[k][c], v);
        vmax_put(v, rows[0][c], c, q, fpar, p0, p1, f);
    }
}

static int vmax_port(const float *const *rows, int nr, int64_t W, int q, int fpar, float *p0, float *p1, float *f)
{
    vmax_tail(rows, nr, 0, W, q, fpar, p0, p1, f);
    return 1;
}

static void hmax_tail(float *y, const float *f, const float *const *tp, int kw, int64_t j0, int64_t m, int64_t s)
{
    for (int64_t j = j0; j < m; j++) {
        float acc = f[j * s];
        for (int k = 1; k < kw; k++) acc = mx(tp[k][j * s], acc);
        y[j] = acc;
    }
}

static void hmax_port(float *y, const float *f, const float *const *tp, int kw, int64_t m, int64_t s)
{
    hmax_tail(y, f, tp, kw, 0, m, s);
}

static void vsum_tail(const float *const *rows, int nr, int64_t c0, int64_t W, int q, float *p0, float *p1)
{
    for (int64_t c = c0; c < W; c++) {
        float v = 0;
        for (int k = 0; k < nr; k++) v += rows[k][c];
        if (q == 1) p0[c] = v;
        else (c & 1 ? p1 : p0)[c >> 1] = v;
    }
}

static void vsum_port(const float *const *rows, int nr, int64_t W, int q, float *p0, float *p1)
{
    vsum_tail(rows, nr, 0, W, q, p0, p1);
}

static void hsum_tail(float *y, const float *const *tp, int kw, int64_t j0, int64_t m, int64_t s, float inv)
{
    for (int64_t j = j0; j < m; j++) {
        float acc = 0;
        for (int k = 0; k < kw; k++) acc += tp[k][j * s];
        y[j] = acc * inv;
    }
}

static void hsum_port(float *y, const float *const *tp, int kw, int64_t m, int64_t s, float inv)
{
    hsum_tail(y, tp, kw, 0, m, s, inv);
}

/* Sum of x[0..n) in double, in 8 interleaved partial sums. */
static double gsum_port(const float *x, int64_t n)
{
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

/* The reference's max of x[0..n), n >= 1: lanes start from x[0] (a NaN
 * x[0] stays), then fold with mx. */
static float gmax_port(const float *x, int64_t n)
{
    float acc[8];
    for (int k = 0; k < 8; k++) acc[k] = x[0];
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] = mx(x[i + k], acc[k]);
    float m = x[0];
    for (; i < n; i++) m = mx(x[i], m);
    for (int k = 0; k < 8; k++) m = mx(acc[k], m);
    return m;
}

BATCH_FNS(_port, )
static const pool_kern KERN_PORT = {max_batch_port, avg_batch_port, gsum_port, gmax_port};

/* ---- the kernels, AVX2 build ---- */

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* The AVX2 column passes store whole vectors and the row passes load them,
 * so each buffer array has PADV spare elements after its last column: the
 * tails need no scalar loop (input loads and output stores are masked). */
static const int32_t MASKS[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
/* The first n (0..8) lanes. */
INLINE __m256i mask8(int64_t n) { return _mm256_loadu_si256((const __m256i *)(MASKS + 8 - n)); }

/* Evens and odds of the 16 floats a:b, each in order. */
INLINE __m256 evens(__m256 a, __m256 b)
{
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
INLINE __m256 odds(__m256 a, __m256 b)
{
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

/* y[0..n) = the first n (1..8) lanes of v. vmaskmovps stores are slow on
 * AMD (microcoded), hence the copy. */
INLINE void store_tail(float *y, __m256 v, int64_t n)
{
    if (n == 8) {
        _mm256_storeu_ps(y, v);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, v);
    memcpy(y, t, (size_t)n * sizeof *t);
}

INLINE __m256 load8(const float *p, bool masked, __m256i m)
{
    return masked ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p);
}

/* V (NaN ignored) of the 8 columns at c, and their first row r0. */
INLINE __m256 vcol(const float *const *rows, int nr, int64_t c, bool masked, __m256i m, __m256 *r0)
{
    *r0 = load8(rows[0] + c, masked, m);
    __m256 v = _mm256_max_ps(*r0, _mm256_set1_ps(-INFINITY));
    for (int k = 1; k < nr; k++) v = _mm256_max_ps(load8(rows[k] + c, masked, m), v);
    return v;
}

/* 16 columns at c into the two phases (q == 2). */
INLINE void vmax16(const float *const *rows, int nr, int64_t c, int fpar, float *p0, float *p1, float *f, bool masked,
                   int64_t rem)
{
    const __m256i ma = mask8(masked && rem < 8 ? rem : 8);
    const __m256i mb = mask8(masked ? (rem > 16 ? 8 : rem > 8 ? rem - 8 : 0) : 8);
    __m256 ra, rb;
    const __m256 va = vcol(rows, nr, c, masked, ma, &ra), vb = vcol(rows, nr, c + 8, masked, mb, &rb);
    const __m256 e = evens(va, vb), o = odds(va, vb);
    _mm256_storeu_ps(p0 + c / 2, e);
    _mm256_storeu_ps(p1 + c / 2, o);
    _mm256_storeu_ps(f + c / 2, fpar ? _mm256_max_ps(o, odds(ra, rb)) : _mm256_max_ps(e, evens(ra, rb)));
}

INLINE void vmax_body(const float *const *rows, int nr, int64_t W, int q, int fpar, float *p0, float *p1, float *f)
{
    int64_t c = 0;
    if (q == 1) {
        __m256 r0;
        for (; c + 8 <= W; c += 8) {
            const __m256 v = vcol(rows, nr, c, false, mask8(8), &r0);
            _mm256_storeu_ps(p0 + c, v);
            _mm256_storeu_ps(f + c, _mm256_max_ps(v, r0));
        }
        if (c < W) {
            const __m256 v = vcol(rows, nr, c, true, mask8(W - c), &r0);
            _mm256_storeu_ps(p0 + c, v);
            _mm256_storeu_ps(f + c, _mm256_max_ps(v, r0));
        }
        return;
    }
    for (; c + 16 <= W; c += 16) vmax16(rows, nr, c, fpar, p0, p1, f, false, 16);
    if (c < W) vmax16(rows, nr, c, fpar, p0, p1, f, true, W - c);
}

/* The common case, no NaN in the first row: V folded from the first row
 * is NaN-free and is F; one compare per 16 columns checks that (V is NaN
 * exactly where the first row is). */
INLINE __m256 vfold(const float *const *rows, int nr, int64_t c, bool masked, __m256i m)
{
    __m256 v = load8(rows[0] + c, masked, m);
    for (int k = 1; k < nr; k++) v = _mm256_max_ps(load8(rows[k] + c, masked, m), v);
    return v;
}

/* 16 columns at c into the two phases (q == 2); NaN lanes where V is. */
INLINE __m256 vfold16(const float *const *rows, int nr, int64_t c, float *p0, float *p1, bool masked, int64_t rem)
{
    const __m256i ma = mask8(masked && rem < 8 ? rem : 8), mb = mask8(masked ? (rem > 8 ? rem - 8 : 0) : 8);
    const __m256 a = vfold(rows, nr, c, masked, ma), b = vfold(rows, nr, c + 8, masked, mb);
    _mm256_storeu_ps(p0 + c / 2, evens(a, b));
    _mm256_storeu_ps(p1 + c / 2, odds(a, b));
    return _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
}

INLINE bool vfold_body(const float *const *rows, int nr, int64_t W, int q, float *p0, float *p1)
{
    __m256 nan = _mm256_setzero_ps();
    int64_t c = 0;
    if (q == 1) {
        for (; c + 16 <= W; c += 16) {
            const __m256 a = vfold(rows, nr, c, false, mask8(8)), b = vfold(rows, nr, c + 8, false, mask8(8));
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
            _mm256_storeu_ps(p0 + c, a);
            _mm256_storeu_ps(p0 + c + 8, b);
        }
        for (; c < W; c += 8) {
            const __m256 a = vfold(rows, nr, c, c + 8 > W, mask8(W - c < 8 ? W - c : 8));
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
            _mm256_storeu_ps(p0 + c, a);
        }
    } else {
        for (; c + 16 <= W; c += 16) nan = _mm256_or_ps(nan, vfold16(rows, nr, c, p0, p1, false, 16));
        if (c < W) nan = _mm256_or_ps(nan, vfold16(rows, nr, c, p0, p1, true, W - c));
    }
    return _mm256_movemask_ps(nan) != 0;
}

/* The row counts of 3x3 and 2x2 windows get their own unrolled copies. */
AVX2 static int vmax_avx2(const float *const *rows, int nr, int64_t W, int q, int fpar, float *p0, float *p1, float *f)
{
    bool nan;
    switch (nr) {
    case 1: nan = vfold_body(rows, 1, W, q, p0, p1); break;
    case 2: nan = vfold_body(rows, 2, W, q, p0, p1); break;
    case 3: nan = vfold_body(rows, 3, W, q, p0, p1); break;
    default: nan = vfold_body(rows, nr, W, q, p0, p1); break;
    }
    if (!nan) return 0;
    vmax_body(rows, nr, W, q, fpar, p0, p1, f);
    return 1;
}

INLINE void hmax_body(float *y, const float *f, const float *const *tp, int kw, int64_t m)
{
    int64_t j = 0;
    for (; j + 8 <= m; j += 8) {
        __m256 acc = _mm256_loadu_ps(f + j);
        for (int k = 1; k < kw; k++) acc = _mm256_max_ps(_mm256_loadu_ps(tp[k] + j), acc);
        _mm256_storeu_ps(y + j, acc);
    }
    if (j < m) { /* the last 8 again when there are 8, else through a copy */
        const int64_t j1 = m >= 8 ? m - 8 : 0;
        __m256 acc = _mm256_loadu_ps(f + j1);
        for (int k = 1; k < kw; k++) acc = _mm256_max_ps(_mm256_loadu_ps(tp[k] + j1), acc);
        store_tail(y + j1, acc, m - j1);
    }
}

AVX2 static void hmax_avx2(float *y, const float *f, const float *const *tp, int kw, int64_t m, int64_t s)
{
    if (s != 1) {
        hmax_tail(y, f, tp, kw, 0, m, s);
        return;
    }
    switch (kw) {
    case 2: hmax_body(y, f, tp, 2, m); break;
    case 3: hmax_body(y, f, tp, 3, m); break;
    default: hmax_body(y, f, tp, kw, m); break;
    }
}

/* Column sums of the 8 columns at c. */
INLINE __m256 vsum8(const float *const *rows, int nr, int64_t c, bool masked, __m256i m)
{
    __m256 v = load8(rows[0] + c, masked, m);
    for (int k = 1; k < nr; k++) v = _mm256_add_ps(v, load8(rows[k] + c, masked, m));
    return v;
}

INLINE void vsum_body(const float *const *rows, int nr, int64_t W, int q, float *p0, float *p1)
{
    int64_t c = 0;
    if (q == 1) {
        for (; c < W; c += 8) _mm256_storeu_ps(p0 + c, vsum8(rows, nr, c, c + 8 > W, mask8(W - c < 8 ? W - c : 8)));
        return;
    }
    for (; c < W; c += 16) {
        const int64_t rem = W - c;
        const __m256 a = vsum8(rows, nr, c, rem < 8, mask8(rem < 8 ? rem : 8));
        const __m256 b = vsum8(rows, nr, c + 8, rem < 16, mask8(rem > 16 ? 8 : rem > 8 ? rem - 8 : 0));
        _mm256_storeu_ps(p0 + c / 2, evens(a, b));
        _mm256_storeu_ps(p1 + c / 2, odds(a, b));
    }
}

AVX2 static void vsum_avx2(const float *const *rows, int nr, int64_t W, int q, float *p0, float *p1)
{
    switch (nr) {
    case 2: vsum_body(rows, 2, W, q, p0, p1); break;
    case 3: vsum_body(rows, 3, W, q, p0, p1); break;
    default: vsum_body(rows, nr, W, q, p0, p1); break;
    }
}

INLINE void hsum_body(float *y, const float *const *tp, int kw, int64_t m, float inv)
{
    const __m256 vi = _mm256_set1_ps(inv);
    for (int64_t j = 0; j < m; j += 8) {
        __m256 acc = _mm256_loadu_ps(tp[0] + j);
        for (int k = 1; k < kw; k++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(tp[k] + j));
        store_tail(y + j, _mm256_mul_ps(acc, vi), m - j < 8 ? m - j : 8);
    }
}

AVX2 static void hsum_avx2(float *y, const float *const *tp, int kw, int64_t m, int64_t s, float inv)
{
    if (s != 1) {
        hsum_tail(y, tp, kw, 0, m, s, inv);
        return;
    }
    switch (kw) {
    case 2: hsum_body(y, tp, 2, m, inv); break;
    case 3: hsum_body(y, tp, 3, m, inv); break;
    default: hsum_body(y, tp, kw, m, inv); break;
    }
}

AVX2 static double gsum_avx2(const float *x, int64_t n)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
        a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8)));
        a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12)));
    }
    for (; i + 4 <= n; i += 4) a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    if (i < n) a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_maskload_ps(x + i, _mm256_castsi256_si128(mask8(n - i)))));
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

AVX2 static float gmax_avx2(const float *x, int64_t n)
{
    const __m256 first = _mm256_set1_ps(x[0]);
    __m256 a0 = first, a1 = first;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_max_ps(_mm256_loadu_ps(x + i), a0);
        a1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_max_ps(_mm256_loadu_ps(x + i), a0);
    if (i < n) { /* the lanes past n load 0: blend x[0] in, which changes nothing */
        const __m256i m = mask8(n - i);
        a1 = _mm256_max_ps(_mm256_blendv_ps(first, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m)), a1);
    }
    float lanes[16];
    _mm256_storeu_ps(lanes, a0);
    _mm256_storeu_ps(lanes + 8, a1);
    float m = x[0];
    for (int k = 0; k < 16; k++) m = mx(lanes[k], m);
    return m;
}

BATCH_FNS(_avx2, AVX2)
static const pool_kern KERN_AVX2 = {max_batch_avx2, avg_batch_avx2, gsum_avx2, gmax_avx2};

/* ---- max pooling of stride 2, AVX-512 build ----
 *
 * Windows 2 or 3 columns wide at stride 2 (nearly every CNN's max pool),
 * when the row has no border columns on the left (those on the right, of
 * ceil_mode or a right pad, read -inf past the row's end: GoogLeNet's
 * 28x28 and 56x56 pools ran 1.6x as long through the buffers): each output row straight from its
 * input rows in registers, 16 outputs a vector: the column fold of the
 * window's rows over 32 (+1) input columns, then evens, odds and evens
 * one further on by two-source permutes. The buffered column and row
 * passes cost squeezenet's pools 2-3x ORT's time in stores, reloads and
 * 8-lane pieces. Rows of a 3-row window at stride 2 go in pairs that load
 * their shared row once, and each 16-output block reuses the previous
 * block's last column vector: 64x111x111 -> 55x55 alone, 1 thread, 76 ->
 * 63 us with the input in L3 (and 55-59 with the lighter prefetch of
 * pool_prefetch), about 1.2x faster in L2 too. A row whose first input row holds a NaN among its taps
 * is redone the AVX2 kernel's way (the fold here is exact only when F = V,
 * see the top of the file). Other pools take the AVX2 kernels. */
#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE512 static inline __attribute__((always_inline, target("avx512f,avx2,fma")))

INLINE512 __mmask16 mask16(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* The fold from the first of nr rows kstep apart of the 16 columns at r
 * (lanes off mk -inf: columns past the row, which a ceil_mode window's
 * last taps may reach, take no part) into *a; with two windows, that of
 * the next window's rows into *b too, whose first row is this one's last
 * (a 3-row window at stride 2), loaded once for both. */
INLINE512 void vfold512(const float *r, int64_t kstep, int nr, int two, __mmask16 mk, bool clip, __m512 *a,
                        __m512 *b)
{
    /* zero-masked loads; with clip (the windows pass the row's end), -inf
     * then into the lanes off mk (merge-masked loads in every step, or a
     * blend on every row's last vectors, cost squeezenet's pools 1.1x) */
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 v = _mm512_maskz_loadu_ps(mk, r), last = v;
    for (int k = 1; k < nr; k++) v = _mm512_max_ps(last = _mm512_maskz_loadu_ps(mk, r + k * kstep), v);
    *a = !clip || mk == 0xFFFF ? v : _mm512_mask_mov_ps(ninf, mk, v);
    if (!two) return;
    for (int k = nr; k < 2 * nr - 1; k++) last = _mm512_max_ps(_mm512_maskz_loadu_ps(mk, r + k * kstep), last);
    *b = !clip || mk == 0xFFFF ? last : _mm512_mask_mov_ps(ninf, mk, last);
}

/* Output j's window (kw of 2 or 3 columns from input column 2j) over the
 * folded columns lo (input columns 0-15 of the block), hi (16-31) and,
 * for kw 3, t (from 32: its lane 0): evens, odds and the evens one on. */
INLINE512 __m512 s2_cols(__m512 lo, __m512 hi, __m512 t, int kw)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i inext = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    const __m512 e = _mm512_permutex2var_ps(lo, ie, hi);
    const __m512 acc = _mm512_max_ps(_mm512_permutex2var_ps(lo, io, hi), e);
    return kw == 3 ? _mm512_max_ps(_mm512_permutex2var_ps(e, inext, t), acc) : acc;
}

/* Output rows i < n of the batch, y[i][0..m + mb) from the nr input rows of
 * row i's window (from b->x + i rstep, kstep apart), window kw (2 or 3)
 * columns from input column x0 + 2j for output j. Rows go in pairs where
 * a window's last row is the next one's first. Each block of 16 outputs
 * folds the input columns 16-47 past its first; the next block starts
 * where this one's third vector did, so that vector is loaded in full
 * (up to the row's last column) and carried over. Returns the rows whose
 * first input row has a NaN tap (bit i; their y holds nothing reliable). */
INLINE512 unsigned s2_rows512(const pool_batch *b, const int nr, const int kw, const bool clip)
{
    const int64_t kstep = b->kstep, m = b->m + b->mb;
    /* the input columns of a row's windows, up to the row's end */
    const int64_t span = clip ? b->W - b->x0 : 2 * m - 2 + kw;
    const int pairs = nr == 3 && b->rstep == 2 * kstep;
    unsigned bad = 0;
    for (int i = 0; i < b->n; i += 1 + pairs) {
        const int two = pairs && i + 1 < b->n;
        pool_prefetch(b, i);
        if (two) pool_prefetch(b, i + 1);
        const float *r = b->x + i * b->rstep + b->x0;
        float *y0 = b->y + i * b->ystride, *y1 = y0 + b->ystride;
        __mmask16 nan0 = 0, nan1 = 0;
        __m512 lo0, lo1 = _mm512_setzero_ps(), hi0, hi1 = lo1, t0 = lo1, t1 = lo1;
        vfold512(r, kstep, nr, two, mask16(span), clip, &lo0, &lo1);
        for (int64_t j = 0; j < m; j += 16, r += 32) {
            const int64_t left = span - 2 * j; /* input columns from r on */
            vfold512(r + 16, kstep, nr, two, mask16(left - 16), clip, &hi0, &hi1);
            vfold512(r + 32, kstep, nr, two, mask16(left - 32), clip, &t0, &t1);
            nan0 |= _mm512_cmp_ps_mask(lo0, hi0, _CMP_UNORD_Q);
            const __mmask16 out = mask16(m - j);
            _mm512_mask_storeu_ps(y0 + j, out, s2_cols(lo0, hi0, t0, kw));
            if (two) {
                nan1 |= _mm512_cmp_ps_mask(lo1, hi1, _CMP_UNORD_Q);
                _mm512_mask_storeu_ps(y1 + j, out, s2_cols(lo1, hi1, t1, kw));
            }
            lo0 = t0;
            lo1 = t1;
        }
        /* the last block's t: its first lane is a tap when kw is 3 */
        nan0 |= _mm512_cmp_ps_mask(t0, t0, _CMP_UNORD_Q);
        nan1 |= _mm512_cmp_ps_mask(t1, t1, _CMP_UNORD_Q);
        if (nan0) bad |= 1u << i;
        if (two && nan1) bad |= 2u << i;
    }
    return bad;
}

AVX512 static unsigned max_batch_avx512(const pool_batch *b)
{
    if (!b->s2_direct || b->m <= 0) return max_batch_avx2(b);
    unsigned bad;
    /* clip: the last windows pass the row's end */
    const int64_t m = b->m + b->mb;
    if (2 * m - 2 + b->kw > b->W - b->x0) {
        bad = b->nr == 3 && b->kw == 3 ? s2_rows512(b, 3, 3, true) : s2_rows512(b, b->nr, b->kw, true);
    } else {
        switch (b->nr * 4 + b->kw) {
        case 3 * 4 + 3: bad = s2_rows512(b, 3, 3, false); break;
        case 2 * 4 + 2: bad = s2_rows512(b, 2, 2, false); break;
        default: bad = s2_rows512(b, b->nr, b->kw, false); break;
        }
    }
    for (int i = 0; i < b->n; i++) /* the long way, for these rows: their border columns then come from the buffers */
        if (bad >> i & 1) {
            pool_batch one = *b;
            one.n = 1;
            one.x = b->x + i * b->rstep;
            one.y = b->y + i * b->ystride;
            one.buf = b->buf + i * b->stride;
            max_batch_avx2(&one);
        }
    return bad;
}

static const pool_kern KERN_AVX512 = {max_batch_avx512, avg_batch_avx2, gsum_avx2, gmax_avx2};
#define KERN() (spd_vmath_avx512() ? &KERN_AVX512 : spd_vmath_avx2() ? &KERN_AVX2 : &KERN_PORT)

/* Max pooling at stride 1 of a plane whose padded rows fit one vector
 * (GoogLeNet's 3x3 branch pools over 14x14 and 7x7): each padded input row
 * in one register (-inf in the pads), its window maximum along the row by
 * lane permutes, then each output row the maximum of its window's rows.
 * The buffered passes spent ~1000 cycles a 14x14 plane in per-row set-up,
 * border columns and 8-lane pieces. Any order of the taps gives the
 * reference's result only without NaN (see the top of the file): a plane
 * holding one returns false, for the general walk. */
static bool max_small_fits(const spd_pool2d *p)
{
    return p->max && p->sy == 1 && p->sx == 1 && p->dy == 1 && p->dx == 1 && p->pl + p->W + p->pr <= 16 &&
           p->KW >= 1 && p->KH >= 1 && p->OW == p->W + p->pl + p->pr - p->KW + 1;
}

AVX512 static bool max_small_plane(const spd_pool2d *p, const float *x, float *y)
{
    const __mmask16 row = mask16(p->W);
    __mmask16 nan = 0;
    for (int64_t r = 0; r < p->H; r++) { /* x != x where NaN */
        const __m512 v = _mm512_maskz_loadu_ps(row, x + r * p->W);
        nan |= _mm512_mask_cmp_ps_mask(row, v, v, _CMP_UNORD_Q);
    }
    if (nan) return false;
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    /* lane i of a padded row holds column i - pl */
    const __m512i up = _mm512_sub_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                        _mm512_set1_epi32((int)p->pl));
    const __mmask16 in = (__mmask16)(mask16(p->pl + p->W) & ~mask16(p->pl));
    __m512 h[64]; /* the rows' window maxima; H <= 64 here */
    for (int64_t r = 0; r < p->H; r++) {
        const __m512 v = _mm512_mask_permutexvar_ps(ninf, in, up, _mm512_maskz_loadu_ps(row, x + r * p->W));
        __m512 m = v;
        for (int64_t k = 1; k < p->KW; k++) /* lane o takes lane o + k; past 15, -inf */
            m = _mm512_max_ps(m, _mm512_mask_permutexvar_ps(ninf, mask16(16 - k),
                                                           _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9,
                                                                                             8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                                            _mm512_set1_epi32((int)k)),
                                                           v));
        h[r] = m;
    }
    const __mmask16 out = mask16(p->OW);
    for (int64_t oy = 0; oy < p->OH; oy++) {
        __m512 m = ninf;
        for (int64_t k = 0; k < p->KH; k++) {
            const int64_t r = oy - p->pt + k;
            if (r >= 0 && r < p->H) m = _mm512_max_ps(m, h[r]);
        }
        _mm512_mask_storeu_ps(y + oy * p->OW, out, m);
    }
    return true;
}
#define MAX_SMALL_FITS(p) (spd_vmath_avx512() && (p)->H <= 64 && max_small_fits(p))

/* Stride-1 pools of small planes (Inception-v3's 3x3 average pools over
 * 35x35, 17x17 and 8x8; GoogLeNet's 3x3 max pools over 28x28), a plane at
 * a time: the column pass of every output row into buf first (a padded
 * row of Wp = pl + W + pr, pads 0 for average and -inf for max), then the
 * row pass of every row over it, 16 outputs a vector. The row-at-a-time
 * walk paid its set-up, border columns and store-to-load waits per row:
 * 17 ns a 17-wide row, 8x ORT's time over the model's pools. Every window
 * holds an in-bounds tap (pads < kernel), so the average's divisor is never
 * 0 and max's result is a tap's; with no NaN in the plane (else false, for
 * the general walk) any tap order gives the reference's max. */
static bool s1_plane_fits(const spd_pool2d *p)
{
    const int64_t Wp = p->W + p->pl + p->pr;
    return p->sy == 1 && p->sx == 1 && p->dy == 1 && p->dx == 1 && p->pl < p->KW && p->pr < p->KW &&
           p->pt < p->KH && p->pb < p->KH && p->OW == Wp - p->KW + 1 && p->OH == p->H + p->pt + p->pb - p->KH + 1 &&
           p->OH * Wp + 16 + p->KW <= PLANE_FLOATS && p->KH * p->OW <= S1_INV;
}

/* Whether s1_plane takes p flat (see s1_flat_body): where that needs at
 * most 0.8 of the vectors the row by row passes take (its tap masks cost
 * a little more a vector: 28-wide rows, 0.875, ran 1.05x as long flat;
 * 35-wide, 0.73, 0.86x). */
static bool s1_flat_fits(const spd_pool2d *p)
{
    return p->OH == p->H && p->OW == p->W && p->H * p->W <= FLAT_MAX && p->KW <= FLAT_KW &&
           p->H * p->W + 48 + p->KW <= PLANE_FLOATS && (p->H * p->W + 15) / 16 * 5 <= p->H * ((p->W + 15) / 16) * 4;
}

/* s1_plane's buffer: the padded column results, OH rows of Wp, then 16 +
 * KW spare floats, which the row pass reads past the last row's end (into
 * lanes it does not store): they are given values once a task. */
static void s1_plane_init(const spd_pool2d *p, float *buf)
{
    const int64_t end = p->OH * (p->W + p->pl + p->pr);
    for (int64_t c = end; c < end + 16 + p->KW; c++) buf[c] = 0;
    if (!s1_flat_fits(p)) return;
    /* the flat pass's: 16 before its column results and 16 + KW after */
    for (int64_t c = 0; c < 16; c++) buf[c] = 0;
    for (int64_t c = 16 + p->H * p->W; c < 32 + p->H * p->W + p->KW; c++) buf[c] = 0;
}

INLINE512 __m512 fold(__m512 a, __m512 b, bool is_max) { return is_max ? _mm512_max_ps(a, b) : _mm512_add_ps(a, b); }

/* dst[0..n) = the fold of ny runs of n floats, W apart, from x0 (ny <=
 * KH; KH constant, for the usual ny == KH). */
INLINE512 void fold_rows(const float *x0, int64_t n, int64_t W, int64_t ny, const int64_t KH, float *dst,
                         const bool is_max)
{
    for (int64_t c = 0; c < n; c += 16) {
        const __mmask16 m = mask16(n - c);
        __m512 v = _mm512_maskz_loadu_ps(m, x0 + c);
        if (ny == KH)
            for (int64_t k = 1; k < KH; k++) v = fold(v, _mm512_maskz_loadu_ps(m, x0 + k * W + c), is_max);
        else
            for (int64_t k = 1; k < ny; k++) v = fold(v, _mm512_maskz_loadu_ps(m, x0 + k * W + c), is_max);
        _mm512_mask_storeu_ps(dst + c, m, v);
    }
}

INLINE512 void s1_plane_body(const spd_pool2d *p, const float *x, float *y, float *buf, const float *inv,
                              const bool is_max, const int64_t KH, const int64_t KW)
{
    const int64_t W = p->W, H = p->H, pl = p->pl, pt = p->pt, Wp = W + pl + p->pr, OW = p->OW, OH = p->OH;
    const float padv = is_max ? -INFINITY : 0.0f;
    for (int64_t oy = 0; oy < OH; oy++) {
        /* the window's in-bounds rows [y0, y1) */
        const int64_t y0 = pt - oy > 0 ? pt - oy : 0, y1 = H + pt - oy < KH ? H + pt - oy : KH, ny = y1 - y0;
        float *r = buf + oy * Wp;
        for (int64_t c = 0; c < pl; c++) r[c] = padv;
        for (int64_t c = pl + W; c < Wp; c++) r[c] = padv;
        fold_rows(x + (oy - pt + y0) * W, W, W, ny, KH, r + pl, is_max);
    }
    /* average: the divisors' rows count padded rows too with count_include_pad */
    const int64_t lo = is_max || p->count_include_pad ? -pt : 0, hi = is_max || p->count_include_pad ? H + p->pb : H;
    for (int64_t oy = 0; oy < OH; oy++) {
        const float *r = buf + oy * Wp;
        const int64_t a = lo + pt - oy > 0 ? lo + pt - oy : 0, b = hi + pt - oy < KH ? hi + pt - oy : KH;
        const float *iv = inv + (b - a - 1) * OW;
        for (int64_t ox = 0; ox < OW; ox += 16) {
            __m512 v = _mm512_loadu_ps(r + ox);
            for (int64_t k = 1; k < KW; k++) v = fold(v, _mm512_loadu_ps(r + ox + k), is_max);
            const __mmask16 m = mask16(OW - ox);
            if (!is_max) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, iv + ox));
            _mm512_mask_storeu_ps(y + oy * OW + ox, m, v);
        }
    }
}

/* Pools that keep the plane's size (pads KH - 1 and KW - 1 in all, the
 * usual "same" pooling) over at most FLAT_MAX values go flat: the plane's
 * rows are contiguous, so the column pass of the rows whose windows lie
 * inside the plane is one run over all of them, and the row pass is one
 * run over the whole plane, 16 outputs a vector wherever the rows end;
 * each tap's load masks off the lanes whose tap falls outside its row
 * (columns tracked per lane). A 17x17 plane is 19 vectors, where row by
 * row it was 34 (the second of each row one lane full). */
INLINE512 void s1_flat_body(const spd_pool2d *p, const float *x, float *y, float *buf, const float *finv,
                             const bool is_max, const int64_t KH, const int64_t KW)
{
    const int64_t W = p->W, H = p->H, HW = H * W, pt = p->pt, pl = p->pl;
    float *C = buf + 16; /* the row pass reads from C - pl */
    const int64_t lo = pt, hi = H - p->pb; /* the rows whose windows lie inside the plane */
    for (int64_t oy = 0; oy < H; oy++) {
        if (oy == lo && hi > lo) { /* rows [lo, hi) as one run of (hi - lo) W columns */
            fold_rows(x, (hi - lo) * W, W, KH, KH, C + lo * W, is_max);
            oy = hi - 1;
            continue;
        }
        const int64_t y0 = pt - oy > 0 ? pt - oy : 0, y1 = H + pt - oy < KH ? H + pt - oy : KH;
        fold_rows(x + (oy - pt + y0) * W, W, W, y1 - y0, KH, C + oy * W, is_max);
    }
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __m512i vW = _mm512_set1_epi32((int)W), step = _mm512_set1_epi32(16 % (int)W);
    /* each lane's column; kept in [0, W) as the vector moves 16 on */
    int32_t c0[16];
    for (int l = 0; l < 16; l++) c0[l] = (int32_t)(l % W);
    __m512i col = _mm512_loadu_si512(c0);
    for (int64_t i = 0; i < HW; i += 16) {
        const __mmask16 m = mask16(HW - i);
        __m512 v = is_max ? ninf : _mm512_setzero_ps();
        for (int64_t k = 0; k < KW; k++) {
            /* lanes whose tap column col + k - pl lies in [0, W) */
            const __mmask16 in = _mm512_cmplt_epu32_mask(_mm512_add_epi32(col, _mm512_set1_epi32((int)(k - pl))), vW);
            const __m512 t = _mm512_loadu_ps(C + i + k - pl);
            v = fold(v, is_max ? _mm512_mask_mov_ps(ninf, in, t) : _mm512_maskz_mov_ps(in, t), is_max);
        }
        if (!is_max) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, finv + i));
        _mm512_mask_storeu_ps(y + i, m, v);
        /* 16 on: col + 16 mod W (16 % W added, W taken once off where past) */
        col = _mm512_add_epi32(col, step);
        col = _mm512_mask_sub_epi32(col, _mm512_cmpge_epi32_mask(col, vW), col, vW);
    }
}

/* buf: PLANE_FLOATS floats, after s1_plane_init; t: see s1_tabs. */
AVX512 static bool s1_plane(const spd_pool2d *p, const float *x, float *y, float *buf, const s1_tabs *t)
{
    const float *inv = t->inv;
    if (p->max) {
        __mmask16 nan = 0;
        for (int64_t i = 0; i < p->H * p->W; i += 16) {
            const __m512 v = _mm512_maskz_loadu_ps(mask16(p->H * p->W - i), x + i);
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        }
        if (nan) return false;
        if (t->flat && p->KH == 3 && p->KW == 3) s1_flat_body(p, x, y, buf, t->finv, true, 3, 3);
        else if (t->flat) s1_flat_body(p, x, y, buf, t->finv, true, p->KH, p->KW);
        else if (p->KH == 3 && p->KW == 3) s1_plane_body(p, x, y, buf, inv, true, 3, 3);
        else s1_plane_body(p, x, y, buf, inv, true, p->KH, p->KW);
    } else {
        if (t->flat && p->KH == 3 && p->KW == 3) s1_flat_body(p, x, y, buf, t->finv, false, 3, 3);
        else if (t->flat) s1_flat_body(p, x, y, buf, t->finv, false, p->KH, p->KW);
        else if (p->KH == 3 && p->KW == 3) s1_plane_body(p, x, y, buf, inv, false, 3, 3);
        else s1_plane_body(p, x, y, buf, inv, false, p->KH, p->KW);
    }
    return true;
}
#define S1_PLANE_FITS(p) (spd_vmath_avx512() && s1_plane_fits(p))
#else
#define KERN() (&KERN_PORT)
#define MAX_SMALL_FITS(p) false
#define S1_PLANE_FITS(p) false
static bool max_small_plane(const spd_pool2d *p, const float *x, float *y) { return (void)p, (void)x, (void)y, false; }
static bool s1_plane(const spd_pool2d *p, const float *x, float *y, float *buf, const s1_tabs *t)
{
    return (void)p, (void)x, (void)y, (void)buf, (void)t, false;
}
static bool s1_flat_fits(const spd_pool2d *p) { return (void)p, false; }
static void s1_plane_init(const spd_pool2d *p, float *buf) { (void)p, (void)buf; }
#endif

/* t's tables for p (see s1_tabs). */
static void s1_tabs_init(const spd_pool2d *p, s1_tabs *t)
{
    t->flat = s1_flat_fits(p);
    if (p->max) return;
    const bool inc = p->count_include_pad; /* windows count padded taps too */
    for (int64_t ox = 0; ox < p->OW; ox++) {
        int64_t x0, x1;
        taps(ox, 1, p->pl, 1, p->KW, inc ? -p->pl : 0, inc ? p->W + p->pr : p->W, &x0, &x1);
        for (int64_t r = 1; r <= p->KH; r++) t->inv[(r - 1) * p->OW + ox] = (float)(1.0 / (double)(r * (x1 - x0)));
    }
    if (!t->flat) return;
    for (int64_t oy = 0; oy < p->OH; oy++) {
        int64_t y0, y1;
        taps(oy, 1, p->pt, 1, p->KH, inc ? -p->pt : 0, inc ? p->H + p->pb : p->H, &y0, &y1);
        memcpy(t->finv + oy * p->OW, t->inv + (y1 - y0 - 1) * p->OW, (size_t)p->OW * sizeof(float));
    }
}

/* ---- the plane walk ---- */

/* Spare elements at the end of each buffer array (see the AVX2 kernels). */
#define PADV 16
/* Border columns the job lists; more take taps() per row. */
#define NBORDER 8

typedef struct pool_job {
    const spd_pool2d *p;
    const pool_kern *k;
    const float *x;
    float *y;
    int q;                   /* column phases of the buffer: 2 for stride 2, else 1 */
    int64_t L;               /* elements per buffer array, PADV spare included */
    int64_t ox_lo, ox_hi;    /* output columns whose taps all lie inside the row */
    int64_t oy_lo, oy_hi;    /* output rows whose taps all lie inside the plane */
    int64_t nb;              /* border columns: those outside [ox_lo, ox_hi) */
    int64_t bt[NBORDER][3];  /* the first ones' in-bounds taps [x0, x1) and padded tap count */
    int64_t rb;              /* row blocks per plane (tasks split planes when > 1) */
    bool small;              /* max_small_plane first, plane by plane */
    bool s1;                 /* s1_plane first, plane by plane */
    const s1_tabs *tabs;     /* its tables */
    int64_t planes_per_task; /* when rb == 1 */
} pool_job;


/* One output, window clipped to the plane: the reference's walk. */
static float pool_one(const spd_pool2d *p, const float *xc, int64_t oy, int64_t ox)
{
    int64_t y0, y1, x0, x1;
    taps(oy, p->sy, p->pt, p->dy, p->KH, 0, p->H, &y0, &y1);
    taps(ox, p->sx, p->pl, p->dx, p->KW, 0, p->W, &x0, &x1);
    const int64_t by = oy * p->sy - p->pt, bx = ox * p->sx - p->pl;
    if (p->max) {
        float acc = -INFINITY;
        bool first = true;
        for (int64_t ky = y0; ky < y1; ky++)
            for (int64_t kx = x0; kx < x1; kx++) {
                const float v = xc[(by + ky * p->dy) * p->W + bx + kx * p->dx];
                acc = first ? v : mx(v, acc);
                first = false;
            }
        return acc;
    }
    double acc = 0;
    for (int64_t ky = y0; ky < y1; ky++)
        for (int64_t kx = x0; kx < x1; kx++) acc += xc[(by + ky * p->dy) * p->W + bx + kx * p->dx];
    int64_t count;
    if (p->count_include_pad) {
        int64_t py0, py1, px0, px1;
        taps(oy, p->sy, p->pt, p->dy, p->KH, -p->pt, p->H + p->pb, &py0, &py1);
        taps(ox, p->sx, p->pl, p->dx, p->KW, -p->pl, p->W + p->pr, &px0, &px1);
        count = (py1 - py0) * (px1 - px0);
    } else {
        count = (y1 - y0) * (x1 - x0);
    }
    return (float)(acc / (double)(count ? count : 1));
}

/* Offset of column c's V in the buffer: array c % q, element c / q. */
static inline int64_t at(const pool_job *j, int64_t c) { return j->q == 1 ? c : (c & 1) * j->L + (c >> 1); }

/* Border column i (< nb): its output column, in-bounds taps [*x0, *x1) and
 * padded tap count. */
static int64_t border_col(const pool_job *j, int64_t i, int64_t *x0, int64_t *x1, int64_t *px)
{
    const spd_pool2d *p = j->p;
    const int64_t ox = i < j->ox_lo ? i : j->ox_hi + (i - j->ox_lo);
    if (i < NBORDER) {
        *x0 = j->bt[i][0];
        *x1 = j->bt[i][1];
        *px = j->bt[i][2];
        return ox;
    }
    int64_t a, b;
    taps(ox, p->sx, p->pl, p->dx, p->KW, 0, p->W, x0, x1);
    taps(ox, p->sx, p->pl, p->dx, p->KW, -p->pl, p->W + p->pr, &a, &b);
    *px = b - a;
    return ox;
}

/* A task's column buffers, one per output row of a batch: the column
 * passes of a batch of rows run before their row passes, as a row pass
 * right after its column pass loads what was stored moments before, across
 * two stores, and waits for them to reach the cache. Each buffer holds q
 * arrays of V (column maxima or sums), then F for max. */
#define BATCH 8

typedef struct row_buf {
    char *mem;
    int64_t stride;          /* bytes per row */
    int batch;               /* rows per batch */
    int64_t off[MAXK], foff; /* tap k of the first interior output, and its F: elements from a row's buffer */
} row_buf;

static void row_buf_init(const pool_job *j, row_buf *rb)
{
    const spd_pool2d *p = j->p;
    const int64_t c0 = j->ox_lo * p->sx - p->pl;
    for (int64_t k = 0; k < p->KW && j->ox_hi > j->ox_lo; k++) rb->off[k] = at(j, c0 + k * p->dx);
    rb->foff = j->q * j->L + (j->ox_hi > j->ox_lo ? (j->q == 1 ? c0 : c0 >> 1) : 0);
}

/* The border columns of an output row of max from its buffer b (after the
 * column pass); r0: the first in-bounds input row. F of the first in-bounds
 * column is made here, as the buffer keeps it for one parity only, if at all. */
static void max_border(const pool_job *j, const float *b, const float *r0, float *yr)
{
    const spd_pool2d *p = j->p;
    for (int64_t i = 0; i < j->nb; i++) {
        int64_t x0, x1, px;
        const int64_t ox = border_col(j, i, &x0, &x1, &px);
        if (x0 == x1) {
            yr[ox] = -INFINITY;
            continue;
        }
        const int64_t bx = ox * p->sx - p->pl;
        float acc = mx(b[at(j, bx + x0 * p->dx)], r0[bx + x0 * p->dx]);
        for (int64_t kx = x0 + 1; kx < x1; kx++) acc = mx(b[at(j, bx + kx * p->dx)], acc);
        yr[ox] = acc;
    }
}

/* The same for average; ny: the row count of the window (padded or not). */
static void avg_border(const pool_job *j, const float *b, int64_t ny, float *yr)
{
    const spd_pool2d *p = j->p;
    for (int64_t i = 0; i < j->nb; i++) {
        int64_t x0, x1, px;
        const int64_t ox = border_col(j, i, &x0, &x1, &px);
        const int64_t nx = p->count_include_pad ? px : x1 - x0;
        const int64_t bx = ox * p->sx - p->pl;
        float acc = 0;
        for (int64_t kx = x0; kx < x1; kx++) acc += b[at(j, bx + kx * p->dx)];
        yr[ox] = acc / (float)(ny * nx != 0 ? ny * nx : 1);
    }
}

/* Output rows [r0, r1) of plane pl; rb NULL: the reference walk. Rows whose
 * windows lie inside the plane go in batches, the others one at a time. */
static void pool_rows(const pool_job *j, const row_buf *rb, int64_t pl, int64_t r0, int64_t r1)
{
    const spd_pool2d *p = j->p;
    const float *xc = j->x + pl * p->H * p->W;
    float *yc = j->y + pl * p->OH * p->OW;
    if (!rb) {
        for (int64_t oy = r0; oy < r1; oy++)
            for (int64_t ox = 0; ox < p->OW; ox++) yc[oy * p->OW + ox] = pool_one(p, xc, oy, ox);
        return;
    }
    pool_batch b = {.rstep = p->sy * p->W, .kstep = p->dy * p->W, .W = p->W, .q = j->q, .fpar = (int)(p->pl & 1),
                    .buf = rb->mem, .stride = rb->stride, .L = j->L, .off = rb->off, .foff = rb->foff,
                    .kw = (int)p->KW, .m = j->ox_hi - j->ox_lo, .s = j->q == 1 ? p->sx : 1, .ystride = p->OW,
                    .s2_direct = p->max && p->sx == 2 && p->dx == 1 && (p->KW == 2 || p->KW == 3) && j->ox_lo == 0,
                    .mb = p->OW - j->ox_hi,
                    .x0 = j->ox_lo * p->sx - p->pl};
    for (int64_t oy = r0; oy < r1; oy += b.n) {
        int64_t y0 = 0, y1 = p->KH, ny;
        if (oy >= j->oy_lo && oy < j->oy_hi) {
            const int64_t end = r1 < j->oy_hi ? r1 : j->oy_hi;
            b.n = end - oy < rb->batch ? (int)(end - oy) : rb->batch;
            ny = p->KH;
        } else {
            b.n = 1;
            taps(oy, p->sy, p->pt, p->dy, p->KH, 0, p->H, &y0, &y1);
            ny = y1 - y0;
            if (p->count_include_pad) {
                int64_t py0, py1;
                taps(oy, p->sy, p->pt, p->dy, p->KH, -p->pt, p->H + p->pb, &py0, &py1);
                ny = py1 - py0;
            }
        }
        float *yr = yc + oy * p->OW;
        if (y1 == y0) {
            for (int64_t ox = 0; ox < p->OW; ox++) yr[ox] = pool_one(p, xc, oy, ox);
            continue;
        }
        b.x = xc + (oy * p->sy - p->pt + y0 * p->dy) * p->W;
        b.nr = (int)(y1 - y0);
        b.y = yr + j->ox_lo;
        if (p->max) {
            const unsigned border = j->k->max_batch(&b);
            for (int i = 0; i < b.n && j->nb; i++)
                if (border >> i & 1)
                    max_border(j, (const float *)(rb->mem + i * rb->stride), b.x + i * b.rstep, yr + i * p->OW);
        } else {
            b.inv = 1.0f / (float)(ny * p->KW);
            j->k->avg_batch(&b);
            for (int i = 0; i < b.n && j->nb; i++)
                avg_border(j, (const float *)(rb->mem + i * rb->stride), ny, yr + i * p->OW);
        }
    }
}

static void pool_task(void *ctx, int64_t t)
{
    const pool_job *j = ctx;
    const spd_pool2d *p = j->p;
    double stack[2048];
    row_buf rbuf, *rb = &rbuf;
    rbuf.stride = (j->q + (p->max ? 1 : 0)) * j->L * (int64_t)sizeof(float);
    rbuf.batch = (int)((int64_t)sizeof stack / rbuf.stride < BATCH ? (int64_t)sizeof stack / rbuf.stride : BATCH);
    rbuf.mem = (char *)stack;
    if (p->KH > MAXK || p->KW > MAXK) {
        rb = NULL;
    } else if (rbuf.batch < 1) {
        rbuf.batch = 1;
        if (!(rbuf.mem = spd_malloc((size_t)rbuf.stride))) rb = NULL; /* the walk */
    }
    if (rb) row_buf_init(j, rb);
    if (j->s1) s1_plane_init(p, (float *)stack);
    if (j->rb > 1) {
        const int64_t pl = t / j->rb, b = t % j->rb;
        pool_rows(j, rb, pl, b * p->OH / j->rb, (b + 1) * p->OH / j->rb);
    } else {
        const int64_t p0 = t * j->planes_per_task;
        const int64_t p1 = p0 + j->planes_per_task < p->nc ? p0 + j->planes_per_task : p->nc;
        for (int64_t pl = p0; pl < p1; pl++) {
            if (j->small && max_small_plane(p, j->x + pl * p->H * p->W, j->y + pl * p->OH * p->OW)) continue;
            if (j->s1 && s1_plane(p, j->x + pl * p->H * p->W, j->y + pl * p->OH * p->OW, (float *)stack, j->tabs))
                continue;
            pool_rows(j, rb, pl, 0, p->OH);
        }
    }
    if (rb && rbuf.mem != (char *)stack) spd_free(rbuf.mem);
}

void spd_pool2d_f32(const spd_pool2d *p, const float *x, float *y)
{
    if (p->nc <= 0 || p->OH <= 0 || p->OW <= 0) return;
    pool_job j = {.p = p, .k = KERN(), .x = x, .y = y, .q = p->sx == 2 ? 2 : 1, .rb = 1, .planes_per_task = p->nc,
                  .small = MAX_SMALL_FITS(p), .s1 = S1_PLANE_FITS(p)};
    s1_tabs tabs; /* uninitialised: 12 KB, filled only where used */
    if (j.s1) {
        s1_tabs_init(p, &tabs);
        j.tabs = &tabs;
    }
    j.L = ((j.q == 1 ? p->W : (p->W + 1) / 2) + PADV + 7) & ~(int64_t)7;
    /* interior columns: ox*sx - pl >= 0 and ox*sx - pl + (KW-1)*dx <= W - 1 */
    const int64_t ext = (p->KW - 1) * p->dx;
    j.ox_lo = (p->pl + p->sx - 1) / p->sx;
    j.ox_hi = p->W - 1 - ext + p->pl >= 0 ? (p->W - 1 - ext + p->pl) / p->sx + 1 : 0;
    if (j.ox_lo > p->OW) j.ox_lo = p->OW;
    if (j.ox_hi > p->OW) j.ox_hi = p->OW;
    if (j.ox_hi < j.ox_lo) j.ox_hi = j.ox_lo;
    j.nb = j.ox_lo + p->OW - j.ox_hi;
    for (int64_t i = 0; i < j.nb && i < NBORDER; i++) {
        const int64_t ox = i < j.ox_lo ? i : j.ox_hi + (i - j.ox_lo);
        int64_t a, b;
        taps(ox, p->sx, p->pl, p->dx, p->KW, 0, p->W, &j.bt[i][0], &j.bt[i][1]);
        taps(ox, p->sx, p->pl, p->dx, p->KW, -p->pl, p->W + p->pr, &a, &b);
        j.bt[i][2] = b - a;
    }
    /* the same for rows */
    const int64_t ey = (p->KH - 1) * p->dy;
    j.oy_lo = (p->pt + p->sy - 1) / p->sy;
    j.oy_hi = p->H - 1 - ey + p->pt >= 0 ? (p->H - 1 - ey + p->pt) / p->sy + 1 : 0;
    if (j.oy_hi > p->OH) j.oy_hi = p->OH;
    if (j.oy_hi < j.oy_lo) j.oy_hi = j.oy_lo;
    const int64_t work = p->OH * p->OW * p->KH * p->KW + p->H * p->W;
    const int threads = spd_thread_count();
    int64_t tasks = 1;
    if (work * p->nc >= PAR_MIN && threads > 1) {
        if (p->nc >= 4 * threads || work < 2 * CHUNK) {
            j.planes_per_task = work >= CHUNK ? 1 : CHUNK / work;
            tasks = (p->nc + j.planes_per_task - 1) / j.planes_per_task;
        } else { /* few large planes: split them into blocks of rows */
            j.rb = work / CHUNK < p->OH ? work / CHUNK : p->OH;
            tasks = p->nc * j.rb;
        }
    }
    spd_parallel_for(tasks, pool_task, &j);
}

/* ---- global pooling ---- */

typedef struct gpool_job {
    bool max;
    const pool_kern *k;
    int64_t n, planes_per_task, nc;
    const float *x;
    float *y;
} gpool_job;

static void gpool_task(void *ctx, int64_t t)
{
    const gpool_job *j = ctx;
    const int64_t p0 = t * j->planes_per_task;
    const int64_t p1 = p0 + j->planes_per_task < j->nc ? p0 + j->planes_per_task : j->nc;
    if (j->max)
        for (int64_t pl = p0; pl < p1; pl++) j->y[pl] = j->k->gmax(j->x + pl * j->n, j->n);
    else
        for (int64_t pl = p0; pl < p1; pl++) j->y[pl] = (float)(j->k->gsum(j->x + pl * j->n, j->n) / (double)j->n);
}

void spd_global_pool_f32(bool max, int64_t nc, int64_t n, const float *x, float *y)
{
    if (nc <= 0 || n <= 0) return;
    gpool_job j = {max, KERN(), n, nc, nc, x, y};
    /* from SPD_PAR_MIN_STREAM values, not PAR_MIN: a pool over a plane two
     * cores just wrote reads half of it from the other core (EfficientNet's
     * squeeze-and-excitation pools at 2 threads: 102 -> 96 us) */
    if (n * nc >= SPD_PAR_MIN_STREAM && spd_thread_count() > 1) j.planes_per_task = n >= CHUNK ? 1 : CHUNK / n;
    spd_parallel_for((nc + j.planes_per_task - 1) / j.planes_per_task, gpool_task, &j);
}
