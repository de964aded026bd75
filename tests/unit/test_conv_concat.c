/* Tests of ai.speedster ConvConcat (ops/conv_concat.c) against its
 * definition: each branch run alone as a FusedConv, the outputs put side
 * by side along the channels, image by image.
 *  - squeezenet's fire expand (1x1 and 3x3), three branches of different
 *    widths (one without bias), stride 2, a grouped and a depthwise branch,
 *    a 3x3 branch large enough for Winograd;
 *  - 1 to 4 images, 1 to 3 threads (batches split over the threads and
 *    not), weights prepared and not, every GEMM kernel this CPU runs (the
 *    plain-C one with the plain-C Winograd output transform);
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
#include "ops/conv_wino.h"
#include "ops/sgemm_fast.h"
#include "passes/passes.h"
#include "speedster.h"
#include "util/alloc.h"
#include "util/scratch.h"

#define TEST_SEED 0x2545F4914F6CDD1Dull
#include "test_util.h"
#include "test_tensor.h"

#define MAXB 3

typedef struct branch {
    int64_t M, k, s, pad, group;
    int bias;
    const char *act; /* "" or "Relu" */
} branch;

typedef struct cc_case {
    int64_t C, H, W;
    int n;
    branch b[MAXB];
} cc_case;

static void set_conv_attrs(spd_node *node, const char *prefix, const branch *b)
{
    char name[64];
    const int64_t k[2] = {b->k, b->k}, s[2] = {b->s, b->s}, p[4] = {b->pad, b->pad, b->pad, b->pad};
    snprintf(name, sizeof name, "%skernel_shape", prefix);
    spd_node_set_ints(node, name, k, 2);
    snprintf(name, sizeof name, "%sstrides", prefix);
    spd_node_set_ints(node, name, s, 2);
    snprintf(name, sizeof name, "%spads", prefix);
    spd_node_set_ints(node, name, p, 4);
    snprintf(name, sizeof name, "%sgroup", prefix);
    spd_node_set_int(node, name, b->group);
    if (b->act[0]) {
        snprintf(name, sizeof name, "%sactivation", prefix);
        spd_node_set_string(node, name, b->act);
    }
}

/* Runs op (domain, type) on node with inputs in (consts for its prepare
 * hook when prepared); the output into *out. */
static spd_status run_node(const char *domain, const char *type, const spd_node *node, int n_in,
                           const spd_tensor *const *in, int prepared, spd_tensor *out, spd_sgemm_isa isa)
{
    const spd_op_def *d = spd_op_find(domain, type, 1);
    if (!d) return SPD_ERR_UNSUPPORTED;
    void *state = NULL;
    void (*state_free)(void *) = NULL;
    if (prepared && d->prepare) {
        const spd_tensor *consts[1 + 2 * MAXB] = {NULL};
        for (int i = 1; i < n_in; i++) consts[i] = in[i];
        d->prepare(node, 1, n_in, consts, &state, &state_free);
    }
    spd_sgemm_set_isa(isa);
    memset(out, 0, sizeof *out);
    spd_op_ctx ctx = {node, 1, n_in, in, 1, out, NULL, state};
    const spd_status st = d->run(&ctx);
    if (state_free) state_free(state);
    return st;
}

