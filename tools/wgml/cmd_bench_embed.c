// wgml bench embed: sentence-embedding throughput of a BERT-family model at
// fixed (batch, sequence length) shapes, full-length sequences of random
// token ids, as sentence-transformers' encode would run them after
// tokenising. Times the encoder (one submit per batch: embeddings, layers,
// pooling) with GPU timestamps and, separately, the whole call with the host
// clock (id upload, run, readback of the vectors).
#include "cli.h"
#include "models/bert.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: wgml bench embed [--model DIR] [--batch LIST] [--seq LIST] [--f32] [--f16]\n"
    "                        [--repeat N] [--json] [--profile]\n"
    "\n"
    "Times the sentence encoder on batches of full-length random token\n"
    "sequences: sentences per second from the GPU time of one run (median of\n"
    "--repeat), and the host time of the whole call (upload, run, readback).\n"
    "\n"
    "  --model DIR   model directory (config.json, model.safetensors, modules.json);\n"
    "                default $WGML_MODEL_DIR, else .deps/models/all-MiniLM-L6-v2\n"
    "  --batch LIST  comma-separated batch sizes (default 1,8,32,128)\n"
    "  --seq LIST    comma-separated sequence lengths (default 128,512)\n"
    "  --f32, --f16  precision(s) to run (default: f32, and f16 with shader-f16)\n"
    "  --repeat N    timed runs per shape (default 20)\n"
    "  --json        one JSON object per shape and precision\n"
    "  --profile     after each shape, one run with every dispatch timed, its\n"
    "                kernels' totals printed as # lines (slower than a plain run:\n"
    "                each dispatch gets a pass of its own)\n";

enum { MAX_LIST = 16 };

static int parse_list(const char *s, long hi, long *out)
{
    int n = 0;
    char buf[32];
    while (*s && n < MAX_LIST) {
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof buf) return 0;
        memcpy(buf, s, len);
        buf[len] = 0;
        if (!cli_parse_long(buf, 1, hi, &out[n++])) return 0;
        s += len + (s[len] == ',');
    }
    return *s ? 0 : n;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

typedef struct shape_result {
    double gpu_ns, host_ns;   // medians per batch
    double flops;             // the plan's count
} shape_result;

static wgml_status measure(wgml_bert *m, wgml_gpu *gpu, uint32_t batch, uint32_t seq,
                           int repeat, shape_result *r)
{
    const wgml_bert_config *c = wgml_bert_config_of(m);
    size_t n = (size_t)batch * seq;
    int32_t *ids = malloc(n * sizeof *ids), *mask = malloc(n * sizeof *mask);
    float *out = malloc((size_t)batch * c->hidden_size * sizeof *out);
    double *gt = malloc((size_t)repeat * sizeof *gt), *ht = malloc((size_t)repeat * sizeof *ht);
    wgml_status st = ids && mask && out && gt && ht ? WGML_OK : WGML_ERR_OUT_OF_MEMORY;
    // [CLS]-like first id, then ids spread over the vocabulary; no padding.
    uint32_t x = 12345;
    for (size_t i = 0; !st && i < n; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = (int32_t)(i % seq == 0 ? 101 % c->vocab_size : 1000 + (x >> 8) % (c->vocab_size - 1000));
        mask[i] = 1;
    }
    wgml_bert_plan_stats ps;
    if (!st) st = wgml_bert_plan_stats_get(m, batch, seq, &ps);
    if (!st) st = wgml_bert_embed_ids(m, ids, mask, batch, seq, out, NULL);   // warm-up
    for (int i = 0; i < repeat && !st; i++) {
        double t0 = now_ns();
        st = wgml_bert_embed_ids(m, ids, mask, batch, seq, out, NULL);
        ht[i] = now_ns() - t0;
        if (!st) st = wgml_bert_embed_ids(m, ids, mask, batch, seq, out, &gt[i]);
    }
    if (!st) {
        qsort(gt, (size_t)repeat, sizeof *gt, cli_cmp_double);
        qsort(ht, (size_t)repeat, sizeof *ht, cli_cmp_double);
        r->gpu_ns = gt[repeat / 2];
        r->host_ns = ht[repeat / 2];
        r->flops = ps.flops;
    }
    (void)gpu;
    free(ids);
    free(mask);
    free(out);
    free(gt);
    free(ht);
    return st;
}

// One embed call of the shape with every dispatch timed, printed by kernel.
static wgml_status profile_shape(wgml_bert *m, wgml_gpu *gpu, uint32_t batch, uint32_t seq,
                                 int f16)
{
    size_t n = (size_t)batch * seq;
    int32_t *ids = malloc(n * sizeof *ids), *mask = malloc(n * sizeof *mask);
    float *out = malloc((size_t)batch * wgml_bert_config_of(m)->hidden_size * sizeof *out);
    wgml_status st = ids && mask && out ? WGML_OK : WGML_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; !st && i < n; i++) {
        ids[i] = (int32_t)(1000 + i % 20000 % (wgml_bert_config_of(m)->vocab_size - 1000));
        mask[i] = 1;
    }
    if (!st) st = wgml_gpu_profile_start(gpu, 2048);
    // Twice: the first run after starting may make bind groups and passes anew.
    for (int r = 0; r < 2 && !st; r++) st = wgml_bert_embed_ids(m, ids, mask, batch, seq, out, NULL);
    const wgml_gpu_profile_entry *e;
    uint32_t ne;
    if (!st) st = wgml_gpu_profile_read(gpu, &e, &ne);
    if (!st) {
        char title[96];
        snprintf(title, sizeof title, "%s batch %u seq %u", f16 ? "f16" : "f32", batch, seq);
        cli_profile_print(stdout, title, e, ne);
    }
    wgml_gpu_profile_stop(gpu);
    free(ids);
    free(mask);
    free(out);
    return st;
}

