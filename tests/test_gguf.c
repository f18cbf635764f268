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
//   writer:   files GGUFWriter wrote, rewritten by wgml's writer (every key
//             copied, tensors given or filled), must come out byte for byte
//             the same; a sample of every setter and tensor type read back
//             from all three sources; refusals; a failed write leaves no file.
//   expect FILE TXT: any file against a description by scripts/gguf_dump.py.
//   write_sample FILE: the sample, for tests/gguf_python.sh to hand to GGUFReader.
//   synth WGML [MODEL]: `wgml synth` files opened by the reader: metadata as
//             asked, shapes that follow it, N(0, 1/K) weights in the asked
//             type, a well-formed byte-level vocabulary, the same bytes for
//             the same seed, refusals; with MODEL, --tokenizer-from copies
//             its tokenizer keys unchanged.
#include "formats/gguf.h"
#include "test_util.h"

#include <errno.h>
#include <math.h>
#include <sys/wait.h>
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
        int64_t i = 0;
        TEST_CHECK(wgml_gguf_get_i64(g, key, &i) && i == v, "%s: get_i64 %lld", key, (long long)i);
    } else {
        unsigned long long v = strtoull(text, NULL, 10);
        TEST_CHECK(wgml_gguf_get_u64(g, key, &u) && u == v, "%s: get_u64 %llu, expected %llu", key,
                   (unsigned long long)u, v);
        TEST_CHECK(wgml_gguf_get_f64(g, key, &f) && f == (double)v, "%s: get_f64", key);
        int64_t i = 0;
        bool got = wgml_gguf_get_i64(g, key, &i);
        TEST_CHECK(v > INT64_MAX ? !got : got && (unsigned long long)i == v, "%s: get_i64", key);
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
    // read_f32 gives the same values, over the range and (for tensors of up
    // to a million elements, many bounce-buffer chunks) over the whole tensor.
    size_t all = (size_t)t->n_elements;
    if (all > (1u << 20)) all = 0;
    float *part = malloc((size_t)count * sizeof *part + 1), *whole = malloc(all * sizeof *whole + 1);
    unsigned char *bytes = malloc(all ? (size_t)t->size : 1);
    float *ref = malloc(all * sizeof *ref + 1);
    TEST_CHECK(part && whole && bytes && ref, "out of memory");
    TEST_CHECK(wgml_gguf_tensor_read_f32(g, t, start, count, part) == WGML_OK, "read_f32 %s: %s",
               t->name, wgml_gguf_last_error(g));
    for (uint64_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &part[i], 4);
        TEST_CHECK(strtoul(tok[4 + i], NULL, 16) == bits, "read_f32 %s[%llu]", t->name,
                   (unsigned long long)(start + i));
    }
    if (all) {
        TEST_CHECK(wgml_gguf_tensor_read_f32(g, t, 0, all, whole) == WGML_OK &&
                   wgml_gguf_tensor_read(g, t, 0, bytes, (size_t)t->size) == WGML_OK &&
                   wgml_gguf_dequantize(t->type, bytes, all, ref) == WGML_OK &&
                   !memcmp(whole, ref, all * sizeof *ref), "read_f32 of all of %s", t->name);
    }
    free(part);
    free(whole);
    free(bytes);
    free(ref);
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
    blob file = read_whole(path);
    TEST_CHECK(file.p, "cannot read %s", path);
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
        // read_f32 over ranges that start and end inside blocks, from a reader source.
        uint32_t be;
        wgml_gguf_type_block(t->type, &be, NULL);
        mem_reader rd = {.p = file.p, .size = file.n, .fail_from = UINT64_MAX};
        wgml_gguf *gr;
        TEST_CHECK(wgml_gguf_open_reader(mem_read_at, &rd, file.n, &gr, err, sizeof err) == WGML_OK,
                   "%s", err);
        const wgml_gguf_tensor *tr = wgml_gguf_tensor_find(gr, t->name);
        const uint64_t ranges[][2] = {{0, n}, {1, n - 1}, {be - 1, be + 2 < n - be + 1 ? be + 2 : 1},
                                      {n - 1, 1}, {n / 2, 0}};
        for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
            float part[2048];
            uint64_t f0 = ranges[r][0], cnt = ranges[r][1];
            TEST_CHECK(wgml_gguf_tensor_read_f32(gr, tr, f0, cnt, part) == WGML_OK, "read_f32 %s: %s",
                       t->name, wgml_gguf_last_error(gr));
            TEST_CHECK(!memcmp(part, y + f0, (size_t)cnt * 4), "read_f32 %s [%llu, +%llu)", t->name,
                       (unsigned long long)f0, (unsigned long long)cnt);
        }
        TEST_CHECK(wgml_gguf_tensor_read_f32(gr, tr, n - 1, 2, y) == WGML_ERR_INVALID_ARGUMENT &&
                   strstr(wgml_gguf_last_error(gr), "outside tensor"), "read_f32 past the end");
        wgml_gguf_close(gr);
        free(y);
        printf("%-5s %5zu values equal gguf.dequantize's, bit for bit (and read_f32's)\n", t->name, n);
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
    free(file.p);
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


