// BERT-family encoders: configuration, weights, the encoder graph and its
// plans. See bert.h for the files read and the dimension legend.
#include "models/bert.h"

#include "core/half.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    PLAN_CACHE = 8,   // plans kept, by (batch, length); least recently used goes first
    MAX_DIM = 1 << 16,
    MAX_LAYERS = 256,
};

// Additive mask for padded keys: exp() of it underflows to exactly 0, and it
// stays finite, so a sequence that is all padding still gives finite rows.
static const float MASK_DROP = -1e30f;

typedef struct bert_layer {
    wgml_gpu_buf *qkv_w;    // (3D, D): query, key and value weights stacked
    wgml_gpu_buf *qkv_b;    // (3D)
    wgml_gpu_buf *attn_out_w, *attn_out_b;   // (D, D), (D)
    wgml_gpu_buf *ln1_g, *ln1_b;             // (D) attention.output.LayerNorm
    wgml_gpu_buf *ffn_in_w, *ffn_in_b;       // (I, D), (I)
    wgml_gpu_buf *ffn_out_w, *ffn_out_b;     // (D, I), (D)
    wgml_gpu_buf *ln2_g, *ln2_b;             // (D) output.LayerNorm
} bert_layer;

typedef struct bert_plan {
    uint32_t batch, seq;
    wgml_plan *plan;          // NULL: free slot
    int ids, mask, weights;   // input tensors: (B, L) u32, (B, L) additive, (B, L) 0/1
    int out;                  // (B, D)
    uint64_t used;            // last use, for eviction
} bert_plan;

struct wgml_bert {
    wgml_gpu *gpu;
    wgml_bert_config cfg;
    // model.safetensors, kept open (mapped) while the model lives: after a
    // device loss the weights are uploaded again from it (bert_restore).
    wgml_safetensors *st;
    const char *prefix;       // "" or "bert." before every tensor name
    wgml_gpu_buf *word;       // (V, D)
    wgml_gpu_buf *pos;        // (P, D)
    wgml_gpu_buf *type0;      // (D): token type 0, the only one sentence embedders use
    wgml_gpu_buf *emb_ln_g, *emb_ln_b;   // (D)
    bert_layer *layers;       // (num_layers)
    bert_plan plans[PLAN_CACHE];
    uint64_t clock;
    // Host staging for a run's inputs: (B x L) each.
    uint32_t *h_ids;
    float *h_mask, *h_weights;
    size_t h_cap;             // elements
};

// ================================================================ files

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

// Parses dir/name. An absent optional file gives *doc = NULL and WGML_OK.
static wgml_status read_json(wgml_gpu *gpu, const char *dir, const char *name, bool required,
                             wgml_json_doc **doc)
{
    *doc = NULL;
    char *path = path_join(dir, name);
    if (!path) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    FILE *f = fopen(path, "rb");
    wgml_status st = WGML_OK;
    char *data = NULL;
    if (!f) {
        if (required) st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "%s: cannot open", path);
        goto done;
    }
    // Configuration files are small; anything past 16 MiB is not one.
    enum { MAX_CONFIG = 16 << 20 };
    data = malloc(MAX_CONFIG);
    size_t len = data ? fread(data, 1, MAX_CONFIG, f) : 0;
    if (!data) st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    else if (ferror(f)) st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "%s: read error", path);
    else if (len == MAX_CONFIG)
        st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "%s: larger than %d bytes", path, MAX_CONFIG);
    if (!st) {
        char err[256];
        if ((st = wgml_json_parse(data, len, NULL, doc, err, sizeof err)))
            wgml_gpu_fail(gpu, st, "%s: %s", path, err);
    }
    fclose(f);
done:
    free(data);
    free(path);
    return st;
}

// config.json's integer `key` into *out, within [lo, hi]; a missing key
// takes `def` when def >= 0.
static wgml_status config_u32(wgml_gpu *gpu, const wgml_json *cfg, const char *key, int64_t def,
                              int64_t lo, int64_t hi, uint32_t *out)
{
    const wgml_json *v = wgml_json_get(cfg, key);
    int64_t x = def;
    if (!v && def < 0)
        return wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "config.json: no \"%s\"", key);
    if (v && !wgml_json_int64(v, &x))
        return wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "config.json: \"%s\" is not an integer", key);
    if (x < lo || x > hi)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "config.json: \"%s\" = %lld is outside "
                             "%lld..%lld", key, (long long)x, (long long)lo, (long long)hi);
    *out = (uint32_t)x;
    return WGML_OK;
}

