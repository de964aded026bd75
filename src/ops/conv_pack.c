/* The phase-split im2col packer of a 2-D convolution (see conv_pack.h). */
#include "ops/conv_pack.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ops/vmath.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/threadpool.h"

#define MAX_STRIDE 8
/* Copies below this many floats stay on the calling thread. From 8192 on
 * they split: squeezenet's 16-channel 57x57 source (52k floats) filled on
 * the caller alone while the other thread waited, 15% of that 3x3
 * layer's time at 2 threads (0.97x split; squeezenet1_1 0.99x; 2048 gained
 * nothing more). */
#define FILL_PARALLEL_MIN 8192

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int spd_conv2d_src_fits(const spd_conv2d_shape *s)
{
    return s->C > 0 && s->OH > 0 && s->OW > 0 && s->sy >= 1 && s->sx >= 1 && s->sy <= MAX_STRIDE &&
           s->sx <= MAX_STRIDE && s->dy >= 1 && s->dx >= 1 && s->pt >= 0 && s->pl >= 0;
}

/* Planes narrower than this cannot take the implicit GEMM (conv_implicit.h),
 * so a stride-2 kernel there is packed from X directly: the plane copy
 * was most of what resnet50's stride-2 3x3 convolutions spent besides the
 * product in a model, where the copy's writes miss the caches (layer2.0's
 * fill: ~70 us with warm caches, ~380 with cold). */
#define DIRECT_MAX_WH 32

static atomic_int g_direct_on = -1; /* -1: environment not read yet */

static bool direct_fits(const spd_conv2d_src *src, int64_t nr)
{
    const spd_conv2d_shape *s = &src->s;
    int on = atomic_load(&g_direct_on);
    if (on < 0) {
        const char *v = getenv("SPEEDSTER_S2_DIRECT");
        on = !(v && v[0] == '0');
        atomic_store(&g_direct_on, on);
    }
    return on && s->sy == 2 && s->sx == 2 && s->dy == 1 && s->dx == 1 && src->Wh < DIRECT_MAX_WH && nr == 32 &&
           spd_vmath_avx512();
}

spd_status spd_conv2d_src_init(spd_conv2d_src *src, const spd_conv2d_shape *s, int64_t nr, int allow_direct)
{
    memset(src, 0, sizeof *src);
    src->s = *s;
    src->nr = nr;
    /* padded rows and columns the taps reach */
    const int64_t PH = (s->OH - 1) * s->sy + (s->KH - 1) * s->dy + 1;
    const int64_t PW = (s->OW - 1) * s->sx + (s->KW - 1) * s->dx + 1;
    src->Hh = cdiv(PH, s->sy);
    src->Wh = cdiv(PW, s->sx);
    /* only the phases some tap reads get a plane (a strided 1x1 reads one) */
    int64_t slot[MAX_STRIDE * MAX_STRIDE];
    for (int i = 0; i < MAX_STRIDE * MAX_STRIDE; i++) slot[i] = -1;
    for (int64_t ky = 0; ky < s->KH; ky++)
        for (int64_t kx = 0; kx < s->KW; kx++) slot[(ky * s->dy % s->sy) * s->sx + kx * s->dx % s->sx] = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < s->sy * s->sx; i++)
        if (slot[i] == 0) {
            src->used[n] = (unsigned char)i;
            slot[i] = n++;
        }
    src->nphase = n;
    if (allow_direct && direct_fits(src, nr)) {
        src->direct = 1;
        return SPD_OK; /* buf: X, set by spd_conv2d_src_fill */
    }
    const int64_t plane = src->Hh * src->Wh, rows = s->C * s->KH * s->KW;
    const bool alias = n == 1 && s->sy == 1 && s->sx == 1 && s->pt == 0 && s->pl == 0 && src->Hh == s->H &&
                       src->Wh == s->W;
    /* SPD_CONV2D_SLACK zeros after the planes: an implicit GEMM's last
     * panel reads past the last plane's last row (ops/conv_implicit.h) */
    if (!alias) {
        src->buf = src->own =
            spd_scratch(SPD_SCRATCH_CONV_SRC, (size_t)(s->C * n * plane + SPD_CONV2D_SLACK) * sizeof(float));
        if (src->own) memset(src->own + s->C * n * plane, 0, SPD_CONV2D_SLACK * sizeof(float));
    }
    src->off = spd_scratch(SPD_SCRATCH_CONV_IDX, (size_t)rows * sizeof(int64_t));
    if ((!alias && !src->buf) || !src->off) {
        spd_conv2d_src_free(src);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for a %lld-channel padded convolution input",
                          (long long)s->C);
    }
    for (int64_t c = 0, p = 0; c < s->C; c++)
        for (int64_t ky = 0; ky < s->KH; ky++)
            for (int64_t kx = 0; kx < s->KW; kx++, p++) {
                const int64_t ry = ky * s->dy, rx = kx * s->dx;
                const int64_t ph = slot[(ry % s->sy) * s->sx + rx % s->sx];
                src->off[p] = (c * n + ph) * plane + ry / s->sy * src->Wh + rx / s->sx;
            }
    return SPD_OK;
}

