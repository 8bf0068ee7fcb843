// Max and average pooling (GlobalAveragePool is an average over the whole plane) with the input
// gradient, on oneDNN's pooling forward_training (max keeps its workspace) and backward.
#pragma once

#include "train/TrainOp.h"

namespace lowbit::train {

class PoolOp {
 public:
  enum class Kind { Max, AverageExcludePad, AverageIncludePad };
  PoolOp(Device &dev, Kind kind, const Dims &xDims, const Dims &yDims, const Dims &kernel, const Dims &strides,
         const Dims &padsBegin, const Dims &padsEnd);
  void forward(const Tensor &x, Tensor &y);
  /// dL/dx from dL/dy (max pooling routes it through the workspace of the last forward).
  void backward(const Tensor &dy, Tensor &dx);

 private:
  Device &dev_;
  dnnlapi::PoolingForward::primitive_desc fwd_;
  dnnlapi::PoolingBackward::primitive_desc bwd_;
  dnnl::memory workspace_;
};

}  // namespace lowbit::train
