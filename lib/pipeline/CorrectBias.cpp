// CorrectBias: empirical bias correction. For each layer whose input channel means
// CalibrateActivations gathered (ctx.means), the expected output shift its weight
// quantization causes, E[W_q x] - E[W x] per output channel, is subtracted from its bias (a
// new constant; a bias is added if the layer had none). MatMul (no bias input) and Gemm with a
// matrix C are left alone. Records each replaced bias in ctx.uncorrectedBias. Report section
// "bias_correction" (largest shift per layer).
#include <algorithm>
#include <cmath>

#include "pipeline/QuantizePipeline.h"
#include "quant/BiasCorrection.h"
#include "quant/QuantRules.h"
#include "quant/WeightQuantizer.h"

namespace lowbit {

void runCorrectBias(QuantizeContext &ctx) {
  nlohmann::json report = nlohmann::json::array();
  for (const LayerPlan &l : ctx.layers) {
    if (l.node->opType() == "MatMul") continue;  // no bias input to correct
    Value *w = l.node->input(1), *x = l.node->input(0);
    auto it = std::find(ctx.activations.begin(), ctx.activations.end(), x);
    if (!x || it == ctx.activations.end()) continue;
    const std::vector<double> mean = ctx.means[static_cast<size_t>(it - ctx.activations.begin())].means();
    const Tensor wq = fakeQuantizeWeights(*w->constant(), *w->quant);
    std::vector<float> eps =
        expectedOutputShift(*w->constant(), wq, mean, l.node->attrInt("group", 1), weightOutputAxis(*l.node));
    Value *b = l.node->input(2);
    std::vector<float> bias = b ? b->constant()->toFloats() : std::vector<float>(eps.size(), 0.f);
    if (bias.size() != eps.size()) continue;  // e.g. a Gemm with a matrix C
    float worst = 0.f;
    for (size_t c = 0; c < bias.size(); ++c) {
      bias[c] -= eps[c];
      worst = std::max(worst, std::fabs(eps[c]));
    }
    ctx.uncorrectedBias[l.node->name()] = b ? b->name() : "";
    Value *nb = ctx.graph.addConstant(ctx.graph.uniqueName(l.node->name() + "_bias_corrected"),
                                      Tensor::fromVector<float>({static_cast<int64_t>(bias.size())}, bias));
    l.node->inputs().resize(3);
    l.node->inputs()[2] = nb;
    report.push_back({{"node", l.node->name()}, {"max_abs_shift", worst}});
  }
  ctx.report["bias_correction"] = report;
}

}  // namespace lowbit
