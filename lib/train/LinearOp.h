// y = x W^T + b (Gemm with transB, the classifier head) with gradients for x, W and b, on
// oneDNN's inner product forward_training / backward_data / backward_weights primitives.
#pragma once

#include "train/TrainOp.h"

namespace lowbit::train {

class LinearOp {
 public:
  /// x [N, K], W [M, K], y [N, M]. Operands are viewed in these shapes whatever their own dims
  /// (MatMul passes [..., K] activations): only their element counts must agree.
  LinearOp(Device &dev, int64_t n, int64_t k, int64_t m, bool bias);
  void forward(const Tensor &x, const Tensor &w, const Tensor *b, Tensor &y);
  void backward(const Tensor &x, const Tensor &w, const Tensor &dy, Tensor *dx, Tensor *dw, Tensor *db);

 private:
  dnnl::memory view(const dnnl::memory::desc &md, const Tensor &t) const;
  Device &dev_;
  bool bias_;
  int64_t m_;
  dnnl::inner_product_forward::primitive_desc fwd_;
  dnnl::inner_product_backward_data::primitive_desc bwdData_;
  dnnl::inner_product_backward_weights::primitive_desc bwdWeights_;
};

}  // namespace lowbit::train
