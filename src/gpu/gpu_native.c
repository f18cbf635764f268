/*
 * The GPU layer over the C webgpu.h, for Dawn and wgpu-native.
 *
 * Each implementation is built against the webgpu.h that ships with its own
 * library (enum values differ between them). The few places where the two
 * differ are marked WGML_DAWN / WGML_WGPU_NATIVE.
 *
 * Waiting: every asynchronous call goes through wait_future(). On Dawn that is
 * wgpuInstanceWaitAny with callbacks in WaitAnyOnly mode. wgpu-native has no
 * timed WaitAny, so there callbacks run in AllowProcessEvents mode and we block
 * in wgpuDevicePoll(wait=true) between wgpuInstanceProcessEvents calls.
 */
#include "gpu/gpu.h"
#include "gpu/gpu_common.h"
#include "gpu/gpu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(WGML_WGPU_NATIVE)
#include <webgpu/wgpu.h>
#define WGML_IMPL_NAME "wgpu-native"
#define CALLBACK_MODE WGPUCallbackMode_AllowProcessEvents
// wgpu-native exposes WGSL subgroups as a native feature, not the standard one.
#define FEATURE_SUBGROUPS ((WGPUFeatureName)WGPUNativeFeature_Subgroup)
#elif defined(WGML_DAWN)
#define WGML_IMPL_NAME "dawn"
#define CALLBACK_MODE WGPUCallbackMode_WaitAnyOnly
#define FEATURE_SUBGROUPS WGPUFeatureName_Subgroups
#else
#error "define WGML_DAWN or WGML_WGPU_NATIVE"
#endif

enum {
    ARENA_CHUNK_BYTES = WGML_GPU_ARENA_CHUNK_BYTES,
    MAX_BINDINGS = WGML_GPU_MAX_BINDINGS,
    TIMESTAMP_RESOLVE_BYTES = 256, // resolve offsets must be 256-aligned
};

#if defined(WGML_WGPU_NATIVE)
static const bool DROP_SUBGROUPS_DIRECTIVE = true;   // naga rejects it
#else
static const bool DROP_SUBGROUPS_DIRECTIVE = false;
#endif

// ================================================================ utilities

static WGPUStringView sv(const char *s)
{
    return (WGPUStringView){.data = s, .length = s ? strlen(s) : 0};
}

static void sv_copy(char *dst, size_t cap, WGPUStringView v)
{
    size_t n = v.data ? (v.length == WGPU_STRLEN ? strlen(v.data) : v.length) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, v.data, n);
    dst[n] = 0;
}


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

// The one way to wait. `done` is set by the callback that `f` belongs to.
static wgml_status wait_future(wgml_gpu *g, WGPUFuture f, const volatile bool *done,
                               const char *what)
{
#if defined(WGML_WGPU_NATIVE)
    (void)f;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!*done) {
        if (g->device) wgpuDevicePoll(g->device, true, NULL);
        wgpuInstanceProcessEvents(g->instance);
        if (*done) break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 300)
            return wgml_gpu_fail(g, WGML_ERR_GPU, "timed out waiting for %s", what);
        if (!g->device) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return WGML_OK;
#else
    WGPUFutureWaitInfo info = {.future = f};
    WGPUWaitStatus s = wgpuInstanceWaitAny(g->instance, 1, &info, UINT64_MAX);
    if (s != WGPUWaitStatus_Success || !*done)
        return wgml_gpu_fail(g, WGML_ERR_GPU, "waiting for %s failed (wait status %d)",
                             what, (int)s);
    return WGML_OK;
#endif
}

// A status to return when the device is gone; checked at every entry point
// that touches the GPU so that no call returns zeros or garbage after a loss.
static wgml_status check_alive(wgml_gpu *g)
{
    if (g->lost)
        return wgml_gpu_fail(g, WGML_ERR_DEVICE_LOST, "device lost: %s", g->lost_message);
    return WGML_OK;
}

wgml_status wgml_gpu_check_alive(wgml_gpu *g) { return check_alive(g); }

// ================================================================ error scopes

typedef struct scope_result {
    bool done;
    WGPUErrorType type;
    char message[4096];
} scope_result;

static void on_pop_scope(WGPUPopErrorScopeStatus status, WGPUErrorType type,
                         WGPUStringView message, void *u1, void *u2)
{
    (void)u2;
    scope_result *r = u1;
    r->type = status == WGPUPopErrorScopeStatus_Success ? type : WGPUErrorType_Unknown;
    sv_copy(r->message, sizeof r->message, message);
    if (status != WGPUPopErrorScopeStatus_Success && !r->message[0])
        snprintf(r->message, sizeof r->message, "error scope could not be popped");
    r->done = true;
}

// The error filters every guarded operation pushes, outermost first.
// wgpu-native panics on the Internal filter, so it watches two.
static const WGPUErrorFilter SCOPE_FILTERS[] = {
    WGPUErrorFilter_OutOfMemory,
    WGPUErrorFilter_Validation,
#if defined(WGML_DAWN)
    WGPUErrorFilter_Internal,
#endif
};
enum { N_SCOPES = sizeof SCOPE_FILTERS / sizeof SCOPE_FILTERS[0] };

static void scopes_push(wgml_gpu *g)
{
    for (int i = 0; i < N_SCOPES; i++) wgpuDevicePushErrorScope(g->device, SCOPE_FILTERS[i]);
}

// Pops the scopes pushed by scopes_push and turns the first error into a
// status: out-of-memory as WGML_ERR_OUT_OF_MEMORY, anything else as
// WGML_ERR_GPU. `what` names the operation for the message.
static wgml_status scopes_pop(wgml_gpu *g, const char *what)
{
    scope_result r[N_SCOPES];
    memset(r, 0, sizeof r);
    for (int i = N_SCOPES - 1; i >= 0; i--) {   // innermost first
        WGPUPopErrorScopeCallbackInfo cb = {
            .mode = CALLBACK_MODE, .callback = on_pop_scope, .userdata1 = &r[i]};
        WGPUFuture f = wgpuDevicePopErrorScope(g->device, cb);
        wgml_status st = wait_future(g, f, &r[i].done, "an error scope");
        if (st) return st;
    }
    wgml_status st = check_alive(g);
    if (st) return st;
    for (int i = 0; i < N_SCOPES; i++) {
        if (r[i].type == WGPUErrorType_NoError) continue;
        // wgpu (wgpu-core's DeviceError::OutOfMemory) reports a failed device
        // allocation as a validation error, "Not enough memory left" (seen
        // with wgpu-native 0.32 on SwiftShader; ruffle-rs/ruffle's "wgpu-oom"
        // reports show the same from wgpu 0.19 on).
        if (r[i].type == WGPUErrorType_OutOfMemory ||
            strstr(r[i].message, "Not enough memory left"))
            return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "%s: out of GPU memory: %s",
                                 what, r[i].message);
        return wgml_gpu_fail(g, WGML_ERR_GPU, "%s: %s", what, r[i].message);
    }
    return WGML_OK;
}

void wgml_gpu_scopes_push(wgml_gpu *g) { scopes_push(g); }
wgml_status wgml_gpu_scopes_pop(wgml_gpu *g, const char *what) { return scopes_pop(g, what); }

// ================================================================ device

static void on_uncaptured_error(WGPUDevice const *device, WGPUErrorType type,
                                WGPUStringView message, void *u1, void *u2)
{
    (void)device;
    wgml_gpu *g = u1;
    if ((uintptr_t)u2 != g->generation) return;   // from a device lost before
    char msg[2048];
    sv_copy(msg, sizeof msg, message);
    g->uncaptured = true;
    snprintf(g->err, sizeof g->err, "uncaptured GPU error (type %d): %s", (int)type, msg);
}

static void on_device_lost(WGPUDevice const *device, WGPUDeviceLostReason reason,
                           WGPUStringView message, void *u1, void *u2)
{
    (void)device;
    wgml_gpu *g = u1;
    // Ignored while wgml_gpu_free destroys the device, and from a device
    // that an earlier loss replaced.
    if (!g || g->destroying || (uintptr_t)u2 != g->generation) return;
    g->lost = true;
    char msg[900];
    sv_copy(msg, sizeof msg, message);
    snprintf(g->lost_message, sizeof g->lost_message, "reason %d: %s", (int)reason, msg);
}

