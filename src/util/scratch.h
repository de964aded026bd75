/* Per-thread scratch space that outlives a call: the kernels' temporary
 * buffers (packed GEMM panels, padded convolution sources, Winograd tiles,
 * recurrent state) come from here, so a planned run allocates nothing once
 * its first call has sized the buffers. */
#ifndef SPD_UTIL_SCRATCH_H
#define SPD_UTIL_SCRATCH_H

#include <stddef.h>

/* One buffer per slot and thread. Two users hold the same slot on one
 * thread never at once: each slot belongs to one layer of the kernel stack
 * (a convolution's source copy is read by the GEMM tasks packing from it,
 * which use their own slot). */
typedef enum spd_scratch_slot {
    SPD_SCRATCH_GEMM,      /* packed A and B panels of one GEMM block */
    SPD_SCRATCH_CONV_SRC,  /* a convolution's padded or phase-split source */
    SPD_SCRATCH_CONV_IDX,  /* its row offsets */
    SPD_SCRATCH_CONV_OUT,  /* a transposed convolution product before it is turned upright */
    SPD_SCRATCH_CONV_TASK, /* per-task buffers of a convolution kernel (Winograd tiles) */
    SPD_SCRATCH_OP,        /* an operator's own temporaries (recurrent state, expanded params) */
    SPD_SCRATCH_COUNT
} spd_scratch_slot;

/* A 64-byte aligned buffer of at least `bytes` for this thread, grown when
 * needed; its contents are not kept across calls that grow it. NULL when
 * memory runs out (the previous buffer is then still held). Valid until
 * the next spd_scratch() of the same slot on this thread. */
void *spd_scratch(spd_scratch_slot slot, size_t bytes);

/* Frees the calling thread's buffers (worker threads do so when they exit;
 * the thread that exits the process does so at exit). */
void spd_scratch_release(void);

/* Bytes held as scratch by all threads together. */
size_t spd_scratch_held(void);

#endif
