#include "optimize/dataset.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ir/tensor.h"
#include "util/alloc.h"
#include "util/status.h"

spd_dataset *spd_dataset_new(void) { return spd_calloc(1, sizeof(spd_dataset)); }

static void sample_clear(spd_sample *s)
{
    for (int k = 0; k < s->n_inputs; k++) spd_tensor_release(&s->inputs[k]);
    spd_free(s->inputs);
    spd_tensor_release(&s->label);
}

void spd_dataset_free(spd_dataset *d)
{
    if (!d) return;
    for (int i = 0; i < d->n; i++) sample_clear(&d->samples[i]);
    spd_free(d->samples);
    spd_free(d);
}

int spd_dataset_size(const spd_dataset *d) { return d ? d->n : 0; }

spd_status spd_dataset_add(spd_dataset *d, const spd_tensor *inputs, int n_inputs, const spd_tensor *label)
{
    if (n_inputs < 1) return spd_errorf(SPD_ERR_INVALID, "a sample needs at least one input");
    if (d->n > 0 && d->samples[0].n_inputs != n_inputs)
        return spd_errorf(SPD_ERR_INVALID, "sample %d has %d inputs, the first sample has %d", d->n, n_inputs,
                          d->samples[0].n_inputs);
    spd_sample *ns = spd_realloc(d->samples, (size_t)(d->n + 1) * sizeof *ns);
    if (!ns) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    d->samples = ns;
    spd_sample *s = &d->samples[d->n];
    memset(s, 0, sizeof *s);
    s->inputs = spd_calloc((size_t)n_inputs, sizeof *s->inputs);
    if (!s->inputs) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    s->n_inputs = n_inputs;
    spd_status st = SPD_OK;
    for (int k = 0; k < n_inputs && st == SPD_OK; k++) {
        if (!inputs[k].data && spd_tensor_numel(&inputs[k]) > 0)
            st = spd_errorf(SPD_ERR_INVALID, "sample %d: input %d has no data", d->n, k);
        else
            st = spd_tensor_copy(&s->inputs[k], &inputs[k]);
    }
    if (st == SPD_OK && label && label->dtype != SPD_UNDEFINED) st = spd_tensor_copy(&s->label, label);
    if (st != SPD_OK) {
        sample_clear(s);
        return st;
    }
    d->n++;
    return SPD_OK;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* stem.pb or stem.npy, whichever exists. */
static const char *find_tensor_file(char *buf, size_t n, const char *dir, const char *stem)
{
    snprintf(buf, n, "%s/%s.pb", dir, stem);
    if (is_file(buf)) return buf;
    snprintf(buf, n, "%s/%s.npy", dir, stem);
    return is_file(buf) ? buf : NULL;
}

spd_status spd_dataset_load_dir(const char *dir, spd_dataset **out)
{
    *out = NULL;
    if (!is_dir(dir)) return spd_errorf(SPD_ERR_INVALID, "%s: no such input-data folder", dir);
    spd_dataset *d = spd_dataset_new();
    if (!d) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_status st = SPD_OK;
    char set[4096], path[4200];
    for (int s = 0; st == SPD_OK; s++) {
        snprintf(set, sizeof set, "%s/test_data_set_%d", dir, s);
        if (!is_dir(set)) break;
        spd_tensor in[64], label;
        memset(in, 0, sizeof in);
        memset(&label, 0, sizeof label);
        int n = 0;
        for (; n < 64; n++) {
            char stem[32];
            snprintf(stem, sizeof stem, "input_%d", n);
            if (!find_tensor_file(path, sizeof path, set, stem)) break;
            if ((st = spd_tensor_read_file(path, &in[n])) != SPD_OK) break;
        }
        if (st == SPD_OK && n == 0) st = spd_errorf(SPD_ERR_INVALID, "%s: no input_0.pb or input_0.npy", set);
        if (st == SPD_OK && find_tensor_file(path, sizeof path, set, "label"))
            st = spd_tensor_read_file(path, &label);
        if (st == SPD_OK) st = spd_dataset_add(d, in, n, &label);
        if (st != SPD_OK) spd_error_prefix(st, "%s", set);
        for (int k = 0; k < 64; k++) spd_tensor_release(&in[k]);
        spd_tensor_release(&label);
    }
    /* A gap (test_data_set_0, 1, 3) would silently drop samples. */
    for (int s = d->n + 1; st == SPD_OK && s < d->n + 64; s++) {
        snprintf(set, sizeof set, "%s/test_data_set_%d", dir, s);
        if (is_dir(set))
            st = spd_errorf(SPD_ERR_INVALID, "%s: test_data_set_%d is missing but test_data_set_%d exists", dir, d->n, s);
    }
    if (st == SPD_OK && d->n == 0)
        st = spd_errorf(SPD_ERR_INVALID, "%s: no samples (expected test_data_set_0/input_0.pb or .npy)", dir);
    if (st != SPD_OK) {
        spd_dataset_free(d);
        return st;
    }
    *out = d;
    return SPD_OK;
}

void spd_dataset_split(const spd_dataset *d, int *cb, int *ce, int *vb, int *ve)
{
    if (d->n >= 100) {
        int cut = d->n * 8 / 10;
        *cb = 0, *ce = cut, *vb = cut, *ve = d->n;
    } else {
        *cb = 0, *ce = d->n, *vb = 0, *ve = d->n;
    }
}

int spd_dataset_has_labels(const spd_dataset *d)
{
    for (int i = 0; i < d->n; i++)
        if (d->samples[i].label.dtype == SPD_UNDEFINED) return 0;
    return d->n > 0;
}
