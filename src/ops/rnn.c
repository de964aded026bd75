/* Recurrent layers: RNN, GRU and LSTM, as ONNX defines them.
 *
 * Gate order in W, R and B: LSTM i, o, f, c; GRU z, r, h; RNN one gate.
 * Everything is computed in double from copies of the inputs, one batch
 * entry and one direction at a time, which keeps sequence_lens and the
 * reverse direction simple: entry b runs over its first seq_lens[b] steps
 * (backwards for reverse), the rest of its Y stays zero, and Y_h / Y_c hold
 * the state after its last step.
 *
 * Float32 nodes where every batch entry runs the full sequence (no
 * sequence_lens, or all equal to seq_length) take a float path instead
 * (rnn_run_f32): one GEMM for the input projection of all steps, then per
 * step the recurrent product over the whole batch and the gates in float.
 * It supports every other option; float64/float16/bfloat16 and shorter
 * sequence_lens stay on the double path. */
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "ir/op.h"
#include "ops/gemm.h"
#include "ops/rnn_kernels.h"
#include "ops/sgemm_fast.h"
#include "ops/vmath.h"
#include "ops/ops_util.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"
#include "util/threadpool.h"

/* ------------------------------------------------------------------------ */
/* Activation functions                                                     */

typedef enum act_kind {
    A_SIGMOID, A_TANH, A_RELU, A_AFFINE, A_LEAKYRELU, A_THRESHOLDEDRELU,
    A_SCALEDTANH, A_HARDSIGMOID, A_ELU, A_SOFTSIGN, A_SOFTPLUS
} act_kind;

typedef struct act {
    act_kind k;
    double alpha, beta;
} act;

/* Name, how many of activation_alpha / activation_beta it consumes, and the
 * defaults of the matching ONNX operators. */
static const struct act_info {
    const char *name;
    act_kind k;
    int n_alpha, n_beta;
    double alpha, beta;
} g_acts[] = {
    {"Sigmoid", A_SIGMOID, 0, 0, 0, 0},
    {"Tanh", A_TANH, 0, 0, 0, 0},
    {"Relu", A_RELU, 0, 0, 0, 0},
    {"Affine", A_AFFINE, 1, 1, 1.0, 0.0},
    {"LeakyRelu", A_LEAKYRELU, 1, 0, 0.01, 0},
    {"ThresholdedRelu", A_THRESHOLDEDRELU, 1, 0, 1.0, 0},
    {"ScaledTanh", A_SCALEDTANH, 1, 1, 1.0, 1.0},
    {"HardSigmoid", A_HARDSIGMOID, 1, 1, 0.2, 0.5},
    {"Elu", A_ELU, 1, 0, 1.0, 0},
    {"Softsign", A_SOFTSIGN, 0, 0, 0, 0},
    {"Softplus", A_SOFTPLUS, 0, 0, 0, 0},
};

static inline double act_apply(const act *a, double x)
{
    switch (a->k) {
    case A_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case A_TANH: return tanh(x);
    case A_RELU: return x > 0 ? x : 0;
    case A_AFFINE: return a->alpha * x + a->beta;
    case A_LEAKYRELU: return x >= 0 ? x : a->alpha * x;
    case A_THRESHOLDEDRELU: return x > a->alpha ? x : 0;
    case A_SCALEDTANH: return a->alpha * tanh(a->beta * x);
    case A_HARDSIGMOID: return fmax(0.0, fmin(1.0, a->alpha * x + a->beta));
    case A_ELU: return x >= 0 ? x : a->alpha * (exp(x) - 1.0);
    case A_SOFTSIGN: return x / (1.0 + fabs(x));
    case A_SOFTPLUS: return log1p(exp(x));
    }
    return x;
}

/* Reads `activations` (per_dir names per direction, or per_dir names shared
 * by both directions) with their alphas and betas, consumed in order by the
 * functions that take them. */
