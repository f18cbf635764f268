/*
 * Text generation (the wgml_llm API of wgml.h) on tiny random Llama models
 * this test writes, with the tokenizer of a real vocabulary file (GPT-2's,
 * .deps/vocab/ggml-vocab-gpt-2.gguf; skipped without it).
 *
 *   test_generate greedy VOCAB   greedy text == the C reference decoder's
 *                                argmax tokens (src/models/llama_ref.h, run token
 *                                by token) through the same streaming decoder,
 *                                over every step whose top-2 margin exceeds the
 *                                GPU/reference difference
 *   test_generate cache VOCAB    a repeated prompt reuses the KV cache (all but
 *                                its last token) and gives the same text; a
 *                                longer prompt reuses the common prefix; a seed
 *                                reproduces; reset forgets
 *   test_generate stops VOCAB    max_tokens, the context's end, cancelling from
 *                                the callback and wgml_llm_cancel, end-of-
 *                                generation tokens (and ignore_eog); every
 *                                piece of text is valid UTF-8
 *   test_generate batch VOCAB    decode batches: seeded sampling with a repetition
 *                                penalty gives the text of one token per submit
 *                                (wgml_llama_record + wgml_sampler_record with the
 *                                recent tokens from the host) for every
 *                                decode_batch; an end of generation inside a
 *                                batch stops there and what the batch computed
 *                                past it does not leak into the next call
 *   test_generate errors VOCAB   bad files, prompts too long, bad arguments
 *   test_generate timing MODEL   (not a test) where a decode step's time goes:
 *                                recording (host), the GPU's time (timestamps),
 *                                the wait and the 4-byte readback; then chained
 *                                batches as generation runs them
 */
#include "formats/gguf.h"
#include "models/llama.h"
#include "models/llama_ref.h"
#include "models/sampler.h"
#include "test_llm_model.h"
#include "tokenizer/tokenizer.h"
#include "wgml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            return 1;                                                     \
        }                                                                 \
    } while (0)

#define CHECK_OK(ctx, expr)                                               \
    do {                                                                  \
        wgml_status st_ = (expr);                                         \
        CHECK(st_ == WGML_OK, "%s -> %s: %s", #expr, wgml_status_name(st_), \
              wgml_ctx_last_error(ctx));                                  \
    } while (0)

// ---------------------------------------------------------------- tiny models

enum { CTX = 256 };

static char model_path[64];

static void remove_model(void) { unlink(model_path); }

// Writes the model to a temporary file (removed at exit).
static int make_model(const char *vocab, int64_t eos_override, bool zero_output_norm)
{
    if (access(vocab, R_OK)) {
        printf("skip: no vocabulary file %s (scripts/setup.sh installs it)\n", vocab);
        exit(77);
    }
    if (!model_path[0]) {
        snprintf(model_path, sizeof model_path, "/tmp/wgml_test_generate_XXXXXX");
        int fd = mkstemp(model_path);
        CHECK(fd >= 0, "mkstemp");
        close(fd);
        atexit(remove_model);
    }
    test_llm_spec spec = {.vocab_from = vocab, .seed = 7, .eos_override = eos_override,
                          .zero_output_norm = zero_output_norm};
    return test_llm_write(&spec, model_path);
}

// ---------------------------------------------------------------- helpers

typedef struct collected {
    char *s;
    size_t n;
    int pieces;
    int stop_after;     // return false after this many pieces (0: never)
    bool invalid_utf8;
    wgml_llm *cancel;   // wgml_llm_cancel after stop_after pieces instead
} collected;

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        uint32_t cp = k == 1 ? c : c & (0x7f >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += k;
    }
    return true;
}

static bool collect(void *user, const char *text, size_t len)
{
    collected *c = user;
    if (!valid_utf8((const unsigned char *)text, len)) c->invalid_utf8 = true;
    char *p = realloc(c->s, c->n + len + 1);
    if (!p) return false;
    c->s = p;
    memcpy(c->s + c->n, text, len);
    c->n += len;
    c->s[c->n] = '\0';
    c->pieces++;
    if (c->stop_after && c->pieces >= c->stop_after) {
        if (c->cancel) wgml_llm_cancel(c->cancel);
        else return false;
    }
    return true;
}

static wgml_llm *load(wgml_ctx *ctx, uint32_t n_ctx, wgml_precision precision)
{
    wgml_llm_params p = {.n_ctx = n_ctx, .precision = precision};
    wgml_llm *llm = NULL;
    wgml_status st = wgml_llm_load(ctx, model_path, &p, &llm);
    if (st) fprintf(stderr, "load: %s: %s\n", wgml_status_name(st), wgml_ctx_last_error(ctx));
    return llm;
}

static wgml_ctx *ctx_create(void)
{
    char err[512];
    wgml_ctx *ctx = NULL;
    if (wgml_ctx_create(NULL, &ctx, err, sizeof err)) {
        fprintf(stderr, "FAIL: no GPU: %s\n", err);
        exit(1);
    }
    return ctx;
}

static const char PROMPT[] = "The quick brown fox jumps over the lazy dog. Once upon a time";

// ---------------------------------------------------------------- greedy

