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

class FloatExecutor {
 public:
  /// Keeps a copy of \p g (normally after floatPreparePipeline()).
  explicit FloatExecutor(const Graph &g);
  ~FloatExecutor();
  FloatExecutor(const FloatExecutor &) = delete;
  FloatExecutor &operator=(const FloatExecutor &) = delete;

  /// Runs the model on \p inputs (one per graph input, in order) and returns the graph outputs.
  /// Float inputs are data; inputs of other types (shapes, indices) are fixed per plan.
  /// Throws Error naming the input or node at fault.
  std::vector<Tensor> run(const std::vector<Tensor> &inputs);

  /// Number of plan steps for the last input shapes (primitives, reorders, reference kernels).
  size_t lastPlanSteps() const;

 private:
  struct Plan;
  Plan &planFor(const std::vector<Tensor> &inputs);
  std::unique_ptr<Graph> graph_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit
