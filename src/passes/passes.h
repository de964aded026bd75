/* Graph rewrites that any backend can use: constant folding, dead code,
 * BatchNormalization folding and operator fusions (Conv/Gemm + activation,
 * LayerNormalization, GELU, SiLU, MatMul + bias). Every pass edits the
 * model in place and keeps its outputs equal to the original's within fp32
 * rounding; run them on a clone (spd_model_clone) when the original must
 * stay. A pass that finds nothing to do returns SPD_OK and leaves the model
 * as it was.
 *
 * Fused operators live in the "com.microsoft" domain under ONNX Runtime's
 * names and attributes (FusedConv, FusedGemm, LayerNormalization, Gelu,
 * FastGelu, QuickGelu), so an optimized model stays loadable by ONNX Runtime
 * (except FusedConv/FusedGemm with a Gelu or QuickGelu activation, which
 * only speedster runs); their reference kernels are in src/ops/fused.c.
 * Two are speedster's own: ai.speedster PermutedMatMul (src/ops/matmul_perm.c),
 * a MatMul with its operands' and result's Transposes folded in, for which
 * ONNX Runtime has no equivalent (its FusedMatMul swaps the last two dims
 * only, and moves the first past the batch dims), and ai.speedster NhwcConv
 * (src/ops/conv_nhwc.c), FusedConv on channels-last tensors (ONNX Runtime's
 * com.microsoft NhwcConv takes no activation or residual), with
 * ai.speedster NhwcDwPwConv (src/ops/conv_nhwc_dwpw.c) for a depthwise one
 * and the 1x1 one after it. */
#ifndef SPD_PASSES_PASSES_H
#define SPD_PASSES_PASSES_H

#include "ir/graph.h"
#include "ir/tensor.h"

/* What the passes changed, for the report. Counters add up over calls. */
typedef struct spd_pass_report {
    int nodes_before, nodes_after;               /* set by spd_optimize_graph */
    int initializers_before, initializers_after; /* set by spd_optimize_graph */
    int folded_nodes;        /* nodes evaluated into initializers */
    int folded_shapes;       /* Shape/Size nodes replaced (fixed input shapes) */
    int fixed_inputs;        /* graph inputs whose dims were fixed to the samples' */
    int removed_dead;        /* nodes that reached no output */
    int removed_identity;    /* Identity, inference Dropout and zero Pad nodes bypassed */
    int removed_initializers;
    int folded_batchnorm;    /* BatchNormalization folded into Conv/Gemm/MatMul */
    int matmul_to_gemm;      /* MatMul + Add turned into Gemm */
    int fused_conv;          /* FusedConv created */
    int fused_residual;      /* Conv + Add(residual) -> FusedConv with input Z */
    int fused_gemm;          /* FusedGemm created */
    int fused_layernorm;     /* LayerNormalization created */
    int fused_gelu;          /* Gelu created */
    int fused_fastgelu;      /* FastGelu created */
    int fused_quickgelu;     /* x * Sigmoid(x) turned into QuickGelu */
    int fused_hardswish;     /* x * HardSigmoid(x) turned into HardSwish */
    int folded_pads;         /* zero-fill Pads taken into the Conv/AveragePool reading them */
    int batchnorm_affine;    /* BatchNormalization left alone -> ChannelAffine */
    int fused_affine;        /* activations joined to a ChannelAffine */
    int removed_reshapes;    /* Reshape pairs merged or cancelled, no-op Reshapes */
    int folded_scales;       /* Div/Mul by a constant folded into a Gemm's alpha */
    int folded_transposes;   /* Transposes folded into PermutedMatMul */
    int nhwc_convs;          /* convolutions run channels-last (NhwcConv) */
    int fused_dwpw;          /* depthwise + 1x1 NhwcConv pairs -> NhwcDwPwConv */
    int fused_conv_concat;   /* Concats of convolutions of one X, in a batch -> ConvConcat */
} spd_pass_report;

/* The fusions in a report, for a one-number summary. */
int spd_pass_report_fused(const spd_pass_report *rep);

/* ------------------------------------------------------------ graph editing
 * (graph_edit.c). Removed nodes are cleared in place (op_type == NULL) and
 * dropped by spd_graph_compact; passes skip cleared nodes. */

/* A deep copy: graph, strings, attributes, subgraphs and initializer data in
 * owned memory, opsets and metadata; no mappings, runtime = NULL. Free it
 * with spd_onnx_model_free. */
spd_status spd_model_clone(const spd_model *m, spd_model **out);
spd_status spd_graph_clone(const spd_graph *g, spd_graph **out);
spd_status spd_attr_copy(spd_attr *dst, const spd_attr *src);

/* Appends a node (strings copied; NULL or "" name/domain allowed) and
 * returns its index in *idx (may be NULL). The node array may move. */
spd_status spd_graph_add_node(spd_graph *g, const char *op_type, const char *domain, const char *name,
                              int n_in, const char *const *inputs, int n_out, const char *const *outputs,
                              int *idx);
