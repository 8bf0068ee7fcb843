// Gradients of the training engine's ops against central finite differences of the forward
// pass (loss = sum(y * r) for a fixed random r, so dL/dy = r), and the quantizers' straight-
// through / LSQ / PACT gradients against their definitions.
#include <algorithm>
#include <cmath>
#include <functional>

#include "GradientCheck.h"
#include "TestUtil.h"
#include "quant/QuantRules.h"
#include "train/ActivationOp.h"
#include "train/Conv2dOp.h"
#include "train/FakeQuantOp.h"
#include "train/LinearOp.h"
#include "train/PoolOp.h"

using namespace lowbit;
using namespace lowbit::train;
using namespace lowbit::test;

namespace {

// Values of magnitude in [0.1, 1] with random sign: away from ReLU's kink at 0.
Tensor awayFromZero(const Dims &dims, uint32_t seed) {
  Tensor t = randomTensor(dims, seed, 0.1f, 1.f);
  Tensor sign = randomTensor(dims, seed + 1);
  for (int64_t i = 0; i < t.numel(); ++i)
    if (sign.data<float>()[i] < 0) t.data<float>()[i] = -t.data<float>()[i];
  return t;
}

}  // namespace

TEST_CASE("Conv2dOp gradients (grouped, strided, padded, biased) match finite differences", "[train]") {
  Device dev;
  for (int64_t groups : {1, 2, 4}) {
    const Dims xd = {2, 4, 7, 6}, wd = {8, 4 / groups, 3, 3}, yd = {2, 8, 4, 3};
    ConvGeometry geo{{2, 2}, {1, 1}, {1, 1}, {1, 1}, groups};
    Conv2dOp conv(dev, xd, wd, yd, true, geo);
    Tensor x = randomTensor(xd, 1), w = randomTensor(wd, 2), b = randomTensor({8}, 3), r = randomTensor(yd, 4);
    Tensor y(DType::Float32, yd), dx(DType::Float32, xd), dw(DType::Float32, wd), db(DType::Float32, {8});
    conv.forward(x, w, &b, y);
    conv.backward(x, w, r, &dx, &dw, &db);
    auto loss = [&] {
      conv.forward(x, w, &b, y);
      return dot(y, r);
    };
    checkGradient(cat("dx, groups ", groups), x, dx, loss, 1e-2f, 5);
    checkGradient(cat("dw, groups ", groups), w, dw, loss, 1e-2f, 3);
    checkGradient(cat("db, groups ", groups), b, db, loss);
  }
}

TEST_CASE("Conv2dOp adds dL/dx into its target when asked, in oneDNN's layouts and in plain ones", "[train]") {
  Device dev;
  // 16 channels: blocked layouts on AVX-512 and AVX2 (the sum rides the reorder out); 3: plain.
  for (int64_t c : {16, 3}) {
    const Dims xd = {2, c, 6, 6}, wd = {16, c, 3, 3}, yd = {2, 16, 6, 6};
    Conv2dOp conv(dev, xd, wd, yd, false, ConvGeometry{{1, 1}, {1, 1}, {1, 1}, {1, 1}, 1});
    const Tensor x = randomTensor(xd, 5), w = randomTensor(wd, 6), r = randomTensor(yd, 7), base = randomTensor(xd, 8);
    Tensor dx(DType::Float32, xd), sum = base;
    conv.backward(x, w, r, &dx, nullptr, nullptr);
    conv.backward(x, w, r, &sum, nullptr, nullptr, /*addToDx=*/true);
    for (int64_t i = 0; i < dx.numel(); ++i)
      REQUIRE(sum.data<float>()[i] == Approx(base.data<float>()[i] + dx.data<float>()[i]).margin(1e-5));
  }
}

