/* What this CPU is and can do, read from CPUID and XGETBV (Debian's cpuinfo
 * library predates AMX and AVX512-FP16). */
#ifndef SPD_UTIL_CPU_H
#define SPD_UTIL_CPU_H

#include <stdbool.h>

typedef struct spd_cpu_features {
    bool avx2, fma, avx512f, avx512bw, avx512vl, avx512_vnni, avx512_bf16, avx512_fp16, amx_tile, amx_bf16, amx_int8;
} spd_cpu_features;

const spd_cpu_features *spd_cpu(void);
/* "Intel(R) Xeon(R) ..." (the brand string), or "unknown CPU". */
const char *spd_cpu_name(void);
/* The features as "avx2 fma avx512f ..." */
void spd_cpu_feature_list(const spd_cpu_features *f, char *buf, unsigned n);
/* Parses such a list back; unknown words are ignored. */
void spd_cpu_parse_features(const char *list, spd_cpu_features *out);

#endif
