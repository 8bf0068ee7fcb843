#include "ops/Evaluate.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <random>
#include <set>

#include "kernels/DropoutMask.h"
#include "kernels/Half.h"
#include "kernels/QuantizeRef.h"
#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "ops/OpTable.h"
#include "ops/UnaryMath.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

bool isFloatType(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
}

double getDouble(const Tensor &t, int64_t i) {
  const void *p = t.raw();
  switch (t.dtype()) {
    case DType::Float32: return static_cast<const float *>(p)[i];
    case DType::Float64: return static_cast<const double *>(p)[i];
    case DType::Float16: return halfToFloat(static_cast<const uint16_t *>(p)[i]);
    case DType::BFloat16: return bfloat16ToFloat(static_cast<const uint16_t *>(p)[i]);
    case DType::Int64: return static_cast<double>(static_cast<const int64_t *>(p)[i]);
    case DType::Int32: return static_cast<const int32_t *>(p)[i];
    case DType::Int16: return static_cast<const int16_t *>(p)[i];
    case DType::Int8: return static_cast<const int8_t *>(p)[i];
    case DType::UInt8: return static_cast<const uint8_t *>(p)[i];
    case DType::UInt16: return static_cast<const uint16_t *>(p)[i];
    case DType::UInt32: return static_cast<const uint32_t *>(p)[i];
    case DType::UInt64: return static_cast<double>(static_cast<const uint64_t *>(p)[i]);
    case DType::Bool: return static_cast<const uint8_t *>(p)[i] != 0;
    default: throw Error(cat("cannot evaluate ", dtypeName(t.dtype()), " data"));
  }
}

// A float as int64, saturating (NaN gives 0): ONNX leaves out-of-range casts undefined, C++
// makes them undefined behaviour.
int64_t saturatingInt(double v) {
  if (std::isnan(v)) return 0;
  if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  if (v >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(v);
}

int64_t getInt(const Tensor &t, int64_t i) {
  const void *p = t.raw();
  switch (t.dtype()) {
    case DType::Int64: return static_cast<const int64_t *>(p)[i];
    case DType::UInt64: return static_cast<int64_t>(static_cast<const uint64_t *>(p)[i]);
    default:  // every other type is exact in a double (floats truncate toward zero)
      return saturatingInt(getDouble(t, i));
  }
}

void setDouble(Tensor &t, int64_t i, double v) {
  void *p = t.raw();
  switch (t.dtype()) {
    case DType::Float32: static_cast<float *>(p)[i] = static_cast<float>(v); break;
    case DType::Float64: static_cast<double *>(p)[i] = v; break;
    case DType::Float16: static_cast<uint16_t *>(p)[i] = floatToHalf(static_cast<float>(v)); break;
    // ONNX 1.12 defines float -> bfloat16 by truncation (its backend tests); ORT rounds.
    case DType::BFloat16: static_cast<uint16_t *>(p)[i] = floatToBfloat16Truncate(static_cast<float>(v)); break;
    case DType::Bool: static_cast<uint8_t *>(p)[i] = v != 0.0; break;
    default: throw Error(cat("cannot store a real number as ", dtypeName(t.dtype())));
  }
}

// Integer stores wrap modulo 2^bits like numpy and C++ conversions.
void setInt(Tensor &t, int64_t i, int64_t v) {
  void *p = t.raw();
  switch (t.dtype()) {
    case DType::Int64: static_cast<int64_t *>(p)[i] = v; break;
    case DType::Int32: static_cast<int32_t *>(p)[i] = static_cast<int32_t>(v); break;
    case DType::Int16: static_cast<int16_t *>(p)[i] = static_cast<int16_t>(v); break;
    case DType::Int8: static_cast<int8_t *>(p)[i] = static_cast<int8_t>(v); break;
    case DType::UInt8: static_cast<uint8_t *>(p)[i] = static_cast<uint8_t>(v); break;
    case DType::UInt16: static_cast<uint16_t *>(p)[i] = static_cast<uint16_t>(v); break;
    case DType::UInt32: static_cast<uint32_t *>(p)[i] = static_cast<uint32_t>(v); break;
    case DType::UInt64: static_cast<uint64_t *>(p)[i] = static_cast<uint64_t>(v); break;
    case DType::Bool: static_cast<uint8_t *>(p)[i] = v != 0; break;
    default: setDouble(t, i, static_cast<double>(v));
  }
}

// a op b with numpy broadcasting; \p op is Add, Sub, Mul, Div, PRelu, Max or Min.
Tensor binary(const Node &n, const std::string &op, const Tensor &a, const Tensor &b) {
  if (a.dtype() != b.dtype())
    throw Error(cat(n.describe(), ": input types differ (", dtypeName(a.dtype()), " vs ",
                    dtypeName(b.dtype()), ")"));
  Dims outDims = broadcastDims(a.dims(), b.dims(), n);
  Tensor out(a.dtype(), outDims);
  std::vector<int64_t> sa = broadcastStrides(a.dims(), outDims), sb = broadcastStrides(b.dims(), outDims);
  const bool fp = isFloatType(a.dtype());
  const int64_t total = out.numel();
  std::vector<int64_t> idx(outDims.size(), 0);
  int64_t ia = 0, ib = 0;
  for (int64_t o = 0; o < total; ++o) {
    if (fp) {
      double x = getDouble(a, ia), y = getDouble(b, ib), r;
      if (op == "Add") r = x + y;
      else if (op == "Sub") r = x - y;
      else if (op == "Mul") r = x * y;
      else if (op == "PRelu") r = x < 0 ? x * y : x;
      else if (op == "Max") r = std::isnan(x) || x > y ? x : y;  // NaN propagates, as numpy's maximum
      else if (op == "Min") r = std::isnan(x) || x < y ? x : y;
      else r = x / y;
      // Rounding the double result to float equals float arithmetic for + - * /.
      setDouble(out, o, r);
    } else {
      int64_t x = getInt(a, ia), y = getInt(b, ib), r;
      if (op == "Add") r = x + y;
      else if (op == "Sub") r = x - y;
      else if (op == "Mul") r = x * y;
      else if (op == "PRelu") r = x < 0 ? x * y : x;
      else if (op == "Max") r = std::max(x, y);
      else if (op == "Min") r = std::min(x, y);
      else {
        if (y == 0) throw Error(cat(n.describe(), ": integer division by zero"));
        r = x / y;
      }
      setInt(out, o, r);
    }
    for (int64_t ax = static_cast<int64_t>(outDims.size()) - 1; ax >= 0; --ax) {
      size_t u = static_cast<size_t>(ax);
      ++idx[u];
      ia += sa[u];
      ib += sb[u];
      if (idx[u] < outDims[u]) break;
      ia -= sa[u] * outDims[u];
      ib -= sb[u] * outDims[u];
      idx[u] = 0;
    }
  }
  return out;
}

// Sum, Mean, Max, Min of one or more inputs, broadcast together: folded pairwise from the
// left, Mean as the sum divided by the count.
Tensor variadic(const Node &n, const std::vector<const Tensor *> &inputs) {
  const std::string &op = n.opType();
  if (inputs.empty() || !inputs[0]) throw Error(cat(n.describe(), ": needs at least one input"));
  const std::string pairwise = op == "Sum" || op == "Mean" ? "Add" : op;
  Tensor acc = *inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (!inputs[i]) throw Error(cat(n.describe(), ": input ", i, " is missing"));
    acc = binary(n, pairwise, acc, *inputs[i]);
  }
  if (op == "Mean") {
    if (!isFloatType(acc.dtype())) throw Error(cat(n.describe(), ": Mean takes floating-point inputs"));
    Tensor out(acc.dtype(), acc.dims());
    for (int64_t i = 0; i < acc.numel(); ++i)
      setDouble(out, i, getDouble(acc, i) / static_cast<double>(inputs.size()));
    return out;
  }
  return acc;
}

