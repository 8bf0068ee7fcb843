// ConvInCodeUnits and the float runner's CodeConv: which Convs are rewritten, and that the
// float simulation of a quantized Conv is its exact integer result scaled once.
#include <cmath>

#include "QdqTestGraph.h"
#include "TestUtil.h"
#include "kernels/QuantizeRef.h"
#include "ops/ShapeInference.h"
#include "passes/PassManager.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

constexpr float kInputScale = 0.0123f;
constexpr int32_t kInputZeroPoint = 100;

// x -> QDQ (u8 around zero point 100) -> Conv(per-channel int8 weights, int32 bias, pad 1)
// [+ residual] -> Relu. The weights' codes reach +-127 over K = IC * 9.
struct QuantizedConv {
  QdqGraph q;
  Tensor weightCodes;
  std::vector<float> weightScale;
  std::vector<int32_t> biasCodes;

  QuantizedConv(const Dims &xd, int64_t oc, bool residual, int weightLimit = 127) {
    Graph &g = q.g;
    Value *x = addInput(g, "x", xd);
    Value *xdq = q.qdq(x, kInputScale, DType::UInt8, kInputZeroPoint);
    weightCodes = int8Codes({oc, xd[1], 3, 3}, 5, weightLimit);
    weightScale = channelScales(static_cast<size_t>(oc), 0.0071f);
    Value *w = q.dequantized(weightCodes, weightScale, 0);
    Tensor bc(DType::Int32, {oc});
    std::vector<float> biasScale;
    for (int64_t c = 0; c < oc; ++c) {
      biasCodes.push_back(static_cast<int32_t>(c * 911 - 4000));
      bc.data<int32_t>()[c] = biasCodes.back();
      biasScale.push_back(kInputScale * weightScale[static_cast<size_t>(c)]);
    }
    Value *bias = q.dequantized(bc, biasScale, 0);
    const Dims yd = {xd[0], oc, xd[2], xd[3]};
    Value *y = q.op("Conv", {xdq, w, bias}, yd);
    g.nodes().back()->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    if (residual) {
      Value *r = addInput(g, "r", yd);
      y = q.op("Add", {y, q.qdq(r, 0.05f, DType::Int8)}, yd);
    }
    g.outputs().push_back(q.op("Relu", {y}, yd));
  }
};

}  // namespace

TEST_CASE("ConvInCodeUnits turns a Conv of dequantized codes into a CodeConv and leaves float Convs alone", "[passes]") {
  QuantizedConv model({1, 4, 5, 5}, 3, false);
  Graph &g = model.q.g;
  Value *x = g.findValue("x");
  Node *plain = addOp(g, "Conv", {x, g.addConstant("wf", randomTensor({2, 4, 1, 1}, 3))}, "plain");
  g.outputs().push_back(plain->output(0));
  inferShapes(g);

  runPasses(g, {"ConvInCodeUnits"});
  REQUIRE(countOps(g, "CodeConv") == 1);
  CHECK(countOps(g, "Conv") == 1);  // the float one
  const Node *c = nullptr;
  for (const Node *n : g.nodes())
    if (n->opType() == "CodeConv") c = n;
  CHECK(c->attrFloat("input_scale", 0.f) == kInputScale);
  CHECK(c->attrInts("pads", {}) == std::vector<int64_t>{1, 1, 1, 1});
  const std::vector<float> codes = c->input(1)->constant()->toFloats(), scale = c->input(2)->constant()->toFloats();
  CHECK(codes == model.weightCodes.toFloats());
  REQUIRE(scale.size() == 3);
  for (size_t o = 0; o < 3; ++o)
    CHECK(scale[o] == static_cast<float>(static_cast<double>(kInputScale) * model.weightScale[o]));
  // The weight DequantizeLinear is gone; the bias is a float constant in model units.
  CHECK(countOps(g, "DequantizeLinear") == 1);
  CHECK(c->input(3)->isConstant());
  CHECK(c->input(3)->dtype() == DType::Float32);
}

TEST_CASE("ConvInCodeUnits leaves a Conv whose integer sums could reach 2^24 as written", "[passes]") {
  // 256 input channels x 9 taps x |w| about 64 on average x |x code| up to 155 passes 2^24.
  QuantizedConv model({1, 256, 3, 3}, 2, false);
  Graph &g = model.q.g;
  inferShapes(g);
  CHECK_FALSE(runPasses(g, {"ConvInCodeUnits"}).size());
  CHECK(countOps(g, "Conv") == 1);
  // With |w| <= 60 (about 30 on average) every sum stays exact: rewritten.
  QuantizedConv small({1, 256, 3, 3}, 2, false, 60);
  inferShapes(small.q.g);
  runPasses(small.q.g, {"ConvInCodeUnits"});
  CHECK(countOps(small.q.g, "CodeConv") == 1);
}

TEST_CASE("the float simulation of a quantized Conv is its exact integer sum scaled once", "[runtime]") {
  // K = 48 x 9 = 432 products per output, codes around a zero point: summed in float32 from
  // dequantized values, the rounding of each product and partial sum would show at this
  // tolerance wherever the terms cancel.
  const Dims xd = {2, 48, 6, 6}, rd = {2, 8, 6, 6};
  QuantizedConv model(xd, 8, true, 40);
  Tensor x = randomTensor(xd, 21, -1.2f, 1.9f), r = randomTensor(rd, 22, -4.f, 4.f);
  Tensor got = runGraph(model.q.g, {x, r})[0];

  std::vector<int32_t> centered;
  for (float v : x.toFloats())
    centered.push_back(quantizeValue(v, kInputScale, kInputZeroPoint, quantRange(8, false, false)) - kInputZeroPoint);
  const std::vector<int64_t> acc = convAcc(centered, xd, model.weightCodes, 1, 1);
  const std::vector<float> rv = r.toFloats(), y = got.toFloats();
  const QuantRange s8 = quantRange(8, true, false);
  size_t off = 0;
  double worst = 0.0;
  const size_t plane = 36;
  for (size_t i = 0; i < acc.size(); ++i) {
    const size_t c = (i / plane) % 8;
    const double s = static_cast<double>(kInputScale) * model.weightScale[c];
    const double conv = static_cast<double>(acc[i]) * s, bias = model.biasCodes[c] * s;
    const double res = dequantizeValue(quantizeValue(rv[i], 0.05f, 0, s8), 0.05f, 0);
    const double want = std::max(0.0, conv + bias + res);
    // Three float roundings after the exact sum (scale, bias, residual), each within half an
    // ulp of the terms it adds.
    const double tol = 3.0 * std::ldexp(std::fabs(conv) + std::fabs(bias) + std::fabs(res), -24);
    const double d = std::fabs(y[i] - want);
    worst = std::max(worst, d);
    if (d > tol) ++off;
  }
  INFO("worst difference " << worst);
  CHECK(off == 0);
}
