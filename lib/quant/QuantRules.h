// The quantization rules every pass, runner and trainer asks: which nodes are weight layers,
// which of them get quantized weights, along which axis their scales run (weightOutputAxis in
// ops/OpParams), and the scale of a clipped range. Rounding itself is kernels/QuantizeRef.h.
#pragma once

#include <algorithm>
#include <cmath>

#include "ir/Node.h"
#include "ir/QuantParams.h"
#include "ir/Tensor.h"
#include "kernels/QuantizeRef.h"
#include "ops/OpParams.h"
#include "ops/OpTable.h"

namespace lowbit {

/// Conv, Gemm or MatMul: a layer with weights (input 1), the unit blocks and budgets count.
inline bool isWeightLayer(const Node &n) {
  return n.opType() == "Conv" || n.opType() == "Gemm" || n.opType() == "MatMul";
}

/// A weight layer whose weight is a constant: its weights are quantized.
inline bool isQuantizableLayer(const Node &n) { return isWeightLayer(n) && n.input(1) && n.input(1)->isConstant(); }

/// The code range of \p p: [qmin, qmax] of its bits and sign, narrow if asked.
inline QuantRange codeRange(const QuantParams &p) { return quantRange(p.bits, p.isSigned, p.narrowRange); }

/// The code of \p x under \p p with channel \p c's scale and zero point: uniform rounding, the
/// nearest power-of-two level for Scheme::PowerOfTwo, the nearest odd level for Scheme::MidRise
/// (kernels/QuantizeRef.h all).
inline int32_t quantizeCode(float x, const QuantParams &p, size_t c) {
  switch (p.scheme) {
    case QuantParams::Scheme::PowerOfTwo: return quantizePowerOfTwo(x, p.scale[c], potMaxExponent(p.bits));
    case QuantParams::Scheme::MidRise: return quantizeMidRise(x, p.scale[c], midRiseLargestCode(p.bits));
    case QuantParams::Scheme::Uniform: break;
  }
  return quantizeValue(x, p.scale[c], p.zeroPoint[c], codeRange(p));
}

/// A tensor as [outer, channels, inner] around a channel axis, the view per-channel scales
/// index: element (o, c, i) sits at (o * channels + c) * inner + i.
struct ChannelView {
  int64_t outer = 1, channels = 1, inner = 1;
};
/// The view of \p dims around \p axis; axis < 0 is one channel (per-tensor).
inline ChannelView channelView(const Dims &dims, int axis) {
  ChannelView v;
  if (axis < 0) {
    v.inner = numElements(dims);
    return v;
  }
  for (int i = 0; i < axis; ++i) v.outer *= dims[static_cast<size_t>(i)];
  v.channels = dims[static_cast<size_t>(axis)];
  for (size_t i = static_cast<size_t>(axis) + 1; i < dims.size(); ++i) v.inner *= dims[i];
  return v;
}
/// The view \p p quantizes a tensor of \p dims in: per tensor one channel, else along p.axis.
inline ChannelView channelView(const Dims &dims, const QuantParams &p) {
  return channelView(dims, p.granularity == QuantParams::Granularity::PerTensor ? -1 : p.axis);
}

/// The largest code magnitude of \p p: qmax, 2^maxExponent for power-of-two levels, 2^b - 1
/// for mid-rise ones.
inline float largestCode(const QuantParams &p) {
  switch (p.scheme) {
    case QuantParams::Scheme::PowerOfTwo: return static_cast<float>(1 << potMaxExponent(p.bits));
    case QuantParams::Scheme::MidRise: return static_cast<float>(midRiseLargestCode(p.bits));
    case QuantParams::Scheme::Uniform: break;
  }
  return static_cast<float>(codeRange(p).qmax);
}
/// The widest weight codes \p scheme takes (8, or fewer where its codes would overflow int8).
inline int maxSchemeBits(QuantParams::Scheme scheme) {
  return scheme == QuantParams::Scheme::PowerOfTwo ? kMaxPowerOfTwoBits
         : scheme == QuantParams::Scheme::MidRise  ? kMaxMidRiseBits
                                                   : 8;
}

/// The scale that maps a clip bound onto the largest code: clip / qmax. A clip of 0 (an
/// all-zero unit or a constant-zero tensor) gets scale 1, so every code is 0 and no scale is
/// 0, inf or NaN.
inline float scaleForClip(float clip, float largestCode) { return clip > 0.f ? clip / largestCode : 1.f; }
inline float scaleForClip(float clip, const QuantRange &r) { return scaleForClip(clip, static_cast<float>(r.qmax)); }

/// The Concat output \p x is selected from through ops that only move or select elements
/// (Slice, Reshape, Transpose, Flatten, Squeeze, Unsqueeze: each element of x is one of the
/// Concat's, unchanged), or null. With --share-concat-scales x takes that output's quantizer,
/// so codes flow from the layers before the Concat to those after it.
inline Value *concatSourceOf(const Value *x) {
  for (const Value *v = x; v && !v->isConstant();) {
    const Node *p = v->producer();
    if (!p) return nullptr;
    if (p->opType() == "Concat") return v == x ? nullptr : p->output(0);
    const OpInfo *info = p->domain().empty() ? findOp(p->opType()) : nullptr;
    if (!info || info->int8 != Int8Role::CodesPassThrough || p->opType() == "MaxPool" || p->opType() == "Pad")
      return nullptr;
    v = p->input(0);
  }
  return nullptr;
}

/// Asymmetric codes of \p bits over [lo, hi] (widened to hold 0, so zero is exact): unsigned,
/// scale = (hi - lo) / (2^bits - 1), zero point = the code of 0. An empty range gets scale 1.
inline void setAsymmetric(QuantParams &p, float lo, float hi) {
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  const QuantRange r = quantRange(p.bits, false, false);
  p.isSigned = false;
  p.scale = {hi > lo ? (hi - lo) / static_cast<float>(r.qmax - r.qmin) : 1.f};
  p.zeroPoint = {std::clamp(static_cast<int32_t>(std::nearbyint(-lo / p.scale[0])) + r.qmin, r.qmin, r.qmax)};
}

}  // namespace lowbit
