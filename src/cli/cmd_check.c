/* speedster check: runs ONNX conformance cases (model.onnx plus
 * test_data_set_N/{input,output}_K.pb) and compares with the expected
 * outputs the way the ONNX backend tests do: |a - e| <= atol + rtol * |e|,
 * integers and bools exactly, NaN equal to NaN. A case this build cannot run
 * is "unsupported", never a pass. Cases named in --exclude (one per line:
 * name, then the reason) are expected not to pass. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "passes/passes.h"
#include "runtime/program.h"
#include "util/status.h"

typedef struct exclusion {
    char **names;
    int n;
} exclusion;

static const char *base_name(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    const char *b = path + len;
    while (b > path && b[-1] != '/') b--;
    return b;
}

static int name_eq(const char *a, const char *b)
{
    /* b may end in slashes (a folder given as "case/") */
    size_t n = strlen(a);
    if (strncmp(a, b, n)) return 0;
    for (const char *p = b + n; *p; p++)
        if (*p != '/') return 0;
    return 1;
}

static int excluded(const exclusion *ex, const char *name)
{
    for (int i = 0; i < ex->n; i++)
        if (name_eq(ex->names[i], name)) return 1;
    return 0;
}

static int load_exclusions(const char *path, exclusion *ex)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\0') continue;
        size_t n = strcspn(p, " \t:\n");
        char **nn = realloc(ex->names, (size_t)(ex->n + 1) * sizeof *nn);
        if (!nn) break;
        ex->names = nn;
        ex->names[ex->n] = strndup(p, n);
        if (ex->names[ex->n]) ex->n++;
    }
    fclose(f);
    return 1;
}

static int compare(const spd_tensor *a, const spd_tensor *e, double rtol, double atol, char *why, size_t wn)
{
    if (a->dtype != e->dtype) {
        snprintf(why, wn, "dtype %s, expected %s", spd_dtype_name(a->dtype), spd_dtype_name(e->dtype));
        return 0;
    }
    int same = a->ndim == e->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->dims[d] == e->dims[d];
    if (!same) {
        char x[160], y[160];
        snprintf(why, wn, "shape %s, expected %s", spd_tensor_describe(a, x, sizeof x),
                 spd_tensor_describe(e, y, sizeof y));
        return 0;
    }
    int64_t n = spd_tensor_numel(a);
    int is_float = e->dtype == SPD_FLOAT || e->dtype == SPD_DOUBLE || e->dtype == SPD_FLOAT16 || e->dtype == SPD_BFLOAT16;
    size_t esz = spd_dtype_size(e->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (!is_float) {
            if (memcmp((const char *)a->data + i * (int64_t)esz, (const char *)e->data + i * (int64_t)esz, esz)) {
                snprintf(why, wn, "element %lld differs", (long long)i);
                return 0;
            }
            continue;
        }
        double x = spd_tensor_element(a, i), y = spd_tensor_element(e, i);
        if (isnan(x) && isnan(y)) continue;
        if (x == y) continue; /* also equal infinities */
        if (!(fabs(x - y) <= atol + rtol * fabs(y))) {
            snprintf(why, wn, "element %lld is %.9g, expected %.9g", (long long)i, x, y);
            return 0;
        }
    }
    return 1;
}

typedef enum { CASE_PASS, CASE_FAIL, CASE_UNSUPPORTED } case_result;

/* The graph passes of `optimize` on m, with the inputs of test_data_set_0
 * as the sample (the passes fold shapes to it): the fused operators and the
 * fast kernels they select then answer to the same expected outputs. */
static spd_status optimize_for_case(spd_model **m, const char *dir, int n_in)
{
    char path[4400];
    spd_tensor *in = calloc((size_t)n_in + 1, sizeof *in);
    if (!in) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_status st = SPD_OK;
    for (int k = 0; k < n_in && st == SPD_OK; k++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, k);
        st = spd_tensor_read_file(path, &in[k]);
    }
    spd_model *om = NULL;
    if (st == SPD_OK) st = spd_model_clone(*m, &om);
    if (st == SPD_OK) st = spd_optimize_graph(om, in, n_in, NULL);
    spd_program *prog = NULL;
    if (st == SPD_OK && (st = spd_program_build(om, om->graph, NULL, &prog)) == SPD_OK) om->runtime = prog;
    if (st == SPD_OK) {
        spd_model_free(*m);
        *m = om;
    } else {
        spd_model_free(om);
        spd_error_prefix(st, "graph passes");
    }
    for (int k = 0; k < n_in; k++) spd_tensor_release(&in[k]);
    free(in);
    return st;
}

