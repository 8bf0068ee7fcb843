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

}  // namespace lowbit
