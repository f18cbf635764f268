/*
 * GPU token sampling (src/models/sampler.h) against its C reference and
 * against independent facts.
 *
 *   test_sampler philox        Philox4x32-10 against Random123's known answers
 *                              (kat_vectors), and the GPU's random number
 *                              against the C one for many seeds and steps
 *   test_sampler reference     GPU id == reference id over V in {1, 7, 255,
 *                              4097, 49152, 128256}, several logit shapes
 *                              (ties, NaN/inf included) and parameter sets
 *   test_sampler reference_sample  the same for V = 7 and 4097 only, once each (for
 *                              slow devices: SwiftShader)
 *   test_sampler greedy        greedy == a plain argmax (ties to the lowest id);
 *                              top-k = 1 == greedy; NaN/inf rules
 *   test_sampler seed          a seed reproduces a draw; seeds differ
 *   test_sampler distribution  10k draws at temperature 1 (and with top-k /
 *                              min-p at 0.7) match softmax probabilities
 *                              computed here (chi-square), GPU and reference
 *   test_sampler penalty       the penalty in place, bit for bit, and its choice
 *   test_sampler chained       chained records (recent tokens read from and ids
 *                              stored to a GPU buffer, several steps a run) ==
 *                              the reference and the host-list path
 *   test_sampler errors        bad parameters and buffers come back as statuses
 *   test_sampler groups        the same token whatever the number of workgroups
 *   test_sampler timing [G]    (not a test) GPU time per sample by V and parameters
 *
 * Mismatches. Greedy choices compare floats exactly and must all agree. A
 * draw compares a random target with cumulative sums of exp(): the GPU sums
 * its own exp() in exact fixed point, the reference libm's exp() in double,
 * so a draw can flip when the target lies within ~1e-6 (relative) of the
 * boundary between two tokens' cumulative mass, or when top-p's mass sits
 * that close to top_p. That happens with probability ~1e-6 per draw; the
 * test allows one such mismatch per 1000 draws (it prints each) and none in
 * the greedy cases.
 */
#include "models/sampler.h"
#include "test_util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const uint32_t VS[] = {1, 7, 255, 4097, 49152, 128256};

// ---------------------------------------------------------------- helpers

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_unit(uint64_t *s) { return (rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

enum { SHAPE_UNIFORM, SHAPE_PEAKED, SHAPE_TIES, SHAPE_SPECIAL, N_SHAPES };

// Logits of a kind: uniform in [-a, a]; roughly normal with a few large
// spikes (a peaked distribution, as a language model's); values on a coarse
// grid (many exact ties); normal with NaN, -inf and +inf sprinkled in.
static void make_logits(float *x, uint32_t n, int shape, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 0x1234567;
    double scale = 1 + 4 * rng_unit(&s);
    for (uint32_t i = 0; i < n; i++) {
        double g = 0;
        for (int k = 0; k < 4; k++) g += rng_unit(&s) - 0.5;
        switch (shape) {
        case SHAPE_UNIFORM: x[i] = (float)((2 * rng_unit(&s) - 1) * scale); break;
        case SHAPE_PEAKED:
            x[i] = (float)(g * 3 * scale);
            if (rng_next(&s) % 1000 == 0) x[i] += (float)(10 + 10 * rng_unit(&s));
            break;
        case SHAPE_TIES: x[i] = (float)(floor(rng_unit(&s) * 8) * 0.5); break;
        default:
            x[i] = (float)(g * 2 * scale);
            switch (rng_next(&s) % 64) {
            case 0: x[i] = NAN; break;
            case 1: x[i] = -INFINITY; break;
            case 2: if (rng_next(&s) % 16 == 0) x[i] = INFINITY; break;
            case 3: x[i] = -0.0f; break;
            default: break;
            }
        }
    }
}

static const char *shape_name(int shape)
{
    static const char *names[] = {"uniform", "peaked", "ties", "special"};
    return names[shape];
}

// Uploads logits to buf (sized for n) and samples them once on the GPU.
static wgml_status gpu_sample(wgml_gpu *gpu, wgml_sampler *s, wgml_gpu_buf *buf, const float *x,
                              uint32_t n, const int32_t *recent, uint32_t n_recent,
                              uint64_t step, int32_t *id, uint32_t *r)
{
    wgml_status st = wgml_gpu_buf_write(gpu, buf, 0, x, 4ull * n);
    if (!st) st = wgml_sampler_record(s, buf, 0, recent, n_recent, step);
    if (!st) st = wgml_gpu_submit(gpu, NULL);
    if (!st) st = wgml_sampler_result(s, id);
    if (!st && r) st = wgml_sampler_result_random(s, r);
    return st;
}

static void params_print(const wgml_sampler_params *p)
{
    fprintf(stderr, "T=%g top_k=%u top_p=%g min_p=%g penalty=%g last_n=%u seed=%llu",
            (double)p->temperature, p->top_k, (double)p->top_p, (double)p->min_p,
            (double)p->repeat_penalty, p->repeat_last_n, (unsigned long long)p->seed);
}

// ---------------------------------------------------------------- philox

static int test_philox(wgml_gpu *gpu)
{
    // Random123 1.14, examples/kat_vectors: "philox4x32 10" lines (counter, key, output).
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        wgml_sampler_philox4x32(kat[i], kat[i] + 4, out);
        TEST_CHECK(!memcmp(out, kat[i] + 6, sizeof out),
                   "known answer %d: %08x %08x %08x %08x", i, out[0], out[1], out[2], out[3]);
    }
    // The GPU's Philox equals the C one (the draw reports the number it used).
    static const uint64_t seeds[] = {0, 1, 42, 0xffffffffull, 0x100000000ull, 0xdeadbeefcafef00dull};
    static const uint64_t steps[] = {0, 1, 2, 1000, 0xffffffffull, 0x123456789abull, UINT64_MAX};
    float x[7];
    make_logits(x, 7, SHAPE_UNIFORM, 1);
    wgml_gpu_buf *buf;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof x, "test.logits", &buf));
    int checked = 0;
    for (size_t a = 0; a < COUNT(seeds); a++) {
        wgml_sampler *s;
        wgml_sampler_params p = {.temperature = 1, .seed = seeds[a]};
        TEST_OK(gpu, wgml_sampler_create(gpu, 7, &p, &s));
        for (size_t b = 0; b < COUNT(steps); b++) {
            int32_t id;
            uint32_t r;
            TEST_OK(gpu, gpu_sample(gpu, s, buf, x, 7, NULL, 0, steps[b], &id, &r));
            uint32_t want = wgml_sampler_random(seeds[a], steps[b]);
            TEST_CHECK(r == want, "seed %llu step %llu: GPU %08x, C %08x",
                       (unsigned long long)seeds[a], (unsigned long long)steps[b], r, want);
            checked++;
        }
        wgml_sampler_free(s);
    }
    wgml_gpu_buf_release(gpu, buf);
    printf("ok   philox: 3 known answers; GPU == C for %d (seed, step) pairs\n", checked);
    return 0;
}

