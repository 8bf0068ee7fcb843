// FuseResidualAdd
//   Requires: nothing.
//   Produces: marks (Node::fusedAdd / fusedInto) on a Conv (or CodeConv) whose only reader is
//             an Add of the same shape whose other operand is computed before the Conv: the runner then
//             accumulates the Conv result into that operand's buffer (oneDNN sum post-op),
//             which is how ResNet blocks save a pass over memory. Graph unchanged.
//   Leaves untouched: broadcasting Adds, Adds of two Convs' outputs where the other Conv comes
//             later, outputs that are graph outputs.
#include <algorithm>

#include "passes/Pass.h"

namespace lowbit {
namespace {

class FuseResidualAdd final : public Pass {
 public:
  std::string_view name() const override { return "FuseResidualAdd"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    std::vector<Node *> order = g.nodes();
    auto position = [&](const Node *n) {
      return std::find(order.begin(), order.end(), n) - order.begin();
    };
    for (Node *conv : order) {
      if ((conv->opType() != "Conv" && conv->opType() != "CodeConv") || conv->fusedAdd || conv->fusedActivation) continue;
      Value *y = conv->output(0);
      if (g.isGraphOutput(y) || y->dtype() != DType::Float32 || !y->hasShape()) continue;
      std::vector<Node *> readers = g.users(y);
      if (readers.size() != 1 || readers[0]->opType() != "Add" || readers[0]->fusedInto) continue;
      Node *add = readers[0];
      Value *other = add->input(0) == y ? add->input(1) : add->input(0);
      // Same dims, with an unknown batch on both sides (the runner re-checks static shapes).
      if (!other || other == y || other->isConstant() || !other->hasShape() || other->dims() != y->dims())
        continue;
      if (other->producer() && position(other->producer()) > position(conv)) continue;
      conv->fusedAdd = add;
      add->fusedInto = conv;
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> createFuseResidualAdd() { return std::make_unique<FuseResidualAdd>(); }

}  // namespace lowbit
