/* The matmul family: Gemm, MatMul and Einsum.
 *
 * float32 goes through the packed-GEMM driver (ops/sgemm_fast.h), with a
 * constant B packed once at build time (the prepare hooks) and Gemm's C and
 * FusedGemm's activation as its epilogue; float16 and bfloat16 are widened to
 * float32 buffers, multiplied the same way and narrowed once at the end, so
 * that they round like a float32 accumulation would. double and the integer
 * types use plain typed loops (integers wrap as the ONNX runtimes do). */
#include <math.h>
#include <string.h>

#include "ir/op.h"
#include "ops/gemm.h"
#include "ops/sgemm_fast.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/status.h"
#include "util/threadpool.h"

/* ------------------------------------------------------------------------ */
/* float32 views of float tensors */

/* *out points at t's data as float32: t's own data when it is float32,
 * otherwise a widened copy that *owned receives (free it with spd_free). */
static spd_status as_f32(const spd_tensor *t, const float **out, float **owned)
{
    *owned = NULL;
    if (t->dtype == SPD_FLOAT) {
        *out = (const float *)t->data;
        return SPD_OK;
    }
    int64_t n = spd_tensor_numel(t);
    float *buf = spd_malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!buf) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    const uint16_t *h = (const uint16_t *)t->data;
    if (t->dtype == SPD_FLOAT16)
        for (int64_t i = 0; i < n; i++) buf[i] = spd_f16_to_f32(h[i]);
    else
        for (int64_t i = 0; i < n; i++) buf[i] = spd_bf16_to_f32(h[i]);
    *out = buf;
    *owned = buf;
    return SPD_OK;
}

/* Narrows n float32 values into a float16/bfloat16 tensor's data. */
static void store_f32(spd_tensor *t, const float *src, int64_t n)
{
    uint16_t *h = (uint16_t *)t->data;
    if (t->dtype == SPD_FLOAT16)
        for (int64_t i = 0; i < n; i++) h[i] = spd_f32_to_f16(src[i]);
    else
        for (int64_t i = 0; i < n; i++) h[i] = spd_f32_to_bf16(src[i]);
}

static bool is_half(spd_dtype t)
{
    return t == SPD_FLOAT16 || t == SPD_BFLOAT16;
}

static bool is_int_type(spd_dtype t)
{
    return spd_dtype_is_int(t);
}

/* Integer values as int64 (wrapping for uint64), for the integer paths. */
static int64_t *ints_as_i64(const spd_tensor *t)
{
    int64_t n = spd_tensor_numel(t);
    int64_t *buf = spd_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!buf) return NULL;
    for (int64_t i = 0; i < n; i++) buf[i] = spd_tensor_get_i64(t, i);
    return buf;
}

/* Stores an int64 accumulator into an integer tensor, wrapping to the
 * element width as an integer multiply-add of that width would. */
static void store_wrapped(spd_tensor *t, int64_t i, int64_t v)
{
    void *d = t->data;
    switch (t->dtype) {
    case SPD_INT8: ((int8_t *)d)[i] = (int8_t)v; break;
    case SPD_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case SPD_INT16: ((int16_t *)d)[i] = (int16_t)v; break;
    case SPD_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case SPD_INT32: ((int32_t *)d)[i] = (int32_t)v; break;
    case SPD_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case SPD_INT64: ((int64_t *)d)[i] = v; break;
    case SPD_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    default: break;
    }
}

/* Wrapping multiply-add without signed-overflow UB. */
static inline int64_t wrap_madd(int64_t acc, int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)acc + (uint64_t)a * (uint64_t)b);
}

/* c(MxN) = a(MxK) * b(KxN), row-major, double. */
static void dgemm_nn(int64_t M, int64_t N, int64_t K, const double *a, const double *b, double *c)
{
    for (int64_t i = 0; i < M; i++) {
        double *ci = c + i * N;
        for (int64_t j = 0; j < N; j++) ci[j] = 0.0;
        for (int64_t k = 0; k < K; k++) {
            const double x = a[i * K + k];
            const double *bk = b + k * N;
            for (int64_t j = 0; j < N; j++) ci[j] += x * bk[j];
        }
    }
}

/* Same for int64 with wrap-around. */
static void igemm_nn(int64_t M, int64_t N, int64_t K, const int64_t *a, const int64_t *b, int64_t *c)
{
    for (int64_t i = 0; i < M; i++) {
        int64_t *ci = c + i * N;
        for (int64_t j = 0; j < N; j++) ci[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            const int64_t x = a[i * K + k];
            const int64_t *bk = b + k * N;
            for (int64_t j = 0; j < N; j++) ci[j] = wrap_madd(ci[j], x, bk[j]);
        }
    }
}

static bool gemm_type_ok(spd_dtype t)
{
    return t == SPD_FLOAT || t == SPD_DOUBLE || is_half(t) || t == SPD_INT32 || t == SPD_INT64 ||
           t == SPD_UINT32 || t == SPD_UINT64;
}

/* ------------------------------------------------------------------------ */
/* Prepared weights: a constant float32 B of Gemm or MatMul, packed once into
 * the B panels of the GEMM kernel current at build time. */

#define MM_PREP_MAGIC 0x4d505250u /* "MPRP" */
typedef struct mm_prep {
    uint32_t magic;
    const spd_sgemm_kernel *kern;
    int trans;
    int64_t K, N; /* op(B) is K x N */
    float *b;
} mm_prep;

