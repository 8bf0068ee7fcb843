// QuantizeLinear -> DequantizeLinear on an activation of a QDQ file (one lowbit or another tool
// wrote): one fake-quant layer with the file's frozen scale and zero point, as the float runner
// simulates the pair (runtime/QuantizeBuilder.cpp). Backward is the clipped straight-through
// estimator (PyTorch's fake_quantize gradient): dy passes where x / scale + zero point lies in
// the code range, 0 outside. Nothing trains here; it lets input gradients (adversarial
// attacks) flow through quantized files.

#include "kernels/QuantizeRef.h"
#include "ops/OpParams.h"
#include "quant/QuantRules.h"
#include "support/Strings.h"
#include "train/Layer.h"

namespace lowbit::train {
namespace {

class QdqLayer final : public Layer {
 public:
  QdqLayer(const QuantParams &p, size_t x, size_t y)
      : scale_(p.scale[0]), zeroPoint_(p.zeroPoint[0]), range_(codeRange(p)), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    fakeQuantize(v[x_].data<float>(), v[y_].data<float>(), static_cast<size_t>(v[x_].numel()), scale_, zeroPoint_, range_);
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    // The bounds quantizeValue clamps x / scale to, before rounding.
    const float lo = static_cast<float>(int64_t{range_.qmin} - zeroPoint_), hi = static_cast<float>(int64_t{range_.qmax} - zeroPoint_);
    const float *x = v[x_].data<float>(), *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
    const int64_t n = v[x_].numel();
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) {
      const float r = x[i] / scale_;
      if (r >= lo && r <= hi) dx[i] += dy[i];
    }
  }

 private:
  float scale_;
  int32_t zeroPoint_;
  QuantRange range_;
  size_t x_, y_;
};

}  // namespace

void buildQuantize(NetworkBuilder &b, const Node &n) {
  const std::optional<QdqPair> pair = qdqPairOf(b.graph(), n, "the training engine differentiates");
  if (!pair)
    throw Error(cat(n.describe(), ": the training engine differentiates QuantizeLinear only where DequantizeLinear reads "
                                  "its codes back"));
  const std::vector<Node *> &readers = pair->readers;
  const size_t x = b.input(n, n.input(0));
  const size_t y = b.output(*readers[0], readers[0]->output(0));
  for (size_t i = 1; i < readers.size(); ++i) b.alias(readers[i]->output(0), y);  // the same values
  b.add(std::make_unique<QdqLayer>(pair->params, x, y));
}

void buildDequantize(NetworkBuilder &b, const Node &n) {
  // Built with its QuantizeLinear; constant codes (weights) were folded to floats before.
  if (!b.defined(n.output(0)))
    throw Error(cat(n.describe(), ": the training engine differentiates DequantizeLinear only of a QuantizeLinear's codes"));
}

}  // namespace lowbit::train
