/*
 * GGUF reader.
 *
 * File layout (GGUF v3; every integer little-endian; facts from ggml's
 * docs/gguf.md and the `gguf` PyPI package's reader and constants):
 *
 *   u32   magic          the bytes "GGUF" (47 47 55 46)
 *   u32   version        3; version 2 has the same layout and is accepted;
 *                        version 1 had 32-bit counts and is refused
 *   u64   tensor_count
 *   u64   kv_count
 *   kv_count times       string key, u32 value_type, value
 *   tensor_count times   tensor info: string name, u32 n_dims,
 *                        u64 ne[n_dims] (ne[0] varies fastest), u32 type,
 *                        u64 offset (from the start of the data section)
 *   padding              to the next multiple of the alignment
 *   data section         tensor data; each tensor's bytes in its type's block
 *                        layout (see wgml_gguf_type_block)
 *
 *   string  u64 length, then that many bytes (UTF-8 by convention, no NUL)
 *   value   by value_type: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32,
 *           7 bool (one byte, 0 or 1), 8 string, 9 array, 10 u64, 11 i64,
 *           12 f64
 *   array   u32 element type, u64 count, then count values of that type
 *
 * The alignment is the u32 value of the key `general.alignment`, else 32.
 *
 * Rules enforced at open; a file that breaks one is WGML_ERR_BAD_FILE with a
 * message naming the rule (and the key or tensor):
 *   - magic "GGUF"; version 2 or 3 (0 is a bad file; 1, 4 and later, and a
 *     big-endian file are WGML_ERR_UNSUPPORTED);
 *   - every count is checked against the bytes that remain before anything
 *     is allocated for it: a metadata entry takes at least 13 bytes, a tensor
 *     info at least 32, a string array element 8, a numeric array element its
 *     size; a string's length must not exceed what remains;
 *   - value types 0..12; arrays of arrays are refused (WGML_ERR_UNSUPPORTED:
 *     the format allows them, ggml's reader does not, no model uses them);
 *   - bools are 0 or 1; keys and tensor names hold no NUL byte; no key and no
 *     tensor name repeats;
 *   - general.alignment, when present, is a u32 and a power of two;
 *   - n_dims is 1..4, each ne is at least 1, the element count fits in
 *     63 bits (ggml counts in int64), ne[0] is a multiple of the type's block;
 *   - a tensor type wgml does not read is WGML_ERR_UNSUPPORTED, naming it
 *     (reported once the whole header has been checked);
 *   - each offset is a multiple of the alignment; each tensor's bytes lie
 *     inside the file; no two tensors overlap. Gaps and trailing bytes are
 *     allowed (writers pad each tensor to the alignment).
 *
 * Memory: everything the handle keeps (keys, strings, arrays, records) is
 * allocated only after the bytes it comes from were found in the file, so an
 * open allocates at most a small constant factor of the header's size plus a
 * 16 KiB arena chunk and, for a read-at source, a 64 KiB read window. The
 * worst case is a header of minimal entries: 13 bytes in the file, a 40-byte
 * record, an 8-byte index slot and 8 bytes of key (4.4x, measured); an array
 * of empty strings costs 3x. tests/test_gguf.c counts every byte
 * malloc'd during an open to hold the reader to that. Tensor data is never
 * copied at open. A mapped file that another process truncates later can
 * still fault on access; that is the price of mapping.
 */
#include "formats/file_read.h"
#include "formats/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(__wasi__)
#include <sys/mman.h>
#endif
#include <sys/stat.h>
#include <unistd.h>

enum {
    DEFAULT_ALIGNMENT = 32,
    MIN_KV_BYTES = 8 + 4 + 1,             // empty key, type, one-byte value
    MIN_TENSOR_BYTES = 8 + 4 + 8 + 4 + 8, // empty name, n_dims, one ne, type, offset
    ARENA_CHUNK = 16 * 1024,
    READ_WINDOW = 64 * 1024,
    NAME_SHOWN = 80,                      // bytes of a key or name quoted in a message
};

// ---------------------------------------------------------------- types

// Every type ggml has numbered (names for messages), with the block shape of
// those wgml reads (0 for the others). Sizes from ggml-common.h's block
// structs, as GGML_QUANT_SIZES in the `gguf` package lists them.
static const struct {
    const char *name;
    uint32_t elems, bytes;   // per block; 0 when wgml does not read the type
} types[] = {
    [0] = {"F32", 1, 4},     [1] = {"F16", 1, 2},     [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},  [6] = {"Q5_0", 0, 0},    [7] = {"Q5_1", 0, 0},
    [8] = {"Q8_0", 32, 34},  [9] = {"Q8_1", 0, 0},    [10] = {"Q2_K", 0, 0},
    [11] = {"Q3_K", 0, 0},   [12] = {"Q4_K", 256, 144}, [13] = {"Q5_K", 0, 0},
    [14] = {"Q6_K", 256, 210}, [15] = {"Q8_K", 0, 0}, [16] = {"IQ2_XXS", 0, 0},
    [17] = {"IQ2_XS", 0, 0}, [18] = {"IQ3_XXS", 0, 0}, [19] = {"IQ1_S", 0, 0},
    [20] = {"IQ4_NL", 0, 0}, [21] = {"IQ3_S", 0, 0},  [22] = {"IQ2_S", 0, 0},
    [23] = {"IQ4_XS", 0, 0}, [24] = {"I8", 0, 0},     [25] = {"I16", 0, 0},
    [26] = {"I32", 0, 0},    [27] = {"I64", 0, 0},    [28] = {"F64", 0, 0},
    [29] = {"IQ1_M", 0, 0},  [30] = {"BF16", 1, 2},   [34] = {"TQ1_0", 0, 0},
    [35] = {"TQ2_0", 0, 0},  [39] = {"MXFP4", 0, 0},
};
enum { N_TYPES = sizeof types / sizeof types[0] };

