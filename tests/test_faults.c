/*
 * GPU faults: what the device does wrong must come back as a status, and
 * the library must carry on after it.
 *
 *   lost          (GPU layer) after a device loss every call returns
 *                 WGML_ERR_DEVICE_LOST; wgml_gpu_recover brings back buffers,
 *                 pipelines and bind groups in place (buffers zero-filled),
 *                 calls the restore hooks in order, and a failing hook leaves
 *                 the device lost until a later recover succeeds
 *   embed_lost    (public API) embed, lose the device between two calls and
 *                 in the middle of one, embed -> WGML_ERR_DEVICE_LOST,
 *                 wgml_ctx_recover, embed -> the same vectors as before, which
 *                 match sentence-transformers' (tests/data/minilm_embeddings.*)
 *   model_limits  an embedder whose weights exceed the device's buffer limits
 *                 or, in all, its memory (capped for the test) is refused
 *                 before any buffer is made, with the bytes it needs, counted
 *                 here from the file
 *   oom           a buffer the device cannot hold: WGML_ERR_OUT_OF_MEMORY
 *   load_free N   loading and freeing the embedder N times leaves no buffer,
 *                 no restore hook and no memory behind: host heap leaks are
 *                 LeakSanitizer's in test.sh's sanitizer run; here resident
 *                 anonymous + shared memory (device memory on CPU devices)
 *                 must not grow
 *   robustness    out-of-range indices in a kernel (untrusted shapes) read
 *                 zero or a value inside the binding and never write outside
 *                 it: the implementation's bounds checks are on
 *   bad_ids       token ids outside the vocabulary given to the encoder are
 *                 refused with WGML_ERR_INVALID_ARGUMENT (the gather kernel
 *                 itself gives zero rows for them: ops.gather)
 * Model tests are skipped (77) without all-MiniLM-L6-v2.
 */
#include "core/ctx_internal.h"
#include "formats/json.h"
#include "models/bert.h"
#include "formats/safetensors.h"
#include "test_util.h"
#include "wgml.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef WGML_TEST_MODEL_DIR
#error "WGML_TEST_MODEL_DIR must name the all-MiniLM-L6-v2 folder"
#endif
#ifndef WGML_TEST_DATA_DIR
#error "WGML_TEST_DATA_DIR must name tests/data"
#endif

static bool have_model(void)
{
    FILE *f = fopen(WGML_TEST_MODEL_DIR "/model.safetensors", "rb");
    if (f) fclose(f);
    else printf("skip: no model at %s\n", WGML_TEST_MODEL_DIR);
    return f != NULL;
}

#define EXPECT_STATUS(gpu, want, expr)                                              \
    do {                                                                            \
        wgml_status st_ = (expr);                                                   \
        TEST_CHECK(st_ == (want), "%s -> %s, want %s (%s)", #expr,                  \
                   wgml_status_name(st_), wgml_status_name(want),                   \
                   wgml_gpu_last_error(gpu));                                       \
    } while (0)

// ================================================================ the GPU layer

static const char COPY_WGSL[] =
    "struct P { n: u32, add: f32 }\n"
    "@group(0) @binding(0) var<uniform> p: P;\n"
    "@group(0) @binding(1) var<storage, read> x: array<f32>;\n"
    "@group(0) @binding(2) var<storage, read_write> y: array<f32>;\n"
    "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {\n"
    "    if (g.x < p.n) { y[g.x] = x[g.x] + p.add; }\n"
    "}\n";

typedef struct hook_log {
    int calls[2];      // per hook
    int order[8];      // hook ids in call order
    int n;
    bool fail_first;   // hook 0 fails (once)
    wgml_gpu_buf *x;   // hook 0 writes x's contents back
    const float *x_data;
    size_t x_n;
} hook_log;

static wgml_status hook0(void *user, wgml_gpu *gpu)
{
    hook_log *h = user;
    h->calls[0]++;
    if (h->n < 8) h->order[h->n++] = 0;
    if (h->fail_first) {
        h->fail_first = false;
        return wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "hook 0: the file went away");
    }
    return wgml_gpu_buf_write(gpu, h->x, 0, h->x_data, 4 * h->x_n);
}

static wgml_status hook1(void *user, wgml_gpu *gpu)
{
    (void)gpu;
    hook_log *h = user;
    h->calls[1]++;
    if (h->n < 8) h->order[h->n++] = 1;
    return WGML_OK;
}

// One run of the copy kernel through its bind group; y must be x + add.
static int run_group(wgml_gpu *gpu, wgml_gpu_group *grp, wgml_gpu_buf *y, const float *x,
                     size_t n, float add)
{
    TEST_OK(gpu, wgml_gpu_dispatch_group(gpu, grp, (uint32_t)((n + 63) / 64), 1, 1));
    float *out = malloc(4 * n);
    TEST_CHECK(out, "out of memory");
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, y, 0, out, 4 * n));
    for (size_t i = 0; i < n; i++)
        TEST_CHECK(out[i] == x[i] + add, "y[%zu] = %g, want %g", i, out[i], x[i] + add);
    free(out);
    return 0;
}

