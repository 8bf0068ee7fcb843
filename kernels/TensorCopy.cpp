#include "kernels/TensorCopy.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <omp.h>

#include "kernels/HostIsa.h"

namespace lowbit {

std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int64_t i = static_cast<int64_t>(dims.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * dims[i + 1];
  return s;
}

std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &dims, const std::vector<int64_t> &outDims) {
  std::vector<int64_t> own = contiguousStrides(dims), s(outDims.size(), 0);
  const size_t off = outDims.size() - dims.size();
  for (size_t i = 0; i < dims.size(); ++i) s[off + i] = dims[i] == 1 && outDims[off + i] != 1 ? 0 : own[i];
  return s;
}

namespace {

void copyStridedSerial(const void *src, int64_t srcOffset, const std::vector<int64_t> &srcStrides,
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
    } else if (elemBytes == 1) {  // 8-bit codes of the integer runner
      for (int64_t i = 0; i < inner; ++i) d[dof + i * ds] = s[so + i * ss];
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

// Worth spreading over threads: more than this many elements.
constexpr int64_t kParallelElements = 1 << 15;

}  // namespace

void copyStrided(const void *src, int64_t srcOffset, const std::vector<int64_t> &srcStrides,
                 void *dst, int64_t dstOffset, const std::vector<int64_t> &dstStrides,
                 const std::vector<int64_t> &dims, size_t elemBytes) {
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (dims.size() < 2 || total < kParallelElements || dims[0] < 2) {
    copyStridedSerial(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, dims, elemBytes);
    return;
  }
  // Independent slices along the outermost axis, one per iteration.
  const std::vector<int64_t> subDims(dims.begin() + 1, dims.end());
  const std::vector<int64_t> subSrc(srcStrides.begin() + 1, srcStrides.end());
  const std::vector<int64_t> subDst(dstStrides.begin() + 1, dstStrides.end());
#pragma omp parallel for
  for (int64_t i = 0; i < dims[0]; ++i)
    copyStridedSerial(src, srcOffset + i * srcStrides[0], subSrc, dst, dstOffset + i * dstStrides[0], subDst,
                      subDims, elemBytes);
}

namespace {

// Elements moved as unsigned integers of their width; the loop vectorizes as unpack
// instructions (a byte-wise reorder into a stride-2 view moves one element at a time).
template <typename T>
void interleavePairsOf(const T *a, int64_t strideA, const T *b, int64_t strideB, T *dst, int64_t strideDst,
                       int64_t pixels, int64_t run) {
#pragma omp parallel for if (pixels * run >= kParallelElements)
  for (int64_t p = 0; p < pixels; ++p) {
    const T *x = a + p * strideA, *y = b + p * strideB;
    T *z = dst + p * strideDst;
    for (int64_t j = 0; j < run; ++j) {
      z[2 * j] = x[j];
      z[2 * j + 1] = y[j];
    }
  }
}

#ifdef LOWBIT_X86_TARGETS
// Bytes: 32 of each run in one two-register byte permute, pixels [begin, end).
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void interleaveBytesVbmi(
    const uint8_t *a, int64_t strideA, const uint8_t *b, int64_t strideB, uint8_t *dst, int64_t strideDst,
    int64_t begin, int64_t end, int64_t run) {
  alignas(64) uint8_t order[64];
  for (int i = 0; i < 64; ++i) order[i] = static_cast<uint8_t>(i % 2 ? 64 + i / 2 : i / 2);
  const __m512i pick = _mm512_load_si512(order);
  for (int64_t p = begin; p < end; ++p) {
    const uint8_t *x = a + p * strideA, *y = b + p * strideB;
    uint8_t *z = dst + p * strideDst;
    for (int64_t j = 0; j < run; j += 32) {
      const int64_t n = std::min<int64_t>(32, run - j);
      const __mmask64 in = _cvtu64_mask64((uint64_t{1} << n) - 1);
      const __mmask64 out = _cvtu64_mask64(n == 32 ? ~uint64_t{0} : (uint64_t{1} << (2 * n)) - 1);
      const __m512i both =
          _mm512_permutex2var_epi8(_mm512_maskz_loadu_epi8(in, x + j), pick, _mm512_maskz_loadu_epi8(in, y + j));
      _mm512_mask_storeu_epi8(z + 2 * j, out, both);
    }
  }
}
#endif

}  // namespace

void interleavePairs(const void *a, int64_t strideA, const void *b, int64_t strideB, void *dst, int64_t strideDst,
                     int64_t pixels, int64_t run, size_t elemBytes) {
#ifdef LOWBIT_X86_TARGETS
  if (elemBytes == 1 && hostHasAvx512Vbmi()) {
    const auto *x = static_cast<const uint8_t *>(a), *y = static_cast<const uint8_t *>(b);
    auto *z = static_cast<uint8_t *>(dst);
#pragma omp parallel if (pixels * run >= kParallelElements)
    {
      const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
      interleaveBytesVbmi(x, strideA, y, strideB, z, strideDst, pixels * t / threads, pixels * (t + 1) / threads, run);
    }
    return;
  }
#endif
  interleavePairsReference(a, strideA, b, strideB, dst, strideDst, pixels, run, elemBytes);
}

void interleavePairsReference(const void *a, int64_t strideA, const void *b, int64_t strideB, void *dst,
                              int64_t strideDst, int64_t pixels, int64_t run, size_t elemBytes) {
  switch (elemBytes) {
    case 1:
      return interleavePairsOf(static_cast<const uint8_t *>(a), strideA, static_cast<const uint8_t *>(b), strideB,
                               static_cast<uint8_t *>(dst), strideDst, pixels, run);
    case 2:
      return interleavePairsOf(static_cast<const uint16_t *>(a), strideA, static_cast<const uint16_t *>(b), strideB,
                               static_cast<uint16_t *>(dst), strideDst, pixels, run);
    case 4:
      return interleavePairsOf(static_cast<const uint32_t *>(a), strideA, static_cast<const uint32_t *>(b), strideB,
                               static_cast<uint32_t *>(dst), strideDst, pixels, run);
    default:
      throw std::invalid_argument("interleavePairs: elements of 1, 2 or 4 bytes");
  }
}

void concatRows(const std::vector<const void *> &srcs, const std::vector<size_t> &rowBytes, int64_t rows, void *dst) {
  size_t total = 0;
  for (size_t b : rowBytes) total += b;
  uint8_t *out = static_cast<uint8_t *>(dst);
  const size_t sources = srcs.size();
  const bool large = static_cast<double>(total) * static_cast<double>(rows) >= 4.0 * kParallelElements;
  if (rows >= 8) {
#pragma omp parallel for if (large)
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t *d = out + static_cast<size_t>(r) * total;
      for (size_t i = 0; i < sources; ++i) {
        std::memcpy(d, static_cast<const uint8_t *>(srcs[i]) + static_cast<size_t>(r) * rowBytes[i], rowBytes[i]);
        d += rowBytes[i];
      }
    }
    return;
  }
  constexpr size_t kPiece = size_t{1} << 16;  // bytes a thread copies at a time when rows are few
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t *d = out + static_cast<size_t>(r) * total;
    for (size_t i = 0; i < sources; ++i) {
      const uint8_t *s = static_cast<const uint8_t *>(srcs[i]) + static_cast<size_t>(r) * rowBytes[i];
      const int64_t pieces = static_cast<int64_t>((rowBytes[i] + kPiece - 1) / kPiece);
#pragma omp parallel for if (large && pieces > 1)
      for (int64_t k = 0; k < pieces; ++k) {
        const size_t from = static_cast<size_t>(k) * kPiece;
        std::memcpy(d + from, s + from, std::min(kPiece, rowBytes[i] - from));
      }
      d += rowBytes[i];
    }
  }
}

