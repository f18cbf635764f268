/*
 * The decoder ops (src/ops/decoder.h) against their C references on random
 * inputs over awkward shapes, with sentinel guards around every output and
 * matrices that sit inside wider ones (offsets and row strides), so that a
 * kernel writing a wrong column or row is caught: the whole buffer is
 * compared, gaps included.
 *
 *   test_llama_ops rope|kv_store|rope_qkv|attn_decode|attn_prefill|add_rmsnorm|
 *                  swiglu|embed|matmul_q|matmul_q_sgm|matmul_q_sgm_emu|errors
 *   (kv_store_f16, rope_qkv_f16, attn_decode_f16, attn_prefill_f16: the same
 *   with f16 caches; skipped on devices without shader-f16)
 *
 * Thresholds (normalised mean squared error):
 *   rope, kv_store, rope_qkv (f32)   1e-10  f32 rotations with table cos/sin
 *                                           (f32-rounded) against double ones
 *   kv_store, rope_qkv (f16 cache)   1e-6   the reference rounded to f16 too;
 *                                           a rounding of an f32 that differs in
 *                                           its last bit may land one f16 step away
 *   attn_decode, attn_prefill        1e-8   f32 sums in another order than the
 *                                           double reference; f16 caches are
 *                                           compared against the f16 values
 *   add_rmsnorm, swiglu              1e-10
 *   embed                            1e-12  dequantisation is a product (and a
 *                                           sum for Q4_1) in f32, as the host's
 *   matmul_q                         1e-9   f32 sums over K <= 1536
 *   matmul_q_sgm[_emu]               1e-5   subgroup matrices: against a reference
 *                                           on x and weights rounded to f16 as the
 *                                           kernel rounds them (the f16 matmul's)
 */
#include "core/half.h"
#include "ops/decoder.h"
#include "ops/gemv.h"
#include "ops/matmul_sgm.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define HOST_OK(expr) TEST_CHECK((expr) == WGML_OK, "%s failed", #expr)

// A guarded buffer whose payload starts as `init` (n floats).
static int guarded_with(wgml_gpu *gpu, const float *init, size_t n, test_guarded *g)
{
    TEST_OK(gpu, test_guarded_create(gpu, 4 * n, g));
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, g->buf, g->head, init, 4 * n));
    return 0;
}

// Submits, reads the guarded payload (n floats) and compares it with ref.
static int check_guarded(wgml_gpu *gpu, test_guarded *g, const float *ref, size_t n, double tol,
                         const char *what)
{
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    float *y = malloc(g->payload);
    TEST_CHECK(y, "out of memory");
    int bad = test_guarded_read(gpu, g, y);
    double e = test_nmse(y, ref, n);
    free(y);
    TEST_CHECK(!bad, "%s: guard overwritten", what);
    TEST_CHECK(e <= tol, "%s: nmse %.3g > %.3g", what, e, tol);
    printf("ok   %-58s nmse %.2e\n", what, e);
    return 0;
}

static float *rand_floats(size_t n, float lo, float hi, uint64_t seed)
{
    float *x = malloc(4 * (n ? n : 1));
    if (x) test_fill_uniform(x, n, lo, hi, seed);
    return x;
}

static float round16(float x) { return wgml_f16_to_f32(wgml_f32_to_f16(x)); }

// ---------------------------------------------------------------- RoPE

typedef struct rope_case {
    uint32_t n, heads, hd, n_rot, pos;
    bool neox;
    float base, scale;
    bool factors, bias;
} rope_case;

static const rope_case ROPE_CASES[] = {
    {1, 1, 2, 2, 0, false, 10000.f, 1.f, false, false},
    {7, 3, 8, 8, 5, false, 10000.f, 1.f, false, true},
    {7, 3, 8, 8, 5, true, 10000.f, 1.f, false, true},
    {17, 9, 64, 64, 4000, false, 100000.f, 1.f, false, false},   // SmolLM2's heads, far positions
    {17, 9, 64, 64, 4000, true, 1000000.f, 1.f, false, false},
    {9, 2, 128, 64, 100, false, 10000.f, 0.25f, false, false},   // partial rotation, linear scaling
    {9, 2, 128, 64, 100, true, 10000.f, 0.25f, false, true},
    {257, 1, 64, 64, 0, false, 500000.f, 1.f, true, false},       // Llama 3.1 frequency factors
    {2, 14, 6, 4, 8190, true, 10000.f, 1.f, false, false},
};

// A rope table for positions 0 .. n_pos - 1, on the GPU.
static wgml_gpu_buf *rope_table(wgml_gpu *gpu, const wgml_rope_params *rp, uint32_t n_pos)
{
    float *t = malloc(4ull * n_pos * (rp->n_rot ? rp->n_rot : 2));
    if (!t) return NULL;
    wgml_rope_table_fill(rp, n_pos, t);
    wgml_gpu_buf *b = test_upload(gpu, t, 4ull * n_pos * (rp->n_rot ? rp->n_rot : 2));
    free(t);
    return b;
}

static void fill_factors(float *ff, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) ff[i] = 1.0f + (float)(i % 5) * 0.75f;
}

