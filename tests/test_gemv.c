/*
 * GEMV (src/ops/gemv.h) and the weight quantisers (src/formats/quant.h).
 *
 *   test_gemv FORMAT MATH [N K [M]]   every shape N in {1, 7, 8, 9, 17, 255, 256, 257,
 *                              4097} x K in {32, 64, 96, 4096, 4128} (plus K
 *                              not a multiple of 4 or 8 for f32 and f16), each
 *                              reduction the device has (subgroup, shared),
 *                              against the C reference; exit 77 when the device
 *                              lacks what MATH needs
 *   test_gemv batch            M = 1..4 vectors per call
 *   (on a CPU device each shape takes a few variants, but f32 every one:
 *   see every_variant; WGML_TEST_ALL_VARIANTS=1 restores them all)
 *   test_gemv fused            the fused input rules (RMSNorm, SwiGLU) and the
 *                              accumulating output, against the C reference and
 *                              the ops they replace (bit for bit, or within
 *                              rounding where the shader compiler differs)
 *   test_gemv errors           bad arguments come back as statuses
 *   test_gemv quant_gguf FILE  the C quantisers against bytes the `gguf`
 *                              package wrote (scripts/gen_quant_testdata.py)
 *   test_gemv quant_roundtrip  quantise / dequantise error bounds, idempotence
 *   test_gemv pack             the GPU layout of the block formats
 *
 * What the reference models, and the thresholds (NMSE, normalised mean
 * squared error, against wgml_ref_gemv, which accumulates in double):
 *   float math     the weights the format stands for (wgml_quant_dequantize
 *                  of the same bytes: f16-rounded values for f16, d * q for
 *                  the others) times the f32 x. Only f32 rounding of the sums
 *                  differs: 1e-6 for every format.
 *   f16 math       the same f16 weights times x rounded to f16; the kernel
 *                  also rounds each product and each sum of eight to f16
 *                  (unit roundoff 2^-11): 1e-5.
 *   dot4, dot4_emulated   the same dequantised weights times x quantised as
 *                  wgml_ref_gemv_quantize_x does it, which the kernel matches
 *                  bit for bit (integer sums are exact): 1e-6. Against
 *                  unquantised x the error is ~1e-5, which the test also
 *                  prints, so a kernel that skipped or misplaced the
 *                  quantisation would fail.
 */
#include "core/half.h"
#include "ops/decoder.h"
#include "ops/gemv.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t NS[] = {1, 7, 8, 9, 17, 255, 256, 257, 4097};
static const uint32_t KS[] = {32, 64, 96, 4096, 4128};
// f32 and f16 rows also take K that are not multiples of 4 or 8.
static const uint32_t KS_ODD[] = {1, 7, 9, 17, 255, 258, 4097};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
// Host-only calls have no GPU to ask for a message.
#define HOST_OK(expr) TEST_CHECK((expr) == WGML_OK, "%s failed", #expr)

typedef struct matrix {
    uint32_t N, K;
    void *host;       // quant.h host layout
    float *deq;       // N x K: what the bytes stand for
    wgml_gpu_buf *w;  // GPU layout
} matrix;

// Random weights in the format, their dequantised values, and the GPU copy.
// Rows get different magnitudes, so per-row and per-block scales differ.
static int matrix_make(wgml_gpu *gpu, wgml_quant q, uint32_t N, uint32_t K, uint64_t seed,
                       matrix *mx)
{
    memset(mx, 0, sizeof *mx);
    mx->N = N;
    mx->K = K;
    size_t n = (size_t)N * K;
    float *w = malloc(4 * n);
    mx->deq = malloc(4 * n);
    mx->host = malloc(wgml_quant_bytes(q, N, K));
    void *packed = malloc(wgml_gemv_packed_bytes(q, N, K));
    TEST_CHECK(w && mx->deq && mx->host && packed, "out of memory");
    test_fill_uniform(w, n, -1.f, 1.f, seed);
    for (uint32_t r = 0; r < N; r++) {
        float s = 0.25f + (float)(r % 7);
        for (uint32_t k = 0; k < K; k++) w[(size_t)r * K + k] *= s;
    }
    TEST_CHECK(wgml_quant_quantize(q, w, mx->host, N, K) == WGML_OK, "quantize");
    TEST_CHECK(wgml_quant_dequantize(q, mx->host, mx->deq, N, K) == WGML_OK, "dequantize");
    TEST_CHECK(wgml_gemv_pack(q, mx->host, packed, N, K) == WGML_OK, "pack");
    mx->w = test_upload(gpu, packed, wgml_gemv_packed_bytes(q, N, K));
    TEST_CHECK(mx->w, "upload: %s", wgml_gpu_last_error(gpu));
    free(w);
    free(packed);
    return 0;
}

static void matrix_free(wgml_gpu *gpu, matrix *mx)
{
    wgml_gpu_buf_release(gpu, mx->w);
    free(mx->host);
    free(mx->deq);
    memset(mx, 0, sizeof *mx);
}

// Outputs of several runs in one buffer: [guard][y 0][guard][y 1]...[guard],
// each y's binding running to the end of the buffer, so a write past a
// payload lands in the next guard. One readback checks them all (CPU devices
// pay dearly for each submit and map).
enum { GUARD = 1024, MAX_RUNS = 20 };
static const uint32_t SENTINEL = 0x7fbadbadu;   // a NaN no kernel writes

typedef struct outs {
    wgml_gpu_buf *buf;
    uint64_t head, payload, stride, total;   // bytes
    int n;
} outs;