// ---------------------------------------------------------------- writer

// A fill callback over a file's tensors: the bytes of tensor `name` of g.
static wgml_status fill_from(void *user, const char *name, uint64_t offset, void *dst, size_t n)
{
    wgml_gguf *g = user;
    const wgml_gguf_tensor *t = wgml_gguf_tensor_find(g, name);
    return t ? wgml_gguf_tensor_read(g, t, offset, dst, n) : WGML_ERR_INVALID_ARGUMENT;
}

// Rewrites a file written by GGUFWriter with wgml's writer: every key copied
// (general.alignment set), every tensor added (every other one through the
// fill callback). The result must be the same bytes.
static int rewrite_same(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", WGML_TEST_DATA_DIR, name);
    wgml_gguf *g;
    char err[512];
    TEST_CHECK(wgml_gguf_open_file(path, &g, err, sizeof err) == WGML_OK, "%s", err);
    wgml_gguf_writer *w = wgml_gguf_writer_create();
    TEST_CHECK(w, "out of memory");
    for (size_t i = 0; i < wgml_gguf_kv_count(g); i++) {
        const char *key = wgml_gguf_kv_key(g, i);
        uint64_t a;
        wgml_status s = !strcmp(key, "general.alignment") && wgml_gguf_get_u64(g, key, &a)
                            ? wgml_gguf_writer_set_u32(w, key, (uint32_t)a)
                            : wgml_gguf_writer_copy_kv(w, g, key);
        TEST_CHECK(s == WGML_OK, "copy %s: %s", key, wgml_gguf_writer_last_error(w));
    }
    for (size_t i = 0; i < wgml_gguf_tensor_count(g); i++) {
        const wgml_gguf_tensor *t = wgml_gguf_tensor_at(g, i);
        const void *data = i % 2 ? NULL : wgml_gguf_tensor_data(g, t);
        TEST_CHECK(wgml_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data,
                                               (size_t)t->size) == WGML_OK,
                   "add %s: %s", t->name, wgml_gguf_writer_last_error(w));
    }
    char *out = write_temp("", 0);
    TEST_CHECK(out, "temp file");
    TEST_CHECK(wgml_gguf_writer_write_file(w, out, fill_from, g, err, sizeof err) == WGML_OK, "%s",
               err);
    blob a = read_whole(path), b = read_whole(out);
    TEST_CHECK(a.p && b.p, "read back");
    size_t diff = 0;
    while (diff < a.n && diff < b.n && a.p[diff] == b.p[diff]) diff++;
    TEST_CHECK(a.n == b.n && diff == a.n, "%s rewritten differs from GGUFWriter's at byte %zu "
               "(%zu and %zu bytes)", name, diff, a.n, b.n);
    printf("%s rewritten by wgml's writer: the same %zu bytes as GGUFWriter's\n", name, a.n);
    free(a.p);
    free(b.p);
    unlink(out);
    free(out);
    wgml_gguf_writer_free(w);
    wgml_gguf_close(g);
    return 0;
}

// Deterministic bytes for tensor `name` at `offset`, the fill of the sample.
static unsigned char sample_byte(const char *name, uint64_t i)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    h ^= i * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    return (unsigned char)(h * 0xbf58476d1ce4e5b9ull >> 56);
}

static wgml_status sample_fill(void *user, const char *name, uint64_t offset, void *dst, size_t n)
{
    (void)user;
    // F16 and BF16 bytes are arbitrary bit patterns: fine for a file, and a
    // NaN among them only has to survive the trip.
    for (size_t i = 0; i < n; i++) ((unsigned char *)dst)[i] = sample_byte(name, offset + i);
    return WGML_OK;
}