static int test_lost(wgml_gpu *gpu)
{
    enum { N = 1000 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)i * 0.5f - 7.0f;
    wgml_gpu_buf *bx, *by, *other;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "x", &bx));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "y", &by));
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, bx, 0, x, sizeof x));
    wgml_gpu_kernel k = {.source = COPY_WGSL};
    wgml_gpu_pipeline *pipe;
    TEST_OK(gpu, wgml_gpu_pipeline_get(gpu, &k, &pipe));
    struct { uint32_t n; float add; } params = {N, 2.5f};
    wgml_gpu_binding binds[2] = {{.buf = bx}, {.buf = by}};
    wgml_gpu_group *grp;
    TEST_OK(gpu, wgml_gpu_group_create(gpu, pipe, &params, sizeof params, binds, 2, &grp));
    if (run_group(gpu, grp, by, x, N, 2.5f)) return 1;
    hook_log log = {.fail_first = true, .x = bx, .x_data = x, .x_n = N};
    TEST_OK(gpu, wgml_gpu_restore_hook_add(gpu, hook0, &log));
    TEST_OK(gpu, wgml_gpu_restore_hook_add(gpu, hook1, &log));
    TEST_OK(gpu, wgml_gpu_recover(gpu));   // nothing lost: nothing to do
    TEST_CHECK(log.n == 0, "recover without a loss called the hooks");

    // A run recorded but not submitted when the device goes.
    TEST_OK(gpu, wgml_gpu_dispatch_group(gpu, grp, (N + 63) / 64, 1, 1));
    wgml_gpu_debug_lose_device(gpu);
    TEST_CHECK(wgml_gpu_lost(gpu), "the loss was not recorded");
    float back[N];
    memset(back, 0x7f, sizeof back);
    wgml_gpu_buf *b2 = (wgml_gpu_buf *)1;
    wgml_gpu_pipeline *p2 = (wgml_gpu_pipeline *)1;
    wgml_gpu_group *g2 = (wgml_gpu_group *)1;
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_submit(gpu, NULL));
    printf("after the loss: %s\n", wgml_gpu_last_error(gpu));
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_buf_read(gpu, by, 0, back, sizeof back));
    TEST_CHECK(back[0] != back[0] || back[0] > 1e38f, "a failed read wrote into the output");
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_buf_write(gpu, bx, 0, x, sizeof x));
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_buf_create(gpu, 64, "after", &b2));
    TEST_CHECK(b2 == NULL, "buffer handle not cleared");
    wgml_gpu_kernel k2 = {.source = COPY_WGSL, .entry = "main",
                          .constants = NULL, .n_constants = 0, .prelude = "// another\n"};
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_pipeline_get(gpu, &k2, &p2));
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST,
                  wgml_gpu_group_create(gpu, pipe, &params, sizeof params, binds, 2, &g2));
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_dispatch_group(gpu, grp, 1, 1, 1));
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_begin(gpu, false));
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_wait(gpu));
    TEST_CHECK(strstr(wgml_gpu_last_error(gpu), "device lost"), "message: %s",
               wgml_gpu_last_error(gpu));

    // The first recovery fails in hook 0: the device stays lost, hook 1 is not called.
    wgml_status st = wgml_gpu_recover(gpu);
    printf("recover with a failing hook: %s: %s\n", wgml_status_name(st), wgml_gpu_last_error(gpu));
    TEST_CHECK(st == WGML_ERR_BAD_FILE, "recover returned %s, want the hook's bad file",
               wgml_status_name(st));
    TEST_CHECK(strstr(wgml_gpu_last_error(gpu), "the file went away"), "hook's reason lost");
    TEST_CHECK(wgml_gpu_lost(gpu), "a failed recovery left the device usable");
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_buf_read(gpu, by, 0, back, sizeof back));
    TEST_CHECK(log.calls[0] == 1 && log.calls[1] == 0, "hooks called %d and %d times",
               log.calls[0], log.calls[1]);

    // The second succeeds: hooks in registration order, handles valid again.
    TEST_OK(gpu, wgml_gpu_recover(gpu));
    TEST_CHECK(!wgml_gpu_lost(gpu), "still lost after a recovery");
    TEST_CHECK(log.n == 3 && log.order[1] == 0 && log.order[2] == 1, "hook order %d %d (%d calls)",
               log.order[1], log.order[2], log.n);
    // y was not restored by any hook: it comes back zero-filled, not stale.
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, by, 0, back, sizeof back));
    for (int i = 0; i < N; i++) TEST_CHECK(back[i] == 0.0f, "y[%d] = %g after recovery", i, back[i]);
    // x was restored by hook 0; the old group, pipeline and buffers run again.
    if (run_group(gpu, grp, by, x, N, 2.5f)) return 1;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 64, "after", &other));
    wgml_gpu_buf_release(gpu, other);

    // A loss while a run is in flight: the next readback reports it.
    wgml_gpu_debug_lose_after_submits(gpu, 1);
    TEST_OK(gpu, wgml_gpu_dispatch_group(gpu, grp, (N + 63) / 64, 1, 1));
    st = wgml_gpu_submit(gpu, NULL);
    TEST_CHECK(st == WGML_OK || st == WGML_ERR_DEVICE_LOST, "submit: %s", wgml_status_name(st));
    EXPECT_STATUS(gpu, WGML_ERR_DEVICE_LOST, wgml_gpu_buf_read(gpu, by, 0, back, sizeof back));
    wgml_gpu_restore_hook_remove(gpu, hook1, &log);
    TEST_OK(gpu, wgml_gpu_recover(gpu));
    TEST_CHECK(log.calls[0] == 3 && log.calls[1] == 1, "after removing hook 1: %d, %d calls",
               log.calls[0], log.calls[1]);
    if (run_group(gpu, grp, by, x, N, 2.5f)) return 1;

    wgml_gpu_restore_hook_remove(gpu, hook0, &log);
    wgml_gpu_group_free(gpu, grp);
    wgml_gpu_buf_release(gpu, bx);
    wgml_gpu_buf_release(gpu, by);
    printf("ok   device loss: DEVICE_LOST everywhere, recovery in place, hooks in order\n");
    return 0;
}

