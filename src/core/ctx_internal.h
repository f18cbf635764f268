// The context behind the public wgml_ctx handle.
#ifndef WGML_CTX_INTERNAL_H
#define WGML_CTX_INTERNAL_H

#include "gpu/gpu.h"
#include "wgml.h"

struct wgml_ctx {
    wgml_gpu *gpu;   // owns the device; its last error is the context's
};

#endif
