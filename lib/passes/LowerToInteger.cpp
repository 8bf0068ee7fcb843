#include "passes/LowerToInteger.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "ops/Evaluate.h"
#include "ops/OpParams.h"
#include "ops/OpTable.h"
#include "passes/Pass.h"
#include "quant/QuantRules.h"

namespace lowbit {

const std::vector<std::string> &integerOps() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (const OpInfo &o : opTable())
      if (o.int8 != Int8Role::None) v.push_back(o.opType);
    return v;
  }();
  return ops;
}
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Per-tensor parameters with a usable (positive, finite) scale.
std::optional<QuantParams> perTensorParams(const Node &n) {
  std::optional<QuantParams> q = perTensorQdqParams(n);
  if (!q || !q->scalesUsable()) return std::nullopt;
  return q;
}

int maxAbsCode(const Value &codes) {
  const Tensor &t = *codes.constant();
  int m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(static_cast<int>(t.data<int8_t>()[i])));
  return m;
}

struct WeightCodes {
  Value *codes = nullptr;
  std::vector<float> scale;  // one per output channel
};

// The int8 codes and per-channel scales behind a DequantizeLinear weight; \p why on failure.
std::optional<WeightCodes> weightCodes(const Value *w, int axis, std::string &why) {
  const Node *dq = w ? w->producer() : nullptr;
  if (!dq || dq->opType() != "DequantizeLinear") {
    why = "float weights (no DequantizeLinear of int8 codes)";
    return std::nullopt;
  }
  Value *codes = dq->input(0);
  const Value *s = dq->input(1), *z = dq->input(2);
  if (!codes->isConstant() || codes->dtype() != DType::Int8 || !s->isConstant() || (z && !z->isConstant())) {
    why = "weights are not constant int8 codes with constant scales";
    return std::nullopt;
  }
  if (z)
    for (int64_t v : z->constant()->toInt64s())
      if (v != 0) {
        why = "weights have a zero point (oneDNN takes symmetric int8 weights only)";
        return std::nullopt;
      }
  const int64_t channels = codes->dims()[static_cast<size_t>(axis)];
  std::vector<float> scale = s->constant()->toFloats();
  if (scale.size() != 1) {
    const int64_t dqAxis = normalizeAxis(dq->attrInt("axis", 1), static_cast<int64_t>(codes->dims().size()), *dq);
    if (dqAxis != axis || static_cast<int64_t>(scale.size()) != channels) {
      why = "weight scales are not per output channel";
      return std::nullopt;
    }
  }
  WeightCodes out;
  out.codes = codes;
  out.scale = scale.size() == 1 ? std::vector<float>(static_cast<size_t>(channels), scale[0]) : scale;
  for (float v : out.scale)
    if (!(v > 0.f) || !std::isfinite(v)) {
      why = "a weight scale is zero, negative or not finite";
      return std::nullopt;
    }
  return out;
}

// Bias in model units: absent, a float constant, or a DequantizeLinear of constant codes.
std::optional<std::vector<float>> biasValues(const Value *b, int64_t opset) {
  if (!b) return std::vector<float>{};
  if (b->isConstant() && b->dtype() == DType::Float32) return b->constant()->toFloats();
  const Node *dq = b->producer();
  if (!dq || !isConstantDequantize(*dq)) return std::nullopt;
  return evaluateConstant(*dq, opset).at(0).toFloats();
}

// The Add + Relu/Clip chain after a Conv/Gemm that the integer node computes too.
struct OutputChain {
  Value *end = nullptr;           // the last absorbed value
  Value *residual = nullptr;      // the Add's other operand, if an Add was absorbed
  std::vector<Node *> absorbed;   // Add, LeakyRelu, Relu, Clip nodes in order
  float leaky = 1.f;              // a LeakyRelu's negative slope, applied before the interval
  std::string gate;               // x * gate(x) absorbed: "Sigmoid" (SiLU) or "HardSigmoid" (h-swish)
  float lo = -kInf, hi = kInf;    // the activation interval, model units
};

