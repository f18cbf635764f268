// libFuzzer harness for the GGUF tokenizers (src/tokenizer/bpe.h).
//
// The first byte picks what the rest is:
//   bit 7 set:   a GGUF file: opened from memory, its tokenizer loaded, and
//                when that works a fixed text tokenized and decoded;
//   bit 7 clear: text for one of the built-in vocabularies (bits 0-2: a
//                SentencePiece one, a byte-level one with each pre-tokenizer,
//                a SentencePiece one named Phi3 (rstrip special tokens), a
//                byte-level one with Jina v2's <mask> (lstrip); bits 5-6 set:
//                the tokenizer of the file WGML_FUZZ_GGUF names, when set),
//                bit 3 add_special, bit 4 parse_special.
// Text is tokenized, every id checked to be in range, detokenized with both
// flag settings, and streamed: every streamed piece must be valid UTF-8.
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_BUILTIN = 8, SLOT_ENV = 8, N_SLOTS = 9 };

static wgml_tokenizer *toks[N_SLOTS];
static bool ready;

// 256 byte characters (GPT-2's mapping), some merges and special tokens; or
// SentencePiece's <unk> <s> </s>, the 256 <0xNN> tokens and some pieces.
static wgml_tokenizer *builtin(int which)
{
    static char bytes[256][8];
    static const char *texts[300];
    static size_t lens[300];
    static int32_t types[300];
    static float scores[300];
    static const char *const merges[] = {
        "a b", "ab c", "\xC4\xA0 a", "\xC4\xA0 t", "t h", "th e", "\xC4\xA0 th", "1 2", "12 3",
        "< |", "\xC4\xA0\xC4\xA0 \xC4\xA0", "\xC4\xA0 \xC4\xA0", "\xC4\x8A \xC4\x8A", "\xC3\xA4 \xC2\xB8",
    };
    static const char *const extra_bpe[] = {"ab", "abc", ("\xC4\xA0" "a"), "\xC4\xA0t", "th", "the",
                                            "\xC4\xA0th", "12", "123", "<|", "\xC4\xA0\xC4\xA0",
                                            "\xC4\x8A\xC4\x8A", "<|im_start|>", "<|im_end|>", "<s>",
                                            "<mask>"};
    static const int32_t extra_bpe_types[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 4, 3};
    static const char *const extra_spm[] = {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab",
                                            "\xE2\x96\x81" "ab", "<|im_end|>", "\xE2\x96\x81\xE2\x96\x81"};
    wgml_bpe_vocab v;
    wgml_bpe_vocab_init(&v);
    size_t n = 0;
    bool spm = which == 0 || which == 6;
    if (spm) {
        static const char *const head[] = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < 3; i++) {
            texts[n] = head[i];
            types[n++] = i == 0 ? 2 : 3;
        }
    }
    for (int c = 0; c < 256; c++) {
        if (spm) {
            snprintf(bytes[c], sizeof bytes[c], "<0x%02X>", c);
        } else {
            uint8_t u[4];
            size_t k = wgml_utf8_encode(wgml_bpe_byte_cp((uint8_t)c), u);
            memcpy(bytes[c], u, k);
            bytes[c][k] = '\0';
        }
        texts[n] = bytes[c];
        types[n++] = spm ? 6 : 1;
    }
    size_t n_extra = spm ? sizeof extra_spm / sizeof extra_spm[0] : sizeof extra_bpe / sizeof extra_bpe[0];
    for (size_t i = 0; i < n_extra; i++) {
        texts[n] = spm ? extra_spm[i] : extra_bpe[i];
        types[n] = spm ? 1 : extra_bpe_types[i];
        scores[n] = -(float)(i % 5);
        n++;
    }
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    static const char *const pres[] = {NULL, "default", "gpt-2", "llama-bpe", "qwen2", "smollm",
                                       NULL, "jina-v2-es"};
    static size_t merge_lens[sizeof merges / sizeof merges[0]];
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) merge_lens[i] = strlen(merges[i]);
    v.model = spm ? "llama" : "gpt2";
    v.model_len = strlen(v.model);
    v.pre = pres[which];
    v.pre_len = v.pre ? strlen(v.pre) : 0;
    if (which == 6) {
        v.name = "Phi3";
        v.name_len = 4;
    }
    v.n_tokens = n;
    v.tokens = texts;
    v.token_lens = lens;
    v.types = types;
    v.scores = scores;
    if (!spm) {
        v.merges = (const char **)merges;
        v.merge_lens = merge_lens;
        v.n_merges = sizeof merges / sizeof merges[0];
    }
    wgml_tokenizer *tok = wgml_tokenizer_alloc();
    char err[256];
    if (!tok || wgml_bpe_build(tok, &v, err, sizeof err)) abort();
    return tok;
}

static void setup(void)
{
    for (int i = 0; i < N_BUILTIN; i++) toks[i] = builtin(i);
    const char *path = getenv("WGML_FUZZ_GGUF");
    char err[256];
    if (path && wgml_tokenizer_load_gguf_file(path, &toks[SLOT_ENV], err, sizeof err)) {
        fprintf(stderr, "WGML_FUZZ_GGUF: %s\n", err);
        abort();
    }
    ready = true;
}

static bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t p = i;
        uint32_t cp = wgml_utf8_decode((const uint8_t *)s, n, &p);
        if (cp == WGML_UNICODE_REPLACEMENT && !(p - i == 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0))
            return false;
        i = p;
    }
    return true;
}

static void exercise(const wgml_tokenizer *tok, const char *text, size_t len, bool add, bool parse)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    if (wgml_tokenizer_tokenize(tok, text, len, add, parse, &ids, &n, err, sizeof err)) return;
    size_t vocab = wgml_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= vocab) abort();
    for (int f = 0; f < 2; f++) {
        char *out = NULL;
        size_t ol;
        if (wgml_tokenizer_detokenize(tok, ids, n, f, f, &out, &ol, err, sizeof err)) abort();
        free(out);
    }
    wgml_token_stream *s = NULL;
    if (wgml_token_stream_create(tok, parse, &s)) abort();
    const char *t;
    size_t k;
    for (size_t i = 0; i < n; i++) {
        if (wgml_token_stream_push(s, ids[i], &t, &k)) abort();
        if (!utf8_valid(t, k)) abort();
    }
    wgml_token_stream_flush(s, &t, &k);
    if (!utf8_valid(t, k)) abort();
    wgml_token_stream_free(s);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) setup();
    if (size < 1) return 0;
    uint8_t mode = data[0];
    if (mode & 0x80) {
        wgml_gguf *g = NULL;
        wgml_tokenizer *tok = NULL;
        char err[256];
        if (wgml_gguf_open_memory(data + 1, size - 1, &g, err, sizeof err) == WGML_OK) {
            if (wgml_tokenizer_load_gguf(g, &tok, err, sizeof err) == WGML_OK) {
                static const char text[] = "Hello <s> world <|im_start|>\xE4\xB8\xAD \xF0\x9F\x98\x80 12345 it's\n\n";
                exercise(tok, text, sizeof text - 1, true, true);
                wgml_tokenizer_free(tok);
            }
            wgml_gguf_close(g);
        }
        return 0;
    }
    int which = (mode & 0x60) == 0x60 && toks[SLOT_ENV] ? SLOT_ENV : mode & 7;
    exercise(toks[which], (const char *)data + 1, size - 1, mode & 8, mode & 16);
    return 0;
}