static spd_status parse_acts(const spd_node *node, int D, int per_dir, const act_kind *dflt,
                             act acts[2][3])
{
    for (int d = 0; d < 2; d++)
        for (int j = 0; j < 3; j++) acts[d][j] = (act){j < per_dir ? dflt[j] : A_TANH, 0, 0};
    const spd_attr *a = spd_node_attr(node, "activations");
    if (!a || a->n == 0) return SPD_OK;
    if (a->type != SPD_ATTR_STRINGS)
        return spd_errorf(SPD_ERR_INVALID, "activations must be a list of strings");
    if ((int)a->n != per_dir * D && (int)a->n != per_dir)
        return spd_errorf(SPD_ERR_INVALID, "activations has %zu names, expected %d",
                          a->n, per_dir * D);
    size_t na = 0, nb = 0, ia = 0, ib = 0;
    const float *alphas = spd_attr_floats(node, "activation_alpha", &na);
    const float *betas = spd_attr_floats(node, "activation_beta", &nb);
    for (int k = 0; k < (int)a->n; k++) {
        const struct act_info *info = NULL;
        for (size_t q = 0; q < sizeof g_acts / sizeof g_acts[0]; q++)
            if (!strcasecmp(a->strings[k], g_acts[q].name)) info = &g_acts[q];
        if (!info) return spd_errorf(SPD_ERR_UNSUPPORTED, "activation '%s' is not supported", a->strings[k]);
        act v = {info->k, info->alpha, info->beta};
        if (info->n_alpha && ia < na) v.alpha = alphas[ia++];
        if (info->n_beta && ib < nb) v.beta = betas[ib++];
        acts[k / per_dir][k % per_dir] = v;
    }
    if ((int)a->n == per_dir && D == 2)
        for (int j = 0; j < per_dir; j++) acts[1][j] = acts[0][j];
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* Shared setup                                                             */

typedef enum cell_kind { CELL_RNN, CELL_GRU, CELL_LSTM } cell_kind;

typedef struct rnn {
    cell_kind kind;
    int G;                    /* gates: 1, 3 or 4 */
    int64_t S, B, I, H, D;    /* steps, batch, input size, hidden size, directions */
    bool batch_first;         /* layout = 1 */
    bool reverse;             /* the single direction runs backwards */
    double *x, *w, *r, *bias, *p, *h0, *c0;
    int64_t *lens;            /* lens_small, or allocated for a larger batch */
    int64_t lens_small[8];
    act acts[2][3];
    double clip;              /* <= 0: none */
    bool input_forget, lbr;
} rnn;

static void rnn_free(rnn *m)
{
    spd_free(m->x); spd_free(m->w); spd_free(m->r); spd_free(m->bias);
    spd_free(m->p); spd_free(m->h0); spd_free(m->c0);
    if (m->lens != m->lens_small) spd_free(m->lens);
}

/* A double copy of t (NULL stays NULL). */
static spd_status to_doubles(const spd_tensor *t, double **out)
{
    *out = NULL;
    if (!t) return SPD_OK;
    int64_t n = spd_tensor_numel(t);
    double *p = spd_malloc((size_t)(n ? n : 1) * sizeof *p);
    if (!p) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    if (t->dtype == SPD_FLOAT) {
        const float *f = t->data;
        for (int64_t i = 0; i < n; i++) p[i] = f[i];
    } else {
        for (int64_t i = 0; i < n; i++) p[i] = spd_tensor_get(t, i);
    }
    *out = p;
    return SPD_OK;
}

static spd_status check_shape(const spd_tensor *t, const char *name, int nd, const int64_t *dims)
{
    bool ok = t->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->dims[i] == dims[i];
    if (!ok) {
        char buf[128];
        return spd_errorf(SPD_ERR_INVALID, "%s has shape %s, expected %d dims [%lld, %lld%s%lld]",
                          name, spd_tensor_describe(t, buf, sizeof buf), nd, (long long)dims[0],
                          (long long)dims[1], nd > 2 ? ", " : "", nd > 2 ? (long long)dims[2] : 0LL);
    }
    return SPD_OK;
}

static const spd_tensor *opt_in(const spd_op_ctx *ctx, int k)
{
    return k < ctx->n_inputs ? ctx->in[k] : NULL;
}

/* Inputs: X W R B sequence_lens initial_h [initial_c P] (LSTM). */
static spd_status rnn_setup(spd_op_ctx *ctx, cell_kind kind, rnn *m)
{
    static const act_kind d_rnn[] = {A_TANH}, d_gru[] = {A_SIGMOID, A_TANH},
                          d_lstm[] = {A_SIGMOID, A_TANH, A_TANH};
    const spd_node *node = ctx->node;
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->G = kind == CELL_LSTM ? 4 : kind == CELL_GRU ? 3 : 1;
    const spd_tensor *X = ctx->in[0], *W = opt_in(ctx, 1), *R = opt_in(ctx, 2);
    const spd_tensor *Bt = opt_in(ctx, 3), *L = opt_in(ctx, 4), *H0 = opt_in(ctx, 5);
    const spd_tensor *C0 = kind == CELL_LSTM ? opt_in(ctx, 6) : NULL;
    const spd_tensor *P = kind == CELL_LSTM ? opt_in(ctx, 7) : NULL;
    if (!X || !W || !R) return spd_errorf(SPD_ERR_INVALID, "missing input X, W or R");
    if (!spd_dtype_is_float(X->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(X->dtype));
    if (X->ndim != 3 || W->ndim != 3 || R->ndim != 3)
        return spd_errorf(SPD_ERR_INVALID, "X, W and R must have rank 3");

    const char *dir = spd_attr_string(node, "direction", "forward");
    if (!strcmp(dir, "forward")) m->D = 1;
    else if (!strcmp(dir, "reverse")) { m->D = 1; m->reverse = true; }
    else if (!strcmp(dir, "bidirectional")) m->D = 2;
    else return spd_errorf(SPD_ERR_INVALID, "unknown direction '%s'", dir);
    int64_t layout = ctx->opset >= 14 ? spd_attr_int(node, "layout", 0) : 0;
    if (layout != 0 && layout != 1) return spd_errorf(SPD_ERR_INVALID, "layout must be 0 or 1");
    m->batch_first = layout == 1;
    m->S = m->batch_first ? X->dims[1] : X->dims[0];
    m->B = m->batch_first ? X->dims[0] : X->dims[1];
    m->I = X->dims[2];
    m->H = spd_node_attr(node, "hidden_size") ? spd_attr_int(node, "hidden_size", 0) : R->dims[2];
    if (m->H <= 0) return spd_errorf(SPD_ERR_INVALID, "hidden_size must be positive");
    int64_t D = m->D, H = m->H, G = m->G, B = m->B;

    SPD_TRY(check_shape(W, "W", 3, (int64_t[]){D, G * H, m->I}));
    SPD_TRY(check_shape(R, "R", 3, (int64_t[]){D, G * H, H}));
    if (Bt) SPD_TRY(check_shape(Bt, "B", 2, (int64_t[]){D, 2 * G * H}));
    if (L) {
        SPD_TRY(check_shape(L, "sequence_lens", 1, (int64_t[]){B, 0}));
        if (!spd_dtype_is_int(L->dtype)) return spd_errorf(SPD_ERR_INVALID, "sequence_lens must be integers");
    }
    int64_t state_dims[3] = {D, B, H};
    if (m->batch_first) { state_dims[0] = B; state_dims[1] = D; }
    if (H0) SPD_TRY(check_shape(H0, "initial_h", 3, state_dims));
    if (C0) SPD_TRY(check_shape(C0, "initial_c", 3, state_dims));
    if (P) SPD_TRY(check_shape(P, "P", 2, (int64_t[]){D, 3 * H}));

    double clip = spd_attr_float(node, "clip", 0.0f);
    m->clip = spd_node_attr(node, "clip") ? clip : 0.0;
    if (spd_node_attr(node, "clip") && !(clip > 0))
        return spd_errorf(SPD_ERR_INVALID, "clip must be positive");
    m->input_forget = spd_attr_int(node, "input_forget", 0) != 0;
    m->lbr = spd_attr_int(node, "linear_before_reset", 0) != 0;
    const act_kind *dflt = kind == CELL_LSTM ? d_lstm : kind == CELL_GRU ? d_gru : d_rnn;
    SPD_TRY(parse_acts(node, (int)D, kind == CELL_LSTM ? 3 : kind == CELL_GRU ? 2 : 1, dflt, m->acts));

    m->lens = B <= 8 ? m->lens_small : spd_malloc((size_t)B * sizeof *m->lens);
    if (!m->lens) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        m->lens[b] = L ? spd_tensor_get_i64(L, b) : m->S;
        if (m->lens[b] < 0 || m->lens[b] > m->S) {
            int64_t bad = m->lens[b];
            rnn_free(m);
            return spd_errorf(SPD_ERR_INVALID, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                              (long long)b, (long long)bad, (long long)m->S);
        }
    }
    return SPD_OK;
}

/* Double copies of the inputs, for the reference path. */
static spd_status rnn_load_doubles(spd_op_ctx *ctx, rnn *m)
{
    cell_kind kind = m->kind;
    const spd_tensor *X = ctx->in[0], *W = opt_in(ctx, 1), *R = opt_in(ctx, 2);
    const spd_tensor *Bt = opt_in(ctx, 3), *H0 = opt_in(ctx, 5);
    const spd_tensor *C0 = kind == CELL_LSTM ? opt_in(ctx, 6) : NULL;
    const spd_tensor *P = kind == CELL_LSTM ? opt_in(ctx, 7) : NULL;
    spd_status s;
    if ((s = to_doubles(X, &m->x)) || (s = to_doubles(W, &m->w)) || (s = to_doubles(R, &m->r)) ||
        (s = to_doubles(Bt, &m->bias)) || (s = to_doubles(P, &m->p)) ||
        (s = to_doubles(H0, &m->h0)) || (s = to_doubles(C0, &m->c0))) {
        rnn_free(m);
        return s;
    }
    return SPD_OK;
}

/* Offsets under both layouts. */
static inline int64_t x_at(const rnn *m, int64_t t, int64_t b)
{
    return (m->batch_first ? b * m->S + t : t * m->B + b) * m->I;
}

static inline int64_t y_at(const rnn *m, int64_t t, int64_t d, int64_t b)
{
    return (m->batch_first ? (b * m->S + t) * m->D + d : (t * m->D + d) * m->B + b) * m->H;
}

static inline int64_t state_at(const rnn *m, int64_t d, int64_t b)
{
    return (m->batch_first ? b * m->D + d : d * m->B + b) * m->H;
}

static inline double dot(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline double clipv(const rnn *m, double v)
{
    if (m->clip > 0) v = fmin(fmax(v, -m->clip), m->clip);
    return v;
}

/* ------------------------------------------------------------------------ */
/* The float32 path                                                         */

/* Whether the float32 path applies: every tensor input is float32 and every
 * batch entry runs the full sequence, so all entries step through the same t
 * together and one GEMM per step covers the batch. */
static bool fast_ok(const spd_op_ctx *ctx, const rnn *m)
{
    int n = m->kind == CELL_LSTM ? 8 : 6;
    for (int k = 0; k < n && k < ctx->n_inputs; k++) {
        if (k == 4 || !ctx->in[k]) continue;
        if (ctx->in[k]->dtype != SPD_FLOAT) return false;
    }
    for (int64_t b = 0; b < m->B; b++)
        if (m->lens[b] != m->S) return false;
    return true;
}

/* x[i] = f(clip(x[i])) in float; sigmoid and tanh are vectorised. */
static void act_f32(const act *f, float clip, float *x, int64_t n)
{
    if (clip > 0)
        for (int64_t i = 0; i < n; i++) x[i] = fminf(fmaxf(x[i], -clip), clip);
    switch (f->k) {
    case A_SIGMOID: spd_vsigmoid_f32(x, x, n); return;
    case A_TANH: {
        spd_act ta = {SPD_ACT_TANH, 0, 0};
        spd_vact_bias_f32(&ta, x, n, 0.0f, NULL);
        return;
    }
    case A_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
        return;
    default:
        /* The rarer activations: scalar, through the double definition. */
        for (int64_t i = 0; i < n; i++) x[i] = (float)act_apply(f, x[i]);
        return;
    }
}

/* Up to this many batch entries the per-step recurrent product is a plain
 * loop over a transposed R: the packed GEMM would repack R every step, which
 * costs as much as the product itself when it has so few rows. */
#define SMALL_BATCH 4

/* dst (cols x rows) = src (rows x cols) transposed, in 16 x 16 tiles so
 * that neither side walks memory with a large stride for long. */
static void transpose_blocked(const float *src, int64_t rows, int64_t cols, float *dst)
{
    for (int64_t i0 = 0; i0 < rows; i0 += 16)
        for (int64_t j0 = 0; j0 < cols; j0 += 16) {
            const int64_t i1 = i0 + 16 < rows ? i0 + 16 : rows, j1 = j0 + 16 < cols ? j0 + 16 : cols;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t i = i0; i < i1; i++) dst[j * rows + i] = src[i * cols + j];
        }
}

static bool use_avx2(void)
{
    return spd_vmath_avx2();
}

/* C[b][n] += sum_k h[b][k] R[n][k] for b < B, n < N, where r is R (N x H,
 * row-major) and rt, when non-NULL, the same block transposed (H x N, row
 * stride ldrt). rev: the vector kernels' sweep order, alternated step by
 * step to reuse what the last step left in L1 (the others ignore it). */
static void rec_acc(int64_t B, int64_t N, int64_t H, const float *h, const float *r, const float *rt,
                    int64_t ldrt, float *C, int64_t ldc, int rev)
{
    if (!rt) {
        spd_sgemm(0, 1, B, N, H, 1.0f, h, H, r, H, 1.0f, C, ldc);
        return;
    }
    if (spd_vmath_avx512()) {
        spd_rnn_rec_acc_avx512(B, N, H, h, rt, ldrt, C, ldc, rev);
        return;
    }
    if (use_avx2()) {
        spd_rnn_rec_acc_avx2(B, N, H, h, rt, ldrt, C, ldc, rev);
        return;
    }
    for (int64_t b = 0; b < B; b++) {
        float *restrict cb = C + b * ldc;
        for (int64_t k = 0; k < H; k++) {
            const float hk = h[b * H + k];
            const float *restrict rk = rt + k * ldrt;
            for (int64_t n = 0; n < N; n++) cb[n] += hk * rk[n];
        }
    }
}

/* Constant weights, prepared once when the program is built: R transposed
 * (the recurrent product of a small batch reads R^T; see rec_acc), and W^T
 * packed as the input projection's B for the GEMM kernel current then
 * (packing it per call was 6% of a 64-unit LSTM's time). Either may be
 * missing (not constant, or out of memory: then done per call). */
#define RNN_PREP_MAGIC 0x524E4E54u
typedef struct rnn_prep {
    uint32_t magic;
    int64_t D, GH, H;
    float *rt; /* D blocks of H x GH */
    const spd_sgemm_kernel *kern;
    int64_t I;       /* W's input size */
    size_t wstride;  /* floats per direction of wp */
    float *wp;       /* W^T (I x GH) per direction, packed for kern */
} rnn_prep;

static void rnn_prep_free(void *p)
{
    rnn_prep *r = p;
    if (!r) return;
    spd_free(r->rt);
    spd_free(r->wp);
    spd_free(r);
}

static bool float3d(const spd_tensor *t)
{
    return t && t->dtype == SPD_FLOAT && t->ndim == 3 && spd_tensor_numel(t) > 0 && t->data;
}

static spd_status rnn_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                              void **state, void (**state_free)(void *))
{
    (void)node, (void)opset;
    const spd_tensor *W = n_in > 1 ? consts[1] : NULL, *R = n_in > 2 ? consts[2] : NULL;
    if (!float3d(R) && !float3d(W)) return SPD_OK;
    rnn_prep *r = spd_calloc(1, sizeof *r);
    if (!r) return SPD_OK; /* decline: the kernel transposes and packs per call */
    r->magic = RNN_PREP_MAGIC;
    if (float3d(R) && (r->rt = spd_malloc((size_t)spd_tensor_numel(R) * sizeof(float)))) {
        r->D = R->dims[0], r->GH = R->dims[1], r->H = R->dims[2];
        for (int64_t d = 0; d < r->D; d++)
            transpose_blocked((const float *)R->data + d * r->GH * r->H, r->GH, r->H, r->rt + d * r->GH * r->H);
    }
    r->kern = spd_sgemm_kernel_current();
    if (float3d(W) && r->kern) {
        const int64_t D = W->dims[0], GH = W->dims[1], I = W->dims[2];
        r->wstride = spd_sgemm_prepacked_b_floats(r->kern, I, GH);
        if ((r->wp = spd_malloc(r->wstride * (size_t)D * sizeof(float)))) {
            r->I = I;
            for (int64_t d = 0; d < D; d++)
                spd_sgemm_prepack_b(r->kern, 1, I, GH, (const float *)W->data + d * GH * I, I,
                                    r->wp + (size_t)d * r->wstride);
            if (!r->rt) r->D = D, r->GH = GH; /* R's shape checks need them */
        }
    }
    if (!r->rt && !r->wp) {
        spd_free(r);
        return SPD_OK;
    }
    *state = r;
    *state_free = rnn_prep_free;
    return SPD_OK;
}

