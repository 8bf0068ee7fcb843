#include "jobs/EvalJob.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "data/BatchLoader.h"
#include "data/CalibrationSet.h"
#include "jobs/ModelLoader.h"
#include "ops/Evaluate.h"
#include "runtime/Executor.h"
#include <nlohmann/json.hpp>

#include "support/File.h"
#include "support/Progress.h"
#include "support/Strings.h"

namespace lowbit {

namespace {

// Rank of the label's logit among \p k logits (0 = best), ordered by value and then by index,
// as argmax in PyTorch, NumPy and ONNX Runtime's ArgMax breaks ties (quantized logits tie often).
int rankOf(const float *logits, int k, int label) {
  int rank = 0;
  for (int j = 0; j < k; ++j)
    if (logits[j] > logits[label] || (j < label && logits[j] == logits[label])) ++rank;
  return rank;
}

// Bit widths of a QDQ model: lowbit's own metadata when present (it knows sub-8-bit widths),
// else one 8-bit entry per QuantizeLinear/weight DequantizeLinear.
struct BitWidths {
  std::map<int, int> weights, acts;  ///< bits -> tensors
  bool below8() const {
    return (!weights.empty() && weights.begin()->first < 8) || (!acts.empty() && acts.begin()->first < 8);
  }
};

BitWidths bitWidths(const Graph &g) {
  BitWidths b;
  bool fromMetadata = false;
  for (const auto &[key, value] : g.metadata) {
    if (key != "lowbit.quantization") continue;
    // Another tool's file may hold anything under this key: only a well-formed stamp counts.
    nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_object()) continue;
    auto counts = [&](const char *section, std::map<int, int> &into) {
      const auto it = j.find(section);
      if (it == j.end()) return true;
      if (!it->is_object()) return false;
      for (const auto &[name, bits] : it->items()) {
        if (!bits.is_number_integer()) return false;
        into[bits.get<int>()]++;
      }
      return true;
    };
    BitWidths stamped;
    if (!counts("weights", stamped.weights) || !counts("activations", stamped.acts)) continue;
    b = stamped;
    fromMetadata = true;
  }
  if (!fromMetadata)
    for (const Node *n : g.nodes()) {
      if (n->opType() == "QuantizeLinear") b.acts[8]++;
      if (n->opType() == "DequantizeLinear" && n->input(0)->isConstant() && n->input(0)->dtype() == DType::Int8)
        b.weights[8]++;
    }
  return b;
}

std::string quantizationSummary(const BitWidths &b) {
  if (b.weights.empty() && b.acts.empty()) return "";
  auto list = [](const std::map<int, int> &m) {
    std::string s;
    for (auto it = m.rbegin(); it != m.rend(); ++it) s += cat(s.empty() ? "" : ", ", it->first, "-bit x", it->second);
    return s.empty() ? std::string("none") : s;
  };
  return cat("weights ", list(b.weights), "; activations ", list(b.acts));
}

// Appends an [N, C, H, W] batch as the model file stores its input (channels last for an input
// ChannelsFirstInputs turned, so a dump replays on the file as it is); \returns those dims.
Dims appendAsStored(std::string &out, const Tensor &x, bool channelsLast) {
  const Tensor stored = channelsLast ? transposed(x, {0, 2, 3, 1}) : Tensor();
  const Tensor &t = channelsLast ? stored : x;
  out.append(static_cast<const char *>(t.raw()), t.byteSize());
  return t.dims();
}

}  // namespace

