/*
 * The GPU decoder (src/models/llama.h) against the plain C reference
 * (src/models/llama_ref.h) on tiny random models that this test writes with
 * the GGUF writer, one per tensor type and architecture feature.
 *
 *   test_llama TYPE         f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q6_k: a llama model
 *                           whose matrices are all of TYPE (norms f32)
 *   test_llama qwen2        qwen2: Q/K/V biases, NeoX rotation, untied output
 *   test_llama mixed        qwen2, q4_1 with attn_v in q8_0 and ffn_up in f16: Q/K/V
 *                           and gate/up stay separate matrices (else they are
 *                           stacked), RoPE and the cache stores separate ops;
 *                           decode norms as their own dispatches (as for D > 8192)
 *   test_llama rope         linear rope scaling, rope_freqs factors, partial
 *                           rotation (R = HD / 2), f32 KV cache; decode norms
 *                           as their own dispatches
 *   test_llama continuation the KV cache: a prompt in pieces (prefill, decode
 *                           steps, a 3-row GEMV chunk) equals the whole prompt at
 *                           once; rewinding to an earlier position and going on
 *                           equals a recomputation; prompts longer than one
 *                           256-row chunk; a token id read from a GPU buffer
 *                           (wgml_llama_record_gpu_token) equals the same id from the host
 *   test_llama errors       bad files, tokens, positions; device limits
 *
 * Each model case runs a 9-token prefill (GEMM path), 6 decode steps (GEMV,
 * flash-decode attention), a 3-token step (GEMV with M = 3, prefill
 * attention), and all-position logits of a fresh 12-token sequence, each
 * compared with the reference (which runs token by token) by NMSE of the
 * logits. The reference rounds K/V to f16 when the GPU cache is f16.
 * Each type runs twice: with float GEMVs (weights dequantised in registers,
 * f32 sums), then with the automatic choice, which for the integer formats
 * quantises the activations of each decode GEMV to int8 blocks (dot4, as
 * llama.cpp's CPU backend quantises them to Q8). Thresholds:
 *   float GEMVs, every type  1e-6  f32 sums in other
 *                            orders than the reference's double ones
 *                            (q4_k and q6_k: the GPU holds them requantised to
 *                            Q8_0, and so does the reference here; what that
 *                            costs, reference against reference, is printed)
 *   automatic                5e-3  int8 activations: each GEMV's output off
 *                            by ~2e-5 (NMSE), ~15 of them per token, which
 *                            these random models amplify (their attention is
 *                            peaked): observed 1.6e-4 (q4_0) to 1.5e-3 (q4_k)
 * qwen2, rope and continuation take float GEMVs where they compare with the
 * reference (same limits), the automatic choice elsewhere.
 */
#include "core/half.h"
#include "formats/gguf.h"
#include "formats/quant.h"
#include "models/llama.h"
#include "models/llama_ref.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

// ---------------------------------------------------------------- tiny models

typedef struct model_spec {
    const char *arch;          // "llama" or "qwen2"
    uint32_t dim, layers, heads, kv_heads, ffn, vocab, ctx;
    uint32_t type;             // GGUF type of the matrices
    bool tied;
    float rope_base, rope_factor;   // factor 0: no scaling key
    uint32_t n_rot;            // 0: no key (HD)
    bool freq_factors;
    bool mixed;                // attn_v in Q8_0 and ffn_up in F16 (stacking impossible)
    uint64_t seed;
} model_spec;

static uint64_t rng_state;
static float urand(void)   // uniform in [-1, 1)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = wgml_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

