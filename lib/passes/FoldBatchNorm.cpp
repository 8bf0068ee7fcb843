// FoldBatchNorm
//   Requires: constant BN parameters and constant Conv/Gemm weights.
//   Produces: BatchNormalization that directly follows a Conv (or a Gemm, over its output
//             columns) is folded into that node's weights and bias:
//               s[c] = gamma[c] / sqrt(var[c] + eps)
//               W'[c,...] = W[c,...] * s[c],   b'[c] = (b[c] - mean[c]) * s[c] + beta[c]
//   Leaves untouched: BN whose producer has other readers (the unnormalised tensor is still
//             needed), whose producer output is a graph output, or that follows another op;
//             the runner executes those with the BN primitive.
#include <cmath>

#include "ops/OpParams.h"
#include "passes/Pass.h"

namespace lowbit {
namespace {

std::vector<float> constFloats(const Value *v) { return v->constant()->toFloats(); }

class FoldBatchNorm final : public Pass {
 public:
  std::string_view name() const override { return "FoldBatchNorm"; }
  bool run(Graph &g, const PassContext &) override {
    bool changed = false;
    for (Node *bn : g.nodes()) {
      if (bn->opType() != "BatchNormalization" || bn->attrInt("training_mode", 0) != 0) continue;
      Value *x = bn->input(0);
      Node *prod = x ? x->producer() : nullptr;
      if (!prod || (prod->opType() != "Conv" && prod->opType() != "Gemm")) continue;
      if (g.users(x).size() != 1 || g.isGraphOutput(x)) continue;
      bool paramsConst = true;
      for (size_t i = 1; i < 5; ++i)
        if (!bn->input(i) || !bn->input(i)->isConstant()) paramsConst = false;
      Value *w = prod->input(1), *b = prod->input(2);
      if (!paramsConst || !w || !w->isConstant() || (b && !b->isConstant())) continue;
      if (prod->opType() == "Gemm" && (prod->attrInt("transA", 0) != 0)) continue;
      if (b && prod->opType() == "Gemm" && b->constant()->numel() != w->dims()[static_cast<size_t>(weightOutputAxis(*prod))])
        continue;  // a matrix or scalar C cannot take a per-column bias fold

      const std::vector<float> gamma = constFloats(bn->input(1)), beta = constFloats(bn->input(2)),
                               mean = constFloats(bn->input(3)), var = constFloats(bn->input(4));
      const float eps = bn->attrFloat("epsilon", 1e-5f);
      const size_t channels = gamma.size();
      std::vector<float> scale(channels);
      for (size_t c = 0; c < channels; ++c)
        scale[c] = gamma[c] / std::sqrt(var[c] + eps);

      Tensor wt = castTensorToFloat(*w->constant());
      float *wd = wt.data<float>();
      const Dims &wdims = wt.dims();
      const bool gemmColumns = weightOutputAxis(*prod) == 1;
      if (gemmColumns) {  // W is [K, N]: scale column n
        if (static_cast<size_t>(wdims[1]) != channels) continue;
        for (int64_t k = 0; k < wdims[0]; ++k)
          for (int64_t c = 0; c < wdims[1]; ++c) wd[k * wdims[1] + c] *= scale[static_cast<size_t>(c)];
      } else {  // Conv [OC, ...] or Gemm transB [N, K]: scale row c
        if (static_cast<size_t>(wdims[0]) != channels) continue;
        int64_t inner = wt.numel() / wdims[0];
        for (int64_t c = 0; c < wdims[0]; ++c)
          for (int64_t i = 0; i < inner; ++i) wd[c * inner + i] *= scale[static_cast<size_t>(c)];
      }
      std::vector<float> bias = b ? constFloats(b) : std::vector<float>(channels, 0.f);
      for (size_t c = 0; c < channels; ++c) bias[c] = (bias[c] - mean[c]) * scale[c] + beta[c];

      Value *newW = g.addConstant(g.uniqueName(w->name() + "_bnfolded"), std::move(wt));
      Value *newB = g.addConstant(g.uniqueName(prod->name() + "_bias_bnfolded"),
                                  Tensor::fromVector<float>({static_cast<int64_t>(channels)}, bias));
      prod->inputs().resize(3);
      prod->inputs()[1] = newW;
      prod->inputs()[2] = newB;
      // The producer now computes BN's output value directly (keeps graph output names).
      Value *y = bn->output(0);
      g.eraseNode(bn);
      prod->outputs()[0] = y;
      y->setProducer(prod);
      x->setProducer(nullptr);
      changed = true;
    }
    if (changed) g.removeDeadCode();
    return changed;
  }

 private:
  static Tensor castTensorToFloat(const Tensor &t) {
    if (t.dtype() == DType::Float32) return t;
    return Tensor::fromVector<float>(t.dims(), t.toFloats());
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldBatchNorm() { return std::make_unique<FoldBatchNorm>(); }

}  // namespace lowbit
