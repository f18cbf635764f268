// The GEMV references (gemv.h): the specification the kernels are tested against.
#include "ops/gemv.h"

#include <math.h>

void wgml_ref_gemv(const float *w, const float *x, float *y, size_t N, size_t K, size_t M)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) s += (double)w[n * K + k] * x[m * K + k];
            y[m * N + n] = (float)s;
        }
}

void wgml_ref_gemv_quantize_x(const float *x, float *xq, size_t K)
{
    for (size_t b0 = 0; b0 < K; b0 += 32) {
        size_t n = K - b0 < 32 ? K - b0 : 32;
        float amax = 0;
        for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[b0 + i]));
        float id = 0;
        if (amax >= 0x1p-60f) {
            int e;
            frexpf(amax, &e);
            for (int j = 63; j >= 31; j--) {
                float idj = ldexpf((float)j, 2 - e);
                if (amax * idj <= 127.0f) {   // a float product, rounded as WGSL rounds it
                    id = idj;
                    break;
                }
            }
        }
        for (size_t i = 0; i < n; i++)
            xq[b0 + i] = id > 0 ? (float)(nearbyintf(x[b0 + i] * id) / (double)id) : 0.0f;
    }
}