// Calls f(o, offsets) for each element o of \p outDims with each operand's element offset
// (numpy broadcasting: \p dims are the operands' shapes).
template <typename F>
void forEachBroadcast(const Dims &outDims, const std::vector<Dims> &dims, F &&f) {
  std::vector<std::vector<int64_t>> strides;
  for (const Dims &d : dims) strides.push_back(broadcastStrides(d, outDims));
  std::vector<int64_t> idx(outDims.size(), 0), at(dims.size(), 0);
  const int64_t total = numElements(outDims);
  for (int64_t o = 0; o < total; ++o) {
    f(o, at);
    for (int64_t ax = static_cast<int64_t>(outDims.size()) - 1; ax >= 0; --ax) {
      const size_t u = static_cast<size_t>(ax);
      ++idx[u];
      for (size_t k = 0; k < at.size(); ++k) at[k] += strides[k][u];
      if (idx[u] < outDims[u]) break;
      for (size_t k = 0; k < at.size(); ++k) at[k] -= strides[k][u] * outDims[u];
      idx[u] = 0;
    }
  }
}

// The Reduce* family on any numeric type: floats accumulate in double, integers in int64
// (Sum, Prod, Max, Min; the norms and logarithms through double).
Tensor reduce(const Node &n, const Tensor &x) {
  const std::string op = n.opType().substr(6);
  const Reduction red = reduction(n, x.dims());
  if (red.none) return x;  // noop_with_empty_axes
  const int64_t outs = numElements(red.kept);
  const bool fp = isFloatType(x.dtype()) || !(op == "Sum" || op == "Prod" || op == "Max" || op == "Min");
  const bool isMax = op == "Max" || op == "LogSumExp";
  std::vector<double> acc(static_cast<size_t>(outs), op == "Prod" ? 1.0 : op == "Min" ? INFINITY : isMax ? -INFINITY : 0.0);
  std::vector<int64_t> iacc(static_cast<size_t>(outs), op == "Prod" ? 1 : op == "Min" ? INT64_MAX : op == "Max" ? INT64_MIN : 0);
  // Each input element k with the output element o it reduces into (the kept tensor seen
  // broadcast to the input's dims).
  auto forEach = [&](auto &&f) {
    forEachBroadcast(x.dims(), {red.kept}, [&](int64_t k, const std::vector<int64_t> &at) { f(k, static_cast<size_t>(at[0])); });
  };
  forEach([&](int64_t k, size_t o) {
    if (!fp) {
      const int64_t e = getInt(x, k);
      if (op == "Sum") iacc[o] += e;
      else if (op == "Prod") iacc[o] *= e;
      else if (op == "Max") iacc[o] = std::max(iacc[o], e);
      else iacc[o] = std::min(iacc[o], e);
      return;
    }
    const double e = getDouble(x, k);
    if (isMax) acc[o] = std::isnan(e) || e > acc[o] ? e : acc[o];
    else if (op == "Min") acc[o] = std::isnan(e) || e < acc[o] ? e : acc[o];
    else if (op == "Prod") acc[o] *= e;
    else if (op == "L1") acc[o] += std::fabs(e);
    else if (op == "L2" || op == "SumSquare") acc[o] += e * e;
    else acc[o] += e;
  });
  std::vector<double> shift;
  if (op == "LogSumExp") {  // max + log(sum(exp(x - max)))
    shift = acc;
    std::fill(acc.begin(), acc.end(), 0.0);
    forEach([&](int64_t k, size_t o) { acc[o] += std::exp(getDouble(x, k) - shift[o]); });
  }
  Tensor out(x.dtype(), red.out);
  for (size_t o = 0; o < static_cast<size_t>(outs); ++o) {
    const int64_t i = static_cast<int64_t>(o);
    if (!fp) {
      setInt(out, i, iacc[o]);
      continue;
    }
    double r = acc[o];
    if (op == "Mean") r /= static_cast<double>(x.numel() / std::max<int64_t>(outs, 1));
    else if (op == "L2") r = std::sqrt(r);
    else if (op == "LogSum") r = std::log(r);
    else if (op == "LogSumExp") r = shift[o] + std::log(r);
    if (isFloatType(x.dtype())) setDouble(out, i, r);
    else setInt(out, i, static_cast<int64_t>(r));
  }
  return out;
}

