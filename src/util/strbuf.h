/* A growing string for multi-line texts (reports, summaries). On an
 * allocation failure the text is dropped (s becomes NULL) and later appends
 * do nothing, so callers check once at the end. */
#ifndef SPD_UTIL_STRBUF_H
#define SPD_UTIL_STRBUF_H

#include <stddef.h>

typedef struct spd_strbuf {
    char *s;
    size_t len, cap;
} spd_strbuf;

/* Starts an empty text ("" rather than NULL unless out of memory). */
void spd_strbuf_init(spd_strbuf *b);
void spd_strbuf_printf(spd_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
