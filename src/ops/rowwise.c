// Row-wise reductions: softmax, layernorm, rmsnorm, over the rows.wgsl template.
#include "ops/ops_internal.h"
#include "ops/templates.h"

#include <stdio.h>

const char *wgml_row_entry(wgml_row_kind kind)
{
    static const char *entries[] = {"layernorm", "rmsnorm", "softmax"};
    return (unsigned)kind <= WGML_ROW_SOFTMAX ? entries[kind] : "?";
}

wgml_status wgml_rows_prelude(wgml_gpu *gpu, wgml_text *t, uint32_t rows, uint32_t cols,
                              float eps, uint32_t *gx, uint32_t *gy)
{
    if (rows == 0 || cols == 0 || (uint64_t)rows * cols > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "row op: shape %u x %u is empty or too large", rows, cols);
    wgml_status st = wgml_ops_grid(gpu, rows, gx, gy);
    if (st) return st;
    // Enough invocations to cover the row, a power of two for the tree
    // reduction, between 32 and 256; the rest of the row goes to registers.
    uint32_t wg = 32;
    while (wg < cols && wg < 256) wg *= 2;
    wgml_text_printf(t,
                     "const ROWS: u32 = %uu;\nconst COLS: u32 = %uu;\nconst WG: u32 = %uu;\n"
                     "const PER: u32 = %uu;\nconst GROUPS_X: u32 = %uu;\nconst EPS: f32 = %.9g;\n"
                     "@group(0) @binding(%d) var<storage, read> gamma: array<f32>;\n"
                     "@group(0) @binding(%d) var<storage, read> beta: array<f32>;\n",
                     rows, cols, wg, (cols + wg - 1) / wg, *gx, (double)eps,
                     WGML_ROW_SLOT_GAMMA, WGML_ROW_SLOT_BETA);
    return WGML_OK;
}

// A row op with plain hooks: x at slot FREE, y at FREE + 1.
static wgml_status dispatch_rows(wgml_gpu *gpu, wgml_row_kind kind, wgml_view x, wgml_view gamma,
                                 wgml_view beta, wgml_view y, uint32_t rows, uint32_t cols,
                                 float eps)
{
    const char *name = wgml_row_entry(kind);
    uint64_t bytes = (uint64_t)rows * cols * 4;
    wgml_status st;
    uint32_t gx, gy;
    wgml_text t = {0};
    if ((st = wgml_rows_prelude(gpu, &t, rows, cols, eps, &gx, &gy))) goto done;
    if ((st = wgml_ops_check_view(gpu, name, "x", x, bytes)) ||
        (st = wgml_ops_check_view(gpu, name, "y", y, bytes)) ||
        (kind != WGML_ROW_SOFTMAX && (st = wgml_ops_check_view(gpu, name, "gamma", gamma, cols * 4ull))) ||
        (kind == WGML_ROW_LAYERNORM && (st = wgml_ops_check_view(gpu, name, "beta", beta, cols * 4ull))))
        goto done;
    wgml_text_printf(&t,
                     "@group(0) @binding(%d) var<storage, read> x: array<f32>;\n"
                     "@group(0) @binding(%d) var<storage, read_write> y: array<f32>;\n"
                     "fn row_load(row: u32, c: u32) -> f32 { return x[row * COLS + c]; }\n"
                     "fn row_store(row: u32, c: u32, v: f32) { y[row * COLS + c] = v; }\n",
                     WGML_ROW_SLOT_FREE, WGML_ROW_SLOT_FREE + 1);
    if (t.failed) {
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    wgml_gpu_kernel k = {.family = "rows", .entry = name, .prelude = t.s};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) goto done;
    wgml_gpu_binding b[4];
    size_t n = 0;
    b[n++] = (wgml_gpu_binding){x.buf, x.offset, 0, WGML_ROW_SLOT_FREE};
    b[n++] = (wgml_gpu_binding){y.buf, y.offset, 0, WGML_ROW_SLOT_FREE + 1};
    if (kind != WGML_ROW_SOFTMAX)
        b[n++] = (wgml_gpu_binding){gamma.buf, gamma.offset, 0, WGML_ROW_SLOT_GAMMA};
    if (kind == WGML_ROW_LAYERNORM)
        b[n++] = (wgml_gpu_binding){beta.buf, beta.offset, 0, WGML_ROW_SLOT_BETA};
    st = wgml_gpu_dispatch(gpu, p, NULL, 0, b, n, gx, gy, 1);
done:
    wgml_text_free(&t);
    return st;
}

wgml_status wgml_op_softmax(wgml_gpu *gpu, wgml_view x, wgml_view y, uint32_t rows,
                            uint32_t cols)
{
    return dispatch_rows(gpu, WGML_ROW_SOFTMAX, x, (wgml_view){0}, (wgml_view){0}, y, rows,
                         cols, 0);
}

wgml_cost wgml_op_softmax_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n, .flops = 5 * n};
}

wgml_status wgml_op_layernorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view beta,
                              wgml_view y, uint32_t rows, uint32_t cols, float eps)
{
    return dispatch_rows(gpu, WGML_ROW_LAYERNORM, x, gamma, beta, y, rows, cols, eps);
}

wgml_cost wgml_op_layernorm_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n + 8.0 * cols, .flops = 8 * n};
}

wgml_status wgml_op_rmsnorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view y,
                            uint32_t rows, uint32_t cols, float eps)
{
    return dispatch_rows(gpu, WGML_ROW_RMSNORM, x, gamma, (wgml_view){0}, y, rows, cols, eps);
}

wgml_cost wgml_op_rmsnorm_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n + 4.0 * cols, .flops = 4 * n};
}
