/*
 * The subgroup-matrix GEMM (src/kernels/matmul_sgm.wgsl): tile
 * configurations, the matrix layer and the operand hooks its callers share
 * (matmul.c for f16 and f16-weight products, the graph executor's encoder
 * matmuls, decoder.c's quantised prefill GEMM).
 *
 * Dimension legend: A is M x K, B is K x N (B_T: N x K), C is M x N.
 *
 * The kernel's uniform (binding 0) is wgml_sgm_params; operand bindings are
 * 1 (A), 2 (B) and 3 (C), the hooks' own from 4 (graph epilogues).
 */
#ifndef WGML_MATMUL_SGM_H
#define WGML_MATMUL_SGM_H

#include "ops/ewise.h"
#include "ops/ops.h"

// A workgroup of wm x wn subgroups of 32, each owning tm x tn result
// matrices of 16 x 16: a (16 wm tm) x (16 wn tn) tile of C.
typedef struct wgml_sgm_config {
    uint32_t wm, wn, tm, tn;
} wgml_sgm_config;

typedef struct wgml_sgm_params {
    uint32_t M, N, K;
    uint32_t w_sc;               // u32 index of quantised weights' scales (matmul_q)
    uint32_t a_off, a_stride;    // A's first element and row stride, in elements
    uint32_t c_off, c_stride;    // C's
} wgml_sgm_params;

// Whether the kernel runs here: f16 x f16 -> f32 16 x 16 x 16 subgroup
// matrices with subgroups of exactly 32 and shader-f16, or the test
// stand-in (wgml_sgm_debug_emulate).
bool wgml_sgm_available(wgml_gpu *gpu);

// The configuration for an M x N x K product (forced, or by the number of
// workgroups each would give).
wgml_sgm_config wgml_sgm_pick(wgml_gpu *gpu, uint32_t M, uint32_t N, uint32_t K);

// Whether the device's workgroup limits take this configuration.
bool wgml_sgm_config_fits(wgml_gpu *gpu, wgml_sgm_config cfg, bool b_t);

// Appends to `t` the configuration's constants, B's layout and the matrix
// layer (the device's or the stand-in); gives the grid for an M x N result.
// Fails (UNSUPPORTED) where the grid or the workgroup memory exceed the
// device's limits.
wgml_status wgml_sgm_prelude(wgml_gpu *gpu, wgml_text *t, wgml_sgm_config cfg, bool b_t,
                             uint32_t M, uint32_t N, uint32_t grid[3]);

// Completes a kernel whose prelude wgml_sgm_prelude and the hooks wrote in
// `t`. On the device's matrices it appends the template
// (src/kernels/matmul_sgm.wgsl) with the matrix layer's calls written in
// place as the builtins they wrap, not relying on the shader compiler to
// inline functions that take matrices; *family is then NULL and `t` is the
// whole kernel. Else *family is "matmul_sgm" and `t` its prelude.
void wgml_sgm_finish(wgml_text *t, const char **family);

// Operand hooks for A at binding 1: f16 (16-byte loads; a_off and a_stride
// multiples of 8, `vec4` must be true) or f32 (converted to f16 when staged;
// with `vec4`, 16-byte loads: a_off and a_stride multiples of 4 and the
// view 16-byte aligned; else element loads).
void wgml_sgm_emit_a(wgml_text *t, wgml_dtype a_type, bool vec4);
// B at binding 2 in f16: K x N (b_t false; N a multiple of 8) or N x K.
void wgml_sgm_emit_b_f16(wgml_text *t, bool b_t);

// ---------------------------------------------------------------- tests and sweeps

// The candidate configurations, largest tiles first.
size_t wgml_sgm_configs(const wgml_sgm_config **out);
// With `on`, wgml_sgm_available is true on any device with shader-f16 and
// the kernels take matmul_sgm_emu.wgsl, a plain-WGSL matrix layer: tests on
// CPU devices. Process-wide; for tests only.
void wgml_sgm_debug_emulate(bool on);
bool wgml_sgm_emulated(void);
// Timing experiments (process-wide; wgml_sgm_prelude and wgml_sgm_finish
// read them): WGML_SGM_XP_NO_EPILOGUE skips the result's way out;
// WGML_SGM_XP_WRAPPED calls the device's matrix builtins through the matrix
// layer's functions instead of in place; WGML_SGM_XP_DEPTH2 fetches two
// steps ahead instead of one; WGML_SGM_XP_NO_STAGE stages step 0 only (no
// global loads or staging in the loop: the products alone; wrong results).
enum {
    WGML_SGM_XP_NO_EPILOGUE = 1,
    WGML_SGM_XP_WRAPPED = 2,
    WGML_SGM_XP_DEPTH2 = 4,
    WGML_SGM_XP_NO_STAGE = 8,
};
void wgml_sgm_debug_variant(unsigned flags);
// Forces configuration `index` of wgml_sgm_configs (-1: the heuristic).
// Process-wide; for tests and timing sweeps only.
void wgml_sgm_debug_force(int index);

#endif
