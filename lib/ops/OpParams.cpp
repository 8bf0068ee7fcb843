#include "ops/OpParams.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "ir/Graph.h"
#include "kernels/TensorCopy.h"
#include "support/Strings.h"

namespace lowbit {

int64_t normalizeAxis(int64_t axis, int64_t rank, const Node &n) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max<int64_t>(rank, 1))
    throw Error(cat(n.describe(), ": axis ", axis, " is out of range for rank ", rank));
  return a;
}

int weightOutputAxis(const Node &layer) {
  if (layer.opType() == "Conv") return 0;
  if (layer.opType() == "Gemm") return layer.attrInt("transB", 0) ? 0 : 1;
  return 1;
}

std::optional<std::vector<int64_t>> constIntsInput(const Node &n, size_t i) {
  Value *v = n.input(i);
  if (!v) return std::nullopt;
  if (!v->isConstant())
    throw Error(cat(n.describe(), ": input ", i, " ('", v->name(),
                    "') must be a constant (computed from constants or shapes); lowbit does not "
                    "support data-dependent shapes"));
  return v->constant()->toInt64s();
}

Dims broadcastDims(const Dims &a, const Dims &b, const Node &n) {
  size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else if (da < 0 || db < 0)
      out[i] = std::max(da, db) > 1 ? std::max(da, db) : -1;
    else
      throw Error(cat(n.describe(), ": shapes ", shapeString(a), " and ", shapeString(b),
                      " cannot be broadcast"));
  }
  return out;
}

WindowGeometry windowGeometry(const Node &n, const Dims &inSpatial, const Dims &kernel,
                              bool ceilMode) {
  const size_t k = inSpatial.size();
  WindowGeometry g;
  g.kernel = kernel;
  g.strides = n.attrInts("strides", Dims(k, 1));
  g.dilations = n.attrInts("dilations", Dims(k, 1));
  Dims pads = n.attrInts("pads", Dims(2 * k, 0));
  if (g.strides.size() != k || g.dilations.size() != k || pads.size() != 2 * k)
    throw Error(cat(n.describe(), ": strides/dilations/pads do not match ", k, " spatial dims"));
  std::string autoPad = n.attrString("auto_pad", "NOTSET");
  g.padsBegin.assign(pads.begin(), pads.begin() + static_cast<long>(k));
  g.padsEnd.assign(pads.begin() + static_cast<long>(k), pads.end());
  g.outSpatial.resize(k);
  for (size_t i = 0; i < k; ++i) {
    const int64_t in = inSpatial[i], s = g.strides[i];
    const int64_t extent = (kernel[i] - 1) * g.dilations[i] + 1;
    if (s <= 0 || g.dilations[i] <= 0)
      throw Error(cat(n.describe(), ": strides and dilations must be positive"));
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t out = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (out - 1) * s + extent - in);
      int64_t small = total / 2, big = total - small;
      g.padsBegin[i] = autoPad == "SAME_UPPER" ? small : big;
      g.padsEnd[i] = autoPad == "SAME_UPPER" ? big : small;
      g.outSpatial[i] = out;
      continue;
    }
    if (autoPad == "VALID") {
      g.padsBegin[i] = g.padsEnd[i] = 0;
    } else if (autoPad != "NOTSET") {
      throw Error(cat(n.describe(), ": auto_pad '", autoPad, "' is not supported"));
    }
    const int64_t span = in + g.padsBegin[i] + g.padsEnd[i] - extent;
    if (span < 0)
      throw Error(cat(n.describe(), ": window ", extent, " is larger than the padded input ",
                      in + g.padsBegin[i] + g.padsEnd[i]));
    int64_t out = ceilMode ? (span + s - 1) / s + 1 : span / s + 1;
    // A window may not start in the end padding (ONNX / PyTorch ceil_mode rule).
    if (ceilMode && (out - 1) * s >= in + g.padsBegin[i]) --out;
    g.outSpatial[i] = out;
    if (ceilMode) g.padsEnd[i] = std::max(g.padsEnd[i], (out - 1) * s + extent - in - g.padsBegin[i]);
  }
  return g;
}

