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
// A workgroup is one subgroup: the matrix operations need offsets uniform
// across the workgroup, so each subgroup gets its own. It computes a 32 x 64
// tile of C as 2 x 4 result matrices. Tiles of A and B (32 deep) are staged in
// workgroup memory, zero past the matrix edges, so any M, N, K works; the
// result goes through workgroup memory to the store hook.

const BM: u32 = 32u;
const BN: u32 = 64u;
const BK: u32 = 32u;
const WG: u32 = SG;

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
    var acc: array<subgroup_matrix_result<f32, 16, 16>, 8>;   // [2 rows][4 cols] of 16 x 16
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
            for (var i = 0u; i < 2u; i++) {
                let l = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, i * 16u * BK + kk, false, BK);
                for (var j = 0u; j < 4u; j++) {
                    let r = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, kk * BN + j * 16u, false, BN);
                    acc[i * 4u + j] = subgroupMatrixMultiplyAccumulate(l, r, acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 2u; i++) {
        for (var j = 0u; j < 4u; j++) {
            subgroupMatrixStore(&Cs, i * 16u * BN + j * 16u, acc[i * 4u + j], false, BN);
        }
    }
    workgroupBarrier();
    for (var e = li; e < BM * BN; e += WG) {
        let r = row0 + e / BN;
        let n = col0 + e % BN;
        if (r < p.M && n < p.N) { mm_store(r, n, Cs[e]); }
    }
}
