/* ai.speedster NhwcDwPwConv: a channels-last depthwise convolution and the
 * 1x1 convolution that alone reads its output, as one node:
 *   Y = act2(conv1x1(act1(depthwise(X, Wdw) + Bdw), Wpw) + Bpw + Z)
 * Inputs X, Wdw, Bdw, Wpw, Bpw, Z (Bdw, Bpw and Z may be empty); the
 * depthwise half's attributes are NhwcConv's (kernel_shape, strides, pads,
 * dilations, group, auto_pad, activation, activation_params), the 1x1
 * half's activation is pw_activation and pw_activation_params.
 *
 * Why one node: a pixel's 1x1 output needs only that pixel's depthwise
 * output, so each task runs both halves on its own rows of output pixels,
 * and the depthwise rows go to the 1x1 GEMM from the task's cache. Apart,
 * each half was a parallel region of its own, with the threads meeting
 * in between: keyword spotting's 64-channel depthwise layers took 0.8 us
 * on 2 threads, no less than on 1, next to 2.8 us for their 1x1 layers. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ir/op.h"
#include "ops/conv.h"
#include "ops/conv_nhwc.h"
#include "ops/sgemm_fast.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"
#include "util/threadpool.h"

#define DWPW_PREP_MAGIC 0x64777077u

/* A split over threads needs at least this many multiply-adds (both
 * halves) per thread: keyword spotting's 584k split in two is worth it. */
#define TASK_MACS (1 << 18)
/* Rows per thread at least this fraction of the largest share, or the
 * node runs as two parallel steps. */
#define EVEN_SPLIT 0.9

typedef struct dwpw_prep {
    uint32_t magic;
    spd_nhwc_attrs dw;  /* the depthwise half's attributes and activation */
    spd_act pw_ac;
    int64_t C, T, M;
    float *wdw;         /* [T][C], spd_nhwc_dw_weights */
    const spd_sgemm_kernel *kern;
    float *wpack;       /* Wpw^T [C, M] prepacked as B for kern; NULL without a kernel */
} dwpw_prep;

static void prep_free(void *p)
{
    dwpw_prep *s = p;
    if (!s) return;
    spd_free(s->wdw);
    spd_free(s->wpack);
    spd_free(s);
}

static spd_status parse(const spd_node *node, spd_nhwc_attrs *dw, spd_act *pw_ac)
{
    SPD_TRY(spd_nhwc_parse_attrs(node, dw));
    return spd_conv_act_attrs_named(node, "pw_activation", "pw_activation_params", pw_ac);
}

static spd_status dwpw_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                               void **state, void (**state_free)(void *))
{
    (void)opset;
    const spd_tensor *Wd = n_in > 1 ? consts[1] : NULL, *Wp = n_in > 3 ? consts[3] : NULL;
    if (!Wd || !Wp || Wd->dtype != SPD_FLOAT || Wp->dtype != SPD_FLOAT || Wd->ndim != 4 || Wp->ndim != 4 ||
        !Wd->data || !Wp->data)
        return SPD_OK;
    const int64_t C = Wd->dims[0], T = Wd->dims[2] * Wd->dims[3], M = Wp->dims[0];
    if (C < 1 || T < 1 || M < 1 || Wd->dims[1] != 1 || Wp->dims[1] != C || Wp->dims[2] != 1 || Wp->dims[3] != 1)
        return SPD_OK; /* the call reports it */
    dwpw_prep *s = spd_calloc(1, sizeof *s);
    if (!s) return SPD_OK;
    if (parse(node, &s->dw, &s->pw_ac) != SPD_OK) {
        spd_error_clear();
        prep_free(s);
        return SPD_OK;
    }
    s->C = C;
    s->T = T;
    s->M = M;
    s->kern = spd_sgemm_kernel_current();
    s->wdw = spd_malloc((size_t)(C * T) * sizeof(float));
    if (s->kern) s->wpack = spd_malloc(spd_sgemm_prepacked_b_floats(s->kern, C, M) * sizeof(float));
    if (!s->wdw || (s->kern && !s->wpack)) {
        prep_free(s);
        return SPD_OK;
    }
    spd_nhwc_dw_weights(Wd->data, C, T, s->wdw);
    /* Wpw is [M, C]: as B = Wpw^T it is read transposed */
    if (s->kern) spd_sgemm_prepack_b(s->kern, 1, C, M, Wp->data, C, s->wpack);
    s->magic = DWPW_PREP_MAGIC;
    *state = s;
    *state_free = prep_free;
    return SPD_OK;
}

