// libFuzzer harness for the GGUF reader: the input is a whole file, opened
// from memory and through a read-at callback that aborts on any read outside
// the file. Everything an accepted file offers is used: every key through
// every getter, every array element, every tensor read in full and
// dequantised (and a part of it through read_f32), and the file rewritten by
// the writer must open again.
#include "formats/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct source {
    const uint8_t *p;
    size_t n;
} source;

static wgml_status read_at(void *user, uint64_t off, void *dst, size_t n)
{
    source *s = user;
    if (off > s->n || n > s->n - off) abort();
    memcpy(dst, s->p + off, n);
    return WGML_OK;
}

static void use(wgml_gguf *g)
{
    for (size_t i = 0; i < wgml_gguf_kv_count(g); i++) {
        const char *key = wgml_gguf_kv_key(g, i);
        if (wgml_gguf_kv_find(g, key) != (int64_t)i) abort();
        uint64_t u, n;
        int64_t s;
        double f;
        bool b;
        const char *str;
        size_t len;
        wgml_gguf_value_type et;
        wgml_gguf_get_u64(g, key, &u);
        wgml_gguf_get_i64(g, key, &s);
        wgml_gguf_get_f64(g, key, &f);
        wgml_gguf_get_bool(g, key, &b);
        if (wgml_gguf_get_str(g, key, &str, &len) && str[len] != '\0') abort();
        if (!wgml_gguf_get_arr(g, key, &et, &n)) continue;
        if (et == WGML_GGUF_STRING) {
            for (uint64_t j = 0; j < n; j++)
                if (!wgml_gguf_arr_str(g, key, j, &str, &len) || str[len] != '\0') abort();
        } else {
            volatile const uint8_t *raw = wgml_gguf_arr_data(g, key);
            if (!raw) abort();
            if (n) (void)raw[n - 1];   // the last byte of a u8 array at least
        }
    }
    for (size_t i = 0; i < wgml_gguf_tensor_count(g); i++) {
        const wgml_gguf_tensor *t = wgml_gguf_tensor_at(g, i);
        if (wgml_gguf_tensor_find(g, t->name) != t) abort();
        // size <= the input's size, and n_elements <= 8 * size for every type read.
        uint8_t *raw = malloc((size_t)t->size + 1);
        float *y = malloc((size_t)t->n_elements * sizeof *y + 1);
        if (raw && wgml_gguf_tensor_read(g, t, 0, raw, (size_t)t->size) != WGML_OK) abort();
        if (raw && y && wgml_gguf_dequantize(t->type, raw, t->n_elements, y) != WGML_OK) abort();
        // A range that starts and ends inside blocks must give the same values.
        uint64_t first = t->n_elements / 3, n = t->n_elements / 2;
        float *part = malloc((size_t)n * sizeof *part + 1);
        if (part && y && (wgml_gguf_tensor_read_f32(g, t, first, n, part) != WGML_OK ||
                          memcmp(part, y + first, (size_t)n * sizeof *part)))
            abort();
        free(part);
        free(raw);
        free(y);
    }
}

// Rewrites an accepted file with the writer; the result must open again.
static void rewrite(wgml_gguf *g)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_gguf_%d.gguf", (int)getpid());
    wgml_gguf_writer *w = wgml_gguf_writer_create();
    if (!w) return;
    for (size_t i = 0; i < wgml_gguf_kv_count(g); i++) {
        const char *key = wgml_gguf_kv_key(g, i);
        uint64_t a;
        if (!strcmp(key, "general.alignment") && wgml_gguf_get_u64(g, key, &a)) {
            if (wgml_gguf_writer_set_u32(w, key, (uint32_t)a)) abort();
        } else if (wgml_gguf_writer_copy_kv(w, g, key)) {
            abort();
        }
    }
    for (size_t i = 0; i < wgml_gguf_tensor_count(g); i++) {
        const wgml_gguf_tensor *t = wgml_gguf_tensor_at(g, i);
        if (wgml_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne,
                                        wgml_gguf_tensor_data(g, t), (size_t)t->size))
            abort();
    }
    char err[256];
    wgml_gguf *again = NULL;
    if (wgml_gguf_writer_write_file(w, path, NULL, NULL, err, sizeof err) == WGML_OK) {
        if (wgml_gguf_open_file(path, &again, err, sizeof err) != WGML_OK ||
            wgml_gguf_kv_count(again) != wgml_gguf_kv_count(g) ||
            wgml_gguf_tensor_count(again) != wgml_gguf_tensor_count(g))
            abort();
        wgml_gguf_close(again);
        unlink(path);
    }
    wgml_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wgml_gguf *g = NULL;
    char err[256];
    if (wgml_gguf_open_memory(data, size, &g, err, sizeof err) == WGML_OK) {
        use(g);
        rewrite(g);
        wgml_gguf_close(g);
    }
    source s = {data, size};
    if (wgml_gguf_open_reader(read_at, &s, size, &g, err, sizeof err) == WGML_OK) {
        use(g);
        wgml_gguf_close(g);
    }
    return 0;
}