void spd_conv2d_src_free(spd_conv2d_src *src)
{
    src->buf = src->own = NULL; /* the thread's scratch, kept for the next call */
    src->off = NULL;
}

/* d[q] = x[2q] for q < n, reading no further than x[avail - 1]: the
 * stride-2 planes of a stem convolution. Four at a time with SSE (part of
 * x86-64's baseline): the scalar gather was a sixth of a 3-channel stem's
 * time, more than its packing. */
static void copy_even(float *d, const float *x, int64_t n, int64_t avail)
{
    int64_t q = 0;
#if defined(__SSE2__)
    for (; q + 4 <= n && 2 * q + 8 <= avail; q += 4)
        _mm_storeu_ps(d + q,
                      _mm_shuffle_ps(_mm_loadu_ps(x + 2 * q), _mm_loadu_ps(x + 2 * q + 4), _MM_SHUFFLE(2, 0, 2, 0)));
#else
    (void)avail;
#endif
    for (; q < n; q++) d[q] = x[2 * q];
}

#if defined(__x86_64__)
/* copy_even in 16 lanes: a two-source permute per 16 outputs, masked at
 * the end (the SSE loop left squeezenet's 3-channel stem copy at 27 us). */
__attribute__((target("avx512f"))) static void copy_even_avx512(float *d, const float *x, int64_t n, int64_t avail)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t q = 0; q < n; q += 16) {
        const int64_t r = n - q < 16 ? n - q : 16, have = avail - 2 * q; /* have > 2 (r - 1) */
        const __mmask16 ml = have >= 16 ? 0xFFFF : (__mmask16)((1u << have) - 1u);
        const __mmask16 mh = have >= 32 ? 0xFFFF : have <= 16 ? 0 : (__mmask16)((1u << (have - 16)) - 1u);
        const __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(ml, x + 2 * q), even,
                                                _mm512_maskz_loadu_ps(mh, x + 2 * q + 16));
        _mm512_mask_storeu_ps(d + q, r == 16 ? 0xFFFF : (__mmask16)((1u << r) - 1u), v);
    }
}
#endif

/* n zeros, n mostly 0 or 1 (a plane row's padding): a libc call per row
 * end was most of the fill (resnet50's layer2.0.conv2: 165 us to fill its
 * four 29x29 planes of 128 channels) */
static inline void zero_few(float *d, int64_t n)
{
    if (n > 16)
        memset(d, 0, (size_t)n * sizeof(float));
    else
        for (int64_t q = 0; q < n; q++) d[q] = 0.0f;
}

typedef struct fill_job {
    spd_conv2d_src *src;
    const float *x;
    int64_t bands; /* tasks per channel, each a band of plane rows */
} fill_job;

#if defined(__x86_64__)
/* Channel c's planes when the stride is 2 both ways and all four phases
 * are read (a 3x3 or larger stride-2 kernel): each input row is read once
 * and split into its even and odd columns by two two-source permutes per
 * 32 floats, each half going to the plane of its column phase; plane rows
 * [i0, i1) of the channel. Four copy_even passes per row, one per phase, reading each
 * input row twice, took resnet50's layer2.0.conv2 (128 x 56 x 56) 112 us. */
