// Tiny Llama GGUF models for the wgml_llm tests (test_llm_model.h).
#include "test_llm_model.h"

#include "core/half.h"
#include "formats/gguf.h"
#include "formats/quant.h"
#include "models/llama_ref.h"
#include "tokenizer/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng;
static float urand(void)   // uniform in [-1, 1)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

// The bytes GPT-2's byte-level BPE writes as themselves (as code points);
// the others become U+0100 onwards, in byte order.
static bool byte_is_visible(int b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

// The token text of byte b in GPT-2's byte-level alphabet, UTF-8.
static void byte_token(int b, char out[3])
{
    unsigned cp = (unsigned)b;
    if (!byte_is_visible(b)) {
        cp = 256;
        for (int x = 0; x < b; x++) cp += !byte_is_visible(x);
    }
    memset(out, 0, 3);
    if (cp < 0x80) {
        out[0] = (char)cp;
    } else {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
    }
}

static wgml_status add_byte_vocab(wgml_gguf_writer *w)
{
    char text[TEST_LLM_BYTE_VOCAB][16];
    const char *tokens[TEST_LLM_BYTE_VOCAB];
    int32_t types[TEST_LLM_BYTE_VOCAB];
    for (int b = 0; b < 256; b++) {
        byte_token(b, text[b]);
        tokens[b] = text[b];
        types[b] = 1;   // normal
    }
    tokens[256] = "<|endoftext|>";
    types[256] = 3;     // control
    const char *no_merges[1] = {NULL};
    wgml_status st;
    if ((st = wgml_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (st = wgml_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2")) ||
        (st = wgml_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens,
                                           TEST_LLM_BYTE_VOCAB)) ||
        (st = wgml_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types,
                                           TEST_LLM_BYTE_VOCAB)) ||
        (st = wgml_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", no_merges, 0)) ||
        (st = wgml_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 256)) ||
        (st = wgml_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 256)))
        return st;
    return WGML_OK;
}

// K x N values (ne = {K, N}; N = 1: a vector), uniform of standard deviation
// sd, or all `constant` when sd is 0; matrices (N > 1) in `type`.
// zero_rows[r] (when given) zeroes row r after the draw.
static wgml_status add_tensor(wgml_gguf_writer *w, const char *name, uint64_t K, uint64_t N,
                              float sd, float constant, uint32_t type, const bool *zero_rows)
{
    uint64_t n = K * N;
    float *v = malloc(4 * n);
    if (!v) return WGML_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < n; i++) v[i] = sd > 0 ? urand() * sd * 1.7320508f : constant;
    for (uint64_t r = 0; zero_rows && r < N; r++)
        if (zero_rows[r]) memset(v + r * K, 0, 4 * K);
    if (N == 1) type = WGML_GGUF_F32;
    uint64_t ne[2] = {K, N};
    void *data = v;
    size_t bytes = 4 * n;
    void *packed = NULL;
    wgml_status st = WGML_OK;
    if (type == WGML_GGUF_F16) {
        uint16_t *h = packed = malloc(2 * n);
        if (h)
            for (uint64_t i = 0; i < n; i++) h[i] = wgml_f32_to_f16(v[i]);
        bytes = 2 * n;
    } else if (type != WGML_GGUF_F32) {
        wgml_quant q = type == WGML_GGUF_Q8_0 ? WGML_QUANT_Q8_0
                       : type == WGML_GGUF_Q4_0 ? WGML_QUANT_Q4_0 : WGML_QUANT_Q4_1;
        bytes = (size_t)wgml_quant_bytes(q, N, K);
        if ((packed = malloc(bytes))) st = wgml_quant_quantize(q, v, packed, N, K);
    }
    if (type != WGML_GGUF_F32) {
        if (!packed) st = WGML_ERR_OUT_OF_MEMORY;
        data = packed;
    }
    if (!st) st = wgml_gguf_writer_add_tensor(w, name, type, N > 1 ? 2 : 1, ne, data, bytes);
    free(v);
    free(packed);
    return st;
}