// ================================================================ the public API

typedef struct refdata {
    char **texts;
    size_t n;
    uint32_t dim;
    float *expected;   // (n, dim) sentence-transformers
} refdata;

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[size] = 0;
    *len = (size_t)size;
    return buf;
}

// The first `want` texts of tests/data/minilm_embeddings.* (see test_bert.c).
static int refdata_load(refdata *r, size_t want)
{
    size_t len, blen;
    char *text = read_all(WGML_TEST_DATA_DIR "/minilm_embeddings.jsonl", &len);
    char *bin = read_all(WGML_TEST_DATA_DIR "/minilm_embeddings.bin", &blen);
    TEST_CHECK(text && bin, "cannot read tests/data/minilm_embeddings.*");
    r->texts = calloc(want, sizeof *r->texts);
    TEST_CHECK(r->texts, "out of memory");
    int line = 0;
    for (char *s = text; *s && r->n < want; line++) {
        char *end = strchr(s, '\n');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        wgml_json_doc *doc;
        char err[256];
        TEST_CHECK(wgml_json_parse(s, n, NULL, &doc, err, sizeof err) == WGML_OK, "line %d: %s",
                   line + 1, err);
        const wgml_json *j = wgml_json_root(doc);
        if (line == 0) {
            int64_t dim;
            TEST_CHECK(wgml_json_int64(wgml_json_get(j, "dim"), &dim), "header: no dim");
            r->dim = (uint32_t)dim;
        } else {
            size_t tl;
            const char *t = wgml_json_string(wgml_json_get(j, "text"), &tl);
            TEST_CHECK(t, "line %d: no text", line + 1);
            r->texts[r->n] = malloc(tl + 1);
            memcpy(r->texts[r->n], t, tl + 1);
            r->n++;
        }
        wgml_json_free(doc);
        s += n + (end ? 1 : 0);
    }
    free(text);
    TEST_CHECK(r->n == want && blen >= r->n * r->dim * 4, "test data too short");
    r->expected = (float *)bin;
    return 0;
}

static void refdata_free(refdata *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->texts[i]);
    free(r->texts);
    free(r->expected);
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

// Every vector against sentence-transformers' (f32 weights: cosine >= 0.9999,
// as bert.reference requires).
static int check_reference(const refdata *r, const float *v, const char *when)
{
    double worst = 1;
    for (size_t i = 0; i < r->n; i++) {
        double c = cosine(v + i * r->dim, r->expected + i * r->dim, r->dim);
        if (c < worst) worst = c;
    }
    printf("%s: worst cosine with sentence-transformers %.7f over %zu texts\n", when, worst, r->n);
    TEST_CHECK(worst >= 0.9999, "%s: cosine %.7f < 0.9999", when, worst);
    return 0;
}

