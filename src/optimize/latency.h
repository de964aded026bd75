/* Latency, measured the same way for the original and every candidate:
 * warm-up runs, then timed runs until the median moves less than 5% (at
 * least 10, at most 100 runs or the time budget). */
#ifndef SPD_OPTIMIZE_LATENCY_H
#define SPD_OPTIMIZE_LATENCY_H

#include "speedster.h"

typedef spd_status (*spd_run_fn)(void *ctx, const spd_tensor *in, int n_in, spd_tensor *out, int n_out);

typedef struct spd_latency {
    double median_s, p90_s, min_s;
    int runs;
    double throughput; /* batch / median */
} spd_latency;

spd_status spd_measure_latency(spd_run_fn run, void *ctx, const spd_tensor *in, int n_in, int n_out,
                               double budget_s, spd_latency *out);
double spd_now_s(void);

#endif
