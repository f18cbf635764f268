// Row softmax on f32: y[r, :] = exp(x[r, :] - max) / sum.
// One workgroup per row; a workgroup-shared tree reduction for max and sum.
// Rows beyond maxComputeWorkgroupsPerDimension spill into the y dimension.

override WG: u32 = 256u;   // power of two

struct Params {
    rows: u32,
    cols: u32,
    groups_x: u32,   // workgroups per dispatch row
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, WG>;

fn reduce_max(v: f32, t: u32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) { red[t] = max(red[t], red[t + s]); }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * p.groups_x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (row >= p.rows) { return; }
    let t = lid.x;
    let base = row * p.cols;

    var m = -3.402823466e+38;
    for (var c = t; c < p.cols; c += WG) { m = max(m, x[base + c]); }
    m = reduce_max(m, t);

    var s = 0.0;
    for (var c = t; c < p.cols; c += WG) { s += exp(x[base + c] - m); }
    s = reduce_sum(s, t);

    let inv = 1.0 / s;
    for (var c = t; c < p.cols; c += WG) { y[base + c] = exp(x[base + c] - m) * inv; }
}
