// Hand-computed quantize/dequantize cases: ONNX QuantizeLinear rounding and saturation.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/QuantizeRef.h"
#include "quant/QuantRules.h"

using namespace lowbit;

TEST_CASE("quantRange gives the signed, narrow and unsigned ranges for 2..8 bits", "[quant]") {
  CHECK(quantRange(8, true, false).qmin == -128);
  CHECK(quantRange(8, true, false).qmax == 127);
  CHECK(quantRange(8, true, true).qmin == -127);
  CHECK(quantRange(8, false, false).qmax == 255);
  CHECK(quantRange(4, true, true).qmin == -7);
  CHECK(quantRange(4, true, true).qmax == 7);
  CHECK(quantRange(4, false, false).qmax == 15);
  CHECK(quantRange(2, true, true).qmin == -1);
  CHECK(quantRange(2, true, true).qmax == 1);
  CHECK(quantRange(2, true, false).qmin == -2);
  CHECK(quantRange(3, false, false).qmax == 7);
}

TEST_CASE("quantizeValue rounds half to even like ONNX QuantizeLinear", "[quant]") {
  const QuantRange r = quantRange(8, true, false);
  CHECK(quantizeValue(0.5f, 1.f, 0, r) == 0);
  CHECK(quantizeValue(1.5f, 1.f, 0, r) == 2);
  CHECK(quantizeValue(2.5f, 1.f, 0, r) == 2);
  CHECK(quantizeValue(-0.5f, 1.f, 0, r) == 0);
  CHECK(quantizeValue(-1.5f, 1.f, 0, r) == -2);
  CHECK(quantizeValue(-2.5f, 1.f, 0, r) == -2);
  // x / scale, then + zero point: 0.3 / 0.1 = 2.9999998 -> 3, + 10
  CHECK(quantizeValue(0.3f, 0.1f, 10, quantRange(8, false, false)) == 13);
}

TEST_CASE("quantizeValue saturates to the range, NaN goes to qmin", "[quant]") {
  const QuantRange s4 = quantRange(4, true, true);
  CHECK(quantizeValue(100.f, 0.5f, 0, s4) == 7);
  CHECK(quantizeValue(-100.f, 0.5f, 0, s4) == -7);
  CHECK(quantizeValue(std::numeric_limits<float>::infinity(), 1.f, 0, s4) == 7);
  CHECK(quantizeValue(std::nanf(""), 1.f, 0, s4) == -7);
  const QuantRange u8 = quantRange(8, false, false);
  CHECK(quantizeValue(-3.f, 1.f, 0, u8) == 0);
  CHECK(quantizeValue(300.f, 1.f, 0, u8) == 255);
  CHECK(quantizeValue(-3.f, 1.f, 5, u8) == 2);
}

TEST_CASE("dequantizeValue and fakeQuantize undo the zero point and apply the scale", "[quant]") {
  CHECK(dequantizeValue(13, 0.1f, 10) == Approx(0.3f));
  const float x[] = {-1.f, -0.26f, 0.f, 0.24f, 0.26f, 9.f};
  float y[6];
  fakeQuantize(x, y, 6, 0.25f, 0, quantRange(4, true, true));  // grid step 0.25, clip at 1.75
  CHECK(y[0] == -1.f);
  CHECK(y[1] == -0.25f);
  CHECK(y[2] == 0.f);
  CHECK(y[3] == 0.25f);
  CHECK(y[4] == 0.25f);
  CHECK(y[5] == 1.75f);
}

TEST_CASE("fakeQuantizePerChannel uses each channel's scale", "[quant]") {
  // [outer=1, channels=2, inner=2]
  const float x[] = {0.9f, -0.4f, 0.9f, -0.4f};
  const float scale[] = {0.5f, 0.1f};
  const int32_t zp[] = {0, 0};
  float y[4];
  fakeQuantizePerChannel(x, y, 1, 2, 2, scale, zp, quantRange(8, true, true));
  CHECK(y[0] == 1.0f);   // 0.9/0.5 = 1.8 -> 2
  CHECK(y[1] == -0.5f);  // -0.8 -> -1
  CHECK(y[2] == Approx(0.9f));
  CHECK(y[3] == Approx(-0.4f));
}

