/*
 * Loading a GGUF tokenizer: the metadata into a wgml_bpe_vocab, then the
 * vocabulary, attributes, special ids, end-of-generation set, merge table,
 * special-token order and pieces, following llama.cpp's llama_vocab::load
 * (the version bpe.h names) step by step, since the ids and texts it produces
 * are the reference.
 */
#include "tokenizer/bpe.h"
#include "tokenizer/unicode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wgml_status fail(char *err, size_t es, wgml_status st, const char *fmt, ...)
{
    if (err && es) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, es, fmt, ap);
        va_end(ap);
    }
    return st;
}

// GGUF token types (tokenizer.ggml.token_type).
enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4,
       TYPE_UNUSED = 5, TYPE_BYTE = 6 };

// ---------------------------------------------------------------- metadata

static const char *const id_keys[WGML_BPE_N_META_IDS] = {
    "tokenizer.ggml.bos_token_id",      "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",      "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.unknown_token_id",  "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id",  "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.fim_pre_token_id",  "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id",  "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id",  "tokenizer.ggml.fim_sep_token_id",
    "tokenizer.ggml.prefix_token_id",   "tokenizer.ggml.suffix_token_id",
    "tokenizer.ggml.middle_token_id",
};

void wgml_bpe_vocab_init(wgml_bpe_vocab *v)
{
    memset(v, 0, sizeof(*v));
    for (size_t i = 0; i < WGML_BPE_N_META_IDS; i++) v->ids[i] = -1;
    v->add_bos = v->add_eos = v->add_space_prefix = -1;
}

void wgml_bpe_vocab_free(wgml_bpe_vocab *v)
{
    if (!v) return;
    free(v->tokens);
    free(v->token_lens);
    free(v->scores);
    free(v->types);
    free(v->merges);
    free(v->merge_lens);
    wgml_bpe_vocab_init(v);
}

// A string array's elements into (pointers, lengths) arrays.
static wgml_status read_strings(const wgml_gguf *g, const char *key, size_t count,
                                const char ***strs, size_t **lens, char *err, size_t es)
{
    *strs = malloc((count ? count : 1) * sizeof(char *));
    *lens = malloc((count ? count : 1) * sizeof(size_t));
    if (!*strs || !*lens) return fail(err, es, WGML_ERR_OUT_OF_MEMORY, "gguf tokenizer: out of memory");
    for (size_t i = 0; i < count; i++)
        if (!wgml_gguf_arr_str(g, key, i, &(*strs)[i], &(*lens)[i]))
            return fail(err, es, WGML_ERR_BAD_FILE, "gguf tokenizer: %s[%zu] unreadable", key, i);
    return WGML_OK;
}

static int read_flag(const wgml_gguf *g, const char *key)
{
    bool b;
    return wgml_gguf_get_bool(g, key, &b) ? (int)b : -1;
}