// A file of every setter and every tensor type: in memory and through fill,
// 1 to 4 dimensions, alignment 64.
static int build_sample(wgml_gguf_writer *w)
{
    static const char *const strs[] = {"alpha", "", "\xce\xb2"};
    static const float fl[] = {1.5f, -0.0f, 3e38f};
    static const int32_t in[] = {-7, 0, 2147483647};
    TEST_CHECK(wgml_gguf_writer_set_str(w, "general.architecture", "llama") == WGML_OK &&
               wgml_gguf_writer_set_u32(w, "general.alignment", 64) == WGML_OK &&
               wgml_gguf_writer_set_u32(w, "s.u32", 4000000000u) == WGML_OK &&
               wgml_gguf_writer_set_u64(w, "s.u64", 18000000000000000000ull) == WGML_OK &&
               wgml_gguf_writer_set_i32(w, "s.i32", -123) == WGML_OK &&
               wgml_gguf_writer_set_f32(w, "s.f32", 0.1f) == WGML_OK &&
               wgml_gguf_writer_set_bool(w, "s.bool", true) == WGML_OK &&
               wgml_gguf_writer_set_str(w, "s.str", "first") == WGML_OK &&
               wgml_gguf_writer_set_arr_str(w, "a.str", strs, 3) == WGML_OK &&
               wgml_gguf_writer_set_arr_f32(w, "a.f32", fl, 3) == WGML_OK &&
               wgml_gguf_writer_set_arr_i32(w, "a.i32", in, 3) == WGML_OK &&
               wgml_gguf_writer_set_arr_i32(w, "a.empty", NULL, 0) == WGML_OK &&
               wgml_gguf_writer_set_str(w, "s.str", "second") == WGML_OK,   // replaces
               "setters: %s", wgml_gguf_writer_last_error(w));
    static const struct { const char *name; uint32_t type, n_dims; uint64_t ne[4]; int fill; } ts[] = {
        {"f32.1d", WGML_GGUF_F32, 1, {7}, 0},           {"f16.2d", WGML_GGUF_F16, 2, {5, 3}, 1},
        {"bf16.3d", WGML_GGUF_BF16, 3, {3, 2, 2}, 0},   {"q8_0.4d", WGML_GGUF_Q8_0, 4, {64, 2, 1, 3}, 1},
        {"q4_0", WGML_GGUF_Q4_0, 2, {96, 3}, 0},        {"q4_1", WGML_GGUF_Q4_1, 2, {32, 5}, 1},
        {"q4_k", WGML_GGUF_Q4_K, 2, {512, 2}, 0},       {"q6_k", WGML_GGUF_Q6_K, 2, {256, 3}, 1},
        {"big.fill", WGML_GGUF_F32, 2, {4096, 600}, 1},  // more than one fill chunk
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        uint32_t be, bb;
        wgml_gguf_type_block(ts[i].type, &be, &bb);
        uint64_t n = ts[i].ne[0] * (ts[i].n_dims > 1 ? ts[i].ne[1] : 1) *
                     (ts[i].n_dims > 2 ? ts[i].ne[2] : 1) * (ts[i].n_dims > 3 ? ts[i].ne[3] : 1);
        size_t size = (size_t)(n / be * bb);
        unsigned char *data = NULL;
        if (!ts[i].fill) {
            data = malloc(size);
            TEST_CHECK(data, "out of memory");
            sample_fill(NULL, ts[i].name, 0, data, size);
        }
        wgml_status s = wgml_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims,
                                                    ts[i].ne, data, size);
        free(data);
        TEST_CHECK(s == WGML_OK, "add %s: %s", ts[i].name, wgml_gguf_writer_last_error(w));
    }
    return 0;
}

