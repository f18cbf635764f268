// The strict JSON reader: valid documents decode to the values RFC 8259 gives
// them, numbers match strtod bit for bit, and every malformed document is
// rejected with WGML_ERR_BAD_FILE and the byte offset of the fault.
#include "formats/json.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static wgml_json_doc *parse_ok(const char *text, size_t len, const wgml_json_options *opt)
{
    char err[256];
    wgml_json_doc *doc = NULL;
    wgml_status st = wgml_json_parse(text, len, opt, &doc, err, sizeof err);
    if (st != WGML_OK) {
        fprintf(stderr, "parse of %.60s failed: %s: %s\n", text, wgml_status_name(st), err);
        return NULL;
    }
    return doc;
}

#define PARSE(doc, text)                                                       \
    wgml_json_doc *doc = parse_ok((text), strlen(text), NULL);                 \
    TEST_CHECK(doc, "valid document rejected")

static bool str_is(const wgml_json *v, const char *bytes, size_t n)
{
    size_t len = 0;
    const char *s = wgml_json_string(v, &len);
    return s && len == n && memcmp(s, bytes, n) == 0 && s[n] == '\0';
}

// ---------------------------------------------------------------- valid

static int test_structure(void)
{
    const char *text =
        " {\"a\": [1, 2.5, -3e2, true, false, null, \"x\"],\n"
        "  \"nested\": {\"deeper\": {\"list\": [[], {}, [[]], {\"k\": []}]}},\n"
        "  \"empty_obj\": {}, \"empty_arr\": [], \"empty_str\": \"\"}\t\r\n";
    PARSE(doc, text);
    const wgml_json *r = wgml_json_root(doc);
    TEST_CHECK(wgml_json_type_of(r) == WGML_JSON_OBJECT, "root is not an object");
    TEST_CHECK(wgml_json_count(r) == 5, "root has %zu members", wgml_json_count(r));
    size_t klen;
    TEST_CHECK(!strcmp(wgml_json_key_at(r, 0, &klen), "a") && klen == 1, "key 0");
    TEST_CHECK(!strcmp(wgml_json_key_at(r, 4, NULL), "empty_str"), "key order not kept");
    TEST_CHECK(wgml_json_key_at(r, 5, NULL) == NULL, "key past the end");

    const wgml_json *a = wgml_json_get(r, "a");
    TEST_CHECK(wgml_json_type_of(a) == WGML_JSON_ARRAY && wgml_json_count(a) == 7, "array a");
    int64_t i;
    double d;
    bool b;
    TEST_CHECK(wgml_json_int64(wgml_json_at(a, 0), &i) && i == 1, "a[0]");
    TEST_CHECK(wgml_json_number(wgml_json_at(a, 1), &d) && d == 2.5, "a[1]");
    TEST_CHECK(!wgml_json_int64(wgml_json_at(a, 1), &i), "2.5 read as an integer");
    TEST_CHECK(wgml_json_number(wgml_json_at(a, 2), &d) && d == -300.0, "a[2]");
    TEST_CHECK(!wgml_json_int64(wgml_json_at(a, 2), &i), "-3e2 read as an integer");
    TEST_CHECK(wgml_json_bool(wgml_json_at(a, 3), &b) && b, "a[3]");
    TEST_CHECK(wgml_json_bool(wgml_json_at(a, 4), &b) && !b, "a[4]");
    TEST_CHECK(wgml_json_type_of(wgml_json_at(a, 5)) == WGML_JSON_NULL, "a[5]");
    TEST_CHECK(str_is(wgml_json_at(a, 6), "x", 1), "a[6]");
    TEST_CHECK(wgml_json_at(a, 7) == NULL, "element past the end");
    TEST_CHECK(!wgml_json_bool(wgml_json_at(a, 0), &b) && !wgml_json_string(wgml_json_at(a, 0), NULL),
               "accessor of another type succeeded");

    const wgml_json *list =
        wgml_json_get(wgml_json_get(wgml_json_get(r, "nested"), "deeper"), "list");
    TEST_CHECK(wgml_json_count(list) == 4, "nested list");
    TEST_CHECK(wgml_json_type_of(wgml_json_at(list, 0)) == WGML_JSON_ARRAY &&
               wgml_json_count(wgml_json_at(list, 0)) == 0, "[]");
    TEST_CHECK(wgml_json_type_of(wgml_json_at(list, 1)) == WGML_JSON_OBJECT &&
               wgml_json_count(wgml_json_at(list, 1)) == 0, "{}");
    TEST_CHECK(wgml_json_count(wgml_json_at(wgml_json_at(list, 2), 0)) == 0, "[[]]");
    TEST_CHECK(wgml_json_count(wgml_json_get(wgml_json_at(list, 3), "k")) == 0, "{\"k\":[]}");
    TEST_CHECK(wgml_json_count(wgml_json_get(r, "empty_obj")) == 0, "empty object");
    TEST_CHECK(wgml_json_type_of(wgml_json_get(r, "empty_arr")) == WGML_JSON_ARRAY, "empty array");
    TEST_CHECK(str_is(wgml_json_get(r, "empty_str"), "", 0), "empty string");
    TEST_CHECK(wgml_json_get(r, "missing") == NULL && wgml_json_get(a, "a") == NULL,
               "get of a missing key or on an array");
    wgml_json_free(doc);

    // Scalars are documents too (RFC 8259 section 2).
    const char *scalars[] = {"0", "-0", "\"s\"", "true", "false", "null", " 1 "};
    for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++) {
        PARSE(sd, scalars[k]);
        wgml_json_free(sd);
    }
    printf("ok   structure, empty containers, scalars\n");
    return 0;
}

