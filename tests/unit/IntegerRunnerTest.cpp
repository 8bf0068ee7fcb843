// The int8 runner against hand-computed integer references: QConv (requantized codes,
// residual sum, depthwise, float output), QGemm, dynamic quantization, and the lowering's
// decisions for layers that must stay float.
#include <algorithm>
#include <cmath>

#include "QdqTestGraph.h"
#include "TestUtil.h"
#include "ir/Verifier.h"
#include "kernels/IntegerKernels.h"
#include "passes/LowerToInteger.h"
#include "passes/PassManager.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

std::vector<int32_t> codesOf(const Tensor &x, float scale, QuantRange r) {
  std::vector<int32_t> q;
  for (float v : x.toFloats()) q.push_back(quantizeValue(v, scale, 0, r));
  return q;
}

Tensor runWith(const Graph &g, const std::vector<Tensor> &inputs, std::optional<IntegerMode> mode,
               std::vector<LoweringDecision> *decisions = nullptr) {
  ExecutorOptions opts;
  opts.integer = mode;
  Executor exec(g, opts);
  Tensor out = exec.run(inputs).at(0);
  if (decisions) *decisions = exec.lowering();
  return out;
}

// Number of elements of \p got that are not within \p tol of \p want (and the worst gap).
std::pair<size_t, float> countOff(const Tensor &got, const std::vector<float> &want, float tol) {
  std::vector<float> g = got.toFloats();
  REQUIRE(g.size() == want.size());
  size_t off = 0;
  float worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const float d = std::fabs(g[i] - want[i]);
    worst = std::max(worst, d);
    if (d > tol) ++off;
  }
  return {off, worst};
}

// Runs \p g with the static int8 runner: it must lower exactly one layer to integers, whose
// decision mentions every string of \p details, and agree with the float simulation within
// one output code (\p so), at most one element in \p rarity off.
void checkOneIntegerLayerMatchesSimulation(const Graph &g, const std::vector<Tensor> &inputs,
                                           const std::vector<std::string> &details, float so, size_t rarity) {
  std::vector<LoweringDecision> decisions;
  Tensor got = runWith(g, inputs, IntegerMode::Static, &decisions);
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].integer);
  for (const std::string &d : details) CHECK_THAT(decisions[0].detail, Catch::Contains(d));
  Tensor sim = runWith(g, inputs, std::nullopt);
  auto [off, worst] = countOff(got, sim.toFloats(), 1e-6f);
  CHECK(worst <= so * 1.001f);
  CHECK(off * rarity <= static_cast<size_t>(sim.numel()));
}

// x [1,1,2,2] -> QDQ(u8, \p sx, \p zx) -> 1x1 Conv whose one weight is code 1 at scale \p sw.
Value *oneWeightConv(QdqGraph &q, float sx, int32_t zx, float sw) {
  Value *x = addInput(q.g, "x", {1, 1, 2, 2});
  Tensor one(DType::Int8, {1, 1, 1, 1});
  one.data<int8_t>()[0] = 1;
  return q.op("Conv", {q.qdq(x, sx, DType::UInt8, zx), q.dequantized(one, {sw}, 0)}, {1, 1, 2, 2});
}

// One run of \p g on the static int8 runner: its first output and the plan's steps per op type.
std::pair<Tensor, std::string> runStaticProfiled(const Graph &g, const Tensor &in) {
  ExecutorOptions opts;
  opts.integer = IntegerMode::Static;
  opts.profile = true;
  Executor exec(g, opts);
  Tensor out = exec.run({in}).at(0);
  return {std::move(out), exec.profileReport()};
}

// The simulation and the static int8 runner (one integer layer) both give exactly \p want.
void checkBothRunners(const Graph &g, const Tensor &in, const std::vector<float> &want) {
  CHECK(runWith(g, {in}, std::nullopt).toFloats() == want);
  std::vector<LoweringDecision> decisions;
  CHECK(runWith(g, {in}, IntegerMode::Static, &decisions).toFloats() == want);
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].integer);
}

}  // namespace

TEST_CASE("quantizeToCodes clamps to a code range narrower than its container", "[int8]") {
  std::vector<float> x = {0.f, 0.49f, 0.51f, 126.6f, 300.f, -4.f};
  std::vector<uint8_t> codes(x.size());
  quantizeToCodes(x.data(), codes.data(), x.size(), 1.f, 0, QuantRange{0, 127});
  CHECK(codes == std::vector<uint8_t>{0, 0, 1, 127, 127, 0});
  std::vector<float> back(codes.size());
  dequantizeCodes(codes.data(), back.data(), codes.size(), 0.5f, 0);
  CHECK(back == std::vector<float>{0.f, 0.f, 0.5f, 63.5f, 63.5f, 0.f});
}

TEST_CASE("dequantizeAccumulators applies scale, bias, residual and the activation interval", "[int8]") {
  const std::vector<int32_t> acc = {10, -10, 4, 100};  // 2 rows x 2 channels
  const std::vector<float> scale = {0.5f, 0.25f}, bias = {1.f, -1.f}, other = {0.f, 0.f, 1.f, 2.f};
  std::vector<float> y(4);
  dequantizeAccumulators(acc.data(), y.data(), 2, 2, scale.data(), bias.data(), other.data(), 0.f, 20.f);
  CHECK(y == std::vector<float>{6.f, 0.f, 4.f, 20.f});
  CHECK(maxAbs(other.data(), other.size()) == 2.f);
}

