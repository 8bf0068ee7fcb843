// Per-channel statistics of an activation stream: what bias correction (means) and high-bias
// absorption (lower bounds) need, gathered batch by batch in O(channels) memory.
#pragma once

#include <vector>

#include "ir/Tensor.h"

namespace lowbit {

/// Mean, standard deviation and minimum of each channel (axis 1) of [N, C, ...] tensors.
class ChannelStatistics {
 public:
  void observe(const Tensor &t);
  std::vector<double> means() const;
  std::vector<double> stddevs() const;  ///< population standard deviation
  const std::vector<float> &minima() const { return min_; }
  size_t channels() const { return sum_.size(); }

 private:
  std::vector<double> sum_, sumSquares_;
  std::vector<float> min_;
  double count_ = 0;  ///< values per channel seen so far
};

}  // namespace lowbit
