/* speedster bench: one JSON line of latency figures. Without --runs it
 * times until the median moves less than 5% (10 to 100 runs, 20 s budget),
 * the rule every candidate of optimize is measured by. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "learner/learner.h"
#include "util/threadpool.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

static double median_of(const double *t, int n, double *scratch)
{
    memcpy(scratch, t, (size_t)n * sizeof *t);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_double);
    return quantile(scratch, n, 0.5);
}

static int parse_int(const char *s, int lo, int hi, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (*s == '\0' || *end || x < lo || x > hi) return 0;
    *v = (int)x;
    return 1;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *in_dir = NULL;
    int warmup = 3, warmup_ms = 0, runs = 0, threads = 0, times = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-i") && has) in_dir = argv[++i];
        else if (!strcmp(a, "--warmup") && has) { if (!parse_int(argv[++i], 0, 100000, &warmup)) return cli_fail(SPD_ERR_INVALID, "bench: --warmup wants a count, got '%s'", argv[i]); }
        else if (!strcmp(a, "--warmup-ms") && has) { if (!parse_int(argv[++i], 0, 600000, &warmup_ms)) return cli_fail(SPD_ERR_INVALID, "bench: --warmup-ms wants milliseconds, got '%s'", argv[i]); }
        else if (!strcmp(a, "--runs") && has) { if (!parse_int(argv[++i], 1, 1000000, &runs)) return cli_fail(SPD_ERR_INVALID, "bench: --runs wants a positive count, got '%s'", argv[i]); }
        else if (!strcmp(a, "--threads") && has) { if (!parse_int(argv[++i], 1, 1024, &threads)) return cli_fail(SPD_ERR_INVALID, "bench: --threads wants a positive count, got '%s'", argv[i]); }
        else if (!strcmp(a, "--times")) times = 1;
        else if (a[0] == '-') return cli_fail(SPD_ERR_INVALID, "bench: unknown option '%s'", a);
        else if (!model) model = a;
        else return cli_fail(SPD_ERR_INVALID, "bench: unexpected argument '%s'", a);
    }
    if (!model) return cli_fail(SPD_ERR_INVALID, "usage: speedster bench MODEL.onnx [-i IN_DIR] [--warmup N] [--warmup-ms MS] [--runs N] [--threads N] [--times]");
    if (threads) spd_set_num_threads(threads);

    cli_runnable rr, *m = &rr;
    spd_status st = cli_open(model, m);
    if (st != SPD_OK) return cli_fail_last(st);
    int n_in = cli_num_inputs(m), n_out = cli_num_outputs(m), rc = 0;
    int max_runs = runs ? runs : 100, done_runs = 0;
    spd_tensor *in = calloc((size_t)n_in + 1, sizeof *in), *out = calloc((size_t)n_out + 1, sizeof *out);
    double *t = calloc((size_t)max_runs + 1, sizeof *t), *scratch = calloc((size_t)max_runs + 1, sizeof *t);
    int random_inputs = !in_dir;
    if (!in || !out || !t || !scratch) { rc = cli_fail(SPD_ERR_NOMEM, "out of memory"); goto done; }
    st = in_dir ? cli_read_inputs(m, in_dir, in, n_in) : cli_random_inputs(m, in, n_in, 1);
    if (st != SPD_OK) { rc = cli_exit_code(st); goto done; }

    /* the warm-up lasts warmup calls and at least warmup_ms: a fresh
     * process's second thread ran at a fraction of its speed for its first
     * ~100 ms on a virtual machine, whatever the call count */
    const double warm_until = cli_now_ms() + warmup_ms;
    for (int w = 0; w < warmup || cli_now_ms() < warm_until; w++) {
        st = cli_run(m, in, n_in, out, n_out);
        for (int k = 0; k < n_out; k++) spd_tensor_release(&out[k]);
        if (st != SPD_OK) { rc = cli_fail(st, "%s: %s", model, spd_last_error()); goto done; }
    }
    for (int r = 0; r < max_runs; r++) {
        double t0 = cli_now_ms();
        st = cli_run(m, in, n_in, out, n_out);
        double dt = cli_now_ms() - t0;
        for (int k = 0; k < n_out; k++) spd_tensor_release(&out[k]);
        if (st != SPD_OK) { rc = cli_fail(st, "%s: %s", model, spd_last_error()); goto done; }
        t[done_runs++] = dt;
        if (!runs && done_runs >= 10 && done_runs % 5 == 0) {
            double now = median_of(t, done_runs, scratch), before = median_of(t, done_runs - 5, scratch);
            double spent = 0;
            for (int k = 0; k < done_runs; k++) spent += t[k];
            if (fabs(now - before) < 0.05 * before || spent > 20000) break;
        }
    }
    memcpy(scratch, t, (size_t)done_runs * sizeof *t);
    qsort(scratch, (size_t)done_runs, sizeof *scratch, cmp_double);
    double mean = 0;
    for (int k = 0; k < done_runs; k++) mean += scratch[k];
    mean /= done_runs;
    double med = quantile(scratch, done_runs, 0.5);
    int64_t batch = n_in > 0 && in[0].ndim > 0 ? in[0].dims[0] : 1;
    printf("{\"model\":\"%s\",\"threads\":%d,\"warmup\":%d,\"runs\":%d,\"median_ms\":%.4f,\"p90_ms\":%.4f,"
           "\"min_ms\":%.4f,\"max_ms\":%.4f,\"mean_ms\":%.4f,\"throughput\":%.3f",
           model, threads, warmup, done_runs, med, quantile(scratch, done_runs, 0.9), scratch[0],
           scratch[done_runs - 1], mean, med > 0 ? (double)batch * 1000.0 / med : 0.0);
    /* a small learner may keep to one thread, a choice re-made as it runs
     * (learner/thread_tuner.h): the one it ended on */
    if (m->learner && spd_thread_count() > 1)
        printf(",\"one_thread\":%s", spd_learner_one_thread(m->learner) ? "true" : "false");
    if (times) { /* every run in order: a slow stretch of the host shows as a run of outliers */
        printf(",\"times_ms\":[");
        for (int k = 0; k < done_runs; k++) printf("%s%.4f", k ? "," : "", t[k]);
        printf("]");
    }
    printf("}\n");
done:
    for (int k = 0; in && k < n_in; k++) {
        if (random_inputs) { free(in[k].data); in[k].data = NULL; }
        else spd_tensor_release(&in[k]);
    }
    free(in);
    free(out);
    free(t);
    free(scratch);
    cli_close(m);
    return rc;
}
