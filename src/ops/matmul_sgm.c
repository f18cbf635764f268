// The subgroup-matrix GEMM's shared parts: configurations, the matrix layer
// and the operand hooks (matmul_sgm.h).
#include "ops/matmul_sgm.h"

#include "kernels/kernels.h"

#include <string.h>

enum {
    SGM_BK = 32,             // matmul_sgm.wgsl
    SGM_LDA = SGM_BK + 8,    // padded staged row of A (and of B^T), halves
    // Workgroups wanted before a larger tile is taken: about a wave on a
    // large GPU (132 SMs on an H100).
    SGM_MIN_GROUPS = 96,
};

// Every entry keeps A_PER and B_PER (16-byte chunks per invocation per
// step, 4 x 16 rows x tn / (32 wm wn)) at 1, 2 or 4, and its workgroup
// memory within 48 KiB.
static const wgml_sgm_config CONFIGS[] = {
    {2, 4, 4, 2},   // 128 x 128, 8 subgroups of 64 x 32
    {2, 2, 4, 4},   // 128 x 128, 4 subgroups
    {2, 2, 4, 2},   // 128 x 64
    {2, 2, 2, 4},   // 64 x 128
    {2, 2, 2, 2},   // 64 x 64
    {1, 2, 2, 2},   // 32 x 64, 2 subgroups
    {4, 2, 2, 4},   // 128 x 128, 8 subgroups of 32 x 64
    {4, 2, 2, 2},   // 128 x 64, 8 subgroups
    {2, 4, 2, 2},   // 64 x 128, 8 subgroups
    {2, 4, 2, 1},   // 64 x 64, 8 subgroups
};
enum {
    N_CONFIGS = sizeof CONFIGS / sizeof CONFIGS[0],
    SGM_SMALLEST = 5,   // 32 x 64: 17 KiB of workgroup memory, 64 invocations
};

static bool g_emulate;
static int g_force = -1;
static unsigned g_variant;

size_t wgml_sgm_configs(const wgml_sgm_config **out)
{
    *out = CONFIGS;
    return N_CONFIGS;
}

void wgml_sgm_debug_emulate(bool on) { g_emulate = on; }
bool wgml_sgm_emulated(void) { return g_emulate; }
void wgml_sgm_debug_variant(unsigned flags) { g_variant = flags; }
void wgml_sgm_debug_force(int index) { g_force = index >= 0 && index < N_CONFIGS ? index : -1; }

bool wgml_sgm_available(wgml_gpu *gpu)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    if (!d->shader_f16 || !wgml_sgm_config_fits(gpu, CONFIGS[SGM_SMALLEST], true)) return false;
    if (g_emulate) return true;
    if (!d->subgroup_matrix || d->subgroup_min_size != 32 || d->subgroup_max_size != 32)
        return false;
    for (uint32_t i = 0; i < d->n_subgroup_matrix_configs; i++) {
        const wgml_subgroup_matrix_config *c = &d->subgroup_matrix_configs[i];
        if (!strcmp(c->component, "f16") && !strcmp(c->result, "f32") && c->M == 16 &&
            c->N == 16 && c->K == 16)
            return true;
    }
    return false;
}

static uint32_t tile_m(wgml_sgm_config c) { return 16 * c.wm * c.tm; }
static uint32_t tile_n(wgml_sgm_config c) { return 16 * c.wn * c.tn; }

static uint64_t shared_bytes(wgml_sgm_config c, bool b_t)
{
    uint64_t a = 2ull * tile_m(c) * SGM_LDA * 2;
    uint64_t b = b_t ? 2ull * tile_n(c) * SGM_LDA * 2 : 2ull * SGM_BK * (tile_n(c) + 8) * 2;
    return a + b + 1024ull * c.wm * c.wn;
}

bool wgml_sgm_config_fits(wgml_gpu *gpu, wgml_sgm_config cfg, bool b_t)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    return shared_bytes(cfg, b_t) <= d->max_compute_workgroup_storage_size &&
           32ull * cfg.wm * cfg.wn <= d->max_compute_invocations_per_workgroup;
}

// The heuristic's candidates, in order of preference: on an H100 (Dawn,
// bench/results/2026-11-21-h100-sgm) 128 x 128 tiles of 8 subgroups were
// the fastest wherever they gave at least 96 workgroups (a wave on 132
// SMs), 64 x 64 tiles of 4 subgroups below that (a 256 x 4096 product:
// 40 TFLOP/s against 28 for 128 x 64 and 128 x 128 tiles).
static const int PREFERRED[] = {0, 4};

