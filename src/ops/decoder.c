// Decoder ops (decoder.h): shape checks, preludes and dispatch for
// rope.wgsl, attn_decode.wgsl, attn_prefill.wgsl, decoder_rows.wgsl,
// matmul_q.wgsl and, for the prefill GEMM on subgroup matrices, matmul_sgm.wgsl.
#include "ops/decoder.h"
#include "ops/ewise.h"
#include "ops/gemv.h"
#include "ops/matmul_sgm.h"
#include "ops/ops_internal.h"

#include <math.h>
#include <string.h>

enum {
    ROPE_WG = 64,          // rope.wgsl
    ROWS_WG = 256,         // decoder_rows.wgsl
    PREFILL_QT = 64,       // attn_prefill.wgsl: queries per workgroup
    PREFILL_KT_MAX = 64,   // keys per tile, at most
    MAX_HEAD = 256,        // the prefill kernel holds q and o (2 HD floats) per invocation
    MATMUL_BN = 64,        // matmul_q.wgsl
};

wgml_mat wgml_mat_of(wgml_view v, uint32_t cols)
{
    return (wgml_mat){.v = v, .offset = 0, .stride = cols};
}

// Checks that a matrix of rows x cols elements of `esize` bytes lies inside
// its buffer, with every index below 2^32.
static wgml_status check_mat(wgml_gpu *gpu, const char *op, const char *name, wgml_mat m,
                             uint64_t rows, uint64_t cols, uint64_t esize)
{
    if (rows == 0 || cols == 0) return WGML_OK;
    if (m.stride < cols && rows > 1)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: %s's row stride %u is below its %llu columns", op, name,
                             m.stride, (unsigned long long)cols);
    uint64_t end = (uint64_t)m.offset + (rows - 1) * m.stride + cols;
    if (end + m.v.offset / esize > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: %s spans more than 2^32 elements", op, name);
    return wgml_ops_check_view(gpu, op, name, m.v, end * esize);
}

static wgml_status need_f16(wgml_gpu *gpu, const char *op, wgml_dtype t)
{
    if (t != WGML_F32 && t != WGML_F16)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "%s: unknown cache type %d", op, t);
    if (t == WGML_F16 && !wgml_gpu_info(gpu)->shader_f16)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "%s: an f16 cache needs shader-f16, which this device lacks", op);
    return WGML_OK;
}

static const char *kv_alias(wgml_dtype t)
{
    return t == WGML_F16 ? "enable f16;\nalias KV = f16;\n" : "alias KV = f32;\n";
}

// Builds (or finds) the pipeline of family/entry with a prelude.
static wgml_status pipeline(wgml_gpu *gpu, const char *family, const char *entry,
                            wgml_text *prelude, const wgml_gpu_constant *c, size_t nc,
                            wgml_gpu_pipeline **out)
{
    if (prelude->failed) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    wgml_gpu_kernel k = {.family = family, .entry = entry, .prelude = prelude->s,
                         .constants = c, .n_constants = nc};
    return wgml_gpu_pipeline_get(gpu, &k, out);
}

// What a kernel's prelude depends on, for the pipeline memo (gpu.h): the
// entry point (a string literal), and a few numbers.
typedef struct memo_key {
    const char *entry;
    uint32_t v[3];
} memo_key;
static const char DECODER_MEMO[] = "decoder";

static memo_key key_of(const char *entry, uint32_t a, uint32_t b, uint32_t c)
{
    memo_key k;
    memset(&k, 0, sizeof k);
    k.entry = entry;
    k.v[0] = a;
    k.v[1] = b;
    k.v[2] = c;
    return k;
}

// ================================================================ RoPE

void wgml_rope_table_fill(const wgml_rope_params *r, uint32_t n_pos, float *table)
{
    uint32_t half = r->n_rot / 2;
    float step = powf(r->base, -2.0f / (float)r->n_rot);
    for (uint32_t p = 0; p < n_pos; p++) {
        float theta = (float)p;   // p * step^i, by repeated f32 multiplication
        for (uint32_t i = 0; i < half; i++) {
            float ff = r->freq_factors ? r->freq_factors[i] : 1.0f;
            float a = r->scale * (theta / ff);
            table[2 * ((size_t)p * half + i)] = (float)cos((double)a);
            table[2 * ((size_t)p * half + i) + 1] = (float)sin((double)a);
            theta *= step;
        }
    }
}

// The rope.wgsl uniform.
typedef struct rope_params {
    uint32_t n, heads, hd, n_rot, pos, x_off, x_stride, neox, rotate, bias, capacity, groups_x;
    uint32_t q_heads, kv_heads, pad[2];
} rope_params;

