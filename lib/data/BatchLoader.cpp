#include "data/BatchLoader.h"

#include <mutex>

namespace lowbit {

BatchLoader::BatchLoader(std::vector<ImageEntry> images, PreprocessConfig cfg, int channels,
                         int height, int width)
    : images_(std::move(images)), cfg_(preprocessForChannels(std::move(cfg), channels)), channels_(channels), height_(height),
      width_(width) {}

Tensor BatchLoader::load(size_t begin, size_t end, std::vector<int> *labels) const {
  const int64_t n = static_cast<int64_t>(end - begin);
  Tensor batch(DType::Float32, {n, channels_, height_, width_});
  float *data = batch.data<float>();
  const size_t per = static_cast<size_t>(channels_) * height_ * width_;
  std::string firstError;
  std::mutex errorMutex;
#pragma omp parallel for schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    const ImageEntry &e = images_[begin + static_cast<size_t>(i)];
    try {
      Image img = decodeImage(e.path);
      preprocessInto(img, cfg_, channels_, height_, width_, data + static_cast<size_t>(i) * per, e.path);
    } catch (const std::exception &ex) {
      std::lock_guard<std::mutex> lock(errorMutex);
      if (firstError.empty()) firstError = ex.what();
    }
  }
  if (!firstError.empty()) throw Error(firstError);
  if (labels) {
    labels->clear();
    for (size_t i = begin; i < end; ++i) labels->push_back(images_[i].label);
  }
  return batch;
}

}  // namespace lowbit
