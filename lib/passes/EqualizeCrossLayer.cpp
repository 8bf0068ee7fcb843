// EqualizeCrossLayer (Nagel et al. 2019, data-free quantization, cross-layer equalization)
//   Requires: BatchNormalization folded; constant Conv weights (and biases).
//   Produces: for every chain A -> [Relu] -> B of Convs (A's output read only by the Relu or
//             B, the Relu's only by B; A and B each a plain or a depthwise convolution), output
//             channel c of A is divided and input channel c of B multiplied by
//               s[c] = sqrt(r_A[c] / r_B[c]),  r_A[c] = max|W_A[c,...]|, r_B[c] = max|W_B[:,c,...]|
//             (A's bias too), so both get the range sqrt(r_A r_B). ReLU(x / s) = ReLU(x) / s for
//             s > 0, so the float function is unchanged. Repeated until the scales settle.
//   Leaves untouched: chains through Clip/ReLU6 or any other activation (not positively
//             homogeneous), grouped (non-depthwise) convolutions, channels where either range
//             is 0.
#include <cmath>

#include "passes/ConvChains.h"
#include "passes/Pass.h"

namespace lowbit {
namespace {

bool isDepthwise(const Node &conv) { return conv.attrInt("group", 1) > 1; }

class EqualizeCrossLayer final : public Pass {
 public:
  std::string_view name() const override { return "EqualizeCrossLayer"; }
  bool run(Graph &g, const PassContext &) override {
    std::vector<std::pair<Node *, Node *>> pairs;
    for (const ConvChain &c : findConvChains(g)) pairs.emplace_back(c.first, c.second);
    if (pairs.empty()) return false;
    // Each pair gets its own copies of the weights (a weight tensor may be shared).
    for (auto &[a, b] : pairs)
      for (Node *n : {a, b}) ownWeights(g, n);
    for (int iter = 0; iter < kMaxIterations; ++iter) {
      double maxChange = 0;
      for (auto &[a, b] : pairs) maxChange = std::max(maxChange, equalize(*a, *b));
      if (maxChange < kConverged) break;
    }
    return true;
  }

 private:
  static constexpr int kMaxIterations = 20;
  static constexpr double kConverged = 1e-4;  // largest |s - 1| of an iteration

  static void ownWeights(Graph &g, Node *n) {
    for (size_t i = 1; i < 3 && i < n->inputs().size(); ++i) {
      Value *v = n->input(i);
      if (!v || !v->isConstant() || v->name().rfind(n->name() + "_eq_", 0) == 0) continue;
      Tensor t = Tensor::fromVector<float>(v->dims(), v->constant()->toFloats());
      n->inputs()[i] = g.addConstant(g.uniqueName(n->name() + "_eq_" + (i == 1 ? "w" : "b")), std::move(t));
    }
  }

  // \returns the largest |s - 1| applied.
  static double equalize(Node &a, Node &b) {
    Tensor wa = *a.input(1)->constant(), wb = *b.input(1)->constant();
    const int64_t channels = wa.dims()[0];
    const bool bDepthwise = isDepthwise(b);
    if ((bDepthwise ? wb.dims()[0] : wb.dims()[1]) != channels) return 0;
    const int64_t innerA = wa.numel() / channels;
    const int64_t outB = wb.dims()[0], innerB = wb.numel() / (outB * wb.dims()[1]);
    float *pa = wa.data<float>(), *pb = wb.data<float>();
    std::vector<float> rA(static_cast<size_t>(channels), 0.f), rB(static_cast<size_t>(channels), 0.f);
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < innerA; ++i) rA[static_cast<size_t>(c)] = std::max(rA[static_cast<size_t>(c)], std::fabs(pa[c * innerA + i]));
    // B's input channel c: for a plain conv W_B[o, c, ...]; for a depthwise conv W_B[c, 0, ...].
    for (int64_t o = 0; o < outB; ++o)
      for (int64_t ci = 0; ci < wb.dims()[1]; ++ci) {
        const int64_t c = bDepthwise ? o : ci;
        for (int64_t i = 0; i < innerB; ++i)
          rB[static_cast<size_t>(c)] = std::max(rB[static_cast<size_t>(c)], std::fabs(pb[(o * wb.dims()[1] + ci) * innerB + i]));
      }
    std::vector<float> s(static_cast<size_t>(channels), 1.f);
    double maxChange = 0;
    for (size_t c = 0; c < s.size(); ++c) {
      if (rA[c] > 0.f && rB[c] > 0.f) s[c] = std::sqrt(rA[c] / rB[c]);
      maxChange = std::max(maxChange, std::fabs(static_cast<double>(s[c]) - 1.0));
    }
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < innerA; ++i) pa[c * innerA + i] /= s[static_cast<size_t>(c)];
    for (int64_t o = 0; o < outB; ++o)
      for (int64_t ci = 0; ci < wb.dims()[1]; ++ci) {
        const int64_t c = bDepthwise ? o : ci;
        for (int64_t i = 0; i < innerB; ++i) pb[(o * wb.dims()[1] + ci) * innerB + i] *= s[static_cast<size_t>(c)];
      }
    a.input(1)->setConstant(std::make_shared<const Tensor>(std::move(wa)));
    b.input(1)->setConstant(std::make_shared<const Tensor>(std::move(wb)));
    if (Value *bias = a.input(2)) {
      Tensor bt = *bias->constant();
      for (int64_t c = 0; c < channels; ++c) bt.data<float>()[c] /= s[static_cast<size_t>(c)];
      bias->setConstant(std::make_shared<const Tensor>(std::move(bt)));
    }
    return maxChange;
  }
};

}  // namespace

std::unique_ptr<Pass> createEqualizeCrossLayer() { return std::make_unique<EqualizeCrossLayer>(); }

}  // namespace lowbit
