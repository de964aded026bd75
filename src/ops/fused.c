#include "ir/op.h"

/* placeholder: the fused family is being written */
const spd_op_def spd_ops_fused[] = {{"", "", 0, 0, 0}};
const int spd_ops_fused_count = 0;