TransposedWindow transposedWindow(const Node &n, const Dims &inSpatial, const Dims &kernel) {
  const size_t k = inSpatial.size();
  TransposedWindow w;
  w.kernel = kernel;
  w.strides = n.attrInts("strides", Dims(k, 1));
  w.dilations = n.attrInts("dilations", Dims(k, 1));
  w.outputPadding = n.attrInts("output_padding", Dims(k, 0));
  Dims pads = n.attrInts("pads", Dims(2 * k, 0)), outputShape = n.attrInts("output_shape");
  if (outputShape.size() > k) outputShape.erase(outputShape.begin(), outputShape.end() - static_cast<long>(k));  // N, C given too
  if (w.strides.size() != k || w.dilations.size() != k || w.outputPadding.size() != k || pads.size() != 2 * k ||
      (!outputShape.empty() && outputShape.size() != k))
    throw Error(cat(n.describe(), ": strides/dilations/pads/output_padding/output_shape do not match ", k, " spatial dims"));
  const std::string autoPad = n.attrString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
    throw Error(cat(n.describe(), ": auto_pad '", autoPad, "' is not supported"));
  w.padsBegin.assign(pads.begin(), pads.begin() + static_cast<long>(k));
  w.padsEnd.assign(pads.begin() + static_cast<long>(k), pads.end());
  w.outSpatial.resize(k);
  for (size_t i = 0; i < k; ++i) {
    if (w.strides[i] <= 0 || w.dilations[i] <= 0 || kernel[i] <= 0 || w.outputPadding[i] < 0)
      throw Error(cat(n.describe(), ": strides, dilations and kernel must be positive, output_padding not negative"));
    const int64_t full = w.strides[i] * (inSpatial[i] - 1) + w.outputPadding[i] + (kernel[i] - 1) * w.dilations[i] + 1;
    if (!outputShape.empty() || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      const int64_t out = !outputShape.empty() ? outputShape[i] : inSpatial[i] * w.strides[i];
      const int64_t total = full - out;
      // Halves rounded down (negative totals too, as ONNX's reference divides): the odd element
      // of padding goes to the end for SAME_UPPER, to the start otherwise.
      const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
      w.padsBegin[i] = autoPad == "SAME_UPPER" ? half : total - half;
      w.padsEnd[i] = total - w.padsBegin[i];
    } else if (autoPad == "VALID") {
      w.padsBegin[i] = w.padsEnd[i] = 0;
    }
    w.outSpatial[i] = full - w.padsBegin[i] - w.padsEnd[i];
    if (w.outSpatial[i] < 0) throw Error(cat(n.describe(), ": pads leave a negative output size"));
  }
  return w;
}

SliceSpec resolveSlice(const Node &n, int64_t opset, const Dims &inDims) {
  const int64_t rank = static_cast<int64_t>(inDims.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset < 10) {
    starts = n.attrInts("starts");
    ends = n.attrInts("ends");
    axes = n.attrInts("axes");
  } else {
    starts = constIntsInput(n, 1).value_or(std::vector<int64_t>{});
    ends = constIntsInput(n, 2).value_or(std::vector<int64_t>{});
    axes = constIntsInput(n, 3).value_or(std::vector<int64_t>{});
    steps = constIntsInput(n, 4).value_or(std::vector<int64_t>{});
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || starts.size() != axes.size() || steps.size() != axes.size())
    throw Error(cat(n.describe(), ": starts, ends, axes and steps differ in length"));
  SliceSpec spec;
  spec.starts.assign(static_cast<size_t>(rank), 0);
  spec.steps.assign(static_cast<size_t>(rank), 1);
  spec.outDims = inDims;
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = normalizeAxis(axes[i], rank, n);
    int64_t dim = inDims[static_cast<size_t>(a)], step = steps[i];
    if (dim < 0) throw Error(cat(n.describe(), ": cannot slice an unknown dimension"));
    if (step == 0) throw Error(cat(n.describe(), ": slice step is 0"));
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0 && e > std::numeric_limits<int64_t>::min() / 2) e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
    }
    int64_t count = step > 0 ? (e - s + step - 1) / step : (s - e + (-step) - 1) / (-step);
    spec.starts[static_cast<size_t>(a)] = s;
    spec.steps[static_cast<size_t>(a)] = step;
    spec.outDims[static_cast<size_t>(a)] = std::max<int64_t>(0, count);
  }
  return spec;
}

