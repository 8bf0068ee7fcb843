#include "calib/ChannelStatistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lowbit {

void ChannelStatistics::observe(const Tensor &t) {
  const Dims &d = t.dims();
  if (d.size() < 2) return;
  const int64_t n = d[0], c = d[1], inner = t.numel() / std::max<int64_t>(1, n * c);
  if (sum_.empty()) {
    sum_.assign(static_cast<size_t>(c), 0.0);
    sumSquares_.assign(static_cast<size_t>(c), 0.0);
    min_.assign(static_cast<size_t>(c), std::numeric_limits<float>::infinity());
  }
  const float *p = t.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float *x = p + (i * c + ch) * inner;
      double s = 0, s2 = 0;
      float m = min_[static_cast<size_t>(ch)];
      for (int64_t k = 0; k < inner; ++k) {
        s += x[k];
        s2 += static_cast<double>(x[k]) * x[k];
        m = std::min(m, x[k]);
      }
      sum_[static_cast<size_t>(ch)] += s;
      sumSquares_[static_cast<size_t>(ch)] += s2;
      min_[static_cast<size_t>(ch)] = m;
    }
  count_ += static_cast<double>(n * inner);
}

std::vector<double> ChannelStatistics::means() const {
  std::vector<double> m = sum_;
  for (double &v : m) v = count_ > 0 ? v / count_ : 0.0;
  return m;
}

std::vector<double> ChannelStatistics::stddevs() const {
  std::vector<double> s(sum_.size(), 0.0);
  if (count_ <= 0) return s;
  for (size_t c = 0; c < s.size(); ++c) {
    const double mean = sum_[c] / count_;
    s[c] = std::sqrt(std::max(0.0, sumSquares_[c] / count_ - mean * mean));
  }
  return s;
}

}  // namespace lowbit
