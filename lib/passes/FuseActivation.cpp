// FuseActivation
//   Requires: nothing.
//   Produces: marks (Node::fusedActivation / fusedInto) on a Conv, CodeConv or Gemm (or a
//             static QConv or QGemm with a float output) whose only
//             reader (or, after FuseResidualAdd, whose fused Add's only reader) is a Relu, a
//             Clip with constant bounds or a HardSwish, or whose two readers are a self-gated
//             activation x * gate(x) (h-swish as HardSigmoid and Mul, SiLU as Sigmoid and
//             Mul; fusedActivation is the Mul, the gate is fused too), so the runner applies
//             the activation as a post-op of the same primitive. The graph's ops and edges are unchanged, so
//             export and passes that ignore the marks see the same model.
//   Leaves untouched: producers whose output is also a graph output or read elsewhere.
#include "ops/OpParams.h"
#include "passes/Pass.h"

namespace lowbit {
namespace {

bool fusableActivation(const Node &act) {
  if (act.opType() == "Relu" || act.opType() == "HardSwish") return true;
  return act.opType() == "Clip" && hasConstantClipBounds(act);
}

class FuseActivation final : public Pass {
 public:
  std::string_view name() const override { return "FuseActivation"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Node *n : g.nodes()) {
      const std::string &op = n->opType();
      // QConv / QGemm writing float (an activation the integer lowering did not take, such as
      // h-swish) apply it in model units; their dynamic form has its own epilogue.
      const bool integer = (op == "QConv" || op == "QGemm") && n->attrInt("dynamic", 0) == 0;
      if ((op != "Conv" && op != "CodeConv" && op != "Gemm" && !integer) || n->fusedActivation) continue;
      Value *y = (n->fusedAdd ? n->fusedAdd : n)->output(0);
      if (g.isGraphOutput(y) || y->dtype() != DType::Float32) continue;
      if (Node *mul = selfGatedActivation(g, y)) {
        n->fusedActivation = mul;
        mul->fusedInto = n;
        selfGate(*mul)->fusedInto = n;
        changed = true;
        continue;
      }
      const std::vector<Node *> readers = g.users(y);
      if (readers.size() != 1 || !fusableActivation(*readers[0])) continue;
      n->fusedActivation = readers[0];
      readers[0]->fusedInto = n;
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> createFuseActivation() { return std::make_unique<FuseActivation>(); }

}  // namespace lowbit
