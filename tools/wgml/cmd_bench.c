// wgml bench: each op at a few sizes, timed on the GPU.
//
// A run records `iters` dispatches of one op in one compute pass and one
// submit; with timestamp queries the pass's GPU time is read back, otherwise
// the host clock spans submit to completion (marked "wall"). The reported time
// is the median over `repeat` runs, divided by `iters`.
#include "cli.h"
#include "ops/gemv.h"
#include "ops/ops.h"
#include "ops/peaks.h"
#include "ops/templates.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: wgml bench [--json] [--quick] [--op NAME] [--iters N] [--repeat N]\n"
    "       wgml bench fusion [options]   (see wgml bench fusion --help)\n"
    "       wgml bench embed [options]    (see wgml bench embed --help)\n"
    "       wgml bench gemv [options]     (see wgml bench gemv --help)\n"
    "       wgml bench dispatch [options] (see wgml bench dispatch --help)\n"
    "\n"
    "Times each op (unary scale/gelu/silu, binary add/mul, softmax, layernorm,\n"
    "rmsnorm, matmul f32 and f16, matmul_nt f32 and with f16 weights, attention\n"
    "with heads of 32, gemv in f16, q8_0, q4_0 and i8) at a few sizes and prints,\n"
    "per row: the op, its shape, GPU time per call, bytes moved and GB/s, FLOPs\n"
    "and GFLOP/s, percent of the measured bound, and the variant the op chose.\n"
    "GEMV rows are named gemv_FORMAT_MATH (MATH: float, dot4); their bytes are\n"
    "the weights as stored (GGUF's block sizes), x and y.\n"
    "\n"
    "  --json      one JSON object per row (JSON lines)\n"
    "  --quick     small sizes only (seconds on a CPU device)\n"
    "  --op NAME   only rows whose op name contains NAME\n"
    "  --iters N   dispatches per timed run (default 20; 3 with --quick)\n"
    "  --repeat N  timed runs per row, median reported (default 5; 2 with --quick)\n";

typedef enum bench_kind {
    B_UNARY, B_BINARY, B_SOFTMAX, B_LAYERNORM, B_RMSNORM, B_MATMUL,
    B_MATMUL_NT,    // op: WGML_F32, or W16 (f16 weights under f32 activations)
    B_ATTENTION,    // heads of ATTN_HEAD_DIM
    B_GEMV,         // op: weight format; d2: math
} bench_kind;

enum { W16 = 2, ATTN_HEAD_DIM = 32 };

typedef struct bench_case {
    bench_kind kind;
    int op;            // unary/binary op, dtype for matmul, weight format for gemv
    uint32_t d0, d1, d2;   // n | rows, cols | M, N, K | batch, length, heads | gemv: N, K, math
    int quick;         // part of --quick
    int var;           // matmul: a forced wgml_matmul_variant; gemv: a forced wgml_gemv_reduce
} bench_case;

