/* Tests of the Winograd F(2x2, 3x3) convolution (ops/conv_wino.h) against a
 * direct double-precision convolution:
 *  - random shapes: 1..70 input and output channels (odd ones too),
 *    inputs 1..40 high and wide (1x1, 2x3...), every pad 0..2 on each side
 *    (asymmetric too), batch 1 and 2, with and without bias, residual and
 *    activation;
 *  - each on the AVX2 transforms and GEMM, the scalar transforms with the
 *    AVX2 GEMM, and the portable path (SPEEDSTER_ISA=ref's), on 1 and 2
 *    threads;
 *  - through Conv and FusedConv (ops/conv.c's hook), with the weights
 *    prepared (cached transformed weights) and not, and a state prepared
 *    on the best path run on the reference one.
 * The error is measured against the output's largest magnitude; the worst
 * seen is printed.
 *
 * One line per failed check; the last line is "N checks, N failed"; exit
 * status 1 when any check fails. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "ops/conv_wino.h"
#include "passes/passes.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "speedster.h"
#include "util/alloc.h"

#define TEST_SEED 0x5DEECE66DA3B1F27ull
#include "test_util.h"

/* Relative to the output's magnitude (before the activation): fp32
 * rounding of sums of up to 70 x 9 products, through transforms that at
 * most double a value (the worst seen is about 5e-7). */
#define TOL 2e-6

static double g_worst;

typedef struct wcase {
    spd_wino_shape s;
    int bias, z;
    spd_act ac;
} wcase;

static double act_d(const spd_act *ac, double v)
{
    switch (ac->kind) {
    case SPD_ACT_RELU: return v > 0 ? v : 0;
    case SPD_ACT_LEAKYRELU: return v >= 0 ? v : ac->a * v;
    case SPD_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case SPD_ACT_TANH: return tanh(v);
    case SPD_ACT_CLIP: return v < ac->a ? ac->a : v > ac->b ? ac->b : v;
    case SPD_ACT_SILU: return v / (1.0 + exp(-ac->a * v));
    case SPD_ACT_HARDSWISH: return v * fmax(0.0, fmin(1.0, ac->a * v + ac->b));
    default: return v;
    }
}

static spd_act pick_act(int k)
{
    static const spd_act acts[] = {{SPD_ACT_NONE, 0, 0},      {SPD_ACT_RELU, 0, 0},     {SPD_ACT_CLIP, -0.5f, 0.75f},
                                   {SPD_ACT_SILU, 1.0f, 0},   {SPD_ACT_SIGMOID, 0, 0},  {SPD_ACT_LEAKYRELU, 0.1f, 0},
                                   {SPD_ACT_TANH, 0, 0},      {SPD_ACT_SILU, 1.702f, 0}, {SPD_ACT_HARDSWISH, 0.6f, 0.5f}};
    return acts[k % (int)(sizeof acts / sizeof acts[0])];
}

static int64_t oh_of(const spd_wino_shape *s) { return s->H + s->pt + s->pb - 2; }
static int64_t ow_of(const spd_wino_shape *s) { return s->W + s->pl + s->pr - 2; }

static float *rand_buf(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) exit(2);
    for (int64_t i = 0; i < n; i++) p[i] = rnd_float();
    return p;
}

/* want = act(conv + bias + z) in double; *scale = the largest
 * |conv + bias + z| (before the activation, which may clip it). */
static void conv_ref(const wcase *c, const float *x, const float *w, const float *b, const float *z, double *want,
                     double *scale)
{
    const spd_wino_shape *s = &c->s;
    const int64_t OH = oh_of(s), OW = ow_of(s);
    *scale = 0;
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t m = 0; m < s->M; m++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double acc = b ? b[m] : 0.0;
                    for (int64_t ci = 0; ci < s->C; ci++)
                        for (int ky = 0; ky < 3; ky++) {
                            const int64_t iy = oy + ky - s->pt;
                            if (iy < 0 || iy >= s->H) continue;
                            for (int kx = 0; kx < 3; kx++) {
                                const int64_t ix = ox + kx - s->pl;
                                if (ix < 0 || ix >= s->W) continue;
                                acc += (double)w[((m * s->C + ci) * 3 + ky) * 3 + kx] *
                                       x[((n * s->C + ci) * s->H + iy) * s->W + ix];
                            }
                        }
                    const int64_t yi = ((n * s->M + m) * OH + oy) * OW + ox;
                    if (z) acc += z[yi];
                    want[yi] = act_d(&c->ac, acc);
                    if (fabs(acc) > *scale) *scale = fabs(acc);
                }
}