// True if \p v is computed from \p n's outputs (walks producers back to the inputs).
bool dependsOn(const Value *v, const Node *n) {
  std::vector<const Value *> stack = {v};
  std::set<const Node *> seen;
  while (!stack.empty()) {
    const Node *p = stack.back()->producer();
    stack.pop_back();
    if (!p || !seen.insert(p).second) continue;
    if (p == n) return true;
    for (const Value *in : p->inputs())
      if (in) stack.push_back(in);
  }
  return false;
}

// \p leakyAllowed: whether the layer's epilogue can apply a LeakyRelu (oneDNN's post-op; the
// dynamic mode's host epilogue clamps only).
OutputChain outputChain(const Graph &g, const Node &n, bool leakyAllowed) {
  OutputChain c;
  c.end = n.output(0);
  if (n.opType() == "Conv" && !g.isGraphOutput(c.end)) {
    std::vector<Node *> readers = g.users(c.end);
    if (readers.size() == 1 && readers[0]->opType() == "Add") {
      Node *add = readers[0];
      Value *other = add->input(0) == c.end ? add->input(1) : add->input(0);
      // The other operand must be computable before the conv runs (not depend on it).
      if (other && other != c.end && !other->isConstant() && other->hasShape() && c.end->hasShape() &&
          other->dims() == c.end->dims() && add->output(0)->dims() == c.end->dims() && !dependsOn(other, &n)) {
        c.residual = other;
        c.absorbed.push_back(add);
        c.end = add->output(0);
      }
    }
  }
  // A self-gated activation (h-swish, SiLU) right after the layer, without a residual: applied
  // in model units before the requantization (not homogeneous, it does not commute with it).
  if (Node *mul = leakyAllowed && !c.residual ? selfGatedActivation(g, c.end) : nullptr) {
    Node *gate = selfGate(*mul);
    c.gate = gate->opType();
    c.absorbed.push_back(gate);
    c.absorbed.push_back(mul);
    c.end = mul->output(0);
  }
  while (!g.isGraphOutput(c.end)) {
    std::vector<Node *> readers = g.users(c.end);
    if (readers.size() != 1) break;
    Node *r = readers[0];
    if (r->opType() == "LeakyRelu" && leakyAllowed && c.gate.empty() && c.leaky == 1.f && c.lo == -kInf && c.hi == kInf) {
      // Positively homogeneous, so it commutes with the requantization's scale.
      c.leaky = r->attrFloat("alpha", 0.01f);
    } else if (r->opType() == "Relu") {
      c.lo = std::max(c.lo, 0.f);
    } else if (r->opType() == "Clip" && hasConstantClipBounds(*r)) {
      auto [lo, hi] = clipBounds(*r, g.opset);
      c.lo = std::max(c.lo, lo);
      c.hi = std::min(c.hi, hi);
    } else {
      break;
    }
    c.absorbed.push_back(r);
    c.end = r->output(0);
  }
  return c;
}

// QuantizeLinear readers of \p v that all use the same per-tensor parameters, or empty.
std::vector<Node *> requantizers(const Graph &g, const Value *v, QuantParams &q) {
  if (g.isGraphOutput(v)) return {};
  std::vector<Node *> readers = g.users(v);
  if (readers.empty()) return {};
  std::optional<QuantParams> first;
  for (Node *r : readers) {
    if (r->opType() != "QuantizeLinear" || r->input(0) != v || g.isGraphOutput(r->output(0))) return {};
    std::optional<QuantParams> p = perTensorParams(*r);
    if (!p) return {};
    if (first && !p->samePerTensor(*first)) return {};
    first = p;
  }
  q = *first;
  return readers;
}

std::string intervalText(float leaky, float lo, float hi) {
  const std::string l = leaky != 1.f ? cat(", leaky relu ", leaky) : "";
  if (lo == 0.f && hi == kInf) return l + ", relu";
  if (lo == -kInf && hi == kInf) return l;
  return cat(l, ", clip [", lo, ", ", hi, "]");
}

class Lowering {
 public:
  Lowering(Graph &g, const IntegerTarget &target) : g_(g), mode_(target.mode), fullRangeU8_(target.fullRangeU8) {}

