// GEMV: y = W x for M vectors, W in one of the formats of src/ops/gemv.h
// (which describes the GPU layout and the variants), f32 sums.
//
// The shape comes in the uniform p (Params), so that one pipeline serves
// every matrix of a model; the prelude (src/ops/gemv.c) provides
//   const M: u32             vectors: x is M x K and y is M x N, row-major
//   const WG, TPR, RPW: u32  workgroup size, invocations per group, groups per
//                            workgroup (WG / TPR)
//   const RB, UR, RBMV: u32  rows per group, units of each row loaded per step
//                            before the arithmetic, ceil(RB * M / 4)
//   const CB: u32            blocks of quantised x per chunk (integer kernel)
//   the binding x and fn x_load(m: u32, v: u32) -> vec4<f32>: elements
//     4v .. 4v + 3 of vector m, zero past K
//   fn unit_fetch(row: u32, u: u32) -> Raw: the weight words of a unit
//   fn unit_dot(r: Raw, u: u32) -> array<f32, M>: its products with x (float;
//     on x quantised once, unit_idot's, u a block)
//   fn unit_idot(r: Raw, cb: u32) -> array<f32, M>: the same on quantised x,
//     block cb of the chunk (integer kernels)
//   fn x_slot(m: u32, cb: u32) -> u32, fn xq_lo(s: u32) / xq_hi(s: u32) ->
//     vec4<u32>, fn x_step(s: u32) -> f32, fn x_qsum(s: u32) -> i32: where
//     block cb of quantised vector m lives and its parts (integer kernels:
//     the chunk in workgroup memory, or the whole of x quantised once by
//     gemv_quant_x into xqb, which gemv then streams with no prologue and
//     no barrier before its first weight load)
//   fn idot4(a: u32, b: u32) -> i32: the dot product of four packed int8
//   fn row_reduce(v: vec4<f32>, li: u32) -> vec4<f32>: the sum over the TPR
//     invocations of a group, called in uniform control flow
//   fn row_scale(row: u32) -> f32: a per-row factor (I8's scale, else 1)
//   fn x_prologue(li: u32): what the workgroup computes before x_load is
//     called (the fused RMSNorm's scale), in uniform control flow
//   fn y_store(i: u32, v: f32): how a sum reaches y[i] (stored, or added to
//     what y holds: the residual stream)
// The format functions below are all compiled; the prelude picks one of each.
//
// Each invocation streams its rows' units t, t + TPR, ... (adjacent
// invocations read adjacent 16-byte words), UR * RB loads in flight before
// the arithmetic; each weight byte is read once; x comes from cache.

