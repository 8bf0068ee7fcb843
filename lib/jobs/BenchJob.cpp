#include "jobs/BenchJob.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <random>

#include "jobs/ModelLoader.h"
#include "runtime/FloatExecutor.h"

namespace lowbit {

std::vector<BenchRow> runBench(const BenchConfig &cfg) {
  std::unique_ptr<Graph> g = loadPreparedModel(cfg.modelPath);
  ImageInputInfo in = imageInputOf(*g, cfg.modelPath);
  const int64_t h = in.height > 0 ? in.height : cfg.size, w = in.width > 0 ? in.width : cfg.size;
  if (h <= 0 || w <= 0)
    throw Error(cat(cfg.modelPath, ": input '", in.name, "' has dynamic height/width; give --size"));
  ExecutorOptions opts;
  opts.profile = std::getenv("LOWBIT_PROFILE") != nullptr;  // per-op timings on stderr
  FloatExecutor exec(*g, opts);
  std::vector<BenchRow> rows;
  const int defaultThreads = omp_get_max_threads();
  for (int64_t threads : cfg.threads) {
    setNumThreads(static_cast<int>(threads > 0 ? threads : defaultThreads));
    for (int64_t batch : cfg.batches) {
      std::mt19937 rng(1234);
      std::uniform_real_distribution<float> dist(-1.f, 1.f);
      Tensor x(DType::Float32, {batch, in.channels, h, w});
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = dist(rng);
      for (int i = 0; i < cfg.warmup; ++i) exec.run({x});
      std::vector<double> ms;
      for (int i = 0; i < cfg.iters; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        exec.run({x});
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      BenchRow r;
      r.mode = "float";
      r.batch = batch;
      r.threads = threads > 0 ? threads : defaultThreads;
      r.medianMs = ms[ms.size() / 2];
      r.p90Ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
      r.imagesPerS = 1000.0 * static_cast<double>(batch) / r.medianMs;
      if (opts.profile) std::fprintf(stderr, "batch %lld, %lld threads: %s", static_cast<long long>(batch),
                                     static_cast<long long>(r.threads), exec.profileReport().c_str());
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace lowbit