static int test_strings(void)
{
    // Every escape, \u in BMP, a surrogate pair, raw multi-byte UTF-8, U+0000.
    const char *text =
        "[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\", \"\\u0041\\u00e9\\u20AC\", \"\\ud83d\\ude00\","
        " \"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\", \"a\\u0000b\","
        " \"\x7f\", \"\\uDBFF\\uDFFF\"]";
    PARSE(doc, text);
    const wgml_json *r = wgml_json_root(doc);
    TEST_CHECK(str_is(wgml_json_at(r, 0), "\" \\ / \b \f \n \r \t", 15), "simple escapes");
    TEST_CHECK(str_is(wgml_json_at(r, 1), "A\xc3\xa9\xe2\x82\xac", 6), "\\u escapes");
    TEST_CHECK(str_is(wgml_json_at(r, 2), "\xf0\x9f\x98\x80", 4), "surrogate pair");
    TEST_CHECK(str_is(wgml_json_at(r, 3), "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
                      17), "raw UTF-8");
    TEST_CHECK(str_is(wgml_json_at(r, 4), "a\0b", 3), "embedded U+0000");
    TEST_CHECK(str_is(wgml_json_at(r, 5), "\x7f", 1), "DEL is allowed raw");
    TEST_CHECK(str_is(wgml_json_at(r, 6), "\xf4\x8f\xbf\xbf", 4), "U+10FFFF by escapes");
    wgml_json_free(doc);

    // Keys are decoded the same way and found by their decoded text.
    PARSE(kd, "{\"caf\\u00e9\": 1, \"caf\xc3\xa9\": 2, \"a\\nb\": 3}");
    int64_t i;
    TEST_CHECK(wgml_json_int64(wgml_json_get(wgml_json_root(kd), "caf\xc3\xa9"), &i) && i == 1,
               "escaped key (first of a repeated key)");
    TEST_CHECK(wgml_json_int64(wgml_json_get(wgml_json_root(kd), "a\nb"), &i) && i == 3,
               "key with an escape");
    wgml_json_free(kd);
    printf("ok   strings: escapes, surrogate pairs, UTF-8, U+0000\n");
    return 0;
}

static int test_integers(void)
{
    struct { const char *text; int64_t value; } ok[] = {
        {"0", 0}, {"-0", 0}, {"7", 7}, {"-7", -7},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"9223372036854775806", INT64_MAX - 1},
        {"-9223372036854775807", INT64_MIN + 1},
        {"4294967296", 4294967296LL},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        PARSE(doc, ok[k].text);
        int64_t i = 0;
        double d = 0;
        TEST_CHECK(wgml_json_int64(wgml_json_root(doc), &i) && i == ok[k].value,
                   "%s read as %lld", ok[k].text, (long long)i);
        TEST_CHECK(wgml_json_number(wgml_json_root(doc), &d) && d == strtod(ok[k].text, NULL),
                   "%s as a double", ok[k].text);
        wgml_json_free(doc);
    }
    // Past int64 (or written with a fraction/exponent): a number, not an integer.
    const char *big[] = {"9223372036854775808", "-9223372036854775809",
                         "18446744073709551616", "123456789012345678901234567890",
                         "1.0", "1e2", "-0.0"};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        PARSE(doc, big[k]);
        int64_t i;
        double d;
        TEST_CHECK(!wgml_json_int64(wgml_json_root(doc), &i), "%s read as int64 %lld", big[k],
                   (long long)i);
        TEST_CHECK(wgml_json_number(wgml_json_root(doc), &d) && d == strtod(big[k], NULL),
                   "%s as a double", big[k]);
        wgml_json_free(doc);
    }
    printf("ok   integers: exact int64 bounds, big integers as doubles\n");
    return 0;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

