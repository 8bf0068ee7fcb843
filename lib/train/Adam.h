// Adam (Kingma & Ba) over a set of Params, with a cosine learning-rate schedule. Step sizes
// of the quantizers are kept positive after each update.
#pragma once

#include <vector>

#include "train/Network.h"

namespace lowbit::train {

struct AdamConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weightDecay = 0.f;  ///< decoupled (AdamW), weights only
  int64_t totalSteps = 0;   ///< > 0: cosine decay of lr from lr to 0 over this many steps
};

class Adam {
 public:
  Adam(std::vector<Param *> params, AdamConfig cfg);
  /// One update from the params' current gradients (which it does not clear).
  void step();
  /// The learning rate the next step() uses.
  float currentLr() const;
  int64_t steps() const { return t_; }

 private:
  std::vector<Param *> params_;
  AdamConfig cfg_;
  std::vector<std::vector<float>> m_, v_;
  int64_t t_ = 0;
};

}  // namespace lowbit::train
