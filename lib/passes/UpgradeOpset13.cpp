// UpgradeOpset13
//   Requires: a graph of default-domain opset 7..12 (newer graphs are left as they are).
//   Produces: the same function written in opset 13, which per-channel QDQ export needs
//             (DequantizeLinear's axis exists from 13): attributes that became inputs (Clip
//             min/max, Pad pads/value, Slice starts/ends/axes, Squeeze/Unsqueeze axes, Split
//             split, Dropout ratio) are moved to constant inputs, and the pre-13 "flatten to 2-D"
//             semantics of Softmax and LogSoftmax is kept: by an explicit axis when the axes
//             after it have size 1 (the last axis, or a [N, K, 1, 1] head), else by a Flatten
//             before and a Reshape back after the op.
//   Leaves untouched: nothing silently; such an op of unknown rank, or whose shape has more than
//             one unknown dim to restore, is an error naming the node.
#include <algorithm>

#include "ops/OpParams.h"
#include "passes/Pass.h"
#include "support/Strings.h"

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
      } else if (op == "Softmax" || op == "LogSoftmax") {
        keepFlattenedSoftmax(g, n);
      }
    }
    g.opset = 13;
    return true;
  }

 private:
  // Before opset 13 the op normalizes over the axes from `axis` on, flattened.
  static void keepFlattenedSoftmax(Graph &g, Node *n) {
    const Value *x = n->input(0);
    if (!x->hasShape()) throw Error(cat(n->describe(), ": cannot upgrade a ", n->opType(), " of unknown rank to opset 13"));
    const Dims d = x->dims();
    const int64_t rank = static_cast<int64_t>(d.size());
    const int64_t axis = softmaxAxis(*n, rank, g.opset);
    n->setAttr("axis", Attribute::ofInt(axis));
    if (std::all_of(d.begin() + axis + 1, d.end(), [](int64_t v) { return v == 1; })) return;
    if (std::count_if(d.begin(), d.end(), [](int64_t v) { return v < 0; }) > 1)
      throw Error(cat(n->describe(), ": ", n->opType(), " over the flattened axes from ", axis, " of ", shapeString(d),
                      " (two unknown dims) cannot be written in opset 13"));
    auto product = [&](int64_t from, int64_t to) {
      int64_t p = 1;
      for (int64_t i = from; i < to; ++i) p = d[static_cast<size_t>(i)] < 0 || p < 0 ? -1 : p * d[static_cast<size_t>(i)];
      return p;
    };
    Value *flat = g.addValue(g.uniqueName(n->name() + "_flat"));
    flat->setDType(x->dtype());
    flat->setShape({product(0, axis), product(axis, rank)});
    Node *flatten = g.insertNodeBefore(n, g.uniqueName(n->name() + "_flatten"), "Flatten", {n->input(0)}, {flat});
    flatten->setAttr("axis", Attribute::ofInt(axis));
    n->inputs()[0] = flat;
    n->setAttr("axis", Attribute::ofInt(1));
    Value *out = n->output(0), *out2d = g.addValue(g.uniqueName(out->name() + "_2d"));
    out2d->setDType(out->dtype());
    out2d->setShape(flat->dims());
    n->outputs()[0] = out2d;
    out2d->setProducer(n);
    out->setProducer(nullptr);
    Value *shape = g.addConstant(g.uniqueName(n->name() + "_shape"), Tensor::fromVector<int64_t>({rank}, d));
    g.insertNodeAfter(n, g.uniqueName(n->name() + "_reshape"), "Reshape", {out2d, shape}, {out});
  }

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
