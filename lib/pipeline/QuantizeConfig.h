// The settings of one quantization run (the `lowbit quantize` flags, a recipe's fields).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "calib/ActivationObserver.h"
#include "data/Preprocess.h"
#include "passes/Pass.h"
#include "quant/WeightQuantizer.h"
#include "train/Distillation.h"

namespace lowbit {

struct QuantizeConfig {
  std::string modelPath, calibDir, outPath, reportPath;
  std::string calibFrom;  ///< reuse activation ranges from this report (same model) instead of images
  int64_t numCalib = 0;  ///< 0: every image in the folder
  uint32_t seed = 0;
  int batch = 32;
  int threads = 0;
  PreprocessConfig preprocess;
  int size = 0;  ///< input H = W when the model leaves them dynamic
  WeightQuantConfig weights;  ///< bits, granularity, groups, observer
  int actBits = 8;
  ActObserverConfig act;
  /// Activations that reach below zero get u8 codes with a zero point over [lo, hi] (skewed
  /// ranges such as h-swish outputs keep all 2^b codes); otherwise signed codes around 0.
  bool actAsymmetric = false;
  /// A layer input selected out of a Concat (through Slice, Reshape, Transpose, ...: channel
  /// shuffles and splits) takes the Concat output's quantizer, so 8-bit codes flow from the
  /// layers before the Concat to those after it; otherwise each layer input has its own.
  /// (`lowbit quantize` shares them by default at 8-bit activations.)
  bool shareConcatScales = false;
  int firstLastBits = 0;  ///< bits of the first and last quantized layers (0: as the others)
  std::vector<std::string> exclude;  ///< node names kept in float
  /// Set: keep the most costly layers in float until top-1 drops by at most this many points on
  /// the control images (controlDir, else the calibration images; labels as eval reads them).
  std::optional<double> maxDrop;
  std::string controlDir, labelsFile;
  int64_t numControl = 0;  ///< images of controlDir, class-balanced (0: all)
  bool equalize = false;             ///< cross-layer equalization before quantizing
  bool absorbBias = false;           ///< high-bias absorption (Conv-Relu-Conv) from calibration minima
  bool biasCorrect = false;          ///< empirical bias correction from calibration means
  bool progress = true;
  /// Set: fine-tune weights and quantizer steps by distillation on the calibration images.
  std::optional<train::FinetuneConfig> finetune;
  PassContext passes;  ///< --verify-each, --dump-after, --print-passes
};

}  // namespace lowbit