#define MIB (1u << 20)
static const bench_case CASES[] = {
    {B_UNARY, WGML_UNARY_SCALE, MIB / 4, 0, 0, 1, 0},
    {B_UNARY, WGML_UNARY_SCALE, 16 * MIB, 0, 0, 0, 0},
    {B_UNARY, WGML_UNARY_GELU, MIB / 4, 0, 0, 1, 0},
    {B_UNARY, WGML_UNARY_GELU, 16 * MIB, 0, 0, 0, 0},
    {B_UNARY, WGML_UNARY_SILU, 16 * MIB, 0, 0, 0, 0},
    {B_BINARY, WGML_BINARY_ADD, MIB / 4, 0, 0, 1, 0},
    {B_BINARY, WGML_BINARY_ADD, 16 * MIB, 0, 0, 0, 0},
    {B_BINARY, WGML_BINARY_MUL, 16 * MIB, 0, 0, 0, 0},
    {B_SOFTMAX, 0, 256, 1024, 0, 1, 0},
    {B_SOFTMAX, 0, 16384, 1024, 0, 0, 0},
    {B_LAYERNORM, 0, 256, 1024, 0, 1, 0},
    {B_LAYERNORM, 0, 16384, 1024, 0, 0, 0},
    {B_RMSNORM, 0, 256, 1024, 0, 1, 0},
    {B_RMSNORM, 0, 16384, 1024, 0, 0, 0},
    {B_MATMUL, WGML_F32, 128, 128, 128, 1, 0},
    {B_MATMUL, WGML_F32, 1024, 1024, 1024, 0, 0},
    {B_MATMUL, WGML_F32, 4096, 4096, 4096, 0, 0},
    {B_MATMUL, WGML_F16, 128, 128, 128, 1, 0},
    {B_MATMUL, WGML_F16, 1024, 1024, 1024, 0, 0},
    {B_MATMUL, WGML_F16, 4096, 4096, 4096, 0, 0},
    // Decode-step GEMV: a 4096 x 4096 projection and a 14336 x 4096 FFN matrix.
    {B_GEMV, WGML_QUANT_F16, 256, 256, WGML_GEMV_MATH_FLOAT, 1, 0},
    {B_GEMV, WGML_QUANT_Q4_0, 256, 256, WGML_GEMV_MATH_DOT4, 1, 0},
    {B_GEMV, WGML_QUANT_F16, 4096, 4096, WGML_GEMV_MATH_FLOAT, 0, 0},
    {B_GEMV, WGML_QUANT_F16, 14336, 4096, WGML_GEMV_MATH_FLOAT, 0, 0},
    {B_GEMV, WGML_QUANT_Q8_0, 4096, 4096, WGML_GEMV_MATH_DOT4, 0, 0},
    {B_GEMV, WGML_QUANT_Q8_0, 14336, 4096, WGML_GEMV_MATH_DOT4, 0, 0},
    {B_GEMV, WGML_QUANT_Q8_0, 4096, 4096, WGML_GEMV_MATH_FLOAT, 0, 0},
    {B_GEMV, WGML_QUANT_Q4_0, 4096, 4096, WGML_GEMV_MATH_DOT4, 0, 0},
    {B_GEMV, WGML_QUANT_Q4_0, 14336, 4096, WGML_GEMV_MATH_DOT4, 0, 0},
    {B_GEMV, WGML_QUANT_Q4_0, 4096, 4096, WGML_GEMV_MATH_FLOAT, 0, 0},
    {B_GEMV, WGML_QUANT_I8, 4096, 4096, WGML_GEMV_MATH_DOT4, 0, 0},
    {B_GEMV, WGML_QUANT_I8, 14336, 4096, WGML_GEMV_MATH_DOT4, 0, 0},
    {B_GEMV, WGML_QUANT_I8, 4096, 4096, WGML_GEMV_MATH_FLOAT, 0, 0},
    {B_GEMV, WGML_QUANT_I8, 14336, 4096, WGML_GEMV_MATH_FLOAT, 0, 0},
    // The seed comparisons (bench/seeds.py): f32 GEMV beside f16; packed dot
    // products emulated; the workgroup-memory reduction instead of subgroups;
    // the tiled GEMM with a swizzled workgroup order, and in f16.
    {B_GEMV, WGML_QUANT_F32, 4096, 4096, WGML_GEMV_MATH_FLOAT, 0, 0},
    {B_GEMV, WGML_QUANT_I8, 4096, 4096, WGML_GEMV_MATH_DOT4_EMULATED, 0, 0},
    {B_GEMV, WGML_QUANT_Q4_0, 4096, 4096, WGML_GEMV_MATH_DOT4_EMULATED, 0, 0},
    {B_GEMV, WGML_QUANT_F16, 4096, 4096, WGML_GEMV_MATH_FLOAT, 0, WGML_GEMV_REDUCE_SHARED},
    {B_GEMV, WGML_QUANT_I8, 4096, 4096, WGML_GEMV_MATH_DOT4, 0, WGML_GEMV_REDUCE_SHARED},
    {B_GEMV, WGML_QUANT_Q4_0, 4096, 4096, WGML_GEMV_MATH_DOT4, 0, WGML_GEMV_REDUCE_SHARED},
    {B_MATMUL, WGML_F32, 1024, 1024, 1024, 0, WGML_MATMUL_TILED},
    {B_MATMUL, WGML_F32, 4096, 4096, 4096, 0, WGML_MATMUL_TILED},
    {B_MATMUL, WGML_F32, 1024, 1024, 1024, 0, WGML_MATMUL_TILED_SWIZZLED},
    {B_MATMUL, WGML_F32, 4096, 4096, 4096, 0, WGML_MATMUL_TILED_SWIZZLED},
    {B_MATMUL, WGML_F16, 4096, 4096, 4096, 0, WGML_MATMUL_TILED},
    {B_MATMUL, WGML_F16, 4096, 4096, 4096, 0, WGML_MATMUL_TILED_SWIZZLED},
    // The 128 x 128 tiles of 8 x 8 results an invocation with 16-byte loads.
    {B_MATMUL, WGML_F32, 1024, 1024, 1024, 0, WGML_MATMUL_TILED_VEC4},
    {B_MATMUL, WGML_F32, 4096, 4096, 4096, 0, WGML_MATMUL_TILED_VEC4},
    {B_MATMUL, WGML_F16, 4096, 4096, 4096, 0, WGML_MATMUL_TILED_VEC4},
    // The same tiles with A passed between lanes by subgroup shuffles, and
    // in the swizzled order too (the seeds' subgroups on/off and combined).
    {B_MATMUL, WGML_F32, 1024, 1024, 1024, 0, WGML_MATMUL_TILED_SUBGROUP},
    {B_MATMUL, WGML_F32, 4096, 4096, 4096, 0, WGML_MATMUL_TILED_SUBGROUP},
    {B_MATMUL, WGML_F16, 4096, 4096, 4096, 0, WGML_MATMUL_TILED_SUBGROUP},
    {B_MATMUL, WGML_F32, 1024, 1024, 1024, 0, WGML_MATMUL_TILED_SUBGROUP_SWIZZLED},
    {B_MATMUL, WGML_F32, 4096, 4096, 4096, 0, WGML_MATMUL_TILED_SUBGROUP_SWIZZLED},
    // A BERT-small feed-forward (x W^T, 32 x 128 tokens) and its attention.
    {B_MATMUL_NT, WGML_F32, 128, 384, 384, 1, 0},
    {B_MATMUL_NT, WGML_F32, 4096, 1536, 384, 0, 0},
    {B_MATMUL_NT, W16, 4096, 1536, 384, 0, 0},
    {B_ATTENTION, 0, 1, 128, 12, 1, 0},
    {B_ATTENTION, 0, 32, 128, 12, 0, 0},
    {B_ATTENTION, 0, 8, 512, 12, 0, 0},
};

