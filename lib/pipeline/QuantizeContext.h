// What the quantization passes share: the graph being quantized, the data (calibration images
// through a BatchLoader, an Executor built on demand), and what earlier passes decided. Each
// pass reads the fields its contract names and fills its own; its report section goes into
// `report` under the pass's key.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "calib/ChannelStatistics.h"
#include "data/BatchLoader.h"
#include "data/CalibrationSet.h"
#include "ir/Graph.h"
#include "pipeline/QuantizeConfig.h"

namespace lowbit {

class Executor;

/// A layer to quantize (Conv/Gemm/MatMul with constant weights) and its weight bits.
struct LayerPlan {
  Node *node;
  int bits;
};

/// An activation's observed range and the clip its observer chose.
struct ActivationRange {
  float min, max, clip;
  /// With --act-observer sqnr: the clip of each of ActObserverConfig::sqnrCandidates().
  std::vector<float> candidateClips;
};

struct QuantizeContext {
  QuantizeContext(const QuantizeConfig &c, Graph &g) : cfg(c), graph(g) {}

  const QuantizeConfig &cfg;
  Graph &graph;
  std::string modelHash;          ///< of the source file: reports are stamped with it
  std::vector<ImageEntry> images; ///< the calibration images (empty with --calib-from)
  int channels = 0, height = 0, width = 0;
  /// The images as the model reads them (cfg.preprocess at height x width).
  BatchLoader loader() const { return BatchLoader(images, cfg.preprocess, channels, height, width); }
  /// One pass of \p exec (built with taps) over the images in batches of cfg.batch: \p visit
  /// gets each batch's taps; progress on stderr under \p label.
  void forEachTappedBatch(Executor &exec, const std::string &label,
                          const std::function<void(const std::vector<Tensor> &)> &visit) const;

  std::vector<LayerPlan> layers;             ///< SelectLayers
  std::vector<Value *> activations;          ///< QuantizeWeights: the layers' inputs, graph order
  std::map<const Value *, int> activationBits;
  std::vector<ActivationRange> ranges;       ///< CalibrateActivations, one per activation
  std::vector<ChannelStatistics> means;      ///< CalibrateActivations with --bias-correct
  size_t calibImages = 0;
  double calibSeconds = 0;
  std::unique_ptr<Graph> teacher;            ///< SnapshotTeacher: the float model
  /// CorrectBias: each corrected layer's bias value before correction ("" if it had none).
  std::map<std::string, std::string> uncorrectedBias;
  nlohmann::json report = nlohmann::json::object();  ///< sections by pass
  std::vector<std::string> ran;              ///< names of the passes that ran, in order
  std::vector<std::string> warnings;         ///< report "warnings"; each printed as it happens
  /// A stated warning: `warning: ...` on stderr now (before any long work), and in the report.
  void warn(const std::string &message);
};

}  // namespace lowbit
