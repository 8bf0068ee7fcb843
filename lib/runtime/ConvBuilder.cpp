// Conv on oneDNN: layouts chosen by oneDNN (format_tag::any), weights reordered once at plan
// time, fused Add (sum post-op) and Relu/Clip (eltwise post-op) from the fusion marks. CodeConv
// (ConvInCodeUnits) is the same convolution on integer-valued operands.
#include <algorithm>
#include <optional>

#include "dnnl/DnnlApi.h"
#include "kernels/QuantizeRef.h"
#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

bool canOverwrite(const Graph &g, const Node &writer, const Value *other, const Node *sumReader) {
  if (g.isGraphInput(other) || g.isGraphOutput(other) || other->isConstant()) return false;
  std::vector<Node *> order = g.nodes();
  auto pos = [&](const Node *n) { return std::find(order.begin(), order.end(), n) - order.begin(); };
  for (Node *r : g.users(other)) {
    if (r == sumReader) continue;
    // The writer itself reading `other` counts too: it would read what it overwrites.
    if (pos(r) >= pos(&writer) || isAliasOp(r->opType())) return false;
  }
  return true;
}

void appendSelfGatedPostOp(const std::string &gateOp, dnnl::post_ops &po) {
  if (gateOp == "Sigmoid") dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_swish, 1.f, 0.f);
  else dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_hardswish, 0.f, 0.f);
}

void appendActivationPostOp(const PlanBuilder &b, const Node &act, dnnl::post_ops &po) {
  if (act.opType() == "Relu") {
    dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  } else if (act.opType() == "HardSwish") {
    dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_hardswish, 0.f, 0.f);
  } else if (act.opType() == "Mul") {  // x * gate(x) (FuseActivation): h-swish or SiLU
    const Node *gate = selfGate(act);
    if (!gate) throw Error(cat(act.describe(), ": fused as an activation but is not x * gate(x)"));
    appendSelfGatedPostOp(gate->opType(), po);
  } else {
    auto [lo, hi] = clipBounds(act, b.graph().opset);
    dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_clip, lo, hi);
  }
}

ConvShape convShape(const Node &n) {
  const Dims &xd = n.input(0)->dims(), &wd = n.input(1)->dims();
  if (xd.size() < 3 || xd.size() > 5)
    throw Error(cat(n.describe(), ": ", xd.size() - 2, "-D convolution is not supported (1-D to 3-D)"));
  ConvShape s;
  s.geo = windowGeometry(n, Dims(xd.begin() + 2, xd.end()), Dims(wd.begin() + 2, wd.end()), false);
  s.dil = s.geo.dilations;
  for (int64_t &d : s.dil) d -= 1;  // oneDNN counts dilation from 0
  s.wDims = wd;
  if (const int64_t group = n.attrInt("group", 1); group > 1) {
    s.wDims[0] = wd[0] / group;
    s.wDims.insert(s.wDims.begin(), group);
  }
  return s;
}

