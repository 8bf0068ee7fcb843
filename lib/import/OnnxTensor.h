// Conversion between onnx::TensorProto and lowbit::Tensor (all storage fields, external data).
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "ir/Tensor.h"

namespace lowbit {

/// Reads \p proto into a Tensor. External data is resolved relative to \p baseDir. Errors
/// name \p where (e.g. "model.onnx: initializer 'conv1.weight'").
Tensor tensorFromProto(const onnx::TensorProto &proto, const std::string &baseDir,
                       const std::string &where);

/// Writes \p t into \p proto with \p name: raw_data, or string_data for STRING tensors.
void tensorToProto(const Tensor &t, const std::string &name, onnx::TensorProto *proto);

}  // namespace lowbit
