/* Operators that fit no other family: the losses NegativeLogLikelihoodLoss
 * and SoftmaxCrossEntropyLoss, NonMaxSuppression, Det, the window functions,
 * RoiAlign; plus rows for operators speedster deliberately refuses (random
 * generators, sequence and optional types) so that models using them get a
 * clear reason instead of "unknown operator". */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ir/op.h"
#include "util/alloc.h"
#include "util/status.h"

static inline double ld(const spd_tensor *t, int64_t i)
{
    if (t->dtype == SPD_FLOAT) return ((const float *)t->data)[i];
    return spd_tensor_get(t, i);
}

static inline void st(spd_tensor *t, int64_t i, double v)
{
    if (t->dtype == SPD_FLOAT) ((float *)t->data)[i] = (float)v;
    else spd_tensor_set(t, i, v);
}

static const spd_tensor *opt_in(const spd_op_ctx *ctx, int k)
{
    return k < ctx->n_inputs ? ctx->in[k] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Losses                                                                   */

/* The part shared by NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss:
 * picks -logp[n, target, d] for each (n, d), weights it, and reduces.
 * logp has shape [N, C, D...] flattened to (N, C, D); `ref` gives the dtype. */
static spd_status nll_core(spd_op_ctx *ctx, const double *logp, int64_t N, int64_t C, int64_t D,
                           const spd_tensor *target, const spd_tensor *weight, spd_dtype dt,
                           spd_tensor *out)
{
    const char *red = spd_attr_string(ctx->node, "reduction", "mean");
    int mode; /* 0 none, 1 sum, 2 mean */
    if (!strcmp(red, "none")) mode = 0;
    else if (!strcmp(red, "sum")) mode = 1;
    else if (!strcmp(red, "mean")) mode = 2;
    else return spd_errorf(SPD_ERR_INVALID, "unknown reduction '%s'", red);
    bool has_ii = spd_node_attr(ctx->node, "ignore_index") != NULL;
    int64_t ii = spd_attr_int(ctx->node, "ignore_index", 0);

    if (target->dtype != SPD_INT32 && target->dtype != SPD_INT64)
        return spd_errorf(SPD_ERR_INVALID, "target must be int32 or int64, got %s",
                          spd_dtype_name(target->dtype));
    if (spd_tensor_numel(target) != N * D)
        return spd_errorf(SPD_ERR_INVALID, "target has %lld elements, expected %lld",
                          (long long)spd_tensor_numel(target), (long long)(N * D));
    if (weight && (weight->ndim != 1 || weight->dims[0] != C))
        return spd_errorf(SPD_ERR_INVALID, "weight must have shape [%lld]", (long long)C);

    if (mode == 0) SPD_TRY(spd_tensor_alloc(out, dt, target->ndim, target->dims));
    else SPD_TRY(spd_tensor_alloc(out, dt, 0, NULL));

    double sum = 0.0, wsum = 0.0;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t d = 0; d < D; d++) {
            int64_t i = n * D + d;
            int64_t t = spd_tensor_get_i64(target, i);
            double l = 0.0, w = 0.0;
            if (!(has_ii && t == ii)) {
                if (t < 0 || t >= C)
                    return spd_errorf(SPD_ERR_INVALID, "target value %lld is outside [0, %lld)",
                                      (long long)t, (long long)C);
                w = weight ? ld(weight, t) : 1.0;
                l = -logp[(n * C + t) * D + d] * w;
            }
            if (mode == 0) st(out, i, l);
            sum += l;
            wsum += w;
        }
    }
    if (mode == 1) st(out, 0, sum);
    if (mode == 2) st(out, 0, sum / wsum);
    return SPD_OK;
}

