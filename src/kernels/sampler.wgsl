// Token sampling over V logits: greedy argmax, or top-k / top-p / min-p
// thresholds, temperature and a seeded draw, in a few passes over V without a
// sort (src/models/sampler.c records them; wgml_sampler_reference is the
// specification).
//
// Keys. A logit's f32 bits become a u32 whose unsigned order is the float's
// total order (negative values bit-flipped, the sign bit set on the others;
// -0 sorts just below +0). NaN and -inf become key 0, "invalid": never chosen
// while a finite logit exists. +inf becomes the key of the largest finite
// float. Every threshold below is a key, and a token survives when its key is
// at least the threshold, so ties at a boundary are all kept.
//
// Masses. A weight exp(e) (e <= 0, so at most 1) is held as 64-bit fixed
// point with FRAC = 40 fraction bits in two u32 words (lo, hi), converted
// exactly from the float's bits. Integer sums are exact in any order, so
// every workgroup, pass and run computes the same sums from the same
// weights: a seed reproduces a draw bit for bit, and two passes that sum
// the same weights in different orders agree. Weights below 2^-40 count as
// 0; V (< 2^24) weights of at most 2^40 fit in 64 bits.
//
// Passes over V (G workgroups of WG invocations, `items` logits each):
//   max_pass      per workgroup: the largest key and its lowest id -> parts;
//                 clears the global histograms.
//   greedy_final  1 workgroup: reduces the parts -> the id.
//   hist          a radix-select level: a 256-bin histogram of bits
//                 31-24, 23-16, 15-8 or 7-0 of the keys that share the
//                 prefix chosen so far. kind 0 (top-k): counts of the valid
//                 keys; kind 1 (top-p): counts and masses exp(v - max) of the
//                 keys at or above the top-k threshold. Workgroup histograms
//                 (shared-memory atomics) are added into the global ones.
//   draw_partial  per workgroup: the mass exp((v - max) / T) of the
//                 survivors (key >= tau) -> dparts.
//   draw_final    1 workgroup: the target t = floor(r * Z / 2^32) for the
//                 random r and the total mass Z; the chunk where the
//                 cumulative mass in id order passes t, then the token.
// Each pass first updates the sampling state (the choice made from the
// previous level's finished histogram, or the maximum from the parts): every
// workgroup computes it identically, and workgroup 0 stores it in the pass's
// own state slot, which the next pass reads. Slots keep one pass's writes
// apart from the reads of the others in the same dispatch.

struct Params {
    n: u32,          // V
    items: u32,      // logits per invocation; a workgroup covers WG * items
    groups: u32,     // G, workgroups of the passes over V
    slot: u32,       // state slot this pass writes; it reads slot - 1
    op_in: u32,      // state update at the start of the pass (OP_*)
    level_in: u32,   // the histogram level that update reads
    kind: u32,       // hist: 0 top-k, 1 top-p
    level: u32,      // hist: radix level 0..3
    flags: u32,      // FLAG_*
    top_k: u32,
    top_p32: u32,    // round(top_p * 2^32)
    min_p_log: f32,  // ln(min_p)
    inv_temp: f32,   // 1 / temperature
    seed_lo: u32,
    seed_hi: u32,
    step_lo: u32,
    step_hi: u32,
    out_index: u32,  // *_out entries: the element of out_tokens the id also goes to
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 256u;
const BINS: u32 = 256u;
const HIST_LEVEL_WORDS: u32 = 768u;   // counts, mass lo, mass hi
const HIST_WORDS: u32 = 6144u;        // 4 top-k levels and 4 top-p levels

// work buffer (u32 words)
const RESULT: u32 = 0u;     // [id, r]
const STATE: u32 = 16u;     // slots of SLOT words
const SLOT: u32 = 16u;
const N_SLOTS: u32 = 16u;
const PARTS: u32 = 272u;    // STATE + N_SLOTS * SLOT; 2 words per workgroup, then dparts

// state fields
const MAX_KEY: u32 = 0u;
const MAX_ID: u32 = 1u;
const K_PREFIX: u32 = 2u;
const K_ABOVE: u32 = 3u;    // valid keys above the prefix's range
const K_DONE: u32 = 4u;
const TAU_K: u32 = 5u;
const P_PREFIX: u32 = 6u;
const P_ABOVE_LO: u32 = 7u; // mass above the prefix's range
const P_ABOVE_HI: u32 = 8u;
const P_TARGET_LO: u32 = 9u;
const P_TARGET_HI: u32 = 10u;
const TAU_P: u32 = 11u;
const TAU: u32 = 12u;

const OP_NONE: u32 = 0u;
const OP_MAX: u32 = 1u;
const OP_SELECT_K: u32 = 2u;
const OP_SELECT_P: u32 = 3u;

const FLAG_TOP_K: u32 = 1u;
const FLAG_TOP_P: u32 = 2u;
const FLAG_MIN_P: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> work: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
// The *_out entries (chained generation): the id also goes to
// out_tokens[out_index], where the next step's embedding gather reads it.
@group(0) @binding(4) var<storage, read_write> out_tokens: array<u32>;

var<workgroup> st: array<u32, SLOT>;
var<workgroup> sa: array<u32, WG>;   // counts / keys
var<workgroup> sb: array<u32, WG>;   // mass lo / ids
var<workgroup> sc: array<u32, WG>;   // mass hi
var<workgroup> sel: atomic<u32>;
var<workgroup> hc: array<atomic<u32>, BINS>;
var<workgroup> hlo: array<atomic<u32>, BINS>;
var<workgroup> hhi: array<atomic<u32>, BINS>;

// ---------------------------------------------------------------- keys, fixed point

fn key_of(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x7fffffffu) > 0x7f800000u || b == 0xff800000u) { return 0u; }   // NaN, -inf
    if (b == 0x7f800000u) { return 0xff7fffffu; }                             // +inf
    if ((b & 0x80000000u) != 0u) { return ~b; }
    return b | 0x80000000u;
}