// ---------------------------------------------------------------- reference

static const wgml_sampler_params PARAM_SETS[] = {
    {.temperature = 0},
    {.temperature = 1},
    {.temperature = 0.8f, .top_k = 40},
    {.temperature = 1, .top_p = 0.9f},
    {.temperature = 0.7f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f},
    {.temperature = 1.5f, .min_p = 0.1f},
    {.temperature = 1, .top_k = 1},
    {.temperature = 1.2f, .top_k = 1000, .top_p = 0.99f},
    {.temperature = 0.5f, .top_p = 0.5f, .repeat_penalty = 1.3f, .repeat_last_n = 64},
    {.temperature = 2, .top_k = 5, .top_p = 0.3f},
    {.temperature = 0, .repeat_penalty = 1.5f, .repeat_last_n = 16},
    {.temperature = 1, .top_p = 0.999f, .min_p = 0.001f, .repeat_penalty = 0.8f, .repeat_last_n = 300},
};

static int test_reference(wgml_gpu *gpu, bool sample)
{
    int cases = 0, draws = 0, mismatches = 0, greedy_cases = 0;
    for (size_t vi = 0; vi < COUNT(VS); vi++) {
        uint32_t n = VS[vi];
        if (sample && n != 7 && n != 4097) continue;
        float *x = malloc(4ull * n);
        wgml_gpu_buf *buf;
        TEST_CHECK(x != NULL, "out of memory");
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * n, "test.logits", &buf));
        // Fewer repetitions at the largest sizes: the reference sorts V each time.
        int reps = sample ? 1 : n >= 49152 ? 2 : n >= 4097 ? 4 : 8;
        for (size_t pi = 0; pi < COUNT(PARAM_SETS); pi++) {
            for (int shape = 0; shape < N_SHAPES; shape++) {
                for (int rep = 0; rep < reps; rep++) {
                    uint64_t seed = 1000 * vi + 100 * pi + 10 * (uint64_t)shape + (uint64_t)rep;
                    wgml_sampler_params p = PARAM_SETS[pi];
                    p.seed = seed * 7919;
                    make_logits(x, n, shape, seed);
                    int32_t recent[300];
                    uint64_t rs = seed + 17;
                    for (int i = 0; i < 300; i++)   // repeats, and a few ids outside the vocabulary
                        recent[i] = (int32_t)(rng_next(&rs) % (n + n / 16 + 2)) - (i % 50 == 0);
                    uint64_t step = rng_next(&rs) % 100000;
                    wgml_sampler *s;
                    TEST_OK(gpu, wgml_sampler_create(gpu, n, &p, &s));
                    int32_t id;
                    TEST_OK(gpu, gpu_sample(gpu, s, buf, x, n, recent, 300, step, &id, NULL));
                    wgml_sampler_free(s);
                    int32_t want = wgml_sampler_reference(&p, x, n, recent, 300, step);
                    TEST_CHECK(want >= 0 && want < (int32_t)n, "reference failed");
                    bool greedy = p.temperature <= 0;
                    cases++;
                    greedy_cases += greedy;
                    draws += !greedy;
                    if (id != want) {
                        fprintf(stderr, "%s V=%u %s step=%llu: GPU %d, reference %d (",
                                greedy ? "FAIL" : "mismatch", n, shape_name(shape),
                                (unsigned long long)step, id, want);
                        params_print(&p);
                        fprintf(stderr, ")\n");
                        TEST_CHECK(!greedy, "greedy choices must agree exactly");
                        mismatches++;
                    }
                }
            }
        }
        wgml_gpu_buf_release(gpu, buf);
        free(x);
        printf("     V=%u done (%d cases so far, %d mismatches)\n", n, cases, mismatches);
        fflush(stdout);
    }
    TEST_CHECK(mismatches * 1000 <= draws, "%d of %d draws differ from the reference", mismatches,
               draws);
    printf("ok   reference: %d cases (%d greedy, all equal; %d draws, %d differ)\n", cases,
           greedy_cases, draws, mismatches);
    return 0;
}

