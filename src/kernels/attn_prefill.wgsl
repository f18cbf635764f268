// Causal attention of n query rows over the KV cache, flash-style (src/ops/
// decoder.h has the definitions and legend): query row r sits at position
// pos + r and attends keys 0 .. pos + r.
//
// A template: the prelude gives `alias KV = f32` or `f16` (the cache's
// element type, with `enable f16;`), HD (head size), G (query heads per
// key/value head), KT (keys per tile) and QT (queries per workgroup, the
// workgroup size).
//
// Workgroup (x, h) takes query rows x*QT .. x*QT + QT - 1 of head h, one
// per invocation, holding q and the output in registers. Keys and values of
// key/value head h / G stream through workgroup memory KT positions at a
// time, up to the last position any of its queries sees; the softmax is
// online (running maximum and sum, rescaled once per tile). Scores exist
// only per tile, per invocation: nothing of size n x n is stored.

struct Params {
    n: u32,          // query rows
    pos: u32,        // position of row 0
    capacity: u32,   // C
    q_off: u32,      // q: first element, row stride (elements)
    q_stride: u32,
    out_off: u32,    // out: first element, row stride
    out_stride: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<KV>;
@group(0) @binding(3) var<storage, read> vc: array<KV>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> ks: array<f32, KT * HD>;   // [key][d]
var<workgroup> vs: array<f32, KT * HD>;

@compute @workgroup_size(QT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wid.y;
    let g = h / G;
    let r = wid.x * QT + li;
    let live = r < p.n;
    let rq = min(r, p.n - 1u);
    let last = p.pos + rq;   // the last key this query sees
    // Keys the workgroup needs: up to its last live query's position.
    let n_keys = p.pos + min(p.n, wid.x * QT + QT);

    var qv: array<f32, HD>;
    var o: array<f32, HD>;
    let qrow = p.q_off + rq * p.q_stride + h * HD;
    for (var d = 0u; d < HD; d++) {
        qv[d] = q[qrow + d] * p.scale;
        o[d] = 0.0;
    }
    var m = -3.402823e38;   // running maximum of the scores
    var l = 0.0;            // running sum of exp(score - m)
    var s: array<f32, KT>;
    let kbase = g * p.capacity * HD;
    for (var k0 = 0u; k0 < n_keys; k0 += KT) {
        for (var e = li; e < KT * HD; e += QT) {
            let kr = k0 + e / HD;
            var kv = 0.0;
            var vv = 0.0;
            if (kr < n_keys) {
                kv = f32(kc[kbase + kr * HD + e % HD]);
                vv = f32(vc[kbase + kr * HD + e % HD]);
            }
            ks[e] = kv;
            vs[e] = vv;
        }
        workgroupBarrier();
        // Keys k0 .. k0 + nk - 1 of this tile are visible to this query; the
        // first tile always holds key 0, so m is a real score from then on.
        var nk = 0u;
        if (last >= k0) { nk = min(KT, last - k0 + 1u); }
        var tmax = m;
        for (var j = 0u; j < nk; j++) {
            var dot = 0.0;
            for (var d = 0u; d < HD; d++) { dot = fma(qv[d], ks[j * HD + d], dot); }
            s[j] = dot;
            tmax = max(tmax, dot);
        }
        let corr = exp(m - tmax);
        l *= corr;
        for (var d = 0u; d < HD; d++) { o[d] *= corr; }
        m = tmax;
        for (var j = 0u; j < nk; j++) {
            let pj = exp(s[j] - m);
            l += pj;
            for (var d = 0u; d < HD; d++) { o[d] = fma(pj, vs[j * HD + d], o[d]); }
        }
        workgroupBarrier();
    }
    if (live) {
        let inv = 1.0 / l;
        let orow = p.out_off + r * p.out_stride + h * HD;
        for (var d = 0u; d < HD; d++) { out[orow + d] = o[d] * inv; }
    }
}
