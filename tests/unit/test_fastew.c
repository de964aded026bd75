/* Tests of the float32 fast paths of ops/ew_fast.h through the registered
 * operators, on every ISA path this CPU runs (ref and avx2) and on 1 and 2
 * threads, against plain double-precision computations:
 *  - Add/Sub/Mul/Div/Max/Min and 2-3 input Sum/Max over every broadcast
 *    pattern (same shape, scalar, per-channel, trailing vector, general),
 *    both operand orders, tiny, odd and large (threaded) sizes; exact, as
 *    one IEEE operation on floats rounds the same as in double;
 *  - unary activations (Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid,
 *    HardSwish, Clip, Exp, Erf, Neg, Abs, Reciprocal, Gelu) and
 *    com.microsoft Gelu, FastGelu, QuickGelu, FusedConv with QuickGelu/Gelu;
 *  - MaxPool/AveragePool (1-D and 2-D, pads, strides, dilations, ceil_mode,
 *    count_include_pad) and the global pools against the same operator on
 *    float64 input (the generic window walk).
 * Inputs carry NaN and +-inf, which must come out as the reference's.
 *
 * One line per failed check; the last line is "N checks, N failed"; exit
 * status 1 when any check fails. */
#include <float.h>
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
#include "speedster.h"
#include "util/alloc.h"

#define TEST_SEED 0x2545F4914F6CDD1Dull
#include "test_util.h"

static int same_nan(float a, float b) { return (a != a && b != b) || a == b; }

static double ulp_diff(float a, float b)
{
    if (a == b) return 0;
    const float m = fabsf(a) < fabsf(b) ? fabsf(a) : fabsf(b);
    const double ulp = (double)nextafterf(m, INFINITY) - (double)m;
    return fabs((double)a - (double)b) / ulp;
}

/* Random values in [-scale, scale], about one in 50 NaN or +-inf. */
static void fill(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++) {
        const uint64_t r = rnd() % 150;
        x[i] = r == 0 ? NAN : r == 1 ? INFINITY : r == 2 ? -INFINITY : rnd_float() * scale;
    }
}

/* A node with n_in inputs and one output in a throwaway graph. */
static spd_node *make_node(spd_graph *g, const char *op, const char *domain, int n_in)
{
    const char *ins[4] = {"a", "b", "c", "d"};
    const char *outs[1] = {"y"};
    int idx;
    if (spd_graph_add_node(g, op, domain, "n", n_in, ins, 1, outs, &idx) != SPD_OK) return NULL;
    return &g->nodes[idx];
}

/* Runs op (opset) on the inputs into out[0] (released by the caller). */
static spd_status run_op(spd_node *node, const char *domain, int64_t opset, int n_in, const spd_tensor *const *ins,
                         spd_tensor *out)
{
    const spd_op_def *d = spd_op_find(domain, node->op_type, opset);
    if (!d) return SPD_ERR_UNSUPPORTED;
    memset(out, 0, sizeof *out);
    spd_op_ctx ctx = {node, opset, n_in, ins, 1, out, NULL, NULL};
    return d->run(&ctx);
}

/* ---- binary ---- */

static double bin_ref(int op, double x, double y)
{
    switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return x / y;
    case 4: return (x > y || isnan(x)) ? x : y;
    default: return (x < y || isnan(x)) ? x : y;
    }
}

static const char *const BIN_NAMES[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};

/* Flat index into a tensor of dims d (rank r, right-aligned to rank nd) of
 * the output position idx. */
static int64_t bcast_index(const int64_t *d, int r, int nd, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < r; i++) {
        const int64_t k = d[i] == 1 ? 0 : idx[nd - r + i];
        off = off * d[i] + k;
    }
    return off;
}

