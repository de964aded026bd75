/* Tests of the fast float32 Conv / FusedConv / Gemm / FusedGemm / MatMul
 * paths against a double-precision naive reference (every 2-D group-1 or
 * depthwise case also through ai.speedster NhwcConv, channels-last):
 *  - Conv without a full im2col (pointwise, im2col packed per tile), 1-D,
 *    2-D and 3-D, grouped, depthwise, strided, padded, dilated, odd sizes,
 *    with and without bias / residual / activation;
 *  - with weights prepared (the prepare hook, as for an initializer) and
 *    unprepared (as for a graph input), on every GEMM path this CPU runs,
 *    including a state prepared for one path and run on another;
 *  - Gemm / FusedGemm with every form of C, trans flags, alpha, beta and
 *    activations; MatMul folded, batched and broadcast; 1 and 2 threads;
 *  - the prepare hook through spd_program_build (a Conv and a Gemm with
 *    initializer weights get state; with graph-input weights they do not).
 *
 * One line per failed check; the last line is "N checks, N failed"; exit
 * status 1 when any check fails. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "passes/passes.h"
#include "ops/conv_taps.h"
#include "runtime/exec.h"
#include "runtime/program.h"
#include "speedster.h"
#include "util/alloc.h"
#include "util/scratch.h"

#define TEST_SEED 0x2545F4914F6CDD1Dull
#include "test_util.h"
#include "test_tensor.h"

static spd_tensor make(int nd, const int64_t *dims) { return test_rand_tensor(nd, dims); }

/* Worst |got - want| / (|want| + 1) over n values; NaN counts as infinite. */
static double worst_err(const float *got, const double *want, int64_t n, int64_t *at)
{
    double worst = 0;
    *at = -1;
    for (int64_t i = 0; i < n; i++) {
        const double e = isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]) / (fabs(want[i]) + 1.0);
        if (e > worst) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

static const char *act_names[] = {"",          "Relu",      "LeakyRelu", "Sigmoid",  "Tanh",
                                  "Clip",      "HardSigmoid", "QuickGelu", "Gelu",    "HardSwish"};

static spd_act pick_act(int k)
{
    spd_act a = {(spd_act_kind)k, 0, 0};
    if (k == SPD_ACT_LEAKYRELU) a.a = 0.1f;
    if (k == SPD_ACT_CLIP) a.a = -0.5f, a.b = 0.75f;
    if (k == SPD_ACT_HARDSIGMOID) a.a = 0.2f, a.b = 0.5f;
    if (k == SPD_ACT_SILU) a.a = 1.702f;
    if (k == SPD_ACT_HARDSWISH) a.a = 0.6f, a.b = 0.5f; /* both bends within the outputs' range */
    return a;
}

/* Runs node's kernel, prepared (the hook called with consts as given) or
 * not, on the current path; out[0] gets the result. */
static spd_status run_node(const spd_node *node, const char *domain, int64_t opset, int n_in,
                           const spd_tensor *const *ins, const spd_tensor *const *consts, spd_tensor *out)
{
    const spd_op_def *d = spd_op_find(domain, node->op_type, opset);
    if (!d) return SPD_ERR_UNSUPPORTED;
    void *state = NULL;
    void (*state_free)(void *) = NULL;
    if (consts && d->prepare) {
        spd_status st = d->prepare(node, opset, n_in, consts, &state, &state_free);
        if (st != SPD_OK) return st;
    }
    spd_op_ctx ctx = {node, opset, n_in, ins, 1, out, NULL, state};
    spd_status st = d->run(&ctx);
    if (state_free) state_free(state);
    return st;
}

/* ---- Conv ---- */

typedef struct conv_case {
    int nd;
    int64_t N, C, M, group;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
    int bias, z;
    spd_act ac;
} conv_case;

static int64_t out_size(const conv_case *c, int a)
{
    return (c->in[a] + c->pb[a] + c->pe[a] - ((c->k[a] - 1) * c->d[a] + 1)) / c->s[a] + 1;
}

/* y = the convolution in double; mag = the sum of its terms' magnitudes
 * (bias, products, residual), the scale of fp32's rounding error, which
 * cancellation can leave far above |y|. */
static void conv_ref(const conv_case *c, const float *x, const float *w, const float *b, const float *z,
                     const int64_t *od, double *y, double *mag)
{
    const int64_t Cg = c->C / c->group, Mg = c->M / c->group;
    int64_t osz = 1, ksz = 1, isz = 1;
    for (int a = 0; a < c->nd; a++) osz *= od[a], ksz *= c->k[a], isz *= c->in[a];
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++) {
            const int64_t g = m / Mg;
            for (int64_t o = 0; o < osz; o++) {
                int64_t oc[3], r = o;
                for (int a = c->nd - 1; a >= 0; a--) oc[a] = r % od[a], r /= od[a];
                double acc = b ? b[m] : 0.0, sum = fabs(acc);
                for (int64_t ci = 0; ci < Cg; ci++)
                    for (int64_t kk = 0; kk < ksz; kk++) {
                        int64_t kc[3], q = kk, off = 0, ok = 1;
                        for (int a = c->nd - 1; a >= 0; a--) kc[a] = q % c->k[a], q /= c->k[a];
                        for (int a = 0; a < c->nd; a++) {
                            const int64_t i = oc[a] * c->s[a] + kc[a] * c->d[a] - c->pb[a];
                            if (i < 0 || i >= c->in[a]) ok = 0;
                            off = off * c->in[a] + i;
                        }
                        if (!ok) continue;
                        const double t = (double)w[(m * Cg + ci) * ksz + kk] * x[(n * c->C + g * Cg + ci) * isz + off];
                        acc += t;
                        sum += fabs(t);
                    }
                const int64_t yi = (n * c->M + m) * osz + o;
                if (z) acc += z[yi], sum += fabs(z[yi]);
                y[yi] = spd_act_scalar(&c->ac, (float)acc);
                mag[yi] = sum;
            }
        }
}

/* Worst |got - want| / (mag + 1) over n values, mag being the sum of the
 * magnitudes of each value's terms; NaN counts as infinite. */
static double worst_err_mag(const float *got, const double *want, const double *mag, int64_t n, int64_t *at)
{
    double worst = 0;
    *at = -1;
    for (int64_t i = 0; i < n; i++) {
        const double e = isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]) / (mag[i] + 1.0);
        if (e > worst) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

/* NCHW <-> NHWC for the channels-last runs */
static void to_nhwc(const float *x, float *y, int64_t N, int64_t C, int64_t HW)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++) y[(n * HW + p) * C + c] = x[(n * C + c) * HW + p];
}

/* The same case through ai.speedster NhwcConv (2-D, group 1 or depthwise):
 * X and Z channels-last, the result compared position by position. */
