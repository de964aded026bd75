/* Tests of the fast float32 kernel paths against their reference
 * formulations, on every ISA path this CPU runs (ref and avx2):
 *  - ops/vmath: exp, erf, sigmoid, GELU swept against libm (max ulp / rel
 *    error), special values (NaN, +-inf, +-0), softmax helpers;
 *  - the activation epilogue against spd_act_scalar (NaN and inf included);
 *  - Conv and FusedConv (bias, residual Z, each activation) against a naive
 *    double-precision convolution on random shapes: odd sizes, strides,
 *    pads, dilations, groups, depthwise 3x3/5x5 stride 1/2, 1x1;
 *  - float32 MaxPool/AveragePool/global pools against the same operator on
 *    float64 input (the generic path);
 *  - PermutedMatMul against a double-precision product through its perms.
 *
 * One line per failed check; the last line is "N checks, N failed"; exit
 * status 1 when any check fails. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "ops/ops_util.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "passes/passes.h"
#include "speedster.h"
#include "util/alloc.h"

#include "test_util.h"

/* ulp distance of two finite floats of the same sign region */
static double ulp_diff(float a, float b)
{
    if (a == b) return 0;
    if (isnan(a) || isnan(b)) return INFINITY;
    const double d = fabs((double)a - (double)b);
    float m = fabsf(b);
    if (m < FLT_MIN) m = FLT_MIN;
    const double ulp = (double)nextafterf(m, INFINITY) - (double)m;
    return d / ulp;
}

static int same_nan(float a, float b) { return isnan(a) == isnan(b) && (isnan(a) || a == b); }

/* ---- vmath ---- */

