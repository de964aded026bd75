/* Channels-last convolution (group 1, not pointwise) without a column
 * matrix: the kernel reads each pixel's taps from the zero-padded input
 * through one offset per step (kernel_sa_wide_off).
 *
 * In the padded input [Hp, Wp, C], output pixel (oy, ox)'s step
 * (ky, kx, c) lies at ((oy*sh + ky*dh)*Wp + ox*sw + kx*dw)*C + c: the
 * pixels of one output row are sw*C floats apart, and the step's offset
 * is the same for all of them. A tile of up to six pixels of one row is
 * then A in place with lda = sw*C, and the im2col copy is gone: keyword
 * spotting's 1-channel 10x4 stem copied 1250 runs of four floats a call
 * (3.5 us for 2.5 us of multiply-adds). */
#include <stdint.h>

#include "ops/conv_nhwc.h"
#include "ops/sgemm_fast.h"
#include "util/scratch.h"
#include "util/threadpool.h"

/* as the GEMM driver: below this a second thread costs more than it saves */
#define PARALLEL_MIN_MACS (1 << 18)
#define MAX_STEPS 1024 /* offsets on the stack; the kernels' kc */

typedef struct rows_job {
    const spd_nhwc_geom *g;
    const spd_sgemm_kernel *kern;
    const float *xp, *wpack, *bias, *z;
    int64_t Hp, Wp, K, h;
    const int32_t *aoff;
    spd_tile_epi te;
    float *y;
    int64_t rows, per; /* output rows in all, and a task's */
} rows_job;

/* Output row t (image t / OH, row t % OH): its pixels in tiles of h, each
 * against every 64 columns of the packed weights. */
static void row_task(void *ctx, int64_t t)
{
    const rows_job *j = ctx;
    const spd_nhwc_geom *g = j->g;
    const int64_t n = t / g->OH, oy = t % g->OH, C = g->C, M = g->M, lda = g->sw * C;
    const float *top = j->xp + (n * j->Hp + oy * g->sh) * j->Wp * C;
    float *yr = j->y + t * g->OW * M;
    const float *zr = j->z ? j->z + t * g->OW * M : NULL;
    spd_tile_epi te = j->te;
    for (int64_t ox = 0; ox < g->OW; ox += j->h) {
        const int m = (int)(g->OW - ox < j->h ? g->OW - ox : j->h);
        for (int64_t c0 = 0; c0 < M; c0 += 64) {
            te.col_bias = j->bias ? j->bias + c0 : NULL;
            te.z = zr ? zr + ox * M + c0 : NULL;
            j->kern->kernel_sa_wide_off(j->K, top + ox * lda, lda, j->aoff, j->wpack + c0 * j->K, 32 * j->K,
                                        yr + ox * M + c0, M, m, &te);
        }
    }
}

bool spd_nhwc_implicit_fits(const spd_sgemm_kernel *kern, const spd_nhwc_geom *g, const spd_act *ac)
{
    int clamp;
    float lo, hi;
    const int64_t K = g->KH * g->KW * g->C, Wp = (g->OW - 1) * g->sw + (g->KW - 1) * g->dw + 1;
    const int64_t last = ((g->KH - 1) * g->dh * Wp + (g->KW - 1) * g->dw + 1) * g->C; /* past the last offset */
    return kern && kern->kernel_sa_wide_off && last <= INT32_MAX && kern->nr == 32 && !g->depthwise && !g->pointwise && g->M % 64 == 0 &&
           K == spd_sgemm_kc_b(kern, K) && K <= MAX_STEPS && spd_tile_clamp(kern, ac, &clamp, &lo, &hi);
}

static void rows_task(void *ctx, int64_t t)
{
    const rows_job *j = ctx;
    for (int64_t r = t * j->per; r < (t + 1) * j->per && r < j->rows; r++) row_task(ctx, r);
}

void spd_nhwc_implicit(const spd_sgemm_kernel *kern, const spd_nhwc_geom *g, const float *xp, int64_t Hp, int64_t Wp,
                       const float *wpack, const float *bias, const float *z, const spd_act *ac, float *y,
                       int threads)
{
    const int64_t K = g->KH * g->KW * g->C;
    int32_t aoff[MAX_STEPS];
    for (int64_t ky = 0, q = 0; ky < g->KH; ky++)
        for (int64_t kx = 0; kx < g->KW; kx++)
            for (int64_t c = 0; c < g->C; c++) aoff[q++] = (int32_t)((ky * g->dh * Wp + kx * g->dw) * g->C + c);
    rows_job j = {.g = g, .kern = kern, .xp = xp, .wpack = wpack, .bias = bias, .z = z, .Hp = Hp, .Wp = Wp,
                  .K = K, .aoff = aoff, .y = y};
    j.h = spd_sgemm_wide_rows(kern, g->OW); /* a tile's pixels lie in one output row */
    spd_tile_clamp(kern, ac, &j.te.clamp, &j.te.lo, &j.te.hi);
    const int64_t rows = g->N * g->OH;
    j.rows = rows;
    if (threads > 1 && rows > 1 && rows * g->OW * K * g->M >= PARALLEL_MIN_MACS) {
        /* two runs of rows a thread: a task per row made keyword spotting's
         * stem 25 tasks of 0.1 us, its two threads taking turns on the
         * task counter */
        j.per = (rows + 2 * threads - 1) / (2 * threads);
        spd_parallel_for((rows + j.per - 1) / j.per, rows_task, &j);
    } else
        for (int64_t t = 0; t < rows; t++) row_task(&j, t);
}