static double worst_err(const float *got, const double *want, int64_t n, double scale, int64_t *at)
{
    double worst = 0;
    *at = -1;
    for (int64_t i = 0; i < n; i++) {
        const double e = isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]) / (scale + 1e-3);
        if (e > worst) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

static void describe(const wcase *c, char *buf, size_t n)
{
    const spd_wino_shape *s = &c->s;
    snprintf(buf, n, "N%lld C%lld M%lld %lldx%lld pads t%lld l%lld b%lld r%lld bias%d z%d act%d/%g",
             (long long)s->N, (long long)s->C, (long long)s->M, (long long)s->H, (long long)s->W, (long long)s->pt,
             (long long)s->pl, (long long)s->pb, (long long)s->pr, c->bias, c->z, (int)c->ac.kind, (double)c->ac.a);
}

/* The direct call on every path. */
static void run_case(const wcase *c)
{
    const spd_wino_shape *s = &c->s;
    const int64_t ny = s->N * s->M * oh_of(s) * ow_of(s);
    float *x = rand_buf(s->N * s->C * s->H * s->W), *w = rand_buf(s->M * s->C * 9), *b = rand_buf(s->M);
    float *z = rand_buf(ny), *y = malloc((size_t)ny * sizeof(float) + 1);
    double *want = malloc((size_t)ny * sizeof(double) + 1), scale;
    conv_ref(c, x, w, c->bias ? b : NULL, c->z ? z : NULL, want, &scale);
    char desc[200];
    describe(c, desc, sizeof desc);
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    /* path 0: the best transforms and GEMM (AVX-512 or AVX2); 1: scalar
     * transforms, fast GEMM; 2: all portable; 3: AVX2 where 0 was AVX-512 */
    for (int path = 0; path < 4; path++)
        for (int threads = 1; threads <= 2; threads++) {
            if (path == 3 && best != SPD_SGEMM_AVX512) break;
            spd_sgemm_set_isa(path == 2 ? SPD_SGEMM_REF : path == 3 ? SPD_SGEMM_AVX2 : best);
            spd_conv_wino_force_scalar(path == 1);
            snprintf(g_label, sizeof g_label, "path %d, %d threads", path, threads);
            const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
            float *u = spd_conv_wino_pack_weights(kern, w, s->M, s->C);
            check(u != NULL, "%s: packing failed", desc);
            if (!u) continue;
            for (int64_t i = 0; i < ny; i++) y[i] = NAN;
            spd_status st = spd_conv_wino(kern, s, x, u, c->bias ? b : NULL, c->z ? z : NULL, &c->ac, y, threads);
            check(st == SPD_OK, "%s: status %d", desc, (int)st);
            int64_t at;
            const double e = worst_err(y, want, ny, scale, &at);
            if (e > g_worst) g_worst = e;
            check(e <= TOL, "%s: error %.3g at %lld (%g vs %g)", desc, e, (long long)at,
                  at >= 0 ? (double)y[at] : 0.0, at >= 0 ? want[at] : 0.0);
            spd_conv_wino_free_weights(u);
        }
    spd_conv_wino_force_scalar(false);
    spd_sgemm_set_isa(best);
    free(x), free(w), free(b), free(z), free(y), free(want);
}

static void random_cases(int count)
{
    for (int r = 0; r < count; r++) {
        wcase c;
        memset(&c, 0, sizeof c);
        spd_wino_shape *s = &c.s;
        s->N = rnd_range(1, 2);
        s->C = r % 4 == 0 ? rnd_range(1, 70) : rnd_range(1, 24);
        s->M = r % 4 == 1 ? rnd_range(1, 70) : rnd_range(1, 24);
        if (r % 2) s->C |= 1, s->M |= 1;
        s->H = r % 3 == 0 ? rnd_range(1, 40) : rnd_range(1, 12);
        s->W = r % 3 == 1 ? rnd_range(1, 40) : rnd_range(1, 12);
        s->pt = rnd_range(0, 2), s->pl = rnd_range(0, 2), s->pb = rnd_range(0, 2), s->pr = rnd_range(0, 2);
        while (s->H + s->pt + s->pb < 3) s->pb++;
        while (s->W + s->pl + s->pr < 3) s->pr++;
        c.bias = (int)(rnd() & 1);
        c.z = rnd() % 3 == 0;
        c.ac = pick_act((int)rnd_range(0, 8));
        run_case(&c);
    }
}

