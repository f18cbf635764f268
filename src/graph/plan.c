// Memory planning: intermediate tensors share buffers when their lifetimes
// (the kernels from the one that writes them to the last that reads them)
// do not overlap. Greedy by size, largest first: each tensor takes the
// smallest free buffer that fits, else grows the largest free one, else a
// new buffer. Inputs and outputs keep buffers of their own.
#include "graph/plan_internal.h"

#include <stdlib.h>

typedef struct by_size {
    int tensor;
    uint64_t bytes;
} by_size;

static int cmp_size_desc(const void *a, const void *b)
{
    const by_size *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->tensor - y->tensor;   // deterministic
}

static bool overlaps(const wgml_plan_slot *a, const wgml_plan_slot *b)
{
    return a->first <= b->last && b->first <= a->last;
}

wgml_status wgml_plan_memory_assign(wgml_plan *p, const wgml_group_bindings *bindings,
                                    int n_groups)
{
    // Lifetimes from the bindings: written by `first`, read last by `last`.
    for (int t = 0; t < p->n_tensors; t++) {
        p->tensors[t].slot = (wgml_plan_slot){.buffer = -1, .first = -1, .last = -1,
                                              .bytes = p->tensors[t].bytes};
    }
    for (int k = 0; k < n_groups; k++)
        for (int i = 0; i < bindings[k].n; i++) {
            wgml_plan_slot *s = &p->tensors[bindings[k].tensor[i]].slot;
            if (bindings[k].write[i] && s->first < 0) s->first = k;
            if (s->last < k) s->last = k;
        }
    by_size *order = malloc(sizeof *order * (size_t)(p->n_tensors + 1));
    p->shared = calloc((size_t)p->n_tensors + 1, sizeof *p->shared);
    p->shared_bytes = calloc((size_t)p->n_tensors + 1, sizeof *p->shared_bytes);
    if (!order || !p->shared || !p->shared_bytes) {
        free(order);
        return WGML_ERR_OUT_OF_MEMORY;
    }
    int n = 0;
    p->naive_bytes = 0;
    for (int t = 0; t < p->n_tensors; t++) {
        const wgml_plan_tensor *pt = &p->tensors[t];
        if (pt->materialized && !pt->own_buffer) {
            order[n++] = (by_size){t, pt->bytes};
            p->naive_bytes += pt->bytes;
        }
    }
    qsort(order, (size_t)n, sizeof *order, cmp_size_desc);
    for (int i = 0; i < n; i++) {
        wgml_plan_slot *s = &p->tensors[order[i].tensor].slot;
        int best = -1;
        for (int b = 0; b < p->n_shared; b++) {
            bool busy = false;
            for (int t = 0; t < p->n_tensors && !busy; t++)
                busy = p->tensors[t].slot.buffer == b && overlaps(&p->tensors[t].slot, s);
            if (busy) continue;
            // Prefer the smallest buffer that fits; failing that, the largest.
            if (best < 0) best = b;
            else if (p->shared_bytes[b] >= s->bytes &&
                     (p->shared_bytes[best] < s->bytes || p->shared_bytes[b] < p->shared_bytes[best]))
                best = b;
            else if (p->shared_bytes[best] < s->bytes && p->shared_bytes[b] > p->shared_bytes[best])
                best = b;
        }
        if (best < 0) best = p->n_shared++;
        if (p->shared_bytes[best] < s->bytes) p->shared_bytes[best] = s->bytes;
        s->buffer = best;
    }
    free(order);
    return WGML_OK;
}
