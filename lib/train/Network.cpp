#include "train/Network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "support/Strings.h"
#include "train/ActivationOp.h"
#include "train/Conv2dOp.h"
#include "train/FakeQuantOp.h"
#include "train/LinearOp.h"
#include "train/PoolOp.h"

namespace lowbit::train {

// One op of the network: reads and writes activation slots; backward accumulates into the
// gradients of its input slots and parameters.
class Layer {
 public:
  virtual ~Layer() = default;
  virtual void forward(std::vector<Tensor> &v) = 0;
  virtual void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) = 0;
};

namespace {

// Weights (and their fake quantization) shared by the Conv and Gemm layers.
struct QuantizedWeight {
  Param *weight = nullptr, *step = nullptr;
  std::unique_ptr<FakeQuantOp> fq;
  std::vector<int32_t> groupOf;  // group-wise: channels of a group share (and train) one step
  Tensor quantized;              // forward's fake-quantized copy

  const Tensor &forward() {
    if (!fq) return weight->value;
    fq->forward(weight->value, step->value, quantized);
    return quantized;
  }
  /// The steps of a group start equal; giving them the group's summed gradient keeps them so.
  void tieGroups(Tensor &ds) const {
    std::map<int32_t, double> sum;
    float *d = ds.data<float>();
    for (size_t c = 0; c < groupOf.size(); ++c) sum[groupOf[c]] += d[c];
    for (size_t c = 0; c < groupOf.size(); ++c) d[c] = static_cast<float>(sum[groupOf[c]]);
  }
  /// \p dw: gradient with respect to the weights as used in forward.
  void backward(const Tensor &dw) {
    if (!fq) return accumulate(weight->grad, dw);
    Tensor dx(DType::Float32, weight->value.dims()), ds(DType::Float32, step->value.dims());
    fq->backward(weight->value, step->value, dw, &dx, &ds);
    if (!groupOf.empty()) tieGroups(ds);
    accumulate(weight->grad, dx);
    accumulate(step->grad, ds);
  }
};

// Conv and Gemm: an op with weights (maybe fake-quantized) and an optional bias.
template <typename Op>
class WeightedLayer final : public Layer {
 public:
  WeightedLayer(std::unique_ptr<Op> op, QuantizedWeight w, Param *bias, size_t x, size_t y)
      : op_(std::move(op)), w_(std::move(w)), bias_(bias), x_(x), y_(y) {
    if (w_.fq) w_.quantized = Tensor(DType::Float32, w_.weight->value.dims());
  }
  void forward(std::vector<Tensor> &v) override {
    op_->forward(v[x_], w_.forward(), bias_ ? &bias_->value : nullptr, v[y_]);
  }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims()), dw(DType::Float32, w_.weight->value.dims());
    Tensor db(DType::Float32, bias_ ? bias_->value.dims() : Dims{1});
    op_->backward(v[x_], w_.fq ? w_.quantized : w_.weight->value, g[y_], &dx, &dw, bias_ ? &db : nullptr);
    accumulate(g[x_], dx);
    w_.backward(dw);
    if (bias_) accumulate(bias_->grad, db);
  }

 private:
  std::unique_ptr<Op> op_;
  QuantizedWeight w_;
  Param *bias_;
  size_t x_, y_;
};

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(Device &dev, const Dims &d, float lo, float hi, size_t x, size_t y) : op_(dev, d, lo, hi), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override { op_.forward(v[x_], v[y_]); }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims());
    op_.backward(v[x_], g[y_], dx);
    accumulate(g[x_], dx);
  }

 private:
  ActivationOp op_;
  size_t x_, y_;
};

class AddLayer final : public Layer {
 public:
  AddLayer(size_t a, size_t b, size_t y) : a_(a), b_(b), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    const float *a = v[a_].data<float>(), *b = v[b_].data<float>();
    float *y = v[y_].data<float>();
    for (int64_t i = 0; i < v[y_].numel(); ++i) y[i] = a[i] + b[i];
  }
  void backward(std::vector<Tensor> &, std::vector<Tensor> &g) override {
    accumulate(g[a_], g[y_]);
    accumulate(g[b_], g[y_]);
  }

 private:
  size_t a_, b_, y_;
};

