// Choosing the calibration images: N of them, class-balanced when the folder has classes,
// reproducible with a seed.
#pragma once

#include <cstdint>

#include "data/ImageFolder.h"

namespace lowbit {

/// \p n images of \p set (all when n <= 0 or n >= size): each class is shuffled with \p seed
/// and classes are taken round-robin, so every class is represented. Flat folders are
/// shuffled as one list. The result is sorted by path for deterministic batches.
std::vector<ImageEntry> pickCalibrationImages(const ImageSet &set, int64_t n, uint32_t seed);

}  // namespace lowbit
