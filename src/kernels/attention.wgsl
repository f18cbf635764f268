// Multi-head self-attention over packed QKV with an additive key mask:
//   qkv  (B*L, 3*D)  row b*L + l holds [q | k | v]; head h at columns h*HD
//   mask (B, L)      added to every score against key l of sequence b
//                    (0 to keep; a large negative such as -1e30 to drop)
//   out  (B*L, D)    softmax(q k^T * scale + mask) v, heads side by side
// with D = H * HD.
//
// A template: the prelude gives the constants HD (head size), KT (keys per
// tile) and QT (queries per workgroup, the workgroup size).
//
// Workgroup (x, h, b) takes queries x*QT .. x*QT + QT - 1 of head h in
// sequence b, one per invocation, holding q and the output row in
// registers. Keys and values stream through workgroup memory KT rows at a
// time; the softmax is online (running maximum and sum, rescaled once per
// tile), so one pass covers any L. Invocations past L still load tiles.

struct Params {
    L: u32,
    H: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> ks: array<f32, KT * HD>;   // [key][d]
var<workgroup> vs: array<f32, KT * HD>;

@compute @workgroup_size(QT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wid.y;
    let base = wid.z * p.L;   // the sequence's first row
    let qi = wid.x * QT + li;
    let live = qi < p.L;
    let D = p.H * HD;
    let stride = 3u * D;

    var q: array<f32, HD>;
    var o: array<f32, HD>;
    let qrow = (base + min(qi, p.L - 1u)) * stride + h * HD;
    for (var d = 0u; d < HD; d++) {
        q[d] = qkv[qrow + d] * p.scale;
        o[d] = 0.0;
    }
    var m = -3.402823e38;   // running maximum of the scores
    var l = 0.0;            // running sum of exp(score - m)
    var s: array<f32, KT>;
    for (var k0 = 0u; k0 < p.L; k0 += KT) {
        for (var e = li; e < KT * HD; e += QT) {
            let kr = k0 + e / HD;
            var kv = 0.0;
            var vv = 0.0;
            if (kr < p.L) {
                let at = (base + kr) * stride + h * HD + e % HD;
                kv = qkv[at + D];
                vv = qkv[at + 2u * D];
            }
            ks[e] = kv;
            vs[e] = vv;
        }
        workgroupBarrier();
        let n = min(KT, p.L - k0);
        var tmax = m;
        for (var j = 0u; j < n; j++) {
            var dot = 0.0;
            for (var d = 0u; d < HD; d++) { dot = fma(q[d], ks[j * HD + d], dot); }
            s[j] = dot + mask[base + k0 + j];
            tmax = max(tmax, s[j]);
        }
        let corr = exp(m - tmax);
        l *= corr;
        for (var d = 0u; d < HD; d++) { o[d] *= corr; }
        m = tmax;
        for (var j = 0u; j < n; j++) {
            let pj = exp(s[j] - m);
            l += pj;
            for (var d = 0u; d < HD; d++) { o[d] = fma(pj, vs[j * HD + d], o[d]); }
        }
        workgroupBarrier();
    }
    if (live) {
        let inv = 1.0 / l;
        let orow = (base + qi) * D + h * HD;
        for (var d = 0u; d < HD; d++) { out[orow + d] = o[d] * inv; }
    }
}