static wgml_status read_config(wgml_gpu *gpu, const char *dir, wgml_bert_config *c)
{
    wgml_json_doc *doc;
    wgml_status st = read_json(gpu, dir, "config.json", true, &doc);
    if (st) return st;
    const wgml_json *j = wgml_json_root(doc);
    if (wgml_json_type_of(j) != WGML_JSON_OBJECT) {
        st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "config.json: not an object");
        goto done;
    }
    if ((st = config_u32(gpu, j, "hidden_size", -1, 1, MAX_DIM, &c->hidden_size)) ||
        (st = config_u32(gpu, j, "num_attention_heads", -1, 1, MAX_DIM, &c->num_heads)) ||
        (st = config_u32(gpu, j, "num_hidden_layers", -1, 1, MAX_LAYERS, &c->num_layers)) ||
        (st = config_u32(gpu, j, "intermediate_size", -1, 1, 4 * MAX_DIM, &c->intermediate_size)) ||
        (st = config_u32(gpu, j, "vocab_size", -1, 1, 1 << 24, &c->vocab_size)) ||
        (st = config_u32(gpu, j, "max_position_embeddings", 512, 1, 1 << 20, &c->max_position)) ||
        (st = config_u32(gpu, j, "type_vocab_size", 2, 1, 1 << 16, &c->type_vocab_size)))
        goto done;
    if (c->hidden_size % c->num_heads) {
        st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "config.json: hidden_size %u is not a "
                           "multiple of num_attention_heads %u", c->hidden_size, c->num_heads);
        goto done;
    }
    double eps = 1e-12;
    const wgml_json *v = wgml_json_get(j, "layer_norm_eps");
    if (v && (!wgml_json_number(v, &eps) || !(eps >= 0 && eps < 1))) {
        st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "config.json: bad layer_norm_eps");
        goto done;
    }
    c->layer_norm_eps = (float)eps;
    // The erf GELU only: the tanh approximations would need their own op.
    const char *act = wgml_json_string(wgml_json_get(j, "hidden_act"), NULL);
    if (act && strcmp(act, "gelu")) {
        st = wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "config.json: hidden_act \"%s\" is not "
                           "supported (only \"gelu\")", act);
        goto done;
    }
    const char *pe = wgml_json_string(wgml_json_get(j, "position_embedding_type"), NULL);
    if (pe && strcmp(pe, "absolute")) {
        st = wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "config.json: position_embedding_type "
                           "\"%s\" is not supported (only \"absolute\")", pe);
        goto done;
    }
done:
    wgml_json_free(doc);
    return st;
}

// modules.json and the Pooling module's config.json.
static wgml_status read_pooling(wgml_gpu *gpu, const char *dir, wgml_bert_config *c)
{
    c->pooling = WGML_POOL_MEAN;   // sentence-transformers' default for a bare model
    c->normalize = false;
    wgml_json_doc *mods, *pool = NULL;
    wgml_status st = read_json(gpu, dir, "modules.json", false, &mods);
    if (st || !mods) return st;
    const wgml_json *list = wgml_json_root(mods);
    const char *pool_path = NULL;
    for (size_t i = 0; i < wgml_json_count(list); i++) {
        const wgml_json *m = wgml_json_at(list, i);
        const char *type = wgml_json_string(wgml_json_get(m, "type"), NULL);
        if (!type) continue;
        size_t n = strlen(type);
        if (n >= 7 && !strcmp(type + n - 7, "Pooling"))
            pool_path = wgml_json_string(wgml_json_get(m, "path"), NULL);
        if (n >= 9 && !strcmp(type + n - 9, "Normalize")) c->normalize = true;
    }
    if (pool_path) {
        // The module's folder must stay inside the model directory.
        if (strstr(pool_path, "..") || pool_path[0] == '/') {
            st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "modules.json: pooling path \"%s\" "
                               "leaves the model directory", pool_path);
            goto done;
        }
        char *pdir = path_join(dir, pool_path);
        if (!pdir) {
            st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
            goto done;
        }
        st = read_json(gpu, pdir, "config.json", true, &pool);
        free(pdir);
        if (st) goto done;
        const wgml_json *p = wgml_json_root(pool);
        bool mean = false, cls = false, other = false, b;
        for (size_t i = 0; i < wgml_json_count(p); i++) {
            const char *key = wgml_json_key_at(p, i, NULL);
            if (strncmp(key, "pooling_mode_", 13) || !wgml_json_bool(wgml_json_at(p, i), &b) || !b)
                continue;
            if (!strcmp(key, "pooling_mode_mean_tokens")) mean = true;
            else if (!strcmp(key, "pooling_mode_cls_token")) cls = true;
            else other = true;
        }
        if (other || mean + cls != 1) {
            st = wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "%s/config.json: only mean or CLS "
                               "pooling, one of them, is supported", pool_path);
            goto done;
        }
        c->pooling = cls ? WGML_POOL_CLS : WGML_POOL_MEAN;
    }
