// BatchNormalization (inference with global statistics, or training with batch statistics), LRN,
// LayerNormalization, InstanceNormalization, Softmax, LogSoftmax and the Reduce* family on oneDNN.
#include <algorithm>
#include <cmath>
#include <map>

#include "dnnl/DnnlApi.h"
#include "kernels/Normalization.h"
#include "ops/OpParams.h"
#include "runtime/NodeBuilders.h"
#include "support/Strings.h"

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

void buildLrn(PlanBuilder &b, const Node &n) {
  const Dims &xd = n.input(0)->dims();
  if (xd.size() < 3) throw Error(cat(n.describe(), ": input ", shapeString(xd), " has no spatial axes"));
  const LrnParams p = lrnParams(n);
  dnnl::memory src = b.plainMemoryOf(n.input(0));
  dnnl::memory dst = b.newMemory(plainDesc(xd));
  if (p.size % 2 == 1) {  // oneDNN's window is centred: ONNX's for odd sizes
    auto pd = dnnlapi::lrnForward(b.engine(), src.get_desc(), p.size, p.alpha, p.beta, p.bias);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    if (pd.workspace_desc().get_size() != 0) args[DNNL_ARG_WORKSPACE] = b.newMemory(pd.workspace_desc());
    b.addPrimitive(n, dnnl::lrn_forward(pd), args);
  } else {  // ONNX's window reaches one channel further up: the reference kernel
    const int64_t outer = xd[0], channels = xd[1], inner = numElements(Dims(xd.begin() + 2, xd.end()));
    const float *x = static_cast<const float *>(src.get_data_handle());
    float *y = static_cast<float *>(dst.get_data_handle());
    b.addFunction(n, [=] { lrnForward(x, outer, channels, inner, p, y); });
  }
  b.define(n.output(0), dst);
}

void buildRowNormalization(PlanBuilder &b, const Node &n) {
  // LayerNormalization: rows are the elements before `axis`, normalised over the rest, with
  // Scale and B of the rest's shape. InstanceNormalization: rows are (n, c), normalised over
  // the spatial axes, with a scale and bias per channel. Both on oneDNN's layer normalisation
  // of a [rows, len] view (its statistics are per row).
  const RowNormalization r = rowNormalization(n);
  const bool layer = n.opType() == "LayerNormalization";
  dnnl::memory src(plainDesc({r.rows, r.len}), b.engine(), b.plainMemoryOf(n.input(0)).get_data_handle());
  const bool shiftGiven = n.inputs().size() > 2 && n.input(2);
  auto flags = dnnl::normalization_flags::none;
  if (layer) flags |= dnnl::normalization_flags::use_scale;
  if (layer && shiftGiven) flags |= dnnl::normalization_flags::use_shift;
  auto pd = dnnlapi::layerNormalizationForward(b.engine(), dnnl::prop_kind::forward_training, src.get_desc(), r.eps, flags);
  dnnl::memory dst = b.newMemory(pd.dst_desc()), mean = b.newMemory(pd.mean_desc()), var = b.newMemory(pd.variance_desc());
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_MEAN, mean},
                                                {DNNL_ARG_VARIANCE, var}};
  if (layer) args[DNNL_ARG_SCALE] = dnnl::memory(plainDesc({r.len}), b.engine(), b.plainMemoryOf(n.input(1)).get_data_handle());
  if (layer && shiftGiven)
    args[DNNL_ARG_SHIFT] = dnnl::memory(plainDesc({r.len}), b.engine(), b.plainMemoryOf(n.input(2)).get_data_handle());
  if (pd.workspace_desc().get_size() != 0) args[DNNL_ARG_WORKSPACE] = b.newMemory(pd.workspace_desc());
  b.addPrimitive(n, dnnl::layer_normalization_forward(pd), args);
  const Dims &xd = n.input(0)->dims();
  if (layer) {
    b.define(n.output(0), dnnl::memory(plainDesc(xd), b.engine(), dst.get_data_handle()));
    // The statistics as ONNX writes them: Mean and 1 / sqrt(var + eps), X's shape with the
    // normalised axes 1.
    if (n.outputs().size() > 1 && n.output(1))
      b.define(n.output(1), dnnl::memory(plainDesc(n.output(1)->dims()), b.engine(), mean.get_data_handle()));
    if (n.outputs().size() > 2 && n.output(2)) {
      dnnl::memory inv = b.newMemory(plainDesc(n.output(2)->dims()));
      const float *v = static_cast<const float *>(var.get_data_handle());
      float *o = static_cast<float *>(inv.get_data_handle());
      const int64_t rows = r.rows;
      const float eps = r.eps;
      b.addFunction(n, [=] {
        for (int64_t i = 0; i < rows; ++i) o[i] = 1.f / std::sqrt(v[i] + eps);
      });
      b.define(n.output(2), inv);
    }
    return;
  }
  // InstanceNormalization: y = xhat * scale[c] + B[c] over [N, C, spatial].
  const int64_t channels = xd[1];
  const Dims view = {xd[0], channels, r.len}, perChannel = {1, channels, 1};
  dnnl::memory xhat(plainDesc(view), b.engine(), dst.get_data_handle());
  dnnl::memory scale(plainDesc(perChannel), b.engine(), b.plainMemoryOf(n.input(1)).get_data_handle());
  dnnl::memory bias(plainDesc(perChannel), b.engine(), b.plainMemoryOf(n.input(2)).get_data_handle());
  dnnl::memory scaled = b.newMemory(plainDesc(view)), out = b.newMemory(plainDesc(view));
  auto mul = dnnlapi::binary(b.engine(), dnnl::algorithm::binary_mul, xhat.get_desc(), scale.get_desc(), scaled.get_desc());
  b.addPrimitive(n, dnnl::binary(mul), {{DNNL_ARG_SRC_0, xhat}, {DNNL_ARG_SRC_1, scale}, {DNNL_ARG_DST, scaled}});
  auto add = dnnlapi::binary(b.engine(), dnnl::algorithm::binary_add, scaled.get_desc(), bias.get_desc(), out.get_desc());
  b.addPrimitive(n, dnnl::binary(add), {{DNNL_ARG_SRC_0, scaled}, {DNNL_ARG_SRC_1, bias}, {DNNL_ARG_DST, out}});
  b.define(n.output(0), dnnl::memory(plainDesc(xd), b.engine(), out.get_data_handle()));
}

