// QuantizeWeights: symmetric weight QuantParams for every layer of ctx.layers (cfg.weights at
// the layer's bits; fewer groups than asked when a layer has fewer channels), and the
// activations to calibrate: each layer's non-constant input, and the other operand of a fused
// residual Add, at cfg.actBits (cfg.firstLastBits for the first layer's input), the widest any
// reader asks for. With cfg.shareConcatScales, a layer input selected out of a Concat output
// (through ops that only move or select elements, concatSourceOf) also asks for that Concat
// output, whose parameters CalibrateActivations gives it. Fills ctx.activations (graph order) and
// ctx.activationBits; report section "weights" (bits, granularity, SQNR per layer).
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
  std::vector<std::string> fewerChannels, unevenGroups;  // group-wise layers that cannot split evenly
  std::vector<std::string> wideLevels;  // non-uniform layers given more bits than their codes hold
  int64_t macs = 0, shiftMacs = 0;  // per image: all weight layers', and those with power-of-two weights
  for (const LayerPlan &l : ctx.layers) {
    Value *w = l.node->input(1);
    WeightQuantConfig wc = cfg.weights;
    wc.bits = l.bits;
    const int axis = weightOutputAxis(*l.node);
    if (wc.granularity == QuantParams::Granularity::PerGroup &&
        static_cast<int64_t>(wc.groups) > w->dims()[static_cast<size_t>(axis)]) {
      fewerChannels.push_back(l.node->name());
      wc.groups = static_cast<int>(w->dims()[static_cast<size_t>(axis)]);
    }
    if (const int64_t channels = w->dims()[static_cast<size_t>(axis)];
        wc.granularity == QuantParams::Granularity::PerGroup && channels % wc.groups != 0)
      unevenGroups.push_back(l.node->name());
    const std::vector<float> ref = w->constant()->toFloats();
    if (auto bad = std::find_if(ref.begin(), ref.end(), [](float x) { return !std::isfinite(x); }); bad != ref.end())
      throw Error(cat(l.node->describe(), ": weight '", w->name(), "' holds ", *bad, " at index ", bad - ref.begin(),
                      "; only finite weights can be quantized (keep the layer in float with --exclude ",
                      l.node->name(), ")"));
    // Power-of-two codes fill an int8 container at 4 bits, mid-rise ones at 7; a wider first or
    // last layer (--first-last-bits) takes uniform levels, as the papers keep those layers precise.
    if (wc.bits > maxSchemeBits(wc.scheme) && wc.bits != cfg.weights.bits) {
      wc.scheme = QuantParams::Scheme::Uniform;
      wideLevels.push_back(l.node->name());
    }
    const bool nonUniform = wc.scheme != QuantParams::Scheme::Uniform;
    std::vector<int> degenerate;
    QuantParams p;
    try {
      p = computeWeightParams(*w->constant(), axis, wc, &degenerate);
    } catch (const Error &e) {
      throw Error(cat(l.node->describe(), ": ", e.what()));
    }
    Tensor fq = fakeQuantizeWeights(*w->constant(), p);
    nlohmann::json wr = {{"node", l.node->name()}, {"weight", w->name()}, {"bits", p.bits},
                         {"granularity", granularityName(p)}, {"scheme", weightSchemeName(p.scheme)},
                         {"sqnr_db", sqnrDb(ref.data(), fq.data<float>(), ref.size())}};
    if (nonUniform) {  // what uniform levels at the same bits and granularity would give
      WeightQuantConfig uc = wc;
      uc.scheme = QuantParams::Scheme::Uniform;
      const Tensor ufq = fakeQuantizeWeights(*w->constant(), computeWeightParams(*w->constant(), axis, uc));
      if (wc.scheme == QuantParams::Scheme::PowerOfTwo) shiftMacs += multiplyAccumulates(*l.node);
      wr["uniform_sqnr_db"] = sqnrDb(ref.data(), ufq.data<float>(), ref.size());
    }
    macs += multiplyAccumulates(*l.node);
    if (!degenerate.empty()) wr["all_zero_units"] = degenerate;
    report.push_back(wr);
    w->quant = p;
    const int aBits = (cfg.firstLastBits && l.node == ctx.layers.front().node) ? cfg.firstLastBits : cfg.actBits;
    if (Value *x = l.node->input(0); x && !x->isConstant()) {
      if (Value *source = cfg.shareConcatScales ? concatSourceOf(x) : nullptr) wantActivation(source, aBits);
      wantActivation(x, aBits);
    }
    if (l.node->fusedAdd) wantActivation(l.node->residualOperand(), cfg.actBits);  // read quantized too
  }
  auto listed = [](const std::vector<std::string> &names) {
    return cat(names.size(), names.size() == 1 ? " layer (" : " layers (", names.front(),
               names.size() > 1 ? ", ..." : "", ")");
  };
  if (!fewerChannels.empty())
    ctx.warn(cat("group:", cfg.weights.groups, ": fewer output channels than groups in ", listed(fewerChannels),
                 ": one group per channel there"));
  if (!unevenGroups.empty())
    ctx.warn(cat("group:", cfg.weights.groups, " does not divide the output channels of ", listed(unevenGroups),
                 ": group sizes there differ by one (channel k goes to group floor(k * groups / channels))"));
  if (!wideLevels.empty())
    ctx.warn(cat(weightSchemeName(cfg.weights.scheme), " levels take 2..", maxSchemeBits(cfg.weights.scheme),
                 " bits: ", listed(wideLevels), " at ", cfg.firstLastBits, " bits keep uniform levels"));
  ctx.report["weights"] = report;
  // Each multiplication by a power-of-two code is a shift (the int8 runner still multiplies).
  if (cfg.weights.scheme == QuantParams::Scheme::PowerOfTwo)
    ctx.report["shift_add"] = {{"multiplications_by_powers_of_two_per_image", shiftMacs},
                               {"multiply_accumulates_per_image", macs}};
}

}  // namespace lowbit