typedef struct dwpw_job {
    const spd_nhwc_geom *g; /* the depthwise half */
    const float *x, *wdw, *bdw;
    const spd_act *dw_ac;
    float *mid;             /* its output, [N*OH*OW, C] */
    const spd_sgemm_kernel *kern;
    spd_gemm_b B;           /* Wpw^T, prepacked or raw */
    const float *bpw, *z;
    const spd_act *pw_ac;
    int64_t M;
    float *y;
    int64_t rows;           /* output rows per task */
    atomic_int failed;
} dwpw_job;

static void dwpw_task(void *ctx, int64_t t)
{
    dwpw_job *j = ctx;
    const spd_nhwc_geom *g = j->g;
    const int64_t all = g->N * g->OH, r0 = t * j->rows, r1 = r0 + j->rows < all ? r0 + j->rows : all;
    if (r0 >= r1) return;
    spd_nhwc_depthwise_rows(g, j->x, j->wdw, j->bdw, j->dw_ac, j->mid, r0, r1);
    const int64_t p0 = r0 * g->OW, np = (r1 - r0) * g->OW, C = g->C;
    const spd_gemm_a A = {.trans = 0, .p = j->mid + p0 * C, .ld = C};
    const spd_gemm_epi epi = {.ac = j->pw_ac, .z = j->z ? j->z + p0 * j->M : NULL, .ldz = j->M, .col_bias = j->bpw};
    if (spd_gemm_run(j->kern, np, j->M, C, 1.0f, &A, &j->B, 0.0f, j->y + p0 * j->M, j->M, &epi, 1) != SPD_OK)
        atomic_store(&j->failed, 1);
}

static spd_status check_vector(const spd_tensor *t, const char *what, int64_t n)
{
    if (t && (t->dtype != SPD_FLOAT || t->ndim != 1 || t->dims[0] != n))
        return spd_errorf(SPD_ERR_INVALID, "%s must be float with %lld values", what, (long long)n);
    return SPD_OK;
}

