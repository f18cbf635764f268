/*
 * The graph executor: fused and unfused plans against the C reference
 * (wgml_graph_reference, built from the ops' own references) on random
 * elementwise chains with broadcasting and on the epilogue patterns; the
 * memory planner never lets two live tensors share a buffer; one submit per
 * run; symbolic sequence lengths; errors.
 */
#include "core/half.h"
#include "graph/graph.h"
#include "ops/matmul_sgm.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- harness

typedef struct inputs {
    float *data[64];   // by tensor id (u32 and f16 inputs hold their bits)
    bool u32[64], f16[64];
    wgml_graph_external ext[8];   // inputs bound in place (their data is in ext's buffers)
    int n_ext;
} inputs;

static uint64_t count_of(const wgml_graph *g, int t, int64_t seq)
{
    int64_t s[4];
    int nd = wgml_graph_shape(g, t, s);
    uint64_t c = 1;
    for (int d = 0; d < nd; d++) c *= (uint64_t)(s[d] == WGML_DIM_SEQ ? seq : s[d]);
    return c;
}

static int add_input(wgml_graph *g, inputs *in, int ndim, const int64_t *shape, uint64_t seed,
                     int64_t seq)
{
    int t = wgml_graph_input(g, "in", ndim, shape);
    if (t < 0 || t >= 64) return -1;
    uint64_t n = count_of(g, t, seq);
    in->data[t] = malloc(n * 4);
    test_fill_uniform(in->data[t], n, -2.f, 2.f, seed * 7919 + (uint64_t)t);
    return t;
}

// Compiles g (fused or not), runs it, and compares every output with the
// reference. Returns the kernel count through *kernels.
static int run_and_check(wgml_gpu *gpu, const wgml_graph *g, const inputs *in, bool fuse,
                         int64_t seq, double tol, const char *what, int *kernels)
{
    wgml_graph_options opt = {.no_fusion = !fuse, .seq_len = seq, .external = in->ext,
                              .n_external = in->n_ext};
    wgml_plan *p = NULL;
    TEST_OK(gpu, wgml_graph_compile(g, gpu, &opt, &p));
    int n = wgml_graph_tensor_count(g);
    float *ref[64] = {0}, *got[64] = {0};
    const float *ins[64] = {0};
    for (int t = 0; t < n; t++) {
        ins[t] = in->data[t];
        bool ext = false;
        for (int i = 0; i < in->n_ext; i++) ext |= in->ext[i].tensor == t;
        if (!in->data[t] || ext) continue;
        if (in->u32[t])
            TEST_OK(gpu, wgml_plan_write_u32(p, t, (const uint32_t *)in->data[t], count_of(g, t, seq)));
        else if (in->f16[t])
            TEST_OK(gpu, wgml_plan_write_f16(p, t, (const uint16_t *)in->data[t], count_of(g, t, seq)));
        else
            TEST_OK(gpu, wgml_plan_write(p, t, in->data[t], count_of(g, t, seq)));
    }
    uint64_t submits = wgml_gpu_submit_count(gpu);
    TEST_OK(gpu, wgml_plan_run(p, NULL));
    TEST_CHECK(wgml_gpu_submit_count(gpu) == submits + 1, "%s: a run took %llu submits", what,
               (unsigned long long)(wgml_gpu_submit_count(gpu) - submits));
    for (int t = 0; t < n; t++) {
        if (!wgml_graph_is_output(g, t)) continue;
        ref[t] = malloc(count_of(g, t, seq) * 4);
        got[t] = malloc(count_of(g, t, seq) * 4);
    }
    char err[256];
    TEST_CHECK(wgml_graph_reference(g, &opt, ins, ref, err, sizeof err) == WGML_OK, "%s", err);
    int outputs = 0;
    for (int t = 0; t < n; t++) {
        if (!got[t]) continue;
        TEST_OK(gpu, wgml_plan_read(p, t, got[t], count_of(g, t, seq)));
        double e = test_nmse(got[t], ref[t], count_of(g, t, seq));
        TEST_CHECK(e <= tol, "%s (%s): output %d nmse %.3g > %.3g", what,
                   fuse ? "fused" : "unfused", t, e, tol);
        outputs++;
    }
    TEST_CHECK(outputs > 0, "%s: no output was read", what);
    *kernels = wgml_plan_kernel_count(p);
    for (int t = 0; t < n; t++) {
        free(ref[t]);
        free(got[t]);
    }
    wgml_plan_free(p);
    return 0;
}

