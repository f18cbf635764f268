/*
 * Ops: shape checks + variant choice + dispatch, one function per op, each
 * with a plain C reference beside it (reference.h) that is its specification.
 *
 * Dimension legend
 *   n           elements of an elementwise op
 *   rows, cols  row-major matrix of a row-wise op (softmax, norms)
 *   M, N, K     matmul: A is M x K, B is K x N (N x K for matmul_nt), C is
 *               M x N, all row-major
 *   B, L        batch (sequences) and sequence length (tokens per sequence)
 *   H, HD       attention heads and the size of one head; D = H * HD
 *   V           rows of an embedding table (vocabulary)
 *
 * Ops record dispatches into the current run (see gpu.h); nothing runs until
 * wgml_gpu_submit. Tensors are views into GPU buffers; a view's offset must be
 * a multiple of the device's min_storage_buffer_offset_alignment.
 */
#ifndef WGML_OPS_H
#define WGML_OPS_H

#include "gpu/gpu.h"

typedef enum wgml_dtype { WGML_F32 = 0, WGML_F16 = 1 } wgml_dtype;
size_t wgml_dtype_size(wgml_dtype t);

typedef struct wgml_view {
    wgml_gpu_buf *buf;
    uint64_t offset;   // bytes
} wgml_view;

// What one op moves and computes: the systems lens. bytes counts each input
// read once and each output written once; flops counts multiply-adds as 2.
typedef struct wgml_cost {
    double bytes;
    double flops;
} wgml_cost;

typedef enum wgml_unary_op { WGML_UNARY_SCALE = 0, WGML_UNARY_GELU, WGML_UNARY_SILU } wgml_unary_op;
typedef enum wgml_binary_op { WGML_BINARY_ADD = 0, WGML_BINARY_MUL } wgml_binary_op;

const char *wgml_unary_name(wgml_unary_op op);
const char *wgml_binary_name(wgml_binary_op op);

// y = op(x); x, y: n f32. `scale` is used by WGML_UNARY_SCALE.
wgml_status wgml_op_unary(wgml_gpu *gpu, wgml_unary_op op, wgml_view x, wgml_view y,
                          uint64_t n, float scale);
wgml_cost wgml_op_unary_cost(wgml_unary_op op, uint64_t n);

// y[i] = a[i] op b[i % b_n]; a, y: n f32; b: b_n f32 with b_n dividing n.
wgml_status wgml_op_binary(wgml_gpu *gpu, wgml_binary_op op, wgml_view a, wgml_view b,
                           wgml_view y, uint64_t n, uint64_t b_n);
wgml_cost wgml_op_binary_cost(uint64_t n, uint64_t b_n);

// C = A B; dtype F16 needs the shader-f16 feature (accumulates in f32).
wgml_status wgml_op_matmul(wgml_gpu *gpu, wgml_dtype dtype, wgml_view a, wgml_view b,
                           wgml_view c, uint32_t M, uint32_t N, uint32_t K);

typedef enum wgml_matmul_variant {
    WGML_MATMUL_AUTO = 0,             // subgroup matrices where they fit, unless tuned otherwise
    WGML_MATMUL_TILED,                // register-tiled, matmul.wgsl
    WGML_MATMUL_SUBGROUP_MATRIX,      // cooperative matrices, matmul_sgm.wgsl (f16 operands,
                                      // or f16 weights under f32 activations)
    WGML_MATMUL_TILED_SWIZZLED,       // TILED with workgroups walking 8 tile rows down a
                                      // tile column before the next (shared A and B tiles
                                      // stay in cache)
    WGML_MATMUL_TILED_VEC4,           // 128 x 128 tiles, 8 x 8 results an invocation, 16-byte
                                      // loads, matmul_vec4.wgsl (K, and N for plain B,
                                      // multiples of 4)
    WGML_MATMUL_TILED_SUBGROUP,       // TILED_VEC4 with A passed between lanes by subgroup
                                      // shuffles instead of workgroup memory (subgroups of
                                      // one fixed size, 4 to 128)
    WGML_MATMUL_TILED_SUBGROUP_SWIZZLED,   // TILED_SUBGROUP in TILED_SWIZZLED's order
} wgml_matmul_variant;

// "tiled", "sgm", "tiled+swizzle", "vec4", "vec4+subgroup", "vec4+subgroup+swizzle".
const char *wgml_matmul_variant_name(wgml_matmul_variant v);

wgml_status wgml_op_matmul_variant(wgml_gpu *gpu, wgml_matmul_variant variant, wgml_dtype dtype,
                                   wgml_view a, wgml_view b, wgml_view c, uint32_t M,
                                   uint32_t N, uint32_t K);