static void run_binary_case(int op, int ra, const int64_t *da, int rb, const int64_t *db)
{
    spd_tensor A = {0}, B = {0};
    spd_tensor_alloc(&A, SPD_FLOAT, ra, da);
    spd_tensor_alloc(&B, SPD_FLOAT, rb, db);
    fill(A.data, spd_tensor_numel(&A), 4);
    fill(B.data, spd_tensor_numel(&B), 4);
    if (op == 3) /* some exact zero divisors */
        for (int64_t i = 0; i < spd_tensor_numel(&B); i += 17) ((float *)B.data)[i] = 0;
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_node *node = make_node(g, BIN_NAMES[op], "", 2);
    const spd_tensor *ins[2] = {&A, &B};
    spd_tensor Y;
    spd_status s = run_op(node, "", 14, 2, ins, &Y);
    char desc[160];
    snprintf(desc, sizeof desc, "%s rank %d (%lld..) x rank %d (%lld..)", BIN_NAMES[op], ra,
             (long long)(ra ? da[0] : 0), rb, (long long)(rb ? db[0] : 0));
    check(s == SPD_OK, "%s: status %d", desc, (int)s);
    if (s == SPD_OK) {
        const int nd = Y.ndim;
        int64_t idx[SPD_MAX_DIMS] = {0};
        const int64_t n = spd_tensor_numel(&Y);
        int64_t bad = -1;
        float got = 0, want = 0;
        for (int64_t i = 0; i < n && bad < 0; i++) {
            const float x = ((const float *)A.data)[bcast_index(da, ra, nd, idx)];
            const float y = ((const float *)B.data)[bcast_index(db, rb, nd, idx)];
            want = (float)bin_ref(op, x, y);
            got = ((const float *)Y.data)[i];
            if (!same_nan(got, want) || (got == 0 && want == 0 && !signbit(got) != !signbit(want))) bad = i;
            for (int a = nd - 1; a >= 0; a--) {
                if (++idx[a] < Y.dims[a]) break;
                idx[a] = 0;
            }
        }
        check(bad < 0, "%s: element %lld = %g, want %g", desc, (long long)bad, got, want);
    }
    spd_tensor_release(&Y);
    spd_tensor_release(&A);
    spd_tensor_release(&B);
    spd_graph_free(g);
}

static void test_binary(void)
{
    for (int op = 0; op < 6; op++) {
        for (int big = 0; big < 2; big++) {
            const int64_t N = rnd_range(1, 2), C = big ? rnd_range(24, 40) : rnd_range(1, 5);
            const int64_t H = big ? rnd_range(30, 41) : rnd_range(1, 9), W = big ? rnd_range(30, 45) : rnd_range(1, 11);
            const int64_t full[4] = {N, C, H, W};
            const int64_t chan[4] = {1, C, 1, 1}, chan3[3] = {C, 1, 1}, vec[1] = {W}, vec4[4] = {1, 1, 1, W};
            const int64_t scal[1] = {1}, rowb[4] = {N, 1, H, 1}, colb[3] = {C, 1, W}, nb[4] = {N, C, 1, 1};
            for (int swap = 0; swap < 2; swap++) {
#define CASE(rb, db)                                                                                                   \
    do {                                                                                                               \
        if (swap)                                                                                                      \
            run_binary_case(op, rb, db, 4, full);                                                                      \
        else                                                                                                           \
            run_binary_case(op, 4, full, rb, db);                                                                      \
    } while (0)
                CASE(4, full);
                CASE(0, scal);
                CASE(1, scal);
                CASE(4, chan);
                CASE(3, chan3);
                CASE(4, nb);
                CASE(1, vec);
                CASE(4, vec4);
                CASE(4, rowb);
                CASE(3, colb);
#undef CASE
            }
            /* both operands broadcast: [N,1,H,1] x [1,C,1,W] */
            const int64_t l[4] = {N, 1, H, 1}, r[4] = {1, C, 1, W};
            run_binary_case(op, 4, l, 4, r);
        }
        /* long flat runs split inside the run, odd lengths */
        const int64_t n1[1] = {rnd_range(140000, 180000) | 1}, s1[1] = {1};
        run_binary_case(op, 1, n1, 1, n1);
        run_binary_case(op, 1, n1, 1, s1);
        run_binary_case(op, 1, s1, 1, n1);
        const int64_t m2[2] = {4, 40001}, v2[1] = {40001}, c2[2] = {4, 1};
        run_binary_case(op, 2, m2, 1, v2);
        run_binary_case(op, 2, c2, 2, m2);
        /* bert's bias add: many short rows */
        const int64_t m3[3] = {1, 128, 768}, v3[1] = {768}, m4[3] = {1, 128, 3072}, v4[1] = {3072};
        run_binary_case(op, 3, m3, 1, v3);
        run_binary_case(op, 3, m4, 1, v4);
        /* tiny */
        for (int64_t n = 0; n <= 17; n++) {
            const int64_t t[1] = {n};
            run_binary_case(op, 1, t, 1, t);
            run_binary_case(op, 1, t, 0, s1);
        }
    }
}

