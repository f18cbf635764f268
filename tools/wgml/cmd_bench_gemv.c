// wgml bench gemv: the decode GEMVs of real models' shapes with the input
// rules the decoder fuses into them, and the square and FFN shapes,
// over variants (math, invocations per group, rows per group, units in
// flight, workgroup size), timed on the GPU against the measured copy
// bandwidth. What the automatic choice in gemv.c should pick is read off
// this table.
#include "cli.h"
#include "ops/gemv.h"
#include "ops/peaks.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: wgml bench gemv [--json] [--quick] [--hot] [--iters N] [--repeat N]\n"
    "                       [--shape NAME] [--math NAME]\n"
    "\n"
    "Times y = W x for the projections of SmolLM2-135M (Q4_1, the Q8_0 output) and\n"
    "Llama-3-8B (Q4_0), each with the input rule the decoder fuses into it (RMSNorm\n"
    "of x, SwiGLU of a stacked gate|up, y added to the residual stream), and for\n"
    "4096x4096, 14336x4096 and 4096x14336 matrices in f16, Q8_0 and Q4_0 (plain).\n"
    "Variants are searched a coordinate at a time: math (dot4 where the device has\n"
    "it, float) x invocations per group (8..64) x rows per group (1, 2, 4); then\n"
    "units in flight (1, 2, 4, 8) x workgroup size (64, 128, 256) at the best of\n"
    "those; then the best integer variant on x quantised once by a pass of its\n"
    "own (x-once; the pass is in the time). Per row: shape, variant, GPU time per\n"
    "call (median of the runs, each run `iters` calls in one pass), GB/s of the\n"
    "weights as stored, percent of the measured copy bandwidth; the automatic\n"
    "variant is marked. Before a shape's variants, its automatic one runs for\n"
    "100 ms (the GPU's clocks up).\n"
    "\n"
    "Weights are cold by default, as in a decode step: the calls of a run cycle\n"
    "through copies of the matrix that together exceed 512 MiB, so each call reads\n"
    "its weights from device memory rather than the GPU's L2 cache.\n"
    "\n"
    "  --json        one JSON object per row\n"
    "  --quick       small shapes only\n"
    "  --hot         one copy of the weights (L2-resident where they fit)\n"
    "  --iters N     calls per timed run (default 20)\n"
    "  --repeat N    timed runs, median reported (default 5)\n"
    "  --shape NAME  only shapes whose name contains NAME\n"
    "  --math NAME   only that math (dot4, float)\n";

typedef struct gemv_shape {
    const char *name;
    wgml_quant format;
    uint32_t N, K;
    wgml_gemv_input input;   // as the decoder fuses it (llama.c)
    bool accumulate;         // y += W x: the residual stream
    int quick;
} gemv_shape;

#define IN_PLAIN WGML_GEMV_IN_PLAIN
#define IN_NORM WGML_GEMV_IN_RMSNORM
#define IN_SWIGLU WGML_GEMV_IN_SWIGLU

static const gemv_shape SHAPES[] = {
    {"smollm2.qkv", WGML_QUANT_Q4_1, 960, 576, IN_NORM, false, 1},
    {"smollm2.o", WGML_QUANT_Q4_1, 576, 576, IN_PLAIN, true, 1},
    {"smollm2.gate_up", WGML_QUANT_Q4_1, 3072, 576, IN_NORM, false, 1},
    {"smollm2.down", WGML_QUANT_Q4_1, 576, 1536, IN_SWIGLU, true, 1},
    {"smollm2.output", WGML_QUANT_Q8_0, 49152, 576, IN_NORM, false, 0},
    {"llama3_8b.qkv", WGML_QUANT_Q4_0, 6144, 4096, IN_NORM, false, 0},
    {"llama3_8b.o", WGML_QUANT_Q4_0, 4096, 4096, IN_PLAIN, true, 0},
    {"llama3_8b.gate_up", WGML_QUANT_Q4_0, 28672, 4096, IN_NORM, false, 0},
    {"llama3_8b.down", WGML_QUANT_Q4_0, 4096, 14336, IN_SWIGLU, true, 0},
    {"llama3_8b.output", WGML_QUANT_Q4_0, 128256, 4096, IN_NORM, false, 0},
    {"sq.f16", WGML_QUANT_F16, 4096, 4096, IN_PLAIN, false, 0},
    {"ffn_up.f16", WGML_QUANT_F16, 14336, 4096, IN_PLAIN, false, 0},
    {"ffn_down.f16", WGML_QUANT_F16, 4096, 14336, IN_PLAIN, false, 0},
    {"sq.q8_0", WGML_QUANT_Q8_0, 4096, 4096, IN_PLAIN, false, 0},
    {"ffn_up.q8_0", WGML_QUANT_Q8_0, 14336, 4096, IN_PLAIN, false, 0},
    {"ffn_down.q8_0", WGML_QUANT_Q8_0, 4096, 14336, IN_PLAIN, false, 0},
    {"sq.q4_0", WGML_QUANT_Q4_0, 4096, 4096, IN_PLAIN, false, 0},
    {"ffn_up.q4_0", WGML_QUANT_Q4_0, 14336, 4096, IN_PLAIN, false, 0},
    {"ffn_down.q4_0", WGML_QUANT_Q4_0, 4096, 14336, IN_PLAIN, false, 0},
};

