/*
 * Strict JSON reader (RFC 8259).
 *
 * Accepted text, and nothing else:
 *   document = ws value ws                   (any value may be the root)
 *   ws       = *( %x20 / %x09 / %x0A / %x0D )
 *   value    = object / array / string / number / true / false / null
 *   object   = "{" ws [ string ws ":" ws value ws *( "," ws string ws ":" ws value ws ) ] "}"
 *   array    = "[" ws [ value ws *( "," ws value ws ) ] "]"
 *   number   = [ "-" ] ( "0" / %x31-39 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
 *   string   = '"' *( unescaped UTF-8 >= U+0020 except '"' and '\' / escape ) '"'
 *   escape   = "\" ( '"' / "\" / "/" / "b" / "f" / "n" / "r" / "t" / "u" 4HEXDIG )
 * A \u escape of a high surrogate must be followed by one of a low surrogate;
 * any other surrogate escape is an error. Raw bytes must be well-formed UTF-8
 * (no overlong forms, no encoded surrogates, nothing past U+10FFFF). There is
 * no byte order mark, no comments, no trailing comma, no NaN or Infinity.
 * A number whose magnitude rounds past the largest double is an error; one
 * that underflows becomes the nearest subnormal or zero, as strtod gives it.
 *
 * The parser is iterative: an explicit stack of open containers (grown on
 * demand, bounded by max_depth), so hostile nesting cannot exhaust the C
 * stack. Children of an open container wait on a pending stack; when the
 * container closes they are copied into the arena as one contiguous array,
 * so every value of the document lives in the doc's arena and is freed at
 * once by wgml_json_free.
 */
#include "formats/json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- values

typedef struct json_key {
    const char *s;
    size_t len;       // bytes, without the terminating NUL
} json_key;

struct wgml_json {
    uint8_t type;     // wgml_json_type
    bool flag;        // BOOL: the value; NUMBER: written as an integer that fits int64
    size_t n;         // STRING: bytes without the NUL; ARRAY/OBJECT: element count
    union {
        double num;
        const char *str;
        wgml_json *items;     // ARRAY/OBJECT: n values
    } a;
    union {
        int64_t i;            // NUMBER when flag is set
        json_key *keys;       // OBJECT: n keys, parallel to a.items
    } b;
};

// ---------------------------------------------------------------- arena

// Chunks are chained; allocation bumps a pointer in the newest chunk. Big
// requests get a chunk of their own so the growth policy never wastes more
// than the current chunk's tail. Strings take alignment 1: a document of many
// short strings should cost little more than its text.
typedef struct arena_chunk {
    struct arena_chunk *prev;
    size_t size, used;    // bytes of data[]
    _Alignas(max_align_t) unsigned char data[];
} arena_chunk;

typedef struct arena {
    arena_chunk *head;
    size_t next_size;     // bytes for the next ordinary chunk
} arena;

// `align` is a power of two no larger than _Alignof(max_align_t).
static void *arena_alloc(arena *a, size_t n, size_t align)
{
    arena_chunk *c = a->head;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || at > c->size || c->size - at < n) {
        size_t size = a->next_size ? a->next_size : 4096;
        if (size < n) size = n;
        if (size > SIZE_MAX - sizeof(arena_chunk)) return NULL;
        c = malloc(sizeof(arena_chunk) + size);
        if (!c) return NULL;
        c->prev = a->head;
        c->size = size;
        c->used = 0;
        a->head = c;
        at = 0;
        if (a->next_size < ((size_t)1 << 20)) a->next_size = a->next_size ? a->next_size * 2 : 8192;
    }
    c->used = at + n;
    return c->data + at;
}

static void arena_free(arena *a)
{
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *prev = c->prev;
        free(c);
        c = prev;
    }
    a->head = NULL;
}

struct wgml_json_doc {
    arena mem;
    wgml_json root;
};

// ---------------------------------------------------------------- parser state

typedef struct pending_key {
    json_key key;
    size_t offset;        // byte offset of the key's opening quote, for duplicate errors
} pending_key;

