#include "train/Attack.h"

#include <algorithm>
#include <cmath>

#include "data/Preprocess.h"
#include "support/Error.h"
#include "support/Strings.h"

namespace lowbit::train {

namespace {

// A uniform number in [-1, 1) from (seed, image, element): counter-based (splitmix64), so a
// random start is the same however the images are batched and on every platform.
float uniformSigned(uint64_t seed, uint64_t image, uint64_t element) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull ^ (image + 1) * 0xBF58476D1CE4E5B9ull ^ (element + 1) * 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(static_cast<double>(z >> 40) / static_cast<double>(1ull << 23)) - 1.f;
}

}  // namespace

AttackConfig::Method AttackConfig::parseMethod(const std::string &name) {
  if (name == "fgsm") return Method::Fgsm;
  if (name == "pgd") return Method::Pgd;
  throw Error(cat("unknown attack '", name, "' (fgsm, pgd)"));
}

const char *AttackConfig::methodName(Method m) { return m == Method::Pgd ? "pgd" : "fgsm"; }

Attack::Attack(const Graph &model, std::vector<float> mean, std::vector<float> std, AttackConfig cfg)
    : model_(model.clone()), mean_(std::move(mean)), std_(std::move(std)), cfg_(cfg) {
  exposeLogits(*model_);  // the cross-entropy is taken of logits
}
Attack::~Attack() = default;

Network &Attack::networkFor(const Dims &dims) {
  auto it = networks_.find(dims);
  if (it == networks_.end()) {
    it = networks_.emplace(dims, std::make_unique<Network>(*model_, dims)).first;
    it->second->setParameterGradients(false);  // only the input's gradient is wanted
  }
  return *it->second;
}

Tensor crossEntropyGradient(const Tensor &logits, const std::vector<int> &labels) {
  if (logitClasses(logits.dims()) < 1 || logits.dims()[0] != static_cast<int64_t>(labels.size()))
    throw Error(cat("the attacked model's output is ", shapeString(logits.dims()), ", expected [batch, classes] logits"));
  const int64_t n = logits.dims()[0], k = logits.dims()[1];
  Tensor g(DType::Float32, logits.dims());
  const float *z = logits.data<float>();
  float *d = g.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float *row = z + i * k;
    const float top = *std::max_element(row, row + k);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(row[j] - top));
    for (int64_t j = 0; j < k; ++j)
      d[i * k + j] = static_cast<float>(std::exp(static_cast<double>(row[j] - top)) / sum);
    LOWBIT_CHECK(labels[i] >= 0 && labels[i] < k, "label outside the logits");
    d[i * k + labels[i]] -= 1.f;
  }
  return g;
}

Tensor Attack::inputGradient(const Tensor &x, const std::vector<int> &labels, Tensor *logits) {
  Network &net = networkFor(x.dims());
  const Tensor &z = net.forward(x);
  if (logits) *logits = z;
  return net.backward(crossEntropyGradient(z, labels));
}

Tensor Attack::run(const Tensor &x, const std::vector<int> &labels, float eps, int64_t firstIndex) {
  if (x.rank() != 4) throw Error(cat("attack: expected an [N, C, H, W] image batch, got ", shapeString(x.dims())));
  const int64_t n = x.dims()[0], c = x.dims()[1], plane = x.dims()[2] * x.dims()[3];
  auto meanOf = [&](int64_t ch) { return channelSetting(mean_, ch, 0.f); };
  auto stdOf = [&](int64_t ch) { return channelSetting(std_, ch, 1.f); };
  // The clean images in pixel units, and the box each adversarial pixel must stay in.
  const int64_t total = x.numel();
  std::vector<float> clean(static_cast<size_t>(total)), lo(clean.size()), hi(clean.size());
  const float *xs = x.data<float>();
  for (int64_t i = 0; i < total; ++i) {
    const int64_t ch = (i / plane) % c;
    const float p = xs[i] * stdOf(ch) + meanOf(ch);
    clean[i] = p;
    lo[i] = std::max(0.f, p - eps);
    hi[i] = std::min(1.f, p + eps);
  }
  std::vector<float> adv = clean;
  auto normalise = [&](Tensor &t) {
    float *d = t.data<float>();
    for (int64_t i = 0; i < total; ++i) {
      const int64_t ch = (i / plane) % c;
      d[i] = (adv[i] - meanOf(ch)) / stdOf(ch);
    }
  };
  Tensor cur(DType::Float32, x.dims());
  const int64_t perImage = total / std::max<int64_t>(1, n);
  int steps = 1;
  float step = eps;
  if (cfg_.method == AttackConfig::Method::Pgd) {
    steps = cfg_.steps;
    step = cfg_.stepFor(eps);
    if (cfg_.randomStart)
      for (int64_t i = 0; i < total; ++i)
        adv[i] = std::clamp(clean[i] + eps * uniformSigned(cfg_.seed, static_cast<uint64_t>(firstIndex + i / perImage),
                                                           static_cast<uint64_t>(i % perImage)),
                            lo[i], hi[i]);
  }
  for (int s = 0; s < steps; ++s) {
    normalise(cur);
    const Tensor grad = inputGradient(cur, labels);
    const float *g = grad.data<float>();
    // The sign of dL/dx equals that of dL/dp: std is positive.
    for (int64_t i = 0; i < total; ++i) adv[i] = std::clamp(adv[i] + step * signOf(g[i]), lo[i], hi[i]);
  }
  normalise(cur);
  return cur;
}

}  // namespace lowbit::train
