// Row-wise reductions: softmax, layernorm, rmsnorm. One workgroup per row.
#include "ops/ops_internal.h"

// Workgroup size for rows of `cols`: enough invocations to cover the row,
// a power of two (the tree reductions need one), between 32 and 256.
static uint32_t row_workgroup(uint32_t cols)
{
    uint32_t wg = 32;
    while (wg < cols && wg < 256) wg *= 2;
    return wg;
}

static wgml_status check_rows(wgml_gpu *gpu, const char *op, uint32_t rows, uint32_t cols)
{
    if (rows == 0 || cols == 0 || (uint64_t)rows * cols > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: shape %u x %u is empty or too large", op, rows, cols);
    return WGML_OK;
}

typedef struct row_params {
    uint32_t rows, cols, groups_x;
    float eps;
} row_params;

static wgml_status dispatch_rows(wgml_gpu *gpu, const char *family, const char *entry,
                                 uint32_t rows, uint32_t cols, float eps,
                                 const wgml_gpu_binding *b, size_t nb)
{
    wgml_status st;
    uint32_t gx, gy;
    if ((st = wgml_ops_grid(gpu, rows, &gx, &gy))) return st;
    wgml_gpu_constant c[] = {{"WG", row_workgroup(cols)}};
    wgml_gpu_kernel k = {.family = family, .entry = entry, .constants = c, .n_constants = 1};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    row_params params = {rows, cols, gx, eps};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, b, nb, gx, gy, 1);
}

wgml_status wgml_op_softmax(wgml_gpu *gpu, wgml_view x, wgml_view y, uint32_t rows,
                            uint32_t cols)
{
    wgml_status st;
    uint64_t bytes = (uint64_t)rows * cols * 4;
    if ((st = check_rows(gpu, "softmax", rows, cols)) ||
        (st = wgml_ops_check_view(gpu, "softmax", "x", x, bytes)) ||
        (st = wgml_ops_check_view(gpu, "softmax", "y", y, bytes)))
        return st;
    wgml_gpu_binding b[] = {WGML_OPS_BINDING(x), WGML_OPS_BINDING(y)};
    return dispatch_rows(gpu, "softmax", "main", rows, cols, 0, b, 2);
}

wgml_cost wgml_op_softmax_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n, .flops = 5 * n};
}

wgml_status wgml_op_layernorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view beta,
                              wgml_view y, uint32_t rows, uint32_t cols, float eps)
{
    wgml_status st;
    uint64_t bytes = (uint64_t)rows * cols * 4;
    if ((st = check_rows(gpu, "layernorm", rows, cols)) ||
        (st = wgml_ops_check_view(gpu, "layernorm", "x", x, bytes)) ||
        (st = wgml_ops_check_view(gpu, "layernorm", "gamma", gamma, cols * 4ull)) ||
        (st = wgml_ops_check_view(gpu, "layernorm", "beta", beta, cols * 4ull)) ||
        (st = wgml_ops_check_view(gpu, "layernorm", "y", y, bytes)))
        return st;
    wgml_gpu_binding b[] = {WGML_OPS_BINDING(x), WGML_OPS_BINDING(gamma), WGML_OPS_BINDING(y),
                            WGML_OPS_BINDING(beta)};
    return dispatch_rows(gpu, "norm", "layernorm", rows, cols, eps, b, 4);
}

wgml_cost wgml_op_layernorm_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n + 8.0 * cols, .flops = 8 * n};
}

wgml_status wgml_op_rmsnorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view y,
                            uint32_t rows, uint32_t cols, float eps)
{
    wgml_status st;
    uint64_t bytes = (uint64_t)rows * cols * 4;
    if ((st = check_rows(gpu, "rmsnorm", rows, cols)) ||
        (st = wgml_ops_check_view(gpu, "rmsnorm", "x", x, bytes)) ||
        (st = wgml_ops_check_view(gpu, "rmsnorm", "gamma", gamma, cols * 4ull)) ||
        (st = wgml_ops_check_view(gpu, "rmsnorm", "y", y, bytes)))
        return st;
    wgml_gpu_binding b[] = {WGML_OPS_BINDING(x), WGML_OPS_BINDING(gamma), WGML_OPS_BINDING(y)};
    return dispatch_rows(gpu, "norm", "rmsnorm", rows, cols, eps, b, 3);
}

wgml_cost wgml_op_rmsnorm_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n + 4.0 * cols, .flops = 4 * n};
}
