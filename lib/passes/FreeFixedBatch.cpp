// FreeFixedBatch
//   Requires: shapes inferred (the importer's).
//   Produces: float graph inputs of rank >= 2 whose first dim is a number (a model exported
//             without dynamic axes, N = 1) get a dynamic first dim when the graph specialised
//             to N = 2 and to N = 3 (shapes inferred, shape chains folded) succeeds and gives
//             every graph output that first dim: nothing in the graph depends on N being the
//             exported number, so lowbit can feed it batches of any size.
//   Leaves untouched: graphs where a node fixes the batch (Reshape to [1, -1], say) and graphs
//             whose outputs carry no batch dim; they keep their declared N.
// Runs first in the float preparation: constant folding would bake Shape -> Gather chains of
// the fixed N into constants.
#include <algorithm>

#include "ops/ShapeInference.h"
#include "passes/Pass.h"
#include "passes/PassManager.h"

namespace lowbit {
namespace {

std::vector<size_t> fixedBatchInputs(const Graph &g) {
  std::vector<size_t> fixed;
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const Value *v = g.inputs()[i];
    if (!v->container && v->dtype() == DType::Float32 && v->hasShape() && v->dims().size() >= 2 && v->dims()[0] > 0)
      fixed.push_back(i);
  }
  return fixed;
}

// Whether \p g specialised to batch \p n at \p inputs computes outputs of first dim \p n.
bool followsBatch(const Graph &g, const std::vector<size_t> &inputs, int64_t n) {
  std::vector<Dims> dims;
  for (const Value *v : g.inputs()) dims.push_back(v->hasShape() ? v->dims() : Dims{});
  for (size_t i : inputs) dims[i][0] = n;
  std::unique_ptr<Graph> s;
  try {
    s = specializedClone(g, dims, /*anyBatch=*/true);
  } catch (const Error &) {
    return false;  // a node needs the exported N
  }
  if (s->outputs().empty()) return false;
  for (const Value *v : s->outputs())
    if (!v->hasShape() || v->dims().empty() || v->dims()[0] != n) return false;
  return true;
}

class FreeFixedBatch final : public Pass {
 public:
  std::string_view name() const override { return "FreeFixedBatch"; }
  bool run(Graph &g, const PassContext &) override {
    const std::vector<size_t> inputs = fixedBatchInputs(g);
    if (inputs.empty() || std::any_of(g.inputs().begin(), g.inputs().end(), [](const Value *v) { return !v->hasShape(); }) ||
        !followsBatch(g, inputs, 2) || !followsBatch(g, inputs, 3))
      return false;
    for (size_t i : inputs) {
      Value *v = g.inputs()[i];
      Dims d = v->dims();
      d[0] = -1;
      std::vector<std::string> names = v->dimNames();
      if (!names.empty()) names[0] = "N";
      v->setShape(d);
      v->setDimNames(names);
    }
    inferShapes(g, /*skipUnsupported=*/true);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> createFreeFixedBatch() { return std::make_unique<FreeFixedBatch>(); }

}  // namespace lowbit