// The sample read back by wgml's reader: values and bytes as written.
static int check_sample(wgml_gguf *g)
{
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    const char *s;
    size_t len;
    wgml_gguf_value_type et;
    uint64_t n;
    TEST_CHECK(wgml_gguf_alignment(g) == 64 && wgml_gguf_kv_count(g) == 12 &&
               wgml_gguf_tensor_count(g) == 9, "sample: alignment, counts");
    TEST_CHECK(wgml_gguf_get_u64(g, "s.u32", &u) && u == 4000000000u &&
               wgml_gguf_kv_type(g, (size_t)wgml_gguf_kv_find(g, "s.u32")) == WGML_GGUF_UINT32,
               "s.u32");
    TEST_CHECK(wgml_gguf_get_u64(g, "s.u64", &u) && u == 18000000000000000000ull, "s.u64");
    TEST_CHECK(wgml_gguf_get_i64(g, "s.i32", &i) && i == -123, "s.i32");
    TEST_CHECK(wgml_gguf_get_f64(g, "s.f32", &f) && (float)f == 0.1f, "s.f32");
    TEST_CHECK(wgml_gguf_get_bool(g, "s.bool", &b) && b, "s.bool");
    TEST_CHECK(wgml_gguf_get_str(g, "s.str", &s, &len) && len == 6 && !strcmp(s, "second") &&
               !strcmp(wgml_gguf_kv_key(g, 7), "s.str"), "s.str replaced in place");
    TEST_CHECK(wgml_gguf_get_arr(g, "a.str", &et, &n) && et == WGML_GGUF_STRING && n == 3 &&
               wgml_gguf_arr_str(g, "a.str", 1, &s, &len) && len == 0 &&
               wgml_gguf_arr_str(g, "a.str", 2, &s, &len) && !strcmp(s, "\xce\xb2"), "a.str");
    const float *fl = wgml_gguf_arr_data(g, "a.f32");
    TEST_CHECK(fl && fl[0] == 1.5f && signbit(fl[1]) && fl[2] == 3e38f, "a.f32");
    const int32_t *in = wgml_gguf_arr_data(g, "a.i32");
    TEST_CHECK(in && in[0] == -7 && in[2] == 2147483647, "a.i32");
    TEST_CHECK(wgml_gguf_get_arr(g, "a.empty", &et, &n) && et == WGML_GGUF_INT32 && n == 0 &&
               wgml_gguf_arr_data(g, "a.empty"), "a.empty");
    for (size_t k = 0; k < wgml_gguf_tensor_count(g); k++) {
        const wgml_gguf_tensor *t = wgml_gguf_tensor_at(g, k);
        TEST_CHECK(t->offset % 64 == 0, "%s misaligned", t->name);
        unsigned char *d = malloc((size_t)t->size);
        TEST_CHECK(d && wgml_gguf_tensor_read(g, t, 0, d, (size_t)t->size) == WGML_OK, "read %s",
                   t->name);
        for (uint64_t j = 0; j < t->size; j++)
            TEST_CHECK(d[j] == sample_byte(t->name, j), "%s byte %llu", t->name,
                       (unsigned long long)j);
        free(d);
    }
    const wgml_gguf_tensor *t = wgml_gguf_tensor_find(g, "q8_0.4d");
    TEST_CHECK(t && t->n_dims == 4 && t->ne[0] == 64 && t->ne[3] == 3 && t->size == 6 * 2 * 34,
               "q8_0.4d shape");
    return 0;
}

static int test_writer(void)
{
    if (rewrite_same("meta.gguf") || rewrite_same("types.gguf")) return 1;

    wgml_gguf_writer *w = wgml_gguf_writer_create();
    TEST_CHECK(w && !build_sample(w), "sample");
    char *out = write_temp("", 0);
    char err[512];
    TEST_CHECK(out && wgml_gguf_writer_write_file(w, out, sample_fill, NULL, err, sizeof err) ==
               WGML_OK, "write: %s", err);
    blob b = read_whole(out);
    for (int src = 0; src < SRC_COUNT; src++) {
        wgml_gguf *g;
        mem_reader rd;
        TEST_CHECK(open_src(src, out, b, &rd, &g, err, sizeof err, NULL) == WGML_OK, "%s", err);
        int rc = check_sample(g);
        wgml_gguf_close(g);
        TEST_CHECK(!rc, "sample read from %s", src_names[src]);
    }
    printf("sample of every setter and tensor type read back from all three sources\n");
    free(b.p);

    // Refusals.
    static const uint64_t ne2[2] = {32, 2}, ne5[5] = {32, 1, 1, 1, 1}, ne_bad[2] = {31, 2},
                          ne0[2] = {32, 0}, ne_big[2] = {1ull << 62, 4};
    TEST_CHECK(wgml_gguf_writer_add_tensor(w, "f32.1d", WGML_GGUF_F32, 2, ne2, NULL, 256) ==
               WGML_ERR_INVALID_ARGUMENT && strstr(wgml_gguf_writer_last_error(w), "added twice"),
               "duplicate tensor");
    TEST_CHECK(wgml_gguf_writer_add_tensor(w, "x", WGML_GGUF_F32, 5, ne5, NULL, 128) ==
               WGML_ERR_INVALID_ARGUMENT, "5 dims");
    TEST_CHECK(wgml_gguf_writer_add_tensor(w, "x", WGML_GGUF_Q4_0, 2, ne_bad, NULL, 36) ==
               WGML_ERR_INVALID_ARGUMENT && strstr(wgml_gguf_writer_last_error(w), "block"),
               "partial block");
    TEST_CHECK(wgml_gguf_writer_add_tensor(w, "x", WGML_GGUF_F32, 2, ne0, NULL, 0) ==
               WGML_ERR_INVALID_ARGUMENT, "zero dim");
    TEST_CHECK(wgml_gguf_writer_add_tensor(w, "x", WGML_GGUF_F32, 2, ne_big, NULL, 0) ==
               WGML_ERR_INVALID_ARGUMENT, "overflow");
    TEST_CHECK(wgml_gguf_writer_add_tensor(w, "x", WGML_GGUF_F32, 2, ne2, NULL, 255) ==
               WGML_ERR_INVALID_ARGUMENT && strstr(wgml_gguf_writer_last_error(w), "takes 256"),
               "wrong size");
    TEST_CHECK(wgml_gguf_writer_add_tensor(w, "x", 13, 2, ne2, NULL, 0) == WGML_ERR_UNSUPPORTED,
               "Q5_K");
    TEST_CHECK(wgml_gguf_writer_set_u32(w, "general.alignment", 48) == WGML_ERR_INVALID_ARGUMENT &&
               wgml_gguf_writer_set_u32(w, "general.alignment", 0) == WGML_ERR_INVALID_ARGUMENT &&
               wgml_gguf_writer_set_u64(w, "general.alignment", 64) == WGML_ERR_INVALID_ARGUMENT &&
               wgml_gguf_writer_set_str(w, "k", NULL) == WGML_ERR_INVALID_ARGUMENT &&
               wgml_gguf_writer_set_u32(w, NULL, 1) == WGML_ERR_INVALID_ARGUMENT,
               "bad key/values");
    // No fill for a tensor without data; a failing fill leaves no file behind.
    TEST_CHECK(wgml_gguf_writer_write_file(w, out, NULL, NULL, err, sizeof err) ==
               WGML_ERR_INVALID_ARGUMENT && strstr(err, "no fill callback"), "missing fill: %s", err);
    unlink(out);
    wgml_gguf_writer_free(w);
    w = wgml_gguf_writer_create();
    TEST_CHECK(w && !build_sample(w), "sample");
    // fill_from over no file fails for every tensor.
    TEST_CHECK(wgml_gguf_writer_write_file(w, out, fill_from, NULL, err, sizeof err) != WGML_OK &&
               strstr(err, "filling tensor \"f16.2d\""), "failing fill: %s", err);
    TEST_CHECK(access(out, F_OK) != 0, "a failed write left %s", out);
    TEST_CHECK(wgml_gguf_writer_write_file(w, "/nonexistent/dir/x.gguf", sample_fill, NULL, err,
                                           sizeof err) == WGML_ERR_INVALID_ARGUMENT &&
               strstr(err, "cannot create"), "unwritable path: %s", err);
    wgml_gguf_writer_free(w);

    // Found by fuzz_gguf: a file without tensors and a 1 GiB alignment was
    // padded to 1 GiB. Without tensors nothing follows the header.
    w = wgml_gguf_writer_create();
    TEST_CHECK(w && wgml_gguf_writer_set_u32(w, "general.alignment", 1u << 30) == WGML_OK &&
               wgml_gguf_writer_write_file(w, out, NULL, NULL, err, sizeof err) == WGML_OK,
               "write: %s", err);
    b = read_whole(out);
    TEST_CHECK(b.p && b.n == 24 + 8 + 17 + 4 + 4, "%zu bytes for a header of one key", b.n);
    wgml_gguf *g;
    TEST_CHECK(wgml_gguf_open_memory(b.p, b.n, &g, err, sizeof err) == WGML_OK &&
               wgml_gguf_alignment(g) == 1u << 30, "reopen: %s", err);
    wgml_gguf_close(g);
    free(b.p);
    unlink(out);
    wgml_gguf_writer_free(w);
    free(out);
    return 0;
}

