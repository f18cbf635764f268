// Text generation (the wgml_llm part of wgml.h): GGUF file -> tokenizer,
// Llama decoder, chat template; prompt -> prefill + sampling in one submit,
// then decode steps in batches of one submit each; text streamed through a
// UTF-8-safe decoder.
//
// Decode steps are chained on the GPU: step p reads its token from element p
// of the model's token buffer, and its sampler stores the next token at
// element p + 1 (wgml_llama_record_at, wgml_sampler_record_chained). Nothing
// comes back to the host inside a batch; a readback copies the batch's
// tokens at its end. The next batch is recorded and submitted before the
// host waits for this one's tokens, so recording (host) and the steps (GPU)
// overlap. The tokens are then handled one by one as before (end of
// generation, max_tokens, the context, cancel): what a stop leaves computed
// past it lies beyond the accepted positions, which later calls overwrite.
#include "core/ctx_internal.h"
#include "models/chat.h"
#include "models/llama.h"
#include "models/llm_recover.h"
#include "models/sampler.h"
#include "tokenizer/tokenizer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    // Prompt tokens per submit while prefilling (the last chunk also samples):
    // a long prompt is not one unbounded GPU submit, and cancelling can act
    // between chunks.
    PREFILL_CHUNK = 512,
    DEFAULT_REPEAT_LAST_N = 64,
    DEFAULT_DECODE_BATCH = 16,
    MAX_DECODE_BATCH = 64,
    IN_FLIGHT = 2,           // batches submitted ahead of the tokens being handled
};

// wgml_llm_cancel may run in a signal handler: only lock-free atomics are safe there.
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free");

