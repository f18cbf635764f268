/*
 * The GPU layer in the browser: gpu.h over navigator.gpu, for the wasm build.
 *
 * WebGPU objects live in JS tables (web/wgml.js, import module "wgml_gpu");
 * C holds their indices (0 is never a valid one). The import table is small:
 * device, error scopes, buffers, pipelines, bind groups, one encoder, submit,
 * readback, timestamps. What does not speak to WebGPU (limits, WGSL
 * composition, cache keys, probes) is shared with the native layer in
 * gpu_common.c.
 *
 * Waiting: C code is synchronous, WebGPU's waits are promises. The imports
 * that wait (device request, popErrorScope, pipeline creation, mapAsync,
 * onSubmittedWorkDone) are JS Promise Integration imports
 * (WebAssembly.Suspending): the wasm stack is suspended until the promise
 * settles and the call returns its value, so C keeps the one-way-to-wait
 * shape of the native layer. Every export that may reach them is called
 * through WebAssembly.promising, one call at a time (wgml.js queues them).
 *
 * A waiting import returns a wgml_status; its message is fetched with
 * js_message. Sizes and offsets cross as doubles (exact below 2^53).
 */
#include "gpu/gpu.h"
#include "gpu/gpu_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_IMPORT(name) __attribute__((import_module("wgml_gpu"), import_name(#name)))

typedef uint32_t js_handle;   // index into a JS table; 0 = none

// A kernel for js_pipelines_create (layout shared with wgml.js: 32 bytes).
typedef struct js_kernel {
    const char *code;
    uint32_t code_len;
    const char *entry;
    uint32_t entry_len;
    const char *label;
    uint32_t label_len;
    const struct js_constant *constants;
    uint32_t n_constants;
} js_kernel;

typedef struct js_constant {   // 16 bytes
    const char *name;
    uint32_t name_len;
    double value;
} js_constant;

typedef struct js_entry {      // a bind group entry, 24 bytes
    uint32_t binding;
    js_handle buffer;
    double offset, size;
} js_entry;

// Device. Flags: see DEVICE_* below. Waits.
JS_IMPORT(device_request) int js_device_request(uint32_t flags);
// Adapter strings (0 vendor, 1 architecture, 2 device, 3 description),
// limits and features by index (see fill_info); copies at most cap bytes.
JS_IMPORT(device_string) uint32_t js_device_string(uint32_t which, char *dst, uint32_t cap);
JS_IMPORT(device_limit) double js_device_limit(uint32_t which);
JS_IMPORT(device_feature) int js_device_feature(uint32_t which);
// 1 with the reason when the device was lost.
JS_IMPORT(device_lost) int js_device_lost(char *dst, uint32_t cap);
// 1 with the message when an uncaptured error arrived since the last call.
JS_IMPORT(uncaptured_error) int js_uncaptured_error(char *dst, uint32_t cap);
JS_IMPORT(device_destroy) void js_device_destroy(void);
// The message of the last failed waiting import.
JS_IMPORT(message) uint32_t js_message(char *dst, uint32_t cap);

// Error scopes: out-of-memory, validation, internal. pop waits and returns
// the first error's status (OUT_OF_MEMORY or GPU) with its message.
JS_IMPORT(scopes_push) void js_scopes_push(void);
JS_IMPORT(scopes_pop) int js_scopes_pop(void);

// Buffers. kind 0: storage (copy source and destination), 1: uniform.
JS_IMPORT(buffer_create) js_handle js_buffer_create(double size, uint32_t kind, const char *label,
                                                    uint32_t label_len);
JS_IMPORT(buffer_destroy) void js_buffer_destroy(js_handle buf);
JS_IMPORT(buffer_write) void js_buffer_write(js_handle buf, double offset, const void *src,
                                             double size);
// Copies [offset, offset + size) of buf into dst through a staging buffer. Waits.
JS_IMPORT(buffer_read) int js_buffer_read(js_handle buf, double offset, void *dst, double size);

// Compiles n kernels concurrently (shader modules with their compilation
// messages, then createComputePipelineAsync) and waits for all. On failure
// *failed is the index of the kernel at fault and the message holds the
// compiler's line:column lines.
JS_IMPORT(pipelines_create) int js_pipelines_create(uint32_t n, const js_kernel *kernels,
                                                    js_handle *out, uint32_t *failed);
JS_IMPORT(pipeline_release) void js_pipeline_release(js_handle p);

JS_IMPORT(bind_group_create) js_handle js_bind_group_create(js_handle pipeline, uint32_t n,
                                                            const js_entry *entries);
JS_IMPORT(bind_group_release) void js_bind_group_release(js_handle bg);

// The run being recorded: one encoder, one compute pass (timestamps at its
// ends when timed). finish waits for validation (the encoder's error scopes);
// submit hands the finished command buffer to the queue.
JS_IMPORT(encoder_begin) void js_encoder_begin(int timed);
JS_IMPORT(encoder_dispatch) void js_encoder_dispatch(js_handle pipeline, js_handle bg, uint32_t gx,
                                                     uint32_t gy, uint32_t gz);
JS_IMPORT(encoder_finish) int js_encoder_finish(void);
JS_IMPORT(encoder_discard) void js_encoder_discard(void);
JS_IMPORT(queue_submit) void js_queue_submit(void);
// The last timed run's GPU time in ns (-1 without timestamps). Waits.
JS_IMPORT(timestamps_read) int js_timestamps_read(double *ns);
// Waits for all submitted work.
JS_IMPORT(queue_wait) int js_queue_wait(void);

