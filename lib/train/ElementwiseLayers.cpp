// Elementwise layers: Relu and Clip (oneDNN eltwise), the one-input ops of UnaryMath,
// broadcasting Add / Sub / Mul / Div (squeeze-excite gates, h-swish written out), PRelu, Sum /
// Mean / Max / Min of any number of inputs, and
// BatchNormalization with inference statistics (a per-channel affine whose scale and bias train).
#include <cmath>

#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "ops/UnaryMath.h"
#include "support/Strings.h"
#include "train/ActivationOp.h"
#include "train/Layer.h"

namespace lowbit::train {
namespace {

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(Device &dev, const Dims &d, float lo, float hi, size_t x, size_t y)
      : op_(dev, d, lo, hi), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override { op_.forward(v[x_], v[y_]); }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    bool add = false;
    Tensor &dy = g[y_], &dx = g.claim(x_, add);
    if (!add) return op_.backward(v[x_], dy, dx);
    op_.backward(v[x_], dy, scratch(dx_, dx.dims()));
    accumulate(dx, dx_);
  }

 private:
  ActivationOp op_;
  size_t x_, y_;
  Tensor dx_;  // dL/dx before it is added in, when another reader wrote it first
};

// y = f(x), dx += f'(x) dy for the ops of UnaryMath (gates, smooth activations, Exp/Log/...).
class UnaryLayer final : public Layer {
 public:
  UnaryLayer(const UnaryMath &math, const UnaryParams &p, size_t x, size_t y) : math_(math), p_(p), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>();
    float *y = v[y_].data<float>();
    const int64_t n = v[x_].numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = math_.value(x[i], p_);
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const float *x = v[x_].data<float>(), *y = v[y_].data<float>(), *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
    const int64_t n = v[x_].numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) dx[i] += math_.slope(x[i], y[i], p_) * dy[i];
  }

 private:
  const UnaryMath &math_;
  UnaryParams p_;
  size_t x_, y_;
};

// Element offsets of the rows (last dim) of a broadcast: for each row of the output, the row's
// start in each operand, and the operands' steps along the last dim (0 when broadcast).
struct BroadcastRows {
  std::vector<std::vector<int64_t>> starts;  // per operand, per output row
  std::vector<int64_t> steps;                // per operand
  int64_t len = 1;

  BroadcastRows(const Dims &out, const std::vector<Dims> &operands) {
    Dims rows = out;
    if (!rows.empty()) {
      len = rows.back();
      rows.pop_back();
    }
    for (const Dims &d : operands) {
      std::vector<int64_t> st = broadcastStrides(d, out);
      steps.push_back(st.empty() ? 1 : st.back());
      if (!st.empty()) st.pop_back();
      starts.push_back(elementOffsets(rows, st));
    }
  }
  int64_t rows() const { return static_cast<int64_t>(starts.at(0).size()); }
  /// Operand \p i's element at output row \p r, column \p j.
  int64_t at(size_t i, int64_t r, int64_t j) const { return starts[i][static_cast<size_t>(r)] + j * steps[i]; }
};

// y = a op b with numpy broadcasting; each operand's gradient is summed over the elements it was
// broadcast to. Constant operands (a scale, h-swish's 3 and 6) get no gradient.
class BinaryLayer final : public Layer {
 public:
  enum class Op { Add, Sub, Mul, Div, PRelu };
  BinaryLayer(Op op, const Dims &ad, const Dims &bd, const Dims &yd, bool aConst, bool bConst, size_t a, size_t b,
              size_t y)
      : op_(op), rows_(yd, {ad, bd}), aConst_(aConst), bConst_(bConst), a_(a), b_(b), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    const float *a = v[a_].data<float>(), *b = v[b_].data<float>();
    float *y = v[y_].data<float>();
    const int64_t rows = rows_.rows(), len = rows_.len;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float *yr = y + r * len;
      for (int64_t j = 0; j < len; ++j) yr[j] = apply(a[rows_.at(0, r, j)], b[rows_.at(1, r, j)]);
    }
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const float *a = v[a_].data<float>(), *b = v[b_].data<float>(), *dy = g[y_].data<float>();
    float *da = g[a_].data<float>(), *db = g[b_].data<float>();
    const int64_t rows = rows_.rows(), len = rows_.len;
    // Sequential: a broadcast operand's gradient element collects from many output elements.
    for (int64_t r = 0; r < rows; ++r) {
      const float *dyr = dy + r * len;
      for (int64_t j = 0; j < len; ++j) {
        const int64_t ia = rows_.at(0, r, j), ib = rows_.at(1, r, j);
        const float x = a[ia], w = b[ib], d = dyr[j];
        switch (op_) {
          case Op::Add:
            if (!aConst_) da[ia] += d;
            if (!bConst_) db[ib] += d;
            break;
          case Op::Sub:
            if (!aConst_) da[ia] += d;
            if (!bConst_) db[ib] -= d;
            break;
          case Op::Mul:
            if (!aConst_) da[ia] += d * w;
            if (!bConst_) db[ib] += d * x;
            break;
          case Op::Div:
            if (!aConst_) da[ia] += d / w;
            if (!bConst_) db[ib] -= d * x / (w * w);
            break;
          case Op::PRelu:  // at x = 0 the slope of the negative side, as PyTorch takes it
            if (!aConst_) da[ia] += x > 0 ? d : d * w;
            if (!bConst_ && x < 0) db[ib] += d * x;
            break;
        }
      }
    }
  }

 private:
  float apply(float x, float w) const {
    switch (op_) {
      case Op::Add: return x + w;
      case Op::Sub: return x - w;
      case Op::Mul: return x * w;
      case Op::Div: return x / w;
      case Op::PRelu: return x < 0 ? x * w : x;
    }
    return 0.f;
  }
  Op op_;
  BroadcastRows rows_;
  bool aConst_, bConst_;
  size_t a_, b_, y_;
};

