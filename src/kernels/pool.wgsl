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

// Weights of rows l .. l + 3 of sequence b, 0 past its length.
fn pool_w4(b: u32, l: u32) -> vec4<f32> {
    let r = b * p.L;
    return vec4<f32>(w[r + l],
                     select(0.0, w[r + min(l + 1u, p.L - 1u)], l + 1u < p.L),
                     select(0.0, w[r + min(l + 2u, p.L - 1u)], l + 2u < p.L),
                     select(0.0, w[r + min(l + 3u, p.L - 1u)], l + 3u < p.L));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wid.y * p.groups_x + wid.x;   // the same for the whole workgroup
    if (b >= p.B) { return; }
    // Rows go to four accumulators by l % 4, so that four loads are in
    // flight at once (one chain took 84 us for 32 sequences of 128 x 384 on
    // an H200), and a row always lands in the same one: a sequence alone and
    // padded in a batch sum in the same order (padding and rows past L add
    // exact zeros).
    var w4 = vec4<f32>(0.0);
    for (var l = 0u; l < p.L; l += 4u) { w4 += pool_w4(b, l); }
    let wsum = (w4.x + w4.y) + (w4.z + w4.w);
    let inv_count = 1.0 / max(wsum, 1e-9);
    var ss = 0.0;
    for (var j = li; j < p.D; j += WG) {
        var acc = 0.0;
        if (p.mode == 1u) {
            acc = x[b * p.L * p.D + j];
        } else {
            var a = vec4<f32>(0.0);
            for (var l = 0u; l < p.L; l += 4u) {
                let wl = pool_w4(b, l);
                let r = b * p.L;
                let last = p.L - 1u;
                let xv = vec4<f32>(x[(r + min(l, last)) * p.D + j],
                                   x[(r + min(l + 1u, last)) * p.D + j],
                                   x[(r + min(l + 2u, last)) * p.D + j],
                                   x[(r + min(l + 3u, last)) * p.D + j]);
                // Rows of weight 0 take no part, whatever they hold.
                a = fma(wl, select(vec4<f32>(0.0), xv, wl != vec4<f32>(0.0)), a);
            }
            acc = ((a.x + a.y) + (a.z + a.w)) * inv_count;
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