void buildSoftmax(PlanBuilder &b, const Node &n) {
  const Dims &xd = n.input(0)->dims();
  const int64_t rank = static_cast<int64_t>(xd.size());
  const bool legacy = b.opset() < 13;  // before 13: softmax over the flattened trailing axes
  int64_t axis = softmaxAxis(n, rank, b.opset());
  Dims dims = xd;
  if (legacy) {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= xd[static_cast<size_t>(i)];
    dims = {outer, inner};
    axis = 1;
  }
  dnnl::memory src(plainDesc(dims), b.engine(), b.plainMemoryOf(n.input(0)).get_data_handle());
  dnnl::memory dst = b.newMemory(plainDesc(dims));
  const auto inference = dnnl::prop_kind::forward_inference;
  if (n.opType() == "LogSoftmax")
    b.addPrimitive(n, dnnl::logsoftmax_forward(dnnlapi::logSoftmaxForward(b.engine(), inference, src.get_desc(), static_cast<int>(axis))),
                   {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  else
    b.addPrimitive(n, dnnl::softmax_forward(dnnlapi::softmaxForward(b.engine(), inference, src.get_desc(), static_cast<int>(axis))),
                   {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  b.define(n.output(0), dnnl::memory(plainDesc(xd), b.engine(), dst.get_data_handle()));
}

namespace {

// x -> f(x) elementwise into a new plain memory of \p dims (a reduction over axes of size 1).
dnnl::memory eltwise(PlanBuilder &b, const Node &n, const dnnl::memory &src, const Dims &dims, dnnl::algorithm alg) {
  dnnl::memory dst = b.newMemory(plainDesc(dims));
  auto pd = dnnlapi::eltwiseForward(b.engine(), dnnl::prop_kind::forward_inference, alg, src.get_desc(), 0.f, 0.f);
  b.addPrimitive(n, dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  return dst;
}

dnnl::memory reduce(PlanBuilder &b, const Node &n, dnnl::algorithm alg, const dnnl::memory &src, const Dims &kept,
                    float p = 0.f, const dnnl::primitive_attr &attr = dnnl::primitive_attr()) {
  dnnl::memory dst = b.newMemory(plainDesc(kept));
  auto pd = dnnlapi::reduction(b.engine(), alg, src.get_desc(), dst.get_desc(), p, 0.f, attr);
  b.addPrimitive(n, dnnl::reduction(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  return dst;
}

// Whether \p r reduces exactly the spatial axes of a non-empty [N, C, spatial...] tensor.
bool reducesSpatialAxes(const Reduction &r, const Dims &xd) {
  if (xd.size() < 3 || xd.size() > 5 || numElements(xd) == 0 || r.axes[0] || r.axes[1]) return false;
  return std::all_of(r.axes.begin() + 2, r.axes.end(), [](bool a) { return a; });
}

// A mean or max over the spatial axes (x.mean([2, 3]) closing a network) as global pooling:
// oneDNN's pooling reads the producer's blocked layout, where its reduction wants a plain
// input and crawls over short innermost axes (6 ms against 0.03 for 64x1024x4x4 on AVX-512).
void reduceByPooling(PlanBuilder &b, const Node &n, bool max) {
  const Dims &xd = n.input(0)->dims();
  const Dims spatial(xd.begin() + 2, xd.end()), ones(spatial.size(), 1), zeros(spatial.size(), 0);
  Dims pooled = xd;
  std::fill(pooled.begin() + 2, pooled.end(), 1);
  const dnnl::memory src = b.memoryOf(n.input(0));
  auto pd = dnnlapi::poolingForward(
      b.engine(), dnnl::prop_kind::forward_inference,
      max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding, src.get_desc(),
      dnnl::memory::desc(pooled, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any), ones, spatial, zeros,
      zeros, zeros);
  dnnl::memory dst = b.newMemory(pd.dst_desc());
  b.addPrimitive(n, dnnlapi::PoolingForward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  if (n.output(0)->dims() == pooled) return b.define(n.output(0), dst);
  // keepdims = 0: the [N, C] result is a view of the plain pooled tensor.
  if (!isPlain(dst.get_desc())) {
    dnnl::memory plain = b.newMemory(plainDesc(pooled));
    b.addReorder(n.name(), dst, plain);
    dst = plain;
  }
  b.define(n.output(0), dnnl::memory(plainDesc(n.output(0)->dims()), b.engine(), dst.get_data_handle()));
}

}  // namespace

void buildReduce(PlanBuilder &b, const Node &n) {
  using alg = dnnl::algorithm;
  const std::string op = n.opType().substr(6);  // Mean, Sum, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp
  const Dims &xd = n.input(0)->dims();  // float32: other types run on the evaluator (runsOnEvaluator)
  const Reduction r = reduction(n, xd);
  if ((op == "Mean" || op == "Max") && reducesSpatialAxes(r, xd)) return reduceByPooling(b, n, op == "Max");
  const Dims &kept = r.kept;
  const dnnl::memory src = b.plainMemoryOf(n.input(0));
  dnnl::memory dst;
  if (kept == xd) {
    // Every reduced axis has one element (oneDNN wants one to reduce): what remains of f is
    // elementwise. No axis reduced at all (noop_with_empty_axes) is the input itself.
    if (!r.none && (op == "L1" || op == "L2")) dst = eltwise(b, n, src, xd, alg::eltwise_abs);
    else if (!r.none && op == "SumSquare") dst = eltwise(b, n, src, xd, alg::eltwise_square);
    else if (!r.none && op == "LogSum") dst = eltwise(b, n, src, xd, alg::eltwise_log);
    else {
      dst = b.newMemory(plainDesc(xd));
      b.addReorder(n.name(), src, dst);
    }
  } else if (op == "LogSumExp") {
    // max + log(sum(exp(x - max))): large inputs do not overflow.
    const dnnl::memory m = reduce(b, n, alg::reduction_max, src, kept);
    dnnl::memory shifted = b.newMemory(plainDesc(xd));
    auto sub = dnnlapi::binary(b.engine(), alg::binary_sub, src.get_desc(), m.get_desc(), shifted.get_desc(),
                               dnnlapi::eltwiseAttr(alg::eltwise_exp));
    b.addPrimitive(n, dnnl::binary(sub), {{DNNL_ARG_SRC_0, src}, {DNNL_ARG_SRC_1, m}, {DNNL_ARG_DST, shifted}});
    const dnnl::memory s = reduce(b, n, alg::reduction_sum, shifted, kept, 0.f, dnnlapi::eltwiseAttr(alg::eltwise_log));
    dst = b.newMemory(plainDesc(kept));
    auto add = dnnlapi::binary(b.engine(), alg::binary_add, s.get_desc(), m.get_desc(), dst.get_desc());
    b.addPrimitive(n, dnnl::binary(add), {{DNNL_ARG_SRC_0, s}, {DNNL_ARG_SRC_1, m}, {DNNL_ARG_DST, dst}});
  } else if (op == "LogSum") {
    dst = reduce(b, n, alg::reduction_sum, src, kept, 0.f, dnnlapi::eltwiseAttr(alg::eltwise_log));
  } else {
    static const std::map<std::string, std::pair<alg, float>> kAlgorithms = {
        {"Mean", {alg::reduction_mean, 0.f}},
        {"Sum", {alg::reduction_sum, 0.f}},
        {"Max", {alg::reduction_max, 0.f}},
        {"Min", {alg::reduction_min, 0.f}},
        {"Prod", {alg::reduction_mul, 0.f}},
        {"L1", {alg::reduction_norm_lp_sum, 1.f}},
        {"L2", {alg::reduction_norm_lp_sum, 2.f}},
        {"SumSquare", {alg::reduction_norm_lp_power_p_sum, 2.f}},
    };
    const auto &[a, p] = kAlgorithms.at(op);
    dst = reduce(b, n, a, src, kept, p);
  }
  b.define(n.output(0), dnnl::memory(plainDesc(n.output(0)->dims()), b.engine(), dst.get_data_handle()));
}

}  // namespace lowbit
