#include "optimize/metric.h"

#include <math.h>

#include "ir/tensor.h"
#include "util/status.h"

double spd_numeric_precision(const spd_tensor *orig, const spd_tensor *cand, int n_outputs)
{
    double worst = 0;
    for (int o = 0; o < n_outputs; o++) {
        const spd_tensor *a = &orig[o], *b = &cand[o];
        if (a->dtype != b->dtype || !spd_tensor_same_shape(a, b)) return INFINITY;
        int64_t n = spd_tensor_numel(a);
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
            double x = spd_tensor_get(a, i), y = spd_tensor_get(b, i);
            if (isnan(x) && isnan(y)) continue;
            if (x == y) continue;
            double d = fabs(x - y) / (fmax(fabs(x), fabs(y)) + 1e-5);
            sum += isnan(d) ? 1.0 : d;
        }
        double mean = n ? sum / (double)n : 0;
        if (mean > worst) worst = mean;
    }
    return worst;
}

spd_status spd_sample_accuracy(const spd_tensor *out0, const spd_tensor *label, double *acc)
{
    if (out0->ndim < 1) return spd_errorf(SPD_ERR_INVALID, "accuracy needs an output with a class axis, output 0 is a scalar");
    int64_t classes = out0->dims[out0->ndim - 1], rows = classes ? spd_tensor_numel(out0) / classes : 0;
    if (spd_tensor_numel(label) != rows)
        return spd_errorf(SPD_ERR_INVALID, "accuracy: the label has %lld values for %lld predictions",
                          (long long)spd_tensor_numel(label), (long long)rows);
    int64_t right = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (spd_tensor_get(out0, r * classes + c) > spd_tensor_get(out0, r * classes + best)) best = c;
        right += spd_tensor_get_i64(label, r) == best;
    }
    *acc = rows ? (double)right / (double)rows : 0;
    return SPD_OK;
}
