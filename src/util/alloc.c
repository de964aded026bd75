#include "util/alloc.h"
#include "util/block_cache.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* A header before each block keeps its size so frees can be counted, and
 * the bytes it has room for (more when it came from the block cache); it
 * is 64 bytes so the user pointer keeps the block's cache-line alignment. */
#define HDR 64

static atomic_size_t g_current, g_peak;
static atomic_long g_calls;
static atomic_long g_fail_countdown;

static void count(size_t add, size_t sub)
{
    size_t now = atomic_fetch_add(&g_current, add) + add;
    atomic_fetch_sub(&g_current, sub);
    size_t peak = atomic_load(&g_peak);
    while (now > peak && !atomic_compare_exchange_weak(&g_peak, &peak, now)) {
    }
}

static int should_fail(void)
{
    long c = atomic_load(&g_fail_countdown);
    if (c <= 0) return 0;
    return atomic_fetch_sub(&g_fail_countdown, 1) == 1;
}

/* Blocks from this size on (packed weights, activation arenas, scratch)
 * ask for 2 MiB pages where the kernel gives them only on request
 * (transparent_hugepage=madvise): streaming a few MB of weights through
 * 4 KiB pages costs a TLB miss every 1024 floats (a batch-1 classifier's
 * weight read ran 15-20% faster on huge pages). */
#define HUGE_FROM ((size_t)4 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)

static void advise_huge(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    const uintptr_t hi = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#else
    (void)p, (void)n;
#endif
}

void *spd_malloc(size_t n)
{
    atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
    if (should_fail() || n > SIZE_MAX - HDR) return NULL;
    size_t cap = n;
    void *p = n >= SPD_BLOCK_CACHE_MIN ? spd_block_cache_take(n, &cap) : NULL;
    if (!p) {
        if (posix_memalign(&p, HDR, n + HDR) != 0) return NULL;
        if (n >= HUGE_FROM) advise_huge(p, n + HDR);
    }
    ((size_t *)p)[0] = n;
    ((size_t *)p)[1] = cap;
    count(n, 0);
    return (char *)p + HDR;
}

void *spd_calloc(size_t count_, size_t size)
{
    if (size && count_ > SIZE_MAX / size) return NULL;
    void *p = spd_malloc(count_ * size);
    if (p) memset(p, 0, count_ * size);
    return p;
}

float *spd_install_once(_Atomic(float *) *slot, float *mine)
{
    float *expected = NULL;
    if (atomic_compare_exchange_strong(slot, &expected, mine)) return mine;
    spd_free(mine);
    return expected;
}

void spd_free(void *p)
{
    if (!p) return;
    char *base = (char *)p - HDR;
    count(0, ((size_t *)base)[0]);
    if (!spd_block_cache_put(base, ((size_t *)base)[1])) free(base);
}

void *spd_realloc(void *p, size_t n)
{
    if (!p) return spd_malloc(n);
    size_t old = *(size_t *)((char *)p - HDR);
    void *q = spd_malloc(n);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    spd_free(p);
    return q;
}

char *spd_strndup(const char *s, size_t n)
{
    char *d = spd_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *spd_strdup(const char *s) { return spd_strndup(s, strlen(s)); }

size_t spd_alloc_current(void) { return atomic_load(&g_current); }
long spd_alloc_calls(void) { return atomic_load(&g_calls); }
size_t spd_alloc_peak(void) { return atomic_load(&g_peak); }
void spd_alloc_reset_peak(void) { atomic_store(&g_peak, atomic_load(&g_current)); }
void spd_alloc_fail_after(long n) { atomic_store(&g_fail_countdown, n); }
