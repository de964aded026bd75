/* onednn: Conv, MatMul/Gemm and pooling on Intel's oneDNN (2.x C API);
 * every other node stays on the reference kernels of the interpreter.
 *
 * compile builds the interpreter program and swaps the kernel of each node
 * it claims for one of ours, with a per-node state. Shapes are known only at
 * run time, so a node's primitive (and its weights, reordered into the
 * layout oneDNN picks) is created on its first run and kept until the input
 * shape changes. Activations stay plain NCHW / row-major fp32 between nodes;
 * inside a node they are reordered to oneDNN's layout when it wants another.
 * Whatever oneDNN declines (an attribute, a dtype, a shape) runs on the
 * node's reference kernel instead, so a claim never costs correctness.
 *
 * Techniques: fp32; bf16 and fp16 (half weights and activations inside a
 * node, only where the CPU runs them natively); int8 static (scales from
 * calib.c) and int8_dynamic (MatMul/Gemm, activation scale per call), both
 * with an accuracy fallback that returns nodes to fp32 under the user's
 * metric. How int8 learners are saved: see "saved learners" below. */
#ifdef SPD_HAVE_DNNL

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "backends/backend.h"
#include "backends/onednn/calib.h"
#include "ir/tensor.h"
#include "passes/passes.h"
#include "runtime/exec.h"
#include "runtime/memplan.h"
#include "util/alloc.h"
#include "util/cpu.h"
#include "util/status.h"
#include "util/threadpool.h"

struct spd_plan {
    spd_program *prog;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    bool omp_user; /* counted in spd_pool_openmp_user */
    int threads;
    spd_technique tech;
    /* static int8: the candidates, their scales and the calibration outcome */
    spd_q8_cand *q8;
    int n_q8;
    spd_q8_report q8rep;
    bool q8_loaded;        /* scales read from a saved learner */
    const char *q8_source; /* where loaded scales came from, for the report */
    /* load: the graph the program runs, model.onnx with its
     * QuantizeLinear/DequantizeLinear folded into the int8 nodes (owned) */
    spd_model *own_model;
};

typedef enum kkind { K_CONV, K_GEMM, K_POOL } kkind;
typedef enum pkind { P_MAX, P_AVG, P_GLOBAL_AVG, P_GLOBAL_MAX } pkind;
typedef enum act_kind { ACT_NONE, ACT_RELU, ACT_LEAKYRELU, ACT_SIGMOID, ACT_TANH, ACT_CLIP, ACT_HARDSIGMOID } act_kind;

typedef struct act {
    act_kind kind;
    float a, b;
} act;

/* One operand of a primitive: the user's plain buffer and, when the
 * primitive wants another layout, its own buffer and the reorder between. */
typedef struct operand {
    dnnl_memory_t user;   /* wraps the tensor's data, handle set per call */
    dnnl_memory_t inner;  /* oneDNN-owned buffer in the primitive's layout, or NULL */
    dnnl_primitive_t reorder;
} operand;

typedef struct nstate {
    spd_plan *plan;
    spd_kernel_fn ref;    /* the reference kernel: for what oneDNN declines */
    kkind kind;
    bool lowp;            /* bf16 / fp16 inside the node (the plan's technique says which) */
    bool int8;            /* dynamic int8 (Gemm/MatMul) */
    bool q8;              /* static int8 (Conv, Gemm/MatMul): calibrated activation scale */
    bool q8_u8;           /* u8 activations (a non-negative input), else s8 */
    bool ran_ref;         /* int8, yet ran the fp32 reference (a declined shape or input) */
    float q8_scale;
    float *qbias;         /* static int8 Conv: the bias over the output scales */
    act act;
    /* Conv */
    const spd_tensor *w, *b; /* constant weights, constant bias (or NULL) */
    bool b_rt;               /* a bias computed at run time (wrapped per call) */
    int64_t group;
    /* Gemm / MatMul: weights as a [K, N] fp32 matrix with alpha folded in,
     * and the constant bias times beta (or NULL) */
    bool is_matmul;
    int64_t trans_a;
    float beta;
    int64_t K, N;
    float *wkn;
    float *bias;
    int bias_nd;
    int64_t bias_dims[2];
    int8_t *wq;           /* int8: per-column quantized weights and their scales */
    float *wscale;
    float *oscale;        /* int8: per-call output scales */
    int8_t *aq;           /* int8: the quantized activation */
    size_t aq_cap;
    /* pooling */
    pkind pool;
    /* the cached primitive, for the input shape `key` */
    bool built, declined;
    int key_nd;
    int64_t key[SPD_MAX_DIMS + 3];
    int out_nd;
    int64_t out_dims[SPD_MAX_DIMS];
    dnnl_primitive_t prim;
    operand src, dst;
    dnnl_memory_t wmem, bmem, scratch, scales_mem;
    int64_t M;
} nstate;

#define DN(call)                                                                                                  \
    do {                                                                                                          \
        if ((call) != dnnl_success) goto fail;                                                                    \
    } while (0)

/* ---- small helpers ------------------------------------------------------- */

/* The half type of a bf16 or fp16 plan. */
static dnnl_data_type_t lowp_type(const spd_plan *p)
{
    return p->tech == SPD_TECH_FP16 ? dnnl_f16 : dnnl_bf16;
}

static void set_threads(const spd_plan *p)
{
    /* oneDNN sizes its OpenMP teams from the calling thread's setting, both
     * when it creates a primitive and when it runs one. */
    if (omp_get_max_threads() != p->threads) omp_set_num_threads(p->threads);
}

static void operand_clear(operand *o)
{
    if (o->reorder) dnnl_primitive_destroy(o->reorder);
    if (o->inner) dnnl_memory_destroy(o->inner);
    if (o->user) dnnl_memory_destroy(o->user);
    memset(o, 0, sizeof *o);
}

static void destroy_prim(nstate *s)
{
    if (s->prim) dnnl_primitive_destroy(s->prim);
    s->prim = NULL;
    operand_clear(&s->src);
    operand_clear(&s->dst);
    if (s->wmem) dnnl_memory_destroy(s->wmem);
    if (s->bmem) dnnl_memory_destroy(s->bmem);
    if (s->scratch) dnnl_memory_destroy(s->scratch);
    if (s->scales_mem) dnnl_memory_destroy(s->scales_mem);
    s->wmem = s->bmem = s->scratch = s->scales_mem = NULL;
    s->built = s->declined = false;
}

static void nstate_free(void *p)
{
    nstate *s = p;
    if (!s) return;
    destroy_prim(s);
    spd_free(s->wkn);
    spd_free(s->bias);
    spd_free(s->wq);
    spd_free(s->wscale);
    spd_free(s->oscale);
    spd_free(s->aq);
    spd_free(s->qbias);
    spd_free(s);
}

/* A one-off reorder from (md_from, from) to (md_to, to). */
static dnnl_status_t reorder_once(const spd_plan *p, const dnnl_memory_desc_t *md_from, void *from,
                                  dnnl_memory_t to)
{
    const dnnl_memory_desc_t *md_to;
    dnnl_memory_t src = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_status_t e;
    if ((e = dnnl_memory_get_memory_desc(to, &md_to)) != dnnl_success) return e;
    if ((e = dnnl_memory_create(&src, md_from, p->eng, from)) != dnnl_success) goto out;
    if ((e = dnnl_reorder_primitive_desc_create(&pd, md_from, p->eng, md_to, p->eng, NULL)) != dnnl_success) goto out;
    if ((e = dnnl_primitive_create(&r, pd)) != dnnl_success) goto out;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, to}};
    if ((e = dnnl_primitive_execute(r, p->strm, 2, args)) != dnnl_success) goto out;
    e = dnnl_stream_wait(p->strm);
out:
    if (r) dnnl_primitive_destroy(r);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src) dnnl_memory_destroy(src);
    return e;
}

/* Sets up o for a user buffer of layout `user_md` where the primitive wants
 * `want`: input operands reorder user -> inner, outputs inner -> user. */
static dnnl_status_t operand_init(const spd_plan *p, operand *o, const dnnl_memory_desc_t *user_md,
                                  const dnnl_memory_desc_t *want, bool input)
{
    dnnl_status_t e;
    if ((e = dnnl_memory_create(&o->user, user_md, p->eng, DNNL_MEMORY_NONE)) != dnnl_success) return e;
    if (dnnl_memory_desc_equal(user_md, want)) return dnnl_success;
    if ((e = dnnl_memory_create(&o->inner, want, p->eng, DNNL_MEMORY_ALLOCATE)) != dnnl_success) return e;
    dnnl_primitive_desc_t pd = NULL;
    if (input) e = dnnl_reorder_primitive_desc_create(&pd, user_md, p->eng, want, p->eng, NULL);
    else e = dnnl_reorder_primitive_desc_create(&pd, want, p->eng, user_md, p->eng, NULL);
    if (e != dnnl_success) return e;
    e = dnnl_primitive_create(&o->reorder, pd);
    dnnl_primitive_desc_destroy(pd);
    return e;
}

/* An input operand quantized on the way in: the f32 user data times `mul`,
 * rounded and saturated into the primitive's u8/s8 layout. */
static dnnl_status_t operand_init_q(const spd_plan *p, operand *o, const dnnl_memory_desc_t *user_md,
                                    const dnnl_memory_desc_t *want, float mul)
{
    dnnl_status_t e;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if ((e = dnnl_memory_create(&o->user, user_md, p->eng, DNNL_MEMORY_NONE)) != dnnl_success) return e;
    if ((e = dnnl_memory_create(&o->inner, want, p->eng, DNNL_MEMORY_ALLOCATE)) != dnnl_success) return e;
    if ((e = dnnl_primitive_attr_create(&attr)) != dnnl_success) return e;
    if ((e = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &mul)) == dnnl_success &&
        (e = dnnl_reorder_primitive_desc_create(&pd, user_md, p->eng, want, p->eng, attr)) == dnnl_success)
        e = dnnl_primitive_create(&o->reorder, pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return e;
}

static dnnl_status_t operand_in(const spd_plan *p, operand *o, const void *data, dnnl_memory_t *use)
{
    dnnl_status_t e = dnnl_memory_set_data_handle(o->user, (void *)data);
    if (e != dnnl_success) return e;
    *use = o->user;
    if (!o->reorder) return dnnl_success;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, o->user}, {DNNL_ARG_TO, o->inner}};
    *use = o->inner;
    return dnnl_primitive_execute(o->reorder, p->strm, 2, args);
}

static dnnl_status_t operand_out_begin(operand *o, void *data, dnnl_memory_t *use)
{
    dnnl_status_t e = dnnl_memory_set_data_handle(o->user, data);
    *use = o->reorder ? o->inner : o->user;
    return e;
}

static dnnl_status_t operand_out_end(const spd_plan *p, operand *o)
{
    if (!o->reorder) return dnnl_success;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, o->inner}, {DNNL_ARG_TO, o->user}};
    return dnnl_primitive_execute(o->reorder, p->strm, 2, args);
}

