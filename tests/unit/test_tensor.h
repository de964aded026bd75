/* Random float tensors for the kernel tests, drawn from test_util.h's
 * generator (include that first); out of memory ends the test (exit 2). */
#ifndef SPD_TEST_TENSOR_H
#define SPD_TEST_TENSOR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/tensor.h"

static inline spd_tensor test_rand_tensor(int nd, const int64_t *dims)
{
    spd_tensor t;
    memset(&t, 0, sizeof t);
    if (spd_tensor_alloc(&t, SPD_FLOAT, nd, dims) != SPD_OK) {
        printf("out of memory\n");
        exit(2);
    }
    float *p = t.data;
    for (int64_t i = 0; i < spd_tensor_numel(&t); i++) p[i] = rnd_float();
    return t;
}

#endif
