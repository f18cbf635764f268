/*
 * GGUF v3 writer (the format is described at the top of gguf.c).
 *
 * Key/values are serialised when they are set (setting a key again replaces
 * its value in place, as ggml's gguf_set_* do, so a file never repeats a
 * key); tensors are recorded with their shape and either a copy of their
 * bytes or nothing, in which case the caller's fill callback produces the
 * bytes at write time, a chunk at a time, so a file larger than memory can be
 * written. Every value is checked as the reader checks it, so whatever the
 * writer accepts the reader opens.
 *
 * Layout written: header, key/values in the order first set, tensor infos in
 * the order added, zero padding to the alignment, then each tensor at the
 * next multiple of the alignment after the previous one, the last one padded
 * too (as GGUFWriter and ggml lay them out). A file without tensors ends
 * after its tensor infos.
 */
#include "formats/gguf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { DEFAULT_ALIGNMENT = 32, FILL_CHUNK = 4 << 20 };

typedef struct wkv {
    char *key;
    unsigned char *value;   // value type (u32) and the serialised value
    size_t value_len;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[WGML_GGUF_MAX_DIMS];   // ne[0] contiguous
    uint64_t size;                     // bytes
    uint64_t offset;                   // from the data section's start, set at write
    unsigned char *data;               // a copy, or NULL: produced by fill
} wtensor;

struct wgml_gguf_writer {
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    uint64_t alignment;
    char last_error[256];
};

static wgml_status set_error(wgml_gguf_writer *w, wgml_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->last_error, sizeof w->last_error, fmt, ap);
    va_end(ap);
    return st;
}

wgml_gguf_writer *wgml_gguf_writer_create(void)
{
    wgml_gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = DEFAULT_ALIGNMENT;
    return w;
}

void wgml_gguf_writer_free(wgml_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->kvs);
    free(w->tensors);
    free(w);
}

const char *wgml_gguf_writer_last_error(const wgml_gguf_writer *w)
{
    return w ? w->last_error : "no GGUF writer";
}

// ---------------------------------------------------------------- serialising

// A growable byte buffer; `failed` sticks after an allocation failure.
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    bool failed;
} buf;