// Writes the sample for scripts/gguf_dump.py to read (tests/gguf_python.sh).
static int write_sample(const char *path)
{
    wgml_gguf_writer *w = wgml_gguf_writer_create();
    char err[512];
    TEST_CHECK(w && !build_sample(w), "sample");
    TEST_CHECK(wgml_gguf_writer_write_file(w, path, sample_fill, NULL, err, sizeof err) == WGML_OK,
               "%s", err);
    wgml_gguf_writer_free(w);
    return 0;
}

// ---------------------------------------------------------------- synth

// Runs `wgml synth ARGS --quiet --output FILE`; returns its exit status.
static int run_synth(const char *wgml, const char *args, const char *file)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' synth %s --quiet --output '%s' > /dev/null", wgml, args, file);
    int r = system(cmd);
    return r == -1 || !WIFEXITED(r) ? -1 : WEXITSTATUS(r);
}

static uint64_t meta_u64(wgml_gguf *g, const char *key)
{
    uint64_t v = 0;
    return wgml_gguf_get_u64(g, key, &v) ? v : 0;
}

// GPT-2's byte alphabet, as its bytes_to_unicode states it: the printable
// bytes keep their code point, the others take 256, 257, ... in byte order.
static void gpt2_byte_chars(char out[256][3])
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        int cp = keep ? b : 256 + n++;
        memset(out[b], 0, 3);
        if (cp < 0x80) out[b][0] = (char)cp;
        else {
            out[b][0] = (char)(0xc0 | cp >> 6);
            out[b][1] = (char)(0x80 | (cp & 0x3f));
        }
    }
}

