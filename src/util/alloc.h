/* Every allocation goes through these, so memory is counted and tests can
 * make an allocation fail on purpose. Blocks are 64-byte aligned. */
#ifndef SPD_UTIL_ALLOC_H
#define SPD_UTIL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *spd_malloc(size_t n);
void *spd_calloc(size_t count, size_t size);
void *spd_realloc(void *p, size_t n);
void spd_free(void *p);
char *spd_strdup(const char *s);
char *spd_strndup(const char *s, size_t n);

/* Publishes a block built on first use (packed weights): installs mine in
 * *slot unless another thread did first, and then frees mine. Returns the
 * block that stays. */
float *spd_install_once(_Atomic(float *) *slot, float *mine);

/* Bytes currently allocated and the peak since the last reset. */
size_t spd_alloc_current(void);
size_t spd_alloc_peak(void);
void spd_alloc_reset_peak(void);
/* Allocations made so far (a planned run should add only its outputs). */
long spd_alloc_calls(void);
/* Make the n-th allocation from now fail (0 disables); for tests. */
void spd_alloc_fail_after(long n);

#endif