EvalResult runEval(const EvalConfig &cfg) {
  OutputFiles dumps;  // checked before the evaluation, written together after it
  std::vector<std::string> dumpFiles;
  if (!cfg.dump.empty()) dumpFiles = {cfg.dump + ".inputs.f32", cfg.dump + ".logits.f32", cfg.dump + ".json"};
  if (!cfg.dump.empty() && cfg.attack) dumpFiles.push_back(cfg.dump + ".adversarial.f32");
  for (const std::string &f : dumpFiles) dumps.add(f, {cfg.modelPath});
  setNumThreads(cfg.threads);
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath);
  ImageInputInfo in = imageInputOf(*g, cfg.modelPath);
  int height = in.height > 0 ? in.height : cfg.size, width = in.width > 0 ? in.width : cfg.size;
  if (height <= 0 || width <= 0)
    throw Error(cat(cfg.modelPath, ": input '", in.name, "' has dynamic height/width; give --size"));

  ImageSet set = scanImageFolder(cfg.dataDir, cfg.labelsFile);
  if (!set.labelled())
    throw Error(cat("image folder '", cfg.dataDir,
                    "' has no class sub-folders; eval needs <folder>/<class>/<image> to know labels"));
  // --limit: a class-balanced prefix (each class's first images) so it still covers all classes.
  std::vector<ImageEntry> images = pickBalancedImages(set, cfg.limit, std::nullopt);
  BatchLoader loader(images, cfg.preprocess, in.channels, height, width);
  ExecutorOptions opts;
  opts.integer = parseRunner(cfg.runner);
  opts.fastConvolutions = cfg.fastConvolutions;
  Executor exec(*g, opts);

  // White-box: gradients through the evaluated model (its QDQ pairs by the straight-through
  // estimator). Transfer: through --attack-from, which must read the same images.
  std::unique_ptr<Graph> source;
  std::unique_ptr<train::Attack> attack;
  if (cfg.attack) {
    if (cfg.attackEps.empty()) throw Error("--attack needs at least one budget (--eps)");
    if (!cfg.attackFrom.empty()) {
      source = loadPreparedModel(cfg.attackFrom);
      const ImageInputInfo from = imageInputOf(*source, cfg.attackFrom);
      if (from.channels != in.channels || (from.height > 0 && from.height != height) || (from.width > 0 && from.width != width))
        throw Error(cat(cfg.attackFrom, ": its input (", from.channels, " channels, ", from.height, "x", from.width,
                        ") does not read the images of ", cfg.modelPath, " (", in.channels, " channels, ", height, "x", width, ")"));
    }
    const PreprocessConfig pc = preprocessForChannels(cfg.preprocess, in.channels);
    attack = std::make_unique<train::Attack>(source ? *source : *g, pc.mean, pc.std, *cfg.attack);
  }

  EvalResult r;
  r.model = cfg.modelPath;
  const BitWidths bits = bitWidths(*g);
  r.quantization = quantizationSummary(bits);
  r.data = cfg.dataDir;
  r.labels = set.labelDescription();
  r.runner = cfg.runner;
  r.inputLayout = in.layout();
  if (attack) {
    r.attackSource = source ? cfg.attackFrom : "white-box";
    for (float eps : cfg.attackEps) r.attacks.push_back({eps, 0, 0});
  }
  if (g->widenedHalfFloats)
    r.warnings.push_back(cat(cfg.modelPath, " computes in float16/bfloat16; lowbit runs it in float32, so its outputs differ from the file's "
                             "half arithmetic by about half's rounding"));
  if (opts.integer && r.quantization.empty())
    r.warnings.push_back(cat(cfg.modelPath, " has no quantized layers (no QuantizeLinear/DequantizeLinear): the ",
                             cfg.runner, " runner runs it in float; quantize it first (lowbit quantize)"));
  Progress progress("eval", static_cast<int64_t>(images.size()));
  const size_t batch = static_cast<size_t>(std::max(1, cfg.batch));
  std::vector<int> labels, allLabels;
  std::string dumpInputs, dumpLogits;
  std::vector<std::string> dumpAdversarial(cfg.attackEps.size());
  Dims inputDims, logitDims;
  for (size_t b = 0; b < images.size(); b += batch) {
    size_t e = std::min(images.size(), b + batch);
    std::vector<Tensor> batchIn;
    batchIn.push_back(loader.load(b, e, &labels));  // moved, not copied as a braced list would
    const Tensor &x = batchIn[0];
    std::vector<Tensor> outs = exec.run(batchIn);
    const Tensor &logits = outs.at(0);
    if (logits.dtype() != DType::Float32 || logitClasses(logits.dims()) < 1 || logits.dims()[0] != static_cast<int64_t>(e - b))
      throw Error(cat(cfg.modelPath, ": output '", g->outputs()[0]->name(), "' is ", shapeString(logits.dims()),
                      ", expected [batch, classes] logits"));
    const int k = static_cast<int>(logitClasses(logits.dims()));
    r.numClasses = k;
    if (b == 0) requireLabelsFit(set, k, cfg.modelPath, cfg.dataDir);
    for (size_t i = 0; i < e - b; ++i) {
      int rank = rankOf(logits.data<float>() + i * static_cast<size_t>(k), k, labels[i]);
      r.correct1 += rank == 0;
      r.correct5 += rank < 5;
    }
    for (size_t a = 0; attack && a < r.attacks.size(); ++a) {
      std::vector<Tensor> advIn;
      advIn.push_back(attack->run(x, labels, r.attacks[a].eps, static_cast<int64_t>(b)));
      const Tensor &adv = advIn[0];
      const Tensor advLogits = exec.run(advIn).at(0);
      for (size_t i = 0; i < e - b; ++i)
        r.attacks[a].correct1 += rankOf(advLogits.data<float>() + i * static_cast<size_t>(k), k, labels[i]) == 0;
      if (!cfg.dump.empty()) appendAsStored(dumpAdversarial[a], adv, in.channelsLast);
    }
    r.images += static_cast<int64_t>(e - b);
    if (!cfg.dump.empty()) {
      inputDims = appendAsStored(dumpInputs, x, in.channelsLast);
      dumpLogits.append(static_cast<const char *>(logits.raw()), logits.byteSize());
      allLabels.insert(allLabels.end(), labels.begin(), labels.end());
      logitDims = logits.dims();
    }
    if (cfg.progress) progress.advance(static_cast<int64_t>(e - b));
  }
  if (cfg.progress) progress.finish();
  r.lowering = loweringSummary(exec.lowering());
  // 2..7-bit codes: the integer kernels hold them in 8-bit containers with the reduced range.
  if (!r.lowering.empty() && bits.below8())
    r.lowering += "; codes below 8 bits run in 8-bit containers with their reduced range";
  if (!cfg.dump.empty()) {
    inputDims[0] = logitDims[0] = r.images;
    nlohmann::json meta = {{"model", cfg.modelPath}, {"input_name", in.name}, {"input_shape", inputDims},
                           {"logits_shape", logitDims}, {"labels", allLabels}, {"input_layout", in.layout()}};
    dumps.write(dumpFiles[0], dumpInputs);
    dumps.write(dumpFiles[1], dumpLogits);
    if (attack) {
      meta["adversarial_eps"] = cfg.attackEps;  // adversarial.f32: one input-shaped block per budget
      std::string all;
      for (const std::string &d : dumpAdversarial) all += d;
      dumps.write(dumpFiles[3], all);
    }
    dumps.write(dumpFiles[2], meta.dump() + "\n");
    dumps.commit();
  }
  r.seconds = progress.elapsedSeconds();
  r.top1 = 100.0 * static_cast<double>(r.correct1) / static_cast<double>(r.images);
  r.top5 = 100.0 * static_cast<double>(r.correct5) / static_cast<double>(r.images);
  for (AttackResult &a : r.attacks) a.top1 = 100.0 * static_cast<double>(a.correct1) / static_cast<double>(r.images);
  return r;
}

}  // namespace lowbit