// An f16 input (weights), random in [-0.5, 0.5).
static int add_input_f16(wgml_graph *g, inputs *in, int ndim, const int64_t *shape, uint64_t seed)
{
    int t = wgml_graph_input_f16(g, "w16", ndim, shape);
    if (t < 0 || t >= 64) return -1;
    uint64_t n = count_of(g, t, 0);
    float *f = malloc(n * 4);
    uint16_t *h = malloc(n * 2);
    test_fill_uniform(f, n, -0.5f, 0.5f, seed * 7919 + (uint64_t)t);
    for (uint64_t i = 0; i < n; i++) h[i] = wgml_f32_to_f16(f[i]);
    free(f);
    in->data[t] = (float *)h;
    in->f16[t] = true;
    return t;
}

static void free_inputs(wgml_gpu *gpu, inputs *in)
{
    for (int t = 0; t < 64; t++) free(in->data[t]);
    for (int i = 0; i < in->n_ext; i++) wgml_gpu_buf_release(gpu, in->ext[i].view.buf);
    memset(in, 0, sizeof *in);
}

static uint64_t rng_state = 0x1234567;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

// ---------------------------------------------------------------- chains

// Random elementwise chains of 1..8 ops with broadcast operands: fused and
// unfused against the reference; a single-consumer chain fuses into one kernel.
static int test_chains(wgml_gpu *gpu)
{
    static const int64_t dims[][2] = {{1, 1}, {7, 9}, {8, 8}, {17, 255}, {3, 257}, {64, 4097}};
    for (int trial = 0; trial < 48; trial++) {
        const int64_t *d = dims[trial % 6];
        int len = 1 + trial % 8;
        bool branchy = trial % 3 == 2;   // reuse earlier values: some nodes get 2 consumers
        wgml_graph *g = wgml_graph_create();
        inputs in = {0};
        int64_t shape[2] = {d[0], d[1]};
        int x = add_input(g, &in, 2, shape, trial, 0);
        int cur = x, hist[16] = {x}, nh = 1;
        char desc[256];
        size_t dn = snprintf(desc, sizeof desc, "chain %lldx%lld:", (long long)d[0], (long long)d[1]);
        for (int i = 0; i < len; i++) {
            int kind = rnd(6);
            if (kind == 0) cur = wgml_graph_scale(g, cur, 0.5f + rnd(100) / 100.f);
            else if (kind == 1) cur = wgml_graph_gelu(g, cur);
            else if (kind == 2) cur = wgml_graph_silu(g, cur);
            else if (kind == 3) cur = wgml_graph_dropout(g, cur, 0.25f, 1000u + trial);
            else {
                // Operand: same shape, a row vector, a column, a scalar, or an earlier value.
                int form = rnd(branchy ? 5 : 4), b;
                int64_t row[1] = {d[1]}, col[2] = {d[0], 1}, one[1] = {1};
                if (form == 0) b = add_input(g, &in, 2, shape, trial * 31 + i, 0);
                else if (form == 1) b = add_input(g, &in, 1, row, trial * 31 + i, 0);
                else if (form == 2) b = add_input(g, &in, 2, col, trial * 31 + i, 0);
                else if (form == 3) b = add_input(g, &in, 1, one, trial * 31 + i, 0);
                else b = hist[rnd(nh)];
                cur = kind == 4 ? wgml_graph_add(g, cur, b) : wgml_graph_mul(g, cur, b);
            }
            TEST_CHECK(cur >= 0, "building: %s", wgml_graph_error(g));
            if (nh < 16) hist[nh++] = cur;
            dn += snprintf(desc + dn, dn < sizeof desc ? sizeof desc - dn : 0, " %d", cur);
        }
        TEST_OK(gpu, wgml_graph_output(g, cur));
        if (branchy && len > 2) TEST_OK(gpu, wgml_graph_output(g, hist[1 + rnd(nh - 2)]));
        int kf, ku;
        if (run_and_check(gpu, g, &in, true, 0, 1e-6, desc, &kf)) return 1;
        if (run_and_check(gpu, g, &in, false, 0, 1e-6, desc, &ku)) return 1;
        TEST_CHECK(ku == len, "%s: unfused plan has %d kernels for %d ops", desc, ku, len);
        TEST_CHECK(kf <= ku, "%s: fusion added kernels", desc);
        if (!branchy) TEST_CHECK(kf == 1, "%s: a plain chain gave %d kernels", desc, kf);
        printf("ok   %-60s %d ops -> %d kernel(s)\n", desc, len, kf);
        free_inputs(gpu, &in);
        wgml_graph_free(g);
    }
    return 0;
}

