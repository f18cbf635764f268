// Matrix multiply: the register-tiled matmul.wgsl template, f32 or f16
// elements, f32 accumulation; this file supplies the plain store hook.
#include "ops/ops_internal.h"
#include "ops/templates.h"
#include "tune/tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MATMUL_BM = 64, MATMUL_BN = 64 };   // tile of C per workgroup (matmul.wgsl)

const char *wgml_matmul_family(wgml_dtype dtype)
{
    return dtype == WGML_F16 ? "matmul_f16" : "matmul";
}

void wgml_matmul_grid(uint32_t M, uint32_t N, uint32_t *gx, uint32_t *gy)
{
    *gx = (N + MATMUL_BN - 1) / MATMUL_BN;
    *gy = (M + MATMUL_BM - 1) / MATMUL_BM;
}

static const char PLAIN_STORE[] =
    "@group(0) @binding(3) var<storage, read_write> c: array<T>;\n"
    "fn mm_store(r: u32, col: u32, v: f32) { c[r * p.N + col] = T(v); }\n";

// The subgroup-matrix kernel (matmul_sgm.wgsl) works in subgroups of 32.
static const char SGM_STORE[] =
    "enable subgroups;\n"
    "const SG: u32 = 32u;\n"
    "@group(0) @binding(3) var<storage, read_write> c: array<T>;\n"
    "fn mm_store(r: u32, col: u32, v: f32) { c[r * p.N + col] = T(v); }\n";

bool wgml_matmul_can_use_subgroup_matrix(wgml_gpu *gpu)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    if (!d->subgroup_matrix || !d->shader_f16 || d->subgroup_min_size != 32 ||
        d->subgroup_max_size != 32 || d->max_compute_workgroup_storage_size < 24576)
        return false;
    for (uint32_t i = 0; i < d->n_subgroup_matrix_configs; i++) {
        const wgml_subgroup_matrix_config *c = &d->subgroup_matrix_configs[i];
        if (!strcmp(c->component, "f16") && !strcmp(c->result, "f32") && c->M == 16 &&
            c->N == 16 && c->K == 16)
            return true;
    }
    return false;
}

wgml_status wgml_op_matmul(wgml_gpu *gpu, wgml_dtype dtype, wgml_view a, wgml_view b,
                           wgml_view c, uint32_t M, uint32_t N, uint32_t K)
{
    return wgml_op_matmul_variant(gpu, WGML_MATMUL_AUTO, dtype, a, b, c, M, N, K);
}

wgml_status wgml_op_matmul_variant(wgml_gpu *gpu, wgml_matmul_variant variant, wgml_dtype dtype,
                                   wgml_view a, wgml_view b, wgml_view c, uint32_t M,
                                   uint32_t N, uint32_t K)
{
    wgml_status st;
    if (M == 0 || N == 0 || K == 0 || (uint64_t)M * K > UINT32_MAX ||
        (uint64_t)K * N > UINT32_MAX || (uint64_t)M * N > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "matmul: shape %u x %u x %u is empty or too large", M, N, K);
    if (dtype == WGML_F16 && !wgml_gpu_info(gpu)->shader_f16)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "matmul: f16 needs the shader-f16 feature, which this device lacks");
    uint64_t es = wgml_dtype_size(dtype);
    if ((st = wgml_ops_check_view(gpu, "matmul", "a", a, es * M * K)) ||
        (st = wgml_ops_check_view(gpu, "matmul", "b", b, es * K * N)) ||
        (st = wgml_ops_check_view(gpu, "matmul", "c", c, es * M * N)))
        return st;
    uint32_t gx, gy;
    wgml_matmul_grid(M, N, &gx, &gy);
    // The subgroup-matrix kernel is correct but, on the H200 through Dawn, 12x
    // slower than the tiled one (1.6 vs 19 TFLOP/s at 4096^3), so AUTO picks
    // it only where `wgml tune` measured it faster.
    if (variant == WGML_MATMUL_AUTO) variant = wgml_matmul_chosen(gpu, dtype, M, N, K);
    bool sgm = variant == WGML_MATMUL_SUBGROUP_MATRIX;
    if (sgm && (dtype != WGML_F16 || !wgml_matmul_can_use_subgroup_matrix(gpu) || K % 8 ||
                N % 8 || a.offset % 16 || b.offset % 16))
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "matmul: the subgroup-matrix kernel needs f16, K and N multiples of "
                             "8, and a device with 16x16x16 f16 subgroup matrices and subgroups "
                             "of 32");

    wgml_gpu_kernel k = {.family = sgm ? "matmul_sgm" : wgml_matmul_family(dtype),
                         .prelude = sgm ? SGM_STORE : PLAIN_STORE};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    struct { uint32_t M, N, K, pad; } params = {M, N, K, 0};
    wgml_gpu_binding bind[] = {WGML_OPS_BINDING(a), WGML_OPS_BINDING(b), WGML_OPS_BINDING(c)};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, bind, 3, gx, gy, 1);
}