static int test_rope(wgml_gpu *gpu)
{
    for (size_t c = 0; c < COUNT(ROPE_CASES); c++) {
        const rope_case *rc = &ROPE_CASES[c];
        uint32_t width = rc->heads * rc->hd, stride = width + 5, off = 3;
        size_t total = off + (size_t)rc->n * stride;
        float ff[256];
        fill_factors(ff, rc->n_rot / 2);
        wgml_rope_params rp = {rc->n_rot, rc->neox, rc->base, rc->scale, rc->factors ? ff : NULL};
        float *x = rand_floats(total, -2.f, 2.f, c + 11), *ref = malloc(4 * total);
        float *bias = rand_floats(width, -1.f, 1.f, c + 12);
        TEST_CHECK(x && ref && bias, "out of memory");
        memcpy(ref, x, 4 * total);
        if (rc->bias)
            for (uint32_t r = 0; r < rc->n; r++)
                for (uint32_t i = 0; i < width; i++) ref[off + r * stride + i] += bias[i];
        wgml_ref_rope(&rp, ref + off, rc->n, stride, rc->heads, rc->hd, rc->pos);
        wgml_gpu_buf *tb = rope_table(gpu, &rp, rc->pos + rc->n), *bb = test_upload(gpu, bias, 4ull * width);
        TEST_CHECK(tb && bb, "upload: %s", wgml_gpu_last_error(gpu));
        test_guarded g;
        if (guarded_with(gpu, x, total, &g)) return 1;
        wgml_rope_args a = {.x = {g.view, off, stride}, .table = {tb, 0},
                            .bias = rc->bias ? (wgml_view){bb, 0} : (wgml_view){0},
                            .n = rc->n, .heads = rc->heads, .head_dim = rc->hd,
                            .n_rot = rc->n_rot, .pos = rc->pos, .neox = rc->neox};
        TEST_OK(gpu, wgml_op_rope(gpu, &a));
        char what[128];
        snprintf(what, sizeof what, "rope %s n=%u h=%u hd=%u rot=%u pos=%u%s%s",
                 rc->neox ? "neox" : "pairs", rc->n, rc->heads, rc->hd, rc->n_rot, rc->pos,
                 rc->factors ? " factors" : "", rc->bias ? " bias" : "");
        if (check_guarded(gpu, &g, ref, total, 1e-10, what)) return 1;
        test_guarded_free(gpu, &g);
        wgml_gpu_buf_release(gpu, tb);
        wgml_gpu_buf_release(gpu, bb);
        free(x); free(ref); free(bias);
    }
    // The table against angles in double precision: the f32 angles differ
    // by their rounding only (a few ulp of p * b^(-2i/R)).
    wgml_rope_params rp = {64, false, 100000.f, 1.f, NULL};
    uint32_t P = 8192;
    float *t = malloc(4ull * P * 64);
    TEST_CHECK(t, "out of memory");
    wgml_rope_table_fill(&rp, P, t);
    double worst = 0;
    for (uint32_t p = 0; p < P; p += 13)
        for (uint32_t i = 0; i < 32; i++) {
            double a = p * pow(100000.0, -2.0 * i / 64);
            double e = fabs(t[2 * (p * 32 + i)] - cos(a)) + fabs(t[2 * (p * 32 + i) + 1] - sin(a));
            worst = fmax(worst, e / fmax(1.0, a * 1e-6));
        }
    free(t);
    TEST_CHECK(worst < 1e-2, "rope table: angles off by %.3g", worst);
    printf("ok   rope table vs double angles (8192 positions): worst %.2e\n", worst);
    return 0;
}

// ---------------------------------------------------------------- KV cache

static int test_kv_store(wgml_gpu *gpu, bool f16)
{
    static const uint32_t cases[][5] = {   // n, kv heads, HD, rot, pos
        {1, 1, 4, 4, 0}, {7, 3, 64, 64, 9}, {17, 2, 128, 64, 100}, {3, 8, 8, 8, 61}, {64, 1, 64, 64, 0},
    };
    if (f16 && !wgml_gpu_info(gpu)->shader_f16) {
        printf("skip kv_store f16: the device has no shader-f16\n");
        return TEST_SKIP;
    }
    {
        wgml_dtype ct = f16 ? WGML_F16 : WGML_F32;
        for (size_t c = 0; c < COUNT(cases); c++)
            for (int rotate = 0; rotate < 2; rotate++) {
                uint32_t n = cases[c][0], hkv = cases[c][1], hd = cases[c][2], rot = cases[c][3],
                         pos = cases[c][4], C = pos + n + 3;
                uint32_t width = hkv * hd, stride = width + 7, off = 2;
                bool neox = c % 2, with_bias = c % 3 == 1;
                wgml_rope_params rp = {rot, neox, 10000.f, 1.f, NULL};
                size_t total = off + (size_t)n * stride, cache_n = (size_t)hkv * C * hd;
                float *src = rand_floats(total, -3.f, 3.f, 100 + c), *bias = rand_floats(width, -1, 1, c);
                float *rows = malloc(4 * total);
                // The cache starts full of other values, which must survive.
                float *cache = rand_floats(cache_n, -9.f, 9.f, 7 + c), *ref = malloc(4 * cache_n);
                TEST_CHECK(src && bias && rows && cache && ref, "out of memory");
                if (f16)
                    for (size_t i = 0; i < cache_n; i++) cache[i] = round16(cache[i]);
                memcpy(rows, src, 4 * total);
                if (with_bias)
                    for (uint32_t r = 0; r < n; r++)
                        for (uint32_t i = 0; i < width; i++) rows[off + r * stride + i] += bias[i];
                if (rotate) wgml_ref_rope(&rp, rows + off, n, stride, hkv, hd, pos);
                memcpy(ref, cache, 4 * cache_n);
                for (uint32_t r = 0; r < n; r++)
                    for (uint32_t h = 0; h < hkv; h++)
                        for (uint32_t d = 0; d < hd; d++) {
                            float v = rows[off + r * stride + h * hd + d];
                            ref[((size_t)h * C + pos + r) * hd + d] = f16 ? round16(v) : v;
                        }
                wgml_gpu_buf *bs = test_upload(gpu, src, 4 * total), *tb = rope_table(gpu, &rp, C),
                             *bb = test_upload(gpu, bias, 4ull * width);
                TEST_CHECK(bs && tb && bb, "upload: %s", wgml_gpu_last_error(gpu));
                test_guarded g;
                TEST_OK(gpu, test_guarded_create(gpu, cache_n * (f16 ? 2 : 4), &g));
                if (f16) {
                    uint16_t *h = calloc(cache_n + 1, 2);
                    TEST_CHECK(h, "out of memory");
                    for (size_t i = 0; i < cache_n; i++) h[i] = wgml_f32_to_f16(cache[i]);
                    TEST_OK(gpu, wgml_gpu_buf_write(gpu, g.buf, g.head, h, g.payload));
                    free(h);
                } else {
                    TEST_OK(gpu, wgml_gpu_buf_write(gpu, g.buf, g.head, cache, 4 * cache_n));
                }
                wgml_kv_store_args a = {.src = {{bs, 0}, off, stride},
                                        .bias = with_bias ? (wgml_view){bb, 0} : (wgml_view){0},
                                        .cache = g.view, .cache_type = ct, .capacity = C,
                                        .rotate = rotate, .table = {tb, 0}, .n_rot = rot,
                                        .neox = neox, .n = n, .kv_heads = hkv, .head_dim = hd,
                                        .pos = pos};
                TEST_OK(gpu, wgml_op_kv_store(gpu, &a));
                TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
                char what[128];
                snprintf(what, sizeof what, "kv_store %s %s n=%u hkv=%u hd=%u rot=%u pos=%u%s",
                         f16 ? "f16" : "f32", rotate ? (neox ? "rope-neox" : "rope") : "copy", n,
                         hkv, hd, rot, pos, with_bias ? " bias" : "");
                float *got = malloc(4 * cache_n);
                void *raw = malloc(g.payload);
                TEST_CHECK(got && raw, "out of memory");
                int bad = test_guarded_read(gpu, &g, raw);
                for (size_t i = 0; i < cache_n; i++)
                    got[i] = f16 ? wgml_f16_to_f32(((uint16_t *)raw)[i]) : ((float *)raw)[i];
                double e = test_nmse(got, ref, cache_n);
                TEST_CHECK(!bad, "%s: guard overwritten", what);
                TEST_CHECK(e <= (f16 ? 1e-6 : 1e-10), "%s: nmse %.3g", what, e);
                printf("ok   %-58s nmse %.2e\n", what, e);
                test_guarded_free(gpu, &g);
                wgml_gpu_buf_release(gpu, bs);
                wgml_gpu_buf_release(gpu, tb);
                wgml_gpu_buf_release(gpu, bb);
                free(src); free(bias); free(rows); free(cache); free(ref); free(got); free(raw);
            }
    }
    return 0;
}