// MatMul by a constant matrix B [K, M]: y = x B for x [..., K], on the inner-product op with
// W = B^T (which views x and y as [rows, K] and [rows, M]). The parameter (and its fake
// quantization, per output column) keeps the IR's layout.
class MatMulLayer final : public Layer {
 public:
  MatMulLayer(std::unique_ptr<LinearOp> op, QuantizedWeight w, size_t x, size_t y)
      : op_(std::move(op)), w_(std::move(w)), x_(x), y_(y) {
    const Dims &bd = w_.weight->value.dims();
    if (w_.fq) w_.quantized = Tensor(DType::Float32, bd);
    wt_ = Tensor(DType::Float32, {bd[1], bd[0]});
  }
  void forward(std::vector<Tensor> &v) override {
    transpose(w_.forward(), wt_);
    op_->forward(v[x_], wt_, nullptr, v[y_]);
  }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims()), dwt(DType::Float32, wt_.dims()), dw(DType::Float32, w_.weight->value.dims());
    op_->backward(v[x_], wt_, g[y_], &dx, &dwt, nullptr);
    accumulate(g[x_], dx);
    transpose(dwt, dw);
    w_.backward(dw);
  }

 private:
  static void transpose(const Tensor &a, Tensor &t) {  // a [r, c] -> t [c, r]
    const Dims &td = t.dims();
    copyStrided(a.raw(), 0, {1, td[0]}, t.raw(), 0, contiguousStrides(td), td, sizeof(float));
  }
  std::unique_ptr<LinearOp> op_;
  QuantizedWeight w_;
  size_t x_, y_;
  Tensor wt_;
};

// Concat along one axis: each input is a block of every outer row; the gradient splits back.
class ConcatLayer final : public Layer {
 public:
  ConcatLayer(std::vector<size_t> xs, size_t y, std::vector<int64_t> widths, int64_t outer)
      : xs_(std::move(xs)), y_(y), widths_(std::move(widths)), outer_(outer) {
    for (int64_t w : widths_) total_ += w;
  }
  void forward(std::vector<Tensor> &v) override { copy(v, true); }
  void backward(std::vector<Tensor> &, std::vector<Tensor> &g) override { copy(g, false); }

 private:
  // Forward copies the inputs' rows into the output; backward adds the output gradient's rows
  // to the inputs' gradients.
  void copy(std::vector<Tensor> &t, bool forward) {
    float *y = t[y_].data<float>();
    for (int64_t o = 0; o < outer_; ++o) {
      int64_t at = o * total_;
      for (size_t i = 0; i < xs_.size(); ++i) {
        float *x = t[xs_[i]].data<float>() + o * widths_[i];
        if (forward)
          std::memcpy(y + at, x, static_cast<size_t>(widths_[i]) * sizeof(float));
        else
          for (int64_t j = 0; j < widths_[i]; ++j) x[j] += y[at + j];
        at += widths_[i];
      }
    }
  }
  std::vector<size_t> xs_;
  size_t y_;
  std::vector<int64_t> widths_;  // per input: elements per outer row (its axis dim x inner)
  int64_t outer_, total_ = 0;    // total_: the output's elements per outer row
};

class PoolLayer final : public Layer {
 public:
  PoolLayer(Device &dev, PoolOp::Kind kind, const Dims &xd, const Dims &yd, const WindowGeometry &geo, size_t x, size_t y)
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

// Flatten, Reshape, Identity: the same elements under new dims.
class ViewLayer final : public Layer {
 public:
  ViewLayer(size_t x, size_t y) : x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    std::memcpy(v[y_].raw(), v[x_].raw(), v[x_].byteSize());
  }
  void backward(std::vector<Tensor> &, std::vector<Tensor> &g) override {
    const float *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
    for (int64_t i = 0; i < g[x_].numel(); ++i) dx[i] += dy[i];
  }

 private:
  size_t x_, y_;
};

