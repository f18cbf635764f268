/*
 * Every op against its C reference on random inputs over awkward shapes:
 * 1, 7, 8, 9, 17, 255, 256, 257, 4097 and non-multiples of every tile and
 * workgroup size, with sentinel guards around each output.
 *
 * Thresholds (normalised mean squared error):
 *   f32 elementwise, softmax, norms  1e-6   (ordinary f32 rounding ~1e-14)
 *   f32 matmul                       5e-4
 *   f16 matmul                       1e-5   against a reference on the same
 *                                    f16-rounded inputs, output rounded to f16
 *                                    (unit roundoff 2^-11, so NMSE ~1e-7)
 *   gather                           0      (a copy)
 *   attention, pooling               1e-6
 *   matmul_nt_w16 (f16 B, f32 A, C)  5e-4   against the f16-rounded B
 *   subgroup-matrix products         the same: 1e-5 with f16 operands, 5e-4
 *                                    for f16 weights (A then rounded to f16 by
 *                                    the kernel, not by the reference)
 * matmul_nt (B transposed) runs the matmul shapes; gather includes ids past
 * the table (zero rows); attention includes masked keys and a sequence whose
 * keys are all masked; pooling, padding rows and an all-padding sequence.
 */
#include "core/half.h"
#include "ops/decoder.h"
#include "ops/matmul_sgm.h"
#include "ops/reference.h"
#include "ops/templates.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t SIZES[] = {1, 7, 8, 9, 17, 255, 256, 257, 4097};
enum { N_SIZES = sizeof SIZES / sizeof SIZES[0] };

// Runs what was recorded and checks one f32 output against its reference.
static int check_output(wgml_gpu *gpu, test_guarded *out, const float *ref, size_t n,
                        double tol, const char *what)
{
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    float *y = malloc(out->payload);
    TEST_CHECK(y, "out of memory");
    int guard_bad = test_guarded_read(gpu, out, y);
    double e = test_nmse(y, ref, n);
    free(y);
    TEST_CHECK(!guard_bad, "%s: guard overwritten", what);
    TEST_CHECK(e <= tol, "%s: nmse %.3g > %.3g", what, e, tol);
    printf("ok   %-40s nmse %.2e\n", what, e);
    return 0;
}

// ---------------------------------------------------------------- elementwise

static int test_unary(wgml_gpu *gpu)
{
    // Past 65535 * 256 elements the dispatch needs a second grid dimension.
    uint32_t sizes[N_SIZES + 2];
    memcpy(sizes, SIZES, sizeof SIZES);
    sizes[N_SIZES] = 65537;
    sizes[N_SIZES + 1] = 65535u * 256u + 3u;
    for (int op = WGML_UNARY_SCALE; op <= WGML_UNARY_SILU; op++) {
        for (size_t s = 0; s < N_SIZES + 2; s++) {
            uint32_t n = sizes[s];
            if (n > 100000 && op != WGML_UNARY_GELU) continue;   // one large case suffices
            float *x = malloc(n * 4ull), *ref = malloc(n * 4ull);
            TEST_CHECK(x && ref, "out of memory");
            test_fill_uniform(x, n, -6.f, 6.f, n * 31u + op);
            float scale = 0.37f;
            wgml_ref_unary(op, x, ref, n, scale);
            wgml_gpu_buf *bx = test_upload(gpu, x, n * 4ull);
            TEST_CHECK(bx, "upload: %s", wgml_gpu_last_error(gpu));
            test_guarded out;
            TEST_OK(gpu, test_guarded_create(gpu, n * 4ull, &out));
            TEST_OK(gpu, wgml_op_unary(gpu, op, (wgml_view){bx, 0}, out.view, n, scale));
            char what[64];
            snprintf(what, sizeof what, "%s n=%u", wgml_unary_name(op), n);
            if (check_output(gpu, &out, ref, n, 1e-6, what)) return 1;
            test_guarded_free(gpu, &out);
            wgml_gpu_buf_release(gpu, bx);
            free(x);
            free(ref);
        }
    }
    return 0;
}

static int test_binary(wgml_gpu *gpu)
{
    for (int op = WGML_BINARY_ADD; op <= WGML_BINARY_MUL; op++) {
        for (size_t s = 0; s < N_SIZES; s++) {
            uint32_t n = SIZES[s];
            // Full shape, and b broadcast over rows where n has a divisor.
            uint32_t bns[2] = {n, n % 257 == 0 ? 257 : n % 8 == 0 ? 8 : 1};
            for (int v = 0; v < 2; v++) {
                uint32_t bn = bns[v];
                float *a = malloc(n * 4ull), *b = malloc(bn * 4ull), *ref = malloc(n * 4ull);
                TEST_CHECK(a && b && ref, "out of memory");
                test_fill_uniform(a, n, -3.f, 3.f, n + 7u * op);
                test_fill_uniform(b, bn, -3.f, 3.f, bn + 1000u);
                wgml_ref_binary(op, a, b, ref, n, bn);
                wgml_gpu_buf *ba = test_upload(gpu, a, n * 4ull), *bb = test_upload(gpu, b, bn * 4ull);
                TEST_CHECK(ba && bb, "upload: %s", wgml_gpu_last_error(gpu));
                test_guarded out;
                TEST_OK(gpu, test_guarded_create(gpu, n * 4ull, &out));
                TEST_OK(gpu, wgml_op_binary(gpu, op, (wgml_view){ba, 0}, (wgml_view){bb, 0},
                                            out.view, n, bn));
                char what[64];
                snprintf(what, sizeof what, "%s n=%u b_n=%u", wgml_binary_name(op), n, bn);
                if (check_output(gpu, &out, ref, n, 1e-6, what)) return 1;
                test_guarded_free(gpu, &out);
                wgml_gpu_buf_release(gpu, ba);
                wgml_gpu_buf_release(gpu, bb);
                free(a); free(b); free(ref);
            }
        }
    }
    return 0;
}