static spd_status op_dwpw(spd_op_ctx *ctx)
{
    if (ctx->n_inputs < 4 || !ctx->in[0] || !ctx->in[1] || !ctx->in[3])
        return spd_errorf(SPD_ERR_INVALID, "needs inputs X, Wdw and Wpw");
    const spd_tensor *X = ctx->in[0], *Wd = ctx->in[1], *Bd = ctx->in[2], *Wp = ctx->in[3];
    const spd_tensor *Bp = ctx->n_inputs > 4 ? ctx->in[4] : NULL, *Z = ctx->n_inputs > 5 ? ctx->in[5] : NULL;
    const dwpw_prep *prep =
        ctx->state && ((const dwpw_prep *)ctx->state)->magic == DWPW_PREP_MAGIC ? ctx->state : NULL;
    spd_nhwc_attrs dw_parsed;
    spd_act pw_parsed;
    if (!prep) SPD_TRY(parse(ctx->node, &dw_parsed, &pw_parsed));
    const spd_nhwc_attrs *dwa = prep ? &prep->dw : &dw_parsed;
    spd_nhwc_geom g;
    SPD_TRY(spd_nhwc_make_geom(dwa, X, Wd, &g));
    if (!g.depthwise)
        return spd_errorf(SPD_ERR_INVALID, "Wdw [%lld, %lld, ...] with group %lld is not depthwise over %lld channels",
                          (long long)Wd->dims[0], (long long)Wd->dims[1], (long long)dwa->group, (long long)g.C);
    const int64_t C = g.C;
    if (Wp->dtype != SPD_FLOAT || Wp->ndim != 4 || Wp->dims[1] != C || Wp->dims[2] != 1 || Wp->dims[3] != 1 ||
        Wp->dims[0] < 1)
        return spd_errorf(SPD_ERR_INVALID, "Wpw must be float [M, %lld, 1, 1]", (long long)C);
    const int64_t M = Wp->dims[0], T = g.KH * g.KW;
    SPD_TRY(check_vector(Bd, "Bdw", C));
    SPD_TRY(check_vector(Bp, "Bpw", M));
    const int64_t ydims[4] = {g.N, g.OH, g.OW, M};
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], SPD_FLOAT, 4, ydims));
    if (Z && (Z->dtype != SPD_FLOAT || !spd_tensor_same_shape(Z, &ctx->out[0])))
        return spd_errorf(SPD_ERR_INVALID, "Z must have the output's type and shape [%lld, %lld, %lld, %lld]",
                          (long long)g.N, (long long)g.OH, (long long)g.OW, (long long)M);
    const int64_t P = g.N * g.OH * g.OW;
    if (P == 0) return SPD_OK;

    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    const bool prepared = prep && prep->C == C && prep->T == T && prep->M == M;
    const bool packed = prepared && prep->wpack && prep->kern == kern;
    /* the depthwise output, then (unprepared) the rearranged weights */
    const size_t mid_n = (size_t)(P * C + 15) / 16 * 16;
    float *mid = spd_scratch(SPD_SCRATCH_OP, (mid_n + (prepared ? 0 : (size_t)(T * C))) * sizeof(float));
    if (!mid)
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for the %lld x %lld depthwise output", (long long)P,
                          (long long)C);
    const float *wdw = prepared ? prep->wdw : mid + mid_n;
    if (!prepared) spd_nhwc_dw_weights(Wd->data, C, T, mid + mid_n);

    const spd_act *dw_ac = dwa->ac.kind == SPD_ACT_NONE ? NULL : &dwa->ac;
    const spd_act *pw_ac = prep ? &prep->pw_ac : &pw_parsed;
    dwpw_job j = {.g = &g, .x = X->data, .wdw = wdw, .bdw = Bd ? Bd->data : NULL, .dw_ac = dw_ac, .mid = mid,
                  .kern = kern, .bpw = Bp ? Bp->data : NULL, .z = Z ? Z->data : NULL,
                  .pw_ac = pw_ac->kind == SPD_ACT_NONE ? NULL : pw_ac, .M = M, .y = ctx->out[0].data};
    atomic_init(&j.failed, 0);
    if (packed)
        j.B = (spd_gemm_b){.packed = prep->wpack};
    else
        j.B = (spd_gemm_b){.trans = 1, .p = Wp->data, .ld = C};

    /* one contiguous share of rows per thread: a task's 1x1 product is a
     * GEMM of its pixels, which runs well only when they are many (finer
     * tasks of one or two MobileNetV2 rows, 14 to 56 pixels, ran 1.1x as
     * long as the two nodes apart). Rows that do not split evenly
     * (MobileNetV2's 7-row planes over 2 threads: 4 + 3) run as two
     * parallel steps, the depthwise rows, then the GEMM split its own way. */
    const int64_t rows = g.N * g.OH, macs = P * C * (T + M);
    const int threads = spd_thread_count();
    int64_t tasks = threads > 1 && macs >= 2 * TASK_MACS ? (threads < rows ? threads : rows) : 1;
    j.rows = (rows + tasks - 1) / tasks;
    if (tasks > 1 && (double)rows / (double)(tasks * j.rows) < EVEN_SPLIT) {
        SPD_TRY(spd_nhwc_depthwise(&g, j.x, wdw, Wd->data, j.bdw, NULL, dw_ac, mid));
        const spd_gemm_a A = {.trans = 0, .p = mid, .ld = C};
        const spd_gemm_epi epi = {.ac = j.pw_ac, .z = j.z, .ldz = M, .col_bias = j.bpw};
        return spd_gemm_run(kern, P, M, C, 1.0f, &A, &j.B, 0.0f, j.y, M, &epi, threads);
    }
    tasks = (rows + j.rows - 1) / j.rows;
    if (tasks <= 1)
        dwpw_task(&j, 0);
    else
        spd_parallel_for(tasks, dwpw_task, &j);
    if (atomic_load(&j.failed))
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for the 1x1 convolution's GEMM (%lld x %lld x %lld)",
                          (long long)P, (long long)M, (long long)C);
    return SPD_OK;
}

const spd_op_def spd_ops_conv_dwpw[] = {
    {"NhwcDwPwConv", "ai.speedster", 1, 1, op_dwpw, dwpw_prepare},
};
const int spd_ops_conv_dwpw_count = (int)(sizeof spd_ops_conv_dwpw / sizeof spd_ops_conv_dwpw[0]);