// Slice: a strided view copied out; its gradient is scattered back into zeros.
class SliceLayer final : public Layer {
 public:
  SliceLayer(StridedView view, size_t x, size_t y) : view_(std::move(view)), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    copyStrided(v[x_].raw(), view_.offset, view_.strides, v[y_].raw(), 0, contiguousStrides(view_.dims), view_.dims,
                sizeof(float));
  }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims());
    copyStrided(g[y_].raw(), 0, contiguousStrides(view_.dims), dx.raw(), view_.offset, view_.strides, view_.dims,
                sizeof(float));
    accumulate(g[x_], dx);
  }

 private:
  StridedView view_;
  size_t x_, y_;
};

// Constant Pad; its gradient is the crop of the output gradient.
class PadLayer final : public Layer {
 public:
  PadLayer(PadSpec p, float fill, size_t x, size_t y) : pad_(std::move(p)), fill_(fill), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    padCopy(v[x_].raw(), v[x_].dims(), v[y_].raw(), pad_.begin, pad_.end, PadMode::Constant, &fill_, sizeof(float));
  }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims());
    Dims negBegin = pad_.begin, negEnd = pad_.end;
    for (int64_t &d : negBegin) d = -d;
    for (int64_t &d : negEnd) d = -d;
    const float zero = 0.f;
    padCopy(g[y_].raw(), g[y_].dims(), dx.raw(), negBegin, negEnd, PadMode::Constant, &zero, sizeof(float));
    accumulate(g[x_], dx);
  }

 private:
  PadSpec pad_;
  float fill_;
  size_t x_, y_;
};

// Fake quantization of an activation with a learnable step (LSQ).
class ActQuantLayer final : public Layer {
 public:
  ActQuantLayer(QuantRange r, Param *step, size_t x, size_t y) : fq_(r, -1), step_(step), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override { fq_.forward(v[x_], step_->value, v[y_]); }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims()), ds(DType::Float32, step_->value.dims());
    fq_.backward(v[x_], step_->value, g[y_], &dx, &ds);
    accumulate(g[x_], dx);
    accumulate(step_->grad, ds);
  }

 private:
  FakeQuantOp fq_;
  Param *step_;
  size_t x_, y_;
};

// PACT: clip at a learnable alpha, then quantize uniformly with step alpha / qmax. The input
// gradient passes straight through inside [0, alpha]; alpha collects the clipped elements'.
class PactQuantLayer final : public Layer {
 public:
  PactQuantLayer(QuantRange r, Param *alpha, size_t x, size_t y)
      : fq_(r, -1, false), alpha_(alpha), x_(x), y_(y), step_(DType::Float32, {1}) {}
  void forward(std::vector<Tensor> &v) override {
    step_.data<float>()[0] = alpha_->value.data<float>()[0] * alpha_->stepPerUnit;
    fq_.forward(v[x_], step_, v[y_]);
  }
  void backward(std::vector<Tensor> &v, std::vector<Tensor> &g) override {
    Tensor dx(DType::Float32, v[x_].dims()), da(DType::Float32, {1});
    pact_.backward(v[x_], alpha_->value, g[y_], &dx, &da);
    accumulate(g[x_], dx);
    accumulate(alpha_->grad, da);
  }

 private:
  FakeQuantOp fq_;
  PactClipOp pact_;
  Param *alpha_;
  size_t x_, y_;
  Tensor step_;
};

}  // namespace

ActivationQuantizer parseActivationQuantizer(const std::string &name) {
  if (name == "lsq") return ActivationQuantizer::Lsq;
  if (name == "pact") return ActivationQuantizer::Pact;
  throw Error(cat("unknown activation quantizer '", name, "' (lsq, pact)"));
}

const char *activationQuantizerName(ActivationQuantizer q) { return q == ActivationQuantizer::Pact ? "pact" : "lsq"; }

class NetworkBuilder {
 public:
  NetworkBuilder(Network &net, const Graph &g, ActivationQuantizer activations)
      : net_(net), g_(g), activations_(activations) {}

