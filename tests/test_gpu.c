// The GPU layer itself: buffer pool, readback, many dispatches in one submit,
// the uniform arena past one chunk, timestamps, every kernel compiling, and
// the capabilities it reports.
#include "kernels/kernels.h"
#include "models/sampler.h"
#include "ops/gemv.h"
#include "ops/matmul_sgm.h"
#include "ops/reference.h"
#include "ops/templates.h"
#include "ops/decoder.h"
#include "test_util.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int test_pool(wgml_gpu *gpu)
{
    wgml_gpu_buf *a, *b, *c;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1000, "a", &a));
    uint64_t held = wgml_gpu_pool_bytes(gpu);
    wgml_gpu_buf_release(gpu, a);
    // Same size class: the released buffer comes back, nothing new is allocated.
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 900, "b", &b));
    TEST_CHECK(b == a, "a buffer of the same size class was not reused");
    TEST_CHECK(wgml_gpu_pool_bytes(gpu) == held, "pool grew on reuse");
    TEST_CHECK(wgml_gpu_buf_size(b) == 900, "size not updated on reuse");
    // A different class is a new buffer.
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 5000, "c", &c));
    TEST_CHECK(c != b, "different size classes shared a buffer");
    wgml_gpu_buf_release(gpu, b);
    wgml_gpu_buf_release(gpu, c);
    wgml_gpu_pool_trim(gpu);
    TEST_CHECK(wgml_gpu_pool_bytes(gpu) == 0, "trim left %llu bytes",
               (unsigned long long)wgml_gpu_pool_bytes(gpu));
    printf("ok   pool reuse and trim\n");
    return 0;
}

static int test_readback(wgml_gpu *gpu)
{
    enum { N = 100003 };   // odd count, several size classes
    uint32_t *x = malloc(4 * N), *y = malloc(4 * N);
    TEST_CHECK(x && y, "out of memory");
    for (uint32_t i = 0; i < N; i++) x[i] = i * 2654435761u;
    wgml_gpu_buf *b = test_upload(gpu, x, 4 * N);
    TEST_CHECK(b, "upload: %s", wgml_gpu_last_error(gpu));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, b, 0, y, 4 * N));
    TEST_CHECK(!memcmp(x, y, 4 * N), "round trip changed the data");
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, b, 4 * 1000, y, 4 * 10));
    TEST_CHECK(!memcmp(x + 1000, y, 40), "offset read returned the wrong words");
    wgml_gpu_buf_release(gpu, b);
    free(x); free(y);
    printf("ok   upload/readback round trip\n");
    return 0;
}

// k dispatches in one run, each scaling the previous output: checks ordering
// between dispatches of one pass and that every dispatch got its own params.
static int scale_chain(wgml_gpu *gpu, int k)
{
    enum { N = 1000 };
    float x[N], ref[N], y[N];
    test_fill_uniform(x, N, -1.f, 1.f, (uint64_t)k);
    memcpy(ref, x, sizeof x);
    wgml_gpu_buf *a = test_upload(gpu, x, sizeof x), *b;
    TEST_CHECK(a, "upload: %s", wgml_gpu_last_error(gpu));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "chain", &b));
    TEST_OK(gpu, wgml_gpu_begin(gpu, false));
    wgml_gpu_buf *src = a, *dst = b;
    for (int i = 0; i < k; i++) {
        // Alternate factors whose product over a cycle is ~1, so values stay
        // normal (no denormal flushing) and each params slot matters.
        float s = (i % 3 == 0) ? 1.5f : (i % 3 == 1) ? 0.5f : 1.3333334f;
        wgml_ref_unary(WGML_UNARY_SCALE, ref, ref, N, s);
        TEST_OK(gpu, wgml_op_unary(gpu, WGML_UNARY_SCALE, (wgml_view){src, 0},
                                   (wgml_view){dst, 0}, N, s));
        wgml_gpu_buf *t = src; src = dst; dst = t;
    }
    TEST_CHECK(wgml_gpu_pending_dispatches(gpu) == (uint32_t)k, "pending %u, expected %d",
               wgml_gpu_pending_dispatches(gpu), k);
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, src, 0, y, sizeof y));
    double e = test_nmse(y, ref, N);
    TEST_CHECK(e < 1e-10, "chain of %d dispatches: nmse %.3g", k, e);
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    printf("ok   %d dependent dispatches in one submit (nmse %.1e)\n", k, e);
    return 0;
}

