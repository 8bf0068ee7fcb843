// Image -> normalised NCHW float, the torchvision way: Resize(shorter side), CenterCrop,
// ToTensor, Normalize.
#pragma once

#include <string>
#include <vector>

#include "data/ImageDecoder.h"

namespace lowbit {

struct PreprocessConfig {
  int resize = 0;            ///< shorter side to this many pixels (PIL bilinear); 0 = keep
  int crop = 0;              ///< center crop to crop x crop; 0 = none
  std::vector<float> mean;   ///< per channel, after scaling to [0,1]; empty = 0
  std::vector<float> std;    ///< per channel; empty = 1
  bool bgr = false;          ///< channel order BGR instead of RGB
};

/// Channel \p c's value of a per-channel setting such as --mean: its own entry, the one entry
/// that stands for every channel, or \p unset when none is given.
inline float channelSetting(const std::vector<float> &values, int64_t c, float unset) {
  return values.empty() ? unset : values.size() == 1 ? values[0] : values.at(static_cast<size_t>(c));
}

/// \p cfg for a model input of \p channels: one --mean/--std value stands for every channel;
/// any other count than 0, 1 or \p channels is a UsageError naming the flag.
PreprocessConfig preprocessForChannels(PreprocessConfig cfg, int channels);

/// PIL's bilinear resize (antialiased when shrinking, 22-bit fixed point, horizontal pass
/// first) of \p img to \p width x \p height.
Image resizeBilinear(const Image &img, int width, int height);

/// Preprocesses \p img into \p dst (C x H x W floats, where C, H, W are what the model
/// expects). Grey images are replicated to 3 channels and RGB is reduced to grey (ITU-R 601
/// luma, as PIL's convert("L")) when the model wants 1 channel. Throws Error naming \p path
/// when the result is not H x W.
void preprocessInto(const Image &img, const PreprocessConfig &cfg, int channels, int height,
                    int width, float *dst, const std::string &path);

}  // namespace lowbit
