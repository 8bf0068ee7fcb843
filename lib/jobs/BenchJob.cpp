#include "jobs/BenchJob.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "jobs/ModelLoader.h"
#include "runtime/Executor.h"

namespace lowbit {

namespace {

struct Runner {
  std::string mode;
  std::unique_ptr<Executor> exec;
};

std::unique_ptr<Executor> makeExecutor(const Graph &g, const std::optional<IntegerMode> &integer,
                                       bool fastConvolutions = true) {
  ExecutorOptions opts;
  opts.profile = std::getenv("LOWBIT_PROFILE") != nullptr;  // per-op timings on stderr
  opts.integer = integer;
  opts.fastConvolutions = fastConvolutions;
  return std::make_unique<Executor>(g, opts);
}

}  // namespace

std::vector<BenchRow> runBench(const BenchConfig &cfg) {
  std::vector<std::string> modes = cfg.modes;
  if (modes.empty()) {
    modes = {"float"};
    if (!cfg.int8Path.empty()) modes.insert(modes.end(), {"int8_static", "int8_dynamic"});
  }
  // Each file is read once; both int8 modes run the same quantized graph.
  std::unique_ptr<Graph> floatGraph, int8Graph;
  std::vector<Runner> runners;
  for (const std::string &mode : modes) {
    if (mode == "float" || mode == "float_direct") {
      if (!floatGraph) floatGraph = loadPreparedModel(cfg.modelPath);
      runners.push_back({mode, makeExecutor(*floatGraph, std::nullopt, mode == "float")});
    } else if (mode == "int8_static" || mode == "int8_dynamic") {
      if (cfg.int8Path.empty()) throw Error(cat("mode ", mode, " needs a quantized model (--int8 QUANT.onnx)"));
      if (!int8Graph) int8Graph = loadPreparedModel(cfg.int8Path);
      runners.push_back({mode, makeExecutor(*int8Graph, mode == "int8_static" ? IntegerMode::Static : IntegerMode::Dynamic)});
    } else {
      throw Error(cat("unknown bench mode '", mode, "' (float, float_direct, int8_static, int8_dynamic)"));
    }
  }
  const ImageInputInfo in = floatGraph ? imageInputOf(*floatGraph, cfg.modelPath) : imageInputOf(*int8Graph, cfg.int8Path);
  if (floatGraph && int8Graph) {
    const ImageInputInfo q = imageInputOf(*int8Graph, cfg.int8Path);
    if (q.channels != in.channels || q.height != in.height || q.width != in.width)
      throw Error(cat(cfg.int8Path, ": its input differs from ", cfg.modelPath, "'s"));
  }
  const int64_t h = in.height > 0 ? in.height : cfg.size, w = in.width > 0 ? in.width : cfg.size;
  if (h <= 0 || w <= 0)
    throw Error(cat(cfg.modelPath, ": input '", in.name, "' has dynamic height/width; give --size"));

  std::vector<BenchRow> rows;
  const int defaultThreads = omp_get_max_threads();
  for (int64_t threads : cfg.threads) {
    setNumThreads(static_cast<int>(threads > 0 ? threads : defaultThreads));
    for (int64_t batch : cfg.batches) {
      std::mt19937 rng(1234);
      std::uniform_real_distribution<float> dist(-1.f, 1.f);
      std::vector<Tensor> x(1, Tensor(DType::Float32, {batch, in.channels, h, w}));  // timed runs copy nothing
      for (int64_t i = 0; i < x[0].numel(); ++i) x[0].data<float>()[i] = dist(rng);
      for (Runner &runner : runners) {
        Executor &exec = *runner.exec;
        for (int i = 0; i < cfg.warmup; ++i) exec.run(x);
        std::vector<double> ms;
        for (int i = 0; i < cfg.iters; ++i) {
          auto t0 = std::chrono::steady_clock::now();
          exec.run(x);
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        BenchRow r;
        r.mode = runner.mode;
        r.batch = batch;
        r.threads = threads > 0 ? threads : defaultThreads;
        r.medianMs = ms[ms.size() / 2];
        r.p90Ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
        r.imagesPerS = 1000.0 * static_cast<double>(batch) / r.medianMs;
        r.lowering = loweringSummary(exec.lowering());
        if (const char *profile = std::getenv("LOWBIT_PROFILE"))  // "steps": every step in plan order
          std::fprintf(stderr, "%s, batch %lld, %lld threads: %s", runner.mode.c_str(), static_cast<long long>(batch),
                       static_cast<long long>(r.threads), exec.profileReport(std::string(profile) == "steps").c_str());
        rows.push_back(r);
      }
    }
  }
  return rows;
}

}  // namespace lowbit