// Runs `k` scale dispatches ping-ponging between a and b (a holds x), with
// factors from `seed`; checks the result against the reference.
static int scale_run(wgml_gpu *gpu, wgml_gpu_buf *a, wgml_gpu_buf *b, const float *x, int n,
                     int k, int seed)
{
    float *ref = malloc(4 * n), *y = malloc(4 * n);
    TEST_CHECK(ref && y, "out of memory");
    memcpy(ref, x, 4 * n);
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, a, 0, x, 4 * n));
    wgml_gpu_buf *src = a, *dst = b;
    for (int i = 0; i < k; i++) {
        float s = ((i + seed) % 3 == 0) ? 1.5f : ((i + seed) % 3 == 1) ? 0.5f : 1.3333334f;
        wgml_ref_unary(WGML_UNARY_SCALE, ref, ref, n, s);
        TEST_OK(gpu, wgml_op_unary(gpu, WGML_UNARY_SCALE, (wgml_view){src, 0},
                                   (wgml_view){dst, 0}, n, s));
        wgml_gpu_buf *t = src; src = dst; dst = t;
    }
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, src, 0, y, 4 * n));
    double e = test_nmse(y, ref, n);
    TEST_CHECK(e < 1e-10, "%d dispatches, factors from %d: nmse %.3g", k, seed, e);
    free(ref);
    free(y);
    return 0;
}

// Bind groups are kept by what they bind: a run that repeats an earlier one
// makes none, its new parameters still reach the kernels, and buffers made
// after others were destroyed (whose handles may be the old ones') are bound.
static int test_bind_cache(wgml_gpu *gpu)
{
    enum { N = 1000, K = 50 };
    float x[N];
    test_fill_uniform(x, N, -1.f, 1.f, 7);
    wgml_gpu_buf *a, *b;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "bc.a", &a));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "bc.b", &b));
    if (scale_run(gpu, a, b, x, N, K, 0)) return 1;
    uint64_t made = wgml_gpu_bind_groups_made(gpu);
    if (scale_run(gpu, a, b, x, N, K, 1)) return 1;   // other factors, same bindings
    uint64_t again = wgml_gpu_bind_groups_made(gpu) - made;
    if (strcmp(wgml_gpu_info(gpu)->implementation, "browser"))
        TEST_CHECK(again == 0, "a repeated run made %llu bind groups", (unsigned long long)again);
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    wgml_gpu_pool_trim(gpu);
    for (int r = 0; r < 3; r++) {
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "bc.c", &a));
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "bc.d", &b));
        if (scale_run(gpu, a, b, x, N, K, 2 + r)) return 1;
        wgml_gpu_buf_release(gpu, a);
        wgml_gpu_buf_release(gpu, b);
        wgml_gpu_pool_trim(gpu);
    }
    printf("ok   bind groups kept: a repeated run of %d dispatches made %llu\n", K,
           (unsigned long long)again);
    return 0;
}

