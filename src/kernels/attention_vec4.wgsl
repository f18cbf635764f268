// Multi-head self-attention over packed QKV with an additive key mask, for
// head sizes that are a multiple of 4 up to 64: the same contract and online softmax
// as attention.wgsl (which takes any head size), with q, the output row and
// the key/value tiles held as vec4 and the scores of SC keys at a time in
// registers. attention.wgsl spent one workgroup-memory load per
// multiply-add (a scalar key or value element) and kept its tile's scores
// in an array indexed at run time (local memory on GPUs); here a 16-byte
// load feeds four, and the score loops have constant bounds.
//
// Each query's keys may split S ways (1 or 2): invocation (query, split)
// runs the online softmax over its share of every tile, and the splits
// merge at the end. Splitting helps only where the grid is small (batch 1
// or 8 on an H200); otherwise larger workgroups pay better, since each
// stages its sequence's keys and values once (src/ops/encoder.c).
//
// A template: the prelude gives HD (head size, a multiple of 4, <= 64), KT
// (keys per tile), SC (keys whose scores are in registers at once), QT
// (queries per workgroup) and S (splits; SC divides KT / S, and
// (S - 1) * QT <= KT, so that the merge fits in the key tile's memory).
//
// Workgroup (x, h, b) takes queries x*QT .. x*QT + QT - 1 of head h in
// sequence b; invocation li is query li % QT, split li / QT. Keys past L in
// the last tile take no part (their weight is 0, not merely small).

struct Params {
    L: u32,
    H: u32,
    scale: f32,
    _pad: u32,
}

const HD4: u32 = HD / 4u;
const KS: u32 = KT / S;   // keys of a tile per split

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> ks: array<vec4<f32>, KT * HD4>;   // [key][d / 4]; at the end, splits' outputs
var<workgroup> vs: array<vec4<f32>, KT * HD4>;   // [key][d / 4]; at the end, splits' (m, l)
var<workgroup> km: array<f32, KT>;               // the tile's mask values

@compute @workgroup_size(QT * S)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wid.y;
    let base = wid.z * p.L;   // the sequence's first row
    let ql = li % QT;
    let split = li / QT;
    let qi = wid.x * QT + ql;
    let D4 = p.H * HD4;
    let stride4 = 3u * D4;

    var q: array<vec4<f32>, HD4>;
    var o: array<vec4<f32>, HD4>;
    let qrow = (base + min(qi, p.L - 1u)) * stride4 + h * HD4;
    for (var d = 0u; d < HD4; d++) {
        q[d] = qkv[qrow + d] * p.scale;
        o[d] = vec4<f32>(0.0);
    }
    var m = -3.402823e38;   // running maximum of the scores
    var l = 0.0;            // running sum of exp(score - m)
    for (var k0 = 0u; k0 < p.L; k0 += KT) {
        for (var e = li; e < KT * HD4; e += QT * S) {
            let kr = k0 + e / HD4;
            var kv = vec4<f32>(0.0);
            var vv = vec4<f32>(0.0);
            if (kr < p.L) {
                let at = (base + kr) * stride4 + h * HD4 + e % HD4;
                kv = qkv[at + D4];
                vv = qkv[at + 2u * D4];
            }
            ks[e] = kv;
            vs[e] = vv;
        }
        for (var j = li; j < KT; j += QT * S) {
            var mv = 0.0;   // keys past L: never read past the mask
            if (k0 + j < p.L) { mv = mask[base + k0 + j]; }
            km[j] = mv;
        }
        workgroupBarrier();
        let n = min(KT, p.L - k0);
        for (var c = split * KS; c < split * KS + KS && c < n; c += SC) {
            var s: array<f32, SC>;
            var cmax = m;
            for (var jj = 0u; jj < SC; jj++) {
                let j = c + jj;
                var acc4 = vec4<f32>(0.0);
                for (var d = 0u; d < HD4; d++) { acc4 = fma(q[d], ks[j * HD4 + d], acc4); }
                s[jj] = (acc4.x + acc4.y) + (acc4.z + acc4.w) + km[j];
                if (j < n) { cmax = max(cmax, s[jj]); }
            }
            let corr = exp(m - cmax);
            l *= corr;
            for (var d = 0u; d < HD4; d++) { o[d] *= corr; }
            m = cmax;
            for (var jj = 0u; jj < SC; jj++) {
                let j = c + jj;
                let pj = select(0.0, exp(s[jj] - m), j < n);
                l += pj;
                for (var d = 0u; d < HD4; d++) { o[d] = fma(vec4<f32>(pj), vs[j * HD4 + d], o[d]); }
            }
        }
        workgroupBarrier();
    }
    // Splits 1 .. S-1 leave (m, l, o) in the tile memory; split 0 rescales
    // every part to the largest maximum and adds them up.
    if (split > 0u) {
        let at = (split - 1u) * QT + ql;
        vs[at] = vec4<f32>(m, l, 0.0, 0.0);
        for (var d = 0u; d < HD4; d++) { ks[at * HD4 + d] = o[d]; }
    }
    workgroupBarrier();
    if (split == 0u && qi < p.L) {
        var mt = m;
        for (var t = 0u; t + 1u < S; t++) { mt = max(mt, vs[t * QT + ql].x); }
        let c0 = exp(m - mt);
        var lt = l * c0;
        for (var d = 0u; d < HD4; d++) { o[d] *= c0; }
        for (var t = 0u; t + 1u < S; t++) {
            let at = t * QT + ql;
            let ml = vs[at];
            let ct = exp(ml.x - mt);
            lt = fma(ml.y, ct, lt);
            for (var d = 0u; d < HD4; d++) { o[d] = fma(ks[at * HD4 + d], vec4<f32>(ct), o[d]); }
        }
        let inv = 1.0 / lt;
        let orow = (base + qi) * D4 + h * HD4;
        for (var d = 0u; d < HD4; d++) { out[orow + d] = o[d] * inv; }
    }
}
