/* A minimal protobuf wire-format reader and writer, enough for ONNX.
 *
 * The reader never reads outside [base, end): every primitive checks its
 * bounds and reports failures as SPD_ERR_INVALID with a message naming the
 * field being read and the byte offset from the start of the buffer.
 * Sub-readers made by spd_pb_sub share `base`, so offsets stay absolute. */
#ifndef SPD_IO_PB_H
#define SPD_IO_PB_H

#include <stddef.h>
#include <stdint.h>
#include "speedster.h"

enum {
    SPD_PB_VARINT = 0,
    SPD_PB_FIXED64 = 1,
    SPD_PB_LEN = 2,
    SPD_PB_FIXED32 = 5
};

typedef struct spd_pb {
    const uint8_t *base; /* start of the whole buffer, for offsets */
    const uint8_t *p;    /* next byte to read */
    const uint8_t *end;  /* one past the last byte of this message */
} spd_pb;

void spd_pb_init(spd_pb *r, const void *buf, size_t len);
static inline int spd_pb_done(const spd_pb *r) { return r->p >= r->end; }
static inline size_t spd_pb_offset(const spd_pb *r) { return (size_t)(r->p - r->base); }

/* Reads the next tag. Field numbers are >= 1; groups (wire types 3 and 4),
 * unknown wire types and field 0 are errors. `msg` names the message for the
 * error text (e.g. "GraphProto"). */
spd_status spd_pb_tag(spd_pb *r, const char *msg, uint32_t *field, int *wt);
/* Fails unless wt == want, naming the field (e.g. "NodeProto.name"). */
spd_status spd_pb_expect(const spd_pb *r, int wt, int want, const char *what);

spd_status spd_pb_varint(spd_pb *r, uint64_t *v, const char *what);
spd_status spd_pb_fixed32(spd_pb *r, uint32_t *v, const char *what);
spd_status spd_pb_fixed64(spd_pb *r, uint64_t *v, const char *what);
/* A length-delimited field: *p points into the buffer, *n bytes long. */
spd_status spd_pb_bytes(spd_pb *r, const uint8_t **p, size_t *n, const char *what);
/* A length-delimited field as a reader of its own (an embedded message or a
 * packed repeated field). */
spd_status spd_pb_sub(spd_pb *r, spd_pb *sub, const char *what);
/* Skips a field's value of wire type wt. */
spd_status spd_pb_skip(spd_pb *r, int wt, const char *what);

/* Counts the varints in a packed field without decoding them; fails when the
 * last one is cut off. */
spd_status spd_pb_count_varints(const spd_pb *r, size_t *count, const char *what);

/* A growing output buffer. Allocation failures are remembered in `failed`
 * and reported once by spd_pbw_finish, so writers need not check each call.
 *
 * Large messages are best written in two passes over the same writing code:
 * spd_pbw_init_counting() makes the writer only measure (and remember the
 * length of every embedded message), then spd_pbw_start_writing() allocates
 * the exact size once, and the second pass writes each length up front, so
 * nothing is reallocated or moved. With plain spd_pbw_init() the writer
 * grows its buffer and shifts embedded messages as needed. */
typedef struct spd_pbw {
    uint8_t *buf;
    size_t len, cap;
    int failed;
    int mode;            /* 0 plain, 1 counting, 2 writing with known sizes */
    size_t *sizes;       /* per embedded message, in begin order */
    size_t n_sizes, cap_sizes, next;
} spd_pbw;

void spd_pbw_init(spd_pbw *w);
void spd_pbw_init_counting(spd_pbw *w);
/* Ends the counting pass: allocates the exact size and starts the second
 * pass, which must make exactly the same calls. */
void spd_pbw_start_writing(spd_pbw *w);
void spd_pbw_free(spd_pbw *w);
/* Hands the bytes to the caller (spd_free them) or reports the failure. */
spd_status spd_pbw_finish(spd_pbw *w, uint8_t **buf, size_t *len);

void spd_pbw_raw(spd_pbw *w, const void *p, size_t n);
void spd_pbw_varint(spd_pbw *w, uint64_t v);
void spd_pbw_tag(spd_pbw *w, uint32_t field, int wt);
/* field = int64 as a varint (negative numbers take ten bytes, as protobuf's
 * int32/int64 do). */
void spd_pbw_int(spd_pbw *w, uint32_t field, int64_t v);
void spd_pbw_float(spd_pbw *w, uint32_t field, float v);
void spd_pbw_double(spd_pbw *w, uint32_t field, double v);
void spd_pbw_bytes(spd_pbw *w, uint32_t field, const void *p, size_t n);
/* A string field; nothing is written for NULL. */
void spd_pbw_string(spd_pbw *w, uint32_t field, const char *s);
/* Packed repeated fields (nothing is written when n == 0). */
void spd_pbw_packed_ints(spd_pbw *w, uint32_t field, const int64_t *v, size_t n);
void spd_pbw_packed_floats(spd_pbw *w, uint32_t field, const float *v, size_t n);
/* An embedded message: mark = spd_pbw_begin(w, field); ...write its
 * fields...; spd_pbw_end(w, mark). Calls nest. */
size_t spd_pbw_begin(spd_pbw *w, uint32_t field);
void spd_pbw_end(spd_pbw *w, size_t mark);

#endif