enum {
    DEVICE_POWER_LOW = 1,
    DEVICE_POWER_HIGH = 2,
    DEVICE_NO_F16 = 4,
    DEVICE_NO_SUBGROUPS = 8,
    DEVICE_NO_TIMESTAMPS = 16,
};

enum { BUFFER_STORAGE = 0, BUFFER_UNIFORM = 1 };

// ================================================================ objects

struct wgml_gpu_buf {
    js_handle h;
    uint64_t size;          // bytes asked for
    uint64_t capacity;      // bytes allocated (the size class)
    wgml_gpu_buf *next;     // pool free list
    wgml_gpu_buf *all_prev, *all_next;   // every buffer of the device
};

struct wgml_gpu_pipeline {
    js_handle h;
    uint64_t hash;          // of key
    char key[512];          // family|entry|constants
    wgml_gpu_pipeline *next;
};

struct wgml_gpu_group {
    js_handle bind_group;
    js_handle params;       // its own uniform buffer, or 0
    wgml_gpu_pipeline *pipeline;
};

// One slice of the uniform arena: parameters are staged in `shadow` while a
// run is recorded and written to `buffer` once, just before the submit.
typedef struct arena_chunk {
    js_handle buffer;
    uint8_t *shadow;
    uint32_t used;   // bytes
} arena_chunk;

struct wgml_gpu {
    wgml_device_info info;
    char s_vendor[128], s_arch[128], s_device[256], s_desc[256];
    char err[8192];             // last failure
    bool lost;
    char lost_message[1024];

    wgml_gpu_buf *pool;         // free buffers
    wgml_gpu_buf *all;          // every live buffer, pooled or not
    uint64_t pool_bytes;        // capacity of every live buffer

    wgml_gpu_pipeline *pipelines;   // cache
    struct wgml_gpu_memo *memo;     // pipelines by ops' keys (gpu_common.c), or NULL
    void *attachment;
    void (*attachment_free)(void *);

    uint64_t n_buffers_created;
    uint64_t n_bind_groups;             // made for dispatches (no cache here yet)
    uint64_t cap_buffer, cap_binding, cap_memory;   // test caps on the limits (0: none)
    uint32_t lose_after_submits;        // test fault: lose the device after this many
    struct { wgml_gpu_restore_fn fn; void *user; } *hooks;   // (n_hooks) restore hooks
    size_t n_hooks, cap_hooks;

    bool recording, timed;
    uint32_t n_dispatches;
    uint64_t n_submits;
    js_handle *groups;          // the run's bind groups
    size_t n_groups, cap_groups;
    arena_chunk *arena;
    size_t n_arena, cap_arena, arena_active;
};

// ================================================================ errors

wgml_status wgml_gpu_fail(wgml_gpu *g, wgml_status status, const char *fmt, ...)
{
    // Formatted aside first: a message may quote the last one
    // (wgml_gpu_last_error), which vsnprintf must not write over as it reads.
    char msg[sizeof g->err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(g->err, msg, strlen(msg) + 1);
    return status;
}

void wgml_gpu_clear_error(wgml_gpu *g) { g->err[0] = 0; }
const char *wgml_gpu_last_error(const wgml_gpu *g) { return g->err; }
const wgml_device_info *wgml_gpu_info(const wgml_gpu *g) { return &g->info; }
void *wgml_gpu_attachment(const wgml_gpu *g) { return g->attachment; }

void wgml_gpu_attach(wgml_gpu *g, void *data, void (*free_fn)(void *))
{
    if (g->attachment && g->attachment_free) g->attachment_free(g->attachment);
    g->attachment = data;
    g->attachment_free = free_fn;
}

// The message of the last failed waiting import, prefixed with `what`.
static wgml_status fail_js(wgml_gpu *g, int status, const char *what)
{
    char msg[4096];
    uint32_t n = js_message(msg, sizeof msg - 1);
    msg[n < sizeof msg ? n : sizeof msg - 1] = 0;
    if (status == WGML_ERR_OUT_OF_MEMORY)
        return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "%s: out of GPU memory: %s", what, msg);
    return wgml_gpu_fail(g, (wgml_status)status, "%s: %s", what, msg);
}

static wgml_status check_alive(wgml_gpu *g)
{
    if (!g->lost) {
        uint32_t n = sizeof g->lost_message - 1;
        if (!js_device_lost(g->lost_message, n)) return WGML_OK;
        g->lost_message[n] = 0;
        g->lost = true;
    }
    return wgml_gpu_fail(g, WGML_ERR_DEVICE_LOST, "device lost: %s", g->lost_message);
}

static wgml_status scopes_pop(wgml_gpu *g, const char *what)
{
    int st = js_scopes_pop();
    wgml_status alive = check_alive(g);
    if (alive) return alive;
    return st ? fail_js(g, st, what) : WGML_OK;
}

// ================================================================ device

