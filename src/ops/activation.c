#include "ir/op.h"

/* placeholder: the activation family is being written */
const spd_op_def spd_ops_activation[] = {{"", "", 0, 0, 0}};
const int spd_ops_activation_count = 0;