done:
    wgml_json_free(pool);
    wgml_json_free(mods);
    return st;
}

// ================================================================ weights

typedef struct loader {
    wgml_gpu *gpu;
    wgml_safetensors *st;
    const char *prefix;   // "" or "bert."
    bool f16;             // Linear weights to f16
    float *tmp;           // host staging
    size_t tmp_cap;       // floats
} loader;

// Reads tensor `name` (checked to be d0 x d1, or d0 when d1 == 0) as f32 into
// ld->tmp at element offset `at`.
static wgml_status read_tensor(loader *ld, const char *name, uint64_t d0, uint64_t d1, size_t at)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    const wgml_safetensors_tensor *t = wgml_safetensors_tensor_find(ld->st, full);
    if (!t)
        return wgml_gpu_fail(ld->gpu, WGML_ERR_BAD_FILE, "model.safetensors: no tensor \"%s\"",
                             full);
    bool ok = d1 ? t->n_dims == 2 && t->shape[0] == d0 && t->shape[1] == d1
                 : t->n_dims == 1 && t->shape[0] == d0;
    if (!ok)
        return wgml_gpu_fail(ld->gpu, WGML_ERR_BAD_FILE, "model.safetensors: \"%s\" is not "
                             "(%llu%s%llu) as config.json implies", full, (unsigned long long)d0,
                             d1 ? ", " : "", (unsigned long long)d1);
    size_t n = (size_t)t->n_elements;
    if (at + n > ld->tmp_cap) {
        float *b = realloc(ld->tmp, (at + n) * sizeof *b);
        if (!b) return wgml_gpu_fail(ld->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        ld->tmp = b;
        ld->tmp_cap = at + n;
    }
    wgml_status st = wgml_safetensors_tensor_read_f32(ld->st, t, ld->tmp + at, n);
    if (st)
        return wgml_gpu_fail(ld->gpu, st, "model.safetensors: %s",
                             wgml_safetensors_last_error(ld->st));
    for (size_t i = 0; i < n; i++)
        if (!isfinite(ld->tmp[at + i]))
            return wgml_gpu_fail(ld->gpu, WGML_ERR_BAD_FILE, "model.safetensors: \"%s\" holds "
                                 "a NaN or infinity", full);
    return WGML_OK;
}

// Uploads the first n floats of ld->tmp into *out, a new buffer unless one is
// there already (restoring after a device loss).
static wgml_status upload(loader *ld, size_t n, const char *label, wgml_gpu_buf **out)
{
    wgml_status st = *out ? WGML_OK : wgml_gpu_buf_create(ld->gpu, 4ull * n, label, out);
    if (!st) st = wgml_gpu_buf_write(ld->gpu, *out, 0, ld->tmp, 4ull * n);
    return st;
}

