#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "jobs/QuantizeJob.h"
#include "passes/Pass.h"
#include "support/Error.h"
#include "support/File.h"
#include "support/Strings.h"

namespace lowbit {

namespace {

// A whole number from a recipe, in range for \p Int: `"wbits": 4.7` is an error, not 4 bits.
template <typename Int>
Int wholeNumber(const nlohmann::json &v, const std::string &key) {
  const double d = v.is_number() ? v.get<double>() : std::nan("");
  if (!v.is_number() || std::floor(d) != d || d < static_cast<double>(std::numeric_limits<Int>::min()) ||
      d > static_cast<double>(std::numeric_limits<Int>::max()))
    throw Error(cat("recipe setting '", key, "' must be a whole number in range, got ", v.dump()));
  return static_cast<Int>(d);
}

void parseGranularity(const std::string &text, WeightQuantConfig &w) {
  if (text == "layer" || text == "tensor") {
    w.granularity = QuantParams::Granularity::PerTensor;
  } else if (text == "channel") {
    w.granularity = QuantParams::Granularity::PerChannel;
  } else if (text.rfind("group:", 0) == 0) {
    w.granularity = QuantParams::Granularity::PerGroup;
    std::vector<int64_t> g = parseIntList(text.substr(6), "--granularity group:G");
    if (g.size() != 1) throw Error("--granularity: write group:G with one group count, e.g. group:8");
    w.groups = static_cast<int>(g[0]);
  } else {
    throw Error(cat("--granularity '", text, "' is not one of layer, channel, group:G"));
  }
}

// The fine-tune part of a recipe ("finetune": {...}, as reports record it).
template <typename Given, typename Opts>
void applyFinetuneRecipe(const nlohmann::json &f, const Given &given, Opts &o) {
  for (const auto &[key, v] : f.items()) {
    if (key == "mode") { if (!given("--finetune")) o.finetune = v.template get<std::string>(); }
    else if (key == "block_iters") { if (!given("--block-iters")) o.ft.blockIters = wholeNumber<int>(v, key); }
    else if (key == "joint_epochs") { if (!given("--joint-epochs")) o.ft.jointEpochs = wholeNumber<int>(v, key); }
    else if (key == "lr") { if (!given("--lr")) o.ft.lr = v.template get<float>(); }
    else if (key == "held_back") { if (!given("--held-back")) o.ft.heldBack = v.template get<float>(); }
    else if (key == "block_lr") { if (!given("--block-lr")) o.ft.blockLr = v.template get<float>(); }
    else if (key == "temperature") { if (!given("--temperature")) o.ft.temperature = v.template get<float>(); }
    else if (key == "feature_weight") { if (!given("--feature-loss")) o.ft.featureWeight = v.template get<float>(); }
    else if (key == "block_input") { if (!given("--block-input")) o.blockInput = v.template get<std::string>(); }
    else if (key == "activation_quantizer") { if (!given("--act-quantizer")) o.actQuantizer = v.template get<std::string>(); }
    else if (key == "inq_steps") { if (!given("--inq-steps")) o.ft.inqSteps = v.template get<std::vector<float>>(); }
    else if (key == "weight_quantizer") { if (!given("--weight-quantizer")) o.weightQuantizer = v.template get<std::string>(); }
    else if (key == "augment") { if (!given("--augment")) o.ft.augment = v.template get<bool>(); }
    else if (key == "augment_shift") { if (!given("--augment-shift")) o.ft.augmentShift = wholeNumber<int>(v, key); }
    else if (key == "mixup") { if (!given("--mixup")) o.ft.mixup = v.template get<float>(); }
    else if (key == "ema") { if (!given("--ema")) o.ft.ema = v.template get<float>(); }
    else if (key == "keep_within") { if (!given("--keep-within")) o.ft.keepWithin = v.template get<float>(); }
    else if (key == "structure_weight") { if (!given("--structure-loss")) o.ft.structureWeight = v.template get<float>(); }
    else if (key == "lipschitz_weight") { if (!given("--lipschitz-loss")) o.ft.lipschitzWeight = v.template get<float>(); }
    else if (key == "lipschitz_bound") { if (!given("--lipschitz-bound")) o.ft.lipschitzBound = v.template get<float>(); }
    else if (key == "perturb_weight") { if (!given("--perturb-loss")) o.ft.perturbWeight = v.template get<float>(); }
    else if (key == "perturb_eps") { if (!given("--perturb-eps")) o.ft.perturbEps = v.template get<float>(); }
    else if (key == "spectral_weight") { if (!given("--spectral-loss")) o.ft.spectralWeight = v.template get<float>(); }
    else if (key == "batch" || key == "seed") { /* the command's --batch and --seed */ }
    else throw Error(cat("unknown fine-tune recipe setting '", key, "'"));
  }
}

// Settings from a recipe file for every option the command line did not give.
template <typename Opts>
void applyRecipe(const std::string &path, const CLI::App &cmd, Opts &o) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(readFile(path));
  } catch (const nlohmann::json::exception &e) {
    throw Error(cat(path, ": not valid JSON (", e.what(), ")"));
  }
  if (j.contains("recipe")) j = j["recipe"];  // a whole report
  auto given = [&](const char *flag) { return cmd.count(flag) > 0; };
  try {
    for (const auto &[key, v] : j.items()) {
      if (key == "wbits") { if (!given("--wbits")) o.cfg.weights.bits = wholeNumber<int>(v, key); }
      else if (key == "abits") { if (!given("--abits")) o.cfg.actBits = wholeNumber<int>(v, key); }
      else if (key == "granularity") { if (!given("--granularity")) o.granularity = v.template get<std::string>(); }
      else if (key == "group_order") { if (!given("--group-order")) o.groupOrder = v.template get<std::string>(); }
      else if (key == "weight_observer") { if (!given("--weight-observer")) o.weightObserver = v.template get<std::string>(); }
      else if (key == "weight_scheme") { if (!given("--weight-scheme")) o.weightScheme = v.template get<std::string>(); }
      else if (key == "act_observer") { if (!given("--act-observer")) o.actObserver = v.template get<std::string>(); }
      else if (key == "act_mode") { if (!given("--act-mode")) o.actMode = v.template get<std::string>(); }
      else if (key == "share_concat_scales") {
        if (!given("--share-concat-scales")) o.cfg.shareConcatScales = v.template get<bool>();
        o.concatScalesSet = true;
      }
      else if (key == "first_last_bits") { if (!given("--first-last-bits")) o.cfg.firstLastBits = wholeNumber<int>(v, key); }
      else if (key == "exclude") { if (!given("--exclude")) o.cfg.exclude = v.template get<std::vector<std::string>>(); }
      else if (key == "max_drop") { if (!given("--max-drop") && !v.is_null()) o.cfg.maxDrop = v.template get<double>(); }
      else if (key == "equalize") { if (!given("--equalize")) o.cfg.equalize = v.template get<bool>(); }
      else if (key == "absorb_bias") { if (!given("--absorb-bias")) o.cfg.absorbBias = v.template get<bool>(); }
      else if (key == "bias_correct") { if (!given("--bias-correct")) o.cfg.biasCorrect = v.template get<bool>(); }
      else if (key == "num_calib") { if (!given("--num-calib")) o.cfg.numCalib = wholeNumber<int64_t>(v, key); }
      else if (key == "seed") { if (!given("--seed")) o.cfg.seed = wholeNumber<uint32_t>(v, key); }
      else if (key == "finetune") applyFinetuneRecipe(v, given, o);
      else if (key == "passes") { /* derived from the settings above; recorded for readers */ }
      else throw Error(cat("unknown recipe setting '", key, "'"));
    }
  } catch (const nlohmann::json::exception &e) {
    throw Error(cat(path, ": a recipe value has the wrong type (", e.what(), ")"));
  } catch (const Error &e) {
    throw Error(cat(path, ": ", e.what()));
  }
  if (o.cfg.weights.bits < 2 || o.cfg.weights.bits > 8) throw Error(cat(path, ": wbits must be 2..8"));
}

}  // namespace

