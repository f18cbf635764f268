/*
 * safetensors reader.
 *
 * File layout (all integers little-endian):
 *   bytes [0, 8)        u64 N: length of the header in bytes
 *   bytes [8, 8 + N)    header: UTF-8 JSON object (often padded with spaces)
 *   bytes [8 + N, end)  data section: the tensors' bytes, back to back
 * The header maps each tensor name to
 *   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * where begin/end are byte offsets into the data section, plus an optional
 * "__metadata__" object whose values are all strings. Element data is
 * row-major (last dim fastest), little-endian, with no padding or alignment.
 *
 * Rules enforced at open; a file that breaks one is WGML_ERR_BAD_FILE with a
 * message naming the rule and the tensor:
 *   - the file has at least 8 bytes; N <= 100,000,000 and N <= size - 8;
 *   - the header is valid UTF-8 JSON (strict RFC 8259) and an object;
 *   - no tensor name repeats or contains U+0000 (names are C strings here);
 *   - each tensor's info is an object with exactly one "dtype", "shape" and
 *     "data_offsets" (other fields are ignored, as the reference reader does);
 *   - dtype is one this reader knows (see wgml_safetensors_dtype);
 *   - shape has at most 8 entries, each a non-negative integer; the element
 *     count and byte size are computed with overflow checks;
 *   - data_offsets is [begin, end] of non-negative integers, begin <= end,
 *     and end - begin equals elements * dtype size;
 *   - sorted by offset, the [begin, end) ranges tile the data section from 0
 *     with no gap and no overlap, and the last end is the data section's size
 *     (so header and data account for every byte of the file);
 *   - "__metadata__" is an object of strings with no repeated key.
 *
 * Memory: before validation passes, the reader holds the header (copied only
 * for a read-at source), its JSON tree and one small record per tensor.
 * Nothing is sized by a number read from the header. The tree costs a
 * constant factor of the header's bytes: a few times for real headers, and
 * at worst about 35 times for a hostile header of tiny values ("0,0,0,...":
 * 32 bytes per value plus the parser's pending stack), so up to ~3.5 GB at
 * the 100 MB header limit (a failed allocation is WGML_ERR_OUT_OF_MEMORY; a
 * caller that needs a tighter bound can read the u64 length first and
 * refuse). After validation only the records and one pool of names and
 * metadata strings remain. A mapped file that another process truncates
 * later can still fault on access; that is the price of mapping.
 */
#include "formats/file_read.h"
#include "formats/safetensors.h"

#include "core/half.h"
#include "formats/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(__wasi__)
#include <sys/mman.h>
#endif
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------- dtypes

