#include "ir/op.h"

/* placeholder: the reduce family is being written */
const spd_op_def spd_ops_reduce[] = {{"", "", 0, 0, 0}};
const int spd_ops_reduce_count = 0;
