// The decoder ops' references (decoder.h): the specification the kernels are
// tested against. Readable first; sums in double.
#include "ops/decoder.h"

#include <math.h>
#include <stdlib.h>

// theta(p, i) for pairs i < R/2 at position p, computed in f32 the way the
// specification (decoder.h) says: b^(-2/R) raised by repeated multiplication.
static void rope_angles(const wgml_rope_params *r, uint32_t p, float *theta)
{
    float step = powf(r->base, -2.0f / (float)r->n_rot);
    float t = (float)p;
    for (uint32_t i = 0; i < r->n_rot / 2; i++) {
        float ff = r->freq_factors ? r->freq_factors[i] : 1.0f;
        theta[i] = r->scale * (t / ff);
        t *= step;
    }
}

void wgml_ref_rope(const wgml_rope_params *r, float *x, size_t n, size_t stride, size_t heads,
                   size_t head_dim, uint32_t pos)
{
    size_t half = r->n_rot / 2;
    float *theta = malloc((half ? half : 1) * sizeof *theta);
    if (!theta) return;
    for (size_t row = 0; row < n; row++) {
        rope_angles(r, pos + (uint32_t)row, theta);
        for (size_t h = 0; h < heads; h++) {
            float *v = x + row * stride + h * head_dim;
            for (size_t i = 0; i < half; i++) {
                size_t a = r->neox ? i : 2 * i, b = r->neox ? i + half : 2 * i + 1;
                double c = cos((double)theta[i]), s = sin((double)theta[i]);
                double x0 = v[a], x1 = v[b];
                v[a] = (float)(x0 * c - x1 * s);
                v[b] = (float)(x0 * s + x1 * c);
            }
        }
    }
    free(theta);
}

void wgml_ref_attn_causal(const float *q, const float *k, const float *v, float *out, size_t n,
                          size_t pos, size_t capacity, size_t heads, size_t kv_heads,
                          size_t head_dim, float scale)
{
    size_t G = heads / kv_heads, width = heads * head_dim;
    double *s = malloc((pos + n) * sizeof *s);
    if (!s) return;
    for (size_t r = 0; r < n; r++) {
        size_t keys = pos + r + 1;
        for (size_t h = 0; h < heads; h++) {
            const float *qr = q + r * width + h * head_dim;
            const float *kh = k + (h / G) * capacity * head_dim;
            const float *vh = v + (h / G) * capacity * head_dim;
            double m = -INFINITY, sum = 0;
            for (size_t j = 0; j < keys; j++) {
                double dot = 0;
                for (size_t d = 0; d < head_dim; d++) dot += (double)qr[d] * kh[j * head_dim + d];
                s[j] = dot * scale;
                m = fmax(m, s[j]);
            }
            for (size_t j = 0; j < keys; j++) {
                s[j] = exp(s[j] - m);
                sum += s[j];
            }
            for (size_t d = 0; d < head_dim; d++) {
                double o = 0;
                for (size_t j = 0; j < keys; j++) o += s[j] * vh[j * head_dim + d];
                out[r * width + h * head_dim + d] = (float)(o / sum);
            }
        }
    }
    free(s);
}

void wgml_ref_add_rmsnorm(float *x, const float *d, const float *gamma, float *y, size_t n,
                          size_t cols, float eps)
{
    for (size_t r = 0; r < n; r++) {
        float *xr = x + r * cols;
        double ss = 0;
        for (size_t c = 0; c < cols; c++) {
            if (d) xr[c] = xr[c] + d[r * cols + c];   // an f32 sum, as stored
            ss += (double)xr[c] * xr[c];
        }
        double inv = 1.0 / sqrt(ss / (double)cols + eps);
        for (size_t c = 0; c < cols; c++) y[r * cols + c] = (float)(xr[c] * inv * gamma[c]);
    }
}

void wgml_ref_swiglu(const float *gate, const float *up, float *out, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
    }
}