struct Params {
    n: u32,          // N: rows of W
    k: u32,          // K: columns of W, elements of x
    kb: u32,         // blocks of 32 per row, ceil(K / 32)
    units: u32,      // units per row; a unit is what one invocation reads in
                     // one step (4, 8 or 16 elements, or a block of 32)
    sc_base: u32,    // u32 index of the scales in the weight buffer
    groups_x: u32,   // workgroups per row of the dispatch grid
    row_v: u32,      // a row's length in 16-byte words (wide fetches)
    row_s: u32,      // a row's length in u32 words (narrow fetches; elements for f32 and f16 by element)
    eps: f32,        // the fused RMSNorm's epsilon
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Raw {
    a: vec4<u32>,
    b: vec4<u32>,   // Q8_0 and I8 blocks: bytes 16..31
    s: u32,         // block formats: f16 d in the low half (Q4_1: f16 m high)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> wv: array<vec4<u32>>;   // the weights as 16-byte words
@group(0) @binding(2) var<storage, read> ws: array<u32>;         // the same buffer as 4-byte words
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// Quantised x for the integer kernel, one chunk of CB blocks per vector.
var<workgroup> xq: array<vec4<u32>, 2u * M * CB>;   // 32 int8 per block
var<workgroup> xd: array<f32, M * CB>;              // 1 / id: the block's step
var<workgroup> xs: array<i32, M * CB>;              // sum of the block's q

// x quantised once for all workgroups (gemv_quant_x writes it, gemv reads
// it through unit_dot): block s of all M * kb is three 16-byte words, the 32 int8, then
// (step, sum) as bits.
@group(0) @binding(6) var<storage, read> xqb: array<vec4<u32>>;
@group(0) @binding(7) var<storage, read_write> xqb_out: array<vec4<u32>>;

// One block of quantised x.
struct XBlock {
    lo: vec4<u32>,   // int8 0..15
    hi: vec4<u32>,   // int8 16..31
    step: f32,       // 1 / id
    sum: i32,        // sum of the 32 q
}

fn no_words() -> vec4<u32> { return vec4<u32>(0u); }

// f16 number h (0 or 1) of the u32 at index i of ws, as the low half of a u32.
fn half_at(i: u32, h: u32) -> u32 { return (ws[i] >> (16u * h)) & 0xffffu; }

// ---------------------------------------------------------------- fetch

fn fetch_f32_4(row: u32, u: u32) -> Raw { return Raw(wv[row * p.row_v + u], no_words(), 0u); }

// Rows not a multiple of 4 long: element by element, zero past K.
fn fetch_f32_1(row: u32, u: u32) -> Raw {
    var a = vec4<u32>(0u);
    for (var e = 0u; e < 4u; e++) {
        let k = 4u * u + e;
        if (k < p.k) { a[e] = ws[row * p.row_s + k]; }
    }
    return Raw(a, no_words(), 0u);
}

fn fetch_f16_8(row: u32, u: u32) -> Raw { return Raw(wv[row * p.row_v + u], no_words(), 0u); }

fn fetch_f16_4(row: u32, u: u32) -> Raw {
    let i = row * p.row_s + 2u * u;
    return Raw(vec4<u32>(ws[i], ws[i + 1u], 0u, 0u), no_words(), 0u);
}

// Odd or not-a-multiple-of-4 rows: halves one at a time, each in a low half.
fn fetch_f16_1(row: u32, u: u32) -> Raw {
    var a = vec4<u32>(0u);
    for (var e = 0u; e < 4u; e++) {
        let k = 4u * u + e;
        if (k < p.k) { let h = row * p.row_s + k; a[e] = half_at(h / 2u, h % 2u); }
    }
    return Raw(a, no_words(), 0u);
}

fn fetch_i8_16(row: u32, u: u32) -> Raw { return Raw(wv[row * p.row_v + u], no_words(), 0u); }

fn fetch_i8_4(row: u32, u: u32) -> Raw {
    return Raw(vec4<u32>(ws[row * p.row_s + u], 0u, 0u, 0u), no_words(), 0u);
}

// A block of 32 of an I8 row (integer kernel): two 16-byte words when rows
// are a multiple of 32, else word by word, zero past K.
fn fetch_i8_32(row: u32, b: u32) -> Raw {
    if (p.k % 32u == 0u) {
        let i = row * p.row_v + 2u * b;
        return Raw(wv[i], wv[i + 1u], 0u);
    }
    var a = vec4<u32>(0u);
    var c = vec4<u32>(0u);
    let base = row * p.row_s;
    for (var e = 0u; e < 4u; e++) {
        if (32u * b + 4u * e < p.k) { a[e] = ws[base + 8u * b + e]; }
        if (32u * b + 16u + 4u * e < p.k) { c[e] = ws[base + 8u * b + 4u + e]; }
    }
    return Raw(a, c, 0u);
}

fn fetch_q8_0(row: u32, b: u32) -> Raw {
    let g = row * p.kb + b;
    return Raw(wv[2u * g], wv[2u * g + 1u], half_at(p.sc_base + g / 2u, g % 2u));
}

fn fetch_q4_0(row: u32, b: u32) -> Raw {
    let g = row * p.kb + b;
    return Raw(wv[g], no_words(), half_at(p.sc_base + g / 2u, g % 2u));
}

fn fetch_q4_1(row: u32, b: u32) -> Raw {
    let g = row * p.kb + b;
    return Raw(wv[g], no_words(), ws[p.sc_base + g]);
}

// ---------------------------------------------------------------- float products

// Four int8 of a word, sign-extended.
fn i8x4(w: u32) -> vec4<f32> {
    return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// The low and the high nibbles of the four bytes of a word.
fn nib_lo(w: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u));
}
fn nib_hi(w: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(w) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(15u));
}

fn dot_f32(r: Raw, u: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let w = bitcast<vec4<f32>>(r.a);
    for (var m = 0u; m < M; m++) { o[m] = dot(w, x_load(m, u)); }
    return o;
}

fn dot_f16_8(r: Raw, u: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let w0 = vec4<f32>(unpack2x16float(r.a.x), unpack2x16float(r.a.y));
    let w1 = vec4<f32>(unpack2x16float(r.a.z), unpack2x16float(r.a.w));
    for (var m = 0u; m < M; m++) { o[m] = dot(w0, x_load(m, 2u * u)) + dot(w1, x_load(m, 2u * u + 1u)); }
    return o;
}

