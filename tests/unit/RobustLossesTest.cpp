// SRQ's robustness losses (train/RobustLosses.h): hand-computed values and gradients against
// central finite differences.
#include <cmath>
#include <functional>

#include "GradientCheck.h"
#include "TestUtil.h"
#include "train/RobustLosses.h"

using namespace lowbit;
using namespace lowbit::test;


TEST_CASE("structureLoss: zero for features that differ only in scale per sample, gradient by finite differences", "[train]") {
  Tensor t = randomTensor({4, 2, 3}, 1), s = t, ds(DType::Float32, t.dims());
  for (int64_t i = 0; i < 6; ++i) s.data<float>()[i] *= 3.f;  // sample 0 three times as long
  CHECK(train::structureLoss(s, t, ds) == Approx(0.0).margin(1e-12));
  // Two samples: cosines 1 and 0 (teacher) against 1 and 1 (student): mean of 2 * 1^2 over 4 entries.
  const Tensor tt = Tensor::fromVector<float>({2, 2}, {1.f, 0.f, 0.f, 2.f}), ss = Tensor::fromVector<float>({2, 2}, {1.f, 1.f, 2.f, 2.f});
  Tensor d2(DType::Float32, {2, 2});
  CHECK(train::structureLoss(ss, tt, d2) == Approx(0.5));
  Tensor x = randomTensor({5, 6}, 2), teacher = randomTensor({5, 6}, 3), dx(DType::Float32, {5, 6});
  train::structureLoss(x, teacher, dx);
  Tensor scratch(DType::Float32, {5, 6});
  checkGradient("structure", x, dx, [&] { return train::structureLoss(x, teacher, scratch); }, 1e-3f, 1, 1e-2);
}

TEST_CASE("lipschitzLoss: only pairs further apart than bound times the float distance count", "[train]") {
  // Teacher: orthogonal (distance sqrt 2). Student: opposite (distance 2). Bound 1: excess 2 - sqrt 2.
  const Tensor t = Tensor::fromVector<float>({2, 2}, {1.f, 0.f, 0.f, 1.f}), s = Tensor::fromVector<float>({2, 2}, {1.f, 0.f, -1.f, 0.f});
  Tensor d(DType::Float32, {2, 2});
  CHECK(train::lipschitzLoss(s, t, 1.f, d) == Approx(std::pow(2.0 - std::sqrt(2.0), 2)).epsilon(1e-6));
  CHECK(train::lipschitzLoss(s, t, 1.5f, d) == 0.0);  // 2 <= 1.5 sqrt 2
  Tensor x = randomTensor({5, 6}, 4), teacher = randomTensor({5, 6}, 5), dx(DType::Float32, {5, 6});
  const double l = train::lipschitzLoss(x, teacher, 0.7f, dx);
  CHECK(l > 0.0);
  Tensor scratch(DType::Float32, {5, 6});
  checkGradient("lipschitz", x, dx, [&] { return train::lipschitzLoss(x, teacher, 0.7f, scratch); }, 1e-3f, 1, 1e-2);
}

TEST_CASE("perturbationLoss is the batch mean of the squared change", "[train]") {
  const Tensor y = Tensor::fromVector<float>({2, 2}, {1.f, 2.f, 3.f, 4.f}), c = Tensor::fromVector<float>({2, 2}, {1.f, 0.f, 0.f, 4.f});
  Tensor d(DType::Float32, {2, 2});
  CHECK(train::perturbationLoss(y, c, d) == Approx((4.0 + 9.0) / 2));
  CHECK(d.toFloats() == std::vector<float>{0.f, 2.f, 3.f, 0.f});
}

TEST_CASE("SpectralNorm: power iteration converges to the largest singular value, and its gradient is 2 sigma u v^T", "[train]") {
  // diag(3, 1) rotated: singular values 3 and 1.
  const float c = std::cos(0.3f), s = std::sin(0.3f);
  const Tensor w = Tensor::fromVector<float>({2, 2}, {3 * c, -3 * s, s, c});
  train::SpectralNorm sn;
  Tensor dw(DType::Float32, {2, 2});
  double sigma2 = 0;
  for (int i = 0; i < 30; ++i) {
    std::fill(dw.data<float>(), dw.data<float>() + 4, 0.f);
    sigma2 = sn.penalty("w", w, dw, 1.f);
  }
  CHECK(sigma2 == Approx(9.0).epsilon(1e-5));
  // Converged: the gradient equals the derivative of sigma^2 by finite differences (a 4-D conv weight too).
  Tensor w4 = randomTensor({3, 2, 2, 2}, 6), d4(DType::Float32, w4.dims());
  for (int i = 0; i < 200; ++i) {
    std::fill(d4.data<float>(), d4.data<float>() + d4.numel(), 0.f);
    sn.penalty("w4", w4, d4, 1.f);
  }
  Tensor scratch(DType::Float32, w4.dims());
  checkGradient("spectral", w4, d4, [&] {
    train::SpectralNorm it;
    double v = 0;
    for (int i = 0; i < 200; ++i) v = it.penalty("w4", w4, scratch, 0.f);
    return v;
  }, 1e-3f, 1, 1e-2);
}
