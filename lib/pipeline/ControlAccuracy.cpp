// ControlAccuracy (--max-drop D): keeps the layers that cost the most accuracy in float until
// the quantized model loses at most D points of top-1 against the float model (ctx.teacher) on
// the control images (cfg.controlDir, else the calibration images), as NNCF's accuracy-aware
// quantization and AIMET's per-layer analysis do. The drop is measured on the int8 runner
// (SimulationProbe): top-1 on the folder's labels (integer folder names, --labels, or sorted
// folder names with one folder per output), or on an unlabelled folder the share of images
// whose top-1 class changes. Layers are ranked once by the output SQNR the model reaches with
// that layer alone in float (on up to kRankingImages of the control images), then put back to
// float in that order, the drop re-measured after each, until it is within D.
// A layer kept in float: its weight FloatOnly, its bias as before CorrectBias
// (ctx.uncorrectedBias), and each activation no quantized layer reads any longer unquantized.
// Runs after CorrectBias (the model measured is the one exported) and before Finetune (which
// then trains the layers left quantized). Updates ctx.layers, ctx.activations (and the parallel
// ranges and means), report sections "weights", "activations" and "bias_correction"; report
// section "accuracy_control".
#include <algorithm>
#include <cstdio>
#include <set>

#include "pipeline/QuantizePipeline.h"
#include "pipeline/SimulationProbe.h"
#include "support/Progress.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

// Rewrites \p g (ctx.graph or a clone of it) with the layers named \p floatLayers in float.
void keepInFloat(Graph &g, const QuantizeContext &ctx, const std::set<std::string> &floatLayers) {
  std::set<std::string> needed;  // activations a layer still quantized reads
  for (const LayerPlan &l : ctx.layers) {
    Node *n = g.findNode(l.node->name());
    if (floatLayers.count(n->name())) {
      n->input(1)->quant = QuantParams::floatOnly();
      if (auto it = ctx.uncorrectedBias.find(n->name()); it != ctx.uncorrectedBias.end()) {
        if (it->second.empty())
          n->inputs().resize(2);
        else
          n->inputs()[2] = g.findValue(it->second);
      }
      continue;
    }
    if (const Value *x = n->input(0); x && x->quant) {
      needed.insert(x->name());
      if (!x->quant->sharedFrom.empty()) needed.insert(x->quant->sharedFrom);
    }
    if (n->fusedAdd) needed.insert(n->residualOperand()->name());
  }
  for (const Value *a : ctx.activations)
    if (!needed.count(a->name())) g.findValue(a->name())->quant.reset();
}

// Removes the entries of report section \p key whose \p field is in \p names.
void dropEntries(nlohmann::json &report, const std::string &key, const std::string &field,
                 const std::set<std::string> &names) {
  if (!report.contains(key)) return;
  nlohmann::json kept = nlohmann::json::array();
  for (const nlohmann::json &e : report[key])
    if (!names.count(e.at(field).get<std::string>())) kept.push_back(e);
  report[key] = kept;
}

}  // namespace

