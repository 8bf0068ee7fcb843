#include "TestUtil.h"
#include "ops/ShapeInference.h"
#include "quant/HighBiasAbsorption.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

// x -> A (Conv, 4 -> 8 channels, bias biasA) -> Relu -> B (Conv, plain or depthwise) -> y.
// pads: of B (A has none), so tests can ask for a window with or without zero padding.
struct Chain {
  Graph g;
  ConvChain chain{};
};

std::unique_ptr<Chain> makeChain(int64_t groupB, int64_t padB, const std::vector<float> &biasA, bool biasB) {
  auto c = std::make_unique<Chain>();
  Graph &g = c->g;
  Value *x = addInput(g, "x", {2, 4, 5, 5});
  Node *a = addOp(g, "Conv", {x, g.addConstant("wa", randomTensor({8, 4, 1, 1}, 1, -0.3f, 0.3f)),
                              g.addConstant("ba", Tensor::fromVector<float>({8}, biasA))}, "a");
  Node *r = addOp(g, "Relu", {a->output(0)}, "r");
  std::vector<Value *> ins = {r->output(0), g.addConstant("wb", randomTensor({8, 8 / groupB, 3, 3}, 2))};
  if (biasB) ins.push_back(g.addConstant("bb", randomTensor({8}, 3)));
  Node *b = addOp(g, "Conv", ins, "y");
  b->setAttr("pads", Attribute::ofInts({padB, padB, padB, padB}));
  b->setAttr("group", Attribute::ofInt(groupB));
  g.outputs().push_back(b->output(0));
  inferShapes(g);
  c->chain = {a, r, b};
  return c;
}

// Inputs in [0, 1]: with |W_A| <= 0.3 over 4 channels, A's output moves at most 1.2 around its bias.
const std::vector<float> kHighBias = {3.f, -2.f, 2.5f, 0.f, 5.f, 1.f, -4.f, 2.f};

// Statistics of A's output (the Relu input) on \p x.
ChannelStatistics statsOf(const Graph &g, const Tensor &x) {
  std::unique_ptr<Graph> probe = g.clone();
  probe->outputs().push_back(probe->findValue("a"));
  ChannelStatistics s;
  s.observe(runGraph(*probe, {x})[1]);
  return s;
}

std::vector<float> minimaOf(const Graph &g, const Tensor &x) { return statsOf(g, x).minima(); }

}  // namespace

TEST_CASE("the absorbed offset is mean - 3 std, or the minimum when larger, never negative", "[quant]") {
  ChannelStatistics s;
  // channel 0: 10 10 10 16 -> mean 11.5, std sqrt(6.75) = 2.598, mean - 3 std = 3.706 < min 10
  // channel 1: 0 100 100 100 -> mean 75, std 43.30, mean - 3 std < 0 and min 0 -> 0
  // channel 2: 5 6 7 8 -> mean - 3 std = 6.5 - 3.35 = 3.15 < min 5
  s.observe(Tensor::fromVector<float>({1, 3, 4}, {10, 10, 10, 16, 0, 100, 100, 100, 5, 6, 7, 8}));
  std::vector<float> b = absorptionBound(s);
  CHECK(b[0] == 10.f);
  CHECK(b[1] == 0.f);
  CHECK(b[2] == 5.f);
  ChannelStatistics t;
  std::vector<float> many(1000, 20.f);
  many[0] = 1.f;  // one outlier: the minimum is 1, mean - 3 std is close to 20
  t.observe(Tensor::fromVector<float>({1, 1, 1000}, many));
  const float want = static_cast<float>(t.means()[0] - 3.0 * t.stddevs()[0]);
  CHECK(want > 15.f);
  CHECK(absorptionBound(t)[0] == Approx(want));
}

TEST_CASE("high-bias absorption keeps the float outputs where no padding is read", "[quant]") {
  for (int64_t group : {int64_t{1}, int64_t{8}}) {  // plain and depthwise B
    for (bool biasB : {true, false}) {
      INFO("group " << group << " B bias " << biasB);
      auto c = makeChain(group, 0, kHighBias, biasB);
      Tensor x = randomTensor({2, 4, 5, 5}, 7, 0.f, 1.f);
      Tensor before = runGraph(c->g, {x})[0];
      const std::vector<float> minima = minimaOf(c->g, x);
      AbsorbedBias r = absorbHighBias(c->g, c->chain, minima);
      // The biases 3, 2.5, 5 and 2 exceed the 1.2 A's weights can subtract: always on.
      int positive = 0;
      for (float m : minima) positive += m > 0.f;
      CHECK(r.channels == positive);
      CHECK(r.channels >= 4);
      CHECK(mismatch(runGraph(c->g, {x})[0], before, 1e-4f, 1e-4f) == "");
      // The Relu input lost its offset: every shifted channel now reaches 0.
      const std::vector<float> after = minimaOf(c->g, x);
      for (size_t ch = 0; ch < after.size(); ++ch)
        if (minima[ch] > 0.f) CHECK(after[ch] == Approx(0.f).margin(1e-5));
        else CHECK(after[ch] == Approx(minima[ch]).margin(1e-5));
      CHECK(c->g.findValue("ba")->constant()->toFloats() == kHighBias);  // shared originals untouched
    }
  }
}

TEST_CASE("high-bias absorption with zero padding changes only the border outputs", "[quant]") {
  auto c = makeChain(1, 1, kHighBias, true);
  Tensor x = randomTensor({2, 4, 5, 5}, 7, 0.f, 1.f);
  Tensor before = runGraph(c->g, {x})[0];
  absorbHighBias(c->g, c->chain, minimaOf(c->g, x));
  Tensor after = runGraph(c->g, {x})[0];
  const float *p = before.data<float>(), *q = after.data<float>();
  float interior = 0.f, border = 0.f;
  for (int64_t nc = 0; nc < 2 * 8; ++nc)
    for (int64_t h = 0; h < 5; ++h)
      for (int64_t w = 0; w < 5; ++w) {
        const size_t at = static_cast<size_t>((nc * 5 + h) * 5 + w);
        float &worst = (h == 0 || w == 0 || h == 4 || w == 4) ? border : interior;
        worst = std::max(worst, std::fabs(p[at] - q[at]));
      }
  CHECK(interior < 1e-4f);
  CHECK(border > 1e-2f);  // B now reads 0 where it read the absorbed offset
}

TEST_CASE("high-bias absorption leaves channels that reach zero or below alone", "[quant]") {
  auto c = makeChain(1, 0, std::vector<float>(8, -3.f), true);  // always off
  Tensor x = randomTensor({2, 4, 5, 5}, 7, 0.f, 1.f);
  const Value *biasBefore = c->chain.second->input(2);
  AbsorbedBias r = absorbHighBias(c->g, c->chain, minimaOf(c->g, x));
  CHECK(r.channels == 0);
  CHECK(r.maxShift == 0.f);
  CHECK(c->chain.second->input(2) == biasBefore);
}

TEST_CASE("high-bias absorption refuses minima of the wrong channel count", "[quant]") {
  auto c = makeChain(1, 0, kHighBias, true);
  CHECK_THROWS_WITH(absorbHighBias(c->g, c->chain, {1.f, 2.f}), Catch::Contains("channel bounds"));
}