fn dot_f16_4(r: Raw, u: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let w = vec4<f32>(unpack2x16float(r.a.x), unpack2x16float(r.a.y));
    for (var m = 0u; m < M; m++) { o[m] = dot(w, x_load(m, u)); }
    return o;
}

fn dot_f16_1(r: Raw, u: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let w = vec4<f32>(unpack2x16float(r.a.x).x, unpack2x16float(r.a.y).x,
                      unpack2x16float(r.a.z).x, unpack2x16float(r.a.w).x);
    for (var m = 0u; m < M; m++) { o[m] = dot(w, x_load(m, u)); }
    return o;
}

fn dot_i8_16(r: Raw, u: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let w0 = i8x4(r.a.x);
    let w1 = i8x4(r.a.y);
    let w2 = i8x4(r.a.z);
    let w3 = i8x4(r.a.w);
    for (var m = 0u; m < M; m++) {
        o[m] = dot(w0, x_load(m, 4u * u)) + dot(w1, x_load(m, 4u * u + 1u)) +
               dot(w2, x_load(m, 4u * u + 2u)) + dot(w3, x_load(m, 4u * u + 3u));
    }
    return o;
}

fn dot_i8_4(r: Raw, u: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let w = i8x4(r.a.x);
    for (var m = 0u; m < M; m++) { o[m] = dot(w, x_load(m, u)); }
    return o;
}

// The sums over a block of 32 of w * x for the 8 weight vectors wq.
fn block_dot(wq: array<vec4<f32>, 8>, m: u32, b: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < 8u; j++) { s += dot(wq[j], x_load(m, 8u * b + j)); }
    return s;
}

fn dot_q8_0(r: Raw, b: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let d = unpack2x16float(r.s).x;
    let wq = array<vec4<f32>, 8>(i8x4(r.a.x), i8x4(r.a.y), i8x4(r.a.z), i8x4(r.a.w),
                                 i8x4(r.b.x), i8x4(r.b.y), i8x4(r.b.z), i8x4(r.b.w));
    for (var m = 0u; m < M; m++) { o[m] = d * block_dot(wq, m, b); }
    return o;
}

fn dot_q4_0(r: Raw, b: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let d = unpack2x16float(r.s).x;
    let c = vec4<f32>(8.0);
    let wq = array<vec4<f32>, 8>(nib_lo(r.a.x) - c, nib_lo(r.a.y) - c, nib_lo(r.a.z) - c,
                                 nib_lo(r.a.w) - c, nib_hi(r.a.x) - c, nib_hi(r.a.y) - c,
                                 nib_hi(r.a.z) - c, nib_hi(r.a.w) - c);
    for (var m = 0u; m < M; m++) { o[m] = d * block_dot(wq, m, b); }
    return o;
}

// sum (d q + m) x = d sum q x + m sum x.
fn dot_q4_1(r: Raw, b: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let dm = unpack2x16float(r.s);
    let wq = array<vec4<f32>, 8>(nib_lo(r.a.x), nib_lo(r.a.y), nib_lo(r.a.z), nib_lo(r.a.w),
                                 nib_hi(r.a.x), nib_hi(r.a.y), nib_hi(r.a.z), nib_hi(r.a.w));
    for (var m = 0u; m < M; m++) {
        var sx = 0.0;
        for (var j = 0u; j < 8u; j++) { sx += dot(x_load(m, 8u * b + j), vec4<f32>(1.0)); }
        o[m] = dm.x * block_dot(wq, m, b) + dm.y * sx;
    }
    return o;
}

// ---------------------------------------------------------------- integer products

