#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GUARD_BYTES = 1024 };
static const uint32_t SENTINEL = 0x7fbadbadu;   // a NaN pattern no kernel writes

wgml_gpu *test_gpu_create(void) { return test_gpu_create_with(NULL); }

wgml_gpu *test_gpu_create_with(const wgml_gpu_options *opt)
{
    char err[1024];
    wgml_gpu *gpu = NULL;
    wgml_status st = wgml_gpu_create(opt, &gpu, err, sizeof err);
    if (st) {
        fprintf(stderr, "FAIL: no GPU device: %s (%s)\n", err, wgml_status_name(st));
        exit(1);
    }
    const wgml_device_info *d = wgml_gpu_info(gpu);
    fprintf(stderr, "device: %s / %s (%s, %s) f16=%d subgroups=%d timestamps=%d\n",
            d->implementation, d->description[0] ? d->description : d->device, d->backend,
            d->adapter_type, d->shader_f16, d->subgroups, d->timestamp_query);
    return gpu;
}

wgml_ctx *test_ctx_create(void)
{
    char err[1024];
    wgml_ctx *ctx = NULL;
    wgml_status st = wgml_ctx_create(NULL, &ctx, err, sizeof err);
    if (st) {
        fprintf(stderr, "FAIL: no GPU device: %s (%s)\n", err, wgml_status_name(st));
        exit(1);
    }
    return ctx;
}

void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;   // xorshift64
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

double test_nmse(const float *y, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i]) || isnan(ref[i])) return INFINITY;
        double d = (double)y[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

wgml_status test_guarded_create(wgml_gpu *gpu, uint64_t payload, test_guarded *g)
{
    memset(g, 0, sizeof *g);
    uint64_t align = wgml_gpu_info(gpu)->min_storage_buffer_offset_alignment;
    g->head = align > GUARD_BYTES ? align : GUARD_BYTES;
    g->payload = (payload + 3) & ~3ull;
    g->tail = GUARD_BYTES;
    uint64_t total = g->head + g->payload + g->tail;
    wgml_status st = wgml_gpu_buf_create(gpu, total, "test.guarded", &g->buf);
    if (st) return st;
    uint32_t *fill = malloc(total);
    if (!fill) return WGML_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < total / 4; i++) fill[i] = SENTINEL;
    st = wgml_gpu_buf_write(gpu, g->buf, 0, fill, total);
    free(fill);
    g->view = (wgml_view){.buf = g->buf, .offset = g->head};
    return st;
}

int test_guarded_read(wgml_gpu *gpu, test_guarded *g, void *dst)
{
    uint64_t total = g->head + g->payload + g->tail;
    uint32_t *all = malloc(total);
    if (!all) return 1;
    wgml_status st = wgml_gpu_buf_read(gpu, g->buf, 0, all, total);
    if (st) {
        fprintf(stderr, "FAIL: readback: %s\n", wgml_gpu_last_error(gpu));
        free(all);
        return 1;
    }
    int bad = 0;
    for (uint64_t i = 0; i < g->head / 4; i++) bad |= all[i] != SENTINEL;
    for (uint64_t i = (g->head + g->payload) / 4; i < total / 4; i++) bad |= all[i] != SENTINEL;
    if (bad) fprintf(stderr, "FAIL: a guard region around the output was overwritten\n");
    memcpy(dst, (char *)all + g->head, g->payload);
    free(all);
    return bad;
}

void test_guarded_free(wgml_gpu *gpu, test_guarded *g)
{
    wgml_gpu_buf_release(gpu, g->buf);
    g->buf = NULL;
}

wgml_gpu_buf *test_upload(wgml_gpu *gpu, const void *data, uint64_t bytes)
{
    wgml_gpu_buf *b = NULL;
    uint64_t padded = (bytes + 3) & ~3ull;
    if (wgml_gpu_buf_create(gpu, padded, "test.input", &b)) return NULL;
    if (padded != bytes) {
        char *tmp = calloc(1, padded);
        if (!tmp) return NULL;
        memcpy(tmp, data, bytes);
        wgml_status st = wgml_gpu_buf_write(gpu, b, 0, tmp, padded);
        free(tmp);
        if (st) return NULL;
    } else if (wgml_gpu_buf_write(gpu, b, 0, data, bytes)) {
        return NULL;
    }
    return b;
}

double test_resident_mib(const char *which)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kib = 0;
    while (fgets(line, sizeof line, f)) {
        bool anon = !strncmp(line, "RssAnon:", 8), shmem = !strncmp(line, "RssShmem:", 9);
        if ((anon && strchr(which, 'a')) || (shmem && strchr(which, 's')))
            kib += atof(line + (anon ? 8 : 9));
    }
    fclose(f);
    return kib / 1024;
}

#if defined(__SANITIZE_ADDRESS__)
static const char LEAK_WHICH[] = "s";
#else
static const char LEAK_WHICH[] = "as";
#endif

const char *test_leak_watch_what(void)
{
    return LEAK_WHICH[1] ? "anonymous + shared" : "shared";
}

int test_leak_watch_round(test_leak_watch *w, wgml_gpu *gpu, int i)
{
    TEST_CHECK(wgml_gpu_pool_bytes(gpu) == 0, "round %d left %llu bytes of buffers", i,
               (unsigned long long)wgml_gpu_pool_bytes(gpu));
    TEST_CHECK(wgml_gpu_restore_hook_count(gpu) == 0, "round %d left %zu restore hooks", i,
               wgml_gpu_restore_hook_count(gpu));
    TEST_OK(gpu, wgml_gpu_wait(gpu));   // let the implementation finish its frees
    double now = test_resident_mib(LEAK_WHICH);
    if (i == 1) w->base = now;
    if (i >= 1 && i < w->rounds - 1 && now > w->peak) w->peak = now;
    if (w->rounds >= 10 && (i + 1) % (w->rounds / 5) == 0)
        printf("after %3d loads: %.1f MiB resident (%s)\n", i + 1, now, test_leak_watch_what());
    return 0;
}

double test_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int test_linear_time(const char *name, double (*run)(void *arg, size_t bytes), void *arg)
{
    const size_t small = (size_t)256 << 10, large = (size_t)2 << 20;
    const double bar = 32.0;
    if (run(arg, large) < 0) return -1;   // untimed: lets the allocator settle
    // Best of three, the two sizes interleaved so that a slow spell hits
    // both; the whole measurement repeated up to three times when a shared
    // machine makes one unlucky (a quadratic step never passes).
    double t1 = 1e30, t2 = 1e30;
    for (int attempt = 0; attempt < 3; attempt++) {
        t1 = t2 = 1e30;
        for (int r = 0; r < 3; r++) {
            double a = run(arg, small), b = run(arg, large);
            if (a < 0 || b < 0) return -1;
            t1 = a < t1 ? a : t1;
            t2 = b < t2 ? b : t2;
        }
        printf("linear: %-20s 256 KiB %8.2f ms, 2 MiB %8.2f ms (x%.2f; linear x8, bar x%.0f)\n",
               name, t1 * 1e3, t2 * 1e3, t2 / t1, bar);
        // 5 ms of slack: the timer and noise at small times.
        if (t2 <= bar * t1 + 5e-3) return 1;
    }
    fprintf(stderr, "%s: eight times the input took x%.2f (linear x8, bar x%.0f)\n", name,
            t2 / t1, bar);
    return 0;
}