  void build(const Dims &inputDims) {
    if (g_.inputs().size() != 1 || g_.outputs().size() != 1)
      throw Error("the training engine takes models with one input and one output");
    const Value *in = g_.inputs()[0];
    net_.inputSlot_ = slot(in, inputDims);
    maybeQuantizeActivation(in);
    for (const Node *n : g_.nodes()) addNode(*n);
    const Value *out = g_.outputs()[0];
    if (!slots_.count(out)) throw Error(cat("output '", out->name(), "' is not computed"));
    net_.outputSlot_ = current(out);
  }

 private:
  size_t slot(const Value *v, const Dims &dims) {
    net_.values_.emplace_back(DType::Float32, dims);
    net_.grads_.emplace_back(DType::Float32, dims);
    net_.slotNames_.push_back(v->name());
    slots_[v] = net_.values_.size() - 1;
    return slots_[v];
  }
  // The slot holding \p v as later readers see it (after its fake quantization, if any).
  size_t current(const Value *v) {
    auto q = quantized_.find(v);
    if (q != quantized_.end()) return q->second;
    auto it = slots_.find(v);
    if (it == slots_.end()) throw Error(cat("value '", v->name(), "' is read before it is computed"));
    return it->second;
  }
  // A copy: adding slots moves the tensors.
  Dims dimsOf(const Value *v) { return net_.values_[current(v)].dims(); }

  Param *param(const std::string &name, Tensor value, Param::Kind kind) {
    auto p = std::make_unique<Param>();
    p->name = name;
    p->grad = Tensor(DType::Float32, value.dims());
    p->value = std::move(value);
    p->kind = kind;
    net_.params_.push_back(std::move(p));
    return net_.params_.back().get();
  }

  QuantizedWeight weight(const Node &n, const Value *w, Tensor value, int axis) {
    QuantizedWeight q;
    q.weight = param(w->name(), std::move(value), Param::Kind::Weight);
    if (w->quant && w->quant->state != QuantParams::State::FloatOnly && !w->quant->scale.empty()) {
      const QuantParams &p = *w->quant;
      if (p.scheme != QuantParams::Scheme::Uniform)
        throw Error(cat(n.describe(), ": the training engine fake-quantizes uniform weights only"));
      for (int32_t z : p.zeroPoint)
        if (z != 0) throw Error(cat(n.describe(), ": weights with a zero point cannot be fine-tuned yet"));
      const bool perTensor = p.granularity == QuantParams::Granularity::PerTensor;
      // Group-wise parameters repeat the group's scale per channel: trained per channel.
      Tensor steps = perTensor ? Tensor::fromVector<float>({1}, {p.scale[0]})
                               : Tensor::fromVector<float>({static_cast<int64_t>(p.scale.size())}, p.scale);
      q.step = param(w->name() + ".step", std::move(steps), Param::Kind::Step);
      q.fq = std::make_unique<FakeQuantOp>(quantRange(p.bits, p.isSigned, p.narrowRange), perTensor ? -1 : axis);
      if (p.granularity == QuantParams::Granularity::PerGroup) q.groupOf = p.groupOf;
    }
    return q;
  }

  Param *bias(const Value *b) {
    if (!b) return nullptr;
    if (!b->isConstant()) throw Error(cat("bias '", b->name(), "' is not a constant"));
    return param(b->name(), *b->constant(), Param::Kind::Bias);
  }

