// Quantization parameters of one tensor (an ir::Value), PPQ-style: a config with a state.
// The float foundation carries them untouched; the quantization passes fill them in.
#pragma once

#include <cstdint>
#include <vector>

namespace lowbit {

struct QuantParams {
  enum class Granularity { PerTensor, PerChannel, PerGroup };
  /// Uniform: x = scale * (q - zeroPoint). PowerOfTwo: scales are 2^k and levels are
  /// +-2^j (shift-add weights, INQ).
  enum class Scheme { Uniform, PowerOfTwo };
  /// Unset: being built (never left on a graph: the Verifier refuses it). Calibrated: scale and
  /// zero point known (weights from their values, activations from observed ranges); the
  /// fine-tune may still move them. Frozen: written into Q/DQ nodes or integer codes.
  /// FloatOnly: a layer the user excluded (--exclude); its weight stays float.
  enum class State { Unset, Calibrated, Frozen, FloatOnly };

  Granularity granularity = Granularity::PerTensor;
  Scheme scheme = Scheme::Uniform;
  State state = State::Unset;
  int axis = -1;          ///< channel axis for PerChannel / PerGroup
  int bits = 8;           ///< 2..8
  bool isSigned = true;
  bool narrowRange = false;  ///< signed range [-(2^(b-1)-1), 2^(b-1)-1]
  int groups = 0;         ///< PerGroup: number of groups G
  /// PerTensor: one entry. PerChannel and PerGroup: one entry per channel along `axis` (a
  /// group's channels repeat its scale), which is also how QDQ export writes group-wise.
  std::vector<float> scale;
  std::vector<int32_t> zeroPoint;  ///< same length as scale
  /// PerGroup: the group of each channel (contiguous blocks unless grouped by range).
  std::vector<int32_t> groupOf;
};

}  // namespace lowbit