struct wgml_llm {
    wgml_ctx *ctx;
    wgml_gpu *gpu;
    wgml_llama *model;
    wgml_tokenizer *tok;
    uint32_t n_vocab;              // V, the model's logits
    uint32_t n_ctx;                // C
    wgml_chat_template tmpl;
    bool tmpl_ok;                  // the file's template is one wgml renders
    char tmpl_err[256];
    char *bos_text, *eos_text;     // the pieces of BOS and EOS ("" when none)
    char *name, *arch;
    wgml_llm_info info;
    int32_t *cache;                // (C) the tokens of the context
    uint32_t n_cache;              // of them, those whose keys and values the KV cache holds
    uint32_t n_held;               // the context's length (>= n_cache): tokens known on the
                                   // host, the rest still to run (a continue or a recovery does)
    wgml_llm_source *source;       // the model file, for restoring after a device loss
    atomic_int cancel;             // set by wgml_llm_cancel
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

// The text of a special token, "" when the vocabulary has none.
static char *special_text(const wgml_tokenizer *tok, int32_t id)
{
    size_t n = 0;
    const char *p = id >= 0 ? wgml_tokenizer_token_to_piece(tok, id, true, &n) : NULL;
    return dup_n(p ? p : "", p ? n : 0);
}

// ================================================================ loading

// The restore hook (gpu.h, "device loss"): the weights again from the file,
// and the KV cache recomputed for the whole context, so that generation goes
// on from it as if the device had not gone (llm_recover.c).
static wgml_status llm_restore(void *user, wgml_gpu *gpu)
{
    wgml_llm *llm = user;
    llm->n_cache = 0;
    wgml_status st = wgml_llm_restore(gpu, llm->model, llm->source, llm->cache, llm->n_held,
                                      PREFILL_CHUNK);
    if (!st) llm->n_cache = llm->n_held;
    return st;
}

// Compiles the decode step's kernels at load rather than inside the first
// generation's decode (where they would count as decode time, unless a short
// last prefill chunk happened to compile them): one step at position 0 with a
// greedy sampler, submitted and waited for. Its key/value entries and token
// slots are overwritten by the first prompt.
static wgml_status warm_decode(wgml_llama *m, wgml_gpu *gpu)
{
    wgml_sampler_params sp = {.temperature = 0};
    wgml_sampler *s = NULL;
    wgml_gpu_buf *logits;
    wgml_status st = wgml_sampler_create(gpu, wgml_llama_config_of(m)->n_vocab, &sp, &s);
    if (!st) st = wgml_llama_record_at(m, 0, &logits);
    if (!st) st = wgml_sampler_record_chained(s, logits, 0, wgml_llama_tokens(m), 0, 0, 1, 1);
    if (!st) st = wgml_gpu_wait(gpu);
    wgml_sampler_free(s);
    return st;
}

wgml_status wgml_llm_load(wgml_ctx *ctx, const char *path, const wgml_llm_params *params,
                          wgml_llm **out)
{
    if (!ctx) return WGML_ERR_INVALID_ARGUMENT;
    wgml_gpu *gpu = ctx->gpu;
    if (!out || !path) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "llm: NULL argument");
    *out = NULL;
    wgml_llm_params p = params ? *params : (wgml_llm_params){0};
    bool has_f16 = wgml_gpu_info(gpu)->shader_f16;
    if (p.precision != WGML_PRECISION_AUTO && p.precision != WGML_PRECISION_F32 &&
        p.precision != WGML_PRECISION_F16)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "llm: unknown precision %d",
                             (int)p.precision);
    if (p.precision == WGML_PRECISION_F16 && !has_f16)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "llm: an f16 KV cache needs the "
                             "shader-f16 feature, which this device lacks");
    double t0 = now_seconds();
    wgml_llm *llm = calloc(1, sizeof *llm);
    if (!llm) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    llm->ctx = ctx;
    llm->gpu = gpu;
    char err[512];
    wgml_gguf *g = NULL;
    wgml_status st = wgml_gguf_open_file(path, &g, err, sizeof err);
    if (st) {
        wgml_gpu_fail(gpu, st, "%s", err);   // it names the file
        goto fail;
    }
    if ((st = wgml_llm_source_create(gpu, path, &llm->source))) goto fail;
    if ((st = wgml_tokenizer_load_gguf(g, &llm->tok, err, sizeof err))) {
        wgml_gpu_fail(gpu, st, "%s: tokenizer: %s", path, err);
        goto fail;
    }
    wgml_llama_params lp = {.n_ctx = p.n_ctx, .f32_activations = p.precision == WGML_PRECISION_F32};
    if ((st = wgml_llama_load(gpu, g, &lp, &llm->model)) || (st = warm_decode(llm->model, gpu)))
        goto fail;
    const wgml_llama_config *c = wgml_llama_config_of(llm->model);
    llm->n_vocab = c->n_vocab;
    llm->n_ctx = wgml_llama_n_ctx(llm->model);
    if (wgml_tokenizer_vocab_size(llm->tok) > c->n_vocab) {
        st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "%s: the tokenizer has %zu tokens, the model's "
                           "output only %u", path, wgml_tokenizer_vocab_size(llm->tok), c->n_vocab);
        goto fail;
    }
    const char *s = NULL;
    size_t n = 0;
    if (wgml_gguf_get_str(g, "tokenizer.chat_template", &s, &n)) {
        llm->tmpl_ok = !wgml_chat_template_parse(s, n, &llm->tmpl, llm->tmpl_err,
                                                 sizeof llm->tmpl_err);
    } else {
        llm->tmpl_ok = !wgml_chat_template_parse(NULL, 0, &llm->tmpl, NULL, 0);
    }
    wgml_tokenizer_special sp = wgml_tokenizer_special_ids(llm->tok);
    llm->bos_text = special_text(llm->tok, sp.bos);
    llm->eos_text = special_text(llm->tok, sp.eos);
    s = "";
    n = 0;
    wgml_gguf_get_str(g, "general.name", &s, &n);
    llm->name = dup_n(s, strnlen(s, n));
    llm->arch = dup_n(c->arch, strlen(c->arch));
    llm->cache = malloc(sizeof(int32_t) * llm->n_ctx);
    if (!llm->bos_text || !llm->eos_text || !llm->name || !llm->arch || !llm->cache) {
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto fail;
    }
    wgml_gguf_close(g);
    g = NULL;
    llm->info = (wgml_llm_info){
        .name = llm->name, .architecture = llm->arch,
        .chat_format = llm->tmpl_ok ? wgml_chat_format_name(llm->tmpl.format) : "",
        .n_vocab = c->n_vocab, .n_ctx = llm->n_ctx, .n_ctx_train = c->n_ctx_train,
        .n_layers = c->n_layers, .dim = c->dim, .kv_f16 = wgml_llama_kv_f16(llm->model),
        .gpu_bytes = wgml_llama_gpu_bytes(llm->model), .load_seconds = now_seconds() - t0,
    };
    if ((st = wgml_gpu_restore_hook_add(gpu, llm_restore, llm))) goto fail;
    *out = llm;
    return WGML_OK;