  std::vector<LoweringDecision> run() {
    if (mode_ == IntegerMode::Dynamic) changed_ |= dropActivationQuantization();
    else
      while (sinkDequantize() | hoistQuantize() | dropIdentityRequantize()) changed_ = true;
    // Lowering erases nodes after the current one (Add, Relu, QuantizeLinear): walk a list
    // of the layers taken before any is changed.
    std::vector<Node *> layers;
    for (Node *n : g_.nodes())
      if (isWeightLayer(*n)) layers.push_back(n);
    std::vector<LoweringDecision> decisions;
    for (Node *n : layers) {
      const std::string &op = n->opType();
      LoweringDecision d{n->name(), op, false, ""};
      if (op == "MatMul") {
        d.detail = "MatMul has no int8 path (export Gemm for classifier heads)";
      } else {
        lowerNode(n, d);
      }
      changed_ |= d.integer;
      decisions.push_back(d);
    }
    if (mode_ == IntegerMode::Static) changed_ |= lowerRescales();
    g_.topoSort();
    g_.removeDeadCode();
    return decisions;
  }
  /// True once run() rewrote anything.
  bool changed() const { return changed_; }

 private:
  // Dynamic quantization ignores calibrated activation scales: Q -> DQ pairs on activations
  // become the float value they quantized.
  bool dropActivationQuantization() {
    bool any = false;
    std::vector<Node *> quantizers;
    for (Node *q : g_.nodes())
      if (q->opType() == "QuantizeLinear" && !q->input(0)->isConstant()) quantizers.push_back(q);
    for (Node *q : quantizers) {
      std::vector<Node *> readers = g_.users(q->output(0));
      bool allDq = !readers.empty() && !g_.isGraphOutput(q->output(0));
      for (Node *r : readers)
        allDq = allDq && r->opType() == "DequantizeLinear" && g_.canReplace(r->output(0), q->input(0));
      if (!allDq) continue;
      for (Node *r : readers) {
        g_.replaceAllUsesWith(r->output(0), q->input(0));
        g_.eraseNode(r);
      }
      g_.eraseNode(q);
      any = true;
    }
    return any;
  }

  // Slice, zero Pad, Transpose, reshapes and MaxPool commute with per-tensor symmetric
  // quantization:
  // DQ -> Slice becomes Slice (on codes) -> DQ, so a residual operand reached through them (the
  // CIFAR ResNets' subsampling shortcut) stays integer codes the next QConv can sum.
  bool sinkDequantize() {
    bool any = false;
    for (bool changed = true; changed;) {
      changed = false;
      for (Node *dq : g_.nodes()) {
        if (dq->opType() != "DequantizeLinear" || dq->input(0)->isConstant()) continue;
        std::optional<QuantParams> q = perTensorParams(*dq);
        Value *out = dq->output(0);
        if (!q || q->zeroPoint[0] != 0) continue;
        for (Node *m : g_.users(out)) {
          if (!commutesWithQuantization(*m) || m->input(0) != out || !m->output(0)->hasShape() ||
              std::count(m->inputs().begin(), m->inputs().end(), out) != 1)
            continue;
          // m reads the codes; a new DequantizeLinear after it gives its old output. The
          // original DequantizeLinear stays for its other readers.
          Value *codes = dq->input(0);
          if (!codes->codes) codes->codes = *q;
          Value *result = m->output(0);
          Value *moved = g_.addValue(g_.uniqueName(result->name() + "_codes"));
          moved->setDType(codes->dtype());
          moved->setShape(result->dims());
          moved->codes = codes->codes;
          m->inputs()[0] = codes;
          m->outputs()[0] = moved;
          moved->setProducer(m);
          result->setProducer(nullptr);
          g_.insertNodeBefore(m, g_.uniqueName(dq->name() + "_after_" + m->name()), "DequantizeLinear",
                              {moved, dq->input(1), dq->input(2)}, {result});
          changed = true;
        }
        if (changed) break;  // the node list changed: start over
      }
      if (changed) g_.topoSort();
      any |= changed;
    }
    return any;
  }

