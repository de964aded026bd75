/* Helpers shared by the data-movement kernels (shape.c, index.c, resize.c). */
#ifndef SPD_OPS_OPS_UTIL_H
#define SPD_OPS_OPS_UTIL_H

#include <stdbool.h>

#include "ir/op.h"

/* Input i of the node, NULL when omitted or beyond the node's inputs. */
const spd_tensor *spd_op_in(const spd_op_ctx *ctx, int i);
/* Whether the node names output k (an omitted optional output is "" and
 * need not be computed). */
bool spd_op_out_named(const spd_op_ctx *ctx, int k);
/* The same, failing with a message when it is missing. */
spd_status spd_op_need(const spd_op_ctx *ctx, int i, const spd_tensor **t);
/* Fails for dtypes without a fixed element size (strings). */
spd_status spd_check_fixed_size(const spd_tensor *t);
/* Maps a possibly negative axis into [0, rank), or fails naming it. */
spd_status spd_norm_axis(int64_t axis, int rank, int *out);
/* Reads a 1-D int32/int64 tensor of any length into a new spd_malloc'd array. */
spd_status spd_read_i64s(const spd_tensor *t, int64_t **vals, int64_t *n);

/* Views may have more axes than tensors (DepthToSpace splits axes). */
#define SPD_VIEW_MAX_DIMS (2 * SPD_MAX_DIMS + 2)
/* Writes the nd-dimensional view of src with shape dims and element strides
 * st (zero for broadcast axes, negative for reversed ones) contiguously into
 * dst. Transpose, Expand, Tile, Slice and the depth/space shuffles are all
 * such views. Safe for unaligned (memory-mapped) data. */
void spd_strided_copy(void *dst, const void *src, int nd, const int64_t *dims, const int64_t *st, size_t esz);

#endif