namespace {

// Writes \p n copies of the element at \p fill.
void fillRow(uint8_t *d, int64_t n, const void *fill, size_t elemBytes) {
  if (elemBytes == 4) {
    uint32_t v;
    std::memcpy(&v, fill, 4);
    std::fill_n(reinterpret_cast<uint32_t *>(d), n, v);  // buffers are 4-byte aligned
    return;
  }
  if (elemBytes == 1) {
    std::memset(d, *static_cast<const uint8_t *>(fill), static_cast<size_t>(n));
    return;
  }
  for (int64_t j = 0; j < n; ++j) std::memcpy(d + j * static_cast<int64_t>(elemBytes), fill, elemBytes);
}

// Source index along one axis for output index \p o, or -1 for constant padding.
int64_t padSource(int64_t o, int64_t before, int64_t n, PadMode mode) {
  int64_t i = o - before;
  if (i >= 0 && i < n) return i;
  if (mode == PadMode::Constant || n == 0) return -1;
  if (mode == PadMode::Edge) return i < 0 ? 0 : n - 1;
  const int64_t period = 2 * (n - 1);  // reflect without repeating the edge
  if (period == 0) return 0;
  i = ((i % period) + period) % period;
  return i >= n ? period - i : i;
}

void padCopySerial(const void *src, const std::vector<int64_t> &inDims, void *dst,
                   const std::vector<int64_t> &padsBegin, const std::vector<int64_t> &padsEnd,
                   PadMode mode, const void *fill, size_t elemBytes) {
  const size_t rank = inDims.size();
  const auto *s = static_cast<const uint8_t *>(src);
  auto *d = static_cast<uint8_t *>(dst);
  if (rank == 0) {
    std::memcpy(d, s, elemBytes);
    return;
  }
  std::vector<int64_t> outDims(rank);
  for (size_t i = 0; i < rank; ++i) outDims[i] = inDims[i] + padsBegin[i] + padsEnd[i];
  for (int64_t v : outDims)
    if (v <= 0) return;
  const auto inStrides = contiguousStrides(inDims);
  const int64_t inner = outDims[rank - 1], innerIn = inDims[rank - 1];
  const int64_t lead = padsBegin[rank - 1];
  const size_t rowBytes = static_cast<size_t>(inner) * elemBytes;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < rank; ++i) rows *= outDims[i];
  bool innerOnly = mode == PadMode::Constant && lead >= 0 && padsEnd[rank - 1] >= 0;
  for (size_t i = 0; i + 1 < rank; ++i) innerOnly = innerOnly && padsBegin[i] == 0 && padsEnd[i] == 0;
  if (innerOnly) {  // e.g. channels of a channels-last tensor: every row is fill, copy, fill
    const size_t inRowBytes = static_cast<size_t>(innerIn) * elemBytes;
    for (int64_t r = 0; r < rows; ++r, d += rowBytes, s += inRowBytes) {
      fillRow(d, lead, fill, elemBytes);
      std::memcpy(d + lead * static_cast<int64_t>(elemBytes), s, inRowBytes);
      fillRow(d + (lead + innerIn) * static_cast<int64_t>(elemBytes), padsEnd[rank - 1], fill, elemBytes);
    }
    return;
  }
  std::vector<int64_t> idx(rank, 0);
  // One output row (last axis) at a time: the middle is one memcpy, the ends are padding.
  for (int64_t r = 0; r < rows; ++r, d += rowBytes) {
    int64_t srcRow = 0;
    bool inside = true;
    for (size_t a = 0; a + 1 < rank; ++a) {
      int64_t i = padSource(idx[a], padsBegin[a], inDims[a], mode);
      if (i < 0) {
        inside = false;
        break;
      }
      srcRow += i * inStrides[a];
    }
    if (!inside) {
      fillRow(d, inner, fill, elemBytes);
    } else {
      const uint8_t *row = s + srcRow * static_cast<int64_t>(elemBytes);
      const int64_t lo = std::max<int64_t>(0, lead), hi = std::min<int64_t>(inner, lead + innerIn);
      if (hi > lo)
        std::memcpy(d + lo * static_cast<int64_t>(elemBytes), row + (lo - lead) * static_cast<int64_t>(elemBytes),
                    static_cast<size_t>(hi - lo) * elemBytes);
      if ((lo != 0 || hi != inner) && mode == PadMode::Constant) {  // constant ends of the row
        const int64_t head = std::min(lo, inner), tail = std::max(hi, head);
        fillRow(d, head, fill, elemBytes);
        fillRow(d + tail * static_cast<int64_t>(elemBytes), inner - tail, fill, elemBytes);
      } else if (lo != 0 || hi != inner) {  // edge or reflect along the last axis too
        for (int64_t j = 0; j < inner; ++j) {
          if (j >= lo && j < hi) continue;
          int64_t i = padSource(j, lead, innerIn, mode);
          std::memcpy(d + j * static_cast<int64_t>(elemBytes), i < 0 ? fill : row + i * static_cast<int64_t>(elemBytes),
                      elemBytes);
        }
      }
    }
    for (int64_t a = static_cast<int64_t>(rank) - 2; a >= 0; --a) {
      if (++idx[static_cast<size_t>(a)] < outDims[static_cast<size_t>(a)]) break;
      idx[static_cast<size_t>(a)] = 0;
    }
  }
}

}  // namespace