/* Replaces node i, in place, by a new node with the same name and no
 * attributes (inputs/outputs may point into the old node's strings). */
spd_status spd_graph_replace_node(spd_graph *g, int i, const char *op_type, const char *domain, int n_in,
                                  const char *const *inputs, int n_out, const char *const *outputs);
/* Clears node i (it stays in the array as a hole until spd_graph_compact). */
void spd_graph_remove_node(spd_graph *g, int i);
/* Drops cleared nodes, keeping the order of the others. */
void spd_graph_compact(spd_graph *g);
/* Reorders nodes topologically (a valid order is kept as it is). A cycle is
 * left for the program builder to report. */
spd_status spd_graph_toposort(spd_graph *g);

/* Node attributes (an attribute of the same name is replaced). */
spd_status spd_node_set_int(spd_node *n, const char *name, int64_t v);
spd_status spd_node_set_float(spd_node *n, const char *name, float v);
spd_status spd_node_set_string(spd_node *n, const char *name, const char *v);
spd_status spd_node_set_floats(spd_node *n, const char *name, const float *v, size_t count);
spd_status spd_node_set_ints(spd_node *n, const char *name, const int64_t *v, size_t count);
/* Deep-copies the attributes of src into dst (replacing same-named ones). */
spd_status spd_node_copy_attrs(spd_node *dst, const spd_node *src);
/* The same, each name written as prefix + src's name. */
spd_status spd_node_copy_attrs_prefixed(spd_node *dst, const spd_node *src, const char *prefix);
spd_status spd_node_set_input(spd_node *n, int k, const char *name);
spd_status spd_node_set_output(spd_node *n, int k, const char *name);
/* Appends an input (to add an optional input such as Conv's bias). */
spd_status spd_node_add_input(spd_node *n, const char *name);

/* Initializers. add takes over t (t is cleared; its data is copied first
 * when t does not own it). Index lookups return -1 when absent. */
spd_status spd_graph_add_initializer(spd_graph *g, const char *name, spd_tensor *t);
int spd_graph_find_initializer(const spd_graph *g, const char *name);
void spd_graph_remove_initializer(spd_graph *g, int i);
/* The tensor of a constant value: an initializer that is not also a graph
 * input (those are defaults the user may override). NULL otherwise. */
const spd_tensor *spd_graph_constant(const spd_graph *g, const char *name);

/* Values. */
int spd_graph_producer(const spd_graph *g, const char *name);     /* node index or -1 */
int spd_graph_input_index(const spd_graph *g, const char *name);  /* -1 when not an input */
int spd_graph_output_index(const spd_graph *g, const char *name); /* -1 when not an output */
/* The nodes that read `name` (each node once, in node order) into idx[0..max)
 * and their count; a node whose subgraphs capture the value counts too. */
int spd_graph_consumers(const spd_graph *g, const char *name, int *idx, int max);
/* Uses of `name`: consuming nodes plus 1 if it is a graph output. */
int spd_graph_use_count(const spd_graph *g, const char *name);
/* Renames every read of old_name (node inputs, subgraph captures that are
 * not shadowed) to new_name. Graph outputs are not renamed. */
spd_status spd_graph_replace_uses(spd_graph *g, const char *old_name, const char *new_name);
/* A value name unused in the graph, "<base>_<n>"; to be spd_free'd. */
char *spd_graph_unique_name(const spd_graph *g, const char *base);

/* Adds an opset import for `domain` if the model has none. */
spd_status spd_model_require_opset(spd_model *m, const char *domain, int64_t version);

/* Value shapes learned from a sample run, or declared in the model. */
typedef struct spd_shape_entry {
    char *name;
    spd_dtype dtype;
    int ndim;
    int64_t dims[SPD_MAX_DIMS];
} spd_shape_entry;

typedef struct spd_shape_table {
    int n, cap;
    spd_shape_entry *e;
} spd_shape_table;

/* Runs the model once on the samples (one tensor per user input, in order)
 * and records every top-level value's dtype and shape. */
spd_status spd_shapes_from_run(const spd_model *m, const spd_tensor *samples, int n_samples,
                               spd_shape_table *out);
/* The shape of `name`: from the table (may be NULL), else an initializer,
 * else a declaration with a fixed rank (dims may be -1). NULL when unknown. */
const spd_shape_entry *spd_shape_lookup(const spd_shape_table *tab, const spd_graph *g, const char *name,
                                        spd_shape_entry *tmp);
void spd_shapes_free(spd_shape_table *t);

/* ------------------------------------------------------------------ passes
 * Each returns SPD_OK when it ran (changed or not), an error only for
 * out-of-memory or a model it cannot read. */

/* Evaluates nodes whose inputs are all constants into initializers. With
 * samples (one per user input, in the model's input order), input shapes are
 * fixed to theirs: Shape/Size nodes become constants, what they feed is
 * folded, and the graph inputs' declared dims are set to the samples'. */
