// wgml bench dispatch: what one dispatch costs when many small ones are
// recorded in one compute pass and one submit (the decode step's situation:
// hundreds of small kernels a token).
//
// The kernel is the smallest op there is: y = 2 x over 256 floats, one
// workgroup. Two chains:
//   independent  every dispatch writes its own buffer from one shared input,
//                so the implementation needs no barrier between them
//   dependent    each dispatch reads what the previous one wrote (two
//                buffers in turn), so each waits for the one before
// Per chain and count n: GPU time of the pass (timestamps) / n, host time to
// record the dispatches / n and to submit them / n. The amortised GPU cost
// is the largest count's pass time over its count; the marginal cost is the
// slope between the two largest counts (fixed pass costs cancel).
#include "cli.h"
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: wgml bench dispatch [--json] [--repeat N] [--max N]\n"
    "\n"
    "Records n small dispatches (y = 2 x over 256 floats, one workgroup each)\n"
    "in one compute pass and one submit, for n = 1, 10, 100 and up to --max\n"
    "(default 1000), in two chains: independent (each writes its own buffer)\n"
    "and dependent (each reads the previous one's output). Prints the GPU time\n"
    "per dispatch (timestamp queries around the pass), the host time per\n"
    "dispatch to record and to submit, and the amortised and marginal GPU cost\n"
    "per dispatch of the largest n. Medians of --repeat runs (default 7).\n"
    "\n"
    "  --json      one JSON object per row\n"
    "  --repeat N  runs per count (1..64)\n"
    "  --max N     the largest count (100..10000)\n";

enum { ELEMS = 256 };

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct run_times {
    double gpu_ns, record_ns, submit_ns;   // medians, for the whole pass
} run_times;

// n dispatches of the chain in one timed pass, `repeat` times.
static wgml_status time_chain(wgml_gpu *gpu, bool dependent, wgml_gpu_buf **bufs, uint32_t n,
                              int repeat, run_times *out)
{
    double g[64], r[64], s[64];
    wgml_status st;
    for (int k = -1; k < repeat; k++) {   // run -1 warms up (pipeline, bind groups)
        if ((st = wgml_gpu_wait(gpu))) return st;
        double t0 = now_ns();
        if ((st = wgml_gpu_begin(gpu, true))) return st;
        for (uint32_t i = 0; i < n; i++) {
            // independent: bufs[0] -> bufs[1 + i]; dependent: bufs[i % 2] -> bufs[1 - i % 2]
            wgml_view x = {bufs[dependent ? i % 2 : 0], 0};
            wgml_view y = {bufs[dependent ? 1 - i % 2 : 1 + i], 0};
            if ((st = wgml_op_unary(gpu, WGML_UNARY_SCALE, x, y, ELEMS, 2.0f))) return st;
        }
        double t1 = now_ns(), ns = -1;
        if ((st = wgml_gpu_submit(gpu, &ns))) return st;
        double t2 = now_ns();
        if ((st = wgml_gpu_wait(gpu))) return st;
        if (k < 0) continue;
        g[k] = ns;
        r[k] = t1 - t0;
        s[k] = t2 - t1;
    }
    qsort(g, (size_t)repeat, sizeof g[0], cmp_double);
    qsort(r, (size_t)repeat, sizeof r[0], cmp_double);
    qsort(s, (size_t)repeat, sizeof s[0], cmp_double);
    *out = (run_times){g[repeat / 2], r[repeat / 2], s[repeat / 2]};
    return WGML_OK;
}

int wgml_cmd_bench_dispatch(int argc, char **argv)
{
    int json = 0;
    long repeat = 7, max_n = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("%s", USAGE);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 64, &repeat)) goto bad;
        } else if (!strcmp(a, "--max") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 100, 10000, &max_n)) goto bad;
        } else {
        bad:
            fprintf(stderr, "wgml bench dispatch: bad argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    wgml_gpu *gpu = cli_gpu_create_timed("wgml bench dispatch");
    if (!gpu) return 1;
    uint32_t nbuf = (uint32_t)max_n + 1;
    wgml_gpu_buf **bufs = calloc(nbuf, sizeof *bufs);
    int rc = bufs ? 0 : 1;
    float ones[ELEMS];
    for (int i = 0; i < ELEMS; i++) ones[i] = 1.0f;
    for (uint32_t i = 0; !rc && i < nbuf; i++)
        if (wgml_gpu_buf_create(gpu, 4 * ELEMS, "bench.dispatch", &bufs[i]) ||
            wgml_gpu_buf_write(gpu, bufs[i], 0, ones, sizeof ones))
            rc = 1;
    const uint32_t counts[] = {1, 10, 100, (uint32_t)max_n};
    const size_t nc = max_n > 100 ? 4 : 3;
    for (int dep = 0; !rc && dep < 2; dep++) {
        const char *chain = dep ? "dependent" : "independent";
        run_times t[4];
        for (size_t c = 0; c < nc; c++) {
            uint32_t n = counts[c];
            if (time_chain(gpu, dep, bufs, n, (int)repeat, &t[c])) {
                rc = 1;
                break;
            }
            if (json)
                printf("{\"chain\": \"%s\", \"dispatches\": %u, \"gpu_us_per_dispatch\": %.3f, "
                       "\"record_us_per_dispatch\": %.3f, \"submit_us_per_dispatch\": %.3f}\n",
                       chain, n, t[c].gpu_ns / 1e3 / n, t[c].record_ns / 1e3 / n,
                       t[c].submit_ns / 1e3 / n);
            else
                printf("%-11s %5u dispatches: GPU %8.3f us a dispatch, host record %7.3f us, "
                       "submit %7.3f us\n", chain, n, t[c].gpu_ns / 1e3 / n,
                       t[c].record_ns / 1e3 / n, t[c].submit_ns / 1e3 / n);
        }
        if (rc) break;
        const run_times *hi = &t[nc - 1], *lo = &t[nc - 2];
        double amortised = hi->gpu_ns / 1e3 / counts[nc - 1];
        double marginal = (hi->gpu_ns - lo->gpu_ns) / 1e3 / (counts[nc - 1] - counts[nc - 2]);
        if (json)
            printf("{\"chain\": \"%s\", \"summary\": true, \"dispatches\": %u, "
                   "\"amortised_gpu_us\": %.3f, \"marginal_gpu_us\": %.3f}\n",
                   chain, counts[nc - 1], amortised, marginal);
        else
            printf("%-11s GPU cost a dispatch at %u: amortised %.3f us, marginal %.3f us\n",
                   chain, counts[nc - 1], amortised, marginal);
        fflush(stdout);
    }
    if (rc) fprintf(stderr, "wgml bench dispatch: %s\n", wgml_gpu_last_error(gpu));
    for (uint32_t i = 0; bufs && i < nbuf; i++)
        if (bufs[i]) wgml_gpu_buf_release(gpu, bufs[i]);
    free(bufs);
    wgml_gpu_free(gpu);
    return rc;
}
