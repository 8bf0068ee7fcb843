// Add, Sub, Mul, Div with numpy broadcasting on oneDNN binary. oneDNN broadcasts only the
// second source, so a broadcast first operand is swapped (Add, Mul) or expanded once per run.
// PRelu (the slope broadcast to X) on oneDNN's prelu. Sum, Mean, Max and Min of any number of
// inputs as a chain of binary ops.
#include "dnnl/DnnlApi.h"
#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

namespace {

Dims padRank(const Dims &d, size_t rank) {
  Dims out(rank - d.size(), 1);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

dnnl::memory viewAs(PlanBuilder &b, const dnnl::memory &m, const Dims &dims) {
  return dnnl::memory(plainDesc(dims), b.engine(), m.get_data_handle());
}

// The first operand of a binary op at the output's dims \p od: as it is, or expanded (a
// stride-0 copy each run), as oneDNN broadcasts only the second.
dnnl::memory firstOperand(PlanBuilder &b, const Node &n, const Value *x, const Dims &xd, const Dims &od) {
  if (xd == od) {
    dnnl::memory m = b.memoryOf(x);
    return m.get_desc().dims() == od ? m : viewAs(b, b.plainMemoryOf(x), od);
  }
  dnnl::memory plainX = b.plainMemoryOf(x);
  dnnl::memory expanded = b.newMemory(plainDesc(od));
  const std::vector<int64_t> strides = broadcastStrides(xd, od);
  void *from = plainX.get_data_handle(), *to = expanded.get_data_handle();
  b.addFunction(n, [=] { copyStrided(from, 0, strides, to, 0, contiguousStrides(od), od, sizeof(float)); });
  return expanded;
}

// The second operand: in the first's layout when it is not broadcast (oneDNN's fast kernels
// want equal layouts), plain otherwise.
dnnl::memory secondOperand(PlanBuilder &b, const Value *y, const Dims &yd, const Dims &od, const dnnl::memory &src0) {
  if (yd == od && !isPlain(src0.get_desc())) return b.memoryIn(y, src0.get_desc());
  return viewAs(b, b.plainMemoryOf(y), yd);
}

dnnl::binary::primitive_desc binaryDesc(const Node &n, PlanBuilder &b, dnnl::algorithm alg, const dnnl::memory &src0,
                                        const dnnl::memory &src1, const Dims &od, const dnnl::primitive_attr &attr) {
  try {
    return dnnlapi::binary(b.engine(), alg, src0.get_desc(), src1.get_desc(),
                           dnnl::memory::desc(od, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any), attr);
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no binary op for this configuration (", e.what(), ")"));
  }
}

// \p m reordered each run into the dense channels-last layout of its dims.
dnnl::memory channelsLastCopy(PlanBuilder &b, const Node &n, const dnnl::memory &m) {
  const Dims d = m.get_desc().dims();
  std::vector<size_t> order{0};
  for (size_t i = 2; i < d.size(); ++i) order.push_back(i);
  order.push_back(1);
  dnnl::memory out = b.newMemory(orderedDesc(d, m.get_desc().data_type(), order));
  b.addReorder("reorder " + n.name() + " input", m, out);
  return out;
}

// src0 op src1 into a new memory of dims \p od, with \p attr's post-ops.
dnnl::memory addBinary(PlanBuilder &b, const Node &n, dnnl::algorithm alg, dnnl::memory src0, dnnl::memory src1,
                       const Dims &od, const dnnl::primitive_attr &attr = dnnl::primitive_attr()) {
  dnnl::binary::primitive_desc pd = binaryDesc(n, b, alg, src0, src1, od, attr);
  // oneDNN 2.x has no jit binary for a blocked layout whose block is not the vector width
  // (aBcd8b, from grouped convolutions of 8-channel groups, on AVX-512) and runs its reference
  // kernel, 20-50x slower than a reorder to channels-last and the jit kernel there.
  const bool blocked0 = od.size() >= 3 && !denseDimOrder(src0.get_desc());
  if (blocked0 && std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
    src0 = channelsLastCopy(b, n, src0);
    if (src1.get_desc().dims() == od) src1 = channelsLastCopy(b, n, src1);
    pd = binaryDesc(n, b, alg, src0, src1, od, attr);
  }
  dnnl::memory dst = b.newMemory(pd.dst_desc());
  b.addPrimitive(n, dnnl::binary(pd), {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}});
  return dst;
}

}  // namespace