__attribute__((target("avx512f"))) static void fill_channel_s2(const spd_conv2d_src *src, const float *xc,
                                                               float *planes, int64_t i0, int64_t i1)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const spd_conv2d_shape *s = &src->s;
    const int64_t Hh = src->Hh, Wh = src->Wh, W = s->W;
    /* per column phase px: plane columns [j0, j1) hold input columns
     * xs + 2 (j - j0), xs 0 (the even ones) for one phase, 1 for the other */
    int64_t j0[2], j1[2], ph[2][2];
    for (int px = 0; px < 2; px++) {
        j0[px] = px >= s->pl ? 0 : cdiv(s->pl - px, 2);
        j1[px] = W + s->pl - px > 0 ? cdiv(W + s->pl - px, 2) : 0;
        if (j0[px] > Wh) j0[px] = Wh;
        if (j1[px] > Wh) j1[px] = Wh;
        if (j1[px] < j0[px]) j1[px] = j0[px];
    }
    for (int64_t k = 0; k < 4; k++) ph[src->used[k] / 2][src->used[k] % 2] = k;
    const int pe = (int)((2 * j0[0] - s->pl) & 1); /* 0 when phase 0 holds the even columns */
    const int64_t ne = j1[pe] - j0[pe], no = j1[1 - pe] - j0[1 - pe], n = ne > no ? ne : no;
    for (int py = 0; py < 2; py++)
        for (int64_t i = i0; i < i1; i++) {
            float *de = planes + ph[py][pe] * Hh * Wh + i * Wh, *dodd = planes + ph[py][1 - pe] * Hh * Wh + i * Wh;
            const int64_t iy = 2 * i + py - s->pt;
            if (iy < 0 || iy >= s->H) {
                memset(de, 0, (size_t)Wh * sizeof(float));
                memset(dodd, 0, (size_t)Wh * sizeof(float));
                continue;
            }
            const float *xr = xc + iy * W;
            zero_few(de, j0[pe]);
            zero_few(dodd, j0[1 - pe]);
            de += j0[pe];
            dodd += j0[1 - pe];
            for (int64_t q = 0; q < n; q += 16) {
                const int64_t have = W - 2 * q; /* > 0 */
                const __mmask16 ml = have >= 16 ? 0xFFFF : (__mmask16)((1u << have) - 1u);
                const __mmask16 mh = have >= 32 ? 0xFFFF : have <= 16 ? 0 : (__mmask16)((1u << (have - 16)) - 1u);
                const __m512 lo = _mm512_maskz_loadu_ps(ml, xr + 2 * q), hi = _mm512_maskz_loadu_ps(mh, xr + 2 * q + 16);
                const int64_t re = ne - q, ro = no - q;
                if (re > 0)
                    _mm512_mask_storeu_ps(de + q, re >= 16 ? 0xFFFF : (__mmask16)((1u << re) - 1u),
                                          _mm512_permutex2var_ps(lo, even, hi));
                if (ro > 0)
                    _mm512_mask_storeu_ps(dodd + q, ro >= 16 ? 0xFFFF : (__mmask16)((1u << ro) - 1u),
                                          _mm512_permutex2var_ps(lo, odd, hi));
            }
            zero_few(de + ne, Wh - j1[pe]);
            zero_few(dodd + no, Wh - j1[1 - pe]);
        }
}
#endif

/* Task t: a band of the rows of channel c's planes (see fill_job). Plane
 * (py, px) row i is padded row i*sy + py, column j padded column j*sx +
 * px; outside the input it is zero. */
