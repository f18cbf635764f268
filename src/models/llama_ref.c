// The reference forward pass (llama_ref.h). Dimension legend: D embedding,
// H heads of HD, HKV key/value heads (G = H / HKV share one), F feed-forward,
// V vocabulary, C cache capacity.
#include "models/llama_ref.h"

#include "core/half.h"
#include "formats/quant.h"
#include "ops/decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_layer {
    float *attn_norm, *ffn_norm;   // (D)
    float *wq, *wk, *wv, *wo;      // (H*HD, D), (HKV*HD, D), (HKV*HD, D), (D, H*HD)
    float *bq, *bk, *bv;           // (H*HD), (HKV*HD), (HKV*HD) or NULL
    float *w1, *w3, *w2;           // gate (F, D), up (F, D), down (D, F)
    float *k_cache, *v_cache;      // (C, HKV*HD)
} ref_layer;

struct wgml_llama_ref {
    wgml_llama_config c;
    uint32_t n_ctx;
    bool f16_kv;
    float *embd;           // (V, D)
    float *output;         // (V, D); == embd when tied
    float *output_norm;    // (D)
    float *freq_factors;   // (R/2) or NULL
    ref_layer *layers;
    // Activations of one token.
    float *x, *xb, *q, *k, *v, *att, *o, *h1, *h3;
    double *scores;        // (C)
};

// Tensor `name` dequantised to a new f32 array of `n` elements (NULL when
// absent and not required; an error in err otherwise). With kq8, K-quant
// matrices go through Q8_0.
static float *load(wgml_gguf *g, const char *name, uint64_t n, bool required, bool kq8,
                   char *err, size_t err_size, bool *failed)
{
    const wgml_gguf_tensor *t = wgml_gguf_tensor_find(g, name);
    if (!t) {
        if (required) {
            snprintf(err, err_size, "no tensor \"%s\"", name);
            *failed = true;
        }
        return NULL;
    }
    if (t->n_elements != n) {
        snprintf(err, err_size, "\"%s\" has %llu elements, not %llu", name,
                 (unsigned long long)t->n_elements, (unsigned long long)n);
        *failed = true;
        return NULL;
    }
    float *out = malloc(4 * n);
    void *raw = malloc(t->size ? t->size : 1);
    if (!out || !raw || wgml_gguf_tensor_read(g, t, 0, raw, t->size) ||
        wgml_gguf_dequantize(t->type, raw, n, out)) {
        snprintf(err, err_size, "cannot read \"%s\"", name);
        *failed = true;
        free(out);
        out = NULL;
    }
    free(raw);
    bool kquant = t->type == WGML_GGUF_Q4_K || t->type == WGML_GGUF_Q6_K;
    if (out && kq8 && kquant && t->n_dims == 2) {
        uint64_t N = t->ne[1], K = t->ne[0];
        void *q = malloc(wgml_quant_bytes(WGML_QUANT_Q8_0, N, K));
        if (!q || wgml_quant_quantize(WGML_QUANT_Q8_0, out, q, N, K) ||
            wgml_quant_dequantize(WGML_QUANT_Q8_0, q, out, N, K)) {
            snprintf(err, err_size, "cannot requantise \"%s\"", name);
            *failed = true;
        }
        free(q);
    }
    return out;
}

