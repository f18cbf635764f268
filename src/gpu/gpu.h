/*
 * The GPU layer: the only code that speaks WebGPU. Everything above it sees
 * this small interface, which the native build implements over webgpu.h
 * (Dawn or wgpu-native) and the web build over navigator.gpu.
 *
 * Model of use:
 *   - buffers come from a pool keyed by size class (create/release);
 *   - pipelines are built from an embedded WGSL kernel family, an entry point
 *     and override constants, and cached by that key;
 *   - dispatches are recorded into one compute pass; their small parameters
 *     go to a uniform arena (binding 0 of every kernel); storage buffers
 *     follow as bindings 1..n;
 *   - one submit per run; readback copies through a staging buffer;
 *   - errors from WebGPU (validation, out-of-memory, shader compilation,
 *     device loss) become a wgml_status plus a message on the gpu object;
 *   - after a device loss every call that needs the device returns
 *     WGML_ERR_DEVICE_LOST until wgml_gpu_recover moves every object onto a
 *     new device (see "device loss" below).
 */
#ifndef WGML_GPU_H
#define WGML_GPU_H

#include "wgml.h"

typedef struct wgml_gpu wgml_gpu;
typedef struct wgml_gpu_buf wgml_gpu_buf;
typedef struct wgml_gpu_pipeline wgml_gpu_pipeline;

typedef struct wgml_gpu_options {
    wgml_power_preference power;
    bool disable_f16, disable_subgroups, disable_timestamps, bounds_checks;
} wgml_gpu_options;

// ---------------------------------------------------------------- device

// On failure *out is NULL and err holds the reason.
wgml_status wgml_gpu_create(const wgml_gpu_options *opt, wgml_gpu **out,
                            char *err, size_t err_size);
