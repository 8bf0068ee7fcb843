#include "ops/ShapeInference.h"

#include <onnx/defs/schema.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "ops/OpParams.h"
#include "ops/OpSupport.h"
#include "ops/OpTable.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

bool known(const Value *v) { return v && v->hasShape(); }

void setOut(Node &n, size_t i, DType t, const Dims *dims) {
  Value *o = n.output(i);
  if (!o) return;
  o->setDType(t);
  if (dims) {
    o->setShape(*dims);
  }
}

DType inType(const Node &n, size_t i) {
  Value *v = n.input(i);
  if (!v) throw Error(cat(n.describe(), ": required input ", i, " is missing"));
  return v->dtype();
}

void requireRankAtLeast(const Node &n, const Dims &d, size_t r) {
  if (d.size() < r)
    throw Error(cat(n.describe(), ": input has rank ", d.size(), ", expected at least ", r));
}

void inferWindowOp(Node &n, bool isConv, bool ceil) {
  Value *x = n.input(0);
  setOut(n, 0, x->dtype(), nullptr);
  if (!known(x)) return;
  const Dims &xd = x->dims();
  requireRankAtLeast(n, xd, 3);
  Dims spatial(xd.begin() + 2, xd.end());
  Dims kernel;
  int64_t outC = xd[1];
  if (isConv) {
    Value *w = n.input(1);
    if (!known(w)) return;
    const Dims &wd = w->dims();
    if (wd.size() != xd.size())
      throw Error(cat(n.describe(), ": weight rank ", wd.size(), " differs from input rank ", xd.size()));
    kernel.assign(wd.begin() + 2, wd.end());
    if (n.hasAttr("kernel_shape") && n.attrInts("kernel_shape") != kernel)
      throw Error(cat(n.describe(), ": kernel_shape disagrees with the weight shape"));
    int64_t group = n.attrInt("group", 1);
    if (xd[1] >= 0 && wd[1] * group != xd[1])
      throw Error(cat(n.describe(), ": input has ", xd[1], " channels, weight expects ",
                      wd[1] * group, " (", wd[1], " x group ", group, ")"));
    outC = wd[0];
  } else {
    kernel = n.attrInts("kernel_shape");
    if (kernel.size() != spatial.size())
      throw Error(cat(n.describe(), ": kernel_shape must have ", spatial.size(), " values"));
  }
  Dims out = {xd[0], outC};
  if (std::any_of(spatial.begin(), spatial.end(), [](int64_t d) { return d < 0; })) {
    out.resize(xd.size(), -1);
  } else {
    WindowGeometry g = windowGeometry(n, spatial, kernel, ceil);
    out.insert(out.end(), g.outSpatial.begin(), g.outSpatial.end());
  }
  setOut(n, 0, x->dtype(), &out);
}

}  // namespace

namespace {

int64_t physicalMemoryBytes() {
  static const int64_t bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? static_cast<int64_t>(pages) * size : std::numeric_limits<int64_t>::max();
  }();
  return bytes;
}

}  // namespace

void requireOutputsFitInMemory(const Node &n) {
  for (const Value *o : n.outputs()) {
    if (!o || !o->hasShape()) continue;
    const std::optional<int64_t> bytes = checkedByteSize(o->dims(), std::max<size_t>(1, dtypeSize(o->dtype())));
    if (!bytes || *bytes > physicalMemoryBytes())
      throw Error(cat(n.describe(), ": output '", o->name(), "' ", shapeString(o->dims()),
                      " needs more memory than this machine has (", physicalMemoryBytes() >> 20, " MiB)"));
  }
}

