// Repetition penalty, in place on the logits: for each distinct recent token
// t (the host removes repeats and ids outside the vocabulary), a positive
// logit is multiplied by 1/penalty, a negative one by penalty (llama.cpp's
// rule). The reciprocal is computed once on the host so that the GPU and the
// C reference multiply by the same float (WGSL division is not correctly
// rounded; multiplication is).
//
// A template: the prelude defines CAP4, the capacity of the id list in
// vec4s (one pipeline per sampler's repeat_last_n class).

struct Params {
    n_vocab: u32,
    count: u32,
    penalty: f32,
    inv_penalty: f32,
    ids: array<vec4<u32>, CAP4>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = wid.x * 256u + li;
    if (i >= p.count) { return; }
    let t = p.ids[i / 4u][i % 4u];
    if (t >= p.n_vocab) { return; }
    let v = x[t];
    x[t] = select(v * p.penalty, v * p.inv_penalty, v > 0.0);
}
