// Elementwise kernels of the integer runner that oneDNN has no primitive for: ONNX-exact
// quantization to 8-bit codes, dequantization, the per-batch range of dynamic quantization and
// the epilogue that turns int32 accumulators into float outputs. Raw buffers, no graph logic.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/QuantizeRef.h"

namespace lowbit {

/// codes[i] = QuantizeLinear(x[i]) for \p n values. \p Code is int8_t or uint8_t; the range
/// \p r may be narrower than the container (signed codes of a non-negative tensor kept in
/// uint8: [0, 127]); values outside the container must not occur (r within it).
template <typename Code>
void quantizeToCodes(const float *x, Code *codes, size_t n, float scale, int32_t zeroPoint, QuantRange r);

/// y[i] = DequantizeLinear(codes[i]).
template <typename Code>
void dequantizeCodes(const Code *codes, float *y, size_t n, float scale, int32_t zeroPoint);

/// 8-bit codes with their per-tensor scale and zero point.
struct CodeSpan {
  const void *data;
  bool isUnsigned;
  float scale;
  int32_t zeroPoint;
};

/// y[i] = QuantizeLinear(max(lo, DequantizeLinear(a[i]) + DequantizeLinear(b[i]))) with y's
/// scale and zero point, in the float operations the QDQ graph performs, so the codes are its
/// simulation's: a quantized Add (ONNX Runtime's QLinearAdd), or with \p b null a
/// requantization; lo = 0 for a Relu between them, -inf for none.
void rescaleCodes(const CodeSpan &a, const CodeSpan *b, void *y, bool yUnsigned, size_t n, float scale,
                  int32_t zeroPoint, QuantRange r, float lo);

/// The 256 results of rescaleCodes with one operand for every code of \p a's type, indexed by
/// the code's byte (an int8 code c at (uint8_t)c): a requantization as a lookup table, exact
/// because it is the same loop. \p a's data is ignored.
void rescaleTable(const CodeSpan &a, bool yUnsigned, float scale, int32_t zeroPoint, QuantRange r, float lo,
                  uint8_t table[256]);

/// y[i] = table[x[i]] for \p n bytes: any function of one 8-bit code. AVX-512 VBMI's byte
/// permutes look up 64 codes at a time where the CPU has them; mapCodesReference is the loop.
void mapCodes(const uint8_t *x, uint8_t *y, size_t n, const uint8_t table[256]);
void mapCodesReference(const uint8_t *x, uint8_t *y, size_t n, const uint8_t table[256]);

/// Largest |x[i]| (0 for n == 0); NaN is ignored.
float maxAbs(const float *x, size_t n);

/// Float output of an integer convolution or inner product stored channels-last as [rows,
/// channels]: y = clamp(acc * scale[c] + bias[c] + other, lo, hi). \p other (same layout) may
/// be null (no residual sum).
void dequantizeAccumulators(const int32_t *acc, float *y, size_t rows, size_t channels, const float *scale,
                            const float *bias, const float *other, float lo, float hi);

}  // namespace lowbit
