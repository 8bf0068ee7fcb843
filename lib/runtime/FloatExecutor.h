// Runs a prepared graph in float32 on oneDNN. A plan (memories, primitives, reorders) is built
// once per set of input shapes and reused for every batch of that shape.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace lowbit {

/// Sets the number of threads oneDNN (OpenMP) and the image decoder use; 0 keeps the default.
void setNumThreads(int threads);

struct ExecutorOptions {
  /// Values whose contents run() copies out (e.g. for calibration). Buffers are then never
  /// reused in place, so every tapped value keeps its contents until the end of the run.
  std::vector<std::string> taps;
  /// Time every step (adds a stream wait per step); see profileReport().
  bool profile = false;
};

class FloatExecutor {
 public:
  /// Keeps a copy of \p g (normally after floatPreparePipeline()).
  explicit FloatExecutor(const Graph &g, ExecutorOptions opts = {});
  ~FloatExecutor();
  FloatExecutor(const FloatExecutor &) = delete;
  FloatExecutor &operator=(const FloatExecutor &) = delete;

  /// Runs the model on \p inputs (one per graph input, in order) and returns the graph outputs.
  /// Float inputs are data; inputs of other types (shapes, indices) are fixed per plan.
  /// Throws Error naming the input or node at fault.
  /// With \p taps, also returns the contents of ExecutorOptions::taps, in that order.
  std::vector<Tensor> run(const std::vector<Tensor> &inputs, std::vector<Tensor> *taps = nullptr);

  /// With ExecutorOptions::profile: milliseconds per op type (and step count) summed over all
  /// runs of the last plan, most expensive first.
  std::string profileReport() const;

 private:
  struct Plan;
  Plan &planFor(const std::vector<Tensor> &inputs);
  std::unique_ptr<Graph> graph_;
  ExecutorOptions opts_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit
