// The gradient table: the ops the training engine differentiates, with their layer builders,
// read off the op table's training column (ops/OpTable.cpp). Every op the float runner runs on
// float data has one; shape-only ops (Shape, Gather, ConstantOfShape, ...) never reach the
// engine, which trains the shape-specialised graph.
#include <algorithm>

#include "ops/OpTable.h"
#include "train/Layer.h"

namespace lowbit::train {

const std::vector<TrainableOp> &trainableOps() {
  static const std::vector<TrainableOp> table = [] {
    std::vector<TrainableOp> t;
    for (const OpInfo &o : opTable())
      if (o.buildLayer) t.push_back({o.opType, o.buildLayer});
    return t;  // sorted, as the op table is
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