  void maybeQuantizeActivation(const Value *v) {
    if (!v->quant || v->quant->scale.size() != 1 || v->quant->state == QuantParams::State::FloatOnly) return;
    const QuantParams &p = *v->quant;
    if (p.zeroPoint.at(0) != 0) throw Error(cat("activation '", v->name(), "' has a zero point; only symmetric ones train"));
    const QuantRange range = quantRange(p.bits, p.isSigned, p.narrowRange);
    const bool pact = activations_ == ActivationQuantizer::Pact && range.qmin == 0;
    Param *step = pact ? param(v->name() + ".alpha", Tensor::fromVector<float>({1}, {p.scale[0] * static_cast<float>(range.qmax)}),
                               Param::Kind::Clip)
                       : param(v->name() + ".step", Tensor::fromVector<float>({1}, {p.scale[0]}), Param::Kind::Step);
    if (pact) step->stepPerUnit = 1.f / static_cast<float>(range.qmax);
    const size_t from = current(v);
    const Dims d = net_.values_[from].dims();
    net_.values_.emplace_back(DType::Float32, d);
    net_.grads_.emplace_back(DType::Float32, d);
    net_.slotNames_.push_back(v->name() + " (fake-quantized)");
    const size_t to = net_.values_.size() - 1;
    if (pact)
      net_.layers_.push_back(std::make_unique<PactQuantLayer>(range, step, from, to));
    else
      net_.layers_.push_back(std::make_unique<ActQuantLayer>(range, step, from, to));
    quantized_[v] = to;
  }