namespace {

// Winograd F(4x4, 3x3) (F(2x2, 3x3) at batch 1) takes 2.25-4x fewer multiplications for a
// 3x3 stride-1 convolution, at transform costs that dominate with few channels or little
// work. Measured on oneDNN 2.6's AVX-512 kernels against its direct ones, 2 threads, batch 64:
// 16 -> 16 channels 0.75x, 16 -> 64 1.2x, 32 -> 32 1.44x, 64 -> 64 and wider 1.6-2.7x; batch 1:
// 1.35-1.8x from 15M multiply-adds a layer, a loss on CIFAR ResNet20's 2.4M ones (with the
// reorders around them). With 16 input channels it loses however many outputs (SqueezeNet's
// 16 -> 64 Fire expansions at 55x55: 16 ms against 12 direct): the input transform is then
// most of the work. Its error is the float rounding of the transforms: about 1e-6 of the size
// of the terms summed.
constexpr int64_t kWinogradMinChannelPairs = 1024, kWinogradMinInputChannels = 32;
constexpr double kWinogradMinMacs = 10e6;

bool winogradPays(const Node &n, const ConvShape &shape) {
  const Dims &w = shape.wDims;  // [OC, IC, kh, kw]; grouped ones have a leading group axis
  const WindowGeometry &geo = shape.geo;
  if (w.size() != 4 || w[2] != 3 || w[3] != 3) return false;
  for (int64_t s : geo.strides) if (s != 1) return false;
  for (int64_t d : shape.dil) if (d != 0) return false;
  return w[0] * w[1] >= kWinogradMinChannelPairs && w[1] >= kWinogradMinInputChannels &&
         static_cast<double>(multiplyAccumulates(n)) >= kWinogradMinMacs;
}

// Whether this CPU has oneDNN's Winograd kernels (asked once, on a shape they take).
bool winogradAvailable(const dnnl::engine &engine) {
  static const bool available = [&] {
    try {
      const dnnl::memory::desc x({1, 32, 8, 8}, dt::f32, tag::any), w({32, 32, 3, 3}, dt::f32, tag::any);
      dnnlapi::convolutionForward(engine, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                  x, w, dnnl::memory::desc(), x, {1, 1}, {0, 0}, {1, 1}, {1, 1});
      return true;
    } catch (const dnnl::error &) {
      return false;
    }
  }();
  return available;
}

// Whether \p v is the result of a float convolution on a Winograd kernel (its activation, if
// fused, included).
bool fromWinograd(const Value *v) {
  const Node *p = v->producer();
  if (p && p->opType() != "Conv" && !p->inputs().empty() && p->input(0)->producer() &&
      p->input(0)->producer()->fusedActivation == p)
    p = p->input(0)->producer();
  return p && p->opType() == "Conv" && winogradPays(*p, convShape(*p));
}

// Whether \p v is read by a float convolution on a Winograd kernel, or concatenated with the
// result of one: its writer should write their channel-blocked layout.
bool nextToWinograd(PlanBuilder &b, const Value *v) {
  for (const Node *r : b.graph().users(v)) {
    if (r->opType() == "Conv" && r->input(0) == v && winogradPays(*r, convShape(*r))) return true;
    if (r->opType() == "Concat")
      for (const Value *u : r->inputs())
        if (u != v && fromWinograd(u)) return true;
  }
  return false;
}

// The channel-blocked layout (nChw16c, or nChw8c on AVX2) of \p md when it is float: what
// oneDNN's Winograd kernels and its pointwise convolutions with a depthwise post-op write.
std::optional<tag> floatBlocked(const dnnl::memory::desc &md) {
  return md.data_type() == dt::f32 ? channelBlockedTag(md) : std::nullopt;
}

// The 3x3 depthwise convolution that is the only reader of the pointwise convolution \p n
// (after its activation), when oneDNN could compute it in the same pass as its depthwise
// post-op: stride 1 or 2, one pixel of zeros before each axis, constant weights and bias, no
// residual. The inverted-residual and ShuffleNet units: the wide expanded tensor between them
// is made and read a few rows at a time in cache instead of going through memory.
struct DepthwiseReader {
  const Node *node;
  ConvShape shape;  // wDims [C, 1, 1, 3, 3]
};

std::optional<DepthwiseReader> depthwiseReader(const PlanBuilder &b, const Node &n, const ConvShape &shape) {
  const Dims &w = shape.wDims;
  if (n.fusedAdd || w.size() != 4 || w[2] != 1 || w[3] != 1) return std::nullopt;
  for (int64_t s : shape.geo.strides) if (s != 1) return std::nullopt;
  for (size_t i = 0; i < shape.geo.padsBegin.size(); ++i)
    if (shape.geo.padsBegin[i] != 0 || shape.geo.padsEnd[i] != 0) return std::nullopt;
  const Value *y = (n.fusedActivation ? n.fusedActivation : &n)->output(0);
  if (b.graph().isGraphOutput(y) || b.observed(y)) return std::nullopt;
  const std::vector<Node *> readers = b.graph().users(y);
  if (readers.size() != 1) return std::nullopt;
  const Node *r = readers[0];
  if (r->opType() != "Conv" || r->input(0) != y || r->fusedAdd || !r->input(1)->isConstant() ||
      (r->input(2) && !r->input(2)->isConstant()))
    return std::nullopt;
  DepthwiseReader dw{r, convShape(*r)};
  const Dims &dwW = dw.shape.wDims;  // [group, 1, 1, 3, 3] when depthwise
  if (dwW.size() != 5 || dwW[0] != w[0] || dwW[1] != 1 || dwW[2] != 1 || dwW[3] != 3 || dwW[4] != 3) return std::nullopt;
  const Dims &st = dw.shape.geo.strides;
  if (st[0] != st[1] || (st[0] != 1 && st[0] != 2)) return std::nullopt;
  for (int64_t d : dw.shape.dil) if (d != 0) return std::nullopt;
  for (int64_t p : dw.shape.geo.padsBegin) if (p != 1) return std::nullopt;
  return dw;
}

// Weights \p w, read as plain \p dims (OIHW; grouped: GOIHW), in oneDNN's layout \p want:
// reordered once for constant weights, every run for weights that are graph inputs.
dnnl::memory weightsIn(PlanBuilder &b, const Value *w, const Dims &dims, const dnnl::memory::desc &want) {
  const dnnl::memory plain(plainDesc(dims), b.engine(), b.plainMemoryOf(w).get_data_handle());
  if (w->isConstant()) return b.reorderedNow(plain, want);
  dnnl::memory m = b.newMemory(want);
  b.addReorder("reorder " + w->name(), plain, m);
  return m;
}

// What a CodeConv adds to a Conv: its input is turned back into centered codes (x / scale is
// an integer), its weights are integer codes, and the per-channel scale and the bias apply after
// the sum as binary post-ops, so the integer-valued sums stay exact.
struct CodeUnits {
  float inputScale;
  const Value *scale;  // [OC]: input scale x weight scale
};

// \p conv += \p shortcut (same layout), then \p act if any, as one binary primitive in place:
// the convolution's output is a buffer of its own that no value names yet.
void addResidual(PlanBuilder &b, const Node &n, const dnnl::memory &conv, const dnnl::memory &shortcut,
                         const Node *act) {
  dnnl::post_ops po;
  if (act) appendActivationPostOp(b, *act, po);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  const dnnl::memory::desc &md = conv.get_desc();
  dnnl::binary::primitive_desc pd;
  try {
    pd = dnnlapi::binary(b.engine(), dnnl::algorithm::binary_add, md, md, md, attr);
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no residual addition for this configuration (", e.what(), ")"));
  }
  b.addPrimitive(n, dnnl::binary(pd), {{DNNL_ARG_SRC_0, conv}, {DNNL_ARG_SRC_1, shortcut}, {DNNL_ARG_DST, conv}});
}

void buildConvolution(PlanBuilder &b, const Node &n, const std::optional<CodeUnits> &codes) {
  const Value *x = n.input(0), *w = n.input(1), *bias = n.input(codes ? 3 : 2);
  const Dims &xd = x->dims(), &wd = w->dims();
  const ConvShape shape = convShape(n);
  const WindowGeometry &geo = shape.geo;
  const Dims &dil = shape.dil, &wDims = shape.wDims;

  const Node *tail = n.fusedAdd ? n.fusedAdd : &n;
  const Node *act = n.fusedActivation;
  const Value *y = (act ? act : tail)->output(0);
  const Dims &yd = n.output(0)->dims();

  const dnnl::memory::desc srcAny(xd, dt::f32, tag::any), dstAny(yd, dt::f32, tag::any);
  dnnl::memory::desc wAny(wDims, dt::f32, tag::any);
  dnnl::memory::desc biasMd = bias && !codes ? plainDesc({wd[0]}) : dnnl::memory::desc();
  dnnl::post_ops po;
  std::unordered_map<int, dnnl::memory> args;
  auto appendBinary = [&](dnnl::algorithm alg, const dnnl::memory &src1) {
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(po.len()) | DNNL_ARG_SRC_1] = src1;
    po.append_binary(alg, src1.get_desc());
  };
  if (codes) {
    Dims perChannel(xd.size(), 1);
    perChannel[1] = wd[0];
    const dnnl::memory::desc md = plainDesc(perChannel);
    auto perChannelMemory = [&](const Value *v) { return dnnl::memory(md, b.engine(), b.plainMemoryOf(v).get_data_handle()); };
    appendBinary(dnnl::algorithm::binary_mul, perChannelMemory(codes->scale));
    if (bias) appendBinary(dnnl::algorithm::binary_add, perChannelMemory(bias));
  }
  // The residual: a sum post-op accumulates into the shortcut's buffer. After the code-unit
  // binary post-ops oneDNN 2.x has no jit convolution with a sum (only ref:any), and with a
  // whole-tensor binary_add one only where the width needs no tail (a gemm convolution with
  // scalar post-ops, ~300x slower, at 28x28): there the shortcut is added by a binary
  // primitive after the convolution, with the activation as its post-op (the same additions,
  // in the same order).
  const Value *other = n.fusedAdd ? n.residualOperand() : nullptr;
  const bool residualApart = n.fusedAdd && codes;
  if (n.fusedAdd && !residualApart) po.append_sum(1.f);
  if (act && !residualApart) appendActivationPostOp(b, *act, po);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  auto create = [&](dnnl::algorithm alg, const dnnl::memory::desc &src, const dnnl::memory::desc &dst,
                    const dnnl::primitive_attr &with) {
    return dnnlapi::convolutionForward(b.engine(), dnnl::prop_kind::forward_inference, alg, src, wAny, biasMd, dst,
                                       geo.strides, dil, geo.padsBegin, geo.padsEnd, with);
  };
  // A jit kernel on the layouts asked for, or nothing: oneDNN's reference and gemm
  // implementations of a layout (or of a fusion) it has no kernel for are slower than a reorder.
  auto jit = [&](const dnnl::memory::desc &src, const dnnl::memory::desc &dst, const dnnl::primitive_attr &with) {
    try {
      dnnl::convolution_forward::primitive_desc p = create(dnnl::algorithm::convolution_direct, src, dst, with);
      const std::string impl = p.impl_info_str();
      if (impl.rfind("ref", 0) != 0 && impl.rfind("gemm", 0) != 0) return p;
    } catch (const dnnl::error &) {
    }
    return dnnl::convolution_forward::primitive_desc();
  };
  // Code-unit convolutions stay direct and one layer at a time: their integer-valued sums must
  // be exact, and Winograd's transforms are not.
  const bool fast = !codes && b.fastConvolutions();
  const bool winograd = fast && winogradAvailable(b.engine());
  const std::optional<tag> srcBlocked = codes ? std::nullopt : floatBlocked(b.memoryOf(x).get_desc());
  const dnnl::memory::desc srcAsIs = srcBlocked ? dnnl::memory::desc(xd, dt::f32, *srcBlocked) : srcAny;
  dnnl::convolution_forward::primitive_desc pd;

