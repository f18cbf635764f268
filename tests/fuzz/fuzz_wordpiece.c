// libFuzzer harness for WordPiece encoding of hostile text with fixed
// tokenizers. The first input byte picks the tokenizer (a vocab.txt under
// each option set, or a tokenizer.json with added tokens, a post-processor
// and BertNormalizer settings vocab.txt cannot express); the rest is the text.
// Besides fuzz_common.h's agreement checks: the normalizer yields only
// Unicode scalar values, and encoding the raw bytes equals encoding their
// replacement-decoded UTF-8 (invalid sequences are U+FFFD, nothing else).
#include "fuzz_common.h"
#include "tokenizer/unicode.h"

// Tokens chosen to meet the pipeline's corners: subwords, accents, CJK,
// an empty token, U+FFFD, NUL, a lone combining mark.
static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\nuna\n##ff\n##aff\n##able\nhello\nworld\n,\n!\na\n##a\n"
    "\xe4\xb8\xad\n\xe6\x96\x87\n$\n\xc2\xbf\n[\n]\nmask\ncafe\ncaf\xc3\xa9\nHello\ni\n##\xcc\x87\n"
    "\xcf\x83\n##\xcf\x83\n\n\xef\xbf\xbd\n##\xef\xbf\xbd\n\xcc\x81\nx\n##x\n##\n";

static const char JSON[] =
    "{\"added_tokens\":["
    "{\"id\":40,\"content\":\"<s p>\",\"normalized\":false,\"special\":true},"
    "{\"id\":41,\"content\":\"Caf\\u00e9 \\u4e2d\",\"normalized\":true,\"special\":false},"
    "{\"id\":42,\"content\":\"\\ufffd\\ufffd\",\"normalized\":false,\"special\":false},"
    "{\"id\":43,\"content\":\"a\",\"normalized\":true,\"special\":false}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":false,"
    "\"handle_chinese_chars\":true,\"strip_accents\":true,\"lowercase\":false},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
    "{\"SpecialToken\":{\"id\":\"<s p>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],\"special_tokens\":{"
    "\"<s p>\":{\"id\":\"<s p>\",\"ids\":[40],\"tokens\":[\"<s p>\"]},"
    "\"</s>\":{\"id\":\"</s>\",\"ids\":[2,3],\"tokens\":[\"b\",\"c\"]}}},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":7,\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"b\":2,\"c\":3,"
    "\"ab\":4,\"##c\":5,\"\\ufffd\":6,\"##\\ufffd\":7,\"\\u0000\":8,\"##\\u0000\":9,"
    "\"\\u4e2d\":10,\"cafe\":11,\"##e\":12,\"##a\":13}}}";

enum { N_TOKENIZERS = 9 };
static wgml_tokenizer *toks[N_TOKENIZERS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    char err[256];
    // vocab.txt under every option set (lowercase or not x accents x CJK spacing).
    for (int k = 0; k < 8; k++) {
        wgml_wordpiece_options o = {.cased = k & 1, .strip_accents = (k >> 1 & 1) ? 1 : -1,
                                    .no_chinese_spacing = k >> 2 & 1};
        if (wgml_tokenizer_load_vocab_buffer(VOCAB, sizeof VOCAB - 1, &o, &toks[k], err,
                                             sizeof err)) {
            fprintf(stderr, "vocab %d: %s\n", k, err);
            abort();
        }
    }
    if (wgml_tokenizer_load_json_buffer(JSON, sizeof JSON - 1, &toks[8], err, sizeof err)) {
        fprintf(stderr, "tokenizer.json: %s\n", err);
        abort();
    }
    return 0;
}

// Every code point the decoder yields, written back as UTF-8: the text
// Python's bytes.decode('utf-8', 'replace') would give.
static char *sanitized(const uint8_t *s, size_t n, size_t *out_len)
{
    char *out = malloc(n * 3 + 1);   // a byte becomes at most U+FFFD (3 bytes)
    if (!out) return NULL;
    size_t pos = 0, k = 0;
    while (pos < n) {
        uint32_t cp = wgml_utf8_decode(s, n, &pos);
        FUZZ_CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), "decoder: not a scalar");
        k += wgml_utf8_encode(cp, (uint8_t *)out + k);
    }
    *out_len = k;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const wgml_tokenizer *tok = toks[data[0] % N_TOKENIZERS];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    fuzz_encode_all(tok, text, len);

    uint32_t *cps = NULL;
    size_t n = 0;
    if (wgml_tokenizer_normalize(tok, text, len, &cps, &n) == WGML_OK)
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(cps[i] <= 0x10FFFF && !(cps[i] >= 0xD800 && cps[i] <= 0xDFFF),
                       "normalizer: not a scalar value");
    free(cps);

    size_t clean_len;
    char *clean = sanitized((const uint8_t *)text, len, &clean_len);
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (clean &&
        wgml_tokenizer_encode(tok, text, len, true, WGML_TOKENIZER_NO_TRUNCATION, &a, &na, NULL,
                              0) == WGML_OK &&
        wgml_tokenizer_encode(tok, clean, clean_len, true, WGML_TOKENIZER_NO_TRUNCATION, &b, &nb,
                              NULL, 0) == WGML_OK)
        FUZZ_CHECK(fuzz_same(a, na, b, nb), "raw bytes and their replacement-decoded text differ");
    wgml_tokenizer_ids_free(a);
    wgml_tokenizer_ids_free(b);
    free(clean);
    return 0;
}