// Uploads the first n floats of ld->tmp as f16 (a Linear weight); values
// outside f16's range are refused rather than turned into infinities.
static wgml_status upload_f16(loader *ld, size_t n, const char *label, wgml_gpu_buf **out)
{
    size_t padded = (n + 1) & ~(size_t)1;   // buffer writes go by 4 bytes
    uint16_t *h = calloc(padded, sizeof *h);
    if (!h) return wgml_gpu_fail(ld->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    wgml_status st = WGML_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (fabsf(ld->tmp[i]) > 65504.0f)
            st = wgml_gpu_fail(ld->gpu, WGML_ERR_UNSUPPORTED, "model.safetensors: \"%s\" holds "
                               "%g, outside f16's range: load it in f32", label, ld->tmp[i]);
        h[i] = wgml_f32_to_f16(ld->tmp[i]);
    }
    if (!st && !*out) st = wgml_gpu_buf_create(ld->gpu, 2ull * padded, label, out);
    if (!st) st = wgml_gpu_buf_write(ld->gpu, *out, 0, h, 2ull * padded);
    free(h);
    return st;
}

// A tensor straight to the GPU; Linear weights (2-D, in layers) in f16 when asked.
static wgml_status load(loader *ld, const char *name, uint64_t d0, uint64_t d1, wgml_gpu_buf **out)
{
    wgml_status st = read_tensor(ld, name, d0, d1, 0);
    size_t n = (size_t)(d0 * (d1 ? d1 : 1));
    if (st) return st;
    return ld->f16 && d1 && !strncmp(name, "encoder.", 8) ? upload_f16(ld, n, name, out)
                                                           : upload(ld, n, name, out);
}

static wgml_status load_layer(loader *ld, const wgml_bert_config *c, uint32_t i, bert_layer *L)
{
    uint64_t D = c->hidden_size, I = c->intermediate_size;
    char n[3][128];
    static const char *qkv[3] = {"query", "key", "value"};
    wgml_status st = WGML_OK;
    // Query, key and value stacked: weights (3D x D) row blocks, biases (3D).
    for (int k = 0; k < 3 && !st; k++) {
        snprintf(n[0], sizeof n[0], "encoder.layer.%u.attention.self.%s.weight", i, qkv[k]);
        st = read_tensor(ld, n[0], D, D, (size_t)(k * D * D));
    }
    if (!st)
        st = ld->f16 ? upload_f16(ld, (size_t)(3 * D * D), "bert.qkv.weight", &L->qkv_w)
                     : upload(ld, (size_t)(3 * D * D), "bert.qkv.weight", &L->qkv_w);
    for (int k = 0; k < 3 && !st; k++) {
        snprintf(n[0], sizeof n[0], "encoder.layer.%u.attention.self.%s.bias", i, qkv[k]);
        st = read_tensor(ld, n[0], D, 0, (size_t)(k * D));
    }
    if (!st) st = upload(ld, (size_t)(3 * D), "bert.qkv.bias", &L->qkv_b);
    struct { const char *name; uint64_t d0, d1; wgml_gpu_buf **dst; } parts[] = {
        {"attention.output.dense.weight", D, D, &L->attn_out_w},
        {"attention.output.dense.bias", D, 0, &L->attn_out_b},
        {"attention.output.LayerNorm.weight", D, 0, &L->ln1_g},
        {"attention.output.LayerNorm.bias", D, 0, &L->ln1_b},
        {"intermediate.dense.weight", I, D, &L->ffn_in_w},
        {"intermediate.dense.bias", I, 0, &L->ffn_in_b},
        {"output.dense.weight", D, I, &L->ffn_out_w},
        {"output.dense.bias", D, 0, &L->ffn_out_b},
        {"output.LayerNorm.weight", D, 0, &L->ln2_g},
        {"output.LayerNorm.bias", D, 0, &L->ln2_b},
    };
    for (size_t k = 0; k < sizeof parts / sizeof parts[0] && !st; k++) {
        snprintf(n[1], sizeof n[1], "encoder.layer.%u.%s", i, parts[k].name);
        st = load(ld, n[1], parts[k].d0, parts[k].d1, parts[k].dst);
    }
    return st;
}

