/* The implicit-GEMM convolution (see conv_implicit.h): tasks over blocks
 * of 32-column panels of the virtual output, each panel met by every
 * mr-row panel of the prepacked W while it is in L1. */
#include "ops/conv_implicit.h"

#include "util/threadpool.h"

#define PANEL 32
/* Below this many multiply-adds the work stays on the calling thread. */
#define PARALLEL_MIN_MACS (1 << 18)
/* Rows of C whose next panels are prefetched as a tile is computed (as
 * the packed driver does for up to 160 rows). */
#define C_AHEAD_MAX_ROWS 160

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool spd_conv_implicit_fits(const spd_sgemm_kernel *kern, const spd_conv2d_src *src, int64_t K, const spd_act *ac)
{
    int clamp;
    float lo, hi;
    return kern && kern->kernel_ib && kern->nr == PANEL && src->own && src->Wh >= PANEL &&
           K > 0 && K == spd_sgemm_kc(kern, K) && spd_tile_clamp(kern, ac, &clamp, &lo, &hi);
}

typedef struct implicit_job {
    const spd_sgemm_kernel *kern;
    const spd_conv2d_src *src;
    int64_t M, K, nv, per; /* nv virtual columns, per panels a task */
    const float *wpack, *bias, *z;
    float *y;
    int clamp;
    float lo, hi;
} implicit_job;

static void implicit_task(void *ctx, int64_t t)
{
    const implicit_job *j = ctx;
    const spd_conv2d_src *src = j->src;
    const int64_t Wh = src->Wh, OW = src->s.OW, OH = src->s.OH, ldc = OH * OW, mr = j->kern->mr;
    const int64_t v_end = (t + 1) * j->per * PANEL < j->nv ? (t + 1) * j->per * PANEL : j->nv;
    spd_tile_epi te = {.clamp = j->clamp, .lo = j->lo, .hi = j->hi,
                       .c_ahead = j->M <= C_AHEAD_MAX_ROWS ? 4 * PANEL : 0};
    spd_tile_map map = {.boff = src->off, .shift = Wh - OW};
    for (int64_t v0 = t * j->per * PANEL; v0 < v_end; v0 += PANEL) {
        const int64_t oy0 = v0 / Wh, ox0 = v0 % Wh, lanes = v_end - v0 < PANEL ? v_end - v0 : PANEL;
        /* lanes of output row oy0, then of row oy0 + 1 (Wh >= 32: no third) */
        const int64_t in_first = OW - ox0 < 0 ? 0 : OW - ox0 < lanes ? OW - ox0 : lanes;
        const int64_t s_lo = Wh - ox0, s_hi = Wh + OW - ox0 < lanes ? Wh + OW - ox0 : lanes;
        map.first = in_first >= 32 ? 0xFFFFFFFFu : (uint32_t)((1ull << in_first) - 1u);
        map.second = 0;
        if (oy0 + 1 < OH && s_hi > s_lo)
            map.second = (uint32_t)(((1ull << s_hi) - 1u) & ~((1ull << s_lo) - 1u));
        const int64_t base = oy0 * OW + ox0; /* output column of lane 0, were it in row oy0 */
        for (int64_t i = 0; i < j->M; i += mr) {
            te.bias = j->bias ? j->bias + i : NULL;
            te.z = j->z ? j->z + i * ldc + base : NULL;
            j->kern->kernel_ib(j->K, j->wpack + i * j->K, src->buf + v0, &map, j->y + i * ldc + base, ldc,
                               (int)(j->M - i < mr ? j->M - i : mr), &te);
        }
    }
}

void spd_conv_implicit(const spd_sgemm_kernel *kern, const spd_conv2d_src *src, int64_t M, int64_t K,
                       const float *wpack, const float *bias, const float *z, const spd_act *ac, float *y,
                       int threads)
{
    implicit_job j = {.kern = kern, .src = src, .M = M, .K = K, .wpack = wpack, .bias = bias, .z = z, .y = y};
    spd_tile_clamp(kern, ac, &j.clamp, &j.lo, &j.hi);
    /* the virtual columns up to the last output: the last row's padding
     * columns are not needed */
    j.nv = (src->s.OH - 1) * src->Wh + src->s.OW;
    const int64_t panels = cdiv(j.nv, PANEL);
    int64_t tasks = 1;
    if (threads > 1 && M * K * j.nv >= PARALLEL_MIN_MACS) {
        tasks = 4 * (int64_t)threads; /* a few per thread: the two ends meet where the work does */
        if (tasks > panels) tasks = panels;
    }
    j.per = cdiv(panels, tasks);
    tasks = cdiv(panels, j.per);
    if (tasks == 1)
        implicit_task(&j, 0);
    else
        spd_parallel_for(tasks, implicit_task, &j);
}
