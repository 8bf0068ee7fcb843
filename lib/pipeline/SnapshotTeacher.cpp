// SnapshotTeacher: ctx.teacher = the graph as it stands with every QuantParams removed: the
// float model (after equalization and absorption, which keep its function). It must run
// before CorrectBias, which rewrites biases for the quantized weights only.
#include "pipeline/QuantizePipeline.h"

namespace lowbit {

void runSnapshotTeacher(QuantizeContext &ctx) {
  ctx.teacher = floatCopy(ctx.graph);
}

}  // namespace lowbit
