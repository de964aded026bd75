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
 * (its error is the search's metric to judge), bf16 and fp16 where the CPU
 * runs them natively (a SKIP line says why not elsewhere).
 * Static int8 is calibrated on the test inputs and scaled/noisy copies of
 * them; its outputs must stay within a relative L2 error of 5% of native
 * fp32, and compiling it without calibration samples must fail cleanly.
 * int8 and int8_dynamic plans are saved the way a learner is (model.onnx
 * with QuantizeLinear/DequantizeLinear from opset 13, else the legacy scales
 * file) and loaded without samples: the outputs must be identical. The
 * accuracy fallback is driven by a stand-in for the search's metric (the
 * relative L2 error against native fp32) with a threshold below the int8
 * error: the plan it returns must be within that threshold.
 * Exits 0 when all agree, 1 otherwise, 77 when built without oneDNN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "io/onnx.h"
#include "ir/tensor.h"
#include "util/alloc.h"
#include "util/status.h"

#define MAX_IO 16

static int g_failed, g_passed, g_skipped;
static int g_partial; /* fallbacks that kept some nodes int8 */

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
    spd_compile_opts o = {t, 0, {false, 0}, NULL, 0, NULL, 0};
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

#define N_CALIB 8

/* Relative L2 error of got against ref over all float outputs. */
static double rel_l2(const spd_tensor *got, const spd_tensor *ref, int n_out)
{
    double d = 0, r = 0;
    for (int k = 0; k < n_out; k++) {
        if (!spd_tensor_same_shape(&got[k], &ref[k]) || got[k].dtype != ref[k].dtype) return INFINITY;
        for (int64_t i = 0; i < spd_tensor_numel(&ref[k]); i++) {
            double x = spd_tensor_get(&got[k], i), y = spd_tensor_get(&ref[k], i);
            d += (x - y) * (x - y);
            r += y * y;
        }
    }
    return r > 0 ? sqrt(d / r) : d > 0 ? INFINITY : 0;
}

static void remove_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/onednn_int8.txt", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    unlink(path);
    rmdir(dir);
}

/* Saves plan as a learner does (the exported model.onnx and the backend's
 * files) into a fresh folder and loads it back without samples; compares
 * the loaded plan's outputs with got (identical required). */
static bool check_save_load(const char *dir, const spd_backend *dn, spd_plan *plan, const spd_model *m, spd_technique t,
                            int frozen, const spd_tensor *in, int n_in, const spd_tensor *got, int n_out)
{
    char tmpl[] = "/tmp/spd_int8_XXXXXX", path[4200];
    char *tdir = mkdtemp(tmpl);
    spd_model *ex = NULL, *m2 = NULL;
    spd_plan *loaded = NULL;
    spd_tensor again[MAX_IO];
    memset(again, 0, sizeof again);
    bool ok = false;
    if (!tdir) return false;
    snprintf(path, sizeof path, "%s/model.onnx", tdir);
    spd_compile_opts lo = {t, 0, {false, 0}, NULL, 0, NULL, 2};
    if ((dn->export_model && dn->export_model(plan, m, &ex) != SPD_OK) || spd_onnx_save(ex ? ex : m, path) != SPD_OK ||
        (dn->save && dn->save(plan, tdir) != SPD_OK) || spd_model_load(path, &m2) != SPD_OK ||
        dn->load(tdir, m2, &lo, &loaded) != SPD_OK || dn->run(loaded, in, n_in, again, n_out) != SPD_OK) {
        printf("FAIL %s (frozen %d, %s): save/load: %s\n", dir, frozen, spd_technique_name(t), spd_last_error());
    } else if (rel_l2(again, got, n_out) != 0) {
        printf("FAIL %s (frozen %d, %s): the loaded learner differs (rel err %.3g)\n", dir, frozen,
               spd_technique_name(t), rel_l2(again, got, n_out));
    } else {
        ok = true;
    }
    if (loaded) dn->destroy(loaded);
    spd_model_free(m2);
    spd_model_free(ex);
    for (int k = 0; k < MAX_IO; k++) spd_tensor_release(&again[k]);
    remove_dir(tdir);
    return ok;
}

typedef struct bound_plan {
    const spd_backend *b;
    spd_plan *p;
} bound_plan;

static spd_status run_bound(void *ctx, const spd_tensor *in, int n_in, spd_tensor *out, int n_out)
{
    bound_plan *bp = ctx;
    return bp->b->run(bp->p, in, n_in, out, n_out);
}

/* The search's judge, stood in for by the relative L2 error against the
 * native fp32 outputs on one sample. */
typedef struct fake_check {
    const spd_tensor *in, *ref;
    int n_in, n_out;
    int calls;
} fake_check;