fail:
    wgml_gguf_close(g);
    wgml_llm_free(llm);
    return st;
}

void wgml_llm_free(wgml_llm *llm)
{
    if (!llm) return;
    wgml_gpu_restore_hook_remove(llm->gpu, llm_restore, llm);
    wgml_llm_source_free(llm->source);
    wgml_llama_free(llm->model);
    wgml_tokenizer_free(llm->tok);
    wgml_chat_template_free(&llm->tmpl);
    free(llm->bos_text);
    free(llm->eos_text);
    free(llm->name);
    free(llm->arch);
    free(llm->cache);
    free(llm);
}

const wgml_llm_info *wgml_llm_info_of(const wgml_llm *llm) { return llm ? &llm->info : NULL; }

void wgml_llm_cancel(wgml_llm *llm)
{
    if (llm) atomic_store_explicit(&llm->cancel, 1, memory_order_relaxed);
}

void wgml_llm_reset(wgml_llm *llm)
{
    if (llm) llm->n_cache = llm->n_held = 0;
}

// ================================================================ chat

wgml_status wgml_llm_chat_prompt(wgml_llm *llm, const wgml_chat_message *msgs, size_t n,
                                 char **text)
{
    if (!llm) return WGML_ERR_INVALID_ARGUMENT;
    if (!text) return wgml_gpu_fail(llm->gpu, WGML_ERR_INVALID_ARGUMENT, "chat: NULL argument");
    *text = NULL;
    if (!llm->tmpl_ok)
        return wgml_gpu_fail(llm->gpu, WGML_ERR_UNSUPPORTED, "chat: %s", llm->tmpl_err);
    char err[256], *out = NULL;
    size_t len = 0;
    wgml_status st = wgml_chat_render(&llm->tmpl, msgs, n, true, llm->bos_text, llm->eos_text,
                                      &out, &len, err, sizeof err);
    if (st) return wgml_gpu_fail(llm->gpu, st, "%s", err);
    // The tokenizer puts BOS first itself where the vocabulary asks for it: a
    // template's own BOS text would make it two.
    size_t nb = strlen(llm->bos_text);
    if (nb && wgml_tokenizer_adds_bos(llm->tok) && len >= nb && !memcmp(out, llm->bos_text, nb))
        memmove(out, out + nb, len - nb + 1);
    *text = out;
    return WGML_OK;
}

// ================================================================ generation

// Hands a piece of text to the caller; false when the caller wants to stop.
static bool emit(wgml_text_fn on_text, void *user, const char *text, size_t len)
{
    return !on_text || !len || on_text(user, text, len);
}

// A batch of decode steps in flight: positions first .. first + n - 1, whose
// sampled tokens (token buffer elements first + 1 .. first + n) come back
// through rb.
typedef struct decode_batch {
    uint32_t first, n;
    wgml_gpu_readback *rb;
} decode_batch;

