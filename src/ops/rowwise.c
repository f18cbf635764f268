// Row-wise reductions: softmax, layernorm, rmsnorm, over the rows.wgsl template.
#include "ops/ops_internal.h"
#include "ops/templates.h"
#include "tune/tune.h"

#include <stdlib.h>

#include <stdio.h>

// Values of a row each invocation keeps in registers (subgroup rows), unless
// `wgml tune` measured otherwise for the row length. On the H200 the fused
// layernorm+bias+GELU+dropout over 16384 x 1024 took 56.0, 47.3, 49.2 and
// 74.4 us at 1, 2, 4 and 8 (register pressure at 8, too little work per
// invocation at 1); plain layernorm 35.8 us at 2.
enum { ROW_VALUES_PER_LANE = 2 };

static wgml_status dispatch_rows(wgml_gpu *gpu, wgml_row_kind kind, wgml_view x, wgml_view gamma,
                                 wgml_view beta, wgml_view y, uint32_t rows, uint32_t cols,
                                 float eps, uint32_t values_per_lane);

// What a tuning run dispatches: a layernorm, which stands for the family (the
// three row ops share the template).
struct row_tune_args {
    wgml_view x, g, y;
    uint32_t rows, cols;
};
static wgml_status row_tune_run(wgml_gpu *gpu, int variant, void *user);

// Row lengths tune by power-of-two class.
static void row_shape_class(uint32_t cols, char *out, size_t cap)
{
    uint32_t c = 1;
    while (c < cols && c < (1u << 30)) c <<= 1;
    snprintf(out, cap, "cols<=%u", c);
}

uint32_t wgml_rows_values_per_lane(wgml_gpu *gpu, uint32_t cols)
{
    char cls[32];
    row_shape_class(cols, cls, sizeof cls);
    int v = wgml_tune_lookup(gpu, "rows", cls, "f32");
    return v >= 1 && v <= 16 ? (uint32_t)v : ROW_VALUES_PER_LANE;
}

wgml_status wgml_rows_tune(wgml_gpu *gpu, uint32_t rows, uint32_t cols, uint32_t *best,
                           double *best_ns)
{
    wgml_gpu_buf *x = NULL, *y = NULL, *gb = NULL;
    wgml_status st = wgml_gpu_buf_create(gpu, 4ull * rows * cols, "tune.x", &x);
    if (!st) st = wgml_gpu_buf_create(gpu, 4ull * rows * cols, "tune.y", &y);
    if (!st) st = wgml_gpu_buf_create(gpu, 8ull * cols, "tune.gamma_beta", &gb);
    struct row_tune_args args = {{x, 0}, {gb, 0}, {y, 0}, rows, cols};
    static const int candidates[] = {1, 2, 4, 8};
    char cls[32];
    row_shape_class(cols, cls, sizeof cls);
    int b = -1;
    if (!st) {
        // Zero-filled inputs would be unrealistically fast: give them values.
        float *host = malloc(4ull * rows * cols);
        if (!host) st = WGML_ERR_OUT_OF_MEMORY;
        for (uint64_t i = 0; host && i < (uint64_t)rows * cols; i++) host[i] = (float)(i % 97) * 0.01f;
        if (!st) st = wgml_gpu_buf_write(gpu, x, 0, host, 4ull * rows * cols);
        if (!st) st = wgml_gpu_buf_write(gpu, gb, 0, host, 8ull * cols);
        free(host);
    }
    if (!st) st = wgml_tune_pick(gpu, "rows", cls, "f32", candidates, 4, row_tune_run, &args, &b,
                                 best_ns);
    *best = b > 0 ? (uint32_t)b : ROW_VALUES_PER_LANE;
    wgml_gpu_buf_release(gpu, x);
    wgml_gpu_buf_release(gpu, y);
    wgml_gpu_buf_release(gpu, gb);
    return st;
}

const char *wgml_row_entry(wgml_row_kind kind)
{
    static const char *entries[] = {"layernorm", "rmsnorm", "softmax"};
    return (unsigned)kind <= WGML_ROW_SOFTMAX ? entries[kind] : "?";
}