// Every number must equal strtod's reading of the same text, bit for bit.
static int test_numbers_vs_strtod(void)
{
    const char *fixed[] = {
        "0.1", "1e-7", "1E+7", "2.2250738585072014e-308", "4.9e-324", "1e-400", "-1e-400",
        "1.7976931348623157e308", "0.30000000000000004", "123456789.123456789e-5",
        "3.141592653589793238462643383279502884197", "1e0", "0e0", "-0.000", "5e-324",
        "9007199254740993", "1.00000000000000011102230246251565404236316680908203125",
        "0.0000000000000000000000000000000000000000001e+43",
    };
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char buf[96];
    size_t checked = 0;
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0] + 2000; k++) {
        const char *text;
        if (k < sizeof fixed / sizeof fixed[0]) {
            text = fixed[k];
        } else {
            // Random mantissa digits, optional fraction and exponent.
            uint64_t r = rng_next(&seed);
            int n = 0;
            if (r & 1) buf[n++] = '-';
            int digits = 1 + (int)(rng_next(&seed) % 19);
            buf[n++] = (char)('1' + rng_next(&seed) % 9);
            for (int j = 1; j < digits; j++) buf[n++] = (char)('0' + rng_next(&seed) % 10);
            if (r & 2) {
                buf[n++] = '.';
                int frac = 1 + (int)(rng_next(&seed) % 20);
                for (int j = 0; j < frac; j++) buf[n++] = (char)('0' + rng_next(&seed) % 10);
            }
            if (r & 4) n += snprintf(buf + n, sizeof buf - (size_t)n, "e%d",
                                     (int)(rng_next(&seed) % 600) - 320);
            buf[n] = '\0';
            text = buf;
        }
        PARSE(doc, text);
        double d, ref = strtod(text, NULL);
        TEST_CHECK(wgml_json_number(wgml_json_root(doc), &d), "%s is not a number", text);
        TEST_CHECK(memcmp(&d, &ref, sizeof d) == 0, "%s parsed as %.17g, strtod gives %.17g",
                   text, d, ref);
        wgml_json_free(doc);
        checked++;
    }
    printf("ok   %zu numbers equal strtod bit for bit\n", checked);
    return 0;
}

static int test_duplicates(void)
{
    // Allowed by default (the first wins), rejected when asked, also in big objects.
    const char *text = "{\"a\": 1, \"b\": 2, \"a\": 3}";
    PARSE(doc, text);
    int64_t i;
    TEST_CHECK(wgml_json_int64(wgml_json_get(wgml_json_root(doc), "a"), &i) && i == 1,
               "first of a repeated key");
    TEST_CHECK(wgml_json_count(wgml_json_root(doc)) == 3, "repeated member dropped");
    wgml_json_free(doc);

    wgml_json_options strict = {.reject_duplicate_keys = true};
    char err[256];
    wgml_json_doc *d2 = NULL;
    wgml_status st = wgml_json_parse(text, strlen(text), &strict, &d2, err, sizeof err);
    TEST_CHECK(st == WGML_ERR_BAD_FILE && d2 == NULL, "duplicate key accepted");
    TEST_CHECK(strstr(err, "offset 17:") && strstr(err, "duplicate key \"a\""), "message: %s", err);

    // 1000 distinct keys pass; adding a repeat of key 500 fails at its offset.
    size_t cap = 1000 * 24 + 64, n = 0;
    char *big = malloc(cap);
    TEST_CHECK(big, "out of memory");
    big[n++] = '{';
    for (int k = 0; k < 1000; k++)
        n += (size_t)snprintf(big + n, cap - n, "%s\"key%d\": %d", k ? ", " : "", k, k);
    size_t before_close = n;
    big[n++] = '}';
    wgml_json_doc *d3 = parse_ok(big, n, &strict);
    TEST_CHECK(d3 && wgml_json_count(wgml_json_root(d3)) == 1000, "1000 distinct keys");
    TEST_CHECK(wgml_json_int64(wgml_json_get(wgml_json_root(d3), "key999"), &i) && i == 999,
               "last key of a big object");
    wgml_json_free(d3);
    n = before_close;
    n += (size_t)snprintf(big + n, cap - n, ", \"key500\": 0}");
    st = wgml_json_parse(big, n, &strict, &d3, err, sizeof err);
    char expect[64];
    snprintf(expect, sizeof expect, "offset %zu:", before_close + 2);
    TEST_CHECK(st == WGML_ERR_BAD_FILE && strstr(err, expect) && strstr(err, "key500"),
               "big duplicate: %s", err);
    free(big);
    printf("ok   duplicate keys: kept by default, rejected when asked\n");
    return 0;
}

