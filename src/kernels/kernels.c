#include "kernels/kernels.h"
#include <string.h>

const wgml_kernel_source *wgml_kernel_find(const char *name)
{
    for (size_t i = 0; i < wgml_kernel_source_count; i++)
        if (strcmp(wgml_kernel_sources[i].name, name) == 0)
            return &wgml_kernel_sources[i];
    return NULL;
}