// The file's shapes follow its own llama.* metadata, every matrix holds
// N(0, 1/K)-distributed values in `type`, norms are 1, the vocabulary is
// well-formed. want_*: the sizes the command was given.
static int check_synth(const char *path, uint32_t type, const uint64_t want[7], bool tied,
                       bool own_tokenizer)
{
    wgml_gguf *g;
    char err[512];
    TEST_CHECK(wgml_gguf_open_file(path, &g, err, sizeof err) == WGML_OK, "%s", err);
    const char *arch;
    size_t len;
    TEST_CHECK(wgml_gguf_get_str(g, "general.architecture", &arch, &len) && !strcmp(arch, "llama"),
               "architecture");
    static const char *const keys[7] = {"llama.embedding_length", "llama.block_count",
                                        "llama.attention.head_count", "llama.attention.head_count_kv",
                                        "llama.feed_forward_length", "llama.vocab_size",
                                        "llama.context_length"};
    uint64_t v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = meta_u64(g, keys[i]);
        TEST_CHECK(v[i] == want[i], "%s = %llu, expected %llu", keys[i], (unsigned long long)v[i],
                   (unsigned long long)want[i]);
    }
    uint64_t D = v[0], L = v[1], H = v[2], Hk = v[3], F = v[4], V = v[5], Dh = D / H;
    double base = 0, eps = 0;
    TEST_CHECK(meta_u64(g, "llama.rope.dimension_count") == Dh &&
               wgml_gguf_get_f64(g, "llama.rope.freq_base", &base) && base > 0 &&
               wgml_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", &eps) && eps > 0 &&
               eps < 1e-3, "rope and norm metadata");
    wgml_gguf_value_type et;
    uint64_t n_tok = 0;
    TEST_CHECK(wgml_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n_tok) && n_tok == V,
               "%llu tokens for a vocabulary of %llu", (unsigned long long)n_tok,
               (unsigned long long)V);

    // Every tensor, with the shape its role implies.
    size_t expect_n = 2 + 9 * L + (tied ? 0 : 1);
    TEST_CHECK(wgml_gguf_tensor_count(g) == expect_n, "%zu tensors, expected %zu",
               wgml_gguf_tensor_count(g), expect_n);
    TEST_CHECK(!tied == !!wgml_gguf_tensor_find(g, "output.weight"), "output.weight");
    double worst = 0;
    for (size_t i = 0; i < wgml_gguf_tensor_count(g); i++) {
        const wgml_gguf_tensor *t = wgml_gguf_tensor_at(g, i);
        const char *role = strrchr(t->name, '.');
        char what[64];
        snprintf(what, sizeof what, "%.*s", (int)(role - t->name), t->name);
        const char *r = strrchr(what, '.') ? strrchr(what, '.') + 1 : what;
        uint64_t k = D, n = 1;
        bool norm = strstr(r, "norm") != NULL;
        if (!strcmp(r, "token_embd") || !strcmp(r, "output")) n = V;
        else if (!strcmp(r, "attn_q") || !strcmp(r, "attn_output")) n = D;
        else if (!strcmp(r, "attn_k") || !strcmp(r, "attn_v")) n = Hk * Dh;
        else if (!strcmp(r, "ffn_gate") || !strcmp(r, "ffn_up")) n = F;
        else if (!strcmp(r, "ffn_down")) k = F, n = D;
        else TEST_CHECK(norm, "unexpected tensor %s", t->name);
        TEST_CHECK(t->ne[0] == k && t->ne[1] == n && t->n_dims == (norm ? 1u : 2u),
                   "%s: ne %llu x %llu, expected %llu x %llu", t->name,
                   (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                   (unsigned long long)k, (unsigned long long)n);
        TEST_CHECK(t->type == (norm ? WGML_GGUF_F32 : type), "%s: type %s", t->name,
                   wgml_gguf_type_name(t->type));
        float *x = malloc((size_t)t->n_elements * sizeof *x);
        TEST_CHECK(x && wgml_gguf_dequantize(t->type, wgml_gguf_tensor_data(g, t), t->n_elements,
                                             x) == WGML_OK, "dequantize %s", t->name);
        double sum = 0, sq = 0;
        for (uint64_t j = 0; j < t->n_elements; j++) {
            sum += x[j];
            sq += (double)x[j] * x[j];
        }
        free(x);
        double m = sum / t->n_elements, sd = sqrt(sq / t->n_elements - m * m);
        if (norm) {
            TEST_CHECK(m == 1 && sd == 0, "%s: norm weights not all 1", t->name);
            continue;
        }
        // The mean within 5 standard errors of 0; the deviation within 4%
        // of 1/sqrt(K) (4-bit blocks add their rounding noise).
        double want_sd = 1 / sqrt((double)k), rel = fabs(sd / want_sd - 1);
        TEST_CHECK(fabs(m) < 5 * want_sd / sqrt((double)t->n_elements) && rel < 0.04,
                   "%s: mean %g, deviation %g, expected 0 and %g", t->name, m, sd, want_sd);
        if (rel > worst) worst = rel;
    }

    if (own_tokenizer) {
        // Byte tokens in GPT-2's alphabet; every merge joins two tokens into a later one.
        char bytes[256][3];
        gpt2_byte_chars(bytes);
        const char *s, *model;
        for (int b = 0; b < 256; b++)
            TEST_CHECK(wgml_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)b, &s, &len) &&
                       !strcmp(s, bytes[b]), "token %d is \"%s\", expected \"%s\"", b, s, bytes[b]);
        TEST_CHECK(wgml_gguf_get_str(g, "tokenizer.ggml.model", &model, &len) &&
                   !strcmp(model, "gpt2"), "tokenizer model");
        uint64_t n_merges = 0, eos = meta_u64(g, "tokenizer.ggml.eos_token_id");
        TEST_CHECK(wgml_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n_merges) &&
                   n_merges == V - 257, "%llu merges", (unsigned long long)n_merges);
        TEST_CHECK(eos == V - 1 && wgml_gguf_arr_str(g, "tokenizer.ggml.tokens", eos, &s, &len) &&
                   !strcmp(s, "<|endoftext|>"), "end-of-text token");
        const int32_t *types = wgml_gguf_arr_data(g, "tokenizer.ggml.token_type");
        TEST_CHECK(types && types[0] == 1 && types[V - 1] == 3, "token types");
        for (uint64_t m = 0; m < n_merges; m++) {
            const char *mg;
            TEST_CHECK(wgml_gguf_arr_str(g, "tokenizer.ggml.merges", m, &mg, &len), "merge %llu",
                       (unsigned long long)m);
            const char *sp = strchr(mg, ' ');
            TEST_CHECK(sp && !strchr(sp + 1, ' '), "merge \"%s\"", mg);
            char joined[256];
            snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - mg), mg, sp + 1);
            const char *made;
            TEST_CHECK(wgml_gguf_arr_str(g, "tokenizer.ggml.tokens", 256 + m, &made, &len) &&
                       !strcmp(made, joined), "merge %llu \"%s\" makes \"%s\", token %llu is \"%s\"",
                       (unsigned long long)m, mg, joined, (unsigned long long)(256 + m), made);
            // Both parts are earlier tokens.
            int found = 0;
            for (uint64_t t = 0; t < 256 + m && found < 2; t++) {
                const char *tok;
                wgml_gguf_arr_str(g, "tokenizer.ggml.tokens", t, &tok, &len);
                found += len == (size_t)(sp - mg) && !memcmp(tok, mg, len);
                found += !strcmp(tok, sp + 1);
            }
            TEST_CHECK(found >= 2, "merge \"%s\": parts are not earlier tokens", mg);
        }
    }
    wgml_gguf_close(g);
    printf("%s: shapes follow its metadata; weight deviations within %.1f%% of 1/sqrt(K)\n", path,
           100 * worst);
    return 0;
}

