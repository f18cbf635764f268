// wgml bench gemv: the decode GEMVs of real models' shapes, every variant
// (math x invocations per group x rows per group), timed on the GPU, against
// the measured copy bandwidth. What the automatic choice in gemv.c should
// pick is read off this table.
#include "cli.h"
#include "ops/gemv.h"
#include "ops/peaks.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: wgml bench gemv [--json] [--quick] [--iters N] [--repeat N] [--shape NAME]\n"
    "                       [--math NAME]\n"
    "\n"
    "Times y = W x for the projections of SmolLM2-135M (Q4_1, the Q8_0 output) and\n"
    "Llama-3-8B (Q4_0) with every GEMV variant: math (dot4 where the device has it,\n"
    "float), invocations per group of rows (8..64) and rows per group (1, 2, 4).\n"
    "Per row: shape, variant, GPU time per call (median of the runs, each run\n"
    "`iters` calls in one pass), GB/s of the weights as stored, percent of the\n"
    "measured copy bandwidth; the automatic variant is marked. Before a shape's\n"
    "variants, its automatic one runs for 100 ms (the GPU's clocks up).\n"
    "\n"
    "  --json        one JSON object per row\n"
    "  --quick       small shapes only\n"
    "  --iters N     calls per timed run (default 20)\n"
    "  --repeat N    timed runs, median reported (default 5)\n"
    "  --shape NAME  only shapes whose name contains NAME\n"
    "  --math NAME   only that math (dot4, float)\n";

typedef struct gemv_shape {
    const char *name;
    wgml_quant format;
    uint32_t N, K;
    int quick;
} gemv_shape;

static const gemv_shape SHAPES[] = {
    {"smollm2.qkv", WGML_QUANT_Q4_1, 960, 576, 1},
    {"smollm2.o", WGML_QUANT_Q4_1, 576, 576, 1},
    {"smollm2.gate_up", WGML_QUANT_Q4_1, 3072, 576, 1},
    {"smollm2.down", WGML_QUANT_Q4_1, 576, 1536, 1},
    {"smollm2.output", WGML_QUANT_Q8_0, 49152, 576, 0},
    {"llama3_8b.qkv", WGML_QUANT_Q4_0, 6144, 4096, 0},
    {"llama3_8b.o", WGML_QUANT_Q4_0, 4096, 4096, 0},
    {"llama3_8b.gate_up", WGML_QUANT_Q4_0, 28672, 4096, 0},
    {"llama3_8b.down", WGML_QUANT_Q4_0, 4096, 14336, 0},
    {"llama3_8b.output", WGML_QUANT_Q4_0, 128256, 4096, 0},
};

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

// Median GPU ns per call of a, or a negative value when the variant fails.
static double time_variant(wgml_gpu *gpu, const wgml_gemv_args *a, int iters, int repeat)
{
    double ts[64];
    if (repeat > 64) repeat = 64;
    // Warm-up: pipeline compilation and first touch.
    if (wgml_op_gemv_ex(gpu, a) || wgml_gpu_wait(gpu)) return -1;
    for (int r = 0; r < repeat; r++) {
        if (wgml_gpu_begin(gpu, true)) return -1;
        for (int i = 0; i < iters; i++)
            if (wgml_op_gemv_ex(gpu, a)) return -1;
        double ns = -1;
        if (wgml_gpu_submit(gpu, &ns) || ns <= 0) return -1;
        ts[r] = ns / iters;
    }
    qsort(ts, (size_t)repeat, sizeof ts[0], cmp_double);
    return ts[repeat / 2];
}

