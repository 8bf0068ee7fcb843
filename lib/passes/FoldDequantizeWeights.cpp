// FoldDequantizeWeights
//   Requires: nothing.
//   Produces: every DequantizeLinear of constant integer codes (quantized weights and biases)
//             replaced by its float constant: what the float runner reads.
//   Leaves untouched: DequantizeLinear of run-time values.
#include "ops/Evaluate.h"
#include "ops/OpParams.h"
#include "passes/Pass.h"

namespace lowbit {
namespace {

class FoldDequantizeWeights final : public Pass {
 public:
  std::string_view name() const override { return "FoldDequantizeWeights"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Node *n : g.nodes()) {
      if (!isConstantDequantize(*n)) continue;
      g.replaceByConstants(n, evaluateConstant(*n, g.opset));
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldDequantizeWeights() { return std::make_unique<FoldDequantizeWeights>(); }

}  // namespace lowbit
