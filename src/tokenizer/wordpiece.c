/*
 * The WordPiece pipeline: vocabulary index, added-token splitting, the BERT
 * normalizer and pre-tokenizer, and the WordPiece model.
 *
 * Each step follows Hugging Face tokenizers (the crate, v0.23), whose ids are
 * the reference: normalizers/bert.rs, pre_tokenizers/bert.rs,
 * models/wordpiece/mod.rs, tokenizer/added_vocabulary.rs. Everything is
 * linear in the input: the only super-linear step, WordPiece's longest match,
 * works inside one word, which is at most max_input_chars_per_word code
 * points, and only over candidates no longer than the longest token.
 */
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- buffers

typedef struct cpbuf {
    uint32_t *v;
    size_t n, cap;   // code points
} cpbuf;

// Makes room for `extra` more code points.
static bool cpbuf_reserve(cpbuf *b, size_t extra)
{
    if (extra <= b->cap - b->n) return true;
    if (extra > SIZE_MAX / sizeof(uint32_t) - b->n) return false;
    size_t want = b->n + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want) cap = cap > SIZE_MAX / 2 / sizeof(uint32_t) ? want : cap * 2;
    uint32_t *v = realloc(b->v, cap * sizeof(uint32_t));
    if (!v) return false;
    b->v = v;
    b->cap = cap;
    return true;
}

wgml_status wgml_ids_push(wgml_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(int32_t)) return WGML_ERR_OUT_OF_MEMORY;
        int32_t *v = realloc(ids->v, cap * sizeof(int32_t));
        if (!v) return WGML_ERR_OUT_OF_MEMORY;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return WGML_OK;
}

// ---------------------------------------------------------------- vocabulary

// FNV-1a, 64-bit, over two pieces as if they were one string.
static uint64_t hash2(const char *a, size_t alen, const char *b, size_t blen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < alen; i++) h = (h ^ (uint8_t)a[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < blen; i++) h = (h ^ (uint8_t)b[i]) * 0x100000001b3ull;
    return h;
}

wgml_status wgml_vocab_set(wgml_vocab *v, int32_t id, const char *s, size_t len)
{
    if (id < 0 || id >= WGML_TOKENIZER_MAX_ID || len > UINT32_MAX) return WGML_ERR_INVALID_ARGUMENT;
    size_t need = (size_t)id + 1;
    if (need > v->n) {
        size_t cap = v->n ? v->n : 1024;
        while (cap < need) cap *= 2;
        uint32_t *off = realloc(v->off, cap * sizeof(uint32_t));
        if (!off) return WGML_ERR_OUT_OF_MEMORY;
        v->off = off;
        uint32_t *ln = realloc(v->len, cap * sizeof(uint32_t));
        if (!ln) return WGML_ERR_OUT_OF_MEMORY;
        v->len = ln;
        for (size_t i = v->n; i < cap; i++) {
            v->off[i] = UINT32_MAX;
            v->len[i] = 0;
        }
        v->n = cap;   // trimmed to the largest id by wgml_vocab_index
    }
    if (len > v->pool_cap - v->pool_len) {
        size_t cap = v->pool_cap ? v->pool_cap : 4096;
        while (cap - v->pool_len < len) cap *= 2;
        if (cap >= UINT32_MAX) return WGML_ERR_OUT_OF_MEMORY;
        char *pool = realloc(v->pool, cap);
        if (!pool) return WGML_ERR_OUT_OF_MEMORY;
        v->pool = pool;
        v->pool_cap = cap;
    }
    // An empty token may come before the pool exists (NULL + 0 is undefined;
    // found by fuzz_tokenizer).
    if (len) memcpy(v->pool + v->pool_len, s, len);
    v->off[id] = (uint32_t)v->pool_len;
    v->len[id] = (uint32_t)len;
    v->pool_len += len;
    return WGML_OK;
}

