/* libFuzzer target: any byte string must load cleanly or fail with a
 * message, without crashing, leaking or reading out of bounds. Successful
 * loads are also re-encoded and decoded again. */
#include <stddef.h>
#include <stdint.h>

#include "io/onnx.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spd_model *m = NULL;
    if (spd_onnx_load_buffer(data, size, "fuzz", &m) != SPD_OK) {
        if (m || !spd_last_error()[0]) __builtin_trap();
        return 0;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (spd_onnx_encode(m, &buf, &len) == SPD_OK) {
        spd_model *m2 = NULL;
        if (spd_onnx_load_buffer(buf, len, "fuzz-reencoded", &m2) != SPD_OK) __builtin_trap();
        spd_onnx_model_free(m2);
        spd_free(buf);
    }
    spd_onnx_model_free(m);
    return 0;
}
