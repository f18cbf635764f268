/*
 * Tokenizers: text (UTF-8 bytes) to token ids, with the same ids as Hugging
 * Face `tokenizers` for the same model files.
 *
 * Supported today: WordPiece (BERT family) as tokenizer.json describes it:
 *   normalizer      BertNormalizer (clean_text, handle_chinese_chars,
 *                   strip_accents, lowercase) or none
 *   pre_tokenizer   BertPreTokenizer (split on whitespace, isolate
 *                   punctuation) or none
 *   model           WordPiece (greedy longest match, continuing_subword_prefix,
 *                   max_input_chars_per_word, unk_token)
 *   post_processor  TemplateProcessing (single sequence) or BertProcessing
 *   added_tokens    matched in the raw text (normalized: false) or in the
 *                   normalized text (normalized: true), leftmost-longest
 * or a bare vocab.txt (one token per line, id = line number) with BERT's
 * defaults: clean_text, handle_chinese_chars, lowercase and strip_accents on,
 * [UNK]/[CLS]/[SEP]/[PAD]/[MASK] as special tokens, "##" prefix, 100 chars
 * per word.
 *
 * Text is untrusted: invalid UTF-8 becomes U+FFFD per maximal subpart (as
 * Python's bytes.decode('utf-8', 'replace')), every length is checked, and
 * time and memory are linear in the input. A tokenizer is immutable after
 * loading: encode from several threads at once is safe.
 */
#ifndef WGML_TOKENIZER_H
#define WGML_TOKENIZER_H

#include "wgml.h"

typedef struct wgml_tokenizer wgml_tokenizer;

// No truncation at all (max_length arguments).
#define WGML_TOKENIZER_NO_TRUNCATION SIZE_MAX
// Token ids are below this (a file asking for larger ones is refused).
#define WGML_TOKENIZER_MAX_ID (1 << 24)

// ---------------------------------------------------------------- loading
// On failure *out is NULL and err (when not NULL) holds the reason.

// A model directory: tokenizer.json when present, else vocab.txt with
// tokenizer_config.json's do_lower_case, strip_accents and
// tokenize_chinese_chars. The default max_length is, first found:
// sentence_bert_config.json max_seq_length (what sentence-transformers
// truncates to), tokenizer_config.json model_max_length, tokenizer.json's
// truncation.max_length; else no truncation.
wgml_status wgml_tokenizer_load_dir(const char *dir, wgml_tokenizer **out, char *err,
                                    size_t err_size);
// A tokenizer.json file or the bytes of one. The default max_length is its
// truncation.max_length (none when truncation is null).
wgml_status wgml_tokenizer_load_json(const char *path, wgml_tokenizer **out, char *err,
                                     size_t err_size);
wgml_status wgml_tokenizer_load_json_buffer(const char *data, size_t len, wgml_tokenizer **out,
                                            char *err, size_t err_size);

// A vocab.txt (or its bytes) with BERT's defaults (cased models: cased = true,
// which also keeps accents unless strip_accents says otherwise).
typedef struct wgml_wordpiece_options {
    bool cased;                    // false (default): lowercase
    int strip_accents;             // 0 (default): when lowercasing; 1: always; -1: never
    bool no_chinese_spacing;       // false (default): spaces around CJK ideographs
    size_t max_length;             // default truncation; 0: none
} wgml_wordpiece_options;
wgml_status wgml_tokenizer_load_vocab(const char *path, const wgml_wordpiece_options *opt,
                                      wgml_tokenizer **out, char *err, size_t err_size);
wgml_status wgml_tokenizer_load_vocab_buffer(const char *data, size_t len,
                                             const wgml_wordpiece_options *opt,
                                             wgml_tokenizer **out, char *err, size_t err_size);

void wgml_tokenizer_free(wgml_tokenizer *tok);

// ---------------------------------------------------------------- vocabulary

// One past the largest id (vocabulary and added tokens).
size_t wgml_tokenizer_vocab_size(const wgml_tokenizer *tok);
// The token of an id (not NUL-terminated; *len bytes), or NULL when the id
// has none.
const char *wgml_tokenizer_id_to_token(const wgml_tokenizer *tok, int32_t id, size_t *len);
// The id of a token (exact bytes, added tokens included), or -1.
int32_t wgml_tokenizer_token_to_id(const wgml_tokenizer *tok, const char *token, size_t len);

// Special token ids; -1 where the tokenizer has none.
typedef struct wgml_tokenizer_special {
    int32_t cls, sep, pad, unk, mask;
} wgml_tokenizer_special;
wgml_tokenizer_special wgml_tokenizer_special_ids(const wgml_tokenizer *tok);

// The max_length that 0 stands for (WGML_TOKENIZER_NO_TRUNCATION when none).
size_t wgml_tokenizer_default_max_length(const wgml_tokenizer *tok);

// ---------------------------------------------------------------- encoding

// Encodes len bytes of text. With add_special_tokens the post-processor's
// tokens ([CLS] ... [SEP]) surround the ids. max_length counts every id,
// special ones included; the ids past it are dropped (from the end, as
// tokenizers' "longest first" does for one sequence). 0 means the
// tokenizer's default, WGML_TOKENIZER_NO_TRUNCATION none; a max_length that
// cannot hold the special tokens is an invalid argument. *ids (n_ids of
// them) is freed with wgml_tokenizer_ids_free; an empty result may be NULL.
wgml_status wgml_tokenizer_encode(const wgml_tokenizer *tok, const char *text, size_t len,
                                  bool add_special_tokens, size_t max_length, int32_t **ids,
                                  size_t *n_ids, char *err, size_t err_size);
void wgml_tokenizer_ids_free(int32_t *ids);

// Several texts as one rectangle for a model: every row padded with the pad
// id (tokenizer.json's padding.pad_id, else [PAD], else 0) to seq_len.
typedef struct wgml_token_batch {
    size_t n_texts;
    size_t seq_len;              // columns: the longest row, or pad_to
    int32_t *ids;                // (n_texts, seq_len)
    int32_t *attention_mask;     // (n_texts, seq_len) 1 for a token, 0 for padding
    size_t *lengths;             // (n_texts) tokens before padding
} wgml_token_batch;

// texts[i] has lens[i] bytes. pad_to 0 pads to the longest row; otherwise
// every row is padded to pad_to, and a row longer than that (after
// truncation to max_length) is an invalid argument.
wgml_status wgml_tokenizer_encode_batch(const wgml_tokenizer *tok, const char *const *texts,
                                        const size_t *lens, size_t n_texts,
                                        bool add_special_tokens, size_t max_length,
                                        size_t pad_to, wgml_token_batch *out, char *err,
                                        size_t err_size);
void wgml_token_batch_free(wgml_token_batch *batch);

#endif