PadSpec resolvePad(const Node &n, int64_t opset, int64_t rank, bool needValue) {
  PadSpec p;
  p.mode = n.attrString("mode", "constant");
  std::vector<int64_t> pads;
  if (opset < 11) {
    pads = n.attrInts("pads");
    p.constant = n.attrFloat("value", 0.f);
  } else {
    pads = constIntsInput(n, 1).value_or(std::vector<int64_t>{});
    Value *cv = n.input(2);
    if (cv && cv->isConstant()) {
      p.constant = static_cast<double>(cv->constant()->toFloats().at(0));
    } else if (cv && needValue) {
      throw Error(cat(n.describe(), ": constant_value must be a constant"));
    }
  }
  if (static_cast<int64_t>(pads.size()) != 2 * rank)
    throw Error(cat(n.describe(), ": pads has ", pads.size(), " values, expected ", 2 * rank));
  p.begin.assign(pads.begin(), pads.begin() + rank);
  p.end.assign(pads.begin() + rank, pads.end());
  if (p.mode != "constant" && p.mode != "edge" && p.mode != "reflect")
    throw Error(cat(n.describe(), ": pad mode '", p.mode, "' is not supported"));
  return p;
}

std::optional<std::vector<int64_t>> squeezeAxes(const Node &n, int64_t opset) {
  if (opset < 13) {
    if (!n.hasAttr("axes")) return std::nullopt;
    return n.attrInts("axes");
  }
  return constIntsInput(n, 1);
}

std::vector<int64_t> splitSizes(const Node &n, int64_t opset, int64_t axisDim) {
  std::vector<int64_t> sizes;
  if (opset < 13)
    sizes = n.attrInts("split");
  else
    sizes = constIntsInput(n, 1).value_or(std::vector<int64_t>{});
  const int64_t parts = static_cast<int64_t>(n.outputs().size());
  if (sizes.empty()) {
    if (axisDim % parts != 0)
      throw Error(cat(n.describe(), ": cannot split ", axisDim, " into ", parts, " equal parts"));
    sizes.assign(static_cast<size_t>(parts), axisDim / parts);
  }
  int64_t sum = 0;
  for (int64_t s : sizes) sum += s;
  if (static_cast<int64_t>(sizes.size()) != parts || sum != axisDim)
    throw Error(cat(n.describe(), ": split sizes ", join(sizes, ","), " do not cover ", axisDim));
  return sizes;
}

Dims reshapeDims(const Node &n, const Dims &inDims, const std::vector<int64_t> &shape) {
  const bool allowZero = n.attrInt("allowzero", 0) != 0;
  Dims out(shape.size());
  int64_t known = 1, inferAt = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == 0 && !allowZero) {
      if (i >= inDims.size()) throw Error(cat(n.describe(), ": shape 0 at axis ", i, " has no input dim"));
      d = inDims[i];
    }
    if (d == -1) {
      if (inferAt >= 0) throw Error(cat(n.describe(), ": more than one -1 in the shape"));
      inferAt = static_cast<int64_t>(i);
    } else if (d < -1) {
      throw Error(cat(n.describe(), ": invalid shape value ", d));
    } else {
      known *= d;
    }
    out[i] = d;
  }
  int64_t total = 1;
  bool totalKnown = true;
  for (int64_t d : inDims) {
    if (d < 0) totalKnown = false;
    total *= d;
  }
  if (inferAt >= 0) {
    if (!totalKnown) {
      out[static_cast<size_t>(inferAt)] = -1;
    } else {
      if (known == 0 || total % known != 0)
        throw Error(cat(n.describe(), ": cannot reshape ", shapeString(inDims), " to ",
                        join(shape, ",")));
      out[static_cast<size_t>(inferAt)] = total / known;
    }
  } else if (totalKnown && numElements(out) != total && std::none_of(out.begin(), out.end(), [](int64_t d) { return d < 0; })) {
    throw Error(cat(n.describe(), ": cannot reshape ", shapeString(inDims), " (", total,
                    " elements) to ", shapeString(out)));
  }
  return out;
}

std::pair<float, float> clipBounds(const Node &n, int64_t opset) {
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (opset < 11) {
    lo = n.attrFloat("min", lo);
    hi = n.attrFloat("max", hi);
  } else {
    for (size_t i = 1; i <= 2; ++i) {
      Value *v = n.input(i);
      if (!v) continue;
      if (!v->isConstant())
        throw Error(cat(n.describe(), ": Clip bound '", v->name(), "' must be a constant"));
      if (v->constant()->numel() != 1)
        throw Error(cat(n.describe(), ": Clip bound '", v->name(), "' must be a scalar, has ",
                        v->constant()->numel(), " values"));
      (i == 1 ? lo : hi) = v->constant()->toFloats()[0];
    }
  }
  if (std::isnan(lo) || std::isnan(hi)) throw Error(cat(n.describe(), ": Clip bound is NaN (min ", lo, ", max ", hi, ")"));
  // ONNX: with min above max every output is max.
  if (lo > hi) lo = hi;
  return {lo, hi};
}