// Uploads every weight from m->st: into new buffers at load, into the same
// buffers when restoring after a device loss.
static wgml_status upload_weights(wgml_bert *m)
{
    const wgml_bert_config *c = &m->cfg;
    loader ld = {.gpu = m->gpu, .st = m->st, .prefix = m->prefix, .f16 = c->f16_weights};
    uint64_t D = c->hidden_size;
    wgml_status st;
    if ((st = load(&ld, "embeddings.word_embeddings.weight", c->vocab_size, D, &m->word)) ||
        (st = load(&ld, "embeddings.position_embeddings.weight", c->max_position, D, &m->pos)) ||
        (st = read_tensor(&ld, "embeddings.token_type_embeddings.weight", c->type_vocab_size, D,
                          0)) ||
        (st = upload(&ld, (size_t)D, "bert.token_type0", &m->type0)) ||
        (st = load(&ld, "embeddings.LayerNorm.weight", D, 0, &m->emb_ln_g)) ||
        (st = load(&ld, "embeddings.LayerNorm.bias", D, 0, &m->emb_ln_b)))
        goto done;
    for (uint32_t i = 0; i < c->num_layers && !st; i++) st = load_layer(&ld, c, i, &m->layers[i]);
done:
    free(ld.tmp);
    return st;
}

static wgml_status load_weights(wgml_bert *m, const char *dir)
{
    char *path = path_join(dir, "model.safetensors");
    if (!path) return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    char err[512];
    wgml_status st = wgml_safetensors_open_file(path, &m->st, err, sizeof err);
    if (st) {
        wgml_gpu_fail(m->gpu, st, "%s: %s", path, err);
        free(path);
        return st;
    }
    free(path);
    m->prefix = "";
    if (!wgml_safetensors_tensor_find(m->st, "embeddings.word_embeddings.weight") &&
        wgml_safetensors_tensor_find(m->st, "bert.embeddings.word_embeddings.weight"))
        m->prefix = "bert.";
    return upload_weights(m);
}

// The restore hook (gpu.h, "device loss"): the buffers and plans are there
// again, zero-filled; the weights go back in from the mapped file.
static wgml_status bert_restore(void *user, wgml_gpu *gpu)
{
    (void)gpu;
    wgml_status st = upload_weights(user);
    if (st) wgml_gpu_fail(gpu, st, "bert: restoring the weights: %s", wgml_gpu_last_error(gpu));
    return st;
}

// Bytes of every weight buffer as upload_weights makes them; the largest one
// and its name.
static uint64_t weight_bytes(const wgml_bert_config *c, uint64_t *largest, const char **name)
{
    uint64_t D = c->hidden_size, I = c->intermediate_size, L = c->num_layers;
    uint64_t es = c->f16_weights ? 2 : 4;   // Linear weights in layers
    // f16 buffers hold an even count (writes go by 4 bytes).
    uint64_t qkv = es * ((3 * D * D + 1) & ~1ull), ffn = es * ((I * D + 1) & ~1ull),
             ao = es * ((D * D + 1) & ~1ull);
    struct { const char *name; uint64_t bytes, count; } w[] = {
        {"embeddings.word_embeddings.weight", 4 * c->vocab_size * D, 1},
        {"embeddings.position_embeddings.weight", 4 * (uint64_t)c->max_position * D, 1},
        {"token type 0, embeddings.LayerNorm", 4 * D, 3},
        {"attention.self.{query,key,value}.weight (stacked)", qkv, L},
        {"attention.output.dense.weight", ao, L},
        {"intermediate.dense.weight", ffn, L},
        {"output.dense.weight", ffn, L},
        {"intermediate.dense.bias", 4 * I, L},
        {"attention.self.{query,key,value}.bias (stacked)", 4 * 3 * D, L},
        {"a layer's other biases and LayerNorms", 4 * D, 6 * L},
    };
    uint64_t total = 0;
    *largest = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        total += w[i].bytes * w[i].count;
        if (w[i].bytes > *largest) {
            *largest = w[i].bytes;
            *name = w[i].name;
        }
    }
    return total;
}

