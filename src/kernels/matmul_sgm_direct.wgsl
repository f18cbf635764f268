enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// C = A B (or A B^T) for f16 A and B on subgroup matrices loaded straight
// from the storage buffers: no staging in workgroup memory and no barrier in
// the loop over K. The subgroups of a workgroup share A's rows and B's
// columns through the cache instead. Only for shapes the tiles divide
// (M % BM, N % BN and K % 16 all zero; src/ops/matmul_sgm.c checks): a
// matrix load has no edge handling.
//
// Why: matmul_sgm.wgsl spends two thirds of its time staging (each 16-byte
// chunk goes to workgroup memory as eight 16-bit stores, as subgroupMatrixLoad
// takes only arrays of the scalar type): on an H100, 128 x 128 tiles ran
// 1078 us at 4096^3, 460 us with the staging left out.
//
// The prelude gives WM, WN, TM, TN (1, 2 or 4), B_T, C's binding and the
// store hook `fn mm_store(r: u32, col: u32, v: f32)`, as for matmul_sgm.wgsl;
// the uniform is the same wgml_sgm_params.

alias SML = subgroup_matrix_left<f16, 16, 16>;
alias SMR = subgroup_matrix_right<f16, 16, 16>;
alias SMA = subgroup_matrix_result<f32, 16, 16>;

const BM: u32 = WM * TM * 16u;
const BN: u32 = WN * TN * 16u;

struct Params {
    M: u32,
    N: u32,
    K: u32,
    w_sc: u32,
    a_off: u32,
    a_stride: u32,
    c_off: u32,
    c_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f16>;
@group(0) @binding(2) var<storage, read> b: array<f16>;

var<workgroup> Cs: array<f32, WM * WN * 256u>;   // a 16 x 16 result matrix per subgroup

// Right matrix for rows k .. k + 15 of B and columns n .. n + 15: B (K x N)
// row-major, or B^T (N x K) read column-major.
fn b_at(k: u32, n: u32) -> u32 {
    if (B_T) { return n * p.K + k; }
    return k * p.N + n;
}

// One result matrix out through this subgroup's Cs (as matmul_sgm.wgsl).
fn emit(acc: SMA, cb: u32, lane: u32, r: u32, c: u32) {
    subgroupMatrixStore(&Cs, cb, acc, false, 16u);
    workgroupBarrier();
    for (var t = 0u; t < 8u; t++) {
        let i = t * 32u + lane;
        mm_store(r + i / 16u, c + i % 16u, Cs[cb + i]);
    }
    workgroupBarrier();
}

@compute @workgroup_size(WM * WN * 32u)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let sg = li / 32u;
    let lane = li % 32u;
    let r0 = wid.y * BM + (sg / WN) * TM * 16u;   // this subgroup's block of C
    let c0 = wid.x * BN + (sg % WN) * TN * 16u;
    let bstride = select(p.N, p.K, B_T);
    let a0o = p.a_off + r0 * p.a_stride;
    let rs = 16u * p.a_stride;   // 16 rows of A

    var acc00 = SMA(); var acc01 = SMA(); var acc02 = SMA(); var acc03 = SMA();
    var acc10 = SMA(); var acc11 = SMA(); var acc12 = SMA(); var acc13 = SMA();
    var acc20 = SMA(); var acc21 = SMA(); var acc22 = SMA(); var acc23 = SMA();
    var acc30 = SMA(); var acc31 = SMA(); var acc32 = SMA(); var acc33 = SMA();

    for (var k = 0u; k < p.K; k += 16u) {
        let a0 = subgroupMatrixLoad<SML>(&a, a0o + k, false, p.a_stride);
        var a1 = a0;
        var a2 = a0;
        var a3 = a0;
        if (TM > 1u) { a1 = subgroupMatrixLoad<SML>(&a, a0o + rs + k, false, p.a_stride); }
        if (TM > 2u) {
            a2 = subgroupMatrixLoad<SML>(&a, a0o + 2u * rs + k, false, p.a_stride);
            a3 = subgroupMatrixLoad<SML>(&a, a0o + 3u * rs + k, false, p.a_stride);
        }
        let b0 = subgroupMatrixLoad<SMR>(&b, b_at(k, c0), B_T, bstride);
        var b1 = b0;
        var b2 = b0;
        var b3 = b0;
        if (TN > 1u) { b1 = subgroupMatrixLoad<SMR>(&b, b_at(k, c0 + 16u), B_T, bstride); }
        if (TN > 2u) {
            b2 = subgroupMatrixLoad<SMR>(&b, b_at(k, c0 + 32u), B_T, bstride);
            b3 = subgroupMatrixLoad<SMR>(&b, b_at(k, c0 + 48u), B_T, bstride);
        }
        acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
        if (TN > 1u) { acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01); }
        if (TN > 2u) {
            acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
            acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
        }
        if (TM > 1u) {
            acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
            if (TN > 1u) { acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11); }
            if (TN > 2u) {
                acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
                acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
            }
        }
        if (TM > 2u) {
            acc20 = subgroupMatrixMultiplyAccumulate(a2, b0, acc20);
            acc30 = subgroupMatrixMultiplyAccumulate(a3, b0, acc30);
            if (TN > 1u) {
                acc21 = subgroupMatrixMultiplyAccumulate(a2, b1, acc21);
                acc31 = subgroupMatrixMultiplyAccumulate(a3, b1, acc31);
            }
            if (TN > 2u) {
                acc22 = subgroupMatrixMultiplyAccumulate(a2, b2, acc22);
                acc23 = subgroupMatrixMultiplyAccumulate(a2, b3, acc23);
                acc32 = subgroupMatrixMultiplyAccumulate(a3, b2, acc32);
                acc33 = subgroupMatrixMultiplyAccumulate(a3, b3, acc33);
            }
        }
    }

    let cb = sg * 256u;
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
