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

typedef struct spd_op_def {
    const char *name;
    const char *domain;     /* "" for ai.onnx, "com.microsoft" ... */
    int since_version;      /* oldest opset this kernel implements */
    int until_version;      /* newest opset it implements */
    spd_kernel_fn run;
} spd_op_def;

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