// A readback holds the bytes its run left, though a run submitted after it
// overwrote the buffer before the read.
static int test_readback_overlap(wgml_gpu *gpu)
{
    enum { N = 4096 };
    float x[N], y[N], want[N];
    test_fill_uniform(x, N, -1.f, 1.f, 3);
    wgml_gpu_buf *a = test_upload(gpu, x, sizeof x), *b;
    TEST_CHECK(a, "upload: %s", wgml_gpu_last_error(gpu));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "rb.b", &b));
    wgml_gpu_readback *rb;
    TEST_OK(gpu, wgml_gpu_readback_create(gpu, sizeof x, &rb));
    TEST_CHECK(wgml_gpu_readback_read(gpu, rb, y) == WGML_ERR_INVALID_ARGUMENT,
               "reading a readback with nothing recorded did not fail");
    TEST_CHECK(wgml_gpu_readback_record(gpu, rb, b, 0, sizeof x + 4) == WGML_ERR_INVALID_ARGUMENT,
               "a readback past its capacity was accepted");
    wgml_ref_unary(WGML_UNARY_SCALE, x, want, N, 2.0f);
    TEST_OK(gpu, wgml_op_unary(gpu, WGML_UNARY_SCALE, (wgml_view){a, 0}, (wgml_view){b, 0}, N, 2));
    TEST_OK(gpu, wgml_gpu_readback_record(gpu, rb, b, 0, sizeof x));
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    for (int i = 0; i < 20; i++)   // later runs write b again
        TEST_OK(gpu, wgml_op_unary(gpu, WGML_UNARY_SCALE, (wgml_view){a, 0}, (wgml_view){b, 0},
                                   N, 3));
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    TEST_OK(gpu, wgml_gpu_readback_read(gpu, rb, y));
    if (strcmp(wgml_gpu_info(gpu)->implementation, "browser"))
        TEST_CHECK(!memcmp(y, want, sizeof y), "the readback saw a later run's values");
    TEST_CHECK(wgml_gpu_readback_read(gpu, rb, y) == WGML_ERR_INVALID_ARGUMENT,
               "a readback was read twice");
    // Recorded into the open run: reading submits it.
    TEST_OK(gpu, wgml_gpu_readback_record(gpu, rb, a, 16, 64));
    TEST_OK(gpu, wgml_gpu_readback_read(gpu, rb, y));
    TEST_CHECK(!memcmp(y, x + 4, 64), "a readback at an offset returned the wrong bytes");
    wgml_gpu_readback_free(gpu, rb);
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    printf("ok   readback of a run while a later run rewrites the buffer\n");
    return 0;
}

// Per-dispatch times: each timed dispatch reported in order with its kernel
// and a positive time; past the limit dispatches run untimed; results are
// those of a plain run.
static int test_profile(wgml_gpu *gpu)
{
    if (!wgml_gpu_info(gpu)->timestamp_query) {
        printf("skip profile: the device has no timestamp queries\n");
        return TEST_SKIP;
    }
    enum { N = 4096, K = 7, TIMED = 5 };
    float x[N];
    test_fill_uniform(x, N, -1.f, 1.f, 9);
    wgml_gpu_buf *a, *b;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "prof.a", &a));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "prof.b", &b));
    TEST_CHECK(wgml_gpu_profile_start(gpu, 0) == WGML_ERR_INVALID_ARGUMENT, "0 dispatches accepted");
    TEST_OK(gpu, wgml_gpu_profile_start(gpu, TIMED));
    if (scale_run(gpu, a, b, x, N, K, 0)) return 1;   // checks the values
    const wgml_gpu_profile_entry *e;
    uint32_t n;
    TEST_OK(gpu, wgml_gpu_profile_read(gpu, &e, &n));
    TEST_CHECK(n == TIMED, "%u dispatches timed, %d wanted", n, TIMED);
    double total = 0;
    for (uint32_t i = 0; i < n; i++) {
        TEST_CHECK(e[i].kernel && e[i].kernel[0] && e[i].entry && e[i].ns > 0,
                   "dispatch %u: kernel %s entry %s, %.0f ns", i, e[i].kernel ? e[i].kernel : "-",
                   e[i].entry ? e[i].entry : "-", e[i].ns);
        total += e[i].ns;
    }
    char first[128];
    snprintf(first, sizeof first, "%s:%s", e[0].kernel, e[0].entry);
    TEST_CHECK(wgml_gpu_profile_read(gpu, &e, &n) == WGML_ERR_INVALID_ARGUMENT,
               "a profile was read twice");
    wgml_gpu_profile_stop(gpu);
    if (scale_run(gpu, a, b, x, N, K, 1)) return 1;   // and without it
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    printf("ok   profile: %d of %d dispatches timed (%s first), %.1f us in all\n", TIMED, K,
           first, total / 1e3);
    return 0;
}

