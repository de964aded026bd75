#include "ir/op.h"

/* placeholder: the index family is being written */
const spd_op_def spd_ops_index[] = {{"", "", 0, 0, 0}};
const int spd_ops_index_count = 0;