static int test_embed_lost(void)
{
    enum { N_TEXTS = 12 };
    refdata r = {0};
    if (refdata_load(&r, N_TEXTS)) return 1;
    wgml_ctx *ctx = test_ctx_create();
    wgml_gpu *gpu = ctx->gpu;
    // Batches of 4: a call over 12 texts makes several runs, so the device can
    // go in the middle of one.
    wgml_embedder_params p = {.precision = WGML_PRECISION_F32, .max_batch = 4};
    wgml_embedder *e;
    TEST_CTX_OK(ctx, wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &e));
    TEST_CHECK(wgml_embedder_dim(e) == r.dim, "dim %u", wgml_embedder_dim(e));
    size_t nv = (size_t)N_TEXTS * r.dim;
    float *before = malloc(4 * nv), *after = malloc(4 * nv);
    TEST_CHECK(before && after, "out of memory");
    const char *const *texts = (const char *const *)r.texts;
    TEST_CTX_OK(ctx, wgml_embed(e, texts, NULL, N_TEXTS, before));
    if (check_reference(&r, before, "before the loss")) return 1;

    // Lost between two calls.
    TEST_CHECK(!wgml_ctx_device_lost(ctx), "lost before the loss");
    wgml_gpu_debug_lose_device(gpu);
    TEST_CHECK(wgml_ctx_device_lost(ctx), "wgml_ctx_device_lost is false after a loss");
    for (size_t i = 0; i < nv; i++) after[i] = NAN;
    wgml_status st = wgml_embed(e, texts, NULL, N_TEXTS, after);
    printf("embed after the loss: %s: %s\n", wgml_status_name(st), wgml_ctx_last_error(ctx));
    TEST_CHECK(st == WGML_ERR_DEVICE_LOST, "embed on a lost device: %s", wgml_status_name(st));
    st = wgml_embed(e, texts, NULL, 1, after);
    TEST_CHECK(st == WGML_ERR_DEVICE_LOST, "a second embed: %s", wgml_status_name(st));
    TEST_CTX_OK(ctx, wgml_ctx_recover(ctx));
    TEST_CHECK(!wgml_ctx_device_lost(ctx), "still lost after wgml_ctx_recover");
    TEST_CTX_OK(ctx, wgml_embed(e, texts, NULL, N_TEXTS, after));
    double diff = 0;
    for (size_t i = 0; i < nv; i++) diff = fmax(diff, fabs((double)after[i] - before[i]));
    printf("after recovery: largest difference from before %.3g\n", diff);
    TEST_CHECK(diff <= 1e-6, "vectors after recovery differ by %g", diff);
    if (check_reference(&r, after, "after recovery")) return 1;

    // Lost in the middle of a call: after the second batch's submit.
    wgml_gpu_debug_lose_after_submits(gpu, 2);
    for (size_t i = 0; i < nv; i++) after[i] = NAN;
    uint64_t submits = wgml_gpu_submit_count(gpu);
    st = wgml_embed(e, texts, NULL, N_TEXTS, after);
    printf("embed losing the device after %llu of its runs: %s: %s\n",
           (unsigned long long)(wgml_gpu_submit_count(gpu) - submits), wgml_status_name(st),
           wgml_ctx_last_error(ctx));
    TEST_CHECK(st == WGML_ERR_DEVICE_LOST, "embed losing the device: %s", wgml_status_name(st));
    TEST_CHECK(wgml_gpu_submit_count(gpu) - submits == 2, "the loss came after %llu runs",
               (unsigned long long)(wgml_gpu_submit_count(gpu) - submits));
    TEST_CTX_OK(ctx, wgml_ctx_recover(ctx));
    TEST_CTX_OK(ctx, wgml_embed(e, texts, NULL, N_TEXTS, after));
    diff = 0;
    for (size_t i = 0; i < nv; i++) diff = fmax(diff, fabs((double)after[i] - before[i]));
    printf("after the second recovery: largest difference from before %.3g\n", diff);
    TEST_CHECK(diff <= 1e-6, "vectors after recovery differ by %g", diff);

    // A second embedder on the same context comes back too.
    wgml_embedder *e2;
    TEST_CTX_OK(ctx, wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &e2));
    wgml_gpu_debug_lose_device(gpu);
    TEST_CTX_OK(ctx, wgml_ctx_recover(ctx));
    TEST_CTX_OK(ctx, wgml_embed(e2, texts, NULL, N_TEXTS, after));
    diff = 0;
    for (size_t i = 0; i < nv; i++) diff = fmax(diff, fabs((double)after[i] - before[i]));
    TEST_CHECK(diff <= 1e-6, "second embedder after recovery differs by %g", diff);
    wgml_embedder_free(e2);
    TEST_CTX_OK(ctx, wgml_embed(e, texts, NULL, N_TEXTS, after));
    wgml_embedder_free(e);
    free(before);
    free(after);
    wgml_ctx_free(ctx);
    refdata_free(&r);
    printf("ok   embedder: DEVICE_LOST between and during calls, recovered, same vectors\n");
    return 0;
}

