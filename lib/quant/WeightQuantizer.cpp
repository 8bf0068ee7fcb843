#include "quant/WeightQuantizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/QuantizeRef.h"
#include "quant/QuantRules.h"

namespace lowbit {

namespace {
std::string granularityName(QuantParams::Granularity g, int groups) {
  switch (g) {
    case QuantParams::Granularity::PerTensor: return "layer";
    case QuantParams::Granularity::PerChannel: return "channel";
    case QuantParams::Granularity::PerGroup: return "group:" + std::to_string(groups);
  }
  return "?";
}
}  // namespace

std::string granularityName(const QuantParams &p) { return granularityName(p.granularity, p.groups); }
std::string granularityName(const WeightQuantConfig &c) { return granularityName(c.granularity, c.groups); }
QuantParams::Scheme parseWeightScheme(const std::string &name) {
  if (name == "uniform") return QuantParams::Scheme::Uniform;
  if (name == "pot") return QuantParams::Scheme::PowerOfTwo;
  if (name == "midrise") return QuantParams::Scheme::MidRise;
  throw Error(cat("unknown weight scheme '", name, "' (uniform, pot, midrise)"));
}

const char *weightSchemeName(QuantParams::Scheme s) {
  switch (s) {
    case QuantParams::Scheme::PowerOfTwo: return "pot";
    case QuantParams::Scheme::MidRise: return "midrise";
    case QuantParams::Scheme::Uniform: break;
  }
  return "uniform";
}

namespace {

// Clip threshold for the weights of one unit (a set of channels) given as a gather list; \p p
// says the levels (its scale entry 0 is used as scratch).
float chooseClip(const std::vector<float> &values, float absMax, QuantParams p, WeightQuantConfig::Observer obs) {
  if (obs == WeightQuantConfig::Observer::MinMax || absMax == 0.f) return absMax;
  // Grid search of the clip ratio: 161 candidates from 1.0 down to 0.2.
  float best = absMax;
  double bestErr = std::numeric_limits<double>::infinity();
  p.scale = {1.f};
  p.zeroPoint = {0};
  for (int i = 0; i <= 160; ++i) {
    float clip = absMax * (1.f - 0.005f * static_cast<float>(i));
    p.scale[0] = clip / largestCode(p);
    double err = 0;
    for (float v : values) {
      double d = v - dequantizeValue(quantizeCode(v, p, 0), p.scale[0], 0);
      err += d * d;
    }
    if (err < bestErr) {
      bestErr = err;
      best = clip;
    }
  }
  return best;
}

}  // namespace

QuantParams computeWeightParams(const Tensor &w, int axis, const WeightQuantConfig &cfg,
                                std::vector<int> *degenerate) {
  if (cfg.bits < 2 || cfg.bits > 8) throw Error(cat("weight bit width ", cfg.bits, " is outside 2..8"));
  if (cfg.bits > maxSchemeBits(cfg.scheme))
    throw Error(cat(weightSchemeName(cfg.scheme), " weights take 2..", maxSchemeBits(cfg.scheme),
                    " bits (wider codes would overflow an int8), got ", cfg.bits));
  const std::vector<float> data = w.toFloats();
  QuantParams p;
  p.granularity = cfg.granularity;
  p.scheme = cfg.scheme;
  p.bits = cfg.bits;
  p.isSigned = true;
  p.narrowRange = true;
  p.state = QuantParams::State::Calibrated;

  if (cfg.granularity != QuantParams::Granularity::PerTensor) p.axis = axis;
  const ChannelView view = channelView(w.dims(), p);
  struct {
    size_t outer, channels, inner;
  } v{static_cast<size_t>(view.outer), static_cast<size_t>(view.channels), static_cast<size_t>(view.inner)};
  // Unit of each channel: itself (per channel), 0 (per tensor) or its group.
  std::vector<int32_t> unitOf(v.channels);
  int units = static_cast<int>(v.channels);
  std::vector<float> channelMax(v.channels, 0.f);
  for (size_t o = 0; o < v.outer; ++o)
    for (size_t c = 0; c < v.channels; ++c)
      for (size_t i = 0; i < v.inner; ++i)
        channelMax[c] = std::max(channelMax[c], std::fabs(data[(o * v.channels + c) * v.inner + i]));
  if (cfg.granularity == QuantParams::Granularity::PerGroup) {
    const int g = cfg.groups;
    if (g < 1 || static_cast<size_t>(g) > v.channels)
      throw Error(cat("group-wise quantization with ", g, " groups needs 1..", v.channels,
                      " groups for a weight with ", v.channels, " output channels"));
    std::vector<size_t> order(v.channels);
    std::iota(order.begin(), order.end(), size_t{0});
    if (cfg.groupOrder == WeightQuantConfig::GroupOrder::ByRange)
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return channelMax[a] < channelMax[b]; });
    for (size_t k = 0; k < v.channels; ++k)  // k-th channel in order goes to group floor(k*G/C)
      unitOf[order[k]] = static_cast<int32_t>(k * static_cast<size_t>(g) / v.channels);
    units = g;
    p.groups = g;
    p.groupOf = unitOf;
  } else {
    std::iota(unitOf.begin(), unitOf.end(), 0);
  }
  if (cfg.granularity == QuantParams::Granularity::PerTensor) units = 1;

  std::vector<std::vector<float>> unitValues(static_cast<size_t>(units));
  std::vector<float> unitMax(static_cast<size_t>(units), 0.f);
  for (size_t o = 0; o < v.outer; ++o)
    for (size_t c = 0; c < v.channels; ++c) {
      size_t u = static_cast<size_t>(unitOf[c]);
      unitMax[u] = std::max(unitMax[u], channelMax[c]);
      if (cfg.observer == WeightQuantConfig::Observer::Mse)
        unitValues[u].insert(unitValues[u].end(), data.begin() + static_cast<long>((o * v.channels + c) * v.inner),
                             data.begin() + static_cast<long>((o * v.channels + c + 1) * v.inner));
    }
  std::vector<float> unitScale(static_cast<size_t>(units));
  for (size_t u = 0; u < unitScale.size(); ++u) {
    float clip = chooseClip(unitValues[u], unitMax[u], p, cfg.observer);
    unitScale[u] = scaleForClip(clip, largestCode(p));
    if (clip == 0.f && degenerate) degenerate->push_back(static_cast<int>(u));
  }
  if (cfg.granularity == QuantParams::Granularity::PerTensor) {
    p.scale = {unitScale[0]};
  } else {
    for (size_t c = 0; c < v.channels; ++c) p.scale.push_back(unitScale[static_cast<size_t>(unitOf[c])]);
  }
  p.zeroPoint.assign(p.scale.size(), 0);
  return p;
}