typedef struct adapter_result {
    bool done;
    WGPUAdapter adapter;
    char message[1024];
} adapter_result;

static void on_adapter(WGPURequestAdapterStatus status, WGPUAdapter adapter,
                       WGPUStringView message, void *u1, void *u2)
{
    (void)u2;
    adapter_result *r = u1;
    if (status == WGPURequestAdapterStatus_Success) r->adapter = adapter;
    sv_copy(r->message, sizeof r->message, message);
    r->done = true;
}

typedef struct device_result {
    bool done;
    WGPUDevice device;
    char message[1024];
} device_result;

static void on_device(WGPURequestDeviceStatus status, WGPUDevice device,
                      WGPUStringView message, void *u1, void *u2)
{
    (void)u2;
    device_result *r = u1;
    if (status == WGPURequestDeviceStatus_Success) r->device = device;
    sv_copy(r->message, sizeof r->message, message);
    r->done = true;
}

static const char *backend_name(WGPUBackendType b)
{
    switch (b) {
    case WGPUBackendType_Null: return "null";
    case WGPUBackendType_WebGPU: return "webgpu";
    case WGPUBackendType_D3D11: return "d3d11";
    case WGPUBackendType_D3D12: return "d3d12";
    case WGPUBackendType_Metal: return "metal";
    case WGPUBackendType_Vulkan: return "vulkan";
    case WGPUBackendType_OpenGL: return "opengl";
    case WGPUBackendType_OpenGLES: return "opengles";
    default: return "unknown";
    }
}

static const char *adapter_type_name(WGPUAdapterType t)
{
    switch (t) {
    case WGPUAdapterType_DiscreteGPU: return "discrete";
    case WGPUAdapterType_IntegratedGPU: return "integrated";
    case WGPUAdapterType_CPU: return "cpu";
    default: return "unknown";
    }
}

#if defined(WGML_DAWN)
static const char *component_name(WGPUSubgroupMatrixComponentType t)
{
    switch (t) {
    case WGPUSubgroupMatrixComponentType_F32: return "f32";
    case WGPUSubgroupMatrixComponentType_F16: return "f16";
    case WGPUSubgroupMatrixComponentType_U32: return "u32";
    case WGPUSubgroupMatrixComponentType_I32: return "i32";
    case WGPUSubgroupMatrixComponentType_U8: return "u8";
    case WGPUSubgroupMatrixComponentType_I8: return "i8";
    default: return "?";
    }
}

static void record_subgroup_matrix_configs(wgml_gpu *g,
                                           const WGPUAdapterPropertiesSubgroupMatrixConfigs *c)
{
    wgml_device_info *d = &g->info;
    d->n_subgroup_matrix_configs = 0;
    for (size_t i = 0; i < c->configCount && i < WGML_MAX_SUBGROUP_MATRIX_CONFIGS; i++) {
        const WGPUSubgroupMatrixConfig *s = &c->configs[i];
        d->subgroup_matrix_configs[d->n_subgroup_matrix_configs++] = (wgml_subgroup_matrix_config){
            component_name(s->componentType), component_name(s->resultComponentType),
            s->M, s->N, s->K};
    }
}
#endif

static void fill_info(wgml_gpu *g, const WGPUAdapterInfo *ai, const WGPULimits *lim)
{
    wgml_device_info *d = &g->info;
    sv_copy(g->s_vendor, sizeof g->s_vendor, ai->vendor);
    sv_copy(g->s_arch, sizeof g->s_arch, ai->architecture);
    sv_copy(g->s_device, sizeof g->s_device, ai->device);
    sv_copy(g->s_desc, sizeof g->s_desc, ai->description);
    d->implementation = WGML_IMPL_NAME;
    d->vendor = g->s_vendor;
    d->architecture = g->s_arch;
    d->device = g->s_device;
    d->description = g->s_desc;
    d->backend = backend_name(ai->backendType);
    d->adapter_type = adapter_type_name(ai->adapterType);
    d->vendor_id = ai->vendorID;
    d->device_id = ai->deviceID;
    d->subgroup_min_size = ai->subgroupMinSize;
    d->subgroup_max_size = ai->subgroupMaxSize;
    d->max_buffer_size = lim->maxBufferSize;
    d->max_storage_buffer_binding_size = lim->maxStorageBufferBindingSize;
    d->max_uniform_buffer_binding_size = lim->maxUniformBufferBindingSize;
    d->max_storage_buffers_per_stage = lim->maxStorageBuffersPerShaderStage;
    d->max_compute_workgroup_storage_size = lim->maxComputeWorkgroupStorageSize;
    d->max_compute_invocations_per_workgroup = lim->maxComputeInvocationsPerWorkgroup;
    d->max_compute_workgroup_size_x = lim->maxComputeWorkgroupSizeX;
    d->max_compute_workgroup_size_y = lim->maxComputeWorkgroupSizeY;
    d->max_compute_workgroup_size_z = lim->maxComputeWorkgroupSizeZ;
    d->max_compute_workgroups_per_dimension = lim->maxComputeWorkgroupsPerDimension;
    d->min_storage_buffer_offset_alignment = lim->minStorageBufferOffsetAlignment;
    d->min_uniform_buffer_offset_alignment = lim->minUniformBufferOffsetAlignment;
}

static wgml_status create_timestamp_objects(wgml_gpu *g)
{
    WGPUQuerySetDescriptor qd = {.label = sv("wgml.timestamps"),
                                 .type = WGPUQueryType_Timestamp, .count = 2};
    g->ts_queries = wgpuDeviceCreateQuerySet(g->device, &qd);
    WGPUBufferDescriptor rd = {.label = sv("wgml.timestamps.resolve"),
                               .usage = WGPUBufferUsage_QueryResolve | WGPUBufferUsage_CopySrc,
                               .size = TIMESTAMP_RESOLVE_BYTES};
    g->ts_resolve = wgpuDeviceCreateBuffer(g->device, &rd);
    WGPUBufferDescriptor md = {.label = sv("wgml.timestamps.readback"),
                               .usage = WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst,
                               .size = TIMESTAMP_RESOLVE_BYTES};
    g->ts_readback = wgpuDeviceCreateBuffer(g->device, &md);
    return WGML_OK;
}

wgml_status wgml_gpu_create(const wgml_gpu_options *opt, wgml_gpu **out,
                            char *err, size_t err_size)
{
    static const wgml_gpu_options defaults = {0};
    if (!opt) opt = &defaults;
    *out = NULL;
    wgml_gpu *g = calloc(1, sizeof *g);
    if (!g) {
        if (err) snprintf(err, err_size, "out of host memory");
        return WGML_ERR_OUT_OF_MEMORY;
    }
    g->opt = *opt;
    wgml_status st = wgml_gpu_device_open(g);
    if (!st) st = wgml_gpu_device_probe(g);
    if (st) {
        if (err) snprintf(err, err_size, "%s", g->err);
        wgml_gpu_free(g);
        return st;
    }
    *out = g;
    return WGML_OK;
}

#if defined(WGML_DAWN)
enum { DEV_TOGGLES_MAX = 8 };

static bool toggle_listed(const char **list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], name)) return true;
    return false;
}

// Splits a comma-separated toggle list (copied into buf) onto the enabled
// and disabled lists; a leading '-' disables, taking the name off the
// enabled list too. Names past the lists' room are ignored.
static void add_env_toggles(const char *list, char *buf, size_t size, const char **on,
                            size_t *n_on, const char **off, size_t *n_off)
{
    if (!list || !*list) return;
    snprintf(buf, size, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*t == '-' && t[1]) {
            size_t k = 0;
            for (size_t i = 0; i < *n_on; i++)
                if (strcmp(on[i], t + 1)) on[k++] = on[i];
            *n_on = k;
            if (*n_off < DEV_TOGGLES_MAX) off[(*n_off)++] = t + 1;
        } else if (*t != '-' && *n_on < DEV_TOGGLES_MAX) {
            on[(*n_on)++] = t;
        }
    }
}
#endif