wgml_sgm_config wgml_sgm_pick(wgml_gpu *gpu, uint32_t M, uint32_t N, uint32_t K)
{
    (void)K;
    if (g_force >= 0) return CONFIGS[g_force];
    for (size_t i = 0; i < sizeof PREFERRED / sizeof PREFERRED[0]; i++) {
        wgml_sgm_config c = CONFIGS[PREFERRED[i]];
        uint64_t groups = (uint64_t)((M + tile_m(c) - 1) / tile_m(c)) *
                          ((N + tile_n(c) - 1) / tile_n(c));
        if (groups >= SGM_MIN_GROUPS && wgml_sgm_config_fits(gpu, c, true)) return c;
    }
    // Few workgroups whatever the tile: 64 x 64 of 4 subgroups, or the
    // smallest tile where the device has less workgroup memory.
    return wgml_sgm_config_fits(gpu, CONFIGS[4], true) ? CONFIGS[4] : CONFIGS[SGM_SMALLEST];
}

wgml_status wgml_sgm_prelude(wgml_gpu *gpu, wgml_text *t, wgml_sgm_config cfg, bool b_t,
                             uint32_t M, uint32_t N, uint32_t grid[3])
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    uint64_t gx = (N + tile_n(cfg) - 1) / tile_n(cfg), gy = (M + tile_m(cfg) - 1) / tile_m(cfg);
    if (gx > d->max_compute_workgroups_per_dimension || gy > d->max_compute_workgroups_per_dimension)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "matmul_sgm: %u x %u exceeds the dispatch limits", M, N);
    if (!wgml_sgm_config_fits(gpu, cfg, b_t))
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "matmul_sgm: a %ux%u tile needs %llu bytes of workgroup memory "
                             "and %u invocations", tile_m(cfg), tile_n(cfg),
                             (unsigned long long)shared_bytes(cfg, b_t), 32 * cfg.wm * cfg.wn);
    const wgml_kernel_source *mx = wgml_kernel_find(g_emulate ? "matmul_sgm_emu" : "matmul_sgm_mx");
    if (!mx) return wgml_gpu_fail(gpu, WGML_ERR_GPU, "matmul_sgm: the matrix layer is missing");
    wgml_text_printf(t,
                     "const WM: u32 = %uu;\nconst WN: u32 = %uu;\nconst TM: u32 = %uu;\n"
                     "const TN: u32 = %uu;\nconst B_T: bool = %s;\nconst DEPTH: u32 = %uu;\n"
                     "const XP_NO_EPILOGUE: bool = %s;\nconst XP_NO_STAGE: bool = %s;\n",
                     cfg.wm, cfg.wn, cfg.tm, cfg.tn, b_t ? "true" : "false",
                     g_variant & WGML_SGM_XP_DEPTH2 ? 2u : 1u,
                     g_variant & WGML_SGM_XP_NO_EPILOGUE ? "true" : "false",
                     g_variant & WGML_SGM_XP_NO_STAGE ? "true" : "false");
    wgml_text_printf(t, "%s\n", mx->text);
    // naga (wgpu-native 0.32) cannot bitcast a u32 to vec2<f16>; Dawn can,
    // at no cost, where the unpacking converts f16 -> f32 -> f16.
    if (!strcmp(d->implementation, "wgpu-native"))
        wgml_text_printf(t, "fn h8_of_bits(v: vec4<u32>) -> H8 {\n"
                            "    return H8(vec4<f16>(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y))),\n"
                            "              vec4<f16>(vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w))));\n"
                            "}\n");
    else
        wgml_text_printf(t, "fn h8_of_bits(v: vec4<u32>) -> H8 {\n"
                            "    return H8(vec4<f16>(bitcast<vec2<f16>>(v.x), bitcast<vec2<f16>>(v.y)),\n"
                            "              vec4<f16>(bitcast<vec2<f16>>(v.z), bitcast<vec2<f16>>(v.w)));\n"
                            "}\n");
    grid[0] = (uint32_t)gx;
    grid[1] = (uint32_t)gy;
    grid[2] = 1;
    return t->failed ? wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory") : WGML_OK;
}