static void run_case(const cc_case *c, int64_t N)
{
    const int64_t xd[4] = {N, c->C, c->H, c->W};
    spd_tensor X = test_rand_tensor(4, xd), W[MAXB], B[MAXB];
    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[1 + 2 * MAXB] = {"x"}, *outs[1] = {"y"};
    static const char *wn[MAXB] = {"w0", "w1", "w2"}, *bn[MAXB] = {"b0", "b1", "b2"};
    const spd_tensor *in[1 + 2 * MAXB] = {&X};
    for (int i = 0; i < c->n; i++) {
        const int64_t wd[4] = {c->b[i].M, c->C / c->b[i].group, c->b[i].k, c->b[i].k}, bd[1] = {c->b[i].M};
        W[i] = test_rand_tensor(4, wd);
        B[i] = test_rand_tensor(1, bd);
        ins[1 + 2 * i] = wn[i];
        ins[2 + 2 * i] = c->b[i].bias ? bn[i] : "";
        in[1 + 2 * i] = &W[i];
        in[2 + 2 * i] = c->b[i].bias ? &B[i] : NULL;
    }
    int idx = 0, bidx[MAXB];
    spd_graph_add_node(g, "ConvConcat", "ai.speedster", "cc", 1 + 2 * c->n, ins, 1, outs, &idx);
    for (int i = 0; i < c->n; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "b%d_", i);
        set_conv_attrs(&g->nodes[idx], prefix, &c->b[i]);
        const char *bins[3] = {"x", wn[i], ins[2 + 2 * i]}, *bouts[1] = {"yb"};
        spd_graph_add_node(g, "FusedConv", "com.microsoft", "one", 3, bins, 1, bouts, &bidx[i]);
        set_conv_attrs(&g->nodes[bidx[i]], "", &c->b[i]);
    }
    /* the definition: each branch alone at 1 thread, side by side */
    spd_set_num_threads(1);
    spd_tensor want[MAXB];
    memset(want, 0, sizeof want);
    int64_t total = 0, plane = 0;
    bool ok = true;
    for (int i = 0; i < c->n; i++) {
        const spd_tensor *bin[3] = {&X, &W[i], in[2 + 2 * i]};
        ok = ok && run_node("com.microsoft", "FusedConv", &g->nodes[bidx[i]], 3, bin, 0, &want[i],
                            spd_sgemm_isa_best()) == SPD_OK;
        if (!ok) break;
        total += want[i].dims[1];
        plane = want[i].dims[2] * want[i].dims[3];
    }
    check(ok, "C%lld %lldx%lld N%lld: the branches alone run (%s)", (long long)c->C, (long long)c->H,
          (long long)c->W, (long long)N, spd_last_error());
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int threads = 1; ok && threads <= 3; threads++)
        for (int prepared = 0; prepared < 2; prepared++)
            for (int isa = (int)best; isa >= 0; isa--) {
            /* every GEMM kernel this CPU runs, and the plain-C Winograd
             * output transform with the reference GEMM */
            spd_set_num_threads(threads);
            spd_sgemm_set_isa(best);
            spd_conv_wino_force_scalar(isa == 0);
            spd_tensor out;
            if (prepared) spd_sgemm_set_isa(best); /* weights packed for the best kernel, as in a plan */
            const spd_status st =
                run_node("ai.speedster", "ConvConcat", &g->nodes[idx], 1 + 2 * c->n, in, prepared, &out, (spd_sgemm_isa)isa);
            check(st == SPD_OK, "N%lld threads %d prepared %d: status %d (%s)", (long long)N, threads, prepared, (int)st,
                  spd_last_error());
            if (st == SPD_OK && out.dims[0] == N && out.dims[1] == total) {
                const float *y = out.data;
                double worst = 0;
                for (int64_t n = 0; n < N; n++)
                    for (int i = 0, at = 0; i < c->n; at += (int)want[i].dims[1], i++) {
                        const int64_t m = want[i].dims[1];
                        const float *w = (const float *)want[i].data + n * m * plane;
                        const float *o = y + (n * total + at) * plane;
                        for (int64_t e = 0; e < m * plane; e++) {
                            const double d = isnan(o[e]) ? INFINITY : fabs(o[e] - w[e]) / (fabs(w[e]) + 1.0);
                            if (d > worst) worst = d;
                        }
                    }
                check(worst <= 1e-5, "C%lld %lldx%lld N%lld threads %d prepared %d %s: error %.3g", (long long)c->C,
                      (long long)c->H, (long long)c->W, (long long)N, threads, prepared,
                      spd_sgemm_isa_name((spd_sgemm_isa)isa), worst);
            } else if (st == SPD_OK) {
                check(0, "N%lld: output dims %lld x %lld, want %lld x %lld", (long long)N, (long long)out.dims[0],
                      (long long)out.dims[1], (long long)N, (long long)total);
            }
            spd_tensor_release(&out);
        }
    spd_set_num_threads(0);
    spd_sgemm_set_isa(best);
    spd_conv_wino_force_scalar(false);
    for (int i = 0; i < c->n; i++) {
        spd_tensor_release(&want[i]);
        spd_tensor_release(&W[i]);
        spd_tensor_release(&B[i]);
    }
    spd_tensor_release(&X);
    spd_graph_free(g);
}

