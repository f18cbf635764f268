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
 * (Interface written ahead of the implementation: models/llama.c.)
 */
#ifndef WGML_LLAMA_H
#define WGML_LLAMA_H

#include "formats/gguf.h"
#include "gpu/gpu.h"

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
} wgml_llama_config;

typedef struct wgml_llama_params {
    uint32_t n_ctx;            // KV cache capacity in tokens; 0: min(file's, 4096)
    bool f32_activations;      // force f32 activations and KV cache (default: f16 where the device has shader-f16)
} wgml_llama_params;

typedef struct wgml_llama wgml_llama;

// Reads the config and the weights from `g` and uploads them (weights keep
// their GGUF block format where the GEMV kernels read it directly). Refuses a
// model that does not fit the device limits before any upload, saying how
// many bytes it needs. Errors are recorded on gpu (wgml_gpu_last_error).
wgml_status wgml_llama_load(wgml_gpu *gpu, wgml_gguf *g, const wgml_llama_params *p,
                            wgml_llama **out);
void wgml_llama_free(wgml_llama *m);
const wgml_llama_config *wgml_llama_config_of(const wgml_llama *m);
uint32_t wgml_llama_n_ctx(const wgml_llama *m);

// Records (does not submit) the forward pass of tokens[0..n) at positions
// pos..pos+n-1, writing their keys and values into the KV cache; positions
// from pos on are overwritten, so pos = 0 starts a new sequence. The last
// token's logits (V f32) land in *logits (a buffer owned by the model, valid
// until the next call). pos + n <= n_ctx. The caller may record more work
// (a sampler) after it and submits once.
wgml_status wgml_llama_record(wgml_llama *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                              wgml_gpu_buf **logits);

// Runs the forward pass and reads logits back (tests, reference checks): the
// last token's (V floats) or, with all_positions, every token's (n x V).
wgml_status wgml_llama_logits(wgml_llama *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                              bool all_positions, float *out);

#endif