// ---------------------------------------------------------------- matmul

typedef struct mnk { uint32_t M, N, K; } mnk;

// Tiles are 64 (or 16) x 64 with K steps of 16: sizes straddle each of those.
static const mnk MATMUL_SHAPES[] = {
    {1, 1, 1},     {7, 8, 9},      {8, 9, 7},     {17, 17, 17},   {1, 257, 255},
    {255, 1, 257}, {64, 64, 16},   {65, 63, 17},  {63, 65, 15},   {129, 127, 33},
    {256, 256, 256}, {257, 255, 64}, {4097, 7, 9}, {9, 4097, 8},  {3, 5, 4097},
    // K and N multiples of 8 (what the subgroup-matrix kernel takes), odd M.
    {1, 8, 8},     {65, 72, 40},   {300, 136, 520},
    {1025, 520, 33},   // enough 64-row tiles to keep them (src/ops/matmul.c tile_rows)
    {130, 260, 36},    // K and N multiples of 4 (the vec4 kernel), two partial 128 tiles
    {1100, 260, 36},   // nine 128-row tiles: swizzle bands of 8 tile rows and of 1
};

// One product against the reference. w16: f16 B (weights) under f32 A and C
// (matmul_nt_w16); variant: the kernel to force.
static int matmul_case(wgml_gpu *gpu, wgml_dtype dt, bool nt, bool w16, wgml_matmul_variant variant,
                       uint32_t M, uint32_t N, uint32_t K, const char *tag)
{
    size_t es = wgml_dtype_size(dt);
    float *a = malloc(4ull * M * K), *b = malloc(4ull * K * N), *ref = malloc(4ull * M * N);
    TEST_CHECK(a && b && ref, "out of memory");
    test_fill_uniform(a, (size_t)M * K, -1.f, 1.f, M * 131u + K);
    test_fill_uniform(b, (size_t)K * N, -1.f, 1.f, N * 17u + K);
    void *ha = a, *hb = b;
    uint16_t *a16 = NULL, *b16 = NULL;
    if (dt == WGML_F16) {   // the reference sees exactly the f16 values the GPU sees
        a16 = malloc(2ull * M * K);
        b16 = malloc(2ull * K * N);
        TEST_CHECK(a16 && b16, "out of memory");
        for (size_t i = 0; i < (size_t)M * K; i++) {
            a16[i] = wgml_f32_to_f16(a[i]);
            a[i] = wgml_f16_to_f32(a16[i]);
        }
        for (size_t i = 0; i < (size_t)K * N; i++) {
            b16[i] = wgml_f32_to_f16(b[i]);
            b[i] = wgml_f16_to_f32(b16[i]);
        }
        ha = a16;
        hb = b16;
    }
    if (w16) {   // only B in f16; the reference sees its rounded values (and A unrounded)
        b16 = malloc(2ull * K * N);
        TEST_CHECK(b16, "out of memory");
        for (size_t i = 0; i < (size_t)K * N; i++) {
            b16[i] = wgml_f32_to_f16(b[i]);
            b[i] = wgml_f16_to_f32(b16[i]);
        }
        hb = b16;
    }
    if (nt) wgml_ref_matmul_nt(a, b, ref, M, N, K);
    else wgml_ref_matmul(a, b, ref, M, N, K);
    wgml_gpu_buf *ba = test_upload(gpu, ha, es * M * K),
                 *bb = test_upload(gpu, hb, (w16 ? 2 : es) * K * N);
    TEST_CHECK(ba && bb, "upload: %s", wgml_gpu_last_error(gpu));
    test_guarded out;
    TEST_OK(gpu, test_guarded_create(gpu, es * M * N, &out));
    wgml_view va = {ba, 0}, vb = {bb, 0};
    if (nt) TEST_OK(gpu, wgml_op_matmul_nt_variant(gpu, variant, dt, w16, va, vb, out.view, M, N, K));
    else TEST_OK(gpu, wgml_op_matmul_variant(gpu, variant, dt, va, vb, out.view, M, N, K));
    char what[96];
    snprintf(what, sizeof what, "matmul%s %s %ux%ux%u%s", nt ? "_nt" : "",
             w16 ? "w16" : dt == WGML_F16 ? "f16" : "f32", M, N, K, tag);
    if (dt == WGML_F16) {
        TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
        uint16_t *y16 = malloc(out.payload);
        float *y = malloc(4ull * M * N);
        TEST_CHECK(y16 && y, "out of memory");
        int bad = test_guarded_read(gpu, &out, y16);
        for (size_t i = 0; i < (size_t)M * N; i++) y[i] = wgml_f16_to_f32(y16[i]);
        double e = test_nmse(y, ref, (size_t)M * N);
        TEST_CHECK(!bad, "%s: guard overwritten", what);
        TEST_CHECK(e <= 1e-5, "%s: nmse %.3g > 1e-5", what, e);
        printf("ok   %-48s nmse %.2e\n", what, e);
        free(y16); free(y);
    } else if (check_output(gpu, &out, ref, (size_t)M * N, 5e-4, what)) {
        return 1;
    }
    test_guarded_free(gpu, &out);
    wgml_gpu_buf_release(gpu, ba);
    wgml_gpu_buf_release(gpu, bb);
    free(a); free(b); free(ref); free(a16); free(b16);
    return 0;
}

