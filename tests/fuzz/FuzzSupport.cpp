#include "FuzzSupport.h"

#include <algorithm>

#include "passes/PassManager.h"
#include "runtime/Executor.h"

namespace lowbit::fuzz {

std::vector<Tensor> inputsFor(const Graph &g) {
  std::vector<Tensor> inputs;
  for (const Value *in : g.inputs()) {
    if (!in->hasShape()) throw Error(cat("input '", in->name(), "' has no shape"));
    Dims d = in->dims();
    for (size_t i = 0; i < d.size(); ++i)
      if (d[i] < 0) d[i] = i == 0 ? 1 : 8;
    Tensor t(in->dtype(), d);  // zero-filled
    if (in->dtype() == DType::Float32)
      for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = static_cast<float>(k % 17) / 8.f - 1.f;
    inputs.push_back(std::move(t));
  }
  return inputs;
}

double estimatedWork(const Graph &g, const std::vector<Tensor> &inputs) {
  std::vector<Dims> dims;
  for (const Tensor &t : inputs) dims.push_back(t.dims());
  const std::unique_ptr<Graph> s = specializedClone(g, dims);
  double work = 0;
  for (const Node *n : s->nodes()) {
    double perOutput = 1;
    // Conv, Gemm, MatMul: each output element reads a weight slice (its kernel or row).
    if (n->inputs().size() > 1 && n->inputs()[1] && n->inputs()[1]->hasShape()) {
      const Dims &w = n->inputs()[1]->dims();
      if (n->opType() == "Conv" || n->opType() == "ConvTranspose")
        for (size_t i = 1; i < w.size(); ++i) perOutput *= static_cast<double>(std::max<int64_t>(w[i], 1));
      else if ((n->opType() == "Gemm" || n->opType() == "MatMul") && !w.empty())
        perOutput = static_cast<double>(std::max<int64_t>(w[0], 1));
    }
    for (const Value *out : n->outputs()) {
      if (!out || !out->hasShape()) continue;
      double numel = 1;
      for (int64_t d : out->dims()) numel *= static_cast<double>(std::max<int64_t>(d, 1));
      work += numel * perOutput;
    }
  }
  return work;
}

void prepareAndRun(Graph &g, bool integer) {
  runPasses(g, floatPreparePipeline());
  const std::vector<Tensor> inputs = inputsFor(g);
  const bool run = estimatedWork(g, inputs) < 5e7;  // about 50 ms of oneDNN at most
  std::vector<std::optional<IntegerMode>> modes = {std::nullopt};
  if (integer) modes = {IntegerMode::Static, IntegerMode::Dynamic};
  for (const auto &mode : modes) {
    ExecutorOptions opts;
    opts.integer = mode;
    Executor exec(g, opts);
    if (run) exec.run(inputs);
  }
}

}  // namespace lowbit::fuzz
