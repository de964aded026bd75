/* The thread pool: every task of every job runs exactly once, whatever the
 * job size and thread count; a job returns only after all its tasks ended;
 * nested calls run inline; callers from several threads at once each get
 * their jobs done (one through the pool, the others inline); and jobs that
 * outlast the spin, or come after the workers went to sleep, still finish.
 *
 * Prints one line per failed check and "N checks, N failed". */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"
#include "util/threadpool.h"
#include "speedster.h"

enum { MAX_TASKS = 70000 }; /* past 65535: a job published in pieces */

typedef struct job_ctx {
    atomic_int hits[MAX_TASKS];
    atomic_int running;   /* tasks inside fn right now */
    int sleep_us;         /* per task, to outlast the caller's spin */
    int nested;           /* each task runs a nested parallel_for of this size */
    atomic_int nested_hits;
} job_ctx;

static void nap(int us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void count_nested(void *ctx, int64_t t)
{
    (void)t;
    atomic_fetch_add(&((job_ctx *)ctx)->nested_hits, 1);
}

static void task(void *ctx, int64_t t)
{
    job_ctx *c = ctx;
    atomic_fetch_add(&c->running, 1);
    if (c->sleep_us) nap(c->sleep_us);
    if (c->nested) spd_parallel_for(c->nested, count_nested, c);
    atomic_fetch_add(&c->hits[t], 1);
    atomic_fetch_sub(&c->running, 1);
}

/* Runs one job of n tasks and checks it; returns the failures. */
static int run_and_check(job_ctx *c, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++) atomic_store(&c->hits[i], 0);
    atomic_store(&c->nested_hits, 0);
    spd_parallel_for(n, task, c);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += atomic_load(&c->hits[i]) != 1;
    int failed0 = g_failed;
    check(bad == 0, "%s: %d of %lld tasks did not run exactly once", what, bad, (long long)n);
    check(atomic_load(&c->running) == 0, "%s: returned with %d tasks still running", what, atomic_load(&c->running));
    if (c->nested)
        check(atomic_load(&c->nested_hits) == n * c->nested, "%s: nested tasks ran %d times, want %lld", what,
              atomic_load(&c->nested_hits), (long long)(n * c->nested));
    return g_failed - failed0;
}

typedef struct caller {
    job_ctx *c;
    int jobs, failures;
} caller;

static pthread_barrier_t g_start;

static void *call_jobs(void *arg)
{
    caller *k = arg;
    pthread_barrier_wait(&g_start);
    /* check() is not thread-safe: count here, check in main */
    for (int j = 0; j < k->jobs; j++) {
        const int64_t n = 1 + (j * 37) % 300;
        for (int64_t i = 0; i < n; i++) atomic_store(&k->c->hits[i], 0);
        spd_parallel_for(n, task, k->c);
        for (int64_t i = 0; i < n; i++) k->failures += atomic_load(&k->c->hits[i]) != 1;
    }
    return NULL;
}

int main(void)
{
    job_ctx *c = calloc(1, sizeof *c);
    if (!c) return 1;
    const int64_t sizes[] = {1, 2, 3, 5, 8, 17, 64, 255, 1000, 65535, 65536, MAX_TASKS};
    for (int threads = 1; threads <= 4; threads++) {
        spd_set_num_threads(threads);
        snprintf(g_label, sizeof g_label, "threads %d", threads);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int rep = 0; rep < 20; rep++) run_and_check(c, sizes[s], "plain job");
        /* tasks longer than the caller's spin: it must sleep and be woken */
        c->sleep_us = 2000;
        run_and_check(c, 7, "slow tasks");
        c->sleep_us = 0;
        /* workers asleep after an idle stretch longer than their spin */
        for (int rep = 0; rep < 3; rep++) {
            nap(3000);
            run_and_check(c, 9, "after idle");
        }
        c->nested = 5;
        run_and_check(c, 33, "nested");
        c->nested = 0;
    }

    /* a learner's cap: this thread's count only, put back by the caller */
    spd_set_num_threads(3);
    const int before = spd_thread_cap(1);
    check(before == 0 && spd_thread_count() == 1, "cap 1 of 3: count %d (cap before %d)", spd_thread_count(), before);
    run_and_check(c, 17, "capped at one thread");
    check(spd_thread_cap(5) == 1 && spd_thread_count() == 3, "a cap above the count leaves it: %d", spd_thread_count());
    check(spd_thread_cap(before) == 5 && spd_thread_count() == 3, "cap put back: count %d", spd_thread_count());

    /* four callers at once, each with its own job context */
    spd_set_num_threads(2);
    snprintf(g_label, sizeof g_label, "4 callers");
    enum { CALLERS = 4 };
    pthread_t th[CALLERS];
    caller k[CALLERS];
    job_ctx *cs[CALLERS];
    pthread_barrier_init(&g_start, NULL, CALLERS);
    for (int i = 0; i < CALLERS; i++) {
        cs[i] = calloc(1, sizeof *cs[i]);
        if (!cs[i]) return 1;
        k[i] = (caller){cs[i], 200, 0};
        pthread_create(&th[i], NULL, call_jobs, &k[i]);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        check(k[i].failures == 0, "caller %d: %d tasks did not run exactly once", i, k[i].failures);
        free(cs[i]);
    }
    pthread_barrier_destroy(&g_start);
    free(c);
    return test_summary();
}
