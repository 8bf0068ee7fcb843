// CalibrateActivations: a range for each of ctx.activations, observed on the images
// (cfg.act: min-max in one pass; percentile, KL and MSE from a histogram in a second) or read
// from an earlier report of the same model (cfg.calibFrom), then per-tensor QuantParams at
// ctx.activationBits: unsigned when never negative, zero point 0, scale = clip / qmax; with
// cfg.actAsymmetric, tensors that reach below zero get u8 codes with a zero point instead.
// With cfg.shareConcatScales an activation selected out of a Concat output takes that
// output's parameters (concatSourceOf; report "scale_of"). With --act-observer sqnr each range
// also keeps every candidate observer's clip, for ChooseActivationObservers.
// With cfg.biasCorrect the same pass also gathers the layers' input channel means (ctx.means).
// Fills ctx.ranges, ctx.calibImages, ctx.calibSeconds; report sections "activations",
// "constant_zero_activations" and "calibration".
#include <cmath>
#include <cstdio>

#include "calib/ActivationObserver.h"
#include "pipeline/QuantizePipeline.h"
#include "quant/QuantRules.h"
#include "runtime/Executor.h"
#include "support/File.h"
#include "support/Progress.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

// Observes the activations \p names over the images; one or two passes over the data.
std::vector<ActivationObserver> observe(const QuantizeContext &ctx, const std::vector<std::string> &names,
                                        std::vector<ChannelStatistics> *means) {
  ExecutorOptions opts;
  opts.taps = names;
  Executor exec(ctx.graph, opts);
  std::vector<ActivationObserver> obs(names.size());
  const int passes = ctx.cfg.act.kind != ActObserverConfig::Kind::MinMax ? 2 : 1;  // histograms second
  for (int pass = 0; pass < passes; ++pass)
    ctx.forEachTappedBatch(exec, cat("calibrate pass ", pass + 1, "/", passes), [&](const std::vector<Tensor> &taps) {
      // Tensors are independent: observe them in parallel (one tensor per thread).
#pragma omp parallel for schedule(dynamic)
      for (size_t i = 0; i < names.size(); ++i) {
        const float *d = taps[i].data<float>();
        const size_t n = static_cast<size_t>(taps[i].numel());
        if (pass == 0) {
          obs[i].observeRange(d, n);
          if (means) (*means)[i].observe(taps[i]);
        } else {
          obs[i].observeHistogram(d, n);
        }
      }
    });
  return obs;
}

// The ranges an earlier report of the same model recorded for ctx.activations.
std::vector<ActivationRange> rangesFromReport(const QuantizeContext &ctx, size_t *images) {
  const QuantizeConfig &cfg = ctx.cfg;
  nlohmann::json old;
  std::map<std::string, ActivationRange> byName;
  try {
    old = nlohmann::json::parse(readFile(cfg.calibFrom));
    if (!old.is_object()) throw Error(cat(cfg.calibFrom, ": not a lowbit report (not a JSON object)"));
    const std::string oldHash = old.value("model_hash", "");
    if (oldHash != ctx.modelHash)
      throw Error(cat(cfg.calibFrom, " was made for a different model (report hash ", oldHash, ", model hash ",
                      ctx.modelHash, "); re-run lowbit quantize with --calib"));
    for (const auto &a : old.value("activations", nlohmann::json::array())) {
      const std::string name = a.at("tensor").get<std::string>();
      const ActivationRange r = {a.at("min").get<float>(), a.at("max").get<float>(), a.at("clip").get<float>(), {}};
      // A hand-edited report can carry any numbers: the scale comes from these.
      if (!std::isfinite(r.min) || !std::isfinite(r.max) || !std::isfinite(r.clip) || r.min > r.max || r.clip < 0.f)
        throw Error(cat(cfg.calibFrom, ": activation '", name, "' has range [", r.min, ", ", r.max, "] and clip ", r.clip,
                        " (finite, min <= max and clip >= 0 expected)"));
      byName[name] = r;
    }
  } catch (const nlohmann::json::exception &e) {
    throw Error(cat(cfg.calibFrom, ": not a lowbit report (", e.what(), ")"));
  }
  std::vector<ActivationRange> ranges;
  for (const Value *v : ctx.activations) {
    auto it = byName.find(v->name());
    if (it == byName.end())
      throw Error(cat(cfg.calibFrom, ": has no range for activation '", v->name(),
                      "' (made with other layers or --exclude); re-run with --calib"));
    ranges.push_back(it->second);
  }
  *images = old.value("calibration", nlohmann::json::object()).value("images", size_t{0});
  return ranges;
}

}  // namespace

