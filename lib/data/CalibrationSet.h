// Choosing the calibration images: N of them, class-balanced when the folder has classes,
// reproducible with a seed.
#pragma once

#include <cstdint>
#include <optional>

#include "data/ImageFolder.h"

namespace lowbit {

/// \p n images of \p set (all when n <= 0 or n >= size), taking the classes round-robin so
/// every class is represented. With \p seed each class is shuffled first (calibration);
/// without, each class contributes its first images in name order (eval --limit). Flat folders
/// count as one class. The result is sorted by path for deterministic batches.
std::vector<ImageEntry> pickBalancedImages(const ImageSet &set, int64_t n, std::optional<uint32_t> seed);

}  // namespace lowbit