// Limit and feature indices shared with wgml.js (LIMITS, FEATURES there).
enum {
    LIM_MAX_BUFFER_SIZE, LIM_MAX_STORAGE_BINDING, LIM_MAX_UNIFORM_BINDING,
    LIM_MAX_STORAGE_BUFFERS, LIM_MAX_WG_STORAGE, LIM_MAX_INVOCATIONS, LIM_MAX_WG_X,
    LIM_MAX_WG_Y, LIM_MAX_WG_Z, LIM_MAX_WG_PER_DIM, LIM_MIN_STORAGE_ALIGN, LIM_MIN_UNIFORM_ALIGN,
    LIM_SUBGROUP_MIN, LIM_SUBGROUP_MAX, LIM_VENDOR_ID, LIM_DEVICE_ID,
};
enum { FEAT_SHADER_F16, FEAT_SUBGROUPS, FEAT_TIMESTAMP_QUERY, FEAT_IS_FALLBACK };

static void string_of(uint32_t which, char *dst, size_t cap)
{
    uint32_t n = js_device_string(which, dst, (uint32_t)cap - 1);
    dst[n < cap ? n : cap - 1] = 0;
}

// The buffer limits as the device has them, lowered by the test caps
// (wgml_gpu_debug_cap_limits).
static void caps_apply(wgml_gpu *g)
{
    wgml_device_info *d = &g->info;
    d->max_buffer_size = (uint64_t)js_device_limit(LIM_MAX_BUFFER_SIZE);
    d->max_storage_buffer_binding_size = (uint64_t)js_device_limit(LIM_MAX_STORAGE_BINDING);
    if (g->cap_buffer && g->cap_buffer < d->max_buffer_size) d->max_buffer_size = g->cap_buffer;
    if (g->cap_binding && g->cap_binding < d->max_storage_buffer_binding_size)
        d->max_storage_buffer_binding_size = g->cap_binding;
    d->device_memory = g->cap_memory;   // the browser does not say
}

static void fill_info(wgml_gpu *g)
{
    wgml_device_info *d = &g->info;
    string_of(0, g->s_vendor, sizeof g->s_vendor);
    string_of(1, g->s_arch, sizeof g->s_arch);
    string_of(2, g->s_device, sizeof g->s_device);
    string_of(3, g->s_desc, sizeof g->s_desc);
    d->implementation = "browser";
    d->vendor = g->s_vendor;
    d->architecture = g->s_arch;
    d->device = g->s_device;
    d->description = g->s_desc;
    d->backend = "webgpu";   // the browser does not say which API is under it
    d->adapter_type = js_device_feature(FEAT_IS_FALLBACK) ? "cpu" : "unknown";
    d->vendor_id = (uint32_t)js_device_limit(LIM_VENDOR_ID);
    d->device_id = (uint32_t)js_device_limit(LIM_DEVICE_ID);
    d->shader_f16 = js_device_feature(FEAT_SHADER_F16);
    d->subgroups = js_device_feature(FEAT_SUBGROUPS);
    d->timestamp_query = js_device_feature(FEAT_TIMESTAMP_QUERY);
    d->subgroup_min_size = (uint32_t)js_device_limit(LIM_SUBGROUP_MIN);
    d->subgroup_max_size = (uint32_t)js_device_limit(LIM_SUBGROUP_MAX);
    d->max_buffer_size = (uint64_t)js_device_limit(LIM_MAX_BUFFER_SIZE);
    d->max_storage_buffer_binding_size = (uint64_t)js_device_limit(LIM_MAX_STORAGE_BINDING);
    d->max_uniform_buffer_binding_size = (uint64_t)js_device_limit(LIM_MAX_UNIFORM_BINDING);
    d->max_storage_buffers_per_stage = (uint32_t)js_device_limit(LIM_MAX_STORAGE_BUFFERS);
    d->max_compute_workgroup_storage_size = (uint32_t)js_device_limit(LIM_MAX_WG_STORAGE);
    d->max_compute_invocations_per_workgroup = (uint32_t)js_device_limit(LIM_MAX_INVOCATIONS);
    d->max_compute_workgroup_size_x = (uint32_t)js_device_limit(LIM_MAX_WG_X);
    d->max_compute_workgroup_size_y = (uint32_t)js_device_limit(LIM_MAX_WG_Y);
    d->max_compute_workgroup_size_z = (uint32_t)js_device_limit(LIM_MAX_WG_Z);
    d->max_compute_workgroups_per_dimension = (uint32_t)js_device_limit(LIM_MAX_WG_PER_DIM);
    d->min_storage_buffer_offset_alignment = (uint32_t)js_device_limit(LIM_MIN_STORAGE_ALIGN);
    d->min_uniform_buffer_offset_alignment = (uint32_t)js_device_limit(LIM_MIN_UNIFORM_ALIGN);
    caps_apply(g);
}

wgml_status wgml_gpu_create(const wgml_gpu_options *opt, wgml_gpu **out, char *err,
                            size_t err_size)
{
    static const wgml_gpu_options defaults = {0};
    if (!opt) opt = &defaults;
    *out = NULL;
    wgml_gpu *g = calloc(1, sizeof *g);
    if (!g) {
        if (err) snprintf(err, err_size, "out of host memory");
        return WGML_ERR_OUT_OF_MEMORY;
    }
    uint32_t flags = (opt->power == WGML_POWER_LOW ? DEVICE_POWER_LOW : 0) |
                     (opt->power == WGML_POWER_HIGH ? DEVICE_POWER_HIGH : 0) |
                     (opt->disable_f16 ? DEVICE_NO_F16 : 0) |
                     (opt->disable_subgroups ? DEVICE_NO_SUBGROUPS : 0) |
                     (opt->disable_timestamps ? DEVICE_NO_TIMESTAMPS : 0);
    int st = js_device_request(flags);
    if (st) {
        fail_js(g, st, "requesting a WebGPU device");
        if (err) snprintf(err, err_size, "%s", g->err);
        free(g);
        return (wgml_status)st;
    }
    fill_info(g);
    g->info.packed_dot4 = wgml_gpu_probe_packed_dot4(g);
    g->info.bounds_checks = true;   // browsers always keep them
    if (g->info.subgroups && !g->info.subgroup_min_size)
        g->info.subgroup_min_size = g->info.subgroup_max_size = wgml_gpu_probe_subgroup_size(g);
    *out = g;
    return WGML_OK;
}