// ---------------------------------------------------------------- greedy

static int argmax_plain(const float *x, uint32_t n)
{
    int best = -1;
    for (uint32_t i = 0; i < n; i++)
        if (!isnan(x[i]) && x[i] != -INFINITY && (best < 0 || x[i] > x[best])) best = (int)i;
    return best < 0 ? 0 : best;
}

static int test_greedy(wgml_gpu *gpu)
{
    int checked = 0;
    for (size_t vi = 0; vi < COUNT(VS); vi++) {
        uint32_t n = VS[vi];
        float *x = malloc(4ull * n);
        wgml_gpu_buf *buf;
        TEST_CHECK(x != NULL, "out of memory");
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * n, "test.logits", &buf));
        wgml_sampler *g, *k1;
        wgml_sampler_params pg = {0}, pk = {.temperature = 1, .top_k = 1, .seed = 5};
        TEST_OK(gpu, wgml_sampler_create(gpu, n, &pg, &g));
        TEST_OK(gpu, wgml_sampler_create(gpu, n, &pk, &k1));
        for (int shape = 0; shape < N_SHAPES; shape++) {
            for (int rep = 0; rep < 3; rep++) {
                make_logits(x, n, shape, 77 + 10 * (uint64_t)shape + (uint64_t)rep);
                // -0 and +0 are equal here; keep zeros out of the plain argmax's way.
                for (uint32_t i = 0; i < n; i++)
                    if (x[i] == 0) x[i] = 0.25f;
                int32_t id;
                TEST_OK(gpu, gpu_sample(gpu, g, buf, x, n, NULL, 0, 0, &id, NULL));
                int want = argmax_plain(x, n);
                TEST_CHECK(id == want, "V=%u %s: greedy %d, argmax %d", n, shape_name(shape), id,
                           want);
                // Top-k = 1 keeps the maximum and every logit equal to it: the
                // same token where the maximum is unique.
                int ties = 0;
                for (uint32_t i = 0; i < n; i++) ties += x[i] == x[want];
                if (ties == 1) {
                    int32_t id1;
                    TEST_OK(gpu, gpu_sample(gpu, k1, buf, x, n, NULL, 0, (uint64_t)rep, &id1, NULL));
                    TEST_CHECK(id1 == want, "V=%u %s: top-k 1 chose %d, greedy %d", n,
                               shape_name(shape), id1, want);
                    checked++;
                }
                checked++;
            }
        }
        // No finite logit: id 0. A +inf wins (its first occurrence).
        for (uint32_t i = 0; i < n; i++) x[i] = i % 2 ? NAN : -INFINITY;
        int32_t id;
        TEST_OK(gpu, gpu_sample(gpu, g, buf, x, n, NULL, 0, 0, &id, NULL));
        TEST_CHECK(id == 0, "V=%u all NaN/-inf: %d", n, id);
        TEST_OK(gpu, gpu_sample(gpu, k1, buf, x, n, NULL, 0, 0, &id, NULL));
        TEST_CHECK(id == 0, "V=%u all NaN/-inf, sampling: %d", n, id);
        if (n > 3) {
            x[n - 1] = INFINITY;
            x[n - 3] = INFINITY;
            x[1] = 1e30f;
            TEST_OK(gpu, gpu_sample(gpu, g, buf, x, n, NULL, 0, 0, &id, NULL));
            TEST_CHECK(id == (int32_t)(n - 3), "V=%u +inf: %d", n, id);
            x[1] = FLT_MAX;   // +inf counts as FLT_MAX: a tie, to the lowest id
            TEST_OK(gpu, gpu_sample(gpu, g, buf, x, n, NULL, 0, 0, &id, NULL));
            TEST_CHECK(id == 1, "V=%u +inf and FLT_MAX: %d", n, id);
        }
        checked += 3;
        wgml_sampler_free(g);
        wgml_sampler_free(k1);
        wgml_gpu_buf_release(gpu, buf);
        free(x);
    }
    printf("ok   greedy: %d checks (argmax with ties to the lowest id, top-k 1, NaN/inf)\n",
           checked);
    return 0;
}

