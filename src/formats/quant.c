// Host quantisers and dequantisers for the weight formats in quant.h.
#include "formats/quant.h"

#include "core/half.h"

#include <math.h>
#include <string.h>

static const char *const NAMES[WGML_QUANT_COUNT] = {"f32", "f16", "i8", "q8_0", "q4_0", "q4_1"};
// Bytes per block (block formats) or per element.
static const uint32_t BLOCK_BYTES[WGML_QUANT_COUNT] = {4, 2, 1, 34, 18, 20};

const char *wgml_quant_name(wgml_quant q)
{
    return (unsigned)q < WGML_QUANT_COUNT ? NAMES[q] : "?";
}

int wgml_quant_by_name(const char *name)
{
    for (int i = 0; i < WGML_QUANT_COUNT; i++)
        if (!strcmp(NAMES[i], name)) return i;
    return -1;
}

static bool is_block(wgml_quant q)
{
    return q == WGML_QUANT_Q8_0 || q == WGML_QUANT_Q4_0 || q == WGML_QUANT_Q4_1;
}

uint32_t wgml_quant_block_elems(wgml_quant q) { return is_block(q) ? WGML_QUANT_BLOCK : 1; }

bool wgml_quant_k_valid(wgml_quant q, uint64_t K)
{
    if ((unsigned)q >= WGML_QUANT_COUNT || K == 0) return false;
    if (is_block(q)) return K % WGML_QUANT_BLOCK == 0;
    if (q == WGML_QUANT_I8) return K % 4 == 0;
    return true;
}

uint64_t wgml_quant_bytes(wgml_quant q, uint64_t N, uint64_t K)
{
    if (!wgml_quant_k_valid(q, K) || N == 0) return 0;
    // Sizes stay below 2^62 so that every product below fits.
    if (N > (1ull << 31) || K > (1ull << 31)) return 0;
    uint64_t n = N * K / wgml_quant_block_elems(q) * BLOCK_BYTES[q];
    return q == WGML_QUANT_I8 ? n + 4 * N : n;
}

// ---------------------------------------------------------------- blocks

