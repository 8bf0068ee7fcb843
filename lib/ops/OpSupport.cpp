#include "ops/OpSupport.h"

#include <algorithm>

namespace lowbit {

const std::vector<std::string> &supportedOps() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v = {
        "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
        "ConstantOfShape", "Conv", "DequantizeLinear", "Div", "Dropout", "Flatten", "Gather", "Gemm",
        "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity", "MatMul", "MaxPool", "Mul",
        "Pad", "QuantizeLinear", "ReduceMean", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Split",
        "Squeeze", "Sub", "Transpose", "Unsqueeze"};
    std::sort(v.begin(), v.end());
    return v;
  }();
  return ops;
}

bool isSupportedOp(const std::string &opType, const std::string &domain) {
  if (!domain.empty() && domain != "ai.onnx") return false;
  const auto &ops = supportedOps();
  return std::binary_search(ops.begin(), ops.end(), opType);
}

bool isInternalOp(const std::string &opType) {
  return opType == "QConv" || opType == "QGemm" || opType == "CodeConv";
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
