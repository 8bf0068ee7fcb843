// Per-tensor activation statistics with bounded memory and the clip threshold they imply:
// min-max, percentile, KL divergence (TensorRT entropy calibration) or MSE.
#pragma once

#include <string>
#include <vector>

#include "ir/Tensor.h"

namespace lowbit {

struct ActObserverConfig {
  /// Sqnr: per tensor, whichever of sqnrCandidates() gives the network outputs the highest
  /// SQNR (the pipeline's ChooseActivationObservers); a lone observer starts from Mse's clip.
  enum class Kind { MinMax, Percentile, KL, Mse, Sqnr } kind = Kind::MinMax;
  double percentile = 99.99;  ///< for Percentile
  /// The observers Sqnr chooses from: minmax, percentile:99.99, percentile:99.999, kl, mse.
  static const std::vector<ActObserverConfig> &sqnrCandidates();
  /// Parses "minmax", "percentile:99.99", "kl", "mse" or "sqnr"; throws Error naming the text.
  static ActObserverConfig parse(const std::string &text);
  std::string name() const;
};

/// Streams batches of one tensor. Pass 1 (observeRange) finds min and max; pass 2
/// (observeHistogram) bins the non-zero |x| into kBins bins over [0, max|x|] and counts exact
/// zeros apart. Memory is kBins doubles
/// whatever the number of images.
class ActivationObserver {
 public:
  static constexpr int kBins = 2048;

  void observeRange(const float *x, size_t n);
  void observeHistogram(const float *x, size_t n);

  bool seen() const { return count_ > 0; }
  float minValue() const { return min_; }
  float maxValue() const { return max_; }
  float absMax() const;
  /// Non-negative data (e.g. after ReLU) is quantized unsigned.
  bool isUnsigned() const { return min_ >= 0.f; }
  const std::vector<double> &histogram() const { return hist_; }

  /// Clip threshold (the largest |x| represented) for \p bits-wide codes; 0 when the tensor
  /// was constant zero. Histogram-based kinds need pass 2 to have run.
  float clip(const ActObserverConfig &cfg, int bits) const;

 private:
  float min_ = 0.f, max_ = 0.f;
  size_t count_ = 0;
  std::vector<double> hist_;
  double zeros_ = 0;  ///< exact zeros, kept out of the histogram
};

/// KL-optimal threshold bin count (TensorRT): the i in [levels, bins] minimising
/// KL(P_i || Q_i) where P_i is the histogram cut at i (outliers folded into the last bin) and
/// Q_i is P_i quantized to \p levels levels. \returns i.
int klThresholdBins(const std::vector<double> &hist, int levels);

}  // namespace lowbit
