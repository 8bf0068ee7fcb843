// Graph IR -> ONNX file.
#pragma once

#include <string>

#include "ir/Graph.h"

namespace onnx {
class ModelProto;
}

namespace lowbit {

/// Builds an ONNX model from \p g: inputs, outputs and intermediate value_info with shapes
/// (dynamic dims keep their dim_param), constants as initializers, nodes with attributes.
/// Runtime-only marks (fused activations) are not written; the ops stay separate.
void exportToProto(const Graph &g, onnx::ModelProto *model);

/// \p g serialized, after checking it with onnx::checker. Throws Error naming \p path (the
/// file it is meant for).
std::string exportOnnxBytes(const Graph &g, const std::string &path);

/// exportOnnxBytes written to \p path atomically (support/File.h writeFileAtomic).
void exportOnnxFile(const Graph &g, const std::string &path);

}  // namespace lowbit
