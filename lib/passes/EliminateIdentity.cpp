// EliminateIdentity
//   Requires: nothing.
//   Produces: Identity, Dropout that drops nothing (inference mode or ratio 0, mask unused) and Cast to the same type are
//             removed; readers use the input directly.
//   Leaves untouched: such nodes whose removal would rename a graph input or output.
#include "ops/OpParams.h"
#include "passes/Pass.h"

namespace lowbit {
namespace {

bool isNoOp(const Graph &g, const Node &n) {
  const Value *x = n.input(0);
  if (!x) return false;
  if (n.opType() == "Identity") return true;
  if (n.opType() == "Dropout") {
    const Value *mask = n.output(1);
    if (mask && (!g.users(mask).empty() || g.isGraphOutput(mask))) return false;
    for (size_t i = 1; i < n.inputs().size(); ++i)  // run-time ratio or mode: decided per plan
      if (n.input(i) && !n.input(i)->isConstant()) return false;
    return !dropoutDrops(n);
  }
  if (n.opType() == "Cast")
    return x->dtype() != DType::Undefined && static_cast<DType>(n.attrInt("to", 0)) == x->dtype();
  return false;
}

class EliminateIdentity final : public Pass {
 public:
  std::string_view name() const override { return "EliminateIdentity"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Node *n : g.nodes()) {
      if (!isNoOp(g, *n)) continue;
      Value *in = n->input(0), *out = n->output(0);
      if (!g.canReplace(out, in)) continue;
      g.replaceAllUsesWith(out, in);
      g.eraseNode(n);
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> createEliminateIdentity() { return std::make_unique<EliminateIdentity>(); }

}  // namespace lowbit