static void fill_channel(void *ctx, int64_t t)
{
    const fill_job *j = ctx;
    const spd_conv2d_src *src = j->src;
    const spd_conv2d_shape *s = &src->s;
    const int64_t Hh = src->Hh, Wh = src->Wh, c = t / j->bands, b = t % j->bands;
    const int64_t i0 = b * Hh / j->bands, i1 = (b + 1) * Hh / j->bands;
    const float *xc = j->x + c * s->H * s->W;
#if defined(__x86_64__)
    if (s->sy == 2 && s->sx == 2 && src->nphase == 4 && spd_vmath_avx512()) {
        fill_channel_s2(src, xc, src->own + c * 4 * Hh * Wh, i0, i1);
        return;
    }
#endif
    for (int64_t ph = 0; ph < src->nphase; ph++) {
        const int64_t py = src->used[ph] / s->sx, px = src->used[ph] % s->sx;
        float *plane = src->own + (c * src->nphase + ph) * Hh * Wh;
        /* the plane columns j whose input column j*sx + px - pl is in [0, W) */
        int64_t j0 = px >= s->pl ? 0 : cdiv(s->pl - px, s->sx);
        int64_t j1 = s->W + s->pl - px > 0 ? cdiv(s->W + s->pl - px, s->sx) : 0;
        if (j0 > Wh) j0 = Wh;
        if (j1 > Wh) j1 = Wh;
        if (j1 < j0) j1 = j0;
        for (int64_t i = i0; i < i1; i++) {
            float *d = plane + i * Wh;
            const int64_t iy = i * s->sy + py - s->pt;
            if (iy < 0 || iy >= s->H) {
                memset(d, 0, (size_t)Wh * sizeof(float));
                continue;
            }
            const float *xr = xc + iy * s->W + (j0 * s->sx + px - s->pl);
            zero_few(d, j0);
            if (s->sx == 1)
                memcpy(d + j0, xr, (size_t)(j1 - j0) * sizeof(float));
            else if (s->sx == 2)
#if defined(__x86_64__)
                if (spd_vmath_avx512())
                    copy_even_avx512(d + j0, xr, j1 - j0, s->W - (j0 * s->sx + px - s->pl));
                else
#endif
                    copy_even(d + j0, xr, j1 - j0, s->W - (j0 * s->sx + px - s->pl));
            else
                for (int64_t q = 0; q < j1 - j0; q++) d[j0 + q] = xr[q * s->sx];
            zero_few(d + j1, Wh - j1);
        }
    }
}

void spd_conv2d_src_fill(spd_conv2d_src *src, const float *x, int threads)
{
    if (!src->own || src->direct) {
        src->buf = x;
        return;
    }
    fill_job j = {src, x, 1};
    if (threads > 1 && src->s.C * src->nphase * src->Hh * src->Wh >= FILL_PARALLEL_MIN) {
        /* few channels (a 3-channel stem's) in bands of rows: 3 tasks on 2
         * threads left one waiting a third of the fill */
        if (src->s.C < 4 * threads && src->Hh > 1)
            j.bands = cdiv(4 * threads, src->s.C) < src->Hh ? cdiv(4 * threads, src->s.C) : src->Hh;
        spd_parallel_for(src->s.C * j.bands, fill_channel, &j);
    } else {
        for (int64_t c = 0; c < src->s.C; c++) fill_channel(&j, c);
    }
}

/* A run of output columns within one output line and one panel: it reads
 * floats [src, src+len) of every row's plane (plus the row's offset) and
 * writes them at dst (plus p*nr for row p). */
typedef struct seg {
    int64_t src, dst, len;
} seg;

#define SEG_STACK 256

#if defined(__x86_64__)
/* spd_conv2d_pack for 32-column panels with AVX-512: each 16-lane half of
 * a panel row is a few masked loads (one per run of output columns within
 * an output line, at most three when lines are shorter than 16) and one
 * store, where the run-by-run copy made a memcpy per run and row (runs of
 * 17 to 31 floats went to libc: resnet50's layer2.0.conv2, lines of 28,
 * took 90 us to pack its 1152 x 784 column matrix). Lanes past n are
 * zero. */
