#include "train/ActivationOp.h"

#include <cfloat>
#include <cmath>

#include "kernels/TensorCopy.h"

namespace lowbit::train {

ActivationOp::ActivationOp(Device &dev, const Dims &dims, float lo, float hi)
    : dev_(dev), relu_(lo == 0.f && std::isinf(hi)), lo_(lo), hi_(hi) {
  const auto alg = relu_ ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_clip;
  const float alpha = relu_ ? 0.f : std::max(lo, -FLT_MAX), beta = relu_ ? 0.f : std::min(hi, FLT_MAX);
  const dnnl::memory::desc md(dims, dnnl::memory::data_type::f32, contiguousStrides(dims));
  fwd_ = dnnlapi::eltwiseForward(dev.engine, dnnl::prop_kind::forward_training, alg, md, alpha, beta);
  if (relu_) bwd_ = dnnlapi::eltwiseBackward(dev.engine, alg, md, md, alpha, beta, fwd_);  // Clip's is ours
}

void ActivationOp::forward(const Tensor &x, Tensor &y) {
  dnnl::eltwise_forward(fwd_).execute(dev_.stream, {{DNNL_ARG_SRC, viewOf(dev_, x)}, {DNNL_ARG_DST, viewOf(dev_, y)}});
  dev_.stream.wait();
}

void ActivationOp::backward(const Tensor &x, const Tensor &dy, Tensor &dx) {
  if (!relu_) {
    const float *in = x.data<float>(), *g = dy.data<float>();
    float *out = dx.data<float>();
    const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) out[i] = in[i] >= lo_ && in[i] <= hi_ ? g[i] : 0.f;
    return;
  }
  dnnl::eltwise_backward(bwd_).execute(dev_.stream, {{DNNL_ARG_SRC, viewOf(dev_, x)},
                                                     {DNNL_ARG_DIFF_DST, viewOf(dev_, dy)},
                                                     {DNNL_ARG_DIFF_SRC, viewOf(dev_, dx)}});
  dev_.stream.wait();
}

}  // namespace lowbit::train
