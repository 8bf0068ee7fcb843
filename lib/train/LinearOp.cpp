#include "train/LinearOp.h"

namespace lowbit::train {

namespace {
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
}  // namespace

LinearOp::LinearOp(Device &dev, int64_t n, int64_t k, int64_t m, bool bias) : dev_(dev), bias_(bias), m_(m) {
  const dnnl::memory::desc x({n, k}, dt::f32, tag::nc), w({m, k}, dt::f32, tag::oi), y({n, m}, dt::f32, tag::nc);
  const dnnl::memory::desc b = bias ? dnnl::memory::desc({m}, dt::f32, tag::x) : dnnl::memory::desc();
  fwd_ = dnnlapi::innerProductForward(dev.engine, dnnl::prop_kind::forward_training, x, w, b, y);
  bwdData_ = dnnlapi::innerProductBackwardData(dev.engine, x, w, y, fwd_);
  bwdWeights_ = dnnlapi::innerProductBackwardWeights(dev.engine, x, w, b, y, fwd_);
}

dnnl::memory LinearOp::view(const dnnl::memory::desc &md, const Tensor &t) const {
  LOWBIT_CHECK(t.dtype() == DType::Float32 && t.byteSize() == md.get_size(), "LinearOp: operand size differs");
  return dnnl::memory(md, dev_.engine, const_cast<void *>(t.raw()));
}

void LinearOp::forward(const Tensor &x, const Tensor &w, const Tensor *b, Tensor &y) {
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, view(fwd_.src_desc(), x)},
                                                {DNNL_ARG_WEIGHTS, view(fwd_.weights_desc(), w)},
                                                {DNNL_ARG_DST, view(fwd_.dst_desc(), y)}};
  if (bias_) args[DNNL_ARG_BIAS] = view(fwd_.bias_desc(), *b);
  dnnl::inner_product_forward(fwd_).execute(dev_.stream, args);
  dev_.stream.wait();
}

void LinearOp::backward(const Tensor &x, const Tensor &w, const Tensor &dy, Tensor *dx, Tensor *dw, Tensor *db) {
  if (dx)
    dnnl::inner_product_backward_data(bwdData_).execute(
        dev_.stream, {{DNNL_ARG_DIFF_DST, view(bwdData_.diff_dst_desc(), dy)},
                      {DNNL_ARG_WEIGHTS, view(bwdData_.weights_desc(), w)},
                      {DNNL_ARG_DIFF_SRC, view(bwdData_.diff_src_desc(), *dx)}});
  if (dw) {
    Tensor scratch;
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, view(bwdWeights_.src_desc(), x)},
                                                  {DNNL_ARG_DIFF_DST, view(bwdWeights_.diff_dst_desc(), dy)},
                                                  {DNNL_ARG_DIFF_WEIGHTS, view(bwdWeights_.diff_weights_desc(), *dw)}};
    if (bias_) {
      if (!db) scratch = Tensor(DType::Float32, {m_});
      args[DNNL_ARG_DIFF_BIAS] = view(bwdWeights_.diff_bias_desc(), db ? *db : scratch);
    }
    dnnl::inner_product_backward_weights(bwdWeights_).execute(dev_.stream, args);
  }
  dev_.stream.wait();
}

}  // namespace lowbit::train