enum { COLD_BYTES = 512u << 20, MAX_COPIES = 64 };

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The buffers of one shape: `copies` weight matrices (the calls of a run
// cycle through them), x (2K wide for SwiGLU), gamma and y.
typedef struct shape_bufs {
    wgml_gpu_buf *w[MAX_COPIES];
    uint32_t copies;
    wgml_gpu_buf *x, *gamma, *y;
    wgml_gpu_buf *xq;   // x quantised once (integer kernels' xquant ONCE)
} shape_bufs;

// Median GPU ns per call of a, or a negative value when the variant fails.
static double time_variant(wgml_gpu *gpu, wgml_gemv_args a, const shape_bufs *b, int iters,
                           int repeat)
{
    double ts[64];
    if (repeat > 64) repeat = 64;
    // Warm-up: pipeline compilation and first touch.
    if (wgml_op_gemv_ex(gpu, &a) || wgml_gpu_wait(gpu)) return -1;
    uint32_t next = 0;
    for (int r = 0; r < repeat; r++) {
        if (wgml_gpu_begin(gpu, true)) return -1;
        for (int i = 0; i < iters; i++) {
            a.w.buf = b->w[next++ % b->copies];
            if (wgml_op_gemv_ex(gpu, &a)) return -1;
        }
        double ns = -1;
        if (wgml_gpu_submit(gpu, &ns) || ns <= 0) return -1;
        ts[r] = ns / iters;
    }
    qsort(ts, (size_t)repeat, sizeof ts[0], cmp_double);
    return ts[repeat / 2];
}

static void bufs_free(wgml_gpu *gpu, shape_bufs *b)
{
    for (uint32_t i = 0; i < b->copies; i++) wgml_gpu_buf_release(gpu, b->w[i]);
    if (b->x) wgml_gpu_buf_release(gpu, b->x);
    if (b->gamma) wgml_gpu_buf_release(gpu, b->gamma);
    if (b->y) wgml_gpu_buf_release(gpu, b->y);
    if (b->xq) wgml_gpu_buf_release(gpu, b->xq);
    memset(b, 0, sizeof *b);
}

// Random weights (the block formats' scales finite: f16 in [1, 2), f16
// weights likewise), x in [-1, 1), gamma 1.
static wgml_status bufs_make(wgml_gpu *gpu, const gemv_shape *sh, size_t si, bool hot,
                             shape_bufs *b)
{
    memset(b, 0, sizeof *b);
    uint64_t wb = wgml_gemv_packed_bytes(sh->format, sh->N, sh->K);
    uint64_t xk = sh->input == WGML_GEMV_IN_SWIGLU ? 2ull * sh->K : sh->K;
    uint64_t copies = hot ? 1 : (COLD_BYTES + wb - 1) / wb;
    if (copies > MAX_COPIES) copies = MAX_COPIES;
    if (copies < 1) copies = 1;
    uint32_t *host = malloc(wb);
    float *xh = malloc(4 * xk);
    wgml_status st = host && xh ? WGML_OK : WGML_ERR_OUT_OF_MEMORY;
    if (!st) {
        uint64_t s = 0x9e3779b97f4a7c15ull + si;
        for (uint64_t i = 0; i < wb / 4; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            host[i] = (uint32_t)s;
        }
        uint64_t first_scale = sh->format == WGML_QUANT_F16 ? 0
                               : (uint64_t)sh->N * (sh->K / 32) *
                                     (sh->format == WGML_QUANT_Q8_0 ? 32 : 16) / 4;
        if (sh->format == WGML_QUANT_F16 || sh->format == WGML_QUANT_Q8_0 ||
            sh->format == WGML_QUANT_Q4_0 || sh->format == WGML_QUANT_Q4_1)
            for (uint64_t i = first_scale; i < wb / 4; i++)
                host[i] = 0x3c003c00u | (host[i] & 0x01ff01ffu);
        for (uint64_t k = 0; k < xk; k++) xh[k] = (float)((k * 37) % 101) / 50.0f - 1.0f;
    }
    for (uint64_t c = 0; !st && c < copies; c++) {
        if (!(st = wgml_gpu_buf_create(gpu, wb, "bench.w", &b->w[c])))
            st = wgml_gpu_buf_write(gpu, b->w[c], 0, host, wb);
        if (!st) b->copies = (uint32_t)c + 1;
    }
    if (!st && !(st = wgml_gpu_buf_create(gpu, 4 * xk, "bench.x", &b->x)))
        st = wgml_gpu_buf_write(gpu, b->x, 0, xh, 4 * xk);
    if (!st && !(st = wgml_gpu_buf_create(gpu, 4ull * sh->K, "bench.gamma", &b->gamma))) {
        for (uint32_t k = 0; k < sh->K; k++) xh[k] = 1.0f;
        st = wgml_gpu_buf_write(gpu, b->gamma, 0, xh, 4ull * sh->K);
    }
    if (!st && !(st = wgml_gpu_buf_create(gpu, 4ull * sh->N, "bench.y", &b->y))) {
        float zero[64] = {0};
        for (uint64_t i = 0; !st && i < sh->N; i += 64)
            st = wgml_gpu_buf_write(gpu, b->y, 4 * i, zero, 4 * (sh->N - i < 64 ? sh->N - i : 64));
    }
    if (!st) st = wgml_gpu_buf_create(gpu, wgml_gemv_xq_bytes(sh->K, 1), "bench.xq", &b->xq);
    free(host);
    free(xh);
    if (st) bufs_free(gpu, b);
    return st;
}

static bool same_variant(const wgml_gemv_variant *a, const wgml_gemv_variant *b)
{
    return a->math == b->math && a->reduce == b->reduce &&
           a->threads_per_row == b->threads_per_row && a->rows_per_group == b->rows_per_group &&
           a->units_in_flight == b->units_in_flight && a->workgroup_size == b->workgroup_size &&
           a->xquant == b->xquant;
}

typedef struct sweep {
    wgml_gpu *gpu;
    const gemv_shape *sh;
    const shape_bufs *b;
    wgml_gemv_args a;
    wgml_gemv_variant auto_v;
    double copy_gbs, best_ns;
    wgml_gemv_variant best;
    int json, iters, repeat;
    const char *note;   // a row's tag besides the variant (e.g. "plain input")
} sweep;

// Times one variant (forced fields of v, the rest automatic) and prints its row.
static void try_variant(sweep *sw, wgml_gemv_variant v)
{
    wgml_gemv_args a = sw->a;
    a.variant = v;
    wgml_gemv_variant r;
    if (wgml_gemv_resolve(sw->gpu, &a, &r)) {
        wgml_gpu_clear_error(sw->gpu);
        return;
    }
    a.variant = r;
    double ns = time_variant(sw->gpu, a, sw->b, sw->iters, sw->repeat);
    char name[112];
    snprintf(name, sizeof name, "%s/%s tpr=%u rb=%u ur=%u wg=%u%s%s%s", wgml_gemv_math_name(r.math),
             wgml_gemv_reduce_name(r.reduce), r.threads_per_row, r.rows_per_group,
             r.units_in_flight, r.workgroup_size, r.xquant == WGML_GEMV_XQ_ONCE ? " x-once" : "",
             sw->note ? " " : "", sw->note ? sw->note : "");
    if (ns <= 0) {
        fprintf(stderr, "%s %s: %s\n", sw->sh->name, name, wgml_gpu_last_error(sw->gpu));
        wgml_gpu_clear_error(sw->gpu);
        return;
    }
    bool is_auto = same_variant(&r, &sw->auto_v) && !sw->note;
    if (!sw->note && (sw->best_ns < 0 || ns < sw->best_ns)) {
        sw->best_ns = ns;
        sw->best = r;
    }
    const gemv_shape *sh = sw->sh;
    double gbs = wgml_gemv_packed_bytes(sh->format, sh->N, sh->K) / ns;
    if (sw->json)
        printf("{\"shape\": \"%s\", \"format\": \"%s\", \"N\": %u, \"K\": %u, \"input\": \"%s\", "
               "\"variant\": \"%s\", \"auto\": %s, \"us\": %.3f, \"gb_per_s\": %.1f, "
               "\"pct_copy\": %.1f}\n", sh->name, wgml_quant_name(sh->format), sh->N, sh->K,
               sh->input == WGML_GEMV_IN_RMSNORM ? "rmsnorm"
               : sh->input == WGML_GEMV_IN_SWIGLU ? "swiglu" : "plain",
               name, is_auto ? "true" : "false", ns / 1e3, gbs, 100 * gbs / sw->copy_gbs);
    else
        printf("%-18s %-5s %6ux%-6u %-44s %8.2f us %7.0f GB/s %5.1f%%%s\n", sh->name,
               wgml_quant_name(sh->format), sh->N, sh->K, name, ns / 1e3, gbs,
               100 * gbs / sw->copy_gbs, is_auto ? "  (auto)" : "");
    fflush(stdout);
}

// The coordinate search of one shape (see the usage text).
static void sweep_shape(sweep *sw, const wgml_device_info *d, const char *only_math)
{
    static const wgml_gemv_math maths[] = {WGML_GEMV_MATH_DOT4, WGML_GEMV_MATH_FLOAT};
    sw->best_ns = -1;
    // The automatic variant first, then with the decoder's input rule
    // replaced by a plain x (what the fusion costs).
    try_variant(sw, (wgml_gemv_variant){0});
    if (sw->sh->input != WGML_GEMV_IN_PLAIN) {
        wgml_gemv_input in = sw->a.input;
        sw->a.input = WGML_GEMV_IN_PLAIN;
        sw->note = "(plain input)";
        try_variant(sw, (wgml_gemv_variant){0});
        sw->note = NULL;
        sw->a.input = in;
    }
    for (size_t mi = 0; mi < 2; mi++) {
        if (maths[mi] == WGML_GEMV_MATH_DOT4 && !d->packed_dot4) continue;
        if (only_math && strcmp(only_math, wgml_gemv_math_name(maths[mi]))) continue;
        for (uint32_t tpr = 8; tpr <= 64; tpr *= 2)
            for (uint32_t rb = 1; rb <= 4; rb *= 2)
                try_variant(sw, (wgml_gemv_variant){.math = maths[mi], .threads_per_row = tpr,
                                                    .rows_per_group = rb});
    }
    if (sw->best_ns < 0) return;
    // The automatic variant again: the spread between two runs of one variant.
    sw->note = "(auto, again)";
    try_variant(sw, (wgml_gemv_variant){0});
    sw->note = NULL;
    wgml_gemv_variant base = sw->best;
    for (uint32_t wg = 64; wg <= 256; wg *= 2)
        for (uint32_t ur = 1; ur <= 8; ur *= 2) {
            wgml_gemv_variant v = base;
            v.units_in_flight = ur;
            v.workgroup_size = wg;
            if (!same_variant(&v, &base)) try_variant(sw, v);
        }
    // The integer kernel on x quantised once (its pass included in the time).
    base = sw->best;
    if (base.xquant == WGML_GEMV_XQ_PER_WORKGROUP) {
        base.xquant = WGML_GEMV_XQ_ONCE;
        try_variant(sw, base);
    }
}

int wgml_cmd_bench_gemv(int argc, char **argv)
{
    int json = 0, quick = 0, hot = 0;
    long iters = 20, repeat = 5;
    const char *only = NULL, *only_math = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("%s", USAGE);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--hot")) hot = 1;
        else if (!strcmp(a, "--iters") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 1000, &iters)) goto bad;
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 64, &repeat)) goto bad;
        } else if (!strcmp(a, "--shape") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(a, "--math") && i + 1 < argc) {
            only_math = argv[++i];
            if (strcmp(only_math, "dot4") && strcmp(only_math, "float")) goto bad;
        } else {
        bad:
            fprintf(stderr, "wgml bench gemv: bad argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    wgml_gpu *gpu = cli_gpu_create_timed("wgml bench gemv");
    if (!gpu) return 1;
    const wgml_device_info *d = wgml_gpu_info(gpu);
    wgml_peaks peaks;
    if (wgml_peaks_measure(gpu, quick, &peaks)) {
        fprintf(stderr, "wgml bench gemv: measuring the copy bandwidth: %s\n",
                wgml_gpu_last_error(gpu));
        wgml_gpu_free(gpu);
        return 1;
    }
    if (!json) printf("copy bandwidth %.0f GB/s, weights %s\n", peaks.copy_gb_per_s,
                      hot ? "hot (one copy)" : "cold (copies over 512 MiB)");
    else printf("{\"copy_gb_per_s\": %.1f, \"cold\": %s}\n", peaks.copy_gb_per_s,
                hot ? "false" : "true");
    int rc = 0, matched = 0;
    for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) {
        const gemv_shape *sh = &SHAPES[si];
        if ((quick && !sh->quick) || (only && !strstr(sh->name, only))) continue;
        matched++;
        shape_bufs b;
        if (bufs_make(gpu, sh, si, hot, &b)) {
            fprintf(stderr, "wgml bench gemv: %s: %s\n", sh->name, wgml_gpu_last_error(gpu));
            rc = 1;
            break;
        }
        sweep sw = {.gpu = gpu, .sh = sh, .b = &b, .copy_gbs = peaks.copy_gb_per_s,
                    .json = json, .iters = (int)iters, .repeat = (int)repeat};
        sw.a = (wgml_gemv_args){.format = sh->format, .w = {b.w[0], 0}, .x = {b.x, 0},
                                .y = {b.y, 0}, .N = sh->N, .K = sh->K, .M = 1,
                                .input = sh->input, .gamma = {b.gamma, 0}, .eps = 1e-5f,
                                .accumulate = sh->accumulate, .xq = {b.xq, 0}};
        if (wgml_gemv_resolve(gpu, &sw.a, &sw.auto_v)) {
            sw.auto_v = (wgml_gemv_variant){0};
            wgml_gpu_clear_error(gpu);
        }
        // Warm-up: 200 ms of the automatic variant over every copy, so that
        // the GPU's clocks are up (short runs between compilations leave them
        // low) and each copy has been read once (the first pass over fresh
        // buffers measured up to 5x slower on the H200).
        double w0 = now_ms();
        uint32_t next = 0;
        while (now_ms() - w0 < 200) {
            for (int i = 0; i < 20; i++) {
                sw.a.w.buf = b.w[next++ % b.copies];
                if (wgml_op_gemv_ex(gpu, &sw.a)) break;
            }
            if (wgml_gpu_wait(gpu)) break;
        }
        sw.a.w.buf = b.w[0];
        wgml_gpu_clear_error(gpu);
        sweep_shape(&sw, d, only_math);
        if (!json && sw.best_ns > 0)
            printf("%-18s best %s/%s tpr=%u rb=%u ur=%u wg=%u: %.2f us, %.1f%% of copy "
                   "bandwidth\n", sh->name, wgml_gemv_math_name(sw.best.math),
                   wgml_gemv_reduce_name(sw.best.reduce), sw.best.threads_per_row,
                   sw.best.rows_per_group, sw.best.units_in_flight, sw.best.workgroup_size,
                   sw.best_ns / 1e3,
                   100 * (wgml_gemv_packed_bytes(sh->format, sh->N, sh->K) / sw.best_ns) /
                       peaks.copy_gb_per_s);
        bufs_free(gpu, &b);
        wgml_gpu_pool_trim(gpu);
    }
    if (!matched && !rc) {
        fprintf(stderr, "wgml bench gemv: no shape matches '%s'\n", only ? only : "");
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
