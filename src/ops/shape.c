#include "ir/op.h"

/* placeholder: the shape family is being written */
const spd_op_def spd_ops_shape[] = {{"", "", 0, 0, 0}};
const int spd_ops_shape_count = 0;
