// InsertQDQ structure and numerics, and the quantize job end to end on a tiny model.
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "export/OnnxExporter.h"
#include "import/OnnxImporter.h"
#include "jobs/QuantizeJob.h"
#include "kernels/QuantizeRef.h"
#include "ops/ShapeInference.h"
#include "support/File.h"
#include "passes/PassManager.h"
#include "quant/WeightQuantizer.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {
const std::string kData = LOWBIT_TEST_DATA;

}  // namespace

TEST_CASE("InsertQDQ writes ORT-named QDQ and simulates fake-quantized inputs and weights", "[quant]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 4, 5, 5});
  Value *w = g.addConstant("w", randomTensor({6, 4, 3, 3}, 1));
  Value *b = g.addConstant("b", randomTensor({6}, 2));
  Node *conv = addOp(g, "Conv", {x, w, b}, "y");
  conv->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  g.outputs().push_back(conv->output(0));
  inferShapes(g);

  QuantParams xp;
  xp.bits = 8;
  xp.isSigned = true;
  xp.scale = {1.f / 127};
  xp.zeroPoint = {0};
  xp.state = QuantParams::State::Calibrated;
  x->quant = xp;
  w->quant = computeWeightParams(*w->constant(), 0, WeightQuantConfig{});

  // Reference: the float graph run on fake-quantized input and weights (bias stays ~exact).
  Tensor in = randomTensor({1, 4, 5, 5}, 3);
  Tensor fqIn(DType::Float32, in.dims());
  fakeQuantize(in.data<float>(), fqIn.data<float>(), static_cast<size_t>(in.numel()), xp.scale[0], 0,
               quantRange(8, true, false));
  Graph ref;
  Value *rx = addInput(ref, "x", {1, 4, 5, 5});
  Value *rw = ref.addConstant("w", fakeQuantizeWeights(*w->constant(), *w->quant));
  Value *rb = ref.addConstant("b", *b->constant());
  Node *rconv = addOp(ref, "Conv", {rx, rw, rb}, "y");
  rconv->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  ref.outputs().push_back(rconv->output(0));
  inferShapes(ref);
  Tensor want = runGraph(ref, {fqIn})[0];

  runPasses(g, {"InsertQDQ", "DeadCodeElimination"});
  CHECK(countOps(g, "QuantizeLinear") == 1);
  CHECK(countOps(g, "DequantizeLinear") == 3);  // activation, weight, int32 bias
  CHECK(g.findNode("x_QuantizeLinear"));
  CHECK(g.findValue("x_DequantizeLinear_Output"));
  REQUIRE(g.findValue("w_quantized"));
  CHECK(g.findValue("w_quantized")->dtype() == DType::Int8);
  CHECK(g.findValue("b_quantized")->dtype() == DType::Int32);
  CHECK(mismatch(runGraph(g, {in})[0], want, 1e-4f, 1e-4f) == "");
}

TEST_CASE("sub-8-bit activations get a Clip so codes stay in range", "[quant]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 8});
  Node *r = addOp(g, "Relu", {x}, "r");
  Node *s = addOp(g, "Sigmoid", {r->output(0)}, "y");
  g.outputs().push_back(s->output(0));
  inferShapes(g);
  QuantParams p;
  p.bits = 4;
  p.isSigned = false;
  p.scale = {0.1f};
  p.zeroPoint = {0};
  p.state = QuantParams::State::Calibrated;
  r->output(0)->quant = p;
  runPasses(g, {"InsertQDQ"});
  REQUIRE(countOps(g, "Clip") == 1);
  // 4-bit unsigned with step 0.1 saturates at 1.5, not at 25.5 as 8-bit codes would.
  Tensor in = Tensor::fromVector<float>({1, 8}, {-1.f, 0.f, 0.04f, 0.06f, 0.5f, 1.5f, 3.f, 100.f});
  std::vector<float> got = runGraph(g, {in})[0].toFloats();
  const float want[] = {0.f, 0.f, 0.f, 0.1f, 0.5f, 1.5f, 1.5f, 1.5f};
  for (int i = 0; i < 8; ++i) CHECK(got[static_cast<size_t>(i)] == Approx(1.f / (1.f + std::exp(-want[i]))));
}

