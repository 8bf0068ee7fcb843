// The integer runner's nodes on oneDNN int8 primitives. Static mode: u8 activations, s8
// weights reordered once, s32 accumulation, per-channel output scales that requantize straight
// to the next layer's codes, residual sum and Relu/Clip as post-ops. Dynamic mode: the
// activation scale comes from each batch (max |x|), the primitive accumulates to s32 and an
// epilogue kernel applies scales, bias, residual and activation in float.
#include <array>
#include <cfloat>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "dnnl/DnnlApi.h"
#include "kernels/IntegerKernels.h"
#include "ops/OpParams.h"
#include "quant/QuantRules.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

tag channelsLast(size_t rank) {
  switch (rank) {
    case 2: return tag::nc;
    case 3: return tag::nwc;
    case 4: return tag::nhwc;
    case 5: return tag::ndhwc;
    default: throw Error(cat(rank, "-D tensors have no channels-last layout"));
  }
}

// Per-tensor scale and zero point of integer codes (set by lowerToInteger).
const QuantParams &codesParams(const Node &n, const Value *v) {
  if (!v->codes || v->codes->scale.size() != 1)
    throw Error(cat(n.describe(), ": '", v->name(), "' has no per-tensor quantization parameters"));
  return *v->codes;
}

// Static zero points of the input and output codes (u8 codes of signed values carry 128).
void setZeroPoints(const Node &n, dnnl::primitive_attr &attr) {
  const int32_t zx = codesParams(n, n.input(0)).zeroPoint[0];
  if (zx != 0) dnnlapi::setZeroPoint(attr, DNNL_ARG_SRC, zx);
  const Value *y = n.output(0);
  if (y->dtype() != DType::Float32) {
    const int32_t zy = codesParams(n, y).zeroPoint[0];
    if (zy != 0) dnnlapi::setZeroPoint(attr, DNNL_ARG_DST, zy);
  }
}

// Output scales (accumulator -> output units) and bias in accumulator units.
struct Requantization {
  std::vector<float> outScale, biasAcc;
  int mask = 0;
};

// A layer with an absorbed self-gated activation (act_gate) stops at model units: the gate is
// not homogeneous, so appendGate applies it there and then scales to the output's units.
Requantization requantization(const Node &n, float sx, float so) {
  if (!n.attrString("act_gate", "").empty()) so = 1.f;
  const Value *w = n.input(1), *bias = n.input(2);
  const std::vector<float> &sw = w->codes->scale;
  std::vector<float> b = bias ? bias->constant()->toFloats() : std::vector<float>(sw.size(), 0.f);
  Requantization r;
  for (size_t c = 0; c < sw.size(); ++c) {
    const double acc = static_cast<double>(sx) * static_cast<double>(sw[c]);
    r.outScale.push_back(static_cast<float>(acc / static_cast<double>(so)));
    r.biasAcc.push_back(static_cast<float>(static_cast<double>(b[c]) / acc));
    if (r.outScale[c] != r.outScale[0]) r.mask = 1 << 1;  // per output channel
  }
  if (r.mask == 0) r.outScale.resize(1);
  return r;
}

// The activation interval as an eltwise post-op; for integer outputs in code units, clamped
// to the code range (uint8 containers of signed codes stop at 127).
void appendInterval(const Node &n, const Value *y, dnnl::post_ops &po) {
  // A fused LeakyRelu first: positively homogeneous, it reads code units as model units.
  if (const float leaky = n.attrFloat("act_leaky", 1.f); leaky != 1.f)
    dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_relu, leaky, 0.f);
  float lo = n.attrFloat("act_lo", -kInf), hi = n.attrFloat("act_hi", kInf);
  if (y->dtype() != DType::Float32) {
    // Post-ops work before the destination zero point is added: bounds relative to it.
    const float so = y->codes->scale[0];
    const int32_t zp = y->codes->zeroPoint[0];
    const QuantRange r = codeRange(*y->codes);
    lo = std::max(lo / so, static_cast<float>(r.qmin - zp));
    hi = std::min(hi / so, static_cast<float>(r.qmax - zp));
    const bool containerBound = (y->dtype() == DType::UInt8 && r.qmin == 0 && r.qmax == 255) ||
                                (y->dtype() == DType::Int8 && r.qmin == -128 && r.qmax == 127);
    if (!containerBound || lo > static_cast<float>(r.qmin - zp) || hi < static_cast<float>(r.qmax - zp))
      dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_clip, lo, hi);
    // oneDNN adds the zero point in float before it rounds: at 128 a float keeps 1.5e-5 of a
    // code, so values within that of a half (near-ties that POT scales make common) would round
    // the other way from QuantizeLinear. Rounding first keeps the value's own precision.
    if (zp != 0) dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_round, 0.f, 0.f);
    return;
  }
  if (lo == 0.f && hi == kInf) {
    dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  } else if (lo > -kInf || hi < kInf) {
    dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_clip, std::max(lo, -FLT_MAX), std::min(hi, FLT_MAX));
  }
}