/* Checks [N, C, D...] and returns N, C and the product D of the rest. */
static spd_status loss_shape(const spd_tensor *x, int64_t *N, int64_t *C, int64_t *D)
{
    if (!spd_dtype_is_float(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported",
                          spd_dtype_name(x->dtype));
    if (x->ndim < 2) return spd_errorf(SPD_ERR_INVALID, "input must have shape [N, C, ...]");
    *N = x->dims[0];
    *C = x->dims[1];
    *D = spd_dims_prod(x->dims, 2, x->ndim);
    return SPD_OK;
}

static spd_status target_shape(const spd_tensor *x, const spd_tensor *t)
{
    bool ok = t->ndim == x->ndim - 1 && t->dims[0] == x->dims[0];
    for (int d = 1; ok && d < t->ndim; d++) ok = t->dims[d] == x->dims[d + 1];
    if (!ok) return spd_errorf(SPD_ERR_INVALID, "target shape does not match the input's [N, d1, ...]");
    return SPD_OK;
}

static spd_status op_nllloss(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0], *t = opt_in(ctx, 1), *w = opt_in(ctx, 2);
    if (!x || !t) return spd_errorf(SPD_ERR_INVALID, "missing input or target");
    int64_t N = 0, C = 0, D = 0;
    SPD_TRY(loss_shape(x, &N, &C, &D));
    SPD_TRY(target_shape(x, t));
    int64_t n = spd_tensor_numel(x);
    double *logp = spd_malloc((size_t)(n ? n : 1) * sizeof *logp);
    if (!logp) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) logp[i] = ld(x, i);
    spd_status s = nll_core(ctx, logp, N, C, D, t, w, x->dtype, &ctx->out[0]);
    spd_free(logp);
    return s;
}

static spd_status op_sce(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0], *t = opt_in(ctx, 1), *w = opt_in(ctx, 2);
    if (!x || !t) return spd_errorf(SPD_ERR_INVALID, "missing scores or labels");
    int64_t N = 0, C = 0, D = 0;
    SPD_TRY(loss_shape(x, &N, &C, &D));
    SPD_TRY(target_shape(x, t));
    int64_t n = spd_tensor_numel(x);
    double *logp = spd_malloc((size_t)(n ? n : 1) * sizeof *logp);
    if (!logp) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    /* log_softmax over C, shifted by the maximum for stability. */
    for (int64_t a = 0; a < N; a++) {
        for (int64_t d = 0; d < D; d++) {
            int64_t base = a * C * D + d;
            double mx = -INFINITY, s = 0.0;
            for (int64_t c = 0; c < C; c++) mx = fmax(mx, ld(x, base + c * D));
            for (int64_t c = 0; c < C; c++) s += exp(ld(x, base + c * D) - mx);
            double lse = mx + log(s);
            for (int64_t c = 0; c < C; c++) logp[base + c * D] = ld(x, base + c * D) - lse;
        }
    }
    spd_status s = nll_core(ctx, logp, N, C, D, t, w, x->dtype, &ctx->out[0]);
    if (s == SPD_OK && ctx->n_outputs > 1) {
        s = spd_tensor_alloc(&ctx->out[1], x->dtype, x->ndim, x->dims);
        if (s == SPD_OK)
            for (int64_t i = 0; i < n; i++) st(&ctx->out[1], i, logp[i]);
    }
    spd_free(logp);
    return s;
}

/* ------------------------------------------------------------------------ */
/* NonMaxSuppression                                                        */

typedef struct nms_cand {
    double score;
    int64_t idx;
} nms_cand;

