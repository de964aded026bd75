#include "ir/op.h"

/* placeholder: the pool family is being written */
const spd_op_def spd_ops_pool[] = {{"", "", 0, 0, 0}};
const int spd_ops_pool_count = 0;
