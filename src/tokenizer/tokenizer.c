/*
 * Loading tokenizers (tokenizer.json, vocab.txt, model directories) and the
 * public encode calls.
 *
 * tokenizer.json (Hugging Face tokenizers' serialization, "version": "1.0"),
 * the parts read here:
 *   model           {"type": "WordPiece", "unk_token": s,
 *                    "continuing_subword_prefix": s,
 *                    "max_input_chars_per_word": n, "vocab": {token: id}}
 *   normalizer      null | {"type": "BertNormalizer", "clean_text": b,
 *                    "handle_chinese_chars": b, "strip_accents": b | null
 *                    (null: same as lowercase), "lowercase": b}
 *   pre_tokenizer   null | {"type": "BertPreTokenizer"}
 *   post_processor  null | {"type": "TemplateProcessing", "single": [items],
 *                    "special_tokens": {name: {"ids": [n]}}}
 *                  | {"type": "BertProcessing" | "RobertaProcessing",
 *                    "cls": [s, n], "sep": [s, n]}
 *   added_tokens    [{"id": n, "content": s, "normalized": b, "special": b,
 *                    "single_word", "lstrip", "rstrip": b (only false)}]
 *   truncation      null | {"max_length": n, "direction": "Right" | "Left"}
 *   padding         null | {"pad_id": n}
 * Anything else the file asks for (another model, normalizer or
 * pre-tokenizer) is refused as unsupported rather than silently ignored.
 */
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/bpe.h"
#include "tokenizer/unicode.h"
#include "formats/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- helpers

static wgml_status fail(char *err, size_t err_size, wgml_status st, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

// Files larger than this are not tokenizer files (the largest tokenizer.json
// files are tens of MiB).
#define MAX_FILE_BYTES ((size_t)1 << 30)

// Reads a whole file. A missing file is WGML_ERR_INVALID_ARGUMENT so that
// callers can tell it from a bad one.
static wgml_status read_file(const char *path, char **data, size_t *len, char *err,
                             size_t err_size)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    wgml_status st = buf ? WGML_OK : WGML_ERR_OUT_OF_MEMORY;
    while (!st) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                st = fail(err, err_size, WGML_ERR_BAD_FILE, "%s: larger than %zu bytes", path,
                          MAX_FILE_BYTES);
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                st = WGML_ERR_OUT_OF_MEMORY;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = fail(err, err_size, WGML_ERR_BAD_FILE, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st) {
        free(buf);
        if (st == WGML_ERR_OUT_OF_MEMORY) fail(err, err_size, st, "%s: out of memory", path);
        return st;
    }
    *data = buf;
    *len = n;
    return WGML_OK;
}

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

// ---------------------------------------------------------------- JSON helpers

static const wgml_json *get_typed(const wgml_json *obj, const char *key, wgml_json_type t)
{
    const wgml_json *v = wgml_json_get(obj, key);
    return v && wgml_json_type_of(v) == t ? v : NULL;
}

// A member that must be a boolean when present; *out keeps its default when absent
// or null.
static bool get_bool(const wgml_json *obj, const char *key, bool *out)
{
    const wgml_json *v = wgml_json_get(obj, key);
    if (!v || wgml_json_type_of(v) == WGML_JSON_NULL) return true;
    return wgml_json_bool(v, out);
}

// A non-negative integer no larger than max.
static bool get_size(const wgml_json *v, size_t max, size_t *out)
{
    int64_t x;
    if (!v || !wgml_json_int64(v, &x) || x < 0 || (uint64_t)x > max) return false;
    *out = (size_t)x;
    return true;
}

static bool type_is(const wgml_json *obj, const char *name)
{
    size_t len;
    const char *t = wgml_json_string(wgml_json_get(obj, "type"), &len);
    return t && len == strlen(name) && memcmp(t, name, len) == 0;
}

static bool ids_append(int32_t **v, size_t *n, int32_t id)
{
    int32_t *p = realloc(*v, (*n + 1) * sizeof(int32_t));
    if (!p) return false;
    p[*n] = id;
    *v = p;
    (*n)++;
    return true;
}

// ---------------------------------------------------------------- tokenizer.json

