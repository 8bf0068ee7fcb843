// Gemm and MatMul on oneDNN matmul. Transposes are expressed as strides, so no copy is made;
// Gemm's C enters as a binary post-op: dst = beta * (alpha/beta * A.B + C) = alpha A.B + beta C.
#include "dnnl/DnnlApi.h"
#include "kernels/TensorCopy.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

// Plain 2-D descriptor of a [rows, cols] matrix stored transposed when \p trans is set.
dnnl::memory::desc matrixDesc(int64_t rows, int64_t cols, bool trans) {
  return trans ? dnnl::memory::desc({rows, cols}, dt::f32, Dims{1, rows})
               : dnnl::memory::desc({rows, cols}, dt::f32, Dims{cols, 1});
}

// Constant weights go to oneDNN's preferred layout once; runtime ones are read in place.
dnnl::memory weightsMemory(PlanBuilder &b, const Value *w, const dnnl::memory::desc &userMd,
                           const dnnl::memory::desc &wantMd) {
  return b.reorderedNow(dnnl::memory(userMd, b.engine(), b.memoryOf(w).get_data_handle()), wantMd);
}

}  // namespace

// The classifier head y = x W^T + b (constant W, vector b, no scaling) as oneDNN's inner
// product, the primitive made for it (weights reordered once, bias and activation fused).
bool buildGemmAsInnerProduct(PlanBuilder &b, const Node &n) {
  const Value *a = n.input(0), *w = n.input(1), *c = n.input(2);
  if (n.attrInt("transA", 0) != 0 || n.attrFloat("alpha", 1.f) != 1.f || !w->isConstant()) return false;
  if (c && (!c->isConstant() || n.attrFloat("beta", 1.f) != 1.f || c->constant()->numel() != n.output(0)->dims()[1]))
    return false;
  const bool tb = n.attrInt("transB", 0) != 0;
  const int64_t m = a->dims()[0], k = a->dims()[1], nn = n.output(0)->dims()[1];
  // oneDNN wants weights as [N, K] (oi); Gemm with transB=0 stores [K, N]: transpose once.
  dnnl::memory::desc wUser = tb ? plainDesc({nn, k}) : dnnl::memory::desc({nn, k}, dt::f32, Dims{1, nn});
  dnnl::memory::desc srcMd = plainDesc({m, k}), dstMd = plainDesc({m, nn});
  dnnl::memory::desc biasMd = c ? plainDesc({nn}) : dnnl::memory::desc();
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  if (n.fusedActivation) appendActivationPostOp(b, *n.fusedActivation, po);
  attr.set_post_ops(po);
  dnnl::inner_product_forward::primitive_desc pd;
  try {
    pd = dnnlapi::innerProductForward(b.engine(), dnnl::prop_kind::forward_inference, srcMd,
                                      dnnl::memory::desc({nn, k}, dt::f32, tag::any), biasMd, dstMd, attr);
  } catch (const dnnl::error &) {
    return false;  // the matmul path handles it
  }
  dnnl::memory src(srcMd, b.engine(), b.plainMemoryOf(a).get_data_handle());
  dnnl::memory wMem = weightsMemory(b, w, wUser, pd.weights_desc());
  dnnl::memory dst = b.newMemory(dstMd);
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wMem}, {DNNL_ARG_DST, dst}};
  if (c) args[DNNL_ARG_BIAS] = b.plainMemoryOf(c);
  b.addPrimitive(n, dnnl::inner_product_forward(pd), std::move(args));
  b.define((n.fusedActivation ? n.fusedActivation : &n)->output(0), dst);
  return true;
}

