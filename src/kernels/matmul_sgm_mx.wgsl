enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// The matrix layer of matmul_sgm.wgsl on the device's subgroup matrices
// (Dawn's chromium_experimental_subgroup_matrix; VK_KHR_cooperative_matrix
// on Vulkan): 16 x 16 x 16, f16 x f16 -> f32.
//
// The uniformity diagnostic is off because the workgroup's subgroups load
// different matrices: each offset is uniform within its subgroup, which
// Tint's analysis (workgroup-wide) cannot see. llama.cpp's WebGPU backend
// runs several subgroups a workgroup the same way.

alias SML = subgroup_matrix_left<f16, 16, 16>;
alias SMR = subgroup_matrix_right<f16, 16, 16>;
alias SMA = subgroup_matrix_result<f32, 16, 16>;

// matmul_sgm.wgsl takes a shorter epilogue for the stand-in.
const SM_EMULATED: bool = false;

fn sm_init(lane: u32) {}

fn sm_zero() -> SMA { return SMA(); }

fn sm_load_a(off: u32) -> SML {
    return subgroupMatrixLoad<SML>(&As, off, false, LDA);
}

// B_T (a constant of the prelude) is the layout: col_major must be a
// constant expression.
fn sm_load_b(off: u32) -> SMR {
    return subgroupMatrixLoad<SMR>(&Bs, off, B_T, LDB);
}

fn sm_mma(a: SML, b: SMR, c: SMA) -> SMA {
    return subgroupMatrixMultiplyAccumulate(a, b, c);
}

fn sm_store(off: u32, c: SMA) {
    subgroupMatrixStore(&Cs, off, c, false, 16u);
}
