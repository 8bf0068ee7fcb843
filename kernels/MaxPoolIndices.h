// Where each max-pooling window found its maximum: the Indices output of ONNX MaxPool, as
// flattened offsets into the input tensor (row-major spatial order, or column-major for
// storage_order=1). Ties go to the first element in row-major window order.
#pragma once

#include <cstdint>
#include <vector>

namespace lowbit {

struct PoolWindow {
  std::vector<int64_t> inSpatial, outSpatial, kernel, strides, dilations, padsBegin;
};

/// \p x is plain [outer (N*C), inSpatial...]; \p indices receives outer * prod(outSpatial)
/// offsets. Windows that see only padding get -1.
void maxPoolIndices(const float *x, int64_t outer, const PoolWindow &w, bool columnMajor, int64_t *indices);

}  // namespace lowbit
