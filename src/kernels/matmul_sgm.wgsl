enable f16;
enable chromium_experimental_subgroup_matrix;
alias T = f16;
// C = A B with subgroup (cooperative) matrices: f16 A (M x K) and B (K x N),
// row-major, f32 accumulation, where the device offers the f16 x f16 -> f32
// 16 x 16 x 16 configuration and subgroups of SG = 32. K and N must be
// multiples of 8: A and B are read 16 bytes (8 halves) at a time.
//
// A template like matmul.wgsl: the prelude declares const SG, C and
// `fn mm_store(r: u32, col: u32, v: f32)`.
//
// A workgroup is one subgroup: the matrix operations need offsets uniform
// across the workgroup, so each subgroup gets its own. It computes a 64 x 64
// tile of C as 4 x 4 result matrices (32 x 64 ran at half the speed: too
// little reuse of each staged tile). Tiles of A and B (32 deep) are staged in
// workgroup memory, zero past the matrix edges, so any M, N, K works; the
// result goes through workgroup memory to the store hook.

const BM: u32 = 64u;
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
@group(0) @binding(1) var<storage, read> a: array<vec4<u32>>;   // 8 halves each
@group(0) @binding(2) var<storage, read> b: array<vec4<u32>>;

// The 8 halves packed in v, in memory order.
fn unpack8(v: vec4<u32>) -> array<f16, 8> {
    let h0 = bitcast<vec2<f16>>(v.x);
    let h1 = bitcast<vec2<f16>>(v.y);
    let h2 = bitcast<vec2<f16>>(v.z);
    let h3 = bitcast<vec2<f16>>(v.w);
    return array<f16, 8>(h0.x, h0.y, h1.x, h1.y, h2.x, h2.y, h3.x, h3.y);
}

var<workgroup> As: array<f16, BM * BK>;   // [m][k], stride BK
var<workgroup> Bs: array<f16, BK * BN>;   // [k][n], stride BN
var<workgroup> Cs: array<f32, BM * BN>;   // [m][n], stride BN

