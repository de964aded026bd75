/* float32 fast paths (ops/ew_fast.h): the drivers that split the work over
 * the thread pool and pick the AVX2 or portable build of the loops in
 * ew_kern.inc, which this file compiles twice. */
#include "ops/ew_fast.h"

#include <math.h>
#include <string.h>

#include "util/alloc.h"
#include "util/threadpool.h"

/* ---- the two builds of the loops ---- */

#define KFN(ret, name) static ret name##_port
#include "ops/ew_kern.inc"
#undef KFN

#if defined(__x86_64__)
#define KFN(ret, name) __attribute__((target("avx2,fma"))) static ret name##_avx2
#include "ops/ew_kern.inc"
#undef KFN
#define PICK(name) (spd_vmath_avx2() ? name##_avx2 : name##_port)
#else
#define PICK(name) name##_port
#endif

/* Elements per task when a tensor is split. */
#define CHUNK 16384

/* ---- binary ---- */

typedef struct bin_job {
    void (*run)(int op, float *o, const float *a, const float *b, int64_t n, int sa, int sb);
    int op;
    const float *a, *b;
    float *o;
    int cn;                                     /* collapsed axes, innermost first */
    int64_t cd[SPD_MAX_DIMS], cs[2][SPD_MAX_DIMS];
    int64_t runs;                               /* product of cd[1..cn) */
    int64_t pieces;                             /* > 0: each run is split into this many tasks */
    int64_t runs_per_task;                      /* else: each task takes this many runs */
} bin_job;

/* Input offsets of the first element of run r. */
static void run_offsets(const bin_job *j, int64_t r, int64_t *oa, int64_t *ob, int64_t *idx)
{
    *oa = *ob = 0;
    for (int d = 1; d < j->cn; d++) {
        idx[d] = r % j->cd[d];
        r /= j->cd[d];
        *oa += idx[d] * j->cs[0][d];
        *ob += idx[d] * j->cs[1][d];
    }
}

static void bin_task(void *ctx, int64_t t)
{
    const bin_job *j = ctx;
    const int64_t n = j->cd[0];
    const int sa = (int)j->cs[0][0], sb = (int)j->cs[1][0];
    int64_t oa, ob, idx[SPD_MAX_DIMS];
    if (j->pieces > 0) {
        const int64_t r = t / j->pieces, piece = (n + j->pieces - 1) / j->pieces;
        const int64_t lo = (t % j->pieces) * piece, len = n - lo < piece ? n - lo : piece;
        if (len <= 0) return;
        run_offsets(j, r, &oa, &ob, idx);
        j->run(j->op, j->o + r * n + lo, j->a + oa + lo * sa, j->b + ob + lo * sb, len, sa, sb);
        return;
    }
    const int64_t r0 = t * j->runs_per_task;
    const int64_t r1 = r0 + j->runs_per_task < j->runs ? r0 + j->runs_per_task : j->runs;
    run_offsets(j, r0, &oa, &ob, idx);
    for (int64_t r = r0; r < r1; r++) {
        j->run(j->op, j->o + r * n, j->a + oa, j->b + ob, n, sa, sb);
        for (int d = 1; d < j->cn; d++) {
            oa += j->cs[0][d];
            ob += j->cs[1][d];
            if (++idx[d] < j->cd[d]) break;
            oa -= j->cs[0][d] * j->cd[d];
            ob -= j->cs[1][d] * j->cd[d];
            idx[d] = 0;
        }
    }
}

void spd_ew_binary_f32(spd_ew_binop op, const spd_tensor *a, const spd_tensor *b, spd_tensor *out)
{
    const int64_t total = spd_tensor_numel(out);
    if (total == 0) return;
    bin_job j = {PICK(bin_run), (int)op, a->data, b->data, out->data, 0, {0}, {{0}}, 1, 0, 1};
    /* Collapse the axes as spd_ew_broadcast does: size-1 axes dropped,
     * neighbours merged while both inputs continue their stride pattern.
     * The innermost run then steps 0 or 1 in each input: same shapes make
     * one run, a per-channel operand runs of H*W against one value, a
     * trailing vector runs of K. */
    const int nd = out->ndim;
    int64_t st[2][SPD_MAX_DIMS];
    spd_broadcast_strides(a, nd, out->dims, st[0]);
    spd_broadcast_strides(b, nd, out->dims, st[1]);
    for (int i = nd - 1; i >= 0; i--) {
        if (out->dims[i] == 1) continue;
        const int c = j.cn;
        if (c > 0 && st[0][i] == j.cs[0][c - 1] * j.cd[c - 1] && st[1][i] == j.cs[1][c - 1] * j.cd[c - 1]) {
            j.cd[c - 1] *= out->dims[i];
            continue;
        }
        j.cd[c] = out->dims[i];
        j.cs[0][c] = st[0][i];
        j.cs[1][c] = st[1][i];
        j.cn++;
    }
    if (j.cn == 0) {
        j.cd[0] = 1;
        j.cn = 1;
    }
    const int64_t n = j.cd[0];
    j.runs = total / n;
    int64_t tasks = 1;
    if (total >= SPD_EW_PAR_MIN_CHEAP && spd_thread_count() > 1) {
        if (n >= 2 * CHUNK) {
            j.pieces = (n + CHUNK - 1) / CHUNK;
            tasks = j.runs * j.pieces;
        } else {
            j.runs_per_task = (CHUNK + n - 1) / n;
            tasks = (j.runs + j.runs_per_task - 1) / j.runs_per_task;
        }
    } else {
        j.runs_per_task = j.runs;
    }
    spd_parallel_for(tasks, bin_task, &j);
}