static wgml_status rope_shape(wgml_gpu *gpu, const char *op, uint32_t n, uint32_t heads,
                              uint32_t hd, uint32_t n_rot, uint32_t pos, wgml_view table,
                              bool rotate)
{
    if (n == 0 || heads == 0 || hd == 0 || hd % 2 || n_rot % 2 || n_rot > hd ||
        (uint64_t)n * heads * hd > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: %u rows of %u heads of %u (rotating %u) is empty, odd or "
                             "too large", op, n, heads, hd, n_rot);
    if (rotate && n_rot)
        return wgml_ops_check_view(gpu, op, "table", table, 4ull * ((uint64_t)pos + n) * n_rot);
    return WGML_OK;
}

static wgml_status rope_dispatch(wgml_gpu *gpu, const char *entry, wgml_dtype kv, rope_params *rp,
                                 const wgml_gpu_binding *b, size_t nb)
{
    uint64_t units = (uint64_t)rp->n * rp->heads * (rp->hd / 2);
    uint32_t gx, gy;
    wgml_status st = wgml_ops_grid(gpu, (units + ROPE_WG - 1) / ROPE_WG, &gx, &gy);
    if (st) return st;
    rp->groups_x = gx;
    memo_key key = key_of(entry, (uint32_t)kv, 0, 0);
    wgml_gpu_pipeline *pl = wgml_gpu_pipeline_recall(gpu, DECODER_MEMO, &key, sizeof key);
    if (!pl) {
        wgml_text t = {0};
        wgml_text_printf(&t, "%s", kv_alias(kv));
        st = pipeline(gpu, "rope", entry, &t, NULL, 0, &pl);
        wgml_text_free(&t);
        if (st) return st;
        wgml_gpu_pipeline_remember(gpu, DECODER_MEMO, &key, sizeof key, pl);
    }
    return wgml_gpu_dispatch(gpu, pl, rp, sizeof *rp, b, nb, gx, gy, 1);
}

wgml_status wgml_op_rope(wgml_gpu *gpu, const wgml_rope_args *a)
{
    uint32_t width = a->heads * a->head_dim;
    wgml_status st = rope_shape(gpu, "rope", a->n, a->heads, a->head_dim, a->n_rot, a->pos,
                                a->table, true);
    if (st || (st = check_mat(gpu, "rope", "x", a->x, a->n, width, 4)) ||
        (a->bias.buf && (st = wgml_ops_check_view(gpu, "rope", "bias", a->bias, 4ull * width))))
        return st;
    rope_params rp = {.n = a->n, .heads = a->heads, .hd = a->head_dim, .n_rot = a->n_rot,
                      .pos = a->pos, .x_off = a->x.offset, .x_stride = a->x.stride,
                      .neox = a->neox, .rotate = 1, .bias = a->bias.buf != NULL};
    // Unused inputs bind the table (read-only, any size): the layout has every slot.
    wgml_view bias = a->bias.buf ? a->bias : a->table;
    if (!a->table.buf) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "rope: no table");
    wgml_gpu_binding b[] = {{a->table.buf, a->table.offset, 0, 1}, {bias.buf, bias.offset, 0, 2},
                            {a->x.v.buf, a->x.v.offset, 0, 3}};
    return rope_dispatch(gpu, "rope", WGML_F32, &rp, b, 3);
}

wgml_status wgml_op_kv_store(wgml_gpu *gpu, const wgml_kv_store_args *a)
{
    uint32_t width = a->kv_heads * a->head_dim;
    wgml_status st = need_f16(gpu, "kv_store", a->cache_type);
    if (st || (st = rope_shape(gpu, "kv_store", a->n, a->kv_heads, a->head_dim,
                               a->rotate ? a->n_rot : 0, a->pos, a->table, a->rotate)))
        return st;
    if ((uint64_t)a->pos + a->n > a->capacity)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "kv_store: positions %u..%u exceed the cache's %u", a->pos,
                             a->pos + a->n - 1, a->capacity);
    uint64_t cache_elems = (uint64_t)a->capacity * width;
    if (cache_elems > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "kv_store: a cache of %llu elements exceeds 2^32",
                             (unsigned long long)cache_elems);
    if ((st = check_mat(gpu, "kv_store", "src", a->src, a->n, width, 4)) ||
        (st = wgml_ops_check_view(gpu, "kv_store", "cache", a->cache,
                                  cache_elems * wgml_dtype_size(a->cache_type))) ||
        (a->bias.buf && (st = wgml_ops_check_view(gpu, "kv_store", "bias", a->bias, 4ull * width))))
        return st;
    wgml_view any = a->bias.buf ? a->bias : a->table.buf ? a->table : a->src.v;
    wgml_view table = a->table.buf ? a->table : any;
    wgml_view bias = a->bias.buf ? a->bias : any;
    rope_params rp = {.n = a->n, .heads = a->kv_heads, .hd = a->head_dim,
                      .n_rot = a->rotate ? a->n_rot : 0, .pos = a->pos, .x_off = a->src.offset,
                      .x_stride = a->src.stride, .neox = a->neox, .rotate = a->rotate,
                      .bias = a->bias.buf != NULL, .capacity = a->capacity};
    wgml_gpu_binding b[] = {{table.buf, table.offset, 0, 1}, {bias.buf, bias.offset, 0, 2},
                            {a->src.v.buf, a->src.v.offset, 0, 4},
                            {a->cache.buf, a->cache.offset, 0, 5}};
    return rope_dispatch(gpu, "kv_store", a->cache_type, &rp, b, 4);
}