static void test_vmath(void)
{
    enum { N = 200003 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    double worst;

    for (int i = 0; i < N; i++) x[i] = -110.0f + 200.0f * (float)i / (float)(N - 1);
    spd_vexp_f32(y, x, N);
    worst = 0;
    for (int i = 0; i < N; i++) {
        const float want = expf(x[i]);
        /* below FLT_MIN the result is subnormal: count absolute ulps there */
        const double u = want < FLT_MIN ? fabs((double)y[i] - want) / 1.4e-45 : ulp_diff(y[i], want);
        if (u > worst) worst = u;
    }
    check(worst <= 3, "exp: max error %.2f ulp over [-110, 90]", worst);

    for (int i = 0; i < N; i++) x[i] = -10.0f + 20.0f * (float)i / (float)(N - 1);
    spd_verf_f32(y, x, N);
    worst = 0;
    for (int i = 0; i < N; i++) {
        const double u = ulp_diff(y[i], erff(x[i]));
        if (u > worst) worst = u;
    }
    check(worst <= 3, "erf: max error %.2f ulp over [-10, 10]", worst);
    /* tiny arguments */
    for (int i = 0; i < 1000; i++) x[i] = ldexpf(1.0f + (float)i / 1000.0f, -30 + i % 29);
    spd_verf_f32(y, x, 1000);
    worst = 0;
    for (int i = 0; i < 1000; i++) {
        const double u = ulp_diff(y[i], erff(x[i]));
        if (u > worst) worst = u;
    }
    check(worst <= 3, "erf: max error %.2f ulp on tiny arguments", worst);

    for (int i = 0; i < N; i++) x[i] = -100.0f + 200.0f * (float)i / (float)(N - 1);
    spd_vsigmoid_f32(y, x, N);
    worst = 0;
    for (int i = 0; i < N; i++) {
        const float want = spd_act_scalar(&(spd_act){SPD_ACT_SIGMOID, 0, 0}, x[i]);
        const double u = want < FLT_MIN ? fabs((double)y[i] - want) / 1.4e-45 : ulp_diff(y[i], want);
        if (u > worst) worst = u;
    }
    check(worst <= 4, "sigmoid: max error %.2f ulp over [-100, 100]", worst);

    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(N - 1);
    spd_vgelu_f32(y, x, N);
    worst = 0;
    for (int i = 0; i < N; i++) {
        const double want = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        /* 1 + erf cancels for negative x, where float rounding leaves an
         * error of about 3e-8 |x|: measure relative to |want| + |x| */
        const double err = fabs(y[i] - want) / (fabs(want) + fabs((double)x[i]) + 1e-30);
        if (err > worst) worst = err;
    }
    check(worst <= 2e-7, "gelu: max error %.3g relative to |gelu(x)| + |x|", worst);

    /* special values */
    const float sp[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 88.72f, 89.0f, -87.5f, -103.0f, -200.0f, 1e-40f};
    const int ns = (int)(sizeof sp / sizeof sp[0]);
    float out[16];
    spd_vexp_f32(out, sp, ns);
    for (int i = 0; i < ns; i++) {
        const float want = expf(sp[i]);
        check(same_nan(out[i], want) || ulp_diff(out[i], want) <= 3 ||
                  (want < FLT_MIN && fabs((double)out[i] - want) <= 3 * 1.4e-45),
              "exp(%g) = %g, want %g", sp[i], out[i], want);
    }
    spd_verf_f32(out, sp, ns);
    for (int i = 0; i < ns; i++) {
        const float want = erff(sp[i]);
        check(same_nan(out[i], want) || ulp_diff(out[i], want) <= 3, "erf(%g) = %g, want %g", sp[i], out[i], want);
    }
    spd_vsigmoid_f32(out, sp, ns);
    for (int i = 0; i < ns; i++) {
        const float want = spd_act_scalar(&(spd_act){SPD_ACT_SIGMOID, 0, 0}, sp[i]);
        check(same_nan(out[i], want) || ulp_diff(out[i], want) <= 4 || fabs((double)out[i] - want) < 1e-37,
              "sigmoid(%g) = %g, want %g", sp[i], out[i], want);
    }

    /* softmax helpers at odd lengths */
    for (int n = 1; n < 40; n++) {
        for (int i = 0; i < n; i++) x[i] = rnd_float() * 20.0f;
        float m = x[0];
        for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
        check(spd_vmax_f32(x, n) == m, "vmax n=%d", n);
        const float s = spd_vexp_sub_sum_f32(y, x, n, m);
        double ws = 0, we = 0;
        for (int i = 0; i < n; i++) {
            const double e = exp((double)(x[i] - m)); /* the subtraction rounds in float, as in softmax */
            ws += e;
            we = fmax(we, fabs(y[i] - e) / e);
        }
        check(fabs(s - ws) / ws < 1e-5 && we < 1e-6, "exp_sub_sum n=%d: sum %g want %g, rel %g", n, s, ws, we);
        /* subtracting less than the maximum: lanes above 0 take the full exp */
        const float s2 = spd_vexp_sub_sum_f32(y, x, n, m - 5.0f);
        ws = we = 0;
        for (int i = 0; i < n; i++) {
            const double e = exp((double)(x[i] - (m - 5.0f)));
            ws += e;
            we = fmax(we, fabs(y[i] - e) / e);
        }
        check(fabs(s2 - ws) / ws < 1e-5 && we < 1e-6, "exp_sub_sum n=%d below the max: rel %g", n, we);
        x[n / 2] = NAN;
        check(isnan(spd_vmax_f32(x, n)), "vmax with a NaN n=%d", n);
    }
    free(x);
    free(y);
}

/* ---- activation epilogue ---- */

static void test_act(void)
{
    const spd_act acts[] = {
        {SPD_ACT_NONE, 0, 0},         {SPD_ACT_RELU, 0, 0},          {SPD_ACT_LEAKYRELU, 0.1f, 0},
        {SPD_ACT_CLIP, 0.0f, 6.0f},   {SPD_ACT_CLIP, -FLT_MAX, 0.5f}, {SPD_ACT_CLIP, 1.0f, -1.0f},
        {SPD_ACT_HARDSIGMOID, 0.2f, 0.5f}, {SPD_ACT_HARDSWISH, 1.0f / 6, 0.5f},
        {SPD_ACT_SIGMOID, 0, 0},      {SPD_ACT_TANH, 0, 0},
    };
    float y[131], y0[131], z[131];
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        for (int n = 0; n <= 131; n += (n < 20 ? 1 : 37)) {
            for (int use_z = 0; use_z < 2; use_z++) {
                const float bias = rnd_float() * 3;
                for (int i = 0; i < n; i++) {
                    y0[i] = y[i] = rnd_float() * 10;
                    z[i] = rnd_float();
                }
                if (n > 5) {
                    y0[1] = y[1] = NAN;
                    y0[2] = y[2] = INFINITY;
                    y0[3] = y[3] = -INFINITY;
                }
                spd_vact_bias_f32(&acts[a], y, n, bias, use_z ? z : NULL);
                int bad = -1;
                for (int i = 0; i < n && bad < 0; i++) {
                    float v = y0[i] + bias;
                    if (use_z) v += z[i];
                    const float want = spd_act_scalar(&acts[a], v);
                    /* a*x + b may be contracted to one FMA: not bit-exact */
                    const int exact = acts[a].kind != SPD_ACT_SIGMOID && acts[a].kind != SPD_ACT_TANH &&
                                      acts[a].kind != SPD_ACT_HARDSIGMOID && acts[a].kind != SPD_ACT_HARDSWISH;
                    if (!(same_nan(y[i], want) || (!exact && (ulp_diff(y[i], want) <= 4 || fabsf(y[i] - want) < 1e-6f))))
                        bad = i;
                }
                check(bad < 0, "act kind %d n=%d z=%d: element %d = %g, want %g", (int)acts[a].kind, n, use_z, bad,
                      bad >= 0 ? y[bad] : 0.0f,
                      bad >= 0 ? spd_act_scalar(&acts[a], y0[bad] + bias + (use_z ? z[bad] : 0)) : 0.0f);
            }
        }
    }
}