// ---------------------------------------------------------------- seed

static int test_seed(wgml_gpu *gpu)
{
    uint32_t n = 1000;
    float *x = malloc(4ull * n);
    TEST_CHECK(x != NULL, "out of memory");
    make_logits(x, n, SHAPE_UNIFORM, 3);   // flat: draws spread over many tokens
    wgml_gpu_buf *buf;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * n, "test.logits", &buf));
    wgml_sampler_params p = {.temperature = 1, .top_p = 0.95f, .top_k = 2000, .seed = 1234};
    wgml_sampler *a, *b, *c;
    TEST_OK(gpu, wgml_sampler_create(gpu, n, &p, &a));
    TEST_OK(gpu, wgml_sampler_create(gpu, n, &p, &b));
    p.seed = 1235;
    TEST_OK(gpu, wgml_sampler_create(gpu, n, &p, &c));
    int differ_seed = 0, differ_step = 0;
    int32_t prev = -1;
    for (uint64_t step = 0; step < 16; step++) {
        int32_t ia, ib, ic, ia2;
        TEST_OK(gpu, gpu_sample(gpu, a, buf, x, n, NULL, 0, step, &ia, NULL));
        TEST_OK(gpu, gpu_sample(gpu, b, buf, x, n, NULL, 0, step, &ib, NULL));
        TEST_OK(gpu, gpu_sample(gpu, a, buf, x, n, NULL, 0, step, &ia2, NULL));
        TEST_OK(gpu, gpu_sample(gpu, c, buf, x, n, NULL, 0, step, &ic, NULL));
        TEST_CHECK(ia == ib && ia == ia2, "step %llu: the same seed gave %d, %d, %d",
                   (unsigned long long)step, ia, ib, ia2);
        differ_seed += ia != ic;
        differ_step += ia != prev;
        prev = ia;
    }
    // With ~900 candidates (top-p over a flat distribution) two different
    // seeds (or steps) agree by chance about once in 900 draws.
    TEST_CHECK(differ_seed >= 14, "another seed gave the same token %d times of 16",
               16 - differ_seed);
    TEST_CHECK(differ_step >= 14, "consecutive steps repeated a token %d times of 16",
               16 - differ_step);
    wgml_sampler_free(a);
    wgml_sampler_free(b);
    wgml_sampler_free(c);
    wgml_gpu_buf_release(gpu, buf);
    free(x);
    printf("ok   seed: 16 steps reproduce; another seed differs in %d of 16\n", differ_seed);
    return 0;
}

// ---------------------------------------------------------------- distribution

// Chi-square of counts against probabilities over the cells with p > 0;
// *zero_hits counts draws of cells with p = 0.
static double chi_square(const int *counts, const double *prob, int n, int draws, int *dof,
                         int *zero_hits)
{
    double chi = 0;
    *dof = -1;
    *zero_hits = 0;
    for (int i = 0; i < n; i++) {
        if (prob[i] == 0) {
            *zero_hits += counts[i];
            continue;
        }
        double e = prob[i] * draws;
        chi += (counts[i] - e) * (counts[i] - e) / e;
        (*dof)++;
    }
    return chi;
}

