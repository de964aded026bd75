/* Elementwise operators: arithmetic, comparisons and logic with numpy
 * broadcasting (and the pre-opset-7 `broadcast`/`axis` form), variadic
 * Min/Max/Sum/Mean, math functions, Where, Cast and CastLike.
 *
 * Float16 and bfloat16 are computed in float32. Integer arithmetic wraps
 * around like two's-complement hardware (computed in uint64 so that C's
 * signed-overflow rules never apply); integer Div truncates toward zero. */
#include "ops/elementwise.h"

#include <math.h>
#include "ops/ew_fast.h"
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/status.h"

/* ------------------------------------------------------------------------ */
/* Broadcasting driver and fp32 staging                                      */

spd_status spd_ew_broadcast(int nin, const spd_tensor *const *in, spd_tensor *out,
                            spd_ew_run_fn fn, const void *arg)
{
    if (nin < 1 || nin > SPD_EW_MAX_INPUTS)
        return spd_errorf(SPD_ERR_INTERNAL, "broadcast of %d inputs", nin);
    if (spd_tensor_numel(out) == 0) return SPD_OK;

    const int nd = out->ndim;
    int64_t st[SPD_EW_MAX_INPUTS][SPD_MAX_DIMS];
    for (int k = 0; k < nin; k++) spd_broadcast_strides(in[k], nd, out->dims, st[k]);

    /* Merge axes from the innermost outwards while every input continues
     * its stride pattern, so runs are as long as possible. Size-1 axes
     * carry no data and are dropped. The innermost run's steps are 0 or 1. */
    int64_t cd[SPD_MAX_DIMS], cs[SPD_EW_MAX_INPUTS][SPD_MAX_DIMS];
    int cn = 0;
    for (int i = nd - 1; i >= 0; i--) {
        if (out->dims[i] == 1) continue;
        bool merge = cn > 0;
        for (int k = 0; k < nin && merge; k++)
            if (st[k][i] != cs[k][cn - 1] * cd[cn - 1]) merge = false;
        if (merge) {
            cd[cn - 1] *= out->dims[i];
            continue;
        }
        cd[cn] = out->dims[i];
        for (int k = 0; k < nin; k++) cs[k][cn] = st[k][i];
        cn++;
    }
    if (cn == 0) {
        cd[0] = 1;
        for (int k = 0; k < nin; k++) cs[k][0] = 0;
        cn = 1;
    }

    const char *base[SPD_EW_MAX_INPUTS];
    size_t esz[SPD_EW_MAX_INPUTS];
    int64_t off[SPD_EW_MAX_INPUTS], step[SPD_EW_MAX_INPUTS];
    for (int k = 0; k < nin; k++) {
        base[k] = in[k]->data;
        esz[k] = spd_dtype_size(in[k]->dtype);
        off[k] = 0;
        step[k] = cs[k][0];
    }
    const int64_t n = cd[0];
    const size_t run_bytes = (size_t)n * spd_dtype_size(out->dtype);
    int64_t outer = 1, idx[SPD_MAX_DIMS] = {0};
    for (int d = 1; d < cn; d++) outer *= cd[d];

    char *o = out->data;
    const void *p[SPD_EW_MAX_INPUTS];
    for (int64_t r = 0; r < outer; r++) {
        for (int k = 0; k < nin; k++) p[k] = base[k] + (size_t)off[k] * esz[k];
        fn(arg, n, p, step, o);
        o += run_bytes;
        for (int d = 1; d < cn; d++) {
            for (int k = 0; k < nin; k++) off[k] += cs[k][d];
            if (++idx[d] < cd[d]) break;
            for (int k = 0; k < nin; k++) off[k] -= cs[k][d] * cd[d];
            idx[d] = 0;
        }
    }
    return SPD_OK;
}

spd_status spd_ew_to_f32(const spd_tensor *src, spd_tensor *dst)
{
    memset(dst, 0, sizeof *dst);
    SPD_TRY(spd_tensor_alloc(dst, SPD_FLOAT, src->ndim, src->dims));
    const int64_t n = spd_tensor_numel(src);
    float *o = dst->data;
    switch (src->dtype) {
    case SPD_FLOAT: memcpy(o, src->data, (size_t)n * sizeof *o); break;
    case SPD_FLOAT16:
        for (int64_t i = 0; i < n; i++) o[i] = spd_f16_to_f32(((const uint16_t *)src->data)[i]);
        break;
    case SPD_BFLOAT16:
        for (int64_t i = 0; i < n; i++) o[i] = spd_bf16_to_f32(((const uint16_t *)src->data)[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) o[i] = (float)spd_tensor_get(src, i);
        break;
    }
    return SPD_OK;
}

spd_status spd_ew_from_f32(const spd_tensor *src, spd_dtype dt, spd_tensor *dst)
{
    SPD_TRY(spd_tensor_alloc(dst, dt, src->ndim, src->dims));
    const int64_t n = spd_tensor_numel(src);
    const float *a = src->data;
    switch (dt) {
    case SPD_FLOAT: memcpy(dst->data, a, (size_t)n * sizeof *a); break;
    case SPD_FLOAT16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst->data)[i] = spd_f32_to_f16(a[i]);
        break;
    case SPD_BFLOAT16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst->data)[i] = spd_f32_to_bf16(a[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) spd_tensor_set(dst, i, a[i]);
        break;
    }
    return SPD_OK;
}

/* ------------------------------------------------------------------------ */
/* Binary run functions                                                      */

/* What a run function needs besides its pointers. `dt` comes first: the
 * typed runs switch on it. */
typedef struct ew_arg {
    spd_dtype dt;     /* element type of the inputs (float for fp16/bf16) */
    spd_dtype dt_b;   /* exponent type of a mixed-type Pow */
    int left;         /* BitShift direction */
    size_t esz;       /* element size for type-agnostic copies */
} ew_arg;

/* out[i] = EXPR(x, y) over one run, with the three broadcast shapes of a
 * run (both stepping, one fixed, both fixed) as separate loops so the
 * compiler can vectorise the common ones. */
