// Matrix multiply: the register-tiled matmul.wgsl template, f32 or f16
// elements, f32 accumulation, B plain (K x N) or transposed (N x K); this
// file supplies the plain store hook.
#include "ops/ops_internal.h"
#include "ops/templates.h"

#include <stdio.h>

enum { MATMUL_BN = 64 };   // columns of C per workgroup (matmul.wgsl)

// Rows of C per workgroup: 64, or 16 when 64-row tiles would leave too few
// workgroups to fill a GPU (or compute mostly padding, as for one short
// sentence). 128 workgroups is about one per SM on today's large GPUs.
static uint32_t tile_rows(uint32_t M, uint32_t N)
{
    uint64_t tiles64 = (uint64_t)((M + 63) / 64) * ((N + MATMUL_BN - 1) / MATMUL_BN);
    return tiles64 < 128 ? 16 : 64;
}

const char *wgml_matmul_family(wgml_dtype dtype)
{
    return dtype == WGML_F16 ? "matmul_f16" : "matmul";
}

void wgml_matmul_grid(uint32_t M, uint32_t N, uint32_t *gx, uint32_t *gy)
{
    uint32_t bm = tile_rows(M, N);
    *gx = (N + MATMUL_BN - 1) / MATMUL_BN;
    *gy = (M + bm - 1) / bm;
}

const wgml_gpu_constant *wgml_matmul_constants(bool b_transposed, uint32_t M, uint32_t N,
                                               size_t *n)
{
    // WY: invocation rows (4 rows of C each).
    static const wgml_gpu_constant C[2][2][2] = {
        {{{"WY", 16}, {"B_T", 0}}, {{"WY", 16}, {"B_T", 1}}},
        {{{"WY", 4}, {"B_T", 0}}, {{"WY", 4}, {"B_T", 1}}},
    };
    *n = 2;
    return C[tile_rows(M, N) == 16][b_transposed];
}

static const char PLAIN_STORE[] =
    "alias TB = T;\n"
    "@group(0) @binding(3) var<storage, read_write> c: array<T>;\n"
    "fn mm_store(r: u32, col: u32, v: f32) { c[r * p.N + col] = T(v); }\n";
// f16 weights (B) under f32 activations.
static const char PLAIN_STORE_W16[] =
    "enable f16;\n"
    "alias TB = f16;\n"
    "@group(0) @binding(3) var<storage, read_write> c: array<T>;\n"
    "fn mm_store(r: u32, col: u32, v: f32) { c[r * p.N + col] = T(v); }\n";

// dtype: of A, B and C; with w16, B is f16 and A and C are f32.
static wgml_status matmul(wgml_gpu *gpu, wgml_dtype dtype, bool w16, bool b_t, wgml_view a,
                          wgml_view b, wgml_view c, uint32_t M, uint32_t N, uint32_t K)
{
    const char *name = w16 ? "matmul_nt_w16" : b_t ? "matmul_nt" : "matmul";
    wgml_status st;
    if (M == 0 || N == 0 || K == 0 || (uint64_t)M * K > UINT32_MAX ||
        (uint64_t)K * N > UINT32_MAX || (uint64_t)M * N > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: shape %u x %u x %u is empty or too large", name, M, N, K);
    if ((dtype == WGML_F16 || w16) && !wgml_gpu_info(gpu)->shader_f16)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "%s: f16 needs the shader-f16 feature, which this device lacks", name);
    uint64_t es = wgml_dtype_size(dtype), bs = w16 ? 2 : es;
    if ((st = wgml_ops_check_view(gpu, name, "a", a, es * M * K)) ||
        (st = wgml_ops_check_view(gpu, name, "b", b, bs * K * N)) ||
        (st = wgml_ops_check_view(gpu, name, "c", c, es * M * N)))
        return st;
    uint32_t gx, gy;
    wgml_matmul_grid(M, N, &gx, &gy);
    wgml_gpu_kernel k = {.family = wgml_matmul_family(dtype),
                         .prelude = w16 ? PLAIN_STORE_W16 : PLAIN_STORE};
    k.constants = wgml_matmul_constants(b_t, M, N, &k.n_constants);
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    struct { uint32_t M, N, K, pad; } params = {M, N, K, 0};
    wgml_gpu_binding bind[] = {WGML_OPS_BINDING(a), WGML_OPS_BINDING(b), WGML_OPS_BINDING(c)};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, bind, 3, gx, gy, 1);
}

wgml_status wgml_op_matmul(wgml_gpu *gpu, wgml_dtype dtype, wgml_view a, wgml_view b,
                           wgml_view c, uint32_t M, uint32_t N, uint32_t K)
{
    return matmul(gpu, dtype, false, false, a, b, c, M, N, K);
}

wgml_status wgml_op_matmul_nt(wgml_gpu *gpu, wgml_dtype dtype, wgml_view a, wgml_view b,
                              wgml_view c, uint32_t M, uint32_t N, uint32_t K)
{
    return matmul(gpu, dtype, false, true, a, b, c, M, N, K);
}

wgml_status wgml_op_matmul_nt_w16(wgml_gpu *gpu, wgml_view a, wgml_view b, wgml_view c,
                                  uint32_t M, uint32_t N, uint32_t K)
{
    return matmul(gpu, WGML_F32, true, true, a, b, c, M, N, K);
}

wgml_cost wgml_op_matmul_cost(wgml_dtype dtype, uint32_t M, uint32_t N, uint32_t K)
{
    double es = (double)wgml_dtype_size(dtype);
    return (wgml_cost){.bytes = es * ((double)M * K + (double)K * N + (double)M * N),
                       .flops = 2.0 * M * N * K};
}