// A self-gated activation the lowering absorbed (act_gate), in model units, then the step to
// the output's code units (1 / \p so) that the output scales left out for it.
void appendGate(const Node &n, float so, dnnl::post_ops &po) {
  const std::string gate = n.attrString("act_gate", "");
  if (gate.empty()) return;
  appendSelfGatedPostOp(gate, po);
  if (so != 1.f) dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_linear, 1.f / so, 0.f);
}

// Constant int8 codes [OC, ...] reordered once into the layout \p want (viewed as \p dims).
dnnl::memory weightCodesMemory(PlanBuilder &b, const Value *w, const Dims &dims, const dnnl::memory::desc &want) {
  return b.reorderedNow(dnnl::memory(plainDesc(dims, dt::s8), b.engine(), const_cast<void *>(w->constant()->raw())),
                        want);
}

// A step dequantizing the 8-bit codes in \p codes into \p out (same layout, f32).
void addDequantizeStep(PlanBuilder &b, const Node &n, const dnnl::memory &codes, const dnnl::memory &out,
                       const QuantParams &p) {
  const size_t count = out.get_desc().get_size() / sizeof(float);
  const void *from = codes.get_data_handle();
  float *to = static_cast<float *>(out.get_data_handle());
  const float scale = p.scale[0];
  const int32_t zp = p.zeroPoint[0];
  if (codes.get_desc().data_type() == dt::u8)
    b.addFunction(n, [=] { dequantizeCodes(static_cast<const uint8_t *>(from), to, count, scale, zp); });
  else if (codes.get_desc().data_type() == dt::s8)
    b.addFunction(n, [=] { dequantizeCodes(static_cast<const int8_t *>(from), to, count, scale, zp); });
  else
    throw Error(cat(n.describe(), ": codes to dequantize are not 8-bit"));
}

dnnl::memory floatVector(PlanBuilder &b, const std::vector<float> &v) {
  dnnl::memory m = b.newMemory(plainDesc({static_cast<int64_t>(v.size())}));
  std::copy(v.begin(), v.end(), static_cast<float *>(m.get_data_handle()));
  return m;
}

// Destination holding the residual operand before a sum post-op accumulates into it.
dnnl::memory residualDestination(PlanBuilder &b, const Node &n, const dnnl::memory::desc &dstMd) {
  const Value *res = n.input(3);
  dnnl::memory resMem = b.memoryOf(res);
  const dt resDt = resMem.get_desc().data_type();
  if (dstMd.data_type() == dt::f32 && resDt != dt::f32) {
    // Float output, integer residual: dequantize the codes into the destination's layout.
    dnnl::memory dst = b.newMemory(dstMd);
    addDequantizeStep(b, n, b.memoryIn(res, withDataType(dstMd, resDt)), dst, codesParams(n, res));
    return dst;
  }
  const dnnl::memory::desc resInDst = withDataType(dstMd, resDt);
  if (b.allowInPlace() && canOverwrite(b.graph(), n, res, &n) && n.input(0) != res) {  // accumulate in place
    if (resMem.get_desc() == resInDst) return dnnl::memory(dstMd, b.engine(), resMem.get_data_handle());
    // A copy in this layout an earlier reader asked for: nobody reads the residual after this node.
    if (std::optional<dnnl::memory> copy = b.reorderedCopy(res, resInDst))
      return dnnl::memory(dstMd, b.engine(), copy->get_data_handle());
  }
  dnnl::memory copy = b.newMemory(resInDst);
  b.addReorder("copy " + res->name() + " for " + n.name(), resMem, copy);
  return dnnl::memory(dstMd, b.engine(), copy.get_data_handle());
}

template <typename Make>
auto createPd(const Node &n, Make make) -> decltype(make()) {
  try {
    return make();
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no int8 kernel for this configuration (", e.what(), ")"));
  }
}

