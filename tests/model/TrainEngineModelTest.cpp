// The training engine on whole models: for every model in models/ ([bundled]) and
// ../shared/models/cifar10 ([shared]), the differentiable network's forward equals the float
// runner's output, and with 4-bit per-channel weights and 8-bit activations it equals the QDQ
// simulation's; one backward gives finite gradients everywhere.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "jobs/ModelLoader.h"
#include "passes/PassManager.h"
#include "quant/WeightQuantizer.h"
#include "runtime/Executor.h"
#include "train/Network.h"

using namespace lowbit;

namespace {

constexpr float kFloatAtol = 1e-4f, kFloatRtol = 1e-4f;
// Fake-quantized: the two engines sum convolutions in different orders (the simulation convolves
// integer codes, the engine dequantized floats), so an activation within float rounding of a
// code boundary takes the neighbouring code and the flip travels on. With weights alone
// quantized the two agree to float precision; with activations too the engine must agree with
// the simulation at least this much better than the simulation agrees with the float model.
constexpr double kMarginOverQuantizationDb = 15.0;

Tensor randomInput(const Dims &d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  Tensor t(DType::Float32, d);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

double sqnrDb(const Tensor &got, const Tensor &want) {
  double s = 0, n = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double w = want.data<float>()[i], e = got.data<float>()[i] - w;
    s += w * w;
    n += e * e;
  }
  return n == 0 ? 300.0 : 10.0 * std::log10(s / n);
}

double maxAbsDiff(const Tensor &a, const Tensor &b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
  return m;
}

// 4-bit per-channel weights on every Conv/Gemm/MatMul with constant weights, 8-bit per-tensor
// activations on their data inputs with scales from \p x's own range.
void quantizeForTest(Graph &g, const Tensor &x) {
  std::vector<Node *> layers;
  std::vector<std::string> taps;
  for (Node *n : g.nodes())
    if ((n->opType() == "Conv" || n->opType() == "Gemm" || n->opType() == "MatMul") && n->input(1) &&
        n->input(1)->isConstant() && !n->input(0)->isConstant()) {
      layers.push_back(n);
      if (std::find(taps.begin(), taps.end(), n->input(0)->name()) == taps.end()) taps.push_back(n->input(0)->name());
    }
  ExecutorOptions opts;
  opts.taps = taps;
  Executor exec(g, opts);
  std::vector<Tensor> values;
  exec.run({x}, &values);
  for (size_t i = 0; i < taps.size(); ++i) {
    float lo = 0.f, hi = 0.f;
    for (float v : values[i].toFloats()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    QuantParams p;
    p.isSigned = lo < 0.f;
    p.state = QuantParams::State::Calibrated;
    p.scale = {std::max(hi, -lo) / (p.isSigned ? 127.f : 255.f)};
    p.zeroPoint = {0};
    g.findValue(taps[i])->quant = p;
  }
  for (Node *n : layers) {
    WeightQuantConfig wc;
    wc.bits = 4;
    const int axis = n->opType() == "Conv" ? 0 : n->opType() == "Gemm" && n->attrInt("transB", 0) ? 0 : 1;
    n->input(1)->quant = computeWeightParams(*n->input(1)->constant(), axis, wc);
  }
}

void checkModel(const std::string &path) {
  INFO("model " << path);
  std::unique_ptr<Graph> g = loadPreparedModel(path);
  Dims d = g->inputs().at(0)->dims();
  d[0] = 4;
  for (int64_t &v : d) if (v < 0) v = 32;  // dynamic spatial dims: a CIFAR-sized image
  const Tensor x = randomInput(d, 1);

  train::Network floatNet(*g, d);
  const Tensor yFloat = floatNet.forward(x);
  const Tensor want = Executor(*g).run({x})[0];
  INFO("float: max |difference| " << maxAbsDiff(yFloat, want));
  CHECK(maxAbsDiff(yFloat, want) <= kFloatAtol + kFloatRtol * maxAbsDiff(want, Tensor(DType::Float32, want.dims())));

  quantizeForTest(*g, x);
  train::Network qNet(*g, d);
  const Tensor yQuant = qNet.forward(x);
  std::unique_ptr<Graph> qdq = g->clone();
  runPasses(*qdq, {"UpgradeOpset13", "InsertQDQ"});
  const Tensor wantQ = Executor(*qdq).run({x})[0];
  const double engineDb = sqnrDb(yQuant, wantQ), quantizationDb = sqnrDb(wantQ, want);
  INFO("fake-quantized: SQNR " << engineDb << " dB against the QDQ simulation, which is " << quantizationDb
                               << " dB from the float model");
  CHECK(engineDb >= quantizationDb + kMarginOverQuantizationDb);

  qNet.zeroGrad();
  Tensor r = randomInput(yQuant.dims(), 2);
  const Tensor dx = qNet.backward(r);
  bool finite = true;
  for (float v : dx.toFloats()) finite &= std::isfinite(v);
  for (train::Param *p : qNet.params())
    for (float v : p->grad.toFloats()) finite &= std::isfinite(v);
  CHECK(finite);
}

std::vector<std::string> onnxFiles(const std::string &dir) {
  std::vector<std::string> files;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".onnx") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("the training engine computes what the runner computes on every bundled model", "[bundled]") {
  const std::vector<std::string> files = onnxFiles(std::string(LOWBIT_SOURCE_DIR) + "/models");
  REQUIRE(!files.empty());
  for (const std::string &f : files) checkModel(f);
}

TEST_CASE("the training engine computes what the runner computes on every CIFAR-10 model of ../shared", "[shared]") {
  const std::vector<std::string> files = onnxFiles(std::string(LOWBIT_SHARED_DIR) + "/models/cifar10");
  REQUIRE(files.size() >= 3);
  for (const std::string &f : files) checkModel(f);
}