/* The scalar HardSwish every vector path is held to, against its
 * definition in double: ONNX's x max(0, min(1, x / 6 + 1/2)), and other
 * alpha and beta (a HardSigmoid's, fused with the Mul that reads it). */
static void test_hardswish_scalar(void)
{
    const float xs[] = {-10.0f, -3.0f, -2.9f, -1.0f, -0.0f, 0.0f, 0.25f, 1.0f, 2.99f, 3.0f, 7.5f, 1e30f};
    const float ab[][2] = {{1.0f / 6, 0.5f}, {0.2f, 0.5f}, {-0.25f, 0.5f}, {1.0f, 0.0f}};
    for (size_t k = 0; k < sizeof ab / sizeof ab[0]; k++)
        for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
            const spd_act ac = {SPD_ACT_HARDSWISH, ab[k][0], ab[k][1]};
            const double x = xs[i], g = fmax(0.0, fmin(1.0, (double)ab[k][0] * x + ab[k][1]));
            const double want = x * g, got = spd_act_scalar(&ac, xs[i]);
            check(fabs(got - want) <= 1e-6 * (fabs(want) + 1.0), "HardSwish(%g; %g, %g) = %.9g, want %.9g", x,
                  ab[k][0], ab[k][1], got, want);
        }
    const spd_act ac = {SPD_ACT_HARDSWISH, 1.0f / 6, 0.5f};
    check(isnan(spd_act_scalar(&ac, NAN)), "HardSwish(NaN) is not NaN");
}

/* ---- Conv / FusedConv ---- */

typedef struct conv_case {
    int64_t N, C, M, group, H, W, KH, KW, sy, sx, dy, dx, pt, pl, pb, pr;
    int bias, z;
    spd_act ac;
} conv_case;

static void conv_ref(const conv_case *c, const float *x, const float *w, const float *b, const float *z,
                     int64_t OH, int64_t OW, double *y)
{
    const int64_t Cg = c->C / c->group, Mg = c->M / c->group;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++) {
            const int64_t g = m / Mg;
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double acc = b ? b[m] : 0;
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t ky = 0; ky < c->KH; ky++)
                            for (int64_t kx = 0; kx < c->KW; kx++) {
                                const int64_t iy = oy * c->sy + ky * c->dy - c->pt, ix = ox * c->sx + kx * c->dx - c->pl;
                                if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) continue;
                                acc += (double)w[((m * Cg + ci) * c->KH + ky) * c->KW + kx] *
                                       x[((n * c->C + g * Cg + ci) * c->H + iy) * c->W + ix];
                            }
                    const int64_t o = ((n * c->M + m) * OH + oy) * OW + ox;
                    if (z) acc += z[o];
                    y[o] = spd_act_scalar(&c->ac, (float)acc);
                }
        }
}

static spd_node *make_node(spd_graph *g, const char *op, const char *domain, int n_in)
{
    const char *ins[4] = {"x", "w", "b", "z"};
    const char *outs[1] = {"y"};
    int idx;
    if (spd_graph_add_node(g, op, domain, "n", n_in, ins, 1, outs, &idx) != SPD_OK) return NULL;
    return &g->nodes[idx];
}

