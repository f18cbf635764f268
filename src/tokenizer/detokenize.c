/*
 * Decoding with a GGUF tokenizer: pieces (llama_token_to_piece), whole texts
 * (llama_detokenize) and a streaming decoder that only ever hands out valid
 * UTF-8.
 */
#include "tokenizer/bpe.h"
#include "tokenizer/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned ATTR_HIDDEN = WGML_TOKEN_ATTR_UNKNOWN | WGML_TOKEN_ATTR_CONTROL;

const char *wgml_tokenizer_token_to_piece(const wgml_tokenizer *tok, int32_t id, bool special,
                                          size_t *len)
{
    if (len) *len = 0;
    if (!tok || !tok->bpe || id < 0 || (size_t)id >= tok->bpe->n) return NULL;
    const wgml_bpe *b = tok->bpe;
    if (!special && (b->attr[id] & ATTR_HIDDEN)) return "";
    if (len) *len = b->piece_len[id];
    return b->piece_pool ? b->piece_pool + b->piece_off[id] : "";
}

// llama.cpp's clean_up_tokenization_spaces, three passes in place over
// t[0..n): drop the space before ? ! . ,; drop both spaces around a lone
// apostrophe (" ' "); drop the space before 's 'm 're 've. The passes read
// what earlier steps wrote, as llama.cpp's do (the second pass blanks the
// space after an apostrophe with a NUL that the next character sees).
static size_t clean_spaces(char *t, size_t n)
{
    size_t total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        t[total++] = x;
    }
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            total--;
            t[++i] = '\0';
        }
        t[total++] = x;
    }
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') {
                total--;
            } else if (i + 2 < n) {
                char x2 = t[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
            }
        }
        t[total++] = x;
    }
    return total;
}

wgml_status wgml_tokenizer_detokenize(const wgml_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                      bool remove_special, bool unparse_special, char **text,
                                      size_t *len, char *err, size_t err_size)
{
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!tok || !text || !len || (!ids && n_ids)) {
        if (err && err_size) snprintf(err, err_size, "detokenize: NULL argument");
        return WGML_ERR_INVALID_ARGUMENT;
    }
    const wgml_bpe *b = tok->bpe;
    if (!b) {
        if (err && err_size) snprintf(err, err_size, "detokenize: only GGUF tokenizers decode");
        return WGML_ERR_UNSUPPORTED;
    }
    bool remove_space = b->add_space_prefix;
    if (remove_special && b->add_bos && n_ids && ids[0] == b->ids[WGML_BPE_BOS]) {
        // llama.cpp keeps the leading space when it drops BOS.
        remove_space = false;
        ids++;
        n_ids--;
    }
    if (remove_special && b->add_eos && n_ids && ids[n_ids - 1] == b->ids[WGML_BPE_EOS]) n_ids--;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= b->n) {
            if (err && err_size) snprintf(err, err_size, "detokenize: id %d out of range", ids[i]);
            return WGML_ERR_INVALID_ARGUMENT;
        }
        total += b->piece_len[ids[i]];
    }
    char *out = malloc(total + 1);
    if (!out) {
        if (err && err_size) snprintf(err, err_size, "detokenize: out of memory");
        return WGML_ERR_OUT_OF_MEMORY;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t k;
        const char *p = wgml_tokenizer_token_to_piece(tok, ids[i], unparse_special, &k);
        if (!unparse_special && (b->attr[ids[i]] & ATTR_HIDDEN)) {
            remove_space = false;
            continue;
        }
        if (remove_space && k && p[0] == ' ') {
            p++;
            k--;
        }
        remove_space = false;
        memcpy(out + n, p, k);
        n += k;
    }
    if (b->clean_spaces) n = clean_spaces(out, n);
    out[n] = '\0';
    *text = out;
    *len = n;
    return WGML_OK;
}

// ---------------------------------------------------------------- streaming

struct wgml_token_stream {
    const wgml_tokenizer *tok;
    bool special;
    uint8_t held[4];         // (n_held) the start of a character a later piece may finish
    size_t n_held;
    char *out;               // (cap) the last text handed out
    size_t cap;
};

