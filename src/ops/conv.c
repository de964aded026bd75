#include "ir/op.h"

/* placeholder: the conv family is being written */
const spd_op_def spd_ops_conv[] = {{"", "", 0, 0, 0}};
const int spd_ops_conv_count = 0;