  void addNode(const Node &n) {
    const std::string &op = n.opType();
    const Value *x = n.input(0), *y = n.output(0);
    if (op == "Conv") {
      const Value *w = n.input(1);
      if (!w->isConstant()) throw Error(cat(n.describe(), ": weights must be constant to train"));
      const Dims xd = dimsOf(x), wd = w->dims();
      WindowGeometry geo = windowGeometry(n, Dims(xd.begin() + 2, xd.end()), Dims(wd.begin() + 2, wd.end()), false);
      Dims yd = {xd[0], wd[0]};
      yd.insert(yd.end(), geo.outSpatial.begin(), geo.outSpatial.end());
      ConvGeometry cg{geo.strides, geo.padsBegin, geo.padsEnd, geo.dilations, n.attrInt("group", 1)};
      const size_t xs = current(x), ys = slot(y, yd);
      auto conv = std::make_unique<Conv2dOp>(net_.dev_, xd, wd, yd, n.input(2) != nullptr, cg);
      net_.layers_.push_back(std::make_unique<WeightedLayer<Conv2dOp>>(std::move(conv), weight(n, w, *w->constant(), 0),
                                                                      bias(n.input(2)), xs, ys));
    } else if (op == "Gemm") {
      const Value *w = n.input(1);
      if (!w->isConstant() || n.attrInt("transA", 0) || n.attrFloat("alpha", 1.f) != 1.f ||
          (n.input(2) && n.attrFloat("beta", 1.f) != 1.f))
        throw Error(cat(n.describe(), ": the training engine takes Gemm with constant weights, no transA/alpha/beta"));
      if (!n.attrInt("transB", 0))
        throw Error(cat(n.describe(), ": the training engine takes Gemm weights as [out, in] (transB=1)"));
      const Dims xd = dimsOf(x);
      const int64_t m = w->dims()[0];
      const size_t xs = current(x), ys = slot(y, {xd[0], m});
      auto linear = std::make_unique<LinearOp>(net_.dev_, xd[0], xd[1], m, n.input(2) != nullptr);
      net_.layers_.push_back(std::make_unique<WeightedLayer<LinearOp>>(std::move(linear), weight(n, w, *w->constant(), 0),
                                                                      bias(n.input(2)), xs, ys));
    } else if (op == "Relu" || op == "Clip") {
      float lo = 0.f, hi = INFINITY;
      if (op == "Clip") std::tie(lo, hi) = clipBounds(n, g_.opset);
      const Dims d = dimsOf(x);
      const size_t xs = current(x), ys = slot(y, d);
      net_.layers_.push_back(std::make_unique<ActivationLayer>(net_.dev_, d, lo, hi, xs, ys));
    } else if (op == "MatMul") {
      const Value *w = n.input(1);
      if (!w || !w->isConstant() || w->dims().size() != 2)
        throw Error(cat(n.describe(), ": the training engine takes MatMul by a constant 2-D matrix"));
      const Dims xd = dimsOf(x);
      const int64_t k = w->dims()[0], m = w->dims()[1];
      if (xd.empty() || xd.back() != k)
        throw Error(cat(n.describe(), ": input ", shapeString(xd), " does not end in the matrix's ", k, " rows"));
      Dims yd = xd;
      yd.back() = m;
      const int64_t rows = numElements(xd) / k;
      const size_t xs = current(x), ys = slot(y, yd);
      const int axis = w->quant ? static_cast<int>(w->quant->axis) : 1;
      net_.layers_.push_back(std::make_unique<MatMulLayer>(std::make_unique<LinearOp>(net_.dev_, rows, k, m, false),
                                                           weight(n, w, *w->constant(), axis), xs, ys));
    } else if (op == "Concat") {
      const Dims first = dimsOf(x);
      const int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(first.size()), n);
      Dims yd = first;
      yd[static_cast<size_t>(axis)] = 0;
      std::vector<size_t> xs;
      std::vector<int64_t> widths;
      int64_t outer = 1;
      for (int64_t i = 0; i < axis; ++i) outer *= first[static_cast<size_t>(i)];
      for (const Value *in : n.inputs()) {
        if (!in || in->isConstant()) throw Error(cat(n.describe(), ": the training engine concatenates computed tensors only"));
        const Dims d = dimsOf(in);
        bool fits = d.size() == first.size();
        for (size_t a = 0; fits && a < d.size(); ++a) fits = static_cast<int64_t>(a) == axis || d[a] == first[a];
        if (!fits)
            throw Error(cat(n.describe(), ": input ", shapeString(d), " does not fit ", shapeString(first), " on axis ", axis));
        yd[static_cast<size_t>(axis)] += d[static_cast<size_t>(axis)];
        xs.push_back(current(in));
        widths.push_back(numElements(d) / outer);
      }
      const size_t ys = slot(y, yd);
      net_.layers_.push_back(std::make_unique<ConcatLayer>(std::move(xs), ys, std::move(widths), outer));
    } else if (op == "Add") {
      const Value *b = n.input(1);
      if (dimsOf(x) != dimsOf(b)) throw Error(cat(n.describe(), ": the training engine adds tensors of equal dims only"));
      const Dims d = dimsOf(x);
      const size_t as = current(x), bs = current(b), ys = slot(y, d);
      net_.layers_.push_back(std::make_unique<AddLayer>(as, bs, ys));
    } else if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") {
      const Dims xd = dimsOf(x);
      const Dims spatial(xd.begin() + 2, xd.end());
      WindowGeometry geo;
      PoolOp::Kind kind = PoolOp::Kind::Max;
      if (op == "GlobalAveragePool") {
        geo.kernel = spatial;
        geo.strides = Dims(spatial.size(), 1);
        geo.padsBegin = geo.padsEnd = Dims(spatial.size(), 0);
        geo.outSpatial = Dims(spatial.size(), 1);
        kind = PoolOp::Kind::AverageExcludePad;
      } else {
        if (n.outputs().size() > 1 && n.output(1)) throw Error(cat(n.describe(), ": MaxPool indices cannot be trained"));
        geo = windowGeometry(n, spatial, n.attrInts("kernel_shape"), n.attrInt("ceil_mode", 0) != 0);
        for (int64_t d : geo.dilations)
          if (d != 1) throw Error(cat(n.describe(), ": dilated pooling cannot be trained"));
        if (op == "AveragePool")
          kind = n.attrInt("count_include_pad", 0) ? PoolOp::Kind::AverageIncludePad : PoolOp::Kind::AverageExcludePad;
      }
      Dims yd = {xd[0], xd[1]};
      yd.insert(yd.end(), geo.outSpatial.begin(), geo.outSpatial.end());
      const size_t xs = current(x), ys = slot(y, yd);
      net_.layers_.push_back(std::make_unique<PoolLayer>(net_.dev_, kind, xd, yd, geo, xs, ys));
    } else if (op == "Flatten" || op == "Reshape" || op == "Identity" || op == "Squeeze" || op == "Unsqueeze") {
      if (!y->hasShape()) throw Error(cat(n.describe(), ": output shape unknown"));
      // The IR's dims with the batch this network runs (training batches differ from the IR's).
      Dims yd = y->dims();
      if (!yd.empty() && x->hasShape() && !x->dims().empty() && (yd[0] < 0 || yd[0] == x->dims()[0]))
        yd[0] = dimsOf(x)[0];
      if (numElements(yd) != numElements(dimsOf(x)))
        throw Error(cat(n.describe(), ": output ", shapeString(yd), " does not hold the input's elements"));
      const size_t xs = current(x), ys = slot(y, yd);
      net_.layers_.push_back(std::make_unique<ViewLayer>(xs, ys));
    } else if (op == "Slice") {
      StridedView view = sliceView(n, g_.opset, dimsOf(x));
      const size_t xs = current(x), ys = slot(y, view.dims);
      net_.layers_.push_back(std::make_unique<SliceLayer>(view, xs, ys));
    } else if (op == "Pad") {
      const Dims xd = dimsOf(x);
      PadSpec p = resolvePad(n, g_.opset, static_cast<int64_t>(xd.size()));
      if (p.mode != "constant") throw Error(cat(n.describe(), ": only constant padding can be trained"));
      Dims yd = xd;
      for (size_t i = 0; i < yd.size(); ++i) yd[i] += p.begin[i] + p.end[i];
      const float fill = static_cast<float>(p.constant.value_or(0.0));
      const size_t xs = current(x), ys = slot(y, yd);
      net_.layers_.push_back(std::make_unique<PadLayer>(p, fill, xs, ys));
    } else {
      throw Error(cat(n.describe(), ": the training engine has no gradient for this op"));
    }
    for (const Value *out : n.outputs())
      if (out) maybeQuantizeActivation(out);
  }

  Network &net_;
  const Graph &g_;
  ActivationQuantizer activations_;
  std::map<const Value *, size_t> slots_, quantized_;
};