static void mm_prep_free(void *p)
{
    mm_prep *s = p;
    if (!s) return;
    spd_free(s->b);
    spd_free(s);
}

static spd_status prepare_b(const spd_tensor *B, int trans, void **state, void (**state_free)(void *))
{
    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    if (!kern || !B || B->dtype != SPD_FLOAT || B->ndim != 2 || !B->data) return SPD_OK;
    const int64_t K = trans ? B->dims[1] : B->dims[0], N = trans ? B->dims[0] : B->dims[1];
    if (K < 1 || N < 1) return SPD_OK;
    mm_prep *s = spd_calloc(1, sizeof *s);
    if (!s) return SPD_OK; /* decline: the kernel packs per call */
    s->b = spd_malloc(spd_sgemm_prepacked_b_floats(kern, K, N) * sizeof(float));
    if (!s->b) {
        spd_free(s);
        return SPD_OK;
    }
    spd_sgemm_prepack_b(kern, trans, K, N, (const float *)B->data, B->dims[1], s->b);
    s->magic = MM_PREP_MAGIC;
    s->kern = kern;
    s->trans = trans;
    s->K = K;
    s->N = N;
    *state = s;
    *state_free = mm_prep_free;
    return SPD_OK;
}

/* The prepacked op(B) when ctx->state has it for this kernel and shape. */
static const float *prepacked_b(const spd_op_ctx *ctx, const spd_sgemm_kernel *kern, int trans, int64_t K, int64_t N)
{
    const mm_prep *s = ctx->state;
    if (!s || !kern || s->magic != MM_PREP_MAGIC || s->kern != kern || s->trans != trans || s->K != K || s->N != N)
        return NULL;
    return s->b;
}

spd_status spd_gemm_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                            void **state, void (**state_free)(void *))
{
    (void)opset;
    if (n_in < 2) return SPD_OK;
    return prepare_b(consts[1], spd_attr_int(node, "transB", 0) != 0, state, state_free);
}

static spd_status matmul_prepare(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                                 void **state, void (**state_free)(void *))
{
    (void)node;
    (void)opset;
    if (n_in < 2) return SPD_OK;
    return prepare_b(consts[1], 0, state, state_free);
}

/* ------------------------------------------------------------------------ */
/* Gemm */

/* float32 Gemm on the GEMM driver: C and the activation become the
 * epilogue, applied block by block while the output is in cache. */
static spd_status gemm_f32(spd_op_ctx *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                           float beta, bool use_c, int64_t csm, int64_t csn, const spd_act *ac)
{
    const spd_tensor *A = ctx->in[0], *B = ctx->in[1], *C = use_c ? ctx->in[2] : NULL;
    const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
    const spd_gemm_a ga = {.trans = transA, .p = A->data, .ld = A->dims[1]};
    const spd_gemm_b gb = {.trans = transB, .p = B->data, .ld = B->dims[1],
                           .packed = prepacked_b(ctx, kern, transB, K, N)};
    spd_gemm_epi epi = {.ac = ac};
    float *y = ctx->out[0].data, *rb, gbeta = 0.0f;
    const float *c = C ? (const float *)C->data : NULL;
    if (c && csn == 0) {
        /* one value per row (C is M x 1 or a scalar) */
        rb = spd_scratch(SPD_SCRATCH_OP, (size_t)M * sizeof(float));
        if (!rb) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < M; i++) rb[i] = beta * c[i * csm];
        epi.row_bias = rb;
    } else if (c && beta == 1.0f) {
        epi.z = c; /* a row vector (ldz 0) or the full M x N */
        epi.ldz = csm;
    } else if (c) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) y[i * N + j] = c[i * csm + j * csn];
        gbeta = beta;
    }
    return spd_gemm_run(kern, M, N, K, alpha, &ga, &gb, gbeta, y, N, &epi, spd_thread_count());
}

/* Row-major element strides of C seen as an (M, N) matrix under
 * unidirectional broadcasting (0 on broadcast axes). */
static spd_status gemm_c_strides(const spd_tensor *C, int64_t M, int64_t N, int64_t *sm, int64_t *sn)
{
    if (C->ndim > 2) return spd_errorf(SPD_ERR_INVALID, "C has rank %d (at most 2)", C->ndim);
    int64_t cm = C->ndim == 2 ? C->dims[0] : 1;
    int64_t cn = C->ndim >= 1 ? C->dims[C->ndim - 1] : 1;
    if ((cm != M && cm != 1) || (cn != N && cn != 1))
        return spd_errorf(SPD_ERR_INVALID, "C of shape (%lld,%lld) does not broadcast to (%lld,%lld)",
                          (long long)cm, (long long)cn, (long long)M, (long long)N);
    *sn = cn == 1 ? 0 : 1;
    *sm = cm == 1 ? 0 : cn;
    return SPD_OK;
}