// ---------------------------------------------------------------- epilogues

static int check_pattern(wgml_gpu *gpu, wgml_graph *g, inputs *in, const char *what,
                         int want_kernels)
{
    int kf, ku;
    if (run_and_check(gpu, g, in, true, 0, 1e-6, what, &kf)) return 1;
    if (run_and_check(gpu, g, in, false, 0, 1e-6, what, &ku)) return 1;
    TEST_CHECK(kf == want_kernels, "%s: %d fused kernels, expected %d", what, kf, want_kernels);
    printf("ok   %-40s %d kernels -> %d\n", what, ku, kf);
    free_inputs(gpu, in);
    wgml_graph_free(g);
    return 0;
}

static int test_epilogues(wgml_gpu *gpu)
{
    static const int64_t sizes[][3] = {{1, 7, 9}, {65, 63, 17}, {128, 257, 64}};
    for (int s = 0; s < 3; s++) {
        int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        char what[96];
        inputs in = {0};
        wgml_graph *g = wgml_graph_create();
        // bias + activation after a GEMM
        int64_t sa[2] = {M, K}, sb[2] = {K, N}, sn[1] = {N};
        int a = add_input(g, &in, 2, sa, 1, 0), b = add_input(g, &in, 2, sb, 2, 0);
        int bias = add_input(g, &in, 1, sn, 3, 0);
        int y = wgml_graph_gelu(g, wgml_graph_add(g, wgml_graph_matmul(g, a, b), bias));
        TEST_OK(gpu, wgml_graph_output(g, y));
        snprintf(what, sizeof what, "matmul+bias+gelu %lldx%lldx%lld", (long long)M,
                 (long long)N, (long long)K);
        if (check_pattern(gpu, g, &in, what, 1)) return 1;

        // residual add before a norm, and bias + GELU + dropout after it
        int64_t sx[2] = {M, N};
        g = wgml_graph_create();
        int x = add_input(g, &in, 2, sx, 4, 0), r = add_input(g, &in, 2, sx, 5, 0);
        int gam = add_input(g, &in, 1, sn, 6, 0), bet = add_input(g, &in, 1, sn, 7, 0);
        int bb = add_input(g, &in, 1, sn, 8, 0);
        int h = wgml_graph_layernorm(g, wgml_graph_add(g, x, r), gam, bet, 1e-5f);
        y = wgml_graph_dropout(g, wgml_graph_gelu(g, wgml_graph_add(g, h, bb)), 0.1f, 42);
        TEST_OK(gpu, wgml_graph_output(g, y));
        snprintf(what, sizeof what, "add+layernorm+add+gelu+dropout %lldx%lld", (long long)M,
                 (long long)N);
        if (check_pattern(gpu, g, &in, what, 1)) return 1;

        // scale + additive mask before softmax (mask broadcast over rows)
        g = wgml_graph_create();
        x = add_input(g, &in, 2, sx, 9, 0);
        int mask = add_input(g, &in, 1, sn, 10, 0);
        y = wgml_graph_softmax(g, wgml_graph_add(g, wgml_graph_scale(g, x, 0.125f), mask));
        TEST_OK(gpu, wgml_graph_output(g, y));
        snprintf(what, sizeof what, "scale+mask+softmax %lldx%lld", (long long)M, (long long)N);
        if (check_pattern(gpu, g, &in, what, 1)) return 1;

        // rmsnorm with a residual: the sum is also an output, so it is kept
        g = wgml_graph_create();
        x = add_input(g, &in, 2, sx, 11, 0);
        r = add_input(g, &in, 2, sx, 12, 0);
        gam = add_input(g, &in, 1, sn, 13, 0);
        int sum = wgml_graph_add(g, x, r);
        y = wgml_graph_silu(g, wgml_graph_rmsnorm(g, sum, gam, 1e-6f));
        TEST_OK(gpu, wgml_graph_output(g, y));
        TEST_OK(gpu, wgml_graph_output(g, sum));
        snprintf(what, sizeof what, "add(out)+rmsnorm+silu %lldx%lld", (long long)M, (long long)N);
        if (check_pattern(gpu, g, &in, what, 2)) return 1;
    }
    return 0;
}

