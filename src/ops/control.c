/* Control flow: If, Loop, Scan. Bodies run through the interpreter
 * (spd_exec_subgraph), which resolves the values they capture. */
#include <string.h>

#include "ir/op.h"
#include "runtime/exec.h"
#include "util/alloc.h"
#include "util/status.h"

static spd_status need_graph(const spd_op_ctx *ctx, const char *name, const spd_graph **g)
{
    *g = spd_attr_graph(ctx->node, name);
    if (!*g) return spd_errorf(SPD_ERR_INVALID, "attribute '%s' (a graph) is missing", name);
    return SPD_OK;
}

static spd_status scalar_bool(const spd_tensor *t, const char *what, int *v)
{
    if (spd_tensor_numel(t) != 1)
        return spd_errorf(SPD_ERR_INVALID, "%s must hold one element, it has %lld", what,
                          (long long)spd_tensor_numel(t));
    *v = spd_tensor_get(t, 0) != 0;
    return SPD_OK;
}

static spd_status op_if(spd_op_ctx *ctx)
{
    const spd_graph *then_g, *else_g;
    int cond = 0;
    if (!ctx->in[0]) return spd_errorf(SPD_ERR_INVALID, "input 'cond' is missing");
    SPD_TRY(need_graph(ctx, "then_branch", &then_g));
    SPD_TRY(need_graph(ctx, "else_branch", &else_g));
    SPD_TRY(scalar_bool(ctx->in[0], "cond", &cond));
    const spd_graph *g = cond ? then_g : else_g;
    if (g->n_outputs != ctx->n_outputs)
        return spd_errorf(SPD_ERR_INVALID, "the %s branch has %d outputs, the node %d", cond ? "then" : "else",
                          g->n_outputs, ctx->n_outputs);
    return spd_exec_subgraph(ctx->exec, g, NULL, 0, ctx->out, ctx->n_outputs);
}

/* Slice i of t along axis (the axis removed) into out. */
static spd_status take_slice(const spd_tensor *t, int axis, int64_t i, spd_tensor *out)
{
    int64_t dims[SPD_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < t->ndim; d++)
        if (d != axis) dims[nd++] = t->dims[d];
    SPD_TRY(spd_tensor_alloc(out, t->dtype, nd, dims));
    size_t esz = spd_dtype_size(t->dtype);
    int64_t outer = spd_dims_prod(t->dims, 0, axis), inner = spd_dims_prod(t->dims, axis + 1, t->ndim);
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)out->data + (size_t)(o * inner) * esz,
               (const char *)t->data + (size_t)((o * t->dims[axis] + i) * inner) * esz, (size_t)inner * esz);
    return SPD_OK;
}

/* Stacks n same-shaped tensors along a new axis `axis` into out. */
static spd_status stack(spd_tensor *parts, int64_t n, int axis, spd_dtype dt, spd_tensor *out)
{
    if (n == 0) {
        int64_t zero = 0;
        return spd_tensor_alloc(out, dt == SPD_UNDEFINED ? SPD_FLOAT : dt, 1, &zero);
    }
    const spd_tensor *p0 = &parts[0];
    if (axis < 0 || axis > p0->ndim || p0->ndim + 1 > SPD_MAX_DIMS)
        return spd_errorf(SPD_ERR_INVALID, "output axis %d out of range for rank %d", axis, p0->ndim);
    for (int64_t k = 1; k < n; k++)
        if (parts[k].dtype != p0->dtype || !spd_tensor_same_shape(&parts[k], p0))
            return spd_errorf(SPD_ERR_INVALID, "scan output changes shape or dtype between iterations");
    int64_t dims[SPD_MAX_DIMS];
    for (int d = 0, s = 0; d <= p0->ndim; d++) dims[d] = d == axis ? n : p0->dims[s++];
    SPD_TRY(spd_tensor_alloc(out, p0->dtype, p0->ndim + 1, dims));
    size_t esz = spd_dtype_size(p0->dtype);
    int64_t outer = spd_dims_prod(p0->dims, 0, axis), inner = spd_dims_prod(p0->dims, axis, p0->ndim);
    for (int64_t k = 0; k < n; k++)
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)out->data + (size_t)((o * n + k) * inner) * esz,
                   (const char *)parts[k].data + (size_t)(o * inner) * esz, (size_t)inner * esz);
    return SPD_OK;
}

