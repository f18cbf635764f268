// Repetition penalty, in place on the logits: for each distinct recent token
// t, a positive logit is multiplied by 1/penalty, a negative one by penalty
// (llama.cpp's rule); ids outside the vocabulary are ignored. The reciprocal
// is computed once on the host so that the GPU and the C reference multiply
// by the same float (WGSL division is not correctly rounded; multiplication
// is).
//
// A template: the prelude (src/models/sampler.c) defines the uniform p
// (struct Params: n_vocab, count, penalty, inv_penalty, then where the ids
// come from) and
//   fn recent_id(i: u32) -> u32   the i-th recent token (i < count)
//   fn is_last(i: u32, t: u32) -> bool   whether no later recent token is t
// With the ids in the uniform (the host removed repeats; CAP4 vec4s, one
// pipeline per sampler's repeat_last_n class) is_last is always true; with
// the ids in a GPU buffer (chained generation: the tokens the GPU sampled)
// each occurrence looks at the ones after it, so that the penalty applies
// once per distinct id.

@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = wid.x * 256u + li;
    if (i >= p.count) { return; }
    let t = recent_id(i);
    if (t >= p.n_vocab || !is_last(i, t)) { return; }
    let v = x[t];
    x[t] = select(v * p.penalty, v * p.inv_penalty, v > 0.0);
}
