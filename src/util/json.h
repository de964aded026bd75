/* A small JSON reader (a tree of values) and writer, for metadata.json,
 * dynamic_info, config files and the latencies file. */
#ifndef SPD_UTIL_JSON_H
#define SPD_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "speedster.h"

typedef enum { SPD_JSON_NULL, SPD_JSON_BOOL, SPD_JSON_NUMBER, SPD_JSON_STRING, SPD_JSON_ARRAY, SPD_JSON_OBJECT } spd_json_type;

typedef struct spd_json {
    spd_json_type type;
    bool b;
    double num;
    char *str;               /* STRING */
    int n;                   /* ARRAY / OBJECT element count */
    char **keys;             /* OBJECT keys */
    struct spd_json *items;  /* ARRAY / OBJECT values */
} spd_json;

/* Parses text (len bytes). `what` names the source in messages, which give
 * the line and column of the problem. */
spd_status spd_json_parse(const char *text, size_t len, const char *what, spd_json *out);
spd_status spd_json_parse_file(const char *path, spd_json *out);
void spd_json_free(spd_json *j);
/* Object member or NULL. */
const spd_json *spd_json_get(const spd_json *obj, const char *key);

/* Writes s as a JSON string literal (with quotes and escapes). */
void spd_json_write_string(FILE *f, const char *s);

#endif
