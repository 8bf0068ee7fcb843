#include "data/ImageFolder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "support/Error.h"
#include "support/File.h"
#include "support/Strings.h"

namespace fs = std::filesystem;

namespace lowbit {
namespace {

bool isImageFile(const fs::path &p) {
  std::string ext = toLower(p.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Entries keep the file type the directory listing gave, so 10,000 images need no stat each.
std::vector<fs::directory_entry> sortedEntries(const fs::path &dir) {
  std::vector<fs::directory_entry> out;
  for (const fs::directory_entry &e : fs::directory_iterator(dir)) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const fs::directory_entry &a, const fs::directory_entry &b) { return a.path() < b.path(); });
  return out;
}

// A folder name of digits only, as a class index (at most 9 digits: no overflow).
bool integerName(const std::string &name, int &value) {
  if (name.empty() || name.size() > 9 || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  value = std::stoi(name);
  return true;
}

// Class names of a labels file, one per line in output order (trailing blank lines and
// whitespace ignored). The size bound keeps a wrong path from reading gigabytes.
std::vector<std::string> readLabelsFile(const std::string &path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (!ec && size > (16u << 20))
    throw Error(cat("labels file '", path, "' is ", size, " bytes; a class list is one name per line (at most 16 MiB)"));
  const std::string text = readFile(path);
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t first = 0;
    while (first < line.size() && std::isspace(static_cast<unsigned char>(line[first]))) ++first;
    names.push_back(line.substr(first));
    start = end + 1;
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) throw Error(cat("labels file '", path, "' lists no class names"));
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) throw Error(cat("labels file '", path, "': line ", i + 1, " is blank"));
    if (auto [it, fresh] = seen.emplace(names[i], i); !fresh)
      throw Error(cat("labels file '", path, "': '", names[i], "' is on lines ", it->second + 1, " and ", i + 1));
  }
  return names;
}

// Each class folder's label by the rules of scanImageFolder.
void assignLabels(ImageSet &set, const std::string &dir, const std::string &labelsFile) {
  std::vector<int> &labels = set.classLabels;
  labels.resize(set.classes.size());
  if (!labelsFile.empty()) {
    const std::vector<std::string> names = readLabelsFile(labelsFile);
    std::map<std::string, int> index;
    for (size_t i = 0; i < names.size(); ++i) index[names[i]] = static_cast<int>(i);
    for (size_t c = 0; c < set.classes.size(); ++c) {
      auto it = index.find(set.classes[c]);
      if (it == index.end())
        throw Error(cat("image folder '", dir, "': class folder '", set.classes[c], "' is not in labels file '",
                        labelsFile, "' (", names.size(), " names)"));
      labels[c] = it->second;
    }
    set.labelSource = LabelSource::LabelsFile;
    set.labelsFile = labelsFile;
    set.labelsInFile = names.size();
    return;
  }
  bool allIntegers = !set.classes.empty();
  for (size_t c = 0; c < set.classes.size() && allIntegers; ++c) allIntegers = integerName(set.classes[c], labels[c]);
  if (allIntegers) {
    std::map<int, std::string> owner;
    for (size_t c = 0; c < set.classes.size(); ++c)
      if (auto [it, fresh] = owner.emplace(labels[c], set.classes[c]); !fresh)
        throw Error(cat("image folder '", dir, "': class folders '", it->second, "' and '", set.classes[c],
                        "' are both class ", labels[c]));
    set.labelSource = LabelSource::IntegerFolders;
    return;
  }
  for (size_t c = 0; c < set.classes.size(); ++c) labels[c] = static_cast<int>(c);
  set.labelSource = LabelSource::SortedFolders;
}

}  // namespace

std::string ImageSet::labelDescription() const {
  switch (labelSource) {
    case LabelSource::IntegerFolders: return "integer folder names";
    case LabelSource::LabelsFile: return cat("labels file ", labelsFile, " (", labelsInFile, " names)");
    case LabelSource::SortedFolders: break;
  }
  return "sorted folder names";
}

ImageSet scanImageFolder(const std::string &dir, const std::string &labelsFile) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(cat("image folder '", dir, "' does not exist"));
  if (!fs::is_directory(dir, ec)) throw Error(cat("'", dir, "' is not a folder"));
  ImageSet set;
  const std::vector<fs::directory_entry> entries = sortedEntries(dir);
  std::vector<std::string> others;
  std::vector<std::vector<ImageEntry>> perClass;
  for (const fs::directory_entry &p : entries) {
    if (!p.is_directory(ec)) continue;
    std::vector<ImageEntry> found;
    for (const fs::directory_entry &f : sortedEntries(p.path()))
      if (f.is_regular_file(ec) && isImageFile(f.path())) found.push_back({f.path().string(), 0});
    if (found.empty()) continue;
    set.classes.push_back(p.path().filename().string());
    perClass.push_back(std::move(found));
  }
  if (!set.classes.empty()) {
    assignLabels(set, dir, labelsFile);
    for (size_t c = 0; c < perClass.size(); ++c)
      for (ImageEntry &e : perClass[c]) {
        e.label = set.classLabels[c];
        set.images.push_back(std::move(e));
      }
  } else {  // flat folder
    if (!labelsFile.empty())
      throw Error(cat("image folder '", dir, "' has no class sub-folders for labels file '", labelsFile, "' to name"));
    for (const fs::directory_entry &p : entries) {
      if (p.is_regular_file(ec) && isImageFile(p.path()))
        set.images.push_back({p.path().string(), -1});
      else if (!p.is_directory(ec))
        others.push_back(p.path().filename().string());
    }
  }
  if (set.images.empty()) {
    std::string msg = cat("image folder '", dir, "' has no images (looked for .jpg .jpeg .png");
    if (!others.empty()) msg += cat("; found ", others.size(), " other files, e.g. '", others[0], "'");
    throw Error(msg + ")");
  }
  return set;
}

void requireLabelsFit(const ImageSet &set, int64_t outputs, const std::string &model, const std::string &dir) {
  if (!set.labelled()) return;
  if (set.labelSource == LabelSource::SortedFolders) {
    if (static_cast<int64_t>(set.classes.size()) != outputs)
      throw Error(cat(model, ": the model has ", outputs, " outputs but '", dir, "' has ", set.classes.size(),
                      " class folders, labelled by their sorted names; name the folders by class index (0..",
                      outputs - 1, ") or give --labels FILE (one class name per line, in output order)"));
    return;
  }
  for (size_t c = 0; c < set.classes.size(); ++c)
    if (set.classLabels[c] >= outputs)
      throw Error(cat(model, ": class folder '", set.classes[c], "' of '", dir, "' is class ", set.classLabels[c],
                      " (", set.labelDescription(), ") but the model has ", outputs, " outputs"));
}

}  // namespace lowbit
