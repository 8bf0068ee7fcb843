// The op table: one row per ONNX op lowbit runs, naming everything that handles it (its shape
// inference, whether the reference evaluator computes it, its float-runner builder, what the
// int8 runner does with it, its training-layer builder). Adding an op is one row here plus its
// functions; the supported-op list, shape inference, constant folding, the float runner's
// dispatch, the integer lowering's pass-through set, the gradient table and
// `lowbit inspect --list-ops` all read this table.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"

namespace lowbit {

class PlanBuilder;
namespace train {
class NetworkBuilder;
}

/// What the int8 runner does with an op.
enum class Int8Role {
  None,          ///< runs in float (between a DequantizeLinear and a QuantizeLinear)
  Integer,       ///< computed on codes: Conv/Gemm as integer kernels, fused Add/Relu/Clip, Q/DQ
  CodesPassThrough,  ///< moves or selects elements, so 8-bit codes pass through it unchanged
};

struct OpInfo {
  const char *opType;
  int64_t minOpset;  ///< the oldest opset whose definition lowbit reads (older: legacy attributes)
  void (*inferShapes)(Node &n, int64_t opset);              ///< output types and shapes
  bool evaluates;                                           ///< the reference evaluator (Evaluate.h) computes it
  void (*buildRunner)(PlanBuilder &b, const Node &n);       ///< float runner; null: folded before planning
  Int8Role int8;
  void (*buildLayer)(train::NetworkBuilder &b, const Node &n);  ///< training layer; null: not differentiable
};

/// Every op of the default ONNX domain lowbit supports, sorted by name.
const std::vector<OpInfo> &opTable();
/// \p opType's row (default domain), or null.
const OpInfo *findOp(const std::string &opType);

}  // namespace lowbit
