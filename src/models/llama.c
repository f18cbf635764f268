// Llama-family decoders on the GPU (llama.h): config from GGUF metadata,
// weights by llama.cpp's tensor names, the KV cache, and the forward pass
// recorded as ops (src/ops/decoder.h, gemv.h).
//
// Dimension legend: D embedding = H * HD; HKV key/value heads; F feed-forward;
// V vocabulary; C = n_ctx, the KV cache capacity; n tokens of one call,
// processed in chunks of at most CH rows (the activation buffers' height).
//
// One layer, for the m rows of a chunk at positions p .. p + m - 1:
//   xn = rmsnorm(x += down_prev) * attn_norm       (add_rmsnorm; no add at layer 0)
//   q, k, v = xn Wq^T (+bq), xn Wk^T (+bk), xn Wv^T (+bv)
//   rope(q); k_cache[p..] = rope(k); v_cache[p..] = v
//   att = attention(q, caches)                     (decode kernel for m = 1)
//   xn = rmsnorm(x += att Wo^T) * ffn_norm
//   down = (silu(xn Wgate^T) * xn Wup^T) Wdown^T
// then logits = rmsnorm(x += down) * output_norm times Wout^T. Projections of
// up to 4 rows are GEMVs (memory-bound decode), more rows the tiled GEMM.
//
// Chunks of GEMVs fuse the row ops into them (gemv.h): Wo and Wdown add into
// the residual stream x themselves, Wdown reads silu(gate) * up from the
// stacked projection, and (D <= NORM_FUSE_DIM) every GEMV that reads a
// normalised x computes the norm itself. A decode step of a model with
// stacked weights is then 7 dispatches a layer: q|k|v (norm), RoPE + cache
// stores, attention (2), Wo (+ x), gate|up (norm), Wdown (SwiGLU, + x); with
// larger D, 9 (the two norms separate).
#include "models/llama.h"

#include "core/half.h"
#include "ops/decoder.h"
#include "ops/gemv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    CHUNK_ROWS = 256,        // CH: rows per forward chunk
    DEFAULT_CTX = 4096,      // n_ctx when the caller leaves it 0, at most the file's
    MAX_DIM = 1 << 16,
    MAX_LAYERS = 1024,
    MAX_HEAD_DIM = 256,      // the attention kernels' limit
    MAX_VOCAB = 1 << 24,
    LOGITS_ALL_BYTES = 32 << 20,   // all-position logits are computed in groups this large
    // Largest D whose norms fuse into the GEMVs that read them: every
    // workgroup reads x (D floats) and gamma again for its own copy of the
    // vector's scale. With 32 to 128 rows a workgroup (gemv.c's choice for
    // large matrices) that is a few MB from L2 per GEMV at D = 4096, less
    // than a dispatch of its own costs (~4 us on the H100).
    NORM_FUSE_DIM = 8192,
};

typedef struct llama_weight {
    wgml_quant format;     // the GPU layout (gemv.h)
    wgml_gpu_buf *buf;     // NULL: absent
    uint32_t N, K;         // rows (outputs), columns (inputs)
} llama_weight;

typedef struct llama_layer {
    wgml_gpu_buf *attn_norm, *ffn_norm;   // (D) f32
    llama_weight wq, wk, wv, wo;          // (H*HD, D), (HKV*HD, D) x2, (D, H*HD)
    llama_weight gate, up, down;          // (F, D) x2, (D, F)
    llama_weight wqkv;                    // (H*HD + 2 HKV*HD, D): wq, wk, wv stacked, when
                                          // they share a format (then their bufs are NULL)
    llama_weight gate_up;                 // (2F, D): gate and up stacked, likewise
    wgml_gpu_buf *bq, *bk, *bv;           // (H*HD), (HKV*HD) x2 f32, or NULL
    wgml_gpu_buf *bqkv;                   // (H*HD + 2 HKV*HD): the three stacked, with wqkv
    wgml_gpu_buf *k_cache, *v_cache;      // (HKV, C, HD) of kv_type
} llama_layer;

struct wgml_llama {
    wgml_gpu *gpu;
    wgml_llama_config cfg;
    uint32_t n_ctx;                 // C
    wgml_dtype kv_type;
    wgml_gemv_math gemv_math;       // 0: automatic
    wgml_gemv_variant gemv_shape;   // reduce and threads_per_row (0: automatic)
    llama_weight embd;              // (V, D)
    llama_weight output;            // (V, D); buf == embd.buf when tied
    wgml_gpu_buf *output_norm;      // (D)
    wgml_gpu_buf *rope_table;       // (C, R/2) (cos, sin)
    llama_layer *layers;
    // Activations for CH rows (f32) and the per-call state.
    wgml_gpu_buf *x, *xn;           // (CH, D): the residual stream, its normalised copy
    wgml_gpu_buf *qkv;              // (CH, H*HD + 2 HKV*HD): q | k | v, from stacked weights
    wgml_gpu_buf *q, *k, *v;        // (CH, H*HD), (CH, HKV*HD) x2, where a layer's are separate
    wgml_gpu_buf *att;              // (CH, H*HD)
    wgml_gpu_buf *proj;             // (CH, D): the output of Wo and Wdown
    wgml_gpu_buf *gu;               // (CH, 2F): gate | up, from stacked weights
    wgml_gpu_buf *gate, *up;        // (CH, F) each, where a layer's are separate
    wgml_gpu_buf *hid;              // (CH, F)
    wgml_gpu_buf *ids;              // (C + 1) u32: token id of each position (C: the token
                                    // sampled after the last position)
    wgml_gpu_buf *scratch;          // decode attention's per-tile results
    wgml_gpu_buf *xq;               // a GEMV's x quantised once (wgml_gemv_xq_bytes)
    wgml_gpu_buf *logits;           // (V) f32
    wgml_gpu_buf *logits_all;       // (LR, V) f32, made on first use
    uint32_t logits_rows;           // LR
    uint64_t bytes;                 // GPU memory held
    bool separate_norms;            // wgml_llama_params.separate_norms
    bool chunk_fused;               // the last recorded chunk fused its row ops: x holds the
                                    // whole residual stream (nothing pending in proj)
};

// ================================================================ config

static bool get_u32(const wgml_gguf *g, const char *arch, const char *key, uint32_t *out,
                    bool required, char *err, size_t err_size, bool *bad)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    uint64_t v;
    if (!wgml_gguf_get_u64(g, full, &v)) {
        if (required || wgml_gguf_kv_find(g, full) >= 0) {
            snprintf(err, err_size, "GGUF: %s is %s", full,
                     wgml_gguf_kv_find(g, full) >= 0 ? "not a non-negative integer" : "missing");
            *bad = true;
        }
        return false;
    }
    if (v > UINT32_MAX) {
        snprintf(err, err_size, "GGUF: %s = %llu is too large", full, (unsigned long long)v);
        *bad = true;
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool get_f32(const wgml_gguf *g, const char *arch, const char *key, float *out)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    double v;
    if (!wgml_gguf_get_f64(g, full, &v)) return false;
    *out = (float)v;
    return true;
}

// Writes a message to err and returns st.
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static wgml_status fail(char *err, size_t err_size, wgml_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return st;
}

// Tensor `name` with exactly the dims given (ne order; n_dims 1 or 2), or
// an error. Absent: *t = NULL, an error only when required.
static wgml_status find_tensor(const wgml_gguf *g, const char *name, uint64_t ne0, uint64_t ne1,
                               bool required, const wgml_gguf_tensor **t, char *err,
                               size_t err_size)
{
    *t = wgml_gguf_tensor_find(g, name);
    if (!*t)
        return required ? fail(err, err_size, WGML_ERR_BAD_FILE, "GGUF: no tensor \"%s\"", name)
                        : WGML_OK;
    const wgml_gguf_tensor *x = *t;
    uint32_t want = ne1 ? 2 : 1;
    bool ok = x->ne[0] == ne0 && (ne1 ? x->ne[1] == ne1 : x->ne[1] == 1) && x->ne[2] == 1 &&
              x->ne[3] == 1 && x->n_dims <= want;
    if (!ok)
        return fail(err, err_size, WGML_ERR_BAD_FILE,
                    "GGUF: tensor \"%s\" is %llu x %llu x %llu x %llu, the config implies "
                    "%llu x %llu", name, (unsigned long long)x->ne[0],
                    (unsigned long long)x->ne[1], (unsigned long long)x->ne[2],
                    (unsigned long long)x->ne[3], (unsigned long long)ne0,
                    (unsigned long long)(ne1 ? ne1 : 1));
    return WGML_OK;
}