typedef struct bench_opts {
    int json, quick, iters, repeat;
    const char *filter;
    const wgml_peaks *peaks;                        // for "% of bound"; NULL if unmeasured
    void (*on_row)(const cli_bench_row *, void *);  // instead of printing
    void *user;
} bench_opts;

static const char *case_name(const bench_case *c, char *buf, size_t cap)
{
    switch (c->kind) {
    case B_UNARY: return wgml_unary_name(c->op);
    case B_BINARY: return wgml_binary_name(c->op);
    case B_SOFTMAX: return "softmax";
    case B_LAYERNORM: return "layernorm";
    case B_RMSNORM: return "rmsnorm";
    case B_MATMUL:
        snprintf(buf, cap, "matmul_%s%s", c->op == WGML_F16 ? "f16" : "f32",
                 c->var == WGML_MATMUL_TILED ? "_tiled"
                 : c->var == WGML_MATMUL_TILED_SWIZZLED ? "_tiled_swizzled"
                 : c->var == WGML_MATMUL_TILED_VEC4 ? "_tiled_vec4"
                 : c->var == WGML_MATMUL_TILED_SUBGROUP ? "_tiled_subgroup"
                 : c->var == WGML_MATMUL_TILED_SUBGROUP_SWIZZLED ? "_tiled_subgroup_swizzled"
                                                                  : "");
        return buf;
    case B_GEMV:
        snprintf(buf, cap, "gemv_%s_%s%s", wgml_quant_name(c->op), wgml_gemv_math_name(c->d2),
                 c->var == WGML_GEMV_REDUCE_SHARED ? "_shared" : "");
        return buf;
    case B_MATMUL_NT:
        snprintf(buf, cap, "matmul_nt_%s", c->op == W16 ? "w16" : "f32");
        return buf;
    case B_ATTENTION: return "attention";
    }
    return "?";
}