/* Scratchpad in user mode, so the node keeps its own and we know its size. */
static dnnl_status_t make_scratch(const spd_plan *p, nstate *s, const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (!md || dnnl_memory_desc_get_size(md) == 0) return dnnl_success;
    return dnnl_memory_create(&s->scratch, md, p->eng, DNNL_MEMORY_ALLOCATE);
}

/* The node's reference kernel, for what oneDNN declines. An int8 node that
 * ran it computed in fp32 with the original weights: the saved model keeps
 * it fp32 too, to compute what was validated. */
static spd_status run_ref(nstate *s, spd_op_ctx *ctx)
{
    if (s->q8 || s->int8) s->ran_ref = true;
    return s->ref(ctx);
}

/* ---- activations --------------------------------------------------------- */

static bool parse_act_name(const char *name, act *ac)
{
    static const struct { const char *name; act_kind kind; float a, b; } table[] = {
        {"Relu", ACT_RELU, 0, 0},       {"LeakyRelu", ACT_LEAKYRELU, 0.01f, 0}, {"Sigmoid", ACT_SIGMOID, 0, 0},
        {"Tanh", ACT_TANH, 0, 0},       {"Clip", ACT_CLIP, -FLT_MAX, FLT_MAX},  {"HardSigmoid", ACT_HARDSIGMOID, 0.2f, 0.5f},
    };
    ac->kind = ACT_NONE;
    ac->a = ac->b = 0;
    if (!name || !*name) return true;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(name, table[i].name)) {
            ac->kind = table[i].kind;
            ac->a = table[i].a;
            ac->b = table[i].b;
            return true;
        }
    return false;
}

/* The activation of a FusedConv / FusedGemm, read as src/ops/fused.c does. */
static bool node_act(const spd_node *n, act *ac)
{
    ac->kind = ACT_NONE;
    if (strcmp(n->domain, "com.microsoft")) return true;
    if (!parse_act_name(spd_attr_string(n, "activation", ""), ac)) return false;
    if (!strcmp(n->op_type, "FusedConv")) {
        size_t np;
        const float *p = spd_attr_floats(n, "activation_params", &np);
        if (np > 0) ac->a = p[0];
        if (np > 1) ac->b = p[1];
        if (ac->kind == ACT_LEAKYRELU && np < 1 && spd_node_attr(n, "alpha")) ac->a = spd_attr_float(n, "alpha", 0.01f);
    } else {
        if (ac->kind == ACT_CLIP) {
            ac->a = spd_attr_float(n, "activation_min", ac->a);
            ac->b = spd_attr_float(n, "activation_max", ac->b);
        } else {
            ac->a = spd_attr_float(n, "activation_alpha", ac->a);
            ac->b = spd_attr_float(n, "activation_beta", ac->b);
        }
        if (ac->kind == ACT_LEAKYRELU && !spd_node_attr(n, "activation_alpha"))
            ac->a = spd_attr_float(n, "leaky_relu_alpha", ac->a);
    }
    return true;
}

static dnnl_status_t append_act(dnnl_post_ops_t po, const act *ac)
{
    switch (ac->kind) {
    case ACT_NONE: return dnnl_success;
    case ACT_RELU: return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f);
    case ACT_LEAKYRELU: return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, ac->a, 0.f);
    case ACT_SIGMOID: return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_logistic, 0.f, 0.f);
    case ACT_TANH: return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_tanh, 0.f, 0.f);
    case ACT_CLIP: return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, ac->a, ac->b);
    case ACT_HARDSIGMOID: {
        /* this oneDNN has no hardsigmoid: clip(alpha * x + beta, 0, 1) */
        dnnl_status_t e = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, ac->a, ac->b);
        return e != dnnl_success ? e : dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, 0.f, 1.f);
    }
    }
    return dnnl_unimplemented;
}

/* ---- the shape key ------------------------------------------------------- */

static bool same_key(const nstate *s, int nd, const int64_t *k)
{
    if (!s->built || s->key_nd != nd) return false;
    for (int i = 0; i < nd; i++)
        if (s->key[i] != k[i]) return false;
    return true;
}

static void set_key(nstate *s, int nd, const int64_t *k)
{
    s->key_nd = nd;
    memcpy(s->key, k, (size_t)nd * sizeof *k);
}

/* ---- Conv ---------------------------------------------------------------- */

static bool ints_n(const spd_node *n, const char *name, size_t want, int64_t dflt, int64_t *out)
{
    size_t c;
    const int64_t *v = spd_attr_ints(n, name, &c);
    if (!v) {
        for (size_t i = 0; i < want; i++) out[i] = dflt;
        return true;
    }
    if (c != want) return false;
    memcpy(out, v, want * sizeof *v);
    return true;
}

/* Builds the Conv primitive for X's shape; false when oneDNN (or we) decline
 * it, and the reference kernel runs instead. */
static bool conv_build(nstate *s, const spd_node *n, const spd_tensor *X, const spd_tensor *B)
{
    const spd_plan *p = s->plan;
    const spd_tensor *W = s->w;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (X->ndim != 4 || X->dtype != SPD_FLOAT) return false;
    const int64_t N = X->dims[0], C = X->dims[1], M = W->dims[0], G = s->group;
    if (G < 1 || C % G || M % G || W->dims[1] * G != C) return false;
    int64_t k[2] = {W->dims[2], W->dims[3]}, st[2], dil[2], pads[4];
    if (!ints_n(n, "strides", 2, 1, st) || !ints_n(n, "dilations", 2, 1, dil) || !ints_n(n, "pads", 4, 0, pads)) return false;
    size_t kc;
    const int64_t *ks = spd_attr_ints(n, "kernel_shape", &kc);
    if (ks && (kc != 2 || ks[0] != k[0] || ks[1] != k[1])) return false;
    const char *ap = spd_attr_string(n, "auto_pad", "NOTSET");
    int64_t pl[2], pr[2], out[2];
    for (int i = 0; i < 2; i++) {
        const int64_t in = X->dims[2 + i];
        if (st[i] < 1 || dil[i] < 1 || in < 1 || k[i] < 1) return false;
        const int64_t ek = (k[i] - 1) * dil[i] + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            out[i] = (in + st[i] - 1) / st[i];
            int64_t total = (out[i] - 1) * st[i] + ek - in;
            if (total < 0) total = 0;
            pl[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            pr[i] = total - pl[i];
        } else {
            if (!strcmp(ap, "VALID")) pl[i] = pr[i] = 0;
            else if (!strcmp(ap, "NOTSET") || !*ap) { pl[i] = pads[i]; pr[i] = pads[2 + i]; }
            else return false;
            if (pl[i] < 0 || pr[i] < 0 || in + pl[i] + pr[i] < ek) return false;
            out[i] = (in + pl[i] + pr[i] - ek) / st[i] + 1;
            /* oneDNN wants the right padding the output actually uses */
            pr[i] = (out[i] - 1) * st[i] + ek - in - pl[i];
        }
    }
    /* static int8: u8/s8 activations, s8 weights, f32 out with per-channel
     * output scales (src scale x weight scale); the bias is pre-divided by
     * them, since oneDNN 2.x adds it to the int32 sum before scaling */
    const bool q8 = s->q8;
    dnnl_data_type_t lt = s->lowp ? lowp_type(p) : dnnl_f32;
    dnnl_data_type_t xt = q8 ? (s->q8_u8 ? dnnl_u8 : dnnl_s8) : lt, wt = q8 ? dnnl_s8 : lt, wut = q8 ? dnnl_s8 : dnnl_f32;
    dnnl_memory_desc_t src_u, dst_u, w_u, b_md, src_a, w_a, dst_a;
    dnnl_dims_t xd = {N, C, X->dims[2], X->dims[3]}, yd = {N, M, out[0], out[1]};
    dnnl_dims_t wd5 = {G, M / G, C / G, k[0], k[1]}, wd4 = {M, C / G, k[0], k[1]}, bd = {M};
    dnnl_dims_t sd = {st[0], st[1]}, dd = {dil[0] - 1, dil[1] - 1}, pld = {pl[0], pl[1]}, prd = {pr[0], pr[1]};
    DN(dnnl_memory_desc_init_by_tag(&src_u, 4, xd, dnnl_f32, dnnl_nchw));
    DN(dnnl_memory_desc_init_by_tag(&dst_u, 4, yd, dnnl_f32, dnnl_nchw));
    if (G == 1) DN(dnnl_memory_desc_init_by_tag(&w_u, 4, wd4, wut, dnnl_oihw));
    else DN(dnnl_memory_desc_init_by_tag(&w_u, 5, wd5, wut, dnnl_goihw));
    DN(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
    DN(dnnl_memory_desc_init_by_tag(&src_a, 4, xd, xt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&dst_a, 4, yd, dnnl_f32, dnnl_format_tag_any));
    if (G == 1) DN(dnnl_memory_desc_init_by_tag(&w_a, 4, wd4, wt, dnnl_format_tag_any));
    else DN(dnnl_memory_desc_init_by_tag(&w_a, 5, wd5, wt, dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    DN(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_a, &w_a,
                                                   B ? &b_md : NULL, &dst_a, sd, dd, pld, prd));
    DN(dnnl_primitive_attr_create(&attr));
    DN(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (q8) DN(dnnl_primitive_attr_set_output_scales(attr, M, 1 << 1, s->oscale));
    DN(dnnl_post_ops_create(&po));
    DN(append_act(po, &s->act));
    DN(dnnl_primitive_attr_set_post_ops(attr, po));
    DN(dnnl_primitive_desc_create(&pd, &cd, attr, p->eng, NULL));
    DN(dnnl_primitive_create(&s->prim, pd));
    if (q8)
        DN(operand_init_q(p, &s->src, &src_u, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                          1.f / s->q8_scale));
    else
        DN(operand_init(p, &s->src, &src_u, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), true));
    DN(operand_init(p, &s->dst, &dst_u, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), false));
    DN(dnnl_memory_create(&s->wmem, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), p->eng,
                          DNNL_MEMORY_ALLOCATE));
    DN(reorder_once(p, &w_u, q8 ? (void *)s->wq : W->data, s->wmem));
    if (B) DN(dnnl_memory_create(&s->bmem, &b_md, p->eng, q8 ? (void *)s->qbias : B->data));
    DN(make_scratch(p, s, pd));
    s->out_nd = 4;
    memcpy(s->out_dims, yd, 4 * sizeof(int64_t));
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_desc_destroy(pd);
    return true;
fail:
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (pd) dnnl_primitive_desc_destroy(pd);
    destroy_prim(s);
    return false;
}

static spd_status dnnl_fail(dnnl_status_t e, const char *what)
{
    return spd_errorf(SPD_ERR_INTERNAL, "oneDNN %s failed (status %d)", what, (int)e);
}

/* Runs the built primitive with src/dst (and the node's fixed weights,
 * bias, scratchpad) and the extra args. */