TEST_CASE("int8 QConv requantizes to u8 codes exactly as the integer reference", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {2, 8, 6, 6}, yd = {2, 16, 6, 6};
  const float sx = 0.02f, so = 0.05f;
  Value *x = addInput(g, "x", xd);
  Value *xr = q.op("Relu", {x}, xd);
  Value *xdq = q.qdq(xr, sx, DType::UInt8);
  Tensor wc = int8Codes({16, 8, 3, 3}, 3, 60);  // |w| <= 64: exact on CPUs without VNNI too
  const std::vector<float> sw = channelScales(16, 0.004f);
  Value *w = q.dequantized(wc, sw, 0);
  Tensor bc(DType::Int32, {16});
  std::vector<float> biasScale;
  for (int64_t c = 0; c < 16; ++c) {
    bc.data<int32_t>()[c] = static_cast<int32_t>(c * 37 - 300);
    biasScale.push_back(sx * sw[static_cast<size_t>(c)]);
  }
  Value *bias = q.dequantized(bc, biasScale, 0);
  Value *conv = q.op("Conv", {xdq, w, bias}, yd);
  g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Value *y = q.qdq(q.op("Relu", {conv}, yd), so, DType::UInt8);
  g.outputs().push_back(y);

  Tensor in = randomTensor(xd, 11, -1.f, 4.f);
  std::vector<LoweringDecision> decisions;
  Tensor got = runWith(g, {in}, IntegerMode::Static, &decisions);
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].integer);
  CHECK_THAT(decisions[0].detail, Catch::Contains("UINT8 out") && Catch::Contains("relu"));

  // Reference: integer accumulation, then one rounding of acc * sx * sw / so.
  std::vector<float> relu = in.toFloats();
  for (float &v : relu) v = std::max(v, 0.f);
  std::vector<int32_t> xq = codesOf(Tensor::fromVector<float>(xd, relu), sx, QuantRange{0, 255});
  std::vector<int64_t> acc = convAcc(xq, xd, wc, 1, 1);
  std::vector<float> want(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const size_t c = (i / 36) % 16;
    const double v = (static_cast<double>(acc[i]) + bc.data<int32_t>()[c]) * sx * sw[c] / so;
    want[i] = static_cast<float>(std::clamp(std::nearbyint(v), 0.0, 255.0)) * so;
  }
  auto [off, worst] = countOff(got, want, 1e-6f);
  INFO("codes off by one: " << off << " of " << want.size() << ", worst " << worst);
  CHECK(worst <= so * 1.001f);        // at most one code, at rounding ties
  CHECK(off * 200 <= want.size());    // and rarely

  // The float simulation of the same QDQ graph agrees to the same tolerance.
  Tensor sim = runWith(g, {in}, std::nullopt);
  auto [offSim, worstSim] = countOff(got, sim.toFloats(), 1e-6f);
  CHECK(worstSim <= so * 1.001f);
  CHECK(offSim * 200 <= want.size());
}

TEST_CASE("int8 QConv sums a signed residual into unsigned codes and runs depthwise", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 8, 5, 5};
  const float sx = 0.03f, sr = 0.04f, so = 0.06f;
  Value *x = addInput(g, "x", xd);
  Value *r = addInput(g, "r", xd);
  Value *xdq = q.qdq(q.op("Relu", {x}, xd), sx, DType::UInt8);
  Value *rdq = q.qdq(r, sr, DType::Int8);
  Tensor wc = int8Codes({8, 1, 3, 3}, 5, 60);
  const std::vector<float> sw = channelScales(8, 0.01f);
  Value *conv = q.op("Conv", {xdq, q.dequantized(wc, sw, 0)}, xd);
  g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  g.nodes().back()->setAttr("group", Attribute::ofInt(8));
  Value *sum = q.op("Add", {conv, rdq}, xd);
  Value *y = q.qdq(q.op("Relu", {sum}, xd), so, DType::UInt8);
  g.outputs().push_back(y);

  Tensor xin = randomTensor(xd, 21, -1.f, 3.f), rin = randomTensor(xd, 22, -4.f, 4.f);
  std::vector<LoweringDecision> decisions;
  Tensor got = runWith(g, {xin, rin}, IntegerMode::Static, &decisions);
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].integer);
  CHECK_THAT(decisions[0].detail, Catch::Contains("+residual (codes)"));

  std::vector<float> relu = xin.toFloats();
  for (float &v : relu) v = std::max(v, 0.f);
  std::vector<int32_t> xq = codesOf(Tensor::fromVector<float>(xd, relu), sx, QuantRange{0, 255});
  std::vector<int32_t> rq = codesOf(rin, sr, QuantRange{-128, 127});
  std::vector<int64_t> acc = convAcc(xq, xd, wc, 8, 1);
  std::vector<float> want(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const size_t c = (i / 25) % 8;
    const double v = static_cast<double>(acc[i]) * sx * sw[c] / so + static_cast<double>(rq[i]) * sr / so;
    want[i] = static_cast<float>(std::clamp(std::nearbyint(v), 0.0, 255.0)) * so;
  }
  auto [off, worst] = countOff(got, want, 1e-6f);
  CHECK(worst <= so * 1.001f);
  CHECK(off * 50 <= want.size());
}

