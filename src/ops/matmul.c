#include "ir/op.h"

/* placeholder: the matmul family is being written */
const spd_op_def spd_ops_matmul[] = {{"", "", 0, 0, 0}};
const int spd_ops_matmul_count = 0;
