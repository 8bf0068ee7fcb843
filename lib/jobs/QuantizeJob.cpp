#include "jobs/QuantizeJob.h"

#include <nlohmann/json.hpp>

#include "data/CalibrationSet.h"
#include "export/OnnxExporter.h"
#include "jobs/ModelLoader.h"
#include "passes/PassManager.h"
#include "pipeline/QuantizePipeline.h"
#include "runtime/Executor.h"
#include "support/File.h"
#include "support/Hash.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

// The report: the recipe (settings a later --recipe replays, the passes that ran), then each
// pass's section.
nlohmann::json quantizeReport(const QuantizeContext &ctx) {
  const QuantizeConfig &cfg = ctx.cfg;
  nlohmann::json report = ctx.report;
  report["tool"] = cat("lowbit ", LOWBIT_VERSION);
  report["model"] = cfg.modelPath;
  report["model_hash"] = ctx.modelHash;
  report["output"] = cfg.outPath;
  // How the file's interface was read: the exported model keeps it (channels last), or not (half).
  report["input"] = {{"layout", imageInputOf(ctx.graph, cfg.modelPath).layout()},
                     {"half_floats_computed_in_float32", ctx.graph.widenedHalfFloats}};
  if (!ctx.warnings.empty()) report["warnings"] = ctx.warnings;
  std::vector<std::string> passes = floatPreparePipeline();
  passes.insert(passes.end(), ctx.ran.begin(), ctx.ran.end());
  report["recipe"] = {{"wbits", cfg.weights.bits},
                      {"abits", cfg.actBits},
                      {"granularity", granularityName(cfg.weights)},
                      {"group_order", cfg.weights.groupOrder == WeightQuantConfig::GroupOrder::ByRange ? "range" : "contiguous"},
                      {"weight_observer", cfg.weights.observer == WeightQuantConfig::Observer::Mse ? "mse" : "minmax"},
                      {"weight_scheme", weightSchemeName(cfg.weights.scheme)},
                      {"act_observer", cfg.act.name()},
                      {"act_mode", cfg.actAsymmetric ? "asymmetric" : "symmetric"},
                      {"share_concat_scales", cfg.shareConcatScales},
                      {"first_last_bits", cfg.firstLastBits},
                      {"equalize", cfg.equalize},
                      {"absorb_bias", cfg.absorbBias},
                      {"bias_correct", cfg.biasCorrect},
                      {"exclude", cfg.exclude},
                      {"max_drop", cfg.maxDrop ? nlohmann::json(*cfg.maxDrop) : nlohmann::json()},
                      {"num_calib", ctx.calibImages},
                      {"seed", cfg.seed},
                      {"passes", passes}};
  if (cfg.finetune) {
    const train::FinetuneConfig &f = *cfg.finetune;
    const nlohmann::json &ft = ctx.report.at("finetune");
    nlohmann::json &r = report["recipe"]["finetune"];
    r = {{"mode", ft["mode"]}, {"block_iters", f.blockIters}, {"block_lr", f.blockLr}, {"batch", f.batch},
         {"temperature", f.temperature}, {"feature_weight", f.featureWeight}, {"seed", f.seed},
         {"block_input", f.blockInputFromFloat ? "float" : "quantized"},
         {"activation_quantizer", train::activationQuantizerName(f.activations)},
         {"weight_quantizer", train::weightQuantizerName(f.weightQuantizer)}, {"augment", f.augment},
         {"augment_shift", f.augmentShift}, {"mixup", f.mixup}, {"ema", f.ema}, {"keep_within", f.keepWithin},
         {"held_back", f.heldBack}};
    if (f.mode == train::FinetuneConfig::Mode::Inq) r["inq_steps"] = f.inqSteps;
    if (f.robust())
      for (const auto &[key, value] : ft["robustness_terms"].items()) r[key] = value;
    // The stage-2 budget and learning rate as used (searched or given): replaying the recipe
    // repeats the run without the search.
    if (ft.contains("stage2")) {
      r["joint_epochs"] = ft["stage2"]["max_epochs"];
      r["lr"] = ft["stage2"]["lr"];
    }
  }
  return report;
}

}  // namespace


