// SelectLayers: the layers to quantize. Reads cfg.exclude, cfg.weights.bits, cfg.firstLastBits;
// fills ctx.layers with every Conv/Gemm/MatMul whose weight (input 1) is a constant, in graph
// order, minus the excluded ones, whose weights are marked FloatOnly; the first and last get
// cfg.firstLastBits when it is set.
// Errors: an --exclude name that is no node, a model with no such layer.
#include <set>

#include "pipeline/QuantizePipeline.h"
#include "quant/QuantRules.h"
#include "support/Strings.h"

namespace lowbit {

void runSelectLayers(QuantizeContext &ctx) {
  const QuantizeConfig &cfg = ctx.cfg;
  std::set<std::string> excluded(cfg.exclude.begin(), cfg.exclude.end());
  for (const std::string &name : excluded)
    if (!ctx.graph.findNode(name))
      throw Error(cat("--exclude: the model has no node named '", name, "' (see lowbit inspect)"));
  for (Node *n : ctx.graph.nodes()) {
    if (!isQuantizableLayer(*n)) continue;
    if (!excluded.count(n->name())) {
      ctx.layers.push_back({n, cfg.weights.bits});
    } else if (!n->input(1)->quant) {
      n->input(1)->quant = QuantParams::floatOnly();
    }
  }
  if (ctx.layers.empty())
    throw Error(cat(cfg.modelPath, ": no Conv, Gemm or MatMul with constant weights to quantize"));
  if (cfg.firstLastBits) ctx.layers.front().bits = ctx.layers.back().bits = cfg.firstLastBits;
}

}  // namespace lowbit