/* Sum and Max of 2 and 3 inputs (the in-place fold). */
static void test_variadic(void)
{
    const int64_t d0[3] = {2, 33, 700}, d1[1] = {700}, d2[3] = {2, 33, 1};
    spd_tensor T[3] = {{0}};
    spd_tensor_alloc(&T[0], SPD_FLOAT, 3, d0);
    spd_tensor_alloc(&T[1], SPD_FLOAT, 1, d1);
    spd_tensor_alloc(&T[2], SPD_FLOAT, 3, d2);
    for (int k = 0; k < 3; k++) fill(T[k].data, spd_tensor_numel(&T[k]), 3);
    for (int op = 0; op < 2; op++) {
        for (int nin = 2; nin <= 3; nin++) {
            spd_graph *g = spd_calloc(1, sizeof *g);
            spd_node *node = make_node(g, op ? "Max" : "Sum", "", nin);
            const spd_tensor *ins[3] = {&T[0], &T[1], &T[2]};
            spd_tensor Y;
            spd_status s = run_op(node, "", 13, nin, ins, &Y);
            check(s == SPD_OK, "variadic %d %d: status %d", op, nin, (int)s);
            int64_t bad = -1;
            for (int64_t i = 0; s == SPD_OK && i < spd_tensor_numel(&Y) && bad < 0; i++) {
                const int64_t c = i % 700, r = i / 700;
                double v = ((float *)T[0].data)[i];
                v = bin_ref(op ? 4 : 0, (float)v, ((float *)T[1].data)[c]);
                if (nin > 2) v = bin_ref(op ? 4 : 0, (float)v, ((float *)T[2].data)[r]);
                if (!same_nan(((float *)Y.data)[i], (float)v)) bad = i;
            }
            check(bad < 0, "%s of %d inputs: element %lld differs", op ? "Max" : "Sum", nin, (long long)bad);
            spd_tensor_release(&Y);
            spd_graph_free(g);
        }
    }
    for (int k = 0; k < 3; k++) spd_tensor_release(&T[k]);
}

/* ---- unary ---- */

typedef struct un_case {
    const char *op, *domain;
    int64_t opset;
    double (*ref)(double x, const float *attr);
    float attr[2];
    const char *attr_name[2];
    const char *approx; /* Gelu's approximate attribute */
    double ulps;        /* 0: exact */
    double abs_tol;
} un_case;

