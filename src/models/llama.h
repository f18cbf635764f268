/*
 * Llama-family decoders (Llama 2/3, SmolLM2, Qwen2-style files of the llama
 * architecture) from a GGUF file, on the GPU, with a KV cache.
 *
 * Per layer: x += Wo·attn(RoPE(Wq·rmsnorm(x)), RoPE(Wk·rmsnorm(x)), Wv·rmsnorm(x))
 *            x += Wdown·(silu(Wgate·rmsnorm(x)) * Wup·rmsnorm(x))
 * then rmsnorm and the output projection (tied to token_embd when the file
 * has no output.weight). Grouped-query attention: H query heads share HKV
 * key/value heads. Prefill runs the projections as GEMMs, decode as GEMVs.
 *
 * Dimension legend: D embedding length = H * HD; HKV key/value heads; F
 * feed-forward length; V vocabulary; C context length (KV cache capacity);
 * n tokens in one forward call.
 *
 * Weights keep their GGUF format on the GPU where the kernels read it (F32,
 * F16, Q8_0, Q4_0, Q4_1); BF16 becomes F16 (F32 where a value exceeds f16's
 * range), Q4_K and Q6_K are dequantised on the host and requantised to Q8_0.
 * Activations and the residual stream are f32; the KV cache is f16 where the
 * device has shader-f16 (unless f32_activations), else f32.
 */
#ifndef WGML_LLAMA_H
#define WGML_LLAMA_H

#include "formats/gguf.h"
#include "gpu/gpu.h"
#include "ops/gemv.h"
#include "ops/ops.h"

typedef struct wgml_llama_config {
    uint32_t n_vocab;          // V
    uint32_t dim;              // D
    uint32_t n_layers;
    uint32_t n_heads;          // H
    uint32_t n_kv_heads;       // HKV
    uint32_t head_dim;         // HD
    uint32_t ffn_dim;          // F
    uint32_t n_ctx_train;      // the file's context length
    float rms_eps;
    float rope_base;
    float rope_scale;          // linear scaling factor (1 = none)
    bool rope_neox;            // rotate halves (NeoX/Qwen2) rather than pairs (Llama)
    bool tied_output;          // output projection = token_embd
    uint32_t n_rot;            // R: rotated dimensions of a head (rope.dimension_count; <= HD)
    bool qkv_bias;             // Q/K/V projections have biases (Qwen2)
    bool rope_freq_factors;    // the file has rope_freqs.weight (Llama 3.1 style)
    char arch[16];             // general.architecture: "llama" or "qwen2"
} wgml_llama_config;

// Reads and checks the config from the GGUF metadata and tensor shapes
// (general.architecture "llama" or "qwen2"; {arch}.block_count,
// embedding_length, feed_forward_length, context_length,
// attention.head_count, attention.head_count_kv, attention.key_length,
// attention.value_length, attention.layer_norm_rms_epsilon, rope.freq_base,
// rope.dimension_count, rope.scaling.type/factor or rope.scale_linear).
// WGML_ERR_BAD_FILE or WGML_ERR_UNSUPPORTED with the reason in err.
wgml_status wgml_llama_config_read(const wgml_gguf *g, wgml_llama_config *c, char *err,
                                   size_t err_size);

typedef struct wgml_llama_params {
    uint32_t n_ctx;            // KV cache capacity in tokens; 0: min(file's, 4096)
    bool f32_activations;      // force f32 activations and KV cache (default: f16 where the device has shader-f16)
    // The arithmetic of the decode GEMVs (ops/gemv.h): 0 chooses (integer
    // dot products over int8-quantised activations for the integer formats
    // where the device has them, as llama.cpp's CPU backend does); tests
    // force WGML_GEMV_MATH_FLOAT to compare with the f32 reference tightly,
    // which also keeps the prefill GEMMs in f32 (else they run on subgroup
    // matrices where the device has them, rounding x and W to f16).
    wgml_gemv_math gemv_math;
    // Decode GEMVs leave the RMSNorms to dispatches of their own, as they do
    // for D above 8192 (tests keep that path covered with small models).
    bool separate_norms;
} wgml_llama_params;

typedef struct wgml_llama wgml_llama;

// Reads the config and the weights from `g` and uploads them (weights keep
// their GGUF block format where the GEMV kernels read it directly). Refuses a
// model with a buffer past the device limits before any upload, with
// WGML_ERR_OUT_OF_MEMORY and the bytes it needs (in all, and in its largest
// buffer). Errors are recorded on gpu (wgml_gpu_last_error).
wgml_status wgml_llama_load(wgml_gpu *gpu, wgml_gguf *g, const wgml_llama_params *p,
                            wgml_llama **out);
void wgml_llama_free(wgml_llama *m);
// After a device loss and wgml_gpu_recover (which makes every buffer again,
// zero-filled, behind the same handles): writes the weights and tables again
// from `g`, which must hold the model that was loaded (WGML_ERR_BAD_FILE
// otherwise). The KV cache is left zero: its owner recomputes what it needs
// (wgml_llama_record from position 0). Errors are recorded on the gpu.
wgml_status wgml_llama_restore(wgml_llama *m, wgml_gguf *g);
const wgml_llama_config *wgml_llama_config_of(const wgml_llama *m);
uint32_t wgml_llama_n_ctx(const wgml_llama *m);
// Whether the KV cache holds f16 (else f32).
bool wgml_llama_kv_f16(const wgml_llama *m);
// Bytes of GPU memory the model holds: weights, KV cache, activations.
uint64_t wgml_llama_gpu_bytes(const wgml_llama *m);

// Records (does not submit) the forward pass of tokens[0..n) at positions
// pos..pos+n-1, writing their keys and values into the KV cache; positions
// from pos on are overwritten, so pos = 0 starts a new sequence. The last
// token's logits (V f32) land in *logits (a buffer owned by the model, valid
// until the next call). pos + n <= n_ctx. The caller may record more work
// (a sampler) after it and submits once.
wgml_status wgml_llama_record(wgml_llama *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                              wgml_gpu_buf **logits);

// As wgml_llama_record for one token whose id (a u32 or non-negative i32)
// the GPU holds at `token` (a sampler's result): recording the next step
// needs no readback, so the host can record it while the GPU runs this one.
// An id outside the vocabulary gives a zero embedding row (the GPU cannot
// refuse it).
wgml_status wgml_llama_record_gpu_token(wgml_llama *m, wgml_view token, uint32_t pos,
                                        wgml_gpu_buf **logits);

// The model's token buffer: u32 element p holds the id of the token at
// position p (C + 1 elements: element C takes the token sampled after the
// last position). wgml_llama_record writes its tokens there; a chained
// sampler (wgml_sampler_record_chained) stores the next token there, and
// its penalty reads the recent tokens from there.
wgml_gpu_buf *wgml_llama_tokens(const wgml_llama *m);

// As wgml_llama_record for the one token at element pos of the token buffer,
// put there on the GPU (by a chained sampler) or by an earlier call: steps of
// generation recorded back to back with no readback between them. pos < C.
wgml_status wgml_llama_record_at(wgml_llama *m, uint32_t pos, wgml_gpu_buf **logits);

// Runs the forward pass and reads logits back (tests, reference checks): the
// last token's (V floats) or, with all_positions, every token's (n x V).
wgml_status wgml_llama_logits(wgml_llama *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                              bool all_positions, float *out);

#endif
