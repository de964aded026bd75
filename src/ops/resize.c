#include "ir/op.h"

/* placeholder: the resize family is being written */
const spd_op_def spd_ops_resize[] = {{"", "", 0, 0, 0}};
const int spd_ops_resize_count = 0;
