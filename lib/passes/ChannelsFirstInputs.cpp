// ChannelsFirstInputs
//   Requires: nothing (the importer's shapes).
//   Produces: a float rank-4 graph input that reaches a Transpose(0, 3, 1, 2), directly or
//             through Add, Sub, Mul and Div with a float constant (a Keras Rescaling or
//             Normalization layer) and per-tensor QuantizeLinear/DequantizeLinear (ONNX
//             Runtime's quantizer puts a pair before the Transpose), is stored channels last,
//             [N, H, W, C], as TensorFlow, Keras and tf2onnx exports store images. It becomes a
//             channels-first input [N, C, H, W] of the same name that the old readers see
//             through a Transpose(0, 2, 3, 1). That view moves down through those ops (their
//             constants permuted to broadcast channels first) and cancels with the export's
//             Transpose(0, 3, 1, 2). The input's name joins Graph::channelsLastInputs, which the
//             exporter reads to write the input back as the file had it
//             (restoreChannelsLastInputs).
//   Leaves untouched: every other input; a view that other readers need stays where it is.
// Runs first in the float preparation, so the image loader, attacks, augmentation and every
// later pass see one layout.
#include "passes/ChannelsFirstInputs.h"

#include <algorithm>

#include "ops/Evaluate.h"
#include "passes/Pass.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

const std::vector<int64_t> kToChannelsLast = {0, 2, 3, 1}, kToChannelsFirst = {0, 3, 1, 2};

template <typename T>
std::vector<T> permuted(const std::vector<T> &v, const std::vector<int64_t> &perm) {
  if (v.size() != perm.size()) return v;  // dim names may be absent
  std::vector<T> out;
  for (int64_t p : perm) out.push_back(v[static_cast<size_t>(p)]);
  return out;
}

bool isTranspose(const Node &n, const std::vector<int64_t> &perm) {
  return n.opType() == "Transpose" && n.attrInts("perm") == perm;
}

constexpr int kNotElementwise = -1, kPerTensor = 2;

// How the channels-last view can move below \p n, a reader of \p v with a rank-4 output:
// Add, Sub, Mul or Div of v and a float constant of rank <= 4 (\returns the constant's input
// index, 0 or 1, to be permuted); QuantizeLinear or DequantizeLinear of v with one scale and
// zero point (kPerTensor: nothing to permute); anything else kNotElementwise.
int elementwiseReader(const Node &n, const Value *v) {
  const Value *out = n.output(0);
  if (!out || !out->hasShape() || out->dims().size() != 4) return kNotElementwise;
  auto single = [](const Value *k) { return !k || (k->isConstant() && k->constant()->numel() == 1); };
  if (n.opType() == "QuantizeLinear" || n.opType() == "DequantizeLinear")
    return n.input(0) == v && n.input(1) && single(n.input(1)) && single(n.input(2)) ? kPerTensor : kNotElementwise;
  static const char *kOps[] = {"Add", "Sub", "Mul", "Div"};
  if (std::none_of(std::begin(kOps), std::end(kOps), [&](const char *e) { return n.opType() == e; }) ||
      n.inputs().size() != 2 || n.input(0) == n.input(1))
    return kNotElementwise;
  const int side = n.input(0) == v ? 1 : 0;
  const Value *k = n.input(static_cast<size_t>(side));
  if (!k || !k->isConstant() || k->constant()->dtype() != DType::Float32 || k->constant()->rank() > 4)
    return kNotElementwise;
  return side;
}

// Whether \p v reaches a Transpose(0, 3, 1, 2) through elementwise readers.
bool reachesChannelsFirst(const Graph &g, const Value *v) {
  for (const Node *n : g.users(v))
    if (isTranspose(*n, kToChannelsFirst) ||
        (elementwiseReader(*n, v) != kNotElementwise && reachesChannelsFirst(g, n->output(0))))
      return true;
  return false;
}

bool storedChannelsLast(const Graph &g, const Value *v) {
  return !v->container && v->dtype() == DType::Float32 && v->hasShape() && v->dims().size() == 4 &&
         !g.isGraphOutput(v) && reachesChannelsFirst(g, v);
}

// Inserts `to = Transpose(from, perm)` after \p after (null: before the first node).
Node *insertTranspose(Graph &g, Value *from, Value *to, const std::vector<int64_t> &perm, Node *after = nullptr) {
  const std::vector<Node *> order = g.nodes();
  const std::string name = g.uniqueName(to->name() + "_transpose");
  Node *t = after            ? g.insertNodeAfter(after, name, "Transpose", {from}, {to})
            : order.empty() ? g.addNode(name, "Transpose", {from}, {to})
                            : g.insertNodeBefore(order.front(), name, "Transpose", {from}, {to});
  t->setAttr("perm", Attribute::ofInts(perm));
  return t;
}

