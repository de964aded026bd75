/* The in-memory model: a graph of nodes over named values, with initializers,
 * attributes and subgraphs, as decoded from ONNX by src/io. Strings and
 * arrays are owned by the graph unless noted; tensor data of initializers may
 * point into the model's memory-mapped file (owner = 0). */
#ifndef SPD_IR_GRAPH_H
#define SPD_IR_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include "speedster.h"

typedef struct spd_graph spd_graph;

typedef enum spd_attr_type {
    SPD_ATTR_UNDEFINED = 0,
    SPD_ATTR_FLOAT = 1,
    SPD_ATTR_INT = 2,
    SPD_ATTR_STRING = 3,
    SPD_ATTR_TENSOR = 4,
    SPD_ATTR_GRAPH = 5,
    SPD_ATTR_FLOATS = 6,
    SPD_ATTR_INTS = 7,
    SPD_ATTR_STRINGS = 8,
    SPD_ATTR_TENSORS = 9,
    SPD_ATTR_GRAPHS = 10,
    SPD_ATTR_SPARSE_TENSOR = 11,
    SPD_ATTR_SPARSE_TENSORS = 12,
    SPD_ATTR_TYPE_PROTO = 13,
    SPD_ATTR_TYPE_PROTOS = 14
} spd_attr_type;

typedef struct spd_attr {
    char *name;
    spd_attr_type type;
    float f;
    int64_t i;
    char *s;             /* bytes, NUL-terminated; s_len excludes the NUL */
    size_t s_len;
    size_t n;            /* element count of floats/ints/strings/tensors/graphs */
    float *floats;
    int64_t *ints;
    char **strings;
    spd_tensor *t;       /* TENSOR (one element) or TENSORS (n elements) */
    spd_graph **graphs;  /* GRAPH (one element) or GRAPHS (n elements) */
    char *ref_attr_name; /* inside functions; unused otherwise */
} spd_attr;

/* A dimension: a fixed value (>= 0) or a symbol (value = -1, param set, or
 * both unset for an unknown dim). */
typedef struct spd_dim {
    int64_t value;
    char *param;
} spd_dim;

typedef struct spd_value_info {
    char *name;
    spd_dtype dtype;     /* SPD_UNDEFINED when not a tensor or not given */
    int ndim;            /* -1 when the shape is unknown */
    spd_dim dims[SPD_MAX_DIMS];
    char *doc;
} spd_value_info;

typedef struct spd_node {
    char *name;
    char *op_type;
    char *domain;        /* "" for the default ai.onnx domain */
    int n_inputs;
    char **inputs;       /* "" marks an omitted optional input */
    int n_outputs;
    char **outputs;      /* "" marks an omitted optional output */
    int n_attrs;
    spd_attr *attrs;
    char *doc;
} spd_node;

typedef struct spd_initializer {
    char *name;
    spd_tensor tensor;
} spd_initializer;

struct spd_graph {
    char *name;
    int n_nodes;
    spd_node *nodes;
    int n_initializers;
    spd_initializer *initializers;
    int n_inputs;
    spd_value_info *inputs;
    int n_outputs;
    spd_value_info *outputs;
    int n_value_infos;
    spd_value_info *value_infos;
    char *doc;
};

typedef struct spd_opset {
    char *domain;        /* "" or "ai.onnx" for the default domain */
    int64_t version;
} spd_opset;

typedef struct spd_kv {
    char *key;
    char *value;
} spd_kv;

typedef struct spd_mapping spd_mapping; /* a memory-mapped file (src/io) */

struct spd_model {
    char *path;
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    char *domain;
    int64_t model_version;
    char *doc;
    int n_opsets;
    spd_opset *opsets;
    int n_metadata;
    spd_kv *metadata;
    spd_graph *graph;
    /* files whose bytes initializers point into (model + external data) */
    int n_mappings;
    spd_mapping **mappings;
    void *runtime;       /* prepared interpreter state, built on first run */
};

/* Opset version of the default domain (1 when none is declared). */
int64_t spd_model_opset(const spd_model *m, const char *domain);

/* Attribute lookup; NULL when absent. */
const spd_attr *spd_node_attr(const spd_node *n, const char *name);
int64_t spd_attr_int(const spd_node *n, const char *name, int64_t dflt);
float spd_attr_float(const spd_node *n, const char *name, float dflt);
/* The string attribute or dflt. */
const char *spd_attr_string(const spd_node *n, const char *name, const char *dflt);
/* INTS attribute: returns the array and sets *count, or NULL/0 when absent. */
const int64_t *spd_attr_ints(const spd_node *n, const char *name, size_t *count);
const float *spd_attr_floats(const spd_node *n, const char *name, size_t *count);
const spd_tensor *spd_attr_tensor(const spd_node *n, const char *name);
const spd_graph *spd_attr_graph(const spd_node *n, const char *name);

void spd_graph_free(spd_graph *g);
void spd_value_info_clear(spd_value_info *v);
void spd_node_clear(spd_node *n);
void spd_attr_clear(spd_attr *a);

#endif
