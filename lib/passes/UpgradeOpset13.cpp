// UpgradeOpset13
//   Requires: a graph of default-domain opset 7..12 (newer graphs are left as they are).
//   Produces: the same function written in opset 13, which per-channel QDQ export needs
//             (DequantizeLinear's axis exists from 13): attributes that became inputs (Clip
//             min/max, Pad pads/value, Slice starts/ends/axes, Squeeze/Unsqueeze axes, Split
//             split, Dropout ratio) are moved to constant inputs, and Softmax's pre-13 "flatten
//             to 2-D" semantics is kept by an explicit axis when it is the last axis.
//   Leaves untouched: nothing silently; a Softmax over a non-last axis (needs a rewrite into
//             Flatten/Softmax/Reshape) is an error naming the node.
#include "passes/Pass.h"

namespace lowbit {
namespace {

class UpgradeOpset13 final : public Pass {
 public:
  std::string_view name() const override { return "UpgradeOpset13"; }
  bool run(Graph &g, const PassContext &) override {
    if (g.opset >= 13) return false;
    const int64_t from = g.opset;
    for (Node *n : g.nodes()) {
      const std::string &op = n->opType();
      if (op == "Squeeze" || op == "Unsqueeze") {
        moveIntsToInput(g, n, "axes", 1);
      } else if (op == "Split") {
        moveIntsToInput(g, n, "split", 1);
      } else if (op == "Clip" && from < 11) {
        moveFloatToInput(g, n, "min", 1);
        moveFloatToInput(g, n, "max", 2);
      } else if (op == "Pad" && from < 11) {
        moveIntsToInput(g, n, "pads", 1);
        moveFloatToInput(g, n, "value", 2);
      } else if (op == "Slice" && from < 10) {
        moveIntsToInput(g, n, "starts", 1);
        moveIntsToInput(g, n, "ends", 2);
        moveIntsToInput(g, n, "axes", 3);
      } else if (op == "Dropout" && from < 12) {
        moveFloatToInput(g, n, "ratio", 1);
      } else if (op == "Softmax") {
        const Value *x = n->input(0);
        if (!x->hasShape()) throw Error(cat(n->describe(), ": cannot upgrade a Softmax of unknown rank to opset 13"));
        const int64_t rank = static_cast<int64_t>(x->dims().size());
        int64_t axis = n->attrInt("axis", 1);
        if (axis < 0) axis += rank;
        if (axis != rank - 1)
          throw Error(cat(n->describe(), ": Softmax over axis ", axis, " of a rank-", rank,
                          " tensor changes meaning in opset 13; lowbit cannot upgrade it yet"));
        n->setAttr("axis", Attribute::ofInt(axis));
      }
    }
    g.opset = 13;
    return true;
  }

 private:
  static Value *placeInput(Graph &g, Node *n, size_t index, Tensor t, const std::string &what) {
    Value *v = g.addConstant(g.uniqueName(n->name() + "_" + what), std::move(t));
    if (n->inputs().size() <= index) n->inputs().resize(index + 1, nullptr);
    n->inputs()[index] = v;
    return v;
  }
  static void moveIntsToInput(Graph &g, Node *n, const std::string &attr, size_t index) {
    if (!n->hasAttr(attr)) return;
    std::vector<int64_t> v = n->attrInts(attr);
    n->attrs().erase(attr);
    placeInput(g, n, index, Tensor::fromVector<int64_t>({static_cast<int64_t>(v.size())}, v), attr);
  }
  static void moveFloatToInput(Graph &g, Node *n, const std::string &attr, size_t index) {
    if (!n->hasAttr(attr)) return;
    float v = n->attrFloat(attr, 0.f);
    n->attrs().erase(attr);
    placeInput(g, n, index, Tensor::scalar<float>(v), attr);
  }
};

}  // namespace

std::unique_ptr<Pass> createUpgradeOpset13() { return std::make_unique<UpgradeOpset13>(); }

}  // namespace lowbit
