#include "train/RobustLosses.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "support/Error.h"

namespace lowbit::train {

namespace {

constexpr double kTiny = 1e-12;

// Rows of \p x [N, D] divided by their L2 norms (norms returned too).
struct Normalised {
  int64_t n, d;
  std::vector<double> rows, norms;
};

Normalised normalise(const Tensor &x) {
  Normalised r{x.dims()[0], x.numel() / std::max<int64_t>(1, x.dims()[0]), {}, {}};
  r.rows.resize(static_cast<size_t>(x.numel()));
  r.norms.resize(static_cast<size_t>(r.n));
  const float *p = x.data<float>();
  for (int64_t i = 0; i < r.n; ++i) {
    double s = 0;
    for (int64_t k = 0; k < r.d; ++k) s += static_cast<double>(p[i * r.d + k]) * p[i * r.d + k];
    const double norm = std::sqrt(s) + kTiny;
    r.norms[static_cast<size_t>(i)] = norm;
    for (int64_t k = 0; k < r.d; ++k) r.rows[static_cast<size_t>(i * r.d + k)] = p[i * r.d + k] / norm;
  }
  return r;
}

// d loss / d x from d loss / d xhat for xhat = x / ||x|| row by row.
void backThroughNormalise(const Normalised &s, const std::vector<double> &dHat, Tensor &ds) {
  float *out = ds.data<float>();
  for (int64_t i = 0; i < s.n; ++i) {
    const double *h = &s.rows[static_cast<size_t>(i * s.d)], *g = &dHat[static_cast<size_t>(i * s.d)];
    double dot = 0;
    for (int64_t k = 0; k < s.d; ++k) dot += h[k] * g[k];
    for (int64_t k = 0; k < s.d; ++k)
      out[i * s.d + k] = static_cast<float>((g[k] - h[k] * dot) / s.norms[static_cast<size_t>(i)]);
  }
}

double rowDot(const Normalised &a, int64_t i, int64_t j) {
  double s = 0;
  for (int64_t k = 0; k < a.d; ++k) s += a.rows[static_cast<size_t>(i * a.d + k)] * a.rows[static_cast<size_t>(j * a.d + k)];
  return s;
}

void checkPair(const Tensor &s, const Tensor &t, const Tensor &ds) {
  LOWBIT_CHECK(s.dims() == t.dims() && s.dims() == ds.dims() && s.rank() >= 1, "structure losses: shapes differ");
}

}  // namespace

double structureLoss(const Tensor &s, const Tensor &t, Tensor &ds) {
  checkPair(s, t, ds);
  const Normalised a = normalise(s), b = normalise(t);
  const int64_t n = a.n;
  const double pairs = static_cast<double>(n * n);
  double loss = 0;
  std::vector<double> dHat(a.rows.size(), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double e = rowDot(a, i, j) - rowDot(b, i, j);
      loss += e * e / pairs;
      // d(e^2)/d hat_i = 2 e hat_j (and symmetrically for j, counted when (j, i) comes).
      const double g = 2.0 * e / pairs;
      for (int64_t k = 0; k < a.d; ++k) {
        dHat[static_cast<size_t>(i * a.d + k)] += g * a.rows[static_cast<size_t>(j * a.d + k)];
        dHat[static_cast<size_t>(j * a.d + k)] += g * a.rows[static_cast<size_t>(i * a.d + k)];
      }
    }
  backThroughNormalise(a, dHat, ds);
  return loss;
}

double lipschitzLoss(const Tensor &s, const Tensor &t, float bound, Tensor &ds) {
  checkPair(s, t, ds);
  const Normalised a = normalise(s), b = normalise(t);
  const int64_t n = a.n;
  const double pairs = std::max<double>(1.0, static_cast<double>(n * (n - 1) / 2));
  double loss = 0;
  std::vector<double> dHat(a.rows.size(), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      // Distances of unit vectors: sqrt(2 - 2 cos).
      const double da = std::sqrt(std::max(0.0, 2.0 - 2.0 * rowDot(a, i, j))) + kTiny;
      const double db = std::sqrt(std::max(0.0, 2.0 - 2.0 * rowDot(b, i, j)));
      const double excess = da - bound * db;
      if (excess <= 0) continue;
      loss += excess * excess / pairs;
      // d da / d hat_i = (hat_i - hat_j) / da.
      const double g = 2.0 * excess / pairs / da;
      for (int64_t k = 0; k < a.d; ++k) {
        const double diff = a.rows[static_cast<size_t>(i * a.d + k)] - a.rows[static_cast<size_t>(j * a.d + k)];
        dHat[static_cast<size_t>(i * a.d + k)] += g * diff;
        dHat[static_cast<size_t>(j * a.d + k)] -= g * diff;
      }
    }
  backThroughNormalise(a, dHat, ds);
  return loss;
}

double perturbationLoss(const Tensor &y, const Tensor &clean, Tensor &dy) {
  checkPair(y, clean, dy);
  const double n = static_cast<double>(std::max<int64_t>(1, y.dims()[0]));
  const float *a = y.data<float>(), *b = clean.data<float>();
  float *d = dy.data<float>();
  double loss = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double e = static_cast<double>(a[i]) - b[i];
    loss += e * e / n;
    d[i] = static_cast<float>(2.0 * e / n);
  }
  return loss;
}

double SpectralNorm::penalty(const std::string &name, const Tensor &w, Tensor &dw, float scale) {
  LOWBIT_CHECK(w.rank() >= 2 && w.dims() == dw.dims(), "spectral norm of a matrix");
  const int64_t rows = w.dims()[0], cols = w.numel() / rows;
  const float *m = w.data<float>();
  std::vector<float> &u = u_[name];
  if (u.size() != static_cast<size_t>(rows)) {  // a fixed start, so runs repeat
    u.assign(static_cast<size_t>(rows), 0.f);
    std::mt19937 rng(static_cast<uint32_t>(rows * 7919 + cols));
    std::normal_distribution<float> normal;
    for (float &x : u) x = normal(rng);
  }
  auto normaliseVec = [](std::vector<double> &x) {
    double s = 0;
    for (double e : x) s += e * e;
    s = std::sqrt(s) + kTiny;
    for (double &e : x) e /= s;
  };
  // v = normalise(W^T u), u = normalise(W v), sigma = u^T W v.
  std::vector<double> v(static_cast<size_t>(cols), 0.0), uu(u.begin(), u.end());
  normaliseVec(uu);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) v[static_cast<size_t>(c)] += m[r * cols + c] * uu[static_cast<size_t>(r)];
  normaliseVec(v);
  std::vector<double> wv(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) wv[static_cast<size_t>(r)] += m[r * cols + c] * v[static_cast<size_t>(c)];
  uu = wv;
  normaliseVec(uu);
  double sigma = 0;
  for (int64_t r = 0; r < rows; ++r) sigma += uu[static_cast<size_t>(r)] * wv[static_cast<size_t>(r)];
  for (int64_t r = 0; r < rows; ++r) u[static_cast<size_t>(r)] = static_cast<float>(uu[static_cast<size_t>(r)]);
  float *g = dw.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      g[r * cols + c] += static_cast<float>(scale * 2.0 * sigma * uu[static_cast<size_t>(r)] * v[static_cast<size_t>(c)]);
  return sigma * sigma;
}

}  // namespace lowbit::train
