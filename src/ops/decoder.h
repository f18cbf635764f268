/*
 * Ops of decoder-only transformers (the Llama family): rotary position
 * embedding, the KV cache, causal attention for decode and prefill, fused
 * residual add + RMSNorm, SwiGLU, the embedding gather from a quantised table
 * and the prefill GEMM over quantised weights. Each has a plain C reference
 * (the wgml_ref_* functions below, src/ops/decoder_ref.c) that is its
 * specification.
 *
 * Dimension legend
 *   n        token rows of one call, at positions pos .. pos + n - 1
 *   H, HKV   query heads and key/value heads; G = H / HKV query heads share
 *            one key/value head (grouped-query attention: query head h reads
 *            key/value head h / G)
 *   HD       the size of one head; R <= HD the rotated dimensions (even)
 *   C        KV cache capacity in positions
 *   D, F, V  embedding size, feed-forward size, vocabulary
 *   M, N, K  GEMM: y (M x N) = x (M x K) times W^T, W stored N x K
 *
 * Matrices of rows inside a buffer (wgml_mat) name their first element and
 * row stride in elements, so ops can read and write column ranges of a
 * wider matrix without the 256-byte view alignment: element (r, c) is at
 * offset + r * stride + c of the view, which starts at an aligned offset.
 *
 * The KV cache of one layer is two buffers, keys and values, each laid out
 * (HKV, C, HD) in f16 (shader-f16 devices) or f32: one head's positions are
 * contiguous, so attention streams them.
 *
 * Rotary embedding (RoPE), as ggml defines it (ggml_rope_ext with no YaRN):
 * pair i < R/2 of a head rotates by the angle
 *     theta(p, i) = s * p * b^(-2i/R) / f_i
 * at position p, with base b, linear scale s (1/factor) and optional
 * per-pair frequency factors f_i (Llama 3.1's rope_freqs; 1 otherwise). The
 * angles are computed in f32 as ggml's CPU backend does (b^(-2/R) raised
 * by repeated multiplication) so that they equal llama.cpp's. Pairs:
 *   normal (Llama GGUF files, whose Q/K weights are stored permuted for it):
 *          elements (2i, 2i + 1)
 *   NeoX (Qwen2, ...): elements (i, i + R/2)
 * and (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos). Dimensions past R pass
 * through. The GPU ops read cos and sin from a table (wgml_rope_table_fill):
 * WGSL's sin and cos are accurate only on [-pi, pi] and angles reach
 * thousands of radians.
 */
#ifndef WGML_DECODER_H
#define WGML_DECODER_H

#include "formats/quant.h"
#include "ops/ops.h"

typedef struct wgml_mat {
    wgml_view v;       // the buffer and an aligned byte offset
    uint32_t offset;   // elements from v to element (0, 0)
    uint32_t stride;   // elements from one row to the next
} wgml_mat;

// A contiguous matrix of rows of `cols` elements at view v.
wgml_mat wgml_mat_of(wgml_view v, uint32_t cols);

// ---------------------------------------------------------------- RoPE

typedef struct wgml_rope_params {
    uint32_t n_rot;          // R: rotated dimensions of a head (even, <= HD)
    bool neox;               // halves (NeoX) rather than adjacent pairs
    float base;              // b (llama.rope.freq_base)
    float scale;             // s: 1 / the linear scaling factor (1: none)
    const float *freq_factors;   // R/2 factors f_i, or NULL
} wgml_rope_params;

// The table the GPU ops read: for each position p < n_pos and pair i < R/2,
// (cos, sin) of theta(p, i) as two f32, i.e. n_pos * R floats.
void wgml_rope_table_fill(const wgml_rope_params *r, uint32_t n_pos, float *table);

// Rotates x in place: n rows, each of `heads` heads of HD f32 (head h at
// columns h*HD), row r at position pos + r; with bias (its buf may be NULL)
// heads*HD f32 added to each row first (Qwen2's attention biases). table: at
// least pos + n positions of wgml_rope_table_fill.
typedef struct wgml_rope_args {
    wgml_mat x;
    wgml_view bias;
    wgml_view table;
    uint32_t n, heads, head_dim, n_rot, pos;
    bool neox;
} wgml_rope_args;
wgml_status wgml_op_rope(wgml_gpu *gpu, const wgml_rope_args *a);

// ---------------------------------------------------------------- KV cache

// Writes n rows of src (HKV heads of HD f32, plus bias when given, rotated
// when `rotate`: keys) into the cache (HKV, C, HD) of cache_type at
// positions pos .. pos + n - 1, rounding to f16 for an f16 cache.
typedef struct wgml_kv_store_args {
    wgml_mat src;
    wgml_view bias;       // buf NULL: none
    wgml_view cache;
    wgml_dtype cache_type;
    uint32_t capacity;    // C
    bool rotate;          // apply RoPE (keys); table, n_rot and neox then apply
    wgml_view table;
    uint32_t n_rot;
    bool neox;
    uint32_t n, kv_heads, head_dim, pos;
} wgml_kv_store_args;
wgml_status wgml_op_kv_store(wgml_gpu *gpu, const wgml_kv_store_args *a);

// Both at once, one dispatch, for rows of q | k | v (H heads of queries, then
// HKV of keys, then HKV of values, side by side: a stacked projection's
// output), with bias ((H + 2 HKV) * HD f32, or buf NULL) added first: q
// rotated in place, k rotated into k_cache, v into v_cache, each cache
// (HKV, C, HD) of cache_type, at positions pos .. pos + n - 1.
typedef struct wgml_rope_qkv_args {
    wgml_mat qkv;
    wgml_view bias;
    wgml_view table;
    wgml_view k_cache, v_cache;
    wgml_dtype cache_type;
    uint32_t capacity, n, heads, kv_heads, head_dim, n_rot, pos;
    bool neox;
} wgml_rope_qkv_args;
wgml_status wgml_op_rope_qkv(wgml_gpu *gpu, const wgml_rope_qkv_args *a);