wgml_status wgml_bpe_vocab_from_gguf(const wgml_gguf *g, wgml_bpe_vocab *v, char *err, size_t es)
{
    wgml_bpe_vocab_init(v);
    if (!g) return fail(err, es, WGML_ERR_INVALID_ARGUMENT, "gguf tokenizer: NULL file");
    if (!wgml_gguf_get_str(g, "tokenizer.ggml.model", &v->model, &v->model_len))
        return fail(err, es, WGML_ERR_BAD_FILE, "gguf tokenizer: no string tokenizer.ggml.model");
    if (wgml_gguf_kv_find(g, "tokenizer.ggml.pre") >= 0 &&
        !wgml_gguf_get_str(g, "tokenizer.ggml.pre", &v->pre, &v->pre_len))
        return fail(err, es, WGML_ERR_BAD_FILE, "gguf tokenizer: tokenizer.ggml.pre is no string");

    wgml_gguf_value_type et;
    uint64_t count;
    if (!wgml_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &count) || et != WGML_GGUF_STRING)
        return fail(err, es, WGML_ERR_BAD_FILE,
                    "gguf tokenizer: no string array tokenizer.ggml.tokens");
    if (count == 0 || count >= WGML_TOKENIZER_MAX_ID)
        return fail(err, es, WGML_ERR_BAD_FILE, "gguf tokenizer: %llu tokens (1 to %d allowed)",
                    (unsigned long long)count, WGML_TOKENIZER_MAX_ID - 1);
    size_t n = (size_t)count;
    v->n_tokens = n;
    wgml_status st = read_strings(g, "tokenizer.ggml.tokens", n, &v->tokens, &v->token_lens, err, es);
    if (st) goto out;

    // Scores: float32, or int32 as llama.cpp also accepts; at least one per token.
    if (wgml_gguf_kv_find(g, "tokenizer.ggml.scores") >= 0) {
        const uint8_t *d = wgml_gguf_arr_data(g, "tokenizer.ggml.scores");
        if (!wgml_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &count) || !d ||
            (et != WGML_GGUF_FLOAT32 && et != WGML_GGUF_INT32) || count < n) {
            st = fail(err, es, WGML_ERR_BAD_FILE,
                      "gguf tokenizer: tokenizer.ggml.scores must be float32 or int32, one per token");
            goto out;
        }
        v->scores = malloc(n * sizeof(float));
        if (!v->scores) goto oom;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 |
                            (uint32_t)d[4 * i + 2] << 16 | (uint32_t)d[4 * i + 3] << 24;
            if (et == WGML_GGUF_FLOAT32) memcpy(&v->scores[i], &bits, 4);
            else v->scores[i] = (float)(int32_t)bits;
        }
    }
    if (wgml_gguf_kv_find(g, "tokenizer.ggml.token_type") >= 0) {
        const uint8_t *d = wgml_gguf_arr_data(g, "tokenizer.ggml.token_type");
        if (!wgml_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &count) || !d ||
            et != WGML_GGUF_INT32 || count < n) {
            st = fail(err, es, WGML_ERR_BAD_FILE,
                      "gguf tokenizer: tokenizer.ggml.token_type must be int32, one per token");
            goto out;
        }
        v->types = malloc(n * sizeof(int32_t));
        if (!v->types) goto oom;
        for (size_t i = 0; i < n; i++)
            v->types[i] = (int32_t)((uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 |
                                    (uint32_t)d[4 * i + 2] << 16 | (uint32_t)d[4 * i + 3] << 24);
    }
    if (wgml_gguf_kv_find(g, "tokenizer.ggml.merges") >= 0) {
        if (!wgml_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &count) || et != WGML_GGUF_STRING ||
            count >= UINT32_MAX / 4) {
            st = fail(err, es, WGML_ERR_BAD_FILE,
                      "gguf tokenizer: tokenizer.ggml.merges must be an array of strings");
            goto out;
        }
        v->n_merges = (size_t)count;
        st = read_strings(g, "tokenizer.ggml.merges", v->n_merges, &v->merges, &v->merge_lens, err,
                          es);
        if (st) goto out;
    }
    for (size_t i = 0; i < WGML_BPE_N_META_IDS; i++) {
        uint64_t id;
        if (wgml_gguf_get_u64(g, id_keys[i], &id)) v->ids[i] = id > INT64_MAX ? INT64_MAX : (int64_t)id;
    }
    v->add_bos = read_flag(g, "tokenizer.ggml.add_bos_token");
    v->add_eos = read_flag(g, "tokenizer.ggml.add_eos_token");
    v->add_space_prefix = read_flag(g, "tokenizer.ggml.add_space_prefix");
    if (!wgml_gguf_get_str(g, "general.name", &v->name, &v->name_len)) v->name = NULL;
    if (!wgml_gguf_get_str(g, "general.architecture", &v->arch, &v->arch_len)) v->arch = NULL;
    return WGML_OK;
oom:
    st = fail(err, es, WGML_ERR_OUT_OF_MEMORY, "gguf tokenizer: out of memory");
out:
    wgml_bpe_vocab_free(v);
    return st;
}

// ---------------------------------------------------------------- pre-tokenizer names

typedef struct pre_name {
    const char *name;
    wgml_bpe_pre pre;
    bool clean_spaces, ignore_merges, add_bos;
} pre_name;