void runControlAccuracy(QuantizeContext &ctx) {
  const QuantizeConfig &cfg = ctx.cfg;
  const double maxDrop = *cfg.maxDrop;
  if (!ctx.teacher) throw Error("--max-drop needs the float model (SnapshotTeacher) to run first");
  // The control images, labelled as eval would label them.
  std::vector<ImageEntry> images;
  const std::string dir = cfg.controlDir.empty() ? cfg.calibDir : cfg.controlDir;
  if (dir.empty()) throw Error("--max-drop measures accuracy on images: give --control DIR (or --calib DIR)");
  const ImageSet set = scanImageFolder(dir, cfg.labelsFile);
  if (cfg.controlDir.empty()) {
    std::map<std::string, int> labelOf;  // the calibration images, labelled through --labels too
    for (const ImageEntry &e : set.images) labelOf[e.path] = e.label;
    images = ctx.images;
    for (ImageEntry &e : images) e.label = labelOf.at(e.path);
  } else {
    images = pickBalancedImages(set, cfg.numControl, cfg.seed);
  }
  if (images.empty())  // --calib-from: no calibration images were loaded
    throw Error(cat("--max-drop: no control images (with --calib-from, give --control DIR)"));
  Progress timer("accuracy control", 1);
  const SimulationProbe control(ctx, *ctx.teacher, images);
  if (set.labelled()) requireLabelsFit(set, control.classes(), cfg.modelPath, dir);
  const SimulationProbe ranking(ctx, *ctx.teacher, SimulationProbe::spread(images, SimulationProbe::kRankingImages));

  const SimulationProbe::Figures before = control.measure(ctx.graph);
  nlohmann::json report = {{"max_drop", maxDrop},
                           {"metric", control.metric()},
                           {"images", control.size()},
                           {"folder", dir},
                           {"drop_before", control.drop(before)},
                           {"output_sqnr_db_before", before.sqnrDb}};
  if (control.labelled()) {
    report["labels"] = set.labelDescription();
    report["float_top1"] = control.floatTop1();
    report["top1_before"] = before.top1;
  }
  if (cfg.progress)
    std::fprintf(stderr, "accuracy control: %s on %zu images, drop %.2f (at most %.2f asked)\n",
                 control.metric().c_str(), control.size(), control.drop(before), maxDrop);
  std::set<std::string> floatLayers;
  nlohmann::json steps = nlohmann::json::array();
  SimulationProbe::Figures after = before;
  if (control.drop(before) > maxDrop) {
    // Rank: the output SQNR with each layer alone in float, highest first.
    std::vector<std::pair<double, std::string>> ranked;
    Progress progress("accuracy control: ranking", static_cast<int64_t>(ctx.layers.size()), "layers");
    for (const LayerPlan &l : ctx.layers) {
      std::unique_ptr<Graph> g = ctx.graph.clone();
      keepInFloat(*g, ctx, {l.node->name()});
      ranked.emplace_back(ranking.measure(std::move(g)).sqnrDb, l.node->name());
      if (cfg.progress) progress.advance(1);
    }
    if (cfg.progress) progress.finish();
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto &a, const auto &b) { return a.first > b.first; });
    for (const auto &[sqnr, name] : ranked) {
      floatLayers.insert(name);
      std::unique_ptr<Graph> g = ctx.graph.clone();
      keepInFloat(*g, ctx, floatLayers);
      after = control.measure(std::move(g));
      steps.push_back({{"node", name}, {"output_sqnr_db_alone_in_float", sqnr}, {"drop", control.drop(after)}});
      if (cfg.progress)
        std::fprintf(stderr, "accuracy control: %s in float (output SQNR %.2f dB alone): drop %.2f\n", name.c_str(),
                     sqnr, control.drop(after));
      if (control.drop(after) <= maxDrop) break;
    }
  }
  report["float_layers"] = floatLayers;
  report["steps"] = steps;
  report["drop_after"] = control.drop(after);
  report["output_sqnr_db_after"] = after.sqnrDb;
  if (control.labelled()) report["top1_after"] = after.top1;
  report["met"] = control.drop(after) <= maxDrop;
  report["seconds"] = timer.elapsedSeconds();
  if (control.drop(after) > maxDrop)
    ctx.warn(cat("--max-drop ", maxDrop, ": the drop is still ", control.drop(after), " with every layer in float (",
                 control.metric(), " on ", control.size(), " images varies by whole images)"));

  // Apply the choice to the graph and to what later passes and the report read.
  if (!floatLayers.empty()) {
    keepInFloat(ctx.graph, ctx, floatLayers);
    std::set<std::string> unquantized;
    std::vector<Value *> activations;
    std::vector<ActivationRange> ranges;
    std::vector<ChannelStatistics> means;
    for (size_t i = 0; i < ctx.activations.size(); ++i) {
      if (!ctx.activations[i]->quant) {
        unquantized.insert(ctx.activations[i]->name());
        ctx.activationBits.erase(ctx.activations[i]);
        continue;
      }
      activations.push_back(ctx.activations[i]);
      ranges.push_back(ctx.ranges[i]);
      if (i < ctx.means.size()) means.push_back(ctx.means[i]);
    }
    ctx.activations = activations;
    ctx.ranges = ranges;
    ctx.means = means;
    ctx.layers.erase(std::remove_if(ctx.layers.begin(), ctx.layers.end(),
                                    [&](const LayerPlan &l) { return floatLayers.count(l.node->name()) > 0; }),
                     ctx.layers.end());
    dropEntries(ctx.report, "weights", "node", floatLayers);
    dropEntries(ctx.report, "bias_correction", "node", floatLayers);
    dropEntries(ctx.report, "activations", "tensor", unquantized);
    report["unquantized_activations"] = unquantized;
  }
  ctx.report["accuracy_control"] = report;
}

}  // namespace lowbit
