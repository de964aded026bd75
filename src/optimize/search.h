/* The candidate search behind spd_optimize_model. */
#ifndef SPD_OPTIMIZE_SEARCH_H
#define SPD_OPTIMIZE_SEARCH_H

#include "backends/backend.h"
#include "optimize/latency.h"
#include "optimize/options.h"

typedef enum { CAND_OK, CAND_REJECTED, CAND_FAILED, CAND_SKIPPED } spd_cand_state;

typedef struct spd_candidate {
    const spd_backend *backend;   /* NULL for the original model */
    spd_technique technique;
    bool optimized_graph;
    spd_model *model;             /* owned when optimized_graph */
    spd_plan *plan;
    spd_cand_state state;
    char reason[512];
    spd_latency lat;
    double metric_drop;           /* on the user's metric */
    double numeric_precision;
    size_t arena_bytes;           /* the memory plan's arena for intermediates (0: unknown) */
} spd_candidate;

/* The results table (and the suggestions below a 2x speed-up). */
char *spd_report_table(const spd_candidate *original, const spd_candidate *best, const spd_resolved_options *r,
                       const char *metric_name, double size_orig_mb, double size_best_mb, const char *passes_summary);
/* <model stem>_latencies_<10 hex>.json in dir; *path_out is spd_free'd by the caller. */
spd_status spd_write_latencies(const char *dir, const char *model_path, const spd_candidate *cands, int n,
                               const char *metric_name, char **path_out);

#endif