TEST_CASE("int8 QGemm without a following QuantizeLinear outputs float", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {3, 16};
  const float sx = 0.05f;
  Value *x = addInput(g, "x", xd);
  Value *xdq = q.qdq(q.op("Relu", {x}, xd), sx, DType::UInt8);
  Tensor wc = int8Codes({10, 16}, 7, 127);
  const std::vector<float> sw = channelScales(10, 0.002f);
  Value *y = q.op("Gemm", {xdq, q.dequantized(wc, sw, 0), g.addConstant("b", randomTensor({10}, 8))}, {3, 10});
  g.nodes().back()->setAttr("transB", Attribute::ofInt(1));
  g.outputs().push_back(y);

  Tensor in = randomTensor(xd, 9, -1.f, 5.f);
  std::vector<LoweringDecision> decisions;
  Tensor got = runWith(g, {in}, IntegerMode::Static, &decisions);
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].integer);
  CHECK_THAT(decisions[0].detail, Catch::Contains("f32 out"));
  std::vector<float> relu = in.toFloats(), bias = g.findValue("b")->constant()->toFloats();
  for (float &v : relu) v = std::max(v, 0.f);
  std::vector<int32_t> xq = codesOf(Tensor::fromVector<float>(xd, relu), sx, QuantRange{0, 255});
  std::vector<float> want;
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t n = 0; n < 10; ++n) {
      int64_t acc = 0;
      for (int64_t k = 0; k < 16; ++k) acc += xq[static_cast<size_t>(m * 16 + k)] * wc.data<int8_t>()[n * 16 + k];
      want.push_back(static_cast<float>(static_cast<double>(acc) * sx * sw[static_cast<size_t>(n)] + bias[static_cast<size_t>(n)]));
    }
  CHECK(mismatch(got, Tensor::fromVector<float>({3, 10}, want), 1e-5f, 1e-5f).empty());
}

TEST_CASE("int8 dynamic mode quantizes each batch with its own scale", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {2, 4, 5, 5}, yd = {2, 6, 5, 5};
  Value *x = addInput(g, "x", xd);
  Value *xdq = q.qdq(q.op("Relu", {x}, xd), 0.5f, DType::UInt8);  // static scale: ignored
  Tensor wc = int8Codes({6, 4, 3, 3}, 13, 60);
  const std::vector<float> sw = channelScales(6, 0.01f);
  Value *y = q.op("Conv", {xdq, q.dequantized(wc, sw, 0)}, yd);
  g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  g.outputs().push_back(y);

  for (float top : {1.f, 30.f}) {  // two batches with very different ranges
    Tensor in = randomTensor(xd, 17, -1.f, top);
    std::vector<LoweringDecision> decisions;
    Tensor got = runWith(g, {in}, IntegerMode::Dynamic, &decisions);
    REQUIRE(decisions.size() == 1);
    CHECK(decisions[0].integer);
    std::vector<float> relu = in.toFloats();
    float m = 0;
    for (float &v : relu) m = std::max(m, v = std::max(v, 0.f));
    const float sx = m / 127.f;
    std::vector<int32_t> xq = codesOf(Tensor::fromVector<float>(xd, relu), sx, QuantRange{0, 127});
    std::vector<int64_t> acc = convAcc(xq, xd, wc, 1, 1);
    std::vector<float> want(acc.size());
    for (size_t i = 0; i < acc.size(); ++i)
      want[i] = static_cast<float>(acc[i]) * (sx * sw[(i / 25) % 6]);
    INFO("input range [0, " << top << "]");
    CHECK(mismatch(got, Tensor::fromVector<float>(yd, want), 1e-5f, 1e-5f).empty());
  }
}

TEST_CASE("signed inputs run as u8 codes with zero point 128, float weights stay float and say why", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 4, 4, 4};
  Value *x = addInput(g, "x", xd);
  Value *signedIn = q.qdq(x, 0.02f, DType::Int8);  // no Relu: may be negative
  Tensor wc = int8Codes({4, 4, 3, 3}, 3, 60);       // |w| <= 64: exact without VNNI too
  Value *a = q.op("Conv", {signedIn, q.dequantized(wc, {0.01f}, 0)}, xd);
  g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));  // padding must read as 0, not code 0
  Value *r = q.qdq(a, 0.02f, DType::Int8);          // signed output codes
  Value *b = q.op("Conv", {r, q.op("Identity", {g.addConstant("wf", randomTensor({4, 4, 1, 1}, 4))}, {4, 4, 1, 1})}, xd);
  g.outputs().push_back(b);

  Tensor in = randomTensor(xd, 5);
  std::vector<LoweringDecision> decisions;
  Tensor got = runWith(g, {in}, IntegerMode::Static, &decisions);
  REQUIRE(decisions.size() == 2);
  CHECK(decisions[0].integer);
  CHECK_THAT(decisions[0].detail, Catch::Contains("zero point 128") && Catch::Contains("INT8 out"));
  CHECK_FALSE(decisions[1].integer);
  CHECK_THAT(decisions[1].detail, Catch::Contains("float weights"));
  // The float layer runs between DequantizeLinear and QuantizeLinear: the simulation's result,
  // up to one code of the first layer at rounding ties.
  Tensor sim = runWith(g, {in}, std::nullopt);
  CHECK(mismatch(got, sim, 0.02f * 4 * 0.5f, 0.f).empty());
}

