// Pooling token rows into one row per sequence, then optional L2
// normalisation (sentence-transformers' Pooling and Normalize modules):
//   x   (B*L, D)   token rows of B sequences of L tokens
//   w   (B, L)     token weights: the attention mask (1 for a token, 0 for padding)
//   out (B, D)     mode 0 (mean): sum_l w[b,l] x[b*L+l] / max(sum_l w[b,l], 1e-9)
//                  mode 1 (CLS):  x[b*L]
//                  then, with norm: out[b] / max(|out[b]|, 1e-12)
// One workgroup per sequence; invocations stride over the D columns.

struct Params {
    B: u32,
    L: u32,
    D: u32,
    mode: u32,
    norm: u32,
    groups_x: u32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wid.y * p.groups_x + wid.x;   // the same for the whole workgroup
    if (b >= p.B) { return; }
    var wsum = 0.0;
    for (var l = 0u; l < p.L; l++) { wsum += w[b * p.L + l]; }
    let inv_count = 1.0 / max(wsum, 1e-9);
    var ss = 0.0;
    for (var j = li; j < p.D; j += WG) {
        var acc = 0.0;
        if (p.mode == 1u) {
            acc = x[b * p.L * p.D + j];
        } else {
            for (var l = 0u; l < p.L; l++) {
                let wl = w[b * p.L + l];
                if (wl != 0.0) { acc = fma(wl, x[(b * p.L + l) * p.D + j], acc); }
            }
            acc *= inv_count;
        }
        out[b * p.D + j] = acc;
        ss = fma(acc, acc, ss);
    }
    if (p.norm == 0u) { return; }
    red[li] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (li < s) { red[li] += red[li + s]; }
        workgroupBarrier();
    }
    let inv = 1.0 / max(sqrt(red[0]), 1e-12);
    // Each invocation rescales the values it wrote itself.
    for (var j = li; j < p.D; j += WG) { out[b * p.D + j] *= inv; }
}
