/* The memory plan of a top-level program: one arena for the intermediate
 * values, laid out by their lifetimes so values that are never alive at the
 * same time share bytes, and reused by every call with the same input shapes.
 *
 * The interpreter learns each value's size from a run (kernels compute their
 * output shapes as they run), and after two runs with the same input
 * signature it lays out the arena; from then on a call with that signature
 * allocates nothing for intermediates: each node's outputs are handed to its
 * kernel as arena slots (spd_tensor_alloc takes them, see ir/tensor.h).
 * A value that turns out larger than its slot (data-dependent shapes) is
 * allocated on the heap as before, so the plan is never a correctness
 * question. Graph outputs are not in the arena: the caller owns them. */
#ifndef SPD_RUNTIME_MEMPLAN_H
#define SPD_RUNTIME_MEMPLAN_H

#include <stddef.h>

#include "runtime/program.h"

typedef struct spd_memplan spd_memplan;

spd_memplan *spd_memplan_new(const spd_program *p);
void spd_memplan_free(spd_memplan *mp);

/* Takes the plan for one call (NULL when another thread holds it: that call
 * runs unplanned). `planned` says whether the arena is laid out for these
 * inputs. */
spd_memplan *spd_memplan_acquire(spd_memplan *mp, const spd_tensor *const *inputs, int n_inputs, int *planned);
/* Gives it back after the call; `sizes` (per value id, bytes the kernels
 * allocated; NULL after a failed or planned call) teaches the plan. */
void spd_memplan_release(spd_memplan *mp, const size_t *sizes);

/* The arena slot of value v (NULL when v is not in the arena) and its size. */
void *spd_memplan_slot(const spd_memplan *mp, int v, size_t *cap);
/* After node `node` ran in a call that teaches the plan: outs are its
 * outputs (the plan learns which Concats lay their inputs end to end). */
void spd_memplan_learn(spd_memplan *mp, int node, const spd_tensor *outs);
/* Per-value scratch the interpreter reuses across calls. */
size_t *spd_memplan_sizes(spd_memplan *mp);
spd_tensor *spd_memplan_vals(spd_memplan *mp);

/* Bytes of the current arena (0 before it is laid out). */
size_t spd_memplan_arena_bytes(const spd_memplan *mp);

#endif