static int test_greedy(const char *vocab)
{
    if (make_model(vocab, -1, false)) return 1;
    enum { STEPS = 24 };
    // The reference: prompt token by token, then argmax (ties to the lowest
    // id) fed back, noting each step's top-2 margin.
    int32_t gen[STEPS];
    double margin[STEPS];
    size_t n_ids;
    CHECK(!test_llm_reference_greedy(model_path, PROMPT, CTX, STEPS, gen, margin, &n_ids),
          "the reference failed");
    char err[512];
    wgml_gguf *g;
    CHECK(!wgml_gguf_open_file(model_path, &g, err, sizeof err), "%s", err);
    wgml_tokenizer *tok;
    CHECK(!wgml_tokenizer_load_gguf(g, &tok, err, sizeof err), "%s", err);
    wgml_gguf_close(g);
    // The steps to compare: up to the first near-tie (f32 sums on the GPU
    // against double ones differ by ~1e-5 in these logits).
    int trusted = 0;
    while (trusted < STEPS && margin[trusted] > 1e-3) trusted++;
    wgml_token_stream *ts;
    CHECK(!wgml_token_stream_create(tok, false, &ts), "stream");
    char *want = calloc(1, 1);
    size_t want_n = 0;
    for (int s = 0; s < trusted; s++) {
        const char *p;
        size_t n;
        CHECK(!wgml_token_stream_push(ts, gen[s], &p, &n), "push");
        want = realloc(want, want_n + n + 1);
        memcpy(want + want_n, p, n);
        want_n += n;
        want[want_n] = '\0';
    }
    wgml_token_stream_free(ts);

    wgml_ctx *ctx = ctx_create();
    wgml_llm *llm = load(ctx, CTX, WGML_PRECISION_F32);
    CHECK(llm, "load");
    collected c = {0};
    // Room for one id fewer than generated: the ids past tokens_cap are not stored.
    int32_t got[STEPS + 1];
    for (int s = 0; s <= STEPS; s++) got[s] = -1;
    wgml_generate_params gp = {.max_tokens = (uint32_t)trusted, .ignore_eog = true,
                               .tokens = got, .tokens_cap = (uint32_t)trusted - 1};
    wgml_generate_stats st;
    CHECK_OK(ctx, wgml_llm_generate(llm, PROMPT, &gp, collect, &c, &st));
    CHECK(st.generated_tokens == (uint32_t)trusted && st.stop == WGML_STOP_LENGTH,
          "%u tokens, stop %d", st.generated_tokens, st.stop);
    for (int s = 0; s < trusted - 1; s++)
        CHECK(got[s] == gen[s], "token %d: id %d, the reference's argmax %d", s, got[s], gen[s]);
    CHECK(got[trusted - 1] == -1, "an id was stored past tokens_cap");
    CHECK(st.prompt_tokens == n_ids, "prompt tokens %u, tokenizer %zu", st.prompt_tokens, n_ids);
    // The stream holds back an unfinished character at the end; compare the
    // common part.
    CHECK(c.n <= want_n && !memcmp(c.s ? c.s : "", want, c.n) && want_n - c.n < 4,
          "greedy text differs from the reference's argmax tokens:\n  gpu: %s\n  ref: %s",
          c.s ? c.s : "", want);
    CHECK(!c.invalid_utf8, "a piece was not valid UTF-8");
    double smallest = INFINITY;
    for (int s = 0; s < trusted; s++)
        if (margin[s] < smallest) smallest = margin[s];
    CHECK(trusted >= 8, "only %d steps had a clear argmax", trusted);
    printf("ok   greedy: %d tokens equal the reference decoder's argmax (of %d; smallest "
           "top-2 margin %.4f)\n", trusted, STEPS, smallest);
    free(c.s);
    free(want);
    wgml_tokenizer_free(tok);
    wgml_llm_free(llm);
    wgml_ctx_free(ctx);
    return 0;
}

// ---------------------------------------------------------------- cache

