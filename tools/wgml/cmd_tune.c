// wgml tune: measure each op's variants on this adapter and store the
// fastest per shape class in the tuning cache (src/tune/tune.h).
#include "cli.h"
#include "ops/ops.h"
#include "ops/templates.h"
#include "tune/tune.h"

#include <string.h>

static const char USAGE[] =
    "usage: wgml tune [--quick] [--op rows|matmul]\n"
    "\n"
    "Times every variant of each tunable op on this adapter, for a set of shape\n"
    "classes, and stores the fastest in the tuning cache ($WGML_CACHE_DIR, else\n"
    "$XDG_CACHE_HOME/wgml, else ~/.cache/wgml; one file per adapter, driver and\n"
    "implementation). Ops then use the stored choice; untuned shapes use a\n"
    "heuristic. `wgml bench` shows the variant each row ran.\n"
    "\n"
    "  rows     values per invocation of the row kernels (1, 2, 4, 8), by row length\n"
    "  matmul   the GEMM's variants (tiled, swizzled, vec4, with subgroup shuffles,\n"
    "           subgroup matrices: those that run here), f32 and f16, by size\n"
    "  --quick  small shapes (CPU devices)\n";

static int tune_rows(wgml_gpu *gpu, int quick)
{
    static const uint32_t cols[] = {64, 128, 256, 384, 512, 768, 1024, 2048, 4096};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        if (quick && cols[i] > 256) break;
        uint32_t rows = (quick ? (1u << 14) : (1u << 24)) / cols[i], best;
        double ns;
        wgml_status st = wgml_rows_tune(gpu, rows, cols[i], &best, &ns);
        if (st) {
            fprintf(stderr, "wgml tune: rows %u x %u: %s\n", rows, cols[i], wgml_gpu_last_error(gpu));
            return 1;
        }
        printf("rows    %6u x %-6u  values per invocation %u  %10.1f us\n", rows, cols[i], best,
               ns / 1e3);
        fflush(stdout);
    }
    return 0;
}

static int tune_matmul(wgml_gpu *gpu, int quick)
{
    static const uint32_t sizes[] = {128, 512, 1024, 2048, 4096};
    static const wgml_dtype dtypes[] = {WGML_F32, WGML_F16};
    for (size_t d = 0; d < 2; d++) {
        if (dtypes[d] == WGML_F16 && !wgml_gpu_info(gpu)->shader_f16) {
            printf("matmul  f16 skipped: no shader-f16\n");
            continue;
        }
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            if (quick && sizes[i] > 128) break;
            wgml_matmul_variant best;
            double ns;
            wgml_status st = wgml_matmul_tune(gpu, dtypes[d], sizes[i], sizes[i], sizes[i], &best,
                                              &ns);
            if (st) {
                fprintf(stderr, "wgml tune: matmul %u: %s\n", sizes[i], wgml_gpu_last_error(gpu));
                return 1;
            }
            printf("matmul  %s %5u^3        %-22s %10.1f us\n",
                   dtypes[d] == WGML_F16 ? "f16" : "f32", sizes[i], wgml_matmul_variant_name(best),
                   ns / 1e3);
            fflush(stdout);
        }
    }
    return 0;
}

int wgml_cmd_tune(int argc, char **argv)
{
    int quick = 0;
    const char *op = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--op") && i + 1 < argc &&
                   (!strcmp(argv[i + 1], "rows") || !strcmp(argv[i + 1], "matmul"))) {
            op = argv[++i];
        } else {
            fprintf(stderr, "wgml tune: unknown or incomplete option '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    wgml_gpu *gpu = cli_gpu_create_timed("wgml tune");
    if (!gpu) return 1;
    const char *path = wgml_tune_path(gpu);
    printf("# tuning cache: %s\n", path[0] ? path : "(none: no cache directory; results kept in memory)");
    int rc = 0;
    if (!op || !strcmp(op, "rows")) rc |= tune_rows(gpu, quick);
    if (!op || !strcmp(op, "matmul")) rc |= tune_matmul(gpu, quick);
    wgml_gpu_free(gpu);
    return rc;
}