// ---------------------------------------------------------------- planner

// Random graphs: no two tensors whose lifetimes overlap share a buffer, and
// sharing never costs more than one buffer per tensor.
static int test_planner(wgml_gpu *gpu)
{
    for (int trial = 0; trial < 40; trial++) {
        wgml_graph *g = wgml_graph_create();
        int64_t shape[2] = {1 + rnd(40), 1 + rnd(300)}, row[1] = {shape[1]};
        int vals[64], nv = 0;
        vals[nv++] = wgml_graph_input(g, "x", 2, shape);
        int gam = wgml_graph_input(g, "g", 1, row), bet = wgml_graph_input(g, "b", 1, row);
        int steps = 4 + rnd(20);
        for (int i = 0; i < steps; i++) {
            int a = vals[nv - 1 - rnd(nv < 4 ? nv : 4)], b = vals[rnd(nv)], t;
            switch (rnd(6)) {
            case 0: t = wgml_graph_add(g, a, b); break;
            case 1: t = wgml_graph_mul(g, a, b); break;
            case 2: t = wgml_graph_gelu(g, a); break;
            case 3: t = wgml_graph_layernorm(g, a, gam, bet, 1e-5f); break;
            case 4: t = wgml_graph_softmax(g, a); break;
            default: t = wgml_graph_rmsnorm(g, a, gam, 1e-5f); break;
            }
            TEST_CHECK(t >= 0, "building: %s", wgml_graph_error(g));
            vals[nv++] = t;
        }
        TEST_OK(gpu, wgml_graph_output(g, vals[nv - 1]));
        for (int fuse = 0; fuse < 2; fuse++) {
            wgml_graph_options opt = {.no_fusion = !fuse};
            wgml_plan *p;
            TEST_OK(gpu, wgml_graph_compile(g, gpu, &opt, &p));
            int n = wgml_graph_tensor_count(g);
            for (int a = 0; a < n; a++) {
                wgml_plan_slot sa = wgml_plan_tensor_slot(p, a);
                if (sa.buffer < 0) continue;
                TEST_CHECK(sa.first >= 0 && sa.first <= sa.last, "tensor %d: bad lifetime", a);
                for (int b = a + 1; b < n; b++) {
                    wgml_plan_slot sb = wgml_plan_tensor_slot(p, b);
                    if (sb.buffer != sa.buffer) continue;
                    TEST_CHECK(sa.last < sb.first || sb.last < sa.first,
                               "tensors %d [%d,%d] and %d [%d,%d] share buffer %d while live",
                               a, sa.first, sa.last, b, sb.first, sb.last, sa.buffer);
                }
            }
            uint64_t planned, naive;
            wgml_plan_memory(p, &planned, &naive);
            TEST_CHECK(planned <= naive, "planned %llu > naive %llu", (unsigned long long)planned,
                       (unsigned long long)naive);
            wgml_plan_free(p);
        }
        wgml_graph_free(g);
    }
    // A long unfused chain ping-pongs between two buffers.
    wgml_graph *g = wgml_graph_create();
    int64_t shape[1] = {1000};
    int t = wgml_graph_input(g, "x", 1, shape);
    for (int i = 0; i < 20; i++) t = wgml_graph_gelu(g, t);
    TEST_OK(gpu, wgml_graph_output(g, t));
    wgml_graph_options opt = {.no_fusion = true};
    wgml_plan *p;
    TEST_OK(gpu, wgml_graph_compile(g, gpu, &opt, &p));
    uint64_t planned, naive;
    wgml_plan_memory(p, &planned, &naive);
    TEST_CHECK(planned == 2 * 4000 && naive == 19 * 4000, "chain: planned %llu, naive %llu",
               (unsigned long long)planned, (unsigned long long)naive);
    wgml_plan_free(p);
    wgml_graph_free(g);
    printf("ok   planner: 80 random plans without live sharing; chain 19 x 4000 B -> 2 buffers\n");
    return 0;
}

// ---------------------------------------------------------------- seq, errors