void wgml_gpu_free(wgml_gpu *gpu);
const wgml_device_info *wgml_gpu_info(const wgml_gpu *gpu);
// The subgroup size where the device's subgroups have one fixed size that is
// a power of two from 4 to 128 (what the kernels that lay work out by
// subgroup take: row reductions, GEMV, the subgroup GEMM); else 0.
uint32_t wgml_gpu_fixed_subgroup_size(const wgml_gpu *gpu);
// Message of the last failure, "" if none.
const char *wgml_gpu_last_error(const wgml_gpu *gpu);
// Records a failure: formats the message and returns `status`.
wgml_status wgml_gpu_fail(wgml_gpu *gpu, wgml_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void wgml_gpu_clear_error(wgml_gpu *gpu);

// State a layer above keeps per device (the autotuning table): the GPU
// object holds it and calls free_fn when it goes.
void *wgml_gpu_attachment(const wgml_gpu *gpu);
void wgml_gpu_attach(wgml_gpu *gpu, void *data, void (*free_fn)(void *));

// ---------------------------------------------------------------- buffers

// A storage buffer of at least `size` bytes (usable as copy source and
// destination), taken from the pool when one of the right class is free.
// Contents are undefined. Sizes above the device limits are refused before
// anything is created.
wgml_status wgml_gpu_buf_create(wgml_gpu *gpu, uint64_t size, const char *label,
                                wgml_gpu_buf **out);
// Returns the buffer to the pool (NULL is ignored).
void wgml_gpu_buf_release(wgml_gpu *gpu, wgml_gpu_buf *buf);
uint64_t wgml_gpu_buf_size(const wgml_gpu_buf *buf);
// Frees every pooled buffer that is not in use.
void wgml_gpu_pool_trim(wgml_gpu *gpu);
// Bytes held by live and pooled buffers.
uint64_t wgml_gpu_pool_bytes(const wgml_gpu *gpu);

// Host to device; offset and size must be multiples of 4.
wgml_status wgml_gpu_buf_write(wgml_gpu *gpu, wgml_gpu_buf *buf, uint64_t offset,
                               const void *data, uint64_t size);
// Device to host. Submits pending work first and waits for it.
wgml_status wgml_gpu_buf_read(wgml_gpu *gpu, wgml_gpu_buf *buf, uint64_t offset,
                              void *dst, uint64_t size);

// ---------------------------------------------------------------- readbacks
//
// A readback copies a range of a buffer to the host as the run it was
// recorded into leaves it, without waiting for runs submitted after that one:
// a caller can submit the next run first and read while the GPU works
// (generation reads a batch's tokens while the next batch runs). The web
// build reads when asked, after all submitted work: callers must not let a
// later run write the range before they read it.
typedef struct wgml_gpu_readback wgml_gpu_readback;
// A readback of at most `capacity` bytes.
wgml_status wgml_gpu_readback_create(wgml_gpu *gpu, uint64_t capacity, wgml_gpu_readback **out);
void wgml_gpu_readback_free(wgml_gpu *gpu, wgml_gpu_readback *rb);
// Copies `size` bytes (a multiple of 4, at most the capacity) of buf at
// `offset` into rb at the end of the run being recorded (started if none).
// A readback holds one copy: recording it again replaces what was not read.
wgml_status wgml_gpu_readback_record(wgml_gpu *gpu, wgml_gpu_readback *rb, wgml_gpu_buf *buf,
                                     uint64_t offset, uint64_t size);
// Waits for the copy (submitting its run first if it is still being
// recorded) and writes its bytes to dst. WGML_ERR_INVALID_ARGUMENT when
// nothing was recorded, or the run was dropped.
wgml_status wgml_gpu_readback_read(wgml_gpu *gpu, wgml_gpu_readback *rb, void *dst);

// ---------------------------------------------------------------- pipelines

typedef struct wgml_gpu_constant {
    const char *name;   // WGSL `override` name
    double value;
} wgml_gpu_constant;

typedef struct wgml_gpu_kernel {
    const char *family;   // embedded kernel file, e.g. "softmax"
    const char *entry;    // entry point; NULL means "main"
    const wgml_gpu_constant *constants;
    size_t n_constants;
    const char *source;   // WGSL text instead of the embedded family
    // WGSL placed before the family's text: bindings and hook functions that a
    // template kernel calls (generated code, e.g. fused epilogues). Directives
    // (`enable`, `requires`) from either part are moved to the top.
    const char *prelude;
} wgml_gpu_kernel;

// Builds (or finds in the cache) the compute pipeline for `k`. A WGSL
// compilation error returns WGML_ERR_GPU with the compiler's messages,
// including line:column, in the last error.
wgml_status wgml_gpu_pipeline_get(wgml_gpu *gpu, const wgml_gpu_kernel *k,
                                  wgml_gpu_pipeline **out);
// Many pipelines at once: where the implementation allows (Dawn) they compile
// concurrently, asynchronously, and this waits for all of them.
wgml_status wgml_gpu_pipelines_get(wgml_gpu *gpu, const wgml_gpu_kernel *ks, size_t n,
                                   wgml_gpu_pipeline **out);

// A pipeline found again by a small binary key: an op's own description of
// the variant it builds (shape class, format, switches), so that recording
// the same variant again skips composing its WGSL prelude and hashing it.
// `op` names the key's kind (a string literal; compared by address).
// recall gives NULL for a key not remembered yet.
wgml_gpu_pipeline *wgml_gpu_pipeline_recall(wgml_gpu *gpu, const char *op, const void *key,
                                            size_t key_size);
void wgml_gpu_pipeline_remember(wgml_gpu *gpu, const char *op, const void *key, size_t key_size,
                                wgml_gpu_pipeline *pipeline);

// ---------------------------------------------------------------- recording

typedef struct wgml_gpu_binding {
    wgml_gpu_buf *buf;
    uint64_t offset;   // bytes; multiple of min_storage_buffer_offset_alignment
    uint64_t size;     // bytes; 0 means "to the end of the buffer"
    uint32_t slot;     // binding number; 0 means its position in the list + 1
} wgml_gpu_binding;

// Starts recording a run. With `timed`, the run's pass carries GPU timestamps
// (when the device has them) and wgml_gpu_submit reports its duration.
// Recording also starts implicitly at the first dispatch.
wgml_status wgml_gpu_begin(wgml_gpu *gpu, bool timed);

// Records one dispatch. `params` (may be NULL) is copied into the uniform
// arena and bound at binding 0; `bindings` become bindings 1..n unless they
// name their slots.
wgml_status wgml_gpu_dispatch(wgml_gpu *gpu, wgml_gpu_pipeline *pipeline,
                              const void *params, size_t params_size,
                              const wgml_gpu_binding *bindings, size_t n_bindings,
                              uint32_t groups_x, uint32_t groups_y, uint32_t groups_z);

// A bind group built once and dispatched many times (graph executors): its
// parameters live in a uniform buffer of its own, written at creation.
typedef struct wgml_gpu_group wgml_gpu_group;
wgml_status wgml_gpu_group_create(wgml_gpu *gpu, wgml_gpu_pipeline *pipeline,
                                  const void *params, size_t params_size,
                                  const wgml_gpu_binding *bindings, size_t n_bindings,
                                  wgml_gpu_group **out);
wgml_status wgml_gpu_dispatch_group(wgml_gpu *gpu, wgml_gpu_group *group, uint32_t groups_x,
                                    uint32_t groups_y, uint32_t groups_z);
void wgml_gpu_group_free(wgml_gpu *gpu, wgml_gpu_group *group);

// Ends the pass and submits everything recorded since begin, in one submit.
// When the run was timed and timestamps exist, waits for completion and
// writes the GPU time in nanoseconds to *gpu_ns (else *gpu_ns = -1).
wgml_status wgml_gpu_submit(wgml_gpu *gpu, double *gpu_ns);

// Waits until all submitted work has finished.
wgml_status wgml_gpu_wait(wgml_gpu *gpu);

// Number of dispatches recorded in the current run (for accounting/tests).
uint32_t wgml_gpu_pending_dispatches(const wgml_gpu *gpu);
// Number of queue submits of recorded runs so far (for tests).
uint64_t wgml_gpu_submit_count(const wgml_gpu *gpu);
// Number of buffers created on the device so far; pool reuse is not counted
// (for tests: "nothing was uploaded").
uint64_t wgml_gpu_buffers_created(const wgml_gpu *gpu);
// Number of bind groups made for dispatches so far. wgml_gpu_dispatch keeps
// them by what they bind, so a run that repeats an earlier run's dispatches
// (same buffers, same parameter sizes) makes none (for tests).
uint64_t wgml_gpu_bind_groups_made(const wgml_gpu *gpu);

// ---------------------------------------------------------------- profiling
//
// Per-dispatch GPU times (devices with timestamp queries; the web build has
// none yet): while profiling, every dispatch of a run gets a compute pass of
// its own with timestamps at its ends (WebGPU times whole passes only), so a
// profiled run is slower than a plain one and each time includes a pass's
// fixed cost. The first `max_dispatches` (at most 2048) of a run are timed.
typedef struct wgml_gpu_profile_entry {
    const char *kernel;   // the kernel family (wgml_gpu_kernel.family, "wgml.inline")
    const char *entry;    // its entry point
    double ns;            // GPU time of the dispatch's pass
} wgml_gpu_profile_entry;
wgml_status wgml_gpu_profile_start(wgml_gpu *gpu, uint32_t max_dispatches);
void wgml_gpu_profile_stop(wgml_gpu *gpu);
// After a profiled run was submitted: waits for it; *entries (valid until
// the next profiled run or stop) holds its timed dispatches in order.
wgml_status wgml_gpu_profile_read(wgml_gpu *gpu, const wgml_gpu_profile_entry **entries,
                                  uint32_t *n);

// ---------------------------------------------------------------- device loss
//
// A device is lost when the driver resets or crashes, the GPU goes away, or
// wgml_gpu_debug_lose_device says so. From then on every call that needs it
// returns WGML_ERR_DEVICE_LOST -- never zeros or stale results -- and
// wgml_gpu_lost is true, until wgml_gpu_recover succeeds.
//
// wgml_gpu_recover requests a new device (same options) and makes, in place,
// every object of the old one again: buffers keep their handles and sizes but
// come back zero-filled; pipelines are compiled again from the WGSL they were
// built from; bind groups (wgml_gpu_group) bind the same buffers. Handles
// that layers above hold (buffers, pipelines, groups, hence compiled graph
// plans) stay valid. Then it calls every restore hook, in registration
// order: a hook puts back the contents that must survive (a model writes its
// weights again, from its file) and resets state that cannot (a KV cache
// starts empty). If anything fails, the device stays marked lost, with the
// reason, and wgml_gpu_recover may be called again. With no loss it returns
// WGML_OK at once.

// Restores what `user` (a model) keeps on the device, on the new device; buffers
// are zero-filled when it is called. Returns WGML_OK or a failure recorded with
// wgml_gpu_fail.
typedef wgml_status (*wgml_gpu_restore_fn)(void *user, wgml_gpu *gpu);
wgml_status wgml_gpu_restore_hook_add(wgml_gpu *gpu, wgml_gpu_restore_fn fn, void *user);
// Removes the hook added with the same fn and user (nothing if there is none).
void wgml_gpu_restore_hook_remove(wgml_gpu *gpu, wgml_gpu_restore_fn fn, void *user);
// Hooks registered now (for tests: a freed model leaves none).
size_t wgml_gpu_restore_hook_count(const wgml_gpu *gpu);
bool wgml_gpu_lost(const wgml_gpu *gpu);
wgml_status wgml_gpu_recover(wgml_gpu *gpu);

// ---------------------------------------------------------------- fault injection (tests)

// Destroys the device now, as a driver reset would: the device-lost
// callback fires and later calls see WGML_ERR_DEVICE_LOST.
void wgml_gpu_debug_lose_device(wgml_gpu *gpu);
// Destroys the device right after the n-th queue submit of a recorded run
// from now (n >= 1), while that work is in flight; 0 cancels.
void wgml_gpu_debug_lose_after_submits(wgml_gpu *gpu, uint32_t n);
// Lowers the limits that sizes are checked against (maxBufferSize and
// maxStorageBufferBindingSize as wgml_gpu_info reports them), as on a smaller
// device; 0 leaves one as the device has it. Never raises a limit.
void wgml_gpu_debug_cap_limits(wgml_gpu *gpu, uint64_t max_buffer_size,
                               uint64_t max_storage_binding_size);
// Lowers the device memory that wgml_gpu_info reports (device_memory) as on a
// smaller device, or sets it where the implementation does not say; 0 leaves
// it as the device has it.
void wgml_gpu_debug_cap_memory(wgml_gpu *gpu, uint64_t bytes);

#endif
