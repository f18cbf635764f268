/*
 * Encoding with a GGUF tokenizer (bpe.h has the pipeline): special tokens
 * cut out of the text, then byte-level BPE or SentencePiece on each piece of
 * text between them.
 *
 * Both BPE variants keep the word as a linked list of symbols (byte ranges of
 * one buffer) and a heap of candidate merges of neighbours. A merge that was
 * queued before one of its symbols changed is recognised when it comes out of
 * the heap (the two symbols' lengths no longer add up to the merge's) and
 * dropped, so every merge costs O(log n) and a word of n characters
 * O(n log n); the concatenations looked up are never longer than the longest
 * token or merge, which keeps a long run of one character linear.
 */
#include "tokenizer/bpe.h"
#include "tokenizer/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- buffers

typedef struct bytes {
    char *v;
    size_t n, cap;
} bytes;

static bool bytes_reserve(bytes *b, size_t extra)
{
    if (extra <= b->cap - b->n) return true;
    if (extra > SIZE_MAX / 2 - b->n) return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < extra) cap *= 2;
    char *v = realloc(b->v, cap);
    if (!v) return false;
    b->v = v;
    b->cap = cap;
    return true;
}

static bool bytes_add(bytes *b, const void *s, size_t n)
{
    if (!bytes_reserve(b, n)) return false;
    if (n) memcpy(b->v + b->n, s, n);
    b->n += n;
    return true;
}

// ---------------------------------------------------------------- symbols and merges

typedef struct symbol {
    uint32_t off;        // bytes from the start of the word
    uint32_t n;          // bytes; 0 once merged into its left neighbour
    int32_t prev, next;  // -1 at the ends
} symbol;

// A queued merge of symbol left with its right neighbour: the higher key
// first, then the smaller left (llama.cpp's order: lowest rank, or highest
// score). The neighbour is not stored: a merge is still current exactly when
// left is alive and its lengths and its neighbour's add up to size (left only
// grows by taking its neighbour, and a symbol never shrinks), which keeps an
// entry at 12 bytes for long words' heaps.
typedef struct candidate {
    uint32_t key;        // order-preserving: see rank_key and score_key
    int32_t left;
    uint32_t size;       // bytes of the two symbols when it was queued
} candidate;

static uint32_t rank_key(int64_t rank) { return UINT32_MAX - (uint32_t)rank; }

// Floats in the order of their values as unsigned integers; -0 is +0 (they
// compare equal in llama.cpp's queue).
static uint32_t score_key(float score)
{
    if (score == 0) score = 0;
    uint32_t bits;
    memcpy(&bits, &score, 4);
    return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

typedef struct merger {
    symbol *sym;
    size_t n_sym, cap_sym;
    candidate *heap;
    size_t n_heap, cap_heap;
} merger;

static void merger_free(merger *m)
{
    free(m->sym);
    free(m->heap);
}

static bool before(const candidate *a, const candidate *b)
{
    if (a->key != b->key) return a->key > b->key;
    return a->left < b->left;
}

// The right neighbour of c.left when c is still current, else -1.
static int32_t current_right(const merger *m, const candidate *c)
{
    const symbol *l = &m->sym[c->left];
    if (l->n == 0 || l->next < 0 || l->n + m->sym[l->next].n != c->size) return -1;
    return l->next;
}

static bool heap_reserve(merger *m)
{
    if (m->n_heap < m->cap_heap) return true;
    size_t cap = m->cap_heap ? m->cap_heap * 2 : 256;
    candidate *h = realloc(m->heap, cap * sizeof(candidate));
    if (!h) return false;
    m->heap = h;
    m->cap_heap = cap;
    return true;
}

static void sift_down(merger *m, size_t i)
{
    candidate x = m->heap[i];
    size_t n = m->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&m->heap[c + 1], &m->heap[c])) c++;
        if (!before(&m->heap[c], &x)) break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    m->heap[i] = x;
}

