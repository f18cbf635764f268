/*
 * SmolLM2-135M-Instruct (Q4_1) on the GPU decoder against llama.cpp (values
 * scripts/gen_llama_testdata.py stored from llama-cpp-python; the prompt
 * tokens are llama.cpp's, so no wgml tokenizer is involved).
 *
 *   test_llama_reference MODEL.gguf DATA_PREFIX exact|q8act [N_PROMPTS]
 *
 * exact (llama.reference): llama.cpp ran an F32 copy of the Q4_1 file (the
 * same weight values, dequantised by the gguf package; wgml reads the Q4_1
 * blocks itself), so both compute the same function in f32 with an f16 KV
 * cache. The decoder runs with float GEMVs (no int8 activations). For each
 * of the 20 prompts:
 *   - the logits of its first (up to) 32 positions, all in one prefill: the
 *     NMSE over those positions, sum (y - r)^2 / sum r^2, the numerator
 *     estimated from the stored random projection of llama.cpp's logits
 *     (||S y - s||^2 / K, unbiased, ~3% relative error; the generator's
 *     docstring says why), the denominator stored exactly. Limit 1e-4 per
 *     prompt (the issue asks for 1e-3; measured ~1e-6 to 1e-5). Printed
 *     beside it: argmax agreement per position and the largest error among
 *     llama.cpp's top-8 logits.
 *   - greedy decoding of 32 tokens after the whole prompt against
 *     llama.cpp's greedy tokens: identical for at least 18 of the 20
 *     prompts. Checked by teacher forcing: one prefill of the prompt
 *     followed by llama.cpp's first 31 greedy tokens gives our logits after
 *     each prefix of that continuation, and our greedy continuation equals
 *     llama.cpp's exactly when our argmax after each prefix is llama.cpp's
 *     next token (by induction over the 32 steps). A prefill is 2-3x faster
 *     per token than decode steps on the CPU devices CI has. The first
 *     prompt is also decoded token by token (the GEMV and flash-decode
 *     kernels, as `wgml generate` runs them), which must give the same
 *     tokens.
 * q8act (llama.reference_q8act): llama.cpp ran the Q4_1 file as shipped; its
 * CPU backend then quantises activations to 8 bits per block of 32 before
 * every product with quantised weights, which moves the logits by NMSE
 * ~1e-3 against exact arithmetic. Logits only, limit 5e-3 per prompt: this
 * run documents that difference rather than testing the decoder tightly.
 * Skipped (77) when the model file is absent. Prints prefill and decode
 * speed (tokens/s, wall clock including readback).
 */
#include "formats/gguf.h"
#include "formats/json.h"
#include "models/llama.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_TOKENS = 256, MAX_POS = 32, CONT = 32, TOP = 8 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

// C. Wellons' lowbias32, as the generator's numpy version.
static uint32_t lowbias32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) s[n] = 0;
    *len = s ? (size_t)n : 0;
    return s;
}

// An int array of a JSON line into out (at most cap); returns the count or -1.
static int int_array(const wgml_json *a, int32_t *out, int cap)
{
    if (wgml_json_type_of(a) != WGML_JSON_ARRAY || (int)wgml_json_count(a) > cap) return -1;
    for (size_t i = 0; i < wgml_json_count(a); i++) {
        int64_t v;
        if (!wgml_json_int64(wgml_json_at(a, i), &v)) return -1;
        out[i] = (int32_t)v;
    }
    return (int)wgml_json_count(a);
}

