/*
 * wgml — a machine-learning runtime on WebGPU.
 *
 * Public C API. Handles are opaque; every call that depends on input or on the
 * GPU returns a wgml_status, and the context keeps a message for the last
 * failure (wgml_ctx_last_error). Parameter structs treat zero as "default".
 * The library never exits or aborts because of bad input or a GPU fault.
 */
#ifndef WGML_H
#define WGML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wgml_status {
    WGML_OK = 0,
    WGML_ERR_INVALID_ARGUMENT,
    WGML_ERR_BAD_FILE,
    WGML_ERR_UNSUPPORTED,
    WGML_ERR_OUT_OF_MEMORY,
    WGML_ERR_DEVICE_LOST,
    WGML_ERR_GPU,
} wgml_status;

// A short, stable name for a status ("ok", "invalid argument", ...).
const char *wgml_status_name(wgml_status status);

typedef struct wgml_ctx wgml_ctx;

typedef enum wgml_power_preference {
    WGML_POWER_DEFAULT = 0,
    WGML_POWER_LOW,
    WGML_POWER_HIGH,
} wgml_power_preference;

typedef struct wgml_ctx_params {
    wgml_power_preference power;   // adapter choice hint
    bool disable_f16;              // do not use shader-f16 even if present
    bool disable_subgroups;        // do not use subgroups even if present
    bool disable_timestamps;       // do not request timestamp queries
    bool bounds_checks;            // keep the implementation's bounds checks on
                                   // kernels' buffer accesses; on Dawn wgml
                                   // turns them off by default (its kernels
                                   // check their own bounds), which made
                                   // prefill 1.9x faster on an H100
} wgml_ctx_params;

// Creates a context on the default GPU adapter. On failure *out is NULL and,
// when err is not NULL, a message is written to err (at most err_size bytes).
wgml_status wgml_ctx_create(const wgml_ctx_params *params, wgml_ctx **out,
                            char *err, size_t err_size);
void        wgml_ctx_free(wgml_ctx *ctx);
// The message of the last failed call on this context ("" when none).
const char *wgml_ctx_last_error(const wgml_ctx *ctx);

// One shape of subgroup (cooperative) matrix the device multiplies: an
// M x K by K x N product of `component` elements accumulated in `result`.
typedef struct wgml_subgroup_matrix_config {
    const char *component;   // "f16", "f32", "i8", "u8", "i32", "u32"
    const char *result;
    uint32_t M, N, K;
} wgml_subgroup_matrix_config;

enum { WGML_MAX_SUBGROUP_MATRIX_CONFIGS = 16 };

// What the adapter is and can do. Strings are owned by the context.
typedef struct wgml_device_info {
    const char *implementation;    // "dawn", "wgpu-native" or "browser"
    const char *vendor;
    const char *architecture;
    const char *device;
    const char *description;
    const char *backend;           // "vulkan", "metal", "d3d12", ...
    const char *adapter_type;      // "discrete", "integrated", "cpu", "unknown"
    uint32_t vendor_id, device_id;

    bool shader_f16;               // feature enabled on the device
    bool subgroups;
    bool timestamp_query;
    bool packed_dot4;              // WGSL packed_4x8_integer_dot_product
    bool subgroup_matrix;          // cooperative matrices (Dawn experimental)
    bool bounds_checks;            // the implementation clamps kernels' buffer
                                   // accesses (Dawn: robustness on)
    uint32_t n_subgroup_matrix_configs;
    wgml_subgroup_matrix_config subgroup_matrix_configs[WGML_MAX_SUBGROUP_MATRIX_CONFIGS];
    uint32_t subgroup_min_size, subgroup_max_size;  // 0 when unknown

    uint64_t device_memory;                    // bytes of the device's own memory (its
                                               // device-local heaps: system memory on CPU
                                               // and integrated devices); 0 where the
                                               // implementation does not say (WebGPU has
                                               // no such query; Dawn has one)
    uint64_t max_buffer_size;                  // bytes
    uint64_t max_storage_buffer_binding_size;  // bytes
    uint64_t max_uniform_buffer_binding_size;  // bytes
    uint32_t max_storage_buffers_per_stage;
    uint32_t max_compute_workgroup_storage_size;  // bytes
    uint32_t max_compute_invocations_per_workgroup;
    uint32_t max_compute_workgroup_size_x, max_compute_workgroup_size_y,
             max_compute_workgroup_size_z;
    uint32_t max_compute_workgroups_per_dimension;
    uint32_t min_storage_buffer_offset_alignment;  // bytes
    uint32_t min_uniform_buffer_offset_alignment;  // bytes
} wgml_device_info;