// With heap false the candidate is only appended: the first merges of a word
// are all queued before any comes out, and heapify orders them in O(n).
static bool queue(merger *m, candidate c, bool heap)
{
    if (!heap_reserve(m)) return false;
    size_t i = m->n_heap++;
    while (heap && i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&c, &m->heap[parent])) break;
        m->heap[i] = m->heap[parent];
        i = parent;
    }
    m->heap[i] = c;
    return true;
}

static void heapify(merger *m)
{
    for (size_t i = m->n_heap / 2; i-- > 0;) sift_down(m, i);
}

static candidate heap_pop(merger *m)
{
    candidate top = m->heap[0];
    m->heap[0] = m->heap[--m->n_heap];
    if (m->n_heap) sift_down(m, 0);
    return top;
}

// Splits word into UTF-8 characters by the lead byte alone (llama.cpp's
// unicode_len_utf8: a continuation byte counts as one), the last one cut at
// the end of the word.
static bool split_chars(merger *m, const char *word, size_t len)
{
    static const uint8_t lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    m->n_sym = 0;
    m->n_heap = 0;
    if (len > UINT32_MAX) return false;
    for (size_t off = 0; off < len;) {
        size_t n = lead_len[(uint8_t)word[off] >> 4];
        if (n > len - off) n = len - off;
        if (m->n_sym == m->cap_sym) {
            size_t cap = m->cap_sym ? m->cap_sym * 2 : 256;
            symbol *s = realloc(m->sym, cap * sizeof(symbol));
            if (!s) return false;
            m->sym = s;
            m->cap_sym = cap;
        }
        if (m->n_sym >= INT32_MAX) return false;
        int32_t i = (int32_t)m->n_sym;
        m->sym[m->n_sym++] = (symbol){(uint32_t)off, (uint32_t)n, i - 1, off + n == len ? -1 : i + 1};
        off += n;
    }
    return true;
}

// Merges right into left.
static void merge_pair(merger *m, int32_t left, int32_t right)
{
    symbol *l = &m->sym[left], *r = &m->sym[right];
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0) m->sym[r->next].prev = left;
}

// ---------------------------------------------------------------- merge table

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_START 0xcbf29ce484222325ull

// The rank of merging symbols a and b, or -1. llama.cpp splits each merge at
// its first space after the first byte, so a left part never holds a space
// past its first byte.
static int64_t merge_rank(const wgml_bpe_merges *t, const char *a, size_t alen, const char *b,
                          size_t blen)
{
    if (!t->n_slots || alen + 1 + blen > t->max_len || alen == 0) return -1;
    if (alen > 1 && memchr(a + 1, ' ', alen - 1)) return -1;
    uint64_t h = fnv(fnv(fnv(FNV_START, a, alen), " ", 1), b, blen);
    size_t mask = t->n_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t r = t->slot[i];
        if (r == 0) return -1;
        r--;
        const char *k = t->pool + t->off[r];
        if (t->left_len[r] == alen && t->len[r] == alen + 1 + blen && memcmp(k, a, alen) == 0 &&
            memcmp(k + alen + 1, b, blen) == 0)
            return r;
    }
}