// llama.cpp's names for the pre-tokenizers wgml has, with the flags it sets
// for each (clean_spaces starts true for byte-level BPE).
static const pre_name pre_names[] = {
    {"default", WGML_BPE_PRE_DEFAULT, true, false, false},
    {"llama3", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"llama-v3", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"llama-bpe", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"falcon3", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"falcon-h1", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"pixtral", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"midm-2.0", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"lfm2", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"jina-v5-nano", WGML_BPE_PRE_LLAMA3, true, true, true},
    {"dbrx", WGML_BPE_PRE_LLAMA3, true, false, false},
    {"smaug-bpe", WGML_BPE_PRE_LLAMA3, true, false, false},
    {"gpt-2", WGML_BPE_PRE_GPT2, true, false, false},
    {"phi-2", WGML_BPE_PRE_GPT2, true, false, false},
    {"jina-es", WGML_BPE_PRE_GPT2, true, false, false},
    {"jina-de", WGML_BPE_PRE_GPT2, true, false, false},
    {"gigachat", WGML_BPE_PRE_GPT2, true, false, false},
    {"jina-v2-es", WGML_BPE_PRE_GPT2, true, false, false},
    {"jina-v2-de", WGML_BPE_PRE_GPT2, true, false, false},
    {"a.x-4.0", WGML_BPE_PRE_GPT2, true, false, false},
    {"mellum", WGML_BPE_PRE_GPT2, true, false, false},
    {"modern-bert", WGML_BPE_PRE_GPT2, true, false, false},
    {"mpt", WGML_BPE_PRE_GPT2, true, false, false},
    {"olmo", WGML_BPE_PRE_GPT2, true, false, false},
    {"jais", WGML_BPE_PRE_GPT2, true, false, false},
    {"exaone4", WGML_BPE_PRE_GPT2, true, false, false},
    {"trillion", WGML_BPE_PRE_GPT2, false, false, false},
    {"granite-docling", WGML_BPE_PRE_GPT2, false, false, false},
    {"qwen2", WGML_BPE_PRE_QWEN2, false, false, false},
    {"deepseek-r1-qwen", WGML_BPE_PRE_QWEN2, false, false, false},
    {"kormo", WGML_BPE_PRE_QWEN2, false, false, false},
    {"f2llmv2", WGML_BPE_PRE_QWEN2, false, false, false},
    {"hunyuan", WGML_BPE_PRE_QWEN2, false, false, false},
    {"solar-open", WGML_BPE_PRE_QWEN2, false, false, false},
    {"megrez", WGML_BPE_PRE_QWEN2, true, false, false},
    {"stablelm2", WGML_BPE_PRE_QWEN2, true, false, false},
    {"smollm", WGML_BPE_PRE_SMOLLM, false, false, false},
    {"command-r", WGML_BPE_PRE_SMOLLM, false, false, false},
    {"starcoder", WGML_BPE_PRE_SMOLLM, true, false, false},
    {"refact", WGML_BPE_PRE_SMOLLM, true, false, false},
    {"codeshell", WGML_BPE_PRE_SMOLLM, true, false, false},
    {"exaone", WGML_BPE_PRE_SMOLLM, true, false, false},
    {"minerva-7b", WGML_BPE_PRE_SMOLLM, true, false, false},
    {"mellum2", WGML_BPE_PRE_SMOLLM, true, false, false},
};

// ---------------------------------------------------------------- texts that mark tokens

// Texts llama.cpp recognises when the metadata names no such token; the
// first match gets the slot (llama.cpp takes the first in its hash map's
// order, which is unspecified; wgml takes this list's order).
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>", NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
    "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
    "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
    "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const fim_rep_texts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
// Tokens that end generation, by text.
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~[", NULL};
// Rendered as text always (gpt-oss), as llama.cpp makes them user-defined.
static const char *const user_defined_texts[] = {
    "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};

static int32_t lookup(const wgml_tokenizer *tok, const char *s)
{
    return wgml_vocab_find2(&tok->vocab, s, strlen(s), "", 0);
}

static int32_t first_present(const wgml_tokenizer *tok, const char *const *texts)
{
    for (size_t i = 0; texts[i]; i++) {
        int32_t id = lookup(tok, texts[i]);
        if (id >= 0) return id;
    }
    return -1;
}

static bool contains(const char *s, size_t n, const char *pat)
{
    size_t m = strlen(pat);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, pat, m) == 0) return true;
    return false;
}

static bool text_is(const wgml_tokenizer *tok, int32_t id, const char *s)
{
    size_t n = strlen(s);
    return tok->vocab.len[id] == n && memcmp(tok->vocab.pool + tok->vocab.off[id], s, n) == 0;
}

// ---------------------------------------------------------------- pieces

// llama.cpp's token_to_byte: strtol(text[3..5], 16) of "<0xNN>", for any
// text (strtol's leading spaces, sign and 0x prefix included).
static int token_byte(const char *t, size_t n)
{
    if (n < 3) return -1;   // llama.cpp throws here
    const char *s = t + 3, *e = t + (n < 5 ? n : 5);
    while (s < e && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) s++;
    bool neg = false;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    long v = 0;
    for (; s < e; s++) {
        int d = *s >= '0' && *s <= '9' ? *s - '0'
              : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
              : *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + d;
    }
    return (int)(uint8_t)(neg ? -v : v);
}

typedef struct pbuf {
    char *v;
    size_t n, cap;
} pbuf;

static bool pbuf_add(pbuf *b, const void *s, size_t n)
{
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap - b->n < n) {
            if (cap > UINT32_MAX) return false;
            cap *= 2;
        }
        char *v = realloc(b->v, cap);
        if (!v) return false;
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, s, n);
    b->n += n;
    return true;
}