typedef struct frame {
    bool is_object;
    size_t first_value;   // index of the first child in the pending values
    size_t first_key;     // index of the first key in the pending keys (objects)
} frame;

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    wgml_json_options opt;
    arena *mem;
    char *err;
    size_t err_size;
    wgml_status status;   // set with the first error; parsing stops there

    frame *frames;
    size_t n_frames, cap_frames;
    wgml_json *values;    // children of open containers, innermost last
    size_t n_values, cap_values;
    pending_key *keys;
    size_t n_keys, cap_keys;
    char *scratch;        // number text handed to strtod
    size_t cap_scratch;
} parser;

static bool fail_at(parser *p, wgml_status st, size_t offset, const char *fmt, ...)
{
    if (p->status) return false;
    p->status = st;
    if (p->err && p->err_size) {
        int n = snprintf(p->err, p->err_size, "offset %zu: ", offset);
        if (n >= 0 && (size_t)n < p->err_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return false;
}

#define BAD(p, off, ...) fail_at((p), WGML_ERR_BAD_FILE, (off), __VA_ARGS__)
#define NOMEM(p) fail_at((p), WGML_ERR_OUT_OF_MEMORY, (p)->pos, "out of memory")

// Grows *buf (elements of `elem` bytes) so that it holds at least `need`.
static bool grow(parser *p, void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2) return NOMEM(p);
        c *= 2;
    }
    if (c > SIZE_MAX / elem) return NOMEM(p);
    void *nb = realloc(*buf, c * elem);
    if (!nb) return NOMEM(p);
    *buf = nb;
    *cap = c;
    return true;
}

// ---------------------------------------------------------------- lexing helpers

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

// A printable description of the byte at pos, for error messages.
static const char *describe(parser *p, char buf[16])
{
    if (p->pos >= p->len) return "end of input";
    unsigned char c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 16, "'%c'", c);
    else snprintf(buf, 16, "byte 0x%02x", c);
    return buf;
}

