#include "quant/BiasCorrection.h"

namespace lowbit {

std::vector<float> expectedOutputShift(const Tensor &w, const Tensor &wq, const std::vector<double> &inputMean,
                                       int64_t group, int outAxis) {
  const std::vector<float> a = w.toFloats(), b = wq.toFloats();
  const Dims &d = w.dims();
  if (d.size() == 2) {  // Gemm / MatMul
    const int64_t oc = d[static_cast<size_t>(outAxis)], k = d[static_cast<size_t>(1 - outAxis)];
    std::vector<float> eps(static_cast<size_t>(oc), 0.f);
    for (int64_t c = 0; c < oc; ++c) {
      double s = 0;
      for (int64_t i = 0; i < k; ++i) {
        const int64_t at = outAxis == 0 ? c * k + i : i * oc + c;
        s += inputMean[static_cast<size_t>(i)] * (static_cast<double>(b[static_cast<size_t>(at)]) - a[static_cast<size_t>(at)]);
      }
      eps[static_cast<size_t>(c)] = static_cast<float>(s);
    }
    return eps;
  }
  const int64_t oc = d[0], icg = d[1], inner = w.numel() / (oc * icg), ocg = oc / group;
  std::vector<float> eps(static_cast<size_t>(oc), 0.f);
  for (int64_t c = 0; c < oc; ++c) {
    double s = 0;
    for (int64_t j = 0; j < icg; ++j) {
      const int64_t inChannel = (c / ocg) * icg + j;
      double dw = 0;
      for (int64_t k = 0; k < inner; ++k) {
        const size_t at = static_cast<size_t>((c * icg + j) * inner + k);
        dw += static_cast<double>(b[at]) - a[at];
      }
      s += inputMean[static_cast<size_t>(inChannel)] * dw;
    }
    eps[static_cast<size_t>(c)] = static_cast<float>(s);
  }
  return eps;
}

void ChannelMeans::observe(const Tensor &t) {
  const Dims &d = t.dims();
  if (d.size() < 2) return;
  const int64_t n = d[0], c = d[1], inner = t.numel() / std::max<int64_t>(1, n * c);
  if (sum_.empty()) sum_.assign(static_cast<size_t>(c), 0.0);
  const float *p = t.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0;
      for (int64_t k = 0; k < inner; ++k) s += p[(i * c + ch) * inner + k];
      sum_[static_cast<size_t>(ch)] += s;
    }
  count_ += static_cast<double>(n * inner);
}

std::vector<double> ChannelMeans::means() const {
  std::vector<double> m = sum_;
  for (double &v : m) v = count_ > 0 ? v / count_ : 0.0;
  return m;
}

}  // namespace lowbit