// \p k, a float constant of rank <= 4 broadcast against an [N, H, W, C] tensor, as the
// constant that broadcasts the same way against [N, C, H, W].
Tensor channelsFirstConstant(const Tensor &k) {
  Dims d(4 - k.dims().size(), 1);
  d.insert(d.end(), k.dims().begin(), k.dims().end());
  return transposed(k.reshaped(d), kToChannelsFirst);
}

// Moves the channels-last view \p view (Transpose(0, 2, 3, 1) of a channels-first value) below
// its one elementwise reader. \returns the view in its new place, or null when its reader is
// anything else.
Node *sinkView(Graph &g, Node *view) {
  Value *first = view->input(0), *last = view->output(0);
  const std::vector<Node *> readers = g.users(last);
  if (readers.size() != 1 || g.isGraphOutput(last)) return nullptr;
  Node *op = readers[0];
  const int how = elementwiseReader(*op, last);
  if (how == kNotElementwise) return nullptr;
  if (how == kPerTensor) {
    op->inputs()[0] = first;
  } else {
    const size_t side = static_cast<size_t>(how);
    const Value *k = op->input(side);
    op->inputs()[side] = g.addConstant(g.uniqueName(k->name() + "_channels_first"), channelsFirstConstant(*k->constant()));
    op->inputs()[1 - side] = first;
  }
  Value *out = op->output(0);
  Value *outFirst = g.addValue(g.uniqueName(out->name() + "_channels_first"));
  outFirst->setDType(out->dtype());
  outFirst->setShape(permuted(out->dims(), kToChannelsFirst));
  op->outputs()[0] = outFirst;
  outFirst->setProducer(op);
  out->setProducer(nullptr);
  Node *moved = insertTranspose(g, outFirst, out, kToChannelsLast, op);
  g.eraseNode(view);
  return moved;
}

class ChannelsFirstInputs final : public Pass {
 public:
  std::string_view name() const override { return "ChannelsFirstInputs"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Value *in : g.inputs()) {
      if (!storedChannelsLast(g, in)) continue;
      // The old readers read `stored`, the channels-last view of the new input.
      Value *stored = g.addValue(g.uniqueName(in->name() + "_channels_last"));
      stored->setDType(DType::Float32);
      stored->setShape(in->dims());
      stored->setDimNames(in->dimNames());
      g.replaceAllUsesWith(in, stored);
      in->setShape(permuted(in->dims(), kToChannelsFirst));
      in->setDimNames(permuted(in->dimNames(), kToChannelsFirst));
      Node *view = insertTranspose(g, in, stored, kToChannelsLast);
      while (Node *moved = sinkView(g, view)) view = moved;
      Value *first = view->input(0), *last = view->output(0);
      for (Node *n : g.users(last)) {
        if (!isTranspose(*n, kToChannelsFirst) || !g.canReplace(n->output(0), first)) continue;
        g.replaceAllUsesWith(n->output(0), first);
        g.eraseNode(n);
      }
      if (g.users(last).empty() && !g.isGraphOutput(last)) g.eraseNode(view);
      g.channelsLastInputs.push_back(in->name());
      changed = true;
    }
    return changed;
  }
};

}  // namespace

void restoreChannelsLastInputs(Graph &g) {
  for (const std::string &name : g.channelsLastInputs) {
    auto at = std::find_if(g.inputs().begin(), g.inputs().end(), [&](const Value *v) { return v->name() == name; });
    LOWBIT_CHECK(at != g.inputs().end(), "a channels-last input is a graph input");
    Value *first = *at;  // becomes the Transpose's output, read as before
    g.renameValue(first, g.uniqueName(name + "_channels_first"));
    Value *stored = g.addValue(name);
    stored->setDType(DType::Float32);
    stored->setShape(permuted(first->dims(), kToChannelsLast));
    stored->setDimNames(permuted(first->dimNames(), kToChannelsLast));
    first->setDimNames({});
    *at = stored;
    insertTranspose(g, stored, first, kToChannelsFirst);
  }
  g.channelsLastInputs.clear();
}

std::unique_ptr<Pass> createChannelsFirstInputs() { return std::make_unique<ChannelsFirstInputs>(); }

}  // namespace lowbit
