// Shared by the native and web GPU layers: see gpu_common.h.
#include "gpu/gpu_common.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t wgml_gpu_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

// ================================================================ pipeline memo

enum { MEMO_SLOTS = 1024, MEMO_KEY_MAX = 96 };

typedef struct memo_entry {
    const char *op;                 // NULL: empty
    uint64_t hash;
    uint32_t key_size;
    unsigned char key[MEMO_KEY_MAX];
    wgml_gpu_pipeline *pipeline;
} memo_entry;

struct wgml_gpu_memo {
    memo_entry slot[MEMO_SLOTS];   // open addressing
    uint32_t live;
};

static uint64_t memo_hash(const char *op, const void *key, size_t n)
{
    uint64_t h = wgml_gpu_fnv1a(WGML_GPU_FNV_SEED, &op, sizeof op);
    return wgml_gpu_fnv1a(h, key, n);
}

wgml_gpu_pipeline *wgml_gpu_pipeline_recall(wgml_gpu *gpu, const char *op, const void *key,
                                            size_t key_size)
{
    wgml_gpu_memo *m = *wgml_gpu_memo_slot(gpu);
    if (!m || key_size > MEMO_KEY_MAX) return NULL;
    uint64_t h = memo_hash(op, key, key_size);
    for (uint32_t i = (uint32_t)h & (MEMO_SLOTS - 1);; i = (i + 1) & (MEMO_SLOTS - 1)) {
        memo_entry *e = &m->slot[i];
        if (!e->op) return NULL;
        if (e->hash == h && e->op == op && e->key_size == key_size &&
            !memcmp(e->key, key, key_size))
            return e->pipeline;
    }
}

void wgml_gpu_pipeline_remember(wgml_gpu *gpu, const char *op, const void *key, size_t key_size,
                                wgml_gpu_pipeline *pipeline)
{
    wgml_gpu_memo **slot = wgml_gpu_memo_slot(gpu);
    if (key_size > MEMO_KEY_MAX || !pipeline) return;
    if (!*slot && !(*slot = calloc(1, sizeof **slot))) return;   // a memo is only a shortcut
    wgml_gpu_memo *m = *slot;
    if (m->live >= MEMO_SLOTS / 2) {   // full: forget everything (pipelines stay cached)
        memset(m, 0, sizeof *m);
    }
    uint64_t h = memo_hash(op, key, key_size);
    for (uint32_t i = (uint32_t)h & (MEMO_SLOTS - 1);; i = (i + 1) & (MEMO_SLOTS - 1)) {
        memo_entry *e = &m->slot[i];
        if (e->op && !(e->hash == h && e->op == op && e->key_size == key_size &&
                       !memcmp(e->key, key, key_size)))
            continue;
        if (!e->op) m->live++;
        e->op = op;
        e->hash = h;
        e->key_size = (uint32_t)key_size;
        memcpy(e->key, key, key_size);
        e->pipeline = pipeline;
        return;
    }
}

void wgml_gpu_memo_free(wgml_gpu_memo *memo) { free(memo); }

// ================================================================ sizes and limits

uint64_t wgml_gpu_size_class(uint64_t size)
{
    if (size < 256) return 256;
    if (size <= (1u << 20)) {
        uint64_t c = 256;
        while (c < size) c <<= 1;
        return c;
    }
    return (size + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
}

wgml_status wgml_gpu_buf_capacity(wgml_gpu *g, uint64_t size, const char *label,
                                  uint64_t *capacity)
{
    if (size == 0)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "buffer '%s': size 0",
                             label ? label : "");
    uint64_t max = wgml_gpu_info(g)->max_buffer_size;
    uint64_t cap = size <= max ? wgml_gpu_size_class(size) : size;
    // Near the limit the class may overshoot it: then only round to 4 bytes.
    if (cap > max) cap = size <= max - 3 ? (size + 3) & ~(uint64_t)3 : size;
    if (cap > max)
        return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY,
                             "buffer '%s' of %llu bytes exceeds the device's maxBufferSize "
                             "of %llu bytes", label ? label : "", (unsigned long long)size,
                             (unsigned long long)max);
    *capacity = cap;
    return WGML_OK;
}

wgml_status wgml_gpu_range_check(wgml_gpu *g, const char *what, uint64_t offset, uint64_t size,
                                 uint64_t capacity)
{
    if ((offset | size) & 3)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "%s: offset and size must be multiples of 4", what);
    if (offset > capacity || size > capacity - offset)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "%s of %llu bytes at %llu is past the end (%llu)", what,
                             (unsigned long long)size, (unsigned long long)offset,
                             (unsigned long long)capacity);
    return WGML_OK;
}

