/* The optimize_model part of the public API, through speedster.h only:
 * datasets, options, the user metric and log callbacks, the learner's run,
 * save and load, and the errors of bad options.
 *
 * usage: test_api REPO_ROOT
 * Prints one line per failed check and "N checks, N failed"; exits 1 when a
 * check failed. Run it under valgrind --leak-check=full too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "speedster.h"

static int g_checks, g_failed;

#define CHECK(cond, ...)                                                                                  \
    do {                                                                                                 \
        g_checks++;                                                                                      \
        if (!(cond)) {                                                                                   \
            g_failed++;                                                                                  \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                  \
            printf(__VA_ARGS__);                                                                         \
            printf(" [%s]\n", spd_last_error());                                                         \
        }                                                                                                \
    } while (0)

/* ---- callbacks ----------------------------------------------------------- */

typedef struct metric_state {
    int calls;
    int calls_with_label;
    int bad_args;         /* calls whose arguments were not what the dataset holds */
    double value;         /* what the callback returns */
} metric_state;

static double user_metric(const spd_tensor *original, const spd_tensor *optimized, int n_outputs,
                          const spd_tensor *label, void *user)
{
    metric_state *m = user;
    m->calls++;
    if (label) {
        m->calls_with_label++;
        if (label->dtype != SPD_INT64 || spd_tensor_numel(label) != 1) m->bad_args++;
    }
    if (n_outputs != 1 || !original || !optimized || original[0].ndim != 2 || original[0].dims[1] != 10 ||
        optimized[0].dtype != SPD_FLOAT || spd_tensor_numel(&optimized[0]) != spd_tensor_numel(&original[0]))
        m->bad_args++;
    return m->value;
}

typedef struct log_state {
    int lines;
    int table;            /* a line holding the results table */
    int candidates;       /* progress lines of candidates that were tried */
    int rejected_by_metric;
    int cannot_win;       /* timed, slower than a valid one: not validated */
} log_state;

static void collect_log(const char *line, void *user)
{
    log_state *l = user;
    l->lines++;
    if (strstr(line, "[Speedster results on")) l->table++;
    if (strstr(line, "original graph") || strstr(line, "optimized graph")) l->candidates++;
    if (strstr(line, "rejected") && strstr(line, "exceeds metric_drop_ths")) l->rejected_by_metric++;
    if (strstr(line, "cannot win")) l->cannot_win++;
}

/* ---- helpers ---------------------------------------------------------------- */

/* input + copies perturbed by i * 0.01 * sin(e). */
static spd_dataset *make_dataset(const spd_tensor *input, int n, int with_labels)
{
    spd_dataset *d = spd_dataset_new();
    if (!d) return NULL;
    size_t bytes = spd_tensor_nbytes(input);
    float *buf = malloc(bytes);
    if (!buf) { spd_dataset_free(d); return NULL; }
    for (int i = 0; i < n; i++) {
        spd_tensor t = *input;
        t.data = buf;
        t.owner = 0;
        const float *src = input->data;
        for (int64_t e = 0; e < spd_tensor_numel(input); e++) buf[e] = src[e] + (float)(i * 0.01 * sin((double)e));
        int64_t lab = i % 10;
        spd_tensor label = {SPD_INT64, 1, {1}, &lab, 0};
        if (spd_dataset_add(d, &t, 1, with_labels ? &label : NULL) != SPD_OK) {
            spd_dataset_free(d);
            d = NULL;
            break;
        }
    }
    free(buf);
    return d;
}

static int same_bits(const spd_tensor *a, const spd_tensor *b)
{
    return a->dtype == b->dtype && a->ndim == b->ndim && !memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->ndim) &&
           !memcmp(a->data, b->data, spd_tensor_nbytes(a));
}