  // The depthwise reader in the same pass, on the channel-blocked layouts oneDNN's fused
  // kernels take; not where only its reference fusion (two primitives in a row) exists.
  std::optional<DepthwiseReader> dw = fast ? depthwiseReader(b, n, shape) : std::nullopt;
  if (dw) {
    dnnl::post_ops fused = po;
    dnnlapi::appendDepthwise(fused, 3, dw->shape.geo.strides[0], 1);
    if (dw->node->fusedActivation) appendActivationPostOp(b, *dw->node->fusedActivation, fused);
    dnnl::primitive_attr withDw;
    withDw.set_post_ops(fused);
    pd = jit(srcAsIs, dstAny, withDw);
    if (pd && pd.dst_desc().dims() != dw->node->output(0)->dims()) pd = {};  // oneDNN's end pads differ
    if (!pd) dw.reset();
  }
  if (!pd && winograd && winogradPays(n, shape)) {
    try {
      pd = create(dnnl::algorithm::convolution_winograd, srcAny, dstAny, attr);
    } catch (const dnnl::error &) {  // no Winograd kernel for these post-ops
    }
  }
  // Next to Winograd or fused convolutions (channel-blocked layouts) a direct one reads and
  // writes their layout instead of reordering in and out: oneDNN's jit kernels there are as
  // fast as on the layout it would pick itself.
  if (!pd && fast) {
    std::optional<tag> dstBlocked = srcBlocked;
    if (other) dstBlocked = floatBlocked(b.memoryOf(other).get_desc());
    else if (!dstBlocked && winograd && nextToWinograd(b, y)) dstBlocked = tag::nChw16c;
    if (srcBlocked || dstBlocked) pd = jit(srcAsIs, dstBlocked ? dnnl::memory::desc(yd, dt::f32, *dstBlocked) : dstAny, attr);
  }
  if (!pd) {
    try {
      pd = create(dnnl::algorithm::convolution_direct, srcAny, dstAny, attr);
    } catch (const dnnl::error &e) {
      throw Error(cat(n.describe(), ": oneDNN has no convolution for this configuration (", e.what(), ")"));
    }
  }