wgml_status wgml_op_rope_qkv(wgml_gpu *gpu, const wgml_rope_qkv_args *a)
{
    uint32_t heads = a->heads + 2 * a->kv_heads, width = heads * a->head_dim;
    wgml_status st = need_f16(gpu, "rope_qkv", a->cache_type);
    if (st || (st = rope_shape(gpu, "rope_qkv", a->n, heads, a->head_dim, a->n_rot, a->pos,
                               a->table, true)))
        return st;
    if (a->kv_heads == 0 || a->heads == 0 || (uint64_t)a->pos + a->n > a->capacity)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "rope_qkv: %u heads over %u key/value heads, positions %u..%u of a "
                             "cache of %u", a->heads, a->kv_heads, a->pos, a->pos + a->n - 1,
                             a->capacity);
    uint64_t cache_elems = (uint64_t)a->kv_heads * a->capacity * a->head_dim;
    if (cache_elems > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "rope_qkv: the cache exceeds 2^32 "
                             "elements");
    uint64_t cb = cache_elems * wgml_dtype_size(a->cache_type);
    if ((st = check_mat(gpu, "rope_qkv", "qkv", a->qkv, a->n, width, 4)) ||
        (st = wgml_ops_check_view(gpu, "rope_qkv", "k_cache", a->k_cache, cb)) ||
        (st = wgml_ops_check_view(gpu, "rope_qkv", "v_cache", a->v_cache, cb)) ||
        (a->bias.buf && (st = wgml_ops_check_view(gpu, "rope_qkv", "bias", a->bias, 4ull * width))))
        return st;
    if (!a->table.buf) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "rope_qkv: no table");
    rope_params rp = {.n = a->n, .heads = heads, .hd = a->head_dim, .n_rot = a->n_rot,
                      .pos = a->pos, .x_off = a->qkv.offset, .x_stride = a->qkv.stride,
                      .neox = a->neox, .rotate = 1, .bias = a->bias.buf != NULL,
                      .capacity = a->capacity, .q_heads = a->heads, .kv_heads = a->kv_heads};
    wgml_view bias = a->bias.buf ? a->bias : a->table;
    wgml_gpu_binding b[] = {{a->table.buf, a->table.offset, 0, 1}, {bias.buf, bias.offset, 0, 2},
                            {a->qkv.v.buf, a->qkv.v.offset, 0, 3},
                            {a->k_cache.buf, a->k_cache.offset, 0, 5},
                            {a->v_cache.buf, a->v_cache.offset, 0, 6}};
    return rope_dispatch(gpu, "rope_qkv", a->cache_type, &rp, b, 5);
}

// ================================================================ attention

static uint32_t decode_tiles(uint32_t n_keys)
{
    return (n_keys + WGML_ATTN_DECODE_TILE - 1) / WGML_ATTN_DECODE_TILE;
}

uint64_t wgml_attn_decode_scratch_bytes(uint32_t heads, uint32_t head_dim, uint32_t n_keys)
{
    return 4ull * heads * decode_tiles(n_keys ? n_keys : 1) * (head_dim + 2);
}

// Checks every attention argument; *n_keys: the keys the last row sees.
static wgml_status attn_check(wgml_gpu *gpu, const char *op, const wgml_attn_args *a,
                              uint32_t *n_keys)
{
    wgml_status st = need_f16(gpu, op, a->kv_type);
    if (st) return st;
    if (a->n == 0 || a->heads == 0 || a->kv_heads == 0 || a->head_dim == 0 ||
        a->heads % a->kv_heads || a->head_dim % 4 || a->head_dim > MAX_HEAD)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: %u rows, %u heads over %u key/value heads of %u: empty, not "
                             "grouped evenly, or a head size not a multiple of 4 up to %d",
                             op, a->n, a->heads, a->kv_heads, a->head_dim, MAX_HEAD);
    if ((uint64_t)a->pos + a->n > a->capacity)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: positions %u..%u exceed the cache's %u", op, a->pos,
                             a->pos + a->n - 1, a->capacity);
    uint64_t width = (uint64_t)a->heads * a->head_dim;
    uint64_t cache_elems = (uint64_t)a->kv_heads * a->capacity * a->head_dim;
    if (cache_elems > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "%s: the cache exceeds 2^32 elements",
                             op);
    uint64_t cb = cache_elems * wgml_dtype_size(a->kv_type);
    if ((st = check_mat(gpu, op, "q", a->q, a->n, width, 4)) ||
        (st = check_mat(gpu, op, "out", a->out, a->n, width, 4)) ||
        (st = wgml_ops_check_view(gpu, op, "k", a->k, cb)) ||
        (st = wgml_ops_check_view(gpu, op, "v", a->v, cb)))
        return st;
    *n_keys = a->pos + a->n;
    return WGML_OK;
}

