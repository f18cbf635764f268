// Private state of the native GPU layer. Only src/gpu includes this file.
#ifndef WGML_GPU_INTERNAL_H
#define WGML_GPU_INTERNAL_H

#include "gpu/gpu.h"
#include <webgpu/webgpu.h>

struct wgml_gpu_buf {
    WGPUBuffer buffer;
    uint64_t size;          // bytes asked for
    uint64_t capacity;      // bytes allocated (the size class)
    wgml_gpu_buf *next;     // pool free list
    wgml_gpu_buf *all_prev, *all_next;   // every buffer of the device
};

struct wgml_gpu_pipeline {
    WGPUComputePipeline pipeline;
    WGPUBindGroupLayout layout;   // group 0, from the pipeline's auto layout
    uint64_t hash;                // of key
    char key[512];                // family|entry|constants
    wgml_gpu_pipeline *next;
};

struct wgml_gpu_group {
    WGPUBindGroup bind_group;
    WGPUBuffer params;              // its own uniform buffer, or NULL
    wgml_gpu_pipeline *pipeline;
};

// One slice of the uniform arena: parameters are staged in `shadow` while a
// run is recorded and written to `buffer` once, just before the submit.
typedef struct wgml_arena_chunk {
    WGPUBuffer buffer;
    uint8_t *shadow;
    uint32_t used;   // bytes
} wgml_arena_chunk;

struct wgml_gpu {
    WGPUInstance instance;
    WGPUAdapter adapter;
    WGPUDevice device;
    WGPUQueue queue;

    wgml_device_info info;
    char s_vendor[128], s_arch[128], s_device[256], s_desc[256];

    char err[8192];                 // last failure
    volatile bool lost;             // set by the device-lost callback
    char lost_message[1024];
    volatile bool uncaptured;       // an uncaptured error arrived since the last submit
    bool destroying;

    wgml_gpu_buf *pool;             // free buffers
    wgml_gpu_buf *all;              // every live buffer, pooled or not
    uint64_t pool_bytes;            // capacity of every live buffer
    WGPUBuffer staging;             // MapRead buffer for readback
    uint64_t staging_size;

    wgml_gpu_pipeline *pipelines;   // cache
    void *attachment;               // see wgml_gpu_attach
    void (*attachment_free)(void *);

    // The run being recorded.
    bool recording, timed;
    WGPUCommandEncoder encoder;
    WGPUComputePassEncoder pass;
    uint32_t n_dispatches;
    uint64_t n_submits;
    WGPUBindGroup *groups;
    size_t n_groups, cap_groups;
    wgml_arena_chunk *arena;
    size_t n_arena, cap_arena, arena_active;

    // Timestamps: two queries (start and end of the run's pass).
    WGPUQuerySet ts_queries;
    WGPUBuffer ts_resolve, ts_readback;
};

#endif
