/* The depthwise half of ai.speedster NhwcConv (ops/conv_nhwc.h): one
 * channel vector per tap, so every multiply-add is a vector of channels.
 * The AVX2 path runs whole vectors of 8 channels (a masked tail), 3x3
 * kernels' interior pixels through a kernel that keeps the nine weight
 * vectors in registers; the portable path goes one channel at a time. */
#include <stdbool.h>
#include <stdint.h>

#include "ops/conv_nhwc.h"
#include "ops/gemm.h"
#include "ops/sgemm_fast.h"
#include "util/scratch.h"
#include "util/threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

/* wd[t*C + c] = W[c][0][t] */
void spd_nhwc_dw_weights(const float *w, int64_t C, int64_t T, float *wd)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < T; t++) wd[t * C + c] = w[c * T + t];
}

/* The kernel taps [*lo, *hi) along one axis that land inside [0, size)
 * for an output whose first tap is at `start`, taps `d` apart. */
static void inside_taps(int64_t start, int64_t k, int64_t d, int64_t size, int64_t *lo, int64_t *hi)
{
    int64_t a = 0, b = k;
    while (a < b && start + a * d < 0) a++;
    while (b > a && start + (b - 1) * d >= size) b--;
    *lo = a;
    *hi = b;
}

typedef struct dw_job {
    const spd_nhwc_geom *g;
    const float *x, *w, *bias, *z;
    const spd_act *ac;
    float *y;
    int64_t rows; /* output rows per task */
    bool avx2;
    bool dw3_avx512; /* 3x3, strides and dilations 1: spd_nhwc_dw3_rows_avx512 */
    bool dwk_avx512; /* other square 3x3 and 5x5: spd_nhwc_dwk_rows_avx512 */
    /* the AVX2 kernels clamp before they store (Relu, Clip or none, no
     * residual): no second pass over Y (4% of kws_dscnn's time) */
    bool fused;
    int clamp; /* SPD_CLAMP_* */
    float lo, hi;
} dw_job;

/* Output pixels [ox0, ox1) of row (n, oy), taps bounds-checked, one channel
 * at a time: the portable path, and the border pixels of the AVX2 one. */
static void dw_pixels_ref(const dw_job *j, int64_t n, int64_t oy, int64_t ox0, int64_t ox1)
{
    const spd_nhwc_geom *g = j->g;
    const int64_t C = g->C;
    for (int64_t ox = ox0; ox < ox1; ox++) {
        float *yp = j->y + ((n * g->OH + oy) * g->OW + ox) * C;
        for (int64_t c = 0; c < C; c++) yp[c] = j->bias ? j->bias[c] : 0.0f;
        for (int64_t ky = 0; ky < g->KH; ky++) {
            const int64_t iy = oy * g->sh - g->pt + ky * g->dh;
            if (iy < 0 || iy >= g->H) continue;
            for (int64_t kx = 0; kx < g->KW; kx++) {
                const int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                if (ix < 0 || ix >= g->W) continue;
                const float *xp = j->x + ((n * g->H + iy) * g->W + ix) * C, *wp = j->w + (ky * g->KW + kx) * C;
                for (int64_t c = 0; c < C; c++) yp[c] += xp[c] * wp[c];
            }
        }
    }
}

#if HAVE_X86
/* v as stored: clamped when the job fuses its activation (as the
 * activation pass does it: Relu takes NaN to 0, Clip keeps it). */
