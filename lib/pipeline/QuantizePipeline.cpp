#include "pipeline/QuantizePipeline.h"

#include <cstdio>

#include "ir/Verifier.h"
#include "passes/PassManager.h"
#include "runtime/Executor.h"
#include "support/Progress.h"
#include "support/Strings.h"

namespace lowbit {

const std::vector<QuantizePassInfo> &quantizePipeline() {
  static const std::vector<QuantizePassInfo> pipeline = {
#define LOWBIT_QUANTIZE_PASS(Name, when, reason)                                               \
  {#Name, reason, []([[maybe_unused]] const QuantizeConfig &cfg) -> bool { return when; }, [](QuantizeContext &ctx) { \
     run##Name(ctx);                                                                              \
     return true;                                                                                 \
   }},
#define LOWBIT_GRAPH_STEP(Name, when, reason)                                                  \
  {#Name, reason, []([[maybe_unused]] const QuantizeConfig &cfg) -> bool { return when; }, [](QuantizeContext &ctx) { \
     return !runPasses(ctx.graph, {#Name}, ctx.cfg.passes).empty();                               \
   }},
#include "pipeline/QuantizePasses.def"
#undef LOWBIT_QUANTIZE_PASS
#undef LOWBIT_GRAPH_STEP
  };
  return pipeline;
}

std::unique_ptr<Graph> floatCopy(const Graph &g) {
  std::unique_ptr<Graph> f = g.clone();
  for (Value *v : f->values()) v->quant.reset();
  return f;
}

void QuantizeContext::warn(const std::string &message) {
  std::fprintf(stderr, "warning: %s\n", message.c_str());
  warnings.push_back(message);
}

void QuantizeContext::forEachTappedBatch(Executor &exec, const std::string &label,
                                         const std::function<void(const std::vector<Tensor> &)> &visit) const {
  const BatchLoader batches = loader();
  const size_t batch = static_cast<size_t>(std::max(1, cfg.batch));
  Progress progress(label, static_cast<int64_t>(batches.size()));
  std::vector<Tensor> taps;
  for (size_t b = 0; b < batches.size(); b += batch) {
    const size_t e = std::min(batches.size(), b + batch);
    std::vector<Tensor> x;
    x.push_back(batches.load(b, e, nullptr));  // moved, not copied as a braced list would
    exec.run(x, &taps);
    visit(taps);
    if (cfg.progress) progress.advance(static_cast<int64_t>(e - b));
  }
  if (cfg.progress) progress.finish();
}

void runQuantizePipeline(QuantizeContext &ctx, const std::vector<QuantizePassInfo> &pipeline) {
  for (const QuantizePassInfo &p : pipeline) {
    if (!p.applies(ctx.cfg)) continue;
    const bool changed = p.run(ctx);
    if (changed) ctx.ran.push_back(p.name);
#ifdef NDEBUG
    const bool verify = ctx.cfg.passes.verifyEach;
#else
    const bool verify = true;  // as graph passes: always in debug builds
#endif
    if (verify) {
      try {
        verifyGraph(ctx.graph);
      } catch (const Error &e) {
        throw Error(cat("graph is invalid after quantize pass ", p.name, ": ", e.what()));
      }
    }
    if (ctx.cfg.passes.verbose)
      std::fprintf(stderr, "quantize pass %-22s %s  (%s)\n", p.name.c_str(), changed ? "ran      " : "no change",
                   p.reason.c_str());
  }
}

}  // namespace lowbit
