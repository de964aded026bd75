/* The compression config of optimization_time "unconstrained": JSON, or
 * YAML written as nested "key: value" lines. Speedster reads the sections of
 * its compressors; speedster validates them so a typo is an error, not a
 * silently ignored setting. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "optimize/options.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/status.h"

static const char *const sections[] = {"sparseml", "intel_pruning", NULL};
static const char *const keys[] = {"epochs", "num_epochs", "training_epochs", "learning_rate", "lr", "sparsity",
                                   "target_sparsity", "pruning_method", "batch_size", "recipe", NULL};

static int known(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s)) return 1;
    return 0;
}

/* line 0: JSON, where keys have no line number to give. */
static spd_status check_pair(const char *path, int line, const char *section, const char *key)
{
    char where[64] = "";
    if (line > 0) snprintf(where, sizeof where, ":%d", line);
    if (!section) {
        if (!known(sections, key))
            return spd_errorf(SPD_ERR_INVALID, "%s%s: unknown section '%s' (known: sparseml, intel_pruning)", path, where, key);
    } else if (!known(keys, key)) {
        return spd_errorf(SPD_ERR_INVALID, "%s%s: unknown key '%s' in section '%s' (known: epochs, learning_rate, "
                          "sparsity, pruning_method, batch_size, recipe)", path, where, key, section);
    }
    return SPD_OK;
}

static spd_status check_yaml(const char *path, FILE *f, int *n_sections)
{
    char line[1024], section[128] = "";
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        int indent = 0;
        while (line[indent] == ' ') indent++;
        char *p = line + indent;
        size_t n = strlen(p);
        while (n > 0 && isspace((unsigned char)p[n - 1])) p[--n] = '\0';
        if (!n || !strcmp(p, "---")) continue;
        if (line[indent] == '\t') return spd_errorf(SPD_ERR_INVALID, "%s:%d: tabs are not allowed for indentation", path, ln);
        char *colon = strchr(p, ':');
        if (!colon) return spd_errorf(SPD_ERR_INVALID, "%s:%d: expected 'key: value'", path, ln);
        *colon = '\0';
        char *key = p;
        size_t kl = strlen(key);
        while (kl > 0 && isspace((unsigned char)key[kl - 1])) key[--kl] = '\0';
        if (indent == 0) {
            SPD_TRY(check_pair(path, ln, NULL, key));
            snprintf(section, sizeof section, "%s", key);
            (*n_sections)++;
        } else {
            if (!*section) return spd_errorf(SPD_ERR_INVALID, "%s:%d: '%s' is indented outside a section", path, ln, key);
            SPD_TRY(check_pair(path, ln, section, key));
        }
    }
    return SPD_OK;
}

spd_status spd_config_file_check(const char *path, char **summary)
{
    *summary = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return spd_errorf(SPD_ERR_INVALID, "config_file %s: cannot open", path);
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c)) {
    }
    int n_sections = 0;
    spd_status st;
    if (c == '{') {
        fclose(f);
        spd_json root;
        SPD_TRY(spd_json_parse_file(path, &root));
        st = SPD_OK;
        for (int i = 0; i < root.n && st == SPD_OK; i++) {
            st = check_pair(path, 0, NULL, root.keys[i]);
            const spd_json *s = &root.items[i];
            if (st == SPD_OK && s->type != SPD_JSON_OBJECT)
                st = spd_errorf(SPD_ERR_INVALID, "%s: section '%s' must be an object", path, root.keys[i]);
            for (int k = 0; st == SPD_OK && k < s->n; k++) st = check_pair(path, 0, root.keys[i], s->keys[k]);
            n_sections++;
        }
        spd_json_free(&root);
    } else {
        rewind(f);
        st = check_yaml(path, f, &n_sections);
        fclose(f);
    }
    if (st != SPD_OK) return spd_error_prefix(st, "config_file");
    char buf[256];
    snprintf(buf, sizeof buf, "%s: %d compression section%s, valid", path, n_sections, n_sections == 1 ? "" : "s");
    *summary = spd_strdup(buf);
    return SPD_OK;
}
