/*
 * A plain C reference of the Llama-family forward pass (llama.h), one token
 * at a time, in the style of llama2.c's run.c: readable, f32 activations,
 * weights dequantised to f32 at load with the GGUF host dequantisers, sums in
 * double. The specification the GPU decoder is tested against; slow, and
 * holding every weight in f32 (four bytes a parameter).
 *
 * Dimension legend as in llama.h.
 */
#ifndef WGML_LLAMA_REF_H
#define WGML_LLAMA_REF_H

#include "models/llama.h"

typedef struct wgml_llama_ref wgml_llama_ref;

typedef struct wgml_llama_ref_params {
    uint32_t n_ctx;        // cache capacity
    bool f16_kv;           // keys and values rounded to f16 as they enter the
                           // cache (what the GPU's f16 cache holds)
    bool kquants_as_q8_0;  // Q4_K and Q6_K matrices requantised to Q8_0 (with
                           // formats/quant.h's quantiser) and dequantised, as
                           // the GPU decoder holds them
} wgml_llama_ref_params;

wgml_status wgml_llama_ref_load(wgml_gguf *g, const wgml_llama_ref_params *p,
                                wgml_llama_ref **out, char *err, size_t err_size);
void wgml_llama_ref_free(wgml_llama_ref *r);
const wgml_llama_config *wgml_llama_ref_config(const wgml_llama_ref *r);

// Runs `token` at position `pos` (its key and value enter the cache there;
// positions below pos hold what earlier calls put there) and writes the V
// logits.
wgml_status wgml_llama_ref_step(wgml_llama_ref *r, int32_t token, uint32_t pos, float *logits);

#endif
