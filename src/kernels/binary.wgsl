// Elementwise binary ops on f32: y[i] = a[i] op b[i % b_n].
// b_n < n broadcasts b along the leading dimension (a bias over rows).

override OP: u32 = 0u;     // 0 add, 1 mul
override WG: u32 = 256u;

struct Params {
    n: u32,            // elements of a and y
    row_stride: u32,   // invocations per dispatch row
    b_n: u32,          // elements of b; divides n
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row_stride + gid.x;
    if (i >= p.n) { return; }
    let bv = b[select(i, i % p.b_n, p.b_n != p.n)];
    if (OP == 1u) {
        y[i] = a[i] * bv;
    } else {
        y[i] = a[i] + bv;
    }
}
