#include "data/CalibrationSet.h"

#include <algorithm>
#include <random>

namespace lowbit {

std::vector<ImageEntry> pickBalancedImages(const ImageSet &set, int64_t n, std::optional<uint32_t> seed) {
  if (n <= 0 || static_cast<size_t>(n) >= set.images.size()) return set.images;
  const size_t groups = std::max<size_t>(1, set.classes.size());
  std::vector<std::vector<ImageEntry>> byClass(groups);
  for (const ImageEntry &e : set.images) byClass[e.label >= 0 ? static_cast<size_t>(e.label) : 0].push_back(e);
  if (seed) {
    std::mt19937 rng(*seed);
    for (auto &cls : byClass) std::shuffle(cls.begin(), cls.end(), rng);
  }
  std::vector<ImageEntry> picked;
  for (size_t i = 0; picked.size() < static_cast<size_t>(n); ++i)
    for (auto &cls : byClass)
      if (i < cls.size() && picked.size() < static_cast<size_t>(n)) picked.push_back(cls[i]);
  std::sort(picked.begin(), picked.end(), [](const ImageEntry &a, const ImageEntry &b) { return a.path < b.path; });
  return picked;
}

}  // namespace lowbit