TEST_CASE("Gradients: a slot reads as zeros until written, the first writer may overwrite it and later ones add", "[train]") {
  Gradients g;
  g.addSlot({4});
  g.addSlot({4});
  g.reset();
  bool add = true;
  Tensor &a = g.claim(0, add);
  CHECK_FALSE(add);  // nobody wrote it this pass: overwrite
  for (int i = 0; i < 4; ++i) a.data<float>()[i] = 1.f;
  g.claim(0, add);
  CHECK(add);  // a second reader's gradient adds in
  g.reset();
  std::fill(a.data<float>(), a.data<float>() + 4, 7.f);  // stale contents from the last pass
  CHECK(g[0].toFloats() == std::vector<float>(4, 0.f));  // read before any write: zeros
  g.claim(0, add);
  CHECK(add);  // reading zeroed it, so it counts as written
  CHECK(g[1].toFloats() == std::vector<float>(4, 0.f));
}

TEST_CASE("FakeQuantOp over many pieces and threads equals the element-by-element definition", "[train]") {
  // Per channel on axis 1 of [3, 5, 5000] (rows longer than a piece) and per tensor on 70000
  // elements: the parallel, vectorized loops against quantizeValue and a double sum.
  const QuantRange r4 = quantRange(4, true, false);
  for (int axis : {1, -1}) {
    const Dims d = axis == 1 ? Dims{3, 5, 5000} : Dims{70000};
    const Tensor x = randomTensor(d, 11, -2.f, 2.f), dy = randomTensor(d, 12), base = randomTensor(d, 13);
    const ChannelView v = channelView(d, axis);
    Tensor step(DType::Float32, {v.channels});
    for (int64_t c = 0; c < v.channels; ++c) step.data<float>()[c] = 0.1f + 0.05f * static_cast<float>(c);
    FakeQuantOp fq(r4, axis, false);
    Tensor y(DType::Float32, d), dx(DType::Float32, d), added = base, ds(DType::Float32, {v.channels});
    fq.forward(x, step, y);
    fq.backward(x, step, dy, &dx, &ds);
    fq.backward(x, step, dy, &added, nullptr, /*addToDx=*/true);
    std::vector<double> want(static_cast<size_t>(v.channels), 0.0);
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t c = 0; c < v.channels; ++c)
        for (int64_t i = 0; i < v.inner; ++i) {
          const int64_t at = (o * v.channels + c) * v.inner + i;
          const float s = step.data<float>()[c], xi = x.data<float>()[at], g = dy.data<float>()[at];
          const int32_t q = quantizeValue(xi, s, 0, r4);
          REQUIRE(y.data<float>()[at] == dequantizeValue(q, s, 0));
          const float ratio = xi / s;
          const bool inside = ratio >= r4.qmin && ratio <= r4.qmax;
          REQUIRE(dx.data<float>()[at] == (inside ? g : 0.f));
          REQUIRE(added.data<float>()[at] == base.data<float>()[at] + (inside ? g : 0.f));
          want[static_cast<size_t>(c)] += static_cast<double>(g) * (inside ? q - ratio : q);
        }
    for (int64_t c = 0; c < v.channels; ++c)
      CHECK(ds.data<float>()[c] == Approx(want[static_cast<size_t>(c)]).epsilon(1e-4).margin(1e-3));
  }
}

TEST_CASE("LinearOp gradients match finite differences", "[train]") {
  Device dev;
  LinearOp fc(dev, 3, 10, 4, true);
  Tensor x = randomTensor({3, 10}, 5), w = randomTensor({4, 10}, 6), b = randomTensor({4}, 7), r = randomTensor({3, 4}, 8);
  Tensor y(DType::Float32, {3, 4}), dx(DType::Float32, {3, 10}), dw(DType::Float32, {4, 10}), db(DType::Float32, {4});
  fc.forward(x, w, &b, y);
  fc.backward(x, w, r, &dx, &dw, &db);
  auto loss = [&] {
    fc.forward(x, w, &b, y);
    return dot(y, r);
  };
  checkGradient("dx", x, dx, loss);
  checkGradient("dw", w, dw, loss);
  checkGradient("db", b, db, loss);
}

