enable f16;
// C = A B (or A B^T) on subgroup (cooperative) matrices: 16 x 16 x 16 f16
// products accumulated in f32, where the device offers that configuration
// and subgroups of 32 (src/ops/matmul_sgm.c).
//
// A template with two kinds of hooks, both in the prelude:
//   the matrix layer (matmul_sgm_mx.wgsl, or matmul_sgm_emu.wgsl, a plain
//   WGSL stand-in that lets CPU devices test this file): types SML, SMR, SMA
//   and sm_init, sm_zero, sm_load_a, sm_load_b, sm_mma, sm_store;
//   the operands (matmul_sgm.c writes them per caller):
//     ARaw, fn a_fetch(r: u32, k: u32) -> ARaw, fn a_half8(v: ARaw) -> H8:
//       elements k .. k + 7 of row r of A (k % 8 == 0; zero past M or K),
//       fetched raw and converted to f16 only when staged, so that the
//       conversion (f32 activations, dequantisation) does not wait for the
//       load in the middle of the step;
//     BRaw, fn b_fetch(i: u32, j: u32) -> BRaw, fn b_half8(v: BRaw) -> H8:
//       elements j .. j + 7 of row i of B as stored: B (K x N) when B_T is
//       false, B^T (N x K, a Linear layer's weights) when it is true;
//     fn mm_store(r: u32, col: u32, v: f32): C's element (r, col), in range.
//
// A workgroup is WM x WN subgroups; each owns TM x TN result matrices, a
// (16 TM) x (16 TN) block of the workgroup's BM x BN tile of C. Matrix
// load offsets differ between the subgroups of a workgroup, which Tint's
// uniformity analysis cannot prove safe: the matrix layer turns the
// subgroup-matrix uniformity diagnostic off; every offset is uniform within
// its subgroup (it depends on the subgroup index and constants only).
//
// Per step of BK along K each invocation fetches A_PER chunks of A and
// B_PER of B (16 bytes of f16 each, once converted) for the next step into
// registers, runs the step's products from workgroup memory, then stages the
// chunks in the other half of the double buffer: one barrier per step, and
// the global loads in flight while the matrices multiply. Rows of the
// staged tiles are padded by 8 halves (80-byte rows for 32 halves): the
// 16-byte rows a matrix load reads fall in distinct banks.
//
// The result leaves through workgroup memory one 16 x 16 matrix per
// subgroup at a time (Cs, 1 KiB per subgroup), so that any epilogue hook
// sees plain (row, column, value) triples: WGSL gives no access to the
// elements of a subgroup matrix.

const BK: u32 = 32u;
const LDA: u32 = BK + 8u;   // padded row of the staged A tile, in halves

// The prelude sets the configuration as constants (workgroup arrays sized
// by overrides cannot be matrix load sources): WM, WN subgroups along M and
// N; TM, TN result matrices per subgroup along M and N (1, 2 or 4); B_T;
// DEPTH, how many steps ahead the global loads go (1 or 2).
const BM: u32 = WM * TM * 16u;
const BN: u32 = WN * TN * 16u;
const WG: u32 = WM * WN * 32u;
// Staged B: [n][k] rows of LDA halves (B_T), else [k][n] rows of BN + 8.
const LDB: u32 = select(BN + 8u, LDA, B_T);
const A_STAGE: u32 = BM * LDA;
const B_STAGE: u32 = select(BK * (BN + 8u), BN * LDA, B_T);
// 8-element chunks per invocation and step (1, 2 or 4; src/ops/matmul_sgm.c).
const A_PER: u32 = BM * (BK / 8u) / WG;
const B_PER: u32 = BN * (BK / 8u) / WG;

