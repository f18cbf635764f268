// The safetensors reader.
//   valid: files written here with known values, opened through all three
//          sources (mapped file, memory, read-at callback); names, shapes,
//          dtypes, bytes and f32 conversions checked against the values
//          written, with encodings fixed by IEEE 754 (not by core/half.c).
//   bad:   handcrafted files that break one rule each; every source must
//          refuse them with WGML_ERR_BAD_FILE and a message naming the rule.
//   model: all-MiniLM-L6-v2 against values the reference reader (PyPI
//          safetensors) wrote to tests/data/minilm_expected.txt.
#include "formats/safetensors.h"
#include "test_util.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------- building files

typedef struct blob {
    unsigned char *p;
    size_t n;
} blob;

static void put_le(unsigned char *dst, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) dst[i] = (unsigned char)(v >> (8 * i));
}

// [u64 length field][header][data]; len_field < 0 writes the header's real length.
static blob make_file(const char *header, size_t header_len, int64_t len_field,
                      const unsigned char *data, size_t data_len)
{
    blob b = {malloc(8 + header_len + data_len + 1), 8 + header_len + data_len};
    if (!b.p) return b;
    put_le(b.p, len_field < 0 ? header_len : (uint64_t)len_field, 8);
    memcpy(b.p + 8, header, header_len);
    if (data_len) {
        if (data) memcpy(b.p + 8 + header_len, data, data_len);
        else memset(b.p + 8 + header_len, 0, data_len);
    }
    return b;
}