static void run_conv_case(const conv_case *c)
{
    const int64_t OH = (c->H + c->pt + c->pb - ((c->KH - 1) * c->dy + 1)) / c->sy + 1;
    const int64_t OW = (c->W + c->pl + c->pr - ((c->KW - 1) * c->dx + 1)) / c->sx + 1;
    spd_tensor X = {0}, Wt = {0}, B = {0}, Z = {0};
    int64_t xd[4] = {c->N, c->C, c->H, c->W}, wd[4] = {c->M, c->C / c->group, c->KH, c->KW}, bd[1] = {c->M};
    int64_t zd[4] = {c->N, c->M, OH, OW};
    spd_tensor_alloc(&X, SPD_FLOAT, 4, xd);
    spd_tensor_alloc(&Wt, SPD_FLOAT, 4, wd);
    spd_tensor_alloc(&B, SPD_FLOAT, 1, bd);
    spd_tensor_alloc(&Z, SPD_FLOAT, 4, zd);
    float *x = X.data, *w = Wt.data, *b = B.data, *z = Z.data;
    for (int64_t i = 0; i < spd_tensor_numel(&X); i++) x[i] = rnd_float();
    for (int64_t i = 0; i < spd_tensor_numel(&Wt); i++) w[i] = rnd_float();
    for (int64_t i = 0; i < c->M; i++) b[i] = rnd_float();
    for (int64_t i = 0; i < spd_tensor_numel(&Z); i++) z[i] = rnd_float();

    const int fused = c->z || c->ac.kind != SPD_ACT_NONE;
    spd_graph *g = spd_calloc(1, sizeof *g);
    const int n_in = c->z ? 4 : c->bias ? 3 : 2;
    spd_node *node = make_node(g, fused ? "FusedConv" : "Conv", fused ? "com.microsoft" : "", n_in);
    int64_t strides[2] = {c->sy, c->sx}, dil[2] = {c->dy, c->dx}, pads[4] = {c->pt, c->pl, c->pb, c->pr};
    spd_node_set_ints(node, "strides", strides, 2);
    spd_node_set_ints(node, "dilations", dil, 2);
    spd_node_set_ints(node, "pads", pads, 4);
    spd_node_set_int(node, "group", c->group);
    static const char *names[] = {"", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid"};
    if (c->ac.kind != SPD_ACT_NONE) {
        spd_node_set_string(node, "activation", names[c->ac.kind]);
        const float params[2] = {c->ac.a, c->ac.b};
        if (c->ac.kind == SPD_ACT_LEAKYRELU) spd_node_set_floats(node, "activation_params", params, 1);
        if (c->ac.kind == SPD_ACT_CLIP || c->ac.kind == SPD_ACT_HARDSIGMOID)
            spd_node_set_floats(node, "activation_params", params, 2);
    }
    const spd_tensor *ins[4] = {&X, &Wt, c->bias ? &B : NULL, &Z};
    spd_tensor out[1];
    memset(out, 0, sizeof out);
    spd_op_ctx ctx = {node, fused ? 1 : 11, n_in, ins, 1, out, NULL, NULL};
    const spd_op_def *d = spd_op_find(fused ? "com.microsoft" : "", fused ? "FusedConv" : "Conv", fused ? 1 : 11);
    spd_status st = d ? d->run(&ctx) : SPD_ERR_UNSUPPORTED;
    char desc[256];
    snprintf(desc, sizeof desc,
             "conv N%lld C%lld M%lld g%lld %lldx%lld k%lldx%lld s%lld,%lld d%lld,%lld p%lld,%lld,%lld,%lld b%d z%d act%d",
             (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->group, (long long)c->H, (long long)c->W,
             (long long)c->KH, (long long)c->KW, (long long)c->sy, (long long)c->sx, (long long)c->dy, (long long)c->dx,
             (long long)c->pt, (long long)c->pl, (long long)c->pb, (long long)c->pr, c->bias, c->z, (int)c->ac.kind);
    check(st == SPD_OK, "%s: status %d (%s)", desc, (int)st, spd_last_error());
    if (st == SPD_OK) {
        const int64_t n = c->N * c->M * OH * OW;
        check(spd_tensor_numel(&out[0]) == n && out[0].dims[2] == OH && out[0].dims[3] == OW, "%s: output shape",
              desc);
        double *want = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
        conv_ref(c, x, w, c->bias ? b : NULL, c->z ? z : NULL, OH, OW, want);
        const float *y = out[0].data;
        double worst = 0;
        int64_t at = -1;
        const double tol_scale = sqrt((double)(c->C / c->group * c->KH * c->KW)) * 4e-7 + 1e-6;
        for (int64_t i = 0; i < n && spd_tensor_numel(&out[0]) == n; i++) {
            const double e = fabs(y[i] - want[i]) / (fabs(want[i]) + 1.0);
            if (e > worst || isnan(y[i])) {
                worst = isnan(y[i]) ? INFINITY : e;
                at = i;
            }
        }
        check(worst <= tol_scale, "%s: max error %.3g at %lld (%g vs %g)", desc, worst, (long long)at,
              at >= 0 ? y[at] : 0.0f, at >= 0 ? want[at] : 0.0);
        free(want);
    }
    spd_tensor_release(&out[0]);
    spd_tensor_release(&X);
    spd_tensor_release(&Wt);
    spd_tensor_release(&B);
    spd_tensor_release(&Z);
    spd_graph_free(g);
}

static spd_act rnd_act(void)
{
    switch (rnd() % 7) {
    case 1: return (spd_act){SPD_ACT_RELU, 0, 0};
    case 2: return (spd_act){SPD_ACT_CLIP, 0.0f, 6.0f};
    case 3: return (spd_act){SPD_ACT_LEAKYRELU, 0.2f, 0};
    case 4: return (spd_act){SPD_ACT_SIGMOID, 0, 0};
    case 5: return (spd_act){SPD_ACT_HARDSIGMOID, 0.2f, 0.5f};
    case 6: return (spd_act){SPD_ACT_TANH, 0, 0};
    default: return (spd_act){SPD_ACT_NONE, 0, 0};
    }
}

static void test_conv(void)
{
    /* depthwise: 3x3 / 5x5, stride 1 / 2, paddings, odd widths (vector
     * body, tails and edges) */
    for (int i = 0; i < 40; i++) {
        conv_case c = {0};
        c.N = rnd_range(1, 2);
        c.C = c.M = c.group = rnd_range(1, 9);
        c.KH = c.KW = rnd() % 2 ? 3 : 5;
        if (i % 7 == 0) c.KW = rnd_range(1, 4);
        c.sy = c.sx = rnd_range(1, 2);
        if (i % 5 == 0) c.sx = 3 - c.sy;
        c.dy = c.dx = i % 9 == 0 ? 2 : 1;
        c.pt = rnd_range(0, c.KH / 2);
        c.pb = rnd_range(0, c.KH / 2);
        c.pl = rnd_range(0, c.KW / 2);
        c.pr = rnd_range(0, c.KW / 2);
        c.H = rnd_range(c.KH * c.dy, 23);
        c.W = rnd_range(c.KW * c.dx, i % 3 ? 45 : 70);
        c.bias = (int)(rnd() % 2);
        c.z = (int)(rnd() % 3 == 0);
        c.ac = rnd_act();
        run_conv_case(&c);
    }
    /* general: groups, 1x1 (the pointwise path), strided and padded */
    for (int i = 0; i < 40; i++) {
        conv_case c = {0};
        c.N = rnd_range(1, 2);
        c.group = rnd() % 4 == 0 ? rnd_range(2, 3) : 1;
        c.C = c.group * rnd_range(1, 9);
        c.M = c.group * rnd_range(1, 21);
        c.KH = rnd_range(1, 3);
        c.KW = i % 4 == 0 ? c.KH : rnd_range(1, 3);
        c.sy = rnd_range(1, 2);
        c.sx = i % 3 ? c.sy : rnd_range(1, 3);
        c.dy = c.dx = i % 11 == 0 ? 2 : 1;
        if (i % 3 == 0) {
            c.pt = rnd_range(0, c.KH - 1);
            c.pb = rnd_range(0, c.KH - 1);
            c.pl = rnd_range(0, c.KW - 1);
            c.pr = rnd_range(0, c.KW - 1);
        }
        c.H = rnd_range(c.KH * c.dy, 19);
        c.W = rnd_range(c.KW * c.dx, 37);
        c.bias = (int)(rnd() % 2);
        c.z = (int)(rnd() % 3 == 0);
        c.ac = rnd_act();
        run_conv_case(&c);
    }
    /* larger ones: several tiles and column blocks (and the pool) */
    const conv_case big[] = {
        {1, 32, 64, 1, 30, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, {SPD_ACT_RELU, 0, 0}},
        {1, 64, 70, 1, 17, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, {SPD_ACT_CLIP, 0, 6}},
        {2, 24, 24, 24, 56, 57, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, {SPD_ACT_CLIP, 0, 6}},
        {1, 40, 40, 40, 28, 29, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, 0, {SPD_ACT_SIGMOID, 0, 0}},
        {1, 300, 13, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, {SPD_ACT_NONE, 0, 0}},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) run_conv_case(&big[i]);
}

/* ---- pools ---- */

static void run_pool_case(const char *op, int64_t C, int64_t H, int64_t W, int64_t k, int64_t s, int64_t p,
                          int include_pad, int ceil_mode)
{
    spd_tensor Xf = {0}, Xd = {0};
    int64_t xd[4] = {2, C, H, W};
    spd_tensor_alloc(&Xf, SPD_FLOAT, 4, xd);
    spd_tensor_alloc(&Xd, SPD_DOUBLE, 4, xd);
    for (int64_t i = 0; i < spd_tensor_numel(&Xf); i++) {
        float v = rnd_float();
        if (rnd() % 97 == 0) v = NAN;
        ((float *)Xf.data)[i] = v;
        ((double *)Xd.data)[i] = v;
    }
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_node *node = make_node(g, op, "", 1);
    const int global = !strncmp(op, "Global", 6);
    if (!global) {
        int64_t ks[2] = {k, k}, st[2] = {s, s}, pads[4] = {p, p, p, p};
        spd_node_set_ints(node, "kernel_shape", ks, 2);
        spd_node_set_ints(node, "strides", st, 2);
        spd_node_set_ints(node, "pads", pads, 4);
        spd_node_set_int(node, "count_include_pad", include_pad);
        spd_node_set_int(node, "ceil_mode", ceil_mode);
    }
    const spd_op_def *d = spd_op_find("", op, 12);
    spd_tensor of[1], od[1];
    memset(of, 0, sizeof of);
    memset(od, 0, sizeof od);
    const spd_tensor *inf[1] = {&Xf}, *ind[1] = {&Xd};
    spd_op_ctx cf = {node, 12, 1, inf, 1, of, NULL, NULL}, cd = {node, 12, 1, ind, 1, od, NULL, NULL};
    spd_status s1 = d ? d->run(&cf) : SPD_ERR_UNSUPPORTED, s2 = d ? d->run(&cd) : SPD_ERR_UNSUPPORTED;
    check(s1 == SPD_OK && s2 == SPD_OK, "%s: status %d %d", op, (int)s1, (int)s2);
    if (s1 == SPD_OK && s2 == SPD_OK) {
        const int64_t n = spd_tensor_numel(&od[0]);
        int bad = spd_tensor_numel(&of[0]) != n;
        for (int64_t i = 0; i < n && !bad; i++) {
            const float a = ((float *)of[0].data)[i], b = (float)((double *)od[0].data)[i];
            if (!(same_nan(a, b) || fabsf(a - b) <= 1e-6f * (1 + fabsf(b)))) bad = 1;
        }
        check(!bad, "%s C%lld %lldx%lld k%lld s%lld p%lld pad%d ceil%d: float32 path differs from float64", op,
              (long long)C, (long long)H, (long long)W, (long long)k, (long long)s, (long long)p, include_pad,
              ceil_mode);
    }
    spd_tensor_release(&of[0]);
    spd_tensor_release(&od[0]);
    spd_tensor_release(&Xf);
    spd_tensor_release(&Xd);
    spd_graph_free(g);
}

static void test_pool(void)
{
    for (int i = 0; i < 30; i++) {
        const int64_t k = rnd_range(1, 4), s = rnd_range(1, 3), p = rnd_range(0, k / 2);
        const int64_t H = rnd_range(k, 20), W = rnd_range(k, 21), C = rnd_range(1, 5);
        run_pool_case(i % 2 ? "MaxPool" : "AveragePool", C, H, W, k, s, p, (int)(rnd() % 2), (int)(rnd() % 2));
    }
    run_pool_case("GlobalAveragePool", 7, 7, 7, 0, 0, 0, 0, 0);
    run_pool_case("GlobalMaxPool", 5, 9, 3, 0, 0, 0, 0, 0);
}


/* ---- PermutedMatMul ---- */

/* The raw offset of logical index L of an operand read through perm p:
 * raw index q[p[i]] = L[i]. */
static int64_t perm_offset(int r, const int64_t *L, const int64_t *p, const int64_t *raw_dims)
{
    int64_t q[SPD_MAX_DIMS], off = 0;
    for (int i = 0; i < r; i++) q[p[i]] = L[i];
    for (int i = 0; i < r; i++) off = off * raw_dims[i] + q[i];
    return off;
}

static void unravel(int64_t t, int r, const int64_t *dims, int64_t *idx)
{
    for (int i = r - 1; i >= 0; i--) {
        idx[i] = dims[i] ? t % dims[i] : 0;
        t = dims[i] ? t / dims[i] : 0;
    }
}

static void rnd_perm(int r, int64_t *p)
{
    for (int i = 0; i < r; i++) p[i] = i;
    for (int i = r - 1; i > 0; i--) {
        const int j = (int)rnd_range(0, i);
        const int64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* Y = Transpose(alpha * MatMul(Transpose(A, pa), Transpose(B, pb)), py)
 * against a double-precision product through the same index maps. */
static void run_pmm_case(int r, const int64_t *batch, int64_t M, int64_t K, int64_t N, const int64_t *pa,
                         const int64_t *pb, const int64_t *py, float alpha)
{
    int64_t la[SPD_MAX_DIMS], lb[SPD_MAX_DIMS], lr[SPD_MAX_DIMS], ra[SPD_MAX_DIMS], rb[SPD_MAX_DIMS],
        yd[SPD_MAX_DIMS];
    for (int i = 0; i < r - 2; i++) la[i] = lb[i] = lr[i] = batch[i];
    la[r - 2] = M, la[r - 1] = K, lb[r - 2] = K, lb[r - 1] = N, lr[r - 2] = M, lr[r - 1] = N;
    for (int i = 0; i < r; i++) {
        ra[pa[i]] = la[i];
        rb[pb[i]] = lb[i];
        yd[i] = lr[py[i]];
    }
    spd_tensor A = {0}, B = {0}, out = {0};
    spd_tensor_alloc(&A, SPD_FLOAT, r, ra);
    spd_tensor_alloc(&B, SPD_FLOAT, r, rb);
    float *a = A.data, *b = B.data;
    for (int64_t i = 0; i < spd_tensor_numel(&A); i++) a[i] = rnd_float();
    for (int64_t i = 0; i < spd_tensor_numel(&B); i++) b[i] = rnd_float();
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_node *node = make_node(g, "PermutedMatMul", "ai.speedster", 2);
    spd_node_set_ints(node, "perm_a", pa, (size_t)r);
    spd_node_set_ints(node, "perm_b", pb, (size_t)r);
    spd_node_set_ints(node, "perm_y", py, (size_t)r);
    spd_node_set_float(node, "alpha", alpha);
    const spd_tensor *ins[2] = {&A, &B};
    spd_op_ctx ctx = {node, 1, 2, ins, 1, &out, NULL, NULL};
    const spd_op_def *d = spd_op_find("ai.speedster", "PermutedMatMul", 1);
    const spd_status st = d ? d->run(&ctx) : SPD_ERR_UNSUPPORTED;
    char desc[160];
    snprintf(desc, sizeof desc, "PermutedMatMul r%d M%lld K%lld N%lld pa %lld%lld%lld pb %lld%lld%lld py %lld%lld%lld", r,
             (long long)M, (long long)K, (long long)N, (long long)pa[0], (long long)pa[1], (long long)pa[2],
             (long long)pb[0], (long long)pb[1], (long long)pb[2], (long long)py[0], (long long)py[1],
             (long long)py[2]);
    check(st == SPD_OK, "%s: status %d (%s)", desc, (int)st, spd_last_error());
    const int64_t n = spd_dims_prod(lr, 0, r);
    int shape_ok = st == SPD_OK && out.ndim == r;
    for (int i = 0; shape_ok && i < r; i++) shape_ok = out.dims[i] == yd[i];
    check(shape_ok, "%s: output shape", desc);
    double worst = 0;
    for (int64_t t = 0; shape_ok && t < n; t++) {
        int64_t yi[SPD_MAX_DIMS], li[SPD_MAX_DIMS], ai[SPD_MAX_DIMS], bi[SPD_MAX_DIMS];
        unravel(t, r, yd, yi);
        for (int i = 0; i < r; i++) li[py[i]] = yi[i]; /* the result's index */
        memcpy(ai, li, sizeof ai);
        memcpy(bi, li, sizeof bi);
        double acc = 0;
        for (int64_t k = 0; k < K; k++) {
            ai[r - 1] = k, bi[r - 2] = k, bi[r - 1] = li[r - 1];
            acc += (double)a[perm_offset(r, ai, pa, ra)] * b[perm_offset(r, bi, pb, rb)];
        }
        const double e = fabs(((const float *)out.data)[t] - alpha * acc) / (fabs(alpha * acc) + 1.0);
        if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
    }
    check(worst <= 1e-6 * sqrt((double)K + 1) + 1e-6, "%s: max error %.3g", desc, worst);
    spd_tensor_release(&out);
    spd_tensor_release(&A);
    spd_tensor_release(&B);
    spd_graph_free(g);
}

static void test_permuted_matmul(void)
{
    /* BERT's score and context products: [b, t, h, d] read as [b, h, t, d]
     * and [b, h, d, t]; the context written back as [b, t, h, d] */
    const int64_t bh[2] = {2, 3}, q[4] = {0, 2, 1, 3}, k[4] = {0, 2, 3, 1}, id[4] = {0, 1, 2, 3};
    run_pmm_case(4, bh, 17, 8, 17, q, k, id, 0.125f);
    run_pmm_case(4, bh, 17, 17, 8, id, q, q, 1.0f);
    /* every rank-3 and random rank-4 permutation, friendly or copied first */
    for (int c = 0; c < 40; c++) {
        const int r = c < 30 ? 3 : 4;
        int64_t batch[2] = {rnd_range(1, 4), rnd_range(1, 3)}, pa[4], pb[4], py[4];
        rnd_perm(r, pa);
        rnd_perm(r, pb);
        rnd_perm(r, py);
        run_pmm_case(r, batch, rnd_range(1, 40), rnd_range(1, 70), rnd_range(1, 40), pa, pb, py,
                     c % 3 ? 1.0f : -0.5f);
    }
    /* K = 0: zeros; a perm that is no permutation: an error */
    const int64_t b1[1] = {2}, i3[3] = {0, 1, 2}, bad[3] = {0, 0, 2};
    run_pmm_case(3, b1, 3, 0, 4, i3, i3, i3, 1.0f);
    spd_tensor A = {0}, B = {0}, out = {0};
    const int64_t d3[3] = {2, 3, 3};
    spd_tensor_alloc(&A, SPD_FLOAT, 3, d3);
    spd_tensor_alloc(&B, SPD_FLOAT, 3, d3);
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_node *node = make_node(g, "PermutedMatMul", "ai.speedster", 2);
    spd_node_set_ints(node, "perm_a", bad, 3);
    const spd_tensor *ins[2] = {&A, &B};
    spd_op_ctx ctx = {node, 1, 2, ins, 1, &out, NULL, NULL};
    const spd_op_def *d = spd_op_find("ai.speedster", "PermutedMatMul", 1);
    check(d && d->run(&ctx) == SPD_ERR_INVALID && strstr(spd_last_error(), "perm_a"), "PermutedMatMul: bad perm_a");
    spd_tensor_release(&out);
    spd_tensor_release(&A);
    spd_tensor_release(&B);
    spd_graph_free(g);
}

/* Transposes as strided copies (spd_strided_copy): a channels-last layout
 * change (0, 2, 3, 1) and its inverse, planes big enough to be split over
 * threads and small ones, widths off the 8-column blocks, at 1 and 2
 * threads, against the index arithmetic. */
static void test_transpose(void)
{
    static const int64_t shapes[][4] = {{1, 144, 56, 56}, {2, 13, 9, 7}, {1, 1280, 7, 7}, {1, 24, 61, 47}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int back = 0; back < 2; back++)
            for (int threads = 1; threads <= 2; threads++) {
                spd_set_num_threads(threads);
                const int64_t *d = shapes[i], n = d[0] * d[1] * d[2] * d[3];
                float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
                for (int64_t k = 0; k < n; k++) x[k] = (float)k;
                /* NCHW -> NHWC: y[b][h][w][c] = x[b][c][h][w]; back: x read as NHWC */
                const int64_t N = d[0], C = d[1], H = d[2], W = d[3];
                const int64_t dims_f[4] = {N, H, W, C}, st_f[4] = {C * H * W, W, 1, H * W};
                const int64_t dims_b[4] = {N, C, H, W}, st_b[4] = {H * W * C, 1, W * C, C};
                spd_strided_copy(y, x, 4, back ? dims_b : dims_f, back ? st_b : st_f, sizeof(float));
                int64_t bad = -1;
                for (int64_t b = 0; b < N && bad < 0; b++)
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t h = 0; h < H; h++)
                            for (int64_t w = 0; w < W; w++) {
                                const int64_t nchw = ((b * C + c) * H + h) * W + w, nhwc = ((b * H + h) * W + w) * C + c;
                                if (back ? y[nchw] != x[nhwc] : y[nhwc] != x[nchw]) bad = back ? nchw : nhwc;
                            }
                check(bad < 0, "transpose %lldx%lldx%lldx%lld %s, %d threads: element %lld", (long long)N, (long long)C,
                      (long long)H, (long long)W, back ? "to channels-first" : "to channels-last", threads,
                      (long long)bad);
                free(x);
                free(y);
            }
    spd_set_num_threads(0);
}

/* ReduceMean over a channels-last plane (axes 1, 2 of N x H x W x C,
 * keepdims 0): at 1 and 2 threads (column blocks split over threads from
 * 32K values) the same bits, each mean within 1e-6 of a double sum. */
static void test_reduce_mean(void)
{
    static const int64_t shapes[][4] = {{1, 14, 14, 480}, {2, 7, 7, 1152}, {1, 5, 25, 64}, {1, 9, 11, 200}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t *d = shapes[i], N = d[0], P = d[1] * d[2], C = d[3];
        spd_tensor X = {0}, out[2] = {{0}, {0}};
        spd_tensor_alloc(&X, SPD_FLOAT, 4, d);
        float *x = X.data;
        for (int64_t k = 0; k < N * P * C; k++) x[k] = rnd_float();
        spd_graph *g = spd_calloc(1, sizeof *g);
        spd_node *node = make_node(g, "ReduceMean", "", 1);
        const int64_t axes[2] = {1, 2};
        spd_node_set_ints(node, "axes", axes, 2);
        spd_node_set_int(node, "keepdims", 0);
        const spd_op_def *def = spd_op_find("", "ReduceMean", 13);
        spd_status st[2] = {SPD_ERR_UNSUPPORTED, SPD_ERR_UNSUPPORTED};
        for (int t = 0; t < 2; t++) {
            spd_set_num_threads(t + 1);
            const spd_tensor *ins[1] = {&X};
            spd_op_ctx ctx = {node, 13, 1, ins, 1, &out[t], NULL, NULL};
            if (def) st[t] = def->run(&ctx);
        }
        spd_set_num_threads(0);
        check(st[0] == SPD_OK && st[1] == SPD_OK && spd_tensor_numel(&out[0]) == N * C &&
                  spd_tensor_numel(&out[1]) == N * C,
              "ReduceMean %lldx%lldx%lldx%lld: status %d %d (%s)", (long long)d[0], (long long)d[1], (long long)d[2],
              (long long)d[3], (int)st[0], (int)st[1], spd_last_error());
        if (st[0] == SPD_OK && st[1] == SPD_OK && spd_tensor_numel(&out[1]) == N * C) {
            const float *a = out[0].data, *b = out[1].data;
            int64_t bad = -1;
            for (int64_t n = 0; n < N && bad < 0; n++)
                for (int64_t c = 0; c < C; c++) {
                    double sum = 0;
                    for (int64_t p = 0; p < P; p++) sum += x[(n * P + p) * C + c];
                    const double want = sum / (double)P;
                    if (memcmp(&a[n * C + c], &b[n * C + c], sizeof *a) || fabs(a[n * C + c] - want) > 1e-6) {
                        bad = n * C + c;
                        break;
                    }
                }
            check(bad < 0, "ReduceMean %lldx%lldx%lldx%lld: mean %lld differs (1 thread %g, 2 threads %g)",
                  (long long)d[0], (long long)d[1], (long long)d[2], (long long)d[3], (long long)bad,
                  bad >= 0 ? a[bad] : 0.0, bad >= 0 ? b[bad] : 0.0);
        }
        spd_tensor_release(&out[0]);
        spd_tensor_release(&out[1]);
        spd_tensor_release(&X);
        spd_graph_free(g);
    }
}

int main(void)
{
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int isa = SPD_SGEMM_REF; isa <= (int)best; isa++) {
        spd_sgemm_set_isa((spd_sgemm_isa)isa);
        snprintf(g_label, sizeof g_label, "%s", spd_sgemm_isa_name((spd_sgemm_isa)isa));
        test_vmath();
        test_act();
        test_hardswish_scalar();
        test_conv();
        test_pool();
        test_permuted_matmul();
        test_transpose();
        test_reduce_mean();
    }
    return test_summary();
}
