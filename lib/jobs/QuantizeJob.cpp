#include "jobs/QuantizeJob.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "calib/ChannelStatistics.h"
#include "data/BatchLoader.h"
#include "data/CalibrationSet.h"
#include "export/OnnxExporter.h"
#include "jobs/ModelLoader.h"
#include "kernels/QuantizeRef.h"
#include "ops/OpParams.h"
#include "passes/PassManager.h"
#include "quant/BiasCorrection.h"
#include "quant/HighBiasAbsorption.h"
#include "runtime/Executor.h"
#include "support/File.h"
#include "support/Hash.h"
#include "support/Progress.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

std::string granularityName(const QuantParams &p) {
  switch (p.granularity) {
    case QuantParams::Granularity::PerTensor: return "layer";
    case QuantParams::Granularity::PerChannel: return "channel";
    case QuantParams::Granularity::PerGroup: return cat("group:", p.groups);
  }
  return "?";
}

struct LayerPlan {
  Node *node;
  int bits;
};

// Calibrates the activations \p names over \p images; one or two passes over the data.
std::vector<ActivationObserver> calibrate(const Graph &g, const std::vector<std::string> &names,
                                          const BatchLoader &loader, const QuantizeConfig &cfg,
                                          std::vector<ChannelStatistics> *means) {
  ExecutorOptions opts;
  opts.taps = names;
  Executor exec(g, opts);
  std::vector<ActivationObserver> obs(names.size());
  const bool histogram = cfg.act.kind != ActObserverConfig::Kind::MinMax;
  const int passes = histogram ? 2 : 1;
  const size_t batch = static_cast<size_t>(std::max(1, cfg.batch));
  for (int pass = 0; pass < passes; ++pass) {
    Progress progress(cat("calibrate pass ", pass + 1, "/", passes), static_cast<int64_t>(loader.size()));
    std::vector<Tensor> taps;
    for (size_t b = 0; b < loader.size(); b += batch) {
      size_t e = std::min(loader.size(), b + batch);
      Tensor x = loader.load(b, e, nullptr);
      exec.run({x}, &taps);
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
      if (cfg.progress) progress.advance(static_cast<int64_t>(e - b));
    }
    if (cfg.progress) progress.finish();
  }
  return obs;
}

// High-bias absorption: each Conv-Relu-Conv chain's per-channel lower bound of the Relu input,
// measured on the calibration images, moves into the second convolution's bias.
nlohmann::json absorbHighBiasOnData(Graph &g, const BatchLoader &loader, const QuantizeConfig &cfg) {
  std::vector<ConvChain> chains;
  for (const ConvChain &c : findConvChains(g))
    if (c.relu) chains.push_back(c);
  nlohmann::json report = nlohmann::json::array();
  if (chains.empty()) return report;
  std::vector<std::string> names;
  for (const ConvChain &c : chains) names.push_back(c.first->output(0)->name());
  std::vector<ChannelStatistics> stats(names.size());
  {
    ExecutorOptions opts;
    opts.taps = names;
    Executor exec(g, opts);
    const size_t batch = static_cast<size_t>(std::max(1, cfg.batch));
    Progress progress("absorb bias: channel statistics", static_cast<int64_t>(loader.size()));
    std::vector<Tensor> taps;
    for (size_t b = 0; b < loader.size(); b += batch) {
      const size_t e = std::min(loader.size(), b + batch);
      exec.run({loader.load(b, e, nullptr)}, &taps);
      for (size_t i = 0; i < names.size(); ++i) stats[i].observe(taps[i]);
      if (cfg.progress) progress.advance(static_cast<int64_t>(e - b));
    }
    if (cfg.progress) progress.finish();
  }
  for (size_t i = 0; i < chains.size(); ++i) {
    const AbsorbedBias r = absorbHighBias(g, chains[i], absorptionBound(stats[i]));
    report.push_back({{"first", r.first}, {"second", r.second}, {"channels", r.channels}, {"max_shift", r.maxShift}});
  }
  return report;
}

}  // namespace