fn value_of(key: u32) -> f32 {
    if ((key & 0x80000000u) != 0u) { return bitcast<f32>(key ^ 0x80000000u); }
    return bitcast<f32>(~key);
}

// exp(e) for e <= 0 as (lo, hi) fixed point with 40 fraction bits, truncated.
fn fixed_of(w: f32) -> vec2<u32> {
    let b = bitcast<u32>(min(w, 1.0));
    let e = (b >> 23u) & 255u;
    if (e == 0u) { return vec2<u32>(0u, 0u); }
    let m = (b & 0x7fffffu) | 0x800000u;   // w = m * 2^(e - 150); * 2^40 = m * 2^(e - 110)
    if (e >= 110u) {
        let s = e - 110u;   // at most 17
        if (s == 0u) { return vec2<u32>(m, 0u); }
        return vec2<u32>(m << s, m >> (32u - s));
    }
    let r = 110u - e;
    if (r >= 24u) { return vec2<u32>(0u, 0u); }
    return vec2<u32>(m >> r, 0u);
}

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn ge64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y > b.y || (a.y == b.y && a.x >= b.x);
}

// The 64-bit product a * b as (hi, lo).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return vec2<u32>(a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), a * b);
}

// floor(r * z / 2^32) for a 64-bit z: r * z.hi + the high word of r * z.lo.
fn mul_frac(r: u32, z: vec2<u32>) -> vec2<u32> {
    let l = mulhilo(r, z.x);
    let h = mulhilo(r, z.y);
    return add64(vec2<u32>(h.y, h.x), vec2<u32>(l.x, 0u));
}

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC 2011): counter (step_lo, step_hi, 0, 0), key (seed_lo, seed_hi);
// the first output word. wgml_sampler_random is the same function in C.
fn philox_first(seed_lo: u32, seed_hi: u32, step_lo: u32, step_hi: u32) -> u32 {
    var c = vec4<u32>(step_lo, step_hi, 0u, 0u);
    var k = vec2<u32>(seed_lo, seed_hi);
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) { k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u); }
        let m0 = mulhilo(0xD2511F53u, c.x);
        let m1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
    }
    return c.x;
}

fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
    return ka > kb || (ka == kb && ia < ib);
}

fn weight1(v: f32, m: f32) -> vec2<u32> {
    return fixed_of(exp(max(v - m, -200.0)));
}

fn weight_t(v: f32, m: f32) -> vec2<u32> {
    return fixed_of(exp(max((v - m) * p.inv_temp, -200.0)));
}

// ---------------------------------------------------------------- workgroup scans

// In place over (sa, sb:sc): inclusive suffix sums, s[b] = sum over b' >= b.
fn suffix_scan(li: u32) {
    for (var off = 1u; off < WG; off <<= 1u) {
        var c = sa[li];
        var m = vec2<u32>(sb[li], sc[li]);
        if (li + off < WG) {
            c += sa[li + off];
            m = add64(m, vec2<u32>(sb[li + off], sc[li + off]));
        }
        workgroupBarrier();
        sa[li] = c;
        sb[li] = m.x;
        sc[li] = m.y;
        workgroupBarrier();
    }
}