static double r_relu(double x, const float *a) { return (void)a, x < 0 ? 0 : x; }
static double r_leaky(double x, const float *a) { return x < 0 ? a[0] * (float)x : x; }
static double r_sigmoid(double x, const float *a) { return (void)a, 1 / (1 + exp(-x)); }
static double r_tanh(double x, const float *a) { return (void)a, tanh(x); }
static double r_hsig(double x, const float *a)
{
    const double v = a[0] * x + a[1];
    return v != v ? v : v < 0 ? 0 : v > 1 ? 1 : v;
}
static double r_hswish(double x, const float *a)
{
    (void)a;
    const double v = x / 6 + 0.5;
    return x * (v < 0 ? 0 : v > 1 ? 1 : v);
}
static double r_hswish_ab(double x, const float *a) { return x * r_hsig(x, a); }
static double r_clip(double x, const float *a)
{
    const double v = x < a[0] ? a[0] : x;
    return v > a[1] ? a[1] : v;
}
static double r_exp(double x, const float *a) { return (void)a, exp(x); }
static double r_erf(double x, const float *a) { return (void)a, erf(x); }
static double r_neg(double x, const float *a) { return (void)a, -x; }
static double r_abs(double x, const float *a) { return (void)a, fabs(x); }
static double r_recip(double x, const float *a) { return (void)a, 1 / x; }
static double r_gelu(double x, const float *a) { return (void)a, 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double r_gelu_tanh(double x, const float *a)
{
    (void)a;
    return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
static double r_quick(double x, const float *a) { return x / (1 + exp(-(double)(a[0] * (float)x))); }

/* Is got an acceptable float32 result for the double reference want? */
static int close_enough(float got, double want, const un_case *c)
{
    const float w = (float)want;
    if (same_nan(got, w)) return 1;
    if (c->ulps == 0) return 0;
    if (isinf(w) || isinf(got)) return 0;
    return ulp_diff(got, w) <= c->ulps || fabs((double)got - want) <= c->abs_tol;
}

static void run_unary_case(const un_case *c, int64_t n)
{
    spd_tensor X = {0};
    const int64_t d[2] = {n > 3 ? 3 : 1, n > 3 ? n / 3 : n};
    spd_tensor_alloc(&X, SPD_FLOAT, 2, d);
    const int64_t m = spd_tensor_numel(&X);
    fill(X.data, m, 8);
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_node *node = make_node(g, c->op, c->domain, 1);
    for (int k = 0; k < 2; k++)
        if (c->attr_name[k]) spd_node_set_float(node, c->attr_name[k], c->attr[k]);
    if (c->approx) spd_node_set_string(node, "approximate", c->approx);
    const spd_tensor *ins[1] = {&X};
    spd_tensor Y;
    spd_status s = run_op(node, c->domain, c->opset, 1, ins, &Y);
    check(s == SPD_OK, "%s n=%lld: status %d", c->op, (long long)m, (int)s);
    int64_t bad = -1;
    for (int64_t i = 0; s == SPD_OK && i < m && bad < 0; i++) {
        const float x = ((const float *)X.data)[i];
        if (!close_enough(((const float *)Y.data)[i], c->ref(x, c->attr), c)) bad = i;
    }
    check(bad < 0, "%s%s%s n=%lld: y(%g) = %g, want %g", c->op, c->approx ? " " : "", c->approx ? c->approx : "",
          (long long)m, bad >= 0 ? ((const float *)X.data)[bad] : 0.0f, bad >= 0 ? ((const float *)Y.data)[bad] : 0.0f,
          bad >= 0 ? c->ref(((const float *)X.data)[bad], c->attr) : 0.0);
    spd_tensor_release(&Y);
    spd_tensor_release(&X);
    spd_graph_free(g);
}

static void test_unary(void)
{
    const un_case cases[] = {
        {"Relu", "", 14, r_relu, {0}, {0}, NULL, 0, 0},
        {"LeakyRelu", "", 16, r_leaky, {0.1f, 0}, {"alpha", NULL}, NULL, 0, 0},
        {"Sigmoid", "", 13, r_sigmoid, {0}, {0}, NULL, 4, 1e-7},
        {"Tanh", "", 13, r_tanh, {0}, {0}, NULL, 4, 1e-7},
        {"HardSigmoid", "", 6, r_hsig, {0.3f, 0.4f}, {"alpha", "beta"}, NULL, 2, 1e-7},
        {"HardSwish", "", 14, r_hswish, {0}, {0}, NULL, 2, 1e-7},
        /* x HardSigmoid(x) fused (passes/fuse_silu.c) */
        {"HardSwish", "ai.speedster", 1, r_hswish_ab, {1.0f / 6, 0.5f}, {"alpha", "beta"}, NULL, 2, 1e-7},
        {"HardSwish", "ai.speedster", 1, r_hswish_ab, {0.3f, 0.4f}, {"alpha", "beta"}, NULL, 2, 1e-7},
        {"Clip", "", 6, r_clip, {-1.5f, 2.5f}, {"min", "max"}, NULL, 0, 0},
        {"Exp", "", 13, r_exp, {0}, {0}, NULL, 3, 0},
        {"Erf", "", 13, r_erf, {0}, {0}, NULL, 3, 1e-7},
        {"Neg", "", 13, r_neg, {0}, {0}, NULL, 0, 0},
        {"Abs", "", 13, r_abs, {0}, {0}, NULL, 0, 0},
        {"Reciprocal", "", 13, r_recip, {0}, {0}, NULL, 0, 0},
        {"Gelu", "", 20, r_gelu, {0}, {0}, NULL, 4, 1e-7},
        /* 1 + tanh(u) cancels for u << 0 in float: absolute error ~ |x| 3e-8 */
        {"Gelu", "", 20, r_gelu_tanh, {0}, {0}, "tanh", 8, 1e-6},
        {"Gelu", "com.microsoft", 1, r_gelu, {0}, {0}, NULL, 4, 1e-7},
        {"QuickGelu", "com.microsoft", 1, r_quick, {1.702f, 0}, {"alpha", NULL}, NULL, 4, 1e-7},
        {"QuickGelu", "com.microsoft", 1, r_quick, {1.0f, 0}, {"alpha", NULL}, NULL, 4, 1e-7},
        {"FastGelu", "com.microsoft", 1, r_gelu_tanh, {0}, {0}, NULL, 8, 1e-6},
    };
    const int64_t sizes[] = {1, 2, 7, 8, 9, 17, 33, 1000, 40001, 200003};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) run_unary_case(&cases[c], sizes[k]);
}

/* FastGelu with its bias and FusedConv's QuickGelu/Gelu epilogues. */
static void test_fused(void)
{
    const int64_t xd[2] = {rnd_range(50, 90), 771}, bd[1] = {771};
    spd_tensor X = {0}, B = {0};
    spd_tensor_alloc(&X, SPD_FLOAT, 2, xd);
    spd_tensor_alloc(&B, SPD_FLOAT, 1, bd);
    fill(X.data, spd_tensor_numel(&X), 5);
    fill(B.data, 771, 1);
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_node *node = make_node(g, "FastGelu", "com.microsoft", 2);
    const spd_tensor *ins[2] = {&X, &B};
    spd_tensor Y;
    spd_status s = run_op(node, "com.microsoft", 1, 2, ins, &Y);
    check(s == SPD_OK, "FastGelu with bias: status %d", (int)s);
    const un_case c = {"FastGelu", "", 0, r_gelu_tanh, {0}, {0}, NULL, 8, 1e-6};
    int64_t bad = -1;
    for (int64_t i = 0; s == SPD_OK && i < spd_tensor_numel(&X) && bad < 0; i++) {
        const float v = ((float *)X.data)[i] + ((float *)B.data)[i % 771];
        if (!close_enough(((float *)Y.data)[i], r_gelu_tanh(v, NULL), &c)) bad = i;
    }
    check(bad < 0, "FastGelu with bias: element %lld differs", (long long)bad);
    spd_tensor_release(&Y);
    spd_graph_free(g);

    /* 1x1 FusedConv = Conv, then the activation */
    const int64_t cx[4] = {1, 5, 7, 9}, cw[4] = {6, 5, 1, 1};
    spd_tensor CX = {0}, CW = {0};
    spd_tensor_alloc(&CX, SPD_FLOAT, 4, cx);
    spd_tensor_alloc(&CW, SPD_FLOAT, 4, cw);
    for (int64_t i = 0; i < spd_tensor_numel(&CX); i++) ((float *)CX.data)[i] = rnd_float() * 3;
    for (int64_t i = 0; i < spd_tensor_numel(&CW); i++) ((float *)CW.data)[i] = rnd_float();
    const char *acts[2] = {"QuickGelu", "Gelu"};
    for (int a = 0; a < 2; a++) {
        g = spd_calloc(1, sizeof *g);
        make_node(g, "Conv", "", 2);
        make_node(g, "FusedConv", "com.microsoft", 2);
        spd_node *conv = &g->nodes[0], *fused = &g->nodes[1]; /* after both adds: the array may move */
        spd_node_set_string(fused, "activation", acts[a]);
        const float alpha = 1.5f;
        if (a == 0) spd_node_set_floats(fused, "activation_params", &alpha, 1);
        const spd_tensor *cins[2] = {&CX, &CW};
        spd_tensor Yc, Yf;
        spd_status s1 = run_op(conv, "", 11, 2, cins, &Yc), s2 = run_op(fused, "com.microsoft", 1, 2, cins, &Yf);
        check(s1 == SPD_OK && s2 == SPD_OK, "FusedConv %s: status %d %d", acts[a], (int)s1, (int)s2);
        const un_case fc = {"", "", 0, a ? r_gelu : r_quick, {alpha, 0}, {0}, NULL, 4, 1e-7};
        bad = -1;
        for (int64_t i = 0; s1 == SPD_OK && s2 == SPD_OK && i < spd_tensor_numel(&Yc) && bad < 0; i++)
            if (!close_enough(((float *)Yf.data)[i], fc.ref(((float *)Yc.data)[i], fc.attr), &fc)) bad = i;
        check(bad < 0, "FusedConv %s: element %lld differs", acts[a], (long long)bad);
        spd_tensor_release(&Yc);
        spd_tensor_release(&Yf);
        spd_graph_free(g);
    }
    spd_tensor_release(&CX);
    spd_tensor_release(&CW);
    spd_tensor_release(&X);
    spd_tensor_release(&B);
}

/* A fused Relu, as FusedConv's (and ONNX Runtime's): NaN -> 0. */
static double r_relu_fused(double x, const float *a) { return (void)a, x > 0 ? x : 0; }

/* ai.speedster ChannelAffine (an unfolded BatchNormalization): act(x s[c] +
 * t[c]) over [N, C, ...] with each activation, planes of 1 to 3000 values
 * (vector tails, tasks of whole planes), NaN and inf among the inputs. */
static void test_channel_affine(void)
{
    static const struct { const char *act; double (*ref)(double, const float *); float p[2]; int np; } acts[] = {
        {"", NULL, {0}, 0},           {"Relu", r_relu_fused, {0}, 0},         {"Clip", r_clip, {-0.5f, 2.0f}, 2},
        {"Sigmoid", r_sigmoid, {0}, 0}, {"HardSwish", r_hswish_ab, {1.0f / 6, 0.5f}, 2},
    };
    static const int64_t shapes[][4] = {{1, 5, 1, 1}, {2, 3, 5, 7}, {1, 64, 56, 56}, {3, 17, 1, 31}, {1, 2, 3000, 1}};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const int64_t C = shapes[k][1];
            spd_tensor X = {0}, S = {0}, T = {0};
            spd_tensor_alloc(&X, SPD_FLOAT, 4, shapes[k]);
            spd_tensor_alloc(&S, SPD_FLOAT, 1, &C);
            spd_tensor_alloc(&T, SPD_FLOAT, 1, &C);
            fill(X.data, spd_tensor_numel(&X), 4);
            for (int64_t c = 0; c < C; c++) ((float *)S.data)[c] = rnd_float() * 2, ((float *)T.data)[c] = rnd_float();
            spd_graph *g = spd_calloc(1, sizeof *g);
            spd_node *node = make_node(g, "ChannelAffine", "ai.speedster", 3);
            if (acts[a].act[0]) spd_node_set_string(node, "activation", acts[a].act);
            if (acts[a].np) spd_node_set_floats(node, "activation_params", acts[a].p, (size_t)acts[a].np);
            const spd_tensor *ins[3] = {&X, &S, &T};
            spd_tensor Y;
            const spd_status s = run_op(node, "ai.speedster", 1, 3, ins, &Y);
            check(s == SPD_OK, "ChannelAffine %s: status %d", acts[a].act, (int)s);
            const un_case c = {"ChannelAffine", "", 0, NULL, {0}, {0}, NULL, 4, 1e-6};
            const int64_t plane = shapes[k][2] * shapes[k][3];
            int64_t bad = -1;
            for (int64_t i = 0; s == SPD_OK && i < spd_tensor_numel(&X) && bad < 0; i++) {
                const int64_t ch = i / plane % C;
                const float v = ((float *)X.data)[i] * ((float *)S.data)[ch] + ((float *)T.data)[ch];
                const double want = acts[a].ref ? acts[a].ref(v, acts[a].p) : v;
                if (!close_enough(((float *)Y.data)[i], want, &c)) bad = i;
            }
            check(bad < 0, "ChannelAffine %s [%lld, %lld, %lld, %lld]: element %lld = %g", acts[a].act,
                  (long long)shapes[k][0], (long long)C, (long long)shapes[k][2], (long long)shapes[k][3],
                  (long long)bad, bad >= 0 ? ((float *)Y.data)[bad] : 0.0f);
            if (s == SPD_OK) spd_tensor_release(&Y);
            spd_graph_free(g);
            spd_tensor_release(&X);
            spd_tensor_release(&S);
            spd_tensor_release(&T);
        }
}

