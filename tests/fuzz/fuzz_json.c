// libFuzzer harness for the JSON reader. The first byte picks the options
// (depth limit, duplicate-key rejection); the rest is the document. A parsed
// document is walked so that every accessor runs on fuzzed trees.
#include "formats/json.h"

#include <stdlib.h>
#include <string.h>

static void walk(const wgml_json *v)
{
    size_t len;
    double d;
    int64_t i;
    bool b;
    wgml_json_string(v, &len);
    wgml_json_number(v, &d);
    wgml_json_int64(v, &i);
    wgml_json_bool(v, &b);
    for (size_t k = 0; k < wgml_json_count(v); k++) {
        const char *key = wgml_json_key_at(v, k, &len);
        // The first member with this key must be found (keys with U+0000 excepted).
        if (key && wgml_json_get(v, key) == NULL && strlen(key) == len) abort();
        walk(wgml_json_at(v, k));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    wgml_json_options opt = {.max_depth = data[0] % 80, .reject_duplicate_keys = data[0] & 1};
    wgml_json_doc *doc = NULL;
    char err[64];
    if (wgml_json_parse((const char *)data + 1, size - 1, &opt, &doc, err, sizeof err) == WGML_OK) {
        walk(wgml_json_root(doc));
        wgml_json_free(doc);
    }
    return 0;
}
