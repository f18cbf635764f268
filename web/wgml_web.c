/*
 * Entry points of the wasm build for web/wgml.js. The public API (wgml.h)
 * is exported as it is (web/build.sh lists it); these helpers hand JS what it
 * would otherwise read out of C structs field by field: device information,
 * plan and generation statistics as JSON, generation parameters as scalars,
 * generated text through an import.
 */
#include "wgml.h"
#include "core/ctx_internal.h"
#include "models/bert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

// ================================================================ text generation

// Hands each generated piece to JS (wgml.js routes it to the generation
// `run` names); a zero return stops the generation.
__attribute__((import_module("wgml_web"), import_name("text")))
extern int wgml_web_text(uint32_t run, const char *text, uint32_t len);

typedef struct text_sink {
    uint32_t run;
} text_sink;

static bool on_text(void *user, const char *text, size_t len)
{
    const text_sink *k = user;
    return wgml_web_text(k->run, text, (uint32_t)len) != 0;
}

// n_ctx: 0 for the default; precision as wgml_precision. NULL on failure
// (the reason in wgml_ctx_last_error).
EXPORT(wgml_web_llm_load)
wgml_llm *wgml_web_llm_load(wgml_ctx *ctx, const char *path, uint32_t n_ctx, uint32_t precision)
{
    wgml_llm_params p = {.n_ctx = n_ctx, .precision = (wgml_precision)precision};
    wgml_llm *llm = NULL;
    wgml_llm_load(ctx, path, &p, &llm);
    return llm;
}

// What was loaded, as JSON; 0 on failure.
EXPORT(wgml_web_llm_info_json)
uint32_t wgml_web_llm_info_json(wgml_llm *llm, char *dst, uint32_t cap)
{
    const wgml_llm_info *i = wgml_llm_info_of(llm);
    if (!i || !cap) return 0;
    out o = {dst, cap, 0};
    put(&o, "{");
    put_str(&o, "name", i->name);
    put_str(&o, "architecture", i->architecture);
    put_str(&o, "chat_format", i->chat_format);
    put(&o, "\"n_vocab\":%u,\"n_ctx\":%u,\"n_ctx_train\":%u,\"n_layers\":%u,\"dim\":%u,"
            "\"kv_f16\":%s,\"gpu_bytes\":%llu,\"load_seconds\":%.4f}",
        i->n_vocab, i->n_ctx, i->n_ctx_train, i->n_layers, i->dim, i->kv_f16 ? "true" : "false",
        (unsigned long long)i->gpu_bytes, i->load_seconds);
    if (o.n >= cap) o.n = cap - 1;
    dst[o.n] = 0;
    return (uint32_t)o.n;
}

static const char *stop_name(wgml_stop_reason r)
{
    static const char *names[] = {"error", "length", "eog", "context", "cancelled"};
    return (unsigned)r <= WGML_STOP_CANCELLED ? names[r] : "?";
}

// One generation: the sampling parameters as wgml_generate_params has them
// (zero means off), the generated ids into tokens (tokens_cap of them at
// most), the statistics as JSON into stats (stats_cap bytes). Pieces of text
// go to JS through the `text` import under the number `run`. Returns the
// status.
EXPORT(wgml_web_llm_generate)
int wgml_web_llm_generate(wgml_llm *llm, const char *prompt, uint32_t run, uint32_t max_tokens,
                          float temperature, uint32_t top_k, float top_p, float min_p,
                          float repeat_penalty, uint32_t repeat_last_n, uint64_t seed,
                          uint32_t ignore_eog, int32_t *tokens, uint32_t tokens_cap,
                          char *stats, uint32_t stats_cap)
{
    wgml_generate_params gp = {
        .max_tokens = max_tokens, .temperature = temperature, .top_k = top_k, .top_p = top_p,
        .min_p = min_p, .repeat_penalty = repeat_penalty, .repeat_last_n = repeat_last_n,
        .seed = seed, .ignore_eog = ignore_eog != 0, .tokens = tokens, .tokens_cap = tokens_cap};
    text_sink k = {run};
    wgml_generate_stats s;
    wgml_status st = wgml_llm_generate(llm, prompt, &gp, on_text, &k, &s);
    if (stats && stats_cap) {
        out o = {stats, stats_cap, 0};
        put(&o, "{\"prompt_tokens\":%u,\"cached_tokens\":%u,\"generated_tokens\":%u,"
                "\"prefill_seconds\":%.6f,\"decode_seconds\":%.6f,\"prefill_tokens_per_s\":%.3f,"
                "\"decode_tokens_per_s\":%.3f,\"stop\":\"%s\"}",
            s.prompt_tokens, s.cached_tokens, s.generated_tokens, s.prefill_seconds,
            s.decode_seconds, s.prefill_tokens_per_s, s.decode_tokens_per_s, stop_name(s.stop));
        if (o.n >= stats_cap) o.n = stats_cap - 1;
        stats[o.n] = 0;
    }
    return st;
}

// The prompt for a conversation in the model's chat template: n messages as
// (role, content) string pairs at msgs[2i], msgs[2i + 1]. The text (free()
// it) or NULL on failure, with the status in *status and the reason in
// wgml_ctx_last_error.
EXPORT(wgml_web_llm_chat_prompt)
char *wgml_web_llm_chat_prompt(wgml_llm *llm, const char *const *msgs, uint32_t n, int *status)
{
    wgml_chat_message *m = calloc(n ? n : 1, sizeof *m);
    if (!m) {
        *status = WGML_ERR_OUT_OF_MEMORY;
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) m[i] = (wgml_chat_message){msgs[2 * i], msgs[2 * i + 1]};
    char *text = NULL;
    *status = wgml_llm_chat_prompt(llm, m, n, &text);
    free(m);
    return text;
}