static int outs_create(wgml_gpu *gpu, uint64_t payload, int n, outs *o)
{
    uint64_t align = wgml_gpu_info(gpu)->min_storage_buffer_offset_alignment;
    o->head = (GUARD + align - 1) / align * align;
    o->payload = payload;
    o->stride = (payload + GUARD + align - 1) / align * align;
    o->total = o->head + o->stride * n;
    o->n = n;
    uint32_t *fill = malloc(o->total);
    TEST_CHECK(fill, "out of memory");
    for (uint64_t i = 0; i < o->total / 4; i++) fill[i] = SENTINEL;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, o->total, "test.gemv.y", &o->buf));
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, o->buf, 0, fill, o->total));
    free(fill);
    return 0;
}

static uint64_t outs_at(const outs *o, int i) { return o->head + (uint64_t)i * o->stride; }

// Records one GEMV per variant, submits once, compares each y with ref.
static int run_variants(wgml_gpu *gpu, const wgml_gemv_args *base, const wgml_gemv_variant *vs,
                        int nv, wgml_gpu_buf *bx, const float *ref, double tol,
                        const float *ref_alt, double *nmse_alt)
{
    uint32_t M = base->M ? base->M : 1;
    size_t ny = (size_t)M * base->N;
    outs o;
    if (outs_create(gpu, 4 * ny, nv, &o)) return 1;
    // x quantised once (variant.xquant ONCE) goes through one scratch, which
    // every such variant rewrites in turn.
    wgml_gpu_buf *xq;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, wgml_gemv_xq_bytes(base->K, M), "test.gemv.xq", &xq));
    wgml_gemv_variant resolved[MAX_RUNS];
    for (int i = 0; i < nv; i++) {
        wgml_gemv_args a = *base;
        a.variant = vs[i];
        if (vs[i].xquant == WGML_GEMV_XQ_ONCE) a.xq = (wgml_view){xq, 0};
        a.x = (wgml_view){bx, 0};
        a.y = (wgml_view){o.buf, outs_at(&o, i)};
        TEST_OK(gpu, wgml_gemv_resolve(gpu, &a, &resolved[i]));
        TEST_OK(gpu, wgml_op_gemv_ex(gpu, &a));
    }
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    uint8_t *all = malloc(o.total);
    TEST_CHECK(all, "out of memory");
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, o.buf, 0, all, o.total));
    for (int i = 0; i < nv; i++) {
        const wgml_gemv_variant *v = &resolved[i];
        char what[192];
        snprintf(what, sizeof what, "%s %s/%s tpr=%u rb=%u ur=%u wg=%u%s N=%u K=%u M=%u",
                 wgml_quant_name(base->format), wgml_gemv_math_name(v->math),
                 wgml_gemv_reduce_name(v->reduce), v->threads_per_row, v->rows_per_group,
                 v->units_in_flight, v->workgroup_size,
                 v->xquant == WGML_GEMV_XQ_ONCE ? " x-once" : "", base->N, base->K, M);
        uint64_t at = outs_at(&o, i);
        float *y = malloc(4 * ny);
        TEST_CHECK(y, "out of memory");
        memcpy(y, all + at, 4 * ny);
        double e = test_nmse(y, ref, ny);
        double e_alt = ref_alt ? test_nmse(y, ref_alt, ny) : 0;
        free(y);
        TEST_CHECK(e <= tol, "%s: nmse %.3g > %.3g", what, e, tol);
        if (ref_alt)
            printf("ok   %-52s nmse %.2e (vs unquantised x %.2e)\n", what, e, e_alt);
        else
            printf("ok   %-52s nmse %.2e\n", what, e);
        if (nmse_alt) *nmse_alt = e_alt;
    }
    // Every word outside the payloads keeps its sentinel.
    for (uint64_t b = 0; b + 4 <= o.total; b += 4) {
        bool inside = b >= o.head && (b - o.head) % o.stride < o.payload;
        TEST_CHECK(inside || !memcmp(all + b, &SENTINEL, 4),
                   "%s N=%u K=%u: a guard was overwritten at byte %llu",
                   wgml_quant_name(base->format), base->N, base->K, (unsigned long long)b);
    }
    free(all);
    wgml_gpu_buf_release(gpu, o.buf);
    wgml_gpu_buf_release(gpu, xq);
    return 0;
}

// x as the kernel's arithmetic sees it: rounded to f16, quantised, or as is.
static void model_x(wgml_gemv_math math, const float *x, float *xm, uint32_t M, uint32_t K)
{
    for (uint32_t m = 0; m < M; m++) {
        const float *xv = x + (size_t)m * K;
        float *o = xm + (size_t)m * K;
        if (math == WGML_GEMV_MATH_DOT4 || math == WGML_GEMV_MATH_DOT4_EMULATED)
            wgml_ref_gemv_quantize_x(xv, o, K);
        else if (math == WGML_GEMV_MATH_F16)
            for (uint32_t k = 0; k < K; k++) o[k] = wgml_f16_to_f32(wgml_f32_to_f16(xv[k]));
        else
            memcpy(o, xv, 4ull * K);
    }
}

static bool math_is_int(wgml_gemv_math m)
{
    return m == WGML_GEMV_MATH_DOT4 || m == WGML_GEMV_MATH_DOT4_EMULATED;
}

// How many variants each shape takes. Every variant is a pipeline, and CPU
// devices compile them slowly (lavapipe 1-4 s each from an empty shader
// cache, as in a clean CI run). The variants differ in structural code
// (reductions, rows per group, invocations per row) that every format
// shares, while the format code is the same in each: on a CPU device one
// format (f32) takes every variant and the others a few that still cover
// each reduction and partial groups of rows. GPUs, or WGML_TEST_ALL_VARIANTS=1,
// take every variant everywhere.
static bool cpu_device, in_batch;

