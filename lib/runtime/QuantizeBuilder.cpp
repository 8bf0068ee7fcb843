// QuantizeLinear / DequantizeLinear in the float runner. A Q->DQ pair on an activation is one
// fake-quant step over the buffer in whatever layout it has (per-tensor parameters make the
// operation elementwise). Weight DQs of constants were folded into float constants already.

#include "kernels/QuantizeRef.h"
#include "ops/OpParams.h"
#include "quant/QuantRules.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

void buildQuantize(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0);
  // Codes read only by DequantizeLinears: each reads the same fake-quantized values.
  const std::optional<QdqPair> pair = qdqPairOf(b.graph(), n, "the float runner simulates");
  if (!pair) return buildEvaluated(b, n);  // codes as a graph output (or an error for readers)
  const QuantParams &p = pair->params;
  const std::vector<Node *> &readers = pair->readers;
  dnnl::memory src = b.memoryOf(x);
  const size_t count = src.get_desc().get_size() / sizeof(float);
  const float *from = static_cast<const float *>(src.get_data_handle());
  const float scale = p.scale[0];
  const int32_t zeroPoint = p.zeroPoint[0];
  const QuantRange range = codeRange(p);
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
