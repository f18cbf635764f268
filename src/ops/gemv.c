// GEMV (gemv.h): variant choice, the GPU layout of the block formats, and
// the prelude that specialises the gemv.wgsl template.
#include "ops/gemv.h"
#include "ops/ops_internal.h"
#include "ops/ewise.h"

#include <stdlib.h>
#include <string.h>

enum {
    GEMV_WG = 256,         // invocations per workgroup, unless the variant says otherwise
    GEMV_CHUNK_SLOTS = 256,   // blocks of quantised x (all vectors) per chunk: 10 KiB of workgroup memory
    SLOT_WV = 1, SLOT_WS = 2, SLOT_X = 3, SLOT_Y = 4, SLOT_GAMMA = 5, SLOT_XQ = 6,
    SLOT_XQ_OUT = 7,
    XQ_BLOCK_BYTES = 48,   // a block of x quantised once: 32 int8, step, sum, padding
};

static const char GEMV_MEMO[] = "gemv";   // the pipeline memo's kind (by address)

const char *wgml_gemv_math_name(wgml_gemv_math m)
{
    static const char *names[] = {"auto", "float", "f16", "dot4", "dot4_emulated"};
    return (unsigned)m <= WGML_GEMV_MATH_DOT4_EMULATED ? names[m] : "?";
}

const char *wgml_gemv_reduce_name(wgml_gemv_reduce r)
{
    static const char *names[] = {"auto", "subgroup", "shared"};
    return (unsigned)r <= WGML_GEMV_REDUCE_SHARED ? names[r] : "?";
}

static bool is_int_format(wgml_quant q)
{
    return q == WGML_QUANT_I8 || q == WGML_QUANT_Q8_0 || q == WGML_QUANT_Q4_0 ||
           q == WGML_QUANT_Q4_1;
}

// Bytes of the quants of the block formats (the scales follow them).
static uint64_t block_quant_bytes(wgml_quant q, uint64_t N, uint64_t K)
{
    return N * (K / WGML_QUANT_BLOCK) * (q == WGML_QUANT_Q8_0 ? 32 : 16);
}

// ---------------------------------------------------------------- layout

uint64_t wgml_gemv_packed_bytes(wgml_quant q, uint64_t N, uint64_t K)
{
    uint64_t host = wgml_quant_bytes(q, N, K);
    if (!host) return 0;
    // Same bytes as the host layout, in another order; then whole u32 words.
    return (host + 3) & ~3ull;
}

wgml_status wgml_gemv_pack(wgml_quant q, const void *src, void *dst, uint64_t N, uint64_t K)
{
    uint64_t host = wgml_quant_bytes(q, N, K), packed = wgml_gemv_packed_bytes(q, N, K);
    if (!host) return WGML_ERR_INVALID_ARGUMENT;
    const uint8_t *in = src;
    uint8_t *out = dst;
    if (!is_int_format(q) || q == WGML_QUANT_I8) {
        memcpy(out, in, host);
        memset(out + host, 0, packed - host);
        return WGML_OK;
    }
    uint64_t nb = N * K / WGML_QUANT_BLOCK;
    uint64_t qb = q == WGML_QUANT_Q8_0 ? 32 : 16;              // quant bytes per block
    uint64_t hb = q == WGML_QUANT_Q8_0 ? 34 : q == WGML_QUANT_Q4_0 ? 18 : 20;   // GGUF block
    uint64_t sb = hb - qb;                                     // scale bytes per block
    uint8_t *scales = out + block_quant_bytes(q, N, K);
    for (uint64_t i = 0; i < nb; i++) {
        memcpy(out + i * qb, in + i * hb + sb, qb);
        memcpy(scales + i * sb, in + i * hb, sb);
    }
    memset(scales + nb * sb, 0, packed - (uint64_t)(scales + nb * sb - out));
    return WGML_OK;
}

uint64_t wgml_gemv_xq_bytes(uint32_t K, uint32_t M)
{
    return (uint64_t)XQ_BLOCK_BYTES * (M ? M : 1) * ((K + 31) / 32);
}

wgml_cost wgml_op_gemv_cost(wgml_quant q, uint32_t N, uint32_t K, uint32_t M)
{
    if (M == 0) M = 1;
    return (wgml_cost){.bytes = (double)wgml_quant_bytes(q, N, K) + 4.0 * M * K + 4.0 * M * N,
                       .flops = 2.0 * M * N * K};
}

// ---------------------------------------------------------------- variants

// Units (what one invocation reads per step) per row, and elements per unit.
static uint32_t units_per_row(wgml_quant q, wgml_gemv_math math, uint32_t K, uint32_t *elems)
{
    uint32_t e;
    if (math == WGML_GEMV_MATH_DOT4 || math == WGML_GEMV_MATH_DOT4_EMULATED ||
        q == WGML_QUANT_Q8_0 || q == WGML_QUANT_Q4_0 || q == WGML_QUANT_Q4_1)
        e = 32;
    else if (q == WGML_QUANT_F16)
        e = K % 8 == 0 ? 8 : 4;
    else if (q == WGML_QUANT_I8)
        e = K % 16 == 0 ? 16 : 4;
    else
        e = 4;
    if (elems) *elems = e;
    return (K + e - 1) / e;
}