// The shapes the kernel takes: subgroup-matrix products need K (and N for
// plain B) multiples of 8.
static bool sgm_shape(bool nt, uint32_t N, uint32_t K)
{
    return K % 8 == 0 && (nt || N % 8 == 0);
}

static int test_matmul(wgml_gpu *gpu, wgml_dtype dt, bool nt, bool w16, wgml_matmul_variant variant)
{
    if ((dt == WGML_F16 || w16) && !wgml_gpu_info(gpu)->shader_f16) {
        printf("skip matmul%s_%s: the device has no shader-f16\n", nt ? "_nt" : "",
               w16 ? "w16" : "f16");
        return TEST_SKIP;
    }
    int ran = 0;
    for (size_t s = 0; s < sizeof MATMUL_SHAPES / sizeof MATMUL_SHAPES[0]; s++) {
        uint32_t M = MATMUL_SHAPES[s].M, N = MATMUL_SHAPES[s].N, K = MATMUL_SHAPES[s].K;
        if (variant == WGML_MATMUL_SUBGROUP_MATRIX && !sgm_shape(nt, N, K)) continue;
        if ((variant == WGML_MATMUL_TILED_VEC4 || variant == WGML_MATMUL_TILED_SUBGROUP ||
             variant == WGML_MATMUL_TILED_SUBGROUP_SWIZZLED) &&
            (K % 4 || (!nt && N % 4)))
            continue;
        ran++;
        if (matmul_case(gpu, dt, nt, w16, variant, M, N, K, "")) return 1;
    }
    TEST_CHECK(ran >= 5, "only %d shapes ran", ran);
    return 0;
}

// The subgroup-matrix kernel in every tile configuration, for f16 operands
// with B plain and transposed and for f16 weights under f32 activations
// (the encoder's and, with its own B hook, the prefill's layout). With
// `emulate`, on any shader-f16 device through the plain-WGSL matrix layer
// (matmul_sgm_emu.wgsl): the tiling, staging, edges and stores on CPU
// devices, where the device's own matrices are tested on GPUs that have them.
// Thresholds: those of the f16 matmul and of matmul_nt_w16 (the kernel also
// rounds A to f16 there; the reference does not).
static int test_matmul_sgm(wgml_gpu *gpu, bool emulate)
{
    wgml_sgm_debug_emulate(emulate);
    if (!wgml_sgm_available(gpu)) {
        printf("skip matmul_sgm: the device has no f16 16x16x16 subgroup matrices with subgroups "
               "of 32%s\n", emulate ? " (nor shader-f16 for the stand-in)" : "");
        return TEST_SKIP;
    }
    const wgml_sgm_config *cfgs;
    size_t n_cfg = wgml_sgm_configs(&cfgs);
    int ran = 0;
    for (size_t ci = 0; ci < n_cfg; ci++) {
        if (!wgml_sgm_config_fits(gpu, cfgs[ci], true)) {
            printf("skip configuration %zu: beyond this device's workgroup limits\n", ci);
            continue;
        }
        wgml_sgm_debug_force((int)ci);
        char tag[48];
        snprintf(tag, sizeof tag, " [%ux%u of %ux%u]", 16 * cfgs[ci].wm * cfgs[ci].tm,
                 16 * cfgs[ci].wn * cfgs[ci].tn, cfgs[ci].wm, cfgs[ci].wn);
        for (size_t s = 0; s < sizeof MATMUL_SHAPES / sizeof MATMUL_SHAPES[0]; s++) {
            uint32_t M = MATMUL_SHAPES[s].M, N = MATMUL_SHAPES[s].N, K = MATMUL_SHAPES[s].K;
            // The stand-in is slow: its largest shapes in one configuration only.
            if (emulate && ci + 1 < n_cfg && (uint64_t)M * N * K > 5000000) continue;
            for (int kind = 0; kind < 3; kind++) {
                bool nt = kind > 0, w16 = kind == 2;
                if (!sgm_shape(nt, N, K)) continue;
                ran++;
                if (matmul_case(gpu, w16 ? WGML_F32 : WGML_F16, nt, w16,
                                WGML_MATMUL_SUBGROUP_MATRIX, M, N, K, tag))
                    return 1;
            }
        }
    }
    wgml_sgm_debug_force(-1);
    TEST_CHECK(ran >= 20, "only %d products ran", ran);
    return 0;
}

