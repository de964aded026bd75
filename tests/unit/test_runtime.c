/* Unit checks of the core: tensors, half precision, broadcasting, the name
 * table, the counting allocator, and graph preparation errors. Prints one
 * line per failed check; exits non-zero if any failed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/op.h"
#include "runtime/exec.h"
#include "runtime/memplan.h"
#include "passes/passes.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"
#include "util/strmap.h"
#include "speedster.h"

static int g_failed, g_checks;

#define CHECK(cond)                                                            \
    do {                                                                       \
        g_checks++;                                                            \
        if (!(cond)) {                                                         \
            g_failed++;                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
        }                                                                      \
    } while (0)

static void test_half(void)
{
    float vals[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        float back = spd_f16_to_f32(spd_f32_to_f16(vals[i]));
        CHECK(fabsf(back - vals[i]) <= fabsf(vals[i]) * 1e-3f);
    }
    CHECK(spd_f32_to_f16(1.0f) == 0x3c00);
    CHECK(spd_f32_to_f16(1e6f) == 0x7c00);              /* overflow to inf */
    CHECK(isnan(spd_f16_to_f32(spd_f32_to_f16(NAN))));
    CHECK(spd_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00); /* tie rounds to even */
    CHECK(spd_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(spd_bf16_to_f32(0x4049) > 3.14f && spd_bf16_to_f32(0x4049) < 3.15f);
}

static void test_broadcast(void)
{
    spd_tensor a = {SPD_FLOAT, 3, {2, 1, 4}, NULL, 0}, b = {SPD_FLOAT, 2, {3, 1}, NULL, 0};
    const spd_tensor *ts[2] = {&a, &b};
    int nd;
    int64_t dims[SPD_MAX_DIMS], st[SPD_MAX_DIMS];
    CHECK(spd_broadcast_shapes(2, ts, &nd, dims) == SPD_OK);
    CHECK(nd == 3 && dims[0] == 2 && dims[1] == 3 && dims[2] == 4);
    spd_broadcast_strides(&b, nd, dims, st);
    CHECK(st[0] == 0 && st[1] == 1 && st[2] == 0);
    spd_tensor c = {SPD_FLOAT, 1, {5}, NULL, 0};
    const spd_tensor *bad[2] = {&a, &c};
    CHECK(spd_broadcast_shapes(2, bad, &nd, dims) == SPD_ERR_INVALID);
    CHECK(strstr(spd_last_error(), "broadcast") != NULL);
}

static void test_tensor_alloc(void)
{
    spd_tensor t = {0};
    int64_t neg[2] = {2, -3}, huge[3] = {1 << 20, 1 << 20, 1 << 20};
    CHECK(spd_tensor_alloc(&t, SPD_FLOAT, 2, neg) == SPD_ERR_INVALID);
    CHECK(spd_tensor_alloc(&t, SPD_FLOAT, 3, huge) == SPD_ERR_INVALID);
    int64_t ok[2] = {3, 4};
    size_t before = spd_alloc_current();
    CHECK(spd_tensor_alloc(&t, SPD_INT64, 2, ok) == SPD_OK);
    CHECK(spd_alloc_current() >= before + 96);
    spd_tensor_set(&t, 5, 1e30); /* saturates instead of overflowing */
    CHECK(spd_tensor_get_i64(&t, 5) == INT64_MAX || spd_tensor_get_i64(&t, 5) > (int64_t)9e18);
    spd_tensor_release(&t);
    CHECK(spd_alloc_current() == before);
    spd_alloc_fail_after(1);
    CHECK(spd_tensor_alloc(&t, SPD_FLOAT, 2, ok) == SPD_ERR_NOMEM);
    spd_alloc_fail_after(0);
}

static void test_strmap(void)
{
    spd_strmap m;
    char names[500][16];
    CHECK(spd_strmap_init(&m, 2) == SPD_OK);
    for (int i = 0; i < 500; i++) {
        snprintf(names[i], sizeof names[i], "v%d", i);
        CHECK(spd_strmap_put(&m, names[i], i) == SPD_OK);
    }
    int all = 1;
    for (int i = 0; i < 500; i++) all &= spd_strmap_get(&m, names[i]) == i;
    CHECK(all);
    CHECK(spd_strmap_get(&m, "absent") == -1);
    spd_strmap_free(&m);
}