static spd_status fake_measure(void *user, spd_run_fn run, void *ctx, double *drop)
{
    fake_check *f = user;
    spd_tensor out[MAX_IO];
    memset(out, 0, sizeof out);
    f->calls++;
    spd_status st = run(ctx, f->in, f->n_in, out, f->n_out);
    *drop = st == SPD_OK ? rel_l2(out, f->ref, f->n_out) : INFINITY;
    for (int k = 0; k < f->n_out; k++) spd_tensor_release(&out[k]);
    return st;
}

/* The accuracy fallback on technique t: with a threshold half the plain
 * int8 error, the plan must come back within it (nodes returned to fp32),
 * and with a loose threshold nothing changes. */
static void check_fallback(const char *dir, const spd_backend *dn, const spd_model *m, spd_technique t, int frozen,
                           const spd_sample_view *views, int n_views, const spd_tensor *ref, int n_out)
{
    fake_check f = {views[0].inputs, ref, views[0].n_inputs, n_out, 0};
    spd_drop_check loose = {fake_measure, &f, 1e30, "rel L2"};
    spd_compile_opts o = {t, 0, {false, 0}, views, n_views, &loose, 0};
    spd_plan *plan = NULL;
    double d0 = INFINITY, d1 = INFINITY;
    char where[1024] = "";
    if (dn->compile(m, &o, &plan) != SPD_OK || fake_measure(&f, run_bound, &(bound_plan){dn, plan}, &d0) != SPD_OK) {
        printf("FAIL %s (frozen %d, %s fallback): %s\n", dir, frozen, spd_technique_name(t), spd_last_error());
        g_failed++;
        if (plan) dn->destroy(plan);
        return;
    }
    dn->destroy(plan);
    plan = NULL;
    if (!(d0 > 1e-5)) {
        printf("SKIP %s (frozen %d, %s fallback): int8 error %.3g, nothing to fall back from\n", dir, frozen,
               spd_technique_name(t), d0);
        g_skipped++;
        return;
    }
    spd_drop_check tight = {fake_measure, &f, d0 * 0.75, "rel L2"};
    o.check = &tight;
    bool ok;
    if (dn->compile(m, &o, &plan) != SPD_OK) {
        /* when every node must go, the technique fails rather than pose as int8 */
        ok = strstr(spd_last_error(), "nothing is left in int8") != NULL;
        snprintf(where, sizeof where, "%s", spd_last_error());
    } else {
        ok = fake_measure(&f, run_bound, &(bound_plan){dn, plan}, &d1) == SPD_OK;
        if (ok) dn->placement(plan, where, sizeof where);
        ok = ok && d1 <= tight.threshold && strstr(where, "fp32: ") && strstr(where, "accuracy fallback");
        g_partial += ok;
    }
    printf("%s %s (frozen %d, %s fallback): error %.3g -> %.3g (threshold %.3g); %s\n", ok ? "ok  " : "FAIL", dir,
           frozen, spd_technique_name(t), d0, d1, tight.threshold, ok ? where : spd_last_error());
    if (ok) g_passed++;
    else g_failed++;
    if (plan) dn->destroy(plan);
}

/* Static int8: calibrated on the inputs and N_CALIB-1 scaled, noisy copies
 * of them (only float inputs change), checked against ref; then saved and
 * loaded without samples, which must reproduce the outputs exactly. Also
 * checks that compiling without samples fails with a message. */
