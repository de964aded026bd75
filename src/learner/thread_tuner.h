/* A small plan's thread count, re-chosen while it serves.
 *
 * optimize times a fast native winner on one thread against all allowed
 * and records one thread in the learner when that is clearly faster
 * (optimize/search.c). On a shared host that is a snapshot: while the
 * second vCPU was slow, kws_dscnn measured 35 us at two threads against 25
 * at one, and a learner optimized then stayed on one thread (25 us) once
 * two threads ran it in 16.5. So a learner whose plan runs in under
 * SPD_TUNE_MAX_S times a few calls each way now and then (pairs taking
 * turns, a doubling interval up to SPD_TUNE_EVERY_MAX calls) and keeps to
 * one thread while that is at least 10% faster. The outputs are the same
 * bits at any thread count (the kernels split work, never a sum), so only
 * the latency changes. */
#ifndef SPD_LEARNER_THREAD_TUNER_H
#define SPD_LEARNER_THREAD_TUNER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SPD_TUNE_MAX_S 0.002       /* plans slower than this split well: not tuned */
#define SPD_TUNE_GAIN 0.90         /* one thread when its time over all threads' is below this */
#define SPD_TUNE_PAIRS 8           /* timed pairs per look */
#define SPD_TUNE_FIRST 256         /* calls before the first look */
#define SPD_TUNE_EVERY_MAX 8192    /* most calls between two looks */

typedef struct spd_thread_tuner {
    bool on;
    atomic_int cap;          /* in use: 0 every allowed thread, 1 one */
    atomic_llong calls;      /* since the last look */
    atomic_llong next;       /* the next look after this many calls */
    pthread_mutex_t mu;      /* held by the one timed call in flight */
    int k;                   /* calls timed in this look */
    double t[2][SPD_TUNE_PAIRS]; /* [0] all threads, [1] one thread */
} spd_thread_tuner;

/* cap: the recorded choice (0 or 1); on: whether to look at all. */
void spd_thread_tuner_init(spd_thread_tuner *t, int cap, bool on);
void spd_thread_tuner_destroy(spd_thread_tuner *t);

/* Before a call: the cap to run it with. *timed is set when this call is
 * one of a look's, and then spd_thread_tuner_end must follow (the tuner's
 * lock is held across the call). */
int spd_thread_tuner_begin(spd_thread_tuner *t, bool *timed);
/* After a timed call: its wall time in seconds. */
void spd_thread_tuner_end(spd_thread_tuner *t, double seconds);

/* The choice from n pairs of times (one thread, all threads): 1 when the
 * median of one/all is below SPD_TUNE_GAIN, else 0. */
int spd_thread_tuner_decide(const double *one, const double *all, int n);

#endif