#define BIN_RUN(TA, TB, TO, EXPR)                                              \
    do {                                                                       \
        const TA *a_ = in[0];                                                  \
        const TB *b_ = in[1];                                                  \
        TO *o_ = out;                                                          \
        if (step[0] && step[1]) {                                              \
            for (int64_t i_ = 0; i_ < n; i_++) {                               \
                const TA x = a_[i_];                                           \
                const TB y = b_[i_];                                           \
                o_[i_] = (TO)(EXPR);                                           \
            }                                                                  \
        } else if (step[0]) {                                                  \
            const TB y = b_[0];                                                \
            for (int64_t i_ = 0; i_ < n; i_++) {                               \
                const TA x = a_[i_];                                           \
                o_[i_] = (TO)(EXPR);                                           \
            }                                                                  \
        } else if (step[1]) {                                                  \
            const TA x = a_[0];                                                \
            for (int64_t i_ = 0; i_ < n; i_++) {                               \
                const TB y = b_[i_];                                           \
                o_[i_] = (TO)(EXPR);                                           \
            }                                                                  \
        } else {                                                               \
            const TA x = a_[0];                                                \
            const TB y = b_[0];                                                \
            const TO r_ = (TO)(EXPR);                                          \
            for (int64_t i_ = 0; i_ < n; i_++) o_[i_] = r_;                    \
        }                                                                      \
    } while (0)

/* An arithmetic run over every numeric dtype: FEXPR for float, DEXPR for
 * double, SEXPR for signed and UEXPR for unsigned integers. */
#define ARITH_RUN(name, FEXPR, DEXPR, SEXPR, UEXPR)                            \
    static void run_##name(const void *arg, int64_t n, const void *const *in,  \
                           const int64_t *step, void *out)                     \
    {                                                                          \
        switch (*(const spd_dtype *)arg) {                                     \
        case SPD_FLOAT: BIN_RUN(float, float, float, FEXPR); break;            \
        case SPD_DOUBLE: BIN_RUN(double, double, double, DEXPR); break;        \
        case SPD_INT8: BIN_RUN(int8_t, int8_t, int8_t, SEXPR); break;          \
        case SPD_INT16: BIN_RUN(int16_t, int16_t, int16_t, SEXPR); break;      \
        case SPD_INT32: BIN_RUN(int32_t, int32_t, int32_t, SEXPR); break;      \
        case SPD_INT64: BIN_RUN(int64_t, int64_t, int64_t, SEXPR); break;      \
        case SPD_UINT8: BIN_RUN(uint8_t, uint8_t, uint8_t, UEXPR); break;      \
        case SPD_UINT16: BIN_RUN(uint16_t, uint16_t, uint16_t, UEXPR); break;  \
        case SPD_UINT32: BIN_RUN(uint32_t, uint32_t, uint32_t, UEXPR); break;  \
        case SPD_UINT64: BIN_RUN(uint64_t, uint64_t, uint64_t, UEXPR); break;  \
        default: break;                                                        \
        }                                                                      \
    }

/* Integer division and remainder; divisors were checked to be non-zero.
 * x / -1 is negation done in uint64 so INT_MIN / -1 wraps instead of
 * trapping. */
static inline int64_t sdiv(int64_t x, int64_t y)
{
    return y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y;
}

static inline int64_t smod_trunc(int64_t x, int64_t y)
{
    return y == -1 ? 0 : x % y;
}

/* Python's remainder: the result takes the divisor's sign. */
static inline int64_t smod_py(int64_t x, int64_t y)
{
    int64_t r = smod_trunc(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}

static inline float fmod_pyf(float x, float y)
{
    float r = fmodf(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}

static inline double fmod_py(double x, double y)
{
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}

/* Integer powers by squaring, wrapping on overflow. A negative exponent
 * gives the truncated real result: 0 except for bases 1 and -1. */
static inline int64_t ipow_s(int64_t b, int64_t e)
{
    if (e < 0) return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, p = (uint64_t)b;
    for (; e; e >>= 1) {
        if (e & 1) r *= p;
        p *= p;
    }
    return (int64_t)r;
}

static inline uint64_t ipow_u(uint64_t b, uint64_t e)
{
    uint64_t r = 1;
    for (; e; e >>= 1) {
        if (e & 1) r *= b;
        b *= b;
    }
    return r;
}

#define WRAP(op) ((uint64_t)x op (uint64_t)y)
ARITH_RUN(add, x + y, x + y, WRAP(+), WRAP(+))
ARITH_RUN(sub, x - y, x - y, WRAP(-), WRAP(-))
ARITH_RUN(mul, x * y, x * y, WRAP(*), WRAP(*))
ARITH_RUN(div, x / y, x / y, sdiv(x, y), x / y)
ARITH_RUN(fmod, fmodf(x, y), fmod(x, y), smod_trunc(x, y), x % y)
ARITH_RUN(pymod, fmod_pyf(x, y), fmod_py(x, y), smod_py(x, y), x % y)
ARITH_RUN(pow, powf(x, y), pow(x, y), ipow_s(x, y), ipow_u(x, y))
/* NaN-propagating like numpy's minimum/maximum. */
ARITH_RUN(min, (x < y || isnan(x)) ? x : y, (x < y || isnan(x)) ? x : y, x < y ? x : y, x < y ? x : y)
ARITH_RUN(max, (x > y || isnan(x)) ? x : y, (x > y || isnan(x)) ? x : y, x > y ? x : y, x > y ? x : y)
#undef WRAP

#define INT_RUN(name, EXPR)                                                    \
    static void run_##name(const void *arg, int64_t n, const void *const *in,  \
                           const int64_t *step, void *out)                     \
    {                                                                          \
        switch (*(const spd_dtype *)arg) {                                     \
        case SPD_INT8: BIN_RUN(int8_t, int8_t, int8_t, EXPR); break;           \
        case SPD_INT16: BIN_RUN(int16_t, int16_t, int16_t, EXPR); break;       \
        case SPD_INT32: BIN_RUN(int32_t, int32_t, int32_t, EXPR); break;       \
        case SPD_INT64: BIN_RUN(int64_t, int64_t, int64_t, EXPR); break;       \
        case SPD_UINT8: BIN_RUN(uint8_t, uint8_t, uint8_t, EXPR); break;       \
        case SPD_UINT16: BIN_RUN(uint16_t, uint16_t, uint16_t, EXPR); break;   \
        case SPD_UINT32: BIN_RUN(uint32_t, uint32_t, uint32_t, EXPR); break;   \
        case SPD_UINT64: BIN_RUN(uint64_t, uint64_t, uint64_t, EXPR); break;   \
        default: break;                                                        \
        }                                                                      \
    }

INT_RUN(bitand, x & y)
INT_RUN(bitor, x | y)
INT_RUN(bitxor, x ^ y)

/* Comparisons into a bool (uint8) output. */
#define CMP_RUN(name, OP)                                                      \
    static void run_##name(const void *arg, int64_t n, const void *const *in,  \
                           const int64_t *step, void *out)                     \
    {                                                                          \
        switch (*(const spd_dtype *)arg) {                                     \
        case SPD_FLOAT: BIN_RUN(float, float, uint8_t, x OP y); break;         \
        case SPD_DOUBLE: BIN_RUN(double, double, uint8_t, x OP y); break;      \
        case SPD_INT8: BIN_RUN(int8_t, int8_t, uint8_t, x OP y); break;        \
        case SPD_INT16: BIN_RUN(int16_t, int16_t, uint8_t, x OP y); break;     \
        case SPD_INT32: BIN_RUN(int32_t, int32_t, uint8_t, x OP y); break;     \
        case SPD_INT64: BIN_RUN(int64_t, int64_t, uint8_t, x OP y); break;     \
        case SPD_UINT8: BIN_RUN(uint8_t, uint8_t, uint8_t, x OP y); break;     \
        case SPD_UINT16: BIN_RUN(uint16_t, uint16_t, uint8_t, x OP y); break;  \
        case SPD_UINT32: BIN_RUN(uint32_t, uint32_t, uint8_t, x OP y); break;  \
        case SPD_UINT64: BIN_RUN(uint64_t, uint64_t, uint8_t, x OP y); break;  \
        case SPD_BOOL: BIN_RUN(uint8_t, uint8_t, uint8_t, (x != 0) OP (y != 0)); break; \
        default: break;                                                        \
        }                                                                      \
    }