bool dropoutDrops(const Node &n) {
  auto constant = [&](size_t i, const char *what) -> const Tensor * {
    const Value *v = n.input(i);
    if (!v) return nullptr;
    if (!v->isConstant())
      throw Error(cat(n.describe(), ": Dropout ", what, " '", v->name(), "' must be a constant"));
    return v->constant().get();
  };
  const Tensor *training = constant(2, "training_mode");
  if (!training || training->toInt64s().at(0) == 0) return false;
  const Tensor *ratio = constant(1, "ratio");
  return (ratio ? ratio->toFloats().at(0) : 0.5f) > 0.f;
}

bool isParameterInput(const Node &n, size_t i) {
  return (n.opType() == "Resize" || n.opType() == "Upsample") && i >= 1;
}

std::optional<ResizeGeometry> resizeGeometry(const Node &n, const Dims &in) {
  auto constantInput = [&](size_t i) -> const Tensor * {
    const Value *v = i < n.inputs().size() ? n.input(i) : nullptr;
    return v && v->isConstant() && v->constant()->numel() > 0 ? v->constant().get() : nullptr;
  };
  auto given = [&](size_t i) { return i < n.inputs().size() && n.input(i); };
  ResizeGeometry r;
  std::vector<float> scales;
  const bool upsample = n.opType() == "Upsample";
  const size_t scalesAt = upsample ? 1 : (n.inputs().size() == 2 ? 1 : 2);  // opset 10: X, scales
  if (upsample && !given(1)) {
    scales = n.attrFloats("scales");
  } else if (const Tensor *s = constantInput(scalesAt)) {
    scales = s->toFloats();
  } else if (const Tensor *z = upsample ? nullptr : constantInput(3)) {
    const std::vector<int64_t> sizes = z->toInt64s();
    if (sizes.size() != in.size())
      throw Error(cat(n.describe(), ": ", sizes.size(), " sizes for a rank-", in.size(), " input"));
    for (size_t i = 0; i < in.size(); ++i) {
      if (sizes[i] < 0) throw Error(cat(n.describe(), ": negative size ", sizes[i]));
      r.out.push_back(sizes[i]);
      r.lengths.push_back(static_cast<double>(sizes[i]));
      r.scales.push_back(in[i] ? static_cast<double>(sizes[i]) / static_cast<double>(in[i]) : 1.0);
    }
    return r;
  } else if (given(scalesAt) || given(3)) {
    return std::nullopt;  // graph inputs, bound per plan
  } else {
    throw Error(cat(n.describe(), ": needs scales or sizes"));
  }
  if (scales.size() != in.size())
    throw Error(cat(n.describe(), ": ", scales.size(), " scales for a rank-", in.size(), " input"));
  for (size_t i = 0; i < in.size(); ++i) {
    if (!(scales[i] > 0.f) || !std::isfinite(scales[i]))
      throw Error(cat(n.describe(), ": scale ", scales[i], " is not a positive number"));
    const double o = std::floor(static_cast<double>(in[i]) * scales[i]);
    if (o > 1e15) throw Error(cat(n.describe(), ": scale ", scales[i], " makes an axis of ", o, " elements"));
    r.out.push_back(static_cast<int64_t>(o));
    r.scales.push_back(scales[i]);
    r.lengths.push_back(static_cast<double>(in[i]) * scales[i]);
  }
  return r;
}