static int test_distribution(wgml_gpu *gpu)
{
    enum { V = 8, DRAWS = 10000, BATCH = 50 };
    static const float logits[V] = {1.0f, 0.5f, 0.2f, 0.0f, -0.3f, -1.0f, -2.0f, 0.8f};
    // The critical chi-square values at alpha = 0.001 for 7 and 4 degrees of
    // freedom (any table): a correct sampler fails a given seed 1 time in 1000.
    static const double CRIT[8] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32};
    struct {
        wgml_sampler_params p;
        int keep;   // the largest `keep` logits survive (top-k / min-p), chosen below by hand
    } cases[] = {
        {{.temperature = 1, .seed = 42}, 8},
        // top_k 5: the five largest (1.0, 0.8, 0.5, 0.2, 0.0) at T = 0.7.
        {{.temperature = 0.7f, .top_k = 5, .seed = 43}, 5},
        // min_p 0.3 at T = 1 keeps p_i >= 0.3 p_max: l_i >= 1 + ln 0.3 = -0.204: five.
        {{.temperature = 1, .min_p = 0.3f, .seed = 44}, 5},
    };
    wgml_gpu_buf *buf;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, sizeof logits, "test.logits", &buf));
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, buf, 0, logits, sizeof logits));
    for (size_t c = 0; c < COUNT(cases); c++) {
        const wgml_sampler_params *p = &cases[c].p;
        // Expected: softmax of l / T over the `keep` largest, in double.
        int order[V];
        for (int i = 0; i < V; i++) order[i] = i;
        for (int i = 0; i < V; i++)
            for (int j = i + 1; j < V; j++)
                if (logits[order[j]] > logits[order[i]]) {
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        double prob[V] = {0}, z = 0;
        for (int i = 0; i < cases[c].keep; i++) z += exp(logits[order[i]] / p->temperature);
        for (int i = 0; i < cases[c].keep; i++)
            prob[order[i]] = exp(logits[order[i]] / p->temperature) / z;

        // GPU: BATCH samplers record into one run (each reads the logits).
        int gpu_counts[V] = {0}, ref_counts[V] = {0};
        wgml_sampler *s[BATCH];
        for (int b = 0; b < BATCH; b++) TEST_OK(gpu, wgml_sampler_create(gpu, V, p, &s[b]));
        for (int d = 0; d < DRAWS; d += BATCH) {
            for (int b = 0; b < BATCH; b++)
                TEST_OK(gpu, wgml_sampler_record(s[b], buf, 0, NULL, 0, (uint64_t)(d + b)));
            TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
            for (int b = 0; b < BATCH; b++) {
                int32_t id;
                TEST_OK(gpu, wgml_sampler_result(s[b], &id));
                gpu_counts[id]++;
            }
        }
        for (int b = 0; b < BATCH; b++) wgml_sampler_free(s[b]);
        for (int d = 0; d < DRAWS; d++) {
            int32_t id = wgml_sampler_reference(p, logits, V, NULL, 0, (uint64_t)d);
            TEST_CHECK(id >= 0 && id < V, "reference failed");
            ref_counts[id]++;
        }
        int dof, zero;
        double chi = chi_square(gpu_counts, prob, V, DRAWS, &dof, &zero);
        printf("     case %zu GPU:       chi2 %.2f (%d dof, critical %.2f); counts", c, chi, dof,
               CRIT[dof]);
        for (int i = 0; i < V; i++) printf(" %d/%.0f", gpu_counts[i], prob[i] * DRAWS);
        printf("\n");
        TEST_CHECK(zero == 0, "case %zu: %d GPU draws of excluded tokens", c, zero);
        TEST_CHECK(chi < CRIT[dof], "case %zu: GPU chi-square %.2f", c, chi);
        chi = chi_square(ref_counts, prob, V, DRAWS, &dof, &zero);
        printf("     case %zu reference: chi2 %.2f\n", c, chi);
        TEST_CHECK(zero == 0, "case %zu: %d reference draws of excluded tokens", c, zero);
        TEST_CHECK(chi < CRIT[dof], "case %zu: reference chi-square %.2f", c, chi);
        int same = 0;
        for (int i = 0; i < V; i++) same += gpu_counts[i] == ref_counts[i];
        TEST_CHECK(same == V, "case %zu: GPU and reference counts differ", c);
    }
    wgml_gpu_buf_release(gpu, buf);
    printf("ok   distribution: 3 cases x %d draws match softmax (chi-square, alpha 0.001)\n", DRAWS);
    return 0;
}

// ---------------------------------------------------------------- penalty

static int test_penalty(wgml_gpu *gpu)
{
    uint32_t n = 4097;
    float *x = malloc(4ull * n), *want = malloc(4ull * n), *got = malloc(4ull * n);
    TEST_CHECK(x && want && got, "out of memory");
    make_logits(x, n, SHAPE_PEAKED, 9);   // finite: the +60 below is the maximum
    // The recent tokens: repeats, out-of-range and negative ids, and the
    // window's edge (only the last 20 count).
    int32_t recent[40];
    for (int i = 0; i < 40; i++) recent[i] = (int32_t)((i * 977) % n);
    recent[25] = recent[30];
    recent[26] = -5;
    recent[27] = (int32_t)n;
    recent[28] = (int32_t)n + 1000;
    recent[39] = recent[38];
    // The GPU's argmax lies among the recent tokens, so the penalty matters.
    x[recent[35]] = 50.0f;
    x[recent[36]] = -3.0f;
    x[recent[10]] = 60.0f;   // outside the window: not penalised
    float rp = 1.7f;
    wgml_sampler_params p = {.temperature = 0, .repeat_penalty = rp, .repeat_last_n = 20};
    memcpy(want, x, 4ull * n);
    bool seen[4097] = {false};
    for (int i = 20; i < 40; i++) {
        int32_t t = recent[i];
        if (t < 0 || (uint32_t)t >= n || seen[t]) continue;
        seen[t] = true;
        want[t] = want[t] > 0 ? want[t] * (1.0f / rp) : want[t] * rp;
    }
    wgml_gpu_buf *buf;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * n, "test.logits", &buf));
    wgml_sampler *s;
    TEST_OK(gpu, wgml_sampler_create(gpu, n, &p, &s));
    int32_t id;
    TEST_OK(gpu, gpu_sample(gpu, s, buf, x, n, recent, 40, 0, &id, NULL));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, buf, 0, got, 4ull * n));
    TEST_CHECK(!memcmp(got, want, 4ull * n), "the penalised logits differ");
    int plain = argmax_plain(want, n);
    TEST_CHECK(id == plain, "penalised greedy %d, argmax of penalised %d", id, plain);
    TEST_CHECK(id == recent[10], "the token outside the window should win (%d)", id);
    TEST_CHECK(wgml_sampler_reference(&p, x, n, recent, 40, 0) == id, "reference disagrees");
    wgml_sampler_free(s);
    wgml_gpu_buf_release(gpu, buf);
    free(x);
    free(want);
    free(got);
    printf("ok   penalty: in place bit for bit over the last 20 distinct ids; greedy follows\n");
    return 0;
}

