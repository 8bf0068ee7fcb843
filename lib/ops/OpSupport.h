// The table of ONNX ops lowbit understands, and the check that names every node it does not.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"

namespace lowbit {

/// Ops of the default ONNX domain the importer, passes and float runner support, sorted.
const std::vector<std::string> &supportedOps();
/// True if \p opType (default domain) is in supportedOps().
bool isSupportedOp(const std::string &opType, const std::string &domain = "");
/// Ops that lowbit's own passes create and only its runner reads (never imported or
/// exported): QConv and QGemm of lowerToInteger, CodeConv of ConvInCodeUnits.
bool isInternalOp(const std::string &opType);
/// Lines such as `node 'gelu_3' (Gelu, domain com.microsoft, #60)` for every unsupported node.
std::vector<std::string> unsupportedNodeLines(const Graph &g);

}  // namespace lowbit
