/* The public model API: load (decode + prepare), run, free. */
#include <stdlib.h>
#include <string.h>

#include "io/onnx.h"
#include "runtime/exec.h"
#include "util/alloc.h"
#include "util/status.h"

static const spd_program *program_of(const spd_model *m) { return m->runtime; }

spd_status spd_model_load(const char *path, spd_model **out)
{
    *out = NULL;
    spd_error_clear();
    spd_model *m = NULL;
    SPD_TRY(spd_onnx_load(path, &m));
    if (!m->graph) {
        spd_onnx_model_free(m);
        return spd_errorf(SPD_ERR_INVALID, "%s: the model has no graph", path);
    }
    spd_program *p = NULL;
    spd_status st = spd_program_build(m, m->graph, NULL, &p);
    if (st != SPD_OK) {
        spd_onnx_model_free(m);
        return spd_error_prefix(st, "%s", path);
    }
    m->runtime = p;
    *out = m;
    return SPD_OK;
}

void spd_model_free(spd_model *m)
{
    if (!m) return;
    spd_program_free(m->runtime);
    m->runtime = NULL;
    spd_onnx_model_free(m);
}

/* The inputs a user supplies are those without an initializer default. */
static int user_input_index(const spd_program *p, int i)
{
    for (int k = 0; k < p->n_inputs; k++)
        if (!p->values[p->inputs[k]].init && i-- == 0) return k;
    return -1;
}

int spd_model_num_inputs(const spd_model *m) { return program_of(m)->n_required; }
int spd_model_num_outputs(const spd_model *m) { return program_of(m)->n_outputs; }

const char *spd_model_input_name(const spd_model *m, int i)
{
    int k = user_input_index(program_of(m), i);
    return k < 0 ? NULL : m->graph->inputs[k].name;
}

const char *spd_model_output_name(const spd_model *m, int i)
{
    return i < 0 || i >= m->graph->n_outputs ? NULL : m->graph->outputs[i].name;
}

spd_status spd_model_run(spd_model *m, const spd_tensor *inputs, int n_inputs,
                         spd_tensor *outputs, int n_outputs)
{
    spd_error_clear();
    return spd_exec_run_user(program_of(m), inputs, n_inputs, outputs, n_outputs);
}