static int test_seq(wgml_gpu *gpu)
{
    int64_t shape[2] = {WGML_DIM_SEQ, 96}, row[1] = {96};
    for (int64_t seq = 1; seq <= 33; seq += 16) {
        wgml_graph *g = wgml_graph_create();
        inputs in = {0};
        int x = add_input(g, &in, 2, shape, 1, seq), gam = add_input(g, &in, 1, row, 2, seq);
        int y = wgml_graph_gelu(g, wgml_graph_rmsnorm(g, x, gam, 1e-6f));
        TEST_OK(gpu, wgml_graph_output(g, y));
        int k;
        char what[64];
        snprintf(what, sizeof what, "symbolic seq = %lld", (long long)seq);
        if (run_and_check(gpu, g, &in, true, seq, 1e-6, what, &k)) return 1;
        printf("ok   %s\n", what);
        free_inputs(gpu, &in);
        wgml_graph_free(g);
    }
    return 0;
}

static int test_errors(wgml_gpu *gpu)
{
    wgml_graph *g = wgml_graph_create();
    int64_t s1[2] = {4, 8}, s2[2] = {4, 7}, v[1] = {5};
    int a = wgml_graph_input(g, "a", 2, s1), b = wgml_graph_input(g, "b", 2, s2);
    TEST_CHECK(wgml_graph_add(g, a, b) == -1, "non-broadcastable shapes accepted");
    TEST_CHECK(strstr(wgml_graph_error(g), "broadcast"), "message: %s", wgml_graph_error(g));
    wgml_plan *p = NULL;
    TEST_CHECK(wgml_graph_compile(g, gpu, NULL, &p) == WGML_ERR_INVALID_ARGUMENT && !p,
               "a graph with an error compiled");
    wgml_graph_free(g);

    g = wgml_graph_create();
    a = wgml_graph_input(g, "a", 2, s1);
    int gam = wgml_graph_input(g, "g", 1, v);
    TEST_CHECK(wgml_graph_rmsnorm(g, a, gam, 1e-5f) == -1, "gamma of the wrong length accepted");
    wgml_graph_free(g);

    g = wgml_graph_create();
    int64_t sq[2] = {WGML_DIM_SEQ, 8};
    a = wgml_graph_input(g, "a", 2, sq);
    int y = wgml_graph_gelu(g, a);
    TEST_OK(gpu, wgml_graph_output(g, y));
    TEST_CHECK(wgml_graph_compile(g, gpu, NULL, &p) == WGML_ERR_INVALID_ARGUMENT,
               "symbolic dims compiled without seq_len");
    wgml_graph_options opt = {.seq_len = 3};
    TEST_OK(gpu, wgml_graph_compile(g, gpu, &opt, &p));
    float buf[24];
    TEST_CHECK(wgml_plan_write(p, a, buf, 23) == WGML_ERR_INVALID_ARGUMENT, "wrong size written");
    TEST_CHECK(wgml_plan_read(p, a, buf, 24) == WGML_ERR_INVALID_ARGUMENT, "an input was read");
    TEST_CHECK(wgml_plan_write(p, y, buf, 24) == WGML_ERR_INVALID_ARGUMENT, "an output written");
    wgml_plan_free(p);
    wgml_graph_free(g);
    printf("ok   graph errors\n");
    return 0;
}

// ---------------------------------------------------------------- encoder

