/*
 * Per-dispatch GPU times for the native GPU layer (gpu.h, "profiling"):
 * while on, record() ends the run's pass before each dispatch and begins one
 * with timestamp writes at its ends (query pair i for dispatch i); the
 * submit resolves the queries into a buffer and copies them to a mappable
 * one in the same command buffer.
 */
#include "gpu/gpu_common.h"
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_TIMED = 2048, RESOLVE_ALIGN = 256 };

typedef struct wgml_gpu_profiler wgml_gpu_profiler;
struct wgml_gpu_profiler {
    WGPUQuerySet queries;           // 2 * max
    WGPUBuffer resolve, readback;   // 8 bytes a query
    uint64_t bytes;                 // of each buffer
    uint32_t max;                   // dispatches timed a run
    uint32_t n;                     // timed in the run being recorded
    bool untimed;                   // the run's pass after the last timed one is open
    wgml_gpu_profile_entry *entries;   // (max)
    uint32_t n_done;                // timed in the submitted run
    bool submitted;
};

static const WGPUStringView PASS_LABEL = {.data = "wgml.profiled", .length = 13};

wgml_status wgml_gpu_profile_start(wgml_gpu *g, uint32_t max_dispatches)
{
    wgml_status st = wgml_gpu_check_alive(g);
    if (st) return st;
    if (!g->info.timestamp_query)
        return wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED,
                             "profiling needs timestamp queries, which this device lacks");
    if (g->recording)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "profiling: a run is being recorded; submit it first");
    if (max_dispatches == 0 || max_dispatches > MAX_TIMED)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT,
                             "profiling: %u dispatches a run (1..%d)", max_dispatches, MAX_TIMED);
    wgml_gpu_profile_stop(g);
    wgml_gpu_profiler *p = calloc(1, sizeof *p);
    if (p) p->entries = calloc(max_dispatches, sizeof *p->entries);
    if (!p || !p->entries) {
        free(p);
        return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    p->max = max_dispatches;
    p->bytes = (16ull * max_dispatches + RESOLVE_ALIGN - 1) / RESOLVE_ALIGN * RESOLVE_ALIGN;
    wgml_gpu_scopes_push(g);
    WGPUQuerySetDescriptor qd = {.type = WGPUQueryType_Timestamp, .count = 2 * max_dispatches};
    p->queries = wgpuDeviceCreateQuerySet(g->device, &qd);
    WGPUBufferDescriptor rd = {.usage = WGPUBufferUsage_QueryResolve | WGPUBufferUsage_CopySrc,
                               .size = p->bytes};
    p->resolve = wgpuDeviceCreateBuffer(g->device, &rd);
    WGPUBufferDescriptor md = {.usage = WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst,
                               .size = p->bytes};
    p->readback = wgpuDeviceCreateBuffer(g->device, &md);
    g->profiler = p;
    if ((st = wgml_gpu_scopes_pop(g, "creating the profiler's queries"))) wgml_gpu_profile_stop(g);
    return st;
}

void wgml_gpu_profile_stop(wgml_gpu *g)
{
    wgml_gpu_profiler *p = g->profiler;
    if (!p) return;
    if (p->queries) wgpuQuerySetRelease(p->queries);
    if (p->resolve) wgpuBufferRelease(p->resolve);
    if (p->readback) wgpuBufferRelease(p->readback);
    free(p->entries);
    free(p);
    g->profiler = NULL;
}

// Ends the open pass and begins another, timed as query pair `i` (or
// untimed when i < 0).
static void next_pass(wgml_gpu *g, int64_t i)
{
    wgpuComputePassEncoderEnd(g->pass);
    wgpuComputePassEncoderRelease(g->pass);
    WGPUPassTimestampWrites tw = {.querySet = g->profiler->queries,
                                  .beginningOfPassWriteIndex = (uint32_t)(2 * i),
                                  .endOfPassWriteIndex = (uint32_t)(2 * i + 1)};
    WGPUComputePassDescriptor cd = {.label = PASS_LABEL, .timestampWrites = i >= 0 ? &tw : NULL};
    g->pass = wgpuCommandEncoderBeginComputePass(g->encoder, &cd);
}

void wgml_gpu_profile_pass(wgml_gpu *g, wgml_gpu_pipeline *pl)
{
    wgml_gpu_profiler *p = g->profiler;
    if (p->n < p->max) {
        p->entries[p->n] = (wgml_gpu_profile_entry){.kernel = pl->label,
                                                    .entry = pl->recipe.entry, .ns = -1};
        next_pass(g, p->n++);
    } else if (!p->untimed) {   // past the last timed dispatch: one plain pass for the rest
        next_pass(g, -1);
        p->untimed = true;
    }
}

void wgml_gpu_profile_encode(wgml_gpu *g)
{
    wgml_gpu_profiler *p = g->profiler;
    if (!p->n) return;
    wgpuCommandEncoderResolveQuerySet(g->encoder, p->queries, 0, 2 * p->n, p->resolve, 0);
    wgpuCommandEncoderCopyBufferToBuffer(g->encoder, p->resolve, 0, p->readback, 0, 16ull * p->n);
}

void wgml_gpu_profile_settle(wgml_gpu *g, bool submitted)
{
    wgml_gpu_profiler *p = g->profiler;
    p->n_done = submitted ? p->n : 0;
    p->submitted = submitted && p->n;
    p->n = 0;
    p->untimed = false;
}

wgml_status wgml_gpu_profile_read(wgml_gpu *g, const wgml_gpu_profile_entry **entries,
                                  uint32_t *n)
{
    wgml_status st = wgml_gpu_check_alive(g);
    if (st) return st;
    wgml_gpu_profiler *p = g->profiler;
    if (!p || !p->submitted)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "profiling: no profiled run submitted");
    p->submitted = false;
    if ((st = wgml_gpu_map_read(g, p->readback, 16ull * p->n_done))) return st;
    const uint64_t *t = wgpuBufferGetConstMappedRange(p->readback, 0, 16ull * p->n_done);
    if (!t) {
        wgpuBufferUnmap(p->readback);
        return wgml_gpu_fail(g, WGML_ERR_GPU, "profiling: mapped range unavailable");
    }
    for (uint32_t i = 0; i < p->n_done; i++)
        p->entries[i].ns = t[2 * i + 1] >= t[2 * i] ? (double)(t[2 * i + 1] - t[2 * i]) : -1;
    wgpuBufferUnmap(p->readback);
    *entries = p->entries;
    *n = p->n_done;
    return WGML_OK;
}
