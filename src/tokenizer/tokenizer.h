/*
 * Tokenizers: text (UTF-8 bytes) to token ids, with the same ids as the
 * reference implementation of each format for the same model files.
 *
 * WordPiece (BERT family), as Hugging Face `tokenizers` runs what
 * tokenizer.json describes:
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
 * The tokenizers of GGUF files (Llama family), as llama.cpp runs them
 * (src/tokenizer/bpe.h has every rule):
 *   "gpt2"   byte-level BPE: merges by rank after the pre-tokenizer that
 *            tokenizer.ggml.pre names (gpt-2, llama-bpe for Llama 3, qwen2,
 *            smollm, default, and their aliases in llama.cpp);
 *   "llama"  SentencePiece BPE (Llama 2): merges by score, spaces as U+2581,
 *            a space before the text, byte fallback <0xNN>.
 *
 * Text is untrusted: every length is checked, and time and memory are linear
 * in the input (n log n for BPE merges). Invalid UTF-8 becomes U+FFFD per
 * maximal subpart (as Python's bytes.decode('utf-8', 'replace')) in WordPiece;
 * GGUF tokenizers decode it as llama.cpp does (bpe.h). A tokenizer is
 * immutable after loading: encode from several threads at once is safe.
 */
#ifndef WGML_TOKENIZER_H
#define WGML_TOKENIZER_H

#include "wgml.h"
#include "formats/gguf.h"

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

// The tokenizer of a GGUF file (tokenizer.ggml.* metadata); g may be closed
// afterwards. WGML_ERR_BAD_FILE for missing or malformed keys,
// WGML_ERR_UNSUPPORTED for a tokenizer model or pre-tokenizer wgml lacks.
wgml_status wgml_tokenizer_load_gguf(const wgml_gguf *g, wgml_tokenizer **out, char *err,
                                     size_t err_size);
// The same from a file path (opened, read, closed).
wgml_status wgml_tokenizer_load_gguf_file(const char *path, wgml_tokenizer **out, char *err,
                                          size_t err_size);

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
    int32_t bos, eos;        // beginning and end of sequence (GGUF)
    int32_t eot, eom;        // end of turn, end of message (GGUF)
} wgml_tokenizer_special;
wgml_tokenizer_special wgml_tokenizer_special_ids(const wgml_tokenizer *tok);

// The max_length that 0 stands for (WGML_TOKENIZER_NO_TRUNCATION when none).
size_t wgml_tokenizer_default_max_length(const wgml_tokenizer *tok);

// Whether tokenize with add_special puts BOS first / EOS last (GGUF
// tokenizer.ggml.add_bos_token, add_eos_token and llama.cpp's defaults).
bool wgml_tokenizer_adds_bos(const wgml_tokenizer *tok);
bool wgml_tokenizer_adds_eos(const wgml_tokenizer *tok);

// Token attributes, llama.cpp's llama_token_attr bits (GGUF tokenizers; a
// WordPiece tokenizer reports NORMAL, or CONTROL for its special tokens).
enum {
    WGML_TOKEN_ATTR_UNKNOWN = 1 << 0,
    WGML_TOKEN_ATTR_UNUSED = 1 << 1,
    WGML_TOKEN_ATTR_NORMAL = 1 << 2,
    WGML_TOKEN_ATTR_CONTROL = 1 << 3,
    WGML_TOKEN_ATTR_USER_DEFINED = 1 << 4,
    WGML_TOKEN_ATTR_BYTE = 1 << 5,
    WGML_TOKEN_ATTR_LSTRIP = 1 << 7,   // a special token that eats the spaces before it
    WGML_TOKEN_ATTR_RSTRIP = 1 << 8,   // ... after it
};
// 0 for an id out of range.
unsigned wgml_tokenizer_token_attr(const wgml_tokenizer *tok, int32_t id);
// Whether id ends generation: EOS, EOT, EOM and what llama.cpp recognises by
// text (<|eot_id|>, <|im_end|>, <|endoftext|>, <|end_of_text|>, </s>, ...;
// fill-in-the-middle pad, repo and file separators). Always false for
// WordPiece tokenizers.
bool wgml_tokenizer_is_eog(const wgml_tokenizer *tok, int32_t id);

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

// Encodes as llama.cpp's llama_tokenize (GGUF tokenizers): add_special puts
// BOS/EOS around the ids where the vocabulary asks for them; parse_special
// turns the text of control tokens ("<|im_start|>", "<s>") into those tokens
// (without it the text is tokenized as text; user-defined tokens are matched
// either way). No truncation. *ids as wgml_tokenizer_encode's. A WordPiece
// tokenizer encodes as wgml_tokenizer_encode without truncation.
// (wgml_tokenizer_encode on a GGUF tokenizer is this with parse_special on,
// truncated as it describes.)
wgml_status wgml_tokenizer_tokenize(const wgml_tokenizer *tok, const char *text, size_t len,
                                    bool add_special, bool parse_special, int32_t **ids,
                                    size_t *n_ids, char *err, size_t err_size);

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

// ---------------------------------------------------------------- decoding
// GGUF tokenizers; WGML_ERR_UNSUPPORTED (or NULL) for WordPiece ones.

// The bytes of one token as llama.cpp's llama_token_to_piece (lstrip 0):
// byte-level tokens mapped back to bytes, U+2581 as a space, <0xNN> as the
// byte, special tokens as their text, or nothing for control and unknown
// tokens when special is false. A piece may hold part of a UTF-8 character.
// Not NUL-terminated (*len bytes); NULL for an id out of range.
const char *wgml_tokenizer_token_to_piece(const wgml_tokenizer *tok, int32_t id, bool special,
                                          size_t *len);

// The text of ids as llama.cpp's llama_detokenize: the pieces joined; with
// remove_special a leading BOS and a trailing EOS are dropped when the
// vocabulary adds them; unparse_special renders control tokens as text; the
// space SentencePiece puts first is removed; and for the vocabularies that
// ask for it (clean_up_tokenization_spaces) " ." " ," " ?" " !" " 's" and
// the like lose their space. The result is the bytes as they are (possibly
// invalid UTF-8); *text (*len bytes plus a NUL) is freed with free().
wgml_status wgml_tokenizer_detokenize(const wgml_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                      bool remove_special, bool unparse_special, char **text,
                                      size_t *len, char *err, size_t err_size);

// Streaming decoding for generation: push ids one at a time and get back the
// text they complete. The text is always valid UTF-8: bytes of a character
// that a later token may finish are held back, and bytes that can no longer
// become a character come out as U+FFFD (per maximal subpart, as the WordPiece
// decoder); flush gives out what is held at the end.
typedef struct wgml_token_stream wgml_token_stream;
// special: control tokens render as their text (else as nothing).
wgml_status wgml_token_stream_create(const wgml_tokenizer *tok, bool special,
                                     wgml_token_stream **out);
// *text (*len bytes, NUL-terminated) stays valid until the next call on s.
// An id out of range is WGML_ERR_INVALID_ARGUMENT and leaves s unchanged.
wgml_status wgml_token_stream_push(wgml_token_stream *s, int32_t id, const char **text,
                                   size_t *len);
void wgml_token_stream_flush(wgml_token_stream *s, const char **text, size_t *len);
void wgml_token_stream_free(wgml_token_stream *s);

#endif