// RoPE and both cache stores in one dispatch, against the references composed.
static int test_rope_qkv(wgml_gpu *gpu, bool f16)
{
    static const uint32_t cases[][6] = {   // n, H, HKV, HD, rot, pos
        {1, 1, 1, 4, 4, 0}, {7, 9, 3, 64, 64, 9}, {17, 8, 2, 128, 64, 100}, {64, 14, 2, 64, 64, 3},
    };
    if (f16 && !wgml_gpu_info(gpu)->shader_f16) {
        printf("skip rope_qkv f16: the device has no shader-f16\n");
        return TEST_SKIP;
    }
    wgml_dtype ct = f16 ? WGML_F16 : WGML_F32;
    for (size_t c = 0; c < COUNT(cases); c++) {
        uint32_t n = cases[c][0], H = cases[c][1], HKV = cases[c][2], hd = cases[c][3],
                 rot = cases[c][4], pos = cases[c][5], C = pos + n + 5;
        uint32_t heads = H + 2 * HKV, width = heads * hd, stride = width + 3, off = 2;
        bool neox = c % 2, with_bias = c != 2;
        wgml_rope_params rp = {rot, neox, 10000.f, 1.f, NULL};
        size_t total = off + (size_t)n * stride, cache_n = (size_t)HKV * C * hd;
        float *x = rand_floats(total, -3.f, 3.f, 300 + c), *bias = rand_floats(width, -1, 1, 400 + c);
        float *xr = malloc(4 * total), *kc = rand_floats(cache_n, -9, 9, 500 + c),
              *vc = rand_floats(cache_n, -9, 9, 600 + c), *kref = malloc(4 * cache_n),
              *vref = malloc(4 * cache_n);
        TEST_CHECK(x && bias && xr && kc && vc && kref && vref, "out of memory");
        if (f16)
            for (size_t i = 0; i < cache_n; i++) kc[i] = round16(kc[i]), vc[i] = round16(vc[i]);
        memcpy(xr, x, 4 * total);
        if (with_bias)
            for (uint32_t r = 0; r < n; r++)
                for (uint32_t i = 0; i < width; i++) xr[off + r * stride + i] += bias[i];
        wgml_ref_rope(&rp, xr + off, n, stride, H + HKV, hd, pos);   // q and k heads
        memcpy(kref, kc, 4 * cache_n);
        memcpy(vref, vc, 4 * cache_n);
        for (uint32_t r = 0; r < n; r++)
            for (uint32_t g = 0; g < HKV; g++)
                for (uint32_t d = 0; d < hd; d++) {
                    float k = xr[off + r * stride + (H + g) * hd + d];
                    float v = xr[off + r * stride + (H + HKV + g) * hd + d];
                    kref[((size_t)g * C + pos + r) * hd + d] = f16 ? round16(k) : k;
                    vref[((size_t)g * C + pos + r) * hd + d] = f16 ? round16(v) : v;
                }
        // The q columns change in place; the k and v columns stay as they were.
        float *xref = malloc(4 * total);
        TEST_CHECK(xref, "out of memory");
        memcpy(xref, x, 4 * total);
        for (uint32_t r = 0; r < n; r++)
            memcpy(xref + off + r * stride, xr + off + r * stride, 4ull * H * hd);
        wgml_gpu_buf *tb = rope_table(gpu, &rp, C), *bb = test_upload(gpu, bias, 4ull * width);
        TEST_CHECK(tb && bb, "upload: %s", wgml_gpu_last_error(gpu));
        test_guarded gx, gk, gv;
        if (guarded_with(gpu, x, total, &gx)) return 1;
        TEST_OK(gpu, test_guarded_create(gpu, cache_n * (f16 ? 2 : 4), &gk));
        TEST_OK(gpu, test_guarded_create(gpu, cache_n * (f16 ? 2 : 4), &gv));
        for (int which = 0; which < 2; which++) {
            float *src = which ? vc : kc;
            test_guarded *g = which ? &gv : &gk;
            if (f16) {
                uint16_t *h = calloc(cache_n + 1, 2);
                TEST_CHECK(h, "out of memory");
                for (size_t i = 0; i < cache_n; i++) h[i] = wgml_f32_to_f16(src[i]);
                TEST_OK(gpu, wgml_gpu_buf_write(gpu, g->buf, g->head, h, g->payload));
                free(h);
            } else {
                TEST_OK(gpu, wgml_gpu_buf_write(gpu, g->buf, g->head, src, 4 * cache_n));
            }
        }
        wgml_rope_qkv_args a = {.qkv = {gx.view, off, stride},
                                .bias = with_bias ? (wgml_view){bb, 0} : (wgml_view){0},
                                .table = {tb, 0}, .k_cache = gk.view, .v_cache = gv.view,
                                .cache_type = ct, .capacity = C, .n = n, .heads = H,
                                .kv_heads = HKV, .head_dim = hd, .n_rot = rot, .pos = pos,
                                .neox = neox};
        TEST_OK(gpu, wgml_op_rope_qkv(gpu, &a));
        char what[128];
        snprintf(what, sizeof what, "rope_qkv %s %s n=%u h=%u/%u hd=%u rot=%u pos=%u%s: q",
                 f16 ? "f16" : "f32", neox ? "neox" : "pairs", n, H, HKV, hd, rot, pos,
                 with_bias ? " bias" : "");
        if (check_guarded(gpu, &gx, xref, total, 1e-10, what)) return 1;
        for (int which = 0; which < 2; which++) {
            test_guarded *g = which ? &gv : &gk;
            void *raw = malloc(g->payload);
            float *got = malloc(4 * cache_n);
            TEST_CHECK(raw && got, "out of memory");
            int bad = test_guarded_read(gpu, g, raw);
            for (size_t i = 0; i < cache_n; i++)
                got[i] = f16 ? wgml_f16_to_f32(((uint16_t *)raw)[i]) : ((float *)raw)[i];
            double e = test_nmse(got, which ? vref : kref, cache_n);
            TEST_CHECK(!bad, "%s: cache guard overwritten", what);
            TEST_CHECK(e <= (f16 ? 1e-6 : 1e-10), "%s: %s cache nmse %.3g", what,
                       which ? "value" : "key", e);
            printf("ok   %-58s %s cache nmse %.2e\n", what, which ? "value" : "key", e);
            free(raw);
            free(got);
        }
        test_guarded_free(gpu, &gx);
        test_guarded_free(gpu, &gk);
        test_guarded_free(gpu, &gv);
        wgml_gpu_buf_release(gpu, tb);
        wgml_gpu_buf_release(gpu, bb);
        free(x); free(bias); free(xr); free(kc); free(vc); free(kref); free(vref); free(xref);
    }
    return 0;
}