static spd_status exec_prim(nstate *s, const void *x, void *y, int n_extra, const dnnl_exec_arg_t *extra)
{
    const spd_plan *p = s->plan;
    dnnl_memory_t src, dst;
    dnnl_status_t e;
    dnnl_exec_arg_t args[12];
    int na = 0;
    if ((e = operand_in(p, &s->src, x, &src)) != dnnl_success) return dnnl_fail(e, "input reorder");
    if ((e = operand_out_begin(&s->dst, y, &dst)) != dnnl_success) return dnnl_fail(e, "output");
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
    if (s->wmem) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, s->wmem};
    if (s->bmem) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->bmem};
    if (s->scratch) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->scratch};
    for (int i = 0; i < n_extra && na < 12; i++) args[na++] = extra[i];
    if ((e = dnnl_primitive_execute(s->prim, p->strm, na, args)) != dnnl_success) return dnnl_fail(e, "execute");
    if ((e = operand_out_end(p, &s->dst)) != dnnl_success) return dnnl_fail(e, "output reorder");
    if ((e = dnnl_stream_wait(p->strm)) != dnnl_success) return dnnl_fail(e, "stream wait");
    return SPD_OK;
}

static spd_status k_conv(spd_op_ctx *ctx)
{
    nstate *s = ctx->state;
    const spd_tensor *X = ctx->n_inputs > 0 ? ctx->in[0] : NULL;
    /* Z (FusedConv's sum input) and shapes oneDNN declined: reference */
    if (!X || X->dtype != SPD_FLOAT || X->ndim != 4 || (ctx->n_inputs > 3 && ctx->in[3])) return run_ref(s, ctx);
    const spd_tensor *B = s->b;
    if (s->b_rt) {
        B = ctx->n_inputs > 2 ? ctx->in[2] : NULL;
        if (!B || B->dtype != SPD_FLOAT || B->ndim != 1 || B->dims[0] != s->w->dims[0]) return run_ref(s, ctx);
    }
    set_threads(s->plan);
    if (!same_key(s, 4, X->dims)) {
        destroy_prim(s);
        set_key(s, 4, X->dims);
        s->declined = !conv_build(s, ctx->node, X, B);
        s->built = true;
    }
    if (s->declined) return run_ref(s, ctx);
    if (s->b_rt) {
        const float *b = B->data;
        if (s->q8)
            for (int64_t oc = 0; oc < B->dims[0]; oc++) s->qbias[oc] = b[oc] / s->oscale[oc];
        dnnl_status_t e = dnnl_memory_set_data_handle(s->bmem, s->q8 ? (void *)s->qbias : B->data);
        if (e != dnnl_success) return dnnl_fail(e, "bias");
    }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, s->out_nd, s->out_dims));
    return exec_prim(s, X->data, ctx->out[0].data, 0, NULL);
}

/* ---- Gemm / MatMul ------------------------------------------------------- */

/* The largest |weight| in int8. Without VNNI oneDNN multiplies bytes with
 * vpmaddubsw, whose int16 pair sums saturate on full-range weights: keep
 * them to 7 bits there. */
static float weight_limit(void)
{
    const spd_cpu_features *f = spd_cpu();
    return f->avx512_vnni || f->amx_int8 ? 127.f : 63.f;
}

/* The int8 weights (nq of them) and the per-channel scales of nch channels. */
static spd_status alloc_q(nstate *s, int64_t nq, int64_t nch)
{
    if (!s->wq) s->wq = spd_malloc((size_t)nq + 1);
    if (!s->wscale) s->wscale = spd_malloc((size_t)nch * sizeof(float) + 1);
    if (!s->oscale) s->oscale = spd_malloc((size_t)nch * sizeof(float) + 1);
    if (s->kind == K_CONV && !s->qbias) s->qbias = spd_malloc((size_t)nch * sizeof(float) + 1);
    if (!s->wq || !s->wscale || !s->oscale || (s->kind == K_CONV && !s->qbias))
        return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    return SPD_OK;
}

/* static int8 Conv: per-output-channel symmetric s8 weights, in W's layout. */
static spd_status quantize_conv_weights(nstate *s)
{
    const spd_tensor *W = s->w;
    const int64_t M = W->dims[0], per = M > 0 ? spd_tensor_numel(W) / M : 0;
    const float lim = weight_limit(), *w = W->data;
    if (M < 1 || per < 1) return spd_errorf(SPD_ERR_UNSUPPORTED, "empty Conv weights");
    SPD_TRY(alloc_q(s, M * per, M));
    for (int64_t oc = 0; oc < M; oc++) {
        const float *r = w + oc * per;
        float mx = 0;
        for (int64_t i = 0; i < per; i++) mx = fmaxf(mx, fabsf(r[i]));
        s->wscale[oc] = mx > 0 ? mx / lim : 1.f;
        const float inv = 1.f / s->wscale[oc];
        for (int64_t i = 0; i < per; i++) {
            float q = nearbyintf(r[i] * inv);
            s->wq[oc * per + i] = (int8_t)(q > lim ? lim : q < -lim ? -lim : q);
        }
    }
    return SPD_OK;
}

/* int8: per-column symmetric quantization of the [K, N] weights. */
static spd_status quantize_weights(nstate *s)
{
    const int64_t K = s->K, N = s->N;
    const float lim = weight_limit();
    SPD_TRY(alloc_q(s, K * N, N));
    for (int64_t j = 0; j < N; j++) {
        float mx = 0;
        for (int64_t i = 0; i < K; i++) mx = fmaxf(mx, fabsf(s->wkn[i * N + j]));
        s->wscale[j] = mx > 0 ? mx / lim : 1.f;
    }
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = 0; j < N; j++) {
            float q = nearbyintf(s->wkn[i * N + j] / s->wscale[j]);
            s->wq[i * N + j] = (int8_t)(q > lim ? lim : q < -lim ? -lim : q);
        }
    return SPD_OK;
}

/* The bias operand as 2-D dims for [M, N] outputs (scalar, [N], [1, N],
 * [M, 1] or [M, N]); false when it does not broadcast there. */
static bool bias_dims2(const spd_tensor *c, int64_t M, int64_t N, int64_t bd[2])
{
    if (c->ndim > 2) return false;
    bd[0] = c->ndim == 2 ? c->dims[0] : 1;
    bd[1] = c->ndim >= 1 ? c->dims[c->ndim - 1] : 1;
    return (bd[0] == 1 || bd[0] == M) && (bd[1] == 1 || bd[1] == N);
}

static bool gemm_build(nstate *s, const spd_tensor *C, int64_t M)
{
    const spd_plan *p = s->plan;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    const int64_t K = s->K, N = s->N;
    dnnl_memory_desc_t src_u, dst_u, w_u, w_a, b_md;
    dnnl_dims_t ad = {M, K}, yd = {M, N}, wd = {K, N};
    dnnl_dims_t a_strides = {K, 1};
    if (s->trans_a) { a_strides[0] = 1; a_strides[1] = M; }
    dnnl_dims_t bd = {1, 1};
    bool has_bias = s->bias || C;
    if (C && !bias_dims2(C, M, N, bd)) return false;
    if (s->bias) { bd[0] = s->bias_dims[0]; bd[1] = s->bias_dims[1]; if (bd[0] != 1 && bd[0] != M) return false; }
    /* dynamic and static int8 share the primitive: only the source type
     * (u8 for a static non-negative input) and where its scale comes from differ */
    const bool i8 = s->int8 || s->q8;
    dnnl_data_type_t xt = s->q8 && s->q8_u8 ? dnnl_u8 : dnnl_s8;
    dnnl_data_type_t at = i8 ? dnnl_s8 : s->lowp ? lowp_type(p) : dnnl_f32;
    DN(dnnl_memory_desc_init_by_strides(&src_u, 2, ad, i8 ? xt : dnnl_f32, a_strides));
    DN(dnnl_memory_desc_init_by_tag(&dst_u, 2, yd, dnnl_f32, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&w_u, 2, wd, i8 ? dnnl_s8 : dnnl_f32, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&w_a, 2, wd, at, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&b_md, 2, bd, dnnl_f32, dnnl_ab));
    dnnl_memory_desc_t src_p = src_u;
    if (s->lowp) DN(dnnl_memory_desc_init_by_tag(&src_p, 2, ad, lowp_type(p), dnnl_ab));
    DN(dnnl_primitive_attr_create(&attr));
    DN(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    DN(dnnl_post_ops_create(&po));
    dnnl_matmul_desc_t md;
    if (i8) {
        /* scales and bias go after the int32 sum: runtime per-column output
         * scales, then the bias as a binary add, then the activation */
        const float rts[1] = {DNNL_RUNTIME_F32_VAL};
        DN(dnnl_primitive_attr_set_output_scales(attr, 1, 1 << 1, rts));
        if (has_bias) DN(dnnl_post_ops_append_binary(po, dnnl_binary_add, &b_md));
        DN(dnnl_matmul_desc_init(&md, &src_u, &w_a, NULL, &dst_u));
    } else {
        DN(dnnl_matmul_desc_init(&md, &src_p, &w_a, has_bias ? &b_md : NULL, &dst_u));
    }
    DN(append_act(po, &s->act));
    DN(dnnl_primitive_attr_set_post_ops(attr, po));
    DN(dnnl_primitive_desc_create(&pd, &md, attr, p->eng, NULL));
    DN(dnnl_primitive_create(&s->prim, pd));
    DN(operand_init(p, &s->src, &src_u, s->lowp ? &src_p : &src_u, true));
    DN(operand_init(p, &s->dst, &dst_u, &dst_u, false));
    DN(dnnl_memory_create(&s->wmem, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), p->eng,
                          DNNL_MEMORY_ALLOCATE));
    DN(reorder_once(p, &w_u, i8 ? (void *)s->wq : (void *)s->wkn, s->wmem));
    if (has_bias) DN(dnnl_memory_create(&s->bmem, &b_md, p->eng, s->bias ? s->bias : C->data));
    if (i8) {
        dnnl_memory_desc_t sc_md;
        dnnl_dims_t scd = {N};
        DN(dnnl_memory_desc_init_by_tag(&sc_md, 1, scd, dnnl_f32, dnnl_x));
        DN(dnnl_memory_create(&s->scales_mem, &sc_md, p->eng, s->oscale));
    }
    DN(make_scratch(p, s, pd));
    s->M = M;
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_desc_destroy(pd);
    return true;
fail:
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (pd) dnnl_primitive_desc_destroy(pd);
    destroy_prim(s);
    return false;
}

/* Symmetric per-tensor quantization of the activation: its scale. */
static float quantize_act(const float *a, int64_t n, int8_t *q)
{
    float mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(a[i]));
    float sc = mx > 0 ? mx / 127.f : 1.f, inv = 1.f / sc;
    for (int64_t i = 0; i < n; i++) q[i] = (int8_t)lrintf(a[i] * inv);
    return sc;
}

/* Static: the calibrated scale, saturated (inputs may exceed the
 * calibration range). */
static void quantize_act_static(const float *a, int64_t n, float scale, bool u8, void *q)
{
    const float inv = 1.f / scale;
    if (u8) {
        uint8_t *d = q;
        for (int64_t i = 0; i < n; i++) d[i] = (uint8_t)fminf(fmaxf(nearbyintf(a[i] * inv), 0.f), 255.f);
    } else {
        int8_t *d = q;
        for (int64_t i = 0; i < n; i++) d[i] = (int8_t)fminf(fmaxf(nearbyintf(a[i] * inv), -127.f), 127.f);
    }
}

