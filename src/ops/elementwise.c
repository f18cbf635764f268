// Elementwise ops: unary (scale, GELU, SiLU) and binary (add, mul), each a
// one-node expression compiled by the elementwise generator (ewise.h).
#include "ops/ewise.h"
#include "ops/ops_internal.h"

#include <stdio.h>


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

wgml_status wgml_ew_kernel_grid(wgml_gpu *gpu, const wgml_ew_expr *e, uint32_t *gx, uint32_t *gy)
{
    uint64_t invocations = wgml_ew_out_count(e) / wgml_ew_vector_width(e);
    return wgml_ops_grid(gpu, (invocations + WGML_EW_WORKGROUP - 1) / WGML_EW_WORKGROUP, gx, gy);
}

wgml_status wgml_ew_kernel_build(wgml_gpu *gpu, const wgml_ew_expr *e, wgml_ew_kernel *out)
{
    char err[256];
    wgml_status st = wgml_ew_check(e, err, sizeof err);
    if (st) return wgml_gpu_fail(gpu, st, "elementwise: %s", err);
    if ((st = wgml_ew_kernel_grid(gpu, e, &out->gx, &out->gy))) return st;
    wgml_text t = {0};
    wgml_ew_emit_kernel(&t, e, WGML_EW_WORKGROUP, out->gx);
    if (t.failed) {
        wgml_text_free(&t);
        return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    wgml_gpu_kernel k = {.family = "elementwise", .source = t.s};
    st = wgml_gpu_pipeline_get(gpu, &k, &out->pipeline);
    wgml_text_free(&t);
    out->n_leaves = e->n_leaves;
    return st;
}

wgml_status wgml_ew_kernel_dispatch(wgml_gpu *gpu, const wgml_ew_kernel *k,
                                    const wgml_view *leaves, wgml_view out)
{
    wgml_gpu_binding b[WGML_EW_MAX_LEAVES + 1];
    for (int i = 0; i < k->n_leaves; i++) b[i] = WGML_OPS_BINDING(leaves[i]);
    b[k->n_leaves] = WGML_OPS_BINDING(out);
    return wgml_gpu_dispatch(gpu, k->pipeline, NULL, 0, b, k->n_leaves + 1, k->gx, k->gy, 1);
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

static const wgml_ew_op UNARY_EW[] = {
    [WGML_UNARY_SCALE] = WGML_EW_SCALE, [WGML_UNARY_GELU] = WGML_EW_GELU,
    [WGML_UNARY_SILU] = WGML_EW_SILU};

wgml_status wgml_op_unary(wgml_gpu *gpu, wgml_unary_op op, wgml_view x, wgml_view y,
                          uint64_t n, float scale)
{
    if ((unsigned)op > WGML_UNARY_SILU)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "unknown unary op %d", (int)op);
    const char *name = wgml_unary_name(op);
    wgml_status st;
    if ((st = check_n(gpu, name, n)) || (st = wgml_ops_check_view(gpu, name, "x", x, n * 4)) ||
        (st = wgml_ops_check_view(gpu, name, "y", y, n * 4)))
        return st;
    wgml_ew_expr e = {.out_ndim = 1, .out_shape = {(int64_t)n}};
    int leaf = wgml_ew_add_leaf(&e, 1, e.out_shape);
    wgml_ew_add_apply(&e, UNARY_EW[op], &leaf, scale, 0);
    wgml_ew_kernel k;
    if ((st = wgml_ew_kernel_build(gpu, &e, &k))) return st;
    return wgml_ew_kernel_dispatch(gpu, &k, &x, y);
}

wgml_cost wgml_op_unary_cost(wgml_unary_op op, uint64_t n)
{
    if ((unsigned)op > WGML_UNARY_SILU) return (wgml_cost){0};
    return (wgml_cost){.bytes = 8.0 * n, .flops = wgml_ew_def_of(UNARY_EW[op])->flops * n};
}

wgml_status wgml_op_binary(wgml_gpu *gpu, wgml_binary_op op, wgml_view a, wgml_view b,
                           wgml_view y, uint64_t n, uint64_t b_n)
{
    if ((unsigned)op > WGML_BINARY_MUL)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "unknown binary op %d", (int)op);
    const char *name = wgml_binary_name(op);
    wgml_status st;
    if ((st = check_n(gpu, name, n))) return st;
    if (b_n == 0 || n % b_n)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: b has %llu elements, which does not divide %llu", name,
                             (unsigned long long)b_n, (unsigned long long)n);
    if ((st = wgml_ops_check_view(gpu, name, "a", a, n * 4)) ||
        (st = wgml_ops_check_view(gpu, name, "b", b, b_n * 4)) ||
        (st = wgml_ops_check_view(gpu, name, "y", y, n * 4)))
        return st;
    // b broadcasts over the rows of a viewed as (n / b_n) x b_n.
    wgml_ew_expr e = {.out_ndim = 2, .out_shape = {(int64_t)(n / b_n), (int64_t)b_n}};
    int args[2] = {wgml_ew_add_leaf(&e, 2, e.out_shape), wgml_ew_add_leaf(&e, 1, &e.out_shape[1])};
    wgml_ew_add_apply(&e, op == WGML_BINARY_MUL ? WGML_EW_MUL : WGML_EW_ADD, args, 0, 0);
    wgml_ew_kernel k;
    if ((st = wgml_ew_kernel_build(gpu, &e, &k))) return st;
    wgml_view leaves[2] = {a, b};
    return wgml_ew_kernel_dispatch(gpu, &k, leaves, y);
}

wgml_cost wgml_op_binary_cost(uint64_t n, uint64_t b_n)
{
    return (wgml_cost){.bytes = 8.0 * n + 4.0 * b_n, .flops = (double)n};
}
