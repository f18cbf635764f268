/*
 * Autotuning: for an op, a shape class and a dtype, the variant measured
 * fastest on this adapter. Results live in memory and in a cache file per
 * adapter (vendor, device, driver, implementation) under the user's cache
 * directory ($WGML_CACHE_DIR, else $XDG_CACHE_HOME/wgml, else ~/.cache/wgml),
 * one tab-separated line per choice:
 *     op <TAB> shape class <TAB> dtype <TAB> variant <TAB> ns
 * Untuned shapes fall back to each op's heuristic; `wgml tune` fills the
 * cache ahead of time.
 */
#ifndef WGML_TUNE_H
#define WGML_TUNE_H

#include "gpu/gpu.h"

enum { WGML_TUNE_MAX_CANDIDATES = 16 };

// The variant stored for (op, shape_class, dtype), or -1 when untuned.
int wgml_tune_lookup(wgml_gpu *gpu, const char *op, const char *shape_class, const char *dtype);

// Records a choice in memory and appends it to the adapter's cache file
// (the file is best effort: a read-only home only loses persistence).
void wgml_tune_store(wgml_gpu *gpu, const char *op, const char *shape_class, const char *dtype,
                     int variant, double ns);

// The cache file for this adapter (for messages); "" when there is no home.
const char *wgml_tune_path(wgml_gpu *gpu);

// A timing callback: record one run of `variant` (dispatches only; the caller
// of wgml_tune_pick begins and submits the timed run).
typedef wgml_status (*wgml_tune_run_fn)(wgml_gpu *gpu, int variant, void *user);

// Times each candidate (median of `repeat` timed runs of `iters` recordings,
// after a warm-up), stores and returns the fastest. Candidates that fail
// (e.g. unsupported on this device) are skipped; all failing is an error.
wgml_status wgml_tune_pick(wgml_gpu *gpu, const char *op, const char *shape_class,
                           const char *dtype, const int *candidates, int n_candidates,
                           wgml_tune_run_fn run, void *user, int *best, double *best_ns);

#endif