// ================================================================ buffers

wgml_status wgml_gpu_buf_create(wgml_gpu *g, uint64_t size, const char *label,
                                wgml_gpu_buf **out)
{
    *out = NULL;
    wgml_status st = check_alive(g);
    if (st) return st;
    uint64_t cap;
    if ((st = wgml_gpu_buf_capacity(g, size, label, &cap))) return st;
    for (wgml_gpu_buf **p = &g->pool; *p; p = &(*p)->next) {
        if ((*p)->capacity == cap) {
            wgml_gpu_buf *b = *p;
            *p = b->next;
            b->next = NULL;
            b->size = size;
            *out = b;
            return WGML_OK;
        }
    }
    wgml_gpu_buf *b = calloc(1, sizeof *b);
    if (!b) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    const char *l = label ? label : "wgml.buffer";
    js_scopes_push();
    b->h = js_buffer_create((double)cap, BUFFER_STORAGE, l, (uint32_t)strlen(l));
    char what[160];
    snprintf(what, sizeof what, "creating buffer '%s' (%llu bytes)", label ? label : "",
             (unsigned long long)cap);
    st = scopes_pop(g, what);
    if (st || !b->h) {
        if (b->h) js_buffer_destroy(b->h);
        free(b);
        return st ? st : wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "%s failed", what);
    }
    b->size = size;
    b->capacity = cap;
    g->pool_bytes += cap;
    g->n_buffers_created++;
    b->all_next = g->all;
    if (g->all) g->all->all_prev = b;
    g->all = b;
    *out = b;
    return WGML_OK;
}

void wgml_gpu_buf_release(wgml_gpu *g, wgml_gpu_buf *b)
{
    if (!b) return;
    b->next = g->pool;
    g->pool = b;
}

uint64_t wgml_gpu_buf_size(const wgml_gpu_buf *b) { return b->size; }
uint64_t wgml_gpu_pool_bytes(const wgml_gpu *g) { return g->pool_bytes; }

static void buf_destroy(wgml_gpu *g, wgml_gpu_buf *b)
{
    if (b->all_prev) b->all_prev->all_next = b->all_next;
    else g->all = b->all_next;
    if (b->all_next) b->all_next->all_prev = b->all_prev;
    g->pool_bytes -= b->capacity;
    js_buffer_destroy(b->h);
    free(b);
}

void wgml_gpu_pool_trim(wgml_gpu *g)
{
    // A released buffer may still be used by the run being recorded.
    if (g->recording) wgml_gpu_submit(g, NULL);
    while (g->pool) {
        wgml_gpu_buf *b = g->pool;
        g->pool = b->next;
        buf_destroy(g, b);
    }
}

wgml_status wgml_gpu_buf_write(wgml_gpu *g, wgml_gpu_buf *b, uint64_t offset, const void *data,
                               uint64_t size)
{
    wgml_status st = check_alive(g);
    if (st || (st = wgml_gpu_range_check(g, "buffer write", offset, size, b->capacity)))
        return st;
    if (size) js_buffer_write(b->h, (double)offset, data, (double)size);
    return WGML_OK;
}

wgml_status wgml_gpu_buf_read(wgml_gpu *g, wgml_gpu_buf *b, uint64_t offset, void *dst,
                              uint64_t size)
{
    wgml_status st = check_alive(g);
    if (st || (st = wgml_gpu_range_check(g, "buffer read", offset, size, b->capacity)))
        return st;
    if (size == 0) return WGML_OK;
    if (g->recording && (st = wgml_gpu_submit(g, NULL))) return st;
    int js = js_buffer_read(b->h, (double)offset, dst, (double)size);
    if ((st = check_alive(g))) return st;
    return js ? fail_js(g, js, "reading a buffer back") : WGML_OK;
}

// ================================================================ readbacks

// No staging of its own here: the read happens when asked, after all
// submitted work (gpu.h says what callers may rely on).
struct wgml_gpu_readback {
    uint64_t capacity;
    wgml_gpu_buf *src;
    uint64_t offset, size;
    bool recorded;
};

wgml_status wgml_gpu_readback_create(wgml_gpu *g, uint64_t capacity, wgml_gpu_readback **out)
{
    *out = NULL;
    wgml_status st = check_alive(g);
    if (st) return st;
    if (capacity == 0 || capacity % 4 || capacity > g->info.max_buffer_size)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "readback: a capacity of %llu bytes is empty, not a multiple of 4 "
                             "or above the device's largest buffer",
                             (unsigned long long)capacity);
    wgml_gpu_readback *rb = calloc(1, sizeof *rb);
    if (!rb) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    rb->capacity = capacity;
    *out = rb;
    return WGML_OK;
}