TEST_CASE("PoolOp gradients (max, average, global average) match finite differences", "[train]") {
  Device dev;
  struct Case {
    PoolOp::Kind kind;
    Dims kernel, strides, pads, yd;
  };
  const Dims xd = {2, 3, 6, 6};
  for (const Case &c : {Case{PoolOp::Kind::Max, {2, 2}, {2, 2}, {0, 0}, {2, 3, 3, 3}},
                        Case{PoolOp::Kind::Max, {3, 3}, {2, 2}, {1, 1}, {2, 3, 3, 3}},
                        Case{PoolOp::Kind::AverageExcludePad, {3, 3}, {2, 2}, {1, 1}, {2, 3, 3, 3}},
                        Case{PoolOp::Kind::AverageIncludePad, {3, 3}, {1, 1}, {1, 1}, {2, 3, 6, 6}},
                        Case{PoolOp::Kind::AverageExcludePad, {6, 6}, {1, 1}, {0, 0}, {2, 3, 1, 1}}}) {
    PoolOp pool(dev, c.kind, xd, c.yd, c.kernel, c.strides, c.pads, c.pads);
    // Distinct values 0.05 apart: a finite step of 0.01 never changes which one is the max.
    Tensor x(DType::Float32, xd);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.05f * static_cast<float>((i * 37) % x.numel());
    Tensor r = randomTensor(c.yd, 9), y(DType::Float32, c.yd), dx(DType::Float32, xd);
    pool.forward(x, y);
    pool.backward(r, dx);
    checkGradient(cat("pool kind ", static_cast<int>(c.kind), " kernel ", shapeString(c.kernel)), x, dx, [&] {
      pool.forward(x, y);
      return dot(y, r);
    });
  }
}

TEST_CASE("ActivationOp gradients (Relu, Clip) match finite differences", "[train]") {
  Device dev;
  const Dims d = {2, 3, 4, 4};
  for (auto [lo, hi] : {std::pair<float, float>{0.f, INFINITY}, {-0.5f, 0.5f}}) {
    ActivationOp act(dev, d, lo, hi);
    Tensor x = awayFromZero(d, 11), r = randomTensor(d, 12), y(DType::Float32, d), dx(DType::Float32, d);
    for (int64_t i = 0; i < x.numel(); ++i)  // keep clear of the clip bounds too
      if (std::fabs(std::fabs(x.data<float>()[i]) - 0.5f) < 0.05f) x.data<float>()[i] *= 0.8f;
    act.forward(x, y);
    act.backward(x, r, dx);
    checkGradient(cat("activation [", lo, ", ", hi, "]"), x, dx, [&] {
      act.forward(x, y);
      return dot(y, r);
    }, 1e-3f);
  }
}

TEST_CASE("Clip's gradient passes at its bounds, as PyTorch's clamp does", "[train]") {
  Device dev;
  ActivationOp clip(dev, {5}, 0.f, 1.f);
  const Tensor x = Tensor::fromVector<float>({5}, {-0.5f, 0.f, 0.5f, 1.f, 1.5f});
  Tensor dx(DType::Float32, {5});
  clip.backward(x, Tensor::fromVector<float>({5}, {1.f, 2.f, 3.f, 4.f, 5.f}), dx);
  CHECK(dx.toFloats() == std::vector<float>{0.f, 2.f, 3.f, 4.f, 0.f});
}

