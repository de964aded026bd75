/* Tests of ai.speedster NhwcDwPwConv (ops/conv_nhwc_dwpw.c) against a
 * double-precision naive reference of
 *   Y = act2(conv1x1(act1(depthwise(X, Wdw) + Bdw), Wpw) + Bpw + Z):
 *  - kernels 3x3, 5x5 and 3x1, strides 1 and 2, dilation 2, pads, odd
 *    channel counts, one and two images, with and without the biases, the
 *    residual and each activation;
 *  - weights prepared (the prepare hook, as for initializers) and not, on
 *    every GEMM path this CPU runs, at 1, 2 and 3 threads: row shares that
 *    split evenly (one task per thread) and shares that do not (the two
 *    step fallback: 7 rows over 2 threads);
 *  - bad inputs: an error that names the problem.
 * One line per failed check; the last line is "N checks, N failed". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "ops/sgemm_fast.h"
#include "passes/passes.h"
#include "speedster.h"
#include "util/alloc.h"
#include "util/scratch.h"

#define TEST_SEED 0x7F4A7C159E3779B9ull
#include "test_util.h"
#include "test_tensor.h"

typedef struct dwpw_case {
    int64_t N, H, W, C, M, KH, KW, s, d, pad;
    const char *act1, *act2; /* "" none, "Relu", "Clip" (0, 6) */
    int bias1, bias2, z;
} dwpw_case;

static spd_tensor make(int nd, const int64_t *dims) { return test_rand_tensor(nd, dims); }

static double act(const char *a, double v)
{
    if (!strcmp(a, "Relu")) return v > 0 ? v : 0;
    if (!strcmp(a, "Clip")) return v < 0 ? 0 : v > 6 ? 6 : v;
    return v;
}

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad)
{
    return (in + 2 * pad - (k - 1) * d - 1) / s + 1;
}

/* want [N, OH, OW, M] */
static void reference(const dwpw_case *c, const float *x, const float *wd, const float *bd, const float *wp,
                      const float *bp, const float *z, double *want)
{
    const int64_t OH = out_size(c->H, c->KH, c->s, c->d, c->pad), OW = out_size(c->W, c->KW, c->s, c->d, c->pad);
    double *mid = malloc((size_t)c->C * sizeof(double));
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                for (int64_t ch = 0; ch < c->C; ch++) {
                    double s = c->bias1 ? bd[ch] : 0;
                    for (int64_t ky = 0; ky < c->KH; ky++)
                        for (int64_t kx = 0; kx < c->KW; kx++) {
                            const int64_t iy = oy * c->s - c->pad + ky * c->d, ix = ox * c->s - c->pad + kx * c->d;
                            if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) continue;
                            s += (double)x[((n * c->H + iy) * c->W + ix) * c->C + ch] *
                                 wd[(ch * c->KH + ky) * c->KW + kx];
                        }
                    mid[ch] = act(c->act1, s);
                }
                const int64_t p = (n * OH + oy) * OW + ox;
                for (int64_t m = 0; m < c->M; m++) {
                    double s = c->bias2 ? bp[m] : 0;
                    for (int64_t ch = 0; ch < c->C; ch++) s += mid[ch] * wp[m * c->C + ch];
                    if (c->z) s += z[p * c->M + m];
                    want[p * c->M + m] = act(c->act2, s);
                }
            }
    free(mid);
}

static void set_act(spd_node *node, const char *name, const char *params, const char *a)
{
    if (!a[0]) return;
    spd_node_set_string(node, name, a);
    if (!strcmp(a, "Clip")) {
        const float p[2] = {0, 6};
        spd_node_set_floats(node, params, p, 2);
    }
}

