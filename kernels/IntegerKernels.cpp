#include "kernels/IntegerKernels.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/HostIsa.h"

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

void rescaleTable(const CodeSpan &a, bool yUnsigned, float scale, int32_t zeroPoint, QuantRange r, float lo,
                  uint8_t table[256]) {
  uint8_t codes[256];
  for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);  // int8 codes by their bytes
  CodeSpan all = a;
  all.data = codes;
  rescaleCodes(all, nullptr, table, yUnsigned, 256, scale, zeroPoint, r, lo);
}

namespace {

void mapCodesSerial(const uint8_t *x, uint8_t *y, size_t n, const uint8_t table[256]) {
  for (size_t i = 0; i < n; ++i) y[i] = table[x[i]];
}

// Contiguous pieces of whole 64-byte vectors, one per thread.
template <typename Map>
void mapCodesParallel(const uint8_t *x, uint8_t *y, size_t n, const uint8_t table[256], Map map) {
  if (n <= kParallelMin) return map(x, y, n, table);
#pragma omp parallel
  {
    const size_t threads = static_cast<size_t>(omp_get_num_threads()), t = static_cast<size_t>(omp_get_thread_num());
    const size_t piece = (n / threads + 63) / 64 * 64, begin = std::min(n, t * piece), end = std::min(n, begin + piece);
    if (begin < end) map(x + begin, y + begin, end - begin, table);
  }
}

#ifdef LOWBIT_X86_TARGETS
// Two two-register permutes look up the low 7 bits in each half of the table; the top bit
// picks the half.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) inline __m512i lookUp64(__m512i idx, __m512i t0, __m512i t1,
                                                                              __m512i t2, __m512i t3) {
  const __m512i low = _mm512_permutex2var_epi8(t0, idx, t1), high = _mm512_permutex2var_epi8(t2, idx, t3);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high);
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void mapCodesVbmi(const uint8_t *x, uint8_t *y, size_t n,
                                                                         const uint8_t table[256]) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(y + i, lookUp64(_mm512_loadu_si512(x + i), t0, t1, t2, t3));
  if (i < n) {
    const __mmask64 m = _cvtu64_mask64((uint64_t{1} << (n - i)) - 1);
    _mm512_mask_storeu_epi8(y + i, m, lookUp64(_mm512_maskz_loadu_epi8(m, x + i), t0, t1, t2, t3));
  }
}
#endif

}  // namespace

void mapCodesReference(const uint8_t *x, uint8_t *y, size_t n, const uint8_t table[256]) {
  mapCodesParallel(x, y, n, table, mapCodesSerial);
}

void mapCodes(const uint8_t *x, uint8_t *y, size_t n, const uint8_t table[256]) {
#ifdef LOWBIT_X86_TARGETS
  if (hostHasAvx512Vbmi()) return mapCodesParallel(x, y, n, table, mapCodesVbmi);
#endif
  mapCodesReference(x, y, n, table);
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