// Equal, Greater, GreaterOrEqual, Less, LessOrEqual (any numeric type) and And, Or, Xor (bool):
// a bool result with numpy broadcasting.
Tensor compare(const Node &n, const std::string &op, const Tensor &a, const Tensor &b) {
  if (a.dtype() != b.dtype())
    throw Error(cat(n.describe(), ": input types differ (", dtypeName(a.dtype()), " vs ", dtypeName(b.dtype()), ")"));
  const Dims outDims = broadcastDims(a.dims(), b.dims(), n);
  Tensor out(DType::Bool, outDims);
  uint8_t *r = static_cast<uint8_t *>(out.raw());
  const bool fp = isFloatType(a.dtype());
  forEachBroadcast(outDims, {a.dims(), b.dims()}, [&](int64_t o, const std::vector<int64_t> &at) {
    int c;  // -1, 0, 1: the order of a and b; 2 unordered (NaN)
    if (fp) {
      const double x = getDouble(a, at[0]), y = getDouble(b, at[1]);
      c = x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    } else {
      const int64_t x = getInt(a, at[0]), y = getInt(b, at[1]);
      c = x < y ? -1 : x > y ? 1 : 0;
    }
    bool v;
    if (op == "Equal") v = c == 0;
    else if (op == "Greater") v = c == 1;
    else if (op == "GreaterOrEqual") v = c == 1 || c == 0;
    else if (op == "Less") v = c == -1;
    else if (op == "LessOrEqual") v = c == -1 || c == 0;
    else {
      const bool x = getInt(a, at[0]) != 0, y = getInt(b, at[1]) != 0;
      v = op == "And" ? x && y : op == "Or" ? x || y : x != y;
    }
    r[o] = v;
  });
  return out;
}

// Where(condition, X, Y), the three broadcast together.
Tensor where(const Node &n, const Tensor &c, const Tensor &x, const Tensor &y) {
  if (x.dtype() != y.dtype())
    throw Error(cat(n.describe(), ": X and Y types differ (", dtypeName(x.dtype()), " vs ", dtypeName(y.dtype()), ")"));
  const Dims outDims = broadcastDims(broadcastDims(c.dims(), x.dims(), n), y.dims(), n);
  Tensor out(x.dtype(), outDims);
  const size_t es = dtypeSize(x.dtype());
  const uint8_t *cp = static_cast<const uint8_t *>(c.raw()), *xp = static_cast<const uint8_t *>(x.raw()),
                *yp = static_cast<const uint8_t *>(y.raw());
  uint8_t *op = static_cast<uint8_t *>(out.raw());
  forEachBroadcast(outDims, {c.dims(), x.dims(), y.dims()}, [&](int64_t o, const std::vector<int64_t> &at) {
    const uint8_t *from = cp[at[0]] ? xp + at[1] * static_cast<int64_t>(es) : yp + at[2] * static_cast<int64_t>(es);
    std::memcpy(op + o * static_cast<int64_t>(es), from, es);
  });
  return out;
}

// Expand to \p dims (bidirectional broadcasting) and Tile by \p repeats: element copies.
Tensor expand(const Node &n, const Tensor &x, const std::vector<int64_t> &shape) {
  const Dims outDims = broadcastDims(x.dims(), shape, n);
  Tensor out(x.dtype(), outDims);
  const size_t es = dtypeSize(x.dtype());
  forEachBroadcast(outDims, {x.dims()}, [&](int64_t o, const std::vector<int64_t> &at) {
    std::memcpy(static_cast<uint8_t *>(out.raw()) + o * static_cast<int64_t>(es),
                static_cast<const uint8_t *>(x.raw()) + at[0] * static_cast<int64_t>(es), es);
  });
  return out;
}

Tensor tile(const Node &n, const Tensor &x, const std::vector<int64_t> &repeats) {
  const StridedView v = tileView(n, x.dims(), repeats);
  Tensor out(x.dtype(), tiledDims(v));
  copyStrided(x.raw(), 0, v.strides, out.raw(), 0, contiguousStrides(v.dims), v.dims, dtypeSize(x.dtype()));
  return out;
}