static spd_status op_loop(spd_op_ctx *ctx)
{
    const spd_graph *body;
    SPD_TRY(need_graph(ctx, "body", &body));
    int n_carried = ctx->n_inputs - 2;
    if (n_carried < 0) return spd_errorf(SPD_ERR_INVALID, "Loop needs at least the inputs M and cond");
    int n_scan = body->n_outputs - 1 - n_carried;
    if (body->n_inputs != 2 + n_carried || n_scan < 0 || ctx->n_outputs > n_carried + n_scan)
        return spd_errorf(SPD_ERR_INVALID, "the body has %d inputs and %d outputs for %d loop-carried values",
                          body->n_inputs, body->n_outputs, n_carried);
    for (int k = 0; k < n_carried; k++)
        if (!ctx->in[2 + k]) return spd_errorf(SPD_ERR_UNSUPPORTED, "an omitted loop-carried input");

    int64_t max_trip = -1;
    int cond = 1;
    if (ctx->in[0]) max_trip = spd_tensor_get_i64(ctx->in[0], 0);
    if (ctx->in[1]) SPD_TRY(scalar_bool(ctx->in[1], "cond", &cond));

    spd_status st = SPD_OK;
    int n_body_out = body->n_outputs;
    spd_tensor *state = spd_calloc((size_t)n_carried + 1, sizeof *state);
    spd_tensor *res = spd_calloc((size_t)n_body_out + 1, sizeof *res);
    spd_tensor **scans = spd_calloc((size_t)n_scan + 1, sizeof *scans);
    const spd_tensor **bin = spd_calloc((size_t)body->n_inputs + 1, sizeof *bin);
    int64_t iters = 0, cap = 0;
    spd_tensor iter_t = {0}, cond_t = {0};
    if (!state || !res || !scans || !bin) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    for (int k = 0; k < n_carried; k++)
        if ((st = spd_tensor_copy(&state[k], ctx->in[2 + k])) != SPD_OK) goto done;
    if ((st = spd_tensor_alloc(&iter_t, SPD_INT64, 0, NULL)) != SPD_OK) goto done;
    if ((st = spd_tensor_alloc(&cond_t, SPD_BOOL, 0, NULL)) != SPD_OK) goto done;

    while ((max_trip < 0 || iters < max_trip) && cond) {
        ((int64_t *)iter_t.data)[0] = iters;
        ((uint8_t *)cond_t.data)[0] = (uint8_t)cond;
        bin[0] = &iter_t;
        bin[1] = &cond_t;
        for (int k = 0; k < n_carried; k++) bin[2 + k] = &state[k];
        if ((st = spd_exec_subgraph(ctx->exec, body, bin, body->n_inputs, res, n_body_out)) != SPD_OK) goto done;
        st = scalar_bool(&res[0], "the body's cond output", &cond);
        spd_tensor_release(&res[0]);
        for (int k = 0; k < n_carried; k++) {
            spd_tensor_release(&state[k]);
            state[k] = res[1 + k];
        }
        if (iters == cap) {
            cap = cap ? cap * 2 : 8;
            for (int s = 0; s < n_scan; s++) {
                spd_tensor *g = spd_realloc(scans[s], (size_t)cap * sizeof *g);
                if (!g) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); break; }
                scans[s] = g;
            }
        }
        for (int s = 0; s < n_scan; s++) {
            if (st == SPD_OK) scans[s][iters] = res[1 + n_carried + s];
            else spd_tensor_release(&res[1 + n_carried + s]);
        }
        iters++;
        if (st != SPD_OK) goto done;
    }
    for (int k = 0; k < ctx->n_outputs; k++) {
        if (k < n_carried) {
            ctx->out[k] = state[k];
            memset(&state[k], 0, sizeof state[k]);
        } else {
            int s = k - n_carried;
            st = stack(scans[s], iters, 0, body->outputs[1 + n_carried + s].dtype, &ctx->out[k]);
            if (st != SPD_OK) goto done;
        }
    }
done:
    for (int k = 0; k < n_carried; k++) spd_tensor_release(&state[k]);
    for (int s = 0; s < n_scan; s++) {
        for (int64_t i = 0; scans && scans[s] && i < iters; i++) spd_tensor_release(&scans[s][i]);
        if (scans) spd_free(scans[s]);
    }
    spd_tensor_release(&iter_t);
    spd_tensor_release(&cond_t);
    spd_free(state);
    spd_free(res);
    spd_free(scans);
    spd_free(bin);
    return st;
}