// A byte-level token's bytes (llama.cpp's llama_decode_text): each code point
// of the text back to its byte; one that is no byte's character becomes
// "[UNK_BYTE_0x<its UTF-8 in hex><the whole text>]".
static bool decode_byte_level(const char *t, size_t n, pbuf *out)
{
    uint32_t *cps = NULL;
    size_t m = 0;
    if (wgml_bpe_utf8_decode_lenient(t, n, &cps, &m)) return false;
    bool ok = true;
    for (size_t i = 0; ok && i < m; i++) {
        int b = wgml_bpe_cp_byte(cps[i]);
        if (b >= 0) {
            char c = (char)b;
            ok = pbuf_add(out, &c, 1);
            continue;
        }
        uint8_t u[4];
        size_t k = wgml_utf8_encode(cps[i], u);
        char hex[16] = "[UNK_BYTE_0x";
        ok = pbuf_add(out, hex, 12);
        for (size_t j = 0; ok && j < k; j++) {
            snprintf(hex, sizeof hex, "%02x", u[j]);
            ok = pbuf_add(out, hex, 2);
        }
        ok = ok && pbuf_add(out, t, n) && pbuf_add(out, "]", 1);
    }
    free(cps);
    return ok;
}

// The pieces llama.cpp caches (token_to_piece with special = true).
static wgml_status build_pieces(const wgml_tokenizer *tok, wgml_bpe *b)
{
    pbuf pool = {0};
    b->piece_off = malloc(b->n * sizeof(uint32_t));
    b->piece_len = malloc(b->n * sizeof(uint32_t));
    if (!b->piece_off || !b->piece_len) return WGML_ERR_OUT_OF_MEMORY;
    bool ok = true;
    for (size_t id = 0; ok && id < b->n; id++) {
        const char *t = tok->vocab.pool + tok->vocab.off[id];
        size_t n = tok->vocab.len[id];
        unsigned a = b->attr[id];
        size_t start = pool.n;
        if (a & (WGML_TOKEN_ATTR_UNKNOWN | WGML_TOKEN_ATTR_CONTROL | WGML_TOKEN_ATTR_USER_DEFINED)) {
            ok = pbuf_add(&pool, t, n);
        } else if (a & WGML_TOKEN_ATTR_NORMAL) {
            if (!b->spm) {
                ok = decode_byte_level(t, n, &pool);
            } else {
                for (size_t i = 0; ok && i < n;) {
                    if (n - i >= 3 && memcmp(t + i, "\xE2\x96\x81", 3) == 0) {
                        ok = pbuf_add(&pool, " ", 1);
                        i += 3;
                    } else {
                        ok = pbuf_add(&pool, t + i, 1);
                        i++;
                    }
                }
            }
        } else if (a & WGML_TOKEN_ATTR_BYTE) {
            int v = token_byte(t, n);
            char c = (char)v;
            if (v >= 0) ok = pbuf_add(&pool, &c, 1);
        }
        if (pool.n - start > UINT32_MAX || pool.n > UINT32_MAX) ok = false;
        b->piece_off[id] = (uint32_t)start;
        b->piece_len[id] = (uint32_t)(pool.n - start);
    }
    b->piece_pool = pool.v;
    if (!ok) return WGML_ERR_OUT_OF_MEMORY;
    return WGML_OK;
}

// ---------------------------------------------------------------- special tokens

