// The WordPiece tokenizer.
//   test_tokenizer hf       ids equal Hugging Face tokenizers' on every line of
//                           tests/data/wordpiece_minilm.jsonl (skips without the model)
//   test_tokenizer unit     a tiny vocabulary: each rule of the pipeline
//   test_tokenizer json     tokenizer.json variants and malformed files
//   test_tokenizer utf8     the decoder against the definition of maximal subparts
//   test_tokenizer linear   time grows linearly with the input
//   test_tokenizer normalizer  the BERT normalizer alone equals tokenizers' output
//                           (tests/data/bert_normalizer.jsonl)
//   test_tokenizer invalid_utf8  ill-formed UTF-8 (overlong forms, surrogates,
//                           values past U+10FFFF, cut sequences, lone continuation
//                           bytes, NULs) decodes as Python's errors="replace" and
//                           tokenizes as tokenizers does the decoded text, under
//                           vocabularies where U+FFFD and U+0000 are tokens
//                           (tests/data/invalid_utf8.jsonl)
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"
#include "formats/json.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef WGML_TEST_DATA_DIR
#error "WGML_TEST_DATA_DIR must name tests/data"
#endif
#ifndef WGML_TEST_MODEL_DIR
#error "WGML_TEST_MODEL_DIR must name the all-MiniLM-L6-v2 folder"
#endif

// ---------------------------------------------------------------- helpers

// Encodes and compares with the expected ids; prints both on a mismatch.
static int expect_ids(const wgml_tokenizer *tok, const char *text, size_t len, bool special,
                      size_t max_length, const int32_t *want, size_t n_want, const char *what)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256] = "";
    wgml_status st = wgml_tokenizer_encode(tok, text, len, special, max_length, &ids, &n, err,
                                           sizeof err);
    TEST_CHECK(st == WGML_OK, "%s: encode failed: %s", what, err);
    bool same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof(int32_t)) == 0);
    if (!same) {
        fprintf(stderr, "%s: got %zu ids, want %zu\n  got: ", what, n, n_want);
        for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, "%d ", ids[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < n_want && i < 40; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
        for (size_t i = 0; i < n && i < n_want; i++) {
            if (ids[i] != want[i]) {
                size_t a, b;
                const char *ta = wgml_tokenizer_id_to_token(tok, ids[i], &a);
                const char *tb = wgml_tokenizer_id_to_token(tok, want[i], &b);
                fprintf(stderr, "  first difference at %zu: got '%.*s', want '%.*s'\n", i,
                        (int)(ta ? a : 0), ta ? ta : "", (int)(tb ? b : 0), tb ? tb : "");
                break;
            }
        }
    }
    wgml_tokenizer_ids_free(ids);
    return same ? 0 : 1;
}

// text must be a string literal (it may hold NUL bytes).
#define EXPECT(tok, text, special, max_length, ...)                                      \
    do {                                                                                 \
        const int32_t want_[] = {__VA_ARGS__};                                           \
        if (expect_ids(tok, text, sizeof(text) - 1, special, max_length, want_,          \
                       sizeof(want_) / sizeof(want_[0]), text))                          \
            return 1;                                                                    \
    } while (0)

// Prints bytes with anything outside printable ASCII escaped.
static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n && i < 400; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\') fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    if (n > 400) fprintf(stderr, "... (%zu bytes)", n);
}

// ---------------------------------------------------------------- the tiny vocabulary

// Ids are line numbers.
static const char tiny_vocab[] =
    "[PAD]\n"    // 0
    "[UNK]\n"    // 1
    "[CLS]\n"    // 2
    "[SEP]\n"    // 3
    "[MASK]\n"   // 4
    "un\n"       // 5
    "una\n"      // 6
    "##ff\n"     // 7
    "##aff\n"    // 8
    "##able\n"   // 9
    "hello\n"    // 10
    "world\n"    // 11
    ",\n"        // 12
    "!\n"        // 13
    "a\n"        // 14
    "##a\n"      // 15
    "中\n"       // 16
    "文\n"       // 17
    "$\n"        // 18
    "¿\n"        // 19
    "[\n"        // 20
    "]\n"        // 21
    "mask\n"     // 22
    "cafe\n"     // 23
    "café\n"     // 24
    "Hello\n"    // 25
    "i\n"        // 26
    "##̇\n"      // 27: "##" U+0307
    "σ\n"        // 28
    "##σ\n"      // 29
    "e\r\n"      // 30: the \r is dropped with the newline
    "x  \n"      // 31: trailing spaces are trimmed
    "\n"         // 32: an empty token
    "last";      // 33: no final newline

static wgml_tokenizer *tiny(const wgml_wordpiece_options *opt)
{
    wgml_tokenizer *tok = NULL;
    char err[256] = "";
    wgml_status st = wgml_tokenizer_load_vocab_buffer(tiny_vocab, sizeof(tiny_vocab) - 1, opt,
                                                      &tok, err, sizeof err);
    if (st) fprintf(stderr, "tiny vocabulary: %s: %s\n", wgml_status_name(st), err);
    return tok;
}

