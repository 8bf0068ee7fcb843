// Reference evaluation of shape, data-movement and elementwise ops on constant tensors of any
// numeric type: what constant folding and the runner's plan-time specialization use.
#pragma once

#include <vector>

#include "ir/Node.h"

namespace lowbit {

/// True if evaluate() can compute \p n once all its inputs are known.
bool canEvaluate(const Node &n);

/// Computes \p n's outputs from \p inputs (null for omitted optional inputs). Node attributes
/// and constant inputs are read through \p n; \p opset is the model's default-domain opset.
/// Throws Error naming \p n for unsupported types or bad values.
std::vector<Tensor> evaluate(const Node &n, const std::vector<const Tensor *> &inputs,
                             int64_t opset);

/// evaluate() of a node whose inputs are all constants (absent optional inputs allowed).
std::vector<Tensor> evaluateConstant(const Node &n, int64_t opset);

/// ONNX Shape of a tensor with \p dims (start/end attributes of \p n applied).
Tensor shapeOfDims(const Node &n, const Dims &dims);

/// \p t with its axes in the order \p perm (Transpose's semantics).
Tensor transposed(const Tensor &t, const std::vector<int64_t> &perm);

/// Converts \p t to \p to (ONNX Cast semantics for numeric types).
Tensor castTensor(const Tensor &t, DType to);

}  // namespace lowbit