const char *wgml_gguf_type_name(uint32_t type)
{
    return type < N_TYPES && types[type].elems ? types[type].name : NULL;
}

bool wgml_gguf_type_block(uint32_t type, uint32_t *block_elems, uint32_t *block_bytes)
{
    if (type >= N_TYPES || !types[type].elems) return false;
    if (block_elems) *block_elems = types[type].elems;
    if (block_bytes) *block_bytes = types[type].bytes;
    return true;
}

// Bytes of one value of a fixed-size value type; 0 for STRING, ARRAY and unknown types.
static uint32_t value_size(uint32_t vt)
{
    static const uint8_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return vt < sizeof sizes ? sizes[vt] : 0;
}

static const char *value_type_name(uint32_t vt)
{
    static const char *const names[] = {"UINT8", "INT8",  "UINT16", "INT16",  "UINT32",
                                        "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
                                        "UINT64", "INT64", "FLOAT64"};
    return vt < sizeof names / sizeof names[0] ? names[vt] : "?";
}

// ---------------------------------------------------------------- the handle

typedef enum source_kind { SOURCE_MAP, SOURCE_MEMORY, SOURCE_READER } source_kind;

typedef struct str_ref {
    const char *s;   // NUL-terminated copy
    uint64_t len;    // bytes, without the NUL
} str_ref;

typedef struct kv {
    const char *key;      // NUL-terminated, holds no NUL
    uint32_t type;        // wgml_gguf_value_type
    uint32_t elem_type;   // ARRAY: its elements' type
    uint64_t count;       // STRING: bytes; ARRAY: elements
    uint64_t bits;        // scalars: the value, little-endian bytes zero-extended
    const void *data;     // STRING: chars + NUL; numeric ARRAY: raw bytes;
                          // STRING ARRAY: str_ref[count]
} kv;

// Memory the handle keeps, in chunks that never move (pointers into them are
// handed out).
typedef struct chunk {
    struct chunk *next;
    size_t cap, used;     // bytes after the header
} chunk;

struct wgml_gguf {
    source_kind kind;
    const unsigned char *base;   // MAP, MEMORY: the whole source
    uint64_t size;               // bytes of the whole source
    void *map;                   // MAP: what to munmap
    size_t map_len;
    wgml_gguf_read_fn read_at;   // READER
    void *user;
    int fd;                      // READER over a file (WASI): closed with the handle; else -1

    uint32_t version;
    uint64_t alignment;          // bytes
    uint64_t data_start;         // file offset of the data section

    kv *kvs;                     // (n_kv) in file order
    size_t n_kv;
    const kv **kv_by_key;        // (n_kv) sorted by key
    wgml_gguf_tensor *tensors;   // (n_tensors) in file order
    size_t n_tensors;
    const wgml_gguf_tensor **by_name;   // (n_tensors) sorted by name
    chunk *arena;
    char last_error[256];
};

static void *arena_alloc(wgml_gguf *g, uint64_t n)
{
    if (n > SIZE_MAX - sizeof(chunk) - 8) return NULL;
    size_t want = ((size_t)n + 7) & ~(size_t)7;   // keep arrays 8-byte aligned
    chunk *c = g->arena;
    if (!c || c->cap - c->used < want) {
        size_t cap = want > ARENA_CHUNK ? want : ARENA_CHUNK;
        chunk *fresh = malloc(sizeof(chunk) + cap);
        if (!fresh) return NULL;
        fresh->cap = cap;
        fresh->used = 0;
        if (c && want > ARENA_CHUNK) {
            // A large block goes behind the current chunk, whose room stays usable.
            fresh->next = c->next;
            c->next = fresh;
        } else {
            fresh->next = c;
            g->arena = fresh;
        }
        c = fresh;
    }
    void *p = (unsigned char *)(c + 1) + c->used;   // sizeof(chunk) is a multiple of 8
    c->used += want;
    return p;
}

static wgml_status set_error(wgml_gguf *g, wgml_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->last_error, sizeof g->last_error, fmt, ap);
    va_end(ap);
    return status;
}

// ---------------------------------------------------------------- parsing

typedef struct parser {
    wgml_gguf *g;
    uint64_t pos;              // next byte of the source to read
    char *err;
    size_t err_size;
    char where[160];           // the item being read, prefixed to messages
    unsigned char *win;        // READER: a window of the source
    uint64_t win_off;
    size_t win_len;
} parser;

