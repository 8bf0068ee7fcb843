// The quantization pipeline: its table, the order the teacher needs, and that a new method
// is one pass added to the table (a no-op pass here, which must change nothing but the list).
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "data/CalibrationSet.h"
#include "data/ImageFolder.h"
#include "export/OnnxExporter.h"
#include "jobs/ModelLoader.h"
#include "pipeline/QuantizePipeline.h"
#include "pipeline/SimulationProbe.h"
#include "support/File.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {
const std::string kData = LOWBIT_TEST_DATA;

QuantizeConfig tinyConfig() {
  QuantizeConfig cfg;
  cfg.modelPath = kData + "/good/tiny_convnet.onnx";
  cfg.calibDir = kData + "/good";
  cfg.preprocess.resize = cfg.preprocess.crop = 8;
  cfg.progress = false;
  return cfg;
}

// A context over the tiny model and the five fixture images, as the quantize job builds it.
QuantizeContext tinyContext(const QuantizeConfig &cfg, Graph &g) {
  QuantizeContext ctx(cfg, g);
  ctx.modelHash = "0x0";
  ctx.channels = 3;
  ctx.height = ctx.width = 8;
  ctx.images = pickBalancedImages(scanImageFolder(cfg.calibDir), 0, 0);
  return ctx;
}

// The pipeline's passes before \p stop.
std::vector<QuantizePassInfo> before(const std::string &stop) {
  std::vector<QuantizePassInfo> out;
  for (const QuantizePassInfo &p : quantizePipeline()) {
    if (p.name == stop) break;
    out.push_back(p);
  }
  return out;
}

std::vector<float> biasOf(const Graph &g, const std::string &node) {
  const Node *n = g.findNode(node);
  REQUIRE(n);
  return n->input(2) ? n->input(2)->constant()->toFloats() : std::vector<float>{};  // none: empty
}

}  // namespace

TEST_CASE("the quantization pipeline lists every pass once, each with a reason", "[quant]") {
  std::vector<std::string> names;
  for (const QuantizePassInfo &p : quantizePipeline()) {
    CHECK_FALSE(p.reason.empty());
    names.push_back(p.name);
  }
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  auto at = [&](const char *n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  CHECK(at("QuantizeWeights") < at("CalibrateActivations"));
  CHECK(at("InsertQDQ") == static_cast<long>(names.size()) - 2);
}

TEST_CASE("with --bias-correct and --finetune the teacher keeps the float model's biases", "[quant]") {
  QuantizeConfig cfg = tinyConfig();
  cfg.weights.bits = 2;  // large weight errors: bias correction moves every bias
  cfg.weights.granularity = QuantParams::Granularity::PerTensor;
  cfg.biasCorrect = true;
  cfg.finetune = train::FinetuneConfig{};
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath, cfg.passes);
  const std::unique_ptr<Graph> original = g->clone();
  QuantizeContext ctx = tinyContext(cfg, *g);
  runQuantizePipeline(ctx, before("Finetune"));  // everything the fine-tune would start from
  REQUIRE(ctx.teacher);
  REQUIRE(ctx.report["bias_correction"].size() >= 1);
  for (const auto &entry : ctx.report["bias_correction"]) {
    const std::string node = entry["node"];
    INFO(node);
    CHECK(biasOf(*ctx.teacher, node) == biasOf(*original, node));  // the float model teaches
    CHECK(biasOf(*g, node) != biasOf(*original, node));           // the student was corrected
  }
  for (const Value *v : ctx.teacher->values()) CHECK_FALSE(v->quant.has_value());
}

namespace {
int noOpRuns = 0;
void runNoOpMethod(QuantizeContext &ctx) {
  ++noOpRuns;
  ctx.report["no_op_method"] = {{"layers", ctx.layers.size()}};
}
}  // namespace

