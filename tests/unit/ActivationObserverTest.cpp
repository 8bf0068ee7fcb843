#include <catch2/catch.hpp>

#include <random>

#include "calib/ActivationObserver.h"

using namespace lowbit;

namespace {
ActivationObserver observe(const std::vector<float> &x) {
  ActivationObserver o;
  o.observeRange(x.data(), x.size());
  o.observeHistogram(x.data(), x.size());
  return o;
}
std::vector<float> gaussianWithOutlier(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> x(100000);
  for (float &v : x) v = d(rng);
  x[17] = 40.f;  // one outlier stretches max|x| tenfold
  return x;
}
}  // namespace

TEST_CASE("min-max clips at max|x| and detects unsigned data", "[calib]") {
  ActivationObserver o = observe({0.f, 0.5f, 3.f, 1.f});
  CHECK(o.isUnsigned());
  CHECK(o.clip(ActObserverConfig::parse("minmax"), 8) == 3.f);
  ActivationObserver s = observe({-4.f, 1.f});
  CHECK_FALSE(s.isUnsigned());
  CHECK(s.clip(ActObserverConfig::parse("minmax"), 8) == 4.f);
}

TEST_CASE("percentile clips where that share of |x| lies below", "[calib]") {
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i + 1) / 1000.f;  // uniform (0, 1]
  ActivationObserver o = observe(x);
  CHECK(o.clip(ActObserverConfig::parse("percentile:90"), 8) == Approx(0.9f).margin(0.002f));
  CHECK(o.clip(ActObserverConfig::parse("percentile:100"), 8) == Approx(1.f).margin(0.002f));
}

TEST_CASE("KL and MSE clip far below an outlier, min-max does not", "[calib]") {
  ActivationObserver o = observe(gaussianWithOutlier(1));
  const float mm = o.clip(ActObserverConfig::parse("minmax"), 8);
  const float kl = o.clip(ActObserverConfig::parse("kl"), 8);
  const float mse = o.clip(ActObserverConfig::parse("mse"), 8);
  CHECK(mm == 40.f);
  CHECK(kl < 10.f);
  CHECK(kl > 2.f);
  // At 8 bits rounding noise is cheap, so MSE keeps much of the outlier's range; at 4 bits
  // the coarse steps cost more than clipping one value, and the clip moves in.
  CHECK(mse < mm);
  const float mse4 = o.clip(ActObserverConfig::parse("mse"), 4);
  CHECK(mse4 < 10.f);
  CHECK(mse4 > 1.f);
}

TEST_CASE("a constant-zero tensor gives clip 0 (the caller picks a safe scale)", "[calib]") {
  ActivationObserver o = observe(std::vector<float>(64, 0.f));
  CHECK(o.clip(ActObserverConfig::parse("kl"), 8) == 0.f);
  CHECK(o.clip(ActObserverConfig::parse("minmax"), 8) == 0.f);
}

TEST_CASE("observer names parse and bad ones are refused", "[calib]") {
  CHECK(ActObserverConfig::parse("percentile:99.9").percentile == Approx(99.9));
  CHECK(ActObserverConfig::parse("percentile").percentile == Approx(99.99));
  CHECK_THROWS_WITH(ActObserverConfig::parse("percentile:120"), Catch::Contains("(0, 100]"));
  CHECK_THROWS_WITH(ActObserverConfig::parse("median"), Catch::Contains("'median'"));
}

TEST_CASE("klThresholdBins keeps the whole histogram when it has no tail", "[calib]") {
  std::vector<double> flat(256, 10.0);
  CHECK(klThresholdBins(flat, 128) == 256);
}
