#include "util/scratch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util/alloc.h"

typedef struct held {
    void *p;
    size_t n;
} held;

static _Thread_local held t_slots[SPD_SCRATCH_COUNT];
static atomic_size_t g_held; /* over all threads */
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void release_slots(held *s)
{
    for (int i = 0; i < SPD_SCRATCH_COUNT; i++) {
        spd_free(s[i].p);
        atomic_fetch_sub(&g_held, s[i].n);
        s[i].p = NULL;
        s[i].n = 0;
    }
}

/* A thread's key value points at its own slots: the destructor runs on
 * that thread while its thread-locals are still there. */
static void on_thread_exit(void *slots) { release_slots(slots); }

static void at_exit(void) { spd_scratch_release(); }

static void init_once(void)
{
    (void)pthread_key_create(&g_key, on_thread_exit);
    atexit(at_exit);
}

void *spd_scratch(spd_scratch_slot slot, size_t bytes)
{
    held *h = &t_slots[slot];
    if (h->p && h->n >= bytes) return h->p;
    pthread_once(&g_once, init_once);
    /* grow by half again, so a few growing calls settle quickly */
    size_t want = bytes + bytes / 2;
    if (want < bytes) want = bytes;
    void *p = spd_malloc(want ? want : 1);
    if (!p) return NULL;
    spd_free(h->p);
    atomic_fetch_add(&g_held, want - h->n);
    h->p = p;
    h->n = want;
    (void)pthread_setspecific(g_key, t_slots);
    return p;
}

void spd_scratch_release(void) { release_slots(t_slots); }

size_t spd_scratch_held(void) { return atomic_load(&g_held); }
