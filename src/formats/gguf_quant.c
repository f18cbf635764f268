// GGUF tensor types to f32 on the host: the specification the GPU decode
// kernels are held to, and the loader's path for small tensors (norms,
// embeddings rows).
//
// Block layouts (ggml's ggml-common.h; the `gguf` PyPI package's quants.py
// dequantises the same way, and tests/test_gguf.c compares with it bit for
// bit). Multi-byte fields are little-endian; f16 is IEEE binary16.
//   F32, F16, BF16   one element per "block" (BF16 is the top half of an f32)
//   Q8_0, Q4_0, Q4_1 blocks of 32: see formats/quant.h
//   Q4_K (256 elements, 144 bytes): f16 d, f16 dmin, u8 scales[12], u8 qs[128].
//        Eight sub-blocks of 32, each with a 6-bit scale sc and 6-bit min m
//        packed into scales[12]: for j < 4, sc = scales[j] & 63 and
//        m = scales[j + 4] & 63; for j >= 4, sc = (scales[j + 4] & 15) |
//        (scales[j - 4] >> 6) << 4 and m = (scales[j + 4] >> 4) |
//        (scales[j] >> 6) << 4. Sub-blocks 2i and 2i + 1 share qs[32i..32i+31]:
//        the low nibbles are sub-block 2i, the high nibbles 2i + 1.
//        w = (d * sc) * q - (dmin * m)
//   Q6_K (256 elements, 210 bytes): u8 ql[128], u8 qh[64], i8 scales[16], f16 d.
//        Each half of 128 elements uses 64 bytes of ql and 32 of qh; within a
//        half, element 32k + l (k = 0..3, l = 0..31) takes its low 4 bits from
//        ql[l + 32 (k & 1)] (low nibble for k < 2, high for k >= 2) and its
//        high 2 bits from qh[l] >> 2k; q = that 6-bit value - 32; the scale is
//        scales[8 * half + 2k + l / 16].
//        w = (d * scale) * q
// Products are rounded to f32 one at a time, in the order above, as numpy
// does (separate statements: no fused multiply-add even where the compiler
// would contract one expression).
#include "formats/gguf.h"

#include "core/half.h"
#include "formats/quant.h"

#include <string.h>

static float f16_at(const uint8_t *p) { return wgml_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static void q4_k_block(const uint8_t *b, float *y)
{
    float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    for (int j = 0; j < 8; j++) {
        int s, m;
        if (j < 4) {
            s = sc[j] & 63;
            m = sc[j + 4] & 63;
        } else {
            s = (sc[j + 4] & 15) | (sc[j - 4] >> 6) << 4;
            m = (sc[j + 4] >> 4) | (sc[j] >> 6) << 4;
        }
        float ds = d * (float)s, dm = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            float t = ds * (float)((q[l] >> shift) & 15);
            y[32 * j + l] = t - dm;
        }
    }
}

static void q6_k_block(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    float d = f16_at(b + 208);
    for (int half = 0; half < 2; half++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) {
                int lo = (ql[64 * half + l + 32 * (k & 1)] >> (k < 2 ? 0 : 4)) & 15;
                int hi = (qh[32 * half + l] >> (2 * k)) & 3;
                float ds = d * (float)scales[8 * half + 2 * k + l / 16];
                y[128 * half + 32 * k + l] = ds * (float)((lo | hi << 4) - 32);
            }
}

wgml_status wgml_gguf_dequantize(uint32_t type, const void *src, uint64_t n_elements, float *dst)
{
    uint32_t be, bb;
    if (!wgml_gguf_type_block(type, &be, &bb)) return WGML_ERR_UNSUPPORTED;
    if (n_elements % be || ((!src || !dst) && n_elements)) return WGML_ERR_INVALID_ARGUMENT;
    const uint8_t *in = src;
    uint64_t blocks = n_elements / be;
    switch (type) {
    case WGML_GGUF_F32:
        memcpy(dst, src, (size_t)n_elements * 4);   // a little-endian host, as the rest of wgml
        return WGML_OK;
    case WGML_GGUF_F16:
        for (uint64_t i = 0; i < n_elements; i++) dst[i] = f16_at(in + 2 * i);
        return WGML_OK;
    case WGML_GGUF_BF16:
        for (uint64_t i = 0; i < n_elements; i++) {
            uint32_t bits = (uint32_t)(in[2 * i] | in[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return WGML_OK;
    case WGML_GGUF_Q4_K:
        for (uint64_t i = 0; i < blocks; i++) q4_k_block(in + i * bb, dst + i * be);
        return WGML_OK;
    case WGML_GGUF_Q6_K:
        for (uint64_t i = 0; i < blocks; i++) q6_k_block(in + i * bb, dst + i * be);
        return WGML_OK;
    default: {
        // Q8_0, Q4_0, Q4_1: quant.c's dequantisers, a row of blocks at a time
        // (it takes at most 2^31 rows).
        wgml_quant q = type == WGML_GGUF_Q8_0   ? WGML_QUANT_Q8_0
                       : type == WGML_GGUF_Q4_0 ? WGML_QUANT_Q4_0
                                                : WGML_QUANT_Q4_1;
        for (uint64_t done = 0; done < blocks;) {
            uint64_t rows = blocks - done < (1u << 30) ? blocks - done : (1u << 30);
            wgml_status s = wgml_quant_dequantize(q, in + done * bb, dst + done * be, rows, be);
            if (s) return s;
            done += rows;
        }
        return WGML_OK;
    }
    }
}