spd_status spd_pass_fold_constants(spd_model *m, const spd_tensor *samples, int n_samples);
/* Removes nodes that reach no graph output, unused initializers, Identity
 * and inference Dropout nodes, and value_infos of values that are gone. */
spd_status spd_pass_remove_dead(spd_model *m);
/* Folds inference BatchNormalization into a preceding Conv, Gemm or
 * MatMul(+Add) with constant weights. */
spd_status spd_pass_fold_batchnorm(spd_model *m);
/* MatMul + Add -> Gemm (see spd_pass_fuse_matmul_ex), Conv + residual Add
 * -> FusedConv with input Z (shapes known equal: needs the shape table),
 * Conv/FusedConv + activation -> FusedConv, Gemm + activation -> FusedGemm;
 * the activations include com.microsoft Gelu and QuickGelu. */
spd_status spd_pass_fuse_activation(spd_model *m);
/* x * Sigmoid(x) (SiLU / Swish) -> com.microsoft QuickGelu with alpha 1,
 * x * HardSigmoid(x) -> ai.speedster HardSwish. */
spd_status spd_pass_fuse_silu(spd_model *m);
/* The primitive LayerNorm pattern -> com.microsoft LayerNormalization. */
spd_status spd_pass_fuse_layernorm(spd_model *m);
/* Erf GELU -> Gelu, tanh GELU -> FastGelu (com.microsoft). */
spd_status spd_pass_fuse_gelu(spd_model *m);

/* The same passes with a report to add counts to (may be NULL) and, for the
 * shape-dependent checks, a shape table (may be NULL). */
spd_status spd_pass_fold_constants_ex(spd_model *m, const spd_tensor *samples, int n_samples,
                                      spd_pass_report *rep);
spd_status spd_pass_remove_dead_ex(spd_model *m, spd_pass_report *rep);
spd_status spd_pass_fold_batchnorm_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);
spd_status spd_pass_fuse_activation_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);
spd_status spd_pass_fuse_layernorm_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);
spd_status spd_pass_fuse_gelu_ex(spd_model *m, spd_pass_report *rep);
spd_status spd_pass_fuse_silu_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);
/* A constant-zero Pad of the spatial axes read only by a Conv's or an
 * AveragePool's X -> its pads (the pool then counts them). */
spd_status spd_pass_fold_pad_ex(spd_model *m, spd_pass_report *rep);
/* Transposes read only by a MatMul, or reading only its result, become the
 * perms of an ai.speedster PermutedMatMul (the attention head split and
 * merge); needs the sample run's shapes (NULL: nothing to do). */
spd_status spd_pass_fold_transpose_matmul_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);
/* MatMul(A, W) + row-vector bias with W a constant [K, N] -> Gemm; an A of
 * rank > 2 whose shape the table knows goes through Reshape(A, [-1, K]) and
 * the result back to A's leading dims. Then, around those Gemms: a Reshape
 * between a Gemm and an elementwise activation moves after the activation,
 * one before Slices of the last dim moves after them, Transposes that only
 * move size-1 dims become Reshapes, Reshape pairs merge (and cancel when
 * they restore the shape), and a Div/Mul by a scalar constant after
 * MatMul(P, Q), where P or Q comes from a Gemm through Reshape/Transpose
 * only, goes into that Gemm's alpha and beta. Called by
 * spd_pass_fuse_activation_ex before it fuses activations. */
spd_status spd_pass_fuse_matmul_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);

/* Conv/FusedConv in regions with a depthwise convolution -> ai.speedster
 * NhwcConv, channels-last, with Transposes where a region begins and ends
 * (passes/layout_nhwc.c); needs the sample run's shapes (NULL: nothing to
 * do). */
spd_status spd_pass_layout_nhwc_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);
/* A depthwise NhwcConv read only by a 1x1 NhwcConv -> one ai.speedster
 * NhwcDwPwConv (passes/fuse_dwpw.c). */
spd_status spd_pass_fuse_dwpw_ex(spd_model *m, spd_pass_report *rep);
/* A channel Concat of convolutions that read one X, at batch > 1 -> one
 * ai.speedster ConvConcat (passes/fuse_conv_concat.c); needs the sample
 * run's shapes (NULL: nothing to do). */
spd_status spd_pass_fuse_conv_concat_ex(spd_model *m, const spd_shape_table *shapes, spd_pass_report *rep);

/* All of them in order: fold constants, dead code, BatchNormalization
 * folding, LayerNorm, GELU, SiLU, activation fusion, Transpose folding,
 * channels-last regions, depthwise + 1x1 pairs, Concats of convolutions
 * in a batch, dead code; then nodes are put
 * in topological order. rep (may be NULL) is zeroed and filled. */
spd_status spd_optimize_graph(spd_model *m, const spd_tensor *samples, int n_samples, spd_pass_report *rep);

/* One line "12 -> 7 nodes: 3 folded, 2 FusedConv, ..." into buf. */
const char *spd_pass_report_describe(const spd_pass_report *rep, char *buf, size_t n);

#endif
