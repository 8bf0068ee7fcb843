// Finding images on disk: an ImageFolder layout (one sub-folder per class) or a flat folder,
// and which model output each class folder is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

struct ImageEntry {
  std::string path;
  int label = -1;  ///< the class's index among the model's outputs; -1 in a flat folder
};

/// How class folder names become output indices.
enum class LabelSource {
  SortedFolders,   ///< position of the name among the sorted folder names (torchvision's ImageFolder)
  IntegerFolders,  ///< every folder name is an integer: the index itself ("0007" is class 7)
  LabelsFile,      ///< line number of the name in a --labels file (one name per line, output order)
};

struct ImageSet {
  std::vector<ImageEntry> images;   ///< sorted by class folder, then file name
  std::vector<std::string> classes; ///< class folder names, sorted; empty for a flat folder
  std::vector<int> classLabels;     ///< each class folder's label, parallel to classes
  LabelSource labelSource = LabelSource::SortedFolders;
  std::string labelsFile;           ///< with LabelSource::LabelsFile
  size_t labelsInFile = 0;          ///< names the labels file lists
  bool labelled() const { return !classes.empty(); }
  /// How labels were assigned, for reports: "sorted folder names", "integer folder names",
  /// "labels file F (1000 names)".
  std::string labelDescription() const;
};

/// Lists the .jpg/.jpeg/.png images under \p dir. If \p dir has sub-folders holding images,
/// each sub-folder is a class; otherwise the folder is flat (unlabelled). Labels: with
/// \p labelsFile, each folder's line in it (a folder missing from it is an error); else, when
/// every folder name is an integer, that integer; else the sorted position of the name.
/// Throws Error naming \p dir, the file or the folder at fault.
ImageSet scanImageFolder(const std::string &dir, const std::string &labelsFile = "");

/// Checks the labels of \p set against a model with \p outputs logits: every label must be an
/// output, and labels from sorted folder positions need exactly one folder per output (a
/// partial folder would shift every label). Throws Error naming \p model and the folder.
void requireLabelsFit(const ImageSet &set, int64_t outputs, const std::string &model, const std::string &dir);

}  // namespace lowbit
