/* A string -> int map (open addressing) for value names. Keys are borrowed:
 * they must outlive the map. */
#ifndef SPD_UTIL_STRMAP_H
#define SPD_UTIL_STRMAP_H

#include <stddef.h>
#include "speedster.h"

typedef struct spd_strmap {
    const char **keys;
    int *vals;
    size_t cap;   /* power of two */
    size_t len;
} spd_strmap;

spd_status spd_strmap_init(spd_strmap *m, size_t expected);
void spd_strmap_free(spd_strmap *m);
/* Inserts or replaces. */
spd_status spd_strmap_put(spd_strmap *m, const char *key, int val);
/* The value, or -1 when absent. */
int spd_strmap_get(const spd_strmap *m, const char *key);

#endif
