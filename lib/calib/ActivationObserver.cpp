#include "calib/ActivationObserver.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "kernels/QuantizeRef.h"

namespace lowbit {

ActObserverConfig ActObserverConfig::parse(const std::string &text) {
  ActObserverConfig c;
  if (text == "minmax") {
    c.kind = Kind::MinMax;
  } else if (text == "kl" || text == "entropy") {
    c.kind = Kind::KL;
  } else if (text == "mse") {
    c.kind = Kind::Mse;
  } else if (text == "sqnr") {
    c.kind = Kind::Sqnr;
  } else if (text.rfind("percentile", 0) == 0) {
    c.kind = Kind::Percentile;
    if (text.size() > 11 && text[10] == ':') {
      char *end = nullptr;
      c.percentile = std::strtod(text.c_str() + 11, &end);
      if (*end != '\0' || !(c.percentile > 0.0 && c.percentile <= 100.0))
        throw Error(cat("activation observer '", text, "': the percentile must be in (0, 100]"));
    } else if (text.size() != 10) {
      throw Error(cat("unknown activation observer '", text, "' (minmax, percentile:P, kl, mse, sqnr)"));
    }
  } else {
    throw Error(cat("unknown activation observer '", text, "' (minmax, percentile:P, kl, mse, sqnr)"));
  }
  return c;
}

std::string ActObserverConfig::name() const {
  switch (kind) {
    case Kind::MinMax: return "minmax";
    case Kind::Percentile: return cat("percentile:", percentile);
    case Kind::KL: return "kl";
    case Kind::Mse: return "mse";
    case Kind::Sqnr: return "sqnr";
  }
  return "?";
}

const std::vector<ActObserverConfig> &ActObserverConfig::sqnrCandidates() {
  static const std::vector<ActObserverConfig> candidates = [] {
    std::vector<ActObserverConfig> c(5);
    c[0].kind = Kind::MinMax;
    c[1].kind = c[2].kind = Kind::Percentile;
    c[2].percentile = 99.999;
    c[3].kind = Kind::KL;
    c[4].kind = Kind::Mse;
    return c;
  }();
  return candidates;
}

void ActivationObserver::observeRange(const float *x, size_t n) {
  if (n == 0) return;
  float lo = x[0], hi = x[0];
  for (size_t i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  min_ = count_ ? std::min(min_, lo) : lo;
  max_ = count_ ? std::max(max_, hi) : hi;
  count_ += n;
}

float ActivationObserver::absMax() const { return std::max(std::fabs(min_), std::fabs(max_)); }

void ActivationObserver::observeHistogram(const float *x, size_t n) {
  if (hist_.empty()) hist_.assign(kBins, 0.0);
  const float top = absMax();
  if (top == 0.f) {
    zeros_ += static_cast<double>(n);
    return;
  }
  const float perBin = static_cast<float>(kBins) / top;
  for (size_t i = 0; i < n; ++i) {
    // Exact zeros (most ReLU outputs) are represented exactly whatever the clip, so they
    // carry no information about it; in the histogram they would pull KL's threshold down.
    if (x[i] == 0.f) {
      zeros_ += 1.0;
      continue;
    }
    int b = static_cast<int>(std::fabs(x[i]) * perBin);
    hist_[static_cast<size_t>(std::clamp(b, 0, kBins - 1))] += 1.0;
  }
}

int klThresholdBins(const std::vector<double> &hist, int levels) {
  const int bins = static_cast<int>(hist.size());
  if (levels >= bins) return bins;
  int best = bins;
  double bestKl = std::numeric_limits<double>::infinity();
  std::vector<double> p, q;
  for (int i = levels; i <= bins; ++i) {
    p.assign(hist.begin(), hist.begin() + i);
    for (int k = i; k < bins; ++k) p[static_cast<size_t>(i - 1)] += hist[static_cast<size_t>(k)];
    // Q: hist[0:i] merged into `levels` chunks, each chunk's mass spread over its non-zero bins.
    q.assign(static_cast<size_t>(i), 0.0);
    for (int l = 0; l < levels; ++l) {
      const int start = static_cast<int>(static_cast<int64_t>(l) * i / levels);
      const int stop = static_cast<int>(static_cast<int64_t>(l + 1) * i / levels);
      double mass = 0;
      int nonZero = 0;
      for (int k = start; k < stop; ++k) {
        mass += hist[static_cast<size_t>(k)];
        nonZero += hist[static_cast<size_t>(k)] != 0.0;
      }
      if (nonZero == 0) continue;
      for (int k = start; k < stop; ++k)
        if (hist[static_cast<size_t>(k)] != 0.0) q[static_cast<size_t>(k)] = mass / nonZero;
    }
    double sp = 0, sq = 0;
    for (int k = 0; k < i; ++k) {
      sp += p[static_cast<size_t>(k)];
      sq += q[static_cast<size_t>(k)];
    }
    if (sp == 0 || sq == 0) continue;
    double kl = 0;
    for (int k = 0; k < i; ++k) {
      const double pk = p[static_cast<size_t>(k)] / sp;
      if (pk == 0) continue;
      // An outlier bin that Q leaves empty costs as if Q had a tiny mass there.
      const double qk = std::max(q[static_cast<size_t>(k)] / sq, 1e-12);
      kl += pk * std::log(pk / qk);
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best;
}

float ActivationObserver::clip(const ActObserverConfig &cfg, int bits) const {
  const float top = absMax();
  if (top == 0.f || cfg.kind == ActObserverConfig::Kind::MinMax) return top;
  LOWBIT_CHECK(!hist_.empty(), "histogram observer used without its histogram pass");
  const double binWidth = static_cast<double>(top) / kBins;
  double total = 0;
  for (double h : hist_) total += h;
  if (total == 0) return top;  // only zeros besides the extremes seen in pass 1
  const QuantRange r = quantRange(bits, !isUnsigned(), false);
  switch (cfg.kind) {
    case ActObserverConfig::Kind::Percentile: {
      // The share counts every value, zeros included.
      const double want = (total + zeros_) * cfg.percentile / 100.0;
      double acc = zeros_;
      if (acc >= want) return 0.f;
      for (int b = 0; b < kBins; ++b) {
        const double h = hist_[static_cast<size_t>(b)];
        if (acc + h >= want) {
          const double frac = h > 0 ? (want - acc) / h : 1.0;  // interpolate inside the bin
          return static_cast<float>((b + frac) * binWidth);
        }
        acc += h;
      }
      return top;
    }
    case ActObserverConfig::Kind::KL: {
      const int levels = r.qmax + 1;  // 128 signed, 256 unsigned at 8 bits
      return static_cast<float>(klThresholdBins(hist_, levels) * binWidth);
    }
    case ActObserverConfig::Kind::Mse:
    case ActObserverConfig::Kind::Sqnr: {  // Sqnr's choice starts here
      // Expected squared error per clip candidate: bins above the clip lose (v - c)^2, bins
      // inside get uniform rounding noise step^2 / 12.
      double bestErr = std::numeric_limits<double>::infinity();
      float best = top;
      for (int c = 8; c <= kBins; c += 4) {
        const double clipV = c * binWidth, step = clipV / r.qmax;
        double err = 0;
        for (int b = 0; b < kBins; ++b) {
          const double h = hist_[static_cast<size_t>(b)];
          if (h == 0) continue;
          const double center = (b + 0.5) * binWidth;
          err += h * (center > clipV ? (center - clipV) * (center - clipV) : step * step / 12.0);
        }
        if (err < bestErr) {
          bestErr = err;
          best = static_cast<float>(clipV);
        }
      }
      return best;
    }
    default: return top;
  }
}

}  // namespace lowbit
