// The compiled plan, shared by the executor (exec.c) and the planner (plan.c).
#ifndef WGML_PLAN_INTERNAL_H
#define WGML_PLAN_INTERNAL_H

#include "graph/graph_internal.h"

typedef struct wgml_plan_tensor {
    uint64_t bytes;
    bool materialized;    // has memory: an input or a kernel's result
    bool own_buffer;      // inputs and outputs: a buffer of its own
    bool external;        // an input in the caller's buffer (options.external)
    wgml_gpu_buf *buf;    // where it lives (own, shared or the caller's)
    uint64_t offset;      // bytes into buf (external inputs)
    wgml_plan_slot slot;  // liveness and shared buffer index
} wgml_plan_tensor;

typedef struct wgml_plan_step {
    wgml_gpu_group *group;
    uint32_t grid[3];
    wgml_plan_kernel info;
    char name[128];
} wgml_plan_step;

struct wgml_plan {
    wgml_gpu *gpu;
    wgml_node *nodes;          // copy of the graph's nodes
    int n_tensors;
    wgml_plan_tensor *tensors;
    wgml_plan_step *steps;
    int n_steps;
    wgml_gpu_buf **shared;     // buffers intermediates share
    uint64_t *shared_bytes;
    int n_shared;
    uint64_t naive_bytes;
    char err[512];
};

// Assigns shared buffers to intermediates by liveness (plan.c). `groups` and
// `bindings` describe which tensors each kernel reads and writes.
wgml_status wgml_plan_memory_assign(wgml_plan *p, const wgml_group_bindings *bindings,
                                    int n_groups);

#endif
