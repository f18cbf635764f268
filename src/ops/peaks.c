// The device's two ceilings, measured by micro-kernels: copy bandwidth (a
// vec4 copy, bytes read + written) and FMA throughput (independent FMA chains
// in registers). Together they draw the roofline every kernel is held to.
#include "ops/ewise.h"
#include "ops/ops_internal.h"
#include "ops/peaks.h"

#include <stdio.h>
#include <stdlib.h>

enum {
    FMA_WG = 256,
    FMA_CHAINS = 8,   // independent accumulators per invocation (vec4 each)
};

// Chains long enough that the dispatch is all arithmetic: each iteration does
// FMA_CHAINS independent vec4 FMAs (2 flops per lane each).
static void emit_fma_kernel(wgml_text *t, bool f16, uint32_t iters)
{
    const char *type = f16 ? "f16" : "f32";
    wgml_text_printf(t,
        "%s"
        "alias S = %s;\n"
        "@group(0) @binding(1) var<storage, read_write> out: array<f32>;\n"
        "@compute @workgroup_size(%d)\n"
        "fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {\n"
        "    let i = gid.y * nw.x * %du + gid.x;\n"
        "    let a = vec4<S>(S(1.0) + S(f32(i & 7u)) * S(1e-3));\n"
        "    let b = vec4<S>(S(0.999));\n",
        f16 ? "enable f16;\n" : "", type, FMA_WG, FMA_WG);
    for (int c = 0; c < FMA_CHAINS; c++)
        wgml_text_printf(t, "    var x%d = a + vec4<S>(S(%d) * S(1e-4));\n", c, c);
    wgml_text_printf(t, "    for (var k = 0u; k < %uu; k++) {\n", iters);
    for (int c = 0; c < FMA_CHAINS; c++) wgml_text_printf(t, "        x%d = fma(x%d, b, a);\n", c, c);
    wgml_text_printf(t, "    }\n    var s = vec4<f32>(0.0);\n");
    for (int c = 0; c < FMA_CHAINS; c++) wgml_text_printf(t, "    s += vec4<f32>(x%d);\n", c);
    // The write depends on every chain, so none is optimised away.
    wgml_text_printf(t, "    out[i] = dot(s, vec4<f32>(1.0));\n}\n");
}

static wgml_status time_run(wgml_gpu *gpu, wgml_gpu_pipeline *p, wgml_gpu_buf *out, uint32_t gx,
                            uint32_t gy, int repeat, double *ns)
{
    wgml_gpu_binding b = {.buf = out};
    double best = -1;
    for (int r = 0; r < repeat; r++) {
        wgml_status st = wgml_gpu_begin(gpu, true);
        if (!st) st = wgml_gpu_dispatch(gpu, p, NULL, 0, &b, 1, gx, gy, 1);
        double t;
        if (!st) st = wgml_gpu_submit(gpu, &t);
        if (st) return st;
        if (t > 0 && (best < 0 || t < best)) best = t;
    }
    *ns = best;
    return best > 0 ? WGML_OK : WGML_ERR_UNSUPPORTED;
}

static wgml_status measure_fma(wgml_gpu *gpu, bool f16, bool quick, double *gflops)
{
    uint32_t iters = quick ? 64 : 1024;
    uint64_t threads = quick ? 1u << 14 : 1u << 22;
    wgml_text t = {0};
    emit_fma_kernel(&t, f16, iters);
    wgml_status st = t.failed ? WGML_ERR_OUT_OF_MEMORY : WGML_OK;
    wgml_gpu_pipeline *p = NULL;
    wgml_gpu_buf *out = NULL;
    uint32_t gx = 0, gy = 0;
    if (!st) {
        wgml_gpu_kernel k = {.family = "peak_fma", .source = t.s};
        st = wgml_gpu_pipeline_get(gpu, &k, &p);
    }
    if (!st) st = wgml_ops_grid(gpu, threads / FMA_WG, &gx, &gy);
    if (!st) st = wgml_gpu_buf_create(gpu, (uint64_t)gx * gy * FMA_WG * 4, "peak.fma", &out);
    double ns = 0;
    if (!st) st = time_run(gpu, p, out, gx, gy, quick ? 2 : 5, &ns);
    if (!st) {
        // vec4 lanes x chains x iterations x 2 flops per FMA.
        double flops = (double)gx * gy * FMA_WG * FMA_CHAINS * 4.0 * iters * 2.0;
        *gflops = flops / ns;
    }
    wgml_gpu_buf_release(gpu, out);
    wgml_text_free(&t);
    return st;
}