// ================================================================ model limits

// What wgml uploads, counted from the file rather than from config.json: the
// embeddings and encoder weights (f32, 4 bytes a value), token type 0 only;
// not the integer position_ids buffer some files carry.
static int file_weight_bytes(uint64_t *total, uint64_t *largest)
{
    wgml_safetensors *st;
    char err[256];
    TEST_CHECK(wgml_safetensors_open_file(WGML_TEST_MODEL_DIR "/model.safetensors", &st, err,
                                          sizeof err) == WGML_OK, "%s", err);
    *total = *largest = 0;
    for (size_t i = 0; i < wgml_safetensors_count(st); i++) {
        const wgml_safetensors_tensor *t = wgml_safetensors_tensor_at(st, i);
        const char *name = t->name;
        if (!strncmp(name, "bert.", 5)) name += 5;
        if (strncmp(name, "embeddings.", 11) && strncmp(name, "encoder.", 8)) continue;
        if (t->dtype != WGML_ST_F32 && t->dtype != WGML_ST_F16 && t->dtype != WGML_ST_BF16) continue;
        uint64_t n = t->n_elements;
        if (strstr(name, "token_type_embeddings")) n = t->shape[1];
        *total += 4 * n;
        if (4 * n > *largest) *largest = 4 * n;
    }
    wgml_safetensors_close(st);
    return 0;
}

static int test_model_limits(void)
{
    uint64_t total, largest;
    if (file_weight_bytes(&total, &largest)) return 1;
    wgml_ctx *ctx = test_ctx_create();
    wgml_gpu *gpu = ctx->gpu;
    wgml_embedder_params p = {.precision = WGML_PRECISION_F32};
    // The largest weight (the word embeddings) one byte over each limit in turn.
    static const char *limit_names[2] = {"maxStorageBufferBindingSize", "maxBufferSize"};
    for (int k = 0; k < 2; k++) {
        uint64_t cap = largest - 4;
        wgml_gpu_debug_cap_limits(gpu, k ? cap : 0, k ? 0 : cap);
        uint64_t made = wgml_gpu_buffers_created(gpu), bytes = wgml_gpu_pool_bytes(gpu);
        wgml_embedder *e = (wgml_embedder *)1;
        wgml_status st = wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &e);
        const char *msg = wgml_ctx_last_error(ctx);
        printf("%s capped to %llu: %s: %s\n", limit_names[k], (unsigned long long)cap,
               wgml_status_name(st), msg);
        TEST_CHECK(st == WGML_ERR_OUT_OF_MEMORY && e == NULL, "got %s", wgml_status_name(st));
        TEST_CHECK(wgml_gpu_buffers_created(gpu) == made && wgml_gpu_pool_bytes(gpu) == bytes,
                   "%llu buffers were made before the refusal",
                   (unsigned long long)(wgml_gpu_buffers_created(gpu) - made));
        char want[64];
        snprintf(want, sizeof want, "needs %llu bytes", (unsigned long long)total);
        TEST_CHECK(strstr(msg, want), "message does not say '%s'", want);
        snprintf(want, sizeof want, "%llu bytes", (unsigned long long)largest);
        TEST_CHECK(strstr(msg, want), "message does not give the largest weight's %s", want);
        TEST_CHECK(strstr(msg, limit_names[k]), "message does not name %s", limit_names[k]);
        TEST_CHECK(strstr(msg, "word_embeddings"), "message does not name the weight");
    }
    // More than the device's memory in all: refused, with the bytes it needs.
    wgml_gpu_debug_cap_limits(gpu, 0, 0);
    wgml_gpu_debug_cap_memory(gpu, total - 4);
    uint64_t made = wgml_gpu_buffers_created(gpu);
    wgml_embedder *small = (wgml_embedder *)1;
    wgml_status st = wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &small);
    printf("device memory capped to %llu: %s: %s\n", (unsigned long long)(total - 4),
           wgml_status_name(st), wgml_ctx_last_error(ctx));
    TEST_CHECK(st == WGML_ERR_OUT_OF_MEMORY && small == NULL, "got %s", wgml_status_name(st));
    TEST_CHECK(wgml_gpu_buffers_created(gpu) == made, "buffers were made before the refusal");
    char want[64];
    snprintf(want, sizeof want, "needs %llu bytes", (unsigned long long)total);
    TEST_CHECK(strstr(wgml_ctx_last_error(ctx), want), "message does not say '%s'", want);
    wgml_gpu_debug_cap_memory(gpu, 0);
    // At the limit it loads (and f16 Linear weights change nothing: the
    // largest weight is the f32 embedding table).
    wgml_gpu_debug_cap_limits(gpu, 0, largest);
    wgml_embedder *e = NULL;
    TEST_CTX_OK(ctx, wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &e));
    wgml_embedder_free(e);
    wgml_ctx_free(ctx);
    printf("ok   a model over the device limits is refused before upload (%llu bytes, largest %llu)\n",
           (unsigned long long)total, (unsigned long long)largest);
    return 0;
}

