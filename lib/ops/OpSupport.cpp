#include "ops/OpSupport.h"

#include <algorithm>

#include "ops/OpTable.h"

namespace lowbit {

const std::vector<std::string> &supportedOps() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (const OpInfo &o : opTable()) v.push_back(o.opType);
    return v;
  }();
  return ops;
}

bool isSupportedOp(const std::string &opType, const std::string &domain) {
  return (domain.empty() || domain == "ai.onnx") && findOp(opType) != nullptr;
}

bool isInternalOp(const std::string &opType) {
  return opType == "QConv" || opType == "QGemm" || opType == "QRescale" || opType == "CodeConv";
}

std::vector<std::string> unsupportedNodeLines(const Graph &g) {
  std::vector<std::string> lines;
  size_t index = 0;
  for (Node *n : g.nodes()) {
    if (!isSupportedOp(n->opType(), n->domain())) {
      std::string where = n->domain().empty() ? cat("opset ", g.opset)
                                              : cat("domain ", n->domain());
      lines.push_back(cat("node '", n->name(), "' (", n->opType(), ", ", where, ", #", index, ")"));
    }
    ++index;
  }
  return lines;
}

}  // namespace lowbit
