/* The onednn backend against the native one, case by case.
 *
 *     test_onednn CASE_DIR...   (ONNX test-case folders: model.onnx + test_data_set_0/)
 *
 * Each case is compiled with both backends and run on its test inputs; the
 * outputs must agree within rtol 1e-4, atol 1e-5. The conformance cases feed
 * weights as graph inputs, which oneDNN cannot prepack, so every input after
 * the first is also frozen into an initializer (the way exported models hold
 * weights), once with all of them frozen and once with only the second (so a
 * Gemm's C stays a run-time input). Each variant runs twice, so the cached
 * primitives are used too. The int8_dynamic technique is checked loosely
 * (its error is the search's metric to judge), bf16 where the CPU has it.
 * Exits 0 when all agree, 1 otherwise, 77 when built without oneDNN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "ir/tensor.h"
#include "util/alloc.h"
#include "util/status.h"

#define MAX_IO 16

static int g_failed, g_passed, g_skipped;

static int read_data(const char *dir, const char *what, spd_tensor *t, int max)
{
    int n = 0;
    char path[4096];
    for (; n < max; n++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", dir, what, n);
        if (access(path, R_OK) != 0) break;
        if (spd_tensor_read_file(path, &t[n]) != SPD_OK) {
            printf("  %s: %s\n", path, spd_last_error());
            return -1;
        }
    }
    return n;
}

/* Makes graph input k an initializer holding v. */
static spd_status freeze_input(spd_graph *g, int k, const spd_tensor *v)
{
    spd_initializer *ni = spd_realloc(g->initializers, (size_t)(g->n_initializers + 1) * sizeof *ni);
    if (!ni) return SPD_ERR_NOMEM;
    g->initializers = ni;
    spd_initializer *in = &ni[g->n_initializers];
    memset(in, 0, sizeof *in);
    in->name = spd_strdup(g->inputs[k].name);
    if (!in->name || spd_tensor_copy(&in->tensor, v) != SPD_OK) {
        spd_free(in->name);
        return SPD_ERR_NOMEM;
    }
    g->n_initializers++;
    spd_value_info_clear(&g->inputs[k]);
    memmove(&g->inputs[k], &g->inputs[k + 1], (size_t)(g->n_inputs - k - 1) * sizeof *g->inputs);
    g->n_inputs--;
    return SPD_OK;
}

static bool close_enough(const spd_tensor *a, const spd_tensor *b, double rtol, double atol, double *worst)
{
    *worst = 0;
    if (a->dtype != b->dtype || !spd_tensor_same_shape(a, b)) return false;
    int64_t n = spd_tensor_numel(a);
    bool ok = true;
    for (int64_t i = 0; i < n; i++) {
        double x = spd_tensor_get(a, i), y = spd_tensor_get(b, i);
        double d = fabs(x - y);
        if (isnan(x) != isnan(y)) return false;
        if (d > *worst) *worst = d;
        if (d > atol + rtol * fabs(y)) ok = false;
    }
    return ok;
}

static spd_status run_backend(const spd_backend *b, const spd_model *m, spd_technique t, const spd_tensor *in, int n_in,
                              spd_tensor *out, int n_out, int repeat)
{
    spd_compile_opts o = {t, 0, {false, 0}, NULL, 0};
    spd_plan *plan = NULL;
    spd_status st = b->compile(m, &o, &plan);
    for (int r = 0; st == SPD_OK && r < repeat; r++) {
        for (int k = 0; k < n_out; k++) spd_tensor_release(&out[k]);
        memset(out, 0, (size_t)n_out * sizeof *out);
        st = b->run(plan, in, n_in, out, n_out);
    }
    if (plan) b->destroy(plan);
    return st;
}

