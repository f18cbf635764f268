// Rotary position embedding and the KV cache store (src/ops/decoder.h has
// the definitions and the dimension legend): `rope` rotates rows in place,
// `kv_store` writes rows (rotated or not) into a cache, `rope_qkv` does both
// for rows of q | k | v in one dispatch (q rotated in place, k rotated into
// the key cache, v into the value cache).
//
// A template: the prelude gives `alias KV = f32` or `f16` (the cache's
// element type, with `enable f16;`).
//
// One invocation per unit: a unit is two elements of one head of one row,
// the pair that rotates together, or two dimensions past R that pass
// through. Unit u < R/2 is pair u; units from R/2 on cover dimensions
// R .. HD - 1 two at a time. The rotation's cos and sin come from the table
// (position-major, R/2 pairs per position).

struct Params {
    n: u32,          // rows
    heads: u32,      // heads per row
    hd: u32,         // HD
    n_rot: u32,      // R
    pos: u32,        // position of row 0
    x_off: u32,      // source (rope: the rows rotated in place) first element
    x_stride: u32,   // and row stride, elements
    neox: u32,       // 1: pairs (i, i + R/2); 0: pairs (2i, 2i + 1)
    rotate: u32,     // kv_store: 1 rotates (keys), 0 copies (values)
    bias: u32,       // 1: add bias[h * HD + d] first
    capacity: u32,   // kv_store, rope_qkv: C
    groups_x: u32,   // workgroups per row of the dispatch grid
    q_heads: u32,    // rope_qkv: H (heads is H + 2 HKV there)
    kv_heads: u32,   // rope_qkv: HKV
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<vec2<f32>>;   // (cos, sin)
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;       // rope: in place
@group(0) @binding(4) var<storage, read> src: array<f32>;           // kv_store
@group(0) @binding(5) var<storage, read_write> cache: array<KV>;    // kv_store; rope_qkv: keys
@group(0) @binding(6) var<storage, read_write> vcache: array<KV>;   // rope_qkv: values

const WG: u32 = 64u;

struct Unit {
    live: bool,
    row: u32,
    head: u32,
    a: u32,        // the two dimensions of the unit within the head
    b: u32,
    pair: i32,     // the pair's index into the table row, -1 to pass through
}

fn unit_of(wid: vec3<u32>, li: u32) -> Unit {
    let i = (wid.y * p.groups_x + wid.x) * WG + li;
    let per_head = p.hd / 2u;
    var u: Unit;
    u.live = i < p.n * p.heads * per_head;
    let k = i % per_head;
    u.head = (i / per_head) % p.heads;
    u.row = i / (per_head * p.heads);
    let half = p.n_rot / 2u;
    if (k < half) {
        u.pair = i32(k);
        if (p.neox != 0u) { u.a = k; u.b = k + half; } else { u.a = 2u * k; u.b = 2u * k + 1u; }
    } else {
        u.pair = -1;
        u.a = p.n_rot + 2u * (k - half);
        u.b = u.a + 1u;
    }
    return u;
}

// The unit's two values after bias and rotation, from `v0`, `v1`.
fn turn(u: Unit, v0: f32, v1: f32) -> vec2<f32> {
    var a = v0;
    var b = v1;
    if (p.bias != 0u) {
        a += bias[u.head * p.hd + u.a];
        b += bias[u.head * p.hd + u.b];
    }
    if (u.pair < 0) { return vec2<f32>(a, b); }
    let cs = table[(p.pos + u.row) * (p.n_rot / 2u) + u32(u.pair)];
    return vec2<f32>(a * cs.x - b * cs.y, a * cs.y + b * cs.x);
}

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let u = unit_of(wid, li);
    if (!u.live) { return; }
    let base = p.x_off + u.row * p.x_stride + u.head * p.hd;
    let r = turn(u, x[base + u.a], x[base + u.b]);
    x[base + u.a] = r.x;
    x[base + u.b] = r.y;
}

@compute @workgroup_size(WG)
fn kv_store(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    var u = unit_of(wid, li);
    if (!u.live) { return; }
    if (p.rotate == 0u) { u.pair = -1; }
    let base = p.x_off + u.row * p.x_stride + u.head * p.hd;
    let r = turn(u, src[base + u.a], src[base + u.b]);
    let dst = (u.head * p.capacity + p.pos + u.row) * p.hd;
    cache[dst + u.a] = KV(r.x);
    cache[dst + u.b] = KV(r.y);
}

@compute @workgroup_size(WG)
fn rope_qkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    var u = unit_of(wid, li);
    if (!u.live) { return; }
    let base = p.x_off + u.row * p.x_stride + u.head * p.hd;
    let is_v = u.head >= p.q_heads + p.kv_heads;
    if (is_v) { u.pair = -1; }
    let r = turn(u, x[base + u.a], x[base + u.b]);
    if (u.head < p.q_heads) {
        x[base + u.a] = r.x;
        x[base + u.b] = r.y;
        return;
    }
    var g = u.head - p.q_heads;
    if (is_v) { g -= p.kv_heads; }
    let dst = (g * p.capacity + p.pos + u.row) * p.hd;
    if (is_v) {
        vcache[dst + u.a] = KV(r.x);
        vcache[dst + u.b] = KV(r.y);
    } else {
        cache[dst + u.a] = KV(r.x);
        cache[dst + u.b] = KV(r.y);
    }
}
