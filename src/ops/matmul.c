// Matrix multiply: the register-tiled matmul.wgsl template, f32 or f16
// elements, f32 accumulation; this file supplies the plain store hook.
#include "ops/ops_internal.h"
#include "ops/templates.h"

#include <stdio.h>
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
        d->subgroup_max_size != 32 || d->max_compute_workgroup_storage_size < 16384)
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
    // slower than the tiled one (1.6 vs 19 TFLOP/s at 4096^3), so it runs only
    // when asked for until it is faster.
    bool sgm = variant == WGML_MATMUL_SUBGROUP_MATRIX;
    if (sgm && (dtype != WGML_F16 || !wgml_matmul_can_use_subgroup_matrix(gpu)))
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "matmul: the subgroup-matrix kernel needs f16 and a device with "
                             "16x16x16 f16 subgroup matrices and subgroups of 32");
    if (sgm) gy = (M + 31) / 32;   // matmul_sgm.wgsl: 32 x 64 tiles
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