TEST_CASE("a layer with signed input and full-range weights stays float on CPUs without VNNI and says how to fix it", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 8, 4, 4};
  Value *x = addInput(g, "x", xd);
  Value *conv = q.op("Conv", {q.qdq(x, 0.02f, DType::Int8), q.dequantized(int8Codes({8, 8, 1, 1}, 4, 127), {0.01f}, 0)}, xd);
  g.outputs().push_back(q.qdq(conv, 0.05f, DType::Int8));
  // Both targets, whatever this CPU is: the decision follows the target passed in.
  for (bool fullRange : {false, true}) {
    std::unique_ptr<Graph> copy = g.clone();
    std::vector<LoweringDecision> d;
    PassContext ctx;
    ctx.integerTarget = IntegerTarget{IntegerMode::Static, fullRange};
    ctx.loweringDecisions = &d;
    runPasses(*copy, {"LowerToInteger"}, ctx);
    REQUIRE(d.size() == 1);
    CHECK(d[0].integer == fullRange);
    if (!fullRange) CHECK_THAT(d[0].detail, Catch::Contains("signed input") && Catch::Contains("--wbits 7"));
  }
  std::vector<LoweringDecision> decisions;
  runWith(g, {randomTensor(xd, 5)}, IntegerMode::Static, &decisions);
  REQUIRE(decisions.size() == 1);
  if (decisions[0].integer) {
    SUCCEED("this CPU has VNNI: full-range u8 codes are exact");
  } else {
    CHECK_THAT(decisions[0].detail, Catch::Contains("signed input") && Catch::Contains("--wbits 7"));
  }
}

TEST_CASE("a Gemm with a signed or asymmetric input runs as integers, as a 1x1 convolution with a zero point", "[int8]") {
  {  // signed codes (zero point 128 once shifted to u8), float out
    QdqGraph q;
    Graph &g = q.g;
    Value *x = addInput(g, "x", {2, 8});
    Value *y = q.op("Gemm", {q.qdq(x, 0.01f, DType::Int8), q.dequantized(int8Codes({3, 8}, 1, 60), {0.02f}, 0)}, {2, 3});
    g.nodes().back()->setAttr("transB", Attribute::ofInt(1));
    g.outputs().push_back(y);
    std::vector<LoweringDecision> decisions;
    Tensor in = randomTensor({2, 8}, 2);
    Tensor got = runWith(g, {in}, IntegerMode::Static, &decisions);
    REQUIRE(decisions.size() == 1);
    CHECK(decisions[0].integer);
    CHECK_THAT(decisions[0].detail, Catch::Contains("zero point 128") && Catch::Contains("f32 out"));
    CHECK(mismatch(got, runWith(g, {in}, std::nullopt), 1e-5f, 1e-5f).empty());
  }
  {  // asymmetric u8 in and out (ONNX Runtime's layout), per-channel weights, transB = 0
    QdqGraph q;
    Graph &g = q.g;
    const float so = 0.03f;
    Value *x = addInput(g, "x", {4, 16});
    Value *y = q.op("Gemm", {q.qdq(x, 0.02f, DType::UInt8, 90), q.dequantized(int8Codes({16, 5}, 7, 60), channelScales(5, 0.01f), 1)},
                    {4, 5});
    g.outputs().push_back(q.qdq(y, so, DType::UInt8, 110));
    checkOneIntegerLayerMatchesSimulation(g, {randomTensor({4, 16}, 8, -1.5f, 2.f)}, {"zero point 90", "UINT8 out"}, so, 20);
  }
}

TEST_CASE("a subsampled, zero-padded shortcut stays codes and is summed by the QConv", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {2, 4, 6, 6}, yd = {2, 8, 3, 3};
  const float sx = 0.02f, so = 0.04f;
  Value *x = addInput(g, "x", xd);
  Value *xa = q.qdq(q.op("Relu", {x}, xd), sx, DType::UInt8);
  Value *conv = q.op("Conv", {xa, q.dequantized(int8Codes({8, 4, 3, 3}, 31, 60), channelScales(8, 0.01f), 0)}, yd);
  g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  g.nodes().back()->setAttr("strides", Attribute::ofInts({2, 2}));
  auto ints = [&](std::vector<int64_t> v) {
    return g.addConstant(q.name("i"), Tensor::fromVector<int64_t>({static_cast<int64_t>(v.size())}, v));
  };
  Value *sliced = q.op("Slice", {xa, ints({0, 0}), ints({6, 6}), ints({2, 3}), ints({2, 2})}, {2, 4, 3, 3});
  Value *padded = q.op("Pad", {sliced, ints({0, 2, 0, 0, 0, 2, 0, 0})}, yd);
  Value *y = q.qdq(q.op("Relu", {q.op("Add", {conv, padded}, yd)}, yd), so, DType::UInt8);
  g.outputs().push_back(y);

  checkOneIntegerLayerMatchesSimulation(g, {randomTensor(xd, 41, -1.f, 3.f)}, {"UINT8 out", "+residual (codes)"}, so, 2000);
}