void buildBinary(PlanBuilder &b, const Node &n) {
  const std::string &op = n.opType();
  const Value *x = n.input(0), *y = n.input(1);
  const Dims outDims = n.output(0)->dims();
  const size_t rank = std::max<size_t>(outDims.size(), 1);
  Dims xd = padRank(x->dims(), rank), yd = padRank(y->dims(), rank), od = padRank(outDims, rank);
  const bool commutative = op == "Add" || op == "Mul";
  if (xd != od && yd == od && commutative) {
    std::swap(x, y);
    std::swap(xd, yd);
  }
  dnnl::algorithm alg = op == "Add"   ? dnnl::algorithm::binary_add
                        : op == "Sub" ? dnnl::algorithm::binary_sub
                        : op == "Mul" ? dnnl::algorithm::binary_mul
                                      : dnnl::algorithm::binary_div;

  const dnnl::memory src0 = firstOperand(b, n, x, xd, od);
  if (op == "PRelu") {  // X has the output's shape (the slope broadcasts to it)
    const dnnl::memory slope = viewAs(b, b.plainMemoryOf(y), yd);
    dnnl::prelu_forward::primitive_desc pd;
    try {
      pd = dnnlapi::preluForward(b.engine(), src0.get_desc(), slope.get_desc());
    } catch (const dnnl::error &e) {
      throw Error(cat(n.describe(), ": oneDNN has no PRelu for this slope shape (", e.what(), ")"));
    }
    dnnl::memory dst = b.newMemory(pd.dst_desc());
    b.addPrimitive(n, dnnl::prelu_forward(pd), {{DNNL_ARG_SRC, src0}, {DNNL_ARG_WEIGHTS, slope}, {DNNL_ARG_DST, dst}});
    return b.define(n.output(0), dst);
  }
  // od equals the output dims (a scalar output is {1}).
  b.define(n.output(0), addBinary(b, n, alg, src0, secondOperand(b, y, yd, od, src0), od));
}

void buildVariadic(PlanBuilder &b, const Node &n) {
  const std::string &op = n.opType();
  // Other element types never get here: buildNode sends them to the evaluator (runsOnEvaluator).
  if (n.inputs().size() == 1) return buildAlias(b, n);  // the input itself (Mean of one too)
  const dnnl::algorithm alg = op == "Max"   ? dnnl::algorithm::binary_max
                              : op == "Min" ? dnnl::algorithm::binary_min
                                            : dnnl::algorithm::binary_add;
  const size_t rank = std::max<size_t>(n.output(0)->dims().size(), 1);
  const Dims od = padRank(n.output(0)->dims(), rank);
  // A chain of binary ops on an accumulator of the output's dims; Mean scales the last sum.
  dnnl::memory acc = firstOperand(b, n, n.input(0), padRank(n.input(0)->dims(), rank), od);
  for (size_t i = 1; i < n.inputs().size(); ++i) {
    const dnnl::primitive_attr attr =
        op == "Mean" && i + 1 == n.inputs().size()
            ? dnnlapi::eltwiseAttr(dnnl::algorithm::eltwise_linear, 1.f / static_cast<float>(n.inputs().size()))
            : dnnl::primitive_attr();
    const Value *y = n.input(i);
    acc = addBinary(b, n, alg, acc, secondOperand(b, y, padRank(y->dims(), rank), od, acc), od, attr);
  }
  b.define(n.output(0), acc);
}

}  // namespace lowbit
