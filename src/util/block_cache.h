/* A few large freed blocks kept for the next allocation of about their
 * size (util/alloc.c's). A model's outputs are allocated on every call and
 * released by the caller: glibc gave a freed top-of-heap block of a few MB
 * back to the kernel (brk) and the next call faulted it in again page by
 * page. */
#ifndef SPD_UTIL_BLOCK_CACHE_H
#define SPD_UTIL_BLOCK_CACHE_H

#include <stdbool.h>
#include <stddef.h>

/* Blocks of at least this many bytes are kept. */
#define SPD_BLOCK_CACHE_MIN ((size_t)128 << 10)

/* A kept block of at least n bytes and not much more, removed from the
 * cache (its capacity in *cap); NULL when none fits. */
void *spd_block_cache_take(size_t n, size_t *cap);
/* Keeps a block of cap bytes; false when the cache is full or closed (the
 * caller then frees it). */
bool spd_block_cache_put(void *block, size_t cap);

#endif