// Refuses a model whose weights cannot live on this device, before anything
// is uploaded: each weight is one buffer, bound whole, so each must fit
// maxBufferSize and maxStorageBufferBindingSize; all of them must fit the
// device's memory where the implementation tells it (Dawn).
static wgml_status check_fits(wgml_bert *m)
{
    const wgml_device_info *d = wgml_gpu_info(m->gpu);
    uint64_t largest;
    const char *name = "";
    uint64_t total = weight_bytes(&m->cfg, &largest, &name);
    bool by_binding = d->max_storage_buffer_binding_size < d->max_buffer_size;
    uint64_t limit = by_binding ? d->max_storage_buffer_binding_size : d->max_buffer_size;
    if (largest <= limit) {
        if (!d->device_memory || total <= d->device_memory) return WGML_OK;
        return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY,
                             "bert: the model needs %llu bytes of weights on the GPU (%s), more "
                             "than the device's memory of %llu bytes", (unsigned long long)total,
                             m->cfg.f16_weights ? "f16 Linear weights" : "f32",
                             (unsigned long long)d->device_memory);
    }
    return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY,
                         "bert: the model needs %llu bytes of weights on the GPU (%s); its "
                         "largest weight, %s, needs %llu bytes in one buffer, more than the "
                         "device's %s of %llu bytes", (unsigned long long)total,
                         m->cfg.f16_weights ? "f16 Linear weights" : "f32",
                         name, (unsigned long long)largest,
                         by_binding ? "maxStorageBufferBindingSize" : "maxBufferSize",
                         (unsigned long long)limit);
}

// ================================================================ loading

wgml_status wgml_bert_load(wgml_gpu *gpu, const char *dir, bool f16_weights, wgml_bert **out)
{
    *out = NULL;
    if (!dir) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "bert: no model directory");
    if (f16_weights && !wgml_gpu_info(gpu)->shader_f16)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "bert: f16 weights need the shader-f16 "
                             "feature, which this device lacks");
    wgml_bert *m = calloc(1, sizeof *m);
    if (!m) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    m->gpu = gpu;
    wgml_status st = read_config(gpu, dir, &m->cfg);
    if (!st) st = read_pooling(gpu, dir, &m->cfg);
    m->cfg.f16_weights = f16_weights;
    if (!st && !(m->layers = calloc(m->cfg.num_layers, sizeof *m->layers)))
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!st) st = check_fits(m);
    if (!st) st = load_weights(m, dir);
    if (!st) st = wgml_gpu_restore_hook_add(gpu, bert_restore, m);
    if (st) {
        wgml_bert_free(m);
        return st;
    }
    *out = m;
    return WGML_OK;
}

void wgml_bert_free(wgml_bert *m)
{
    if (!m) return;
    wgml_gpu_restore_hook_remove(m->gpu, bert_restore, m);
    wgml_safetensors_close(m->st);
    for (int i = 0; i < PLAN_CACHE; i++) wgml_plan_free(m->plans[i].plan);
    wgml_gpu *g = m->gpu;
    wgml_gpu_buf *bufs[] = {m->word, m->pos, m->type0, m->emb_ln_g, m->emb_ln_b};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wgml_gpu_buf_release(g, bufs[i]);
    for (uint32_t i = 0; m->layers && i < m->cfg.num_layers; i++) {
        bert_layer *L = &m->layers[i];
        wgml_gpu_buf *lb[] = {L->qkv_w, L->qkv_b, L->attn_out_w, L->attn_out_b, L->ln1_g,
                              L->ln1_b, L->ffn_in_w, L->ffn_in_b, L->ffn_out_w, L->ffn_out_b,
                              L->ln2_g, L->ln2_b};
        for (size_t k = 0; k < sizeof lb / sizeof lb[0]; k++) wgml_gpu_buf_release(g, lb[k]);
    }
    // The weights were large one-off buffers: give their memory back now.
    wgml_gpu_pool_trim(g);
    free(m->layers);
    free(m->h_ids);
    free(m->h_mask);
    free(m->h_weights);
    free(m);
}

const wgml_bert_config *wgml_bert_config_of(const wgml_bert *m) { return &m->cfg; }

// ================================================================ the graph

typedef struct graph_build {
    wgml_graph *g;
    wgml_graph_external ext[16 + 12 * MAX_LAYERS];
    int n_ext;
} graph_build;

// A weight input bound to buf in place (f16 for layers' Linear weights when
// the model holds them so).
static int weight(graph_build *b, const char *name, int ndim, int64_t d0, int64_t d1,
                  wgml_gpu_buf *buf, bool f16)
{
    int64_t shape[2] = {d0, d1};
    int t = f16 ? wgml_graph_input_f16(b->g, name, ndim, shape)
                : wgml_graph_input(b->g, name, ndim, shape);
    if (t >= 0) b->ext[b->n_ext++] = (wgml_graph_external){t, {buf, 0}};
    return t;
}

