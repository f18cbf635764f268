// Row kernels of the decoder (src/ops/decoder.h has the definitions):
//   add_rmsnorm  x += d; y = x / sqrt(mean(x^2) + eps) * gamma   (row per workgroup)
//   swiglu       out = silu(gate) * up                           (element per invocation)
//   embed        out row r = row ids[r] of a table in the GEMV layout of
//                src/ops/gemv.h, dequantised                     (element per invocation)
// Shapes and offsets come in the uniform, so one pipeline serves every
// shape. Matrices are addressed as offset + row * stride + column, in elements.
//
// A template: the prelude defines `fn w_at(row: u32, col: u32) -> f32`, the
// table's element, choosing one of the w_* functions below (only embed
// calls it).

struct Params {
    rows: u32,
    cols: u32,
    a_off: u32,      // add_rmsnorm: x; swiglu: gate; embed: ids
    a_stride: u32,
    b_off: u32,      // add_rmsnorm: d; swiglu: up; embed: vocabulary V
    b_stride: u32,
    y_off: u32,      // the output
    y_stride: u32,
    eps: f32,
    flag: u32,       // add_rmsnorm: 1 adds d; embed: the table's scale base (u32 index)
    groups_x: u32,   // workgroups per row of the dispatch grid
    _pad: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> gate: array<f32>;
@group(0) @binding(6) var<storage, read> up: array<f32>;
@group(0) @binding(7) var<storage, read> ws: array<u32>;    // embed: the table
@group(0) @binding(8) var<storage, read> ids: array<u32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn add_rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row = wid.y * p.groups_x + wid.x;
    if (row >= p.rows) { return; }   // uniform across the workgroup
    let xb = p.a_off + row * p.a_stride;
    let db = p.b_off + row * p.b_stride;
    var ss = 0.0;
    for (var c = li; c < p.cols; c += WG) {
        var v = x[xb + c];
        if (p.flag != 0u) {
            v += d[db + c];
            x[xb + c] = v;
        }
        ss = fma(v, v, ss);
    }
    red[li] = ss;
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (li < s) { red[li] += red[li + s]; }
    }
    workgroupBarrier();
    let inv = inverseSqrt(red[0] / f32(p.cols) + p.eps);
    let yb = p.y_off + row * p.y_stride;
    // Each invocation reads back only the elements it wrote itself.
    for (var c = li; c < p.cols; c += WG) { y[yb + c] = x[xb + c] * inv * gamma[c]; }
}

// Element i of a rows x cols grid, or false past the end.
fn element(wid: vec3<u32>, li: u32, r: ptr<function, u32>, c: ptr<function, u32>) -> bool {
    let i = (wid.y * p.groups_x + wid.x) * WG + li;
    *r = i / p.cols;
    *c = i % p.cols;
    return i < p.rows * p.cols;
}

@compute @workgroup_size(WG)
fn swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    var r: u32;
    var c: u32;
    if (!element(wid, li, &r, &c)) { return; }
    let g = gate[p.a_off + r * p.a_stride + c];
    let u = up[p.b_off + r * p.b_stride + c];
    y[p.y_off + r * p.y_stride + c] = g / (1.0 + exp(-g)) * u;
}

@compute @workgroup_size(WG)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    var r: u32;
    var c: u32;
    if (!element(wid, li, &r, &c)) { return; }
    let id = ids[p.a_off + r];
    var v = 0.0;
    if (id < p.b_off) { v = w_at(id, c); }
    y[p.y_off + r * p.y_stride + c] = v;
}

// ---------------------------------------------------------------- table formats
// p.cols is K (the row length); p.flag is the u32 index where the block
// formats' scales start (quant bytes / 4).

fn half_at(i: u32, h: u32) -> f32 { return unpack2x16float((ws[i] >> (16u * h)) & 0xffffu).x; }

fn w_f32(row: u32, col: u32) -> f32 { return bitcast<f32>(ws[row * p.cols + col]); }

fn w_f16(row: u32, col: u32) -> f32 {
    let i = row * p.cols + col;
    return half_at(i / 2u, i % 2u);
}

// The block of (row, col) and the element's index within it.
fn block_of(row: u32, col: u32) -> vec2<u32> {
    return vec2<u32>(row * (p.cols / 32u) + col / 32u, col % 32u);
}

fn w_q8_0(row: u32, col: u32) -> f32 {
    let b = block_of(row, col);
    let byte = (ws[b.x * 8u + b.y / 4u] >> (8u * (b.y % 4u))) & 0xffu;
    let q = f32((i32(byte) << 24u) >> 24u);
    return half_at(p.flag + b.x / 2u, b.x % 2u) * q;
}

// The nibble of element j of a 4-bit block (low nibbles 0..15, high 16..31).
fn nibble(g: u32, j: u32) -> f32 {
    let byte = (ws[g * 4u + (j % 16u) / 4u] >> (8u * (j % 4u))) & 0xffu;
    return f32((byte >> (4u * (j / 16u))) & 15u);
}

fn w_q4_0(row: u32, col: u32) -> f32 {
    let b = block_of(row, col);
    return half_at(p.flag + b.x / 2u, b.x % 2u) * (nibble(b.x, b.y) - 8.0);
}

fn w_q4_1(row: u32, col: u32) -> f32 {
    let b = block_of(row, col);
    let dm = unpack2x16float(ws[p.flag + b.x]);
    return dm.x * nibble(b.x, b.y) + dm.y;
}
