// Matrix multiply: the register-tiled matmul.wgsl template, f32 or f16
// elements, f32 accumulation, B plain (K x N) or transposed (N x K); this
// file supplies the plain store hook.
#include "ops/ops_internal.h"
#include "ops/matmul_sgm.h"
#include "ops/templates.h"
#include "tune/tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MATMUL_BN = 64 };   // columns of C per workgroup (matmul.wgsl)

// Rows of C per workgroup: 64, or 16 when 64-row tiles would leave too few
// workgroups to fill a GPU (or compute mostly padding, as for one short
// sentence). 128 workgroups is about one per SM on today's large GPUs.
static uint32_t tile_rows(uint32_t M, uint32_t N)
{
    uint64_t tiles64 = (uint64_t)((M + 63) / 64) * ((N + MATMUL_BN - 1) / MATMUL_BN);
    return tiles64 < 128 ? 16 : 64;
}

const char *wgml_matmul_variant_name(wgml_matmul_variant v)
{
    static const char *names[] = {"auto", "tiled", "sgm", "tiled+swizzle", "vec4",
                                  "vec4+subgroup", "vec4+subgroup+swizzle"};
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "?";
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

#define STORE_TEXT                                                  \
    "@group(0) @binding(3) var<storage, read_write> c: array<T>;\n"  \
    "fn mm_store(r: u32, col: u32, v: f32) { c[r * p.N + col] = T(v); }\n"
#define PLAIN_STORE_TEXT "alias TB = T;\n" STORE_TEXT
// f16 weights (B) under f32 activations.
#define W16_STORE_TEXT "enable f16;\nalias TB = f16;\n" STORE_TEXT
// matmul_vec4.wgsl's main_shuffle names these; its staged main does not call
// them, and a device without subgroups compiles the stand-ins.
#define NO_SHUFFLE_TEXT                                                     \
    "const G: u32 = 16u;\nconst R: u32 = 2u;\nconst SGN: u32 = 16u;\n"     \
    "fn lane_shuffle(v: vec4<f32>, lane: u32) -> vec4<f32> { return v; }\n"

static const char PLAIN_STORE[] = PLAIN_STORE_TEXT;
static const char PLAIN_STORE_W16[] = W16_STORE_TEXT;
static const char VEC4_STORE[] = PLAIN_STORE_TEXT NO_SHUFFLE_TEXT;
static const char VEC4_STORE_W16[] = W16_STORE_TEXT NO_SHUFFLE_TEXT;



bool wgml_matmul_can_use_subgroup_matrix(wgml_gpu *gpu)
{
    return wgml_sgm_available(gpu);
}

// Whether matmul_sgm.wgsl takes this product: f16 operands (or f16 weights
// under f32 activations), 16-byte chunks of A and B that never straddle a
// row (K, and N for plain B, multiples of 8) and 16-byte aligned views.
// matmul_vec4.wgsl's step along K and its workgroup memory: two 128-row
// tiles of BK / 4 + 1 16-byte chunks a row (20 KiB at 16, 36 KiB at 32).
// On an H100 (bench/results/2026-11-22-h100-session7) a step of 32 ran f32
// 4096^3 at 56% of the FMA peak against 48% at 16, and f16 at 44% against
// 47%: 32 for f32 where the device has the memory, else 16.
// WGML_MATMUL_VEC4_BK=16 or 32 forces one (timing experiments).
static uint32_t vec4_bk(wgml_gpu *gpu, wgml_dtype dtype)
{
    static int forced = -1;   // read once: this runs for every product recorded
    if (forced < 0) {
        const char *bk = getenv("WGML_MATMUL_VEC4_BK");
        forced = bk && (!strcmp(bk, "16") || !strcmp(bk, "32")) ? atoi(bk) : 0;
    }
    if (forced) return (uint32_t)forced;
    return dtype == WGML_F32 && 2ull * 128 * 9 * 16 <=
                                    wgml_gpu_info(gpu)->max_compute_workgroup_storage_size
               ? 32 : 16;
}

static uint64_t vec4_shared_bytes(uint32_t bk) { return 2ull * 128 * (bk / 4 + 1) * 16; }

// Whether matmul_vec4.wgsl takes this product: 16-byte chunks of A's and
// B's rows (K, and N for plain B, multiples of 4; views are bound at their
// offsets, so element 0 is aligned) and 20 KiB of workgroup memory.
static bool vec4_fits(wgml_gpu *gpu, bool b_t, uint32_t N, uint32_t K)
{
    return K % 4 == 0 && (b_t || N % 4 == 0) &&
           vec4_shared_bytes(16) <= wgml_gpu_info(gpu)->max_compute_workgroup_storage_size &&
           wgml_gpu_info(gpu)->max_compute_invocations_per_workgroup >= 256;
}

// AUTO's choice between the tiled kernels where subgroup matrices do not
// apply: matmul_vec4 from 64 of its 128 x 128 tiles (half a wave on an
// H100's 132 SMs). On an H100 it ran f32 4096^3 1.75x and 1024^3 (64 tiles)
// 1.09x faster than matmul.wgsl (steps of 32).
static wgml_matmul_variant tiled_choice(wgml_gpu *gpu, bool b_t, uint32_t M, uint32_t N, uint32_t K)
{
    uint64_t tiles = (uint64_t)((M + 127) / 128) * ((N + 127) / 128);
    return vec4_fits(gpu, b_t, N, K) && tiles >= 64 ? WGML_MATMUL_TILED_VEC4 : WGML_MATMUL_TILED;
}

// shuffle: main_shuffle (A through subgroup shuffles), in the swizzled
// order with `swizzle`.
static wgml_status matmul_vec4(wgml_gpu *gpu, wgml_dtype dtype, bool w16, bool b_t, bool shuffle,
                               bool swizzle, wgml_view a, wgml_view b, wgml_view c, uint32_t M,
                               uint32_t N, uint32_t K)
{
    // The staged kernel's prelude is fixed text; the shuffle kernel's holds
    // the device's subgroup size.
    wgml_text t = {0};
    if (shuffle) {
        uint32_t sg = wgml_gpu_fixed_subgroup_size(gpu), g = sg < 16 ? sg : 16;
        wgml_text_printf(&t,
                         "%senable subgroups;\nconst G: u32 = %uu;\nconst R: u32 = %uu;\n"
                         "const SGN: u32 = %uu;\n"
                         "fn lane_shuffle(v: vec4<f32>, lane: u32) -> vec4<f32> "
                         "{ return subgroupShuffle(v, lane); }\n",
                         w16 ? PLAIN_STORE_W16 : PLAIN_STORE, g, 32 / g, sg);
        if (t.failed) {
            wgml_text_free(&t);
            return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        }
    }
    wgml_gpu_kernel k = {.family = dtype == WGML_F16 ? "matmul_vec4_f16" : "matmul_vec4",
                         .entry = shuffle ? "main_shuffle" : "main",
                         .prelude = shuffle ? t.s : w16 ? VEC4_STORE_W16 : VEC4_STORE};
    // main_shuffle's registers hold steps of 16 along K.
    uint32_t bk = shuffle ? 16 : vec4_bk(gpu, dtype);
    if (vec4_shared_bytes(bk) > wgml_gpu_info(gpu)->max_compute_workgroup_storage_size) bk = 16;
    wgml_gpu_constant consts[] = {{"B_T", b_t}, {"BK", bk}, {"SWIZZLE", 8}};
    k.constants = consts;
    k.n_constants = swizzle ? 3 : 2;
    wgml_gpu_pipeline *p;
    wgml_status st = wgml_gpu_pipeline_get(gpu, &k, &p);
    wgml_text_free(&t);
    if (st) return st;
    struct { uint32_t M, N, K, pad; } params = {M, N, K, 0};
    wgml_gpu_binding bind[] = {WGML_OPS_BINDING(a), WGML_OPS_BINDING(b), WGML_OPS_BINDING(c)};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, bind, 3, (N + 127) / 128,
                             (M + 127) / 128, 1);
}

