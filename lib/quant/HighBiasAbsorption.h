// High-bias absorption (Nagel et al. 2019, data-free quantization, section 4.2), with the
// lower bound of each channel measured on calibration data instead of taken from BatchNorm
// statistics (beta - 3 gamma), which a folded model no longer carries.
//
// For a chain A -> Relu -> B, where channel c of A's output y stays above m[c] > 0,
// Relu(y) = Relu(y - m) + m, and the constant m can move into B's bias:
//   b_A[c] -= m[c],   b_B[o] += sum_c sum_k W_B[o, c, k] m[c].
// The tensor B reads loses its always-on offset, so its activation range shrinks. The float
// function is unchanged wherever y >= m and B's window holds no zero padding; values below m
// now read as m, and in padded border positions B sees 0 where it saw m (the paper's
// approximations both).
#pragma once

#include <string>
#include <vector>

#include "calib/ChannelStatistics.h"
#include "ir/Graph.h"
#include "passes/ConvChains.h"

namespace lowbit {

/// The offset to absorb per channel from the statistics of the Relu input y: the paper's
/// mean - 3 std (beta - 3 gamma of the BatchNorm that made y), or the observed minimum when that
/// is larger (exact on the data seen), and 0 where either bound is not positive.
std::vector<float> absorptionBound(const ChannelStatistics &y);

struct AbsorbedBias {
  std::string first, second;  ///< node names of A and B
  int channels = 0;           ///< channels with a positive lower bound (shifted)
  float maxShift = 0.f;       ///< largest m[c]
};

/// Moves max(0, \p bound[c]) of \p chain's Relu input (A's output) from A's bias into B's bias.
/// \p chain must have a Relu. Biases are written as new constants (the old ones may be shared);
/// a missing bias is created.
AbsorbedBias absorbHighBias(Graph &g, const ConvChain &chain, const std::vector<float> &bound);

}  // namespace lowbit
