/* The operator registry: one row per ONNX operator (name, domain, opset
 * range, reference kernel). Each family file in src/ops/ exports its rows as
 *     const spd_op_def spd_ops_<family>[];  const int spd_ops_<family>_count;
 * and src/ir/registry.c lists the families. */
#ifndef SPD_IR_OP_H
#define SPD_IR_OP_H

#include "ir/graph.h"
#include "ir/tensor.h"

typedef struct spd_exec spd_exec; /* interpreter state, for subgraphs */

/* What a kernel sees. Inputs omitted in the model (empty names, or fewer
 * inputs than the operator allows) are NULL; n_inputs is the node's count.
 * Outputs start zeroed; the kernel sets their dtype and shape with
 * spd_tensor_alloc() and fills them. Outputs the node omits are still passed
 * (with empty names ignored by the caller), so a kernel may always write
 * out[k] for k < n_outputs. */
typedef struct spd_op_ctx {
    const spd_node *node;
    int64_t opset;          /* the model's opset for the node's domain */
    int n_inputs;
    const spd_tensor *const *in;
    int n_outputs;
    spd_tensor *out;
    spd_exec *exec;         /* for If/Loop/Scan: run a subgraph */
    void *state;            /* a backend kernel's per-node state (NULL for reference kernels) */
} spd_op_ctx;

typedef spd_status (*spd_kernel_fn)(spd_op_ctx *ctx);

/* Optional, run once when a program is built, for a node with at least one
 * initializer input: consts[k] is the initializer behind input k, or NULL
 * when that input is not a constant. It may put per-node state (packed
 * weights, say) in *state, freed with *state_free; the kernel then gets it
 * as ctx->state. Declining (an unsupported case, non-constant weights, no
 * memory) leaves *state NULL and returns SPD_OK: the kernel must work
 * without state, and must check that a state it gets is still usable. */
typedef spd_status (*spd_prepare_fn)(const spd_node *node, int64_t opset, int n_in, const spd_tensor *const *consts,
                                     void **state, void (**state_free)(void *));

typedef struct spd_op_def {
    const char *name;
    const char *domain;     /* "" for ai.onnx, "com.microsoft" ... */
    int since_version;      /* oldest opset this kernel implements */
    int until_version;      /* newest opset it implements */
    spd_kernel_fn run;
    spd_prepare_fn prepare; /* optional; rows may leave it out */
} spd_op_def;
/* Registry rows are positional {name, domain, since, until, run}; leaving
 * the optional trailing fields out is intended, not a mistake to warn of. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"


/* The kernel for (domain, op_type) at `opset`; NULL with a message saying
 * whether the operator is unknown or only its opset is out of range. */
const spd_op_def *spd_op_find(const char *domain, const char *op_type, int64_t opset);
/* Every registered row, for `speedster info` and the tests. */
int spd_op_count(void);
const spd_op_def *spd_op_at(int i);

/* Kernels report errors with spd_errorf(); the interpreter prefixes the
 * node's name and operator, so a message need only say what is wrong
 * ("kernel_shape has 3 values for a 2-D input"). Use SPD_ERR_UNSUPPORTED for
 * a valid model this kernel cannot run (a dtype or attribute value it lacks),
 * SPD_ERR_INVALID for a model that breaks the operator's spec. */

#endif