wgml_status wgml_llama_config_read(const wgml_gguf *g, wgml_llama_config *c, char *err,
                                   size_t err_size)
{
    memset(c, 0, sizeof *c);
    const char *arch;
    size_t alen;
    if (!wgml_gguf_get_str(g, "general.architecture", &arch, &alen))
        return fail(err, err_size, WGML_ERR_BAD_FILE, "GGUF: no general.architecture");
    if (!(alen == 5 && !memcmp(arch, "llama", 5)) && !(alen == 5 && !memcmp(arch, "qwen2", 5)))
        return fail(err, err_size, WGML_ERR_UNSUPPORTED,
                    "GGUF: architecture \"%.*s\" is not supported (llama, qwen2)",
                    (int)(alen < 64 ? alen : 64), arch);
    memcpy(c->arch, arch, alen);
    bool bad = false;
    uint32_t H = 0, HKV = 0, D = 0, HD = 0, vd = 0;
    get_u32(g, c->arch, "block_count", &c->n_layers, true, err, err_size, &bad);
    if (!bad) get_u32(g, c->arch, "embedding_length", &D, true, err, err_size, &bad);
    if (!bad) get_u32(g, c->arch, "feed_forward_length", &c->ffn_dim, true, err, err_size, &bad);
    if (!bad) get_u32(g, c->arch, "context_length", &c->n_ctx_train, true, err, err_size, &bad);
    if (!bad) get_u32(g, c->arch, "attention.head_count", &H, true, err, err_size, &bad);
    HKV = H;
    if (!bad) get_u32(g, c->arch, "attention.head_count_kv", &HKV, false, err, err_size, &bad);
    if (bad) return WGML_ERR_BAD_FILE;
    if (D == 0 || D > MAX_DIM || H == 0 || H > D || HKV == 0 || H % HKV || c->n_layers == 0 ||
        c->n_layers > MAX_LAYERS || c->ffn_dim == 0 || c->ffn_dim > 4 * MAX_DIM ||
        c->n_ctx_train == 0)
        return fail(err, err_size, WGML_ERR_BAD_FILE,
                    "GGUF: implausible shape: embedding %u, %u layers, %u heads over %u "
                    "key/value heads, feed-forward %u, context %u", D, c->n_layers, H, HKV,
                    c->ffn_dim, c->n_ctx_train);
    HD = D / H;
    if (!get_u32(g, c->arch, "attention.key_length", &HD, false, err, err_size, &bad) && !bad &&
        D % H)
        return fail(err, err_size, WGML_ERR_BAD_FILE,
                    "GGUF: embedding %u is not a multiple of %u heads", D, H);
    vd = HD;
    if (!bad) get_u32(g, c->arch, "attention.value_length", &vd, false, err, err_size, &bad);
    if (bad) return WGML_ERR_BAD_FILE;
    if (vd != HD)
        return fail(err, err_size, WGML_ERR_UNSUPPORTED,
                    "GGUF: key length %u differs from value length %u", HD, vd);
    if (HD == 0 || HD % 4 || HD > MAX_HEAD_DIM)
        return fail(err, err_size, WGML_ERR_UNSUPPORTED,
                    "GGUF: heads of %u: the attention kernels take multiples of 4 up to %d", HD,
                    MAX_HEAD_DIM);
    c->n_rot = HD;
    if (!bad) get_u32(g, c->arch, "rope.dimension_count", &c->n_rot, false, err, err_size, &bad);
    if (bad) return WGML_ERR_BAD_FILE;
    if (c->n_rot == 0 || c->n_rot % 2 || c->n_rot > HD)
        return fail(err, err_size, WGML_ERR_BAD_FILE,
                    "GGUF: rope.dimension_count %u is not even and at most the head size %u",
                    c->n_rot, HD);
    c->dim = D;
    c->n_heads = H;
    c->n_kv_heads = HKV;
    c->head_dim = HD;
    if (!get_f32(g, c->arch, "attention.layer_norm_rms_epsilon", &c->rms_eps))
        return fail(err, err_size, WGML_ERR_BAD_FILE,
                    "GGUF: %s.attention.layer_norm_rms_epsilon is missing", c->arch);
    c->rope_base = 10000.0f;
    get_f32(g, c->arch, "rope.freq_base", &c->rope_base);
    if (!(c->rms_eps >= 0 && c->rms_eps < 1) || !(c->rope_base > 1 && isfinite(c->rope_base)))
        return fail(err, err_size, WGML_ERR_BAD_FILE, "GGUF: rms epsilon %g or rope base %g "
                    "is out of range", (double)c->rms_eps, (double)c->rope_base);
    // Linear scaling only (llama.cpp reads the factor whatever the type says,
    // except for the YaRN-style types, which change the angles otherwise).
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch);
    const char *type;
    size_t tlen;
    if (wgml_gguf_get_str(g, key, &type, &tlen) &&
        !(tlen == 4 && !memcmp(type, "none", 4)) && !(tlen == 6 && !memcmp(type, "linear", 6)))
        return fail(err, err_size, WGML_ERR_UNSUPPORTED,
                    "GGUF: rope scaling \"%.*s\" is not supported (none, linear)",
                    (int)(tlen < 32 ? tlen : 32), type);
    float factor = 0;
    if (!get_f32(g, c->arch, "rope.scaling.factor", &factor) || factor == 0)
        get_f32(g, c->arch, "rope.scale_linear", &factor);
    if (factor < 0 || !isfinite(factor))
        return fail(err, err_size, WGML_ERR_BAD_FILE, "GGUF: rope scaling factor %g",
                    (double)factor);
    c->rope_scale = factor == 0 ? 1.0f : factor;
    c->rope_neox = !strcmp(c->arch, "qwen2");

    const wgml_gguf_tensor *t;
    wgml_status st;
    t = wgml_gguf_tensor_find(g, "token_embd.weight");
    if (!t) return fail(err, err_size, WGML_ERR_BAD_FILE, "GGUF: no tensor \"token_embd.weight\"");
    if (t->ne[1] == 0 || t->ne[1] > MAX_VOCAB)
        return fail(err, err_size, WGML_ERR_BAD_FILE, "GGUF: a vocabulary of %llu",
                    (unsigned long long)t->ne[1]);
    c->n_vocab = (uint32_t)t->ne[1];
    uint32_t vs = c->n_vocab;
    if (get_u32(g, c->arch, "vocab_size", &vs, false, err, err_size, &bad) && vs != c->n_vocab)
        return fail(err, err_size, WGML_ERR_BAD_FILE,
                    "GGUF: %s.vocab_size %u differs from token_embd's %u rows", c->arch, vs,
                    c->n_vocab);
    if (bad) return WGML_ERR_BAD_FILE;
    if ((st = find_tensor(g, "token_embd.weight", D, c->n_vocab, true, &t, err, err_size)) ||
        (st = find_tensor(g, "output.weight", D, c->n_vocab, false, &t, err, err_size)))
        return st;
    c->tied_output = t == NULL;
    if ((st = find_tensor(g, "rope_freqs.weight", c->n_rot / 2, 0, false, &t, err, err_size)))
        return st;
    c->rope_freq_factors = t != NULL;
    c->qkv_bias = wgml_gguf_tensor_find(g, "blk.0.attn_q.bias") != NULL;
    if (c->rope_neox && !c->qkv_bias)
        return fail(err, err_size, WGML_ERR_BAD_FILE, "GGUF: a qwen2 model without attention "
                    "biases (blk.0.attn_q.bias)");
    return WGML_OK;
}

// ================================================================ loading

typedef struct loader {
    wgml_llama *m;
    wgml_gguf *g;
    char *err;
    size_t err_size;
    void *raw;          // host staging: a tensor's bytes
    size_t raw_cap;
    float *f32;         // its f32 values when converted
    size_t f32_cap;
    void *packed;       // the GPU layout
    size_t packed_cap;
    bool restore;       // after a device loss: write into the buffers the model has
} loader;

static bool grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    void *q = realloc(*p, need);
    if (!q) return false;
    *p = q;
    *cap = need;
    return true;
}

