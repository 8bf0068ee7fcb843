// Per-op plan builders (one file per op family) and what they share.
#pragma once

#include "runtime/PlanBuilder.h"

namespace lowbit {

/// Ops whose output is the input's buffer under new dims (no copy).
bool isAliasOp(const std::string &opType);
/// Appends the oneDNN eltwise post-op for a fused Relu or Clip node \p act.
void appendActivationPostOp(const PlanBuilder &b, const Node &act, dnnl::post_ops &po);

void buildConv(PlanBuilder &b, const Node &n);
void buildGemm(PlanBuilder &b, const Node &n);
void buildMatMul(PlanBuilder &b, const Node &n);
void buildEltwise(PlanBuilder &b, const Node &n);
void buildBinary(PlanBuilder &b, const Node &n);
void buildPool(PlanBuilder &b, const Node &n);
void buildBatchNorm(PlanBuilder &b, const Node &n);
void buildSoftmax(PlanBuilder &b, const Node &n);
void buildReduceMean(PlanBuilder &b, const Node &n);
void buildConcat(PlanBuilder &b, const Node &n);
void buildAlias(PlanBuilder &b, const Node &n);
/// Cast of float data to another type; its result may only be a graph output.
void buildCastOut(PlanBuilder &b, const Node &n);
void buildDataMovement(PlanBuilder &b, const Node &n);  ///< Transpose, Slice, Pad, Gather, Split

}  // namespace lowbit