static bool literal(parser *p, const char *word, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return BAD(p, p->pos, "invalid literal (expected '%s')", word);
    p->pos += n;
    return true;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Four hex digits at p->s[at]; -1 when malformed or cut short.
static long read_hex4(parser *p, size_t at)
{
    if (p->len - at < 4) return -1;
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        int d = hex_digit(p->s[at + i]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

// Length of the well-formed UTF-8 sequence at s[0..avail), or 0 when it is
// not one (Unicode table 3-7: no overlong forms, no surrogates, <= U+10FFFF).
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;   // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

// ---------------------------------------------------------------- strings

// Parses the string whose opening quote is at p->pos into the arena.
static bool parse_string(parser *p, const char **out, size_t *out_len)
{
    size_t open = p->pos;
    // Find the closing quote first: the decoded text is never longer than the
    // raw text between the quotes, which bounds the arena allocation.
    size_t end = open + 1;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) return BAD(p, open, "unterminated string");
    size_t raw = end - open - 1;
    char *dst = arena_alloc(p->mem, raw + 1, 1);
    if (!dst) return NOMEM(p);
    size_t n = 0, i = open + 1;
    while (i < end) {
        unsigned char c = p->s[i];
        if (c == '\\') {
            unsigned char e = p->s[i + 1];   // i + 1 < end: the scan stepped over it
            switch (e) {
            case '"': dst[n++] = '"'; break;
            case '\\': dst[n++] = '\\'; break;
            case '/': dst[n++] = '/'; break;
            case 'b': dst[n++] = '\b'; break;
            case 'f': dst[n++] = '\f'; break;
            case 'n': dst[n++] = '\n'; break;
            case 'r': dst[n++] = '\r'; break;
            case 't': dst[n++] = '\t'; break;
            case 'u': {
                long u = i + 6 <= end ? read_hex4(p, i + 2) : -1;
                if (u < 0) return BAD(p, i, "invalid \\u escape (needs 4 hex digits)");
                uint32_t cp = (uint32_t)u;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return BAD(p, i, "lone low surrogate \\u%04X", (unsigned)cp);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    long lo = -1;
                    if (i + 12 <= end && p->s[i + 6] == '\\' && p->s[i + 7] == 'u')
                        lo = read_hex4(p, i + 8);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return BAD(p, i, "high surrogate \\u%04X not followed by a low surrogate",
                                   (unsigned)cp);
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                    i += 6;
                }
                n += put_utf8(dst + n, cp);
                i += 6;
                continue;
            }
            default:
                return BAD(p, i, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
            }
            i += 2;
        } else if (c < 0x20) {
            return BAD(p, i, "control character 0x%02x in a string (must be escaped)", c);
        } else {
            size_t k = utf8_seq_len(p->s + i, end - i);
            if (!k) return BAD(p, i, "invalid UTF-8 in a string");
            memcpy(dst + n, p->s + i, k);
            n += k;
            i += k;
        }
    }
    dst[n] = '\0';
    *out = dst;
    *out_len = n;
    p->pos = end + 1;
    return true;
}

// ---------------------------------------------------------------- numbers

static bool parse_number(parser *p, wgml_json *v)
{
    size_t start = p->pos, i = p->pos;
    const unsigned char *s = p->s;
    bool neg = false, integral = true;
    if (i < p->len && s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= p->len || s[i] < '0' || s[i] > '9')
        return BAD(p, i, "invalid number (expected a digit)");
    size_t int_start = i;
    if (s[i] == '0') {
        i++;
        if (i < p->len && s[i] >= '0' && s[i] <= '9')
            return BAD(p, int_start, "invalid number (leading zero)");
    } else {
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    size_t int_end = i;
    if (i < p->len && s[i] == '.') {
        integral = false;
        i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return BAD(p, i, "invalid number (expected a digit after '.')");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return BAD(p, i, "invalid number (expected a digit in the exponent)");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }

    // Exact integer value, when there is one that fits int64.
    v->type = WGML_JSON_NUMBER;
    v->flag = false;
    if (integral) {
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, acc = 0;
        bool fits = true;
        for (size_t k = int_start; k < int_end && fits; k++) {
            unsigned d = (unsigned)(s[k] - '0');
            if (acc > (limit - d) / 10) fits = false;
            else acc = acc * 10 + d;
        }
        if (fits) {
            v->flag = true;
            // Negating in uint64 then converting avoids overflow at INT64_MIN.
            v->b.i = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc)
                         : (int64_t)acc;
        }
    }

    // strtod reads the locale's decimal point, so hand it that instead of '.'.
    const char *dp = localeconv()->decimal_point;
    size_t dp_len = dp && *dp ? strlen(dp) : 1;
    size_t n = i - start;
    if (n > SIZE_MAX - dp_len - 1) return NOMEM(p);
    if (!grow(p, (void **)&p->scratch, &p->cap_scratch, n + dp_len + 1, 1)) return false;
    size_t w = 0;
    for (size_t k = start; k < i; k++) {
        if (s[k] == '.' && dp && *dp) {
            memcpy(p->scratch + w, dp, dp_len);
            w += dp_len;
        } else {
            p->scratch[w++] = (char)s[k];
        }
    }
    p->scratch[w] = '\0';
    char *endp = NULL;
    double d = strtod(p->scratch, &endp);
    if (endp != p->scratch + w) return BAD(p, start, "invalid number");
    if (isinf(d)) return BAD(p, start, "number out of double range");
    v->a.num = d;
    p->pos = i;
    return true;
}

// ---------------------------------------------------------------- containers

static bool push_value(parser *p, const wgml_json *v)
{
    if (!grow(p, (void **)&p->values, &p->cap_values, p->n_values + 1, sizeof *p->values))
        return false;
    p->values[p->n_values++] = *v;
    return true;
}

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;   // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool same_key(const json_key *a, const json_key *b)
{
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

// Finds a repeated key among keys[0..n); reports the later occurrence.
static bool check_duplicates(parser *p, const pending_key *keys, size_t n)
{
    if (n < 2) return true;
    if (n <= 8) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(&keys[i].key, &keys[j].key))
                    return BAD(p, keys[i].offset, "duplicate key \"%.*s\"",
                               (int)(keys[i].key.len > 64 ? 64 : keys[i].key.len), keys[i].key.s);
        return true;
    }
    // Open addressing over indices + 1 (0 marks an empty slot); load <= 1/2.
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return NOMEM(p);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        size_t h = (size_t)hash_key(keys[i].key.s, keys[i].key.len) & (cap - 1);
        while (slots[h]) {
            if (same_key(&keys[slots[h] - 1].key, &keys[i].key)) {
                ok = BAD(p, keys[i].offset, "duplicate key \"%.*s\"",
                         (int)(keys[i].key.len > 64 ? 64 : keys[i].key.len), keys[i].key.s);
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (ok) slots[h] = i + 1;
    }
    free(slots);
    return ok;
}

// Moves the innermost container's children into the arena; *v becomes it.
static bool close_container(parser *p, wgml_json *v)
{
    frame f = p->frames[--p->n_frames];
    size_t count = p->n_values - f.first_value;
    memset(v, 0, sizeof *v);
    v->type = f.is_object ? WGML_JSON_OBJECT : WGML_JSON_ARRAY;
    v->n = count;
    // An empty object has no duplicates (and p->keys may still be NULL:
    // NULL + 0 is undefined behaviour; found by fuzz_json).
    if (f.is_object && p->opt.reject_duplicate_keys && count &&
        !check_duplicates(p, p->keys + f.first_key, count))
        return false;
    if (count) {
        // count <= cap_values, so the products cannot overflow.
        wgml_json *items = arena_alloc(p->mem, count * sizeof *items, _Alignof(wgml_json));
        if (!items) return NOMEM(p);
        memcpy(items, p->values + f.first_value, count * sizeof *items);
        v->a.items = items;
        if (f.is_object) {
            json_key *keys = arena_alloc(p->mem, count * sizeof *keys, _Alignof(json_key));
            if (!keys) return NOMEM(p);
            for (size_t i = 0; i < count; i++) keys[i] = p->keys[f.first_key + i].key;
            v->b.keys = keys;
        }
    }
    p->n_values = f.first_value;
    if (f.is_object) p->n_keys = f.first_key;
    return true;
}

// Parses `"key" ws ":"` at p->pos (after whitespace) onto the pending keys.
static bool parse_member_key(parser *p)
{
    char what[16];
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return BAD(p, p->pos, "expected a string key, found %s", describe(p, what));
    if (!grow(p, (void **)&p->keys, &p->cap_keys, p->n_keys + 1, sizeof *p->keys)) return false;
    pending_key *k = &p->keys[p->n_keys];
    k->offset = p->pos;
    if (!parse_string(p, &k->key.s, &k->key.len)) return false;
    p->n_keys++;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':')
        return BAD(p, p->pos, "expected ':' after a key, found %s", describe(p, what));
    p->pos++;
    return true;
}

static bool open_container(parser *p, bool is_object)
{
    if (p->n_frames >= p->opt.max_depth)
        return BAD(p, p->pos, "nesting deeper than %zu", p->opt.max_depth);
    if (!grow(p, (void **)&p->frames, &p->cap_frames, p->n_frames + 1, sizeof *p->frames))
        return false;
    p->frames[p->n_frames++] = (frame){is_object, p->n_values, p->n_keys};
    p->pos++;
    return true;
}

// ---------------------------------------------------------------- the document

// The state machine: read a value; then, inside a container, expect ',' or
// the closing bracket; a closed container is itself a value of its parent.
static bool parse_document(parser *p, wgml_json *root)
{
    char what[16];
    skip_ws(p);
    for (;;) {
        // -- want a value (containers push a frame and loop back here)
        wgml_json v;
        memset(&v, 0, sizeof v);
        skip_ws(p);
        if (p->pos >= p->len) return BAD(p, p->pos, "unexpected end of input (expected a value)");
        unsigned char c = p->s[p->pos];
        bool have_value = true;
        switch (c) {
        case '{':
        case '[':
            if (!open_container(p, c == '{')) return false;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == (c == '{' ? '}' : ']')) {
                p->pos++;
                if (!close_container(p, &v)) return false;
            } else if (c == '{') {
                if (!parse_member_key(p)) return false;
                have_value = false;
            } else {
                have_value = false;
            }
            break;
        case '"':
            v.type = WGML_JSON_STRING;
            if (!parse_string(p, &v.a.str, &v.n)) return false;
            break;
        case 't':
            if (!literal(p, "true", 4)) return false;
            v.type = WGML_JSON_BOOL;
            v.flag = true;
            break;
        case 'f':
            if (!literal(p, "false", 5)) return false;
            v.type = WGML_JSON_BOOL;
            break;
        case 'n':
            if (!literal(p, "null", 4)) return false;
            v.type = WGML_JSON_NULL;
            break;
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                if (!parse_number(p, &v)) return false;
            } else {
                return BAD(p, p->pos, "expected a value, found %s", describe(p, what));
            }
        }
        if (!have_value) continue;

        // -- a value is complete: attach it, closing containers as they end
        for (;;) {
            if (p->n_frames == 0) {
                *root = v;
                skip_ws(p);
                if (p->pos != p->len)
                    return BAD(p, p->pos, "trailing characters after the document");
                return true;
            }
            if (!push_value(p, &v)) return false;
            bool is_object = p->frames[p->n_frames - 1].is_object;
            skip_ws(p);
            if (p->pos >= p->len)
                return BAD(p, p->pos, "unexpected end of input (unclosed %s)",
                           is_object ? "object" : "array");
            c = p->s[p->pos];
            if (c == ',') {
                p->pos++;
                if (is_object) {
                    skip_ws(p);
                    if (!parse_member_key(p)) return false;
                }
                break;   // next value
            }
            if (c == (is_object ? '}' : ']')) {
                p->pos++;
                if (!close_container(p, &v)) return false;
                continue;   // the container is a value of its parent
            }
            return BAD(p, p->pos, "expected ',' or '%c', found %s", is_object ? '}' : ']',
                       describe(p, what));
        }
    }
}