static void case_shape(const bench_case *c, char *buf, size_t cap)
{
    if (c->kind == B_UNARY || c->kind == B_BINARY) snprintf(buf, cap, "%u", c->d0);
    else if (c->kind == B_MATMUL || c->kind == B_MATMUL_NT)
        snprintf(buf, cap, "%ux%ux%u", c->d0, c->d1, c->d2);
    else if (c->kind == B_GEMV) snprintf(buf, cap, "%ux%u", c->d0, c->d1);
    else if (c->kind == B_ATTENTION)
        snprintf(buf, cap, "%ux%ux%ux%d", c->d0, c->d1, c->d2, ATTN_HEAD_DIM);
    else snprintf(buf, cap, "%ux%u", c->d0, c->d1);
}

// The variant the op picks for this case (tuned or heuristic), for display.
static const char *case_variant(wgml_gpu *gpu, const bench_case *c, char *buf, size_t cap)
{
    if (c->kind == B_SOFTMAX || c->kind == B_LAYERNORM || c->kind == B_RMSNORM) {
        snprintf(buf, cap, "vpl%u", wgml_rows_values_per_lane(gpu, c->d1));
        return buf;
    }
    if (c->kind == B_MATMUL)
        return wgml_matmul_variant_name(c->var ? (wgml_matmul_variant)c->var
                                               : wgml_matmul_chosen(gpu, c->op, c->d0, c->d1, c->d2));
    return "-";
}

static wgml_cost case_cost(const bench_case *c)
{
    switch (c->kind) {
    case B_UNARY: return wgml_op_unary_cost(c->op, c->d0);
    case B_BINARY: return wgml_op_binary_cost(c->d0, c->d0);
    case B_SOFTMAX: return wgml_op_softmax_cost(c->d0, c->d1);
    case B_LAYERNORM: return wgml_op_layernorm_cost(c->d0, c->d1);
    case B_RMSNORM: return wgml_op_rmsnorm_cost(c->d0, c->d1);
    case B_MATMUL: return wgml_op_matmul_cost(c->op, c->d0, c->d1, c->d2);
    case B_GEMV: return wgml_op_gemv_cost(c->op, c->d0, c->d1, 1);
    case B_MATMUL_NT: {
        wgml_cost k = wgml_op_matmul_cost(WGML_F32, c->d0, c->d1, c->d2);
        if (c->op == W16) k.bytes -= 2.0 * c->d1 * c->d2;   // B at 2 bytes
        return k;
    }
    case B_ATTENTION: return wgml_op_attention_cost(c->d0, c->d1, c->d2, ATTN_HEAD_DIM);
    }
    return (wgml_cost){0};
}

// Buffers for one case: up to three inputs and one output, filled with
// small pseudo-random values (never zeros, which can run unrealistically fast).
typedef struct bench_bufs {
    wgml_gpu_buf *in[3], *out;
} bench_bufs;

static wgml_status fill_random(wgml_gpu *gpu, wgml_gpu_buf *b, uint64_t bytes, uint32_t seed)
{
    const uint64_t chunk = 4 * MIB;
    uint32_t *tmp = malloc(chunk);
    if (!tmp) return WGML_ERR_OUT_OF_MEMORY;
    uint32_t s = seed * 2654435761u + 1;
    wgml_status st = WGML_OK;
    for (uint64_t off = 0; off < bytes && !st; off += chunk) {
        uint64_t n = bytes - off < chunk ? bytes - off : chunk;
        for (uint64_t i = 0; i < n / 4; i++) {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5;
            // Valid as f32 (in [1,2)) and, read as two f16 halves, in [1,2) too.
            tmp[i] = (s & 0x03ff03ffu) | 0x3c003c00u;
        }
        st = wgml_gpu_buf_write(gpu, b, off, tmp, (n + 3) & ~3ull);
    }
    free(tmp);
    return st;
}

