/* The learner's thread tuner (learner/thread_tuner.h), fed made-up call
 * times so that every decision is known: the choice rule on pairs of
 * times, the calls before a look and between looks, the turn order inside
 * a look, a look that leaves one thread and one that returns to all, a
 * tuner that is off, and a caller that finds a timed call in flight. The
 * end-to-end effect on a learner (same outputs at any cap) is
 * run_optimize_tests' and test_concurrency's.
 *
 * Prints one line per failed check and "N checks, N failed". */
#include "test_util.h"
#include "learner/thread_tuner.h"

/* Runs one look: each timed call takes one_s on one thread and all_s on
 * all of them. Returns how many calls it took to get the whole look timed
 * (untimed calls before it count too). */
static int run_look(spd_thread_tuner *t, double one_s, double all_s, int *arms_one)
{
    int calls = 0, timed_calls = 0;
    *arms_one = 0;
    while (timed_calls < 2 * SPD_TUNE_PAIRS && calls < 100000) {
        bool timed;
        const int cap = spd_thread_tuner_begin(t, &timed);
        calls++;
        if (!timed) continue;
        check(cap == 0 || cap == 1, "a timed call's cap is 0 or 1: %d", cap);
        *arms_one += cap;
        spd_thread_tuner_end(t, cap ? one_s : all_s);
        timed_calls++;
    }
    return calls;
}

int main(void)
{
    snprintf(g_label, sizeof g_label, "decide");
    double one[SPD_TUNE_PAIRS], all[SPD_TUNE_PAIRS];
    for (int i = 0; i < SPD_TUNE_PAIRS; i++) all[i] = 20e-6, one[i] = 14e-6;
    check(spd_thread_tuner_decide(one, all, SPD_TUNE_PAIRS) == 1, "one thread 0.7x as long: one thread");
    for (int i = 0; i < SPD_TUNE_PAIRS; i++) one[i] = 19e-6;
    check(spd_thread_tuner_decide(one, all, SPD_TUNE_PAIRS) == 0, "one thread 0.95x: all threads");
    for (int i = 0; i < SPD_TUNE_PAIRS; i++) one[i] = 30e-6;
    check(spd_thread_tuner_decide(one, all, SPD_TUNE_PAIRS) == 0, "one thread slower: all threads");
    /* the median, not the mean: three wild pairs out of eight change nothing */
    for (int i = 0; i < SPD_TUNE_PAIRS; i++) one[i] = 14e-6;
    one[0] = one[1] = one[2] = 1e-3;
    check(spd_thread_tuner_decide(one, all, SPD_TUNE_PAIRS) == 1, "outliers: still one thread");
    check(spd_thread_tuner_decide(one, all, 0) == 0, "no pairs: all threads");

    snprintf(g_label, sizeof g_label, "looks");
    spd_thread_tuner t;
    spd_thread_tuner_init(&t, 1, true);
    /* calls before the first look run on the recorded choice, untimed */
    bool timed = true;
    int cap = -1;
    for (int i = 1; i < SPD_TUNE_FIRST; i++) {
        cap = spd_thread_tuner_begin(&t, &timed);
        if (timed || cap != 1) break;
    }
    check(!timed && cap == 1, "the first %d calls: recorded cap 1, untimed (cap %d, timed %d)", SPD_TUNE_FIRST - 1,
          cap, timed);
    /* a look where all threads are faster puts them back; the look's
     * calls are half on each side */
    int arms_one;
    int calls = run_look(&t, 25e-6, 16e-6, &arms_one);
    check(calls == 2 * SPD_TUNE_PAIRS, "the look starts at call %d: %d calls to time it", SPD_TUNE_FIRST, calls);
    check(arms_one == SPD_TUNE_PAIRS, "half the look on one thread: %d of %d", arms_one, 2 * SPD_TUNE_PAIRS);
    check(atomic_load(&t.cap) == 0, "all threads faster: cap 0 (%d)", atomic_load(&t.cap));
    /* the next look comes twice as many calls later */
    calls = run_look(&t, 14e-6, 20e-6, &arms_one);
    check(calls == 2 * SPD_TUNE_FIRST - 1 + 2 * SPD_TUNE_PAIRS, "second look after %d calls, took %d in all",
          2 * SPD_TUNE_FIRST, calls);
    check(atomic_load(&t.cap) == 1, "one thread faster: cap 1 (%d)", atomic_load(&t.cap));
    /* the interval doubles up to its most */
    for (int i = 0; i < 8; i++) run_look(&t, 14e-6, 20e-6, &arms_one);
    calls = run_look(&t, 14e-6, 20e-6, &arms_one);
    check(calls == SPD_TUNE_EVERY_MAX - 1 + 2 * SPD_TUNE_PAIRS, "look interval capped at %d: took %d",
          SPD_TUNE_EVERY_MAX, calls);

    /* the turn order: pairs take turns going first */
    snprintf(g_label, sizeof g_label, "order");
    spd_thread_tuner_destroy(&t);
    spd_thread_tuner_init(&t, 0, true);
    for (int i = 1; i < SPD_TUNE_FIRST; i++) spd_thread_tuner_begin(&t, &timed);
    int seq[2 * SPD_TUNE_PAIRS];
    for (int k = 0; k < 2 * SPD_TUNE_PAIRS; k++) {
        seq[k] = spd_thread_tuner_begin(&t, &timed);
        check(timed, "call %d of the look is timed", k);
        /* while a timed call is in flight another caller just runs */
        bool other = true;
        spd_thread_tuner_begin(&t, &other);
        check(!other, "a second caller during a timed call is not timed");
        spd_thread_tuner_end(&t, 1e-5);
    }
    for (int p = 0; p < SPD_TUNE_PAIRS; p++) {
        check(seq[2 * p] != seq[2 * p + 1], "pair %d: one call each way", p);
        if (p) check(seq[2 * p] != seq[2 * p - 2], "pair %d goes first the other way", p);
    }
    spd_thread_tuner_destroy(&t);

    snprintf(g_label, sizeof g_label, "off");
    spd_thread_tuner_init(&t, 1, false);
    int untimed = 1, ones = 1;
    for (int i = 0; i < 3 * SPD_TUNE_FIRST; i++) {
        cap = spd_thread_tuner_begin(&t, &timed);
        untimed &= !timed;
        ones &= cap == 1;
    }
    check(untimed && ones, "off: never timed, always the recorded cap");
    spd_thread_tuner_destroy(&t);
    return test_summary();
}