static void check_int8_static(const char *dir, const spd_backend *dn, const spd_model *m, const spd_tensor *in,
                              int n_in, const spd_tensor *ref, int n_out, int frozen)
{
    spd_tensor copies[N_CALIB][MAX_IO], got[MAX_IO];
    spd_sample_view views[N_CALIB];
    memset(copies, 0, sizeof copies);
    memset(got, 0, sizeof got);
    uint32_t rng = 12345;
    bool ok = true;
    spd_plan *plan = NULL;
    views[0] = (spd_sample_view){in, n_in};
    for (int c = 1; c < N_CALIB; c++) {
        float gain = 0.6f + 0.1f * (float)c;
        for (int k = 0; k < n_in; k++) {
            if (spd_tensor_copy(&copies[c][k], &in[k]) != SPD_OK) goto out;
            if (copies[c][k].dtype != SPD_FLOAT) continue;
            float *x = copies[c][k].data;
            for (int64_t i = 0; i < spd_tensor_numel(&in[k]); i++) {
                rng = rng * 1664525u + 1013904223u;
                x[i] = x[i] * gain + 0.05f * ((float)(rng >> 8) / (float)(1u << 24) - 0.5f);
            }
        }
        views[c] = (spd_sample_view){copies[c], n_in};
    }
    /* no samples: a clean error, no plan */
    spd_compile_opts none = {SPD_TECH_INT8, 0, {false, 0}, NULL, 0, NULL, 0};
    if (dn->compile(m, &none, &plan) == SPD_OK || plan || !strstr(spd_last_error(), "calibration")) {
        printf("FAIL %s (frozen %d, int8): compile without calibration samples did not fail cleanly (%s)\n", dir,
               frozen, spd_last_error());
        ok = false;
        if (plan) dn->destroy(plan);
        plan = NULL;
    }
    spd_compile_opts o = {SPD_TECH_INT8, 0, {false, 0}, views, N_CALIB, NULL, 0};
    if (dn->compile(m, &o, &plan) != SPD_OK) {
        printf("FAIL %s (frozen %d, int8): compile: %s\n", dir, frozen, spd_last_error());
        g_failed++;
        goto out;
    }
    for (int r = 0; r < 2 && ok; r++) {
        for (int k = 0; k < n_out; k++) spd_tensor_release(&got[k]);
        if (dn->run(plan, in, n_in, got, n_out) != SPD_OK) {
            printf("FAIL %s (frozen %d, int8): run: %s\n", dir, frozen, spd_last_error());
            ok = false;
        }
    }
    double err = ok ? rel_l2(got, ref, n_out) : INFINITY;
    char where[512] = "";
    if (dn->placement) dn->placement(plan, where, sizeof where);
    if (!(err < 0.05)) ok = false;
    /* saved and loaded without samples: the same scales, the same outputs */
    if (ok && !check_save_load(dir, dn, plan, m, SPD_TECH_INT8, frozen, in, n_in, got, n_out)) ok = false;
    printf("%s %s (frozen %d, int8): rel L2 err %.3g; %s\n", ok ? "ok  " : "FAIL", dir, frozen, err, where);
    if (ok) g_passed++;
    else g_failed++;
    check_fallback(dir, dn, m, SPD_TECH_INT8, frozen, views, N_CALIB, ref, n_out);
out:
    if (plan) dn->destroy(plan);
    for (int k = 0; k < MAX_IO; k++) {
        spd_tensor_release(&got[k]);
        for (int c = 0; c < N_CALIB; c++) spd_tensor_release(&copies[c][k]);
    }
}

/* int8_dynamic: saved and loaded to the same outputs; the fallback. */
static void check_int8_dynamic(const char *dir, const spd_backend *dn, const spd_model *m, const spd_tensor *in,
                               int n_in, const spd_tensor *ref, int n_out, int frozen)
{
    spd_tensor got[MAX_IO];
    memset(got, 0, sizeof got);
    spd_compile_opts o = {SPD_TECH_INT8_DYNAMIC, 0, {false, 0}, NULL, 0, NULL, 0};
    spd_plan *plan = NULL;
    bool ok = dn->compile(m, &o, &plan) == SPD_OK && dn->run(plan, in, n_in, got, n_out) == SPD_OK;
    if (!ok) printf("FAIL %s (frozen %d, int8_dynamic): %s\n", dir, frozen, spd_last_error());
    else ok = check_save_load(dir, dn, plan, m, SPD_TECH_INT8_DYNAMIC, frozen, in, n_in, got, n_out);
    if (ok) printf("ok   %s (frozen %d, int8_dynamic): saved and loaded to identical outputs\n", dir, frozen);
    if (ok) g_passed++;
    else g_failed++;
    if (plan) dn->destroy(plan);
    for (int k = 0; k < MAX_IO; k++) spd_tensor_release(&got[k]);
    spd_sample_view view = {in, n_in};
    check_fallback(dir, dn, m, SPD_TECH_INT8_DYNAMIC, frozen, &view, 1, ref, n_out);
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
    /* per technique: fp32 to 1e-4; the lossy ones to a share of the output's
     * largest magnitude (bf16 keeps 8 bits of mantissa, fp16 11) */
    static const spd_technique techs[] = {SPD_TECH_FP32, SPD_TECH_BF16, SPD_TECH_FP16, SPD_TECH_INT8_DYNAMIC};
    static const double tol[] = {0, 0.05, 0.01, 0.05};
    static bool said[SPD_TECH_COUNT];
    for (size_t ti = 0; ti < sizeof techs / sizeof techs[0]; ti++) {
        spd_technique t = techs[ti];
        if (!dn->supports(t)) {
            if (!said[t])
                printf("SKIP onednn %s on every case: %s\n", spd_technique_name(t),
                       dn->unsupported_reason && dn->unsupported_reason(t) ? dn->unsupported_reason(t) : "not supported");
            said[t] = true;
            continue;
        }
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
                                        : close_enough(&got[k], &ref[k], 0, tol[ti] * scale + 1e-3, &w);
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
    if (dn->supports(SPD_TECH_INT8_DYNAMIC)) check_int8_dynamic(dir, dn, m, run_in, n_run, ref, n_out, frozen);
    if (dn->supports(SPD_TECH_INT8)) check_int8_static(dir, dn, m, run_in, n_run, ref, n_out, frozen);
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
    printf("%d passed, %d failed, %d skipped; %d fallbacks kept some nodes int8\n", g_passed, g_failed, g_skipped,
           g_partial);
    return g_failed ? 1 : 0;
}