void addQuantizeCommand(CLI::App &app, Action &action) {
  struct Opts {
    QuantizeConfig cfg;
    std::string mean, std, granularity = "channel", groupOrder = "contiguous", weightObserver = "minmax",
                           actObserver = "minmax", weightScheme, inqSteps, exclude, recipe, finetune, blockInput = "float",
                actQuantizer = "lsq", weightQuantizer = "lsq", actMode = "symmetric";
    train::FinetuneConfig ft;
    bool json = false;
    bool concatScalesSet = false;  ///< a recipe gave share_concat_scales
  };
  auto o = std::make_shared<Opts>();
  CLI::App *cmd = app.add_subcommand(
      "quantize", "calibrate on an image folder, quantize weights and activations, export QDQ ONNX");
  cmd->add_option("model", o->cfg.modelPath, "float ONNX model")->required();
  cmd->add_option("--calib", o->cfg.calibDir, "calibration images (a flat folder or <dir>/<class>/<image>)");
  cmd->add_option("--calib-from", o->cfg.calibFrom, "reuse the activation ranges of an earlier --report of this model");
  cmd->add_option("-o,--output", o->cfg.outPath, "quantized QDQ ONNX file to write")->required();
  cmd->add_option("--report", o->cfg.reportPath, "JSON report to write (recipe, ranges, per-layer figures)");
  cmd->add_option("--num-calib", o->cfg.numCalib, "use N images, class-balanced (default: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->cfg.seed, "seed for picking calibration images");
  cmd->add_option("--wbits", o->cfg.weights.bits, "weight bits (2..8)")->check(CLI::Range(2, 8));
  cmd->add_option("--abits", o->cfg.actBits, "activation bits (2..8)")->check(CLI::Range(2, 8));
  cmd->add_option("--granularity", o->granularity, "weights: layer, channel or group:G (G groups of output channels)");
  cmd->add_option("--group-order", o->groupOrder, "group:G channels: contiguous or range (sorted by range)");
  cmd->add_option("--weight-observer", o->weightObserver, "minmax or mse (MSE-optimal clipping)");
  cmd->add_option("--weight-scheme", o->weightScheme,
                  "uniform levels; pot: power-of-two (shift-add) levels 0, +-2^j times the scale, j up to "
                  "2^(bits-1) - 2 (2..4 bits; 2 bits is ternary); or midrise: the 2^bits odd levels +-1, +-3, .. "
                  "+-(2^bits - 1) times the scale, no zero (DoReFa's; 2..7 bits). Default: uniform, midrise with "
                  "--weight-quantizer dorefa");
  cmd->add_option("--act-observer", o->actObserver,
                  "minmax, percentile:P, kl, mse, or sqnr: per tensor, whichever of minmax, percentile:99.99, "
                  "percentile:99.999, kl and mse gives the network outputs the highest SQNR against the float model "
                  "(int8 runner, up to 256 of the calibration images)");
  cmd->add_option("--act-mode", o->actMode,
                  "symmetric: codes around 0 (signed where a tensor goes negative); asymmetric: u8 codes with a "
                  "zero point for tensors that go negative (skewed ranges such as h-swish keep every code; "
                  "no fine-tune yet)");
  cmd->add_flag("--share-concat-scales,!--no-share-concat-scales", o->cfg.shareConcatScales,
                "a layer input split or shuffled out of a Concat takes the Concat output's scale, so the int8 "
                "runner moves codes through concatenations, channel shuffles and splits (a fine-tune trains the "
                "shared quantizer once). Default: shared with 8-bit activations, as ONNX Runtime and PyTorch FX "
                "quantize a Concat; each input its own below 8 bits, where one scale for a whole Concat costs "
                "accuracy");
  cmd->add_option("--first-last-bits", o->cfg.firstLastBits, "bits for the first and last layers")->check(CLI::Range(2, 8));
  cmd->add_option("--exclude", o->exclude, "node names to keep in float, comma-separated");
  cmd->add_option("--max-drop", o->cfg.maxDrop,
                  "keep the layers that cost the most in float until top-1 on the control images drops by at most "
                  "D points against the float model (int8 runner; without labels: top-1 agreement with float)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--control", o->cfg.controlDir,
                  "--max-drop's images, <dir>/<class>/<image> or flat (default: the calibration images)");
  cmd->add_option("--num-control", o->cfg.numControl, "--max-drop: use N control images, class-balanced (default: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--labels", o->cfg.labelsFile,
                  "--max-drop: class names, one per line in output order, naming the control folder's classes");
  cmd->add_flag("--equalize", o->cfg.equalize, "cross-layer equalization of Conv-ReLU-Conv chains first");
  cmd->add_flag("--absorb-bias", o->cfg.absorbBias,
                "high-bias absorption: move each Conv-Relu-Conv channel's calibrated lower bound into the next bias");
  cmd->add_flag("--bias-correct", o->cfg.biasCorrect, "empirical bias correction (calibration channel means)");
  addPreprocessOptions(cmd, o->cfg.preprocess, o->cfg.size, o->mean, o->std);
  cmd->add_option("--batch", o->cfg.batch, "images per batch (calibration and fine-tune)")->check(CLI::PositiveNumber);
  cmd->add_option("--finetune", o->finetune,
                  "distillation fine-tune on the calibration images: twostage (blockwise, then joint), "
                  "blockwise or global (joint only); inq: incremental quantization (largest weights frozen to their levels first, power-of-two or uniform)");
  cmd->add_option("--inq-steps", o->inqSteps,
                  "finetune inq: the shares of each layer's weights quantized at each step, largest first, "
                  "the rest retrained in between (default 0.5,0.75,0.875,1)");
  cmd->add_option("--block-iters", o->ft.blockIters, "fine-tune stage 1: steps per block")->check(CLI::PositiveNumber);
  cmd->add_option("--joint-epochs", o->ft.jointEpochs,
                  "fine-tune stage 2: most epochs over the images (default: 0.75 per weight layer, 15 to 45)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", o->ft.lr,
                  "fine-tune stage 2 learning rate (Adam, cosine decay; default: the largest of 1e-4, 3e-4, 1e-3 "
                  "within 10 % of the best 2-epoch trial on the held-back images)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--held-back", o->ft.heldBack,
                  "fine-tune: share of the images held back to pick the learning rate, stop stage 2 and pick the "
                  "epoch kept (default 0.1; 0 trains on all, then give --lr and --joint-epochs)")
      ->check(CLI::Range(0.0, 0.5));
  cmd->add_option("--block-lr", o->ft.blockLr, "fine-tune stage 1 learning rate (Adam, cosine decay per block)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--feature-loss", o->ft.featureWeight,
                  "fine-tune stage 2: add W x the blocks' output MSE against the float model (default 0: KL only)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", o->ft.temperature, "fine-tune stage 2: softmax temperature")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--block-input", o->blockInput, "fine-tune stage 1 block input: float (teacher's) or quantized");
  cmd->add_flag("--augment", o->ft.augment,
                "fine-tune stage 2: random left-right flips and shifts of the images (the teacher runs on each batch)");
  cmd->add_option("--augment-shift", o->ft.augmentShift, "fine-tune --augment: largest shift in pixels (default 4)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mixup", o->ft.mixup,
                  "fine-tune stage 2: train on mixes of image pairs, lambda ~ Beta(A, A) (the teacher runs on each "
                  "mix; 0: off)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ema", o->ft.ema,
                  "fine-tune stage 2: moving average of the parameters, decay per step (default 0.999; each "
                  "epoch the better of it and the current parameters on the held-back images is kept; 0: off)")
      ->check(CLI::Range(0.0, 0.99999));
  cmd->add_option("--keep-within", o->ft.keepWithin,
                  "fine-tune stage 2: keep the latest epoch whose held-back KL is within K standard errors of the "
                  "lowest (default 1; 0: the lowest)")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--structure-loss", o->ft.structureWeight,
                  "fine-tune stage 2 (SRQ): add W x the mean squared difference of the float and quantized "
                  "networks' batch cosine-similarity matrices of the penultimate block's output (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--lipschitz-loss", o->ft.lipschitzWeight,
                  "fine-tune stage 2 (SRQ): add W x the squared excess of each pair's distance in the quantized "
                  "network's normalised features over --lipschitz-bound times the float network's (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--lipschitz-bound", o->ft.lipschitzBound, "the bound K of --lipschitz-loss (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--perturb-loss", o->ft.perturbWeight,
                  "fine-tune stage 2 (SRQ): add W x the mean squared change of the logits when each image moves "
                  "--perturb-eps along the sign of the step's input gradient (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--perturb-eps", o->ft.perturbEps, "the move of --perturb-loss in pixel units of [0, 1] images (default 2/255)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--spectral-loss", o->ft.spectralWeight,
                  "fine-tune stage 2 (SRQ): add W x the sum over weight layers of their largest singular value "
                  "squared (power iteration; default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--act-quantizer", o->actQuantizer,
                  "fine-tune activation quantizers: lsq (learnable steps), pact (learnable clip of unsigned "
                  "activations; signed ones keep lsq) or dorefa (the calibrated clip kept, nothing learned)");
  cmd->add_option("--weight-quantizer", o->weightQuantizer,
                  "fine-tune weight quantizers: lsq (learnable steps) or dorefa (tanh-normalised weights, "
                  "step = largest |w| / largest code per channel, group or layer; mid-rise levels unless "
                  "--weight-scheme says otherwise)");
  cmd->add_option("--threads", o->cfg.threads, "threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--recipe", o->recipe,
                  "JSON with the settings above (wbits, abits, granularity, ...); a report's recipe works too; "
                  "flags given on the command line win");
  cmd->add_flag("--verify-each", o->cfg.passes.verifyEach, "verify the graph after every pass");
  cmd->add_option("--dump-after", o->cfg.passes.dumpAfter, "print the graph to stderr after this pass")
      ->check(CLI::IsMember(allPassNames()));
  cmd->add_flag("--print-passes", o->cfg.passes.verbose, "one line per pass on stderr");
  cmd->add_flag("--json", o->json, "print the report as JSON on stdout");
  cmd->callback([o, &action, cmd] {
    action = [o, cmd]() -> int {
      if (!o->recipe.empty()) applyRecipe(o->recipe, *cmd, *o);
      if (!cmd->count("--share-concat-scales") && !o->concatScalesSet) o->cfg.shareConcatScales = o->cfg.actBits >= 8;
      finishPreprocessOptions(o->cfg.preprocess, o->cfg.size, o->mean, o->std);
      usage([&] { parseGranularity(o->granularity, o->cfg.weights); });
      if (o->groupOrder == "range")
        o->cfg.weights.groupOrder = WeightQuantConfig::GroupOrder::ByRange;
      else if (o->groupOrder != "contiguous")
        throw UsageError(cat("--group-order '", o->groupOrder, "' is not contiguous or range"));
      if (o->weightObserver == "mse")
        o->cfg.weights.observer = WeightQuantConfig::Observer::Mse;
      else if (o->weightObserver != "minmax")
        throw UsageError(cat("--weight-observer '", o->weightObserver, "' is not minmax or mse"));
      o->cfg.act = usage([&] { return ActObserverConfig::parse(o->actObserver); });
      if (o->actMode != "symmetric" && o->actMode != "asymmetric")
        throw UsageError(cat("--act-mode '", o->actMode, "' is not symmetric or asymmetric"));
      o->cfg.actAsymmetric = o->actMode == "asymmetric";
      if (o->cfg.actAsymmetric && !o->finetune.empty())
        throw UsageError("--act-mode asymmetric: the fine-tune's activation quantizers are symmetric; "
                         "quantize without --finetune, or with --act-mode symmetric");
      // DoReFa's weights lie on its mid-rise grid unless another scheme is asked for.
      const bool dorefa = !o->finetune.empty() && o->weightQuantizer == "dorefa";
      const std::string scheme = !o->weightScheme.empty() ? o->weightScheme : dorefa ? "midrise" : "uniform";
      o->cfg.weights.scheme = usage([&] { return parseWeightScheme(scheme); }, "--weight-scheme");
      if (!o->exclude.empty()) o->cfg.exclude = split(o->exclude, ',');
      if (o->cfg.maxDrop && !std::isfinite(*o->cfg.maxDrop))  // CLI11's range check lets NaN through
        throw UsageError(cat("--max-drop ", *o->cfg.maxDrop, " is not a number of points in 0..100"));
      if (!o->cfg.maxDrop)
        for (const char *flag : {"--control", "--num-control", "--labels"})
          if (cmd->count(flag)) throw UsageError(cat(flag, " is for accuracy control: give --max-drop D"));
      if (o->finetune.empty()) {  // fine-tune settings without a fine-tune are a mistake, not a no-op
        for (const char *flag : {"--block-iters", "--joint-epochs", "--lr", "--held-back", "--block-lr", "--temperature",
                                 "--feature-loss", "--block-input", "--act-quantizer", "--weight-quantizer", "--augment", "--augment-shift", "--mixup",
                                 "--ema", "--keep-within", "--inq-steps", "--structure-loss", "--lipschitz-loss", "--lipschitz-bound",
                                 "--perturb-loss", "--perturb-eps", "--spectral-loss"})
          if (cmd->count(flag)) throw Error(cat(flag, " sets up a fine-tune: give --finetune twostage|blockwise|global"));
      } else {
        o->ft.mode = train::FinetuneConfig::parseMode(o->finetune);
        if (o->blockInput != "float" && o->blockInput != "quantized")
          throw Error(cat("--block-input '", o->blockInput, "' is not float or quantized"));
        o->ft.blockInputFromFloat = o->blockInput == "float";
        o->ft.activations = usage([&] { return train::parseActivationQuantizer(o->actQuantizer); }, "--act-quantizer");
        o->ft.weightQuantizer = usage([&] { return train::parseWeightQuantizer(o->weightQuantizer); }, "--weight-quantizer");
        o->ft.batch = o->cfg.batch;
        o->ft.seed = o->cfg.seed;
        o->ft.progress = o->cfg.progress;
        o->ft.pixelStd = o->cfg.preprocess.std;
        if (!o->inqSteps.empty()) o->ft.inqSteps = usage([&] { return parseFloatList(o->inqSteps, "--inq-steps"); });
        o->cfg.finetune = o->ft;
      }
      nlohmann::json r = runQuantize(o->cfg);
      if (o->json) {
        std::printf("%s\n", r.dump(2).c_str());
      } else {
        double worst = 1e9;
        std::string worstLayer;
        for (const auto &w : r["weights"])
          if (w["sqnr_db"].get<double>() < worst) {
            worst = w["sqnr_db"].get<double>();
            worstLayer = w["node"].get<std::string>();
          }
        std::printf("wrote %s: %zu weights, %zu activations quantized (%s)", o->cfg.outPath.c_str(), r["weights"].size(),
                    r["activations"].size(), r["recipe"]["granularity"].get<std::string>().c_str());
        if (!worstLayer.empty()) std::printf("; lowest weight SQNR %.1f dB at %s", worst, worstLayer.c_str());
        if (r.contains("accuracy_control")) {
          const nlohmann::json &a = r["accuracy_control"];
          std::printf("; %zu layers kept in float for a drop of %.2f (%s)", a["float_layers"].size(),
                      a["drop_after"].get<double>(), a["metric"].get<std::string>().c_str());
        }
        std::printf("\n");
      }
      return 0;
    };
  });
}

}  // namespace lowbit
