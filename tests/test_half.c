// Host f16 conversions against IEEE 754 binary16 facts: exact values, the
// round trip of every half, and round-to-nearest-even at ties.
#include "core/half.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

int main(void)
{
    // Encodings fixed by the standard.
    struct { float f; uint16_t h; } known[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {0.5f, 0x3800},
        {5.960464477539063e-08f, 0x0001},   // 2^-24, smallest subnormal
        {6.103515625e-05f, 0x0400},         // 2^-14, smallest normal
        {0.0f, 0x0000}, {INFINITY, 0x7c00}, {1e6f, 0x7c00},
        {1.0009765625f, 0x3c01},            // 1 + 2^-10
        {1.00048828125f, 0x3c00},           // halfway 1 and 1+2^-10: ties to even (down)
        {1.00146484375f, 0x3c02},           // halfway 1+2^-10 and 1+2^-9: ties to even (up)
        {2.98023223876953125e-08f, 0x0000}, // 2^-25: tie between 0 and 2^-24, to even
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        uint16_t h = wgml_f32_to_f16(known[i].f);
        TEST_CHECK(h == known[i].h, "f32_to_f16(%g) = 0x%04x, expected 0x%04x", known[i].f, h,
                   known[i].h);
    }
    // Every non-NaN half survives f16 -> f32 -> f16, and the f32 is exact.
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = wgml_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            TEST_CHECK(isnan(f), "0x%04x should be NaN", h);
            continue;
        }
        TEST_CHECK(wgml_f32_to_f16(f) == h, "round trip of 0x%04x gave 0x%04x", h,
                   wgml_f32_to_f16(f));
        // Value check independent of the encoder: sign * 2^e * (1 + m/1024).
        int e = (h >> 10) & 31, m = h & 1023;
        double v = e == 0 ? ldexp(m, -24) : e == 31 ? INFINITY : ldexp(1024 + m, e - 25);
        if (h & 0x8000) v = -v;
        TEST_CHECK((double)f == v, "f16_to_f32(0x%04x) = %g, expected %g", h, f, v);
    }
    printf("ok   f16 conversions\n1 passed, 0 failed\n");
    return 0;
}
