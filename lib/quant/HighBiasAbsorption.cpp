#include "quant/HighBiasAbsorption.h"

#include <algorithm>
#include <limits>

#include "support/Error.h"
#include "support/Strings.h"

namespace lowbit {

std::vector<float> absorptionBound(const ChannelStatistics &y) {
  const std::vector<double> mean = y.means(), sd = y.stddevs();
  std::vector<float> bound(y.channels(), 0.f);
  for (size_t c = 0; c < bound.size(); ++c)
    bound[c] = std::max({0.f, static_cast<float>(mean[c] - 3.0 * sd[c]), y.minima()[c]});
  return bound;
}

namespace {

// A's or B's bias as floats (zeros when the node has none).
std::vector<float> biasOf(const Node &n, int64_t channels) {
  const Value *b = n.inputs().size() > 2 ? n.input(2) : nullptr;
  if (!b) return std::vector<float>(static_cast<size_t>(channels), 0.f);
  if (!b->isConstant()) throw Error(cat(n.describe(), ": bias is not a constant; cannot absorb a bias into it"));
  return b->constant()->toFloats();
}

void setBias(Graph &g, Node &n, const std::vector<float> &bias, const char *suffix) {
  Value *nb = g.addConstant(g.uniqueName(n.name() + suffix),
                            Tensor::fromVector<float>({static_cast<int64_t>(bias.size())}, bias));
  n.inputs().resize(3);
  n.inputs()[2] = nb;
}

}  // namespace

AbsorbedBias absorbHighBias(Graph &g, const ConvChain &chain, const std::vector<float> &bound) {
  LOWBIT_CHECK(chain.relu != nullptr, "high-bias absorption needs a Relu between the convolutions");
  Node &a = *chain.first, &b = *chain.second;
  const Tensor &wb = *b.input(1)->constant();
  const int64_t channels = a.input(1)->dims()[0];
  if (static_cast<int64_t>(bound.size()) != channels)
    throw Error(cat(a.describe(), ": ", bound.size(), " channel bounds for ", channels, " output channels"));
  const bool depthwise = b.attrInt("group", 1) > 1;
  const int64_t outB = wb.dims()[0], inB = wb.dims()[1], kernel = wb.numel() / (outB * inB);
  if ((depthwise ? outB : inB) != channels)
    throw Error(cat(b.describe(), ": reads ", depthwise ? outB : inB, " channels, ", a.describe(), " writes ", channels));

  AbsorbedBias result{a.name(), b.name(), 0, 0.f};
  std::vector<float> shift(static_cast<size_t>(channels), 0.f);
  for (size_t c = 0; c < shift.size(); ++c)
    if (bound[c] > 0.f && bound[c] < std::numeric_limits<float>::infinity()) {
      shift[c] = bound[c];
      ++result.channels;
      result.maxShift = std::max(result.maxShift, bound[c]);
    }
  if (result.channels == 0) return result;

  std::vector<float> biasA = biasOf(a, channels), biasB = biasOf(b, outB);
  for (size_t c = 0; c < shift.size(); ++c) biasA[c] -= shift[c];
  const std::vector<float> w = wb.toFloats();
  for (int64_t o = 0; o < outB; ++o) {
    double add = 0;
    for (int64_t ci = 0; ci < inB; ++ci) {
      const float m = shift[static_cast<size_t>(depthwise ? o : ci)];
      if (m == 0.f) continue;
      double sum = 0;
      for (int64_t k = 0; k < kernel; ++k) sum += w[static_cast<size_t>((o * inB + ci) * kernel + k)];
      add += sum * m;
    }
    biasB[static_cast<size_t>(o)] += static_cast<float>(add);
  }
  setBias(g, a, biasA, "_bias_absorbed");
  setBias(g, b, biasB, "_bias_absorbed");
  return result;
}

}  // namespace lowbit
