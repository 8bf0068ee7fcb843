// Layers with weights: Conv (grouped, depthwise, dilated), ConvTranspose, Gemm (transA, transB, alpha, beta)
// and MatMul (by a constant matrix, or of two activations with batch broadcasting).
#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "support/Strings.h"
#include "train/Conv2dOp.h"
#include "train/Layer.h"
#include "train/LinearOp.h"

namespace lowbit::train {
namespace {

// a [r, c] -> t [c, r]
void transpose2d(const Tensor &a, Tensor &t) {
  const Dims &td = t.dims();
  copyStrided(a.raw(), 0, {1, td[0]}, t.raw(), 0, contiguousStrides(td), td, sizeof(float));
}

void scale(Tensor &t, float s) {
  float *d = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] *= s;
}

// Conv (Conv2dOp) or ConvTranspose (Deconv2dOp): the same parameters and gradient flow.
template <typename Op>
class ConvLayer final : public Layer {
 public:
  ConvLayer(std::unique_ptr<Op> op, QuantizedWeight w, Param *bias, size_t x, size_t y)
      : op_(std::move(op)), w_(std::move(w)), bias_(bias), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    op_->forward(v[x_], w_.forward(), bias_ ? &bias_->value : nullptr, v[y_]);
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const bool params = wantsParameterGradients();
    Tensor *dw = params ? &scratch(dw_, w_.weight->value.dims()) : nullptr;
    Tensor *db = params && bias_ ? &scratch(db_, bias_->value.dims()) : nullptr;
    bool add = false;
    Tensor &dy = g[y_], &dx = g.claim(x_, add);
    op_->backward(v[x_], w_.fq ? w_.quantized : w_.weight->value, dy, &dx, dw, db, add);
    if (!params) return;
    w_.backward(*dw);
    if (bias_) accumulate(bias_->grad, *db);
  }

 private:
  std::unique_ptr<Op> op_;
  QuantizedWeight w_;
  Param *bias_;
  size_t x_, y_;
  Tensor dw_, db_;  // the parameter gradients of one step, before they are added in
};

// y = alpha * op(x) W^T + beta * c on the inner-product op, where op(x) is x or x^T (transA)
// and W is the weight as [out, in] (transposed each step when the IR stores it [in, out]:
// Gemm transB=0, MatMul). The parameter and its per-output fake quantization keep the IR's
// layout. c: a bias of one value per output (or one value), added after the product.
class LinearLayer final : public Layer {
 public:
  struct Config {
    bool transA = false, weightInOut = false;
    float alpha = 1.f, beta = 1.f;
  };
  /// Whether a bias of \p biasValues values rides in the inner-product primitive (one per output, unscaled).
  static bool fusesBias(const Config &cfg, int64_t biasValues) {
    return biasValues > 1 && cfg.alpha == 1.f && cfg.beta == 1.f;
  }
  LinearLayer(std::unique_ptr<LinearOp> op, QuantizedWeight w, Param *bias, Config cfg, size_t x, size_t y)
      : op_(std::move(op)), w_(std::move(w)), bias_(bias), cfg_(cfg), x_(x), y_(y) {
    const Dims &wd = w_.weight->value.dims();
    if (cfg_.weightInOut) wt_ = Tensor(DType::Float32, {wd[1], wd[0]});
  }
  void forward(std::vector<Tensor> &v) override {
    const Tensor &x = input(v[x_]);
    const Tensor &w = weight();
    // A bias the inner product can add itself (the usual Gemm) rides along in the primitive.
    op_->forward(x, w, fusedBias() ? &bias_->value : nullptr, v[y_]);
    if (fusedBias()) return;
    if (cfg_.alpha != 1.f) scale(v[y_], cfg_.alpha);
    if (bias_) addBias(v[y_]);
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const Tensor &x = cfg_.transA ? xt_ : v[x_];
    const Tensor &w = cfg_.weightInOut ? wt_ : (w_.fq ? w_.quantized : w_.weight->value);
    const Tensor *dy = &g[y_];
    Tensor scaled;
    if (!fusedBias() && cfg_.alpha != 1.f) {
      scaled = g[y_];
      scale(scaled, cfg_.alpha);
      dy = &scaled;
    }
    const bool params = wantsParameterGradients();
    Tensor dx(DType::Float32, x.dims()), dw(DType::Float32, params ? w.dims() : Dims{1});
    Tensor db(DType::Float32, fusedBias() ? bias_->value.dims() : Dims{1});
    op_->backward(x, w, *dy, &dx, params ? &dw : nullptr, params && fusedBias() ? &db : nullptr);
    if (cfg_.transA) {
      Tensor back(DType::Float32, v[x_].dims());
      transpose2d(dx, back);
      g.contribute(x_, back);
    } else {
      g.contribute(x_, dx);
    }
    if (!params) return;
    if (cfg_.weightInOut) {
      Tensor dwIr(DType::Float32, w_.weight->value.dims());
      transpose2d(dw, dwIr);
      w_.backward(dwIr);
    } else {
      w_.backward(dw);
    }
    if (fusedBias()) {
      accumulate(bias_->grad, db);
    } else if (bias_) {  // d(beta c)/dc summed over the rows the bias was added to
      const float *d = g[y_].data<float>();
      float *gb = bias_->grad.data<float>();
      const int64_t m = g[y_].dims().back(), n = bias_->value.numel();
      for (int64_t i = 0; i < g[y_].numel(); ++i) gb[n == 1 ? 0 : i % m] += cfg_.beta * d[i];
    }
  }