static spd_status k_gemm(spd_op_ctx *ctx)
{
    nstate *s = ctx->state;
    const spd_tensor *A = ctx->n_inputs > 0 ? ctx->in[0] : NULL;
    const spd_tensor *C = NULL;
    if (!A || A->dtype != SPD_FLOAT) return run_ref(s, ctx);
    if (!s->is_matmul && !s->bias && ctx->n_inputs > 2 && ctx->in[2]) {
        C = ctx->in[2];
        /* a run-time C is wrapped as is: only when beta leaves it alone */
        if (C->dtype != SPD_FLOAT || s->beta != 1.f) return run_ref(s, ctx);
    }
    int64_t M, K;
    int ynd;
    int64_t yd[SPD_MAX_DIMS];
    if (s->is_matmul) {
        if (A->ndim < 1) return run_ref(s, ctx);
        K = A->dims[A->ndim - 1];
        M = spd_dims_prod(A->dims, 0, A->ndim - 1);
        ynd = A->ndim;
        memcpy(yd, A->dims, sizeof yd);
        yd[ynd - 1] = s->N;
    } else {
        if (A->ndim != 2) return run_ref(s, ctx);
        M = s->trans_a ? A->dims[1] : A->dims[0];
        K = s->trans_a ? A->dims[0] : A->dims[1];
        ynd = 2;
        yd[0] = M;
        yd[1] = s->N;
    }
    if (K != s->K || M < 1) return run_ref(s, ctx);
    int64_t key[SPD_MAX_DIMS + 3];
    int kn = A->ndim;
    memcpy(key, A->dims, (size_t)A->ndim * sizeof *key);
    key[kn++] = C ? C->ndim : -1;
    for (int i = 0; C && i < C->ndim; i++) key[kn++] = C->dims[i];
    set_threads(s->plan);
    if (!same_key(s, kn, key)) {
        destroy_prim(s);
        set_key(s, kn, key);
        s->declined = !gemm_build(s, C, M);
        s->built = true;
    }
    if (s->declined) return run_ref(s, ctx);
    if (C) {
        dnnl_status_t e = dnnl_memory_set_data_handle(s->bmem, C->data);
        if (e != dnnl_success) return dnnl_fail(e, "bias");
    }
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, ynd, yd));
    if (!s->int8 && !s->q8) return exec_prim(s, A->data, ctx->out[0].data, 0, NULL);
    size_t need = (size_t)(M * K);
    if (need > s->aq_cap) {
        spd_free(s->aq);
        s->aq = spd_malloc(need + 64);
        s->aq_cap = s->aq ? need : 0;
        if (!s->aq) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    /* a transposed A quantizes the same: it is one tensor, one scale */
    if (s->q8) {
        /* the output scales were set with the calibrated scale */
        quantize_act_static(A->data, M * K, s->q8_scale, s->q8_u8, s->aq);
    } else {
        float sa = quantize_act(A->data, M * K, s->aq);
        for (int64_t j = 0; j < s->N; j++) s->oscale[j] = sa * s->wscale[j];
    }
    dnnl_exec_arg_t extra[2];
    int ne = 0;
    extra[ne++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, s->scales_mem};
    if (s->bmem) {
        extra[ne++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, s->bmem};
    }
    /* the bias travels as a post-op here, not as the BIAS argument */
    dnnl_memory_t keep = s->bmem;
    s->bmem = NULL;
    spd_status st = exec_prim(s, s->aq, ctx->out[0].data, ne, extra);
    s->bmem = keep;
    return st;
}

/* Weights [K, N] = alpha * op(B) and bias = beta * C, prepared at compile. */
static spd_status gemm_prepare(nstate *s, const spd_node *n, const spd_tensor *B, const spd_tensor *Cc)
{
    int64_t trans_b = s->is_matmul ? 0 : spd_attr_int(n, "transB", 0);
    float alpha = s->is_matmul ? 1.f : spd_attr_float(n, "alpha", 1.f);
    s->K = trans_b ? B->dims[1] : B->dims[0];
    s->N = trans_b ? B->dims[0] : B->dims[1];
    const int64_t K = s->K, N = s->N;
    s->wkn = spd_malloc((size_t)(K * N) * sizeof(float) + 1);
    if (!s->wkn) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    const float *b = B->data;
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = 0; j < N; j++) s->wkn[i * N + j] = alpha * (trans_b ? b[j * K + i] : b[i * N + j]);
    if (Cc) {
        int64_t cn = spd_tensor_numel(Cc);
        s->bias_dims[0] = Cc->ndim == 2 ? Cc->dims[0] : 1;
        s->bias_dims[1] = Cc->ndim >= 1 ? Cc->dims[Cc->ndim - 1] : 1;
        s->bias = spd_malloc((size_t)cn * sizeof(float) + 1);
        if (!s->bias) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        const float *c = Cc->data;
        for (int64_t i = 0; i < cn; i++) s->bias[i] = s->beta * c[i];
    }
    if (s->int8) SPD_TRY(quantize_weights(s));
    return SPD_OK;
}

/* ---- pooling ------------------------------------------------------------- */

static bool pool_build(nstate *s, const spd_node *n, int64_t opset, const spd_tensor *X)
{
    const spd_plan *p = s->plan;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (X->ndim != 4 || X->dtype != SPD_FLOAT) return false;
    int64_t k[2], st[2] = {1, 1}, dil[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, pl[2] = {0, 0}, pr[2] = {0, 0}, out[2];
    bool global = s->pool == P_GLOBAL_AVG || s->pool == P_GLOBAL_MAX;
    bool avg = s->pool == P_AVG || s->pool == P_GLOBAL_AVG;
    bool include_pad = false;
    if (global) {
        k[0] = X->dims[2];
        k[1] = X->dims[3];
        out[0] = out[1] = 1;
    } else {
        if (!ints_n(n, "kernel_shape", 2, 0, k) || !ints_n(n, "strides", 2, 1, st) || !ints_n(n, "pads", 4, 0, pads))
            return false;
        if (!ints_n(n, "dilations", 2, 1, dil) || dil[0] != 1 || dil[1] != 1) return false;
        bool ceil_mode = opset >= 10 && spd_attr_int(n, "ceil_mode", 0) != 0;
        include_pad = avg && opset >= 7 && spd_attr_int(n, "count_include_pad", 0) != 0;
        const char *ap = spd_attr_string(n, "auto_pad", "NOTSET");
        bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER"), valid = !strcmp(ap, "VALID");
        if (!same && !valid && strcmp(ap, "NOTSET") && *ap) return false;
        for (int i = 0; i < 2; i++) {
            const int64_t in = X->dims[2 + i];
            if (k[i] < 1 || st[i] < 1 || in < 1 || pads[i] < 0 || pads[2 + i] < 0) return false;
            int64_t pe;
            if (same) {
                out[i] = (in + st[i] - 1) / st[i];
                int64_t total = (out[i] - 1) * st[i] + k[i] - in;
                if (total < 0) total = 0;
                pl[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
                pe = total - pl[i];
            } else {
                pl[i] = valid ? 0 : pads[i];
                pe = valid ? 0 : pads[2 + i];
                int64_t span = in + pl[i] + pe - k[i];
                if (span < 0) return false;
                out[i] = (ceil_mode ? (span + st[i] - 1) / st[i] : span / st[i]) + 1;
                if (ceil_mode && (out[i] - 1) * st[i] >= in + pl[i]) out[i]--;
            }
            if (pl[i] >= k[i] || pe >= k[i]) return false;
            pr[i] = (out[i] - 1) * st[i] + k[i] - in - pl[i];
            /* counting padding that ceil_mode adds beyond `pads` differs
             * between runtimes: leave that to the reference kernel */
            if (include_pad && pr[i] != pe) return false;
            if (pr[i] < 0) return false;
        }
    }
    dnnl_memory_desc_t src_u, dst_u;
    dnnl_dims_t xd = {X->dims[0], X->dims[1], X->dims[2], X->dims[3]}, yd = {X->dims[0], X->dims[1], out[0], out[1]};
    dnnl_dims_t kd = {k[0], k[1]}, sd = {st[0], st[1]}, pld = {pl[0], pl[1]}, prd = {pr[0], pr[1]};
    DN(dnnl_memory_desc_init_by_tag(&src_u, 4, xd, dnnl_f32, dnnl_nchw));
    DN(dnnl_memory_desc_init_by_tag(&dst_u, 4, yd, dnnl_f32, dnnl_nchw));
    dnnl_alg_kind_t alg = !avg ? dnnl_pooling_max
                          : include_pad ? dnnl_pooling_avg_include_padding
                                        : dnnl_pooling_avg_exclude_padding;
    dnnl_pooling_desc_t pdsc;
    DN(dnnl_pooling_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src_u, &dst_u, sd, kd, pld, prd));
    DN(dnnl_primitive_attr_create(&attr));
    DN(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    DN(dnnl_primitive_desc_create(&pd, &pdsc, attr, p->eng, NULL));
    DN(dnnl_primitive_create(&s->prim, pd));
    DN(operand_init(p, &s->src, &src_u, &src_u, true));
    DN(operand_init(p, &s->dst, &dst_u, &dst_u, false));
    DN(make_scratch(p, s, pd));
    s->out_nd = 4;
    memcpy(s->out_dims, yd, 4 * sizeof(int64_t));
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_desc_destroy(pd);
    return true;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (pd) dnnl_primitive_desc_destroy(pd);
    destroy_prim(s);
    return false;
}

static spd_status k_pool(spd_op_ctx *ctx)
{
    nstate *s = ctx->state;
    const spd_tensor *X = ctx->n_inputs > 0 ? ctx->in[0] : NULL;
    if (!X || X->dtype != SPD_FLOAT || X->ndim != 4) return run_ref(s, ctx);
    set_threads(s->plan);
    if (!same_key(s, 4, X->dims)) {
        destroy_prim(s);
        set_key(s, 4, X->dims);
        s->declined = !pool_build(s, ctx->node, ctx->opset, X);
        s->built = true;
    }
    if (s->declined) return run_ref(s, ctx);
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, s->out_nd, s->out_dims));
    return exec_prim(s, X->data, ctx->out[0].data, 0, NULL);
}

/* ---- the backend --------------------------------------------------------- */

static bool is_op(const spd_node *n, const char *domain, const char *op)
{
    return !strcmp(n->op_type, op) && !strcmp(n->domain, domain);
}

static bool tech_ok(spd_technique t)
{
    return t == SPD_TECH_FP32 || t == SPD_TECH_BF16 || t == SPD_TECH_FP16 || t == SPD_TECH_INT8 ||
           t == SPD_TECH_INT8_DYNAMIC;
}