static void run_case(const dwpw_case *c)
{
    const int64_t OH = out_size(c->H, c->KH, c->s, c->d, c->pad), OW = out_size(c->W, c->KW, c->s, c->d, c->pad);
    const int64_t xd[4] = {c->N, c->H, c->W, c->C}, wdd[4] = {c->C, 1, c->KH, c->KW}, wpd[4] = {c->M, c->C, 1, 1};
    const int64_t b1[1] = {c->C}, b2[1] = {c->M}, yd[4] = {c->N, OH, OW, c->M};
    spd_tensor X = make(4, xd), Wd = make(4, wdd), Bd = make(1, b1), Wp = make(4, wpd), Bp = make(1, b2),
               Z = make(4, yd);
    const int64_t ny = c->N * OH * OW * c->M;
    double *want = malloc((size_t)ny * sizeof(double));
    reference(c, X.data, Wd.data, Bd.data, Wp.data, Bp.data, Z.data, want);

    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[6] = {"x", "wd", c->bias1 ? "bd" : "", "wp", c->bias2 ? "bp" : "", "z"}, *outs[1] = {"y"};
    const int n_in = c->z ? 6 : 5;
    int idx = 0;
    spd_graph_add_node(g, "NhwcDwPwConv", "ai.speedster", "dwpw", n_in, ins, 1, outs, &idx);
    spd_node *node = &g->nodes[idx];
    const int64_t strides[2] = {c->s, c->s}, dil[2] = {c->d, c->d}, pads[4] = {c->pad, c->pad, c->pad, c->pad};
    spd_node_set_ints(node, "strides", strides, 2);
    spd_node_set_ints(node, "dilations", dil, 2);
    spd_node_set_ints(node, "pads", pads, 4);
    spd_node_set_int(node, "group", c->C);
    set_act(node, "activation", "activation_params", c->act1);
    set_act(node, "pw_activation", "pw_activation_params", c->act2);

    const spd_tensor *in[6] = {&X, &Wd, c->bias1 ? &Bd : NULL, &Wp, c->bias2 ? &Bp : NULL, &Z};
    const spd_tensor *consts[6] = {NULL, &Wd, c->bias1 ? &Bd : NULL, &Wp, c->bias2 ? &Bp : NULL, NULL};
    const spd_op_def *d = spd_op_find("ai.speedster", "NhwcDwPwConv", 1);
    check(d != NULL, "NhwcDwPwConv is registered");
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    char desc[160];
    snprintf(desc, sizeof desc, "N%lld %lldx%lld C%lld M%lld k%lldx%lld s%lld d%lld p%lld %s/%s b%d%d z%d",
             (long long)c->N, (long long)c->H, (long long)c->W, (long long)c->C, (long long)c->M, (long long)c->KH,
             (long long)c->KW, (long long)c->s, (long long)c->d, (long long)c->pad, c->act1[0] ? c->act1 : "-",
             c->act2[0] ? c->act2 : "-", c->bias1, c->bias2, c->z);
    for (int threads = 1; d && threads <= 3; threads++)
        for (int prepared = 0; prepared < 2; prepared++)
            for (int isa = (int)best; isa >= 0; isa--) {
                spd_set_num_threads(threads);
                spd_sgemm_set_isa(best);
                void *state = NULL;
                void (*state_free)(void *) = NULL;
                if (prepared) d->prepare(node, 1, n_in, consts, &state, &state_free);
                check(!prepared || state, "%s: the prepare hook makes state", desc);
                spd_sgemm_set_isa((spd_sgemm_isa)isa);
                snprintf(g_label, sizeof g_label, "%s, %d threads, prepared %d", spd_sgemm_isa_name((spd_sgemm_isa)isa),
                         threads, prepared);
                spd_tensor out[1];
                memset(out, 0, sizeof out);
                spd_op_ctx ctx = {node, 1, n_in, in, 1, out, NULL, state};
                const spd_status st = d->run(&ctx);
                if (state_free) state_free(state);
                check(st == SPD_OK, "%s: status %d (%s)", desc, (int)st, spd_last_error());
                const int sized = st == SPD_OK && spd_tensor_numel(&out[0]) == ny;
                if (st == SPD_OK) check(sized, "%s: output size", desc);
                if (sized) {
                    double worst = 0;
                    int64_t at = -1;
                    const float *y = out[0].data;
                    for (int64_t i = 0; i < ny; i++) {
                        const double e = isnan(y[i]) ? INFINITY : fabs(y[i] - want[i]) / (fabs(want[i]) + 1.0);
                        if (e > worst) worst = e, at = i;
                    }
                    /* two sums of up to C and 25 products in float */
                    check(worst <= 2e-5, "%s: error %.3g at %lld", desc, worst, (long long)at);
                }
                spd_tensor_release(&out[0]);
            }
    spd_sgemm_set_isa(best);
    spd_set_num_threads(0);
    spd_graph_free(g);
    free(want);
    spd_tensor_release(&X);
    spd_tensor_release(&Wd);
    spd_tensor_release(&Bd);
    spd_tensor_release(&Wp);
    spd_tensor_release(&Bp);
    spd_tensor_release(&Z);
}

