#include "ir/op.h"

/* placeholder: the quant family is being written */
const spd_op_def spd_ops_quant[] = {{"", "", 0, 0, 0}};
const int spd_ops_quant_count = 0;