static int test_cache(const char *vocab)
{
    if (make_model(vocab, -1, false)) return 1;
    wgml_ctx *ctx = ctx_create();
    wgml_llm *llm = load(ctx, CTX, WGML_PRECISION_AUTO);
    CHECK(llm, "load");
    wgml_generate_params gp = {.max_tokens = 12, .temperature = 0.9f, .top_k = 50,
                               .top_p = 0.95f, .seed = 99, .ignore_eog = true};
    collected a = {0}, b = {0}, c = {0}, d = {0};
    wgml_generate_stats sa, sb, sc, sd;
    CHECK_OK(ctx, wgml_llm_generate(llm, PROMPT, &gp, collect, &a, &sa));
    CHECK(sa.cached_tokens == 0, "a fresh model reused %u tokens", sa.cached_tokens);
    CHECK_OK(ctx, wgml_llm_generate(llm, PROMPT, &gp, collect, &b, &sb));
    CHECK(sb.cached_tokens == sb.prompt_tokens - 1, "the same prompt reused %u of %u tokens",
          sb.cached_tokens, sb.prompt_tokens);
    CHECK(a.n == b.n && !memcmp(a.s, b.s, a.n), "the same seed gave\n  %s\n  %s", a.s, b.s);
    // The prompt followed by what was generated: everything in the cache is reused.
    size_t len = strlen(PROMPT) + b.n + 32;
    char *longer = malloc(len);
    snprintf(longer, len, "%s%s and then", PROMPT, b.s);
    CHECK_OK(ctx, wgml_llm_generate(llm, longer, &gp, collect, &c, &sc));
    CHECK(sc.cached_tokens >= sb.prompt_tokens && sc.cached_tokens < sc.prompt_tokens,
          "the longer prompt reused %u tokens (first prompt %u, longer %u)", sc.cached_tokens,
          sb.prompt_tokens, sc.prompt_tokens);
    printf("     longer prompt: %u tokens, %u reused (the first prompt had %u, %u generated)\n",
           sc.prompt_tokens, sc.cached_tokens, sb.prompt_tokens, sb.generated_tokens);
    wgml_llm_reset(llm);
    gp.seed = 100;
    CHECK_OK(ctx, wgml_llm_generate(llm, PROMPT, &gp, collect, &d, &sd));
    CHECK(sd.cached_tokens == 0, "reset kept %u tokens", sd.cached_tokens);
    CHECK(d.n != a.n || memcmp(d.s, a.s, a.n), "another seed gave the same text: %s", d.s);
    CHECK(!a.invalid_utf8 && !b.invalid_utf8 && !c.invalid_utf8 && !d.invalid_utf8,
          "a piece was not valid UTF-8");
    printf("ok   cache: a repeated prompt reuses %u of %u tokens and repeats its text; prefix "
           "reuse; reset; seeds\n", sb.cached_tokens, sb.prompt_tokens);
    free(longer);
    free(a.s);
    free(b.s);
    free(c.s);
    free(d.s);
    wgml_llm_free(llm);
    wgml_ctx_free(ctx);
    return 0;
}

// ---------------------------------------------------------------- stops

static int test_stops(const char *vocab)
{
    if (make_model(vocab, -1, false)) return 1;
    wgml_ctx *ctx = ctx_create();
    enum { SMALL_CTX = 32 };
    wgml_llm *llm = load(ctx, SMALL_CTX, WGML_PRECISION_AUTO);
    CHECK(llm, "load");
    CHECK(wgml_llm_info_of(llm)->n_ctx == SMALL_CTX, "n_ctx %u", wgml_llm_info_of(llm)->n_ctx);
    wgml_generate_params gp = {.max_tokens = 7, .temperature = 1, .seed = 1, .ignore_eog = true};
    collected c = {0};
    wgml_generate_stats s;
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hello", &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_LENGTH && s.generated_tokens == 7, "max_tokens 7: %u, stop %d",
          s.generated_tokens, s.stop);
    // The context's end: every position filled, then the token sampled there.
    gp.max_tokens = 0;
    free(c.s);
    c = (collected){0};
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hello", &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_CONTEXT && s.generated_tokens == SMALL_CTX - s.prompt_tokens + 1,
          "context %d, prompt %u: %u tokens, stop %d", SMALL_CTX, s.prompt_tokens,
          s.generated_tokens, s.stop);
    CHECK(!c.invalid_utf8, "a piece was not valid UTF-8");
    // Cancelling: from the callback, and through wgml_llm_cancel.
    free(c.s);
    c = (collected){.stop_after = 3};
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hello", &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_CANCELLED && s.generated_tokens >= 3 && s.generated_tokens < 10,
          "callback stop: %u tokens, stop %d", s.generated_tokens, s.stop);
    free(c.s);
    c = (collected){.stop_after = 2, .cancel = llm};
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hello", &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_CANCELLED && s.generated_tokens >= 2 && s.generated_tokens < 10,
          "wgml_llm_cancel: %u tokens, stop %d", s.generated_tokens, s.stop);
    // The cancel flag does not outlive its call.
    free(c.s);
    c = (collected){0};
    gp.max_tokens = 4;
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hello", &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_LENGTH && s.generated_tokens == 4, "after a cancel: %u, stop %d",
          s.generated_tokens, s.stop);
    free(c.s);
    wgml_llm_free(llm);

    // End of generation: every logit 0, so greedy picks id 0, made the EOS.
    if (make_model(vocab, 0, true)) return 1;
    llm = load(ctx, SMALL_CTX, WGML_PRECISION_AUTO);
    CHECK(llm, "load");
    gp = (wgml_generate_params){.max_tokens = 5};
    c = (collected){0};
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hello", &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_EOG && s.generated_tokens == 0 && c.n == 0,
          "EOS first: %u tokens, stop %d, text \"%s\"", s.generated_tokens, s.stop,
          c.s ? c.s : "");
    gp.ignore_eog = true;
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hello", &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_LENGTH && s.generated_tokens == 5, "ignore_eog: %u tokens, stop %d",
          s.generated_tokens, s.stop);
    free(c.s);
    wgml_llm_free(llm);
    wgml_ctx_free(ctx);
    printf("ok   stops: max_tokens, context end (%d), callback and wgml_llm_cancel, EOS and "
           "ignore_eog; pieces valid UTF-8\n", SMALL_CTX);
    return 0;
}

// ---------------------------------------------------------------- batch

