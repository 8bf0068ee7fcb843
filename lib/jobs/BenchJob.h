// `lowbit bench`: latency and throughput of the runner per batch size and thread count.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

struct BenchConfig {
  std::string modelPath;
  std::vector<int64_t> batches = {1, 64};
  std::vector<int64_t> threads = {0};  ///< 0: OpenMP default (all cores)
  int warmup = 5;
  int iters = 50;
  int size = 0;  ///< input H=W when the model leaves them dynamic
};

struct BenchRow {
  std::string mode;  ///< "float" (int8 modes come with the int8 runner)
  int64_t batch = 0, threads = 0;
  double medianMs = 0, p90Ms = 0, imagesPerS = 0;
};

/// Times the model on seeded random inputs (uniform in [-1, 1]). Throws Error naming the model.
std::vector<BenchRow> runBench(const BenchConfig &cfg);

}  // namespace lowbit