// ArgMax / ArgMin along `axis`: the first index of the extreme, or the last with
// select_last_index; int64 indices.
Tensor argExtreme(const Node &n, const Tensor &x) {
  const bool isMax = n.opType() == "ArgMax", last = n.attrInt("select_last_index", 0) != 0;
  const int64_t axis = normalizeAxis(n.attrInt("axis", 0), x.rank(), n);
  Dims outDims = x.dims();
  const int64_t len = outDims[static_cast<size_t>(axis)];
  if (len == 0) throw Error(cat(n.describe(), ": reduces an empty axis"));
  const int64_t inner = numElements(Dims(outDims.begin() + axis + 1, outDims.end()));
  const int64_t outer = numElements(Dims(outDims.begin(), outDims.begin() + axis));
  outDims[static_cast<size_t>(axis)] = 1;
  if (!n.attrInt("keepdims", 1)) outDims.erase(outDims.begin() + axis);
  Tensor out(DType::Int64, outDims);
  int64_t *r = out.data<int64_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      double bv = getDouble(x, o * len * inner + i);
      for (int64_t k = 1; k < len; ++k) {
        const double v = getDouble(x, (o * len + k) * inner + i);
        const bool better = isMax ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv));
        if (better) {
          best = k;
          bv = v;
        }
      }
      r[o * inner + i] = best;
    }
  return out;
}

// Pow: base and exponent may differ in type; the result has the base's.
Tensor power(const Node &n, const Tensor &a, const Tensor &b) {
  const Dims outDims = broadcastDims(a.dims(), b.dims(), n);
  Tensor out(a.dtype(), outDims);
  const bool fp = isFloatType(a.dtype());
  forEachBroadcast(outDims, {a.dims(), b.dims()}, [&](int64_t o, const std::vector<int64_t> &at) {
    const double r = std::pow(getDouble(a, at[0]), getDouble(b, at[1]));
    if (fp) setDouble(out, o, r);
    else setInt(out, o, saturatingInt(r));
  });
  return out;
}

// Resize / Upsample as ONNX's reference defines them (resizeTaps): each output element the
// weighted sum of the input elements its axes' taps name, or extrapolation_value outside.
Tensor resize(const Node &n, const std::vector<const Tensor *> &inputs, int64_t opset) {
  const Tensor &x = *inputs.at(0);
  const std::optional<ResizeGeometry> geo = resizeGeometry(n, x.dims());
  if (!geo) throw Error(cat(n.describe(), ": scales and sizes must be known"));
  std::vector<double> roi;
  if (inputs.size() >= 2 && inputs[1])
    for (float v : inputs[1]->toFloats()) roi.push_back(v);
  const ResizeTaps taps = resizeTaps(n, x.dims(), opset, roi);
  Tensor out(x.dtype(), geo->out);
  std::vector<double> acc(static_cast<size_t>(out.numel()), 0.0);
  forEachResizeTap(taps, x.dims(), [&](int64_t o, int64_t at, double w) { acc[static_cast<size_t>(o)] += w * getDouble(x, at); },
                   [&](int64_t o) { acc[static_cast<size_t>(o)] = taps.extrapolation; });
  for (int64_t o = 0; o < out.numel(); ++o) {
    const double v = acc[static_cast<size_t>(o)];
    if (isFloatType(x.dtype())) setDouble(out, o, v);
    else setInt(out, o, saturatingInt(std::round(v)));
  }
  return out;
}

Tensor unary(const Node &n, const Tensor &x, int64_t opset) {
  Tensor out(x.dtype(), x.dims());
  const bool fp = isFloatType(x.dtype());
  std::pair<float, float> bounds{0.f, 0.f};
  if (n.opType() == "Clip") bounds = clipBounds(n, opset);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (fp) {
      double v = getDouble(x, i);
      if (n.opType() == "Relu") v = std::max(v, 0.0);
      else v = std::min(std::max(v, static_cast<double>(bounds.first)), static_cast<double>(bounds.second));
      setDouble(out, i, v);
    } else {
      int64_t v = getInt(x, i);
      if (n.opType() == "Relu") {
        v = std::max<int64_t>(v, 0);
      } else {
        // Bounds beyond int64 (infinite ones included) saturate.
        v = std::min(std::max(v, saturatingInt(bounds.first)), saturatingInt(bounds.second));
      }
      setInt(out, i, v);
    }
  }
  return out;
}

// DynamicQuantizeLinear: u8 codes of x with the scale and zero point of its range (0 included):
// scale = (max - min) / 255, zero point = saturate(round(-min / scale)); an all-zero x has
// scale 0, zero point 0 and codes 0.
std::vector<Tensor> dynamicQuantizeLinear(const Node &n, const Tensor &x) {
  if (x.dtype() != DType::Float32) throw Error(cat(n.describe(), ": quantizes FLOAT, not ", dtypeName(x.dtype())));
  const float *v = x.data<float>();
  float lo = 0.f, hi = 0.f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (!std::isfinite(v[i])) throw Error(cat(n.describe(), ": input holds ", v[i], " at index ", i));
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  const QuantRange r = quantRange(8, false, false);
  const float scale = (hi - lo) / static_cast<float>(r.qmax - r.qmin);
  const int32_t zp = scale > 0.f ? quantizeValue(-lo, scale, 0, r) : 0;
  Tensor y(DType::UInt8, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i)
    y.data<uint8_t>()[i] = static_cast<uint8_t>(scale > 0.f ? quantizeValue(v[i], scale, zp, r) : 0);
  return {y, Tensor::scalar<float>(scale), Tensor::scalar<uint8_t>(static_cast<uint8_t>(zp))};
}