static wgml_status alloc_case(wgml_gpu *gpu, const bench_case *c, bench_bufs *b)
{
    uint64_t in_bytes[3] = {0}, out_bytes;
    size_t es = c->kind == B_MATMUL ? wgml_dtype_size(c->op) : 4;
    switch (c->kind) {
    case B_UNARY: in_bytes[0] = 4ull * c->d0; out_bytes = in_bytes[0]; break;
    case B_BINARY: in_bytes[0] = in_bytes[1] = 4ull * c->d0; out_bytes = in_bytes[0]; break;
    case B_MATMUL:
        in_bytes[0] = es * c->d0 * c->d2;
        in_bytes[1] = es * c->d2 * c->d1;
        out_bytes = es * c->d0 * c->d1;
        break;
    case B_GEMV:   // random bits: f16 weights and scales in [1, 2), any int8
        in_bytes[0] = wgml_gemv_packed_bytes(c->op, c->d0, c->d1);
        in_bytes[1] = 4ull * c->d1;
        out_bytes = 4ull * c->d0;
        break;
    case B_MATMUL_NT:
        in_bytes[0] = 4ull * c->d0 * c->d2;
        in_bytes[1] = (c->op == W16 ? 2ull : 4ull) * c->d2 * c->d1;
        out_bytes = 4ull * c->d0 * c->d1;
        break;
    case B_ATTENTION: {
        uint64_t rows = (uint64_t)c->d0 * c->d1, D = (uint64_t)c->d2 * ATTN_HEAD_DIM;
        in_bytes[0] = 12 * rows * D;
        in_bytes[1] = 4 * rows;   // mask: values in [1,2) keep every key
        out_bytes = 4 * rows * D;
        break;
    }
    default:
        in_bytes[0] = 4ull * c->d0 * c->d1;
        in_bytes[1] = in_bytes[2] = 4ull * c->d1;
        out_bytes = in_bytes[0];
    }
    wgml_status st;
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 3; i++) {
        if (!in_bytes[i]) continue;
        if ((st = wgml_gpu_buf_create(gpu, in_bytes[i], "bench.in", &b->in[i])) ||
            (st = fill_random(gpu, b->in[i], in_bytes[i], i + 1)))
            return st;
    }
    return wgml_gpu_buf_create(gpu, out_bytes, "bench.out", &b->out);
}

