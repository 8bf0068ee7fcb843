// Decodes and preprocesses batches of images in parallel (OpenMP, all cores).
#pragma once

#include "data/ImageFolder.h"
#include "data/Preprocess.h"
#include "ir/Tensor.h"

namespace lowbit {

class BatchLoader {
 public:
  /// Batches of \p images for a model input of \p channels x \p height x \p width.
  BatchLoader(std::vector<ImageEntry> images, PreprocessConfig cfg, int channels, int height,
              int width);
  size_t size() const { return images_.size(); }
  /// Loads images [\p begin, \p end) into an [end-begin, C, H, W] tensor and their labels.
  /// Throws Error naming the first image that failed.
  Tensor load(size_t begin, size_t end, std::vector<int> *labels) const;

 private:
  std::vector<ImageEntry> images_;
  PreprocessConfig cfg_;
  int channels_, height_, width_;
};

}  // namespace lowbit
