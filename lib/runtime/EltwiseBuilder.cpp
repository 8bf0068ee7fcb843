// Elementwise one-input ops on oneDNN eltwise, in whatever layout the input already has
// (elementwise ops need no reorder); an op oneDNN has no algorithm for runs its UnaryMath row
// on the host over a plain buffer.
#include "dnnl/DnnlApi.h"
#include "ops/OpParams.h"
#include "ops/UnaryMath.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {
namespace {

struct EltwiseStep {
  dnnl::algorithm alg;
  float alpha = 0.f, beta = 0.f;
};

// The oneDNN eltwise primitives that compute \p n, applied in order; empty: oneDNN has none.
std::vector<EltwiseStep> eltwiseSteps(const Node &n, int64_t opset) {
  using A = dnnl::algorithm;
  const std::string &op = n.opType();
  if (op == "Relu") return {{A::eltwise_relu}};
  if (op == "Clip") {
    auto [lo, hi] = clipBounds(n, opset);
    return {{A::eltwise_clip, lo, hi}};
  }
  const UnaryMath *u = findUnaryMath(op);
  if (!u) throw Error(cat(n.describe(), ": not an elementwise op"));
  const UnaryParams p = u->params(n);  // the attributes with their defaults, from the op's row
  if (op == "Sigmoid") return {{A::eltwise_logistic}};
  // max(0, min(1, alpha*x + beta)): linear, then a clip. (A clip post-op on the linear
  // primitive gave zeros for 1-D inputs in oneDNN 2.6's reference eltwise.)
  if (op == "HardSigmoid") return {{A::eltwise_linear, p.alpha, p.beta}, {A::eltwise_clip, 0.f, 1.f}};
  if (op == "HardSwish") return {{A::eltwise_hardswish}};  // x * max(0, min(1, x/6 + 1/2)) in oneDNN 2.6
  if (op == "LeakyRelu") return {{A::eltwise_relu, p.alpha}};
  if (op == "Elu") return {{A::eltwise_elu, p.alpha}};
  if (op == "Selu") return {{A::eltwise_elu, p.alpha}, {A::eltwise_linear, p.gamma, 0.f}};
  if (op == "Tanh") return {{A::eltwise_tanh}};
  if (op == "Exp") return {{A::eltwise_exp}};
  if (op == "Log") return {{A::eltwise_log}};
  if (op == "Sqrt") return {{A::eltwise_sqrt}};
  if (op == "Abs") return {{A::eltwise_abs}};
  if (op == "Neg") return {{A::eltwise_linear, -1.f, 0.f}};
  if (op == "Reciprocal") return {{A::eltwise_pow, 1.f, -1.f}};  // alpha * x^beta
  if (op == "Pow") return {{A::eltwise_pow, 1.f, p.alpha}};
  if (op == "Softplus") return {{A::eltwise_soft_relu, 1.f}};     // log(1 + e^x); oneDNN 3 reads alpha 1 as that
  return {};
}

}  // namespace

void buildEltwise(PlanBuilder &b, const Node &n) {
  const std::vector<EltwiseStep> steps = eltwiseSteps(n, b.opset());
  if (steps.empty()) {  // the UnaryMath row on the host
    const UnaryMath &u = *findUnaryMath(n.opType());
    const UnaryParams p = u.params(n);
    dnnl::memory src = b.plainMemoryOf(n.input(0));
    dnnl::memory dst = b.newMemory(plainDesc(n.output(0)->dims()));
    const int64_t count = numElements(n.output(0)->dims());
    b.addFunction(n, [src, dst, count, p, &u] {
      const float *x = static_cast<const float *>(src.get_data_handle());
      float *y = static_cast<float *>(dst.get_data_handle());
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < count; ++i) y[i] = u.value(x[i], p);
    });
    b.define(n.output(0), dst);
    return;
  }
  dnnl::memory src = b.memoryOf(n.input(0));
  for (const EltwiseStep &s : steps) {
    auto pd = dnnlapi::eltwiseForward(b.engine(), dnnl::prop_kind::forward_inference, s.alg, src.get_desc(), s.alpha, s.beta);
    dnnl::memory dst = &s == &steps.front() ? b.newMemory(pd.dst_desc()) : src;  // later steps in place
    b.addPrimitive(n, dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    src = dst;
  }
  b.define(n.output(0), src);
}

void buildPow(PlanBuilder &b, const Node &n) {
  // float32 data here (other types run on the evaluator: runsOnEvaluator).
  const Value *x = n.input(0), *e = n.input(1);
  if (e->isConstant() && e->constant()->numel() == 1 && n.output(0)->dims() == x->dims()) return buildEltwise(b, n);
  buildEvaluated(b, n);  // an exponent that varies
}

}  // namespace lowbit