  // MaxPool and Concat commute with quantization too, seen from the other side: Q(MaxPool(x))
  // = MaxPool(Q(x)) and Q(Concat(a, b)) = Concat(Q(a), Q(b)) with the same parameters. Moving
  // the QuantizeLinear up lets the Conv before it requantize straight to codes, and the pool
  // or concat then moves codes.
  bool hoistQuantize() {
    for (Node *q : g_.nodes()) {
      if (q->opType() != "QuantizeLinear") continue;
      std::optional<QuantParams> p = perTensorParams(*q);
      Value *v = q->input(0);
      Node *m = v->producer();
      if (!p || !m || g_.isGraphOutput(v) || g_.isGraphOutput(q->output(0))) continue;
      const bool pool = m->opType() == "MaxPool" && m->outputs().size() == 1;
      const bool concat = m->opType() == "Concat";
      if (!pool && !concat) continue;
      std::vector<Node *> readers = g_.users(v);
      bool sameQ = true;
      for (Node *r : readers) {
        std::optional<QuantParams> rp = r->opType() == "QuantizeLinear" ? perTensorParams(*r) : std::nullopt;
        sameQ = sameQ && rp && r->input(0) == v && rp->samePerTensor(*p) && !g_.isGraphOutput(r->output(0));
      }
      if (!sameQ) continue;
      const size_t dataInputs = pool ? 1 : m->inputs().size();
      bool ok = v->hasShape();
      for (size_t i = 0; i < dataInputs; ++i)
        ok = ok && m->input(i) && !m->input(i)->isConstant() && m->input(i)->hasShape();
      if (!ok) continue;
      for (size_t i = 0; i < dataInputs; ++i) {
        Value *in = m->input(i);
        Value *codes = g_.addValue(g_.uniqueName(in->name() + "_quantized"));
        codes->setDType(q->output(0)->dtype());
        codes->setShape(in->dims());
        codes->codes = *p;
        g_.insertNodeBefore(m, g_.uniqueName(q->name() + "_before_" + m->name()), "QuantizeLinear",
                            {in, q->input(1), q->input(2)}, {codes});
        m->inputs()[i] = codes;
      }
      Value *out = g_.addValue(g_.uniqueName(v->name() + "_codes"));
      out->setDType(q->output(0)->dtype());
      out->setShape(v->dims());
      out->codes = *p;
      m->outputs()[0] = out;
      out->setProducer(m);
      v->setProducer(nullptr);
      for (Node *r : readers) {
        g_.replaceAllUsesWith(r->output(0), out);
        g_.eraseNode(r);
      }
      g_.topoSort();
      return true;
    }
    return false;
  }