// ---------------------------------------------------------------- chained

// Chained records (generation's decode batches): several steps in one run,
// each taking its recent tokens from a GPU buffer that holds the steps
// before it and storing its id there. Every id equals the reference's and
// the host-list path's with the same recent tokens.
static int test_chained(wgml_gpu *gpu)
{
    enum { N = 4097, STEPS = 8, HIST = 40, LAST_N = 20 };
    uint32_t align = wgml_gpu_info(gpu)->min_storage_buffer_offset_alignment;
    uint64_t stride = (4ull * N + align - 1) / align * align;
    float *x = malloc(stride * STEPS);
    TEST_CHECK(x, "out of memory");
    // Recent tokens with repeats and ids outside the vocabulary.
    uint32_t hist[HIST + STEPS];
    for (int i = 0; i < HIST; i++) hist[i] = (uint32_t)((i * 977) % N);
    hist[25] = hist[30];
    hist[26] = 0xfffffffbu;   // -5 as the GPU holds it
    hist[27] = N;
    hist[28] = N + 1000;
    hist[39] = hist[38];
    static const wgml_sampler_params sets[] = {
        {.temperature = 0, .repeat_penalty = 1.7f, .repeat_last_n = LAST_N},
        {.temperature = 0.9f, .top_k = 50, .top_p = 0.9f, .repeat_penalty = 1.3f,
         .repeat_last_n = LAST_N, .seed = 5},
        {.temperature = 1.0f, .min_p = 0.05f, .seed = 77},   // no penalty
    };
    wgml_gpu_buf *lb, *tb;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, stride * STEPS, "test.logits", &lb));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * (HIST + STEPS), "test.tokens", &tb));
    wgml_gpu_buf *one;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * N, "test.one", &one));
    for (size_t si = 0; si < COUNT(sets); si++) {
        const wgml_sampler_params *p = &sets[si];
        for (int i = 0; i < STEPS; i++) {
            float *row = (float *)((char *)x + stride * i);
            make_logits(row, N, SHAPE_PEAKED, 100 + 10 * si + i);
            // Tokens among the recent ones near the top, so the penalty matters.
            row[hist[35]] += 30.0f;
            row[hist[29 + i]] += 29.0f;
        }
        TEST_OK(gpu, wgml_gpu_buf_write(gpu, lb, 0, x, stride * STEPS));
        TEST_OK(gpu, wgml_gpu_buf_write(gpu, tb, 0, hist, 4ull * HIST));
        wgml_sampler *s;
        TEST_OK(gpu, wgml_sampler_create(gpu, N, p, &s));
        for (int i = 0; i < STEPS; i++)
            TEST_OK(gpu, wgml_sampler_record_chained(s, lb, stride * i, tb, (uint32_t)i, HIST,
                                                     (uint32_t)(HIST + i), 100 + (uint64_t)i));
        TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
        uint32_t got[HIST + STEPS];
        TEST_OK(gpu, wgml_gpu_buf_read(gpu, tb, 0, got, sizeof got));
        TEST_CHECK(!memcmp(got, hist, 4ull * HIST), "the recent tokens were changed");
        int32_t last;
        TEST_OK(gpu, wgml_sampler_result(s, &last));
        TEST_CHECK(last == (int32_t)got[HIST + STEPS - 1], "result %d, last stored %u", last,
                   got[HIST + STEPS - 1]);
        // The same steps one by one: the reference and the host-list path.
        int32_t recent[HIST + STEPS];
        for (int i = 0; i < HIST + STEPS; i++) recent[i] = (int32_t)(i < HIST ? hist[i] : got[i]);
        int penalised = 0;
        for (int i = 0; i < STEPS; i++) {
            const float *row = (const float *)((const char *)x + stride * i);
            int32_t ref = wgml_sampler_reference(p, row, N, recent + i, HIST, 100 + (uint64_t)i);
            int32_t host;
            TEST_OK(gpu, gpu_sample(gpu, s, one, row, N, recent + i, HIST, 100 + (uint64_t)i,
                                    &host, NULL));
            if (!(p->temperature > 0) && argmax_plain(row, N) != ref) penalised++;
            if ((int32_t)got[HIST + i] != ref || host != ref) {
                params_print(p);
                fprintf(stderr, "\n");
            }
            TEST_CHECK((int32_t)got[HIST + i] == ref && host == ref,
                       "step %d: chained %u, host list %d, reference %d", i, got[HIST + i], host,
                       ref);
        }
        TEST_CHECK(si != 0 || penalised > 0, "the penalty never changed a greedy choice");
        wgml_sampler_free(s);
    }
    wgml_gpu_buf_release(gpu, lb);
    wgml_gpu_buf_release(gpu, tb);
    wgml_gpu_buf_release(gpu, one);
    free(x);
    printf("ok   chained: %d steps a run, recent tokens from the GPU (repeats, ids outside the "
           "vocabulary), ids stored for the next; equal to the reference and the host-list path\n",
           STEPS);
    return 0;
}