CMP_RUN(eq, ==)
CMP_RUN(lt, <)
CMP_RUN(gt, >)
CMP_RUN(le, <=)
CMP_RUN(ge, >=)

static void run_and(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    (void)arg;
    BIN_RUN(uint8_t, uint8_t, uint8_t, (x != 0) & (y != 0));
}

static void run_or(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    (void)arg;
    BIN_RUN(uint8_t, uint8_t, uint8_t, (x != 0) | (y != 0));
}

static void run_xor(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    (void)arg;
    BIN_RUN(uint8_t, uint8_t, uint8_t, (x != 0) ^ (y != 0));
}

/* Shifting by the type's width or more yields 0 (C leaves it undefined). */
#define SHIFT(T, W) (y >= (W) ? 0 : left ? (uint64_t)x << y : (uint64_t)x >> y)
static void run_bitshift(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    const ew_arg *a = arg;
    const int left = a->left;
    switch (a->dt) {
    case SPD_UINT8: BIN_RUN(uint8_t, uint8_t, uint8_t, SHIFT(uint8_t, 8)); break;
    case SPD_UINT16: BIN_RUN(uint16_t, uint16_t, uint16_t, SHIFT(uint16_t, 16)); break;
    case SPD_UINT32: BIN_RUN(uint32_t, uint32_t, uint32_t, SHIFT(uint32_t, 32)); break;
    case SPD_UINT64: BIN_RUN(uint64_t, uint64_t, uint64_t, SHIFT(uint64_t, 64)); break;
    default: break;
    }
}
#undef SHIFT

/* Pow with base and exponent of different types (opset 12+): through
 * int64 when both are integers, else through double; the result has the
 * base's type. Rare, so the generic element accessors are fine. */
static void run_pow_mixed(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    const ew_arg *a = arg;
    spd_tensor ta = {.dtype = a->dt, .data = (void *)in[0]};
    spd_tensor tb = {.dtype = a->dt_b, .data = (void *)in[1]};
    spd_tensor to = {.dtype = a->dt, .data = out};
    const bool ints = spd_dtype_is_int(a->dt) && spd_dtype_is_int(a->dt_b);
    for (int64_t i = 0; i < n; i++) {
        if (ints)
            spd_tensor_set_i64(&to, i, ipow_s(spd_tensor_get_i64(&ta, i * step[0]),
                                             spd_tensor_get_i64(&tb, i * step[1])));
        else
            spd_tensor_set(&to, i, pow(spd_tensor_get(&ta, i * step[0]), spd_tensor_get(&tb, i * step[1])));
    }
}

/* Broadcast copy (any dtype, by element size). */
static void run_copy(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    const size_t esz = ((const ew_arg *)arg)->esz;
    if (step[0]) {
        memcpy(out, in[0], (size_t)n * esz);
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy((char *)out + (size_t)i * esz, in[0], esz);
}

#define WHERE_RUN(T)                                                           \
    do {                                                                       \
        const uint8_t *c_ = in[0];                                             \
        const T *x_ = in[1], *y_ = in[2];                                      \
        T *o_ = out;                                                           \
        for (int64_t i_ = 0; i_ < n; i_++)                                     \
            o_[i_] = c_[i_ * step[0]] ? x_[i_ * step[1]] : y_[i_ * step[2]];   \
    } while (0)

static void run_where(const void *arg, int64_t n, const void *const *in, const int64_t *step, void *out)
{
    switch (((const ew_arg *)arg)->esz) {
    case 1: WHERE_RUN(uint8_t); break;
    case 2: WHERE_RUN(uint16_t); break;
    case 4: WHERE_RUN(uint32_t); break;
    case 8: WHERE_RUN(uint64_t); break;
    default: break;
    }
}

/* ------------------------------------------------------------------------ */
/* Binary kernels                                                            */

#define T_(d) (1u << (d))
#define M_FLOAT (T_(SPD_FLOAT) | T_(SPD_DOUBLE) | T_(SPD_FLOAT16) | T_(SPD_BFLOAT16))
#define M_SINT (T_(SPD_INT8) | T_(SPD_INT16) | T_(SPD_INT32) | T_(SPD_INT64))
#define M_UINT (T_(SPD_UINT8) | T_(SPD_UINT16) | T_(SPD_UINT32) | T_(SPD_UINT64))
#define M_INT (M_SINT | M_UINT)
#define M_NUM (M_FLOAT | M_INT)
#define M_BOOL T_(SPD_BOOL)

typedef struct binop {
    spd_ew_run_fn run;
    unsigned types;       /* accepted input dtypes */
    bool bool_out;        /* comparisons */
    bool int_divisor;     /* integer divisors must be non-zero */
    int fast;             /* 1 + the spd_ew_binop of the float32 fast path, 0 if none */
} binop;

static const binop OP_ADD = {run_add, M_NUM, false, false, 1 + SPD_EW_ADD};
static const binop OP_SUB = {run_sub, M_NUM, false, false, 1 + SPD_EW_SUB};
static const binop OP_MUL = {run_mul, M_NUM, false, false, 1 + SPD_EW_MUL};
static const binop OP_DIV = {run_div, M_NUM, false, true, 1 + SPD_EW_DIV};
static const binop OP_FMOD = {run_fmod, M_NUM, false, true};
static const binop OP_PYMOD = {run_pymod, M_NUM, false, true};
static const binop OP_POW = {run_pow, M_NUM, false, false};
static const binop OP_MIN = {run_min, M_NUM, false, false, 1 + SPD_EW_MIN};
static const binop OP_MAX = {run_max, M_NUM, false, false, 1 + SPD_EW_MAX};
static const binop OP_BITAND = {run_bitand, M_INT, false, false};
static const binop OP_BITOR = {run_bitor, M_INT, false, false};
static const binop OP_BITXOR = {run_bitxor, M_INT, false, false};
static const binop OP_BITSHIFT = {run_bitshift, M_UINT, false, false};
static const binop OP_EQ = {run_eq, M_NUM | M_BOOL, true, false};
static const binop OP_LT = {run_lt, M_NUM, true, false};
static const binop OP_GT = {run_gt, M_NUM, true, false};
static const binop OP_LE = {run_le, M_NUM, true, false};
static const binop OP_GE = {run_ge, M_NUM, true, false};
static const binop OP_AND = {run_and, M_BOOL, true, false};
static const binop OP_OR = {run_or, M_BOOL, true, false};
static const binop OP_XOR = {run_xor, M_BOOL, true, false};

/* Before opset 7, B was broadcast onto A only when `broadcast` = 1, its
 * dims matching A's starting at `axis` (by default aligned to A's end).
 * That is expressed as a view of B padded with 1s to A's rank, which numpy
 * broadcasting then handles. */
static spd_status legacy_broadcast(const spd_op_ctx *ctx, const spd_tensor *a, const spd_tensor *b,
                                   spd_tensor *view, const spd_tensor **bout)
{
    *bout = b;
    if (ctx->opset >= 7 || !spd_attr_int(ctx->node, "broadcast", 0)) return SPD_OK;
    int64_t axis = a->ndim - b->ndim;
    if (spd_node_attr(ctx->node, "axis")) {
        axis = spd_attr_int(ctx->node, "axis", 0);
        if (axis < 0) axis += a->ndim;
    }
    if (axis < 0 || axis + b->ndim > a->ndim)
        return spd_errorf(SPD_ERR_INVALID, "cannot broadcast a rank-%d B onto a rank-%d A at axis %lld",
                          b->ndim, a->ndim, (long long)axis);
    spd_tensor_view(view, b);
    view->ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) view->dims[i] = 1;
    for (int i = 0; i < b->ndim; i++) view->dims[axis + i] = b->dims[i];
    *bout = view;
    return SPD_OK;
}