QuantParams activationParams(const QuantizeConfig &cfg, const ActivationRange &rg, int bits) {
  QuantParams p;
  p.bits = bits;
  p.isSigned = rg.min < 0.f;  // never negative (e.g. after ReLU): unsigned codes
  p.state = QuantParams::State::Calibrated;
  if (cfg.actAsymmetric && p.isSigned) {
    // The observer's clip bounds both sides; the codes span what is left of [min, max].
    setAsymmetric(p, std::max(rg.min, -rg.clip), std::min(rg.max, rg.clip));
  } else {
    p.scale = {scaleForClip(rg.clip, quantRange(p.bits, p.isSigned, false))};
    p.zeroPoint = {0};
  }
  return p;
}

void shareConcatScales(QuantizeContext &ctx, nlohmann::json &report) {
  // The source's parameters, whatever the activation's own range (still reported).
  for (size_t i = 0; i < ctx.activations.size(); ++i)
    if (const Value *s = concatSourceOf(ctx.activations[i]); s && s->quant) {
      ctx.activations[i]->quant = s->quant;
      ctx.activations[i]->quant->sharedFrom = s->name();
      report[i]["scale"] = s->quant->scale[0];
      report[i]["zero_point"] = s->quant->zeroPoint[0];
      report[i]["signed"] = s->quant->isSigned;
      report[i]["scale_of"] = s->name();
    }
}

void runCalibrateActivations(QuantizeContext &ctx) {
  const QuantizeConfig &cfg = ctx.cfg;
  std::vector<std::string> names;
  for (const Value *v : ctx.activations) names.push_back(v->name());
  ctx.means.assign(names.size(), ChannelStatistics());
  if (!cfg.calibFrom.empty()) {
    ctx.ranges = rangesFromReport(ctx, &ctx.calibImages);
  } else {
    ctx.calibImages = ctx.images.size();
    if (cfg.progress)
      std::fprintf(stderr,
                   "quantize %s: %zu layers, weights %d-bit %s (%s), activations %d-bit (%s)%s; "
                   "calibrating %zu activations on %zu images from %s\n",
                   cfg.modelPath.c_str(), ctx.layers.size(), cfg.weights.bits,
                   granularityName(*ctx.layers[0].node->input(1)->quant).c_str(),
                   cfg.weights.observer == WeightQuantConfig::Observer::Mse ? "mse" : "minmax", cfg.actBits,
                   cfg.act.name().c_str(),
                   cfg.firstLastBits ? cat(", first/last layers ", cfg.firstLastBits, "-bit").c_str() : "",
                   names.size(), ctx.images.size(), cfg.calibDir.c_str());
    Progress timer("quantize", 1);
    std::vector<ActivationObserver> obs = observe(ctx, names, cfg.biasCorrect ? &ctx.means : nullptr);
    ctx.calibSeconds = timer.elapsedSeconds();
    for (size_t i = 0; i < obs.size(); ++i) {
      // An infinite or NaN activation (a float layer overflowing, a NaN weight kept in float)
      // has no finite range to quantize.
      if (!std::isfinite(obs[i].minValue()) || !std::isfinite(obs[i].maxValue()))
        throw Error(cat("activation '", names[i], "' reaches [", obs[i].minValue(), ", ", obs[i].maxValue(),
                        "] on the calibration images; only finite activations can be quantized"));
      const int bits = ctx.activationBits.at(ctx.activations[i]);
      ActivationRange rg{obs[i].minValue(), obs[i].maxValue(), obs[i].clip(cfg.act, bits), {}};
      if (cfg.act.kind == ActObserverConfig::Kind::Sqnr)
        for (const ActObserverConfig &c : ActObserverConfig::sqnrCandidates()) rg.candidateClips.push_back(obs[i].clip(c, bits));
      ctx.ranges.push_back(rg);
    }
  }

  nlohmann::json report = nlohmann::json::array();
  std::vector<std::string> degenerate;
  for (size_t i = 0; i < ctx.activations.size(); ++i) {
    const ActivationRange &rg = ctx.ranges[i];
    const QuantParams p = activationParams(cfg, rg, ctx.activationBits.at(ctx.activations[i]));
    if (!(rg.clip > 0.f)) degenerate.push_back(ctx.activations[i]->name());
    ctx.activations[i]->quant = p;
    report.push_back({{"tensor", ctx.activations[i]->name()}, {"bits", p.bits}, {"signed", p.isSigned},
                      {"min", rg.min}, {"max", rg.max}, {"clip", rg.clip}, {"scale", p.scale[0]},
                      {"zero_point", p.zeroPoint[0]}});
  }
  if (cfg.shareConcatScales) shareConcatScales(ctx, report);
  ctx.report["activations"] = report;
  if (!degenerate.empty()) ctx.report["constant_zero_activations"] = degenerate;
  ctx.report["calibration"] = {{"folder", cfg.calibDir}, {"images", ctx.calibImages}, {"seconds", ctx.calibSeconds}};
  if (!cfg.calibFrom.empty()) ctx.report["calibration"]["from_report"] = cfg.calibFrom;
}

}  // namespace lowbit