void wgml_gpu_readback_free(wgml_gpu *g, wgml_gpu_readback *rb)
{
    (void)g;
    free(rb);
}

wgml_status wgml_gpu_readback_record(wgml_gpu *g, wgml_gpu_readback *rb, wgml_gpu_buf *buf,
                                     uint64_t offset, uint64_t size)
{
    wgml_status st = check_alive(g);
    if (st) return st;
    if (!rb || !buf) return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "readback: NULL argument");
    if (size == 0 || size > rb->capacity)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "readback: %llu bytes for a readback of %llu",
                             (unsigned long long)size, (unsigned long long)rb->capacity);
    if ((st = wgml_gpu_range_check(g, "readback", offset, size, buf->capacity))) return st;
    if (!g->recording && (st = wgml_gpu_begin(g, false))) return st;
    *rb = (wgml_gpu_readback){.capacity = rb->capacity, .src = buf, .offset = offset,
                              .size = size, .recorded = true};
    return WGML_OK;
}

wgml_status wgml_gpu_readback_read(wgml_gpu *g, wgml_gpu_readback *rb, void *dst)
{
    if (!rb || !dst) return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "readback: NULL argument");
    if (!rb->recorded)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "readback: no copy was recorded and submitted");
    rb->recorded = false;
    return wgml_gpu_buf_read(g, rb->src, rb->offset, dst, rb->size);
}

// ================================================================ profiling

// Not yet here: it needs a timestamped pass per dispatch from wgml.js.
wgml_status wgml_gpu_profile_start(wgml_gpu *g, uint32_t max_dispatches)
{
    (void)max_dispatches;
    return wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED, "profiling is not in the browser build yet");
}

void wgml_gpu_profile_stop(wgml_gpu *g) { (void)g; }

wgml_status wgml_gpu_profile_read(wgml_gpu *g, const wgml_gpu_profile_entry **entries,
                                  uint32_t *n)
{
    *entries = NULL;
    *n = 0;
    return wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED, "profiling is not in the browser build yet");
}

// ================================================================ pipelines

static wgml_gpu_pipeline *cache_find(wgml_gpu *g, const char *key, uint64_t h)
{
    for (wgml_gpu_pipeline *p = g->pipelines; p; p = p->next)
        if (p->hash == h && strcmp(p->key, key) == 0) return p;
    return NULL;
}

// What one kernel needs on its way to JS; the strings live until the call returns.
typedef struct kernel_build {
    char key[512];
    uint64_t hash;
    char *code;
    js_constant consts[WGML_GPU_MAX_CONSTANTS];
} kernel_build;

wgml_status wgml_gpu_pipelines_get(wgml_gpu *g, const wgml_gpu_kernel *ks, size_t n,
                                   wgml_gpu_pipeline **out)
{
    wgml_status st = check_alive(g);
    if (st) return st;
    kernel_build *kb = calloc(n ? n : 1, sizeof *kb);
    js_kernel *jk = calloc(n ? n : 1, sizeof *jk);
    js_handle *handles = calloc(n ? n : 1, sizeof *handles);
    uint32_t *index = calloc(n ? n : 1, sizeof *index);   // jk slot -> kernel
    if (!kb || !jk || !handles || !index) {
        st = wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    uint32_t m = 0;   // kernels to compile
    for (size_t i = 0; i < n; i++) {
        const wgml_gpu_kernel *k = &ks[i];
        out[i] = NULL;
        wgml_gpu_pipeline_key(k, kb[i].key, sizeof kb[i].key);
        kb[i].hash = wgml_gpu_fnv1a(WGML_GPU_FNV_SEED, kb[i].key, strlen(kb[i].key));
        if ((out[i] = cache_find(g, kb[i].key, kb[i].hash))) continue;
        // The same kernel twice in one batch compiles once.
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = kb[j].hash == kb[i].hash && !strcmp(kb[j].key, kb[i].key);
        if (dup) continue;
        if (k->n_constants > WGML_GPU_MAX_CONSTANTS) {
            st = wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "too many override constants");
            goto done;
        }
        const char *text = wgml_gpu_kernel_text(g, k);
        if (!text) {
            st = WGML_ERR_INVALID_ARGUMENT;
            goto done;
        }
        if (!(kb[i].code = wgml_gpu_source_compose(k->prelude, text, false))) {
            st = wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
            goto done;
        }
        for (size_t c = 0; c < k->n_constants; c++)
            kb[i].consts[c] = (js_constant){k->constants[c].name,
                                            (uint32_t)strlen(k->constants[c].name),
                                            k->constants[c].value};
        const char *entry = k->entry ? k->entry : "main";
        const char *label = k->family ? k->family : "wgml.inline";
        jk[m] = (js_kernel){kb[i].code, (uint32_t)strlen(kb[i].code), entry,
                            (uint32_t)strlen(entry), label, (uint32_t)strlen(label),
                            kb[i].consts, (uint32_t)k->n_constants};
        index[m++] = (uint32_t)i;
    }
    if (m) {
        uint32_t failed = 0;
        int js = js_pipelines_create(m, jk, handles, &failed);
        if ((st = check_alive(g))) goto release;
        if (js) {
            char what[256];
            wgml_gpu_kernel_what(&ks[index[failed < m ? failed : 0]], what, sizeof what);
            char msg[4096];
            uint32_t len = js_message(msg, sizeof msg - 1);
            msg[len < sizeof msg ? len : sizeof msg - 1] = 0;
            // The compiler's own lines (line:column: error: ...) after the kernel's name.
            st = wgml_gpu_fail(g, js == WGML_ERR_OUT_OF_MEMORY ? WGML_ERR_OUT_OF_MEMORY : WGML_ERR_GPU,
                               "%s:\n%s", what, msg);
            goto release;
        }
        for (uint32_t j = 0; j < m; j++) {
            wgml_gpu_pipeline *p = calloc(1, sizeof *p);
            if (!p) {
                st = wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
                goto release;
            }
            size_t i = index[j];
            p->h = handles[j];
            handles[j] = 0;
            p->hash = kb[i].hash;
            snprintf(p->key, sizeof p->key, "%s", kb[i].key);
            p->next = g->pipelines;
            g->pipelines = p;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!out[i]) out[i] = cache_find(g, kb[i].key, kb[i].hash);
    goto done;
release:
    for (uint32_t j = 0; j < m; j++)
        if (handles[j]) js_pipeline_release(handles[j]);
done:
    for (size_t i = 0; kb && i < n; i++) free(kb[i].code);
    free(kb);
    free(jk);
    free(handles);
    free(index);
    return st;
}

wgml_gpu_memo **wgml_gpu_memo_slot(wgml_gpu *g) { return &g->memo; }

wgml_status wgml_gpu_pipeline_get(wgml_gpu *g, const wgml_gpu_kernel *k, wgml_gpu_pipeline **out)
{
    return wgml_gpu_pipelines_get(g, k, 1, out);
}

// ================================================================ recording

wgml_status wgml_gpu_begin(wgml_gpu *g, bool timed)
{
    wgml_status st = check_alive(g);
    if (st) return st;
    if (g->recording)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "a run is already being recorded; submit it first");
    g->timed = timed && g->info.timestamp_query;
    js_encoder_begin(g->timed);   // pushes the run's error scopes
    g->recording = true;
    g->n_dispatches = 0;
    return WGML_OK;
}