// The variant AUTO takes for this shape with plain B: the one `wgml tune`
// stored for its class (size and dtype) where it takes the shape; else the
// subgroup-matrix kernel for f16 where the device has it, TILED_VEC4 for
// large products it takes, TILED for the rest.
wgml_matmul_variant wgml_matmul_chosen(wgml_gpu *gpu, wgml_dtype dtype, uint32_t M, uint32_t N,
                                       uint32_t K);
// Times the variants that run here on an M x N x K product and stores the fastest.
wgml_status wgml_matmul_tune(wgml_gpu *gpu, wgml_dtype dtype, uint32_t M, uint32_t N, uint32_t K,
                             wgml_matmul_variant *best, double *best_ns);
wgml_cost wgml_op_matmul_cost(wgml_dtype dtype, uint32_t M, uint32_t N, uint32_t K);
// C = A B^T with B stored N x K (a PyTorch Linear's weight is (out, in)); the
// cost is matmul's.
wgml_status wgml_op_matmul_nt(wgml_gpu *gpu, wgml_dtype dtype, wgml_view a, wgml_view b,
                              wgml_view c, uint32_t M, uint32_t N, uint32_t K);
// C = A B^T with f16 weights: A (M x K) and C f32, B (N x K) f16 (shader-f16;
// products and sums in f32).
wgml_status wgml_op_matmul_nt_w16(wgml_gpu *gpu, wgml_view a, wgml_view b, wgml_view c,
                                  uint32_t M, uint32_t N, uint32_t K);
// matmul_nt (w16: matmul_nt_w16, dtype ignored) with the variant forced.
wgml_status wgml_op_matmul_nt_variant(wgml_gpu *gpu, wgml_matmul_variant variant, wgml_dtype dtype,
                                      bool w16, wgml_view a, wgml_view b, wgml_view c, uint32_t M,
                                      uint32_t N, uint32_t K);

// Row softmax of a rows x cols f32 matrix.
wgml_status wgml_op_softmax(wgml_gpu *gpu, wgml_view x, wgml_view y, uint32_t rows,
                            uint32_t cols);
wgml_cost wgml_op_softmax_cost(uint32_t rows, uint32_t cols);

// LayerNorm over rows: gamma, beta: cols f32.
wgml_status wgml_op_layernorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view beta,
                              wgml_view y, uint32_t rows, uint32_t cols, float eps);
wgml_cost wgml_op_layernorm_cost(uint32_t rows, uint32_t cols);

// RMSNorm over rows: gamma: cols f32.
wgml_status wgml_op_rmsnorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view y,
                            uint32_t rows, uint32_t cols, float eps);
wgml_cost wgml_op_rmsnorm_cost(uint32_t rows, uint32_t cols);

// ---------------------------------------------------------------- encoders

// out (n_ids x dim) = the rows of table (V x dim) that ids (n_ids u32) pick.
// An id >= V gives a row of zeros (defined, never a read outside the table).
wgml_status wgml_op_gather(wgml_gpu *gpu, wgml_view table, wgml_view ids, wgml_view out,
                           uint32_t n_ids, uint32_t vocab, uint32_t dim);
wgml_cost wgml_op_gather_cost(uint32_t n_ids, uint32_t dim);

// Multi-head self-attention: qkv (B*L, 3*D) holds [q | k | v] per token row,
// head h at columns h*HD of each; mask (B, L) is added to the scores against
// each key (0 keeps, -1e30 drops); out (B*L, D) = softmax(q k^T scale + mask) v
// per head. HD <= 256.
wgml_status wgml_op_attention(wgml_gpu *gpu, wgml_view qkv, wgml_view mask, wgml_view out,
                              uint32_t batch, uint32_t seq, uint32_t heads, uint32_t head_dim,
                              float scale);
wgml_cost wgml_op_attention_cost(uint32_t batch, uint32_t seq, uint32_t heads,
                                 uint32_t head_dim);

// Pooling of x (B*L, D) into out (B, D): the weights-masked mean over L
// (weights (B, L): 1 for a token, 0 for padding; sentence-transformers'
// mean, dividing by max(sum of weights, 1e-9)) or the first row (CLS);
// then, with normalize, each row divided by max(its L2 norm, 1e-12).
typedef enum wgml_pool_mode { WGML_POOL_MEAN = 0, WGML_POOL_CLS } wgml_pool_mode;
const char *wgml_pool_name(wgml_pool_mode mode);
wgml_status wgml_op_pool(wgml_gpu *gpu, wgml_pool_mode mode, bool normalize, wgml_view x,
                         wgml_view weights, wgml_view out, uint32_t batch, uint32_t seq,
                         uint32_t dim);
wgml_cost wgml_op_pool_cost(uint32_t batch, uint32_t seq, uint32_t dim);

#endif
