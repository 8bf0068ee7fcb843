#include "train/Adam.h"

#include <algorithm>
#include <cmath>

namespace lowbit::train {

Adam::Adam(std::vector<Param *> params, AdamConfig cfg) : params_(std::move(params)), cfg_(cfg) {
  for (const Param *p : params_) {
    m_.emplace_back(static_cast<size_t>(p->value.numel()), 0.f);
    v_.emplace_back(static_cast<size_t>(p->value.numel()), 0.f);
  }
}

float Adam::currentLr() const {
  if (cfg_.totalSteps <= 0) return cfg_.lr;
  const double progress = std::min(1.0, static_cast<double>(t_) / static_cast<double>(cfg_.totalSteps));
  return static_cast<float>(0.5 * cfg_.lr * (1.0 + std::cos(M_PI * progress)));
}

void Adam::step() {
  const float lr = currentLr();
  ++t_;
  const double c1 = 1.0 - std::pow(static_cast<double>(cfg_.beta1), static_cast<double>(t_));
  const double c2 = 1.0 - std::pow(static_cast<double>(cfg_.beta2), static_cast<double>(t_));
  for (size_t k = 0; k < params_.size(); ++k) {
    Param &p = *params_[k];
    float *w = p.value.data<float>();
    const float *g = p.grad.data<float>();
    std::vector<float> &m = m_[k], &v = v_[k];
    const bool decay = cfg_.weightDecay > 0.f && p.kind == Param::Kind::Weight;
    const bool anyFrozen = !p.frozen.empty();
    for (size_t i = 0; i < m.size(); ++i) {
      if (anyFrozen && p.frozen[i]) continue;  // INQ: quantized for good
      m[i] = cfg_.beta1 * m[i] + (1.f - cfg_.beta1) * g[i];
      v[i] = cfg_.beta2 * v[i] + (1.f - cfg_.beta2) * g[i] * g[i];
      const double mHat = m[i] / c1, vHat = v[i] / c2;
      double update = mHat / (std::sqrt(vHat) + cfg_.eps);
      if (decay) update += cfg_.weightDecay * w[i];
      w[i] -= static_cast<float>(lr * update);
      // A step size (or a clip that sets one) must stay positive; a tiny floor keeps x / s finite.
      if (p.kind == Param::Kind::Step || p.kind == Param::Kind::Clip) w[i] = std::max(w[i], 1e-8f);
    }
  }
}

}  // namespace lowbit::train