// Dynamic quantization of a non-negative float input to u8 codes [0, 127] with a per-batch
// scale, channels-last; the scale is written to \p scale when the step runs.
dnnl::memory quantizePerBatch(PlanBuilder &b, const Node &n, const dnnl::memory::desc &floatMd,
                              std::shared_ptr<float> scale) {
  dnnl::memory x = b.memoryIn(n.input(0), floatMd);
  dnnl::memory q = b.newMemory(withDataType(floatMd, dt::u8));
  const float *from = static_cast<const float *>(x.get_data_handle());
  uint8_t *to = static_cast<uint8_t *>(q.get_data_handle());
  const size_t count = floatMd.get_size() / sizeof(float);
  b.addFunction(n, [=] {
    const float m = maxAbs(from, count);
    *scale = m > 0.f ? m / 127.f : 1.f;
    quantizeToCodes(from, to, count, *scale, 0, QuantRange{0, 127});
  });
  return q;
}

// Epilogue of a dynamic node: int32 accumulators (channels-last) to float outputs.
void addDynamicEpilogue(PlanBuilder &b, const Node &n, const dnnl::memory &acc, const dnnl::memory &dst,
                        std::shared_ptr<float> scale, size_t channels) {
  const Value *res = n.input(3), *bias = n.input(2);
  const float *other = nullptr;
  if (res) other = static_cast<const float *>(b.memoryIn(res, dst.get_desc()).get_data_handle());
  auto sw = std::make_shared<std::vector<float>>(n.input(1)->codes->scale);
  auto biasValues = std::make_shared<std::vector<float>>(bias ? bias->constant()->toFloats()
                                                              : std::vector<float>(channels, 0.f));
  auto scratch = std::make_shared<std::vector<float>>(channels);
  const int32_t *a = static_cast<const int32_t *>(acc.get_data_handle());
  float *y = static_cast<float *>(dst.get_data_handle());
  const size_t rows = acc.get_desc().get_size() / sizeof(int32_t) / channels;
  const float lo = n.attrFloat("act_lo", -kInf), hi = n.attrFloat("act_hi", kInf);
  b.addFunction(n, [=] {
    for (size_t c = 0; c < channels; ++c) (*scratch)[c] = *scale * (*sw)[c];
    dequantizeAccumulators(a, y, rows, channels, scratch->data(), biasValues->data(), other, lo, hi);
  });
}

void buildQConvDynamic(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0), *y = n.output(0);
  const ConvShape s = convShape(n);
  const tag cl = channelsLast(x->dims().size());
  const dnnl::memory::desc srcMd(x->dims(), dt::u8, cl), accMd(y->dims(), dt::s32, cl);
  auto pd = createPd(n, [&] {
    return dnnlapi::convolutionForward(b.engine(), dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::convolution_direct, srcMd,
                                       dnnl::memory::desc(s.wDims, dt::s8, tag::any), dnnlapi::noBias(), accMd,
                                       s.geo.strides, s.dil, s.geo.padsBegin, s.geo.padsEnd);
  });
  auto scale = std::make_shared<float>(1.f);
  dnnl::memory q = quantizePerBatch(b, n, dnnl::memory::desc(x->dims(), dt::f32, cl), scale);
  dnnl::memory w = weightCodesMemory(b, n.input(1), s.wDims, pd.weights_desc());
  dnnl::memory acc = b.newMemory(accMd);
  b.addPrimitive(n, dnnl::convolution_forward(pd), {{DNNL_ARG_SRC, q}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, acc}});
  dnnl::memory dst = b.newMemory(withDataType(accMd, dt::f32));
  addDynamicEpilogue(b, n, acc, dst, scale, static_cast<size_t>(y->dims()[1]));
  b.define(y, dst);
}

