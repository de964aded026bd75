#include "util/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#include "speedster.h"

#define MAX_THREADS 256
/* Idle workers watch for the next job this long before they sleep. A
 * model's operators follow each other microseconds apart; waking a sleeping
 * thread costs tens of microseconds on a virtual machine (an IPI through
 * the hypervisor), paid twice per operator. The spinning yields every few
 * microseconds: when the scheduler puts a spinner on the CPU of the thread
 * it waits for (it does, for the first ~100 ms of a process, until the load
 * balancer separates them), that thread runs instead of losing half its
 * time slices. */
#define SPIN_NS 500000L
#define YIELD_NS 6000L  /* a sched_yield (~0.4 us here) this often while spinning */
#define SPIN_CHECK 64   /* pauses between two reads of the clock */
/* A job has at most this many tasks per publication (its two claim
 * indices share a 64-bit word with the job's id); larger jobs are
 * published in pieces. */
#define MAX_TASKS_PER_JOB ((int64_t)0xFFFF)

/* One published job. Written by the caller only while no task of it can
 * still be claimed: the slot is reused two jobs later, after this job
 * completed. */
typedef struct job {
    _Atomic(spd_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_llong done; /* tasks the workers finished */
} job;

/* Tasks are claimed with a compare-and-swap on (job id << 32 | front << 16
 * | back): the caller takes the task at front, workers the one below back,
 * until the two meet. A claim succeeds only while its job is still the
 * current one, so a worker that slept through a whole job can never run a
 * task of it, and the caller waits for the tasks that were claimed, not
 * for every worker to show up (a vCPU the host took away does not stall
 * the job; the caller runs the unclaimed tasks itself).
 *
 * Why two ends: operators split their output in task order (channels,
 * columns), so the caller computes the first part of every layer and a
 * worker the last, and each finds most of its input in its own core's
 * cache, written there by the layer before. With one index taken by
 * whoever came first, half of it came from the other core: at 2 threads
 * mobilenet_v2's depthwise layers, whose inputs are wide activations, ran
 * slower than at 1. */
typedef struct pool {
    /* the claim word and both slots share one cache line: a worker that
     * sees a job has its function, context and done count in the same
     * transfer (a 2-task job's hand-over is a few line transfers, ~40 ns
     * each between these vCPUs) */
    _Alignas(64) atomic_ullong word;
    job slots[2];
    _Alignas(64) pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_int sleepers;       /* workers inside pthread_cond_wait(wake) */
    atomic_int caller_waiting; /* the caller inside pthread_cond_wait(done) */
    atomic_int quit;
    pthread_t workers[MAX_THREADS];
    int n_workers;
    int target; /* the size last asked for: a failed pthread_create is not retried per job */
} pool;

static pool g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};
static pthread_mutex_t g_run_mu = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static int g_wanted;                                         /* 0: from the environment */
static int g_default;                                        /* a learner's recorded count */
static atomic_int g_openmp_users;                            /* live oneDNN plans */
static _Thread_local int t_in_task;

/* Read once: sysconf reads /sys on every call (tens of microseconds on a
 * virtual machine), and every operator asks for the thread count. */
static int online_cores(void)
{
    static atomic_int cached;
    int n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n > 0) return n;
    long v = sysconf(_SC_NPROCESSORS_ONLN);
    n = v < 1 ? 1 : v > MAX_THREADS ? MAX_THREADS : (int)v;
    atomic_store_explicit(&cached, n, memory_order_relaxed);
    return n;
}

static int default_threads(void)
{
    const char *env = getenv("NEBULLVM_THREADS_PER_MODEL");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 1) return v > MAX_THREADS ? MAX_THREADS : (int)v;
    }
    if (g_default > 0) return g_default;
    return online_cores();
}

void spd_set_default_threads(int n) { g_default = n > 0 ? (n > MAX_THREADS ? MAX_THREADS : n) : 0; }

void spd_set_num_threads(int n) { g_wanted = n > 0 ? (n > MAX_THREADS ? MAX_THREADS : n) : 0; }

/* The calling thread's cap on the count (0: none), set around a learner's
 * run: a plan that optimize found faster on fewer threads keeps to them. */
static _Thread_local int t_cap;

int spd_thread_cap(int cap)
{
    const int prev = t_cap;
    t_cap = cap > 0 ? cap : 0;
    return prev;
}

int spd_thread_count(void)
{
    const int n = g_wanted ? g_wanted : default_threads();
    return t_cap && t_cap < n ? t_cap : n;
}

void spd_pool_openmp_user(int delta) { atomic_fetch_add(&g_openmp_users, delta); }

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* A spin-wait: SPIN_NS in all, yielding the CPU every YIELD_NS. */
typedef struct spinner {
    long until, next_yield;
    unsigned k;
} spinner;

static spinner spin_start(void)
{
    const long t = now_ns();
    return (spinner){t + SPIN_NS, t + YIELD_NS, 0};
}

/* One turn of the wait; false once its time is up. */
static inline bool spin_more(spinner *s)
{
    if (++s->k % SPIN_CHECK) {
        CPU_RELAX();
        return true;
    }
    const long t = now_ns();
    if (t > s->until) return false;
    if (t > s->next_yield) {
        sched_yield();
        s->next_yield = now_ns() + YIELD_NS;
    }
    return true;
}

/* Claims and runs tasks of the current job until none is left; returns the
 * id of the job it found exhausted. Only workers count what they ran into
 * the job's done: the caller counts its own in *ran (one shared read-
 * modify-write less per job). */