  // A sum of two dequantized code tensors, or one dequantized tensor, optionally through a
  // Relu, read only by QuantizeLinears of one set of parameters (ONNX Runtime's layout around
  // residual sums: DQ, DQ -> Add -> Q, then DQ -> Relu -> Q): one QRescale on the codes,
  // as ONNX Runtime's QLinearAdd, instead of dequantizing, adding in float and quantizing.
  // A DequantizeLinear read only by such QuantizeLinears (codes entering a Concat of another
  // scale, ShuffleNet's passed-through half) is one QRescale of its codes.
  bool lowerRescales() {
    bool any = false;
    std::vector<Node *> ends;
    for (Node *n : g_.nodes())
      if (n->opType() == "Add" || n->opType() == "Relu" || (n->opType() == "DequantizeLinear" && !n->input(0)->isConstant()))
        ends.push_back(n);
    for (Node *end : ends) {
      QuantParams q;
      std::vector<Node *> readers = requantizers(g_, end->output(0), q);
      if (readers.empty() || !end->output(0)->hasShape()) continue;
      const bool requantize = end->opType() == "DequantizeLinear";
      Node *relu = end->opType() == "Relu" ? end : nullptr;
      Node *sum = relu ? relu->input(0)->producer() : requantize ? nullptr : end;
      if (relu && sum && (sum->opType() != "Add" || g_.users(sum->output(0)).size() != 1 ||
                          g_.isGraphOutput(sum->output(0))))
        sum = nullptr;  // a Relu of one dequantized tensor
      const std::vector<Value *> terms = sum    ? sum->inputs()
                                         : relu ? std::vector<Value *>{relu->input(0)}
                                                : std::vector<Value *>{end->output(0)};
      std::vector<Value *> codes;
      std::vector<QuantParams> dqParams;
      for (Value *t : terms) {
        const Node *dq = t ? t->producer() : nullptr;
        std::optional<QuantParams> p = dq && dq->opType() == "DequantizeLinear" ? perTensorParams(*dq) : std::nullopt;
        if (!p || dq->input(0)->isConstant() || t->dims() != end->output(0)->dims()) break;
        codes.push_back(dq->input(0));
        dqParams.push_back(*p);
      }
      if (codes.size() != terms.size() || codes.empty() || codes.size() > 2) continue;
      // The codes as the runner holds them: a layer may have shifted signed codes to u8 around
      // 128 already (staticInputCodes), in the values on both sides.
      const Value *firstOut = readers[0]->output(0);
      const QuantParams outParams = firstOut->codes ? *firstOut->codes : q;
      bool agree = true;
      for (const Node *r : readers)
        agree = agree && r->output(0)->dtype() == firstOut->dtype() &&
                (r->output(0)->codes ? *r->output(0)->codes : q).samePerTensor(outParams);
      if (!agree) continue;
      std::vector<float> scales;
      std::vector<int64_t> zeroPoints;
      for (size_t i = 0; i < codes.size(); ++i) {
        if (!codes[i]->codes) codes[i]->codes = dqParams[i];  // a QuantizeLinear now writes them
        scales.push_back(codes[i]->codes->scale[0]);
        zeroPoints.push_back(codes[i]->codes->zeroPoint[0]);
      }
      Value *out = g_.addValue(g_.uniqueName(end->output(0)->name() + "_codes"));
      out->setDType(firstOut->dtype());
      out->setShape(end->output(0)->dims());
      out->codes = outParams;
      Node *qn = g_.insertNodeBefore(end, end->name(), "QRescale", codes, {out});
      qn->setAttr("in_scales", Attribute::ofFloats(scales));
      qn->setAttr("in_zero_points", Attribute::ofInts(zeroPoints));
      qn->setAttr("relu", Attribute::ofInt(relu ? 1 : 0));
      for (Node *r : readers) {
        g_.replaceAllUsesWith(r->output(0), out);
        g_.eraseNode(r);
      }
      g_.eraseNode(end);
      if (relu && sum) g_.eraseNode(sum);
      any = true;
    }
    return any;
  }

  // QuantizeLinear(DequantizeLinear(c)) with the same parameters is c (what sinking leaves
  // behind in ONNX Runtime-style DQ -> MaxPool -> Q chains).
  bool dropIdentityRequantize() {
    for (Node *q : g_.nodes()) {
      if (q->opType() != "QuantizeLinear" || g_.isGraphOutput(q->output(0))) continue;
      const Node *dq = q->input(0)->producer();
      if (!dq || dq->opType() != "DequantizeLinear" || dq->input(0)->isConstant()) continue;
      std::optional<QuantParams> a = perTensorParams(*dq), b = perTensorParams(*q);
      if (!a || !b || !a->samePerTensor(*b)) continue;
      g_.replaceAllUsesWith(q->output(0), dq->input(0));
      g_.eraseNode(q);
      return true;
    }
    return false;
  }

  bool commutesWithQuantization(const Node &m) const {
    const std::string &op = m.opType();
    // Ops that move or select elements commute with a per-tensor quantization, so codes pass
    // through them (the op table's CodesPassThrough; Pad only with a zero fill, MaxPool
    // without Indices).
    const OpInfo *info = findOp(op);
    if (!info || info->int8 != Int8Role::CodesPassThrough) return false;
    if (op == "MaxPool") return m.outputs().size() == 1;  // max commutes with a monotonic map
    if (op != "Pad") return true;
    PadSpec p = resolvePad(m, g_.opset, static_cast<int64_t>(m.input(0)->dims().size()));
    return p.mode == "constant" && p.constant.value_or(0.0) == 0.0;
  }