static int special_cmp(const void *pa, const void *pb)
{
    const wgml_bpe_special *a = pa, *b = pb;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

// Control, user-defined and unknown tokens, longest text first (equal
// lengths by id: llama.cpp's std::sort leaves their order unspecified), each
// with its KMP failure function.
static wgml_status build_specials(const wgml_tokenizer *tok, wgml_bpe *b)
{
    const unsigned mask = WGML_TOKEN_ATTR_CONTROL | WGML_TOKEN_ATTR_USER_DEFINED |
                          WGML_TOKEN_ATTR_UNKNOWN;
    size_t count = 0;
    for (size_t id = 0; id < b->n; id++)
        if (b->attr[id] & mask) count++;
    if (!count) return WGML_OK;
    b->specials = calloc(count, sizeof(wgml_bpe_special));
    if (!b->specials) return WGML_ERR_OUT_OF_MEMORY;
    for (size_t id = 0; id < b->n; id++) {
        if (!(b->attr[id] & mask)) continue;
        wgml_bpe_special *s = &b->specials[b->n_specials++];
        s->id = (int32_t)id;
        s->len = tok->vocab.len[id];
        s->control = (b->attr[id] & (WGML_TOKEN_ATTR_CONTROL | WGML_TOKEN_ATTR_UNKNOWN)) != 0;
    }
    qsort(b->specials, b->n_specials, sizeof(wgml_bpe_special), special_cmp);
    for (size_t i = 0; i < b->n_specials; i++) {
        wgml_bpe_special *s = &b->specials[i];
        const char *p = tok->vocab.pool + tok->vocab.off[s->id];
        size_t n = tok->vocab.len[s->id];
        s->fail = malloc(n * sizeof(uint32_t));
        if (!s->fail) return WGML_ERR_OUT_OF_MEMORY;
        s->fail[0] = 0;
        for (size_t q = 1, k = 0; q < n; q++) {
            while (k > 0 && p[q] != p[k]) k = s->fail[k - 1];
            if (p[q] == p[k]) k++;
            s->fail[q] = (uint32_t)k;
        }
    }
    return WGML_OK;
}

// ---------------------------------------------------------------- strip attributes

// Whether s[0..n) holds pat, ASCII letters of s compared in lower case.
static bool contains_lower(const char *s, size_t n, const char *pat)
{
    size_t m = strlen(pat);
    for (size_t i = 0; s && i + m <= n; i++) {
        size_t k = 0;
        while (k < m) {
            char c = s[i + k];
            if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
            if (c != pat[k]) break;
            k++;
        }
        if (k == m) return true;
    }
    return false;
}

static void set_attr(wgml_bpe *b, int32_t id, unsigned bit, bool on)
{
    if (id < 0) return;
    b->attr[id] = (uint16_t)(on ? b->attr[id] | bit : b->attr[id] & ~bit);
}

// llama.cpp gives some special tokens lstrip or rstrip by the model: by the
// pre-tokenizer name or architecture (Jina v2, nomic-bert-moe, jina-bert-v3:
// <mask> lstrip), else by general.name in lower case (Phi-3: every special
// token rstrip but <unk>, <s>, <|endoftext|>; ModernBERT: [MASK] lstrip).
// After the special-token order is set, as there.
static void set_strip_attrs(const wgml_tokenizer *tok, wgml_bpe *b, const wgml_bpe_vocab *v)
{
    // Substrings, as llama.cpp compares: of the pre-tokenizer name and the
    // architecture as they are, of the model name in lower case.
    bool jina_pre = v->pre && (contains(v->pre, v->pre_len, "jina-v2-de") ||
                               contains(v->pre, v->pre_len, "jina-v2-es") ||
                               contains(v->pre, v->pre_len, "jina-v2-code"));
    if (jina_pre || (v->arch && (contains(v->arch, v->arch_len, "nomic-bert-moe") ||
                                           contains(v->arch, v->arch_len, "jina-bert-v3")))) {
        set_attr(b, lookup(tok, "<mask>"), WGML_TOKEN_ATTR_LSTRIP, true);
    } else if (v->name && (contains_lower(v->name, v->name_len, "phi-3") ||
                           contains_lower(v->name, v->name_len, "phi3"))) {
        for (size_t i = 0; i < b->n_specials; i++)
            set_attr(b, b->specials[i].id, WGML_TOKEN_ATTR_RSTRIP, true);
        set_attr(b, lookup(tok, "</s>"), WGML_TOKEN_ATTR_RSTRIP, true);
        set_attr(b, lookup(tok, "<unk>"), WGML_TOKEN_ATTR_RSTRIP, false);
        set_attr(b, lookup(tok, "<s>"), WGML_TOKEN_ATTR_RSTRIP, false);
        set_attr(b, lookup(tok, "<|endoftext|>"), WGML_TOKEN_ATTR_RSTRIP, false);
    } else if (v->name && contains_lower(v->name, v->name_len, "modern-bert")) {
        set_attr(b, lookup(tok, "[MASK]"), WGML_TOKEN_ATTR_LSTRIP, true);
    }
    for (size_t i = 0; i < b->n_specials; i++) {
        wgml_bpe_special *s = &b->specials[i];
        s->lstrip = (b->attr[s->id] & WGML_TOKEN_ATTR_LSTRIP) != 0;
        s->rstrip = (b->attr[s->id] & WGML_TOKEN_ATTR_RSTRIP) != 0;
    }
}

// ---------------------------------------------------------------- build

void wgml_bpe_free(wgml_bpe *b)
{
    if (!b) return;
    free(b->scores);
    free(b->attr);
    free(b->eog);
    wgml_bpe_merges_free(&b->merges);
    for (size_t i = 0; i < b->n_specials; i++) free(b->specials[i].fail);
    free(b->specials);
    free(b->piece_pool);
    free(b->piece_off);
    free(b->piece_len);
    free(b);
}

static unsigned attr_of_type(int32_t type)
{
    switch (type) {
    case TYPE_UNKNOWN: return WGML_TOKEN_ATTR_UNKNOWN;
    case TYPE_UNUSED: return WGML_TOKEN_ATTR_UNUSED;
    case TYPE_NORMAL: return WGML_TOKEN_ATTR_NORMAL;
    case TYPE_CONTROL: return WGML_TOKEN_ATTR_CONTROL;
    case TYPE_USER_DEFINED: return WGML_TOKEN_ATTR_USER_DEFINED;
    case TYPE_BYTE: return WGML_TOKEN_ATTR_BYTE;
    default: return 0;   // undefined
    }
}

// The special ids: the model's defaults, then the metadata's (an id past the
// vocabulary is ignored, a default past it dropped), in llama.cpp's key order.
static void set_special_ids(wgml_bpe *b, const wgml_bpe_vocab *v)
{
    for (size_t i = 0; i < WGML_BPE_N_IDS; i++) b->ids[i] = -1;
    if (b->spm) {
        b->ids[WGML_BPE_BOS] = 1;
        b->ids[WGML_BPE_EOS] = 2;
        b->ids[WGML_BPE_UNK] = 0;
    } else {
        b->ids[WGML_BPE_BOS] = 11;
        b->ids[WGML_BPE_EOS] = 11;
    }
    for (size_t key = 0; key < WGML_BPE_N_META_IDS; key++) {
        size_t slot = key < WGML_BPE_N_IDS ? key : WGML_BPE_FIM_PRE + (key - WGML_BPE_PREFIX);
        if (b->ids[slot] >= 0 && (size_t)b->ids[slot] >= b->n) b->ids[slot] = -1;
        if (v->ids[key] >= 0 && (uint64_t)v->ids[key] < b->n) b->ids[slot] = (int32_t)v->ids[key];
    }
}

// llama.cpp marks some tokens by their text after reading the types: the
// end-of-turn and fill-in-the-middle tokens the metadata leaves unnamed,
// control tokens named "unused", the end-of-generation set.
static void mark_by_text(const wgml_tokenizer *tok, wgml_bpe *b)
{
    static const struct { int slot; const char *const *texts; } detect[] = {
        {WGML_BPE_EOT, eot_texts},         {WGML_BPE_EOM, eom_texts},
        {WGML_BPE_FIM_PRE, fim_pre_texts}, {WGML_BPE_FIM_SUF, fim_suf_texts},
        {WGML_BPE_FIM_MID, fim_mid_texts}, {WGML_BPE_FIM_PAD, fim_pad_texts},
        {WGML_BPE_FIM_REP, fim_rep_texts}, {WGML_BPE_FIM_SEP, fim_sep_texts},
    };
    for (size_t i = 0; i < sizeof detect / sizeof detect[0]; i++) {
        if (b->ids[detect[i].slot] >= 0) continue;
        int32_t id = first_present(tok, detect[i].texts);
        if (id < 0) continue;
        b->ids[detect[i].slot] = id;
        b->attr[id] |= WGML_TOKEN_ATTR_CONTROL;
    }
    for (size_t id = 0; id < b->n; id++) {
        if ((b->attr[id] & WGML_TOKEN_ATTR_CONTROL) &&
            contains(tok->vocab.pool + tok->vocab.off[id], tok->vocab.len[id], "unused"))
            b->attr[id] |= WGML_TOKEN_ATTR_UNUSED;
    }
    const int eog_slots[] = {WGML_BPE_FIM_PAD, WGML_BPE_FIM_REP, WGML_BPE_FIM_SEP};
    for (size_t i = 0; i < 3; i++)
        if (b->ids[eog_slots[i]] >= 0) b->eog[b->ids[eog_slots[i]]] = 1;
    for (size_t i = 0; eog_texts[i]; i++) {
        int32_t id = lookup(tok, eog_texts[i]);
        if (id < 0) continue;
        b->eog[id] = 1;
        b->attr[id] |= WGML_TOKEN_ATTR_CONTROL;
    }
    for (size_t i = 0; user_defined_texts[i]; i++) {
        int32_t id = lookup(tok, user_defined_texts[i]);
        if (id >= 0) b->attr[id] = WGML_TOKEN_ATTR_USER_DEFINED;
    }
    const int end_slots[] = {WGML_BPE_EOS, WGML_BPE_EOT, WGML_BPE_EOM};
    for (size_t i = 0; i < 3; i++)
        if (b->ids[end_slots[i]] >= 0) b->eog[b->ids[end_slots[i]]] = 1;
    // gpt-oss and solar-open end a message with <|end|> but a turn with
    // <|return|> or <|call|>: there <|end|> does not end generation.
    bool has_return = false, has_call = false, has_flush = false, has_normal_s = false;
    int32_t end_id = -1, s_id = -1;
    for (size_t id = 0; id < b->n; id++) {
        if (!b->eog[id]) continue;
        int32_t i = (int32_t)id;
        if (text_is(tok, i, "<|return|>")) has_return = true;
        else if (text_is(tok, i, "<|call|>") || text_is(tok, i, "<|calls|>")) has_call = true;
        else if (text_is(tok, i, "<|flush|>")) has_flush = true;
        else if (text_is(tok, i, "<|end|>")) end_id = i;
        if (text_is(tok, i, "<|tool_response>") || text_is(tok, i, "<|plamo:eos|>"))
            has_normal_s = true;
        else if (text_is(tok, i, "</s>")) s_id = i;
    }
    if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
        b->eog[end_id] = 0;
        b->attr[end_id] = WGML_TOKEN_ATTR_USER_DEFINED;
    }
    // gemma4 and plamo have a normal </s>.
    if (has_normal_s && s_id >= 0) {
        b->eog[s_id] = 0;
        b->attr[s_id] = WGML_TOKEN_ATTR_NORMAL;
    }
}

