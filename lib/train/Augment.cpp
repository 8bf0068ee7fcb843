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

}  // namespace lowbit::train
