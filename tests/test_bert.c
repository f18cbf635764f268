/*
 * Sentence embeddings end to end, through the public API (wgml.h), against
 * the independent reference: tests/data/minilm_embeddings.{jsonl,bin} hold
 * sentence-transformers' embeddings (PyTorch, CPU, f32) of 73 texts for the
 * same all-MiniLM-L6-v2 files (scripts/gen_embedding_testdata.py): short and
 * long (truncated at 256 tokens) texts, accents, CJK, emoji, the empty
 * string.
 *
 *   reference   every text's cosine with the reference >= 0.9999 (f32)
 *   reference_f16  the same >= 0.999 with f16 weights (skipped without shader-f16)
 *   padding     a text's embedding alone (batch 1, its own length) equals
 *               the one it gets in a padded batch (API and encoder level)
 *   plans       kernel count and planned vs naive memory of the encoder
 *               plan at (1, 128) and (32, 128), printed
 *   errors      a missing directory, a bad precision, NULL texts
 *   second_model(_f16)  another BERT-family directory (tests/data/bert_tiny_cls:
 *               CLS pooling, F16 file, vocab.txt) against its reference
 * Skipped (77) when the model directory is absent.
 */
#include "formats/json.h"
#include "models/bert.h"
#include "test_util.h"
#include "wgml.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct testdata {
    char **texts;
    size_t n;
    uint32_t dim;
    float *expected;   // (n, dim)
} testdata;

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[size] = 0;
    *len = (size_t)size;
    return buf;
}

