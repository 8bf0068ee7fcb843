#include <catch2/catch.hpp>

#include "quant/BiasCorrection.h"

using namespace lowbit;

TEST_CASE("expected output shift of a conv: input means times summed weight error", "[quant]") {
  // 2 output channels, 2 input channels, 1x2 kernels.
  Tensor w = Tensor::fromVector<float>({2, 2, 1, 2}, {1.f, 1.f, 0.f, 0.f, 0.5f, 0.5f, 2.f, 0.f});
  Tensor wq = Tensor::fromVector<float>({2, 2, 1, 2}, {1.1f, 1.f, 0.f, -0.2f, 0.5f, 0.5f, 2.f, 0.3f});
  std::vector<float> eps = expectedOutputShift(w, wq, {2.0, 10.0}, 1, 0);
  CHECK(eps[0] == Approx(2.0 * 0.1 + 10.0 * -0.2));
  CHECK(eps[1] == Approx(10.0 * 0.3));
}

TEST_CASE("expected output shift of a depthwise conv uses each channel's own input", "[quant]") {
  Tensor w = Tensor::fromVector<float>({2, 1, 1, 1}, {1.f, 1.f});
  Tensor wq = Tensor::fromVector<float>({2, 1, 1, 1}, {1.5f, 0.f});
  std::vector<float> eps = expectedOutputShift(w, wq, {4.0, 3.0}, 2, 0);
  CHECK(eps[0] == Approx(2.0));
  CHECK(eps[1] == Approx(-3.0));
}

TEST_CASE("expected output shift of a Gemm in both weight layouts", "[quant]") {
  // [OC=2, K=3] (transB) and the same weights stored [K, OC].
  Tensor w = Tensor::fromVector<float>({2, 3}, {0, 0, 0, 0, 0, 0});
  Tensor wq = Tensor::fromVector<float>({2, 3}, {1, 0, 0, 0, 0, 2});
  std::vector<float> a = expectedOutputShift(w, wq, {1.0, 5.0, 7.0}, 1, 0);
  CHECK(a[0] == Approx(1.0));
  CHECK(a[1] == Approx(14.0));
  Tensor wt = Tensor::fromVector<float>({3, 2}, {0, 0, 0, 0, 0, 0});
  Tensor wqt = Tensor::fromVector<float>({3, 2}, {1, 0, 0, 0, 0, 2});
  std::vector<float> b = expectedOutputShift(wt, wqt, {1.0, 5.0, 7.0}, 1, 1);
  CHECK(b[0] == Approx(1.0));
  CHECK(b[1] == Approx(14.0));
}