static wgml_status load_model(wgml_tokenizer *tok, const wgml_json *m, char *err, size_t es)
{
    if (!m || wgml_json_type_of(m) != WGML_JSON_OBJECT)
        return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: no model");
    // Old files omit the type; a WordPiece model is still recognisable.
    if (wgml_json_get(m, "type") ? !type_is(m, "WordPiece")
                                 : !wgml_json_get(m, "continuing_subword_prefix")) {
        size_t len = 0;
        const char *t = wgml_json_string(wgml_json_get(m, "type"), &len);
        return fail(err, es, WGML_ERR_UNSUPPORTED,
                    "tokenizer.json: model type '%.*s' (only WordPiece)",
                    (int)(t ? len : 1), t ? t : "?");
    }
    const wgml_json *vocab = get_typed(m, "vocab", WGML_JSON_OBJECT);
    if (!vocab || wgml_json_count(vocab) == 0)
        return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: model.vocab is missing or empty");
    for (size_t i = 0; i < wgml_json_count(vocab); i++) {
        size_t klen, id;
        const char *key = wgml_json_key_at(vocab, i, &klen);
        if (!get_size(wgml_json_at(vocab, i), WGML_TOKENIZER_MAX_ID - 1, &id))
            return fail(err, es, WGML_ERR_BAD_FILE,
                        "tokenizer.json: model.vocab entry %zu has no valid id", i);
        wgml_status st = wgml_vocab_set(&tok->vocab, (int32_t)id, key, klen);
        if (st) return fail(err, es, st, "tokenizer.json: vocabulary: %s", wgml_status_name(st));
    }
    size_t len;
    const char *prefix = wgml_json_string(wgml_json_get(m, "continuing_subword_prefix"), &len);
    if (prefix) {
        if (len >= sizeof(tok->prefix))
            return fail(err, es, WGML_ERR_UNSUPPORTED,
                        "tokenizer.json: subword prefix of %zu bytes",
                        len);
        memcpy(tok->prefix, prefix, len);
        tok->prefix_len = len;
    }
    const wgml_json *mx = wgml_json_get(m, "max_input_chars_per_word");
    if (mx && !get_size(mx, SIZE_MAX / 8, &tok->max_input_chars_per_word))
        return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: bad max_input_chars_per_word");
    const char *unk = wgml_json_string(wgml_json_get(m, "unk_token"), &len);
    if (!unk) return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: model.unk_token missing");
    // The unknown token has to exist before the index does: look it up by hand.
    for (size_t i = 0; i < wgml_json_count(vocab); i++) {
        size_t klen, id;
        const char *key = wgml_json_key_at(vocab, i, &klen);
        if (klen == len && memcmp(key, unk, len) == 0 &&
            get_size(wgml_json_at(vocab, i), WGML_TOKENIZER_MAX_ID - 1, &id))
            tok->unk_id = (int32_t)id;
    }
    if (tok->unk_id < 0)
        return fail(err, es, WGML_ERR_BAD_FILE,
                    "tokenizer.json: unk_token '%.*s' not in the vocabulary",
                    (int)len, unk);
    return WGML_OK;
}

static wgml_status load_normalizer(wgml_tokenizer *tok, const wgml_json *n, char *err, size_t es)
{
    if (!n || wgml_json_type_of(n) == WGML_JSON_NULL) return WGML_OK;
    if (!type_is(n, "BertNormalizer"))
        return fail(err, es, WGML_ERR_UNSUPPORTED,
                    "tokenizer.json: normalizer (only BertNormalizer or null)");
    tok->has_normalizer = true;
    tok->clean_text = tok->handle_chinese_chars = tok->lowercase = true;
    bool ok = get_bool(n, "clean_text", &tok->clean_text) &&
              get_bool(n, "handle_chinese_chars", &tok->handle_chinese_chars) &&
              get_bool(n, "lowercase", &tok->lowercase);
    // strip_accents: null follows lowercase (normalizers/bert.rs).
    tok->strip_accents = tok->lowercase;
    ok = ok && get_bool(n, "strip_accents", &tok->strip_accents);
    if (!ok) return fail(err, es, WGML_ERR_BAD_FILE,
                         "tokenizer.json: normalizer field not a boolean");
    return WGML_OK;
}