static void put(buf *b, const void *src, size_t n)
{
    if (b->failed) return;
    if (n > SIZE_MAX - b->n) {
        b->failed = true;
        return;
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap = cap > SIZE_MAX / 2 ? b->n + n : 2 * cap;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le(buf *b, uint64_t v, int bytes)
{
    unsigned char le[8];
    for (int i = 0; i < bytes; i++) le[i] = (unsigned char)(v >> (8 * i));
    put(b, le, (size_t)bytes);
}

static void put_str(buf *b, const char *s, size_t len)
{
    put_le(b, len, 8);
    put(b, s, len);
}

// Takes ownership of v->p: stores it as `key`'s value, replacing an old one.
static wgml_status add_kv(wgml_gguf_writer *w, const char *key, buf *v)
{
    if (v->failed) {
        free(v->p);
        return set_error(w, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, key)) {
            free(w->kvs[i].value);
            w->kvs[i].value = v->p;
            w->kvs[i].value_len = v->n;
            return WGML_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *k = realloc(w->kvs, cap * sizeof *k);
        if (!k) {
            free(v->p);
            return set_error(w, WGML_ERR_OUT_OF_MEMORY, "out of memory");
        }
        w->kvs = k;
        w->cap_kv = cap;
    }
    size_t klen = strlen(key);
    char *kcopy = malloc(klen + 1);
    if (!kcopy) {
        free(v->p);
        return set_error(w, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    }
    memcpy(kcopy, key, klen + 1);
    w->kvs[w->n_kv++] = (wkv){kcopy, v->p, v->n};
    return WGML_OK;
}

static wgml_status check_key(wgml_gguf_writer *w, const char *key)
{
    if (!w) return WGML_ERR_INVALID_ARGUMENT;
    if (!key) return set_error(w, WGML_ERR_INVALID_ARGUMENT, "key is NULL");
    // general.alignment is read back as a u32 power of two: keep it one.
    if (!strcmp(key, "general.alignment"))
        return set_error(w, WGML_ERR_INVALID_ARGUMENT,
                         "general.alignment must be set with set_u32 to a power of two");
    return WGML_OK;
}

static wgml_status set_scalar(wgml_gguf_writer *w, const char *key, uint32_t type, uint64_t bits,
                              int bytes)
{
    buf v = {0};
    put_le(&v, type, 4);
    put_le(&v, bits, bytes);
    return add_kv(w, key, &v);
}

wgml_status wgml_gguf_writer_set_u32(wgml_gguf_writer *w, const char *key, uint32_t x)
{
    if (w && key && !strcmp(key, "general.alignment")) {
        if (x == 0 || (x & (x - 1)))
            return set_error(w, WGML_ERR_INVALID_ARGUMENT,
                             "general.alignment %u is not a power of two", x);
        w->alignment = x;
        return set_scalar(w, key, WGML_GGUF_UINT32, x, 4);
    }
    wgml_status s = check_key(w, key);
    return s ? s : set_scalar(w, key, WGML_GGUF_UINT32, x, 4);
}

wgml_status wgml_gguf_writer_set_u64(wgml_gguf_writer *w, const char *key, uint64_t x)
{
    wgml_status s = check_key(w, key);
    return s ? s : set_scalar(w, key, WGML_GGUF_UINT64, x, 8);
}

wgml_status wgml_gguf_writer_set_i32(wgml_gguf_writer *w, const char *key, int32_t x)
{
    wgml_status s = check_key(w, key);
    return s ? s : set_scalar(w, key, WGML_GGUF_INT32, (uint32_t)x, 4);
}

wgml_status wgml_gguf_writer_set_f32(wgml_gguf_writer *w, const char *key, float x)
{
    uint32_t bits;
    memcpy(&bits, &x, 4);
    wgml_status s = check_key(w, key);
    return s ? s : set_scalar(w, key, WGML_GGUF_FLOAT32, bits, 4);
}

wgml_status wgml_gguf_writer_set_bool(wgml_gguf_writer *w, const char *key, bool x)
{
    wgml_status s = check_key(w, key);
    return s ? s : set_scalar(w, key, WGML_GGUF_BOOL, x ? 1 : 0, 1);
}

wgml_status wgml_gguf_writer_set_str(wgml_gguf_writer *w, const char *key, const char *x)
{
    wgml_status s = check_key(w, key);
    if (s) return s;
    if (!x) return set_error(w, WGML_ERR_INVALID_ARGUMENT, "%s: value is NULL", key);
    buf v = {0};
    put_le(&v, WGML_GGUF_STRING, 4);
    put_str(&v, x, strlen(x));
    return add_kv(w, key, &v);
}

static void put_arr_head(buf *v, uint32_t elem_type, uint64_t n)
{
    put_le(v, WGML_GGUF_ARRAY, 4);
    put_le(v, elem_type, 4);
    put_le(v, n, 8);
}

wgml_status wgml_gguf_writer_set_arr_str(wgml_gguf_writer *w, const char *key,
                                         const char *const *x, size_t n)
{
    wgml_status s = check_key(w, key);
    if (s) return s;
    if (!x && n) return set_error(w, WGML_ERR_INVALID_ARGUMENT, "%s: values are NULL", key);
    buf v = {0};
    put_arr_head(&v, WGML_GGUF_STRING, n);
    for (size_t i = 0; i < n; i++) {
        if (!x[i]) {
            free(v.p);
            return set_error(w, WGML_ERR_INVALID_ARGUMENT, "%s: element %zu is NULL", key, i);
        }
        put_str(&v, x[i], strlen(x[i]));
    }
    return add_kv(w, key, &v);
}

// Arrays of 4-byte elements, written little-endian.
static wgml_status set_arr32(wgml_gguf_writer *w, const char *key, uint32_t type,
                             const void *x, size_t n)
{
    wgml_status s = check_key(w, key);
    if (s) return s;
    if (!x && n) return set_error(w, WGML_ERR_INVALID_ARGUMENT, "%s: values are NULL", key);
    buf v = {0};
    put_arr_head(&v, type, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, (const unsigned char *)x + 4 * i, 4);
        put_le(&v, bits, 4);
    }
    return add_kv(w, key, &v);
}

wgml_status wgml_gguf_writer_set_arr_f32(wgml_gguf_writer *w, const char *key, const float *x,
                                         size_t n)
{
    return set_arr32(w, key, WGML_GGUF_FLOAT32, x, n);
}

wgml_status wgml_gguf_writer_set_arr_i32(wgml_gguf_writer *w, const char *key, const int32_t *x,
                                         size_t n)
{
    return set_arr32(w, key, WGML_GGUF_INT32, x, n);
}

static int value_bytes(uint32_t vt)
{
    static const int sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return vt < 13 ? sizes[vt] : 0;
}

wgml_status wgml_gguf_writer_copy_kv(wgml_gguf_writer *w, const wgml_gguf *g, const char *key)
{
    wgml_status s = check_key(w, key);
    if (s) return s;
    int64_t i = wgml_gguf_kv_find(g, key);
    if (i < 0) return set_error(w, WGML_ERR_INVALID_ARGUMENT, "%s: no such key to copy", key);
    uint32_t vt = wgml_gguf_kv_type(g, (size_t)i);
    buf v = {0};
    put_le(&v, vt, 4);
    const char *str;
    size_t len;
    if (vt == WGML_GGUF_STRING && wgml_gguf_get_str(g, key, &str, &len)) {
        put_str(&v, str, len);
    } else if (vt == WGML_GGUF_ARRAY) {
        wgml_gguf_value_type et;
        uint64_t n;
        wgml_gguf_get_arr(g, key, &et, &n);
        put_le(&v, et, 4);
        put_le(&v, n, 8);
        if (et == WGML_GGUF_STRING) {
            for (uint64_t j = 0; j < n && wgml_gguf_arr_str(g, key, j, &str, &len); j++)
                put_str(&v, str, len);
        } else {
            // Raw little-endian elements; count x size was checked against the
            // source file when it was opened.
            put(&v, wgml_gguf_arr_data(g, key), (size_t)(n * (uint64_t)value_bytes(et)));
        }
    } else {
        // Scalars: the value's bits through the getter that holds them whole.
        uint64_t bits = 0;
        double f;
        bool b;
        int64_t si;
        if (vt == WGML_GGUF_FLOAT32 && wgml_gguf_get_f64(g, key, &f)) {
            float x = (float)f;
            uint32_t u;
            memcpy(&u, &x, 4);
            bits = u;
        } else if (vt == WGML_GGUF_FLOAT64 && wgml_gguf_get_f64(g, key, &f)) {
            memcpy(&bits, &f, 8);
        } else if (vt == WGML_GGUF_BOOL && wgml_gguf_get_bool(g, key, &b)) {
            bits = b;
        } else if (wgml_gguf_get_i64(g, key, &si)) {
            bits = (uint64_t)si;   // two's complement; put_le keeps the low bytes
        } else {
            wgml_gguf_get_u64(g, key, &bits);
        }
        put_le(&v, bits, value_bytes(vt));
    }
    return add_kv(w, key, &v);
}

// ---------------------------------------------------------------- tensors

wgml_status wgml_gguf_writer_add_tensor(wgml_gguf_writer *w, const char *name, uint32_t type,
                                        uint32_t n_dims, const uint64_t *ne, const void *data,
                                        size_t size)
{
    if (!w) return WGML_ERR_INVALID_ARGUMENT;
    if (!name || !ne) return set_error(w, WGML_ERR_INVALID_ARGUMENT, "name or ne is NULL");
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return set_error(w, WGML_ERR_INVALID_ARGUMENT, "tensor \"%s\" added twice", name);
    uint32_t be, bb;
    if (!wgml_gguf_type_block(type, &be, &bb))
        return set_error(w, WGML_ERR_UNSUPPORTED, "tensor \"%s\": type %u is not one wgml reads",
                         name, type);
    if (n_dims < 1 || n_dims > WGML_GGUF_MAX_DIMS)
        return set_error(w, WGML_ERR_INVALID_ARGUMENT, "tensor \"%s\": n_dims %u is outside 1..4",
                         name, n_dims);
    wtensor t = {.type = type, .n_dims = n_dims};
    uint64_t count = 1;
    for (uint32_t d = 0; d < WGML_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] == 0 || t.ne[d] > (uint64_t)INT64_MAX / count)
            return set_error(w, WGML_ERR_INVALID_ARGUMENT, "tensor \"%s\": ne[%u] = %llu is 0 or "
                             "overflows the element count", name, d, (unsigned long long)t.ne[d]);
        count *= t.ne[d];
    }
    if (t.ne[0] % be)
        return set_error(w, WGML_ERR_INVALID_ARGUMENT, "tensor \"%s\": ne[0] = %llu is not a "
                         "multiple of %s's block of %u", name, (unsigned long long)t.ne[0],
                         wgml_gguf_type_name(type), be);
    if (count / be > UINT64_MAX / bb)
        return set_error(w, WGML_ERR_INVALID_ARGUMENT, "tensor \"%s\": byte size overflows", name);
    t.size = count / be * bb;
    if (t.size != size)
        return set_error(w, WGML_ERR_INVALID_ARGUMENT, "tensor \"%s\": %zu bytes given, %s of "
                         "this shape takes %llu", name, size, wgml_gguf_type_name(type),
                         (unsigned long long)t.size);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        wtensor *p = realloc(w->tensors, cap * sizeof *p);
        if (!p) return set_error(w, WGML_ERR_OUT_OF_MEMORY, "out of memory");
        w->tensors = p;
        w->cap_tensors = cap;
    }
    size_t nlen = strlen(name);
    t.name = malloc(nlen + 1);
    if (data) t.data = malloc(size ? size : 1);
    if (!t.name || (data && !t.data)) {
        free(t.name);
        free(t.data);
        return set_error(w, WGML_ERR_OUT_OF_MEMORY, "out of memory for tensor \"%s\"", name);
    }
    memcpy(t.name, name, nlen + 1);
    if (data) memcpy(t.data, data, size);
    w->tensors[w->n_tensors++] = t;
    return WGML_OK;
}