void padCopy(const void *src, const std::vector<int64_t> &inDims, void *dst,
             const std::vector<int64_t> &padsBegin, const std::vector<int64_t> &padsEnd,
             PadMode mode, const void *fill, size_t elemBytes) {
  const size_t rank = inDims.size();
  int64_t total = 1;
  for (size_t i = 0; i < rank; ++i) total *= inDims[i] + padsBegin[i] + padsEnd[i];
  if (rank < 2 || total < kParallelElements) {
    padCopySerial(src, inDims, dst, padsBegin, padsEnd, mode, fill, elemBytes);
    return;
  }
  // One output slice along the outermost axis per iteration: padded slices are filled, the
  // others are the matching input slice padded in the remaining axes.
  const int64_t outer = inDims[0] + padsBegin[0] + padsEnd[0];
  const std::vector<int64_t> subIn(inDims.begin() + 1, inDims.end());
  const std::vector<int64_t> subBegin(padsBegin.begin() + 1, padsBegin.end());
  const std::vector<int64_t> subEnd(padsEnd.begin() + 1, padsEnd.end());
  int64_t inSlice = 1, outSlice = 1;
  for (size_t i = 1; i < rank; ++i) {
    inSlice *= inDims[i];
    outSlice *= inDims[i] + padsBegin[i] + padsEnd[i];
  }
  const auto *s = static_cast<const uint8_t *>(src);
  auto *d = static_cast<uint8_t *>(dst);
  const int64_t eb = static_cast<int64_t>(elemBytes);
#pragma omp parallel for
  for (int64_t o = 0; o < outer; ++o) {
    const int64_t i = padSource(o, padsBegin[0], inDims[0], mode);
    uint8_t *out = d + o * outSlice * eb;
    if (i < 0) {
      fillRow(out, outSlice, fill, elemBytes);
    } else {
      padCopySerial(s + i * inSlice * eb, subIn, out, subBegin, subEnd, mode, fill, elemBytes);
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
