#include "util/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[1024];

const char *spd_last_error(void) { return g_msg; }

void spd_error_clear(void) { g_msg[0] = '\0'; }

spd_status spd_errorf(spd_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

spd_status spd_error_prefix(spd_status s, const char *fmt, ...)
{
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    /* Truncation of an over-long message is acceptable; keep the prefix. */
    size_t k = strlen(prefix);
    if (k > sizeof g_msg - 3) k = sizeof g_msg - 3;
    memcpy(g_msg, prefix, k);
    memcpy(g_msg + k, ": ", 2);
    size_t room = sizeof g_msg - k - 3, ol = strlen(old);
    if (ol > room) ol = room;
    memcpy(g_msg + k + 2, old, ol);
    g_msg[k + 2 + ol] = '\0';
    return s;
}