/* Higher score first; equal scores keep the lower box index first. */
static int nms_cmp(const void *pa, const void *pb)
{
    const nms_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Box corners as (ymin, xmin, ymax, xmax), whichever way round they came. */
static void nms_box(const spd_tensor *boxes, int64_t base, bool center, double *b)
{
    double v0 = ld(boxes, base), v1 = ld(boxes, base + 1);
    double v2 = ld(boxes, base + 2), v3 = ld(boxes, base + 3);
    if (center) { /* [x_center, y_center, width, height] */
        b[0] = v1 - v3 / 2; b[1] = v0 - v2 / 2;
        b[2] = v1 + v3 / 2; b[3] = v0 + v2 / 2;
    } else { /* [y1, x1, y2, x2], any diagonal */
        b[0] = fmin(v0, v2); b[1] = fmin(v1, v3);
        b[2] = fmax(v0, v2); b[3] = fmax(v1, v3);
    }
}

static bool nms_suppress(const double *a, const double *b, double iou_threshold)
{
    double ymin = fmax(a[0], b[0]), xmin = fmax(a[1], b[1]);
    double ymax = fmin(a[2], b[2]), xmax = fmin(a[3], b[3]);
    if (xmax <= xmin || ymax <= ymin) return false;
    double inter = (ymax - ymin) * (xmax - xmin);
    double area_a = (a[2] - a[0]) * (a[3] - a[1]);
    double area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if (area_a <= 0 || area_b <= 0) return false;
    double uni = area_a + area_b - inter;
    if (uni <= 0) return false;
    return inter / uni > iou_threshold;
}

static spd_status op_nms(spd_op_ctx *ctx)
{
    const spd_tensor *boxes = ctx->in[0], *scores = opt_in(ctx, 1);
    const spd_tensor *tmax = opt_in(ctx, 2), *tiou = opt_in(ctx, 3), *tscore = opt_in(ctx, 4);
    if (!boxes || !scores) return spd_errorf(SPD_ERR_INVALID, "missing boxes or scores");
    if (!spd_dtype_is_float(boxes->dtype) || !spd_dtype_is_float(scores->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "boxes and scores must be floating point");
    if (boxes->ndim != 3 || boxes->dims[2] != 4)
        return spd_errorf(SPD_ERR_INVALID, "boxes must have shape [batch, boxes, 4]");
    if (scores->ndim != 3 || scores->dims[0] != boxes->dims[0] || scores->dims[2] != boxes->dims[1])
        return spd_errorf(SPD_ERR_INVALID, "scores must have shape [batch, classes, boxes]");
    int64_t max_out = 0;
    double iou_th = 0.0, score_th = 0.0;
    bool has_score_th = false;
    if (tmax && spd_tensor_numel(tmax) > 0) {
        if (!spd_dtype_is_int(tmax->dtype))
            return spd_errorf(SPD_ERR_INVALID, "max_output_boxes_per_class must be an integer");
        max_out = spd_tensor_get_i64(tmax, 0);
    }
    if (tiou && spd_tensor_numel(tiou) > 0) iou_th = spd_tensor_get(tiou, 0);
    if (tscore && spd_tensor_numel(tscore) > 0) {
        score_th = spd_tensor_get(tscore, 0);
        has_score_th = true;
    }
    if (iou_th < 0 || iou_th > 1)
        return spd_errorf(SPD_ERR_INVALID, "iou_threshold %g is outside [0, 1]", iou_th);
    bool center = spd_attr_int(ctx->node, "center_point_box", 0) != 0;
    int64_t B = boxes->dims[0], S = boxes->dims[1], K = scores->dims[1];

    nms_cand *cand = spd_malloc((size_t)(S ? S : 1) * sizeof *cand);
    int64_t *kept = spd_malloc((size_t)(S ? S : 1) * sizeof *kept);
    double *corners = spd_malloc((size_t)(S ? S : 1) * 4 * sizeof *corners);
    int64_t *sel = NULL, nsel = 0, cap = 0;
    spd_status s = SPD_OK;
    if (!cand || !kept || !corners) {
        s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t b = 0; b < B && max_out > 0; b++) {
        for (int64_t i = 0; i < S; i++) nms_box(boxes, (b * S + i) * 4, center, &corners[i * 4]);
        for (int64_t c = 0; c < K; c++) {
            int64_t n = 0;
            for (int64_t i = 0; i < S; i++) {
                double sc = ld(scores, (b * K + c) * S + i);
                if (has_score_th && !(sc > score_th)) continue;
                cand[n].score = sc;
                cand[n].idx = i;
                n++;
            }
            qsort(cand, (size_t)n, sizeof *cand, nms_cmp);
            int64_t nk = 0;
            for (int64_t j = 0; j < n && nk < max_out; j++) {
                const double *bj = &corners[cand[j].idx * 4];
                bool keep = true;
                for (int64_t q = 0; q < nk && keep; q++)
                    if (nms_suppress(bj, &corners[kept[q] * 4], iou_th)) keep = false;
                if (!keep) continue;
                kept[nk++] = cand[j].idx;
                if (nsel == cap) {
                    cap = cap ? cap * 2 : 64;
                    int64_t *p = spd_realloc(sel, (size_t)cap * 3 * sizeof *sel);
                    if (!p) {
                        s = spd_errorf(SPD_ERR_NOMEM, "out of memory");
                        goto done;
                    }
                    sel = p;
                }
                sel[nsel * 3] = b;
                sel[nsel * 3 + 1] = c;
                sel[nsel * 3 + 2] = cand[j].idx;
                nsel++;
            }
        }
    }
    {
        int64_t dims[2] = {nsel, 3};
        s = spd_tensor_alloc(&ctx->out[0], SPD_INT64, 2, dims);
        if (s == SPD_OK && nsel) memcpy(ctx->out[0].data, sel, (size_t)nsel * 3 * sizeof *sel);
    }
done:
    spd_free(sel);
    spd_free(corners);
    spd_free(kept);
    spd_free(cand);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Det                                                                      */

static spd_status op_det(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0];
    if (!x) return spd_errorf(SPD_ERR_INVALID, "missing input");
    if (!spd_dtype_is_float(x->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported",
                          spd_dtype_name(x->dtype));
    if (x->ndim < 2 || x->dims[x->ndim - 1] != x->dims[x->ndim - 2])
        return spd_errorf(SPD_ERR_INVALID, "input must have shape [..., M, M]");
    int64_t m = x->dims[x->ndim - 1];
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, x->ndim - 2, x->dims));
    int64_t batch = spd_tensor_numel(&ctx->out[0]);
    double *a = spd_malloc((size_t)(m > 0 ? m * m : 1) * sizeof *a);
    if (!a) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    /* Gaussian elimination with partial pivoting; det = sign * prod(pivots). */
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < m * m; i++) a[i] = ld(x, b * m * m + i);
        double det = 1.0;
        for (int64_t k = 0; k < m && det != 0.0; k++) {
            int64_t p = k;
            for (int64_t i = k + 1; i < m; i++)
                if (fabs(a[i * m + k]) > fabs(a[p * m + k])) p = i;
            if (a[p * m + k] == 0.0) {
                det = 0.0;
                break;
            }
            if (p != k) {
                for (int64_t j = 0; j < m; j++) {
                    double t = a[k * m + j];
                    a[k * m + j] = a[p * m + j];
                    a[p * m + j] = t;
                }
                det = -det;
            }
            det *= a[k * m + k];
            for (int64_t i = k + 1; i < m; i++) {
                double f = a[i * m + k] / a[k * m + k];
                for (int64_t j = k; j < m; j++) a[i * m + j] -= f * a[k * m + j];
            }
        }
        st(&ctx->out[0], b, det);
    }
    spd_free(a);
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* Window functions: sum of cosines a_k cos(2 pi k n / N), with N = size for
 * periodic windows and size - 1 for symmetric ones.                        */

