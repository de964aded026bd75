/* Tests of the float32 pooling fast path (ops/pool_fast.h) against a naive
 * window walk written here with the reference's rules (ops/pool.c's
 * pool_run): taps in row-major order, only in-bounds ones; max starts from
 * the first and takes a later tap only when greater (a NaN first tap gives
 * NaN, later NaNs are ignored); averages summed in double over the in-bounds
 * taps, divided by their count or, with count_include_pad, by the count of
 * taps inside the padded extent.
 *
 * Random shapes: odd sizes, kernels 1-5, strides 1-3, dilations 1-3, every
 * pad up to the kernel extent, ceil_mode on and off, count_include_pad;
 * inputs with NaN and +-inf (sometimes a NaN-heavy plane); big cases that
 * are split over threads by planes and by row blocks; rows wider than the
 * stack buffer; windows wider than the vector path takes. Global max and
 * average over planes of 1 to 12544 elements. On every ISA path this CPU
 * runs (ref = the portable loops, as SPEEDSTER_ISA=ref) and on 1 and 2
 * threads. Max must match exactly (NaN as NaN; +0 and -0 alike, as ties
 * keep whichever the walk order meets first). Averages sum in float, so
 * they may differ from the double walk by 1 ulp plus (taps + 2) roundings
 * of sum |x| / count (the float sum's error bound); the bound is tight
 * enough that a dropped or doubled tap fails it.
 *
 * One line per failed check; the last line is "N checks, N failed". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/pool_fast.h"
#include "ops/sgemm_fast.h"
#include "speedster.h"

#define TEST_SEED 0x5DEECE66DB5A11CEull
#include "test_util.h"

/* The reference's pool into y; for averages also, per output, the bound
 * on a float sum's error (see the top) into tol. */
static void ref_pool(const spd_pool2d *p, const float *x, float *y, float *tol)
{
    for (int64_t c = 0; c < p->nc; c++)
        for (int64_t oy = 0; oy < p->OH; oy++)
            for (int64_t ox = 0; ox < p->OW; ox++) {
                double acc = p->max ? -INFINITY : 0, mag = 0;
                int64_t count = 0, padded = 0;
                for (int64_t ky = 0; ky < p->KH; ky++)
                    for (int64_t kx = 0; kx < p->KW; kx++) {
                        const int64_t iy = oy * p->sy - p->pt + ky * p->dy, ix = ox * p->sx - p->pl + kx * p->dx;
                        if (iy >= -p->pt && iy < p->H + p->pb && ix >= -p->pl && ix < p->W + p->pr) padded++;
                        if (iy < 0 || iy >= p->H || ix < 0 || ix >= p->W) continue;
                        const double v = x[(c * p->H + iy) * p->W + ix];
                        if (p->max) acc = count == 0 || v > acc ? v : acc;
                        else acc += v, mag += fabs(v);
                        count++;
                    }
                const double div = (double)(p->count_include_pad ? padded : (count ? count : 1));
                if (!p->max) acc /= div;
                y[(c * p->OH + oy) * p->OW + ox] = (float)acc;
                tol[(c * p->OH + oy) * p->OW + ox] = (float)((double)(count + 2) * 0x1p-24 * mag / div);
            }
}

/* Output size along one axis as ops/pool.c computes it. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, int ceil_mode)
{
    const int64_t ek = (k - 1) * d + 1, span = in + pb + pe - ek;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pb) out--;
    return out;
}

/* Random values in [-4, 4]; with nan_rate > 0 about one in nan_rate NaN
 * and as many +-inf. Some exact zeros of both signs. */
static void fill(float *x, int64_t n, int nan_rate)
{
    for (int64_t i = 0; i < n; i++) {
        const uint64_t r = rnd() % 1000;
        if (nan_rate && r % (uint64_t)nan_rate == 0) x[i] = r % 2 ? NAN : (r % 3 ? INFINITY : -INFINITY);
        else if (r < 20) x[i] = r % 2 ? 0.0f : -0.0f;
        else x[i] = rnd_float() * 4;
    }
}

/* got == want for max; for averages within 1 ulp plus tol. */
static int same(float got, float want, int max, float tol)
{
    if (got != got || want != want) return got != got && want != want;
    if (max || got == want) return got == want;
    const float m = fabsf(want) < fabsf(got) ? fabsf(want) : fabsf(got);
    return fabsf(got - want) <= nextafterf(m, INFINITY) - m + tol;
}

static void describe(const spd_pool2d *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s nc%lld %lldx%lld -> %lldx%lld k%lldx%lld s%lldx%lld d%lldx%lld p%lld,%lld,%lld,%lld inc%d",
             p->max ? "max" : "avg", (long long)p->nc, (long long)p->H, (long long)p->W, (long long)p->OH,
             (long long)p->OW, (long long)p->KH, (long long)p->KW, (long long)p->sy, (long long)p->sx,
             (long long)p->dy, (long long)p->dx, (long long)p->pt, (long long)p->pl, (long long)p->pb,
             (long long)p->pr, (int)p->count_include_pad);
}