// Builds the hash index over every id that has a token; for a string held by
// several ids the largest id wins (a later line of vocab.txt overwrites an
// earlier one in tokenizers' HashMap).
wgml_status wgml_vocab_index(wgml_vocab *v)
{
    size_t n = 0, count = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->off[i] != UINT32_MAX) {
            n = i + 1;
            count++;
        }
    }
    v->n = n;
    size_t slots = 16;
    while (slots < 2 * count) slots *= 2;
    free(v->slot_id);
    free(v->slot_hash);
    v->slot_id = calloc(slots, sizeof(uint32_t));
    v->slot_hash = calloc(slots, sizeof(uint32_t));
    if (!v->slot_id || !v->slot_hash) return WGML_ERR_OUT_OF_MEMORY;
    v->n_slots = slots;
    v->n_tokens = 0;
    v->max_token_len = 0;
    for (size_t id = 0; id < n; id++) {
        if (v->off[id] == UINT32_MAX) continue;
        const char *s = v->pool + v->off[id];
        size_t len = v->len[id];
        uint64_t h = hash2(s, len, NULL, 0);
        size_t i = (size_t)h & (slots - 1);
        for (;; i = (i + 1) & (slots - 1)) {
            uint32_t other = v->slot_id[i];
            if (other == 0) {
                v->n_tokens++;
                break;
            }
            if (v->slot_hash[i] == (uint32_t)h && v->len[other - 1] == len &&
                memcmp(v->pool + v->off[other - 1], s, len) == 0)
                break;   // the same string: this (larger) id replaces it
        }
        v->slot_id[i] = (uint32_t)id + 1;
        v->slot_hash[i] = (uint32_t)h;
        if (len > v->max_token_len) v->max_token_len = len;
    }
    return WGML_OK;
}

int32_t wgml_vocab_find2(const wgml_vocab *v, const char *a, size_t alen, const char *b,
                         size_t blen)
{
    if (!v->n_slots) return -1;
    uint64_t h = hash2(a, alen, b, blen);
    size_t mask = v->n_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t id = v->slot_id[i];
        if (id == 0) return -1;
        id--;
        if (v->slot_hash[i] == (uint32_t)h && v->len[id] == alen + blen &&
            memcmp(v->pool + v->off[id], a, alen) == 0 &&
            memcmp(v->pool + v->off[id] + alen, b, blen) == 0)
            return (int32_t)id;
    }
}

void wgml_vocab_free(wgml_vocab *v)
{
    free(v->pool);
    free(v->off);
    free(v->len);
    free(v->slot_id);
    free(v->slot_hash);
    memset(v, 0, sizeof(*v));
}

// ---------------------------------------------------------------- normalizer

// BERT's CJK Unified Ideographs blocks, as tokenizers' normalizers/bert.rs
// lists them. One range differs from Google's BERT (tokenization.py): it
// starts at U+2B920 there, U+2B820 in BERT; tokenizers' is the reference.
static bool is_chinese(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Rust's char::is_ascii_punctuation: BERT counts the ASCII symbols
// ($ + < = > ^ ` | ~) as punctuation too, though Unicode calls them S*.
static bool is_ascii_punct(uint32_t c)
{
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
}

// Stable sort of marks by canonical combining class: counting sort, so that
// an adversarial run of alternating classes stays linear.
static bool sort_by_ccc(uint32_t *v, const uint8_t *ccc, size_t n, cpbuf *scratch)
{
    if (n < 2) return true;
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++) count[ccc[i] + 1]++;
    for (size_t k = 1; k < 257; k++) count[k] += count[k - 1];
    scratch->n = 0;
    if (!cpbuf_reserve(scratch, n)) return false;
    for (size_t i = 0; i < n; i++) scratch->v[count[ccc[i]]++] = v[i];
    memcpy(v, scratch->v, n * sizeof(uint32_t));
    return true;
}

typedef struct norm_scratch {
    cpbuf a, b;          // the text between steps
    cpbuf marks;         // pending combining marks that survive stripping
    uint8_t *marks_ccc;  // (marks.cap)
    size_t marks_ccc_cap;
    cpbuf sort;
} norm_scratch;

static void norm_scratch_free(norm_scratch *s)
{
    free(s->a.v);
    free(s->b.v);
    free(s->marks.v);
    free(s->marks_ccc);
    free(s->sort.v);
}

// Appends the pending marks, in canonical order, to out.
static bool flush_marks(norm_scratch *s, cpbuf *out)
{
    if (!s->marks.n) return true;
    if (!sort_by_ccc(s->marks.v, s->marks_ccc, s->marks.n, &s->sort)) return false;
    if (!cpbuf_reserve(out, s->marks.n)) return false;
    memcpy(out->v + out->n, s->marks.v, s->marks.n * sizeof(uint32_t));
    out->n += s->marks.n;
    s->marks.n = 0;
    return true;
}

