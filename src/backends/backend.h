/* A backend ("compiler" in Speedster's words) is a static table of functions.
 * The core never names a backend except in the one list of registry.c. */
#ifndef SPD_BACKENDS_BACKEND_H
#define SPD_BACKENDS_BACKEND_H

#include <stdbool.h>
#include "ir/graph.h"

/* The techniques of the search, in the names users see. */
typedef enum spd_technique {
    SPD_TECH_FP32,
    SPD_TECH_FP16,
    SPD_TECH_BF16,
    SPD_TECH_INT8,
    SPD_TECH_INT8_DYNAMIC,
    SPD_TECH_COUNT
} spd_technique;

const char *spd_technique_name(spd_technique t);
/* Techniques that change the numbers beyond fp32 rounding. */
bool spd_technique_is_lossy(spd_technique t);

typedef struct spd_device {
    bool gpu;
    int index;
} spd_device;

typedef struct spd_sample_view {
    const spd_tensor *inputs; /* one per user input of the model */
    int n_inputs;
} spd_sample_view;

/* Runs a model (a plan under construction, say) on one sample. */
typedef spd_status (*spd_run_fn)(void *ctx, const spd_tensor *in, int n_in, spd_tensor *out, int n_out);

/* The search's judge, lent to a backend's accuracy fallback: `measure` runs
 * `run` on the validation samples and gives the drop of the user's metric
 * against the original model's outputs there, exactly as the search will
 * judge the finished candidate; the candidate passes when the drop is at
 * most `threshold`. */
typedef struct spd_drop_check {
    spd_status (*measure)(void *user, spd_run_fn run, void *run_ctx, double *drop);
    void *user;
    double threshold;
    const char *metric_name;
} spd_drop_check;

typedef struct spd_compile_opts {
    spd_technique technique;
    int threads;
    spd_device device;
    /* The calibration split of the user's samples (static int8 needs it);
     * NULL/0 when compiling a saved learner. Valid during compile only. */
    const spd_sample_view *calib;
    int n_calib;
    /* Lossy techniques during the search: the user's metric and threshold,
     * for returning nodes to fp32. NULL otherwise. Valid during compile only. */
    const spd_drop_check *check;
    /* load: the learner's format_version (older learners keep their
     * layout); 0 when compiling. */
    int saved_format;
} spd_compile_opts;

typedef struct spd_plan spd_plan; /* each backend defines its own */

typedef struct spd_backend {
    const char *name;        /* what ignore_compilers takes */
    const char *description; /* for the report */
    /* SPD_OK when usable on dev; otherwise the reason in spd_last_error(). */
    spd_status (*probe)(const spd_device *dev);
    /* Whether it runs technique t at all, and node n in it. */
    bool (*supports)(spd_technique t);
    /* Why supports(t) is false here, for the log (may be NULL). */
    const char *(*unsupported_reason)(spd_technique t);
    bool (*claims)(const spd_node *n, spd_technique t);
    /* m outlives the plan. */
    spd_status (*compile)(const spd_model *m, const spd_compile_opts *o, spd_plan **out);
    spd_status (*run)(spd_plan *plan, const spd_tensor *in, int n_in, spd_tensor *out, int n_out);
    /* Backend files beside the learner's model.onnx (may be NULL: nothing to save). */
    spd_status (*save)(const spd_plan *plan, const char *dir);
    spd_status (*load)(const char *dir, const spd_model *m, const spd_compile_opts *o, spd_plan **out);
    /* The graph to save as the learner's model.onnx when the plan computes
     * more than m says (quantization, as QuantizeLinear/DequantizeLinear);
     * *out = NULL: m as it is. May be NULL. *out is freed with spd_model_free. */
    spd_status (*export_model)(const spd_plan *plan, const spd_model *m, spd_model **out);
    void (*destroy)(spd_plan *plan);
    /* Which backend runs how many nodes, and which operators fell back to
     * native (may be NULL: the backend runs every node itself). */
    void (*placement)(const spd_plan *plan, char *buf, size_t n);
    /* Bytes of the plan's arena for intermediates (runtime/memplan.h), laid
     * out once the plan has run twice on the same shapes; may be NULL. */
    size_t (*arena_bytes)(const spd_plan *plan);
} spd_backend;

int spd_backend_count(void);
const spd_backend *spd_backend_at(int i);
const spd_backend *spd_backend_find(const char *name);

#endif
