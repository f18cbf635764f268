/*
 * A small, strict JSON reader (RFC 8259) for the files wgml loads: the
 * safetensors header, tokenizer.json, config.json. Input is untrusted: depth,
 * size and every escape are checked; errors name the byte offset.
 *
 * The whole document is parsed into one arena owned by the doc; values stay
 * valid until wgml_json_free. Object members keep their file order.
 */
#ifndef WGML_JSON_H
#define WGML_JSON_H

#include "wgml.h"

typedef enum wgml_json_type {
    WGML_JSON_NULL = 0,
    WGML_JSON_BOOL,
    WGML_JSON_NUMBER,
    WGML_JSON_STRING,
    WGML_JSON_ARRAY,
    WGML_JSON_OBJECT,
} wgml_json_type;

typedef struct wgml_json wgml_json;          // one value
typedef struct wgml_json_doc wgml_json_doc;  // a parsed document

typedef struct wgml_json_options {
    size_t max_depth;             // nesting limit; 0 means 64
    bool reject_duplicate_keys;   // an object with a repeated key is an error
} wgml_json_options;

// Parses `len` bytes of UTF-8 text. Invalid UTF-8, trailing garbage, a lone
// surrogate escape, numbers outside double range and depth past the limit are
// errors: WGML_ERR_BAD_FILE with "offset N: what" in err.
wgml_status wgml_json_parse(const char *text, size_t len, const wgml_json_options *opt,
                            wgml_json_doc **out, char *err, size_t err_size);
void wgml_json_free(wgml_json_doc *doc);
const wgml_json *wgml_json_root(const wgml_json_doc *doc);

wgml_json_type wgml_json_type_of(const wgml_json *v);
// Elements of an array or members of an object; 0 for anything else.
size_t wgml_json_count(const wgml_json *v);
// Element i of an array, or the value of member i of an object; NULL past the end.
const wgml_json *wgml_json_at(const wgml_json *v, size_t i);
// Key of member i of an object (decoded, NUL-terminated; *len excludes the NUL).
const char *wgml_json_key_at(const wgml_json *v, size_t i, size_t *len);
// The value of `key` in an object (the first, if repeated); NULL when absent.
const wgml_json *wgml_json_get(const wgml_json *obj, const char *key);

// Accessors return false (or NULL) when the value has another type.
// Strings are decoded and NUL-terminated; *len counts bytes without the NUL
// (a string may contain U+0000, so use len, not strlen).
const char *wgml_json_string(const wgml_json *v, size_t *len);
bool wgml_json_number(const wgml_json *v, double *out);
// Only for numbers written as integers (no fraction or exponent) in range.
bool wgml_json_int64(const wgml_json *v, int64_t *out);
bool wgml_json_bool(const wgml_json *v, bool *out);

#endif