// The format a GGUF tensor type becomes on the GPU (see llama.h).
static wgml_status gpu_format(uint32_t type, wgml_quant *q)
{
    switch (type) {
    case WGML_GGUF_F32: *q = WGML_QUANT_F32; return WGML_OK;
    case WGML_GGUF_F16: case WGML_GGUF_BF16: *q = WGML_QUANT_F16; return WGML_OK;
    case WGML_GGUF_Q8_0: case WGML_GGUF_Q4_K: case WGML_GGUF_Q6_K: *q = WGML_QUANT_Q8_0; return WGML_OK;
    case WGML_GGUF_Q4_0: *q = WGML_QUANT_Q4_0; return WGML_OK;
    case WGML_GGUF_Q4_1: *q = WGML_QUANT_Q4_1; return WGML_OK;
    default: return WGML_ERR_UNSUPPORTED;
    }
}

// The tensor's bytes (in place when the source is mapped or in memory).
static wgml_status tensor_bytes(loader *ld, const wgml_gguf_tensor *t, const void **out)
{
    *out = wgml_gguf_tensor_data(ld->g, t);
    if (*out) return WGML_OK;
    if (t->size > SIZE_MAX || !grow(&ld->raw, &ld->raw_cap, (size_t)t->size))
        return wgml_gpu_fail(ld->m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    wgml_status st = wgml_gguf_tensor_read(ld->g, t, 0, ld->raw, (size_t)t->size);
    if (st)
        return wgml_gpu_fail(ld->m->gpu, WGML_ERR_BAD_FILE, "GGUF: reading \"%s\": %s", t->name,
                             wgml_gguf_last_error(ld->g));
    *out = ld->raw;
    return WGML_OK;
}

// The tensor's values as f32 in ld->f32.
static wgml_status tensor_f32(loader *ld, const wgml_gguf_tensor *t)
{
    const void *src;
    wgml_status st = tensor_bytes(ld, t, &src);
    if (st) return st;
    if (t->n_elements > SIZE_MAX / 4 || !grow((void **)&ld->f32, &ld->f32_cap, (size_t)t->n_elements * 4))
        return wgml_gpu_fail(ld->m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    if ((st = wgml_gguf_dequantize(t->type, src, t->n_elements, ld->f32)))
        return wgml_gpu_fail(ld->m->gpu, st, "GGUF: \"%s\" of type %u cannot be dequantised",
                             t->name, t->type);
    return WGML_OK;
}

static wgml_status upload(loader *ld, const void *data, uint64_t bytes, const char *label,
                          wgml_gpu_buf **out)
{
    uint64_t padded = (bytes + 3) & ~3ull;
    if (ld->restore) {
        // The buffer came back (zero-filled) with the device; the file must
        // give the same layout as when it was loaded.
        if (!*out || wgml_gpu_buf_size(*out) != (padded ? padded : 4))
            return wgml_gpu_fail(ld->m->gpu, WGML_ERR_BAD_FILE, "GGUF: \"%s\" is not what was "
                                 "loaded (%llu bytes on the GPU now): the file changed", label,
                                 (unsigned long long)padded);
    } else {
        wgml_status st = wgml_gpu_buf_create(ld->m->gpu, padded ? padded : 4, label, out);
        if (st) return st;
        ld->m->bytes += padded;
    }
    if (padded != bytes) {   // writes go by whole words: copy into a zero-padded tail
        if (!grow(&ld->packed, &ld->packed_cap, (size_t)padded))
            return wgml_gpu_fail(ld->m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        if (ld->packed != data) memmove(ld->packed, data, (size_t)bytes);
        memset((char *)ld->packed + bytes, 0, (size_t)(padded - bytes));
        data = ld->packed;
    }
    return wgml_gpu_buf_write(ld->m->gpu, *out, 0, data, padded);
}

// A vector (norm weights, biases) as f32.
static wgml_status load_vector(loader *ld, const char *name, uint64_t n, bool required,
                               wgml_gpu_buf **out)
{
    const wgml_gguf_tensor *t;
    char *err = ld->err;
    wgml_status st = find_tensor(ld->g, name, n, 0, required, &t, err, ld->err_size);
    if (st) return wgml_gpu_fail(ld->m->gpu, st, "%s", err);
    if (!t) return WGML_OK;
    if ((st = tensor_f32(ld, t))) return st;
    return upload(ld, ld->f32, 4 * n, name, out);
}

// Vectors (biases) one after the other in one f32 buffer.
static wgml_status load_vectors_stacked(loader *ld, const char *const *names, const uint32_t *n,
                                        int count, wgml_gpu_buf **out)
{
    uint64_t total = 0;
    for (int i = 0; i < count; i++) total += n[i];
    float *all = malloc(4 * (size_t)total);
    if (!all) return wgml_gpu_fail(ld->m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    wgml_status st = WGML_OK;
    uint64_t at = 0;
    for (int i = 0; i < count && !st; i++) {
        const wgml_gguf_tensor *t;
        if ((st = find_tensor(ld->g, names[i], n[i], 0, true, &t, ld->err, ld->err_size)))
            st = wgml_gpu_fail(ld->m->gpu, st, "%s", ld->err);
        else if (!(st = tensor_f32(ld, t)))
            memcpy(all + at, ld->f32, 4ull * n[i]);
        at += n[i];
    }
    if (!st) st = upload(ld, all, 4 * total, names[0], out);
    free(all);
    return st;
}

// A matrix of N rows of K (GGUF ne = {K, N}) in the host layout (quant.h)
// of the format it takes on the GPU: a new copy in *out (the caller frees).
static wgml_status host_matrix(loader *ld, const char *name, uint32_t N, uint32_t K,
                               wgml_quant *format, void **out)
{
    wgml_gpu *gpu = ld->m->gpu;
    *out = NULL;
    const wgml_gguf_tensor *t;
    wgml_status st = find_tensor(ld->g, name, K, N, true, &t, ld->err, ld->err_size);
    if (st) return wgml_gpu_fail(gpu, st, "%s", ld->err);
    if ((st = gpu_format(t->type, format)))
        return wgml_gpu_fail(gpu, st, "GGUF: \"%s\" has type %s, which wgml does not load", name,
                             wgml_gguf_type_name(t->type) ? wgml_gguf_type_name(t->type) : "?");
    const void *host;
    if (t->type == WGML_GGUF_BF16 || t->type == WGML_GGUF_Q4_K || t->type == WGML_GGUF_Q6_K) {
        if ((st = tensor_f32(ld, t))) return st;
        uint64_t n = (uint64_t)N * K;
        bool fits16 = true;
        for (uint64_t i = 0; i < n && t->type == WGML_GGUF_BF16; i++)
            fits16 &= fabsf(ld->f32[i]) <= 65504.0f;
        if (t->type == WGML_GGUF_BF16 && !fits16) *format = WGML_QUANT_F32;
        if (!grow(&ld->raw, &ld->raw_cap, (size_t)wgml_quant_bytes(*format, N, K)))
            return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        if ((st = wgml_quant_quantize(*format, ld->f32, ld->raw, N, K)))
            return wgml_gpu_fail(gpu, st, "\"%s\": cannot convert to %s", name,
                                 wgml_quant_name(*format));
        host = ld->raw;
    } else if ((st = tensor_bytes(ld, t, &host))) {
        return st;
    }
    size_t hb = (size_t)wgml_quant_bytes(*format, N, K);
    if (!(*out = malloc(hb ? hb : 1)))
        return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(*out, host, hb);
    return WGML_OK;
}

// Uploads host-layout bytes of an N x K matrix in its GPU layout.
static wgml_status upload_matrix(loader *ld, const char *label, wgml_quant format,
                                 const void *host, uint32_t N, uint32_t K, llama_weight *w)
{
    w->format = format;
    w->N = N;
    w->K = K;
    uint64_t pb = wgml_gemv_packed_bytes(format, N, K);
    if (!grow(&ld->packed, &ld->packed_cap, (size_t)pb))
        return wgml_gpu_fail(ld->m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    wgml_status st = wgml_gemv_pack(format, host, ld->packed, N, K);
    if (st) return wgml_gpu_fail(ld->m->gpu, st, "\"%s\": cannot repack %s", label,
                                 wgml_quant_name(format));
    return upload(ld, ld->packed, pb, label, &w->buf);
}

static wgml_status load_matrix(loader *ld, const char *name, uint32_t N, uint32_t K,
                               llama_weight *w)
{
    wgml_quant q;
    void *host;
    wgml_status st = host_matrix(ld, name, N, K, &q, &host);
    if (!st) st = upload_matrix(ld, name, q, host, N, K, w);
    free(host);
    return st;
}

// Matrices that share K (Q, K and V; gate and up), stacked into one matrix
// of their rows in *fused when they take the same GPU format, so that one
// GEMV or GEMM computes all of them (fewer dispatches, longer rows of work);
// else each into parts[i] and fused->buf stays NULL.
static wgml_status load_stacked(loader *ld, const char *const *names, const uint32_t *N,
                                int count, uint32_t K, llama_weight *fused, llama_weight **parts)
{
    void *host[3] = {NULL, NULL, NULL};
    wgml_quant q[3];
    wgml_status st = WGML_OK;
    bool same = true;
    uint64_t rows = 0, bytes = 0;
    for (int i = 0; i < count && !st; i++) {
        st = host_matrix(ld, names[i], N[i], K, &q[i], &host[i]);
        same &= !st && q[i] == q[0];
        rows += N[i];
        bytes += wgml_quant_bytes(q[i], N[i], K);
    }
    if (!st && same && rows <= UINT32_MAX && rows * K <= UINT32_MAX) {
        char *all = malloc((size_t)bytes);
        if (!all) st = wgml_gpu_fail(ld->m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        size_t at = 0;
        for (int i = 0; i < count && !st; i++) {   // row-major blocks: stacking is concatenation
            size_t b = (size_t)wgml_quant_bytes(q[i], N[i], K);
            memcpy(all + at, host[i], b);
            at += b;
        }
        if (!st) st = upload_matrix(ld, names[0], q[0], all, (uint32_t)rows, K, fused);
        free(all);
    } else {
        for (int i = 0; i < count && !st; i++)
            st = upload_matrix(ld, names[i], q[i], host[i], N[i], K, parts[i]);
    }
    for (int i = 0; i < count; i++) free(host[i]);
    return st;
}

// ================================================================ sizes

// Every buffer a load creates, counted from the file before anything is
// uploaded (check_limits): `total` is what wgml_llama_gpu_bytes reports after
// the load, `worst` the largest single buffer. BF16 matrices count as F16
// (what they become unless a value exceeds f16's range) in the total, and as
// F32 in the largest buffer, so that no buffer of the load can be refused
// after the check.
typedef struct llama_plan {
    uint64_t total;
    uint64_t worst;
    char worst_name[96];
} llama_plan;

static void plan_add(llama_plan *p, uint64_t bytes, uint64_t worst_bytes, const char *name)
{
    p->total += (bytes + 3) & ~3ull;   // as upload and make_buf round
    worst_bytes = (worst_bytes + 3) & ~3ull;
    if (worst_bytes > p->worst) {
        p->worst = worst_bytes;
        snprintf(p->worst_name, sizeof p->worst_name, "%s", name);
    }
}

// The GPU format of tensor `name` (BF16 as F16), false when absent or not loadable.
static bool plan_format(const wgml_gguf *g, const char *name, wgml_quant *q, bool *bf16)
{
    const wgml_gguf_tensor *t = wgml_gguf_tensor_find(g, name);
    if (!t || gpu_format(t->type, q)) return false;
    *bf16 = t->type == WGML_GGUF_BF16;
    return true;
}

// Matrices stacked as load_stacked stacks them (one buffer when they share a
// format), else one buffer each. Absent or unloadable ones count nothing: the
// load refuses the file before it uploads them.
static void plan_matrices(llama_plan *p, const wgml_gguf *g, const char *const *names,
                          const uint32_t *N, int count, uint32_t K, bool *stacked)
{
    wgml_quant q[3];
    bool bf16[3], ok = true, same = true;
    uint64_t rows = 0;
    for (int i = 0; i < count; i++) {
        ok &= plan_format(g, names[i], &q[i], &bf16[i]);
        same &= ok && q[i] == q[0] && bf16[i] == bf16[0];
        rows += N[i];
    }
    *stacked = ok && same && rows <= UINT32_MAX && rows * K <= UINT32_MAX;
    if (*stacked) {
        plan_add(p, wgml_gemv_packed_bytes(q[0], rows, K),
                 wgml_gemv_packed_bytes(bf16[0] ? WGML_QUANT_F32 : q[0], rows, K), names[0]);
        return;
    }
    for (int i = 0; i < count; i++) {
        wgml_quant qi;
        bool b;
        if (plan_format(g, names[i], &qi, &b))
            plan_add(p, wgml_gemv_packed_bytes(qi, N[i], K),
                     wgml_gemv_packed_bytes(b ? WGML_QUANT_F32 : qi, N[i], K), names[i]);
    }
}

static void plan_matrix(llama_plan *p, const wgml_gguf *g, const char *name, uint32_t N,
                        uint32_t K)
{
    bool stacked;
    plan_matrices(p, g, &name, &N, 1, K, &stacked);
}

typedef struct activation_buf {
    wgml_gpu_buf **dst;
    uint64_t bytes;
    const char *label;
} activation_buf;

enum { MAX_ACTIVATION_BUFS = 16 };

// The activation buffers (CH rows each, and the per-call state): one list for
// make_activations and for the plan. split_qkv / split_ffn: some layer keeps
// Q/K/V or gate/up as separate matrices.
static size_t activation_bufs(wgml_llama *m, bool split_qkv, bool split_ffn, activation_buf *b)
{
    const wgml_llama_config *c = &m->cfg;
    uint64_t R = CHUNK_ROWS, D = c->dim, Q = (uint64_t)c->n_heads * c->head_dim,
             KV = (uint64_t)c->n_kv_heads * c->head_dim, F = c->ffn_dim;
    size_t n = 0;
    if (split_qkv) {
        b[n++] = (activation_buf){&m->q, 4 * R * Q, "llama.q"};
        b[n++] = (activation_buf){&m->k, 4 * R * KV, "llama.k"};
        b[n++] = (activation_buf){&m->v, 4 * R * KV, "llama.v"};
    }
    if (split_ffn) {
        b[n++] = (activation_buf){&m->gate, 4 * R * F, "llama.gate"};
        b[n++] = (activation_buf){&m->up, 4 * R * F, "llama.up"};
    }
    b[n++] = (activation_buf){&m->x, 4 * R * D, "llama.x"};
    b[n++] = (activation_buf){&m->xn, 4 * R * D, "llama.xn"};
    b[n++] = (activation_buf){&m->qkv, 4 * R * (Q + 2 * KV), "llama.qkv"};
    b[n++] = (activation_buf){&m->att, 4 * R * Q, "llama.att"};
    b[n++] = (activation_buf){&m->proj, 4 * R * D, "llama.proj"};
    b[n++] = (activation_buf){&m->gu, 8 * R * F, "llama.gu"};
    b[n++] = (activation_buf){&m->hid, 4 * R * F, "llama.hid"};
    b[n++] = (activation_buf){&m->ids, 4ull * m->n_ctx + 4, "llama.ids"};
    b[n++] = (activation_buf){&m->scratch,
                              wgml_attn_decode_scratch_bytes(c->n_heads, c->head_dim, m->n_ctx),
                              "llama.scratch"};
    b[n++] = (activation_buf){&m->logits, 4ull * c->n_vocab, "llama.logits"};
    uint32_t widest = c->dim > F ? c->dim : (uint32_t)F;   // the GEMVs' longest K
    if (Q > widest) widest = (uint32_t)Q;
    b[n++] = (activation_buf){&m->xq, wgml_gemv_xq_bytes(widest, WGML_GEMV_MAX_M), "llama.xq"};
    return n;
}

// The buffers load_weights and make_activations will make, in their order.
static void plan_model(wgml_llama *m, const wgml_gguf *g, llama_plan *p)
{
    const wgml_llama_config *c = &m->cfg;
    uint32_t D = c->dim, F = c->ffn_dim, Q = c->n_heads * c->head_dim,
             KV = c->n_kv_heads * c->head_dim;
    memset(p, 0, sizeof *p);
    plan_matrix(p, g, "token_embd.weight", c->n_vocab, D);
    if (!c->tied_output) plan_matrix(p, g, "output.weight", c->n_vocab, D);
    plan_add(p, 4ull * D, 4ull * D, "output_norm.weight");
    bool split_qkv = false, split_ffn = false;
    uint64_t cache = (uint64_t)c->n_kv_heads * m->n_ctx * c->head_dim * wgml_dtype_size(m->kv_type);
    for (uint32_t i = 0; i < c->n_layers; i++) {
        char n[6][96];
        static const char *const parts[6] = {"attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up",
                                             "attn_output"};
        for (int k = 0; k < 6; k++) snprintf(n[k], sizeof n[k], "blk.%u.%s.weight", i, parts[k]);
        plan_add(p, 4ull * D, 4ull * D, "attn_norm.weight");
        plan_add(p, 4ull * D, 4ull * D, "ffn_norm.weight");
        plan_matrix(p, g, n[5], D, Q);
        snprintf(n[5], sizeof n[5], "blk.%u.ffn_down.weight", i);
        plan_matrix(p, g, n[5], D, F);
        const char *qkv[3] = {n[0], n[1], n[2]}, *gu[2] = {n[3], n[4]};
        uint32_t qkv_n[3] = {Q, KV, KV}, gu_n[2] = {F, F};
        bool sq, sf;
        plan_matrices(p, g, qkv, qkv_n, 3, D, &sq);
        plan_matrices(p, g, gu, gu_n, 2, D, &sf);
        split_qkv |= !sq;
        split_ffn |= !sf;
        if (c->qkv_bias && sq) {
            plan_add(p, 4ull * (Q + 2 * KV), 4ull * (Q + 2 * KV), "attn_q.bias (stacked)");
        } else if (c->qkv_bias) {
            plan_add(p, 4ull * Q, 4ull * Q, "attn_q.bias");
            plan_add(p, 4ull * KV, 4ull * KV, "attn_k.bias");
            plan_add(p, 4ull * KV, 4ull * KV, "attn_v.bias");
        }
        plan_add(p, cache, cache, "the KV cache of one layer (keys or values)");
        plan_add(p, cache, cache, "the KV cache of one layer (keys or values)");
    }
    uint64_t table = 4ull * m->n_ctx * c->n_rot;
    plan_add(p, table, table, "the rotary table");
    activation_buf b[MAX_ACTIVATION_BUFS];
    size_t nb = activation_bufs(m, split_qkv, split_ffn, b);
    for (size_t i = 0; i < nb; i++) {
        char name[64];
        snprintf(name, sizeof name, "the activations %s", b[i].label);
        plan_add(p, b[i].bytes, b[i].bytes, name);
    }
}

// Refuses, before anything is uploaded, a model with a buffer past the
// device's limits (each buffer is bound whole, so each must fit
// maxBufferSize and maxStorageBufferBindingSize) or, where the implementation
// tells the device's memory (Dawn), more than all of it. The message gives
// the total either way so that the caller can judge.
static wgml_status check_limits(wgml_llama *m, wgml_gguf *g)
{
    const wgml_device_info *d = wgml_gpu_info(m->gpu);
    bool by_binding = d->max_storage_buffer_binding_size < d->max_buffer_size;
    uint64_t lim = by_binding ? d->max_storage_buffer_binding_size : d->max_buffer_size;
    llama_plan p;
    plan_model(m, g, &p);
    bool ctx_hint = strstr(p.worst_name, "KV cache") || strstr(p.worst_name, "scratch") ||
                    strstr(p.worst_name, "rotary") || strstr(p.worst_name, ".ids");
    if (p.worst > lim)
        return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY,
                             "llama: the model needs %llu bytes of GPU memory (weights, KV cache "
                             "of %u positions, activations); %s needs %llu bytes in one buffer, "
                             "more than the device's %s of %llu bytes%s",
                             (unsigned long long)p.total, m->n_ctx, p.worst_name,
                             (unsigned long long)p.worst,
                             by_binding ? "maxStorageBufferBindingSize" : "maxBufferSize",
                             (unsigned long long)lim, ctx_hint ? " (a smaller n_ctx shrinks it)" : "");
    if (d->device_memory && p.total > d->device_memory)
        return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY,
                             "llama: the model needs %llu bytes of GPU memory (weights, KV cache "
                             "of %u positions, activations), more than the device's memory of "
                             "%llu bytes", (unsigned long long)p.total, m->n_ctx,
                             (unsigned long long)d->device_memory);
    return WGML_OK;
}

static wgml_status make_buf(wgml_llama *m, uint64_t bytes, const char *label, wgml_gpu_buf **out)
{
    bytes = (bytes + 3) & ~3ull;
    wgml_status st = wgml_gpu_buf_create(m->gpu, bytes ? bytes : 4, label, out);
    if (!st) m->bytes += bytes;
    return st;
}

static wgml_status load_weights(loader *ld)
{
    wgml_llama *m = ld->m;
    const wgml_llama_config *c = &m->cfg;
    uint32_t D = c->dim, F = c->ffn_dim, Q = c->n_heads * c->head_dim,
             KV = c->n_kv_heads * c->head_dim;
    wgml_status st;
    if ((st = load_matrix(ld, "token_embd.weight", c->n_vocab, D, &m->embd))) return st;
    if (c->tied_output) m->output = m->embd;
    else if ((st = load_matrix(ld, "output.weight", c->n_vocab, D, &m->output))) return st;
    if ((st = load_vector(ld, "output_norm.weight", D, true, &m->output_norm))) return st;
    for (uint32_t i = 0; i < c->n_layers; i++) {
        llama_layer *L = &m->layers[i];
        char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%u." s, i), n)
        if ((st = load_vector(ld, NAME("attn_norm.weight"), D, true, &L->attn_norm)) ||
            (st = load_vector(ld, NAME("ffn_norm.weight"), D, true, &L->ffn_norm)) ||
            (st = load_matrix(ld, NAME("attn_output.weight"), D, Q, &L->wo)) ||
            (st = load_matrix(ld, NAME("ffn_down.weight"), D, F, &L->down)))
            return st;
        char qn[96], kn[96], vn[96], gn[96], un[96];
        snprintf(qn, sizeof qn, "blk.%u.attn_q.weight", i);
        snprintf(kn, sizeof kn, "blk.%u.attn_k.weight", i);
        snprintf(vn, sizeof vn, "blk.%u.attn_v.weight", i);
        snprintf(gn, sizeof gn, "blk.%u.ffn_gate.weight", i);
        snprintf(un, sizeof un, "blk.%u.ffn_up.weight", i);
        const char *qkv_names[] = {qn, kn, vn}, *ffn_names[] = {gn, un};
        uint32_t qkv_n[] = {Q, KV, KV}, ffn_n[] = {F, F};
        llama_weight *qkv_parts[] = {&L->wq, &L->wk, &L->wv}, *ffn_parts[] = {&L->gate, &L->up};
        if ((st = load_stacked(ld, qkv_names, qkv_n, 3, D, &L->wqkv, qkv_parts)) ||
            (st = load_stacked(ld, ffn_names, ffn_n, 2, D, &L->gate_up, ffn_parts)))
            return st;
        if (c->qkv_bias && L->wqkv.buf) {
            snprintf(qn, sizeof qn, "blk.%u.attn_q.bias", i);
            snprintf(kn, sizeof kn, "blk.%u.attn_k.bias", i);
            snprintf(vn, sizeof vn, "blk.%u.attn_v.bias", i);
            if ((st = load_vectors_stacked(ld, qkv_names, qkv_n, 3, &L->bqkv))) return st;
        } else if (c->qkv_bias &&
                   ((st = load_vector(ld, NAME("attn_q.bias"), Q, true, &L->bq)) ||
                    (st = load_vector(ld, NAME("attn_k.bias"), KV, true, &L->bk)) ||
                    (st = load_vector(ld, NAME("attn_v.bias"), KV, true, &L->bv)))) {
            return st;
        }
#undef NAME
        uint64_t cb = (uint64_t)c->n_kv_heads * m->n_ctx * c->head_dim * wgml_dtype_size(m->kv_type);
        // (A restore leaves the caches to their owner: their contents are gone.)
        if (!ld->restore && ((st = make_buf(m, cb, "llama.k_cache", &L->k_cache)) ||
                             (st = make_buf(m, cb, "llama.v_cache", &L->v_cache))))
            return st;
    }
    // The rotary table for every position of the cache.
    float *ff = NULL;
    if (c->rope_freq_factors) {
        const wgml_gguf_tensor *t = wgml_gguf_tensor_find(ld->g, "rope_freqs.weight");
        if ((st = tensor_f32(ld, t))) return st;
        ff = ld->f32;
        for (uint32_t i = 0; i < c->n_rot / 2; i++)
            if (!(ff[i] > 0) || !isfinite(ff[i]))
                return wgml_gpu_fail(m->gpu, WGML_ERR_BAD_FILE,
                                     "GGUF: rope_freqs.weight[%u] = %g", i, (double)ff[i]);
    }
    wgml_rope_params rp = {c->n_rot, c->rope_neox, c->rope_base, 1.0f / c->rope_scale, ff};
    uint64_t tb = 4ull * m->n_ctx * c->n_rot;
    float *table = malloc((size_t)tb);
    if (!table) return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    wgml_rope_table_fill(&rp, m->n_ctx, table);
    st = upload(ld, table, tb, "llama.rope_table", &m->rope_table);
    free(table);
    return st;
}

static wgml_status make_activations(wgml_llama *m)
{
    bool split_qkv = false, split_ffn = false;
    for (uint32_t i = 0; i < m->cfg.n_layers; i++) {
        split_qkv |= !m->layers[i].wqkv.buf;
        split_ffn |= !m->layers[i].gate_up.buf;
    }
    activation_buf b[MAX_ACTIVATION_BUFS];
    size_t n = activation_bufs(m, split_qkv, split_ffn, b);
    for (size_t i = 0; i < n; i++) {
        wgml_status st = make_buf(m, b[i].bytes, b[i].label, b[i].dst);
        if (st) return st;
    }
    return WGML_OK;
}

wgml_status wgml_llama_load(wgml_gpu *gpu, wgml_gguf *g, const wgml_llama_params *p,
                            wgml_llama **out)
{
    *out = NULL;
    if (!g) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "llama: no GGUF file");
    wgml_llama_params defaults = {0};
    if (!p) p = &defaults;
    wgml_llama *m = calloc(1, sizeof *m);
    if (!m) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    m->gpu = gpu;
    char err[512];
    wgml_status st = wgml_llama_config_read(g, &m->cfg, err, sizeof err);
    if (st) {
        free(m);
        return wgml_gpu_fail(gpu, st, "%s", err);
    }
    const wgml_llama_config *c = &m->cfg;
    m->n_ctx = p->n_ctx ? p->n_ctx : (c->n_ctx_train < DEFAULT_CTX ? c->n_ctx_train : DEFAULT_CTX);
    m->kv_type = wgml_gpu_info(gpu)->shader_f16 && !p->f32_activations ? WGML_F16 : WGML_F32;
    m->gemv_math = p->gemv_math;
    m->separate_norms = p->separate_norms;
    // CPU devices (lavapipe, SwiftShader) run a row per invocation best: on
    // lavapipe a Q4_1 1536 x 576 GEMV took 13-25 ms at the automatic 32-128
    // invocations per row and ~1 ms at one (gemv.c's choice targets GPUs).
    if (!strcmp(wgml_gpu_info(gpu)->adapter_type, "cpu"))
        m->gemv_shape = (wgml_gemv_variant){.reduce = WGML_GEMV_REDUCE_SHARED, .threads_per_row = 1};
    if (m->n_ctx > (1u << 24) ||
        (uint64_t)c->n_kv_heads * m->n_ctx * c->head_dim > UINT32_MAX) {
        free(m);
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "llama: a context of %u positions is too large for this model",
                             p->n_ctx);
    }
    loader ld = {.m = m, .g = g, .err = err, .err_size = sizeof err};
    if (!(m->layers = calloc(c->n_layers, sizeof *m->layers)))
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!st) st = check_limits(m, g);
    if (!st) st = load_weights(&ld);
    if (!st) st = make_activations(m);
    free(ld.raw);
    free(ld.f32);
    free(ld.packed);
    if (st) {
        wgml_llama_free(m);
        return st;
    }
    *out = m;
    return WGML_OK;
}

wgml_status wgml_llama_restore(wgml_llama *m, wgml_gguf *g)
{
    if (!m || !g) return WGML_ERR_INVALID_ARGUMENT;
    char err[512];
    wgml_llama_config c;
    wgml_status st = wgml_llama_config_read(g, &c, err, sizeof err);
    if (st) return wgml_gpu_fail(m->gpu, st, "%s", err);
    // Both configs were zeroed before they were read: padding compares equal.
    if (memcmp(&c, &m->cfg, sizeof c))
        return wgml_gpu_fail(m->gpu, WGML_ERR_BAD_FILE, "llama: the file's model is not the one "
                             "that was loaded (its configuration differs)");
    loader ld = {.m = m, .g = g, .err = err, .err_size = sizeof err, .restore = true};
    st = load_weights(&ld);
    free(ld.raw);
    free(ld.f32);
    free(ld.packed);
    return st;
}

void wgml_llama_free(wgml_llama *m)
{
    if (!m) return;
    wgml_gpu *g = m->gpu;
    if (m->output.buf != m->embd.buf) wgml_gpu_buf_release(g, m->output.buf);
    wgml_gpu_buf *bufs[] = {m->embd.buf, m->output_norm, m->rope_table, m->x, m->xn, m->qkv,
                            m->q, m->att, m->k, m->v, m->proj, m->gu, m->gate, m->up, m->hid,
                            m->ids, m->scratch, m->logits, m->logits_all, m->xq};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wgml_gpu_buf_release(g, bufs[i]);
    for (uint32_t i = 0; m->layers && i < m->cfg.n_layers; i++) {
        llama_layer *L = &m->layers[i];
        wgml_gpu_buf *lb[] = {L->attn_norm, L->ffn_norm, L->wq.buf, L->wk.buf, L->wv.buf,
                              L->wo.buf, L->gate.buf, L->up.buf, L->down.buf, L->bq, L->bk,
                              L->bv, L->k_cache, L->v_cache, L->wqkv.buf, L->gate_up.buf,
                              L->bqkv};
        for (size_t k = 0; k < sizeof lb / sizeof lb[0]; k++) wgml_gpu_buf_release(g, lb[k]);
    }
    // The weights were large one-off buffers: give their memory back now.
    wgml_gpu_pool_trim(g);
    free(m->layers);
    free(m);
}

const wgml_llama_config *wgml_llama_config_of(const wgml_llama *m) { return &m->cfg; }
uint32_t wgml_llama_n_ctx(const wgml_llama *m) { return m->n_ctx; }
bool wgml_llama_kv_f16(const wgml_llama *m) { return m->kv_type == WGML_F16; }
uint64_t wgml_llama_gpu_bytes(const wgml_llama *m) { return m->bytes; }

// ================================================================ forward

static wgml_view view(wgml_gpu_buf *b) { return (wgml_view){b, 0}; }

// The GEMV arithmetic asked for, where it suits the format (FLOAT always does).
static wgml_gemv_math gemv_math_for(const wgml_llama *m, wgml_quant q)
{
    if (m->gemv_math == WGML_GEMV_MATH_FLOAT) return WGML_GEMV_MATH_FLOAT;
    bool integer = q == WGML_QUANT_Q8_0 || q == WGML_QUANT_Q4_0 || q == WGML_QUANT_Q4_1;
    if ((m->gemv_math == WGML_GEMV_MATH_DOT4 || m->gemv_math == WGML_GEMV_MATH_DOT4_EMULATED) &&
        !integer)
        return WGML_GEMV_MATH_AUTO;
    if (m->gemv_math == WGML_GEMV_MATH_F16 && q != WGML_QUANT_F16) return WGML_GEMV_MATH_AUTO;
    return m->gemv_math;
}

// The prefill GEMMs' kernel: f32 arithmetic where the decode GEMVs are
// asked to keep it (WGML_GEMV_MATH_FLOAT, the tests' exact setting), else
// subgroup matrices where the device has them (x and W rounded to f16).
static wgml_matmul_variant gemm_variant(const wgml_llama *m)
{
    return m->gemv_math == WGML_GEMV_MATH_FLOAT ? WGML_MATMUL_TILED : WGML_MATMUL_AUTO;
}

// y (rows x N) = x (rows x K, from row x_row of x) W^T: GEMV for up to 4
// rows (memory-bound), the tiled GEMM for more.
static wgml_status linear(wgml_llama *m, const llama_weight *w, wgml_gpu_buf *x, uint32_t x_row,
                          wgml_mat y, uint32_t rows)
{
    if (rows <= WGML_GEMV_MAX_M && x_row == 0 && y.offset == 0) {
        wgml_gemv_args a = {.format = w->format, .w = view(w->buf), .x = view(x), .y = y.v,
                            .N = w->N, .K = w->K, .M = rows,
                            .variant = m->gemv_shape, .xq = view(m->xq)};
        a.variant.math = gemv_math_for(m, w->format);
        return wgml_op_gemv_ex(m->gpu, &a);
    }
    wgml_mat xm = {view(x), x_row * w->K, w->K};
    return wgml_op_matmul_q_variant(m->gpu, gemm_variant(m), w->format, view(w->buf), xm, y,
                                    rows, w->N, w->K);
}

// hid = silu(xn Wgate^T) * xn Wup^T, from the stacked weights or the two.
static wgml_status ffn(wgml_llama *m, const llama_layer *L, uint32_t rows)
{
    uint32_t F = m->cfg.ffn_dim;
    wgml_mat g, u;
    wgml_status st;
    if (L->gate_up.buf) {
        g = (wgml_mat){view(m->gu), 0, 2 * F};
        u = (wgml_mat){view(m->gu), F, 2 * F};
        st = linear(m, &L->gate_up, m->xn, 0, wgml_mat_of(view(m->gu), 2 * F), rows);
    } else {
        g = wgml_mat_of(view(m->gate), F);
        u = wgml_mat_of(view(m->up), F);
        if (!(st = linear(m, &L->gate, m->xn, 0, g, rows))) st = linear(m, &L->up, m->xn, 0, u, rows);
    }
    return st ? st : wgml_op_swiglu(m->gpu, g, u, view(m->hid), rows, F);
}

// A GEMV of `rows` vectors with fused row ops (gemv.h): y = W in(x) or,
// accumulating, y += W in(x); in is the RMSNorm with gamma, SwiGLU, or none.
static wgml_status gemv_fused(wgml_llama *m, const llama_weight *w, wgml_gpu_buf *x,
                              wgml_gemv_input in, wgml_gpu_buf *gamma, wgml_gpu_buf *y,
                              bool accumulate, uint32_t rows)
{
    wgml_gemv_args a = {.format = w->format, .w = view(w->buf), .x = view(x), .y = view(y),
                        .N = w->N, .K = w->K, .M = rows, .variant = m->gemv_shape, .input = in,
                        .gamma = view(gamma), .eps = m->cfg.rms_eps, .accumulate = accumulate,
                        .xq = view(m->xq)};
    a.variant.math = gemv_math_for(m, w->format);
    return wgml_op_gemv_ex(m->gpu, &a);
}

// A projection reading the normalised x: from xn, or (norm fused) from x
// with the norm applied on the way in.
static wgml_status linear_normed(wgml_llama *m, const llama_weight *w, bool fuse_norm,
                                 wgml_gpu_buf *gamma, wgml_mat y, uint32_t rows)
{
    if (!fuse_norm) return linear(m, w, m->xn, 0, y, rows);
    return gemv_fused(m, w, m->x, WGML_GEMV_IN_RMSNORM, gamma, y.v.buf, false, rows);
}

// Records one chunk: rows [r0, r0 + rows) of the call, at positions
// pos .. pos + rows - 1. Leaves x holding the residual stream, but for the
// last layer's down-projection, which is in proj unless the chunk fused its
// row ops (m->chunk_fused; then x holds it all).
// The token ids come from `ids` at element ids_offset.
static wgml_status record_chunk(wgml_llama *m, wgml_view ids, uint32_t ids_offset, uint32_t pos,
                                uint32_t rows)
{
    wgml_gpu *gpu = m->gpu;
    const wgml_llama_config *c = &m->cfg;
    uint32_t D = c->dim, Q = c->n_heads * c->head_dim, KV = c->n_kv_heads * c->head_dim;
    float scale = 1.0f / sqrtf((float)c->head_dim);
    // GEMV chunks fuse the residual adds (and small models the norms).
    bool fused = rows <= WGML_GEMV_MAX_M && D % 4 == 0;
    bool fuse_norm = fused && D <= NORM_FUSE_DIM && !m->separate_norms;
    m->chunk_fused = fused;
    wgml_status st;
    if ((st = wgml_op_embed(gpu, m->embd.format, view(m->embd.buf), ids, ids_offset,
                            wgml_mat_of(view(m->x), D), rows, c->n_vocab, D)))
        return st;
    for (uint32_t i = 0; i < c->n_layers; i++) {
        llama_layer *L = &m->layers[i];
        wgml_mat none = {0};
        if (!fuse_norm &&
            (st = wgml_op_add_rmsnorm(gpu, wgml_mat_of(view(m->x), D),
                                      i && !fused ? wgml_mat_of(view(m->proj), D) : none,
                                      view(L->attn_norm), wgml_mat_of(view(m->xn), D), rows, D,
                                      c->rms_eps)))
            return st;
        // q, k, v: column ranges of one matrix from the stacked weights, or three.
        wgml_mat qm, km, vm;
        if (L->wqkv.buf) {
            uint32_t W = Q + 2 * KV;
            qm = (wgml_mat){view(m->qkv), 0, W};
            km = (wgml_mat){view(m->qkv), Q, W};
            vm = (wgml_mat){view(m->qkv), Q + KV, W};
            st = linear_normed(m, &L->wqkv, fuse_norm, L->attn_norm,
                               wgml_mat_of(view(m->qkv), W), rows);
        } else {
            qm = wgml_mat_of(view(m->q), Q);
            km = wgml_mat_of(view(m->k), KV);
            vm = wgml_mat_of(view(m->v), KV);
            if (!(st = linear_normed(m, &L->wq, fuse_norm, L->attn_norm, qm, rows)) &&
                !(st = linear_normed(m, &L->wk, fuse_norm, L->attn_norm, km, rows)))
                st = linear_normed(m, &L->wv, fuse_norm, L->attn_norm, vm, rows);
        }
        if (st) return st;
        wgml_rope_args ra = {.x = qm, .bias = view(L->bq),
                             .table = view(m->rope_table), .n = rows, .heads = c->n_heads,
                             .head_dim = c->head_dim, .n_rot = c->n_rot, .pos = pos,
                             .neox = c->rope_neox};
        wgml_kv_store_args ka = {.src = km, .bias = view(L->bk),
                                 .cache = view(L->k_cache), .cache_type = m->kv_type,
                                 .capacity = m->n_ctx, .rotate = true,
                                 .table = view(m->rope_table), .n_rot = c->n_rot,
                                 .neox = c->rope_neox, .n = rows, .kv_heads = c->n_kv_heads,
                                 .head_dim = c->head_dim, .pos = pos};
        wgml_kv_store_args va = ka;
        va.src = vm;
        va.bias = view(L->bv);
        va.cache = view(L->v_cache);
        va.rotate = false;
        wgml_attn_args aa = {.q = qm, .out = wgml_mat_of(view(m->att), Q),
                             .k = view(L->k_cache), .v = view(L->v_cache), .kv_type = m->kv_type,
                             .scratch = view(m->scratch), .n = rows, .pos = pos,
                             .capacity = m->n_ctx, .heads = c->n_heads,
                             .kv_heads = c->n_kv_heads, .head_dim = c->head_dim, .scale = scale};
        // Stacked q | k | v: RoPE and the cache stores in one dispatch.
        wgml_rope_qkv_args qa = {.qkv = qm, .bias = view(L->bqkv), .table = view(m->rope_table),
                                 .k_cache = view(L->k_cache), .v_cache = view(L->v_cache),
                                 .cache_type = m->kv_type, .capacity = m->n_ctx, .n = rows,
                                 .heads = c->n_heads, .kv_heads = c->n_kv_heads,
                                 .head_dim = c->head_dim, .n_rot = c->n_rot, .pos = pos,
                                 .neox = c->rope_neox};
        if (L->wqkv.buf) st = wgml_op_rope_qkv(gpu, &qa);
        else if (!(st = wgml_op_rope(gpu, &ra)) && !(st = wgml_op_kv_store(gpu, &ka)))
            st = wgml_op_kv_store(gpu, &va);
        if (st ||
            (st = rows == 1 ? wgml_op_attn_decode(gpu, &aa) : wgml_op_attn_prefill(gpu, &aa)))
            return st;
        if (!fused) {
            if ((st = linear(m, &L->wo, m->att, 0, wgml_mat_of(view(m->proj), D), rows)) ||
                (st = wgml_op_add_rmsnorm(gpu, wgml_mat_of(view(m->x), D),
                                          wgml_mat_of(view(m->proj), D), view(L->ffn_norm),
                                          wgml_mat_of(view(m->xn), D), rows, D, c->rms_eps)) ||
                (st = ffn(m, L, rows)) ||
                (st = linear(m, &L->down, m->hid, 0, wgml_mat_of(view(m->proj), D), rows)))
                return st;
            continue;
        }
        // Fused: x += Wo att; the FFN from the normalised x; x += Wdown hid.
        if ((st = gemv_fused(m, &L->wo, m->att, WGML_GEMV_IN_PLAIN, NULL, m->x, true, rows)) ||
            (!fuse_norm &&
             (st = wgml_op_add_rmsnorm(gpu, wgml_mat_of(view(m->x), D), none, view(L->ffn_norm),
                                       wgml_mat_of(view(m->xn), D), rows, D, c->rms_eps))))
            return st;
        uint32_t F = c->ffn_dim;
        if (L->gate_up.buf) {
            if ((st = linear_normed(m, &L->gate_up, fuse_norm, L->ffn_norm,
                                    wgml_mat_of(view(m->gu), 2 * F), rows)) ||
                (st = gemv_fused(m, &L->down, m->gu, WGML_GEMV_IN_SWIGLU, NULL, m->x, true,
                                 rows)))
                return st;
        } else {
            wgml_mat g = wgml_mat_of(view(m->gate), F), u = wgml_mat_of(view(m->up), F);
            if ((st = linear_normed(m, &L->gate, fuse_norm, L->ffn_norm, g, rows)) ||
                (st = linear_normed(m, &L->up, fuse_norm, L->ffn_norm, u, rows)) ||
                (st = wgml_op_swiglu(gpu, g, u, view(m->hid), rows, F)) ||
                (st = gemv_fused(m, &L->down, m->hid, WGML_GEMV_IN_PLAIN, NULL, m->x, true, rows)))
                return st;
        }
    }
    return WGML_OK;
}

// The final norm over rows [r0, r0 + rows) of the chunk, into xn rows 0...
static wgml_status record_final_norm(wgml_llama *m, uint32_t r0, uint32_t rows)
{
    uint32_t D = m->cfg.dim;
    wgml_mat none = {0};
    return wgml_op_add_rmsnorm(m->gpu, (wgml_mat){view(m->x), r0 * D, D},
                               m->chunk_fused ? none : (wgml_mat){view(m->proj), r0 * D, D},
                               view(m->output_norm), wgml_mat_of(view(m->xn), D), rows, D,
                               m->cfg.rms_eps);
}

static wgml_status record_logits(wgml_llama *m, uint32_t row, wgml_gpu_buf **logits);

// Checks a call's tokens and positions and writes the ids at their positions.
static wgml_status begin_call(wgml_llama *m, const int32_t *tokens, uint32_t n, uint32_t pos)
{
    if (!tokens || n == 0)
        return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "llama: no tokens");
    if ((uint64_t)pos + n > m->n_ctx)
        return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT,
                             "llama: positions %u..%llu exceed the context of %u", pos,
                             (unsigned long long)pos + n - 1, m->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= m->cfg.n_vocab)
            return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT,
                                 "llama: token %d (index %u) is outside the vocabulary of %u",
                                 tokens[i], i, m->cfg.n_vocab);
    // Each position's id has its own slot, so calls recorded before one
    // submit do not overwrite each other's ids (the queue writes them first).
    return wgml_gpu_buf_write(m->gpu, m->ids, 4ull * pos, tokens, 4ull * n);
}

