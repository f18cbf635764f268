// wgml embed / wgml similarity: sentence embeddings through the public API.
#include "cli.h"
#include "models/bert.h"
#include "wgml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: wgml embed [options] [TEXT...]\n"
    "       wgml similarity [options] TEXT OTHER...\n"
    "\n"
    "Embeds texts with a sentence-embedding model (BERT family, in the\n"
    "sentence-transformers layout, e.g. all-MiniLM-L6-v2): one vector per text.\n"
    "Texts come from the arguments; else from --file, one per line; else from\n"
    "standard input, one per line.\n"
    "\n"
    "'wgml similarity' prints the cosine similarity of the first text with each\n"
    "of the others; 'wgml embed --query TEXT' ranks the input texts by their\n"
    "cosine similarity to TEXT (score, index and text, best first).\n"
    "\n"
    "  --model DIR     model directory; default $WGML_MODEL_DIR, else\n"
    "                  .deps/models/all-MiniLM-L6-v2 of the wgml source tree\n"
    "                  (found from the executable's location)\n"
    "  --file F        read texts from F, one per line ('-': standard input)\n"
    "  --format F      jsonl (default: {\"index\", \"text\", \"embedding\"} per line),\n"
    "                  tsv (text, then the values, tab-separated) or npy (float32\n"
    "                  array of shape (texts, dim); needs --output or a pipe)\n"
    "  --output F      write to F instead of standard output\n"
    "  --batch N       texts per GPU run (default 32)\n"
    "  --max-tokens N  truncate texts to N tokens (default: the model's)\n"
    "  --f32, --f16    precision (default: chosen for the device)\n"
    "  --query TEXT    rank the texts by similarity to TEXT\n"
    "  --top K         with --query: print the K best only\n"
    "  --stats         print the time taken and the encoder plan's kernels and\n"
    "                  memory to stderr\n"
    "  --quiet         no progress bar (shown on a terminal for 64 texts or more)\n";

enum { FMT_JSONL, FMT_TSV, FMT_NPY };
enum { CHUNK = 256 };   // texts per wgml_embed call: the progress bar's step

typedef struct texts {
    char **s;
    size_t *len;
    size_t n, cap;
} texts;

static int texts_push(texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **a = realloc(t->s, cap * sizeof *a);
        size_t *l = realloc(t->len, cap * sizeof *l);
        if (a) t->s = a;
        if (l) t->len = l;
        if (!a || !l) return -1;
        t->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    t->s[t->n] = c;
    t->len[t->n++] = len;
    return 0;
}

static void texts_free(texts *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->s[i]);
    free(t->s);
    free(t->len);
}

// One text per line; "\r\n" endings are stripped, a final newline ends the last line.
static int read_lines(FILE *f, const char *name, texts *t)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n') len--;
        if (len && line[len - 1] == '\r') len--;
        if (texts_push(t, line, len)) {
            free(line);
            fprintf(stderr, "wgml embed: out of memory reading %s\n", name);
            return -1;
        }
    }
    int bad = ferror(f);
    free(line);
    if (bad) fprintf(stderr, "wgml embed: cannot read %s: %s\n", name, strerror(errno));
    return bad ? -1 : 0;
}

// $WGML_MODEL_DIR, else the installed all-MiniLM-L6-v2 (cli_deps_path).
static const char *default_model(char *buf, size_t cap)
{
    const char *env = getenv("WGML_MODEL_DIR");
    if (env && *env) return env;
    return cli_deps_path("models/all-MiniLM-L6-v2", "config.json", buf, cap);
}

static void progress(size_t done, size_t total)
{
    int width = 40, fill = (int)(width * done / (total ? total : 1));
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu texts", fill, "========================================",
            width - fill, "", done, total);
    if (done == total) fputc('\n', stderr);
}

static double cosine(const float *a, const float *b, uint32_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (uint32_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

// Text with tabs, newlines and backslashes escaped, for one TSV field.
static void tsv_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\t') fputs("\\t", f);
        else if (*s == '\n') fputs("\\n", f);
        else if (*s == '\r') fputs("\\r", f);
        else if (*s == '\\') fputs("\\\\", f);
        else fputc(*s, f);
    }
}

static void write_npy(FILE *f, const float *v, size_t n, uint32_t dim)
{
    char header[128];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %u), }", n, dim);
    // Magic, version 1.0, header length; the header pads to a multiple of 64 with '\n' last.
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    unsigned short hlen = (unsigned short)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(v, sizeof *v, n * dim, f);   // little-endian hosts only (x86, ARM)
}

// The encoder plans of one text and of a full batch, at 128 tokens.
static void print_stats(wgml_embedder *e, uint32_t batch)
{
    wgml_bert *b = wgml_embedder_bert(e);
    uint32_t shapes[2] = {1, batch};
    for (int i = 0; i < 2; i++) {
        wgml_bert_plan_stats s;
        if (wgml_bert_plan_stats_get(b, shapes[i], 128, &s)) continue;
        fprintf(stderr, "plan batch %u x 128 tokens: %d kernels, %.1f GFLOP, intermediates "
                "%.2f MiB planned (%.2f MiB one buffer each)\n", shapes[i], s.kernels,
                s.flops / 1e9, s.planned_bytes / 1048576.0, s.naive_bytes / 1048576.0);
    }
}