// ---------------------------------------------------------------- attention

// Causal attention of n query rows at positions pos .. pos + n - 1 over the
// cache: query row r, head h attends keys 0 .. pos + r of key/value head
// h / G, out[r, h] = softmax(q k^T * scale) v. q and out: n rows of H*HD f32.
// HD a multiple of 4, at most 256.
typedef struct wgml_attn_args {
    wgml_mat q, out;
    wgml_view k, v;          // caches (HKV, C, HD)
    wgml_dtype kv_type;
    wgml_view scratch;       // decode: wgml_attn_decode_scratch_bytes
    uint32_t n, pos, capacity, heads, kv_heads, head_dim;
    float scale;
    bool narrow_tile;        // decode: the 64-invocation tile kernel, which devices take
                             // where tile_wide's (256) does not fit (tests)
} wgml_attn_args;

// One query row (n == 1): the keys split into tiles of WGML_ATTN_DECODE_TILE
// over workgroups (flash decoding), each tile's softmax statistics and
// weighted values in scratch, then combined; scales to long contexts. A
// tile takes 256 invocations where its workgroup memory fits, else 64.
enum { WGML_ATTN_DECODE_TILE = 64 };
uint64_t wgml_attn_decode_scratch_bytes(uint32_t heads, uint32_t head_dim, uint32_t n_keys);
wgml_status wgml_op_attn_decode(wgml_gpu *gpu, const wgml_attn_args *a);
// Any n: queries in tiles, one per invocation, keys streamed through
// workgroup memory in tiles with an online softmax (flash attention); no
// n x n score matrix exists anywhere.
wgml_status wgml_op_attn_prefill(wgml_gpu *gpu, const wgml_attn_args *a);
wgml_cost wgml_op_attn_cost(uint32_t n, uint32_t pos, uint32_t heads, uint32_t kv_heads,
                            uint32_t head_dim, wgml_dtype kv_type);

// ---------------------------------------------------------------- rows

// The residual stream's step: x += d (when d.v.buf is not NULL), then
// y = x / sqrt(mean(x^2) + eps) * gamma, over n rows of `cols` f32. x is
// updated in place; y must not overlap x.
wgml_status wgml_op_add_rmsnorm(wgml_gpu *gpu, wgml_mat x, wgml_mat d, wgml_view gamma,
                                wgml_mat y, uint32_t n, uint32_t cols, float eps);

// out (n x F, contiguous) = silu(gate) * up, silu(g) = g / (1 + exp(-g)).
wgml_status wgml_op_swiglu(wgml_gpu *gpu, wgml_mat gate, wgml_mat up, wgml_view out,
                           uint32_t n, uint32_t cols);

// out row r = the f32 values of row ids[r] of `table` (V x D in the GEMV
// layout of `format`, src/ops/gemv.h); an id >= V gives a row of zeros.
// ids: n u32 from element ids_offset of the view.
wgml_status wgml_op_embed(wgml_gpu *gpu, wgml_quant format, wgml_view table, wgml_view ids,
                          uint32_t ids_offset, wgml_mat out, uint32_t n, uint32_t vocab,
                          uint32_t dim);

// ---------------------------------------------------------------- GEMM

// y (M x N) = x (M x K) W^T for W (N x K) in the GEMV layout of `format`
// (gemv.h), x and y f32: the prefill projections. Register-tiled like
// matmul.wgsl, with W's tile dequantised into workgroup memory (tiles of 32
// along K: one block of the block formats).
// Where the device has f16 subgroup matrices (matmul_sgm.h) and W is F16,
// Q8_0, Q4_0 or Q4_1, the product runs on them instead: x and the
// dequantised weights rounded to f16 as they are staged, f32 sums.
wgml_status wgml_op_matmul_q(wgml_gpu *gpu, wgml_quant format, wgml_view w, wgml_mat x,
                             wgml_mat y, uint32_t M, uint32_t N, uint32_t K);
// The same with the kernel chosen: WGML_MATMUL_TILED keeps f32 arithmetic.
wgml_status wgml_op_matmul_q_variant(wgml_gpu *gpu, wgml_matmul_variant variant,
                                     wgml_quant format, wgml_view w, wgml_mat x, wgml_mat y,
                                     uint32_t M, uint32_t N, uint32_t K);

// ---------------------------------------------------------------- references

// x (n rows, stride) rotated in place as wgml_op_rope, angles computed here
// from r (not from a table).
void wgml_ref_rope(const wgml_rope_params *r, float *x, size_t n, size_t stride, size_t heads,
                   size_t head_dim, uint32_t pos);
// q, out: n x (H*HD); k, v: caches (HKV, C, HD) f32. Sums in double.
void wgml_ref_attn_causal(const float *q, const float *k, const float *v, float *out, size_t n,
                          size_t pos, size_t capacity, size_t heads, size_t kv_heads,
                          size_t head_dim, float scale);
// x (n x cols) += d (may be NULL); y = rmsnorm(x) * gamma.
void wgml_ref_add_rmsnorm(float *x, const float *d, const float *gamma, float *y, size_t n,
                          size_t cols, float eps);
void wgml_ref_swiglu(const float *gate, const float *up, float *out, size_t count);

#endif
