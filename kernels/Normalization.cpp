#include "kernels/Normalization.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lowbit {

namespace {

// The channels of c's window: [c - (size-1)/2, c + ceil((size-1)/2)], clipped to [0, channels).
void window(int64_t c, int64_t channels, int64_t size, int64_t &from, int64_t &to) {
  from = std::max<int64_t>(0, c - (size - 1) / 2);
  to = std::min<int64_t>(channels - 1, c + size / 2);
}

double lrnDenominator(const float *x, int64_t c, int64_t channels, int64_t inner, const LrnParams &p) {
  int64_t from, to;
  window(c, channels, p.size, from, to);
  double s = 0;
  for (int64_t j = from; j <= to; ++j) s += static_cast<double>(x[j * inner]) * x[j * inner];
  return p.bias + p.alpha / static_cast<double>(p.size) * s;
}

}  // namespace

void lrnForward(const float *x, int64_t outer, int64_t channels, int64_t inner, const LrnParams &p, float *y) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float *xo = x + o * channels * inner + i;
      float *yo = y + o * channels * inner + i;
      for (int64_t c = 0; c < channels; ++c)
        yo[c * inner] = static_cast<float>(xo[c * inner] * std::pow(lrnDenominator(xo, c, channels, inner, p), -p.beta));
    }
}

void lrnBackward(const float *x, const float *dy, int64_t outer, int64_t channels, int64_t inner, const LrnParams &p,
                 float *dx) {
  // y_c = x_c d_c^-beta with d_c = bias + alpha/size sum_{j in W(c)} x_j^2:
  // dx_j = dy_j d_j^-beta - 2 alpha beta / size x_j sum_{c: j in W(c)} dy_c x_c d_c^(-beta-1).
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t at = o * channels * inner + i;
      const float *xo = x + at, *dyo = dy + at;
      float *dxo = dx + at;
      std::vector<double> d(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c) d[static_cast<size_t>(c)] = lrnDenominator(xo, c, channels, inner, p);
      for (int64_t j = 0; j < channels; ++j) {
        double cross = 0;
        for (int64_t c = 0; c < channels; ++c) {
          int64_t from, to;
          window(c, channels, p.size, from, to);
          if (j < from || j > to) continue;
          const double dc = d[static_cast<size_t>(c)];
          cross += static_cast<double>(dyo[c * inner]) * xo[c * inner] * std::pow(dc, -p.beta - 1.0);
        }
        const double dj = d[static_cast<size_t>(j)];
        dxo[j * inner] += static_cast<float>(dyo[j * inner] * std::pow(dj, -p.beta) -
                                             2.0 * p.alpha * p.beta / static_cast<double>(p.size) * xo[j * inner] * cross);
      }
    }
}

void normalizeRows(const float *x, int64_t rows, int64_t len, float eps, float *y, float *mean, float *invStd) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * len;
    double s = 0, ss = 0;
    for (int64_t i = 0; i < len; ++i) s += xr[i];
    const double m = s / static_cast<double>(len);
    for (int64_t i = 0; i < len; ++i) ss += (xr[i] - m) * (xr[i] - m);
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(len) + eps);
    for (int64_t i = 0; i < len; ++i) y[r * len + i] = static_cast<float>((xr[i] - m) * inv);
    mean[r] = static_cast<float>(m);
    invStd[r] = static_cast<float>(inv);
  }
}

void normalizeRowsBackward(const float *xhat, const float *dxhat, const float *invStd, int64_t rows, int64_t len,
                           float *dx) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float *h = xhat + r * len, *g = dxhat + r * len;
    double mg = 0, mgh = 0;
    for (int64_t i = 0; i < len; ++i) {
      mg += g[i];
      mgh += static_cast<double>(g[i]) * h[i];
    }
    mg /= static_cast<double>(len);
    mgh /= static_cast<double>(len);
    for (int64_t i = 0; i < len; ++i) dx[r * len + i] += static_cast<float>(invStd[r] * (g[i] - mg - h[i] * mgh));
  }
}

}  // namespace lowbit