wgml_status wgml_llama_ref_load(wgml_gguf *g, const wgml_llama_ref_params *p,
                                wgml_llama_ref **out, char *err, size_t err_size)
{
    uint32_t n_ctx = p->n_ctx;
    bool kq8 = p->kquants_as_q8_0;
    *out = NULL;
    if (err_size) err[0] = 0;
    wgml_llama_ref *r = calloc(1, sizeof *r);
    if (!r) return WGML_ERR_OUT_OF_MEMORY;
    wgml_status st = wgml_llama_config_read(g, &r->c, err, err_size);
    if (st) {
        free(r);
        return st;
    }
    const wgml_llama_config *c = &r->c;
    if (n_ctx == 0) {
        free(r);
        snprintf(err, err_size, "no cache capacity");
        return WGML_ERR_INVALID_ARGUMENT;
    }
    r->n_ctx = n_ctx;
    r->f16_kv = p->f16_kv;
    uint64_t D = c->dim, F = c->ffn_dim, V = c->n_vocab, Q = (uint64_t)c->n_heads * c->head_dim,
             KV = (uint64_t)c->n_kv_heads * c->head_dim;
    bool failed = false;
    r->embd = load(g, "token_embd.weight", V * D, true, kq8, err, err_size, &failed);
    r->output = c->tied_output ? r->embd : load(g, "output.weight", V * D, true, kq8, err, err_size, &failed);
    r->output_norm = load(g, "output_norm.weight", D, true, false, err, err_size, &failed);
    r->freq_factors = load(g, "rope_freqs.weight", c->n_rot / 2, false, false, err, err_size, &failed);
    r->layers = calloc(c->n_layers, sizeof *r->layers);
    if (!r->layers) failed = true;
    for (uint32_t i = 0; i < c->n_layers && !failed; i++) {
        ref_layer *L = &r->layers[i];
        char n[96];
#define LOAD(field, s, count, req)                                           \
    do {                                                                     \
        snprintf(n, sizeof n, "blk.%u." s, i);                               \
        if (!failed) L->field = load(g, n, count, req, kq8, err, err_size, &failed); \
    } while (0)
        LOAD(attn_norm, "attn_norm.weight", D, true);
        LOAD(ffn_norm, "ffn_norm.weight", D, true);
        LOAD(wq, "attn_q.weight", Q * D, true);
        LOAD(wk, "attn_k.weight", KV * D, true);
        LOAD(wv, "attn_v.weight", KV * D, true);
        LOAD(wo, "attn_output.weight", D * Q, true);
        LOAD(bq, "attn_q.bias", Q, false);
        LOAD(bk, "attn_k.bias", KV, false);
        LOAD(bv, "attn_v.bias", KV, false);
        LOAD(w1, "ffn_gate.weight", F * D, true);
        LOAD(w3, "ffn_up.weight", F * D, true);
        LOAD(w2, "ffn_down.weight", D * F, true);
#undef LOAD
        L->k_cache = calloc((size_t)n_ctx * KV, sizeof(float));
        L->v_cache = calloc((size_t)n_ctx * KV, sizeof(float));
        if (!L->k_cache || !L->v_cache) failed = true;
    }
    r->x = malloc(4 * D);
    r->xb = malloc(4 * D);
    r->o = malloc(4 * D);
    r->q = malloc(4 * Q);
    r->att = malloc(4 * Q);
    r->k = malloc(4 * KV);
    r->v = malloc(4 * KV);
    r->h1 = malloc(4 * F);
    r->h3 = malloc(4 * F);
    r->scores = malloc(sizeof(double) * n_ctx);
    if (!r->x || !r->xb || !r->o || !r->q || !r->att || !r->k || !r->v || !r->h1 || !r->h3 ||
        !r->scores)
        failed = true;
    if (failed) {
        if (!err[0]) snprintf(err, err_size, "out of memory");
        wgml_llama_ref_free(r);
        return WGML_ERR_BAD_FILE;
    }
    *out = r;
    return WGML_OK;
}

void wgml_llama_ref_free(wgml_llama_ref *r)
{
    if (!r) return;
    for (uint32_t i = 0; r->layers && i < r->c.n_layers; i++) {
        ref_layer *L = &r->layers[i];
        float *f[] = {L->attn_norm, L->ffn_norm, L->wq, L->wk, L->wv, L->wo, L->bq, L->bk,
                      L->bv, L->w1, L->w3, L->w2, L->k_cache, L->v_cache};
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) free(f[k]);
    }
    if (r->output != r->embd) free(r->output);
    free(r->embd);
    free(r->output_norm);
    free(r->freq_factors);
    free(r->layers);
    free(r->x); free(r->xb); free(r->o); free(r->q); free(r->att); free(r->k); free(r->v);
    free(r->h1); free(r->h3); free(r->scores);
    free(r);
}

const wgml_llama_config *wgml_llama_ref_config(const wgml_llama_ref *r) { return &r->c; }

// ---------------------------------------------------------------- the maths

static void rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / (double)n + eps);
    for (size_t i = 0; i < n; i++) out[i] = (float)(x[i] * inv * w[i]);
}