/* ---- unary ---- */

typedef struct un_job {
    spd_ew_unop op;
    const spd_act *ac;
    void (*run)(int op, float *restrict y, const float *restrict x, int64_t n);
    const float *x, *bias;
    float *y;
    int64_t n, chunk, d;
} un_job;

static void un_chunk(const un_job *j, float *y, const float *x, int64_t n)
{
    switch (j->op) {
    case SPD_EW_U_ACT: spd_vact_f32(j->ac, y, x, n); break;
    case SPD_EW_U_EXP: spd_vexp_f32(y, x, n); break;
    case SPD_EW_U_ERF: spd_verf_f32(y, x, n); break;
    default:
        if (y == x) {
            /* the loops take restrict pointers: go through a buffer */
            float buf[1024];
            for (int64_t i = 0; i < n; i += 1024) {
                const int64_t m = n - i < 1024 ? n - i : 1024;
                j->run((int)j->op, buf, x + i, m);
                memcpy(y + i, buf, (size_t)m * sizeof *buf);
            }
        } else {
            j->run((int)j->op, y, x, n);
        }
        break;
    }
}

static void un_task(void *ctx, int64_t t)
{
    const un_job *j = ctx;
    const int64_t lo = t * j->chunk, n = j->n - lo < j->chunk ? j->n - lo : j->chunk;
    un_chunk(j, j->y + lo, j->x + lo, n);
}

/* Tasks of CHUNK elements when n reaches min_par, else one. */
static int64_t split(int64_t n, int64_t min_par, int64_t *chunk)
{
    if (n < min_par || spd_thread_count() <= 1) {
        *chunk = n > 0 ? n : 1;
        return n > 0 ? 1 : 0;
    }
    *chunk = CHUNK;
    return (n + CHUNK - 1) / CHUNK;
}

/* Whether the op is cheap enough per element to be memory-bound. */
static bool cheap_op(spd_ew_unop op, const spd_act *ac)
{
    if (op == SPD_EW_U_EXP || op == SPD_EW_U_ERF) return false;
    if (op != SPD_EW_U_ACT) return true;
    return ac->kind == SPD_ACT_NONE || ac->kind == SPD_ACT_RELU || ac->kind == SPD_ACT_LEAKYRELU ||
           ac->kind == SPD_ACT_CLIP || ac->kind == SPD_ACT_HARDSIGMOID || ac->kind == SPD_ACT_HARDSWISH;
}

void spd_ew_unary_f32(spd_ew_unop op, const spd_act *ac, float *y, const float *x, int64_t n)
{
    un_job j = {op, ac, PICK(un_run), x, NULL, y, n, 0, 0};
    const int64_t tasks = split(n, cheap_op(op, ac) ? SPD_EW_PAR_MIN_CHEAP : SPD_EW_PAR_MIN, &j.chunk);
    spd_parallel_for(tasks, un_task, &j);
}

bool spd_ew_unary_op_f32(spd_op_ctx *ctx, spd_ew_unop op, const spd_act *ac, spd_status *st)
{
    const spd_tensor *in = ctx->n_inputs > 0 ? ctx->in[0] : NULL;
    if (!in || in->dtype != SPD_FLOAT) return false;
    *st = spd_tensor_alloc_uninit(&ctx->out[0], SPD_FLOAT, in->ndim, in->dims);
    if (*st == SPD_OK) spd_ew_unary_f32(op, ac, ctx->out[0].data, in->data, spd_tensor_numel(in));
    return true;
}

/* ---- FastGelu ---- */

static void fast_gelu_task(void *ctx, int64_t t)
{
    const un_job *j = ctx;
    const int64_t lo = t * j->chunk, n = j->n - lo < j->chunk ? j->n - lo : j->chunk;
    const float *x = j->x + lo;
    float *y = j->y + lo;
    float v[512], u[512];
    for (int64_t i = 0; i < n; i += 512) {
        const int64_t m = n - i < 512 ? n - i : 512;
        if (j->bias) {
            int64_t k = (lo + i) % j->d;
            for (int64_t e = 0; e < m; e++) {
                v[e] = x[i + e] + j->bias[k];
                if (++k == j->d) k = 0;
            }
        } else {
            memcpy(v, x + i, (size_t)m * sizeof *v);
        }
        for (int64_t e = 0; e < m; e++) u[e] = 0.7978845608028654f * (v[e] + 0.044715f * v[e] * v[e] * v[e]);
        spd_vtanh_f32(u, u, m);
        for (int64_t e = 0; e < m; e++) y[i + e] = 0.5f * v[e] * (1.0f + u[e]);
    }
}

void spd_ew_fast_gelu_f32(float *y, const float *x, int64_t n, const float *bias, int64_t d)
{
    un_job j = {SPD_EW_U_ACT, NULL, NULL, x, bias, y, n, 0, d};
    const int64_t tasks = split(n, SPD_EW_PAR_MIN, &j.chunk);
    spd_parallel_for(tasks, fast_gelu_task, &j);
}
