#include "import/QOperatorImport.h"

#include <algorithm>
#include <functional>

#include "support/Error.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

// Builds the QDQ form in front of the QOperator node it replaces.
class Expander {
 public:
  Expander(Graph &g, Node &n) : g_(g), n_(n) {}

  Value *in(size_t i) const { return i < n_.inputs().size() ? n_.input(i) : nullptr; }
  Value *required(size_t i, const char *what) const {
    Value *v = in(i);
    if (!v) throw Error(cat(n_.describe(), ": ", what, " (input ", i, ") is missing"));
    return v;
  }

  Value *node(const std::string &op, std::vector<Value *> ins, Value *out = nullptr,
              std::map<std::string, Attribute> attrs = {}) {
    if (!out) out = g_.addValue(g_.uniqueName(cat(n_.name(), "/", op, "_out")));
    Node *m = g_.insertNodeBefore(&n_, g_.uniqueName(cat(n_.name(), "/", op)), op, std::move(ins), {out});
    for (auto &[k, v] : attrs) m->setAttr(k, std::move(v));
    return out;
  }
  // (q - zero point) * scale; per-channel along \p axis when the scale or zero point has
  // several values (or \p perAxisAnyway: a scale computed at run time from per-axis ones).
  Value *dequantize(Value *q, Value *scale, Value *zeroPoint, int64_t axis, bool perAxisAnyway = false) {
    std::map<std::string, Attribute> attrs;
    if (perAxisAnyway || perAxis(scale) || perAxis(zeroPoint)) attrs["axis"] = Attribute::ofInt(axis);
    return node("DequantizeLinear", {q, scale, zeroPoint}, nullptr, std::move(attrs));
  }
  // A scale of 1 shaped like \p zeroPoint (ConvInteger's codes dequantized to their integers).
  Value *unitScale(Value *zeroPoint) {
    const std::string name = g_.uniqueName(cat(n_.name(), "/one"));
    if (!zeroPoint) return g_.addConstant(name, Tensor::scalar<float>(1.f));
    // Shaped like a constant zero point (its data exists); a declared shape alone may be
    // dynamic or huge, so a zero point read at run time must hold one value.
    if (!zeroPoint->isConstant()) {
      if (!zeroPoint->shapeIsStatic() || numElements(zeroPoint->dims()) != 1)
        throw Error(cat(n_.describe(), ": zero point '", zeroPoint->name(),
                        "' is read at run time; lowbit reads per-axis zero points from constants"));
      Tensor one(DType::Float32, zeroPoint->dims());
      one.data<float>()[0] = 1.f;
      return g_.addConstant(name, std::move(one));
    }
    Tensor ones(DType::Float32, zeroPoint->constant()->dims());
    std::fill(ones.data<float>(), ones.data<float>() + ones.numel(), 1.f);
    return g_.addConstant(name, std::move(ones));
  }
  static bool perAxis(const Value *v) {
    if (!v) return false;
    if (v->isConstant()) return v->constant()->numel() > 1;
    return v->hasShape() && numElements(v->dims()) > 1;
  }
  // The replaced node's output as the quantization of \p x.
  void quantizeInto(Value *x, Value *scale, Value *zeroPoint) {
    node("QuantizeLinear", {x, scale, zeroPoint}, n_.output(0));
  }
  // The node's attributes but \p drop.
  std::map<std::string, Attribute> attrsBut(const std::vector<std::string> &drop) const {
    std::map<std::string, Attribute> a = n_.attrs();
    for (const std::string &d : drop) a.erase(d);
    return a;
  }
  const Node &original() const { return n_; }

 private:
  Graph &g_;
  Node &n_;
};

void refuseChannelsLast(const Node &n) {
  if (n.attrInt("channels_last", 0) != 0)
    throw Error(cat(n.describe(), ": channels_last layout is not read (lowbit's tensors are NCHW)"));
}

// QLinearConv and QLinearMatMul: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp[, bias].
void qlinearLayer(Expander &e, const std::string &op) {
  const bool conv = op == "Conv";
  Value *x = e.dequantize(e.required(0, "x"), e.required(1, "x_scale"), e.in(2), 1);
  Value *wScale = e.required(4, "w_scale");
  // Conv weights per output channel (axis 0); MatMul's B [..., K, N] per column (last axis).
  Value *w = e.dequantize(e.required(3, "w"), wScale, e.in(5), conv ? 0 : -1);
  std::vector<Value *> ins = {x, w};
  if (conv && e.in(8)) {  // int32 bias at scale x_scale * w_scale
    Value *biasScale = e.node("Mul", {e.in(1), wScale});
    ins.push_back(e.dequantize(e.in(8), biasScale, nullptr, 0, Expander::perAxis(wScale) || Expander::perAxis(e.in(5))));
  }
  Value *y = e.node(op, ins, nullptr, conv ? e.attrsBut({}) : std::map<std::string, Attribute>{});
  e.quantizeInto(y, e.required(6, "y_scale"), e.in(7));
}

// ConvInteger and MatMulInteger: the int32 result of (x - x_zp) * (w - w_zp). The float op
// computes it exactly while the sums stay below 2^24, then a Cast gives the int32 output.
void integerLayer(Expander &e, const std::string &op) {
  const bool conv = op == "Conv";
  Value *x = e.dequantize(e.required(0, "A"), e.unitScale(e.in(2)), e.in(2), 1);
  Value *w = e.dequantize(e.required(1, "B"), e.unitScale(e.in(3)), e.in(3), conv ? 0 : -1);
  Value *y = e.node(op, {x, w}, nullptr, conv ? e.attrsBut({}) : std::map<std::string, Attribute>{});
  e.node("Cast", {y}, e.original().output(0), {{"to", Attribute::ofInt(static_cast<int64_t>(DType::Int32))}});
}

