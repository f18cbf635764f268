// The GGUF reader, dequantisers and writer.
//   valid:    files the `gguf` package wrote (GGUFWriter) or the data script
//             handcrafted, opened through all three sources (mapped file,
//             memory, read-at callback), against what gguf.GGUFReader reads
//             in them (tests/data/gguf/*.txt, scripts/gguf_dump.py): every
//             key, type and value, every tensor's type, shape, place and
//             bytes (a checksum); plus the getters' rules.
//   dequant:  wgml_gguf_dequantize of random blocks of every type against
//             gguf.dequantize's values stored beside them, bit for bit.
//   bad:      tests/data/gguf/bad/*.gguf, each breaking one rule: the status
//             and a message substring listed in bad.txt, from every source.
//   alloc:    every byte malloc'd during each open is counted (the malloc
//             family is wrapped at link time): hostile counts cost nothing,
//             and a whole open stays within a small multiple of the header.
//   source:   read-at failures, tensor_read bounds and foreign handles.
//   model:    SmolLM2-135M-Instruct (scripts/setup.sh) against GGUFReader's
//             view of it (tests/data/gguf/smollm2.txt); skipped without it.
//   expect FILE TXT: any file against a description by scripts/gguf_dump.py.
#include "formats/gguf.h"
#include "test_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WGML_TEST_DATA_DIR
#define WGML_TEST_DATA_DIR "tests/data/gguf"
#endif

// ---------------------------------------------------------------- counting malloc

// Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc: every call in
// the library and this test comes here first.
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static bool counting;
static uint64_t counted;   // bytes requested while counting

void *__wrap_malloc(size_t n)
{
    if (counting) counted += n;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (counting) counted += (uint64_t)n * size;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (counting) counted += n;
    return __real_realloc(p, n);
}

// ---------------------------------------------------------------- sources

typedef struct blob {
    unsigned char *p;
    size_t n;
} blob;

static blob read_whole(const char *path)
{
    blob b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(n > 0 ? (size_t)n : 1);
    if (b.p && fread(b.p, 1, (size_t)n, f) == (size_t)n) b.n = (size_t)n;
    else {
        free(b.p);
        b.p = NULL;
    }
    fclose(f);
    return b;
}

