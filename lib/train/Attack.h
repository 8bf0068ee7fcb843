// Adversarial attacks through the training engine's input gradients: FGSM (Goodfellow et al.)
// and PGD with a random start (Madry et al.), untargeted, ascending the cross-entropy of the
// true label. Budgets are L-infinity distances in pixel units of [0, 1] images: the
// normalisation x = (p - mean[c]) / std[c] is undone, the step taken on p, p clipped to [0, 1]
// and normalised again. Quantized files are attacked through their fake quantization with the
// straight-through estimator (QuantizeLayers.cpp), as the robustness papers do.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "train/Network.h"

namespace lowbit::train {

struct AttackConfig {
  enum class Method { Fgsm, Pgd };
  Method method = Method::Fgsm;
  int steps = 10;           ///< PGD: gradient steps
  float stepSize = 0.f;     ///< PGD: step in pixel units; 0 picks 2.5 * eps / steps (Madry et al.)
  bool randomStart = true;  ///< PGD: start at a uniform point of the eps ball
  uint32_t seed = 0;        ///< PGD's random start
  static Method parseMethod(const std::string &name);  ///< fgsm | pgd
  static const char *methodName(Method m);
  /// The step PGD takes for budget \p eps.
  float stepFor(float eps) const { return stepSize > 0.f ? stepSize : 2.5f * eps / static_cast<float>(steps); }
};

class Attack {
 public:
  /// Attacks \p model (a prepared graph, kept by reference; one image input, one logits
  /// output) on images normalised with \p mean and \p std per channel of the model's input
  /// (one value each, or empty for 0 and 1).
  Attack(const Graph &model, std::vector<float> mean, std::vector<float> std, AttackConfig cfg);
  ~Attack();

  /// Adversarial versions of the normalised batch \p x [N, C, H, W] whose true classes are
  /// \p labels, each within \p eps of its image in pixel units. \p firstIndex numbers x's
  /// first image in the whole set, so PGD's random start of an image does not depend on how
  /// the set was batched.
  Tensor run(const Tensor &x, const std::vector<int> &labels, float eps, int64_t firstIndex);

  /// dL/dx of the summed cross-entropy at the normalised batch \p x (the gradient FGSM takes
  /// the sign of); the network's logits of x in \p logits if given.
  Tensor inputGradient(const Tensor &x, const std::vector<int> &labels, Tensor *logits = nullptr);

 private:
  Network &networkFor(const Dims &dims);
  std::unique_ptr<Graph> model_;  ///< the attacked model, its logits exposed (exposeLogits)
  std::vector<float> mean_, std_;
  AttackConfig cfg_;
  std::map<Dims, std::unique_ptr<Network>> networks_;  // one per batch size
};

/// -1, 0 or 1: the direction an L-infinity step along gradient \p g takes (0 stays put).
inline float signOf(float g) { return static_cast<float>((g > 0.f) - (g < 0.f)); }

/// Gradient of the summed softmax cross-entropy of \p logits [N, K] at true classes \p labels:
/// softmax(z) - onehot(label), row by row.
Tensor crossEntropyGradient(const Tensor &logits, const std::vector<int> &labels);

}  // namespace lowbit::train