// N x K values of standard deviation `sd` in GGUF `type`, bytes in *out.
static size_t make_matrix(uint32_t type, uint64_t N, uint64_t K, float sd, uint8_t **out)
{
    uint64_t n = N * K;
    float *w = malloc(4 * n);
    for (uint64_t i = 0; i < n; i++) w[i] = urand() * sd * 1.7320508f;   // uniform: sd = a / sqrt(3)
    size_t bytes = 0;
    uint8_t *b = NULL;
    switch (type) {
    case WGML_GGUF_F32:
        bytes = 4 * n;
        b = malloc(bytes);
        memcpy(b, w, bytes);
        break;
    case WGML_GGUF_F16:
        bytes = 2 * n;
        b = malloc(bytes);
        for (uint64_t i = 0; i < n; i++) put_f16(b + 2 * i, w[i]);
        break;
    case WGML_GGUF_BF16:   // the top half of the f32 (truncated: any bf16 will do)
        bytes = 2 * n;
        b = malloc(bytes);
        for (uint64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &w[i], 4);
            b[2 * i] = (uint8_t)(u >> 16);
            b[2 * i + 1] = (uint8_t)(u >> 24);
        }
        break;
    case WGML_GGUF_Q8_0: case WGML_GGUF_Q4_0: case WGML_GGUF_Q4_1: {
        wgml_quant q = type == WGML_GGUF_Q8_0 ? WGML_QUANT_Q8_0
                       : type == WGML_GGUF_Q4_0 ? WGML_QUANT_Q4_0 : WGML_QUANT_Q4_1;
        bytes = wgml_quant_bytes(q, N, K);
        b = malloc(bytes);
        wgml_quant_quantize(q, w, b, N, K);
        break;
    }
    case WGML_GGUF_Q4_K: {   // random scales, mins and quants; d and dmin set the magnitude
        uint64_t nb = n / 256;
        bytes = nb * 144;
        b = malloc(bytes);
        for (uint64_t i = 0; i < bytes; i++) b[i] = (uint8_t)(urand() * 128 + 128);
        for (uint64_t i = 0; i < nb; i++) {
            put_f16(b + 144 * i, sd * 3.4f / (32.0f * 15.0f));
            put_f16(b + 144 * i + 2, sd * 1.7f / 32.0f);
        }
        break;
    }
    case WGML_GGUF_Q6_K: {
        uint64_t nb = n / 256;
        bytes = nb * 210;
        b = malloc(bytes);
        for (uint64_t i = 0; i < bytes; i++) b[i] = (uint8_t)(urand() * 128 + 128);
        for (uint64_t i = 0; i < nb; i++) put_f16(b + 210 * i + 208, sd * 1.7f / (64.0f * 32.0f));
        break;
    }
    }
    free(w);
    *out = b;
    return bytes;
}

static int add_tensor(wgml_gguf_writer *w, const char *name, uint32_t type, uint64_t K, uint64_t N,
                      float sd)
{
    uint8_t *b;
    size_t bytes = make_matrix(type, N, K, sd, &b);
    uint64_t ne[2] = {K, N};
    wgml_status st = wgml_gguf_writer_add_tensor(w, name, type, N > 1 ? 2 : 1, ne, b, bytes);
    free(b);
    TEST_CHECK(st == WGML_OK, "add %s: %s", name, wgml_gguf_writer_last_error(w));
    return 0;
}

// A vector of n values around `center`.
static int add_vector(wgml_gguf_writer *w, const char *name, uint64_t n, float center, float spread)
{
    float *v = malloc(4 * n);
    for (uint64_t i = 0; i < n; i++) v[i] = center + spread * urand();
    uint64_t ne[1] = {n};
    wgml_status st = wgml_gguf_writer_add_tensor(w, name, WGML_GGUF_F32, 1, ne, v, 4 * n);
    free(v);
    TEST_CHECK(st == WGML_OK, "add %s: %s", name, wgml_gguf_writer_last_error(w));
    return 0;
}

// Whether `name` (always evaluated: it may format the name) is the one to leave out.
static bool skipped(const char *skip, const char *name) { return skip && !strcmp(skip, name); }