static bool onednn_claims(const spd_node *n, spd_technique t)
{
    if (!tech_ok(t) || !n->op_type || !n->domain) return false;
    act ac;
    if (is_op(n, "", "Conv")) return n->n_inputs >= 2 && n->n_inputs <= 3;
    if (is_op(n, "com.microsoft", "FusedConv")) return n->n_inputs >= 2 && n->n_inputs <= 3 && node_act(n, &ac);
    if (is_op(n, "", "MatMul")) return n->n_inputs == 2;
    if (is_op(n, "", "Gemm")) return n->n_inputs >= 2 && n->n_inputs <= 3;
    if (is_op(n, "com.microsoft", "FusedGemm")) return n->n_inputs >= 2 && n->n_inputs <= 3 && node_act(n, &ac);
    /* pooling stays fp32 in every technique */
    if (is_op(n, "", "MaxPool")) return n->n_outputs == 1 || (n->n_outputs == 2 && !n->outputs[1][0]);
    if (is_op(n, "", "AveragePool") || is_op(n, "", "GlobalAveragePool") || is_op(n, "", "GlobalMaxPool")) return true;
    return false;
}

static const spd_tensor *const_input(const spd_program *p, const spd_pnode *pn, int k)
{
    if (k >= pn->n_in || pn->in[k] < 0) return NULL;
    const spd_pvalue *v = &p->values[pn->in[k]];
    return v->kind == SPD_VAL_INIT ? v->init : NULL;
}

/* Static int8: node pn (placed, in fp32 for now) becomes a calibration candidate. */
static spd_status add_q8_cand(spd_plan *plan, const spd_pnode *pn)
{
    if (pn->n_in < 1 || pn->in[0] < 0 || pn->n_out < 1) return SPD_OK;
    spd_q8_cand *c = spd_realloc(plan->q8, (size_t)(plan->n_q8 + 1) * sizeof *c);
    if (!c) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    plan->q8 = c;
    /* int8_dynamic nodes start in int8 and need no observation */
    bool dyn = plan->tech == SPD_TECH_INT8_DYNAMIC;
    c[plan->n_q8++] = (spd_q8_cand){(int)(pn - plan->prog->nodes), pn->in[0], pn->out[0], 1.f, false, dyn, dyn};
    return SPD_OK;
}

static spd_status q8_set(void *state, bool on, float scale, bool is_u8);

/* Switches an int8_dynamic node between fp32 and int8 (calib.h). */
static spd_status dyn_set(void *state, bool on, float scale, bool is_u8)
{
    nstate *s = state;
    (void)scale;
    (void)is_u8;
    if (on && !s->wq) SPD_TRY(quantize_weights(s));
    s->int8 = on;
    destroy_prim(s);
    return SPD_OK;
}

static spd_q8_set_fn plan_set_fn(const spd_plan *plan)
{
    return plan->tech == SPD_TECH_INT8_DYNAMIC ? dyn_set : q8_set;
}

/* Switches a candidate between fp32 and static int8 (calib.h). */
static spd_status q8_set(void *state, bool on, float scale, bool is_u8)
{
    nstate *s = state;
    if (on && !s->wq) SPD_TRY(s->kind == K_CONV ? quantize_conv_weights(s) : quantize_weights(s));
    s->q8 = on;
    s->q8_scale = scale;
    s->q8_u8 = is_u8;
    if (on) {
        const int64_t n = s->kind == K_CONV ? s->w->dims[0] : s->N;
        for (int64_t j = 0; j < n; j++) s->oscale[j] = scale * s->wscale[j];
        if (s->kind == K_CONV && s->b) {
            const float *b = s->b->data;
            for (int64_t j = 0; j < n; j++) s->qbias[j] = b[j] / s->oscale[j];
        }
    }
    destroy_prim(s); /* rebuilt for the new types and scales on the next run */
    return SPD_OK;
}

/* Sets up node pn for our kernels, or leaves it to the reference one. */
static spd_status place(spd_plan *plan, spd_pnode *pn)
{
    const spd_node *n = pn->node;
    if (!onednn_claims(n, plan->tech) || !pn->run) return SPD_OK;
    nstate *s = spd_calloc(1, sizeof *s);
    if (!s) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    s->plan = plan;
    s->ref = pn->run;
    s->lowp = plan->tech == SPD_TECH_BF16 || plan->tech == SPD_TECH_FP16;
    spd_kernel_fn fn = NULL;
    spd_status st = SPD_OK;
    const spd_program *p = plan->prog;
    bool conv = is_op(n, "", "Conv") || is_op(n, "com.microsoft", "FusedConv");
    bool mm = is_op(n, "", "MatMul");
    bool gemm = is_op(n, "", "Gemm") || is_op(n, "com.microsoft", "FusedGemm");
    if (!node_act(n, &s->act)) goto skip;
    if (conv) {
        const spd_tensor *W = const_input(p, pn, 1), *B = const_input(p, pn, 2);
        if (!W || W->dtype != SPD_FLOAT || W->ndim != 4) goto skip;
        if (plan->tech == SPD_TECH_INT8 && spd_tensor_numel(W) == 0) goto skip;
        if (B && (B->dtype != SPD_FLOAT || B->ndim != 1 || B->dims[0] != W->dims[0])) goto skip;
        /* a bias some node computes (an Identity of a constant, often) is
         * read at run time */
        s->b_rt = pn->n_in > 2 && pn->in[2] >= 0 && !B;
        s->kind = K_CONV;
        s->w = W;
        s->b = B;
        s->group = spd_attr_int(n, "group", 1);
        fn = k_conv;
    } else if (mm || gemm) {
        const spd_tensor *B = const_input(p, pn, 1);
        if (!B || B->dtype != SPD_FLOAT || B->ndim != 2 || spd_tensor_numel(B) == 0) goto skip;
        /* pre-7 broadcast attribute (FusedGemm's opset is its own domain's) */
        if (is_op(n, "", "Gemm") && pn->opset < 7) goto skip;
        s->kind = K_GEMM;
        s->is_matmul = mm;
        s->int8 = plan->tech == SPD_TECH_INT8_DYNAMIC;
        if (s->int8) s->lowp = false;
        s->trans_a = gemm ? spd_attr_int(n, "transA", 0) : 0;
        s->beta = gemm ? spd_attr_float(n, "beta", 1.f) : 1.f;
        const spd_tensor *Cc = gemm ? const_input(p, pn, 2) : NULL;
        if (Cc && Cc->dtype != SPD_FLOAT) goto skip;
        if (Cc && spd_tensor_numel(Cc) == 0) goto skip;
        int64_t tb = gemm ? spd_attr_int(n, "transB", 0) : 0, Nn = tb ? B->dims[0] : B->dims[1], bd[2];
        if (Cc && !bias_dims2(Cc, Cc->ndim == 2 ? Cc->dims[0] : 1, Nn, bd)) goto skip;
        if ((st = gemm_prepare(s, n, B, Cc)) != SPD_OK) goto fail;
        fn = k_gemm;
    } else {
        s->kind = K_POOL;
        s->pool = is_op(n, "", "MaxPool")       ? P_MAX
                  : is_op(n, "", "AveragePool") ? P_AVG
                  : is_op(n, "", "GlobalMaxPool") ? P_GLOBAL_MAX
                                                  : P_GLOBAL_AVG;
        fn = k_pool;
    }
    /* The native kernel's prepared state (packed weights) is not needed once
     * oneDNN runs the node. */
    if (pn->state_free) pn->state_free(pn->state);
    pn->run = fn;
    pn->state = s;
    pn->state_free = nstate_free;
    pn->placed_on = "onednn";
    if ((plan->tech == SPD_TECH_INT8 && s->kind != K_POOL) || (plan->tech == SPD_TECH_INT8_DYNAMIC && s->kind == K_GEMM))
        return add_q8_cand(plan, pn);
    return SPD_OK;
skip:
    nstate_free(s);
    return SPD_OK;
fail:
    nstate_free(s);
    return st;
}

static spd_status onednn_probe(const spd_device *dev)
{
    if (dev->gpu) return spd_errorf(SPD_ERR_UNSUPPORTED, "onednn runs on the CPU only in this build");
    return SPD_OK;
}

/* Whether this oneDNN runs an f16 (or bf16) matmul with a real kernel here:
 * the CPU flag is not enough, the library must have the kernel too, and its
 * reference implementation would be far slower than fp32. */
static bool half_matmul_native(dnnl_data_type_t dt)
{
    dnnl_engine_t eng = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t a, b, c;
    dnnl_matmul_desc_t md;
    dnnl_dims_t d = {64, 64};
    const char *impl = NULL;
    bool ok = dnnl_engine_create(&eng, dnnl_cpu, 0) == dnnl_success &&
              dnnl_memory_desc_init_by_tag(&a, 2, d, dt, dnnl_ab) == dnnl_success &&
              dnnl_memory_desc_init_by_tag(&b, 2, d, dt, dnnl_format_tag_any) == dnnl_success &&
              dnnl_memory_desc_init_by_tag(&c, 2, d, dnnl_f32, dnnl_ab) == dnnl_success &&
              dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success &&
              dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) == dnnl_success &&
              dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
              !strstr(impl, "ref");
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (eng) dnnl_engine_destroy(eng);
    return ok;
}

static bool fp16_ok(void)
{
    static int known = -1; /* the answer never changes in a process */
    if (known < 0) known = spd_cpu()->avx512_fp16 && half_matmul_native(dnnl_f16);
    return known == 1;
}

static bool onednn_supports(spd_technique t)
{
    const spd_cpu_features *f = spd_cpu();
    /* oneDNN has int8 kernels from SSE4.1 on (AVX2 here, VNNI, AMX) */
    if (t == SPD_TECH_FP32 || t == SPD_TECH_INT8_DYNAMIC || t == SPD_TECH_INT8) return true;
    if (t == SPD_TECH_BF16) return f->avx512_bf16 || f->amx_bf16;
    /* on other CPUs oneDNN converts f16 in software: slower than fp32 */
    if (t == SPD_TECH_FP16) return fp16_ok();
    return false;
}

static const char *onednn_unsupported_reason(spd_technique t)
{
    if (t == SPD_TECH_BF16)
        return "onednn runs bf16 natively only on CPUs with AVX512-BF16 or AMX-BF16 (Cooper Lake, Sapphire Rapids "
               "and later); this CPU has neither";
    if (t == SPD_TECH_FP16)
        return spd_cpu()->avx512_fp16
                   ? "this CPU has AVX512-FP16, but the oneDNN of this build has no native f16 matmul kernel for it"
                   : "onednn runs fp16 natively only on CPUs with AVX512-FP16 (Sapphire Rapids and later); this CPU "
                     "lacks it";
    return NULL;
}

static void onednn_destroy(spd_plan *plan)
{
    if (!plan) return;
    /* node states hold oneDNN objects: free them before the engine */
    spd_program_free(plan->prog);
    if (plan->strm) dnnl_stream_destroy(plan->strm);
    if (plan->eng) dnnl_engine_destroy(plan->eng);
    if (plan->omp_user) spd_pool_openmp_user(-1);
    spd_free(plan->q8);
    spd_model_free(plan->own_model);
    spd_free(plan);
}