TEST_CASE("int32 codes and zero points at the ends of their range do not overflow", "[quant][hostile]") {
  const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  // A code minus a zero point of the other sign spans 33 bits (found by the qdq fuzz target).
  CHECK(dequantizeValue(60, 1.f, lo) == Approx(60.0 - lo));
  CHECK(dequantizeValue(lo, 0.5f, hi) == Approx((static_cast<double>(lo) - hi) * 0.5));
  const QuantRange int32Range{lo, hi};
  CHECK(quantizeValue(1e12f, 1.f, lo, int32Range) == hi);
  CHECK(quantizeValue(-1e12f, 1.f, hi, int32Range) == lo);
  CHECK(quantizeValue(0.f, 1.f, lo, int32Range) == lo);
}

TEST_CASE("power-of-two codes: levels per bit width, zero, the smallest level, ties, saturation", "[quant]") {
  CHECK(potMaxExponent(2) == 0);  // ternary {0, +-1}
  CHECK(potMaxExponent(3) == 2);  // {0, +-1, +-2, +-4}
  CHECK(potMaxExponent(4) == 6);  // up to +-64
  const int e = potMaxExponent(4);
  // Zero below half the smallest level; 0.5 itself is a tie and goes to 1.
  CHECK(quantizePowerOfTwo(0.49f, 1.f, e) == 0);
  CHECK(quantizePowerOfTwo(-0.49f, 1.f, e) == 0);
  CHECK(quantizePowerOfTwo(0.5f, 1.f, e) == 1);
  CHECK(quantizePowerOfTwo(-0.5f, 1.f, e) == -1);
  // Between 2^j and 2^(j+1) the linear midpoint 1.5 * 2^j decides; a tie goes up.
  CHECK(quantizePowerOfTwo(1.49f, 1.f, e) == 1);
  CHECK(quantizePowerOfTwo(1.5f, 1.f, e) == 2);
  CHECK(quantizePowerOfTwo(2.9f, 1.f, e) == 2);
  CHECK(quantizePowerOfTwo(3.f, 1.f, e) == 4);
  CHECK(quantizePowerOfTwo(-5.9f, 1.f, e) == -4);
  CHECK(quantizePowerOfTwo(-6.f, 1.f, e) == -8);
  CHECK(quantizePowerOfTwo(47.f, 1.f, e) == 32);
  CHECK(quantizePowerOfTwo(48.f, 1.f, e) == 64);
  // Saturation at the top level, and with a scale.
  CHECK(quantizePowerOfTwo(1000.f, 1.f, e) == 64);
  CHECK(quantizePowerOfTwo(-1e30f, 1.f, e) == -64);
  CHECK(quantizePowerOfTwo(0.75f, 0.25f, e) == 4);  // 3 -> tie -> 4
  CHECK(quantizePowerOfTwo(10.f, 1.f, potMaxExponent(3)) == 4);
  CHECK(quantizePowerOfTwo(0.7f, 1.f, potMaxExponent(2)) == 1);
  CHECK(quantizePowerOfTwo(-3.f, 1.f, potMaxExponent(2)) == -1);
  CHECK(quantizePowerOfTwo(std::nanf(""), 1.f, e) == 0);
  CHECK(quantizePowerOfTwo(0.f, 1.f, e) == 0);
}

