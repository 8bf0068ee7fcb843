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

}  // namespace lowbit::train