static int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

/* One Scan over states[0..n_state) and scan inputs xs[0..n_scan_in), as
 * opset 9+ defines it; Scan-8 calls it once per batch entry. */
static spd_status scan_run(spd_op_ctx *ctx, const spd_graph *body, const spd_tensor *const *states,
                           const spd_tensor *const *xs, int n_state, int n_scan_in, int64_t seq_len,
                           spd_tensor *outs, int n_outs)
{
    size_t na;
    const int64_t *in_axes = spd_attr_ints(ctx->node, "scan_input_axes", &na);
    size_t nd_in;
    const int64_t *in_dirs = spd_attr_ints(ctx->node, "scan_input_directions", &nd_in);
    size_t no_ax;
    const int64_t *out_axes = spd_attr_ints(ctx->node, "scan_output_axes", &no_ax);
    size_t no_dir;
    const int64_t *out_dirs = spd_attr_ints(ctx->node, "scan_output_directions", &no_dir);
    int n_scan_out = body->n_outputs - n_state;
    spd_status st = SPD_OK;
    spd_tensor *state = spd_calloc((size_t)n_state + 1, sizeof *state);
    spd_tensor *slices = spd_calloc((size_t)n_scan_in + 1, sizeof *slices);
    spd_tensor *res = spd_calloc((size_t)body->n_outputs + 1, sizeof *res);
    spd_tensor *parts = spd_calloc((size_t)(n_scan_out * seq_len) + 1, sizeof *parts);
    const spd_tensor **bin = spd_calloc((size_t)body->n_inputs + 1, sizeof *bin);
    if (!state || !slices || !res || !parts || !bin) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    for (int k = 0; k < n_state; k++)
        if ((st = spd_tensor_copy(&state[k], states[k])) != SPD_OK) goto done;
    for (int64_t t = 0; t < seq_len; t++) {
        for (int j = 0; j < n_scan_in; j++) {
            int ax = norm_axis(j < (int)na ? in_axes[j] : 0, xs[j]->ndim);
            int rev = j < (int)nd_in && in_dirs[j];
            if (ax < 0 || ax >= xs[j]->ndim || xs[j]->dims[ax] != seq_len) {
                st = spd_errorf(SPD_ERR_INVALID, "scan input %d has no axis %d of length %lld", j, ax, (long long)seq_len);
                goto done;
            }
            spd_tensor_release(&slices[j]);
            if ((st = take_slice(xs[j], ax, rev ? seq_len - 1 - t : t, &slices[j])) != SPD_OK) goto done;
        }
        for (int k = 0; k < n_state; k++) bin[k] = &state[k];
        for (int j = 0; j < n_scan_in; j++) bin[n_state + j] = &slices[j];
        if ((st = spd_exec_subgraph(ctx->exec, body, bin, body->n_inputs, res, body->n_outputs)) != SPD_OK) goto done;
        for (int k = 0; k < n_state; k++) {
            spd_tensor_release(&state[k]);
            state[k] = res[k];
        }
        for (int s = 0; s < n_scan_out; s++) parts[s * seq_len + t] = res[n_state + s];
    }
    for (int k = 0; k < n_outs; k++) {
        if (k < n_state) {
            outs[k] = state[k];
            memset(&state[k], 0, sizeof state[k]);
            continue;
        }
        int s = k - n_state;
        spd_tensor *p = &parts[s * seq_len];
        if (s < (int)no_dir && out_dirs[s])
            for (int64_t a = 0, b = seq_len - 1; a < b; a++, b--) {
                spd_tensor tmp = p[a];
                p[a] = p[b];
                p[b] = tmp;
            }
        int rank = seq_len ? p[0].ndim + 1 : 1;
        int ax = norm_axis(s < (int)no_ax ? out_axes[s] : 0, rank);
        if ((st = stack(p, seq_len, ax, body->outputs[n_state + s].dtype, &outs[k])) != SPD_OK) goto done;
    }
done:
    for (int k = 0; state && k < n_state; k++) spd_tensor_release(&state[k]);
    for (int j = 0; slices && j < n_scan_in; j++) spd_tensor_release(&slices[j]);
    for (int64_t i = 0; parts && i < (int64_t)n_scan_out * seq_len; i++) spd_tensor_release(&parts[i]);
    spd_free(state);
    spd_free(slices);
    spd_free(res);
    spd_free(parts);
    spd_free(bin);
    return st;
}

