// `lowbit eval`: top-1/top-5 accuracy of a model on a labelled image folder.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "data/Preprocess.h"
#include "train/Attack.h"

namespace lowbit {

struct EvalConfig {
  std::string modelPath, dataDir;
  std::string labelsFile;  ///< --labels: class names in output order (ImageFolder.h scanImageFolder)
  PreprocessConfig preprocess;
  int size = 0;         ///< model input H and W when the model leaves them dynamic
  int batch = 64;
  int threads = 0;      ///< 0: OpenMP default
  int64_t limit = 0;    ///< evaluate the first N images (0 = all)
  bool progress = true; ///< progress line on stderr
  /// If set, writes <dump>.inputs.f32 and <dump>.logits.f32 (raw little-endian float32, row
  /// major) and <dump>.json (shapes, labels) so other runtimes can be compared on the same data.
  std::string dump;
  std::string runner = "float";  ///< float (QDQ simulated), int8, int8-dynamic (see parseRunner)
  bool fastConvolutions = true;  ///< ExecutorOptions::fastConvolutions
  /// --attack: besides clean accuracy, the accuracy on adversarial images crafted for each
  /// budget of attackEps (pixel units) on the evaluated model (white-box) or on attackFrom.
  std::optional<train::AttackConfig> attack;
  std::vector<float> attackEps;
  std::string attackFrom;
};

/// Accuracy under attack at one budget.
struct AttackResult {
  float eps = 0;
  int64_t correct1 = 0;
  double top1 = 0;  ///< percent
};

struct EvalResult {
  std::string model, data;
  int64_t images = 0, correct1 = 0, correct5 = 0;
  double top1 = 0, top5 = 0;  ///< percent
  double seconds = 0;
  int numClasses = 0;
  std::string labels;  ///< how class folders became labels (ImageSet::labelDescription)
  /// For a quantized model: bit widths read back from it, e.g. "weights 4-bit x19, 8-bit x2;
  /// activations 8-bit x21" (empty for a float model).
  std::string quantization;
  std::string runner;    ///< the runner used
  std::string inputLayout;  ///< "NCHW", or "NHWC" for a channels-last input (fed as the file stores it)
  std::string lowering;  ///< integer runners: how many Conv/Gemm ran as integers
  std::vector<AttackResult> attacks;  ///< one per --eps, in order
  std::string attackSource;           ///< "white-box" or the model the images were crafted on
  /// Things the user asked for that did not happen as asked (e.g. an integer runner on a float
  /// model); the CLI prints each as `warning: ...` on stderr.
  std::vector<std::string> warnings;
};

/// Evaluates the model on the folder. Throws Error naming the model, folder or image at fault.
EvalResult runEval(const EvalConfig &cfg);

}  // namespace lowbit