static void run_nhwc_case(const conv_case *c, spd_graph *g, int conv_idx, const spd_tensor *X, const spd_tensor *W,
                          const spd_tensor *B, const spd_tensor *Z, const int64_t *od, const double *want, double tol,
                          const char *desc)
{
    const int n_in = c->z ? 4 : c->bias ? 3 : 2;
    const char *ins[4] = {"x", "w", c->bias ? "b" : "", "z"}, *outs[1] = {"y"};
    int idx = 0;
    spd_graph_add_node(g, "NhwcConv", "ai.speedster", "nh", n_in, ins, 1, outs, &idx);
    spd_node_copy_attrs(&g->nodes[idx], &g->nodes[conv_idx]);
    const spd_node *node = &g->nodes[idx];
    const int64_t HW = c->in[0] * c->in[1], OHW = od[0] * od[1];
    const int64_t xd[4] = {c->N, c->in[0], c->in[1], c->C}, zd[4] = {c->N, od[0], od[1], c->M};
    spd_tensor Xh = make(4, xd), Zh = make(4, zd);
    to_nhwc(X->data, Xh.data, c->N, c->C, HW);
    to_nhwc(Z->data, Zh.data, c->N, c->M, OHW);
    const spd_tensor *in[4] = {&Xh, W, c->bias ? B : NULL, &Zh};
    const spd_tensor *consts[4] = {NULL, W, c->bias ? B : NULL, NULL};
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    const spd_op_def *d = spd_op_find("ai.speedster", "NhwcConv", 1);
    for (int prepared = 0; prepared < 2; prepared++)
        for (int isa = (int)best; isa >= 0; isa--) {
            spd_sgemm_set_isa(best);
            void *state = NULL;
            void (*state_free)(void *) = NULL;
            if (prepared && d && d->prepare) d->prepare(node, 1, n_in, consts, &state, &state_free);
            spd_sgemm_set_isa((spd_sgemm_isa)isa);
            snprintf(g_label, sizeof g_label, "nhwc %s", spd_sgemm_isa_name((spd_sgemm_isa)isa));
            spd_tensor out[1];
            memset(out, 0, sizeof out);
            spd_op_ctx ctx = {node, 1, n_in, in, 1, out, NULL, state};
            spd_status st = d ? d->run(&ctx) : SPD_ERR_UNSUPPORTED;
            if (state_free) state_free(state);
            check(st == SPD_OK, "%s nhwc prepared=%d: status %d (%s)", desc, prepared, (int)st, spd_last_error());
            const int sized = st == SPD_OK && spd_tensor_numel(&out[0]) == c->N * c->M * OHW;
            if (st == SPD_OK) check(sized, "%s nhwc: output size", desc);
            if (sized) {
                double worst = 0;
                int64_t at = -1;
                const float *y = out[0].data;
                for (int64_t n = 0; n < c->N; n++)
                    for (int64_t m = 0; m < c->M; m++)
                        for (int64_t p = 0; p < OHW; p++) {
                            const int64_t wi = (n * c->M + m) * OHW + p;
                            const float v = y[(n * OHW + p) * c->M + m];
                            const double e = isnan(v) ? INFINITY : fabs(v - want[wi]) / (fabs(want[wi]) + 1.0);
                            if (e > worst) worst = e, at = wi;
                        }
                check(worst <= tol, "%s nhwc prepared=%d: error %.3g at %lld", desc, prepared, worst, (long long)at);
            }
            spd_tensor_release(&out[0]);
        }
    spd_sgemm_set_isa(best);
    spd_tensor_release(&Xh);
    spd_tensor_release(&Zh);
}

static void run_conv_case(const conv_case *c, int threads)
{
    int64_t xd[5] = {c->N, c->C}, wd[5] = {c->M, c->C / c->group}, bd[1] = {c->M}, od[3], yd[5] = {c->N, c->M};
    for (int a = 0; a < c->nd; a++) {
        xd[2 + a] = c->in[a];
        wd[2 + a] = c->k[a];
        od[a] = out_size(c, a);
        yd[2 + a] = od[a];
    }
    spd_tensor X = make(c->nd + 2, xd), W = make(c->nd + 2, wd), B = make(1, bd), Z = make(c->nd + 2, yd);
    const int fused = c->z || c->ac.kind != SPD_ACT_NONE;
    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[4] = {"x", "w", c->bias ? "b" : "", "z"}, *outs[1] = {"y"};
    const int n_in = c->z ? 4 : c->bias ? 3 : 2;
    int idx = 0;
    spd_graph_add_node(g, fused ? "FusedConv" : "Conv", fused ? "com.microsoft" : "", "n", n_in, ins, 1, outs, &idx);
    spd_node *node = &g->nodes[idx];
    int64_t pads[6];
    for (int a = 0; a < c->nd; a++) pads[a] = c->pb[a], pads[c->nd + a] = c->pe[a];
    spd_node_set_ints(node, "strides", c->s, (size_t)c->nd);
    spd_node_set_ints(node, "dilations", c->d, (size_t)c->nd);
    spd_node_set_ints(node, "pads", pads, (size_t)(2 * c->nd));
    spd_node_set_int(node, "group", c->group);
    if (c->ac.kind != SPD_ACT_NONE) {
        spd_node_set_string(node, "activation", act_names[c->ac.kind]);
        const float params[2] = {c->ac.a, c->ac.b};
        if (c->ac.kind == SPD_ACT_LEAKYRELU || c->ac.kind == SPD_ACT_SILU)
            spd_node_set_floats(node, "activation_params", params, 1);
        if (c->ac.kind == SPD_ACT_CLIP || c->ac.kind == SPD_ACT_HARDSIGMOID || c->ac.kind == SPD_ACT_HARDSWISH)
            spd_node_set_floats(node, "activation_params", params, 2);
    }
    int64_t ny = c->N * c->M;
    for (int a = 0; a < c->nd; a++) ny *= od[a];
    double *want = malloc((size_t)ny * sizeof(double) + 1), *mag = malloc((size_t)ny * sizeof(double) + 1);
    conv_ref(c, X.data, W.data, c->bias ? B.data : NULL, c->z ? Z.data : NULL, od, want, mag);
    const spd_tensor *in[4] = {&X, &W, c->bias ? &B : NULL, &Z};
    const spd_tensor *consts[4] = {NULL, &W, c->bias ? &B : NULL, NULL};
    int64_t kdim = c->C / c->group;
    for (int a = 0; a < c->nd; a++) kdim *= c->k[a];
    const double tol = sqrt((double)kdim) * 4e-7 + 1e-6;
    char desc[320];
    snprintf(desc, sizeof desc,
             "conv%dd N%lld C%lld M%lld g%lld in %lldx%lldx%lld k %lldx%lldx%lld s %lld,%lld,%lld d %lld,%lld,%lld "
             "p %lld,%lld,%lld/%lld,%lld,%lld b%d z%d act%d threads %d",
             c->nd, (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->group, (long long)c->in[0],
             (long long)c->in[1], (long long)c->in[2], (long long)c->k[0], (long long)c->k[1], (long long)c->k[2],
             (long long)c->s[0], (long long)c->s[1], (long long)c->s[2], (long long)c->d[0], (long long)c->d[1],
             (long long)c->d[2], (long long)c->pb[0], (long long)c->pb[1], (long long)c->pb[2], (long long)c->pe[0],
             (long long)c->pe[1], (long long)c->pe[2], c->bias, c->z, (int)c->ac.kind, threads);
    spd_set_num_threads(threads);
    /* prepared on the best path, then run on every path: the ref and
     * other-ISA runs must notice the state is not theirs */
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int prepared = 0; prepared < 2; prepared++)
        for (int isa = (int)best; isa >= 0; isa--) {
            spd_sgemm_set_isa(best);
            const spd_op_def *d = spd_op_find(fused ? "com.microsoft" : "", node->op_type, fused ? 1 : 11);
            void *state = NULL;
            void (*state_free)(void *) = NULL;
            if (prepared && d && d->prepare) d->prepare(node, fused ? 1 : 11, n_in, consts, &state, &state_free);
            spd_sgemm_set_isa((spd_sgemm_isa)isa);
            snprintf(g_label, sizeof g_label, "%s", spd_sgemm_isa_name((spd_sgemm_isa)isa));
            spd_tensor out[1];
            memset(out, 0, sizeof out);
            spd_op_ctx ctx = {node, fused ? 1 : 11, n_in, in, 1, out, NULL, state};
            spd_status st = d ? d->run(&ctx) : SPD_ERR_UNSUPPORTED;
            if (state_free) state_free(state);
            check(st == SPD_OK, "%s prepared=%d: status %d (%s)", desc, prepared, (int)st, spd_last_error());
            if (st == SPD_OK) {
                int64_t at;
                check(spd_tensor_numel(&out[0]) == ny, "%s: output size", desc);
                if (spd_tensor_numel(&out[0]) == ny) {
                    const double e = worst_err_mag(out[0].data, want, mag, ny, &at);
                    check(e <= tol, "%s prepared=%d: error %.3g at %lld (%g vs %g)", desc, prepared, e, (long long)at,
                          at >= 0 ? ((float *)out[0].data)[at] : 0.0f, at >= 0 ? want[at] : 0.0);
                }
            }
            spd_tensor_release(&out[0]);
        }
    spd_sgemm_set_isa(best);
    const bool dw = c->group > 1 && c->group == c->C && c->group == c->M;
    if (c->nd == 2 && (c->group == 1 || dw))
        run_nhwc_case(c, g, idx, &X, &W, &B, &Z, od, want, tol, desc);
    free(want);
    free(mag);
    spd_graph_free(g);
    spd_tensor_release(&X);
    spd_tensor_release(&W);
    spd_tensor_release(&B);
    spd_tensor_release(&Z);
}