/* A tiny graph builder for preparation tests. */
static char *S(const char *s) { return spd_strdup(s); }

static void add_node(spd_graph *g, const char *name, const char *op, const char *in0, const char *in1,
                     const char *out)
{
    spd_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->name = S(name);
    n->op_type = S(op);
    n->domain = S("");
    n->n_inputs = in1 ? 2 : 1;
    n->inputs = spd_calloc(2, sizeof(char *));
    n->inputs[0] = S(in0);
    if (in1) n->inputs[1] = S(in1);
    n->n_outputs = 1;
    n->outputs = spd_calloc(1, sizeof(char *));
    n->outputs[0] = S(out);
}

static spd_graph *new_graph(void)
{
    spd_graph *g = spd_calloc(1, sizeof *g);
    g->name = S("g");
    g->nodes = spd_calloc(4, sizeof(spd_node));
    g->n_inputs = 1;
    g->inputs = spd_calloc(1, sizeof(spd_value_info));
    g->inputs[0].name = S("x");
    g->inputs[0].dtype = SPD_FLOAT;
    g->inputs[0].ndim = -1;
    g->n_outputs = 1;
    g->outputs = spd_calloc(1, sizeof(spd_value_info));
    g->outputs[0].name = S("y");
    g->outputs[0].ndim = -1;
    return g;
}

/* An opset-13 model around g (the program keeps a pointer to it: it must
 * outlive the program). */
static void model_of(spd_graph *g, spd_opset *os, spd_model *m)
{
    *os = (spd_opset){"", 13};
    memset(m, 0, sizeof *m);
    m->n_opsets = 1;
    m->opsets = os;
    m->graph = g;
}

static spd_status prepare(spd_graph *g)
{
    spd_opset os;
    spd_model m;
    model_of(g, &os, &m);
    spd_program *p = NULL;
    spd_status st = spd_program_build(&m, g, NULL, &p);
    spd_program_free(p);
    spd_graph_free(g);
    return st;
}

static void test_prepare_errors(void)
{
    spd_graph *g = new_graph();
    add_node(g, "a", "Relu", "x", NULL, "t");
    add_node(g, "b", "Add", "t", "nowhere", "y");
    CHECK(prepare(g) == SPD_ERR_INVALID && strstr(spd_last_error(), "nowhere") && strstr(spd_last_error(), "'b'"));

    g = new_graph();
    add_node(g, "a", "Add", "x", "u", "t");
    add_node(g, "b", "Relu", "t", NULL, "u");
    add_node(g, "c", "Relu", "t", NULL, "y");
    CHECK(prepare(g) == SPD_ERR_INVALID && strstr(spd_last_error(), "cycle"));

    g = new_graph();
    add_node(g, "a", "Relu", "x", NULL, "y");
    add_node(g, "b", "Relu", "x", NULL, "y");
    CHECK(prepare(g) == SPD_ERR_INVALID && strstr(spd_last_error(), "also produced"));

    g = new_graph();
    add_node(g, "a", "NoSuchOp", "x", NULL, "y");
    CHECK(prepare(g) == SPD_ERR_UNSUPPORTED && strstr(spd_last_error(), "NoSuchOp"));

    /* out of order but acyclic: sorted, not refused */
    g = new_graph();
    add_node(g, "b", "Relu", "t", NULL, "y");
    add_node(g, "a", "Relu", "x", NULL, "t");
    CHECK(prepare(g) == SPD_OK);
}


/* Runs graph g (freed here) over x (2x3x4) four times (the arena is laid
 * out on the second call, used from the third), checks y with ok(x, y,
 * ctx) each time, and returns the arena's size. */
static size_t run_graph(spd_graph *g, int (*ok)(const float *x, const spd_tensor *y, const void *ctx), const void *ctx)
{
    spd_opset os;
    spd_model m;
    model_of(g, &os, &m);
    spd_program *p = NULL;
    size_t arena = 0;
    CHECK(spd_program_build(&m, g, NULL, &p) == SPD_OK);
    if (p) {
        int64_t dims[3] = {2, 3, 4};
        spd_tensor x = {0};
        CHECK(spd_tensor_alloc(&x, SPD_FLOAT, 3, dims) == SPD_OK);
        float *xv = x.data;
        for (int i = 0; i < 24; i++) xv[i] = (float)(i % 7) - 3.0f + 0.25f * (float)i;
        for (int call = 0; call < 4; call++) {
            spd_tensor y = {0};
            CHECK(spd_exec_run_user(p, &x, 1, &y, 1) == SPD_OK);
            CHECK(ok(xv, &y, ctx));
            spd_tensor_release(&y);
        }
        arena = spd_memplan_arena_bytes(p->mem);
        spd_tensor_release(&x);
    }
    spd_program_free(p);
    spd_graph_free(g);
    return arena;
}

