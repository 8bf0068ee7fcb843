// Data augmentation for the distillation fine-tune: with a few hundred images the joint stage
// sees each one many times, and random flips and shifts keep the student from fitting the
// teacher on those pixels only. The teacher runs on the same augmented batch, so its soft
// labels stay exact.
#pragma once

#include <random>

#include "ir/Tensor.h"

namespace lowbit::train {

/// \p batch [N, C, H, W] with each image independently mirrored left-right (probability 1/2)
/// and shifted by up to \p pad pixels in each direction, the uncovered border zero (the
/// normalised mean colour), as CIFAR's standard pad-and-crop does.
Tensor flipAndShift(const Tensor &batch, std::mt19937 &rng, int pad);

/// \p batch [N, ...] with each image i replaced by lambda_i * x_i + (1 - lambda_i) * x_j, j a
/// random other image of the batch and lambda_i ~ Beta(\p alpha, \p alpha) (mixup). With a
/// teacher run on the mixes, every mix is a correctly labelled sample, whatever the images
/// show, so unlike flips it suits any input. A batch of one is returned as it is.
Tensor mixPairs(const Tensor &batch, std::mt19937 &rng, float alpha);

}  // namespace lowbit::train
