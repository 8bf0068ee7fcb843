// Empirical bias correction (Nagel et al. 2019, appendix): quantizing W shifts a layer's
// expected output by E[(Q(W) - W) x]; subtracting that from the bias removes the shift.
#pragma once

#include <vector>

#include "ir/Tensor.h"

namespace lowbit {

/// Expected output shift per output channel of a Conv (weights [OC, IC/group, k...]) or of a
/// Gemm/MatMul (\p w as [OC, K] when \p outAxis is 0, [K, OC] when 1) whose input has
/// per-channel means \p inputMean (calibration data):
///   eps[c] = sum_i mean[i] * sum_k (Q(W) - W)[c, i, k]
/// (zero padding at image borders is ignored). Subtract it from the bias.
std::vector<float> expectedOutputShift(const Tensor &w, const Tensor &wq, const std::vector<double> &inputMean,
                                       int64_t group, int outAxis);

}  // namespace lowbit