namespace shapes {

// Shape inference of each op (the op table, OpTable.cpp, names these).
void inferSameShape(Node &n, int64_t) {
  const std::string &op = n.opType();
  Value *x = n.input(0);
  DType t = op == "Cast" ? static_cast<DType>(n.attrInt("to", 0)) : inType(n, 0);
  setOut(n, 0, t, known(x) ? &x->dims() : nullptr);
}

void inferQuantizeDequantize(Node &n, int64_t) {
  const std::string &op = n.opType();
  Value *x = n.input(0);
  DType t = DType::Float32;
  if (op == "QuantizeLinear") t = n.input(2) ? n.input(2)->dtype() : DType::UInt8;
  if (op == "QuantizeLinear" && t != DType::UInt8 && t != DType::Int8)
    throw Error(cat(n.describe(), ": quantizes to ", dtypeName(t), "; lowbit reads INT8 and UINT8"));
  if (const DType in = x ? x->dtype() : DType::Undefined;
      op == "DequantizeLinear" && in != DType::Undefined && in != DType::Int8 && in != DType::UInt8 && in != DType::Int32)
    throw Error(cat(n.describe(), ": dequantizes ", dtypeName(in), " '", x->name(), "'; ONNX dequantizes INT8, UINT8 and INT32"));
  if (!x || !n.input(1)) throw Error(cat(n.describe(), ": needs an input and a scale"));
  // Scales: finite and not negative; QuantizeLinear divides by them, so not zero either
  // (DequantizeLinear with a zero scale is a well-defined zero, e.g. a pruned channel).
  if (const Value *scale = n.input(1); scale && scale->isConstant()) {
    const std::vector<float> s = scale->constant()->toFloats();
    if (s.empty() || scale->constant()->rank() > 1)
      throw Error(cat(n.describe(), ": scale '", scale->name(), "' must be a scalar or 1-D and not empty, is ",
                      shapeString(scale->constant()->dims())));
    for (size_t i = 0; i < s.size(); ++i)
      if (!std::isfinite(s[i]) || s[i] < 0.f || (op == "QuantizeLinear" && s[i] == 0.f))
        throw Error(cat(n.describe(), ": scale '", scale->name(), "' holds ", s[i], s.size() > 1 ? cat(" at index ", i) : "",
                        op == "QuantizeLinear" ? "; a quantization scale must be positive and finite"
                                               : "; a dequantization scale must be finite and not negative"));
    if (const Value *zp = n.input(2); zp && zp->hasShape() && scale->hasShape() && zp->dims() != scale->dims())
      throw Error(cat(n.describe(), ": zero point '", zp->name(), "' is ", shapeString(zp->dims()), " but scale '",
                      scale->name(), "' is ", shapeString(scale->dims())));
    if (s.size() > 1 && known(x)) {
      if (x->dims().empty())
        throw Error(cat(n.describe(), ": ", s.size(), " scales for the scalar '", x->name(), "'"));
      const int64_t axis = normalizeAxis(n.attrInt("axis", 1), static_cast<int64_t>(x->dims().size()), n);
      if (x->dims()[static_cast<size_t>(axis)] != static_cast<int64_t>(s.size()))
        throw Error(cat(n.describe(), ": ", s.size(), " scales for axis ", axis, " of ", shapeString(x->dims())));
    }
  }
  setOut(n, 0, t, known(x) ? &x->dims() : nullptr);
}

void inferDynamicQuantizeLinear(Node &n, int64_t) {
  Value *x = n.input(0);
  const Dims scalar;
  setOut(n, 0, DType::UInt8, known(x) ? &x->dims() : nullptr);
  setOut(n, 1, DType::Float32, &scalar);
  setOut(n, 2, DType::UInt8, &scalar);
}

void inferDropout(Node &n, int64_t) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), known(x) ? &x->dims() : nullptr);
  setOut(n, 1, DType::Bool, known(x) ? &x->dims() : nullptr);
}

namespace {

// The numpy broadcast of \p values' dims, or nullopt while one of them is unknown.
std::optional<Dims> broadcastOf(const Node &n, const std::vector<const Value *> &values) {
  Dims d;
  for (const Value *v : values) {
    if (!known(v)) return std::nullopt;
    d = broadcastDims(d, v->dims(), n);
  }
  return d;
}

}  // namespace

void inferElementwiseBinary(Node &n, int64_t opset) {
  if (n.inputs().size() != 2 || !n.input(1)) throw Error(cat(n.describe(), ": needs two inputs"));
  inferBroadcast(n, opset);
}

void inferBroadcast(Node &n, int64_t) {
  for (size_t i = 0; i < n.inputs().size(); ++i)
    if (!n.input(i)) throw Error(cat(n.describe(), ": input ", i, " is missing"));
  if (n.inputs().empty()) throw Error(cat(n.describe(), ": needs at least one input"));
  const Value *x = n.input(0);
  for (const Value *y : n.inputs())
    if (x->dtype() != y->dtype() && x->dtype() != DType::Undefined && y->dtype() != DType::Undefined)
      throw Error(cat(n.describe(), ": input types differ (", dtypeName(x->dtype()), " vs ",
                      dtypeName(y->dtype()), ")"));
  const std::optional<Dims> d = broadcastOf(n, {n.inputs().begin(), n.inputs().end()});
  setOut(n, 0, x->dtype(), d ? &*d : nullptr);
}

