// Whole-model accuracy of the float runner on real data, against the figures measured with
// PyTorch and ONNX Runtime. [shared] cases need ../shared (CI has it); [bundled] cases need the
// Fashion-MNIST folders scripts/setup.sh makes.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "export/OnnxExporter.h"
#include "import/OnnxImporter.h"
#include "runtime/HostTarget.h"
#include "jobs/EvalJob.h"
#include "runtime/Executor.h"
#include "jobs/QuantizeJob.h"

using namespace lowbit;

namespace {

// Accuracy must equal the reference within this many points (the bar).
constexpr double kTop1TolerancePoints = 0.1;

// The int8 runner against the simulation (which convolves codes exactly): with VNNI both are
// exact integer sums and differ only where a value sits within float rounding of a code
// boundary, so the 0.1 holds. Without VNNI the runner's u8 x s8 pair sums can saturate
// and the first conv stays float, so only a looser bar catches a broken integer path there.
double runnerVsSimulationBar() { return fullRangeU8IsExact() ? kTop1TolerancePoints : 0.25; }

const std::string kShared = LOWBIT_SHARED_DIR;
const std::string kSource = LOWBIT_SOURCE_DIR;

EvalResult evalCifar(const std::string &model, const std::string &runner = "float") {
  EvalConfig cfg;
  cfg.runner = runner;
  cfg.modelPath = model.find('/') == std::string::npos ? kShared + "/models/cifar10/" + model : model;
  cfg.dataDir = kShared + "/data/cifar10/test";
  cfg.preprocess.mean = {0.485f, 0.456f, 0.406f};
  cfg.preprocess.std = {0.229f, 0.224f, 0.225f};
  cfg.progress = false;
  return runEval(cfg);
}

}  // namespace

TEST_CASE("CIFAR-10 ResNet20 float top-1 equals the ONNX Runtime figure (81.03)", "[shared]") {
  REQUIRE(std::filesystem::exists(kShared + "/models/cifar10/resnet20.onnx"));
  EvalResult r = evalCifar("resnet20.onnx");
  CHECK(r.images == 10000);
  CHECK(std::fabs(r.top1 - 81.03) <= kTop1TolerancePoints);
}

TEST_CASE("CIFAR-10 ResNet32 float top-1 equals the ONNX Runtime figure (82.56)", "[shared]") {
  REQUIRE(std::filesystem::exists(kShared + "/models/cifar10/resnet32.onnx"));
  EvalResult r = evalCifar("resnet32.onnx");
  CHECK(r.images == 10000);
  CHECK(std::fabs(r.top1 - 82.56) <= kTop1TolerancePoints);
}

TEST_CASE("bundled Fashion-MNIST models score what PyTorch measured", "[bundled]") {
  std::ifstream in(kSource + "/models/fashion_models.json");
  REQUIRE(in);
  nlohmann::json info = nlohmann::json::parse(in);
  const std::string data = kSource + "/data/fashion-mnist/test";
  INFO("the image folders come from scripts/setup.sh");
  REQUIRE(std::filesystem::is_directory(data));
  for (const auto &[name, m] : info.items()) {
    EvalConfig cfg;
    cfg.modelPath = kSource + "/models/" + m["file"].get<std::string>();
    cfg.dataDir = data;
    cfg.preprocess.mean = {m["mean"].get<float>()};
    cfg.preprocess.std = {m["std"].get<float>()};
    cfg.progress = false;
    EvalResult r = runEval(cfg);
    INFO(name);
    CHECK(r.images == 10000);
    CHECK(std::fabs(r.top1 - m["pytorch_top1"].get<double>()) <= kTop1TolerancePoints);
  }
}

// Quantizes a CIFAR model W8A8 per-channel (the default recipe) into a temporary file.
std::string quantizeCifar(const std::string &name) {
  const std::string out = (std::filesystem::temp_directory_path() / ("lowbit_" + name + "_w8a8.onnx")).string();
  QuantizeConfig q;
  q.modelPath = kShared + "/models/cifar10/" + name + ".onnx";
  q.calibDir = kShared + "/data/cifar10/calib";
  q.outPath = out;
  q.preprocess.mean = {0.485f, 0.456f, 0.406f};
  q.preprocess.std = {0.229f, 0.224f, 0.225f};
  q.progress = false;
  runQuantize(q);
  return out;
}

TEST_CASE("CIFAR-10 ResNet20 W8A8 per-channel drops at most 0.1 point and the int8 runner scores the same", "[shared]") {
  const std::string out = quantizeCifar("resnet20");
  EvalResult sim = evalCifar(out), int8 = evalCifar(out, "int8");
  std::filesystem::remove(out);
  CHECK(81.03 - sim.top1 <= 0.1);
  CHECK(std::fabs(int8.top1 - sim.top1) <= runnerVsSimulationBar());
  // The first conv reads the signed image as u8 codes around a zero point: exact, so integer,
  // only where the int8 kernels multiply full-range u8 codes exactly (VNNI).
  CHECK(int8.lowering == (fullRangeU8IsExact() ? "20 of 20 Conv/Gemm/MatMul as integers"
                                               : "19 of 20 Conv/Gemm/MatMul as integers"));
}

TEST_CASE("CIFAR-10 ResNet32 W8A8 on the int8 runner scores the simulation's top-1", "[shared]") {
  const std::string out = quantizeCifar("resnet32");
  EvalResult sim = evalCifar(out), int8 = evalCifar(out, "int8");
  std::filesystem::remove(out);
  CHECK(std::fabs(int8.top1 - sim.top1) <= runnerVsSimulationBar());
}

TEST_CASE("bundled Fashion-MNIST ResNet W8A8 stays within 0.5 point of float", "[bundled]") {
  const std::string out = (std::filesystem::temp_directory_path() / "lowbit_fashion_w8a8.onnx").string();
  QuantizeConfig q;
  q.modelPath = kSource + "/models/fashion_resnet.onnx";
  q.calibDir = kSource + "/data/fashion-mnist/calib";
  q.outPath = out;
  q.preprocess.mean = {0.2860f};
  q.preprocess.std = {0.3530f};
  q.act = ActObserverConfig::parse("percentile:99.99");
  q.progress = false;
  runQuantize(q);
  EvalConfig e;
  e.modelPath = out;
  e.dataDir = kSource + "/data/fashion-mnist/test";
  e.preprocess = q.preprocess;
  e.progress = false;
  EvalResult r = runEval(e);
  e.runner = "int8";
  EvalResult int8 = runEval(e);
  std::filesystem::remove(out);
  CHECK(91.75 - r.top1 <= 0.5);
  CHECK(std::fabs(int8.top1 - r.top1) <= kTop1TolerancePoints);
}

TEST_CASE("CIFAR ResNets round-trip through the exporter with identical outputs", "[shared]") {
  for (const char *name : {"resnet20.onnx", "resnet32.onnx"}) {
    INFO(name);
    auto g = importOnnxFile(kShared + "/models/cifar10/" + name);
    const std::string out = (std::filesystem::temp_directory_path() / "lowbit_roundtrip_cifar.onnx").string();
    exportOnnxFile(*g, out);  // runs onnx::checker
    auto back = importOnnxFile(out);
    std::filesystem::remove(out);
    Tensor x(DType::Float32, {4, 3, 32, 32});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 7919) % 255) / 127.f - 1.f;
    Executor a(*g), b(*back);
    CHECK(a.run({x})[0] == b.run({x})[0]);
  }
}