ResizeTaps resizeTaps(const Node &n, const Dims &in, int64_t opset, const std::vector<double> &roi) {
  const std::optional<ResizeGeometry> geo = resizeGeometry(n, in);
  if (!geo) throw Error(cat(n.describe(), ": scales and sizes must be known"));
  const bool upsample = n.opType() == "Upsample";
  std::string mode = n.attrString("mode", "nearest");
  const std::string transform = upsample || opset < 11 ? "asymmetric" : n.attrString("coordinate_transformation_mode", "half_pixel");
  const std::string nearestMode = upsample || opset < 11 ? "floor" : n.attrString("nearest_mode", "round_prefer_floor");
  if (mode == "bilinear" || mode == "trilinear") mode = "linear";  // Upsample-7's names
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    throw Error(cat(n.describe(), ": unknown mode '", mode, "'"));
  const double a = n.attrFloat("cubic_coeff_a", -0.75f);
  const bool excludeOutside = n.attrInt("exclude_outside", 0) != 0;
  const size_t rank = in.size();
  if (transform == "tf_crop_and_resize" && roi.size() != 2 * rank)
    throw Error(cat(n.describe(), ": tf_crop_and_resize needs an roi of ", 2 * rank, " values"));
  ResizeTaps taps;
  taps.out = geo->out;
  taps.extrapolation = n.attrFloat("extrapolation_value", 0.f);
  taps.axes.resize(rank);
  for (size_t ax = 0; ax < rank; ++ax) {
    const int64_t len = in[ax], outLen = geo->out[ax];
    const double scale = geo->scales[ax], resized = geo->lengths[ax];
    for (int64_t o = 0; o < outLen; ++o) {
      double c;
      if (transform == "half_pixel") c = (o + 0.5) / scale - 0.5;
      else if (transform == "pytorch_half_pixel") c = resized > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
      else if (transform == "align_corners") c = resized == 1 ? 0.0 : o * static_cast<double>(len - 1) / (resized - 1);
      else if (transform == "asymmetric") c = o / scale;
      else if (transform == "tf_half_pixel_for_nn") c = (o + 0.5) / scale;
      else if (transform == "tf_crop_and_resize") {
        const double start = roi[ax], end = roi[ax + rank];
        c = resized > 1 ? start * (len - 1) + o * (end - start) * (len - 1) / (resized - 1)
                        : 0.5 * (start + end) * (len - 1);
      } else {
        throw Error(cat(n.describe(), ": unknown coordinate_transformation_mode '", transform, "'"));
      }
      ResizeTaps::Coordinate t;
      if (transform == "tf_crop_and_resize" && (c < 0 || c > static_cast<double>(len - 1))) {
        t.outside = true;
      } else if (mode == "nearest") {
        const double fl = std::floor(c);
        int64_t i;
        if (nearestMode == "floor") i = static_cast<int64_t>(fl);
        else if (nearestMode == "ceil") i = static_cast<int64_t>(std::ceil(c));
        else if (c - fl == 0.5) i = static_cast<int64_t>(nearestMode == "round_prefer_ceil" ? fl + 1 : fl);
        else if (nearestMode == "round_prefer_floor" || nearestMode == "round_prefer_ceil") i = static_cast<int64_t>(std::round(c));
        else throw Error(cat(n.describe(), ": unknown nearest_mode '", nearestMode, "'"));
        t.idx = {std::clamp<int64_t>(i, 0, len - 1)};
        t.w = {1.0};
      } else {
        // ONNX's reference: ratio 1 at whole coordinates (the upper neighbour weighs 1), the
        // nearest 2 (linear) or 4 (cubic) indices, ties to the lower, of an edge-padded axis.
        const double fl = std::floor(c), r = c == fl ? 1.0 : c - fl;
        auto outer = [&](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };  // cubic, 1 < |d| < 2
        auto inner = [&](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };      // cubic, |d| <= 1
        const std::array<double, 4> cubic = {outer(r + 1), inner(r), inner(1 - r), outer(2 - r)};
        const std::array<double, 2> linear = {1 - r, r};
        const double *coeffs = mode == "linear" ? linear.data() : cubic.data();
        const int64_t k = mode == "linear" ? 2 : 4;
        const int64_t first = static_cast<int64_t>(fl) - k / 2 + (c == fl ? 0 : 1);
        double kept = 0;
        for (int64_t j = 0; j < k; ++j) {
          const int64_t i = first + j;
          double w = coeffs[j];
          if (excludeOutside && (i < 0 || i >= len)) w = 0;
          t.idx.push_back(std::clamp<int64_t>(i, 0, len - 1));  // edge padding
          t.w.push_back(w);
          kept += w;
        }
        if (excludeOutside && kept != 0)
          for (double &w : t.w) w /= kept;
      }
      taps.axes[ax].push_back(std::move(t));
    }
  }
  return taps;
}