static wgml_status load_post_processor(wgml_tokenizer *tok, const wgml_json *p, char *err,
                                       size_t es)
{
    if (!p || wgml_json_type_of(p) == WGML_JSON_NULL) return WGML_OK;
    if (type_is(p, "BertProcessing") || type_is(p, "RobertaProcessing")) {
        const wgml_json *cls = get_typed(p, "cls", WGML_JSON_ARRAY);
        const wgml_json *sep = get_typed(p, "sep", WGML_JSON_ARRAY);
        size_t c, s;
        if (!cls || !sep || !get_size(wgml_json_at(cls, 1), WGML_TOKENIZER_MAX_ID - 1, &c) ||
            !get_size(wgml_json_at(sep, 1), WGML_TOKENIZER_MAX_ID - 1, &s))
            return fail(err, es, WGML_ERR_BAD_FILE,
                        "tokenizer.json: bad cls/sep in post_processor");
        if (!ids_append(&tok->post_prefix, &tok->n_post_prefix, (int32_t)c) ||
            !ids_append(&tok->post_suffix, &tok->n_post_suffix, (int32_t)s))
            return WGML_ERR_OUT_OF_MEMORY;
        return WGML_OK;
    }
    if (!type_is(p, "TemplateProcessing"))
        return fail(err, es, WGML_ERR_UNSUPPORTED,
                    "tokenizer.json: post_processor (only TemplateProcessing, BertProcessing)");
    const wgml_json *single = get_typed(p, "single", WGML_JSON_ARRAY);
    const wgml_json *specials = get_typed(p, "special_tokens", WGML_JSON_OBJECT);
    if (!single) return fail(err, es, WGML_ERR_BAD_FILE,
                             "tokenizer.json: template without 'single'");
    size_t sequences = 0;
    for (size_t i = 0; i < wgml_json_count(single); i++) {
        const wgml_json *item = wgml_json_at(single, i);
        const wgml_json *st = get_typed(item, "SpecialToken", WGML_JSON_OBJECT);
        if (get_typed(item, "Sequence", WGML_JSON_OBJECT)) {
            sequences++;
            continue;
        }
        size_t len;
        const char *name = st ? wgml_json_string(wgml_json_get(st, "id"), &len) : NULL;
        if (!name) return fail(err, es, WGML_ERR_BAD_FILE,
                               "tokenizer.json: bad template item %zu", i);
        // special_tokens maps the name to its ids (one or more).
        const wgml_json *ids = NULL;
        for (size_t k = 0; specials && k < wgml_json_count(specials); k++) {
            size_t klen;
            const char *key = wgml_json_key_at(specials, k, &klen);
            if (klen == len && memcmp(key, name, len) == 0)
                ids = get_typed(wgml_json_at(specials, k), "ids", WGML_JSON_ARRAY);
        }
        if (!ids)
            return fail(err, es, WGML_ERR_BAD_FILE,
                        "tokenizer.json: template token '%.*s' has no ids",
                        (int)len, name);
        for (size_t k = 0; k < wgml_json_count(ids); k++) {
            size_t id;
            if (!get_size(wgml_json_at(ids, k), WGML_TOKENIZER_MAX_ID - 1, &id))
                return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: bad template id");
            bool ok = sequences ? ids_append(&tok->post_suffix, &tok->n_post_suffix, (int32_t)id)
                                : ids_append(&tok->post_prefix, &tok->n_post_prefix, (int32_t)id);
            if (!ok) return WGML_ERR_OUT_OF_MEMORY;
        }
    }
    if (sequences != 1)
        return fail(err, es, WGML_ERR_UNSUPPORTED, "tokenizer.json: template with %zu sequences",
                    sequences);
    return WGML_OK;
}

static wgml_status load_added_tokens(wgml_tokenizer *tok, const wgml_json *a, char *err, size_t es)
{
    if (!a || wgml_json_type_of(a) == WGML_JSON_NULL) return WGML_OK;
    if (wgml_json_type_of(a) != WGML_JSON_ARRAY)
        return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: added_tokens is not an array");
    for (size_t i = 0; i < wgml_json_count(a); i++) {
        const wgml_json *t = wgml_json_at(a, i);
        size_t id, len;
        const char *content = wgml_json_string(wgml_json_get(t, "content"), &len);
        bool normalized = false, special = false, single_word = false, lstrip = false,
             rstrip = false;
        if (!content || !get_size(wgml_json_get(t, "id"), WGML_TOKENIZER_MAX_ID - 1, &id) ||
            !get_bool(t, "normalized", &normalized) || !get_bool(t, "special", &special) ||
            !get_bool(t, "single_word", &single_word) || !get_bool(t, "lstrip", &lstrip) ||
            !get_bool(t, "rstrip", &rstrip))
            return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: bad added token %zu", i);
        if (single_word || lstrip || rstrip)
            return fail(err, es, WGML_ERR_UNSUPPORTED,
                        "tokenizer.json: added token '%.*s' uses single_word/lstrip/rstrip",
                        (int)len, content);
        wgml_status st = wgml_tokenizer_add_token(tok, content, len, (int32_t)id, normalized,
                                                  special);
        if (st) return st;
    }
    return WGML_OK;
}