wgml_status wgml_op_attn_decode(wgml_gpu *gpu, const wgml_attn_args *a)
{
    uint32_t n_keys;
    wgml_status st = attn_check(gpu, "attn_decode", a, &n_keys);
    if (st) return st;
    if (a->n != 1)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "attn_decode: one query row, not %u (attn_prefill takes more)", a->n);
    uint32_t G = a->heads / a->kv_heads, tiles = decode_tiles(n_keys);
    const wgml_device_info *d = wgml_gpu_info(gpu);
    // Workgroup memory: the G query rows, scores and reduction space.
    uint64_t wg_bytes = 4ull * G * a->head_dim + 8ull * G * WGML_ATTN_DECODE_TILE + 8ull * G;
    // tile_wide (256 invocations): its value groups VS (a power of two, VU * VS
    // <= 256: at most one value unit an invocation) and its scratch SCR
    // (floats); the plain tile where that does not fit the workgroup memory
    // or the device's workgroup size, or the heads have more than 256 units.
    uint32_t KT = WGML_ATTN_DECODE_TILE, TW = 256, VU = G * (a->head_dim / 4), VS = 1;
    while (VS < KT && VU * VS * 2 <= TW) VS *= 2;
    uint32_t scr = G * KT * (TW / KT);
    if (4 * VU * VS > scr) scr = 4 * VU * VS;
    uint64_t wide_bytes = 4ull * G * a->head_dim + 4ull * G * KT + 4ull * scr + 8ull * G;
    bool wide = VU <= TW && wide_bytes <= d->max_compute_workgroup_storage_size &&
                d->max_compute_invocations_per_workgroup >= TW && !a->narrow_tile;
    if (wg_bytes > d->max_compute_workgroup_storage_size)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "attn_decode: %u query heads per key/value head of %u need %llu "
                             "bytes of workgroup memory; the device has %u", G, a->head_dim,
                             (unsigned long long)wg_bytes, d->max_compute_workgroup_storage_size);
    if (tiles > d->max_compute_workgroups_per_dimension ||
        a->kv_heads > d->max_compute_workgroups_per_dimension ||
        a->heads > d->max_compute_workgroups_per_dimension)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "attn_decode: %u key tiles exceed the device's dispatch limits", tiles);
    if ((st = wgml_ops_check_view(gpu, "attn_decode", "scratch", a->scratch,
                                  wgml_attn_decode_scratch_bytes(a->heads, a->head_dim, n_keys))))
        return st;
    const char *tile_entry = wide ? "tile_wide" : "tile";
    memo_key kt = key_of(tile_entry, (uint32_t)a->kv_type, a->head_dim, G),
             kc = key_of("combine", (uint32_t)a->kv_type, a->head_dim, G);
    wgml_gpu_pipeline *tile = wgml_gpu_pipeline_recall(gpu, DECODER_MEMO, &kt, sizeof kt),
                      *combine = wgml_gpu_pipeline_recall(gpu, DECODER_MEMO, &kc, sizeof kc);
    if (!tile || !combine) {
        wgml_text t = {0};
        wgml_text_printf(&t, "%sconst HD: u32 = %uu;\nconst G: u32 = %uu;\n"
                             "const VS: u32 = %uu;\nconst SCR: u32 = %uu;\n",
                         kv_alias(a->kv_type), a->head_dim, G, VS, scr);
        st = pipeline(gpu, "attn_decode", tile_entry, &t, NULL, 0, &tile);
        if (!st) st = pipeline(gpu, "attn_decode", "combine", &t, NULL, 0, &combine);
        wgml_text_free(&t);
        if (st) return st;
        wgml_gpu_pipeline_remember(gpu, DECODER_MEMO, &kt, sizeof kt, tile);
        wgml_gpu_pipeline_remember(gpu, DECODER_MEMO, &kc, sizeof kc, combine);
    }
    struct {
        uint32_t n_keys, capacity, tiles, q_off, out_off;
        float scale;
        uint32_t pad[2];
    } params = {n_keys, a->capacity, tiles, a->q.offset, a->out.offset, a->scale, {0, 0}};
    wgml_gpu_binding b1[] = {{a->q.v.buf, a->q.v.offset, 0, 1}, {a->k.buf, a->k.offset, 0, 2},
                             {a->v.buf, a->v.offset, 0, 3},
                             {a->scratch.buf, a->scratch.offset, 0, 4}};
    if ((st = wgml_gpu_dispatch(gpu, tile, &params, sizeof params, b1, 4, tiles, a->kv_heads, 1)))
        return st;
    wgml_gpu_binding b2[] = {{a->scratch.buf, a->scratch.offset, 0, 5},
                             {a->out.v.buf, a->out.v.offset, 0, 6}};
    return wgml_gpu_dispatch(gpu, combine, &params, sizeof params, b2, 2, a->heads, 1, 1);
}

