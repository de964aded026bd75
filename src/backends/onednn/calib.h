/* Static int8 calibration for the onednn backend (internal to the backend).
 *
 * The backend hands over its program with every candidate node running in
 * fp32 and a function that switches one node to int8 with a given
 * activation scale (or back to fp32). Calibration runs the program over the
 * calibration samples, learns each candidate's input range, picks the
 * activation scales (min/max or a percentile of |x|, whichever keeps the
 * model's outputs closer to fp32 on those samples, or the smaller drop of
 * the user's metric when the search lends it), and, when the outputs still
 * drift too far, returns the nodes that hurt most to fp32. */
#ifndef SPD_BACKENDS_ONEDNN_CALIB_H
#define SPD_BACKENDS_ONEDNN_CALIB_H

#include <stdbool.h>

#include "backends/backend.h"
#include "runtime/program.h"

/* Switches node state `state` to int8 (on) with activation scale `scale`,
 * u8 activations when is_u8 (else s8), or back to fp32 (!on). */
typedef spd_status (*spd_q8_set_fn)(void *state, bool on, float scale, bool is_u8);

typedef struct spd_q8_cand {
    int node;          /* index into prog->nodes */
    int in_value;      /* the quantized activation (the node's input 0) */
    int out_value;     /* the node's output 0 */
    float scale;
    bool is_u8;
    bool on;           /* runs in int8 */
    bool seen;         /* the input was observed as float data */
} spd_q8_cand;

typedef struct spd_q8_report {
    const char *method;       /* "minmax" or "percentile"; NULL: no calibration (int8_dynamic) */
    double err_minmax;        /* relative L2 error of the outputs on the calibration samples */
    double err_percentile;    /* < 0 when not tried */
    double err_final;
    bool by_metric;           /* the fallback followed the user's metric (the search's judge) */
    const char *metric_name;
    double initial, final;    /* what the fallback minimised, before and after it */
    int levels;               /* fallback groups tried */
    int n_measured;           /* scorings (each one a run over the validation samples) */
    int n_fallback;           /* candidates returned to fp32 by the accuracy fallback */
} spd_q8_report;

/* Relative L2 error of the model outputs above which the fallback starts
 * when no metric was lent (compiling outside the search). */
#define SPD_Q8_FALLBACK_BUDGET 0.05

/* Calibrates candidates c[0..n) of p (all running fp32 on entry) on the
 * samples and leaves each either on (int8, with its scale) or off. With a
 * check, the scale method and the fallback follow the user's metric: nodes
 * return to fp32, worst first, until the drop is within its threshold or
 * nothing more is gained. */
spd_status spd_onednn_calibrate(spd_program *p, spd_q8_cand *c, int n, spd_q8_set_fn set,
                                const spd_sample_view *calib, int n_calib, const spd_drop_check *check,
                                spd_q8_report *rep);

/* int8_dynamic: candidates c[0..n) are on at entry (no scales to learn);
 * with a check, the same fallback (sample 0 of calib ranks the nodes).
 * Without one, nothing changes. */
spd_status spd_onednn_fallback(spd_program *p, spd_q8_cand *c, int n, spd_q8_set_fn set,
                               const spd_sample_view *calib, int n_calib, const spd_drop_check *check,
                               spd_q8_report *rep);

#endif