TEST_CASE("FakeQuantOp: straight-through input gradient and LSQ step gradient, per tensor and per channel", "[train]") {
  const QuantRange r4 = quantRange(4, true, false);  // [-8, 7]
  // Per tensor, step 0.5: x/s = {0.6, -3.3, 9.0, -20.0} -> inside, inside, above, below.
  Tensor x = Tensor::fromVector<float>({4}, {0.3f, -1.65f, 4.5f, -10.f});
  Tensor s = Tensor::fromVector<float>({1}, {0.5f}), dy = Tensor::fromVector<float>({4}, {1.f, 2.f, 3.f, 4.f});
  FakeQuantOp fq(r4, -1, false);
  Tensor y(DType::Float32, {4}), dx(DType::Float32, {4}), ds(DType::Float32, {1});
  fq.forward(x, s, y);
  CHECK(y.toFloats() == std::vector<float>{0.5f, -1.5f, 3.5f, -4.f});
  fq.backward(x, s, dy, &dx, &ds);
  CHECK(dx.toFloats() == std::vector<float>{1.f, 2.f, 0.f, 0.f});
  // LSQ: (round(v) - v) inside, qmax above, qmin below.
  const double want = 1.0 * (1 - 0.6) + 2.0 * (-3 - -3.3) + 3.0 * 7 + 4.0 * -8;
  CHECK(ds.data<float>()[0] == Approx(want).epsilon(1e-5));
  // LSQ's gradient scale 1 / sqrt(N * qmax).
  FakeQuantOp scaled(r4, -1, true);
  scaled.backward(x, s, dy, nullptr, &ds);
  CHECK(ds.data<float>()[0] == Approx(want / std::sqrt(4.0 * 7.0)).epsilon(1e-5));

  // Per channel (axis 0 of a [2, 3] weight): each row has its own step and gradient.
  Tensor w = Tensor::fromVector<float>({2, 3}, {0.2f, -0.2f, 0.1f, 3.f, -3.f, 1.f});
  Tensor steps = Tensor::fromVector<float>({2}, {0.1f, 1.f}), g = Tensor::fromVector<float>({2, 3}, {1, 1, 1, 1, 1, 1});
  FakeQuantOp perChannel(quantRange(2, true, false), 0, false);  // [-2, 1]
  Tensor wy(DType::Float32, {2, 3}), dsteps(DType::Float32, {2});
  perChannel.forward(w, steps, wy);
  CHECK(wy.toFloats()[0] == Approx(0.1f));   // 2 clamps to 1
  CHECK(wy.toFloats()[4] == Approx(-2.f));   // -3 clamps to -2
  perChannel.backward(w, steps, g, nullptr, &dsteps);
  CHECK(dsteps.data<float>()[0] == Approx(1.0).margin(1e-5));  // v = 2 above (qmax 1), v = -2 and 1 inside (0)
  CHECK(dsteps.data<float>()[1] == Approx(1 - 2).margin(1e-5));  // v = 3 above (1), -3 below (-2), 1 inside
}

TEST_CASE("PactClipOp: the clip bound's gradient matches finite differences", "[train]") {
  PactClipOp pact;
  Tensor x = awayFromZero({64}, 21), r = randomTensor({64}, 22), alpha = Tensor::fromVector<float>({1}, {0.55f});
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::fabs(x.data<float>()[i] - 0.55f) < 0.02f) x.data<float>()[i] += 0.05f;
  Tensor y(DType::Float32, {64}), dx(DType::Float32, {64}), da(DType::Float32, {1});
  pact.forward(x, alpha, y);
  pact.backward(x, alpha, r, &dx, &da);
  auto loss = [&] {
    pact.forward(x, alpha, y);
    return dot(y, r);
  };
  checkGradient("dalpha", alpha, da, loss, 1e-3f);
  checkGradient("dx", x, dx, loss, 1e-3f);
}

#include "train/Adam.h"

TEST_CASE("Adam's first step moves each parameter by lr against its gradient's sign, and cosine decays to 0", "[train]") {
  train::Param p;
  p.value = Tensor::fromVector<float>({3}, {1.f, -2.f, 0.5f});
  p.grad = Tensor::fromVector<float>({3}, {0.3f, -4.f, 0.f});
  train::AdamConfig cfg;
  cfg.lr = 0.1f;
  cfg.totalSteps = 4;
  train::Adam adam({&p}, cfg);
  CHECK(adam.currentLr() == Approx(0.1f));
  adam.step();  // bias-corrected m/sqrt(v) = sign(g) on the first step
  CHECK(p.value.toFloats()[0] == Approx(0.9f).epsilon(1e-5));
  CHECK(p.value.toFloats()[1] == Approx(-1.9f).epsilon(1e-5));
  CHECK(p.value.toFloats()[2] == Approx(0.5f));
  CHECK(adam.currentLr() == Approx(0.1f * 0.5f * (1.f + std::cos(static_cast<float>(M_PI) / 4.f))));
  for (int i = 0; i < 3; ++i) adam.step();
  CHECK(adam.currentLr() == Approx(0.f).margin(1e-7));
}