static spd_status check_nonzero(const spd_tensor *b)
{
    if (!spd_dtype_is_int(b->dtype)) return SPD_OK;
    const int64_t n = spd_tensor_numel(b);
    for (int64_t i = 0; i < n; i++)
        if (spd_tensor_get_i64(b, i) == 0) return spd_errorf(SPD_ERR_INVALID, "integer division by zero");
    return SPD_OK;
}

/* out = op(a, b) broadcast, staging float16/bfloat16 through float32;
 * float32 arithmetic takes ew_fast.c's vectorised, threaded driver when
 * `fast` (1 + its spd_ew_binop) is set. */
static spd_status apply_binary(const spd_tensor *a, const spd_tensor *b, spd_tensor *out,
                               spd_ew_run_fn run, bool bool_out, int fast, ew_arg *arg)
{
    const spd_tensor *ins[2] = {a, b};
    int nd;
    int64_t dims[SPD_MAX_DIMS];
    SPD_TRY(spd_broadcast_shapes(2, ins, &nd, dims));
    const spd_dtype odt = bool_out ? SPD_BOOL : a->dtype;
    if (!spd_ew_is_half(a->dtype)) {
        arg->dt = a->dtype;
        if (fast && a->dtype == SPD_FLOAT) {
            SPD_TRY(spd_tensor_alloc_uninit(out, odt, nd, dims)); /* every element written */
            spd_ew_binary_f32((spd_ew_binop)(fast - 1), a, b, out);
            return SPD_OK;
        }
        SPD_TRY(spd_tensor_alloc(out, odt, nd, dims));
        return spd_ew_broadcast(2, ins, out, run, arg);
    }
    spd_tensor fa = {0}, fb = {0}, fo = {0};
    spd_status s = spd_ew_to_f32(a, &fa);
    if (s == SPD_OK) s = spd_ew_to_f32(b, &fb);
    if (s == SPD_OK) {
        const spd_tensor *fins[2] = {&fa, &fb};
        arg->dt = SPD_FLOAT;
        if (bool_out) {
            s = spd_tensor_alloc(out, odt, nd, dims);
            if (s == SPD_OK) s = spd_ew_broadcast(2, fins, out, run, arg);
        } else {
            s = spd_tensor_alloc(&fo, SPD_FLOAT, nd, dims);
            if (s == SPD_OK && fast)
                spd_ew_binary_f32((spd_ew_binop)(fast - 1), &fa, &fb, &fo);
            else if (s == SPD_OK)
                s = spd_ew_broadcast(2, fins, &fo, run, arg);
            if (s == SPD_OK) s = spd_ew_from_f32(&fo, a->dtype, out);
        }
    }
    spd_tensor_release(&fa);
    spd_tensor_release(&fb);
    spd_tensor_release(&fo);
    return s;
}

static spd_status binary_inputs(const spd_op_ctx *ctx, const spd_tensor **a, const spd_tensor **b,
                                spd_tensor *bview)
{
    *a = spd_ew_input(ctx, 0);
    *b = spd_ew_input(ctx, 1);
    if (!*a || !*b) return spd_errorf(SPD_ERR_INVALID, "expects two inputs");
    return legacy_broadcast(ctx, *a, *b, bview, b);
}

static spd_status binary(spd_op_ctx *ctx, const binop *op, ew_arg *arg)
{
    const spd_tensor *a, *b;
    spd_tensor bview;
    SPD_TRY(binary_inputs(ctx, &a, &b, &bview));
    if (a->dtype != b->dtype)
        return spd_errorf(SPD_ERR_INVALID, "input types %s and %s differ", spd_dtype_name(a->dtype),
                          spd_dtype_name(b->dtype));
    if (!(op->types & T_(a->dtype)))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(a->dtype));
    if (op->int_divisor) SPD_TRY(check_nonzero(b));
    return apply_binary(a, b, &ctx->out[0], op->run, op->bool_out, op->fast, arg);
}

#define BINARY_KERNEL(name, OP)                                                \
    static spd_status k_##name(spd_op_ctx *ctx)                                \
    {                                                                          \
        ew_arg arg = {0};                                                      \
        return binary(ctx, &OP, &arg);                                         \
    }