TEST_CASE("mid-rise codes: odd levels, no zero, even values go up, saturation", "[quant]") {
  CHECK(midRiseLargestCode(2) == 3);  // {-3, -1, 1, 3}: DoReFa's {-1, -1/3, 1/3, 1}
  CHECK(midRiseLargestCode(7) == 127);
  const int32_t l2 = midRiseLargestCode(2), l4 = midRiseLargestCode(4);
  CHECK(quantizeMidRise(0.f, 1.f, l2) == 1);
  CHECK(quantizeMidRise(-0.01f, 1.f, l2) == -1);
  CHECK(quantizeMidRise(1.99f, 1.f, l2) == 1);
  CHECK(quantizeMidRise(2.f, 1.f, l2) == 3);
  CHECK(quantizeMidRise(-2.f, 1.f, l2) == -1);
  CHECK(quantizeMidRise(-2.01f, 1.f, l2) == -3);
  CHECK(quantizeMidRise(1e30f, 1.f, l2) == 3);
  CHECK(quantizeMidRise(-1e30f, 1.f, l2) == -3);
  CHECK(quantizeMidRise(3.f, 1.f, l2) == 3);
  CHECK(quantizeMidRise(-3.f, 1.f, l2) == -3);
  CHECK(quantizeMidRise(0.9f, 0.1f, l4) == 9);
  CHECK(quantizeMidRise(1.05f, 0.1f, l4) == 11);
  CHECK(quantizeMidRise(-2.f, 0.1f, l4) == -15);
  CHECK(quantizeMidRise(std::nanf(""), 1.f, l4) == -15);
  // Every code is odd and within range, over a sweep.
  for (float x = -20.f; x <= 20.f; x += 0.037f) {
    const int32_t q = quantizeMidRise(x, 1.f, l4);
    CHECK((q & 1) == 1);
    CHECK(std::abs(q) <= l4);
    CHECK(std::fabs(static_cast<float>(q) - std::clamp(x, -15.f, 15.f)) <= 1.f);
  }
}

TEST_CASE("asymmetric activation codes span [lo, hi] with 0 exact, hand-computed", "[quant]") {
  lowbit::QuantParams p;
  p.bits = 8;
  lowbit::setAsymmetric(p, -0.375f, 9.144f);  // an h-swish output
  CHECK_FALSE(p.isSigned);
  CHECK(p.scale[0] == Approx(9.519f / 255.f));
  CHECK(p.zeroPoint[0] == 10);  // 0.375 / 0.037329 = 10.05
  p.bits = 4;
  lowbit::setAsymmetric(p, -1.f, 2.f);
  CHECK(p.scale[0] == Approx(0.2f));
  CHECK(p.zeroPoint[0] == 5);
  lowbit::setAsymmetric(p, 0.5f, 3.f);  // widened down to 0
  CHECK(p.scale[0] == Approx(0.2f));
  CHECK(p.zeroPoint[0] == 0);
  lowbit::setAsymmetric(p, -2.f, -1.f);  // all negative: widened up to 0, zero at the top code
  CHECK(p.zeroPoint[0] == 15);
  lowbit::setAsymmetric(p, 0.f, 0.f);  // constant zero: a usable scale
  CHECK(p.scale[0] == 1.f);
  CHECK(p.zeroPoint[0] == 0);
}

TEST_CASE("the narrow (32-bit) quantize and dequantize give the reference's codes and values for 8- and 16-bit ranges",
          "[quant]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  const std::vector<lowbit::QuantRange> ranges = {{-128, 127}, {0, 255}, {-7, 7}, {0, 15}, {-32768, 32767}, {0, 65535}};
  const std::vector<float> special = {0.f, -0.f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 1e30f, -1e30f,
                                      std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                      std::numeric_limits<float>::quiet_NaN()};
  size_t checked = 0;
  for (const lowbit::QuantRange &r : ranges)
    for (float scale : {1.f, 0.0123f, 0.5f, 3.7f})
      for (int32_t zp : {r.qmin, 0, (r.qmin + r.qmax) / 2 + 1, r.qmax}) {
        if (zp < r.qmin || zp > r.qmax) continue;
        for (float x : special) {
          CHECK(lowbit::quantizeValueNarrow(x * scale, scale, zp, r) == lowbit::quantizeValue(x * scale, scale, zp, r));
          ++checked;
        }
        for (int i = 0; i < 2000; ++i) {
          const float x = unit(rng) * scale * static_cast<float>(r.qmax - r.qmin);  // codes inside and outside the range
          REQUIRE(lowbit::quantizeValueNarrow(x, scale, zp, r) == lowbit::quantizeValue(x, scale, zp, r));
          const int32_t q = r.qmin + i % (r.qmax - r.qmin + 1);
          REQUIRE(lowbit::dequantizeValueNarrow(q, scale, zp) == lowbit::dequantizeValue(q, scale, zp));
          ++checked;
        }
      }
  CHECK(checked > 100000);
}
