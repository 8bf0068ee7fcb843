// ConvInCodeUnits
//   Requires: a QDQ graph whose weight DequantizeLinear nodes are not folded yet.
//   Produces: every Conv that reads a per-tensor DequantizeLinear of run-time codes and whose
//             weight is a DequantizeLinear of constant integer codes becomes a CodeConv node
//             (internal, the float runner's):
//               inputs  x (the dequantized input, float), w (the weight codes minus their zero
//                       points, as float), scale ([OC]: input scale x weight scale per output
//                       channel), bias (float, model units, optional)
//               attrs   the Conv's, input_scale (the input's scale)
//             The runner recovers the input codes (x / input_scale is an integer), convolves
//             integers in float32 and applies scale and bias after the sum. Integer-valued
//             float sums are exact while every partial sum stays below 2^24, which the pass
//             checks per output channel: the result is the QDQ graph's real-number value
//             rounded once, independent of summation order. The float simulation then agrees
//             with integer kernels (lowbit's int8 runner, ONNX Runtime's) except where a value
//             lies within float rounding of a code boundary.
//   Leaves untouched: Convs whose partial sums could reach 2^24 (they stay float convolutions of
//             dequantized values, the QDQ graph as written), inputs quantized per channel,
//             Gemm/MatMul (their outputs are logits, not requantized: rounding cannot cascade).
#include <cmath>
#include <optional>

#include "kernels/QuantizeRef.h"
#include "ops/Evaluate.h"
#include "ops/OpParams.h"
#include "passes/Pass.h"

namespace lowbit {
namespace {

constexpr double kExactFloatInteger = 16777216.0;  // 2^24: float32 holds every integer below

// Largest |q - z| an 8-bit input code can take.
double maxCenteredCode(const QuantParams &q) {
  const QuantRange r = quantRange(8, q.isSigned, false);
  return std::max(std::abs(r.qmin - q.zeroPoint[0]), std::abs(r.qmax - q.zeroPoint[0]));
}

// Per-output-channel values of a scale or zero point input of \p dq (one or \p channels).
std::optional<std::vector<double>> perChannel(const Value *v, const Node &dq, int64_t channels, double absent) {
  if (!v) return std::vector<double>(static_cast<size_t>(channels), absent);
  std::vector<double> out;
  for (float f : v->constant()->toFloats()) out.push_back(f);
  if (out.size() == 1) return std::vector<double>(static_cast<size_t>(channels), out[0]);
  const int64_t rank = static_cast<int64_t>(dq.input(0)->dims().size());
  if (normalizeAxis(dq.attrInt("axis", 1), rank, dq) != 0 || static_cast<int64_t>(out.size()) != channels)
    return std::nullopt;
  return out;
}

// The weight codes minus their zero points as float integers and the per-channel scales, or
// nullopt when the weight is not a DequantizeLinear of constant integer codes along axis 0.
struct WeightInCodes {
  Tensor codes;
  std::vector<double> scale;
};
std::optional<WeightInCodes> weightInCodes(const Value *w) {
  const Node *dq = w ? w->producer() : nullptr;
  if (!dq || !isConstantDequantize(*dq) || !dq->input(0)->hasShape() || dq->input(0)->dims().empty()) return std::nullopt;
  const Tensor &q = *dq->input(0)->constant();
  const int64_t channels = q.dims()[0];
  std::optional<std::vector<double>> scale = perChannel(dq->input(1), *dq, channels, 1.0);
  std::optional<std::vector<double>> zero = perChannel(dq->input(2), *dq, channels, 0.0);
  if (!scale || !zero) return std::nullopt;
  for (double s : *scale)
    if (!(s > 0.0) || !std::isfinite(s)) return std::nullopt;
  std::vector<int64_t> codes = q.toInt64s();
  const size_t perChannelCount = codes.size() / static_cast<size_t>(channels);
  std::vector<float> centered(codes.size());
  for (size_t i = 0; i < codes.size(); ++i)
    centered[i] = static_cast<float>(static_cast<double>(codes[i]) - (*zero)[i / perChannelCount]);
  return WeightInCodes{Tensor::fromVector<float>(q.dims(), centered), *scale};
}

// True if no partial sum of a channel can reach 2^24: sum |w| * max |x code| below it.
bool sumsAreExact(const Tensor &codes, double maxInput) {
  const int64_t channels = codes.dims()[0];
  const int64_t per = codes.numel() / channels;
  const float *w = codes.data<float>();
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t i = 0; i < per; ++i) sum += std::fabs(w[c * per + i]);
    if (sum * maxInput >= kExactFloatInteger) return false;
  }
  return true;
}

class ConvInCodeUnits final : public Pass {
 public:
  std::string_view name() const override { return "ConvInCodeUnits"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Node *n : g.nodes()) {
      if (n->opType() != "Conv" || !n->output(0)->hasShape()) continue;
      const Node *xdq = n->input(0)->producer();
      if (!xdq || xdq->opType() != "DequantizeLinear" || xdq->input(0)->isConstant()) continue;
      const DType codeType = xdq->input(0)->dtype();
      std::optional<QuantParams> xq = perTensorQdqParams(*xdq);
      if (!xq || (codeType != DType::Int8 && codeType != DType::UInt8) || !xq->scalesUsable()) continue;
      std::optional<WeightInCodes> w = weightInCodes(n->input(1));
      if (!w || !sumsAreExact(w->codes, maxCenteredCode(*xq))) continue;
      Value *bias = n->input(2);
      if (bias && !bias->isConstant()) {
        const Node *bdq = bias->producer();
        if (!bdq || !isConstantDequantize(*bdq)) continue;
        bias = g.addConstant(g.uniqueName(n->name() + "_bias"), evaluateConstant(*bdq, g.opset).at(0));
      }
      std::vector<float> scale;
      for (double s : w->scale) scale.push_back(static_cast<float>(static_cast<double>(xq->scale[0]) * s));
      Value *codes = g.addConstant(g.uniqueName(n->name() + "_weight_codes"), std::move(w->codes));
      Value *scales = g.addConstant(g.uniqueName(n->name() + "_code_scale"),
                                    Tensor::fromVector<float>({static_cast<int64_t>(scale.size())}, scale));
      Node *c = g.insertNodeBefore(n, n->name(), "CodeConv", {n->input(0), codes, scales, bias}, {});
      for (const auto &[key, attr] : n->attrs()) c->setAttr(key, attr);
      c->setAttr("input_scale", Attribute::ofFloat(xq->scale[0]));
      Value *y = n->output(0);
      g.eraseNode(n);
      c->outputs().push_back(y);
      y->setProducer(c);
      changed = true;
    }
    if (changed) g.removeDeadCode();
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> createConvInCodeUnits() { return std::make_unique<ConvInCodeUnits>(); }

}  // namespace lowbit
