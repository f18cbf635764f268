// Elementwise unary ops on f32: y[i] = op(x[i]).
// OP is an override constant, so each op compiles to a branch-free kernel.
// Dispatch is 2D when n needs more than maxComputeWorkgroupsPerDimension
// workgroups; row_stride is the number of invocations in one dispatch row.

override OP: u32 = 0u;     // 0 scale, 1 gelu (erf form), 2 silu
override WG: u32 = 256u;   // workgroup size

struct Params {
    n: u32,            // elements
    row_stride: u32,   // invocations per dispatch row (groups_x * WG)
    scale: f32,        // for OP 0
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): WGSL has no erf.
fn erf_approx(v: f32) -> f32 {
    let a = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
             + t * (-1.453152027 + t * 1.061405429))));
    let r = 1.0 - poly * exp(-a * a);
    return select(-r, r, v >= 0.0);
}

fn apply(v: f32) -> f32 {
    switch OP {
        case 1u: { return 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752)); }
        case 2u: { return v / (1.0 + exp(-v)); }
        default: { return v * p.scale; }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row_stride + gid.x;
    if (i >= p.n) { return; }
    y[i] = apply(x[i]);
}