static wgml_status measure_copy(wgml_gpu *gpu, bool quick, double *gbs)
{
    // f32 elements: 4 MiB, or 64 MiB (past a 60 MB L2 both ways). 256 MiB needed
    // a second grid row and measured 3.25 TB/s on the H200 where the 64 MiB
    // elementwise kernels reach 3.9.
    uint64_t n = quick ? 1u << 20 : 1u << 24;
    wgml_ew_expr e = {.out_ndim = 1, .out_shape = {(int64_t)n}};
    int leaf = wgml_ew_add_leaf(&e, 1, e.out_shape);
    wgml_ew_add_apply(&e, WGML_EW_SCALE, &leaf, 1.0f, 0);
    wgml_ew_kernel k;
    wgml_gpu_buf *a = NULL, *b = NULL;
    wgml_status st = wgml_ew_kernel_build(gpu, &e, &k);
    if (!st) st = wgml_gpu_buf_create(gpu, n * 4, "peak.copy.in", &a);
    if (!st) st = wgml_gpu_buf_create(gpu, n * 4, "peak.copy.out", &b);
    double best = -1;
    const int iters = 10;   // per timed run: the pass's fixed cost is amortised
    for (int r = 0; r < (quick ? 2 : 5) && !st; r++) {
        st = wgml_gpu_begin(gpu, true);
        for (int i = 0; i < iters && !st; i++)
            st = wgml_ew_kernel_dispatch(gpu, &k, &(wgml_view){a, 0}, (wgml_view){b, 0});
        double t = -1;
        if (!st) st = wgml_gpu_submit(gpu, &t);
        if (!st && t > 0 && (best < 0 || t < best)) best = t;
    }
    if (!st && best <= 0) st = WGML_ERR_UNSUPPORTED;
    if (!st) *gbs = 8.0 * n * iters / best;
    wgml_gpu_buf_release(gpu, a);
    wgml_gpu_buf_release(gpu, b);
    return st;
}

wgml_status wgml_peaks_measure(wgml_gpu *gpu, bool quick, wgml_peaks *out)
{
    *out = (wgml_peaks){0};
    if (!wgml_gpu_info(gpu)->timestamp_query)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "measuring the device's peaks needs timestamp queries");
    wgml_status st = measure_copy(gpu, quick, &out->copy_gb_per_s);
    if (!st) st = measure_fma(gpu, false, quick, &out->fma_f32_gflop_per_s);
    if (!st && wgml_gpu_info(gpu)->shader_f16)
        st = measure_fma(gpu, true, quick, &out->fma_f16_gflop_per_s);
    if (st == WGML_ERR_UNSUPPORTED)
        wgml_gpu_fail(gpu, st, "timestamps gave no usable duration on this device");
    wgml_gpu_pool_trim(gpu);
    return st;
}

double wgml_peaks_bound_ns(const wgml_peaks *p, double bytes, double flops, bool f16)
{
    double fl = f16 && p->fma_f16_gflop_per_s > 0 ? p->fma_f16_gflop_per_s : p->fma_f32_gflop_per_s;
    double tb = p->copy_gb_per_s > 0 ? bytes / p->copy_gb_per_s : 0;
    double tf = fl > 0 ? flops / fl : 0;
    return tb > tf ? tb : tf;
}
