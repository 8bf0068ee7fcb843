#include "kernels/TensorCopy.h"

#include <cstring>

namespace lowbit {

std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int64_t i = static_cast<int64_t>(dims.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * dims[i + 1];
  return s;
}

void copyStrided(const void *src, int64_t srcOffset, const std::vector<int64_t> &srcStrides,
                 void *dst, int64_t dstOffset, const std::vector<int64_t> &dstStrides,
                 const std::vector<int64_t> &dims, size_t elemBytes) {
  const auto *s = static_cast<const uint8_t *>(src);
  auto *d = static_cast<uint8_t *>(dst);
  const size_t rank = dims.size();
  for (int64_t dim : dims)
    if (dim == 0) return;
  if (rank == 0) {
    std::memcpy(d + dstOffset * elemBytes, s + srcOffset * elemBytes, elemBytes);
    return;
  }
  const int64_t inner = dims[rank - 1];
  const int64_t ss = srcStrides[rank - 1], ds = dstStrides[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t so = srcOffset, dof = dstOffset;
  while (true) {
    if (ss == 1 && ds == 1) {
      std::memcpy(d + dof * elemBytes, s + so * elemBytes, static_cast<size_t>(inner) * elemBytes);
    } else if (elemBytes == 4) {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(d + (dof + i * ds) * 4, s + (so + i * ss) * 4, 4);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(d + (dof + i * ds) * elemBytes, s + (so + i * ss) * elemBytes, elemBytes);
    }
    // advance the outer index (odometer over all but the last axis)
    int64_t ax = static_cast<int64_t>(rank) - 2;
    for (; ax >= 0; --ax) {
      ++idx[ax];
      so += srcStrides[ax];
      dof += dstStrides[ax];
      if (idx[ax] < dims[ax]) break;
      so -= srcStrides[ax] * dims[ax];
      dof -= dstStrides[ax] * dims[ax];
      idx[ax] = 0;
    }
    if (ax < 0) return;
  }
}

void padCopy(const void *src, const std::vector<int64_t> &inDims, void *dst,
             const std::vector<int64_t> &padsBegin, const std::vector<int64_t> &padsEnd,
             PadMode mode, const void *fill, size_t elemBytes) {
  const size_t rank = inDims.size();
  std::vector<int64_t> outDims(rank);
  for (size_t i = 0; i < rank; ++i) outDims[i] = inDims[i] + padsBegin[i] + padsEnd[i];
  const auto inStrides = contiguousStrides(inDims);
  int64_t total = 1;
  for (int64_t d : outDims) total *= d;
  const auto *s = static_cast<const uint8_t *>(src);
  auto *d = static_cast<uint8_t *>(dst);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < total; ++o) {
    int64_t srcOff = 0;
    bool inside = true;
    for (size_t a = 0; a < rank && inside; ++a) {
      int64_t i = idx[a] - padsBegin[a];
      const int64_t n = inDims[a];
      if (i < 0 || i >= n) {
        if (mode == PadMode::Constant || n == 0) {
          inside = false;
          break;
        }
        if (mode == PadMode::Edge) {
          i = i < 0 ? 0 : n - 1;
        } else {  // reflect without repeating the edge: period 2(n-1)
          const int64_t period = 2 * (n - 1);
          if (period == 0) {
            i = 0;
          } else {
            i = ((i % period) + period) % period;
            if (i >= n) i = period - i;
          }
        }
      }
      srcOff += i * inStrides[a];
    }
    std::memcpy(d + o * static_cast<int64_t>(elemBytes),
                inside ? s + srcOff * static_cast<int64_t>(elemBytes) : fill, elemBytes);
    for (int64_t a = static_cast<int64_t>(rank) - 1; a >= 0; --a) {
      if (++idx[a] < outDims[a]) break;
      idx[a] = 0;
    }
  }
}

void gatherCopy(const void *src, const std::vector<int64_t> &inDims, int64_t axis,
                const std::vector<int64_t> &indices, void *dst, size_t elemBytes) {
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= inDims[i];
  for (size_t i = static_cast<size_t>(axis) + 1; i < inDims.size(); ++i) inner *= inDims[i];
  const int64_t n = inDims[axis];
  const size_t block = static_cast<size_t>(inner) * elemBytes;
  const auto *s = static_cast<const uint8_t *>(src);
  auto *d = static_cast<uint8_t *>(dst);
  for (int64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < indices.size(); ++k, d += block)
      std::memcpy(d, s + (o * n + indices[k]) * static_cast<int64_t>(block), block);
}

}  // namespace lowbit