static bool sgm_fits(wgml_gpu *gpu, wgml_dtype dtype, bool w16, bool b_t, wgml_view a,
                     wgml_view b, uint32_t N, uint32_t K)
{
    return wgml_sgm_available(gpu) && (dtype == WGML_F16 || w16) && K % 8 == 0 &&
           (b_t || N % 8 == 0) && a.offset % 16 == 0 && b.offset % 16 == 0;
}

static wgml_status matmul_sgm(wgml_gpu *gpu, wgml_dtype dtype, bool w16, bool b_t, wgml_view a,
                              wgml_view b, wgml_view c, uint32_t M, uint32_t N, uint32_t K)
{
    wgml_text t = {0};
    uint32_t grid[3];
    wgml_status st = wgml_sgm_prelude(gpu, &t, wgml_sgm_pick(gpu, M, N, K), b_t, M, N, grid);
    if (!st) {
        wgml_sgm_emit_a(&t, w16 ? WGML_F32 : dtype, true);
        wgml_sgm_emit_b_f16(&t, b_t);
        const char *ct = dtype == WGML_F16 ? "f16" : "f32";
        wgml_text_printf(&t,
                         "@group(0) @binding(3) var<storage, read_write> c: array<%s>;\n"
                         "fn mm_store(r: u32, col: u32, v: f32) { c[r * p.N + col] = %s(v); }\n",
                         ct, ct);
    }
    wgml_gpu_pipeline *p = NULL;
    if (!st) {
        const char *family;
        wgml_sgm_finish(&t, &family);
        wgml_gpu_kernel k = {.family = family, .prelude = family ? t.s : NULL,
                             .source = family ? NULL : t.s};
        st = t.failed ? wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory")
                      : wgml_gpu_pipeline_get(gpu, &k, &p);
    }
    wgml_text_free(&t);
    if (st) return st;
    wgml_sgm_params params = {.M = M, .N = N, .K = K, .a_stride = K, .c_stride = N};
    wgml_gpu_binding bind[] = {WGML_OPS_BINDING(a), WGML_OPS_BINDING(b), WGML_OPS_BINDING(c)};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, bind, 3, grid[0], grid[1], grid[2]);
}