/* ---- saved learners ------------------------------------------------------
 * Format 2 keeps the quantization in model.onnx as standard ONNX, so any
 * runtime computes (nearly) what the learner computes:
 *   - each int8 node's weights: an int8 initializer, per-channel scales and
 *     zero points (0), and a DequantizeLinear on the channel axis;
 *   - static int8: its input 0 through QuantizeLinear -> DequantizeLinear
 *     with the calibrated scale (zero point 0: u8 for a non-negative input,
 *     else s8);
 *   - nodes the fallback kept fp32 keep their fp32 weights.
 * Loading folds the pairs back into the nodes, which run int8 with exactly
 * those weights and scales. Models below opset 13 (no per-axis
 * DequantizeLinear) and learners of format 1 keep the scales in
 * onednn_int8.txt beside a plain fp32 model.onnx. */

#define Q8_FILE "onednn_int8.txt"
#define Q8_MAGIC "speedster-onednn-int8 1"
#define QDQ_MIN_OPSET 13

/* Applies the scales (static) or int8/fp32 choices (dynamic) of a legacy file. */
static spd_status q8_read(spd_plan *plan, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return spd_errorf(SPD_ERR_INVALID, "%s: cannot read the int8 scales", path);
    char line[512], method[32] = "";
    spd_status st = SPD_OK;
    spd_q8_set_fn set = plan_set_fn(plan);
    if (!fgets(line, sizeof line, f) || strncmp(line, Q8_MAGIC, strlen(Q8_MAGIC)) ||
        !fgets(line, sizeof line, f) || sscanf(line, "method %31s", method) != 1) {
        st = spd_errorf(SPD_ERR_INVALID, "%s: not an int8 scales file", path);
        goto out;
    }
    plan->q8rep.method = !strcmp(method, "percentile") ? "percentile" : !strcmp(method, "none") ? NULL : "minmax";
    while (fgets(line, sizeof line, f)) {
        int node, on, u8;
        char op[128];
        float scale;
        if (sscanf(line, "%d %127s %d %d %a", &node, op, &on, &u8, &scale) != 5) {
            st = spd_errorf(SPD_ERR_INVALID, "%s: bad line '%.60s'", path, line);
            goto out;
        }
        int i = 0;
        while (i < plan->n_q8 && plan->q8[i].node != node) i++;
        if (i == plan->n_q8 || strcmp(plan->prog->nodes[node].node->op_type, op) || !(scale > 0) || !isfinite(scale)) {
            st = spd_errorf(SPD_ERR_INVALID, "%s: the scales do not match the model (node #%d %s)", path, node, op);
            goto out;
        }
        spd_q8_cand *c = &plan->q8[i];
        c->on = on != 0;
        c->is_u8 = u8 != 0;
        c->scale = scale;
        c->seen = true;
        if ((st = set(plan->prog->nodes[node].state, c->on, scale, c->is_u8)) != SPD_OK) goto out;
    }
    for (int i = 0; i < plan->n_q8; i++) plan->q8rep.n_fallback += plan->q8[i].seen && !plan->q8[i].on;
out:
    fclose(f);
    return st;
}

static bool is_int8_tech(spd_technique t)
{
    return t == SPD_TECH_INT8 || t == SPD_TECH_INT8_DYNAMIC;
}

/* Whether the plan's quantization can be written as QDQ in model.onnx. */
static bool qdq_exportable(const spd_plan *plan)
{
    if (spd_model_opset(plan->prog->model, "") < QDQ_MIN_OPSET) return false;
    for (int i = 0; i < plan->n_q8; i++) {
        const spd_q8_cand *c = &plan->q8[i];
        const nstate *s = plan->prog->nodes[c->node].state;
        /* a Gemm's alpha is folded into the int8 weights: the scales carry it back */
        const spd_node *n = plan->prog->nodes[c->node].node;
        if (c->on && c->seen && s->kind == K_GEMM && !s->is_matmul && !(spd_attr_float(n, "alpha", 1.f) > 0)) return false;
    }
    return true;
}

static spd_status onednn_save(const spd_plan *plan, const char *dir)
{
    if (!is_int8_tech(plan->tech) || qdq_exportable(plan)) return SPD_OK;
    char path[4200], tmp[4210];
    snprintf(path, sizeof path, "%s/%s", dir, Q8_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return spd_errorf(SPD_ERR_IO, "%s: cannot write", tmp);
    fprintf(f, "%s\nmethod %s\n", Q8_MAGIC, plan->q8rep.method ? plan->q8rep.method : "none");
    /* node index (topological order of the saved model), operator, int8 or
     * fp32, u8 or s8 activations, activation scale (hex: exact) */
    for (int i = 0; i < plan->n_q8; i++) {
        const spd_q8_cand *c = &plan->q8[i];
        if (!c->seen) continue;
        fprintf(f, "%d %s %d %d %a\n", c->node, plan->prog->nodes[c->node].node->op_type, c->on ? 1 : 0,
                c->is_u8 ? 1 : 0, (double)c->scale);
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return spd_errorf(SPD_ERR_IO, "%s: cannot write", path);
    }
    return SPD_OK;
}

/* The channel axis of node n's weights (input 1) and whether the int8
 * weights [K, N] of a Gemm/MatMul are stored transposed (B is [N, K]). */
static int weight_axis(const nstate *s, const spd_node *n, bool *transposed)
{
    *transposed = false;
    if (s->kind == K_CONV) return 0;
    if (!s->is_matmul && spd_attr_int(n, "transB", 0)) {
        *transposed = true;
        return 0;
    }
    return 1;
}

/* A scalar or 1-D initializer named from base, added to g; its name in *name. */
static spd_status add_init(spd_graph *g, const char *base, spd_dtype dt, int nd, const int64_t *dims, const void *data,
                           char **name)
{
    spd_tensor t;
    memset(&t, 0, sizeof t);
    *name = spd_graph_unique_name(g, base);
    if (!*name) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    SPD_TRY(spd_tensor_alloc(&t, dt, nd, dims));
    if (data) memcpy(t.data, data, spd_tensor_nbytes(&t));
    else memset(t.data, 0, spd_tensor_nbytes(&t));
    spd_status st = spd_graph_add_initializer(g, *name, &t);
    spd_tensor_release(&t);
    return st;
}

/* Adds op(x, scale, zp) -> out (a fresh name from base) with an optional axis. */
static spd_status add_qdq_node(spd_graph *g, const char *op, const char *x, const char *scale, const char *zp,
                               const char *base, int axis, char **out)
{
    *out = spd_graph_unique_name(g, base);
    if (!*out) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    const char *ins[3] = {x, scale, zp}, *outs[1] = {*out};
    int idx;
    SPD_TRY(spd_graph_add_node(g, op, "", *out, 3, ins, 1, outs, &idx));
    if (axis >= 0) SPD_TRY(spd_node_set_int(&g->nodes[idx], "axis", axis));
    return SPD_OK;
}

/* The QDQ form of one int8 node (graph node gi of g, the clone of its
 * program's graph). */
static spd_status export_node(const spd_plan *plan, const spd_q8_cand *c, spd_graph *g, int gi)
{
    const nstate *s = plan->prog->nodes[c->node].state;
    const spd_node *src = plan->prog->nodes[c->node].node;
    char *wq = NULL, *ws = NULL, *wz = NULL, *wdq = NULL, *xs = NULL, *xz = NULL, *xq = NULL, *xdq = NULL;
    int8_t *tq = NULL;
    float *sc = NULL;
    char base[300];
    spd_status st = SPD_OK;
    bool transposed;
    const int axis = weight_axis(s, src, &transposed);
    /* weights: W's layout for Conv, B's for Gemm/MatMul */
    int nd = s->kind == K_CONV ? s->w->ndim : 2;
    int64_t dims[SPD_MAX_DIMS];
    int64_t nch = s->kind == K_CONV ? s->w->dims[0] : s->N, nq = s->kind == K_CONV ? spd_tensor_numel(s->w) : s->K * s->N;
    if (s->kind == K_CONV) memcpy(dims, s->w->dims, (size_t)nd * sizeof *dims);
    else if (transposed) dims[0] = s->N, dims[1] = s->K;
    else dims[0] = s->K, dims[1] = s->N;
    tq = spd_malloc((size_t)nq + 1);
    sc = spd_malloc((size_t)nch * sizeof *sc + 1);
    if (!tq || !sc) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto out; }
    if (transposed) {
        for (int64_t k = 0; k < s->K; k++)
            for (int64_t j = 0; j < s->N; j++) tq[j * s->K + k] = s->wq[k * s->N + j];
    } else {
        memcpy(tq, s->wq, (size_t)nq);
    }
    /* the kernel's weights are alpha * B: the scales of B are theirs / alpha */
    float alpha = s->kind == K_GEMM && !s->is_matmul ? spd_attr_float(src, "alpha", 1.f) : 1.f;
    for (int64_t j = 0; j < nch; j++) sc[j] = alpha == 1.f ? s->wscale[j] : s->wscale[j] / alpha;
    snprintf(base, sizeof base, "%s_int8", src->inputs[1]);
    if ((st = add_init(g, base, SPD_INT8, nd, dims, tq, &wq)) != SPD_OK) goto out;
    snprintf(base, sizeof base, "%s_scale", src->inputs[1]);
    if ((st = add_init(g, base, SPD_FLOAT, 1, &nch, sc, &ws)) != SPD_OK) goto out;
    snprintf(base, sizeof base, "%s_zero_point", src->inputs[1]);
    if ((st = add_init(g, base, SPD_INT8, 1, &nch, NULL, &wz)) != SPD_OK) goto out;
    snprintf(base, sizeof base, "%s_dequantized", src->inputs[1]);
    if ((st = add_qdq_node(g, "DequantizeLinear", wq, ws, wz, base, axis, &wdq)) != SPD_OK) goto out;
    if ((st = spd_node_set_input(&g->nodes[gi], 1, wdq)) != SPD_OK) goto out;
    if (plan->tech == SPD_TECH_INT8) {
        const char *x = src->inputs[0];
        uint8_t zero = 0;
        snprintf(base, sizeof base, "%s_scale_%d", x, gi);
        if ((st = add_init(g, base, SPD_FLOAT, 0, NULL, &c->scale, &xs)) != SPD_OK) goto out;
        snprintf(base, sizeof base, "%s_zero_point_%d", x, gi);
        if ((st = add_init(g, base, c->is_u8 ? SPD_UINT8 : SPD_INT8, 0, NULL, &zero, &xz)) != SPD_OK) goto out;
        snprintf(base, sizeof base, "%s_quantized_%d", x, gi);
        if ((st = add_qdq_node(g, "QuantizeLinear", x, xs, xz, base, -1, &xq)) != SPD_OK) goto out;
        snprintf(base, sizeof base, "%s_dequantized_%d", x, gi);
        if ((st = add_qdq_node(g, "DequantizeLinear", xq, xs, xz, base, -1, &xdq)) != SPD_OK) goto out;
        st = spd_node_set_input(&g->nodes[gi], 0, xdq);
    }
out:
    spd_free(tq);
    spd_free(sc);
    spd_free(wq);
    spd_free(ws);
    spd_free(wz);
    spd_free(wdq);
    spd_free(xs);
    spd_free(xz);
    spd_free(xq);
    spd_free(xdq);
    return st;
}