// strip_accents: NFD, then drop every Mn (normalizers/bert.rs do_strip_accents).
// Canonical ordering (UAX #15) only reorders marks within a run of non-starters;
// dropping Mn afterwards leaves the surviving marks of a run in the order a
// stable sort by class gives them alone, so only survivors are buffered.
static bool strip_accents(const cpbuf *in, cpbuf *out, norm_scratch *s)
{
    out->n = 0;
    s->marks.n = 0;
    if (!cpbuf_reserve(out, in->n)) return false;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t d[WGML_UNICODE_MAX_DECOMP];
        size_t nd = in->v[i] < 0xC0 ? (d[0] = in->v[i], 1) : wgml_unicode_decompose(in->v[i], d);
        for (size_t k = 0; k < nd; k++) {
            uint8_t ccc = wgml_unicode_ccc(d[k]);
            bool mn = (wgml_unicode_props_of(d[k]) & WGML_UNICODE_MN) != 0;
            if (ccc == 0) {
                if (!flush_marks(s, out)) return false;
                if (mn) continue;
                if (!cpbuf_reserve(out, 1)) return false;
                out->v[out->n++] = d[k];
            } else if (!mn) {
                if (!cpbuf_reserve(&s->marks, 1)) return false;
                if (s->marks_ccc_cap < s->marks.cap) {
                    uint8_t *c = realloc(s->marks_ccc, s->marks.cap);
                    if (!c) return false;
                    s->marks_ccc = c;
                    s->marks_ccc_cap = s->marks.cap;
                }
                s->marks_ccc[s->marks.n] = ccc;
                s->marks.v[s->marks.n++] = d[k];
            }
        }
    }
    return flush_marks(s, out);
}

// The BertNormalizer over in[0..n): clean_text, handle_chinese_chars,
// strip_accents, lowercase, in that order. The result is in *result (one of
// the scratch buffers).
static bool normalize(const wgml_tokenizer *tok, const uint32_t *in, size_t n,
                      norm_scratch *s, cpbuf **result)
{
    cpbuf *cur = &s->a, *next = &s->b;
    cur->n = 0;
    // Room for the text as it is; CJK padding grows it as it goes.
    if (!cpbuf_reserve(cur, n)) return false;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (!cpbuf_reserve(cur, 3)) return false;
        if (tok->clean_text) {
            bool tnr = c == '\t' || c == '\n' || c == '\r';
            unsigned p = wgml_unicode_props_of(c);
            if (c == 0 || c == WGML_UNICODE_REPLACEMENT || (!tnr && (p & WGML_UNICODE_OTHER)))
                continue;
            if (tnr || (p & WGML_UNICODE_WHITESPACE)) c = ' ';
        }
        if (tok->handle_chinese_chars && is_chinese(c)) {
            cur->v[cur->n++] = ' ';
            cur->v[cur->n++] = c;
            cur->v[cur->n++] = ' ';
        } else {
            cur->v[cur->n++] = c;
        }
    }
    if (tok->strip_accents) {
        if (!strip_accents(cur, next, s)) return false;
        cpbuf *t = cur;
        cur = next;
        next = t;
    }
    if (tok->lowercase) {
        // Rust's char::to_lowercase, one code point at a time: no final-sigma
        // rule (tokenizers' NormalizedString::lowercase maps chars alone).
        next->n = 0;
        if (!cpbuf_reserve(next, cur->n)) return false;
        for (size_t i = 0; i < cur->n; i++) {
            if (!cpbuf_reserve(next, 3)) return false;
            next->n += wgml_unicode_lower(cur->v[i], next->v + next->n);
        }
        cpbuf *t = cur;
        cur = next;
        next = t;
    }
    *result = cur;
    return true;
}

// ---------------------------------------------------------------- WordPiece

typedef struct word_scratch {
    char *bytes;        // the word in UTF-8
    size_t *boff;       // (chars + 1) byte offset of each code point
    size_t cap;         // code points the two can hold
} word_scratch;

