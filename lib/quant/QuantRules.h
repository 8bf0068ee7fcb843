// The quantization rules every pass, runner and trainer asks: which nodes are weight layers,
// which of them get quantized weights, along which axis their scales run (weightOutputAxis in
// ops/OpParams), and the scale of a clipped range. Rounding itself is kernels/QuantizeRef.h.
#pragma once

#include "ir/Node.h"
#include "kernels/QuantizeRef.h"
#include "ops/OpParams.h"

namespace lowbit {

/// Conv, Gemm or MatMul: a layer with weights (input 1), the unit blocks and budgets count.
inline bool isWeightLayer(const Node &n) {
  return n.opType() == "Conv" || n.opType() == "Gemm" || n.opType() == "MatMul";
}

/// A weight layer whose weight is a constant: its weights are quantized.
inline bool isQuantizableLayer(const Node &n) { return isWeightLayer(n) && n.input(1) && n.input(1)->isConstant(); }

/// The scale that maps a clip bound onto the largest code: clip / qmax. A clip of 0 (an
/// all-zero unit or a constant-zero tensor) gets scale 1, so every code is 0 and no scale is
/// 0, inf or NaN.
inline float scaleForClip(float clip, const QuantRange &r) {
  return clip > 0.f ? clip / static_cast<float>(r.qmax) : 1.f;
}

}  // namespace lowbit