// One BERT layer and its embeddings, as src/models/bert.c builds them:
// gather + position (an external buffer larger than the graph's view, at an
// offset) + token type, layernorm, QKV matmul_nt + bias, masked attention,
// output projection + residual + layernorm, GELU feed-forward, mean pooling
// with L2 normalisation. Padding differs per sequence; fused and unfused
// plans against the reference at two sequence lengths.
// With w16, the four matmul weights are f16 inputs (shader-f16 only); they
// run on the subgroup-matrix GEMM where the device has it, which rounds the
// activations to f16 as it stages them: NMSE up to 1e-5 then (1e-6 else).
// sgm_emulate: that GEMM through its plain-WGSL matrix layer, on any device.
static int test_encoder(wgml_gpu *gpu, bool w16, bool sgm_emulate)
{
    enum { B = 3, V = 50, D = 32, HEADS = 4, I = 64, MAXPOS = 40 };
    if (w16 && !wgml_gpu_info(gpu)->shader_f16) {
        printf("skip encoder_w16: the device has no shader-f16\n");
        return TEST_SKIP;
    }
    wgml_sgm_debug_emulate(sgm_emulate);
    double tol = w16 && wgml_sgm_available(gpu) ? 1e-5 : 1e-6;
#define WEIGHT(shape, seed) \
    (w16 ? add_input_f16(g, &in, 2, shape, seed) : add_input(g, &in, 2, shape, seed, seq))
    for (int64_t seq = 7; seq <= 33; seq += 26) {
        for (int fuse = 0; fuse < 2; fuse++) {
            wgml_graph *g = wgml_graph_create();
            inputs in = {0};
            int64_t sbl[2] = {B, WGML_DIM_SEQ}, spos[2] = {WGML_DIM_SEQ, D}, sd[1] = {D};
            int64_t sw[2] = {V, D}, sqkv[2] = {3 * D, D}, sb3[1] = {3 * D}, sdd[2] = {D, D};
            int64_t swi[2] = {I, D}, sbi[1] = {I}, swo[2] = {D, I};
            int ids = wgml_graph_input_u32(g, "ids", 2, sbl);
            uint32_t *idv = malloc(4 * B * seq);
            float *maskv = malloc(4 * B * seq), *wv = malloc(4 * B * seq);
            for (int b = 0; b < B; b++)
                for (int l = 0; l < seq; l++) {
                    bool pad = l >= seq - b * (seq / 3);   // b tokens fewer per sequence
                    idv[b * seq + l] = pad ? 0 : (uint32_t)(b * 31 + l * 7) % V;
                    maskv[b * seq + l] = pad ? -1e30f : 0.0f;
                    wv[b * seq + l] = pad ? 0.0f : 1.0f;
                }
            in.data[ids] = (float *)idv;
            in.u32[ids] = true;
            int mask = wgml_graph_input(g, "mask", 2, sbl);
            in.data[mask] = maskv;
            int weights = wgml_graph_input(g, "weights", 2, sbl);
            in.data[weights] = wv;
            int word = add_input(g, &in, 2, sw, 1, seq);
            // Position table: MAXPOS rows in a buffer at an aligned offset;
            // the graph sees its first seq rows.
            int pos = wgml_graph_input(g, "pos", 2, spos);
            uint64_t off = wgml_gpu_info(gpu)->min_storage_buffer_offset_alignment;
            float *posv = malloc(4 * MAXPOS * D);
            test_fill_uniform(posv, MAXPOS * D, -1.f, 1.f, 99);
            wgml_gpu_buf *pb;
            TEST_OK(gpu, wgml_gpu_buf_create(gpu, off + 4 * MAXPOS * D, "test.pos", &pb));
            TEST_OK(gpu, wgml_gpu_buf_write(gpu, pb, off, posv, 4 * MAXPOS * D));
            in.data[pos] = posv;   // the reference reads the first seq rows
            in.ext[in.n_ext++] = (wgml_graph_external){pos, {pb, off}};
            int type = add_input(g, &in, 1, sd, 2, seq);
            int g0 = add_input(g, &in, 1, sd, 3, seq), b0 = add_input(g, &in, 1, sd, 4, seq);
            int x = wgml_graph_layernorm(
                g, wgml_graph_add(g, wgml_graph_add(g, wgml_graph_gather(g, word, ids), pos), type),
                g0, b0, 1e-12f);
            int wqkv = WEIGHT(sqkv, 5), bqkv = add_input(g, &in, 1, sb3, 6, seq);
            int qkv = wgml_graph_add(g, wgml_graph_matmul_nt(g, x, wqkv), bqkv);
            int att = wgml_graph_attention(g, qkv, mask, HEADS, 1.0f / sqrtf(D / HEADS));
            int wo = WEIGHT(sdd, 7), bo = add_input(g, &in, 1, sd, 8, seq);
            int g1 = add_input(g, &in, 1, sd, 9, seq), b1 = add_input(g, &in, 1, sd, 10, seq);
            int h = wgml_graph_layernorm(
                g, wgml_graph_add(g, wgml_graph_add(g, wgml_graph_matmul_nt(g, att, wo), bo), x),
                g1, b1, 1e-12f);
            int wi = WEIGHT(swi, 11), bi = add_input(g, &in, 1, sbi, 12, seq);
            int f = wgml_graph_gelu(g, wgml_graph_add(g, wgml_graph_matmul_nt(g, h, wi), bi));
            int wo2 = WEIGHT(swo, 13), bo2 = add_input(g, &in, 1, sd, 14, seq);
            int g2 = add_input(g, &in, 1, sd, 15, seq), b2 = add_input(g, &in, 1, sd, 16, seq);
            int o = wgml_graph_layernorm(
                g, wgml_graph_add(g, wgml_graph_add(g, wgml_graph_matmul_nt(g, f, wo2), bo2), h),
                g2, b2, 1e-12f);
            int e = wgml_graph_pool(g, o, weights, WGML_POOL_MEAN, true);
            int cls = wgml_graph_pool(g, o, weights, WGML_POOL_CLS, false);
            TEST_CHECK(e >= 0 && cls >= 0, "building: %s", wgml_graph_error(g));
            TEST_OK(gpu, wgml_graph_output(g, e));
            TEST_OK(gpu, wgml_graph_output(g, cls));
            char what[64];
            snprintf(what, sizeof what, "encoder layer%s b=%d seq=%lld",
                     !w16 ? "" : wgml_sgm_available(gpu) ? " w16 sgm" : " w16", B, (long long)seq);
            int k;
            if (run_and_check(gpu, g, &in, fuse, seq, tol, what, &k)) return 1;
            // Fused: gather, embeddings layernorm, qkv, attention, 2 x (matmul,
            // layernorm), the feed-forward matmul, two pools.
            int want = fuse ? 11 : 20;
            TEST_CHECK(k == want, "%s: %d kernels, expected %d", what, k, want);
            printf("ok   %-40s %s, %d kernels\n", what, fuse ? "fused" : "unfused", k);
            free_inputs(gpu, &in);
            wgml_graph_free(g);
        }
    }
#undef WEIGHT
    if (w16) return 0;
    // Errors: ids must be u32, f32 ops refuse them, attention rows must split into heads.
    wgml_graph *g = wgml_graph_create();
    int64_t s2[2] = {2, 4}, s3[3] = {2, 4, 12}, tab[2] = {5, 3};
    int ids = wgml_graph_input_u32(g, "ids", 2, s2), f = wgml_graph_input(g, "f", 2, s2);
    int t = wgml_graph_input(g, "t", 2, tab), q = wgml_graph_input(g, "q", 3, s3);
    TEST_CHECK(wgml_graph_gather(g, t, f) == -1, "gather from f32 ids accepted");
    wgml_graph_free(g);
    g = wgml_graph_create();
    ids = wgml_graph_input_u32(g, "ids", 2, s2);
    TEST_CHECK(wgml_graph_gelu(g, ids) == -1, "gelu of u32 ids accepted");
    wgml_graph_free(g);
    g = wgml_graph_create();
    q = wgml_graph_input(g, "q", 3, s3);
    f = wgml_graph_input(g, "m", 2, s2);
    TEST_CHECK(wgml_graph_attention(g, q, f, 5, 1.0f) == -1, "12 columns as 3 x 5 heads accepted");
    TEST_CHECK(strstr(wgml_graph_error(g), "heads"), "message: %s", wgml_graph_error(g));
    wgml_graph_free(g);
    printf("ok   encoder graph errors\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_graph chains|epilogues|planner|seq|errors|encoder|encoder_w16|encoder_w16_sgm_emu\n");
        return 2;
    }
    wgml_gpu *gpu = test_gpu_create();
    const char *t = argv[1];
    int rc;
    if (!strcmp(t, "chains")) rc = test_chains(gpu);
    else if (!strcmp(t, "epilogues")) rc = test_epilogues(gpu);
    else if (!strcmp(t, "planner")) rc = test_planner(gpu);
    else if (!strcmp(t, "seq")) rc = test_seq(gpu);
    else if (!strcmp(t, "errors")) rc = test_errors(gpu);
    else if (!strcmp(t, "encoder")) rc = test_encoder(gpu, false, false);
    else if (!strcmp(t, "encoder_w16")) rc = test_encoder(gpu, true, false);
    else if (!strcmp(t, "encoder_w16_sgm_emu")) rc = test_encoder(gpu, true, true);
    else {
        fprintf(stderr, "unknown test '%s'\n", t);
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