static int test_unit(void)
{
    wgml_tokenizer *tok = tiny(NULL);
    TEST_CHECK(tok, "tiny vocabulary did not load");
    const size_t none = WGML_TOKENIZER_NO_TRUNCATION;

    // Lines, ids and special tokens.
    TEST_CHECK(wgml_tokenizer_vocab_size(tok) == 34, "vocab size %zu",
               wgml_tokenizer_vocab_size(tok));
    TEST_CHECK(wgml_tokenizer_token_to_id(tok, "e", 1) == 30, "\\r\\n line ending kept");
    TEST_CHECK(wgml_tokenizer_token_to_id(tok, "x", 1) == 31, "trailing spaces kept");
    TEST_CHECK(wgml_tokenizer_token_to_id(tok, "", 0) == 32, "empty line");
    TEST_CHECK(wgml_tokenizer_token_to_id(tok, "last", 4) == 33, "last line");
    TEST_CHECK(wgml_tokenizer_token_to_id(tok, "nope", 4) == -1, "absent token");
    size_t len;
    const char *s = wgml_tokenizer_id_to_token(tok, 9, &len);
    TEST_CHECK(s && len == 6 && !memcmp(s, "##able", 6), "id 9");
    TEST_CHECK(!wgml_tokenizer_id_to_token(tok, 34, &len) && !wgml_tokenizer_id_to_token(tok, -1,
                                                                                         &len),
               "ids out of range");
    wgml_tokenizer_special sp = wgml_tokenizer_special_ids(tok);
    TEST_CHECK(sp.pad == 0 && sp.unk == 1 && sp.cls == 2 && sp.sep == 3 && sp.mask == 4,
               "special ids %d %d %d %d %d", sp.pad, sp.unk, sp.cls, sp.sep, sp.mask);
    TEST_CHECK(wgml_tokenizer_default_max_length(tok) == none, "vocab.txt truncates by default");

    // Greedy longest match, not the best split: "una" wins over "un" + "##aff";
    // a rest with no match makes the whole word [UNK].
    EXPECT(tok, "unaffable", false, none, 6, 7, 9);
    EXPECT(tok, "unable", false, none, 1);
    EXPECT(tok, "xyz hello", false, none, 1, 10);
    // max_input_chars_per_word (100) counts code points.
    char as[102];
    memset(as, 'a', sizeof as);
    int32_t want[100];
    want[0] = 14;
    for (int i = 1; i < 100; i++) want[i] = 15;
    if (expect_ids(tok, as, 100, false, none, want, 100, "100 a")) return 1;
    if (expect_ids(tok, as, 101, false, none, (const int32_t[]){1}, 1, "101 a")) return 1;
    // Punctuation is split off, ASCII symbols included; whitespace is dropped.
    EXPECT(tok, "hello,world!", false, none, 10, 12, 11, 13);
    EXPECT(tok, " $\xc2\xbf\t", false, none, 18, 19);
    EXPECT(tok, "hello\xe3\x80\x80world\xc2\xa0!", false, none, 10, 11, 13);   // U+3000, NBSP
    // Accents are stripped and text lowercased; CJK ideographs are words.
    EXPECT(tok, "H\xc3\xa9LLO caf\xc3\xa9 Cafe\xcc\x81", false, none, 10, 23, 23);
    EXPECT(tok, "\xe4\xb8\xad\xe6\x96\x87", false, none, 16, 17);
    // İ: NFD gives I + U+0307, the mark goes, then lowercase.
    EXPECT(tok, "\xc4\xb0", false, none, 26);
    // Σ lowercases to σ wherever it stands (no final-sigma rule).
    EXPECT(tok, "\xce\xa3\xce\xa3", false, none, 28, 29);
    // clean_text: NUL, U+FFFD, invalid bytes and controls go; tab is a space.
    EXPECT(tok, "hel\x00lo\twor\xef\xbf\xbdld\x0b x\x1f", false, none, 10, 11, 31);
    EXPECT(tok, "hel\xfflo wo\xed\xa0\x80rld", false, none, 10, 11);
    // Special tokens are found in the raw text, before normalization.
    EXPECT(tok, "a[MASK]a [mask]", false, none, 14, 4, 14, 20, 22, 21);
    // The post-processor and truncation.
    EXPECT(tok, "hello world", true, none, 2, 10, 11, 3);
    EXPECT(tok, "hello world", true, 3, 2, 10, 3);
    EXPECT(tok, "hello world", true, 2, 2, 3);
    EXPECT(tok, "hello world", false, 1, 10);
    EXPECT(tok, "", true, none, 2, 3);
    int32_t *ids = (int32_t *)1;
    size_t n = 1;
    char err[256] = "";
    TEST_CHECK(wgml_tokenizer_encode(tok, "", 0, false, none, &ids, &n, err,
                                     sizeof err) == WGML_OK &&
               n == 0, "empty text");
    wgml_tokenizer_ids_free(ids);
    TEST_CHECK(wgml_tokenizer_encode(tok, "hello", 5, true, 1, &ids, &n, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT && ids == NULL && strstr(err, "max_length"),
               "max_length below the special tokens: %s", err);
    TEST_CHECK(wgml_tokenizer_encode(tok, NULL, 3, true, 0, &ids, &n, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT, "NULL text");

    // A batch pads to the longest row, or to pad_to.
    const char *texts[] = {"hello", "hello world !", ""};
    const size_t lens[] = {5, 13, 0};
    wgml_token_batch b;
    TEST_CHECK(wgml_tokenizer_encode_batch(tok, texts, lens, 3, true, 0, 0, &b, err, sizeof err) ==
                   WGML_OK, "batch: %s", err);
    const int32_t want_ids[] = {2, 10, 3, 0, 0, 2, 10, 11, 13, 3, 2, 3, 0, 0, 0};
    const int32_t want_mask[] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    TEST_CHECK(b.n_texts == 3 && b.seq_len == 5 && b.lengths[0] == 3 && b.lengths[1] == 5 &&
                   b.lengths[2] == 2, "batch shape %zu x %zu", b.n_texts, b.seq_len);
    TEST_CHECK(!memcmp(b.ids, want_ids, sizeof want_ids), "batch ids");
    TEST_CHECK(!memcmp(b.attention_mask, want_mask, sizeof want_mask), "batch mask");
    wgml_token_batch_free(&b);
    TEST_CHECK(wgml_tokenizer_encode_batch(tok, texts, lens, 3, true, 0, 8, &b, err, sizeof err) ==
                   WGML_OK && b.seq_len == 8 && b.ids[3] == 0 && b.ids[8] == 2 &&
                   b.attention_mask[7] == 0,
               "batch pad_to 8: %s", err);
    wgml_token_batch_free(&b);
    TEST_CHECK(wgml_tokenizer_encode_batch(tok, texts, lens, 3, true, 0, 4, &b, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT && b.ids == NULL, "a row longer than pad_to");
    TEST_CHECK(wgml_tokenizer_encode_batch(tok, texts, lens, 3, true, 4, 4, &b, err, sizeof err) ==
                   WGML_OK && b.ids[7] == 3 && b.ids[5] == 10,
               "batch truncated to pad_to: %s", err);
    wgml_token_batch_free(&b);
    TEST_CHECK(wgml_tokenizer_encode_batch(tok, NULL, NULL, 0, true, 0, 0, &b, err, sizeof err) ==
                   WGML_OK && b.n_texts == 0, "empty batch: %s", err);
    wgml_token_batch_free(&b);
    wgml_tokenizer_free(tok);

    // Options: cased keeps case and accents; accents can be kept while lowercasing.
    tok = tiny(&(wgml_wordpiece_options){.cased = true});
    TEST_CHECK(tok, "cased vocabulary");
    EXPECT(tok, "Hello caf\xc3\xa9 hello", false, none, 25, 24, 10);
    wgml_tokenizer_free(tok);
    tok = tiny(&(wgml_wordpiece_options){.strip_accents = -1});
    TEST_CHECK(tok, "accents vocabulary");
    EXPECT(tok, "CAF\xc3\x89 \xc4\xb0", false, none, 24, 26, 27);   // İ -> i + U+0307
    wgml_tokenizer_free(tok);
    tok = tiny(&(wgml_wordpiece_options){.no_chinese_spacing = true, .max_length = 3});
    TEST_CHECK(tok, "no CJK spacing vocabulary");
    EXPECT(tok, "\xe4\xb8\xad\xe6\x96\x87", false, none, 1);
    EXPECT(tok, "hello hello", true, 0, 2, 10, 3);   // the default max_length
    wgml_tokenizer_free(tok);

    // Bad vocabularies.
    const char *bad[] = {"", "[PAD]\nhello\n", "[UNK]\nab\xff\n"};
    for (size_t i = 0; i < 3; i++) {
        tok = (wgml_tokenizer *)1;
        TEST_CHECK(wgml_tokenizer_load_vocab_buffer(bad[i], strlen(bad[i]), NULL, &tok, err,
                                                    sizeof err) == WGML_ERR_BAD_FILE && !tok,
                   "bad vocabulary %zu accepted", i);
    }
    return 0;
}

// ---------------------------------------------------------------- tokenizer.json

static const char json_full[] =
    "{\"version\":\"1.0\","
    "\"truncation\":{\"max_length\":6,\"strategy\":\"LongestFirst\",\"stride\":0,"
    "\"direction\":\"Right\"},"
    "\"padding\":{\"strategy\":\"BatchLongest\",\"pad_id\":7,\"pad_token\":\"<pad>\"},"
    "\"added_tokens\":["
    "{\"id\":5,\"content\":\"<special>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
    "\"normalized\":false,\"special\":true},"
    "{\"id\":6,\"content\":\"HeLLo W\\u00f6rld\",\"single_word\":false,\"lstrip\":false,"
    "\"rstrip\":false,\"normalized\":true,\"special\":false},"
    "{\"id\":7,\"content\":\"<pad>\",\"normalized\":false,\"special\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
    "\"strip_accents\":null,\"lowercase\":true},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",1]},"
    "\"decoder\":null,"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"<unk>\","
    "\"continuing_subword_prefix\":\"@@\","
    "\"max_input_chars_per_word\":5,"
    "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"ab\":3,\"@@c\":4,\"hello\":8,\"world\":9}}}";

static const char json_bare[] =
    "{\"normalizer\":null,\"pre_tokenizer\":null,"
    "\"post_processor\":{\"type\":\"TemplateProcessing\","
    "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\","
    "\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[EOS]\",\"type_id\":0}}],"
    "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[4],\"tokens\":[\"[CLS]\"]},"
    "\"[EOS]\":{\"id\":\"[EOS]\",\"ids\":[5,6],\"tokens\":[\"a\",\"b\"]}}},"
    "\"model\":{\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":100,\"vocab\":{\"[UNK]\":0,\"Ab\":1,\"##c\":2,\"## \":3}}}";

static wgml_status load_json_text(const char *text, wgml_tokenizer **tok, char *err, size_t n)
{
    return wgml_tokenizer_load_json_buffer(text, strlen(text), tok, err, n);
}

static int test_json(void)
{
    char err[256] = "";
    wgml_tokenizer *tok = NULL;
    const size_t none = WGML_TOKENIZER_NO_TRUNCATION;
    TEST_CHECK(load_json_text(json_full, &tok, err, sizeof err) == WGML_OK, "full: %s", err);
    EXPECT(tok, "abc", false, none, 3, 4);                 // "@@" continuation prefix
    EXPECT(tok, "abcabc ab", false, none, 0, 3);           // 5 chars max per word
    EXPECT(tok, "ab <special> <SPECIAL>", false, none, 3, 5, 0, 0, 0);
    // A normalized added token is matched in the normalized text, across the
    // whitespace the pre-tokenizer would split on.
    EXPECT(tok, "HELLO WORLD hello  w\xc3\xb6rld", false, none, 6, 8, 9);
    EXPECT(tok, "ab", true, none, 1, 3, 2);
    EXPECT(tok, "ab ab ab ab ab ab", true, 0, 1, 3, 3, 3, 3, 2);   // truncation.max_length 6
    TEST_CHECK(wgml_tokenizer_default_max_length(tok) == 6, "default max_length");
    wgml_tokenizer_special sp = wgml_tokenizer_special_ids(tok);
    TEST_CHECK(sp.pad == 7 && sp.unk == 0 && sp.cls == 1 && sp.sep == 2 && sp.mask == -1,
               "special ids %d %d %d %d %d", sp.pad, sp.unk, sp.cls, sp.sep, sp.mask);
    TEST_CHECK(wgml_tokenizer_vocab_size(tok) == 10, "vocab size %zu",
               wgml_tokenizer_vocab_size(tok));
    size_t len;
    const char *s = wgml_tokenizer_id_to_token(tok, 6, &len);
    TEST_CHECK(s && len == 12 && !memcmp(s, "HeLLo W\xc3\xb6rld", 12), "added token text");
    TEST_CHECK(wgml_tokenizer_token_to_id(tok, "<special>", 9) == 5, "added token id");
    wgml_tokenizer_free(tok);

    TEST_CHECK(load_json_text(json_bare, &tok, err, sizeof err) == WGML_OK, "bare: %s", err);
    // No normalizer and no pre-tokenizer: the whole text is one word.
    EXPECT(tok, "Ab c", false, none, 1, 3, 2);
    EXPECT(tok, "Ab c", true, none, 4, 1, 3, 2, 5, 6);
    EXPECT(tok, "Ab c", true, 4, 4, 1, 5, 6);
    TEST_CHECK(wgml_tokenizer_default_max_length(tok) == none, "no truncation by default");
    wgml_tokenizer_free(tok);

    // Malformed or unsupported files: a status and a reason, never a crash.
    static const struct {
        const char *text;
        wgml_status st;
    } bad[] = {
        {"not json", WGML_ERR_BAD_FILE},
        {"[]", WGML_ERR_BAD_FILE},
        {"{}", WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}", WGML_ERR_UNSUPPORTED},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{}}}",
         WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"a\":0}}}",
         WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":-1}}}",
         WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":1e9}}}",
         WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
         "\"vocab\":{\"[UNK]\":2000000000}}}",
         WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"normalizer\":{\"type\":\"NFKC\"}}", WGML_ERR_UNSUPPORTED},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":1}}", WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", WGML_ERR_UNSUPPORTED},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"added_tokens\":[{\"id\":1,\"content\":\"<m>\",\"lstrip\":true}]}",
         WGML_ERR_UNSUPPORTED},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"added_tokens\":[{\"id\":-3,\"content\":\"<m>\"}]}", WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"truncation\":{\"max_length\":4,\"direction\":\"Left\"}}", WGML_ERR_UNSUPPORTED},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
         "{\"id\":\"[X]\",\"type_id\":0}}]}}", WGML_ERR_BAD_FILE},
        {"{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}},"
         "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"a\"],\"cls\":[\"b\",1]}}",
         WGML_ERR_BAD_FILE},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tok = (wgml_tokenizer *)1;
        err[0] = '\0';
        wgml_status st = load_json_text(bad[i].text, &tok, err, sizeof err);
        TEST_CHECK(st == bad[i].st && tok == NULL && err[0],
                   "bad file %zu: got %s (%s), want %s", i, wgml_status_name(st), err,
                   wgml_status_name(bad[i].st));
    }
    // Every prefix of a good file is refused cleanly.
    for (size_t n = 0; n + 1 < sizeof(json_full); n++) {
        tok = NULL;
        TEST_CHECK(wgml_tokenizer_load_json_buffer(json_full, n, &tok, err,
                                                   sizeof err) != WGML_OK &&
                       !tok, "prefix of %zu bytes accepted", n);
    }
    TEST_CHECK(wgml_tokenizer_load_json("/nonexistent/tokenizer.json", &tok, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT, "missing file");
    TEST_CHECK(wgml_tokenizer_load_dir("/nonexistent", &tok, err, sizeof err) == WGML_ERR_BAD_FILE,
               "missing directory: %s", err);
    return 0;
}