static bool every_variant(wgml_quant q, wgml_gemv_math math)
{
    return !cpu_device || (q == WGML_QUANT_F32 && math == WGML_GEMV_MATH_FLOAT && !in_batch);
}

// One shape, every reduction (and a few threads-per-row choices on small N).
static int test_shape(wgml_gpu *gpu, wgml_quant q, wgml_gemv_math math, uint32_t N, uint32_t K,
                      uint32_t M, int *cases)
{
    matrix mx;
    if (matrix_make(gpu, q, N, K, (uint64_t)N * 7919 + K * 31 + q, &mx)) return 1;
    size_t nx = (size_t)M * K, ny = (size_t)M * N;
    float *x = malloc(4 * nx), *xm = malloc(4 * nx), *ref = malloc(4 * ny), *alt = malloc(4 * ny);
    TEST_CHECK(x && xm && ref && alt, "out of memory");
    test_fill_uniform(x, nx, -1.f, 1.f, (uint64_t)K * 13 + N + M);
    model_x(math, x, xm, M, K);
    wgml_ref_gemv(mx.deq, xm, ref, N, K, M);
    wgml_ref_gemv(mx.deq, x, alt, N, K, M);
    wgml_gpu_buf *bx = test_upload(gpu, x, 4 * nx);
    TEST_CHECK(bx, "upload: %s", wgml_gpu_last_error(gpu));

    double tol = math == WGML_GEMV_MATH_F16 ? 1e-5 : 1e-6;
    const wgml_device_info *d = wgml_gpu_info(gpu);
    bool sg = d->subgroups && d->subgroup_min_size == d->subgroup_max_size;
    bool every = every_variant(q, math);
    wgml_gemv_reduce reduces[] = {WGML_GEMV_REDUCE_SUBGROUP, WGML_GEMV_REDUCE_SHARED};
    wgml_gemv_args a = {.format = q, .w = {mx.w, 0}, .N = N, .K = K, .M = M};
    wgml_gemv_variant vs[MAX_RUNS];
    int nv = 0;
    for (int r = sg ? 0 : 1; r < 2; r++) {
        // The largest shapes with the automatic reduction only (CPU devices
        // are slow); every other shape with each.
        if (r == 1 && sg && (uint64_t)N * K > (1u << 22)) continue;
        wgml_gemv_variant v = {.reduce = reduces[r], .math = math}, auto_v;
        // The few variants: the automatic one with a subgroup reduction, and
        // groups of 2 rows with the shared one (partial groups where N is
        // odd); the batch test's M > 1 only the first (f32 takes both).
        if (!every && r == 1) {
            if (in_batch && sg && q != WGML_QUANT_F32) continue;
            v.rows_per_group = M <= 2 ? 2 : 1;
        }
        vs[nv++] = v;
        // The integer kernel on x quantised once by a pass of its own.
        if (math_is_int(math)) {
            wgml_gemv_variant once = v;
            once.xquant = WGML_GEMV_XQ_ONCE;
            vs[nv++] = once;
        }
        if ((uint64_t)N * K > (1u << 22)) continue;
        // Groups of 2 and 4 rows (N not a multiple of them: partial groups)
        // for one vector; for two, groups of 2 with one format.
        uint32_t rb_max = !every ? 1 : M == 1 && !in_batch ? 4 : M <= 2 && q == WGML_QUANT_Q4_0 ? 2 : 1;
        for (uint32_t rb = 2; rb <= rb_max; rb *= 2) {
            v.rows_per_group = rb;
            vs[nv++] = v;
        }
        v.rows_per_group = 0;
        // Eight units of a row in flight and workgroups of 64 (the rows a
        // workgroup covers, hence partial workgroups, change with both); on
        // CPU devices in the first two cases only (each adds seconds of
        // compiling there: 6 -> 44 s for every f32 shape on lavapipe).
        static int wide_cpu_cases = 0;
        if (every && M == 1 && !in_batch && (!cpu_device || wide_cpu_cases++ < 2)) {
            v.units_in_flight = 8;
            v.workgroup_size = 64;
            vs[nv++] = v;
            v.units_in_flight = v.workgroup_size = 0;
        }
        if (N > 17) continue;
        // Small N: also one row per workgroup, the narrowest rows, and groups
        // smaller than a subgroup (shuffle reduction); the few variants keep
        // the last, with the first reduction.
        if (!every && r != (sg ? 0 : 1)) continue;
        a.variant = v;
        TEST_OK(gpu, wgml_gemv_resolve(gpu, &a, &auto_v));
        bool sub = reduces[r] == WGML_GEMV_REDUCE_SUBGROUP;
        uint32_t more[3] = {256, sub ? d->subgroup_min_size : 1,
                            sub && d->subgroup_min_size >= 8 ? d->subgroup_min_size / 4 : 2};
        for (int j = every ? 0 : 2; j < (in_batch && every ? 2 : 3); j++)
            if (more[j] != auto_v.threads_per_row) {
                v.threads_per_row = more[j];
                v.rows_per_group = j == 2 && M <= 2 ? 2 : 0;
                vs[nv++] = v;
            }
    }
    double e_alt = 0;
    if (run_variants(gpu, &a, vs, nv, bx, ref, tol, math_is_int(math) ? alt : NULL, &e_alt))
        return 1;
    *cases += nv;
    // The quantisation of x must show: the modelled reference is closer.
    if (math_is_int(math) && K >= 64)
        TEST_CHECK(e_alt > 1e-7, "%s: the result does not look like quantised x "
                   "(nmse vs unquantised x %.3g)", wgml_quant_name(q), e_alt);
    wgml_gpu_buf_release(gpu, bx);
    free(x); free(xm); free(ref); free(alt);
    matrix_free(gpu, &mx);
    return 0;
}