// Writes the model to `path`. `skip` names a tensor to leave out (errors test).
static int write_model(const model_spec *s, const char *path, const char *skip)
{
    rng_state = s->seed * 0x9e3779b97f4a7c15ull + 7;
    wgml_gguf_writer *w = wgml_gguf_writer_create();
    TEST_CHECK(w, "writer");
    char k[128];
    const char *a = s->arch;
    uint32_t hd = s->dim / s->heads, Q = s->heads * hd, KV = s->kv_heads * hd;
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, a), k)
    wgml_gguf_writer_set_str(w, "general.architecture", a);
    wgml_gguf_writer_set_u32(w, KEY("block_count"), s->layers);
    wgml_gguf_writer_set_u32(w, KEY("embedding_length"), s->dim);
    wgml_gguf_writer_set_u32(w, KEY("feed_forward_length"), s->ffn);
    wgml_gguf_writer_set_u32(w, KEY("context_length"), s->ctx);
    wgml_gguf_writer_set_u32(w, KEY("attention.head_count"), s->heads);
    wgml_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), s->kv_heads);
    wgml_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    wgml_gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_base);
    if (s->n_rot) wgml_gguf_writer_set_u32(w, KEY("rope.dimension_count"), s->n_rot);
    if (s->rope_factor) {
        wgml_gguf_writer_set_str(w, KEY("rope.scaling.type"), "linear");
        wgml_gguf_writer_set_f32(w, KEY("rope.scaling.factor"), s->rope_factor);
    }
#undef KEY
    int rc = 0;
    bool qwen = !strcmp(a, "qwen2");
#define T(name, ...) (skipped(skip, name) ? 0 : __VA_ARGS__)
    rc |= T("token_embd.weight", add_tensor(w, "token_embd.weight", s->type, s->dim, s->vocab, 1.0f));
    if (!s->tied)
        rc |= T("output.weight", add_tensor(w, "output.weight", s->type, s->dim, s->vocab,
                                            1.0f / sqrtf((float)s->dim)));
    rc |= T("output_norm.weight", add_vector(w, "output_norm.weight", s->dim, 1.0f, 0.2f));
    if (s->freq_factors) {
        uint32_t nr = s->n_rot ? s->n_rot : hd;
        float *ff = malloc(2ull * nr);
        for (uint32_t i = 0; i < nr / 2; i++) ff[i] = 1.0f + (float)(i % 4);
        uint64_t ne[1] = {nr / 2};
        rc |= wgml_gguf_writer_add_tensor(w, "rope_freqs.weight", WGML_GGUF_F32, 1, ne, ff, 2ull * nr) != 0;
        free(ff);
    }
    for (uint32_t l = 0; l < s->layers && !rc; l++) {
        char n[96];
#define N(sfx) (snprintf(n, sizeof n, "blk.%u." sfx, l), n)
        rc |= T(N("attn_norm.weight"), add_vector(w, n, s->dim, 1.0f, 0.2f));
        rc |= T(N("ffn_norm.weight"), add_vector(w, n, s->dim, 1.0f, 0.2f));
        // Q and K larger than 1/sqrt(D) so that attention is far from uniform.
        rc |= T(N("attn_q.weight"), add_tensor(w, n, s->type, s->dim, Q, 2.0f / sqrtf((float)s->dim)));
        rc |= T(N("attn_k.weight"), add_tensor(w, n, s->type, s->dim, KV, 2.0f / sqrtf((float)s->dim)));
        rc |= T(N("attn_v.weight"), add_tensor(w, n, s->mixed ? WGML_GGUF_Q8_0 : s->type, s->dim, KV,
                                                1.0f / sqrtf((float)s->dim)));
        rc |= T(N("attn_output.weight"), add_tensor(w, n, s->type, Q, s->dim, 1.0f / sqrtf((float)Q)));
        rc |= T(N("ffn_gate.weight"), add_tensor(w, n, s->type, s->dim, s->ffn, 1.0f / sqrtf((float)s->dim)));
        rc |= T(N("ffn_up.weight"), add_tensor(w, n, s->mixed ? WGML_GGUF_F16 : s->type, s->dim,
                                               s->ffn, 1.0f / sqrtf((float)s->dim)));
        rc |= T(N("ffn_down.weight"), add_tensor(w, n, s->type, s->ffn, s->dim, 1.0f / sqrtf((float)s->ffn)));
        if (qwen) {
            rc |= T(N("attn_q.bias"), add_vector(w, n, Q, 0.0f, 0.5f));
            rc |= T(N("attn_k.bias"), add_vector(w, n, KV, 0.0f, 0.5f));
            rc |= T(N("attn_v.bias"), add_vector(w, n, KV, 0.0f, 0.5f));
        }
#undef N
    }
#undef T
    char err[256];
    if (!rc && wgml_gguf_writer_write_file(w, path, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "write %s: %s\n", path, err);
        rc = 1;
    }
    wgml_gguf_writer_free(w);
    return rc;
}

