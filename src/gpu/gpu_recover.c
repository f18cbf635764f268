/*
 * After a device loss: a new device, every object made again in place, and
 * the restore hooks that put back what must survive (see "device loss" in
 * gpu.h). Also the fault injection that tests use to provoke a loss.
 *
 * Why in place: layers above hold buffers, pipelines and bind groups (a
 * compiled graph plan holds all three); keeping the handles and remaking
 * their objects means none of them has to know the device changed, except
 * for contents, which only their owners can restore.
 */
#include "gpu/gpu.h"
#include "gpu/gpu_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool wgml_gpu_lost(const wgml_gpu *g) { return g->lost; }
size_t wgml_gpu_restore_hook_count(const wgml_gpu *g) { return g->n_hooks; }

wgml_status wgml_gpu_restore_hook_add(wgml_gpu *g, wgml_gpu_restore_fn fn, void *user)
{
    if (!fn) return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "restore hook: no function");
    if (g->n_hooks == g->cap_hooks) {
        size_t cap = g->cap_hooks ? 2 * g->cap_hooks : 4;
        wgml_gpu_hook *h = realloc(g->hooks, cap * sizeof *h);
        if (!h) return wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        g->hooks = h;
        g->cap_hooks = cap;
    }
    g->hooks[g->n_hooks++] = (wgml_gpu_hook){fn, user};
    return WGML_OK;
}

void wgml_gpu_restore_hook_remove(wgml_gpu *g, wgml_gpu_restore_fn fn, void *user)
{
    for (size_t i = 0; i < g->n_hooks; i++) {
        if (g->hooks[i].fn == fn && g->hooks[i].user == user) {
            memmove(&g->hooks[i], &g->hooks[i + 1], (g->n_hooks - i - 1) * sizeof *g->hooks);
            g->n_hooks--;
            return;
        }
    }
}

// The steps after the old device's objects are dropped; a failure leaves the
// reason in g->err.
static wgml_status rebuild(wgml_gpu *g)
{
    wgml_status st = wgml_gpu_device_open(g);
    if (!st) st = wgml_gpu_objects_rebuild(g);
    if (!st) st = wgml_gpu_device_probe(g);
    // A hook may remove itself or others; walk a copy.
    size_t n = g->n_hooks;
    wgml_gpu_hook *hooks = n ? malloc(n * sizeof *hooks) : NULL;
    if (!st && n && !hooks) st = wgml_gpu_fail(g, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!st && n) memcpy(hooks, g->hooks, n * sizeof *hooks);
    for (size_t i = 0; i < n && !st; i++) {
        st = hooks[i].fn(hooks[i].user, g);
        // The new device may be lost in turn while a hook uploads.
        if (!st && g->lost) st = WGML_ERR_DEVICE_LOST;
    }
    free(hooks);
    if (!st && g->lost) st = WGML_ERR_DEVICE_LOST;
    return st;
}

wgml_status wgml_gpu_recover(wgml_gpu *g)
{
    wgml_gpu_events_process(g);   // a loss not yet reported
    if (!g->lost) return WGML_OK;
    if (g->recovering)
        return wgml_gpu_fail(g, WGML_ERR_INVALID_ARGUMENT, "recover: called from a restore hook");
    g->recovering = true;
    char was[sizeof g->lost_message];
    snprintf(was, sizeof was, "%s", g->lost_message);
    // Pooled buffers nobody holds are not worth making again.
    wgml_gpu_pool_trim(g);
    wgml_gpu_objects_drop(g);
    wgml_status st = rebuild(g);
    if (st) {
        // Everything keeps answering DEVICE_LOST, with the reason; recover
        // may be called again and starts over.
        char why[sizeof g->err];
        snprintf(why, sizeof why, "%s", g->err);
        g->lost = true;
        // The head of the reason is enough here; g->err keeps all of it.
        int n = snprintf(g->lost_message, sizeof g->lost_message, "recovery failed (%s): ",
                         wgml_status_name(st));
        size_t room = sizeof g->lost_message - (size_t)(n > 0 ? n : 0);
        memcpy(g->lost_message + sizeof g->lost_message - room, why,
               strlen(why) < room ? strlen(why) + 1 : room);
        g->lost_message[sizeof g->lost_message - 1] = 0;
        wgml_gpu_fail(g, st, "device recovery failed: %s (the "
                      "device was lost: %s)", why, was);
    } else {
        wgml_gpu_clear_error(g);
    }
    g->recovering = false;
    return st;
}

// ---------------------------------------------------------------- fault injection

void wgml_gpu_debug_lose_device(wgml_gpu *g)
{
    if (!g->device || g->lost) return;
    wgpuDeviceDestroy(g->device);
    // Where the implementation defers the device-lost callback, deliver it.
    wgml_gpu_events_process(g);
    // Dawn has called it by now. wgpu-native (0.32) only marks a destroyed
    // device invalid and leaves the callback to a later device poll, which
    // then refuses to run on the invalid device, so the callback never comes;
    // the next queue submit would abort the process ("Parent device is
    // lost"). A real loss there (the driver's VK_ERROR_DEVICE_LOST) calls the
    // callback at once. So a destroy the callback has not reported is
    // recorded here.
    if (!g->lost) {
        g->lost = true;
        snprintf(g->lost_message, sizeof g->lost_message,
                 "destroyed by wgml_gpu_debug_lose_device (the implementation has not called "
                 "the device-lost callback)");
    }
}

void wgml_gpu_debug_lose_after_submits(wgml_gpu *g, uint32_t n) { g->lose_after_submits = n; }

void wgml_gpu_debug_cap_limits(wgml_gpu *g, uint64_t max_buffer_size,
                               uint64_t max_storage_binding_size)
{
    g->cap_buffer = max_buffer_size;
    g->cap_binding = max_storage_binding_size;
    wgml_gpu_caps_apply(g);
}

void wgml_gpu_debug_cap_memory(wgml_gpu *g, uint64_t bytes)
{
    g->cap_memory = bytes;
    wgml_gpu_caps_apply(g);
}
