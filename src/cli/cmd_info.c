#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') return cli_fail(SPD_ERR_INVALID, "usage: speedster info MODEL.onnx");
    spd_model *m = NULL;
    spd_status st = spd_model_load(argv[1], &m);
    if (st != SPD_OK) return cli_fail_last(st);
    char *s = spd_model_summary(m);
    if (s) fputs(s, stdout);
    spd_string_free(s);
    spd_model_free(m);
    return s ? 0 : cli_fail(SPD_ERR_NOMEM, "out of memory");
}