static void hand_cases(void)
{
    /* tiny inputs, each pad combination of a 1x1 and a 2x3, a few widths
     * around the vector of 8 tiles (14..18 outputs), model-like shapes */
    for (int p = 0; p < 81; p++) {
        wcase c;
        memset(&c, 0, sizeof c);
        spd_wino_shape *s = &c.s;
        s->N = 1 + p % 2, s->C = 3 + p % 5, s->M = 2 + p % 7;
        s->H = p % 2 ? 1 : 2, s->W = p % 2 ? 1 : 3;
        s->pt = p % 3, s->pl = p / 3 % 3, s->pb = p / 9 % 3, s->pr = p / 27 % 3;
        if (s->H + s->pt + s->pb < 3 || s->W + s->pl + s->pr < 3) continue;
        c.bias = p % 2, c.z = p % 3 == 0, c.ac = pick_act(p);
        run_case(&c);
    }
    const int64_t hp[][6] = {{16, 16, 16, 14, 1, 1}, {9, 11, 15, 15, 1, 1}, {8, 8, 16, 18, 0, 2},
                             {17, 5, 17, 33, 1, 0},  {64, 64, 28, 28, 1, 1}, {16, 64, 27, 27, 1, 1},
                             {33, 65, 14, 14, 1, 1}, {70, 70, 7, 7, 1, 1}};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        wcase c;
        memset(&c, 0, sizeof c);
        spd_wino_shape *s = &c.s;
        s->N = 1 + (int64_t)(i % 2), s->C = hp[i][0], s->M = hp[i][1], s->H = hp[i][2], s->W = hp[i][3];
        s->pt = s->pl = hp[i][4], s->pb = s->pr = hp[i][5];
        c.bias = 1, c.z = i % 2 == 0, c.ac = pick_act((int)i);
        run_case(&c);
    }
}

/* ---- through Conv / FusedConv ---- */

static void fill_tensor(spd_tensor *t)
{
    float *p = t->data;
    for (int64_t i = 0; i < spd_tensor_numel(t); i++) p[i] = rnd_float();
}

static spd_tensor make(int nd, const int64_t *dims)
{
    spd_tensor t;
    memset(&t, 0, sizeof t);
    if (spd_tensor_alloc(&t, SPD_FLOAT, nd, dims) != SPD_OK) exit(2);
    fill_tensor(&t);
    return t;
}

static void op_case(const wcase *c, int threads)
{
    const spd_wino_shape *s = &c->s;
    const int64_t OH = oh_of(s), OW = ow_of(s), ny = s->N * s->M * OH * OW;
    const int64_t xd[4] = {s->N, s->C, s->H, s->W}, wd[4] = {s->M, s->C, 3, 3}, bd[1] = {s->M};
    const int64_t yd[4] = {s->N, s->M, OH, OW};
    spd_tensor X = make(4, xd), W = make(4, wd), B = make(1, bd), Z = make(4, yd);
    const int fused = c->z || c->ac.kind != SPD_ACT_NONE;
    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[4] = {"x", "w", c->bias ? "b" : "", "z"}, *outs[1] = {"y"};
    const int n_in = c->z ? 4 : c->bias ? 3 : 2;
    int idx = 0;
    spd_graph_add_node(g, fused ? "FusedConv" : "Conv", fused ? "com.microsoft" : "", "n", n_in, ins, 1, outs, &idx);
    spd_node *node = &g->nodes[idx];
    const int64_t pads[4] = {s->pt, s->pl, s->pb, s->pr};
    spd_node_set_ints(node, "pads", pads, 4);
    if (c->ac.kind != SPD_ACT_NONE) {
        static const char *names[] = {"",     "Relu",        "LeakyRelu", "Sigmoid", "Tanh",
                                      "Clip", "HardSigmoid", "QuickGelu", "Gelu",    "HardSwish"};
        spd_node_set_string(node, "activation", names[c->ac.kind]);
        const float params[2] = {c->ac.a, c->ac.b};
        if (c->ac.kind == SPD_ACT_LEAKYRELU || c->ac.kind == SPD_ACT_SILU)
            spd_node_set_floats(node, "activation_params", params, 1);
        if (c->ac.kind == SPD_ACT_CLIP || c->ac.kind == SPD_ACT_HARDSWISH)
            spd_node_set_floats(node, "activation_params", params, 2);
    }
    double *want = malloc((size_t)ny * sizeof(double) + 1), scale;
    conv_ref(c, X.data, W.data, c->bias ? B.data : NULL, c->z ? Z.data : NULL, want, &scale);
    const spd_tensor *in[4] = {&X, &W, c->bias ? &B : NULL, &Z};
    const spd_tensor *consts[4] = {NULL, &W, c->bias ? &B : NULL, NULL};
    char desc[200];
    describe(c, desc, sizeof desc);
    spd_set_num_threads(threads);
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int prepared = 0; prepared < 2; prepared++)
        for (int isa = (int)best; isa >= 0; isa = isa == (int)best && best > SPD_SGEMM_REF ? 0 : -1) {
            spd_sgemm_set_isa(best);
            const spd_op_def *d = spd_op_find(fused ? "com.microsoft" : "", node->op_type, fused ? 1 : 11);
            void *state = NULL;
            void (*state_free)(void *) = NULL;
            if (prepared && d && d->prepare) d->prepare(node, fused ? 1 : 11, n_in, consts, &state, &state_free);
            spd_sgemm_set_isa((spd_sgemm_isa)isa);
            snprintf(g_label, sizeof g_label, "op %s prepared %d, %d threads", spd_sgemm_isa_name((spd_sgemm_isa)isa),
                     prepared, threads);
            /* twice: the second run takes the cached weights */
            for (int rep = 0; rep < 2; rep++) {
                spd_tensor out[1];
                memset(out, 0, sizeof out);
                spd_op_ctx ctx = {node, fused ? 1 : 11, n_in, in, 1, out, NULL, state};
                const spd_status st = d ? d->run(&ctx) : SPD_ERR_UNSUPPORTED;
                check(st == SPD_OK, "%s: status %d (%s)", desc, (int)st, spd_last_error());
                if (st == SPD_OK && spd_tensor_numel(&out[0]) == ny) {
                    int64_t at;
                    const double e = worst_err(out[0].data, want, ny, scale, &at);
                    if (e > g_worst) g_worst = e;
                    check(e <= TOL, "%s: error %.3g at %lld", desc, e, (long long)at);
                }
                spd_tensor_release(&out[0]);
            }
            if (state_free) state_free(state);
        }
    spd_sgemm_set_isa(best);
    free(want);
    spd_graph_free(g);
    spd_tensor_release(&X);
    spd_tensor_release(&W);
    spd_tensor_release(&B);
    spd_tensor_release(&Z);
}

