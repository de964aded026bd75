/* ai.speedster ChannelAffine(X, scale, shift): Y = act(X * scale[c] +
 * shift[c]) over X [N, C, ...], with FusedConv's activation attributes.
 * It is an inference BatchNormalization that no operator before it could
 * absorb (passes/fold_batchnorm.c): DenseNet's and pre-activation ResNets'
 * BN -> ReLU, run as one pass over the tensor instead of two, with the
 * statistics folded into scale and shift once, at optimize time. */
#include "ir/op.h"
#include "ops/conv.h"
#include "ops/ops_util.h"
#include "ops/vmath.h"
#include "util/status.h"
#include "util/threadpool.h"

typedef struct affine_job {
    const float *x, *s, *t;
    float *y;
    const spd_act *ac;
    int64_t C, plane, per_task, planes;
} affine_job;

static void affine_task(void *ctx, int64_t task)
{
    const affine_job *j = ctx;
    const int64_t p0 = task * j->per_task, p1 = p0 + j->per_task < j->planes ? p0 + j->per_task : j->planes;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t c = p % j->C;
        spd_vaffine_act_f32(j->ac, j->y + p * j->plane, j->x + p * j->plane, j->plane, j->s[c], j->t[c]);
    }
}

static spd_status op_channel_affine(spd_op_ctx *ctx)
{
    const spd_tensor *x, *s, *t;
    SPD_TRY(spd_op_need(ctx, 0, &x));
    SPD_TRY(spd_op_need(ctx, 1, &s));
    SPD_TRY(spd_op_need(ctx, 2, &t));
    if (x->dtype != SPD_FLOAT || s->dtype != SPD_FLOAT || t->dtype != SPD_FLOAT)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "ChannelAffine is float32 only");
    if (x->ndim < 2) return spd_errorf(SPD_ERR_INVALID, "X has rank %d; ChannelAffine needs [N, C, ...]", x->ndim);
    const int64_t C = x->dims[1];
    if (spd_tensor_numel(s) != C || spd_tensor_numel(t) != C)
        return spd_errorf(SPD_ERR_INVALID, "scale has %lld and shift %lld values for %lld channels",
                          (long long)spd_tensor_numel(s), (long long)spd_tensor_numel(t), (long long)C);
    spd_act ac;
    SPD_TRY(spd_conv_act_attrs(ctx->node, &ac));
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], SPD_FLOAT, x->ndim, x->dims));
    const int64_t planes = x->dims[0] * C, plane = spd_dims_prod(x->dims, 2, x->ndim);
    if (planes == 0 || plane == 0) return SPD_OK;
    affine_job j = {x->data, s->data, t->data, ctx->out[0].data, &ac, C, plane, planes, planes};
    /* split as the other streaming operators are (util/threadpool.h),
     * whole planes to a task */
    int64_t tasks = 1;
    if (planes * plane >= SPD_PAR_MIN_STREAM && spd_thread_count() > 1) {
        j.per_task = (SPD_PAR_MIN_STREAM / 4 + plane - 1) / plane;
        tasks = (planes + j.per_task - 1) / j.per_task;
    }
    spd_parallel_for(tasks, affine_task, &j);
    return SPD_OK;
}

const spd_op_def spd_ops_channel_affine[] = {
    {"ChannelAffine", "ai.speedster", 1, 1, op_channel_affine},
};
const int spd_ops_channel_affine_count = (int)(sizeof spd_ops_channel_affine / sizeof spd_ops_channel_affine[0]);
