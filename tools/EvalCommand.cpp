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

namespace {

// --eps: budgets in pixel units of [0, 1] images, each a number or a fraction such as 8/255.
std::vector<float> parseBudgets(const std::string &text) {
  std::vector<float> out;
  for (const std::string &item : split(text, ',')) {
    const std::vector<std::string> parts = split(item, '/');
    if (parts.size() > 2) throw UsageError(cat("--eps: '", item, "' is not a number or a fraction such as 8/255"));
    const std::vector<float> num = usage([&] { return parseFloatList(parts[0], "--eps"); });
    float v = num.at(0);
    if (parts.size() == 2) {
      const float den = usage([&] { return parseFloatList(parts[1], "--eps"); }).at(0);
      if (!(den > 0.f)) throw UsageError(cat("--eps: '", item, "' divides by a non-positive number"));
      v /= den;
    }
    if (!(v >= 0.f && v <= 1.f)) throw UsageError(cat("--eps: '", item, "' is outside [0, 1] (pixel units of [0, 1] images)"));
    out.push_back(v);
  }
  return out;
}

// A budget as people write it: k/255 when it is one, else the number.
std::string budgetName(float eps) {
  const float k = eps * 255.f;
  if (std::fabs(k - std::round(k)) < 1e-3f) return cat(static_cast<int>(std::round(k)), "/255");
  return cat(eps);
}

}  // namespace

void addEvalCommand(CLI::App &app, Action &action) {
  struct Opts {
    EvalConfig cfg;
    std::string mean, std, attack, eps;
    train::AttackConfig attackCfg;
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
  cmd->add_flag("!--direct-conv", o->cfg.fastConvolutions,
               "float convolutions as direct sums, one layer at a time over the whole batch: no Winograd kernels, no "
               "pointwise layer fused with its depthwise reader, no Concat readers split over its sources, no opening "
               "layers image by image (all faster, with rounding of their own)");
  cmd->add_option("--attack", o->attack,
                  "also evaluate on adversarial images: fgsm, or pgd (random start, --attack-steps steps); crafted "
                  "with input gradients of the evaluated model (quantized: through its fake quantization, "
                  "straight-through) or of --attack-from");
  cmd->add_option("--eps", o->eps, "--attack budgets in pixel units of [0, 1] images, e.g. 1/255,2/255,8/255");
  cmd->add_option("--attack-steps", o->attackCfg.steps, "pgd: gradient steps (default 10)")->check(CLI::Range(1, 10000));
  cmd->add_option("--attack-step-size", o->attackCfg.stepSize, "pgd: step in pixel units (default 2.5 * eps / steps)")
      ->check(CLI::Range(0.f, 1.f));
  cmd->add_option("--attack-from", o->cfg.attackFrom,
                  "craft the adversarial images on this model instead (transfer, e.g. float -> quantized)");
  cmd->add_option("--seed", o->attackCfg.seed, "pgd: seed of the random start");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      finishPreprocessOptions(o->cfg.preprocess, o->cfg.size, o->mean, o->std);
      usage([&] { return parseRunner(o->cfg.runner); }, "--runner");
      if (!o->attack.empty()) {
        o->attackCfg.method = usage([&] { return train::AttackConfig::parseMethod(o->attack); }, "--attack");
        if (o->eps.empty()) throw UsageError("--attack needs --eps (e.g. --eps 2/255,8/255)");
        o->cfg.attackEps = parseBudgets(o->eps);
        o->cfg.attack = o->attackCfg;
      } else if (!o->eps.empty() || !o->cfg.attackFrom.empty()) {
        throw UsageError("--eps and --attack-from need --attack fgsm|pgd");
      }
      EvalResult r = runEval(o->cfg);
      for (const std::string &w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
      if (o->json) {
        nlohmann::json j = {{"model", r.model},   {"data", r.data},   {"images", r.images},
                            {"top1", r.top1},     {"top5", r.top5},   {"correct_top1", r.correct1},
                            {"seconds", r.seconds}, {"images_per_s", r.images / r.seconds}, {"labels", r.labels}};
        if (!r.quantization.empty()) j["quantization"] = r.quantization;
        j["runner"] = r.runner;
        j["input_layout"] = r.inputLayout;
        if (!r.lowering.empty()) j["lowering"] = r.lowering;
        if (!r.warnings.empty()) j["warnings"] = r.warnings;
        if (o->cfg.attack) {
          const train::AttackConfig &a = *o->cfg.attack;
          nlohmann::json results = nlohmann::json::array();
          for (const AttackResult &x : r.attacks)
            results.push_back({{"eps", x.eps}, {"eps_name", budgetName(x.eps)}, {"top1", x.top1}, {"correct_top1", x.correct1}});
          j["attack"] = {{"method", train::AttackConfig::methodName(a.method)}, {"source", r.attackSource}, {"results", results}};
          if (a.method == train::AttackConfig::Method::Pgd) {
            j["attack"]["steps"] = a.steps;
            j["attack"]["step_size"] = a.stepSize > 0.f ? nlohmann::json(a.stepSize) : nlohmann::json("2.5 * eps / steps");
            j["attack"]["seed"] = a.seed;
          }
        }
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        std::printf("%s on %s: top-1 %.2f%%  top-5 %.2f%%  (%lld images, %.1f s; labels: %s)%s\n", r.model.c_str(),
                    r.data.c_str(), r.top1, r.top5, static_cast<long long>(r.images), r.seconds, r.labels.c_str(),
                    r.quantization.empty() ? ""
                    : r.lowering.empty() ? cat("  [simulated quantization: ", r.quantization, "]").c_str()
                                         : cat("  [", r.runner, " runner: ", r.lowering, "; ", r.quantization, "]").c_str());
        if (o->cfg.attack) {
          const train::AttackConfig &a = *o->cfg.attack;
          const std::string how = a.method == train::AttackConfig::Method::Pgd
                                      ? cat("pgd-", a.steps, a.stepSize > 0.f ? cat(" step ", a.stepSize) : std::string(), " seed ", a.seed)
                                      : std::string("fgsm");
          for (const AttackResult &x : r.attacks)
            std::printf("  %s eps %s: top-1 %.2f%% (clean %.2f%%; %s)\n", how.c_str(), budgetName(x.eps).c_str(), x.top1,
                        r.top1, r.attackSource.c_str());
        }
      }
      return 0;
    };
  });
}

}  // namespace lowbit