static const model_spec BASE = {
    .arch = "llama", .dim = 256, .layers = 2, .heads = 4, .kv_heads = 2, .ffn = 512,
    .vocab = 300, .ctx = 512, .type = WGML_GGUF_F32, .tied = true, .rope_base = 10000.f,
    .seed = 1,
};

static char tmp_path[256];

static int open_model(const model_spec *s, wgml_gguf **g)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/wgml_test_llama_%d.gguf", (int)getpid());
    if (write_model(s, tmp_path, NULL)) return 1;
    char err[256];
    wgml_status st = wgml_gguf_open_file(tmp_path, g, err, sizeof err);
    unlink(tmp_path);
    TEST_CHECK(st == WGML_OK, "open: %s", err);
    return 0;
}

// ---------------------------------------------------------------- comparisons

static int compare(const char *what, const float *gpu, const float *ref, size_t n, double tol,
                   double *worst)
{
    double e = test_nmse(gpu, ref, n);
    if (e > *worst) *worst = e;
    if (getenv("WGML_TEST_VERBOSE")) printf("     %-24s nmse %.3g\n", what, e);
    TEST_CHECK(e <= tol, "%s: logits nmse %.3g > %.3g", what, e, tol);
    return 0;
}

static int argmax(const float *x, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return (int)b;
}

// The model case: prefill, decode steps, a 3-row step, all-position logits.
static int run_case(wgml_gpu *gpu, const model_spec *s, const wgml_llama_params *p, double tol,
                    const char *name)
{
    wgml_gguf *g;
    if (open_model(s, &g)) return 1;
    wgml_llama *m;
    TEST_OK(gpu, wgml_llama_load(gpu, g, p, &m));
    const wgml_llama_config *c = wgml_llama_config_of(m);
    char err[256];
    wgml_llama_ref *r;
    wgml_llama_ref_params rp = {wgml_llama_n_ctx(m), wgml_llama_kv_f16(m), true};
    wgml_status st = wgml_llama_ref_load(g, &rp, &r, err, sizeof err);
    TEST_CHECK(st == WGML_OK, "reference: %s", err);
    uint32_t V = c->n_vocab;
    float *lg = malloc(4ull * V * 16), *lr = malloc(4ull * V * 16);
    TEST_CHECK(lg && lr, "out of memory");
    double worst = 0;
    int32_t toks[32];
    for (int i = 0; i < 32; i++) toks[i] = (int32_t)((i * 7919u + s->seed * 13u) % V);
    // Prefill of 9 tokens, then decode steps that feed the reference's argmax
    // (a generation), then a 3-token step.
    TEST_OK(gpu, wgml_llama_logits(m, toks, 9, 0, false, lg));
    for (uint32_t i = 0; i < 9; i++) TEST_CHECK(!wgml_llama_ref_step(r, toks[i], i, lr), "ref step");
    if (compare("prefill 9", lg, lr, V, tol, &worst)) return 1;
    uint32_t pos = 9;
    for (int step = 0; step < 6; step++, pos++) {
        int32_t t = argmax(lr, V);
        TEST_OK(gpu, wgml_llama_logits(m, &t, 1, pos, false, lg));
        TEST_CHECK(!wgml_llama_ref_step(r, t, pos, lr), "ref step");
        char what[32];
        snprintf(what, sizeof what, "decode step %d", step);
        if (compare(what, lg, lr, V, tol, &worst)) return 1;
    }
    TEST_OK(gpu, wgml_llama_logits(m, toks + 20, 3, pos, false, lg));
    for (uint32_t i = 0; i < 3; i++) TEST_CHECK(!wgml_llama_ref_step(r, toks[20 + i], pos + i, lr), "ref");
    if (compare("3-row step", lg, lr, V, tol, &worst)) return 1;
    // All positions of a new sequence (position 0 again: the cache is overwritten).
    TEST_OK(gpu, wgml_llama_logits(m, toks + 3, 12, 0, true, lg));
    for (uint32_t i = 0; i < 12; i++) {
        TEST_CHECK(!wgml_llama_ref_step(r, toks[3 + i], i, lr), "ref step");
        char what[32];
        snprintf(what, sizeof what, "all positions, row %u", i);
        if (compare(what, lg + (size_t)i * V, lr, V, tol, &worst)) return 1;
    }
    printf("ok   %-10s %s D=%u L=%u H=%u/%u V=%u kv=%s: 23 logit rows, worst nmse %.2e (limit %.0e)\n",
           name, c->arch, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, V,
           wgml_llama_kv_f16(m) ? "f16" : "f32", worst, tol);
    free(lg);
    free(lr);
    wgml_llama_ref_free(r);
    wgml_llama_free(m);
    wgml_gguf_close(g);
    return 0;
}