BINARY_KERNEL(add, OP_ADD)
BINARY_KERNEL(sub, OP_SUB)
BINARY_KERNEL(mul, OP_MUL)
BINARY_KERNEL(div, OP_DIV)
BINARY_KERNEL(equal, OP_EQ)
BINARY_KERNEL(less, OP_LT)
BINARY_KERNEL(greater, OP_GT)
BINARY_KERNEL(less_equal, OP_LE)
BINARY_KERNEL(greater_equal, OP_GE)
BINARY_KERNEL(and, OP_AND)
BINARY_KERNEL(or, OP_OR)
BINARY_KERNEL(xor, OP_XOR)
BINARY_KERNEL(bitwise_and, OP_BITAND)
BINARY_KERNEL(bitwise_or, OP_BITOR)
BINARY_KERNEL(bitwise_xor, OP_BITXOR)

static spd_status k_mod(spd_op_ctx *ctx)
{
    const int64_t fmod_attr = spd_attr_int(ctx->node, "fmod", 0);
    if (fmod_attr != 0 && fmod_attr != 1)
        return spd_errorf(SPD_ERR_INVALID, "fmod must be 0 or 1, got %lld", (long long)fmod_attr);
    ew_arg arg = {0};
    return binary(ctx, fmod_attr ? &OP_FMOD : &OP_PYMOD, &arg);
}

static spd_status k_bitshift(spd_op_ctx *ctx)
{
    const char *dir = spd_attr_string(ctx->node, "direction", NULL);
    ew_arg arg = {0};
    if (dir && !strcmp(dir, "LEFT"))
        arg.left = 1;
    else if (!dir || strcmp(dir, "RIGHT"))
        return spd_errorf(SPD_ERR_INVALID, "direction must be \"LEFT\" or \"RIGHT\"");
    return binary(ctx, &OP_BITSHIFT, &arg);
}

static spd_status k_pow(spd_op_ctx *ctx)
{
    const spd_tensor *a, *b;
    spd_tensor bview;
    SPD_TRY(binary_inputs(ctx, &a, &b, &bview));
    ew_arg arg = {0};
    if (a->dtype == b->dtype) return binary(ctx, &OP_POW, &arg);
    if (!(M_NUM & T_(a->dtype)) || !(M_NUM & T_(b->dtype)))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "Pow of %s by %s is not supported", spd_dtype_name(a->dtype),
                          spd_dtype_name(b->dtype));
    const spd_tensor *ins[2] = {a, b};
    int nd;
    int64_t dims[SPD_MAX_DIMS];
    SPD_TRY(spd_broadcast_shapes(2, ins, &nd, dims));
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], a->dtype, nd, dims));
    arg.dt = a->dtype;
    arg.dt_b = b->dtype;
    return spd_ew_broadcast(2, ins, &ctx->out[0], run_pow_mixed, &arg);
}

/* Min, Max, Sum, Mean: a left fold of the binary op over all inputs,
 * broadcast together, accumulated in the output (or a float32 staging
 * tensor for float16/bfloat16). */
static spd_status variadic(spd_op_ctx *ctx, const binop *op, bool mean)
{
    const int n = ctx->n_inputs;
    if (n < 1) return spd_errorf(SPD_ERR_INVALID, "expects at least one input");
    for (int k = 0; k < n; k++) {
        if (!ctx->in[k]) return spd_errorf(SPD_ERR_INVALID, "input %d is missing", k);
        if (ctx->in[k]->dtype != ctx->in[0]->dtype)
            return spd_errorf(SPD_ERR_INVALID, "input types %s and %s differ",
                              spd_dtype_name(ctx->in[0]->dtype), spd_dtype_name(ctx->in[k]->dtype));
    }
    const spd_dtype dt = ctx->in[0]->dtype;
    const unsigned types = mean ? M_FLOAT : op->types;
    if (!(types & T_(dt)))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(dt));
    int nd;
    int64_t dims[SPD_MAX_DIMS];
    SPD_TRY(spd_broadcast_shapes(n, ctx->in, &nd, dims));

    const bool half = spd_ew_is_half(dt);
    spd_tensor staged = {0};
    spd_tensor *acc = half ? &staged : &ctx->out[0];
    spd_status s = spd_tensor_alloc(acc, half ? SPD_FLOAT : dt, nd, dims);
    ew_arg arg = {.dt = acc->dtype, .esz = spd_dtype_size(acc->dtype)};
    for (int k = 0; k < n && s == SPD_OK; k++) {
        spd_tensor fx = {0};
        const spd_tensor *x = ctx->in[k];
        if (half) {
            s = spd_ew_to_f32(x, &fx);
            x = &fx;
        }
        if (s == SPD_OK) {
            if (k == 0) {
                s = spd_ew_broadcast(1, &x, acc, run_copy, &arg);
            } else if (op->fast && acc->dtype == SPD_FLOAT) {
                spd_ew_binary_f32((spd_ew_binop)(op->fast - 1), acc, x, acc);
            } else {
                const spd_tensor *ins[2] = {acc, x};
                s = spd_ew_broadcast(2, ins, acc, op->run, &arg);
            }
        }
        spd_tensor_release(&fx);
    }
    if (s == SPD_OK && mean) {
        const int64_t m = spd_tensor_numel(acc);
        if (acc->dtype == SPD_DOUBLE)
            for (int64_t i = 0; i < m; i++) ((double *)acc->data)[i] /= n;
        else
            for (int64_t i = 0; i < m; i++) ((float *)acc->data)[i] /= (float)n;
    }
    if (s == SPD_OK && half) s = spd_ew_from_f32(acc, dt, &ctx->out[0]);
    spd_tensor_release(&staged);
    return s;
}

static spd_status k_min(spd_op_ctx *ctx) { return variadic(ctx, &OP_MIN, false); }
static spd_status k_max(spd_op_ctx *ctx) { return variadic(ctx, &OP_MAX, false); }
static spd_status k_sum(spd_op_ctx *ctx) { return variadic(ctx, &OP_ADD, false); }
static spd_status k_mean(spd_op_ctx *ctx) { return variadic(ctx, &OP_ADD, true); }

