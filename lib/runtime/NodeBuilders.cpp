#include "ops/Evaluate.h"
#include "ops/OpParams.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

void buildNode(PlanBuilder &b, const Node &n) {
  if (n.fusedInto || b.isComputed(&n)) return;  // computed by the node it is fused into
  if (n.opType() == "QConv") return buildQConv(b, n);
  if (n.opType() == "QGemm") return buildQGemm(b, n);
  // Codes that integer nodes read (marked by LowerToInteger) live in memory.
  if (n.opType() == "QuantizeLinear" && n.output(0)->codes) return buildQuantizeCodes(b, n);
  if (n.opType() == "DequantizeLinear" && !n.input(0)->isConstant() && n.input(0)->codes)
    return buildDequantizeCodes(b, n);
  if (n.opType() == "QuantizeLinear") return buildQuantize(b, n);
  // Codes moved by lowerToInteger's DequantizeLinear sinking: copies of 8-bit elements.
  if (n.input(0) && n.input(0)->codes && !n.input(0)->isConstant() && n.input(0)->dtype() != DType::Float32) {
    if (n.opType() == "Slice" || n.opType() == "Pad" || n.opType() == "Transpose") return buildDataMovement(b, n);
    if (isAliasOp(n.opType())) return buildAlias(b, n);
    if (n.opType() == "MaxPool") return buildPool(b, n);
    if (n.opType() == "Concat") return buildConcat(b, n);
  }
  if (n.opType() == "Cast" && n.output(0)->dtype() != DType::Float32) return buildEvaluated(b, n);
  // MaxPool compares 8-bit data as it is, and its Indices output is int64.
  if (n.opType() == "MaxPool") return buildPool(b, n);
  // Other ops on 8-bit data (not codes the integer lowering planned): the reference evaluator.
  for (const Value *in : n.inputs())
    if (in && !in->isConstant() && (in->dtype() == DType::UInt8 || in->dtype() == DType::Int8) && canEvaluate(n))
      return buildEvaluated(b, n);
  if (n.opType() == "DequantizeLinear") return buildEvaluated(b, n);
  // Training-mode Dropout: its mask comes from a seeded generator, not from oneDNN.
  if (n.opType() == "Dropout" && dropoutDrops(n)) return buildEvaluated(b, n);
  for (const Value *out : n.outputs())
    if (out && out->dtype() != DType::Float32)
      throw Error(cat(n.describe(), ": produces ", dtypeName(out->dtype()), " data at run time ('",
                      out->name(), "'); the float runner computes float32 tensors only"));
  for (const Value *in : n.inputs())
    if (in && !in->isConstant() && in->dtype() != DType::Float32)
      throw Error(cat(n.describe(), ": reads ", dtypeName(in->dtype()), " data at run time ('",
                      in->name(), "'); the float runner computes float32 tensors only"));
  const std::string &op = n.opType();
  if (op == "Conv") return buildConv(b, n);
  if (op == "CodeConv") return buildCodeConv(b, n);
  if (op == "Gemm") return buildGemm(b, n);
  if (op == "MatMul") return buildMatMul(b, n);
  if (op == "Relu" || op == "Clip" || op == "Sigmoid" || op == "HardSigmoid" || op == "HardSwish")
    return buildEltwise(b, n);
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return buildBinary(b, n);
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") return buildPool(b, n);
  if (op == "BatchNormalization") return buildBatchNorm(b, n);
  if (op == "Softmax") return buildSoftmax(b, n);
  if (op == "ReduceMean") return buildReduceMean(b, n);
  if (op == "Concat") return buildConcat(b, n);
  if (isAliasOp(op)) return buildAlias(b, n);
  if (op == "Transpose" || op == "Slice" || op == "Pad" || op == "Gather" || op == "Split")
    return buildDataMovement(b, n);
  throw Error(cat(n.describe(), ": the float runner cannot execute this op"));
}

}  // namespace lowbit
