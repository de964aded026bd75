#include "ir/op.h"

/* placeholder: the elementwise family is being written */
const spd_op_def spd_ops_elementwise[] = {{"", "", 0, 0, 0}};
const int spd_ops_elementwise_count = 0;
