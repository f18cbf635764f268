/*
 * GEMV: y = W x for a weight matrix in any of the formats of
 * src/formats/quant.h, the decode step's matrix-vector product.
 *
 * Dimension legend
 *   N, K   W is N rows by K columns, row-major (a Linear layer's weight
 *          [out, in], as GGUF and PyTorch store it)
 *   M      vectors per call (1..WGML_GEMV_MAX_M = 4): x is M x K, y is M x N, row-major, i.e. M
 *          tokens through one Linear layer; y[m, n] = sum_k W[n, k] x[m, k]
 *
 * The weight view holds the GPU layout, which wgml_gemv_pack writes from the
 * host layout of quant.h (raw GGUF bytes for the block formats):
 *   F32, F16, I8   the host layout unchanged
 *   Q8_0, Q4_0, Q4_1   repacked as two arrays, so that every load is aligned
 *       and wide: first the quants of all N*K/32 blocks in order (Q8_0: 32
 *       bytes per block, Q4_*: the 16 nibble bytes as GGUF orders them), then
 *       the scales, one f16 d per block for Q8_0 and Q4_0 (two per u32), one
 *       u32 (f16 d low, f16 m high) per block for Q4_1. GGUF's 34-, 18- and
 *       20-byte blocks put most quants off 4-byte boundaries, and WGSL reads
 *       storage only in 4-byte words: read in place, a block needs a 5- to
 *       9-word window and byte shifts, and no vec4 load lines up. Repacked, a
 *       block's quants are one or two vec4<u32> loads and the bytes read are
 *       the same as GGUF's (34, 18 or 20 per block). The repack is one pass at
 *       load time, which a loader that copies weights to the GPU makes anyway.
 *
 * Variants (wgml_gemv_variant; zero chooses for the device):
 *   reduce  across the invocations of a row: subgroupAdd where the device has
 *           subgroups of one fixed size, else a workgroup-memory tree
 *   math    FLOAT: weights decoded to f32 in registers, f32 x, f32 sums (any
 *           format, any device). F16: f16 weights multiplied in f16 arithmetic
 *           (shader-f16; f16 weights only), partial sums of 8 products in f16,
 *           then f32. DOT4 / DOT4_EMULATED: integer formats (I8, Q8_0, Q4_*):
 *           each workgroup quantises x to int8 in blocks of 32 (see
 *           wgml_ref_gemv_quantize_x) into workgroup memory and sums int8
 *           products with dot4I8Packed (packed_4x8_integer_dot_product) or,
 *           emulated, with shifts, with the same integer result. The automatic
 *           choice takes DOT4 for the integer formats where the device has
 *           the feature and FLOAT otherwise.
 *   threads_per_row  invocations sharing one group of rows (power of two, 1..256)
 *   rows_per_group   rows each group of invocations computes together (1, 2, 4);
 *                    the automatic choice keeps rows x M at most 4 (more sums an
 *                    invocation compile very slowly on CPU devices: lavapipe, naga)
 *   units_in_flight  units of each row an invocation loads before the
 *                    arithmetic (1, 2, 4, 8): rows x units loads in flight
 *   workgroup_size   invocations per workgroup (64, 128, 256): with the
 *                    groups' size it sets the rows per workgroup, hence the
 *                    workgroup count, and (integer kernel) how many rows share
 *                    one quantisation of x
 *   xquant           (integer math) where x is quantised: in every workgroup
 *                    (before its first weight load, behind a barrier), or
 *                    once, by a small pass before the GEMV that writes the
 *                    blocks to the caller's scratch (args.xq), which the
 *                    GEMV's workgroups then read from cache with their
 *                    weights
 *
 * Bytes per call (wgml_op_gemv_cost) count the weights in their storage
 * format (the GPU layout, which has GGUF's size), x and y once each.
 */
#ifndef WGML_GEMV_H
#define WGML_GEMV_H

#include "formats/quant.h"
#include "ops/ops.h"

// At M = 5..8 lavapipe's compiler took 10 to 60 s per pipeline (arrays of M
// sums indexed in loops); up to 4 it takes well under one.
enum { WGML_GEMV_MAX_M = 4 };

typedef enum wgml_gemv_reduce {
    WGML_GEMV_REDUCE_AUTO = 0,
    WGML_GEMV_REDUCE_SUBGROUP,   // needs subgroups of one fixed size
    WGML_GEMV_REDUCE_SHARED,
} wgml_gemv_reduce;

typedef enum wgml_gemv_math {
    WGML_GEMV_MATH_AUTO = 0,
    WGML_GEMV_MATH_FLOAT,
    WGML_GEMV_MATH_F16,             // F16 weights, needs shader-f16
    WGML_GEMV_MATH_DOT4,            // integer formats, needs packed_dot4
    WGML_GEMV_MATH_DOT4_EMULATED,   // integer formats, any device
} wgml_gemv_math;

// Where the integer kernels quantise x (gemv.wgsl):
typedef enum wgml_gemv_xquant {
    WGML_GEMV_XQ_AUTO = 0,
    WGML_GEMV_XQ_PER_WORKGROUP,   // every workgroup quantises x into workgroup memory
    WGML_GEMV_XQ_ONCE,            // a pass before the GEMV quantises x into args.xq
} wgml_gemv_xquant;