// What requantising K-quant matrices to Q8_0 changes, reference against
// reference over a 9-token prompt (printed; bounded only loosely: random
// K-quant blocks with random mins are harsher than trained ones).
static int kquant_cost(const model_spec *s)
{
    wgml_gguf *g;
    if (open_model(s, &g)) return 1;
    char err[256];
    wgml_llama_ref *a, *b;
    wgml_llama_ref_params pa = {32, false, false}, pb = {32, false, true};
    TEST_CHECK(!wgml_llama_ref_load(g, &pa, &a, err, sizeof err), "reference: %s", err);
    TEST_CHECK(!wgml_llama_ref_load(g, &pb, &b, err, sizeof err), "reference: %s", err);
    uint32_t V = wgml_llama_ref_config(a)->n_vocab;
    float *la = malloc(4ull * V), *lb = malloc(4ull * V);
    double worst = 0;
    for (uint32_t i = 0; i < 9; i++) {
        int32_t t = (int32_t)((i * 7919u + 5u) % V);
        TEST_CHECK(!wgml_llama_ref_step(a, t, i, la) && !wgml_llama_ref_step(b, t, i, lb), "step");
        worst = fmax(worst, test_nmse(lb, la, V));
    }
    TEST_CHECK(worst < 5e-2, "requantisation to Q8_0 changes the logits by nmse %.3g", worst);
    printf("ok   requantising the K-quants to Q8_0 moves the reference's logits by nmse <= %.2e\n",
           worst);
    free(la); free(lb);
    wgml_llama_ref_free(a);
    wgml_llama_ref_free(b);
    wgml_gguf_close(g);
    return 0;
}

static int test_type(wgml_gpu *gpu, const char *name)
{
    static const struct { const char *name; uint32_t type; double tol; } types[] = {
        {"f32", WGML_GGUF_F32, 1e-6},   {"f16", WGML_GGUF_F16, 1e-6},
        {"bf16", WGML_GGUF_BF16, 1e-6}, {"q8_0", WGML_GGUF_Q8_0, 1e-6},
        {"q4_0", WGML_GGUF_Q4_0, 1e-6}, {"q4_1", WGML_GGUF_Q4_1, 1e-6},
        {"q4_k", WGML_GGUF_Q4_K, 1e-6}, {"q6_k", WGML_GGUF_Q6_K, 1e-6},
    };
    for (size_t i = 0; i < COUNT(types); i++) {
        if (strcmp(types[i].name, name)) continue;
        model_spec s = BASE;
        s.type = types[i].type;
        s.seed = 10 + i;
        s.tied = i % 2 == 0;
        // Float GEMVs against the tight limit, then the automatic choice
        // (int8 activations for the integer formats) against 5e-3.
        wgml_llama_params p = {.gemv_math = WGML_GEMV_MATH_FLOAT};
        char label[32];
        snprintf(label, sizeof label, "%s/float", name);
        if (run_case(gpu, &s, &p, types[i].tol, label)) return 1;
        snprintf(label, sizeof label, "%s/auto", name);
        if (run_case(gpu, &s, NULL, 5e-3, label)) return 1;
        return s.type == WGML_GGUF_Q4_K || s.type == WGML_GGUF_Q6_K ? kquant_cost(&s) : 0;
    }
    fprintf(stderr, "unknown type %s\n", name);
    return 2;
}

