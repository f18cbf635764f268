// Shared helpers for the GPU tests: a context, random data, error measures and
// sentinel-guarded output buffers.
#ifndef WGML_TEST_UTIL_H
#define WGML_TEST_UTIL_H

#include "gpu/gpu.h"
#include "ops/ops.h"

#include <stdio.h>

#define TEST_SKIP 77

// Creates the GPU or exits 1 with the reason (tests need a device).
wgml_gpu *test_gpu_create(void);
// The same with options (NULL: the defaults).
wgml_gpu *test_gpu_create_with(const wgml_gpu_options *opt);
// A context (the public API) on the default adapter, or exits 1 with the reason.
wgml_ctx *test_ctx_create(void);

// Deterministic uniform floats in [lo, hi).
void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

// Normalised mean squared error sum((y-r)^2) / sum(r^2); NaN anywhere gives +inf.
double test_nmse(const float *y, const float *ref, size_t n);

// A buffer laid out as [head guard][payload][tail guard], each guard filled with
// a sentinel pattern. The payload view starts at `head` bytes (aligned for
// storage bindings) and its binding runs to the end of the buffer, so a kernel
// that writes past its payload hits the tail guard.
typedef struct test_guarded {
    wgml_gpu_buf *buf;
    wgml_view view;
    uint64_t head, payload, tail;   // bytes
} test_guarded;

wgml_status test_guarded_create(wgml_gpu *gpu, uint64_t payload_bytes, test_guarded *out);
// Reads the payload into dst and checks both guards. Returns 0 when intact.
int test_guarded_read(wgml_gpu *gpu, test_guarded *g, void *dst);
void test_guarded_free(wgml_gpu *gpu, test_guarded *g);

// Uploads host data to a new buffer.
wgml_gpu_buf *test_upload(wgml_gpu *gpu, const void *data, uint64_t bytes);

// Resident memory in MiB (Linux /proc/self/status; 0 when unknown): `which`
// holds 'a' for anonymous memory (the host heap; SwiftShader's device memory)
// and/or 's' for shared memory (lavapipe's device memory). Not the pages of
// mapped files.
double test_resident_mib(const char *which);

// CPU seconds this process has used (its own clock: other processes on a
// shared machine do not count).
double test_cpu_seconds(void);

// Whether work grows linearly with its input: `run` does the work on `bytes`
// of input and returns the CPU seconds it took (< 0: it failed). Timed at
// 256 KiB and at 2 MiB, where linear work takes x8 and a quadratic step x64;
// passes under x32, because caches, a heap's log factor and a shared machine
// bend a linear curve (x8-x12 on an idle machine; CI once saw x3.04 for a
// doubling that ran x2.06 idle), while a quadratic term still fails once it
// is 45% of the large input's time. Prints each measurement under `name`.
// 1: linear; 0: not (the reason on stderr); -1: `run` failed.
int test_linear_time(const char *name, double (*run)(void *arg, size_t bytes), void *arg);

#define TEST_CHECK(cond, ...)                                             \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            return 1;                                                     \
        }                                                                 \
    } while (0)

#define TEST_OK(gpu, expr)                                                \
    do {                                                                  \
        wgml_status st_ = (expr);                                         \
        TEST_CHECK(st_ == WGML_OK, "%s -> %s: %s", #expr,                 \
                   wgml_status_name(st_), wgml_gpu_last_error(gpu));      \
    } while (0)

// The load/free tests' checks after each round's free: no buffer and no
// restore hook left (on the GPU layer, the context's included), and resident
// memory (test_resident_mib: device memory on CPU devices; the host heap too,
// except under AddressSanitizer, whose quarantine keeps freed memory while
// LeakSanitizer checks the heap) sampled from the second round (the first
// sets up caches) to the one before last (the last one's run compiles
// kernels). Progress printed five times over 10 rounds or more.
typedef struct test_leak_watch {
    int rounds;
    double base, peak;   // MiB: after the second round, the most after any up to the one before last
} test_leak_watch;
// After round i (0-based) of w->rounds. 0, or 1 with the reason on stderr.
int test_leak_watch_round(test_leak_watch *w, wgml_gpu *gpu, int i);
// What the resident memory counts: "anonymous + shared" or "shared".
const char *test_leak_watch_what(void);

// A public API call that must succeed; the message is the context's.
#define TEST_CTX_OK(ctx, expr)                                            \
    do {                                                                  \
        wgml_status st_ = (expr);                                         \
        TEST_CHECK(st_ == WGML_OK, "%s -> %s: %s", #expr,                 \
                   wgml_status_name(st_), wgml_ctx_last_error(ctx));      \
    } while (0)

#endif