typedef struct wgml_gemv_variant {
    wgml_gemv_reduce reduce;
    wgml_gemv_math math;
    uint32_t threads_per_row;   // invocations sharing a group of rows; 0 = automatic
    uint32_t rows_per_group;    // rows each group computes (1, 2 or 4): x is read once for
                                // them, and their loads are in flight together; 0 = automatic
    uint32_t units_in_flight;   // units of each row loaded per step (1, 2, 4, 8); 0 = automatic
    uint32_t workgroup_size;    // 64, 128 or 256; 0 = automatic
    wgml_gemv_xquant xquant;    // integer math; automatic: PER_WORKGROUP (ONCE measured
                                // slower in the 8B decode step; see gemv.c)
} wgml_gemv_variant;

// What the GEMV does to x before the product and to y after it, fusing the
// decode step's row ops into it (x is read through these rules; nothing is
// written but y):
typedef enum wgml_gemv_input {
    WGML_GEMV_IN_PLAIN = 0,   // x
    WGML_GEMV_IN_RMSNORM,     // x / sqrt(mean(x^2) + eps) * gamma per vector, with
                              // wgml_op_add_rmsnorm's arithmetic (every workgroup
                              // computes the vector's scale the same way)
    WGML_GEMV_IN_SWIGLU,      // silu(g) * u, x holding M rows of 2K: g = x[m, 0:K],
                              // u = x[m, K:2K] (a stacked gate | up projection)
} wgml_gemv_input;

typedef struct wgml_gemv_args {
    wgml_quant format;
    wgml_view w;   // wgml_gemv_packed_bytes(format, N, K) bytes, GPU layout
    wgml_view x;   // M x K f32
    wgml_view y;   // M x N f32
    uint32_t N, K;
    uint32_t M;    // 0 means 1; at most WGML_GEMV_MAX_M
    wgml_gemv_variant variant;   // zero: automatic
    wgml_gemv_input input;       // fused input rule (K a multiple of 4 unless PLAIN)
    wgml_view gamma;             // RMSNORM: K f32
    float eps;                   // RMSNORM
    bool accumulate;             // y += W x (a residual add) instead of y = W x
    wgml_view xq;                // integer math, optional: wgml_gemv_xq_bytes(K, M) bytes of
                                 // scratch for x quantised once (variant.xquant ONCE)
} wgml_gemv_args;

// Bytes of the scratch that holds M vectors of K quantised once (args.xq).
uint64_t wgml_gemv_xq_bytes(uint32_t K, uint32_t M);

const char *wgml_gemv_math_name(wgml_gemv_math m);
const char *wgml_gemv_reduce_name(wgml_gemv_reduce r);

// Bytes of the GPU layout of an N x K matrix (0 when K does not suit the
// format, see wgml_quant_k_valid).
uint64_t wgml_gemv_packed_bytes(wgml_quant format, uint64_t N, uint64_t K);
// Writes the GPU layout from the host layout (quant.h): src holds
// wgml_quant_bytes, dst wgml_gemv_packed_bytes bytes.
wgml_status wgml_gemv_pack(wgml_quant format, const void *src, void *dst, uint64_t N,
                           uint64_t K);

// The variant the op would run for these arguments (automatic fields filled
// in), or an error when a forced choice does not suit the format or device.
wgml_status wgml_gemv_resolve(wgml_gpu *gpu, const wgml_gemv_args *a, wgml_gemv_variant *out);

// y = W x over M vectors with the chosen variant.
wgml_status wgml_op_gemv_ex(wgml_gpu *gpu, const wgml_gemv_args *a);
// y = W x for one vector, automatic variant.
wgml_status wgml_op_gemv(wgml_gpu *gpu, wgml_quant format, wgml_view w, wgml_view x,
                         wgml_view y, uint32_t N, uint32_t K);
wgml_cost wgml_op_gemv_cost(wgml_quant format, uint32_t N, uint32_t K, uint32_t M);

// ---------------------------------------------------------------- reference

// y (M x N) = x (M x K) times the transpose of w (N x K, f32: the dequantised
// weights), accumulated in double.
void wgml_ref_gemv(const float *w, const float *x, float *y, size_t N, size_t K, size_t M);

// The activations as the integer-dot variants see them: each vector of K
// quantised in blocks of 32 (the last one partial when K is not a multiple of
// 32) to q = round_half_even(x * id), with id = j * 2^(2 - e) for the largest
// integer j in [31, 63] such that amax * id <= 127, where amax = f * 2^e with
// f in [0.5, 1) (frexp) is the block's largest magnitude; blocks with amax
// below 2^-60 become zero. Writes q / id. The scale id has a 6-bit mantissa
// and is found with multiplications and comparisons only, which WGSL and C
// both round correctly, so GPU and host quantise bit for bit alike (a scale
// from 127 / amax would rest on WGSL's division, which is allowed 2.5 ULP).
void wgml_ref_gemv_quantize_x(const float *x, float *xq, size_t K);

#endif
