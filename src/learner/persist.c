/* A learner on disk: DIR/metadata.json + DIR/model.onnx (+ backend files).
 * metadata.json records what loading must check: the format version, the
 * backend and technique, the CPU features the kernels need, the signature,
 * dynamic_info, and model.onnx's size and hash (a corrupted or swapped file
 * is refused, not run). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io/onnx.h"
#include "ir/tensor.h"
#include "learner/learner.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/status.h"

/* The checksums of model.onnx that metadata.json records. */
typedef enum { HASH_FNV1A64, HASH_LANES64 } hash_kind;

static uint64_t lane_step(uint64_t h, uint64_t w)
{
    h ^= w;
    return ((h << 31) | (h >> 33)) * 0x9E3779B97F4A7C15ull;
}

/* HASH_LANES64 ("hash64x4", format 3 on): the file as little-endian 64-bit
 * words dealt round robin to four lanes, each h = rotl(h ^ w, 31) * K from
 * its own seed; the last size % 8 bytes go byte by byte (FNV-1a) into lane
 * 0; the four lanes and the size are folded by the same step. Four
 * independent chains run ~4 bytes a cycle: FNV-1a ("fnv1a64", formats 1
 * and 2, still checked when a learner has it) goes a byte per multiply and
 * took 0.3 s of loading resnet50's 100 MB learner. */
static spd_status hash_file(const char *path, hash_kind kind, uint64_t *hash, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return spd_errorf(SPD_ERR_INVALID, "%s: cannot open: %s", path, strerror(errno));
    uint64_t fnv = 1469598103934665603ull, n = 0;
    uint64_t lane[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull};
    unsigned char buf[65536];
    size_t have = 0, r;
    while ((r = fread(buf + have, 1, sizeof buf - have, f)) > 0) {
        n += r;
        have += r;
        if (kind == HASH_FNV1A64) {
            for (size_t i = 0; i < have; i++) fnv = (fnv ^ buf[i]) * 1099511628211ull;
            have = 0;
            continue;
        }
        /* whole groups of four words; a shorter read keeps its rest for the next */
        const size_t whole = have / 32 * 32;
        for (size_t i = 0; i < whole; i += 32) {
            uint64_t w[4];
            memcpy(w, buf + i, sizeof w);
            for (int j = 0; j < 4; j++) lane[j] = lane_step(lane[j], w[j]);
        }
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
    fclose(f);
    if (kind == HASH_LANES64) {
        size_t i = 0;
        for (int j = 0; i + 8 <= have; i += 8, j++) {
            uint64_t w;
            memcpy(&w, buf + i, sizeof w);
            lane[j] = lane_step(lane[j], w);
        }
        for (; i < have; i++) lane[0] = (lane[0] ^ buf[i]) * 1099511628211ull;
        uint64_t h = lane_step(lane_step(lane_step(lane[0], lane[1]), lane[2]), lane[3]);
        fnv = lane_step(h, n);
    }
    *hash = fnv;
    *size = n;
    return SPD_OK;
}

static spd_status make_dir(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return spd_errorf(SPD_ERR_INVALID, "path too long: %s", dir);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || !c) {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return spd_errorf(SPD_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
            *p = c;
        }
        if (!c) break;
    }
    return SPD_OK;
}

static void write_value_list(FILE *f, const spd_model *m, int outputs)
{
    int n = outputs ? spd_model_num_outputs(m) : spd_model_num_inputs(m);
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        spd_dtype dt;
        int nd;
        int64_t dims[SPD_MAX_DIMS];
        if (outputs) spd_model_output_info(m, i, &dt, &nd, dims);
        else spd_model_input_info(m, i, &dt, &nd, dims);
        fputs(i ? ", {\"name\": " : "{\"name\": ", f);
        spd_json_write_string(f, outputs ? spd_model_output_name(m, i) : spd_model_input_name(m, i));
        fprintf(f, ", \"dtype\": \"%s\", \"shape\": ", spd_dtype_name(dt));
        if (nd < 0) fputs("null", f);
        else {
            fputc('[', f);
            for (int d = 0; d < nd; d++) fprintf(f, d ? ", %lld" : "%lld", (long long)dims[d]);
            fputc(']', f);
        }
        fputc('}', f);
    }
    fputc(']', f);
}

