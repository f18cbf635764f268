#include "ops/ops_internal.h"

size_t wgml_dtype_size(wgml_dtype t) { return t == WGML_F16 ? 2 : 4; }

wgml_status wgml_ops_grid(wgml_gpu *gpu, uint64_t groups, uint32_t *gx, uint32_t *gy)
{
    uint64_t lim = wgml_gpu_info(gpu)->max_compute_workgroups_per_dimension;
    if (groups == 0) groups = 1;
    uint64_t x = groups < lim ? groups : lim;
    uint64_t y = (groups + x - 1) / x;
    if (y > lim)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED,
                             "%llu workgroups exceed the device's dispatch limits",
                             (unsigned long long)groups);
    *gx = (uint32_t)x;
    *gy = (uint32_t)y;
    return WGML_OK;
}

wgml_status wgml_ops_check_view(wgml_gpu *gpu, const char *op, const char *name,
                                wgml_view v, uint64_t bytes)
{
    if (!v.buf)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "%s: %s has no buffer", op, name);
    uint64_t size = wgml_gpu_buf_size(v.buf);
    if (v.offset > size || bytes > size - v.offset)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "%s: %s needs %llu bytes at offset %llu but its buffer has %llu",
                             op, name, (unsigned long long)bytes,
                             (unsigned long long)v.offset, (unsigned long long)size);
    return WGML_OK;
}
