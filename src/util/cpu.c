#include "util/cpu.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static spd_cpu_features g_feat;
static char g_name[64];
static int g_done;

static void detect(void)
{
    if (g_done) return;
    snprintf(g_name, sizeof g_name, "unknown CPU");
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if ((unsigned)__get_cpuid_max(0, NULL) >= 7u) {
        __cpuid(1, a, b, c, d);
        bool osxsave = c & (1u << 27);
        unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
        bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & (3ull << 17)) == (3ull << 17);
        g_feat.fma = ymm && (c & (1u << 12));
        __cpuid_count(7, 0, a, b, c, d);
        g_feat.avx2 = ymm && (b & (1u << 5));
        g_feat.avx512f = zmm && (b & (1u << 16));
        g_feat.avx512bw = zmm && (b & (1u << 30));
        g_feat.avx512vl = zmm && (b & (1u << 31));
        g_feat.avx512_vnni = zmm && (c & (1u << 11));
        g_feat.avx512_fp16 = zmm && (d & (1u << 23));
        g_feat.amx_bf16 = tiles && (d & (1u << 22));
        g_feat.amx_tile = tiles && (d & (1u << 24));
        g_feat.amx_int8 = tiles && (d & (1u << 25));
        __cpuid_count(7, 1, a, b, c, d);
        g_feat.avx512_bf16 = zmm && (a & (1u << 5));
    }
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned regs[12];
        for (unsigned i = 0; i < 3; i++)
            __cpuid(0x80000002 + i, regs[i * 4], regs[i * 4 + 1], regs[i * 4 + 2], regs[i * 4 + 3]);
        char brand[49];
        memcpy(brand, regs, 48);
        brand[48] = '\0';
        const char *p = brand;
        while (*p == ' ') p++;
        snprintf(g_name, sizeof g_name, "%s", p);
    }
#endif
    g_done = 1;
}

const spd_cpu_features *spd_cpu(void)
{
    detect();
    return &g_feat;
}

const char *spd_cpu_name(void)
{
    detect();
    return g_name;
}

#define FEATURES(X) X(avx2) X(fma) X(avx512f) X(avx512bw) X(avx512vl) X(avx512_vnni) X(avx512_bf16) X(avx512_fp16) \
    X(amx_tile) X(amx_bf16) X(amx_int8)

void spd_cpu_feature_list(const spd_cpu_features *f, char *buf, unsigned n)
{
    unsigned k = 0;
    buf[0] = '\0';
#define PUT(x) if (f->x && k < n) k += (unsigned)snprintf(buf + k, n - k, k ? " %s" : "%s", #x);
    FEATURES(PUT)
#undef PUT
}

void spd_cpu_parse_features(const char *list, spd_cpu_features *out)
{
    memset(out, 0, sizeof *out);
    const char *p = list;
    while (p && *p) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, " ");
#define GET(x) if (n == strlen(#x) && !strncmp(p, #x, n)) out->x = true;
        FEATURES(GET)
#undef GET
        p += n;
    }
}
