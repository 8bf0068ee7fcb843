// ChooseActivationObservers (--act-observer sqnr): for each activation, in graph order, the
// clip of whichever candidate observer (ActObserverConfig::sqnrCandidates(): min-max, two
// percentiles, KL, MSE) gives the network outputs the highest SQNR against the float model,
// the other activations held at their current choice (one sweep of coordinate descent,
// starting from MSE's clips). Judged on up to kRankingImages of the calibration images, spread over
// them, through a SimulationProbe: the model as the exporter writes it. A local criterion (each
// tensor's own error) cannot see that a gate's or a residual sum's clipping matters more
// downstream than its rounding; the network output can.
// Needs CalibrateActivations' candidate clips (images, not --calib-from). Activations sharing
// another's parameters (--share-concat-scales) follow their source. Updates the activations'
// QuantParams, ctx.ranges' clips and report "activations" (each entry's "observer"); report
// section "observer_choice".
#include <cmath>
#include <cstdio>
#include <map>

#include "pipeline/QuantizePipeline.h"
#include "pipeline/SimulationProbe.h"
#include "support/Progress.h"
#include "support/Strings.h"

namespace lowbit {

void runChooseActivationObservers(QuantizeContext &ctx) {
  const QuantizeConfig &cfg = ctx.cfg;
  if (ctx.images.empty())
    throw Error("--act-observer sqnr judges each observer on the calibration images (--calib DIR), not --calib-from");
  const std::vector<ActObserverConfig> &candidates = ActObserverConfig::sqnrCandidates();
  Progress timer("observers", 1);
  const SimulationProbe probe(ctx, *floatCopy(ctx.graph), SimulationProbe::spread(ctx.images, SimulationProbe::kRankingImages));
  nlohmann::json &report = ctx.report["activations"];

  // Sets activation i's clip, and the parameters of every activation sharing them.
  auto setClip = [&](size_t i, float clip) {
    ctx.ranges[i].clip = clip;
    QuantParams p = activationParams(cfg, ctx.ranges[i], ctx.activationBits.at(ctx.activations[i]));
    ctx.activations[i]->quant = p;
    report[i]["clip"] = clip;
    report[i]["scale"] = p.scale[0];
    report[i]["zero_point"] = p.zeroPoint[0];
    if (cfg.shareConcatScales) shareConcatScales(ctx, report);
  };
  const double start = probe.measure(ctx.graph).sqnrDb;
  double best = start;
  size_t evaluations = 1;
  std::map<std::string, int> chosen;
  Progress progress("observers", static_cast<int64_t>(ctx.activations.size()), "tensors");
  for (size_t i = 0; i < ctx.activations.size(); ++i) {
    if (cfg.progress) {
      progress.setNote(cat("output SQNR ", std::round(best * 100) / 100, " dB"));
      progress.advance(1);
    }
    if (!ctx.activations[i]->quant->sharedFrom.empty()) continue;
    const std::vector<float> &clips = ctx.ranges[i].candidateClips;
    LOWBIT_CHECK(clips.size() == candidates.size(), "ChooseActivationObservers without candidate clips");
    size_t pick = candidates.size() - 1;  // MSE, where the calibration left it
    const float startClip = ctx.ranges[i].clip;
    for (size_t c = 0; c + 1 < candidates.size(); ++c) {
      // A clip within 0.5 % of one already tried gives the same codes but for a few values.
      bool tried = std::fabs(clips[c] - startClip) <= 0.005f * startClip;
      for (size_t d = 0; d < c && !tried; ++d) tried = std::fabs(clips[c] - clips[d]) <= 0.005f * clips[d];
      if (tried || !(clips[c] > 0.f)) continue;
      setClip(i, clips[c]);
      const double sqnr = probe.measure(ctx.graph).sqnrDb;
      ++evaluations;
      if (sqnr > best) {
        best = sqnr;
        pick = c;
      }
    }
    setClip(i, clips[pick]);
    report[i]["observer"] = candidates[pick].name();
    ++chosen[candidates[pick].name()];
  }
  if (cfg.progress) progress.finish();
  ctx.report["observer_choice"] = {{"images", probe.size()},
                                   {"output_sqnr_db_mse", start},
                                   {"output_sqnr_db", best},
                                   {"evaluations", evaluations},
                                   {"chosen", chosen},
                                   {"seconds", timer.elapsedSeconds()}};
  if (cfg.progress)
    std::fprintf(stderr, "observers: output SQNR %.2f dB with MSE clips, %.2f dB chosen per tensor (%zu runs on %zu images)\n",
                 start, best, evaluations, probe.size());
}

}  // namespace lowbit