// In place over sb:sc: inclusive prefix sums, s[b] = sum over b' <= b.
fn prefix_scan64(li: u32) {
    for (var off = 1u; off < WG; off <<= 1u) {
        var m = vec2<u32>(sb[li], sc[li]);
        if (li >= off) { m = add64(m, vec2<u32>(sb[li - off], sc[li - off])); }
        workgroupBarrier();
        sb[li] = m.x;
        sc[li] = m.y;
        workgroupBarrier();
    }
}

// ---------------------------------------------------------------- state updates

fn reduce_max(li: u32) {
    var bk = 0u;
    var bi = 0xffffffffu;
    for (var g = li; g < p.groups; g += WG) {
        let k = work[PARTS + 2u * g];
        let i = work[PARTS + 2u * g + 1u];
        if (better(k, i, bk, bi)) { bk = k; bi = i; }
    }
    sa[li] = bk;
    sb[li] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s && better(sa[li + s], sb[li + s], sa[li], sb[li])) {
            sa[li] = sa[li + s];
            sb[li] = sb[li + s];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        for (var f = 0u; f < SLOT; f++) { st[f] = 0u; }
        st[MAX_KEY] = sa[0];
        st[MAX_ID] = sb[0];
        st[K_DONE] = select(1u, 0u, (p.flags & FLAG_TOP_K) != 0u);
        st[TAU_K] = 1u;
        st[TAU_P] = 1u;
        st[TAU] = 1u;
    }
    workgroupBarrier();
}

// Top-k, level L: the highest bin b whose keys and those above reach k.
fn select_k(li: u32, level: u32) {
    sa[li] = atomicLoad(&hist[level * HIST_LEVEL_WORDS + li]);
    sb[li] = 0u;
    sc[li] = 0u;
    if (li == 0u) { atomicStore(&sel, 0u); }
    workgroupBarrier();
    suffix_scan(li);
    let above = st[K_ABOVE];
    if (above + sa[li] >= p.top_k) { atomicMax(&sel, li + 1u); }
    workgroupBarrier();
    if (li == 0u && st[K_DONE] == 0u) {
        let s1 = atomicLoad(&sel);
        if (s1 == 0u) {
            // Fewer valid keys than k: top-k keeps them all.
            st[K_DONE] = 1u;
            st[TAU_K] = 1u;
        } else {
            let b = s1 - 1u;
            var next = 0u;
            if (b + 1u < BINS) { next = sa[b + 1u]; }
            st[K_ABOVE] = above + next;
            st[K_PREFIX] = st[K_PREFIX] | (b << (24u - 8u * level));
            if (level == 3u) {
                st[K_DONE] = 1u;
                st[TAU_K] = max(st[K_PREFIX], 1u);
            }
        }
    }
    workgroupBarrier();
}

// Top-p, level L: the highest non-empty bin b whose mass and the mass above
// reach the target floor(top_p32 * Z / 2^32), Z the mass of top-k's
// survivors (the sum of level 0's bins).
fn select_p(li: u32, level: u32) {
    let base = (4u + level) * HIST_LEVEL_WORDS;
    let cnt = atomicLoad(&hist[base + li]);
    sa[li] = cnt;
    sb[li] = atomicLoad(&hist[base + BINS + li]);
    sc[li] = atomicLoad(&hist[base + 2u * BINS + li]);
    if (li == 0u) { atomicStore(&sel, 0u); }
    workgroupBarrier();
    suffix_scan(li);
    if (level == 0u && li == 0u) {
        let t = mul_frac(p.top_p32, vec2<u32>(sb[0], sc[0]));
        st[P_TARGET_LO] = t.x;
        st[P_TARGET_HI] = t.y;
    }
    workgroupBarrier();
    let above = vec2<u32>(st[P_ABOVE_LO], st[P_ABOVE_HI]);
    let goal = vec2<u32>(st[P_TARGET_LO], st[P_TARGET_HI]);
    if (cnt > 0u && ge64(add64(above, vec2<u32>(sb[li], sc[li])), goal)) {
        atomicMax(&sel, li + 1u);
    }
    workgroupBarrier();
    if (li == 0u) {
        let s1 = atomicLoad(&sel);
        if (s1 > 0u) {
            let b = s1 - 1u;
            var next = vec2<u32>(0u, 0u);
            if (b + 1u < BINS) { next = vec2<u32>(sb[b + 1u], sc[b + 1u]); }
            let a = add64(above, next);
            st[P_ABOVE_LO] = a.x;
            st[P_ABOVE_HI] = a.y;
            st[P_PREFIX] = st[P_PREFIX] | (b << (24u - 8u * level));
            if (level == 3u) { st[TAU_P] = max(st[P_PREFIX], 1u); }
        }
    }
    workgroupBarrier();
}

