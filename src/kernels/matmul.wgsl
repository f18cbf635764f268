alias T = f32; // wgml:variant-f16
// C = A B for row-major A (M x K), B (K x N), C (M x N), element type T,
// accumulating in f32. The build also embeds this file as matmul_f16.
// With the override B_T, B is stored transposed (N x K) and C = A B^T: the
// x W^T of a PyTorch Linear layer, whose weights are (out, in).
//
// A template: the prelude (src/ops/matmul.c, or the graph executor with a
// fused epilogue) declares C, `fn mm_store(r: u32, col: u32, v: f32)` and
// B's element type TB: T, or f16 for f16 weights under f32 activations.
//
// Register tiling: a workgroup of (BN/TN) x (BM/TM) invocations computes a
// BM x BN tile of C; each invocation owns a 4 x 4 block held in four vec4
// registers (named, not an indexed array: CPU Vulkan drivers keep indexed
// private arrays in memory, which made this kernel ~20x slower there).
// Tiles of A (stored k-major) and B (BK deep) are staged in workgroup
// memory. Loads past the matrix edges read zero, so any M, N, K works.
// The override WY picks the tile height: 16 (64 rows) or 4 (16 rows, for
// few rows: more workgroups, less padding computed; src/ops/matmul.c).

const BN: u32 = 64u;
const BK: u32 = 16u;
const TN: u32 = 4u;
const WX: u32 = BN / TN;   // 16
const BM_MAX: u32 = 64u;

override WY: u32 = 16u;
override BM: u32 = WY * 4u;
override THREADS: u32 = WX * WY;
override B_T: bool = false;
// Swizzled workgroup order: consecutive workgroups take SWIZZLE tile rows of
// one tile column, then the next column, so the A rows and B columns they
// share are read while still in L2; 0 or 1: row-major order.
override SWIZZLE: u32 = 0u;

struct Params {
    M: u32,
    N: u32,
    K: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<TB>;

var<workgroup> As: array<f32, BK * BM_MAX>;        // [k][m], BM of BM_MAX used
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4>;   // [k][n / 4]

// Element loads, zero past the edges. No vector is indexed by a variable
// anywhere: CPU drivers turn that into memory traffic too.
fn load_a(r: u32, k: u32) -> f32 {
    if (r < p.M && k < p.K) { return f32(a[r * p.K + k]); }
    return 0.0;
}

fn load_b(k: u32, col: u32) -> f32 {
    if (k < p.K && col < p.N) {
        if (B_T) { return f32(b[col * p.K + k]); }
        return f32(b[k * p.N + col]);
    }
    return 0.0;
}

fn store(r: u32, col: u32, v: f32) {
    if (r < p.M && col < p.N) { mm_store(r, col, v); }
}

fn store_row(r: u32, col: u32, v: vec4<f32>) {
    store(r, col, v.x);
    store(r, col + 1u, v.y);
    store(r, col + 2u, v.z);
    store(r, col + 3u, v.w);
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    var tile = wid.xy;
    if (SWIZZLE > 1u) {
        let lin = wid.y * nwg.x + wid.x;
        let band = lin / (SWIZZLE * nwg.x);          // bands of SWIZZLE tile rows
        let first = band * SWIZZLE;
        let h = min(nwg.y - first, SWIZZLE);         // the last band may be shorter
        let in_band = lin - band * SWIZZLE * nwg.x;
        tile = vec2<u32>(in_band / h, first + in_band % h);
    }
    let row0 = tile.y * BM;
    let col0 = tile.x * BN;
    let t = lid.y * WX + lid.x;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.K; k0 += BK) {
        // Neighbouring invocations read neighbouring addresses of A and of B
        // in either of B's layouts.
        for (var e = t; e < BM * BK; e += THREADS) {
            let m = e / BK;
            let kk = e % BK;
            As[kk * BM + m] = load_a(row0 + m, k0 + kk);
        }
        for (var e = t; e < BK * BN / 4u; e += THREADS) {
            var kk = e / (BN / 4u);
            var cq = (e % (BN / 4u)) * 4u;
            if (B_T) {
                kk = e % BK;
                cq = (e / BK) * 4u;
            }
            let k = k0 + kk;
            let col = col0 + cq;
            Bs[kk * (BN / 4u) + cq / 4u] = vec4<f32>(load_b(k, col), load_b(k, col + 1u),
                                                     load_b(k, col + 2u), load_b(k, col + 3u));
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            let ab = k * BM + lid.y * 4u;
            let bv = Bs[k * (BN / 4u) + lid.x];
            acc0 = fma(vec4<f32>(As[ab]), bv, acc0);
            acc1 = fma(vec4<f32>(As[ab + 1u]), bv, acc1);
            acc2 = fma(vec4<f32>(As[ab + 2u]), bv, acc2);
            acc3 = fma(vec4<f32>(As[ab + 3u]), bv, acc3);
        }
        workgroupBarrier();
    }

    let r = row0 + lid.y * 4u;
    let c = col0 + lid.x * 4u;
    store_row(r, c, acc0);
    store_row(r + 1u, c, acc1);
    store_row(r + 2u, c, acc2);
    store_row(r + 3u, c, acc3);
}
