#include "kernels/QuantizeRef.h"

namespace lowbit {

QuantRange quantRange(int bits, bool isSigned, bool narrow) {
  if (isSigned) {
    int32_t hi = (1 << (bits - 1)) - 1;
    return {narrow ? -hi : -hi - 1, hi};
  }
  return {0, (1 << bits) - 1};
}

void fakeQuantize(const float *x, float *y, size_t n, float scale, int32_t zeroPoint, QuantRange r) {
  // Large activations are split over the OpenMP threads oneDNN uses.
#pragma omp parallel for if (n > (1u << 16)) schedule(static)
  for (size_t i = 0; i < n; ++i) y[i] = dequantizeValue(quantizeValue(x[i], scale, zeroPoint, r), scale, zeroPoint);
}

void centeredCodes(const float *x, float *y, size_t n, float scale) {
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23, as in quantizeValue (|codes| < 2^22)
#pragma omp parallel for if (n > (1u << 16)) schedule(static)
  for (size_t i = 0; i < n; ++i) y[i] = (x[i] / scale + kRound) - kRound;
}

void fakeQuantizePerChannel(const float *x, float *y, size_t outer, size_t channels, size_t inner,
                            const float *scale, const int32_t *zeroPoint, QuantRange r) {
  for (size_t o = 0; o < outer; ++o)
    for (size_t c = 0; c < channels; ++c) {
      const size_t base = (o * channels + c) * inner;
      fakeQuantize(x + base, y + base, inner, scale[c], zeroPoint[c], r);
    }
}

}  // namespace lowbit
