// Output types and shapes of every supported op from its inputs' types and shapes.
#pragma once

#include "ir/Graph.h"

namespace lowbit {

/// Sets dtype and (where the inputs allow) shape of \p n's outputs. Unknown dims (-1) are
/// propagated. Throws Error naming \p n for inconsistent inputs or unsupported attributes.
void inferNodeShapes(Node &n, int64_t opset);

/// Runs inferNodeShapes over \p g in order; with \p skipUnsupported, nodes of unsupported
/// ops are passed over (their outputs keep whatever the model declared).
void inferShapes(Graph &g, bool skipUnsupported = false);

/// Error naming \p n when one of its outputs with a known shape needs more bytes than the
/// machine's physical memory (an Expand or Tile a hostile file asks for): checked before the
/// runner or constant folding allocates it.
void requireOutputsFitInMemory(const Node &n);

/// Each op's shape rule, named by its row of the op table (OpTable.cpp).
namespace shapes {
void inferSameShape(Node &n, int64_t opset);
void inferQuantizeDequantize(Node &n, int64_t opset);
void inferDropout(Node &n, int64_t opset);
void inferDynamicQuantizeLinear(Node &n, int64_t opset);
void inferElementwiseBinary(Node &n, int64_t opset);
/// One or more inputs of one type broadcast together (Sum, Mean, Max, Min).
void inferBroadcast(Node &n, int64_t opset);
void inferPRelu(Node &n, int64_t opset);
void inferCompare(Node &n, int64_t opset);  ///< Equal, Greater, ..., And, Or, Xor: BOOL results
void inferPow(Node &n, int64_t opset);
void inferWhere(Node &n, int64_t opset);
void inferExpandTile(Node &n, int64_t opset);
void inferArgExtreme(Node &n, int64_t opset);
void inferResize(Node &n, int64_t opset);
void inferConvTranspose(Node &n, int64_t opset);
void inferGatherElements(Node &n, int64_t opset);
void inferGatherND(Node &n, int64_t opset);  ///< Resize, Upsample
void inferRowNormalization(Node &n, int64_t opset);  ///< LayerNormalization, InstanceNormalization
void inferConv(Node &n, int64_t opset);
void inferPool(Node &n, int64_t opset);
void inferGlobalAveragePool(Node &n, int64_t opset);
void inferBatchNormalization(Node &n, int64_t opset);
void inferGemm(Node &n, int64_t opset);
void inferMatMul(Node &n, int64_t opset);
void inferFlatten(Node &n, int64_t opset);
void inferReshape(Node &n, int64_t opset);
void inferTranspose(Node &n, int64_t opset);
void inferConcat(Node &n, int64_t opset);
void inferSplit(Node &n, int64_t opset);
void inferSlice(Node &n, int64_t opset);
void inferPad(Node &n, int64_t opset);
void inferSoftmax(Node &n, int64_t opset);
/// ReduceMean, ReduceSum, ReduceMax, ... (OpParams' reduction()).
void inferReduce(Node &n, int64_t opset);
void inferShape(Node &n, int64_t opset);
void inferGather(Node &n, int64_t opset);
void inferUnsqueezeSqueeze(Node &n, int64_t opset);
void inferConstantOfShape(Node &n, int64_t opset);
}  // namespace shapes

}  // namespace lowbit