// ---------------------------------------------------------------- UTF-8

// A scalar value's UTF-8, written out independently of wgml_utf8_encode.
static size_t ref_encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) return out[0] = (uint8_t)cp, 1;
    int n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const uint8_t lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
    for (int i = n - 1; i > 0; i--, cp >>= 6) out[i] = (uint8_t)(0x80 | (cp & 0x3F));
    out[0] = (uint8_t)(lead[n] | cp);
    return (size_t)n;
}

// Which byte strings of 1-3 bytes are prefixes of a well-formed sequence,
// built by encoding every scalar value: the definition of "maximal subpart"
// (Unicode 16, 3.9, D93b) without Table 3-7's shortcuts.
static uint8_t *prefix_bits[4];

static bool is_prefix(const uint8_t *s, size_t k)
{
    uint32_t key = 0;
    for (size_t i = 0; i < k; i++) key = key << 8 | s[i];
    return prefix_bits[k][key >> 3] >> (key & 7) & 1;
}

static bool build_prefixes(void)
{
    for (int k = 1; k <= 3; k++) {
        prefix_bits[k] = calloc((size_t)1 << 21, 1);
        if (!prefix_bits[k]) return false;
    }
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        uint8_t b[4];
        size_t n = ref_encode(cp, b);
        uint32_t key = 0;
        for (size_t k = 1; k <= n && k <= 3; k++) {
            key = key << 8 | b[k - 1];
            prefix_bits[k][key >> 3] |= (uint8_t)(1u << (key & 7));
        }
    }
    return true;
}