static wgml_status fail(parser *p, wgml_status st, const char *fmt, ...)
{
    if (p->err && p->err_size) {
        char reason[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        if (p->where[0]) snprintf(p->err, p->err_size, "%s: %s", p->where, reason);
        else snprintf(p->err, p->err_size, "%s", reason);
    }
    return st;
}

#define BAD(p, ...) fail((p), WGML_ERR_BAD_FILE, __VA_ARGS__)
#define OOM(p) fail((p), WGML_ERR_OUT_OF_MEMORY, "out of memory")
#define ULL(x) ((unsigned long long)(x))
// Keys and names in messages, cut short so that a hostile one cannot fill the message.
#define NAME_FMT "\"%.*s%s\""
#define NAME_ARG(s, n) (int)((n) > NAME_SHOWN ? NAME_SHOWN : (n)), (s), ((n) > NAME_SHOWN ? "..." : "")

static uint64_t left(const parser *p) { return p->g->size - p->pos; }

// Reads [off, off + n) of the source, which the caller has checked lies inside it.
static wgml_status source_read(const wgml_gguf *g, uint64_t off, void *dst, size_t n)
{
    if (n == 0) return WGML_OK;
    if (g->kind == SOURCE_READER) return g->read_at(g->user, off, dst, n);
    memcpy(dst, g->base + off, n);
    return WGML_OK;
}

// Copies the next n bytes into dst. `what` names them in the message when the
// file ends first.
static wgml_status take(parser *p, void *dst, uint64_t n, const char *what)
{
    if (n > left(p))
        return BAD(p, "truncated: %s needs %llu bytes at offset %llu, the file ends %llu bytes "
                   "later", what, ULL(n), ULL(p->pos), ULL(left(p)));
    wgml_gguf *g = p->g;
    if (g->kind != SOURCE_READER) {
        memcpy(dst, g->base + p->pos, (size_t)n);
        p->pos += n;
        return WGML_OK;
    }
    // A read-at source is read through a window, so that the many small
    // fields of a header cost few callbacks; long strings bypass it.
    unsigned char *out = dst;
    while (n) {
        wgml_status s;
        if (p->pos >= p->win_off && p->pos < p->win_off + p->win_len) {
            size_t at = (size_t)(p->pos - p->win_off), k = p->win_len - at;
            if (k > n) k = (size_t)n;
            memcpy(out, p->win + at, k);
            out += k, p->pos += k, n -= k;
        } else if (n >= READ_WINDOW) {
            if ((s = g->read_at(g->user, p->pos, out, (size_t)n)))
                return fail(p, s, "reading %llu bytes at offset %llu failed (%s)", ULL(n),
                            ULL(p->pos), wgml_status_name(s));
            p->pos += n;
            n = 0;
        } else {
            size_t k = left(p) < READ_WINDOW ? (size_t)left(p) : READ_WINDOW;
            if ((s = g->read_at(g->user, p->pos, p->win, k)))
                return fail(p, s, "reading %zu bytes at offset %llu failed (%s)", k, ULL(p->pos),
                            wgml_status_name(s));
            p->win_off = p->pos;
            p->win_len = k;
        }
    }
    return WGML_OK;
}

static uint64_t load_le(const unsigned char *b, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static wgml_status take_u32(parser *p, uint32_t *v, const char *what)
{
    unsigned char b[4];
    wgml_status s = take(p, b, 4, what);
    if (!s) *v = (uint32_t)load_le(b, 4);
    return s;
}

static wgml_status take_u64(parser *p, uint64_t *v, const char *what)
{
    unsigned char b[8];
    wgml_status s = take(p, b, 8, what);
    if (!s) *v = load_le(b, 8);
    return s;
}

// A string (u64 length, bytes) copied into the arena with a NUL after it.
static wgml_status take_string(parser *p, str_ref *out, const char *what)
{
    uint64_t len;
    wgml_status s = take_u64(p, &len, what);
    if (s) return s;
    if (len > left(p))
        return BAD(p, "%s: string length %llu runs past the end of the file (%llu bytes remain)",
                   what, ULL(len), ULL(left(p)));
    char *c = arena_alloc(p->g, len + 1);
    if (!c) return OOM(p);
    if ((s = take(p, c, len, what))) return s;
    c[len] = '\0';
    out->s = c;
    out->len = len;
    return WGML_OK;
}

// Checks that `count` items of at least `each` bytes fit in what remains.
static wgml_status check_count(parser *p, uint64_t count, uint64_t each, const char *what)
{
    if (count > left(p) / each)
        return BAD(p, "%s %llu cannot fit: each takes at least %llu bytes and %llu remain", what,
                   ULL(count), ULL(each), ULL(left(p)));
    return WGML_OK;
}

static wgml_status check_bools(parser *p, const unsigned char *b, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (b[i] > 1) return BAD(p, "bool value %u is neither 0 nor 1", b[i]);
    return WGML_OK;
}

static wgml_status parse_array(parser *p, kv *e)
{
    uint32_t et;
    uint64_t count;
    wgml_status s = take_u32(p, &et, "array element type");
    if (!s) s = take_u64(p, &count, "array count");
    if (s) return s;
    if (et == WGML_GGUF_ARRAY)
        return fail(p, WGML_ERR_UNSUPPORTED, "arrays of arrays are not supported");
    if (et > WGML_GGUF_FLOAT64) return BAD(p, "unknown array element type %u", et);
    e->elem_type = et;
    e->count = count;
    if (et == WGML_GGUF_STRING) {
        if ((s = check_count(p, count, 8, "string array count"))) return s;
        if (count > SIZE_MAX / sizeof(str_ref)) return OOM(p);
        str_ref *items = arena_alloc(p->g, count * sizeof *items);
        if (!items && count) return OOM(p);
        for (uint64_t i = 0; i < count; i++)
            if ((s = take_string(p, &items[i], "string array element"))) return s;
        e->data = items;
        return WGML_OK;
    }
    uint32_t es = value_size(et);
    if ((s = check_count(p, count, es, "array count"))) return s;
    unsigned char *raw = arena_alloc(p->g, count * es);   // <= the bytes that remain
    if (!raw) return OOM(p);
    if ((s = take(p, raw, count * es, "array data"))) return s;
    if (et == WGML_GGUF_BOOL && (s = check_bools(p, raw, count))) return s;
    e->data = raw;
    return WGML_OK;
}

static wgml_status parse_kv(parser *p, size_t i, kv *e)
{
    snprintf(p->where, sizeof p->where, "metadata entry %zu", i);
    str_ref key;
    wgml_status s = take_string(p, &key, "key");
    if (s) return s;
    snprintf(p->where, sizeof p->where, "key " NAME_FMT, NAME_ARG(key.s, key.len));
    if (memchr(key.s, '\0', (size_t)key.len)) return BAD(p, "key contains a NUL byte");
    e->key = key.s;
    if ((s = take_u32(p, &e->type, "value type"))) return s;
    if (e->type == WGML_GGUF_ARRAY) return parse_array(p, e);
    if (e->type == WGML_GGUF_STRING) {
        str_ref v;
        if ((s = take_string(p, &v, "string value"))) return s;
        e->data = v.s;
        e->count = v.len;
        return WGML_OK;
    }
    uint32_t size = value_size(e->type);
    if (!size) return BAD(p, "unknown value type %u", e->type);
    unsigned char b[8];
    if ((s = take(p, b, size, "value"))) return s;
    if (e->type == WGML_GGUF_BOOL && (s = check_bools(p, b, 1))) return s;
    e->bits = load_le(b, (int)size);
    return WGML_OK;
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(const kv *const *)a)->key, (*(const kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const wgml_gguf_tensor *const *)a)->name,
                  (*(const wgml_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const wgml_gguf_tensor *x = *(const wgml_gguf_tensor *const *)a;
    const wgml_gguf_tensor *y = *(const wgml_gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y;   // same array: file order breaks ties
}

static wgml_status parse_metadata(parser *p, uint64_t n_kv)
{
    wgml_gguf *g = p->g;
    if (n_kv > SIZE_MAX / sizeof(kv)) return OOM(p);
    g->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    g->kv_by_key = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv_by_key);
    if (!g->kvs || !g->kv_by_key) return OOM(p);
    for (size_t i = 0; i < n_kv; i++) {
        wgml_status s = parse_kv(p, i, &g->kvs[i]);
        if (s) return s;
        g->kv_by_key[i] = &g->kvs[i];
        g->n_kv = i + 1;
    }
    p->where[0] = '\0';
    qsort(g->kv_by_key, g->n_kv, sizeof *g->kv_by_key, cmp_kv);
    for (size_t i = 1; i < g->n_kv; i++)
        if (!strcmp(g->kv_by_key[i - 1]->key, g->kv_by_key[i]->key)) {
            const char *k = g->kv_by_key[i]->key;
            return BAD(p, "duplicate key " NAME_FMT, NAME_ARG(k, strlen(k)));
        }

    g->alignment = DEFAULT_ALIGNMENT;
    int64_t at = wgml_gguf_kv_find(g, "general.alignment");
    if (at >= 0) {
        const kv *e = &g->kvs[at];
        if (e->type != WGML_GGUF_UINT32)
            return BAD(p, "general.alignment is of type %s, not UINT32", value_type_name(e->type));
        if (e->bits == 0 || (e->bits & (e->bits - 1)))
            return BAD(p, "general.alignment %llu is not a power of two", ULL(e->bits));
        g->alignment = e->bits;
    }
    return WGML_OK;
}

// Reads one tensor info; *unsupported is set when its type is one wgml does not read.
static wgml_status parse_tensor(parser *p, size_t i, wgml_gguf_tensor *t, bool *unsupported)
{
    snprintf(p->where, sizeof p->where, "tensor %zu", i);
    str_ref name;
    wgml_status s = take_string(p, &name, "tensor name");
    if (s) return s;
    snprintf(p->where, sizeof p->where, "tensor " NAME_FMT, NAME_ARG(name.s, name.len));
    if (memchr(name.s, '\0', (size_t)name.len)) return BAD(p, "name contains a NUL byte");
    t->name = name.s;
    if ((s = take_u32(p, &t->n_dims, "n_dims"))) return s;
    if (t->n_dims < 1 || t->n_dims > WGML_GGUF_MAX_DIMS)
        return BAD(p, "n_dims %u is outside 1..%d", t->n_dims, WGML_GGUF_MAX_DIMS);
    uint64_t count = 1;
    for (uint32_t d = 0; d < WGML_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        if ((s = take_u64(p, &t->ne[d], "dimension"))) return s;
        if (t->ne[d] == 0) return BAD(p, "dimension ne[%u] is 0", d);
        if (t->ne[d] > (uint64_t)INT64_MAX / count)
            return BAD(p, "element count overflows (ne[%u] = %llu)", d, ULL(t->ne[d]));
        count *= t->ne[d];
    }
    t->n_elements = count;
    if ((s = take_u32(p, &t->type, "tensor type"))) return s;
    if ((s = take_u64(p, &t->offset, "tensor offset"))) return s;
    uint32_t be, bb;
    if (!wgml_gguf_type_block(t->type, &be, &bb)) {
        *unsupported = true;   // its size is unknown: checked no further
        return WGML_OK;
    }
    if (t->ne[0] % be)
        return BAD(p, "ne[0] = %llu is not a multiple of %s's block of %u", ULL(t->ne[0]),
                   types[t->type].name, be);
    if (count / be > UINT64_MAX / bb)
        return BAD(p, "byte size overflows (%llu elements of %s)", ULL(count), types[t->type].name);
    t->size = count / be * bb;
    if (t->offset % p->g->alignment)
        return BAD(p, "offset %llu is not a multiple of the alignment %llu", ULL(t->offset),
                   ULL(p->g->alignment));
    return WGML_OK;
}

static wgml_status parse_tensors(parser *p, uint64_t n)
{
    wgml_gguf *g = p->g;
    wgml_status s = check_count(p, n, MIN_TENSOR_BYTES, "tensor_count");
    if (s) return s;
    if (n > SIZE_MAX / sizeof(wgml_gguf_tensor)) return OOM(p);
    g->tensors = calloc(n ? (size_t)n : 1, sizeof *g->tensors);
    g->by_name = calloc(n ? (size_t)n : 1, sizeof *g->by_name);
    if (!g->tensors || !g->by_name) return OOM(p);
    const wgml_gguf_tensor *unsupported = NULL;
    for (size_t i = 0; i < n; i++) {
        bool u = false;
        if ((s = parse_tensor(p, i, &g->tensors[i], &u))) return s;
        if (u && !unsupported) unsupported = &g->tensors[i];
        g->by_name[i] = &g->tensors[i];
        g->n_tensors = i + 1;
    }
    p->where[0] = '\0';
    qsort(g->by_name, g->n_tensors, sizeof *g->by_name, cmp_tensor_name);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (!strcmp(g->by_name[i - 1]->name, g->by_name[i]->name)) {
            const char *nm = g->by_name[i]->name;
            return BAD(p, "duplicate tensor name " NAME_FMT, NAME_ARG(nm, strlen(nm)));
        }
    if (unsupported) {
        const char *nm = unsupported->name, *tn = unsupported->type < N_TYPES
                                                      ? types[unsupported->type].name : NULL;
        return fail(p, WGML_ERR_UNSUPPORTED, "tensor " NAME_FMT " has type %s (%u), which wgml "
                    "does not read (it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)",
                    NAME_ARG(nm, strlen(nm)), tn ? tn : "unknown", unsupported->type);
    }

    // The data section starts at the header's end rounded up to the alignment.
    uint64_t pad = (g->alignment - p->pos % g->alignment) % g->alignment;
    g->data_start = p->pos + pad;   // pos <= size and pad < 2^32: no overflow
    uint64_t room = g->data_start <= g->size ? g->size - g->data_start : 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        wgml_gguf_tensor *t = &g->tensors[i];
        if (t->offset > room || t->size > room - t->offset)
            return BAD(p, "tensor " NAME_FMT ": data [%llu, +%llu) lies outside the file "
                       "(data section of %llu bytes at offset %llu)",
                       NAME_ARG(t->name, strlen(t->name)), ULL(t->offset), ULL(t->size),
                       ULL(room), ULL(g->data_start));
        t->file_offset = g->data_start + t->offset;
    }
    // Sorted by offset, each tensor must end before the next begins.
    const wgml_gguf_tensor **order = malloc((n ? (size_t)n : 1) * sizeof *order);
    if (!order) return OOM(p);
    for (size_t i = 0; i < n; i++) order[i] = &g->tensors[i];
    qsort(order, (size_t)n, sizeof *order, cmp_tensor_offset);
    for (size_t i = 1; i < n && !s; i++)
        if (order[i - 1]->offset + order[i - 1]->size > order[i]->offset)
            s = BAD(p, "tensors " NAME_FMT " and " NAME_FMT " overlap (at offset %llu)",
                    NAME_ARG(order[i - 1]->name, strlen(order[i - 1]->name)),
                    NAME_ARG(order[i]->name, strlen(order[i]->name)), ULL(order[i]->offset));
    free(order);
    return s;
}

static wgml_status parse_header(parser *p)
{
    wgml_gguf *g = p->g;
    unsigned char magic[4];
    wgml_status s = take(p, magic, 4, "the magic");
    if (s) return s;
    if (memcmp(magic, "GGUF", 4))
        return BAD(p, "bad magic %02x %02x %02x %02x: not a GGUF file (expected \"GGUF\")",
                   magic[0], magic[1], magic[2], magic[3]);
    if ((s = take_u32(p, &g->version, "the version"))) return s;
    if (g->version != 2 && g->version != 3) {
        // Version 0 was never written; 1 is the old layout with 32-bit counts,
        // later numbers a format this reader predates. A big-endian writer's
        // 3 reads as 0x03000000 here.
        bool swapped = g->version == 0x02000000u || g->version == 0x03000000u;
        return fail(p, g->version == 0 ? WGML_ERR_BAD_FILE : WGML_ERR_UNSUPPORTED,
                    "GGUF version %u is not supported (wgml reads versions 2 and 3)%s",
                    g->version, swapped ? "; this looks like a big-endian file" : "");
    }
    uint64_t n_tensors, n_kv;
    if ((s = take_u64(p, &n_tensors, "tensor_count"))) return s;
    if ((s = take_u64(p, &n_kv, "kv_count"))) return s;
    if ((s = check_count(p, n_kv, MIN_KV_BYTES, "kv_count"))) return s;
    if ((s = check_count(p, n_tensors, MIN_TENSOR_BYTES, "tensor_count"))) return s;
    if ((s = parse_metadata(p, n_kv))) return s;
    return parse_tensors(p, n_tensors);
}

// ---------------------------------------------------------------- opening

static wgml_status finish_open(wgml_gguf *g, char *err, size_t err_size, wgml_gguf **out)
{
    parser p = {.g = g, .err = err, .err_size = err_size};
    wgml_status s = WGML_OK;
    if (g->kind == SOURCE_READER) {
        p.win = malloc(READ_WINDOW);
        if (!p.win) s = OOM(&p);
    }
    if (!s) s = parse_header(&p);
    free(p.win);
    if (s) {
        wgml_gguf_close(g);
        return s;
    }
    *out = g;
    return WGML_OK;
}

static wgml_status open_fail(char *err, size_t err_size, wgml_status st, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

wgml_status wgml_gguf_open_memory(const void *data, size_t size, wgml_gguf **out, char *err,
                                  size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (!out || (!data && size))
        return open_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    wgml_gguf *g = calloc(1, sizeof *g);
    if (!g) return open_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    g->kind = SOURCE_MEMORY;
    g->base = data;
    g->size = size;
    return finish_open(g, err, err_size, out);
}

wgml_status wgml_gguf_open_reader(wgml_gguf_read_fn read_at, void *user, uint64_t size,
                                  wgml_gguf **out, char *err, size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (!out || !read_at)
        return open_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    wgml_gguf *g = calloc(1, sizeof *g);
    if (!g) return open_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    g->kind = SOURCE_READER;
    g->read_at = read_at;
    g->user = user;
    g->size = size;
    return finish_open(g, err, err_size, out);
}


wgml_status wgml_gguf_open_file(const char *path, wgml_gguf **out, char *err, size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (!out || !path) return open_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return open_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "%s: cannot open: %s", path,
                         strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return open_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
#if defined(__wasi__)
    // WASI has no mmap: the file is read on demand through pread (in the
    // browser, slices of a Blob: a large model never sits whole in memory),
    // at 64-bit offsets, so the file may be larger than the address space.
    wgml_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        close(fd);
        return open_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    }
    g->kind = SOURCE_READER;
    g->read_at = wgml_fd_read_at;
    g->fd = fd;
    g->user = &g->fd;
    g->size = size;
#else
    if (size > SIZE_MAX) {
        close(fd);
        return open_fail(err, err_size, WGML_ERR_UNSUPPORTED, "%s: %llu bytes cannot be mapped "
                         "here", path, ULL(size));
    }
    // mmap refuses a length of 0; an empty file is read from an empty buffer
    // and fails as truncated.
    void *map = NULL;
    if (size) {
        map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return open_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "%s: mmap failed: %s", path,
                             strerror(e));
        }
    }
    close(fd);   // the mapping keeps the file open
    wgml_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        if (map) munmap(map, (size_t)size);
        return open_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    }
    static const unsigned char empty[1];
    g->kind = SOURCE_MAP;
    g->base = map ? map : empty;
    g->size = size;
    g->map = map;
    g->map_len = (size_t)size;
    g->fd = -1;
