/* Shared pieces of the `speedster` command. */
#ifndef SPD_CLI_H
#define SPD_CLI_H

#include "speedster.h"

/* Prints "speedster: <msg>" on one line and returns the exit status for
 * st: 1 for the user's errors, 2 for internal ones. */
int cli_fail(spd_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail_last(spd_status st);
int cli_exit_code(spd_status st);

/* What run and bench accept: an ONNX file or a learner folder. */
typedef struct cli_runnable {
    spd_model *model;
    spd_learner *learner;
} cli_runnable;

spd_status cli_open(const char *path, cli_runnable *r);
void cli_close(cli_runnable *r);
int cli_num_inputs(const cli_runnable *r);
int cli_num_outputs(const cli_runnable *r);
const char *cli_input_name(const cli_runnable *r, int i);
spd_status cli_input_info(const cli_runnable *r, int i, spd_dtype *dt, int *nd, int64_t *dims);
spd_status cli_run(cli_runnable *r, const spd_tensor *in, int n_in, spd_tensor *out, int n_out);

/* input_K.pb or input_K.npy from dir, K = 0 .. n-1 (n = the model's inputs). */
spd_status cli_read_inputs(const cli_runnable *m, const char *dir, spd_tensor *in, int n);
/* Random inputs that fit the model's signature (symbolic dims = 1). */
spd_status cli_random_inputs(const cli_runnable *m, spd_tensor *in, int n, unsigned seed);
spd_status cli_mkdirs(const char *path);
int cli_file_exists(const char *path);
double cli_now_ms(void);

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_optimize(int argc, char **argv);

#endif