// y = Sum / Mean / Max / Min of K operands with numpy broadcasting. Sum's gradient reaches
// every operand (Mean's divided by K); Max's and Min's reaches the operands equal to y, shared
// equally among them on ties (as PyTorch's maximum shares it between two). Constant operands
// get no gradient.
class VariadicLayer final : public Layer {
 public:
  enum class Op { Sum, Mean, Max, Min };
  VariadicLayer(Op op, const std::vector<Dims> &dims, const Dims &yd, std::vector<bool> isConst,
                std::vector<size_t> xs, size_t y)
      : op_(op), rows_(yd, dims), isConst_(std::move(isConst)), xs_(std::move(xs)), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    std::vector<const float *> x;
    for (size_t s : xs_) x.push_back(v[s].data<float>());
    float *y = v[y_].data<float>();
    const int64_t rows = rows_.rows(), len = rows_.len, k = static_cast<int64_t>(x.size());
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < len; ++j) {
        float acc = at(x, 0, r, j);
        for (int64_t i = 1; i < k; ++i) {
          const float e = at(x, static_cast<size_t>(i), r, j);
          acc = op_ == Op::Max ? std::max(acc, e) : op_ == Op::Min ? std::min(acc, e) : acc + e;
        }
        y[r * len + j] = op_ == Op::Mean ? acc / static_cast<float>(k) : acc;
      }
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    std::vector<const float *> x;
    std::vector<float *> dx;
    for (size_t i = 0; i < xs_.size(); ++i) {
      x.push_back(v[xs_[i]].data<float>());
      dx.push_back(isConst_[i] ? nullptr : g[xs_[i]].data<float>());
    }
    const float *y = v[y_].data<float>(), *dy = g[y_].data<float>();
    const int64_t rows = rows_.rows(), len = rows_.len;
    const size_t k = x.size();
    // Sequential: a broadcast operand's gradient element collects from many output elements.
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < len; ++j) {
        const float yv = y[r * len + j];
        float d = dy[r * len + j];
        if (op_ == Op::Mean) d /= static_cast<float>(k);
        if (op_ == Op::Max || op_ == Op::Min) {
          int ties = 0;
          for (size_t i = 0; i < k; ++i) ties += at(x, i, r, j) == yv;
          d /= static_cast<float>(ties);
        }
        for (size_t i = 0; i < k; ++i)
          if (dx[i] && (op_ == Op::Sum || op_ == Op::Mean || at(x, i, r, j) == yv))
            dx[i][rows_.at(i, r, j)] += d;
      }
  }

 private:
  float at(const std::vector<const float *> &x, size_t i, int64_t r, int64_t j) const { return x[i][rows_.at(i, r, j)]; }
  Op op_;
  BroadcastRows rows_;
  std::vector<bool> isConst_;
  std::vector<size_t> xs_;
  size_t y_;
};

// Same-dims Add (the residual sum): no broadcast bookkeeping on the ResNets' hot path.
class AddLayer final : public Layer {
 public:
  AddLayer(size_t a, size_t b, size_t y) : a_(a), b_(b), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    const float *a = v[a_].data<float>(), *b = v[b_].data<float>();
    float *y = v[y_].data<float>();
    const int64_t n = v[y_].numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
  }
  void backward(std::vector<Tensor> &, Gradients &g) override {
    const Tensor &dy = g[y_];
    g.contribute(a_, dy);
    g.contribute(b_, dy);
  }

 private:
  size_t a_, b_, y_;
};

