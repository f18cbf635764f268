// The device's ceilings, measured: copy bandwidth and FMA throughput.
#ifndef WGML_PEAKS_H
#define WGML_PEAKS_H

#include "gpu/gpu.h"

typedef struct wgml_peaks {
    double copy_gb_per_s;         // bytes read + written per ns
    double fma_f32_gflop_per_s;   // 2 flops per FMA
    double fma_f16_gflop_per_s;   // 0 without shader-f16
} wgml_peaks;

// Runs the micro-kernels (quick: small sizes for CPU devices). Needs
// timestamp queries.
wgml_status wgml_peaks_measure(wgml_gpu *gpu, bool quick, wgml_peaks *out);

// The roofline's lower bound for a kernel: max(bytes / B, flops / F), in ns.
double wgml_peaks_bound_ns(const wgml_peaks *p, double bytes, double flops, bool f16);

#endif
