/* The interpreter: runs a prepared program node by node with the reference
 * kernels, freeing each intermediate after its last use. */
#ifndef SPD_RUNTIME_EXEC_H
#define SPD_RUNTIME_EXEC_H

#include "runtime/program.h"

/* Called with every value a top-level node produces, right after the node
 * ran (for passes that learn shapes or statistics from sample runs). */
typedef void (*spd_value_observer)(void *user, const char *name, const spd_tensor *t);

struct spd_exec {
    const spd_program *prog;
    spd_tensor *vals;          /* one per program value; views or owned */
    const struct spd_exec *parent;
    spd_value_observer observe;
    void *observe_user;
    struct spd_memplan *mem;   /* the plan this call holds, or NULL */
    int planned;               /* outputs go to the plan's arena slots */
};

/* Runs p on inputs (one per graph input, in order; NULL entries take the
 * initializer default). outputs[k] receive owned tensors. Input dtypes and
 * shapes are checked against the graph's declarations. */
spd_status spd_exec_run(const spd_program *p, const spd_exec *parent,
                        const spd_tensor *const *inputs, int n_inputs,
                        spd_tensor *outputs, int n_outputs);

/* Runs p with the inputs a user supplies: those without an initializer
 * default, in graph order (as spd_model_run takes them). */
spd_status spd_exec_run_user(const spd_program *p, const spd_tensor *inputs, int n_inputs,
                             spd_tensor *outputs, int n_outputs);

/* spd_exec_run with an observer of every top-level value. */
spd_status spd_exec_run_observed(const spd_program *p, const spd_tensor *const *inputs, int n_inputs,
                                 spd_tensor *outputs, int n_outputs, spd_value_observer observe, void *user);

/* For control-flow kernels: runs subgraph g of the current node with the
 * given inputs (in the subgraph's input order); values it captures are read
 * from `ex`. */
spd_status spd_exec_subgraph(spd_exec *ex, const spd_graph *g,
                             const spd_tensor *const *inputs, int n_inputs,
                             spd_tensor *outputs, int n_outputs);

/* Checks a tensor against a declared value (dtype, rank, fixed dims). */
spd_status spd_check_declared(const spd_value_info *vi, const spd_tensor *t);

#endif
