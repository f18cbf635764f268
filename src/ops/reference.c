#include "ops/reference.h"

#include <math.h>

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