struct Params {
    M: u32,
    N: u32,
    K: u32,
    w_sc: u32,       // operand hooks: u32 index of quantised weights' scales
    a_off: u32,      // operand hooks: A's first element and row stride (elements)
    a_stride: u32,
    c_off: u32,      // store hooks: C's first element and row stride
    c_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> As: array<f16, 2u * A_STAGE>;   // two stages of [m][k]
var<workgroup> Bs: array<f16, 2u * B_STAGE>;   // two stages, layout by B_T
var<workgroup> Cs: array<f32, WM * WN * 256u>;   // a 16 x 16 result matrix per subgroup

struct H8 {
    lo: vec4<f16>,
    hi: vec4<f16>,
}

// Helpers for the operand hooks (the prelude adds h8_of_bits: 8 halves
// packed in a vec4<u32>, in memory order).
fn h8_of_f32(lo: vec4<f32>, hi: vec4<f32>) -> H8 {
    return H8(vec4<f16>(lo), vec4<f16>(hi));
}

fn put_a(o: u32, h: H8) {
    As[o] = h.lo.x;
    As[o + 1u] = h.lo.y;
    As[o + 2u] = h.lo.z;
    As[o + 3u] = h.lo.w;
    As[o + 4u] = h.hi.x;
    As[o + 5u] = h.hi.y;
    As[o + 6u] = h.hi.z;
    As[o + 7u] = h.hi.w;
}

fn put_b(o: u32, h: H8) {
    Bs[o] = h.lo.x;
    Bs[o + 1u] = h.lo.y;
    Bs[o + 2u] = h.lo.z;
    Bs[o + 3u] = h.lo.w;
    Bs[o + 4u] = h.hi.x;
    Bs[o + 5u] = h.hi.y;
    Bs[o + 6u] = h.hi.z;
    Bs[o + 7u] = h.hi.w;
}

// Chunk e of a step's A tile: (row, k) within the tile; four chunks a row,
// so neighbouring invocations read neighbouring 16-byte pieces.
fn a_at(e: u32) -> vec2<u32> {
    return vec2<u32>(e / (BK / 8u), (e % (BK / 8u)) * 8u);
}

// Chunk e of a step's B tile: (row, column) of the staged layout.
fn b_at(e: u32) -> vec2<u32> {
    if (B_T) { return vec2<u32>(e / (BK / 8u), (e % (BK / 8u)) * 8u); }
    return vec2<u32>(e / (BN / 8u), (e % (BN / 8u)) * 8u);
}

fn fetch_a(e: u32, row0: u32, k0: u32) -> ARaw {
    let c = a_at(e);
    return a_fetch(row0 + c.x, k0 + c.y);
}

fn fetch_b(e: u32, col0: u32, k0: u32) -> BRaw {
    let c = b_at(e);
    if (B_T) { return b_fetch(col0 + c.x, k0 + c.y); }
    return b_fetch(k0 + c.x, col0 + c.y);
}

// One step's chunks of A and B for one invocation, as fetched.
struct Regs {
    a0: ARaw, a1: ARaw, a2: ARaw, a3: ARaw,
    b0: BRaw, b1: BRaw, b2: BRaw, b3: BRaw,
}

fn fetch(li: u32, row0: u32, col0: u32, k0: u32) -> Regs {
    var r: Regs;
    r.a0 = fetch_a(li, row0, k0);
    if (A_PER > 1u) { r.a1 = fetch_a(li + WG, row0, k0); }
    if (A_PER > 2u) { r.a2 = fetch_a(li + 2u * WG, row0, k0); r.a3 = fetch_a(li + 3u * WG, row0, k0); }
    r.b0 = fetch_b(li, col0, k0);
    if (B_PER > 1u) { r.b1 = fetch_b(li + WG, col0, k0); }
    if (B_PER > 2u) { r.b2 = fetch_b(li + 2u * WG, col0, k0); r.b3 = fetch_b(li + 3u * WG, col0, k0); }
    return r;
}

fn stage_a(e: u32, base: u32, v: ARaw) {
    let c = a_at(e);
    put_a(base + c.x * LDA + c.y, a_half8(v));
}

fn stage_b(e: u32, base: u32, v: BRaw) {
    let c = b_at(e);
    put_b(base + c.x * LDB + c.y, b_half8(v));
}

// Converts and writes the chunks into stage `st` of the double buffer.
fn stage(li: u32, st: u32, r: Regs) {
    let na = st * A_STAGE;
    let nb = st * B_STAGE;
    stage_a(li, na, r.a0);
    if (A_PER > 1u) { stage_a(li + WG, na, r.a1); }
    if (A_PER > 2u) { stage_a(li + 2u * WG, na, r.a2); stage_a(li + 3u * WG, na, r.a3); }
    stage_b(li, nb, r.b0);
    if (B_PER > 1u) { stage_b(li + WG, nb, r.b1); }
    if (B_PER > 2u) { stage_b(li + 2u * WG, nb, r.b2); stage_b(li + 3u * WG, nb, r.b3); }
}

// Offset of the right matrix at (k, n) of a staged B tile.
fn b_off(k: u32, n: u32) -> u32 {
    if (B_T) { return n * LDB + k; }
    return k * LDB + n;
}

// One result matrix out: through this subgroup's Cs to the store hook, rows
// r .. r + 15 and columns c .. c + 15 of C.
fn emit(acc: SMA, cb: u32, lane: u32, r: u32, c: u32) {
    sm_store(cb, acc);
    workgroupBarrier();
    for (var t = 0u; t < 8u; t++) {
        let i = t * 32u + lane;
        let rr = r + i / 16u;
        let cc = c + i % 16u;
        if (rr < p.M && cc < p.N) { mm_store(rr, cc, Cs[cb + i]); }
    }
    workgroupBarrier();
}

// Matrix values live in named variables: arrays of them indexed in loops
// spilled to memory (12x slower on an H200). Statements for matrices a
// configuration lacks sit behind constant conditions, which shader
// translation folds away.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let sg = li / 32u;
    let lane = li % 32u;
    sm_init(lane);
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let sm0 = (sg / WN) * TM * 16u;   // this subgroup's block within the tile
    let sn0 = (sg % WN) * TN * 16u;

