#include "util/block_cache.h"

#include <pthread.h>
#include <stdlib.h>

/* At most this many blocks and bytes: a model's outputs of one call or two
 * (a decoder step's key and value caches, a detector's or a segmenter's
 * maps), not a second heap. */
#define SLOTS 8
#define MAX_BYTES ((size_t)64 << 20)

/* Without it, a GPT-style decode step whose key and value outputs are 1.6
 * MB each ran 5.4 ms a call at 1 thread, 4.1-4.4 ms with glibc told not to
 * trim (ORT's: 4.1). Under AddressSanitizer blocks are freed at once, so a
 * use after free stays visible. */
#if defined(__SANITIZE_ADDRESS__)
#define CACHE_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_ON 0
#endif
#endif
#ifndef CACHE_ON
#define CACHE_ON 1
#endif

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_block[SLOTS];
static size_t g_cap[SLOTS];
static unsigned long g_when[SLOTS], g_clock; /* when each was kept: the oldest goes first */
static size_t g_bytes;
static int g_closed; /* at exit: blocks freed later are freed at once */
static int g_hooked;

static void drain_at_exit(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < SLOTS; i++) {
        free(g_block[i]);
        g_block[i] = NULL;
        g_cap[i] = 0;
    }
    g_bytes = 0;
    g_closed = 1;
    pthread_mutex_unlock(&g_lock);
}

void *spd_block_cache_take(size_t n, size_t *cap)
{
    if (!CACHE_ON || n < SPD_BLOCK_CACHE_MIN) return NULL;
    void *p = NULL;
    pthread_mutex_lock(&g_lock);
    int best = -1;
    for (int i = 0; i < SLOTS; i++) /* the smallest that fits, wasting at most a quarter */
        if (g_block[i] && g_cap[i] >= n && g_cap[i] - n <= n / 4 && (best < 0 || g_cap[i] < g_cap[best])) best = i;
    if (best >= 0) {
        p = g_block[best];
        *cap = g_cap[best];
        g_bytes -= g_cap[best];
        g_block[best] = NULL;
        g_cap[best] = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return p;
}

/* Keeps the block in place of the oldest ones while it does not fit: the
 * sizes of the calls now running are the ones worth keeping (a model fed
 * other shapes leaves no stale blocks behind). */
bool spd_block_cache_put(void *block, size_t cap)
{
    if (!CACHE_ON || cap < SPD_BLOCK_CACHE_MIN || cap > MAX_BYTES) return false;
    pthread_mutex_lock(&g_lock);
    if (!g_hooked) {
        g_hooked = 1;
        if (atexit(drain_at_exit) != 0) g_closed = 1; /* no clean-up at exit: keep nothing */
    }
    if (g_closed) {
        pthread_mutex_unlock(&g_lock);
        return false;
    }
    for (;;) {
        int empty = -1, oldest = -1;
        for (int i = 0; i < SLOTS; i++) {
            if (!g_block[i]) empty = i;
            else if (oldest < 0 || g_when[i] < g_when[oldest]) oldest = i;
        }
        if (empty >= 0 && g_bytes + cap <= MAX_BYTES) {
            g_block[empty] = block;
            g_cap[empty] = cap;
            g_when[empty] = ++g_clock;
            g_bytes += cap;
            break;
        }
        free(g_block[oldest]); /* some block is kept: cap alone fits MAX_BYTES */
        g_bytes -= g_cap[oldest];
        g_block[oldest] = NULL;
        g_cap[oldest] = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return true;
}