// Writes the blob to a new temporary file; returns its path (caller frees and unlinks).
static char *write_temp(blob b)
{
    const char *dir = getenv("TMPDIR");
    size_t n = strlen(dir ? dir : "/tmp") + 32;
    char *path = malloc(n);
    if (!path) return NULL;
    snprintf(path, n, "%s/wgml_st_XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t done = 0;
    while (done < b.n) {
        ssize_t w = write(fd, b.p + done, b.n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(fd);
    if (done != b.n) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

// A read-at source over memory that records whether it was ever asked for
// bytes outside the source, and can be told to fail.
typedef struct mem_reader {
    const unsigned char *p;
    uint64_t size;
    bool out_of_range;
    uint64_t fail_from;   // reads at or past this offset fail
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

// ---------------------------------------------------------------- valid files

enum { SRC_FILE, SRC_MEMORY, SRC_READER, SRC_COUNT };
static const char *src_names[SRC_COUNT] = {"file", "memory", "reader"};

// Opens b through one source; the temp file (if any) is returned for cleanup.
static wgml_status open_from(int src, blob b, mem_reader *rd, char **path, wgml_safetensors **out,
                             char *err, size_t err_size)
{
    *path = NULL;
    switch (src) {
    case SRC_FILE:
        *path = write_temp(b);
        if (!*path) {
            snprintf(err, err_size, "cannot write a temporary file");
            return WGML_ERR_INVALID_ARGUMENT;
        }
        return wgml_safetensors_open_file(*path, out, err, err_size);
    case SRC_MEMORY:
        return wgml_safetensors_open_memory(b.p, b.n, out, err, err_size);
    default:
        *rd = (mem_reader){.p = b.p, .size = b.n, .fail_from = UINT64_MAX};
        return wgml_safetensors_open_reader(mem_read_at, rd, b.n, out, err, err_size);
    }
}

static void close_temp(char *path)
{
    if (path) unlink(path);
    free(path);
}

// Data section of the valid file: byte offsets of each tensor.
enum { OFF_IDS = 0, OFF_B = 24, OFF_A = 32, OFF_C = 56, OFF_SCALAR = 60, DATA_LEN = 64 };
static const float a_values[6] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
static const int64_t id_values[3] = {7, -1, (int64_t)1 << 40};
static const uint16_t b_bits[4] = {0x3c00, 0xc000, 0x3800, 0x7bff};   // 1, -2, 0.5, 65504
static const float b_values[4] = {1.0f, -2.0f, 0.5f, 65504.0f};
static const uint16_t c_bits[2] = {0x3f80, 0xc060};                    // bf16 1, -3.5
static const float c_values[2] = {1.0f, -3.5f};

static blob make_valid(size_t *header_len)
{
    unsigned char data[DATA_LEN];
    for (int i = 0; i < 3; i++) put_le(data + OFF_IDS + 8 * i, (uint64_t)id_values[i], 8);
    for (int i = 0; i < 4; i++) put_le(data + OFF_B + 2 * i, b_bits[i], 2);
    for (int i = 0; i < 6; i++) {
        uint32_t bits;
        memcpy(&bits, &a_values[i], 4);
        put_le(data + OFF_A + 4 * i, bits, 4);
    }
    for (int i = 0; i < 2; i++) put_le(data + OFF_C + 2 * i, c_bits[i], 2);
    put_le(data + OFF_SCALAR, 0x42280000u, 4);   // 42.0f
    // Listed out of offset order, metadata in the middle, padded with spaces
    // to a multiple of 8 as the reference writer does.
    char header[1024];
    int n = snprintf(header, sizeof header,
                     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[%d,%d]},"
                     "\"b\":{\"shape\":[4],\"dtype\":\"F16\",\"data_offsets\":[%d,%d]},"
                     "\"__metadata__\":{\"format\":\"pt\",\"note\":\"h\\u00e9\"},"
                     "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[%d,%d],\"x\":[1]},"
                     "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[%d,%d]},"
                     "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[%d,%d]},"
                     "\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[%d,%d]}}",
                     OFF_A, OFF_A + 24, OFF_B, OFF_B + 8, OFF_C, OFF_C + 4, OFF_SCALAR, OFF_SCALAR,
                     OFF_SCALAR, OFF_SCALAR + 4, OFF_IDS, OFF_IDS + 24);
    while (n % 8) header[n++] = ' ';
    *header_len = (size_t)n;
    return make_file(header, (size_t)n, -1, data, DATA_LEN);
}

static int check_f32(wgml_safetensors *st, const char *name, const float *want, size_t n)
{
    const wgml_safetensors_tensor *t = wgml_safetensors_tensor_find(st, name);
    TEST_CHECK(t, "tensor %s not found", name);
    float got[8] = {0};
    TEST_CHECK(wgml_safetensors_tensor_read_f32(st, t, got, 8) == WGML_OK, "read_f32(%s): %s",
               name, wgml_safetensors_last_error(st));
    for (size_t i = 0; i < n; i++)
        TEST_CHECK(got[i] == want[i], "%s[%zu] = %g, expected %g", name, i, got[i], want[i]);
    return 0;
}

static int check_valid_handle(wgml_safetensors *st, int src, size_t header_len, const blob *b)
{
    const char *order[] = {"a", "b", "c", "empty", "scalar", "ids"};
    TEST_CHECK(wgml_safetensors_count(st) == 6, "count %zu", wgml_safetensors_count(st));
    for (size_t i = 0; i < 6; i++) {
        const wgml_safetensors_tensor *t = wgml_safetensors_tensor_at(st, i);
        TEST_CHECK(t && !strcmp(t->name, order[i]) && t->name_len == strlen(order[i]),
                   "tensor %zu is %s, expected %s", i, t ? t->name : "NULL", order[i]);
        TEST_CHECK(wgml_safetensors_tensor_find(st, order[i]) == t, "find(%s)", order[i]);
    }
    TEST_CHECK(wgml_safetensors_tensor_at(st, 6) == NULL, "tensor past the end");
    TEST_CHECK(!wgml_safetensors_tensor_find(st, "nope") && !wgml_safetensors_tensor_find(st, "") &&
               !wgml_safetensors_tensor_find(st, "__metadata__"), "find of a missing name");

    const wgml_safetensors_tensor *a = wgml_safetensors_tensor_find(st, "a");
    TEST_CHECK(a->dtype == WGML_ST_F32 && a->n_dims == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
               a->shape[2] == 0 && a->n_elements == 6 && a->size == 24 && a->offset == OFF_A &&
               a->file_offset == 8 + header_len + OFF_A, "tensor a's record");
    const wgml_safetensors_tensor *e = wgml_safetensors_tensor_find(st, "empty");
    TEST_CHECK(e->n_dims == 2 && e->shape[0] == 0 && e->shape[1] == 5 && e->n_elements == 0 &&
               e->size == 0, "tensor empty's record");
    const wgml_safetensors_tensor *s = wgml_safetensors_tensor_find(st, "scalar");
    TEST_CHECK(s->n_dims == 0 && s->n_elements == 1 && s->size == 4, "scalar's record");
    const wgml_safetensors_tensor *ids = wgml_safetensors_tensor_find(st, "ids");
    TEST_CHECK(ids->dtype == WGML_ST_I64 && ids->size == 24, "ids' record");
    TEST_CHECK(wgml_safetensors_tensor_find(st, "b")->dtype == WGML_ST_F16 &&
               wgml_safetensors_tensor_find(st, "c")->dtype == WGML_ST_BF16, "dtypes of b, c");

    // f32 conversions from F32, F16 and BF16.
    if (check_f32(st, "a", a_values, 6) || check_f32(st, "b", b_values, 4) ||
        check_f32(st, "c", c_values, 2))
        return 1;
    float f = 0;
    TEST_CHECK(wgml_safetensors_tensor_read_f32(st, s, &f, 1) == WGML_OK && f == 42.0f, "scalar");
    TEST_CHECK(wgml_safetensors_tensor_read_f32(st, e, NULL, 0) == WGML_OK, "empty tensor");
    float small[5];
    TEST_CHECK(wgml_safetensors_tensor_read_f32(st, a, small, 5) == WGML_ERR_INVALID_ARGUMENT,
               "read_f32 into 5 floats of 6");
    TEST_CHECK(wgml_safetensors_tensor_read_f32(st, ids, small, 5) == WGML_ERR_UNSUPPORTED &&
               strstr(wgml_safetensors_last_error(st), "I64"), "read_f32 of I64: %s",
               wgml_safetensors_last_error(st));

    // Raw bytes: whole tensor, a slice, and ranges outside the tensor.
    unsigned char raw[24];
    TEST_CHECK(wgml_safetensors_tensor_read(st, ids, 0, raw, 24) == WGML_OK, "raw read of ids");
    for (int i = 0; i < 3; i++) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--) v = v << 8 | raw[8 * i + k];
        TEST_CHECK((int64_t)v == id_values[i], "ids[%d] = %lld", i, (long long)v);
    }
    TEST_CHECK(wgml_safetensors_tensor_read(st, a, 4, raw, 8) == WGML_OK &&
               !memcmp(raw, b->p + 8 + header_len + OFF_A + 4, 8), "slice of a");
    TEST_CHECK(wgml_safetensors_tensor_read(st, a, 20, raw, 8) == WGML_ERR_INVALID_ARGUMENT &&
               strstr(wgml_safetensors_last_error(st), "outside tensor \"a\""), "read past a: %s",
               wgml_safetensors_last_error(st));
    TEST_CHECK(wgml_safetensors_tensor_read(st, a, UINT64_MAX, raw, 1) == WGML_ERR_INVALID_ARGUMENT,
               "read at UINT64_MAX");
    TEST_CHECK(wgml_safetensors_tensor_read(st, a, 24, raw, 0) == WGML_OK, "empty read at the end");
    wgml_safetensors_tensor forged = *a;
    TEST_CHECK(wgml_safetensors_tensor_read(st, &forged, 0, raw, 4) == WGML_ERR_INVALID_ARGUMENT,
               "a record that is not the handle's");

    // Direct pointers exist exactly for mapped and memory sources.
    const unsigned char *direct = wgml_safetensors_tensor_data(st, a);
    if (src == SRC_READER) {
        TEST_CHECK(direct == NULL, "direct pointer from a read-at source");
    } else {
        TEST_CHECK(direct && !memcmp(direct, b->p + 8 + header_len + OFF_A, 24), "direct bytes");
        if (src == SRC_MEMORY) TEST_CHECK(direct == b->p + 8 + header_len + OFF_A, "not in place");
    }

    // Metadata, including an escaped value.
    size_t len = 0;
    const char *key, *value;
    TEST_CHECK(wgml_safetensors_metadata_count(st) == 2, "metadata count");
    TEST_CHECK(!strcmp(wgml_safetensors_metadata_get(st, "format", &len), "pt") && len == 2,
               "metadata format");
    TEST_CHECK(!strcmp(wgml_safetensors_metadata_get(st, "note", NULL), "h\xc3\xa9"), "note");
    TEST_CHECK(wgml_safetensors_metadata_get(st, "missing", NULL) == NULL, "missing metadata");
    TEST_CHECK(wgml_safetensors_metadata_at(st, 1, &key, &value, &len) && !strcmp(key, "note") &&
               len == 3, "metadata entry 1");
    TEST_CHECK(!wgml_safetensors_metadata_at(st, 2, &key, &value, NULL), "metadata past the end");
    return 0;
}

static int test_valid(void)
{
    size_t header_len;
    blob b = make_valid(&header_len);
    TEST_CHECK(b.p, "out of memory");
    for (int src = 0; src < SRC_COUNT; src++) {
        char err[512], *path;
        mem_reader rd;
        wgml_safetensors *st = NULL;
        wgml_status s = open_from(src, b, &rd, &path, &st, err, sizeof err);
        TEST_CHECK(s == WGML_OK, "open from %s: %s: %s", src_names[src], wgml_status_name(s), err);
        int r = check_valid_handle(st, src, header_len, &b);
        wgml_safetensors_close(st);
        close_temp(path);
        TEST_CHECK(r == 0, "checks through the %s source failed", src_names[src]);
        TEST_CHECK(src != SRC_READER || !rd.out_of_range, "reader asked for bytes past the end");
        printf("ok   valid file through the %s source\n", src_names[src]);
    }

    // A reader that fails after the header: open works, reads report its status.
    mem_reader rd = {.p = b.p, .size = b.n, .fail_from = 8 + header_len};
    wgml_safetensors *st = NULL;
    char err[256];
    TEST_CHECK(wgml_safetensors_open_reader(mem_read_at, &rd, b.n, &st, err, sizeof err) ==
               WGML_OK, "open with a reader failing past the header: %s", err);
    float f[8];
    wgml_status s = wgml_safetensors_tensor_read_f32(st, wgml_safetensors_tensor_find(st, "a"), f, 8);
    TEST_CHECK(s == WGML_ERR_DEVICE_LOST && strstr(wgml_safetensors_last_error(st), "\"a\""),
               "failing reader: %s: %s", wgml_status_name(s), wgml_safetensors_last_error(st));
    wgml_safetensors_close(st);
    rd.fail_from = 4;
    s = wgml_safetensors_open_reader(mem_read_at, &rd, b.n, &st, err, sizeof err);
    TEST_CHECK(s == WGML_ERR_DEVICE_LOST && st == NULL && strstr(err, "header length"),
               "reader failing at once: %s: %s", wgml_status_name(s), err);
    free(b.p);

    // No tensors at all: an empty object, or only metadata, and no data.
    const char *empties[] = {"{}", "{\"__metadata__\":{}}  ", " { } "};
    for (size_t i = 0; i < 3; i++) {
        blob e = make_file(empties[i], strlen(empties[i]), -1, NULL, 0);
        s = wgml_safetensors_open_memory(e.p, e.n, &st, err, sizeof err);
        TEST_CHECK(s == WGML_OK && wgml_safetensors_count(st) == 0, "%s: %s", empties[i], err);
        wgml_safetensors_close(st);
        free(e.p);
    }

    // Every dtype name and size, and nothing outside the enum.
    const char *names[] = {"F32", "F16", "BF16", "F64", "I64", "U64", "I32", "U32",
                           "I16", "U16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"};
    const size_t sizes[] = {4, 2, 2, 8, 8, 8, 4, 4, 2, 2, 1, 1, 1, 1, 1};
    for (int d = 0; d < WGML_ST_DTYPE_COUNT; d++) {
        TEST_CHECK(!strcmp(wgml_safetensors_dtype_name((wgml_safetensors_dtype)d), names[d]) &&
                   wgml_safetensors_dtype_size((wgml_safetensors_dtype)d) == sizes[d], "dtype %d", d);
        // And each opens: a one-element tensor of that dtype.
        char h[160];
        int n = snprintf(h, sizeof h, "{\"t\":{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":[0,%zu]}}",
                         names[d], sizes[d]);
        blob one = make_file(h, (size_t)n, -1, NULL, sizes[d]);
        s = wgml_safetensors_open_memory(one.p, one.n, &st, err, sizeof err);
        TEST_CHECK(s == WGML_OK && wgml_safetensors_tensor_at(st, 0)->dtype == (wgml_safetensors_dtype)d,
                   "dtype %s: %s", names[d], err);
        wgml_safetensors_close(st);
        free(one.p);
    }
    TEST_CHECK(!wgml_safetensors_dtype_name(WGML_ST_DTYPE_COUNT) &&
               !wgml_safetensors_dtype_size((wgml_safetensors_dtype)-1), "dtype outside the enum");

    // Arguments.
    TEST_CHECK(wgml_safetensors_open_memory(NULL, 8, &st, err, sizeof err) ==
               WGML_ERR_INVALID_ARGUMENT, "NULL data");
    TEST_CHECK(wgml_safetensors_open_reader(NULL, NULL, 8, &st, err, sizeof err) ==
               WGML_ERR_INVALID_ARGUMENT, "NULL reader");
    s = wgml_safetensors_open_file("/nonexistent/wgml.safetensors", &st, err, sizeof err);
    TEST_CHECK(s == WGML_ERR_INVALID_ARGUMENT && strstr(err, "/nonexistent/wgml.safetensors"),
               "missing file: %s", err);
    s = wgml_safetensors_open_file("/", &st, err, sizeof err);
    TEST_CHECK(s == WGML_ERR_INVALID_ARGUMENT && strstr(err, "not a regular file"), "dir: %s", err);
    wgml_safetensors_close(NULL);
    printf("ok   failing readers, empty files, dtypes, arguments\n");
    return 0;
}

