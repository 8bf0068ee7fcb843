// Layers that reduce: MaxPool / AveragePool / GlobalAveragePool (oneDNN pooling), the Reduce*
// family, Softmax and LogSoftmax.
#include <algorithm>
#include <cmath>
#include <map>

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
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    Tensor dx(DType::Float32, v[x_].dims());
    op_.backward(g[y_], dx);
    g.contribute(x_, dx);
  }

 private:
  PoolOp op_;
  size_t x_, y_;
};

// Reduce* over some axes: outOf[k] is the output element input element k belongs to, `count`
// the inputs per output. Gradients: Max/Min's goes to the inputs equal to the result, shared on
// ties; Prod's to each input as the product of the others (zeros included); L1's is sign(x),
// 0 at 0 as PyTorch's abs; L2's x / y, 0 where y is 0.
class ReduceLayer final : public Layer {
 public:
  enum class Op { Mean, Sum, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };
  ReduceLayer(Op op, const Dims &xd, const Dims &kept, size_t x, size_t y)
      : op_(op), outOf_(elementOffsets(xd, broadcastStrides(kept, xd))), x_(x), y_(y) {
    for (size_t i = 0; i < xd.size(); ++i)
      if (kept[i] == 1) count_ *= xd[i];  // a reduced axis (or one of one element)
  }
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>();
    float *y = v[y_].data<float>();
    const size_t outs = static_cast<size_t>(v[y_].numel());
    const bool extremum = op_ == Op::Max || op_ == Op::Min || op_ == Op::LogSumExp;
    std::vector<double> acc(outs, op_ == Op::Prod ? 1.0 : 0.0);
    std::vector<float> m(outs, op_ == Op::Min ? INFINITY : -INFINITY);
    for (size_t k = 0; k < outOf_.size(); ++k) {
      const size_t o = static_cast<size_t>(outOf_[k]);
      const double e = x[k];
      switch (op_) {
        case Op::Max: case Op::LogSumExp: m[o] = std::max(m[o], x[k]); break;
        case Op::Min: m[o] = std::min(m[o], x[k]); break;
        case Op::Prod: acc[o] *= e; break;
        case Op::L1: acc[o] += std::fabs(e); break;
        case Op::L2: case Op::SumSquare: acc[o] += e * e; break;
        default: acc[o] += e;
      }
    }
    if (op_ == Op::LogSumExp)
      for (size_t k = 0; k < outOf_.size(); ++k) {
        const size_t o = static_cast<size_t>(outOf_[k]);
        acc[o] += std::exp(static_cast<double>(x[k]) - m[o]);
      }
    for (size_t o = 0; o < outs; ++o) {
      double r = acc[o];
      if (op_ == Op::Mean) r /= static_cast<double>(count_);
      else if (op_ == Op::L2) r = std::sqrt(r);
      else if (op_ == Op::LogSum) r = std::log(r);
      else if (op_ == Op::LogSumExp) r = m[o] + std::log(r);
      y[o] = extremum && op_ != Op::LogSumExp ? m[o] : static_cast<float>(r);
    }
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const float *x = v[x_].data<float>(), *y = v[y_].data<float>(), *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
    const size_t outs = static_cast<size_t>(v[y_].numel());
    // Max/Min: how many inputs attain the result; Prod: the zeros and the product of the rest.
    std::vector<int64_t> hits(outs, 0);
    std::vector<double> rest(outs, 1.0);
    if (op_ == Op::Max || op_ == Op::Min || op_ == Op::Prod)
      for (size_t k = 0; k < outOf_.size(); ++k) {
        const size_t o = static_cast<size_t>(outOf_[k]);
        if (op_ == Op::Prod) {
          if (x[k] == 0.f) ++hits[o];
          else rest[o] *= x[k];
        } else {
          hits[o] += x[k] == y[o];
        }
      }
    for (size_t k = 0; k < outOf_.size(); ++k) {
      const size_t o = static_cast<size_t>(outOf_[k]);
      const float xk = x[k], yo = y[o];
      float d = 0.f;
      switch (op_) {
        case Op::Mean: d = 1.f / static_cast<float>(count_); break;
        case Op::Sum: d = 1.f; break;
        case Op::Max: case Op::Min: d = xk == yo ? 1.f / static_cast<float>(hits[o]) : 0.f; break;
        case Op::Prod:  // no zero: y / x; one zero: the rest's product reaches it alone; more: 0
          d = hits[o] == 0 ? static_cast<float>(rest[o] / xk) : hits[o] == 1 && xk == 0.f ? static_cast<float>(rest[o]) : 0.f;
          break;
        case Op::L1: d = xk > 0.f ? 1.f : xk < 0.f ? -1.f : 0.f; break;
        case Op::L2: d = yo > 0.f ? xk / yo : 0.f; break;
        case Op::SumSquare: d = 2.f * xk; break;
        case Op::LogSum: d = std::exp(-yo); break;
        case Op::LogSumExp: d = std::exp(xk - yo); break;
      }
      dx[k] += d * dy[o];
    }
  }

 private:
  Op op_;
  std::vector<int64_t> outOf_;
  int64_t count_ = 1;
  size_t x_, y_;
};