void inferCompare(Node &n, int64_t opset) {
  inferElementwiseBinary(n, opset);
  const Value *out = n.output(0);
  setOut(n, 0, DType::Bool, out && out->hasShape() ? &out->dims() : nullptr);
}

void inferPow(Node &n, int64_t) {
  // Base and exponent may differ in type: the result has the base's.
  const Value *x = n.input(0), *e = n.inputs().size() > 1 ? n.input(1) : nullptr;
  if (!e) throw Error(cat(n.describe(), ": needs two inputs"));
  const std::optional<Dims> d = broadcastOf(n, {x, e});
  setOut(n, 0, x->dtype(), d ? &*d : nullptr);
}

void inferWhere(Node &n, int64_t) {
  for (size_t i = 0; i < 3; ++i)
    if (n.inputs().size() <= i || !n.input(i)) throw Error(cat(n.describe(), ": needs three inputs"));
  const Value *c = n.input(0), *x = n.input(1), *y = n.input(2);
  if (c->dtype() != DType::Bool && c->dtype() != DType::Undefined)
    throw Error(cat(n.describe(), ": the condition is ", dtypeName(c->dtype()), ", not BOOL"));
  const std::optional<Dims> d = broadcastOf(n, {c, x, y});
  setOut(n, 0, x->dtype(), d ? &*d : nullptr);
}

// Expand and Tile: the output shape follows from a constant second input (shape, repeats);
// given as a graph input, once the runner binds it.
void inferExpandTile(Node &n, int64_t) {
  const Value *x = n.input(0), *s = n.inputs().size() > 1 ? n.input(1) : nullptr;
  if (!s) throw Error(cat(n.describe(), ": needs two inputs"));
  setOut(n, 0, x->dtype(), nullptr);
  if (!known(x) || !s->isConstant()) return;
  const std::vector<int64_t> v = s->constant()->toInt64s();
  Dims d;
  if (n.opType() == "Expand") d = broadcastDims(x->dims(), v, n);
  else d = tiledDims(tileView(n, x->dims(), v));
  if (!checkedByteSize(d, dtypeSize(x->dtype()))) throw Error(cat(n.describe(), ": output ", shapeString(d), " is too large"));
  setOut(n, 0, x->dtype(), &d);
}

// LayerNormalization: Y as X; Mean and InvStdDev X's shape with the normalised axes 1 (float).
// InstanceNormalization: Y as X, scale and B one per channel.
void inferRowNormalization(Node &n, int64_t) {
  const Value *x = n.input(0);
  const bool layer = n.opType() == "LayerNormalization";
  if (n.inputs().size() < (layer ? 2u : 3u) || !n.input(1) || (!layer && !n.input(2)))
    throw Error(cat(n.describe(), layer ? ": needs X and Scale" : ": needs input, scale and B"));
  setOut(n, 0, x->dtype(), known(x) ? &x->dims() : nullptr);
  for (size_t i = 1; i < n.outputs().size(); ++i) setOut(n, i, DType::Float32, nullptr);
  if (!known(x)) return;
  const Dims &d = x->dims();
  const int64_t rank = static_cast<int64_t>(d.size());
  if (layer) {
    const int64_t axis = normalizeAxis(n.attrInt("axis", -1), rank, n);
    const Dims tail(d.begin() + axis, d.end());
    for (size_t i = 1; i < 3 && i < n.inputs().size(); ++i)
      if (known(n.input(i)) && numElements(n.input(i)->dims()) != numElements(tail))
        throw Error(cat(n.describe(), ": input ", i, " ", shapeString(n.input(i)->dims()), " for normalised axes ",
                        shapeString(tail)));
    Dims stats = d;
    for (int64_t a = axis; a < rank; ++a) stats[static_cast<size_t>(a)] = 1;
    for (size_t i = 1; i < n.outputs().size(); ++i) setOut(n, i, DType::Float32, &stats);
    return;
  }
  requireRankAtLeast(n, d, 3);
  for (size_t i = 1; i < 3; ++i)
    if (known(n.input(i)) && numElements(n.input(i)->dims()) != d[1])
      throw Error(cat(n.describe(), ": input ", i, " has ", numElements(n.input(i)->dims()), " values for ", d[1],
                      " channels"));
}

