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
 */
#include "core/half.h"
#include "ops/reference.h"
#include "ops/templates.h"
#include "test_util.h"

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

// Tiles are 64 x 64 with K steps of 16: sizes straddle each of those.
static const mnk MATMUL_SHAPES[] = {
    {1, 1, 1},     {7, 8, 9},      {8, 9, 7},     {17, 17, 17},   {1, 257, 255},
    {255, 1, 257}, {64, 64, 16},   {65, 63, 17},  {63, 65, 15},   {129, 127, 33},
    {256, 256, 256}, {257, 255, 64}, {4097, 7, 9}, {9, 4097, 8},  {3, 5, 4097},
    // K and N multiples of 8 (what the subgroup-matrix kernel takes), odd M.
    {1, 8, 8},     {65, 72, 40},   {300, 136, 520},
};

static int test_matmul(wgml_gpu *gpu, wgml_dtype dt, wgml_matmul_variant variant)
{
    if (dt == WGML_F16 && !wgml_gpu_info(gpu)->shader_f16) {
        printf("skip matmul_f16: the device has no shader-f16\n");
        return TEST_SKIP;
    }
    if (variant == WGML_MATMUL_SUBGROUP_MATRIX && !wgml_matmul_can_use_subgroup_matrix(gpu)) {
        printf("skip matmul_sgm: the device has no suitable subgroup matrices\n");
        return TEST_SKIP;
    }
    size_t es = wgml_dtype_size(dt);
    int ran = 0;
    for (size_t s = 0; s < sizeof MATMUL_SHAPES / sizeof MATMUL_SHAPES[0]; s++) {
        uint32_t M = MATMUL_SHAPES[s].M, N = MATMUL_SHAPES[s].N, K = MATMUL_SHAPES[s].K;
        if (variant == WGML_MATMUL_SUBGROUP_MATRIX && (K % 8 || N % 8)) continue;
        ran++;
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
        wgml_ref_matmul(a, b, ref, M, N, K);
        wgml_gpu_buf *ba = test_upload(gpu, ha, es * M * K), *bb = test_upload(gpu, hb, es * K * N);
        TEST_CHECK(ba && bb, "upload: %s", wgml_gpu_last_error(gpu));
        test_guarded out;
        TEST_OK(gpu, test_guarded_create(gpu, es * M * N, &out));
        TEST_OK(gpu, wgml_op_matmul_variant(gpu, variant, dt, (wgml_view){ba, 0},
                                            (wgml_view){bb, 0}, out.view, M, N, K));
        char what[64];
        snprintf(what, sizeof what, "matmul %s %ux%ux%u", dt == WGML_F16 ? "f16" : "f32", M, N, K);
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
            printf("ok   %-40s nmse %.2e\n", what, e);
            free(y16); free(y);
        } else if (check_output(gpu, &out, ref, (size_t)M * N, 5e-4, what)) {
            return 1;
        }
        test_guarded_free(gpu, &out);
        wgml_gpu_buf_release(gpu, ba);
        wgml_gpu_buf_release(gpu, bb);
        free(a); free(b); free(ref); free(a16); free(b16);
    }
    TEST_CHECK(ran >= 5, "only %d shapes ran", ran);
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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_ops unary|binary|matmul|matmul_f16|matmul_sgm|softmax|layernorm|rmsnorm\n");
        return 2;
    }
    const char *which = argv[1];
    wgml_gpu *gpu = test_gpu_create();
    int rc;
    if (!strcmp(which, "unary")) rc = test_unary(gpu);
    else if (!strcmp(which, "binary")) rc = test_binary(gpu);
    else if (!strcmp(which, "matmul")) rc = test_matmul(gpu, WGML_F32, WGML_MATMUL_AUTO);
    else if (!strcmp(which, "matmul_f16")) rc = test_matmul(gpu, WGML_F16, WGML_MATMUL_AUTO);
    else if (!strcmp(which, "matmul_sgm")) rc = test_matmul(gpu, WGML_F16, WGML_MATMUL_SUBGROUP_MATRIX);
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