// ================================================================ load and free

static int test_load_free(int count)
{
    wgml_ctx *ctx = test_ctx_create();
    wgml_gpu *gpu = ctx->gpu;
    const char *text = "Loading and freeing must leave nothing behind.";
    float first[384], v[384];
    test_leak_watch w = {.rounds = count};
    for (int i = 0; i < count; i++) {
        wgml_embedder *e;
        TEST_CTX_OK(ctx, wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, NULL, &e));
        TEST_CHECK(wgml_embedder_dim(e) == 384, "dim");
        // Embed on the first and the last load only: loads with no run in
        // between are what kept the memory of freed weights alive (uploads
        // still queued held their buffers until a submit).
        if (i == 0 || i == count - 1) {
            TEST_CTX_OK(ctx, wgml_embed(e, &text, NULL, 1, i == 0 ? first : v));
            if (i) TEST_CHECK(!memcmp(first, v, sizeof v), "the last load embeds differently");
        }
        wgml_embedder_free(e);
        if (test_leak_watch_round(&w, gpu, i)) return 1;
    }
    double grew = w.peak - w.base;
    printf("load_free: %d loads; %.1f MiB after the second, at most %.1f MiB up to the one "
           "before last (+%.1f MiB)\n", count, w.base, w.peak, grew);
    // The weights are 69-90 MiB a load: a load whose memory stays behind
    // shows within two loads; a slow leak of 1.3 MiB a load shows over 100.
    // The implementations' own caches and deferred frees move it by up to
    // about 50 MiB.
    TEST_CHECK(count < 4 || grew < 128.0, "resident memory grew %.1f MiB over %d loads", grew,
               count - 3);
    wgml_ctx_free(ctx);
    printf("ok   %d loads and frees of the embedder\n", count);
    return 0;
}

// ================================================================ out of memory

// The largest buffer the device promises (maxBufferSize, at most 1 TiB):
// refused as WGML_ERR_OUT_OF_MEMORY where the device cannot hold it, and the
// device goes on working. What each implementation does (docs/notes.md):
//   SwiftShader, Dawn:        1 GiB -> VK_ERROR_OUT_OF_DEVICE_MEMORY, Dawn's
//                             out-of-memory error -> WGML_ERR_OUT_OF_MEMORY
//   SwiftShader, wgpu-native: 1 GiB -> a *validation* error "Not enough memory
//                             left" -> WGML_ERR_OUT_OF_MEMORY (gpu_native.c maps it)
//   lavapipe, both:           4 GiB (Dawn) / 2 GiB (wgpu-native) are given: the
//                             driver commits memory lazily, so a buffer under
//                             maxBufferSize cannot run out; skipped (77)
static int test_oom(wgml_gpu *gpu)
{
    uint64_t size = wgml_gpu_info(gpu)->max_buffer_size;
    if (size > (1ull << 40)) size = 1ull << 40;
    size &= ~3ull;
    wgml_gpu_buf *b = NULL;
    wgml_status st = wgml_gpu_buf_create(gpu, size, "oom.largest", &b);
    printf("a buffer of maxBufferSize, %llu bytes: %s%s%s\n", (unsigned long long)size,
           wgml_status_name(st), st ? ": " : "", st ? wgml_gpu_last_error(gpu) : "");
    TEST_CHECK(st == WGML_OK || st == WGML_ERR_OUT_OF_MEMORY,
               "the largest buffer gave %s, neither a buffer nor out-of-memory",
               wgml_status_name(st));
    if (st == WGML_OK) {
        wgml_gpu_buf_release(gpu, b);
        wgml_gpu_pool_trim(gpu);
        printf("skip: the device gave all of maxBufferSize (memory committed lazily): "
               "out-of-memory cannot be provoked with one buffer here\n");
        return TEST_SKIP;
    }
    TEST_CHECK(b == NULL, "a refused buffer came back");
    TEST_CHECK(strstr(wgml_gpu_last_error(gpu), "oom.largest"), "message does not name the buffer");
    // The device is fine afterwards.
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "after", &b));
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, b, 0, x, sizeof x));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, b, 0, y, sizeof y));
    TEST_CHECK(!memcmp(x, y, sizeof x), "device unusable after out-of-memory");
    wgml_gpu_buf_release(gpu, b);
    TEST_CHECK(!wgml_gpu_lost(gpu), "out-of-memory lost the device");
    printf("ok   out-of-memory comes back as WGML_ERR_OUT_OF_MEMORY\n");
    return 0;
}

// ================================================================ robustness