static void put_f16(uint8_t *p, float f)
{
    uint16_t h = wgml_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static float get_f16(const uint8_t *p) { return wgml_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

// ggml's quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d) computed as x * (1/d).
static void q8_0_block(const float *x, uint8_t *b)
{
    float amax = 0;
    for (int j = 0; j < WGML_QUANT_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    for (int j = 0; j < WGML_QUANT_BLOCK; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

// ggml's quantize_row_q4_0_ref: d = max / -8 where max is the element of
// largest magnitude (the first one on ties), q = min(15, (int)(x / d + 8.5)).
static void q4_0_block(const float *x, uint8_t *b)
{
    float amax = 0, max = 0;
    for (int j = 0; j < WGML_QUANT_BLOCK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    for (int j = 0; j < WGML_QUANT_BLOCK / 2; j++) {
        int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + 16] * id + 8.5f);
        lo = lo < 15 ? lo : 15;
        hi = hi < 15 ? hi : 15;
        b[2 + j] = (uint8_t)(lo | hi << 4);
    }
}

// ggml's quantize_row_q4_1_ref: d = (max - min) / 15, m = min, q = min(15, (int)((x - min) / d + 0.5)).
static void q4_1_block(const float *x, uint8_t *b)
{
    float min = INFINITY, max = -INFINITY;
    for (int j = 0; j < WGML_QUANT_BLOCK; j++) {
        min = fminf(min, x[j]);
        max = fmaxf(max, x[j]);
    }
    float d = (max - min) / 15.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    put_f16(b + 2, min);
    for (int j = 0; j < WGML_QUANT_BLOCK / 2; j++) {
        int lo = (int)((x[j] - min) * id + 0.5f), hi = (int)((x[j + 16] - min) * id + 0.5f);
        lo = lo < 15 ? lo : 15;
        hi = hi < 15 ? hi : 15;
        b[4 + j] = (uint8_t)(lo | hi << 4);
    }
}

static void q8_0_deblock(const uint8_t *b, float *y)
{
    float d = get_f16(b);
    for (int j = 0; j < WGML_QUANT_BLOCK; j++) y[j] = d * (float)(int8_t)b[2 + j];
}

static void q4_0_deblock(const uint8_t *b, float *y)
{
    float d = get_f16(b);
    for (int j = 0; j < WGML_QUANT_BLOCK / 2; j++) {
        y[j] = d * (float)((b[2 + j] & 15) - 8);
        y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
    }
}

static void q4_1_deblock(const uint8_t *b, float *y)
{
    float d = get_f16(b), m = get_f16(b + 2);
    for (int j = 0; j < WGML_QUANT_BLOCK / 2; j++) {
        y[j] = d * (float)(b[4 + j] & 15) + m;
        y[j + 16] = d * (float)(b[4 + j] >> 4) + m;
    }
}

// ---------------------------------------------------------------- matrices

wgml_status wgml_quant_quantize(wgml_quant q, const float *src, void *dst, uint64_t N,
                                uint64_t K)
{
    if (!wgml_quant_bytes(q, N, K)) return WGML_ERR_INVALID_ARGUMENT;
    uint8_t *out = dst;
    uint64_t n = N * K;
    switch (q) {
    case WGML_QUANT_F32: memcpy(dst, src, n * 4); break;
    case WGML_QUANT_F16:
        for (uint64_t i = 0; i < n; i++) put_f16(out + 2 * i, src[i]);
        break;
    case WGML_QUANT_I8:
        for (uint64_t r = 0; r < N; r++) {
            const float *x = src + r * K;
            float amax = 0;
            for (uint64_t k = 0; k < K; k++) amax = fmaxf(amax, fabsf(x[k]));
            float s = amax / 127.0f;
            for (uint64_t k = 0; k < K; k++)
                out[r * K + k] = (uint8_t)(int8_t)(s != 0.0f ? roundf(x[k] / s) : 0.0f);
            memcpy(out + n + 4 * r, &s, 4);
        }
        break;
    case WGML_QUANT_Q8_0:
    case WGML_QUANT_Q4_0:
    case WGML_QUANT_Q4_1: {
        void (*block)(const float *, uint8_t *) =
            q == WGML_QUANT_Q8_0 ? q8_0_block : q == WGML_QUANT_Q4_0 ? q4_0_block : q4_1_block;
        for (uint64_t i = 0; i < n / WGML_QUANT_BLOCK; i++)
            block(src + i * WGML_QUANT_BLOCK, out + i * BLOCK_BYTES[q]);
        break;
    }
    default: return WGML_ERR_INVALID_ARGUMENT;
    }
    return WGML_OK;
}

wgml_status wgml_quant_dequantize(wgml_quant q, const void *src, float *dst, uint64_t N,
                                  uint64_t K)
{
    if (!wgml_quant_bytes(q, N, K)) return WGML_ERR_INVALID_ARGUMENT;
    const uint8_t *in = src;
    uint64_t n = N * K;
    switch (q) {
    case WGML_QUANT_F32: memcpy(dst, src, n * 4); break;
    case WGML_QUANT_F16:
        for (uint64_t i = 0; i < n; i++) dst[i] = get_f16(in + 2 * i);
        break;
    case WGML_QUANT_I8:
        for (uint64_t r = 0; r < N; r++) {
            float s;
            memcpy(&s, in + n + 4 * r, 4);
            for (uint64_t k = 0; k < K; k++) dst[r * K + k] = s * (float)(int8_t)in[r * K + k];
        }
        break;
    case WGML_QUANT_Q8_0:
    case WGML_QUANT_Q4_0:
    case WGML_QUANT_Q4_1: {
        void (*deblock)(const uint8_t *, float *) =
            q == WGML_QUANT_Q8_0 ? q8_0_deblock : q == WGML_QUANT_Q4_0 ? q4_0_deblock : q4_1_deblock;
        for (uint64_t i = 0; i < n / WGML_QUANT_BLOCK; i++)
            deblock(in + i * BLOCK_BYTES[q], dst + i * WGML_QUANT_BLOCK);
        break;
    }
    default: return WGML_ERR_INVALID_ARGUMENT;
    }
    return WGML_OK;
}