wgml_status wgml_gpu_device_open(wgml_gpu *g)
{
    const wgml_gpu_options *opt = &g->opt;
    wgml_status st = WGML_OK;
#if defined(WGML_DAWN)
    // Experimental features (subgroup matrices) are listed by the adapter only
    // under the allow_unsafe_apis toggle; wgml asks for them by name only.
    static const char *inst_toggles[] = {"allow_unsafe_apis"};
    WGPUDawnTogglesDescriptor itoggles = {
        .chain = {.sType = WGPUSType_DawnTogglesDescriptor},
        .enabledToggleCount = 1, .enabledToggles = inst_toggles};
    WGPUInstanceFeatureName inst_features[] = {WGPUInstanceFeatureName_TimedWaitAny};
    WGPUInstanceDescriptor idesc = {.nextInChain = &itoggles.chain,
                                    .requiredFeatureCount = 1,
                                    .requiredFeatures = inst_features};
#else
    WGPUInstanceDescriptor idesc = {0};
#endif
    if (!g->instance) g->instance = wgpuCreateInstance(&idesc);
    if (!g->instance) {
        st = wgml_gpu_fail(g, WGML_ERR_GPU, "could not create a WebGPU instance");
        goto fail;
    }

    adapter_result ar = {0};
    WGPURequestAdapterOptions aopt = {
        .powerPreference = opt->power == WGML_POWER_LOW    ? WGPUPowerPreference_LowPower
                           : opt->power == WGML_POWER_HIGH ? WGPUPowerPreference_HighPerformance
                                                           : WGPUPowerPreference_Undefined,
    };
#if defined(WGML_DAWN)
    // Dawn blocklists shader-f16 on NVIDIA's Vulkan driver for bugs in old
    // drivers (crbug.com/42251215); this adapter toggle lifts the blocklist.
    // The f16 op tests check the results on the device at hand.
    static const char *adapter_on[] = {"vulkan_enable_f16_on_nvidia"};
    WGPUDawnTogglesDescriptor atoggles = {
        .chain = {.sType = WGPUSType_DawnTogglesDescriptor},
        .enabledToggleCount = 1, .enabledToggles = adapter_on};
    if (!opt->disable_f16) aopt.nextInChain = &atoggles.chain;
#endif
    WGPURequestAdapterCallbackInfo acb = {.mode = CALLBACK_MODE, .callback = on_adapter,
                                          .userdata1 = &ar};
    st = wait_future(g, wgpuInstanceRequestAdapter(g->instance, &aopt, acb), &ar.done,
                     "the adapter");
    if (st) goto fail;
    if (!ar.adapter) {
        st = wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED, "no WebGPU adapter found%s%s",
                           ar.message[0] ? ": " : "", ar.message);
        goto fail;
    }
    g->adapter = ar.adapter;

    WGPUAdapterInfo ainfo = {0};
#if defined(WGML_DAWN)
    WGPUAdapterPropertiesSubgroupMatrixConfigs sgm_configs = {
        .chain = {.sType = WGPUSType_AdapterPropertiesSubgroupMatrixConfigs}};
    bool list_sgm = wgpuAdapterHasFeature(g->adapter,
                                          WGPUFeatureName_ChromiumExperimentalSubgroupMatrix);
    if (list_sgm) ainfo.nextInChain = &sgm_configs.chain;
    // The memory heaps, where the adapter tells them: the device's memory as
    // a whole, which models check their total against before uploading.
    WGPUAdapterPropertiesMemoryHeaps heaps = {
        .chain = {.sType = WGPUSType_AdapterPropertiesMemoryHeaps}};
    bool list_heaps = wgpuAdapterHasFeature(g->adapter,
                                            WGPUFeatureName_AdapterPropertiesMemoryHeaps);
    if (list_heaps) {
        heaps.chain.next = ainfo.nextInChain;
        ainfo.nextInChain = &heaps.chain;
    }
#endif
    wgpuAdapterGetInfo(g->adapter, &ainfo);
    uint64_t device_memory = 0;
#if defined(WGML_DAWN)
    if (list_sgm) {
        record_subgroup_matrix_configs(g, &sgm_configs);
        wgpuAdapterPropertiesSubgroupMatrixConfigsFreeMembers(sgm_configs);
    }
    if (list_heaps) {
        for (size_t i = 0; i < heaps.heapCount; i++)
            if (heaps.heapInfo[i].properties & WGPUHeapProperty_DeviceLocal)
                device_memory += heaps.heapInfo[i].size;
        wgpuAdapterPropertiesMemoryHeapsFreeMembers(heaps);
    }
#endif
    WGPULimits alim = {0};
    if (wgpuAdapterGetLimits(g->adapter, &alim) != WGPUStatus_Success) {
        st = wgml_gpu_fail(g, WGML_ERR_GPU, "could not read the adapter's limits");
        wgpuAdapterInfoFreeMembers(ainfo);
        goto fail;
    }

    // Ask for every optional feature wgml can use, and all adapter limits.
    WGPUFeatureName want[8];
    size_t nwant = 0;
    bool has_f16 = wgpuAdapterHasFeature(g->adapter, WGPUFeatureName_ShaderF16);
    bool has_sg = wgpuAdapterHasFeature(g->adapter, FEATURE_SUBGROUPS);
    bool has_ts = wgpuAdapterHasFeature(g->adapter, WGPUFeatureName_TimestampQuery);
    if (has_f16 && !opt->disable_f16) want[nwant++] = WGPUFeatureName_ShaderF16;
    if (has_sg && !opt->disable_subgroups) want[nwant++] = FEATURE_SUBGROUPS;
    if (has_ts && !opt->disable_timestamps) want[nwant++] = WGPUFeatureName_TimestampQuery;
#if defined(WGML_DAWN)
    bool has_sgm = wgpuAdapterHasFeature(g->adapter,
                                    WGPUFeatureName_ChromiumExperimentalSubgroupMatrix);
    if (has_sgm && !opt->disable_subgroups)
        want[nwant++] = WGPUFeatureName_ChromiumExperimentalSubgroupMatrix;
#endif

    device_result dr = {0};
    WGPUDeviceDescriptor ddesc = {
        .label = sv("wgml"),
        .requiredFeatureCount = nwant,
        .requiredFeatures = want,
        .requiredLimits = &alim,
        .deviceLostCallbackInfo = {.mode = WGPUCallbackMode_AllowSpontaneous,
                                   .callback = on_device_lost, .userdata1 = g,
                                   .userdata2 = (void *)(g->generation + 1)},
        .uncapturedErrorCallbackInfo = {.callback = on_uncaptured_error, .userdata1 = g,
                                        .userdata2 = (void *)(g->generation + 1)},
    };
#if defined(WGML_DAWN)
    // Full-resolution timestamps: benchmarks need them, and quantisation is a
    // browser's defence that a native runtime does not need.
    // Robustness (Tint clamping every buffer index) off unless asked for:
    // wgml's kernels check their own bounds, and the clamps made the subgroup
    // matrix GEMM 1.9x slower on an H100 (bench/results/2026-11-23-h100-
    // toggles); ONNX Runtime's and llama.cpp's WebGPU backends turn it off
    // too. WGML_DAWN_TOGGLES adds device toggles for experiments, comma-
    // separated, "-name" to turn one off.
    const char *dev_on[DEV_TOGGLES_MAX] = {"allow_unsafe_apis", "disable_robustness"};
    const char *dev_off[DEV_TOGGLES_MAX] = {"timestamp_quantization"};
    char extra[256];
    WGPUDawnTogglesDescriptor tdesc = {
        .chain = {.sType = WGPUSType_DawnTogglesDescriptor},
        .enabledToggleCount = opt->bounds_checks ? 1 : 2, .enabledToggles = dev_on,
        .disabledToggleCount = 1, .disabledToggles = dev_off};
    add_env_toggles(getenv("WGML_DAWN_TOGGLES"), extra, sizeof extra, dev_on,
                    &tdesc.enabledToggleCount, dev_off, &tdesc.disabledToggleCount);
    ddesc.nextInChain = &tdesc.chain;
