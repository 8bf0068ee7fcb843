// Symmetric weight quantization parameters per layer, per channel or per group of output
// channels, with min-max or MSE-optimal clipping, at 2..8 bits.
#pragma once

#include <string>
#include <vector>

#include "ir/QuantParams.h"
#include "ir/Tensor.h"

namespace lowbit {

struct WeightQuantConfig {
  int bits = 8;
  QuantParams::Granularity granularity = QuantParams::Granularity::PerChannel;
  int groups = 0;  ///< PerGroup: G groups of output channels sharing one scale
  /// PerGroup: Contiguous = channels [g*C/G, (g+1)*C/G); ByRange = channels sorted by their
  /// max |w| and cut into G runs, so channels of similar range share a scale.
  enum class GroupOrder { Contiguous, ByRange } groupOrder = GroupOrder::Contiguous;
  /// MinMax: clip at max |w|. Mse: the clip in [0.2, 1] x max |w| minimising ||W - Q(W)||^2.
  enum class Observer { MinMax, Mse } observer = Observer::MinMax;
  /// Uniform levels, or PowerOfTwo: 0 and +-2^j times the unit's scale (kernels/QuantizeRef.h
  /// potMaxExponent; 2..4 bits), the largest level on the clip.
  QuantParams::Scheme scheme = QuantParams::Scheme::Uniform;
};

/// --weight-scheme as spelled: uniform | pot.
QuantParams::Scheme parseWeightScheme(const std::string &name);
const char *weightSchemeName(QuantParams::Scheme s);

/// Parameters for \p w (output channels along axis 0; Gemm with transB=0 passes axis 1).
/// Weights are signed and symmetric (zero point 0, narrow range [-(2^(b-1)-1), 2^(b-1)-1]),
/// which is what oneDNN's int8 convolution requires. A unit whose weights are all zero gets
/// scale 1 (every code 0) and is listed in \p degenerate (channel indices) if given.
QuantParams computeWeightParams(const Tensor &w, int axis, const WeightQuantConfig &cfg,
                                std::vector<int> *degenerate = nullptr);

/// The granularity as --granularity and reports spell it: layer, channel or group:G.
std::string granularityName(const QuantParams &p);
std::string granularityName(const WeightQuantConfig &c);  ///< as asked (a layer may get fewer groups)

/// dequantize(quantize(w)) with \p p.
Tensor fakeQuantizeWeights(const Tensor &w, const QuantParams &p);

/// Signal-to-quantization-noise ratio in dB of \p approx against \p ref: 10 log10(|ref|^2 / |ref-approx|^2).
double sqnrDb(const float *ref, const float *approx, size_t n);

}  // namespace lowbit
