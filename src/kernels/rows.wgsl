// Row kernels, one workgroup per row: layernorm, rmsnorm and softmax.
//
// A template: the prelude (written by src/ops/rowwise.c, or by the graph
// executor with fused prologues and epilogues) provides
//   const ROWS, COLS: u32; const WG: u32 (power of two); const PER: u32
//     (= ceil(COLS / WG), values each invocation keeps in registers);
//   const GROUPS_X: u32 (workgroups per dispatch row); const EPS: f32;
//   fn row_load(row: u32, c: u32) -> f32      the input, prologue applied
//   fn row_store(row: u32, c: u32, v: f32)    the output, epilogue applied
//   storage arrays gamma and beta (f32, COLS each).
// Each invocation loads its PER values once; the reductions then run on
// registers and a workgroup-shared tree.

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

@compute @workgroup_size(WG)
fn layernorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * GROUPS_X + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (row >= ROWS) { return; }
    let t = lid.x;
    var vals: array<f32, PER>;
    var s = 0.0;
    for (var i = 0u; i < PER; i++) {
        let c = t + i * WG;
        if (c < COLS) { vals[i] = row_load(row, c); s += vals[i]; }
    }
    let mean = reduce_sum(s, t) / f32(COLS);
    // Second pass over (x - mean), from registers: exact where E[x^2] - mean^2 cancels.
    var v = 0.0;
    for (var i = 0u; i < PER; i++) {
        if (t + i * WG < COLS) { let d = vals[i] - mean; v += d * d; }
    }
    let inv = inverseSqrt(reduce_sum(v, t) / f32(COLS) + EPS);
    for (var i = 0u; i < PER; i++) {
        let c = t + i * WG;
        if (c < COLS) { row_store(row, c, (vals[i] - mean) * inv * gamma[c] + beta[c]); }
    }
}

@compute @workgroup_size(WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * GROUPS_X + wid.x;
    if (row >= ROWS) { return; }
    let t = lid.x;
    var vals: array<f32, PER>;
    var s = 0.0;
    for (var i = 0u; i < PER; i++) {
        let c = t + i * WG;
        if (c < COLS) { vals[i] = row_load(row, c); s += vals[i] * vals[i]; }
    }
    let inv = inverseSqrt(reduce_sum(s, t) / f32(COLS) + EPS);
    for (var i = 0u; i < PER; i++) {
        let c = t + i * WG;
        if (c < COLS) { row_store(row, c, vals[i] * inv * gamma[c]); }
    }
}

@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * GROUPS_X + wid.x;
    if (row >= ROWS) { return; }
    let t = lid.x;
    var vals: array<f32, PER>;
    var m = -3.402823466e+38;
    for (var i = 0u; i < PER; i++) {
        let c = t + i * WG;
        if (c < COLS) { vals[i] = row_load(row, c); m = max(m, vals[i]); }
    }
    m = reduce_max(m, t);
    var s = 0.0;
    for (var i = 0u; i < PER; i++) {
        if (t + i * WG < COLS) { vals[i] = exp(vals[i] - m); s += vals[i]; }
    }
    let inv = 1.0 / reduce_sum(s, t);
    for (var i = 0u; i < PER; i++) {
        let c = t + i * WG;
        if (c < COLS) { row_store(row, c, vals[i] * inv); }
    }
}
