#include "util/strmap.h"

#include <string.h>

#include "util/alloc.h"
#include "util/status.h"

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

spd_status spd_strmap_init(spd_strmap *m, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    m->keys = spd_calloc(cap, sizeof *m->keys);
    m->vals = spd_calloc(cap, sizeof *m->vals);
    m->cap = cap;
    m->len = 0;
    if (!m->keys || !m->vals) {
        spd_strmap_free(m);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for a name table");
    }
    return SPD_OK;
}

void spd_strmap_free(spd_strmap *m)
{
    spd_free(m->keys);
    spd_free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t slot(const spd_strmap *m, const char *key)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}

spd_status spd_strmap_put(spd_strmap *m, const char *key, int val)
{
    if ((m->len + 1) * 2 > m->cap) {
        spd_strmap bigger;
        SPD_TRY(spd_strmap_init(&bigger, m->cap));
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = slot(&bigger, m->keys[i]);
                bigger.keys[j] = m->keys[i];
                bigger.vals[j] = m->vals[i];
                bigger.len++;
            }
        spd_strmap_free(m);
        *m = bigger;
    }
    size_t i = slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->len++;
    }
    m->vals[i] = val;
    return SPD_OK;
}

int spd_strmap_get(const spd_strmap *m, const char *key)
{
    if (!m->cap) return -1;
    size_t i = slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}