/* Resize over the last two axes (the float32 path of ops/resize.c) against
 * the same operator on float64 input (the generic path, in double):
 * bilinear in each coordinate mode and nearest in each rounding, up and
 * down, 2x and odd factors, one row or column. */
static void test_resize(void)
{
    static const char *const ctms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"};
    static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    /* the last three double both axes (the nearest path's 2x copies: a
     * tail of 5, a whole vector and one of 7) */
    static const int64_t shapes[][4] = {{1, 21, 28, 28}, {2, 3, 7, 9}, {1, 2, 20, 30}, {1, 1, 1, 5},
                                        {1, 3, 6, 1},    {1, 3, 20, 21}, {2, 2, 5, 16}, {1, 1, 3, 7}};
    static const int64_t sizes[][2] = {{224, 224}, {16, 20}, {7, 11}, {3, 12}, {13, 4}, {40, 42}, {10, 32}, {6, 14}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int m = 0; m < 8; m++) {
            spd_tensor Xf = {0}, Xd = {0}, S = {0};
            spd_tensor_alloc(&Xf, SPD_FLOAT, 4, shapes[k]);
            spd_tensor_alloc(&Xd, SPD_DOUBLE, 4, shapes[k]);
            const int64_t four = 4;
            spd_tensor_alloc(&S, SPD_INT64, 1, &four);
            const int64_t want[4] = {shapes[k][0], shapes[k][1], sizes[k][0], sizes[k][1]};
            memcpy(S.data, want, sizeof want);
            for (int64_t i = 0; i < spd_tensor_numel(&Xf); i++)
                ((double *)Xd.data)[i] = ((float *)Xf.data)[i] = rnd_float() * 4;
            spd_graph *g = spd_calloc(1, sizeof *g);
            spd_node *node = make_node(g, "Resize", "", 4);
            spd_node_set_string(node, "mode", m < 4 ? "linear" : "nearest");
            spd_node_set_string(node, "coordinate_transformation_mode", ctms[m % 4]);
            if (m >= 4) spd_node_set_string(node, "nearest_mode", nearest[m % 4]);
            const spd_tensor *inf[4] = {&Xf, NULL, NULL, &S}, *ind[4] = {&Xd, NULL, NULL, &S};
            spd_tensor Yf, Yd;
            const spd_status s1 = run_op(node, "", 13, 4, inf, &Yf), s2 = run_op(node, "", 13, 4, ind, &Yd);
            check(s1 == SPD_OK && s2 == SPD_OK, "Resize %s: status %d %d", ctms[m % 4], (int)s1, (int)s2);
            int64_t bad = -1;
            const un_case c = {"Resize", "", 0, NULL, {0}, {0}, NULL, 4, 1e-6};
            for (int64_t i = 0; s1 == SPD_OK && s2 == SPD_OK && i < spd_tensor_numel(&Yd) && bad < 0; i++)
                if (!close_enough(((float *)Yf.data)[i], ((double *)Yd.data)[i], &c)) bad = i;
            check(s1 == SPD_OK && s2 == SPD_OK && spd_tensor_numel(&Yf) == spd_tensor_numel(&Yd) && bad < 0,
                  "Resize %s %s [%lld, %lld] -> [%lld, %lld]: element %lld differs", m < 4 ? "linear" : "nearest",
                  m < 4 ? ctms[m % 4] : nearest[m % 4], (long long)shapes[k][2], (long long)shapes[k][3],
                  (long long)sizes[k][0], (long long)sizes[k][1], (long long)bad);
            if (s1 == SPD_OK) spd_tensor_release(&Yf);
            if (s2 == SPD_OK) spd_tensor_release(&Yd);
            spd_graph_free(g);
            spd_tensor_release(&Xf);
            spd_tensor_release(&Xd);
            spd_tensor_release(&S);
        }
}

