/* util/block_cache.c through spd_malloc / spd_free: a freed large block
 * comes back for the next allocation of about its size, small ones and
 * much smaller requests do not take it, the oldest blocks go first when
 * the cache is full, the byte counts stay those of live blocks, and
 * threads sharing it never get one block twice. Under AddressSanitizer the
 * cache keeps nothing, and that is what is checked there. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "util/alloc.h"
#include "util/block_cache.h"

#if defined(__SANITIZE_ADDRESS__)
#define KEEPS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEPS 0
#endif
#endif
#ifndef KEEPS
#define KEEPS 1
#endif

#define MB ((size_t)1 << 20)

static void reuse(void)
{
    const size_t before = spd_alloc_current();
    char *p = spd_malloc(MB);
    check(p != NULL, "1 MB allocation failed");
    if (!p) return;
    memset(p, 7, MB);
    spd_free(p);
    check(spd_alloc_current() == before, "a kept block still counts as allocated");
    char *q = spd_malloc(MB - 4096); /* a little smaller: takes it */
    check((q == p) == KEEPS, "a freed 1 MB block %s for the next 1 MB allocation", KEEPS ? "is not reused" : "is reused");
    check(spd_alloc_current() == before + MB - 4096, "a reused block counts %zu bytes, not its request",
          spd_alloc_current() - before);
    memset(q, 1, MB - 4096);
    spd_free(q);
    char *r = spd_malloc(MB / 2); /* half: would waste half the block, so it is not taken */
    check(r != p, "a 1 MB block served a 512 KB request");
    spd_free(r);
    char *s = spd_malloc(MB + 1); /* larger than any kept block */
    check(s != p, "a 1 MB block served a larger request");
    spd_free(s);
    char *small = spd_malloc(SPD_BLOCK_CACHE_MIN / 2);
    spd_free(small);
    size_t cap = 0;
    void *none = spd_block_cache_take(SPD_BLOCK_CACHE_MIN / 2, &cap);
    check(none == NULL, "a block under the cache's minimum was kept");
}

/* Nine 1 MB blocks freed into eight slots: the first freed is the one let
 * go; the other eight all come back. */
static void oldest_first(void)
{
    size_t cap;
    for (void *b; (b = spd_block_cache_take(MB, &cap)) != NULL;) free(b); /* empty it: taken blocks are raw */
    char *p[9];
    for (int i = 0; i < 9; i++) p[i] = spd_malloc(MB);
    for (int i = 0; i < 9; i++) spd_free(p[i]);
    char *q[9];
    int found_first = 0, found_rest = 0;
    for (int i = 0; i < 9; i++) {
        q[i] = spd_malloc(MB);
        if (q[i] == p[0]) found_first++;
        for (int j = 1; j < 9; j++) found_rest += q[i] == p[j];
    }
    check(found_first == 0, "the oldest block was kept over newer ones");
    check(found_rest == (KEEPS ? 8 : 0), "%d of the 8 newest blocks came back", found_rest);
    for (int i = 0; i < 9; i++) spd_free(q[i]);
}

/* Four threads allocating, filling, checking and freeing 1-2 MB blocks:
 * a block handed out twice shows as another thread's fill. */
static void *churn(void *arg)
{
    const unsigned char mark = (unsigned char)(uintptr_t)arg;
    long bad = 0;
    for (int i = 0; i < 2000; i++) {
        const size_t n = MB + (size_t)(i % 5) * (MB / 8);
        unsigned char *p = spd_malloc(n);
        if (!p) return (void *)1;
        memset(p, mark, n);
        for (size_t k = 0; k < n; k += 4093) bad += p[k] != mark;
        bad += p[n - 1] != mark;
        spd_free(p);
    }
    return (void *)(uintptr_t)(bad != 0);
}

static void threads(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        check(r == NULL, "thread %d saw its block overwritten or failed to allocate", i);
    }
}

int main(void)
{
    const size_t start = spd_alloc_current();
    reuse();
    oldest_first();
    threads();
    check(spd_alloc_current() == start, "%zu bytes still counted", spd_alloc_current() - start);
    return test_summary();
}