nlohmann::json runQuantize(const QuantizeConfig &cfg) {
  if (cfg.actBits < 2 || cfg.actBits > 8) throw Error(cat("--abits ", cfg.actBits, " is outside 2..8"));
  if (cfg.firstLastBits != 0 && (cfg.firstLastBits < 2 || cfg.firstLastBits > 8))
    throw Error(cat("--first-last-bits ", cfg.firstLastBits, " is outside 2..8"));
  if (cfg.outPath.empty()) throw Error("quantize needs an output file (-o OUT.onnx)");
  setNumThreads(cfg.threads);
  const std::string modelBytes = readFile(cfg.modelPath);
  const std::string modelHash = hashString(fnv1a64(modelBytes));
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath, cfg.passes);
  for (const Node *n : g->nodes())
    if (n->opType() == "QuantizeLinear" || n->opType() == "DequantizeLinear")
      throw Error(cat(cfg.modelPath, ": is quantized already (", n->describe(), "); quantize the float model"));
  if (cfg.equalize) runPasses(*g, {"EqualizeCrossLayer"}, cfg.passes);
  ImageInputInfo in = imageInputOf(*g, cfg.modelPath);
  const int height = in.height > 0 ? in.height : cfg.size, width = in.width > 0 ? in.width : cfg.size;
  if (height <= 0 || width <= 0)
    throw Error(cat(cfg.modelPath, ": input '", in.name, "' has dynamic height/width; give --size"));
  std::vector<ImageEntry> images;  // the calibration images (also the fine-tune's data)
  if (cfg.calibFrom.empty()) {
    if (cfg.calibDir.empty()) throw Error("quantize needs --calib DIR (or --calib-from REPORT.json)");
    images = pickBalancedImages(scanImageFolder(cfg.calibDir), cfg.numCalib, cfg.seed);
  } else {
    if (cfg.biasCorrect) throw Error("--bias-correct needs calibration images (--calib), not --calib-from");
    if (cfg.absorbBias) throw Error("--absorb-bias needs calibration images (--calib), not --calib-from");
  }
  nlohmann::json absorbReport;
  if (cfg.absorbBias)
    absorbReport = absorbHighBiasOnData(*g, BatchLoader(images, cfg.preprocess, in.channels, height, width), cfg);

  // Which layers: Conv/Gemm/MatMul with constant weights, minus --exclude.
  std::set<std::string> excluded(cfg.exclude.begin(), cfg.exclude.end());
  for (const std::string &name : excluded)
    if (!g->findNode(name))
      throw Error(cat("--exclude: the model has no node named '", name, "' (see lowbit inspect)"));
  std::vector<LayerPlan> layers;
  for (Node *n : g->nodes()) {
    if ((n->opType() == "Conv" || n->opType() == "Gemm" || n->opType() == "MatMul") && n->input(1) &&
        n->input(1)->isConstant() && !excluded.count(n->name()))
      layers.push_back({n, cfg.weights.bits});
  }
  if (layers.empty()) throw Error(cat(cfg.modelPath, ": no Conv, Gemm or MatMul with constant weights to quantize"));
  if (cfg.firstLastBits) layers.front().bits = layers.back().bits = cfg.firstLastBits;

  // Weights now (no data needed).
  nlohmann::json weightsReport = nlohmann::json::array();
  std::map<const Value *, int> actBits;  // activation -> bits (the widest any reader asks for)
  std::vector<const Value *> actOrder;   // the same activations in graph order (deterministic)
  auto wantActivation = [&](const Value *v, int bits) {
    if (!actBits.count(v)) actOrder.push_back(v);
    actBits[v] = std::max(actBits[v], bits);
  };
  for (const LayerPlan &l : layers) {
    Value *w = l.node->input(1);
    WeightQuantConfig wc = cfg.weights;
    wc.bits = l.bits;
    const int axis = weightOutputAxis(*l.node);
    if (wc.granularity == QuantParams::Granularity::PerGroup &&
        static_cast<int64_t>(wc.groups) > w->dims()[static_cast<size_t>(axis)])
      wc.groups = static_cast<int>(w->dims()[static_cast<size_t>(axis)]);  // fewer channels than groups
    std::vector<int> degenerate;
    QuantParams p = computeWeightParams(*w->constant(), axis, wc, &degenerate);
    Tensor fq = fakeQuantizeWeights(*w->constant(), p);
    std::vector<float> ref = w->constant()->toFloats();
    nlohmann::json wr = {{"node", l.node->name()}, {"weight", w->name()}, {"bits", p.bits},
                         {"granularity", granularityName(p)},
                         {"sqnr_db", sqnrDb(ref.data(), fq.data<float>(), ref.size())}};
    if (!degenerate.empty()) wr["all_zero_units"] = degenerate;
    weightsReport.push_back(wr);
    w->quant = p;
    const int aBits = (cfg.firstLastBits && l.node == layers.front().node) ? cfg.firstLastBits : cfg.actBits;
    if (Value *x = l.node->input(0); x && !x->isConstant()) wantActivation(x, aBits);
    if (l.node->fusedAdd) {  // the residual operand is read as quantized data too
      Value *other = l.node->fusedAdd->input(0) == l.node->output(0) ? l.node->fusedAdd->input(1)
                                                                     : l.node->fusedAdd->input(0);
      wantActivation(other, cfg.actBits);
    }
  }

  // Activations: calibrate on the chosen images.
  std::vector<std::string> names;
  std::vector<Value *> values;
  for (const Value *v : actOrder) {
    names.push_back(v->name());
    values.push_back(const_cast<Value *>(v));
  }
  // Activation ranges: calibrated on images, or reused from an earlier report of this model.
  struct Range {
    float min, max, clip;
  };
  std::vector<Range> ranges;
  std::vector<ChannelStatistics> means(names.size());
  size_t calibImages = 0;
  double calibSeconds = 0;
  if (!cfg.calibFrom.empty()) {
    nlohmann::json old;
    try {
      old = nlohmann::json::parse(readFile(cfg.calibFrom));
    } catch (const nlohmann::json::exception &e) {
      throw Error(cat(cfg.calibFrom, ": not a lowbit report (", e.what(), ")"));
    }
    const std::string oldHash = old.value("model_hash", "");
    if (oldHash != modelHash)
      throw Error(cat(cfg.calibFrom, " was made for a different model (report hash ", oldHash, ", model hash ",
                      modelHash, "); re-run lowbit quantize with --calib"));
    std::map<std::string, Range> byName;
    for (const auto &a : old.value("activations", nlohmann::json::array()))
      byName[a.at("tensor").get<std::string>()] = {a.at("min").get<float>(), a.at("max").get<float>(),
                                                   a.at("clip").get<float>()};
    for (const std::string &name : names) {
      auto it = byName.find(name);
      if (it == byName.end())
        throw Error(cat(cfg.calibFrom, ": has no range for activation '", name,
                        "' (made with other layers or --exclude); re-run with --calib"));
      ranges.push_back(it->second);
    }
    calibImages = old.value("calibration", nlohmann::json::object()).value("images", size_t{0});
  } else {
    calibImages = images.size();
    if (cfg.progress)
      std::fprintf(stderr,
                   "quantize %s: %zu layers, weights %d-bit %s (%s), activations %d-bit (%s)%s; "
                   "calibrating %zu activations on %zu images from %s\n",
                   cfg.modelPath.c_str(), layers.size(), cfg.weights.bits,
                   granularityName(*layers[0].node->input(1)->quant).c_str(),
                   cfg.weights.observer == WeightQuantConfig::Observer::Mse ? "mse" : "minmax", cfg.actBits,
                   cfg.act.name().c_str(),
                   cfg.firstLastBits ? cat(", first/last layers ", cfg.firstLastBits, "-bit").c_str() : "",
                   names.size(), images.size(), cfg.calibDir.c_str());
    BatchLoader loader(images, cfg.preprocess, in.channels, height, width);
    Progress timer("quantize", 1);
    std::vector<ActivationObserver> obs = calibrate(*g, names, loader, cfg, cfg.biasCorrect ? &means : nullptr);
    calibSeconds = timer.elapsedSeconds();
    for (size_t i = 0; i < obs.size(); ++i)
      ranges.push_back({obs[i].minValue(), obs[i].maxValue(), obs[i].clip(cfg.act, actBits.at(values[i]))});
  }

  nlohmann::json actReport = nlohmann::json::array();
  std::vector<std::string> degenerateActs;
  for (size_t i = 0; i < values.size(); ++i) {
    const Range &rg = ranges[i];
    const int bits = actBits.at(values[i]);
    QuantParams p;
    p.bits = bits;
    p.isSigned = rg.min < 0.f;  // never negative (e.g. after ReLU): unsigned codes
    p.state = QuantParams::State::Calibrated;
    const QuantRange r = quantRange(bits, p.isSigned, false);
    // s = clip / qmax; a constant-zero tensor gets scale 1 (all codes 0), never 0/inf/NaN.
    const float scale = rg.clip > 0.f ? rg.clip / static_cast<float>(r.qmax) : 1.f;
    if (!(rg.clip > 0.f)) degenerateActs.push_back(values[i]->name());
    p.scale = {scale};
    p.zeroPoint = {0};
    values[i]->quant = p;
    actReport.push_back({{"tensor", values[i]->name()}, {"bits", bits}, {"signed", p.isSigned},
                         {"min", rg.min}, {"max", rg.max}, {"clip", rg.clip}, {"scale", scale}});
  }

  // The distillation teacher is the float model: cloned before bias correction, which rewrites
  // biases for the quantized weights only (equalization and absorption keep the float function).
  std::unique_ptr<Graph> teacher;
  if (cfg.finetune) {
    teacher = g->clone();
    for (Value *v : teacher->values()) v->quant.reset();
  }

  // Empirical bias correction: remove the expected output shift each weight quantization causes.
  nlohmann::json biasReport = nlohmann::json::array();
  if (cfg.biasCorrect) {
    for (const LayerPlan &l : layers) {
      Value *w = l.node->input(1), *x = l.node->input(0);
      auto it = std::find(names.begin(), names.end(), x ? x->name() : "");
      if (it == names.end()) continue;
      const std::vector<double> mean = means[static_cast<size_t>(it - names.begin())].means();
      const Tensor wq = fakeQuantizeWeights(*w->constant(), *w->quant);
      std::vector<float> eps = expectedOutputShift(*w->constant(), wq, mean, l.node->attrInt("group", 1),
                                                   weightOutputAxis(*l.node));
      if (l.node->opType() == "MatMul") continue;  // no bias input to correct
      Value *b = l.node->input(2);
      std::vector<float> bias = b ? b->constant()->toFloats() : std::vector<float>(eps.size(), 0.f);
      if (bias.size() != eps.size()) continue;  // e.g. a Gemm with a matrix C
      float worst = 0.f;
      for (size_t c = 0; c < bias.size(); ++c) {
        bias[c] -= eps[c];
        worst = std::max(worst, std::fabs(eps[c]));
      }
      Value *nb = g->addConstant(g->uniqueName(l.node->name() + "_bias_corrected"),
                                 Tensor::fromVector<float>({static_cast<int64_t>(bias.size())}, bias));
      l.node->inputs().resize(3);
      l.node->inputs()[2] = nb;
      biasReport.push_back({{"node", l.node->name()}, {"max_abs_shift", worst}});
    }
  }

  // Limited-data distillation: the float model teaches.
  nlohmann::json finetuneReport;
  if (cfg.finetune) {
    if (images.empty()) throw Error("--finetune needs the calibration images (--calib DIR), not --calib-from");
    BatchLoader loader(images, cfg.preprocess, in.channels, height, width);
    const Tensor all = loader.load(0, images.size(), nullptr);
    Progress timer("finetune", 1);
    finetuneReport = train::finetune(*g, *teacher, all, *cfg.finetune);
    finetuneReport["seconds"] = timer.elapsedSeconds();
    finetuneReport["images"] = images.size();
  }

  // Materialise QDQ, stamp and export.
  const std::string granularity = granularityName(*layers[0].node->input(1)->quant);
  // Per-channel DequantizeLinear (axis) needs opset 13.
  const bool upgraded = !runPasses(*g, {"UpgradeOpset13"}, cfg.passes).empty();
  runPasses(*g, {"InsertQDQ", "DeadCodeElimination"}, cfg.passes);
  nlohmann::json bitsMeta;
  for (const auto &w : weightsReport) bitsMeta["weights"][w["weight"].get<std::string>()] = w["bits"];
  for (const auto &a : actReport) bitsMeta["activations"][a["tensor"].get<std::string>()] = a["bits"];
  g->metadata.emplace_back("lowbit.quantization", bitsMeta.dump());
  g->metadata.emplace_back("lowbit.source_model_hash", modelHash);
  exportOnnxFile(*g, cfg.outPath);

  nlohmann::json report;
  report["tool"] = cat("lowbit ", LOWBIT_VERSION);
  report["model"] = cfg.modelPath;
  report["model_hash"] = modelHash;
  report["output"] = cfg.outPath;
  report["recipe"] = {{"wbits", cfg.weights.bits},
                      {"abits", cfg.actBits},
                      {"granularity", granularity},
                      {"group_order", cfg.weights.groupOrder == WeightQuantConfig::GroupOrder::ByRange ? "range" : "contiguous"},
                      {"weight_observer", cfg.weights.observer == WeightQuantConfig::Observer::Mse ? "mse" : "minmax"},
                      {"act_observer", cfg.act.name()},
                      {"first_last_bits", cfg.firstLastBits},
                      {"equalize", cfg.equalize},
                      {"absorb_bias", cfg.absorbBias},
                      {"bias_correct", cfg.biasCorrect},
                      {"exclude", cfg.exclude},
                      {"num_calib", calibImages},
                      {"seed", cfg.seed},
                      {"passes", floatPreparePipeline()}};
  if (cfg.equalize) report["recipe"]["passes"].push_back("EqualizeCrossLayer");
  if (upgraded) report["recipe"]["passes"].push_back("UpgradeOpset13");
  report["recipe"]["passes"].push_back("InsertQDQ");
  report["calibration"] = {{"folder", cfg.calibDir}, {"images", calibImages}, {"seconds", calibSeconds}};
  if (!cfg.calibFrom.empty()) report["calibration"]["from_report"] = cfg.calibFrom;
  report["weights"] = weightsReport;
  report["activations"] = actReport;
  if (cfg.absorbBias) report["bias_absorption"] = absorbReport;
  if (cfg.biasCorrect) report["bias_correction"] = biasReport;
  if (!degenerateActs.empty()) report["constant_zero_activations"] = degenerateActs;
  if (cfg.finetune) {
    const train::FinetuneConfig &f = *cfg.finetune;
    report["recipe"]["finetune"] = {{"mode", finetuneReport["mode"]}, {"block_iters", f.blockIters},
                                    {"block_lr", f.blockLr}, {"batch", f.batch},
                                    {"temperature", f.temperature}, {"feature_weight", f.featureWeight}, {"seed", f.seed},
                                    {"block_input", f.blockInputFromFloat ? "float" : "quantized"},
                                    {"activation_quantizer", train::activationQuantizerName(f.activations)},
                                    {"augment", f.augment}, {"augment_shift", f.augmentShift}};
    // The stage-2 budget and learning rate as used (searched or given): replaying the recipe
    // repeats the run without the search.
    if (finetuneReport.contains("stage2")) {
      report["recipe"]["finetune"]["joint_epochs"] = finetuneReport["stage2"]["max_epochs"];
      report["recipe"]["finetune"]["lr"] = finetuneReport["stage2"]["lr"];
    }
    report["recipe"]["finetune"]["held_back"] = f.heldBack;
    report["finetune"] = finetuneReport;
  }
  if (!cfg.reportPath.empty()) writeFileAtomic(cfg.reportPath, report.dump(2) + "\n");
  return report;
}

}  // namespace lowbit
