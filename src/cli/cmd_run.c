#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *in_dir = NULL, *out_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-i") && i + 1 < argc) in_dir = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) out_dir = argv[++i];
        else if (argv[i][0] == '-') return cli_fail(SPD_ERR_INVALID, "run: unknown option '%s'", argv[i]);
        else if (!model) model = argv[i];
        else return cli_fail(SPD_ERR_INVALID, "run: unexpected argument '%s'", argv[i]);
    }
    if (!model || !in_dir || !out_dir)
        return cli_fail(SPD_ERR_INVALID, "usage: speedster run MODEL.onnx -i IN_DIR -o OUT_DIR");

    cli_runnable rr, *m = &rr;
    spd_status st = cli_open(model, m);
    if (st != SPD_OK) return cli_fail_last(st);
    int n_in = cli_num_inputs(m), n_out = cli_num_outputs(m), rc = 0;
    spd_tensor *in = calloc((size_t)n_in + 1, sizeof *in), *out = calloc((size_t)n_out + 1, sizeof *out);
    if (!in || !out) { rc = cli_fail(SPD_ERR_NOMEM, "out of memory"); goto done; }
    if ((st = cli_read_inputs(m, in_dir, in, n_in)) != SPD_OK) { rc = cli_exit_code(st); goto done; }
    if ((st = cli_run(m, in, n_in, out, n_out)) != SPD_OK) { rc = cli_fail(st, "%s: %s", model, spd_last_error()); goto done; }
    if ((st = cli_mkdirs(out_dir)) != SPD_OK) { rc = cli_exit_code(st); goto done; }
    for (int k = 0; k < n_out && rc == 0; k++) {
        char path[4096];
        for (int ext = 0; ext < 2 && rc == 0; ext++) {
            snprintf(path, sizeof path, "%s/output_%d.%s", out_dir, k, ext ? "npy" : "pb");
            if ((st = spd_tensor_write_file(path, &out[k])) != SPD_OK) rc = cli_fail_last(st);
        }
    }
done:
    for (int k = 0; in && k < n_in; k++) spd_tensor_release(&in[k]);
    for (int k = 0; out && k < n_out; k++) spd_tensor_release(&out[k]);
    free(in);
    free(out);
    cli_close(m);
    return rc;
}