void inferResize(Node &n, int64_t) {
  const Value *x = n.input(0);
  setOut(n, 0, x->dtype(), nullptr);
  if (!known(x)) return;
  const std::optional<ResizeGeometry> r = resizeGeometry(n, x->dims());
  if (!r) return;
  if (!checkedByteSize(r->out, dtypeSize(x->dtype())))
    throw Error(cat(n.describe(), ": output ", shapeString(r->out), " is too large"));
  setOut(n, 0, x->dtype(), &r->out);
}

void inferConvTranspose(Node &n, int64_t) {
  const Value *x = n.input(0), *w = n.inputs().size() > 1 ? n.input(1) : nullptr;
  if (!w) throw Error(cat(n.describe(), ": needs X and W"));
  setOut(n, 0, x->dtype(), nullptr);
  if (!known(x) || !known(w)) return;
  const Dims &xd = x->dims(), &wd = w->dims();
  requireRankAtLeast(n, xd, 3);
  const int64_t group = n.attrInt("group", 1);
  if (wd.size() != xd.size() || group <= 0 || xd[1] != wd[0] || wd[0] % group != 0)
    throw Error(cat(n.describe(), ": weights ", shapeString(wd), " do not fit input ", shapeString(xd), " in ",
                    group, " groups"));
  const TransposedWindow tw = transposedWindow(n, Dims(xd.begin() + 2, xd.end()), Dims(wd.begin() + 2, wd.end()));
  Dims out = {xd[0], wd[1] * group};
  out.insert(out.end(), tw.outSpatial.begin(), tw.outSpatial.end());
  if (n.inputs().size() > 2 && known(n.input(2)) && numElements(n.input(2)->dims()) != out[1])
    throw Error(cat(n.describe(), ": bias ", shapeString(n.input(2)->dims()), " for ", out[1], " output channels"));
  setOut(n, 0, x->dtype(), &out);
}

void inferGatherElements(Node &n, int64_t) {
  const Value *x = n.input(0), *idx = n.inputs().size() > 1 ? n.input(1) : nullptr;
  if (!idx) throw Error(cat(n.describe(), ": needs data and indices"));
  setOut(n, 0, x->dtype(), known(idx) ? &idx->dims() : nullptr);
  if (known(x) && known(idx) && x->dims().size() != idx->dims().size())
    throw Error(cat(n.describe(), ": indices ", shapeString(idx->dims()), " and data ", shapeString(x->dims()), " ranks differ"));
}

void inferGatherND(Node &n, int64_t) {
  const Value *x = n.input(0), *idx = n.inputs().size() > 1 ? n.input(1) : nullptr;
  if (!idx) throw Error(cat(n.describe(), ": needs data and indices"));
  setOut(n, 0, x->dtype(), nullptr);
  if (!known(x) || !known(idx) || idx->dims().empty()) return;
  const int64_t b = n.attrInt("batch_dims", 0), k = idx->dims().back();
  const int64_t r = static_cast<int64_t>(x->dims().size());
  if (b < 0 || k < 1 || b + k > r) throw Error(cat(n.describe(), ": index tuples of ", k, " for a rank-", r, " input"));
  Dims out(idx->dims().begin(), idx->dims().end() - 1);
  out.insert(out.end(), x->dims().begin() + b + k, x->dims().end());
  setOut(n, 0, x->dtype(), &out);
}

void inferArgExtreme(Node &n, int64_t) {
  const Value *x = n.input(0);
  setOut(n, 0, DType::Int64, nullptr);
  if (!known(x)) return;
  Dims d = x->dims();
  const int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(d.size()), n);
  d[static_cast<size_t>(axis)] = 1;
  if (!n.attrInt("keepdims", 1)) d.erase(d.begin() + axis);
  setOut(n, 0, DType::Int64, &d);
}

void inferPRelu(Node &n, int64_t opset) {
  inferElementwiseBinary(n, opset);
  // Unidirectional: the slope broadcasts to X, the result keeps X's shape.
  const Value *x = n.input(0), *out = n.output(0);
  if (known(x) && known(out) && out->dims() != x->dims())
    throw Error(cat(n.describe(), ": slope ", shapeString(n.input(1)->dims()), " does not broadcast to X ",
                    shapeString(x->dims())));
}