// ---------------------------------------------------------------- invalid

static int test_invalid(void)
{
    struct { const char *text; size_t len; size_t offset; const char *what; } bad[] = {
#define B(t, off, what) {t, sizeof(t) - 1, off, what}
        B("", 0, "end of input"),
        B("   ", 3, "end of input"),
        B("[1, 2", 5, "unclosed array"),
        B("{\"a\": 1", 7, "unclosed object"),
        B("[1,]", 3, "expected a value"),
        B("{\"a\":1,}", 7, "expected a string key"),
        B("{a: 1}", 1, "expected a string key"),
        B("{\"a\" 1}", 5, "expected ':'"),
        B("[1 2]", 3, "expected ',' or ']'"),
        B("{\"a\":1]", 6, "expected ',' or '}'"),
        B("[1] x", 4, "trailing characters"),
        B("{} {}", 3, "trailing characters"),
        B("01", 0, "leading zero"),
        B("-01", 1, "leading zero"),
        B("+1", 0, "expected a value"),
        B(".5", 0, "expected a value"),
        B("1.", 2, "after '.'"),
        B("1.e5", 2, "after '.'"),
        B("1e", 2, "exponent"),
        B("1e+", 3, "exponent"),
        B("-", 1, "expected a digit"),
        B("-a", 1, "expected a digit"),
        B("NaN", 0, "expected a value"),
        B("Infinity", 0, "expected a value"),
        B("-Infinity", 1, "expected a digit"),
        B("1e309", 0, "out of double range"),
        B("-1.8e308", 0, "out of double range"),
        B("0x10", 1, "trailing characters"),
        B("tru", 0, "invalid literal"),
        B("nul", 0, "invalid literal"),
        B("True", 0, "expected a value"),
        B("\"abc", 0, "unterminated string"),
        B("\"abc\\\"", 0, "unterminated string"),
        B("\"a\tb\"", 2, "control character"),
        B("\"a\nb\"", 2, "control character"),
        B("\"\\x\"", 1, "invalid escape"),
        B("\"\\u12\"", 1, "\\u escape"),
        B("\"\\u12G4\"", 1, "\\u escape"),
        B("\"\\uD800\"", 1, "high surrogate"),
        B("\"\\uD800x\"", 1, "high surrogate"),
        B("\"\\uD800\\u0041\"", 1, "high surrogate"),
        B("\"ab\\uDC00\"", 3, "lone low surrogate"),
        B("\"\\uDFFF\\uD800\"", 1, "lone low surrogate"),
        B("\"\xff\"", 1, "invalid UTF-8"),
        B("\"a\x80\"", 2, "invalid UTF-8"),
        B("\"\xc0\xaf\"", 1, "invalid UTF-8"),          // overlong '/'
        B("\"\xe0\x80\xaf\"", 1, "invalid UTF-8"),      // overlong, 3 bytes
        B("\"\xed\xa0\x80\"", 1, "invalid UTF-8"),      // encoded surrogate U+D800
        B("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8"),  // U+110000
        B("\"\xc3\"", 1, "invalid UTF-8"),              // cut short by the quote
        B("\"\xe2\x82\"", 1, "invalid UTF-8"),
        B("\xef\xbb\xbf{}", 0, "expected a value"),     // byte order mark
        B("[1] \x00", 4, "trailing characters"),
        B("{\"a\":1 /* c */}", 7, "expected ',' or '}'"),
        B("['a']", 1, "expected a value"),
        B("[\"a\"\xc2\xa0]", 4, "expected ',' or ']'"), // no-break space is not whitespace
#undef B
    };
    size_t n = sizeof bad / sizeof bad[0];
    for (size_t k = 0; k < n; k++) {
        char err[256] = "untouched";
        wgml_json_doc *doc = (wgml_json_doc *)&err;   // must be cleared on failure
        wgml_status st = wgml_json_parse(bad[k].text, bad[k].len, NULL, &doc, err, sizeof err);
        char expect[32];
        snprintf(expect, sizeof expect, "offset %zu: ", bad[k].offset);
        TEST_CHECK(st == WGML_ERR_BAD_FILE, "case %zu (%s) gave %s", k, bad[k].text,
                   wgml_status_name(st));
        TEST_CHECK(doc == NULL, "case %zu: out not cleared", k);
        TEST_CHECK(strncmp(err, expect, strlen(expect)) == 0 && strstr(err, bad[k].what),
                   "case %zu (%s): message \"%s\", expected \"%s...%s\"", k, bad[k].text, err,
                   expect, bad[k].what);
    }
    // A tiny error buffer truncates; a NULL one is allowed.
    char small[8];
    wgml_json_doc *doc;
    TEST_CHECK(wgml_json_parse("[", 1, NULL, &doc, small, sizeof small) == WGML_ERR_BAD_FILE &&
               !strcmp(small, "offset "), "truncated message: %s", small);
    TEST_CHECK(wgml_json_parse("[", 1, NULL, &doc, NULL, 0) == WGML_ERR_BAD_FILE, "NULL err");
    TEST_CHECK(wgml_json_parse(NULL, 1, NULL, &doc, NULL, 0) == WGML_ERR_INVALID_ARGUMENT,
               "NULL text");
    printf("ok   %zu invalid documents rejected with their offsets\n", n);
    return 0;
}