// The reference decoder: the longest prefix of a well-formed sequence at
// pos; a complete one is its scalar value, an incomplete one (or a byte that
// starts nothing) one U+FFFD.
static uint32_t ref_decode(const uint8_t *s, size_t len, size_t *pos)
{
    size_t i = *pos, k = 0;
    while (k < 3 && i + k < len && is_prefix(s + i, k + 1)) k++;
    size_t full = s[i] < 0x80 ? 1 : s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4;
    if (k == 3 && full == 4 && i + 3 < len && s[i + 3] >= 0x80 && s[i + 3] <= 0xBF) {
        *pos = i + 4;
        return (uint32_t)(s[i] & 7) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 |
               (uint32_t)(s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
    }
    if (k == 0) {
        *pos = i + 1;
        return WGML_UNICODE_REPLACEMENT;
    }
    *pos = i + k;
    if (k < full) return WGML_UNICODE_REPLACEMENT;
    uint32_t cp = k == 1 ? s[i] : k == 2 ? (uint32_t)(s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F)
                                         : (uint32_t)(s[i] & 0x0F) << 12 |
                                               (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
    return cp;
}

static int test_utf8(void)
{
    // Known answers (Python's bytes.decode('utf-8', 'replace')).
    static const struct {
        const char *in;
        uint32_t out[5];
    } known[] = {
        {"\xc0\xaf", {0xFFFD, 0xFFFD}},
        {"\xe0\x80\xaf", {0xFFFD, 0xFFFD, 0xFFFD}},
        {"\xed\xa0\x80", {0xFFFD, 0xFFFD, 0xFFFD}},
        {"\xf4\x90\x80\x80", {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}},
        {"\xe2\x82", {0xFFFD}},
        {"\xf0\x9f\x98x", {0xFFFD, 'x'}},
        {"\x80\xbf", {0xFFFD, 0xFFFD}},
        {"\xe1\x80\xe1\x80\x80", {0xFFFD, 0x1000}},
        {"\xf0\x90\x80\xf0", {0xFFFD, 0xFFFD}},
        {"\xc2\xc2\xa0", {0xFFFD, 0xA0}},
        {"\xf5\x80", {0xFFFD, 0xFFFD}},
        {"\xef\xbf\xbd", {0xFFFD}},
        {"\xf4\x8f\xbf\xbf", {0x10FFFF}},
        {"a\xed" "b", {'a', 0xFFFD, 'b'}},
    };
    for (size_t t = 0; t < sizeof(known) / sizeof(known[0]); t++) {
        const uint8_t *s = (const uint8_t *)known[t].in;
        size_t len = strlen(known[t].in), pos = 0, k = 0;
        while (pos < len) {
            uint32_t cp = wgml_utf8_decode(s, len, &pos);
            TEST_CHECK(k < 5 && cp == known[t].out[k], "case %zu: code point %zu is U+%04X", t, k,
                       cp);
            k++;
        }
        TEST_CHECK(k == 5 || known[t].out[k] == 0, "case %zu: %zu code points", t, k);
    }
    // Every scalar value round-trips.
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        uint8_t a[4], b[4];
        size_t n = wgml_utf8_encode(cp, a), pos = 0;
        TEST_CHECK(n == ref_encode(cp, b) && !memcmp(a, b, n), "encode U+%04X", cp);
        TEST_CHECK(wgml_utf8_decode(a, n, &pos) == cp && pos == n, "decode U+%04X", cp);
    }
    // Every string of four bytes over the bytes where the rules change,
    // against the reference decoder.
    TEST_CHECK(build_prefixes(), "out of memory");
    static const uint8_t alphabet[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                       0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                       0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF};
    const size_t na = sizeof(alphabet);
    size_t strings = 0;
    for (size_t len = 1; len <= 4; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++) total *= na;
        for (size_t code = 0; code < total; code++) {
            uint8_t s[4];
            size_t c = code;
            for (size_t i = 0; i < len; i++, c /= na) s[i] = alphabet[c % na];
            size_t p = 0, q = 0;
            while (p < len) {
                uint32_t got = wgml_utf8_decode(s, len, &p);
                uint32_t want = ref_decode(s, len, &q);
                TEST_CHECK(got == want && p == q, "%02x %02x %02x %02x (%zu bytes): U+%04X at %zu, "
                           "want U+%04X at %zu", s[0], len > 1 ? s[1] : 0, len > 2 ? s[2] : 0,
                           len > 3 ? s[3] : 0, len, got, p, want, q);
            }
            strings++;
        }
    }
    for (int k = 1; k <= 3; k++) free(prefix_bits[k]);
    printf("utf8: %zu byte strings agree with the reference decoder\n", strings);
    return 0;
}

