// Relu and Clip (ReLU6, PACT's clip with a fixed bound) with the input gradient, on oneDNN's
// eltwise forward_training and eltwise backward (which reads the forward input). Clip's
// gradient passes at the bounds themselves, as PyTorch's clamp does (oneDNN's stops at the
// lower one): an input clipped to its calibrated range has pixels exactly on the bound, and an
// attack must move them as PyTorch would.
#pragma once

#include "train/TrainOp.h"

namespace lowbit::train {

class ActivationOp {
 public:
  /// Relu when \p lo == 0 and \p hi is infinite, else clip(x, lo, hi).
  ActivationOp(Device &dev, const Dims &dims, float lo, float hi);
  void forward(const Tensor &x, Tensor &y);
  void backward(const Tensor &x, const Tensor &dy, Tensor &dx);

 private:
  Device &dev_;
  bool relu_;
  float lo_, hi_;
  dnnl::eltwise_forward::primitive_desc fwd_;
  dnnl::eltwise_backward::primitive_desc bwd_;
};

}  // namespace lowbit::train
