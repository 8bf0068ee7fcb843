#include "train/Augment.h"

#include "support/Strings.h"

namespace lowbit::train {

Tensor flipAndShift(const Tensor &batch, std::mt19937 &rng, int pad) {
  if (batch.rank() != 4) throw Error(cat("augmentation needs [N, C, H, W] images, got ", shapeString(batch.dims())));
  const Dims &d = batch.dims();
  const int64_t n = d[0], c = d[1], h = d[2], w = d[3];
  Tensor out(DType::Float32, d);
  std::uniform_int_distribution<int> shift(-pad, pad), coin(0, 1);
  const float *src = batch.data<float>();
  float *dst = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const bool flip = coin(rng) == 1;
    const int dy = shift(rng), dx = shift(rng);
    for (int64_t ch = 0; ch < c; ++ch) {
      const float *plane = src + (i * c + ch) * h * w;
      float *o = dst + (i * c + ch) * h * w;
      for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = y + dy;
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sx = (flip ? w - 1 - x : x) + dx;
          o[y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? plane[sy * w + sx] : 0.f;
        }
      }
    }
  }
  return out;
}

Tensor mixPairs(const Tensor &batch, std::mt19937 &rng, float alpha) {
  if (batch.rank() < 1 || !(alpha > 0.f))
    throw Error(cat("mixup needs a batch and alpha > 0, got ", shapeString(batch.dims()), " and ", alpha));
  const int64_t n = batch.dims()[0];
  if (n < 2) return batch;
  const int64_t size = batch.numel() / n;
  // Beta(a, a) as G1 / (G1 + G2) with G1, G2 ~ Gamma(a, 1).
  std::gamma_distribution<float> gamma(alpha, 1.f);
  std::uniform_int_distribution<int64_t> other(1, n - 1);
  Tensor out(DType::Float32, batch.dims());
  const float *src = batch.data<float>();
  float *dst = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float g1 = gamma(rng), g2 = gamma(rng);
    const float lambda = g1 + g2 > 0.f ? g1 / (g1 + g2) : 0.5f;
    const int64_t j = (i + other(rng)) % n;  // never i itself
    const float *a = src + i * size, *b = src + j * size;
    float *o = dst + i * size;
    for (int64_t k = 0; k < size; ++k) o[k] = lambda * a[k] + (1.f - lambda) * b[k];
  }
  return out;
}

}  // namespace lowbit::train
