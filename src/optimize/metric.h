/* The metrics of the search. Each compares a candidate's outputs with the
 * original model's on the validation samples. */
#ifndef SPD_OPTIMIZE_METRIC_H
#define SPD_OPTIMIZE_METRIC_H

#include "optimize/options.h"

/* mean over elements of |a-b| / (max(|a|,|b|) + 1e-5), max over outputs. */
double spd_numeric_precision(const spd_tensor *orig, const spd_tensor *cand, int n_outputs);
/* 1 when argmax of output 0 (over its last axis, every row) equals the
 * label, as a fraction of rows. */
spd_status spd_sample_accuracy(const spd_tensor *out0, const spd_tensor *label, double *acc);

#endif
