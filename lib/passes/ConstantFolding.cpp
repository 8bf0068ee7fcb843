// ConstantFolding
//   Requires: shapes inferred (the importer does it).
//   Produces: every node that evaluate() supports and whose inputs are all constant is
//             replaced by constant outputs; Shape of a value whose (sliced) dims are all known
//             becomes a constant. Shapes downstream are re-inferred.
//   Leaves untouched: compute ops (Conv, Gemm, ...), even with constant inputs;
//             DequantizeLinear of constant integer codes read by a Conv, Gemm or MatMul
//             (quantized weights and biases stay codes for the integer runner;
//             FoldDequantizeWeights turns them into float). Read by anything else (a Pad's
//             constant_value as ONNX Runtime's quantizer writes it, a Clip bound), it folds.
#include <algorithm>

#include "ops/Evaluate.h"
#include "ops/OpParams.h"
#include "ops/ShapeInference.h"
#include "passes/Pass.h"
#include "quant/QuantRules.h"

namespace lowbit {
namespace {

// Constant codes dequantized for a layer's weights or bias: they stay codes.
bool dequantizesWeights(const Graph &g, const Node &n) {
  if (!isConstantDequantize(n)) return false;
  const std::vector<Node *> readers = g.users(n.output(0));
  return std::any_of(readers.begin(), readers.end(), [](const Node *r) { return isWeightLayer(*r); });
}

// Shape output computable without data? Only the sliced dims must be known.
bool foldableShape(const Node &n) {
  const Value *x = n.input(0);
  if (n.opType() != "Shape" || !x || !x->hasShape()) return false;
  Tensor dims = shapeOfDims(n, x->dims());  // unknown dims appear as -1
  const int64_t *d = dims.data<int64_t>();
  return std::all_of(d, d + dims.numel(), [](int64_t v) { return v >= 0; });
}

class ConstantFolding final : public Pass {
 public:
  std::string_view name() const override { return "ConstantFolding"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Node *n : g.nodes()) {
      inferNodeShapes(*n, g.opset);  // inputs may have become constant just now
      if (!canEvaluate(*n) || dequantizesWeights(g, *n)) continue;
      std::vector<const Tensor *> ins;
      bool allConst = true;
      for (Value *in : n->inputs()) {
        if (in && !in->isConstant()) allConst = false;
        ins.push_back(in && in->isConstant() ? in->constant().get() : nullptr);
      }
      std::vector<Tensor> outs;
      if (allConst) {
        requireOutputsFitInMemory(*n);
        outs = evaluate(*n, ins, g.opset);
      } else if (foldableShape(*n)) {
        outs.push_back(shapeOfDims(*n, n->input(0)->dims()));
      } else {
        continue;
      }
      g.replaceByConstants(n, std::move(outs));
      changed = true;
    }
    return changed;
  }
};


}  // namespace

std::unique_ptr<Pass> createConstantFolding() { return std::make_unique<ConstantFolding>(); }

}  // namespace lowbit
