/* One pool of worker threads per process, sized by spd_set_num_threads(),
 * else NEBULLVM_THREADS_PER_MODEL, else the online cores. Workers are
 * created once; between jobs they spin briefly, then sleep. No thread is
 * created per run. */
#ifndef SPD_UTIL_THREADPOOL_H
#define SPD_UTIL_THREADPOOL_H

#include <stdint.h>

typedef void (*spd_task_fn)(void *ctx, int64_t task);

/* Memory-bound operators (a few elements a nanosecond: arithmetic, Relu,
 * transposes, sums over a plane) split over the threads from this many
 * elements. Between two split operators, one run on a single core reads
 * half its input from the other core's cache: EfficientNet's
 * squeeze-and-excitation products over 7x7x1152 took 6.7 us on one core
 * at 2 threads against 3.8 at 1, and 4.8 split. */
#define SPD_PAR_MIN_STREAM 32768

/* Runs fn(ctx, t) for t in [0, n_tasks) on up to the pool's threads, the
 * caller included, and returns when all are done. Called from inside a
 * task, it runs the tasks inline (no nested parallelism). */
void spd_parallel_for(int64_t n_tasks, spd_task_fn fn, void *ctx);
/* The number of threads a parallel_for may use (>= 1): spd_set_num_threads()
 * if called, else NEBULLVM_THREADS_PER_MODEL, else the default a learner
 * recorded (spd_set_default_threads), else the online cores. */
int spd_thread_count(void);
void spd_set_default_threads(int n);
/* Caps spd_thread_count() on the calling thread at cap (0: no cap) and
 * returns the cap it replaces, for the caller to put back. */
int spd_thread_cap(int cap);
/* +1 while a oneDNN plan lives, -1 when it goes: meanwhile parallel_for
 * runs on OpenMP's team, which oneDNN's threads are, where it is built so. */
void spd_pool_openmp_user(int delta);

#endif
