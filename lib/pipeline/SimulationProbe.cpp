#include "pipeline/SimulationProbe.h"

#include <algorithm>
#include <cmath>

#include "passes/PassManager.h"
#include "runtime/Executor.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

// First index of the largest logit (argmax's tie rule).
int64_t argmax(const float *x, int64_t k) { return std::max_element(x, x + k) - x; }

}  // namespace

SimulationProbe::SimulationProbe(const QuantizeContext &ctx, const Graph &floatGraph, std::vector<ImageEntry> images) {
  if (images.empty()) throw Error("no images to measure the quantized model on");
  const bool labelled = !images.empty() && std::all_of(images.begin(), images.end(), [](const ImageEntry &e) {
    return e.label >= 0;
  });
  const BatchLoader loader(std::move(images), ctx.cfg.preprocess, ctx.channels, ctx.height, ctx.width);
  images_ = loader.size();
  const size_t batch = static_cast<size_t>(std::max(1, ctx.cfg.batch));
  std::vector<int> labels;
  for (size_t b = 0; b < loader.size(); b += batch) {
    std::vector<int> l;
    batches_.push_back(loader.load(b, std::min(loader.size(), b + batch), &l));
    labels.insert(labels.end(), l.begin(), l.end());
  }
  if (labelled) labels_ = labels;
  reference_ = run(floatGraph);
  if (labelled) {
    size_t correct = 0, i = 0;
    for (const Tensor &r : reference_) {
      const int64_t n = r.dims()[0], k = r.dims()[1];
      for (int64_t j = 0; j < n; ++j, ++i) correct += argmax(r.data<float>() + j * k, k) == labels_[i];
    }
    floatTop1_ = 100.0 * static_cast<double>(correct) / static_cast<double>(images_);
  }
}

std::vector<Tensor> SimulationProbe::run(const Graph &g) const {
  // The int8 runner: what `eval --runner int8` and `bench` run, several times faster than the
  // fake-quantized simulation (with which it agrees on all but a few code boundaries).
  ExecutorOptions opts;
  opts.integer = IntegerMode::Static;
  Executor exec(g, opts);
  std::vector<Tensor> outs;
  for (const Tensor &x : batches_) {
    Tensor y = exec.run({x})[0];
    const int64_t n = x.dims()[0];
    if (y.numel() % n != 0 || y.numel() == 0)
      throw Error(cat("the model's output '", g.outputs()[0]->name(), "' has ", y.numel(), " values for ", n,
                      " images; the quantizer's checks need one score vector per image"));
    outs.push_back(y.reshaped({n, y.numel() / n}));
  }
  return outs;
}

std::vector<ImageEntry> SimulationProbe::spread(const std::vector<ImageEntry> &images, size_t most) {
  std::vector<ImageEntry> out;
  const size_t stride = std::max<size_t>(1, (images.size() + most - 1) / std::max<size_t>(1, most));
  for (size_t i = 0; i < images.size(); i += stride) out.push_back(images[i]);
  return out;
}

SimulationProbe::Figures SimulationProbe::measure(const Graph &quantized) const { return measure(quantized.clone()); }

SimulationProbe::Figures SimulationProbe::measure(std::unique_ptr<Graph> g) const {
  runPasses(*g, {"UpgradeOpset13", "InsertQDQ"}, PassContext());  // as the pipeline's export steps
  const std::vector<Tensor> out = run(*g);
  double signal = 0, noise = 0;
  size_t agree = 0, correct = 0, i = 0;
  for (size_t b = 0; b < out.size(); ++b) {
    const float *q = out[b].data<float>(), *f = reference_[b].data<float>();
    const int64_t n = out[b].dims()[0], k = out[b].dims()[1];
    for (int64_t j = 0; j < n * k; ++j) {
      signal += static_cast<double>(f[j]) * f[j];
      noise += (static_cast<double>(f[j]) - q[j]) * (static_cast<double>(f[j]) - q[j]);
    }
    for (int64_t j = 0; j < n; ++j, ++i) {
      const int64_t c = argmax(q + j * k, k);
      agree += c == argmax(f + j * k, k);
      if (labelled()) correct += c == labels_[i];
    }
  }
  Figures fig;
  fig.sqnrDb = noise == 0 ? 999.0 : 10.0 * std::log10(signal / noise);
  fig.agreement = 100.0 * static_cast<double>(agree) / static_cast<double>(images_);
  if (labelled()) fig.top1 = 100.0 * static_cast<double>(correct) / static_cast<double>(images_);
  return fig;
}

std::string SimulationProbe::metric() const {
  return labelled() ? "top-1 on the folder's labels" : "top-1 agreement with the float model";
}

}  // namespace lowbit
