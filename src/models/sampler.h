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
 * The rules, exactly (wgml_sampler_reference is their readable form):
 *   - penalty: each distinct id among the last repeat_last_n recent tokens
 *     (ids outside the vocabulary ignored) has its logit multiplied by
 *     1/penalty when positive, by penalty otherwise; 1/penalty is rounded to
 *     float once. It is applied IN PLACE to the logits buffer.
 *   - logits are compared in the float's total order (-0 below +0); NaN and
 *     -inf are never chosen while a finite logit exists (else id 0); +inf
 *     counts as the largest finite float.
 *   - greedy: the largest logit, ties to the lowest id.
 *   - top-k: keep logits >= the k-th largest (ties at the boundary kept);
 *     top-p: over those, with p_i = exp(l_i - max) / Z at temperature 1 (as
 *     llama.cpp, before temperature), keep logits >= the largest value v
 *     whose survivors' mass reaches top_p; min-p: keep l_i >= max +
 *     (float)ln(min_p) (float addition). The survivors are the intersection.
 *   - draw: weights exp((l_i - max) / T) over the survivors; with r the
 *     32-bit Philox4x32-10 output for (seed, step), the first id (in id
 *     order) whose cumulative weight exceeds r / 2^32 of the total.
 * The GPU sums weights in 64-bit fixed point (exact, order-free) where the
 * reference sums doubles, and its exp is the device's: the two can differ
 * only when r falls within about 1e-6 of a boundary between two tokens' (or
 * top-p's) cumulative mass.
 */
#ifndef WGML_SAMPLER_H
#define WGML_SAMPLER_H

#include "gpu/gpu.h"

typedef struct wgml_sampler_params {
    float temperature;       // <= 0: greedy (argmax; ties to the lowest id)
    uint32_t top_k;          // 0: off
    float top_p;             // 1 (or 0): off
    float min_p;             // 0: off
    float repeat_penalty;    // 1 (or 0): off; divides positive logits, multiplies negative ones
    uint32_t repeat_last_n;  // tokens the penalty looks back over (at most WGML_SAMPLER_MAX_LAST_N)
    uint64_t seed;
} wgml_sampler_params;

enum { WGML_SAMPLER_MAX_LAST_N = 8192, WGML_SAMPLER_MAX_VOCAB = 1 << 24 };

typedef struct wgml_sampler wgml_sampler;

wgml_status wgml_sampler_create(wgml_gpu *gpu, uint32_t n_vocab, const wgml_sampler_params *p,
                                wgml_sampler **out);
// The same with at most max_groups (1..1024; 0: the device's default)
// workgroups per pass over V. The choice never changes a result (tests, tuning).
wgml_status wgml_sampler_create_groups(wgml_gpu *gpu, uint32_t n_vocab,
                                       const wgml_sampler_params *p, uint32_t max_groups,
                                       wgml_sampler **out);
void wgml_sampler_free(wgml_sampler *s);

// Records the sampling of step `step` (the random number's counter) from
// `logits` (n_vocab f32 at `offset`, a multiple of the device's storage offset
// alignment); `recent` are the last tokens for the penalty (the sampler keeps
// at most repeat_last_n of them). One record per sampler per submit: the
// result and the work buffers are the sampler's.
wgml_status wgml_sampler_record(wgml_sampler *s, wgml_gpu_buf *logits, uint64_t offset,
                                const int32_t *recent, uint32_t n_recent, uint64_t step);
// Chained generation: as wgml_sampler_record, with the penalty's recent
// tokens read on the GPU from `tokens` (u32 ids, e.g. a model's token
// buffer) at elements first .. first + n_recent - 1 (the last repeat_last_n
// of them count), and the chosen id also stored at element `out` of tokens,
// where the next step's forward pass reads it. Any number of these may be
// recorded into one run (they use the sampler's work buffers in turn);
// wgml_sampler_result gives the last one's id.
wgml_status wgml_sampler_record_chained(wgml_sampler *s, wgml_gpu_buf *logits, uint64_t offset,
                                        wgml_gpu_buf *tokens, uint32_t first, uint32_t n_recent,
                                        uint32_t out, uint64_t step);
// After the run was submitted: the chosen id.
wgml_status wgml_sampler_result(wgml_sampler *s, int32_t *token);
// After the run was submitted: the random number the draw used (0 when greedy; tests).
wgml_status wgml_sampler_result_random(wgml_sampler *s, uint32_t *r);
// Dispatches one record takes (tests, accounting).
uint32_t wgml_sampler_dispatches(const wgml_sampler *s, bool with_penalty);

// The C reference: the same choice from host logits. -1 for invalid parameters.
int32_t wgml_sampler_reference(const wgml_sampler_params *p, const float *logits,
                               uint32_t n_vocab, const int32_t *recent, uint32_t n_recent,
                               uint64_t step);

// Philox4x32-10 with key (seed low, high word) and counter (step low, high, 0,
// 0): the first output word, as the GPU computes it.
uint32_t wgml_sampler_random(uint64_t seed, uint64_t step);
// The whole block (tests against the Random123 known answers).
void wgml_sampler_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

#endif