wgml_status wgml_ctx_device_info(wgml_ctx *ctx, wgml_device_info *out);

// ---------------------------------------------------------------- device loss
//
// A GPU device can be lost: a driver reset or crash, the GPU removed, the
// system reclaiming it. From then on every call that needs the device
// (wgml_embed included) returns WGML_ERR_DEVICE_LOST -- never zeros or stale
// vectors or tokens -- and wgml_ctx_device_lost is true. wgml_ctx_recover then
// requests a new device with the context's parameters and moves the context
// onto it: every model loaded on the context uploads its weights again and
// goes on giving the same results as before the loss. An embedder reads them
// from its model.safetensors, which stays mapped while it lives; a wgml_llm
// opens its GGUF file again by path (the file must stay in place, unchanged)
// and recomputes the KV cache of the tokens its context holds, so that the
// conversation goes on (see wgml_llm_continue). Handles stay valid. With no
// loss it returns WGML_OK at once. When it fails (no device to be had, a
// model that cannot be restored: WGML_ERR_BAD_FILE when an LLM's file is gone
// or changed) the context stays lost, the reason is in wgml_ctx_last_error,
// and wgml_ctx_recover may be called again later (after freeing a model that
// cannot come back, for the others).
bool        wgml_ctx_device_lost(const wgml_ctx *ctx);
wgml_status wgml_ctx_recover(wgml_ctx *ctx);

// ---------------------------------------------------------------- embeddings
//
// Sentence embeddings from a BERT-family encoder in the sentence-transformers
// layout (e.g. all-MiniLM-L6-v2): a directory with config.json,
// model.safetensors, tokenizer.json or vocab.txt, and optionally modules.json
// with its Pooling (mean or CLS) and Normalize modules. Texts are UTF-8;
// each gives one float vector of wgml_embedder_dim values, the same whatever
// other texts share its batch. Failures are recorded on the context
// (wgml_ctx_last_error); the embedder must not outlive its context.

typedef struct wgml_embedder wgml_embedder;

typedef enum wgml_precision {
    WGML_PRECISION_AUTO = 0,   // F16 where the device has shader-f16, else F32
    WGML_PRECISION_F32,
    WGML_PRECISION_F16,        // f16 weights of the Linear layers, f32 activations and
                               // sums; WGML_ERR_UNSUPPORTED without shader-f16
} wgml_precision;

typedef struct wgml_embedder_params {
    wgml_precision precision;
    uint32_t max_batch;    // texts per GPU run, at most 4096; 0 means 32
    uint32_t max_tokens;   // truncation, special tokens included; 0 means the
                           // model's (sentence_bert_config.json max_seq_length,
                           // else its position count)
} wgml_embedder_params;

// A model whose weights do not fit the device's buffer limits is refused
// before anything is uploaded, with WGML_ERR_OUT_OF_MEMORY and a message
// giving the bytes it needs.
wgml_status wgml_embedder_load(wgml_ctx *ctx, const char *dir, const wgml_embedder_params *params,
                               wgml_embedder **out);