/* A bad input gets an error whose message holds `needle`, not a crash. */
static void bad_case(const char *what, const int64_t *xd, const int64_t *wdd, const int64_t *wpd, int64_t nbp,
                     const char *needle)
{
    spd_tensor X = make(4, xd), Wd = make(4, wdd), Wp = make(4, wpd), Bp = make(1, &nbp);
    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[5] = {"x", "wd", "", "wp", "bp"}, *outs[1] = {"y"};
    int idx = 0;
    spd_graph_add_node(g, "NhwcDwPwConv", "ai.speedster", "dwpw", 5, ins, 1, outs, &idx);
    spd_node *node = &g->nodes[idx];
    const int64_t pads[4] = {1, 1, 1, 1};
    spd_node_set_ints(node, "pads", pads, 4);
    spd_node_set_int(node, "group", wdd[0]);
    const spd_tensor *in[5] = {&X, &Wd, NULL, &Wp, &Bp};
    const spd_op_def *d = spd_op_find("ai.speedster", "NhwcDwPwConv", 1);
    spd_tensor out[1];
    memset(out, 0, sizeof out);
    spd_op_ctx ctx = {node, 1, 5, in, 1, out, NULL, NULL};
    snprintf(g_label, sizeof g_label, "bad input");
    const spd_status st = d ? d->run(&ctx) : SPD_OK;
    check(st != SPD_OK && strstr(spd_last_error(), needle), "%s: status %d, message '%s' (wants '%s')", what, (int)st,
          spd_last_error(), needle);
    spd_tensor_release(&out[0]);
    spd_graph_free(g);
    spd_tensor_release(&X);
    spd_tensor_release(&Wd);
    spd_tensor_release(&Wp);
    spd_tensor_release(&Bp);
}

int main(void)
{
    static const dwpw_case cases[] = {
        /* keyword spotting's blocks: 25 rows, an even split over 1-3 threads */
        {1, 25, 5, 64, 64, 3, 3, 1, 1, 1, "Relu", "Relu", 1, 1, 0},
        /* odd channels, stride 2, no biases, a residual */
        {2, 7, 9, 13, 7, 3, 3, 2, 1, 1, "Clip", "", 0, 0, 1},
        /* 5x5 with a residual and both activations */
        {1, 14, 14, 24, 40, 5, 5, 1, 1, 2, "Relu", "Relu", 1, 1, 1},
        /* 7 rows over 2 threads: the two-step fallback */
        {1, 7, 7, 96, 160, 3, 3, 1, 1, 1, "Clip", "Relu", 1, 1, 1},
        /* two images' 28 rows in shares per thread, with a residual */
        {2, 14, 14, 64, 64, 3, 3, 1, 1, 1, "Relu", "Clip", 1, 1, 1},
        /* dilation 2, a 3x1 kernel, no padding */
        {1, 10, 10, 16, 8, 3, 3, 1, 2, 2, "", "Clip", 1, 0, 0},
        {2, 9, 6, 40, 33, 3, 1, 1, 1, 0, "Relu", "", 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);

    const int64_t x[4] = {1, 6, 6, 8}, wd[4] = {8, 1, 3, 3}, wp[4] = {4, 8, 1, 1};
    const int64_t wd_grouped[4] = {8, 2, 3, 3}, wp_wrong[4] = {4, 5, 1, 1};
    bad_case("Wpw over the wrong channels", x, wd, wp_wrong, 4, "Wpw");
    bad_case("Bpw of the wrong size", x, wd, wp, 3, "Bpw");
    bad_case("Wdw not depthwise", x, wd_grouped, wp, 4, "group");
    spd_scratch_release();
    return test_summary();
}