wgml_status wgml_gpu_grid_check(wgml_gpu *g, uint32_t gx, uint32_t gy, uint32_t gz)
{
    uint32_t gmax = wgml_gpu_info(g)->max_compute_workgroups_per_dimension;
    if (gx == 0 || gy == 0 || gz == 0 || gx > gmax || gy > gmax || gz > gmax)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "dispatch of %ux%ux%u workgroups is outside 1..%u per dimension",
                             gx, gy, gz, gmax);
    return WGML_OK;
}

wgml_status wgml_gpu_bindings_count_check(wgml_gpu *g, size_t n_bindings)
{
    if (n_bindings + 1 > WGML_GPU_MAX_BINDINGS ||
        n_bindings > wgml_gpu_info(g)->max_storage_buffers_per_stage)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "too many bindings (%zu)",
                             n_bindings);
    return WGML_OK;
}

wgml_status wgml_gpu_binding_check(wgml_gpu *g, size_t i, const wgml_gpu_binding *b,
                                   uint64_t capacity, uint64_t *size_out, uint32_t *slot)
{
    const wgml_device_info *d = wgml_gpu_info(g);
    if (!b->buf)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "binding %zu has no buffer", i + 1);
    uint64_t size = b->size ? b->size : capacity - b->offset;
    if (b->offset % d->min_storage_buffer_offset_alignment || b->offset > capacity ||
        size > capacity - b->offset)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "binding %zu: range %llu+%llu is misaligned or outside "
                             "its buffer", i + 1, (unsigned long long)b->offset,
                             (unsigned long long)size);
    if (size > d->max_storage_buffer_binding_size)
        return wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED,
                             "binding %zu of %llu bytes exceeds the device's "
                             "maxStorageBufferBindingSize (%llu)", i + 1,
                             (unsigned long long)size,
                             (unsigned long long)d->max_storage_buffer_binding_size);
    *size_out = size;
    *slot = b->slot ? b->slot : (uint32_t)(i + 1);
    return WGML_OK;
}

// ================================================================ WGSL text and keys

const char *wgml_gpu_kernel_text(wgml_gpu *g, const wgml_gpu_kernel *k)
{
    if (k->source) return k->source;
    const wgml_kernel_source *ks = k->family ? wgml_kernel_find(k->family) : NULL;
    if (!ks) {
        wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "no kernel family '%s'",
                      k->family ? k->family : "(null)");
        return NULL;
    }
    return ks->text;
}

// Global directives must precede every declaration: enable, requires and
// diagnostic (matmul_sgm_mx.wgsl turns a uniformity diagnostic off).
static bool is_directive(const char *line)
{
    return !strncmp(line, "enable ", 7) || !strncmp(line, "requires ", 9) ||
           !strncmp(line, "diagnostic(", 11);
}

// Appends `text` to `out` (at *n), moving directive lines to `dir` (at *nd).
static void split_directives(const char *text, char *out, size_t *n, char *dir, size_t *nd,
                             bool drop_subgroups)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        bool d = is_directive(line);
        if (d && drop_subgroups && !strncmp(line, "enable subgroups;", 17)) {
            line += len;
            continue;
        }
        memcpy(d ? dir + *nd : out + *n, line, len);
        *(d ? nd : n) += len;
        line += len;
    }
}

char *wgml_gpu_source_compose(const char *prelude, const char *source,
                              bool drop_subgroups_directive)
{
    size_t cap = strlen(source) + (prelude ? strlen(prelude) : 0) + 2;
    char *dir = malloc(cap), *body = malloc(cap), *out = malloc(2 * cap);
    if (!dir || !body || !out) {
        free(dir); free(body); free(out);
        return NULL;
    }
    size_t nd = 0, nb = 0;
    if (prelude) {
        split_directives(prelude, body, &nb, dir, &nd, drop_subgroups_directive);
        if (nb && body[nb - 1] != '\n') body[nb++] = '\n';
    }
    split_directives(source, body, &nb, dir, &nd, drop_subgroups_directive);
    memcpy(out, dir, nd);
    memcpy(out + nd, body, nb);
    out[nd + nb] = 0;
    free(dir);
    free(body);
    return out;
}