__attribute__((target("avx2,fma"))) static inline __m256 dw_out(const dw_job *j, __m256 v)
{
    if (j->clamp == SPD_CLAMP_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    if (j->clamp == SPD_CLAMP_CLIP) return _mm256_min_ps(_mm256_set1_ps(j->hi), _mm256_max_ps(_mm256_set1_ps(j->lo), v));
    return v;
}

/* Output pixels [ox0, ox1) of row (n, oy), whose kernel rows [ky0, ky1)
 * are inside the plane; each pixel's columns are clipped to it. Channels
 * go 32, then 8, then a masked tail at a time, the accumulators starting
 * from the bias. */
__attribute__((target("avx2,fma"))) static void dw_pixels_avx2(const dw_job *j, int64_t n, int64_t oy, int64_t ox0,
                                                               int64_t ox1, int64_t ky0, int64_t ky1)
{
    const spd_nhwc_geom *g = j->g;
    const int64_t C = g->C, KW = g->KW;
    const int64_t xstep = g->dw * C, ystep = g->dh * g->W * C;
    static const int32_t lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m256i tail = _mm256_loadu_si256((const __m256i *)(lanes + 8 - (C & 7)));
    for (int64_t ox = ox0; ox < ox1; ox++) {
        float *yp = j->y + ((n * g->OH + oy) * g->OW + ox) * C;
        const int64_t iy0 = oy * g->sh - g->pt + ky0 * g->dh, ixs = ox * g->sw - g->pl;
        int64_t kx0, kx1;
        inside_taps(ixs, KW, g->dw, g->W, &kx0, &kx1);
        const float *x0 = j->x + ((n * g->H + iy0) * g->W + ixs + kx0 * g->dw) * C, *w0 = j->w + (ky0 * KW + kx0) * C;
        const int64_t nkx = kx1 - kx0;
        int64_t c = 0;
        for (; c + 32 <= C; c += 32) {
            __m256 a0, a1, a2, a3;
            if (j->bias) {
                a0 = _mm256_loadu_ps(j->bias + c);
                a1 = _mm256_loadu_ps(j->bias + c + 8);
                a2 = _mm256_loadu_ps(j->bias + c + 16);
                a3 = _mm256_loadu_ps(j->bias + c + 24);
            } else {
                a0 = a1 = a2 = a3 = _mm256_setzero_ps();
            }
            const float *xr = x0 + c, *wr = w0 + c;
            for (int64_t ky = ky0; ky < ky1; ky++, xr += ystep, wr += KW * C) {
                const float *xp = xr, *wp = wr;
                for (int64_t kx = 0; kx < nkx; kx++, xp += xstep, wp += C) {
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xp), _mm256_loadu_ps(wp), a0);
                    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xp + 8), _mm256_loadu_ps(wp + 8), a1);
                    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(xp + 16), _mm256_loadu_ps(wp + 16), a2);
                    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(xp + 24), _mm256_loadu_ps(wp + 24), a3);
                }
            }
            _mm256_storeu_ps(yp + c, dw_out(j, a0));
            _mm256_storeu_ps(yp + c + 8, dw_out(j, a1));
            _mm256_storeu_ps(yp + c + 16, dw_out(j, a2));
            _mm256_storeu_ps(yp + c + 24, dw_out(j, a3));
        }
        for (; c < C; c += 8) {
            const bool part = c + 8 > C;
            __m256 a = j->bias ? (part ? _mm256_maskload_ps(j->bias + c, tail) : _mm256_loadu_ps(j->bias + c))
                               : _mm256_setzero_ps();
            const float *xr = x0 + c, *wr = w0 + c;
            for (int64_t ky = ky0; ky < ky1; ky++, xr += ystep, wr += KW * C) {
                const float *xp = xr, *wp = wr;
                for (int64_t kx = 0; kx < nkx; kx++, xp += xstep, wp += C)
                    a = part ? _mm256_fmadd_ps(_mm256_maskload_ps(xp, tail), _mm256_maskload_ps(wp, tail), a)
                             : _mm256_fmadd_ps(_mm256_loadu_ps(xp), _mm256_loadu_ps(wp), a);
            }
            if (part)
                _mm256_maskstore_ps(yp + c, tail, dw_out(j, a));
            else
                _mm256_storeu_ps(yp + c, dw_out(j, a));
        }
    }
}

/* Interior pixels of a 3x3 depthwise convolution whose three kernel rows
 * are all inside the plane, gathered across output rows: keyword spotting's
 * 25x5 planes have three interior pixels a row, too few to block along one. */
#define DW3_CHUNK 64

/* n pixels (xs: each one's first tap, ys: its output) for one block of 8
 * channels at offset c: the nine weights stay in registers and four pixels
 * accumulate at once, so each multiply-add loads one vector (the general
 * loop loads two, and was load-bound). */