// Reads tests/data/<name>.{jsonl,bin}.
static int load_testdata(testdata *td, const char *name)
{
    size_t len, blen;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.jsonl", WGML_TEST_DATA_DIR, name);
    char *text = read_all(path, &len);
    snprintf(path, sizeof path, "%s/%s.bin", WGML_TEST_DATA_DIR, name);
    char *bin = read_all(path, &blen);
    TEST_CHECK(text && bin, "cannot read tests/data/%s.*", name);
    td->texts = calloc(len + 1, sizeof *td->texts);
    TEST_CHECK(td->texts, "out of memory");
    int line = 0;
    for (char *s = text; *s; line++) {
        char *end = strchr(s, '\n');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        wgml_json_doc *doc;
        char err[256];
        TEST_CHECK(wgml_json_parse(s, n, NULL, &doc, err, sizeof err) == WGML_OK, "line %d: %s",
                   line + 1, err);
        const wgml_json *r = wgml_json_root(doc);
        if (line == 0) {
            int64_t dim;
            TEST_CHECK(wgml_json_int64(wgml_json_get(r, "dim"), &dim), "header: no dim");
            td->dim = (uint32_t)dim;
        } else {
            size_t tl;
            const char *t = wgml_json_string(wgml_json_get(r, "text"), &tl);
            TEST_CHECK(t, "line %d: no text", line + 1);
            td->texts[td->n] = malloc(tl + 1);
            memcpy(td->texts[td->n], t, tl + 1);
            td->n++;
        }
        wgml_json_free(doc);
        s += n + (end ? 1 : 0);
    }
    free(text);
    TEST_CHECK(td->n > 0 && blen == td->n * td->dim * 4, "%zu texts of %u but %zu bytes of values",
               td->n, td->dim, blen);
    td->expected = (float *)bin;   // little-endian f32, as this machine
    return 0;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

// stride 1: every text; stride k: every k-th and the longest (for slow CPU
// devices, where the whole set takes minutes).
static int test_reference(wgml_ctx *ctx, const char *model_dir, const testdata *td,
                          wgml_precision precision, size_t stride)
{
    wgml_device_info info;
    TEST_CTX_OK(ctx, wgml_ctx_device_info(ctx, &info));
    bool f16 = precision == WGML_PRECISION_F16;
    if (f16 && !info.shader_f16) {
        printf("skip reference_f16: the device has no shader-f16\n");
        return TEST_SKIP;
    }
    double min_cos = f16 ? 0.999 : 0.9999;
    wgml_embedder *e;
    wgml_embedder_params p = {.precision = precision};
    TEST_CTX_OK(ctx, wgml_embedder_load(ctx, model_dir, &p, &e));
    TEST_CHECK(wgml_embedder_dim(e) == td->dim, "dim %u, reference %u", wgml_embedder_dim(e),
               td->dim);
    size_t *pick = malloc(td->n * sizeof *pick), n = 0, longest = 0;
    const char **texts = malloc(td->n * sizeof *texts);
    float *got = malloc(td->n * td->dim * sizeof *got);
    TEST_CHECK(got && pick && texts, "out of memory");
    for (size_t i = 0; i < td->n; i++)
        if (strlen(td->texts[i]) > strlen(td->texts[longest])) longest = i;
    for (size_t i = 0; i < td->n; i++)
        if (i % stride == 0 || i == longest) pick[n] = i, texts[n++] = td->texts[i];
    TEST_CTX_OK(ctx, wgml_embed(e, texts, NULL, n, got));
    double worst = 2;
    size_t worst_i = 0;
    int bad = 0;
    for (size_t s = 0; s < n; s++) {
        size_t i = pick[s];
        double c = cosine(got + s * td->dim, td->expected + i * td->dim, td->dim);
        if (c < worst) worst = c, worst_i = i;
        if (!(c >= min_cos)) {
            fprintf(stderr, "FAIL text %zu \"%.40s\": cosine %.7f < %g\n", i, td->texts[i], c,
                    min_cos);
            bad = 1;
        }
    }
    printf("%s  %s: %zu texts (%s) against sentence-transformers: min cosine %.9f (1 - cos = "
           "%.2g; text %zu \"%.30s\")\n", bad ? "FAIL" : "ok  ", model_dir, n,
           f16 ? "f16 weights" : "f32", worst, 1 - worst, worst_i, td->texts[worst_i]);
    free(got);
    free(pick);
    free(texts);
    wgml_embedder_free(e);
    return bad;
}

// Padding must not change a text's embedding. Through the API: texts alone
// (batch 1) and together (one bucket, padded rows up to batch 8). Through
// the encoder: four sequences of 3, 9, 20 and 40 tokens padded to 64 in one
// batch of 4 (plus an all-padding row), against each alone at its exact length.
static int test_padding(wgml_ctx *ctx, const testdata *td)
{
    wgml_embedder *e;
    TEST_CTX_OK(ctx, wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, NULL, &e));
    uint32_t D = td->dim;
    enum { N = 6 };
    static const size_t pick[N] = {2, 4, 5, 8, 12, 13};   // 4 to 14 tokens: one bucket of 16
    const char *texts[N];
    for (int i = 0; i < N; i++) texts[i] = td->texts[pick[i]];
    float batched[N * 384], alone[384];
    TEST_CHECK(D <= 384, "dim %u", D);
    TEST_CTX_OK(ctx, wgml_embed(e, texts, NULL, N, batched));
    double worst = 0;
    for (int i = 0; i < N; i++) {
        TEST_CTX_OK(ctx, wgml_embed(e, &texts[i], NULL, 1, alone));
        for (uint32_t k = 0; k < D; k++) worst = fmax(worst, fabs((double)alone[k] - batched[i * D + k]));
    }
    TEST_CHECK(worst <= 1e-6, "API: batch 1 and batch %d differ by %.3g", N, worst);
    printf("ok   %d texts alone vs in one padded batch: max |difference| %.3g\n", N, worst);

    wgml_bert *m = wgml_embedder_bert(e);
    enum { B = 5, L = 64 };
    static const uint32_t lens[B] = {3, 9, 20, 40, 0};
    int32_t ids[B * L] = {0}, mask[B * L] = {0};
    for (int b = 0; b < B; b++)
        for (uint32_t l = 0; l < lens[b]; l++) {
            ids[b * L + l] = l == 0 ? 101 : l + 1 == lens[b] ? 102 : 1000 + (b * 37 + l * 11) % 20000;
            mask[b * L + l] = 1;
        }
    float *pb = malloc(B * D * sizeof(float)), *pa = malloc(D * sizeof(float));
    TEST_CHECK(pb && pa, "out of memory");
    TEST_CTX_OK(ctx, wgml_bert_embed_ids(m, ids, mask, B, L, pb, NULL));
    worst = 0;
    for (int b = 0; b < B - 1; b++) {
        TEST_CTX_OK(ctx, wgml_bert_embed_ids(m, ids + b * L, mask + b * L, 1, lens[b], pa, NULL));
        for (uint32_t k = 0; k < D; k++) worst = fmax(worst, fabs((double)pa[k] - pb[b * D + k]));
    }
    for (uint32_t k = 0; k < D; k++)
        TEST_CHECK(pb[(B - 1) * D + k] == 0.0f, "an all-padding row is not zero: %g", pb[(B - 1) * D + k]);
    TEST_CHECK(worst <= 1e-6, "encoder: exact lengths and padding to %d differ by %.3g", L, worst);
    printf("ok   lengths 3/9/20/40 alone vs padded to %d in a batch of %d: max |difference| %.3g\n",
           L, B, worst);
    free(pb);
    free(pa);
    wgml_embedder_free(e);
    return 0;
}

static int test_plans(void)
{
    wgml_gpu *gpu = test_gpu_create();
    wgml_bert *m;
    TEST_OK(gpu, wgml_bert_load(gpu, WGML_TEST_MODEL_DIR, false, &m));
    static const uint32_t shapes[][2] = {{1, 128}, {32, 128}};
    for (int i = 0; i < 2; i++) {
        wgml_bert_plan_stats s;
        TEST_OK(gpu, wgml_bert_plan_stats_get(m, shapes[i][0], shapes[i][1], &s));
        printf("ok   plan batch %2u seq %u: %d kernels, intermediates %.2f MiB planned vs %.2f MiB "
               "naive, %.2f GFLOP\n", shapes[i][0], shapes[i][1], s.kernels,
               s.planned_bytes / 1048576.0, s.naive_bytes / 1048576.0, s.flops / 1e9);
        TEST_CHECK(s.planned_bytes < s.naive_bytes, "planning saved nothing");
    }
    wgml_bert_free(m);
    wgml_gpu_free(gpu);
    return 0;
}

