/* Small matching helpers shared by the fusion passes (internal to
 * src/passes). */
#ifndef SPD_PASSES_PATTERN_H
#define SPD_PASSES_PATTERN_H

#include "passes/passes.h"

/* A live node of the default domain with this op_type. */
int spd_pat_is(const spd_node *n, const char *op);
/* A live com.microsoft node with this op_type. */
int spd_pat_is_ms(const spd_node *n, const char *op);
/* A live ai.speedster node with this op_type. */
int spd_pat_is_sp(const spd_node *n, const char *op);
/* A constant: an initializer that is not a graph input, or the tensor of
 * a Constant node's `value` (passes may run before constant folding). */
const spd_tensor *spd_pat_const(const spd_graph *g, const char *name);
/* The value of a constant with one element (any numeric dtype). */
int spd_pat_scalar(const spd_graph *g, const char *name, double *v);
/* |v - want| within a relative tolerance, for constants written with
 * fewer digits than a double has (1.4142135, 0.7978845608). */
int spd_pat_near(double v, double want, double rel);
/* The only node reading `name` when it is read once and is not a graph
 * output; -1 otherwise. */
int spd_pat_sole_consumer(const spd_graph *g, const char *name);
/* For a two-input node reading `name` once: the other input; NULL if the
 * node does not read it or reads it twice. */
const char *spd_pat_other_input(const spd_node *n, const char *name);
/* The producer of `name` if it is a live default-domain `op`; -1 otherwise. */
int spd_pat_producer_is(const spd_graph *g, const char *name, const char *op);
/* A constant float32 tensor (NULL otherwise). */
const spd_tensor *spd_pat_float_const(const spd_graph *g, const char *name);
/* Adds a float32 initializer named after base; *name_out is to be
 * spd_free'd. */
spd_status spd_pat_add_floats(spd_graph *g, const char *base, int ndim, const int64_t *dims, const float *data,
                              char **name_out);
/* `name` holds float32: by the shape table or a declaration, else by a
 * float32 constant or value read by the type-preserving operators (Conv,
 * MatMul, Add, Reshape, ...) that produce it. */
int spd_pat_is_float(const spd_shape_table *tab, const spd_graph *g, const char *name);
/* An int64 initializer [n] holding v, named after base. */
spd_status spd_pat_add_i64s(spd_graph *g, const char *base, int n, const int64_t *v, char **name_out);
/* The values of a constant integer tensor with at most max elements into
 * v, their count in *n; 0 when it is not one. */
int spd_pat_ints(const spd_graph *g, const char *name, int64_t *v, int max, int *n);
/* A Conv or com.microsoft FusedConv with a constant float32 W of rank 3 or
 * more and a constant float32 B of W's output channels or none: its W
 * (NULL otherwise). */
const spd_tensor *spd_pat_conv_weight(const spd_graph *g, const spd_node *n);
/* The rank of a value when known (shape table, initializer, declaration). */
int spd_pat_rank(const spd_shape_table *tab, const spd_graph *g, const char *name);

#endif
