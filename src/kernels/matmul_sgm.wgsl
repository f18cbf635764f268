enable f16;
enable chromium_experimental_subgroup_matrix;
alias T = f16;
// C = A B with subgroup (cooperative) matrices: f16 A (M x K) and B (K x N),
// row-major, f32 accumulation, where the device offers the f16 x f16 -> f32
// 16 x 16 x 16 configuration and subgroups of SG = 32.
//
// A template like matmul.wgsl: the prelude declares const SG, C and
// `fn mm_store(r: u32, col: u32, v: f32)`.
//
// A workgroup of 4 subgroups computes a 64 x 64 tile of C; each subgroup owns
// a 32 x 32 quarter as 2 x 2 result matrices. Tiles of A and B (32 deep) are
// staged in workgroup memory, zero past the matrix edges, so any M, N, K
// works; the result goes through workgroup memory to the store hook.

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 32u;
const WG: u32 = 128u;

struct Params {
    M: u32,
    N: u32,
    K: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;

var<workgroup> As: array<f16, BM * BK>;   // [m][k], stride BK
var<workgroup> Bs: array<f16, BK * BN>;   // [k][n], stride BN
var<workgroup> Cs: array<f32, BM * BN>;   // [m][n], stride BN

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let sg = li / SG;
    let sm = (sg / 2u) * 32u;   // this subgroup's rows and columns within the tile
    let sn = (sg % 2u) * 32u;
    var acc00 = subgroup_matrix_result<f32, 16, 16>();
    var acc01 = subgroup_matrix_result<f32, 16, 16>();
    var acc10 = subgroup_matrix_result<f32, 16, 16>();
    var acc11 = subgroup_matrix_result<f32, 16, 16>();
    for (var k0 = 0u; k0 < p.K; k0 += BK) {
        for (var e = li; e < BM * BK; e += WG) {
            let r = row0 + e / BK;
            let k = k0 + e % BK;
            var v = f16(0.0);
            if (r < p.M && k < p.K) { v = a[r * p.K + k]; }
            As[e] = v;
        }
        for (var e = li; e < BK * BN; e += WG) {
            let k = k0 + e / BN;
            let n = col0 + e % BN;
            var v = f16(0.0);
            if (k < p.K && n < p.N) { v = b[k * p.N + n]; }
            Bs[e] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += 16u) {
            let l0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, sm * BK + kk, false, BK);
            let l1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, (sm + 16u) * BK + kk, false, BK);
            let r0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, kk * BN + sn, false, BN);
            let r1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, kk * BN + sn + 16u, false, BN);
            acc00 = subgroupMatrixMultiplyAccumulate(l0, r0, acc00);
            acc01 = subgroupMatrixMultiplyAccumulate(l0, r1, acc01);
            acc10 = subgroupMatrixMultiplyAccumulate(l1, r0, acc10);
            acc11 = subgroupMatrixMultiplyAccumulate(l1, r1, acc11);
        }
        workgroupBarrier();
    }
    subgroupMatrixStore(&Cs, sm * BN + sn, acc00, false, BN);
    subgroupMatrixStore(&Cs, sm * BN + sn + 16u, acc01, false, BN);
    subgroupMatrixStore(&Cs, (sm + 16u) * BN + sn, acc10, false, BN);
    subgroupMatrixStore(&Cs, (sm + 16u) * BN + sn + 16u, acc11, false, BN);
    workgroupBarrier();
    for (var e = li; e < BM * BN; e += WG) {
        let r = row0 + e / BN;
        let n = col0 + e % BN;
        if (r < p.M && n < p.N) { mm_store(r, n, Cs[e]); }
    }
}