// out (d) = W (d x n) x (n), plus bias b when given.
static void matmul(float *out, const float *x, const float *w, const float *b, size_t n, size_t d)
{
    for (size_t i = 0; i < d; i++) {
        double s = b ? b[i] : 0;
        for (size_t j = 0; j < n; j++) s += (double)w[i * n + j] * x[j];
        out[i] = (float)s;
    }
}

wgml_status wgml_llama_ref_step(wgml_llama_ref *r, int32_t token, uint32_t pos, float *logits)
{
    const wgml_llama_config *c = &r->c;
    if (token < 0 || (uint32_t)token >= c->n_vocab || pos >= r->n_ctx)
        return WGML_ERR_INVALID_ARGUMENT;
    size_t D = c->dim, F = c->ffn_dim, HD = c->head_dim, H = c->n_heads, HKV = c->n_kv_heads;
    size_t Q = H * HD, KV = HKV * HD, G = H / HKV;
    wgml_rope_params rp = {c->n_rot, c->rope_neox, c->rope_base, 1.0f / c->rope_scale,
                           r->freq_factors};
    float scale = 1.0f / sqrtf((float)HD);
    memcpy(r->x, r->embd + (size_t)token * D, 4 * D);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        ref_layer *L = &r->layers[l];
        // Attention.
        rmsnorm(r->xb, r->x, L->attn_norm, D, c->rms_eps);
        matmul(r->q, r->xb, L->wq, L->bq, D, Q);
        matmul(r->k, r->xb, L->wk, L->bk, D, KV);
        matmul(r->v, r->xb, L->wv, L->bv, D, KV);
        wgml_ref_rope(&rp, r->q, 1, Q, H, HD, pos);
        wgml_ref_rope(&rp, r->k, 1, KV, HKV, HD, pos);
        float *kc = L->k_cache + (size_t)pos * KV, *vc = L->v_cache + (size_t)pos * KV;
        for (size_t i = 0; i < KV; i++) {
            kc[i] = r->f16_kv ? wgml_f16_to_f32(wgml_f32_to_f16(r->k[i])) : r->k[i];
            vc[i] = r->f16_kv ? wgml_f16_to_f32(wgml_f32_to_f16(r->v[i])) : r->v[i];
        }
        for (size_t h = 0; h < H; h++) {
            const float *qh = r->q + h * HD;
            size_t kvh = h / G;   // grouped-query attention
            double m = -INFINITY, sum = 0;
            for (uint32_t t = 0; t <= pos; t++) {
                const float *kt = L->k_cache + (size_t)t * KV + kvh * HD;
                double dot = 0;
                for (size_t d = 0; d < HD; d++) dot += (double)qh[d] * kt[d];
                r->scores[t] = dot * scale;
                m = fmax(m, r->scores[t]);
            }
            for (uint32_t t = 0; t <= pos; t++) {
                r->scores[t] = exp(r->scores[t] - m);
                sum += r->scores[t];
            }
            for (size_t d = 0; d < HD; d++) {
                double o = 0;
                for (uint32_t t = 0; t <= pos; t++)
                    o += r->scores[t] * L->v_cache[(size_t)t * KV + kvh * HD + d];
                r->att[h * HD + d] = (float)(o / sum);
            }
        }
        matmul(r->o, r->att, L->wo, NULL, Q, D);
        for (size_t i = 0; i < D; i++) r->x[i] += r->o[i];
        // Feed-forward: SwiGLU.
        rmsnorm(r->xb, r->x, L->ffn_norm, D, c->rms_eps);
        matmul(r->h1, r->xb, L->w1, NULL, D, F);
        matmul(r->h3, r->xb, L->w3, NULL, D, F);
        for (size_t i = 0; i < F; i++) {
            double g = r->h1[i];
            r->h1[i] = (float)(g / (1.0 + exp(-g)) * r->h3[i]);
        }
        matmul(r->o, r->h1, L->w2, NULL, F, D);
        for (size_t i = 0; i < D; i++) r->x[i] += r->o[i];
    }
    rmsnorm(r->xb, r->x, r->output_norm, D, c->rms_eps);
    matmul(logits, r->xb, r->output, NULL, D, c->n_vocab);
    return WGML_OK;
}
