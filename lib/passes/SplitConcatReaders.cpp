// SplitConcatReaders
//   Requires: static shapes (the runner's plan graph).
//   Produces: a large channel Concat (axis 1 of a float 4-D tensor) that is no longer
//             materialised when every reader is a group-1 Conv with constant weights and
//             fewer output channels than the Concat has, or a MaxPool whose readers qualify in
//             turn: each Conv becomes one Conv per source over its slice of the input channels
//             (the bias on the first) chained by Adds, which the runner fuses as sum post-ops;
//             each MaxPool one MaxPool per source whose results are concatenated again and
//             split in turn. SqueezeNet's Fire modules concatenate their expansions only for
//             the next squeeze layer to read them: the copy moves every byte through memory,
//             while the extra sums move only the narrower outputs.
//   Leaves untouched: Concats that are graph outputs or have any other reader; Concats below
//             kMinBytes (in cache the copy costs little, and two narrower convolutions cost
//             more than one).
//   Sums in another order than the graph: the runner applies it only with fast convolutions.
#include <cstring>

#include "ops/OpParams.h"
#include "ops/ShapeInference.h"
#include "passes/Pass.h"

namespace lowbit {
namespace {

constexpr int64_t kMinBytes = 8 << 20;

bool channelConcat(const Graph &g, const Node &c) {
  if (c.opType() != "Concat" || c.inputs().size() < 2) return false;
  const Value *y = c.output(0);
  if (g.isGraphOutput(y) || y->dtype() != DType::Float32 || !y->shapeIsStatic() || y->dims().size() != 4) return false;
  const int64_t axis = c.attrInt("axis", 0);
  if (axis != 1 && axis != -3) return false;
  for (const Value *in : c.inputs())
    if (!in || in->isConstant() || in->dtype() != DType::Float32 || !in->shapeIsStatic()) return false;
  return numElements(y->dims()) * static_cast<int64_t>(sizeof(float)) >= kMinBytes;
}

bool splittableConv(const Node &r, const Value *v) {
  if (r.opType() != "Conv" || r.input(0) != v || r.attrInt("group", 1) != 1) return false;
  if (!r.output(0) || r.outputs().size() != 1) return false;
  const Value *w = r.input(1), *b = r.input(2);
  if (!w || !w->isConstant() || w->constant()->dtype() != DType::Float32 || w->dims().size() != 4) return false;
  if (b && !b->isConstant()) return false;
  return w->dims()[0] < v->dims()[1];  // the extra sums move less than the copy
}

// Whether every reader of \p v (a concatenation of channels) can read its sources instead.
bool splittable(const Graph &g, const Value *v) {
  const std::vector<Node *> readers = g.users(v);
  if (readers.empty()) return false;
  for (const Node *r : readers) {
    if (splittableConv(*r, v) && !g.isGraphOutput(r->output(0))) continue;
    const bool pool = r->opType() == "MaxPool" && r->input(0) == v && r->outputs().size() == 1 &&
                      !g.isGraphOutput(r->output(0)) && r->output(0)->shapeIsStatic();
    if (!pool || !splittable(g, r->output(0))) return false;
  }
  return true;
}

// Channels [from, from + count) of the OIHW weights \p w.
Tensor inputChannels(const Tensor &w, int64_t from, int64_t count) {
  const Dims &d = w.dims();
  const int64_t taps = d[2] * d[3];
  Tensor part(DType::Float32, {d[0], count, d[2], d[3]});
  for (int64_t o = 0; o < d[0]; ++o)
    std::memcpy(part.data<float>() + o * count * taps, w.data<float>() + (o * d[1] + from) * taps,
                static_cast<size_t>(count * taps) * sizeof(float));
  return part;
}

Value *newValue(Graph &g, const std::string &base) { return g.addValue(g.uniqueName(base)); }

Node *copyNode(Graph &g, const Node &like, const std::string &opType, std::vector<Value *> ins, Value *out,
               const std::string &suffix) {
  Node *n = g.insertNodeBefore(const_cast<Node *>(&like), g.uniqueName(like.name() + suffix), opType, std::move(ins), {out});
  if (opType == like.opType()) n->attrs() = like.attrs();
  return n;
}

// Makes the readers of \p v (the concatenation of \p sources along channels) read the sources.
void split(Graph &g, Value *v, const std::vector<Value *> &sources, int64_t opset) {
  for (Node *r : g.users(v)) {
    Value *result = nullptr;
    Node *cat = nullptr;  // a MaxPool's: its results concatenated again, split in turn below
    std::vector<Value *> pooled;
    if (r->opType() == "Conv") {
      const Tensor &w = *r->input(1)->constant();
      int64_t from = 0;
      for (size_t i = 0; i < sources.size(); ++i) {
        const int64_t count = sources[i]->dims()[1];
        Value *wi = g.addConstant(g.uniqueName(r->input(1)->name() + "_part"), inputChannels(w, from, count));
        from += count;
        std::vector<Value *> ins = {sources[i], wi};
        if (i == 0 && r->input(2)) ins.push_back(r->input(2));
        Value *part = newValue(g, r->output(0)->name() + "_part");
        inferNodeShapes(*copyNode(g, *r, "Conv", std::move(ins), part, "_part"), opset);
        if (!result) {
          result = part;
          continue;
        }
        Value *sum = newValue(g, r->output(0)->name() + "_sum");
        inferNodeShapes(*copyNode(g, *r, "Add", {result, part}, sum, "_sum"), opset);
        result = sum;
      }
    } else {  // MaxPool: one per source
      for (Value *s : sources) {
        pooled.push_back(newValue(g, r->output(0)->name() + "_part"));
        inferNodeShapes(*copyNode(g, *r, "MaxPool", {s}, pooled.back(), "_part"), opset);
      }
      result = newValue(g, r->output(0)->name() + "_concat");
      cat = copyNode(g, *r, "Concat", pooled, result, "_concat");
      cat->setAttr("axis", Attribute::ofInt(1));
      inferNodeShapes(*cat, opset);
    }
    g.replaceAllUsesWith(r->output(0), result);
    g.eraseNode(r);
    if (cat) {
      split(g, result, pooled, opset);
      g.eraseNode(cat);
    }
  }
}

class SplitConcatReaders final : public Pass {
 public:
  std::string_view name() const override { return "SplitConcatReaders"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    // A split erases nodes (the MaxPools it replaces): look again after each.
    for (bool again = true; again;) {
      again = false;
      for (Node *c : g.nodes()) {
        if (!channelConcat(g, *c) || !splittable(g, c->output(0))) continue;
        split(g, c->output(0), c->inputs(), g.opset);
        g.eraseNode(c);
        changed = again = true;
        break;
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> createSplitConcatReaders() { return std::make_unique<SplitConcatReaders>(); }

}  // namespace lowbit