  dnnl::memory src = b.memoryIn(x, pd.src_desc());
  if (codes) {
    dnnl::memory centered = b.newMemory(pd.src_desc());
    const float *from = static_cast<const float *>(src.get_data_handle());
    float *to = static_cast<float *>(centered.get_data_handle());
    const size_t count = pd.src_desc().get_size() / sizeof(float);
    const float scale = codes->inputScale;
    b.addFunction(n, [=] { centeredCodes(from, to, count, scale); });
    src = centered;
  }
  const dnnl::memory wMem = weightsIn(b, w, wDims, pd.weights_desc());

  dnnl::memory dst;
  if (n.fusedAdd && !residualApart) {
    dnnl::memory otherMem = b.memoryOf(other);
    if (b.allowInPlace() && otherMem.get_desc() == pd.dst_desc() &&
        canOverwrite(b.graph(), n, other, tail)) {
      dst = otherMem;  // accumulate straight into the shortcut's buffer
    } else {
      dst = b.newMemory(pd.dst_desc());
      b.addReorder("copy " + other->name() + " for " + n.name(), otherMem, dst);
    }
  } else {
    dst = b.newMemory(pd.dst_desc());
  }
  args[DNNL_ARG_SRC] = src;
  args[DNNL_ARG_WEIGHTS] = wMem;
  args[DNNL_ARG_DST] = dst;
  if (bias && !codes) args[DNNL_ARG_BIAS] = b.plainMemoryOf(bias);
  if (dw) {
    const Dims &dwDims = dw->shape.wDims;
    args[DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS] = weightsIn(
        b, dw->node->input(1), dwDims, pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS));
    dnnl::memory dwBias;
    if (dw->node->input(2)) {
      dwBias = b.plainMemoryOf(dw->node->input(2));
    } else {
      dwBias = b.newMemory(plainDesc({dwDims[0]}));
      std::fill_n(static_cast<float *>(dwBias.get_data_handle()), dwDims[0], 0.f);
    }
    args[DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS] = dwBias;
  }
  b.addPrimitive(n, dnnl::convolution_forward(pd), std::move(args));
  if (residualApart) addResidual(b, n, dst, b.memoryIn(other, dst.get_desc()), act);
  if (dw) {
    b.markComputed(dw->node);
    return b.define((dw->node->fusedActivation ? dw->node->fusedActivation : dw->node)->output(0), dst);
  }
  b.define(y, dst);
}

}  // namespace

