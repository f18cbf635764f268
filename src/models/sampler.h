/*
 * Token sampling on the GPU: logits (V f32, in a GPU buffer) -> one token id,
 * recorded into the same run as the forward pass so a generated token costs
 * one submit, and only the chosen id (4 bytes) is read back.
 *
 * Order, as llama.cpp's common sampler applies them: repetition penalty over
 * the last tokens, then greedy (temperature 0) or top-k, top-p, min-p,
 * temperature, and a draw from the softmax with a seeded counter-based random
 * number (so a seed reproduces a run on any device). A plain C reference
 * (wgml_sampler_reference) takes the same steps and the same random number.
 *
 * (Interface written ahead of the implementation: models/sampler.c.)
 */
#ifndef WGML_SAMPLER_H
#define WGML_SAMPLER_H

#include "gpu/gpu.h"

typedef struct wgml_sampler_params {
    float temperature;       // 0: greedy (argmax; ties to the lowest id)
    uint32_t top_k;          // 0: off
    float top_p;             // 1 (or 0): off
    float min_p;             // 0: off
    float repeat_penalty;    // 1 (or 0): off; divides positive logits, multiplies negative ones
    uint32_t repeat_last_n;  // tokens the penalty looks back over
    uint64_t seed;
} wgml_sampler_params;

typedef struct wgml_sampler wgml_sampler;

wgml_status wgml_sampler_create(wgml_gpu *gpu, uint32_t n_vocab, const wgml_sampler_params *p,
                                wgml_sampler **out);
void wgml_sampler_free(wgml_sampler *s);

// Records the sampling of step `step` (the random number's counter) from
// `logits` (n_vocab f32 at `offset`); `recent` are the last tokens for the
// penalty (the sampler keeps at most repeat_last_n of them).
wgml_status wgml_sampler_record(wgml_sampler *s, wgml_gpu_buf *logits, uint64_t offset,
                                const int32_t *recent, uint32_t n_recent, uint64_t step);
// After the run was submitted: the chosen id.
wgml_status wgml_sampler_result(wgml_sampler *s, int32_t *token);

// The C reference: the same choice from host logits.
int32_t wgml_sampler_reference(const wgml_sampler_params *p, const float *logits,
                               uint32_t n_vocab, const int32_t *recent, uint32_t n_recent,
                               uint64_t step);

#endif