static int test_format(wgml_gpu *gpu, wgml_quant q, wgml_gemv_math math, uint32_t only_n,
                       uint32_t only_k, uint32_t only_m)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    if (math == WGML_GEMV_MATH_F16 && !d->shader_f16) {
        printf("skip: the device has no shader-f16\n");
        return TEST_SKIP;
    }
    if (math == WGML_GEMV_MATH_DOT4 && !d->packed_dot4) {
        printf("skip: the device has no packed 4x8 integer dot product\n");
        return TEST_SKIP;
    }
    int cases = 0;
    if (only_n) {   // one shape, for debugging
        if (test_shape(gpu, q, math, only_n, only_k, only_m ? only_m : 1, &cases)) return 1;
        printf("%d cases passed\n", cases);
        return 0;
    }
    for (size_t i = 0; i < COUNT(NS); i++) {
        for (size_t j = 0; j < COUNT(KS); j++)
            if (test_shape(gpu, q, math, NS[i], KS[j], 1, &cases)) return 1;
        if (q == WGML_QUANT_F32 || (q == WGML_QUANT_F16 && math == WGML_GEMV_MATH_FLOAT))
            for (size_t j = 0; j < COUNT(KS_ODD); j++)
                if (test_shape(gpu, q, math, NS[i], KS_ODD[j], 1, &cases)) return 1;
        // K a multiple of 4 but not of 8 or 16 (f16 and i8 narrow units), and
        // i8 rows not a multiple of 32 (partial blocks of quantised x).
        if (q == WGML_QUANT_F16 && math == WGML_GEMV_MATH_FLOAT)
            if (test_shape(gpu, q, math, NS[i], 36, 1, &cases)) return 1;
        if (q == WGML_QUANT_I8)
            for (uint32_t k = 4; k <= 100; k += 48)   // 4, 52, 100
                if (test_shape(gpu, q, math, NS[i], k, 1, &cases)) return 1;
    }
    printf("%d cases passed\n", cases);
    return 0;
}

// ---------------------------------------------------------------- batch

static int test_batch(wgml_gpu *gpu)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    in_batch = true;
    int cases = 0;
    // Each format with M = 1..4 vectors; on a CPU device (see every_variant)
    // M = 1 is left to the format tests and each format but f32 takes one M
    // of 2..4 in turn.
    static const struct { wgml_quant q; wgml_gemv_math math; int dk; } fs[] = {
        {WGML_QUANT_F32, WGML_GEMV_MATH_FLOAT, 1},   // K not a multiple of 4
        {WGML_QUANT_F16, WGML_GEMV_MATH_FLOAT, 0},
        {WGML_QUANT_Q4_1, WGML_GEMV_MATH_FLOAT, 0},
        {WGML_QUANT_I8, WGML_GEMV_MATH_DOT4_EMULATED, -28},
        {WGML_QUANT_Q4_0, WGML_GEMV_MATH_DOT4_EMULATED, 0},
        {WGML_QUANT_Q8_0, WGML_GEMV_MATH_DOT4, 0},
        {WGML_QUANT_F16, WGML_GEMV_MATH_F16, 0},
    };
    static const uint32_t shapes[][2] = {{7, 96}, {257, 4128}};
    for (uint32_t M = 1; M <= WGML_GEMV_MAX_M; M++) {
        for (size_t f = 0; f < COUNT(fs); f++) {
            if (fs[f].math == WGML_GEMV_MATH_DOT4 && !d->packed_dot4) continue;
            if (fs[f].math == WGML_GEMV_MATH_F16 && !d->shader_f16) continue;
            if (cpu_device && (M == 1 || (f > 0 && M != 2 + f % (WGML_GEMV_MAX_M - 1))))
                continue;
            for (size_t s = 0; s < COUNT(shapes); s++)
                if (test_shape(gpu, fs[f].q, fs[f].math, shapes[s][0],
                               (uint32_t)((int)shapes[s][1] + fs[f].dk), M, &cases))
                    return 1;
        }
    }
    printf("%d cases passed\n", cases);
    return 0;
}

// ---------------------------------------------------------------- fused