fn prologue(li: u32) {
    if (p.op_in != OP_MAX && li < SLOT) {
        if (p.slot > 0u) { st[li] = work[STATE + (p.slot - 1u) * SLOT + li]; } else { st[li] = 0u; }
    }
    workgroupBarrier();
    switch (p.op_in) {
        case 1u: { reduce_max(li); }
        case 2u: { select_k(li, p.level_in); }
        case 3u: { select_p(li, p.level_in); }
        default: {}
    }
}

fn state_store(g: u32, li: u32) {
    if (g == 0u && li < SLOT) { work[STATE + p.slot * SLOT + li] = st[li]; }
}

// ---------------------------------------------------------------- passes

@compute @workgroup_size(WG)
fn max_pass(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let g = wid.x;
    for (var w = g * WG + li; w < HIST_WORDS; w += p.groups * WG) { atomicStore(&hist[w], 0u); }
    var bk = 0u;
    var bi = 0xffffffffu;
    let base = g * WG * p.items;
    for (var i = 0u; i < p.items; i++) {
        let j = base + i * WG + li;
        if (j < p.n) {
            let k = key_of(x[j]);
            if (better(k, j, bk, bi)) { bk = k; bi = j; }
        }
    }
    sa[li] = bk;
    sb[li] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s && better(sa[li + s], sb[li + s], sa[li], sb[li])) {
            sa[li] = sa[li + s];
            sb[li] = sb[li + s];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        work[PARTS + 2u * g] = sa[0];
        work[PARTS + 2u * g + 1u] = sb[0];
    }
}

fn greedy_body(li: u32) {
    prologue(li);
    if (li == 0u) {
        work[RESULT] = st[MAX_ID];
        work[RESULT + 1u] = 0u;
    }
}

@compute @workgroup_size(WG)
fn greedy_final(@builtin(local_invocation_index) li: u32) { greedy_body(li); }

@compute @workgroup_size(WG)
fn greedy_final_out(@builtin(local_invocation_index) li: u32) {
    greedy_body(li);
    if (li == 0u) { out_tokens[p.out_index] = work[RESULT]; }
}

@compute @workgroup_size(WG)
fn hist_pass(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let g = wid.x;
    prologue(li);
    state_store(g, li);
    atomicStore(&hc[li], 0u);
    atomicStore(&hlo[li], 0u);
    atomicStore(&hhi[li], 0u);
    workgroupBarrier();
    let is_p = p.kind == 1u;
    let level = p.level;
    let prefix = select(st[K_PREFIX], st[P_PREFIX], is_p);
    let lowest = select(1u, st[TAU_K], is_p);
    let shift = 24u - 8u * level;
    let m = value_of(st[MAX_KEY]);
    let base = g * WG * p.items;
    for (var i = 0u; i < p.items; i++) {
        let j = base + i * WG + li;
        if (j < p.n) {
            let k = key_of(x[j]);
            if (k >= lowest && (level == 0u || (k >> (shift + 8u)) == (prefix >> (shift + 8u)))) {
                let b = (k >> shift) & 255u;
                atomicAdd(&hc[b], 1u);
                if (is_p) {
                    let w = weight1(value_of(k), m);
                    let old = atomicAdd(&hlo[b], w.x);
                    let hi = w.y + select(0u, 1u, old + w.x < old);
                    if (hi != 0u) { atomicAdd(&hhi[b], hi); }
                }
            }
        }
    }
    workgroupBarrier();
    let out = (p.kind * 4u + level) * HIST_LEVEL_WORDS;
    let c = atomicLoad(&hc[li]);
    if (c != 0u) {
        atomicAdd(&hist[out + li], c);
        if (is_p) {
            let lo = atomicLoad(&hlo[li]);
            let old = atomicAdd(&hist[out + BINS + li], lo);
            let hi = atomicLoad(&hhi[li]) + select(0u, 1u, old + lo < old);
            if (hi != 0u) { atomicAdd(&hist[out + 2u * BINS + li], hi); }
        }
    }
}