static int test_errors(wgml_ctx *ctx)
{
    wgml_embedder *e = NULL;
    TEST_CHECK(wgml_embedder_load(ctx, "/nonexistent/model", NULL, &e) != WGML_OK && !e,
               "a missing directory loaded");
    TEST_CHECK(strstr(wgml_ctx_last_error(ctx), "/nonexistent/model"), "message: %s",
               wgml_ctx_last_error(ctx));
    wgml_embedder_params p = {.precision = (wgml_precision)42};
    TEST_CHECK(wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &e) == WGML_ERR_INVALID_ARGUMENT,
               "an unknown precision was accepted");
    p = (wgml_embedder_params){.max_batch = 5000};
    TEST_CHECK(wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &e) == WGML_ERR_INVALID_ARGUMENT,
               "max_batch past 4096 was accepted");
    p = (wgml_embedder_params){.max_tokens = 100000};
    TEST_CHECK(wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, &p, &e) == WGML_ERR_INVALID_ARGUMENT,
               "max_tokens past the model's positions was accepted");
    TEST_CTX_OK(ctx, wgml_embedder_load(ctx, WGML_TEST_MODEL_DIR, NULL, &e));
    const char *texts[2] = {"fine", NULL};
    float out[2 * 384];
    TEST_CHECK(wgml_embed(e, texts, NULL, 2, out) == WGML_ERR_INVALID_ARGUMENT, "NULL text accepted");
    TEST_CHECK(wgml_embed(e, NULL, NULL, 1, out) == WGML_ERR_INVALID_ARGUMENT, "NULL texts accepted");
    TEST_CTX_OK(ctx, wgml_embed(e, texts, NULL, 0, out));
    // Invalid UTF-8 is replaced, not refused (as tokenizers does).
    const char *odd[1] = {"\xff\xfe broken \xc3"};
    TEST_CTX_OK(ctx, wgml_embed(e, odd, NULL, 1, out));
    wgml_embedder_free(e);
    printf("ok   embedder errors\n");
    return 0;
}

// Any BERT-family directory in the sentence-transformers layout must work:
// tests/data/bert_tiny_cls (scripts/gen_bert_tiny_testdata.py) has random
// weights in F16, CLS pooling, no normalisation, 4 heads of 16 and a
// vocab.txt tokenizer; its reference is sentence-transformers on the same
// directory. Needs no installed model.
static int test_second_model(bool f16)
{
    testdata td = {0};
    if (load_testdata(&td, "bert_tiny_cls_embeddings")) return 1;
    wgml_ctx *ctx = test_ctx_create();
    int rc = test_reference(ctx, WGML_TEST_DATA_DIR "/bert_tiny_cls", &td,
                            f16 ? WGML_PRECISION_F16 : WGML_PRECISION_F32, 1);
    wgml_ctx_free(ctx);
    for (size_t i = 0; i < td.n; i++) free(td.texts[i]);
    free(td.texts);
    free(td.expected);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_bert reference|reference_sample|reference_f16|padding|plans|"
                "errors|second_model|second_model_f16\n");
        return 2;
    }
    const char *t = argv[1];
    if (!strncmp(t, "second_model", 12)) return test_second_model(!strcmp(t, "second_model_f16"));
    FILE *f = fopen(WGML_TEST_MODEL_DIR "/model.safetensors", "rb");
    if (!f) {
        printf("skip: no model at %s\n", WGML_TEST_MODEL_DIR);
        return TEST_SKIP;
    }
    fclose(f);
    if (!strcmp(t, "plans")) return test_plans();
    testdata td = {0};
    if (load_testdata(&td, "minilm_embeddings")) return 1;
    wgml_ctx *ctx = test_ctx_create();
    int rc;
    if (!strcmp(t, "reference")) rc = test_reference(ctx, WGML_TEST_MODEL_DIR, &td, WGML_PRECISION_F32, 1);
    else if (!strcmp(t, "reference_sample")) rc = test_reference(ctx, WGML_TEST_MODEL_DIR, &td, WGML_PRECISION_F32, 6);
    else if (!strcmp(t, "reference_f16")) rc = test_reference(ctx, WGML_TEST_MODEL_DIR, &td, WGML_PRECISION_F16, 1);
    else if (!strcmp(t, "padding")) rc = test_padding(ctx, &td);
    else if (!strcmp(t, "errors")) rc = test_errors(ctx);
    else {
        fprintf(stderr, "unknown test '%s'\n", t);
        rc = 2;
    }
    wgml_ctx_free(ctx);
    for (size_t i = 0; i < td.n; i++) free(td.texts[i]);
    free(td.texts);
    free(td.expected);
    return rc;
}