static wgml_status load_json_doc(wgml_tokenizer *tok, const wgml_json *root, char *err, size_t es)
{
    if (wgml_json_type_of(root) != WGML_JSON_OBJECT)
        return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: not an object");
    wgml_status st = load_model(tok, wgml_json_get(root, "model"), err, es);
    if (!st) st = load_normalizer(tok, wgml_json_get(root, "normalizer"), err, es);
    if (st) return st;
    const wgml_json *pre = wgml_json_get(root, "pre_tokenizer");
    if (pre && wgml_json_type_of(pre) != WGML_JSON_NULL) {
        if (!type_is(pre, "BertPreTokenizer"))
            return fail(err, es, WGML_ERR_UNSUPPORTED,
                        "tokenizer.json: pre_tokenizer (only BertPreTokenizer or null)");
        tok->bert_pre_tokenizer = true;
    }
    st = load_post_processor(tok, wgml_json_get(root, "post_processor"), err, es);
    if (!st) st = load_added_tokens(tok, wgml_json_get(root, "added_tokens"), err, es);
    if (st) return st;
    const wgml_json *trunc = wgml_json_get(root, "truncation");
    if (trunc && wgml_json_type_of(trunc) != WGML_JSON_NULL) {
        size_t ml;
        if (!get_size(wgml_json_get(trunc, "max_length"), SIZE_MAX - 1, &ml))
            return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer.json: bad truncation.max_length");
        size_t len;
        const char *dir = wgml_json_string(wgml_json_get(trunc, "direction"), &len);
        if (dir && !(len == 5 && memcmp(dir, "Right", 5) == 0))
            return fail(err, es, WGML_ERR_UNSUPPORTED,
                        "tokenizer.json: truncation direction '%.*s' (only Right)", (int)len, dir);
        tok->max_length = ml;
    }
    const wgml_json *pad = wgml_json_get(root, "padding");
    if (pad && wgml_json_type_of(pad) != WGML_JSON_NULL) {
        size_t id;
        if (get_size(wgml_json_get(pad, "pad_id"), WGML_TOKENIZER_MAX_ID - 1,
                     &id)) tok->pad_id = (int32_t)id;
    }
    return WGML_OK;
}

// ---------------------------------------------------------------- finishing

// The ids of the usual special tokens, by their names, once everything is loaded.
static wgml_status finish(wgml_tokenizer *tok, char *err, size_t es)
{
    wgml_status st = wgml_tokenizer_finish(tok);
    if (st) return fail(err, es, st, "tokenizer: %s", wgml_status_name(st));
    if (tok->vocab.n == 0) return fail(err, es, WGML_ERR_BAD_FILE, "tokenizer: empty vocabulary");
    tok->special.unk = tok->unk_id;
    tok->special.cls = wgml_tokenizer_token_to_id(tok, "[CLS]", 5);
    tok->special.sep = wgml_tokenizer_token_to_id(tok, "[SEP]", 5);
    tok->special.mask = wgml_tokenizer_token_to_id(tok, "[MASK]", 6);
    tok->special.pad = tok->pad_id >= 0 ? tok->pad_id : wgml_tokenizer_token_to_id(tok, "[PAD]", 5);
    if (tok->special.cls < 0 && tok->n_post_prefix) tok->special.cls = tok->post_prefix[0];
    if (tok->special.sep < 0 && tok->n_post_suffix)
        tok->special.sep = tok->post_suffix[tok->n_post_suffix - 1];
    if (tok->pad_id < 0) tok->pad_id = tok->special.pad >= 0 ? tok->special.pad : 0;
    return WGML_OK;
}

wgml_status wgml_tokenizer_load_json_buffer(const char *data, size_t len, wgml_tokenizer **out,
                                            char *err, size_t err_size)
{
    if (!out || (!data && len))
        return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "tokenizer: NULL argument");
    *out = NULL;
    wgml_json_doc *doc = NULL;
    char jerr[256] = "";
    wgml_status st = wgml_json_parse(data, len, NULL, &doc, jerr, sizeof(jerr));
    if (st) return fail(err, err_size, st, "tokenizer.json: %s", jerr);
    wgml_tokenizer *tok = wgml_tokenizer_alloc();
    if (!tok) {
        wgml_json_free(doc);
        return fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    }
    st = load_json_doc(tok, wgml_json_root(doc), err, err_size);
    wgml_json_free(doc);
    if (!st) st = finish(tok, err, err_size);
    if (st) {
        wgml_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return WGML_OK;
}

wgml_status wgml_tokenizer_load_json(const char *path, wgml_tokenizer **out, char *err,
                                     size_t err_size)
{
    if (!path || !out) return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT,
                                   "tokenizer: NULL argument");
    *out = NULL;
    char *data;
    size_t len;
    wgml_status st = read_file(path, &data, &len, err, err_size);
    if (st) return st;
    st = wgml_tokenizer_load_json_buffer(data, len, out, err, err_size);
    free(data);
    return st;
}

// ---------------------------------------------------------------- vocab.txt