#endif
    WGPURequestDeviceCallbackInfo dcb = {.mode = CALLBACK_MODE, .callback = on_device,
                                         .userdata1 = &dr};
    // From here on, callbacks of an earlier device are ignored.
    g->generation++;
    g->lost = false;
    g->uncaptured = false;
    st = wait_future(g, wgpuAdapterRequestDevice(g->adapter, &ddesc, dcb), &dr.done,
                     "the device");
    if (st == WGML_OK && !dr.device)
        st = wgml_gpu_fail(g, WGML_ERR_GPU, "device request failed: %s", dr.message);
    if (st) {
        wgpuAdapterInfoFreeMembers(ainfo);
        goto fail;
    }
    g->device = dr.device;
    g->queue = wgpuDeviceGetQueue(g->device);

    fill_info(g, &ainfo, &alim);
    g->dev_max_buffer = g->info.max_buffer_size;
    g->dev_max_binding = g->info.max_storage_buffer_binding_size;
    g->dev_memory = device_memory;
    wgml_gpu_caps_apply(g);
    wgpuAdapterInfoFreeMembers(ainfo);
    g->info.shader_f16 = wgpuDeviceHasFeature(g->device, WGPUFeatureName_ShaderF16);
    g->info.subgroups = wgpuDeviceHasFeature(g->device, FEATURE_SUBGROUPS);
    g->info.timestamp_query = wgpuDeviceHasFeature(g->device, WGPUFeatureName_TimestampQuery);
#if defined(WGML_DAWN)
    g->info.subgroup_matrix = wgpuDeviceHasFeature(
        g->device, WGPUFeatureName_ChromiumExperimentalSubgroupMatrix);
    g->info.bounds_checks = !toggle_listed(dev_on, tdesc.enabledToggleCount, "disable_robustness");
#else
    g->info.bounds_checks = true;   // wgpu-native: naga's bounds check policies
#endif
fail:
    return st;
}

wgml_status wgml_gpu_device_probe(wgml_gpu *g)
{
    wgml_status st = WGML_OK;
    g->info.packed_dot4 = wgml_gpu_probe_packed_dot4(g);
    if (g->info.timestamp_query && (st = create_timestamp_objects(g))) return st;
    // Implementations that do not report subgroup sizes (wgpu-native) get the
    // size a kernel observes; min and max are then that one size.
    if (g->info.subgroups && !g->info.subgroup_min_size)
        g->info.subgroup_min_size = g->info.subgroup_max_size = wgml_gpu_probe_subgroup_size(g);
    return WGML_OK;
}

// ================================================================ buffers

// A storage buffer as every wgml_gpu_buf holds (contents zero, as WebGPU
// initialises them).
static WGPUBuffer buffer_make(wgml_gpu *g, const char *label, uint64_t capacity)
{
    WGPUBufferDescriptor d = {
        .label = sv(label),
        .usage = WGPUBufferUsage_Storage | WGPUBufferUsage_CopySrc | WGPUBufferUsage_CopyDst,
        .size = capacity};
    return wgpuDeviceCreateBuffer(g->device, &d);
}

uint64_t wgml_gpu_buffers_created(const wgml_gpu *g) { return g->n_buffers_created; }

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
            if (label) {
                snprintf(b->label, sizeof b->label, "%s", label);
#if defined(WGML_DAWN)   // wgpu-native does not implement relabelling
                wgpuBufferSetLabel(b->buffer, sv(label));
#endif
            }
            *out = b;
            return WGML_OK;
        }
    }

    wgml_gpu_buf *b = calloc(1, sizeof *b);
    if (!b) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    snprintf(b->label, sizeof b->label, "%s", label ? label : "wgml.buffer");
    scopes_push(g);
    b->buffer = buffer_make(g, b->label, cap);
    g->n_buffers_created++;
    char what[160];
    snprintf(what, sizeof what, "creating buffer '%s' (%llu bytes)", label ? label : "",
             (unsigned long long)cap);
    st = scopes_pop(g, what);
    if (st || !b->buffer) {
        if (b->buffer) wgpuBufferRelease(b->buffer);
        free(b);
        return st ? st : wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "%s failed", what);
    }
    b->size = size;
    b->capacity = cap;
    g->pool_bytes += cap;
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
    // Cached bind groups name buffers by handle, which a new buffer may reuse.
    wgml_gpu_bindcache_clear(g);
    if (b->all_prev) b->all_prev->all_next = b->all_next;
    else g->all = b->all_next;
    if (b->all_next) b->all_next->all_prev = b->all_prev;
    g->pool_bytes -= b->capacity;
    if (b->buffer) {   // none after a failed recovery
        wgpuBufferDestroy(b->buffer);
        wgpuBufferRelease(b->buffer);
    }
    free(b);
}

void wgml_gpu_pool_trim(wgml_gpu *g)
{
    // A released buffer may still be used by the run being recorded.
    if (g->recording) wgml_gpu_submit(g, NULL);
    bool freed = g->pool != NULL;
    while (g->pool) {
        wgml_gpu_buf *b = g->pool;
        g->pool = b->next;
        buf_destroy(g, b);
    }
    // Uploads still queued (buffer writes, lazy clears) hold their buffers
    // until the queue's next submit: with no run between a load and a free,
    // the memory would never come back (seen on SwiftShader and lavapipe with
    // Dawn and wgpu-native alike: +64 MiB per written and freed 64 MiB
    // buffer). An empty submit flushes them; the memory goes as the device
    // processes its events. (wgpu-native aborts on a submit to a lost device.)
    if (freed && g->queue && !g->lost) {
        wgpuQueueSubmit(g->queue, 0, NULL);
        wgml_gpu_events_process(g);
    }
}

wgml_status wgml_gpu_buf_write(wgml_gpu *g, wgml_gpu_buf *b, uint64_t offset,
                               const void *data, uint64_t size)
{
    wgml_status st = check_alive(g);
    if (st) return st;
    if ((st = wgml_gpu_range_check(g, "buffer write", offset, size, b->capacity))) return st;
    if (size) wgpuQueueWriteBuffer(g->queue, b->buffer, offset, data, size);
    return WGML_OK;
}

typedef struct map_result {
    bool done;
    WGPUMapAsyncStatus status;
    char message[512];
} map_result;

static void on_map(WGPUMapAsyncStatus status, WGPUStringView message, void *u1, void *u2)
{
    (void)u2;
    map_result *r = u1;
    r->status = status;
    sv_copy(r->message, sizeof r->message, message);
    r->done = true;
}

static wgml_status map_read(wgml_gpu *g, WGPUBuffer buf, uint64_t size)
{
    map_result r = {0};
    WGPUBufferMapCallbackInfo cb = {.mode = CALLBACK_MODE, .callback = on_map,
                                    .userdata1 = &r};
    WGPUFuture f = wgpuBufferMapAsync(buf, WGPUMapMode_Read, 0, size, cb);
    wgml_status st = wait_future(g, f, &r.done, "a buffer map");
    if (st) return st;
    if ((st = check_alive(g))) return st;
    if (r.status != WGPUMapAsyncStatus_Success)
        return wgml_gpu_fail(g, WGML_ERR_GPU, "mapping a buffer for reading failed: %s",
                             r.message);
    return WGML_OK;
}

wgml_status wgml_gpu_map_read(wgml_gpu *g, WGPUBuffer buf, uint64_t size)
{
    return map_read(g, buf, size);
}

wgml_status wgml_gpu_buf_read(wgml_gpu *g, wgml_gpu_buf *b, uint64_t offset, void *dst,
                              uint64_t size)
{
    wgml_status st = check_alive(g);
    if (st) return st;
    if ((st = wgml_gpu_range_check(g, "buffer read", offset, size, b->capacity))) return st;
    if (size == 0) return WGML_OK;
    if (g->recording && (st = wgml_gpu_submit(g, NULL))) return st;

    if (g->staging_size < size) {
        if (g->staging) wgpuBufferRelease(g->staging);
        uint64_t cap = wgml_gpu_size_class(size);
        WGPUBufferDescriptor d = {.label = sv("wgml.staging"),
                                  .usage = WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst,
                                  .size = cap};
        scopes_push(g);
        g->staging = wgpuDeviceCreateBuffer(g->device, &d);
        st = scopes_pop(g, "creating the readback staging buffer");
        if (st) {
            if (g->staging) wgpuBufferRelease(g->staging);
            g->staging = NULL;
            g->staging_size = 0;
            return st;
        }
        g->staging_size = cap;
    }
    scopes_push(g);
    WGPUCommandEncoder enc = wgpuDeviceCreateCommandEncoder(g->device, NULL);
    wgpuCommandEncoderCopyBufferToBuffer(enc, b->buffer, offset, g->staging, 0, size);
    WGPUCommandBuffer cmd = wgpuCommandEncoderFinish(enc, NULL);
    wgpuQueueSubmit(g->queue, 1, &cmd);
    wgpuCommandBufferRelease(cmd);
    wgpuCommandEncoderRelease(enc);
    if ((st = scopes_pop(g, "copying a buffer for readback"))) return st;
    if ((st = map_read(g, g->staging, size))) return st;
    const void *src = wgpuBufferGetConstMappedRange(g->staging, 0, size);
    if (!src) {
        wgpuBufferUnmap(g->staging);
        return wgml_gpu_fail(g, WGML_ERR_GPU, "mapped range unavailable");
    }
    memcpy(dst, src, size);
    wgpuBufferUnmap(g->staging);
    return WGML_OK;
}

