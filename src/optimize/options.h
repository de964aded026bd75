/* The options of optimize_model, checked and resolved before any work. */
#ifndef SPD_OPTIMIZE_OPTIONS_H
#define SPD_OPTIMIZE_OPTIONS_H

#include <stdbool.h>
#include "backends/backend.h"
#include "speedster.h"

typedef struct spd_dyn_axis {
    int input;            /* input index */
    int axis;
    char *name;
    int64_t min, opt, max;
} spd_dyn_axis;

typedef struct spd_dyn_out_axis {
    int output, axis;
    char *name;
} spd_dyn_out_axis;

typedef struct spd_dynamic_info {
    int n_axes;
    spd_dyn_axis *axes;
    int n_out_axes;
    spd_dyn_out_axis *out_axes;
} spd_dynamic_info;

spd_status spd_dynamic_info_parse_file(const char *path, spd_dynamic_info *out);
void spd_dynamic_info_free(spd_dynamic_info *d);
/* Checks shape t of input i against the ranges; fixed axes are the graph's. */
spd_status spd_dynamic_info_check(const spd_dynamic_info *d, int input, const char *input_name, const spd_tensor *t);

typedef enum { SPD_METRIC_NUMERIC_PRECISION, SPD_METRIC_ACCURACY, SPD_METRIC_USER } spd_metric_kind;

/* Everything resolved from spd_optimize_options. */
typedef struct spd_resolved_options {
    spd_metric_kind metric;
    double threshold;
    bool unconstrained;
    spd_dynamic_info dyn;
    bool has_dyn;
    bool ignored_backend[16];    /* by index in the backend registry */
    char *notes[32];             /* lines for the log: warnings, names not in this build */
    int n_notes;
    spd_device device;
    char device_name[64];
    int threads;
} spd_resolved_options;

spd_status spd_options_resolve(const spd_optimize_options *o, spd_resolved_options *r);
void spd_options_clear(spd_resolved_options *r);

/* The compression config (JSON or a YAML subset): validated, unknown keys
 * reported as errors naming the key. */
spd_status spd_config_file_check(const char *path, char **summary);

#endif