// ---------------------------------------------------------------- attention

typedef struct attn_shape { uint32_t heads, kv_heads, hd; } attn_shape;

static const attn_shape ATTN_SHAPES[] = {
    {1, 1, 4}, {9, 3, 64}, {8, 2, 128}, {7, 7, 8}, {14, 2, 64}, {4, 1, 256},
};

static bool narrow_tile;   // decode: the 64-invocation tile kernel

// Runs decode (n == 1) or prefill over random q and caches and compares.
static int attn_case(wgml_gpu *gpu, bool decode, wgml_dtype kt, const attn_shape *s, uint32_t n,
                     uint32_t pos, uint64_t seed)
{
    uint32_t H = s->heads, HKV = s->kv_heads, HD = s->hd, C = pos + n + 2;
    uint32_t width = H * HD, q_stride = width + 2 * HKV * HD, q_off = 4;   // q inside a qkv-like row
    uint32_t out_stride = width + 3, out_off = 1;
    size_t q_total = q_off + (size_t)n * q_stride, out_total = out_off + (size_t)n * out_stride;
    size_t cache_n = (size_t)HKV * C * HD;
    // Scores of a few units: softmax weights far from uniform.
    float *q = rand_floats(q_total, -1.5f, 1.5f, seed), *k = rand_floats(cache_n, -1.5f, 1.5f, seed + 1),
          *v = rand_floats(cache_n, -2.f, 2.f, seed + 2);
    float *qc = malloc(4ull * n * width), *refc = malloc(4ull * n * width);
    float *out0 = rand_floats(out_total, -5.f, 5.f, seed + 3), *ref = malloc(4 * out_total);
    TEST_CHECK(q && k && v && qc && refc && out0 && ref, "out of memory");
    bool f16 = kt == WGML_F16;
    uint16_t *k16 = NULL, *v16 = NULL;
    if (f16) {
        k16 = calloc(cache_n + 2, 2);
        v16 = calloc(cache_n + 2, 2);
        TEST_CHECK(k16 && v16, "out of memory");
        for (size_t i = 0; i < cache_n; i++) {
            k16[i] = wgml_f32_to_f16(k[i]);
            v16[i] = wgml_f32_to_f16(v[i]);
            k[i] = wgml_f16_to_f32(k16[i]);
            v[i] = wgml_f16_to_f32(v16[i]);
        }
    }
    for (uint32_t r = 0; r < n; r++) memcpy(qc + (size_t)r * width, q + q_off + (size_t)r * q_stride, 4ull * width);
    float scale = 1.0f / sqrtf((float)HD);
    wgml_ref_attn_causal(qc, k, v, refc, n, pos, C, H, HKV, HD, scale);
    memcpy(ref, out0, 4 * out_total);
    for (uint32_t r = 0; r < n; r++)
        memcpy(ref + out_off + (size_t)r * out_stride, refc + (size_t)r * width, 4ull * width);
    size_t cb = cache_n * (f16 ? 2 : 4);
    wgml_gpu_buf *bq = test_upload(gpu, q, 4 * q_total), *bk = test_upload(gpu, f16 ? (void *)k16 : k, cb),
                 *bv = test_upload(gpu, f16 ? (void *)v16 : v, cb), *bs = NULL;
    TEST_CHECK(bq && bk && bv, "upload: %s", wgml_gpu_last_error(gpu));
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, wgml_attn_decode_scratch_bytes(H, HD, pos + n), "scratch", &bs));
    test_guarded g;
    if (guarded_with(gpu, out0, out_total, &g)) return 1;
    wgml_attn_args a = {.q = {{bq, 0}, q_off, q_stride}, .out = {g.view, out_off, out_stride},
                        .k = {bk, 0}, .v = {bv, 0}, .kv_type = kt, .scratch = {bs, 0}, .n = n,
                        .pos = pos, .capacity = C, .heads = H, .kv_heads = HKV, .head_dim = HD,
                        .scale = scale, .narrow_tile = narrow_tile};
    TEST_OK(gpu, decode ? wgml_op_attn_decode(gpu, &a) : wgml_op_attn_prefill(gpu, &a));
    char what[128];
    snprintf(what, sizeof what, "attn_%s%s %s h=%u hkv=%u hd=%u n=%u pos=%u",
             decode ? "decode" : "prefill", decode && narrow_tile ? "(narrow)" : "",
             f16 ? "f16" : "f32", H, HKV, HD, n, pos);
    if (check_guarded(gpu, &g, ref, out_total, 1e-8, what)) return 1;
    test_guarded_free(gpu, &g);
    wgml_gpu_buf_release(gpu, bq);
    wgml_gpu_buf_release(gpu, bk);
    wgml_gpu_buf_release(gpu, bv);
    wgml_gpu_buf_release(gpu, bs);
    free(q); free(k); free(v); free(qc); free(refc); free(out0); free(ref); free(k16); free(v16);
    return 0;
}

