// The public embedding API (wgml.h): tokenizer + BERT encoder, texts grouped
// into batches of similar length so that little padding is computed.
#include "core/ctx_internal.h"
#include "models/bert.h"
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Texts per run at most: a batch's activations must fit the device's
// binding limits long before this.
enum { MAX_BATCH = 4096 };

struct wgml_embedder {
    wgml_ctx *ctx;
    wgml_bert *bert;
    wgml_tokenizer *tok;
    uint32_t max_batch;    // texts per run
    size_t max_tokens;     // truncation length
};

wgml_status wgml_embedder_load(wgml_ctx *ctx, const char *dir, const wgml_embedder_params *params,
                               wgml_embedder **out)
{
    if (!ctx) return WGML_ERR_INVALID_ARGUMENT;
    wgml_gpu *gpu = ctx->gpu;
    if (!out || !dir) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "embedder: NULL argument");
    *out = NULL;
    wgml_embedder_params p = params ? *params : (wgml_embedder_params){0};
    bool has_f16 = wgml_gpu_info(gpu)->shader_f16;
    if (p.precision == WGML_PRECISION_F16 && !has_f16)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "embedder: f16 needs the shader-f16 "
                             "feature, which this device lacks");
    if (p.precision != WGML_PRECISION_AUTO && p.precision != WGML_PRECISION_F32 &&
        p.precision != WGML_PRECISION_F16)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "embedder: unknown precision %d",
                             (int)p.precision);
    if (p.max_batch > MAX_BATCH)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "embedder: max_batch %u is above %d",
                             p.max_batch, MAX_BATCH);
    bool f16 = p.precision == WGML_PRECISION_F16 || (p.precision == WGML_PRECISION_AUTO && has_f16);
    wgml_embedder *e = calloc(1, sizeof *e);
    if (!e) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    e->ctx = ctx;
    e->max_batch = p.max_batch ? p.max_batch : 32;
    char err[512];
    wgml_status st = wgml_tokenizer_load_dir(dir, &e->tok, err, sizeof err);
    if (st) {
        wgml_gpu_fail(gpu, st, "%s: tokenizer: %s", dir, err);
        goto fail;
    }
    if ((st = wgml_bert_load(gpu, dir, f16, &e->bert))) goto fail;
    const wgml_bert_config *c = wgml_bert_config_of(e->bert);
    size_t def = wgml_tokenizer_default_max_length(e->tok);
    e->max_tokens = p.max_tokens ? p.max_tokens : def < c->max_position ? def : c->max_position;
    if (e->max_tokens > c->max_position || e->max_tokens < 2) {
        st = wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "embedder: max_tokens %zu is outside "
                           "2..%u (the model's positions)", e->max_tokens, c->max_position);
        goto fail;
    }
    if (wgml_tokenizer_vocab_size(e->tok) > c->vocab_size) {
        st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "%s: the tokenizer has %zu ids, the model "
                           "only %u", dir, wgml_tokenizer_vocab_size(e->tok), c->vocab_size);
        goto fail;
    }
    *out = e;
    return WGML_OK;
fail:
    wgml_embedder_free(e);
    return st;
}

void wgml_embedder_free(wgml_embedder *e)
{
    if (!e) return;
    wgml_bert_free(e->bert);
    wgml_tokenizer_free(e->tok);
    free(e);
}

wgml_bert *wgml_embedder_bert(wgml_embedder *e) { return e ? e->bert : NULL; }

uint32_t wgml_embedder_dim(const wgml_embedder *e)
{
    return e ? wgml_bert_config_of(e->bert)->hidden_size : 0;
}

// Sequence lengths are rounded up to few distinct values, so that a handful
// of compiled plans serve every batch: powers of two to 64, then multiples of 64.
static size_t length_bucket(size_t n, size_t max)
{
    size_t b = 8;
    while (b < n && b < 64) b *= 2;
    if (b < n) b = (n + 63) / 64 * 64;
    return b < max ? b : max;
}

typedef struct encoded {
    int32_t *ids;
    size_t n;
} encoded;

typedef struct by_length {
    size_t n, index;
} by_length;

// Longest first, so that neighbours in a batch have similar lengths.
static int cmp_len_desc(const void *a, const void *b)
{
    const by_length *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return x->index < y->index ? -1 : 1;
}

wgml_status wgml_embed(wgml_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                       float *out)
{
    if (!e) return WGML_ERR_INVALID_ARGUMENT;
    wgml_gpu *gpu = e->ctx->gpu;
    if (n == 0) return WGML_OK;
    if (!texts || !out) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "embed: NULL argument");
    uint32_t D = wgml_embedder_dim(e);
    encoded *enc = calloc(n, sizeof *enc);
    by_length *order = malloc(n * sizeof *order);
    size_t cap = (size_t)e->max_batch * e->max_tokens;
    int32_t *ids = malloc(cap * sizeof *ids), *mask = malloc(cap * sizeof *mask);
    float *vec = malloc((size_t)e->max_batch * D * sizeof *vec);
    wgml_status st = WGML_OK;
    if (!enc || !order || !ids || !mask || !vec) {
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    for (size_t i = 0; i < n && !st; i++) {
        if (!texts[i]) {
            st = wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "embed: text %zu is NULL", i);
            break;
        }
        char err[256];
        size_t len = lens ? lens[i] : strlen(texts[i]);
        st = wgml_tokenizer_encode(e->tok, texts[i], len, true, e->max_tokens, &enc[i].ids,
                                   &enc[i].n, err, sizeof err);
        if (st) wgml_gpu_fail(gpu, st, "embed: text %zu: %s", i, err);
        order[i] = (by_length){enc[i].n, i};
    }
    if (st) goto done;
    qsort(order, n, sizeof *order, cmp_len_desc);
    for (size_t first = 0, count; first < n && !st; first += count) {
        // A batch holds texts of one length bucket (they are sorted), so
        // short texts are not padded to a long one's length.
        size_t seq = length_bucket(order[first].n, e->max_tokens);
        for (count = 1; count < e->max_batch && first + count < n &&
                        length_bucket(order[first + count].n, e->max_tokens) == seq; count++) {}
        // Few distinct batch sizes too: powers of two to 8, then multiples of
        // 8 (up to max_batch); rows past `count` are all padding.
        uint32_t batch = 1;
        while (batch < count && batch < 8) batch *= 2;
        if (batch < count) batch = (uint32_t)((count + 7) / 8 * 8);
        if (batch > e->max_batch) batch = e->max_batch;
        memset(ids, 0, (size_t)batch * seq * sizeof *ids);
        memset(mask, 0, (size_t)batch * seq * sizeof *mask);
        for (size_t r = 0; r < count; r++) {
            const encoded *x = &enc[order[first + r].index];
            memcpy(ids + r * seq, x->ids, x->n * sizeof *ids);
            for (size_t l = 0; l < x->n; l++) mask[r * seq + l] = 1;
        }
        st = wgml_bert_embed_ids(e->bert, ids, mask, batch, (uint32_t)seq, vec, NULL);
        for (size_t r = 0; r < count && !st; r++)
            memcpy(out + order[first + r].index * D, vec + r * D, D * sizeof *vec);
    }
done:
    for (size_t i = 0; enc && i < n; i++) wgml_tokenizer_ids_free(enc[i].ids);
    free(enc);
    free(order);
    free(ids);
    free(mask);
    free(vec);
    return st;
}
