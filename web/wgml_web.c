/*
 * Entry points of the wasm build for web/wgml.js. The public API (wgml.h)
 * is exported as it is (web/build.sh lists it); these helpers hand JS what it
 * would otherwise read out of C structs field by field: device information
 * and plan statistics as JSON.
 */
#include "wgml.h"
#include "core/ctx_internal.h"
#include "models/bert.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name)))

typedef struct out {
    char *s;
    size_t cap, n;
} out;

static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->s + o->n, o->n < o->cap ? o->cap - o->n : 0, fmt, ap);
    va_end(ap);
    if (k > 0) o->n += (size_t)k;
}

// A JSON string: quotes, backslashes and control characters escaped.
static void put_str(out *o, const char *key, const char *v)
{
    put(o, "\"%s\":\"", key);
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        if (*p == '"' || *p == '\\') put(o, "\\%c", *p);
        else if (*p < 0x20) put(o, "\\u%04x", *p);
        else put(o, "%c", *p);
    }
    put(o, "\",");
}

// Flags as wgml.js passes them: bit 0 low power, 1 high performance,
// 2 no shader-f16, 3 no subgroups, 4 no timestamps.
EXPORT(wgml_web_ctx_create)
wgml_ctx *wgml_web_ctx_create(uint32_t flags, char *err, uint32_t err_size)
{
    wgml_ctx_params p = {
        .power = flags & 1 ? WGML_POWER_LOW : flags & 2 ? WGML_POWER_HIGH : WGML_POWER_DEFAULT,
        .disable_f16 = flags & 4, .disable_subgroups = flags & 8, .disable_timestamps = flags & 16};
    wgml_ctx *ctx = NULL;
    wgml_ctx_create(&p, &ctx, err, err_size);
    return ctx;
}

// What wgml sees of the device, as JSON; returns the length (the text is cut
// at cap - 1 bytes).
EXPORT(wgml_web_info_json)
uint32_t wgml_web_info_json(wgml_ctx *ctx, char *dst, uint32_t cap)
{
    wgml_device_info d;
    out o = {dst, cap, 0};
    if (!cap || wgml_ctx_device_info(ctx, &d)) return 0;
    put(&o, "{");
    put_str(&o, "implementation", d.implementation);
    put_str(&o, "vendor", d.vendor);
    put_str(&o, "architecture", d.architecture);
    put_str(&o, "device", d.device);
    put_str(&o, "description", d.description);
    put_str(&o, "adapter_type", d.adapter_type);
    put(&o, "\"shader_f16\":%s,\"subgroups\":%s,\"timestamp_query\":%s,\"packed_dot4\":%s,",
        d.shader_f16 ? "true" : "false", d.subgroups ? "true" : "false",
        d.timestamp_query ? "true" : "false", d.packed_dot4 ? "true" : "false");
    put(&o, "\"subgroup_min_size\":%u,\"subgroup_max_size\":%u,", d.subgroup_min_size,
        d.subgroup_max_size);
    put(&o, "\"max_buffer_size\":%llu,\"max_storage_buffer_binding_size\":%llu,"
            "\"max_compute_workgroup_storage_size\":%u,\"max_compute_invocations_per_workgroup\":%u}",
        (unsigned long long)d.max_buffer_size,
        (unsigned long long)d.max_storage_buffer_binding_size,
        d.max_compute_workgroup_storage_size, d.max_compute_invocations_per_workgroup);
    if (o.n >= cap) o.n = cap - 1;
    dst[o.n] = 0;
    return (uint32_t)o.n;
}

// precision: 0 auto, 1 f32, 2 f16 (wgml_precision). NULL on failure (the
// reason in wgml_ctx_last_error).
EXPORT(wgml_web_embedder_load)
wgml_embedder *wgml_web_embedder_load(wgml_ctx *ctx, const char *dir, uint32_t precision,
                                      uint32_t max_batch, uint32_t max_tokens)
{
    wgml_embedder_params p = {.precision = (wgml_precision)precision, .max_batch = max_batch,
                              .max_tokens = max_tokens};
    wgml_embedder *e = NULL;
    wgml_embedder_load(ctx, dir, &p, &e);
    return e;
}

// The encoder plan for (batch, seq), compiled if needed: kernels, memory,
// FLOPs and bytes, as JSON. 0 on failure.
EXPORT(wgml_web_plan_json)
uint32_t wgml_web_plan_json(wgml_embedder *e, uint32_t batch, uint32_t seq, char *dst,
                            uint32_t cap)
{
    wgml_bert_plan_stats s;
    if (!cap || wgml_bert_plan_stats_get(wgml_embedder_bert(e), batch, seq, &s)) return 0;
    out o = {dst, cap, 0};
    put(&o, "{\"kernels\":%d,\"planned_bytes\":%llu,\"naive_bytes\":%llu,\"flops\":%.0f,"
            "\"bytes\":%.0f}", s.kernels, (unsigned long long)s.planned_bytes,
        (unsigned long long)s.naive_bytes, s.flops, s.bytes);
    if (o.n >= cap) o.n = cap - 1;
    dst[o.n] = 0;
    return (uint32_t)o.n;
}

// Frees the GPU buffers that no model holds any more (after an embedder is
// freed, its weights go back to the pool until this).
EXPORT(wgml_web_trim)
void wgml_web_trim(wgml_ctx *ctx)
{
    if (ctx) wgml_gpu_pool_trim(ctx->gpu);
}

// Compiles a WGSL compute kernel (entry point `main`) on this device: 0 when
// it builds, else the status, with the compiler's line:column messages in
// wgml_ctx_last_error.
EXPORT(wgml_web_wgsl_check)
int wgml_web_wgsl_check(wgml_ctx *ctx, const char *wgsl)
{
    if (!ctx || !wgsl) return WGML_ERR_INVALID_ARGUMENT;
    wgml_gpu_kernel k = {.source = wgsl};
    wgml_gpu_pipeline *p;
    return wgml_gpu_pipeline_get(ctx->gpu, &k, &p);
}