// ================================================================ pipelines

typedef struct compile_result {
    bool done;
    char messages[4096];
    bool has_error;
} compile_result;

#if defined(WGML_DAWN)
static void on_compilation_info(WGPUCompilationInfoRequestStatus status,
                                struct WGPUCompilationInfo const *info, void *u1, void *u2)
{
    (void)u2;
    compile_result *r = u1;
    size_t n = 0;
    if (status == WGPUCompilationInfoRequestStatus_Success && info) {
        for (size_t i = 0; i < info->messageCount && n + 1 < sizeof r->messages; i++) {
            const WGPUCompilationMessage *m = &info->messages[i];
            char text[1024];
            sv_copy(text, sizeof text, m->message);
            const char *kind = m->type == WGPUCompilationMessageType_Error     ? "error"
                               : m->type == WGPUCompilationMessageType_Warning ? "warning"
                                                                               : "info";
            if (m->type == WGPUCompilationMessageType_Error) r->has_error = true;
            n += snprintf(r->messages + n, sizeof r->messages - n, "%s%llu:%llu: %s: %s",
                          n ? "\n" : "", (unsigned long long)m->lineNum,
                          (unsigned long long)m->linePos, kind, text);
        }
    }
    r->done = true;
}
#endif

static wgml_gpu_pipeline *cache_find(wgml_gpu *g, const char *key, uint64_t h)
{
    for (wgml_gpu_pipeline *p = g->pipelines; p; p = p->next)
        if (p->hash == h && strcmp(p->key, key) == 0) return p;
    return NULL;
}

static void recipe_free(wgml_gpu_recipe *r)
{
    free(r->wgsl);
    free(r->entry);
    free(r->consts);
    free(r->names);
    memset(r, 0, sizeof *r);
}

// The recipe of kernel k: its composed WGSL, entry point and constants.
static wgml_status recipe_make(wgml_gpu *g, const wgml_gpu_kernel *k, const char *source,
                               wgml_gpu_recipe *r)
{
    memset(r, 0, sizeof *r);
    size_t names_len = 1;
    for (size_t i = 0; i < k->n_constants; i++) names_len += strlen(k->constants[i].name) + 1;
    const char *entry = k->entry ? k->entry : "main";
    r->wgsl = wgml_gpu_source_compose(k->prelude, source, DROP_SUBGROUPS_DIRECTIVE);
    r->entry = malloc(strlen(entry) + 1);
    r->names = malloc(names_len);
    r->consts = calloc(k->n_constants ? k->n_constants : 1, sizeof *r->consts);
    if (!r->wgsl || !r->entry || !r->names || !r->consts) {
        recipe_free(r);
        return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    memcpy(r->entry, entry, strlen(entry) + 1);
    char *at = r->names;
    for (size_t i = 0; i < k->n_constants; i++) {
        size_t n = strlen(k->constants[i].name);
        memcpy(at, k->constants[i].name, n + 1);
        r->consts[i] = (WGPUConstantEntry){.key = {.data = at, .length = n},
                                           .value = k->constants[i].value};
        at += n + 1;
    }
    r->n_consts = k->n_constants;
    return WGML_OK;
}

// A kernel's shader module, compiled and checked, and what its pipeline needs.
typedef struct module_build {
    WGPUShaderModule module;
    wgml_gpu_recipe recipe;   // owned until cache_add takes it
    const char *label;
    char what[256];       // "compiling kernel ... (entry ...)" for messages
    char key[512];
    uint64_t hash;
} module_build;

// Adds a compiled pipeline to the cache; it takes mb's recipe (kept to build
// the pipeline again after a device loss).
static wgml_status cache_add(wgml_gpu *g, module_build *mb, WGPUComputePipeline pipe,
                             wgml_gpu_pipeline **out)
{
    wgml_gpu_pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        wgpuComputePipelineRelease(pipe);
        return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    p->pipeline = pipe;
    p->layout = wgpuComputePipelineGetBindGroupLayout(pipe, 0);
    p->hash = mb->hash;
    snprintf(p->key, sizeof p->key, "%s", mb->key);
    snprintf(p->label, sizeof p->label, "%s", mb->label);
    p->recipe = mb->recipe;
    memset(&mb->recipe, 0, sizeof mb->recipe);
    p->next = g->pipelines;
    g->pipelines = p;
    *out = p;
    return WGML_OK;
}

static void module_build_key(const wgml_gpu_kernel *k, module_build *mb)
{
    wgml_gpu_pipeline_key(k, mb->key, sizeof mb->key);
    mb->hash = wgml_gpu_fnv1a(WGML_GPU_FNV_SEED, mb->key, strlen(mb->key));
}

// Compiles mb->recipe into mb->module. A compilation error becomes
// WGML_ERR_GPU with the compiler's line:column messages first.
static wgml_status module_compile(wgml_gpu *g, module_build *mb)
{
    wgml_gpu_kernel k = {.family = mb->label, .entry = mb->recipe.entry};
    wgml_gpu_kernel_what(&k, mb->what, sizeof mb->what);
    WGPUShaderSourceWGSL wgsl = {.chain = {.sType = WGPUSType_ShaderSourceWGSL},
                                 .code = sv(mb->recipe.wgsl)};
    WGPUShaderModuleDescriptor md = {.nextInChain = &wgsl.chain, .label = sv(mb->label)};
    scopes_push(g);
    mb->module = wgpuDeviceCreateShaderModule(g->device, &md);
    compile_result cr = {0};
    wgml_status st = WGML_OK;
#if defined(WGML_DAWN)
    WGPUCompilationInfoCallbackInfo ccb = {.mode = CALLBACK_MODE,
                                           .callback = on_compilation_info, .userdata1 = &cr};
    st = wait_future(g, wgpuShaderModuleGetCompilationInfo(mb->module, ccb), &cr.done,
                     "shader compilation info");
#endif
    wgml_status popped = scopes_pop(g, mb->what);
    if (!st) st = popped;
    if (st || cr.has_error) {
        if (cr.has_error) {
            // Keep the compiler's own lines (line:column: error: ...) first.
            char scope_msg[sizeof g->err];
            snprintf(scope_msg, sizeof scope_msg, "%s", st ? g->err : "");
            wgml_gpu_fail(g, WGML_ERR_GPU, "%s:\n%s%s%s", mb->what, cr.messages,
                          scope_msg[0] ? "\n" : "", scope_msg);
        }
        wgpuShaderModuleRelease(mb->module);
        mb->module = NULL;
        return st ? st : WGML_ERR_GPU;
    }
    return WGML_OK;
}

// Makes k's recipe and compiles it into mb->module.
static wgml_status module_build_run(wgml_gpu *g, const wgml_gpu_kernel *k, module_build *mb)
{
    if (k->n_constants > 32)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "too many override constants");
    const char *source = wgml_gpu_kernel_text(g, k);
    if (!source) return WGML_ERR_INVALID_ARGUMENT;
    wgml_status st = recipe_make(g, k, source, &mb->recipe);
    if (st) return st;
    mb->label = k->family ? k->family : "wgml.inline";
    if ((st = module_compile(g, mb))) recipe_free(&mb->recipe);
    return st;
}

static WGPUComputePipelineDescriptor module_build_desc(const module_build *mb)
{
    return (WGPUComputePipelineDescriptor){
        .label = sv(mb->label),
        .compute = {.module = mb->module, .entryPoint = sv(mb->recipe.entry),
                    .constantCount = mb->recipe.n_consts, .constants = mb->recipe.consts}};
}