#define HALF_RUNS 4
__attribute__((target("avx512f"))) static void pack32_avx512(const spd_conv2d_src *src, int64_t pc, int64_t k,
                                                              int64_t jc, int64_t n, float *dst)
{
    const int64_t OW = src->s.OW, Wh = src->Wh;
    const int64_t *off = src->off + pc;
    for (int64_t o0 = 0; o0 < n; o0 += 32) {
        /* per half: the runs' lane masks and their source, as the offset
         * of the half's lane 0 (an address: it may precede the planes) */
        __mmask16 mask[2][HALF_RUNS];
        intptr_t from[2][HALF_RUNS];
        int runs[2] = {0, 0};
        for (int64_t o = o0; o < n && o < o0 + 32;) {
            const int64_t oy = (jc + o) / OW, ox = (jc + o) % OW, lane = o - o0, h = lane / 16;
            int64_t len = OW - ox;
            if (len > n - o) len = n - o;
            if (len > 16 * (h + 1) - lane) len = 16 * (h + 1) - lane; /* within the half */
            const int64_t l0 = lane - 16 * h;
            mask[h][runs[h]] = (__mmask16)(((1u << len) - 1u) << l0);
            from[h][runs[h]] = (intptr_t)(oy * Wh + ox - l0);
            runs[h]++;
            o += len;
        }
        float *d = dst + o0 / 32 * k * 32;
        const uintptr_t buf = (uintptr_t)src->buf;
        for (int64_t p = 0; p < k; p++, d += 32) {
            const uintptr_t row = buf + (uintptr_t)off[p] * sizeof(float);
            for (int h = 0; h < 2; h++) {
                __m512 v = _mm512_setzero_ps();
                for (int r = 0; r < runs[h]; r++)
                    v = _mm512_mask_loadu_ps(v, mask[h][r], (const void *)(row + (uintptr_t)from[h][r] * sizeof(float)));
                _mm512_storeu_ps(d + 16 * h, v);
            }
        }
    }
}
#endif

/* ---- direct stride-2 packing (src->direct) ------------------------------
 * Column-matrix element (p, o), p = (c, ky, kx) and o = (oy, ox), is
 *   X[c][2 oy - pt + ky][2 ox - pl + kx], zero outside X. */

static void pack_direct_ref(const spd_conv2d_src *src, int64_t pc, int64_t k, int64_t jc, int64_t n, float *dst)
{
    const spd_conv2d_shape *s = &src->s;
    const int64_t nr = src->nr, T = s->KH * s->KW;
    for (int64_t o = 0; o < cdiv(n, nr) * nr; o++) {
        float *d = dst + o / nr * k * nr + o % nr;
        const int64_t oy = (jc + o) / s->OW, ox = (jc + o) % s->OW;
        for (int64_t p = 0; p < k; p++) {
            const int64_t row = pc + p, c = row / T, ky = row % T / s->KW, kx = row % s->KW;
            const int64_t iy = 2 * oy - s->pt + ky, ix = 2 * ox - s->pl + kx;
            d[p * nr] = o < n && iy >= 0 && iy < s->H && ix >= 0 && ix < s->W ? src->buf[(c * s->H + iy) * s->W + ix]
                                                                               : 0.0f;
        }
    }
}

#if defined(__x86_64__)
/* 32-column B panels as two units of 16 lanes (the transposed product's
 * 8-row A panels: one unit of 8). Per unit and row p, a run
 * of lanes within one output line reads every other float of a 32-float
 * window of one input row: two masked loads (only the even elements the
 * run uses and X holds) and one permute, merged into the unit by the
 * run's lanes. False when a unit would hold more than UNIT_RUNS runs
 * (lines under 5 columns) or the kernel is wider than MAX_KW: the caller
 * falls back. */
#define UNIT_RUNS 4
#define MAX_KW 8
#define MAX_KH 8

