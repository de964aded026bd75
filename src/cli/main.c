/* speedster: the command line. The contract is "The command line" in
 * DESIGN.md: tests and users depend on these words and exit codes. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: speedster <command> [options]\n"
    "  info MODEL.onnx\n"
    "  run MODEL.onnx|LEARNER_DIR -i IN_DIR -o OUT_DIR\n"
    "  check [--exclude FILE] [--min-pass RATE] [--rtol R] [--atol A] CASE_DIR...\n"
    "  optimize MODEL.onnx -o LEARNER_DIR [--input-data DIR | --samples N] [--metric M]\n"
    "      [--metric-drop-ths X] [--optimization-time constrained|unconstrained] [--dynamic-info FILE.json]\n"
    "      [--config-file FILE] [--ignore-compilers a,b] [--ignore-compressors a,b] [--store-latencies]\n"
    "      [--device D] [--threads N]\n"
    "  bench MODEL.onnx|LEARNER_DIR [-i IN_DIR] [--warmup N] [--warmup-ms MS] [--runs N] [--threads N]\n"
    "  version\n";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "optimize")) return cmd_optimize(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("speedster %s\n", SPD_VERSION_STRING);
        return 0;
    }
    return cli_fail(SPD_ERR_INVALID, "unknown command '%s' (try 'speedster --help')", cmd);
}