typedef float (*elementwise_fn)(float);

/* y is 2x12 and y[i] = want(x[i]) */
static int flat_elementwise(const float *x, const spd_tensor *y, const void *ctx)
{
    const elementwise_fn want = *(const elementwise_fn *)ctx;
    int bad = y->ndim != 2 || y->dims[0] != 2 || y->dims[1] != 12;
    for (int i = 0; !bad && i < 24; i++) bad = fabsf(((const float *)y->data)[i] - want(x[i])) > 1e-6f;
    return !bad;
}

/* A 5-node graph over x whose last node adds two values; y = want(x). */
static size_t run_planned(const char *ops[5][4], float (*want)(float))
{
    spd_graph *g = new_graph();
    spd_free(g->nodes);
    g->nodes = spd_calloc(5, sizeof(spd_node));
    for (int i = 0; i < 5; i++) add_node(g, ops[i][0], ops[i][1], ops[i][2], NULL, ops[i][3]);
    spd_node *last = &g->nodes[4];
    last->n_inputs = 2;
    last->inputs[1] = S(ops[4][2] + strlen(ops[4][2]) + 1);
    const elementwise_fn f = want;
    return run_graph(g, flat_elementwise, &f);
}

static float relu_plus_sigmoid(float v) { return (v > 0 ? v : 0) + 1 / (1 + expf(-v)); }
static float relu_plus_sigmoid_relu(float v) { float r = v > 0 ? v : 0; return r + 1 / (1 + expf(-r)); }

/* A Flatten's output shares its input's arena slot: two such pairs need
 * two slots of 128 bytes, not three (b, c, d alive at once), also when the
 * input lives on after the Flatten (graph 2's a feeds the Sigmoid). */
static void test_memplan_alias(void)
{
    const char *g1[5][4] = {{"n1", "Relu", "x", "a"},
                            {"n2", "Flatten", "a", "b"},
                            {"n3", "Sigmoid", "x", "c"},
                            {"n4", "Flatten", "c", "d"},
                            {"n5", "Add", "b\0d", "y"}};
    CHECK(run_planned(g1, relu_plus_sigmoid) == 256);
    const char *g2[5][4] = {{"n1", "Relu", "x", "a"},
                            {"n2", "Flatten", "a", "b"},
                            {"n3", "Sigmoid", "a", "c"},
                            {"n4", "Flatten", "c", "d"},
                            {"n5", "Add", "b\0d", "y"}};
    CHECK(run_planned(g2, relu_plus_sigmoid_relu) == 256);
}

/* y = -Concat(Relu(x), Sigmoid(x)) along axis *ctx: 4x3x4 (axis 0) or
 * 2x6x4 (axis 1) */
static int neg_concat(const float *xv, const spd_tensor *y, const void *ctx)
{
    const int64_t axis = *(const int64_t *)ctx, J = axis == 0 ? 3 : 6;
    int bad = y->ndim != 3 || spd_tensor_numel(y) != 48;
    const float *yv = y->data;
    for (int o = 0; !bad && o < 48; o++) {
        int64_t i = o / (J * 4), j = o / 4 % J, k = o % 4, second = 0;
        if (axis == 0 && i >= 2) i -= 2, second = 1;
        if (axis == 1 && j >= 3) j -= 3, second = 1;
        const float v = xv[(i * 3 + j) * 4 + k];
        const float want = second ? 1 / (1 + expf(-v)) : (v > 0 ? v : 0);
        bad = fabsf(yv[o] + want) > 1e-6f;
    }
    return !bad;
}