wgml_status wgml_json_parse(const char *text, size_t len, const wgml_json_options *opt,
                            wgml_json_doc **out, char *err, size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (!out || (!text && len)) {
        if (err) snprintf(err, err_size, "wgml_json_parse: NULL argument");
        return WGML_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    wgml_json_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        if (err) snprintf(err, err_size, "out of memory");
        return WGML_ERR_OUT_OF_MEMORY;
    }
    parser p = {
        .s = (const unsigned char *)(text ? text : ""),
        .len = len,
        .mem = &doc->mem,
        .err = err,
        .err_size = err_size,
    };
    if (opt) p.opt = *opt;
    if (!p.opt.max_depth) p.opt.max_depth = 64;
    bool ok = parse_document(&p, &doc->root);
    free(p.frames);
    free(p.values);
    free(p.keys);
    free(p.scratch);
    if (!ok) {
        arena_free(&doc->mem);
        free(doc);
        return p.status ? p.status : WGML_ERR_BAD_FILE;
    }
    *out = doc;
    return WGML_OK;
}

void wgml_json_free(wgml_json_doc *doc)
{
    if (!doc) return;
    arena_free(&doc->mem);
    free(doc);
}

const wgml_json *wgml_json_root(const wgml_json_doc *doc) { return doc ? &doc->root : NULL; }