// WGML_GEMV_INT_VARIANT="tpr=N,rb=N,ur=N,wg=N,xq=N,xqrows=N" (any subset;
// xq is wgml_gemv_xquant: 1 per workgroup, 2 once; xqrows makes the
// automatic choice quantise x once for matrices of N rows or more) fills those
// fields of every integer GEMV whose variant leaves them automatic: timing
// experiments inside a real decode step (`test_generate timing`), where the
// cold sweep of `wgml bench gemv` is not representative. Read once: this
// runs for every GEMV recorded.
static struct {
    int read;
    wgml_gemv_variant v;
    uint32_t xquant, xq_rows;
} int_env;

static void read_int_variant_env(void)
{
    if (int_env.read) return;
    const char *e = getenv("WGML_GEMV_INT_VARIANT");
    const struct { const char *key; uint32_t *field; } keys[] = {
        {"tpr=", &int_env.v.threads_per_row}, {"rb=", &int_env.v.rows_per_group},
        {"ur=", &int_env.v.units_in_flight}, {"wg=", &int_env.v.workgroup_size},
        {"xq=", &int_env.xquant}, {"xqrows=", &int_env.xq_rows}};
    for (size_t i = 0; e && i < sizeof keys / sizeof keys[0]; i++) {
        const char *at = strstr(e, keys[i].key);
        if (at) *keys[i].field = (uint32_t)strtoul(at + strlen(keys[i].key), NULL, 10);
    }
    int_env.v.xquant = (wgml_gemv_xquant)int_env.xquant;
    int_env.read = 1;
}

static void int_variant_override(wgml_gemv_variant *v)
{
    read_int_variant_env();
    if (!v->threads_per_row) v->threads_per_row = int_env.v.threads_per_row;
    if (!v->rows_per_group) v->rows_per_group = int_env.v.rows_per_group;
    if (!v->units_in_flight) v->units_in_flight = int_env.v.units_in_flight;
    if (!v->workgroup_size) v->workgroup_size = int_env.v.workgroup_size;
    if (!v->xquant) v->xquant = int_env.v.xquant;
}

// Rows from which the automatic variant quantises x once (0: never).
static uint32_t xq_once_rows(void)
{
    read_int_variant_env();
    return int_env.xq_rows;
}