/* ---- pools ---- */

typedef struct pool_case {
    const char *op;
    int nd;
    int64_t N, C, in[2], k[2], s[2], d[2], pads[4];
    int include_pad, ceil_mode;
} pool_case;

static void run_pool_case(const pool_case *c)
{
    spd_tensor Xf = {0}, Xd = {0};
    int64_t xd[4] = {c->N, c->C, c->in[0], c->in[1]};
    spd_tensor_alloc(&Xf, SPD_FLOAT, 2 + c->nd, xd);
    spd_tensor_alloc(&Xd, SPD_DOUBLE, 2 + c->nd, xd);
    const int64_t n = spd_tensor_numel(&Xf);
    fill(Xf.data, n, 10);
    for (int64_t i = 0; i < n; i++) ((double *)Xd.data)[i] = ((float *)Xf.data)[i];
    spd_graph *g = spd_calloc(1, sizeof *g);
    spd_node *node = make_node(g, c->op, "", 1);
    if (strncmp(c->op, "Global", 6)) {
        int64_t pads[4] = {c->pads[0], c->pads[1], c->pads[2], c->pads[3]};
        if (c->nd == 1) pads[1] = c->pads[2];
        spd_node_set_ints(node, "kernel_shape", c->k, c->nd);
        spd_node_set_ints(node, "strides", c->s, c->nd);
        spd_node_set_ints(node, "dilations", c->d, c->nd);
        spd_node_set_ints(node, "pads", pads, 2 * c->nd);
        spd_node_set_int(node, "count_include_pad", c->include_pad);
        spd_node_set_int(node, "ceil_mode", c->ceil_mode);
    }
    const spd_tensor *inf[1] = {&Xf}, *ind[1] = {&Xd};
    spd_tensor of, od;
    spd_status s1 = run_op(node, "", 19, 1, inf, &of), s2 = run_op(node, "", 19, 1, ind, &od);
    char desc[200];
    snprintf(desc, sizeof desc, "%s %dD N%lld C%lld %lldx%lld k%lldx%lld s%lldx%lld d%lldx%lld p%lld,%lld,%lld,%lld inc%d ceil%d",
             c->op, c->nd, (long long)c->N, (long long)c->C, (long long)c->in[0], (long long)c->in[1],
             (long long)c->k[0], (long long)c->k[1], (long long)c->s[0], (long long)c->s[1], (long long)c->d[0],
             (long long)c->d[1], (long long)c->pads[0], (long long)c->pads[1], (long long)c->pads[2],
             (long long)c->pads[3], c->include_pad, c->ceil_mode);
    check(s1 == SPD_OK && s2 == SPD_OK, "%s: status %d %d", desc, (int)s1, (int)s2);
    if (s1 == SPD_OK && s2 == SPD_OK) {
        const int64_t m = spd_tensor_numel(&od);
        int64_t bad = spd_tensor_numel(&of) != m ? 0 : -1;
        for (int64_t i = 0; i < m && bad < 0; i++) {
            const float a = ((float *)of.data)[i], b = (float)((double *)od.data)[i];
            if (!(same_nan(a, b) || fabsf(a - b) <= 1e-6f * (1 + fabsf(b)))) bad = i;
        }
        check(bad < 0, "%s: element %lld = %g, want %g", desc, (long long)bad,
              bad >= 0 && bad < spd_tensor_numel(&of) ? ((float *)of.data)[bad] : 0.0f,
              bad >= 0 && bad < m ? ((double *)od.data)[bad] : 0.0);
    }
    spd_tensor_release(&of);
    spd_tensor_release(&od);
    spd_tensor_release(&Xf);
    spd_tensor_release(&Xd);
    spd_graph_free(g);
}