void buildQGemmDynamic(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0), *y = n.output(0);
  const int64_t m = x->dims()[0], k = x->dims()[1], nn = y->dims()[1];
  const dnnl::memory::desc srcMd = plainDesc({m, k}, dt::u8), accMd = plainDesc({m, nn}, dt::s32);
  auto pd = createPd(n, [&] {
    return dnnlapi::innerProductForward(b.engine(), dnnl::prop_kind::forward_inference, srcMd,
                                        dnnl::memory::desc({nn, k}, dt::s8, tag::any), dnnlapi::noBias(), accMd);
  });
  auto scale = std::make_shared<float>(1.f);
  dnnl::memory q = quantizePerBatch(b, n, plainDesc({m, k}), scale);
  dnnl::memory w = weightCodesMemory(b, n.input(1), {nn, k}, pd.weights_desc());
  dnnl::memory acc = b.newMemory(accMd);
  b.addPrimitive(n, dnnl::inner_product_forward(pd), {{DNNL_ARG_SRC, q}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, acc}});
  dnnl::memory dst = b.newMemory(plainDesc({m, nn}));
  addDynamicEpilogue(b, n, acc, dst, scale, static_cast<size_t>(nn));
  b.define(y, dst);
}

}  // namespace

void buildQConv(PlanBuilder &b, const Node &n) {
  if (n.attrInt("dynamic", 0)) return buildQConvDynamic(b, n);
  const Value *x = n.input(0), *y = n.output(0), *res = n.input(3);
  const ConvShape s = convShape(n);
  const float sx = codesParams(n, x).scale[0];
  const bool intOut = y->dtype() != DType::Float32;
  const float so = intOut ? codesParams(n, y).scale[0] : 1.f;
  const Requantization rq = requantization(n, sx, so);
  const int64_t oc = n.input(1)->dims()[0];

  dnnl::primitive_attr attr;
  dnnlapi::setOutputScales(attr, rq.mask, rq.outScale);
  setZeroPoints(n, attr);
  dnnl::post_ops po;
  if (res) {
    const bool resCodes = res->dtype() != DType::Float32;
    if (intOut && !resCodes)
      throw Error(cat(n.describe(), ": a float residual cannot be summed into integer codes"));
    const float sumScale = intOut ? codesParams(n, res).scale[0] / so : 1.f;
    const int32_t sumZp = intOut ? codesParams(n, res).zeroPoint[0] : 0;
    if (intOut && (res->dtype() != y->dtype() || sumZp != 0))
      po.append_sum(sumScale, sumZp, dnnlType(res->dtype()));
    else
      po.append_sum(sumScale);
  }
  appendGate(n, so, po);
  appendInterval(n, y, po);
  if (n.fusedActivation) appendActivationPostOp(b, *n.fusedActivation, po);  // float output: model units
  attr.set_post_ops(po);
  auto pd = createPd(n, [&] {
    return dnnlapi::convolutionForward(
        b.engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        dnnl::memory::desc(x->dims(), dt::u8, tag::any), dnnl::memory::desc(s.wDims, dt::s8, tag::any),
        plainDesc({oc}), dnnl::memory::desc(y->dims(), dnnlType(y->dtype()), tag::any), s.geo.strides, s.dil,
        s.geo.padsBegin, s.geo.padsEnd, attr);
  });

  dnnl::memory src = b.memoryIn(x, pd.src_desc());
  dnnl::memory w = weightCodesMemory(b, n.input(1), s.wDims, pd.weights_desc());
  dnnl::memory dst = res ? residualDestination(b, n, pd.dst_desc()) : b.newMemory(pd.dst_desc());
  b.addPrimitive(n, dnnl::convolution_forward(pd),
                 {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, floatVector(b, rq.biasAcc)},
                  {DNNL_ARG_DST, dst}});
  b.define((n.fusedActivation ? n.fusedActivation : &n)->output(0), dst);
}