static spd_status k_where(spd_op_ctx *ctx)
{
    const spd_tensor *c = spd_ew_input(ctx, 0), *x = spd_ew_input(ctx, 1), *y = spd_ew_input(ctx, 2);
    if (!c || !x || !y) return spd_errorf(SPD_ERR_INVALID, "expects three inputs");
    if (c->dtype != SPD_BOOL)
        return spd_errorf(SPD_ERR_INVALID, "condition must be bool, got %s", spd_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return spd_errorf(SPD_ERR_INVALID, "input types %s and %s differ", spd_dtype_name(x->dtype),
                          spd_dtype_name(y->dtype));
    ew_arg arg = {.esz = spd_dtype_size(x->dtype)};
    if (arg.esz != 1 && arg.esz != 2 && arg.esz != 4 && arg.esz != 8)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(x->dtype));
    const spd_tensor *ins[3] = {c, x, y};
    int nd;
    int64_t dims[SPD_MAX_DIMS];
    SPD_TRY(spd_broadcast_shapes(3, ins, &nd, dims));
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], x->dtype, nd, dims));
    return spd_ew_broadcast(3, ins, &ctx->out[0], run_where, &arg);
}

/* ------------------------------------------------------------------------ */
/* Unary kernels                                                             */

/* Sign keeps NaN (x compares false both ways). */
#define SIGN(x) ((x) > 0 ? 1 : (x) < 0 ? -1 : (x))

static spd_status k_sqrt(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, sqrtf(x), sqrt(x)); }
/* Vectorised float32 paths of the hot unary operators. */
#define FAST_UNARY(ctx, OP)                                                    \
    do {                                                                       \
        spd_status st_;                                                        \
        if (spd_ew_unary_op_f32((ctx), (OP), NULL, &st_)) return st_;          \
    } while (0)

static spd_status k_exp(spd_op_ctx *ctx)
{
    FAST_UNARY(ctx, SPD_EW_U_EXP);
    SPD_EW_UNARY_FLOAT(ctx, expf(x), exp(x));
}
static spd_status k_log(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, logf(x), log(x)); }
static spd_status k_reciprocal(spd_op_ctx *ctx)
{
    FAST_UNARY(ctx, SPD_EW_U_RECIP);
    SPD_EW_UNARY_FLOAT(ctx, 1.0f / x, 1.0 / x);
}

static spd_status k_erf(spd_op_ctx *ctx)
{
    FAST_UNARY(ctx, SPD_EW_U_ERF);
    SPD_EW_UNARY_FLOAT(ctx, erff(x), erf(x));
}
static spd_status k_sin(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, sinf(x), sin(x)); }
static spd_status k_cos(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, cosf(x), cos(x)); }
static spd_status k_tan(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, tanf(x), tan(x)); }
static spd_status k_asin(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, asinf(x), asin(x)); }
static spd_status k_acos(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, acosf(x), acos(x)); }
static spd_status k_atan(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, atanf(x), atan(x)); }
static spd_status k_sinh(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, sinhf(x), sinh(x)); }
static spd_status k_cosh(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, coshf(x), cosh(x)); }
static spd_status k_asinh(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, asinhf(x), asinh(x)); }
static spd_status k_acosh(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, acoshf(x), acosh(x)); }
static spd_status k_atanh(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, atanhf(x), atanh(x)); }
static spd_status k_floor(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, floorf(x), floor(x)); }
static spd_status k_ceil(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, ceilf(x), ceil(x)); }
/* rint rounds half to even in the default rounding mode. */
static spd_status k_round(spd_op_ctx *ctx) { SPD_EW_UNARY_FLOAT(ctx, rintf(x), rint(x)); }

/* Integer negation and absolute value wrap (-INT_MIN is INT_MIN). */
static spd_status k_neg(spd_op_ctx *ctx)
{
    FAST_UNARY(ctx, SPD_EW_U_NEG);
    SPD_EW_UNARY_NUM(ctx, -x, -x, 0 - (uint64_t)x, 0 - (uint64_t)x);
}

static spd_status k_abs(spd_op_ctx *ctx)
{
    FAST_UNARY(ctx, SPD_EW_U_ABS);
    SPD_EW_UNARY_NUM(ctx, fabsf(x), fabs(x), x < 0 ? 0 - (uint64_t)x : (uint64_t)x, x);
}

static spd_status k_sign(spd_op_ctx *ctx)
{
    SPD_EW_UNARY_NUM(ctx, SIGN(x), SIGN(x), SIGN(x), x != 0);
}

static spd_status k_bitwise_not(spd_op_ctx *ctx)
{
    const spd_tensor *in = spd_ew_input(ctx, 0);
    if (in && !spd_dtype_is_int(in->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(in->dtype));
    SPD_EW_UNARY_NUM(ctx, x, x, ~x, ~x); /* float cases unreachable */
}

static spd_status k_not(spd_op_ctx *ctx)
{
    const spd_tensor *in = spd_ew_input(ctx, 0);
    if (!in) return spd_errorf(SPD_ERR_INVALID, "missing input");
    if (in->dtype != SPD_BOOL)
        return spd_errorf(SPD_ERR_INVALID, "input must be bool, got %s", spd_dtype_name(in->dtype));
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_BOOL, in->ndim, in->dims));
    const int64_t n = spd_tensor_numel(in);
    const uint8_t *a = in->data;
    uint8_t *o = ctx->out[0].data;
    for (int64_t i = 0; i < n; i++) o[i] = !a[i];
    return SPD_OK;
}

/* IsNaN and IsInf: a float input to a bool output. */
static spd_status float_predicate(spd_op_ctx *ctx, bool nan, bool neg_inf, bool pos_inf)
{
    const spd_tensor *in = spd_ew_input(ctx, 0);
    if (!in) return spd_errorf(SPD_ERR_INVALID, "missing input");
    if (!spd_dtype_is_float(in->dtype))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", spd_dtype_name(in->dtype));
    SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_BOOL, in->ndim, in->dims));
    const int64_t n = spd_tensor_numel(in);
    uint8_t *o = ctx->out[0].data;
    for (int64_t i = 0; i < n; i++) {
        /* float16/bfloat16 NaN and Inf survive the widening exactly */
        const double v = in->dtype == SPD_FLOAT ? ((const float *)in->data)[i] : spd_tensor_get(in, i);
        o[i] = nan ? isnan(v) : (isinf(v) && ((v < 0 && neg_inf) || (v > 0 && pos_inf)));
    }
    return SPD_OK;
}

static spd_status k_isnan(spd_op_ctx *ctx)
{
    return float_predicate(ctx, true, false, false);
}

static spd_status k_isinf(spd_op_ctx *ctx)
{
    return float_predicate(ctx, false, spd_attr_int(ctx->node, "detect_negative", 1) != 0,
                           spd_attr_int(ctx->node, "detect_positive", 1) != 0);
}

/* ------------------------------------------------------------------------ */
/* Cast                                                                      */

static bool castable(spd_dtype t)
{
    return spd_dtype_is_float(t) || spd_dtype_is_int(t) || t == SPD_BOOL;
}

