// wgml bench fusion: the systems exercise. layernorm, bias add, GELU and
// dropout over one activation, as four kernels and as one fused kernel, each
// next to its lower bound k*S/B: the bytes its kernels must move over the
// copy bandwidth B that wgml itself measures on this device.
#include "cli.h"
#include "graph/graph.h"

#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: wgml bench fusion [--json] [--quick] [--rows N] [--cols N] [--repeat N]\n"
    "                         [--epilogue OPS]\n"
    "\n"
    "Runs y = dropout(gelu(layernorm(x) + bias)) over a rows x cols f32 activation\n"
    "(default 16384 x 1024 = 64 MiB) unfused (one kernel per op) and fused (one\n"
    "generated kernel), and a copy of the same activation for the bandwidth B.\n"
    "Prints each plan's GPU time, the bytes its kernels move, its bound k*S/B and\n"
    "time / bound, and the planned vs naive activation memory.\n"
    "\n"
    "  --json      one JSON object\n"
    "  --quick     256 x 1024 (for CPU devices)\n"
    "  --rows N, --cols N   the activation's shape\n"
    "  --repeat N  timed runs per plan, median reported (default 20)\n"
    "  --epilogue OPS  comma-separated ops after the layernorm, from add (the\n"
    "              bias), gelu, silu, dropout (p = 0.1), scale (0.5); default\n"
    "              add,gelu,dropout\n";

typedef struct measured {
    double ns;             // median GPU (or host) time per run
    int kernels;
    double bytes;          // what the plan's kernels move
    uint64_t planned, naive;
    char names[256];
} measured;

// Builds the exercise (or the copy), compiles, fills inputs, times runs.
static wgml_status measure(wgml_gpu *gpu, bool copy, bool fuse, int64_t rows, int64_t cols,
                           int repeat, const char *epilogue, measured *m)
{
    wgml_graph *g = wgml_graph_create();
    int64_t shape[2] = {rows, cols}, row[1] = {cols};
    int x = wgml_graph_input(g, "x", 2, shape), y;
    int gam = -1, bet = -1, bias = -1;
    if (copy) {
        y = wgml_graph_scale(g, x, 1.0f);
    } else {
        gam = wgml_graph_input(g, "gamma", 1, row);
        bet = wgml_graph_input(g, "beta", 1, row);
        bias = wgml_graph_input(g, "bias", 1, row);
        y = wgml_graph_layernorm(g, x, gam, bet, 1e-5f);
        for (const char *op = epilogue; *op; op += strcspn(op, ",") + (op[strcspn(op, ",")] == ',')) {
            size_t n = strcspn(op, ",");
            if (!strncmp(op, "add", n) && n == 3) y = wgml_graph_add(g, y, bias);
            else if (!strncmp(op, "gelu", n) && n == 4) y = wgml_graph_gelu(g, y);
            else if (!strncmp(op, "silu", n) && n == 4) y = wgml_graph_silu(g, y);
            else if (!strncmp(op, "dropout", n) && n == 7) y = wgml_graph_dropout(g, y, 0.1f, 1234);
            else if (!strncmp(op, "scale", n) && n == 5) y = wgml_graph_scale(g, y, 0.5f);
            else y = -1;
        }
        if (y < 0) {
            wgml_graph_free(g);
            return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "unknown op in --epilogue '%s'",
                                 epilogue);
        }
    }
    wgml_status st = wgml_graph_output(g, y);
    wgml_graph_options opt = {.no_fusion = !fuse};
    wgml_plan *p = NULL;
    if (!st) st = wgml_graph_compile(g, gpu, &opt, &p);
    size_t n = (size_t)(rows * cols);
    float *host = malloc(n * sizeof(float));
    if (!st && !host) st = WGML_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; !st && i < n; i++) host[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    if (!st) st = wgml_plan_write(p, x, host, n);
    // The bias is an input even when the epilogue does not use it.
    int params[3] = {gam, bet, bias};
    for (int i = 0; i < 3 && !st; i++)
        if (params[i] >= 0) st = wgml_plan_write(p, params[i], host, (size_t)cols);
    double times[256];
    if (repeat > 256) repeat = 256;
    if (!st) st = wgml_plan_run(p, NULL);   // warm-up
    for (int r = 0; r < repeat && !st; r++) {
        st = wgml_gpu_wait(gpu);
        if (!st) st = wgml_plan_run(p, &times[r]);
        if (!st && times[r] <= 0) st = WGML_ERR_UNSUPPORTED;
    }
    if (!st) {
        qsort(times, (size_t)repeat, sizeof times[0], cli_cmp_double);
        m->ns = times[repeat / 2];
        m->kernels = wgml_plan_kernel_count(p);
        m->bytes = wgml_plan_bytes(p);
        wgml_plan_memory(p, &m->planned, &m->naive);
        size_t len = 0;
        m->names[0] = 0;
        for (int k = 0; k < m->kernels && len < sizeof m->names; k++)
            len += snprintf(m->names + len, sizeof m->names - len, "%s%s", k ? ", " : "",
                            wgml_plan_kernel_at(p, k)->name);
    }
    if (st == WGML_ERR_UNSUPPORTED && !wgml_gpu_info(gpu)->timestamp_query)
        wgml_gpu_fail(gpu, st, "this device has no timestamp queries to time kernels with");
    free(host);
    wgml_plan_free(p);
    wgml_graph_free(g);
    return st;
}