static conv_case conv_base(int nd)
{
    conv_case c;
    memset(&c, 0, sizeof c);
    c.nd = nd;
    c.N = 1;
    c.group = 1;
    for (int a = 0; a < 3; a++) c.in[a] = c.k[a] = c.s[a] = c.d[a] = 1;
    return c;
}

/* A 2-D case with square kernel, strides, dilations and pads. */
typedef struct square_case {
    int64_t C, M, g, H, W, k, s, d, p;
} square_case;

static conv_case square(const square_case *h)
{
    conv_case c = conv_base(2);
    c.C = h->C, c.M = h->M, c.group = h->g;
    c.in[0] = h->H, c.in[1] = h->W;
    c.k[0] = c.k[1] = h->k;
    c.s[0] = c.s[1] = h->s;
    c.d[0] = c.d[1] = h->d;
    c.pb[0] = c.pb[1] = c.pe[0] = c.pe[1] = h->p;
    return c;
}

static void conv_tests(void)
{
    /* hand-picked: pointwise, resnet-like small spatial, strided 1x1,
     * depthwise, grouped, dilated, big K (several kc slices) */
    const square_case hp[] = {
        {64, 96, 1, 14, 14, 1, 1, 1, 0},  {96, 64, 1, 7, 7, 3, 1, 1, 1},   {32, 80, 1, 9, 11, 1, 2, 1, 0},
        {24, 24, 24, 13, 9, 3, 2, 1, 1},  {16, 32, 4, 10, 10, 3, 1, 1, 1}, {8, 12, 1, 17, 19, 3, 1, 2, 2},
        {300, 40, 1, 6, 5, 3, 1, 1, 1},   {3, 16, 1, 33, 31, 7, 2, 1, 3},  {40, 520, 1, 3, 3, 1, 1, 1, 0},
        {256, 20, 1, 2, 3, 1, 1, 1, 0},   {6, 9, 3, 7, 7, 5, 3, 1, 2},
        /* small output grids, computed transposed: 7x7, pointwise 7x7,
         * dilated 5x5, strided to 5x5, grouped */
        {64, 48, 1, 7, 7, 3, 1, 1, 1},    {520, 32, 1, 7, 7, 1, 1, 1, 0},  {80, 32, 1, 5, 5, 3, 1, 2, 2},
        {200, 48, 1, 9, 9, 3, 2, 1, 1},   {64, 64, 2, 7, 7, 3, 1, 1, 1},   {600, 48, 1, 7, 7, 1, 1, 1, 0},
        /* pointwise with long aligned rows: the kernel reads X in place
         * (768 and 1024 columns; a partial last panel; more than kc rows) */
        {20, 30, 1, 24, 32, 1, 1, 1, 0},  {300, 7, 1, 32, 32, 1, 1, 1, 0},  {9, 160, 1, 16, 36, 1, 1, 1, 0},
        /* stems: 3 channels, 3x3 stride 2, odd widths, with and without
         * padding (the stride-2 planes are copied four columns at a time) */
        {3, 20, 1, 29, 35, 3, 2, 1, 0},   {3, 32, 1, 30, 38, 3, 2, 1, 1},
        /* pointwise over few positions: a ResNet's 7x7 stage, its strided
         * downsample, 64 and 65 positions, K past one slice, channel counts
         * off the panels */
        {512, 128, 1, 7, 7, 1, 1, 1, 0},  {96, 128, 1, 14, 13, 1, 2, 1, 0}, {70, 64, 1, 8, 8, 1, 1, 1, 0},
        {1100, 72, 1, 5, 5, 1, 1, 1, 0},  {33, 100, 1, 6, 7, 1, 1, 1, 0},  {40, 96, 1, 5, 13, 1, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        conv_case c = square(&hp[i]);
        c.bias = i % 2 == 0;
        c.z = i % 3 == 1;
        c.ac = pick_act((int)(i % 7));
        run_conv_case(&c, i % 2 ? 2 : 1);
    }
    /* pointwise over 1x1 planes (squeeze-and-excitation), a matrix-vector
     * product: batch 1-5 (past the vector path's 4 rows), every activation,
     * with and without bias and residual */
    for (int r = 0; r < 14; r++) {
        conv_case c = conv_base(2);
        c.N = 1 + r % 5;
        c.C = r % 4 == 0 ? 1 : rnd_range(2, 300);
        c.M = rnd_range(1, 200);
        c.bias = r % 3 != 2;
        c.z = r % 4 == 3;
        c.ac = pick_act(r % 7);
        run_conv_case(&c, r % 2 ? 2 : 1);
    }
    /* random 1-D, 2-D and 3-D cases */
    for (int r = 0; r < 60; r++) {
        const int nd = r % 10 == 0 ? 1 : r % 10 == 1 ? 3 : 2;
        conv_case c = conv_base(nd);
        c.N = rnd_range(1, 2);
        const int64_t groups[] = {1, 1, 1, 2, 3};
        c.group = groups[rnd_range(0, 4)];
        c.C = c.group * rnd_range(1, nd == 3 ? 6 : 24);
        c.M = c.group * rnd_range(1, nd == 3 ? 8 : 40);
        if (r % 9 == 4) c.group = c.C = c.M = rnd_range(2, 20); /* depthwise */
        for (int a = 0; a < nd; a++) {
            c.in[a] = rnd_range(1, nd == 3 ? 7 : nd == 1 ? 40 : 18);
            c.k[a] = r % 5 == 0 ? 1 : rnd_range(1, nd == 3 ? 3 : 5);
            c.s[a] = rnd_range(1, 3);
            c.d[a] = rnd_range(1, 2);
            c.pb[a] = rnd_range(0, 2);
            c.pe[a] = rnd_range(0, 2);
            if (r % 5 == 0) c.s[a] = c.d[a] = 1, c.pb[a] = c.pe[a] = 0; /* pointwise */
            while ((c.k[a] - 1) * c.d[a] + 1 > c.in[a] + c.pb[a] + c.pe[a]) c.pe[a]++;
        }
        c.bias = (int)(rnd() & 1);
        c.z = (int)(rnd() % 3 == 0);
        c.ac = pick_act((int)rnd_range(0, 6));
        run_conv_case(&c, r % 2 ? 2 : 1);
    }
}

/* Case c (number i) with each activation the kernels fuse, with and
 * without bias and residual, at 1 and 2 threads; batch 1, or 1 and 2. */
static void fused_variants(conv_case c, int i, bool batches)
{
    const int acts[] = {SPD_ACT_NONE, SPD_ACT_RELU, SPD_ACT_CLIP, SPD_ACT_SILU, SPD_ACT_GELU, SPD_ACT_HARDSWISH};
    for (int v = 0; v < 6; v++) {
        if (batches) c.N = 1 + (i + v) % 2;
        c.bias = v != 2;
        c.z = (v + i) % 2;
        c.ac = pick_act(acts[v]);
        run_conv_case(&c, v % 2 ? 2 : 1);
    }
}

/* The implicit GEMM (ops/conv_implicit.h: output rows of at least 32
 * padded columns, an activation the kernel applies): each case with every
 * such activation, with and without residual, at 1 and 2 threads. Output
 * rows whose padding lanes fall anywhere in a 32-column panel (widths 33
 * to 90, and a panel with one lane in the next row), stride 2, a 7x7
 * stem, one row tile and several with a partial one, grouped, dilated;
 * K past the kernel's cache block takes the packed path. */
static void implicit_tests(void)
{
    const square_case hp[] = {
        {16, 64, 1, 9, 55, 3, 1, 1, 1}, {3, 24, 1, 11, 70, 3, 2, 1, 1}, {3, 16, 1, 13, 75, 7, 2, 1, 3},
        {5, 13, 1, 6, 40, 3, 1, 1, 0},  {4, 8, 2, 7, 33, 5, 1, 1, 2},   {2, 40, 1, 3, 90, 3, 1, 2, 2},
        {1, 9, 1, 5, 62, 3, 1, 1, 0},   {30, 20, 1, 4, 36, 3, 1, 1, 1},
        {2, 8, 1, 32, 31, 3, 1, 1, 1}, /* 33 padded columns: the panel at 992 has one lane of the next row */
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) fused_variants(square(&hp[i]), (int)i, false);
}

/* Stride-2 kernels on planes under 32 columns, packed from X without a
 * plane copy (ops/conv_pack.h, direct) when upright or on one thread:
 * lines of 28 (two runs a 16-lane unit), 14 and 7, upright and
 * transposed (8-row units), no padding, two images; lines of 3 and 4 and a 9-wide kernel
 * take the portable packer;
 * each with every fused activation, bias and residual, at 1 and 2 threads. */
static void direct_s2_tests(void)
{
    const square_case hp[] = {
        {24, 48, 1, 56, 56, 3, 2, 1, 1}, {32, 40, 1, 28, 28, 3, 2, 1, 1}, {40, 72, 1, 14, 14, 3, 2, 1, 1},
        {16, 32, 1, 15, 15, 3, 2, 1, 0}, {8, 24, 1, 9, 6, 3, 2, 1, 1},    {12, 20, 1, 8, 7, 3, 2, 1, 1},
        {4, 16, 1, 20, 20, 9, 2, 1, 4},
        /* transposed (positions as rows): 196 and 49 positions */
        {64, 32, 1, 28, 28, 3, 2, 1, 1}, {52, 64, 1, 14, 14, 3, 2, 1, 1},
        /* 1x1 at stride 2 (resnet's downsampling): odd sides, padding
         * (bias-only edges), and one that runs transposed, from X in place */
        {32, 48, 1, 56, 56, 1, 2, 1, 0}, {24, 40, 1, 15, 13, 1, 2, 1, 0}, {16, 24, 1, 14, 11, 1, 2, 1, 1},
        {96, 256, 1, 14, 14, 1, 2, 1, 0},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        conv_case c = square(&hp[i]);
        if (i == 3) c.N = 2;
        fused_variants(c, (int)i, false);
    }
}

/* Batches whose images go to the threads whole (ops/conv.c image_task):
 * 2 and 4 images at 2 threads (split; at 3 threads, 4 images are not),
 * Winograd, implicit, direct stride-2, a strided 1x1 and a grouped
 * kernel, each with the residual (offset per image) and activations. */
static void batch_split_tests(void)
{
    const square_case hp[] = {
        {32, 64, 1, 28, 28, 3, 1, 1, 1}, {16, 64, 1, 40, 40, 3, 1, 1, 0}, {48, 64, 1, 28, 27, 3, 2, 1, 1},
        {64, 128, 1, 28, 28, 1, 2, 1, 0}, {64, 96, 2, 20, 20, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        conv_case c = square(&hp[i]);
        for (int v = 0; v < 3; v++) {
            c.N = v == 1 ? 4 : 2;
            c.bias = v != 2;
            c.z = v != 1;
            c.ac = pick_act(v ? SPD_ACT_RELU : SPD_ACT_NONE);
            run_conv_case(&c, v == 2 ? 3 : 2);
            if (v == 2) {
                c.N = 3; /* not a multiple of 2: image by image */
                run_conv_case(&c, 2);
            }
        }
    }
}

/* Convolutions whose taps mostly read padding, one GEMM per tap
 * (ops/conv_taps.h): DeepLab's atrous 3x3 (dilation 8-36 over 14x14, the
 * widest ones down to the centre tap alone), stride 2, uneven pads, a 3x3
 * over a 1x1 and a 2x2 plane, 5x5 dilated; batch 1-3 (split over the
 * threads or not), bias, residual, each activation. */
static void taps_tests(void)
{
    struct { int64_t C, M, H, W, k, s, d, pt, pl, pb, pr; } hp[] = {
        {24, 40, 14, 14, 3, 1, 12, 12, 12, 12, 12}, {16, 33, 14, 14, 3, 1, 8, 8, 8, 8, 8},
        {20, 17, 14, 14, 3, 1, 36, 36, 36, 36, 36}, {9, 70, 13, 11, 3, 1, 8, 8, 7, 8, 9},
        {12, 20, 15, 15, 3, 2, 9, 9, 9, 9, 9},     {40, 48, 1, 1, 3, 1, 1, 1, 1, 1, 1},
        {33, 31, 2, 2, 3, 1, 1, 1, 1, 1, 1},      {8, 16, 9, 10, 5, 1, 4, 8, 8, 8, 8},
        {17, 65, 28, 28, 3, 1, 24, 24, 24, 24, 24},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        conv_case c = conv_base(2);
        c.C = hp[i].C, c.M = hp[i].M;
        c.in[0] = hp[i].H, c.in[1] = hp[i].W;
        c.k[0] = c.k[1] = hp[i].k;
        c.s[0] = c.s[1] = hp[i].s;
        c.d[0] = c.d[1] = hp[i].d;
        c.pb[0] = hp[i].pt, c.pb[1] = hp[i].pl, c.pe[0] = hp[i].pb, c.pe[1] = hp[i].pr;
        const int64_t oh = out_size(&c, 0), ow = out_size(&c, 1);
        const spd_taps_shape ts = {c.C, c.M, c.in[0], c.in[1], oh, ow, c.k[0], c.k[1],
                                   c.s[0], c.s[1], c.d[0], c.d[1], c.pb[0], c.pb[1]};
        check(spd_conv_taps_fit(&ts), "case %zu does not take the tap-wise path", i);
        for (int v = 0; v < 4; v++) {
            c.N = 1 + (int64_t)((i + (size_t)v) % 3);
            c.bias = v != 1;
            c.z = v % 2;
            const int acts[] = {SPD_ACT_NONE, SPD_ACT_RELU, SPD_ACT_HARDSWISH, SPD_ACT_SILU};
            c.ac = pick_act(acts[(i + (size_t)v) % 4]);
            run_conv_case(&c, v % 2 ? 2 : 1);
        }
    }
    /* an ordinary 3x3 keeps its paths */
    const spd_taps_shape plain = {64, 64, 56, 56, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1};
    check(!spd_conv_taps_fit(&plain), "a 3x3 over 56x56 took the tap-wise path");
}

/* 1-D convolutions, run as 2-D ones of height 1 (ops/conv.c as_2d): an
 * audio front end's wide stride-5 first layer and stride-2 layers, padding,
 * dilation, grouped and depthwise, batch 2, residual, activations. */
static void conv1d_tests(void)
{
    struct { int64_t C, M, g, L, k, s, d, pb, pe; } hp[] = {
        {1, 32, 1, 400, 10, 5, 1, 0, 0}, {16, 24, 1, 99, 3, 2, 1, 1, 1}, {12, 20, 1, 77, 3, 1, 2, 2, 2},
        {18, 18, 18, 50, 5, 1, 1, 2, 2}, {8, 12, 4, 61, 4, 3, 1, 0, 3}, {40, 33, 1, 9, 2, 2, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
        for (int v = 0; v < 3; v++) {
            conv_case c = conv_base(1);
            c.N = 1 + v % 2;
            c.C = hp[i].C, c.M = hp[i].M, c.group = hp[i].g;
            c.in[0] = hp[i].L, c.k[0] = hp[i].k, c.s[0] = hp[i].s, c.d[0] = hp[i].d;
            c.pb[0] = hp[i].pb, c.pe[0] = hp[i].pe;
            c.bias = v != 1;
            c.z = v == 1;
            const int acts[] = {SPD_ACT_GELU, SPD_ACT_NONE, SPD_ACT_RELU};
            c.ac = pick_act(acts[v]);
            run_conv_case(&c, v == 2 ? 2 : 1);
        }
}

/* Few input channels over large planes, whose phase planes are filled in
 * bands of rows at 2 threads (ops/conv_pack.c spd_conv2d_src_fill): a
 * 3-channel stride-2 stem (all four phases: the AVX-512 fill), a 7x7 one,
 * a stride-1 kernel with 2 channels (one phase) and odd sizes; 1 and 2
 * threads. */
static void few_channel_tests(void)
{
    struct { int64_t C, M, H, W, k, s, p; } hp[] = {
        {3, 16, 161, 160, 3, 2, 1}, {3, 8, 131, 130, 7, 2, 3}, {2, 8, 201, 199, 3, 1, 1}, {1, 8, 190, 257, 5, 2, 0},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
        for (int threads = 1; threads <= 2; threads++) {
            conv_case c = conv_base(2);
            c.C = hp[i].C, c.M = hp[i].M;
            c.in[0] = hp[i].H, c.in[1] = hp[i].W;
            c.k[0] = c.k[1] = hp[i].k, c.s[0] = c.s[1] = hp[i].s;
            c.pb[0] = c.pb[1] = c.pe[0] = c.pe[1] = hp[i].p;
            c.bias = 1;
            c.ac = pick_act(SPD_ACT_RELU);
            run_conv_case(&c, threads);
        }
}

/* Dilated depthwise convolutions at stride 1, phase by phase (ops/conv.c
 * depthwise_phases): DeepLab's 5x5 at dilation 2 over 14x14, 3x3 and 7x7,
 * dilations 2-4 unequal on the two axes, odd and tiny planes (phases that
 * read only padding), uneven pads at or past dilation - 1, batch 1-2,
 * bias, residual, each activation; and pads below that, which take the
 * plain loop. */
static void dw_dilated_tests(void)
{
    struct { int64_t C, H, W, k, dy, dx, pt, pl, pb, pr; } hp[] = {
        {40, 14, 14, 5, 2, 2, 4, 4, 4, 4}, {17, 13, 9, 3, 2, 3, 2, 3, 2, 3}, {9, 11, 12, 7, 3, 2, 9, 6, 9, 6},
        {8, 5, 4, 3, 4, 4, 4, 4, 4, 4},    {5, 2, 3, 3, 3, 2, 3, 1, 3, 1},  {20, 21, 19, 5, 2, 2, 5, 4, 3, 6},
        {6, 10, 10, 3, 2, 2, 0, 0, 0, 0},  {12, 8, 30, 3, 1, 3, 1, 2, 1, 4},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
        for (int v = 0; v < 3; v++) {
            conv_case c = conv_base(2);
            c.N = 1 + (int64_t)((i + (size_t)v) % 2);
            c.group = c.C = c.M = hp[i].C;
            c.in[0] = hp[i].H, c.in[1] = hp[i].W;
            c.k[0] = c.k[1] = hp[i].k;
            c.d[0] = hp[i].dy, c.d[1] = hp[i].dx;
            c.pb[0] = hp[i].pt, c.pb[1] = hp[i].pl, c.pe[0] = hp[i].pb, c.pe[1] = hp[i].pr;
            c.bias = v != 2;
            c.z = v == 1;
            const int acts[] = {SPD_ACT_HARDSWISH, SPD_ACT_RELU, SPD_ACT_NONE, SPD_ACT_CLIP};
            c.ac = pick_act(acts[(i + (size_t)v) % 4]);
            run_conv_case(&c, v == 1 ? 2 : 1);
        }
}

/* Channels-last group-1 convolutions of 64k output channels, read from the
 * padded input through tap offsets (ops/conv_nhwc_implicit.c): keyword
 * spotting's 1-channel 10x4 stride-2 stem, rows of 1-13 pixels (tiles of
 * 5 and 6, partial ones), stride 2, dilation 2, 5x5, batch 2, 128
 * channels, K at 1017 (one k slice) and 1152 (past it: im2col), each with
 * every fused activation, bias and residual. */
static void nhwc_implicit_tests(void)
{
    const square_case hp[] = {
        {8, 64, 1, 6, 13, 3, 1, 1, 1},  {5, 128, 1, 7, 9, 3, 2, 1, 1}, {3, 64, 1, 9, 11, 3, 1, 2, 2},
        {4, 64, 1, 8, 8, 5, 1, 1, 2},   {2, 64, 1, 5, 1, 3, 1, 1, 1},  {6, 192, 1, 4, 6, 3, 1, 1, 0},
        {113, 64, 1, 4, 5, 3, 1, 1, 1}, {128, 64, 1, 4, 4, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) fused_variants(square(&hp[i]), (int)i, true);
    conv_case stem = conv_base(2);
    stem.C = 1, stem.M = 64, stem.in[0] = 49, stem.in[1] = 10, stem.k[0] = 10, stem.k[1] = 4;
    stem.s[0] = stem.s[1] = 2, stem.pb[0] = stem.pe[0] = 5, stem.pb[1] = stem.pe[1] = 1;
    fused_variants(stem, 0, true);
}

/* Depthwise: every specialised AVX2 kernel (3x3 and 5x5, stride 1 and 2,
 * even and odd left padding), paddings 0..2 on each side, widths 1..40
 * (whole vectors, a partial last one, both edges in one vector), planes a
 * few rows high, every activation, the residual; then the models' shapes
 * and those that take the generic or the eight-channel kernel. */
static void depthwise_tests(void)
{
    for (int r = 0; r < 160; r++) {
        conv_case c = conv_base(2);
        c.N = rnd_range(1, 2);
        c.group = c.C = c.M = rnd_range(1, 12);
        const int64_t k = r % 2 ? 3 : 5;
        c.k[0] = c.k[1] = k;
        c.s[0] = c.s[1] = r % 4 < 2 ? 1 : 2;
        c.in[0] = rnd_range(1, 13);
        c.in[1] = r < 40 ? r + 1 : rnd_range(1, 40);
        for (int a = 0; a < 2; a++) {
            c.pb[a] = rnd_range(0, 2);
            c.pe[a] = rnd_range(0, 2);
            while (k > c.in[a] + c.pb[a] + c.pe[a]) c.pe[a]++;
        }
        c.bias = (int)(rnd() & 1);
        c.z = r % 3 == 0;
        c.ac = pick_act(r % 10);
        run_conv_case(&c, r / 2 % 2 ? 2 : 1);
    }
    struct { int64_t N, C, H, W, kh, kw, sy, sx, pt, pl, pb, pr; int act, z; } hp[] = {
        {1, 8, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, SPD_ACT_CLIP, 0},     /* mobilenet */
        {1, 6, 57, 45, 3, 3, 2, 2, 1, 1, 1, 1, SPD_ACT_CLIP, 1},
        {1, 4, 30, 33, 5, 5, 2, 2, 2, 2, 2, 2, SPD_ACT_SILU, 0},     /* efficientnet */
        {2, 5, 28, 28, 5, 5, 1, 1, 2, 2, 2, 2, SPD_ACT_SILU, 1},
        {1, 96, 14, 14, 3, 3, 2, 2, 0, 0, 1, 1, SPD_ACT_RELU, 0},    /* "same" padding at the end */
        {2, 100, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, SPD_ACT_NONE, 1},     /* several planes to a task */
        {1, 64, 25, 5, 3, 3, 1, 1, 1, 1, 1, 1, SPD_ACT_RELU, 0},     /* keyword spotting */
        {2, 32, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, SPD_ACT_CLIP, 1},      /* whole rows of 4, an odd row count */
        /* 3x3 stride 1 in 16-channel strips of up to 8 pixels, two rows at
         * a time: a partial last channel vector, strips of 8 and a tail,
         * an odd row count, planes narrower than the kernel, uneven pads */
        {2, 40, 7, 19, 3, 3, 1, 1, 1, 2, 0, 1, SPD_ACT_CLIP, 0},
        {1, 33, 4, 9, 3, 3, 1, 1, 0, 0, 2, 2, SPD_ACT_RELU, 1},
        {1, 16, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, SPD_ACT_NONE, 0},
        {3, 48, 5, 2, 3, 3, 1, 1, 2, 0, 0, 2, SPD_ACT_RELU, 0},
        {1, 9, 12, 7, 5, 5, 1, 1, 2, 1, 0, 2, SPD_ACT_SILU, 1},      /* narrow, flat: uneven pads */
        {1, 2, 300, 4, 3, 3, 1, 1, 1, 0, 1, 2, SPD_ACT_CLIP, 1},     /* narrow and tall */
        {1, 24, 9, 9, 7, 7, 1, 1, 3, 3, 3, 3, SPD_ACT_GELU, 0},      /* narrow, generic: 8 channels */
        {1, 13, 11, 6, 3, 1, 1, 1, 1, 0, 1, 0, SPD_ACT_TANH, 1},     /* narrow 3x1, 13 channels */
        {1, 3, 20, 37, 3, 3, 1, 2, 1, 1, 0, 2, SPD_ACT_LEAKYRELU, 1}, /* unequal strides: generic */
        {1, 4, 19, 40, 7, 7, 2, 2, 3, 3, 3, 3, SPD_ACT_HARDSIGMOID, 0},
        {1, 24, 14, 14, 5, 5, 1, 1, 2, 2, 2, 2, SPD_ACT_HARDSWISH, 0}, /* mobilenet_v3 */
        {2, 17, 15, 13, 5, 5, 2, 2, 2, 2, 2, 2, SPD_ACT_HARDSWISH, 1},
        {1, 40, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, SPD_ACT_HARDSWISH, 1},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        conv_case c = conv_base(2);
        c.N = hp[i].N;
        c.group = c.C = c.M = hp[i].C;
        c.in[0] = hp[i].H, c.in[1] = hp[i].W;
        c.k[0] = hp[i].kh, c.k[1] = hp[i].kw;
        c.s[0] = hp[i].sy, c.s[1] = hp[i].sx;
        c.pb[0] = hp[i].pt, c.pb[1] = hp[i].pl, c.pe[0] = hp[i].pb, c.pe[1] = hp[i].pr;
        c.bias = 1;
        c.z = hp[i].z;
        c.ac = pick_act(hp[i].act);
        run_conv_case(&c, i % 2 ? 1 : 2);
    }
}

/* ---- Gemm / FusedGemm ---- */

static void run_gemm_case(int64_t M, int64_t N, int64_t K, int ta, int tb, int cform, float alpha, float beta,
                          spd_act ac, int threads)
{
    /* cform: 0 none, 1 [N], 2 [1,N], 3 [M,1], 4 [M,N], 5 scalar [1] */
    int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N}, cd[2];
    int cnd = 0;
    switch (cform) {
    case 1: cd[0] = N, cnd = 1; break;
    case 2: cd[0] = 1, cd[1] = N, cnd = 2; break;
    case 3: cd[0] = M, cd[1] = 1, cnd = 2; break;
    case 4: cd[0] = M, cd[1] = N, cnd = 2; break;
    case 5: cd[0] = 1, cnd = 1; break;
    default: break;
    }
    spd_tensor A = make(2, ad), B = make(2, bd), C = make(cnd ? cnd : 1, cnd ? cd : (int64_t[]){1});
    const int fused = ac.kind != SPD_ACT_NONE;
    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[3] = {"a", "b", "c"}, *outs[1] = {"y"};
    const int n_in = cform ? 3 : 2;
    int idx = 0;
    spd_graph_add_node(g, fused ? "FusedGemm" : "Gemm", fused ? "com.microsoft" : "", "n", n_in, ins, 1, outs, &idx);
    spd_node *node = &g->nodes[idx];
    spd_node_set_int(node, "transA", ta);
    spd_node_set_int(node, "transB", tb);
    spd_node_set_float(node, "alpha", alpha);
    spd_node_set_float(node, "beta", beta);
    if (fused) {
        spd_node_set_string(node, "activation", act_names[ac.kind]);
        if (ac.kind == SPD_ACT_CLIP) {
            spd_node_set_float(node, "activation_min", ac.a);
            spd_node_set_float(node, "activation_max", ac.b);
        } else {
            spd_node_set_float(node, "activation_alpha", ac.a);
            spd_node_set_float(node, "activation_beta", ac.b);
        }
    }
    const float *a = A.data, *b = B.data, *c = C.data;
    double *want = malloc((size_t)(M * N) * sizeof(double) + 1);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t p = 0; p < K; p++) s += (double)(ta ? a[p * M + i] : a[i * K + p]) * (tb ? b[j * K + p] : b[p * N + j]);
            s *= alpha;
            double cv = 0;
            switch (cform) {
            case 1: case 2: cv = c[j]; break;
            case 3: cv = c[i]; break;
            case 4: cv = c[i * N + j]; break;
            case 5: cv = c[0]; break;
            default: break;
            }
            if (cform) s += (double)beta * cv;
            want[i * N + j] = fused ? spd_act_scalar(&ac, (float)s) : s;
        }
    const spd_tensor *in[3] = {&A, &B, &C}, *consts[3] = {NULL, &B, cform ? &C : NULL};
    char desc[200];
    snprintf(desc, sizeof desc, "gemm M%lld N%lld K%lld ta%d tb%d C%d alpha %g beta %g act%d threads %d",
             (long long)M, (long long)N, (long long)K, ta, tb, cform, alpha, beta, (int)ac.kind, threads);
    spd_set_num_threads(threads);
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int isa = (int)best; isa >= 0; isa--)
        for (int prepared = 0; prepared < 2; prepared++) {
            spd_sgemm_set_isa((spd_sgemm_isa)isa);
            snprintf(g_label, sizeof g_label, "%s", spd_sgemm_isa_name((spd_sgemm_isa)isa));
            spd_tensor out[1];
            memset(out, 0, sizeof out);
            spd_status st = run_node(node, fused ? "com.microsoft" : "", fused ? 1 : 13, n_in, in,
                                     prepared ? consts : NULL, out);
            check(st == SPD_OK, "%s prepared=%d: status %d (%s)", desc, prepared, (int)st, spd_last_error());
            if (st == SPD_OK) {
                int64_t at;
                const double e = worst_err(out[0].data, want, M * N, &at);
                check(e <= sqrt((double)K + 1) * 2e-6 + 1e-6, "%s prepared=%d: error %.3g at %lld", desc, prepared, e,
                      (long long)at);
            }
            spd_tensor_release(&out[0]);
        }
    spd_sgemm_set_isa(best);
    free(want);
    spd_graph_free(g);
    spd_tensor_release(&A);
    spd_tensor_release(&B);
    spd_tensor_release(&C);
}

static void gemm_tests(void)
{
    run_gemm_case(128, 768, 768, 0, 0, 1, 1.0f, 1.0f, pick_act(0), 2);
    run_gemm_case(1, 1000, 2048, 0, 1, 1, 1.0f, 1.0f, pick_act(0), 2);
    run_gemm_case(197, 300, 270, 0, 1, 4, 1.0f, 1.0f, pick_act(1), 2);
    run_gemm_case(5, 7, 0, 0, 0, 1, 1.0f, 1.0f, pick_act(1), 1); /* K = 0: only C */
    run_gemm_case(6, 40, 0, 1, 1, 3, 1.0f, 0.5f, pick_act(0), 2);
    for (int r = 0; r < 50; r++) {
        const int64_t M = rnd_range(1, 150), N = rnd_range(1, 150), K = rnd_range(1, 300);
        const float alphas[] = {1.0f, 0.5f, -2.0f}, betas[] = {1.0f, 0.0f, 0.25f};
        run_gemm_case(M, N, K, (int)(rnd() & 1), (int)(rnd() & 1), (int)rnd_range(0, 5), alphas[rnd_range(0, 2)], betas[rnd_range(0, 2)],
                      pick_act(r % 3 == 0 ? 0 : (int)rnd_range(0, 6)), r % 2 ? 2 : 1);
    }
}

/* ---- MatMul ---- */

static void run_matmul_case(int and, const int64_t *adims, int bnd, const int64_t *bdims, int threads)
{
    spd_tensor A = make(and, adims), B = make(bnd, bdims);
    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[2] = {"a", "b"}, *outs[1] = {"y"};
    int idx = 0;
    spd_graph_add_node(g, "MatMul", "", "n", 2, ins, 1, outs, &idx);
    spd_node *node = &g->nodes[idx];
    /* the reference: the same op with the reference GEMM, unprepared */
    const spd_tensor *in[2] = {&A, &B}, *consts[2] = {NULL, &B};
    spd_sgemm_set_isa(SPD_SGEMM_REF);
    spd_set_num_threads(1);
    spd_tensor ref[1];
    memset(ref, 0, sizeof ref);
    spd_status st = run_node(node, "", 13, 2, in, NULL, ref);
    check(st == SPD_OK, "matmul ref: status %d", (int)st);
    const int64_t n = spd_tensor_numel(&ref[0]);
    double *want = malloc((size_t)n * sizeof(double) + 1);
    for (int64_t i = 0; i < n; i++) want[i] = ((float *)ref[0].data)[i];
    const int64_t K = adims[and - 1];
    char desc[160];
    snprintf(desc, sizeof desc, "matmul A rank %d [..%lld x %lld] B rank %d [%lld ..] threads %d", and,
             (long long)(and > 1 ? adims[and - 2] : 1), (long long)K, bnd, (long long)bdims[0], threads);
    spd_set_num_threads(threads);
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int isa = (int)best; isa >= 0; isa--)
        for (int prepared = 0; prepared < 2; prepared++) {
            spd_sgemm_set_isa((spd_sgemm_isa)isa);
            snprintf(g_label, sizeof g_label, "%s", spd_sgemm_isa_name((spd_sgemm_isa)isa));
            spd_tensor out[1];
            memset(out, 0, sizeof out);
            st = run_node(node, "", 13, 2, in, prepared ? consts : NULL, out);
            check(st == SPD_OK && spd_tensor_numel(&out[0]) == n, "%s prepared=%d: status %d", desc, prepared, (int)st);
            if (st == SPD_OK && spd_tensor_numel(&out[0]) == n) {
                int64_t at;
                const double e = worst_err(out[0].data, want, n, &at);
                check(e <= sqrt((double)K + 1) * 8e-7 + 1e-6, "%s prepared=%d: error %.3g at %lld", desc, prepared, e,
                      (long long)at);
            }
            spd_tensor_release(&out[0]);
        }
    spd_sgemm_set_isa(best);
    spd_tensor_release(&ref[0]);
    free(want);
    spd_graph_free(g);
    spd_tensor_release(&A);
    spd_tensor_release(&B);
}

static void matmul_tests(void)
{
    run_matmul_case(3, (int64_t[]){1, 128, 768}, 2, (int64_t[]){768, 768}, 2);     /* folded, bert */
    run_matmul_case(3, (int64_t[]){2, 37, 129}, 2, (int64_t[]){129, 70}, 2);        /* folded, odd */
    run_matmul_case(4, (int64_t[]){1, 12, 128, 64}, 4, (int64_t[]){1, 12, 64, 128}, 2); /* attention */
    run_matmul_case(3, (int64_t[]){5, 33, 17}, 3, (int64_t[]){5, 17, 29}, 2);       /* batches split unevenly */
    run_matmul_case(3, (int64_t[]){3, 20, 30}, 3, (int64_t[]){1, 30, 21}, 2);       /* broadcast B batch */
    run_matmul_case(2, (int64_t[]){1, 300}, 2, (int64_t[]){300, 50}, 1);
    run_matmul_case(1, (int64_t[]){40}, 2, (int64_t[]){40, 33}, 2);
    run_matmul_case(2, (int64_t[]){33, 40}, 1, (int64_t[]){40}, 2);
}

/* ---- the hook through spd_program_build ---- */

static void program_test(int weights_const)
{
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_model m;
    memset(&m, 0, sizeof m);
    spd_opset ops[2] = {{"", 17}, {"com.microsoft", 1}};
    m.n_opsets = 2;
    m.opsets = ops;
    m.graph = g;
    const int64_t xd[4] = {1, 8, 6, 6}, wd[4] = {16, 8, 3, 3}, gd[2] = {16 * 36, 10};
    spd_tensor X = make(4, xd), W = make(4, wd), GW = make(2, gd);
    const char *n_in = weights_const ? NULL : "w";
    g->n_inputs = weights_const ? 1 : 3;
    g->inputs = spd_calloc(3, sizeof *g->inputs);
    const char *in_names[3] = {"x", "w", "gw"};
    for (int i = 0; i < g->n_inputs; i++) {
        g->inputs[i].name = spd_strdup(in_names[i]);
        g->inputs[i].dtype = SPD_FLOAT;
        g->inputs[i].ndim = -1;
    }
    (void)n_in;
    g->n_outputs = 1;
    g->outputs = spd_calloc(1, sizeof *g->outputs);
    g->outputs[0].name = spd_strdup("y");
    g->outputs[0].dtype = SPD_FLOAT;
    g->outputs[0].ndim = -1;
    if (weights_const) {
        spd_tensor w2 = {0}, gw2 = {0};
        spd_tensor_alloc(&w2, SPD_FLOAT, 4, wd);
        spd_tensor_alloc(&gw2, SPD_FLOAT, 2, gd);
        memcpy(w2.data, W.data, (size_t)spd_tensor_numel(&W) * sizeof(float));
        memcpy(gw2.data, GW.data, (size_t)spd_tensor_numel(&GW) * sizeof(float));
        spd_graph_add_initializer(g, "w", &w2);
        spd_graph_add_initializer(g, "gw", &gw2);
    }
    const char *c_in[2] = {"x", "w"}, *c_out[1] = {"c"}, *f_in[2] = {"c", "flat_shape"}, *f_out[1] = {"f"};
    const char *m_in[2] = {"f", "gw"}, *m_out[1] = {"y"};
    int idx = 0;
    spd_graph_add_node(g, "Conv", "", "conv", 2, c_in, 1, c_out, &idx);
    int64_t pads[4] = {1, 1, 1, 1};
    spd_node_set_ints(&g->nodes[idx], "pads", pads, 4);
    spd_graph_add_node(g, "Flatten", "", "flat", 1, f_in, 1, f_out, NULL);
    spd_graph_add_node(g, "Gemm", "", "gemm", 2, m_in, 1, m_out, NULL);
    spd_program *p = NULL;
    spd_status st = spd_program_build(&m, g, NULL, &p);
    check(st == SPD_OK, "program build: %s", spd_last_error());
    if (st == SPD_OK) {
        int with_state = 0;
        for (int i = 0; i < p->n_nodes; i++) with_state += p->nodes[i].state != NULL;
        const int expect = weights_const && spd_sgemm_kernel_current() ? 2 : 0;
        check(with_state == expect, "program (weights %s): %d nodes with state, expected %d",
              weights_const ? "constant" : "inputs", with_state, expect);
        spd_tensor inputs[3] = {X, W, GW}, out[1];
        memset(out, 0, sizeof out);
        st = spd_exec_run_user(p, inputs, weights_const ? 1 : 3, out, 1);
        check(st == SPD_OK, "program run: %s", spd_last_error());
        if (st == SPD_OK) {
            /* the same through the kernels directly, unprepared */
            spd_tensor c1[1], f1[1];
            memset(c1, 0, sizeof c1);
            memset(f1, 0, sizeof f1);
            const spd_tensor *ci[2] = {&X, &W};
            run_node(&g->nodes[0], "", 17, 2, ci, NULL, c1);
            const spd_tensor *fi[1] = {&c1[0]};
            run_node(&g->nodes[1], "", 17, 1, fi, NULL, f1);
            spd_tensor y1[1];
            memset(y1, 0, sizeof y1);
            const spd_tensor *gi[2] = {&f1[0], &GW};
            run_node(&g->nodes[2], "", 17, 2, gi, NULL, y1);
            const int64_t n = spd_tensor_numel(&y1[0]);
            int same = n == spd_tensor_numel(&out[0]) && n == 10;
            for (int64_t i = 0; same && i < n; i++)
                same = fabsf(((float *)y1[0].data)[i] - ((float *)out[0].data)[i]) <=
                       1e-4f * (1.0f + fabsf(((float *)y1[0].data)[i]));
            check(same, "program (weights %s): output differs from the kernels run directly",
                  weights_const ? "constant" : "inputs");
            spd_tensor_release(&c1[0]);
            spd_tensor_release(&f1[0]);
            spd_tensor_release(&y1[0]);
            spd_tensor_release(&out[0]);
        }
        spd_program_free(p);
    }
    spd_graph_free(g);
    spd_tensor_release(&X);
    spd_tensor_release(&W);
    spd_tensor_release(&GW);
}

int main(void)
{
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    printf("paths: ref..%s\n", spd_sgemm_isa_name(best));
    conv_tests();
    implicit_tests();
    nhwc_implicit_tests();
    gemm_tests();
    matmul_tests();
    program_test(1);
    program_test(0);
    depthwise_tests();
    direct_s2_tests(); /* last: the cases above keep the draws they had */
    batch_split_tests();
    taps_tests();
    dw_dilated_tests();
    conv1d_tests();
    few_channel_tests();
    g_checks++;
    if ((spd_alloc_current() - spd_scratch_held()) != 0) {
        printf("FAIL %zu bytes still allocated\n", (spd_alloc_current() - spd_scratch_held()));
        g_failed++;
    }
    return test_summary();
}