TEST_CASE("QuantizeLinear moves above MaxPool and Concat so convs requantize to codes", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {2, 4, 8, 8}, cd = {2, 6, 8, 8}, pd = {2, 12, 4, 4};
  const float sx = 0.02f, sy = 0.05f;
  Value *x = addInput(g, "x", xd);
  Value *xa = q.qdq(q.op("Relu", {x}, xd), sx, DType::UInt8);
  auto convRelu = [&](uint32_t seed) {
    Value *c = q.op("Conv", {xa, q.dequantized(int8Codes({6, 4, 3, 3}, seed, 60), channelScales(6, 0.01f), 0)}, cd);
    g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    return q.op("Relu", {c}, cd);
  };
  Value *cat2 = q.op("Concat", {convRelu(51), convRelu(52)}, {2, 12, 8, 8});
  g.nodes().back()->setAttr("axis", Attribute::ofInt(1));
  Value *pool = q.op("MaxPool", {cat2}, pd);
  g.nodes().back()->setAttr("kernel_shape", Attribute::ofInts({2, 2}));
  g.nodes().back()->setAttr("strides", Attribute::ofInts({2, 2}));
  Value *head = q.op("Conv", {q.qdq(pool, sy, DType::UInt8),
                              q.dequantized(int8Codes({3, 12, 1, 1}, 53, 60), channelScales(3, 0.01f), 0)}, {2, 3, 4, 4});
  g.outputs().push_back(head);

  Tensor in = randomTensor(xd, 61, -1.f, 3.f);
  std::vector<LoweringDecision> decisions;
  Tensor got = runWith(g, {in}, IntegerMode::Static, &decisions);
  REQUIRE(decisions.size() == 3);
  for (const LoweringDecision &d : decisions) CHECK(d.integer);
  CHECK_THAT(decisions[0].detail, Catch::Contains("UINT8 out"));  // requantized before the concat
  CHECK_THAT(decisions[1].detail, Catch::Contains("UINT8 out"));
  Tensor sim = runWith(g, {in}, std::nullopt);
  // One code of the concat input at a rounding tie moves the head by at most sy * sum|w| * sw.
  CHECK(mismatch(got, sim, sy * 12 * 60 * 0.013f, 0.f).empty());
}

TEST_CASE("an ONNX Runtime-style DequantizeLinear -> MaxPool -> QuantizeLinear chain pools codes", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 3, 6, 6}, pd = {1, 3, 3, 3};
  Value *x = addInput(g, "x", xd);
  Value *pool = q.op("MaxPool", {q.qdq(q.op("Relu", {x}, xd), 0.03f, DType::UInt8)}, pd);
  g.nodes().back()->setAttr("kernel_shape", Attribute::ofInts({2, 2}));
  g.nodes().back()->setAttr("strides", Attribute::ofInts({2, 2}));
  Value *y = q.op("Conv", {q.qdq(pool, 0.03f, DType::UInt8),
                           q.dequantized(int8Codes({2, 3, 1, 1}, 71, 60), {0.01f}, 0)}, {1, 2, 3, 3});
  g.outputs().push_back(y);
  Tensor in = randomTensor(xd, 72, -1.f, 3.f);
  ExecutorOptions opts;
  opts.integer = IntegerMode::Static;
  opts.profile = true;
  Executor exec(g, opts);
  Tensor got = exec.run({in}).at(0);
  REQUIRE(exec.lowering().size() == 1);
  CHECK(exec.lowering()[0].integer);
  // The pair Q(DQ(codes)) with equal parameters is gone: one QuantizeLinear (the input's) remains.
  CHECK_THAT(exec.profileReport(), Catch::Contains("QuantizeLinear x1"));
  CHECK(mismatch(got, runWith(g, {in}, std::nullopt), 1e-5f, 1e-5f).empty());
}

TEST_CASE("ONNX Runtime's residual layout (DQ, DQ -> Add -> Q, DQ -> Relu -> Q) runs on codes, equal to the simulation",
          "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {2, 4, 5, 5};
  Value *x = addInput(g, "x", xd);
  // Two operands of their own scales and code types; the sum at zero point 128 as ORT's
  // quantizer writes it, then a Relu quantized on its own scale.
  Value *in = q.qdq(q.op("Relu", {x}, xd), 0.02f, DType::UInt8);
  Value *branch = q.qdq(x, 0.015f, DType::Int8);
  Value *sum = q.qdq(q.op("Add", {branch, in}, xd), 0.03f, DType::UInt8, 128);
  Value *y = q.qdq(q.op("Relu", {sum}, xd), 0.025f, DType::UInt8);
  g.outputs().push_back(y);
  const Tensor data = randomTensor(xd, 82, -1.f, 4.f);
  const auto [got, steps] = runStaticProfiled(g, data);
  CHECK_THAT(steps, Catch::Contains("QRescale x2"));  // the sum and the Relu's requantization
  // No float Add; the one Relu left is the float input's, before it is quantized.
  CHECK_THAT(steps, !Catch::Contains("Add") && Catch::Contains("Relu x1"));
  // The same float operations on the same codes: equal to the simulation, not just close.
  CHECK(got.toFloats() == runWith(g, {data}, std::nullopt).toFloats());
}

TEST_CASE("codes requantized to another scale (DQ -> Q) are one QRescale, equal to the simulation", "[int8]") {
  // ShuffleNet's passed-through half entering a Concat of another scale: codes of one
  // quantizer dequantized and quantized again, signed to unsigned and to a zero point.
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {2, 3, 4, 4};
  Value *x = addInput(g, "x", xd);
  Value *a = q.qdq(x, 0.02f, DType::Int8);
  Value *y = q.op("Conv", {q.qdq(a, 0.013f, DType::UInt8, 100), q.dequantized(int8Codes({2, 3, 1, 1}, 95, 60), {0.01f}, 0)},
                  {2, 2, 4, 4});
  g.outputs().push_back(y);
  const Tensor data = randomTensor(xd, 96, -2.f, 2.f);
  const auto [got, steps] = runStaticProfiled(g, data);
  CHECK_THAT(steps, Catch::Contains("QRescale x1") && !Catch::Contains("DequantizeLinear") &&
                        Catch::Contains("QuantizeLinear x1"));  // the input's
  CHECK(got.toFloats() == runWith(g, {data}, std::nullopt).toFloats());
}