int wgml_cmd_bench_fusion(int argc, char **argv)
{
    int json = 0;
    long rows = 16384, cols = 1024, repeat = 20;
    const char *epilogue = "add,gelu,dropout";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--quick")) {
            rows = 256;
            cols = 1024;
            repeat = 3;
        } else if (!strcmp(a, "--rows") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 1 << 24, &rows)) goto bad;
        } else if (!strcmp(a, "--cols") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 1 << 16, &cols)) goto bad;
        } else if (!strcmp(a, "--epilogue") && i + 1 < argc) {
            epilogue = argv[++i];
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 256, &repeat)) goto bad;
        } else {
            goto bad;
        }
    }
    if ((uint64_t)rows * (uint64_t)cols > (1ull << 28)) {
        fprintf(stderr, "wgml bench fusion: rows x cols must stay within 2^28 elements\n");
        return 2;
    }
    wgml_gpu *gpu = cli_gpu_create(NULL);
    if (!gpu) return 1;
    measured copy = {0}, unfused = {0}, fused = {0};
    wgml_status st = measure(gpu, true, true, rows, cols, (int)repeat, "", &copy);
    if (!st) st = measure(gpu, false, false, rows, cols, (int)repeat, epilogue, &unfused);
    if (!st) st = measure(gpu, false, true, rows, cols, (int)repeat, epilogue, &fused);
    if (st) {
        fprintf(stderr, "wgml bench fusion: %s: %s\n", wgml_status_name(st), wgml_gpu_last_error(gpu));
        wgml_gpu_free(gpu);
        return 1;
    }
    const wgml_device_info *d = wgml_gpu_info(gpu);
    double S = (double)rows * cols * 4;
    double B = copy.bytes / copy.ns;   // bytes per ns = GB/s
    double bu = unfused.bytes / B, bf = fused.bytes / B;
    if (json) {
        printf("{\"implementation\":\"%s\",\"device\":", d->implementation);
        cli_json_string(stdout, d->description[0] ? d->description : d->device);
        printf(",\"rows\":%ld,\"cols\":%ld,\"activation_bytes\":%.0f,\"copy_gb_per_s\":%.6g,"
               "\"unfused\":{\"kernels\":%d,\"bytes\":%.0f,\"passes\":%.3f,\"time_us\":%.6g,"
               "\"bound_us\":%.6g,\"time_over_bound\":%.4f,\"planned_bytes\":%llu,\"naive_bytes\":%llu},"
               "\"fused\":{\"kernels\":%d,\"bytes\":%.0f,\"passes\":%.3f,\"time_us\":%.6g,"
               "\"bound_us\":%.6g,\"time_over_bound\":%.4f,\"planned_bytes\":%llu,\"naive_bytes\":%llu},"
               "\"unfused_over_fused\":%.4f}\n",
               rows, cols, S, B, unfused.kernels, unfused.bytes, unfused.bytes / S,
               unfused.ns / 1e3, bu / 1e3, unfused.ns / bu, (unsigned long long)unfused.planned,
               (unsigned long long)unfused.naive, fused.kernels, fused.bytes, fused.bytes / S,
               fused.ns / 1e3, bf / 1e3, fused.ns / bf, (unsigned long long)fused.planned,
               (unsigned long long)fused.naive, unfused.ns / fused.ns);
    } else {
        printf("# %s on %s; activation %ld x %ld f32 = %.1f MiB\n", d->implementation,
               d->description[0] ? d->description : d->device, rows, cols, S / 1048576);
        printf("copy bandwidth B (wgml vec4 copy): %.1f GB/s\n\n", B);
        printf("%-8s %8s %10s %12s %12s %10s %14s\n", "plan", "kernels", "passes", "time_us",
               "bound_us", "t/bound", "activations");
        const measured *ms[2] = {&unfused, &fused};
        const char *names[2] = {"unfused", "fused"};
        for (int i = 0; i < 2; i++)
            printf("%-8s %8d %10.2f %12.1f %12.1f %10.2f %6.1f/%.1f MiB\n", names[i],
                   ms[i]->kernels, ms[i]->bytes / S, ms[i]->ns / 1e3,
                   ms[i]->bytes / B / 1e3, ms[i]->ns / (ms[i]->bytes / B),
                   ms[i]->planned / 1048576.0, ms[i]->naive / 1048576.0);
        printf("\nunfused kernels: %s\nfused kernels:   %s\nunfused / fused time: %.2fx\n",
               unfused.names, fused.names, unfused.ns / fused.ns);
    }
    wgml_gpu_free(gpu);
    return 0;
bad:
    fprintf(stderr, "wgml bench fusion: bad or incomplete option\n\n%s", USAGE);
    return 2;
}
