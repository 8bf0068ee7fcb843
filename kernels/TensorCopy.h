// Reference data-movement kernels on raw row-major buffers: strided copy (covers transpose,
// slice with any step, broadcast, concat and split), pad and gather. Element size is in bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lowbit {

/// Row-major strides (in elements) of \p dims.
std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &dims);

/// Strides (in elements) to read a row-major tensor of \p dims as if broadcast to \p outDims
/// (numpy rules: leading axes added, size-1 axes repeated with stride 0).
std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &dims, const std::vector<int64_t> &outDims);

/// For every index i of \p dims: dst[dstOffset + i.dstStrides] = src[srcOffset + i.srcStrides].
/// Offsets and strides are in elements; strides may be 0 (broadcast) or negative (reverse).
void copyStrided(const void *src, int64_t srcOffset, const std::vector<int64_t> &srcStrides,
                 void *dst, int64_t dstOffset, const std::vector<int64_t> &dstStrides,
                 const std::vector<int64_t> &dims, size_t elemBytes);

/// A concatenation whose sources are contiguous runs of each row: row r of \p dst is row r of
/// srcs[0], then of srcs[1], ... (\p rowBytes[i] bytes each), for \p rows rows. Threaded over
/// rows, or over pieces of each run when rows are few.
void concatRows(const std::vector<const void *> &srcs, const std::vector<size_t> &rowBytes, int64_t rows, void *dst);

/// A channel shuffle of two groups on channels-last data: for each of \p pixels,
/// dst[2j] = a[j] and dst[2j + 1] = b[j] for j < \p run. Strides are in elements between pixels.
void interleavePairs(const void *a, int64_t strideA, const void *b, int64_t strideB, void *dst, int64_t strideDst,
                     int64_t pixels, int64_t run, size_t elemBytes);
/// The plain loop interleavePairs is tested against (its byte path takes AVX-512 VBMI permutes
/// where the CPU has them).
void interleavePairsReference(const void *a, int64_t strideA, const void *b, int64_t strideB, void *dst,
                              int64_t strideDst, int64_t pixels, int64_t run, size_t elemBytes);

enum class PadMode { Constant, Edge, Reflect };

/// Pads \p src of \p inDims by \p padsBegin / \p padsEnd per axis (negative = crop).
/// \p fill points to one element used by Constant mode.
void padCopy(const void *src, const std::vector<int64_t> &inDims, void *dst,
             const std::vector<int64_t> &padsBegin, const std::vector<int64_t> &padsEnd,
             PadMode mode, const void *fill, size_t elemBytes);

/// ONNX Gather: out = src taken at \p indices (already in [0, dims[axis])) along \p axis.
void gatherCopy(const void *src, const std::vector<int64_t> &inDims, int64_t axis,
                const std::vector<int64_t> &indices, void *dst, size_t elemBytes);

}  // namespace lowbit
