#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/alloc.h"

void spd_strbuf_init(spd_strbuf *b)
{
    b->cap = 256;
    b->len = 0;
    b->s = spd_malloc(b->cap);
    if (b->s) b->s[0] = '\0';
}

void spd_strbuf_printf(spd_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !b->s) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t nc = (b->len + (size_t)n + 1) * 2;
        char *ns = spd_realloc(b->s, nc);
        if (!ns) {
            spd_free(b->s);
            b->s = NULL;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