static void test_pool(void)
{
    for (int i = 0; i < 120; i++) {
        pool_case c = {i % 2 ? "MaxPool" : "AveragePool", i % 5 == 4 ? 1 : 2, 1, 1, {1, 1}, {1, 1}, {1, 1}, {1, 1},
                       {0, 0, 0, 0}, (int)(rnd() % 2), (int)(rnd() % 2)};
        c.N = rnd_range(1, 2);
        c.C = i % 10 == 0 ? rnd_range(20, 40) : rnd_range(1, 4);
        for (int a = 0; a < c.nd; a++) {
            c.k[a] = rnd_range(1, 5);
            c.s[a] = rnd_range(1, 3);
            c.d[a] = i % 3 == 0 ? rnd_range(1, 3) : 1;
            const int64_t ek = (c.k[a] - 1) * c.d[a] + 1;
            c.pads[a] = rnd_range(0, (ek - 1) < 2 ? ek - 1 : 2);
            c.pads[a + 2] = rnd_range(0, (ek - 1) < 2 ? ek - 1 : 2);
            c.in[a] = rnd_range(ek, i % 10 == 0 ? 60 : 30);
        }
        run_pool_case(&c);
    }
    /* squeezenet's and resnet's */
    const pool_case fixed[] = {
        {"MaxPool", 2, 1, 64, {111, 111}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}, 0, 1},
        {"MaxPool", 2, 1, 64, {112, 112}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 0, 0},
        {"AveragePool", 2, 1, 32, {35, 35}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 0, 0},
        {"AveragePool", 2, 1, 32, {35, 35}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, 0},
        {"MaxPool", 2, 1, 3, {5, 3000}, {2, 3}, {1, 2}, {1, 1}, {0, 1, 1, 1}, 0, 1},
        {"GlobalAveragePool", 2, 1, 96, {112, 112}, {0}, {0}, {0}, {0}, 0, 0},
        {"GlobalMaxPool", 2, 2, 37, {13, 9}, {0}, {0}, {0}, {0}, 0, 0},
        {"GlobalAveragePool", 2, 1, 1280, {7, 7}, {0}, {0}, {0}, {0}, 0, 0},
        {"GlobalMaxPool", 1, 1, 3, {1, 1}, {0}, {0}, {0}, {0}, 0, 0},
        {"GlobalAveragePool", 1, 2, 5, {101, 1}, {0}, {0}, {0}, {0}, 0, 0},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) run_pool_case(&fixed[i]);
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
            test_binary();
            test_variadic();
            test_unary();
            test_fused();
            test_channel_affine();
            test_resize();
            test_pool();
        }
    }
    return test_summary();
}
