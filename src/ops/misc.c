#include "ir/op.h"

/* placeholder: the misc family is being written */
const spd_op_def spd_ops_misc[] = {{"", "", 0, 0, 0}};
const int spd_ops_misc_count = 0;