// Only whitespace as Rust's str::trim_end sees it (White_Space); the line is
// valid UTF-8 (checked by the caller).
static size_t trim_end(const char *s, size_t len)
{
    size_t end = 0;
    for (size_t pos = 0; pos < len;) {
        uint32_t cp = wgml_utf8_decode((const uint8_t *)s, len, &pos);
        if (!(wgml_unicode_props_of(cp) & WGML_UNICODE_WHITESPACE)) end = pos;
    }
    return end;
}

static bool utf8_valid(const char *s, size_t len)
{
    for (size_t pos = 0; pos < len;) {
        size_t at = pos;
        uint32_t cp = wgml_utf8_decode((const uint8_t *)s, len, &pos);
        if (cp == WGML_UNICODE_REPLACEMENT && pos - at != 3) return false;
    }
    return true;
}

// One token per line, id = line number (models/wordpiece/mod.rs read_file:
// lines split at \n with a \r before it dropped, then trim_end).
static wgml_status load_vocab_lines(wgml_tokenizer *tok, const char *data, size_t len,
                                    char *err, size_t es)
{
    size_t line = 0;
    for (size_t pos = 0; pos < len; line++) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t n = end - pos;
        if (n && data[pos + n - 1] == '\r') n--;
        if (!utf8_valid(data + pos, n))
            return fail(err, es, WGML_ERR_BAD_FILE, "vocab.txt: line %zu is not UTF-8", line + 1);
        if (line >= WGML_TOKENIZER_MAX_ID) return fail(err, es, WGML_ERR_BAD_FILE,
                                                       "vocab.txt: too many lines");
        wgml_status st = wgml_vocab_set(&tok->vocab, (int32_t)line, data + pos,
                                        trim_end(data + pos, n));
        if (st) return fail(err, es, st, "vocab.txt: %s", wgml_status_name(st));
        pos = end + 1;
    }
    if (line == 0) return fail(err, es, WGML_ERR_BAD_FILE, "vocab.txt: empty");
    return WGML_OK;
}

// Looks a token up before the index exists (linear; a handful of calls).
static int32_t vocab_scan(const wgml_vocab *v, const char *s)
{
    size_t len = strlen(s);
    int32_t found = -1;
    for (size_t id = 0; id < v->n; id++)
        if (v->off[id] != UINT32_MAX && v->len[id] == len && memcmp(v->pool + v->off[id], s,
                                                                    len) == 0)
            found = (int32_t)id;
    return found;
}

// BERT's tokenizer as tokenizers' BertWordPieceTokenizer builds it from a
// vocabulary: BertNormalizer, BertPreTokenizer, [CLS] A [SEP], and the five
// special tokens as added tokens when the vocabulary has them.
static wgml_status setup_bert(wgml_tokenizer *tok, const wgml_wordpiece_options *opt, char *err,
                              size_t es)
{
    wgml_wordpiece_options o = opt ? *opt : (wgml_wordpiece_options){0};
    tok->has_normalizer = true;
    tok->clean_text = true;
    tok->handle_chinese_chars = !o.no_chinese_spacing;
    tok->lowercase = !o.cased;
    tok->strip_accents = o.strip_accents ? o.strip_accents > 0 : tok->lowercase;
    tok->bert_pre_tokenizer = true;
    tok->max_length = o.max_length ? o.max_length : WGML_TOKENIZER_NO_TRUNCATION;
    tok->unk_id = vocab_scan(&tok->vocab, "[UNK]");
    if (tok->unk_id < 0) return fail(err, es, WGML_ERR_BAD_FILE, "vocab.txt: no [UNK] token");
    static const char *const names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int32_t id = vocab_scan(&tok->vocab, names[i]);
        wgml_status st = id < 0 ? WGML_OK
                                : wgml_tokenizer_add_token(tok, names[i], strlen(names[i]), id,
                                                           false, true);
        if (st) return st;
    }
    int32_t cls = vocab_scan(&tok->vocab, "[CLS]"), sep = vocab_scan(&tok->vocab, "[SEP]");
    if (cls >= 0 && sep >= 0) {
        if (!ids_append(&tok->post_prefix, &tok->n_post_prefix, cls) ||
            !ids_append(&tok->post_suffix, &tok->n_post_suffix, sep))
            return WGML_ERR_OUT_OF_MEMORY;
    }
    return WGML_OK;
}

wgml_status wgml_tokenizer_load_vocab_buffer(const char *data, size_t len,
                                             const wgml_wordpiece_options *opt,
                                             wgml_tokenizer **out, char *err, size_t err_size)
{
    if (!out || (!data && len))
        return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "tokenizer: NULL argument");
    *out = NULL;
    wgml_tokenizer *tok = wgml_tokenizer_alloc();
    if (!tok) return fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    wgml_status st = load_vocab_lines(tok, data, len, err, err_size);
    if (!st) st = setup_bert(tok, opt, err, err_size);
    if (!st) st = finish(tok, err, err_size);
    if (st) {
        wgml_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return WGML_OK;
}