void buildQGemm(PlanBuilder &b, const Node &n) {
  if (n.attrInt("dynamic", 0)) return buildQGemmDynamic(b, n);
  const Value *x = n.input(0), *y = n.output(0);
  const int64_t m = x->dims()[0], k = x->dims()[1], nn = y->dims()[1];
  const float sx = codesParams(n, x).scale[0];
  const bool intOut = y->dtype() != DType::Float32;
  const float so = intOut ? codesParams(n, y).scale[0] : 1.f;
  const Requantization rq = requantization(n, sx, so);
  dnnl::primitive_attr attr;
  dnnlapi::setOutputScales(attr, rq.mask, rq.outScale);
  setZeroPoints(n, attr);
  dnnl::post_ops po;
  appendGate(n, so, po);
  appendInterval(n, y, po);
  if (n.fusedActivation) appendActivationPostOp(b, *n.fusedActivation, po);  // float output: model units
  attr.set_post_ops(po);
  // oneDNN's int8 inner product takes no source zero point; the same product as a 1x1
  // convolution over [M, K, 1, 1] does. Plain [M, K], nchw and nhwc with 1x1 are the same
  // bytes; described as nhwc it gets the jit 1x1 kernel (as nchw, the reference one: 22 ms
  // against 0.05 for MobileNetV3's 960 -> 1280 head at batch 16).
  const bool asConv = codesParams(n, x).zeroPoint[0] != 0;
  const Dims srcDims = asConv ? Dims{m, k, 1, 1} : Dims{m, k}, wDims = asConv ? Dims{nn, k, 1, 1} : Dims{nn, k},
             dstDims = asConv ? Dims{m, nn, 1, 1} : Dims{m, nn};
  auto described = [&](const Dims &dims, dt type) {
    return asConv ? dnnl::memory::desc(dims, type, tag::nhwc) : plainDesc(dims, type);
  };
  const dnnl::memory::desc srcMd = described(srcDims, dt::u8), dstMd = described(dstDims, dnnlType(y->dtype())),
                           wAny(wDims, dt::s8, tag::any);
  dnnl::primitive prim;
  dnnl::memory::desc wWant;
  if (asConv) {
    auto pd = createPd(n, [&] {
      return dnnlapi::convolutionForward(b.engine(), dnnl::prop_kind::forward_inference,
                                         dnnl::algorithm::convolution_direct, srcMd, wAny, plainDesc({nn}), dstMd,
                                         {1, 1}, {0, 0}, {0, 0}, {0, 0}, attr);
    });
    prim = dnnl::convolution_forward(pd);
    wWant = pd.weights_desc();
  } else {
    auto pd = createPd(n, [&] {
      return dnnlapi::innerProductForward(b.engine(), dnnl::prop_kind::forward_inference, srcMd, wAny, plainDesc({nn}),
                                          dstMd, attr);
    });
    prim = dnnl::inner_product_forward(pd);
    wWant = pd.weights_desc();
  }
  const dnnl::memory src = b.memoryIn(x, plainDesc({m, k}, dt::u8));
  const dnnl::memory dst = b.newMemory(plainDesc({m, nn}, dnnlType(y->dtype())));
  b.addPrimitive(n, prim,
                 {{DNNL_ARG_SRC, dnnl::memory(srcMd, b.engine(), src.get_data_handle())},
                  {DNNL_ARG_WEIGHTS, weightCodesMemory(b, n.input(1), wDims, wWant)},
                  {DNNL_ARG_BIAS, floatVector(b, rq.biasAcc)},
                  {DNNL_ARG_DST, dnnl::memory(dstMd, b.engine(), dst.get_data_handle())}});
  b.define((n.fusedActivation ? n.fusedActivation : &n)->output(0), dst);
}

namespace {

// Quantizes float \p x into full-range 8-bit codes of \p q with one oneDNN reorder that also
// changes the layout to channels-last, the int8 convolutions' (x * (1/scale), rounded half to
// even, saturated to the container). Null when oneDNN offers no such reorder. Codes with a
// zero point do not come here: the reorder adds it in float before rounding (see appendInterval).
std::optional<dnnl::memory> quantizingReorder(PlanBuilder &b, const Node &n, const dnnl::memory &x, const Value *q,
                                              const QuantParams &p) {
  const dnnl::memory::desc &xd = x.get_desc();
  const size_t rank = xd.dims().size();
  if (rank != 4) return std::nullopt;
  const dnnl::memory::desc codesMd(xd.dims(), dnnlType(q->dtype()), channelsLast(rank));
  dnnl::primitive_attr attr;
  dnnlapi::setOutputScales(attr, 0, {1.f / p.scale[0]});
  dnnl::reorder::primitive_desc pd;
  try {
    pd = dnnl::reorder::primitive_desc(b.engine(), xd, b.engine(), codesMd, attr);
  } catch (const dnnl::error &) {
    return std::nullopt;
  }
  dnnl::memory out = b.newMemory(codesMd);
  b.addPrimitive(n, dnnl::reorder(pd), {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, out}});
  return out;
}

}  // namespace