// ---------------------------------------------------------------- linear time

// What test_linear_time runs: n bytes made of `unit` repeated, encoded.
typedef struct {
    const wgml_tokenizer *tok;
    const char *unit;
} encode_job;

static double time_encode(void *arg, size_t n)
{
    const encode_job *job = arg;
    const wgml_tokenizer *tok = job->tok;
    const char *unit = job->unit;
    size_t ul = strlen(unit);
    char *text = malloc(n);
    if (!text) return -1;
    for (size_t i = 0; i < n; i++) text[i] = unit[i % ul];
    int32_t *ids = NULL;
    size_t count = 0;
    double t0 = test_cpu_seconds();
    wgml_status st = wgml_tokenizer_encode(tok, text, n, true, WGML_TOKENIZER_NO_TRUNCATION, &ids,
                                           &count, NULL, 0);
    double t = test_cpu_seconds() - t0;
    wgml_tokenizer_ids_free(ids);
    free(text);
    return st ? -1 : t;
}

// Quadratic work (n^2 / 2^16 steps): what test_linear_time must refuse.
static double time_quadratic(void *arg, size_t n)
{
    (void)arg;
    double t0 = test_cpu_seconds();
    volatile uint64_t acc = 0;
    uint64_t steps = (uint64_t)n * n >> 16;
    for (uint64_t i = 0; i < steps; i++) acc += i;
    return test_cpu_seconds() - t0;
}