// Fused input rules and the accumulating output, against the C reference
// and against the ops they replace (wgml_op_add_rmsnorm or wgml_op_swiglu,
// then the plain GEMV, then the residual add).
static int fused_case(wgml_gpu *gpu, wgml_quant q, wgml_gemv_math math, uint32_t N, uint32_t K,
                      uint32_t M, wgml_gemv_input in, wgml_gemv_variant var)
{
    matrix mx;
    if (matrix_make(gpu, q, N, K, (uint64_t)N * 131 + K + in, &mx)) return 1;
    uint32_t xc = in == WGML_GEMV_IN_SWIGLU ? 2 * K : K;   // x's columns
    size_t nx = (size_t)M * xc, nh = (size_t)M * K, ny = (size_t)M * N;
    float *x = malloc(4 * nx), *h = malloc(4 * nh), *hm = malloc(4 * nh), *gamma = malloc(4ull * K),
          *y0 = malloc(4 * ny), *ref = malloc(4 * ny), *got = malloc(4 * ny),
          *chain = malloc(4 * ny);
    TEST_CHECK(x && h && hm && gamma && y0 && ref && got && chain, "out of memory");
    test_fill_uniform(x, nx, -2.f, 2.f, K + 5ull * in);
    test_fill_uniform(gamma, K, 0.5f, 1.5f, 11);
    test_fill_uniform(y0, ny, -1.f, 1.f, 12);
    const float eps = 1e-5f;
    // What the GEMV multiplies: the normalised or gated vectors.
    if (in == WGML_GEMV_IN_RMSNORM) {
        float *xc_ = malloc(4 * nx);
        TEST_CHECK(xc_, "out of memory");
        memcpy(xc_, x, 4 * nx);
        wgml_ref_add_rmsnorm(xc_, NULL, gamma, h, M, K, eps);
        free(xc_);
    } else {
        for (uint32_t m = 0; m < M; m++)
            wgml_ref_swiglu(x + (size_t)m * 2 * K, x + (size_t)m * 2 * K + K, h + (size_t)m * K, K);
    }
    model_x(math, h, hm, M, K);
    wgml_ref_gemv(mx.deq, hm, ref, N, K, M);
    for (size_t i = 0; i < ny; i++) ref[i] += y0[i];
    wgml_gpu_buf *bx = test_upload(gpu, x, 4 * nx), *bg = test_upload(gpu, gamma, 4ull * K),
                 *by = test_upload(gpu, y0, 4 * ny), *bh, *bt;
    TEST_CHECK(bx && bg && by, "upload: %s", wgml_gpu_last_error(gpu));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4 * nh, "test.h", &bh));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4 * ny, "test.t", &bt));
    wgml_gpu_buf *bq = NULL;
    if (var.xquant == WGML_GEMV_XQ_ONCE)
        TEST_OK(gpu, wgml_gpu_buf_create(gpu, wgml_gemv_xq_bytes(K, M), "test.xq", &bq));
    // Fused.
    wgml_gemv_args a = {.format = q, .w = {mx.w, 0}, .x = {bx, 0}, .y = {by, 0}, .N = N, .K = K,
                        .M = M, .variant = var, .input = in, .gamma = {bg, 0}, .eps = eps,
                        .accumulate = true, .xq = {bq, 0}};
    a.variant.math = math;
    TEST_OK(gpu, wgml_op_gemv_ex(gpu, &a));
    // The ops it replaces.
    if (in == WGML_GEMV_IN_RMSNORM) {
        wgml_mat none = {0};
        TEST_OK(gpu, wgml_op_add_rmsnorm(gpu, wgml_mat_of((wgml_view){bx, 0}, K), none,
                                         (wgml_view){bg, 0}, wgml_mat_of((wgml_view){bh, 0}, K),
                                         M, K, eps));
    } else {
        TEST_OK(gpu, wgml_op_swiglu(gpu, (wgml_mat){{bx, 0}, 0, 2 * K},
                                    (wgml_mat){{bx, 0}, K, 2 * K}, (wgml_view){bh, 0}, M, K));
    }
    wgml_gemv_args b = {.format = q, .w = {mx.w, 0}, .x = {bh, 0}, .y = {bt, 0}, .N = N, .K = K,
                        .M = M, .variant = var, .xq = {bq, 0}};
    b.variant.math = math;
    TEST_OK(gpu, wgml_op_gemv_ex(gpu, &b));
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, by, 0, got, 4 * ny));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, bt, 0, chain, 4 * ny));
    for (size_t i = 0; i < ny; i++) chain[i] = y0[i] + chain[i];
    double e = test_nmse(got, ref, ny);
    char what[160];
    snprintf(what, sizeof what, "%s %s %s rb=%u tpr=%u%s N=%u K=%u M=%u", wgml_quant_name(q),
             wgml_gemv_math_name(math), in == WGML_GEMV_IN_RMSNORM ? "rmsnorm" : "swiglu",
             var.rows_per_group, var.threads_per_row,
             var.xquant == WGML_GEMV_XQ_ONCE ? " x-once" : "", N, K, M);
    TEST_CHECK(e <= 1e-6, "%s: nmse %.3g against the reference", what, e);
    // The same arithmetic as the unfused ops: bit for bit where the shader
    // compiler treats both kernels alike (lavapipe); NVIDIA's compiles
    // silu(g) * u differently inside the GEMV (the H100 run), within
    // rounding.
    size_t diff = 0;
    for (size_t i = 0; i < ny; i++) diff += memcmp(&got[i], &chain[i], 4) != 0;
    double e_chain = test_nmse(got, chain, ny);
    TEST_CHECK(e_chain <= 1e-12, "%s: %zu of %zu values differ from the unfused ops' (nmse "
               "%.3g)", what, diff, ny, e_chain);
    if (diff)
        printf("ok   %-60s nmse %.2e; %zu of %zu values differ from the unfused ops' by "
               "rounding (nmse %.1e)\n", what, e, diff, ny, e_chain);
    else
        printf("ok   %-60s nmse %.2e, equal to the unfused ops\n", what, e);
    wgml_gpu_buf *bufs[] = {bx, bg, by, bh, bt, bq};
    for (size_t i = 0; i < COUNT(bufs); i++) wgml_gpu_buf_release(gpu, bufs[i]);
    free(x); free(h); free(hm); free(gamma); free(y0); free(ref); free(got); free(chain);
    matrix_free(gpu, &mx);
    return 0;
}

