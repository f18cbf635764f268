#include "ops/reference.h"

#include <math.h>
#include <stdlib.h>

void wgml_ref_unary(wgml_unary_op op, const float *x, float *y, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        switch (op) {
        case WGML_UNARY_SCALE: y[i] = (float)(v * scale); break;
        case WGML_UNARY_GELU: y[i] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0)))); break;
        case WGML_UNARY_SILU: y[i] = (float)(v / (1.0 + exp(-v))); break;
        }
    }
}

void wgml_ref_binary(wgml_binary_op op, const float *a, const float *b, float *y, size_t n,
                     size_t b_n)
{
    for (size_t i = 0; i < n; i++) {
        double bv = b[i % b_n];
        y[i] = (float)(op == WGML_BINARY_MUL ? a[i] * bv : a[i] + bv);
    }
}

void wgml_ref_matmul(const float *a, const float *b, float *c, size_t M, size_t N, size_t K)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
            c[i * N + j] = (float)s;
        }
}

void wgml_ref_softmax(const float *x, float *y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double m = -INFINITY, s = 0;
        for (size_t c = 0; c < cols; c++) m = fmax(m, xr[c]);
        for (size_t c = 0; c < cols; c++) s += exp(xr[c] - m);
        for (size_t c = 0; c < cols; c++) y[r * cols + c] = (float)(exp(xr[c] - m) / s);
    }
}

void wgml_ref_layernorm(const float *x, const float *gamma, const float *beta, float *y,
                        size_t rows, size_t cols, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double mean = 0, var = 0;
        for (size_t c = 0; c < cols; c++) mean += xr[c];
        mean /= cols;
        for (size_t c = 0; c < cols; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= cols;
        double inv = 1.0 / sqrt(var + eps);
        for (size_t c = 0; c < cols; c++)
            y[r * cols + c] = (float)((xr[c] - mean) * inv * gamma[c] + beta[c]);
    }
}

void wgml_ref_rmsnorm(const float *x, const float *gamma, float *y, size_t rows,
                      size_t cols, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double ss = 0;
        for (size_t c = 0; c < cols; c++) ss += (double)xr[c] * xr[c];
        double inv = 1.0 / sqrt(ss / cols + eps);
        for (size_t c = 0; c < cols; c++) y[r * cols + c] = (float)(xr[c] * inv * gamma[c]);
    }
}

void wgml_ref_matmul_nt(const float *a, const float *b, float *c, size_t M, size_t N, size_t K)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) s += (double)a[i * K + k] * b[j * K + k];
            c[i * N + j] = (float)s;
        }
}

void wgml_ref_gather(const float *table, const uint32_t *ids, float *out, size_t n_ids,
                     size_t vocab, size_t dim)
{
    for (size_t r = 0; r < n_ids; r++)
        for (size_t c = 0; c < dim; c++)
            out[r * dim + c] = ids[r] < vocab ? table[ids[r] * dim + c] : 0.0f;
}

void wgml_ref_attention(const float *qkv, const float *mask, float *out, size_t batch,
                        size_t seq, size_t heads, size_t head_dim, float scale)
{
    size_t D = heads * head_dim, stride = 3 * D;
    double *p = malloc(seq * sizeof *p);
    if (!p) return;   // the caller's comparison then fails
    for (size_t b = 0; b < batch; b++)
        for (size_t h = 0; h < heads; h++)
            for (size_t i = 0; i < seq; i++) {
                const float *q = qkv + (b * seq + i) * stride + h * head_dim;
                double m = -INFINITY, s = 0;
                for (size_t j = 0; j < seq; j++) {
                    const float *k = qkv + (b * seq + j) * stride + D + h * head_dim;
                    double dot = 0;
                    for (size_t d = 0; d < head_dim; d++) dot += (double)q[d] * k[d];
                    p[j] = dot * scale + mask[b * seq + j];
                    m = fmax(m, p[j]);
                }
                for (size_t j = 0; j < seq; j++) s += p[j] = exp(p[j] - m);
                for (size_t d = 0; d < head_dim; d++) {
                    double o = 0;
                    for (size_t j = 0; j < seq; j++)
                        o += p[j] * qkv[(b * seq + j) * stride + 2 * D + h * head_dim + d];
                    out[(b * seq + i) * D + h * head_dim + d] = (float)(o / s);
                }
            }
    free(p);
}

void wgml_ref_pool(wgml_pool_mode mode, bool normalize, const float *x, const float *weights,
                   float *out, size_t batch, size_t seq, size_t dim)
{
    for (size_t b = 0; b < batch; b++) {
        double wsum = 0, ss = 0;
        for (size_t l = 0; l < seq; l++) wsum += weights[b * seq + l];
        for (size_t c = 0; c < dim; c++) {
            double v = 0;
            if (mode == WGML_POOL_CLS) {
                v = x[b * seq * dim + c];
            } else {
                for (size_t l = 0; l < seq; l++)
                    v += (double)weights[b * seq + l] * x[(b * seq + l) * dim + c];
                v /= fmax(wsum, 1e-9);
            }
            out[b * dim + c] = (float)v;
            ss += v * v;
        }
        if (!normalize) continue;
        double inv = 1.0 / fmax(sqrt(ss), 1e-12);
        for (size_t c = 0; c < dim; c++) out[b * dim + c] = (float)(out[b * dim + c] * inv);
    }
}