void forEachResizeTap(const ResizeTaps &taps, const Dims &in, const std::function<void(int64_t, int64_t, double)> &tap,
                      const std::function<void(int64_t)> &outside) {
  const size_t rank = in.size();
  const std::vector<int64_t> strides = contiguousStrides(in);
  const int64_t total = numElements(taps.out);
  std::vector<int64_t> idx(rank, 0);
  std::vector<size_t> k(rank, 0);
  for (int64_t o = 0; o < total; ++o) {
    bool out = false;
    for (size_t ax = 0; ax < rank; ++ax) out |= taps.axes[ax][static_cast<size_t>(idx[ax])].outside;
    if (out) {
      outside(o);
    } else {
      // Every combination of the axes' taps (an odometer over k).
      std::fill(k.begin(), k.end(), 0);
      while (true) {
        double w = 1;
        int64_t at = 0;
        for (size_t ax = 0; ax < rank; ++ax) {
          const ResizeTaps::Coordinate &t = taps.axes[ax][static_cast<size_t>(idx[ax])];
          w *= t.w[k[ax]];
          at += t.idx[k[ax]] * strides[ax];
        }
        tap(o, at, w);
        size_t ax = rank;
        while (ax-- > 0) {
          if (++k[ax] < taps.axes[ax][static_cast<size_t>(idx[ax])].idx.size()) break;
          k[ax] = 0;
        }
        if (ax == static_cast<size_t>(-1)) break;
      }
    }
    for (size_t ax = rank; ax-- > 0;) {
      if (++idx[ax] < taps.out[ax]) break;
      idx[ax] = 0;
    }
  }
}

LrnParams lrnParams(const Node &n) {
  LrnParams p;
  p.size = n.attrInt("size", 0);
  if (p.size <= 0) throw Error(cat(n.describe(), ": needs a positive size attribute"));
  p.alpha = n.attrFloat("alpha", 1e-4f);
  p.beta = n.attrFloat("beta", 0.75f);
  p.bias = n.attrFloat("bias", 1.f);
  return p;
}

RowNormalization rowNormalization(const Node &n) {
  const Dims &xd = n.input(0)->dims();
  const int64_t rank = static_cast<int64_t>(xd.size());
  RowNormalization r;
  r.eps = n.attrFloat("epsilon", 1e-5f);
  if (n.opType() == "LayerNormalization") {
    const int64_t axis = normalizeAxis(n.attrInt("axis", -1), rank, n);
    r.rows = numElements(Dims(xd.begin(), xd.begin() + axis));
    r.len = numElements(Dims(xd.begin() + axis, xd.end()));
  } else {
    if (rank < 3) throw Error(cat(n.describe(), ": input ", shapeString(xd), " has no spatial axes"));
    r.rows = xd[0] * xd[1];
    r.len = numElements(Dims(xd.begin() + 2, xd.end()));
  }
  return r;
}

Reduction reduction(const Node &n, const Dims &in) {
  std::vector<int64_t> axes = n.attrInts("axes");
  if (n.inputs().size() > 1 && n.input(1)) {
    if (!n.input(1)->isConstant()) throw Error(cat(n.describe(), ": axes must be a constant"));
    axes = n.input(1)->constant()->toInt64s();
  }
  const int64_t rank = static_cast<int64_t>(in.size());
  Reduction r;
  r.axes.assign(in.size(), axes.empty() && n.attrInt("noop_with_empty_axes", 0) == 0);
  for (int64_t a : axes) r.axes[static_cast<size_t>(normalizeAxis(a, rank, n))] = true;
  r.none = std::none_of(r.axes.begin(), r.axes.end(), [](bool a) { return a; });
  const bool keep = n.attrInt("keepdims", 1) != 0;
  r.kept = in;
  for (size_t i = 0; i < in.size(); ++i) {
    if (r.axes[i]) r.kept[i] = 1;
    if (!r.axes[i]) r.out.push_back(in[i]);
    else if (keep) r.out.push_back(1);
  }
  return r;
}

}  // namespace lowbit

namespace lowbit {

std::vector<int64_t> transposePerm(const Node &n, int64_t rank) {
  std::vector<int64_t> perm = n.attrInts("perm");
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != rank) throw Error(cat(n.describe(), ": perm has the wrong length"));
  for (int64_t &p : perm) p = normalizeAxis(p, rank, n);
  return perm;
}

int64_t softmaxAxis(const Node &n, int64_t rank, int64_t opset) {
  return normalizeAxis(n.attrInt("axis", opset < 13 ? 1 : -1), rank, n);
}

StridedView transposeView(const Node &n, const Dims &inDims) {
  return permutedView(inDims, transposePerm(n, static_cast<int64_t>(inDims.size())));
}