void        wgml_embedder_free(wgml_embedder *e);
// Values per embedding (the model's hidden size).
uint32_t    wgml_embedder_dim(const wgml_embedder *e);
// Embeds n texts: texts[i] has lens[i] bytes (lens NULL: NUL-terminated) and
// its vector goes to out[i * dim ...]; out holds n * dim floats. Texts past
// max_tokens are truncated, as sentence-transformers does. On failure the
// contents of out are undefined (a device lost in the middle of the call
// leaves the vectors of earlier batches there).
wgml_status wgml_embed(wgml_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                       float *out);

// ---------------------------------------------------------------- text generation
//
// Llama-family decoders (Llama 2/3, SmolLM2, Qwen2) from a GGUF file, with the
// file's tokenizer and chat template. A generation tokenizes the prompt,
// prefills it and samples the first token in one GPU submit, then takes one
// submit per token (its forward pass and its sampling, on the GPU; only the
// chosen id comes back). The KV cache persists between calls: a prompt that
// starts with the tokens already in it (an earlier prompt and the tokens
// generated from it, as a conversation grows) prefills only the rest.
// Failures are recorded on the context (wgml_ctx_last_error); the model must
// not outlive its context.

typedef struct wgml_llm wgml_llm;

typedef struct wgml_llm_params {
    uint32_t n_ctx;            // context (KV cache) in tokens; 0: min(the model's, 4096)
    wgml_precision precision;  // AUTO: f16 KV cache where the device has shader-f16;
                               // F32: f32 activations and cache; F16: f16 cache or
                               // WGML_ERR_UNSUPPORTED
} wgml_llm_params;

// What was loaded. Strings are owned by the model.
typedef struct wgml_llm_info {
    const char *name;           // general.name ("" when absent)
    const char *architecture;   // general.architecture: "llama", "qwen2"
    const char *chat_format;    // "chatml", "llama3", "llama2"; "" when the file's
                                // chat template is not one wgml renders
    uint32_t n_vocab, n_ctx, n_ctx_train, n_layers, dim;
    bool kv_f16;                // the KV cache holds f16
    uint64_t gpu_bytes;         // weights, KV cache, activations
    double load_seconds;        // from the file to the GPU
} wgml_llm_info;

// WGML_ERR_BAD_FILE / WGML_ERR_UNSUPPORTED with the loader's message for a
// file that is not a usable model. A model with a buffer (a weight, a layer's
// KV cache, activations) past the device's buffer limits is refused before
// anything is uploaded, with WGML_ERR_OUT_OF_MEMORY and a message giving the
// bytes it needs in all and in that buffer. The file is read again after a
// device loss (wgml_ctx_recover): keep it in place while the model lives.
wgml_status wgml_llm_load(wgml_ctx *ctx, const char *path, const wgml_llm_params *params,
                          wgml_llm **out);
void        wgml_llm_free(wgml_llm *llm);
const wgml_llm_info *wgml_llm_info_of(const wgml_llm *llm);

typedef struct wgml_generate_params {
    uint32_t max_tokens;       // 0: until an end-of-generation token or a full context
    float temperature;         // 0: greedy (the most likely token; ties to the lowest id)
    uint32_t top_k;            // 0: off
    float top_p;               // 0 or 1: off
    float min_p;               // 0: off
    float repeat_penalty;      // 0 or 1: off
    uint32_t repeat_last_n;    // tokens the penalty looks back over (prompt included); 0: 64
    uint64_t seed;             // with the same prompt and context, the same text
    bool ignore_eog;           // go on past end-of-generation tokens
    int32_t *tokens;           // where not NULL: the ids generated, in order, the first
                               // tokens_cap of them (an end-of-generation token that stops
                               // the generation is not one); stats.generated_tokens counts all
    uint32_t tokens_cap;       // room in tokens
    // Decode steps recorded per submit (at most 64; 0: 16). Steps are chained
    // on the GPU (each samples the token the next one reads) and the next
    // batch is submitted before this one's tokens are read, so the host
    // records while the GPU works. The text does not depend on it; a stop
    // (end of generation, cancel) may leave up to two batches computed for
    // nothing, which later calls overwrite.
    uint32_t decode_batch;
} wgml_generate_params;