 private:
  bool fusedBias() const { return bias_ && fusesBias(cfg_, bias_->value.numel()); }
  const Tensor &input(const Tensor &x) {
    if (!cfg_.transA) return x;
    if (xt_.dims().empty()) xt_ = Tensor(DType::Float32, {x.dims()[1], x.dims()[0]});
    transpose2d(x, xt_);
    return xt_;
  }
  const Tensor &weight() {
    const Tensor &w = w_.forward();
    if (!cfg_.weightInOut) return w;
    transpose2d(w, wt_);
    return wt_;
  }
  void addBias(Tensor &y) const {
    float *d = y.data<float>();
    const float *b = bias_->value.data<float>();
    const int64_t m = y.dims().back(), n = bias_->value.numel();
    for (int64_t i = 0; i < y.numel(); ++i) d[i] += cfg_.beta * b[n == 1 ? 0 : i % m];
  }
  std::unique_ptr<LinearOp> op_;
  QuantizedWeight w_;
  Param *bias_;
  Config cfg_;
  size_t x_, y_;
  Tensor wt_, xt_;
};

// Element offset of each matrix of a MatMul operand whose batch dims are \p own, for every
// batch index of the output's batch dims \p batch (numpy broadcasting).
std::vector<int64_t> batchOffsets(const Dims &batch, const Dims &own, int64_t matrixSize) {
  std::vector<int64_t> strides = broadcastStrides(own, batch);
  for (int64_t &s : strides) s *= matrixSize;
  return elementOffsets(batch, strides);
}