spd_status spd_gemm_fused(spd_op_ctx *ctx, const spd_act *ac)
{
    const spd_tensor *A = ctx->n_inputs > 0 ? ctx->in[0] : NULL;
    const spd_tensor *B = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
    const spd_tensor *C = ctx->n_inputs > 2 ? ctx->in[2] : NULL;
    if (!A || !B) return spd_errorf(SPD_ERR_INVALID, "Gemm needs inputs A and B");
    if (!C && ctx->opset < 11) return spd_errorf(SPD_ERR_INVALID, "input C is required before opset 11");
    if (A->dtype != B->dtype || (C && C->dtype != A->dtype))
        return spd_errorf(SPD_ERR_INVALID, "inputs have different types (%s, %s)",
                          spd_dtype_name(A->dtype), spd_dtype_name(B->dtype));
    if (!gemm_type_ok(A->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "Gemm on %s", spd_dtype_name(A->dtype));
    if (A->ndim != 2 || B->ndim != 2)
        return spd_errorf(SPD_ERR_INVALID, "A and B must be 2-D (got ranks %d and %d)", A->ndim, B->ndim);

    const int transA = spd_attr_int(ctx->node, "transA", 0) != 0;
    const int transB = spd_attr_int(ctx->node, "transB", 0) != 0;
    const float alpha = spd_attr_float(ctx->node, "alpha", 1.0f);
    const float beta = spd_attr_float(ctx->node, "beta", 1.0f);
    const int64_t M = transA ? A->dims[1] : A->dims[0];
    const int64_t K = transA ? A->dims[0] : A->dims[1];
    const int64_t Kb = transB ? B->dims[1] : B->dims[0];
    const int64_t N = transB ? B->dims[0] : B->dims[1];
    if (K != Kb)
        return spd_errorf(SPD_ERR_INVALID, "inner dimensions differ: op(A) is %lldx%lld, op(B) is %lldx%lld",
                          (long long)M, (long long)K, (long long)Kb, (long long)N);
    /* Before opset 7 a C that is not (M, N) needed broadcast=1; running it
     * broadcast anyway is what every runtime does, so only the shape is
     * checked. */
    int64_t csm = 0, csn = 0;
    const bool use_c = C && beta != 0.0f;
    if (C) SPD_TRY(gemm_c_strides(C, M, N, &csm, &csn));

    int64_t dims[2] = {M, N};
    /* the float32 GEMM (beta 0 or the C epilogue) writes every element when K > 0 */
    if (A->dtype == SPD_FLOAT && K > 0)
        SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], A->dtype, 2, dims));
    else
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], A->dtype, 2, dims));
    spd_tensor *Y = &ctx->out[0];
    if (M == 0 || N == 0) return SPD_OK;
    if (ac && ac->kind == SPD_ACT_NONE) ac = NULL;
    if (ac && !spd_dtype_is_float(A->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "fused activation on %s", spd_dtype_name(A->dtype));

    if (A->dtype == SPD_FLOAT) return gemm_f32(ctx, transA, transB, M, N, K, alpha, beta, use_c, csm, csn, ac);

    if (is_half(A->dtype)) {
        const float *a, *b, *c = NULL;
        float *ao, *bo, *co = NULL, *y;
        SPD_TRY(as_f32(A, &a, &ao));
        spd_status s = as_f32(B, &b, &bo);
        if (s == SPD_OK && use_c) s = as_f32(C, &c, &co);
        float *yo = NULL;
        if (s == SPD_OK && A->dtype != SPD_FLOAT) {
            yo = spd_malloc((size_t)(M * N) * sizeof(float));
            if (!yo) s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        }
        if (s == SPD_OK) {
            y = yo ? yo : (float *)Y->data;
            if (use_c)
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) y[i * N + j] = c[i * csm + j * csn];
            spd_sgemm(transA, transB, M, N, K, alpha, a, A->dims[1], b, B->dims[1],
                          use_c ? beta : 0.0f, y, N);
            if (ac) spd_vact_bias_f32(ac, y, M * N, 0.0f, NULL);
            if (yo) store_f32(Y, yo, M * N);
        }
        spd_free(ao);
        spd_free(bo);
        spd_free(co);
        spd_free(yo);
        return s;
    }

    if (A->dtype == SPD_DOUBLE) {
        const double *a = (const double *)A->data, *b = (const double *)B->data;
        const double *c = use_c ? (const double *)C->data : NULL;
        if (ac) return spd_errorf(SPD_ERR_UNSUPPORTED, "fused activation on double");
        double *y = (double *)Y->data;
        const int64_t ia = transA ? 1 : K, ka = transA ? M : 1;
        const int64_t kb = transB ? 1 : N, jb = transB ? K : 1;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0.0;
                for (int64_t k = 0; k < K; k++) acc += a[i * ia + k * ka] * b[k * kb + j * jb];
                y[i * N + j] = (double)alpha * acc + (c ? (double)beta * c[i * csm + j * csn] : 0.0);
            }
        return SPD_OK;
    }

    /* Integer Gemm: exact wrapping product, then alpha/beta applied as the
     * float scalars they are. */
    const int64_t ia = transA ? 1 : K, ka = transA ? M : 1;
    const int64_t kb = transB ? 1 : N, jb = transB ? K : 1;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc = wrap_madd(acc, spd_tensor_get_i64(A, i * ia + k * ka),
                                spd_tensor_get_i64(B, k * kb + j * jb));
            int64_t v = acc;
            if (alpha != 1.0f) v = (int64_t)((double)alpha * (double)acc);
            if (use_c) {
                int64_t cv = spd_tensor_get_i64(C, i * csm + j * csn);
                v = (int64_t)((uint64_t)v + (uint64_t)(beta == 1.0f ? cv : (int64_t)((double)beta * (double)cv)));
            }
            store_wrapped(Y, i * N + j, v);
        }
    return SPD_OK;
}

