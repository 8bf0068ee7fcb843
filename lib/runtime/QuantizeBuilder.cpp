// QuantizeLinear / DequantizeLinear in the float runner. A Q->DQ pair on an activation is one
// fake-quant step over the buffer in whatever layout it has (per-tensor parameters make the
// operation elementwise). Weight DQs of constants were folded into float constants already.
#include <algorithm>

#include "kernels/QuantizeRef.h"
#include "ops/OpParams.h"
#include "quant/QuantRules.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

void buildQuantize(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0), *q = n.output(0);
  std::vector<Node *> readers = b.graph().users(q);
  std::optional<QuantParams> p = perTensorQdqParams(n);
  // Codes read only by DequantizeLinears (one, or one per consumer as QOperator files expand):
  // each reads the same fake-quantized values.
  const bool pairs = !readers.empty() && !b.graph().isGraphOutput(q) &&
                     std::all_of(readers.begin(), readers.end(), [](const Node *r) { return r->opType() == "DequantizeLinear"; });
  if (!pairs) return buildEvaluated(b, n);  // codes as a graph output (or an error for readers)
  if (!p)
    throw Error(cat(n.describe(), ": the float runner simulates activations quantized per tensor "
                    "with constant scale and zero point only"));
  for (const Node *dq : readers) {
    std::optional<QuantParams> dp = perTensorQdqParams(*dq);
    if (!dp)
      throw Error(cat(dq->describe(), ": the float runner simulates activations quantized per tensor "
                      "with constant scale and zero point only"));
    if (!dp->samePerTensor(*p))
      throw Error(cat(dq->describe(), ": its scale or zero point differs from ", n.describe(),
                      "'s; lowbit simulates matching QuantizeLinear/DequantizeLinear pairs"));
  }
  dnnl::memory src = b.memoryOf(x);
  const size_t count = src.get_desc().get_size() / sizeof(float);
  const float *from = static_cast<const float *>(src.get_data_handle());
  const float scale = p->scale[0];
  const int32_t zeroPoint = p->zeroPoint[0];
  const QuantRange range = codeRange(*p);
  // A buffer per reader: the planner may let a reader's consumer write into it in place.
  for (Node *dq : readers) {
    dnnl::memory dst = b.newMemory(src.get_desc());
    float *to = static_cast<float *>(dst.get_data_handle());
    b.addFunction(n, [=] { fakeQuantize(from, to, count, scale, zeroPoint, range); });
    b.define(dq->output(0), dst);
    b.markComputed(dq);
  }
}

}  // namespace lowbit