wgml_status wgml_op_attn_prefill(wgml_gpu *gpu, const wgml_attn_args *a)
{
    uint32_t n_keys;
    wgml_status st = attn_check(gpu, "attn_prefill", a, &n_keys);
    if (st) return st;
    const wgml_device_info *d = wgml_gpu_info(gpu);
    uint32_t kt = PREFILL_KT_MAX;
    while (kt > 1 && 8ull * kt * a->head_dim > d->max_compute_workgroup_storage_size) kt /= 2;
    uint32_t gx = (a->n + PREFILL_QT - 1) / PREFILL_QT;
    if (gx > d->max_compute_workgroups_per_dimension ||
        a->heads > d->max_compute_workgroups_per_dimension)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "attn_prefill: %u rows x %u heads exceed the dispatch limits", a->n,
                             a->heads);
    wgml_text t = {0};
    wgml_text_printf(&t, "%sconst HD: u32 = %uu;\nconst G: u32 = %uu;\nconst KT: u32 = %uu;\n"
                         "const QT: u32 = %uu;\n", kv_alias(a->kv_type), a->head_dim,
                     a->heads / a->kv_heads, kt, (unsigned)PREFILL_QT);
    wgml_gpu_pipeline *pl;
    st = pipeline(gpu, "attn_prefill", NULL, &t, NULL, 0, &pl);
    wgml_text_free(&t);
    if (st) return st;
    struct {
        uint32_t n, pos, capacity, q_off, q_stride, out_off, out_stride;
        float scale;
    } params = {a->n, a->pos, a->capacity, a->q.offset, a->q.stride, a->out.offset,
                a->out.stride, a->scale};
    wgml_gpu_binding b[] = {{a->q.v.buf, a->q.v.offset, 0, 1}, {a->k.buf, a->k.offset, 0, 2},
                            {a->v.buf, a->v.offset, 0, 3}, {a->out.v.buf, a->out.v.offset, 0, 4}};
    return wgml_gpu_dispatch(gpu, pl, &params, sizeof params, b, 4, gx, a->heads, 1);
}

wgml_cost wgml_op_attn_cost(uint32_t n, uint32_t pos, uint32_t heads, uint32_t kv_heads,
                            uint32_t head_dim, wgml_dtype kv_type)
{
    // Pairs (query, key) seen: sum over rows of pos + r + 1.
    double pairs = (double)n * pos + (double)n * (n + 1) / 2;
    double keys = (double)pos + n;
    return (wgml_cost){
        .bytes = 2.0 * keys * kv_heads * head_dim * wgml_dtype_size(kv_type) +
                 8.0 * n * heads * head_dim,
        .flops = 4.0 * pairs * heads * head_dim + 5.0 * pairs * heads,
    };
}

// ================================================================ rows

// The decoder_rows.wgsl uniform.
typedef struct rows_params {
    uint32_t rows, cols, a_off, a_stride, b_off, b_stride, y_off, y_stride;
    float eps;
    uint32_t flag, groups_x, pad;
} rows_params;

// `w_at` for the embed entry; the other entries do not call it.
static const char *w_at_fn(wgml_quant q)
{
    switch (q) {
    case WGML_QUANT_F32: return "w_f32";
    case WGML_QUANT_F16: return "w_f16";
    case WGML_QUANT_Q8_0: return "w_q8_0";
    case WGML_QUANT_Q4_0: return "w_q4_0";
    case WGML_QUANT_Q4_1: return "w_q4_1";
    default: return NULL;
    }
}

static wgml_status rows_dispatch(wgml_gpu *gpu, const char *entry, wgml_quant q, rows_params *rp,
                                 uint64_t groups, const wgml_gpu_binding *b, size_t nb)
{
    uint32_t gx, gy;
    wgml_status st = wgml_ops_grid(gpu, groups, &gx, &gy);
    if (st) return st;
    rp->groups_x = gx;
    memo_key key = key_of(entry, (uint32_t)q, 1, 0);
    wgml_gpu_pipeline *pl = wgml_gpu_pipeline_recall(gpu, DECODER_MEMO, &key, sizeof key);
    if (!pl) {
        wgml_text t = {0};
        wgml_text_printf(&t, "fn w_at(row: u32, col: u32) -> f32 { return %s(row, col); }\n",
                         w_at_fn(q));
        st = pipeline(gpu, "decoder_rows", entry, &t, NULL, 0, &pl);
        wgml_text_free(&t);
        if (st) return st;
        wgml_gpu_pipeline_remember(gpu, DECODER_MEMO, &key, sizeof key, pl);
    }
    return wgml_gpu_dispatch(gpu, pl, rp, sizeof *rp, b, nb, gx, gy, 1);
}