// ---------------------------------------------------------------- bad files

#define TENSOR(name, dtype, shape, offsets) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static const struct bad_case {
    const char *header;
    int64_t len_field;   // < 0: the header's real length
    size_t data_len;
    const char *expect;  // in the message
} bad_cases[] = {
    // The length field.
    {"{}", 100000001, 0, "header too large"},
    {"{}", INT64_MAX, 0, "header too large"},
    {"{}", 3, 0, "runs past the end of the file"},
    {"{}    ", 1000, 0, "header length 1000 runs past the end"},
    // The header as JSON.
    {"", -1, 0, "not valid JSON at header offset 0: unexpected end"},
    {"hello", -1, 0, "not valid JSON"},
    {"{\"a\":1", -1, 0, "not valid JSON"},
    {"{} x", -1, 0, "not valid JSON at header offset 3: trailing"},
    {"{\"\xff\":{}}", -1, 0, "invalid UTF-8"},
    {"{\"w\xc3\":{}}", -1, 0, "invalid UTF-8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\xc3\xa9", -1, 4,
     "not valid JSON"},
    {"[1,2]", -1, 0, "header is not a JSON object"},
    {"\"tensors\"", -1, 0, "header is not a JSON object"},
    // One tensor's info.
    {"{\"w\":5}", -1, 0, "tensor \"w\": info is not an object"},
    {"{" TENSOR("w", "F33", "[1]", "[0,4]") "}", -1, 4, "tensor \"w\": unknown dtype \"F33\""},
    {"{" TENSOR("w", "f32", "[1]", "[0,4]") "}", -1, 4, "unknown dtype \"f32\""},
    {"{" TENSOR("w", "F4", "[2]", "[0,1]") "}", -1, 1, "unknown dtype \"F4\""},
    {"{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, "dtype is not a string"},
    {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, "tensor \"w\": missing dtype"},
    {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", -1, 4, "tensor \"w\": missing shape"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", -1, 4, "tensor \"w\": missing data_offsets"},
    {"{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4,
     "tensor \"w\": \"dtype\" repeated"},
    {"{" TENSOR("w", "F32", "4", "[0,16]") "}", -1, 16, "shape is not an array"},
    {"{" TENSOR("w", "F32", "[-1]", "[0,4]") "}", -1, 4, "tensor \"w\": shape[0] is not a non-negative"},
    {"{" TENSOR("w", "F32", "[2,1.5]", "[0,12]") "}", -1, 12, "shape[1] is not a non-negative"},
    {"{" TENSOR("w", "F32", "[2,1e0]", "[0,8]") "}", -1, 8, "shape[1] is not a non-negative"},
    {"{" TENSOR("w", "F32", "[\"2\"]", "[0,8]") "}", -1, 8, "shape[0] is not a non-negative"},
    {"{" TENSOR("w", "F32", "[99999999999999999999]", "[0,4]") "}", -1, 4, "shape[0] is not"},
    {"{" TENSOR("w", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", -1, 4,
     "tensor \"w\": shape has 9 dims, more than 8"},
    {"{" TENSOR("w", "F32", "[4294967296,4294967296]", "[0,4]") "}", -1, 4,
     "tensor \"w\": shape product overflows"},
    {"{" TENSOR("w", "F32", "[4611686018427387904]", "[0,4]") "}", -1, 4,
     "tensor \"w\": byte size of the shape overflows"},
    {"{" TENSOR("w", "F32", "[3]", "[0,8]") "}", -1, 8, "tensor \"w\": size mismatch"},
    {"{" TENSOR("w", "F16", "[2,2]", "[0,16]") "}", -1, 16, "size mismatch: data_offsets span 16"},
    {"{" TENSOR("w", "F32", "[0]", "[0,4]") "}", -1, 4, "size mismatch"},
    {"{" TENSOR("w", "F32", "[1]", "[8,4]") "}", -1, 8, "tensor \"w\": data_offsets begin 8 > end 4"},
    {"{" TENSOR("w", "F32", "[1]", "[0,4.0]") "}", -1, 4, "data_offsets are not non-negative integers"},
    {"{" TENSOR("w", "F32", "[1]", "[\"0\",4]") "}", -1, 4, "data_offsets are not non-negative"},
    {"{" TENSOR("w", "F32", "[1]", "[-4,0]") "}", -1, 4, "data_offsets are not non-negative"},
    {"{" TENSOR("w", "F32", "[1]", "[0,4,8]") "}", -1, 4, "data_offsets is not [begin, end]"},
    {"{" TENSOR("w", "F32", "[1]", "{}") "}", -1, 4, "data_offsets is not [begin, end]"},
    {"{" TENSOR("w\\u0000x", "F32", "[1]", "[0,4]") "}", -1, 4, "name contains U+0000"},
    // Tensors together.
    {"{" TENSOR("w", "F32", "[1]", "[0,4]") "," TENSOR("w", "F32", "[1]", "[4,8]") "}", -1, 8,
     "duplicate tensor name \"w\""},
    {"{" TENSOR("a", "F32", "[2]", "[0,8]") "," TENSOR("b", "F32", "[2]", "[4,12]") "}", -1, 12,
     "tensors \"a\" and \"b\" overlap"},
    {"{" TENSOR("a", "F32", "[2]", "[0,8]") "," TENSOR("b", "F32", "[2]", "[0,8]") "}", -1, 8,
     "overlap"},
    {"{" TENSOR("a", "F32", "[1]", "[0,4]") "," TENSOR("b", "F32", "[1]", "[8,12]") "}", -1, 12,
     "gap of 4 bytes in the data section before tensor \"b\""},
    {"{" TENSOR("b", "F32", "[1]", "[4,8]") "}", -1, 8, "gap of 4 bytes"},
    {"{" TENSOR("a", "F32", "[1]", "[0,4]") "}", -1, 8, "trailing bytes"},
    {"{}", -1, 1, "trailing bytes"},
    {"{" TENSOR("a", "F32", "[2]", "[0,8]") "}", -1, 4, "tensor \"a\" ends at byte 8, past the end"},
    {"{" TENSOR("a", "F32", "[2305843009213693951]", "[0,9223372036854775804]") "}", -1, 4,
     "past the end"},
    // Metadata.
    {"{\"__metadata__\":[]}", -1, 0, "__metadata__ is not an object"},
    {"{\"__metadata__\":{\"k\":1}}", -1, 0, "__metadata__ value of \"k\" is not a string"},
    {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", -1, 0, "__metadata__ key \"k\" repeated"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", -1, 0, "__metadata__ repeated"},
};

static int test_bad(void)
{
    size_t n = sizeof bad_cases / sizeof bad_cases[0];
    for (size_t k = 0; k < n; k++) {
        const struct bad_case *c = &bad_cases[k];
        blob b = make_file(c->header, strlen(c->header), c->len_field, NULL, c->data_len);
        TEST_CHECK(b.p, "out of memory");
        for (int src = 0; src < SRC_COUNT; src++) {
            char err[512] = "", *path;
            mem_reader rd = {0};
            wgml_safetensors *st = (wgml_safetensors *)&rd;   // must be cleared
            wgml_status s = open_from(src, b, &rd, &path, &st, err, sizeof err);
            close_temp(path);
            TEST_CHECK(s == WGML_ERR_BAD_FILE && st == NULL,
                       "case %zu (%s) through %s: %s: %s", k, c->expect, src_names[src],
                       wgml_status_name(s), err);
            TEST_CHECK(strstr(err, c->expect), "case %zu through %s: message \"%s\" lacks \"%s\"",
                       k, src_names[src], err, c->expect);
            TEST_CHECK(!rd.out_of_range, "case %zu: reader asked for bytes past the end", k);
            if (src == SRC_MEMORY) printf("     %2zu: %s\n", k, err);
        }
        free(b.p);
    }
    // Files too short to hold the length field.
    for (size_t len = 0; len < 8; len++) {
        blob b = {calloc(1, 8), len};
        TEST_CHECK(b.p, "out of memory");
        for (int src = 0; src < SRC_COUNT; src++) {
            char err[512] = "", *path;
            mem_reader rd = {0};
            wgml_safetensors *st = NULL;
            wgml_status s = open_from(src, b, &rd, &path, &st, err, sizeof err);
            close_temp(path);
            TEST_CHECK(s == WGML_ERR_BAD_FILE && strstr(err, "shorter than the 8-byte header length"),
                       "%zu-byte file through %s: %s: %s", len, src_names[src],
                       wgml_status_name(s), err);
        }
        free(b.p);
    }
    printf("ok   %zu bad files and 8 short files rejected through all three sources\n", n);
    return 0;
}

// ---------------------------------------------------------------- the real model

// Neumaier's compensated sum: close to exact, like numpy's pairwise sum, so
// the comparison can be tight.
typedef struct exact_sum {
    double s, c;
} exact_sum;

static void exact_add(exact_sum *a, double x)
{
    double t = a->s + x;
    a->c += fabs(a->s) >= fabs(x) ? (a->s - t) + x : (x - t) + a->s;
    a->s = t;
}

typedef struct file_reader {
    int fd;
} file_reader;

static wgml_status file_read_at(void *user, uint64_t off, void *dst, size_t n)
{
    file_reader *r = user;
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(r->fd, (char *)dst + done, n - done, (off_t)(off + done));
        if (got <= 0) return WGML_ERR_BAD_FILE;
        done += (size_t)got;
    }
    return WGML_OK;
}

// Checks the handle against every record of the expected file.
static int check_model(wgml_safetensors *st, FILE *expect, uint64_t file_size)
{
    rewind(expect);
    char line[1024];
    size_t tensors = 0, values = 0;
    float *buf = NULL;
    const wgml_safetensors_tensor *cur = NULL;
    while (fgets(line, sizeof line, expect)) {
        char kind[16], name[256], dtype[16];
        if (sscanf(line, "%15s", kind) != 1) continue;
        if (!strcmp(kind, "file")) {
            unsigned long long size;
            TEST_CHECK(sscanf(line, "file %llu", &size) == 1 && size == file_size,
                       "the model file is not the one the expected values came from");
        } else if (!strcmp(kind, "metadata")) {
            char key[64], value[256];
            TEST_CHECK(sscanf(line, "metadata %63s %255s", key, value) == 2, "bad line %s", line);
            const char *got = wgml_safetensors_metadata_get(st, key, NULL);
            TEST_CHECK(got && !strcmp(got, value), "metadata %s = %s, expected %s", key,
                       got ? got : "(none)", value);
        } else if (!strcmp(kind, "tensor")) {
            int pos, nd;
            TEST_CHECK(sscanf(line, "tensor %255s %15s %d%n", name, dtype, &nd, &pos) == 3 &&
                       nd >= 0 && nd <= 8, "bad line %s", line);
            cur = wgml_safetensors_tensor_find(st, name);
            TEST_CHECK(cur, "tensor %s missing", name);
            TEST_CHECK(!strcmp(wgml_safetensors_dtype_name(cur->dtype), dtype), "%s is %s, not %s",
                       name, wgml_safetensors_dtype_name(cur->dtype), dtype);
            TEST_CHECK(cur->n_dims == (uint32_t)nd, "%s has %u dims, expected %d", name,
                       cur->n_dims, nd);
            const char *p = line + pos;
            for (int d = 0; d < nd; d++) {
                char *end;
                unsigned long long v = strtoull(p, &end, 10);
                TEST_CHECK(end != p && v == cur->shape[d], "%s dim %d is %llu, expected %llu",
                           name, d, (unsigned long long)cur->shape[d], v);
                p = end;
            }
            char *end;
            double sum = strtod(p, &end), sum_abs = strtod(end, NULL);
            // Sum every element in double, from the loader's reading.
            exact_sum acc = {0, 0}, acc_abs = {0, 0};
            free(buf);
            buf = malloc((size_t)(cur->n_elements ? cur->n_elements : 1) * sizeof *buf);
            TEST_CHECK(buf, "out of memory");
            if (cur->dtype == WGML_ST_I64) {
                for (uint64_t i = 0; i < cur->n_elements; i++) {
                    unsigned char b8[8];
                    TEST_CHECK(wgml_safetensors_tensor_read(st, cur, i * 8, b8, 8) == WGML_OK,
                               "read %s", name);
                    uint64_t v = 0;
                    for (int k = 7; k >= 0; k--) v = v << 8 | b8[k];
                    exact_add(&acc, (double)(int64_t)v);
                    exact_add(&acc_abs, fabs((double)(int64_t)v));
                }
            } else {
                TEST_CHECK(wgml_safetensors_tensor_read_f32(st, cur, buf, (size_t)cur->n_elements) ==
                           WGML_OK, "read_f32 %s: %s", name, wgml_safetensors_last_error(st));
                for (uint64_t i = 0; i < cur->n_elements; i++) {
                    exact_add(&acc, buf[i]);
                    exact_add(&acc_abs, fabs(buf[i]));
                }
            }
            double got = acc.s + acc.c, got_abs = acc_abs.s + acc_abs.c;
            double tol = 1e-12 * sum_abs + 1e-15;
            TEST_CHECK(fabs(got - sum) <= tol && fabs(got_abs - sum_abs) <= tol,
                       "%s: sum %.17g / %.17g, expected %.17g / %.17g", name, got, got_abs, sum,
                       sum_abs);
            tensors++;
        } else if (!strcmp(kind, "value")) {
            unsigned long long idx;
            char text[64];
            TEST_CHECK(cur && sscanf(line, "value %255s %llu %63s", name, &idx, text) == 3 &&
                       !strcmp(name, cur->name) && idx < cur->n_elements, "bad line %s", line);
            if (cur->dtype == WGML_ST_I64) {
                unsigned char b8[8];
                TEST_CHECK(wgml_safetensors_tensor_read(st, cur, idx * 8, b8, 8) == WGML_OK, "read");
                uint64_t v = 0;
                for (int k = 7; k >= 0; k--) v = v << 8 | b8[k];
                TEST_CHECK((int64_t)v == strtoll(text, NULL, 10), "%s[%llu] = %lld, expected %s",
                           name, idx, (long long)v, text);
            } else {
                float want = (float)strtod(text, NULL);
                TEST_CHECK(buf[idx] == want, "%s[%llu] = %.9g, expected %s", name, idx, buf[idx],
                           text);
            }
            values++;
        }
    }
    free(buf);
    TEST_CHECK(tensors > 100 && tensors == wgml_safetensors_count(st),
               "%zu tensors expected, the file has %zu", tensors, wgml_safetensors_count(st));
    printf("     %zu tensors (dtype, shape, sums) and %zu values match\n", tensors, values);
    return 0;
}

static int test_model(const char *model, const char *expected)
{
    if (!model || access(model, R_OK) != 0) {
        printf("skip: no model at %s (scripts/setup.sh installs it)\n", model ? model : "(none)");
        return TEST_SKIP;
    }
    FILE *expect = expected ? fopen(expected, "r") : NULL;
    TEST_CHECK(expect, "cannot open the expected values %s", expected ? expected : "(none)");
    char err[512];
    wgml_safetensors *st = NULL;
    wgml_status s = wgml_safetensors_open_file(model, &st, err, sizeof err);
    TEST_CHECK(s == WGML_OK, "open %s: %s", model, err);

    // The facts the BERT loader will rely on.
    const wgml_safetensors_tensor *w =
        wgml_safetensors_tensor_find(st, "embeddings.word_embeddings.weight");
    TEST_CHECK(w && w->dtype == WGML_ST_F32 && w->n_dims == 2 && w->shape[0] == 30522 &&
               w->shape[1] == 384, "embeddings.word_embeddings.weight is not F32 [30522, 384]");
    const wgml_safetensors_tensor *last = wgml_safetensors_tensor_at(st, 0);
    for (size_t i = 0; i < wgml_safetensors_count(st); i++) {
        const wgml_safetensors_tensor *t = wgml_safetensors_tensor_at(st, i);
        if (t->file_offset + t->size > last->file_offset + last->size) last = t;
    }
    uint64_t file_size = last->file_offset + last->size;   // tiling: the data ends the file

    int r = check_model(st, expect, file_size);
    printf("%s   model through the mapped file\n", r ? "FAIL" : "ok");
    wgml_safetensors_close(st);
    if (r) {
        fclose(expect);
        return 1;
    }

    // The same through a read-at callback over the file (the browser's path).
    file_reader fr = {open(model, O_RDONLY)};
    TEST_CHECK(fr.fd >= 0, "reopen %s", model);
    off_t size = lseek(fr.fd, 0, SEEK_END);
    TEST_CHECK(size > 0 && (uint64_t)size == file_size, "file size %lld, tensors end at %llu",
               (long long)size, (unsigned long long)file_size);
    s = wgml_safetensors_open_reader(file_read_at, &fr, (uint64_t)size, &st, err, sizeof err);
    TEST_CHECK(s == WGML_OK, "open through a reader: %s", err);
    r = check_model(st, expect, (uint64_t)size);
    printf("%s   model through the read-at callback\n", r ? "FAIL" : "ok");
    wgml_safetensors_close(st);
    close(fr.fd);
    fclose(expect);
    return r;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    if (!strcmp(which, "valid")) return test_valid();
    if (!strcmp(which, "bad")) return test_bad();
    if (!strcmp(which, "model")) return test_model(argc > 2 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL);
    fprintf(stderr, "usage: test_safetensors valid|bad|model MODEL EXPECTED\n");
    return 1;
}
