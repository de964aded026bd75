#include "learner/thread_tuner.h"

#include <stdlib.h>

void spd_thread_tuner_init(spd_thread_tuner *t, int cap, bool on)
{
    t->on = on;
    atomic_init(&t->cap, cap == 1 ? 1 : 0);
    atomic_init(&t->calls, 0);
    atomic_init(&t->next, SPD_TUNE_FIRST);
    pthread_mutex_init(&t->mu, NULL);
    t->k = 0;
}

void spd_thread_tuner_destroy(spd_thread_tuner *t) { pthread_mutex_destroy(&t->mu); }

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int spd_thread_tuner_decide(const double *one, const double *all, int n)
{
    double r[SPD_TUNE_PAIRS];
    int m = 0;
    for (int i = 0; i < n && m < SPD_TUNE_PAIRS; i++)
        if (all[i] > 0) r[m++] = one[i] / all[i];
    if (m == 0) return 0;
    qsort(r, (size_t)m, sizeof *r, cmp_double);
    const double med = m % 2 ? r[m / 2] : 0.5 * (r[m / 2 - 1] + r[m / 2]);
    return med < SPD_TUNE_GAIN;
}

/* The arm of a look's k-th call: pairs take turns going first, so a slow
 * spell that spans a pair hits both sides alike. */
static int arm_of(int k)
{
    const int first = (k / 2) % 2;
    return k % 2 ? !first : first;
}

int spd_thread_tuner_begin(spd_thread_tuner *t, bool *timed)
{
    *timed = false;
    const int cap = atomic_load_explicit(&t->cap, memory_order_relaxed);
    if (!t->on) return cap;
    const long long c = atomic_fetch_add_explicit(&t->calls, 1, memory_order_relaxed) + 1;
    if (c < atomic_load_explicit(&t->next, memory_order_relaxed)) return cap;
    /* another caller is timing a call: this one just runs */
    if (pthread_mutex_trylock(&t->mu) != 0) return cap;
    *timed = true;
    return arm_of(t->k);
}

void spd_thread_tuner_end(spd_thread_tuner *t, double seconds)
{
    const int arm = arm_of(t->k);
    t->t[arm][t->k / 2] = seconds;
    if (++t->k == 2 * SPD_TUNE_PAIRS) {
        atomic_store(&t->cap, spd_thread_tuner_decide(t->t[1], t->t[0], SPD_TUNE_PAIRS));
        t->k = 0;
        const long long next = atomic_load(&t->next);
        atomic_store(&t->next, next * 2 < SPD_TUNE_EVERY_MAX ? next * 2 : SPD_TUNE_EVERY_MAX);
        atomic_store(&t->calls, 0);
    }
    pthread_mutex_unlock(&t->mu);
}
