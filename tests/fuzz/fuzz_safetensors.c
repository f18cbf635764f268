// libFuzzer harness for the safetensors reader: the input is a whole file,
// opened from memory and through a read-at callback that aborts on any read
// outside the file. Every tensor of an accepted file is read in full.
#include "formats/safetensors.h"

#include <stdlib.h>
#include <string.h>

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

static void use(wgml_safetensors *st)
{
    for (size_t i = 0; i < wgml_safetensors_count(st); i++) {
        const wgml_safetensors_tensor *t = wgml_safetensors_tensor_at(st, i);
        if (wgml_safetensors_tensor_find(st, t->name) != t) abort();
        // size = n_elements * dtype size <= file size, so this is bounded by the input.
        float *f = malloc((size_t)t->n_elements * sizeof *f + 1);
        unsigned char *raw = malloc((size_t)t->size + 1);
        if (f) wgml_safetensors_tensor_read_f32(st, t, f, (size_t)t->n_elements);
        if (raw && wgml_safetensors_tensor_read(st, t, 0, raw, (size_t)t->size) != WGML_OK) abort();
        free(f);
        free(raw);
    }
    for (size_t i = 0; i < wgml_safetensors_metadata_count(st); i++) {
        const char *key;
        wgml_safetensors_metadata_at(st, i, &key, NULL, NULL);
        if (!wgml_safetensors_metadata_get(st, key, NULL)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wgml_safetensors *st = NULL;
    char err[128];
    if (wgml_safetensors_open_memory(data, size, &st, err, sizeof err) == WGML_OK) {
        use(st);
        wgml_safetensors_close(st);
    }
    source s = {data, size};
    if (wgml_safetensors_open_reader(read_at, &s, size, &st, err, sizeof err) == WGML_OK) {
        use(st);
        wgml_safetensors_close(st);
    }
    return 0;
}
