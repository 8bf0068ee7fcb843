#include "kernels/MaxPoolIndices.h"

#include <algorithm>
#include <cstddef>

namespace lowbit {

void maxPoolIndices(const float *x, int64_t outer, const PoolWindow &w, bool columnMajor, int64_t *indices) {
  const size_t rank = w.inSpatial.size();
  int64_t inSize = 1, outSize = 1, windowSize = 1;
  for (size_t d = 0; d < rank; ++d) {
    inSize *= w.inSpatial[d];
    outSize *= w.outSpatial[d];
    windowSize *= w.kernel[d];
  }
  // Stride of each spatial dim in the reported index (row- or column-major) and in memory.
  std::vector<int64_t> reportStride(rank), memStride(rank);
  int64_t row = 1, col = 1;
  for (size_t d = rank; d-- > 0;) {
    memStride[d] = row;
    row *= w.inSpatial[d];
  }
  for (size_t d = 0; d < rank; ++d) {
    reportStride[d] = columnMajor ? col : memStride[d];
    col *= w.inSpatial[d];
  }
#pragma omp parallel for
  for (int64_t c = 0; c < outer; ++c) {
    std::vector<int64_t> o(rank, 0), k(rank);
    const float *plane = x + c * inSize;
    for (int64_t oi = 0; oi < outSize; ++oi) {
      int64_t best = -1, bestMem = 0;
      std::fill(k.begin(), k.end(), 0);
      for (int64_t ki = 0; ki < windowSize; ++ki) {
        int64_t mem = 0, report = 0;
        bool inside = true;
        for (size_t d = 0; d < rank && inside; ++d) {
          int64_t pos = o[d] * w.strides[d] - w.padsBegin[d] + k[d] * w.dilations[d];
          inside = pos >= 0 && pos < w.inSpatial[d];
          mem += pos * memStride[d];
          report += pos * reportStride[d];
        }
        if (inside && (best < 0 || plane[mem] > plane[bestMem])) {
          best = report;
          bestMem = mem;
        }
        for (size_t d = rank; d-- > 0;) {  // next window element, row-major
          if (++k[d] < w.kernel[d]) break;
          k[d] = 0;
        }
      }
      indices[c * outSize + oi] = best < 0 ? -1 : c * inSize + best;
      for (size_t d = rank; d-- > 0;) {  // next output position, row-major
        if (++o[d] < w.outSpatial[d]) break;
        o[d] = 0;
      }
    }
  }
}

}  // namespace lowbit