wgml_status wgml_llama_record(wgml_llama *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                              wgml_gpu_buf **logits)
{
    if (!m) return WGML_ERR_INVALID_ARGUMENT;
    wgml_status st = begin_call(m, tokens, n, pos);
    if (st) return st;
    uint32_t rows = 0;
    for (uint32_t r0 = 0; r0 < n; r0 += rows) {
        rows = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        if ((st = record_chunk(m, view(m->ids), pos + r0, pos + r0, rows))) return st;
    }
    return record_logits(m, rows - 1, logits);
}

wgml_status wgml_llama_record_gpu_token(wgml_llama *m, wgml_view token, uint32_t pos,
                                        wgml_gpu_buf **logits)
{
    if (!m) return WGML_ERR_INVALID_ARGUMENT;
    if (!token.buf) return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "llama: no token buffer");
    if (pos >= m->n_ctx)
        return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT,
                             "llama: position %u is past the context of %u", pos, m->n_ctx);
    wgml_status st = record_chunk(m, token, 0, pos, 1);
    return st ? st : record_logits(m, 0, logits);
}

wgml_gpu_buf *wgml_llama_tokens(const wgml_llama *m) { return m->ids; }

wgml_status wgml_llama_record_at(wgml_llama *m, uint32_t pos, wgml_gpu_buf **logits)
{
    if (!m) return WGML_ERR_INVALID_ARGUMENT;
    if (pos >= m->n_ctx)
        return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT,
                             "llama: position %u is past the context of %u", pos, m->n_ctx);
    wgml_status st = record_chunk(m, view(m->ids), pos, pos, 1);
    return st ? st : record_logits(m, 0, logits);
}