void wgml_sgm_emit_a(wgml_text *t, wgml_dtype a_type, bool vec4)
{
    if (a_type == WGML_F16) {
        wgml_text_printf(t,
            "@group(0) @binding(1) var<storage, read> a: array<vec4<u32>>;\n"
            "alias ARaw = vec4<u32>;\n"
            "fn a_fetch(r: u32, k: u32) -> ARaw {\n"
            "    if (r < p.M && k < p.K) { return a[(p.a_off + r * p.a_stride + k) / 8u]; }\n"
            "    return ARaw();\n"
            "}\n"
            "fn a_half8(v: ARaw) -> H8 { return h8_of_bits(v); }\n");
        return;
    }
    if (!vec4) {
        wgml_text_printf(t,
            "@group(0) @binding(1) var<storage, read> a: array<f32>;\n"
            "struct ARaw { lo: vec4<f32>, hi: vec4<f32> }\n"
            "fn a_fetch(r: u32, k: u32) -> ARaw {\n"
            "    if (r < p.M && k < p.K) {\n"
            "        let i = p.a_off + r * p.a_stride + k;\n"
            "        return ARaw(vec4<f32>(a[i], a[i + 1u], a[i + 2u], a[i + 3u]),\n"
            "                    vec4<f32>(a[i + 4u], a[i + 5u], a[i + 6u], a[i + 7u]));\n"
            "    }\n"
            "    return ARaw();\n"
            "}\n"
            "fn a_half8(v: ARaw) -> H8 { return h8_of_f32(v.lo, v.hi); }\n");
        return;
    }
    wgml_text_printf(t,
        "@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;\n"
        "struct ARaw { lo: vec4<f32>, hi: vec4<f32> }\n"
        "fn a_fetch(r: u32, k: u32) -> ARaw {\n"
        "    if (r < p.M && k < p.K) {\n"
        "        let i = (p.a_off + r * p.a_stride + k) / 4u;\n"
        "        return ARaw(a[i], a[i + 1u]);\n"
        "    }\n"
        "    return ARaw();\n"
        "}\n"
        "fn a_half8(v: ARaw) -> H8 { return h8_of_f32(v.lo, v.hi); }\n");
}

void wgml_sgm_emit_b_f16(wgml_text *t, bool b_t)
{
    // Row i of B as stored: K x N rows of N, or N x K rows of K.
    wgml_text_printf(t,
        "@group(0) @binding(2) var<storage, read> b: array<vec4<u32>>;\n"
        "alias BRaw = vec4<u32>;\n"
        "fn b_fetch(i: u32, j: u32) -> BRaw {\n"
        "    if (i < %s && j < %s) { return b[(i * %s + j) / 8u]; }\n"
        "    return BRaw();\n"
        "}\n"
        "fn b_half8(v: BRaw) -> H8 { return h8_of_bits(v); }\n",
        b_t ? "p.N" : "p.K", b_t ? "p.K" : "p.N", b_t ? "p.K" : "p.N");
}

// Writes `text` to t with every call `name(args)` replaced by
// `head args tail`; arguments are copied as they are (the template never
// nests these calls).
typedef struct sgm_call {
    const char *name, *head, *tail;
} sgm_call;

static const sgm_call SGM_CALLS[] = {
    {"sm_load_a(", "subgroupMatrixLoad<SML>(&As, ", ", false, LDA)"},
    {"sm_load_b(", "subgroupMatrixLoad<SMR>(&Bs, ", ", B_T, LDB)"},
    {"sm_mma(", "subgroupMatrixMultiplyAccumulate(", ")"},
    {"sm_store(", "subgroupMatrixStore(&Cs, ", ", false, 16u)"},
    {"sm_zero(", "SMA(", ")"},
};

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static void inline_calls(wgml_text *t, const char *text)
{
    const char *s = text;
    while (*s) {
        const sgm_call *hit = NULL;
        if (s == text || !ident_char(s[-1]))
            for (size_t i = 0; i < sizeof SGM_CALLS / sizeof SGM_CALLS[0]; i++)
                if (!strncmp(s, SGM_CALLS[i].name, strlen(SGM_CALLS[i].name))) hit = &SGM_CALLS[i];
        if (!hit) {
            const char *e = s + 1;
            while (*e && *e != 's') e++;   // the calls all start with "sm_"
            wgml_text_printf(t, "%.*s", (int)(e - s), s);
            s = e;
            continue;
        }
        // The arguments end at the parenthesis matching the call's.
        const char *a = s + strlen(hit->name), *e = a;
        int depth = 1;
        while (*e && depth) {
            depth += *e == '(' ? 1 : *e == ')' ? -1 : 0;
            if (depth) e++;
        }
        wgml_text_printf(t, "%s%.*s%s", hit->head, (int)(e - a), a, hit->tail);
        s = *e ? e + 1 : e;
    }
}

void wgml_sgm_finish(wgml_text *t, const char **family)
{
    const wgml_kernel_source *k = wgml_kernel_find("matmul_sgm");
    if (g_emulate || (g_variant & WGML_SGM_XP_WRAPPED) || !k) {
        *family = "matmul_sgm";
        return;
    }
    inline_calls(t, k->text);
    *family = NULL;
}