int test_llm_write(const test_llm_spec *s, const char *path)
{
    char err[512];
    uint64_t n_vocab = TEST_LLM_BYTE_VOCAB;
    uint32_t ctx = s->ctx ? s->ctx : 256, type = s->type ? s->type : WGML_GGUF_F32;
    wgml_gguf_writer *w = wgml_gguf_writer_create();
    if (!w) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    wgml_status st = WGML_OK;
    bool *zero_rows = NULL;
    if (s->vocab_from) {
        wgml_gguf *v;
        if (wgml_gguf_open_file(s->vocab_from, &v, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", s->vocab_from, err);
            wgml_gguf_writer_free(w);
            return 1;
        }
        wgml_gguf_value_type et;
        if (!wgml_gguf_get_arr(v, "tokenizer.ggml.tokens", &et, &n_vocab) || !n_vocab)
            st = WGML_ERR_BAD_FILE;
        for (size_t i = 0; i < wgml_gguf_kv_count(v) && !st; i++) {
            const char *key = wgml_gguf_kv_key(v, i);
            if (!strncmp(key, "tokenizer.", 10)) st = wgml_gguf_writer_copy_kv(w, v, key);
        }
        wgml_gguf_close(v);
    } else {
        st = add_byte_vocab(w);
        if (!st && !(zero_rows = calloc(n_vocab, sizeof *zero_rows))) st = WGML_ERR_OUT_OF_MEMORY;
        for (uint64_t t = 0; zero_rows && t < n_vocab; t++) zero_rows[t] = !(t >= 0x20 && t <= 0x7e);
    }
    rng = s->seed * 0x9e3779b97f4a7c15ull + 1;
    if (!st && s->eos_override >= 0)
        st = wgml_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)s->eos_override);
    if (!st) st = wgml_gguf_writer_set_str(w, "general.architecture", "llama");
    if (!st) st = wgml_gguf_writer_set_str(w, "general.name", s->name ? s->name : "test tiny");
    if (!st) st = wgml_gguf_writer_set_u32(w, "llama.block_count", TEST_LLM_LAYERS);
    if (!st) st = wgml_gguf_writer_set_u32(w, "llama.embedding_length", TEST_LLM_DIM);
    if (!st) st = wgml_gguf_writer_set_u32(w, "llama.feed_forward_length", TEST_LLM_FFN);
    if (!st) st = wgml_gguf_writer_set_u32(w, "llama.context_length", ctx);
    if (!st) st = wgml_gguf_writer_set_u32(w, "llama.attention.head_count", TEST_LLM_HEADS);
    if (!st) st = wgml_gguf_writer_set_u32(w, "llama.attention.head_count_kv", TEST_LLM_KV_HEADS);
    if (!st) st = wgml_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (!st) st = wgml_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    const uint64_t D = TEST_LLM_DIM, F = TEST_LLM_FFN, KV = D / TEST_LLM_HEADS * TEST_LLM_KV_HEADS;
    const float sd_d = 1 / sqrtf((float)D), sd_f = 1 / sqrtf((float)F);
    if (!st)
        st = add_tensor(w, "token_embd.weight", D, n_vocab, 0.5f, 0, WGML_GGUF_F32, zero_rows);
    if (!st)
        st = add_tensor(w, "output_norm.weight", D, 1, 0, s->zero_output_norm ? 0.0f : 1.0f, 0, NULL);
    // The byte vocabulary's models have an output matrix of their own: tied to
    // these few embeddings, every token's logit would be largest for itself
    // and greedy text one character repeated.
    if (!st && !s->vocab_from)
        st = add_tensor(w, "output.weight", D, n_vocab, 0.5f, 0, WGML_GGUF_F32, zero_rows);
    for (int l = 0; l < TEST_LLM_LAYERS && !st; l++) {
        static const struct {
            const char *name;
            int k, n;   // 0: D, 1: KV, 2: F, 3: 1
            bool ffn_in;
        } t[] = {{"attn_norm.weight", 0, 3, false}, {"attn_q.weight", 0, 0, false},
                 {"attn_k.weight", 0, 1, false},    {"attn_v.weight", 0, 1, false},
                 {"attn_output.weight", 0, 0, false}, {"ffn_norm.weight", 0, 3, false},
                 {"ffn_gate.weight", 0, 2, false},  {"ffn_up.weight", 0, 2, false},
                 {"ffn_down.weight", 2, 0, true}};
        const uint64_t dims[4] = {D, KV, F, 1};
        for (size_t i = 0; i < sizeof t / sizeof t[0] && !st; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, t[i].name);
            bool norm = t[i].n == 3;
            st = add_tensor(w, name, dims[t[i].k], dims[t[i].n], norm ? 0 : t[i].ffn_in ? sd_f : sd_d,
                            1.0f, type, NULL);
        }
    }
    free(zero_rows);
    err[0] = 0;
    if (!st) st = wgml_gguf_writer_write_file(w, path, NULL, NULL, err, sizeof err);
    if (st) fprintf(stderr, "writing %s: %s %s\n", path, err, wgml_gguf_writer_last_error(w));
    wgml_gguf_writer_free(w);
    return st ? 1 : 0;
}

