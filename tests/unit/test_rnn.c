/* The float32 fast path of RNN, GRU and LSTM (input projection as one GEMM,
 * the small-batch recurrent product, vector gates) against the same
 * operator on float64 input, which takes the reference path, on every ISA
 * this CPU runs: random sequence lengths, batches, input and hidden sizes
 * (odd ones, ones that are not multiples of 8 or 64, and the 64-wide blocks
 * of the AVX2 product), both directions, with and without biases and
 * initial states, batch-major layout, GRU's linear_before_reset, with and
 * without R and W prepared (R transposed, W^T packed for the GEMM kernel)
 * by the operator's prepare hook.
 *
 * One line per failed check; the last line is "N checks, N failed". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "ops/rnn_kernels.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "passes/passes.h"
#include "speedster.h"
#include "util/alloc.h"

#define TEST_SEED 0x243F6A8885A308D3ull
#include "test_util.h"

typedef struct rnn_case {
    const char *op;
    int64_t S, B, I, H, D, gates;
    int bias, init, layout, lbr, prepared;
} rnn_case;

/* The same random values as a float32 and a float64 tensor. */
static void rnd_pair(spd_tensor *f, spd_tensor *d, int nd, const int64_t *dims, double scale)
{
    spd_tensor_alloc(f, SPD_FLOAT, nd, dims);
    spd_tensor_alloc(d, SPD_DOUBLE, nd, dims);
    for (int64_t i = 0; i < spd_tensor_numel(f); i++) {
        const float v = (float)(scale * rnd_unit());
        ((float *)f->data)[i] = v;
        ((double *)d->data)[i] = v;
    }
}

static void run_case(const rnn_case *c)
{
    enum { NIN = 7 };
    spd_tensor xf[NIN], xd[NIN];
    memset(xf, 0, sizeof xf);
    memset(xd, 0, sizeof xd);
    const int64_t GH = c->gates * c->H;
    int64_t dx[3] = {c->S, c->B, c->I};
    if (c->layout) dx[0] = c->B, dx[1] = c->S;
    const int64_t dw[3] = {c->D, GH, c->I}, dr[3] = {c->D, GH, c->H}, db[2] = {c->D, 2 * GH};
    int64_t dh[3] = {c->D, c->B, c->H};
    if (c->layout) dh[0] = c->B, dh[1] = c->D;
    const double ws = 1.0 / sqrt((double)c->H);
    rnd_pair(&xf[0], &xd[0], 3, dx, 1.0);
    rnd_pair(&xf[1], &xd[1], 3, dw, ws);
    rnd_pair(&xf[2], &xd[2], 3, dr, ws);
    int n_in = 3;
    if (c->bias) rnd_pair(&xf[3], &xd[3], 2, db, 0.5), n_in = 4;
    if (c->init) {
        rnd_pair(&xf[5], &xd[5], 3, dh, 0.5);
        n_in = 6;
        if (!strcmp(c->op, "LSTM")) rnd_pair(&xf[6], &xd[6], 3, dh, 0.5), n_in = 7;
    }
    const spd_tensor *inf[NIN], *ind[NIN];
    for (int k = 0; k < NIN; k++) {
        inf[k] = xf[k].dtype ? &xf[k] : NULL;
        ind[k] = xd[k].dtype ? &xd[k] : NULL;
    }

    spd_graph *g = spd_calloc(1, sizeof *g);
    const char *ins[NIN] = {"X", "W", "R", c->bias ? "B" : "", "", c->init ? "h0" : "", "c0"};
    const char *outs[3] = {"Y", "Yh", "Yc"};
    const int n_out = !strcmp(c->op, "LSTM") ? 3 : 2;
    int idx;
    spd_graph_add_node(g, c->op, "", "n", n_in, ins, n_out, outs, &idx);
    spd_node *node = &g->nodes[idx];
    spd_node_set_int(node, "hidden_size", c->H);
    spd_node_set_int(node, "layout", c->layout);
    spd_node_set_string(node, "direction", c->D == 2 ? "bidirectional" : (rnd() % 2 ? "reverse" : "forward"));
    if (!strcmp(c->op, "GRU")) spd_node_set_int(node, "linear_before_reset", c->lbr);

    const spd_op_def *d = spd_op_find("", c->op, 14);
    spd_tensor of[3], od[3];
    memset(of, 0, sizeof of);
    memset(od, 0, sizeof od);
    /* Half the cases run with R transposed by the prepare hook, as a program
     * with R as an initializer does. */
    void *state = NULL;
    void (*state_free)(void *) = NULL;
    if (c->prepared && d && d->prepare) d->prepare(node, 14, n_in, inf, &state, &state_free);
    spd_op_ctx cf = {node, 14, n_in, inf, n_out, of, NULL, state}, cd = {node, 14, n_in, ind, n_out, od, NULL, NULL};
    spd_status s1 = d ? d->run(&cf) : SPD_ERR_UNSUPPORTED, s2 = d ? d->run(&cd) : SPD_ERR_UNSUPPORTED;
    g_checks++;
    if (s1 != SPD_OK || s2 != SPD_OK) {
        g_failed++;
        printf("FAIL [%s] %s S%lld B%lld I%lld H%lld: status %d %d (%s)\n", g_label, c->op, (long long)c->S,
               (long long)c->B, (long long)c->I, (long long)c->H, (int)s1, (int)s2, spd_last_error());
    } else {
        for (int o = 0; o < n_out; o++) {
            const int64_t n = spd_tensor_numel(&od[o]);
            double worst = 0;
            int bad = spd_tensor_numel(&of[o]) != n;
            for (int64_t i = 0; i < n && !bad; i++) {
                const double a = ((float *)of[o].data)[i], b = ((double *)od[o].data)[i];
                const double e = fabs(a - b) / (1e-5 + 1e-4 * fabs(b));
                if (!(e <= 1.0)) bad = 1;
                if (e > worst) worst = e;
            }
            g_checks++;
            if (bad) {
                g_failed++;
                printf("FAIL [%s] %s S%lld B%lld I%lld H%lld D%lld bias%d init%d layout%d lbr%d prep%d: output %d "
                       "differs from float64 (%.3g of the band)\n",
                       g_label, c->op, (long long)c->S, (long long)c->B, (long long)c->I, (long long)c->H,
                       (long long)c->D, c->bias, c->init, c->layout, c->lbr, c->prepared, o, worst);
            }
        }
    }
    if (state_free) state_free(state);
    for (int k = 0; k < 3; k++) {
        spd_tensor_release(&of[k]);
        spd_tensor_release(&od[k]);
    }
    for (int k = 0; k < NIN; k++) {
        spd_tensor_release(&xf[k]);
        spd_tensor_release(&xd[k]);
    }
    spd_graph_free(g);
}