// y = scale[c] (x - mean[c]) / sqrt(var[c] + eps) + B[c] over [N, C, ...]; scale and B train,
// the statistics stay as calibrated by the float model.
class BatchNormLayer final : public Layer {
 public:
  BatchNormLayer(Param *scale, Param *bias, std::vector<float> mean, std::vector<float> var, float eps, const Dims &xd,
                 size_t x, size_t y)
      : scale_(scale), bias_(bias), mean_(std::move(mean)), invStd_(var.size()), x_(x), y_(y) {
    for (size_t c = 0; c < var.size(); ++c) invStd_[c] = 1.f / std::sqrt(var[c] + eps);
    channels_ = xd[1];
    inner_ = numElements(Dims(xd.begin() + 2, xd.end()));
    outer_ = xd[0];
  }
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>(), *s = scale_->value.data<float>(), *b = bias_->value.data<float>();
    float *y = v[y_].data<float>();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t c = 0; c < channels_; ++c) {
        const size_t cc = static_cast<size_t>(c);
        const float a = s[c] * invStd_[cc], shift = b[c] - mean_[cc] * a;
        const int64_t at = (o * channels_ + c) * inner_;
        for (int64_t i = 0; i < inner_; ++i) y[at + i] = a * x[at + i] + shift;
      }
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const float *x = v[x_].data<float>(), *dy = g[y_].data<float>(), *s = scale_->value.data<float>();
    float *dx = g[x_].data<float>(), *ds = scale_->grad.data<float>(), *db = bias_->grad.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < channels_; ++c) {
      const size_t cc = static_cast<size_t>(c);
      const float a = s[c] * invStd_[cc];
      double sumDy = 0, sumDyHat = 0;
      for (int64_t o = 0; o < outer_; ++o) {
        const int64_t at = (o * channels_ + c) * inner_;
        for (int64_t i = 0; i < inner_; ++i) {
          const float d = dy[at + i];
          dx[at + i] += a * d;
          sumDy += d;
          sumDyHat += static_cast<double>(d) * (x[at + i] - mean_[cc]) * invStd_[cc];
        }
      }
      ds[c] += static_cast<float>(sumDyHat);
      db[c] += static_cast<float>(sumDy);
    }
  }

 private:
  Param *scale_, *bias_;
  std::vector<float> mean_, invStd_;
  int64_t outer_ = 1, channels_ = 1, inner_ = 1;
  size_t x_, y_;
};

// Where(condition, X, Y) with numpy broadcasting, the condition a constant mask: each output
// element's gradient goes to the operand it was taken from.
class WhereLayer final : public Layer {
 public:
  WhereLayer(std::vector<uint8_t> mask, const Dims &cd, const Dims &xd, const Dims &yd, const Dims &od, bool xConst,
             bool yConst, size_t x, size_t y, size_t out)
      : mask_(std::move(mask)), rows_(od, {cd, xd, yd}), xConst_(xConst), yConst_(yConst), x_(x), y_(y), out_(out) {}
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>(), *y = v[y_].data<float>();
    float *o = v[out_].data<float>();
    const int64_t rows = rows_.rows(), len = rows_.len;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < len; ++j)
        o[r * len + j] = mask_[static_cast<size_t>(rows_.at(0, r, j))] ? x[rows_.at(1, r, j)] : y[rows_.at(2, r, j)];
  }
  void backward(std::vector<Tensor> &, Gradients &g) override {
    const float *d = g[out_].data<float>();
    float *dx = g[x_].data<float>(), *dy = g[y_].data<float>();
    const int64_t rows = rows_.rows(), len = rows_.len;
    for (int64_t r = 0; r < rows; ++r)  // sequential: a broadcast operand collects from many outputs
      for (int64_t j = 0; j < len; ++j) {
        if (mask_[static_cast<size_t>(rows_.at(0, r, j))]) {
          if (!xConst_) dx[rows_.at(1, r, j)] += d[r * len + j];
        } else if (!yConst_) {
          dy[rows_.at(2, r, j)] += d[r * len + j];
        }
      }
  }

 private:
  std::vector<uint8_t> mask_;
  BroadcastRows rows_;
  bool xConst_, yConst_;
  size_t x_, y_, out_;
};

}  // namespace