Network::Network(const Graph &g, const Dims &inputDims, ActivationQuantizer activations) {
  NetworkBuilder(*this, g, activations).build(inputDims);
}
Network::~Network() = default;

const Tensor &Network::forward(const Tensor &input) {
  if (input.dims() != values_[inputSlot_].dims())
    throw Error(cat("the network was built for input ", shapeString(values_[inputSlot_].dims()), ", got ",
                    shapeString(input.dims())));
  std::memcpy(values_[inputSlot_].raw(), input.raw(), input.byteSize());
  for (auto &l : layers_) l->forward(values_);
  return values_[outputSlot_];
}

const Tensor &Network::backward(const Tensor &dOutput, const std::vector<ActivationGrad> &extra) {
  LOWBIT_CHECK(dOutput.dims() == grads_[outputSlot_].dims(), "output gradient has the wrong dims");
  for (Tensor &g : grads_) std::memset(g.raw(), 0, g.byteSize());
  std::memcpy(grads_[outputSlot_].raw(), dOutput.raw(), dOutput.byteSize());
  // Layers add into their input slots in reverse order, so a seed is complete before the
  // layer that produced the activation runs.
  for (const ActivationGrad &e : extra) {
    Tensor &g = grads_[slotOf(e.name)];
    if (e.grad->dims() != g.dims()) throw Error(cat("gradient for activation '", e.name, "' has the wrong dims"));
    float *d = g.data<float>();
    const float *a = e.grad->data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) d[i] += a[i];
  }
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) (*it)->backward(values_, grads_);
  return grads_[inputSlot_];
}

void Network::zeroGrad() {
  for (auto &p : params_) std::memset(p->grad.raw(), 0, p->grad.byteSize());
}

std::vector<Param *> Network::params() {
  std::vector<Param *> out;
  for (auto &p : params_) out.push_back(p.get());
  return out;
}

size_t Network::slotOf(const std::string &name) const {
  for (size_t i = 0; i < slotNames_.size(); ++i)
    if (slotNames_[i] == name) return i;
  throw Error(cat("the network has no activation '", name, "'"));
}

bool Network::hasActivation(const std::string &name) const {
  return std::find(slotNames_.begin(), slotNames_.end(), name) != slotNames_.end();
}

const Tensor &Network::activation(const std::string &name) const { return values_[slotOf(name)]; }

}  // namespace lowbit::train