/* DESIGN's numeric_precision for one output. */
static double numeric_precision(const spd_tensor *a, const spd_tensor *b)
{
    if (a->dtype != SPD_FLOAT || b->dtype != SPD_FLOAT || spd_tensor_numel(a) != spd_tensor_numel(b)) return INFINITY;
    const float *x = a->data, *y = b->data;
    double sum = 0;
    int64_t n = spd_tensor_numel(a);
    for (int64_t i = 0; i < n; i++) sum += fabs((double)x[i] - y[i]) / (fmax(fabs(x[i]), fabs(y[i])) + 1e-5);
    return n ? sum / (double)n : 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Expects spd_optimize_model to refuse opts with SPD_ERR_INVALID and a
 * message holding `word`. */
static void expect_invalid(const char *model, const spd_dataset *data, const spd_optimize_options *o, const char *word,
                           const char *what)
{
    spd_learner *l = (spd_learner *)&g_checks; /* must be reset to NULL */
    spd_status st = spd_optimize_model(model, data, o, &l);
    CHECK(st == SPD_ERR_INVALID, "%s: status %d, want SPD_ERR_INVALID", what, (int)st);
    CHECK(l == NULL, "%s: *out not NULL after a failure", what);
    CHECK(strstr(spd_last_error(), word) != NULL, "%s: message does not name '%s'", what, word);
    if (st == SPD_OK && l && l != (spd_learner *)&g_checks) spd_learner_free(l);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_api REPO_ROOT\n");
        return 2;
    }
    char model[4096], input_path[4096];
    snprintf(model, sizeof model, "%s/examples/tiny_cnn/model.onnx", argv[1]);
    snprintf(input_path, sizeof input_path, "%s/examples/tiny_cnn/test_data_set_0/input_0.pb", argv[1]);
    char tmp[] = "/tmp/spd_test_api_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    char learner_dir[4200], dyn_path[4200];
    snprintf(learner_dir, sizeof learner_dir, "%s/learner", tmp);
    snprintf(dyn_path, sizeof dyn_path, "%s/dyn.json", tmp);

    spd_tensor input;
    memset(&input, 0, sizeof input);
    spd_status st = spd_tensor_read_file(input_path, &input);
    CHECK(st == SPD_OK, "reading %s", input_path);
    if (st != SPD_OK) goto summary;
    CHECK(input.dtype == SPD_FLOAT && input.ndim == 4, "the tiny_cnn input is float32 rank 4");
    void *input_copy = malloc(spd_tensor_nbytes(&input));
    if (input_copy) memcpy(input_copy, input.data, spd_tensor_nbytes(&input));

    /* ---- datasets */
    enum { N_SAMPLES = 5 };
    spd_dataset *data = make_dataset(&input, N_SAMPLES, 1);
    CHECK(data && spd_dataset_size(data) == N_SAMPLES, "dataset of %d samples", N_SAMPLES);
    {
        spd_dataset *d2 = spd_dataset_new();
        spd_tensor two[2] = {input, input};
        CHECK(spd_dataset_add(d2, &input, 1, NULL) == SPD_OK, "dataset_add one input");
        CHECK(spd_dataset_add(d2, two, 2, NULL) == SPD_ERR_INVALID, "dataset_add refuses a sample with another input count");
        CHECK(spd_dataset_size(d2) == 1, "a refused sample is not added");
        CHECK(spd_dataset_add(d2, two, 0, NULL) == SPD_ERR_INVALID, "dataset_add refuses a sample with no input");
        spd_dataset_free(d2);
        spd_dataset *d3 = (spd_dataset *)&g_checks;
        CHECK(spd_dataset_load_dir("/nonexistent/speedster", &d3) == SPD_ERR_INVALID && d3 == NULL,
              "dataset_load_dir on a missing folder");
        spd_dataset_free(NULL);
    }

    /* ---- the search with a user metric and a log callback */
    metric_state ms = {0, 0, 0, 0.001};
    log_state ls = {0, 0, 0, 0, 0};
    spd_optimize_options o = spd_optimize_options_default();
    CHECK(o.metric && !strcmp(o.metric, "numeric_precision") && o.metric_drop_ths == 0 && o.n_random_samples == 100 &&
              o.optimization_time && !strcmp(o.optimization_time, "constrained"),
          "spd_optimize_options_default");
    o.metric_fn = user_metric;
    o.metric_user = &ms;
    o.metric_drop_ths = 0.01;
    o.device = "cpu";
    o.log = collect_log;
    o.log_user = &ls;
    spd_learner *l = NULL;
    st = data ? spd_optimize_model(model, data, &o, &l) : SPD_ERR_INVALID;
    CHECK(st == SPD_OK && l, "optimize with a user metric");
    /* every sample validates below 100 samples: one call per validation
     * sample for each candidate the search evaluates */
    /* Candidates that cannot beat a valid one are not validated; every other
     * candidate (the baseline aside) calls the metric once per sample. */
    CHECK(ms.calls % N_SAMPLES == 0, "metric called %d times, want a multiple of %d", ms.calls, N_SAMPLES);
    CHECK(ms.calls / N_SAMPLES + ls.cannot_win + 1 >= ls.candidates,
          "metric called for %d candidates, %d not validated, of %d", ms.calls / N_SAMPLES, ls.cannot_win, ls.candidates);
    /* no upper bound: the accuracy fallback of lossy candidates (onednn
     * int8) also judges its levels with the user's metric while compiling */
    CHECK(ms.calls_with_label == ms.calls, "the label reaches the metric (%d of %d calls)", ms.calls_with_label, ms.calls);
    CHECK(ms.bad_args == 0, "metric arguments: %d bad calls", ms.bad_args);
    CHECK(ls.lines > 0 && ls.table == 1, "log: %d lines, %d results tables", ls.lines, ls.table);
    CHECK(ls.candidates >= 1, "log: %d candidate lines", ls.candidates);

    spd_tensor ref[1], out1[1], out2[1];
    memset(ref, 0, sizeof ref);
    memset(out1, 0, sizeof out1);
    memset(out2, 0, sizeof out2);
    spd_model *orig = NULL;
    CHECK(spd_model_load(model, &orig) == SPD_OK, "load the original");
    if (orig) CHECK(spd_model_run(orig, &input, 1, ref, 1) == SPD_OK, "run the original");
    if (l) {
        CHECK(spd_learner_num_inputs(l) == 1 && spd_learner_num_outputs(l) == 1, "learner signature counts");
        CHECK(!strcmp(spd_learner_input_name(l, 0), "image") && !strcmp(spd_learner_output_name(l, 0), "probabilities"),
              "learner signature names");
        spd_dtype dt = SPD_UNDEFINED;
        int nd = 0;
        int64_t dims[SPD_MAX_DIMS];
        CHECK(spd_learner_input_info(l, 0, &dt, &nd, dims) == SPD_OK && dt == SPD_FLOAT && nd == 4 && dims[1] == 3,
              "learner input info");
        CHECK(*spd_learner_report(l) != '\0' && strstr(spd_learner_report(l), "[Speedster results on"),
              "learner report holds the results table");
        const char *b = spd_learner_backend(l), *t = spd_learner_technique(l);
        CHECK(!strcmp(b, "native") || !strcmp(b, "onednn") || !strcmp(b, "cuda") || !strcmp(b, "onnxruntime"),
              "backend %s", b);
        CHECK(!strcmp(t, "fp32") || !strcmp(t, "fp16") || !strcmp(t, "bf16") || !strcmp(t, "int8") ||
                  !strcmp(t, "int8_dynamic"),
              "technique %s", t);
        int lossless = !strcmp(t, "fp32");
        CHECK(spd_learner_latency(l) > 0, "latency %g", spd_learner_latency(l));
        CHECK(spd_learner_size(l) > 0, "size");
        double drop = spd_learner_metric_drop(l);
        /* the native fp32 run of the original graph is not evaluated (it is
         * the reference), every other candidate gets the callback's value */
        CHECK(drop == 0 || drop == ms.value, "metric drop %g", drop);

        CHECK(spd_learner_run(l, &input, 1, out1, 1) == SPD_OK, "learner run");
        CHECK(spd_learner_run(l, &input, 2, out2, 1) == SPD_ERR_INVALID, "learner run with 2 inputs is refused");
        /* fp32 stays within 1e-4 of the original; a reduced precision answers
         * to the user's metric only (this one returns a constant) */
        if (ref[0].data && out1[0].data && lossless)
            CHECK(numeric_precision(&ref[0], &out1[0]) <= 1e-4, "learner vs original: numeric_precision %g",
                  numeric_precision(&ref[0], &out1[0]));
        CHECK(spd_learner_save(l, learner_dir) == SPD_OK, "learner save");
        spd_learner *l2 = NULL;
        CHECK(spd_learner_load(learner_dir, &l2) == SPD_OK && l2, "learner load");
        if (l2) {
            CHECK(spd_learner_run(l2, &input, 1, out2, 1) == SPD_OK, "loaded learner run");
            if (out1[0].data && out2[0].data) CHECK(same_bits(&out1[0], &out2[0]), "save/load/run is bit-identical");
            CHECK(*spd_learner_report(l2) == '\0', "a loaded learner's report is empty");
            CHECK(!strcmp(spd_learner_backend(l2), spd_learner_backend(l)) &&
                      !strcmp(spd_learner_technique(l2), spd_learner_technique(l)),
                  "backend and technique survive save/load");
            CHECK(spd_learner_metric_drop(l2) == spd_learner_metric_drop(l), "metric drop survives save/load");
            /* saving a loaded learner again works, and loads */
            spd_tensor_release(&out2[0]);
            char again[4300];
            snprintf(again, sizeof again, "%s/again", tmp);
            CHECK(spd_learner_save(l2, again) == SPD_OK, "save a loaded learner");
            spd_learner *l3 = NULL;
            CHECK(spd_learner_load(again, &l3) == SPD_OK, "load it again");
            if (l3) {
                CHECK(spd_learner_run(l3, &input, 1, out2, 1) == SPD_OK && same_bits(&out1[0], &out2[0]),
                      "second save/load is bit-identical");
                spd_learner_free(l3);
            }
            spd_learner_free(l2);
        }
        spd_learner_free(l);
        l = NULL;
    }
    spd_model_free(orig);
    spd_tensor_release(&ref[0]);
    spd_tensor_release(&out1[0]);
    spd_tensor_release(&out2[0]);

    /* A callback whose drop is above the threshold. search.c: the native
     * fp32 run of the original graph is the reference and is not evaluated;
     * every other candidate answers to the user's metric (fp32 included), so
     * the evaluated ones are rejected, the search still succeeds, and the
     * learner's drop stays within the threshold. */
    ms = (metric_state){0, 0, 0, 0.5};
    ls = (log_state){0, 0, 0, 0, 0};
    o.log = collect_log;
    st = data ? spd_optimize_model(model, data, &o, &l) : SPD_ERR_INVALID;
    CHECK(st == SPD_OK && l, "a user metric above the threshold: the search still succeeds");
    CHECK(ms.calls % N_SAMPLES == 0, "metric calls %d", ms.calls);
    CHECK(ls.rejected_by_metric <= ms.calls / N_SAMPLES,
          "%d candidates evaluated, %d rejected for the metric drop", ms.calls / N_SAMPLES, ls.rejected_by_metric);
    if (l) {
        double drop = spd_learner_metric_drop(l);
        CHECK(drop <= o.metric_drop_ths, "the learner's metric drop %g is within metric_drop_ths %g", drop, o.metric_drop_ths);
        spd_learner_free(l);
        l = NULL;
    }
    o.log = NULL;
    /* A NaN drop makes the evaluated candidates fail, not crash. */
    ms = (metric_state){0, 0, 0, NAN};
    st = data ? spd_optimize_model(model, data, &o, &l) : SPD_ERR_INVALID;
    CHECK(st == SPD_OK || st == SPD_ERR_INVALID, "a NaN metric: status %d", (int)st);
    spd_learner_free(l);
    l = NULL;

    /* accuracy with labels; the original's accuracy is what it is, the drop 0 */
    o = spd_optimize_options_default();
    o.metric = "accuracy";
    o.device = "cpu";
    st = data ? spd_optimize_model(model, data, &o, &l) : SPD_ERR_INVALID;
    CHECK(st == SPD_OK && l && spd_learner_metric_drop(l) == 0, "accuracy with labels");
    spd_learner_free(l);
    l = NULL;

    /* random samples (data NULL), few of them, with dynamic_info */
    write_text(dyn_path, "{\"inputs\": [{\"0\": {\"name\": \"batch\", \"min_val\": 1, \"opt_val\": 2, \"max_val\": 4}}],"
                         " \"outputs\": [{\"0\": \"batch\"}]}");
    o = spd_optimize_options_default();
    o.n_random_samples = 3;
    o.dynamic_info = dyn_path;
    o.device = "cpu";
    st = spd_optimize_model(model, NULL, &o, &l);
    CHECK(st == SPD_OK && l, "random samples with dynamic_info");
    if (l) {
        spd_dtype dt;
        int nd;
        int64_t dims[SPD_MAX_DIMS];
        CHECK(spd_learner_input_info(l, 0, &dt, &nd, dims) == SPD_OK && dims[0] == 2,
              "input info takes dynamic_info's opt_val (dims[0] %lld)", (long long)dims[0]);
        spd_tensor big = input;
        big.dims[0] = 5; /* outside [1, 4] */
        big.owner = 0;
        big.data = calloc((size_t)spd_tensor_numel(&big), sizeof(float));
        if (big.data) {
            CHECK(spd_learner_run(l, &big, 1, out1, 1) == SPD_ERR_INVALID && strstr(spd_last_error(), "[1, 4]"),
                  "batch 5 outside dynamic_info is refused");
            spd_tensor_release(&out1[0]);
            big.dims[0] = 4;
            CHECK(spd_learner_run(l, &big, 1, out1, 1) == SPD_OK && out1[0].dims[0] == 4, "batch 4 inside dynamic_info runs");
            spd_tensor_release(&out1[0]);
            free(big.data);
        }
        spd_learner_free(l);
        l = NULL;
    }

    /* ---- bad options */
    o = spd_optimize_options_default();
    o.device = "cpu";
    o.metric = "nope";
    expect_invalid(model, data, &o, "nope", "metric nope");
    o = spd_optimize_options_default();
    o.metric_drop_ths = -1;
    expect_invalid(model, data, &o, "metric_drop_ths", "negative threshold");
    o.metric_drop_ths = NAN;
    expect_invalid(model, data, &o, "metric_drop_ths", "NaN threshold");
    o = spd_optimize_options_default();
    o.optimization_time = "fast";
    expect_invalid(model, data, &o, "fast", "optimization_time fast");
    o = spd_optimize_options_default();
    o.ignore_compilers = "native,onednn,cuda,onnxruntime"; /* every backend a build may have */
    expect_invalid(model, data, &o, "compiler", "every compiler ignored");
    o = spd_optimize_options_default();
    o.ignore_compilers = "nosuch";
    expect_invalid(model, data, &o, "nosuch", "unknown compiler");
    o = spd_optimize_options_default();
    o.device = "foo";
    expect_invalid(model, data, &o, "foo", "device foo");
    o = spd_optimize_options_default();
    o.device = "tpu";
    st = spd_optimize_model(model, data, &o, &l);
    CHECK(st == SPD_ERR_UNSUPPORTED && l == NULL && strstr(spd_last_error(), "tpu"), "device tpu: status %d", (int)st);
    o = spd_optimize_options_default();
    o.threads = -2;
    expect_invalid(model, data, &o, "threads", "negative threads");
    o = spd_optimize_options_default();
    o.n_random_samples = -1;
    expect_invalid(model, NULL, &o, "samples", "negative sample count");
    o = spd_optimize_options_default();
    o.metric = "accuracy";
    o.n_random_samples = 2;
    expect_invalid(model, NULL, &o, "label", "accuracy without labels");
    o = spd_optimize_options_default();
    o.dynamic_info = "/nonexistent/dyn.json";
    st = spd_optimize_model(model, data, &o, &l);
    CHECK(st != SPD_OK && l == NULL && strstr(spd_last_error(), "dynamic_info"), "missing dynamic_info file");
    o = spd_optimize_options_default();
    {
        spd_dataset *empty = spd_dataset_new();
        expect_invalid(model, empty, &o, "empty", "empty dataset");
        spd_dataset_free(empty);
    }
    st = spd_optimize_model("/nonexistent/model.onnx", data, &o, &l);
    CHECK(st != SPD_OK && l == NULL, "missing model");

    /* ---- learner folders */
    spd_learner *bad = (spd_learner *)&g_checks;
    CHECK(spd_learner_load("/nonexistent/learner", &bad) == SPD_ERR_INVALID && bad == NULL, "load a missing folder");
    bad = (spd_learner *)&g_checks;
    CHECK(spd_learner_load(tmp, &bad) == SPD_ERR_INVALID && bad == NULL && strstr(spd_last_error(), "metadata.json"),
          "load a folder without metadata.json");

    CHECK(input_copy && !memcmp(input_copy, input.data, spd_tensor_nbytes(&input)), "the caller's input is never modified");
    free(input_copy);
    spd_dataset_free(data);
    spd_tensor_release(&input);
summary:;
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    printf("%d checks, %d failed\n", g_checks, g_failed);
    return g_failed ? 1 : 0;
}
