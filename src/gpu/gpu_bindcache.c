/*
 * The bind group cache of the native GPU layer: wgml_gpu_dispatch asks it for
 * the bind group of (pipeline layout, entries) and gets the one made the last
 * time the same buffers, offsets and sizes were bound, or a new one.
 *
 * Why: a decode step records ~300 dispatches and runs again and again with
 * the same buffers; its parameters go to the uniform arena, whose slices fall
 * at the same offsets whenever a run records the same sequence of dispatches.
 * Making a bind group cost ~7 us of host time a dispatch on the H100 machine
 * (bench/results/2026-11-21-h100-sampling), more than the dispatch's GPU
 * time; looking one up costs a hash of ~100 bytes.
 *
 * Lifetime: the cache holds a reference to each group (a recorded pass holds
 * its own). A group names buffers by handle, and a destroyed buffer's handle
 * may come back for a new buffer, so destroying any buffer empties the cache
 * (buffers are destroyed rarely: pool trims, model frees, device loss). When
 * the table fills up it is emptied too: runs that bind ever new offsets
 * (prefills of every length) cannot grow it without bound.
 */
#include "gpu/gpu_common.h"
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

enum {
    SLOTS = 1 << 14,          // open addressing, a power of two
    MAX_LIVE = SLOTS / 2,     // emptied when this many groups are kept
};

typedef struct bind_key_entry {
    uint32_t binding;
    uint32_t pad;
    WGPUBuffer buffer;
    uint64_t offset, size;
} bind_key_entry;

typedef struct bind_cached {
    uint64_t hash;
    WGPUBindGroupLayout layout;
    WGPUBindGroup group;
    uint32_t n;
    bind_key_entry e[];       // (n)
} bind_cached;

struct wgml_gpu_bindcache {
    bind_cached **slot;       // (SLOTS), NULL: empty
    uint32_t live;
    uint64_t hits, misses;
};

static void key_of(const WGPUBindGroupEntry *in, size_t n, bind_key_entry *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (bind_key_entry){.binding = in[i].binding, .buffer = in[i].buffer,
                                  .offset = in[i].offset, .size = in[i].size};
}

void wgml_gpu_bindcache_clear(wgml_gpu *g)
{
    wgml_gpu_bindcache *c = g->bindcache;
    if (!c || !c->live) return;
    for (uint32_t i = 0; i < SLOTS; i++) {
        bind_cached *b = c->slot[i];
        if (!b) continue;
        if (b->group) wgpuBindGroupRelease(b->group);
        free(b);
        c->slot[i] = NULL;
    }
    c->live = 0;
}

void wgml_gpu_bindcache_free(wgml_gpu *g)
{
    if (!g->bindcache) return;
    wgml_gpu_bindcache_clear(g);
    free(g->bindcache->slot);
    free(g->bindcache);
    g->bindcache = NULL;
}

uint64_t wgml_gpu_bind_groups_made(const wgml_gpu *g)
{
    return (g->bindcache ? g->bindcache->misses : 0) + g->bind_groups_uncached;
}

WGPUBindGroup wgml_gpu_bindcache_get(wgml_gpu *g, WGPUBindGroupLayout layout,
                                     const WGPUBindGroupEntry *entries, size_t n)
{
    if (n > WGML_GPU_MAX_BINDINGS) return NULL;
    if (!g->bindcache) {
        wgml_gpu_bindcache *c = calloc(1, sizeof *c);
        if (!c || !(c->slot = calloc(SLOTS, sizeof *c->slot))) {
            free(c);
            return NULL;
        }
        g->bindcache = c;
    }
    wgml_gpu_bindcache *c = g->bindcache;
    bind_key_entry key[WGML_GPU_MAX_BINDINGS];
    key_of(entries, n, key);
    uint64_t h = wgml_gpu_fnv1a(WGML_GPU_FNV_SEED, &layout, sizeof layout);
    h = wgml_gpu_fnv1a(h, key, n * sizeof key[0]);
    uint32_t i = (uint32_t)(h ^ (h >> 32)) & (SLOTS - 1);
    for (;; i = (i + 1) & (SLOTS - 1)) {
        bind_cached *b = c->slot[i];
        if (!b) break;
        if (b->hash == h && b->layout == layout && b->n == n &&
            !memcmp(b->e, key, n * sizeof key[0])) {
            c->hits++;
            return b->group;
        }
    }
    c->misses++;
    if (c->live >= MAX_LIVE) {
        wgml_gpu_bindcache_clear(g);
        i = (uint32_t)(h ^ (h >> 32)) & (SLOTS - 1);
    }
    bind_cached *b = malloc(sizeof *b + n * sizeof key[0]);
    if (!b) return NULL;
    WGPUBindGroupDescriptor bd = {.layout = layout, .entryCount = n, .entries = entries};
    *b = (bind_cached){.hash = h, .layout = layout, .n = (uint32_t)n,
                       .group = wgpuDeviceCreateBindGroup(g->device, &bd)};
    memcpy(b->e, key, n * sizeof key[0]);
    c->slot[i] = b;
    c->live++;
    return b->group;
}
