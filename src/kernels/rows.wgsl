// Row kernels: layernorm, rmsnorm and softmax over the last dimension.
//
// A template: the prelude (src/ops/rowwise.c, plus fused hooks from the graph
// executor) provides
//   alias V = f32 or vec4<f32>; const VW: u32 (1 or 4, elements per V)
//   const ROWS, COLS, CV (= COLS / VW): u32
//   const WG: u32 (workgroup size); const TPR: u32 (invocations per row);
//   const RPW: u32 (rows per workgroup, WG / TPR); const PER: u32
//     (= ceil(CV / TPR), the V values each invocation keeps in registers)
//   const GROUPS_X: u32 (workgroups per dispatch row); const EPS: f32
//   fn row_sum(v: f32, li: u32) -> f32, fn row_max(v: f32, li: u32) -> f32:
//     reductions over the TPR invocations of one row (a subgroup, or the
//     whole workgroup through shared memory), called in uniform control flow
//   fn hsum(v: V) -> f32, fn hmax(v: V) -> f32: across the lanes of one V
//   fn row_load(row: u32, j: u32) -> V        the input, prologue applied
//   fn row_store(row: u32, j: u32, v: V)      the output, epilogue applied
//   storage arrays gamma and beta of V (CV each)
// Each invocation loads its values once; the statistics come from registers.
// Invocations past the last row still take part in the reductions.

@compute @workgroup_size(WG)
fn layernorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row = (wid.y * GROUPS_X + wid.x) * RPW + li / TPR;
    let t = li % TPR;
    let live = row < ROWS;
    var vals: array<V, PER>;
    var s = 0.0;
    for (var i = 0u; i < PER; i++) {
        let j = t + i * TPR;
        if (live && j < CV) { vals[i] = row_load(row, j); s += hsum(vals[i]); }
    }
    let mean = row_sum(s, li) / f32(COLS);
    // Second pass over (x - mean), from registers: exact where E[x^2] - mean^2 cancels.
    var v = 0.0;
    for (var i = 0u; i < PER; i++) {
        if (live && t + i * TPR < CV) { let d = vals[i] - V(mean); v += hsum(d * d); }
    }
    let inv = inverseSqrt(row_sum(v, li) / f32(COLS) + EPS);
    for (var i = 0u; i < PER; i++) {
        let j = t + i * TPR;
        if (live && j < CV) { row_store(row, j, (vals[i] - V(mean)) * inv * gamma[j] + beta[j]); }
    }
}

@compute @workgroup_size(WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row = (wid.y * GROUPS_X + wid.x) * RPW + li / TPR;
    let t = li % TPR;
    let live = row < ROWS;
    var vals: array<V, PER>;
    var s = 0.0;
    for (var i = 0u; i < PER; i++) {
        let j = t + i * TPR;
        if (live && j < CV) { vals[i] = row_load(row, j); s += hsum(vals[i] * vals[i]); }
    }
    let inv = inverseSqrt(row_sum(s, li) / f32(COLS) + EPS);
    for (var i = 0u; i < PER; i++) {
        let j = t + i * TPR;
        if (live && j < CV) { row_store(row, j, vals[i] * inv * gamma[j]); }
    }
}

@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row = (wid.y * GROUPS_X + wid.x) * RPW + li / TPR;
    let t = li % TPR;
    let live = row < ROWS;
    var vals: array<V, PER>;
    var m = -3.402823466e+38;
    for (var i = 0u; i < PER; i++) {
        let j = t + i * TPR;
        if (live && j < CV) { vals[i] = row_load(row, j); m = max(m, hmax(vals[i])); }
    }
    m = row_max(m, li);
    var s = 0.0;
    for (var i = 0u; i < PER; i++) {
        if (live && t + i * TPR < CV) { vals[i] = exp(vals[i] - V(m)); s += hsum(vals[i]); }
    }
    let inv = 1.0 / row_sum(s, li);
    for (var i = 0u; i < PER; i++) {
        let j = t + i * TPR;
        if (live && j < CV) { row_store(row, j, vals[i] * inv); }
    }
}