static void run_case(const spd_pool2d *p, int nan_rate)
{
    const int64_t nx = p->nc * p->H * p->W, ny = p->nc * p->OH * p->OW;
    float *x = malloc((size_t)nx * sizeof *x), *y = malloc((size_t)ny * sizeof *y), *r = malloc((size_t)ny * sizeof *r);
    float *tol = malloc((size_t)ny * sizeof *tol);
    fill(x, nx, nan_rate);
    if (nan_rate && p->nc > 2) /* a plane with NaN in its last column, on
                                  even rows (a window's first row at stride
                                  2), over the largest values on odd ones:
                                  later taps, which must not hide the rows
                                  below them */
        for (int64_t i = 0; i < p->H; i++) x[(2 * p->H + i) * p->W + p->W - 1] = i % 2 ? 100.0f : NAN;
    if (nan_rate && p->nc > 1) /* a plane of mostly NaN */
        for (int64_t i = 0; i < p->H * p->W; i++)
            if (rnd() % 2) x[p->H * p->W + i] = NAN;
    for (int64_t i = 0; i < ny; i++) y[i] = 12345.0f; /* every output must be written */
    spd_pool2d_f32(p, x, y);
    ref_pool(p, x, r, tol);
    int64_t bad = -1;
    for (int64_t i = 0; i < ny && bad < 0; i++)
        if (!same(y[i], r[i], p->max, tol[i])) bad = i;
    char desc[256];
    describe(p, desc, sizeof desc);
    check(bad < 0, "%s nan%d: output %lld = %.9g, want %.9g", desc, nan_rate, (long long)bad,
          bad >= 0 ? (double)y[bad] : 0.0, bad >= 0 ? (double)r[bad] : 0.0);
    free(x);
    free(y);
    free(r);
    free(tol);
}

/* A random pool; big: sizes that get split over threads. */
static spd_pool2d random_pool(int big)
{
    spd_pool2d p;
    memset(&p, 0, sizeof p);
    int64_t *k[2] = {&p.KH, &p.KW}, *s[2] = {&p.sy, &p.sx}, *d[2] = {&p.dy, &p.dx};
    int64_t *in[2] = {&p.H, &p.W}, *out[2] = {&p.OH, &p.OW}, *pb[2] = {&p.pt, &p.pl}, *pe[2] = {&p.pb, &p.pr};
    const int ceil_mode = (int)(rnd() % 2);
    for (int a = 0; a < 2; a++) {
        *k[a] = rnd_range(1, 5);
        *s[a] = rnd_range(1, 3);
        *d[a] = rnd() % 4 == 0 ? rnd_range(2, 3) : 1;
        const int64_t ek = (*k[a] - 1) * *d[a] + 1;
        *pb[a] = rnd_range(0, ek - 1);
        *pe[a] = rnd_range(0, ek - 1);
        const int64_t lo = ek - *pb[a] - *pe[a] > 1 ? ek - *pb[a] - *pe[a] : 1;
        *in[a] = rnd_range(lo, big ? 150 : 40);
        *out[a] = out_size(*in[a], *k[a], *s[a], *d[a], *pb[a], *pe[a], ceil_mode);
    }
    p.nc = big ? rnd_range(1, 70) : rnd_range(1, 5);
    p.max = rnd() % 2;
    p.count_include_pad = rnd() % 2;
    return p;
}

