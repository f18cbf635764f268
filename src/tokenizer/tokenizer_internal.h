/*
 * Inside a tokenizer: the vocabulary, the pipeline's settings, and the
 * pipeline itself (wordpiece.c), shared with the loaders (tokenizer.c).
 *
 * Pipeline, as Hugging Face tokenizers runs it (tokenizer/mod.rs,
 * added_vocabulary.rs):
 *   UTF-8 -> code points -> split on raw added tokens -> normalize each piece
 *   -> split on normalized added tokens -> pre-tokenize -> WordPiece
 *   -> truncate -> post-process ([CLS] ... [SEP]).
 */
#ifndef WGML_TOKENIZER_INTERNAL_H
#define WGML_TOKENIZER_INTERNAL_H

#include "tokenizer/tokenizer.h"

// ---------------------------------------------------------------- vocabulary

// Token strings by id plus a hash index by string. Ids need not be dense (a
// tokenizer.json vocabulary is a map); ids without a token are holes.
typedef struct wgml_vocab {
    char *pool;              // every token's bytes, back to back
    size_t pool_len, pool_cap;   // bytes
    uint32_t *off;           // (n) offset in pool; UINT32_MAX for a hole
    uint32_t *len;           // (n) bytes
    size_t n;                // one past the largest id
    uint32_t *slot_id;       // (n_slots) id + 1 of the token there; 0 = empty
    uint32_t *slot_hash;     // (n_slots) low bits of the token's hash
    size_t n_slots;          // a power of two, at least twice the tokens
    size_t n_tokens;         // tokens in the index
    size_t max_token_len;    // bytes of the longest token
} wgml_vocab;

// Builds the index by string once every token is set (wgml_tokenizer_finish
// does it for WordPiece tokenizers); for a string held by several ids the
// largest id wins.
wgml_status wgml_vocab_index(wgml_vocab *v);
// Sets id's token to s (len bytes). A string already present keeps pointing
// at the id added last, as a Rust HashMap insert does.
wgml_status wgml_vocab_set(wgml_vocab *v, int32_t id, const char *s, size_t len);
// The id of the string a followed by b, or -1.
int32_t wgml_vocab_find2(const wgml_vocab *v, const char *a, size_t alen, const char *b,
                         size_t blen);
void wgml_vocab_free(wgml_vocab *v);

// ---------------------------------------------------------------- settings

typedef struct wgml_added_token {
    char *content;           // (content_len) UTF-8, as given
    size_t content_len;      // bytes
    uint32_t *cps;           // (n_cps) what is matched: the content as code
                             // points, normalized for normalized tokens
    size_t n_cps;            // 0: never matches (normalized to nothing)
    int32_t id;
    bool normalized;         // matched after the normalizer, not before
    bool special;
} wgml_added_token;

typedef struct wgml_bpe wgml_bpe;

struct wgml_tokenizer {
    wgml_vocab vocab;
    wgml_bpe *bpe;           // a GGUF tokenizer (bpe.h); NULL for WordPiece

    bool has_normalizer;     // BertNormalizer
    bool clean_text, handle_chinese_chars, strip_accents, lowercase;
    bool bert_pre_tokenizer; // else the whole normalized piece is one word

    int32_t unk_id;          // WordPiece unk_token
    char prefix[32];         // continuing_subword_prefix
    size_t prefix_len;       // bytes
    size_t max_input_chars_per_word;

    wgml_added_token *added; // (n_added) sorted by first code point, then id
    size_t n_added;
    bool any_normalized_added;

    int32_t *post_prefix;    // (n_post_prefix) ids before the sequence
    size_t n_post_prefix;
    int32_t *post_suffix;    // (n_post_suffix) ids after it
    size_t n_post_suffix;

    wgml_tokenizer_special special;
    int32_t pad_id;
    size_t max_length;       // default truncation; WGML_TOKENIZER_NO_TRUNCATION for none
};

// Allocates an empty tokenizer with no normalizer, no pre-tokenizer, no
// post-processor and the WordPiece defaults.
wgml_tokenizer *wgml_tokenizer_alloc(void);
// Adds an added token (content: UTF-8) matched in the raw or normalized text.
// Call wgml_tokenizer_finish once all are added.
wgml_status wgml_tokenizer_add_token(wgml_tokenizer *tok, const char *content, size_t len,
                                     int32_t id, bool normalized, bool special);
// Sorts the added tokens and normalizes the contents of normalized ones.
wgml_status wgml_tokenizer_finish(wgml_tokenizer *tok);

// ---------------------------------------------------------------- pipeline

typedef struct wgml_ids {
    int32_t *v;
    size_t n, cap;
} wgml_ids;

// Appends the ids of text (no special tokens) to out, stopping after limit
// ids (the rest would be truncated away).
wgml_status wgml_tokenizer_run(const wgml_tokenizer *tok, const char *text, size_t len,
                               size_t limit, wgml_ids *out);
wgml_status wgml_ids_push(wgml_ids *ids, int32_t id);

// The normalizer alone (no added-token split): text's code points after
// clean_text, handle_chinese_chars, strip_accents and lowercase, as the
// tokenizer is configured. *out (n code points) is freed with free().
wgml_status wgml_tokenizer_normalize(const wgml_tokenizer *tok, const char *text, size_t len,
                                     uint32_t **out, size_t *n);

#endif