wgml_status wgml_tokenizer_load_vocab(const char *path, const wgml_wordpiece_options *opt,
                                      wgml_tokenizer **out, char *err, size_t err_size)
{
    if (!path || !out) return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT,
                                   "tokenizer: NULL argument");
    *out = NULL;
    char *data;
    size_t len;
    wgml_status st = read_file(path, &data, &len, err, err_size);
    if (st) return st;
    st = wgml_tokenizer_load_vocab_buffer(data, len, opt, out, err, err_size);
    free(data);
    return st;
}

// ---------------------------------------------------------------- directories

// Parses dir/name when it exists; *doc is NULL when it does not.
static wgml_status read_json_opt(const char *dir, const char *name, wgml_json_doc **doc,
                                 char *err, size_t es)
{
    *doc = NULL;
    char *path = path_join(dir, name);
    if (!path) return WGML_ERR_OUT_OF_MEMORY;
    char *data;
    size_t len;
    wgml_status st = read_file(path, &data, &len, NULL, 0);
    if (st == WGML_ERR_INVALID_ARGUMENT) {   // absent
        free(path);
        return WGML_OK;
    }
    if (!st) {
        char jerr[256] = "";
        st = wgml_json_parse(data, len, NULL, doc, jerr, sizeof(jerr));
        if (st) fail(err, es, st, "%s: %s", path, jerr);
        free(data);
    } else {
        fail(err, es, st, "%s: cannot read", path);
    }
    free(path);
    return st;
}

wgml_status wgml_tokenizer_load_dir(const char *dir, wgml_tokenizer **out, char *err,
                                    size_t err_size)
{
    if (!dir || !out) return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT,
                                  "tokenizer: NULL argument");
    *out = NULL;
    wgml_json_doc *cfg = NULL, *sbert = NULL;
    wgml_status st = read_json_opt(dir, "tokenizer_config.json", &cfg, err, err_size);
    if (!st) st = read_json_opt(dir, "sentence_bert_config.json", &sbert, err, err_size);
    const wgml_json *c = cfg ? wgml_json_root(cfg) : NULL;
    char *path = st ? NULL : path_join(dir, "tokenizer.json");
    if (!st && !path) st = WGML_ERR_OUT_OF_MEMORY;
    if (!st) {
        st = wgml_tokenizer_load_json(path, out, err, err_size);
        if (st == WGML_ERR_INVALID_ARGUMENT) {
            // No tokenizer.json: vocab.txt, configured by tokenizer_config.json.
            free(path);
            path = path_join(dir, "vocab.txt");
            wgml_wordpiece_options o = {0};
            bool lower = true, chinese = true, strip = true;
            if (c) {
                get_bool(c, "do_lower_case", &lower);
                get_bool(c, "tokenize_chinese_chars", &chinese);
                // null or absent: follow lowercase, as BertNormalizer does.
                const wgml_json *sa = wgml_json_get(c, "strip_accents");
                if (wgml_json_bool(sa, &strip)) o.strip_accents = strip ? 1 : -1;
            }
            o.cased = !lower;
            o.no_chinese_spacing = !chinese;
            st = path ? wgml_tokenizer_load_vocab(path, &o, out, err, err_size)
                      : WGML_ERR_OUT_OF_MEMORY;
            if (st == WGML_ERR_INVALID_ARGUMENT)
                fail(err, err_size, WGML_ERR_BAD_FILE, "%s: neither tokenizer.json nor vocab.txt",
                     dir);
            if (st == WGML_ERR_INVALID_ARGUMENT) st = WGML_ERR_BAD_FILE;
        }
    }
    free(path);
    if (!st) {
        // transformers writes a huge model_max_length (int(1e30)) for "none".
        size_t ml;
        if (sbert && get_size(wgml_json_get(wgml_json_root(sbert), "max_seq_length"),
                              SIZE_MAX - 1, &ml) && ml)
            (*out)->max_length = ml;
        else if (c && get_size(wgml_json_get(c, "model_max_length"), 1u << 30, &ml) && ml)
            (*out)->max_length = ml;
    }
    wgml_json_free(cfg);
    wgml_json_free(sbert);
    return st;
}

void wgml_tokenizer_free(wgml_tokenizer *tok)
{
    if (!tok) return;
    wgml_bpe_free(tok->bpe);
    wgml_vocab_free(&tok->vocab);
    for (size_t i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].cps);
    }
    free(tok->added);
    free(tok->post_prefix);
    free(tok->post_suffix);
    free(tok);
}

