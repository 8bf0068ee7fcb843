// Quantization as a named pipeline of data-aware passes (as PPQ's optimize(graph, dataloader,
// executor) and Glow's named pipelines): the table in QuantizePasses.def lists each pass with
// the setting that enables it and the reason it sits where it does. A new method is a new
// file in pipeline/ and one line in the table.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "pipeline/QuantizeContext.h"

namespace lowbit {

struct QuantizePassInfo {
  std::string name, reason;
  std::function<bool(const QuantizeConfig &)> applies;
  /// Runs the pass; \returns false if it left the graph as it was (a graph step with nothing to do).
  std::function<bool(QuantizeContext &)> run;
};

/// The pipeline of QuantizePasses.def.
const std::vector<QuantizePassInfo> &quantizePipeline();

/// Runs each pass of \p pipeline that applies to ctx.cfg, in order; appends the names of those
/// that ran (and changed the graph) to ctx.ran, and with --print-passes prints one line each.
void runQuantizePipeline(QuantizeContext &ctx, const std::vector<QuantizePassInfo> &pipeline = quantizePipeline());

/// A copy of \p g with every QuantParams removed: the float model it stands for.
std::unique_ptr<Graph> floatCopy(const Graph &g);
/// An activation's parameters for the range \p rg at \p bits (CalibrateActivations' rule:
/// unsigned when never negative, scale = clip / qmax; asymmetric u8 with cfg.actAsymmetric).
QuantParams activationParams(const QuantizeConfig &cfg, const ActivationRange &rg, int bits);
/// With cfg.shareConcatScales: each activation selected out of a Concat output takes that
/// output's parameters (QuantParams::sharedFrom), and its entry of the \p report section
/// "activations" (parallel to ctx.activations) says so.
void shareConcatScales(QuantizeContext &ctx, nlohmann::json &report);

// The passes (pipeline/<Name>.cpp); each file's header states its contract.
#define LOWBIT_QUANTIZE_PASS(Name, when, reason) void run##Name(QuantizeContext &ctx);
#define LOWBIT_GRAPH_STEP(Name, when, reason)
#include "pipeline/QuantizePasses.def"
#undef LOWBIT_QUANTIZE_PASS
#undef LOWBIT_GRAPH_STEP

}  // namespace lowbit