    var acc00 = sm_zero(); var acc01 = sm_zero(); var acc02 = sm_zero(); var acc03 = sm_zero();
    var acc10 = sm_zero(); var acc11 = sm_zero(); var acc12 = sm_zero(); var acc13 = sm_zero();
    var acc20 = sm_zero(); var acc21 = sm_zero(); var acc22 = sm_zero(); var acc23 = sm_zero();
    var acc30 = sm_zero(); var acc31 = sm_zero(); var acc32 = sm_zero(); var acc33 = sm_zero();

    // Step 0 straight into stage 0; with DEPTH 2, step 1 into registers q.
    let steps = (p.K + BK - 1u) / BK;
    var q = fetch(li, row0, col0, 0u);
    stage(li, 0u, q);
    var r = q;
    if (DEPTH > 1u && steps > 1u) { r = fetch(li, row0, col0, BK); }
    workgroupBarrier();

    for (var s = 0u; s < steps; s++) {
        let cur = s % 2u;
        // The global loads for a later step go out before this step's
        // products: DEPTH 1 fetches step s + 1 into q; DEPTH 2 fetches step
        // s + 2 into q or r by parity while the other holds step s + 1.
        if (DEPTH == 1u) {
            if (s + 1u < steps) { q = fetch(li, row0, col0, (s + 1u) * BK); }
        } else if (s + 2u < steps) {
            if (cur == 0u) { q = fetch(li, row0, col0, (s + 2u) * BK); }
            else { r = fetch(li, row0, col0, (s + 2u) * BK); }
        }
        let ab = cur * A_STAGE + sm0 * LDA;
        let bb = cur * B_STAGE;
        for (var kk = 0u; kk < BK; kk += 16u) {
            let a0 = sm_load_a(ab + kk);
            var a1 = a0;
            var a2 = a0;
            var a3 = a0;
            if (TM > 1u) { a1 = sm_load_a(ab + 16u * LDA + kk); }
            if (TM > 2u) { a2 = sm_load_a(ab + 32u * LDA + kk); a3 = sm_load_a(ab + 48u * LDA + kk); }
            let b0 = sm_load_b(bb + b_off(kk, sn0));
            var b1 = b0;
            var b2 = b0;
            var b3 = b0;
            if (TN > 1u) { b1 = sm_load_b(bb + b_off(kk, sn0 + 16u)); }
            if (TN > 2u) { b2 = sm_load_b(bb + b_off(kk, sn0 + 32u)); b3 = sm_load_b(bb + b_off(kk, sn0 + 48u)); }
            acc00 = sm_mma(a0, b0, acc00);
            if (TN > 1u) { acc01 = sm_mma(a0, b1, acc01); }
            if (TN > 2u) { acc02 = sm_mma(a0, b2, acc02); acc03 = sm_mma(a0, b3, acc03); }
            if (TM > 1u) {
                acc10 = sm_mma(a1, b0, acc10);
                if (TN > 1u) { acc11 = sm_mma(a1, b1, acc11); }
                if (TN > 2u) { acc12 = sm_mma(a1, b2, acc12); acc13 = sm_mma(a1, b3, acc13); }
            }
            if (TM > 2u) {
                acc20 = sm_mma(a2, b0, acc20);
                acc30 = sm_mma(a3, b0, acc30);
                if (TN > 1u) { acc21 = sm_mma(a2, b1, acc21); acc31 = sm_mma(a3, b1, acc31); }
                if (TN > 2u) {
                    acc22 = sm_mma(a2, b2, acc22); acc23 = sm_mma(a2, b3, acc23);
                    acc32 = sm_mma(a3, b2, acc32); acc33 = sm_mma(a3, b3, acc33);
                }
            }
        }
        if (s + 1u < steps && !XP_NO_STAGE) {
            if (DEPTH == 1u || cur == 1u) { stage(li, 1u - cur, q); } else { stage(li, 1u - cur, r); }
        }
        workgroupBarrier();
    }

