/* Input samples for the search, and the 80/20 split rule. */
#ifndef SPD_OPTIMIZE_DATASET_H
#define SPD_OPTIMIZE_DATASET_H

#include "speedster.h"

typedef struct spd_sample {
    int n_inputs;
    spd_tensor *inputs;
    spd_tensor label;   /* dtype SPD_UNDEFINED when none */
} spd_sample;

struct spd_dataset {
    int n;
    spd_sample *samples;
};

/* With at least 100 samples the first 80% calibrate and the last 20%
 * validate; below that every sample does both. */
void spd_dataset_split(const spd_dataset *d, int *calib_begin, int *calib_end, int *val_begin, int *val_end);
int spd_dataset_has_labels(const spd_dataset *d);

#endif