// Room for `size` bytes of parameters in the uniform arena.
static wgml_status arena_alloc(wgml_gpu *g, size_t size, arena_chunk **chunk, uint32_t *offset)
{
    uint32_t align = g->info.min_uniform_buffer_offset_alignment;
    if (align < 16) align = 16;
    if (size > WGML_GPU_ARENA_CHUNK_BYTES || size > g->info.max_uniform_buffer_binding_size)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "kernel parameters too large");
    for (;;) {
        if (g->arena_active < g->n_arena) {
            arena_chunk *c = &g->arena[g->arena_active];
            uint32_t off = (c->used + align - 1) / align * align;
            if (off + size <= WGML_GPU_ARENA_CHUNK_BYTES) {
                c->used = off + (uint32_t)size;
                *chunk = c;
                *offset = off;
                return WGML_OK;
            }
            g->arena_active++;
            continue;
        }
        if (g->n_arena == g->cap_arena) {
            size_t cap = g->cap_arena ? g->cap_arena * 2 : 4;
            arena_chunk *a = realloc(g->arena, cap * sizeof *a);
            if (!a) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
            g->arena = a;
            g->cap_arena = cap;
        }
        arena_chunk *c = &g->arena[g->n_arena];
        memset(c, 0, sizeof *c);
        c->shadow = malloc(WGML_GPU_ARENA_CHUNK_BYTES);
        if (!c->shadow) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        static const char label[] = "wgml.uniform_arena";
        c->buffer = js_buffer_create(WGML_GPU_ARENA_CHUNK_BYTES, BUFFER_UNIFORM, label,
                                     sizeof label - 1);
        if (!c->buffer) {
            free(c->shadow);
            return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "creating the uniform arena failed");
        }
        g->n_arena++;
    }
}

static wgml_status keep_bind_group(wgml_gpu *g, js_handle bg)
{
    if (g->n_groups == g->cap_groups) {
        size_t cap = g->cap_groups ? g->cap_groups * 2 : 64;
        js_handle *a = realloc(g->groups, cap * sizeof *a);
        if (!a) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        g->groups = a;
        g->cap_groups = cap;
    }
    g->groups[g->n_groups++] = bg;
    return WGML_OK;
}

static wgml_status storage_entries(wgml_gpu *g, const wgml_gpu_binding *bindings,
                                   size_t n_bindings, js_entry *entries, size_t *n)
{
    wgml_status st = wgml_gpu_bindings_count_check(g, n_bindings);
    if (st) return st;
    *n = 0;
    for (size_t i = 0; i < n_bindings; i++) {
        const wgml_gpu_binding *b = &bindings[i];
        uint64_t size;
        uint32_t slot;
        if ((st = wgml_gpu_binding_check(g, i, b, b->buf ? b->buf->capacity : 0, &size, &slot)))
            return st;
        entries[(*n)++] = (js_entry){slot, b->buf->h, (double)b->offset, (double)size};
    }
    return WGML_OK;
}

static void record(wgml_gpu *g, wgml_gpu_pipeline *p, js_handle bg, uint32_t gx, uint32_t gy,
                   uint32_t gz)
{
    js_encoder_dispatch(p->h, bg, gx, gy, gz);
    g->n_dispatches++;
}

