// DeadCodeElimination
//   Requires: nothing.
//   Produces: nodes none of whose outputs reach a graph output are removed, and so are
//             values (including constants) nothing references.
//   Leaves untouched: graph inputs, even unused ones (they are the model's interface).
#include "passes/Pass.h"

namespace lowbit {
namespace {

class DeadCodeElimination final : public Pass {
 public:
  std::string_view name() const override { return "DeadCodeElimination"; }
  bool run(Graph &g, const PassContext &) override {
    size_t valuesBefore = g.values().size();
    size_t removed = g.removeDeadCode();
    return removed > 0 || g.values().size() != valuesBefore;
  }
};

}  // namespace

std::unique_ptr<Pass> createDeadCodeElimination() {
  return std::make_unique<DeadCodeElimination>();
}

}  // namespace lowbit