// models/wordpiece/mod.rs: a word longer than max_input_chars_per_word is
// [UNK]; otherwise the longest vocabulary prefix is taken, then the longest
// "##"-prefixed continuation, and so on; if some rest has no match the whole
// word is [UNK].
static wgml_status wordpiece(const wgml_tokenizer *tok, const uint32_t *w, size_t nc,
                             word_scratch *ws, wgml_ids *out)
{
    if (nc > tok->max_input_chars_per_word) return wgml_ids_push(out, tok->unk_id);
    if (nc + 1 > ws->cap) {
        size_t cap = nc + 1 > 2 * ws->cap ? nc + 1 : 2 * ws->cap;
        char *b = realloc(ws->bytes, cap * 4);
        if (!b) return WGML_ERR_OUT_OF_MEMORY;
        ws->bytes = b;
        size_t *o = realloc(ws->boff, cap * sizeof(size_t));
        if (!o) return WGML_ERR_OUT_OF_MEMORY;
        ws->boff = o;
        ws->cap = cap;
    }
    size_t nb = 0;
    for (size_t i = 0; i < nc; i++) {
        ws->boff[i] = nb;
        nb += wgml_utf8_encode(w[i], (uint8_t *)ws->bytes + nb);
    }
    ws->boff[nc] = nb;

    const wgml_vocab *v = &tok->vocab;
    size_t first_id = out->n;
    size_t start = 0;
    while (start < nc) {
        size_t pre = start > 0 ? tok->prefix_len : 0;
        if (pre > v->max_token_len) break;
        // The last end whose piece is no longer than the longest token.
        size_t limit = ws->boff[start] + (v->max_token_len - pre);
        size_t lo = start + 1, hi = nc + 1;   // find the largest end with boff[end] <= limit
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ws->boff[mid] <= limit) lo = mid + 1;
            else hi = mid;
        }
        int32_t id = -1;
        size_t end = lo - 1;
        for (; end > start; end--) {
            id = wgml_vocab_find2(v, tok->prefix, pre, ws->bytes + ws->boff[start],
                                  ws->boff[end] - ws->boff[start]);
            if (id >= 0) break;
        }
        if (id < 0) break;
        wgml_status st = wgml_ids_push(out, id);
        if (st) return st;
        start = end;
    }
    if (start < nc) {
        out->n = first_id;
        return wgml_ids_push(out, tok->unk_id);
    }
    return WGML_OK;
}

// ---------------------------------------------------------------- pre-tokenizer

// pre_tokenizers/bert.rs: split on whitespace (dropped), then isolate each
// punctuation character; every non-empty piece is a word for WordPiece.
static wgml_status pre_tokenize(const wgml_tokenizer *tok, const uint32_t *t, size_t n,
                                size_t limit, word_scratch *ws, wgml_ids *out)
{
    if (!tok->bert_pre_tokenizer) return n ? wordpiece(tok, t, n, ws, out) : WGML_OK;
    size_t word = 0;
    for (size_t i = 0; i <= n && out->n < limit; i++) {
        unsigned p = i < n ? wgml_unicode_props_of(t[i]) : WGML_UNICODE_WHITESPACE;
        bool space = (p & WGML_UNICODE_WHITESPACE) != 0;
        bool punct = !space && ((p & WGML_UNICODE_PUNCT) || is_ascii_punct(t[i]));
        if (!space && !punct) continue;
        wgml_status st = WGML_OK;
        if (i > word) st = wordpiece(tok, t + word, i - word, ws, out);
        if (!st && punct && out->n < limit) st = wordpiece(tok, t + i, 1, ws, out);
        if (st) return st;
        word = i + 1;
    }
    return WGML_OK;
}

// ---------------------------------------------------------------- added tokens

// Added tokens are sorted by their first code point; empty ones go last.
static uint64_t added_key(const wgml_added_token *a)
{
    return a->n_cps ? a->cps[0] : UINT64_MAX;
}

// The longest added token of the given kind that starts at t[i], or NULL.
static const wgml_added_token *match_added(const wgml_tokenizer *tok, const uint32_t *t,
                                           size_t n, size_t i, bool normalized)
{
    size_t lo = 0, hi = tok->n_added;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (added_key(&tok->added[mid]) < t[i]) lo = mid + 1;
        else hi = mid;
    }
    const wgml_added_token *best = NULL;
    for (size_t k = lo; k < tok->n_added && added_key(&tok->added[k]) == t[i]; k++) {
        const wgml_added_token *a = &tok->added[k];
        if (a->normalized != normalized || a->n_cps == 0 || a->n_cps > n - i) continue;
        if (best && a->n_cps <= best->n_cps) continue;
        if (memcmp(a->cps, t + i, a->n_cps * sizeof(uint32_t)) == 0) best = a;
    }
    return best;
}