static spd_status op_gemm(spd_op_ctx *ctx) { return spd_gemm_fused(ctx, NULL); }

/* ------------------------------------------------------------------------ */
/* MatMul */

/* Batched float32 products with one task per batch: the attention shapes
 * ([12,128,64] x [12,64,128]) are too small to split well one by one. */
typedef struct mm_batch_job {
    const spd_sgemm_kernel *kern;
    int64_t M, N, K;
    const float *a, *b;
    const int64_t *aoff, *boff;
    float *y;
} mm_batch_job;

static void mm_batch_task(void *ctx, int64_t t)
{
    const mm_batch_job *j = ctx;
    const spd_gemm_a ga = {.p = j->a + j->aoff[t] * j->M * j->K, .ld = j->K};
    const spd_gemm_b gb = {.p = j->b + j->boff[t] * j->K * j->N, .ld = j->N};
    (void)spd_gemm_run(j->kern, j->M, j->N, j->K, 1.0f, &ga, &gb, 0.0f, j->y + t * j->M * j->N, j->N, NULL, 1);
}

static bool matmul_type_ok(spd_dtype t)
{
    return t == SPD_FLOAT || t == SPD_DOUBLE || is_half(t) || is_int_type(t);
}

static spd_status op_matmul(spd_op_ctx *ctx)
{
    const spd_tensor *A = ctx->n_inputs > 0 ? ctx->in[0] : NULL;
    const spd_tensor *B = ctx->n_inputs > 1 ? ctx->in[1] : NULL;
    if (!A || !B) return spd_errorf(SPD_ERR_INVALID, "MatMul needs inputs A and B");
    if (A->dtype != B->dtype)
        return spd_errorf(SPD_ERR_INVALID, "inputs have different types (%s, %s)",
                          spd_dtype_name(A->dtype), spd_dtype_name(B->dtype));
    if (!matmul_type_ok(A->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "MatMul on %s", spd_dtype_name(A->dtype));
    if (A->ndim < 1 || B->ndim < 1)
        return spd_errorf(SPD_ERR_INVALID, "MatMul inputs must have rank >= 1 (got %d and %d)",
                          A->ndim, B->ndim);

    /* numpy.matmul: a 1-D A is a row vector, a 1-D B a column vector; the
     * added dim is dropped from the result. */
    const int64_t M = A->ndim >= 2 ? A->dims[A->ndim - 2] : 1;
    const int64_t K = A->dims[A->ndim - 1];
    const int64_t Kb = B->ndim >= 2 ? B->dims[B->ndim - 2] : B->dims[0];
    const int64_t N = B->ndim >= 2 ? B->dims[B->ndim - 1] : 1;
    if (K != Kb)
        return spd_errorf(SPD_ERR_INVALID, "inner dimensions differ (%lld and %lld)", (long long)K,
                          (long long)Kb);

    const int abn = A->ndim > 2 ? A->ndim - 2 : 0, bbn = B->ndim > 2 ? B->ndim - 2 : 0;
    const int bn = abn > bbn ? abn : bbn;
    int64_t bdims[SPD_MAX_DIMS], astr[SPD_MAX_DIMS], bstr[SPD_MAX_DIMS];
    /* Batch strides in whole matrices, right-aligned, 0 where broadcast. */
    int64_t sa = 1, sb = 1;
    for (int i = bn - 1; i >= 0; i--) {
        const int ai = i - (bn - abn), bi = i - (bn - bbn);
        const int64_t da = ai >= 0 ? A->dims[ai] : 1, db = bi >= 0 ? B->dims[bi] : 1;
        if (da != db && da != 1 && db != 1)
            return spd_errorf(SPD_ERR_INVALID, "batch dimensions %lld and %lld do not broadcast",
                              (long long)da, (long long)db);
        bdims[i] = da == 1 ? db : da;
        astr[i] = da == 1 ? 0 : sa;
        bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    const int64_t nbatch = spd_dims_prod(bdims, 0, bn);

    int64_t odims[SPD_MAX_DIMS];
    int ond = 0;
    for (int i = 0; i < bn; i++) odims[ond++] = bdims[i];
    if (A->ndim >= 2) odims[ond++] = M;
    if (B->ndim >= 2) odims[ond++] = N;
    if (A->dtype == SPD_FLOAT && K > 0)
        SPD_TRY(spd_tensor_alloc_uninit(&ctx->out[0], A->dtype, ond, odims));
    else
        SPD_TRY(spd_tensor_alloc(&ctx->out[0], A->dtype, ond, odims));
    spd_tensor *Y = &ctx->out[0];
    if (nbatch == 0 || M == 0 || N == 0) return SPD_OK;

    /* Matrix offsets of each batch in A and B. */
    int64_t *aoff = spd_malloc((size_t)nbatch * 2 * sizeof(int64_t));
    if (!aoff) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    int64_t *boff = aoff + nbatch;
    {
        int64_t idx[SPD_MAX_DIMS] = {0}, oa = 0, ob = 0;
        for (int64_t t = 0; t < nbatch; t++) {
            aoff[t] = oa;
            boff[t] = ob;
            for (int d = bn - 1; d >= 0; d--) {
                oa += astr[d];
                ob += bstr[d];
                if (++idx[d] < bdims[d]) break;
                oa -= astr[d] * bdims[d];
                ob -= bstr[d] * bdims[d];
                idx[d] = 0;
            }
        }
    }
    /* A shared B under a full batch of A is one tall GEMM: (nbatch*M, K)
     * times (K, N), the common case of activations times a weight matrix. */
    const bool fold = sb == 1 && sa == nbatch;

    spd_status s = SPD_OK;
    if (A->dtype == SPD_FLOAT || is_half(A->dtype)) {
        const float *a = NULL, *b = NULL;
        float *ao = NULL, *bo = NULL, *yo = NULL;
        s = as_f32(A, &a, &ao);
        if (s == SPD_OK) s = as_f32(B, &b, &bo);
        if (s == SPD_OK && A->dtype != SPD_FLOAT) {
            yo = spd_malloc((size_t)(nbatch * M * N) * sizeof(float));
            if (!yo) s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        }
        if (s == SPD_OK) {
            float *y = yo ? yo : (float *)Y->data;
            const spd_sgemm_kernel *kern = spd_sgemm_kernel_current();
            const int threads = spd_thread_count();
            if (fold) {
                const spd_gemm_a ga = {.p = a, .ld = K};
                const spd_gemm_b gb = {.p = b, .ld = N, .packed = yo ? NULL : prepacked_b(ctx, kern, 0, K, N)};
                (void)spd_gemm_run(kern, nbatch * M, N, K, 1.0f, &ga, &gb, 0.0f, y, N, NULL, threads);
            } else if (threads > 1 && (nbatch % threads == 0 || nbatch >= 4 * threads)) {
                mm_batch_job j = {kern, M, N, K, a, b, aoff, boff, y};
                spd_parallel_for(nbatch, mm_batch_task, &j);
            } else
                for (int64_t t = 0; t < nbatch; t++)
                    spd_sgemm(0, 0, M, N, K, 1.0f, a + aoff[t] * M * K, K, b + boff[t] * K * N, N,
                                  0.0f, y + t * M * N, N);
            if (yo) store_f32(Y, yo, nbatch * M * N);
        }
        spd_free(ao);
        spd_free(bo);
        spd_free(yo);
    } else if (A->dtype == SPD_DOUBLE) {
        const double *a = (const double *)A->data, *b = (const double *)B->data;
        double *y = (double *)Y->data;
        for (int64_t t = 0; t < nbatch; t++)
            dgemm_nn(M, N, K, a + aoff[t] * M * K, b + boff[t] * K * N, y + t * M * N);
    } else {
        int64_t *a = ints_as_i64(A), *b = ints_as_i64(B);
        int64_t *y = spd_malloc((size_t)(M * N) * sizeof(int64_t));
        if (!a || !b || !y) {
            s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        } else {
            for (int64_t t = 0; t < nbatch; t++) {
                igemm_nn(M, N, K, a + aoff[t] * M * K, b + boff[t] * K * N, y);
                for (int64_t i = 0; i < M * N; i++) store_wrapped(Y, t * M * N + i, y[i]);
            }
        }
        spd_free(a);
        spd_free(b);
        spd_free(y);
    }
    spd_free(aoff);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Einsum */

/* Labels: 'A'-'Z' are 0-25, 'a'-'z' 26-51 (so id order is ASCII order, the
 * order of implicit outputs), and ellipsis dims 52 onwards. */
#define EIN_LETTERS 52
#define EIN_LABELS (EIN_LETTERS + SPD_MAX_DIMS)
#define EIN_MAX_INPUTS 64

typedef struct ein_term {
    int nlab;            /* labels written (letters only) */
    int lab[SPD_MAX_DIMS + 1];
    int ell;             /* position of "..." among the letters, -1 if none */
} ein_term;

static int ein_letter(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
    return -1;
}

/* Parses one term of the equation [s, e) into t. */
static spd_status ein_parse_term(const char *s, const char *e, ein_term *t)
{
    t->nlab = 0;
    t->ell = -1;
    while (s < e) {
        if (*s == '.') {
            if (e - s < 3 || s[1] != '.' || s[2] != '.')
                return spd_errorf(SPD_ERR_INVALID, "equation has a '.' that is not part of '...'");
            if (t->ell >= 0) return spd_errorf(SPD_ERR_INVALID, "a term has more than one '...'");
            t->ell = t->nlab;
            s += 3;
            continue;
        }
        int l = ein_letter(*s);
        if (l < 0) return spd_errorf(SPD_ERR_INVALID, "equation has an invalid character '%c'", *s);
        if (t->nlab > SPD_MAX_DIMS)
            return spd_errorf(SPD_ERR_INVALID, "a term has more than %d labels", SPD_MAX_DIMS);
        t->lab[t->nlab++] = l;
        s++;
    }
    return SPD_OK;
}

/* Expands a term to one label per dim of a rank-`rank` operand, the ellipsis
 * taking the trailing `rank - nlab` of the ell_rank ellipsis labels. */
static int ein_expand(const ein_term *t, int nell, int ell_rank, int *labs)
{
    int n = 0;
    for (int i = 0; i < t->nlab; i++) {
        if (i == t->ell)
            for (int j = 0; j < nell; j++) labs[n++] = EIN_LETTERS + ell_rank - nell + j;
        labs[n++] = t->lab[i];
    }
    if (t->ell == t->nlab)
        for (int j = 0; j < nell; j++) labs[n++] = EIN_LETTERS + ell_rank - nell + j;
    return n;
}

/* Copies the nl-dimensional strided view (sizes, strides) of src into dst
 * contiguously. */
static void gather_f32(const float *src, int nl, const int64_t *sizes, const int64_t *strides, float *dst)
{
    int64_t total = spd_dims_prod(sizes, 0, nl);
    int64_t idx[EIN_LABELS] = {0}, off = 0;
    for (int64_t i = 0; i < total; i++) {
        dst[i] = src[off];
        for (int d = nl - 1; d >= 0; d--) {
            off += strides[d];
            if (++idx[d] < sizes[d]) break;
            off -= strides[d] * sizes[d];
            idx[d] = 0;
        }
    }
}

typedef struct ein_plan {
    int n_in;
    const spd_tensor *const *in;
    int64_t size[EIN_LABELS];             /* -1 when unused */
    int64_t stride[EIN_MAX_INPUTS][EIN_LABELS]; /* per input, 0 when absent/broadcast */
    int count[EIN_MAX_INPUTS][EIN_LABELS];      /* occurrences per input */
    bool bcast;                           /* some size-1 dim was broadcast */
    int nout, out[EIN_LABELS];
    int nsum, sum[EIN_LABELS];
} ein_plan;

/* Batched-GEMM fast path for two float32 operands: labels split into batch
 * (both inputs and the output), M (A and output), N (B and output) and K
 * (both inputs, summed). Returns false when the equation has another shape
 * (diagonals, one-sided sums, broadcasting), leaving the generic loop. */
static bool ein_try_gemm(const ein_plan *p, spd_tensor *Y, spd_status *st)
{
    if (p->n_in != 2 || p->in[0]->dtype != SPD_FLOAT || p->bcast) return false;
    bool in_out[EIN_LABELS] = {false};
    for (int i = 0; i < p->nout; i++) in_out[p->out[i]] = true;
    int bl[EIN_LABELS], ml[EIN_LABELS], nl[EIN_LABELS], kl[EIN_LABELS];
    int nb = 0, nm = 0, nn = 0, nk = 0;
    for (int l = 0; l < EIN_LABELS; l++) {
        if (p->size[l] < 0) continue;
        const int ca = p->count[0][l], cb = p->count[1][l];
        if (ca > 1 || cb > 1) return false;
        if (ca && cb) {
            if (in_out[l]) bl[nb++] = l;
            else kl[nk++] = l;
        } else if (!in_out[l]) {
            return false;
        } else if (ca) {
            ml[nm++] = l;
        } else {
            nl[nn++] = l;
        }
    }
    int64_t Bt = 1, M = 1, N = 1, K = 1;
    for (int i = 0; i < nb; i++) Bt *= p->size[bl[i]];
    for (int i = 0; i < nm; i++) M *= p->size[ml[i]];
    for (int i = 0; i < nn; i++) N *= p->size[nl[i]];
    for (int i = 0; i < nk; i++) K *= p->size[kl[i]];

    float *pa = spd_malloc((size_t)(Bt * M * K + Bt * K * N + Bt * M * N + 1) * sizeof(float));
    if (!pa) {
        *st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        return true;
    }
    float *pb = pa + Bt * M * K, *pc = pb + Bt * K * N;
    int64_t sizes[EIN_LABELS], strides[EIN_LABELS];
    int n = 0;
    /* A as [batch, M, K] */
    for (int i = 0; i < nb; i++) { sizes[n] = p->size[bl[i]]; strides[n++] = p->stride[0][bl[i]]; }
    for (int i = 0; i < nm; i++) { sizes[n] = p->size[ml[i]]; strides[n++] = p->stride[0][ml[i]]; }
    for (int i = 0; i < nk; i++) { sizes[n] = p->size[kl[i]]; strides[n++] = p->stride[0][kl[i]]; }
    gather_f32((const float *)p->in[0]->data, n, sizes, strides, pa);
    /* B as [batch, K, N] */
    n = 0;
    for (int i = 0; i < nb; i++) { sizes[n] = p->size[bl[i]]; strides[n++] = p->stride[1][bl[i]]; }
    for (int i = 0; i < nk; i++) { sizes[n] = p->size[kl[i]]; strides[n++] = p->stride[1][kl[i]]; }
    for (int i = 0; i < nn; i++) { sizes[n] = p->size[nl[i]]; strides[n++] = p->stride[1][nl[i]]; }
    gather_f32((const float *)p->in[1]->data, n, sizes, strides, pb);
    for (int64_t t = 0; t < Bt; t++)
        spd_sgemm(0, 0, M, N, K, 1.0f, pa + t * M * K, K, pb + t * K * N, N, 0.0f, pc + t * M * N, N);
    /* The product is [batch, M, N]; read it back in output label order. */
    int64_t cstride[EIN_LABELS];
    int64_t s = 1;
    for (int i = nn - 1; i >= 0; i--) { cstride[nl[i]] = s; s *= p->size[nl[i]]; }
    for (int i = nm - 1; i >= 0; i--) { cstride[ml[i]] = s; s *= p->size[ml[i]]; }
    for (int i = nb - 1; i >= 0; i--) { cstride[bl[i]] = s; s *= p->size[bl[i]]; }
    for (int i = 0; i < p->nout; i++) {
        sizes[i] = p->size[p->out[i]];
        strides[i] = cstride[p->out[i]];
    }
    gather_f32(pc, p->nout, sizes, strides, (float *)Y->data);
    spd_free(pa);
    *st = SPD_OK;
    return true;
}

/* The generic loop: every output element sums, over all values of the
 * summed labels, the product of the operands' elements. Values are widened
 * to double (floats) or int64 (integers). */
static spd_status ein_generic(const ein_plan *p, spd_tensor *Y)
{
    const bool isint = is_int_type(Y->dtype);
    int nl = 0, order[EIN_LABELS];
    int64_t sizes[EIN_LABELS];
    for (int i = 0; i < p->nout; i++) order[nl++] = p->out[i];
    for (int i = 0; i < p->nsum; i++) order[nl++] = p->sum[i];
    for (int i = 0; i < nl; i++) {
        sizes[i] = p->size[order[i]];
        if (sizes[i] == 0) return SPD_OK; /* empty output, or sums of nothing: zeros */
    }
    const int64_t nout = spd_dims_prod(sizes, 0, p->nout);
    const int64_t nsum = spd_dims_prod(sizes, p->nout, nl);

    void *vals[EIN_MAX_INPUTS] = {0};
    spd_status s = SPD_OK;
    for (int k = 0; k < p->n_in && s == SPD_OK; k++) {
        const spd_tensor *t = p->in[k];
        int64_t n = spd_tensor_numel(t);
        if (isint) {
            vals[k] = ints_as_i64(t);
        } else {
            double *d = spd_malloc((size_t)(n ? n : 1) * sizeof(double));
            if (d)
                for (int64_t i = 0; i < n; i++) d[i] = spd_tensor_get(t, i);
            vals[k] = d;
        }
        if (!vals[k]) s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    if (s == SPD_OK) {
        int64_t idx[EIN_LABELS] = {0}, off[EIN_MAX_INPUTS] = {0};
        for (int64_t o = 0; o < nout; o++) {
            double accd = 0.0;
            int64_t acci = 0;
            for (int64_t r = 0; r < nsum; r++) {
                if (isint) {
                    int64_t prod = 1;
                    for (int k = 0; k < p->n_in; k++)
                        prod = (int64_t)((uint64_t)prod * (uint64_t)((int64_t *)vals[k])[off[k]]);
                    acci = (int64_t)((uint64_t)acci + (uint64_t)prod);
                } else {
                    double prod = 1.0;
                    for (int k = 0; k < p->n_in; k++) prod *= ((double *)vals[k])[off[k]];
                    accd += prod;
                }
                for (int d = nl - 1; d >= 0; d--) {
                    for (int k = 0; k < p->n_in; k++) off[k] += p->stride[k][order[d]];
                    if (++idx[d] < sizes[d]) break;
                    for (int k = 0; k < p->n_in; k++) off[k] -= p->stride[k][order[d]] * sizes[d];
                    idx[d] = 0;
                }
            }
            if (isint) store_wrapped(Y, o, acci);
            else spd_tensor_set(Y, o, accd);
        }
    }
    for (int k = 0; k < p->n_in; k++) spd_free(vals[k]);
    return s;
}

static spd_status op_einsum(spd_op_ctx *ctx)
{
    const char *eq = spd_attr_string(ctx->node, "equation", NULL);
    if (!eq) return spd_errorf(SPD_ERR_INVALID, "Einsum needs an equation");
    const int n_in = ctx->n_inputs;
    if (n_in < 1) return spd_errorf(SPD_ERR_INVALID, "Einsum needs at least one input");
    if (n_in > EIN_MAX_INPUTS)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "Einsum with %d inputs (at most %d)", n_in, EIN_MAX_INPUTS);
    for (int k = 0; k < n_in; k++) {
        if (!ctx->in[k]) return spd_errorf(SPD_ERR_INVALID, "input %d is missing", k);
        if (ctx->in[k]->dtype != ctx->in[0]->dtype)
            return spd_errorf(SPD_ERR_INVALID, "inputs have different types");
    }
    const spd_dtype dt = ctx->in[0]->dtype;
    if (!(spd_dtype_is_float(dt) || is_int_type(dt)))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "Einsum on %s", spd_dtype_name(dt));

    /* Drop spaces, then split "lhs->rhs". */
    size_t len = strlen(eq);
    char *buf = spd_malloc(len + 1);
    if (!buf) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    size_t bl = 0;
    for (size_t i = 0; i < len; i++)
        if (eq[i] != ' ') buf[bl++] = eq[i];
    buf[bl] = 0;

    spd_status s = SPD_OK;
    ein_plan *p = spd_calloc(1, sizeof *p);
    ein_term *terms = spd_calloc((size_t)n_in + 1, sizeof *terms);
    if (!p || !terms) {
        s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        goto done;
    }
    p->n_in = n_in;
    p->in = ctx->in;
    const char *arrow = strstr(buf, "->");
    const char *lhs_end = arrow ? arrow : buf + bl;
    {
        const char *t0 = buf;
        int k = 0;
        for (const char *c = buf;; c++) {
            if (c == lhs_end || *c == ',') {
                if (k >= n_in) {
                    s = spd_errorf(SPD_ERR_INVALID, "equation has more terms than the %d inputs", n_in);
                    goto done;
                }
                s = ein_parse_term(t0, c, &terms[k++]);
                if (s != SPD_OK) goto done;
                if (c == lhs_end) break;
                t0 = c + 1;
            }
        }
        if (k != n_in) {
            s = spd_errorf(SPD_ERR_INVALID, "equation has %d terms for %d inputs", k, n_in);
            goto done;
        }
    }

    /* The ellipsis rank, then each operand's labels, sizes and strides. */
    int nell[EIN_MAX_INPUTS], ell_rank = 0;
    for (int k = 0; k < n_in; k++) {
        const ein_term *t = &terms[k];
        const int rank = ctx->in[k]->ndim;
        nell[k] = rank - t->nlab;
        if (t->ell < 0 ? nell[k] != 0 : nell[k] < 0) {
            s = spd_errorf(SPD_ERR_INVALID, "term %d has %d labels for an input of rank %d", k, t->nlab, rank);
            goto done;
        }
        if (nell[k] > ell_rank) ell_rank = nell[k];
    }
    for (int l = 0; l < EIN_LABELS; l++) p->size[l] = -1;
    int total[EIN_LABELS] = {0};
    for (int k = 0; k < n_in; k++) {
        const spd_tensor *x = ctx->in[k];
        int labs[SPD_MAX_DIMS + 1];
        ein_expand(&terms[k], nell[k], ell_rank, labs);
        int64_t st = 1;
        for (int d = x->ndim - 1; d >= 0; d--) {
            const int l = labs[d];
            const int64_t n = x->dims[d];
            if (p->size[l] < 0 || p->size[l] == 1) {
                if (p->size[l] == 1 && n != 1) p->bcast = true;
                p->size[l] = n;
            } else if (n != p->size[l] && n != 1) {
                s = spd_errorf(SPD_ERR_INVALID, "dimension sizes %lld and %lld of one label differ",
                               (long long)n, (long long)p->size[l]);
                goto done;
            } else if (n != p->size[l]) {
                p->bcast = true;
            }
            /* A size-1 dim stands for any size of its label (broadcast);
             * a repeated label walks the diagonal (strides add). */
            if (n != 1) p->stride[k][l] += st;
            p->count[k][l]++;
            total[l]++;
            st *= n;
        }
    }
    bool in_out[EIN_LABELS] = {false};
    if (arrow) {
        ein_term ot;
        s = ein_parse_term(arrow + 2, buf + bl, &ot);
        if (s != SPD_OK) goto done;
        if (strstr(arrow + 2, "->")) {
            s = spd_errorf(SPD_ERR_INVALID, "equation has more than one '->'");
            goto done;
        }
        int labs[SPD_MAX_DIMS * 2 + 1];
        if (ot.nlab + (ot.ell >= 0 ? ell_rank : 0) > SPD_MAX_DIMS) {
            s = spd_errorf(SPD_ERR_UNSUPPORTED, "output rank above %d", SPD_MAX_DIMS);
            goto done;
        }
        int n = ein_expand(&ot, ot.ell >= 0 ? ell_rank : 0, ell_rank, labs);
        for (int i = 0; i < n; i++) {
            const int l = labs[i];
            if (l < EIN_LETTERS && p->size[l] < 0) {
                s = spd_errorf(SPD_ERR_INVALID, "output label '%c' is not in any input",
                               l < 26 ? 'A' + l : 'a' + l - 26);
                goto done;
            }
            if (in_out[l]) {
                s = spd_errorf(SPD_ERR_INVALID, "output repeats a label");
                goto done;
            }
            in_out[l] = true;
            p->out[p->nout++] = l;
        }
    } else {
        for (int j = 0; j < ell_rank; j++) p->out[p->nout++] = EIN_LETTERS + j;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (total[l] == 1) p->out[p->nout++] = l;
        if (p->nout > SPD_MAX_DIMS) {
            s = spd_errorf(SPD_ERR_UNSUPPORTED, "output rank above %d", SPD_MAX_DIMS);
            goto done;
        }
        for (int i = 0; i < p->nout; i++) in_out[p->out[i]] = true;
    }
    for (int l = 0; l < EIN_LABELS; l++)
        if (p->size[l] >= 0 && !in_out[l]) p->sum[p->nsum++] = l;

    int64_t odims[SPD_MAX_DIMS];
    for (int i = 0; i < p->nout; i++) odims[i] = p->size[p->out[i]];
    s = spd_tensor_alloc(&ctx->out[0], dt, p->nout, odims);
    if (s != SPD_OK) goto done;
    if (!ein_try_gemm(p, &ctx->out[0], &s)) s = ein_generic(p, &ctx->out[0]);

done:
    spd_free(buf);
    spd_free(p);
    spd_free(terms);
    return s;
}

const spd_op_def spd_ops_matmul[] = {
    {"Gemm", "", 1, 21, op_gemm, spd_gemm_prepare},
    {"MatMul", "", 1, 21, op_matmul, matmul_prepare},
    {"Einsum", "", 12, 21, op_einsum},
};
const int spd_ops_matmul_count = (int)(sizeof spd_ops_matmul / sizeof spd_ops_matmul[0]);
