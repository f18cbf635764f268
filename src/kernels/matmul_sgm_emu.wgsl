enable f16;
// A plain-WGSL stand-in for matmul_sgm_mx.wgsl, so that devices without
// subgroup matrices (the CPU devices of the test suite) run matmul_sgm.wgsl's
// tiling, staging, edges and epilogues. Only tests ask for it
// (wgml_sgm_debug_emulate); it is slow.
//
// Like the device's matrices, a result is spread over the 32 lanes of a
// subgroup: lane l holds elements l + 32 t (t = 0..7) of the row-major
// 16 x 16 matrix, that is rows l / 16 + 2 t of column l % 16. A left or
// right operand is only its place in workgroup memory, read when it is
// multiplied (cheap to compile: no private arrays of operands); that is
// exact for matmul_sgm.wgsl, which never overwrites a staged tile between
// loading a matrix from it and multiplying. Products of f16 values are exact
// in f32 and summed in f32, as the f16 x f16 -> f32 configuration does (the
// order of the sums may differ).

struct SML { off: u32 }
struct SMR { off: u32 }
struct SMA { v: array<f32, 8> }

var<private> sm_lane: u32;
// 128 (8 elements x 16 products), as a value the shader compiler cannot see
// through (M < 2^32 - 128 for any product launched): unrolled, the products
// made lavapipe spend most of 20 s compiling one pipeline.
var<private> sm_steps: u32;

// matmul_sgm.wgsl takes a shorter epilogue for the stand-in.
const SM_EMULATED: bool = true;

fn sm_init(lane: u32) {
    sm_lane = lane;
    sm_steps = min(128u, 128u + p.M);
}

fn sm_zero() -> SMA { return SMA(); }

fn sm_load_a(off: u32) -> SML { return SML(off); }

fn sm_load_b(off: u32) -> SMR { return SMR(off); }

fn sm_mma(a: SML, b: SMR, c: SMA) -> SMA {
    var o = c;
    let n = sm_lane % 16u;
    for (var i = 0u; i < sm_steps; i++) {
        let t = i / 16u;
        let k = i % 16u;
        let r = sm_lane / 16u + 2u * t;
        var bv = Bs[b.off + k * LDB + n];
        if (B_T) { bv = Bs[b.off + n * LDB + k]; }
        o.v[t] += f32(As[a.off + r * LDA + k]) * f32(bv);
    }
    return o;
}

fn sm_store(off: u32, c: SMA) {
    for (var t = 0u; t < 8u; t++) { Cs[off + sm_lane + 32u * t] = c.v[t]; }
}