static int test_attn(wgml_gpu *gpu, bool decode, bool f16)
{
    // Decode: keys 1 .. 4097 (tile edges at 64); prefill: rows and positions.
    static const uint32_t decode_keys[] = {1, 7, 63, 64, 65, 257, 4097};
    static const uint32_t prefill_np[][2] = {{1, 0}, {2, 0}, {7, 3}, {64, 0}, {65, 0}, {130, 100}, {33, 257}};
    if (f16 && !wgml_gpu_info(gpu)->shader_f16) {
        printf("skip attn with f16 caches: the device has no shader-f16\n");
        return TEST_SKIP;
    }
    {
        wgml_dtype kt = f16 ? WGML_F16 : WGML_F32;
        for (size_t s = 0; s < COUNT(ATTN_SHAPES); s++) {
            if (decode) {
                // Both tile kernels (256 invocations, and the 64 of small devices).
                for (int nt = 0; nt < 2; nt++) {
                    narrow_tile = nt;
                    for (size_t i = 0; i < COUNT(decode_keys); i++) {
                        // The longest context for two shapes only: the reference is slow.
                        if (decode_keys[i] > 1000 && s != 1 && s != 2) continue;
                        if (attn_case(gpu, true, kt, &ATTN_SHAPES[s], 1, decode_keys[i] - 1,
                                      s * 100 + i))
                            return 1;
                    }
                }
            } else {
                for (size_t i = 0; i < COUNT(prefill_np); i++) {
                    if (ATTN_SHAPES[s].hd == 256 && prefill_np[i][0] > 64) continue;
                    if (attn_case(gpu, false, kt, &ATTN_SHAPES[s], prefill_np[i][0], prefill_np[i][1],
                                  s * 100 + i + 50))
                        return 1;
                }
            }
        }
    }
    return 0;
}

// ---------------------------------------------------------------- rows

static int test_add_rmsnorm(wgml_gpu *gpu)
{
    static const uint32_t shapes[][2] = {
        {1, 1}, {1, 7}, {7, 8}, {9, 9}, {17, 17}, {3, 255}, {2, 256}, {5, 257}, {2, 4097}, {257, 576},
    };
    const float eps = 1e-5f;
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int with_d = 0; with_d < 2; with_d++) {
            uint32_t n = shapes[s][0], C = shapes[s][1], xs = C + 3, ys = C + 1, xo = 5, yo = 2;
            size_t xt = xo + (size_t)n * xs, yt = yo + (size_t)n * ys;
            float *x = rand_floats(xt, -3.f, 4.f, s + 1), *d = rand_floats((size_t)n * C, -1, 1, s + 2);
            float *gm = rand_floats(C, 0.5f, 1.5f, s + 3), *y0 = rand_floats(yt, -7, 7, s + 4);
            float *xc = malloc(4ull * n * C), *yc = malloc(4ull * n * C), *xref = malloc(4 * xt),
                  *yref = malloc(4 * yt);
            TEST_CHECK(x && d && gm && y0 && xc && yc && xref && yref, "out of memory");
            for (uint32_t r = 0; r < n; r++) memcpy(xc + (size_t)r * C, x + xo + (size_t)r * xs, 4ull * C);
            wgml_ref_add_rmsnorm(xc, with_d ? d : NULL, gm, yc, n, C, eps);
            memcpy(xref, x, 4 * xt);
            memcpy(yref, y0, 4 * yt);
            for (uint32_t r = 0; r < n; r++) {
                memcpy(xref + xo + (size_t)r * xs, xc + (size_t)r * C, 4ull * C);
                memcpy(yref + yo + (size_t)r * ys, yc + (size_t)r * C, 4ull * C);
            }
            wgml_gpu_buf *bd = test_upload(gpu, d, 4ull * n * C), *bg = test_upload(gpu, gm, 4ull * C);
            TEST_CHECK(bd && bg, "upload: %s", wgml_gpu_last_error(gpu));
            test_guarded gx, gy;
            if (guarded_with(gpu, x, xt, &gx) || guarded_with(gpu, y0, yt, &gy)) return 1;
            TEST_OK(gpu, wgml_op_add_rmsnorm(gpu, (wgml_mat){gx.view, xo, xs},
                                             with_d ? wgml_mat_of((wgml_view){bd, 0}, C) : (wgml_mat){0},
                                             (wgml_view){bg, 0}, (wgml_mat){gy.view, yo, ys}, n, C, eps));
            char what[96];
            snprintf(what, sizeof what, "add_rmsnorm %ux%u%s: y", n, C, with_d ? "" : " (no add)");
            if (check_guarded(gpu, &gy, yref, yt, 1e-10, what)) return 1;
            snprintf(what, sizeof what, "add_rmsnorm %ux%u%s: x", n, C, with_d ? "" : " (no add)");
            if (check_guarded(gpu, &gx, xref, xt, 1e-12, what)) return 1;
            test_guarded_free(gpu, &gx);
            test_guarded_free(gpu, &gy);
            wgml_gpu_buf_release(gpu, bd);
            wgml_gpu_buf_release(gpu, bg);
            free(x); free(d); free(gm); free(y0); free(xc); free(yc); free(xref); free(yref);
        }
    return 0;
}

