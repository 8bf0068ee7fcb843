#include "train/PoolOp.h"

#include "kernels/TensorCopy.h"

namespace lowbit::train {

PoolOp::PoolOp(Device &dev, Kind kind, const Dims &xDims, const Dims &yDims, const Dims &kernel, const Dims &strides,
               const Dims &padsBegin, const Dims &padsEnd)
    : dev_(dev) {
  const auto alg = kind == Kind::Max                 ? dnnl::algorithm::pooling_max
                   : kind == Kind::AverageIncludePad ? dnnl::algorithm::pooling_avg_include_padding
                                                     : dnnl::algorithm::pooling_avg_exclude_padding;
  const dnnl::memory::desc x(xDims, dnnl::memory::data_type::f32, contiguousStrides(xDims));
  const dnnl::memory::desc y(yDims, dnnl::memory::data_type::f32, contiguousStrides(yDims));
  const Dims dense(kernel.size(), 0);  // no dilation
  fwd_ = dnnlapi::poolingForward(dev.engine, dnnl::prop_kind::forward_training, alg, x, y, strides, kernel, dense,
                                 padsBegin, padsEnd);
  bwd_ = dnnlapi::poolingBackward(dev.engine, alg, x, y, strides, kernel, dense, padsBegin, padsEnd, fwd_);
  if (kind == Kind::Max) workspace_ = dnnl::memory(fwd_.workspace_desc(), dev.engine);
}

void PoolOp::forward(const Tensor &x, Tensor &y) {
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, viewOf(dev_, x)}, {DNNL_ARG_DST, viewOf(dev_, y)}};
  if (workspace_) args[DNNL_ARG_WORKSPACE] = workspace_;
  dnnlapi::PoolingForward(fwd_).execute(dev_.stream, args);
  dev_.stream.wait();
}

void PoolOp::backward(const Tensor &dy, Tensor &dx) {
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_DIFF_DST, viewOf(dev_, dy)},
                                                {DNNL_ARG_DIFF_SRC, viewOf(dev_, dx)}};
  if (workspace_) args[DNNL_ARG_WORKSPACE] = workspace_;
  dnnlapi::PoolingBackward(bwd_).execute(dev_.stream, args);
  dev_.stream.wait();
}

}  // namespace lowbit::train