// Indices from untrusted data: a load past a binding must give zero or a
// value inside that binding (WGSL's rule for out-of-bounds accesses), and a
// store past it must land inside the binding or nowhere. Dawn's robustness
// (Tint clamps indices) and naga's bounds checks (wgpu-native) do this when
// they are on: always on wgpu-native, on Dawn when the device is asked for
// bounds checks (wgml turns Dawn's robustness off by default for speed; its
// kernels check their own indices). This test asks for them and checks the
// device reports them. The binding sits between two guard regions of
// distinct values in one buffer, so a read or write past it would show.
static const char OOB_WGSL[] =
    "@group(0) @binding(1) var<storage, read_write> x: array<f32>;\n"
    "@group(0) @binding(2) var<storage, read> idx: array<u32>;\n"
    "@group(0) @binding(3) var<storage, read_write> o: array<f32>;\n"
    "var<private> t: array<f32, 8> = array<f32, 8>(1., 2., 3., 4., 5., 6., 7., 8.);\n"
    "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {\n"
    "    let n = arrayLength(&idx);\n"
    "    if (g.x >= n) { return; }\n"
    "    let i = idx[g.x];\n"
    "    o[g.x] = x[i];\n"
    "    o[n + g.x] = t[i];\n"
    "    o[2u * n + g.x] = x[i32(i)];\n"
    "}\n";

static const char OOB_STORE_WGSL[] =
    "@group(0) @binding(1) var<storage, read_write> x: array<f32>;\n"
    "@group(0) @binding(2) var<storage, read> idx: array<u32>;\n"
    "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {\n"
    "    if (g.x >= arrayLength(&idx)) { return; }\n"
    "    let i = idx[g.x];\n"
    "    if (i >= 64u) { x[i] = 12345.0; }\n"
    "}\n";

static int test_robustness(wgml_gpu *gpu)
{
    TEST_CHECK(wgml_gpu_info(gpu)->bounds_checks, "bounds checks asked for but not reported on");
    enum { GUARD = 256, PAYLOAD = 64 };   // floats; 256 floats = 1 KiB keeps the binding aligned
    const uint32_t idx[] = {0, 5, 63, 64, 65, 100, 255, 256, 1000, 100000, 0x3fffffffu,
                            0x7fffffffu, 0x80000000u, 0xfffffff0u, 0xffffffffu, 7, 8, 9};
    const uint32_t n = sizeof idx / sizeof idx[0];
    uint32_t align = wgml_gpu_info(gpu)->min_storage_buffer_offset_alignment;
    TEST_CHECK(4 * GUARD % align == 0, "guard of %d bytes is not a multiple of %u", 4 * GUARD,
               align);
    float host[GUARD + PAYLOAD + GUARD];
    for (int i = 0; i < GUARD; i++) host[i] = -1000.0f - (float)i;                  // guard A
    for (int i = 0; i < PAYLOAD; i++) host[GUARD + i] = 0.5f + (float)i;            // payload
    for (int i = 0; i < GUARD; i++) host[GUARD + PAYLOAD + i] = -5000.0f - (float)i;  // guard B
    wgml_gpu_buf *bx = test_upload(gpu, host, sizeof host);
    wgml_gpu_buf *bi = test_upload(gpu, idx, sizeof idx);
    wgml_gpu_buf *bo;
    TEST_CHECK(bx && bi, "upload: %s", wgml_gpu_last_error(gpu));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 3 * 4 * n, "oob.out", &bo));
    wgml_gpu_binding binds[3] = {{.buf = bx, .offset = 4 * GUARD, .size = 4 * PAYLOAD},
                                 {.buf = bi, .size = sizeof idx}, {.buf = bo, .size = 3 * 4 * n}};
    wgml_gpu_kernel k = {.source = OOB_WGSL};
    wgml_gpu_pipeline *p;
    TEST_OK(gpu, wgml_gpu_pipeline_get(gpu, &k, &p));
    TEST_OK(gpu, wgml_gpu_dispatch(gpu, p, NULL, 0, binds, 3, 1, 1, 1));
    float out[3 * sizeof idx / sizeof idx[0]];
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, bo, 0, out, sizeof out));
    int clamped = 0, zeros = 0;
    for (uint32_t j = 0; j < n; j++) {
        for (int part = 0; part < 3; part += 2) {   // x[u32], x[i32]
            float v = out[part * n + j];
            bool inside = false;
            for (int i = 0; i < PAYLOAD; i++) inside |= v == host[GUARD + i];
            TEST_CHECK(inside || v == 0.0f, "x[%s 0x%x] read %g: outside the binding",
                       part ? "i32" : "u32", idx[j], v);
            bool in_range = part ? (int32_t)idx[j] >= 0 && (int32_t)idx[j] < PAYLOAD
                                 : idx[j] < PAYLOAD;
            if (in_range) TEST_CHECK(v == host[GUARD + idx[j]], "x[%u] read %g", idx[j], v);
            else if (v == 0.0f) zeros++;
            else clamped++;
        }
        float t = out[n + j];
        TEST_CHECK((t >= 1 && t <= 8 && t == floorf(t)) || t == 0.0f, "t[0x%x] read %g", idx[j], t);
        if (idx[j] < 8) TEST_CHECK(t == (float)(idx[j] + 1), "t[%u] read %g", idx[j], t);
    }
    // Stores past the binding: the guards stay as they were.
    wgml_gpu_kernel ks = {.source = OOB_STORE_WGSL};
    TEST_OK(gpu, wgml_gpu_pipeline_get(gpu, &ks, &p));
    TEST_OK(gpu, wgml_gpu_dispatch(gpu, p, NULL, 0, binds, 2, 1, 1, 1));
    float after[GUARD + PAYLOAD + GUARD];
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, bx, 0, after, sizeof after));
    int inside_writes = 0;
    for (int i = 0; i < GUARD + PAYLOAD + GUARD; i++) {
        bool payload = i >= GUARD && i < GUARD + PAYLOAD;
        if (payload && after[i] == 12345.0f) inside_writes++;
        else TEST_CHECK(after[i] == host[i], "float %d (%s) changed to %g by a store past the "
                        "binding", i, payload ? "payload" : "guard", after[i]);
    }
    printf("robustness: out-of-range loads gave %d clamped values and %d zeros; out-of-range "
           "stores changed %d floats inside the binding and none outside\n", clamped, zeros,
           inside_writes);
    wgml_gpu_buf_release(gpu, bx);
    wgml_gpu_buf_release(gpu, bi);
    wgml_gpu_buf_release(gpu, bo);
    printf("ok   bounds checks are on: nothing read or written outside a binding\n");
    return 0;
}