static int test_swiglu(wgml_gpu *gpu)
{
    static const uint32_t shapes[][2] = {{1, 1}, {1, 7}, {7, 9}, {17, 255}, {3, 257}, {2, 4097}, {257, 1536}, {70000, 3}};
    for (size_t s = 0; s < COUNT(shapes); s++) {
        uint32_t n = shapes[s][0], F = shapes[s][1];
        // gate and up as the two halves of one (n x 2F) matrix, as a fused projection writes them.
        size_t gt = 1 + (size_t)n * 2 * F, cnt = (size_t)n * F;
        float *gu = rand_floats(gt, -8.f, 8.f, s + 9), *g = malloc(4 * cnt), *u = malloc(4 * cnt),
              *ref = malloc(4 * cnt);
        TEST_CHECK(gu && g && u && ref, "out of memory");
        for (uint32_t r = 0; r < n; r++)
            for (uint32_t c = 0; c < F; c++) {
                g[(size_t)r * F + c] = gu[1 + (size_t)r * 2 * F + c];
                u[(size_t)r * F + c] = gu[1 + (size_t)r * 2 * F + F + c];
            }
        wgml_ref_swiglu(g, u, ref, cnt);
        wgml_gpu_buf *b = test_upload(gpu, gu, 4 * gt);
        TEST_CHECK(b, "upload: %s", wgml_gpu_last_error(gpu));
        test_guarded out;
        TEST_OK(gpu, test_guarded_create(gpu, 4 * cnt, &out));
        TEST_OK(gpu, wgml_op_swiglu(gpu, (wgml_mat){{b, 0}, 1, 2 * F}, (wgml_mat){{b, 0}, 1 + F, 2 * F},
                                    out.view, n, F));
        char what[64];
        snprintf(what, sizeof what, "swiglu %ux%u", n, F);
        if (check_guarded(gpu, &out, ref, cnt, 1e-10, what)) return 1;
        test_guarded_free(gpu, &out);
        wgml_gpu_buf_release(gpu, b);
        free(gu); free(g); free(u); free(ref);
    }
    return 0;
}

// ---------------------------------------------------------------- weights

typedef struct qmatrix {
    void *host;       // quant.h layout
    float *deq;       // N x K
    wgml_gpu_buf *w;  // GEMV layout
} qmatrix;

static int qmatrix_make(wgml_gpu *gpu, wgml_quant q, uint32_t N, uint32_t K, uint64_t seed,
                        qmatrix *m)
{
    size_t n = (size_t)N * K;
    float *w = rand_floats(n, -1.f, 1.f, seed);
    m->deq = malloc(4 * n);
    m->host = malloc(wgml_quant_bytes(q, N, K));
    void *packed = malloc(wgml_gemv_packed_bytes(q, N, K));
    TEST_CHECK(w && m->deq && m->host && packed, "out of memory");
    for (uint32_t r = 0; r < N; r++)   // rows of different magnitudes
        for (uint32_t k = 0; k < K; k++) w[(size_t)r * K + k] *= 0.25f + (float)(r % 5);
    HOST_OK(wgml_quant_quantize(q, w, m->host, N, K));
    HOST_OK(wgml_quant_dequantize(q, m->host, m->deq, N, K));
    HOST_OK(wgml_gemv_pack(q, m->host, packed, N, K));
    m->w = test_upload(gpu, packed, wgml_gemv_packed_bytes(q, N, K));
    TEST_CHECK(m->w, "upload: %s", wgml_gpu_last_error(gpu));
    free(w);
    free(packed);
    return 0;
}

static void qmatrix_free(wgml_gpu *gpu, qmatrix *m)
{
    wgml_gpu_buf_release(gpu, m->w);
    free(m->host);
    free(m->deq);
}

static const wgml_quant FORMATS[] = {WGML_QUANT_F32, WGML_QUANT_F16, WGML_QUANT_Q8_0,
                                     WGML_QUANT_Q4_0, WGML_QUANT_Q4_1};

