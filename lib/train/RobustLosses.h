// The robustness terms of self-reference quantization (SRQ) and of robustness-aware low-bit
// quantization, as losses with their gradients, added to the stage-2 distillation:
// - structureLoss: the relations between the samples of a batch as the float network sees
//   them, kept by the quantized one: the mean squared difference of the two batch
//   cosine-similarity matrices of a feature map (both networks' rows L2-normalised).
// - lipschitzLoss: the constraint on that structure: no pair of samples may lie more than
//   `bound` times further apart in the quantized network's (normalised) features than in the
//   float network's; the squared excess, averaged over pairs.
// - perturbationLoss: the quantized network's outputs should not move when its input moves a
//   little (the input is pushed along the sign of the loss gradient, as FGSM does): the mean
//   squared change of the logits, the clean logits held fixed.
// - SpectralNorm: the largest singular value of each weight (as a [out, in * kh * kw] matrix),
//   by one power iteration per step with the vectors kept between steps (spectral
//   normalisation, Miyato et al.); the penalty sigma^2 has gradient 2 sigma u v^T.
#pragma once

#include <map>
#include <string>

#include "ir/Tensor.h"

namespace lowbit::train {

/// Rows are samples: \p s and \p t [N, ...] flattened to [N, D]. Writes d loss / d s to \p ds.
double structureLoss(const Tensor &s, const Tensor &t, Tensor &ds);
double lipschitzLoss(const Tensor &s, const Tensor &t, float bound, Tensor &ds);
/// mean over the batch of ||y - clean||^2; \p dy = d loss / d y.
double perturbationLoss(const Tensor &y, const Tensor &clean, Tensor &dy);

class SpectralNorm {
 public:
  /// sigma(w)^2 of weight \p name (rank >= 2, rows = dim 0) after one power iteration, and
  /// \p scale times its gradient added to \p dw.
  double penalty(const std::string &name, const Tensor &w, Tensor &dw, float scale);

 private:
  std::map<std::string, std::vector<float>> u_;  // left singular vector estimate per weight
};

}  // namespace lowbit::train
