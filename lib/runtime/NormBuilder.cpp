// BatchNormalization (inference with global statistics, or training with batch statistics), Softmax and ReduceMean on oneDNN.
#include "dnnl/DnnlApi.h"
#include "ops/OpParams.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

void buildBatchNorm(PlanBuilder &b, const Node &n) {
  for (size_t i = 1; i < 5; ++i)
    if (!n.input(i)) throw Error(cat(n.describe(), ": needs scale, B, mean and var inputs"));
  const bool training = n.attrInt("training_mode", 0) != 0;
  dnnl::memory src = b.memoryOf(n.input(0));
  auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  if (!training) flags |= dnnl::normalization_flags::use_global_stats;
  auto pd = dnnlapi::batchNormalizationForward(
      b.engine(), training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, src.get_desc(),
      n.attrFloat("epsilon", 1e-5f), flags);
  dnnl::memory dst = b.newMemory(pd.dst_desc());
  dnnl::memory inMean = b.plainMemoryOf(n.input(3)), inVar = b.plainMemoryOf(n.input(4));
  // Training normalises by the batch's statistics, which oneDNN writes out.
  dnnl::memory mean = training ? b.newMemory(pd.mean_desc()) : inMean;
  dnnl::memory var = training ? b.newMemory(pd.variance_desc()) : inVar;
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src},
                                                {DNNL_ARG_SCALE, b.plainMemoryOf(n.input(1))},
                                                {DNNL_ARG_SHIFT, b.plainMemoryOf(n.input(2))},
                                                {DNNL_ARG_MEAN, mean},
                                                {DNNL_ARG_VARIANCE, var},
                                                {DNNL_ARG_DST, dst}};
  if (training && pd.workspace_desc().get_size() != 0) args[DNNL_ARG_WORKSPACE] = b.newMemory(pd.workspace_desc());
  b.addPrimitive(n, dnnl::batch_normalization_forward(pd), args);
  b.define(n.output(0), dst);
  if (!training || n.outputs().size() < 2) return;
  // running = input * momentum + batch statistic * (1 - momentum), with the population
  // (biased) variance, as ONNX defines the outputs.
  const float momentum = n.attrFloat("momentum", 0.9f);
  const int64_t channels = n.input(1)->dims().at(0);
  auto addRunningUpdate = [&](const Value *output, const dnnl::memory &runningIn, const dnnl::memory &batchStat) {
    if (!output) return;
    dnnl::memory out = b.newMemory(plainDesc({channels}));
    b.define(output, out);
    const float *running = static_cast<const float *>(runningIn.get_data_handle());
    const float *batch = static_cast<const float *>(batchStat.get_data_handle());
    float *o = static_cast<float *>(out.get_data_handle());
    b.addFunction(n, [=] {
      for (int64_t c = 0; c < channels; ++c) o[c] = running[c] * momentum + batch[c] * (1.f - momentum);
    });
  };
  addRunningUpdate(n.output(1), inMean, mean);
  if (n.outputs().size() > 2) addRunningUpdate(n.output(2), inVar, var);
}

void buildSoftmax(PlanBuilder &b, const Node &n) {
  const Dims &xd = n.input(0)->dims();
  const int64_t rank = static_cast<int64_t>(xd.size());
  const bool legacy = b.opset() < 13;  // before 13: softmax over the flattened trailing axes
  int64_t axis = normalizeAxis(n.attrInt("axis", legacy ? 1 : -1), rank, n);
  Dims dims = xd;
  if (legacy) {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= xd[static_cast<size_t>(i)];
    dims = {outer, inner};
    axis = 1;
  }
  dnnl::memory src(plainDesc(dims), b.engine(), b.plainMemoryOf(n.input(0)).get_data_handle());
  auto pd = dnnlapi::softmaxForward(b.engine(), dnnl::prop_kind::forward_inference, src.get_desc(),
                                    static_cast<int>(axis));
  dnnl::memory dst = b.newMemory(plainDesc(dims));
  b.addPrimitive(n, dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  b.define(n.output(0), dnnl::memory(plainDesc(xd), b.engine(), dst.get_data_handle()));
}

void buildReduceMean(PlanBuilder &b, const Node &n) {
  const Dims &xd = n.input(0)->dims();
  std::vector<int64_t> axes = reduceAxes(n, static_cast<int64_t>(xd.size()));
  Dims kept = xd;
  for (size_t i = 0; i < xd.size(); ++i)
    if (axes.empty() || std::count(axes.begin(), axes.end(), static_cast<int64_t>(i))) kept[i] = 1;
  dnnl::memory src = b.plainMemoryOf(n.input(0));
  dnnl::memory dst = b.newMemory(plainDesc(kept));
  if (kept == xd) {  // nothing to reduce: a copy
    b.addReorder(n.name(), src, dst);
  } else {
    auto pd = dnnlapi::reduction(b.engine(), dnnl::algorithm::reduction_mean, src.get_desc(), dst.get_desc(), 0.f, 0.f);
    b.addPrimitive(n, dnnl::reduction(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  }
  b.define(n.output(0), dnnl::memory(plainDesc(n.output(0)->dims()), b.engine(), dst.get_data_handle()));
}

}  // namespace lowbit