int test_llm_reference_greedy(const char *path, const char *prompt, uint32_t n_ctx, int steps,
                              int32_t *out, double *margin, size_t *n_prompt)
{
    char err[512];
    wgml_gguf *g = NULL;
    wgml_tokenizer *tok = NULL;
    wgml_llama_ref *ref = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    float *logits = NULL;
    int rc = 1;
    wgml_llama_ref_params rp = {.n_ctx = n_ctx};
    if (wgml_gguf_open_file(path, &g, err, sizeof err) ||
        wgml_tokenizer_load_gguf(g, &tok, err, sizeof err) ||
        wgml_llama_ref_load(g, &rp, &ref, err, sizeof err) ||
        wgml_tokenizer_tokenize(tok, prompt, strlen(prompt), true, true, &ids, &n_ids, err,
                                sizeof err)) {
        fprintf(stderr, "reference: %s: %s\n", path, err);
        goto done;
    }
    uint32_t V = wgml_llama_ref_config(ref)->n_vocab;
    if (!(logits = malloc(4ull * V))) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++)
        if (wgml_llama_ref_step(ref, ids[i], (uint32_t)i, logits)) goto step_failed;
    for (int s = 0; s < steps; s++) {
        int best = 0;
        for (uint32_t j = 1; j < V; j++)
            if (logits[j] > logits[best]) best = (int)j;
        double second = -INFINITY;
        for (uint32_t j = 0; j < V; j++)
            if ((int)j != best && logits[j] > second) second = logits[j];
        out[s] = best;
        margin[s] = logits[best] - second;
        if (wgml_llama_ref_step(ref, best, (uint32_t)(n_ids + s), logits)) goto step_failed;
    }
    if (n_prompt) *n_prompt = n_ids;
    rc = 0;
    goto done;
step_failed:
    fprintf(stderr, "reference: a step failed\n");
done:
    free(logits);
    wgml_tokenizer_ids_free(ids);
    wgml_llama_ref_free(ref);
    wgml_tokenizer_free(tok);
    wgml_gguf_close(g);
    return rc;
}

enum { MAX_TEMP = 8 };
static char temp_paths[MAX_TEMP][64];
static int n_temp;

static void remove_temps(void)
{
    for (int i = 0; i < n_temp; i++) unlink(temp_paths[i]);
}

const char *test_llm_temp_path(const char *stem)
{
    if (n_temp == MAX_TEMP) {
        fprintf(stderr, "too many temporary files\n");
        return NULL;
    }
    char *p = temp_paths[n_temp];
    snprintf(p, sizeof temp_paths[0], "/tmp/wgml_%.20s_XXXXXX", stem);
    int fd = mkstemp(p);
    if (fd < 0) {
        perror("mkstemp");
        return NULL;
    }
    close(fd);
    if (n_temp++ == 0) atexit(remove_temps);
    return p;
}
