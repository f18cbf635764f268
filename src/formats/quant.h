/*
 * Weight storage formats and their host-side quantisers and dequantisers.
 *
 * Dimension legend
 *   N, K   a weight matrix of N rows by K columns, row-major: a Linear layer's
 *          weight [out, in] as GGUF and PyTorch store it
 *
 * Host layouts (what the quantisers write and the dequantisers read):
 *   F32    N*K little-endian f32
 *   F16    N*K IEEE binary16
 *   I8     wgml's per-row int8: N*K int8 q (row-major), then N f32 scales s;
 *          w = s[n] * q, s[n] = max|w[n,:]| / 127, q = round(w / s[n])
 *   Q8_0, Q4_0, Q4_1   GGUF / ggml blocks of 32 consecutive elements of a row,
 *          blocks in row-major order, no padding (ggml's ggml-common.h
 *          block_q8_0, block_q4_0, block_q4_1; the `gguf` PyPI package's
 *          quants.py holds the same rules):
 *     Q8_0 (34 bytes): f16 d, int8 qs[32];             w[j] = d * qs[j]
 *     Q4_0 (18 bytes): f16 d, uint8 qs[16];            w[j] = d * (nib[j] - 8)
 *     Q4_1 (20 bytes): f16 d, f16 m, uint8 qs[16];     w[j] = d * nib[j] + m
 *     where nib[j] = qs[j] & 15 and nib[j + 16] = qs[j] >> 4 for j < 16.
 *     Blocks are not 4-byte aligned; src/ops/gemv.h repacks them for the GPU.
 *
 * The quantisers are bit-exact with ggml's reference quantisers (and so with
 * `gguf`'s numpy ones): the scale is computed and used in f32, only stored as
 * f16; ties round away from zero (roundf) in Q8_0 and I8, Q4_0 and Q4_1
 * truncate x + 0.5 (x + 8.5), as ggml does. tests/test_gemv.c checks them
 * against bytes written by `gguf` (scripts/gen_quant_testdata.py).
 */
#ifndef WGML_QUANT_H
#define WGML_QUANT_H

#include "wgml.h"

typedef enum wgml_quant {
    WGML_QUANT_F32 = 0,
    WGML_QUANT_F16,
    WGML_QUANT_I8,
    WGML_QUANT_Q8_0,
    WGML_QUANT_Q4_0,
    WGML_QUANT_Q4_1,
    WGML_QUANT_COUNT
} wgml_quant;

enum { WGML_QUANT_BLOCK = 32 };   // elements per GGUF block (Q8_0, Q4_0, Q4_1)

// "f32", "f16", "i8", "q8_0", "q4_0", "q4_1"; "?" for anything else.
const char *wgml_quant_name(wgml_quant q);
// The format named `name` (as above), or -1.
int wgml_quant_by_name(const char *name);
// Elements per block: 32 for the GGUF block formats, 1 otherwise.
uint32_t wgml_quant_block_elems(wgml_quant q);
// Whether K suits the format: a multiple of 32 for the block formats, of 4 for
// I8 (whose rows the GPU reads as whole u32 words), anything for F32 and F16.
bool wgml_quant_k_valid(wgml_quant q, uint64_t K);
// Bytes of an N x K matrix in the host layout; 0 when K is not valid or the
// size overflows.
uint64_t wgml_quant_bytes(wgml_quant q, uint64_t N, uint64_t K);

// Quantises an N x K f32 matrix into `dst` (wgml_quant_bytes bytes).
// WGML_ERR_INVALID_ARGUMENT when K does not suit the format.
wgml_status wgml_quant_quantize(wgml_quant q, const float *src, void *dst, uint64_t N,
                                uint64_t K);
// The f32 values a format's bytes stand for (as ggml dequantises them, in f32).
wgml_status wgml_quant_dequantize(wgml_quant q, const void *src, float *dst, uint64_t N,
                                  uint64_t K);

#endif