// ---------------------------------------------------------------- row-wise

typedef struct row_shape { uint32_t rows, cols; } row_shape;

// Workgroups are 256 wide; 70000 rows needs the second grid dimension.
static const row_shape ROW_SHAPES[] = {
    {1, 1},   {1, 7},   {7, 8},    {9, 9},    {17, 17}, {3, 255},
    {2, 256}, {5, 257}, {2, 4097}, {257, 33}, {70000, 3},
};

typedef enum row_op { ROW_SOFTMAX, ROW_LAYERNORM, ROW_RMSNORM } row_op;

static int test_rows(wgml_gpu *gpu, row_op op)
{
    static const char *names[] = {"softmax", "layernorm", "rmsnorm"};
    const float eps = 1e-5f;
    for (size_t s = 0; s < sizeof ROW_SHAPES / sizeof ROW_SHAPES[0]; s++) {
        uint32_t R = ROW_SHAPES[s].rows, C = ROW_SHAPES[s].cols;
        size_t n = (size_t)R * C;
        float *x = malloc(4 * n), *ref = malloc(4 * n), *g = malloc(4ull * C), *b = malloc(4ull * C);
        TEST_CHECK(x && ref && g && b, "out of memory");
        // An offset on the inputs makes the norms' mean subtraction matter.
        test_fill_uniform(x, n, -4.f, 6.f, n + op);
        test_fill_uniform(g, C, 0.5f, 1.5f, C + 1);
        test_fill_uniform(b, C, -1.f, 1.f, C + 2);
        if (op == ROW_SOFTMAX) wgml_ref_softmax(x, ref, R, C);
        if (op == ROW_LAYERNORM) wgml_ref_layernorm(x, g, b, ref, R, C, eps);
        if (op == ROW_RMSNORM) wgml_ref_rmsnorm(x, g, ref, R, C, eps);
        wgml_gpu_buf *bx = test_upload(gpu, x, 4 * n), *bg = test_upload(gpu, g, 4ull * C),
                     *bb = test_upload(gpu, b, 4ull * C);
        TEST_CHECK(bx && bg && bb, "upload: %s", wgml_gpu_last_error(gpu));
        test_guarded out;
        TEST_OK(gpu, test_guarded_create(gpu, 4 * n, &out));
        wgml_view vx = {bx, 0}, vg = {bg, 0}, vb = {bb, 0};
        if (op == ROW_SOFTMAX) TEST_OK(gpu, wgml_op_softmax(gpu, vx, out.view, R, C));
        if (op == ROW_LAYERNORM)
            TEST_OK(gpu, wgml_op_layernorm(gpu, vx, vg, vb, out.view, R, C, eps));
        if (op == ROW_RMSNORM) TEST_OK(gpu, wgml_op_rmsnorm(gpu, vx, vg, out.view, R, C, eps));
        char what[64];
        snprintf(what, sizeof what, "%s %ux%u", names[op], R, C);
        if (check_output(gpu, &out, ref, n, 1e-6, what)) return 1;
        test_guarded_free(gpu, &out);
        wgml_gpu_buf_release(gpu, bx);
        wgml_gpu_buf_release(gpu, bg);
        wgml_gpu_buf_release(gpu, bb);
        free(x); free(ref); free(g); free(b);
    }
    return 0;
}

// ---------------------------------------------------------------- encoders

static int test_gather(wgml_gpu *gpu)
{
    static const uint32_t shapes[][3] = {   // ids, vocab, dim
        {1, 1, 1}, {7, 9, 8}, {17, 300, 384}, {257, 30, 7}, {3, 5, 4097}, {4097, 1000, 9},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t n = shapes[s][0], V = shapes[s][1], D = shapes[s][2];
        float *table = malloc(4ull * V * D), *ref = malloc(4ull * n * D);
        uint32_t *ids = malloc(4ull * n);
        TEST_CHECK(table && ref && ids, "out of memory");
        test_fill_uniform(table, (size_t)V * D, -1.f, 1.f, V + D);
        for (uint32_t i = 0; i < n; i++) ids[i] = (i * 2654435761u) % V;
        // Ids past the table: just past, far past, the largest u32.
        if (n >= 7) ids[1] = V, ids[3] = V + 12345u, ids[6] = UINT32_MAX;
        wgml_ref_gather(table, ids, ref, n, V, D);
        wgml_gpu_buf *bt = test_upload(gpu, table, 4ull * V * D), *bi = test_upload(gpu, ids, 4ull * n);
        TEST_CHECK(bt && bi, "upload: %s", wgml_gpu_last_error(gpu));
        test_guarded out;
        TEST_OK(gpu, test_guarded_create(gpu, 4ull * n * D, &out));
        TEST_OK(gpu, wgml_op_gather(gpu, (wgml_view){bt, 0}, (wgml_view){bi, 0}, out.view, n, V, D));
        char what[64];
        snprintf(what, sizeof what, "gather %u ids of %ux%u", n, V, D);
        if (check_output(gpu, &out, ref, (size_t)n * D, 0, what)) return 1;
        test_guarded_free(gpu, &out);
        wgml_gpu_buf_release(gpu, bt);
        wgml_gpu_buf_release(gpu, bi);
        free(table); free(ref); free(ids);
    }
    return 0;
}

