// Hand-computed weight quantization for each granularity and bit width.
#include "TestUtil.h"
#include "quant/WeightQuantizer.h"

using namespace lowbit;
using Gran = QuantParams::Granularity;

namespace {
// 4 output channels x 2 weights, channel ranges 1, 2, 4, 8.
Tensor fourChannels() {
  return Tensor::fromVector<float>({4, 2}, {1.f, -0.5f, 2.f, 0.3f, -4.f, 1.f, 8.f, -2.f});
}
}  // namespace

TEST_CASE("per-layer min-max: one scale from the largest |w|", "[quant]") {
  WeightQuantConfig cfg;
  cfg.bits = 8;
  cfg.granularity = Gran::PerTensor;
  QuantParams p = computeWeightParams(fourChannels(), 0, cfg);
  REQUIRE(p.scale.size() == 1);
  CHECK(p.scale[0] == Approx(8.f / 127));
  CHECK(p.zeroPoint[0] == 0);
  CHECK(p.narrowRange);
}

TEST_CASE("per-channel min-max: s[c] = max|W[c,:]| / qmax", "[quant]") {
  WeightQuantConfig cfg;
  cfg.bits = 4;  // qmax 7
  cfg.granularity = Gran::PerChannel;
  QuantParams p = computeWeightParams(fourChannels(), 0, cfg);
  REQUIRE(p.scale.size() == 4);
  CHECK(p.scale[0] == Approx(1.f / 7));
  CHECK(p.scale[1] == Approx(2.f / 7));
  CHECK(p.scale[2] == Approx(4.f / 7));
  CHECK(p.scale[3] == Approx(8.f / 7));
  Tensor q = fakeQuantizeWeights(fourChannels(), p);
  // channel 1: 0.3 / (2/7) = 1.05 -> 1 -> 2/7
  CHECK(q.data<float>()[3] == Approx(2.f / 7));
  CHECK(q.data<float>()[6] == Approx(8.f));
}

TEST_CASE("group-wise: contiguous groups share the largest range of their channels", "[quant]") {
  WeightQuantConfig cfg;
  cfg.bits = 2;  // qmax 1: ternary
  cfg.granularity = Gran::PerGroup;
  cfg.groups = 2;
  QuantParams p = computeWeightParams(fourChannels(), 0, cfg);
  REQUIRE(p.scale.size() == 4);  // one per channel, repeated inside a group
  CHECK(p.groupOf == std::vector<int32_t>{0, 0, 1, 1});
  CHECK(p.scale[0] == Approx(2.f));
  CHECK(p.scale[1] == Approx(2.f));
  CHECK(p.scale[2] == Approx(8.f));
  CHECK(p.scale[3] == Approx(8.f));
}

TEST_CASE("group-wise by range puts channels of similar range together", "[quant]") {
  Tensor w = Tensor::fromVector<float>({4, 1}, {8.f, 1.f, 7.f, 1.5f});
  WeightQuantConfig cfg;
  cfg.granularity = Gran::PerGroup;
  cfg.groups = 2;
  cfg.groupOrder = WeightQuantConfig::GroupOrder::ByRange;
  QuantParams p = computeWeightParams(w, 0, cfg);
  CHECK(p.groupOf == std::vector<int32_t>{1, 0, 1, 0});
  CHECK(p.scale[1] == Approx(1.5f / 127));
  CHECK(p.scale[0] == Approx(8.f / 127));
}

TEST_CASE("per-channel along axis 1 (Gemm weights stored [K, N])", "[quant]") {
  Tensor w = Tensor::fromVector<float>({2, 3}, {1.f, -2.f, 3.f, 0.5f, 4.f, -1.f});
  WeightQuantConfig cfg;
  QuantParams p = computeWeightParams(w, 1, cfg);
  REQUIRE(p.scale.size() == 3);
  CHECK(p.scale[0] == Approx(1.f / 127));
  CHECK(p.scale[1] == Approx(4.f / 127));
  CHECK(p.scale[2] == Approx(3.f / 127));
}

TEST_CASE("MSE clipping beats min-max on weights with an outlier", "[quant]") {
  std::vector<float> v = test::randomTensor({1, 256}, 3, -1.f, 1.f).toFloats();
  v[7] = 12.f;  // one outlier stretches the min-max range
  Tensor w = Tensor::fromVector<float>({1, 256}, v);
  WeightQuantConfig mm;
  mm.bits = 4;
  WeightQuantConfig mse = mm;
  mse.observer = WeightQuantConfig::Observer::Mse;
  QuantParams pm = computeWeightParams(w, 0, mm), pe = computeWeightParams(w, 0, mse);
  CHECK(pe.scale[0] < pm.scale[0]);
  Tensor qm = fakeQuantizeWeights(w, pm), qe = fakeQuantizeWeights(w, pe);
  CHECK(sqnrDb(v.data(), qe.data<float>(), v.size()) > sqnrDb(v.data(), qm.data<float>(), v.size()));
}