static bool same_bytes(const char *a, const char *b)
{
    blob x = read_whole(a), y = read_whole(b);
    bool same = x.p && y.p && x.n == y.n && !memcmp(x.p, y.p, x.n);
    free(x.p);
    free(y.p);
    return same;
}

static int test_synth(const char *wgml, const char *model)
{
    char *a = write_temp("", 0), *b = write_temp("", 0);
    TEST_CHECK(a && b, "temp files");
    // The tiny preset, as its --help describes it.
    const uint64_t tiny[7] = {64, 2, 4, 2, 192, 512, 256};
    TEST_CHECK(run_synth(wgml, "--preset tiny --type q8_0 --seed 5", a) == 0, "synth tiny");
    if (check_synth(a, WGML_GGUF_Q8_0, tiny, false, true)) return 1;
    TEST_CHECK(run_synth(wgml, "--seed 5 --type q8_0", b) == 0 && same_bytes(a, b),
               "the same seed gives the same bytes");
    TEST_CHECK(run_synth(wgml, "--seed 6 --type q8_0", b) == 0 && !same_bytes(a, b),
               "another seed, other bytes");
    // Explicit sizes, tied embeddings, every type.
    const uint64_t custom[7] = {96, 1, 3, 1, 128, 300, 64};
    static const struct { const char *name; uint32_t type; } types[] = {
        {"f32", WGML_GGUF_F32}, {"f16", WGML_GGUF_F16}, {"q4_0", WGML_GGUF_Q4_0},
        {"q4_1", WGML_GGUF_Q4_1}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "--dim 96 --layers 1 --heads 3 --kv-heads 1 --ffn 128 --vocab "
                 "300 --ctx 64 --tied --type %s", types[i].name);
        TEST_CHECK(run_synth(wgml, args, a) == 0, "synth %s", args);
        if (check_synth(a, types[i].type, custom, true, true)) return 1;
    }
    // Refusals: exit status 2 and no file.
    static const char *const bad[] = {
        "--dim 65", "--kv-heads 3", "--type q4_k", "--type i8", "--dim 48 --heads 4 --type q8_0",
        "--dim 12 --heads 4 --type f32", "--preset gpt5", "--vocab 100", "--layers 0", "--seed x",
        "--bogus",
    };
    unlink(a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TEST_CHECK(run_synth(wgml, bad[i], a) == 2 && access(a, F_OK) != 0, "synth %s accepted",
                   bad[i]);
    if (model && access(model, R_OK) == 0) {
        // SmolLM2's shapes at one layer with SmolLM2's own tokenizer.
        char args[2048];
        snprintf(args, sizeof args, "--preset smollm2-135m --layers 1 --type q4_1 --tokenizer-from '%s'",
                 model);
        TEST_CHECK(run_synth(wgml, args, a) == 0, "synth %s", args);
        const uint64_t smol[7] = {576, 1, 9, 3, 1536, 49152, 8192};
        if (check_synth(a, WGML_GGUF_Q4_1, smol, true, false)) return 1;
        wgml_gguf *src, *out;
        char err[512];
        TEST_CHECK(wgml_gguf_open_file(model, &src, err, sizeof err) == WGML_OK &&
                   wgml_gguf_open_file(a, &out, err, sizeof err) == WGML_OK, "%s", err);
        int copied = 0;
        for (size_t i = 0; i < wgml_gguf_kv_count(src); i++) {
            const char *key = wgml_gguf_kv_key(src, i);
            if (strncmp(key, "tokenizer.", 10)) continue;
            int64_t j = wgml_gguf_kv_find(out, key);
            TEST_CHECK(j >= 0 && wgml_gguf_kv_type(out, (size_t)j) == wgml_gguf_kv_type(src, i),
                       "%s not copied", key);
            const char *x, *y;
            size_t lx, ly;
            wgml_gguf_value_type ex, ey;
            uint64_t nx, ny;
            if (wgml_gguf_get_str(src, key, &x, &lx))
                TEST_CHECK(wgml_gguf_get_str(out, key, &y, &ly) && lx == ly && !memcmp(x, y, lx),
                           "%s differs", key);
            if (wgml_gguf_get_arr(src, key, &ex, &nx)) {
                TEST_CHECK(wgml_gguf_get_arr(out, key, &ey, &ny) && ex == ey && nx == ny, "%s", key);
                for (uint64_t e = 0; e < nx && ex == WGML_GGUF_STRING; e++)
                    TEST_CHECK(wgml_gguf_arr_str(src, key, e, &x, &lx) &&
                               wgml_gguf_arr_str(out, key, e, &y, &ly) && lx == ly &&
                               !memcmp(x, y, lx), "%s[%llu] differs", key, (unsigned long long)e);
                if (ex != WGML_GGUF_STRING)
                    TEST_CHECK(!memcmp(wgml_gguf_arr_data(src, key), wgml_gguf_arr_data(out, key),
                                       (size_t)nx * 4), "%s differs", key);
            }
            uint64_t ux, uy;
            if (wgml_gguf_get_u64(src, key, &ux))
                TEST_CHECK(wgml_gguf_get_u64(out, key, &uy) && ux == uy, "%s differs", key);
            copied++;
        }
        printf("%d tokenizer keys of %s copied unchanged\n", copied, model);
        TEST_CHECK(copied >= 5, "only %d tokenizer keys", copied);
        wgml_gguf_close(src);
        wgml_gguf_close(out);
        snprintf(args, sizeof args, "--vocab 1000 --tokenizer-from '%s'", model);
        TEST_CHECK(run_synth(wgml, args, a) == 2, "--vocab against the tokenizer's size");
    } else {
        printf("(no SmolLM2 model: --tokenizer-from not tested)\n");
    }
    unlink(a);
    unlink(b);
    free(a);
    free(b);
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
    if (!strcmp(what, "writer")) return test_writer();
    if (!strcmp(what, "write_sample") && argc == 3) return write_sample(argv[2]);
    if (!strcmp(what, "synth") && argc >= 3) return test_synth(argv[2], argc > 3 ? argv[3] : NULL);
    if ((!strcmp(what, "model") || !strcmp(what, "expect")) && argc == 4)
        return test_expect(argv[2], argv[3]);
    fprintf(stderr, "usage: test_gguf valid|dequant|bad|alloc|source|writer | model|expect FILE TXT | "
            "write_sample FILE | synth WGML [MODEL]\n");
    return 2;
}
