// Shared state of the graph files: nodes, kernel groups, the plan.
#ifndef WGML_GRAPH_INTERNAL_H
#define WGML_GRAPH_INTERNAL_H

#include "graph/graph.h"

typedef enum wgml_node_kind {
    WGML_NODE_INPUT = 0,
    WGML_NODE_EW,
    WGML_NODE_ROW,
    WGML_NODE_MATMUL,
    WGML_NODE_GATHER,      // kernels of their own: never fused
    WGML_NODE_ATTENTION,
    WGML_NODE_POOL,
} wgml_node_kind;

typedef struct wgml_node {
    wgml_node_kind kind;
    int ndim;
    int64_t shape[WGML_GRAPH_MAX_DIMS];   // may hold WGML_DIM_SEQ
    // EW: a, b (-1); ROW: x, gamma, beta (-1); MATMUL: a, b; GATHER: table,
    // ids; ATTENTION: qkv, mask; POOL: x, weights
    int args[3];
    wgml_ew_op op;        // EW
    float f;              // EW parameter; ROW eps; ATTENTION scale
    uint32_t seed;        // EW (dropout)
    wgml_row_kind row;    // ROW
    bool b_t;             // MATMUL: b is (N x K)
    int heads;            // ATTENTION
    wgml_pool_mode pool;  // POOL
    bool normalize;       // POOL: L2 normalisation after pooling
    bool u32;             // INPUT: u32 values (token ids)
    bool f16;             // INPUT: f16 values (weights)
    bool output;
    char name[64];        // INPUT
} wgml_node;

struct wgml_graph {
    wgml_node *nodes;
    int n, cap;
    char err[256];
};

// One kernel of a compiled plan: a core (none, a row op or a matmul) with an
// elementwise prologue on its input (row ops) and an epilogue on its output.
typedef struct wgml_group {
    wgml_node_kind core;        // EW (no core), ROW or MATMUL
    int core_node;              // ROW/MATMUL node; -1 for EW
    int root;                   // the node whose value the kernel writes
    wgml_ew_expr epi;           // value at the root (CORE leaf = core's result)
    int epi_leaf_tensor[WGML_EW_MAX_LEAVES];
    wgml_ew_expr pro;           // ROW: the core's input
    int pro_leaf_tensor[WGML_EW_MAX_LEAVES];
    char name[128];
} wgml_group;

// Resolved shape of node t (symbolic dims replaced); returns ndim.
int wgml_graph_resolved_shape(const wgml_graph *g, int t, int64_t seq, int64_t *shape);
uint64_t wgml_graph_count(const wgml_graph *g, int t, int64_t seq);

// Groups the nodes into kernels (fuse.c). group_of[t] is the kernel that
// writes tensor t (-1 for inputs and for tensors fused into a kernel).
wgml_status wgml_graph_group(const wgml_graph *g, bool fuse, int64_t seq, wgml_group **groups,
                             int *n_groups, int *group_of, char *err, size_t err_size);

// The storage bindings of a kernel in slot order.
typedef struct wgml_group_bindings {
    int tensor[16];     // tensor ids
    uint32_t slot[16];
    bool write[16];
    int n;
} wgml_group_bindings;

// A kernel's generated WGSL and launch, kept from code generation to
// pipeline creation.
typedef struct wgml_group_code {
    wgml_text text;       // the prelude of `family`, or a whole kernel when family is NULL
    const char *family;
    const char *entry;
    const wgml_gpu_constant *constants;   // static storage
    size_t n_constants;
    uint8_t params[64];   // uniform parameters (binding 0)
    size_t params_size;
    uint32_t grid[3];
    wgml_group_bindings bindings;
} wgml_group_code;

// Generates group k's code (fuse.c).
wgml_status wgml_group_wgsl(const wgml_graph *g, const wgml_group *k, int64_t seq,
                            wgml_gpu *gpu, wgml_group_code *code);

#endif
