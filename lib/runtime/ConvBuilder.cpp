// Conv on oneDNN: layouts chosen by oneDNN (format_tag::any), weights reordered once at plan
// time, fused Add (sum post-op) and Relu/Clip (eltwise post-op) from the fusion marks.
#include <algorithm>

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

void appendActivationPostOp(const PlanBuilder &b, const Node &act, dnnl::post_ops &po) {
  if (act.opType() == "Relu") {
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  } else {
    auto [lo, hi] = clipBounds(act, b.graph().opset);
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, lo, hi);
  }
}

void buildConv(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0), *w = n.input(1), *bias = n.input(2);
  const Dims &xd = x->dims(), &wd = w->dims();
  const size_t spatial = xd.size() - 2;
  if (spatial < 1 || spatial > 3)
    throw Error(cat(n.describe(), ": ", spatial, "-D convolution is not supported (1-D to 3-D)"));
  const int64_t group = n.attrInt("group", 1);
  Dims kernel(wd.begin() + 2, wd.end());
  WindowGeometry geo = windowGeometry(n, Dims(xd.begin() + 2, xd.end()), kernel, false);
  Dims dil = geo.dilations;
  for (int64_t &d : dil) d -= 1;  // oneDNN counts dilation from 0

  const Node *tail = n.fusedAdd ? n.fusedAdd : &n;
  const Node *act = n.fusedActivation;
  const Value *y = (act ? act : tail)->output(0);
  const Dims &yd = n.output(0)->dims();

  Dims wDims = wd;  // grouped weights are 5-D/6-D for oneDNN: {G, OC/G, IC/G, k...}
  if (group > 1) {
    wDims[0] = wd[0] / group;
    wDims.insert(wDims.begin(), group);
  }
  dnnl::memory::desc srcAny(xd, dt::f32, tag::any), dstAny(yd, dt::f32, tag::any);
  dnnl::memory::desc wAny(wDims, dt::f32, tag::any);
  dnnl::memory::desc biasMd = bias ? plainDesc({wd[0]}) : dnnl::memory::desc();
  auto desc = dnnl::convolution_forward::desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, srcAny, wAny,
      biasMd, dstAny, geo.strides, dil, geo.padsBegin, geo.padsEnd);

  dnnl::post_ops po;
  if (n.fusedAdd) po.append_sum(1.f);
  if (act) appendActivationPostOp(b, *act, po);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  dnnl::convolution_forward::primitive_desc pd;
  try {
    pd = dnnl::convolution_forward::primitive_desc(desc, attr, b.engine());
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no convolution for this configuration (", e.what(), ")"));
  }

  dnnl::memory src = b.memoryIn(x, pd.src_desc());
  // Weights: plain OIHW (grouped: GOIHW) -> oneDNN's blocked layout; once for constant
  // weights, every run for weights that are graph inputs.
  dnnl::memory wPlain(plainDesc(wDims), b.engine(), b.plainMemoryOf(w).get_data_handle());
  dnnl::memory wMem = b.newMemory(pd.weights_desc());
  if (w->isConstant()) {
    dnnl::stream s(b.engine());
    dnnl::reorder(wPlain, wMem).execute(s, wPlain, wMem);
    s.wait();
  } else {
    b.addReorder("reorder " + w->name(), wPlain, wMem);
  }

  dnnl::memory dst;
  if (n.fusedAdd) {
    const Value *other = tail->input(0) == n.output(0) ? tail->input(1) : tail->input(0);
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
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wMem}, {DNNL_ARG_DST, dst}};
  if (bias) args[DNNL_ARG_BIAS] = b.plainMemoryOf(bias);
  b.addPrimitive(n, dnnl::convolution_forward(pd), std::move(args));
  b.define(y, dst);
}

}  // namespace lowbit