/* One variant: inputs [1, n_frozen] become initializers. */
static void check_variant(const char *dir, const spd_backend *dn, int n_frozen, const spd_tensor *in, int n_in, int n_out)
{
    spd_model *m = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (spd_model_load(path, &m) != SPD_OK) {
        printf("SKIP %s: %s\n", dir, spd_last_error());
        g_skipped++;
        return;
    }
    spd_tensor ref[MAX_IO], got[MAX_IO];
    memset(ref, 0, sizeof ref);
    memset(got, 0, sizeof got);
    const spd_backend *nat = spd_backend_find("native");
    int frozen = 0;
    for (int k = 1; k <= n_frozen && k < n_in; k++) {
        if (freeze_input(m->graph, 1, &in[k]) != SPD_OK) goto out;
        frozen++;
    }
    const spd_tensor *run_in = in;
    int n_run = n_in;
    spd_tensor rest[MAX_IO];
    if (frozen) {
        rest[0] = in[0];
        for (int k = 1 + frozen; k < n_in; k++) rest[k - frozen] = in[k];
        run_in = rest;
        n_run = n_in - frozen;
    }
    if (run_backend(nat, m, SPD_TECH_FP32, run_in, n_run, ref, n_out, 1) != SPD_OK) {
        printf("SKIP %s (frozen %d): native: %s\n", dir, frozen, spd_last_error());
        g_skipped++;
        goto out;
    }
    static const spd_technique techs[] = {SPD_TECH_FP32, SPD_TECH_BF16, SPD_TECH_INT8_DYNAMIC};
    for (size_t ti = 0; ti < sizeof techs / sizeof techs[0]; ti++) {
        spd_technique t = techs[ti];
        if (!dn->supports(t)) continue;
        if (run_backend(dn, m, t, run_in, n_run, got, n_out, 2) != SPD_OK) {
            printf("FAIL %s (frozen %d, %s): onednn: %s\n", dir, frozen, spd_technique_name(t), spd_last_error());
            g_failed++;
            continue;
        }
        /* lossy techniques: a loose sanity bound, relative to the output's size */
        bool ok = true;
        double worst = 0, w;
        for (int k = 0; k < n_out; k++) {
            double scale = 0;
            for (int64_t i = 0; i < spd_tensor_numel(&ref[k]); i++) scale = fmax(scale, fabs(spd_tensor_get(&ref[k], i)));
            bool c = t == SPD_TECH_FP32 ? close_enough(&got[k], &ref[k], 1e-4, 1e-5, &w)
                                        : close_enough(&got[k], &ref[k], 0, 0.05 * scale + 1e-3, &w);
            ok = ok && c;
            if (w > worst) worst = w;
        }
        printf("%s %s (frozen %d, %s): max |diff| %.3g\n", ok ? "ok  " : "FAIL", dir, frozen, spd_technique_name(t), worst);
        if (getenv("SPD_TEST_DUMP"))
            for (int64_t i = 0; i < spd_tensor_numel(&got[0]) && i < 16; i++)
                printf("  %g %g\n", spd_tensor_get(&got[0], i), spd_tensor_get(&ref[0], i));
        if (ok) g_passed++;
        else g_failed++;
        for (int k = 0; k < n_out; k++) spd_tensor_release(&got[k]);
    }
out:
    for (int k = 0; k < n_out; k++) {
        spd_tensor_release(&ref[k]);
        spd_tensor_release(&got[k]);
    }
    spd_model_free(m);
}

int main(int argc, char **argv)
{
    const spd_backend *dn = spd_backend_find("onednn");
    if (!dn) {
        printf("onednn backend not built (no oneDNN): skipped\n");
        return 77;
    }
    spd_device cpu = {false, 0};
    if (dn->probe(&cpu) != SPD_OK) {
        printf("onednn unusable here: %s\n", spd_last_error());
        return 77;
    }
    for (int a = 1; a < argc; a++) {
        spd_tensor in[MAX_IO], exp[MAX_IO];
        memset(in, 0, sizeof in);
        memset(exp, 0, sizeof exp);
        int n_in = read_data(argv[a], "input", in, MAX_IO);
        int n_out = read_data(argv[a], "output", exp, MAX_IO);
        if (n_in < 1 || n_out < 1) {
            printf("SKIP %s: no test data\n", argv[a]);
            g_skipped++;
        } else {
            check_variant(argv[a], dn, 0, in, n_in, n_out);
            if (n_in > 1) check_variant(argv[a], dn, n_in - 1, in, n_in, n_out);
            if (n_in > 2) check_variant(argv[a], dn, 1, in, n_in, n_out);
        }
        for (int k = 0; k < MAX_IO; k++) {
            spd_tensor_release(&in[k]);
            spd_tensor_release(&exp[k]);
        }
    }
    printf("%d passed, %d failed, %d skipped\n", g_passed, g_failed, g_skipped);
    return g_failed ? 1 : 0;
}