static void op_cases(void)
{
    /* shapes the hook takes (spd_conv_wino_fits), and one it does not */
    const int64_t hp[][8] = {{1, 32, 32, 16, 16, 1, 1, 1}, {2, 33, 35, 17, 15, 0, 2, 0}, {1, 32, 40, 27, 27, 1, 1, 1},
                             {1, 48, 32, 20, 33, 2, 0, 1}, {1, 16, 16, 9, 9, 1, 1, 1}};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        wcase c;
        memset(&c, 0, sizeof c);
        spd_wino_shape *s = &c.s;
        s->N = hp[i][0], s->C = hp[i][1], s->M = hp[i][2], s->H = hp[i][3], s->W = hp[i][4];
        s->pt = hp[i][5], s->pl = hp[i][6], s->pb = hp[i][7], s->pr = hp[i][5];
        c.bias = i != 1, c.z = i % 2 == 1;
        c.ac = pick_act((int)i + 1);
        const char *off = getenv("SPEEDSTER_WINO"); /* =0 turns the hook off */
        check(spd_conv_wino_fits(s->C, s->M, oh_of(s), ow_of(s)) == (i < 4 && !(off && off[0] == '0')), "fits(%lld, %lld) is not %d",
              (long long)s->C, (long long)s->M, i < 4);
        op_case(&c, 1 + (int)(i % 2));
    }
}

/* The choice on AVX-512 for outputs of 8x8 and less: Winograd only where
 * channels are many (C*M >= 96 (C+M)); from 14x14 on, from 16 (C+M). */
static void fits_small_outputs(void)
{
    const char *off = getenv("SPEEDSTER_WINO");
    if ((off && off[0] == '0') || spd_sgemm_isa_best() != SPD_SGEMM_AVX512) return;
    const spd_sgemm_isa was = spd_sgemm_isa_current();
    spd_sgemm_set_isa(SPD_SGEMM_AVX512);
    static const int64_t cases[][5] = {{128, 32, 7, 7, 0},   {128, 128, 7, 7, 0}, {160, 320, 7, 7, 1},
                                       {512, 512, 7, 7, 1},  {64, 64, 8, 8, 0},   {64, 32, 14, 14, 1},
                                       {128, 32, 14, 14, 1}, {16, 16, 9, 9, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(spd_conv_wino_fits(cases[i][0], cases[i][1], cases[i][2], cases[i][3]) == (cases[i][4] != 0),
              "fits(%lld, %lld, %lldx%lld) is not %d", (long long)cases[i][0], (long long)cases[i][1],
              (long long)cases[i][2], (long long)cases[i][3], (int)cases[i][4]);
    spd_sgemm_set_isa(was);
}

int main(int argc, char **argv)
{
    fits_small_outputs();
    const int count = argc > 1 ? atoi(argv[1]) : 300;
    spd_set_num_threads(2);
    hand_cases();
    random_cases(count);
    op_cases();
    printf("worst error %.3g of the output's magnitude (tolerance %.1g)\n", g_worst, TOL);
    return test_summary();
}
