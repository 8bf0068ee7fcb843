// InsertQDQ
//   Requires: QuantParams in state Calibrated on the activations and constant weights to
//             quantize (set by the quantize job: weights from WeightQuantizer, activations from
//             calibration); fusion marks may be present.
//   Produces: the ONNX QDQ form, named as ONNX Runtime names it:
//             activation t -> [Clip if bits < 8] -> QuantizeLinear (t_QuantizeLinear, output
//             t_quantized) -> DequantizeLinear (t_DequantizeLinear, output
//             t_DequantizeLinear_Output), read by every former reader of t;
//             weight w -> int8 initializer w_quantized + w_scale + w_zero_point ->
//             DequantizeLinear (axis for per-channel and group-wise);
//             bias b of a Conv/Gemm whose input and weight are quantized -> int32 codes with
//             scale s_in * s_w[c] and a DequantizeLinear.
//             Params move to state Frozen.
//   Leaves untouched: graph outputs (readers of t that are graph outputs keep float t).
#include <algorithm>
#include <cmath>

#include "kernels/QuantizeRef.h"
#include "passes/Pass.h"
#include "quant/QuantRules.h"

namespace lowbit {
namespace {

Tensor codesOf(const Tensor &w, const QuantParams &p, DType type) {
  std::vector<float> data = w.toFloats();
  const ChannelView v = channelView(w.dims(), p);
  Tensor out(type, w.dims());
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t c = 0; c < v.channels; ++c)
      for (int64_t i = 0; i < v.inner; ++i) {
        const size_t at = static_cast<size_t>((o * v.channels + c) * v.inner + i);
        int32_t q = quantizeCode(data[at], p, static_cast<size_t>(c));
        if (type == DType::Int8) out.data<int8_t>()[at] = static_cast<int8_t>(q);
        else if (type == DType::UInt8) out.data<uint8_t>()[at] = static_cast<uint8_t>(q);
        else out.data<int32_t>()[at] = q;
      }
  return out;
}

Tensor scaleTensor(const QuantParams &p) {
  if (p.granularity == QuantParams::Granularity::PerTensor) return Tensor::scalar<float>(p.scale[0]);
  return Tensor::fromVector<float>({static_cast<int64_t>(p.scale.size())}, p.scale);
}

Tensor zeroPointTensor(const QuantParams &p, DType type) {
  const bool scalar = p.granularity == QuantParams::Granularity::PerTensor;
  Tensor t(type, scalar ? Dims{} : Dims{static_cast<int64_t>(p.zeroPoint.size())});
  for (size_t i = 0; i < p.zeroPoint.size(); ++i) {
    if (type == DType::Int8) t.data<int8_t>()[i] = static_cast<int8_t>(p.zeroPoint[i]);
    else if (type == DType::UInt8) t.data<uint8_t>()[i] = static_cast<uint8_t>(p.zeroPoint[i]);
    else t.data<int32_t>()[i] = p.zeroPoint[i];
  }
  return t;
}

class InsertQDQ final : public Pass {
 public:
  std::string_view name() const override { return "InsertQDQ"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Value *v : g.values()) {
      if (!v->quant || v->quant->state != QuantParams::State::Calibrated) continue;
      if (v->isConstant()) continue;  // weights are handled per reading node below
      quantizeActivation(g, v);
      changed = true;
    }
    for (Node *n : g.nodes()) {
      if (!isWeightLayer(*n)) continue;
      Value *w = n->input(1);
      if (!w || !w->isConstant() || !w->quant || w->quant->state != QuantParams::State::Calibrated) continue;
      const QuantParams wp = *w->quant;
      n->inputs()[1] = dequantizedWeight(g, n, w);
      changed = true;
      Value *b = n->input(2);
      const Value *in = n->input(0);
      const Node *inDq = in ? in->producer() : nullptr;
      if (b && b->isConstant() && inDq && inDq->opType() == "DequantizeLinear" && inDq->input(1)->isConstant()) {
        const float sIn = inDq->input(1)->constant()->toFloats()[0];
        n->inputs()[2] = dequantizedBias(g, b, sIn, wp);
      }
    }
    for (Value *v : g.values())
      if (v->quant && v->quant->state == QuantParams::State::Calibrated)
        v->quant->state = QuantParams::State::Frozen;
    if (changed) g.topoSort();
    return changed;
  }