TEST_CASE("quantize job: W8A8 QDQ model, report stamped with the model hash", "[quant][cli]") {
  namespace fs = std::filesystem;
  fs::path out = fs::temp_directory_path() / "lowbit_q_tiny.onnx";
  fs::path report = fs::temp_directory_path() / "lowbit_q_tiny.json";
  QuantizeConfig cfg;
  cfg.modelPath = kData + "/good/tiny_convnet.onnx";
  cfg.calibDir = kData + "/good";  // the five fixture images, resized and cropped to 8x8
  cfg.outPath = out.string();
  cfg.reportPath = report.string();
  cfg.preprocess.resize = cfg.preprocess.crop = 8;
  cfg.act = ActObserverConfig::parse("percentile:99.9");  // histogram pass exercised too
  cfg.progress = false;
  nlohmann::json r = runQuantize(cfg);
  CHECK(r["model_hash"].get<std::string>().rfind("0x", 0) == 0);
  CHECK(r["calibration"]["images"] == 5);
  CHECK(r["weights"].size() == 2);
  CHECK(r["activations"].size() == 2);
  CHECK(r["weights"][0]["sqnr_db"].get<double>() > 30.0);
  REQUIRE(fs::exists(report));

  auto q = importOnnxFile(out.string());
  CHECK(countOps(*q, "QuantizeLinear") == 2);
  bool stamped = false;
  for (const auto &[k, v] : q->metadata) stamped |= k == "lowbit.quantization";
  CHECK(stamped);
  // On inputs in the calibrated range ([0, 1] pixels) the simulated model stays close.
  auto f = importOnnxFile(cfg.modelPath);
  Tensor x = randomTensor({4, 3, 8, 8}, 5, 0.f, 1.f);
  Tensor yq = runGraph(*q, {x})[0], yf = runGraph(*f, {x})[0];
  CHECK(sqnrDb(yf.data<float>(), yq.data<float>(), static_cast<size_t>(yf.numel())) > 20.0);
  fs::remove(out);
  fs::remove(report);
}