// WGML_TRACE_COMPILE=1: one stderr line a pipeline created, with its wall
// time. GPU drivers compile here; lavapipe compiles at the pipeline's first
// dispatch, so there this shows only the WGSL-to-SPIR-V part.
static void trace_compile(const module_build *mb, struct timespec t0, struct timespec t1)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("WGML_TRACE_COMPILE");
        on = e && *e && strcmp(e, "0") != 0;
    }
    if (!on) return;
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6;
    fprintf(stderr, "wgml-compile %.1f ms %s %016llx\n", ms, mb->label ? mb->label : "?",
            (unsigned long long)mb->hash);
}

wgml_gpu_memo **wgml_gpu_memo_slot(wgml_gpu *g) { return &g->memo; }

wgml_status wgml_gpu_pipeline_get(wgml_gpu *g, const wgml_gpu_kernel *k,
                                  wgml_gpu_pipeline **out)
{
    *out = NULL;
    wgml_status st = check_alive(g);
    if (st) return st;
    module_build mb;
    module_build_key(k, &mb);
    if ((*out = cache_find(g, mb.key, mb.hash))) return WGML_OK;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((st = module_build_run(g, k, &mb))) return st;
    WGPUComputePipelineDescriptor pd = module_build_desc(&mb);
    scopes_push(g);
    WGPUComputePipeline pipe = wgpuDeviceCreateComputePipeline(g->device, &pd);
    wgpuShaderModuleRelease(mb.module);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    trace_compile(&mb, t0, t1);
    if ((st = scopes_pop(g, mb.what))) {
        if (pipe) wgpuComputePipelineRelease(pipe);
        recipe_free(&mb.recipe);
        return st;
    }
    return cache_add(g, &mb, pipe, out);
}

#if defined(WGML_DAWN)
typedef struct async_pipeline {
    bool done;
    WGPUCreatePipelineAsyncStatus status;
    WGPUComputePipeline pipeline;
    char message[1024];
} async_pipeline;

static void on_pipeline(WGPUCreatePipelineAsyncStatus status, WGPUComputePipeline pipeline,
                        WGPUStringView message, void *u1, void *u2)
{
    (void)u2;
    async_pipeline *r = u1;
    r->status = status;
    r->pipeline = pipeline;
    sv_copy(r->message, sizeof r->message, message);
    r->done = true;
}
#endif

wgml_status wgml_gpu_pipelines_get(wgml_gpu *g, const wgml_gpu_kernel *ks, size_t n,
                                   wgml_gpu_pipeline **out)
{
#if defined(WGML_DAWN)
    // Every shader module first (their errors carry the compiler's lines),
    // then all pipelines compile concurrently and we wait for them together.
    wgml_status st = check_alive(g);
    if (st) return st;
    module_build *mb = calloc(n ? n : 1, sizeof *mb);
    async_pipeline *ap = calloc(n ? n : 1, sizeof *ap);
    WGPUFutureWaitInfo *wait = calloc(n ? n : 1, sizeof *wait);
    size_t n_wait = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!mb || !ap || !wait) st = wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < n && !st; i++) {
        out[i] = NULL;
        module_build_key(&ks[i], &mb[i]);
        if ((out[i] = cache_find(g, mb[i].key, mb[i].hash))) continue;
        if ((st = module_build_run(g, &ks[i], &mb[i]))) break;
        WGPUComputePipelineDescriptor pd = module_build_desc(&mb[i]);
        WGPUCreateComputePipelineAsyncCallbackInfo cb = {
            .mode = CALLBACK_MODE, .callback = on_pipeline, .userdata1 = &ap[i]};
        wait[n_wait++] = (WGPUFutureWaitInfo){
            .future = wgpuDeviceCreateComputePipelineAsync(g->device, &pd, cb)};
    }
    // Wait for every started compilation, also after an error, so that no
    // callback outlives its result slot.
    for (size_t left = n_wait; left > 0;) {
        WGPUWaitStatus ws = wgpuInstanceWaitAny(g->instance, n_wait, wait, UINT64_MAX);
        if (ws != WGPUWaitStatus_Success) {
            if (!st) st = wgml_gpu_fail(g, WGML_ERR_GPU, "waiting for pipelines failed (%d)", (int)ws);
            break;
        }
        left = 0;
        for (size_t i = 0; i < n_wait; i++) left += !wait[i].completed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (n_wait) {
        module_build batch = {.label = "(a batch compiled concurrently)", .hash = n_wait};
        trace_compile(&batch, t0, t1);
    }
    for (size_t i = 0; i < n && mb; i++) {
        if (mb[i].module) wgpuShaderModuleRelease(mb[i].module);
        if (!ap[i].done) {
            recipe_free(&mb[i].recipe);
            continue;
        }
        if (st || ap[i].status != WGPUCreatePipelineAsyncStatus_Success) {
            if (!st) st = wgml_gpu_fail(g, WGML_ERR_GPU, "%s: %s", mb[i].what, ap[i].message);
            if (ap[i].pipeline) wgpuComputePipelineRelease(ap[i].pipeline);
            recipe_free(&mb[i].recipe);
            continue;
        }
        // The same kernel twice in one batch: keep the first, drop the copy.
        wgml_gpu_pipeline *have = cache_find(g, mb[i].key, mb[i].hash);
        if (have) {
            wgpuComputePipelineRelease(ap[i].pipeline);
            out[i] = have;
        } else {
            st = cache_add(g, &mb[i], ap[i].pipeline, &out[i]);
        }
        recipe_free(&mb[i].recipe);   // what cache_add did not take
    }
    free(mb);
    free(ap);
    free(wait);
    return st;
#else
    // wgpu-native: one at a time.
    for (size_t i = 0; i < n; i++) {
        wgml_status st = wgml_gpu_pipeline_get(g, &ks[i], &out[i]);
        if (st) return st;
    }
    return WGML_OK;
#endif
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
    scopes_push(g);
    g->encoder = wgpuDeviceCreateCommandEncoder(g->device, NULL);
    WGPUPassTimestampWrites tw = {.querySet = g->ts_queries,
                                  .beginningOfPassWriteIndex = 0, .endOfPassWriteIndex = 1};
    WGPUComputePassDescriptor cd = {.label = sv("wgml.run"),
                                    .timestampWrites = g->timed ? &tw : NULL};
    g->pass = wgpuCommandEncoderBeginComputePass(g->encoder, &cd);
    g->recording = true;
    g->n_dispatches = 0;
    return WGML_OK;
}

// Room for `size` bytes of parameters in the uniform arena.
static wgml_status arena_alloc(wgml_gpu *g, size_t size, wgml_arena_chunk **chunk,
                               uint32_t *offset)
{
    uint32_t align = g->info.min_uniform_buffer_offset_alignment;
    if (align < 16) align = 16;
    if (size > ARENA_CHUNK_BYTES || size > g->info.max_uniform_buffer_binding_size)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "kernel parameters too large");
    for (;;) {
        if (g->arena_active < g->n_arena) {
            wgml_arena_chunk *c = &g->arena[g->arena_active];
            uint32_t off = (c->used + align - 1) / align * align;
            if (off + size <= ARENA_CHUNK_BYTES) {
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
            wgml_arena_chunk *a = realloc(g->arena, cap * sizeof *a);
            if (!a) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
            g->arena = a;
            g->cap_arena = cap;
        }
        wgml_arena_chunk *c = &g->arena[g->n_arena];
        memset(c, 0, sizeof *c);
        c->shadow = malloc(ARENA_CHUNK_BYTES);
        if (!c->shadow) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        WGPUBufferDescriptor d = {.label = sv("wgml.uniform_arena"),
                                  .usage = WGPUBufferUsage_Uniform | WGPUBufferUsage_CopyDst,
                                  .size = ARENA_CHUNK_BYTES};
        c->buffer = wgpuDeviceCreateBuffer(g->device, &d);
        g->n_arena++;
    }
}

static wgml_status keep_bind_group(wgml_gpu *g, WGPUBindGroup bg)
{
    if (g->n_groups == g->cap_groups) {
        size_t cap = g->cap_groups ? g->cap_groups * 2 : 64;
        WGPUBindGroup *a = realloc(g->groups, cap * sizeof *a);
        if (!a) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        g->groups = a;
        g->cap_groups = cap;
    }
    g->groups[g->n_groups++] = bg;
    return WGML_OK;
}

