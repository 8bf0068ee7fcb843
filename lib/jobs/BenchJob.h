// `lowbit bench`: latency and throughput of the runners per batch size and thread count:
// the float model on the float runner, and a quantized model on the int8 runner with static
// and with dynamic activation scales.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

struct BenchConfig {
  std::string modelPath;
  std::string int8Path;  ///< quantized (QDQ) model for int8_static / int8_dynamic; empty: float only
  /// Modes to time, from float, float_direct (no Winograd convolutions), int8_static,
  /// int8_dynamic (empty: float, plus both int8 modes when int8Path is set).
  std::vector<std::string> modes;
  std::vector<int64_t> batches = {1, 64};
  std::vector<int64_t> threads = {0};  ///< 0: OpenMP default (all cores)
  int warmup = 5;
  int iters = 50;
  int size = 0;  ///< input H=W when the model leaves them dynamic
};

struct BenchRow {
  std::string mode;  ///< "float", "int8_static" or "int8_dynamic"
  int64_t batch = 0, threads = 0;
  double medianMs = 0, p90Ms = 0, imagesPerS = 0;
  std::string lowering;  ///< int8 modes: "19 of 20 Conv/Gemm/MatMul as integers"
};

/// Times the models on seeded random inputs (uniform in [-1, 1]); for each batch and thread
/// count the modes run one after another. Throws Error naming the model.
std::vector<BenchRow> runBench(const BenchConfig &cfg);

}  // namespace lowbit