void buildGemm(PlanBuilder &b, const Node &n) {
  if (buildGemmAsInnerProduct(b, n)) return;
  const Value *a = n.input(0), *bw = n.input(1), *c = n.input(2);
  const bool ta = n.attrInt("transA", 0) != 0, tb = n.attrInt("transB", 0) != 0;
  const float alpha = n.attrFloat("alpha", 1.f), beta = n.attrFloat("beta", 1.f);
  const int64_t m = n.output(0)->dims()[0], nn = n.output(0)->dims()[1];
  const int64_t k = ta ? a->dims()[0] : a->dims()[1];
  const bool useC = c && beta != 0.f;

  dnnl::memory::desc aMd = matrixDesc(m, k, ta), bUser = matrixDesc(k, nn, tb);
  dnnl::memory::desc bMd = bw->isConstant() ? dnnl::memory::desc({k, nn}, dt::f32, tag::any) : bUser;
  dnnl::memory::desc dstMd = plainDesc({m, nn});

  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  dnnl::memory cMem, biasMem;
  const Node *act = n.fusedActivation;
  Dims cd = useC ? c->dims() : Dims{};
  while (useC && cd.size() < 2) cd.insert(cd.begin(), 1);
  // The usual classifier head (C a row vector, beta 1) is a matmul bias; anything else is a
  // binary post-op. (A binary post-op on gemm:jit cost ~13 ms for a 64x64x10 product here.)
  const bool asBias = useC && beta == 1.f && cd == Dims{1, nn};
  if (asBias) {
    biasMem = dnnl::memory(plainDesc({1, nn}), b.engine(), b.plainMemoryOf(c).get_data_handle());
    if (alpha != 1.f) dnnlapi::setOutputScales(attr, 0, {alpha});
  } else if (useC) {
    dnnl::memory cPlain = b.plainMemoryOf(c);
    if (cd == Dims{1, nn} || cd == Dims{m, nn}) {
      cMem = dnnl::memory(plainDesc(cd), b.engine(), cPlain.get_data_handle());
    } else {
      // oneDNN 2.6's gemm-based matmul mis-applies scalar and per-row binary post-ops
      // (seen on ONNX test_gemm_default_scalar_bias): expand C to [M, N] first.
      cMem = b.newMemory(plainDesc({m, nn}));
      const Dims full = {m, nn};
      const std::vector<int64_t> strides = broadcastStrides(cd, full);
      const void *from = cPlain.get_data_handle();
      void *to = cMem.get_data_handle();
      auto expand = [=] { copyStrided(from, 0, strides, to, 0, contiguousStrides(full), full, sizeof(float)); };
      if (c->isConstant())
        expand();
      else
        b.addFunction(n, expand);
    }
    if (alpha / beta != 1.f) dnnlapi::setOutputScales(attr, 0, {alpha / beta});
    po.append_binary(dnnl::algorithm::binary_add, cMem.get_desc());
    if (beta != 1.f) dnnlapi::appendEltwise(po, dnnl::algorithm::eltwise_linear, beta, 0.f);
  } else if (alpha != 1.f) {
    dnnlapi::setOutputScales(attr, 0, {alpha});
  }
  if (act) appendActivationPostOp(b, *act, po);
  attr.set_post_ops(po);
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnlapi::matmul(b.engine(), aMd, bMd, asBias ? biasMem.get_desc() : dnnlapi::noBias(), dstMd, attr);
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no matmul for this configuration (", e.what(), ")"));
  }
  dnnl::memory aMem(aMd, b.engine(), b.plainMemoryOf(a).get_data_handle());
  dnnl::memory bMem = bw->isConstant() ? weightsMemory(b, bw, bUser, pd.weights_desc())
                                       : dnnl::memory(bUser, b.engine(), b.plainMemoryOf(bw).get_data_handle());
  dnnl::memory dst = b.newMemory(dstMd);
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, aMem}, {DNNL_ARG_WEIGHTS, bMem}, {DNNL_ARG_DST, dst}};
  if (asBias) args[DNNL_ARG_BIAS] = biasMem;
  if (useC && !asBias) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = cMem;
  b.addPrimitive(n, dnnl::matmul(pd), std::move(args));
  b.define((act ? act : &n)->output(0), dst);
}

void buildMatMul(PlanBuilder &b, const Node &n) {
  const Value *a = n.input(0), *w = n.input(1);
  Dims ad = a->dims(), wd = w->dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (wd.size() == 1) wd.push_back(1);
  const size_t rank = std::max(ad.size(), wd.size());
  while (ad.size() < rank) ad.insert(ad.begin(), 1);
  while (wd.size() < rank) wd.insert(wd.begin(), 1);
  Dims od(rank);
  for (size_t i = 0; i + 2 < rank; ++i) od[i] = std::max(ad[i], wd[i]);
  od[rank - 2] = ad[rank - 2];
  od[rank - 1] = wd[rank - 1];

  dnnl::memory::desc aMd = plainDesc(ad), wUser = plainDesc(wd), dstMd = plainDesc(od);
  const bool constW = w->isConstant() && rank == 2;
  dnnl::memory::desc wMd = constW ? dnnl::memory::desc(wd, dt::f32, tag::any) : wUser;
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnlapi::matmul(b.engine(), aMd, wMd, dnnlapi::noBias(), dstMd);
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no matmul for this configuration (", e.what(), ")"));
  }
  dnnl::memory aMem(aMd, b.engine(), b.plainMemoryOf(a).get_data_handle());
  dnnl::memory wMem = constW ? weightsMemory(b, w, wUser, pd.weights_desc())
                             : dnnl::memory(wUser, b.engine(), b.plainMemoryOf(w).get_data_handle());
  dnnl::memory dst = b.newMemory(dstMd);
  b.addPrimitive(n, dnnl::matmul(pd), {{DNNL_ARG_SRC, aMem}, {DNNL_ARG_WEIGHTS, wMem}, {DNNL_ARG_DST, dst}});
  // The output value has the ONNX dims (1-D operands drop an axis): same bytes.
  b.define(n.output(0), dnnl::memory(plainDesc(n.output(0)->dims()), b.engine(), dst.get_data_handle()));
}

}  // namespace lowbit
