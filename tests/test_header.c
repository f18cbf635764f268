// The public header compiles as strict C11 on its own.
#include "wgml.h"

int main(void)
{
    wgml_ctx_params p = {0};
    wgml_device_info info = {0};
    (void)p;
    (void)info;
    return WGML_OK;
}