typedef wgml_status (*piece_fn)(const wgml_tokenizer *tok, const uint32_t *t, size_t n,
                                size_t limit, void *ctx, wgml_ids *out);

// Splits t on added tokens (leftmost-longest, as the Aho-Corasick automaton
// of added_vocabulary.rs), emitting their ids and handing the text between
// them to fn.
static wgml_status split_added(const wgml_tokenizer *tok, const uint32_t *t, size_t n,
                               bool normalized, size_t limit, piece_fn fn, void *ctx,
                               wgml_ids *out)
{
    size_t piece = 0, i = 0;
    bool any = normalized ? tok->any_normalized_added : tok->n_added > 0;
    while (any && i < n && out->n < limit) {
        const wgml_added_token *a = match_added(tok, t, n, i, normalized);
        if (!a) {
            i++;
            continue;
        }
        wgml_status st = i > piece ? fn(tok, t + piece, i - piece, limit, ctx, out) : WGML_OK;
        if (!st && out->n < limit) st = wgml_ids_push(out, a->id);
        if (st) return st;
        i += a->n_cps;
        piece = i;
    }
    if (n > piece && out->n < limit) return fn(tok, t + piece, n - piece, limit, ctx, out);
    return WGML_OK;
}

typedef struct run_ctx {
    norm_scratch norm;
    word_scratch word;
} run_ctx;

static wgml_status after_normalized_split(const wgml_tokenizer *tok, const uint32_t *t,
                                          size_t n, size_t limit, void *ctx, wgml_ids *out)
{
    run_ctx *c = ctx;
    return pre_tokenize(tok, t, n, limit, &c->word, out);
}

static wgml_status raw_piece(const wgml_tokenizer *tok, const uint32_t *t, size_t n,
                             size_t limit, void *ctx, wgml_ids *out)
{
    run_ctx *c = ctx;
    cpbuf *norm = NULL;
    if (tok->has_normalizer) {
        if (!normalize(tok, t, n, &c->norm, &norm)) return WGML_ERR_OUT_OF_MEMORY;
        t = norm->v;
        n = norm->n;
    }
    return split_added(tok, t, n, true, limit, after_normalized_split, ctx, out);
}

// ---------------------------------------------------------------- pipeline

wgml_status wgml_tokenizer_run(const wgml_tokenizer *tok, const char *text, size_t len,
                               size_t limit, wgml_ids *out)
{
    size_t base = out->n;
    if (limit == 0 || len == 0) return WGML_OK;
    if (limit > SIZE_MAX - base) limit = SIZE_MAX - base;
    cpbuf cps = {0};
    if (!cpbuf_reserve(&cps, len)) return WGML_ERR_OUT_OF_MEMORY;
    for (size_t pos = 0; pos < len;)
        cps.v[cps.n++] = wgml_utf8_decode((const uint8_t *)text, len, &pos);
    run_ctx ctx = {0};
    wgml_status st = split_added(tok, cps.v, cps.n, false, base + limit, raw_piece, &ctx, out);
    if (out->n > base + limit) out->n = base + limit;
    free(cps.v);
    norm_scratch_free(&ctx.norm);
    free(ctx.word.bytes);
    free(ctx.word.boff);
    return st;
}

wgml_status wgml_tokenizer_normalize(const wgml_tokenizer *tok, const char *text, size_t len,
                                     uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    cpbuf cps = {0};
    if (!cpbuf_reserve(&cps, len + 1)) return WGML_ERR_OUT_OF_MEMORY;
    for (size_t pos = 0; pos < len;)
        cps.v[cps.n++] = wgml_utf8_decode((const uint8_t *)text, len, &pos);
    norm_scratch s = {0};
    cpbuf *norm = &cps;
    wgml_status st = WGML_OK;
    if (tok->has_normalizer && !normalize(tok, cps.v, cps.n, &s,
                                          &norm)) st = WGML_ERR_OUT_OF_MEMORY;
    if (!st) {
        *out = malloc((norm->n ? norm->n : 1) * sizeof(uint32_t));
        if (*out) {
            if (norm->n) memcpy(*out, norm->v, norm->n * sizeof(uint32_t));
            *n = norm->n;
        } else {
            st = WGML_ERR_OUT_OF_MEMORY;
        }
    }
    free(cps.v);
    norm_scratch_free(&s);
    return st;
}