// MatMul of two activations, A [..., M, K] x B [..., K, N], batch dims broadcast (numpy);
// gradients dA = dY B^T and dB = A^T dY, summed over the batches an operand was broadcast to.
class BatchedMatMulLayer final : public Layer {
 public:
  BatchedMatMulLayer(const Dims &ad, const Dims &bd, const Dims &yd, size_t a, size_t b, size_t y)
      : a_(a), b_(b), y_(y), m_(ad[ad.size() - 2]), k_(ad.back()), n_(bd.back()) {
    const Dims batch(yd.begin(), yd.end() - 2);
    aOff_ = batchOffsets(batch, Dims(ad.begin(), ad.end() - 2), m_ * k_);
    bOff_ = batchOffsets(batch, Dims(bd.begin(), bd.end() - 2), k_ * n_);
  }
  void forward(std::vector<Tensor> &v) override {
    const float *a = v[a_].data<float>(), *b = v[b_].data<float>();
    float *y = v[y_].data<float>();
    const int64_t batches = static_cast<int64_t>(aOff_.size());
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t t = 0; t < batches; ++t)
      for (int64_t i = 0; i < m_; ++i) {
        const float *ar = a + aOff_[static_cast<size_t>(t)] + i * k_;
        const float *bm = b + bOff_[static_cast<size_t>(t)];
        float *yr = y + (t * m_ + i) * n_;
        for (int64_t j = 0; j < n_; ++j) yr[j] = 0.f;
        for (int64_t p = 0; p < k_; ++p)
          for (int64_t j = 0; j < n_; ++j) yr[j] += ar[p] * bm[p * n_ + j];
      }
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    const float *a = v[a_].data<float>(), *b = v[b_].data<float>(), *dy = g[y_].data<float>();
    float *da = g[a_].data<float>(), *db = g[b_].data<float>();
    // Sequential over batches: a broadcast operand's gradient sums over several of them.
    for (size_t t = 0; t < aOff_.size(); ++t) {
      const float *am = a + aOff_[t], *bm = b + bOff_[t], *dym = dy + static_cast<int64_t>(t) * m_ * n_;
      float *dam = da + aOff_[t], *dbm = db + bOff_[t];
      for (int64_t i = 0; i < m_; ++i)
        for (int64_t p = 0; p < k_; ++p) {
          double s = 0;
          for (int64_t j = 0; j < n_; ++j) s += static_cast<double>(dym[i * n_ + j]) * bm[p * n_ + j];
          dam[i * k_ + p] += static_cast<float>(s);
        }
      for (int64_t p = 0; p < k_; ++p)
        for (int64_t i = 0; i < m_; ++i) {
          const float ap = am[i * k_ + p];
          for (int64_t j = 0; j < n_; ++j) dbm[p * n_ + j] += ap * dym[i * n_ + j];
        }
    }
  }

 private:
  size_t a_, b_, y_;
  int64_t m_, k_, n_;
  std::vector<int64_t> aOff_, bOff_;
};

Param *biasParam(NetworkBuilder &b, const Node &n, const Value *bias) {
  if (!bias) return nullptr;
  if (!bias->isConstant()) throw Error(cat(n.describe(), ": bias '", bias->name(), "' must be a constant to train"));
  return b.param(bias, Param::Kind::Bias);
}

}  // namespace

void buildConv(NetworkBuilder &b, const Node &n) {
  const Value *w = n.input(1);
  if (!w || !w->isConstant()) throw Error(cat(n.describe(), ": weights must be constant to train"));
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs), wd = w->dims();
  if (xd.size() != 4)
    throw Error(cat(n.describe(), ": the training engine takes 2-D convolutions (input ", shapeString(xd), ")"));
  WindowGeometry geo = windowGeometry(n, Dims(xd.begin() + 2, xd.end()), Dims(wd.begin() + 2, wd.end()), false);
  ConvGeometry cg{geo.strides, geo.padsBegin, geo.padsEnd, geo.dilations, n.attrInt("group", 1)};
  const Value *bias = n.input(2);
  if (bias && (!bias->isConstant() || bias->constant()->numel() != wd[0]))
    throw Error(cat(n.describe(), ": bias must be a constant of ", wd[0], " values"));
  const size_t ys = b.output(n, n.output(0));
  auto conv = std::make_unique<Conv2dOp>(b.device(), xd, wd, b.dims(ys), bias != nullptr, cg);
  b.add(std::make_unique<ConvLayer<Conv2dOp>>(std::move(conv), b.weight(n, w, 0), biasParam(b, n, bias), xs, ys));
}

