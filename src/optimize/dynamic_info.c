/* dynamic_info as the spec writes it, read from a JSON file:
 *   {"inputs": [{"0": {"name": "batch", "min_val": 1, "opt_val": 1, "max_val": 8}, ...}],
 *    "outputs": [{"0": "batch", "1": "out_dim"}]}
 * An input axis given only a tag ("0": "batch") is dynamic without bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/options.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/status.h"

void spd_dynamic_info_free(spd_dynamic_info *d)
{
    for (int i = 0; i < d->n_axes; i++) spd_free(d->axes[i].name);
    for (int i = 0; i < d->n_out_axes; i++) spd_free(d->out_axes[i].name);
    spd_free(d->axes);
    spd_free(d->out_axes);
    memset(d, 0, sizeof *d);
}

static spd_status axis_key(const char *path, const char *key, int *axis)
{
    char *end;
    long v = strtol(key, &end, 10);
    if (!*key || *end || v < 0 || v >= SPD_MAX_DIMS)
        return spd_errorf(SPD_ERR_INVALID, "%s: axis '%s' is not a number from 0 to %d", path, key, SPD_MAX_DIMS - 1);
    *axis = (int)v;
    return SPD_OK;
}

static spd_status bound(const char *path, const spd_json *o, const char *key, int64_t dflt, int64_t *v)
{
    const spd_json *j = spd_json_get(o, key);
    if (!j) { *v = dflt; return SPD_OK; }
    if (j->type != SPD_JSON_NUMBER || j->num < 1 || j->num > 1e12 || j->num != (double)(int64_t)j->num)
        return spd_errorf(SPD_ERR_INVALID, "%s: '%s' must be a positive whole number", path, key);
    *v = (int64_t)j->num;
    return SPD_OK;
}

static spd_status parse(const char *path, const spd_json *root, spd_dynamic_info *d)
{
    if (root->type != SPD_JSON_OBJECT) return spd_errorf(SPD_ERR_INVALID, "%s: expected an object with \"inputs\" and \"outputs\"", path);
    for (int i = 0; i < root->n; i++)
        if (strcmp(root->keys[i], "inputs") && strcmp(root->keys[i], "outputs"))
            return spd_errorf(SPD_ERR_INVALID, "%s: unknown key '%s' (expected \"inputs\" and \"outputs\")", path, root->keys[i]);
    const spd_json *ins = spd_json_get(root, "inputs"), *outs = spd_json_get(root, "outputs");
    if (!ins || ins->type != SPD_JSON_ARRAY) return spd_errorf(SPD_ERR_INVALID, "%s: \"inputs\" must be a list with one object per input", path);
    if (outs && outs->type != SPD_JSON_ARRAY) return spd_errorf(SPD_ERR_INVALID, "%s: \"outputs\" must be a list with one object per output", path);
    for (int i = 0; i < ins->n; i++) {
        const spd_json *in = &ins->items[i];
        if (in->type != SPD_JSON_OBJECT) return spd_errorf(SPD_ERR_INVALID, "%s: inputs[%d] must be an object of axis -> info", path, i);
        for (int k = 0; k < in->n; k++) {
            spd_dyn_axis a = {i, 0, NULL, 1, -1, INT64_MAX};
            SPD_TRY(axis_key(path, in->keys[k], &a.axis));
            const spd_json *v = &in->items[k];
            const char *name = NULL;
            if (v->type == SPD_JSON_STRING) {
                name = v->str;
            } else if (v->type == SPD_JSON_OBJECT) {
                for (int f = 0; f < v->n; f++)
                    if (strcmp(v->keys[f], "name") && strcmp(v->keys[f], "min_val") && strcmp(v->keys[f], "opt_val") &&
                        strcmp(v->keys[f], "max_val"))
                        return spd_errorf(SPD_ERR_INVALID, "%s: inputs[%d] axis %d: unknown key '%s' (name, min_val, opt_val, max_val)",
                                          path, i, a.axis, v->keys[f]);
                const spd_json *nj = spd_json_get(v, "name");
                if (nj && nj->type != SPD_JSON_STRING) return spd_errorf(SPD_ERR_INVALID, "%s: inputs[%d] axis %d: name must be a string", path, i, a.axis);
                name = nj ? nj->str : "";
                SPD_TRY(bound(path, v, "min_val", 1, &a.min));
                SPD_TRY(bound(path, v, "max_val", INT64_MAX, &a.max));
                SPD_TRY(bound(path, v, "opt_val", -1, &a.opt));
                if (a.min > a.max || (a.opt >= 0 && (a.opt < a.min || a.opt > a.max)))
                    return spd_errorf(SPD_ERR_INVALID, "%s: inputs[%d] axis %d: needs min_val <= opt_val <= max_val", path, i, a.axis);
            } else {
                return spd_errorf(SPD_ERR_INVALID, "%s: inputs[%d] axis %d: expected a tag or {name, min_val, opt_val, max_val}", path, i, a.axis);
            }
            spd_dyn_axis *na = spd_realloc(d->axes, (size_t)(d->n_axes + 1) * sizeof *na);
            if (!na) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
            d->axes = na;
            a.name = spd_strdup(name);
            d->axes[d->n_axes++] = a;
        }
    }
    for (int i = 0; outs && i < outs->n; i++) {
        const spd_json *o = &outs->items[i];
        if (o->type != SPD_JSON_OBJECT) return spd_errorf(SPD_ERR_INVALID, "%s: outputs[%d] must be an object of axis -> tag", path, i);
        for (int k = 0; k < o->n; k++) {
            spd_dyn_out_axis a = {i, 0, NULL};
            SPD_TRY(axis_key(path, o->keys[k], &a.axis));
            if (o->items[k].type != SPD_JSON_STRING)
                return spd_errorf(SPD_ERR_INVALID, "%s: outputs[%d] axis %d: the tag must be a string", path, i, a.axis);
            spd_dyn_out_axis *na = spd_realloc(d->out_axes, (size_t)(d->n_out_axes + 1) * sizeof *na);
            if (!na) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
            d->out_axes = na;
            a.name = spd_strdup(o->items[k].str);
            d->out_axes[d->n_out_axes++] = a;
        }
    }
    return SPD_OK;
}

spd_status spd_dynamic_info_parse_file(const char *path, spd_dynamic_info *out)
{
    memset(out, 0, sizeof *out);
    spd_json root;
    spd_status st = spd_json_parse_file(path, &root);
    if (st != SPD_OK) return spd_error_prefix(st, "dynamic_info");
    st = parse(path, &root, out);
    spd_json_free(&root);
    if (st != SPD_OK) {
        spd_dynamic_info_free(out);
        return spd_error_prefix(st, "dynamic_info");
    }
    return SPD_OK;
}

spd_status spd_dynamic_info_check(const spd_dynamic_info *d, int input, const char *input_name, const spd_tensor *t)
{
    for (int i = 0; i < d->n_axes; i++) {
        const spd_dyn_axis *a = &d->axes[i];
        if (a->input != input) continue;
        if (a->axis >= t->ndim)
            return spd_errorf(SPD_ERR_INVALID, "input '%s' has rank %d, dynamic_info names its axis %d", input_name,
                              t->ndim, a->axis);
        int64_t v = t->dims[a->axis];
        if (v < a->min || v > a->max)
            return spd_errorf(SPD_ERR_INVALID, "input '%s': axis %d ('%s') is %lld, outside dynamic_info's range [%lld, %lld]",
                              input_name, a->axis, a->name, (long long)v, (long long)a->min, (long long)a->max);
    }
    return SPD_OK;
}