  // Signed codes \p v and the values it is moved from back to the QuantizeLinear, QConv or QGemm that
  // writes them (through MaxPool and reshapes: one data input, no fill value), which can all
  // hold the codes shifted to u8; empty when there is no such writer.
  std::vector<Value *> shiftChain(Value *v) const {
    std::vector<Value *> chain = {v};
    for (const Node *p = v->producer(); p; p = chain.back()->producer()) {
      const std::string &op = p->opType();
      if (op == "QuantizeLinear" || op == "QConv" || op == "QGemm") return chain;
      const bool moves = op == "MaxPool" || op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze";
      if (!moves || !commutesWithQuantization(*p) || !p->input(0) || p->input(0)->isConstant()) return {};
      chain.push_back(p->input(0));
    }
    return {};
  }

  // The codes a static-mode integer layer reads for its input \p x, shifted to u8 when signed;
  // null (with the reason in \p d) when the input cannot run as integers. \p note gets a
  // warning that stays in the decision.
  Value *staticInputCodes(Value *x, const WeightCodes &w, LoweringDecision &d, std::string &note) {
    const Node *dq = x->producer();
    std::optional<QuantParams> xq = dq && dq->opType() == "DequantizeLinear" ? perTensorParams(*dq) : std::nullopt;
    if (!xq || dq->input(0)->isConstant()) {
      d.detail = "input is not quantized per tensor (no DequantizeLinear with a constant scale)";
      return nullptr;
    }
    Value *xIn = dq->input(0);
    std::vector<Value *> shifted;  // signed codes held as u8 around 128, and the values they are moved from
    if (xq->zeroPoint[0] == 0 && isNonNegative(g_, xIn)) {
      // Without VNNI, u8 codes above 127 times |w| above 64 can saturate the int16 pair sums
      // of vpmaddubsw; measured on CIFAR ResNets the effect on top-1 is within 0.02 points
      // (post-ReLU codes are mostly small), so the layer runs as integers and says so.
      if (xq->codeType() == DType::UInt8 && !fullRangeU8_ && maxAbsCode(*w.codes) > 64)
        note = " (u8 codes to 255 with |w| to 127: int16 pair sums may saturate without VNNI)";
    } else {
      // Codes around a zero point: signed codes run as u8 shifted by 128, asymmetric u8 codes
      // as they are, with oneDNN's source zero point. Codes near the zero point make the
      // int16 pair sums of non-VNNI kernels saturate unless |w| <= 64.
      if (!fullRangeU8_ && maxAbsCode(*w.codes) > 64) {
        d.detail = cat(xq->codeType() == DType::Int8 ? "signed input" : cat("asymmetric input (zero point ", xq->zeroPoint[0], ")"),
                       ": as u8 codes around a zero point this CPU's int8 kernels (no VNNI) can saturate "
                       "with |w| > 64; 7-bit weights (--wbits 7) run it as integers");
        return nullptr;
      }
      if (xq->codeType() == DType::Int8 && (shifted = shiftChain(xIn)).empty()) {
        d.detail = "signed codes not made by a QuantizeLinear, QConv or QGemm, nor moved from one by MaxPool or a reshape "
                   "(cannot be shifted to u8)";
        return nullptr;
      }
    }
    if (!xIn->codes) xIn->codes = *xq;
    // Signed codes not shifted yet by another reader: the same values as u8 around 128, from
    // the node that makes them through every node that moves them (max and moves commute with
    // the shift).
    for (Value *v : shifted) {
      if (!v->codes) v->codes = *xq;
      if (v->dtype() != DType::Int8) continue;
      v->codes->zeroPoint = {v->codes->zeroPoint[0] + 128};
      v->codes->isSigned = false;
      v->setDType(DType::UInt8);
    }
    xIn->setDType(DType::UInt8);  // the container oneDNN's int8 kernels take
    return xIn;
  }