wgml_status wgml_bpe_build(wgml_tokenizer *tok, const wgml_bpe_vocab *v, char *err, size_t es)
{
    bool spm;
    if (v->model_len == 4 && memcmp(v->model, "gpt2", 4) == 0) spm = false;
    else if (v->model_len == 5 && memcmp(v->model, "llama", 5) == 0) spm = true;
    else
        return fail(err, es, WGML_ERR_UNSUPPORTED,
                    "gguf tokenizer: model '%.*s' unsupported (gpt2 and llama are)",
                    (int)(v->model_len > 64 ? 64 : v->model_len), v->model ? v->model : "");
    if (v->n_tokens == 0 || v->n_tokens >= WGML_TOKENIZER_MAX_ID || !v->tokens || !v->token_lens)
        return fail(err, es, WGML_ERR_BAD_FILE, "gguf tokenizer: %zu tokens", v->n_tokens);
    if (!spm && !v->merges)
        return fail(err, es, WGML_ERR_BAD_FILE, "gguf tokenizer: byte-level BPE without merges");

    wgml_bpe *b = calloc(1, sizeof(*b));
    if (!b) return fail(err, es, WGML_ERR_OUT_OF_MEMORY, "gguf tokenizer: out of memory");
    tok->bpe = b;
    b->spm = spm;
    b->n = v->n_tokens;
    b->clean_spaces = !spm;
    b->add_space_prefix = spm;
    b->add_bos = spm;
    if (!spm) {
        const pre_name *found = NULL;
        if (!v->pre) found = &pre_names[0];
        for (size_t i = 0; v->pre && i < sizeof pre_names / sizeof pre_names[0]; i++)
            if (strlen(pre_names[i].name) == v->pre_len &&
                memcmp(pre_names[i].name, v->pre, v->pre_len) == 0)
                found = &pre_names[i];
        if (!found)
            return fail(err, es, WGML_ERR_UNSUPPORTED, "gguf tokenizer: pre-tokenizer '%.*s' unsupported",
                        (int)(v->pre_len > 64 ? 64 : v->pre_len), v->pre);
        b->pre = found->pre;
        b->clean_spaces = found->clean_spaces;
        b->ignore_merges = found->ignore_merges;
        b->add_bos = found->add_bos;
    }
    if (v->add_space_prefix >= 0) b->add_space_prefix = v->add_space_prefix;
    if (v->add_bos >= 0) b->add_bos = v->add_bos;
    if (v->add_eos >= 0) b->add_eos = v->add_eos;

    // Tokens: llama.cpp names an empty one "[EMPTY_<id>]".
    for (size_t id = 0; id < b->n; id++) {
        wgml_status st;
        if (v->token_lens[id] == 0) {
            char name[32];
            int k = snprintf(name, sizeof name, "[EMPTY_%zu]", id);
            st = wgml_vocab_set(&tok->vocab, (int32_t)id, name, (size_t)k);
        } else {
            st = wgml_vocab_set(&tok->vocab, (int32_t)id, v->tokens[id], v->token_lens[id]);
        }
        if (st) return fail(err, es, st, "gguf tokenizer: token %zu: %s", id, wgml_status_name(st));
    }
    wgml_status st = wgml_vocab_index(&tok->vocab);
    if (st) return fail(err, es, st, "gguf tokenizer: out of memory");

    b->scores = calloc(b->n, sizeof(float));
    b->attr = malloc(b->n * sizeof(uint16_t));
    b->eog = calloc(b->n, 1);
    if (!b->scores || !b->attr || !b->eog)
        return fail(err, es, WGML_ERR_OUT_OF_MEMORY, "gguf tokenizer: out of memory");
    for (size_t id = 0; id < b->n; id++) {
        if (v->scores) b->scores[id] = v->scores[id];
        b->attr[id] = (uint16_t)(v->types ? attr_of_type(v->types[id]) : WGML_TOKEN_ATTR_NORMAL);
    }
    if (!spm) {
        st = wgml_bpe_merges_build(&b->merges, v->merges, v->merge_lens, v->n_merges);
        if (st) return fail(err, es, st, "gguf tokenizer: merges: %s", wgml_status_name(st));
    }
    set_special_ids(b, v);
    mark_by_text(tok, b);

    // The token of each byte where the text has no token for a piece:
    // SentencePiece's <0xNN> (or the byte alone); GPT-2's byte character.
    for (unsigned c = 0; c < 256; c++) {
        char buf[8];
        if (spm) {
            snprintf(buf, sizeof buf, "<0x%02X>", c);
            b->byte_token[c] = lookup(tok, buf);
            if (b->byte_token[c] < 0) {
                buf[0] = (char)c;
                b->byte_token[c] = wgml_vocab_find2(&tok->vocab, buf, 1, "", 0);
            }
        } else {
            uint8_t u[4];
            size_t k = wgml_utf8_encode(wgml_bpe_byte_cp((uint8_t)c), u);
            b->byte_token[c] = wgml_vocab_find2(&tok->vocab, (const char *)u, k, "", 0);
        }
    }
    st = build_specials(tok, b);
    if (!st) st = build_pieces(tok, b);
    if (st) return fail(err, es, st, "gguf tokenizer: out of memory");
    set_strip_attrs(tok, b, v);

    tok->special.bos = b->ids[WGML_BPE_BOS];
    tok->special.eos = b->ids[WGML_BPE_EOS];
    tok->special.eot = b->ids[WGML_BPE_EOT];
    tok->special.eom = b->ids[WGML_BPE_EOM];
    tok->special.unk = b->ids[WGML_BPE_UNK];
    tok->special.sep = b->ids[WGML_BPE_SEP];
    tok->special.pad = b->ids[WGML_BPE_PAD];
    tok->special.mask = b->ids[WGML_BPE_MASK];
    tok->special.cls = -1;
    tok->unk_id = b->ids[WGML_BPE_UNK];
    tok->pad_id = b->ids[WGML_BPE_PAD] >= 0 ? b->ids[WGML_BPE_PAD] : 0;
    return WGML_OK;
}