static void test_rnns(void)
{
    static const char *ops[3] = {"RNN", "GRU", "LSTM"};
    static const int gates[3] = {1, 3, 4};
    static const int64_t hidden[] = {1, 3, 8, 13, 16, 37, 64, 70};
    for (int i = 0; i < 48; i++) {
        const int o = i % 3;
        rnn_case c = {ops[o], rnd_range(1, 9), rnd_range(1, 6), rnd_range(1, 40),
                      hidden[rnd() % (sizeof hidden / sizeof hidden[0])], rnd_range(1, 2), gates[o],
                      (int)(rnd() % 4 != 0), (int)(rnd() % 2), (int)(rnd() % 3 == 0), (int)(rnd() % 2), i % 2};
        run_case(&c);
    }
}

/* The AVX-512 LSTM cell against the AVX2 one, which the op test above
 * checks against the reference: bit for bit (the same operations), on gate
 * sums across tanh's and the sigmoid's ranges, zeros of both signs, huge
 * values and NaN. */
static void test_lstm_cell_isas(void)
{
    if (!spd_vmath_avx512()) return;
    enum { H = 48 };
    static const float special[] = {0.0f, -0.0f, 0.6f, -0.625f, 9.5f, -30.0f, 1e30f, -1e30f, NAN};
    float g[4][H], c2[H], c5[H], h2[H], h5[H];
    for (int rep = 0; rep < 200; rep++) {
        const double scale = rep % 4 == 0 ? 40.0 : rep % 4 == 1 ? 4.0 : 1.0;
        for (int q = 0; q < 4; q++)
            for (int j = 0; j < H; j++)
                g[q][j] = rnd() % 16 == 0 ? special[rnd() % 9] : (float)(scale * rnd_unit());
        for (int j = 0; j < H; j++) c2[j] = c5[j] = (float)(3.0 * rnd_unit());
        spd_lstm_cell_avx2(H, g[0], g[1], g[2], g[3], c2, h2);
        spd_lstm_cell_avx512(H, g[0], g[1], g[2], g[3], c5, h5);
        for (int j = 0; j < H; j++)
            check(!memcmp(&c2[j], &c5[j], sizeof(float)) && !memcmp(&h2[j], &h5[j], sizeof(float)),
                  "lstm cell avx512 unit %d: c %a h %a, avx2 c %a h %a", j, (double)c5[j], (double)h5[j],
                  (double)c2[j], (double)h2[j]);
    }
}

int main(void)
{
    test_lstm_cell_isas();
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int isa = SPD_SGEMM_REF; isa <= (int)best; isa++) {
        spd_sgemm_set_isa((spd_sgemm_isa)isa);
        snprintf(g_label, sizeof g_label, "%s", spd_sgemm_isa_name((spd_sgemm_isa)isa));
        g_rng = TEST_SEED;
        test_rnns();
    }
    return test_summary();
}
