/*
 * GGUF tokenizers, with the ids llama.cpp gives for the same file. The
 * reference is the llama.cpp that llama-cpp-python 0.3.36 vendors (its
 * src/llama-vocab.cpp and src/unicode.cpp); tests/data/bpe_*.txt hold its
 * output (scripts/gen_bpe_testdata.py).
 *
 * Metadata read (tokenizer.ggml.*):
 *   model          "gpt2": byte-level BPE; "llama": SentencePiece BPE
 *   pre            the pre-tokenizer of "gpt2" models (see wgml_bpe_pre)
 *   tokens         token texts by id; an empty one reads as "[EMPTY_<id>]"
 *   scores         float32 (or int32) per token: SentencePiece merge priority
 *   token_type     int32 per token: 1 normal, 2 unknown, 3 control,
 *                  4 user-defined, 5 unused, 6 byte; else undefined
 *   merges         "left right" strings, rank = index (byte-level BPE)
 *   bos/eos/eot/eom/unknown/seperator/padding/mask_token_id, fim_*_token_id
 *                  (and the older prefix/suffix/middle_token_id)
 *   add_bos_token, add_eos_token, add_space_prefix
 *
 * Encoding (llama_tokenize):
 *   1. special tokens are cut out of the text: every control, user-defined and
 *      unknown token, longest text first, each one finding all its
 *      occurrences, left to right, in what the longer ones left; control and
 *      unknown ones only with parse_special;
 *   2. each piece of text between them is tokenized alone:
 *      - byte-level BPE: UTF-8 is decoded leniently (as llama.cpp: overlong
 *        forms and surrogates pass, a byte that starts no sequence becomes
 *        U+FFFD), the pre-tokenizer splits the code points into words, each
 *        word's UTF-8 is mapped byte by byte to GPT-2's printable code points
 *        (a code point past U+10FFFF, from F4 90.. or F5..F7, keeps its
 *        input bytes: llama.cpp aborts there),
 *        and the merges apply by rank (lowest first, leftmost on ties);
 *        with ignore_merges (Llama 3) a word that is a token is kept whole;
 *      - SentencePiece: a space goes before the piece when it starts the text
 *        or follows a special token (add_space_prefix), spaces become U+2581,
 *        the piece splits into UTF-8 characters (by the lead byte, unchecked),
 *        and neighbours merge while their concatenation is a token, highest
 *        score first (leftmost on ties); a leftover that is no token becomes
 *        its bytes' <0xNN> tokens;
 *   3. BOS before and EOS after when add_special and the vocabulary says so.
 *
 * Token attributes follow llama.cpp's loader, which also marks by their text
 * the tokens that end generation (<|eot_id|>, <|im_end|>, <|endoftext|>,
 * ...) and the fill-in-the-middle ones, and makes them control tokens; and,
 * by the model's name, pre-tokenizer or architecture, the special tokens
 * that eat the spaces after them (Phi-3: rstrip) or before them (the <mask>
 * of Jina v2, nomic-bert-moe, jina-bert-v3; ModernBERT's [MASK]: lstrip).
 */
#ifndef WGML_TOKENIZER_BPE_H
#define WGML_TOKENIZER_BPE_H

#include "tokenizer/tokenizer_internal.h"

// Slots of special-token ids in metadata, in the order llama.cpp reads them
// (a later key overrides an earlier one for the same token: PREFIX after
// FIM_PRE).
enum {
    WGML_BPE_BOS, WGML_BPE_EOS, WGML_BPE_EOT, WGML_BPE_EOM, WGML_BPE_UNK, WGML_BPE_SEP,
    WGML_BPE_PAD, WGML_BPE_MASK, WGML_BPE_FIM_PRE, WGML_BPE_FIM_SUF, WGML_BPE_FIM_MID,
    WGML_BPE_FIM_PAD, WGML_BPE_FIM_REP, WGML_BPE_FIM_SEP,
    WGML_BPE_N_IDS,
    // Only in metadata: the older names of FIM_PRE, FIM_SUF, FIM_MID.
    WGML_BPE_PREFIX = WGML_BPE_N_IDS, WGML_BPE_SUFFIX, WGML_BPE_MIDDLE,
    WGML_BPE_N_META_IDS,
};

// The tokenizer part of a GGUF file, as plain arrays. Strings are not
// NUL-terminated; they point into the GGUF handle (or the caller's memory)
// and need to live only until wgml_bpe_build returns.
typedef struct wgml_bpe_vocab {
    const char *model;            // (model_len) tokenizer.ggml.model
    size_t model_len;
    const char *pre;              // (pre_len) tokenizer.ggml.pre; NULL when absent
    size_t pre_len;
    size_t n_tokens;
    const char **tokens;          // (n_tokens)
    size_t *token_lens;           // (n_tokens) bytes
    float *scores;                // (n_tokens) or NULL
    int32_t *types;               // (n_tokens) or NULL
    size_t n_merges;
    const char **merges;          // (n_merges) or NULL
    size_t *merge_lens;           // (n_merges) bytes
    int64_t ids[WGML_BPE_N_META_IDS];   // from metadata; -1 when absent
    int add_bos, add_eos, add_space_prefix;   // -1 absent, else 0 or 1
    const char *name;             // (name_len) general.name; NULL when absent
    size_t name_len;
    const char *arch;             // (arch_len) general.architecture; NULL when absent
    size_t arch_len;
} wgml_bpe_vocab;