// Records steps at positions first .. first + n - 1, each sampling the next
// token into the token buffer, and the readback of those tokens; submits.
static wgml_status decode_submit(wgml_llm *llm, wgml_sampler *sampler, uint32_t last_n,
                                 decode_batch *b)
{
    wgml_gpu_buf *tokens = wgml_llama_tokens(llm->model), *logits;
    wgml_status st;
    for (uint32_t j = 0; j < b->n; j++) {
        uint32_t pos = b->first + j;
        uint32_t back = pos + 1 < last_n ? pos + 1 : last_n;
        if ((st = wgml_llama_record_at(llm->model, pos, &logits)) ||
            (st = wgml_sampler_record_chained(sampler, logits, 0, tokens, pos + 1 - back, back,
                                              pos + 1, pos + 1)))
            return st;
    }
    if ((st = wgml_gpu_readback_record(llm->gpu, b->rb, tokens, 4ull * (b->first + 1),
                                       4ull * b->n)))
        return st;
    return wgml_gpu_submit(llm->gpu, NULL);
}

// A generation from `prompt`, or with prompt NULL from the context's tokens
// (wgml_llm_continue).
static wgml_status generate(wgml_llm *llm, const char *prompt,
                            const wgml_generate_params *params, wgml_text_fn on_text,
                            void *user, wgml_generate_stats *S)
{
    wgml_gpu *gpu = llm->gpu;
    atomic_store_explicit(&llm->cancel, 0, memory_order_relaxed);
    wgml_generate_params gp = params ? *params : (wgml_generate_params){0};
    wgml_sampler_params sp = {
        .temperature = gp.temperature, .top_k = gp.top_k, .top_p = gp.top_p, .min_p = gp.min_p,
        .repeat_penalty = gp.repeat_penalty,
        .repeat_last_n = gp.repeat_last_n ? gp.repeat_last_n : DEFAULT_REPEAT_LAST_N,
        .seed = gp.seed,
    };
    wgml_sampler *sampler = NULL;
    wgml_token_stream *stream = NULL;
    wgml_gpu_readback *rbs[IN_FLIGHT] = {NULL};
    decode_batch flight[IN_FLIGHT];
    uint32_t n_flight = 0;
    uint32_t batch = gp.decode_batch ? gp.decode_batch : DEFAULT_DECODE_BATCH;
    if (batch > MAX_DECODE_BATCH) batch = MAX_DECODE_BATCH;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char err[256];
    wgml_status st = wgml_sampler_create(gpu, llm->n_vocab, &sp, &sampler);
    if (st) goto done;
    for (int i = 0; i < IN_FLIGHT; i++)
        if ((st = wgml_gpu_readback_create(gpu, 4ull * batch, &rbs[i]))) goto done;
    if (!prompt) {   // the context is the prompt
        if (!llm->n_held) {
            st = wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "continue: the context is empty");
            goto done;
        }
        if (llm->n_cache >= llm->n_ctx) {   // full, and nothing left to run
            S->stop = WGML_STOP_CONTEXT;
            goto done;
        }
        if (!(ids = malloc(sizeof(int32_t) * llm->n_held))) {
            st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
            goto done;
        }
        memcpy(ids, llm->cache, sizeof(int32_t) * llm->n_held);
        n_ids = llm->n_held;
    } else if ((st = wgml_tokenizer_tokenize(llm->tok, prompt, strlen(prompt), true, true, &ids,
                                             &n_ids, err, sizeof err))) {
        wgml_gpu_fail(gpu, st, "generate: %s", err);
        goto done;
    }
    if (n_ids == 0) {
        st = wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "generate: the prompt has no tokens "
                           "(and the vocabulary adds no BOS)");
        goto done;
    }
    if (n_ids > llm->n_ctx) {
        st = wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "generate: the prompt has %zu tokens, "
                           "the context holds %u", n_ids, llm->n_ctx);
        goto done;
    }
    if ((st = wgml_token_stream_create(llm->tok, false, &stream))) {
        wgml_gpu_fail(gpu, st, "generate: no streaming decoder for this tokenizer");
        goto done;
    }
    uint32_t n_prompt = (uint32_t)n_ids;
    // Reuse the cached tokens the prompt starts with; at least the last
    // prompt token is run again, for its logits.
    uint32_t keep = 0;
    while (keep < llm->n_cache && keep < n_prompt - 1 && llm->cache[keep] == ids[keep]) keep++;
    llm->n_cache = keep;
    memcpy(llm->cache + keep, ids + keep, sizeof(int32_t) * (n_prompt - keep));
    llm->n_held = n_prompt;
    S->prompt_tokens = n_prompt;
    S->cached_tokens = keep;

    double t0 = now_seconds();
    wgml_gpu_buf *logits = NULL;
    for (uint32_t pos = keep; pos < n_prompt;) {
        uint32_t m = n_prompt - pos < PREFILL_CHUNK ? n_prompt - pos : PREFILL_CHUNK;
        if ((st = wgml_llama_record(llm->model, llm->cache + pos, m, pos, &logits))) goto done;
        pos += m;
        if (pos == n_prompt) {
            // The first token goes to the token buffer, where decode step
            // n_prompt reads it; the penalty's recent tokens come from there.
            uint32_t back = pos < sp.repeat_last_n ? pos : sp.repeat_last_n;
            if ((st = wgml_sampler_record_chained(sampler, logits, 0, wgml_llama_tokens(llm->model),
                                                  pos - back, back, pos, pos)))
                goto done;
        }
        if ((st = wgml_gpu_submit(gpu, NULL))) goto done;
        llm->n_cache = pos;
        if (pos < n_prompt && atomic_load_explicit(&llm->cancel, memory_order_relaxed)) {
            S->stop = WGML_STOP_CANCELLED;
            goto done;
        }
    }
    int32_t tok;
    if ((st = wgml_sampler_result(sampler, &tok))) goto done;
    double t1 = now_seconds();
    S->prefill_seconds = t1 - t0;
    uint32_t decode_steps = 0;
    // Steps run at positions n_prompt .. step_end - 1: inside the context,
    // and no more than max_tokens - 1 after the first token.
    uint64_t step_end = llm->n_ctx;
    if (gp.max_tokens && (uint64_t)n_prompt + gp.max_tokens - 1 < step_end)
        step_end = (uint64_t)n_prompt + gp.max_tokens - 1;
    uint32_t next_pos = n_prompt;        // the next step to record
    int32_t ready[MAX_DECODE_BATCH];     // tokens read back, not handled yet
    uint32_t n_ready = 1, at = 0;
    ready[0] = tok;
    for (uint32_t q = n_prompt;; q++) {   // q: the position the token would take
        if (at == n_ready) {
            // Keep IN_FLIGHT batches submitted, then wait for the oldest.
            while (n_flight < IN_FLIGHT && next_pos < step_end) {
                decode_batch *b = &flight[n_flight];
                b->first = next_pos;
                b->n = step_end - next_pos < batch ? (uint32_t)(step_end - next_pos) : batch;
                b->rb = n_flight == 1 && flight[0].rb == rbs[0] ? rbs[1] : rbs[0];
                if ((st = decode_submit(llm, sampler, sp.repeat_last_n, b))) goto done;
                next_pos += b->n;
                n_flight++;
            }
            if (n_flight == 0) {   // not reached: step_end bounds the tokens handled
                st = wgml_gpu_fail(gpu, WGML_ERR_GPU, "generate: no decode step left");
                goto done;
            }
            if ((st = wgml_gpu_readback_read(gpu, flight[0].rb, ready))) goto done;
            n_ready = flight[0].n;
            at = 0;
            flight[0] = flight[1];
            n_flight--;
        }
        tok = ready[at++];
        if (q > n_prompt) decode_steps++;
        llm->n_cache = q;   // the steps before q are done
        if (tok < 0 || (uint32_t)tok >= llm->n_vocab) {
            st = wgml_gpu_fail(gpu, WGML_ERR_GPU, "generate: the GPU sampled id %d of %u", tok,
                               llm->n_vocab);
            goto done;
        }
        if (!gp.ignore_eog && wgml_tokenizer_is_eog(llm->tok, tok)) {
            S->stop = WGML_STOP_EOG;
            break;
        }
        const char *piece;
        size_t len;
        if (wgml_token_stream_push(stream, tok, &piece, &len)) {
            st = wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "generate: the model chose token %d, which "
                               "the tokenizer does not have", tok);
            goto done;
        }
        if (gp.tokens && S->generated_tokens < gp.tokens_cap) gp.tokens[S->generated_tokens] = tok;
        S->generated_tokens++;
        if (!emit(on_text, user, piece, len) ||
            atomic_load_explicit(&llm->cancel, memory_order_relaxed)) {
            S->stop = WGML_STOP_CANCELLED;
            break;
        }
        // Tokens of a batch read back before a device loss are right, but the
        // call ends at the loss: nothing more comes out until a recovery.
        if (wgml_gpu_lost(gpu)) {
            llm->cache[q] = tok;
            llm->n_held = q + 1;
            st = wgml_gpu_fail(gpu, WGML_ERR_DEVICE_LOST, "generate: the device was lost");
            goto done;
        }
        if (gp.max_tokens && S->generated_tokens >= gp.max_tokens) {
            S->stop = WGML_STOP_LENGTH;
            break;
        }
        if (q >= llm->n_ctx) {
            S->stop = WGML_STOP_CONTEXT;
            break;
        }
        // The token goes into the context: its step was (or will be) recorded.
        llm->cache[q] = tok;
        llm->n_held = q + 1;
    }
    S->decode_seconds = decode_steps ? now_seconds() - t1 : 0;
    // The last token given out but not yet confirmed run stays in the
    // context: a continue call runs it first, as this call would have.
    llm->n_held = llm->n_cache;
    if ((S->stop == WGML_STOP_LENGTH || S->stop == WGML_STOP_CANCELLED) &&
        llm->n_cache < llm->n_ctx)
        llm->cache[llm->n_held++] = tok;
    const char *rest;
    size_t rest_len;
    wgml_token_stream_flush(stream, &rest, &rest_len);
    emit(on_text, user, rest, rest_len);
    if (S->prefill_seconds > 0)
        S->prefill_tokens_per_s = (n_prompt - keep) / S->prefill_seconds;
    if (S->decode_seconds > 0) S->decode_tokens_per_s = decode_steps / S->decode_seconds;