// ---------------------------------------------------------------- building

wgml_tokenizer *wgml_tokenizer_alloc(void)
{
    wgml_tokenizer *tok = calloc(1, sizeof(*tok));
    if (!tok) return NULL;
    tok->unk_id = -1;
    memcpy(tok->prefix, "##", 2);
    tok->prefix_len = 2;
    tok->max_input_chars_per_word = 100;
    tok->special = (wgml_tokenizer_special){-1, -1, -1, -1, -1, -1, -1, -1, -1};
    tok->pad_id = -1;
    tok->max_length = WGML_TOKENIZER_NO_TRUNCATION;
    return tok;
}

static bool utf8_to_cps(const char *s, size_t len, uint32_t **out, size_t *n)
{
    *out = malloc((len ? len : 1) * sizeof(uint32_t));
    if (!*out) return false;
    *n = 0;
    for (size_t pos = 0; pos < len;) (*out)[(*n)++] = wgml_utf8_decode((const uint8_t *)s, len,
                                                                       &pos);
    return true;
}

wgml_status wgml_tokenizer_add_token(wgml_tokenizer *tok, const char *content, size_t len,
                                     int32_t id, bool normalized, bool special)
{
    if (id < 0 || id >= WGML_TOKENIZER_MAX_ID) return WGML_ERR_INVALID_ARGUMENT;
    if (len == 0) return WGML_OK;   // tokenizers ignores empty tokens
    if (tok->n_added == SIZE_MAX / sizeof(wgml_added_token)) return WGML_ERR_OUT_OF_MEMORY;
    wgml_added_token *a = realloc(tok->added, (tok->n_added + 1) * sizeof(*a));
    if (!a) return WGML_ERR_OUT_OF_MEMORY;
    tok->added = a;
    wgml_added_token *t = &a[tok->n_added];
    memset(t, 0, sizeof(*t));
    t->content = malloc(len);
    if (!t->content || !utf8_to_cps(content, len, &t->cps, &t->n_cps)) {
        free(t->content);
        free(t->cps);
        return WGML_ERR_OUT_OF_MEMORY;
    }
    memcpy(t->content, content, len);
    t->content_len = len;
    t->id = id;
    t->normalized = normalized;
    t->special = special;
    tok->n_added++;
    return WGML_OK;
}

static int added_cmp(const void *pa, const void *pb)
{
    const wgml_added_token *a = pa, *b = pb;
    uint64_t ka = added_key(a), kb = added_key(b);
    if (ka != kb) return ka < kb ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

wgml_status wgml_tokenizer_finish(wgml_tokenizer *tok)
{
    wgml_status st = wgml_vocab_index(&tok->vocab);
    if (st) return st;
    // A normalized token is looked for in normalized text, so its content is
    // normalized too (added_vocabulary.rs refresh_added_tokens).
    for (size_t i = 0; i < tok->n_added; i++) {
        wgml_added_token *a = &tok->added[i];
        if (!a->normalized) continue;
        tok->any_normalized_added = true;
        if (!tok->has_normalizer) continue;
        norm_scratch s = {0};
        cpbuf *norm = NULL;
        uint32_t *cps = NULL;
        if (normalize(tok, a->cps, a->n_cps, &s, &norm))
            cps = malloc((norm->n ? norm->n : 1) * sizeof(uint32_t));
        if (cps) {
            if (norm->n) memcpy(cps, norm->v, norm->n * sizeof(uint32_t));
            free(a->cps);
            a->cps = cps;
            a->n_cps = norm->n;
        }
        norm_scratch_free(&s);
        if (!cps) return WGML_ERR_OUT_OF_MEMORY;
    }
    if (tok->n_added) qsort(tok->added, tok->n_added, sizeof(*tok->added), added_cmp);
    return WGML_OK;
}
