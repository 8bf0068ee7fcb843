// Fake quantization for training: the forward pass quantizes and dequantizes with the ONNX
// rounding of kernels/QuantizeRef.h; the backward pass uses the straight-through estimator
// for the input and LSQ's gradient (Esser et al., "Learned Step Size Quantization") for the
// step sizes, per tensor or per channel. PactClipOp is PACT's learnable activation clip.
#pragma once

#include "ir/QuantParams.h"
#include "kernels/QuantizeRef.h"
#include "train/TrainOp.h"

namespace lowbit::train {

class FakeQuantOp {
 public:
  /// \p axis: the channel axis of per-channel steps (0 for OIHW weights), or -1 for one step.
  /// \p gradScale: multiply the step gradient by LSQ's 1/sqrt(elements per step * qmax).
  FakeQuantOp(QuantRange range, int axis, bool gradScale = true) : range_(range), axis_(axis), gradScale_(gradScale) {}
  /// The weight quantizer of \p p's scheme and bits (zero point 0): uniform levels over its
  /// code range, power-of-two levels 0, +-2^j (quantizePowerOfTwo), or mid-rise odd levels
  /// (quantizeMidRise). For the last two the input gradient passes inside +-largestCode steps
  /// and the step gradient is LSQ's with Q(x/s) - x/s in place of round(x/s) - x/s.
  static FakeQuantOp forWeights(const QuantParams &p, int axis);

  /// y = clamp(round(x / s), qmin, qmax) * s with s = step[c] (symmetric: zero point 0).
  void forward(const Tensor &x, const Tensor &step, Tensor &y) const;
  /// dx = dy where qmin <= x/s <= qmax, 0 outside (straight-through);
  /// dstep[c] = g * sum over channel c of dy * (round(x/s) - x/s) inside, dy * qmin or
  /// dy * qmax outside. Either output may be null. Overwrites dstep, and dx unless \p addToDx
  /// (then adds into it: the gradient slot of the layer's input, no temporary).
  void backward(const Tensor &x, const Tensor &step, const Tensor &dy, Tensor *dx, Tensor *dstep,
                bool addToDx = false) const;

 private:
  int32_t code(float x, float step) const;
  QuantRange range_;
  int axis_;
  bool gradScale_;
  QuantParams::Scheme scheme_ = QuantParams::Scheme::Uniform;
  int bits_ = 8;  // the non-uniform schemes' bits
};

class PactClipOp {
 public:
  /// y = clamp(x, 0, alpha), alpha a one-element tensor.
  void forward(const Tensor &x, const Tensor &alpha, Tensor &y) const;
  /// dx = dy where 0 < x < alpha (added into dx if \p addToDx); dalpha = sum of dy where x >= alpha.
  void backward(const Tensor &x, const Tensor &alpha, const Tensor &dy, Tensor *dx, Tensor *dalpha,
                bool addToDx = false) const;
};

}  // namespace lowbit::train