TEST_CASE("a new quantization method is one pass and one line of the pipeline", "[quant]") {
  namespace fs = std::filesystem;
  QuantizeConfig cfg = tinyConfig();
  cfg.weights.bits = 4;
  struct Result {
    std::string bytes;
    nlohmann::json report;
    std::vector<std::string> ran;
  };
  auto quantizeWith = [&](const std::vector<QuantizePassInfo> &pipeline) {
    std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath, cfg.passes);
    QuantizeContext ctx = tinyContext(cfg, *g);
    runQuantizePipeline(ctx, pipeline);
    const fs::path out = fs::temp_directory_path() / "lowbit_pipeline_noop.onnx";
    exportOnnxFile(*g, out.string());
    Result r{readFile(out.string()), ctx.report, ctx.ran};
    fs::remove(out);
    return r;
  };
  std::vector<QuantizePassInfo> pipeline = quantizePipeline();
  auto after = std::find_if(pipeline.begin(), pipeline.end(), [](const QuantizePassInfo &p) { return p.name == "CalibrateActivations"; });
  REQUIRE(after != pipeline.end());
  // The one line: name, reason, when it applies, what it runs.
  pipeline.insert(after + 1, {"NoOpMethod", "a method that changes nothing", [](const QuantizeConfig &) { return true; },
                              [](QuantizeContext &ctx) { runNoOpMethod(ctx); return true; }});
  const Result plain = quantizeWith(quantizePipeline()), with = quantizeWith(pipeline);
  CHECK(noOpRuns == 1);
  CHECK(with.report["no_op_method"]["layers"] == 2);
  auto calib = std::find(with.ran.begin(), with.ran.end(), "CalibrateActivations");
  REQUIRE(calib != with.ran.end());
  CHECK(*(calib + 1) == "NoOpMethod");
  CHECK(std::find(plain.ran.begin(), plain.ran.end(), "NoOpMethod") == plain.ran.end());
  CHECK(with.bytes == plain.bytes);  // the same model, byte for byte
}

TEST_CASE("an excluded layer's weight is marked float-only and stays float in the QDQ model", "[quant]") {
  QuantizeConfig cfg = tinyConfig();
  cfg.exclude = {"conv"};
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath, cfg.passes);
  Value *w = g->findNode("conv")->input(1);
  QuantizeContext ctx = tinyContext(cfg, *g);
  runQuantizePipeline(ctx, before("InsertQDQ"));
  REQUIRE(w->quant);
  CHECK(w->quant->state == QuantParams::State::FloatOnly);
  REQUIRE(ctx.layers.size() == 1);
  CHECK(ctx.layers[0].node->name() == "fc");
  runQuantizePipeline(ctx, {quantizePipeline().end() - 2, quantizePipeline().end()});  // InsertQDQ, DCE
  const Node *conv = g->findNode("conv");
  CHECK(conv->input(1) == w);  // read as the float constant, no DequantizeLinear
  const Node *fc = g->findNode("fc");
  REQUIRE(fc->input(1)->producer());
  CHECK(fc->input(1)->producer()->opType() == "DequantizeLinear");
}