    // Timing experiments only (wgml_sgm_debug_variant): no epilogue, with the
    // results kept alive by a condition that never holds.
    if (XP_NO_EPILOGUE && p.K != 0xffffffffu) { return; }
    let cb = sg * 256u;
    let r0 = row0 + sm0;
    let c0 = col0 + sn0;
    if (SM_EMULATED) {
        // One pair of barriers in a loop, not two per matrix: CPU devices
        // compile every barrier into a suspension point, slowly.
        for (var i = 0u; i < TM * TN; i++) {
            let rm = i / TN;   // matrix (rm, cn) of the subgroup's block
            let cn = i % TN;
            var acc = acc00;
            switch (rm * 4u + cn) {
                case 1u: { acc = acc01; }
                case 2u: { acc = acc02; }
                case 3u: { acc = acc03; }
                case 4u: { acc = acc10; }
                case 5u: { acc = acc11; }
                case 6u: { acc = acc12; }
                case 7u: { acc = acc13; }
                case 8u: { acc = acc20; }
                case 9u: { acc = acc21; }
                case 10u: { acc = acc22; }
                case 11u: { acc = acc23; }
                case 12u: { acc = acc30; }
                case 13u: { acc = acc31; }
                case 14u: { acc = acc32; }
                case 15u: { acc = acc33; }
                default: {}
            }
            emit(acc, cb, lane, r0 + rm * 16u, c0 + cn * 16u);
        }
        return;
    }
    emit(acc00, cb, lane, r0, c0);
    if (TN > 1u) { emit(acc01, cb, lane, r0, c0 + 16u); }
    if (TN > 2u) { emit(acc02, cb, lane, r0, c0 + 32u); emit(acc03, cb, lane, r0, c0 + 48u); }
    if (TM > 1u) {
        emit(acc10, cb, lane, r0 + 16u, c0);
        if (TN > 1u) { emit(acc11, cb, lane, r0 + 16u, c0 + 16u); }
        if (TN > 2u) { emit(acc12, cb, lane, r0 + 16u, c0 + 32u); emit(acc13, cb, lane, r0 + 16u, c0 + 48u); }
    }
    if (TM > 2u) {
        emit(acc20, cb, lane, r0 + 32u, c0);
        emit(acc30, cb, lane, r0 + 48u, c0);
        if (TN > 1u) { emit(acc21, cb, lane, r0 + 32u, c0 + 16u); emit(acc31, cb, lane, r0 + 48u, c0 + 16u); }
        if (TN > 2u) {
            emit(acc22, cb, lane, r0 + 32u, c0 + 32u); emit(acc23, cb, lane, r0 + 32u, c0 + 48u);
            emit(acc32, cb, lane, r0 + 48u, c0 + 32u); emit(acc33, cb, lane, r0 + 48u, c0 + 48u);
        }
    }
}
