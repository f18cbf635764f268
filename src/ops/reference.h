/*
 * Plain C references for every op: the specification. Readable first, fast
 * never; accumulation in double. Same dimension legend as ops.h.
 */
#ifndef WGML_REFERENCE_H
#define WGML_REFERENCE_H

#include "ops/ops.h"

void wgml_ref_unary(wgml_unary_op op, const float *x, float *y, size_t n, float scale);
void wgml_ref_binary(wgml_binary_op op, const float *a, const float *b, float *y, size_t n,
                     size_t b_n);
// f32 matmul: a (M x K), b (K x N), c (M x N).
void wgml_ref_matmul(const float *a, const float *b, float *c, size_t M, size_t N, size_t K);
void wgml_ref_softmax(const float *x, float *y, size_t rows, size_t cols);
void wgml_ref_layernorm(const float *x, const float *gamma, const float *beta, float *y,
                        size_t rows, size_t cols, float eps);
void wgml_ref_rmsnorm(const float *x, const float *gamma, float *y, size_t rows,
                      size_t cols, float eps);

// c (M x N) = a (M x K) b^T, b stored N x K.
void wgml_ref_matmul_nt(const float *a, const float *b, float *c, size_t M, size_t N, size_t K);
// out (n_ids x dim): table rows by id; ids >= vocab give zeros.
void wgml_ref_gather(const float *table, const uint32_t *ids, float *out, size_t n_ids,
                     size_t vocab, size_t dim);
// qkv (B*L, 3*H*HD), mask (B, L), out (B*L, H*HD): see wgml_op_attention.
void wgml_ref_attention(const float *qkv, const float *mask, float *out, size_t batch,
                        size_t seq, size_t heads, size_t head_dim, float scale);
// x (B*L, D), weights (B, L), out (B, D): see wgml_op_pool.
void wgml_ref_pool(wgml_pool_mode mode, bool normalize, const float *x, const float *weights,
                   float *out, size_t batch, size_t seq, size_t dim);

#endif