// Softmax over the middle axis of an [outer, axis, inner] view: dx = y (dy - sum(dy y)); its
// logarithm (LogSoftmax) y = x - max - log(sum exp(x - max)): dx = dy - exp(y) sum(dy).
class SoftmaxLayer final : public Layer {
 public:
  SoftmaxLayer(int64_t outer, int64_t axis, int64_t inner, size_t x, size_t y, bool log)
      : outer_(outer), axis_(axis), inner_(inner), x_(x), y_(y), log_(log) {}
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
        if (log_) {
          const double logZ = std::log(z);
          for (int64_t a = 0; a < axis_; ++a) y[base + a * inner_] = static_cast<float>(x[base + a * inner_] - m - logZ);
        } else {
          for (int64_t a = 0; a < axis_; ++a) y[base + a * inner_] = static_cast<float>(y[base + a * inner_] / z);
        }
      }
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const float *y = v[y_].data<float>(), *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < inner_; ++i) {
        const int64_t base = o * axis_ * inner_ + i;
        if (log_) {
          double sum = 0;
          for (int64_t a = 0; a < axis_; ++a) sum += dy[base + a * inner_];
          for (int64_t a = 0; a < axis_; ++a)
            dx[base + a * inner_] += dy[base + a * inner_] - static_cast<float>(std::exp(static_cast<double>(y[base + a * inner_])) * sum);
          continue;
        }
        double dot = 0;
        for (int64_t a = 0; a < axis_; ++a) dot += static_cast<double>(dy[base + a * inner_]) * y[base + a * inner_];
        for (int64_t a = 0; a < axis_; ++a)
          dx[base + a * inner_] += y[base + a * inner_] * static_cast<float>(dy[base + a * inner_] - dot);
      }
  }

 private:
  int64_t outer_, axis_, inner_;
  size_t x_, y_;
  bool log_;
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

void buildReduce(NetworkBuilder &b, const Node &n) {
  static const std::map<std::string, ReduceLayer::Op> kOps = {
      {"ReduceMean", ReduceLayer::Op::Mean}, {"ReduceSum", ReduceLayer::Op::Sum},
      {"ReduceMax", ReduceLayer::Op::Max},   {"ReduceMin", ReduceLayer::Op::Min},
      {"ReduceProd", ReduceLayer::Op::Prod}, {"ReduceL1", ReduceLayer::Op::L1},
      {"ReduceL2", ReduceLayer::Op::L2},     {"ReduceSumSquare", ReduceLayer::Op::SumSquare},
      {"ReduceLogSum", ReduceLayer::Op::LogSum}, {"ReduceLogSumExp", ReduceLayer::Op::LogSumExp},
  };
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<ReduceLayer>(kOps.at(n.opType()), xd, reduction(n, xd).kept, xs, ys));
}

void buildSoftmax(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  const int64_t rank = static_cast<int64_t>(xd.size());
  const bool legacy = b.opset() < 13;  // before 13: softmax over the flattened trailing axes
  const int64_t axis = softmaxAxis(n, rank, b.opset());
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
  b.add(std::make_unique<SoftmaxLayer>(outer, mid, inner, xs, ys, n.opType() == "LogSoftmax"));
}

}  // namespace lowbit::train
