// Finding images on disk: an ImageFolder layout (one sub-folder per class) or a flat folder.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

struct ImageEntry {
  std::string path;
  int label = -1;  ///< class index (sorted folder names); -1 in a flat folder
};

struct ImageSet {
  std::vector<ImageEntry> images;   ///< sorted by class, then file name
  std::vector<std::string> classes; ///< empty for a flat folder
  bool labelled() const { return !classes.empty(); }
};

/// Lists the .jpg/.jpeg/.png images under \p dir. If \p dir has sub-folders holding images,
/// each sub-folder is a class (sorted names give labels); otherwise the folder is flat
/// (unlabelled). Throws Error naming \p dir when it is missing or holds no images.
ImageSet scanImageFolder(const std::string &dir);

}  // namespace lowbit