Tensor fakeQuantizeWeights(const Tensor &w, const QuantParams &p) {
  std::vector<float> data = w.toFloats(), out(data.size());
  const QuantRange r = quantRange(p.bits, p.isSigned, p.narrowRange);
  if (p.scheme != QuantParams::Scheme::Uniform) {
    const ChannelView v = channelView(w.dims(), p);
    LOWBIT_CHECK(static_cast<int64_t>(p.scale.size()) == v.channels, "one scale per channel expected");
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t c = 0; c < v.channels; ++c)
        for (int64_t i = 0; i < v.inner; ++i) {
          const size_t at = static_cast<size_t>((o * v.channels + c) * v.inner + i);
          out[at] = dequantizeValue(quantizeCode(data[at], p, static_cast<size_t>(c)), p.scale[static_cast<size_t>(c)], 0);
        }
  } else if (p.granularity == QuantParams::Granularity::PerTensor) {
    fakeQuantize(data.data(), out.data(), data.size(), p.scale[0], p.zeroPoint[0], r);
  } else {
    const ChannelView v = channelView(w.dims(), p);
    LOWBIT_CHECK(static_cast<int64_t>(p.scale.size()) == v.channels, "one scale per channel expected");
    fakeQuantizePerChannel(data.data(), out.data(), static_cast<size_t>(v.outer), static_cast<size_t>(v.channels),
                           static_cast<size_t>(v.inner), p.scale.data(), p.zeroPoint.data(), r);
  }
  return Tensor::fromVector<float>(w.dims(), out);
}

double sqnrDb(const float *ref, const float *approx, size_t n) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    signal += static_cast<double>(ref[i]) * ref[i];
    double d = static_cast<double>(ref[i]) - approx[i];
    noise += d * d;
  }
  if (noise == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

}  // namespace lowbit