/* The Concat graph along `axis`, run four times; returns the arena's size. */
static size_t run_concat(int64_t axis)
{
    spd_graph *g = new_graph();
    add_node(g, "n1", "Relu", "x", NULL, "a");
    add_node(g, "n2", "Sigmoid", "x", NULL, "b");
    add_node(g, "n3", "Concat", "a", "b", "c");
    add_node(g, "n4", "Neg", "c", NULL, "y");
    CHECK(spd_node_set_int(&g->nodes[2], "axis", axis) == SPD_OK);
    return run_graph(g, neg_concat, &axis);
}

/* Along the first axis the two halves are computed into their places in
 * the Concat's output: one 192-byte slot instead of a, b and c at once
 * (128 + 128 + 192). Along axis 1 (2 rows of each) they interleave: no
 * sharing. */
static void test_memplan_concat(void)
{
    CHECK(run_concat(0) == 192);
    CHECK(run_concat(1) == 448);
}

/* Runs `dir`'s model (inputs from test_data_set_0) three times at two
 * threads, then five more counting allocations: a planned call makes only
 * its outputs (kernels' temporaries are the threads' scratch, the values
 * in between the arena). Returns the fewest allocations of those calls,
 * -1 when the model could not be run. */
static long run_allocations(const char *dir, int n_in)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    spd_model *m = NULL;
    if (spd_model_load(path, &m) != SPD_OK) return -1;
    spd_tensor in[4], out[4];
    memset(in, 0, sizeof in);
    long calls = -1;
    int ok = 1;
    for (int k = 0; k < n_in && ok; k++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, k);
        ok = spd_tensor_read_file(path, &in[k]) == SPD_OK;
    }
    const int n_out = spd_model_num_outputs(m);
    /* the fewest allocations of calls 4 to 8: at two threads, a worker that
     * first runs some kernel's task in a later call sizes its scratch then
     * (once; a call that allocates every time shows in all of them) */
    for (int call = 0; call < 8 && ok && n_out <= 4; call++) {
        memset(out, 0, sizeof out);
        const long before = spd_alloc_calls();
        ok = spd_model_run(m, in, n_in, out, n_out) == SPD_OK;
        const long now = spd_alloc_calls() - before;
        if (call >= 3 && ok && (calls < 0 || now < calls)) calls = now;
        for (int k = 0; k < n_out; k++) spd_tensor_release(&out[k]);
    }
    for (int k = 0; k < n_in; k++) spd_tensor_release(&in[k]);
    spd_model_free(m);
    return calls;
}

static void test_run_allocations(const char *conformance, const char *repo)
{
    spd_set_num_threads(2);
    static const struct {
        const char *name;
        int n_in, n_out;
    } cases[] = {
        {"test_conv_with_strides_padding", 2, 1},  /* padded source copy, packed GEMM */
        {"test_gemm_default_scalar_bias", 3, 1},   /* a per-row bias */
        {"test_layer_normalization_3d_axis1_epsilon", 3, 3}, /* Y, Mean, InvStdDev */
        {"test_lstm_with_initial_bias", 4, 1},     /* recurrent state */
        {"test_gru_defaults", 3, 1},
    };
    char dir[4200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s", conformance, cases[i].name);
        const long calls = run_allocations(dir, cases[i].n_in);
        if (calls != cases[i].n_out) printf("  %s: %ld allocations in a planned call\n", cases[i].name, calls);
        CHECK(calls == cases[i].n_out);
    }
    /* a whole CNN: convolutions through the packed GEMM on both threads */
    snprintf(dir, sizeof dir, "%s/examples/tiny_cnn", repo);
    const long calls = run_allocations(dir, 1);
    if (calls != 1) printf("  tiny_cnn: %ld allocations in a planned call\n", calls);
    CHECK(calls == 1);
    spd_set_num_threads(0);
}

int main(int argc, char **argv)
{
    size_t start = spd_alloc_current();
    test_half();
    test_broadcast();
    test_tensor_alloc();
    test_strmap();
    test_prepare_errors();
    test_memplan_alias();
    test_memplan_concat();
    if (argc > 2) test_run_allocations(argv[1], argv[2]);
    /* the threads' scratch is not a leak: it is kept until they exit */
    CHECK(spd_alloc_current() - spd_scratch_held() == start); /* nothing leaked through spd_malloc */
    printf("%d checks, %d failed\n", g_checks, g_failed);
    return g_failed != 0;
}