wgml_status wgml_gemv_resolve(wgml_gpu *gpu, const wgml_gemv_args *a, wgml_gemv_variant *out)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    wgml_gemv_variant v = a->variant;
    wgml_quant q = a->format;
    if ((unsigned)q >= WGML_QUANT_COUNT)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "gemv: unknown weight format %d", q);

    switch (v.math) {
    case WGML_GEMV_MATH_AUTO:
        v.math = is_int_format(q) && d->packed_dot4 ? WGML_GEMV_MATH_DOT4 : WGML_GEMV_MATH_FLOAT;
        break;
    case WGML_GEMV_MATH_FLOAT: break;
    case WGML_GEMV_MATH_F16:
        if (q != WGML_QUANT_F16 || a->K % 8)
            return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                                 "gemv: f16 arithmetic needs f16 weights and K a multiple of 8");
        if (!d->shader_f16)
            return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                                 "gemv: f16 arithmetic needs shader-f16, which this device lacks");
        break;
    case WGML_GEMV_MATH_DOT4:
    case WGML_GEMV_MATH_DOT4_EMULATED:
        if (!is_int_format(q))
            return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                                 "gemv: integer dot products need i8, q8_0, q4_0 or q4_1 weights");
        if (v.math == WGML_GEMV_MATH_DOT4 && !d->packed_dot4)
            return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                                 "gemv: this device lacks the packed 4x8 integer dot product");
        break;
    default:
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "gemv: unknown math variant %d",
                             v.math);
    }

    uint32_t sg = wgml_gpu_fixed_subgroup_size(gpu);
    if (v.reduce == WGML_GEMV_REDUCE_AUTO)
        v.reduce = sg ? WGML_GEMV_REDUCE_SUBGROUP : WGML_GEMV_REDUCE_SHARED;
    else if (v.reduce == WGML_GEMV_REDUCE_SUBGROUP && !sg)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "gemv: subgroup reduction needs subgroups of one fixed size");
    else if (v.reduce != WGML_GEMV_REDUCE_SUBGROUP && v.reduce != WGML_GEMV_REDUCE_SHARED)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "gemv: unknown reduction %d",
                             v.reduce);

    if (v.math == WGML_GEMV_MATH_DOT4 || v.math == WGML_GEMV_MATH_DOT4_EMULATED)
        int_variant_override(&v);
    uint32_t wg = v.workgroup_size ? v.workgroup_size : GEMV_WG;
    if (wg != 64 && wg != 128 && wg != 256)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: workgroup_size %u is not 64, 128 or 256", wg);
    v.workgroup_size = wg;
    uint32_t tpr = v.threads_per_row;
    bool integer = v.math == WGML_GEMV_MATH_DOT4 || v.math == WGML_GEMV_MATH_DOT4_EMULATED;
    uint32_t rb_auto = 1;
    if (tpr == 0 && integer) {
        // Measured on an H100 (wgml bench gemv, bench/results/2026-11-21-h100-decode):
        // about four blocks per invocation (8 to 64 invocations a group) and
        // groups of 4 rows from N = 4096 (2 from 1024) were the fastest or
        // within 10% of it for every decode shape of SmolLM2-135M and
        // Llama-3-8B; the previous rule (2^18 invocations in all, at least a
        // subgroup a row) was up to 4.7x slower (SmolLM2's output matrix).
        uint32_t units = units_per_row(q, v.math, a->K, NULL);
        tpr = 8;
        while (tpr < 64 && 4 * tpr < units) tpr *= 2;
        rb_auto = a->N >= 4096 ? 4 : a->N >= 1024 ? 2 : 1;
        // At most 4 sums an invocation (rows x vectors): more took lavapipe's
        // compiler 10 to 60 s a pipeline (see WGML_GEMV_MAX_M).
        uint32_t M = a->M ? a->M : 1;
        while (rb_auto > 1 && rb_auto * M > 4) rb_auto /= 2;
    } else if (tpr == 0 && (q == WGML_QUANT_F16 || q == WGML_QUANT_F32) && a->N >= 4096 &&
               (a->M ? a->M : 1) <= 2 && a->K >= 64 * 8) {
        // Measured on an H200 with cold weights (wgml bench gemv, session 6):
        // 64 invocations a group of 2 rows was the fastest variant of every
        // f16 shape (4096 and 14336 rows of 4096, 4096 of 14336: 27%, 100%
        // and 98% of the copy bandwidth where the rule below ran 18%, 32%
        // and 85%).
        // (K of at least 512: 64 units of 8 halves, one per invocation.)
        tpr = 64;
        rb_auto = 2;
    } else if (tpr == 0) {
        // About 2^18 invocations in all, enough to cover a large GPU's memory
        // latency; at least 32 per row; no more than a row has units.
        uint64_t want = (1u << 18) / (a->N ? a->N : 1);
        tpr = 32;
        while (tpr < wg && tpr * 2 <= want) tpr *= 2;
        uint32_t units = units_per_row(q, v.math, a->K, NULL);
        while (tpr > 1 && tpr / 2 >= units) tpr /= 2;
        if (v.reduce == WGML_GEMV_REDUCE_SUBGROUP && tpr < sg) tpr = sg;
    }
    if (tpr > wg || (tpr & (tpr - 1)))
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: threads_per_row %u is not a power of two up to the "
                             "workgroup size %u", tpr, wg);
    // Below the subgroup size a group's invocations sit inside one subgroup
    // (consecutive indices) and reduce with shuffles.
    v.threads_per_row = tpr;
    uint32_t rb = v.rows_per_group;
    if (rb == 0) rb = rb_auto;
    if (rb != 1 && rb != 2 && rb != 4)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: rows_per_group %u is not 1, 2 or 4", rb);
    v.rows_per_group = rb;
    // Loads in flight: the previous fixed rule, 2 (integer) or 4 (float)
    // loads of a row's units per step across the group's rows.
    uint32_t ur = v.units_in_flight;
    if (ur == 0) ur = (integer ? 2 : 4) / rb ? (integer ? 2 : 4) / rb : 1;
    if (ur != 1 && ur != 2 && ur != 4 && ur != 8)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: units_in_flight %u is not 1, 2, 4 or 8", ur);
    v.units_in_flight = ur;
    if (!integer)
        v.xquant = WGML_GEMV_XQ_AUTO;   // only the integer kernels quantise x
    else if (v.xquant == WGML_GEMV_XQ_AUTO)
        // Measured inside the Llama-3-8B Q4_0 decode step on an H100
        // (bench/results/2026-11-22-h100-session8): x quantised once made
        // the GEMVs 2.8 (q|k|v, 6144 rows), 0 (Wo, 4096), 10.9 (gate|up,
        // 28672) and 5.8 us (down, 4096 x 14336) faster, but its passes
        // cost 5-8 us each: the step took 3548 us against 3245. Only the
        // tall matrices might gain (WGML_GEMV_INT_VARIANT xqrows=, not yet
        // measured); until a measurement says so, every workgroup quantises.
        v.xquant = a->xq.buf && xq_once_rows() && a->N >= xq_once_rows()
                       ? WGML_GEMV_XQ_ONCE : WGML_GEMV_XQ_PER_WORKGROUP;
    else if (v.xquant != WGML_GEMV_XQ_PER_WORKGROUP && v.xquant != WGML_GEMV_XQ_ONCE)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "gemv: unknown x quantisation %d",
                             v.xquant);
    else if (v.xquant == WGML_GEMV_XQ_ONCE && !a->xq.buf)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: x quantised once needs the scratch view xq");
    *out = v;
    return WGML_OK;
}