TEST_CASE("quantize --act-observer sqnr keeps per tensor the candidate clip that gives the outputs the highest SQNR", "[quant]") {
  QuantizeConfig cfg = tinyConfig();
  cfg.act = ActObserverConfig::parse("sqnr");
  cfg.actBits = 3;  // coarse codes: the candidates' clips give different outputs
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath, cfg.passes);
  QuantizeContext ctx = tinyContext(cfg, *g);
  runQuantizePipeline(ctx, before("SnapshotTeacher"));
  REQUIRE(std::find(ctx.ran.begin(), ctx.ran.end(), "ChooseActivationObservers") != ctx.ran.end());
  const nlohmann::json &choice = ctx.report["observer_choice"];
  CHECK(choice["output_sqnr_db"].get<double>() >= choice["output_sqnr_db_mse"].get<double>());
  const std::vector<ActObserverConfig> &candidates = ActObserverConfig::sqnrCandidates();
  for (size_t i = 0; i < ctx.activations.size(); ++i) {
    const nlohmann::json &a = ctx.report["activations"][i];
    INFO(a.dump());
    auto c = std::find_if(candidates.begin(), candidates.end(), [&](const ActObserverConfig &o) { return o.name() == a["observer"]; });
    REQUIRE(c != candidates.end());
    CHECK(ctx.ranges[i].clip == ctx.ranges[i].candidateClips[static_cast<size_t>(c - candidates.begin())]);
    CHECK(ctx.activations[i]->quant->scale ==
          activationParams(cfg, ctx.ranges[i], ctx.activations[i]->quant->bits).scale);
  }
  // The model as it stands is the one the report measured, and no other candidate of the last
  // tensor the sweep visited does better with the rest as chosen (clips within 0.5 % of one
  // tried are not run again: 0.01 dB).
  std::unique_ptr<Graph> floatGraph = g->clone();
  for (Value *v : floatGraph->values()) v->quant.reset();
  const SimulationProbe probe(ctx, *floatGraph, ctx.images);
  const double chosen = probe.measure(*g).sqnrDb;
  CHECK(chosen == Approx(choice["output_sqnr_db"].get<double>()).epsilon(1e-9));
  const size_t last = ctx.activations.size() - 1;
  const ActivationRange kept = ctx.ranges[last];
  for (float clip : kept.candidateClips) {
    ActivationRange r = kept;
    r.clip = clip;
    ctx.activations[last]->quant = activationParams(cfg, r, ctx.activations[last]->quant->bits);
    CHECK(probe.measure(*g).sqnrDb <= chosen + 0.01);
  }
}

TEST_CASE("quantize --max-drop keeps the costliest layers in float, biases uncorrected, until the drop is met", "[quant]") {
  QuantizeConfig cfg = tinyConfig();
  cfg.weights.bits = 2;
  cfg.weights.granularity = QuantParams::Granularity::PerTensor;
  cfg.actBits = 2;
  cfg.biasCorrect = true;
  cfg.maxDrop = 0.0;  // an unlabelled folder: every image's top-1 class as the float model's
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath, cfg.passes);
  const std::unique_ptr<Graph> original = g->clone();
  QuantizeContext ctx = tinyContext(cfg, *g);
  runQuantizePipeline(ctx, before("UpgradeOpset13"));
  const nlohmann::json &ac = ctx.report["accuracy_control"];
  INFO(ac.dump());
  CHECK(ac["metric"] == "top-1 agreement with the float model");
  REQUIRE(ac["drop_before"].get<double>() > 0.0);  // 2-bit codes change some image's class
  CHECK(ac["met"] == true);
  CHECK(ac["drop_after"].get<double>() == 0.0);
  const std::vector<std::string> floatLayers = ac["float_layers"];
  REQUIRE_FALSE(floatLayers.empty());
  CHECK(ac["steps"].size() == floatLayers.size());
  for (const std::string &name : floatLayers) {
    INFO(name);
    const Node *n = g->findNode(name);
    CHECK(n->input(1)->quant->state == QuantParams::State::FloatOnly);
    CHECK(biasOf(*g, name) == biasOf(*original, name));  // as before bias correction
    for (const LayerPlan &l : ctx.layers) CHECK(l.node != n);
    for (const auto &w : ctx.report["weights"]) CHECK(w["node"] != name);
    for (const auto &b : ctx.report["bias_correction"]) CHECK(b["node"] != name);
  }
  CHECK(ctx.report["weights"].size() == ctx.layers.size());
  CHECK(ctx.report["activations"].size() == ctx.activations.size());
  for (const Value *a : ctx.activations) CHECK(a->quant.has_value());
  // The graph the exporter gets is the one that met the drop.
  const SimulationProbe probe(ctx, *ctx.teacher, ctx.images);
  CHECK(probe.drop(probe.measure(*g)) == 0.0);
}