static int argmax(const float *x, uint32_t n)
{
    uint32_t b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;   // the first among equals, as numpy's argmax
    return (int)b;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[3], "exact") && strcmp(argv[3], "q8act"))) {
        fprintf(stderr, "usage: test_llama_reference MODEL.gguf DATA_PREFIX exact|q8act [N_PROMPTS]\n");
        return 2;
    }
    bool exact = !strcmp(argv[3], "exact");
    double limit_nmse = exact ? 1e-4 : 5e-3;
    if (access(argv[1], R_OK)) {
        printf("skip: no model at %s (scripts/setup.sh installs it)\n", argv[1]);
        return TEST_SKIP;
    }
    int limit = argc > 4 ? atoi(argv[4]) : 1000;
    char path[1024], err[512];
    size_t jlen, slen;
    snprintf(path, sizeof path, "%s.jsonl", argv[2]);
    char *jl = read_all(path, &jlen);
    TEST_CHECK(jl, "cannot read %s", path);
    snprintf(path, sizeof path, "%s.sketch", argv[2]);
    char *sk = read_all(path, &slen);
    TEST_CHECK(sk, "cannot read %s", path);

    wgml_gpu *gpu = test_gpu_create();
    wgml_gguf *g;
    TEST_CHECK(wgml_gguf_open_file(argv[1], &g, err, sizeof err) == WGML_OK, "open: %s", err);
    wgml_llama *m;
    wgml_llama_params p = {.n_ctx = MAX_TOKENS,
                           .gemv_math = exact ? WGML_GEMV_MATH_FLOAT : WGML_GEMV_MATH_AUTO};
    TEST_OK(gpu, wgml_llama_load(gpu, g, &p, &m));
    const uint32_t V = wgml_llama_config_of(m)->n_vocab;

    // The header line.
    char *line = jl, *next = strchr(line, '\n');
    TEST_CHECK(next, "empty data file");
    wgml_json_doc *doc;
    TEST_CHECK(!wgml_json_parse(line, (size_t)(next - line), NULL, &doc, err, sizeof err), "%s", err);
    int64_t K = 0, nv = 0;
    TEST_CHECK(wgml_json_int64(wgml_json_get(wgml_json_root(doc), "sketch_rows"), &K) && K > 0 &&
                   K <= 256, "sketch_rows");
    TEST_CHECK(wgml_json_int64(wgml_json_get(wgml_json_root(doc), "n_vocab"), &nv) && nv == V,
               "the data is for a vocabulary of %lld, the model has %u", (long long)nv, V);
    printf("reference: llama-cpp-python %s, model %s\n",
           wgml_json_string(wgml_json_get(wgml_json_root(doc), "llama_cpp_python"), NULL),
           wgml_json_string(wgml_json_get(wgml_json_root(doc), "model"), NULL));
    wgml_json_free(doc);

    // The signs of the projection, S[j][v] = +-1.
    int8_t *S = malloc((size_t)K * V);
    float *y = malloc(4ull * V * MAX_TOKENS);
    TEST_CHECK(S && y, "out of memory");
    for (uint32_t j = 0; j < K; j++)
        for (uint32_t v = 0; v < V; v++) S[(size_t)j * V + v] = lowbias32(j * V + v) >> 31 ? 1 : -1;

    int prompts = 0, greedy_same = 0, nmse_bad = 0;
    size_t sketch_at = 0;
    double worst = 0, t_prefill = 0, t_decode = 0;
    long n_prefill = 0, n_decode = 0;
    for (line = next + 1; *line && prompts < limit; line = next + 1) {
        next = strchr(line, '\n');
        if (!next) next = line + strlen(line);
        TEST_CHECK(!wgml_json_parse(line, (size_t)(next - line), NULL, &doc, err, sizeof err),
                   "prompt %d: %s", prompts, err);
        const wgml_json *o = wgml_json_root(doc);
        int32_t toks[MAX_TOKENS], greedy[CONT];
        int n = int_array(wgml_json_get(o, "tokens"), toks, MAX_TOKENS - CONT);
        int nc = int_array(wgml_json_get(o, "greedy"), greedy, CONT);
        int64_t P = 0;
        TEST_CHECK(n > 0 && nc == (exact ? CONT : 0) && wgml_json_int64(wgml_json_get(o, "positions"), &P) &&
                       P > 0 && P <= n && P <= MAX_POS, "prompt %d: malformed", prompts);
        const wgml_json *sumsq = wgml_json_get(o, "sumsq"), *tid = wgml_json_get(o, "top_ids"),
                        *tlg = wgml_json_get(o, "top_logits");
        TEST_CHECK(wgml_json_count(sumsq) == (size_t)P && wgml_json_count(tid) == (size_t)P &&
                       wgml_json_count(tlg) == (size_t)P, "prompt %d: malformed", prompts);
        TEST_CHECK(slen >= (sketch_at + (size_t)P * K) * 4, "sketch file too short");

        // All positions' logits in one prefill; in exact mode of the whole
        // prompt and llama.cpp's continuation but its last token.
        int total = exact ? n + CONT - 1 : (int)P;
        if (exact) memcpy(toks + n, greedy, 4 * (CONT - 1));
        double t0 = now();
        TEST_OK(gpu, wgml_llama_logits(m, toks, (uint32_t)total, 0, true, y));
        t_prefill += now() - t0;
        n_prefill += total;
        double num = 0, den = 0, top_err = 0;
        int agree = 0;
        for (int64_t r = 0; r < P; r++) {
            const float *yr = y + (size_t)r * V;
            for (int64_t j = 0; j < K; j++) {
                double sy = 0;
                const int8_t *sj = S + (size_t)j * V;
                for (uint32_t v = 0; v < V; v++) sy += sj[v] * (double)yr[v];
                float ref;
                memcpy(&ref, sk + 4 * (sketch_at + (size_t)r * K + j), 4);
                num += (sy - ref) * (sy - ref) / (double)K;
            }
            double ss;
            TEST_CHECK(wgml_json_number(wgml_json_at(sumsq, (size_t)r), &ss), "sumsq");
            den += ss;
            const wgml_json *ids = wgml_json_at(tid, (size_t)r), *lgs = wgml_json_at(tlg, (size_t)r);
            int64_t best;
            TEST_CHECK(wgml_json_int64(wgml_json_at(ids, 0), &best), "top_ids");
            agree += argmax(yr, V) == best;
            for (size_t k = 0; k < wgml_json_count(ids) && k < TOP; k++) {
                int64_t id;
                double lv;
                TEST_CHECK(wgml_json_int64(wgml_json_at(ids, k), &id) && id >= 0 && id < V &&
                               wgml_json_number(wgml_json_at(lgs, k), &lv), "top entries");
                top_err = fmax(top_err, fabs(yr[id] - lv));
            }
        }
        sketch_at += (size_t)P * K;
        double nmse = num / den;
        worst = fmax(worst, nmse);
        nmse_bad += !(nmse < limit_nmse);

        printf("%s  prompt %2d: %3d tokens, nmse %.2e over %2lld positions, argmax %2d/%2lld, "
               "top-%d max |err| %.4f", nmse < limit_nmse ? "ok  " : "FAIL", prompts, n, nmse,
               (long long)P, agree, (long long)P, TOP, top_err);
        if (!exact) {
            printf("\n");
            wgml_json_free(doc);
            prompts++;
            if (!*next) break;
            continue;
        }
        // Teacher forcing: row n - 1 + i holds our logits after the prompt and
        // llama.cpp's first i greedy tokens.
        int diverge = -1;
        float gap = 0;   // at the divergence: our logit of our token minus that of llama.cpp's
        for (int i = 0; i < CONT && diverge < 0; i++) {
            const float *row = y + (size_t)(n - 1 + i) * V;
            int mine = argmax(row, V);
            if (mine != greedy[i]) {
                diverge = i;
                if (greedy[i] >= 0 && (uint32_t)greedy[i] < V) gap = row[mine] - row[greedy[i]];
            }
        }
        greedy_same += diverge < 0;
        printf(", greedy %s", diverge < 0 ? "identical" : "differs from token ");
        if (diverge >= 0)
            printf("%d (our logit of our token exceeds that of llama.cpp's by %.4f)", diverge, gap);
        if (prompts == 0) {
            // The decode loop on the first prompt: the prompt, then one token
            // per step, each our own argmax.
            t0 = now();
            TEST_OK(gpu, wgml_llama_logits(m, toks, (uint32_t)n, 0, false, y));
            t_prefill += now() - t0;
            n_prefill += n;
            int32_t mine[CONT];
            int step_diverge = -1;
            t0 = now();
            for (int i = 0; i < CONT; i++) {
                mine[i] = argmax(y, V);
                if (mine[i] != greedy[i] && step_diverge < 0) step_diverge = i;
                if (i + 1 < CONT) {
                    TEST_OK(gpu, wgml_llama_logits(m, &mine[i], 1, (uint32_t)(n + i), false, y));
                    n_decode++;
                }
            }
            t_decode += now() - t0;
            printf("; decoded step by step: %s", step_diverge == diverge ? "the same" : "DIFFERENT");
            TEST_CHECK(step_diverge == diverge,
                       "prompt 0: step-by-step decoding first differs from llama.cpp at token %d, "
                       "teacher forcing at %d", step_diverge, diverge);
        }
        printf("\n");
        wgml_json_free(doc);
        prompts++;
        if (!*next) break;
    }
    printf("%d prompts: worst nmse %.2e (limit %.0e, %d over)", prompts, worst, limit_nmse,
           nmse_bad);
    if (exact) printf(", greedy identical %d/%d (need %d)", greedy_same, prompts, prompts - prompts / 10);
    printf("\nspeed: prefill %.1f tokens/s (%ld tokens)", n_prefill / t_prefill, n_prefill);
    if (n_decode) printf(", decode %.2f tokens/s (%ld steps)", n_decode / t_decode, n_decode);
    printf("\n");
    TEST_CHECK(prompts > 0, "no prompts");
    TEST_CHECK(nmse_bad == 0, "%d prompts' logits off by more than %g", nmse_bad, limit_nmse);
    TEST_CHECK(!exact || greedy_same >= prompts - prompts / 10,
               "greedy continuations identical for %d of %d", greedy_same, prompts);
    free(S);
    free(y);
    free(jl);
    free(sk);
    wgml_llama_free(m);
    wgml_gguf_close(g);
    wgml_gpu_free(gpu);
    return 0;
}
