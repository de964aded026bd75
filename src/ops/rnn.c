#include "ir/op.h"

/* placeholder: the rnn family is being written */
const spd_op_def spd_ops_rnn[] = {{"", "", 0, 0, 0}};
const int spd_ops_rnn_count = 0;