static case_result run_case(const char *dir, double rtol, double atol, int repeat, int optimized, char *why,
                            size_t wn)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (!cli_file_exists(path)) {
        snprintf(why, wn, "no model.onnx in the case folder");
        return CASE_UNSUPPORTED;
    }
    spd_model *m = NULL;
    spd_status st = spd_model_load(path, &m);
    if (st != SPD_OK) {
        snprintf(why, wn, "%s", spd_last_error());
        return st == SPD_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
    }
    int n_in = spd_model_num_inputs(m), n_out = spd_model_num_outputs(m), sets = 0;
    if (optimized && (st = optimize_for_case(&m, dir, n_in)) != SPD_OK) {
        snprintf(why, wn, "%s", spd_last_error());
        spd_model_free(m);
        return st == SPD_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
    }
    case_result res = CASE_PASS;
    for (int s = 0; res == CASE_PASS; s++) {
        char set[4096];
        struct stat sb;
        snprintf(set, sizeof set, "%s/test_data_set_%d", dir, s);
        if (stat(set, &sb) != 0) break;
        sets++;
        spd_tensor *in = calloc((size_t)n_in + 1, sizeof *in), *out = calloc((size_t)n_out + 1, sizeof *out);
        spd_tensor expect = {0};
        int k = 0;
        for (; k < n_in; k++) {
            snprintf(path, sizeof path, "%s/input_%d.pb", set, k);
            if ((st = spd_tensor_read_file(path, &in[k])) != SPD_OK) break;
        }
        if (k < n_in) {
            snprintf(why, wn, "%s", spd_last_error());
            res = st == SPD_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
        }
        /* Repeated calls exercise the memory plan, which lays out its arena
         * after the second call with the same shapes. */
        for (int r = 0; r < repeat && res == CASE_PASS; r++) {
            for (int j = 0; j < n_out; j++) spd_tensor_release(&out[j]);
            if ((st = spd_model_run(m, in, n_in, out, n_out)) != SPD_OK) {
                snprintf(why, wn, "%s%s", r ? "on a repeated call: " : "", spd_last_error());
                res = st == SPD_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
                break;
            }
            for (int o = 0; o < n_out && res == CASE_PASS; o++) {
                snprintf(path, sizeof path, "%s/output_%d.pb", set, o);
                if ((st = spd_tensor_read_file(path, &expect)) != SPD_OK) {
                    snprintf(why, wn, "%s", spd_last_error());
                    res = CASE_FAIL;
                    break;
                }
                char w[600];
                if (!compare(&out[o], &expect, rtol, atol, w, sizeof w)) {
                    snprintf(why, wn, "%soutput %d (%s): %s", r ? "on a repeated call: " : "", o,
                             spd_model_output_name(m, o), w);
                    res = CASE_FAIL;
                }
                spd_tensor_release(&expect);
            }
        }
        for (int j = 0; j < n_in; j++) spd_tensor_release(&in[j]);
        for (int j = 0; j < n_out; j++) spd_tensor_release(&out[j]);
        free(in);
        free(out);
    }
    if (res == CASE_PASS && sets == 0) {
        snprintf(why, wn, "no test_data_set_0 folder");
        res = CASE_FAIL;
    }
    spd_model_free(m);
    return res;
}

int cmd_check(int argc, char **argv)
{
    double rtol = 1e-3, atol = 1e-7, min_pass = -1;
    int repeat = 1;
    exclusion ex = {0};
    int n_cases = 0, passed = 0, failed = 0, skipped = 0, unexpected = 0, rc = 0;
    int optimized = 0;
    /* Options first, wherever they stand, then the cases in order. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--exclude") && i + 1 < argc) {
            if (!load_exclusions(argv[++i], &ex)) { rc = cli_fail(SPD_ERR_INVALID, "check: cannot read exclusion list %s", argv[i]); goto done; }
        } else if (!strcmp(a, "--rtol") && i + 1 < argc) rtol = atof(argv[++i]);
        else if (!strcmp(a, "--atol") && i + 1 < argc) atol = atof(argv[++i]);
        else if (!strcmp(a, "--min-pass") && i + 1 < argc) min_pass = atof(argv[++i]);
        else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            if (repeat < 1 || repeat > 1000) { rc = cli_fail(SPD_ERR_INVALID, "check: --repeat takes 1 to 1000"); goto done; }
        }
        else if (!strcmp(a, "--optimized")) optimized = 1;
        else if (a[0] == '-') { rc = cli_fail(SPD_ERR_INVALID, "check: unknown option '%s'", a); goto done; }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--exclude") || !strcmp(a, "--rtol") || !strcmp(a, "--atol") || !strcmp(a, "--min-pass") ||
            !strcmp(a, "--repeat")) {
            i++;
            continue;
        }
        if (a[0] == '-') continue;
        {
            n_cases++;
            char why[1200] = "", dir[4096], name[512];
            snprintf(dir, sizeof dir, "%s", a);
            for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = '\0';
            snprintf(name, sizeof name, "%s", base_name(dir));
            case_result r = run_case(dir, rtol, atol, repeat, optimized, why, sizeof why);
            int ex_listed = excluded(&ex, name);
            if (r == CASE_PASS) {
                passed++;
                printf(ex_listed ? "pass %s (listed in the exclusions: remove it)\n" : "pass %s\n", name);
            } else if (ex_listed) {
                skipped++;
                printf("excluded %s: %s%s\n", name, r == CASE_UNSUPPORTED ? "unsupported: " : "", why);
            } else {
                if (r == CASE_UNSUPPORTED) skipped++;
                else failed++;
                unexpected++;
                printf("%s %s: %s\n", r == CASE_UNSUPPORTED ? "unsupported" : "FAIL", name, why);
            }
            fflush(stdout);
        }
    }
    if (n_cases == 0) { rc = cli_fail(SPD_ERR_INVALID, "usage: speedster check [--exclude FILE] [--min-pass RATE] [--rtol R] [--atol A] [--repeat N] [--optimized] CASE_DIR..."); goto done; }
    printf("pass rate: %d of %d (%.1f%%)\n", passed, n_cases, 100.0 * passed / n_cases);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (ex.n > 0 && unexpected > 0) rc = 1;      /* every non-pass must be explained */
    if (ex.n == 0 && failed > 0) rc = 1;
    if (min_pass >= 0 && passed < min_pass * n_cases) rc = 1;
done:
    for (int i = 0; i < ex.n; i++) free(ex.names[i]);
    free(ex.names);
    return rc;
}