StridedView permutedView(const Dims &inDims, const std::vector<int64_t> &perm) {
  StridedView v;
  const std::vector<int64_t> inStrides = contiguousStrides(inDims);
  for (int64_t p : perm) {
    v.dims.push_back(inDims[static_cast<size_t>(p)]);
    v.strides.push_back(inStrides[static_cast<size_t>(p)]);
  }
  return v;
}

StridedView tileView(const Node &n, const Dims &inDims, const std::vector<int64_t> &repeats) {
  if (repeats.size() != inDims.size())
    throw Error(cat(n.describe(), ": ", repeats.size(), " repeats for a rank-", inDims.size(), " input"));
  StridedView v;
  const std::vector<int64_t> inStrides = contiguousStrides(inDims);
  for (size_t i = 0; i < inDims.size(); ++i) {
    if (repeats[i] < 0) throw Error(cat(n.describe(), ": negative repeat ", repeats[i]));
    v.dims.insert(v.dims.end(), {repeats[i], inDims[i]});
    v.strides.insert(v.strides.end(), {0, inStrides[i]});
  }
  return v;
}

Dims tiledDims(const StridedView &v) {
  Dims d;
  for (size_t i = 0; i + 1 < v.dims.size(); i += 2) d.push_back(v.dims[i] * v.dims[i + 1]);
  return d;
}

StridedView sliceView(const Node &n, int64_t opset, const Dims &inDims, std::vector<int64_t> inStrides) {
  SliceSpec s = resolveSlice(n, opset, inDims);
  StridedView v;
  if (inStrides.empty()) inStrides = contiguousStrides(inDims);
  v.dims = s.outDims;
  v.strides.resize(inStrides.size());
  for (size_t a = 0; a < inStrides.size(); ++a) {
    v.offset += s.starts[a] * inStrides[a];
    v.strides[a] = inStrides[a] * s.steps[a];
  }
  return v;
}

Dims flattenDims(const Node &n, const Dims &d) {
  const int64_t r = static_cast<int64_t>(d.size());
  int64_t axis = n.attrInt("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) throw Error(cat(n.describe(), ": axis out of range"));
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i) {
    int64_t &acc = i < axis ? a : b;
    acc = (acc < 0 || d[static_cast<size_t>(i)] < 0) ? -1 : acc * d[static_cast<size_t>(i)];
  }
  return {a, b};
}

Dims squeezeDims(const Node &n, const Dims &inDims, const std::optional<std::vector<int64_t>> &axesOpt) {
  Dims d = inDims;
  std::vector<int64_t> axes;
  if (axesOpt) {
    for (int64_t a : *axesOpt) axes.push_back(normalizeAxis(a, static_cast<int64_t>(d.size()), n));
  } else {
    for (size_t i = 0; i < d.size(); ++i)
      if (d[i] == 1) axes.push_back(static_cast<int64_t>(i));
  }
  std::sort(axes.begin(), axes.end());
  for (auto it = axes.rbegin(); it != axes.rend(); ++it) {
    const int64_t dim = d[static_cast<size_t>(*it)];
    if (dim != 1 && dim >= 0) throw Error(cat(n.describe(), ": cannot squeeze axis ", *it, " of size ", dim));
    d.erase(d.begin() + *it);
  }
  return d;
}

Dims unsqueezeDims(const Node &n, const Dims &inDims, const std::optional<std::vector<int64_t>> &axesOpt) {
  if (!axesOpt) throw Error(cat(n.describe(), ": Unsqueeze needs axes"));
  Dims d = inDims;
  const int64_t outRank = static_cast<int64_t>(d.size() + axesOpt->size());
  std::vector<int64_t> axes;
  for (int64_t a : *axesOpt) axes.push_back(normalizeAxis(a, outRank, n));
  std::sort(axes.begin(), axes.end());
  for (int64_t a : axes) d.insert(d.begin() + a, 1);
  return d;
}

bool isConstantDequantize(const Node &n) {
  if (n.opType() != "DequantizeLinear" || !n.input(0)) return false;
  for (const Value *in : n.inputs())
    if (in && !in->isConstant()) return false;
  const DType t = n.input(0)->dtype();
  return t == DType::Int8 || t == DType::UInt8 || t == DType::Int32;
}