int wgml_cmd_bench_embed(int argc, char **argv)
{
    const char *model = getenv("WGML_MODEL_DIR");
    long batches[MAX_LIST] = {1, 8, 32, 128}, seqs[MAX_LIST] = {128, 512}, repeat = 20;
    int nb = 4, ns = 2, json = 0, want32 = 0, want16 = 0, profile = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--profile")) {
            profile = 1;
        } else if (!strcmp(a, "--f32")) {
            want32 = 1;
        } else if (!strcmp(a, "--f16")) {
            want16 = 1;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            if (!(nb = parse_list(argv[++i], 4096, batches))) goto bad;
        } else if (!strcmp(a, "--seq") && i + 1 < argc) {
            if (!(ns = parse_list(argv[++i], 8192, seqs))) goto bad;
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 1000, &repeat)) goto bad;
        } else {
            goto bad;
        }
    }
    char def[4096];
    if (!model || !*model) model = cli_deps_path("models/all-MiniLM-L6-v2", "config.json", def,
                                                 sizeof def);
    wgml_gpu *gpu = cli_gpu_create(NULL);
    if (!gpu) return 1;
    const wgml_device_info *d = wgml_gpu_info(gpu);
    if (!want32 && !want16) want32 = 1, want16 = d->shader_f16;
    if (want16 && !d->shader_f16) {
        fprintf(stderr, "wgml bench embed: --f16 needs shader-f16, which this device lacks\n");
        wgml_gpu_free(gpu);
        return 1;
    }
    int rc = 0;
    if (!json)
        printf("# %s on %s; model %s\n%-5s %6s %5s %12s %12s %14s %10s\n", d->implementation,
               d->description[0] ? d->description : d->device, model, "prec", "batch", "seq",
               "gpu_ms", "host_ms", "sentences/s", "TFLOP/s");
    for (int f16 = 0; f16 < 2 && !rc; f16++) {
        if (!(f16 ? want16 : want32)) continue;
        wgml_bert *m;
        wgml_status st = wgml_bert_load(gpu, model, f16, &m);
        if (st) {
            fprintf(stderr, "wgml bench embed: %s: %s\n", wgml_status_name(st),
                    wgml_gpu_last_error(gpu));
            rc = 1;
            break;
        }
        for (int s = 0; s < ns && !rc; s++) {
            if (seqs[s] > wgml_bert_config_of(m)->max_position) continue;
            for (int b = 0; b < nb && !rc; b++) {
                shape_result r;
                st = measure(m, gpu, (uint32_t)batches[b], (uint32_t)seqs[s], (int)repeat, &r);
                if (st) {
                    fprintf(stderr, "wgml bench embed: batch %ld seq %ld: %s: %s\n", batches[b],
                            seqs[s], wgml_status_name(st), wgml_gpu_last_error(gpu));
                    rc = 1;
                    break;
                }
                // Without timestamps the host time stands in (and says so).
                double t = r.gpu_ns > 0 ? r.gpu_ns : r.host_ns;
                if (json)
                    printf("{\"op\":\"embed\",\"precision\":\"%s\",\"batch\":%ld,\"seq\":%ld,"
                           "\"gpu_ms\":%.6g,\"host_ms\":%.6g,\"timer\":\"%s\","
                           "\"sentences_per_s\":%.6g,\"flops\":%.6g,\"tflop_per_s\":%.6g,"
                           "\"implementation\":\"%s\"}\n",
                           f16 ? "f16" : "f32", batches[b], seqs[s], r.gpu_ns / 1e6,
                           r.host_ns / 1e6, r.gpu_ns > 0 ? "gpu-timestamps" : "host",
                           batches[b] / (t / 1e9), r.flops, r.flops / t / 1e3, d->implementation);
                else
                    printf("%-5s %6ld %5ld %12.3f %12.3f %14.1f %10.2f\n", f16 ? "f16" : "f32",
                           batches[b], seqs[s], r.gpu_ns / 1e6, r.host_ns / 1e6,
                           batches[b] / (t / 1e9), r.flops / t / 1e3);
                if (profile && d->timestamp_query) {
                    st = profile_shape(m, gpu, (uint32_t)batches[b], (uint32_t)seqs[s], f16);
                    if (st) {
                        fprintf(stderr, "wgml bench embed: profile: %s: %s\n",
                                wgml_status_name(st), wgml_gpu_last_error(gpu));
                        rc = 1;
                    }
                }
                fflush(stdout);
            }
        }
        wgml_bert_free(m);
    }
    wgml_gpu_free(gpu);
    return rc;
bad:
    fprintf(stderr, "wgml bench embed: bad or incomplete option\n\n%s", USAGE);
    return 2;
}
