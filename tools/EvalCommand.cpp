#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "jobs/EvalJob.h"
#include "runtime/Executor.h"
#include "support/Error.h"
#include "support/Strings.h"

namespace lowbit {

/// Registers --size/--resize/--crop/--mean/--std/--bgr, shared by eval and quantize.
void addPreprocessOptions(CLI::App *cmd, PreprocessConfig &pre, int &size, std::string &mean,
                          std::string &std) {
  cmd->add_option("--size", size, "resize the shorter side to S and center-crop SxS (same as --resize S --crop S)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--resize", pre.resize, "resize the shorter side to R pixels (PIL bilinear)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--crop", pre.crop, "center crop to C x C")->check(CLI::NonNegativeNumber);
  cmd->add_option("--mean", mean, "per-channel mean after scaling to [0,1], e.g. 0.485,0.456,0.406");
  cmd->add_option("--std", std, "per-channel std, e.g. 0.229,0.224,0.225");
  cmd->add_flag("--bgr", pre.bgr, "feed channels as BGR");
}

void finishPreprocessOptions(PreprocessConfig &pre, int size, const std::string &mean,
                             const std::string &std) {
  if (size > 0) {
    if (pre.resize == 0) pre.resize = size;
    if (pre.crop == 0) pre.crop = size;
  }
  usage([&] {
    if (!mean.empty()) pre.mean = parseFloatList(mean, "--mean");
    if (!std.empty()) pre.std = parseFloatList(std, "--std");
  });
  for (float m : pre.mean)
    if (!std::isfinite(m)) throw UsageError(cat("--mean: ", m, " is not a finite number"));
  for (float s : pre.std)
    if (!(s > 0.f) || !std::isfinite(s))
      throw UsageError(cat("--std: ", s, " is not a positive finite standard deviation"));
}

void addEvalCommand(CLI::App &app, Action &action) {
  struct Opts {
    EvalConfig cfg;
    std::string mean, std;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App *cmd = app.add_subcommand("eval", "top-1/top-5 accuracy on a labelled image folder (<dir>/<class>/<image>)");
  cmd->add_option("model", o->cfg.modelPath, "ONNX model")->required();
  cmd->add_option("--data", o->cfg.dataDir, "labelled image folder")->required();
  cmd->add_option("--labels", o->cfg.labelsFile,
                  "class names, one per line in the model's output order (e.g. an ImageNet synset list); each "
                  "class folder is the line its name is on (default: integer folder names are the class index, "
                  "other names their sorted position)");
  addPreprocessOptions(cmd, o->cfg.preprocess, o->cfg.size, o->mean, o->std);
  cmd->add_option("--batch", o->cfg.batch, "images per batch")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", o->cfg.threads, "threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--limit", o->cfg.limit, "evaluate only N images (class-balanced)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--dump", o->cfg.dump, "write PREFIX.inputs.f32, PREFIX.logits.f32, PREFIX.json for comparisons");
  cmd->add_option("--runner", o->cfg.runner,
                  "float (quantized models: QDQ simulated in float), int8 (integer kernels, static scales) "
                  "or int8-dynamic (activation scales per batch)");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      finishPreprocessOptions(o->cfg.preprocess, o->cfg.size, o->mean, o->std);
      usage([&] { return parseRunner(o->cfg.runner); }, "--runner");
      EvalResult r = runEval(o->cfg);
      for (const std::string &w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
      if (o->json) {
        nlohmann::json j = {{"model", r.model},   {"data", r.data},   {"images", r.images},
                            {"top1", r.top1},     {"top5", r.top5},   {"correct_top1", r.correct1},
                            {"seconds", r.seconds}, {"images_per_s", r.images / r.seconds}, {"labels", r.labels}};
        if (!r.quantization.empty()) j["quantization"] = r.quantization;
        j["runner"] = r.runner;
        if (!r.lowering.empty()) j["lowering"] = r.lowering;
        if (!r.warnings.empty()) j["warnings"] = r.warnings;
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        std::printf("%s on %s: top-1 %.2f%%  top-5 %.2f%%  (%lld images, %.1f s; labels: %s)%s\n", r.model.c_str(),
                    r.data.c_str(), r.top1, r.top5, static_cast<long long>(r.images), r.seconds, r.labels.c_str(),
                    r.quantization.empty() ? ""
                    : r.lowering.empty() ? cat("  [simulated quantization: ", r.quantization, "]").c_str()
                                         : cat("  [", r.runner, " runner: ", r.lowering, "; ", r.quantization, "]").c_str());
      }
      return 0;
    };
  });
}

}  // namespace lowbit
