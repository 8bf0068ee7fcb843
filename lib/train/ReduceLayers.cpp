// Layers that reduce: MaxPool / AveragePool / GlobalAveragePool (oneDNN pooling), ReduceMean
// and Softmax.
#include <algorithm>
#include <cmath>

#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "support/Strings.h"
#include "train/Layer.h"
#include "train/PoolOp.h"

namespace lowbit::train {
namespace {

class PoolLayer final : public Layer {
 public:
  PoolLayer(Device &dev, PoolOp::Kind kind, const Dims &xd, const Dims &yd, const WindowGeometry &geo, size_t x,
            size_t y)
      : op_(dev, kind, xd, yd, geo.kernel, geo.strides, geo.padsBegin, geo.padsEnd), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override { op_.forward(v[x_], v[y_]); }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims());
    op_.backward(g[y_], dx);
    accumulate(g[x_], dx);
  }

 private:
  PoolOp op_;
  size_t x_, y_;
};

// The mean over some axes: each output element averages `count` inputs, and its gradient is
// spread evenly back over them. outOf[i]: the output element input element i belongs to.
class ReduceMeanLayer final : public Layer {
 public:
  ReduceMeanLayer(const Dims &xd, const std::vector<bool> &reduced, size_t x, size_t y) : x_(x), y_(y) {
    Dims kept = xd;
    for (size_t i = 0; i < xd.size(); ++i)
      if (reduced[i]) {
        count_ *= xd[i];
        kept[i] = 1;
      }
    outOf_ = elementOffsets(xd, broadcastStrides(kept, xd));
  }
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>();
    float *y = v[y_].data<float>();
    std::vector<double> sum(static_cast<size_t>(v[y_].numel()), 0.0);
    for (size_t k = 0; k < outOf_.size(); ++k) sum[static_cast<size_t>(outOf_[k])] += x[k];
    for (size_t o = 0; o < sum.size(); ++o) y[o] = static_cast<float>(sum[o] / static_cast<double>(count_));
  }
  void backward(std::vector<Tensor> &, std::vector<Tensor> &g) override {
    const float *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
    const float inv = 1.f / static_cast<float>(count_);
    const int64_t n = static_cast<int64_t>(outOf_.size());
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < n; ++k) dx[k] += dy[outOf_[static_cast<size_t>(k)]] * inv;
  }

 private:
  std::vector<int64_t> outOf_;
  int64_t count_ = 1;
  size_t x_, y_;
};

// Softmax over the middle axis of an [outer, axis, inner] view: dx = y (dy - sum(dy y)).
class SoftmaxLayer final : public Layer {
 public:
  SoftmaxLayer(int64_t outer, int64_t axis, int64_t inner, size_t x, size_t y)
      : outer_(outer), axis_(axis), inner_(inner), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>();
    float *y = v[y_].data<float>();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < inner_; ++i) {
        const int64_t base = o * axis_ * inner_ + i;
        float m = -INFINITY;
        for (int64_t a = 0; a < axis_; ++a) m = std::max(m, x[base + a * inner_]);
        double z = 0;
        for (int64_t a = 0; a < axis_; ++a) z += y[base + a * inner_] = std::exp(x[base + a * inner_] - m);
        for (int64_t a = 0; a < axis_; ++a) y[base + a * inner_] = static_cast<float>(y[base + a * inner_] / z);
      }
  }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    const float *y = v[y_].data<float>(), *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < inner_; ++i) {
        const int64_t base = o * axis_ * inner_ + i;
        double dot = 0;
        for (int64_t a = 0; a < axis_; ++a) dot += static_cast<double>(dy[base + a * inner_]) * y[base + a * inner_];
        for (int64_t a = 0; a < axis_; ++a)
          dx[base + a * inner_] += y[base + a * inner_] * static_cast<float>(dy[base + a * inner_] - dot);
      }
  }

 private:
  int64_t outer_, axis_, inner_;
  size_t x_, y_;
};

}  // namespace

void buildPool(NetworkBuilder &b, const Node &n) {
  const std::string &op = n.opType();
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  if (xd.size() != 4)
    throw Error(cat(n.describe(), ": the training engine pools 2-D planes (input ", shapeString(xd), ")"));
  const Dims spatial(xd.begin() + 2, xd.end());
  WindowGeometry geo;
  PoolOp::Kind kind = PoolOp::Kind::Max;
  if (op == "GlobalAveragePool") {
    geo.kernel = spatial;
    geo.strides = Dims(spatial.size(), 1);
    geo.padsBegin = geo.padsEnd = Dims(spatial.size(), 0);
    kind = PoolOp::Kind::AverageExcludePad;
  } else {
    if (n.outputs().size() > 1 && n.output(1)) throw Error(cat(n.describe(), ": MaxPool indices cannot be trained"));
    geo = windowGeometry(n, spatial, n.attrInts("kernel_shape"), n.attrInt("ceil_mode", 0) != 0);
    for (int64_t d : geo.dilations)
      if (d != 1) throw Error(cat(n.describe(), ": dilated pooling cannot be trained"));
    if (op == "AveragePool")
      kind = n.attrInt("count_include_pad", 0) ? PoolOp::Kind::AverageIncludePad : PoolOp::Kind::AverageExcludePad;
  }
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<PoolLayer>(b.device(), kind, xd, b.dims(ys), geo, xs, ys));
}

void buildReduceMean(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  const std::vector<int64_t> axes = reduceAxes(n, static_cast<int64_t>(xd.size()));
  std::vector<bool> reduced(xd.size(), axes.empty());
  for (int64_t a : axes) reduced[static_cast<size_t>(a)] = true;
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<ReduceMeanLayer>(xd, reduced, xs, ys));
}

void buildSoftmax(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  const int64_t rank = static_cast<int64_t>(xd.size());
  const bool legacy = b.opset() < 13;  // before 13: softmax over the flattened trailing axes
  const int64_t axis = normalizeAxis(n.attrInt("axis", legacy ? 1 : -1), rank, n);
  int64_t outer = 1, mid = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t d = xd[static_cast<size_t>(i)];
    if (i < axis)
      outer *= d;
    else if (i == axis || legacy)
      mid *= d;
    else
      inner *= d;
  }
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<SoftmaxLayer>(outer, mid, inner, xs, ys));
}

}  // namespace lowbit::train
