#include "train/LinearOp.h"

namespace lowbit::train {

namespace {
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
}  // namespace

LinearOp::LinearOp(Device &dev, int64_t n, int64_t k, int64_t m, bool bias) : dev_(dev), bias_(bias), m_(m) {
  const dnnl::memory::desc x({n, k}, dt::f32, tag::nc), w({m, k}, dt::f32, tag::oi), y({n, m}, dt::f32, tag::nc);
  const dnnl::memory::desc b = bias ? dnnl::memory::desc({m}, dt::f32, tag::x) : dnnl::memory::desc();
  fwd_ = dnnl::inner_product_forward::primitive_desc(
      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, x, w, b, y), dev.engine);
  bwdData_ = dnnl::inner_product_backward_data::primitive_desc(dnnl::inner_product_backward_data::desc(x, w, y),
                                                               dev.engine, fwd_);
  bwdWeights_ = dnnl::inner_product_backward_weights::primitive_desc(
      dnnl::inner_product_backward_weights::desc(x, w, b, y), dev.engine, fwd_);
}

void LinearOp::forward(const Tensor &x, const Tensor &w, const Tensor *b, Tensor &y) {
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, viewOf(dev_, x)}, {DNNL_ARG_WEIGHTS, viewOf(dev_, w)}, {DNNL_ARG_DST, viewOf(dev_, y)}};
  if (bias_) args[DNNL_ARG_BIAS] = viewOf(dev_, *b);
  dnnl::inner_product_forward(fwd_).execute(dev_.stream, args);
  dev_.stream.wait();
}

void LinearOp::backward(const Tensor &x, const Tensor &w, const Tensor &dy, Tensor *dx, Tensor *dw, Tensor *db) {
  if (dx)
    dnnl::inner_product_backward_data(bwdData_).execute(
        dev_.stream,
        {{DNNL_ARG_DIFF_DST, viewOf(dev_, dy)}, {DNNL_ARG_WEIGHTS, viewOf(dev_, w)}, {DNNL_ARG_DIFF_SRC, viewOf(dev_, *dx)}});
  if (dw) {
    Tensor scratch;
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, viewOf(dev_, x)}, {DNNL_ARG_DIFF_DST, viewOf(dev_, dy)}, {DNNL_ARG_DIFF_WEIGHTS, viewOf(dev_, *dw)}};
    if (bias_) {
      if (!db) scratch = Tensor(DType::Float32, {m_});
      args[DNNL_ARG_DIFF_BIAS] = viewOf(dev_, db ? *db : scratch);
    }
    dnnl::inner_product_backward_weights(bwdWeights_).execute(dev_.stream, args);
  }
  dev_.stream.wait();
}

}  // namespace lowbit::train
