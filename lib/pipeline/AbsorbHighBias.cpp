// AbsorbHighBias: for each Conv-Relu-Conv chain, the per-channel lower bound of the Relu input
// measured on the images moves into the second convolution's bias (quant/HighBiasAbsorption),
// so the activation ranges calibrated later do not carry an always-on offset. Needs images
// (the job refuses --calib-from with it).
// Report section "bias_absorption" (one entry per chain).
#include "passes/ConvChains.h"
#include "pipeline/QuantizePipeline.h"
#include "quant/HighBiasAbsorption.h"
#include "runtime/Executor.h"

namespace lowbit {

void runAbsorbHighBias(QuantizeContext &ctx) {
  std::vector<ConvChain> chains;
  for (const ConvChain &c : findConvChains(ctx.graph))
    if (c.relu) chains.push_back(c);
  nlohmann::json report = nlohmann::json::array();
  if (!chains.empty()) {
    std::vector<std::string> names;
    for (const ConvChain &c : chains) names.push_back(c.first->output(0)->name());
    std::vector<ChannelStatistics> stats(names.size());
    {
      ExecutorOptions opts;
      opts.taps = names;
      Executor exec(ctx.graph, opts);
      ctx.forEachTappedBatch(exec, "absorb bias: channel statistics", [&](const std::vector<Tensor> &taps) {
        for (size_t i = 0; i < names.size(); ++i) stats[i].observe(taps[i]);
      });
    }
    for (size_t i = 0; i < chains.size(); ++i) {
      const AbsorbedBias r = absorbHighBias(ctx.graph, chains[i], absorptionBound(stats[i]));
      report.push_back({{"first", r.first}, {"second", r.second}, {"channels", r.channels}, {"max_shift", r.maxShift}});
    }
  }
  ctx.report["bias_absorption"] = report;
}

}  // namespace lowbit
