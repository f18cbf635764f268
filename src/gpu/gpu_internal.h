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
    char label[48];         // for the buffer made again after a device loss
};

// What a pipeline is built from, kept to build it again on a new device.
typedef struct wgml_gpu_recipe {
    char *wgsl;                    // the composed module text
    char *entry;
    WGPUConstantEntry *consts;     // (n_consts), keys pointing into names
    size_t n_consts;
    char *names;                   // the constants' names, NUL-separated
} wgml_gpu_recipe;

struct wgml_gpu_pipeline {
    WGPUComputePipeline pipeline;
    WGPUBindGroupLayout layout;   // group 0, from the pipeline's auto layout
    uint64_t hash;                // of key
    char key[512];                // family|entry|constants
    wgml_gpu_recipe recipe;
    char label[64];
    wgml_gpu_pipeline *next;
};

// A bind group's storage binding, kept to bind it again on a new device.
typedef struct wgml_gpu_group_binding {
    wgml_gpu_buf *buf;
    uint64_t offset, size;   // bytes
    uint32_t slot;
} wgml_gpu_group_binding;

struct wgml_gpu_group {
    WGPUBindGroup bind_group;
    WGPUBuffer params;              // its own uniform buffer, or NULL
    wgml_gpu_pipeline *pipeline;
    uint8_t params_data[256];       // (params_size) what params holds
    size_t params_size;             // bytes, rounded up to 16; 0: no params
    wgml_gpu_group_binding binds[16];
    size_t n_binds;
    wgml_gpu_group *prev, *next;    // every group of the device
};

// A function that puts back what must survive a device loss (wgml_gpu_recover).
typedef struct wgml_gpu_hook {
    wgml_gpu_restore_fn fn;
    void *user;
} wgml_gpu_hook;

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
    uintptr_t generation;           // which device the callbacks belong to (+1 per recovery)
    wgml_gpu_options opt;           // as created, for a new device after a loss
    uint64_t cap_buffer, cap_binding, cap_memory;   // test caps on the limits (0: none)
    uint64_t dev_max_buffer, dev_max_binding, dev_memory;   // the device's own, uncapped
    uint64_t n_buffers_created;
    uint32_t lose_after_submits;    // test fault: destroy the device after this many (0: never)
    bool recovering;
    wgml_gpu_hook *hooks;           // (n_hooks) restore hooks, in registration order
    size_t n_hooks, cap_hooks;
    wgml_gpu_group *groups_all;     // every live bind group (wgml_gpu_group_create)

    wgml_gpu_buf *pool;             // free buffers
    wgml_gpu_buf *all;              // every live buffer, pooled or not
    uint64_t pool_bytes;            // capacity of every live buffer
    WGPUBuffer staging;             // MapRead buffer for readback
    uint64_t staging_size;

    wgml_gpu_pipeline *pipelines;   // cache
    struct wgml_gpu_memo *memo;     // pipelines by ops' keys (gpu_common.c), or NULL
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

    struct wgml_gpu_bindcache *bindcache;   // dispatches' bind groups (gpu_bindcache.c), or NULL
    struct wgml_gpu_profiler *profiler;     // per-dispatch timing (gpu_profile.c), or NULL
    uint64_t bind_groups_uncached;          // made outside the cache (out of host memory)
    wgml_gpu_readback *readbacks_all;       // every readback (rebuilt after a device loss)
    wgml_gpu_readback **run_readbacks;      // (n_run_readbacks) copies at the end of the run
    size_t n_run_readbacks, cap_run_readbacks;

    // Timestamps: two queries (start and end of the run's pass).
    WGPUQuerySet ts_queries;
    WGPUBuffer ts_resolve, ts_readback;
};


typedef struct wgml_gpu_bindcache wgml_gpu_bindcache;

// A readback's staging buffer and state (gpu.h, "readbacks").
struct wgml_gpu_readback {
    WGPUBuffer staging;            // MapRead | CopyDst, `capacity` bytes
    uint64_t capacity;             // bytes
    wgml_gpu_buf *src;             // what the recorded copy reads
    uint64_t offset, size;         // bytes
    int state;                     // RB_IDLE, RB_RECORDED (in the open run), RB_SUBMITTED
    wgml_gpu_readback *prev, *next;   // every readback of the device
};
enum { WGML_RB_IDLE = 0, WGML_RB_RECORDED, WGML_RB_SUBMITTED };

// ---------------------------------------------------------------- between the files
// gpu_native.c: resources, recording, the device's creation; gpu_recover.c:
// recovery after a device loss, restore hooks, fault injection.

// Requests an adapter and a device (g->opt) on g->instance, creating the
// instance when there is none, and fills g->info. A new generation: callbacks
// of an older device are ignored from here on.
wgml_status wgml_gpu_device_open(wgml_gpu *g);
// What needs a working device on top: timestamp queries, feature probes.
wgml_status wgml_gpu_device_probe(wgml_gpu *g);
// Releases every WebGPU object of the current device (buffers, pipelines,
// bind groups, the arena, staging, queries, the device and its adapter) and
// keeps the handles above them.
void wgml_gpu_objects_drop(wgml_gpu *g);
// Makes every kept handle's object again on the current device: buffers
// (zero-filled, same capacity), pipelines from their recipes, bind groups.
wgml_status wgml_gpu_objects_rebuild(wgml_gpu *g);
// Applies the test caps to g->info.
void wgml_gpu_caps_apply(wgml_gpu *g);
// Delivers callbacks an implementation holds back (the device-lost one).
void wgml_gpu_events_process(wgml_gpu *g);

// gpu_bindcache.c: the bind group of (layout, entries), made on first use and
// kept (the cache holds the reference; NULL when out of host memory).
WGPUBindGroup wgml_gpu_bindcache_get(wgml_gpu *g, WGPUBindGroupLayout layout,
                                     const WGPUBindGroupEntry *entries, size_t n);
// Releases every kept group (a buffer is destroyed, the device is dropped).
void wgml_gpu_bindcache_clear(wgml_gpu *g);
void wgml_gpu_bindcache_free(wgml_gpu *g);

// gpu_native.c helpers that gpu_readback.c shares.
wgml_status wgml_gpu_check_alive(wgml_gpu *g);
void wgml_gpu_scopes_push(wgml_gpu *g);
wgml_status wgml_gpu_scopes_pop(wgml_gpu *g, const char *what);
// Maps `buf` for reading (waits until the work that last used it is done).
wgml_status wgml_gpu_map_read(wgml_gpu *g, WGPUBuffer buf, uint64_t size);
// gpu_readback.c: the copies of the readbacks recorded into the run, encoded
// after its pass; after the submit (or a dropped run), their new state.
void wgml_gpu_readbacks_encode(wgml_gpu *g, WGPUCommandEncoder enc);
void wgml_gpu_readbacks_settle(wgml_gpu *g, bool submitted);
void wgml_gpu_readbacks_drop(wgml_gpu *g);
void wgml_gpu_readbacks_rebuild(wgml_gpu *g);
// gpu_profile.c: while profiling, ends the pass and begins one with
// timestamps for the dispatch of p; after the last pass, the query
// resolution; after the submit (or a dropped run), the new state.
void wgml_gpu_profile_pass(wgml_gpu *g, wgml_gpu_pipeline *p);
void wgml_gpu_profile_encode(wgml_gpu *g);
void wgml_gpu_profile_settle(wgml_gpu *g, bool submitted);

#endif