wgml_status wgml_op_add_rmsnorm(wgml_gpu *gpu, wgml_mat x, wgml_mat d, wgml_view gamma,
                                wgml_mat y, uint32_t n, uint32_t cols, float eps)
{
    if (n == 0 || cols == 0)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "add_rmsnorm: empty shape");
    wgml_status st;
    if ((st = check_mat(gpu, "add_rmsnorm", "x", x, n, cols, 4)) ||
        (st = check_mat(gpu, "add_rmsnorm", "y", y, n, cols, 4)) ||
        (d.v.buf && (st = check_mat(gpu, "add_rmsnorm", "d", d, n, cols, 4))) ||
        (st = wgml_ops_check_view(gpu, "add_rmsnorm", "gamma", gamma, 4ull * cols)))
        return st;
    rows_params rp = {.rows = n, .cols = cols, .a_off = x.offset, .a_stride = x.stride,
                      .b_off = d.offset, .b_stride = d.stride, .y_off = y.offset,
                      .y_stride = y.stride, .eps = eps, .flag = d.v.buf != NULL};
    wgml_view dv = d.v.buf ? d.v : gamma;   // unused without d: any read-only buffer
    wgml_gpu_binding b[] = {{x.v.buf, x.v.offset, 0, 1}, {dv.buf, dv.offset, 0, 2},
                            {gamma.buf, gamma.offset, 0, 3}, {y.v.buf, y.v.offset, 0, 4}};
    return rows_dispatch(gpu, "add_rmsnorm", WGML_QUANT_F32, &rp, n, b, 4);
}

wgml_status wgml_op_swiglu(wgml_gpu *gpu, wgml_mat gate, wgml_mat up, wgml_view out, uint32_t n,
                           uint32_t cols)
{
    uint64_t count = (uint64_t)n * cols;
    if (count == 0 || count > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "swiglu: %u x %u is empty or too "
                             "large", n, cols);
    wgml_status st;
    if ((st = check_mat(gpu, "swiglu", "gate", gate, n, cols, 4)) ||
        (st = check_mat(gpu, "swiglu", "up", up, n, cols, 4)) ||
        (st = wgml_ops_check_view(gpu, "swiglu", "out", out, 4 * count)))
        return st;
    rows_params rp = {.rows = n, .cols = cols, .a_off = gate.offset, .a_stride = gate.stride,
                      .b_off = up.offset, .b_stride = up.stride, .y_off = 0, .y_stride = cols};
    wgml_gpu_binding b[] = {{out.buf, out.offset, 0, 4}, {gate.v.buf, gate.v.offset, 0, 5},
                            {up.v.buf, up.v.offset, 0, 6}};
    return rows_dispatch(gpu, "swiglu", WGML_QUANT_F32, &rp, (count + ROWS_WG - 1) / ROWS_WG, b, 3);
}

wgml_status wgml_op_embed(wgml_gpu *gpu, wgml_quant format, wgml_view table, wgml_view ids,
                          uint32_t ids_offset, wgml_mat out, uint32_t n, uint32_t vocab,
                          uint32_t dim)
{
    uint64_t count = (uint64_t)n * dim;
    if (!w_at_fn(format))
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "embed: tables of %s are not supported",
                             wgml_quant_name(format));
    if (count == 0 || count > UINT32_MAX || vocab == 0 || !wgml_quant_k_valid(format, dim))
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "embed: %u ids of a %u x %u %s table: empty, too large, or a row "
                             "length the format does not allow", n, vocab, dim,
                             wgml_quant_name(format));
    uint64_t tb = wgml_gemv_packed_bytes(format, vocab, dim);
    uint64_t quant_words = (format == WGML_QUANT_Q8_0 ? 32ull : 16ull) * vocab * (dim / 32) / 4;
    if (tb == 0 || tb / 4 > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "embed: the table exceeds 2^32 words");
    wgml_status st;
    if ((st = wgml_ops_check_view(gpu, "embed", "table", table, tb)) ||
        (st = wgml_ops_check_view(gpu, "embed", "ids", ids, 4ull * ((uint64_t)ids_offset + n))) ||
        (st = check_mat(gpu, "embed", "out", out, n, dim, 4)))
        return st;
    bool block = format == WGML_QUANT_Q8_0 || format == WGML_QUANT_Q4_0 ||
                 format == WGML_QUANT_Q4_1;
    rows_params rp = {.rows = n, .cols = dim, .a_off = ids_offset, .b_off = vocab,
                      .y_off = out.offset, .y_stride = out.stride,
                      .flag = block ? (uint32_t)quant_words : 0};
    wgml_gpu_binding b[] = {{out.v.buf, out.v.offset, 0, 4}, {table.buf, table.offset, 0, 7},
                            {ids.buf, ids.offset, 0, 8}};
    return rows_dispatch(gpu, "embed", format, &rp, (count + ROWS_WG - 1) / ROWS_WG, b, 3);
}

// ================================================================ GEMM

static const char *w4_fn(wgml_quant q)
{
    switch (q) {
    case WGML_QUANT_F32: return "w4_f32";
    case WGML_QUANT_F16: return "w4_f16";
    case WGML_QUANT_Q8_0: return "w4_q8_0";
    case WGML_QUANT_Q4_0: return "w4_q4_0";
    case WGML_QUANT_Q4_1: return "w4_q4_1";
    default: return NULL;
    }
}

