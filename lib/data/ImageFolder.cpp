#include "data/ImageFolder.h"

#include <algorithm>
#include <filesystem>

#include "support/Error.h"
#include "support/Strings.h"

namespace fs = std::filesystem;

namespace lowbit {
namespace {

bool isImageFile(const fs::path &p) {
  std::string ext = toLower(p.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<fs::path> sortedEntries(const fs::path &dir) {
  std::vector<fs::path> out;
  for (const auto &e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

ImageSet scanImageFolder(const std::string &dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(cat("image folder '", dir, "' does not exist"));
  if (!fs::is_directory(dir, ec)) throw Error(cat("'", dir, "' is not a folder"));
  ImageSet set;
  std::vector<fs::path> entries = sortedEntries(dir);
  std::vector<std::string> others;
  for (const fs::path &p : entries) {
    if (!fs::is_directory(p)) continue;
    std::vector<ImageEntry> found;
    for (const fs::path &f : sortedEntries(p))
      if (fs::is_regular_file(f) && isImageFile(f)) found.push_back({f.string(), 0});
    if (found.empty()) continue;
    int label = static_cast<int>(set.classes.size());
    set.classes.push_back(p.filename().string());
    for (ImageEntry &e : found) {
      e.label = label;
      set.images.push_back(std::move(e));
    }
  }
  if (set.images.empty()) {  // flat folder
    for (const fs::path &p : entries) {
      if (fs::is_regular_file(p) && isImageFile(p))
        set.images.push_back({p.string(), -1});
      else if (!fs::is_directory(p))
        others.push_back(p.filename().string());
    }
  }
  if (set.images.empty()) {
    std::string msg = cat("image folder '", dir, "' has no images (looked for .jpg .jpeg .png");
    if (!others.empty()) msg += cat("; found ", others.size(), " other files, e.g. '", others[0], "'");
    throw Error(msg + ")");
  }
  return set;
}

}  // namespace lowbit