// ---------------------------------------------------------------- prelude

static const char *fetch_fn(wgml_quant q, wgml_gemv_math math, uint32_t K)
{
    bool integer = math == WGML_GEMV_MATH_DOT4 || math == WGML_GEMV_MATH_DOT4_EMULATED;
    switch (q) {
    case WGML_QUANT_F32: return K % 4 ? "fetch_f32_1" : "fetch_f32_4";
    case WGML_QUANT_F16: return K % 8 == 0 ? "fetch_f16_8" : K % 4 == 0 ? "fetch_f16_4" : "fetch_f16_1";
    case WGML_QUANT_I8: return integer ? "fetch_i8_32" : K % 16 ? "fetch_i8_4" : "fetch_i8_16";
    case WGML_QUANT_Q8_0: return "fetch_q8_0";
    case WGML_QUANT_Q4_0: return "fetch_q4_0";
    default: return "fetch_q4_1";
    }
}

static const char *dot_fn(wgml_quant q, uint32_t K)
{
    switch (q) {
    case WGML_QUANT_F32: return "dot_f32";
    case WGML_QUANT_F16: return K % 8 == 0 ? "dot_f16_8" : K % 4 == 0 ? "dot_f16_4" : "dot_f16_1";
    case WGML_QUANT_I8: return K % 16 ? "dot_i8_4" : "dot_i8_16";
    case WGML_QUANT_Q8_0: return "dot_q8_0";
    case WGML_QUANT_Q4_0: return "dot_q4_0";
    default: return "dot_q4_1";
    }
}

static const char *idot_fn(wgml_quant q)
{
    switch (q) {
    case WGML_QUANT_Q8_0: return "idot_q8_0";
    case WGML_QUANT_Q4_0: return "idot_q4_0";
    case WGML_QUANT_Q4_1: return "idot_q4_1";
    default: return "idot_i8";
    }
}

// f16 weights times x rounded to f16, eight products summed in f16 arithmetic.
// The halves are unpacked through f32 (exact): naga (wgpu-native) mistypes
// bitcast<vec2<f16>>(u32) ("Composing 0's component type is not expected" on
// the H200, "invalid field accessor" on lavapipe).
static const char F16_DOT[] =
    "enable f16;\n"
    "fn h2(v: u32) -> vec2<f16> { return vec2<f16>(unpack2x16float(v)); }\n"
    "fn unit_dot(r: Raw, u: u32) -> array<f32, M> {\n"
    "    var o: array<f32, M>;\n"
    "    let w0 = vec4<f16>(h2(r.a.x), h2(r.a.y));\n"
    "    let w1 = vec4<f16>(h2(r.a.z), h2(r.a.w));\n"
    "    for (var m = 0u; m < M; m++) {\n"
    "        o[m] = f32(dot(w0, vec4<f16>(x_load(m, 2u * u))) +\n"
    "                   dot(w1, vec4<f16>(x_load(m, 2u * u + 1u))));\n"
    "    }\n"
    "    return o;\n"
    "}\n";

static const char IDOT4_NATIVE[] =
    "fn idot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }\n";

// The same sum from sign-extended bytes, for devices without the feature.
static const char IDOT4_EMULATED[] =
    "fn idot4(a: u32, b: u32) -> i32 {\n"
    "    let s = vec4<u32>(24u, 16u, 8u, 0u);\n"
    "    return dot((vec4<i32>(bitcast<i32>(a)) << s) >> vec4<u32>(24u),\n"
    "               (vec4<i32>(bitcast<i32>(b)) << s) >> vec4<u32>(24u));\n"
    "}\n";