// Text of tokens through the streaming decoder, flushed.
static char *text_of(const wgml_tokenizer *tok, const int32_t *ids, size_t n)
{
    wgml_token_stream *ts;
    if (wgml_token_stream_create(tok, false, &ts)) return NULL;
    char *out = calloc(1, 1);
    size_t len = 0;
    for (size_t i = 0; i <= n && out; i++) {
        const char *p;
        size_t k;
        if (i < n ? wgml_token_stream_push(ts, ids[i], &p, &k) != WGML_OK
                  : (wgml_token_stream_flush(ts, &p, &k), false)) {
            free(out);
            out = NULL;
            break;
        }
        char *q = realloc(out, len + k + 1);
        if (!q) {
            free(out);
            out = NULL;
            break;
        }
        out = q;
        memcpy(out + len, p, k);
        len += k;
        out[len] = '\0';
    }
    wgml_token_stream_free(ts);
    return out;
}

static int test_batch(const char *vocab)
{
    if (make_model(vocab, -1, false)) return 1;
    enum { N = 40 };
    wgml_generate_params gp = {.max_tokens = N, .temperature = 0.8f, .top_k = 40,
                               .top_p = 0.95f, .repeat_penalty = 1.3f, .repeat_last_n = 16,
                               .seed = 42, .ignore_eog = true};
    wgml_sampler_params sp = {.temperature = gp.temperature, .top_k = gp.top_k,
                              .top_p = gp.top_p, .repeat_penalty = gp.repeat_penalty,
                              .repeat_last_n = gp.repeat_last_n, .seed = gp.seed};
    // One token per submit, the recent tokens from the host.
    char err[512];
    wgml_gguf *g;
    CHECK(!wgml_gguf_open_file(model_path, &g, err, sizeof err), "%s", err);
    wgml_tokenizer *tok;
    CHECK(!wgml_tokenizer_load_gguf(g, &tok, err, sizeof err), "%s", err);
    wgml_gpu *gpu;
    CHECK(!wgml_gpu_create(NULL, &gpu, err, sizeof err), "%s", err);
    wgml_llama_params lp = {.n_ctx = CTX};
    wgml_llama *m;
    CHECK(!wgml_llama_load(gpu, g, &lp, &m), "%s", wgml_gpu_last_error(gpu));
    wgml_gguf_close(g);
    int32_t *ids;
    size_t n_ids;
    CHECK(!wgml_tokenizer_tokenize(tok, PROMPT, strlen(PROMPT), true, true, &ids, &n_ids, err,
                                   sizeof err), "%s", err);
    int32_t all[CTX];
    memcpy(all, ids, 4 * n_ids);
    uint32_t V = wgml_llama_config_of(m)->n_vocab, n = (uint32_t)n_ids;
    wgml_sampler *smp;
    CHECK(!wgml_sampler_create(gpu, V, &sp, &smp), "%s", wgml_gpu_last_error(gpu));
    wgml_gpu_buf *logits;
    for (uint32_t i = 0; i < N; i++) {
        uint32_t pos = n + i;   // the new token's position
        uint32_t back = pos < sp.repeat_last_n ? pos : sp.repeat_last_n;
        wgml_status st = i == 0 ? wgml_llama_record(m, all, n, 0, &logits)
                                : wgml_llama_record(m, &all[pos - 1], 1, pos - 1, &logits);
        if (!st) st = wgml_sampler_record(smp, logits, 0, all + pos - back, back, pos);
        if (!st) st = wgml_gpu_submit(gpu, NULL);
        if (!st) st = wgml_sampler_result(smp, &all[pos]);
        CHECK(!st, "step %u: %s", i, wgml_gpu_last_error(gpu));
    }
    char *want = text_of(tok, all + n, N);
    CHECK(want, "detokenizing");
    wgml_sampler_free(smp);
    wgml_llama_free(m);
    wgml_gpu_free(gpu);

    wgml_ctx *ctx = ctx_create();
    wgml_llm *llm = load(ctx, CTX, WGML_PRECISION_AUTO);
    CHECK(llm, "load");
    static const uint32_t batches[] = {1, 3, 16, 64, 0};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        gp.decode_batch = batches[b];
        collected c = {0};
        wgml_generate_stats s;
        wgml_llm_reset(llm);
        CHECK_OK(ctx, wgml_llm_generate(llm, PROMPT, &gp, collect, &c, &s));
        CHECK(s.generated_tokens == N && s.stop == WGML_STOP_LENGTH, "batch %u: %u tokens, stop %d",
              batches[b], s.generated_tokens, s.stop);
        CHECK(c.s && !strcmp(c.s, want), "decode_batch %u:\n  got:  %s\n  want: %s", batches[b],
              c.s ? c.s : "", want);
        free(c.s);
    }
    wgml_llm_free(llm);

    // An end of generation inside a batch: the first token from the 7th on
    // that did not come before becomes the EOS (the weights stay the same).
    int k = 6;
    for (;; k++) {
        CHECK(k < N, "no new token after the 6th");
        bool seen = false;
        for (int j = 0; j < k; j++) seen |= all[n + j] == all[n + k];
        if (!seen && !wgml_tokenizer_is_eog(tok, all[n + k])) break;
    }
    if (make_model(vocab, all[n + k], false)) return 1;
    llm = load(ctx, CTX, WGML_PRECISION_AUTO);
    CHECK(llm, "load");
    char *prefix = text_of(tok, all + n, (size_t)k);
    CHECK(prefix, "detokenizing");
    gp.ignore_eog = false;
    gp.decode_batch = 4;
    collected c = {0};
    wgml_generate_stats s;
    CHECK_OK(ctx, wgml_llm_generate(llm, PROMPT, &gp, collect, &c, &s));
    CHECK(s.stop == WGML_STOP_EOG && s.generated_tokens == (uint32_t)k && c.s &&
          !strcmp(c.s, prefix), "EOS %d after %d tokens: %u tokens, stop %d, text \"%s\"",
          all[n + k], k, s.generated_tokens, s.stop, c.s ? c.s : "");
    // The next call continues from what was accepted, as a fresh model would.
    size_t len = strlen(PROMPT) + strlen(prefix) + 16;
    char *longer = malloc(len);
    snprintf(longer, len, "%s%s again", PROMPT, prefix);
    gp.ignore_eog = true;
    gp.max_tokens = 12;
    collected c2 = {0}, c3 = {0};
    wgml_generate_stats s2, s3;
    CHECK_OK(ctx, wgml_llm_generate(llm, longer, &gp, collect, &c2, &s2));
    wgml_llm_reset(llm);
    CHECK_OK(ctx, wgml_llm_generate(llm, longer, &gp, collect, &c3, &s3));
    CHECK(s2.cached_tokens > 0 && s3.cached_tokens == 0, "cached %u and %u", s2.cached_tokens,
          s3.cached_tokens);
    CHECK(c2.s && c3.s && !strcmp(c2.s, c3.s), "after the stop, with %u cached tokens:\n  %s\n"
          "fresh:\n  %s", s2.cached_tokens, c2.s ? c2.s : "", c3.s ? c3.s : "");
    printf("ok   batch: seeded sampling with a penalty equals one token per submit for batches "
           "1, 3, 16, 64 and the default; EOS after %d tokens inside a batch of 4; the next call "
           "reuses %u tokens and matches a fresh one\n", k, s2.cached_tokens);
    free(c.s);
    free(c2.s);
    free(c3.s);
    free(longer);
    free(prefix);
    free(want);
    wgml_tokenizer_ids_free(ids);
    wgml_tokenizer_free(tok);
    wgml_llm_free(llm);
    wgml_ctx_free(ctx);
    return 0;
}

