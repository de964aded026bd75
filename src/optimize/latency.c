#include "optimize/latency.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/status.h"

double spd_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *t, int n, double q, double *scratch)
{
    memcpy(scratch, t, (size_t)n * sizeof *t);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp);
    double pos = q * (n - 1);
    int lo = (int)pos, hi = lo + 1 < n ? lo + 1 : lo;
    return scratch[lo] + (scratch[hi] - scratch[lo]) * (pos - lo);
}

enum { WARMUP = 3, MIN_RUNS = 10, MAX_RUNS = 100 };

spd_status spd_measure_latency(spd_run_fn run, void *ctx, const spd_tensor *in, int n_in, int n_out,
                               double budget_s, spd_latency *out)
{
    double t[MAX_RUNS], scratch[MAX_RUNS];
    spd_tensor *res = spd_calloc((size_t)n_out + 1, sizeof *res);
    if (!res) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    int n = 0;
    double start = spd_now_s();
    spd_status st = SPD_OK;
    for (int r = 0; r < WARMUP + MAX_RUNS; r++) {
        double t0 = spd_now_s();
        st = run(ctx, in, n_in, res, n_out);
        double dt = spd_now_s() - t0;
        for (int k = 0; k < n_out; k++) spd_tensor_release(&res[k]);
        if (st != SPD_OK) break;
        if (r < WARMUP) {
            if (spd_now_s() - start > budget_s) { t[n++] = dt; break; } /* too slow to warm up fully */
            continue;
        }
        t[n++] = dt;
        if (n >= MIN_RUNS && n % 5 == 0) {
            double now = quantile(t, n, 0.5, scratch), before = quantile(t, n - 5, 0.5, scratch);
            if (fabs(now - before) < 0.05 * before) break;
        }
        if (n >= 3 && spd_now_s() - start > budget_s) break;
    }
    spd_free(res);
    if (st != SPD_OK) return st;
    out->runs = n;
    out->median_s = quantile(t, n, 0.5, scratch);
    out->p90_s = quantile(t, n, 0.9, scratch);
    out->min_s = scratch[0];
    int64_t batch = n_in > 0 && in[0].ndim > 0 ? in[0].dims[0] : 1;
    out->throughput = out->median_s > 0 ? (double)batch / out->median_s : 0;
    return SPD_OK;
}
