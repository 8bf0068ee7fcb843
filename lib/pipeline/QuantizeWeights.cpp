// QuantizeWeights: symmetric weight QuantParams for every layer of ctx.layers (cfg.weights at
// the layer's bits; fewer groups than asked when a layer has fewer channels), and the
// activations to calibrate: each layer's non-constant input, and the other operand of a fused
// residual Add, at cfg.actBits (cfg.firstLastBits for the first layer's input), the widest any
// reader asks for. Fills ctx.activations (graph order) and ctx.activationBits; report
// section "weights" (bits, granularity, SQNR per layer).
#include <algorithm>
#include <cmath>

#include "pipeline/QuantizePipeline.h"
#include "quant/QuantRules.h"
#include "quant/WeightQuantizer.h"

namespace lowbit {

void runQuantizeWeights(QuantizeContext &ctx) {
  const QuantizeConfig &cfg = ctx.cfg;
  nlohmann::json report = nlohmann::json::array();
  auto wantActivation = [&](Value *v, int bits) {
    if (!ctx.activationBits.count(v)) ctx.activations.push_back(v);
    ctx.activationBits[v] = std::max(ctx.activationBits[v], bits);
  };
  for (const LayerPlan &l : ctx.layers) {
    Value *w = l.node->input(1);
    WeightQuantConfig wc = cfg.weights;
    wc.bits = l.bits;
    const int axis = weightOutputAxis(*l.node);
    if (wc.granularity == QuantParams::Granularity::PerGroup &&
        static_cast<int64_t>(wc.groups) > w->dims()[static_cast<size_t>(axis)])
      wc.groups = static_cast<int>(w->dims()[static_cast<size_t>(axis)]);  // fewer channels than groups
    const std::vector<float> ref = w->constant()->toFloats();
    if (auto bad = std::find_if(ref.begin(), ref.end(), [](float x) { return !std::isfinite(x); }); bad != ref.end())
      throw Error(cat(l.node->describe(), ": weight '", w->name(), "' holds ", *bad, " at index ", bad - ref.begin(),
                      "; only finite weights can be quantized (keep the layer in float with --exclude ",
                      l.node->name(), ")"));
    std::vector<int> degenerate;
    QuantParams p = computeWeightParams(*w->constant(), axis, wc, &degenerate);
    Tensor fq = fakeQuantizeWeights(*w->constant(), p);
    nlohmann::json wr = {{"node", l.node->name()}, {"weight", w->name()}, {"bits", p.bits},
                         {"granularity", granularityName(p)},
                         {"sqnr_db", sqnrDb(ref.data(), fq.data<float>(), ref.size())}};
    if (!degenerate.empty()) wr["all_zero_units"] = degenerate;
    report.push_back(wr);
    w->quant = p;
    const int aBits = (cfg.firstLastBits && l.node == ctx.layers.front().node) ? cfg.firstLastBits : cfg.actBits;
    if (Value *x = l.node->input(0); x && !x->isConstant()) wantActivation(x, aBits);
    if (l.node->fusedAdd) wantActivation(l.node->residualOperand(), cfg.actBits);  // read quantized too
  }
  ctx.report["weights"] = report;
}

}  // namespace lowbit