// Validates storage bindings and turns them into bind group entries.
static wgml_status storage_entries(wgml_gpu *g, const wgml_gpu_binding *bindings,
                                   size_t n_bindings, WGPUBindGroupEntry *entries, size_t *n)
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
        entries[(*n)++] = (WGPUBindGroupEntry){.binding = slot, .buffer = b->buf->buffer,
                                               .offset = b->offset, .size = size};
    }
    return WGML_OK;
}

static void record(wgml_gpu *g, wgml_gpu_pipeline *p, WGPUBindGroup bg, uint32_t gx,
                   uint32_t gy, uint32_t gz)
{
    if (g->profiler) wgml_gpu_profile_pass(g, p);   // a timed pass of its own
    wgpuComputePassEncoderSetPipeline(g->pass, p->pipeline);
    wgpuComputePassEncoderSetBindGroup(g->pass, 0, bg, 0, NULL);
    wgpuComputePassEncoderDispatchWorkgroups(g->pass, gx, gy, gz);
    g->n_dispatches++;
}

wgml_status wgml_gpu_dispatch(wgml_gpu *g, wgml_gpu_pipeline *p, const void *params,
                              size_t params_size, const wgml_gpu_binding *bindings,
                              size_t n_bindings, uint32_t gx, uint32_t gy, uint32_t gz)
{
    wgml_status st = check_alive(g);
    if (st || (st = wgml_gpu_grid_check(g, gx, gy, gz))) return st;
    WGPUBindGroupEntry entries[MAX_BINDINGS];
    size_t n = 0;
    if ((st = storage_entries(g, bindings, n_bindings, entries, &n))) return st;
    if (!g->recording && (st = wgml_gpu_begin(g, false))) return st;
    if (params && params_size) {
        wgml_arena_chunk *c = NULL;
        uint32_t off = 0;
        if ((st = arena_alloc(g, params_size, &c, &off))) return st;
        memcpy(c->shadow + off, params, params_size);
        size_t bound = (params_size + 15) & ~(size_t)15;   // uniform structs round to 16
        memset(c->shadow + off + params_size, 0, bound - params_size);
        if (off + bound > c->used) c->used = off + (uint32_t)bound;
        entries[n++] = (WGPUBindGroupEntry){.binding = 0, .buffer = c->buffer,
                                            .offset = off, .size = bound};
    }
    // The cache's group when it has (or can make) one; else one for this run.
    WGPUBindGroup bg = wgml_gpu_bindcache_get(g, p->layout, entries, n);
    if (!bg) {
        WGPUBindGroupDescriptor bd = {.layout = p->layout, .entryCount = n, .entries = entries};
        bg = wgpuDeviceCreateBindGroup(g->device, &bd);
        g->bind_groups_uncached++;
        if ((st = keep_bind_group(g, bg))) {
            wgpuBindGroupRelease(bg);
            return st;
        }
    }
    record(g, p, bg, gx, gy, gz);
    return WGML_OK;
}

// Makes grp's parameter buffer and bind group on the current device from
// what grp keeps (at creation, and again after a device loss).
static void group_make(wgml_gpu *g, wgml_gpu_group *grp)
{
    WGPUBindGroupEntry entries[MAX_BINDINGS];
    size_t n = 0;
    for (size_t i = 0; i < grp->n_binds; i++) {
        const wgml_gpu_group_binding *b = &grp->binds[i];
        entries[n++] = (WGPUBindGroupEntry){.binding = b->slot, .buffer = b->buf->buffer,
                                            .offset = b->offset, .size = b->size};
    }
    if (grp->params_size) {
        WGPUBufferDescriptor d = {.label = sv("wgml.group_params"),
                                  .usage = WGPUBufferUsage_Uniform | WGPUBufferUsage_CopyDst,
                                  .size = grp->params_size};
        grp->params = wgpuDeviceCreateBuffer(g->device, &d);
        wgpuQueueWriteBuffer(g->queue, grp->params, 0, grp->params_data, grp->params_size);
        entries[n++] = (WGPUBindGroupEntry){.binding = 0, .buffer = grp->params,
                                            .size = grp->params_size};
    }
    WGPUBindGroupDescriptor bd = {.layout = grp->pipeline->layout, .entryCount = n,
                                  .entries = entries};
    grp->bind_group = wgpuDeviceCreateBindGroup(g->device, &bd);
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
    WGPUBindGroupEntry entries[MAX_BINDINGS];
    size_t n = 0;
    if ((st = storage_entries(g, bindings, n_bindings, entries, &n))) return st;
    wgml_gpu_group *grp = calloc(1, sizeof *grp);
    if (!grp) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    grp->pipeline = p;
    for (size_t i = 0; i < n; i++)
        grp->binds[i] = (wgml_gpu_group_binding){.buf = bindings[i].buf, .offset = entries[i].offset,
                                                 .size = entries[i].size,
                                                 .slot = entries[i].binding};
    grp->n_binds = n;
    if (params && params_size) {
        memcpy(grp->params_data, params, params_size);
        grp->params_size = (params_size + 15) & ~(size_t)15;
    }
    scopes_push(g);
    group_make(g, grp);
    grp->next = g->groups_all;
    if (g->groups_all) g->groups_all->prev = grp;
    g->groups_all = grp;
    st = scopes_pop(g, "creating a bind group");
    if (st) {
        wgml_gpu_group_free(g, grp);
        return st;
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
    if (!grp) return;
    if (grp->prev) grp->prev->next = grp->next;
    else if (g->groups_all == grp) g->groups_all = grp->next;
    if (grp->next) grp->next->prev = grp->prev;
    if (grp->bind_group) wgpuBindGroupRelease(grp->bind_group);
    if (grp->params) wgpuBufferRelease(grp->params);
    free(grp);
}

uint64_t wgml_gpu_submit_count(const wgml_gpu *g) { return g->n_submits; }

uint32_t wgml_gpu_pending_dispatches(const wgml_gpu *g) { return g->n_dispatches; }

static void release_run_objects(wgml_gpu *g)
{
    for (size_t i = 0; i < g->n_groups; i++) wgpuBindGroupRelease(g->groups[i]);
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
    wgpuComputePassEncoderEnd(g->pass);
    wgpuComputePassEncoderRelease(g->pass);
    g->pass = NULL;
    bool timed = g->timed;
    if (timed) {
        wgpuCommandEncoderResolveQuerySet(g->encoder, g->ts_queries, 0, 2, g->ts_resolve, 0);
        wgpuCommandEncoderCopyBufferToBuffer(g->encoder, g->ts_resolve, 0, g->ts_readback,
                                             0, 16);
    }
    if (g->profiler) wgml_gpu_profile_encode(g);
    wgml_gpu_readbacks_encode(g, g->encoder);
    WGPUCommandBuffer cmd = wgpuCommandEncoderFinish(g->encoder, NULL);
    wgpuCommandEncoderRelease(g->encoder);
    g->encoder = NULL;
    // Everything recorded is validated before the submit: an invalid command
    // buffer is dropped, never submitted (wgpu-native aborts on that).
    wgml_status st = scopes_pop(g, "recording a run");
    if (st == WGML_OK && g->uncaptured) st = WGML_ERR_GPU;   // message already in g->err
    g->uncaptured = false;
    if (st == WGML_OK) {
        // The arena's bytes go to the queue before the commands that read them.
        for (size_t i = 0; i < g->n_arena; i++)
            if (g->arena[i].used)
                wgpuQueueWriteBuffer(g->queue, g->arena[i].buffer, 0, g->arena[i].shadow,
                                     (g->arena[i].used + 3) & ~3u);
        wgpuQueueSubmit(g->queue, 1, &cmd);
        g->n_submits++;
        // Fault injection (tests): the device goes while this run is in flight.
        if (g->lose_after_submits && --g->lose_after_submits == 0) wgml_gpu_debug_lose_device(g);
    }
    wgpuCommandBufferRelease(cmd);
    wgml_gpu_readbacks_settle(g, st == WGML_OK);
    if (g->profiler) wgml_gpu_profile_settle(g, st == WGML_OK);
    release_run_objects(g);
    if (st) return st;
    if (timed && gpu_ns) {
        if ((st = map_read(g, g->ts_readback, 16))) return st;
        const uint64_t *t = wgpuBufferGetConstMappedRange(g->ts_readback, 0, 16);
        if (t) *gpu_ns = t[1] >= t[0] ? (double)(t[1] - t[0]) : -1;
        wgpuBufferUnmap(g->ts_readback);
    }
    return WGML_OK;
}

typedef struct done_result {
    bool done;
    WGPUQueueWorkDoneStatus status;
} done_result;

static void on_work_done(WGPUQueueWorkDoneStatus status, WGPUStringView message, void *u1,
                         void *u2)
{
    (void)message; (void)u2;
    done_result *r = u1;
    r->status = status;
    r->done = true;
}

wgml_status wgml_gpu_wait(wgml_gpu *g)
{
    wgml_status st = check_alive(g);
    if (st) return st;
    if (g->recording && (st = wgml_gpu_submit(g, NULL))) return st;
    done_result r = {0};
    WGPUQueueWorkDoneCallbackInfo cb = {.mode = CALLBACK_MODE, .callback = on_work_done,
                                        .userdata1 = &r};
    if ((st = wait_future(g, wgpuQueueOnSubmittedWorkDone(g->queue, cb), &r.done,
                          "submitted work")))
        return st;
    if ((st = check_alive(g))) return st;
    if (r.status != WGPUQueueWorkDoneStatus_Success)
        return wgml_gpu_fail(g, WGML_ERR_GPU, "queue work did not complete (status %d)",
                             (int)r.status);
    return WGML_OK;
}

// ================================================================ device loss

void wgml_gpu_caps_apply(wgml_gpu *g)
{
    wgml_device_info *d = &g->info;
    d->max_buffer_size = g->cap_buffer && g->cap_buffer < g->dev_max_buffer ? g->cap_buffer
                                                                            : g->dev_max_buffer;
    d->max_storage_buffer_binding_size =
        g->cap_binding && g->cap_binding < g->dev_max_binding ? g->cap_binding
                                                              : g->dev_max_binding;
    // A cap stands in for a device that says nothing of its memory too.
    d->device_memory = g->cap_memory && (!g->dev_memory || g->cap_memory < g->dev_memory)
                           ? g->cap_memory : g->dev_memory;
}

void wgml_gpu_events_process(wgml_gpu *g)
{
#if defined(WGML_WGPU_NATIVE)
    if (g->device) wgpuDevicePoll(g->device, false, NULL);
#endif
    if (g->instance) wgpuInstanceProcessEvents(g->instance);
}

void wgml_gpu_objects_drop(wgml_gpu *g)
{
    // A run half recorded on the old device is abandoned.
    if (g->pass) wgpuComputePassEncoderRelease(g->pass);
    if (g->encoder) wgpuCommandEncoderRelease(g->encoder);
    g->pass = NULL;
    g->encoder = NULL;
    wgml_gpu_readbacks_settle(g, false);
    wgml_gpu_profile_stop(g);
    release_run_objects(g);
    wgml_gpu_bindcache_clear(g);
    wgml_gpu_readbacks_drop(g);
    for (wgml_gpu_group *grp = g->groups_all; grp; grp = grp->next) {
        if (grp->bind_group) wgpuBindGroupRelease(grp->bind_group);
        if (grp->params) wgpuBufferRelease(grp->params);
        grp->bind_group = NULL;
        grp->params = NULL;
    }
    for (wgml_gpu_pipeline *p = g->pipelines; p; p = p->next) {
        if (p->layout) wgpuBindGroupLayoutRelease(p->layout);
        if (p->pipeline) wgpuComputePipelineRelease(p->pipeline);
        p->layout = NULL;
        p->pipeline = NULL;
    }
    for (wgml_gpu_buf *b = g->all; b; b = b->all_next) {
        if (b->buffer) wgpuBufferRelease(b->buffer);
        b->buffer = NULL;
    }
    for (size_t i = 0; i < g->n_arena; i++) {
        if (g->arena[i].buffer) wgpuBufferRelease(g->arena[i].buffer);
        g->arena[i].buffer = NULL;
    }
    WGPUBuffer *bufs[] = {&g->staging, &g->ts_resolve, &g->ts_readback};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (*bufs[i]) wgpuBufferRelease(*bufs[i]);
        *bufs[i] = NULL;
    }
    g->staging_size = 0;
    if (g->ts_queries) wgpuQuerySetRelease(g->ts_queries);
    if (g->queue) wgpuQueueRelease(g->queue);
    if (g->device) wgpuDeviceRelease(g->device);
    if (g->adapter) wgpuAdapterRelease(g->adapter);
    g->ts_queries = NULL;
    g->queue = NULL;
    g->device = NULL;
    g->adapter = NULL;
}