static int test_fused(wgml_gpu *gpu)
{
    const wgml_device_info *d = wgml_gpu_info(gpu);
    static const uint32_t shapes[][3] = {{7, 64, 1}, {257, 576, 1}, {33, 4128, 3}};
    wgml_gemv_math maths[] = {WGML_GEMV_MATH_FLOAT, WGML_GEMV_MATH_DOT4_EMULATED,
                              WGML_GEMV_MATH_DOT4};
    wgml_quant qs[] = {WGML_QUANT_Q4_1, WGML_QUANT_Q8_0, WGML_QUANT_F16};
    int cases = 0;
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int in = WGML_GEMV_IN_RMSNORM; in <= WGML_GEMV_IN_SWIGLU; in++) {
            // CPU devices: the RMSNorm input on the smallest shape and SwiGLU
            // on the one with 3 vectors (each case is a pipeline, two with the
            // unfused chain; see every_variant).
            if (cpu_device && s != (in == WGML_GEMV_IN_RMSNORM ? 0u : 2u)) continue;
            for (size_t qi = 0; qi < COUNT(qs); qi++)
                for (size_t mi = 0; mi < COUNT(maths); mi++) {
                    wgml_gemv_math math = maths[mi];
                    if (qs[qi] == WGML_QUANT_F16 && math != WGML_GEMV_MATH_FLOAT) continue;
                    if (math == WGML_GEMV_MATH_DOT4 && !d->packed_dot4) continue;
                    // 2 or 4 rows a group, at most 4 sums an invocation (rows x
                    // vectors: more compile very slowly on CPU devices).
                    uint32_t rb = (uint32_t)(1 + (s + mi) % 2) * 2;
                    while (rb > 1 && rb * shapes[s][2] > 4) rb /= 2;
                    // Workgroups of 64 with the fused norm (its reduction
                    // spans the workgroup), 4 units in flight with SwiGLU.
                    wgml_gemv_variant v = {
                        .rows_per_group = rb,
                        .workgroup_size = in == WGML_GEMV_IN_RMSNORM ? 64 : 0,
                        .units_in_flight = in == WGML_GEMV_IN_SWIGLU ? 4 : 0};
                    if (fused_case(gpu, qs[qi], math, shapes[s][0], shapes[s][1], shapes[s][2],
                                   (wgml_gemv_input)in, v))
                        return 1;
                    cases++;
                    // The integer kernel on x quantised once: the pass
                    // applies the input rule (emulated dot products only on
                    // CPU devices: each case is two more pipelines).
                    if (math == WGML_GEMV_MATH_FLOAT ||
                        (cpu_device && math != WGML_GEMV_MATH_DOT4_EMULATED))
                        continue;
                    v.xquant = WGML_GEMV_XQ_ONCE;
                    if (fused_case(gpu, qs[qi], math, shapes[s][0], shapes[s][1], shapes[s][2],
                                   (wgml_gemv_input)in, v))
                        return 1;
                    cases++;
                }
        }
    printf("%d cases passed\n", cases);
    return 0;
}

// ---------------------------------------------------------------- errors

static int expect_status(wgml_gpu *gpu, const wgml_gemv_args *a, wgml_status want, const char *what)
{
    wgml_status st = wgml_op_gemv_ex(gpu, a);
    TEST_CHECK(st == want, "%s: got %s (%s), want %s", what, wgml_status_name(st),
               wgml_gpu_last_error(gpu), wgml_status_name(want));
    printf("ok   %-40s %s\n", what, wgml_gpu_last_error(gpu));
    wgml_gpu_clear_error(gpu);
    return 0;
}

static int test_errors(wgml_gpu *gpu)
{
    wgml_gpu_buf *b;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1 << 16, "test.gemv", &b));
    wgml_view v = {b, 0};
    wgml_gemv_args base = {.format = WGML_QUANT_Q4_0, .w = v, .x = v, .y = v, .N = 8, .K = 64};
    wgml_gemv_args a = base;
    a.N = 0;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "N = 0")) return 1;
    a = base;
    a.K = 48;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "q4_0 with K = 48")) return 1;
    a = base;
    a.format = WGML_QUANT_I8;
    a.K = 30;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "i8 with K = 30")) return 1;
    a = base;
    a.M = WGML_GEMV_MAX_M + 1;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "M past the maximum")) return 1;
    a = base;
    a.N = 4096;
    a.K = 4096;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "weights larger than the view")) return 1;
    a = base;
    a.format = WGML_QUANT_F32;
    a.variant.math = WGML_GEMV_MATH_DOT4_EMULATED;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "integer math on f32")) return 1;
    a = base;
    a.variant.math = WGML_GEMV_MATH_F16;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "f16 math on q4_0")) return 1;
    a = base;
    a.variant.threads_per_row = 48;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "threads_per_row 48")) return 1;
    a = base;
    a.variant.units_in_flight = 3;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "units_in_flight 3")) return 1;
    a = base;
    a.variant.math = WGML_GEMV_MATH_DOT4_EMULATED;
    a.variant.xquant = WGML_GEMV_XQ_ONCE;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "x once without a scratch")) return 1;
    a.xq = v;   // the buffer x and y use
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "x once into x's buffer")) return 1;
    a.variant.xquant = (wgml_gemv_xquant)9;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "x quantisation 9")) return 1;
    a = base;
    a.variant.workgroup_size = 100;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "workgroup_size 100")) return 1;
    a = base;
    a.variant.workgroup_size = 64;
    a.variant.threads_per_row = 128;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "threads_per_row past the workgroup"))
        return 1;
    a = base;
    a.format = (wgml_quant)99;
    if (expect_status(gpu, &a, WGML_ERR_INVALID_ARGUMENT, "unknown format")) return 1;
    wgml_gpu_buf_release(gpu, b);
    return 0;
}

// ---------------------------------------------------------------- quantisers

static size_t hex_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (s[0] && s[1] && n < cap) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