static spd_status window_run(spd_op_ctx *ctx, const double *a, int na)
{
    const spd_tensor *t = ctx->in[0];
    if (!t) return spd_errorf(SPD_ERR_INVALID, "missing input size");
    if (spd_tensor_numel(t) != 1 || (t->dtype != SPD_INT32 && t->dtype != SPD_INT64))
        return spd_errorf(SPD_ERR_INVALID, "size must be one int32 or int64 value");
    int64_t size = spd_tensor_get_i64(t, 0);
    if (size < 0) return spd_errorf(SPD_ERR_INVALID, "size %lld is negative", (long long)size);
    int64_t odt = spd_attr_int(ctx->node, "output_datatype", SPD_FLOAT);
    if (odt <= 0 || odt > SPD_BFLOAT16 || !(spd_dtype_is_float((spd_dtype)odt) ||
                                            spd_dtype_is_int((spd_dtype)odt)))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "output_datatype %lld is not supported", (long long)odt);
    bool periodic = spd_attr_int(ctx->node, "periodic", 1) != 0;
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], (spd_dtype)odt, 1, &size));
    double N = (double)(periodic ? size : size - 1);
    for (int64_t n = 0; n < size; n++) {
        double phase = N > 0 ? 2.0 * M_PI * (double)n / N : 0.0, v = 0.0;
        for (int k = 0; k < na; k++) v += a[k] * cos(k * phase);
        spd_tensor_set(&ctx->out[0], n, v);
    }
    return SPD_OK;
}

static spd_status op_hann(spd_op_ctx *ctx)
{
    static const double a[] = {0.5, -0.5};
    return window_run(ctx, a, 2);
}

static spd_status op_hamming(spd_op_ctx *ctx)
{
    static const double a[] = {25.0 / 46.0, -21.0 / 46.0};
    return window_run(ctx, a, 2);
}

