#include <string.h>

#include "backends/backend.h"

extern const spd_backend spd_backend_native;
#ifdef SPD_HAVE_DNNL
extern const spd_backend spd_backend_onednn;
#endif

/* The one list of backends, in the order the search tries them. */
static const spd_backend *const g_backends[] = {
    &spd_backend_native,
#ifdef SPD_HAVE_DNNL
    &spd_backend_onednn,
#endif
};

int spd_backend_count(void) { return (int)(sizeof g_backends / sizeof g_backends[0]); }

const spd_backend *spd_backend_at(int i)
{
    return i >= 0 && i < spd_backend_count() ? g_backends[i] : NULL;
}

const spd_backend *spd_backend_find(const char *name)
{
    for (int i = 0; i < spd_backend_count(); i++)
        if (!strcmp(g_backends[i]->name, name)) return g_backends[i];
    return NULL;
}

const char *spd_technique_name(spd_technique t)
{
    static const char *names[SPD_TECH_COUNT] = {"fp32", "fp16", "bf16", "int8", "int8_dynamic"};
    return t >= 0 && t < SPD_TECH_COUNT ? names[t] : "unknown";
}

bool spd_technique_is_lossy(spd_technique t) { return t != SPD_TECH_FP32; }
