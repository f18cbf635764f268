// The public header compiles as C++ on its own.
#include "wgml.h"

int main()
{
    wgml_ctx_params p = {};
    wgml_device_info info = {};
    (void)p;
    (void)info;
    return WGML_OK;
}