 private:
  void quantizeActivation(Graph &g, Value *v) {
    const QuantParams &p = *v->quant;
    const DType codeType = p.isSigned ? DType::Int8 : DType::UInt8;
    std::vector<Node *> readers = g.users(v);
    if (readers.empty()) return;
    Node *pos = readers.front();  // new nodes go right before the first reader
    const std::string base = v->name();
    Value *src = v;
    if (p.bits < 8) {
      // ONNX QuantizeLinear saturates to 8 bits; a Clip to the code range keeps b bits.
      const QuantRange r = quantRange(p.bits, p.isSigned, p.narrowRange);
      Value *lo = g.addConstant(g.uniqueName(base + "_clip_min"),
                                Tensor::scalar<float>(dequantizeValue(r.qmin, p.scale[0], p.zeroPoint[0])));
      Value *hi = g.addConstant(g.uniqueName(base + "_clip_max"),
                                Tensor::scalar<float>(dequantizeValue(r.qmax, p.scale[0], p.zeroPoint[0])));
      Value *clipped = g.addValue(g.uniqueName(base + "_clipped"));
      clipped->setDType(DType::Float32);
      if (v->hasShape()) clipped->setShape(v->dims());
      g.insertNodeBefore(pos, g.uniqueName(base + "_Clip"), "Clip", {v, lo, hi}, {clipped});
      src = clipped;
    }
    Value *scale = g.addConstant(g.uniqueName(base + "_scale"), scaleTensor(p));
    Value *zp = g.addConstant(g.uniqueName(base + "_zero_point"), zeroPointTensor(p, codeType));
    Value *q = g.addValue(g.uniqueName(base + "_quantized"));
    q->setDType(codeType);
    Value *dq = g.addValue(g.uniqueName(base + "_DequantizeLinear_Output"));
    dq->setDType(DType::Float32);
    if (v->hasShape()) {
      q->setShape(v->dims());
      dq->setShape(v->dims());
      q->setDimNames(v->dimNames());
      dq->setDimNames(v->dimNames());
    }
    g.insertNodeBefore(pos, g.uniqueName(base + "_QuantizeLinear"), "QuantizeLinear", {src, scale, zp}, {q});
    g.insertNodeBefore(pos, g.uniqueName(base + "_DequantizeLinear"), "DequantizeLinear", {q, scale, zp}, {dq});
    dq->quant = p;
    for (Node *r : readers)
      for (Value *&in : r->inputs())
        if (in == v) in = dq;
  }

  Value *dequantizedWeight(Graph &g, Node *n, Value *w) {
    const std::string outName = w->name() + "_DequantizeLinear_Output";
    if (Value *done = g.findValue(outName)) return done;  // shared weight, already done
    const QuantParams &p = *w->quant;
    Value *codes = g.addConstant(g.uniqueName(w->name() + "_quantized"), codesOf(*w->constant(), p, DType::Int8));
    Value *scale = g.addConstant(g.uniqueName(w->name() + "_scale"), scaleTensor(p));
    Value *zp = g.addConstant(g.uniqueName(w->name() + "_zero_point"), zeroPointTensor(p, DType::Int8));
    Value *out = g.addValue(outName);
    out->setDType(DType::Float32);
    out->setShape(w->dims());
    Node *dq = g.insertNodeBefore(n, g.uniqueName(w->name() + "_DequantizeLinear"), "DequantizeLinear",
                                  {codes, scale, zp}, {out});
    if (p.granularity != QuantParams::Granularity::PerTensor) dq->setAttr("axis", Attribute::ofInt(p.axis));
    codes->quant = p;
    return out;
  }

  Value *dequantizedBias(Graph &g, Value *b, float sIn, const QuantParams &wp) {
    // int32 bias with scale s_in * s_w[c] (ORT's convention): exact enough to be lossless.
    std::vector<float> bias = b->constant()->toFloats();
    QuantParams bp;
    bp.bits = 32;
    bp.granularity = wp.granularity == QuantParams::Granularity::PerTensor ? QuantParams::Granularity::PerTensor
                                                                           : QuantParams::Granularity::PerChannel;
    bp.axis = 0;
    for (size_t c = 0; c < bias.size(); ++c) {
      float sw = wp.scale.size() == 1 ? wp.scale[0] : wp.scale[c];
      bp.scale.push_back(sIn * sw);
    }
    if (bp.granularity == QuantParams::Granularity::PerTensor) bp.scale.resize(1);
    bp.zeroPoint.assign(bp.scale.size(), 0);
    Tensor codes(DType::Int32, b->dims());
    for (size_t c = 0; c < bias.size(); ++c) {
      double q = std::nearbyint(static_cast<double>(bias[c]) / bp.scale[bp.scale.size() == 1 ? 0 : c]);
      codes.data<int32_t>()[c] = static_cast<int32_t>(std::clamp(q, -2147483648.0, 2147483647.0));
    }
    const std::string base = b->name();
    const std::string outName = base + "_DequantizeLinear_Output";
    if (Value *done = g.findValue(outName)) return done;
    Value *cv = g.addConstant(g.uniqueName(base + "_quantized"), std::move(codes));
    Value *scale = g.addConstant(g.uniqueName(base + "_scale"), scaleTensor(bp));
    Value *zp = g.addConstant(g.uniqueName(base + "_zero_point"), zeroPointTensor(bp, DType::Int32));
    Value *out = g.addValue(outName);
    out->setDType(DType::Float32);
    out->setShape(b->dims());
    Node *dq = g.addNode(g.uniqueName(base + "_DequantizeLinear"), "DequantizeLinear", {cv, scale, zp}, {out});
    if (bp.granularity != QuantParams::Granularity::PerTensor) dq->setAttr("axis", Attribute::ofInt(0));
    return out;
  }
};

}  // namespace

std::unique_ptr<Pass> createInsertQDQ() { return std::make_unique<InsertQDQ>(); }

}  // namespace lowbit