#endif
    wgml_status s = finish_open(g, err, err_size, out);
    if (s && err && err_size) {
        // Name the file in front of the reason.
        char reason[512];
        snprintf(reason, sizeof reason, "%s", err);
        snprintf(err, err_size, "%s: %s", path, reason);
    }
    return s;
}

void wgml_gguf_close(wgml_gguf *g)
{
    if (!g) return;
#if defined(__wasi__)
    if (g->fd >= 0 && g->read_at == wgml_fd_read_at) close(g->fd);
#else
    if (g->map) munmap(g->map, g->map_len);
#endif
    for (chunk *c = g->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(g->kvs);
    free(g->kv_by_key);
    free(g->tensors);
    free(g->by_name);
    free(g);
}

const char *wgml_gguf_last_error(const wgml_gguf *g) { return g ? g->last_error : "no GGUF handle"; }
uint32_t wgml_gguf_version(const wgml_gguf *g) { return g ? g->version : 0; }
uint64_t wgml_gguf_alignment(const wgml_gguf *g) { return g ? g->alignment : 0; }
uint64_t wgml_gguf_data_offset(const wgml_gguf *g) { return g ? g->data_start : 0; }

// ---------------------------------------------------------------- metadata

size_t wgml_gguf_kv_count(const wgml_gguf *g) { return g ? g->n_kv : 0; }

const char *wgml_gguf_kv_key(const wgml_gguf *g, size_t i)
{
    return g && i < g->n_kv ? g->kvs[i].key : NULL;
}

static int cmp_find_kv(const void *key, const void *elem)
{
    return strcmp(key, (*(const kv *const *)elem)->key);
}

int64_t wgml_gguf_kv_find(const wgml_gguf *g, const char *key)
{
    if (!g || !key || !g->n_kv) return -1;
    const kv *const *hit = bsearch(key, g->kv_by_key, g->n_kv, sizeof *g->kv_by_key, cmp_find_kv);
    return hit ? (int64_t)(*hit - g->kvs) : -1;
}

wgml_gguf_value_type wgml_gguf_kv_type(const wgml_gguf *g, size_t i)
{
    // An index past the end has no type; UINT8 keeps the return in the enum.
    return g && i < g->n_kv ? (wgml_gguf_value_type)g->kvs[i].type : WGML_GGUF_UINT8;
}

static const kv *find(const wgml_gguf *g, const char *key)
{
    int64_t i = wgml_gguf_kv_find(g, key);
    return i >= 0 ? &g->kvs[i] : NULL;
}

// The bits of a signed type, sign-extended.
static int64_t signed_value(const kv *e)
{
    switch (e->type) {
    case WGML_GGUF_INT8: return (int8_t)e->bits;
    case WGML_GGUF_INT16: return (int16_t)e->bits;
    case WGML_GGUF_INT32: return (int32_t)e->bits;
    default: return (int64_t)e->bits;
    }
}

bool wgml_gguf_get_u64(const wgml_gguf *g, const char *key, uint64_t *out)
{
    const kv *e = find(g, key);
    if (!e || !out) return false;
    switch (e->type) {
    case WGML_GGUF_UINT8: case WGML_GGUF_UINT16: case WGML_GGUF_UINT32: case WGML_GGUF_UINT64:
        *out = e->bits;
        return true;
    case WGML_GGUF_INT8: case WGML_GGUF_INT16: case WGML_GGUF_INT32: case WGML_GGUF_INT64: {
        int64_t v = signed_value(e);
        if (v < 0) return false;
        *out = (uint64_t)v;
        return true;
    }
    default: return false;
    }
}

bool wgml_gguf_get_i64(const wgml_gguf *g, const char *key, int64_t *out)
{
    const kv *e = find(g, key);
    if (!e || !out) return false;
    switch (e->type) {
    case WGML_GGUF_UINT8: case WGML_GGUF_UINT16: case WGML_GGUF_UINT32: case WGML_GGUF_UINT64:
        if (e->bits > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)e->bits;
        return true;
    case WGML_GGUF_INT8: case WGML_GGUF_INT16: case WGML_GGUF_INT32: case WGML_GGUF_INT64:
        *out = signed_value(e);
        return true;
    default: return false;
    }
}

bool wgml_gguf_get_f64(const wgml_gguf *g, const char *key, double *out)
{
    const kv *e = find(g, key);
    if (!e || !out) return false;
    switch (e->type) {
    case WGML_GGUF_FLOAT32: {
        uint32_t b = (uint32_t)e->bits;
        float f;
        memcpy(&f, &b, 4);
        *out = f;
        return true;
    }
    case WGML_GGUF_FLOAT64:
        memcpy(out, &e->bits, 8);
        return true;
    case WGML_GGUF_UINT8: case WGML_GGUF_UINT16: case WGML_GGUF_UINT32: case WGML_GGUF_UINT64:
        *out = (double)e->bits;
        return true;
    case WGML_GGUF_INT8: case WGML_GGUF_INT16: case WGML_GGUF_INT32: case WGML_GGUF_INT64:
        *out = (double)signed_value(e);
        return true;
    default: return false;
    }
}

bool wgml_gguf_get_bool(const wgml_gguf *g, const char *key, bool *out)
{
    const kv *e = find(g, key);
    if (!e || !out || e->type != WGML_GGUF_BOOL) return false;
    *out = e->bits != 0;
    return true;
}

bool wgml_gguf_get_str(const wgml_gguf *g, const char *key, const char **out, size_t *len)
{
    const kv *e = find(g, key);
    if (!e || e->type != WGML_GGUF_STRING || e->count > SIZE_MAX) return false;
    if (out) *out = e->data;
    if (len) *len = (size_t)e->count;
    return true;
}

bool wgml_gguf_get_arr(const wgml_gguf *g, const char *key, wgml_gguf_value_type *elem_type,
                       uint64_t *count)
{
    const kv *e = find(g, key);
    if (!e || e->type != WGML_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = (wgml_gguf_value_type)e->elem_type;
    if (count) *count = e->count;
    return true;
}

bool wgml_gguf_arr_str(const wgml_gguf *g, const char *key, uint64_t i, const char **out,
                       size_t *len)
{
    const kv *e = find(g, key);
    if (!e || e->type != WGML_GGUF_ARRAY || e->elem_type != WGML_GGUF_STRING || i >= e->count)
        return false;
    const str_ref *r = (const str_ref *)e->data + i;
    if (r->len > SIZE_MAX) return false;
    if (out) *out = r->s;
    if (len) *len = (size_t)r->len;
    return true;
}

const void *wgml_gguf_arr_data(const wgml_gguf *g, const char *key)
{
    const kv *e = find(g, key);
    if (!e || e->type != WGML_GGUF_ARRAY || e->elem_type == WGML_GGUF_STRING) return NULL;
    // An empty array still gets a non-NULL pointer, so NULL always means "no such array".
    static const uint64_t none;
    return e->data ? e->data : &none;
}

// ---------------------------------------------------------------- tensors

size_t wgml_gguf_tensor_count(const wgml_gguf *g) { return g ? g->n_tensors : 0; }

const wgml_gguf_tensor *wgml_gguf_tensor_at(const wgml_gguf *g, size_t i)
{
    return g && i < g->n_tensors ? &g->tensors[i] : NULL;
}

static int cmp_find_tensor(const void *key, const void *elem)
{
    return strcmp(key, (*(const wgml_gguf_tensor *const *)elem)->name);
}

const wgml_gguf_tensor *wgml_gguf_tensor_find(const wgml_gguf *g, const char *name)
{
    if (!g || !name || !g->n_tensors) return NULL;
    const wgml_gguf_tensor *const *hit =
        bsearch(name, g->by_name, g->n_tensors, sizeof *g->by_name, cmp_find_tensor);
    return hit ? *hit : NULL;
}

// True when t is one of g's records (callers may pass anything).
static bool owns(const wgml_gguf *g, const wgml_gguf_tensor *t)
{
    uintptr_t p = (uintptr_t)t, lo = (uintptr_t)g->tensors;
    return t && g->n_tensors && p >= lo && p < lo + g->n_tensors * sizeof *g->tensors &&
           (p - lo) % sizeof *g->tensors == 0;
}

const void *wgml_gguf_tensor_data(const wgml_gguf *g, const wgml_gguf_tensor *t)
{
    if (!g || !owns(g, t) || g->kind == SOURCE_READER) return NULL;
    return g->base + t->file_offset;
}

wgml_status wgml_gguf_tensor_read(wgml_gguf *g, const wgml_gguf_tensor *t, uint64_t offset,
                                  void *dst, size_t n)
{
    if (!g) return WGML_ERR_INVALID_ARGUMENT;
    if (!owns(g, t))
        return set_error(g, WGML_ERR_INVALID_ARGUMENT, "tensor_read: not a tensor of this file");
    if (!dst && n) return set_error(g, WGML_ERR_INVALID_ARGUMENT, "tensor_read: dst is NULL");
    if (offset > t->size || n > t->size - offset)
        return set_error(g, WGML_ERR_INVALID_ARGUMENT,
                         "tensor_read: bytes %llu..+%zu are outside tensor \"%.80s\" (%llu bytes)",
                         ULL(offset), n, t->name, ULL(t->size));
    wgml_status s = source_read(g, t->file_offset + offset, dst, n);
    if (s)
        return set_error(g, s, "reading %zu bytes of tensor \"%.80s\" failed (%s)", n, t->name,
                         wgml_status_name(s));
    return WGML_OK;
}

wgml_status wgml_gguf_tensor_read_f32(wgml_gguf *g, const wgml_gguf_tensor *t, uint64_t first,
                                      uint64_t n, float *dst)
{
    if (!g) return WGML_ERR_INVALID_ARGUMENT;
    if (!owns(g, t))
        return set_error(g, WGML_ERR_INVALID_ARGUMENT, "read_f32: not a tensor of this file");
    if (first > t->n_elements || n > t->n_elements - first || (!dst && n))
        return set_error(g, WGML_ERR_INVALID_ARGUMENT, "read_f32: elements %llu..+%llu are "
                         "outside tensor \"%.80s\" (%llu elements)", ULL(first), ULL(n), t->name,
                         ULL(t->n_elements));
    uint32_t be = 1, bb = 1;
    wgml_gguf_type_block(t->type, &be, &bb);   // open checked the type
    // Whole blocks around the range, a bounded number at a time.
    enum { CHUNK_BYTES = 16384 };
    uint64_t per = CHUNK_BYTES / bb, b = first / be, b_end = (first + n + be - 1) / be;
    unsigned char *raw = malloc(CHUNK_BYTES);
    float *y = malloc((size_t)(per * be) * sizeof *y);
    wgml_status s = raw && y ? WGML_OK : WGML_ERR_OUT_OF_MEMORY;
    if (s) set_error(g, s, "read_f32: out of memory");
    for (; b < b_end && !s; b += per) {
        uint64_t k = b_end - b < per ? b_end - b : per;
        s = wgml_gguf_tensor_read(g, t, b * bb, raw, (size_t)(k * bb));
        if (!s) s = wgml_gguf_dequantize(t->type, raw, k * be, y);
        // The part of these blocks inside [first, first + n).
        uint64_t lo = b * be > first ? b * be : first;
        uint64_t hi = (b + k) * be < first + n ? (b + k) * be : first + n;
        if (!s) memcpy(dst + (lo - first), y + (lo - b * be), (size_t)(hi - lo) * sizeof *y);
    }
    free(raw);
    free(y);
    return s;
}