void wgml_gpu_pipeline_key(const wgml_gpu_kernel *k, char *key, size_t cap)
{
    size_t n = 0;
    if (k->source)
        n += snprintf(key + n, cap - n, "src:%016llx",
                      (unsigned long long)wgml_gpu_fnv1a(WGML_GPU_FNV_SEED, k->source,
                                                         strlen(k->source)));
    else
        n += snprintf(key + n, cap - n, "%s", k->family);
    if (k->prelude && n < cap)
        n += snprintf(key + n, cap - n, "+%016llx",
                      (unsigned long long)wgml_gpu_fnv1a(WGML_GPU_FNV_SEED, k->prelude,
                                                         strlen(k->prelude)));
    n += snprintf(key + n, n < cap ? cap - n : 0, "|%s", k->entry ? k->entry : "main");
    for (size_t i = 0; i < k->n_constants && n < cap; i++)
        n += snprintf(key + n, cap - n, "|%s=%.17g", k->constants[i].name,
                      k->constants[i].value);
}

void wgml_gpu_kernel_what(const wgml_gpu_kernel *k, char *what, size_t cap)
{
    snprintf(what, cap, "compiling kernel '%s' (entry %s)", k->family ? k->family : "wgml.inline",
             k->entry ? k->entry : "main");
}

// ================================================================ probes

// Runs f with the last error saved and restored around it.
static char *error_save(wgml_gpu *g)
{
    const char *e = wgml_gpu_last_error(g);
    size_t n = strlen(e);
    char *s = malloc(n + 1);
    if (s) memcpy(s, e, n + 1);
    return s;
}

static void error_restore(wgml_gpu *g, char *saved)
{
    if (saved && saved[0]) wgml_gpu_fail(g, WGML_OK, "%s", saved);
    else wgml_gpu_clear_error(g);
    free(saved);
}

bool wgml_gpu_wgsl_compiles(wgml_gpu *g, const char *wgsl)
{
    char *saved = error_save(g);
    wgml_gpu_kernel k = {.source = wgsl};
    wgml_gpu_pipeline *p = NULL;
    bool ok = wgml_gpu_pipeline_get(g, &k, &p) == WGML_OK;
    error_restore(g, saved);
    return ok;
}

static const char PROBE_DOT4[] =
    "@group(0) @binding(1) var<storage, read_write> o: array<i32>;\n"
    "@compute @workgroup_size(1) fn main() { o[0] = dot4I8Packed(0x01020304u, 0x01010101u); }\n";

uint32_t wgml_gpu_fixed_subgroup_size(const wgml_gpu *g)
{
    const wgml_device_info *d = wgml_gpu_info(g);
    uint32_t sg = d->subgroups && d->subgroup_min_size == d->subgroup_max_size
                      ? d->subgroup_min_size : 0;
    return sg >= 4 && sg <= 128 && (sg & (sg - 1)) == 0 ? sg : 0;
}

bool wgml_gpu_probe_packed_dot4(wgml_gpu *g) { return wgml_gpu_wgsl_compiles(g, PROBE_DOT4); }

static const char PROBE_SUBGROUP_SIZE[] =
    "enable subgroups;\n"
    "@group(0) @binding(1) var<storage, read_write> o: array<u32>;\n"
    "@compute @workgroup_size(128) fn main(@builtin(subgroup_size) s: u32,\n"
    "    @builtin(local_invocation_index) i: u32) { if (i == 0u) { o[0] = s; } }\n";

uint32_t wgml_gpu_probe_subgroup_size(wgml_gpu *g)
{
    char *saved = error_save(g);
    wgml_gpu_kernel k = {.source = PROBE_SUBGROUP_SIZE};
    wgml_gpu_pipeline *p;
    wgml_gpu_buf *b = NULL;
    uint32_t size = 0, seen = 0;
    if (wgml_gpu_pipeline_get(g, &k, &p) == WGML_OK &&
        wgml_gpu_buf_create(g, 4, "wgml.probe", &b) == WGML_OK) {
        wgml_gpu_binding bind = {.buf = b};
        if (wgml_gpu_dispatch(g, p, NULL, 0, &bind, 1, 1, 1, 1) == WGML_OK &&
            wgml_gpu_buf_read(g, b, 0, &seen, 4) == WGML_OK && seen >= 1 && seen <= 128)
            size = seen;
    }
    wgml_gpu_buf_release(g, b);
    wgml_gpu_pool_trim(g);
    error_restore(g, saved);
    return size;
}