static int test_timestamps(wgml_gpu *gpu)
{
    if (!wgml_gpu_info(gpu)->timestamp_query) {
        printf("skip timestamps: the device has no timestamp queries\n");
        return TEST_SKIP;
    }
    enum { N = 1 << 20 };
    wgml_gpu_buf *a, *b;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4 * N, "ts.a", &a));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4 * N, "ts.b", &b));
    // Minimums over several runs: a busy CPU device inflates single runs.
    double t1 = -1, t8 = -1;
    TEST_OK(gpu, wgml_op_unary(gpu, WGML_UNARY_GELU, (wgml_view){a, 0}, (wgml_view){b, 0}, N, 1));
    TEST_OK(gpu, wgml_gpu_wait(gpu));   // warm-up: first use is not what we measure
    for (int r = 0; r < 5; r++) {
        for (int k = 1; k <= 8; k += 7) {
            double t;
            TEST_OK(gpu, wgml_gpu_begin(gpu, true));
            for (int i = 0; i < k; i++)
                TEST_OK(gpu, wgml_op_unary(gpu, WGML_UNARY_GELU, (wgml_view){a, 0},
                                           (wgml_view){b, 0}, N, 1));
            TEST_OK(gpu, wgml_gpu_submit(gpu, &t));
            double *m = k == 1 ? &t1 : &t8;
            if (t > 0 && (*m < 0 || t < *m)) *m = t;
        }
    }
    TEST_CHECK(t1 > 0 && t8 > 0, "timestamps gave %.0f and %.0f ns", t1, t8);
    // Eight times the work must take clearly longer than once.
    TEST_CHECK(t8 > 2 * t1, "8 dispatches took %.0f ns, one took %.0f ns", t8, t1);
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    printf("ok   timestamps: 1 dispatch %.1f us, 8 dispatches %.1f us\n", t1 / 1e3, t8 / 1e3);
    return 0;
}