// ---------------------------------------------------------------- access

wgml_json_type wgml_json_type_of(const wgml_json *v)
{
    return v ? (wgml_json_type)v->type : WGML_JSON_NULL;
}

size_t wgml_json_count(const wgml_json *v)
{
    return v && (v->type == WGML_JSON_ARRAY || v->type == WGML_JSON_OBJECT) ? v->n : 0;
}

const wgml_json *wgml_json_at(const wgml_json *v, size_t i)
{
    return i < wgml_json_count(v) ? &v->a.items[i] : NULL;
}

const char *wgml_json_key_at(const wgml_json *v, size_t i, size_t *len)
{
    if (!v || v->type != WGML_JSON_OBJECT || i >= v->n) return NULL;
    if (len) *len = v->b.keys[i].len;
    return v->b.keys[i].s;
}

const wgml_json *wgml_json_get(const wgml_json *obj, const char *key)
{
    if (!obj || obj->type != WGML_JSON_OBJECT || !key) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->b.keys[i].len == n && memcmp(obj->b.keys[i].s, key, n) == 0)
            return &obj->a.items[i];
    return NULL;
}

const char *wgml_json_string(const wgml_json *v, size_t *len)
{
    if (!v || v->type != WGML_JSON_STRING) return NULL;
    if (len) *len = v->n;
    return v->a.str;
}

bool wgml_json_number(const wgml_json *v, double *out)
{
    if (!v || v->type != WGML_JSON_NUMBER) return false;
    if (out) *out = v->a.num;
    return true;
}

bool wgml_json_int64(const wgml_json *v, int64_t *out)
{
    if (!v || v->type != WGML_JSON_NUMBER || !v->flag) return false;
    if (out) *out = v->b.i;
    return true;
}

bool wgml_json_bool(const wgml_json *v, bool *out)
{
    if (!v || v->type != WGML_JSON_BOOL) return false;
    if (out) *out = v->flag;
    return true;
}