// The subgroup-matrix GEMM's B hook for W (N x K) in `format`: 8 weights of
// row n from k (k % 8 == 0), fetched raw, dequantised to f16 when staged.
// Scales as matmul_q.wgsl reads them (w_sc: their u32 index).
static void sgm_emit_w(wgml_text *t, wgml_quant format)
{
    if (format == WGML_QUANT_F16) {
        wgml_text_printf(t,
            "@group(0) @binding(2) var<storage, read> ws: array<vec4<u32>>;\n"
            "alias BRaw = vec4<u32>;\n"
            "fn b_fetch(n: u32, k: u32) -> BRaw {\n"
            "    if (n < p.N && k < p.K) { return ws[(n * p.K + k) / 8u]; }\n"
            "    return BRaw();\n"
            "}\n"
            "fn b_half8(v: BRaw) -> H8 { return h8_of_bits(v); }\n");
        return;
    }
    bool q8 = format == WGML_QUANT_Q8_0;
    // q: the two words holding the 8 quants; s: the scale's word; h: the
    // scale's half (Q8_0, Q4_0); sh: the nibble (0 low: elements 0..15 of the
    // block, 4 high: 16..31).
    wgml_text_printf(t,
        "@group(0) @binding(2) var<storage, read> ws: array<u32>;\n"
        "struct BRaw { q: vec2<u32>, s: u32, h: u32, sh: u32 }\n"
        "fn b_fetch(n: u32, k: u32) -> BRaw {\n"
        "    if (n >= p.N || k >= p.K) { return BRaw(); }\n"
        "    let g = n * (p.K / 32u) + k / 32u;\n"
        "    let j = k %% 32u;\n"
        "    let i = %s;\n"
        "    return BRaw(vec2<u32>(ws[i], ws[i + 1u]), ws[p.w_sc + %s], 16u * (g %% 2u), 4u * (j / 16u));\n"
        "}\n",
        q8 ? "g * 8u + j / 4u" : "g * 4u + (j % 16u) / 4u",
        format == WGML_QUANT_Q4_1 ? "g" : "g / 2u");
    if (q8) {
        wgml_text_printf(t,
            "fn b_i8x4(w: u32) -> vec4<f32> {\n"
            "    return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));\n"
            "}\n"
            "fn b_half8(v: BRaw) -> H8 {\n"
            "    let d = unpack2x16float(v.s >> v.h).x;\n"
            "    return h8_of_f32(d * b_i8x4(v.q.x), d * b_i8x4(v.q.y));\n"
            "}\n");
        return;
    }
    wgml_text_printf(t,
        "fn b_nib4(w: u32, sh: u32) -> vec4<f32> {\n"
        "    return vec4<f32>((vec4<u32>(w) >> (vec4<u32>(0u, 8u, 16u, 24u) + sh)) & vec4<u32>(15u));\n"
        "}\n");
    if (format == WGML_QUANT_Q4_1)
        wgml_text_printf(t,
            "fn b_half8(v: BRaw) -> H8 {\n"
            "    let dm = unpack2x16float(v.s);\n"
            "    return h8_of_f32(dm.x * b_nib4(v.q.x, v.sh) + dm.y, dm.x * b_nib4(v.q.y, v.sh) + dm.y);\n"
            "}\n");
    else
        wgml_text_printf(t,
            "fn b_half8(v: BRaw) -> H8 {\n"
            "    let d = unpack2x16float(v.s >> v.h).x;\n"
            "    return h8_of_f32(d * (b_nib4(v.q.x, v.sh) - 8.0), d * (b_nib4(v.q.y, v.sh) - 8.0));\n"
            "}\n");
}

static bool sgm_format(wgml_quant q)
{
    return q == WGML_QUANT_F16 || q == WGML_QUANT_Q8_0 || q == WGML_QUANT_Q4_0 ||
           q == WGML_QUANT_Q4_1;
}

static wgml_status matmul_q_sgm(wgml_gpu *gpu, wgml_quant format, wgml_view w, wgml_mat x,
                                wgml_mat y, uint32_t M, uint32_t N, uint32_t K, uint32_t sc_base)
{
    wgml_text t = {0};
    uint32_t grid[3];
    wgml_status st = wgml_sgm_prelude(gpu, &t, wgml_sgm_pick(gpu, M, N, K), true, M, N, grid);
    if (st) {
        wgml_text_free(&t);
        return st;
    }
    bool x_vec4 = x.offset % 4 == 0 && x.stride % 4 == 0 && x.v.offset % 16 == 0;
    wgml_sgm_emit_a(&t, WGML_F32, x_vec4);
    sgm_emit_w(&t, format);
    wgml_text_printf(&t, "@group(0) @binding(3) var<storage, read_write> y: array<f32>;\n"
                         "fn mm_store(r: u32, col: u32, v: f32) { y[p.c_off + r * p.c_stride + col] = v; }\n");
    const char *family;
    wgml_sgm_finish(&t, &family);
    wgml_gpu_kernel k = {.family = family, .prelude = family ? t.s : NULL,
                         .source = family ? NULL : t.s};
    wgml_gpu_pipeline *pl;
    st = t.failed ? wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory")
                  : wgml_gpu_pipeline_get(gpu, &k, &pl);
    wgml_text_free(&t);
    if (st) return st;
    wgml_sgm_params params = {.M = M, .N = N, .K = K, .w_sc = sc_base, .a_off = x.offset,
                              .a_stride = x.stride, .c_off = y.offset, .c_stride = y.stride};
    wgml_gpu_binding b[] = {{x.v.buf, x.v.offset, 0, 1}, {w.buf, w.offset, 0, 2},
                            {y.v.buf, y.v.offset, 0, 3}};
    return wgml_gpu_dispatch(gpu, pl, &params, sizeof params, b, 3, grid[0], grid[1], grid[2]);
}