TEST_CASE("an all-zero channel gets a finite scale and is reported", "[quant]") {
  Tensor w = Tensor::fromVector<float>({2, 2}, {0.f, 0.f, 1.f, -1.f});
  std::vector<int> degenerate;
  QuantParams p = computeWeightParams(w, 0, WeightQuantConfig{}, &degenerate);
  CHECK(p.scale[0] == 1.f);
  CHECK(std::isfinite(p.scale[1]));
  CHECK(degenerate == std::vector<int>{0});
  Tensor q = fakeQuantizeWeights(w, p);
  CHECK(q.data<float>()[0] == 0.f);
}

TEST_CASE("bit widths outside 2..8 are refused", "[quant]") {
  WeightQuantConfig cfg;
  cfg.bits = 1;
  CHECK_THROWS_WITH(computeWeightParams(fourChannels(), 0, cfg), Catch::Contains("2..8"));
}

TEST_CASE("power-of-two weight parameters: the largest weight on the top level, every code a power of two", "[quant]") {
  const Tensor w = Tensor::fromVector<float>({2, 4}, {6.4f, -0.1f, 0.05f, 2.2f, -0.9f, 0.3f, 0.0f, 0.16f});
  WeightQuantConfig cfg;
  cfg.bits = 4;
  cfg.scheme = QuantParams::Scheme::PowerOfTwo;
  const QuantParams p = computeWeightParams(w, 0, cfg);
  CHECK(p.scheme == QuantParams::Scheme::PowerOfTwo);
  CHECK(p.scale == std::vector<float>{6.4f / 64.f, 0.9f / 64.f});
  // Channel 0 in units of 0.1: 64, -1, 0.5 -> 1, 22 -> 16 (below 24); channel 1 in units of 0.9/64.
  const std::vector<float> q = fakeQuantizeWeights(w, p).toFloats();
  CHECK(q[0] == Approx(6.4f));
  CHECK(q[1] == Approx(-0.1f));
  CHECK(q[2] == Approx(0.1f));
  CHECK(q[3] == Approx(1.6f));
  CHECK(q[4] == Approx(-0.9f));
  CHECK(q[6] == 0.f);
  for (size_t i = 0; i < q.size(); ++i) {
    const float code = std::fabs(q[i] / p.scale[i / 4]);
    INFO("element " << i << " code " << code);
    CHECK((code == 0.f || std::fabs(std::exp2(std::round(std::log2(code))) - code) < 1e-3f));
  }
  cfg.bits = 5;
  CHECK_THROWS_WITH(computeWeightParams(w, 0, cfg), Catch::Contains("2..4 bits"));
  CHECK(parseWeightScheme("pot") == QuantParams::Scheme::PowerOfTwo);
  CHECK_THROWS_WITH(parseWeightScheme("log"), Catch::Contains("'log'"));
}

TEST_CASE("mid-rise weight parameters: the largest weight on the top odd level, no code zero", "[quant]") {
  const Tensor w = Tensor::fromVector<float>({2, 4}, {0.9f, -0.1f, 0.0f, 0.35f, -3.f, 1.1f, 0.9f, 0.2f});
  WeightQuantConfig cfg;
  cfg.bits = 2;
  cfg.scheme = QuantParams::Scheme::MidRise;
  const QuantParams p = computeWeightParams(w, 0, cfg);
  CHECK(p.scheme == QuantParams::Scheme::MidRise);
  CHECK(p.scale == std::vector<float>{0.9f / 3.f, 3.f / 3.f});
  // Channel 0 in units of 0.3: 3, -1/3 -> -1, 0 -> 1, 7/6 -> 1; channel 1 in units of 1: -3, 1.1 -> 1, 0.9 -> 1, 0.2 -> 1.
  const std::vector<float> q = fakeQuantizeWeights(w, p).toFloats();
  const std::vector<float> want{0.9f, -0.3f, 0.3f, 0.3f, -3.f, 1.f, 1.f, 1.f};
  for (size_t i = 0; i < q.size(); ++i) CHECK(q[i] == Approx(want[i]));
  cfg.bits = 8;
  CHECK_THROWS_WITH(computeWeightParams(w, 0, cfg), Catch::Contains("2..7 bits"));
  CHECK(parseWeightScheme("midrise") == QuantParams::Scheme::MidRise);
  CHECK(std::string(weightSchemeName(QuantParams::Scheme::MidRise)) == "midrise");
}