static int test_linear(void)
{
    TEST_CHECK(test_linear_time("quadratic (must fail)", time_quadratic, NULL) == 0,
               "the linear-time check passed quadratic work");
    wgml_tokenizer *tok = tiny(NULL);
    TEST_CHECK(tok, "tiny vocabulary did not load");
    static const struct {
        const char *name, *unit;
    } inputs[] = {
        {"'a'", "a"},
        {"'\xc3\xa9'", "\xc3\xa9"},
        {"'a '", "a "},
        {"U+0301", "\xcc\x81"},
        {"Mc marks", "\xf0\x9d\x85\xa5\xf0\x9d\x85\xad"},   // U+1D165 U+1D16D: sorted marks
        {"CJK", "\xe4\xb8\xad"},
        {"[MASK prefixes", "[MASK"},
        {"invalid bytes", "\xf0\x9f\x98"},
        {"99 a", NULL},   // 99 'a' and a space: many words of WordPiece's longest length
    };
    char words[101];
    memset(words, 'a', 99);
    words[99] = ' ';
    words[100] = '\0';
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        encode_job job = {tok, inputs[i].unit ? inputs[i].unit : words};
        int linear = test_linear_time(inputs[i].name, time_encode, &job);
        TEST_CHECK(linear >= 0, "%s: encode failed", inputs[i].name);
        TEST_CHECK(linear, "%s did not encode in linear time", inputs[i].name);
    }
    wgml_tokenizer_free(tok);
    return 0;
}

// ---------------------------------------------------------------- Hugging Face ids

static bool hex_decode(const char *hex, size_t n, char *out)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return false;
            v = v * 16 + d;
        }
        out[i / 2] = (char)v;
    }
    return n % 2 == 0;
}

// The ids of a JSON array into a new array.
static int32_t *json_ids(const wgml_json *arr, size_t *n)
{
    *n = wgml_json_count(arr);
    int32_t *v = malloc((*n ? *n : 1) * sizeof(int32_t));
    for (size_t i = 0; v && i < *n; i++) {
        int64_t x = -1;
        wgml_json_int64(wgml_json_at(arr, i), &x);
        v[i] = (int32_t)x;
    }
    return v;
}

static int test_hf(void)
{
    const char *model = getenv("WGML_TOKENIZER_MODEL_DIR") ? getenv("WGML_TOKENIZER_MODEL_DIR")
                                                           : WGML_TEST_MODEL_DIR;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", model);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        printf("hf: no model at %s: skipped\n", model);
        return TEST_SKIP;
    }
    fclose(probe);

    // Three ways in: tokenizer.json, the directory, vocab.txt with BERT's defaults.
    char err[256] = "";
    wgml_tokenizer *toks[3] = {NULL, NULL, NULL};
    const char *how[3] = {"tokenizer.json", "directory", "vocab.txt"};
    TEST_CHECK(wgml_tokenizer_load_json(path, &toks[0], err, sizeof err) == WGML_OK, "%s", err);
    TEST_CHECK(wgml_tokenizer_load_dir(model, &toks[1], err, sizeof err) == WGML_OK, "%s", err);
    snprintf(path, sizeof path, "%s/vocab.txt", model);
    TEST_CHECK(wgml_tokenizer_load_vocab(path, NULL, &toks[2], err, sizeof err) == WGML_OK, "%s",
               err);
    // tokenizer.json truncates to 128; sentence-transformers to 256 (sentence_bert_config.json).
    TEST_CHECK(wgml_tokenizer_default_max_length(toks[0]) == 128, "tokenizer.json max_length %zu",
               wgml_tokenizer_default_max_length(toks[0]));
    TEST_CHECK(wgml_tokenizer_default_max_length(toks[1]) == 256, "directory max_length %zu",
               wgml_tokenizer_default_max_length(toks[1]));
    for (int k = 0; k < 3; k++) {
        wgml_tokenizer_special sp = wgml_tokenizer_special_ids(toks[k]);
        TEST_CHECK(sp.pad == 0 && sp.unk == 100 && sp.cls == 101 && sp.sep == 102 && sp.mask == 103,
                   "%s: special ids", how[k]);
        TEST_CHECK(wgml_tokenizer_vocab_size(toks[k]) == 30522, "%s: vocab size", how[k]);
    }
    size_t len;
    const char *t = wgml_tokenizer_id_to_token(toks[0], 2088, &len);
    TEST_CHECK(t && len == 5 && !memcmp(t, "world", 5), "id 2088");
    TEST_CHECK(wgml_tokenizer_token_to_id(toks[0], "##ing", 5) == 2075, "##ing");

    snprintf(path, sizeof path, "%s/wordpiece_minilm.jsonl", WGML_TEST_DATA_DIR);
    FILE *f = fopen(path, "rb");
    TEST_CHECK(f, "cannot open %s", path);
    static const struct {
        const char *key;
        bool special;
        size_t max_length;
    } variants[] = {
        {"ids", true, WGML_TOKENIZER_NO_TRUNCATION},
        {"ids_plain", false, WGML_TOKENIZER_NO_TRUNCATION},
        {"ids_128", true, 128},
        {"ids_512", true, 512},
        {"ids_plain_128", false, 128},
    };
    size_t cases = 0, matched = 0, over512 = 0, cap = 1 << 20;
    char *line = malloc(cap), *text = malloc(cap);
    TEST_CHECK(line && text, "out of memory");
    int failures = 0;
    while (fgets(line, (int)cap, f)) {
        size_t n = strlen(line);
        TEST_CHECK(n + 1 < cap, "line longer than %zu bytes", cap);
        wgml_json_doc *doc = NULL;
        TEST_CHECK(wgml_json_parse(line, n, NULL, &doc, err, sizeof err) == WGML_OK,
                   "test data line %zu: %s", cases + 2, err);
        const wgml_json *row = wgml_json_root(doc);
        if (wgml_json_get(row, "meta")) {
            wgml_json_free(doc);
            continue;
        }
        size_t hex_len, name_len;
        const char *hex = wgml_json_string(wgml_json_get(row, "hex"), &hex_len);
        const char *name = wgml_json_string(wgml_json_get(row, "name"), &name_len);
        TEST_CHECK(hex && name && hex_decode(hex, hex_len, text), "bad test data line");
        size_t text_len = hex_len / 2;
        bool ok = true;
        for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
            size_t n_want;
            int32_t *want = json_ids(wgml_json_get(row, variants[v].key), &n_want);
            TEST_CHECK(want, "out of memory");
            if (v == 0 && n_want > 512) over512++;
            for (int k = 0; k < 3; k++) {
                char what[256];
                snprintf(what, sizeof what, "%.*s [%s, %s]", (int)name_len, name, variants[v].key,
                         how[k]);
                bool first = ok && failures == 0;
                if (expect_ids(toks[k], text, text_len, variants[v].special, variants[v].max_length,
                               want, n_want, what)) {
                    if (first) {
                        fprintf(stderr, "  text: ");
                        print_escaped(text, text_len);
                        fprintf(stderr, "\n");
                    }
                    ok = false;
                }
            }
            free(want);
        }
        failures += !ok;
        matched += ok;
        cases++;
        wgml_json_free(doc);
    }
    fclose(f);
    free(line);
    free(text);
    for (int k = 0; k < 3; k++) wgml_tokenizer_free(toks[k]);
    printf("hf: %zu/%zu strings match Hugging Face tokenizers (5 settings x 3 loaders each); "
           "%zu longer than 512 tokens\n", matched, cases, over512);
    TEST_CHECK(cases >= 300, "only %zu test strings", cases);
    TEST_CHECK(over512 > 0, "no string longer than 512 tokens");
    TEST_CHECK(matched == cases, "%zu strings differ", cases - matched);
    return 0;
}

