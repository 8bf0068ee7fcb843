// The gradient table: one line per op the training engine differentiates, naming its builder.
// Every op the float runner runs on float data belongs here; shape-only ops (Shape, Gather,
// ConstantOfShape, ...) never reach the engine, which trains the shape-specialised graph.
#include <algorithm>

#include "train/Layer.h"

namespace lowbit::train {

const std::vector<TrainableOp> &trainableOps() {
  static const std::vector<TrainableOp> table = [] {
    std::vector<TrainableOp> t = {
        {"Add", buildBinary},
        {"AveragePool", buildPool},
        {"BatchNormalization", buildBatchNorm},
        {"Cast", buildView},  // float to float once specialised (other casts are not float data)
        {"Clip", buildActivation},
        {"Concat", buildConcat},
        {"Conv", buildConv},
        {"Div", buildBinary},
        {"Dropout", buildView},
        {"Flatten", buildView},
        {"Gemm", buildGemm},
        {"GlobalAveragePool", buildPool},
        {"HardSigmoid", buildUnary},
        {"HardSwish", buildUnary},
        {"Identity", buildView},
        {"MatMul", buildMatMul},
        {"MaxPool", buildPool},
        {"Mul", buildBinary},
        {"Pad", buildPad},
        {"ReduceMean", buildReduceMean},
        {"Relu", buildActivation},
        {"Reshape", buildView},
        {"Sigmoid", buildUnary},
        {"Slice", buildSlice},
        {"Softmax", buildSoftmax},
        {"Split", buildSplit},
        {"Squeeze", buildView},
        {"Sub", buildBinary},
        {"Transpose", buildTranspose},
        {"Unsqueeze", buildView},
    };
    std::sort(t.begin(), t.end(),
              [](const TrainableOp &a, const TrainableOp &b) { return std::string(a.opType) < b.opType; });
    return t;
  }();
  return table;
}

const TrainableOp *findTrainableOp(const std::string &opType) {
  const auto &t = trainableOps();
  auto it = std::lower_bound(t.begin(), t.end(), opType,
                             [](const TrainableOp &e, const std::string &op) { return e.opType < op; });
  return it != t.end() && opType == it->opType ? &*it : nullptr;
}

bool isTrainableOp(const std::string &opType) { return findTrainableOp(opType) != nullptr; }

}  // namespace lowbit::train