static int test_attention(wgml_gpu *gpu)
{
    static const uint32_t shapes[][4] = {   // batch, length, heads, head size
        {1, 1, 1, 1},   {2, 7, 3, 8},    {1, 64, 2, 32},  {3, 65, 2, 17},
        {2, 129, 5, 32}, {1, 300, 1, 64}, {1, 512, 2, 32}, {2, 33, 1, 256}, {1, 9, 4, 128},
        // The vec4 kernel's larger workgroups (src/ops/encoder.c): 128 and 256 queries.
        {16, 130, 8, 16}, {4, 520, 64, 4},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t B = shapes[s][0], L = shapes[s][1], H = shapes[s][2], HD = shapes[s][3];
        size_t rows = (size_t)B * L, D = (size_t)H * HD;
        float *qkv = malloc(12 * rows * D), *mask = malloc(4 * rows), *ref = malloc(4 * rows * D);
        TEST_CHECK(qkv && mask && ref, "out of memory");
        test_fill_uniform(qkv, 3 * rows * D, -2.f, 2.f, rows + D);
        // Padding at the end of some sequences, scattered masked keys, and in
        // the last sequence of a batch every key masked (no NaN may appear).
        for (size_t b = 0; b < B; b++)
            for (size_t l = 0; l < L; l++) {
                bool drop = (l > 0 && (l * 7 + b) % 5 == 0) || (b == 1 && l >= L / 2 + 1) ||
                            (B == 3 && b == 2);
                mask[b * L + l] = drop ? -1e30f : 0.0f;
            }
        float scale = 1.0f / sqrtf((float)HD);
        wgml_ref_attention(qkv, mask, ref, B, L, H, HD, scale);
        wgml_gpu_buf *bq = test_upload(gpu, qkv, 12 * rows * D), *bm = test_upload(gpu, mask, 4 * rows);
        TEST_CHECK(bq && bm, "upload: %s", wgml_gpu_last_error(gpu));
        test_guarded out;
        TEST_OK(gpu, test_guarded_create(gpu, 4 * rows * D, &out));
        TEST_OK(gpu, wgml_op_attention(gpu, (wgml_view){bq, 0}, (wgml_view){bm, 0}, out.view, B, L,
                                       H, HD, scale));
        char what[64];
        snprintf(what, sizeof what, "attention b=%u l=%u h=%u hd=%u", B, L, H, HD);
        if (check_output(gpu, &out, ref, rows * D, 1e-6, what)) return 1;
        test_guarded_free(gpu, &out);
        wgml_gpu_buf_release(gpu, bq);
        wgml_gpu_buf_release(gpu, bm);
        free(qkv); free(mask); free(ref);
    }
    return 0;
}

static int test_pool(wgml_gpu *gpu)
{
    static const uint32_t shapes[][3] = {   // batch, length, dim
        {1, 1, 1}, {2, 7, 9}, {3, 128, 384}, {5, 257, 17}, {1, 512, 1024}, {2, 3, 4097}, {70, 4, 8},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t B = shapes[s][0], L = shapes[s][1], D = shapes[s][2];
        size_t n = (size_t)B * L * D;
        float *x = malloc(4 * n), *w = malloc(4ull * B * L), *ref = malloc(4ull * B * D);
        TEST_CHECK(x && w && ref, "out of memory");
        test_fill_uniform(x, n, -3.f, 3.f, n);
        // Sequence b has L - b % L tokens; with B >= 3 the third is all padding.
        for (size_t b = 0; b < B; b++)
            for (size_t l = 0; l < L; l++) w[b * L + l] = l < L - b % L && b != 2 ? 1.0f : 0.0f;
        wgml_gpu_buf *bx = test_upload(gpu, x, 4 * n), *bw = test_upload(gpu, w, 4ull * B * L);
        TEST_CHECK(bx && bw, "upload: %s", wgml_gpu_last_error(gpu));
        for (int mode = WGML_POOL_MEAN; mode <= WGML_POOL_CLS; mode++)
            for (int norm = 0; norm < 2; norm++) {
                wgml_ref_pool(mode, norm, x, w, ref, B, L, D);
                test_guarded out;
                TEST_OK(gpu, test_guarded_create(gpu, 4ull * B * D, &out));
                TEST_OK(gpu, wgml_op_pool(gpu, mode, norm, (wgml_view){bx, 0}, (wgml_view){bw, 0},
                                          out.view, B, L, D));
                char what[64];
                snprintf(what, sizeof what, "%s%s b=%u l=%u d=%u", wgml_pool_name(mode),
                         norm ? "+l2" : "", B, L, D);
                if (check_output(gpu, &out, ref, (size_t)B * D, 1e-6, what)) return 1;
                test_guarded_free(gpu, &out);
            }
        wgml_gpu_buf_release(gpu, bx);
        wgml_gpu_buf_release(gpu, bw);
        free(x); free(w); free(ref);
    }
    return 0;
}

