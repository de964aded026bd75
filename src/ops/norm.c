#include "ir/op.h"

/* placeholder: the norm family is being written */
const spd_op_def spd_ops_norm[] = {{"", "", 0, 0, 0}};
const int spd_ops_norm_count = 0;