// An op of UnaryMath on floating-point data, in float as the runner and training engine do it.
Tensor unaryMath(const Node &n, const UnaryMath &u, const Tensor &x) {
  if (!isFloatType(x.dtype()))
    throw Error(cat(n.describe(), ": computes floating-point data, not ", dtypeName(x.dtype())));
  const UnaryParams p = u.params(n);
  Tensor out(x.dtype(), x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) setDouble(out, i, u.value(static_cast<float>(getDouble(x, i)), p));
  return out;
}

// Transpose and Slice: a strided read of the input (OpParams' views).
Tensor copyView(const Tensor &x, const StridedView &v) {
  Tensor out(x.dtype(), v.dims);
  copyStrided(x.raw(), v.offset, v.strides, out.raw(), 0, contiguousStrides(v.dims), v.dims, dtypeSize(x.dtype()));
  return out;
}

}  // namespace

Tensor transposed(const Tensor &t, const std::vector<int64_t> &perm) { return copyView(t, permutedView(t.dims(), perm)); }

namespace {

Tensor concat(const Node &n, const std::vector<const Tensor *> &ins) {
  if (ins.empty() || std::find(ins.begin(), ins.end(), nullptr) != ins.end())
    throw Error(cat(n.describe(), ": Concat has a missing input"));
  const Tensor &first = *ins[0];
  int64_t axis = normalizeAxis(n.attrInt("axis", 0), first.rank(), n);
  Dims outDims = first.dims();
  outDims[static_cast<size_t>(axis)] = 0;
  for (const Tensor *t : ins) {
    if (t->rank() != first.rank() || t->dtype() != first.dtype())
      throw Error(cat(n.describe(), ": inputs differ in rank or type"));
    outDims[static_cast<size_t>(axis)] += t->dims()[static_cast<size_t>(axis)];
  }
  Tensor out(first.dtype(), outDims);
  std::vector<int64_t> outStrides = contiguousStrides(outDims);
  int64_t at = 0;
  for (const Tensor *t : ins) {
    copyStrided(t->raw(), 0, contiguousStrides(t->dims()), out.raw(),
                at * outStrides[static_cast<size_t>(axis)], outStrides, t->dims(),
                dtypeSize(first.dtype()));
    at += t->dims()[static_cast<size_t>(axis)];
  }
  return out;
}

std::vector<Tensor> splitTensor(const Node &n, const Tensor &x, int64_t opset) {
  int64_t axis = normalizeAxis(n.attrInt("axis", 0), x.rank(), n);
  std::vector<int64_t> sizes = splitSizes(n, opset, x.dims()[static_cast<size_t>(axis)]);
  std::vector<int64_t> inStrides = contiguousStrides(x.dims());
  std::vector<Tensor> outs;
  int64_t at = 0;
  for (int64_t sz : sizes) {
    Dims d = x.dims();
    d[static_cast<size_t>(axis)] = sz;
    Tensor out(x.dtype(), d);
    copyStrided(x.raw(), at * inStrides[static_cast<size_t>(axis)], inStrides, out.raw(), 0,
                contiguousStrides(d), d, dtypeSize(x.dtype()));
    at += sz;
    outs.push_back(std::move(out));
  }
  return outs;
}

Tensor pad(const Node &n, const Tensor &x, int64_t opset) {
  PadSpec p = resolvePad(n, opset, x.rank());
  Dims outDims = x.dims();
  for (size_t i = 0; i < outDims.size(); ++i) outDims[i] += p.begin[i] + p.end[i];
  Tensor out(x.dtype(), outDims);
  Tensor fill(x.dtype(), {});
  if (isFloatType(x.dtype()))
    setDouble(fill, 0, p.constant.value_or(0.0));
  else
    setInt(fill, 0, static_cast<int64_t>(p.constant.value_or(0.0)));
  PadMode mode = p.mode == "edge" ? PadMode::Edge : p.mode == "reflect" ? PadMode::Reflect : PadMode::Constant;
  padCopy(x.raw(), x.dims(), out.raw(), p.begin, p.end, mode, fill.raw(), dtypeSize(x.dtype()));
  return out;
}

Tensor gather(const Node &n, const Tensor &x, const Tensor &idx) {
  int64_t axis = normalizeAxis(n.attrInt("axis", 0), x.rank(), n);
  int64_t dim = x.dims()[static_cast<size_t>(axis)];
  std::vector<int64_t> indices = idx.toInt64s();
  for (int64_t &i : indices) {
    if (i < -dim || i >= dim)
      throw Error(cat(n.describe(), ": index ", i, " is out of range for dimension ", dim));
    if (i < 0) i += dim;
  }
  Dims outDims(x.dims().begin(), x.dims().begin() + axis);
  outDims.insert(outDims.end(), idx.dims().begin(), idx.dims().end());
  outDims.insert(outDims.end(), x.dims().begin() + axis + 1, x.dims().end());
  Tensor out(x.dtype(), outDims);
  gatherCopy(x.raw(), x.dims(), axis, indices, out.raw(), dtypeSize(x.dtype()));
  return out;
}

// GatherElements: out[i] = x[i with its `axis` coordinate replaced by indices[i]].
Tensor gatherElements(const Node &n, const Tensor &x, const Tensor &idx) {
  const int64_t axis = normalizeAxis(n.attrInt("axis", 0), x.rank(), n);
  if (idx.rank() != x.rank()) throw Error(cat(n.describe(), ": indices and data ranks differ"));
  const int64_t dim = x.dims()[static_cast<size_t>(axis)];
  const std::vector<int64_t> indices = idx.toInt64s(), xs = contiguousStrides(x.dims());
  Tensor out(x.dtype(), idx.dims());
  const size_t es = dtypeSize(x.dtype());
  std::vector<int64_t> at(idx.dims().size(), 0);
  for (int64_t o = 0; o < out.numel(); ++o) {
    int64_t i = indices[static_cast<size_t>(o)];
    if (i < -dim || i >= dim) throw Error(cat(n.describe(), ": index ", i, " is out of range for dimension ", dim));
    if (i < 0) i += dim;
    int64_t from = 0;
    for (size_t d = 0; d < at.size(); ++d) {
      const int64_t c = static_cast<int64_t>(d) == axis ? i : at[d];
      if (c >= x.dims()[d]) throw Error(cat(n.describe(), ": indices ", shapeString(idx.dims()), " exceed data ", shapeString(x.dims())));
      from += c * xs[d];
    }
    std::memcpy(static_cast<uint8_t *>(out.raw()) + o * static_cast<int64_t>(es),
                static_cast<const uint8_t *>(x.raw()) + from * static_cast<int64_t>(es), es);
    for (size_t d = at.size(); d-- > 0;) {
      if (++at[d] < idx.dims()[d]) break;
      at[d] = 0;
    }
  }
  return out;
}

// GatherND: each index tuple (the last axis of indices) picks a slice of x after batch_dims
// shared leading axes.
Tensor gatherND(const Node &n, const Tensor &x, const Tensor &idx) {
  const int64_t b = n.attrInt("batch_dims", 0), q = idx.rank(), r = x.rank();
  if (q < 1 || b < 0 || b >= std::min(q, r)) throw Error(cat(n.describe(), ": batch_dims ", b, " does not fit"));
  const int64_t k = idx.dims().back();
  if (k < 1 || b + k > r) throw Error(cat(n.describe(), ": index tuples of ", k, " for a rank-", r, " input"));
  for (int64_t d = 0; d < b; ++d)
    if (idx.dims()[static_cast<size_t>(d)] != x.dims()[static_cast<size_t>(d)])
      throw Error(cat(n.describe(), ": batch axes of indices and data differ"));
  Dims outDims(idx.dims().begin(), idx.dims().end() - 1);
  outDims.insert(outDims.end(), x.dims().begin() + b + k, x.dims().end());
  const int64_t batch = numElements(Dims(x.dims().begin(), x.dims().begin() + b));
  const int64_t tuples = numElements(Dims(idx.dims().begin() + b, idx.dims().end() - 1));
  const int64_t slice = numElements(Dims(x.dims().begin() + b + k, x.dims().end()));
  const int64_t batchStride = numElements(Dims(x.dims().begin() + b, x.dims().end()));
  const std::vector<int64_t> indices = idx.toInt64s(), xs = contiguousStrides(x.dims());
  Tensor out(x.dtype(), outDims);
  const size_t es = dtypeSize(x.dtype());
  for (int64_t bi = 0; bi < batch; ++bi)
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t from = bi * batchStride;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t dim = x.dims()[static_cast<size_t>(b + j)];
        int64_t i = indices[static_cast<size_t>((bi * tuples + t) * k + j)];
        if (i < -dim || i >= dim) throw Error(cat(n.describe(), ": index ", i, " is out of range for dimension ", dim));
        if (i < 0) i += dim;
        from += i * xs[static_cast<size_t>(b + j)];
      }
      std::memcpy(static_cast<uint8_t *>(out.raw()) + (bi * tuples + t) * slice * static_cast<int64_t>(es),
                  static_cast<const uint8_t *>(x.raw()) + from * static_cast<int64_t>(es),
                  static_cast<size_t>(slice) * es);
    }
  return out;
}