static int test_embed(wgml_gpu *gpu)
{
    static const uint32_t shapes[][3] = {   // ids, V, D
        {1, 1, 32}, {7, 9, 64}, {17, 300, 576}, {257, 30, 96}, {3, 5, 4096}, {9, 11, 7}, {5, 3, 257},
    };
    for (size_t f = 0; f < COUNT(FORMATS); f++)
        for (size_t s = 0; s < COUNT(shapes); s++) {
            wgml_quant q = FORMATS[f];
            uint32_t n = shapes[s][0], V = shapes[s][1], D = shapes[s][2];
            if (!wgml_quant_k_valid(q, D)) continue;
            qmatrix m;
            if (qmatrix_make(gpu, q, V, D, s * 7 + f, &m)) return 1;
            uint32_t *ids = malloc(4ull * (n + 3));
            uint32_t os = D + 2, oo = 3;
            size_t ot = oo + (size_t)n * os;
            float *o0 = rand_floats(ot, -1, 1, s), *ref = malloc(4 * ot);
            TEST_CHECK(ids && o0 && ref, "out of memory");
            for (uint32_t i = 0; i < n + 3; i++) ids[i] = (i * 2654435761u) % V;
            if (n >= 7) ids[3 + 1] = V, ids[3 + 3] = V + 999u, ids[3 + 6] = UINT32_MAX;
            memcpy(ref, o0, 4 * ot);
            for (uint32_t r = 0; r < n; r++)
                for (uint32_t c = 0; c < D; c++)
                    ref[oo + (size_t)r * os + c] = ids[3 + r] < V ? m.deq[(size_t)ids[3 + r] * D + c] : 0.0f;
            wgml_gpu_buf *bi = test_upload(gpu, ids, 4ull * (n + 3));
            TEST_CHECK(bi, "upload: %s", wgml_gpu_last_error(gpu));
            test_guarded g;
            if (guarded_with(gpu, o0, ot, &g)) return 1;
            TEST_OK(gpu, wgml_op_embed(gpu, q, (wgml_view){m.w, 0}, (wgml_view){bi, 0}, 3,
                                       (wgml_mat){g.view, oo, os}, n, V, D));
            char what[96];
            snprintf(what, sizeof what, "embed %s %u ids of %ux%u", wgml_quant_name(q), n, V, D);
            if (check_guarded(gpu, &g, ref, ot, 1e-12, what)) return 1;
            test_guarded_free(gpu, &g);
            wgml_gpu_buf_release(gpu, bi);
            qmatrix_free(gpu, &m);
            free(ids); free(o0); free(ref);
        }
    return 0;
}

// variant TILED: the f32 kernel against the f32 reference. SUBGROUP_MATRIX:
// the subgroup-matrix kernel (with sgm_emulate, through its plain-WGSL
// matrix layer, on any shader-f16 device), which rounds x and the
// dequantised weights to f16: against a reference on those rounded values,
// at the f16 matmul's 1e-5. x alternates between offsets that allow its
// 16-byte loads and offsets that do not.
static int test_matmul_q(wgml_gpu *gpu, wgml_matmul_variant variant, bool sgm_emulate)
{
    static const uint32_t shapes[][3] = {   // M, N, K
        {1, 1, 32},   {7, 9, 32},     {17, 63, 64},  {65, 65, 96},  {130, 257, 576},
        {5, 1025, 64}, {257, 70, 1536}, {64, 64, 32}, {9, 7, 7},    {33, 17, 255},
    };
    bool sgm = variant == WGML_MATMUL_SUBGROUP_MATRIX;
    wgml_sgm_debug_emulate(sgm_emulate);
    if (sgm && !wgml_sgm_available(gpu)) {
        printf("skip matmul_q on subgroup matrices: the device has none%s\n",
               sgm_emulate ? " (nor shader-f16 for the stand-in)" : "");
        return TEST_SKIP;
    }
    int ran = 0;
    for (size_t f = 0; f < COUNT(FORMATS); f++)
        for (size_t s = 0; s < COUNT(shapes); s++) {
            wgml_quant q = FORMATS[f];
            uint32_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            if (!wgml_quant_k_valid(q, K)) continue;
            if (sgm && (K % 8 || (q != WGML_QUANT_F16 && q != WGML_QUANT_Q8_0 &&
                                  q != WGML_QUANT_Q4_0 && q != WGML_QUANT_Q4_1)))
                continue;
            qmatrix m;
            if (qmatrix_make(gpu, q, N, K, s * 13 + f, &m)) return 1;
            // x inside a wider matrix; y into a column range of a wider one.
            uint32_t xs = K + 4, xo = s % 2 ? 2 : 4, ys = N + 9, yo = 5;
            size_t xt = xo + (size_t)M * xs, yt = yo + (size_t)M * ys;
            float *x = rand_floats(xt, -1.f, 1.f, s + 77), *xc = malloc(4ull * M * K);
            float *yc = malloc(4ull * M * N), *y0 = rand_floats(yt, -3, 3, s), *ref = malloc(4 * yt);
            TEST_CHECK(x && xc && yc && y0 && ref, "out of memory");
            for (uint32_t r = 0; r < M; r++) memcpy(xc + (size_t)r * K, x + xo + (size_t)r * xs, 4ull * K);
            if (sgm) {
                for (size_t i = 0; i < (size_t)M * K; i++) xc[i] = wgml_f16_to_f32(wgml_f32_to_f16(xc[i]));
                for (size_t i = 0; i < (size_t)N * K; i++)
                    m.deq[i] = wgml_f16_to_f32(wgml_f32_to_f16(m.deq[i]));
            }
            wgml_ref_gemv(m.deq, xc, yc, N, K, M);
            memcpy(ref, y0, 4 * yt);
            for (uint32_t r = 0; r < M; r++) memcpy(ref + yo + (size_t)r * ys, yc + (size_t)r * N, 4ull * N);
            wgml_gpu_buf *bx = test_upload(gpu, x, 4 * xt);
            TEST_CHECK(bx, "upload: %s", wgml_gpu_last_error(gpu));
            test_guarded g;
            if (guarded_with(gpu, y0, yt, &g)) return 1;
            TEST_OK(gpu, wgml_op_matmul_q_variant(gpu, variant, q, (wgml_view){m.w, 0},
                                                  (wgml_mat){{bx, 0}, xo, xs},
                                                  (wgml_mat){g.view, yo, ys}, M, N, K));
            char what[96];
            snprintf(what, sizeof what, "matmul_q%s %s %ux%ux%u x+%u", sgm ? " sgm" : "",
                     wgml_quant_name(q), M, N, K, xo);
            if (check_guarded(gpu, &g, ref, yt, sgm ? 1e-5 : 1e-9, what)) return 1;
            ran++;
            test_guarded_free(gpu, &g);
            wgml_gpu_buf_release(gpu, bx);
            qmatrix_free(gpu, &m);
            free(x); free(xc); free(yc); free(y0); free(ref);
        }
    TEST_CHECK(ran >= 20, "only %d products ran", ran);
    return 0;
}