// Quantises block gb of vector m; the rule is wgml_ref_gemv_quantize_x's
// (src/ops/gemv.h), operation for operation.
fn quantize_block(m: u32, gb: u32) -> XBlock {
    var v: array<vec4<f32>, 8>;
    var amax = 0.0;
    for (var j = 0u; j < 8u; j++) {
        v[j] = x_load(m, 8u * gb + j);
        let a = abs(v[j]);
        amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    var id = 0.0;
    if (amax >= 8.673617379884035e-19) {   // 2^-60
        let fe = frexp(amax);
        // The division only guesses j (within one of the answer); the
        // comparisons decide it.
        var j = min(clamp(u32(127.0 / (4.0 * fe.fract)), 31u, 63u) + 2u, 63u);
        for (var i = 0u; i < 4u; i++) {
            if (amax * ldexp(f32(j), 2 - fe.exp) <= 127.0) { break; }
            j -= 1u;
        }
        id = ldexp(f32(j), 2 - fe.exp);
    }
    var o: XBlock;
    o.sum = 0;
    for (var j = 0u; j < 8u; j++) {
        let q = vec4<i32>(round(v[j] * id));
        o.sum += q.x + q.y + q.z + q.w;
        let b = bitcast<vec4<u32>>(q) & vec4<u32>(0xffu);
        let w = b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
        if (j < 4u) { o.lo[j] = w; } else { o.hi[j - 4u] = w; }
    }
    o.step = select(0.0, 1.0 / id, id > 0.0);
    return o;
}

// The chunk in workgroup memory (gemv_int).
fn chunk_store(slot: u32, b: XBlock) {
    xq[2u * slot] = b.lo;
    xq[2u * slot + 1u] = b.hi;
    xd[slot] = b.step;
    xs[slot] = b.sum;
}
fn chunk_slot(m: u32, cb: u32) -> u32 { return m * CB + cb; }
fn chunk_lo(s: u32) -> vec4<u32> { return xq[2u * s]; }
fn chunk_hi(s: u32) -> vec4<u32> { return xq[2u * s + 1u]; }
fn chunk_step(s: u32) -> f32 { return xd[s]; }
fn chunk_qsum(s: u32) -> i32 { return xs[s]; }

// x quantised once (gemv with integer products): cb is the block's index in
// the row.
fn once_slot(m: u32, cb: u32) -> u32 { return m * p.kb + cb; }
fn once_lo(s: u32) -> vec4<u32> { return xqb[3u * s]; }
fn once_hi(s: u32) -> vec4<u32> { return xqb[3u * s + 1u]; }
fn once_step(s: u32) -> f32 { return bitcast<f32>(xqb[3u * s + 2u].x); }
fn once_qsum(s: u32) -> i32 { return bitcast<i32>(xqb[3u * s + 2u].y); }

// Sum of the products of the 32 int8 in words (a, b) with x's block in slot.
fn idot_block(a: vec4<u32>, b: vec4<u32>, slot: u32) -> i32 {
    let x0 = xq_lo(slot);
    let x1 = xq_hi(slot);
    return idot4(a.x, x0.x) + idot4(a.y, x0.y) + idot4(a.z, x0.z) + idot4(a.w, x0.w) +
           idot4(b.x, x1.x) + idot4(b.y, x1.y) + idot4(b.z, x1.z) + idot4(b.w, x1.w);
}

fn idot_i8(r: Raw, cb: u32) -> array<f32, M> {
    var o: array<f32, M>;
    for (var m = 0u; m < M; m++) {
        let slot = x_slot(m, cb);
        o[m] = x_step(slot) * f32(idot_block(r.a, r.b, slot));
    }
    return o;
}

fn idot_q8_0(r: Raw, cb: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let d = unpack2x16float(r.s).x;
    for (var m = 0u; m < M; m++) {
        let slot = x_slot(m, cb);
        o[m] = d * x_step(slot) * f32(idot_block(r.a, r.b, slot));
    }
    return o;
}

// Nibbles are 0..15, valid as packed int8: sum (q - 8) x = sum q x - 8 sum x.
fn idot_q4_0(r: Raw, cb: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let d = unpack2x16float(r.s).x;
    let lo = r.a & vec4<u32>(0x0f0f0f0fu);
    let hi = (r.a >> vec4<u32>(4u)) & vec4<u32>(0x0f0f0f0fu);
    for (var m = 0u; m < M; m++) {
        let slot = x_slot(m, cb);
        o[m] = d * x_step(slot) * f32(idot_block(lo, hi, slot) - 8 * x_qsum(slot));
    }
    return o;
}

fn idot_q4_1(r: Raw, cb: u32) -> array<f32, M> {
    var o: array<f32, M>;
    let dm = unpack2x16float(r.s);
    let lo = r.a & vec4<u32>(0x0f0f0f0fu);
    let hi = (r.a >> vec4<u32>(4u)) & vec4<u32>(0x0f0f0f0fu);
    for (var m = 0u; m < M; m++) {
        let slot = x_slot(m, cb);
        o[m] = x_step(slot) * (dm.x * f32(idot_block(lo, hi, slot)) + dm.y * f32(x_qsum(slot)));
    }
    return o;
}

// ---------------------------------------------------------------- kernels

fn acc_add(a: array<f32, M>, b: array<f32, M>) -> array<f32, M> {
    var o = a;
    var c = b;
    for (var m = 0u; m < M; m++) { o[m] += c[m]; }
    return o;
}

// Row r of the invocation group's RB rows, clamped into the matrix (rows
// past N are computed from the last row and never stored).
fn row_of(row0: u32, r: u32) -> u32 { return min(row0 + r, p.n - 1u); }

// Reduces the sums of the group's RB rows (M each) over its TPR invocations,
// four at a time, and stores them (y_store: the prelude's output rule).
fn finish(row0: u32, t: u32, li: u32, sums: array<array<f32, M>, RB>) {
    var acc = sums;
    for (var g = 0u; g < RBMV; g++) {
        var v = vec4<f32>(0.0);
        for (var i = 0u; i < 4u; i++) {
            let e = 4u * g + i;
            if (e < RB * M) { v[i] = acc[e / M][e % M]; }
        }
        let s = row_reduce(v, li);
        if (t == 0u) {
            for (var i = 0u; i < 4u; i++) {
                let e = 4u * g + i;
                let row = row0 + e / M;
                if (e < RB * M && row < p.n) { y_store((e % M) * p.n + row, s[i] * row_scale(row)); }
            }
        }
    }
}

// Each invocation group (TPR invocations) computes RB adjacent rows; per
// step it issues UR units of each row (UR * RB loads in flight) before the
// arithmetic, which reads x once for the RB rows.
@compute @workgroup_size(WG)
fn gemv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    x_prologue(li);
    let row0 = ((wid.y * p.groups_x + wid.x) * RPW + li / TPR) * RB;
    let t = li % TPR;
    let units = p.units;
    var acc: array<array<f32, M>, RB>;
    if (row0 < p.n) {
        var u = t;
        for (; u + (UR - 1u) * TPR < units; u += UR * TPR) {
            var raw: array<Raw, UR * RB>;
            for (var j = 0u; j < UR; j++) {
                for (var r = 0u; r < RB; r++) { raw[j * RB + r] = unit_fetch(row_of(row0, r), u + j * TPR); }
            }
            for (var j = 0u; j < UR; j++) {
                for (var r = 0u; r < RB; r++) { acc[r] = acc_add(acc[r], unit_dot(raw[j * RB + r], u + j * TPR)); }
            }
        }
        for (; u < units; u += TPR) {
            for (var r = 0u; r < RB; r++) { acc[r] = acc_add(acc[r], unit_dot(unit_fetch(row_of(row0, r), u), u)); }
        }
    }
    finish(row0, t, li, acc);
}