// QuantizeLinear / DequantizeLinear, per tensor or per axis (opset 13).
Tensor quantizeLinear(const Node &n, const std::vector<const Tensor *> &ins, bool quantize) {
  if (ins.size() < 2 || !ins[0] || !ins[1])
    throw Error(cat(n.describe(), ": needs its input and scale"));
  const Tensor &x = *ins[0];
  const Tensor &scaleT = *ins[1];
  const Tensor *zpT = ins.size() > 2 ? ins[2] : nullptr;
  if (scaleT.numel() < 1 || scaleT.rank() > 1)
    throw Error(cat(n.describe(), ": the scale must be a scalar or 1-D and not empty, is ", shapeString(scaleT.dims())));
  std::vector<float> scale = scaleT.toFloats();
  std::vector<int64_t> zp = zpT ? zpT->toInt64s() : std::vector<int64_t>(scale.size(), 0);
  DType outType = quantize ? (zpT ? zpT->dtype() : DType::UInt8) : DType::Float32;
  int64_t axis = 0, outer = 1, channels = 1, inner = x.numel();
  if (scale.size() > 1) {  // one value, scalar or 1-D, is per tensor (as ONNX Runtime reads it)
    axis = normalizeAxis(n.attrInt("axis", 1), x.rank(), n);
    for (int64_t i = 0; i < x.rank(); ++i) {
      int64_t d = x.dims()[static_cast<size_t>(i)];
      if (i < axis) outer *= d;
      else if (i == axis) channels = d;
    }
    inner = x.numel() / std::max<int64_t>(1, outer * channels);
    if (static_cast<int64_t>(scale.size()) != channels)
      throw Error(cat(n.describe(), ": ", scale.size(), " scales for ", channels, " channels on axis ", axis));
  }
  if (zp.size() != scale.size()) throw Error(cat(n.describe(), ": scale and zero point differ in length"));
  const QuantRange r = outType == DType::Int8 ? quantRange(8, true, false) : quantRange(8, false, false);
  Tensor out(outType, x.dims());
  std::vector<float> xf = quantize ? x.toFloats() : std::vector<float>{};
  std::vector<int64_t> xi = quantize ? std::vector<int64_t>{} : x.toInt64s();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t at = (o * channels + c) * inner + i;
        const float s = scale[static_cast<size_t>(c)];
        const int32_t z = static_cast<int32_t>(zp[static_cast<size_t>(c)]);
        if (quantize)
          setInt(out, at, quantizeValue(xf[static_cast<size_t>(at)], s, z, r));
        else
          out.data<float>()[at] = dequantizeValue(static_cast<int32_t>(xi[static_cast<size_t>(at)]), s, z);
      }
  return out;
}

}  // namespace