// ---------------------------------------------------------------- vocabulary

size_t wgml_tokenizer_vocab_size(const wgml_tokenizer *tok)
{
    size_t n = tok->vocab.n;
    for (size_t i = 0; i < tok->n_added; i++)
        if ((size_t)tok->added[i].id + 1 > n) n = (size_t)tok->added[i].id + 1;
    return n;
}

// Added tokens first, then the model, as tokenizers' id_to_token and token_to_id.
const char *wgml_tokenizer_id_to_token(const wgml_tokenizer *tok, int32_t id, size_t *len)
{
    for (size_t i = 0; i < tok->n_added; i++) {
        if (tok->added[i].id == id) {
            if (len) *len = tok->added[i].content_len;
            return tok->added[i].content;
        }
    }
    if (id < 0 || (size_t)id >= tok->vocab.n || tok->vocab.off[id] == UINT32_MAX) return NULL;
    if (len) *len = tok->vocab.len[id];
    return tok->vocab.pool + tok->vocab.off[id];
}

int32_t wgml_tokenizer_token_to_id(const wgml_tokenizer *tok, const char *token, size_t len)
{
    if (!token && len) return -1;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].content_len == len && memcmp(tok->added[i].content, token, len) == 0)
            return tok->added[i].id;
    return wgml_vocab_find2(&tok->vocab, token ? token : "", len, "", 0);
}

wgml_tokenizer_special wgml_tokenizer_special_ids(const wgml_tokenizer *tok)
{
    return tok->special;
}

size_t wgml_tokenizer_default_max_length(const wgml_tokenizer *tok)
{
    return tok->max_length;
}

// ---------------------------------------------------------------- encoding

// A GGUF tokenizer under the Hugging Face style call: special tokens in the
// text are parsed (as tokenizers matches added tokens), the text's ids are
// truncated to what leaves room for BOS and EOS.
static wgml_status encode_gguf(const wgml_tokenizer *tok, const char *text, size_t len,
                               bool add_special, size_t ml, wgml_ids *out, char *err, size_t es)
{
    bool bos = add_special && wgml_tokenizer_adds_bos(tok);
    bool eos = add_special && wgml_tokenizer_adds_eos(tok);
    size_t n_special = (size_t)bos + (size_t)eos;
    if (ml < n_special)
        return fail(err, es, WGML_ERR_INVALID_ARGUMENT,
                    "encode: max_length %zu cannot hold the %zu special tokens", ml, n_special);
    wgml_ids body = {0};
    // Tokenizing with add_special checks that BOS and EOS exist when asked for.
    wgml_status st = wgml_bpe_tokenize(tok, text, len, add_special, true, &body, err, es);
    if (st) {
        free(body.v);
        return st;
    }
    size_t first = bos, n = body.n - n_special;
    size_t limit = ml == WGML_TOKENIZER_NO_TRUNCATION ? SIZE_MAX : ml - n_special;
    if (n > limit) n = limit;
    if (bos) st = wgml_ids_push(out, body.v[0]);
    for (size_t i = 0; !st && i < n; i++) st = wgml_ids_push(out, body.v[first + i]);
    if (!st && eos) st = wgml_ids_push(out, body.v[body.n - 1]);
    free(body.v);
    if (st) return fail(err, es, st, "encode: %s", wgml_status_name(st));
    return WGML_OK;
}

static wgml_status encode_ids(const wgml_tokenizer *tok, const char *text, size_t len,
                              bool add_special, size_t max_length, wgml_ids *out, char *err,
                              size_t es)
{
    out->n = 0;
    if (!text && len) return fail(err, es, WGML_ERR_INVALID_ARGUMENT, "encode: NULL text");
    size_t ml = max_length ? max_length : tok->max_length;
    if (tok->bpe) return encode_gguf(tok, text, len, add_special, ml, out, err, es);
    size_t n_special = add_special ? tok->n_post_prefix + tok->n_post_suffix : 0;
    if (ml < n_special)
        return fail(err, es, WGML_ERR_INVALID_ARGUMENT,
                    "encode: max_length %zu cannot hold the %zu special tokens", ml, n_special);
    size_t limit = ml == WGML_TOKENIZER_NO_TRUNCATION ? SIZE_MAX : ml - n_special;
    wgml_status st = WGML_OK;
    for (size_t i = 0; add_special && !st && i < tok->n_post_prefix; i++)
        st = wgml_ids_push(out, tok->post_prefix[i]);
    if (!st) st = wgml_tokenizer_run(tok, text, len, limit, out);
    for (size_t i = 0; add_special && !st && i < tok->n_post_suffix; i++)
        st = wgml_ids_push(out, tok->post_suffix[i]);
    if (st) return fail(err, es, st, "encode: %s", wgml_status_name(st));
    return WGML_OK;
}