// Nesting far past the limit is an error at the first bracket too many; with
// the limit lifted, a million levels parse without using the C stack.
static int test_deep(void)
{
    size_t depth = 1000000;
    char *text = malloc(2 * depth + 1);
    TEST_CHECK(text, "out of memory");
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    char err[256];
    wgml_json_doc *doc = NULL;
    wgml_status st = wgml_json_parse(text, 2 * depth, NULL, &doc, err, sizeof err);
    TEST_CHECK(st == WGML_ERR_BAD_FILE && strstr(err, "offset 64: nesting deeper than 64"),
               "deep document: %s: %s", wgml_status_name(st), err);

    // Exactly at the limit is fine.
    wgml_json_options opt = {.max_depth = 5};
    const char *five = "[[[[{\"a\":1}]]]]", *six = "[[[[{\"a\":[]}]]]]";
    const char *six_objects = "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{}}}}}}";
    doc = parse_ok(five, strlen(five), &opt);
    TEST_CHECK(doc, "depth 5 of 5");
    wgml_json_free(doc);
    st = wgml_json_parse(six, strlen(six), &opt, &doc, err, sizeof err);
    TEST_CHECK(st == WGML_ERR_BAD_FILE && strstr(err, "offset 9: nesting"), "depth 6 of 5: %s", err);
    st = wgml_json_parse(six_objects, strlen(six_objects), &opt, &doc, err, sizeof err);
    TEST_CHECK(st == WGML_ERR_BAD_FILE && strstr(err, "nesting"), "objects 6 of 5: %s", err);

    opt.max_depth = SIZE_MAX;
    doc = parse_ok(text, 2 * depth, &opt);
    TEST_CHECK(doc, "a million levels with no limit");
    const wgml_json *v = wgml_json_root(doc);
    size_t levels = 0;
    while (wgml_json_type_of(v) == WGML_JSON_ARRAY) {
        levels++;
        v = wgml_json_at(v, 0);
    }
    TEST_CHECK(levels == depth, "walked %zu levels", levels);
    wgml_json_free(doc);
    free(text);
    printf("ok   deep nesting: limit enforced, no recursion\n");
    return 0;
}

// Input that ends anywhere inside a valid document is an error, never a read
// past the end (run under ASan to see it).
static int test_truncations(void)
{
    const char *text = "{\"k\\u00e9y\": [1.5e3, -0, \"\\ud83d\\ude00\", true, null, {\"x\": []}]}";
    size_t n = strlen(text);
    for (size_t cut = 0; cut < n; cut++) {
        char *copy = malloc(cut ? cut : 1);   // exact size, so ASan sees overreads
        TEST_CHECK(copy, "out of memory");
        memcpy(copy, text, cut);
        wgml_json_doc *doc;
        char err[128];
        wgml_status st = wgml_json_parse(copy, cut, NULL, &doc, err, sizeof err);
        free(copy);
        TEST_CHECK(st == WGML_ERR_BAD_FILE, "prefix of %zu bytes accepted", cut);
    }
    printf("ok   every prefix of a document rejected\n");
    return 0;
}

int main(void)
{
    int failed = 0, passed = 0;
    int (*tests[])(void) = {test_structure, test_strings, test_integers, test_numbers_vs_strtod,
                            test_duplicates, test_invalid, test_deep, test_truncations};
    for (size_t k = 0; k < sizeof tests / sizeof tests[0]; k++) {
        if (tests[k]()) failed++;
        else passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