static char *write_temp(const void *data, size_t n)
{
    const char *dir = getenv("TMPDIR");
    size_t len = strlen(dir ? dir : "/tmp") + 32;
    char *path = malloc(len);
    if (!path) return NULL;
    snprintf(path, len, "%s/wgml_gguf_XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)data + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(fd);
    if (done != n) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

// A read-at source over memory that records any read outside the source and
// can be told to fail reads that reach past `fail_from`.
typedef struct mem_reader {
    const unsigned char *p;
    uint64_t size;
    bool out_of_range;
    uint64_t fail_from;
    size_t calls;
} mem_reader;

static wgml_status mem_read_at(void *user, uint64_t off, void *dst, size_t n)
{
    mem_reader *r = user;
    r->calls++;
    if (off > r->size || n > r->size - off) {
        r->out_of_range = true;
        return WGML_ERR_INVALID_ARGUMENT;
    }
    if (off + n > r->fail_from) return WGML_ERR_DEVICE_LOST;
    memcpy(dst, r->p + off, n);
    return WGML_OK;
}

enum { SRC_FILE, SRC_MEMORY, SRC_READER, SRC_COUNT };
static const char *src_names[SRC_COUNT] = {"file", "memory", "reader"};

// Opens a file's bytes through one source. `path` names the file on disk for
// SRC_FILE; the bytes are in b. The bytes malloc'd by the open are in *alloc.
static wgml_status open_src(int src, const char *path, blob b, mem_reader *rd, wgml_gguf **out,
                            char *err, size_t err_size, uint64_t *alloc)
{
    wgml_status s;
    counted = 0;
    counting = true;
    if (src == SRC_FILE) {
        s = wgml_gguf_open_file(path, out, err, err_size);
    } else if (src == SRC_MEMORY) {
        s = wgml_gguf_open_memory(b.p, b.n, out, err, err_size);
    } else {
        *rd = (mem_reader){.p = b.p, .size = b.n, .fail_from = UINT64_MAX};
        s = wgml_gguf_open_reader(mem_read_at, rd, b.n, out, err, err_size);
    }
    counting = false;
    if (alloc) *alloc = counted;
    return s;
}

// ---------------------------------------------------------------- descriptions

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Hex (or "-" for empty) to bytes in place; returns the length, or -1.
static long unhex(char *s)
{
    if (!strcmp(s, "-")) {
        s[0] = '\0';
        return 0;
    }
    size_t n = strlen(s);
    if (n % 2) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        s[i] = (char)(hi << 4 | lo);
    }
    s[n / 2] = '\0';
    return (long)(n / 2);
}

static uint64_t load_le(const unsigned char *b, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static bool is_signed(uint32_t vt)
{
    return vt == WGML_GGUF_INT8 || vt == WGML_GGUF_INT16 || vt == WGML_GGUF_INT32 ||
           vt == WGML_GGUF_INT64;
}

static int elem_size(uint32_t vt)
{
    static const int sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return vt < 13 ? sizes[vt] : 0;
}

// Checks a scalar the getters return for `key` against its text in the description.
static int check_scalar(wgml_gguf *g, const char *key, uint32_t vt, const char *text)
{
    uint64_t u = 12345;
    double f = 0;
    bool b = false;
    if (vt == WGML_GGUF_BOOL) {
        TEST_CHECK(wgml_gguf_get_bool(g, key, &b) && b == (text[0] == '1'), "%s: bool", key);
        TEST_CHECK(!wgml_gguf_get_u64(g, key, &u) && u == 12345, "%s: bool read as u64", key);
    } else if (vt == WGML_GGUF_FLOAT32) {
        TEST_CHECK(wgml_gguf_get_f64(g, key, &f), "%s: get_f64", key);
        float x = (float)f;
        uint32_t bits;
        memcpy(&bits, &x, 4);
        TEST_CHECK((double)x == f && bits == (uint32_t)strtoul(text, NULL, 16),
                   "%s: f32 %08x, expected %s", key, bits, text);
        TEST_CHECK(!wgml_gguf_get_u64(g, key, &u), "%s: float read as u64", key);
    } else if (vt == WGML_GGUF_FLOAT64) {
        TEST_CHECK(wgml_gguf_get_f64(g, key, &f), "%s: get_f64", key);
        uint64_t bits;
        memcpy(&bits, &f, 8);
        TEST_CHECK(bits == strtoull(text, NULL, 16), "%s: f64 %016llx, expected %s", key,
                   (unsigned long long)bits, text);
    } else if (is_signed(vt)) {
        errno = 0;
        long long v = strtoll(text, NULL, 10);
        TEST_CHECK(!errno, "%s: bad number %s", key, text);
        bool got = wgml_gguf_get_u64(g, key, &u);
        if (v >= 0) TEST_CHECK(got && u == (uint64_t)v, "%s: get_u64 %llu, expected %lld", key,
                               (unsigned long long)u, v);
        else TEST_CHECK(!got && u == 12345, "%s: negative %lld read as u64", key, v);
        TEST_CHECK(wgml_gguf_get_f64(g, key, &f) && f == (double)v, "%s: get_f64 %g", key, f);
    } else {
        unsigned long long v = strtoull(text, NULL, 10);
        TEST_CHECK(wgml_gguf_get_u64(g, key, &u) && u == v, "%s: get_u64 %llu, expected %llu", key,
                   (unsigned long long)u, v);
        TEST_CHECK(wgml_gguf_get_f64(g, key, &f) && f == (double)v, "%s: get_f64", key);
    }
    return 0;
}

// An array element's raw bytes against its text.
static int check_elem(const char *key, uint32_t et, const unsigned char *raw, const char *text)
{
    int es = elem_size(et);
    uint64_t bits = load_le(raw, es);
    if (et == WGML_GGUF_FLOAT32 || et == WGML_GGUF_FLOAT64)
        TEST_CHECK(bits == strtoull(text, NULL, 16), "%s: element bits %llx, expected %s", key,
                   (unsigned long long)bits, text);
    else if (is_signed(et)) {
        int64_t v = es == 1 ? (int8_t)bits : es == 2 ? (int16_t)bits : es == 4 ? (int32_t)bits
                                                                         : (int64_t)bits;
        TEST_CHECK(v == strtoll(text, NULL, 10), "%s: element %lld, expected %s", key,
                   (long long)v, text);
    } else {
        TEST_CHECK(bits == strtoull(text, NULL, 10), "%s: element %llu, expected %s", key,
                   (unsigned long long)bits, text);
    }
    return 0;
}

// The description's checksum: sum of b[i] * (i % 251 + 1) over the tensor's bytes.
static int tensor_checksum(wgml_gguf *g, const wgml_gguf_tensor *t, uint64_t *out)
{
    static unsigned char buf[1 << 20];
    uint64_t sum = 0;
    for (uint64_t done = 0; done < t->size;) {
        size_t n = t->size - done < sizeof buf ? (size_t)(t->size - done) : sizeof buf;
        TEST_CHECK(wgml_gguf_tensor_read(g, t, done, buf, n) == WGML_OK, "tensor_read(%s): %s",
                   t->name, wgml_gguf_last_error(g));
        for (size_t i = 0; i < n; i++) sum += buf[i] * ((done + i) % 251 + 1);
        done += n;
    }
    const unsigned char *in_place = wgml_gguf_tensor_data(g, t);
    if (in_place) {   // mapped and memory sources: the same bytes in place
        uint64_t s2 = 0;
        for (uint64_t i = 0; i < t->size; i++) s2 += in_place[i] * (i % 251 + 1);
        TEST_CHECK(s2 == sum, "%s: bytes in place differ from tensor_read's", t->name);
    }
    *out = sum;
    return 0;
}

static int check_deq(wgml_gguf *g, char **tok, int nt)
{
    const wgml_gguf_tensor *t = wgml_gguf_tensor_find(g, tok[1]);
    TEST_CHECK(t, "deq: no tensor %s", tok[1]);
    uint64_t start = strtoull(tok[2], NULL, 10), count = strtoull(tok[3], NULL, 10);
    TEST_CHECK(nt == 4 + (int)count, "deq line for %s has %d values", tok[1], nt - 4);
    uint32_t be, bb;
    TEST_CHECK(wgml_gguf_type_block(t->type, &be, &bb), "%s: type %u", t->name, t->type);
    uint64_t b0 = start / be, b1 = (start + count + be - 1) / be;
    size_t nbytes = (size_t)((b1 - b0) * bb);
    unsigned char *raw = malloc(nbytes);
    float *y = malloc((size_t)(b1 - b0) * be * sizeof *y);
    TEST_CHECK(raw && y, "out of memory");
    TEST_CHECK(wgml_gguf_tensor_read(g, t, b0 * bb, raw, nbytes) == WGML_OK, "read %s", t->name);
    TEST_CHECK(wgml_gguf_dequantize(t->type, raw, (b1 - b0) * be, y) == WGML_OK, "dequantize %s",
               t->name);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t bits, want = (uint32_t)strtoul(tok[4 + i], NULL, 16);
        memcpy(&bits, &y[start - b0 * be + i], 4);
        TEST_CHECK(bits == want, "%s[%llu] = %08x (%g), gguf.dequantize gives %08x", t->name,
                   (unsigned long long)(start + i), bits, y[start - b0 * be + i], want);
    }
    free(raw);
    free(y);
    return 0;
}

// Compares an open file with a description written by scripts/gguf_dump.py.
static int check_description(wgml_gguf *g, const char *txt)
{
    FILE *f = fopen(txt, "r");
    TEST_CHECK(f, "cannot open %s", txt);
    char *line = NULL, **tok = NULL;
    size_t cap = 0, tok_cap = 0, kv_index = 0, tensor_index = 0, lines = 0;
    int rc = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        lines++;
        int nt = 0;
        for (char *save, *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            if ((size_t)nt == tok_cap) {
                tok_cap = tok_cap ? 2 * tok_cap : 64;
                tok = realloc(tok, tok_cap * sizeof *tok);
            }
            tok[nt++] = w;
        }
        if (!strcmp(tok[0], "header")) {
            rc = nt == 6 && wgml_gguf_version(g) == strtoul(tok[1], NULL, 10) &&
                         wgml_gguf_alignment(g) == strtoull(tok[2], NULL, 10) &&
                         wgml_gguf_kv_count(g) == strtoull(tok[3], NULL, 10) &&
                         wgml_gguf_tensor_count(g) == strtoull(tok[4], NULL, 10) &&
                         wgml_gguf_data_offset(g) == strtoull(tok[5], NULL, 10)
                     ? 0 : 1;
            if (rc)
                fprintf(stderr, "FAIL header: wgml has version %u alignment %llu kvs %zu tensors "
                        "%zu data offset %llu; GGUFReader: %s %s %s %s %s\n", wgml_gguf_version(g),
                        (unsigned long long)wgml_gguf_alignment(g), wgml_gguf_kv_count(g),
                        wgml_gguf_tensor_count(g), (unsigned long long)wgml_gguf_data_offset(g),
                        tok[1], tok[2], tok[3], tok[4], tok[5]);
        } else if (!strcmp(tok[0], "kv") || !strcmp(tok[0], "arr")) {
            if (nt != 4 || unhex(tok[1]) < 0) {
                rc = 1;
                fprintf(stderr, "FAIL %s: bad line\n", txt);
                break;
            }
            const char *key = tok[1];
            uint32_t vt = (uint32_t)strtoul(tok[2], NULL, 10);
            const char *k = wgml_gguf_kv_key(g, kv_index);
            int64_t idx = wgml_gguf_kv_find(g, key);
            if (!k || strcmp(k, key) || idx != (int64_t)kv_index) {
                fprintf(stderr, "FAIL key %zu is \"%s\" (found at %lld), GGUFReader has \"%s\"\n",
                        kv_index, k ? k : "(none)", (long long)idx, key);
                rc = 1;
                break;
            }
            kv_index++;
            if (!strcmp(tok[0], "arr")) {
                wgml_gguf_value_type et;
                uint64_t count;
                bool ok = wgml_gguf_kv_type(g, (size_t)idx) == WGML_GGUF_ARRAY &&
                          wgml_gguf_get_arr(g, key, &et, &count) && (uint32_t)et == vt &&
                          count == strtoull(tok[3], NULL, 10);
                ok = ok && (et == WGML_GGUF_STRING) == !wgml_gguf_arr_data(g, key);
                if (!ok) {
                    fprintf(stderr, "FAIL array %s: type or count\n", key);
                    rc = 1;
                }
                continue;
            }
            if ((uint32_t)wgml_gguf_kv_type(g, (size_t)idx) != vt) {
                fprintf(stderr, "FAIL %s: type %d, expected %u\n", key,
                        wgml_gguf_kv_type(g, (size_t)idx), vt);
                rc = 1;
            } else if (vt == WGML_GGUF_STRING) {
                long n = unhex(tok[3]);
                const char *s = NULL;
                size_t len = 0;
                if (!wgml_gguf_get_str(g, key, &s, &len) || (long)len != n || memcmp(s, tok[3], len) ||
                    s[len] != '\0') {
                    fprintf(stderr, "FAIL %s: string differs (%zu bytes, expected %ld)\n", key, len, n);
                    rc = 1;
                }
            } else {
                rc = check_scalar(g, key, vt, tok[3]);
            }
        } else if (!strcmp(tok[0], "elem")) {
            unhex(tok[1]);
            const char *key = tok[1];
            uint64_t i = strtoull(tok[2], NULL, 10), count = 0;
            wgml_gguf_value_type et;
            if (!wgml_gguf_get_arr(g, key, &et, &count) || i >= count) {
                fprintf(stderr, "FAIL %s: no element %llu\n", key, (unsigned long long)i);
                rc = 1;
            } else if (et == WGML_GGUF_STRING) {
                long n = unhex(tok[3]);
                const char *s = NULL;
                size_t len = 0;
                if (!wgml_gguf_arr_str(g, key, i, &s, &len) || (long)len != n || memcmp(s, tok[3], len) ||
                    s[len]) {
                    fprintf(stderr, "FAIL %s[%llu]: string differs\n", key, (unsigned long long)i);
                    rc = 1;
                }
            } else {
                const unsigned char *raw = wgml_gguf_arr_data(g, key);
                rc = check_elem(key, et, raw + i * (uint64_t)elem_size(et), tok[3]);
            }
        } else if (!strcmp(tok[0], "tensor")) {
            unhex(tok[1]);
            const wgml_gguf_tensor *t = wgml_gguf_tensor_find(g, tok[1]);
            uint32_t nd = (uint32_t)strtoul(tok[3], NULL, 10);
            if (!t || t != wgml_gguf_tensor_at(g, tensor_index) || nd > 4 || nt != 4 + (int)nd + 3) {
                fprintf(stderr, "FAIL tensor %zu: \"%s\" not found in order\n", tensor_index, tok[1]);
                rc = 1;
                break;
            }
            tensor_index++;
            uint64_t n = 1;
            bool ok = t->type == strtoul(tok[2], NULL, 10) && t->n_dims == nd;
            for (uint32_t d = 0; d < 4; d++) {
                uint64_t want = d < nd ? strtoull(tok[4 + d], NULL, 10) : 1;
                ok = ok && t->ne[d] == want;
                n *= want;
            }
            ok = ok && t->n_elements == n && t->file_offset == strtoull(tok[4 + nd], NULL, 10) &&
                 t->size == strtoull(tok[5 + nd], NULL, 10) &&
                 t->file_offset == wgml_gguf_data_offset(g) + t->offset;
            uint64_t sum = 0;
            if (!ok || tensor_checksum(g, t, &sum) || sum != strtoull(tok[6 + nd], NULL, 16)) {
                fprintf(stderr, "FAIL tensor %s: type %u dims %u [%llu %llu %llu %llu] at %llu, "
                        "%llu bytes, checksum %llx differ from GGUFReader's\n", t->name, t->type,
                        t->n_dims, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                        (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
                        (unsigned long long)t->file_offset, (unsigned long long)t->size,
                        (unsigned long long)sum);
                rc = 1;
            }
        } else if (!strcmp(tok[0], "deq")) {
            unhex(tok[1]);
            rc = check_deq(g, tok, nt);
        } else {
            fprintf(stderr, "FAIL %s: unknown record %s\n", txt, tok[0]);
            rc = 1;
        }
    }
    free(line);
    free(tok);
    fclose(f);
    if (rc) return rc;
    TEST_CHECK(lines > 0, "%s is empty", txt);
    TEST_CHECK(kv_index == wgml_gguf_kv_count(g) && tensor_index == wgml_gguf_tensor_count(g),
               "%s describes %zu keys and %zu tensors, wgml read %zu and %zu", txt, kv_index,
               tensor_index, wgml_gguf_kv_count(g), wgml_gguf_tensor_count(g));
    return 0;
}

// Opens `path` through every source and checks each against `txt`; the bytes
// an open allocates must stay within 6x the header plus 128 KiB.
static int check_file_all_sources(const char *path, const char *txt)
{
    blob b = read_whole(path);
    TEST_CHECK(b.p, "cannot read %s", path);
    int rc = 0;
    for (int src = 0; src < SRC_COUNT && !rc; src++) {
        wgml_gguf *g = NULL;
        mem_reader rd;
        char err[512];
        uint64_t alloc;
        wgml_status s = open_src(src, path, b, &rd, &g, err, sizeof err, &alloc);
        if (s) {
            fprintf(stderr, "FAIL %s (%s): %s: %s\n", path, src_names[src], wgml_status_name(s), err);
            rc = 1;
            break;
        }
        uint64_t bound = 6 * wgml_gguf_data_offset(g) + (128 << 10);
        if (alloc > bound) {
            fprintf(stderr, "FAIL %s (%s): open allocated %llu bytes, more than %llu\n", path,
                    src_names[src], (unsigned long long)alloc, (unsigned long long)bound);
            rc = 1;
        }
        if (!rc) rc = check_description(g, txt);
        if (rc) fprintf(stderr, "  ... in %s opened from %s\n", path, src_names[src]);
        if (src == SRC_READER && rd.out_of_range) {
            fprintf(stderr, "FAIL %s: read outside the source\n", path);
            rc = 1;
        }
        wgml_gguf_close(g);
    }
    free(b.p);
    return rc;
}

// ---------------------------------------------------------------- valid

static int check_getters(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.gguf", dir);
    wgml_gguf *g;
    char err[256];
    TEST_CHECK(wgml_gguf_open_file(path, &g, err, sizeof err) == WGML_OK, "%s", err);
    uint64_t u = 7;
    double f = 7;
    bool b = true;
    const char *s = "x";
    size_t len = 9;
    wgml_gguf_value_type et = WGML_GGUF_UINT8;
    uint64_t count = 9;
    // Absent keys and wrong kinds leave the outputs alone.
    TEST_CHECK(wgml_gguf_kv_find(g, "nope") == -1 && wgml_gguf_kv_find(g, "") == -1 &&
               wgml_gguf_kv_find(g, NULL) == -1, "kv_find of absent keys");
    TEST_CHECK(!wgml_gguf_get_u64(g, "nope", &u) && u == 7, "get_u64 absent");
    TEST_CHECK(!wgml_gguf_get_f64(g, "t.str", &f) && f == 7, "get_f64 of a string");
    TEST_CHECK(!wgml_gguf_get_bool(g, "t.u8", &b) && b, "get_bool of a u8");
    TEST_CHECK(!wgml_gguf_get_str(g, "t.u8", &s, &len) && len == 9, "get_str of a u8");
    TEST_CHECK(!wgml_gguf_get_u64(g, "a.uint8", &u) && u == 7, "get_u64 of an array");
    TEST_CHECK(!wgml_gguf_get_arr(g, "t.str", &et, &count) && count == 9, "get_arr of a string");
    TEST_CHECK(!wgml_gguf_arr_str(g, "a.uint8", 0, &s, &len) && len == 9, "arr_str of u8s");
    TEST_CHECK(!wgml_gguf_arr_str(g, "a.string", 4, &s, &len) && len == 9, "arr_str past the end");
    TEST_CHECK(!wgml_gguf_arr_data(g, "a.string") && !wgml_gguf_arr_data(g, "t.u8"),
               "arr_data of strings and scalars");
    TEST_CHECK(!wgml_gguf_get_f64(g, "t.bool.true", &f) && f == 7, "get_f64 of a bool");
    TEST_CHECK(!wgml_gguf_kv_key(g, wgml_gguf_kv_count(g)), "kv_key past the end");
    TEST_CHECK(!wgml_gguf_tensor_find(g, "nope") && !wgml_gguf_tensor_find(g, NULL) &&
               !wgml_gguf_tensor_at(g, wgml_gguf_tensor_count(g)), "absent tensors");
    // A string with a NUL inside keeps its length.
    TEST_CHECK(wgml_gguf_get_str(g, "t.str.nul", &s, &len) && len == 3 && !memcmp(s, "a\0b", 4),
               "t.str.nul");
    wgml_gguf_close(g);
    wgml_gguf_close(NULL);
    TEST_CHECK(wgml_gguf_kv_count(NULL) == 0 && wgml_gguf_tensor_count(NULL) == 0 &&
               wgml_gguf_kv_find(NULL, "a") == -1 && !wgml_gguf_get_u64(NULL, "a", &u),
               "NULL handle");
    TEST_CHECK(wgml_gguf_open_file(NULL, &g, err, sizeof err) == WGML_ERR_INVALID_ARGUMENT &&
               wgml_gguf_open_memory(NULL, 5, &g, err, sizeof err) == WGML_ERR_INVALID_ARGUMENT &&
               wgml_gguf_open_reader(NULL, NULL, 5, &g, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT, "NULL arguments");
    TEST_CHECK(wgml_gguf_open_file("/nonexistent/x.gguf", &g, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT && !g && strstr(err, "cannot open"), "missing file");
    TEST_CHECK(wgml_gguf_open_file("/", &g, err, sizeof err) == WGML_ERR_INVALID_ARGUMENT &&
               strstr(err, "not a regular file"), "a directory");
    return 0;
}

static int test_valid(void)
{
    static const char *const files[] = {"meta", "types", "edge_v2", "edge_empty",
                                        "edge_empty_arrays", "edge_gaps"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024], txt[1024];
        snprintf(path, sizeof path, "%s/%s.gguf", WGML_TEST_DATA_DIR, files[i]);
        snprintf(txt, sizeof txt, "%s/%s.txt", WGML_TEST_DATA_DIR, files[i]);
        if (check_file_all_sources(path, txt)) return 1;
        printf("%-18s as GGUFReader reads it, from all three sources\n", files[i]);
    }
    return check_getters(WGML_TEST_DATA_DIR);
}

// ---------------------------------------------------------------- dequant

static int test_dequant(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/types.gguf", WGML_TEST_DATA_DIR);
    wgml_gguf *g;
    char err[256];
    TEST_CHECK(wgml_gguf_open_file(path, &g, err, sizeof err) == WGML_OK, "%s", err);
    bool seen[64] = {0};
    int types = 0;
    for (size_t i = 0; i < wgml_gguf_tensor_count(g); i++) {
        const wgml_gguf_tensor *t = wgml_gguf_tensor_at(g, i);
        if (strstr(t->name, ".expected")) continue;
        char ename[64];
        snprintf(ename, sizeof ename, "%s.expected", t->name);
        const wgml_gguf_tensor *e = wgml_gguf_tensor_find(g, ename);
        TEST_CHECK(e && e->type == WGML_GGUF_F32 && e->n_elements == t->n_elements,
                   "no %s of %llu F32 values", ename, (unsigned long long)t->n_elements);
        TEST_CHECK(!strcmp(t->name, wgml_gguf_type_name(t->type)), "tensor %s has type %s",
                   t->name, wgml_gguf_type_name(t->type));
        size_t n = (size_t)t->n_elements;
        float *y = malloc(n * sizeof *y);
        const float *want = wgml_gguf_tensor_data(g, e);
        TEST_CHECK(y && want, "out of memory");
        TEST_CHECK(wgml_gguf_dequantize(t->type, wgml_gguf_tensor_data(g, t), t->n_elements, y) ==
                   WGML_OK, "dequantize %s", t->name);
        size_t nan = 0;
        for (size_t j = 0; j < n; j++) {
            uint32_t a, b;
            memcpy(&a, &y[j], 4);
            memcpy(&b, &want[j], 4);
            nan += isnan(want[j]);
            TEST_CHECK(a == b, "%s[%zu] = %08x (%.9g), gguf.dequantize gives %08x (%.9g)", t->name,
                       j, a, y[j], b, want[j]);
        }
        TEST_CHECK(!nan, "%s: %zu expected values are NaN (the data script should avoid them)",
                   t->name, nan);
        free(y);
        printf("%-5s %5zu values equal gguf.dequantize's, bit for bit\n", t->name, n);
        seen[t->type] = true;
        types++;
    }
    for (uint32_t ty = 0; ty < 64; ty++)
        TEST_CHECK(!wgml_gguf_type_name(ty) || seen[ty], "type %s not covered by types.gguf",
                   wgml_gguf_type_name(ty));
    TEST_CHECK(types == 8, "%d types", types);
    // Argument errors.
    float y[32];
    unsigned char blk[34] = {0};
    TEST_CHECK(wgml_gguf_dequantize(WGML_GGUF_Q8_0, blk, 31, y) == WGML_ERR_INVALID_ARGUMENT,
               "partial block");
    TEST_CHECK(wgml_gguf_dequantize(13, blk, 256, y) == WGML_ERR_UNSUPPORTED, "Q5_K");
    TEST_CHECK(wgml_gguf_dequantize(WGML_GGUF_F32, NULL, 4, y) == WGML_ERR_INVALID_ARGUMENT,
               "NULL source");
    TEST_CHECK(wgml_gguf_dequantize(WGML_GGUF_Q8_0, blk, 0, y) == WGML_OK, "zero elements");
    wgml_gguf_close(g);
    return 0;
}

// ---------------------------------------------------------------- bad

static int test_bad(void)
{
    char list[1024];
    snprintf(list, sizeof list, "%s/bad.txt", WGML_TEST_DATA_DIR);
    FILE *f = fopen(list, "r");
    TEST_CHECK(f, "cannot open %s", list);
    char *line = NULL;
    size_t cap = 0;
    int cases = 0;
    uint64_t max_alloc = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char name[256], status[64];
        int off = 0;
        TEST_CHECK(sscanf(line, "%255s %63s %n", name, status, &off) == 2 && off > 0,
                   "bad line: %s", line);
        const char *want_msg = line + off;
        wgml_status want = !strcmp(status, "BAD_FILE")      ? WGML_ERR_BAD_FILE
                           : !strcmp(status, "UNSUPPORTED") ? WGML_ERR_UNSUPPORTED
                                                            : WGML_OK;
        TEST_CHECK(want != WGML_OK, "%s: unknown status %s", name, status);
        char path[1024];
        snprintf(path, sizeof path, "%s/bad/%s", WGML_TEST_DATA_DIR, name);
        blob b = read_whole(path);
        TEST_CHECK(b.p, "cannot read %s", path);
        for (int src = 0; src < SRC_COUNT; src++) {
            wgml_gguf *g = (wgml_gguf *)&cases;   // must be set to NULL
            mem_reader rd = {0};
            char err[512];
            uint64_t alloc;
            wgml_status s = open_src(src, path, b, &rd, &g, err, sizeof err, &alloc);
            TEST_CHECK(s == want && !g, "%s (%s): %s \"%s\", expected %s", name, src_names[src],
                       wgml_status_name(s), err, status);
            TEST_CHECK(strstr(err, want_msg), "%s (%s): message \"%s\" lacks \"%s\"", name,
                       src_names[src], err, want_msg);
            TEST_CHECK(!rd.out_of_range, "%s: read outside the source", name);
            // A handle, a window and an arena chunk at most: hostile counts cost nothing.
            TEST_CHECK(alloc <= (128 << 10), "%s (%s): open allocated %llu bytes", name,
                       src_names[src], (unsigned long long)alloc);
            if (alloc > max_alloc) max_alloc = alloc;
            if (src == SRC_MEMORY && cases < 3) printf("  %s: %s\n", name, err);
        }
        free(b.p);
        cases++;
    }
    free(line);
    fclose(f);
    TEST_CHECK(cases >= 30, "only %d bad files", cases);
    printf("%d bad files refused from all three sources with the expected status and message; "
           "at most %llu bytes allocated by one open\n", cases, (unsigned long long)max_alloc);
    return 0;
}

// ---------------------------------------------------------------- alloc

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

// Opens b from every source; returns the largest allocation, or fails.
static int alloc_of(blob b, wgml_status want, uint64_t *alloc)
{
    *alloc = 0;
    char *path = write_temp(b.p, b.n);
    TEST_CHECK(path, "cannot write a temporary file");
    int rc = 0;
    for (int src = 0; src < SRC_COUNT && !rc; src++) {
        wgml_gguf *g = NULL;
        mem_reader rd;
        char err[256];
        uint64_t a;
        wgml_status s = open_src(src, path, b, &rd, &g, err, sizeof err, &a);
        if (s != want) {
            fprintf(stderr, "FAIL %s: %s (%s)\n", src_names[src], wgml_status_name(s), err);
            rc = 1;
        }
        wgml_gguf_close(g);
        if (a > *alloc) *alloc = a;
    }
    unlink(path);
    free(path);
    return rc;
}

static int test_alloc(void)
{
    // 1. A header that claims as many entries as its bytes can hold, all of
    // them minimal (an empty key, a u8): the reader takes them all in, then
    // finds the repeated key. The largest allocation a file can cause per byte.
    size_t n = 1 << 20;
    blob b = {calloc(1, n), n};
    TEST_CHECK(b.p, "out of memory");
    memcpy(b.p, "GGUF", 4);
    put_le(b.p + 4, 3, 4);
    put_le(b.p + 16, (n - 24) / 13, 8);
    uint64_t a;
    if (alloc_of(b, WGML_ERR_BAD_FILE, &a)) return 1;
    printf("%zu bytes of minimal entries: %llu bytes allocated (%.2fx)\n", n,
           (unsigned long long)a, (double)a / n);
    TEST_CHECK(a <= 6 * n, "allocated %llu bytes for a %zu-byte file", (unsigned long long)a, n);

    // 2. A valid file: one array of empty strings (8 bytes each in the file).
    uint64_t count = (n - 64) / 8;
    memset(b.p, 0, n);
    memcpy(b.p, "GGUF", 4);
    put_le(b.p + 4, 3, 4);
    put_le(b.p + 16, 1, 8);
    put_le(b.p + 24, 1, 8);
    b.p[32] = 'k';
    put_le(b.p + 33, WGML_GGUF_ARRAY, 4);
    put_le(b.p + 37, WGML_GGUF_STRING, 4);
    put_le(b.p + 41, count, 8);
    b.n = 49 + count * 8;
    if (alloc_of(b, WGML_OK, &a)) return 1;
    printf("%zu bytes of empty strings: %llu bytes allocated (%.2fx)\n", b.n,
           (unsigned long long)a, (double)a / b.n);
    TEST_CHECK(a <= 6 * b.n, "allocated %llu bytes for a %zu-byte file", (unsigned long long)a, b.n);

    // 3. Claims far past the file: each refused before anything is sized by it.
    static const struct { int at, bytes; uint64_t v; } claims[] = {
        {16, 8, UINT64_MAX}, {8, 8, UINT64_MAX / 2}, {41, 8, UINT64_MAX / 8}, {24, 8, 1ull << 60},
    };
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        unsigned char saved[8];
        memcpy(saved, b.p + claims[i].at, 8);
        put_le(b.p + claims[i].at, claims[i].v, claims[i].bytes);
        if (alloc_of(b, WGML_ERR_BAD_FILE, &a)) return 1;
        TEST_CHECK(a <= (128 << 10), "claim %zu: %llu bytes allocated", i, (unsigned long long)a);
        memcpy(b.p + claims[i].at, saved, 8);
    }
    free(b.p);
    return 0;
}