done:
    if (st) {
        S->stop = WGML_STOP_NONE;
        // A failed run leaves the cache's contents uncertain past what was
        // confirmed; after a GPU error nothing is. The context's tokens stay
        // known (n_held): after a device loss wgml_ctx_recover runs them
        // again (llm_restore), else a continue call does.
        if (st == WGML_ERR_GPU || st == WGML_ERR_DEVICE_LOST) llm->n_cache = 0;
    }
    wgml_token_stream_free(stream);
    wgml_tokenizer_ids_free(ids);
    wgml_sampler_free(sampler);
    for (int i = 0; i < IN_FLIGHT; i++) wgml_gpu_readback_free(gpu, rbs[i]);
    return st;
}

wgml_status wgml_llm_generate(wgml_llm *llm, const char *prompt,
                              const wgml_generate_params *params, wgml_text_fn on_text,
                              void *user, wgml_generate_stats *stats)
{
    if (!llm) return WGML_ERR_INVALID_ARGUMENT;
    wgml_generate_stats local;
    wgml_generate_stats *S = stats ? stats : &local;
    memset(S, 0, sizeof *S);
    if (!prompt) return wgml_gpu_fail(llm->gpu, WGML_ERR_INVALID_ARGUMENT, "generate: NULL prompt");
    return generate(llm, prompt, params, on_text, user, S);
}

wgml_status wgml_llm_continue(wgml_llm *llm, const wgml_generate_params *params,
                              wgml_text_fn on_text, void *user, wgml_generate_stats *stats)
{
    if (!llm) return WGML_ERR_INVALID_ARGUMENT;
    wgml_generate_stats local;
    wgml_generate_stats *S = stats ? stats : &local;
    memset(S, 0, sizeof *S);
    return generate(llm, NULL, params, on_text, user, S);
}