// Every embedded kernel family compiles, through the ops that use it (the
// template families need their op's prelude). A family no op covers fails.
static int test_kernels_compile(wgml_gpu *gpu)
{
    // matmul_sgm runs only where the device has subgroup matrices (f16 matmul).
    static const char *covered[] = {"rows", "matmul", "matmul_f16", "matmul_vec4",
                                    "matmul_vec4_f16", "matmul_sgm", "matmul_sgm_mx",
                                    "matmul_sgm_emu", "gemv",
                                    "gather", "attention", "attention_vec4", "pool", "rope", "attn_decode",
                                    "attn_prefill", "decoder_rows", "matmul_q", "sampler",
                                    "sampler_penalty"};
    for (size_t i = 0; i < wgml_kernel_source_count; i++) {
        bool known = false;
        for (size_t j = 0; j < sizeof covered / sizeof covered[0]; j++)
            known |= !strcmp(wgml_kernel_sources[i].name, covered[j]);
        TEST_CHECK(known, "kernel family %s is not covered by this test",
                   wgml_kernel_sources[i].name);
    }
    TEST_CHECK(wgml_kernel_find("matmul_f16"), "matmul_f16 variant not generated");
    wgml_gpu_buf *bi, *bo;   // inputs share one buffer (read-only); the output another
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1 << 16, "k.in", &bi));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1 << 16, "k.out", &bo));
    wgml_view v = {bi, 0}, o = {bo, 0};
    for (int op = WGML_UNARY_SCALE; op <= WGML_UNARY_SILU; op++)
        TEST_OK(gpu, wgml_op_unary(gpu, op, v, o, 64, 1));
    TEST_OK(gpu, wgml_op_binary(gpu, WGML_BINARY_ADD, v, v, o, 64, 8));
    TEST_OK(gpu, wgml_op_binary(gpu, WGML_BINARY_MUL, v, v, o, 63, 63));
    TEST_OK(gpu, wgml_op_softmax(gpu, v, o, 4, 16));
    TEST_OK(gpu, wgml_op_layernorm(gpu, v, v, v, o, 4, 16, 1e-5f));
    TEST_OK(gpu, wgml_op_rmsnorm(gpu, v, v, o, 4, 16, 1e-5f));
    TEST_OK(gpu, wgml_op_matmul(gpu, WGML_F32, v, v, o, 8, 8, 8));
    TEST_OK(gpu, wgml_op_matmul_variant(gpu, WGML_MATMUL_TILED_VEC4, WGML_F32, v, v, o, 8, 8, 8));
    if (wgml_gpu_info(gpu)->shader_f16)
        TEST_OK(gpu, wgml_op_matmul_variant(gpu, WGML_MATMUL_TILED_VEC4, WGML_F16, v, v, o, 8, 8, 8));
    // matmul_vec4's subgroup entry point, where the device's subgroups suit it.
    if (wgml_gpu_fixed_subgroup_size(gpu))
        TEST_OK(gpu, wgml_op_matmul_variant(gpu, WGML_MATMUL_TILED_SUBGROUP, WGML_F32, v, v, o, 8,
                                            8, 8));
    for (int q = 0; q < WGML_QUANT_COUNT; q++)   // the float and, where the device has it, dot4 kernels
        TEST_OK(gpu, wgml_op_gemv(gpu, q, v, v, o, 8, 64));
    TEST_OK(gpu, wgml_op_matmul_nt(gpu, WGML_F32, v, v, o, 8, 8, 8));
    // The subgroup-matrix GEMM: with the device's matrices where it has them,
    // and with the plain-WGSL matrix layer on any shader-f16 device.
    if (wgml_sgm_available(gpu)) TEST_OK(gpu, wgml_op_matmul(gpu, WGML_F16, v, v, o, 8, 8, 8));
    if (wgml_gpu_info(gpu)->shader_f16) {
        wgml_sgm_debug_emulate(true);
        TEST_OK(gpu, wgml_op_matmul_nt_w16(gpu, v, v, o, 8, 8, 8));
        wgml_sgm_debug_emulate(false);
    }
    TEST_OK(gpu, wgml_op_gather(gpu, v, v, o, 8, 8, 8));
    TEST_OK(gpu, wgml_op_attention(gpu, v, v, o, 2, 8, 2, 8, 0.25f));   // attention_vec4
    TEST_OK(gpu, wgml_op_attention(gpu, v, v, o, 2, 8, 2, 6, 0.25f));   // attention
    TEST_OK(gpu, wgml_op_pool(gpu, WGML_POOL_MEAN, true, v, v, o, 2, 8, 8));
    // Every sampler entry point: creation builds them all, the penalty's too.
    wgml_sampler *sampler;
    wgml_sampler_params sp = {.temperature = 1, .repeat_penalty = 1.1f, .repeat_last_n = 8};
    TEST_OK(gpu, wgml_sampler_create(gpu, 64, &sp, &sampler));
    wgml_sampler_free(sampler);
    // The decoder's kernels (f32 caches; f16 ones below). A second output
    // buffer for add_rmsnorm's two outputs and attention's scratch.
    wgml_gpu_buf *b2;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1 << 12, "k.out2", &b2));
    wgml_rope_args ra = {.x = wgml_mat_of(o, 8), .table = v, .n = 2, .heads = 1, .head_dim = 8,
                         .n_rot = 8};
    TEST_OK(gpu, wgml_op_rope(gpu, &ra));
    wgml_kv_store_args ka = {.src = wgml_mat_of(v, 8), .cache = o, .cache_type = WGML_F32,
                             .capacity = 4, .rotate = true, .table = v, .n_rot = 8, .n = 2,
                             .kv_heads = 1, .head_dim = 8};
    TEST_OK(gpu, wgml_op_kv_store(gpu, &ka));
    wgml_gpu_buf *b3;   // rope_qkv writes three buffers
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1 << 12, "k.out3", &b3));
    wgml_rope_qkv_args qa = {.qkv = wgml_mat_of(o, 24), .table = v, .k_cache = (wgml_view){b2, 0},
                             .v_cache = (wgml_view){b3, 0}, .cache_type = WGML_F32,
                             .capacity = 4, .n = 2, .heads = 1, .kv_heads = 1, .head_dim = 8,
                             .n_rot = 8};
    TEST_OK(gpu, wgml_op_rope_qkv(gpu, &qa));
    wgml_attn_args aa = {.q = wgml_mat_of(v, 16), .out = wgml_mat_of(o, 16), .k = v, .v = v,
                         .kv_type = WGML_F32, .scratch = {b2, 0}, .n = 1, .capacity = 8, .heads = 2,
                         .kv_heads = 1, .head_dim = 8, .scale = 1};
    TEST_OK(gpu, wgml_op_attn_decode(gpu, &aa));
    TEST_OK(gpu, wgml_op_attn_prefill(gpu, &aa));
    TEST_OK(gpu, wgml_op_add_rmsnorm(gpu, wgml_mat_of(o, 8), wgml_mat_of(v, 8), v,
                                     wgml_mat_of((wgml_view){b2, 0}, 8), 2, 8, 1e-5f));
    TEST_OK(gpu, wgml_op_swiglu(gpu, wgml_mat_of(v, 8), wgml_mat_of(v, 8), o, 2, 8));
    TEST_OK(gpu, wgml_op_embed(gpu, WGML_QUANT_Q4_1, v, v, 0, wgml_mat_of(o, 32), 2, 4, 32));
    TEST_OK(gpu, wgml_op_matmul_q(gpu, WGML_QUANT_Q8_0, v, wgml_mat_of(v, 32), wgml_mat_of(o, 8),
                                  2, 8, 32));
    int skipped = 0;
    if (wgml_gpu_info(gpu)->shader_f16) {
        TEST_OK(gpu, wgml_op_matmul(gpu, WGML_F16, v, v, o, 8, 8, 8));
        TEST_OK(gpu, wgml_op_matmul_nt_w16(gpu, v, v, o, 8, 8, 8));
        ka.cache_type = aa.kv_type = qa.cache_type = WGML_F16;
        TEST_OK(gpu, wgml_op_kv_store(gpu, &ka));
        TEST_OK(gpu, wgml_op_rope_qkv(gpu, &qa));
        TEST_OK(gpu, wgml_op_attn_decode(gpu, &aa));
        TEST_OK(gpu, wgml_op_attn_prefill(gpu, &aa));
    } else {
        skipped = 1;
        printf("skip matmul_f16, matmul_nt_w16: need shader-f16\n");
    }
    if (wgml_matmul_can_use_subgroup_matrix(gpu))
        TEST_OK(gpu, wgml_op_matmul_variant(gpu, WGML_MATMUL_SUBGROUP_MATRIX, WGML_F16, v, v, o, 8, 8, 8));
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    wgml_gpu_buf_release(gpu, bi);
    wgml_gpu_buf_release(gpu, bo);
    wgml_gpu_buf_release(gpu, b2);
    wgml_gpu_buf_release(gpu, b3);
    printf("ok   every kernel family compiles%s\n", skipped ? " (f16 skipped)" : "");
    return 0;
}