// ---------------------------------------------------------------- errors

static int test_errors(wgml_gpu *gpu)
{
    static const wgml_sampler_params bad[] = {
        {.temperature = NAN},
        {.temperature = 1, .top_p = -0.1f},
        {.temperature = 1, .top_p = 1.5f},
        {.temperature = 1, .min_p = 2},
        {.temperature = 1, .repeat_penalty = -1},
        {.temperature = 1, .repeat_penalty = INFINITY},
        {.temperature = 1, .repeat_last_n = WGML_SAMPLER_MAX_LAST_N + 1},
    };
    float x[4] = {0};
    for (size_t i = 0; i < COUNT(bad); i++) {
        wgml_sampler *s = (wgml_sampler *)&s;
        wgml_status st = wgml_sampler_create(gpu, 16, &bad[i], &s);
        TEST_CHECK(st == WGML_ERR_INVALID_ARGUMENT && s == NULL, "bad set %zu accepted", i);
        TEST_CHECK(strstr(wgml_gpu_last_error(gpu), "sampler"), "message: %s",
                   wgml_gpu_last_error(gpu));
        TEST_CHECK(wgml_sampler_reference(&bad[i], x, 4, NULL, 0, 0) == -1,
                   "reference accepted bad set %zu", i);
    }
    wgml_sampler_params ok = {.temperature = 1};
    wgml_sampler *s;
    TEST_CHECK(wgml_sampler_create(gpu, 0, &ok, &s) == WGML_ERR_INVALID_ARGUMENT, "V = 0");
    TEST_CHECK(wgml_sampler_create(gpu, WGML_SAMPLER_MAX_VOCAB + 1, &ok, &s) ==
               WGML_ERR_INVALID_ARGUMENT, "V too large");
    TEST_OK(gpu, wgml_sampler_create(gpu, 1000, &ok, &s));
    wgml_gpu_buf *small;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1024, "test.small", &small));
    TEST_CHECK(wgml_sampler_record(s, small, 0, NULL, 0, 0) == WGML_ERR_INVALID_ARGUMENT,
               "a buffer smaller than V logits accepted");
    wgml_gpu_buf *big;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 8192, "test.big", &big));
    TEST_CHECK(wgml_sampler_record(s, big, 4, NULL, 0, 0) == WGML_ERR_INVALID_ARGUMENT,
               "a misaligned offset accepted");
    TEST_CHECK(wgml_sampler_record(s, NULL, 0, NULL, 0, 0) == WGML_ERR_INVALID_ARGUMENT,
               "NULL logits accepted");
    TEST_CHECK(wgml_sampler_record(s, big, 0, NULL, 3, 0) == WGML_ERR_INVALID_ARGUMENT,
               "NULL recent with a count accepted");
    TEST_CHECK(wgml_gpu_pending_dispatches(gpu) == 0, "a refused record left dispatches");
    wgml_sampler_free(s);
    wgml_gpu_buf_release(gpu, small);
    wgml_gpu_buf_release(gpu, big);
    printf("ok   errors: %zu bad parameter sets and 4 bad records refused with messages\n",
           COUNT(bad));
    return 0;
}

// ---------------------------------------------------------------- groups

