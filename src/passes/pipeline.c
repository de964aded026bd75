/* The pass pipeline the optimizer runs on a candidate graph. */
#include <stdio.h>
#include <string.h>

#include "passes/passes.h"
#include "util/status.h"

static int live_nodes(const spd_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].op_type != NULL;
    return n;
}

spd_status spd_optimize_graph(spd_model *m, const spd_tensor *samples, int n_samples, spd_pass_report *rep)
{
    spd_pass_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!m->graph) return spd_errorf(SPD_ERR_INVALID, "the model has no graph");
    spd_graph *g = m->graph;
    rep->nodes_before = live_nodes(g);
    rep->initializers_before = g->n_initializers;

    SPD_TRY(spd_pass_fold_constants_ex(m, samples, n_samples, rep));
    SPD_TRY(spd_pass_remove_dead_ex(m, rep));

    /* Shapes from a sample run let the fusions check what declarations
     * leave open (ranks for MatMul, the normalized size for LayerNorm). */
    spd_shape_table shapes = {0, 0, NULL};
    int have_shapes = 0;
    if (samples) {
        SPD_TRY(spd_shapes_from_run(m, samples, n_samples, &shapes));
        have_shapes = 1;
    }
    const spd_shape_table *tab = have_shapes ? &shapes : NULL;
    spd_status st = spd_pass_fold_pad_ex(m, rep);
    if (st == SPD_OK) st = spd_pass_fold_batchnorm_ex(m, tab, rep);
    if (st == SPD_OK) st = spd_pass_fuse_layernorm_ex(m, tab, rep);
    if (st == SPD_OK) st = spd_pass_fuse_gelu_ex(m, rep);
    if (st == SPD_OK) st = spd_pass_fuse_silu_ex(m, tab, rep);
    if (st == SPD_OK) st = spd_pass_fuse_activation_ex(m, tab, rep);
    if (st == SPD_OK) st = spd_pass_fold_transpose_matmul_ex(m, tab, rep);
    if (st == SPD_OK) st = spd_pass_layout_nhwc_ex(m, tab, rep);
    if (st == SPD_OK) st = spd_pass_fuse_dwpw_ex(m, rep);
    if (st == SPD_OK) st = spd_pass_fuse_conv_concat_ex(m, tab, rep);
    if (have_shapes) spd_shapes_free(&shapes);
    SPD_TRY(st);

    SPD_TRY(spd_pass_remove_dead_ex(m, rep));
    SPD_TRY(spd_graph_toposort(m->graph));
    rep->nodes_after = live_nodes(m->graph);
    rep->initializers_after = m->graph->n_initializers;
    return SPD_OK;
}

int spd_pass_report_fused(const spd_pass_report *r)
{
    return r->matmul_to_gemm + r->fused_conv + r->fused_residual + r->fused_gemm + r->fused_layernorm + r->fused_gelu +
           r->fused_fastgelu + r->fused_quickgelu + r->fused_hardswish + r->folded_pads + r->batchnorm_affine + r->fused_affine + r->folded_scales + r->folded_transposes + r->fused_dwpw +
           r->fused_conv_concat;
}

const char *spd_pass_report_describe(const spd_pass_report *r, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%d -> %d nodes", r->nodes_before, r->nodes_after);
    const struct { int v; const char *what; } items[] = {
        {r->folded_nodes, "folded"},
        {r->folded_shapes, "shapes fixed"},
        {r->fixed_inputs, "inputs fixed to the sample shapes"},
        {r->removed_identity, "Identity/Dropout/zero Pad removed"},
        {r->removed_dead, "dead"},
        {r->removed_initializers, "unused initializers"},
        {r->folded_batchnorm, "BatchNormalization folded"},
        {r->matmul_to_gemm, "MatMul+Add -> Gemm"},
        {r->fused_conv, "FusedConv"},
        {r->fused_residual, "Conv+Add -> FusedConv"},
        {r->fused_gemm, "FusedGemm"},
        {r->fused_layernorm, "LayerNormalization"},
        {r->fused_gelu, "Gelu"},
        {r->fused_fastgelu, "FastGelu"},
        {r->fused_quickgelu, "SiLU -> QuickGelu"},
        {r->fused_hardswish, "x HardSigmoid(x) -> HardSwish"},
        {r->folded_pads, "Pads folded into Conv/AveragePool"},
        {r->batchnorm_affine, "BatchNormalization -> ChannelAffine"},
        {r->fused_affine, "activations into ChannelAffine"},
        {r->removed_reshapes, "Reshapes merged"},
        {r->folded_scales, "scales folded into Gemm"},
        {r->folded_transposes, "Transposes folded into PermutedMatMul"},
        {r->nhwc_convs, "convolutions channels-last"},
        {r->fused_dwpw, "depthwise + 1x1 -> NhwcDwPwConv"},
        {r->fused_conv_concat, "Concats of convolutions -> ConvConcat"},
    };
    int first = 1;
    for (size_t i = 0; i < sizeof items / sizeof items[0] && k < n; i++) {
        if (!items[i].v) continue;
        k += (size_t)snprintf(buf + k, n - k, "%s%d %s", first ? ": " : ", ", items[i].v, items[i].what);
        first = 0;
    }
    return buf;
}