wgml_status wgml_op_matmul_q(wgml_gpu *gpu, wgml_quant format, wgml_view w, wgml_mat x,
                             wgml_mat y, uint32_t M, uint32_t N, uint32_t K)
{
    return wgml_op_matmul_q_variant(gpu, WGML_MATMUL_AUTO, format, w, x, y, M, N, K);
}

wgml_status wgml_op_matmul_q_variant(wgml_gpu *gpu, wgml_matmul_variant variant,
                                     wgml_quant format, wgml_view w, wgml_mat x, wgml_mat y,
                                     uint32_t M, uint32_t N, uint32_t K)
{
    if (!w4_fn(format))
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "matmul_q: %s weights are not supported",
                             wgml_quant_name(format));
    if (M == 0 || N == 0 || K == 0 || !wgml_quant_k_valid(format, K) ||
        (uint64_t)N * K > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "matmul_q: %u x %u x %u with %s weights: empty, too large, or a K "
                             "the format does not allow", M, N, K, wgml_quant_name(format));
    uint64_t wb = wgml_gemv_packed_bytes(format, N, K);
    wgml_status st;
    if ((st = wgml_ops_check_view(gpu, "matmul_q", "w", w, wb)) ||
        (st = check_mat(gpu, "matmul_q", "x", x, M, K, 4)) ||
        (st = check_mat(gpu, "matmul_q", "y", y, M, N, 4)))
        return st;
    uint32_t sc_base = format == WGML_QUANT_Q8_0 ? N * (K / 32) * 8
                       : format == WGML_QUANT_Q4_0 || format == WGML_QUANT_Q4_1
                           ? N * (K / 32) * 4 : 0;
    // Subgroup matrices (x and W rounded to f16, f32 sums) where the device
    // has them, unless the caller wants f32 arithmetic.
    bool fits = wgml_sgm_available(gpu) && sgm_format(format) && K % 8 == 0 && w.offset % 16 == 0;
    if (variant == WGML_MATMUL_AUTO) variant = fits ? WGML_MATMUL_SUBGROUP_MATRIX : WGML_MATMUL_TILED;
    if (variant == WGML_MATMUL_SUBGROUP_MATRIX) {
        if (!fits)
            return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                                 "matmul_q: the subgroup-matrix kernel needs f16, q8_0, q4_0 or "
                                 "q4_1 weights at a 16-byte aligned view, K a multiple of 8, and "
                                 "a device with 16x16x16 f16 subgroup matrices");
        return matmul_q_sgm(gpu, format, w, x, y, M, N, K, sc_base);
    }
    // 64-row tiles, or 16-row ones where 64 would leave few workgroups (as matmul.c).
    uint64_t tiles64 = (uint64_t)((M + 63) / 64) * ((N + MATMUL_BN - 1) / MATMUL_BN);
    uint32_t bm = tiles64 < 128 ? 16 : 64;
    uint32_t gx = (N + MATMUL_BN - 1) / MATMUL_BN, gy = (M + bm - 1) / bm;
    uint32_t gmax = wgml_gpu_info(gpu)->max_compute_workgroups_per_dimension;
    if (gx > gmax || gy > gmax)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "matmul_q: %u x %u exceeds the dispatch "
                             "limits", M, N);
    wgml_text t = {0};
    wgml_text_printf(&t, "fn w4(n: u32, k: u32) -> vec4<f32> { return %s(n, k); }\n",
                     w4_fn(format));
    wgml_gpu_constant c[] = {{"WY", bm / 4}};
    wgml_gpu_pipeline *pl;
    st = pipeline(gpu, "matmul_q", NULL, &t, c, 1, &pl);
    wgml_text_free(&t);
    if (st) return st;
    uint32_t params[8] = {M, N, K, sc_base, x.offset, x.stride, y.offset, y.stride};
    wgml_gpu_binding b[] = {{x.v.buf, x.v.offset, 0, 1}, {w.buf, w.offset, 0, 2},
                            {y.v.buf, y.v.offset, 0, 3}};
    return wgml_gpu_dispatch(gpu, pl, params, sizeof params, b, 3, gx, gy, 1);
}
