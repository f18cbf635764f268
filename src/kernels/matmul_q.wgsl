// y (M x N) = x (M x K) W^T, W (N x K) in the GEMV layout of src/ops/gemv.h
// (F32, F16, Q8_0, Q4_0, Q4_1), x and y f32: the prefill projections.
//
// A template: the prelude defines `fn w4(n: u32, k: u32) -> vec4<f32>`,
// elements k .. k + 3 of row n of W (zero past K; k a multiple of 4),
// choosing one of the w4_* functions below.
//
// Register tiling as in matmul.wgsl: a workgroup of 16 x WY invocations
// computes a BM x 64 tile of y (BM = 4 WY), each invocation a 4 x 4 block in
// four named vec4 registers. Per step of 32 along K (one block of the block
// formats) the x tile (k-major) and the W tile, dequantised to f32, are
// staged in workgroup memory: 2 x 8 KiB at BM = 64. Loads past the edges
// read zero, so any M and N work.

const BN: u32 = 64u;
const BK: u32 = 32u;
const WX: u32 = 16u;
const BM_MAX: u32 = 64u;

override WY: u32 = 16u;
override BM: u32 = WY * 4u;
override THREADS: u32 = WX * WY;

struct Params {
    M: u32,
    N: u32,
    K: u32,
    sc_base: u32,    // u32 index of the block formats' scales
    x_off: u32,      // x: first element, row stride (elements)
    x_stride: u32,
    y_off: u32,      // y: first element, row stride
    y_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> ws: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> As: array<f32, BK * BM_MAX>;          // [k][m]
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;   // [k][n / 4]

fn half_at(i: u32, h: u32) -> f32 { return unpack2x16float((ws[i] >> (16u * h)) & 0xffffu).x; }

fn w4_f32(n: u32, k: u32) -> vec4<f32> {
    var o = vec4<f32>(0.0);
    let b = n * p.K + k;
    for (var e = 0u; e < 4u; e++) {
        if (k + e < p.K) { o[e] = bitcast<f32>(ws[b + e]); }
    }
    return o;
}

fn w4_f16(n: u32, k: u32) -> vec4<f32> {
    var o = vec4<f32>(0.0);
    let b = n * p.K + k;
    for (var e = 0u; e < 4u; e++) {
        if (k + e < p.K) { o[e] = half_at((b + e) / 2u, (b + e) % 2u); }
    }
    return o;
}

fn i8x4(w: u32) -> vec4<f32> {
    return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

fn w4_q8_0(n: u32, k: u32) -> vec4<f32> {
    let g = n * (p.K / 32u) + k / 32u;
    return half_at(p.sc_base + g / 2u, g % 2u) * i8x4(ws[g * 8u + (k % 32u) / 4u]);
}

// Elements j .. j + 3 (j % 4 == 0) of a 4-bit block: low nibbles hold
// elements 0..15, high nibbles 16..31.
fn nib4(g: u32, j: u32) -> vec4<f32> {
    let w = ws[g * 4u + (j % 16u) / 4u];
    let sh = 4u * (j / 16u);
    return vec4<f32>((vec4<u32>(w) >> (vec4<u32>(0u, 8u, 16u, 24u) + sh)) & vec4<u32>(15u));
}

fn w4_q4_0(n: u32, k: u32) -> vec4<f32> {
    let g = n * (p.K / 32u) + k / 32u;
    return half_at(p.sc_base + g / 2u, g % 2u) * (nib4(g, k % 32u) - vec4<f32>(8.0));
}

fn w4_q4_1(n: u32, k: u32) -> vec4<f32> {
    let g = n * (p.K / 32u) + k / 32u;
    let dm = unpack2x16float(ws[p.sc_base + g]);
    return dm.x * nib4(g, k % 32u) + vec4<f32>(dm.y);
}

fn load_x(r: u32, k: u32) -> f32 {
    if (r < p.M && k < p.K) { return x[p.x_off + r * p.x_stride + k]; }
    return 0.0;
}

fn store(r: u32, c: u32, v: f32) {
    if (r < p.M && c < p.N) { y[p.y_off + r * p.y_stride + c] = v; }
}

fn store_row(r: u32, c: u32, v: vec4<f32>) {
    store(r, c, v.x);
    store(r, c + 1u, v.y);
    store(r, c + 2u, v.z);
    store(r, c + 3u, v.w);
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let t = lid.y * WX + lid.x;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.K; k0 += BK) {
        for (var e = t; e < BM * BK; e += THREADS) {
            let m = e / BK;
            let kk = e % BK;
            As[kk * BM + m] = load_x(row0 + m, k0 + kk);
        }
        // W: units of 4 rows x 4 k, transposed into four k-major vec4.
        for (var e = t; e < (BN / 4u) * (BK / 4u); e += THREADS) {
            let nq = e % (BN / 4u);
            let kq = e / (BN / 4u);
            let n = col0 + 4u * nq;
            let k = k0 + 4u * kq;
            var r0 = vec4<f32>(0.0);
            var r1 = vec4<f32>(0.0);
            var r2 = vec4<f32>(0.0);
            var r3 = vec4<f32>(0.0);
            if (k < p.K) {
                if (n < p.N) { r0 = w4(n, k); }
                if (n + 1u < p.N) { r1 = w4(n + 1u, k); }
                if (n + 2u < p.N) { r2 = w4(n + 2u, k); }
                if (n + 3u < p.N) { r3 = w4(n + 3u, k); }
            }
            let kb = 4u * kq * (BN / 4u) + nq;
            Bs[kb] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
            Bs[kb + BN / 4u] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
            Bs[kb + 2u * (BN / 4u)] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
            Bs[kb + 3u * (BN / 4u)] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
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