wgml_status wgml_gpu_objects_rebuild(wgml_gpu *g)
{
    wgml_status st;
    // Pipelines first: bind groups are made against their layouts.
    for (wgml_gpu_pipeline *p = g->pipelines; p; p = p->next) {
        module_build mb = {.recipe = p->recipe, .label = p->label};   // the recipe is lent
        if ((st = module_compile(g, &mb))) return st;
        WGPUComputePipelineDescriptor pd = module_build_desc(&mb);
        scopes_push(g);
        p->pipeline = wgpuDeviceCreateComputePipeline(g->device, &pd);
        wgpuShaderModuleRelease(mb.module);
        if ((st = scopes_pop(g, mb.what))) return st;
        p->layout = wgpuComputePipelineGetBindGroupLayout(p->pipeline, 0);
    }
    scopes_push(g);
    for (wgml_gpu_buf *b = g->all; b; b = b->all_next) b->buffer = buffer_make(g, b->label, b->capacity);
    for (size_t i = 0; i < g->n_arena; i++) {
        WGPUBufferDescriptor d = {.label = sv("wgml.uniform_arena"),
                                  .usage = WGPUBufferUsage_Uniform | WGPUBufferUsage_CopyDst,
                                  .size = ARENA_CHUNK_BYTES};
        g->arena[i].buffer = wgpuDeviceCreateBuffer(g->device, &d);
    }
    wgml_gpu_readbacks_rebuild(g);
    if ((st = scopes_pop(g, "making the buffers again on the new device"))) return st;
    scopes_push(g);
    for (wgml_gpu_group *grp = g->groups_all; grp; grp = grp->next) group_make(g, grp);
    return scopes_pop(g, "making the bind groups again on the new device");
}

// ================================================================ teardown

void wgml_gpu_free(wgml_gpu *g)
{
    if (!g) return;
    wgml_gpu_memo_free(g->memo);
    g->memo = NULL;
    g->destroying = true;
    if (g->attachment && g->attachment_free) g->attachment_free(g->attachment);
    if (g->pass) wgpuComputePassEncoderRelease(g->pass);
    if (g->encoder) wgpuCommandEncoderRelease(g->encoder);
    for (size_t i = 0; i < g->n_groups; i++) wgpuBindGroupRelease(g->groups[i]);
    free(g->groups);
    wgml_gpu_bindcache_free(g);
    wgml_gpu_profile_stop(g);
    while (g->readbacks_all) wgml_gpu_readback_free(g, g->readbacks_all);
    free(g->run_readbacks);
    while (g->pipelines) {
        wgml_gpu_pipeline *p = g->pipelines;
        g->pipelines = p->next;
        if (p->layout) wgpuBindGroupLayoutRelease(p->layout);
        if (p->pipeline) wgpuComputePipelineRelease(p->pipeline);
        recipe_free(&p->recipe);
        free(p);
    }
    while (g->all) buf_destroy(g, g->all);   // pooled and still-held buffers
    g->pool = NULL;
    for (size_t i = 0; i < g->n_arena; i++) {
        if (g->arena[i].buffer) wgpuBufferRelease(g->arena[i].buffer);
        free(g->arena[i].shadow);
    }
    free(g->arena);
    free(g->hooks);
    if (g->staging) wgpuBufferRelease(g->staging);
    if (g->ts_readback) wgpuBufferRelease(g->ts_readback);
    if (g->ts_resolve) wgpuBufferRelease(g->ts_resolve);
    if (g->ts_queries) wgpuQuerySetRelease(g->ts_queries);
    if (g->queue) wgpuQueueRelease(g->queue);
    if (g->device) {
        wgpuDeviceDestroy(g->device);
        wgpuDeviceRelease(g->device);
    }
    if (g->adapter) wgpuAdapterRelease(g->adapter);
    if (g->instance) {
        wgpuInstanceProcessEvents(g->instance);
        wgpuInstanceRelease(g->instance);
    }
    free(g);
}