wgml_cost wgml_op_matmul_cost(wgml_dtype dtype, uint32_t M, uint32_t N, uint32_t K)
{
    double es = (double)wgml_dtype_size(dtype);
    return (wgml_cost){.bytes = es * ((double)M * K + (double)K * N + (double)M * N),
                       .flops = 2.0 * M * N * K};
}

// Matmuls tune by the power-of-two class of their largest dimension.
static void matmul_shape_class(uint32_t M, uint32_t N, uint32_t K, char *out, size_t cap)
{
    uint32_t m = M > N ? M : N, c = 1;
    if (K > m) m = K;
    while (c < m && c < (1u << 30)) c <<= 1;
    snprintf(out, cap, "mnk<=%u", c);
}

wgml_matmul_variant wgml_matmul_chosen(wgml_gpu *gpu, wgml_dtype dtype, uint32_t M, uint32_t N,
                                       uint32_t K)
{
    if (dtype != WGML_F16 || !wgml_matmul_can_use_subgroup_matrix(gpu) || K % 8 || N % 8)
        return WGML_MATMUL_TILED;
    char cls[32];
    matmul_shape_class(M, N, K, cls, sizeof cls);
    int v = wgml_tune_lookup(gpu, "matmul", cls, "f16");
    return v == WGML_MATMUL_SUBGROUP_MATRIX ? WGML_MATMUL_SUBGROUP_MATRIX : WGML_MATMUL_TILED;
}

typedef struct matmul_tune_args {
    wgml_view a, b, c;
    uint32_t M, N, K;
    wgml_dtype dtype;
} matmul_tune_args;

static wgml_status matmul_tune_run(wgml_gpu *gpu, int variant, void *user)
{
    const matmul_tune_args *t = user;
    return wgml_op_matmul_variant(gpu, (wgml_matmul_variant)variant, t->dtype, t->a, t->b, t->c,
                                  t->M, t->N, t->K);
}

wgml_status wgml_matmul_tune(wgml_gpu *gpu, wgml_dtype dtype, uint32_t M, uint32_t N, uint32_t K,
                             wgml_matmul_variant *best, double *best_ns)
{
    *best = WGML_MATMUL_TILED;
    *best_ns = -1;
    size_t es = wgml_dtype_size(dtype);
    wgml_gpu_buf *a = NULL, *b = NULL, *c = NULL;
    wgml_status st = wgml_gpu_buf_create(gpu, es * M * K + 4, "tune.a", &a);
    if (!st) st = wgml_gpu_buf_create(gpu, es * K * N + 4, "tune.b", &b);
    if (!st) st = wgml_gpu_buf_create(gpu, es * M * N + 4, "tune.c", &c);
    // Non-zero inputs: zeros can run faster than real data.
    uint64_t words = (es * ((uint64_t)M * K > (uint64_t)K * N ? (uint64_t)M * K : (uint64_t)K * N) + 3) / 4;
    uint32_t *host = st ? NULL : malloc(words * 4);
    if (!st && !host) st = WGML_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; host && i < words; i++) host[i] = 0x3c003c00u | (uint32_t)(i % 251);
    if (!st) st = wgml_gpu_buf_write(gpu, a, 0, host, (es * M * K + 3) & ~3ull);
    if (!st) st = wgml_gpu_buf_write(gpu, b, 0, host, (es * K * N + 3) & ~3ull);
    free(host);
    matmul_tune_args args = {{a, 0}, {b, 0}, {c, 0}, M, N, K, dtype};
    static const int candidates[] = {WGML_MATMUL_TILED, WGML_MATMUL_SUBGROUP_MATRIX};
    char cls[32];
    matmul_shape_class(M, N, K, cls, sizeof cls);
    int v = WGML_MATMUL_TILED;
    if (!st) st = wgml_tune_pick(gpu, "matmul", cls, dtype == WGML_F16 ? "f16" : "f32",
                                 candidates, 2, matmul_tune_run, &args, &v, best_ns);
    *best = (wgml_matmul_variant)v;
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    wgml_gpu_buf_release(gpu, c);
    return st;
}