/* Conversions go through a small buffer of int64 (integer and bool pairs,
 * exact and wrapping like a C cast) or double (everything else), with one
 * tight loop per dtype on each side. */
enum { CAST_CHUNK = 512 };

#define LOAD_CASE(DT, T, CONV)                                                 \
    case DT: {                                                                 \
        const T *a = (const T *)t->data + start;                               \
        for (int64_t i = 0; i < m; i++) buf[i] = CONV(a[i]);                   \
        break;                                                                 \
    }
#define STORE_CASE(DT, T, CONV)                                                \
    case DT: {                                                                 \
        T *o = (T *)t->data + start;                                           \
        for (int64_t i = 0; i < m; i++) o[i] = CONV(buf[i]);                   \
        break;                                                                 \
    }
#define PLAIN(v) (v)
#define IS_TRUE(v) ((v) != 0)

static void load_f64(const spd_tensor *t, int64_t start, int64_t m, double *buf)
{
    switch (t->dtype) {
    LOAD_CASE(SPD_FLOAT, float, PLAIN)
    LOAD_CASE(SPD_DOUBLE, double, PLAIN)
    LOAD_CASE(SPD_FLOAT16, uint16_t, spd_f16_to_f32)
    LOAD_CASE(SPD_BFLOAT16, uint16_t, spd_bf16_to_f32)
    LOAD_CASE(SPD_BOOL, uint8_t, IS_TRUE)
    LOAD_CASE(SPD_INT8, int8_t, PLAIN)
    LOAD_CASE(SPD_INT16, int16_t, PLAIN)
    LOAD_CASE(SPD_INT32, int32_t, PLAIN)
    LOAD_CASE(SPD_INT64, int64_t, (double))
    LOAD_CASE(SPD_UINT8, uint8_t, PLAIN)
    LOAD_CASE(SPD_UINT16, uint16_t, PLAIN)
    LOAD_CASE(SPD_UINT32, uint32_t, PLAIN)
    LOAD_CASE(SPD_UINT64, uint64_t, (double))
    default: break;
    }
}

static void load_i64(const spd_tensor *t, int64_t start, int64_t m, int64_t *buf)
{
    switch (t->dtype) {
    LOAD_CASE(SPD_BOOL, uint8_t, IS_TRUE)
    LOAD_CASE(SPD_INT8, int8_t, PLAIN)
    LOAD_CASE(SPD_INT16, int16_t, PLAIN)
    LOAD_CASE(SPD_INT32, int32_t, PLAIN)
    LOAD_CASE(SPD_INT64, int64_t, PLAIN)
    LOAD_CASE(SPD_UINT8, uint8_t, PLAIN)
    LOAD_CASE(SPD_UINT16, uint16_t, PLAIN)
    LOAD_CASE(SPD_UINT32, uint32_t, PLAIN)
    LOAD_CASE(SPD_UINT64, uint64_t, (int64_t))
    default: break;
    }
}

/* Float to integer: truncate toward zero, saturating out-of-range values
 * and mapping NaN to 0 (a C cast would be undefined there). */
static inline int64_t sat_f64(double v, double lo, double hi)
{
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}
#define SAT_I8(v) (int8_t)sat_f64(v, -128.0, 127.0)
#define SAT_I16(v) (int16_t)sat_f64(v, -32768.0, 32767.0)
#define SAT_I32(v) (int32_t)sat_f64(v, -2147483648.0, 2147483647.0)
#define SAT_I64(v) sat_f64(v, -9223372036854775808.0, 9223372036854774784.0)
#define SAT_U8(v) (uint8_t)sat_f64(v, 0.0, 255.0)
#define SAT_U16(v) (uint16_t)sat_f64(v, 0.0, 65535.0)
#define SAT_U32(v) (uint32_t)sat_f64(v, 0.0, 4294967295.0)
#define SAT_U64(v) ((v) != (v) || (v) <= 0 ? 0 : (v) >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)(v))
#define TO_F16(v) spd_f32_to_f16((float)(v))
#define TO_BF16(v) spd_f32_to_bf16((float)(v))

static void store_f64(spd_tensor *t, int64_t start, int64_t m, const double *buf)
{
    switch (t->dtype) {
    STORE_CASE(SPD_FLOAT, float, (float))
    STORE_CASE(SPD_DOUBLE, double, PLAIN)
    STORE_CASE(SPD_FLOAT16, uint16_t, TO_F16)
    STORE_CASE(SPD_BFLOAT16, uint16_t, TO_BF16)
    STORE_CASE(SPD_BOOL, uint8_t, IS_TRUE)
    STORE_CASE(SPD_INT8, int8_t, SAT_I8)
    STORE_CASE(SPD_INT16, int16_t, SAT_I16)
    STORE_CASE(SPD_INT32, int32_t, SAT_I32)
    STORE_CASE(SPD_INT64, int64_t, SAT_I64)
    STORE_CASE(SPD_UINT8, uint8_t, SAT_U8)
    STORE_CASE(SPD_UINT16, uint16_t, SAT_U16)
    STORE_CASE(SPD_UINT32, uint32_t, SAT_U32)
    STORE_CASE(SPD_UINT64, uint64_t, SAT_U64)
    default: break;
    }
}

static void store_i64(spd_tensor *t, int64_t start, int64_t m, const int64_t *buf)
{
    switch (t->dtype) {
    STORE_CASE(SPD_BOOL, uint8_t, IS_TRUE)
    STORE_CASE(SPD_INT8, int8_t, (int8_t))
    STORE_CASE(SPD_INT16, int16_t, (int16_t))
    STORE_CASE(SPD_INT32, int32_t, (int32_t))
    STORE_CASE(SPD_INT64, int64_t, PLAIN)
    STORE_CASE(SPD_UINT8, uint8_t, (uint8_t))
    STORE_CASE(SPD_UINT16, uint16_t, (uint16_t))
    STORE_CASE(SPD_UINT32, uint32_t, (uint32_t))
    STORE_CASE(SPD_UINT64, uint64_t, (uint64_t))
    default: break;
    }
}