// ---------------------------------------------------------------- timing

// `test_ops sgm_timing [ITERS [SCALE [xp]]]`: GPU time of the subgroup-matrix GEMM in
// every configuration next to the tiled kernels, at 4096^3 (f16), the
// BERT-small encoder's products at batch 32 x 128 tokens (f16 weights, f32
// activations) and the prefill GEMMs of SmolLM2-135M (Q4_1) and Llama-3-8B
// (Q4_0) at 256 tokens; with xp, the kernel's experiment switches
// (matmul_sgm.h) too. Not a test (no reference): a table for tuning.
typedef struct timing_case {
    const char *what;
    int kind;           // 0 f16 plain, 1 w16 (x W^T), 2 matmul_q
    wgml_quant q;
    uint32_t M, N, K;
} timing_case;

static wgml_status timing_record(wgml_gpu *gpu, const timing_case *c, int variant, wgml_view a,
                                 wgml_view b, wgml_view o)
{
    if (c->kind == 0)
        return wgml_op_matmul_variant(gpu, variant, WGML_F16, a, b, o, c->M, c->N, c->K);
    if (c->kind == 1)
        return wgml_op_matmul_nt_variant(gpu, variant, WGML_F32, true, a, b, o, c->M, c->N, c->K);
    return wgml_op_matmul_q_variant(gpu, variant, c->q, b, wgml_mat_of(a, c->K),
                                    wgml_mat_of(o, c->N), c->M, c->N, c->K);
}