// ONNX Runtime's QLinearAdd / QLinearMul: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp.
void qlinearBinary(Expander &e, const std::string &op) {
  Value *a = e.dequantize(e.required(0, "A"), e.required(1, "A_scale"), e.in(2), 1);
  Value *b = e.dequantize(e.required(3, "B"), e.required(4, "B_scale"), e.in(5), 1);
  e.quantizeInto(e.node(op, {a, b}), e.required(6, "C_scale"), e.in(7));
}

// ONNX Runtime's one-input QLinear ops: X, X_scale, X_zp, Y_scale, Y_zp; the float op keeps
// the node's attributes but those named in \p drop.
void qlinearUnary(Expander &e, const std::string &op, const std::vector<std::string> &drop) {
  refuseChannelsLast(e.original());
  Value *x = e.dequantize(e.required(0, "X"), e.required(1, "X_scale"), e.in(2), 1);
  e.quantizeInto(e.node(op, {x}, nullptr, e.attrsBut(drop)), e.required(3, "Y_scale"), e.in(4));
}

// ONNX Runtime's QLinearConcat: Y_scale, Y_zp, then X, X_scale, X_zp for each input.
void qlinearConcat(Expander &e) {
  const size_t n = e.original().inputs().size();
  if (n < 5 || (n - 2) % 3 != 0)
    throw Error(cat(e.original().describe(), ": has ", n, " inputs; QLinearConcat takes Y_scale, Y_zp and triples"));
  std::vector<Value *> parts;
  for (size_t i = 2; i < n; i += 3) parts.push_back(e.dequantize(e.required(i, "X"), e.required(i + 1, "X_scale"), e.in(i + 2), 1));
  e.quantizeInto(e.node("Concat", parts, nullptr, e.attrsBut({})), e.required(0, "Y_scale"), e.in(1));
}

struct Expansion {
  const char *domain, *opType;
  const char *floatOp;  ///< the op between the DequantizeLinear and QuantizeLinear
  std::function<void(Expander &)> expand;
};

const std::vector<Expansion> &expansions() {
  static const std::vector<Expansion> t = {
      {"", "ConvInteger", "Conv", [](Expander &e) { integerLayer(e, "Conv"); }},
      {"", "MatMulInteger", "MatMul", [](Expander &e) { integerLayer(e, "MatMul"); }},
      {"", "QLinearConv", "Conv", [](Expander &e) { qlinearLayer(e, "Conv"); }},
      {"", "QLinearMatMul", "MatMul", [](Expander &e) { qlinearLayer(e, "MatMul"); }},
      {"com.microsoft", "QLinearAdd", "Add", [](Expander &e) { qlinearBinary(e, "Add"); }},
      {"com.microsoft", "QLinearAveragePool", "AveragePool", [](Expander &e) { qlinearUnary(e, "AveragePool", {"channels_last"}); }},
      {"com.microsoft", "QLinearConcat", "Concat", qlinearConcat},
      {"com.microsoft", "QLinearGlobalAveragePool", "GlobalAveragePool", [](Expander &e) { qlinearUnary(e, "GlobalAveragePool", {"channels_last"}); }},
      {"com.microsoft", "QLinearLeakyRelu", "LeakyRelu", [](Expander &e) { qlinearUnary(e, "LeakyRelu", {}); }},
      {"com.microsoft", "QLinearMul", "Mul", [](Expander &e) { qlinearBinary(e, "Mul"); }},
      {"com.microsoft", "QLinearSigmoid", "Sigmoid", [](Expander &e) { qlinearUnary(e, "Sigmoid", {}); }},
  };
  return t;
}

const Expansion *findExpansion(const std::string &opType, const std::string &domain) {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const Expansion &x : expansions())
    if (opType == x.opType && d == x.domain) return &x;
  return nullptr;
}

}  // namespace

bool isImportedAsQdq(const std::string &opType, const std::string &domain) {
  return findExpansion(opType, domain) != nullptr;
}

std::string floatOpOf(const std::string &opType, const std::string &domain) {
  const Expansion *x = findExpansion(opType, domain);
  return x ? x->floatOp : "";
}

std::string qdqFormOf(const std::string &opType, const std::string &domain) {
  const Expansion *x = findExpansion(opType, domain);
  if (!x) return "";
  const bool integer = opType.size() > 7 && opType.compare(opType.size() - 7, 7, "Integer") == 0;
  return cat("DequantizeLinear -> ", x->floatOp, integer ? " -> Cast to INT32" : " -> QuantizeLinear");
}

std::vector<std::string> opsImportedAsQdq() {
  std::vector<std::string> out;
  for (const Expansion &x : expansions()) out.push_back(*x.domain ? cat(x.domain, ".", x.opType) : x.opType);
  std::sort(out.begin(), out.end());
  return out;
}

void expandQOperators(Graph &g) {
  for (Node *n : g.nodes()) {
    const Expansion *x = findExpansion(n->opType(), n->domain());
    if (!x) continue;
    if (n->outputs().empty() || !n->output(0))
      throw Error(cat(n->describe(), ": has no output"));
    Expander e(g, *n);
    x->expand(e);
    g.eraseNode(n);
  }
}

}  // namespace lowbit