// The last row's logits: the final norm of chunk row `row`, then the output GEMV.
static wgml_status record_logits(wgml_llama *m, uint32_t row, wgml_gpu_buf **logits)
{
    wgml_status st;
    const llama_weight *w = &m->output;
    // Row 0 of a fused chunk (a decode step): the norm fuses into the GEMV.
    if (m->chunk_fused && row == 0 && m->cfg.dim <= NORM_FUSE_DIM && !m->separate_norms) {
        st = gemv_fused(m, w, m->x, WGML_GEMV_IN_RMSNORM, m->output_norm, m->logits, false, 1);
    } else {
        if ((st = record_final_norm(m, row, 1))) return st;
        st = gemv_fused(m, w, m->xn, WGML_GEMV_IN_PLAIN, NULL, m->logits, false, 1);
    }
    if (st) return st;
    if (logits) *logits = m->logits;
    return WGML_OK;
}

wgml_status wgml_llama_logits(wgml_llama *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                              bool all_positions, float *out)
{
    if (!m) return WGML_ERR_INVALID_ARGUMENT;
    if (!out) return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "llama: no output");
    wgml_status st;
    if (!all_positions) {
        if ((st = wgml_llama_record(m, tokens, n, pos, NULL)) ||
            (st = wgml_gpu_submit(m->gpu, NULL)))
            return st;
        return wgml_gpu_buf_read(m->gpu, m->logits, 0, out, 4ull * m->cfg.n_vocab);
    }
    if ((st = begin_call(m, tokens, n, pos))) return st;
    uint32_t V = m->cfg.n_vocab;
    if (!m->logits_all) {
        uint64_t lr = LOGITS_ALL_BYTES / (4ull * V);
        m->logits_rows = lr < 1 ? 1 : lr > CHUNK_ROWS ? CHUNK_ROWS : (uint32_t)lr;
        if ((st = make_buf(m, 4ull * m->logits_rows * V, "llama.logits_all", &m->logits_all)))
            return st;
    }
    uint32_t rows;
    for (uint32_t r0 = 0; r0 < n; r0 += rows) {
        rows = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        if ((st = record_chunk(m, view(m->ids), pos + r0, pos + r0, rows)) ||
            (st = record_final_norm(m, 0, rows)))
            return st;
        // The output projection in groups of LR rows, each read back.
        for (uint32_t g0 = 0; g0 < rows; g0 += m->logits_rows) {
            uint32_t gr = rows - g0 < m->logits_rows ? rows - g0 : m->logits_rows;
            const llama_weight *w = &m->output;
            if ((st = wgml_op_matmul_q_variant(m->gpu, gemm_variant(m), w->format, view(w->buf),
                                       (wgml_mat){view(m->xn), g0 * w->K, w->K},
                                       wgml_mat_of(view(m->logits_all), V), gr, V, w->K)) ||
                (st = wgml_gpu_submit(m->gpu, NULL)) ||
                (st = wgml_gpu_buf_read(m->gpu, m->logits_all, 0, out + (size_t)(r0 + g0) * V,
                                        4ull * gr * V)))
                return st;
        }
    }
    return WGML_OK;
}