spd_status spd_learner_save(const spd_learner *l, const char *dir)
{
    spd_error_clear();
    SPD_TRY(make_dir(dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    /* the backend may save more than the graph it runs (int8 scales as
     * QuantizeLinear/DequantizeLinear), so that model.onnx alone computes
     * what the learner computes, in any runtime */
    spd_model *exported = NULL;
    if (l->backend->export_model) SPD_TRY(l->backend->export_model(l->plan, l->model, &exported));
    spd_status sst = spd_onnx_save(exported ? exported : l->model, path);
    spd_model_free(exported);
    SPD_TRY(sst);
    uint64_t hash, size;
    SPD_TRY(hash_file(path, HASH_LANES64, &hash, &size));
    if (l->backend->save) SPD_TRY(l->backend->save(l->plan, dir));

    snprintf(path, sizeof path, "%s/metadata.json.tmp", dir);
    FILE *f = fopen(path, "w");
    if (!f) return spd_errorf(SPD_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    char feats[256];
    spd_cpu_feature_list(&l->needs, feats, sizeof feats);
    fprintf(f, "{\n  \"format_version\": %d,\n  \"speedster_version\": \"%s\",\n", SPD_LEARNER_FORMAT, SPD_VERSION_STRING);
    fprintf(f, "  \"backend\": \"%s\",\n  \"technique\": \"%s\",\n", l->backend->name, spd_technique_name(l->copts.technique));
    fprintf(f, "  \"graph_optimized\": %s,\n  \"device\": \"%s\",\n  \"threads\": %d,\n", l->graph_optimized ? "true" : "false",
            l->copts.device.gpu ? "gpu" : "cpu", l->copts.threads);
    fprintf(f, "  \"max_threads\": %d,\n", l->max_threads);
    fprintf(f, "  \"cpu_features\": \"%s\",\n  \"source_model\": ", feats);
    spd_json_write_string(f, l->source_model ? l->source_model : "");
    fputs(",\n  \"inputs\": ", f);
    write_value_list(f, l->model, 0);
    fputs(",\n  \"outputs\": ", f);
    write_value_list(f, l->model, 1);
    fputs(",\n  \"dynamic_info\": ", f);
    if (!l->has_dyn) fputs("null", f);
    else {
        fputs("{\"inputs\": [", f);
        for (int i = 0; i < l->dyn.n_axes; i++) {
            const spd_dyn_axis *a = &l->dyn.axes[i];
            fprintf(f, "%s{\"input\": %d, \"axis\": %d, \"name\": ", i ? ", " : "", a->input, a->axis);
            spd_json_write_string(f, a->name);
            fprintf(f, ", \"min_val\": %lld, \"opt_val\": %lld, \"max_val\": %lld}", (long long)a->min,
                    (long long)a->opt, (long long)(a->max == INT64_MAX ? -1 : a->max));
        }
        fputs("]}", f);
    }
    fprintf(f, ",\n  \"latency_s\": %.9g,\n  \"throughput\": %.9g,\n  \"metric\": ", l->latency_s, l->throughput);
    spd_json_write_string(f, l->metric_name ? l->metric_name : "");
    fprintf(f, ",\n  \"metric_drop\": %.9g,\n", l->metric_drop);
    fprintf(f, "  \"model_file\": {\"name\": \"model.onnx\", \"size\": %llu, \"hash64x4\": \"%016llx\"}\n}\n",
            (unsigned long long)size, (unsigned long long)hash);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return spd_errorf(SPD_ERR_IO, "%s: write failed", path);
    char final_path[4200];
    snprintf(final_path, sizeof final_path, "%s/metadata.json", dir);
    if (rename(path, final_path) != 0) return spd_errorf(SPD_ERR_IO, "%s: cannot rename: %s", final_path, strerror(errno));
    return SPD_OK;
}

static const char *json_str(const spd_json *root, const char *key)
{
    const spd_json *j = spd_json_get(root, key);
    return j && j->type == SPD_JSON_STRING ? j->str : NULL;
}

static double json_num(const spd_json *root, const char *key, double dflt)
{
    const spd_json *j = spd_json_get(root, key);
    return j && j->type == SPD_JSON_NUMBER ? j->num : dflt;
}

/* A whole number from metadata.json, clamped so a hostile file cannot make
 * the conversion undefined; out-of-range values are then refused by checks. */
static int64_t json_int(const spd_json *root, const char *key, int64_t dflt)
{
    double v = json_num(root, key, (double)dflt);
    if (!(v == v)) return dflt;
    if (v > 1e15) return (int64_t)1e15;
    if (v < -1e15) return -(int64_t)1e15;
    return (int64_t)v;
}

static spd_status load_dyn(const spd_json *dj, spd_dynamic_info *d)
{
    const spd_json *ins = spd_json_get(dj, "inputs");
    if (!ins || ins->type != SPD_JSON_ARRAY) return spd_errorf(SPD_ERR_INVALID, "dynamic_info has no inputs list");
    d->axes = spd_calloc((size_t)ins->n + 1, sizeof *d->axes);
    if (!d->axes) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ins->n; i++) {
        const spd_json *a = &ins->items[i];
        spd_dyn_axis *x = &d->axes[d->n_axes++];
        int64_t in = json_int(a, "input", 0), ax = json_int(a, "axis", 0);
        if (in < 0 || in > 4096 || ax < 0 || ax >= SPD_MAX_DIMS)
            return spd_errorf(SPD_ERR_INVALID, "dynamic_info entry %d is out of range", i);
        x->input = (int)in;
        x->axis = (int)ax;
        x->name = spd_strdup(json_str(a, "name") ? json_str(a, "name") : "");
        x->min = json_int(a, "min_val", 1);
        x->opt = json_int(a, "opt_val", -1);
        int64_t mx = json_int(a, "max_val", -1);
        x->max = mx < 0 ? INT64_MAX : mx;
        if (x->axis < 0 || x->axis >= SPD_MAX_DIMS || x->input < 0)
            return spd_errorf(SPD_ERR_INVALID, "dynamic_info entry %d is out of range", i);
    }
    return SPD_OK;
}

/* One call on zeros when every input's shape is fixed, so that the first
 * call of the caller's finds the weights packed for its kernels and the
 * threads' scratch sized (resnet50's first call took 3.3x a steady one,
 * efficientnet_b0's 2x); with it the memory plan also has one of the two
 * calls it learns from (a data-dependent size the caller's inputs make
 * larger still counts: the plan takes the larger of the two). Nothing the
 * call says is kept: the caller's own calls report their errors. */
static void warm_up(spd_learner *l)
{
    const int n = spd_model_num_inputs(l->model), n_out = spd_model_num_outputs(l->model);
    if (n <= 0 || n > 16 || n_out <= 0 || n_out > 16) return;
    spd_tensor in[16], outs[16];
    memset(in, 0, sizeof in);
    memset(outs, 0, sizeof outs);
    bool fixed = true;
    for (int i = 0; i < n && fixed; i++) {
        spd_dtype dt;
        int nd;
        int64_t dims[SPD_MAX_DIMS];
        fixed = spd_model_input_info(l->model, i, &dt, &nd, dims) == SPD_OK && nd >= 0 && dt != SPD_STRING;
        for (int d = 0; fixed && d < nd; d++) fixed = dims[d] > 0;
        if (fixed) fixed = spd_tensor_alloc(&in[i], dt, nd, dims) == SPD_OK;
    }
    if (fixed) (void)spd_learner_run(l, in, n, outs, n_out);
    for (int i = 0; i < n_out; i++) spd_tensor_release(&outs[i]);
    for (int i = 0; i < n; i++) spd_tensor_release(&in[i]);
    spd_error_clear();
}

spd_status spd_learner_load(const char *dir, spd_learner **out)
{
    spd_error_clear();
    *out = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return spd_errorf(SPD_ERR_INVALID, "%s: no such learner folder", dir);
    if (stat(path, &sb) != 0) return spd_errorf(SPD_ERR_INVALID, "learner %s: metadata.json is missing", dir);
    spd_json meta;
    spd_status st = spd_json_parse_file(path, &meta);
    if (st != SPD_OK) return spd_error_prefix(st, "learner %s: metadata.json is corrupted", dir);
    spd_model *m = NULL;
    spd_plan *plan = NULL;
    spd_learner *l = NULL;
    const spd_backend *b = NULL;
    const char *bname = json_str(&meta, "backend"), *tech = json_str(&meta, "technique");
    int version = (int)(json_int(&meta, "format_version", -1) > 1000000 ? -1 : json_int(&meta, "format_version", -1));
    const spd_json *mf = spd_json_get(&meta, "model_file");
    if (version < SPD_LEARNER_FORMAT_OLDEST || version > SPD_LEARNER_FORMAT) {
        st = spd_errorf(SPD_ERR_INVALID, "learner %s: metadata.json has format_version %d, this build reads %d to %d", dir,
                        version, SPD_LEARNER_FORMAT_OLDEST, SPD_LEARNER_FORMAT);
        goto fail;
    }
    if (!bname || !tech || !mf) {
        st = spd_errorf(SPD_ERR_INVALID, "learner %s: metadata.json lacks backend, technique or model_file", dir);
        goto fail;
    }
    b = spd_backend_find(bname);
    if (!b) {
        st = spd_errorf(SPD_ERR_UNSUPPORTED, "learner %s needs the '%s' backend, which this build does not have", dir, bname);
        goto fail;
    }
    int64_t threads = json_int(&meta, "threads", 0);
    spd_compile_opts o = {SPD_TECH_FP32, threads < 0 || threads > 1024 ? 0 : (int)threads, {false, 0}, NULL, 0, NULL, version};
    int t = 0;
    for (; t < SPD_TECH_COUNT && strcmp(spd_technique_name((spd_technique)t), tech); t++) {
    }
    if (t == SPD_TECH_COUNT) {
        st = spd_errorf(SPD_ERR_INVALID, "learner %s: unknown technique '%s' in metadata.json", dir, tech);
        goto fail;
    }
    o.technique = (spd_technique)t;
    spd_cpu_features need, have = *spd_cpu();
    spd_cpu_parse_features(json_str(&meta, "cpu_features"), &need);
    char missing[256] = "";
    spd_cpu_features lack;
    memset(&lack, 0, sizeof lack);
#define LACK(x) lack.x = need.x && !have.x;
    LACK(avx2) LACK(fma) LACK(avx512f) LACK(avx512bw) LACK(avx512vl) LACK(avx512_vnni) LACK(avx512_bf16)
    LACK(avx512_fp16) LACK(amx_tile) LACK(amx_bf16) LACK(amx_int8)
#undef LACK
    spd_cpu_feature_list(&lack, missing, sizeof missing);
    if (*missing) {
        st = spd_errorf(SPD_ERR_UNSUPPORTED, "learner %s needs CPU features this machine lacks: %s", dir, missing);
        goto fail;
    }
    if ((st = b->probe(&o.device)) != SPD_OK) {
        spd_error_prefix(st, "learner %s: backend '%s' cannot run here", dir, bname);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    uint64_t hash, size;
    const char *want = json_str(mf, "hash64x4");
    const hash_kind hk = want ? HASH_LANES64 : HASH_FNV1A64; /* learners before format 3: FNV-1a */
    if (!want) want = json_str(mf, "fnv1a64");
    if ((st = hash_file(path, hk, &hash, &size)) != SPD_OK) {
        st = spd_errorf(SPD_ERR_INVALID, "learner %s: model.onnx is missing", dir);
        goto fail;
    }
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
    if (!want || strcmp(want, hex) || json_num(mf, "size", -1) != (double)size) {
        st = spd_errorf(SPD_ERR_INVALID, "learner %s: model.onnx does not match metadata.json (corrupted or replaced)", dir);
        goto fail;
    }
    if ((st = spd_model_load(path, &m)) != SPD_OK) {
        spd_error_prefix(st, "learner %s", dir);
        goto fail;
    }
    if ((st = b->load(dir, m, &o, &plan)) != SPD_OK) {
        spd_error_prefix(st, "learner %s", dir);
        goto fail;
    }
    if ((st = spd_learner_new(m, b, plan, &o, &l)) != SPD_OK) goto fail;
    m = NULL;
    plan = NULL;
    l->needs = need;
    l->graph_optimized = spd_json_get(&meta, "graph_optimized") && spd_json_get(&meta, "graph_optimized")->b;
    const int64_t cap = json_int(&meta, "max_threads", 0); /* absent before it was written: no cap */
    l->max_threads = cap < 0 || cap > 1024 ? 0 : (int)cap;
    l->latency_s = json_num(&meta, "latency_s", 0);
    spd_learner_ready(l);
    l->throughput = json_num(&meta, "throughput", 0);
    l->metric_drop = json_num(&meta, "metric_drop", 0);
    l->metric_name = spd_strdup(json_str(&meta, "metric") ? json_str(&meta, "metric") : "");
    l->source_model = spd_strdup(json_str(&meta, "source_model") ? json_str(&meta, "source_model") : "");
    const spd_json *dj = spd_json_get(&meta, "dynamic_info");
    if (dj && dj->type == SPD_JSON_OBJECT) {
        l->has_dyn = true;
        if ((st = load_dyn(dj, &l->dyn)) != SPD_OK) {
            spd_error_prefix(st, "learner %s: metadata.json", dir);
            goto fail;
        }
    }
    spd_json_free(&meta);
    warm_up(l);
    *out = l;
    return SPD_OK;
fail:
    if (plan) b->destroy(plan);
    spd_model_free(m);
    spd_learner_free(l);
    spd_json_free(&meta);
    return st;
}