__attribute__((target("avx2,fma"))) static void dw3_pixels(const dw_job *j, const float *const *xs, float *const *ys,
                                                           int n, int64_t c, int64_t ystep, int64_t xstep,
                                                           const float *wc, int64_t C, const float *bias)
{
    __m256 w[9];
    for (int t = 0; t < 9; t++) w[t] = _mm256_loadu_ps(wc + t * C);
    const __m256 b = bias ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
    int q = 0;
    for (; q + 4 <= n; q += 4) {
        __m256 a0 = b, a1 = b, a2 = b, a3 = b;
        const float *p0 = xs[q] + c, *p1 = xs[q + 1] + c, *p2 = xs[q + 2] + c, *p3 = xs[q + 3] + c;
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++) {
                const int64_t o = r * ystep + k * xstep;
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p0 + o), w[r * 3 + k], a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p1 + o), w[r * 3 + k], a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(p2 + o), w[r * 3 + k], a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(p3 + o), w[r * 3 + k], a3);
            }
        _mm256_storeu_ps(ys[q] + c, dw_out(j, a0));
        _mm256_storeu_ps(ys[q + 1] + c, dw_out(j, a1));
        _mm256_storeu_ps(ys[q + 2] + c, dw_out(j, a2));
        _mm256_storeu_ps(ys[q + 3] + c, dw_out(j, a3));
    }
    for (; q < n; q++) {
        __m256 a = b, e = _mm256_setzero_ps(); /* two chains: half the latency */
        const float *p0 = xs[q] + c;
        for (int t = 0; t < 9; t++) {
            const __m256 v = _mm256_loadu_ps(p0 + (t / 3) * ystep + (t % 3) * xstep);
            if (t & 1)
                e = _mm256_fmadd_ps(v, w[t], e);
            else
                a = _mm256_fmadd_ps(v, w[t], a);
        }
        _mm256_storeu_ps(ys[q] + c, dw_out(j, _mm256_add_ps(a, e)));
    }
}

/* Output rows [r0, r1) of a 3x3 depthwise convolution over whole channel
 * vectors: pixels with every tap inside through dw3_pixels, in chunks;
 * the others through the general loop. */
__attribute__((target("avx2,fma"))) static void dw3_rows_avx2(const dw_job *j, int64_t r0, int64_t r1)
{
    const spd_nhwc_geom *g = j->g;
    const int64_t C = g->C, last = g->W - 1 - 2 * g->dw + g->pl; /* interior: pl <= ox*sw <= last */
    int64_t lo = (g->pl + g->sw - 1) / g->sw, hi = last < 0 ? 0 : last / g->sw + 1;
    if (hi > g->OW) hi = g->OW;
    if (lo > hi) lo = hi;
    const float *xs[DW3_CHUNK];
    float *ys[DW3_CHUNK];
    int n = 0;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / g->OH, oy = r % g->OH, iy0 = oy * g->sh - g->pt;
        int64_t ky0, ky1;
        inside_taps(iy0, 3, g->dh, g->H, &ky0, &ky1);
        if (ky0 != 0 || ky1 != 3) {
            dw_pixels_avx2(j, b, oy, 0, g->OW, ky0, ky1);
            continue;
        }
        dw_pixels_avx2(j, b, oy, 0, lo, 0, 3);
        dw_pixels_avx2(j, b, oy, hi, g->OW, 0, 3);
        for (int64_t ox = lo; ox < hi; ox++) {
            xs[n] = j->x + ((b * g->H + iy0) * g->W + ox * g->sw - g->pl) * C;
            ys[n++] = j->y + ((b * g->OH + oy) * g->OW + ox) * C;
            if (n == DW3_CHUNK || (ox + 1 == hi && r + 1 == r1)) {
                for (int64_t c = 0; c < C; c += 8)
                    dw3_pixels(j, xs, ys, n, c, g->dh * g->W * C, g->dw * C, j->w + c, C, j->bias);
                n = 0;
            }
        }
    }
    for (int64_t c = 0; n > 0 && c < C; c += 8)
        dw3_pixels(j, xs, ys, n, c, g->dh * g->W * C, g->dw * C, j->w + c, C, j->bias);
}
#endif

static void dw_row(const dw_job *j, int64_t n, int64_t oy)
{
    const spd_nhwc_geom *g = j->g;
#if HAVE_X86
    if (j->avx2) {
        int64_t ky0, ky1;
        inside_taps(oy * g->sh - g->pt, g->KH, g->dh, g->H, &ky0, &ky1);
        dw_pixels_avx2(j, n, oy, 0, g->OW, ky0, ky1);
        return;
    }
#endif
    dw_pixels_ref(j, n, oy, 0, g->OW);
}

/* Output rows [r0, r1): the convolution, then the residual and the
 * activation over each row while it is in cache. */
