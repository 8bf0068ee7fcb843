#include "train/FakeQuantOp.h"

#include <algorithm>
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

namespace {
// Elementwise work is cut into pieces of at most kPiece elements inside one (outer, channel)
// row, so a per-tensor activation spreads over the threads as well as a per-channel weight.
// Sums are kept per piece and added in piece order: the same result for any thread count.
constexpr int64_t kPiece = 1 << 12;
struct Pieces {
  int64_t perRow, count, inner;
  /// Piece \p p's row and element range [begin, end).
  int64_t row(int64_t p) const { return p / perRow; }
  int64_t begin(int64_t p) const { return row(p) * inner + (p % perRow) * kPiece; }
  int64_t end(int64_t p) const { return std::min(begin(p) + kPiece, (row(p) + 1) * inner); }
};
Pieces pieces(const ChannelView &v) {
  const int64_t perRow = std::max<int64_t>(1, (v.inner + kPiece - 1) / kPiece);
  return {perRow, v.outer * v.channels * perRow, v.inner};
}

// FakeQuantOp::backward on uniform levels over elements [begin, end) of one step \p sc: dx
// (written, or added in with kAdd) passes dy inside the code range; returns the sum of dy times
// the step's local gradient, q - x/s inside and the bound outside. Branch-free, so it
// vectorizes. The sum is in double (in SIMD lanes): far below float's resolution, so the
// step gradients, and a whole fine-tune, come out as a sequential sum gives them.
template <bool kOut, bool kAdd>
double uniformPiece(const float *in, const float *g, float *out, int64_t begin, int64_t end, float sc, float qmin,
                    float qmax) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = begin; i < end; ++i) {
    const float x = in[i], dy = g[i], r = x / sc;
    const bool outside = (r < qmin) | (r > qmax);
    const float q = roundedCodeOffset(x, sc, qmin, qmax);  // the bound when outside
    if constexpr (kOut) {
      const float pass = outside ? 0.f : dy;
      if constexpr (kAdd)
        out[i] += pass;
      else
        out[i] = pass;
    }
    sum += static_cast<double>(dy) * (outside ? q : q - r);
  }
  return sum;
}
}  // namespace

void FakeQuantOp::forward(const Tensor &x, const Tensor &step, Tensor &y) const {
  const ChannelView v = channelView(x.dims(), axis_);
  LOWBIT_CHECK(step.numel() == v.channels, "one step per channel");
  const float *in = x.data<float>(), *s = step.data<float>();
  float *out = y.data<float>();
  const Pieces pc = pieces(v);
  const float lo = static_cast<float>(range_.qmin), hi = static_cast<float>(range_.qmax);
  const bool uniform = scheme_ == QuantParams::Scheme::Uniform;
#pragma omp parallel for if (x.numel() > kParallelElements) schedule(static)
  for (int64_t p = 0; p < pc.count; ++p) {
    const float sc = s[pc.row(p) % v.channels];
    const int64_t begin = pc.begin(p), end = pc.end(p);
    if (uniform)  // dequantizeValue(quantizeValue(x)) with the code kept in float: it vectorizes
      for (int64_t i = begin; i < end; ++i) out[i] = roundedCodeOffset(in[i], sc, lo, hi) * sc;
    else
      for (int64_t i = begin; i < end; ++i) out[i] = dequantizeValue(code(in[i], sc), sc, 0);
  }
}

void FakeQuantOp::backward(const Tensor &x, const Tensor &step, const Tensor &dy, Tensor *dx, Tensor *dstep,
                           bool addToDx) const {
  const ChannelView v = channelView(x.dims(), axis_);
  const float *in = x.data<float>(), *s = step.data<float>(), *g = dy.data<float>();
  const float qmin = static_cast<float>(range_.qmin), qmax = static_cast<float>(range_.qmax);
  float *out = dx ? dx->data<float>() : nullptr;
  const Pieces pc = pieces(v);
  const bool uniform = scheme_ == QuantParams::Scheme::Uniform;
  std::vector<double> partial(static_cast<size_t>(pc.count), 0.0);
#pragma omp parallel for if (x.numel() > kParallelElements) schedule(static)
  for (int64_t p = 0; p < pc.count; ++p) {
    const float sc = s[pc.row(p) % v.channels];
    const int64_t begin = pc.begin(p), end = pc.end(p);
    double sum = 0;
    if (!uniform) {
      for (int64_t i = begin; i < end; ++i) {
        const float r = in[i] / sc;
        const bool below = r < qmin, above = r > qmax;
        const float pass = below || above ? 0.f : g[i];
        if (out) out[i] = addToDx ? out[i] + pass : pass;
        sum += static_cast<double>(g[i]) * (below ? qmin : above ? qmax : code(in[i], sc) - r);
      }
    } else if (!out) {
      sum = uniformPiece<false, false>(in, g, out, begin, end, sc, qmin, qmax);
    } else {
      sum = addToDx ? uniformPiece<true, true>(in, g, out, begin, end, sc, qmin, qmax)
                    : uniformPiece<true, false>(in, g, out, begin, end, sc, qmin, qmax);
    }
    partial[static_cast<size_t>(p)] = sum;
  }
  if (!dstep) return;
  std::vector<double> sums(static_cast<size_t>(v.channels), 0.0);
  for (int64_t p = 0; p < pc.count; ++p) sums[static_cast<size_t>(pc.row(p) % v.channels)] += partial[static_cast<size_t>(p)];
  const double perStep = static_cast<double>(v.outer * v.inner);
  const double scale = gradScale_ ? 1.0 / std::sqrt(perStep * std::max(1.0, static_cast<double>(qmax))) : 1.0;
  for (int64_t c = 0; c < v.channels; ++c)
    dstep->data<float>()[c] = static_cast<float>(sums[static_cast<size_t>(c)] * scale);
}

void PactClipOp::forward(const Tensor &x, const Tensor &alpha, Tensor &y) const {
  const float a = alpha.data<float>()[0];
  const float *in = x.data<float>();
  float *out = y.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = std::min(std::max(in[i], 0.f), a);
}

void PactClipOp::backward(const Tensor &x, const Tensor &alpha, const Tensor &dy, Tensor *dx, Tensor *dalpha,
                          bool addToDx) const {
  const float a = alpha.data<float>()[0];
  const float *in = x.data<float>(), *g = dy.data<float>();
  float *out = dx ? dx->data<float>() : nullptr;
  const Pieces pc = pieces(channelView(x.dims(), -1));
  std::vector<double> partial(static_cast<size_t>(pc.count), 0.0);
#pragma omp parallel for if (x.numel() > kParallelElements) schedule(static)
  for (int64_t p = 0; p < pc.count; ++p) {
    double sum = 0;
    for (int64_t i = pc.begin(p); i < pc.end(p); ++i) {
      const float pass = in[i] > 0.f && in[i] < a ? g[i] : 0.f;
      if (out) out[i] = addToDx ? out[i] + pass : pass;
      if (in[i] >= a) sum += g[i];
    }
    partial[static_cast<size_t>(p)] = sum;
  }
  double sum = 0;
  for (double d : partial) sum += d;
  if (dalpha) dalpha->data<float>()[0] = static_cast<float>(sum);
}

}  // namespace lowbit::train