// Matrix values live in named variables, not arrays: indexing an array of
// them dynamically spilled to memory (12x slower on the H200).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc00 = subgroup_matrix_result<f32, 16, 16>();
    var acc01 = subgroup_matrix_result<f32, 16, 16>();
    var acc02 = subgroup_matrix_result<f32, 16, 16>();
    var acc03 = subgroup_matrix_result<f32, 16, 16>();
    var acc10 = subgroup_matrix_result<f32, 16, 16>();
    var acc11 = subgroup_matrix_result<f32, 16, 16>();
    var acc12 = subgroup_matrix_result<f32, 16, 16>();
    var acc13 = subgroup_matrix_result<f32, 16, 16>();
    var acc20 = subgroup_matrix_result<f32, 16, 16>();
    var acc21 = subgroup_matrix_result<f32, 16, 16>();
    var acc22 = subgroup_matrix_result<f32, 16, 16>();
    var acc23 = subgroup_matrix_result<f32, 16, 16>();
    var acc30 = subgroup_matrix_result<f32, 16, 16>();
    var acc31 = subgroup_matrix_result<f32, 16, 16>();
    var acc32 = subgroup_matrix_result<f32, 16, 16>();
    var acc33 = subgroup_matrix_result<f32, 16, 16>();
    for (var k0 = 0u; k0 < p.K; k0 += BK) {
        // 16-byte chunks: K and N are multiples of 8, so none straddles an edge.
        for (var e = li; e < BM * BK / 8u; e += WG) {
            let r = row0 + e / (BK / 8u);
            let k = k0 + (e % (BK / 8u)) * 8u;
            var v = vec4<u32>(0u);
            if (r < p.M && k < p.K) { v = a[(r * p.K + k) / 8u]; }
            let h = unpack8(v);
            for (var i = 0u; i < 8u; i++) { As[e * 8u + i] = h[i]; }
        }
        for (var e = li; e < BK * BN / 8u; e += WG) {
            let k = k0 + e / (BN / 8u);
            let n = col0 + (e % (BN / 8u)) * 8u;
            var v = vec4<u32>(0u);
            if (k < p.K && n < p.N) { v = b[(k * p.N + n) / 8u]; }
            let h = unpack8(v);
            for (var i = 0u; i < 8u; i++) { Bs[e * 8u + i] = h[i]; }
        }
        workgroupBarrier();
        let l0_0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 0u * BK + 0u, false, BK);
        let l1_0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 16u * BK + 0u, false, BK);
        let l2_0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 32u * BK + 0u, false, BK);
        let l3_0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 48u * BK + 0u, false, BK);
        let r0_0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 0u * BN + 0u, false, BN);
        let r1_0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 0u * BN + 16u, false, BN);
        let r2_0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 0u * BN + 32u, false, BN);
        let r3_0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 0u * BN + 48u, false, BN);
        acc00 = subgroupMatrixMultiplyAccumulate(l0_0, r0_0, acc00);
        acc01 = subgroupMatrixMultiplyAccumulate(l0_0, r1_0, acc01);
        acc02 = subgroupMatrixMultiplyAccumulate(l0_0, r2_0, acc02);
        acc03 = subgroupMatrixMultiplyAccumulate(l0_0, r3_0, acc03);
        acc10 = subgroupMatrixMultiplyAccumulate(l1_0, r0_0, acc10);
        acc11 = subgroupMatrixMultiplyAccumulate(l1_0, r1_0, acc11);
        acc12 = subgroupMatrixMultiplyAccumulate(l1_0, r2_0, acc12);
        acc13 = subgroupMatrixMultiplyAccumulate(l1_0, r3_0, acc13);
        acc20 = subgroupMatrixMultiplyAccumulate(l2_0, r0_0, acc20);
        acc21 = subgroupMatrixMultiplyAccumulate(l2_0, r1_0, acc21);
        acc22 = subgroupMatrixMultiplyAccumulate(l2_0, r2_0, acc22);
        acc23 = subgroupMatrixMultiplyAccumulate(l2_0, r3_0, acc23);
        acc30 = subgroupMatrixMultiplyAccumulate(l3_0, r0_0, acc30);
        acc31 = subgroupMatrixMultiplyAccumulate(l3_0, r1_0, acc31);
        acc32 = subgroupMatrixMultiplyAccumulate(l3_0, r2_0, acc32);
        acc33 = subgroupMatrixMultiplyAccumulate(l3_0, r3_0, acc33);
        let l0_16 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 0u * BK + 16u, false, BK);
        let l1_16 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 16u * BK + 16u, false, BK);
        let l2_16 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 32u * BK + 16u, false, BK);
        let l3_16 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, 48u * BK + 16u, false, BK);
        let r0_16 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 16u * BN + 0u, false, BN);
        let r1_16 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 16u * BN + 16u, false, BN);
        let r2_16 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 16u * BN + 32u, false, BN);
        let r3_16 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, 16u * BN + 48u, false, BN);
        acc00 = subgroupMatrixMultiplyAccumulate(l0_16, r0_16, acc00);
        acc01 = subgroupMatrixMultiplyAccumulate(l0_16, r1_16, acc01);
        acc02 = subgroupMatrixMultiplyAccumulate(l0_16, r2_16, acc02);
        acc03 = subgroupMatrixMultiplyAccumulate(l0_16, r3_16, acc03);
        acc10 = subgroupMatrixMultiplyAccumulate(l1_16, r0_16, acc10);
        acc11 = subgroupMatrixMultiplyAccumulate(l1_16, r1_16, acc11);
        acc12 = subgroupMatrixMultiplyAccumulate(l1_16, r2_16, acc12);
        acc13 = subgroupMatrixMultiplyAccumulate(l1_16, r3_16, acc13);
        acc20 = subgroupMatrixMultiplyAccumulate(l2_16, r0_16, acc20);
        acc21 = subgroupMatrixMultiplyAccumulate(l2_16, r1_16, acc21);
        acc22 = subgroupMatrixMultiplyAccumulate(l2_16, r2_16, acc22);
        acc23 = subgroupMatrixMultiplyAccumulate(l2_16, r3_16, acc23);
        acc30 = subgroupMatrixMultiplyAccumulate(l3_16, r0_16, acc30);
        acc31 = subgroupMatrixMultiplyAccumulate(l3_16, r1_16, acc31);
        acc32 = subgroupMatrixMultiplyAccumulate(l3_16, r2_16, acc32);
        acc33 = subgroupMatrixMultiplyAccumulate(l3_16, r3_16, acc33);
        workgroupBarrier();
    }
    subgroupMatrixStore(&Cs, 0u * BN + 0u, acc00, false, BN);
    subgroupMatrixStore(&Cs, 0u * BN + 16u, acc01, false, BN);
    subgroupMatrixStore(&Cs, 0u * BN + 32u, acc02, false, BN);
    subgroupMatrixStore(&Cs, 0u * BN + 48u, acc03, false, BN);
    subgroupMatrixStore(&Cs, 16u * BN + 0u, acc10, false, BN);
    subgroupMatrixStore(&Cs, 16u * BN + 16u, acc11, false, BN);
    subgroupMatrixStore(&Cs, 16u * BN + 32u, acc12, false, BN);
    subgroupMatrixStore(&Cs, 16u * BN + 48u, acc13, false, BN);
    subgroupMatrixStore(&Cs, 32u * BN + 0u, acc20, false, BN);
    subgroupMatrixStore(&Cs, 32u * BN + 16u, acc21, false, BN);
    subgroupMatrixStore(&Cs, 32u * BN + 32u, acc22, false, BN);
    subgroupMatrixStore(&Cs, 32u * BN + 48u, acc23, false, BN);
    subgroupMatrixStore(&Cs, 48u * BN + 0u, acc30, false, BN);
    subgroupMatrixStore(&Cs, 48u * BN + 16u, acc31, false, BN);
    subgroupMatrixStore(&Cs, 48u * BN + 32u, acc32, false, BN);
    subgroupMatrixStore(&Cs, 48u * BN + 48u, acc33, false, BN);
    workgroupBarrier();
    for (var e = li; e < BM * BN; e += WG) {
        let r = row0 + e / BN;
        let n = col0 + e % BN;
        if (r < p.M && n < p.N) { mm_store(r, n, Cs[e]); }
    }
}
