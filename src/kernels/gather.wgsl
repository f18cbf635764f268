// Embedding gather: out[r, :] = table[ids[r], :] for a row-major (V x dim)
// f32 table and u32 ids. An id outside the table gives a row of zeros: a
// defined result, never a read past the table (callers that want an error
// check ids on the host, where they come from).
// One invocation per output element; workgroups on a 2D grid of groups_x
// columns (wgml_ops_grid).

struct Params {
    n_ids: u32,
    vocab: u32,
    dim: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let v = (wid.y * p.groups_x + wid.x) * 256u + li;
    if (v >= p.n_ids * p.dim) { return; }
    let id = ids[v / p.dim];
    var x = 0.0;
    if (id < p.vocab) { x = table[id * p.dim + v % p.dim]; }
    out[v] = x;
}