// ---------------------------------------------------------------- the normalizer alone

// tests/data/bert_normalizer.jsonl: tokenizers' BertNormalizer output on
// strings dense in combining marks, compared code point for code point (ids
// alone would hide differences inside words that end up [UNK]).
static int test_normalizer(void)
{
    wgml_tokenizer *tok = tiny(NULL);
    TEST_CHECK(tok, "tiny vocabulary did not load");
    char path[4096];
    snprintf(path, sizeof path, "%s/bert_normalizer.jsonl", WGML_TEST_DATA_DIR);
    FILE *f = fopen(path, "rb");
    TEST_CHECK(f, "cannot open %s", path);
    size_t cap = 1 << 20, cases = 0;
    char *line = malloc(cap), *text = malloc(cap), *want = malloc(cap);
    TEST_CHECK(line && text && want, "out of memory");
    char err[256];
    while (fgets(line, (int)cap, f)) {
        wgml_json_doc *doc = NULL;
        TEST_CHECK(wgml_json_parse(line, strlen(line), NULL, &doc, err, sizeof err) == WGML_OK,
                   "line %zu: %s", cases + 1, err);
        size_t hl, nl;
        const char *hex = wgml_json_string(wgml_json_get(wgml_json_root(doc), "hex"), &hl);
        const char *norm = wgml_json_string(wgml_json_get(wgml_json_root(doc), "norm"), &nl);
        TEST_CHECK(hex && norm && hex_decode(hex, hl, text) && hex_decode(norm, nl, want),
                   "bad line %zu", cases + 1);
        uint32_t *cps = NULL;
        size_t n = 0;
        TEST_CHECK(wgml_tokenizer_normalize(tok, text, hl / 2, &cps, &n) == WGML_OK, "normalize");
        // Compare as UTF-8.
        size_t pos = 0, i = 0;
        bool same = true;
        for (; same && pos < nl / 2 && i < n; i++)
            same = wgml_utf8_decode((const uint8_t *)want, nl / 2, &pos) == cps[i];
        same = same && pos == nl / 2 && i == n;
        if (!same) {
            fprintf(stderr, "normalizer line %zu differs at code point %zu\n  text: ", cases + 1,
                    i ? i - 1 : 0);
            print_escaped(text, hl / 2);
            fprintf(stderr, "\n  want: ");
            print_escaped(want, nl / 2);
            fprintf(stderr, "\n  got: ");
            for (size_t k = 0; k < n && k < 60; k++) fprintf(stderr, "U+%04X ", cps[k]);
            fprintf(stderr, "\n");
        }
        free(cps);
        wgml_json_free(doc);
        TEST_CHECK(same, "normalizer differs from tokenizers");
        cases++;
    }
    fclose(f);
    free(line);
    free(text);
    free(want);
    wgml_tokenizer_free(tok);
    printf("normalizer: %zu strings normalize as tokenizers' BertNormalizer does\n", cases);
    TEST_CHECK(cases >= 300, "only %zu strings", cases);
    return 0;
}

// ---------------------------------------------------------------- invalid UTF-8

