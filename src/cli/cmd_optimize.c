/* speedster optimize: the spec's optimize_model on the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void print_line(const char *line, void *user)
{
    (void)user;
    fputs(line, stdout);
    if (!*line || line[strlen(line) - 1] != '\n') fputc('\n', stdout);
    fflush(stdout);
}

static int parse_double(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return *s && !*end;
}

int cmd_optimize(int argc, char **argv)
{
    const char *model = NULL, *out_dir = NULL, *data_dir = NULL;
    spd_optimize_options o = spd_optimize_options_default();
    o.log = print_line;
    int samples_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE()                                                                                    \
    do {                                                                                           \
        if (!v) return cli_fail(SPD_ERR_INVALID, "optimize: option %s needs a value", a);          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) { VALUE(); out_dir = v; }
        else if (!strcmp(a, "--input-data")) { VALUE(); data_dir = v; }
        else if (!strcmp(a, "--samples")) {
            VALUE();
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 1000000) return cli_fail(SPD_ERR_INVALID, "optimize: --samples wants a positive count, got '%s'", v);
            o.n_random_samples = (int)n;
            samples_given = 1;
        } else if (!strcmp(a, "--metric")) { VALUE(); o.metric = v; }
        else if (!strcmp(a, "--metric-drop-ths")) {
            VALUE();
            if (!parse_double(v, &o.metric_drop_ths)) return cli_fail(SPD_ERR_INVALID, "optimize: --metric-drop-ths wants a number, got '%s'", v);
        } else if (!strcmp(a, "--optimization-time")) { VALUE(); o.optimization_time = v; }
        else if (!strcmp(a, "--dynamic-info")) { VALUE(); o.dynamic_info = v; }
        else if (!strcmp(a, "--config-file")) { VALUE(); o.config_file = v; }
        else if (!strcmp(a, "--ignore-compilers")) { VALUE(); o.ignore_compilers = v; }
        else if (!strcmp(a, "--ignore-compressors")) { VALUE(); o.ignore_compressors = v; }
        else if (!strcmp(a, "--store-latencies")) o.store_latencies = 1;
        else if (!strcmp(a, "--device")) { VALUE(); o.device = v; }
        else if (!strcmp(a, "--threads")) {
            VALUE();
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 1024) return cli_fail(SPD_ERR_INVALID, "optimize: --threads wants a positive count, got '%s'", v);
            o.threads = (int)n;
        } else if (a[0] == '-') return cli_fail(SPD_ERR_INVALID, "optimize: unknown option '%s'", a);
        else if (!model) model = a;
        else return cli_fail(SPD_ERR_INVALID, "optimize: unexpected argument '%s'", a);
#undef VALUE
    }
    if (!model || !out_dir)
        return cli_fail(SPD_ERR_INVALID, "usage: speedster optimize MODEL.onnx -o LEARNER_DIR [--input-data DIR | --samples N] ...");
    if (data_dir && samples_given) return cli_fail(SPD_ERR_INVALID, "optimize: give --input-data or --samples, not both");

    spd_dataset *data = NULL;
    spd_status st;
    if (data_dir && (st = spd_dataset_load_dir(data_dir, &data)) != SPD_OK) return cli_fail_last(st);
    spd_learner *l = NULL;
    /* The library records o.threads but the kernels' pool is process-wide:
     * bound it here, as NEBULLVM_THREADS_PER_MODEL does. */
    if (o.threads > 0) spd_set_num_threads(o.threads);
    st = spd_optimize_model(model, data, &o, &l);
    spd_dataset_free(data);
    if (st != SPD_OK) return cli_fail_last(st);
    st = spd_learner_save(l, out_dir);
    spd_learner_free(l);
    if (st != SPD_OK) return cli_fail_last(st);
    printf("learner saved to %s\n", out_dir);
    return 0;
}