TEST_CASE("Adam minimises a quadratic and keeps quantizer steps positive", "[train]") {
  train::Param w, s;
  w.value = Tensor::fromVector<float>({2}, {3.f, -1.f});
  w.grad = Tensor(DType::Float32, {2});
  s.kind = train::Param::Kind::Step;
  s.value = Tensor::fromVector<float>({1}, {0.01f});
  s.grad = Tensor::fromVector<float>({1}, {100.f});  // pushes the step below zero
  train::AdamConfig cfg;
  cfg.lr = 0.05f;
  train::Adam adam({&w, &s}, cfg);
  for (int i = 0; i < 500; ++i) {
    for (int k = 0; k < 2; ++k) w.grad.data<float>()[k] = 2.f * (w.value.data<float>()[k] - 1.f);  // (w - 1)^2
    adam.step();
  }
  CHECK(w.value.toFloats()[0] == Approx(1.f).margin(0.02));
  CHECK(w.value.toFloats()[1] == Approx(1.f).margin(0.02));
  CHECK(s.value.toFloats()[0] > 0.f);
}

TEST_CASE("FakeQuantOp with power-of-two levels: nearest level forward, straight-through inside, LSQ step gradient", "[train]") {
  // 3 bits: levels 0, +-1, +-2, +-4; step 0.5: x/s = {0.6, 1.48, 6.2, -40}.
  QuantParams p;
  p.scheme = QuantParams::Scheme::PowerOfTwo;
  p.bits = 3;
  const FakeQuantOp fq = FakeQuantOp::forWeights(p, -1);
  Tensor x = Tensor::fromVector<float>({4}, {0.3f, 0.74f, 3.1f, -20.f});
  Tensor s = Tensor::fromVector<float>({1}, {0.5f}), dy = Tensor::fromVector<float>({4}, {1.f, 2.f, 3.f, 4.f});
  Tensor y(DType::Float32, {4}), dx(DType::Float32, {4}), ds(DType::Float32, {1});
  fq.forward(x, s, y);
  CHECK(y.toFloats() == std::vector<float>{0.5f, 0.5f, 2.f, -2.f});
  fq.backward(x, s, dy, &dx, nullptr);
  CHECK(dx.toFloats() == std::vector<float>{1.f, 2.f, 0.f, 0.f});
  // dstep = sum dy * (P(r) - r) inside, dy * (+-4) saturated, times LSQ's 1 / sqrt(4 elements * 4).
  fq.backward(x, s, dy, nullptr, &ds);
  CHECK(ds.toFloats()[0] == Approx((1 * 0.4 + 2 * -0.48 + 3 * 4.0 + 4 * -4.0) / std::sqrt(16.0)).epsilon(1e-5));
}

TEST_CASE("FakeQuantOp with mid-rise levels: nearest odd level forward, straight-through inside, LSQ step gradient", "[train]") {
  // 2 bits: levels +-1, +-3 (no zero); step 0.5: x/s = {0.2, -1.9, 2.4, 7, -0.0}.
  QuantParams p;
  p.scheme = QuantParams::Scheme::MidRise;
  p.bits = 2;
  const FakeQuantOp fq = FakeQuantOp::forWeights(p, -1);
  Tensor x = Tensor::fromVector<float>({5}, {0.1f, -0.95f, 1.2f, 3.5f, -0.f});
  Tensor s = Tensor::fromVector<float>({1}, {0.5f}), dy = Tensor::fromVector<float>({5}, {1.f, 2.f, 3.f, 4.f, 5.f});
  Tensor y(DType::Float32, {5}), dx(DType::Float32, {5}), ds(DType::Float32, {1});
  fq.forward(x, s, y);
  CHECK(y.toFloats() == std::vector<float>{0.5f, -0.5f, 1.5f, 1.5f, 0.5f});
  fq.backward(x, s, dy, &dx, &ds);
  CHECK(dx.toFloats() == std::vector<float>{1.f, 2.f, 3.f, 0.f, 5.f});
  // dstep = sum dy * (Q(r) - r) inside, dy * 3 saturated, times LSQ's 1 / sqrt(5 elements * 3).
  CHECK(ds.toFloats()[0] == Approx((1 * 0.8 + 2 * 0.9 + 3 * 0.6 + 4 * 3.0 + 5 * 1.0) / std::sqrt(15.0)).epsilon(1e-5));
}
