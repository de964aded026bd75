/* ai.speedster ConvConcat: convolutions of one input whose outputs only a
 * Concat along the channels reads, as one node that writes each
 * convolution's channels straight into their place in the concatenation:
 *   Y = Concat_axis1(act_0(Conv_0(X, W_0, B_0)), act_1(Conv_1(X, W_1, B_1)), ...)
 * Inputs X, W_0, B_0, W_1, B_1, ... (a B may be empty). Branch i's
 * attributes are FusedConv's under the prefix b<i>_ (b0_kernel_shape,
 * b0_strides, b0_pads, b0_dilations, b0_group, b0_auto_pad, b0_activation,
 * b0_activation_params).
 *
 * Why: at batch 1 the memory plan lays a Concat's inputs end to end in its
 * output and the Concat copies nothing; with more images each input is a
 * strided slice of the output, so the Concat copied: squeezenet1_1 at
 * batch 4 and 2 threads spent ~390 us of 7.2 ms in its fire modules'
 * Concats. passes/fuse_conv_concat.c makes this node at batch > 1 only. */
#include <stdint.h>
#include <stdio.h>

#include "ir/op.h"
#include "ops/conv.h"
#include "util/alloc.h"
#include "util/status.h"

#define MAX_BRANCHES 8
#define CC_PREP_MAGIC 0x63634350u

typedef struct cc_prep {
    uint32_t magic;
    int n;
    void *state[MAX_BRANCHES]; /* each branch's spd_conv_prepare_named state */
    void (*state_free[MAX_BRANCHES])(void *);
} cc_prep;

static void cc_prep_free(void *p)
{
    cc_prep *s = p;
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        if (s->state_free[i]) s->state_free[i](s->state[i]);
    spd_free(s);
}

static void branch_prefix(char *buf, size_t n, int i) { snprintf(buf, n, "b%d_", i); }

static spd_status cc_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                             void **state, void (**state_free)(void *))
{
    (void)opset;
    if (n_in < 3 || n_in % 2 == 0 || (n_in - 1) / 2 > MAX_BRANCHES) return SPD_OK; /* the run says why */
    cc_prep *s = spd_calloc(1, sizeof *s);
    if (!s) return SPD_OK;
    s->magic = CC_PREP_MAGIC;
    s->n = (n_in - 1) / 2;
    for (int i = 0; i < s->n; i++) {
        char prefix[16];
        branch_prefix(prefix, sizeof prefix, i);
        const spd_status st = spd_conv_prepare_named(node, prefix, consts[1 + 2 * i], &s->state[i], &s->state_free[i]);
        if (st != SPD_OK) {
            cc_prep_free(s);
            return st;
        }
    }
    *state = s;
    *state_free = cc_prep_free;
    return SPD_OK;
}

static spd_status op_conv_concat(spd_op_ctx *ctx)
{
    if (ctx->n_inputs < 3 || ctx->n_inputs % 2 == 0 || (ctx->n_inputs - 1) / 2 > MAX_BRANCHES)
        return spd_errorf(SPD_ERR_INVALID, "needs X and 1 to %d pairs of W, B; got %d inputs", MAX_BRANCHES,
                          ctx->n_inputs);
    if (!ctx->in[0]) return spd_errorf(SPD_ERR_INVALID, "needs input X");
    const int n = (ctx->n_inputs - 1) / 2, rank = ctx->in[0]->ndim;
    const cc_prep *prep = ctx->state;
    if (prep && (prep->magic != CC_PREP_MAGIC || prep->n != n)) prep = NULL;
    spd_op_ctx c[MAX_BRANCHES];
    const spd_tensor *in[MAX_BRANCHES][3];
    char prefix[MAX_BRANCHES][16];
    spd_act ac[MAX_BRANCHES];
    int64_t ydims[SPD_MAX_DIMS] = {0}, channels = 0;
    for (int i = 0; i < n; i++) {
        branch_prefix(prefix[i], sizeof prefix[i], i);
        in[i][0] = ctx->in[0];
        in[i][1] = ctx->in[1 + 2 * i];
        in[i][2] = ctx->in[2 + 2 * i];
        c[i] = *ctx;
        c[i].opset = 11; /* Conv's attributes as FusedConv reads them */
        c[i].n_inputs = 3;
        c[i].in = in[i];
        c[i].state = prep ? prep->state[i] : NULL;
        char act[32], params[40];
        snprintf(act, sizeof act, "%sactivation", prefix[i]);
        snprintf(params, sizeof params, "%sactivation_params", prefix[i]);
        SPD_TRY(spd_conv_act_attrs_named(ctx->node, act, params, &ac[i]));
        int64_t d[SPD_MAX_DIMS] = {0};
        const spd_status st = spd_conv_named_dims(&c[i], prefix[i], d);
        if (st != SPD_OK) return spd_error_prefix(st, "branch %d: ", i);
        if (i == 0) {
            for (int a = 0; a < rank; a++) ydims[a] = d[a];
        } else {
            for (int a = 0; a < rank; a++)
                if (a != 1 && d[a] != ydims[a])
                    return spd_errorf(SPD_ERR_INVALID, "branch %d's output has %lld on axis %d, branch 0's %lld", i,
                                      (long long)d[a], a, (long long)ydims[a]);
        }
        channels += d[1];
    }
    ydims[1] = channels;
    SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], SPD_FLOAT, rank, ydims));
    const int64_t plane = spd_dims_prod(ydims, 2, rank);
    float *y = ctx->out[0].data;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        const spd_status st = spd_conv_named_into(&c[i], prefix[i], &ac[i], y + at * plane, channels * plane);
        if (st != SPD_OK) return spd_error_prefix(st, "branch %d: ", i);
        at += in[i][1]->dims[0];
    }
    return SPD_OK;
}

const spd_op_def spd_ops_conv_concat[] = {
    {"ConvConcat", "ai.speedster", 1, 1, op_conv_concat, cc_prepare},
};
const int spd_ops_conv_concat_count = (int)(sizeof spd_ops_conv_concat / sizeof spd_ops_conv_concat[0]);
