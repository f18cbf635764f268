// Ops of sequence encoders: embedding gather (gather.wgsl), multi-head
// attention over packed QKV (attention.wgsl, a template whose prelude sizes
// the head) and pooling with L2 normalisation (pool.wgsl). Each has a setup
// function that the graph executor shares with the op below it.
#include "ops/ops_internal.h"
#include "ops/templates.h"

#include <math.h>
#include <string.h>

enum {
    GATHER_WG = 256,        // gather.wgsl
    ATTN_QT = 64,           // queries per workgroup (scalar kernel)
    ATTN_KT_MAX = 64,       // keys per tile, at most (scalar kernel)
    ATTN_KT_VEC4 = 32,      // keys per tile, at most (vec4 kernel; H200: 64 -> 32 took
                            // b32x128 74.4 -> 57.8 us, 128 was slower, 16 no better)
    ATTN_MAX_HEAD = 256,    // registers hold q and o: 2 * HD floats per invocation
};

// ================================================================ gather

wgml_status wgml_gather_setup(wgml_gpu *gpu, uint32_t n_ids, uint32_t vocab, uint32_t dim,
                              uint32_t params[4], uint32_t grid[3])
{
    if (n_ids == 0 || vocab == 0 || dim == 0 || (uint64_t)n_ids * dim > UINT32_MAX ||
        (uint64_t)vocab * dim > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gather: %u ids of a %u x %u table is empty or too large", n_ids,
                             vocab, dim);
    uint64_t count = (uint64_t)n_ids * dim;
    wgml_status st = wgml_ops_grid(gpu, (count + GATHER_WG - 1) / GATHER_WG, &grid[0], &grid[1]);
    if (st) return st;
    grid[2] = 1;
    params[0] = n_ids;
    params[1] = vocab;
    params[2] = dim;
    params[3] = grid[0];
    return WGML_OK;
}

wgml_status wgml_op_gather(wgml_gpu *gpu, wgml_view table, wgml_view ids, wgml_view out,
                           uint32_t n_ids, uint32_t vocab, uint32_t dim)
{
    uint32_t params[4], grid[3];
    wgml_status st = wgml_gather_setup(gpu, n_ids, vocab, dim, params, grid);
    if (st || (st = wgml_ops_check_view(gpu, "gather", "table", table, 4ull * vocab * dim)) ||
        (st = wgml_ops_check_view(gpu, "gather", "ids", ids, 4ull * n_ids)) ||
        (st = wgml_ops_check_view(gpu, "gather", "out", out, 4ull * n_ids * dim)))
        return st;
    wgml_gpu_kernel k = {.family = "gather"};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    wgml_gpu_binding b[] = {WGML_OPS_BINDING(table), WGML_OPS_BINDING(ids), WGML_OPS_BINDING(out)};
    return wgml_gpu_dispatch(gpu, p, params, sizeof(uint32_t[4]), b, 3, grid[0], grid[1], 1);
}

wgml_cost wgml_op_gather_cost(uint32_t n_ids, uint32_t dim)
{
    return (wgml_cost){.bytes = 4.0 * n_ids + 8.0 * n_ids * dim, .flops = 0};
}

// ================================================================ attention

wgml_status wgml_attention_setup(wgml_gpu *gpu, wgml_text *prelude, uint32_t batch, uint32_t seq,
                                 uint32_t heads, uint32_t head_dim, float scale,
                                 uint32_t params[4], uint32_t grid[3], const char **family)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    uint64_t rows = (uint64_t)batch * seq, D = (uint64_t)heads * head_dim;
    if (batch == 0 || seq == 0 || heads == 0 || head_dim == 0 || rows * 3 * D > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "attention: batch %u, length %u, %u heads of %u is empty or too "
                             "large", batch, seq, heads, head_dim);
    if (head_dim > ATTN_MAX_HEAD)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "attention: heads of %u exceed the kernel's %u", head_dim,
                             ATTN_MAX_HEAD);
    // Keys and values of a tile (and, vec4 kernel, its mask values) fill at
    // most the workgroup memory the device has.
    // The vec4 kernel for heads of 4..64 (BERT-family models use 32 or 64);
    // larger heads take the scalar one: the vec4 kernel's unrolled loops over
    // 128- and 256-wide heads took lavapipe minutes to compile under ASan.
    bool vec4 = head_dim % 4 == 0 && head_dim <= 64;
    uint32_t kt = vec4 ? ATTN_KT_VEC4 : ATTN_KT_MAX;
    while (kt > 1 && (2ull * head_dim + vec4) * kt * 4 > d->max_compute_workgroup_storage_size)
        kt /= 2;
    // The vec4 kernel's shape (measured on an H200, MiniLM's 12 heads of 32,
    // bench/results/2026-11-22-h200-session5): every workgroup stages all of
    // its sequence's keys and values, so more queries per workgroup (QT) cost
    // less staging; where that leaves too few workgroups to fill the GPU
    // (batch 1 or 8), each query's keys split two ways instead. The splits
    // merge through the key tile's memory, which holds S - 1 partial results
    // of every query of the workgroup: QT <= KT / (S - 1).
    uint32_t splits = 1, qt = ATTN_QT;
    if (vec4) {
        uint64_t groups = (uint64_t)batch * heads * ((seq + 127) / 128);
        if (groups < 256 && kt >= 8) {
            splits = 2;
            qt = 64;
        } else {
            qt = seq >= 512 && groups >= 1024 ? 256 : 128;
        }
        while (qt > 1 && qt * splits > d->max_compute_invocations_per_workgroup) qt /= 2;
        while (qt > 1 && (splits - 1) * qt > kt) qt /= 2;
    }
    uint32_t gmax = d->max_compute_workgroups_per_dimension;
    grid[0] = (seq + qt - 1) / qt;
    grid[1] = heads;
    grid[2] = batch;
    if (grid[0] > gmax || grid[1] > gmax || grid[2] > gmax)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "attention: batch %u x %u heads exceed the device's dispatch limits",
                             batch, heads);
    wgml_text_printf(prelude, "const HD: u32 = %uu;\nconst KT: u32 = %uu;\nconst QT: u32 = %uu;\n",
                     head_dim, kt, qt);
    // The vec4 kernel keeps SC scores in registers at a time: 16 for heads
    // up to 32, 8 for 64 (SC x HD at most 512: compilers unroll those
    // loops), a power of two dividing a split's share of the tile.
    uint32_t sc = 16;
    while (sc > 1 && (sc * head_dim > 512 || sc > kt / splits)) sc /= 2;
    if (vec4) wgml_text_printf(prelude, "const SC: u32 = %uu;\nconst S: u32 = %uu;\n", sc, splits);
    *family = vec4 ? "attention_vec4" : "attention";
    params[0] = seq;
    params[1] = heads;
    memcpy(&params[2], &scale, 4);
    params[3] = 0;
    return WGML_OK;
}