TEST_CASE("a signed quantized sum (symmetric int8, no Relu) feeds the next QConv as codes", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 4, 5, 5};
  Value *x = addInput(g, "x", xd);
  // MobileNetV2's residual sum quantized with symmetric activations, read by a 1x1 conv.
  Value *sum = q.qdq(q.op("Add", {q.qdq(x, 0.02f, DType::Int8), q.qdq(q.op("Relu", {x}, xd), 0.01f, DType::Int8)}, xd),
                     0.03f, DType::Int8);
  g.outputs().push_back(q.op("Conv", {sum, q.dequantized(int8Codes({3, 4, 1, 1}, 91, 60), {0.01f}, 0)}, {1, 3, 5, 5}));
  checkOneIntegerLayerMatchesSimulation(g, {randomTensor(xd, 92, -2.f, 2.f)}, {"u8 in"}, 1e-5f, 1);
  CHECK_THAT(runStaticProfiled(g, randomTensor(xd, 93, -2.f, 2.f)).second, Catch::Contains("QRescale x1") && !Catch::Contains("Add"));
}

TEST_CASE("rescaleCodes sums two dequantized operands and quantizes, hand-computed", "[int8]") {
  const uint8_t a[3] = {130, 128, 0};   // zero point 128, scale 0.5: 1, 0, -64
  const int8_t b[3] = {3, -4, 127};     // scale 0.25: 0.75, -1, 31.75
  uint8_t y[3];
  const CodeSpan as{a, true, 0.5f, 128}, bs{b, false, 0.25f, 0};
  rescaleCodes(as, &bs, y, true, 3, 0.5f, 10, QuantRange{0, 255}, -std::numeric_limits<float>::infinity());
  // 1.75 / 0.5 = 3.5 -> 4 (half to even) + 10; -1 / 0.5 -> -2 + 10; -32.25 / 0.5 = -64.5 -> clamped to 0.
  CHECK(y[0] == 14);
  CHECK(y[1] == 8);
  CHECK(y[2] == 0);
  int8_t r[3];
  rescaleCodes(bs, nullptr, r, false, 3, 0.5f, 0, QuantRange{-128, 127}, 0.f);  // a Relu, then scale 0.5
  CHECK(r[0] == 2);   // 0.75 / 0.5 = 1.5 -> 2
  CHECK(r[1] == 0);   // Relu
  CHECK(r[2] == 64);  // 63.5 -> 64
}

TEST_CASE("a requantization's table is rescaleCodes of every code, and mapCodes looks it up at any length", "[int8]") {
  // Every code of both input types, with and without a Relu, into both output types.
  for (const bool inUnsigned : {true, false})
    for (const bool outUnsigned : {true, false})
      for (const float lo : {0.f, -std::numeric_limits<float>::infinity()}) {
        const CodeSpan span{nullptr, inUnsigned, 0.037f, inUnsigned ? 131 : -3};
        const QuantRange r = outUnsigned ? QuantRange{0, 255} : QuantRange{-128, 127};
        uint8_t table[256], codes[256], direct[256];
        rescaleTable(span, outUnsigned, 0.05f, outUnsigned ? 120 : 4, r, lo, table);
        for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);
        CodeSpan all = span;
        all.data = codes;
        rescaleCodes(all, nullptr, direct, outUnsigned, 256, 0.05f, outUnsigned ? 120 : 4, r, lo);
        CHECK(std::equal(table, table + 256, direct));
      }
  // The vector path (where the CPU has it) against the loop: tails of every length below 64
  // and lengths the threads split.
  uint8_t table[256];
  for (int i = 0; i < 256; ++i) table[i] = static_cast<uint8_t>((i * 97 + 13) & 0xFF);
  for (const size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{200}, size_t{1} << 16,
                         (size_t{1} << 17) + 37}) {
    std::vector<uint8_t> x(n), fast(n, 0), slow(n, 1);
    for (size_t i = 0; i < n; ++i) x[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
    mapCodes(x.data(), fast.data(), n, table);
    mapCodesReference(x.data(), slow.data(), n, table);
    CHECK(fast == slow);
    for (size_t i = 0; i < n; ++i)
      if (slow[i] != table[x[i]]) FAIL("mapCodesReference at " << i);
  }
}

TEST_CASE("a LeakyRelu fuses into the QConv, and its signed codes are shifted to u8 through a MaxPool", "[int8]") {
  // darknet: Conv -> LeakyRelu -> QDQ (signed) -> MaxPool -> QDQ -> Conv; the lowering fuses the
  // LeakyRelu, writes the codes and pools them.
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {2, 3, 6, 6}, hd = {2, 4, 6, 6}, pd = {2, 4, 3, 3}, yd = {2, 5, 3, 3};
  Value *x = addInput(g, "x", xd);
  Value *h = q.op("Conv", {q.qdq(q.op("Relu", {x}, xd), 0.02f, DType::UInt8), q.dequantized(int8Codes({4, 3, 1, 1}, 80, 60), {0.01f}, 0)}, hd);
  Value *leaky = q.op("LeakyRelu", {h}, hd);
  g.nodes().back()->setAttr("alpha", Attribute::ofFloat(0.1f));
  Value *leakyCodes = q.qdq(leaky, 0.005f, DType::Int8);
  Value *pool = q.op("MaxPool", {leakyCodes}, pd);
  g.nodes().back()->setAttr("kernel_shape", Attribute::ofInts({2, 2}));
  g.nodes().back()->setAttr("strides", Attribute::ofInts({2, 2}));
  Value *y = q.op("Conv", {q.qdq(pool, 0.005f, DType::Int8), q.dequantized(int8Codes({5, 4, 3, 3}, 81, 60), {0.01f}, 0)}, yd);
  g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));  // padding reads real 0: code 128 once shifted
  g.outputs() = {y, leakyCodes};  // the LeakyRelu's codes are read directly too
  Tensor in = randomTensor(xd, 82, -2.f, 2.f);
  std::vector<LoweringDecision> decisions;
  std::vector<Tensor> got;
  {
    ExecutorOptions opts;
    opts.integer = IntegerMode::Static;
    Executor exec(g, opts);
    got = exec.run({in});
    decisions = exec.lowering();
  }
  const std::vector<Tensor> sim = Executor(g).run({in});
  REQUIRE(decisions.size() == 2);
  CHECK(decisions[0].integer);
  CHECK_THAT(decisions[0].detail, Catch::Contains("leaky relu 0.1") && Catch::Contains("out"));
  CHECK(decisions[1].integer);
  CHECK_THAT(decisions[1].detail, Catch::Contains("zero point 128"));
  // The fused LeakyRelu's codes: the simulation's, up to one code at rounding ties.
  CHECK(mismatch(got[1], sim[1], 0.005f * 1.01f, 0.f).empty());
  // Up to one code of the first layer's output at rounding ties, carried through 4 * 9 weights.
  CHECK(mismatch(got[0], sim[0], 0.005f * 0.01f * 60 * 36, 0.f).empty());
}