static void test_pool2d(void)
{
    for (int i = 0; i < 400; i++) {
        const spd_pool2d p = random_pool(i % 20 == 0);
        if (p.OH < 1 || p.OW < 1) continue;
        run_case(&p, i % 3 == 0 ? 0 : i % 3 == 1 ? 40 : 7);
    }
    /* squeezenet's, resnet's and inception's, then: a few large planes
     * (row blocks over threads), rows wider than the stack buffer, windows
     * wider than the vector path, 1-D pools (height 1) */
    const spd_pool2d fixed[] = {
        {64, 111, 111, 55, 55, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        {128, 55, 55, 27, 27, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        {256, 27, 27, 13, 13, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        {64, 112, 112, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, false},
        {32, 35, 35, 35, 35, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, false},
        {32, 35, 35, 35, 35, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, true},
        {16, 56, 56, 28, 28, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false},
        {16, 57, 57, 29, 29, 2, 2, 2, 2, 1, 1, 0, 0, 1, 1, true, false},
        {2, 300, 301, 298, 299, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, true, false},
        {3, 200, 199, 100, 100, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, true},
        {2, 4, 5000, 2, 2500, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, false},
        {2, 4, 5000, 2, 2500, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false},
        {2, 3, 3001, 3, 3001, 3, 5, 1, 1, 1, 1, 1, 2, 1, 2, true, false},
        {2, 5, 100, 5, 31, 1, 70, 1, 1, 1, 1, 0, 0, 0, 0, true, false},
        {2, 5, 100, 5, 31, 1, 70, 1, 1, 1, 1, 0, 0, 0, 0, false, false},
        {3, 1, 77, 1, 39, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, true, false},
        {3, 1, 77, 1, 26, 1, 4, 1, 3, 1, 1, 0, 2, 0, 1, false, true},
        /* stride-2 rows in pairs (a 3-row window's last row the next one's
         * first): windows 3 and 2 columns wide, 16k + 1 and 16k - 1 and 35
         * outputs a row, an odd row count */
        {5, 41, 40, 20, 20, 3, 2, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        {3, 39, 67, 19, 33, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        {3, 45, 63, 22, 31, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        {4, 23, 71, 11, 35, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        {6, 33, 65, 16, 32, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false},
        /* stride-2 max whose last window passes the row's end (ceil_mode's,
         * or a right pad): GoogLeNet's 28x28 and 56x56 pools, a 2-wide
         * window on an odd row, 16k + 1 outputs */
        {20, 28, 28, 14, 14, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, true, false},
        {6, 56, 56, 28, 28, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, true, false},
        {5, 27, 45, 13, 23, 3, 2, 2, 2, 1, 1, 0, 0, 0, 1, true, false},
        {4, 9, 66, 4, 33, 3, 3, 2, 2, 1, 1, 0, 0, 0, 2, true, false},
        /* stride-1 max over planes whose padded rows fit one AVX-512 vector
         * (GoogLeNet's 14x14 and 7x7 branch pools), padded width exactly
         * 16, 5x5, 2x2 with one-sided pads, no pads, 1x1 and 1-row planes,
         * 64 rows and 65 (past the register rows: the general walk) */
        {64, 14, 14, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, false},
        {40, 7, 7, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, false},
        {5, 12, 12, 12, 12, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, true, false},
        {5, 9, 15, 9, 15, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, true, false},
        {5, 16, 16, 14, 14, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, true, false},
        {7, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, false},
        {3, 1, 9, 1, 9, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, true, false},
        {3, 64, 10, 64, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, false},
        {3, 65, 10, 65, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, false},
        /* stride-1 pools that keep the plane's size, run flat over the
         * plane (Inception's 3x3 average pools over 17x17 and 8x8): rows
         * shorter than a vector (5, 1), a 7-wide window, uneven pads, a
         * plane of 2040 values (the flat pass takes up to 2048) and one
         * past 2048 */
        {6, 17, 17, 17, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, true},
        {6, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, false},
        {4, 9, 5, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, true},
        {4, 9, 5, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, false},
        {3, 23, 1, 23, 1, 5, 1, 1, 1, 1, 1, 2, 0, 2, 0, false, false},
        {3, 17, 19, 17, 19, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3, false, true},
        {3, 17, 19, 17, 19, 7, 1, 1, 1, 1, 1, 3, 0, 3, 0, true, false},
        {3, 13, 11, 13, 11, 4, 2, 1, 1, 1, 1, 1, 1, 2, 0, false, false},
        {2, 120, 17, 120, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, false},
        {2, 121, 17, 121, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, true},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        run_case(&fixed[i], 0);
        run_case(&fixed[i], 25);
    }
}

static void test_global(void)
{
    const int64_t sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 49, 169, 196, 3136, 12544};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int max = 0; max < 2; max++)
            for (int nan_rate = 0; nan_rate <= 30; nan_rate += 30) {
                const int64_t n = sizes[si], nc = n > 1000 ? rnd_range(1, 40) : rnd_range(1, 1300);
                float *x = malloc((size_t)(n * nc) * sizeof *x), *y = malloc((size_t)nc * sizeof *y);
                fill(x, n * nc, nan_rate);
                spd_global_pool_f32(max, nc, n, x, y);
                int64_t bad = -1;
                float want = 0;
                for (int64_t c = 0; c < nc && bad < 0; c++) {
                    const float *xc = x + c * n;
                    double acc = xc[0];
                    for (int64_t i = 1; i < n; i++) acc = max ? (xc[i] > acc ? xc[i] : acc) : acc + xc[i];
                    want = (float)(max ? acc : acc / (double)n);
                    if (!same(y[c], want, max, 0)) bad = c;
                }
                check(bad < 0, "global %s nc%lld n%lld nan%d: plane %lld = %.9g, want %.9g", max ? "max" : "avg",
                      (long long)nc, (long long)n, nan_rate, (long long)bad, bad >= 0 ? (double)y[bad] : 0.0,
                      (double)want);
                free(x);
                free(y);
            }
}

int main(void)
{
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int isa = SPD_SGEMM_REF; isa <= (int)best; isa++) {
        spd_sgemm_set_isa((spd_sgemm_isa)isa);
        for (int threads = 1; threads <= 2; threads++) {
            spd_set_num_threads(threads);
            snprintf(g_label, sizeof g_label, "%s, %d thread%s", spd_sgemm_isa_name((spd_sgemm_isa)isa), threads,
                     threads > 1 ? "s" : "");
            test_pool2d();
            test_global();
        }
    }
    return test_summary();
}