static const struct {
    const char *name;
    size_t size;   // bytes per element
} dtypes[WGML_ST_DTYPE_COUNT] = {
    [WGML_ST_F32] = {"F32", 4},         [WGML_ST_F16] = {"F16", 2},
    [WGML_ST_BF16] = {"BF16", 2},       [WGML_ST_F64] = {"F64", 8},
    [WGML_ST_I64] = {"I64", 8},         [WGML_ST_U64] = {"U64", 8},
    [WGML_ST_I32] = {"I32", 4},         [WGML_ST_U32] = {"U32", 4},
    [WGML_ST_I16] = {"I16", 2},         [WGML_ST_U16] = {"U16", 2},
    [WGML_ST_I8] = {"I8", 1},           [WGML_ST_U8] = {"U8", 1},
    [WGML_ST_BOOL] = {"BOOL", 1},       [WGML_ST_F8_E4M3] = {"F8_E4M3", 1},
    [WGML_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *wgml_safetensors_dtype_name(wgml_safetensors_dtype t)
{
    return (unsigned)t < WGML_ST_DTYPE_COUNT ? dtypes[t].name : NULL;
}

size_t wgml_safetensors_dtype_size(wgml_safetensors_dtype t)
{
    return (unsigned)t < WGML_ST_DTYPE_COUNT ? dtypes[t].size : 0;
}

// ---------------------------------------------------------------- the handle

typedef enum source_kind { SOURCE_MAP, SOURCE_MEMORY, SOURCE_READER } source_kind;

typedef struct meta_entry {
    const char *key;
    const char *value;
    size_t value_len;     // bytes, without the NUL (a value may hold U+0000)
} meta_entry;

struct wgml_safetensors {
    source_kind kind;
    const unsigned char *base;   // MAP, MEMORY: the whole source
    uint64_t size;               // bytes of the whole source
    uint64_t data_start;         // 8 + header length
    void *map;                   // MAP: what to munmap
    size_t map_len;
    wgml_safetensors_read_fn read_at;   // READER
    void *user;
    int fd;                      // READER over a file (WASI): what to close, else -1

    wgml_safetensors_tensor *tensors;   // (n_tensors) in header order
    size_t n_tensors;
    const wgml_safetensors_tensor **by_name;   // (n_tensors) sorted by name
    meta_entry *meta;                   // (n_meta) in header order
    size_t n_meta;
    const meta_entry **meta_by_key;     // (n_meta) sorted by key
    char *strings;                      // pool for names, keys and values
    char last_error[256];
};

// Where an open's error message goes.
typedef struct open_ctx {
    char *err;
    size_t err_size;
} open_ctx;

static wgml_status fail(open_ctx *oc, wgml_status st, const char *fmt, ...)
{
    if (oc->err && oc->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(oc->err, oc->err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

#define BAD(oc, ...) fail((oc), WGML_ERR_BAD_FILE, __VA_ARGS__)
// Tensor names in messages, cut short so a hostile name cannot fill the message.
#define NAME_FMT "\"%.*s%s\""
#define NAME_ARG(s, n) (int)((n) > 80 ? 80 : (n)), (s), ((n) > 80 ? "..." : "")

static wgml_status set_error(wgml_safetensors *st, wgml_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->last_error, sizeof st->last_error, fmt, ap);
    va_end(ap);
    return status;
}

// Reads [off, off + n) of the source, which the caller has checked lies inside it.
static wgml_status source_read(const wgml_safetensors *st, uint64_t off, void *dst, size_t n)
{
    if (n == 0) return WGML_OK;
    if (st->kind == SOURCE_READER) return st->read_at(st->user, off, dst, n);
    memcpy(dst, st->base + off, n);
    return WGML_OK;
}

static uint64_t load_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

// ---------------------------------------------------------------- header checks

static bool key_is(const char *key, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(key, word, len) == 0;
}

// A JSON integer in [0, INT64_MAX], or false.
static bool get_u64(const wgml_json *v, uint64_t *out)
{
    int64_t i;
    if (!wgml_json_int64(v, &i) || i < 0) return false;
    *out = (uint64_t)i;
    return true;
}

static wgml_status parse_tensor(open_ctx *oc, const char *name, size_t name_len,
                                const wgml_json *info, wgml_safetensors_tensor *t)
{
    if (memchr(name, '\0', name_len))
        return BAD(oc, "tensor " NAME_FMT ": name contains U+0000", NAME_ARG(name, name_len));
    if (wgml_json_type_of(info) != WGML_JSON_OBJECT)
        return BAD(oc, "tensor " NAME_FMT ": info is not an object", NAME_ARG(name, name_len));
    const wgml_json *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (size_t i = 0; i < wgml_json_count(info); i++) {
        size_t klen;
        const char *k = wgml_json_key_at(info, i, &klen);
        const wgml_json **slot = key_is(k, klen, "dtype")          ? &dtype
                                 : key_is(k, klen, "shape")        ? &shape
                                 : key_is(k, klen, "data_offsets") ? &offsets
                                                                   : NULL;
        if (!slot) continue;
        if (*slot)
            return BAD(oc, "tensor " NAME_FMT ": \"%s\" repeated", NAME_ARG(name, name_len), k);
        *slot = wgml_json_at(info, i);
    }
    if (!dtype) return BAD(oc, "tensor " NAME_FMT ": missing dtype", NAME_ARG(name, name_len));
    if (!shape) return BAD(oc, "tensor " NAME_FMT ": missing shape", NAME_ARG(name, name_len));
    if (!offsets)
        return BAD(oc, "tensor " NAME_FMT ": missing data_offsets", NAME_ARG(name, name_len));

    size_t dlen;
    const char *ds = wgml_json_string(dtype, &dlen);
    if (!ds) return BAD(oc, "tensor " NAME_FMT ": dtype is not a string", NAME_ARG(name, name_len));
    int found = -1;
    for (int d = 0; d < WGML_ST_DTYPE_COUNT; d++)
        if (key_is(ds, dlen, dtypes[d].name)) found = d;
    if (found < 0)
        return BAD(oc, "tensor " NAME_FMT ": unknown dtype " NAME_FMT, NAME_ARG(name, name_len),
                   NAME_ARG(ds, dlen));
    t->dtype = (wgml_safetensors_dtype)found;

    if (wgml_json_type_of(shape) != WGML_JSON_ARRAY)
        return BAD(oc, "tensor " NAME_FMT ": shape is not an array", NAME_ARG(name, name_len));
    size_t nd = wgml_json_count(shape);
    if (nd > WGML_SAFETENSORS_MAX_DIMS)
        return BAD(oc, "tensor " NAME_FMT ": shape has %zu dims, more than %d",
                   NAME_ARG(name, name_len), nd, WGML_SAFETENSORS_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    bool has_zero = false;
    for (size_t i = 0; i < nd; i++) {
        if (!get_u64(wgml_json_at(shape, i), &t->shape[i]))
            return BAD(oc, "tensor " NAME_FMT ": shape[%zu] is not a non-negative integer",
                       NAME_ARG(name, name_len), i);
        if (t->shape[i] == 0) has_zero = true;
    }
    // A zero dimension makes the count 0 whatever the others are; otherwise
    // every partial product must fit in 64 bits.
    uint64_t count = has_zero ? 0 : 1;
    for (size_t i = 0; i < nd && count; i++) {
        if (t->shape[i] > UINT64_MAX / count)
            return BAD(oc, "tensor " NAME_FMT ": shape product overflows 64 bits",
                       NAME_ARG(name, name_len));
        count *= t->shape[i];
    }
    size_t es = dtypes[t->dtype].size;
    if (count > UINT64_MAX / es)
        return BAD(oc, "tensor " NAME_FMT ": byte size of the shape overflows 64 bits",
                   NAME_ARG(name, name_len));
    t->n_elements = count;

    uint64_t begin, end;
    if (wgml_json_type_of(offsets) != WGML_JSON_ARRAY || wgml_json_count(offsets) != 2)
        return BAD(oc, "tensor " NAME_FMT ": data_offsets is not [begin, end]",
                   NAME_ARG(name, name_len));
    if (!get_u64(wgml_json_at(offsets, 0), &begin) || !get_u64(wgml_json_at(offsets, 1), &end))
        return BAD(oc, "tensor " NAME_FMT ": data_offsets are not non-negative integers",
                   NAME_ARG(name, name_len));
    if (begin > end)
        return BAD(oc, "tensor " NAME_FMT ": data_offsets begin %llu > end %llu",
                   NAME_ARG(name, name_len), (unsigned long long)begin, (unsigned long long)end);
    if (end - begin != count * es)
        return BAD(oc, "tensor " NAME_FMT ": size mismatch: data_offsets span %llu bytes, "
                   "shape x %s needs %llu", NAME_ARG(name, name_len),
                   (unsigned long long)(end - begin), dtypes[t->dtype].name,
                   (unsigned long long)(count * es));
    t->offset = begin;
    t->size = end - begin;
    return WGML_OK;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const wgml_safetensors_tensor *x = *(const wgml_safetensors_tensor *const *)a;
    const wgml_safetensors_tensor *y = *(const wgml_safetensors_tensor *const *)b;
    uint64_t xe = x->offset + x->size, ye = y->offset + y->size;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (xe != ye) return xe < ye ? -1 : 1;
    return x < y ? -1 : x > y;   // same array: header order breaks ties
}

static int cmp_by_name(const void *a, const void *b)
{
    const wgml_safetensors_tensor *x = *(const wgml_safetensors_tensor *const *)a;
    const wgml_safetensors_tensor *y = *(const wgml_safetensors_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp((*(const meta_entry *const *)a)->key, (*(const meta_entry *const *)b)->key);
}

// The ranges must cover [0, data_size) exactly once.
static wgml_status check_tiling(wgml_safetensors *st, open_ctx *oc, uint64_t data_size)
{
    size_t n = st->n_tensors;
    const wgml_safetensors_tensor **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return fail(oc, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) order[i] = &st->tensors[i];
    qsort(order, n, sizeof *order, cmp_by_offset);
    wgml_status status = WGML_OK;
    uint64_t covered = 0;
    for (size_t i = 0; i < n && !status; i++) {
        const wgml_safetensors_tensor *t = order[i];
        uint64_t end = t->offset + t->size;
        if (t->offset < covered)
            status = BAD(oc, "tensors " NAME_FMT " and " NAME_FMT " overlap in the data section "
                         "(at bytes %llu..%llu)", NAME_ARG(order[i - 1]->name, order[i - 1]->name_len),
                         NAME_ARG(t->name, t->name_len), (unsigned long long)t->offset,
                         (unsigned long long)covered);
        else if (t->offset > covered)
            status = BAD(oc, "gap of %llu bytes in the data section before tensor " NAME_FMT
                         " (bytes %llu..%llu belong to no tensor)",
                         (unsigned long long)(t->offset - covered), NAME_ARG(t->name, t->name_len),
                         (unsigned long long)covered, (unsigned long long)t->offset);
        else if (end > data_size)
            status = BAD(oc, "tensor " NAME_FMT " ends at byte %llu, past the end of the "
                         "%llu-byte data section", NAME_ARG(t->name, t->name_len),
                         (unsigned long long)end, (unsigned long long)data_size);
        covered = end;
    }
    if (!status && covered != data_size)
        status = BAD(oc, "trailing bytes: the data section has %llu bytes but the tensors end "
                     "at %llu", (unsigned long long)data_size, (unsigned long long)covered);
    free(order);
    return status;
}

static wgml_status parse_metadata(wgml_safetensors *st, open_ctx *oc, const wgml_json *m,
                                  char **pool)
{
    if (wgml_json_type_of(m) != WGML_JSON_OBJECT)
        return BAD(oc, "__metadata__ is not an object");
    size_t n = wgml_json_count(m);
    for (size_t i = 0; i < n; i++) {
        size_t klen, vlen;
        const char *k = wgml_json_key_at(m, i, &klen);
        const char *v = wgml_json_string(wgml_json_at(m, i), &vlen);
        if (!v)
            return BAD(oc, "__metadata__ value of " NAME_FMT " is not a string", NAME_ARG(k, klen));
        if (memchr(k, '\0', klen))
            return BAD(oc, "__metadata__ key " NAME_FMT " contains U+0000", NAME_ARG(k, klen));
        meta_entry *e = &st->meta[i];
        e->key = memcpy(*pool, k, klen + 1);
        *pool += klen + 1;
        e->value = memcpy(*pool, v, vlen + 1);
        *pool += vlen + 1;
        e->value_len = vlen;
        st->meta_by_key[i] = e;
    }
    st->n_meta = n;
    qsort(st->meta_by_key, n, sizeof *st->meta_by_key, cmp_meta);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(st->meta_by_key[i - 1]->key, st->meta_by_key[i]->key))
            return BAD(oc, "__metadata__ key " NAME_FMT " repeated",
                       NAME_ARG(st->meta_by_key[i]->key, strlen(st->meta_by_key[i]->key)));
    return WGML_OK;
}

// Builds the tensor table from the parsed header and checks every rule.
static wgml_status build_table(wgml_safetensors *st, open_ctx *oc, const wgml_json *root,
                               uint64_t data_size)
{
    if (wgml_json_type_of(root) != WGML_JSON_OBJECT) return BAD(oc, "header is not a JSON object");
    size_t members = wgml_json_count(root), n_tensors = 0, pool_size = 0;
    const wgml_json *meta = NULL;
    // Sizes first, from what the parsed header actually holds: every string
    // counted here exists in the header's bytes.
    for (size_t i = 0; i < members; i++) {
        size_t klen;
        const char *k = wgml_json_key_at(root, i, &klen);
        if (key_is(k, klen, "__metadata__")) {
            if (meta) return BAD(oc, "__metadata__ repeated");
            meta = wgml_json_at(root, i);
            for (size_t j = 0; j < wgml_json_count(meta); j++) {
                size_t a, b = 0;
                wgml_json_key_at(meta, j, &a);
                wgml_json_string(wgml_json_at(meta, j), &b);
                pool_size += a + b + 2;
            }
        } else {
            n_tensors++;
            pool_size += klen + 1;
        }
    }
    size_t n_meta = wgml_json_count(meta);
    st->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *st->tensors);
    st->by_name = calloc(n_tensors ? n_tensors : 1, sizeof *st->by_name);
    st->meta = calloc(n_meta ? n_meta : 1, sizeof *st->meta);
    st->meta_by_key = calloc(n_meta ? n_meta : 1, sizeof *st->meta_by_key);
    st->strings = malloc(pool_size ? pool_size : 1);
    if (!st->tensors || !st->by_name || !st->meta || !st->meta_by_key || !st->strings)
        return fail(oc, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    char *pool = st->strings;

    for (size_t i = 0; i < members; i++) {
        size_t klen;
        const char *k = wgml_json_key_at(root, i, &klen);
        if (key_is(k, klen, "__metadata__")) continue;
        wgml_safetensors_tensor *t = &st->tensors[st->n_tensors];
        wgml_status s = parse_tensor(oc, k, klen, wgml_json_at(root, i), t);
        if (s) return s;
        t->name = memcpy(pool, k, klen + 1);
        t->name_len = klen;
        pool += klen + 1;
        t->file_offset = st->data_start + t->offset;   // checked against the size by the tiling
        st->by_name[st->n_tensors++] = t;
    }
    qsort(st->by_name, st->n_tensors, sizeof *st->by_name, cmp_by_name);
    for (size_t i = 1; i < st->n_tensors; i++)
        if (!strcmp(st->by_name[i - 1]->name, st->by_name[i]->name))
            return BAD(oc, "duplicate tensor name " NAME_FMT,
                       NAME_ARG(st->by_name[i]->name, st->by_name[i]->name_len));
    if (meta) {
        wgml_status s = parse_metadata(st, oc, meta, &pool);
        if (s) return s;
    }
    return check_tiling(st, oc, data_size);
}

// Reads and checks the header of a source whose fields are set; fills the table.
static wgml_status open_source(wgml_safetensors *st, open_ctx *oc)
{
    if (st->size < 8)
        return BAD(oc, "file is %llu bytes, shorter than the 8-byte header length",
                   (unsigned long long)st->size);
    unsigned char lenb[8];
    wgml_status s = source_read(st, 0, lenb, 8);
    if (s) return fail(oc, s, "reading the header length failed (%s)", wgml_status_name(s));
    uint64_t n = load_le64(lenb);
    if (n > WGML_SAFETENSORS_MAX_HEADER)
        return BAD(oc, "header too large: length %llu exceeds the format's limit of %u bytes",
                   (unsigned long long)n, WGML_SAFETENSORS_MAX_HEADER);
    if (n > st->size - 8)
        return BAD(oc, "header length %llu runs past the end of the file (%llu bytes follow "
                   "the length)", (unsigned long long)n, (unsigned long long)(st->size - 8));
    st->data_start = 8 + n;

    const char *header;
    char *copy = NULL;
    if (st->kind == SOURCE_READER) {
        copy = malloc(n ? (size_t)n : 1);   // n <= 1e8 fits size_t
        if (!copy) return fail(oc, WGML_ERR_OUT_OF_MEMORY, "out of memory for a %llu-byte header",
                               (unsigned long long)n);
        s = source_read(st, 8, copy, (size_t)n);
        if (s) {
            free(copy);
            return fail(oc, s, "reading the %llu-byte header failed (%s)", (unsigned long long)n,
                        wgml_status_name(s));
        }
        header = copy;
    } else {
        header = (const char *)st->base + 8;
    }
    // Offsets in JSON messages count from the header's first byte (file byte 8).
    wgml_json_options jopt = {.max_depth = 8};
    wgml_json_doc *doc = NULL;
    char jerr[160];
    s = wgml_json_parse(header, (size_t)n, &jopt, &doc, jerr, sizeof jerr);
    if (s == WGML_ERR_OUT_OF_MEMORY) s = fail(oc, s, "out of memory parsing the header");
    else if (s) s = BAD(oc, "header is not valid JSON at header %s", jerr);
    if (!s) s = build_table(st, oc, wgml_json_root(doc), st->size - st->data_start);
    wgml_json_free(doc);
    free(copy);
    return s;
}

static wgml_status finish_open(wgml_safetensors *st, open_ctx *oc, wgml_safetensors **out)
{
    wgml_status s = open_source(st, oc);
    if (s) {
        wgml_safetensors_close(st);
        return s;
    }
    *out = st;
    return WGML_OK;
}

// ---------------------------------------------------------------- opening


wgml_status wgml_safetensors_open_memory(const void *data, size_t size, wgml_safetensors **out,
                                         char *err, size_t err_size)
{
    open_ctx oc = {err, err_size};
    if (err && err_size) err[0] = '\0';
    if (!out || (!data && size)) return fail(&oc, WGML_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    wgml_safetensors *st = calloc(1, sizeof *st);
    if (!st) return fail(&oc, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    st->kind = SOURCE_MEMORY;
    st->base = data;
    st->size = size;
    return finish_open(st, &oc, out);
}

wgml_status wgml_safetensors_open_reader(wgml_safetensors_read_fn read_at, void *user,
                                         uint64_t size, wgml_safetensors **out, char *err,
                                         size_t err_size)
{
    open_ctx oc = {err, err_size};
    if (err && err_size) err[0] = '\0';
    if (!out || !read_at) return fail(&oc, WGML_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    wgml_safetensors *st = calloc(1, sizeof *st);
    if (!st) return fail(&oc, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    st->kind = SOURCE_READER;
    st->read_at = read_at;
    st->user = user;
    st->size = size;
    return finish_open(st, &oc, out);
}

wgml_status wgml_safetensors_open_file(const char *path, wgml_safetensors **out, char *err,
                                       size_t err_size)
{
    open_ctx oc = {err, err_size};
    if (err && err_size) err[0] = '\0';
    if (!out || !path) return fail(&oc, WGML_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(&oc, WGML_ERR_INVALID_ARGUMENT, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(&oc, WGML_ERR_INVALID_ARGUMENT, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return BAD(&oc, "%s: file is %llu bytes, shorter than the 8-byte header length", path,
                   (unsigned long long)size);
    }
#if defined(__wasi__)
    // WASI has no mmap: the file is read on demand through pread. In the
    // browser each read is a slice of a Blob (web/wgml.js), so a large model
    // never sits whole in memory; the loader reads one tensor at a time.
    wgml_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        close(fd);
        return fail(&oc, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    }
    st->kind = SOURCE_READER;
    st->read_at = wgml_fd_read_at;
    st->fd = fd;
    st->user = &st->fd;
    st->size = size;
#else
    if (size > SIZE_MAX) {
        close(fd);
        return fail(&oc, WGML_ERR_UNSUPPORTED, "%s: %llu bytes cannot be mapped here", path,
                    (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);   // the mapping keeps the file open
    if (map == MAP_FAILED)
        return fail(&oc, WGML_ERR_OUT_OF_MEMORY, "%s: mmap failed: %s", path, strerror(map_errno));
    wgml_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        munmap(map, (size_t)size);
        return fail(&oc, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    }
    st->kind = SOURCE_MAP;
    st->base = map;
    st->size = size;
    st->map = map;
    st->map_len = (size_t)size;
    st->fd = -1;
#endif
    wgml_status s = finish_open(st, &oc, out);
    if (s && err && err_size) {
        // Name the file in front of the reason.
        char reason[512];
        snprintf(reason, sizeof reason, "%s", err);
        snprintf(err, err_size, "%s: %s", path, reason);
    }
    return s;
}

void wgml_safetensors_close(wgml_safetensors *st)
{
    if (!st) return;
#if defined(__wasi__)
    if (st->kind == SOURCE_READER && st->read_at == wgml_fd_read_at) close(st->fd);
#else
    if (st->map) munmap(st->map, st->map_len);
#endif
    free(st->tensors);
    free(st->by_name);
    free(st->meta);
    free(st->meta_by_key);
    free(st->strings);
    free(st);
}

const char *wgml_safetensors_last_error(const wgml_safetensors *st)
{
    return st ? st->last_error : "no safetensors handle";
}

// ---------------------------------------------------------------- tensors

size_t wgml_safetensors_count(const wgml_safetensors *st) { return st ? st->n_tensors : 0; }

const wgml_safetensors_tensor *wgml_safetensors_tensor_at(const wgml_safetensors *st, size_t i)
{
    return st && i < st->n_tensors ? &st->tensors[i] : NULL;
}

static int cmp_find_name(const void *key, const void *elem)
{
    return strcmp(key, (*(const wgml_safetensors_tensor *const *)elem)->name);
}

const wgml_safetensors_tensor *wgml_safetensors_tensor_find(const wgml_safetensors *st,
                                                            const char *name)
{
    if (!st || !name || !st->n_tensors) return NULL;
    const wgml_safetensors_tensor *const *hit =
        bsearch(name, st->by_name, st->n_tensors, sizeof *st->by_name, cmp_find_name);
    return hit ? *hit : NULL;
}

// True when t is one of st's records (callers may pass anything).
static bool owns(const wgml_safetensors *st, const wgml_safetensors_tensor *t)
{
    uintptr_t p = (uintptr_t)t, lo = (uintptr_t)st->tensors;
    return p >= lo && p < lo + st->n_tensors * sizeof *st->tensors &&
           (p - lo) % sizeof *st->tensors == 0;
}

wgml_status wgml_safetensors_tensor_read(wgml_safetensors *st, const wgml_safetensors_tensor *t,
                                         uint64_t offset, void *dst, size_t n)
{
    if (!st) return WGML_ERR_INVALID_ARGUMENT;
    if (!t || !owns(st, t))
        return set_error(st, WGML_ERR_INVALID_ARGUMENT, "tensor_read: not a tensor of this file");
    if (!dst && n) return set_error(st, WGML_ERR_INVALID_ARGUMENT, "tensor_read: dst is NULL");
    if (offset > t->size || n > t->size - offset)
        return set_error(st, WGML_ERR_INVALID_ARGUMENT,
                         "tensor_read: bytes %llu..+%zu are outside tensor \"%s\" (%llu bytes)",
                         (unsigned long long)offset, n, t->name, (unsigned long long)t->size);
    wgml_status s = source_read(st, t->file_offset + offset, dst, n);
    if (s)
        return set_error(st, s, "reading %zu bytes of tensor \"%s\" failed (%s)", n, t->name,
                         wgml_status_name(s));
    return WGML_OK;
}

const void *wgml_safetensors_tensor_data(const wgml_safetensors *st,
                                         const wgml_safetensors_tensor *t)
{
    if (!st || !t || !owns(st, t) || st->kind == SOURCE_READER) return NULL;
    return st->base + t->file_offset;
}

// Little-endian elements to f32, whatever the host's byte order.
static void convert_f32(wgml_safetensors_dtype dt, const unsigned char *src, float *dst,
                        size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        if (dt == WGML_ST_F32) {
            const unsigned char *b = src + 4 * i;
            bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 24;
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            if (dt == WGML_ST_F16) {
                dst[i] = wgml_f16_to_f32(h);
                continue;
            }
            bits = (uint32_t)h << 16;   // BF16 is the top half of an f32
        }
        memcpy(&dst[i], &bits, 4);
    }
}

wgml_status wgml_safetensors_tensor_read_f32(wgml_safetensors *st,
                                             const wgml_safetensors_tensor *t, float *dst,
                                             size_t capacity)
{
    if (!st) return WGML_ERR_INVALID_ARGUMENT;
    if (!t || !owns(st, t))
        return set_error(st, WGML_ERR_INVALID_ARGUMENT, "read_f32: not a tensor of this file");
    if (t->dtype != WGML_ST_F32 && t->dtype != WGML_ST_F16 && t->dtype != WGML_ST_BF16)
        return set_error(st, WGML_ERR_UNSUPPORTED, "read_f32: tensor \"%s\" is %s, not F32, F16 "
                         "or BF16", t->name, dtypes[t->dtype].name);
    if (t->n_elements > capacity || (!dst && t->n_elements))
        return set_error(st, WGML_ERR_INVALID_ARGUMENT, "read_f32: tensor \"%s\" has %llu "
                         "elements, dst holds %zu", t->name, (unsigned long long)t->n_elements,
                         capacity);
    size_t es = dtypes[t->dtype].size, count = (size_t)t->n_elements;
    if (st->kind != SOURCE_READER) {
        convert_f32(t->dtype, st->base + t->file_offset, dst, count);
        return WGML_OK;
    }
    // Through a small bounce buffer: a read-at source never costs a tensor-sized copy.
    unsigned char buf[16384];
    size_t per = sizeof buf / es;
    for (size_t done = 0; done < count;) {
        size_t k = count - done < per ? count - done : per;
        wgml_status s = source_read(st, t->file_offset + (uint64_t)done * es, buf, k * es);
        if (s)
            return set_error(st, s, "reading tensor \"%s\" failed (%s)", t->name,
                             wgml_status_name(s));
        convert_f32(t->dtype, buf, dst + done, k);
        done += k;
    }
    return WGML_OK;
}

// ---------------------------------------------------------------- metadata

size_t wgml_safetensors_metadata_count(const wgml_safetensors *st) { return st ? st->n_meta : 0; }

bool wgml_safetensors_metadata_at(const wgml_safetensors *st, size_t i, const char **key,
                                  const char **value, size_t *value_len)
{
    if (!st || i >= st->n_meta) return false;
    if (key) *key = st->meta[i].key;
    if (value) *value = st->meta[i].value;
    if (value_len) *value_len = st->meta[i].value_len;
    return true;
}

static int cmp_find_meta(const void *key, const void *elem)
{
    return strcmp(key, (*(const meta_entry *const *)elem)->key);
}

const char *wgml_safetensors_metadata_get(const wgml_safetensors *st, const char *key,
                                          size_t *value_len)
{
    if (!st || !key || !st->n_meta) return NULL;
    const meta_entry *const *hit =
        bsearch(key, st->meta_by_key, st->n_meta, sizeof *st->meta_by_key, cmp_find_meta);
    if (!hit) return NULL;
    if (value_len) *value_len = (*hit)->value_len;
    return (*hit)->value;
}