TEST_CASE("asymmetric u8 codes (ONNX Runtime's default) run with source and destination zero points", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 4, 5, 5}, yd = {1, 6, 5, 5};
  const float sx = 0.02f, so = 0.05f;
  auto qdqZp = [&](Value *v, float scale, int zp) {
    Value *dq = q.qdq(v, scale, DType::UInt8);
    Node *dqNode = dq->producer();
    Tensor z(DType::UInt8, {});
    z.data<uint8_t>()[0] = static_cast<uint8_t>(zp);
    Value *zv = g.addConstant(q.name("zp"), std::move(z));
    dqNode->inputs()[2] = zv;
    dqNode->input(0)->producer()->inputs()[2] = zv;
    return dq;
  };
  Value *x = addInput(g, "x", xd);
  Value *conv = q.op("Conv", {qdqZp(x, sx, 100), q.dequantized(int8Codes({6, 4, 3, 3}, 81, 60), channelScales(6, 0.01f), 0)}, yd);
  g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  g.outputs().push_back(qdqZp(conv, so, 120));

  checkOneIntegerLayerMatchesSimulation(g, {randomTensor(xd, 82, -1.5f, 2.f)}, {"zero point 100", "UINT8 out"}, so, 2000);
}

TEST_CASE("LowerToInteger is a pass: it needs a target, marks codes apart from quantization configs", "[int8][passes]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 4, 5, 5}, yd = {1, 8, 5, 5};
  Value *x = addInput(g, "x", xd);
  Value *conv = q.op("Conv", {q.qdq(q.op("Relu", {x}, xd), 0.02f, DType::UInt8),
                              q.dequantized(int8Codes({8, 4, 1, 1}, 3, 60), channelScales(8, 0.01f), 0)}, yd);
  g.outputs().push_back(q.qdq(q.op("Relu", {conv}, yd), 0.05f, DType::UInt8));

  std::unique_ptr<Graph> noTarget = g.clone();
  CHECK_THROWS_WITH(runPasses(*noTarget, {"LowerToInteger"}), Catch::Contains("integer target"));

  std::unique_ptr<Graph> lowered = g.clone();
  std::vector<LoweringDecision> d;
  PassContext ctx;
  ctx.integerTarget = IntegerTarget{IntegerMode::Static, true};
  ctx.loweringDecisions = &d;
  ctx.verifyEach = true;
  CHECK(runPasses(*lowered, {"LowerToInteger"}, ctx) == std::vector<std::string>{"LowerToInteger"});
  REQUIRE(d.size() == 1);
  CHECK(d[0].integer);
  size_t marked = 0;
  for (const Value *v : lowered->values()) {
    if (!v->codes) continue;
    ++marked;
    CHECK_FALSE(v->quant);  // codes are not a quantization config of a float value
    CHECK(v->codes->state == QuantParams::State::Frozen);
  }
  CHECK(marked == 3);  // input codes, weight codes, output codes
  const Node *qconv = nullptr;
  for (const Node *n : lowered->nodes())
    if (n->opType() == "QConv") qconv = n;
  REQUIRE(qconv);
  CHECK(qconv->input(0)->codes->scale == std::vector<float>{0.02f});
  CHECK(qconv->output(0)->codes->scale == std::vector<float>{0.05f});
  CHECK(qconv->input(1)->codes->granularity == QuantParams::Granularity::PerChannel);

  // The verifier checks code parameters like quantization ones.
  Value *codesIn = qconv->input(0);
  codesIn->codes->scale = {0.f};
  CHECK_THROWS_WITH(verifyGraph(*lowered), Catch::Contains("integer code parameters") && Catch::Contains(codesIn->name()));
}

TEST_CASE("int8 QConv rounds near-ties as QuantizeLinear does when its output has a zero point", "[int8]") {
  // Output codes 0.500003 above the zero point: a float holds that at 0.5, not at 100.5, so the
  // zero point must be added after rounding (up to 1, not to the even 100).
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 1, 2, 2};
  g.outputs().push_back(q.qdq(oneWeightConv(q, 1.f / 64, 0, 0.500003f), 1.f, DType::UInt8, 100));
  const Tensor in = Tensor::fromVector<float>(xd, {1.f, 3.f, 0.25f, 2.f});  // codes 64, 192, 16, 128
  const std::vector<float> want = {1.f, 2.f, 0.f, 1.f};  // 0.500003 * {1, 3, 0.25, 2}, rounded
  checkBothRunners(g, in, want);
}

