// The WGSL kernel sources, embedded at build time by cmake/embed_wgsl.cmake.
#ifndef WGML_KERNELS_H
#define WGML_KERNELS_H
#include <stddef.h>

typedef struct wgml_kernel_source {
    const char *name;   // file base name, e.g. "softmax"
    const char *text;   // NUL-terminated WGSL
    size_t length;      // bytes, excluding the NUL
} wgml_kernel_source;

extern const wgml_kernel_source wgml_kernel_sources[];
extern const size_t wgml_kernel_source_count;

// Returns the source of kernel family `name`, or NULL when there is none.
const wgml_kernel_source *wgml_kernel_find(const char *name);

#endif