void inferConv(Node &n, int64_t) {
  inferWindowOp(n, true, false);
  // B: one value per output channel (a shorter one would be read past its end).
  const Value *w = n.input(1), *bias = n.input(2);
  if (known(w) && known(bias) && !w->dims().empty() && w->dims()[0] >= 0 &&
      (bias->dims().size() != 1 || (bias->dims()[0] >= 0 && bias->dims()[0] != w->dims()[0])))
    throw Error(cat(n.describe(), ": bias '", bias->name(), "' has shape ", shapeString(bias->dims()), ", expected [",
                    w->dims()[0], "] (one value per output channel)"));
}

void inferPool(Node &n, int64_t) {
  const std::string &op = n.opType();
  inferWindowOp(n, false, n.attrInt("ceil_mode", 0) != 0);
  if (op == "MaxPool" && n.outputs().size() > 1 && n.output(1)) {  // Indices: same shape as Y
    const Value *y = n.output(0);
    setOut(n, 1, DType::Int64, y->hasShape() ? &y->dims() : nullptr);
  }
}

void inferGlobalAveragePool(Node &n, int64_t) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x)) return;
  Dims d = x->dims();
  requireRankAtLeast(n, d, 3);
  std::fill(d.begin() + 2, d.end(), 1);
  setOut(n, 0, x->dtype(), &d);
}

void inferBatchNormalization(Node &n, int64_t opset) {
  Value *x = n.input(0);
  const bool training = n.attrInt("training_mode", 0) != 0;
  if (opset < 14 && n.outputs().size() > 1)
    throw Error(cat(n.describe(), ": training outputs of BatchNormalization before opset 14 are not supported"));
  if (!training && n.outputs().size() > 1)
    throw Error(cat(n.describe(), ": running_mean and running_var outputs need training_mode=1"));
  // Opsets 7 and 8: spatial=0 keeps statistics per element of [C, H, W], not per channel.
  if (opset < 9 && n.attrInt("spatial", 1) == 0)
    throw Error(cat(n.describe(), ": spatial=0 (statistics per element, opset ", opset, ") is not supported; per channel is"));
  setOut(n, 0, inType(n, 0), known(x) ? &x->dims() : nullptr);
  // Updated running statistics, one per channel.
  const Value *scale = n.input(1);
  for (size_t i = 1; i < n.outputs().size(); ++i)
    setOut(n, i, inType(n, 0), scale && scale->hasShape() ? &scale->dims() : nullptr);
}

void inferGemm(Node &n, int64_t) {
  Value *x = n.input(0);
  Value *b = n.input(1);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x) || !known(b)) return;
  if (x->dims().size() != 2 || b->dims().size() != 2)
    throw Error(cat(n.describe(), ": Gemm inputs must be 2-D, got ", shapeString(x->dims()),
                    " and ", shapeString(b->dims())));
  bool ta = n.attrInt("transA", 0) != 0, tb = n.attrInt("transB", 0) != 0;
  int64_t m = ta ? x->dims()[1] : x->dims()[0], k = ta ? x->dims()[0] : x->dims()[1];
  int64_t kb = tb ? b->dims()[1] : b->dims()[0], nn = tb ? b->dims()[0] : b->dims()[1];
  if (k >= 0 && kb >= 0 && k != kb)
    throw Error(cat(n.describe(), ": inner dimensions differ (", k, " vs ", kb, ")"));
  Dims d = {m, nn};
  // C must broadcast to [M, N] (unidirectionally): a shorter C would be read past its end.
  const Value *c = n.input(2);
  if (known(c)) {
    const Dims &cd = c->dims();
    bool ok = cd.size() <= 2;
    for (size_t i = 0; ok && i < cd.size(); ++i) {
      const int64_t want = d[2 - cd.size() + i];
      ok = cd[i] < 0 || want < 0 || cd[i] == 1 || cd[i] == want;
    }
    if (!ok)
      throw Error(cat(n.describe(), ": C '", c->name(), "' has shape ", shapeString(cd),
                      ", which does not broadcast to the output [", m, ", ", nn, "]"));
  }
  setOut(n, 0, x->dtype(), &d);
}

