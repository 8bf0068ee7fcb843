// The quantized model exactly as the exporter will write it, measured against the float model
// on a fixed set of images: what the data-driven choices of the pipeline (observer per tensor,
// layers kept in float) are judged by. The images are decoded once and the float outputs kept;
// each measure() clones the graph being quantized, materialises its QuantParams as QDQ
// (UpgradeOpset13, InsertQDQ: the pipeline's export steps) and runs it on the int8 runner.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "pipeline/QuantizeContext.h"

namespace lowbit {

class SimulationProbe {
 public:
  /// Images enough to rank settings that take many trial runs (observer choice, layer ranking).
  static constexpr size_t kRankingImages = 256;
  /// At most \p most of \p images, spread evenly over them (every k-th).
  static std::vector<ImageEntry> spread(const std::vector<ImageEntry> &images, size_t most);

  /// Decodes \p images (cfg.preprocess at ctx's input size) and runs \p floatGraph (no
  /// QuantParams) on them. \p images are labelled when every label is >= 0.
  SimulationProbe(const QuantizeContext &ctx, const Graph &floatGraph, std::vector<ImageEntry> images);

  struct Figures {
    double sqnrDb = 0;     ///< of all quantized logits against the float ones
    double agreement = 0;  ///< % of images whose top-1 class is the float model's
    double top1 = NAN;     ///< % correct (labelled images only)
  };
  /// The figures of \p quantized, a graph carrying QuantParams (not modified).
  Figures measure(const Graph &quantized) const;
  /// The same for a graph the caller no longer needs (rewritten in place, no copy).
  Figures measure(std::unique_ptr<Graph> quantized) const;

  size_t size() const { return images_; }
  int64_t classes() const { return reference_.empty() ? 0 : reference_[0].dims()[1]; }
  bool labelled() const { return !labels_.empty(); }
  double floatTop1() const { return floatTop1_; }
  /// The accuracy drop of \p f in points: float top-1 minus quantized top-1 when labelled,
  /// else the share of images whose top-1 class differs from the float model's.
  double drop(const Figures &f) const { return labelled() ? floatTop1_ - f.top1 : 100.0 - f.agreement; }
  /// "top-1 on the folder's labels" or "top-1 agreement with the float model".
  std::string metric() const;

 private:
  std::vector<Tensor> batches_;  ///< the decoded images, in batches of cfg.batch
  std::vector<int> labels_;      ///< empty: unlabelled
  std::vector<Tensor> reference_;  ///< float outputs per batch, as [images, classes]
  size_t images_ = 0;
  double floatTop1_ = NAN;
  std::vector<Tensor> run(const Graph &g) const;
};

}  // namespace lowbit
