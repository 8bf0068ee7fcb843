// Convolution (grouped and depthwise included) with gradients for input, weights and bias,
// on oneDNN's convolution forward_training / backward_data / backward_weights primitives, each
// in the layouts oneDNN picks for it (blocked ones run its direct jit kernels; on plain NCHW
// a depthwise backward_weights falls to a per-group GEMM 100x slower), the plain tensors of the
// training engine reordered in and out around it.
#pragma once

#include "ir/Tensor.h"
#include "train/TrainOp.h"

namespace lowbit::train {

struct ConvGeometry {
  Dims strides, padsBegin, padsEnd, dilations;  ///< dilations as ONNX counts them (1 = dense)
  int64_t groups = 1;
};

class Conv2dOp {
 public:
  /// \p xDims NCHW, \p wDims OIHW with I = C / groups; \p yDims NCHW.
  Conv2dOp(Device &dev, const Dims &xDims, const Dims &wDims, const Dims &yDims, bool bias, const ConvGeometry &g);

  /// y = conv(x, w) + b (\p b may be null).
  void forward(const Tensor &x, const Tensor &w, const Tensor *b, Tensor &y);
  /// From dL/dy: dL/dx (if \p dx), dL/dw and dL/db (if given). Overwrites the outputs, except
  /// that dL/dx is added into \p dx when \p addToDx.
  void backward(const Tensor &x, const Tensor &w, const Tensor &dy, Tensor *dx, Tensor *dw, Tensor *db,
                bool addToDx = false);

 private:
  Device &dev_;
  Dims wDims_;  // as oneDNN sees them (grouped: G, O/G, I, H, W)
  bool bias_;
  dnnl::convolution_forward::primitive_desc fwd_;
  dnnl::convolution_backward_data::primitive_desc bwdData_;
  dnnl::convolution_backward_weights::primitive_desc bwdWeights_;
  // Each primitive's arguments in the layouts oneDNN picked for it.
  Staging fwdX_, fwdW_, fwdY_, dataDy_, dataW_, dataDx_, weightsX_, weightsDy_, weightsDw_;
  Tensor dxScratch_;  // dL/dx before it is added in, when oneDNN writes it plain
};

/// Transposed convolution (ONNX ConvTranspose, 2-D) with gradients for input, weights and bias,
/// on oneDNN's deconvolution primitives. Weights in ONNX's layout [C_in, C_out / groups, kH, kW];
/// oneDNN reads them as (groups,) C_out / groups, C_in / groups, kH, kW, so each step copies them
/// across (weights are small beside the activations).
class Deconv2dOp {
 public:
  /// \p g's pads are oneDNN's: the begin pad, and the end pad less the output padding (both >= 0).
  Deconv2dOp(Device &dev, const Dims &xDims, const Dims &wDims, const Dims &yDims, bool bias, const ConvGeometry &g);
  void forward(const Tensor &x, const Tensor &w, const Tensor *b, Tensor &y);
  /// As Conv2dOp::backward.
  void backward(const Tensor &x, const Tensor &w, const Tensor &dy, Tensor *dx, Tensor *dw, Tensor *db,
                bool addToDx = false);

 private:
  void toDnnl(const Tensor &w);  // ONNX layout -> wDnnl_
  Device &dev_;
  Dims wDims_;                   // ONNX's
  Dims dnnlDims_;                // oneDNN's logical weight dims
  std::vector<int64_t> onnxStrides_;  // ONNX's weight read in oneDNN's dim order
  Tensor wDnnl_, dwDnnl_, dxScratch_;
  int64_t groups_;
  bool bias_;
  dnnl::deconvolution_forward::primitive_desc fwd_;
  dnnl::deconvolution_backward_data::primitive_desc bwdData_;
  dnnl::deconvolution_backward_weights::primitive_desc bwdWeights_;
};

}  // namespace lowbit::train