// ---------------------------------------------------------------- errors

static int test_errors(const char *vocab)
{
    if (make_model(vocab, -1, false)) return 1;
    wgml_ctx *ctx = ctx_create();
    wgml_llm *llm = NULL;
    wgml_status st;
    CHECK(wgml_llm_load(ctx, "/nonexistent/model.gguf", NULL, &llm) != WGML_OK && !llm &&
          strstr(wgml_ctx_last_error(ctx), "/nonexistent/model.gguf"), "a missing file: %s",
          wgml_ctx_last_error(ctx));
    // Not a GGUF file.
    char text_path[] = "/tmp/wgml_test_generate_text_XXXXXX";
    int fd = mkstemp(text_path);
    CHECK(fd >= 0 && write(fd, "not a model\n", 12) == 12, "writing %s", text_path);
    close(fd);
    st = wgml_llm_load(ctx, text_path, NULL, &llm);
    unlink(text_path);
    CHECK(st == WGML_ERR_BAD_FILE && !llm, "a text file: %s", wgml_ctx_last_error(ctx));
    // The message names the file once (the GGUF reader names it already).
    const char *named = strstr(wgml_ctx_last_error(ctx), text_path);
    CHECK(named && !strstr(named + 1, text_path), "a text file: %s", wgml_ctx_last_error(ctx));
    // A GGUF file without a model: the vocabulary alone.
    st = wgml_llm_load(ctx, vocab, NULL, &llm);
    CHECK(st != WGML_OK && !llm, "a vocabulary without weights loaded");
    printf("     vocabulary only: %s: %s\n", wgml_status_name(st), wgml_ctx_last_error(ctx));
    wgml_llm_params bad = {.precision = (wgml_precision)77};
    CHECK(wgml_llm_load(ctx, model_path, &bad, &llm) == WGML_ERR_INVALID_ARGUMENT, "precision 77");
    llm = load(ctx, 8, WGML_PRECISION_AUTO);   // PROMPT has 14 tokens
    CHECK(llm, "load");
    wgml_generate_params gp = {.max_tokens = 2};
    wgml_generate_stats s;
    CHECK(wgml_llm_generate(llm, PROMPT, &gp, NULL, NULL, &s) == WGML_ERR_INVALID_ARGUMENT &&
          strstr(wgml_ctx_last_error(ctx), "context"), "a prompt longer than the context: %s",
          wgml_ctx_last_error(ctx));
    CHECK(wgml_llm_generate(llm, NULL, &gp, NULL, NULL, &s) == WGML_ERR_INVALID_ARGUMENT, "NULL");
    gp.temperature = NAN;
    CHECK(wgml_llm_generate(llm, "Hi", &gp, NULL, NULL, &s) == WGML_ERR_INVALID_ARGUMENT &&
          strstr(wgml_ctx_last_error(ctx), "temperature"), "NaN temperature: %s",
          wgml_ctx_last_error(ctx));
    gp = (wgml_generate_params){.max_tokens = 3, .ignore_eog = true};
    CHECK_OK(ctx, wgml_llm_generate(llm, "Hi", &gp, NULL, NULL, &s));   // still usable
    CHECK(s.generated_tokens == 3, "%u tokens", s.generated_tokens);
    // Chat: no template in this file, so plain ChatML.
    wgml_chat_message m[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    char *text;
    CHECK_OK(ctx, wgml_llm_chat_prompt(llm, m, 2, &text));
    CHECK(!strcmp(text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                        "<|im_start|>assistant\n"), "chat prompt: %s", text);
    free(text);
    CHECK(!strcmp(wgml_llm_info_of(llm)->chat_format, "chatml") &&
          !strcmp(wgml_llm_info_of(llm)->name, "test tiny") &&
          !strcmp(wgml_llm_info_of(llm)->architecture, "llama"), "info");
    wgml_llm_free(llm);
    wgml_ctx_free(ctx);
    printf("ok   errors: missing and bad files, bad precision, long prompt, NaN temperature, "
           "chat prompt\n");
    return 0;
}

// ---------------------------------------------------------------- timing

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The profile by position in a layer: a layer's dispatches repeat from the
// first after the embedding with a period of the distance between RoPE
// dispatches; each slot's mean over the layers (each time includes a timed
// pass's fixed cost, as above).
static void print_layer_slots(const wgml_gpu_profile_entry *pe, uint32_t pn)
{
    uint32_t s0 = 0, r0 = UINT32_MAX, r1 = UINT32_MAX, layers = 0;
    while (s0 < pn && !strcmp(pe[s0].entry, "embed")) s0++;
    for (uint32_t i = 0; i < pn; i++)
        if (!strcmp(pe[i].kernel, "rope")) {
            if (r0 == UINT32_MAX) r0 = i;
            else if (r1 == UINT32_MAX) r1 = i;
            layers++;
        }
    if (r1 == UINT32_MAX || r0 < s0) return;
    uint32_t period = r1 - r0;
    printf("  by position in a layer (%u layers of %u dispatches):\n", layers, period);
    for (uint32_t j = 0; j < period; j++) {
        double sum = 0;
        uint32_t n = 0;
        for (uint32_t l = 0; l < layers; l++) {
            uint64_t i = s0 + (uint64_t)l * period + j;
            if (i < pn) {
                sum += pe[i].ns;
                n++;
            }
        }
        if (n)
            printf("    %2u %-28s %7.1f us\n", j, pe[s0 + j].kernel, sum / n / 1e3);
    }
}

static int run_timing(const char *path)
{
    char err[512];
    wgml_gpu *gpu;
    CHECK(!wgml_gpu_create(NULL, &gpu, err, sizeof err), "%s", err);
    wgml_gguf *g;
    CHECK(!wgml_gguf_open_file(path, &g, err, sizeof err), "%s", err);
    wgml_llama *m;
    // WGML_SEPARATE_NORMS=1: the RMSNorms as dispatches of their own (what
    // fusing them into the GEMVs saves or costs, same build).
    const char *sep = getenv("WGML_SEPARATE_NORMS");
    wgml_llama_params lp = {.separate_norms = sep && !strcmp(sep, "1")};
    if (lp.separate_norms) printf("separate RMSNorm dispatches\n");
    CHECK(!wgml_llama_load(gpu, g, &lp, &m), "%s", wgml_gpu_last_error(gpu));
    wgml_gguf_close(g);
    uint32_t V = wgml_llama_config_of(m)->n_vocab;
    static const struct {
        const char *name;
        wgml_sampler_params p;
    } sets[] = {
        {"greedy", {.temperature = 0}},
        {"k40+p0.95+min_p", {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f}},
    };
    enum { PROMPT_N = 32, STEPS = 64, PREFILL_N = 512 };
    int32_t prompt[PROMPT_N];
    for (int i = 0; i < PROMPT_N; i++) prompt[i] = (int32_t)((i * 7919 + 11) % V);
    // Prefill: host recording, GPU time (timestamps) and the whole call for
    // PREFILL_N tokens, the median of 5 after a warm-up.
    static int32_t long_prompt[PREFILL_N];
    for (int i = 0; i < PREFILL_N; i++) long_prompt[i] = (int32_t)((i * 7919 + 11) % V);
    double pre_rec[5], pre_gpu[5], pre_total[5];
    uint32_t pre_n = wgml_llama_n_ctx(m) < PREFILL_N ? wgml_llama_n_ctx(m) : PREFILL_N;
    for (int r = -1; r < 5; r++) {
        wgml_gpu_buf *lg;
        double t0 = now_us(), ns = -1;
        CHECK(!wgml_gpu_begin(gpu, true) && !wgml_llama_record(m, long_prompt, pre_n, 0, &lg),
              "%s", wgml_gpu_last_error(gpu));
        double t1 = now_us();
        CHECK(!wgml_gpu_submit(gpu, &ns) && !wgml_gpu_wait(gpu), "%s", wgml_gpu_last_error(gpu));
        if (r < 0) continue;
        pre_rec[r] = t1 - t0;
        pre_gpu[r] = ns / 1e3;
        pre_total[r] = now_us() - t0;
    }
    qsort(pre_rec, 5, sizeof(double), cmp_double);
    qsort(pre_gpu, 5, sizeof(double), cmp_double);
    qsort(pre_total, 5, sizeof(double), cmp_double);
    printf("prefill %u tokens: record %.0f us, GPU %.0f us, call %.0f us (%.0f tokens/s), medians of 5\n",
           pre_n, pre_rec[2], pre_gpu[2], pre_total[2], pre_n * 1e6 / pre_total[2]);
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        wgml_sampler *s;
        CHECK(!wgml_sampler_create(gpu, V, &sets[si].p, &s), "%s", wgml_gpu_last_error(gpu));
        wgml_gpu_buf *logits;
        int32_t tok;
        CHECK(!wgml_llama_record(m, prompt, PROMPT_N, 0, &logits) &&
              !wgml_sampler_record(s, logits, 0, NULL, 0, PROMPT_N) &&
              !wgml_gpu_submit(gpu, NULL) && !wgml_sampler_result(s, &tok), "%s",
              wgml_gpu_last_error(gpu));
        double rec[STEPS], gpu_t[STEPS], wait[STEPS], back[STEPS], total[STEPS];
        uint32_t n_disp = 0;
        for (int i = 0; i < STEPS; i++) {
            uint32_t pos = PROMPT_N + (uint32_t)i;
            double t0 = now_us(), ns = -1;
            CHECK(!wgml_gpu_begin(gpu, true) && !wgml_llama_record(m, &tok, 1, pos, &logits) &&
                  !wgml_sampler_record(s, logits, 0, NULL, 0, pos + 1), "%s",
                  wgml_gpu_last_error(gpu));
            double t1 = now_us();
            n_disp = wgml_gpu_pending_dispatches(gpu);
            CHECK(!wgml_gpu_submit(gpu, &ns), "%s", wgml_gpu_last_error(gpu));
            double t2 = now_us();
            CHECK(!wgml_sampler_result(s, &tok), "%s", wgml_gpu_last_error(gpu));
            double t3 = now_us();
            rec[i] = t1 - t0;
            gpu_t[i] = ns / 1e3;
            wait[i] = t2 - t1;
            back[i] = t3 - t2;
            total[i] = t3 - t0;
        }
        double *cols[] = {rec, gpu_t, wait, back, total};
        for (int c = 0; c < 5; c++) qsort(cols[c], STEPS, sizeof(double), cmp_double);
        printf("%-16s V=%u, %u dispatches a step (sampler %u): record %.0f us, GPU %.0f us, submit+wait %.0f "
               "us, readback %.0f us, step %.0f us (%.0f tokens/s), medians of %d\n",
               sets[si].name, V, n_disp, wgml_sampler_dispatches(s, false), rec[STEPS / 2],
               gpu_t[STEPS / 2], wait[STEPS / 2], back[STEPS / 2], total[STEPS / 2],
               1e6 / total[STEPS / 2], STEPS);
        // Chained batches as generation runs them (generate.c): B steps a
        // submit, the next batch submitted before this one's tokens are read.
        wgml_gpu_buf *tb = wgml_llama_tokens(m);
        enum { B = 16, BATCHES = 4 };
        wgml_gpu_readback *rb[2];
        CHECK(!wgml_gpu_readback_create(gpu, 4 * B, &rb[0]) &&
              !wgml_gpu_readback_create(gpu, 4 * B, &rb[1]), "%s", wgml_gpu_last_error(gpu));
        uint32_t base = PROMPT_N + STEPS + 1;
        double t_rec = 0, t_sub = 0, gpu_ns = -1, t_wall0 = 0, rec_idle = 0, sub_idle = 0;
        uint64_t bg_made = 0;
        uint32_t disp = 0;
        int32_t got[B];
        // Batches -2 and -1: timed, alone (the GPU time; the first makes the
        // bind groups), then BATCHES pipelined.
        for (int k = -2; k <= BATCHES; k++) {
            if (k < BATCHES) {
                uint32_t first = base + (uint32_t)(k + 2) * B;
                double a = now_us();
                CHECK(!wgml_gpu_begin(gpu, k < 0), "%s", wgml_gpu_last_error(gpu));
                for (uint32_t j = 0; j < B; j++)
                    CHECK(!wgml_llama_record_at(m, first + j, &logits) &&
                          !wgml_sampler_record_chained(s, logits, 0, tb, first + j + 1 - 16, 16,
                                                       first + j + 1, first + j + 1),
                          "%s", wgml_gpu_last_error(gpu));
                CHECK(!wgml_gpu_readback_record(gpu, rb[(k + 2) % 2], tb, 4ull * (first + 1),
                                                4 * B), "%s", wgml_gpu_last_error(gpu));
                double b = now_us();
                disp = wgml_gpu_pending_dispatches(gpu) / B;
                double ns = -1;
                CHECK(!wgml_gpu_submit(gpu, k < 0 ? &ns : NULL), "%s", wgml_gpu_last_error(gpu));
                double c = now_us();
                if (k == -1) bg_made = wgml_gpu_bind_groups_made(gpu);
                if (k < 0) {
                    gpu_ns = ns;
                    rec_idle = b - a;
                    sub_idle = c - b;
                    CHECK(!wgml_gpu_readback_read(gpu, rb[(k + 2) % 2], got), "%s",
                          wgml_gpu_last_error(gpu));
                    t_wall0 = now_us();
                    continue;
                }
                t_rec += b - a;
                t_sub += c - b;
            }
            if (k >= 1 || k == BATCHES)
                CHECK(!wgml_gpu_readback_read(gpu, rb[(k + 1) % 2], got), "%s",
                      wgml_gpu_last_error(gpu));
        }
        double wall = (now_us() - t_wall0) / (BATCHES * B);
        // On a CPU device the device's threads share the cores with the
        // host: the timed batch's recording (device idle) is the fair one.
        printf("%-16s chained, %d steps a submit: %u dispatches a step; device idle: record "
               "%.0f us a step, submit %.0f us a step, GPU %.0f us a step (timed); 2 in flight: "
               "record %.0f us, submit %.0f us, %.0f us a step overall (%.0f tokens/s); %llu bind "
               "groups made after the first batch\n",
               sets[si].name, B, disp, rec_idle / B, sub_idle / B, gpu_ns / 1e3 / B,
               t_rec / (BATCHES * B), t_sub / (BATCHES * B), wall, 1e6 / wall,
               (unsigned long long)(wgml_gpu_bind_groups_made(gpu) - bg_made));
        wgml_gpu_readback_free(gpu, rb[0]);
        wgml_gpu_readback_free(gpu, rb[1]);
        // Per kernel, one step at two positions (every dispatch in a timed
        // pass of its own: each time includes a pass's fixed cost).
        for (uint32_t at = 0; si == 0 && at < 2 && wgml_gpu_info(gpu)->timestamp_query; at++) {
            uint32_t pos = at ? (wgml_llama_n_ctx(m) > 1100 ? 1024 : wgml_llama_n_ctx(m) - 2)
                              : base + 16 * (BATCHES + 2);
            CHECK(!wgml_gpu_profile_start(gpu, 1024), "%s", wgml_gpu_last_error(gpu));
            for (int r = 0; r < 2; r++) {   // the first makes the bind groups
                CHECK(!wgml_llama_record_at(m, pos, &logits) &&
                      !wgml_sampler_record_chained(s, logits, 0, tb, pos + 1 - 16, 16, pos + 1,
                                                   pos + 1) &&
                      !wgml_gpu_submit(gpu, NULL), "%s", wgml_gpu_last_error(gpu));
            }
            const wgml_gpu_profile_entry *pe;
            uint32_t pn;
            CHECK(!wgml_gpu_profile_read(gpu, &pe, &pn), "%s", wgml_gpu_last_error(gpu));
            enum { KINDS = 32 };
            char names[KINDS][64];
            double ns[KINDS] = {0}, all = 0;
            int counts[KINDS] = {0}, nk = 0;
            for (uint32_t i = 0; i < pn; i++) {
                char name[64];
                snprintf(name, sizeof name, "%s:%s", pe[i].kernel, pe[i].entry);
                int k = 0;
                while (k < nk && strcmp(names[k], name)) k++;
                if (k == nk && nk < KINDS) snprintf(names[nk++], sizeof names[0], "%s", name);
                if (k < nk) {
                    ns[k] += pe[i].ns;
                    counts[k]++;
                }
                all += pe[i].ns;
            }
            printf("profile, one step at position %u: %u dispatches, %.0f us in all (each in a "
                   "timed pass of its own)\n", pos, pn, all / 1e3);
            for (int done = 0; done < nk; done++) {
                int best = -1;
                for (int k = 0; k < nk; k++)
                    if (counts[k] >= 0 && (best < 0 || ns[k] > ns[best])) best = k;
                printf("  %-28s %4d x %7.1f us = %8.1f us  %5.1f%%\n", names[best],
                       counts[best], ns[best] / 1e3 / counts[best], ns[best] / 1e3,
                       100 * ns[best] / all);
                counts[best] = -1;
            }
            print_layer_slots(pe, pn);
            wgml_gpu_profile_stop(gpu);
        }
        wgml_sampler_free(s);
    }
    wgml_llama_free(m);
    wgml_gpu_free(gpu);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_generate greedy|cache|stops|errors VOCAB.gguf\n");
        return 2;
    }
    const char *t = argv[1], *vocab = argv[2];
    if (!strcmp(t, "greedy")) return test_greedy(vocab);
    if (!strcmp(t, "cache")) return test_cache(vocab);
    if (!strcmp(t, "stops")) return test_stops(vocab);
    if (!strcmp(t, "errors")) return test_errors(vocab);
    if (!strcmp(t, "batch")) return test_batch(vocab);
    if (!strcmp(t, "timing")) return run_timing(argv[2]);
    fprintf(stderr, "unknown test '%s'\n", t);
    return 2;
}