// ---------------------------------------------------------------- writing

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static bool write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }

static bool write_zeros(FILE *f, uint64_t n)
{
    static const unsigned char zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (!write_all(f, zeros, k)) return false;
        n -= k;
    }
    return true;
}

static wgml_status write_fail(char *err, size_t err_size, wgml_status st, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

// Writes everything to f; the message names what failed.
static wgml_status write_body(wgml_gguf_writer *w, FILE *f, const char *path,
                              wgml_gguf_fill_fn fill, void *user, char *err, size_t err_size)
{
    buf h = {0};
    put(&h, "GGUF", 4);
    put_le(&h, 3, 4);
    put_le(&h, w->n_tensors, 8);
    put_le(&h, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kvs[i].key, strlen(w->kvs[i].key));
        put(&h, w->kvs[i].value, w->kvs[i].value_len);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        wtensor *t = &w->tensors[i];
        t->offset = offset;
        put_str(&h, t->name, strlen(t->name));
        put_le(&h, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(&h, t->ne[d], 8);
        put_le(&h, t->type, 4);
        put_le(&h, t->offset, 8);
        offset = align_up(offset + t->size, w->alignment);
    }
    if (h.failed) {
        free(h.p);
        return write_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "out of memory for the header");
    }
    // Without tensors there is no data section to align (the reader accepts
    // that), and a huge alignment would otherwise pad an empty file to a gigabyte.
    uint64_t pad = w->n_tensors ? align_up(h.n, w->alignment) - h.n : 0;
    bool ok = write_all(f, h.p, h.n) && write_zeros(f, pad);
    free(h.p);
    if (!ok) return write_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "%s: write failed: %s",
                               path, strerror(errno));

    unsigned char *chunk = NULL;
    uint64_t at = 0;   // bytes of the data section written
    wgml_status s = WGML_OK;
    bool io = true;    // every write so far succeeded
    for (size_t i = 0; i < w->n_tensors && io && !s; i++) {
        const wtensor *t = &w->tensors[i];
        io = write_zeros(f, t->offset - at);
        at = t->offset + t->size;
        if (t->data) {
            io = io && write_all(f, t->data, (size_t)t->size);
            continue;
        }
        if (!chunk && !(chunk = malloc(FILL_CHUNK))) {
            s = write_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        for (uint64_t done = 0; done < t->size && io && !s; done += FILL_CHUNK) {
            size_t n = t->size - done < FILL_CHUNK ? (size_t)(t->size - done) : FILL_CHUNK;
            s = fill(user, t->name, done, chunk, n);
            if (s)
                s = write_fail(err, err_size, s, "filling tensor \"%s\" at byte %llu failed (%s)",
                               t->name, (unsigned long long)done, wgml_status_name(s));
            else
                io = write_all(f, chunk, n);
        }
    }
    free(chunk);
    if (s) return s;
    // The last tensor is padded too, as ggml and GGUFWriter do.
    if (!io || (w->n_tensors && !write_zeros(f, align_up(at, w->alignment) - at)) || fflush(f) != 0)
        return write_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "%s: write failed: %s", path,
                          strerror(errno));
    return WGML_OK;
}

wgml_status wgml_gguf_writer_write_file(wgml_gguf_writer *w, const char *path,
                                        wgml_gguf_fill_fn fill, void *user, char *err,
                                        size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (!w || !path) return write_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "NULL argument");
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!w->tensors[i].data && !fill)
            return write_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "tensor \"%s\" has no data "
                              "and no fill callback was given", w->tensors[i].name);
    // A temporary name beside the target, renamed when complete: a reader
    // never sees half a file, and a failed write leaves no file behind.
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return write_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        wgml_status s = write_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "%s: cannot create: %s",
                                   tmp, strerror(errno));
        free(tmp);
        return s;
    }
    fchmod(fd, 0644);   // mkstemp's 0600 is for secrets; a model file is not one
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return write_fail(err, err_size, WGML_ERR_OUT_OF_MEMORY, "fdopen failed");
    }
    wgml_status s = write_body(w, f, tmp, fill, user, err, err_size);
    if (fclose(f) != 0 && !s)
        s = write_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "%s: close failed: %s", tmp,
                       strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = write_fail(err, err_size, WGML_ERR_INVALID_ARGUMENT, "cannot rename %s to %s: %s", tmp,
                       path, strerror(errno));
    if (s) unlink(tmp);
    free(tmp);
    return s;
}