static spd_status onednn_export(const spd_plan *plan, const spd_model *m, spd_model **out)
{
    (void)m; /* the plan's own graph is the source: for a loaded plan, the folded one */
    *out = NULL;
    if (!is_int8_tech(plan->tech) || !qdq_exportable(plan)) return SPD_OK;
    const spd_model *src = plan->prog->model;
    spd_model *d = NULL;
    SPD_TRY(spd_model_clone(src, &d));
    spd_graph *g = d->graph;
    spd_status st = SPD_OK;
    int n_int8 = 0;
    for (int i = 0; i < plan->n_q8 && st == SPD_OK; i++) {
        const spd_q8_cand *c = &plan->q8[i];
        const nstate *ns = plan->prog->nodes[c->node].state;
        if (!c->on || !c->seen || ns->ran_ref) continue;
        int gi = (int)(plan->prog->nodes[c->node].node - src->graph->nodes);
        st = export_node(plan, c, g, gi);
        n_int8++;
    }
    /* the fp32 weights the int8 ones replace */
    for (int i = g->n_initializers - 1; i >= 0 && st == SPD_OK; i--)
        if (spd_graph_use_count(g, g->initializers[i].name) == 0 && spd_graph_input_index(g, g->initializers[i].name) < 0 &&
            spd_graph_find_initializer(src->graph, g->initializers[i].name) >= 0)
            spd_graph_remove_initializer(g, i);
    if (st == SPD_OK && n_int8) st = spd_graph_toposort(g);
    if (st != SPD_OK) {
        spd_model_free(d);
        return spd_error_prefix(st, "saving the int8 model as QuantizeLinear/DequantizeLinear");
    }
    *out = d;
    return SPD_OK;
}

/* ---- loading the QDQ form ---------------------------------------------- */

/* One int8 node found in a saved model, keyed by its output 0. */
typedef struct qrec {
    const char *out;      /* into the folded model's strings */
    int8_t *wq;           /* the kernel's layout: W's for Conv, [K, N] for Gemm/MatMul */
    float *wscale;        /* the kernel's (alpha folded in) */
    int64_t nq, nch;
    bool has_x;           /* static: the activation's scale */
    float xscale;
    bool x_u8;
} qrec;

typedef struct qrecs {
    int n;
    qrec *r;
} qrecs;

static void qrecs_free(qrecs *q)
{
    for (int i = 0; i < q->n; i++) {
        spd_free(q->r[i].wq);
        spd_free(q->r[i].wscale);
    }
    spd_free(q->r);
    memset(q, 0, sizeof *q);
}

static bool is_default_op(const spd_node *n, const char *op)
{
    return n->op_type && !strcmp(n->op_type, op) && (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
}

/* A zero point that is absent or all zeros, of type dt (absent: u8). */
static bool zero_point_ok(const spd_graph *g, const spd_node *q, spd_dtype *dt)
{
    *dt = SPD_UINT8;
    if (q->n_inputs < 3 || !q->inputs[2][0]) return true;
    const spd_tensor *z = spd_graph_constant(g, q->inputs[2]);
    if (!z || (z->dtype != SPD_INT8 && z->dtype != SPD_UINT8)) return false;
    *dt = z->dtype;
    for (int64_t i = 0; i < spd_tensor_numel(z); i++)
        if (spd_tensor_get(z, i) != 0) return false;
    return true;
}

/* The producer of `name` if it is a default-domain `op` node, else NULL. */
static spd_node *producer_op(spd_graph *g, const char *name, const char *op)
{
    int p = spd_graph_producer(g, name);
    return p >= 0 && is_default_op(&g->nodes[p], op) ? &g->nodes[p] : NULL;
}

/* Node n's weights as DequantizeLinear(int8 W, per-channel scale, 0) on the
 * right axis: into r, and n reads an fp32 initializer of the same values. */
static spd_status fold_weights(spd_graph *g, spd_node *n, qrec *r, bool *found)
{
    *found = false;
    const bool conv = !strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "FusedConv");
    const bool matmul = !strcmp(n->op_type, "MatMul");
    spd_node *dq = n->n_inputs > 1 ? producer_op(g, n->inputs[1], "DequantizeLinear") : NULL;
    if (!dq || dq->n_inputs < 2) return SPD_OK;
    const spd_tensor *q = spd_graph_constant(g, dq->inputs[0]), *sc = spd_graph_constant(g, dq->inputs[1]);
    spd_dtype zdt;
    if (!q || q->dtype != SPD_INT8 || !sc || sc->dtype != SPD_FLOAT || !zero_point_ok(g, dq, &zdt) || zdt != SPD_INT8)
        return SPD_OK;
    if (conv ? q->ndim < 3 : q->ndim != 2) return SPD_OK;
    const bool trans = !conv && !matmul && spd_attr_int(n, "transB", 0);
    const int axis = conv || trans ? 0 : 1;
    int64_t a = spd_attr_int(dq, "axis", 1);
    if (a < 0) a += q->ndim;
    const int64_t nch = q->dims[axis];
    if (a != axis || sc->ndim != 1 || sc->dims[0] != nch || nch < 1) return SPD_OK;
    const float alpha = conv || matmul ? 1.f : spd_attr_float(n, "alpha", 1.f);
    const int64_t nq = spd_tensor_numel(q), per = nq / nch;
    const int8_t *qd = q->data;
    const float *s = sc->data;
    r->wq = spd_malloc((size_t)nq + 1);
    r->wscale = spd_malloc((size_t)nch * sizeof(float) + 1);
    if (!r->wq || !r->wscale) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    r->nq = nq;
    r->nch = nch;
    for (int64_t j = 0; j < nch; j++) r->wscale[j] = alpha == 1.f ? s[j] : s[j] * alpha;
    if (trans) { /* B [N, K] -> [K, N] */
        const int64_t N = q->dims[0], K = q->dims[1];
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++) r->wq[k * N + j] = qd[j * K + k];
    } else {
        memcpy(r->wq, qd, (size_t)nq);
    }
    /* the fp32 values the node computes with when it runs fp32 (declined
     * shapes, the reference kernel) */
    spd_tensor w;
    memset(&w, 0, sizeof w);
    SPD_TRY(spd_tensor_alloc(&w, SPD_FLOAT, q->ndim, q->dims));
    float *wd = w.data;
    for (int64_t i = 0; i < nq; i++) wd[i] = (float)qd[i] * s[axis == 0 ? i / per : i % nch];
    char *name = spd_graph_unique_name(g, dq->outputs[0]);
    spd_status st = name ? spd_graph_add_initializer(g, name, &w) : spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_tensor_release(&w);
    if (st == SPD_OK) st = spd_node_set_input(n, 1, name);
    spd_free(name);
    *found = st == SPD_OK;
    return st;
}

/* Node n's input 0 as DequantizeLinear(QuantizeLinear(x, s, z), s, z) with a
 * scalar s and z = 0: into r, and n reads x. */
static spd_status fold_activation(spd_graph *g, spd_node *n, qrec *r)
{
    spd_node *dq = producer_op(g, n->inputs[0], "DequantizeLinear");
    if (!dq || dq->n_inputs < 2) return SPD_OK;
    spd_node *q = producer_op(g, dq->inputs[0], "QuantizeLinear");
    if (!q || q->n_inputs < 2) return SPD_OK;
    const spd_tensor *s1 = spd_graph_constant(g, dq->inputs[1]), *s2 = spd_graph_constant(g, q->inputs[1]);
    spd_dtype z1, z2;
    if (!s1 || !s2 || s1->dtype != SPD_FLOAT || s2->dtype != SPD_FLOAT || spd_tensor_numel(s1) != 1 ||
        spd_tensor_numel(s2) != 1 || !zero_point_ok(g, dq, &z1) || !zero_point_ok(g, q, &z2) || z1 != z2)
        return SPD_OK;
    float sc = ((const float *)s1->data)[0];
    if (sc != ((const float *)s2->data)[0] || !(sc > 0) || !isfinite(sc)) return SPD_OK;
    r->has_x = true;
    r->xscale = sc;
    r->x_u8 = z1 == SPD_UINT8;
    return spd_node_set_input(n, 0, q->inputs[0]);
}

/* The model the plan runs: m with the QDQ pairs of int8 nodes folded into
 * the nodes (recorded in q), Q/DQ nodes and initializers left unused removed. */
static spd_status fold_qdq(const spd_model *m, spd_model **out, qrecs *q)
{
    spd_model *d = NULL;
    SPD_TRY(spd_model_clone(m, &d));
    spd_graph *g = d->graph;
    spd_status st = SPD_OK;
    for (int i = 0; i < g->n_nodes && st == SPD_OK; i++) {
        spd_node *n = &g->nodes[i];
        if (!n->op_type || n->n_outputs < 1 || n->n_inputs < 2) continue;
        bool ms = n->domain && !strcmp(n->domain, "com.microsoft");
        bool ok = is_default_op(n, "Conv") || is_default_op(n, "MatMul") || is_default_op(n, "Gemm") ||
                  (ms && (!strcmp(n->op_type, "FusedConv") || !strcmp(n->op_type, "FusedGemm")));
        if (!ok) continue;
        qrec r;
        memset(&r, 0, sizeof r);
        bool found;
        st = fold_weights(g, n, &r, &found);
        n = &g->nodes[i];
        if (st == SPD_OK && found) st = fold_activation(g, n, &r);
        if (st == SPD_OK && found) {
            qrec *nr = spd_realloc(q->r, (size_t)(q->n + 1) * sizeof *nr);
            if (!nr) st = spd_errorf(SPD_ERR_NOMEM, "out of memory");
            else {
                q->r = nr;
                r.out = g->nodes[i].outputs[0];
                q->r[q->n++] = r;
                continue;
            }
        }
        spd_free(r.wq);
        spd_free(r.wscale);
    }
    /* the Q/DQ nodes nothing reads any more, and their initializers */
    for (bool again = st == SPD_OK; again;) {
        again = false;
        for (int i = 0; i < g->n_nodes; i++) {
            spd_node *n = &g->nodes[i];
            if (!n->op_type || n->n_outputs != 1 || spd_graph_use_count(g, n->outputs[0]) > 0) continue;
            if (!is_default_op(n, "QuantizeLinear") && !is_default_op(n, "DequantizeLinear")) continue;
            spd_graph_remove_node(g, i);
            again = true;
        }
    }
    if (st == SPD_OK) {
        spd_graph_compact(g);
        for (int i = g->n_initializers - 1; i >= 0; i--)
            if (spd_graph_use_count(g, g->initializers[i].name) == 0 && spd_graph_input_index(g, g->initializers[i].name) < 0)
                spd_graph_remove_initializer(g, i);
    }
    if (st != SPD_OK) {
        spd_model_free(d);
        qrecs_free(q);
        return st;
    }
    *out = d;
    return SPD_OK;
}

