#include <string.h>

#include "ir/op.h"
#include "util/status.h"

/* The families of src/ops/, each a table of its own. */
#define FAMILY(f)                                                              \
    extern const spd_op_def spd_ops_##f[];                                     \
    extern const int spd_ops_##f##_count;
FAMILY(elementwise)
FAMILY(activation)
FAMILY(conv)
FAMILY(conv_nhwc)
FAMILY(conv_dwpw)
FAMILY(conv_concat)
FAMILY(channel_affine)
FAMILY(pool)
FAMILY(norm)
FAMILY(matmul)
FAMILY(matmul_perm)
FAMILY(shape)
FAMILY(index)
FAMILY(resize)
FAMILY(reduce)
FAMILY(misc)
FAMILY(rnn)
FAMILY(quant)
FAMILY(control)
FAMILY(fused)
FAMILY(text)
FAMILY(training)
FAMILY(signal)

typedef struct family {
    const spd_op_def *rows;
    const int *count;
} family;

#define ROW(f) {spd_ops_##f, &spd_ops_##f##_count},
static const family g_families[] = {
    ROW(elementwise)
    ROW(activation)
    ROW(conv)
    ROW(conv_nhwc)
    ROW(conv_dwpw)
    ROW(conv_concat)
    ROW(channel_affine)
    ROW(pool)
    ROW(norm)
    ROW(matmul)
    ROW(matmul_perm)
    ROW(shape)
    ROW(index)
    ROW(resize)
    ROW(reduce)
    ROW(misc)
    ROW(rnn)
    ROW(quant)
    ROW(control)
    ROW(fused)
    ROW(text)
    ROW(training)
    ROW(signal)
};
#define N_FAMILIES ((int)(sizeof g_families / sizeof g_families[0]))

static int is_default_domain(const char *d)
{
    return !d || !*d || !strcmp(d, "ai.onnx");
}

static int same_domain(const char *a, const char *b)
{
    return is_default_domain(a) ? is_default_domain(b) : (b && !strcmp(a, b));
}

const spd_op_def *spd_op_find(const char *domain, const char *op_type, int64_t opset)
{
    const spd_op_def *known = NULL;
    for (int f = 0; f < N_FAMILIES; f++) {
        for (int i = 0; i < *g_families[f].count; i++) {
            const spd_op_def *d = &g_families[f].rows[i];
            if (strcmp(d->name, op_type) || !same_domain(d->domain, domain)) continue;
            if (opset >= d->since_version && opset <= d->until_version) return d;
            known = d;
        }
    }
    if (known)
        spd_errorf(SPD_ERR_UNSUPPORTED, "operator %s is not supported at opset %lld (supported: %d to %d)",
                   op_type, (long long)opset, known->since_version, known->until_version);
    else
        spd_errorf(SPD_ERR_UNSUPPORTED, "unknown operator %s%s%s", is_default_domain(domain) ? "" : domain,
                   is_default_domain(domain) ? "" : ".", op_type);
    return NULL;
}

int spd_op_count(void)
{
    int n = 0;
    for (int f = 0; f < N_FAMILIES; f++) n += *g_families[f].count;
    return n;
}

const spd_op_def *spd_op_at(int i)
{
    for (int f = 0; f < N_FAMILIES; f++) {
        if (i < *g_families[f].count) return &g_families[f].rows[i];
        i -= *g_families[f].count;
    }
    return NULL;
}
