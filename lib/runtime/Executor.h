// Runs a prepared graph on oneDNN: in float32 (QuantizeLinear/DequantizeLinear pairs simulated
// as fake quantization), or lowered to integer arithmetic (int8 static or dynamic). A plan
// (memories, primitives, reorders) is built once per set of input shapes and reused for every
// batch of that shape.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ir/Graph.h"
#include "passes/LowerToInteger.h"

namespace lowbit {

/// Sets the number of threads oneDNN (OpenMP) and the image decoder use; 0 keeps the default.
void setNumThreads(int threads);

/// Runner names of the CLI: "float" (quantization simulated in float), "int8" (static integer
/// lowering), "int8-dynamic" (activation scales per batch). Error for other names.
std::optional<IntegerMode> parseRunner(const std::string &name);
/// "19 of 21 Conv/Gemm as integers" for a lowering (empty if there was none).
std::string loweringSummary(const std::vector<LoweringDecision> &decisions);

struct ExecutorOptions {
  /// Values whose contents run() copies out (e.g. for calibration). Buffers are then never
  /// reused in place, so every tapped value keeps its contents until the end of the run.
  std::vector<std::string> taps;
  /// Time every step (adds a stream wait per step); see profileReport().
  bool profile = false;
  /// Set: run quantized Conv/Gemm as integers (lowerToInteger); unset: float simulation.
  std::optional<IntegerMode> integer;
  /// Float convolutions on kernels that sum in another order than one direct layer at a time,
  /// in graphs without quantization: 3x3 stride-1 layers on oneDNN's Winograd kernels where it
  /// has them (AVX-512) and they win (ConvBuilder's winogradPays), and a pointwise layer with
  /// the 3x3 depthwise layer reading it in one pass (its depthwise post-op), convolutions
  /// reading a large channel Concat split over its sources (SplitConcatReaders), and the
  /// opening layers run image by image (ImageByImage.h). Off by default:
  /// calibration, comparisons and the quantization pipeline measure the model with direct
  /// sums, as ONNX Runtime and PyTorch compute it; `eval` and `bench` (user-facing speed) turn
  /// it on. Plans with taps keep the graph's layers.
  bool fastConvolutions = false;
};

/// A graph input or output: a tensor, or a sequence/optional value (which only passes through).
using RunValue = std::variant<Tensor, Container>;

class Executor {
 public:
  /// Keeps a copy of \p g (normally after floatPreparePipeline()).
  explicit Executor(const Graph &g, ExecutorOptions opts = {});
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  /// Runs the model on \p inputs (one per graph input, in order) and returns the graph outputs.
  /// Float inputs are data; inputs of other types (shapes, indices) are fixed per plan.
  /// Throws Error naming the input or node at fault.
  /// With \p taps, also returns the contents of ExecutorOptions::taps, in that order.
  std::vector<Tensor> run(const std::vector<Tensor> &inputs, std::vector<Tensor> *taps = nullptr);
  /// run() for graphs with sequence or optional inputs and outputs (ONNX's non-tensor types),
  /// which pass through Identity nodes unchanged.
  std::vector<RunValue> runValues(const std::vector<RunValue> &inputs);

  /// With ExecutorOptions::profile: milliseconds per op type (and step count) averaged over
  /// the runs of the last plan, most expensive first; \p perStep: every step in plan order.
  std::string profileReport(bool perStep = false) const;

  /// With ExecutorOptions::integer: how each Conv/Gemm/MatMul of the last plan runs.
  const std::vector<LoweringDecision> &lowering() const;

 private:
  struct Plan;
  Plan &planFor(const std::vector<Tensor> &inputs);
  std::vector<Tensor> runTensors(const std::vector<Tensor> &inputs, std::vector<Tensor> *taps);
  std::unique_ptr<Graph> graph_;
  ExecutorOptions opts_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit
