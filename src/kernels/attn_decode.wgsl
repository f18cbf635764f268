// Attention of one query row over the KV cache, split across the context
// (flash decoding; src/ops/decoder.h has the definitions and legend).
//
// A template: the prelude gives `alias KV = f32` or `f16` (the cache's
// element type, with `enable f16;`), HD (head size, a multiple of 4) and
// G (query heads per key/value head).
//
// Pass 1, `tile`: workgroup (t, g) takes keys t*KT .. t*KT + KT - 1 of
// key/value head g for its G query heads, one key per invocation: the
// scores (each key row is read once for all G heads), the tile's maximum
// and sum of exp(score - max) per head by tree reductions, and the
// unnormalised weighted sum of the values, spread over the invocations by
// (head, four dimensions) so that value rows are read contiguously, each
// over all KT keys of the tile: a loop of fixed length, whose loads the
// compiler can issue ahead (a dead key's weight is exactly 0 and its row is
// clamped to a live one). It writes (o[HD], m, l) per query head and tile
// to `part`.
// `tile_wide` is the same pass with TW = 256 invocations a workgroup (the
// prelude then also gives VS and SCR): KP = TW / KT invocations share a key's
// scores (each a slice of the head), and the value sum is split over VS
// groups of keys, the groups' partial sums added at the end; each
// invocation's chain of loads is 4 to 8 times shorter (decode attention is
// latency-bound: a handful of workgroups, each reading a few KB).
// Pass 2, `combine`: per query head, the tiles' results rescaled to the
// largest maximum and summed: out = sum_t o_t e^(m_t - m) / sum_t l_t e^(m_t - m).

struct Params {
    n_keys: u32,     // keys attended: positions 0 .. n_keys - 1
    capacity: u32,   // C
    tiles: u32,      // ceil(n_keys / KT)
    q_off: u32,      // query row (H*HD f32) first element
    out_off: u32,    // output row first element
    scale: f32,
    _p0: u32,
    _p1: u32,
}

const KT: u32 = 64u;           // keys per tile = invocations per workgroup
const HD4: u32 = HD / 4u;
const PART: u32 = HD + 2u;     // floats per (head, tile) in `part`

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<vec4<KV>>;
@group(0) @binding(3) var<storage, read> vc: array<vec4<KV>>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<storage, read> part_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> qs: array<vec4<f32>, G * HD4>;   // the G query rows, scaled
var<workgroup> sc: array<f32, G * KT>;          // scores, then exp(score - max)
var<workgroup> red: array<f32, G * KT>;
var<workgroup> stat: array<f32, 2u * G>;        // per head: max, sum

