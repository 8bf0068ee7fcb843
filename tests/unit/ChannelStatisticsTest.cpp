#include <catch2/catch.hpp>

#include "calib/ChannelStatistics.h"

using namespace lowbit;

TEST_CASE("ChannelStatistics: mean, standard deviation and minimum per channel over batches and positions", "[calib]") {
  ChannelStatistics s;
  s.observe(Tensor::fromVector<float>({1, 2, 2}, {1, 3, 10, 20}));
  s.observe(Tensor::fromVector<float>({1, 2, 2}, {5, 7, -2, 0}));
  REQUIRE(s.channels() == 2);
  // channel 0: 1 3 5 7 -> mean 4, variance (9 + 1 + 1 + 9) / 4 = 5; channel 1: 10 20 -2 0 -> mean 7
  CHECK(s.means()[0] == Approx(4.0));
  CHECK(s.means()[1] == Approx(7.0));
  CHECK(s.stddevs()[0] == Approx(std::sqrt(5.0)));
  CHECK(s.stddevs()[1] == Approx(std::sqrt((9.0 + 169.0 + 81.0 + 49.0) / 4.0)));
  CHECK(s.minima()[0] == 1.f);
  CHECK(s.minima()[1] == -2.f);
}

TEST_CASE("ChannelStatistics of a spatial tensor pools batch and positions", "[calib]") {
  ChannelStatistics s;
  // [N=2, C=1, 2 positions]
  s.observe(Tensor::fromVector<float>({2, 1, 2}, {2, 2, 4, 4}));
  CHECK(s.means()[0] == Approx(3.0));
  CHECK(s.stddevs()[0] == Approx(1.0));
}