Tensor shapeOfDims(const Node &n, const Dims &dims) {
  int64_t r = static_cast<int64_t>(dims.size());
  int64_t start = n.attrInt("start", 0), end = n.attrInt("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> d(dims.begin() + start, dims.begin() + std::max(start, end));
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(d.size())}, d);
}

// Cast to STRING: the shortest decimal that reads back as the same value (std::to_chars,
// what numpy prints), NaN / INF / -INF as the ONNX Cast spec spells them.
std::string formatNumber(const Tensor &t, int64_t i) {
  char buf[64];
  std::to_chars_result r{};
  if (isFloatType(t.dtype())) {
    const double v = getDouble(t, i);
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "INF" : "-INF";
    r = t.dtype() == DType::Float64 ? std::to_chars(buf, buf + sizeof buf, v)
                                    : std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
  } else if (t.dtype() == DType::UInt64) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<const uint64_t *>(t.raw())[i]);
  } else {
    r = std::to_chars(buf, buf + sizeof buf, getInt(t, i));
  }
  return std::string(buf, r.ptr);
}

// Cast from STRING: a decimal number, "NaN", "INF", "+INF", "-INF" (any case) for float
// types, a decimal integer for integer types; anything else is an error naming the string.
template <typename T>
T parseNumber(const std::string &s, DType to) {
  std::string_view v = s;
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);  // from_chars takes no '+'
  T out{};
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size())
    throw Error(cat("Cast: '", s, "' is not a ", dtypeName(to), " value"));
  return out;
}

Tensor castTensor(const Tensor &t, DType to) {
  const bool toString = to == DType::String, fromString = t.dtype() == DType::String;
  if ((!isNumeric(to) && !toString) || (!isNumeric(t.dtype()) && !fromString) ||
      (fromString && to == DType::Bool))
    throw Error(cat("Cast from ", dtypeName(t.dtype()), " to ", dtypeName(to), " is not supported"));
  Tensor out(to, t.dims());
  if (toString) {
    for (int64_t i = 0; i < t.numel(); ++i)
      out.strings()[static_cast<size_t>(i)] = fromString ? t.strings()[static_cast<size_t>(i)] : formatNumber(t, i);
    return out;
  }
  const bool fromFloat = isFloatType(t.dtype());
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (fromString) {
      const std::string &v = t.strings()[static_cast<size_t>(i)];
      if (to == DType::Float32) setDouble(out, i, parseNumber<float>(v, to));
      else if (isFloatType(to)) setDouble(out, i, parseNumber<double>(v, to));
      else setInt(out, i, parseNumber<int64_t>(v, to));
    } else if (isFloatType(to) || to == DType::Bool) {
      setDouble(out, i, getDouble(t, i));
    } else {
      setInt(out, i, fromFloat ? saturatingInt(getDouble(t, i)) : getInt(t, i));
    }
  }
  return out;
}

bool canEvaluate(const Node &n) {
  const OpInfo *op = n.domain().empty() ? findOp(n.opType()) : nullptr;
  return op && op->evaluates;
}