// Reads the f32 words of a "NAME HEX HEX ..." line.
static size_t read_words(char *line, float *out, size_t cap)
{
    size_t n = 0;
    char *save = NULL;
    strtok_r(line, " \n", &save);
    for (char *tok = strtok_r(NULL, " \n", &save); tok && n < cap; tok = strtok_r(NULL, " \n", &save)) {
        uint32_t u = (uint32_t)strtoul(tok, NULL, 16);
        memcpy(&out[n++], &u, 4);
    }
    return n;
}

static int test_quant_gguf(const char *path)
{
    FILE *f = fopen(path, "r");
    TEST_CHECK(f, "cannot open %s", path);
    enum { CAP = 1 << 16 };
    static char line[CAP * 10];
    static float x[CAP], deq[CAP], want_deq[CAP];
    static uint8_t want[CAP * 2], got[CAP * 2];
    char name[64] = "";
    size_t K = 0;
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (!strncmp(line, "case ", 5)) {
            TEST_CHECK(sscanf(line + 5, "%63s %zu", name, &K) == 2 && K <= CAP, "bad case line");
            continue;
        }
        if (!strncmp(line, "f32 ", 4)) {
            TEST_CHECK(read_words(line, x, CAP) == K, "%s: bad f32 line", name);
            continue;
        }
        char fmt[16];
        TEST_CHECK(sscanf(line, "%15s", fmt) == 1, "bad line");
        bool is_deq = strstr(fmt, ".deq") != NULL;
        if (is_deq) *strstr(fmt, ".deq") = 0;
        int q = wgml_quant_by_name(fmt);
        TEST_CHECK(q >= 0, "unknown format '%s'", fmt);
        uint64_t bytes = wgml_quant_bytes(q, 1, K);
        if (!is_deq) {
            size_t n = hex_decode(line + strlen(fmt) + 1, want, sizeof want);
            TEST_CHECK(n == bytes, "%s %s: %zu bytes, want %llu", name, fmt, n,
                       (unsigned long long)bytes);
            TEST_CHECK(wgml_quant_quantize(q, x, got, 1, K) == WGML_OK, "quantize");
            for (size_t i = 0; i < n; i++)
                TEST_CHECK(got[i] == want[i], "%s %s: byte %zu is %02x, gguf wrote %02x", name,
                           fmt, i, got[i], want[i]);
        } else {
            TEST_CHECK(read_words(line, want_deq, CAP) == K, "%s: bad deq line", name);
            TEST_CHECK(wgml_quant_dequantize(q, want, deq, 1, K) == WGML_OK, "dequantize");
            TEST_CHECK(!memcmp(deq, want_deq, 4 * K), "%s %s: dequantised values differ from "
                       "gguf's", name, fmt);
        }
        printf("ok   %-12s %-8s%s K=%zu\n", name, fmt, is_deq ? " dequantise" : " quantise", K);
        checked++;
    }
    fclose(f);
    TEST_CHECK(checked >= 30, "only %d records in %s", checked, path);
    printf("%d records match gguf\n", checked);
    return 0;
}

static int test_quant_roundtrip(void)
{
    const uint32_t N = 33, K = 256;
    size_t n = (size_t)N * K;
    float *w = malloc(4 * n), *d1 = malloc(4 * n), *d2 = malloc(4 * n);
    uint8_t *q1 = malloc(2 * n + 4 * N), *q2 = malloc(2 * n + 4 * N);
    TEST_CHECK(w && d1 && d2 && q1 && q2, "out of memory");
    test_fill_uniform(w, n, -1.f, 1.f, 99);
    for (size_t i = 0; i < n; i++) w[i] *= (float)(1 + i % 5) * (i % 97 == 0 ? 40.f : 1.f);
    // Largest error per element relative to the block's (row's) range, NMSE bound.
    static const struct { wgml_quant q; double step, nmse; } F[] = {
        {WGML_QUANT_F16, 0, 1e-6},   {WGML_QUANT_I8, 1.0 / 127, 1e-2},   // one scale per row: outliers cost
        {WGML_QUANT_Q8_0, 1.0 / 127, 1e-3}, {WGML_QUANT_Q4_0, 2.0 / 8, 1e-1},   // d = max / -8: the other sign clips at 7 d
        {WGML_QUANT_Q4_1, 1.0 / 15, 1e-1},
    };
    for (size_t f = 0; f < COUNT(F); f++) {
        wgml_quant q = F[f].q;
        uint64_t bytes = wgml_quant_bytes(q, N, K);
        HOST_OK(wgml_quant_quantize(q, w, q1, N, K));
        HOST_OK(wgml_quant_dequantize(q, q1, d1, N, K));
        double e = test_nmse(d1, w, n);
        TEST_CHECK(e <= F[f].nmse, "%s: round-trip nmse %.3g > %.3g", wgml_quant_name(q), e, F[f].nmse);
        // Every element within half a step (plus f16 rounding of the scale).
        uint32_t group = q == WGML_QUANT_I8 ? K : q == WGML_QUANT_F16 ? 1 : WGML_QUANT_BLOCK;
        for (size_t g = 0; g < n && F[f].step > 0; g += group) {
            float lo = w[g], hi = w[g], amax = 0;
            for (size_t i = g; i < g + group; i++) {
                lo = fminf(lo, w[i]);
                hi = fmaxf(hi, w[i]);
                amax = fmaxf(amax, fabsf(w[i]));
            }
            double range = q == WGML_QUANT_Q4_1 ? hi - lo : amax;
            for (size_t i = g; i < g + group; i++)
                TEST_CHECK(fabs(d1[i] - w[i]) <= range * (F[f].step * 0.5 + 2e-3) + 1e-30,
                           "%s: element %zu: %g became %g", wgml_quant_name(q), i, w[i], d1[i]);
        }
        // Quantising the dequantised values again gives the same quants.
        if (q != WGML_QUANT_Q4_1) {
            HOST_OK(wgml_quant_quantize(q, d1, q2, N, K));
            uint64_t cmp = q == WGML_QUANT_I8 ? n : bytes;   // i8: the quants, not the scales
            TEST_CHECK(!memcmp(q1, q2, cmp), "%s: quantising again changed the bytes",
                       wgml_quant_name(q));
            HOST_OK(wgml_quant_dequantize(q, q2, d2, N, K));
            TEST_CHECK(test_nmse(d2, d1, n) < 1e-12, "%s: second round trip moved", wgml_quant_name(q));
        }
        printf("ok   %-5s round trip nmse %.2e, %llu bytes for %zu values\n", wgml_quant_name(q),
               e, (unsigned long long)bytes, n);
    }
    // Bad K is refused.
    TEST_CHECK(wgml_quant_quantize(WGML_QUANT_Q8_0, w, q1, 1, 48) == WGML_ERR_INVALID_ARGUMENT,
               "q8_0 accepted K = 48");
    TEST_CHECK(wgml_quant_bytes(WGML_QUANT_I8, 3, 6) == 0, "i8 accepted K = 6");
    TEST_CHECK(wgml_quant_bytes(WGML_QUANT_Q4_1, 2, 64) == 80, "q4_1 size");
    free(w); free(d1); free(d2); free(q1); free(q2);
    return 0;
}