void buildQuantizeCodes(PlanBuilder &b, const Node &n) {
  const Value *q = n.output(0);
  const QuantParams &p = codesParams(n, q);
  dnnl::memory x = b.memoryOf(n.input(0));
  const QuantRange full = q->dtype() == DType::UInt8 ? QuantRange{0, 255} : QuantRange{-128, 127};
  const QuantRange want = codeRange(*q->codes);
  if (want.qmin == full.qmin && want.qmax == full.qmax && p.zeroPoint[0] == 0) {
    if (std::optional<dnnl::memory> codes = quantizingReorder(b, n, x, q, p)) {
      b.define(q, *codes);
      return;
    }
  }
  dnnl::memory out = b.newMemory(withDataType(x.get_desc(), dnnlType(q->dtype())));
  const size_t count = x.get_desc().get_size() / sizeof(float);
  const float scale = p.scale[0];
  const int32_t zp = p.zeroPoint[0];
  const QuantRange r = codeRange(*q->codes);
  // Through its buffers, so that the opening layers' group can run it image by image.
  auto addQuantize = [&](auto code) {
    using Code = decltype(code);
    b.addKernel(n, {x.get_data_handle(), out.get_data_handle()}, [=](void *const *io) {
      quantizeToCodes(static_cast<const float *>(io[0]), static_cast<Code *>(io[1]), count, scale, zp, r);
    });
  };
  if (q->dtype() == DType::UInt8) {
    if (r.qmin < 0) throw Error(cat(n.describe(), ": signed codes of a tensor that may be negative in uint8"));
    addQuantize(uint8_t{});
  } else if (q->dtype() == DType::Int8) {
    addQuantize(int8_t{});
  } else {
    throw Error(cat(n.describe(), ": codes of type ", dtypeName(q->dtype()), " are not supported"));
  }
  b.define(q, out);
}

void buildQRescale(PlanBuilder &b, const Node &n) {
  const Value *y = n.output(0);
  const std::vector<float> scales = n.attrFloats("in_scales");
  const std::vector<int64_t> zeroPoints = n.attrInts("in_zero_points");
  if (n.inputs().empty() || n.inputs().size() > 2 || scales.size() != n.inputs().size() ||
      zeroPoints.size() != n.inputs().size() || !y->codes)
    throw Error(cat(n.describe(), ": malformed QRescale"));
  // Elementwise: every operand in the first one's dense layout (channels-last codes stay so).
  dnnl::memory a = b.memoryOf(n.input(0));
  if (!denseDimOrder(a.get_desc())) a = b.plainMemoryOf(n.input(0));
  std::vector<CodeSpan> spans;
  for (size_t i = 0; i < n.inputs().size(); ++i) {
    const dt type = b.memoryOf(n.input(i)).get_desc().data_type();
    if (type != dt::u8 && type != dt::s8) throw Error(cat(n.describe(), ": operand ", i, " is not 8-bit codes"));
    dnnl::memory m = i == 0 ? a : b.memoryIn(n.input(i), withDataType(a.get_desc(), type));
    spans.push_back({m.get_data_handle(), type == dt::u8, scales[i], static_cast<int32_t>(zeroPoints[i])});
  }
  dnnl::memory out = b.newMemory(withDataType(a.get_desc(), dnnlType(y->dtype())));
  const size_t count = out.get_desc().get_size();
  const QuantParams &q = *y->codes;
  const QuantRange r = codeRange(q);
  const float lo = n.attrInt("relu", 0) ? 0.f : -std::numeric_limits<float>::infinity();
  void *to = out.get_data_handle();
  const bool yUnsigned = y->dtype() == DType::UInt8;
  if (spans.size() == 1) {  // a requantization: 256 codes in, so a table made by the same loop
    auto table = std::make_shared<std::array<uint8_t, 256>>();
    rescaleTable(spans[0], yUnsigned, q.scale[0], q.zeroPoint[0], r, lo, table->data());
    const uint8_t *from = static_cast<const uint8_t *>(spans[0].data);
    b.addFunction(n, [=] { mapCodes(from, static_cast<uint8_t *>(to), count, table->data()); });
    return b.define(y, out);
  }
  b.addFunction(n, [=] {
    rescaleCodes(spans[0], &spans[1], to, yUnsigned, count, q.scale[0], q.zeroPoint[0], r, lo);
  });
  b.define(y, out);
}

void buildDequantizeCodes(PlanBuilder &b, const Node &n) {
  const Value *q = n.input(0);
  dnnl::memory codes = b.memoryOf(q);
  dnnl::memory out = b.newMemory(withDataType(codes.get_desc(), dt::f32));
  addDequantizeStep(b, n, codes, out, codesParams(n, q));
  b.define(n.output(0), out);
}

}  // namespace lowbit
