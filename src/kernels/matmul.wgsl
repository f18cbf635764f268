alias T = f32; // wgml:variant-f16
// C = A B for row-major A (M x K), B (K x N), C (M x N), element type T,
// accumulating in f32. The build also embeds this file as matmul_f16.
// With the override B_T, B is stored transposed (N x K) and C = A B^T: the
// x W^T of a PyTorch Linear layer, whose weights are (out, in).
//
// A template: the prelude (src/ops/matmul.c, or the graph executor with a
// fused epilogue) declares C and `fn mm_store(r: u32, col: u32, v: f32)`.
//
// Register tiling: a workgroup of (BN/TN) x (BM/TM) invocations computes a
// BM x BN tile of C; each invocation owns a TM x TN block held in registers.
// Tiles of A and B (BK deep) are staged in workgroup memory. Loads past the
// matrix edges read zero, so any M, N, K works.

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const WX: u32 = BN / TN;   // 16
const WY: u32 = BM / TM;   // 16
const THREADS: u32 = WX * WY;

override B_T: bool = false;

struct Params {
    M: u32,
    N: u32,
    K: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;

var<workgroup> As: array<f32, BM * BK>;   // [m][k]
var<workgroup> Bs: array<f32, BK * BN>;   // [k][n]

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let t = lid.y * WX + lid.x;

    var acc: array<array<f32, TN>, TM>;
    for (var i = 0u; i < TM; i++) { for (var j = 0u; j < TN; j++) { acc[i][j] = 0.0; } }

    for (var k0 = 0u; k0 < p.K; k0 += BK) {
        for (var e = t; e < BM * BK; e += THREADS) {
            let r = row0 + e / BK;
            let k = k0 + e % BK;
            var v = 0.0;
            if (r < p.M && k < p.K) { v = f32(a[r * p.K + k]); }
            As[e] = v;
        }
        for (var e = t; e < BK * BN; e += THREADS) {
            // Neighbouring invocations read neighbouring addresses in either layout.
            var kk = e / BN;
            var cc = e % BN;
            if (B_T) { kk = e % BK; cc = e / BK; }
            let k = k0 + kk;
            let col = col0 + cc;
            var v = 0.0;
            if (k < p.K && col < p.N) {
                if (B_T) { v = f32(b[col * p.K + k]); } else { v = f32(b[k * p.N + col]); }
            }
            Bs[kk * BN + cc] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            var bv: array<f32, TN>;
            for (var j = 0u; j < TN; j++) { bv[j] = Bs[k * BN + lid.x * TN + j]; }
            for (var i = 0u; i < TM; i++) {
                let av = As[(lid.y * TM + i) * BK + k];
                for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < TM; i++) {
        let r = row0 + lid.y * TM + i;
        if (r >= p.M) { continue; }
        for (var j = 0u; j < TN; j++) {
            let col = col0 + lid.x * TN + j;
            if (col < p.N) { mm_store(r, col, acc[i][j]); }
        }
    }
}
