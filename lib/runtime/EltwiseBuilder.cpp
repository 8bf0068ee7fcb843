// Relu, Clip, Sigmoid, HardSigmoid, HardSwish on oneDNN eltwise, in whatever layout the input
// already has (elementwise ops need no reorder).
#include "dnnl/DnnlApi.h"
#include "ops/OpParams.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

void buildEltwise(PlanBuilder &b, const Node &n) {
  const std::string &op = n.opType();
  dnnl::memory src = b.memoryOf(n.input(0));
  dnnl::algorithm alg;
  float alpha = 0.f, beta = 0.f;
  bool clipAfter = false;
  if (op == "Relu") {
    alg = dnnl::algorithm::eltwise_relu;
  } else if (op == "Clip") {
    alg = dnnl::algorithm::eltwise_clip;
    std::tie(alpha, beta) = clipBounds(n, b.opset());
  } else if (op == "Sigmoid") {
    alg = dnnl::algorithm::eltwise_logistic;
  } else if (op == "HardSigmoid") {
    // max(0, min(1, alpha*x + beta)): linear, then an in-place clip. (A clip post-op on the
    // linear primitive gave zeros for 1-D inputs in oneDNN 2.6's reference eltwise.)
    alg = dnnl::algorithm::eltwise_linear;
    alpha = n.attrFloat("alpha", 0.2f);
    beta = n.attrFloat("beta", 0.5f);
    clipAfter = true;
  } else if (op == "HardSwish") {
    alg = dnnl::algorithm::eltwise_hardswish;  // x * max(0, min(1, x/6 + 1/2)) in oneDNN 2.6
  } else {
    throw Error(cat(n.describe(), ": not an elementwise op"));
  }
  auto pd = dnnlapi::eltwiseForward(b.engine(), dnnl::prop_kind::forward_inference, alg, src.get_desc(), alpha, beta);
  dnnl::memory dst = b.newMemory(pd.dst_desc());
  b.addPrimitive(n, dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  if (clipAfter) {
    auto clipPd = dnnlapi::eltwiseForward(b.engine(), dnnl::prop_kind::forward_inference,
                                          dnnl::algorithm::eltwise_clip, dst.get_desc(), 0.f, 1.f);
    b.addPrimitive(n, dnnl::eltwise_forward(clipPd), {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, dst}});
  }
  b.define(n.output(0), dst);
}

}  // namespace lowbit
