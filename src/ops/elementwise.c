// Elementwise ops: unary (scale, GELU, SiLU) and binary (add, mul).
#include "ops/ops_internal.h"

enum { ELEMENTWISE_WG = 256 };

const char *wgml_unary_name(wgml_unary_op op)
{
    switch (op) {
    case WGML_UNARY_SCALE: return "scale";
    case WGML_UNARY_GELU: return "gelu";
    case WGML_UNARY_SILU: return "silu";
    }
    return "?";
}

const char *wgml_binary_name(wgml_binary_op op)
{
    return op == WGML_BINARY_MUL ? "mul" : "add";
}

// Bounds every elementwise op shares: n fits the kernels' u32 indices.
static wgml_status check_n(wgml_gpu *gpu, const char *op, uint64_t n)
{
    if (n == 0 || n > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: element count %llu is outside 1..2^32-1", op,
                             (unsigned long long)n);
    return WGML_OK;
}

wgml_status wgml_op_unary(wgml_gpu *gpu, wgml_unary_op op, wgml_view x, wgml_view y,
                          uint64_t n, float scale)
{
    const char *name = wgml_unary_name(op);
    wgml_status st;
    if ((unsigned)op > WGML_UNARY_SILU)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "unknown unary op %d", (int)op);
    if ((st = check_n(gpu, name, n)) || (st = wgml_ops_check_view(gpu, name, "x", x, n * 4)) ||
        (st = wgml_ops_check_view(gpu, name, "y", y, n * 4)))
        return st;
    uint32_t gx, gy;
    if ((st = wgml_ops_grid(gpu, (n + ELEMENTWISE_WG - 1) / ELEMENTWISE_WG, &gx, &gy)))
        return st;
    wgml_gpu_constant c[] = {{"OP", (double)op}, {"WG", ELEMENTWISE_WG}};
    wgml_gpu_kernel k = {.family = "unary", .constants = c, .n_constants = 2};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    struct { uint32_t n, row_stride; float scale; uint32_t pad; } params = {
        (uint32_t)n, gx * ELEMENTWISE_WG, scale, 0};
    wgml_gpu_binding b[] = {WGML_OPS_BINDING(x), WGML_OPS_BINDING(y)};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, b, 2, gx, gy, 1);
}

wgml_cost wgml_op_unary_cost(wgml_unary_op op, uint64_t n)
{
    // Flops per element: scale 1; SiLU ~4 (exp, add, div); GELU ~20 (erf polynomial).
    double per = op == WGML_UNARY_SCALE ? 1 : op == WGML_UNARY_SILU ? 4 : 20;
    return (wgml_cost){.bytes = 8.0 * n, .flops = per * n};
}

wgml_status wgml_op_binary(wgml_gpu *gpu, wgml_binary_op op, wgml_view a, wgml_view b,
                           wgml_view y, uint64_t n, uint64_t b_n)
{
    const char *name = wgml_binary_name(op);
    wgml_status st;
    if ((unsigned)op > WGML_BINARY_MUL)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "unknown binary op %d", (int)op);
    if ((st = check_n(gpu, name, n))) return st;
    if (b_n == 0 || n % b_n)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: b has %llu elements, which does not divide %llu", name,
                             (unsigned long long)b_n, (unsigned long long)n);
    if ((st = wgml_ops_check_view(gpu, name, "a", a, n * 4)) ||
        (st = wgml_ops_check_view(gpu, name, "b", b, b_n * 4)) ||
        (st = wgml_ops_check_view(gpu, name, "y", y, n * 4)))
        return st;
    uint32_t gx, gy;
    if ((st = wgml_ops_grid(gpu, (n + ELEMENTWISE_WG - 1) / ELEMENTWISE_WG, &gx, &gy)))
        return st;
    wgml_gpu_constant c[] = {{"OP", (double)op}, {"WG", ELEMENTWISE_WG}};
    wgml_gpu_kernel k = {.family = "binary", .constants = c, .n_constants = 2};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    struct { uint32_t n, row_stride, b_n, pad; } params = {
        (uint32_t)n, gx * ELEMENTWISE_WG, (uint32_t)b_n, 0};
    wgml_gpu_binding bind[] = {WGML_OPS_BINDING(a), WGML_OPS_BINDING(b), WGML_OPS_BINDING(y)};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, bind, 3, gx, gy, 1);
}

wgml_cost wgml_op_binary_cost(uint64_t n, uint64_t b_n)
{
    return (wgml_cost){.bytes = 8.0 * n + 4.0 * b_n, .flops = (double)n};
}