void inferMatMul(Node &n, int64_t) {
  Value *x = n.input(0);
  Value *b = n.input(1);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x) || !known(b)) return;
  Dims a = x->dims(), bd = b->dims();
  if (a.empty() || bd.empty()) throw Error(cat(n.describe(), ": MatMul of a scalar"));
  bool aVec = a.size() == 1, bVec = bd.size() == 1;
  if (aVec) a.insert(a.begin(), 1);
  if (bVec) bd.push_back(1);
  if (a.back() >= 0 && bd[bd.size() - 2] >= 0 && a.back() != bd[bd.size() - 2])
    throw Error(cat(n.describe(), ": inner dimensions differ (", a.back(), " vs ",
                    bd[bd.size() - 2], ")"));
  Dims batchA(a.begin(), a.end() - 2), batchB(bd.begin(), bd.end() - 2);
  Dims d = broadcastDims(batchA, batchB, n);
  if (!aVec) d.push_back(a[a.size() - 2]);
  if (!bVec) d.push_back(bd.back());
  setOut(n, 0, x->dtype(), &d);
}

void inferFlatten(Node &n, int64_t) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x)) return;
  Dims out = flattenDims(n, x->dims());
  setOut(n, 0, x->dtype(), &out);
}

void inferReshape(Node &n, int64_t) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  Value *s = n.input(1);
  if (!known(x) || !s || !s->isConstant()) return;
  Dims out = reshapeDims(n, x->dims(), s->constant()->toInt64s());
  setOut(n, 0, x->dtype(), &out);
}

void inferTranspose(Node &n, int64_t) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x)) return;
  const Dims &d = x->dims();
  Dims out;
  for (int64_t p : transposePerm(n, static_cast<int64_t>(d.size()))) out.push_back(d[static_cast<size_t>(p)]);
  setOut(n, 0, x->dtype(), &out);
}

void inferConcat(Node &n, int64_t) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  for (Value *v : n.inputs())
    if (!known(v)) return;
  Dims out = x->dims();
  int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(out.size()), n);
  for (size_t i = 1; i < n.inputs().size(); ++i) {
    const Dims &d = n.input(i)->dims();
    if (d.size() != out.size()) throw Error(cat(n.describe(), ": inputs differ in rank"));
    for (size_t a = 0; a < d.size(); ++a) {
      if (static_cast<int64_t>(a) == axis) {
        out[a] = (out[a] < 0 || d[a] < 0) ? -1 : out[a] + d[a];
      } else if (out[a] >= 0 && d[a] >= 0 && out[a] != d[a]) {
        throw Error(cat(n.describe(), ": input ", i, " has shape ", shapeString(d),
                        ", which does not match ", shapeString(x->dims()), " off the axis"));
      }
    }
  }
  setOut(n, 0, x->dtype(), &out);
}

void inferSplit(Node &n, int64_t opset) {
  Value *x = n.input(0);
  for (size_t i = 0; i < n.outputs().size(); ++i) setOut(n, i, inType(n, 0), nullptr);
  if (!known(x)) return;
  Dims d = x->dims();
  int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(d.size()), n);
  if (d[static_cast<size_t>(axis)] < 0) return;
  if (opset >= 13 && n.input(1) && !n.input(1)->isConstant()) return;
  std::vector<int64_t> sizes = splitSizes(n, opset, d[static_cast<size_t>(axis)]);
  for (size_t i = 0; i < sizes.size(); ++i) {
    d[static_cast<size_t>(axis)] = sizes[i];
    setOut(n, i, x->dtype(), &d);
  }
}

void inferSlice(Node &n, int64_t opset) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x)) return;
  for (size_t i = 1; i < n.inputs().size(); ++i)
    if (n.input(i) && !n.input(i)->isConstant()) return;
  SliceSpec s = resolveSlice(n, opset, x->dims());
  setOut(n, 0, x->dtype(), &s.outDims);
}

void inferPad(Node &n, int64_t opset) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x)) return;
  if (opset >= 11 && n.input(1) && !n.input(1)->isConstant()) return;
  const Dims &d = x->dims();
  PadSpec p = resolvePad(n, opset, static_cast<int64_t>(d.size()), /*needValue=*/false);
  Dims out(d.size());
  for (size_t i = 0; i < d.size(); ++i) out[i] = d[i] < 0 ? -1 : d[i] + p.begin[i] + p.end[i];
  setOut(n, 0, x->dtype(), &out);
}

void inferSoftmax(Node &n, int64_t opset) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), known(x) ? &x->dims() : nullptr);
  if (known(x)) softmaxAxis(n, static_cast<int64_t>(x->dims().size()), opset);
}

void inferReduce(Node &n, int64_t) {
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  // Axes given as a graph input are known once the runner binds it.
  if (!known(x) || (n.inputs().size() > 1 && n.input(1) && !n.input(1)->isConstant())) return;
  const Reduction r = reduction(n, x->dims());
  setOut(n, 0, x->dtype(), &r.out);
}

