// QDQ graphs built in code, as lowbit's exporter and ONNX Runtime write them, for the tests of
// the integer runner and of the float simulation of quantized layers.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "TestUtil.h"

namespace lowbit::test {

// Builds QDQ graphs as lowbit's exporter and ONNX Runtime write them.
struct QdqGraph {
  Graph g;
  int counter = 0;

  std::string name(const std::string &base) { return cat(base, "_", counter++); }

  /// x -> QuantizeLinear(scale, zero point, type) -> DequantizeLinear.
  Value *qdq(Value *x, float scale, DType type, int32_t zeroPoint = 0) {
    Value *s = g.addConstant(name("s"), Tensor::scalar<float>(scale));
    Tensor zpt(type, {});
    if (type == DType::UInt8) zpt.data<uint8_t>()[0] = static_cast<uint8_t>(zeroPoint);
    else zpt.data<int8_t>()[0] = static_cast<int8_t>(zeroPoint);
    Value *zp = g.addConstant(name("zp"), std::move(zpt));
    Value *q = g.addValue(name("q"));
    q->setDType(type);
    q->setShape(x->dims());
    g.addNode(name("Q"), "QuantizeLinear", {x, s, zp}, {q});
    Value *dq = g.addValue(name("dq"));
    dq->setDType(DType::Float32);
    dq->setShape(x->dims());
    g.addNode(name("DQ"), "DequantizeLinear", {q, s, zp}, {dq});
    return dq;
  }

  /// DequantizeLinear of constant codes with per-axis (or one) scales.
  Value *dequantized(Tensor codes, const std::vector<float> &scales, int axis) {
    const Dims dims = codes.dims();
    Value *c = g.addConstant(name("codes"), std::move(codes));
    Value *s = scales.size() == 1 ? g.addConstant(name("ws"), Tensor::scalar<float>(scales[0]))
                                  : g.addConstant(name("ws"), Tensor::fromVector<float>({static_cast<int64_t>(scales.size())}, scales));
    Value *out = g.addValue(name("w"));
    out->setDType(DType::Float32);
    out->setShape(dims);
    Node *n = g.addNode(name("DQw"), "DequantizeLinear", {c, s}, {out});
    if (scales.size() != 1) n->setAttr("axis", Attribute::ofInt(axis));
    return out;
  }

  Value *op(const std::string &type, std::vector<Value *> ins, const Dims &dims) {
    Value *o = g.addValue(name(type + "_out"));
    o->setDType(DType::Float32);
    o->setShape(dims);
    g.addNode(name(type), type, std::move(ins), {o});
    return o;
  }
};

inline Tensor int8Codes(const Dims &dims, uint32_t seed, int limit) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-limit, limit);
  Tensor t(DType::Int8, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(dist(rng));
  return t;
}

inline std::vector<float> channelScales(size_t n, float base) {
  std::vector<float> s(n);
  for (size_t i = 0; i < n; ++i) s[i] = base * (1.f + 0.1f * static_cast<float>(i));
  return s;
}

// Naive integer convolution (NCHW, OIHW, stride 1, symmetric pad, groups).
inline std::vector<int64_t> convAcc(const std::vector<int32_t> &x, const Dims &xd, const Tensor &w, int64_t group, int64_t pad) {
  const int64_t n = xd[0], c = xd[1], h = xd[2], wd = xd[3];
  const int64_t oc = w.dims()[0], icg = w.dims()[1], kh = w.dims()[2], kw = w.dims()[3];
  const int64_t oh = h + 2 * pad - kh + 1, ow = wd + 2 * pad - kw + 1, ocg = oc / group;
  (void)c;
  std::vector<int64_t> acc(static_cast<size_t>(n * oc * oh * ow), 0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xx = 0; xx < ow; ++xx) {
          int64_t sum = 0;
          for (int64_t i = 0; i < icg; ++i)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                const int64_t iy = y + u - pad, ix = xx + v - pad, ci = (o / ocg) * icg + i;
                if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
                sum += static_cast<int64_t>(x[static_cast<size_t>(((b * xd[1] + ci) * h + iy) * wd + ix)]) *
                       w.data<int8_t>()[((o * icg + i) * kh + u) * kw + v];
              }
          acc[static_cast<size_t>(((b * oc + o) * oh + y) * ow + xx)] = sum;
        }
  return acc;
}

}  // namespace lowbit::test
