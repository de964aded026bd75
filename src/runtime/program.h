/* A graph prepared for execution: value names resolved to indices, nodes in
 * topological order with their kernels, and for each value the node after
 * which it is dead. Built once per graph (and per subgraph); validation
 * errors (dangling inputs, cycles, duplicate outputs, unknown operators) are
 * found here, before anything runs. */
#ifndef SPD_RUNTIME_PROGRAM_H
#define SPD_RUNTIME_PROGRAM_H

#include "ir/op.h"
#include "util/strmap.h"

typedef enum spd_value_kind {
    SPD_VAL_INPUT,   /* a graph input (an initializer may give its default) */
    SPD_VAL_INIT,    /* an initializer only */
    SPD_VAL_NODE,    /* produced by a node */
    SPD_VAL_OUTER    /* captured from an enclosing graph (subgraphs) */
} spd_value_kind;

typedef struct spd_pvalue {
    const char *name;
    spd_value_kind kind;
    const spd_tensor *init;   /* initializer (INIT, or INPUT's default) */
    int producer;             /* index into nodes for NODE values, else -1 */
} spd_pvalue;

typedef struct spd_program spd_program;

typedef struct spd_pnode {
    const spd_node *node;
    const spd_op_def *def;
    /* The kernel that runs the node: def->run, unless a backend claimed the
     * node and put its own kernel and per-node state here. */
    spd_kernel_fn run;
    void *state;
    void (*state_free)(void *state);
    const char *placed_on;    /* backend name for the placement report */
    int64_t opset;
    int n_in, n_out;
    int *in;                  /* value ids; -1 for omitted optional inputs */
    int *out;                 /* value ids; -1 for omitted outputs */
    int n_captures;           /* values read by this node's subgraphs */
    int *captures;
    int n_frees;              /* values dead after this node */
    int *frees;
} spd_pnode;

typedef struct spd_subprogram {
    const spd_graph *graph;
    spd_program *prog;
} spd_subprogram;

struct spd_program {
    const spd_model *model;
    const spd_graph *graph;
    const spd_program *parent;
    spd_strmap names;
    int n_values;
    spd_pvalue *values;
    int n_nodes;
    spd_pnode *nodes;         /* topological order */
    int n_inputs;             /* every graph input, in graph order */
    int *inputs;
    int n_required;           /* inputs without an initializer default */
    int n_outputs;
    int *outputs;
    int n_outer;              /* OUTER values, resolved by name at run time */
    int *outer;
    int n_subs;
    spd_subprogram *subs;
    struct spd_memplan *mem;  /* top-level programs: the arena plan (runtime/memplan.h) */
};

spd_status spd_program_build(const spd_model *m, const spd_graph *g, const spd_program *parent,
                             spd_program **out);
void spd_program_free(spd_program *p);
/* The prepared program of subgraph g of one of p's nodes. */
const spd_program *spd_program_sub(const spd_program *p, const spd_graph *g);
/* "onednn 53 of 89 nodes; native 36 (Relu x16, Add x16, ...)" into buf:
 * where the nodes run, the operators left on native first by count. */
void spd_program_placement(const spd_program *p, char *buf, size_t n);
/* "node 'name' (Op)" or "node #i (Op)" into buf, for messages. */
const char *spd_pnode_label(const spd_program *p, int i, char *buf, size_t n);

#endif