wgml_status wgml_op_attention(wgml_gpu *gpu, wgml_view qkv, wgml_view mask, wgml_view out,
                              uint32_t batch, uint32_t seq, uint32_t heads, uint32_t head_dim,
                              float scale)
{
    uint32_t params[4], grid[3];
    const char *family = NULL;
    wgml_text t = {0};
    wgml_status st = wgml_attention_setup(gpu, &t, batch, seq, heads, head_dim, scale, params,
                                          grid, &family);
    uint64_t rows = (uint64_t)batch * seq, D = (uint64_t)heads * head_dim;
    if (st || (st = wgml_ops_check_view(gpu, "attention", "qkv", qkv, 12 * rows * D)) ||
        (st = wgml_ops_check_view(gpu, "attention", "mask", mask, 4 * rows)) ||
        (st = wgml_ops_check_view(gpu, "attention", "out", out, 4 * rows * D)))
        goto done;
    if (t.failed) {
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    wgml_gpu_kernel k = {.family = family, .prelude = t.s};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) goto done;
    wgml_gpu_binding b[] = {WGML_OPS_BINDING(qkv), WGML_OPS_BINDING(mask), WGML_OPS_BINDING(out)};
    st = wgml_gpu_dispatch(gpu, p, params, sizeof(uint32_t[4]), b, 3, grid[0], grid[1], grid[2]);
done:
    wgml_text_free(&t);
    return st;
}

wgml_cost wgml_op_attention_cost(uint32_t batch, uint32_t seq, uint32_t heads, uint32_t head_dim)
{
    double rows = (double)batch * seq, D = (double)heads * head_dim;
    // Scores and the weighted sum: 2 multiply-adds per (query, key, d); exp per score.
    return (wgml_cost){.bytes = 4.0 * (3 * rows * D + rows + rows * D),
                       .flops = 4.0 * batch * heads * (double)seq * seq * head_dim +
                                5.0 * batch * heads * (double)seq * seq};
}

// ================================================================ pooling

const char *wgml_pool_name(wgml_pool_mode mode)
{
    return mode == WGML_POOL_CLS ? "pool_cls" : "pool_mean";
}

wgml_status wgml_pool_setup(wgml_gpu *gpu, wgml_pool_mode mode, bool normalize, uint32_t batch,
                            uint32_t seq, uint32_t dim, uint32_t params[8], uint32_t grid[3])
{
    if (batch == 0 || seq == 0 || dim == 0 || (uint64_t)batch * seq * dim > UINT32_MAX ||
        (mode != WGML_POOL_MEAN && mode != WGML_POOL_CLS))
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "pool: batch %u x length %u x %u (mode %d) is empty or too large",
                             batch, seq, dim, (int)mode);
    wgml_status st = wgml_ops_grid(gpu, batch, &grid[0], &grid[1]);
    if (st) return st;
    grid[2] = 1;
    uint32_t v[8] = {batch, seq, dim, mode == WGML_POOL_CLS ? 1u : 0u, normalize, grid[0], 0, 0};
    memcpy(params, v, sizeof v);
    return WGML_OK;
}

wgml_status wgml_op_pool(wgml_gpu *gpu, wgml_pool_mode mode, bool normalize, wgml_view x,
                         wgml_view weights, wgml_view out, uint32_t batch, uint32_t seq,
                         uint32_t dim)
{
    uint32_t params[8], grid[3];
    const char *name = wgml_pool_name(mode);
    wgml_status st = wgml_pool_setup(gpu, mode, normalize, batch, seq, dim, params, grid);
    if (st || (st = wgml_ops_check_view(gpu, name, "x", x, 4ull * batch * seq * dim)) ||
        (st = wgml_ops_check_view(gpu, name, "weights", weights, 4ull * batch * seq)) ||
        (st = wgml_ops_check_view(gpu, name, "out", out, 4ull * batch * dim)))
        return st;
    wgml_gpu_kernel k = {.family = "pool"};
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    wgml_gpu_binding b[] = {WGML_OPS_BINDING(x), WGML_OPS_BINDING(weights), WGML_OPS_BINDING(out)};
    return wgml_gpu_dispatch(gpu, p, params, sizeof(uint32_t[8]), b, 3, grid[0], grid[1], 1);
}

wgml_cost wgml_op_pool_cost(uint32_t batch, uint32_t seq, uint32_t dim)
{
    double n = (double)batch * seq * dim;
    return (wgml_cost){.bytes = 4.0 * (n + (double)batch * seq + (double)batch * dim),
                       .flops = 2.0 * n + 3.0 * batch * dim};
}