TEST_CASE("quantize refuses an unknown --exclude node and writes nothing", "[quant]") {
  namespace fs = std::filesystem;
  fs::path out = fs::temp_directory_path() / "lowbit_q_refused.onnx";
  QuantizeConfig cfg;
  cfg.modelPath = kData + "/good/tiny_convnet.onnx";
  cfg.calibDir = kData + "/good";
  cfg.outPath = out.string();
  cfg.exclude = {"no_such_node"};
  cfg.progress = false;
  CHECK_THROWS_WITH(runQuantize(cfg), Catch::Contains("no_such_node"));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("quantize reuses a report's ranges (calib-from) and refuses another model's report", "[quant]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path();
  QuantizeConfig cfg;
  cfg.modelPath = kData + "/good/tiny_convnet.onnx";
  cfg.calibDir = kData + "/good";
  cfg.outPath = (dir / "lowbit_cf_a.onnx").string();
  cfg.reportPath = (dir / "lowbit_cf_a.json").string();
  cfg.preprocess.resize = cfg.preprocess.crop = 8;
  cfg.progress = false;
  nlohmann::json first = runQuantize(cfg);

  QuantizeConfig again = cfg;
  again.calibDir.clear();
  again.calibFrom = cfg.reportPath;
  again.outPath = (dir / "lowbit_cf_b.onnx").string();
  again.reportPath.clear();
  nlohmann::json second = runQuantize(again);
  CHECK(second["activations"] == first["activations"]);
  Tensor x = randomTensor({2, 3, 8, 8}, 9, 0.f, 1.f);
  CHECK(runGraph(*importOnnxFile(again.outPath), {x})[0] == runGraph(*importOnnxFile(cfg.outPath), {x})[0]);

  // A report of a different model (here: the same layers, other bytes) is refused by hash.
  const fs::path other = dir / "lowbit_cf_other.onnx";
  std::unique_ptr<Graph> renamed = importOnnxFile(cfg.modelPath);
  renamed->docString = "another model";
  exportOnnxFile(*renamed, other.string());
  again.modelPath = other.string();
  CHECK_THROWS_WITH(runQuantize(again), Catch::Contains("different model") && Catch::Contains("lowbit_cf_a.json"));

  // A hand-edited report: impossible ranges and wrong types are errors naming the report.
  again.modelPath = cfg.modelPath;
  const fs::path edited = dir / "lowbit_cf_edited.json";
  auto withEdit = [&](const std::function<void(nlohmann::json &)> &edit) {
    nlohmann::json r = nlohmann::json::parse(readFile(cfg.reportPath));
    edit(r);
    std::ofstream(edited) << r.dump();
    again.calibFrom = edited.string();
  };
  withEdit([](nlohmann::json &r) { r["activations"][0]["clip"] = -1.0; });
  CHECK_THROWS_WITH(runQuantize(again), Catch::Contains("lowbit_cf_edited.json") && Catch::Contains("clip -1"));
  withEdit([](nlohmann::json &r) { r["activations"][0]["min"] = 5.0; r["activations"][0]["max"] = 1.0; });
  CHECK_THROWS_WITH(runQuantize(again), Catch::Contains("range [5, 1]"));
  withEdit([](nlohmann::json &r) { r["activations"][0]["tensor"] = 7; });
  CHECK_THROWS_WITH(runQuantize(again), Catch::Contains("not a lowbit report"));
  withEdit([](nlohmann::json &r) { r = nlohmann::json::array({1, 2}); });
  CHECK_THROWS_WITH(runQuantize(again), Catch::Contains("not a lowbit report"));
  fs::remove(edited);

  // A model that is quantized already is refused with that reason.
  again.modelPath = cfg.outPath;
  again.calibFrom.clear();
  again.calibDir = cfg.calibDir;
  CHECK_THROWS_WITH(runQuantize(again), Catch::Contains("quantized already"));
  for (const auto &p : {cfg.outPath, cfg.reportPath, again.outPath, other.string()}) fs::remove(p);
}

TEST_CASE("quantize --absorb-bias moves an always-on offset out of the activation it calibrates", "[quant]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path();
  // x [N, 3, 8, 8] -> Conv 1x1 (bias 4 on every channel: always on) -> Relu -> Conv 3x3 -> y
  Graph g;
  g.opset = 13;
  Value *x = addInput(g, "x", {5, 3, 8, 8});  // the fixture folder's five images in one batch
  Node *a = addOp(g, "Conv", {x, g.addConstant("wa", randomTensor({4, 3, 1, 1}, 1, -0.2f, 0.2f)),
                              g.addConstant("ba", Tensor::fromVector<float>({4}, {4.f, 4.f, 4.f, 4.f}))}, "a");
  Node *r = addOp(g, "Relu", {a->output(0)}, "r");
  Node *b = addOp(g, "Conv", {r->output(0), g.addConstant("wb", randomTensor({2, 4, 3, 3}, 2))}, "y");
  b->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  g.outputs().push_back(b->output(0));
  inferShapes(g);
  const fs::path model = dir / "lowbit_absorb_model.onnx";
  exportOnnxFile(g, model.string());

  QuantizeConfig cfg;
  cfg.modelPath = model.string();
  cfg.calibDir = kData + "/good";
  cfg.outPath = (dir / "lowbit_absorb_q.onnx").string();
  cfg.preprocess.resize = cfg.preprocess.crop = 8;
  cfg.progress = false;
  auto reluRange = [](const nlohmann::json &report) {
    for (const auto &act : report["activations"])
      if (act["tensor"] == "r") return act["max"].get<float>();
    FAIL("no activation 'r' in the report");
    return 0.f;
  };
  const float plain = reluRange(runQuantize(cfg));
  cfg.absorbBias = true;
  nlohmann::json absorbed = runQuantize(cfg);
  REQUIRE(absorbed["bias_absorption"].size() == 1);
  CHECK(absorbed["bias_absorption"][0]["channels"] == 4);
  CHECK(absorbed["bias_absorption"][0]["max_shift"].get<float>() > 3.f);
  CHECK(absorbed["recipe"]["absorb_bias"] == true);
  // Pixels in [0, 1] move each channel by at most 0.6 around 4: the range B reads drops from
  // about 4.6 to about 1.2.
  CHECK(plain > 3.4f);
  CHECK(reluRange(absorbed) < plain / 2);

  cfg.calibDir.clear();
  cfg.calibFrom = (dir / "unused.json").string();
  CHECK_THROWS_WITH(runQuantize(cfg), Catch::Contains("--absorb-bias needs calibration images"));
  fs::remove(model);
  fs::remove(cfg.outPath);
}