// Tree reduction of red[gi * KT ..] over the KT invocations, every head at
// once: maximum when `is_max`, else sum. Called in uniform control flow.
fn reduce(li: u32, is_max: bool) {
    for (var s = KT / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (li < s) {
            for (var gi = 0u; gi < G; gi++) {
                let a = red[gi * KT + li];
                let b = red[gi * KT + li + s];
                red[gi * KT + li] = select(a + b, max(a, b), is_max);
            }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(KT)
fn tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = wid.x;
    let g = wid.y;
    for (var e = li; e < G * HD4; e += KT) {
        let at = p.q_off + g * G * HD + 4u * e;
        qs[e] = vec4<f32>(q[at], q[at + 1u], q[at + 2u], q[at + 3u]) * p.scale;
    }
    workgroupBarrier();

    let j = t * KT + li;   // this invocation's key
    let live = j < p.n_keys;
    let krow = (g * p.capacity + min(j, p.n_keys - 1u)) * HD4;
    var s: array<f32, G>;
    for (var gi = 0u; gi < G; gi++) { s[gi] = 0.0; }
    for (var d = 0u; d < HD4; d++) {
        let kv = vec4<f32>(kc[krow + d]);
        for (var gi = 0u; gi < G; gi++) { s[gi] += dot(qs[gi * HD4 + d], kv); }
    }
    // A dead key scores the lowest finite float: e^(it - max) is exactly 0
    // (every tile has a live key, so max is a real score).
    for (var gi = 0u; gi < G; gi++) {
        let v = select(-3.402823e38, s[gi], live);
        sc[gi * KT + li] = v;
        red[gi * KT + li] = v;
    }
    reduce(li, true);
    if (li < G) { stat[li] = red[li * KT]; }
    workgroupBarrier();
    for (var gi = 0u; gi < G; gi++) {
        let e = exp(sc[gi * KT + li] - stat[gi]);
        sc[gi * KT + li] = e;
        red[gi * KT + li] = e;
    }
    reduce(li, false);
    if (li < G) { stat[G + li] = red[li * KT]; }
    workgroupBarrier();

    let last = p.n_keys - 1u;
    for (var e = li; e < G * HD4; e += KT) {
        let gi = e / HD4;
        let d4 = e % HD4;
        var o = vec4<f32>(0.0);
        for (var jj = 0u; jj < KT; jj++) {
            let row = g * p.capacity + min(t * KT + jj, last);
            o = fma(vec4<f32>(sc[gi * KT + jj]), vec4<f32>(vc[row * HD4 + d4]), o);
        }
        let at = ((g * G + gi) * p.tiles + t) * PART + 4u * d4;
        part[at] = o.x;
        part[at + 1u] = o.y;
        part[at + 2u] = o.z;
        part[at + 3u] = o.w;
    }
    if (li < G) {
        let at = ((g * G + li) * p.tiles + t) * PART + HD;
        part[at] = stat[li];
        part[at + 1u] = stat[G + li];
    }
}

// ---------------------------------------------------------------- tile_wide

const TW: u32 = 256u;          // tile_wide's invocations
const KP: u32 = TW / KT;       // invocations a key, for the scores
const VU: u32 = G * HD4;       // value units: (query head, 4 dimensions)

// Partial scores (G * KT * KP), then the reductions (G * KT), then the value
// groups' partial sums (4 * VU * VS): SCR floats, the largest of the three.
var<workgroup> scr: array<f32, SCR>;

// As `reduce`, over scr[gi * KT ..], by the first KT invocations.
fn reduce_wide(li: u32, is_max: bool) {
    for (var s = KT / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (li < s) {
            for (var gi = 0u; gi < G; gi++) {
                let a = scr[gi * KT + li];
                let b = scr[gi * KT + li + s];
                scr[gi * KT + li] = select(a + b, max(a, b), is_max);
            }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(TW)
fn tile_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = wid.x;
    let g = wid.y;
    for (var e = li; e < G * HD4; e += TW) {
        let at = p.q_off + g * G * HD + 4u * e;
        qs[e] = vec4<f32>(q[at], q[at + 1u], q[at + 2u], q[at + 3u]) * p.scale;
    }
    workgroupBarrier();

    // Scores: invocation li takes slice li % KP of key li / KP.
    let key = li / KP;
    let slice = li % KP;
    let krow = (g * p.capacity + min(t * KT + key, p.n_keys - 1u)) * HD4;
    var s: array<f32, G>;
    for (var gi = 0u; gi < G; gi++) { s[gi] = 0.0; }
    for (var d = slice; d < HD4; d += KP) {
        let kv = vec4<f32>(kc[krow + d]);
        for (var gi = 0u; gi < G; gi++) { s[gi] += dot(qs[gi * HD4 + d], kv); }
    }
    for (var gi = 0u; gi < G; gi++) { scr[(gi * KT + key) * KP + slice] = s[gi]; }
    // This invocation's value rows (at most one unit: VU * VS <= TW), loaded
    // now so that the loads are in flight during the softmax's reductions.
    let last = p.n_keys - 1u;
    let vu = li % VU;
    let vg = li / VU;
    var vrow: array<vec4<KV>, KT / VS>;
    if (li < VU * VS) {
        for (var i = 0u; i < KT / VS; i++) {
            let row = g * p.capacity + min(t * KT + vg * (KT / VS) + i, last);
            vrow[i] = vc[row * HD4 + vu % HD4];
        }
    }
    workgroupBarrier();
    // The slices summed in order; a dead key scores the lowest finite float.
    var v: array<f32, G>;
    if (li < KT) {
        let live = t * KT + li < p.n_keys;
        for (var gi = 0u; gi < G; gi++) {
            var sum = 0.0;
            for (var pp = 0u; pp < KP; pp++) { sum += scr[(gi * KT + li) * KP + pp]; }
            v[gi] = select(-3.402823e38, sum, live);
        }
    }
    workgroupBarrier();
    if (li < KT) {
        for (var gi = 0u; gi < G; gi++) {
            sc[gi * KT + li] = v[gi];
            scr[gi * KT + li] = v[gi];
        }
    }
    reduce_wide(li, true);
    if (li < G) { stat[li] = scr[li * KT]; }
    workgroupBarrier();
    if (li < KT) {
        for (var gi = 0u; gi < G; gi++) {
            let e = exp(sc[gi * KT + li] - stat[gi]);
            sc[gi * KT + li] = e;
            scr[gi * KT + li] = e;
        }
    }
    reduce_wide(li, false);
    if (li < G) { stat[G + li] = scr[li * KT]; }
    workgroupBarrier();

    // Values: unit vu (query head, four dimensions) of key group vg sums
    // keys vg * KT / VS .. over its group, from the rows loaded above.
    if (li < VU * VS) {
        let gi = vu / HD4;
        var o = vec4<f32>(0.0);
        for (var i = 0u; i < KT / VS; i++) {
            o = fma(vec4<f32>(sc[gi * KT + vg * (KT / VS) + i]), vec4<f32>(vrow[i]), o);
        }
        scr[4u * li] = o.x;
        scr[4u * li + 1u] = o.y;
        scr[4u * li + 2u] = o.z;
        scr[4u * li + 3u] = o.w;
    }
    workgroupBarrier();
    for (var u = li; u < VU; u += TW) {
        var o = vec4<f32>(0.0);
        for (var vg = 0u; vg < VS; vg++) {
            let e = 4u * (vg * VU + u);
            o += vec4<f32>(scr[e], scr[e + 1u], scr[e + 2u], scr[e + 3u]);
        }
        let gi = u / HD4;
        let at = ((g * G + gi) * p.tiles + t) * PART + 4u * (u % HD4);
        part[at] = o.x;
        part[at + 1u] = o.y;
        part[at + 2u] = o.z;
        part[at + 3u] = o.w;
    }
    if (li < G) {
        let at = ((g * G + li) * p.tiles + t) * PART + HD;
        part[at] = stat[li];
        part[at + 1u] = stat[G + li];
    }
}

@compute @workgroup_size(KT)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wid.x;
    let base = h * p.tiles * PART;
    var m = -3.402823e38;
    for (var t = 0u; t < p.tiles; t++) { m = max(m, part_in[base + t * PART + HD]); }
    var l = 0.0;
    for (var t = 0u; t < p.tiles; t++) {
        l += part_in[base + t * PART + HD + 1u] * exp(part_in[base + t * PART + HD] - m);
    }
    let inv = 1.0 / l;
    for (var d = li; d < HD; d += KT) {
        var o = 0.0;
        for (var t = 0u; t < p.tiles; t++) {
            o += part_in[base + t * PART + d] * exp(part_in[base + t * PART + HD] - m);
        }
        out[p.out_off + h * HD + d] = o * inv;
    }
}