wgml_status wgml_bpe_merges_build(wgml_bpe_merges *t, const char *const *merges,
                                  const size_t *lens, size_t n)
{
    memset(t, 0, sizeof(*t));
    if (n == 0) return WGML_OK;
    if (n >= UINT32_MAX / 4) return WGML_ERR_INVALID_ARGUMENT;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > UINT32_MAX - total - 1) return WGML_ERR_INVALID_ARGUMENT;
        total += lens[i];
    }
    t->pool = malloc(total ? total : 1);
    t->off = malloc(n * sizeof(uint32_t));
    t->left_len = malloc(n * sizeof(uint32_t));
    t->len = malloc(n * sizeof(uint32_t));
    size_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    t->slot = calloc(slots, sizeof(uint32_t));
    if (!t->pool || !t->off || !t->left_len || !t->len || !t->slot) return WGML_ERR_OUT_OF_MEMORY;
    t->n = n;
    t->n_slots = slots;
    size_t pos = 0;
    for (size_t r = 0; r < n; r++) {
        const char *s = merges[r];
        size_t len = lens[r];
        memcpy(t->pool + pos, s, len);
        t->off[r] = (uint32_t)pos;
        t->len[r] = (uint32_t)len;
        pos += len;
        // "a b": split at the first space after the first byte. Without one,
        // llama.cpp files the merge under ("", ""), which no symbol pair asks
        // for: the merge is kept out of the index.
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp) {
            t->left_len[r] = UINT32_MAX;
            continue;
        }
        size_t alen = (size_t)(sp - s);
        t->left_len[r] = (uint32_t)alen;
        if (len > t->max_len) t->max_len = len;
        uint64_t h = fnv(FNV_START, s, len);
        for (size_t i = (size_t)h & (slots - 1);; i = (i + 1) & (slots - 1)) {
            uint32_t o = t->slot[i];
            if (o == 0) {
                t->slot[i] = (uint32_t)r + 1;
                break;
            }
            // The same pair again: the first (lowest) rank stays, as
            // std::unordered_map::emplace keeps the first.
            if (t->len[o - 1] == len && t->left_len[o - 1] == alen &&
                memcmp(t->pool + t->off[o - 1], s, len) == 0)
                break;
        }
    }
    return WGML_OK;
}

