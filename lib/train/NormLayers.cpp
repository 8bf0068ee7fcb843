// Normalisation layers beside BatchNormalization: LRN and the per-row normalisations
// (LayerNormalization, InstanceNormalization) on the reference kernels of kernels/Normalization.h,
// whose scale and bias train like BatchNormalization's.
#include "kernels/Normalization.h"
#include "ops/OpParams.h"
#include "support/Strings.h"
#include "train/Layer.h"

namespace lowbit::train {
namespace {

class LrnLayer final : public Layer {
 public:
  LrnLayer(const Dims &xd, const LrnParams &p, size_t x, size_t y)
      : p_(p), outer_(xd[0]), channels_(xd[1]), inner_(numElements(Dims(xd.begin() + 2, xd.end()))), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    lrnForward(v[x_].data<float>(), outer_, channels_, inner_, p_, v[y_].data<float>());
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    lrnBackward(v[x_].data<float>(), g[y_].data<float>(), outer_, channels_, inner_, p_, g[x_].data<float>());
  }

 private:
  LrnParams p_;
  int64_t outer_, channels_, inner_;
  size_t x_, y_;
};

// y = xhat * scale + bias, xhat each row normalised. LayerNormalization's scale and bias run
// along the row (index i of len); InstanceNormalization's are per channel (row r is channel
// r % channels). A missing bias stays zero and does not train.
class RowNormLayer final : public Layer {
 public:
  RowNormLayer(const RowNormalization &r, bool perChannel, int64_t channels, Param *scale, Param *bias, size_t x,
               size_t y)
      : r_(r), perChannel_(perChannel), channels_(channels), scale_(scale), bias_(bias), x_(x), y_(y),
        xhat_(DType::Float32, {r.rows, r.len}), mean_(static_cast<size_t>(r.rows)), invStd_(mean_.size()) {}
  void forward(std::vector<Tensor> &v) override {
    float *xhat = xhat_.data<float>(), *y = v[y_].data<float>();
    normalizeRows(v[x_].data<float>(), r_.rows, r_.len, r_.eps, xhat, mean_.data(), invStd_.data());
    const float *s = scale_->value.data<float>(), *b = bias_ ? bias_->value.data<float>() : nullptr;
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < r_.rows; ++row)
      for (int64_t i = 0; i < r_.len; ++i) {
        const int64_t k = param(row, i), at = row * r_.len + i;
        y[at] = xhat[at] * s[k] + (b ? b[k] : 0.f);
      }
  }
  void backward(std::vector<Tensor> &, Gradients &g) override {
    const float *xhat = xhat_.data<float>(), *dy = g[y_].data<float>(), *s = scale_->value.data<float>();
    float *ds = scale_->grad.data<float>(), *db = bias_ ? bias_->grad.data<float>() : nullptr;
    Tensor dxhat(DType::Float32, {r_.rows, r_.len});
    float *dh = dxhat.data<float>();
    // Sequential: a parameter collects from many rows.
    for (int64_t row = 0; row < r_.rows; ++row)
      for (int64_t i = 0; i < r_.len; ++i) {
        const int64_t k = param(row, i), at = row * r_.len + i;
        dh[at] = dy[at] * s[k];
        ds[k] += dy[at] * xhat[at];
        if (db) db[k] += dy[at];
      }
    normalizeRowsBackward(xhat, dh, invStd_.data(), r_.rows, r_.len, g[x_].data<float>());
  }

 private:
  int64_t param(int64_t row, int64_t i) const { return perChannel_ ? row % channels_ : i; }
  RowNormalization r_;
  bool perChannel_;
  int64_t channels_;
  Param *scale_, *bias_;
  size_t x_, y_;
  Tensor xhat_;
  std::vector<float> mean_, invStd_;
};

}  // namespace

void buildLrn(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  if (xd.size() < 3) throw Error(cat(n.describe(), ": input ", shapeString(xd), " has no spatial axes"));
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<LrnLayer>(xd, lrnParams(n), xs, ys));
}

void buildRowNormalization(NetworkBuilder &b, const Node &n) {
  for (size_t i = 1; i < n.outputs().size(); ++i)
    if (n.output(i) && !b.graph().users(n.output(i)).empty())
      throw Error(cat(n.describe(), ": the training engine takes LayerNormalization's Y only (Mean and InvStdDev are read)"));
  for (size_t i = 1; i < n.inputs().size() && i < 3; ++i)
    if (n.input(i) && !n.input(i)->isConstant())
      throw Error(cat(n.describe(), ": scale and bias must be constants to train"));
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  const bool perChannel = n.opType() == "InstanceNormalization";
  Param *scale = b.param(n.input(1), Param::Kind::Bias);
  Param *bias = n.inputs().size() > 2 && n.input(2) ? b.param(n.input(2), Param::Kind::Bias) : nullptr;
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<RowNormLayer>(rowNormalization(n), perChannel, perChannel ? xd[1] : 1, scale, bias, xs, ys));
}

}  // namespace lowbit::train
