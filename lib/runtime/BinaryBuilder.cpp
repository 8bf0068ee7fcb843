// Add, Sub, Mul, Div with numpy broadcasting on oneDNN binary. oneDNN broadcasts only the
// second source, so a broadcast first operand is swapped (Add, Mul) or expanded once per run.
// PRelu (the slope broadcast to X) on oneDNN's prelu.
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

  dnnl::memory src0, src1;
  if (xd == od) {
    src0 = b.memoryOf(x);
    if (src0.get_desc().dims() != od) src0 = viewAs(b, b.plainMemoryOf(x), od);
  } else {
    // Expand the first operand to the output shape (stride-0 copy) before the binary op.
    dnnl::memory plainX = b.plainMemoryOf(x);
    src0 = b.newMemory(plainDesc(od));
    const std::vector<int64_t> strides = broadcastStrides(xd, od);
    void *from = plainX.get_data_handle(), *to = src0.get_data_handle();
    b.addFunction(n, [=] {
      copyStrided(from, 0, strides, to, 0, contiguousStrides(od), od, sizeof(float));
    });
  }
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
  if (yd == od && !isPlain(src0.get_desc())) {
    src1 = b.memoryIn(y, src0.get_desc());  // same layout as src0 for the fast kernels
  } else {
    src1 = viewAs(b, b.plainMemoryOf(y), yd);  // broadcast operands stay plain
  }
  dnnl::binary::primitive_desc pd;
  try {
    pd = dnnlapi::binary(b.engine(), alg, src0.get_desc(), src1.get_desc(),
                         dnnl::memory::desc(od, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any));
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no binary op for this configuration (", e.what(), ")"));
  }
  dnnl::memory dst = b.newMemory(pd.dst_desc());
  b.addPrimitive(n, dnnl::binary(pd), {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}});
  b.define(n.output(0), dst);  // od equals the output dims (a scalar output is {1})
}

}  // namespace lowbit