static void emit_reduce(wgml_text *t, wgml_gemv_reduce reduce, uint32_t sg, uint32_t tpr)
{
    if (reduce == WGML_GEMV_REDUCE_SUBGROUP && tpr < sg) {
        // A butterfly inside the subgroup: every invocation of the group ends
        // with the group's sum.
        wgml_text_printf(t, "fn row_reduce(v: vec4<f32>, li: u32) -> vec4<f32> {\n"
                            "    var s = v;\n"
                            "    for (var o = TPR / 2u; o > 0u; o = o / 2u) { s += subgroupShuffleXor(s, o); }\n"
                            "    return s;\n"
                            "}\n");
        return;
    }
    if (reduce == WGML_GEMV_REDUCE_SUBGROUP && tpr == sg) {
        wgml_text_printf(t, "fn row_reduce(v: vec4<f32>, li: u32) -> vec4<f32> "
                            "{ return subgroupAdd(v); }\n");
        return;
    }
    if (reduce == WGML_GEMV_REDUCE_SUBGROUP) {
        // Subgroups hold consecutive invocation indices (as on every
        // implementation tested; the tests check each device).
        wgml_text_printf(t,
                         "const SG: u32 = %uu;\n"
                         "var<workgroup> red: array<vec4<f32>, WG / SG>;\n"
                         "fn row_reduce(v: vec4<f32>, li: u32) -> vec4<f32> {\n"
                         "    let s = subgroupAdd(v);\n"
                         "    if (li %% SG == 0u) { red[li / SG] = s; }\n"
                         "    workgroupBarrier();\n"
                         "    let base = (li / TPR) * (TPR / SG);\n"
                         "    var r = red[base];\n"
                         "    for (var k = 1u; k < TPR / SG; k++) { r += red[base + k]; }\n"
                         "    workgroupBarrier();\n"
                         "    return r;\n"
                         "}\n",
                         sg);
        return;
    }
    wgml_text_printf(t, "var<workgroup> red: array<vec4<f32>, WG>;\n"
                        "fn row_reduce(v: vec4<f32>, li: u32) -> vec4<f32> {\n"
                        "    let t = li %% TPR;\n"
                        "    red[li] = v;\n"
                        "    workgroupBarrier();\n"
                        "    for (var s = TPR / 2u; s > 0u; s = s / 2u) {\n"
                        "        if (t < s) { red[li] += red[li + s]; }\n"
                        "        workgroupBarrier();\n"
                        "    }\n"
                        "    let r = red[li - t];\n"
                        "    workgroupBarrier();\n"
                        "    return r;\n"
                        "}\n");
}