// Fills v from g's metadata (arrays allocated, strings pointing into g).
// WGML_ERR_BAD_FILE for a missing key or a key of the wrong type or length;
// WGML_ERR_UNSUPPORTED for a tokenizer model other than "gpt2" and "llama".
wgml_status wgml_bpe_vocab_from_gguf(const wgml_gguf *g, wgml_bpe_vocab *v, char *err,
                                     size_t err_size);
void wgml_bpe_vocab_free(wgml_bpe_vocab *v);
// Sets every id slot to -1 and every flag to absent.
void wgml_bpe_vocab_init(wgml_bpe_vocab *v);

// Pre-tokenizers (tokenizer.ggml.pre), as llama.cpp maps the names.
typedef enum wgml_bpe_pre {
    WGML_BPE_PRE_DEFAULT,   // missing or "default"
    WGML_BPE_PRE_GPT2,      // gpt-2, phi-2, jina-es/de, gigachat, roberta-bpe, mpt, olmo, jais, ...
    WGML_BPE_PRE_LLAMA3,    // llama3, llama-v3, llama-bpe, falcon3, ...
    WGML_BPE_PRE_QWEN2,     // qwen2, deepseek-r1-qwen, megrez, stablelm2, ...
    WGML_BPE_PRE_SMOLLM,    // smollm, starcoder, refact, command-r, ...
} wgml_bpe_pre;

// Builds tok's GGUF tokenizer from v (copies everything it keeps).
wgml_status wgml_bpe_build(wgml_tokenizer *tok, const wgml_bpe_vocab *v, char *err,
                           size_t err_size);
void wgml_bpe_free(wgml_bpe *b);

// ---------------------------------------------------------------- inside

// The merge table of byte-level BPE: rank by (left, right) string pair.
typedef struct wgml_bpe_merges {
    char *pool;              // every merge's "left right" bytes, back to back
    uint32_t *off;           // (n) offset of rank i's key in pool
    uint32_t *left_len;      // (n) bytes of the left part; UINT32_MAX: no key
    uint32_t *len;           // (n) bytes of the whole key
    size_t n;
    uint32_t *slot;          // (n_slots) rank + 1; 0 = empty
    size_t n_slots;          // a power of two
    size_t max_len;          // bytes of the longest key
} wgml_bpe_merges;

// Builds the table from merges[0..n) ("left right", rank = index).
wgml_status wgml_bpe_merges_build(wgml_bpe_merges *t, const char *const *merges,
                                  const size_t *lens, size_t n);
void wgml_bpe_merges_free(wgml_bpe_merges *t);

// A special token as the text splitter looks for it.
typedef struct wgml_bpe_special {
    int32_t id;
    uint32_t len;            // bytes of its text
    bool lstrip, rstrip;     // eats ASCII whitespace before / after it
    bool control;            // control or unknown: only with parse_special
    uint32_t *fail;          // (len) KMP failure function of the text
} wgml_bpe_special;

struct wgml_bpe {
    bool spm;                // SentencePiece; else byte-level BPE
    wgml_bpe_pre pre;
    bool ignore_merges;      // a word that is a token stays whole (Llama 3)
    bool clean_spaces;       // detokenize removes " ." and the like
    bool add_space_prefix, add_bos, add_eos;
    int32_t ids[WGML_BPE_N_IDS];   // -1 for none
    size_t n;                // tokens
    float *scores;           // (n) SentencePiece merge priority
    uint16_t *attr;          // (n) WGML_TOKEN_ATTR_* bits (LSTRIP/RSTRIP included)
    uint8_t *eog;            // (n) 1 for a token that ends generation
    wgml_bpe_merges merges;
    wgml_bpe_special *specials;   // (n_specials) in splitting order
    size_t n_specials;
    int32_t byte_token[256]; // the token of each byte: <0xNN> (SentencePiece) or
                             // the byte's GPT-2 character; -1 for none
    char *piece_pool;        // the pieces (token_to_piece with special), back to back
    uint32_t *piece_off;     // (n)
    uint32_t *piece_len;     // (n)
};

// Appends the ids of text to out (llama_tokenize, steps 1 to 3).
wgml_status wgml_bpe_tokenize(const wgml_tokenizer *tok, const char *text, size_t len,
                              bool add_special, bool parse_special, wgml_ids *out, char *err,
                              size_t err_size);

// ---- pre-tokenizers (pretokenize.c)

// llama.cpp's UTF-8 decoder: 1-4 byte sequences by the lead byte's high bits
// with continuation bytes checked, but no check for overlong forms,
// surrogates or values past U+10FFFF (F0-F7 lead a 4-byte sequence); a byte
// that starts no complete sequence gives U+FFFD and moves on by one byte.
// *out (n code points) is freed with free().
wgml_status wgml_bpe_utf8_decode_lenient(const char *s, size_t len, uint32_t **out, size_t *n);

// Splits cps into words: *words (n_words lengths in code points, summing to
// n) is freed with free().
wgml_status wgml_bpe_pretokenize(wgml_bpe_pre pre, const uint32_t *cps, size_t n,
                                 size_t **words, size_t *n_words);

// GPT-2's map of bytes to printable code points, and back: byte b is written
// as the code point wgml_bpe_byte_cp(b); wgml_bpe_cp_byte(cp) is the byte of
// such a code point, or -1.
uint32_t wgml_bpe_byte_cp(uint8_t b);
int wgml_bpe_cp_byte(uint32_t cp);

#endif