static int test_qwen2(wgml_gpu *gpu)
{
    model_spec s = BASE;
    s.arch = "qwen2";
    s.type = WGML_GGUF_F16;
    s.tied = false;
    s.heads = 8;   // G = 4, HD = 32
    s.rope_base = 1000000.f;
    s.seed = 21;
    wgml_llama_params p = {.gemv_math = WGML_GEMV_MATH_FLOAT};
    return run_case(gpu, &s, &p, 1e-6, "qwen2");
}

// Matrices of one layer in different formats: Q, K, V and gate, up are
// not stacked (separate GEMVs and GEMMs).
static int test_mixed(wgml_gpu *gpu)
{
    model_spec s = BASE;
    s.arch = "qwen2";   // biases and NeoX through the separate ops
    s.type = WGML_GGUF_Q4_1;
    s.mixed = true;
    s.seed = 51;
    // The norms as dispatches of their own (the decode path of D > 8192).
    wgml_llama_params p = {.gemv_math = WGML_GEMV_MATH_FLOAT, .separate_norms = true};
    return run_case(gpu, &s, &p, 1e-6, "mixed");
}

static int test_rope(wgml_gpu *gpu)
{
    model_spec s = BASE;
    s.type = WGML_GGUF_F16;
    s.rope_factor = 4.0f;
    s.n_rot = 32;   // of HD = 64
    s.freq_factors = true;
    s.rope_base = 500000.f;
    s.seed = 31;
    wgml_llama_params p = {.f32_activations = true, .gemv_math = WGML_GEMV_MATH_FLOAT,
                           .separate_norms = true};
    return run_case(gpu, &s, &p, 1e-6, "rope");
}

// ---------------------------------------------------------------- the KV cache

static int test_continuation(wgml_gpu *gpu)
{
    model_spec s = BASE;
    s.type = WGML_GGUF_Q8_0;
    s.seed = 41;
    wgml_gguf *g;
    if (open_model(&s, &g)) return 1;
    wgml_llama *m;
    TEST_OK(gpu, wgml_llama_load(gpu, g, NULL, &m));
    uint32_t V = wgml_llama_config_of(m)->n_vocab, n = 300;
    int32_t *toks = malloc(4ull * n);
    float *whole = malloc(4ull * V), *piece = malloc(4ull * V), *ref = malloc(4ull * V);
    TEST_CHECK(toks && whole && piece && ref, "out of memory");
    for (uint32_t i = 0; i < n; i++) toks[i] = (int32_t)((i * 2654435761u) % V);
    double worst = 0;
    // 40 tokens at once against 17 + 1 + 1 + 3 + 18 pieces.
    TEST_OK(gpu, wgml_llama_logits(m, toks, 40, 0, false, whole));
    static const uint32_t pieces[] = {17, 1, 1, 3, 18};
    uint32_t at = 0;
    for (size_t i = 0; i < COUNT(pieces); i++) {
        TEST_OK(gpu, wgml_llama_logits(m, toks + at, pieces[i], at, false, piece));
        at += pieces[i];
    }
    if (compare("pieces vs whole", piece, whole, V, 2e-4, &worst)) return 1;
    printf("ok   40 tokens in pieces (17, 1, 1, 3, 18) vs at once: nmse %.2e\n", worst);
    // Rewind to position 25 and go on with other tokens: equals recomputing
    // those positions from scratch.
    int32_t alt[40];
    memcpy(alt, toks, 4 * 25);
    for (uint32_t i = 25; i < 40; i++) alt[i] = (int32_t)((i * 31u + 5u) % V);
    TEST_OK(gpu, wgml_llama_logits(m, alt + 25, 15, 25, false, piece));
    TEST_OK(gpu, wgml_llama_logits(m, alt, 40, 0, false, whole));
    worst = 0;
    if (compare("rewind", piece, whole, V, 2e-4, &worst)) return 1;
    printf("ok   rewound to position 25 with other tokens vs recomputed: nmse %.2e\n", worst);
    // A token id that the GPU holds (a sampler's result) instead of the host.
    wgml_gpu_buf *tb = test_upload(gpu, &alt[39], 4);
    TEST_CHECK(tb, "upload: %s", wgml_gpu_last_error(gpu));
    wgml_gpu_buf *lb;
    TEST_OK(gpu, wgml_llama_logits(m, alt, 39, 0, false, whole));
    TEST_OK(gpu, wgml_llama_record_gpu_token(m, (wgml_view){tb, 0}, 39, &lb));
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, lb, 0, piece, 4ull * V));
    TEST_OK(gpu, wgml_llama_logits(m, alt + 39, 1, 39, false, whole));
    worst = 0;
    if (compare("token from the GPU", piece, whole, V, 1e-12, &worst)) return 1;
    printf("ok   the token id read from a GPU buffer gives the same logits: nmse %.2e\n", worst);
    uint32_t bad_id = V + 7;   // outside the vocabulary: a zero embedding row, finite logits
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, tb, 0, &bad_id, 4));
    TEST_OK(gpu, wgml_llama_record_gpu_token(m, (wgml_view){tb, 0}, 39, &lb));
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, lb, 0, piece, 4ull * V));
    for (uint32_t i = 0; i < V; i++) TEST_CHECK(isfinite(piece[i]), "logit %u of a bad id", i);
    TEST_CHECK(wgml_llama_record_gpu_token(m, (wgml_view){tb, 0}, wgml_llama_n_ctx(m), &lb) ==
                   WGML_ERR_INVALID_ARGUMENT, "a position past the context accepted");
    wgml_gpu_buf_release(gpu, tb);
    // Longer than one chunk of 256 rows, against the reference.
    char err[256];
    wgml_llama_ref *r;
    wgml_llama_ref_params rp = {wgml_llama_n_ctx(m), wgml_llama_kv_f16(m), true};
    TEST_CHECK(!wgml_llama_ref_load(g, &rp, &r, err, sizeof err), "reference: %s", err);
    TEST_OK(gpu, wgml_llama_logits(m, toks, n, 0, false, whole));
    for (uint32_t i = 0; i < n; i++) TEST_CHECK(!wgml_llama_ref_step(r, toks[i], i, ref), "ref step");
    worst = 0;
    if (compare("300-token prompt", whole, ref, V, 2e-4, &worst)) return 1;
    printf("ok   a 300-token prompt (two chunks) vs the reference: nmse %.2e\n", worst);
    wgml_llama_ref_free(r);
    free(toks); free(whole); free(piece); free(ref);
    wgml_llama_free(m);
    wgml_gguf_close(g);
    return 0;
}

