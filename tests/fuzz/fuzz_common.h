// Checks the tokenizer harnesses share (header-only: each harness is one
// translation unit). A failed check aborts, which libFuzzer reports as a crash
// with the input that caused it.
#ifndef WGML_FUZZ_COMMON_H
#define WGML_FUZZ_COMMON_H

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, what)                                                        \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__,  \
                    what);                                                            \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static inline bool fuzz_same(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

// p + i, where an empty result may be NULL (NULL + 0 is undefined behaviour).
static inline const int32_t *fuzz_at(const int32_t *p, size_t i) { return p ? p + i : p; }

// Encodes text every way the API offers and checks that the ways agree:
//   - ids from the text alone lie in the vocabulary and name a token;
//   - with special tokens: the post-processor's prefix, the same ids, its suffix;
//   - truncated to m ids: the first m - specials ids of the untruncated ones
//     (tokenizers' "longest first" for one sequence), specials kept;
//   - a batch of the text and an empty one: rows equal to single encodes,
//     padded with the pad id.
// Input-driven failures (out of memory for a huge text) are allowed; a
// crash, a leak or a disagreement is not.
static inline void fuzz_encode_all(const wgml_tokenizer *tok, const char *text, size_t len)
{
    char err[256];
    int32_t *plain = NULL, *full = NULL, *cut = NULL;
    size_t n_plain = 0, n_full = 0, n_cut = 0;
    if (wgml_tokenizer_encode(tok, text, len, false, WGML_TOKENIZER_NO_TRUNCATION, &plain,
                              &n_plain, err, sizeof err) != WGML_OK)
        return;
    size_t vocab = wgml_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n_plain; i++) {
        size_t tl;
        FUZZ_CHECK(plain[i] >= 0 && (size_t)plain[i] < vocab, "id outside the vocabulary");
        FUZZ_CHECK(wgml_tokenizer_id_to_token(tok, plain[i], &tl) != NULL, "id without a token");
    }
    size_t np = tok->n_post_prefix, ns = tok->n_post_suffix;
    if (wgml_tokenizer_encode(tok, text, len, true, WGML_TOKENIZER_NO_TRUNCATION, &full, &n_full,
                              err, sizeof err) == WGML_OK) {
        FUZZ_CHECK(n_full == np + n_plain + ns, "special tokens: wrong count");
        FUZZ_CHECK(fuzz_same(full, np, tok->post_prefix, np), "special tokens: prefix");
        FUZZ_CHECK(fuzz_same(fuzz_at(full, np), n_plain, plain, n_plain), "special tokens: body");
        FUZZ_CHECK(fuzz_same(fuzz_at(full, np + n_plain), ns, tok->post_suffix, ns),
                   "special tokens: suffix");
    }
    // Truncation at a few lengths around the interesting points.
    size_t lengths[] = {np + ns, np + ns + 1, np + ns + n_plain / 2, np + ns + n_plain};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        size_t m = lengths[k];
        if (m == 0) continue;   // 0 means "the tokenizer's default"
        if (wgml_tokenizer_encode(tok, text, len, true, m, &cut, &n_cut, err, sizeof err) ==
            WGML_OK) {
            size_t body = m - np - ns < n_plain ? m - np - ns : n_plain;
            FUZZ_CHECK(n_cut == np + body + ns, "truncation: wrong count");
            FUZZ_CHECK(fuzz_same(cut, np, tok->post_prefix, np), "truncation: prefix");
            FUZZ_CHECK(fuzz_same(fuzz_at(cut, np), body, plain, body), "truncation: body");
            FUZZ_CHECK(fuzz_same(fuzz_at(cut, np + body), ns, tok->post_suffix, ns), "truncation: suffix");
        }
        wgml_tokenizer_ids_free(cut);
        cut = NULL;
    }
    // A max_length below the special tokens is refused, not overrun (1 and
    // up: 0 would mean the default).
    if (np + ns >= 2)
        FUZZ_CHECK(wgml_tokenizer_encode(tok, text, len, true, np + ns - 1, &cut, &n_cut, err,
                                         sizeof err) == WGML_ERR_INVALID_ARGUMENT && !cut,
                   "max_length below the special tokens accepted");
    wgml_tokenizer_ids_free(cut);

    const char *texts[2] = {text, ""};
    size_t lens[2] = {len, 0};
    wgml_token_batch b;
    if (wgml_tokenizer_encode_batch(tok, texts, lens, 2, false, WGML_TOKENIZER_NO_TRUNCATION, 0,
                                    &b, err, sizeof err) == WGML_OK) {
        FUZZ_CHECK(b.n_texts == 2 && b.seq_len == n_plain && b.lengths[0] == n_plain &&
                       b.lengths[1] == 0, "batch: shape");
        FUZZ_CHECK(fuzz_same(b.ids, n_plain, plain, n_plain), "batch: row 0");
        for (size_t j = 0; j < b.seq_len; j++)
            FUZZ_CHECK(b.attention_mask[j] == 1 && b.attention_mask[b.seq_len + j] == 0 &&
                           b.ids[b.seq_len + j] == tok->pad_id, "batch: padding");
        wgml_token_batch_free(&b);
    }
    wgml_tokenizer_ids_free(plain);
    wgml_tokenizer_ids_free(full);
}

#endif