typedef struct ranked {
    double score;
    size_t index;
} ranked;

static int cmp_rank(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index < y->index ? -1 : 1;
}

static int parse_count(const char *opt, const char *v, long *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end || x < 1 || x > 1000000) {
        fprintf(stderr, "wgml embed: %s wants a positive integer, not '%s'\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

int wgml_cmd_embed(int argc, char **argv)
{
    bool similarity = !strcmp(argv[0], "similarity");
    const char *cmd = similarity ? "wgml similarity" : "wgml embed";
    const char *model = NULL, *file = NULL, *output = NULL, *query = NULL;
    int format = FMT_JSONL, quiet = 0, stats = 0;
    long batch = 0, max_tokens = 0, top = 0;
    wgml_precision precision = WGML_PRECISION_AUTO;
    texts in = {0};
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            texts_free(&in);
            return 0;
        } else if (!strcmp(a, "--")) {
            for (i++; i < argc; i++)
                if (texts_push(&in, argv[i], strlen(argv[i]))) goto oom;
        } else if (a[0] == '-' && a[1] == '-') {
            const char *opts_with_value[] = {"--model", "--file", "--format", "--output", "--batch",
                                             "--max-tokens", "--query", "--top"};
            bool wants = false;
            for (size_t k = 0; k < sizeof opts_with_value / sizeof *opts_with_value; k++)
                wants |= !strcmp(a, opts_with_value[k]);
            if (wants && !has_value) {
                fprintf(stderr, "%s: %s needs a value\n", cmd, a);
                goto done;
            }
            if (!strcmp(a, "--model")) model = argv[++i];
            else if (!strcmp(a, "--file")) file = argv[++i];
            else if (!strcmp(a, "--output")) output = argv[++i];
            else if (!strcmp(a, "--query")) query = argv[++i];
            else if (!strcmp(a, "--batch") || !strcmp(a, "--max-tokens") || !strcmp(a, "--top")) {
                long *dst = a[2] == 'b' ? &batch : a[2] == 'm' ? &max_tokens : &top;
                if (parse_count(a, argv[++i], dst)) goto done;
            } else if (!strcmp(a, "--format")) {
                const char *f = argv[++i];
                if (!strcmp(f, "jsonl")) format = FMT_JSONL;
                else if (!strcmp(f, "tsv")) format = FMT_TSV;
                else if (!strcmp(f, "npy")) format = FMT_NPY;
                else {
                    fprintf(stderr, "%s: unknown format '%s' (jsonl, tsv or npy)\n", cmd, f);
                    goto done;
                }
            } else if (!strcmp(a, "--f32")) precision = WGML_PRECISION_F32;
            else if (!strcmp(a, "--f16")) precision = WGML_PRECISION_F16;
            else if (!strcmp(a, "--quiet")) quiet = 1;
            else if (!strcmp(a, "--stats")) stats = 1;
            else {
                fprintf(stderr, "%s: unknown option '%s'\n\n%s", cmd, a, USAGE);
                goto done;
            }
        } else if (texts_push(&in, a, strlen(a))) {
            goto oom;
        }
    }
    if (similarity && (query || in.n < 2)) {
        fprintf(stderr, "%s: needs a text and at least one other to compare it with\n", cmd);
        goto done;
    }
    if (in.n && file) {
        fprintf(stderr, "%s: texts as arguments and --file: choose one\n", cmd);
        goto done;
    }
    if (!in.n) {
        FILE *f = stdin;
        if (file && strcmp(file, "-") && !(f = fopen(file, "rb"))) {
            fprintf(stderr, "%s: cannot open %s: %s\n", cmd, file, strerror(errno));
            rc = 1;
            goto done;
        }
        if (!file && isatty(0))
            fprintf(stderr, "%s: reading texts from standard input, one per line\n", cmd);
        int bad = read_lines(f, file ? file : "standard input", &in);
        if (f != stdin) fclose(f);
        if (bad) {
            rc = 1;
            goto done;
        }
        if (!in.n) {
            fprintf(stderr, "%s: no texts to embed\n", cmd);
            goto done;
        }
    }
    if (format == FMT_NPY && !output && isatty(1) && !query) {
        fprintf(stderr, "%s: npy is binary: give --output F or redirect standard output\n", cmd);
        goto done;
    }
    if (query && format == FMT_NPY) {
        fprintf(stderr, "%s: --query prints a ranking: npy does not apply\n", cmd);
        goto done;
    }
    if (top && !query) {
        fprintf(stderr, "%s: --top goes with --query\n", cmd);
        goto done;
    }

    rc = 1;
    char model_buf[PATH_MAX + 64];
    if (!model) model = default_model(model_buf, sizeof model_buf);
    char err[1024];
    wgml_ctx *ctx = NULL;
    wgml_status st = wgml_ctx_create(NULL, &ctx, err, sizeof err);
    if (st) {
        fprintf(stderr, "%s: no usable GPU (%s): %s\n", cmd, wgml_status_name(st), err);
        goto done;
    }
    wgml_embedder *e = NULL;
    wgml_embedder_params p = {.precision = precision, .max_batch = (uint32_t)batch,
                              .max_tokens = (uint32_t)max_tokens};
    float *vec = NULL, *qv = NULL;
    FILE *out = stdout;
    if ((st = wgml_embedder_load(ctx, model, &p, &e))) {
        fprintf(stderr, "%s: cannot load the model from %s (%s): %s\n", cmd, model,
                wgml_status_name(st), wgml_ctx_last_error(ctx));
        if (!getenv("WGML_MODEL_DIR") && model == model_buf)
            fprintf(stderr, "%s: give --model DIR or set WGML_MODEL_DIR\n", cmd);
        goto cleanup;
    }
    uint32_t dim = wgml_embedder_dim(e);
    vec = malloc(in.n * dim * sizeof *vec);
    if (!vec) {
        fprintf(stderr, "%s: out of memory for %zu embeddings\n", cmd, in.n);
        goto cleanup;
    }
    bool bar = !quiet && in.n >= 64 && isatty(2);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t first = 0; first < in.n; first += CHUNK) {
        size_t n = in.n - first < CHUNK ? in.n - first : CHUNK;
        if ((st = wgml_embed(e, (const char *const *)in.s + first, in.len + first, n,
                             vec + first * dim))) {
            if (bar) fputc('\n', stderr);
            fprintf(stderr, "%s: %s: %s\n", cmd, wgml_status_name(st), wgml_ctx_last_error(ctx));
            goto cleanup;
        }
        if (bar) progress(first + n, in.n);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (query) {
        qv = malloc(dim * sizeof *qv);
        size_t ql = strlen(query);
        if (!qv || (st = wgml_embed(e, &query, &ql, 1, qv))) {
            fprintf(stderr, "%s: embedding the query failed: %s\n", cmd,
                    qv ? wgml_ctx_last_error(ctx) : "out of memory");
            goto cleanup;
        }
    }
    if (output && !(out = fopen(output, "wb"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", cmd, output, strerror(errno));
        out = stdout;
        goto cleanup;
    }
    if (similarity) {
        for (size_t i = 1; i < in.n; i++) {
            fprintf(out, "%.6f\t", cosine(vec, vec + i * dim, dim));
            tsv_text(out, in.s[i]);
            fputc('\n', out);
        }
    } else if (query) {
        ranked *r = malloc(in.n * sizeof *r);
        if (!r) goto cleanup;
        for (size_t i = 0; i < in.n; i++) r[i] = (ranked){cosine(qv, vec + i * dim, dim), i};
        qsort(r, in.n, sizeof *r, cmp_rank);
        size_t shown = top && (size_t)top < in.n ? (size_t)top : in.n;
        for (size_t i = 0; i < shown; i++) {
            if (format == FMT_JSONL) {
                fprintf(out, "{\"score\":%.6f,\"index\":%zu,\"text\":", r[i].score, r[i].index);
                cli_json_string(out, in.s[r[i].index]);
                fputs("}\n", out);
            } else {
                fprintf(out, "%.6f\t%zu\t", r[i].score, r[i].index);
                tsv_text(out, in.s[r[i].index]);
                fputc('\n', out);
            }
        }
        free(r);
    } else if (format == FMT_NPY) {
        write_npy(out, vec, in.n, dim);
    } else {
        for (size_t i = 0; i < in.n; i++) {
            const float *v = vec + i * dim;
            if (format == FMT_JSONL) {
                fprintf(out, "{\"index\":%zu,\"text\":", i);
                cli_json_string(out, in.s[i]);
                fputs(",\"embedding\":[", out);
                for (uint32_t k = 0; k < dim; k++) fprintf(out, "%s%.8g", k ? "," : "", v[k]);
                fputs("]}\n", out);
            } else {
                tsv_text(out, in.s[i]);
                for (uint32_t k = 0; k < dim; k++) fprintf(out, "\t%.8g", v[k]);
                fputc('\n', out);
            }
        }
    }
    if (stats) {
        // Wall time of the embedding calls: tokenizing, first-use plan
        // compiles, uploads, GPU work and readback.
        fprintf(stderr, "embedded %zu texts in %.3f s (%.1f texts/s)\n", in.n, secs,
                secs > 0 ? (double)in.n / secs : 0.0);
        print_stats(e, batch ? (uint32_t)batch : 32);
    }
    rc = 0;
cleanup:
    if (out != stdout && fclose(out)) {
        fprintf(stderr, "%s: writing %s failed: %s\n", cmd, output, strerror(errno));
        rc = 1;
    }
    if (out == stdout && fflush(stdout)) rc = 1;
    free(vec);
    free(qv);
    wgml_embedder_free(e);
    wgml_ctx_free(ctx);
    texts_free(&in);
    return rc;
oom:
    fprintf(stderr, "%s: out of memory\n", cmd);
    rc = 1;
done:
    texts_free(&in);
    return rc;
}