  void lowerNode(Node *n, LoweringDecision &d) {
    const bool conv = n->opType() == "Conv";
    if (!conv && (n->attrInt("transA", 0) != 0 || n->attrFloat("alpha", 1.f) != 1.f ||
                  (n->input(2) && n->attrFloat("beta", 1.f) != 1.f))) {
      d.detail = "Gemm with transA, alpha or beta";
      return;
    }
    const bool transB = !conv && n->attrInt("transB", 0) != 0;
    const int axis = weightOutputAxis(*n);
    std::optional<WeightCodes> w = weightCodes(n->input(1), axis, d.detail);
    if (!w) return;
    std::optional<std::vector<float>> bias = biasValues(n->input(2), g_.opset);
    if (!bias) {
      d.detail = "bias is not a constant";
      return;
    }

    // The input as integer codes (static) or as float quantized per batch (dynamic).
    Value *x = n->input(0);
    Value *xIn = x;
    std::string saturationNote;
    if (mode_ == IntegerMode::Static) {
      xIn = staticInputCodes(x, *w, d, saturationNote);
      if (!xIn) return;
    } else if (!isNonNegative(g_, x)) {
      d.detail = "input may be negative (the int8 kernels take u8 activations)";
      return;
    }

    OutputChain chain = outputChain(g_, *n, mode_ == IntegerMode::Static);
    Value *residual = chain.residual;
    bool residualCodes = false;
    if (residual && mode_ == IntegerMode::Static) {
      const Node *rdq = residual->producer();
      std::optional<QuantParams> rq = rdq && rdq->opType() == "DequantizeLinear" ? perTensorParams(*rdq) : std::nullopt;
      if (rq && !rdq->input(0)->isConstant()) {
        residual = rdq->input(0);
        if (!residual->codes) residual->codes = *rq;
        residualCodes = true;
      }
    }
    QuantParams outQ;
    std::vector<Node *> requant;
    if (mode_ == IntegerMode::Static && (!chain.residual || residualCodes)) requant = requantizers(g_, chain.end, outQ);

    // Weights as [OC, ...] int8 with per-channel quant params (Gemm transB=0 is transposed).
    Value *codes = w->codes;
    if (!conv && !transB) codes = transposedCodes(codes);
    QuantParams wp;
    wp.state = QuantParams::State::Frozen;
    wp.granularity = QuantParams::Granularity::PerChannel;
    wp.axis = 0;
    wp.scale = w->scale;
    wp.zeroPoint.assign(w->scale.size(), 0);
    if (!codes->codes) codes->codes = wp;
    Value *biasValue = nullptr;
    if (!bias->empty())
      biasValue = g_.addConstant(g_.uniqueName(n->name() + "_bias_float"),
                                 Tensor::fromVector<float>({static_cast<int64_t>(bias->size())}, *bias));

    Value *out = chain.end;
    if (!requant.empty()) {
      out = g_.addValue(g_.uniqueName(chain.end->name() + "_codes"));
      // uint8 codes stay uint8; signed codes of a non-negative result fit uint8 as they are.
      out->setDType(outQ.codeType() == DType::UInt8 || (outQ.zeroPoint[0] == 0 && chain.lo >= 0.f) ? DType::UInt8
                                                                                              : DType::Int8);
      out->setShape(chain.end->dims());
      out->setDimNames(chain.end->dimNames());
      out->codes = outQ;
    }
    Node *qn = g_.insertNodeBefore(n, n->name(), conv ? "QConv" : "QGemm", {xIn, codes, biasValue, residual}, {out});
    for (const auto &[name, attr] : n->attrs()) qn->setAttr(name, attr);
    if (!conv) qn->setAttr("transB", Attribute::ofInt(1));
    if (chain.leaky != 1.f) qn->setAttr("act_leaky", Attribute::ofFloat(chain.leaky));
    if (!chain.gate.empty()) qn->setAttr("act_gate", Attribute::ofString(chain.gate));
    qn->setAttr("act_lo", Attribute::ofFloat(chain.lo));
    qn->setAttr("act_hi", Attribute::ofFloat(chain.hi));
    qn->setAttr("dynamic", Attribute::ofInt(mode_ == IntegerMode::Dynamic ? 1 : 0));
    for (Node *q : requant) {
      g_.replaceAllUsesWith(q->output(0), out);
      g_.eraseNode(q);
    }
    g_.eraseNode(n);
    for (Node *a : chain.absorbed) g_.eraseNode(a);

    d.integer = true;
    const int32_t zx = xIn->codes && !xIn->codes->zeroPoint.empty() ? xIn->codes->zeroPoint[0] : 0;
    d.detail = cat(mode_ == IntegerMode::Dynamic ? "f32 in (u8 per batch)" : zx ? cat("u8 in (zero point ", zx, ")") : "u8 in", ", ",
                   requant.empty() ? "f32" : dtypeName(out->dtype()), " out",
                   chain.residual ? (residualCodes ? ", +residual (codes)" : ", +residual (f32)") : "",
                   chain.gate.empty() ? "" : chain.gate == "Sigmoid" ? ", silu" : ", h-swish",
                   intervalText(chain.leaky, chain.lo, chain.hi), saturationNote);
  }