@compute @workgroup_size(WG)
fn draw_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let g = wid.x;
    prologue(li);
    if (li == 0u) {
        var tau = max(1u, max(st[TAU_K], st[TAU_P]));
        if ((p.flags & FLAG_MIN_P) != 0u) {
            tau = max(tau, key_of(value_of(st[MAX_KEY]) + p.min_p_log));
        }
        st[TAU] = min(tau, max(st[MAX_KEY], 1u));   // the maximum always survives
    }
    workgroupBarrier();
    state_store(g, li);
    let tau = st[TAU];
    let m = value_of(st[MAX_KEY]);
    var acc = vec2<u32>(0u, 0u);
    let base = g * WG * p.items;
    for (var i = 0u; i < p.items; i++) {
        let j = base + i * WG + li;
        if (j < p.n) {
            let k = key_of(x[j]);
            if (k >= tau) { acc = add64(acc, weight_t(value_of(k), m)); }
        }
    }
    sb[li] = acc.x;
    sc[li] = acc.y;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            let r = add64(vec2<u32>(sb[li], sc[li]), vec2<u32>(sb[li + s], sc[li + s]));
            sb[li] = r.x;
            sc[li] = r.y;
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        work[PARTS + 2u * p.groups + 2u * g] = sb[0];
        work[PARTS + 2u * p.groups + 2u * g + 1u] = sc[0];
    }
}

var<workgroup> pick: array<u32, 3>;   // chunk, residual lo, residual hi

@compute @workgroup_size(WG)
fn draw_final(@builtin(local_invocation_index) li: u32) { draw_body(li); }

@compute @workgroup_size(WG)
fn draw_final_out(@builtin(local_invocation_index) li: u32) {
    draw_body(li);
    if (li == 0u) { out_tokens[p.out_index] = work[RESULT]; }
}

fn draw_body(li: u32) {
    prologue(li);
    let dparts = PARTS + 2u * p.groups;
    let tau = st[TAU];
    let m = value_of(st[MAX_KEY]);
    let r = philox_first(p.seed_lo, p.seed_hi, p.step_lo, p.step_hi);

    // The chunk: each invocation sums a run of consecutive parts.
    let per = (p.groups + WG - 1u) / WG;
    var own = vec2<u32>(0u, 0u);
    for (var q = 0u; q < per; q++) {
        let g = li * per + q;
        if (g < p.groups) { own = add64(own, vec2<u32>(work[dparts + 2u * g], work[dparts + 2u * g + 1u])); }
    }
    sb[li] = own.x;
    sc[li] = own.y;
    if (li == 0u) {
        atomicStore(&sel, 0xffffffffu);
        pick[0] = 0xffffffffu;
    }
    workgroupBarrier();
    prefix_scan64(li);
    let z = vec2<u32>(sb[WG - 1u], sc[WG - 1u]);
    let t = mul_frac(r, z);
    var cum = sub64(vec2<u32>(sb[li], sc[li]), own);
    if (ge64(t, cum) && !ge64(t, add64(cum, own))) {
        for (var q = 0u; q < per; q++) {
            let g = li * per + q;
            if (g < p.groups) {
                let next = add64(cum, vec2<u32>(work[dparts + 2u * g], work[dparts + 2u * g + 1u]));
                if (!ge64(t, next)) {
                    let res = sub64(t, cum);
                    pick[0] = g;
                    pick[1] = res.x;
                    pick[2] = res.y;
                    break;
                }
                cum = next;
            }
        }
    }
    workgroupBarrier();

    // The token inside the chunk: each invocation takes `items` consecutive
    // logits, so the cumulative mass runs in id order. Same weights as
    // draw_partial, so the chunk's sum is the one the target was cut from.
    let chunk = pick[0];
    let res = vec2<u32>(pick[1], pick[2]);
    let first = min(chunk, p.groups - 1u) * WG * p.items + li * p.items;
    own = vec2<u32>(0u, 0u);
    for (var i = 0u; i < p.items; i++) {
        let j = first + i;
        if (j < p.n) {
            let k = key_of(x[j]);
            if (k >= tau) { own = add64(own, weight_t(value_of(k), m)); }
        }
    }
    sb[li] = own.x;
    sc[li] = own.y;
    workgroupBarrier();
    prefix_scan64(li);
    cum = sub64(vec2<u32>(sb[li], sc[li]), own);
    if (chunk != 0xffffffffu && ge64(res, cum) && !ge64(res, add64(cum, own))) {
        for (var i = 0u; i < p.items; i++) {
            let j = first + i;
            if (j < p.n) {
                let k = key_of(x[j]);
                if (k >= tau) {
                    let next = add64(cum, weight_t(value_of(k), m));
                    if (!ge64(res, next)) {
                        atomicMin(&sel, j);
                        break;
                    }
                    cum = next;
                }
            }
        }
    }
    workgroupBarrier();
    if (li == 0u) {
        let found = atomicLoad(&sel);
        // No valid logit, or (never seen) weights that differ from the
        // partial pass's: the maximum.
        work[RESULT] = select(st[MAX_ID], found, found != 0xffffffffu && st[MAX_KEY] != 0u);
        work[RESULT + 1u] = r;
    }
}
