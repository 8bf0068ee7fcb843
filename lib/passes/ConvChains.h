// Conv -> [Relu] -> Conv chains: the pairs cross-layer equalization rescales and high-bias
// absorption shifts.
#pragma once

#include <vector>

#include "ir/Graph.h"

namespace lowbit {

/// A Conv whose output reaches exactly one other Conv, through at most one Relu: `first`'s
/// output is read only by the Relu (or `second`), the Relu's only by `second`, neither is a
/// graph output, and both Convs are plain (group 1) or depthwise with constant weights.
struct ConvChain {
  Node *first;
  Node *relu;  ///< nullptr when `second` reads `first` directly
  Node *second;
};

/// A Conv with constant weights that is plain (group 1) or depthwise (one input channel per group).
bool isPlainOrDepthwiseConv(const Node &n);

/// Every chain of \p g, in graph order of `first`.
std::vector<ConvChain> findConvChains(const Graph &g);

}  // namespace lowbit