int wgml_cmd_bench_gemv(int argc, char **argv)
{
    int json = 0, quick = 0;
    long iters = 20, repeat = 5;
    const char *only = NULL, *only_math = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("%s", USAGE);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--iters") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 1000, &iters)) goto bad;
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 64, &repeat)) goto bad;
        } else if (!strcmp(a, "--shape") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(a, "--math") && i + 1 < argc) only_math = argv[++i];
        else {
        bad:
            fprintf(stderr, "wgml bench gemv: bad argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    wgml_gpu *gpu = cli_gpu_create(NULL);
    if (!gpu) return 1;
    const wgml_device_info *d = wgml_gpu_info(gpu);
    if (!d->timestamp_query) {
        fprintf(stderr, "wgml bench gemv: the device has no timestamp queries\n");
        wgml_gpu_free(gpu);
        return 1;
    }
    wgml_peaks peaks;
    if (wgml_peaks_measure(gpu, quick, &peaks)) {
        fprintf(stderr, "wgml bench gemv: measuring the copy bandwidth: %s\n",
                wgml_gpu_last_error(gpu));
        wgml_gpu_free(gpu);
        return 1;
    }
    if (!json) printf("copy bandwidth %.0f GB/s\n", peaks.copy_gb_per_s);
    else printf("{\"copy_gb_per_s\": %.1f}\n", peaks.copy_gb_per_s);
    int rc = 0;
    for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) {
        const gemv_shape *sh = &SHAPES[si];
        if ((quick && !sh->quick) || (only && !strstr(sh->name, only))) continue;
        uint64_t wb = wgml_gemv_packed_bytes(sh->format, sh->N, sh->K);
        wgml_gpu_buf *w, *x, *y;
        if (wgml_gpu_buf_create(gpu, wb, "bench.w", &w) ||
            wgml_gpu_buf_create(gpu, 4ull * sh->K, "bench.x", &x) ||
            wgml_gpu_buf_create(gpu, 4ull * sh->N, "bench.y", &y)) {
            fprintf(stderr, "wgml bench gemv: %s\n", wgml_gpu_last_error(gpu));
            rc = 1;
            break;
        }
        // Weights: random bits with the scales' halves made finite (f16 in [1, 2)).
        uint32_t *host = malloc(wb);
        float *xh = malloc(4ull * sh->K);
        if (!host || !xh) {
            free(host);
            free(xh);
            rc = 1;
            break;
        }
        uint64_t s = 0x9e3779b97f4a7c15ull + si;
        for (uint64_t i = 0; i < wb / 4; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            host[i] = (uint32_t)s;
        }
        uint64_t qb = (uint64_t)sh->N * (sh->K / 32) * (sh->format == WGML_QUANT_Q8_0 ? 32 : 16);
        for (uint64_t i = qb / 4; i < wb / 4; i++) host[i] = 0x3c003c00u | (host[i] & 0x01ff01ffu);
        for (uint32_t k = 0; k < sh->K; k++) xh[k] = (float)((k * 37) % 101) / 50.0f - 1.0f;
        wgml_gpu_buf_write(gpu, w, 0, host, wb);
        wgml_gpu_buf_write(gpu, x, 0, xh, 4ull * sh->K);
        free(host);
        free(xh);
        wgml_gemv_args a = {.format = sh->format, .w = {w, 0}, .x = {x, 0}, .y = {y, 0},
                            .N = sh->N, .K = sh->K, .M = 1};
        wgml_gemv_variant auto_v;
        if (wgml_gemv_resolve(gpu, &a, &auto_v)) auto_v = (wgml_gemv_variant){0};
        // Warm-up: 100 ms of the automatic variant, so that the GPU's clocks
        // are up (short runs between compilations leave them low).
        double w0 = now_ms();
        while (now_ms() - w0 < 100) {
            for (int i = 0; i < 20; i++)
                if (wgml_op_gemv_ex(gpu, &a)) break;
            if (wgml_gpu_wait(gpu)) break;
        }
        wgml_gpu_clear_error(gpu);
        double best = -1;
        char best_name[64] = "";
        static const wgml_gemv_math maths[] = {WGML_GEMV_MATH_DOT4, WGML_GEMV_MATH_FLOAT};
        for (size_t mi = 0; mi < 2; mi++) {
            if (maths[mi] == WGML_GEMV_MATH_DOT4 && !d->packed_dot4) continue;
            if (only_math && strcmp(only_math, wgml_gemv_math_name(maths[mi]))) continue;
            for (uint32_t tpr = 8; tpr <= 64; tpr *= 2) {
                for (uint32_t rb = 1; rb <= 4; rb *= 2) {
                    a.variant = (wgml_gemv_variant){.math = maths[mi], .threads_per_row = tpr,
                                                    .rows_per_group = rb};
                    wgml_gemv_variant v;
                    if (wgml_gemv_resolve(gpu, &a, &v)) {
                        wgml_gpu_clear_error(gpu);
                        continue;
                    }
                    double ns = time_variant(gpu, &a, (int)iters, (int)repeat);
                    if (ns <= 0) {
                        fprintf(stderr, "%s %s tpr=%u rb=%u: %s\n", sh->name,
                                wgml_gemv_math_name(v.math), tpr, rb, wgml_gpu_last_error(gpu));
                        wgml_gpu_clear_error(gpu);
                        continue;
                    }
                    bool is_auto = v.math == auto_v.math && v.threads_per_row ==
                                   auto_v.threads_per_row && v.rows_per_group ==
                                   auto_v.rows_per_group && v.reduce == auto_v.reduce;
                    double gbs = wb / ns;
                    char name[64];
                    snprintf(name, sizeof name, "%s/%s tpr=%u rb=%u", wgml_gemv_math_name(v.math),
                             wgml_gemv_reduce_name(v.reduce), tpr, rb);
                    if (best < 0 || ns < best) {
                        best = ns;
                        snprintf(best_name, sizeof best_name, "%s", name);
                    }
                    if (json)
                        printf("{\"shape\": \"%s\", \"format\": \"%s\", \"N\": %u, \"K\": %u, "
                               "\"variant\": \"%s\", \"auto\": %s, \"us\": %.3f, \"gb_per_s\": "
                               "%.1f, \"pct_copy\": %.1f}\n", sh->name,
                               wgml_quant_name(sh->format), sh->N, sh->K, name,
                               is_auto ? "true" : "false", ns / 1e3, gbs,
                               100 * gbs / peaks.copy_gb_per_s);
                    else
                        printf("%-18s %-6s %6ux%-6u %-28s %8.2f us %7.0f GB/s %5.1f%%%s\n",
                               sh->name, wgml_quant_name(sh->format), sh->N, sh->K, name,
                               ns / 1e3, gbs, 100 * gbs / peaks.copy_gb_per_s,
                               is_auto ? "  (auto)" : "");
                    fflush(stdout);
                }
            }
        }
        if (!json && best > 0)
            printf("%-18s best %s: %.2f us, %.1f%% of copy bandwidth\n", sh->name, best_name,
                   best / 1e3, 100 * (wb / best) / peaks.copy_gb_per_s);
        wgml_gpu_buf_release(gpu, w);
        wgml_gpu_buf_release(gpu, x);
        wgml_gpu_buf_release(gpu, y);
        wgml_gpu_pool_trim(gpu);
    }
    wgml_gpu_free(gpu);
    return rc;
}
