/* native: speedster's own engine. Today it is the interpreter over the
 * reference kernels; it runs every registered operator, in fp32. */
#include "backends/backend.h"
#include "runtime/exec.h"
#include "runtime/memplan.h"
#include "util/alloc.h"
#include "util/status.h"

struct spd_plan {
    spd_program *prog;
};

static spd_status native_probe(const spd_device *dev)
{
    if (dev->gpu) return spd_errorf(SPD_ERR_UNSUPPORTED, "native runs on the CPU only");
    return SPD_OK;
}

static bool native_supports(spd_technique t) { return t == SPD_TECH_FP32; }

static bool native_claims(const spd_node *n, spd_technique t)
{
    (void)n;
    return t == SPD_TECH_FP32;
}

static void native_destroy(spd_plan *plan)
{
    if (!plan) return;
    spd_program_free(plan->prog);
    spd_free(plan);
}

static spd_status native_compile(const spd_model *m, const spd_compile_opts *o, spd_plan **out)
{
    (void)o;
    *out = NULL;
    spd_plan *plan = spd_calloc(1, sizeof *plan);
    if (!plan) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    spd_status st = spd_program_build(m, m->graph, NULL, &plan->prog);
    if (st != SPD_OK) {
        native_destroy(plan);
        return st;
    }
    *out = plan;
    return SPD_OK;
}

static spd_status native_run(spd_plan *plan, const spd_tensor *in, int n_in, spd_tensor *out, int n_out)
{
    return spd_exec_run_user(plan->prog, in, n_in, out, n_out);
}

static spd_status native_load(const char *dir, const spd_model *m, const spd_compile_opts *o, spd_plan **out)
{
    (void)dir;
    return native_compile(m, o, out);
}

static void native_placement(const spd_plan *plan, char *buf, size_t n)
{
    spd_program_placement(plan->prog, buf, n);
}

static size_t native_arena_bytes(const spd_plan *plan)
{
    return spd_memplan_arena_bytes(plan->prog->mem);
}

const spd_backend spd_backend_native = {
    .name = "native",
    .description = "speedster's own kernels",
    .probe = native_probe,
    .supports = native_supports,
    .claims = native_claims,
    .compile = native_compile,
    .run = native_run,
    .save = NULL,
    .load = native_load,
    .destroy = native_destroy,
    .placement = native_placement,
    .arena_bytes = native_arena_bytes,
};