// The number of workgroups changes the order of every sum and reduction; the
// sums are exact, so no choice may change a result.
static int test_groups(wgml_gpu *gpu)
{
    static const uint32_t vs[] = {7, 4097, 128256};
    static const uint32_t gs[] = {1, 3, 32, 256, 1024};
    int checked = 0;
    for (size_t vi = 0; vi < COUNT(vs); vi++) {
        uint32_t n = vs[vi];
        float *x = malloc(4ull * n);
        TEST_CHECK(x != NULL, "out of memory");
        wgml_gpu_buf *buf;
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * n, "test.logits", &buf));
        for (size_t pi = 0; pi < COUNT(PARAM_SETS); pi += 2) {
            for (int shape = 0; shape < N_SHAPES; shape++) {
                wgml_sampler_params p = PARAM_SETS[pi];
                p.seed = 31 * pi + (uint64_t)shape;
                make_logits(x, n, shape, 500 + p.seed);
                int32_t first = -1;
                uint32_t first_r = 0;
                for (size_t gi = 0; gi < COUNT(gs); gi++) {
                    wgml_sampler *s;
                    TEST_OK(gpu, wgml_sampler_create_groups(gpu, n, &p, gs[gi], &s));
                    int32_t id;
                    uint32_t r;
                    TEST_OK(gpu, gpu_sample(gpu, s, buf, x, n, NULL, 0, 9, &id, &r));
                    wgml_sampler_free(s);
                    if (gi == 0) {
                        first = id;
                        first_r = r;
                    }
                    TEST_CHECK(id == first && r == first_r,
                               "V=%u %s set %zu: %u groups chose %d, 1 group %d", n,
                               shape_name(shape), pi, gs[gi], id, first);
                    checked++;
                }
            }
        }
        wgml_gpu_buf_release(gpu, buf);
        free(x);
    }
    printf("ok   groups: %d samples, the same token with 1 to 1024 workgroups\n", checked);
    return 0;
}

// ---------------------------------------------------------------- timing

// Not a test (not registered with ctest): GPU time per sample, by V and
// parameters, from timestamp queries (host time where there are none).
static int run_timing(wgml_gpu *gpu, uint32_t max_groups)
{
    static const uint32_t vs[] = {32000, 49152, 128256, 151936, 256000};
    static const struct {
        const char *name;
        wgml_sampler_params p;
    } sets[] = {
        {"greedy", {.temperature = 0}},
        {"temp", {.temperature = 0.8f}},
        {"top_k40", {.temperature = 0.8f, .top_k = 40}},
        {"top_p0.9", {.temperature = 0.8f, .top_p = 0.9f}},
        {"k40+p0.95+min_p", {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f}},
        {"k40+p0.95+penalty", {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f,
                               .repeat_penalty = 1.1f, .repeat_last_n = 64}},
    };
    int32_t recent[64];
    for (int i = 0; i < 64; i++) recent[i] = i * 13;
    for (size_t vi = 0; vi < COUNT(vs); vi++) {
        uint32_t n = vs[vi];
        float *x = malloc(4ull * n);
        TEST_CHECK(x != NULL, "out of memory");
        make_logits(x, n, SHAPE_PEAKED, n);
        wgml_gpu_buf *buf;
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4ull * n, "test.logits", &buf));
        TEST_OK(gpu, wgml_gpu_buf_write(gpu, buf, 0, x, 4ull * n));
        for (size_t si = 0; si < COUNT(sets); si++) {
            wgml_sampler *s;
            TEST_OK(gpu, wgml_sampler_create_groups(gpu, n, &sets[si].p, max_groups, &s));
            enum { REPS = 20 };
            double best = INFINITY;
            for (int r = 0; r < REPS; r++) {
                double ns = -1;
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                TEST_OK(gpu, wgml_gpu_begin(gpu, true));
                TEST_OK(gpu, wgml_sampler_record(s, buf, 0, recent, 64, (uint64_t)r));
                TEST_OK(gpu, wgml_gpu_submit(gpu, &ns));
                int32_t id;
                TEST_OK(gpu, wgml_sampler_result(s, &id));
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (ns < 0) ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
                if (ns < best) best = ns;
            }
            printf("V=%-7u %-18s %2u dispatches  %8.1f us\n", n, sets[si].name,
                   wgml_sampler_dispatches(s, true), best / 1e3);
            wgml_sampler_free(s);
        }
        wgml_gpu_buf_release(gpu, buf);
        free(x);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_sampler philox|reference|reference_sample|greedy|seed|distribution|penalty|"
                        "errors|groups|timing [G]\n");
        return 2;
    }
    wgml_gpu *gpu = test_gpu_create();
    const char *t = argv[1];
    int rc;
    if (!strcmp(t, "philox")) rc = test_philox(gpu);
    else if (!strcmp(t, "reference")) rc = test_reference(gpu, false);
    else if (!strcmp(t, "reference_sample")) rc = test_reference(gpu, true);
    else if (!strcmp(t, "greedy")) rc = test_greedy(gpu);
    else if (!strcmp(t, "seed")) rc = test_seed(gpu);
    else if (!strcmp(t, "distribution")) rc = test_distribution(gpu);
    else if (!strcmp(t, "penalty")) rc = test_penalty(gpu);
    else if (!strcmp(t, "chained")) rc = test_chained(gpu);
    else if (!strcmp(t, "errors")) rc = test_errors(gpu);
    else if (!strcmp(t, "groups")) rc = test_groups(gpu);
    else if (!strcmp(t, "timing")) rc = run_timing(gpu, argc > 2 ? (uint32_t)atoi(argv[2]) : 0);
    else {
        fprintf(stderr, "unknown test '%s'\n", t);
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