static spd_status op_blackman(spd_op_ctx *ctx)
{
    static const double a[] = {0.42, -0.5, 0.08};
    return window_run(ctx, a, 3);
}

/* ------------------------------------------------------------------------ */
/* RoiAlign, following the reference (Caffe2 / onnxruntime) sampling: each
 * output bin averages (or maxes) a grid of bilinear samples.              */

typedef struct roi_sample {
    int64_t pos[4];
    double w[4];
} roi_sample;

static void roi_bilinear(double y, double x, int64_t H, int64_t W, roi_sample *s)
{
    memset(s, 0, sizeof *s);
    if (y < -1.0 || y > (double)H || x < -1.0 || x > (double)W) return; /* contributes 0 */
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
    if (y0 >= H - 1) { y1 = y0 = H - 1; y = (double)y0; } else y1 = y0 + 1;
    if (x0 >= W - 1) { x1 = x0 = W - 1; x = (double)x0; } else x1 = x0 + 1;
    double ly = y - (double)y0, lx = x - (double)x0, hy = 1.0 - ly, hx = 1.0 - lx;
    s->pos[0] = y0 * W + x0; s->w[0] = hy * hx;
    s->pos[1] = y0 * W + x1; s->w[1] = hy * lx;
    s->pos[2] = y1 * W + x0; s->w[2] = ly * hx;
    s->pos[3] = y1 * W + x1; s->w[3] = ly * lx;
}

static spd_status op_roialign(spd_op_ctx *ctx)
{
    const spd_tensor *x = ctx->in[0], *rois = opt_in(ctx, 1), *bi = opt_in(ctx, 2);
    if (!x || !rois || !bi) return spd_errorf(SPD_ERR_INVALID, "RoiAlign needs X, rois and batch_indices");
    if (!spd_dtype_is_float(x->dtype) || !spd_dtype_is_float(rois->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "X and rois must be floating point");
    if (x->ndim != 4) return spd_errorf(SPD_ERR_INVALID, "X must have shape [N, C, H, W]");
    if (rois->ndim != 2 || rois->dims[1] != 4)
        return spd_errorf(SPD_ERR_INVALID, "rois must have shape [num_rois, 4]");
    if (bi->ndim != 1 || bi->dims[0] != rois->dims[0] || !spd_dtype_is_int(bi->dtype))
        return spd_errorf(SPD_ERR_INVALID, "batch_indices must be integers of shape [num_rois]");
    const char *mode = spd_attr_string(ctx->node, "mode", "avg");
    bool is_max = !strcasecmp(mode, "max");
    if (!is_max && strcasecmp(mode, "avg")) return spd_errorf(SPD_ERR_INVALID, "unknown mode '%s'", mode);
    int64_t oh = spd_attr_int(ctx->node, "output_height", 1);
    int64_t ow = spd_attr_int(ctx->node, "output_width", 1);
    int64_t sr = spd_attr_int(ctx->node, "sampling_ratio", 0);
    double scale = spd_attr_float(ctx->node, "spatial_scale", 1.0f);
    if (oh <= 0 || ow <= 0 || sr < 0)
        return spd_errorf(SPD_ERR_INVALID, "output_height, output_width must be > 0 and sampling_ratio >= 0");
    /* Opset 10 had no attribute and behaved as output_half_pixel. */
    const char *ctm = ctx->opset >= 16
        ? spd_attr_string(ctx->node, "coordinate_transformation_mode", "half_pixel")
        : "output_half_pixel";
    bool half_pixel = !strcasecmp(ctm, "half_pixel");
    if (!half_pixel && strcasecmp(ctm, "output_half_pixel"))
        return spd_errorf(SPD_ERR_INVALID, "unknown coordinate_transformation_mode '%s'", ctm);

    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], R = rois->dims[0];
    int64_t odims[4] = {R, C, oh, ow};
    spd_tensor *y = &ctx->out[0];
    SPD_TRY(spd_tensor_alloc(y, x->dtype, 4, odims));
    for (int64_t r = 0; r < R; r++) {
        int64_t b = spd_tensor_get_i64(bi, r);
        if (b < 0 || b >= N)
            return spd_errorf(SPD_ERR_INVALID, "batch index %lld is outside [0, %lld)",
                              (long long)b, (long long)N);
        double off = half_pixel ? 0.5 : 0.0;
        double x1 = ld(rois, r * 4) * scale - off, y1 = ld(rois, r * 4 + 1) * scale - off;
        double x2 = ld(rois, r * 4 + 2) * scale - off, y2 = ld(rois, r * 4 + 3) * scale - off;
        double rw = x2 - x1, rh = y2 - y1;
        if (!half_pixel) { /* force malformed rois to be 1x1 */
            rw = fmax(rw, 1.0);
            rh = fmax(rh, 1.0);
        }
        double bh = rh / (double)oh, bw = rw / (double)ow;
        int64_t gh = sr > 0 ? sr : (int64_t)ceil(rh / (double)oh);
        int64_t gw = sr > 0 ? sr : (int64_t)ceil(rw / (double)ow);
        if (gh < 0) gh = 0;
        if (gw < 0) gw = 0;
        double count = (double)(gh * gw > 1 ? gh * gw : 1);
        for (int64_t c = 0; c < C; c++) {
            int64_t plane = (b * C + c) * H * W;
            for (int64_t ph = 0; ph < oh; ph++) {
                for (int64_t pw = 0; pw < ow; pw++) {
                    double acc = 0.0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y1 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x1 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            roi_sample s;
                            roi_bilinear(yy, xx, H, W, &s);
                            if (is_max) {
                                /* onnxruntime's rule: the largest weighted corner. */
                                double v = s.w[0] * ld(x, plane + s.pos[0]);
                                for (int q = 1; q < 4; q++) v = fmax(v, s.w[q] * ld(x, plane + s.pos[q]));
                                acc = first ? v : fmax(acc, v);
                                first = false;
                            } else {
                                for (int q = 0; q < 4; q++) acc += s.w[q] * ld(x, plane + s.pos[q]);
                            }
                        }
                    }
                    st(y, ((r * C + c) * oh + ph) * ow + pw, is_max ? acc : acc / count);
                }
            }
        }
    }
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* Refused operators                                                        */