wgml_status wgml_gpu_dispatch(wgml_gpu *g, wgml_gpu_pipeline *p, const void *params,
                              size_t params_size, const wgml_gpu_binding *bindings,
                              size_t n_bindings, uint32_t gx, uint32_t gy, uint32_t gz)
{
    wgml_status st = check_alive(g);
    if (st || (st = wgml_gpu_grid_check(g, gx, gy, gz))) return st;
    js_entry entries[WGML_GPU_MAX_BINDINGS];
    size_t n = 0;
    if ((st = storage_entries(g, bindings, n_bindings, entries, &n))) return st;
    if (!g->recording && (st = wgml_gpu_begin(g, false))) return st;
    if (params && params_size) {
        arena_chunk *c = NULL;
        uint32_t off = 0;
        if ((st = arena_alloc(g, params_size, &c, &off))) return st;
        memcpy(c->shadow + off, params, params_size);
        size_t bound = (params_size + 15) & ~(size_t)15;   // uniform structs round to 16
        memset(c->shadow + off + params_size, 0, bound - params_size);
        if (off + bound > c->used) c->used = off + (uint32_t)bound;
        entries[n++] = (js_entry){0, c->buffer, off, (double)bound};
    }
    js_handle bg = js_bind_group_create(p->h, (uint32_t)n, entries);
    g->n_bind_groups++;
    if ((st = keep_bind_group(g, bg))) {
        js_bind_group_release(bg);
        return st;
    }
    record(g, p, bg, gx, gy, gz);
    return WGML_OK;
}

wgml_status wgml_gpu_group_create(wgml_gpu *g, wgml_gpu_pipeline *p, const void *params,
                                  size_t params_size, const wgml_gpu_binding *bindings,
                                  size_t n_bindings, wgml_gpu_group **out)
{
    *out = NULL;
    wgml_status st = check_alive(g);
    if (st) return st;
    if (params_size > WGML_GPU_GROUP_PARAMS_MAX)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "group parameters above 256 bytes");
    js_entry entries[WGML_GPU_MAX_BINDINGS];
    size_t n = 0;
    if ((st = storage_entries(g, bindings, n_bindings, entries, &n))) return st;
    wgml_gpu_group *grp = calloc(1, sizeof *grp);
    if (!grp) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    js_scopes_push();
    if (params && params_size) {
        size_t bound = (params_size + 15) & ~(size_t)15;
        static const char label[] = "wgml.group_params";
        grp->params = js_buffer_create((double)bound, BUFFER_UNIFORM, label, sizeof label - 1);
        uint8_t padded[WGML_GPU_GROUP_PARAMS_MAX] = {0};
        memcpy(padded, params, params_size);
        if (grp->params) js_buffer_write(grp->params, 0, padded, (double)bound);
        entries[n++] = (js_entry){0, grp->params, 0, (double)bound};
    }
    grp->bind_group = js_bind_group_create(p->h, (uint32_t)n, entries);
    grp->pipeline = p;
    st = scopes_pop(g, "creating a bind group");
    if (st || !grp->bind_group || (params && params_size && !grp->params)) {
        wgml_gpu_group_free(g, grp);
        return st ? st : wgml_gpu_fail(g, WGML_ERR_GPU, "creating a bind group failed");
    }
    *out = grp;
    return WGML_OK;
}

wgml_status wgml_gpu_dispatch_group(wgml_gpu *g, wgml_gpu_group *grp, uint32_t gx, uint32_t gy,
                                    uint32_t gz)
{
    wgml_status st = check_alive(g);
    if (st || (st = wgml_gpu_grid_check(g, gx, gy, gz))) return st;
    if (!g->recording && (st = wgml_gpu_begin(g, false))) return st;
    record(g, grp->pipeline, grp->bind_group, gx, gy, gz);
    return WGML_OK;
}

void wgml_gpu_group_free(wgml_gpu *g, wgml_gpu_group *grp)
{
    (void)g;
    if (!grp) return;
    if (grp->bind_group) js_bind_group_release(grp->bind_group);
    if (grp->params) js_buffer_destroy(grp->params);
    free(grp);
}

uint64_t wgml_gpu_submit_count(const wgml_gpu *g) { return g->n_submits; }
uint32_t wgml_gpu_pending_dispatches(const wgml_gpu *g) { return g->n_dispatches; }

static void release_run_objects(wgml_gpu *g)
{
    for (size_t i = 0; i < g->n_groups; i++) js_bind_group_release(g->groups[i]);
    g->n_groups = 0;
    for (size_t i = 0; i < g->n_arena; i++) g->arena[i].used = 0;
    g->arena_active = 0;
    g->recording = false;
    g->n_dispatches = 0;
}

