// Finite-difference checks of the training engine's gradients, shared by the Network and
// gradient-table tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>

#include "TestUtil.h"
#include "train/Network.h"

namespace lowbit::test {

inline double dot(const Tensor &a, const Tensor &b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += static_cast<double>(a.data<float>()[i]) * b.data<float>()[i];
  return s;
}

/// Checks \p analytic, the gradient of \p loss in \p t, against central differences of step
/// \p eps at every \p stride-th element: |analytic - numeric| <= 2e-3 max(\p floor, |numeric|).
inline void checkGradient(const std::string &what, Tensor &t, const Tensor &analytic, const std::function<double()> &loss,
                          float eps = 1e-2f, int64_t stride = 1, double floor = 1.0) {
  INFO(what);
  REQUIRE(analytic.dims() == t.dims());
  int checked = 0;
  for (int64_t i = 0; i < t.numel(); i += stride) {
    float &v = t.data<float>()[i];
    const float saved = v;
    v = saved + eps;
    const double up = loss();
    v = saved - eps;
    const double down = loss();
    v = saved;
    const double numeric = (up - down) / (2.0 * eps);
    const double got = analytic.data<float>()[i];
    INFO("element " << i << ": analytic " << got << ", numeric " << numeric);
    CHECK(std::fabs(got - numeric) <= 2e-3 * std::max(floor, std::fabs(numeric)));
    ++checked;
  }
  CHECK(checked > 0);
}

/// Checks the input gradient \p dx and every parameter gradient of \p net against central
/// differences of \p loss (every \p inputStride-th input and \p paramStride-th parameter
/// element). ReLU and max pooling make the loss piecewise linear: a finite step can cross a
/// kink, where the gradient of the active piece lies between the one-sided slopes. Smooth
/// points must match the central difference.
inline void checkAgainstFiniteDifferences(train::Network &net, Tensor &x, const Tensor &dx,
                                          const std::function<double()> &loss, int64_t inputStride = 29,
                                          int64_t paramStride = 7) {
  const double eps = 1e-3;
  const double base = loss();
  int smoothCount = 0, total = 0;
  auto check = [&](const std::string &what, float &v, float analytic) {
    const float saved = v;
    v = static_cast<float>(saved + eps);
    const double up = loss();
    v = static_cast<float>(saved - eps);
    const double down = loss();
    v = saved;
    const double central = (up - down) / (2 * eps), left = (base - down) / eps, right = (up - base) / eps;
    const double tol = 5e-3 * std::max(1.0, std::fabs(central));
    const bool smooth = std::fabs(analytic - central) <= tol;
    const bool kink = analytic >= std::min(left, right) - tol && analytic <= std::max(left, right) + tol;
    INFO(what << ": analytic " << analytic << ", central " << central << ", left " << left << ", right " << right);
    CHECK((smooth || kink));
    smoothCount += smooth;
    ++total;
  };
  for (int64_t i = 0; i < x.numel(); i += inputStride) check(cat("input ", i), x.data<float>()[i], dx.data<float>()[i]);
  for (train::Param *p : net.params())
    for (int64_t i = 0; i < p->value.numel(); i += paramStride) check(cat(p->name, "[", i, "]"), p->value.data<float>()[i], p->grad.data<float>()[i]);
  INFO(smoothCount << " of " << total << " matched the central difference");
  CHECK(smoothCount * 10 >= total * 8);  // kinks are the exception, not the rule
}

/// Builds the training network of \p g for \p x's dims, checks its forward against the float
/// runner (|a-b| <= \p atol + \p rtol |b|), then its gradients of dot(output, r) (r seeded by
/// \p seed) against finite differences.
inline void checkForwardAndGradients(const Graph &g, Tensor x, uint32_t seed, float atol = 1e-5f, float rtol = 1e-5f,
                                     int64_t inputStride = 29, int64_t paramStride = 7) {
  train::Network net(g, x.dims());
  const Tensor y = net.forward(x);
  CHECK(mismatch(y, runGraph(g, {x})[0], atol, rtol).empty());
  const Tensor r = randomTensor(y.dims(), seed);
  net.zeroGrad();
  const Tensor dx = net.backward(r);
  checkAgainstFiniteDifferences(net, x, dx, [&] { return dot(net.forward(x), r); }, inputStride, paramStride);
}

}  // namespace lowbit::test
