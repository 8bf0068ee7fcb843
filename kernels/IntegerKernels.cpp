#include "kernels/IntegerKernels.h"

#include <algorithm>
#include <cmath>

namespace lowbit {

namespace {
constexpr size_t kParallelMin = size_t{1} << 15;  // below this, threads cost more than they save
}

template <typename Code>
void quantizeToCodes(const float *x, Code *codes, size_t n, float scale, int32_t zeroPoint, QuantRange r) {
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (size_t i = 0; i < n; ++i) codes[i] = static_cast<Code>(quantizeValueNarrow(x[i], scale, zeroPoint, r));
}

template <typename Code>
void dequantizeCodes(const Code *codes, float *y, size_t n, float scale, int32_t zeroPoint) {
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (size_t i = 0; i < n; ++i) y[i] = dequantizeValueNarrow(codes[i], scale, zeroPoint);
}

template void quantizeToCodes<int8_t>(const float *, int8_t *, size_t, float, int32_t, QuantRange);
template void quantizeToCodes<uint8_t>(const float *, uint8_t *, size_t, float, int32_t, QuantRange);
template void dequantizeCodes<int8_t>(const int8_t *, float *, size_t, float, int32_t);
template void dequantizeCodes<uint8_t>(const uint8_t *, float *, size_t, float, int32_t);

namespace {

template <typename A, typename B, typename Y>
void rescaleLoop(const A *a, const CodeSpan &as, const B *b, const CodeSpan *bs, Y *y, size_t n, float scale,
                 int32_t zeroPoint, QuantRange r, float lo) {
  // One loop per operand count, each with its parameters in locals, so both vectorize.
  const float sa = as.scale, sb = bs ? bs->scale : 0.f;
  const int32_t za = as.zeroPoint, zb = bs ? bs->zeroPoint : 0;
  if (b) {
#pragma omp parallel for if (n > kParallelMin) schedule(static)
    for (size_t i = 0; i < n; ++i) {
      const float v = dequantizeValueNarrow(a[i], sa, za) + dequantizeValueNarrow(b[i], sb, zb);
      y[i] = static_cast<Y>(quantizeValueNarrow(std::max(v, lo), scale, zeroPoint, r));
    }
  } else {
#pragma omp parallel for if (n > kParallelMin) schedule(static)
    for (size_t i = 0; i < n; ++i)
      y[i] = static_cast<Y>(quantizeValueNarrow(std::max(dequantizeValueNarrow(a[i], sa, za), lo), scale, zeroPoint, r));
  }
}

template <typename A, typename B>
void rescaleInto(const CodeSpan &a, const CodeSpan *b, void *y, bool yUnsigned, size_t n, float scale, int32_t zeroPoint,
                 QuantRange r, float lo) {
  const A *ad = static_cast<const A *>(a.data);
  const B *bd = b ? static_cast<const B *>(b->data) : nullptr;
  if (yUnsigned) rescaleLoop(ad, a, bd, b, static_cast<uint8_t *>(y), n, scale, zeroPoint, r, lo);
  else rescaleLoop(ad, a, bd, b, static_cast<int8_t *>(y), n, scale, zeroPoint, r, lo);
}

template <typename A>
void rescaleFrom(const CodeSpan &a, const CodeSpan *b, void *y, bool yUnsigned, size_t n, float scale, int32_t zeroPoint,
                 QuantRange r, float lo) {
  if (b && !b->isUnsigned) rescaleInto<A, int8_t>(a, b, y, yUnsigned, n, scale, zeroPoint, r, lo);
  else rescaleInto<A, uint8_t>(a, b, y, yUnsigned, n, scale, zeroPoint, r, lo);
}

}  // namespace

void rescaleCodes(const CodeSpan &a, const CodeSpan *b, void *y, bool yUnsigned, size_t n, float scale,
                  int32_t zeroPoint, QuantRange r, float lo) {
  if (a.isUnsigned) rescaleFrom<uint8_t>(a, b, y, yUnsigned, n, scale, zeroPoint, r, lo);
  else rescaleFrom<int8_t>(a, b, y, yUnsigned, n, scale, zeroPoint, r, lo);
}

float maxAbs(const float *x, size_t n) {
  float m = 0.f;
#pragma omp parallel for if (n > kParallelMin) reduction(max : m) schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a > m) m = a;  // false for NaN
  }
  return m;
}

void dequantizeAccumulators(const int32_t *acc, float *y, size_t rows, size_t channels, const float *scale,
                            const float *bias, const float *other, float lo, float hi) {
#pragma omp parallel for if (rows * channels > kParallelMin) schedule(static)
  for (size_t r = 0; r < rows; ++r) {
    const int32_t *a = acc + r * channels;
    float *out = y + r * channels;
    const float *o = other ? other + r * channels : nullptr;
    for (size_t c = 0; c < channels; ++c) {
      float v = static_cast<float>(a[c]) * scale[c] + bias[c];
      if (o) v += o[c];
      out[c] = std::min(std::max(v, lo), hi);
    }
  }
}

}  // namespace lowbit