__attribute__((target("avx512f"))) static bool pack_direct_avx512(const spd_conv2d_src *src, int64_t pc, int64_t k,
                                                                   int64_t jc, int64_t n, float *dst)
{
    const spd_conv2d_shape *s = &src->s;
    const int64_t nr = src->nr, U = nr == 32 ? 16 : 8, units = nr / U;
    if ((nr != 32 && nr != 8) || s->KW > MAX_KW || s->KH > MAX_KH) return false;
    const int64_t OW = s->OW, W = s->W, H = s->H, KW = s->KW, T = s->KH * s->KW;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t o0 = 0; o0 < n; o0 += nr) {
        int nruns[2] = {0, 0};
        __mmask16 lanes[2][UNIT_RUNS];
        uint32_t emask[2][UNIT_RUNS][MAX_KW];
        int64_t wcol[2][UNIT_RUNS][MAX_KW]; /* the window's first input column (may be negative) */
        int64_t rowat[2][UNIT_RUNS][MAX_KH]; /* the input row's first float, -1: padding */
        for (int64_t o = o0; o < n && o < o0 + nr;) {
            const int64_t oy = (jc + o) / OW, ox = (jc + o) % OW, lane = o - o0, u = lane / U, l0 = lane - u * U;
            int64_t len = OW - ox;
            if (len > n - o) len = n - o;
            if (len > U - l0) len = U - l0;
            const int r = nruns[u]++;
            if (r == UNIT_RUNS) return false;
            for (int64_t ky = 0; ky < s->KH; ky++) {
                const int64_t iy = 2 * oy - s->pt + ky;
                rowat[u][r][ky] = iy >= 0 && iy < H ? iy * W : -1;
            }
            lanes[u][r] = (__mmask16)(((1u << len) - 1u) << l0);
            for (int64_t kx = 0; kx < KW; kx++) {
                const int64_t ix0 = 2 * ox - s->pl + kx; /* lane l0's column */
                uint32_t m = 0;
                for (int64_t l = 0; l < len; l++)
                    if (ix0 + 2 * l >= 0 && ix0 + 2 * l < W) m |= 1u << (2 * (l0 + l));
                emask[u][r][kx] = m;
                wcol[u][r][kx] = ix0 - 2 * l0;
            }
            o += len;
        }
        float *d = dst + o0 / nr * k * nr;
        int64_t c = pc / T, ky = pc % T / KW, kx = pc % KW;
        /* the input rows the next panel reads and this one does not:
         * [pf0, pf1), fetched a channel at a time as this one reaches it */
        int64_t pf0 = 0, pf1 = 0;
        {
            const int64_t here = jc + o0, next = here + nr, end = s->OH * OW;
            const int64_t last_here = (here + (n - o0 < nr ? n - o0 : nr) - 1) / OW;
            if (next < end) {
                const int64_t ny1 = (next + nr - 1 < end ? next + nr - 1 : end - 1) / OW;
                pf0 = 2 * (next / OW) - s->pt;
                if (pf0 < 2 * last_here - s->pt + s->KH) pf0 = 2 * last_here - s->pt + s->KH;
                pf1 = 2 * ny1 - s->pt + s->KH;
                if (pf0 < 0) pf0 = 0;
                if (pf1 > H) pf1 = H;
            }
        }
        for (int64_t p = 0; p < k; p++, d += nr) {
            const uintptr_t plane = (uintptr_t)(src->buf + c * H * W);
            if ((p == 0 || (ky == 0 && kx == 0)) && pf0 < pf1) { /* X comes cold from memory in batches */
                const char *r0 = (const char *)(src->buf + (c * H + pf0) * W);
                const char *r1 = (const char *)(src->buf + (c * H + pf1) * W);
                for (const char *a = r0; a < r1; a += 64) _mm_prefetch(a, _MM_HINT_T0);
            }
            for (int64_t u = 0; u < units; u++) {
                __m512 v = _mm512_setzero_ps();
                for (int r = 0; r < nruns[u]; r++) {
                    const int64_t row = rowat[u][r][ky];
                    const uint32_t m = emask[u][r][kx];
                    if (row < 0 || !m) continue;
                    /* an address: masked-off lanes may lie outside X */
                    const uintptr_t at = plane + (uintptr_t)(row + wcol[u][r][kx]) * sizeof(float);
                    const __m512 lo = _mm512_maskz_loadu_ps((__mmask16)m, (const void *)at);
                    const __m512 hi = U == 16 ? _mm512_maskz_loadu_ps((__mmask16)(m >> 16), (const void *)(at + 64))
                                              : _mm512_setzero_ps();
                    v = _mm512_mask_mov_ps(v, lanes[u][r], _mm512_permutex2var_ps(lo, even, hi));
                }
                if (U == 16)
                    _mm512_storeu_ps(d + 16 * u, v);
                else
                    _mm256_storeu_ps(d, _mm512_castps512_ps256(v));
            }
            if (++kx == KW) {
                kx = 0;
                if (++ky == s->KH) {
                    ky = 0;
                    c++;
                }
            }
        }
    }
    return true;
}
#endif

