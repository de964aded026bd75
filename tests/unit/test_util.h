/* The harness the kernel tests share: a seeded xorshift generator, so every
 * run draws the same cases, and check(), which counts and prints one line
 * per failure prefixed by the current configuration (ISA, threads...).
 * Define TEST_SEED before including to draw another sequence. */
#ifndef SPD_TEST_UTIL_H
#define SPD_TEST_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#ifndef TEST_SEED
#define TEST_SEED 0x9E3779B97F4A7C15ull
#endif

static int g_failed, g_checks;
static char g_label[96];
static uint64_t g_rng = TEST_SEED;

static inline uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static inline int64_t rnd_range(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }
/* uniform in [-1, 1) */
static inline double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0; }
static inline float rnd_float(void) { return (float)rnd_unit(); }

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void check(int ok, const char *fmt, ...)
{
    g_checks++;
    if (ok) return;
    g_failed++;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL [%s] ", g_label);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* The last line of every test: "N checks, N failed"; the exit status. */
static inline int test_summary(void)
{
    printf("%d checks, %d failed\n", g_checks, g_failed);
    return g_failed ? 1 : 0;
}

#endif