// Median GPU ns per call over 5 runs of `iters` calls, or < 0 on failure.
static double timing_run(wgml_gpu *gpu, const timing_case *c, int variant, wgml_view a,
                         wgml_view b, wgml_view o, int iters)
{
    double t[5];
    for (int r = -1; r < 5; r++) {   // r = -1: warm-up (pipeline creation)
        double ns;
        if (wgml_gpu_begin(gpu, true)) return -1;
        for (int i = 0; i < iters; i++)
            if (timing_record(gpu, c, variant, a, b, o)) {
                // End the run, so that the next row starts clean.
                fprintf(stderr, "  %s\n", wgml_gpu_last_error(gpu));
                wgml_gpu_submit(gpu, NULL);
                wgml_gpu_clear_error(gpu);
                return -1;
            }
        if (wgml_gpu_submit(gpu, &ns) || wgml_gpu_wait(gpu) || ns <= 0) return -1;
        if (r >= 0) t[r] = ns / iters;
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (t[j] < t[i]) { double x = t[i]; t[i] = t[j]; t[j] = x; }
    return t[2];
}

static int sgm_timing(wgml_gpu *gpu, int iters, uint32_t scale, bool xp_variants)
{
    static const timing_case cases[] = {
        {"f16 4096^3", 0, 0, 4096, 4096, 4096},
        {"bert qkv", 1, 0, 4096, 1152, 384},
        {"bert out", 1, 0, 4096, 384, 384},
        {"bert ffn1", 1, 0, 4096, 1536, 384},
        {"bert ffn2", 1, 0, 4096, 384, 1536},
        {"smollm2 qkv q4_1", 2, WGML_QUANT_Q4_1, 256, 960, 576},
        {"smollm2 gate|up q4_1", 2, WGML_QUANT_Q4_1, 256, 3072, 576},
        {"smollm2 down q4_1", 2, WGML_QUANT_Q4_1, 256, 576, 1536},
        {"llama8b qkv q4_0", 2, WGML_QUANT_Q4_0, 256, 6144, 4096},
        {"llama8b gate|up q4_0", 2, WGML_QUANT_Q4_0, 256, 28672, 4096},
        {"llama8b down q4_0", 2, WGML_QUANT_Q4_0, 256, 4096, 14336},
    };
    const wgml_sgm_config *cfgs;
    size_t n_cfg = wgml_sgm_configs(&cfgs);
    printf("%-22s %-26s %10s %9s\n", "product", "kernel", "us/call", "TFLOP/s");
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        timing_case cs = cases[ci];
        const timing_case *c = &cs;
        cs.M /= scale;   // a smaller run checks the tool on CPU devices
        cs.N /= scale;
        cs.K /= scale;
        if (cs.kind == 2 && cs.K % 32) continue;
        uint64_t ab = 4ull * c->M * c->K, bb = 4ull * c->N * c->K, ob = 4ull * c->M * c->N;
        wgml_gpu_buf *ba, *bw, *bo;
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, ab, "t.a", &ba));
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, bb, "t.b", &bw));
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, ob, "t.o", &bo));
        // Values in [1, 2) read as f32 or as f16 halves (scales included).
        uint64_t big = ab > bb ? ab : bb;
        uint32_t *h = malloc(big);
        TEST_CHECK(h, "out of memory");
        uint32_t x = 12345;
        for (uint64_t i = 0; i < big / 4; i++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            h[i] = (x & 0x03ff03ffu) | 0x3c003c00u;
        }
        TEST_OK(gpu, wgml_gpu_buf_write(gpu, ba, 0, h, ab));
        TEST_OK(gpu, wgml_gpu_buf_write(gpu, bw, 0, h, bb));
        free(h);
        wgml_view a = {ba, 0}, b = {bw, 0}, o = {bo, 0};
        double flops = 2.0 * c->M * c->N * c->K;
        double ns = timing_run(gpu, c, WGML_MATMUL_TILED, a, b, o, iters);
        printf("%-22s %-26s %10.1f %9.2f\n", c->what, "tiled", ns / 1e3, ns > 0 ? flops / ns / 1e3 : 0);
        for (size_t k = 0; k < n_cfg && wgml_sgm_available(gpu); k++) {
            if (!wgml_sgm_config_fits(gpu, cfgs[k], true)) continue;
            wgml_sgm_debug_force((int)k);
            ns = timing_run(gpu, c, WGML_MATMUL_SUBGROUP_MATRIX, a, b, o, iters);
            char name[48];   // tile / subgroups (each subgroup's block)
            snprintf(name, sizeof name, "sgm %ux%u/%u (%ux%u)", 16 * cfgs[k].wm * cfgs[k].tm,
                     16 * cfgs[k].wn * cfgs[k].tn, cfgs[k].wm * cfgs[k].wn, 16 * cfgs[k].tm,
                     16 * cfgs[k].tn);
            printf("%-22s %-26s %10.1f %9.2f%s\n", c->what, name, ns / 1e3,
                   ns > 0 ? flops / ns / 1e3 : 0, ns > 0 ? "" : "  (failed)");
        }
        wgml_sgm_debug_force(-1);
        // The kernel's variants (experiments) at the two usual tiles.
        static const struct { unsigned flags; const char *name; } xp[] = {
            {WGML_SGM_XP_DEPTH2, "depth2"},
            {WGML_SGM_XP_WRAPPED, "wrapped"},
            {WGML_SGM_XP_NO_EPILOGUE, "no epilogue"},
            {WGML_SGM_XP_NO_STAGE, "no staging"},
        };
        static const int xp_cfg[] = {0, 4};
        for (size_t k = 0; k < 2 && wgml_sgm_available(gpu) && xp_variants; k++) {
            const wgml_sgm_config *g = &cfgs[xp_cfg[k]];
            if (!wgml_sgm_config_fits(gpu, *g, true)) continue;
            wgml_sgm_debug_force(xp_cfg[k]);
            for (size_t v = 0; v < sizeof xp / sizeof xp[0]; v++) {
                wgml_sgm_debug_variant(xp[v].flags);
                ns = timing_run(gpu, c, WGML_MATMUL_SUBGROUP_MATRIX, a, b, o, iters);
                char name[48];
                snprintf(name, sizeof name, "%ux%u/%u %s", 16 * g->wm * g->tm, 16 * g->wn * g->tn,
                         g->wm * g->wn, xp[v].name);
                printf("%-22s %-26s %10.1f %9.2f\n", c->what, name, ns / 1e3,
                       ns > 0 ? flops / ns / 1e3 : 0);
            }
            wgml_sgm_debug_variant(0);
        }
        wgml_sgm_debug_force(-1);
        wgml_sgm_config pick = wgml_sgm_pick(gpu, c->M, c->N, c->K);
        printf("%-22s heuristic picks %ux%u/%u\n", c->what, 16 * pick.wm * pick.tm,
               16 * pick.wn * pick.tn, pick.wm * pick.wn);
        fflush(stdout);
        wgml_gpu_buf_release(gpu, ba);
        wgml_gpu_buf_release(gpu, bw);
        wgml_gpu_buf_release(gpu, bo);
        wgml_gpu_pool_trim(gpu);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "sgm_timing")) {
        wgml_gpu *gpu = test_gpu_create();
        // Third argument: divide every dimension (checks on CPU devices, with
        // the stand-in matrix layer).
        uint32_t scale = argc > 3 ? (uint32_t)atoi(argv[3]) : 1;
        if (scale > 1) wgml_sgm_debug_emulate(true);
        int rc = sgm_timing(gpu, argc > 2 ? atoi(argv[2]) : 10, scale ? scale : 1,
                            argc > 4 && !strcmp(argv[4], "xp"));
        wgml_gpu_free(gpu);
        return rc;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: test_ops unary|binary|matmul|matmul_swizzled|matmul_vec4|matmul_vec4_f16|matmul_subgroup|matmul_f16|matmul_sgm|matmul_sgm_emu|matmul_nt|"
                        "matmul_nt_f16|matmul_nt_w16|softmax|layernorm|rmsnorm|gather|attention|pool\n");
        return 2;
    }
    const char *which = argv[1];
    wgml_gpu *gpu = test_gpu_create();
    int rc;
    if (!strcmp(which, "unary")) rc = test_unary(gpu);
    else if (!strcmp(which, "binary")) rc = test_binary(gpu);
    else if (!strcmp(which, "matmul")) rc = test_matmul(gpu, WGML_F32, false, false, WGML_MATMUL_AUTO);
    else if (!strcmp(which, "matmul_swizzled"))
        rc = test_matmul(gpu, WGML_F32, false, false, WGML_MATMUL_TILED_SWIZZLED) ||
             test_matmul(gpu, WGML_F32, true, false, WGML_MATMUL_TILED_SWIZZLED);
    else if (!strcmp(which, "matmul_vec4"))
        // f16 weights under f32 activations where the device has shader-f16.
        rc = test_matmul(gpu, WGML_F32, false, false, WGML_MATMUL_TILED_VEC4) ||
             test_matmul(gpu, WGML_F32, true, false, WGML_MATMUL_TILED_VEC4) ||
             (wgml_gpu_info(gpu)->shader_f16 &&
              test_matmul(gpu, WGML_F32, true, true, WGML_MATMUL_TILED_VEC4));
    else if (!strcmp(which, "matmul_vec4_f16")) {
        // The first call's skip (no shader-f16) is the test's.
        rc = test_matmul(gpu, WGML_F16, false, false, WGML_MATMUL_TILED_VEC4);
        if (rc == 0) rc = test_matmul(gpu, WGML_F16, true, false, WGML_MATMUL_TILED_VEC4);
    }
    else if (!strcmp(which, "matmul_subgroup")) {
        // Plain and transposed B in f32; f16 weights, and f16 operands, where
        // the device has shader-f16.
        const wgml_device_info *d = wgml_gpu_info(gpu);
        uint32_t sg = wgml_gpu_fixed_subgroup_size(gpu);
        if (!sg) {
            printf("skip: the subgroup kernel needs subgroups of one fixed size, a power of "
                   "two from 4 to 128 "
                   "(this device: %s, %u to %u)\n", d->subgroups ? "subgroups" : "none",
                   d->subgroup_min_size, d->subgroup_max_size);
            rc = TEST_SKIP;
        } else {
            printf("subgroups of %u\n", sg);
            rc = test_matmul(gpu, WGML_F32, false, false, WGML_MATMUL_TILED_SUBGROUP) ||
                 test_matmul(gpu, WGML_F32, true, false, WGML_MATMUL_TILED_SUBGROUP) ||
                 (d->shader_f16 &&
                  (test_matmul(gpu, WGML_F32, true, true, WGML_MATMUL_TILED_SUBGROUP) ||
                   test_matmul(gpu, WGML_F16, false, false, WGML_MATMUL_TILED_SUBGROUP) ||
                   test_matmul(gpu, WGML_F16, true, false, WGML_MATMUL_TILED_SUBGROUP))) ||
                 // The swizzled order (shapes of several tile rows and columns).
                 test_matmul(gpu, WGML_F32, false, false, WGML_MATMUL_TILED_SUBGROUP_SWIZZLED) ||
                 test_matmul(gpu, WGML_F32, true, false, WGML_MATMUL_TILED_SUBGROUP_SWIZZLED);
        }
    }
    else if (!strcmp(which, "matmul_f16")) rc = test_matmul(gpu, WGML_F16, false, false, WGML_MATMUL_AUTO);
    else if (!strcmp(which, "matmul_sgm")) rc = test_matmul_sgm(gpu, false);
    else if (!strcmp(which, "matmul_sgm_emu")) rc = test_matmul_sgm(gpu, true);
    else if (!strcmp(which, "matmul_nt")) rc = test_matmul(gpu, WGML_F32, true, false, WGML_MATMUL_AUTO);
    else if (!strcmp(which, "matmul_nt_f16"))
        rc = test_matmul(gpu, WGML_F16, true, false, WGML_MATMUL_AUTO);
    else if (!strcmp(which, "matmul_nt_w16"))
        rc = test_matmul(gpu, WGML_F32, true, true, WGML_MATMUL_AUTO);
    else if (!strcmp(which, "gather")) rc = test_gather(gpu);
    else if (!strcmp(which, "attention")) rc = test_attention(gpu);
    else if (!strcmp(which, "pool")) rc = test_pool(gpu);
    else if (!strcmp(which, "softmax")) rc = test_rows(gpu, ROW_SOFTMAX);
    else if (!strcmp(which, "layernorm")) rc = test_rows(gpu, ROW_LAYERNORM);
    else if (!strcmp(which, "rmsnorm")) rc = test_rows(gpu, ROW_RMSNORM);
    else {
        fprintf(stderr, "unknown test '%s'\n", which);
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