void wgml_bpe_merges_free(wgml_bpe_merges *t)
{
    free(t->pool);
    free(t->off);
    free(t->left_len);
    free(t->len);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

// ---------------------------------------------------------------- lookups

static int32_t find_token(const wgml_tokenizer *tok, const char *s, size_t n)
{
    if (n > tok->vocab.max_token_len) return -1;
    return wgml_vocab_find2(&tok->vocab, s, n, "", 0);
}

static int32_t find_token2(const wgml_tokenizer *tok, const char *a, size_t an, const char *b,
                           size_t bn)
{
    if (an + bn > tok->vocab.max_token_len) return -1;
    return wgml_vocab_find2(&tok->vocab, a, an, b, bn);
}

// ---------------------------------------------------------------- byte-level BPE

// Queues the merge of left and right when the merge table has it.
static bool bpe_candidate(const wgml_bpe *b, merger *m, const char *word, int32_t left,
                          int32_t right, bool heap)
{
    if (left < 0 || right < 0) return true;
    const symbol *l = &m->sym[left], *r = &m->sym[right];
    int64_t rank = merge_rank(&b->merges, word + l->off, l->n, word + r->off, r->n);
    if (rank < 0) return true;
    return queue(m, (candidate){rank_key(rank), left, l->n + r->n}, heap);
}

// The ids of one byte-encoded word.
static wgml_status bpe_word(const wgml_tokenizer *tok, merger *m, const char *word, size_t len,
                            wgml_ids *out)
{
    const wgml_bpe *b = tok->bpe;
    if (b->ignore_merges) {
        int32_t id = find_token(tok, word, len);
        if (id >= 0) return wgml_ids_push(out, id);
    }
    if (!split_chars(m, word, len)) return WGML_ERR_OUT_OF_MEMORY;
    for (size_t i = 1; i < m->n_sym; i++)
        if (!bpe_candidate(b, m, word, (int32_t)i - 1, (int32_t)i, false))
            return WGML_ERR_OUT_OF_MEMORY;
    heapify(m);
    while (m->n_heap) {
        candidate c = heap_pop(m);
        int32_t right = current_right(m, &c);
        if (right < 0) continue;   // out of date
        merge_pair(m, c.left, right);
        if (!bpe_candidate(b, m, word, m->sym[c.left].prev, c.left, true) ||
            !bpe_candidate(b, m, word, c.left, m->sym[c.left].next, true))
            return WGML_ERR_OUT_OF_MEMORY;
    }
    for (int32_t i = 0; i >= 0 && m->n_sym; i = m->sym[i].next) {
        const symbol *s = &m->sym[i];
        int32_t id = find_token(tok, word + s->off, s->n);
        if (id >= 0) {
            wgml_status st = wgml_ids_push(out, id);
            if (st) return st;
            continue;
        }
        // Not a token: llama.cpp looks up each byte of it as a token of its
        // own and drops the bytes that are none.
        for (uint32_t k = 0; k < s->n; k++) {
            id = find_token(tok, word + s->off + k, 1);
            if (id >= 0) {
                wgml_status st = wgml_ids_push(out, id);
                if (st) return st;
            }
        }
    }
    return WGML_OK;
}

// Writes a decoded code point back as UTF-8. One past U+10FFFF (from the
// lenient decoder's F4 90.. and F5..F7 sequences) has no UTF-8: llama.cpp
// throws there and, the exception being uncaught, aborts; wgml writes it in
// the 4-byte pattern, which gives back the bytes of the input.
static size_t utf8_put(uint32_t cp, uint8_t out[4])
{
    return wgml_utf8_encode(cp, out);
}

static wgml_status bpe_text(const wgml_tokenizer *tok, const char *text, size_t len,
                            wgml_ids *out)
{
    uint32_t *cps = NULL;
    size_t n = 0, *words = NULL, n_words = 0;
    wgml_status st = wgml_bpe_utf8_decode_lenient(text, len, &cps, &n);
    if (!st) st = wgml_bpe_pretokenize(tok->bpe->pre, cps, n, &words, &n_words);
    // GPT-2's character of each byte, as UTF-8.
    uint8_t enc[256][2], enc_len[256];
    for (unsigned i = 0; i < 256; i++) {
        uint8_t u[4];
        enc_len[i] = (uint8_t)wgml_utf8_encode(wgml_bpe_byte_cp((uint8_t)i), u);
        memcpy(enc[i], u, 2);
    }
    merger m = {0};
    bytes word = {0};
    size_t at = 0;
    for (size_t w = 0; !st && w < n_words; w++) {
        word.n = 0;
        for (size_t i = at; i < at + words[w]; i++) {
            uint8_t u[4];
            size_t k = utf8_put(cps[i], u);
            for (size_t j = 0; j < k; j++) {
                if (!bytes_add(&word, enc[u[j]], enc_len[u[j]])) st = WGML_ERR_OUT_OF_MEMORY;
            }
        }
        at += words[w];
        if (!st) st = bpe_word(tok, &m, word.v, word.n, out);
    }
    merger_free(&m);
    free(word.v);
    free(words);
    free(cps);
    return st;
}

// ---------------------------------------------------------------- SentencePiece

static bool spm_candidate(const wgml_tokenizer *tok, merger *m, const char *text, int32_t left,
                          int32_t right, bool heap)
{
    if (left < 0 || right < 0) return true;
    const symbol *l = &m->sym[left], *r = &m->sym[right];
    int32_t id = find_token2(tok, text + l->off, l->n, text + r->off, r->n);
    if (id < 0 || (size_t)id >= tok->bpe->n) return true;
    return queue(m, (candidate){score_key(tok->bpe->scores[id]), left, l->n + r->n}, heap);
}

// One piece of text, already with U+2581 for spaces.
static wgml_status spm_text(const wgml_tokenizer *tok, merger *m, const char *text, size_t len,
                            wgml_ids *out, char *err, size_t es)
{
    if (!split_chars(m, text, len)) return WGML_ERR_OUT_OF_MEMORY;
    for (size_t i = 1; i < m->n_sym; i++)
        if (!spm_candidate(tok, m, text, (int32_t)i - 1, (int32_t)i, false))
            return WGML_ERR_OUT_OF_MEMORY;
    heapify(m);
    while (m->n_heap) {
        candidate c = heap_pop(m);
        int32_t right = current_right(m, &c);
        if (right < 0) continue;   // out of date
        merge_pair(m, c.left, right);
        if (!spm_candidate(tok, m, text, m->sym[c.left].prev, c.left, true) ||
            !spm_candidate(tok, m, text, c.left, m->sym[c.left].next, true))
            return WGML_ERR_OUT_OF_MEMORY;
    }
    // Every merged symbol is a token; a single character that is none falls
    // back to its bytes.
    for (int32_t i = 0; i >= 0 && m->n_sym; i = m->sym[i].next) {
        const symbol *s = &m->sym[i];
        int32_t id = find_token(tok, text + s->off, s->n);
        wgml_status st = WGML_OK;
        if (id >= 0) {
            st = wgml_ids_push(out, id);
        } else {
            for (uint32_t k = 0; !st && k < s->n; k++) {
                uint8_t byte = (uint8_t)text[s->off + k];
                int32_t bid = tok->bpe->byte_token[byte];
                if (bid < 0) {
                    if (err && es) snprintf(err, es, "tokenize: the vocabulary has no token for byte 0x%02X", byte);
                    return WGML_ERR_UNSUPPORTED;
                }
                st = wgml_ids_push(out, bid);
            }
        }
        if (st) return st;
    }
    return WGML_OK;
}

// ---------------------------------------------------------------- special tokens

typedef struct fragment {
    size_t off, len;     // bytes of the text
    int32_t id;          // a special token; -1 for text
} fragment;

typedef struct fragments {
    fragment *v;
    size_t n, cap;
} fragments;

static bool frag_push(fragments *f, size_t off, size_t len, int32_t id)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        fragment *v = realloc(f->v, cap * sizeof(fragment));
        if (!v) return false;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (fragment){off, len, id};
    return true;
}