// dtype: of A, B and C; with w16, B is f16 and A and C are f32.
static wgml_status matmul(wgml_gpu *gpu, wgml_matmul_variant variant, wgml_dtype dtype, bool w16,
                          bool b_t, wgml_view a, wgml_view b, wgml_view c, uint32_t M, uint32_t N,
                          uint32_t K)
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
    // AUTO: the subgroup-matrix kernel wherever it fits (for plain f16 B,
    // unless `wgml tune` measured the tiled kernel faster at this size).
    bool fits = sgm_fits(gpu, dtype, w16, b_t, a, b, N, K);
    if (variant == WGML_MATMUL_AUTO) {
        // Plain B: the tuned variant (or the heuristic); f16 weights and B^T:
        // subgroup matrices where they fit.
        variant = !b_t && !w16 ? wgml_matmul_chosen(gpu, dtype, M, N, K)
                  : fits       ? WGML_MATMUL_SUBGROUP_MATRIX
                               : tiled_choice(gpu, b_t, M, N, K);
        if (variant == WGML_MATMUL_SUBGROUP_MATRIX && !fits)   // views not 16-byte aligned
            variant = tiled_choice(gpu, b_t, M, N, K);
    }
    if (variant == WGML_MATMUL_SUBGROUP_MATRIX) {
        if (!fits)
            return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                                 "%s: the subgroup-matrix kernel needs f16 operands (or f16 "
                                 "weights), K (and N for plain B) multiples of 8, 16-byte "
                                 "aligned views, and a device with 16x16x16 f16 subgroup "
                                 "matrices and subgroups of 32", name);
        return matmul_sgm(gpu, dtype, w16, b_t, a, b, c, M, N, K);
    }
    if (variant == WGML_MATMUL_TILED_VEC4) {
        if (!vec4_fits(gpu, b_t, N, K))
            return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                                 "%s: the vec4 kernel needs K%s to be a multiple of 4, 20 KiB "
                                 "of workgroup memory and 256 invocations a workgroup", name,
                                 b_t ? "" : " and N");
        return matmul_vec4(gpu, dtype, w16, b_t, false, false, a, b, c, M, N, K);
    }
    if (variant == WGML_MATMUL_TILED_SUBGROUP || variant == WGML_MATMUL_TILED_SUBGROUP_SWIZZLED) {
        if (!vec4_fits(gpu, b_t, N, K) || !wgml_gpu_fixed_subgroup_size(gpu))
            return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                                 "%s: the subgroup kernel needs K%s to be a multiple of 4, 20 "
                                 "KiB of workgroup memory, 256 invocations a workgroup and "
                                 "subgroups of one fixed size from 4 to 128", name,
                                 b_t ? "" : " and N");
        return matmul_vec4(gpu, dtype, w16, b_t, true,
                           variant == WGML_MATMUL_TILED_SUBGROUP_SWIZZLED, a, b, c, M, N, K);
    }
    uint32_t gx, gy;
    wgml_matmul_grid(M, N, &gx, &gy);
    if (variant != WGML_MATMUL_TILED && variant != WGML_MATMUL_TILED_SWIZZLED)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "%s: unknown variant %d", name,
                             variant);
    wgml_gpu_kernel k = {.family = wgml_matmul_family(dtype),
                         .prelude = w16 ? PLAIN_STORE_W16 : PLAIN_STORE};
    size_t nc;
    const wgml_gpu_constant *base = wgml_matmul_constants(b_t, M, N, &nc);
    wgml_gpu_constant consts[3] = {base[0], base[1], {"SWIZZLE", 8}};
    k.constants = consts;
    k.n_constants = variant == WGML_MATMUL_TILED_SWIZZLED ? 3 : nc;
    wgml_gpu_pipeline *p;
    if ((st = wgml_gpu_pipeline_get(gpu, &k, &p))) return st;
    struct { uint32_t M, N, K, pad; } params = {M, N, K, 0};
    wgml_gpu_binding bind[] = {WGML_OPS_BINDING(a), WGML_OPS_BINDING(b), WGML_OPS_BINDING(c)};
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, bind, 3, gx, gy, 1);
}