void inferShape(Node &n, int64_t) {
  Value *x = n.input(0);
  Dims out = {-1};
  if (known(x)) {
    int64_t r = static_cast<int64_t>(x->dims().size());
    int64_t start = n.attrInt("start", 0), end = n.attrInt("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
    out[0] = std::max<int64_t>(0, end - start);
  }
  setOut(n, 0, DType::Int64, &out);
}

void inferGather(Node &n, int64_t) {
  Value *x = n.input(0);
  Value *idx = n.input(1);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x) || !known(idx)) return;
  const Dims &d = x->dims();
  int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(d.size()), n);
  Dims out(d.begin(), d.begin() + axis);
  out.insert(out.end(), idx->dims().begin(), idx->dims().end());
  out.insert(out.end(), d.begin() + axis + 1, d.end());
  setOut(n, 0, x->dtype(), &out);
}

void inferUnsqueezeSqueeze(Node &n, int64_t opset) {
  const std::string &op = n.opType();
  Value *x = n.input(0);
  setOut(n, 0, inType(n, 0), nullptr);
  if (!known(x)) return;
  if (opset >= 13 && n.input(1) && !n.input(1)->isConstant()) return;
  auto axes = squeezeAxes(n, opset);
  Dims d = op == "Unsqueeze" ? unsqueezeDims(n, x->dims(), axes) : squeezeDims(n, x->dims(), axes);
  setOut(n, 0, x->dtype(), &d);
}

void inferConstantOfShape(Node &n, int64_t) {
  Value *x = n.input(0);
  DType t = DType::Float32;
  if (n.hasAttr("value")) t = n.attrs().at("value").tensor->dtype();
  setOut(n, 0, t, nullptr);
  if (x && x->isConstant()) {
    Dims d = x->constant()->toInt64s();
    setOut(n, 0, t, &d);
  }
}

}  // namespace shapes

namespace {

// The input count and required inputs of \p n by its ONNX schema at \p opset, so that every
// later reader (shape functions, folding, builders) may take a required input as present.
void checkArity(const Node &n, int64_t opset) {
  const onnx::OpSchema *schema = onnx::OpSchemaRegistry::Schema(n.opType(), static_cast<int>(opset), n.domain());
  if (!schema) return;
  const int count = static_cast<int>(n.inputs().size());
  if (count < schema->min_input() || count > schema->max_input())
    throw Error(cat(n.describe(), ": has ", count, " inputs; ", n.opType(), " (opset ", opset, ") takes ",
                    schema->min_input() == schema->max_input() ? cat(schema->min_input())
                                                               : cat(schema->min_input(), " to ", schema->max_input())));
  const auto &formal = schema->inputs();
  for (int i = 0; i < count; ++i) {
    const auto &param = formal[std::min(static_cast<size_t>(i), formal.size() - 1)];
    if (!n.input(static_cast<size_t>(i)) && param.GetOption() != onnx::OpSchema::Optional)
      throw Error(cat(n.describe(), ": required input ", i, " (", param.GetName(), ") is missing"));
  }
}

}  // namespace

void inferNodeShapes(Node &n, int64_t opset) {
  const std::string &op = n.opType();
  if (isInternalOp(op)) return;  // created with their output shapes
  if (!isSupportedOp(op, n.domain()))
    throw Error(cat(n.describe(), ": op is not supported by lowbit"));
  checkArity(n, opset);
  Value *x = n.input(0);

  const OpInfo &info = *findOp(op);
  if (!info.inferShapes) return;  // Constant: the importer turns it into a constant value
  if (op == "Identity" && x && x->container) {  // a sequence or optional passes through
    if (Value *y = n.output(0)) y->container = x->container;
    return;
  }
  for (const Value *in : n.inputs())
    if (in && in->container)
      throw Error(cat(n.describe(), ": reads the ", in->container->describe(), " value '", in->name(),
                      "'; lowbit passes sequence and optional values through Identity only"));
  info.inferShapes(n, opset);
}

void inferShapes(Graph &g, bool skipUnsupported) {
  for (Node *n : g.nodes()) {
    if (skipUnsupported && !isSupportedOp(n->opType(), n->domain())) continue;
    inferNodeShapes(*n, g.opset);
  }
}

}  // namespace lowbit