/* Per direction: the input projection X W^T + biases for all steps at once
 * (rows ordered as X's, so either layout works through the row stride), then
 * per step the recurrent projection h R^T for the whole batch accumulated
 * into that step's rows, and the gates in float. */
static size_t up16(size_t n) { return (n + 15) / 16 * 16; }

static spd_status rnn_run_f32(spd_op_ctx *ctx, const rnn *m, spd_tensor *Y, spd_tensor *Yh, spd_tensor *Yc)
{
    const int64_t S = m->S, B = m->B, I = m->I, H = m->H, D = m->D, GH = m->G * m->H;
    const int64_t nxw = S * B * GH > 0 ? S * B * GH : 1, nbh = B * H > 0 ? B * H : 1;
    const cell_kind kind = m->kind;
    const float *X = ctx->in[0]->data, *Wt = ctx->in[1]->data, *Rt = ctx->in[2]->data;
    const spd_tensor *Bt = opt_in(ctx, 3), *H0t = opt_in(ctx, 5);
    const spd_tensor *C0t = kind == CELL_LSTM ? opt_in(ctx, 6) : NULL;
    const spd_tensor *Pt = kind == CELL_LSTM ? opt_in(ctx, 7) : NULL;
    const float clip = (float)m->clip;

    /* xw, h, c, tmp and bias, each on its own cache lines, from the thread's scratch */
    const rnn_prep *state = ctx->state;
    if (state && (state->magic != RNN_PREP_MAGIC || state->D != D || state->GH != GH)) state = NULL;
    const rnn_prep *prep = state && state->rt && state->H == H && B <= SMALL_BATCH ? state : NULL;
    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    const float *wpack = state && state->wp && state->kern == kern && state->I == I ? state->wp : NULL;
    /* xw, h, c, tmp, bias and (R not prepared) R^T, each on its own cache
     * lines, from the thread's scratch */
    const size_t cxw = up16((size_t)nxw), cbh = up16((size_t)nbh), cgh = up16((size_t)GH);
    const size_t crt = B <= SMALL_BATCH && !prep ? up16((size_t)(GH * H)) : 0;
    float *xw = spd_scratch(SPD_SCRATCH_OP, (cxw + 3 * cbh + cgh + crt) * sizeof(float));
    float *h = xw ? xw + cxw : NULL, *c = h ? h + cbh : NULL, *tmp = c ? c + cbh : NULL;
    float *bias = tmp ? tmp + cbh : NULL, *rt = bias && crt ? bias + cgh : NULL;
    spd_status s = SPD_OK;
    if (!xw || !h || !c || !tmp || !bias || (B <= SMALL_BATCH && !rt && !prep)) s = spd_errorf(SPD_ERR_NOMEM, "out of memory");

    /* Rows of xw for step t start at t * row_t; entry b is row_b further. */
    const int64_t row_t = m->batch_first ? GH : B * GH, row_b = m->batch_first ? S * GH : GH;
    for (int64_t d = 0; d < D && s == SPD_OK; d++) {
        const float *w = Wt + d * GH * I, *r = Rt + d * GH * H;
        const float *wb = Bt ? (const float *)Bt->data + d * 2 * GH : NULL;
        const float *rb = wb ? wb + GH : NULL;
        const float *p = Pt ? (const float *)Pt->data + d * 3 * H : NULL;
        const act *f = m->acts[d];
        const bool backwards = m->reverse || d == 1;
        /* the default LSTM cell in one vector pass (rnn_kernels.h) */
        const bool fused_cell = kind == CELL_LSTM && !p && !m->input_forget && !(clip > 0) && H % 8 == 0 &&
                                f[0].k == A_SIGMOID && f[1].k == A_TANH && f[2].k == A_TANH && use_avx2();

        /* Wb + Rb, except that GRU with linear_before_reset keeps Rb_h inside
         * the reset gate's product. */
        for (int64_t g = 0; g < GH; g++)
            bias[g] = wb ? wb[g] + (kind == CELL_GRU && m->lbr && g >= 2 * H ? 0.0f : rb[g]) : 0.0f;
        if (wpack) { /* the bias as the epilogue's column bias: added after the sum, as below */
            const spd_gemm_a ga = {.p = X, .ld = I};
            const spd_gemm_b gb = {.trans = 1, .p = w, .ld = I, .packed = wpack + (size_t)d * state->wstride};
            const spd_gemm_epi epi = {.col_bias = bias};
            s = spd_gemm_run(kern, S * B, GH, I, 1.0f, &ga, &gb, 0.0f, xw, GH, &epi, spd_thread_count());
            if (s != SPD_OK) break;
        } else {
            for (int64_t row = 0; row < S * B; row++) memcpy(xw + row * GH, bias, (size_t)GH * sizeof *xw);
            spd_sgemm(0, 1, S * B, GH, I, 1.0f, X, I, w, I, 1.0f, xw, GH);
        }
        /* R^T for the small-batch product: prepared once when R is a
         * constant, else transposed here per call */
        const float *rtd = prep ? prep->rt + d * GH * H : rt;
        if (!prep && rt) transpose_blocked(r, GH, H, rt);

        for (int64_t b = 0; b < B; b++) {
            int64_t at = state_at(m, d, b);
            for (int64_t j = 0; j < H; j++) {
                h[b * H + j] = H0t ? ((const float *)H0t->data)[at + j] : 0.0f;
                c[b * H + j] = C0t ? ((const float *)C0t->data)[at + j] : 0.0f;
            }
        }
        for (int64_t step = 0; step < S; step++) {
            int64_t t = backwards ? S - 1 - step : step;
            const int rev = (int)(step & 1); /* see spd_rnn_rec_acc_avx512 */
            float *gt = xw + t * row_t;
            if (kind == CELL_RNN) {
                rec_acc(B, H, H, h, r, rtd, GH, gt, row_b, rev);
                for (int64_t b = 0; b < B; b++) {
                    act_f32(&f[0], clip, gt + b * row_b, H);
                    memcpy(h + b * H, gt + b * row_b, (size_t)H * sizeof *h);
                }
            } else if (kind == CELL_GRU) {
                /* z and r first: the candidate needs r. */
                rec_acc(B, 2 * H, H, h, r, rtd, GH, gt, row_b, rev);
                for (int64_t b = 0; b < B; b++) act_f32(&f[0], clip, gt + b * row_b, 2 * H);
                const float *rh_w = r + 2 * H * H;
                if (m->lbr) {
                    /* hh += r (R_h h + Rb_h) */
                    memset(tmp, 0, (size_t)(B * H) * sizeof *tmp);
                    rec_acc(B, H, H, h, rh_w, rtd ? rtd + 2 * H : NULL, GH, tmp, H, rev);
                    for (int64_t b = 0; b < B; b++) {
                        const float *rr = gt + b * row_b + H;
                        float *hh = gt + b * row_b + 2 * H;
                        for (int64_t j = 0; j < H; j++)
                            hh[j] += rr[j] * (tmp[b * H + j] + (rb ? rb[2 * H + j] : 0.0f));
                    }
                } else {
                    /* hh += R_h (r h) */
                    for (int64_t b = 0; b < B; b++) {
                        const float *rr = gt + b * row_b + H;
                        for (int64_t j = 0; j < H; j++) tmp[b * H + j] = rr[j] * h[b * H + j];
                    }
                    rec_acc(B, H, H, tmp, rh_w, rtd ? rtd + 2 * H : NULL, GH, gt + 2 * H, row_b, rev);
                }
                for (int64_t b = 0; b < B; b++) {
                    const float *z = gt + b * row_b;
                    float *hh = gt + b * row_b + 2 * H, *hb = h + b * H;
                    act_f32(&f[1], clip, hh, H);
                    for (int64_t j = 0; j < H; j++) hb[j] = (1.0f - z[j]) * hh[j] + z[j] * hb[j];
                }
            } else {
                rec_acc(B, GH, H, h, r, rtd, GH, gt, row_b, rev);
                for (int64_t b = 0; b < B; b++) {
                    float *gi = gt + b * row_b, *go = gi + H, *gf = gi + 2 * H, *gc = gi + 3 * H;
                    float *cb = c + b * H, *hb = h + b * H, *tb = tmp + b * H;
                    if (fused_cell) {
                        if (H % 16 == 0 && spd_vmath_avx512())
                            spd_lstm_cell_avx512(H, gi, go, gf, gc, cb, hb);
                        else
                            spd_lstm_cell_avx2(H, gi, go, gf, gc, cb, hb);
                        continue;
                    }
                    if (p) {
                        for (int64_t j = 0; j < H; j++) {
                            gi[j] += p[j] * cb[j];
                            gf[j] += p[2 * H + j] * cb[j];
                        }
                        act_f32(&f[0], clip, gi, H);
                        if (!m->input_forget) act_f32(&f[0], clip, gf, H);
                    } else {
                        /* i, o and f are adjacent and share f[0]; o needs no peephole. */
                        act_f32(&f[0], clip, gi, m->input_forget ? 2 * H : 3 * H);
                    }
                    act_f32(&f[1], clip, gc, H);
                    for (int64_t j = 0; j < H; j++) {
                        float ft = m->input_forget ? 1.0f - gi[j] : gf[j];
                        cb[j] = ft * cb[j] + gi[j] * gc[j];
                    }
                    if (p) {
                        for (int64_t j = 0; j < H; j++) go[j] += p[H + j] * cb[j];
                        act_f32(&f[0], clip, go, H);
                    }
                    memcpy(tb, cb, (size_t)H * sizeof *tb);
                    act_f32(&f[2], 0.0f, tb, H);
                    for (int64_t j = 0; j < H; j++) hb[j] = go[j] * tb[j];
                }
            }
            if (Y)
                for (int64_t b = 0; b < B; b++)
                    memcpy((float *)Y->data + y_at(m, t, d, b), h + b * H, (size_t)H * sizeof *h);
        }
        for (int64_t b = 0; b < B; b++) {
            int64_t at = state_at(m, d, b);
            if (Yh) memcpy((float *)Yh->data + at, h + b * H, (size_t)H * sizeof *h);
            if (Yc) memcpy((float *)Yc->data + at, c + b * H, (size_t)H * sizeof *c);
        }
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* The recurrence                                                           */

static spd_status rnn_run(spd_op_ctx *ctx, cell_kind kind)
{
    rnn m;
    SPD_TRY(rnn_setup(ctx, kind, &m));
    const int64_t S = m.S, B = m.B, I = m.I, H = m.H, D = m.D, G = m.G;
    spd_dtype dt = ctx->in[0]->dtype;

    /* Outputs: Y, Y_h and (LSTM) Y_c; written whenever the node has them. */
    int64_t ydims[4] = {S, D, B, H}, sdims[3] = {D, B, H};
    if (m.batch_first) {
        ydims[0] = B; ydims[1] = S; ydims[2] = D;
        sdims[0] = B; sdims[1] = D;
    }
    int nout = ctx->n_outputs < (kind == CELL_LSTM ? 3 : 2) ? ctx->n_outputs : (kind == CELL_LSTM ? 3 : 2);
    spd_status s = SPD_OK;
    for (int k = 0; k < nout && s == SPD_OK; k++) /* an omitted output ("") is not computed */
        if (spd_op_out_named(ctx, k))
            s = k == 0 ? spd_tensor_alloc(&ctx->out[0], dt, 4, ydims) : spd_tensor_alloc(&ctx->out[k], dt, 3, sdims);
    spd_tensor *Y = nout > 0 && spd_op_out_named(ctx, 0) ? &ctx->out[0] : NULL;
    spd_tensor *Yh = nout > 1 && spd_op_out_named(ctx, 1) ? &ctx->out[1] : NULL;
    spd_tensor *Yc = nout > 2 && spd_op_out_named(ctx, 2) ? &ctx->out[2] : NULL;

    if (s == SPD_OK && fast_ok(ctx, &m)) {
        s = rnn_run_f32(ctx, &m, Y, Yh, Yc);
        rnn_free(&m);
        return s;
    }
    if (s == SPD_OK) s = rnn_load_doubles(ctx, &m);

    double *gates = spd_malloc((size_t)(G * H) * sizeof *gates);
    double *h = spd_malloc((size_t)H * sizeof *h), *c = spd_malloc((size_t)H * sizeof *c);
    double *rh = spd_malloc((size_t)H * sizeof *rh);
    if (s == SPD_OK && (!gates || !h || !c || !rh)) s = spd_errorf(SPD_ERR_NOMEM, "out of memory");

    for (int64_t d = 0; d < D && s == SPD_OK; d++) {
        const double *w = m.w + d * G * H * I, *r = m.r + d * G * H * H;
        const double *wb = m.bias ? m.bias + d * 2 * G * H : NULL;
        const double *rb = wb ? wb + G * H : NULL;
        const double *p = m.p ? m.p + d * 3 * H : NULL;
        const act *f = m.acts[d];
        bool backwards = m.reverse || d == 1;
        for (int64_t b = 0; b < B; b++) {
            int64_t len = m.lens[b];
            for (int64_t j = 0; j < H; j++) {
                h[j] = m.h0 ? m.h0[state_at(&m, d, b) + j] : 0.0;
                c[j] = m.c0 ? m.c0[state_at(&m, d, b) + j] : 0.0;
            }
            for (int64_t step = 0; step < len; step++) {
                int64_t t = backwards ? len - 1 - step : step;
                const double *xt = m.x + x_at(&m, t, b);
                /* W x + Wb + Rb for every gate, then R h where the cell wants it. */
                for (int64_t g = 0; g < G * H; g++)
                    gates[g] = dot(w + g * I, xt, I) + (wb ? wb[g] + rb[g] : 0.0);
                if (kind == CELL_RNN) {
                    for (int64_t j = 0; j < H; j++) gates[j] += dot(r + j * H, h, H);
                    for (int64_t j = 0; j < H; j++) h[j] = act_apply(&f[0], clipv(&m, gates[j]));
                } else if (kind == CELL_GRU) {
                    double *z = gates, *rr = gates + H, *hh = gates + 2 * H;
                    for (int64_t j = 0; j < 2 * H; j++) gates[j] += dot(r + j * H, h, H);
                    for (int64_t j = 0; j < H; j++) {
                        z[j] = act_apply(&f[0], clipv(&m, z[j]));
                        rr[j] = act_apply(&f[0], clipv(&m, rr[j]));
                    }
                    const double *rh_w = r + 2 * H * H;
                    if (m.lbr) {
                        /* r gates (R_h h + Rb_h); Rb_h was already added with Wb_h. */
                        for (int64_t j = 0; j < H; j++) {
                            double rbh = rb ? rb[2 * H + j] : 0.0;
                            hh[j] += rr[j] * (dot(rh_w + j * H, h, H) + rbh) - rbh;
                        }
                    } else {
                        for (int64_t j = 0; j < H; j++) rh[j] = rr[j] * h[j];
                        for (int64_t j = 0; j < H; j++) hh[j] += dot(rh_w + j * H, rh, H);
                    }
                    for (int64_t j = 0; j < H; j++) {
                        double ht = act_apply(&f[1], clipv(&m, hh[j]));
                        h[j] = (1.0 - z[j]) * ht + z[j] * h[j];
                    }
                } else {
                    double *gi = gates, *go = gates + H, *gf = gates + 2 * H, *gc = gates + 3 * H;
                    for (int64_t j = 0; j < G * H; j++) gates[j] += dot(r + j * H, h, H);
                    for (int64_t j = 0; j < H; j++) {
                        double it = act_apply(&f[0], clipv(&m, gi[j] + (p ? p[j] * c[j] : 0.0)));
                        double ft = m.input_forget
                            ? 1.0 - it
                            : act_apply(&f[0], clipv(&m, gf[j] + (p ? p[2 * H + j] * c[j] : 0.0)));
                        double ct = act_apply(&f[1], clipv(&m, gc[j]));
                        c[j] = ft * c[j] + it * ct;
                        double ot = act_apply(&f[0], clipv(&m, go[j] + (p ? p[H + j] * c[j] : 0.0)));
                        h[j] = ot * act_apply(&f[2], c[j]);
                    }
                }
                if (Y)
                    for (int64_t j = 0; j < H; j++) spd_tensor_set(Y, y_at(&m, t, d, b) + j, h[j]);
            }
            for (int64_t j = 0; j < H; j++) {
                if (Yh) spd_tensor_set(Yh, state_at(&m, d, b) + j, h[j]);
                if (Yc) spd_tensor_set(Yc, state_at(&m, d, b) + j, c[j]);
            }
        }
    }
    spd_free(gates);
    spd_free(h);
    spd_free(c);
    spd_free(rh);
    rnn_free(&m);
    return s;
}

static spd_status op_rnn(spd_op_ctx *ctx) { return rnn_run(ctx, CELL_RNN); }
static spd_status op_gru(spd_op_ctx *ctx) { return rnn_run(ctx, CELL_GRU); }
static spd_status op_lstm(spd_op_ctx *ctx) { return rnn_run(ctx, CELL_LSTM); }

const spd_op_def spd_ops_rnn[] = {
    {"RNN", "", 1, 21, op_rnn, rnn_prepare},
    {"GRU", "", 1, 21, op_gru, rnn_prepare},
    {"LSTM", "", 1, 21, op_lstm, rnn_prepare},
};
const int spd_ops_rnn_count = (int)(sizeof spd_ops_rnn / sizeof spd_ops_rnn[0]);
