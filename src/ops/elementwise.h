/* Helpers shared by the elementwise and activation families: a numpy
 * broadcasting driver, fp32 staging for float16/bfloat16, and loop macros
 * that expand one scalar expression over every float (and integer) dtype so
 * that each dtype gets a tight, inlinable loop. */
#ifndef SPD_OPS_ELEMENTWISE_H
#define SPD_OPS_ELEMENTWISE_H

#include <math.h>

#include "ir/op.h"
#include "util/status.h"

/* At most this many inputs to one broadcast (Where has three). */
#define SPD_EW_MAX_INPUTS 4

/* Processes one run of n output elements: in[k] points at the run's first
 * element of input k and step[k] (0 or 1) is how far it moves per element;
 * out is contiguous. arg is the caller's. */
typedef void (*spd_ew_run_fn)(const void *arg, int64_t n, const void *const *in,
                              const int64_t *step, void *out);

/* Calls fn over `out`, already allocated with the broadcast shape of the nin
 * inputs, in row-major runs along its innermost axes (axes that are
 * contiguous in every input are merged, so same-shape operands make a single
 * run). */
spd_status spd_ew_broadcast(int nin, const spd_tensor *const *in, spd_tensor *out,
                            spd_ew_run_fn fn, const void *arg);

/* A float32 copy of a tensor of any float dtype, for kernels that compute
 * float16/bfloat16 in fp32 (dst is overwritten, not released), and the way
 * back into dtype dt. */
spd_status spd_ew_to_f32(const spd_tensor *src, spd_tensor *dst);
spd_status spd_ew_from_f32(const spd_tensor *src, spd_dtype dt, spd_tensor *dst);

static inline bool spd_ew_is_half(spd_dtype t)
{
    return t == SPD_FLOAT16 || t == SPD_BFLOAT16;
}

/* Input k, or NULL when the node omits it. */
static inline const spd_tensor *spd_ew_input(const spd_op_ctx *ctx, int k)
{
    return k < ctx->n_inputs ? ctx->in[k] : NULL;
}

/* Body of a unary kernel over the float dtypes: out[i] = FEXPR for float,
 * float16 and bfloat16 (x is a float) and DEXPR for double (x is a double).
 * Returns from the enclosing kernel. */
#define SPD_EW_UNARY_FLOAT(ctx, FEXPR, DEXPR)                                  \
    do {                                                                       \
        const spd_tensor *in_ = spd_ew_input((ctx), 0);                        \
        if (!in_) return spd_errorf(SPD_ERR_INVALID, "missing input");         \
        if (!spd_dtype_is_float(in_->dtype))                                   \
            return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", \
                              spd_dtype_name(in_->dtype));                     \
        spd_tensor *out_ = &(ctx)->out[0];                                     \
        SPD_TRY(spd_tensor_alloc(out_, in_->dtype, in_->ndim, in_->dims));     \
        const int64_t n_ = spd_tensor_numel(in_);                              \
        switch (in_->dtype) {                                                  \
            SPD_EW_FLOAT_CASES_(FEXPR, DEXPR)                                  \
        default: break;                                                        \
        }                                                                      \
        return SPD_OK;                                                         \
    } while (0)

/* Same over the float and integer dtypes: SEXPR for signed and UEXPR for
 * unsigned integers, where x has the element type and the result is cast
 * back to it. */
#define SPD_EW_UNARY_NUM(ctx, FEXPR, DEXPR, SEXPR, UEXPR)                      \
    do {                                                                       \
        const spd_tensor *in_ = spd_ew_input((ctx), 0);                        \
        if (!in_) return spd_errorf(SPD_ERR_INVALID, "missing input");         \
        if (!spd_dtype_is_float(in_->dtype) && !spd_dtype_is_int(in_->dtype))  \
            return spd_errorf(SPD_ERR_UNSUPPORTED, "input type %s is not supported", \
                              spd_dtype_name(in_->dtype));                     \
        spd_tensor *out_ = &(ctx)->out[0];                                     \
        SPD_TRY(spd_tensor_alloc(out_, in_->dtype, in_->ndim, in_->dims));     \
        const int64_t n_ = spd_tensor_numel(in_);                              \
        switch (in_->dtype) {                                                  \
            SPD_EW_FLOAT_CASES_(FEXPR, DEXPR)                                  \
            SPD_EW_INT_CASE_(SPD_INT8, int8_t, SEXPR)                          \
            SPD_EW_INT_CASE_(SPD_INT16, int16_t, SEXPR)                        \
            SPD_EW_INT_CASE_(SPD_INT32, int32_t, SEXPR)                        \
            SPD_EW_INT_CASE_(SPD_INT64, int64_t, SEXPR)                        \
            SPD_EW_INT_CASE_(SPD_UINT8, uint8_t, UEXPR)                        \
            SPD_EW_INT_CASE_(SPD_UINT16, uint16_t, UEXPR)                      \
            SPD_EW_INT_CASE_(SPD_UINT32, uint32_t, UEXPR)                      \
            SPD_EW_INT_CASE_(SPD_UINT64, uint64_t, UEXPR)                      \
        default: break;                                                        \
        }                                                                      \
        return SPD_OK;                                                         \
    } while (0)

/* Implementation details of the two macros above (in_, out_, n_ in scope). */
#define SPD_EW_FLOAT_CASES_(FEXPR, DEXPR)                                      \
    case SPD_FLOAT: {                                                          \
        const float *a_ = in_->data;                                           \
        float *o_ = out_->data;                                                \
        for (int64_t i_ = 0; i_ < n_; i_++) {                                  \
            const float x = a_[i_];                                            \
            o_[i_] = (float)(FEXPR);                                           \
        }                                                                      \
        break;                                                                 \
    }                                                                          \
    case SPD_DOUBLE: {                                                         \
        const double *a_ = in_->data;                                          \
        double *o_ = out_->data;                                               \
        for (int64_t i_ = 0; i_ < n_; i_++) {                                  \
            const double x = a_[i_];                                           \
            o_[i_] = (double)(DEXPR);                                          \
        }                                                                      \
        break;                                                                 \
    }                                                                          \
    case SPD_FLOAT16: {                                                        \
        const uint16_t *a_ = in_->data;                                        \
        uint16_t *o_ = out_->data;                                             \
        for (int64_t i_ = 0; i_ < n_; i_++) {                                  \
            const float x = spd_f16_to_f32(a_[i_]);                            \
            o_[i_] = spd_f32_to_f16((float)(FEXPR));                           \
        }                                                                      \
        break;                                                                 \
    }                                                                          \
    case SPD_BFLOAT16: {                                                       \
        const uint16_t *a_ = in_->data;                                        \
        uint16_t *o_ = out_->data;                                             \
        for (int64_t i_ = 0; i_ < n_; i_++) {                                  \
            const float x = spd_bf16_to_f32(a_[i_]);                           \
            o_[i_] = spd_f32_to_bf16((float)(FEXPR));                          \
        }                                                                      \
        break;                                                                 \
    }

#define SPD_EW_INT_CASE_(DT, T, EXPR)                                          \
    case DT: {                                                                 \
        const T *a_ = in_->data;                                               \
        T *o_ = out_->data;                                                    \
        for (int64_t i_ = 0; i_ < n_; i_++) {                                  \
            const T x = a_[i_];                                                \
            o_[i_] = (T)(EXPR);                                                \
        }                                                                      \
        break;                                                                 \
    }

#endif