void buildConv(PlanBuilder &b, const Node &n) { buildConvolution(b, n, std::nullopt); }

void buildConvTranspose(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0), *w = n.input(1), *bias = n.inputs().size() > 2 ? n.input(2) : nullptr;
  const Dims &xd = x->dims(), &wd = w->dims(), &yd = n.output(0)->dims();
  const size_t spatial = xd.size() - 2;
  if (spatial < 1 || spatial > 3) throw Error(cat(n.describe(), ": oneDNN deconvolves 1-3 spatial axes"));
  const int64_t group = n.attrInt("group", 1);
  const TransposedWindow tw = transposedWindow(n, Dims(xd.begin() + 2, xd.end()), Dims(wd.begin() + 2, wd.end()));
  // ONNX's W is [C_in, C_out / group, k...]; oneDNN's logical (g,) o, i, k... read with its strides.
  const int64_t taps = numElements(Dims(wd.begin() + 2, wd.end())), outPerGroup = wd[1], inPerGroup = wd[0] / group;
  Dims wDims = group == 1 ? Dims{outPerGroup, inPerGroup} : Dims{group, outPerGroup, inPerGroup};
  Dims wStrides = group == 1 ? Dims{taps, outPerGroup * taps} : Dims{inPerGroup * outPerGroup * taps, taps, outPerGroup * taps};
  const std::vector<int64_t> kStrides = contiguousStrides(Dims(wd.begin() + 2, wd.end()));
  wDims.insert(wDims.end(), wd.begin() + 2, wd.end());
  wStrides.insert(wStrides.end(), kStrides.begin(), kStrides.end());
  const dnnl::memory weights(dnnl::memory::desc(wDims, dnnl::memory::data_type::f32, wStrides), b.engine(),
                             b.plainMemoryOf(w).get_data_handle());
  Dims dil = tw.dilations, padL = tw.padsBegin, padR(spatial);
  for (int64_t &d : dil) --d;
  bool direct = true;  // oneDNN computes the output itself: pads it crops, output padding from the end pad
  for (size_t i = 0; i < spatial; ++i) {
    padR[i] = tw.padsEnd[i] - tw.outputPadding[i];
    direct = direct && padL[i] >= 0 && padR[i] >= 0;
  }
  const dnnl::memory src = b.plainMemoryOf(x);
  if (direct) {
    const dnnl::memory::desc biasMd = bias ? plainDesc({yd[1]}) : dnnl::memory::desc();
    auto pd = dnnlapi::deconvolutionForward(b.engine(), src.get_desc(), weights.get_desc(), biasMd, plainDesc(yd),
                                            tw.strides, dil, padL, padR);
    dnnl::memory dst = b.newMemory(plainDesc(yd));
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    if (bias) args[DNNL_ARG_BIAS] = dnnl::memory(biasMd, b.engine(), b.plainMemoryOf(bias).get_data_handle());
    b.addPrimitive(n, dnnl::deconvolution_forward(pd), args);
    return b.define(n.output(0), dst);
  }
  // Negative pads (an output_shape beyond the full result): oneDNN's full result without pads.
  Dims core = {xd[0], yd[1]};
  for (size_t i = 0; i < spatial; ++i)
    core.push_back(tw.strides[i] * (xd[i + 2] - 1) + (wd[i + 2] - 1) * tw.dilations[i] + 1);
  const Dims noPads(spatial, 0);
  auto pd = dnnlapi::deconvolutionForward(b.engine(), src.get_desc(), weights.get_desc(), dnnl::memory::desc(),
                                          plainDesc(core), tw.strides, dil, noPads, noPads);
  dnnl::memory full = b.newMemory(plainDesc(core)), dst = b.newMemory(plainDesc(yd));
  b.addPrimitive(n, dnnl::deconvolution_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, full}});
  // The output is the full result cropped by the begin pads and padded with zeros past it
  // (the end pad, less the output padding), then the bias per channel.
  Dims cropBegin(yd.size(), 0), cropEnd(yd.size(), 0);
  for (size_t i = 0; i < spatial; ++i) {
    cropBegin[i + 2] = -tw.padsBegin[i];
    cropEnd[i + 2] = tw.outputPadding[i] - tw.padsEnd[i];
  }
  const float *fp = static_cast<const float *>(full.get_data_handle());
  const float *bp = bias ? static_cast<const float *>(b.plainMemoryOf(bias).get_data_handle()) : nullptr;
  float *yp = static_cast<float *>(dst.get_data_handle());
  const int64_t planes = yd[0] * yd[1], plane = numElements(Dims(yd.begin() + 2, yd.end())), channels = yd[1];
  b.addFunction(n, [=] {
    const float zero = 0.f;
    padCopy(fp, core, yp, cropBegin, cropEnd, PadMode::Constant, &zero, sizeof(float));
    if (bp)
      for (int64_t p = 0; p < planes; ++p)
        for (int64_t i = 0; i < plane; ++i) yp[p * plane + i] += bp[p % channels];
  });
  b.define(n.output(0), dst);
}

void buildCodeConv(PlanBuilder &b, const Node &n) {
  buildConvolution(b, n, CodeUnits{n.attrFloat("input_scale", 1.f), n.input(2)});
}

}  // namespace lowbit
