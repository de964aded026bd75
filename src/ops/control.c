#include "ir/op.h"

/* placeholder: the control family is being written */
const spd_op_def spd_ops_control[] = {{"", "", 0, 0, 0}};
const int spd_ops_control_count = 0;
