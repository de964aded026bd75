#include "util/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "speedster.h"

#define MAX_THREADS 256

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_t workers[MAX_THREADS];
    int n_workers;
    /* the current job */
    spd_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_llong next;
    int active;            /* workers still inside the job */
    unsigned long generation;
    int quit;
} pool;

static pool g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};
static pthread_mutex_t g_run_mu = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static int g_wanted;                                         /* 0: from the environment */
static int g_default;                                        /* a learner's recorded count */
static _Thread_local int t_in_task;

static int default_threads(void)
{
    const char *env = getenv("NEBULLVM_THREADS_PER_MODEL");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 1) return v > MAX_THREADS ? MAX_THREADS : (int)v;
    }
    if (g_default > 0) return g_default;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void spd_set_default_threads(int n) { g_default = n > 0 ? (n > MAX_THREADS ? MAX_THREADS : n) : 0; }

void spd_set_num_threads(int n) { g_wanted = n > 0 ? (n > MAX_THREADS ? MAX_THREADS : n) : 0; }

int spd_thread_count(void) { return g_wanted ? g_wanted : default_threads(); }

static void drain(pool *p)
{
    int64_t t;
    while ((t = atomic_fetch_add(&p->next, 1)) < p->n_tasks) p->fn(p->ctx, t);
}

static void *worker(void *arg)
{
    pool *p = arg;
    unsigned long seen = 0;
    t_in_task = 1;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        drain(p);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void stop_workers(pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->workers[i], NULL);
    p->n_workers = 0;
    p->quit = 0;
}

static void resize(pool *p, int workers)
{
    if (p->n_workers == workers) return;
    stop_workers(p);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->workers[i], NULL, worker, p) != 0) break; /* fewer threads still work */
        p->n_workers++;
    }
}

static void stop_at_exit(void) { stop_workers(&g_pool); }

void spd_parallel_for(int64_t n_tasks, spd_task_fn fn, void *ctx)
{
    if (n_tasks <= 0) return;
    int threads = spd_thread_count();
    if (t_in_task || threads <= 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t);
        return;
    }
#ifdef SPD_USE_OPENMP
    if ((int64_t)threads > n_tasks) threads = (int)n_tasks;
#pragma omp parallel num_threads(threads)
    {
        t_in_task = 1;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t);
        t_in_task = 0;
    }
    return;
#endif
    pthread_mutex_lock(&g_run_mu);
    pool *p = &g_pool;
    static int registered;
    if (!registered) {
        atexit(stop_at_exit);
        registered = 1;
    }
    int workers = threads - 1;
    if ((int64_t)workers > n_tasks - 1) workers = (int)(n_tasks - 1);
    if (p->n_workers < workers || p->n_workers > threads - 1) resize(p, threads - 1);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->active = p->n_workers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    t_in_task = 1;
    drain(p);
    t_in_task = 0;

    pthread_mutex_lock(&p->mu);
    while (p->active > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&g_run_mu);
}