// ================================================================ token ids

static int test_bad_ids(void)
{
    wgml_gpu *gpu = test_gpu_create();
    wgml_bert *m;
    TEST_OK(gpu, wgml_bert_load(gpu, WGML_TEST_MODEL_DIR, false, &m));
    uint32_t V = wgml_bert_config_of(m)->vocab_size, D = wgml_bert_config_of(m)->hidden_size;
    int32_t mask[4] = {1, 1, 1, 1};
    float *out = malloc(4ull * D);
    TEST_CHECK(out, "out of memory");
    const int32_t bad[][4] = {{101, (int32_t)V, 102, 0}, {101, -1, 102, 0},
                              {101, INT32_MIN, 102, 0}, {101, INT32_MAX, 102, 0}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        wgml_status st = wgml_bert_embed_ids(m, bad[k], mask, 1, 4, out, NULL);
        TEST_CHECK(st == WGML_ERR_INVALID_ARGUMENT, "id %d: %s", bad[k][1], wgml_status_name(st));
        TEST_CHECK(strstr(wgml_gpu_last_error(gpu), "outside the vocabulary"), "id %d: message %s",
                   bad[k][1], wgml_gpu_last_error(gpu));
    }
    const int32_t good[4] = {101, (int32_t)V - 1, 102, 0};
    TEST_OK(gpu, wgml_bert_embed_ids(m, good, mask, 1, 4, out, NULL));
    for (uint32_t i = 0; i < D; i++) TEST_CHECK(isfinite(out[i]), "value %u is %g", i, out[i]);
    free(out);
    wgml_bert_free(m);
    wgml_gpu_free(gpu);
    printf("ok   ids outside the vocabulary refused; the last id embeds\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_faults lost|embed_lost|model_limits|oom|load_free N|"
                        "robustness|bad_ids\n");
        return 2;
    }
    const char *t = argv[1];
    if (!strcmp(t, "embed_lost")) return have_model() ? test_embed_lost() : TEST_SKIP;
    if (!strcmp(t, "model_limits")) return have_model() ? test_model_limits() : TEST_SKIP;
    if (!strcmp(t, "bad_ids")) return have_model() ? test_bad_ids() : TEST_SKIP;
    if (!strcmp(t, "load_free"))
        return have_model() ? test_load_free(argc > 2 ? atoi(argv[2]) : 100) : TEST_SKIP;
    wgml_gpu_options with_checks = {.bounds_checks = true};
    wgml_gpu *gpu = test_gpu_create_with(!strcmp(t, "robustness") ? &with_checks : NULL);
    int rc;
    if (!strcmp(t, "lost")) rc = test_lost(gpu);
    else if (!strcmp(t, "oom")) rc = test_oom(gpu);
    else if (!strcmp(t, "robustness")) rc = test_robustness(gpu);
    else {
        fprintf(stderr, "unknown test '%s'\n", t);
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