// The per-pipeline constants; the shape goes in the uniform (gemv_params).
static void emit_prelude(wgml_text *t, const wgml_gemv_args *a, const wgml_gemv_variant *v,
                         uint32_t sg, uint32_t M)
{
    wgml_quant q = a->format;
    uint32_t K = a->K, tpr = v->threads_per_row, rb = v->rows_per_group;
    bool integer = v->math == WGML_GEMV_MATH_DOT4 || v->math == WGML_GEMV_MATH_DOT4_EMULATED;
    uint32_t wg = v->workgroup_size, ur = v->units_in_flight;
    if (v->reduce == WGML_GEMV_REDUCE_SUBGROUP) wgml_text_printf(t, "enable subgroups;\n");
    wgml_text_printf(t,
                     "const M: u32 = %uu;\nconst WG: u32 = %uu;\n"
                     "const TPR: u32 = %uu;\nconst RPW: u32 = %uu;\nconst CB: u32 = %uu;\n"
                     "const RB: u32 = %uu;\nconst UR: u32 = %uu;\nconst RBMV: u32 = %uu;\n",
                     M, wg, tpr, wg / tpr, integer ? GEMV_CHUNK_SLOTS / M : 1, rb, ur,
                     (rb * M + 3) / 4);
    wgml_text_printf(t, "fn y_store(i: u32, v: f32) { y[i] = %s; }\n",
                     a->accumulate ? "y[i] + v" : "v");
    if (a->input == WGML_GEMV_IN_RMSNORM) {
        // The vector's scale as wgml_op_add_rmsnorm computes it (decoder_rows.wgsl):
        // strided fma sums over WG invocations, a tree, inverseSqrt(mean + eps);
        // then x * scale * gamma, in that order.
        wgml_text_printf(t,
                         "@group(0) @binding(%d) var<storage, read> x: array<vec4<f32>>;\n"
                         "@group(0) @binding(%d) var<storage, read> gamma: array<vec4<f32>>;\n"
                         "var<workgroup> norm_red: array<f32, WG>;\n"
                         "var<workgroup> norm_inv: array<f32, M>;\n"
                         "fn x_load(m: u32, v: u32) -> vec4<f32> {\n"
                         "    return x[m * (p.k >> 2u) + v] * norm_inv[m] * gamma[v];\n"
                         "}\n"
                         "fn x_prologue(li: u32) {\n"
                         "    for (var m = 0u; m < M; m++) {\n"
                         "        var ss = 0.0;\n"
                         "        for (var c = li; c < p.k; c += WG) {\n"
                         "            let i = m * p.k + c;\n"
                         "            let v = x[i / 4u][i %% 4u];\n"
                         "            ss = fma(v, v, ss);\n"
                         "        }\n"
                         "        norm_red[li] = ss;\n"
                         "        for (var s = WG / 2u; s > 0u; s = s / 2u) {\n"
                         "            workgroupBarrier();\n"
                         "            if (li < s) { norm_red[li] += norm_red[li + s]; }\n"
                         "        }\n"
                         "        workgroupBarrier();\n"
                         "        if (li == 0u) { norm_inv[m] = inverseSqrt(norm_red[0] / f32(p.k) + p.eps); }\n"
                         "        workgroupBarrier();\n"
                         "    }\n"
                         "}\n",
                         SLOT_X, SLOT_GAMMA);
    } else if (a->input == WGML_GEMV_IN_SWIGLU) {
        // wgml_op_swiglu's arithmetic, element for element; rows of 2K.
        wgml_text_printf(t,
                         "@group(0) @binding(%d) var<storage, read> x: array<vec4<f32>>;\n"
                         "fn x_load(m: u32, v: u32) -> vec4<f32> {\n"
                         "    let g = x[m * (p.k >> 1u) + v];\n"
                         "    let u = x[m * (p.k >> 1u) + (p.k >> 2u) + v];\n"
                         "    return g / (1.0 + exp(-g)) * u;\n"
                         "}\n"
                         "fn x_prologue(li: u32) {}\n",
                         SLOT_X);
    } else if (K % 4 == 0) {
        // Blocks past K exist only for I8 rows that are not a multiple of 32.
        wgml_text_printf(t,
                         "@group(0) @binding(%d) var<storage, read> x: array<vec4<f32>>;\n"
                         "fn x_load(m: u32, v: u32) -> vec4<f32> {\n%s"
                         "    return x[m * (p.k >> 2u) + v];\n"
                         "}\n",
                         SLOT_X, K % 32 ? "    if (4u * v >= p.k) { return vec4<f32>(0.0); }\n" : "");
    } else {
        wgml_text_printf(t,
                         "@group(0) @binding(%d) var<storage, read> x: array<f32>;\n"
                         "fn x_load(m: u32, v: u32) -> vec4<f32> {\n"
                         "    var o = vec4<f32>(0.0);\n"
                         "    for (var e = 0u; e < 4u; e++) {\n"
                         "        if (4u * v + e < p.k) { o[e] = x[m * p.k + 4u * v + e]; }\n"
                         "    }\n"
                         "    return o;\n"
                         "}\n",
                         SLOT_X);
    }
    if (a->input == WGML_GEMV_IN_PLAIN) wgml_text_printf(t, "fn x_prologue(li: u32) {}\n");
    wgml_text_printf(t, "fn unit_fetch(row: u32, u: u32) -> Raw { return %s(row, u); }\n",
                     fetch_fn(q, v->math, K));
    if (v->math == WGML_GEMV_MATH_F16)
        wgml_text_printf(t, "%s", F16_DOT);
    else   // the per-workgroup integer kernel does not call it, but the module must be
           // whole; on x quantised once, the plain kernel streams integer products
        wgml_text_printf(t, "fn unit_dot(r: Raw, u: u32) -> array<f32, M> { return %s(r, u); }\n",
                         !integer ? dot_fn(q, K)
                         : v->xquant == WGML_GEMV_XQ_ONCE ? idot_fn(q) : "dot_f32");
    wgml_text_printf(t, "fn unit_idot(r: Raw, cb: u32) -> array<f32, M> { return %s(r, cb); }\n",
                     idot_fn(q));
    const char *xq = v->xquant == WGML_GEMV_XQ_ONCE ? "once" : "chunk";
    wgml_text_printf(t,
                     "fn x_slot(m: u32, cb: u32) -> u32 { return %s_slot(m, cb); }\n"
                     "fn xq_lo(s: u32) -> vec4<u32> { return %s_lo(s); }\n"
                     "fn xq_hi(s: u32) -> vec4<u32> { return %s_hi(s); }\n"
                     "fn x_step(s: u32) -> f32 { return %s_step(s); }\n"
                     "fn x_qsum(s: u32) -> i32 { return %s_qsum(s); }\n",
                     xq, xq, xq, xq, xq);
    wgml_text_printf(t, "%s", v->math == WGML_GEMV_MATH_DOT4 ? IDOT4_NATIVE : IDOT4_EMULATED);
    wgml_text_printf(t, "fn row_scale(row: u32) -> f32 { return %s; }\n",
                     q == WGML_QUANT_I8 ? "bitcast<f32>(ws[p.sc_base + row])" : "1.0");
    emit_reduce(t, v->reduce, sg, tpr);
}

// The uniform of gemv.wgsl (struct Params).
typedef struct gemv_params {
    uint32_t n, k, kb, units, sc_base, groups_x, row_v, row_s;
    float eps;
    uint32_t pad[3];
} gemv_params;

static gemv_params params_of(const wgml_gemv_args *a, const wgml_gemv_variant *v, uint32_t gx)
{
    wgml_quant q = a->format;
    uint64_t N = a->N, K = a->K;
    uint64_t row_bytes = q == WGML_QUANT_F32 ? 4 * K : q == WGML_QUANT_F16 ? 2 * K : K;
    const char *fetch = fetch_fn(q, v->math, a->K);
    bool by_element = !strcmp(fetch, "fetch_f32_1") || !strcmp(fetch, "fetch_f16_1");
    gemv_params p = {
        .n = a->N,
        .k = a->K,
        .kb = (a->K + 31) / 32,
        .units = units_per_row(q, v->math, a->K, NULL),
        .sc_base = (uint32_t)(q == WGML_QUANT_I8 ? N * K / 4
                              : is_int_format(q) ? block_quant_bytes(q, N, K) / 4 : 0),
        .groups_x = gx,
        .row_v = (uint32_t)(row_bytes / 16),
        .row_s = (uint32_t)(by_element ? K : row_bytes / 4),
        .eps = a->eps,
    };
    return p;
}

