// IEEE 754 binary16 conversions on the host, for uploading f16 data and for
// the references that model f16 rounding.
#ifndef WGML_HALF_H
#define WGML_HALF_H
#include <stdint.h>

uint16_t wgml_f32_to_f16(float f);   // round to nearest even; overflow to inf
float wgml_f16_to_f32(uint16_t h);

#endif