// The integer kernel: per chunk of CB blocks, the workgroup quantises x into
// workgroup memory (one block per invocation), then each group's invocations
// stream their rows' blocks against it.
@compute @workgroup_size(WG)
fn gemv_int(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    x_prologue(li);
    let row0 = ((wid.y * p.groups_x + wid.x) * RPW + li / TPR) * RB;
    let t = li % TPR;
    let kb = p.kb;
    var acc: array<array<f32, M>, RB>;
    for (var c0 = 0u; c0 < kb; c0 += CB) {
        workgroupBarrier();   // the previous chunk is used up
        for (var e = li; e < M * CB; e += WG) {
            let cb = e % CB;
            if (c0 + cb < kb) { chunk_store(e, quantize_block(e / CB, c0 + cb)); }
        }
        workgroupBarrier();
        if (row0 < p.n) {
            let nb = min(CB, kb - c0);
            var b = t;
            for (; b + (UR - 1u) * TPR < nb; b += UR * TPR) {
                var raw: array<Raw, UR * RB>;
                for (var j = 0u; j < UR; j++) {
                    for (var r = 0u; r < RB; r++) { raw[j * RB + r] = unit_fetch(row_of(row0, r), c0 + b + j * TPR); }
                }
                for (var j = 0u; j < UR; j++) {
                    for (var r = 0u; r < RB; r++) { acc[r] = acc_add(acc[r], unit_idot(raw[j * RB + r], b + j * TPR)); }
                }
            }
            for (; b < nb; b += TPR) {
                for (var r = 0u; r < RB; r++) { acc[r] = acc_add(acc[r], unit_idot(unit_fetch(row_of(row0, r), c0 + b), b)); }
            }
        }
    }
    finish(row0, t, li, acc);
}

// x quantised once, for every workgroup of the GEMV that follows (the
// integer kernel's alternative to quantising it in each): invocation e
// quantises block e of the M * kb.
@compute @workgroup_size(WG)
fn gemv_quant_x(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    x_prologue(li);
    let e = (wid.y * p.groups_x + wid.x) * WG + li;
    if (e < M * p.kb) {
        let b = quantize_block(e / p.kb, e % p.kb);
        xqb_out[3u * e] = b.lo;
        xqb_out[3u * e + 1u] = b.hi;
        xqb_out[3u * e + 2u] = vec4<u32>(bitcast<u32>(b.step), bitcast<u32>(b.sum), 0u, 0u);
    }
}