// ---------------------------------------------------------------- errors

static int test_errors(wgml_gpu *gpu)
{
    wgml_gpu_buf *b;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 4096, "errors", &b));
    wgml_view v = {b, 0};
    // Each call must fail with a status and a message, recording nothing.
    wgml_rope_args r = {.x = {v, 0, 64}, .table = v, .n = 1, .heads = 1, .head_dim = 7, .n_rot = 7};
    TEST_CHECK(wgml_op_rope(gpu, &r) == WGML_ERR_INVALID_ARGUMENT, "odd head size accepted");
    r.head_dim = 64;
    r.n_rot = 64;
    r.n = 100;   // 100 rows of 64 f32 do not fit 4096 bytes
    TEST_CHECK(wgml_op_rope(gpu, &r) == WGML_ERR_INVALID_ARGUMENT, "rope past the buffer accepted");
    wgml_kv_store_args k = {.src = {v, 0, 8}, .cache = v, .cache_type = WGML_F32, .capacity = 4,
                            .n = 2, .kv_heads = 1, .head_dim = 8, .pos = 3, .table = v};
    TEST_CHECK(wgml_op_kv_store(gpu, &k) == WGML_ERR_INVALID_ARGUMENT, "store past capacity accepted");
    wgml_attn_args a = {.q = {v, 0, 64}, .out = {v, 0, 64}, .k = v, .v = v, .kv_type = WGML_F32,
                        .scratch = v, .n = 2, .pos = 0, .capacity = 4, .heads = 3, .kv_heads = 2,
                        .head_dim = 8, .scale = 1};
    TEST_CHECK(wgml_op_attn_prefill(gpu, &a) == WGML_ERR_INVALID_ARGUMENT, "3 heads over 2 accepted");
    a.heads = 2;
    TEST_CHECK(wgml_op_attn_decode(gpu, &a) == WGML_ERR_INVALID_ARGUMENT, "decode of 2 rows accepted");
    a.n = 1;
    a.pos = 4;
    TEST_CHECK(wgml_op_attn_decode(gpu, &a) == WGML_ERR_INVALID_ARGUMENT, "position past the cache accepted");
    TEST_CHECK(wgml_op_matmul_q(gpu, WGML_QUANT_Q4_0, v, wgml_mat_of(v, 33), wgml_mat_of(v, 2), 1, 2, 33) ==
                   WGML_ERR_INVALID_ARGUMENT, "q4_0 with K = 33 accepted");
    TEST_CHECK(wgml_op_matmul_q(gpu, WGML_QUANT_I8, v, wgml_mat_of(v, 32), wgml_mat_of(v, 2), 1, 2, 32) ==
                   WGML_ERR_UNSUPPORTED, "i8 GEMM accepted");
    TEST_CHECK(wgml_op_add_rmsnorm(gpu, (wgml_mat){v, 0, 3}, (wgml_mat){0}, v, wgml_mat_of(v, 8), 2, 8,
                                   1e-5f) == WGML_ERR_INVALID_ARGUMENT, "stride below the row accepted");
    TEST_CHECK(strlen(wgml_gpu_last_error(gpu)) > 0, "no message");
    TEST_CHECK(wgml_gpu_pending_dispatches(gpu) == 0, "a failed op recorded work");
    wgml_gpu_buf_release(gpu, b);
    printf("ok   bad arguments give statuses and messages\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_llama_ops rope|kv_store[_f16]|rope_qkv[_f16]|attn_decode[_f16]|"
                        "attn_prefill[_f16]|add_rmsnorm|swiglu|embed|matmul_q[_sgm[_emu]]|errors\n");
        return 2;
    }
    const char *t = argv[1];
    wgml_gpu *gpu = test_gpu_create();
    int rc;
    if (!strcmp(t, "rope")) rc = test_rope(gpu);
    else if (!strcmp(t, "kv_store")) rc = test_kv_store(gpu, false);
    else if (!strcmp(t, "kv_store_f16")) rc = test_kv_store(gpu, true);
    else if (!strcmp(t, "rope_qkv")) rc = test_rope_qkv(gpu, false);
    else if (!strcmp(t, "rope_qkv_f16")) rc = test_rope_qkv(gpu, true);
    else if (!strcmp(t, "attn_decode")) rc = test_attn(gpu, true, false);
    else if (!strcmp(t, "attn_decode_f16")) rc = test_attn(gpu, true, true);
    else if (!strcmp(t, "attn_prefill")) rc = test_attn(gpu, false, false);
    else if (!strcmp(t, "attn_prefill_f16")) rc = test_attn(gpu, false, true);
    else if (!strcmp(t, "add_rmsnorm")) rc = test_add_rmsnorm(gpu);
    else if (!strcmp(t, "swiglu")) rc = test_swiglu(gpu);
    else if (!strcmp(t, "embed")) rc = test_embed(gpu);
    else if (!strcmp(t, "matmul_q")) rc = test_matmul_q(gpu, WGML_MATMUL_TILED, false);
    else if (!strcmp(t, "matmul_q_sgm")) rc = test_matmul_q(gpu, WGML_MATMUL_SUBGROUP_MATRIX, false);
    else if (!strcmp(t, "matmul_q_sgm_emu"))
        rc = test_matmul_q(gpu, WGML_MATMUL_SUBGROUP_MATRIX, true);
    else if (!strcmp(t, "errors")) rc = test_errors(gpu);
    else {
        fprintf(stderr, "unknown test '%s'\n", t);
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