// ---------------------------------------------------------------- errors

static int expect_load_error(wgml_gpu *gpu, const model_spec *s, const char *skip,
                             const wgml_llama_params *p, wgml_status want, const char *what)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/wgml_test_llama_%d.gguf", (int)getpid());
    if (write_model(s, tmp_path, skip)) return 1;
    char err[256];
    wgml_gguf *g;
    wgml_status st = wgml_gguf_open_file(tmp_path, &g, err, sizeof err);
    unlink(tmp_path);
    TEST_CHECK(st == WGML_OK, "open: %s", err);
    wgml_llama *m = NULL;
    st = wgml_llama_load(gpu, g, p, &m);
    TEST_CHECK(st == want && !m, "%s: got %s, want %s", what, wgml_status_name(st),
               wgml_status_name(want));
    printf("ok   %-28s -> %s: %s\n", what, wgml_status_name(st), wgml_gpu_last_error(gpu));
    wgml_gguf_close(g);
    return 0;
}

static int test_errors(wgml_gpu *gpu)
{
    model_spec s = BASE;
    s.type = WGML_GGUF_Q4_0;
    if (expect_load_error(gpu, &s, "blk.1.ffn_up.weight", NULL, WGML_ERR_BAD_FILE, "missing tensor"))
        return 1;
    model_spec bad = s;
    bad.arch = "gpt2";
    if (expect_load_error(gpu, &bad, NULL, NULL, WGML_ERR_UNSUPPORTED, "architecture gpt2")) return 1;
    bad = s;
    bad.type = WGML_GGUF_F32;   // rows of any length
    bad.heads = 3;   // 256 / 3 heads: not a whole head size
    bad.kv_heads = 1;
    if (expect_load_error(gpu, &bad, NULL, NULL, WGML_ERR_BAD_FILE, "3 heads of 256")) return 1;
    bad = s;
    bad.type = WGML_GGUF_F32;
    bad.heads = 32;   // heads of 8, over 2 key/value heads
    bad.kv_heads = 3;
    if (expect_load_error(gpu, &bad, NULL, NULL, WGML_ERR_BAD_FILE, "32 heads over 3")) return 1;
    bad = s;
    bad.n_rot = 66;
    if (expect_load_error(gpu, &bad, NULL, NULL, WGML_ERR_BAD_FILE, "rotating 66 of 64")) return 1;
    // A KV cache larger than the device binds: refused before any upload.
    const wgml_device_info *d = wgml_gpu_info(gpu);
    uint64_t per_pos = 2ull * 2 * 64;   // HKV * HD f16 (or f32: larger still)
    uint64_t ctx = d->max_storage_buffer_binding_size / per_pos + 1;
    if (ctx < (1u << 24)) {
        bad = s;
        bad.ctx = (uint32_t)ctx;
        wgml_llama_params p = {.n_ctx = (uint32_t)ctx};
        uint64_t before = wgml_gpu_pool_bytes(gpu);
        if (expect_load_error(gpu, &bad, NULL, &p, WGML_ERR_OUT_OF_MEMORY, "cache past the limits"))
            return 1;
        TEST_CHECK(strstr(wgml_gpu_last_error(gpu), "bytes"), "no byte count in the message");
        TEST_CHECK(wgml_gpu_pool_bytes(gpu) == before, "buffers were made before refusing");
    }
    // Calls with bad tokens and positions.
    wgml_gguf *g;
    if (open_model(&s, &g)) return 1;
    wgml_llama *m;
    wgml_llama_params p = {.n_ctx = 16};
    TEST_OK(gpu, wgml_llama_load(gpu, g, &p, &m));
    TEST_CHECK(wgml_llama_n_ctx(m) == 16, "n_ctx %u", wgml_llama_n_ctx(m));
    float *lg = malloc(4ull * s.vocab * 16);
    int32_t toks[17] = {0};
    toks[3] = (int32_t)s.vocab;
    TEST_CHECK(wgml_llama_logits(m, toks, 5, 0, false, lg) == WGML_ERR_INVALID_ARGUMENT, "token V");
    toks[3] = -1;
    TEST_CHECK(wgml_llama_logits(m, toks, 5, 0, true, lg) == WGML_ERR_INVALID_ARGUMENT, "token -1");
    toks[3] = 1;
    TEST_CHECK(wgml_llama_logits(m, toks, 17, 0, false, lg) == WGML_ERR_INVALID_ARGUMENT, "17 > 16");
    TEST_CHECK(wgml_llama_logits(m, toks, 2, 15, false, lg) == WGML_ERR_INVALID_ARGUMENT, "pos 15 + 2");
    TEST_CHECK(wgml_llama_logits(m, toks, 0, 0, false, lg) == WGML_ERR_INVALID_ARGUMENT, "n = 0");
    TEST_CHECK(wgml_gpu_pending_dispatches(gpu) == 0, "a refused call recorded work");
    TEST_OK(gpu, wgml_llama_logits(m, toks, 16, 0, false, lg));   // the whole context works
    for (uint32_t i = 0; i < s.vocab; i++) TEST_CHECK(isfinite(lg[i]), "logit %u not finite", i);
    printf("ok   bad tokens and positions are refused; a full context runs\n");
    free(lg);
    wgml_llama_free(m);
    wgml_gguf_close(g);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_llama f32|f16|bf16|q8_0|q4_0|q4_1|q4_k|q6_k|qwen2|mixed|rope|"
                        "continuation|errors\n");
        return 2;
    }
    const char *t = argv[1];
    wgml_gpu *gpu = test_gpu_create();
    int rc;
    if (!strcmp(t, "qwen2")) rc = test_qwen2(gpu);
    else if (!strcmp(t, "rope")) rc = test_rope(gpu);
    else if (!strcmp(t, "mixed")) rc = test_mixed(gpu);
    else if (!strcmp(t, "continuation")) rc = test_continuation(gpu);
    else if (!strcmp(t, "errors")) rc = test_errors(gpu);
    else rc = test_type(gpu, t);
    wgml_gpu_free(gpu);
    return rc;
}