void buildConvTranspose(NetworkBuilder &b, const Node &n) {
  const Value *w = n.input(1);
  if (!w || !w->isConstant()) throw Error(cat(n.describe(), ": weights must be constant to train"));
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs), wd = w->dims();
  if (xd.size() != 4)
    throw Error(cat(n.describe(), ": the training engine takes 2-D transposed convolutions (input ", shapeString(xd), ")"));
  const TransposedWindow tw = transposedWindow(n, Dims(xd.begin() + 2, xd.end()), Dims(wd.begin() + 2, wd.end()));
  ConvGeometry cg{tw.strides, tw.padsBegin, tw.padsEnd, tw.dilations, n.attrInt("group", 1)};
  for (size_t i = 0; i < 2; ++i) {
    cg.padsEnd[i] -= tw.outputPadding[i];  // oneDNN's end pad: the output padding comes off it
    if (cg.padsBegin[i] < 0 || cg.padsEnd[i] < 0)
      throw Error(cat(n.describe(), ": the training engine takes outputs within the full transposed result "
                                    "(pads and output_padding leave ", cg.padsBegin[i], " and ", cg.padsEnd[i],
                                    " on axis ", i + 2, ")"));
  }
  const Value *bias = n.inputs().size() > 2 ? n.input(2) : nullptr;
  const size_t ys = b.output(n, n.output(0));
  if (bias && (!bias->isConstant() || bias->constant()->numel() != b.dims(ys)[1]))
    throw Error(cat(n.describe(), ": bias must be a constant of ", b.dims(ys)[1], " values"));
  auto op = std::make_unique<Deconv2dOp>(b.device(), xd, wd, b.dims(ys), bias != nullptr, cg);
  b.add(std::make_unique<ConvLayer<Deconv2dOp>>(std::move(op), b.weight(n, w, 1), biasParam(b, n, bias), xs, ys));
}

void buildGemm(NetworkBuilder &b, const Node &n) {
  const Value *w = n.input(1);
  if (!w || !w->isConstant() || w->dims().size() != 2)
    throw Error(cat(n.describe(), ": the training engine takes Gemm with a constant 2-D B"));
  LinearLayer::Config cfg;
  cfg.transA = n.attrInt("transA", 0) != 0;
  cfg.weightInOut = n.attrInt("transB", 0) == 0;
  cfg.alpha = n.attrFloat("alpha", 1.f);
  cfg.beta = n.attrFloat("beta", 1.f);
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  if (xd.size() != 2) throw Error(cat(n.describe(), ": A must be 2-D, got ", shapeString(xd)));
  const int64_t rows = cfg.transA ? xd[1] : xd[0], k = cfg.transA ? xd[0] : xd[1];
  const int64_t m = cfg.weightInOut ? w->dims()[1] : w->dims()[0];
  const Value *c = n.input(2);
  if (c && (!c->isConstant() || (c->constant()->numel() != m && c->constant()->numel() != 1)))
    throw Error(cat(n.describe(), ": the training engine takes C as a constant of ", m, " values or one"));
  const size_t ys = b.output(n, n.output(0));
  auto op =
      std::make_unique<LinearOp>(b.device(), rows, k, m, c && LinearLayer::fusesBias(cfg, c->constant()->numel()));
  b.add(std::make_unique<LinearLayer>(std::move(op), b.weight(n, w, cfg.weightInOut ? 1 : 0), biasParam(b, n, c), cfg,
                                      xs, ys));
}

void buildMatMul(NetworkBuilder &b, const Node &n) {
  const Value *w = n.input(1);
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  if (w && w->isConstant() && w->dims().size() == 2) {  // by a constant matrix [K, M]
    const int64_t k = w->dims()[0], m = w->dims()[1];
    if (xd.empty() || xd.back() != k)
      throw Error(cat(n.describe(), ": input ", shapeString(xd), " does not end in the matrix's ", k, " rows"));
    const size_t ys = b.output(n, n.output(0));
    const int axis = w->quant && w->quant->axis >= 0 ? static_cast<int>(w->quant->axis) : 1;
    LinearLayer::Config cfg;
    cfg.weightInOut = true;
    b.add(std::make_unique<LinearLayer>(std::make_unique<LinearOp>(b.device(), numElements(xd) / k, k, m, false),
                                        b.weight(n, w, axis), nullptr, cfg, xs, ys));
    return;
  }
  const size_t ws = b.input(n, w);
  const Dims wd = b.dims(ws);
  if (xd.size() < 2 || wd.size() < 2 || xd.back() != wd[wd.size() - 2])
    throw Error(cat(n.describe(), ": the training engine multiplies [..., M, K] by [..., K, N], got ", shapeString(xd),
                    " and ", shapeString(wd)));
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<BatchedMatMulLayer>(xd, wd, b.dims(ys), xs, ws, ys));
}

}  // namespace lowbit::train
