/*
 * Template kernels (src/kernels/rows.wgsl, matmul.wgsl) call hook functions
 * that a prelude supplies. These helpers write the parts of a prelude every
 * caller shares; src/ops supplies plain hooks, the graph executor fused ones.
 */
#ifndef WGML_TEMPLATES_H
#define WGML_TEMPLATES_H

#include "ops/ewise.h"

typedef enum wgml_row_kind { WGML_ROW_LAYERNORM = 0, WGML_ROW_RMSNORM, WGML_ROW_SOFTMAX } wgml_row_kind;

enum {
    WGML_ROW_SLOT_GAMMA = 1,   // binding slots of a row kernel's parameters
    WGML_ROW_SLOT_BETA = 2,
    WGML_ROW_SLOT_FREE = 3,    // first slot a prelude may use for its own bindings
    WGML_MM_SLOT_C = 3,        // matmul: A and B are slots 1 and 2 in the template
    WGML_MM_SLOT_FREE = 4,
};

const char *wgml_row_entry(wgml_row_kind kind);

// Writes everything a row kernel's prelude shares (see rows.wgsl): the vector
// type V, the shape and layout constants, the reductions (subgroups when the
// device has a fixed subgroup size, else workgroup memory) and the gamma and
// beta declarations. Gives the dispatch grid and the vector width (1 or 4)
// that the hooks must use.
// values_per_lane 0 takes the tuned (or default) value for the row length.
wgml_status wgml_rows_prelude(wgml_gpu *gpu, wgml_text *t, uint32_t rows, uint32_t cols,
                              float eps, uint32_t values_per_lane, uint32_t *gx, uint32_t *gy,
                              uint32_t *vec);

// The values per invocation row kernels use for this row length (tuned or default).
uint32_t wgml_rows_values_per_lane(wgml_gpu *gpu, uint32_t cols);
// Times the candidates on a rows x cols layernorm and stores the fastest.
wgml_status wgml_rows_tune(wgml_gpu *gpu, uint32_t rows, uint32_t cols, uint32_t *best,
                           double *best_ns);

// The matmul template's family ("matmul" or "matmul_f16"), and its grid and
// override constants (tile height, B's layout; static storage, *n of them)
// for an M x N result.
const char *wgml_matmul_family(wgml_dtype dtype);
void wgml_matmul_grid(uint32_t M, uint32_t N, uint32_t *gx, uint32_t *gy);
// Whether f16 matmuls can use matmul_sgm.wgsl (subgroup matrices) here.
bool wgml_matmul_can_use_subgroup_matrix(wgml_gpu *gpu);
const wgml_gpu_constant *wgml_matmul_constants(bool b_transposed, uint32_t M, uint32_t N,
                                               size_t *n);

// The encoder kernels (gather.wgsl, attention.wgsl, pool.wgsl) as the ops
// and the graph executor dispatch them: checks, uniform parameters and grid.
// Bindings: 1 the input (table, qkv, x), 2 the second input (ids, mask,
// weights), 3 the output. Attention's prelude (its head size and tiles) is
// appended to `prelude`; *family is its kernel (attention_vec4 where the head
// size is a multiple of 4 up to 64, else attention).
wgml_status wgml_gather_setup(wgml_gpu *gpu, uint32_t n_ids, uint32_t vocab, uint32_t dim,
                              uint32_t params[4], uint32_t grid[3]);
wgml_status wgml_attention_setup(wgml_gpu *gpu, wgml_text *prelude, uint32_t batch, uint32_t seq,
                                 uint32_t heads, uint32_t head_dim, float scale,
                                 uint32_t params[4], uint32_t grid[3], const char **family);
wgml_status wgml_pool_setup(wgml_gpu *gpu, wgml_pool_mode mode, bool normalize, uint32_t batch,
                            uint32_t seq, uint32_t dim, uint32_t params[8], uint32_t grid[3]);

#endif