std::optional<QuantParams> perTensorQdqParams(const Node &n) {
  const Value *s = n.input(1), *z = n.input(2);
  if (!s || !s->isConstant() || s->constant()->numel() != 1) return std::nullopt;
  if (z && (!z->isConstant() || z->constant()->numel() != 1)) return std::nullopt;
  const DType codeType = n.opType() == "DequantizeLinear" ? n.input(0)->dtype() : (z ? z->dtype() : DType::UInt8);
  return QuantParams::perTensorCodes(s->constant()->toFloats()[0],
                                     z ? static_cast<int32_t>(z->constant()->toInt64s()[0]) : 0, codeType);
}

bool hasConstantClipBounds(const Node &n) {
  for (size_t i = 1; i < n.inputs().size(); ++i)
    if (n.input(i) && !n.input(i)->isConstant()) return false;
  return true;
}

Node *selfGate(const Node &mul) {
  if (mul.opType() != "Mul" || mul.inputs().size() != 2 || !mul.input(0) || !mul.input(1)) return nullptr;
  for (size_t i = 0; i < 2; ++i) {
    Node *g = mul.input(i)->producer();
    if (!g || g->inputs().empty() || g->input(0) != mul.input(1 - i)) continue;
    if (g->opType() == "Sigmoid") return g;
    // h-swish's fixed slope and offset (oneDNN's hardswish has no others).
    if (g->opType() == "HardSigmoid" && std::fabs(g->attrFloat("alpha", 0.2f) - 1.f / 6.f) <= 1e-7f &&
        g->attrFloat("beta", 0.5f) == 0.5f)
      return g;
  }
  return nullptr;
}

Node *selfGatedActivation(const Graph &g, const Value *y) {
  if (g.isGraphOutput(y)) return nullptr;
  const std::vector<Node *> readers = g.users(y);
  if (readers.size() != 2) return nullptr;
  for (Node *mul : readers) {
    const Node *gate = selfGate(*mul);
    const Node *other = readers[0] == mul ? readers[1] : readers[0];
    if (gate && gate == other && gate->input(0) == y && !g.isGraphOutput(gate->output(0)) &&
        g.users(gate->output(0)).size() == 1)
      return mul;
  }
  return nullptr;
}

int64_t multiplyAccumulates(const Node &n) {
  const Value *y = n.output(0);
  if (!y || !y->hasShape()) return 0;
  auto perImage = [](Dims d) {
    if (!d.empty() && d[0] < 0) d[0] = 1;
    for (int64_t x : d)
      if (x < 0) return int64_t{0};
    return numElements(d);
  };
  const std::string &op = n.opType();
  if (op == "Conv" || op == "QConv" || op == "CodeConv") {  // the lowered forms keep Conv's weight layout
    const Value *w = n.input(1);
    if (!w || !w->shapeIsStatic() || w->dims().empty() || w->dims()[0] == 0) return 0;
    return perImage(y->dims()) * (numElements(w->dims()) / w->dims()[0]);
  }
  if (op == "Gemm" || op == "QGemm" || op == "MatMul") {
    const Value *a = n.input(0);
    if (!a || !a->hasShape() || a->dims().empty()) return 0;
    const int64_t k = op != "MatMul" && n.attrInt("transA", 0) ? a->dims()[0] : a->dims().back();
    return k < 0 ? 0 : perImage(y->dims()) * k;
  }
  return 0;
}

std::optional<QdqPair> qdqPairOf(const Graph &g, const Node &q, const char *who) {
  QdqPair pair;
  pair.readers = g.users(q.output(0));
  if (pair.readers.empty() || g.isGraphOutput(q.output(0)) ||
      !std::all_of(pair.readers.begin(), pair.readers.end(), [](const Node *r) { return r->opType() == "DequantizeLinear"; }))
    return std::nullopt;
  auto perTensorOnly = [who](const Node &n) {
    return Error(cat(n.describe(), ": ", who, " activations quantized per tensor with constant scale and zero point only"));
  };
  std::optional<QuantParams> p = perTensorQdqParams(q);
  if (!p) throw perTensorOnly(q);
  for (const Node *dq : pair.readers) {
    std::optional<QuantParams> dp = perTensorQdqParams(*dq);
    if (!dp) throw perTensorOnly(*dq);
    if (!dp->samePerTensor(*p))
      throw Error(cat(dq->describe(), ": its scale or zero point differs from ", q.describe(),
                      "'s; lowbit simulates matching QuantizeLinear/DequantizeLinear pairs"));
  }
  pair.params = *p;
  return pair;
}

}  // namespace lowbit