// The encoder for B sequences of WGML_DIM_SEQ tokens; returns the output.
static int build_encoder(const wgml_bert *m, graph_build *b, uint32_t batch, bert_plan *bp)
{
    const wgml_bert_config *c = &m->cfg;
    wgml_graph *g = b->g;
    bool w16 = c->f16_weights;
    int64_t D = c->hidden_size, I = c->intermediate_size, S = WGML_DIM_SEQ;
    int64_t bl[2] = {batch, S};
    bp->ids = wgml_graph_input_u32(g, "ids", 2, bl);
    bp->mask = wgml_graph_input(g, "mask", 2, bl);
    bp->weights = wgml_graph_input(g, "weights", 2, bl);
    // The first L rows of the position table are positions 0..L-1.
    int word = weight(b, "word", 2, c->vocab_size, D, m->word, false);
    int pos = weight(b, "pos", 2, S, D, m->pos, false);
    int type0 = weight(b, "type0", 1, D, 0, m->type0, false);
    int x = wgml_graph_add(g, wgml_graph_add(g, wgml_graph_gather(g, word, bp->ids), pos), type0);
    int eg = weight(b, "emb.ln.g", 1, D, 0, m->emb_ln_g, false);
    int eb = weight(b, "emb.ln.b", 1, D, 0, m->emb_ln_b, false);
    x = wgml_graph_layernorm(g, x, eg, eb, c->layer_norm_eps);
    float scale = 1.0f / sqrtf((float)(c->hidden_size / c->num_heads));
    for (uint32_t i = 0; i < c->num_layers; i++) {
        const bert_layer *L = &m->layers[i];
        // Linear weights (f16 when the model holds them so), then biases and norms.
        int wqkv = weight(b, "qkv.w", 2, 3 * D, D, L->qkv_w, w16);
        int wao = weight(b, "ao.w", 2, D, D, L->attn_out_w, w16);
        int wfi = weight(b, "fi.w", 2, I, D, L->ffn_in_w, w16);
        int wfo = weight(b, "fo.w", 2, D, I, L->ffn_out_w, w16);
        int bqkv = weight(b, "qkv.b", 1, 3 * D, 0, L->qkv_b, false);
        int bao = weight(b, "ao.b", 1, D, 0, L->attn_out_b, false);
        int bfi = weight(b, "fi.b", 1, I, 0, L->ffn_in_b, false);
        int bfo = weight(b, "fo.b", 1, D, 0, L->ffn_out_b, false);
        int g1 = weight(b, "ln1.g", 1, D, 0, L->ln1_g, false);
        int b1 = weight(b, "ln1.b", 1, D, 0, L->ln1_b, false);
        int g2 = weight(b, "ln2.g", 1, D, 0, L->ln2_g, false);
        int b2 = weight(b, "ln2.b", 1, D, 0, L->ln2_b, false);
        // Attention: packed QKV (bias fused into the matmul), then the output
        // projection; its bias and the residual fuse into the layernorm's prologue.
        int qkv = wgml_graph_add(g, wgml_graph_matmul_nt(g, x, wqkv), bqkv);
        int att = wgml_graph_attention(g, qkv, bp->mask, (int)c->num_heads, scale);
        int h = wgml_graph_add(g, wgml_graph_matmul_nt(g, att, wao), bao);
        h = wgml_graph_layernorm(g, wgml_graph_add(g, h, x), g1, b1, c->layer_norm_eps);
        // Feed-forward: bias + GELU fused into the first matmul.
        int f = wgml_graph_gelu(g, wgml_graph_add(g, wgml_graph_matmul_nt(g, h, wfi), bfi));
        f = wgml_graph_add(g, wgml_graph_matmul_nt(g, f, wfo), bfo);
        x = wgml_graph_layernorm(g, wgml_graph_add(g, f, h), g2, b2, c->layer_norm_eps);
    }
    return wgml_graph_pool(g, x, bp->weights, c->pooling, c->normalize);
}