nlohmann::json runQuantize(const QuantizeConfig &cfg) {
  if (cfg.actBits < 2 || cfg.actBits > 8) throw Error(cat("--abits ", cfg.actBits, " is outside 2..8"));
  if (cfg.firstLastBits != 0 && (cfg.firstLastBits < 2 || cfg.firstLastBits > 8))
    throw Error(cat("--first-last-bits ", cfg.firstLastBits, " is outside 2..8"));
  if (cfg.outPath.empty()) throw Error("quantize needs an output file (-o OUT.onnx)");
  if (cfg.maxDrop && !(*cfg.maxDrop >= 0.0 && *cfg.maxDrop <= 100.0))
    throw Error(cat("max drop ", *cfg.maxDrop, " is not a number of points in 0..100"));
  // Every output is checked before any work, and all are renamed into place together at the end.
  OutputFiles outputs;
  const std::vector<std::string> inputs = {cfg.modelPath, cfg.calibFrom};
  outputs.add(cfg.outPath, inputs);
  if (!cfg.reportPath.empty()) outputs.add(cfg.reportPath, inputs);
  setNumThreads(cfg.threads);
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath, cfg.passes);
  for (const Node *n : g->nodes())
    if (n->opType() == "QuantizeLinear" || n->opType() == "DequantizeLinear")
      throw Error(cat(cfg.modelPath, ": is quantized already (", n->describe(), "); quantize the float model"));
  QuantizeContext ctx(cfg, *g);
  if (g->widenedHalfFloats)
    ctx.warn(cat(cfg.modelPath, " computes in float16/bfloat16; lowbit calibrates it in float32 and writes a float32 QDQ model"));
  ctx.modelHash = hashString(fnv1a64(readFile(cfg.modelPath)));
  const ImageInputInfo in = imageInputOf(*g, cfg.modelPath);
  ctx.channels = in.channels;
  ctx.height = in.height > 0 ? in.height : cfg.size;
  ctx.width = in.width > 0 ? in.width : cfg.size;
  if (ctx.height <= 0 || ctx.width <= 0)
    throw Error(cat(cfg.modelPath, ": input '", in.name, "' has dynamic height/width; give --size"));
  if (cfg.calibFrom.empty()) {
    if (cfg.calibDir.empty()) throw Error("quantize needs --calib DIR (or --calib-from REPORT.json)");
    ctx.images = pickBalancedImages(scanImageFolder(cfg.calibDir), cfg.numCalib, cfg.seed);
    if (cfg.numCalib > static_cast<int64_t>(ctx.images.size()))
      ctx.warn(cat("--num-calib ", cfg.numCalib, ": ", cfg.calibDir, " has ", ctx.images.size(),
                   " images; calibrating on all of them"));
  } else {
    if (cfg.biasCorrect) throw Error("--bias-correct needs calibration images (--calib), not --calib-from");
    if (cfg.absorbBias) throw Error("--absorb-bias needs calibration images (--calib), not --calib-from");
  }

  runQuantizePipeline(ctx);

  // Stamp and export: bit widths and the source model's hash travel in the file.
  nlohmann::json bitsMeta = {{"weights", nlohmann::json::object()}, {"activations", nlohmann::json::object()}};
  for (const auto &w : ctx.report["weights"]) bitsMeta["weights"][w["weight"].get<std::string>()] = w["bits"];
  for (const auto &a : ctx.report["activations"]) bitsMeta["activations"][a["tensor"].get<std::string>()] = a["bits"];
  if (cfg.weights.scheme != QuantParams::Scheme::Uniform) bitsMeta["weight_scheme"] = weightSchemeName(cfg.weights.scheme);
  g->metadata.emplace_back("lowbit.quantization", bitsMeta.dump());
  g->metadata.emplace_back("lowbit.source_model_hash", ctx.modelHash);
  outputs.write(cfg.outPath, exportOnnxBytes(*g, cfg.outPath));
  nlohmann::json report = quantizeReport(ctx);
  if (!cfg.reportPath.empty()) outputs.write(cfg.reportPath, report.dump(2) + "\n");
  outputs.commit();
  return report;
}

}  // namespace lowbit
