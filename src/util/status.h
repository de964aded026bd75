/* Errors are values: a status plus one thread-local line naming the problem. */
#ifndef SPD_UTIL_STATUS_H
#define SPD_UTIL_STATUS_H

#include "speedster.h"

/* Formats the thread's error message and returns `s`, so that
 *     return spd_errorf(SPD_ERR_INVALID, "Conv: kernel_shape has %d dims", n);
 * reports and propagates in one line. */
spd_status spd_errorf(spd_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the current message (used to add the file or node
 * name as an error travels up) and returns `s`. */
spd_status spd_error_prefix(spd_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void spd_error_clear(void);

#define SPD_TRY(expr)                                                          \
    do {                                                                       \
        spd_status spd_try_s_ = (expr);                                        \
        if (spd_try_s_ != SPD_OK) return spd_try_s_;                           \
    } while (0)

#endif