/* Gives node state s the saved int8 weights (when this CPU can multiply
 * them: without VNNI only 7-bit weights are safe, and wider ones are
 * quantized again from their fp32 values). */
static spd_status preset_weights(nstate *s, const qrec *r)
{
    const int64_t nch = s->kind == K_CONV ? s->w->dims[0] : s->N;
    const int64_t nq = s->kind == K_CONV ? spd_tensor_numel(s->w) : s->K * s->N;
    if (nch != r->nch || nq != r->nq) return spd_errorf(SPD_ERR_INVALID, "saved int8 weights of the wrong size");
    const int lim = (int)weight_limit();
    for (int64_t i = 0; i < nq; i++)
        if (r->wq[i] > lim || r->wq[i] < -lim) {
            spd_free(s->wq);
            s->wq = NULL;
            return s->kind == K_CONV ? quantize_conv_weights(s) : quantize_weights(s);
        }
    SPD_TRY(alloc_q(s, nq, nch));
    memcpy(s->wq, r->wq, (size_t)nq);
    memcpy(s->wscale, r->wscale, (size_t)nch * sizeof(float));
    return SPD_OK;
}

/* Turns the plan's candidates int8 as the saved model says, fp32 otherwise. */
static spd_status apply_qrecs(spd_plan *plan, const qrecs *q)
{
    spd_q8_set_fn set = plan_set_fn(plan);
    for (int i = 0; i < plan->n_q8; i++) {
        spd_q8_cand *c = &plan->q8[i];
        spd_pnode *pn = &plan->prog->nodes[c->node];
        const qrec *r = NULL;
        for (int k = 0; k < q->n && !r; k++)
            if (!strcmp(q->r[k].out, pn->node->outputs[0])) r = &q->r[k];
        bool on = r && (plan->tech == SPD_TECH_INT8_DYNAMIC || r->has_x);
        c->seen = true;
        c->on = on;
        if (on) {
            c->scale = r->has_x ? r->xscale : 1.f;
            c->is_u8 = r->has_x && r->x_u8;
            SPD_TRY(preset_weights(pn->state, r));
        }
        SPD_TRY(set(pn->state, on, c->scale, c->is_u8));
        plan->q8rep.n_fallback += !on;
    }
    return SPD_OK;
}

typedef enum { FROM_CALIB, FROM_FILE, FROM_QDQ } q8_from;

/* from: where int8 settings come from: calibration (or, for int8_dynamic,
 * every node int8 and the fallback), a legacy file at path, or the QDQ
 * pairs of m (q). */
static spd_status compile_impl(const spd_model *m, const spd_compile_opts *o, q8_from from, const char *path,
                               const qrecs *q, spd_plan **out)
{
    *out = NULL;
    if (!onednn_supports(o->technique))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "onednn has no %s kernels on this CPU: %s", spd_technique_name(o->technique),
                          onednn_unsupported_reason(o->technique) ? onednn_unsupported_reason(o->technique) : "");
    if (o->technique == SPD_TECH_INT8 && from == FROM_CALIB && (o->n_calib <= 0 || !o->calib))
        return spd_errorf(SPD_ERR_UNSUPPORTED,
                          "onednn int8 (static) needs calibration samples to set its activation scales: none were given");
    spd_plan *plan = spd_calloc(1, sizeof *plan);
    if (!plan) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    plan->tech = o->technique;
    plan->threads = o->threads > 0 ? o->threads : spd_thread_count();
    spd_status st;
    if (dnnl_engine_create(&plan->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&plan->strm, plan->eng, dnnl_stream_default_flags) != dnnl_success) {
        st = spd_errorf(SPD_ERR_UNSUPPORTED, "oneDNN could not create a CPU engine");
        goto fail;
    }
    spd_pool_openmp_user(1);
    plan->omp_user = true;
    if ((st = spd_program_build(m, m->graph, NULL, &plan->prog)) != SPD_OK) goto fail;
    for (int i = 0; i < plan->prog->n_nodes; i++)
        if ((st = place(plan, &plan->prog->nodes[i])) != SPD_OK) goto fail;
    if (is_int8_tech(o->technique)) {
        if (from == FROM_FILE) st = q8_read(plan, path);
        else if (from == FROM_QDQ) st = apply_qrecs(plan, q);
        else if (o->technique == SPD_TECH_INT8)
            st = spd_onednn_calibrate(plan->prog, plan->q8, plan->n_q8, q8_set, o->calib, o->n_calib, o->check,
                                      &plan->q8rep);
        else
            st = spd_onednn_fallback(plan->prog, plan->q8, plan->n_q8, dyn_set, o->calib, o->n_calib, o->check,
                                     &plan->q8rep);
        if (st != SPD_OK) {
            spd_error_prefix(st, o->technique == SPD_TECH_INT8 && from == FROM_CALIB ? "int8 calibration" : "int8");
            goto fail;
        }
        plan->q8_loaded = from != FROM_CALIB;
        plan->q8_source = from == FROM_FILE ? Q8_FILE : from == FROM_QDQ ? "QDQ in model.onnx" : NULL;
    }
    *out = plan;
    return SPD_OK;
fail:
    onednn_destroy(plan);
    return st;
}

static spd_status onednn_compile(const spd_model *m, const spd_compile_opts *o, spd_plan **out)
{
    return compile_impl(m, o, FROM_CALIB, NULL, NULL, out);
}

static spd_status onednn_run(spd_plan *plan, const spd_tensor *in, int n_in, spd_tensor *out, int n_out)
{
    return spd_exec_run_user(plan->prog, in, n_in, out, n_out);
}

static spd_status onednn_load(const char *dir, const spd_model *m, const spd_compile_opts *o, spd_plan **out)
{
    /* a saved learner is never recalibrated nor judged again */
    spd_compile_opts lo = *o;
    lo.check = NULL;
    if (!is_int8_tech(o->technique)) return compile_impl(m, &lo, FROM_CALIB, NULL, NULL, out);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, Q8_FILE);
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        return compile_impl(m, &lo, FROM_FILE, path, NULL, out);
    }
    if (o->saved_format < 2) {
        /* format 1: int8_dynamic ran every node int8; static int8 had its file */
        if (o->technique == SPD_TECH_INT8 && lo.n_calib <= 0)
            return spd_errorf(SPD_ERR_INVALID, "an int8 learner of format_version %d keeps its scales in %s, which is "
                              "missing: optimize the model again", o->saved_format, Q8_FILE);
        return compile_impl(m, &lo, FROM_CALIB, NULL, NULL, out);
    }
    spd_model *folded = NULL;
    qrecs q = {0, NULL};
    SPD_TRY(fold_qdq(m, &folded, &q));
    spd_status st = compile_impl(folded, &lo, FROM_QDQ, NULL, &q, out);
    qrecs_free(&q);
    if (st != SPD_OK) {
        spd_model_free(folded);
        return st;
    }
    (*out)->own_model = folded;
    return SPD_OK;
}

static void onednn_placement(const spd_plan *plan, char *buf, size_t n)
{
    spd_program_placement(plan->prog, buf, n);
    if (!is_int8_tech(plan->tech)) return;
    const bool dyn = plan->tech == SPD_TECH_INT8_DYNAMIC;
    const spd_q8_report *r = &plan->q8rep;
    int on = 0, declined = 0;
    for (int i = 0; i < plan->n_q8; i++) {
        const nstate *s = plan->prog->nodes[plan->q8[i].node].state;
        if (!plan->q8[i].on) continue;
        on++;
        declined += (s->built && s->declined) || s->ran_ref;
    }
    size_t k = strlen(buf);
    if (k >= n) return;
    if (plan->n_q8 == 0) {
        snprintf(buf + k, n - k, "; %s: no %s node with constant weights to quantize", dyn ? "int8 dynamic" : "int8 static",
                 dyn ? "MatMul/Gemm" : "Conv/Gemm");
        return;
    }
    if (dyn)
        k += (size_t)snprintf(buf + k, n - k, "; int8 dynamic%s: %d of %d MatMul/Gemm nodes int8, %d kept fp32",
                              plan->q8_source ? " (saved)" : "", on, plan->n_q8, plan->n_q8 - on);
    else
        k += (size_t)snprintf(buf + k, n - k, "; int8 static (%s%s): %d of %d Conv/Gemm nodes int8, %d kept fp32",
                              plan->q8_source ? "saved, " : "", plan->q8_source ? plan->q8_source
                              : r->method ? r->method : "minmax",
                              on, plan->n_q8, plan->n_q8 - on);
    if (k < n && !plan->q8_loaded && r->by_metric && r->levels > 0)
        k += (size_t)snprintf(buf + k, n - k, " (%d by the accuracy fallback on %s: drop %.3g -> %.3g, %d levels)",
                              r->n_fallback, r->metric_name ? r->metric_name : "the metric", r->initial, r->final,
                              r->levels);
    else if (k < n && r->n_fallback > 0 && !plan->q8_loaded)
        k += (size_t)snprintf(buf + k, n - k, " (%d by the accuracy fallback)", r->n_fallback);
    if (k < n && declined > 0)
        k += (size_t)snprintf(buf + k, n - k, ", %d of them declined by oneDNN (fp32 reference)", declined);
    if (k < n && !plan->q8_loaded && !dyn)
        k += (size_t)snprintf(buf + k, n - k, "; output rel L2 err on calibration %.3g", r->err_final);
    /* which nodes stayed fp32, by name (or index) */
    int listed = 0, fp32 = 0;
    for (int i = 0; i < plan->n_q8; i++) fp32 += plan->q8[i].seen && !plan->q8[i].on;
    for (int i = 0; i < plan->n_q8 && k + 40 < n && listed < 8; i++) {
        const spd_q8_cand *c = &plan->q8[i];
        if (!c->seen || c->on) continue;
        const spd_node *nd = plan->prog->nodes[c->node].node;
        k += (size_t)snprintf(buf + k, n - k, "%s%s", listed ? ", " : "; fp32: ",
                              nd->name && *nd->name ? nd->name : nd->outputs[0]);
        listed++;
    }
    if (k < n && listed < fp32) snprintf(buf + k, n - k, " (+%d more)", fp32 - listed);
}

static size_t onednn_arena_bytes(const spd_plan *plan)
{
    return spd_memplan_arena_bytes(plan->prog->mem);
}

const spd_backend spd_backend_onednn = {
    .name = "onednn",
    .description = "Intel oneDNN (Conv, MatMul/Gemm, pooling; the rest on speedster's kernels)",
    .probe = onednn_probe,
    .supports = onednn_supports,
    .unsupported_reason = onednn_unsupported_reason,
    .claims = onednn_claims,
    .compile = onednn_compile,
    .run = onednn_run,
    .save = onednn_save,
    .load = onednn_load,
    .export_model = onednn_export,
    .destroy = onednn_destroy,
    .placement = onednn_placement,
    .arena_bytes = onednn_arena_bytes,
};

#else
/* Built without oneDNN: the backend is absent (registry.c does not list it). */
typedef int spd_onednn_absent;
#endif
