/*
 * Readbacks of the native GPU layer (gpu.h, "readbacks"): a staging buffer
 * per readback, filled by a copy encoded after the pass of the run it was
 * recorded into, in the same command buffer. Mapping it waits only for the
 * work that last used it (Dawn's MapAsync waits for the buffer's last usage
 * serial, wgpu for its last submission), so a run submitted later keeps the
 * GPU busy while the host reads.
 */
#include "gpu/gpu_common.h"
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

static WGPUBuffer staging_make(wgml_gpu *g, uint64_t capacity)
{
    WGPUBufferDescriptor d = {.label = {.data = "wgml.readback", .length = 13},
                              .usage = WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst,
                              .size = capacity};
    return wgpuDeviceCreateBuffer(g->device, &d);
}

wgml_status wgml_gpu_readback_create(wgml_gpu *g, uint64_t capacity, wgml_gpu_readback **out)
{
    *out = NULL;
    wgml_status st = wgml_gpu_check_alive(g);
    if (st) return st;
    if (capacity == 0 || capacity % 4 || capacity > g->info.max_buffer_size)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "readback: a capacity of %llu bytes is empty, not a multiple of 4 "
                             "or above the device's largest buffer",
                             (unsigned long long)capacity);
    wgml_gpu_readback *rb = calloc(1, sizeof *rb);
    if (!rb) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    wgml_gpu_scopes_push(g);
    rb->staging = staging_make(g, capacity);
    if ((st = wgml_gpu_scopes_pop(g, "creating a readback buffer"))) {
        if (rb->staging) wgpuBufferRelease(rb->staging);
        free(rb);
        return st;
    }
    rb->capacity = capacity;
    rb->next = g->readbacks_all;
    if (g->readbacks_all) g->readbacks_all->prev = rb;
    g->readbacks_all = rb;
    *out = rb;
    return WGML_OK;
}

// Takes rb out of the open run's list.
static void unlist(wgml_gpu *g, wgml_gpu_readback *rb)
{
    for (size_t i = 0; i < g->n_run_readbacks; i++) {
        if (g->run_readbacks[i] == rb) {
            g->run_readbacks[i] = g->run_readbacks[--g->n_run_readbacks];
            return;
        }
    }
}

void wgml_gpu_readback_free(wgml_gpu *g, wgml_gpu_readback *rb)
{
    if (!rb) return;
    unlist(g, rb);
    if (rb->prev) rb->prev->next = rb->next;
    else if (g->readbacks_all == rb) g->readbacks_all = rb->next;
    if (rb->next) rb->next->prev = rb->prev;
    if (rb->staging) wgpuBufferRelease(rb->staging);
    free(rb);
}

wgml_status wgml_gpu_readback_record(wgml_gpu *g, wgml_gpu_readback *rb, wgml_gpu_buf *buf,
                                     uint64_t offset, uint64_t size)
{
    wgml_status st = wgml_gpu_check_alive(g);
    if (st) return st;
    if (!rb || !buf) return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "readback: NULL argument");
    if (size == 0 || size > rb->capacity)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "readback: %llu bytes for a readback of %llu",
                             (unsigned long long)size, (unsigned long long)rb->capacity);
    if ((st = wgml_gpu_range_check(g, "readback", offset, size, buf->capacity))) return st;
    if (!g->recording && (st = wgml_gpu_begin(g, false))) return st;
    if (rb->state != WGML_RB_RECORDED) {
        if (g->n_run_readbacks == g->cap_run_readbacks) {
            size_t cap = g->cap_run_readbacks ? 2 * g->cap_run_readbacks : 8;
            wgml_gpu_readback **a = realloc(g->run_readbacks, cap * sizeof *a);
            if (!a) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
            g->run_readbacks = a;
            g->cap_run_readbacks = cap;
        }
        g->run_readbacks[g->n_run_readbacks++] = rb;
    }
    rb->src = buf;
    rb->offset = offset;
    rb->size = size;
    rb->state = WGML_RB_RECORDED;
    return WGML_OK;
}

void wgml_gpu_readbacks_encode(wgml_gpu *g, WGPUCommandEncoder enc)
{
    for (size_t i = 0; i < g->n_run_readbacks; i++) {
        wgml_gpu_readback *rb = g->run_readbacks[i];
        wgpuCommandEncoderCopyBufferToBuffer(enc, rb->src->buffer, rb->offset, rb->staging, 0,
                                             rb->size);
    }
}

void wgml_gpu_readbacks_settle(wgml_gpu *g, bool submitted)
{
    for (size_t i = 0; i < g->n_run_readbacks; i++)
        g->run_readbacks[i]->state = submitted ? WGML_RB_SUBMITTED : WGML_RB_IDLE;
    g->n_run_readbacks = 0;
}

wgml_status wgml_gpu_readback_read(wgml_gpu *g, wgml_gpu_readback *rb, void *dst)
{
    wgml_status st = wgml_gpu_check_alive(g);
    if (st) return st;
    if (!rb || !dst) return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "readback: NULL argument");
    if (rb->state == WGML_RB_RECORDED && (st = wgml_gpu_submit(g, NULL))) return st;
    if (rb->state != WGML_RB_SUBMITTED)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "readback: no copy was recorded and submitted");
    rb->state = WGML_RB_IDLE;
    if ((st = wgml_gpu_map_read(g, rb->staging, rb->size))) return st;
    const void *src = wgpuBufferGetConstMappedRange(rb->staging, 0, rb->size);
    if (!src) {
        wgpuBufferUnmap(rb->staging);
        return wgml_gpu_fail(g, WGML_ERR_GPU, "readback: mapped range unavailable");
    }
    memcpy(dst, src, rb->size);
    wgpuBufferUnmap(rb->staging);
    return WGML_OK;
}

void wgml_gpu_readbacks_drop(wgml_gpu *g)
{
    for (wgml_gpu_readback *rb = g->readbacks_all; rb; rb = rb->next) {
        if (rb->staging) wgpuBufferRelease(rb->staging);
        rb->staging = NULL;
        rb->state = WGML_RB_IDLE;
    }
}

void wgml_gpu_readbacks_rebuild(wgml_gpu *g)
{
    for (wgml_gpu_readback *rb = g->readbacks_all; rb; rb = rb->next)
        rb->staging = staging_make(g, rb->capacity);
}