void buildActivation(NetworkBuilder &b, const Node &n) {
  float lo = 0.f, hi = INFINITY;
  if (n.opType() == "Clip") {
    if (!hasConstantClipBounds(n)) throw Error(cat(n.describe(), ": the training engine takes constant Clip bounds"));
    std::tie(lo, hi) = clipBounds(n, b.opset());
  }
  const size_t xs = b.input(n, n.input(0)), ys = b.output(n, n.output(0));
  b.add(std::make_unique<ActivationLayer>(b.device(), b.dims(xs), lo, hi, xs, ys));
}

void buildUnary(NetworkBuilder &b, const Node &n) {
  const UnaryMath *math = findUnaryMath(n.opType());
  if (!math) throw Error(cat(n.describe(), ": not an elementwise one-input op"));
  const size_t xs = b.input(n, n.input(0)), ys = b.output(n, n.output(0));
  b.add(std::make_unique<UnaryLayer>(*math, math->params(n), xs, ys));
}

void buildBinary(NetworkBuilder &b, const Node &n) {
  const std::string &op = n.opType();
  const Value *x = n.input(0), *w = n.input(1);
  const size_t as = b.input(n, x), bs = b.input(n, w), ys = b.output(n, n.output(0));
  const Dims ad = b.dims(as), bd = b.dims(bs), yd = b.dims(ys);
  if (op == "Add" && ad == bd && !x->isConstant() && !w->isConstant()) {
    b.add(std::make_unique<AddLayer>(as, bs, ys));
    return;
  }
  const BinaryLayer::Op kind = op == "Add"   ? BinaryLayer::Op::Add
                               : op == "Sub" ? BinaryLayer::Op::Sub
                               : op == "Mul" ? BinaryLayer::Op::Mul
                               : op == "Div" ? BinaryLayer::Op::Div
                                             : BinaryLayer::Op::PRelu;
  b.add(std::make_unique<BinaryLayer>(kind, ad, bd, yd, x->isConstant(), w->isConstant(), as, bs, ys));
}

void buildVariadic(NetworkBuilder &b, const Node &n) {
  const std::string &op = n.opType();
  const VariadicLayer::Op kind = op == "Sum"    ? VariadicLayer::Op::Sum
                                 : op == "Mean" ? VariadicLayer::Op::Mean
                                 : op == "Max"  ? VariadicLayer::Op::Max
                                                : VariadicLayer::Op::Min;
  std::vector<Dims> dims;
  std::vector<bool> isConst;
  std::vector<size_t> xs;
  for (const Value *x : n.inputs()) {
    xs.push_back(b.input(n, x));
    dims.push_back(b.dims(xs.back()));
    isConst.push_back(x->isConstant());
  }
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<VariadicLayer>(kind, dims, b.dims(ys), std::move(isConst), std::move(xs), ys));
}

void buildBatchNorm(NetworkBuilder &b, const Node &n) {
  if (n.attrInt("training_mode", 0) || (n.outputs().size() > 1 && n.output(1)))
    throw Error(cat(n.describe(), ": the training engine takes BatchNormalization with inference statistics"));
  for (size_t i = 1; i <= 4; ++i)
    if (!n.input(i) || !n.input(i)->isConstant())
      throw Error(cat(n.describe(), ": scale, bias, mean and variance must be constants to train"));
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  if (xd.size() < 2) throw Error(cat(n.describe(), ": input ", shapeString(xd), " has no channel axis"));
  for (size_t i = 1; i <= 4; ++i)
    if (n.input(i)->constant()->numel() != xd[1])
      throw Error(cat(n.describe(), ": input ", i, " has ", n.input(i)->constant()->numel(), " values for ", xd[1],
                      " channels"));
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<BatchNormLayer>(b.param(n.input(1), Param::Kind::Bias), b.param(n.input(2), Param::Kind::Bias),
                                         n.input(3)->constant()->toFloats(), n.input(4)->constant()->toFloats(),
                                         n.attrFloat("epsilon", 1e-5f), xd, xs, ys));
}

void buildWhere(NetworkBuilder &b, const Node &n) {
  const Value *c = n.input(0);
  if (!c || !c->isConstant())
    throw Error(cat(n.describe(), ": the training engine takes Where with a constant condition (a mask computed from "
                                  "activations has no gradient it could pass on)"));
  std::vector<uint8_t> mask;
  for (float f : c->constant()->toFloats()) mask.push_back(f != 0.f);
  const size_t xs = b.input(n, n.input(1)), ys = b.input(n, n.input(2)), os = b.output(n, n.output(0));
  b.add(std::make_unique<WhereLayer>(std::move(mask), c->dims(), b.dims(xs), b.dims(ys), b.dims(os),
                                     n.input(1)->isConstant(), n.input(2)->isConstant(), xs, ys, os));
}

}  // namespace lowbit::train