wgml_status wgml_token_stream_create(const wgml_tokenizer *tok, bool special,
                                     wgml_token_stream **out)
{
    if (!out) return WGML_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!tok) return WGML_ERR_INVALID_ARGUMENT;
    if (!tok->bpe) return WGML_ERR_UNSUPPORTED;
    wgml_token_stream *s = calloc(1, sizeof(*s));
    if (!s) return WGML_ERR_OUT_OF_MEMORY;
    s->tok = tok;
    s->special = special;
    *out = s;
    return WGML_OK;
}

void wgml_token_stream_free(wgml_token_stream *s)
{
    if (!s) return;
    free(s->out);
    free(s);
}

// Whether s[0..n) (n < 4) can still grow into a well-formed sequence: the
// lead and second-byte ranges of the Unicode Standard's Table 3-7.
static bool incomplete_prefix(const uint8_t *s, size_t n)
{
    uint8_t b0 = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) need = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return false;
    }
    if (n >= need) return false;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < lo || s[i] > hi) return false;
        lo = 0x80;
        hi = 0xBF;
    }
    return true;
}

// Turns buf[0..n) into valid UTF-8 in s->out: complete characters as they
// are, U+FFFD for each maximal ill-formed subpart; a possible start of a
// character at the very end is held (unless at_end).
static wgml_status stream_emit(wgml_token_stream *s, const uint8_t *buf, size_t n, bool at_end,
                               const char **text, size_t *len)
{
    // Each input byte gives at most 3 output bytes (a lone byte as U+FFFD).
    if (n > (SIZE_MAX - 1) / 3) return WGML_ERR_OUT_OF_MEMORY;
    size_t need = 3 * n + 1;
    if (need > s->cap) {
        char *o = realloc(s->out, need);
        if (!o) return WGML_ERR_OUT_OF_MEMORY;
        s->out = o;
        s->cap = need;
    }
    size_t k = 0, i = 0;
    s->n_held = 0;
    while (i < n) {
        if (!at_end && n - i < 4 && incomplete_prefix(buf + i, n - i)) {
            memcpy(s->held, buf + i, n - i);
            s->n_held = n - i;
            break;
        }
        size_t pos = i;
        uint32_t cp = wgml_utf8_decode(buf, n, &pos);
        if (cp == WGML_UNICODE_REPLACEMENT && !(pos - i == 3 && memcmp(buf + i, "\xEF\xBF\xBD", 3) == 0)) {
            memcpy(s->out + k, "\xEF\xBF\xBD", 3);
            k += 3;
        } else {
            memcpy(s->out + k, buf + i, pos - i);
            k += pos - i;
        }
        i = pos;
    }
    s->out[k] = '\0';
    if (text) *text = s->out;
    if (len) *len = k;
    return WGML_OK;
}

wgml_status wgml_token_stream_push(wgml_token_stream *s, int32_t id, const char **text,
                                   size_t *len)
{
    if (text) *text = "";
    if (len) *len = 0;
    if (!s) return WGML_ERR_INVALID_ARGUMENT;
    size_t k;
    const char *p = wgml_tokenizer_token_to_piece(s->tok, id, s->special, &k);
    if (!p) return WGML_ERR_INVALID_ARGUMENT;
    if (k > SIZE_MAX - 4) return WGML_ERR_OUT_OF_MEMORY;
    uint8_t *buf = malloc(s->n_held + k + 1);
    if (!buf) return WGML_ERR_OUT_OF_MEMORY;
    memcpy(buf, s->held, s->n_held);
    memcpy(buf + s->n_held, p, k);
    size_t held = s->n_held;
    wgml_status st = stream_emit(s, buf, held + k, false, text, len);
    if (st) s->n_held = held;   // unchanged on failure
    free(buf);
    return st;
}

void wgml_token_stream_flush(wgml_token_stream *s, const char **text, size_t *len)
{
    if (text) *text = "";
    if (len) *len = 0;
    if (!s) return;
    uint8_t buf[4];
    size_t n = s->n_held;
    memcpy(buf, s->held, n);
    if (stream_emit(s, buf, n, true, text, len)) {
        s->n_held = 0;   // nothing to say but that it is gone
    }
}