void spd_conv2d_pack(const void *ctx, int64_t pc, int64_t k, int64_t jc, int64_t n, float *dst)
{
    const spd_conv2d_src *src = ctx;
    if (src->direct) {
#if defined(__x86_64__)
        if (pack_direct_avx512(src, pc, k, jc, n, dst)) return;
#endif
        pack_direct_ref(src, pc, k, jc, n, dst);
        return;
    }
    const int64_t OW = src->s.OW, Wh = src->Wh, nr = src->nr;
#if defined(__x86_64__)
    /* a half of 16 lanes meets at most ceil(15 / OW) + 1 lines */
    if (nr == 32 && (OW >= 8 || (15 + OW - 1) / OW + 1 <= HALF_RUNS) && spd_vmath_avx512()) {
        pack32_avx512(src, pc, k, jc, n, dst);
        return;
    }
#endif
    const int64_t max_segs = n / nr + n / OW + 3;
    seg stack[SEG_STACK];
    seg *segs = max_segs <= SEG_STACK ? stack : spd_malloc((size_t)max_segs * sizeof(seg));
    if (!segs) { /* out of memory: the same runs, found per row (slower, same result) */
        for (int64_t o = 0; o < n; o++) {
            const int64_t oy = (jc + o) / OW, ox = (jc + o) % OW;
            float *d = dst + o / nr * k * nr + o % nr;
            for (int64_t p = 0; p < k; p++) d[p * nr] = src->buf[src->off[pc + p] + oy * Wh + ox];
        }
    } else {
        int64_t ns = 0;
        for (int64_t o = 0; o < n;) {
            const int64_t oy = (jc + o) / OW, ox = (jc + o) % OW, lane = o % nr;
            int64_t len = OW - ox;
            if (len > n - o) len = n - o;
            if (len > nr - lane) len = nr - lane;
            segs[ns++] = (seg){oy * Wh + ox, o / nr * k * nr + lane, len};
            o += len;
        }
        const int64_t *off = src->off + pc;
        for (int64_t i = 0; i < ns; i++) {
            const float *b = src->buf + segs[i].src;
            float *d = dst + segs[i].dst;
            const int64_t len = segs[i].len;
            /* a constant length per loop: each row is a few moves, not a
             * copy loop (runs are 1..nr floats; 16 and 6 are the widths
             * of the AVX2 kernel's panels) */
#define COPY_ROWS(L)                                                                                             \
    case L:                                                                                                      \
        for (int64_t p = 0; p < k; p++) memcpy(d + p * nr, b + off[p], (L) * sizeof(float));                    \
        break;
            switch (len) {
                COPY_ROWS(1) COPY_ROWS(2) COPY_ROWS(3) COPY_ROWS(4) COPY_ROWS(5) COPY_ROWS(6) COPY_ROWS(7)
                COPY_ROWS(8) COPY_ROWS(9) COPY_ROWS(10) COPY_ROWS(11) COPY_ROWS(12) COPY_ROWS(13) COPY_ROWS(14)
                COPY_ROWS(15) COPY_ROWS(16)
            default:
                for (int64_t p = 0; p < k; p++) memcpy(d + p * nr, b + off[p], (size_t)len * sizeof(float));
            }
#undef COPY_ROWS
        }
        if (segs != stack) spd_free(segs);
    }
    /* the last panel's columns past n */
    const int64_t lane = n % nr;
    if (lane) {
        float *d = dst + n / nr * k * nr + lane;
        for (int64_t p = 0; p < k; p++) memset(d + p * nr, 0, (size_t)(nr - lane) * sizeof(float));
    }
}