static void dw_rows(const dw_job *j, int64_t r0, int64_t r1)
{
    const spd_nhwc_geom *g = j->g;
#if HAVE_X86
    if (j->dw3_avx512)
        spd_nhwc_dw3_rows_avx512(g, j->x, j->w, j->bias, j->clamp, j->lo, j->hi, j->y, r0, r1);
    else if (j->dwk_avx512)
        spd_nhwc_dwk_rows_avx512(g, j->x, j->w, j->bias, j->clamp, j->lo, j->hi, j->y, r0, r1);
    else if (j->avx2 && g->KH == 3 && g->KW == 3 && g->C % 8 == 0)
        dw3_rows_avx2(j, r0, r1);
    else
#endif
        for (int64_t r = r0; r < r1; r++) dw_row(j, r / g->OH, r % g->OH);
    if (j->fused || (!j->z && (!j->ac || j->ac->kind == SPD_ACT_NONE))) return;
    static const spd_act none = {SPD_ACT_NONE, 0, 0};
    const int64_t len = g->OW * g->C;
    spd_vact_bias_f32(j->ac ? j->ac : &none, j->y + r0 * len, (r1 - r0) * len, 0.0f, j->z ? j->z + r0 * len : NULL);
}

static void dw_task(void *ctx, int64_t t)
{
    const dw_job *j = ctx;
    const int64_t rows = j->g->N * j->g->OH, r1 = (t + 1) * j->rows;
    dw_rows(j, t * j->rows, r1 < rows ? r1 : rows);
}

/* The kernels and the fused clamp for one call. */
static void job_init(dw_job *j, const spd_nhwc_geom *g, const float *x, const float *wd, const float *bias,
                     const float *z, const spd_act *ac, float *y)
{
    const spd_act_kind kind = ac ? ac->kind : SPD_ACT_NONE;
    *j = (dw_job){.g = g, .x = x, .w = wd, .bias = bias, .z = z, .ac = ac, .y = y, .rows = 1,
                  .avx2 = spd_sgemm_isa_current() >= SPD_SGEMM_AVX2, .clamp = SPD_CLAMP_NONE};
#if HAVE_X86
    j->dw3_avx512 = spd_vmath_avx512() && g->KH == 3 && g->KW == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 &&
                    g->dw == 1;
    j->dwk_avx512 = !j->dw3_avx512 && spd_vmath_avx512() && spd_nhwc_dwk_fits(g);
#endif
    if (j->avx2 && !z && (kind == SPD_ACT_NONE || kind == SPD_ACT_RELU || kind == SPD_ACT_CLIP)) {
        j->fused = true;
        j->clamp = kind == SPD_ACT_RELU ? SPD_CLAMP_RELU : kind == SPD_ACT_CLIP ? SPD_CLAMP_CLIP : SPD_CLAMP_NONE;
        if (kind == SPD_ACT_CLIP) {
            j->lo = ac->a;
            j->hi = ac->b;
        }
    }
}

void spd_nhwc_depthwise_rows(const spd_nhwc_geom *g, const float *x, const float *wd, const float *bias,
                             const spd_act *ac, float *y, int64_t r0, int64_t r1)
{
    dw_job j;
    job_init(&j, g, x, wd, bias, NULL, ac, y);
    dw_rows(&j, r0, r1);
}

/* Below this many multiply-adds per task a split costs more than it saves. */
#define DW_TASK_MACS 16384

spd_status spd_nhwc_depthwise(const spd_nhwc_geom *g, const float *x, const float *wd, const float *w,
                              const float *bias, const float *z, const spd_act *ac, float *y)
{
    const int64_t T = g->KH * g->KW;
    if (!wd) {
        float *t = spd_scratch(SPD_SCRATCH_OP, (size_t)(T * g->C) * sizeof(float));
        if (!t) return spd_errorf(SPD_ERR_NOMEM, "out of memory for the rearranged weights");
        spd_nhwc_dw_weights(w, g->C, T, t);
        wd = t;
    }
    const int64_t rows = g->N * g->OH, row_macs = g->OW * g->C * T;
    /* Tasks of at least DW_TASK_MACS, as many for each thread: at 2 threads
     * keyword spotting's 25 rows went as 6+6+6+6+1, the caller taking 18 */
    const int threads = spd_thread_count();
    int64_t rounds = threads > 1 ? rows * row_macs / ((int64_t)threads * DW_TASK_MACS) : 1;
    if (rounds < 1) rounds = 1;
    if (rounds > rows) rounds = rows;
    int64_t per = (rows + threads * rounds - 1) / (threads * rounds);
    if (per < 1) per = 1;
    dw_job j;
    job_init(&j, g, x, wd, bias, z, ac, y);
    j.rows = per;
    const int64_t tasks = (rows + per - 1) / per;
    if (tasks <= 1 || threads <= 1 || rows * row_macs < 2 * DW_TASK_MACS)
        dw_rows(&j, 0, rows);
    else
        spd_parallel_for(tasks, dw_task, &j);
    return SPD_OK;
}
