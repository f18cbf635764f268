// Helpers shared by the op files.
#ifndef WGML_OPS_INTERNAL_H
#define WGML_OPS_INTERNAL_H

#include "ops/ops.h"

// Splits `groups` workgroups into a grid within the per-dimension limit:
// x is at most the limit, y covers the rest. Kernels rebuild the linear index
// as y * x_count + x.
wgml_status wgml_ops_grid(wgml_gpu *gpu, uint64_t groups, uint32_t *gx, uint32_t *gy);

// Checks that a view holds `bytes` bytes past its offset.
wgml_status wgml_ops_check_view(wgml_gpu *gpu, const char *op, const char *name,
                                wgml_view v, uint64_t bytes);

#define WGML_OPS_BINDING(v) ((wgml_gpu_binding){.buf = (v).buf, .offset = (v).offset})

#endif