wgml_status wgml_tokenizer_encode(const wgml_tokenizer *tok, const char *text, size_t len,
                                  bool add_special_tokens, size_t max_length, int32_t **ids,
                                  size_t *n_ids, char *err, size_t err_size)
{
    if (!tok || !ids || !n_ids)
        return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    wgml_ids out = {0};
    wgml_status st = encode_ids(tok, text, len, add_special_tokens, max_length, &out, err,
                                err_size);
    if (st) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n_ids = out.n;
    return WGML_OK;
}

void wgml_tokenizer_ids_free(int32_t *ids) { free(ids); }

wgml_status wgml_tokenizer_tokenize(const wgml_tokenizer *tok, const char *text, size_t len,
                                    bool add_special, bool parse_special, int32_t **ids,
                                    size_t *n_ids, char *err, size_t err_size)
{
    if (!tok || !ids || !n_ids)
        return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "tokenize: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    if (!tok->bpe)
        return wgml_tokenizer_encode(tok, text, len, add_special, WGML_TOKENIZER_NO_TRUNCATION,
                                     ids, n_ids, err, err_size);
    wgml_ids out = {0};
    wgml_status st = wgml_bpe_tokenize(tok, text, len, add_special, parse_special, &out, err,
                                       err_size);
    if (st) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n_ids = out.n;
    return WGML_OK;
}

wgml_status wgml_tokenizer_encode_batch(const wgml_tokenizer *tok, const char *const *texts,
                                        const size_t *lens, size_t n_texts,
                                        bool add_special_tokens, size_t max_length,
                                        size_t pad_to, wgml_token_batch *out, char *err,
                                        size_t err_size)
{
    if (!out) return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "encode_batch: NULL argument");
    memset(out, 0, sizeof(*out));
    if (!tok || (n_texts && (!texts || !lens)))
        return fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "encode_batch: NULL argument");
    wgml_ids *rows = calloc(n_texts ? n_texts : 1, sizeof(wgml_ids));
    out->lengths = calloc(n_texts ? n_texts : 1, sizeof(size_t));
    wgml_status st = rows && out->lengths ? WGML_OK : WGML_ERR_OUT_OF_MEMORY;
    size_t longest = 0;
    for (size_t i = 0; !st && i < n_texts; i++) {
        st = encode_ids(tok, texts[i], lens[i], add_special_tokens, max_length, &rows[i], err,
                        err_size);
        if (st) break;
        out->lengths[i] = rows[i].n;
        if (rows[i].n > longest) longest = rows[i].n;
    }
    size_t cols = pad_to ? pad_to : longest;
    if (!st && longest > cols)
        st = fail(err, err_size, WGML_ERR_INVALID_ARGUMENT,
                  "encode_batch: a text has %zu tokens, more than pad_to %zu (lower max_length)",
                  longest, pad_to);
    if (!st && cols && n_texts > SIZE_MAX / sizeof(int32_t) / cols)
        st = fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "encode_batch: %zu x %zu is too large",
                  n_texts, cols);
    if (!st) {
        size_t cells = n_texts * cols;
        out->ids = malloc((cells ? cells : 1) * sizeof(int32_t));
        out->attention_mask = malloc((cells ? cells : 1) * sizeof(int32_t));
        if (!out->ids || !out->attention_mask)
            st = fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "encode_batch: out of memory");
    }
    for (size_t i = 0; !st && i < n_texts; i++) {
        int32_t *row = out->ids + i * cols, *mask = out->attention_mask + i * cols;
        for (size_t j = 0; j < cols; j++) {
            bool tokn = j < rows[i].n;
            row[j] = tokn ? rows[i].v[j] : tok->pad_id;
            mask[j] = tokn;
        }
    }
    for (size_t i = 0; rows && i < n_texts; i++) free(rows[i].v);
    free(rows);
    if (st) {
        if (st == WGML_ERR_OUT_OF_MEMORY && err && err_size && !err[0])
            fail(err, err_size, st, "encode_batch: out of memory");
        wgml_token_batch_free(out);
        return st;
    }
    out->n_texts = n_texts;
    out->seq_len = cols;
    return WGML_OK;
}

void wgml_token_batch_free(wgml_token_batch *batch)
{
    if (!batch) return;
    free(batch->ids);
    free(batch->attention_mask);
    free(batch->lengths);
    memset(batch, 0, sizeof(*batch));
}