static int test_info(wgml_gpu *gpu)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    TEST_CHECK(d->implementation && d->implementation[0], "no implementation name");
    TEST_CHECK(!strcmp(d->backend, "vulkan"), "backend %s, the CPU devices here are Vulkan",
               d->backend);
    // WebGPU's guaranteed minimums (spec "Limits"): a device reporting less is misread.
    TEST_CHECK(d->max_buffer_size >= 268435456ull, "maxBufferSize %llu",
               (unsigned long long)d->max_buffer_size);
    TEST_CHECK(d->max_storage_buffer_binding_size >= 134217728ull, "maxStorageBufferBindingSize");
    TEST_CHECK(d->max_compute_invocations_per_workgroup >= 256, "maxComputeInvocationsPerWorkgroup");
    TEST_CHECK(d->max_compute_workgroups_per_dimension >= 65535, "maxComputeWorkgroupsPerDimension");
    TEST_CHECK(d->max_storage_buffers_per_stage >= 8, "maxStorageBuffersPerShaderStage");
    TEST_CHECK(d->min_storage_buffer_offset_alignment >= 4 &&
               d->min_storage_buffer_offset_alignment <= 256, "minStorageBufferOffsetAlignment");
    if (d->subgroups)
        TEST_CHECK(d->subgroup_min_size >= 1 && d->subgroup_min_size <= d->subgroup_max_size &&
                   d->subgroup_max_size <= 128, "subgroup sizes %u..%u", d->subgroup_min_size,
                   d->subgroup_max_size);
    // The feature enum values come from the implementation's own header; a
    // mismatch shows up as a feature the kernel then cannot use.
    if (d->shader_f16) {
        wgml_gpu_kernel k = {.source = "enable f16;\n"
                                       "@group(0) @binding(1) var<storage, read_write> o: array<f16>;\n"
                                       "@compute @workgroup_size(1) fn main() { o[0] = f16(1.5); }\n"};
        wgml_gpu_pipeline *p;
        TEST_OK(gpu, wgml_gpu_pipeline_get(gpu, &k, &p));
    }
    if (d->subgroups) {
        wgml_gpu_kernel k = {.source = "enable subgroups;\n"
                                       "@group(0) @binding(1) var<storage, read_write> o: array<u32>;\n"
                                       "@compute @workgroup_size(32) fn main(@builtin(subgroup_size) s: u32) {"
                                       " o[0] = subgroupAdd(s); }\n"};
        wgml_gpu_pipeline *p;
        TEST_OK(gpu, wgml_gpu_pipeline_get(gpu, &k, &p));
    }
    printf("ok   info: %s %s, f16=%d subgroups=%d(%u..%u) timestamps=%d dot4=%d\n",
           d->implementation, d->device, d->shader_f16, d->subgroups, d->subgroup_min_size,
           d->subgroup_max_size, d->timestamp_query, d->packed_dot4);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpu pool|readback|readback_overlap|bind_cache|profile|many_dispatches|arena_chunks|timestamps|"
                        "kernels_compile|info\n");
        return 2;
    }
    wgml_gpu *gpu = test_gpu_create();
    const char *t = argv[1];
    int rc;
    if (!strcmp(t, "pool")) rc = test_pool(gpu);
    else if (!strcmp(t, "readback")) rc = test_readback(gpu);
    else if (!strcmp(t, "readback_overlap")) rc = test_readback_overlap(gpu);
    else if (!strcmp(t, "bind_cache")) rc = test_bind_cache(gpu);
    else if (!strcmp(t, "profile")) rc = test_profile(gpu);
    else if (!strcmp(t, "many_dispatches")) rc = scale_chain(gpu, 300);
    // Parameters are 256-byte aligned: 5000 dispatches need more than one 1 MiB chunk.
    else if (!strcmp(t, "arena_chunks")) rc = scale_chain(gpu, argc > 2 ? atoi(argv[2]) : 5000);
    else if (!strcmp(t, "timestamps")) rc = test_timestamps(gpu);
    else if (!strcmp(t, "kernels_compile")) rc = test_kernels_compile(gpu);
    else if (!strcmp(t, "info")) rc = test_info(gpu);
    else {
        fprintf(stderr, "unknown test '%s'\n", t);
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