static wgml_status record(wgml_gpu *gpu, const bench_case *c, const bench_bufs *b)
{
    wgml_view i0 = {b->in[0], 0}, i1 = {b->in[1], 0}, i2 = {b->in[2], 0}, o = {b->out, 0};
    switch (c->kind) {
    case B_UNARY: return wgml_op_unary(gpu, c->op, i0, o, c->d0, 0.5f);
    case B_BINARY: return wgml_op_binary(gpu, c->op, i0, i1, o, c->d0, c->d0);
    case B_SOFTMAX: return wgml_op_softmax(gpu, i0, o, c->d0, c->d1);
    case B_LAYERNORM: return wgml_op_layernorm(gpu, i0, i1, i2, o, c->d0, c->d1, 1e-5f);
    case B_RMSNORM: return wgml_op_rmsnorm(gpu, i0, i1, o, c->d0, c->d1, 1e-5f);
    case B_MATMUL:
        return wgml_op_matmul_variant(gpu, (wgml_matmul_variant)c->var, c->op, i0, i1, o, c->d0,
                                      c->d1, c->d2);
    case B_GEMV: {
        wgml_gemv_args a = {.format = c->op, .w = i0, .x = i1, .y = o, .N = c->d0, .K = c->d1,
                            .M = 1, .variant = {.math = c->d2, .reduce = c->var}};
        return wgml_op_gemv_ex(gpu, &a);
    }
    case B_MATMUL_NT:
        return c->op == W16 ? wgml_op_matmul_nt_w16(gpu, i0, i1, o, c->d0, c->d1, c->d2)
                            : wgml_op_matmul_nt(gpu, WGML_F32, i0, i1, o, c->d0, c->d1, c->d2);
    case B_ATTENTION:
        return wgml_op_attention(gpu, i0, i1, o, c->d0, c->d1, c->d2, ATTN_HEAD_DIM,
                                 0.1767767f);   // 1 / sqrt(32)
    }
    return WGML_ERR_INVALID_ARGUMENT;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// One timed run: `iters` dispatches, one submit. Returns ns per dispatch.
static wgml_status timed_run(wgml_gpu *gpu, const bench_case *c, const bench_bufs *b,
                             int iters, double *ns, int *wall)
{
    wgml_status st;
    if ((st = wgml_gpu_wait(gpu))) return st;
    if ((st = wgml_gpu_begin(gpu, true))) return st;
    for (int i = 0; i < iters; i++)
        if ((st = record(gpu, c, b))) return st;
    double t0 = now_ns(), gpu_ns;
    if ((st = wgml_gpu_submit(gpu, &gpu_ns)) || (st = wgml_gpu_wait(gpu))) return st;
    // A zero span for real work means the timestamps are unusable (some CPU
    // devices tick too coarsely): fall back to the host clock.
    *wall = gpu_ns <= 0;
    *ns = (*wall ? now_ns() - t0 : gpu_ns) / iters;
    return WGML_OK;
}

static int bench_case_run(wgml_gpu *gpu, const bench_case *c, const bench_opts *o)
{
    char nbuf[48], shape[64];
    const char *name = case_name(c, nbuf, sizeof nbuf);
    case_shape(c, shape, sizeof shape);
    bool f16 = (c->kind == B_MATMUL && c->op == WGML_F16) || (c->kind == B_MATMUL_NT && c->op == W16);
    if (f16 && !wgml_gpu_info(gpu)->shader_f16) {
        if (!o->json) printf("%-18s %-16s skipped: no shader-f16 on this device\n", name, shape);
        return 0;
    }
    if (c->kind == B_GEMV && c->d2 == WGML_GEMV_MATH_DOT4 && !wgml_gpu_info(gpu)->packed_dot4) {
        if (!o->json)
            printf("%-18s %-16s skipped: no packed 4x8 integer dot product on this device\n",
                   name, shape);
        return 0;
    }
    if (c->kind == B_MATMUL && !wgml_gpu_fixed_subgroup_size(gpu) &&
        (c->var == WGML_MATMUL_TILED_SUBGROUP || c->var == WGML_MATMUL_TILED_SUBGROUP_SWIZZLED)) {
        if (!o->json) printf("%-18s %-16s skipped: no subgroups of one fixed size\n", name, shape);
        return 0;
    }
    bench_bufs b;
    wgml_status st = alloc_case(gpu, c, &b);
    int wall = 0;
    double times[64], t = 0;
    int repeat = o->repeat > 64 ? 64 : o->repeat;
    if (!st) st = timed_run(gpu, c, &b, 1, &t, &wall);   // warm-up: pipelines, caches
    for (int r = 0; r < repeat && !st; r++) st = timed_run(gpu, c, &b, o->iters, &times[r], &wall);
    for (int i = 0; i < 3; i++) wgml_gpu_buf_release(gpu, b.in[i]);
    wgml_gpu_buf_release(gpu, b.out);
    wgml_gpu_pool_trim(gpu);   // large cases should not pile up
    if (st) {
        fprintf(stderr, "wgml bench: %s %s failed (%s): %s\n", name, shape,
                wgml_status_name(st), wgml_gpu_last_error(gpu));
        return 1;
    }
    qsort(times, repeat, sizeof times[0], cli_cmp_double);
    wgml_cost cost = case_cost(c);
    char vbuf[16];
    cli_bench_row row = {.op = name, .shape = shape, .ns = times[repeat / 2], .bytes = cost.bytes,
                         .flops = cost.flops, .wall = wall,
                         .f16 = c->kind == B_MATMUL && c->op == WGML_F16,
                         .variant = case_variant(gpu, c, vbuf, sizeof vbuf)};
    row.bound_ns = o->peaks ? wgml_peaks_bound_ns(o->peaks, row.bytes, row.flops, row.f16) : 0;
    if (o->on_row) {
        o->on_row(&row, o->user);
        return 0;
    }
    double gbs = row.bytes / row.ns, gflops = row.flops / row.ns;
    double pct = row.bound_ns > 0 ? 100.0 * row.bound_ns / row.ns : -1;
    if (o->json) {
        printf("{\"op\":\"%s\",\"shape\":\"%s\",\"time_us\":%.9g,\"timer\":\"%s\","
               "\"bytes\":%.0f,\"flops\":%.0f,\"gb_per_s\":%.9g,\"gflop_per_s\":%.9g,"
               "\"bound_us\":%.9g,\"percent_of_bound\":%.4g,\"variant\":\"%s\","
               "\"iters\":%d,\"repeat\":%d}\n",
               name, shape, row.ns / 1e3, wall ? "wall" : "gpu", row.bytes, row.flops, gbs,
               gflops, row.bound_ns / 1e3, pct, row.variant, o->iters, repeat);
    } else {
        char pbuf[16] = "-";
        if (pct >= 0) snprintf(pbuf, sizeof pbuf, "%.0f%%", pct);
        printf("%-18s %-16s %12.2f %-4s %12.1f %10.2f %12.1f %10.2f %8s  %s\n", name, shape,
               row.ns / 1e3, wall ? "wall" : "gpu", row.bytes / 1e6, gbs, row.flops / 1e6, gflops,
               pbuf, row.variant);
    }
    fflush(stdout);
    return 0;
}

int cli_bench_rows(wgml_gpu *gpu, int quick, const char *filter, const wgml_peaks *peaks,
                   void (*on_row)(const cli_bench_row *, void *), void *user)
{
    bench_opts o = {.quick = quick, .iters = quick ? 3 : 20, .repeat = quick ? 2 : 5,
                    .filter = filter, .peaks = peaks, .on_row = on_row, .user = user};
    int failed = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const bench_case *c = &CASES[i];
        char nbuf[48];
        if ((o.quick && !c->quick) || (o.filter && !strstr(case_name(c, nbuf, sizeof nbuf), o.filter)))
            continue;
        failed |= bench_case_run(gpu, c, &o);
    }
    return failed;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    long v;
    if (!cli_parse_long(s, lo, hi, &v)) return 0;
    *out = (int)v;
    return 1;
}

