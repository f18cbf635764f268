// libFuzzer harness for loading tokenizers and encoding with them. The input
// is a tokenizer file and a text, split at the first NUL byte (a
// tokenizer.json holds none); without a NUL the whole input is the file and
// the text is a fixed sample. The file part is loaded as tokenizer.json and
// as vocab.txt (cased and uncased); every tokenizer that loads encodes the
// text every way the API offers (fuzz_common.h checks that they agree) and
// its vocabulary is walked.
#include "fuzz_common.h"

static const char SAMPLE[] =
    "Hello, World! caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 [MASK] <special> ab abc "
    "\xf0\x9f\x98\x80 \xed\xa0\x80 \xc0\xaf \xe2\x82 unaffable";

static void walk_vocab(const wgml_tokenizer *tok)
{
    size_t n = wgml_tokenizer_vocab_size(tok);
    for (size_t id = 0; id < n && id < 4096; id++) {
        size_t len;
        const char *s = wgml_tokenizer_id_to_token(tok, (int32_t)id, &len);
        if (!s) continue;
        // The string maps back to an id that holds the same string (a string
        // given to several ids maps to one of them).
        int32_t back = wgml_tokenizer_token_to_id(tok, s, len);
        size_t blen;
        const char *b = back >= 0 ? wgml_tokenizer_id_to_token(tok, back, &blen) : NULL;
        FUZZ_CHECK(b && blen == len && memcmp(b, s, len) == 0, "token_to_id(id_to_token(id))");
    }
    FUZZ_CHECK(wgml_tokenizer_id_to_token(tok, -1, NULL) == NULL, "id -1 has a token");
    FUZZ_CHECK(wgml_tokenizer_id_to_token(tok, (int32_t)n, NULL) == NULL, "id past the end");
}

static void use(wgml_tokenizer *tok, const char *text, size_t len)
{
    walk_vocab(tok);
    fuzz_encode_all(tok, text, len);
    wgml_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *file = (const char *)data;
    const char *nul = memchr(data, 0, size);
    size_t file_len = nul ? (size_t)(nul - file) : size;
    const char *text = nul ? nul + 1 : SAMPLE;
    size_t text_len = nul ? size - file_len - 1 : sizeof SAMPLE - 1;
    char err[256];
    wgml_tokenizer *tok = (wgml_tokenizer *)1;
    if (wgml_tokenizer_load_json_buffer(file, file_len, &tok, err, sizeof err) == WGML_OK)
        use(tok, text, text_len);
    else
        FUZZ_CHECK(tok == NULL && err[0], "a refused tokenizer.json left no NULL or no reason");
    wgml_wordpiece_options opt[2] = {{0}, {.cased = true, .strip_accents = 1}};
    for (int k = 0; k < 2; k++) {
        tok = (wgml_tokenizer *)1;
        if (wgml_tokenizer_load_vocab_buffer(file, file_len, &opt[k], &tok, err, sizeof err) ==
            WGML_OK)
            use(tok, text, text_len);
        else
            FUZZ_CHECK(tok == NULL && err[0], "a refused vocab.txt left no NULL or no reason");
    }
    return 0;
}