wgml_status wgml_gpu_submit(wgml_gpu *g, double *gpu_ns)
{
    if (gpu_ns) *gpu_ns = -1;
    if (!g->recording) return check_alive(g);
    bool timed = g->timed;
    // Everything recorded is validated before the submit (as natively): an
    // invalid command buffer is dropped, never submitted.
    int js = js_encoder_finish();
    wgml_status st = check_alive(g);
    if (!st && js) st = fail_js(g, js, "recording a run");
    if (!st) {
        char msg[2048];
        if (js_uncaptured_error(msg, sizeof msg - 1)) {
            msg[sizeof msg - 1] = 0;
            st = wgml_gpu_fail(g, WGML_ERR_GPU, "uncaptured GPU error: %s", msg);
        }
    }
    if (!st) {
        // The arena's bytes go to the queue before the commands that read them.
        for (size_t i = 0; i < g->n_arena; i++)
            if (g->arena[i].used)
                js_buffer_write(g->arena[i].buffer, 0, g->arena[i].shadow,
                                (double)((g->arena[i].used + 3) & ~3u));
        js_queue_submit();
        g->n_submits++;
        if (g->lose_after_submits && --g->lose_after_submits == 0) wgml_gpu_debug_lose_device(g);
    } else {
        js_encoder_discard();
    }
    release_run_objects(g);
    if (st) return st;
    if (timed && gpu_ns) {
        double ns = -1;
        if ((js = js_timestamps_read(&ns))) return fail_js(g, js, "reading timestamps");
        *gpu_ns = ns;
    }
    return WGML_OK;
}

wgml_status wgml_gpu_wait(wgml_gpu *g)
{
    wgml_status st = check_alive(g);
    if (st) return st;
    if (g->recording && (st = wgml_gpu_submit(g, NULL))) return st;
    int js = js_queue_wait();
    if ((st = check_alive(g))) return st;
    return js ? fail_js(g, js, "waiting for submitted work") : WGML_OK;
}

// ================================================================ device loss

// A loss is reported (every call returns WGML_ERR_DEVICE_LOST) as natively.
// Recovery in place is not implemented in the browser build yet: it would
// need the native layer's recipes for pipelines and bind groups, and a new
// device request from JS; wgml_gpu_recover says so.
uint64_t wgml_gpu_buffers_created(const wgml_gpu *g) { return g->n_buffers_created; }
uint64_t wgml_gpu_bind_groups_made(const wgml_gpu *g) { return g->n_bind_groups; }
bool wgml_gpu_lost(const wgml_gpu *g) { return g->lost; }
size_t wgml_gpu_restore_hook_count(const wgml_gpu *g) { return g->n_hooks; }

wgml_status wgml_gpu_restore_hook_add(wgml_gpu *g, wgml_gpu_restore_fn fn, void *user)
{
    if (!fn) return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "restore hook: no function");
    if (g->n_hooks == g->cap_hooks) {
        size_t cap = g->cap_hooks ? 2 * g->cap_hooks : 4;
        void *h = realloc(g->hooks, cap * sizeof *g->hooks);
        if (!h) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        g->hooks = h;
        g->cap_hooks = cap;
    }
    g->hooks[g->n_hooks].fn = fn;
    g->hooks[g->n_hooks++].user = user;
    return WGML_OK;
}

void wgml_gpu_restore_hook_remove(wgml_gpu *g, wgml_gpu_restore_fn fn, void *user)
{
    for (size_t i = 0; i < g->n_hooks; i++) {
        if (g->hooks[i].fn == fn && g->hooks[i].user == user) {
            memmove(&g->hooks[i], &g->hooks[i + 1], (g->n_hooks - i - 1) * sizeof *g->hooks);
            g->n_hooks--;
            return;
        }
    }
}

wgml_status wgml_gpu_recover(wgml_gpu *g)
{
    if (!g->lost && !check_alive(g)) return WGML_OK;
    return wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED, "device recovery is not implemented in the "
                         "browser build yet (the device was lost: %s); create a new context",
                         g->lost_message);
}

void wgml_gpu_debug_lose_device(wgml_gpu *g)
{
    if (g->lost) return;
    js_device_destroy();
    // The browser reports the loss through a promise, later; record it now.
    g->lost = true;
    snprintf(g->lost_message, sizeof g->lost_message, "destroyed by wgml_gpu_debug_lose_device");
}

void wgml_gpu_debug_lose_after_submits(wgml_gpu *g, uint32_t n) { g->lose_after_submits = n; }

void wgml_gpu_debug_cap_limits(wgml_gpu *g, uint64_t max_buffer_size,
                               uint64_t max_storage_binding_size)
{
    g->cap_buffer = max_buffer_size;
    g->cap_binding = max_storage_binding_size;
    caps_apply(g);
}

void wgml_gpu_debug_cap_memory(wgml_gpu *g, uint64_t bytes)
{
    g->cap_memory = bytes;
    caps_apply(g);
}

// ================================================================ teardown

void wgml_gpu_free(wgml_gpu *g)
{
    if (!g) return;
    wgml_gpu_memo_free(g->memo);
    g->memo = NULL;
    if (g->attachment && g->attachment_free) g->attachment_free(g->attachment);
    if (g->recording) js_encoder_discard();
    for (size_t i = 0; i < g->n_groups; i++) js_bind_group_release(g->groups[i]);
    free(g->groups);
    while (g->pipelines) {
        wgml_gpu_pipeline *p = g->pipelines;
        g->pipelines = p->next;
        js_pipeline_release(p->h);
        free(p);
    }
    while (g->all) buf_destroy(g, g->all);   // pooled and still-held buffers
    g->pool = NULL;
    for (size_t i = 0; i < g->n_arena; i++) {
        js_buffer_destroy(g->arena[i].buffer);
        free(g->arena[i].shadow);
    }
    free(g->arena);
    free(g->hooks);
    js_device_destroy();   // staging and timestamp objects go with it
    free(g);
}