// The first occurrence of pat (plen > 0 bytes, KMP failure function fail) in
// hay[from, hlen), or SIZE_MAX. memchr skips to candidate first bytes, so
// ordinary text goes by fast; KMP keeps the worst case linear.
static size_t find_special(const char *hay, size_t hlen, size_t from, const char *pat,
                           size_t plen, const uint32_t *fail)
{
    size_t j = 0;
    for (size_t i = from; i < hlen;) {
        if (j == 0) {
            const char *p = memchr(hay + i, pat[0], hlen - i);
            if (!p) return SIZE_MAX;
            i = (size_t)(p - hay) + 1;
            j = 1;
        } else if (hay[i] == pat[j]) {
            i++;
            j++;
        } else {
            j = fail[j - 1];
            continue;
        }
        if (j == plen) return i - plen;
    }
    return SIZE_MAX;
}

// isspace() in the C locale.
static bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Cuts the special tokens out of text (llama.cpp's tokenizer_st_partition):
// each token in turn, longest first, takes all its occurrences from left to
// right in the text the tokens before it left; an lstrip (rstrip) token
// drops the whitespace before (after) it.
static wgml_status partition(const wgml_tokenizer *tok, const char *text, size_t len,
                             bool parse_special, fragments *out)
{
    const wgml_bpe *b = tok->bpe;
    fragments cur = {0}, next = {0};
    wgml_status st = WGML_OK;
    if (len && !frag_push(&cur, 0, len, -1)) st = WGML_ERR_OUT_OF_MEMORY;
    for (size_t s = 0; !st && s < b->n_specials; s++) {
        const wgml_bpe_special *sp = &b->specials[s];
        if (sp->control && !parse_special) continue;
        const char *pat = tok->vocab.pool + tok->vocab.off[sp->id];
        size_t plen = tok->vocab.len[sp->id];
        next.n = 0;
        bool found = false;
        for (size_t i = 0; !st && i < cur.n; i++) {
            fragment f = cur.v[i];
            size_t at = f.off, end = f.off + f.len;
            size_t m = f.id < 0 && plen <= f.len
                           ? find_special(text, end, at, pat, plen, sp->fail) : SIZE_MAX;
            if (m == SIZE_MAX) {
                if (!frag_push(&next, f.off, f.len, f.id)) st = WGML_ERR_OUT_OF_MEMORY;
                continue;
            }
            found = true;
            while (m != SIZE_MAX && !st) {
                size_t gap_end = m;
                if (sp->lstrip)
                    while (gap_end > at && ascii_space(text[gap_end - 1])) gap_end--;
                if ((gap_end > at && !frag_push(&next, at, gap_end - at, -1)) ||
                    !frag_push(&next, m, plen, sp->id))
                    st = WGML_ERR_OUT_OF_MEMORY;
                at = m + plen;
                if (sp->rstrip)
                    while (at < end && ascii_space(text[at])) at++;
                m = find_special(text, end, at, pat, plen, sp->fail);
            }
            if (!st && at < end && !frag_push(&next, at, end - at, -1)) st = WGML_ERR_OUT_OF_MEMORY;
        }
        if (found) {
            fragments t = cur;
            cur = next;
            next = t;
        }
    }
    free(next.v);
    if (st) {
        free(cur.v);
        return st;
    }
    *out = cur;
    return WGML_OK;
}

// ---------------------------------------------------------------- tokenize

static wgml_status fail(char *err, size_t es, wgml_status st, const char *msg)
{
    if (err && es) snprintf(err, es, "tokenize: %s", msg);
    return st;
}

wgml_status wgml_bpe_tokenize(const wgml_tokenizer *tok, const char *text, size_t len,
                              bool add_special, bool parse_special, wgml_ids *out, char *err,
                              size_t es)
{
    const wgml_bpe *b = tok->bpe;
    if (!text && len) return fail(err, es, WGML_ERR_INVALID_ARGUMENT, "NULL text");
    if (add_special && b->add_bos && b->ids[WGML_BPE_BOS] < 0)
        return fail(err, es, WGML_ERR_UNSUPPORTED, "the vocabulary asks for BOS but has none");
    if (add_special && b->add_eos && b->ids[WGML_BPE_EOS] < 0)
        return fail(err, es, WGML_ERR_UNSUPPORTED, "the vocabulary asks for EOS but has none");
    fragments frags = {0};
    wgml_status st = partition(tok, text, len, parse_special, &frags);
    if (st) return fail(err, es, st, "out of memory");
    if (add_special && b->add_bos) st = wgml_ids_push(out, b->ids[WGML_BPE_BOS]);
    merger m = {0};
    bytes piece = {0};
    bool prev_special = true;   // the text's start counts as after a special token
    for (size_t i = 0; !st && i < frags.n; i++) {
        const fragment *f = &frags.v[i];
        if (f->id >= 0) {
            st = wgml_ids_push(out, f->id);
            prev_special = true;
            continue;
        }
        if (!b->spm) {
            st = bpe_text(tok, text + f->off, f->len, out);
            continue;
        }
        piece.n = 0;
        if (b->add_space_prefix && prev_special && !bytes_add(&piece, "\xE2\x96\x81", 3))
            st = WGML_ERR_OUT_OF_MEMORY;
        for (size_t k = 0; !st && k < f->len; k++) {
            char c = text[f->off + k];
            bool ok = c == ' ' ? bytes_add(&piece, "\xE2\x96\x81", 3) : bytes_add(&piece, &c, 1);
            if (!ok) st = WGML_ERR_OUT_OF_MEMORY;
        }
        if (!st) st = spm_text(tok, &m, piece.v, piece.n, out, err, es);
        if (st == WGML_ERR_UNSUPPORTED) {
            merger_free(&m);
            free(piece.v);
            free(frags.v);
            return st;
        }
        prev_special = false;
    }
    if (!st && add_special && b->add_eos) st = wgml_ids_push(out, b->ids[WGML_BPE_EOS]);
    merger_free(&m);
    free(piece.v);
    free(frags.v);
    if (st) return fail(err, es, st, st == WGML_ERR_OUT_OF_MEMORY ? "out of memory"
                                                                 : wgml_status_name(st));
    return WGML_OK;
}