typedef enum wgml_stop_reason {
    WGML_STOP_NONE = 0,        // (the call failed)
    WGML_STOP_LENGTH,          // max_tokens generated
    WGML_STOP_EOG,             // an end-of-generation token (not part of the text)
    WGML_STOP_CONTEXT,         // the context is full
    WGML_STOP_CANCELLED,       // wgml_llm_cancel, or the text callback returned false
} wgml_stop_reason;

typedef struct wgml_generate_stats {
    uint32_t prompt_tokens;        // tokens of the prompt
    uint32_t cached_tokens;        // of them, already in the KV cache (not prefilled)
    uint32_t generated_tokens;     // tokens generated (an end-of-generation token not counted)
    double prefill_seconds;        // prefill and the first token's sampling
    double decode_seconds;         // every later token's forward pass and sampling
    double prefill_tokens_per_s;   // prefilled tokens / prefill_seconds
    double decode_tokens_per_s;    // tokens sampled after the first / decode_seconds
    wgml_stop_reason stop;
} wgml_generate_stats;

// Receives the generated text piece by piece: valid UTF-8 (never part of a
// character; bytes that cannot become one come out as U+FFFD). Returning
// false stops the generation.
typedef bool (*wgml_text_fn)(void *user, const char *text, size_t len);

// Generates from a UTF-8 prompt (tokenized with the vocabulary's BOS, special
// tokens such as "<|im_start|>" recognised). on_text and stats may be NULL.
// The context then holds the prompt and the tokens given to on_text (not an
// end-of-generation token, which is not given out; not a token given out at
// the context's end, which does not fit). When the device is lost during the
// call it returns WGML_ERR_DEVICE_LOST, having given out only tokens the GPU
// computed before the loss; the context keeps the prompt and every token
// given out, and wgml_ctx_recover recomputes its KV cache.
wgml_status wgml_llm_generate(wgml_llm *llm, const char *prompt,
                              const wgml_generate_params *params, wgml_text_fn on_text,
                              void *user, wgml_generate_stats *stats);
// Generates on from the context, as if the call that filled it had not
// stopped: after a max_tokens stop, a cancel, or a device loss followed by a
// successful wgml_ctx_recover. With the parameters (and seed) of that call it
// gives the tokens that call would have gone on to give (draws depend on the
// seed and the position only; max_tokens counts from here). After a device
// loss the KV cache is a recomputation by prefill of what decode steps had
// computed: equal up to rounding (with quantised weights, up to the 8-bit
// rounding of the decode steps' activations), so a near-tie can go the other
// way. The stats count the context as the prompt. WGML_ERR_INVALID_ARGUMENT
// on an empty context; a full context stops at once (WGML_STOP_CONTEXT).
wgml_status wgml_llm_continue(wgml_llm *llm, const wgml_generate_params *params,
                              wgml_text_fn on_text, void *user, wgml_generate_stats *stats);
// Stops a running wgml_llm_generate or wgml_llm_continue after the token in
// progress. Safe to call from a signal handler or another thread; each of
// those calls clears it first.
void        wgml_llm_cancel(wgml_llm *llm);
// Forgets the context and its KV cache: the next prompt is prefilled whole.
void        wgml_llm_reset(wgml_llm *llm);

// One message of a conversation.
typedef struct wgml_chat_message {
    const char *role;      // "system", "user" or "assistant"
    const char *content;   // UTF-8, NUL-terminated
} wgml_chat_message;

// The prompt for a conversation in the file's chat template (ChatML when the
// file has none), ending with the assistant's turn being opened. *text
// (NUL-terminated) is freed with free(). WGML_ERR_UNSUPPORTED for a template
// wgml does not render, WGML_ERR_INVALID_ARGUMENT for roles it cannot place.
wgml_status wgml_llm_chat_prompt(wgml_llm *llm, const wgml_chat_message *msgs, size_t n,
                                 char **text);

#ifdef __cplusplus
}
#endif
#endif
