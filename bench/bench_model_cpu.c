/* Per-run wall and CPU time of a learner (or model) on one input set: for
 * comparing builds on a shared, busy machine, where wall times swing with
 * the other load but a single-threaded run's CPU time does not.
 *
 * Build (after building speedster into BUILD):
 *   gcc -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_model_cpu.c BUILD/libspeedster.a \
 *       [-ldnnl -lgomp] -lm -lpthread -o /tmp/bench_model_cpu
 * Run:  /tmp/bench_model_cpu LEARNER_DIR INPUT_DIR [threads] [runs]
 * Prints min and median of both clocks over the runs (after 2 warm-ups). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "speedster.h"

static double clk(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s LEARNER_DIR INPUT_DIR [threads] [runs]\n", argv[0]);
        return 2;
    }
    const int threads = argc > 3 ? atoi(argv[3]) : 1, runs = argc > 4 ? atoi(argv[4]) : 10;
    spd_set_num_threads(threads);
    spd_learner *l = NULL;
    if (spd_learner_load(argv[1], &l) != SPD_OK) {
        fprintf(stderr, "load %s: %s\n", argv[1], spd_last_error());
        return 1;
    }
    const int n_in = spd_learner_num_inputs(l), n_out = spd_learner_num_outputs(l);
    spd_tensor in[16], out[16];
    memset(in, 0, sizeof in);
    for (int i = 0; i < n_in && i < 16; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/input_%d.pb", argv[2], i);
        if (spd_tensor_read_file(path, &in[i]) != SPD_OK) {
            fprintf(stderr, "%s: %s\n", path, spd_last_error());
            return 1;
        }
    }
    double *wall = calloc((size_t)runs + 1, sizeof(double)), *cpu = calloc((size_t)runs + 1, sizeof(double));
    for (int r = -2; r < runs; r++) {
        memset(out, 0, sizeof out);
        const double w0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_PROCESS_CPUTIME_ID);
        if (spd_learner_run(l, in, n_in, out, n_out) != SPD_OK) {
            fprintf(stderr, "run: %s\n", spd_last_error());
            return 1;
        }
        if (r >= 0) {
            wall[r] = (clk(CLOCK_MONOTONIC) - w0) * 1e3;
            cpu[r] = (clk(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3;
        }
        for (int o = 0; o < n_out && o < 16; o++) spd_tensor_release(&out[o]);
    }
    qsort(wall, (size_t)runs, sizeof(double), cmp);
    qsort(cpu, (size_t)runs, sizeof(double), cmp);
    printf("threads %d runs %d: wall min %.1f med %.1f ms, cpu min %.1f med %.1f ms\n", threads, runs, wall[0],
           wall[runs / 2], cpu[0], cpu[runs / 2]);
    for (int i = 0; i < n_in && i < 16; i++) spd_tensor_release(&in[i]);
    spd_learner_free(l);
    free(wall);
    free(cpu);
    return 0;
}
