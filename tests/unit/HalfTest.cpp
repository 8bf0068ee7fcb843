#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "kernels/Half.h"

using namespace lowbit;

TEST_CASE("half conversion round-trips every finite half exactly", "[kernels]") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;  // inf/nan
    float f = halfToFloat(static_cast<uint16_t>(h));
    INFO("half bits " << h);
    CHECK(floatToHalf(f) == h);
  }
}

TEST_CASE("float to half rounds to nearest even and saturates to infinity", "[kernels]") {
  CHECK(floatToHalf(1.0f) == 0x3c00);
  CHECK(floatToHalf(1.0f + 1.0f / 2048) == 0x3c00);           // tie -> even
  CHECK(floatToHalf(1.0f + 3.0f / 2048) == 0x3c02);           // tie -> even (up)
  CHECK(floatToHalf(65520.f) == 0x7c00);                      // rounds to inf
  CHECK(floatToHalf(-std::numeric_limits<float>::infinity()) == 0xfc00);
  CHECK(std::isnan(halfToFloat(floatToHalf(std::nanf("")))));
  CHECK(halfToFloat(0x0001) == Approx(5.9604644775390625e-8f));
}

TEST_CASE("bfloat16 rounds to nearest even, truncation keeps the top bits", "[kernels]") {
  CHECK(floatToBfloat16(1.0f) == 0x3f80);
  CHECK(bfloat16ToFloat(0x3f80) == 1.0f);
  float justAboveHalfUlp = bitsToFloat(0x3f808001u);
  CHECK(floatToBfloat16(justAboveHalfUlp) == 0x3f81);
  CHECK(floatToBfloat16Truncate(justAboveHalfUlp) == 0x3f80);
}