wgml_status wgml_rows_prelude(wgml_gpu *gpu, wgml_text *t, uint32_t rows, uint32_t cols,
                              float eps, uint32_t values_per_lane, uint32_t *gx, uint32_t *gy,
                              uint32_t *vec)
{
    if (!values_per_lane) values_per_lane = wgml_rows_values_per_lane(gpu, cols);
    if (rows == 0 || cols == 0 || (uint64_t)rows * cols > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "row op: shape %u x %u is empty or too large", rows, cols);
    uint32_t vw = cols % 4 == 0 ? 4 : 1, cv = cols / vw;
    // Where the subgroup size is fixed: a row per group of SPR subgroups, few
    // enough values per invocation that registers stay free for fused
    // epilogues, reduced by subgroup operations plus, for SPR > 1, one
    // exchange through workgroup memory. Otherwise one workgroup per row with
    // a shared-memory tree.
    uint32_t sg = wgml_gpu_fixed_subgroup_size(gpu);
    uint32_t spr = 1;
    bool use_sg = sg != 0;
    if (use_sg) {
        while (cv > sg * spr * values_per_lane && sg * spr < 256) spr *= 2;
        use_sg = (cv + sg * spr - 1) / (sg * spr) <= 16;
    }
    uint32_t wg, tpr;
    if (use_sg) {
        wg = 256 >= sg ? 256 : sg;
        tpr = sg * spr;
    } else {
        wg = 32;
        while (wg < cv && wg < 256) wg *= 2;
        tpr = wg;
    }
    uint32_t rpw = wg / tpr;
    wgml_status st = wgml_ops_grid(gpu, (rows + rpw - 1) / rpw, gx, gy);
    if (st) return st;
    *vec = vw;
    wgml_text_printf(t, "%s", use_sg ? "enable subgroups;\n" : "");
    wgml_text_printf(t,
                     "alias V = %s;\nconst VW: u32 = %uu;\n"
                     "const ROWS: u32 = %uu;\nconst COLS: u32 = %uu;\nconst CV: u32 = %uu;\n"
                     "const WG: u32 = %uu;\nconst TPR: u32 = %uu;\nconst RPW: u32 = %uu;\n"
                     "const PER: u32 = %uu;\nconst GROUPS_X: u32 = %uu;\nconst EPS: f32 = %.9g;\n"
                     "@group(0) @binding(%d) var<storage, read> gamma: array<V>;\n"
                     "@group(0) @binding(%d) var<storage, read> beta: array<V>;\n",
                     vw == 4 ? "vec4<f32>" : "f32", vw, rows, cols, cv, wg, tpr, rpw,
                     (cv + tpr - 1) / tpr, *gx, (double)eps, WGML_ROW_SLOT_GAMMA,
                     WGML_ROW_SLOT_BETA);
    if (vw == 4)
        wgml_text_printf(t, "fn hsum(v: V) -> f32 { return dot(v, V(1.0)); }\n"
                            "fn hmax(v: V) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }\n");
    else
        wgml_text_printf(t, "fn hsum(v: V) -> f32 { return v; }\n"
                            "fn hmax(v: V) -> f32 { return v; }\n");
    if (use_sg && spr == 1) {
        wgml_text_printf(t, "fn row_sum(v: f32, li: u32) -> f32 { return subgroupAdd(v); }\n"
                            "fn row_max(v: f32, li: u32) -> f32 { return subgroupMax(v); }\n");
        return WGML_OK;
    }
    if (use_sg) {
        // Subgroups hold consecutive invocation indices (as on every
        // implementation tested); the tests check the result on each device.
        static const char *ops[2][3] = {{"row_sum", "subgroupAdd", "r + red[base + k]"},
                                        {"row_max", "subgroupMax", "max(r, red[base + k])"}};
        wgml_text_printf(t, "const SG: u32 = %uu;\nconst SPR: u32 = %uu;\n"
                            "var<workgroup> red: array<f32, WG / SG>;\n", sg, spr);
        for (int i = 0; i < 2; i++)
            wgml_text_printf(t,
                             "fn %s(v: f32, li: u32) -> f32 {\n"
                             "    let s = %s(v);\n"
                             "    if (li %% SG == 0u) { red[li / SG] = s; }\n"
                             "    workgroupBarrier();\n"
                             "    let base = (li / TPR) * SPR;\n"
                             "    var r = red[base];\n"
                             "    for (var k = 1u; k < SPR; k++) { r = %s; }\n"
                             "    workgroupBarrier();\n"
                             "    return r;\n"
                             "}\n",
                             ops[i][0], ops[i][1], ops[i][2]);
        return WGML_OK;
    }
    static const char *ops[2][2] = {{"row_sum", "red[li] + red[li + s]"},
                                    {"row_max", "max(red[li], red[li + s])"}};
    wgml_text_printf(t, "var<workgroup> red: array<f32, WG>;\n");
    for (int i = 0; i < 2; i++)
        wgml_text_printf(t,
                         "fn %s(v: f32, li: u32) -> f32 {\n"
                         "    red[li] = v;\n"
                         "    workgroupBarrier();\n"
                         "    for (var s = WG / 2u; s > 0u; s = s / 2u) {\n"
                         "        if (li < s) { red[li] = %s; }\n"
                         "        workgroupBarrier();\n"
                         "    }\n"
                         "    let r = red[0];\n"
                         "    workgroupBarrier();\n"
                         "    return r;\n"
                         "}\n",
                         ops[i][0], ops[i][1]);
    return WGML_OK;
}