// ---------------------------------------------------------------- op

// The kernels of gemv.wgsl an op records.
typedef enum gemv_entry { ENTRY_FLOAT, ENTRY_INT, ENTRY_QUANT_X, ENTRY_INT_ONCE } gemv_entry;

// The pipeline of one entry point for these arguments and variant, made
// once and recalled after.
static wgml_status gemv_pipeline(wgml_gpu *gpu, const wgml_gemv_args *a,
                                 const wgml_gemv_variant *v, uint32_t M, gemv_entry entry,
                                 wgml_gpu_pipeline **out)
{
    // Everything the prelude depends on: a decode step records the same few
    // variants again and again, and composing the text costs more than the
    // dispatch.
    struct {
        uint8_t format, math, reduce, input, accumulate, k_mod_32, entry, xquant;
        uint16_t tpr, rb, M, sg, ur, wg;
    } key;
    memset(&key, 0, sizeof key);
    key.format = (uint8_t)a->format;
    key.math = (uint8_t)v->math;
    key.reduce = (uint8_t)v->reduce;
    key.input = (uint8_t)a->input;
    key.accumulate = a->accumulate;
    key.k_mod_32 = (uint8_t)(a->K % 32);
    key.entry = (uint8_t)entry;
    key.xquant = (uint8_t)v->xquant;
    key.tpr = (uint16_t)v->threads_per_row;
    key.rb = (uint16_t)v->rows_per_group;
    key.M = (uint16_t)M;
    key.sg = (uint16_t)wgml_gpu_fixed_subgroup_size(gpu);
    key.ur = (uint16_t)v->units_in_flight;
    key.wg = (uint16_t)v->workgroup_size;
    wgml_gpu_pipeline *p = wgml_gpu_pipeline_recall(gpu, GEMV_MEMO, &key, sizeof key);
    if (!p) {
        wgml_text t = {0};
        // On x quantised once the GEMV reads no x: its prelude is the plain
        // input's (no prologue); the input rule is the quantising pass's.
        wgml_gemv_args plain = *a;
        if (entry == ENTRY_INT_ONCE) plain.input = WGML_GEMV_IN_PLAIN;
        emit_prelude(&t, &plain, v, key.sg, M);
        if (t.failed) {
            wgml_text_free(&t);
            return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        static const char *entries[] = {"gemv", "gemv_int", "gemv_quant_x", "gemv"};
        wgml_gpu_kernel k = {.family = "gemv", .entry = entries[entry], .prelude = t.s};
        wgml_status st = wgml_gpu_pipeline_get(gpu, &k, &p);
        wgml_text_free(&t);
        if (st) return st;
        wgml_gpu_pipeline_remember(gpu, GEMV_MEMO, &key, sizeof key, p);
    }
    *out = p;
    return WGML_OK;
}

wgml_status wgml_op_gemv_ex(wgml_gpu *gpu, const wgml_gemv_args *a)
{
    uint32_t N = a->N, K = a->K, M = a->M ? a->M : 1;
    if ((unsigned)a->format >= WGML_QUANT_COUNT)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "gemv: unknown weight format %d",
                             a->format);
    if (N == 0 || K == 0 || M > WGML_GEMV_MAX_M || (uint64_t)N * K > UINT32_MAX)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: shape %u x %u (M %u) is empty or too large", N, K, M);
    if (!wgml_quant_k_valid(a->format, K))
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: K = %u does not suit %s weights (block formats need a "
                             "multiple of 32, i8 of 4)", K, wgml_quant_name(a->format));
    if ((unsigned)a->input > WGML_GEMV_IN_SWIGLU)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "gemv: unknown input rule %d",
                             a->input);
    if (a->input != WGML_GEMV_IN_PLAIN && K % 4)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: a fused input rule needs K a multiple of 4, not %u", K);
    if (a->input == WGML_GEMV_IN_RMSNORM && !(a->eps >= 0 && a->eps < 1))
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "gemv: RMSNorm epsilon %g",
                             (double)a->eps);
    wgml_gemv_variant v;
    wgml_status st;
    if ((st = wgml_gemv_resolve(gpu, a, &v))) return st;
    uint64_t wbytes = wgml_gemv_packed_bytes(a->format, N, K);
    uint64_t x_cols = a->input == WGML_GEMV_IN_SWIGLU ? 2ull * K : K;
    if ((st = wgml_ops_check_view(gpu, "gemv", "w", a->w, wbytes)) ||
        (st = wgml_ops_check_view(gpu, "gemv", "x", a->x, 4ull * M * x_cols)) ||
        (st = wgml_ops_check_view(gpu, "gemv", "y", a->y, 4ull * M * N)) ||
        (a->input == WGML_GEMV_IN_RMSNORM &&
         (st = wgml_ops_check_view(gpu, "gemv", "gamma", a->gamma, 4ull * K))))
        return st;
    if (a->accumulate && a->x.buf == a->y.buf)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: y (accumulated into) must not be x's buffer");
    bool once = v.xquant == WGML_GEMV_XQ_ONCE;
    if (once && (st = wgml_ops_check_view(gpu, "gemv", "xq", a->xq, wgml_gemv_xq_bytes(K, M))))
        return st;
    if (once && (a->xq.buf == a->x.buf || a->xq.buf == a->y.buf || a->xq.buf == a->w.buf))
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "gemv: the scratch xq must be a buffer of its own");
    uint32_t rpw = v.workgroup_size / v.threads_per_row * v.rows_per_group, gx, gy;
    if ((st = wgml_ops_grid(gpu, (N + rpw - 1) / rpw, &gx, &gy))) return st;
    bool integer = v.math == WGML_GEMV_MATH_DOT4 || v.math == WGML_GEMV_MATH_DOT4_EMULATED;
    wgml_gpu_pipeline *p;
    wgml_gpu_binding b[5];
    size_t nb = 0;
    if (once) {
        // The pass that quantises x: a block an invocation; x and gamma
        // are its inputs, the GEMV's are the weights and the scratch.
        uint32_t qx, qy;
        if ((st = wgml_ops_grid(gpu, (M * ((K + 31) / 32) + v.workgroup_size - 1) /
                                         v.workgroup_size, &qx, &qy)) ||
            (st = gemv_pipeline(gpu, a, &v, M, ENTRY_QUANT_X, &p)))
            return st;
        b[nb++] = (wgml_gpu_binding){a->x.buf, a->x.offset, 0, SLOT_X};
        b[nb++] = (wgml_gpu_binding){a->xq.buf, a->xq.offset, 0, SLOT_XQ_OUT};
        if (a->input == WGML_GEMV_IN_RMSNORM)
            b[nb++] = (wgml_gpu_binding){a->gamma.buf, a->gamma.offset, 0, SLOT_GAMMA};
        gemv_params qp = params_of(a, &v, qx);
        if ((st = wgml_gpu_dispatch(gpu, p, &qp, sizeof qp, b, nb, qx, qy, 1))) return st;
        nb = 0;
    }
    if ((st = gemv_pipeline(gpu, a, &v, M,
                            once ? ENTRY_INT_ONCE : integer ? ENTRY_INT : ENTRY_FLOAT, &p)))
        return st;
    // A binding the kernel does not use is not in its layout and must not be
    // bound: the 16-byte view serves the wide fetches, the 4-byte view the
    // narrow ones, the scales and I8's row scales.
    const char *fetch = fetch_fn(a->format, v.math, K);
    bool wide = !strcmp(fetch, "fetch_f32_4") || !strcmp(fetch, "fetch_f16_8") ||
                !strcmp(fetch, "fetch_i8_16") || !strcmp(fetch, "fetch_i8_32") ||
                !strncmp(fetch, "fetch_q", 7);
    bool narrow = (strcmp(fetch, "fetch_f32_4") && strcmp(fetch, "fetch_f16_8") &&
                   strcmp(fetch, "fetch_i8_16")) || a->format == WGML_QUANT_I8;
    if (wide) b[nb++] = (wgml_gpu_binding){a->w.buf, a->w.offset, 0, SLOT_WV};
    if (narrow) b[nb++] = (wgml_gpu_binding){a->w.buf, a->w.offset, 0, SLOT_WS};
    if (once) {
        b[nb++] = (wgml_gpu_binding){a->xq.buf, a->xq.offset, 0, SLOT_XQ};
    } else {
        b[nb++] = (wgml_gpu_binding){a->x.buf, a->x.offset, 0, SLOT_X};
        if (a->input == WGML_GEMV_IN_RMSNORM)
            b[nb++] = (wgml_gpu_binding){a->gamma.buf, a->gamma.offset, 0, SLOT_GAMMA};
    }
    b[nb++] = (wgml_gpu_binding){a->y.buf, a->y.offset, 0, SLOT_Y};
    gemv_params params = params_of(a, &v, gx);
    return wgml_gpu_dispatch(gpu, p, &params, sizeof params, b, nb, gx, gy, 1);
}

wgml_status wgml_op_gemv(wgml_gpu *gpu, wgml_quant format, wgml_view w, wgml_view x,
                         wgml_view y, uint32_t N, uint32_t K)
{
    wgml_gemv_args a = {.format = format, .w = w, .x = x, .y = y, .N = N, .K = K, .M = 1};
    return wgml_op_gemv_ex(gpu, &a);
}