static spd_status cast_to(const spd_tensor *src, spd_dtype to, spd_tensor *dst)
{
    if (src->dtype == SPD_STRING || to == SPD_STRING)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "casts from or to string are not supported");
    if (!castable(src->dtype) || !castable(to))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "cast from %s to %s is not supported",
                          spd_dtype_name(src->dtype), spd_dtype_name(to));
    /* The common float32 <-> half-precision casts directly. */
    if (src->dtype == SPD_FLOAT && spd_ew_is_half(to)) return spd_ew_from_f32(src, to, dst);
    if (spd_ew_is_half(src->dtype) && to == SPD_FLOAT) return spd_ew_to_f32(src, dst);
    SPD_TRY(spd_tensor_alloc(dst, to, src->ndim, src->dims));
    const int64_t n = spd_tensor_numel(src);
    if (src->dtype == to) {
        memcpy(dst->data, src->data, spd_tensor_nbytes(src));
        return SPD_OK;
    }
    const bool integral = !spd_dtype_is_float(src->dtype) && !spd_dtype_is_float(to);
    for (int64_t start = 0; start < n; start += CAST_CHUNK) {
        const int64_t m = n - start < CAST_CHUNK ? n - start : CAST_CHUNK;
        if (integral) {
            int64_t buf[CAST_CHUNK];
            load_i64(src, start, m, buf);
            store_i64(dst, start, m, buf);
        } else {
            double buf[CAST_CHUNK];
            load_f64(src, start, m, buf);
            store_f64(dst, start, m, buf);
        }
    }
    return SPD_OK;
}

/* `to` is a TensorProto.DataType, or before opset 6 its name as a string. */
static spd_status cast_target(const spd_node *node, spd_dtype *to)
{
    const spd_attr *a = spd_node_attr(node, "to");
    if (!a) return spd_errorf(SPD_ERR_INVALID, "missing attribute 'to'");
    if (a->type == SPD_ATTR_STRING) {
        static const char *const names[] = {
            [SPD_FLOAT] = "FLOAT",   [SPD_UINT8] = "UINT8",     [SPD_INT8] = "INT8",
            [SPD_UINT16] = "UINT16", [SPD_INT16] = "INT16",     [SPD_INT32] = "INT32",
            [SPD_INT64] = "INT64",   [SPD_STRING] = "STRING",   [SPD_BOOL] = "BOOL",
            [SPD_FLOAT16] = "FLOAT16", [SPD_DOUBLE] = "DOUBLE", [SPD_UINT32] = "UINT32",
            [SPD_UINT64] = "UINT64", [SPD_COMPLEX64] = "COMPLEX64",
            [SPD_COMPLEX128] = "COMPLEX128", [SPD_BFLOAT16] = "BFLOAT16",
        };
        for (int i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
            if (names[i] && a->s && !strcasecmp(a->s, names[i])) {
                *to = (spd_dtype)i;
                return SPD_OK;
            }
        return spd_errorf(SPD_ERR_INVALID, "unknown type name '%s' in 'to'", a->s ? a->s : "");
    }
    if (a->i < 1 || a->i > SPD_BFLOAT16)
        return spd_errorf(SPD_ERR_UNSUPPORTED, "cast to type %lld (float8 and 4-bit types) is not supported",
                          (long long)a->i);
    *to = (spd_dtype)a->i;
    return SPD_OK;
}

static spd_status k_cast(spd_op_ctx *ctx)
{
    const spd_tensor *in = spd_ew_input(ctx, 0);
    if (!in) return spd_errorf(SPD_ERR_INVALID, "missing input");
    spd_dtype to = SPD_UNDEFINED;
    SPD_TRY(cast_target(ctx->node, &to));
    return cast_to(in, to, &ctx->out[0]);
}

static spd_status k_castlike(spd_op_ctx *ctx)
{
    const spd_tensor *in = spd_ew_input(ctx, 0), *like = spd_ew_input(ctx, 1);
    if (!in || !like) return spd_errorf(SPD_ERR_INVALID, "expects two inputs");
    return cast_to(in, like->dtype, &ctx->out[0]);
}

/* ------------------------------------------------------------------------ */

const spd_op_def spd_ops_elementwise[] = {
    {"Add", "", 1, 21, k_add},
    {"Sub", "", 1, 21, k_sub},
    {"Mul", "", 1, 21, k_mul},
    {"Div", "", 1, 21, k_div},
    {"Pow", "", 1, 21, k_pow},
    {"Mod", "", 10, 21, k_mod},
    {"Sqrt", "", 1, 21, k_sqrt},
    {"Exp", "", 1, 21, k_exp},
    {"Log", "", 1, 21, k_log},
    {"Neg", "", 1, 21, k_neg},
    {"Abs", "", 1, 21, k_abs},
    {"Reciprocal", "", 1, 21, k_reciprocal},
    {"Erf", "", 9, 21, k_erf},
    {"Sin", "", 7, 21, k_sin},
    {"Cos", "", 7, 21, k_cos},
    {"Tan", "", 7, 21, k_tan},
    {"Asin", "", 7, 21, k_asin},
    {"Acos", "", 7, 21, k_acos},
    {"Atan", "", 7, 21, k_atan},
    {"Sinh", "", 9, 21, k_sinh},
    {"Cosh", "", 9, 21, k_cosh},
    {"Asinh", "", 9, 21, k_asinh},
    {"Acosh", "", 9, 21, k_acosh},
    {"Atanh", "", 9, 21, k_atanh},
    {"Floor", "", 1, 21, k_floor},
    {"Ceil", "", 1, 21, k_ceil},
    {"Round", "", 11, 21, k_round},
    {"Sign", "", 9, 21, k_sign},
    {"Min", "", 1, 21, k_min},
    {"Max", "", 1, 21, k_max},
    {"Sum", "", 1, 21, k_sum},
    {"Mean", "", 1, 21, k_mean},
    {"BitShift", "", 11, 21, k_bitshift},
    {"BitwiseAnd", "", 18, 21, k_bitwise_and},
    {"BitwiseOr", "", 18, 21, k_bitwise_or},
    {"BitwiseXor", "", 18, 21, k_bitwise_xor},
    {"BitwiseNot", "", 18, 21, k_bitwise_not},
    {"Equal", "", 1, 21, k_equal},
    {"Less", "", 1, 21, k_less},
    {"Greater", "", 1, 21, k_greater},
    {"LessOrEqual", "", 12, 21, k_less_equal},
    {"GreaterOrEqual", "", 12, 21, k_greater_equal},
    {"Not", "", 1, 21, k_not},
    {"And", "", 1, 21, k_and},
    {"Or", "", 1, 21, k_or},
    {"Xor", "", 1, 21, k_xor},
    {"IsNaN", "", 9, 21, k_isnan},
    {"IsInf", "", 10, 21, k_isinf},
    {"Where", "", 9, 21, k_where},
    {"Cast", "", 1, 21, k_cast},
    {"CastLike", "", 15, 21, k_castlike},
};
const int spd_ops_elementwise_count = (int)(sizeof spd_ops_elementwise / sizeof spd_ops_elementwise[0]);