wgml_status wgml_op_matmul(wgml_gpu *gpu, wgml_dtype dtype, wgml_view a, wgml_view b,
                           wgml_view c, uint32_t M, uint32_t N, uint32_t K)
{
    return matmul(gpu, WGML_MATMUL_AUTO, dtype, false, false, a, b, c, M, N, K);
}

wgml_status wgml_op_matmul_variant(wgml_gpu *gpu, wgml_matmul_variant variant, wgml_dtype dtype,
                                   wgml_view a, wgml_view b, wgml_view c, uint32_t M,
                                   uint32_t N, uint32_t K)
{
    return matmul(gpu, variant, dtype, false, false, a, b, c, M, N, K);
}

wgml_status wgml_op_matmul_nt(wgml_gpu *gpu, wgml_dtype dtype, wgml_view a, wgml_view b,
                              wgml_view c, uint32_t M, uint32_t N, uint32_t K)
{
    return matmul(gpu, WGML_MATMUL_AUTO, dtype, false, true, a, b, c, M, N, K);
}

wgml_status wgml_op_matmul_nt_w16(wgml_gpu *gpu, wgml_view a, wgml_view b, wgml_view c,
                                  uint32_t M, uint32_t N, uint32_t K)
{
    return matmul(gpu, WGML_MATMUL_AUTO, WGML_F32, true, true, a, b, c, M, N, K);
}

wgml_status wgml_op_matmul_nt_variant(wgml_gpu *gpu, wgml_matmul_variant variant, wgml_dtype dtype,
                                      bool w16, wgml_view a, wgml_view b, wgml_view c, uint32_t M,
                                      uint32_t N, uint32_t K)
{
    return matmul(gpu, variant, w16 ? WGML_F32 : dtype, w16, true, a, b, c, M, N, K);
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

// Whether a variant takes a product of this shape with plain B on this device
// (the views' alignment aside).
static bool variant_takes(wgml_gpu *gpu, wgml_dtype dtype, wgml_matmul_variant v, uint32_t N,
                          uint32_t K)
{
    switch (v) {
    case WGML_MATMUL_TILED:
    case WGML_MATMUL_TILED_SWIZZLED: return true;
    case WGML_MATMUL_TILED_VEC4: return vec4_fits(gpu, false, N, K);
    case WGML_MATMUL_TILED_SUBGROUP:
    case WGML_MATMUL_TILED_SUBGROUP_SWIZZLED:
        return vec4_fits(gpu, false, N, K) && wgml_gpu_fixed_subgroup_size(gpu);
    case WGML_MATMUL_SUBGROUP_MATRIX:
        return dtype == WGML_F16 && wgml_sgm_available(gpu) && K % 8 == 0 && N % 8 == 0;
    default: return false;
    }
}

wgml_matmul_variant wgml_matmul_chosen(wgml_gpu *gpu, wgml_dtype dtype, uint32_t M, uint32_t N,
                                       uint32_t K)
{
    char cls[32];
    matmul_shape_class(M, N, K, cls, sizeof cls);
    int v = wgml_tune_lookup(gpu, "matmul", cls, dtype == WGML_F16 ? "f16" : "f32");
    if (v > 0 && variant_takes(gpu, dtype, (wgml_matmul_variant)v, N, K))
        return (wgml_matmul_variant)v;
    if (variant_takes(gpu, dtype, WGML_MATMUL_SUBGROUP_MATRIX, N, K))
        return WGML_MATMUL_SUBGROUP_MATRIX;
    return tiled_choice(gpu, false, M, N, K);
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
    // Every variant; those that do not run here (no subgroup matrices, no
    // subgroups of a fixed size, a shape they do not take) are passed over.
    static const int candidates[] = {WGML_MATMUL_TILED, WGML_MATMUL_TILED_SWIZZLED,
                                     WGML_MATMUL_TILED_VEC4, WGML_MATMUL_TILED_SUBGROUP,
                                     WGML_MATMUL_TILED_SUBGROUP_SWIZZLED,
                                     WGML_MATMUL_SUBGROUP_MATRIX};
    char cls[32];
    matmul_shape_class(M, N, K, cls, sizeof cls);
    int v = WGML_MATMUL_TILED;
    if (!st) st = wgml_tune_pick(gpu, "matmul", cls, dtype == WGML_F16 ? "f16" : "f32",
                                 candidates, sizeof candidates / sizeof candidates[0],
                                 matmul_tune_run, &args, &v, best_ns);
    *best = (wgml_matmul_variant)v;
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    wgml_gpu_buf_release(gpu, c);
    return st;
}