int wgml_cmd_bench(int argc, char **argv)
{
    bench_opts o = {.iters = -1, .repeat = -1};
    if (argc > 1 && !strcmp(argv[1], "fusion")) return wgml_cmd_bench_fusion(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "embed")) return wgml_cmd_bench_embed(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "gemv")) return wgml_cmd_bench_gemv(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "dispatch"))
        return wgml_cmd_bench_dispatch(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--quick")) {
            o.quick = 1;
        } else if (!strcmp(a, "--op") && i + 1 < argc) {
            o.filter = argv[++i];
        } else if (!strcmp(a, "--iters") && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, 100000, &o.iters)) {
                fprintf(stderr, "wgml bench: --iters takes a number from 1 to 100000\n");
                return 2;
            }
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, 64, &o.repeat)) {
                fprintf(stderr, "wgml bench: --repeat takes a number from 1 to 64\n");
                return 2;
            }
        } else {
            fprintf(stderr, "wgml bench: unknown or incomplete option '%s'\n\n%s", a, USAGE);
            return 2;
        }
    }
    if (o.iters < 0) o.iters = o.quick ? 3 : 20;
    if (o.repeat < 0) o.repeat = o.quick ? 2 : 5;

    wgml_gpu *gpu = cli_gpu_create(NULL);
    if (!gpu) return 1;
    const wgml_device_info *d = wgml_gpu_info(gpu);
    // The ceilings each row is held to (bytes / B or flops / F, whichever is larger).
    wgml_peaks peaks;
    if (wgml_peaks_measure(gpu, o.quick, &peaks) == WGML_OK) o.peaks = &peaks;
    if (!o.json) {
        printf("# %s on %s (%s, %s); timer: %s\n", d->implementation,
               d->description[0] ? d->description : d->device, d->backend, d->adapter_type,
               d->timestamp_query ? "GPU timestamps" : "host clock (no timestamp queries)");
        if (o.peaks)
            printf("# bounds: copy %.1f GB/s, f32 FMA %.1f GFLOP/s, f16 FMA %.1f GFLOP/s (measured)\n",
                   peaks.copy_gb_per_s, peaks.fma_f32_gflop_per_s, peaks.fma_f16_gflop_per_s);
        printf("%-18s %-16s %12s %-4s %12s %10s %12s %10s %8s  %s\n", "op", "shape", "time_us",
               "", "MB", "GB/s", "MFLOP", "GFLOP/s", "bound%", "variant");
    }
    int failed = 0, ran = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const bench_case *c = &CASES[i];
        if (o.quick && !c->quick) continue;
        char nbuf[48];
        if (o.filter && !strstr(case_name(c, nbuf, sizeof nbuf), o.filter)) continue;
        failed |= bench_case_run(gpu, c, &o);
        ran++;
    }
    wgml_gpu_free(gpu);
    if (!ran) {
        fprintf(stderr, "wgml bench: no op matches '%s'\n", o.filter ? o.filter : "");
        return 2;
    }
    return failed;
}