static uint32_t drain(pool *p, bool from_back, int64_t *ran)
{
    unsigned long long v = atomic_load_explicit(&p->word, memory_order_acquire);
    for (;;) {
        const uint32_t id = (uint32_t)(v >> 32), front = (uint32_t)(v >> 16) & 0xFFFFu, back = (uint32_t)v & 0xFFFFu;
        if (front >= back) return id;
        const unsigned long long next = from_back ? v - 1 : v + (1ull << 16);
        if (!atomic_compare_exchange_weak_explicit(&p->word, &v, next, memory_order_acquire, memory_order_acquire))
            continue;
        /* The job cannot complete before this task: its slot holds still. */
        job *j = &p->slots[id & 1];
        spd_task_fn fn = atomic_load_explicit(&j->fn, memory_order_relaxed);
        fn(atomic_load_explicit(&j->ctx, memory_order_relaxed), from_back ? back - 1 : front);
        if (ran) {
            (*ran)++;
        } else {
            atomic_fetch_add(&j->done, 1);
            if (atomic_load(&p->caller_waiting)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done);
                pthread_mutex_unlock(&p->mu);
            }
        }
        v = atomic_load_explicit(&p->word, memory_order_acquire);
    }
}

static uint32_t current_id(pool *p) { return (uint32_t)(atomic_load(&p->word) >> 32); }

static void *worker(void *arg)
{
    pool *p = arg;
    t_in_task = 1;
    uint32_t seen = drain(p, true, NULL);
    while (!atomic_load(&p->quit)) {
        if (current_id(p) == seen) {
            spinner sp = spin_start();
            while (current_id(p) == seen && !atomic_load(&p->quit))
                if (!spin_more(&sp)) break;
        }
        if (current_id(p) == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (current_id(p) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        seen = drain(p, true, NULL);
    }
    return NULL;
}

static void stop_workers(pool *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->workers[i], NULL);
    p->n_workers = 0;
    atomic_store(&p->quit, 0);
}

static void resize(pool *p, int workers)
{
    if (p->target == workers) return;
    p->target = workers;
    stop_workers(p);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->workers[i], NULL, worker, p) != 0) break; /* fewer threads still work */
        p->n_workers++;
    }
}

static void stop_at_exit(void) { stop_workers(&g_pool); }

/* Publishes one job of at most MAX_TASKS_PER_JOB tasks, helps run it, and
 * returns once every task has finished. The caller's first task is claimed
 * in the publication itself: it starts at once, without a compare-and-swap
 * on a line the spinning workers have just read. */
static void run_job(pool *p, int64_t n_tasks, spd_task_fn fn, void *ctx)
{
    const uint32_t id = current_id(p) + 1;
    job *j = &p->slots[id & 1];
    atomic_store_explicit(&j->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&j->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&j->done, 0, memory_order_relaxed);
    /* publishes the slot, task 0 already taken */
    atomic_store(&p->word, (unsigned long long)id << 32 | 1ull << 16 | (unsigned long long)n_tasks);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0);
    int64_t mine = 1;
    drain(p, false, &mine);
    const int64_t theirs = n_tasks - mine;
    /* What is left runs on workers now: spin first, it is usually short. */
    spinner sp = spin_start();
    while (atomic_load(&j->done) < theirs)
        if (!spin_more(&sp)) break;
    if (atomic_load(&j->done) < theirs) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waiting, 1);
        while (atomic_load(&j->done) < theirs) pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

typedef struct piece {
    spd_task_fn fn;
    void *ctx;
    int64_t base;
} piece;

static void piece_task(void *ctx, int64_t t)
{
    const piece *pc = ctx;
    pc->fn(pc->ctx, pc->base + t);
}

static void run_inline(int64_t n_tasks, spd_task_fn fn, void *ctx)
{
    const int outer = t_in_task;
    t_in_task = 1;
    for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t);
    t_in_task = outer;
}

void spd_parallel_for(int64_t n_tasks, spd_task_fn fn, void *ctx)
{
    if (n_tasks <= 0) return;
    int threads = spd_thread_count();
    if (t_in_task || threads <= 1 || n_tasks == 1) {
        run_inline(n_tasks, fn, ctx);
        return;
    }
#ifdef SPD_USE_OPENMP
    /* While oneDNN (built on OpenMP) is in use, its team runs our tasks
     * too: two sets of threads would spin against each other. */
    if (atomic_load(&g_openmp_users) > 0) {
        if ((int64_t)threads > n_tasks) threads = (int)n_tasks;
#pragma omp parallel num_threads(threads)
        {
            t_in_task = 1;
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t);
            t_in_task = 0;
        }
        return;
    }
#endif
    /* Another thread's job holds the pool: run on this thread rather than
     * queue behind it (concurrent callers each keep their own core). */
    if (pthread_mutex_trylock(&g_run_mu) != 0) {
        run_inline(n_tasks, fn, ctx);
        return;
    }
    pool *p = &g_pool;
    static int registered;
    if (!registered) {
        atexit(stop_at_exit);
        registered = 1;
    }
    resize(p, threads - 1);
    t_in_task = 1;
    if (n_tasks <= MAX_TASKS_PER_JOB) {
        run_job(p, n_tasks, fn, ctx);
    } else {
        for (int64_t base = 0; base < n_tasks; base += MAX_TASKS_PER_JOB) {
            piece pc = {fn, ctx, base};
            const int64_t left = n_tasks - base;
            run_job(p, left < MAX_TASKS_PER_JOB ? left : MAX_TASKS_PER_JOB, piece_task, &pc);
        }
    }
    t_in_task = 0;
    pthread_mutex_unlock(&g_run_mu);
}
