/* The results table, the acceleration suggestions, and the latencies file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "optimize/search.h"
#include "util/alloc.h"
#include "util/strbuf.h"
#include "util/cpu.h"
#include "util/json.h"
#include "util/status.h"


static void row(spd_strbuf *b, const char *metric, const char *orig, const char *opt, const char *impr)
{
    spd_strbuf_printf(b, "| %-12s | %-24s | %-32s | %-11s |\n", metric, orig, opt, impr);
}

char *spd_report_table(const spd_candidate *o, const spd_candidate *w, const spd_resolved_options *r,
                       const char *metric_name, double size_o, double size_w, const char *passes_summary)
{
    spd_strbuf b;
    spd_strbuf_init(&b);
    if (!b.s) return NULL;
    char x[64], y[64], z[64];
    double speedup = w->lat.median_s > 0 ? o->lat.median_s / w->lat.median_s : 0;
    spd_strbuf_printf(&b, "[Speedster results on %s]\n", r->device.gpu ? "GPU" : spd_cpu_name());
    row(&b, "Metric", "Original Model", "Optimized Model", "Improvement");
    spd_strbuf_printf(&b, "|--------------|--------------------------|----------------------------------|-------------|\n");
    row(&b, "backend", "ONNX (interpreted)", w->backend->name, "");
    snprintf(x, sizeof x, "%.6f sec/batch", o->lat.median_s);
    snprintf(y, sizeof y, "%.6f sec/batch", w->lat.median_s);
    snprintf(z, sizeof z, "%.2fx", speedup);
    row(&b, "latency", x, y, z);
    snprintf(x, sizeof x, "%.2f data/sec", o->lat.throughput);
    snprintf(y, sizeof y, "%.2f data/sec", w->lat.throughput);
    snprintf(z, sizeof z, "%.2fx", o->lat.throughput > 0 ? w->lat.throughput / o->lat.throughput : 0);
    row(&b, "throughput", x, y, z);
    snprintf(x, sizeof x, "%.2f MB", size_o);
    snprintf(y, sizeof y, "%.2f MB", size_w);
    snprintf(z, sizeof z, "%+.0f%%", size_o > 0 ? (size_w - size_o) / size_o * 100 : 0);
    row(&b, "model size", x, y, z);
    /* Intermediates: the memory plan's arena (weights are the model size). */
    if (o->arena_bytes || w->arena_bytes) {
        const double ao = (double)o->arena_bytes / 1e6, aw = (double)w->arena_bytes / 1e6;
        snprintf(x, sizeof x, "%.2f MB", ao);
        snprintf(y, sizeof y, "%.2f MB", aw);
        snprintf(z, sizeof z, "%+.0f%%", ao > 0 ? (aw - ao) / ao * 100 : 0);
        row(&b, "activations", x, y, z);
    }
    snprintf(y, sizeof y, "%.4g (%s)", w->metric_drop, metric_name);
    row(&b, "metric drop", "", y, "");
    snprintf(y, sizeof y, "%s%s", spd_technique_name(w->technique), w->optimized_graph ? ", graph passes" : "");
    row(&b, "techniques", "", y, "");
    if (passes_summary && *passes_summary) spd_strbuf_printf(&b, "graph passes: %s\n", passes_summary);
    if (speedup < 2.0) {
        spd_strbuf_printf(&b, "\nThe speed-up is below 2x. You could:\n");
        if (r->threshold <= 0)
            spd_strbuf_printf(&b, "- allow reduced precision: raise metric_drop_ths (e.g. to 0.05) so that bf16/int8 candidates are tried\n");
        else
            spd_strbuf_printf(&b, "- raise metric_drop_ths further (e.g. by 0.05), if your application allows it\n");
        if (r->threads < 2) spd_strbuf_printf(&b, "- give the model more threads (NEBULLVM_THREADS_PER_MODEL or --threads)\n");
        const spd_cpu_features *f = spd_cpu();
        if ((f->amx_bf16 || f->avx512_vnni) && !spd_backend_find("onednn"))
            spd_strbuf_printf(&b, "- this CPU has %s%s, which a oneDNN-based backend (libdnnl-dev) would use for bf16/int8\n",
                f->amx_bf16 ? "AMX tiles" : "", f->avx512_vnni ? (f->amx_bf16 ? " and AVX512-VNNI" : "AVX512-VNNI") : "");
        spd_strbuf_printf(&b, "- try the model on other hardware, e.g. a GPU machine\n");
    }
    return b.s;
}

static const char *state_reason(const spd_candidate *c)
{
    return c->reason[0] ? c->reason : "failed";
}

spd_status spd_write_latencies(const char *dir, const char *model_path, const spd_candidate *c, int n,
                               const char *metric_name, char **path_out)
{
    *path_out = NULL;
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    /* 10 hex characters from the time and process: distinct per run. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long h = 1469598103934665603ull ^ (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
                           ((unsigned long long)getpid() << 40);
    h *= 1099511628211ull;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s_latencies_%010llx.json", dir && *dir ? dir : ".", stem, h & 0xffffffffffull);
    FILE *f = fopen(path, "w");
    if (!f) return spd_errorf(SPD_ERR_IO, "store_latencies: cannot write %s: %s", path, strerror(errno));
    fputs("{\"optimizations\": [\n", f);
    for (int i = 0; i < n; i++) {
        const spd_candidate *x = &c[i];
        int is_orig = x->backend == NULL;
        int ok = is_orig || x->state == CAND_OK;
        int timed = ok || (x->state == CAND_SKIPPED && x->lat.median_s > 0);
        fputs("  {\"compiler\": ", f);
        spd_json_write_string(f, is_orig ? "original" : x->backend->name);
        fputs(", \"technique\": ", f);
        spd_json_write_string(f, is_orig ? "original" : spd_technique_name(x->technique));
        /* A technique no backend has was never compiled: no graph to name. */
        int compiled = !is_orig && !(x->state == CAND_SKIPPED && x->lat.median_s <= 0);
        if (compiled) fprintf(f, ", \"graph\": \"%s\"", x->optimized_graph ? "optimized" : "original");
        fprintf(f, ", \"latency\": %.9g", timed ? x->lat.median_s : -1.0);
        if (timed) fprintf(f, ", \"p90\": %.9g, \"throughput\": %.9g", x->lat.p90_s, x->lat.throughput);
        if (ok) fprintf(f, ", \"metric_loss\": %.9g", is_orig ? 0.0 : x->metric_drop);
        else fputs(", \"metric_loss\": null", f);
        fputs(", \"metric\": ", f);
        spd_json_write_string(f, metric_name);
        if (!ok) {
            fputs(", \"reason\": ", f);
            spd_json_write_string(f, state_reason(x));
        }
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fputs("]}\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return spd_errorf(SPD_ERR_IO, "store_latencies: write to %s failed", path);
    *path_out = spd_strdup(path);
    return SPD_OK;
}