  Value *transposedCodes(Value *codes) {
    const std::string name = codes->name() + "_oi";
    if (Value *done = g_.findValue(name)) return done;
    const Tensor &t = *codes->constant();
    const int64_t k = t.dims()[0], nn = t.dims()[1];
    Tensor out(DType::Int8, {nn, k});
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < nn; ++j) out.data<int8_t>()[j * k + i] = t.data<int8_t>()[i * nn + j];
    return g_.addConstant(name, std::move(out));
  }

  Graph &g_;
  IntegerMode mode_;
  bool fullRangeU8_;
  bool changed_ = false;
};

}  // namespace

bool isNonNegative(const Graph &g, const Value *v) {
  for (int depth = 0; v && depth < 64; ++depth) {
    if (v->codes && v->dtype() == DType::UInt8 && v->codes->zeroPoint.size() == 1 && v->codes->zeroPoint[0] == 0)
      return true;
    const Node *p = v->producer();
    if (!p) return false;
    const std::string &op = p->opType();
    if (op == "Relu") return true;
    if (op == "QConv" || op == "QGemm") return p->attrFloat("act_lo", -kInf) >= 0.f;
    if (op == "Clip") {
      if (hasConstantClipBounds(*p) && clipBounds(*p, g.opset).first >= 0.f) return true;
    } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      std::optional<QuantParams> q = perTensorParams(*p);
      if (!q || q->zeroPoint[0] != 0) return false;
      if (q->codeType() == DType::UInt8) return true;  // codes saturate at 0
    } else if (op == "Concat") {
      for (const Value *in : p->inputs())
        if (!isNonNegative(g, in)) return false;
      return true;
    } else if (op != "MaxPool" && op != "AveragePool" && op != "GlobalAveragePool" && op != "Flatten" &&
               op != "Reshape" && op != "Squeeze" && op != "Unsqueeze" && op != "Transpose" && op != "Identity" &&
               op != "Slice" && op != "Split" && op != "Gather") {
      return false;
    }
    v = p->input(0);
  }
  return false;
}

namespace {

class LowerToInteger final : public Pass {
 public:
  std::string_view name() const override { return "LowerToInteger"; }
  bool run(Graph &g, const PassContext &ctx) override {
    if (!ctx.integerTarget)
      throw Error("LowerToInteger needs the integer target it lowers for (PassContext::integerTarget)");
    Lowering lowering(g, *ctx.integerTarget);
    std::vector<LoweringDecision> decisions = lowering.run();
    if (ctx.loweringDecisions)
      ctx.loweringDecisions->insert(ctx.loweringDecisions->end(), decisions.begin(), decisions.end());
    return lowering.changed();
  }
};

}  // namespace

std::unique_ptr<Pass> createLowerToInteger() { return std::make_unique<LowerToInteger>(); }

}  // namespace lowbit