// The GPU layout: quants of every block in order, then the scales.
static int test_pack(void)
{
    const uint32_t N = 3, K = 96;
    float w[3 * 96];
    test_fill_uniform(w, COUNT(w), -2.f, 2.f, 5);
    static const wgml_quant qs[] = {WGML_QUANT_Q8_0, WGML_QUANT_Q4_0, WGML_QUANT_Q4_1};
    for (size_t i = 0; i < COUNT(qs); i++) {
        wgml_quant q = qs[i];
        uint8_t host[512], packed[512];
        uint64_t hb = wgml_quant_bytes(q, N, K), pb = wgml_gemv_packed_bytes(q, N, K);
        TEST_CHECK(pb == ((hb + 3) & ~3ull) && pb <= sizeof packed, "%s: packed size", wgml_quant_name(q));
        HOST_OK(wgml_quant_quantize(q, w, host, N, K));
        HOST_OK(wgml_gemv_pack(q, host, packed, N, K));
        size_t block = hb / (N * K / 32), scale = q == WGML_QUANT_Q4_1 ? 4 : 2, quant = block - scale;
        size_t nb = N * K / 32;
        for (size_t b = 0; b < nb; b++) {
            TEST_CHECK(!memcmp(packed + b * quant, host + b * block + scale, quant),
                       "%s: quants of block %zu", wgml_quant_name(q), b);
            TEST_CHECK(!memcmp(packed + nb * quant + b * scale, host + b * block, scale),
                       "%s: scale of block %zu", wgml_quant_name(q), b);
        }
        printf("ok   pack %s: %llu bytes\n", wgml_quant_name(q), (unsigned long long)pb);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_gemv FORMAT MATH | batch | fused | errors | quant_gguf FILE | "
                        "quant_roundtrip | pack\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);   // progress shows where a slow device is
    const char *which = argv[1];
    if (!strcmp(which, "quant_gguf")) return argc == 3 ? test_quant_gguf(argv[2]) : 2;
    if (!strcmp(which, "quant_roundtrip")) return test_quant_roundtrip();
    if (!strcmp(which, "pack")) return test_pack();
    int q = wgml_quant_by_name(which);
    wgml_gemv_math math = WGML_GEMV_MATH_AUTO;
    if (q >= 0) {
        const char *m = argc >= 3 ? argv[2] : "";
        for (int i = WGML_GEMV_MATH_FLOAT; i <= WGML_GEMV_MATH_DOT4_EMULATED; i++)
            if (!strcmp(m, wgml_gemv_math_name(i))) math = i;
        if (math == WGML_GEMV_MATH_AUTO) {
            fprintf(stderr, "test_gemv %s: name the math (float, f16, dot4, dot4_emulated)\n", which);
            return 2;
        }
    } else if (strcmp(which, "batch") && strcmp(which, "errors") && strcmp(which, "fused")) {
        fprintf(stderr, "unknown test '%s'\n", which);
        return 2;
    }
    wgml_gpu *gpu = test_gpu_create();
    const char *all = getenv("WGML_TEST_ALL_VARIANTS");
    cpu_device = !strcmp(wgml_gpu_info(gpu)->adapter_type, "cpu") && !(all && !strcmp(all, "1"));
    if (cpu_device)
        printf("a CPU device: the few variants a shape (every variant with f32; "
               "WGML_TEST_ALL_VARIANTS=1 for all)\n");
    int rc;
    if (q >= 0)
        rc = test_format(gpu, q, math, argc >= 5 ? (uint32_t)atoi(argv[3]) : 0,
                         argc >= 5 ? (uint32_t)atoi(argv[4]) : 0,
                         argc >= 6 ? (uint32_t)atoi(argv[5]) : 0);
    else if (!strcmp(which, "batch")) rc = test_batch(gpu);
    else if (!strcmp(which, "fused")) rc = test_fused(gpu);
    else rc = test_errors(gpu);
    wgml_gpu_free(gpu);
    return rc;
}
