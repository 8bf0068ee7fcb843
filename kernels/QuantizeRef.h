// The one definition of quantization rounding in lowbit: ONNX QuantizeLinear,
//   q = saturate(round_half_to_even(x / scale) + zeroPoint) to [qmin, qmax]
// and DequantizeLinear, x = (q - zeroPoint) * scale. Fake-quant, the exporter's weight baking
// and the tests all call these.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace lowbit {

/// Integer range of a \p bits-wide code: signed [-2^(b-1), 2^(b-1)-1] (narrow: lower bound
/// -(2^(b-1)-1)), unsigned [0, 2^b - 1].
struct QuantRange {
  int32_t qmin, qmax;
};
QuantRange quantRange(int bits, bool isSigned, bool narrow);

/// x / scale clamped to [lo, hi] (the code range less the zero point) and rounded half to even:
/// the rounding of every quantizer below. Division (not multiplication by 1/scale) as ONNX
/// writes it. Clamping before rounding equals saturating after it (the bounds are integers),
/// and adding and subtracting 1.5 * 2^23 rounds half to even for |v| < 2^22 without a libm
/// call, so loops over it vectorize. NaN goes to lo.
inline float roundedCodeOffset(float x, float scale, float lo, float hi) {
  float v = x / scale;
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23
  return (v + kRound) - kRound;
}

/// ONNX QuantizeLinear of one value (NaN maps to qmin).
inline int32_t quantizeValue(float x, float scale, int32_t zeroPoint, QuantRange r) {
  // In 64 bits: an int32 code range minus any int32 zero point does not fit 32.
  const float v = roundedCodeOffset(x, scale, static_cast<float>(int64_t{r.qmin} - zeroPoint),
                                    static_cast<float>(int64_t{r.qmax} - zeroPoint));
  // Saturated again in 64 bits: near 2^31, float bounds round outwards.
  const int64_t q = static_cast<int64_t>(v) + zeroPoint;
  return static_cast<int32_t>(q < r.qmin ? r.qmin : q > r.qmax ? r.qmax : q);
}

/// ONNX DequantizeLinear of one value.
inline float dequantizeValue(int32_t q, float scale, int32_t zeroPoint) {
  return static_cast<float>(int64_t{q} - zeroPoint) * scale;
}

/// quantizeValue and dequantizeValue for codes and zero points within 16 bits, where every
/// bound and code is a small integer: the same results in 32-bit integer arithmetic, which
/// vectorizes without AVX-512's 64-bit conversions (the integer runner's 8-bit kernels).
inline int32_t quantizeValueNarrow(float x, float scale, int32_t zeroPoint, QuantRange r) {
  return static_cast<int32_t>(roundedCodeOffset(x, scale, static_cast<float>(r.qmin - zeroPoint),
                                                static_cast<float>(r.qmax - zeroPoint))) +
         zeroPoint;
}
inline float dequantizeValueNarrow(int32_t q, float scale, int32_t zeroPoint) {
  return static_cast<float>(q - zeroPoint) * scale;
}

/// The largest exponent of a \p bits-wide power-of-two (shift-add) weight code: sign plus a
/// (b-1)-bit exponent field, one value of which stands for zero, so the levels are 0 and
/// +-2^j for j = 0 .. 2^(b-1) - 2: ternary {0, +-1} at 2 bits, up to +-4 at 3, up to +-64 at 4
/// (the most an int8 code holds; 2..4 bits only).
inline int potMaxExponent(int bits) { return (1 << (bits - 1)) - 2; }
/// The widest power-of-two code: 2^6, its top level at 4 bits, is the largest an int8 holds.
constexpr int kMaxPowerOfTwoBits = 4;

/// The power-of-two code of x / scale (signed, zero point 0): 0 below half the smallest level
/// 1, else the nearer of the two levels around it on the linear scale, a tie (1.5 * 2^j, or
/// 0.5) going to the larger magnitude (INQ's partition rule: 2^j for 2^j <= |r| < 1.5 * 2^j),
/// saturated at 2^maxExponent. NaN maps to 0.
inline int32_t quantizePowerOfTwo(float x, float scale, int maxExponent) {
  const float r = std::fabs(x / scale);
  if (!(r >= 0.5f)) return 0;
  int32_t level = 1;
  if (r >= static_cast<float>(1 << maxExponent)) {
    level = 1 << maxExponent;
  } else if (r >= 1.f) {
    int e = 0;
    std::frexp(r, &e);  // r in [2^(e-1), 2^e)
    const float lower = std::ldexp(1.f, e - 1);
    level = static_cast<int32_t>(r >= 1.5f * lower ? 2.f * lower : lower);
  }
  return x < 0.f ? -level : level;
}

/// The largest code of a \p bits-wide mid-rise code: 2^b - 1. Its 2^b levels are the odd
/// integers in [-(2^b - 1), 2^b - 1], two apart, with no zero (DoReFa's weight grid
/// {-1, -1/3, 1/3, 1} x alpha at 2 bits); 2..7 bits, as 2^7 - 1 is the most an int8 code holds.
inline int32_t midRiseLargestCode(int bits) { return (int32_t{1} << bits) - 1; }
constexpr int kMaxMidRiseBits = 7;

/// The mid-rise code of x / scale: the nearest odd integer, saturated at +-largest. An exact
/// even value (0 among them) goes up: 2 floor(v / 2) + 1. NaN maps to -largest.
inline int32_t quantizeMidRise(float x, float scale, int32_t largest) {
  float v = x / scale;
  const float hi = static_cast<float>(largest);
  v = v > -hi ? v : -hi;
  v = v < hi ? v : hi;
  return std::min(2 * static_cast<int32_t>(std::floor(v * 0.5f)) + 1, largest);
}

/// y[i] = q - zeroPoint for x[i] = DequantizeLinear(q) with \p scale: x / scale lies within
/// float rounding of that integer, so rounding it to the nearest integer recovers it exactly.
void centeredCodes(const float *x, float *y, size_t n, float scale);

/// dequantize(quantize(x)) for \p n values sharing one scale and zero point.
void fakeQuantize(const float *x, float *y, size_t n, float scale, int32_t zeroPoint, QuantRange r);

/// Per-channel fake quantization of a tensor viewed as [outer, channels, inner]: channel c
/// uses scale[c] and zeroPoint[c].
void fakeQuantizePerChannel(const float *x, float *y, size_t outer, size_t channels, size_t inner,
                            const float *scale, const int32_t *zeroPoint, QuantRange r);

}  // namespace lowbit
