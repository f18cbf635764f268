// Row normalisations on f32, one workgroup per row:
//   layernorm: y = (x - mean) / sqrt(var + eps) * gamma + beta   (entry layernorm)
//   rmsnorm:   y = x / sqrt(mean(x^2) + eps) * gamma             (entry rmsnorm)
// rmsnorm binds no beta; WGSL allows the unused binding to stay unbound.

override WG: u32 = 256u;   // power of two

struct Params {
    rows: u32,
    cols: u32,
    groups_x: u32,   // workgroups per dispatch row
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;

var<workgroup> red: array<f32, WG>;

fn reduce_sum(v: f32, t: u32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) { red[t] = red[t] + red[t + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG)
fn layernorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * p.groups_x + wid.x;
    if (row >= p.rows) { return; }
    let t = lid.x;
    let base = row * p.cols;
    let n = f32(p.cols);

    var s = 0.0;
    for (var c = t; c < p.cols; c += WG) { s += x[base + c]; }
    let mean = reduce_sum(s, t) / n;

    // Second pass over (x - mean): exact where E[x^2] - mean^2 would cancel.
    var v = 0.0;
    for (var c = t; c < p.cols; c += WG) { let d = x[base + c] - mean; v += d * d; }
    let inv = inverseSqrt(reduce_sum(v, t) / n + p.eps);

    for (var c = t; c < p.cols; c += WG) {
        y[base + c] = (x[base + c] - mean) * inv * gamma[c] + beta[c];
    }
}

@compute @workgroup_size(WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * p.groups_x + wid.x;
    if (row >= p.rows) { return; }
    let t = lid.x;
    let base = row * p.cols;

    var s = 0.0;
    for (var c = t; c < p.cols; c += WG) { let v = x[base + c]; s += v * v; }
    let inv = inverseSqrt(reduce_sum(s, t) / f32(p.cols) + p.eps);

    for (var c = t; c < p.cols; c += WG) { y[base + c] = x[base + c] * inv * gamma[c]; }
}
