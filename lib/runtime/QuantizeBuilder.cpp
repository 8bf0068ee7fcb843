// QuantizeLinear / DequantizeLinear in the float runner. A Q->DQ pair on an activation is one
// fake-quant step over the buffer in whatever layout it has (per-tensor parameters make the
// operation elementwise). Weight DQs of constants were folded into float constants already.
#include "kernels/QuantizeRef.h"
#include "ops/OpParams.h"
#include "quant/QuantRules.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

void buildQuantize(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0), *q = n.output(0);
  std::vector<Node *> readers = b.graph().users(q);
  std::optional<QuantParams> p = perTensorQdqParams(n);
  const bool pair = readers.size() == 1 && readers[0]->opType() == "DequantizeLinear" &&
                    !b.graph().isGraphOutput(q);
  if (!pair) return buildEvaluated(b, n);  // codes as a graph output (or an error for readers)
  const Node &dq = *readers[0];
  std::optional<QuantParams> dp = perTensorQdqParams(dq);
  if (!p || !dp)
    throw Error(cat(n.describe(), ": the float runner simulates activations quantized per tensor "
                    "with constant scale and zero point only"));
  if (!dp->samePerTensor(*p))
    throw Error(cat(dq.describe(), ": its scale or zero point differs from ", n.describe(),
                    "'s; lowbit simulates matching QuantizeLinear/DequantizeLinear pairs"));
  dnnl::memory src = b.memoryOf(x);
  dnnl::memory dst = b.newMemory(src.get_desc());
  const size_t count = src.get_desc().get_size() / sizeof(float);
  const float *from = static_cast<const float *>(src.get_data_handle());
  float *to = static_cast<float *>(dst.get_data_handle());
  const float scale = p->scale[0];
  const int32_t zeroPoint = p->zeroPoint[0];
  const QuantRange range = codeRange(*p);
  b.addFunction(n, [=] { fakeQuantize(from, to, count, scale, zeroPoint, range); });
  b.define(dq.output(0), dst);
  b.markComputed(&dq);
}

}  // namespace lowbit