// tests/data/invalid_utf8.jsonl (scripts/gen_invalid_utf8_testdata.py): each
// ill-formed string must decode to the code points of Python's
// bytes.decode('utf-8', 'replace') -- one U+FFFD per maximal subpart, U+0000
// kept -- and encode to the ids tokenizers gives that decoded text.
static int test_invalid_utf8(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/invalid_utf8.jsonl", WGML_TEST_DATA_DIR);
    FILE *f = fopen(path, "rb");
    TEST_CHECK(f, "cannot open %s", path);
    enum { MAX_CONFIGS = 8 };
    char names[MAX_CONFIGS][32];
    wgml_tokenizer *toks[MAX_CONFIGS] = {NULL};
    int n_configs = 0;
    size_t cap = 1 << 20, cases = 0, replacements = 0, nuls = 0;
    char *line = malloc(cap), *raw = malloc(cap), *dec = malloc(cap);
    TEST_CHECK(line && raw && dec, "out of memory");
    char err[256] = "";
    while (fgets(line, (int)cap, f)) {
        wgml_json_doc *doc = NULL;
        TEST_CHECK(wgml_json_parse(line, strlen(line), NULL, &doc, err, sizeof err) == WGML_OK,
                   "%s: %s", path, err);
        const wgml_json *row = wgml_json_root(doc);
        const char *config = wgml_json_string(wgml_json_get(row, "config"), NULL);
        size_t tj_len;
        const char *tj = wgml_json_string(wgml_json_get(row, "tokenizer"), &tj_len);
        if (!config) {   // the meta line
            wgml_json_free(doc);
            continue;
        }
        if (tj) {
            TEST_CHECK(n_configs < MAX_CONFIGS, "too many tokenizers");
            snprintf(names[n_configs], sizeof names[0], "%s", config);
            TEST_CHECK(wgml_tokenizer_load_json_buffer(tj, tj_len, &toks[n_configs], err,
                                                       sizeof err) == WGML_OK,
                       "tokenizer %s: %s", config, err);
            n_configs++;
            wgml_json_free(doc);
            continue;
        }
        const wgml_tokenizer *tok = NULL;
        for (int k = 0; k < n_configs; k++)
            if (!strcmp(names[k], config)) tok = toks[k];
        TEST_CHECK(tok, "case before its tokenizer %s", config);
        size_t hl, dl, nl;
        const char *hex = wgml_json_string(wgml_json_get(row, "hex"), &hl);
        const char *dhex = wgml_json_string(wgml_json_get(row, "decoded"), &dl);
        const char *name = wgml_json_string(wgml_json_get(row, "name"), &nl);
        TEST_CHECK(hex && dhex && name && hex_decode(hex, hl, raw) && hex_decode(dhex, dl, dec),
                   "bad line %zu", cases);
        // The decoder: code point for code point what Python decoded.
        size_t p = 0, q = 0, k = 0;
        while (p < hl / 2 && q < dl / 2) {
            uint32_t got = wgml_utf8_decode((const uint8_t *)raw, hl / 2, &p);
            uint32_t want = wgml_utf8_decode((const uint8_t *)dec, dl / 2, &q);
            TEST_CHECK(got == want, "%s (%s): code point %zu is U+%04X, Python has U+%04X", name,
                       config, k, got, want);
            replacements += got == WGML_UNICODE_REPLACEMENT;
            nuls += got == 0;
            k++;
        }
        TEST_CHECK(p == hl / 2 && q == dl / 2, "%s (%s): %zu code points, Python has more or fewer",
                   name, config, k);
        // The tokenizer: tokenizers' ids, with and without special tokens.
        static const struct {
            const char *key;
            bool special;
        } variants[] = {{"ids", true}, {"ids_plain", false}};
        for (size_t v = 0; v < 2; v++) {
            size_t n_want;
            int32_t *want = json_ids(wgml_json_get(row, variants[v].key), &n_want);
            TEST_CHECK(want, "out of memory");
            char what[160];
            snprintf(what, sizeof what, "%.*s [%s, %s]", (int)nl, name, config, variants[v].key);
            int r = expect_ids(tok, raw, hl / 2, variants[v].special, WGML_TOKENIZER_NO_TRUNCATION,
                               want, n_want, what);
            free(want);
            if (r) {
                fprintf(stderr, "  text: ");
                print_escaped(raw, hl / 2);
                fprintf(stderr, "\n");
                return 1;
            }
        }
        cases++;
        wgml_json_free(doc);
    }
    fclose(f);
    free(line);
    free(raw);
    free(dec);
    for (int k = 0; k < n_configs; k++) wgml_tokenizer_free(toks[k]);
    printf("invalid_utf8: %zu strings x tokenizers agree with Python's decoding and tokenizers "
           "(%zu U+FFFD, %zu U+0000 decoded)\n", cases, replacements, nuls);
    TEST_CHECK(n_configs == 3 && cases >= 3 * 60, "only %d tokenizers and %zu cases", n_configs,
               cases);
    TEST_CHECK(replacements > 0 && nuls > 0, "no U+FFFD or no U+0000 seen");
    return 0;
}

// ---------------------------------------------------------------- main

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
        {"hf", test_hf}, {"unit", test_unit}, {"json", test_json},
        {"utf8", test_utf8}, {"linear", test_linear}, {"normalizer", test_normalizer},
        {"invalid_utf8", test_invalid_utf8},
    };
    int rc = 0;
    bool ran = false;
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
        ran = true;
        int r = tests[i].fn();
        if (r == TEST_SKIP && argc > 1) return TEST_SKIP;
        if (r == 1) {
            fprintf(stderr, "%s: FAILED\n", tests[i].name);
            rc = 1;
        }
    }
    if (!ran) {
        fprintf(stderr, "usage: %s [hf|unit|json|utf8|linear|normalizer]\n", argv[0]);
        return 1;
    }
    return rc;
}
