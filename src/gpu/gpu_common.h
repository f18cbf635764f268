/*
 * What the two implementations of gpu.h share: everything that does not
 * speak to a WebGPU API (sizes, limits, WGSL composition, cache keys, feature
 * probes that go through gpu.h itself). gpu_native.c (webgpu.h) and
 * gpu_web.c (JS imports over navigator.gpu) each keep their own objects.
 * Only src/gpu includes this file.
 */
#ifndef WGML_GPU_COMMON_H
#define WGML_GPU_COMMON_H

#include "gpu/gpu.h"

enum {
    WGML_GPU_MAX_BINDINGS = 16,         // bind group entries per dispatch, params included
    WGML_GPU_MAX_CONSTANTS = 32,        // override constants per kernel
    WGML_GPU_ARENA_CHUNK_BYTES = 1 << 20,   // uniform arena chunk; many dispatches each
    WGML_GPU_GROUP_PARAMS_MAX = 256,    // bytes of parameters a bind group keeps
};

uint64_t wgml_gpu_fnv1a(uint64_t h, const void *data, size_t n);
#define WGML_GPU_FNV_SEED 1469598103934665603ull

// The pool's size class for a request of `size` bytes: powers of two up to
// 1 MiB, then multiples of 1 MiB, so that reuse wastes little and small
// buffers are shared often.
uint64_t wgml_gpu_size_class(uint64_t size);

// The capacity to allocate for a buffer of `size` bytes, or a failure for a
// size of 0 or one past the device's maxBufferSize (checked before anything
// is created).
wgml_status wgml_gpu_buf_capacity(wgml_gpu *gpu, uint64_t size, const char *label,
                                  uint64_t *capacity);

// `what` ("buffer write", "buffer read") of size bytes at offset inside a
// buffer of `capacity` bytes: multiples of 4, inside the buffer.
wgml_status wgml_gpu_range_check(wgml_gpu *gpu, const char *what, uint64_t offset,
                                 uint64_t size, uint64_t capacity);

// A dispatch's grid against maxComputeWorkgroupsPerDimension.
wgml_status wgml_gpu_grid_check(wgml_gpu *gpu, uint32_t gx, uint32_t gy, uint32_t gz);

// Binding i (0-based) over a buffer of `capacity` bytes: alignment, range and
// maxStorageBufferBindingSize. Writes the bound size and slot.
wgml_status wgml_gpu_binding_check(wgml_gpu *gpu, size_t i, const wgml_gpu_binding *b,
                                   uint64_t capacity, uint64_t *size, uint32_t *slot);
// The number of storage bindings against the limits.
wgml_status wgml_gpu_bindings_count_check(wgml_gpu *gpu, size_t n_bindings);

// The WGSL text of a kernel family or its raw source; NULL (with a failure
// recorded) for an unknown family.
const char *wgml_gpu_kernel_text(wgml_gpu *gpu, const wgml_gpu_kernel *k);

// The module's text: directives first, then the prelude, then the kernel.
// drop_subgroups_directive: naga takes subgroup builtins without
// `enable subgroups;` and rejects the directive itself. malloc'd; NULL when
// out of memory.
char *wgml_gpu_source_compose(const char *prelude, const char *source,
                              bool drop_subgroups_directive);

// The pipeline cache key: family (or the hash of raw source), prelude hash,
// entry and constants.
void wgml_gpu_pipeline_key(const wgml_gpu_kernel *k, char *key, size_t cap);

// "compiling kernel 'family' (entry e)" for messages.
void wgml_gpu_kernel_what(const wgml_gpu_kernel *k, char *what, size_t cap);

// The pipeline memo (wgml_gpu_pipeline_recall): each implementation keeps a
// pointer for it in its wgml_gpu and gives its address here; freed with
// wgml_gpu_memo_free when the GPU object goes (pipelines survive a device
// loss in place, so the memo does too).
typedef struct wgml_gpu_memo wgml_gpu_memo;
wgml_gpu_memo **wgml_gpu_memo_slot(wgml_gpu *gpu);
void wgml_gpu_memo_free(wgml_gpu_memo *memo);

// Feature probes that run through gpu.h once the device exists; the last
// error is left as it was.
// Whether a WGSL snippet compiles and links on this device: the honest test
// for language features an implementation may not advertise.
bool wgml_gpu_wgsl_compiles(wgml_gpu *gpu, const char *wgsl);
// dot4I8Packed (WGSL packed_4x8_integer_dot_product).
bool wgml_gpu_probe_packed_dot4(wgml_gpu *gpu);
// The subgroup size a kernel observes (1..128), 0 when it cannot be seen.
uint32_t wgml_gpu_probe_subgroup_size(wgml_gpu *gpu);

#endif