// The cached plan for (batch, seq), compiled on first use.
static wgml_status get_plan(wgml_bert *m, uint32_t batch, uint32_t seq, bert_plan **out)
{
    bert_plan *slot = &m->plans[0];
    for (int i = 0; i < PLAN_CACHE; i++) {
        bert_plan *p = &m->plans[i];
        if (p->plan && p->batch == batch && p->seq == seq) {
            p->used = ++m->clock;
            *out = p;
            return WGML_OK;
        }
        if (!p->plan || (slot->plan && p->used < slot->used)) slot = p;
    }
    if (seq > m->cfg.max_position)
        return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "bert: %u tokens exceed the "
                             "model's %u positions", seq, m->cfg.max_position);
    wgml_plan_free(slot->plan);
    memset(slot, 0, sizeof *slot);
    graph_build *b = calloc(1, sizeof *b);
    if (!b || !(b->g = wgml_graph_create())) {
        free(b);
        return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    wgml_status st = WGML_OK;
    slot->out = build_encoder(m, b, batch, slot);
    if (slot->out < 0) {
        st = wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "bert graph: %s",
                           wgml_graph_error(b->g));
    } else if (!(st = wgml_graph_output(b->g, slot->out))) {
        wgml_graph_options opt = {.seq_len = seq, .external = b->ext, .n_external = b->n_ext};
        st = wgml_graph_compile(b->g, m->gpu, &opt, &slot->plan);
    }
    wgml_graph_free(b->g);
    free(b);
    if (st) return st;
    slot->batch = batch;
    slot->seq = seq;
    slot->used = ++m->clock;
    *out = slot;
    return WGML_OK;
}

wgml_status wgml_bert_plan_stats_get(wgml_bert *m, uint32_t batch, uint32_t seq,
                                     wgml_bert_plan_stats *out)
{
    if (!m || !out || batch == 0 || seq == 0)
        return m ? wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "bert: bad plan shape")
                 : WGML_ERR_INVALID_ARGUMENT;
    bert_plan *bp;
    wgml_status st = get_plan(m, batch, seq, &bp);
    if (st) return st;
    out->kernels = wgml_plan_kernel_count(bp->plan);
    wgml_plan_memory(bp->plan, &out->planned_bytes, &out->naive_bytes);
    out->flops = wgml_plan_flops(bp->plan);
    out->bytes = wgml_plan_bytes(bp->plan);
    return WGML_OK;
}

// ================================================================ running

wgml_status wgml_bert_embed_ids(wgml_bert *m, const int32_t *ids, const int32_t *mask,
                                uint32_t batch, uint32_t seq, float *out, double *gpu_ns)
{
    if (!m) return WGML_ERR_INVALID_ARGUMENT;
    if (!ids || !mask || !out || batch == 0 || seq == 0)
        return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "bert: empty batch or NULL data");
    size_t n = (size_t)batch * seq;
    if (n > m->h_cap) {
        free(m->h_ids);
        free(m->h_mask);
        free(m->h_weights);
        m->h_ids = malloc(n * sizeof *m->h_ids);
        m->h_mask = malloc(n * sizeof *m->h_mask);
        m->h_weights = malloc(n * sizeof *m->h_weights);
        m->h_cap = m->h_ids && m->h_mask && m->h_weights ? n : 0;
        if (!m->h_cap) return wgml_gpu_fail(m->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    // The gather kernel reads zeros for ids past the table; an error here is clearer.
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= m->cfg.vocab_size)
            return wgml_gpu_fail(m->gpu, WGML_ERR_INVALID_ARGUMENT, "bert: token id %d (row %zu, "
                                 "column %zu) is outside the vocabulary of %u", ids[i],
                                 i / seq, i % seq, m->cfg.vocab_size);
        m->h_ids[i] = (uint32_t)ids[i];
        m->h_weights[i] = mask[i] ? 1.0f : 0.0f;
        m->h_mask[i] = mask[i] ? 0.0f : MASK_DROP;
    }
    bert_plan *bp;
    wgml_status st = get_plan(m, batch, seq, &bp);
    if (st || (st = wgml_plan_write_u32(bp->plan, bp->ids, m->h_ids, n)) ||
        (st = wgml_plan_write(bp->plan, bp->mask, m->h_mask, n)) ||
        (st = wgml_plan_write(bp->plan, bp->weights, m->h_weights, n)) ||
        (st = wgml_plan_run(bp->plan, gpu_ns)))
        return st;
    return wgml_plan_read(bp->plan, bp->out, out, (size_t)batch * m->cfg.hidden_size);
}
