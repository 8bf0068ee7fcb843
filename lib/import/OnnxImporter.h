// ONNX file -> graph IR.
#pragma once

#include <memory>
#include <string>

#include "ir/Graph.h"

namespace lowbit {

/// Reads the ONNX model at \p path: initializers and Constant nodes become constant values,
/// value_info gives shapes, external data is read from beside the model. Unnamed nodes are
/// named `<OpType>_<index>`. Every unsupported op is collected into one Error before failing,
/// then shapes are inferred. Errors start with \p path.
struct ImportOptions {
  /// Keep nodes with unsupported ops (their outputs get no shapes) instead of failing; for
  /// `lowbit inspect`, which lists them. Nothing can run such a graph.
  bool allowUnsupported = false;
};

std::unique_ptr<Graph> importOnnxFile(const std::string &path, const ImportOptions &opts = {});

/// Same, from serialized bytes; \p displayName prefixes messages and \p baseDir resolves
/// external data.
std::unique_ptr<Graph> importOnnxBytes(const std::string &bytes, const std::string &displayName,
                                       const std::string &baseDir, const ImportOptions &opts = {});

}  // namespace lowbit
