#include "data/CalibrationSet.h"

#include <algorithm>
#include <map>
#include <random>

namespace lowbit {

std::vector<ImageEntry> pickBalancedImages(const ImageSet &set, int64_t n, std::optional<uint32_t> seed) {
  if (n <= 0 || static_cast<size_t>(n) >= set.images.size()) return set.images;
  // Labels may be sparse (integer-named folders, a labels file): classes in label order.
  std::map<int, std::vector<ImageEntry>> byClass;
  for (const ImageEntry &e : set.images) byClass[e.label].push_back(e);
  if (seed) {
    std::mt19937 rng(*seed);
    for (auto &[label, cls] : byClass) std::shuffle(cls.begin(), cls.end(), rng);
  }
  std::vector<ImageEntry> picked;
  for (size_t i = 0; picked.size() < static_cast<size_t>(n); ++i)
    for (auto &[label, cls] : byClass)
      if (i < cls.size() && picked.size() < static_cast<size_t>(n)) picked.push_back(cls[i]);
  std::sort(picked.begin(), picked.end(), [](const ImageEntry &a, const ImageEntry &b) { return a.path < b.path; });
  return picked;
}

}  // namespace lowbit