std::vector<Tensor> evaluate(const Node &n, const std::vector<const Tensor *> &inputs,
                             int64_t opset) {
  const std::string &op = n.opType();
  auto in = [&](size_t i) -> const Tensor & {
    if (i >= inputs.size() || !inputs[i])
      throw Error(cat(n.describe(), ": required input ", i, " is missing"));
    return *inputs[i];
  };
  if (op == "Identity") return {in(0)};
  if (op == "Dropout") {
    Tensor mask(DType::Bool, in(0).dims());
    uint8_t *keep = static_cast<uint8_t *>(mask.raw());
    auto given = [&](size_t i) { return i < inputs.size() && inputs[i]; };
    const bool training = given(2) && in(2).toInt64s().at(0) != 0;
    const float ratio = given(1) ? in(1).toFloats().at(0) : 0.5f;
    if (!training || ratio <= 0.f) {
      std::fill_n(keep, mask.byteSize(), uint8_t{1});
      return {in(0), mask};
    }
    if (ratio >= 1.f) throw Error(cat(n.describe(), ": Dropout ratio must be below 1, got ", ratio));
    if (in(0).dtype() != DType::Float32)
      throw Error(cat(n.describe(), ": training-mode Dropout of ", dtypeName(in(0).dtype()), " data"));
    // Unseeded: a new mask each run, as the spec asks ("auto generate" a seed).
    const uint32_t seed = n.hasAttr("seed") ? static_cast<uint32_t>(n.attrInt("seed", 0))
                                             : std::random_device{}();
    dropoutMask(seed, ratio, mask.numel(), keep);
    Tensor y(DType::Float32, in(0).dims());
    const float *x = static_cast<const float *>(in(0).raw());
    float *yp = static_cast<float *>(y.raw());
    const float scale = 1.f / (1.f - ratio);
    for (int64_t i = 0; i < y.numel(); ++i) yp[i] = keep[i] ? x[i] * scale : 0.f;
    return {y, mask};
  }
  if (op == "Cast") return {castTensor(in(0), static_cast<DType>(n.attrInt("to", 0)))};
  if (op == "Shape") return {shapeOfDims(n, in(0).dims())};
  if (op == "Gather") return {gather(n, in(0), in(1))};
  if (op == "GatherElements") return {gatherElements(n, in(0), in(1))};
  if (op == "GatherND") return {gatherND(n, in(0), in(1))};
  if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" || op == "Flatten") {
    Dims d;
    const Tensor &x = in(0);
    if (op == "Reshape") {
      d = reshapeDims(n, x.dims(), in(1).toInt64s());
    } else if (op == "Flatten") {
      d = flattenDims(n, x.dims());
    } else {
      std::optional<std::vector<int64_t>> axes =
          opset < 13 ? squeezeAxes(n, opset)
                     : (inputs.size() > 1 && inputs[1] ? std::optional(inputs[1]->toInt64s()) : std::nullopt);
      d = op == "Unsqueeze" ? unsqueezeDims(n, x.dims(), axes) : squeezeDims(n, x.dims(), axes);
    }
    return {x.reshaped(d)};
  }
  if (op == "Concat") return {concat(n, inputs)};
  if (op == "Split") return splitTensor(n, in(0), opset);
  if (op == "Slice") return {copyView(in(0), sliceView(n, opset, in(0).dims()))};
  if (op == "Transpose") return {copyView(in(0), transposeView(n, in(0).dims()))};
  if (op == "Pad") return {pad(n, in(0), opset)};
  if (op == "ConstantOfShape") {
    Dims d = in(0).toInt64s();
    Tensor value = Tensor::fromVector<float>({1}, {0.f});
    if (n.hasAttr("value")) value = *n.attrs().at("value").tensor;
    Tensor out(value.dtype(), d);
    size_t es = dtypeSize(value.dtype());
    for (int64_t i = 0; i < out.numel(); ++i)
      std::memcpy(static_cast<uint8_t *>(out.raw()) + i * static_cast<int64_t>(es), value.raw(), es);
    return {out};
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "PRelu") return {binary(n, op, in(0), in(1))};
  if (op == "Sum" || op == "Mean" || op == "Max" || op == "Min") return {variadic(n, inputs)};
  if (op.rfind("Reduce", 0) == 0) return {reduce(n, in(0))};
  if (op == "Equal" || op == "Greater" || op == "GreaterOrEqual" || op == "Less" || op == "LessOrEqual" ||
      op == "And" || op == "Or" || op == "Xor")
    return {compare(n, op, in(0), in(1))};
  if (op == "Not") {
    Tensor out(DType::Bool, in(0).dims());
    for (int64_t i = 0; i < out.numel(); ++i) setInt(out, i, getInt(in(0), i) == 0);
    return {out};
  }
  if (op == "Where") return {where(n, in(0), in(1), in(2))};
  if (op == "Expand") return {expand(n, in(0), in(1).toInt64s())};
  if (op == "Tile") return {tile(n, in(0), in(1).toInt64s())};
  if (op == "ArgMax" || op == "ArgMin") return {argExtreme(n, in(0))};
  if (op == "Pow") return {power(n, in(0), in(1))};  // before UnaryMath's row: any exponent here
  if (op == "Resize" || op == "Upsample") return {resize(n, inputs, opset)};
  if (op == "Relu" || op == "Clip") return {unary(n, in(0), opset)};
  if (const UnaryMath *u = findUnaryMath(op)) return {unaryMath(n, *u, in(0))};
  if (op == "DynamicQuantizeLinear") return dynamicQuantizeLinear(n, in(0));
  if (op == "QuantizeLinear" || op == "DequantizeLinear")
    return {quantizeLinear(n, inputs, op == "QuantizeLinear")};
  throw Error(cat(n.describe(), ": cannot be evaluated on constants"));
}

std::vector<Tensor> evaluateConstant(const Node &n, int64_t opset) {
  std::vector<const Tensor *> ins;
  for (const Value *in : n.inputs()) {
    if (in && !in->isConstant()) throw Error(cat(n.describe(), ": input '", in->name(), "' is not a constant"));
    ins.push_back(in ? in->constant().get() : nullptr);
  }
  return evaluate(n, ins, opset);
}

}  // namespace lowbit