// ---------------------------------------------------------------- source

static int test_source(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.gguf", WGML_TEST_DATA_DIR);
    blob b = read_whole(path);
    TEST_CHECK(b.p, "cannot read %s", path);
    wgml_gguf *g;
    char err[256];
    // A read-at source that fails part-way: its status, not a bad file.
    for (uint64_t at = 0; at < b.n; at += 997) {
        mem_reader rd = {.p = b.p, .size = b.n, .fail_from = at};
        wgml_status s = wgml_gguf_open_reader(mem_read_at, &rd, b.n, &g, err, sizeof err);
        TEST_CHECK(s == WGML_ERR_DEVICE_LOST && !g && strstr(err, "failed (device lost)"),
                   "failing read at %llu: %s %s", (unsigned long long)at, wgml_status_name(s), err);
    }
    // The window keeps callbacks few: a 7 KB header in a handful of reads.
    mem_reader rd = {.p = b.p, .size = b.n, .fail_from = UINT64_MAX};
    TEST_CHECK(wgml_gguf_open_reader(mem_read_at, &rd, b.n, &g, err, sizeof err) == WGML_OK, "%s",
               err);
    TEST_CHECK(rd.calls <= 2, "%zu read callbacks for the header", rd.calls);
    const wgml_gguf_tensor *t = wgml_gguf_tensor_find(g, "two.d");
    TEST_CHECK(t && !wgml_gguf_tensor_data(g, t), "a reader source has no bytes in place");
    unsigned char buf[64];
    TEST_CHECK(wgml_gguf_tensor_read(g, t, t->size - 2, buf, 2) == WGML_OK, "last bytes");
    TEST_CHECK(wgml_gguf_tensor_read(g, t, t->size - 2, buf, 3) == WGML_ERR_INVALID_ARGUMENT &&
               strstr(wgml_gguf_last_error(g), "outside tensor"), "past the end");
    TEST_CHECK(wgml_gguf_tensor_read(g, t, UINT64_MAX, buf, 1) == WGML_ERR_INVALID_ARGUMENT,
               "offset overflow");
    TEST_CHECK(wgml_gguf_tensor_read(g, t, 0, NULL, 1) == WGML_ERR_INVALID_ARGUMENT, "NULL dst");
    wgml_gguf_tensor fake = *t;
    TEST_CHECK(wgml_gguf_tensor_read(g, &fake, 0, buf, 1) == WGML_ERR_INVALID_ARGUMENT &&
               strstr(wgml_gguf_last_error(g), "not a tensor of this file"), "foreign tensor");
    rd.fail_from = 0;
    TEST_CHECK(wgml_gguf_tensor_read(g, t, 0, buf, 2) == WGML_ERR_DEVICE_LOST &&
               strstr(wgml_gguf_last_error(g), "two.d"), "failing tensor read");
    TEST_CHECK(!rd.out_of_range, "read outside the source");
    wgml_gguf_close(g);
    free(b.p);
    return 0;
}

// ---------------------------------------------------------------- model

static int test_expect(const char *path, const char *txt)
{
    if (access(path, R_OK) != 0) {
        printf("SKIP: %s is not installed (scripts/setup.sh)\n", path);
        return TEST_SKIP;
    }
    if (check_file_all_sources(path, txt)) return 1;
    printf("%s matches GGUFReader's view (%s) from all three sources\n", path, txt);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "valid")) return test_valid();
    if (!strcmp(what, "dequant")) return test_dequant();
    if (!strcmp(what, "bad")) return test_bad();
    if (!strcmp(what, "alloc")) return test_alloc();
    if (!strcmp(what, "source")) return test_source();
    if ((!strcmp(what, "model") || !strcmp(what, "expect")) && argc == 4)
        return test_expect(argv[2], argv[3]);
    fprintf(stderr, "usage: test_gguf valid|dequant|bad|alloc|source | model|expect FILE TXT\n");
    return 2;
}