static spd_status op_random(spd_op_ctx *ctx)
{
    return spd_errorf(SPD_ERR_UNSUPPORTED,
                      "%s is nondeterministic (random sampling) and is not supported",
                      ctx->node->op_type);
}

static spd_status op_sequence(spd_op_ctx *ctx)
{
    (void)ctx;
    return spd_errorf(SPD_ERR_UNSUPPORTED, "sequence/optional types are not supported");
}

const spd_op_def spd_ops_misc[] = {
    {"NegativeLogLikelihoodLoss", "", 12, 21, op_nllloss},
    {"SoftmaxCrossEntropyLoss", "", 12, 21, op_sce},
    {"NonMaxSuppression", "", 10, 21, op_nms},
    {"Det", "", 11, 21, op_det},
    {"HannWindow", "", 17, 21, op_hann},
    {"HammingWindow", "", 17, 21, op_hamming},
    {"BlackmanWindow", "", 17, 21, op_blackman},
    {"RoiAlign", "", 10, 21, op_roialign},
    {"Bernoulli", "", 15, 21, op_random},
    {"Multinomial", "", 7, 21, op_random},
    {"RandomNormal", "", 1, 21, op_random},
    {"RandomNormalLike", "", 1, 21, op_random},
    {"RandomUniform", "", 1, 21, op_random},
    {"RandomUniformLike", "", 1, 21, op_random},
    {"Optional", "", 15, 21, op_sequence},
    {"OptionalHasElement", "", 15, 21, op_sequence},
    {"OptionalGetElement", "", 15, 21, op_sequence},
    {"SequenceAt", "", 11, 21, op_sequence},
    {"SequenceConstruct", "", 11, 21, op_sequence},
    {"SequenceEmpty", "", 11, 21, op_sequence},
    {"SequenceErase", "", 11, 21, op_sequence},
    {"SequenceInsert", "", 11, 21, op_sequence},
    {"SequenceLength", "", 11, 21, op_sequence},
    {"SequenceMap", "", 17, 21, op_sequence},
    {"SplitToSequence", "", 11, 21, op_sequence},
    {"ConcatFromSequence", "", 11, 21, op_sequence},
};
const int spd_ops_misc_count = (int)(sizeof spd_ops_misc / sizeof spd_ops_misc[0]);