/* A bad node gets an error whose message holds needle, not a crash. */
static void bad_case(const char *what, int n_in, const branch *b0, const branch *b1, const char *needle)
{
    const int64_t xd[4] = {1, 8, 9, 9};
    spd_tensor X = test_rand_tensor(4, xd), W0, W1;
    const int64_t w0d[4] = {b0->M, 8, b0->k, b0->k}, w1d[4] = {b1->M, 8, b1->k, b1->k};
    W0 = test_rand_tensor(4, w0d);
    W1 = test_rand_tensor(4, w1d);
    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[5] = {"x", "w0", "", "w1", ""}, *outs[1] = {"y"};
    int idx = 0;
    spd_graph_add_node(g, "ConvConcat", "ai.speedster", "cc", n_in, ins, 1, outs, &idx);
    set_conv_attrs(&g->nodes[idx], "b0_", b0);
    set_conv_attrs(&g->nodes[idx], "b1_", b1);
    const spd_tensor *in[5] = {&X, &W0, NULL, &W1, NULL};
    spd_tensor out;
    const spd_status st = run_node("ai.speedster", "ConvConcat", &g->nodes[idx], n_in, in, 1, &out, spd_sgemm_isa_best());
    check(st != SPD_OK && strstr(spd_last_error(), needle), "%s: status %d, message '%s' lacks '%s'", what, (int)st,
          spd_last_error(), needle);
    spd_tensor_release(&out);
    spd_tensor_release(&X);
    spd_tensor_release(&W0);
    spd_tensor_release(&W1);
    spd_graph_free(g);
}

int main(void)
{
    const cc_case cases[] = {
        /* squeezenet's fire expands */
        {16, 13, 11, 2, {{24, 1, 1, 0, 1, 1, "Relu"}, {24, 3, 1, 1, 1, 1, "Relu"}}},
        /* a 3x3 branch wide enough for Winograd, and three branches */
        {32, 14, 13, 2, {{64, 3, 1, 1, 1, 1, "Relu"}, {48, 1, 1, 0, 1, 0, ""}}},
        {12, 9, 10, 3, {{8, 1, 1, 0, 1, 1, ""}, {16, 3, 1, 1, 1, 0, "Relu"}, {5, 5, 1, 2, 1, 1, "Relu"}}},
        /* stride 2 (3x3 and 1x1), grouped, depthwise */
        {16, 15, 14, 2, {{32, 3, 2, 1, 1, 1, "Relu"}, {16, 1, 2, 0, 1, 1, ""}}},
        {16, 11, 11, 2, {{16, 3, 1, 1, 16, 1, "Relu"}, {32, 3, 1, 1, 2, 1, ""}}},
        /* big enough that batches split over the threads */
        {64, 28, 28, 2, {{64, 1, 1, 0, 1, 1, "Relu"}, {64, 3, 1, 1, 1, 1, "Relu"}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int64_t N = 1; N <= 4; N++) run_case(&cases[i], N);
    const branch one = {8, 1, 1, 0, 1, 0, ""}, three = {8, 3, 1, 0, 1, 0, ""};
    bad_case("an even input count", 4, &one, &one, "inputs");
    bad_case("outputs of different sizes", 5, &one, &three, "branch 1");
    bad_case("a kernel_shape that is not W's", 5, &one, &(branch){8, 1, 1, 0, 2, 0, ""}, "branch 1");
    g_checks++;
    if (spd_alloc_current() - spd_scratch_held() != 0) { /* the threads' scratch goes when they do */
        printf("FAIL %zu bytes still allocated\n", spd_alloc_current() - spd_scratch_held());
        g_failed++;
    }
    return test_summary();
}
