// AbsorbHighBias: for each Conv-Relu-Conv chain, the per-channel lower bound of the Relu input
// measured on the images moves into the second convolution's bias (quant/HighBiasAbsorption),
// so the activation ranges calibrated later do not carry an always-on offset. Needs images
// (the job refuses --calib-from with it).
// Report section "bias_absorption" (one entry per chain).
#include "passes/ConvChains.h"
#include "pipeline/QuantizePipeline.h"
#include "quant/HighBiasAbsorption.h"
#include "runtime/Executor.h"
#include "support/Progress.h"

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
      const BatchLoader loader = ctx.loader();
      const size_t batch = static_cast<size_t>(std::max(1, ctx.cfg.batch));
      Progress progress("absorb bias: channel statistics", static_cast<int64_t>(loader.size()));
      std::vector<Tensor> taps;
      for (size_t b = 0; b < loader.size(); b += batch) {
        const size_t e = std::min(loader.size(), b + batch);
        exec.run({loader.load(b, e, nullptr)}, &taps);
        for (size_t i = 0; i < names.size(); ++i) stats[i].observe(taps[i]);
        if (ctx.cfg.progress) progress.advance(static_cast<int64_t>(e - b));
      }
      if (ctx.cfg.progress) progress.finish();
    }
    for (size_t i = 0; i < chains.size(); ++i) {
      const AbsorbedBias r = absorbHighBias(ctx.graph, chains[i], absorptionBound(stats[i]));
      report.push_back({{"first", r.first}, {"second", r.second}, {"channels", r.channels}, {"max_shift", r.maxShift}});
    }
  }
  ctx.report["bias_absorption"] = report;
}

}  // namespace lowbit