static spd_status op_scan(spd_op_ctx *ctx)
{
    const spd_graph *body;
    SPD_TRY(need_graph(ctx, "body", &body));
    int n_scan_in = (int)spd_attr_int(ctx->node, "num_scan_inputs", -1);
    int first = ctx->opset < 9 ? 1 : 0; /* Scan-8 starts with sequence_lens */
    int n_state = ctx->n_inputs - first - n_scan_in;
    if (n_scan_in < 1 || n_state < 0 || body->n_inputs != n_state + n_scan_in ||
        body->n_outputs < n_state || ctx->n_outputs > body->n_outputs)
        return spd_errorf(SPD_ERR_INVALID, "num_scan_inputs, the node's inputs and the body's inputs disagree");
    const spd_tensor *const *states = ctx->in + first, *const *xs = ctx->in + first + n_state;
    for (int j = 0; j < n_state + n_scan_in; j++)
        if (!states[j]) return spd_errorf(SPD_ERR_INVALID, "input %d is missing", first + j);
    if (ctx->opset >= 9) {
        size_t na;
        const int64_t *axes = spd_attr_ints(ctx->node, "scan_input_axes", &na);
        int ax = norm_axis(na ? axes[0] : 0, xs[0]->ndim);
        if (ax < 0 || ax >= xs[0]->ndim) return spd_errorf(SPD_ERR_INVALID, "scan_input_axes out of range");
        return scan_run(ctx, body, states, xs, n_state, n_scan_in, xs[0]->dims[ax], ctx->out, ctx->n_outputs);
    }
    if (ctx->in[0]) return spd_errorf(SPD_ERR_UNSUPPORTED, "Scan-8 with sequence_lens");
    /* Scan-8: axis 0 of every input is a batch; scan axis 1 per entry. */
    int64_t batch = xs[0]->dims[0], seq = xs[0]->ndim > 1 ? xs[0]->dims[1] : 0;
    spd_status st = SPD_OK;
    int nb = n_state + n_scan_in, no = ctx->n_outputs;
    spd_tensor *bs = spd_calloc((size_t)nb + 1, sizeof *bs);
    spd_tensor *bo = spd_calloc((size_t)(no * batch) + 1, sizeof *bo);
    const spd_tensor **bp = spd_calloc((size_t)nb + 1, sizeof *bp);
    if (!bs || !bo || !bp) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t b = 0; b < batch; b++) {
        for (int j = 0; j < nb; j++) {
            if (states[j]->ndim < 1 || states[j]->dims[0] != batch) {
                st = spd_errorf(SPD_ERR_INVALID, "input %d has no batch axis of %lld", first + j, (long long)batch);
                goto done;
            }
            spd_tensor_release(&bs[j]);
            if ((st = take_slice(states[j], 0, b, &bs[j])) != SPD_OK) goto done;
            bp[j] = &bs[j];
        }
        if ((st = scan_run(ctx, body, bp, bp + n_state, n_state, n_scan_in, seq, bo + b * no, no)) != SPD_OK) goto done;
    }
    for (int k = 0; k < no; k++) {
        spd_tensor *col = spd_calloc((size_t)batch + 1, sizeof *col);
        if (!col) { st = spd_errorf(SPD_ERR_NOMEM, "out of memory"); goto done; }
        for (int64_t b = 0; b < batch; b++) col[b] = bo[b * no + k];
        st = stack(col, batch, 0, SPD_FLOAT, &ctx->out[k]);
        spd_free(col);
        if (st != SPD_OK) goto done;
    }
done:
    for (int j = 0; bs && j < nb; j++) spd_tensor_release(&bs[j]);
    for (int64_t i = 0; bo && i < (int64_t)no * batch; i++) spd_tensor_release(&bo[i]);
    spd_free(bs);
    spd_free(bo);
    spd_free(bp);
    return st;
}

const spd_op_def spd_ops_control[] = {
    {"If", "", 1, 21, op_if},
    {"Loop", "", 1, 21, op_loop},
    {"Scan", "", 8, 21, op_scan},
};
const int spd_ops_control_count = (int)(sizeof spd_ops_control / sizeof spd_ops_control[0]);
