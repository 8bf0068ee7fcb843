#include "train/FakeQuantOp.h"

#include <cmath>
#include <vector>

#include "quant/QuantRules.h"

namespace lowbit::train {

FakeQuantOp FakeQuantOp::forWeights(const QuantParams &p, int axis) {
  const int32_t largest = static_cast<int32_t>(largestCode(p));
  FakeQuantOp op(p.scheme == QuantParams::Scheme::Uniform ? codeRange(p) : QuantRange{-largest, largest}, axis);
  op.scheme_ = p.scheme;
  op.bits_ = p.bits;
  return op;
}

int32_t FakeQuantOp::code(float x, float step) const {
  switch (scheme_) {
    case QuantParams::Scheme::PowerOfTwo: return quantizePowerOfTwo(x, step, potMaxExponent(bits_));
    case QuantParams::Scheme::MidRise: return quantizeMidRise(x, step, range_.qmax);
    case QuantParams::Scheme::Uniform: break;
  }
  return quantizeValue(x, step, 0, range_);
}

void FakeQuantOp::forward(const Tensor &x, const Tensor &step, Tensor &y) const {
  const ChannelView v = channelView(x.dims(), axis_);
  LOWBIT_CHECK(step.numel() == v.channels, "one step per channel");
  const float *in = x.data<float>(), *s = step.data<float>();
  float *out = y.data<float>();
#pragma omp parallel for collapse(2) if (x.numel() > (1 << 15)) schedule(static)
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t c = 0; c < v.channels; ++c) {
      const int64_t base = (o * v.channels + c) * v.inner;
      for (int64_t i = 0; i < v.inner; ++i)
        out[base + i] = dequantizeValue(code(in[base + i], s[c]), s[c], 0);
    }
}

void FakeQuantOp::backward(const Tensor &x, const Tensor &step, const Tensor &dy, Tensor *dx, Tensor *dstep) const {
  const ChannelView v = channelView(x.dims(), axis_);
  const float *in = x.data<float>(), *s = step.data<float>(), *g = dy.data<float>();
  const float qmin = static_cast<float>(range_.qmin), qmax = static_cast<float>(range_.qmax);
  std::vector<double> sums(static_cast<size_t>(v.channels), 0.0);
  float *out = dx ? dx->data<float>() : nullptr;
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t c = 0; c < v.channels; ++c) {
      const int64_t base = (o * v.channels + c) * v.inner;
      double sum = 0;
      for (int64_t i = 0; i < v.inner; ++i) {
        const float r = in[base + i] / s[c];
        const bool below = r < qmin, above = r > qmax;
        if (out) out[base + i] = below || above ? 0.f : g[base + i];
        const float local = below ? qmin : above ? qmax : static_cast<float>(code(in[base + i], s[c])) - r;
        sum += static_cast<double>(g[base + i]) * local;
      }
      sums[static_cast<size_t>(c)] += sum;
    }
  if (!dstep) return;
  const double perStep = static_cast<double>(v.outer * v.inner);
  const double scale = gradScale_ ? 1.0 / std::sqrt(perStep * std::max(1.0, static_cast<double>(qmax))) : 1.0;
  for (int64_t c = 0; c < v.channels; ++c)
    dstep->data<float>()[c] = static_cast<float>(sums[static_cast<size_t>(c)] * scale);
}

void PactClipOp::forward(const Tensor &x, const Tensor &alpha, Tensor &y) const {
  const float a = alpha.data<float>()[0];
  const float *in = x.data<float>();
  float *out = y.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = std::min(std::max(in[i], 0.f), a);
}

void PactClipOp::backward(const Tensor &x, const Tensor &alpha, const Tensor &dy, Tensor *dx, Tensor *dalpha) const {
  const float a = alpha.data<float>()[0];
  const float *in = x.data<float>(), *g = dy.data<float>();
  double sum = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (dx) dx->data<float>()[i] = in[i] > 0.f && in[i] < a ? g[i] : 0.f;
    if (in[i] >= a) sum += g[i];
  }
  if (dalpha) dalpha->data<float>()[0] = static_cast<float>(sum);
}

}  // namespace lowbit::train