// ---------------------------------------------------------------- public

wgml_status wgml_tokenizer_load_gguf(const wgml_gguf *g, wgml_tokenizer **out, char *err,
                                     size_t err_size)
{
    if (!out) return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "gguf tokenizer: NULL out");
    *out = NULL;
    wgml_bpe_vocab v;
    wgml_status st = wgml_bpe_vocab_from_gguf(g, &v, err, err_size);
    if (st) return st;
    wgml_tokenizer *tok = wgml_tokenizer_alloc();
    if (!tok) {
        wgml_bpe_vocab_free(&v);
        return fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "gguf tokenizer: out of memory");
    }
    st = wgml_bpe_build(tok, &v, err, err_size);
    wgml_bpe_vocab_free(&v);
    if (st) {
        wgml_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return WGML_OK;
}

wgml_status wgml_tokenizer_load_gguf_file(const char *path, wgml_tokenizer **out, char *err,
                                          size_t err_size)
{
    if (!out) return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "gguf tokenizer: NULL out");
    *out = NULL;
    wgml_gguf *g = NULL;
    wgml_status st = wgml_gguf_open_file(path, &g, err, err_size);
    if (st) return st;
    st = wgml_tokenizer_load_gguf(g, out, err, err_size);
    wgml_gguf_close(g);
    return st;
}

bool wgml_tokenizer_adds_bos(const wgml_tokenizer *tok)
{
    return tok && tok->bpe && tok->bpe->add_bos;
}

bool wgml_tokenizer_adds_eos(const wgml_tokenizer *tok)
{
    return tok && tok->bpe && tok->bpe->add_eos;
}

unsigned wgml_tokenizer_token_attr(const wgml_tokenizer *tok, int32_t id)
{
    if (!tok || id < 0) return 0;
    if (tok->bpe) return (size_t)id < tok->bpe->n ? tok->bpe->attr[id] : 0;
    if (!wgml_tokenizer_id_to_token(tok, id, NULL)) return 0;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id && tok->added[i].special) return WGML_TOKEN_ATTR_CONTROL;
    return WGML_TOKEN_ATTR_NORMAL;
}

bool wgml_tokenizer_is_eog(const wgml_tokenizer *tok, int32_t id)
{
    return tok && tok->bpe && id >= 0 && (size_t)id < tok->bpe->n && tok->bpe->eog[id];
}