TEST_CASE("int8 QuantizeLinear with a zero point rounds near-ties as the reference does", "[int8]") {
  QdqGraph q;
  Graph &g = q.g;
  const Dims xd = {1, 1, 2, 2};
  g.outputs().push_back(q.qdq(oneWeightConv(q, 1.f, 100, 1.f), 1.f, DType::Int8));
  const Tensor in = Tensor::fromVector<float>(xd, {0.500003f, 2.500003f, -1.499997f, 1.25f});
  const std::vector<float> want = {1.f, 3.f, -1.f, 1.f};  // not the even 100, 102, 98 around the zero point
  checkBothRunners(g, in, want);
}

TEST_CASE("h-swish after an integer convolution and fully connected layer is their post-op in model units", "[int8]") {
  // MobileNetV3: QConv -> x * HardSigmoid(x) -> quantized; its head, a Gemm reading codes with
  // a zero point, -> h-swish too. The layer applies the activation, then scales to the codes.
  for (const bool head : {false, true}) {
    QdqGraph q;
    Graph &g = q.g;
    const Dims xd = head ? Dims{2, 16} : Dims{2, 3, 6, 6}, yd = head ? Dims{2, 5} : Dims{2, 4, 6, 6};
    Value *x = addInput(g, "x", xd);
    Value *in = q.qdq(x, 0.02f, DType::UInt8, head ? 20 : 128);
    Value *layer;
    if (head) {
      layer = q.op("Gemm", {in, q.dequantized(int8Codes({5, 16}, 98, 60), {0.01f}, 0)}, yd);
      g.nodes().back()->setAttr("transB", Attribute::ofInt(1));
    } else {
      layer = q.op("Conv", {in, q.dequantized(int8Codes({4, 3, 1, 1}, 97, 60), {0.01f}, 0)}, yd);
    }
    Value *gate = q.op("HardSigmoid", {layer}, yd);
    g.nodes().back()->setAttr("alpha", Attribute::ofFloat(1.f / 6.f));
    g.outputs().push_back(q.qdq(q.op("Mul", {layer, gate}, yd), 0.03f, DType::UInt8, 20));
    const Tensor data = randomTensor(xd, 99, -2.f, 2.f);
    const auto [got, steps] = runStaticProfiled(g, data);
    INFO(steps);
    CHECK_THAT(steps, Catch::Contains(head ? "QGemm" : "QConv"));
    CHECK_THAT(steps, !Catch::Contains("HardSigmoid") && !Catch::Contains("Mul"));
    // The layer writes the activation's codes: the input's is the one QuantizeLinear left.
    CHECK_THAT(steps, Catch::Contains("QuantizeLinear x1"));
    // The same float result, quantized once: at most a code apart at a rounding tie.
    CHECK(mismatch(got, runWith(g, {data}, std::nullopt), 0.0301f, 0.f).empty());
  }
}

TEST_CASE("the int8 runner's opening layers run image by image and give the batch's codes", "[int8][runtime]") {
  // An input quantization (its own kernel, which names its buffers: asymmetric uint8, or
  // signed codes, which the lowering holds as uint8 with zero point 128), a 3 -> 32 stem of
  // 131,072 codes an image, and a 3x3 layer of 288 multiply-adds an element, which stays on
  // the batch. Integer sums and elementwise requantization: the same codes either way.
  for (const auto &[inType, inZp] : {std::pair{DType::UInt8, 100}, std::pair{DType::Int8, 0}}) {
    QdqGraph q;
    Graph &g = q.g;
    const Dims xd = {3, 3, 64, 64}, sd = {3, 32, 64, 64}, yd = {3, 8, 64, 64};
    Value *x = addInput(g, "x", xd);
    Value *stem = q.op("Conv", {q.qdq(x, 0.02f, inType, inZp), q.dequantized(int8Codes({32, 3, 3, 3}, 91, 60), channelScales(32, 0.01f), 0)}, sd);
    g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    Value *act = q.qdq(q.op("Relu", {stem}, sd), 0.05f, DType::UInt8);
    Value *y = q.op("Conv", {act, q.dequantized(int8Codes({8, 32, 3, 3}, 92, 60), channelScales(8, 0.01f), 0)}, yd);
    g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    g.outputs().push_back(q.qdq(y, 0.1f, DType::UInt8, 128));
    const Tensor in = randomTensor(xd, 93, -2.f, 3.f);

    std::vector<std::vector<float>> outs;
    for (bool fast : {true, false}) {
      ExecutorOptions opts;
      opts.integer = IntegerMode::Static;
      opts.fastConvolutions = fast;  // bench and eval: the image-by-image opening
      opts.profile = true;
      Executor exec(g, opts);
      outs.push_back(exec.run({in}).at(0).toFloats());
      const std::string steps = exec.profileReport(true);
      INFO(dtypeName(inType) << " input\n" << steps);
      CHECK((steps.find("QuantizeLinear  Q_3 (image by image") != std::string::npos) == fast);
      CHECK((steps.find("QConv  Conv_11 (image by image") != std::string::npos) == fast);
      CHECK(steps.find("QConv  Conv_25 (image by image") == std::string::npos);
      CHECK(steps.find("QConv  Conv_25") != std::string::npos);
    }
    CHECK(outs[0] == outs[1]);
  }
}