// A row op with plain hooks: x at slot FREE, y at FREE + 1.
static wgml_status dispatch_rows(wgml_gpu *gpu, wgml_row_kind kind, wgml_view x, wgml_view gamma,
                                 wgml_view beta, wgml_view y, uint32_t rows, uint32_t cols,
                                 float eps, uint32_t values_per_lane)
{
    const char *name = wgml_row_entry(kind);
    uint64_t bytes = (uint64_t)rows * cols * 4;
    wgml_status st;
    uint32_t gx, gy, vec;
    wgml_text t = {0};
    if ((st = wgml_rows_prelude(gpu, &t, rows, cols, eps, values_per_lane, &gx, &gy, &vec)))
        goto done;
    if ((st = wgml_ops_check_view(gpu, name, "x", x, bytes)) ||
        (st = wgml_ops_check_view(gpu, name, "y", y, bytes)) ||
        (kind != WGML_ROW_SOFTMAX && (st = wgml_ops_check_view(gpu, name, "gamma", gamma, cols * 4ull))) ||
        (kind == WGML_ROW_LAYERNORM && (st = wgml_ops_check_view(gpu, name, "beta", beta, cols * 4ull))))
        goto done;
    wgml_text_printf(&t,
                     "@group(0) @binding(%d) var<storage, read> x: array<V>;\n"
                     "@group(0) @binding(%d) var<storage, read_write> y: array<V>;\n"
                     "fn row_load(row: u32, j: u32) -> V { return x[row * CV + j]; }\n"
                     "fn row_store(row: u32, j: u32, v: V) { y[row * CV + j] = v; }\n",
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

static wgml_status row_tune_run(wgml_gpu *gpu, int variant, void *user)
{
    const struct row_tune_args *a = user;
    return dispatch_rows(gpu, WGML_ROW_LAYERNORM, a->x, a->g, a->g, a->y, a->rows, a->cols, 1e-5f,
                         (uint32_t)variant);
}

wgml_status wgml_op_softmax(wgml_gpu *gpu, wgml_view x, wgml_view y, uint32_t rows,
                            uint32_t cols)
{
    return dispatch_rows(gpu, WGML_ROW_SOFTMAX, x, (wgml_view){0}, (wgml_view){0}, y, rows,
                         cols, 0, 0);
}

wgml_cost wgml_op_softmax_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n, .flops = 5 * n};
}

wgml_status wgml_op_layernorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view beta,
                              wgml_view y, uint32_t rows, uint32_t cols, float eps)
{
    return dispatch_rows(gpu, WGML_ROW_LAYERNORM, x, gamma, beta, y, rows, cols, eps, 0);
}

wgml_cost wgml_op_layernorm_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n + 8.0 * cols, .flops = 8 * n};
}

wgml_status wgml_op_rmsnorm(wgml_gpu *gpu, wgml_view x, wgml_view gamma, wgml_view y,
                            uint32_t rows, uint32_t cols, float eps)
{
    return dispatch_rows(gpu, WGML_ROW_RMSNORM, x, gamma, (wgml_view){0}, y, rows, cols, eps, 0);
}

wgml_cost wgml_op_rmsnorm_cost(uint32_t rows, uint32_t cols)
{
    double n = (double)rows * cols;
    return (wgml_cost){.bytes = 8 * n + 4.0 * cols, .flops = 4 * n};
}
