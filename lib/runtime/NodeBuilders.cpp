#include <algorithm>

#include "ops/Evaluate.h"
#include "ops/OpParams.h"
#include "ops/OpTable.h"
#include "quant/QuantRules.h"
#include "runtime/NodeBuilders.h"
#include "support/Strings.h"

namespace lowbit {

namespace {

bool isEmpty(const Value *v) { return v && v->hasShape() && numElements(v->dims()) == 0; }

}  // namespace

void buildNode(PlanBuilder &b, const Node &n) {
  if (n.fusedInto || b.isComputed(&n)) return;  // computed by the node it is fused into
  // Empty float results need no computation (and some oneDNN primitives divide by a zero dim).
  if (!n.outputs().empty() && std::all_of(n.outputs().begin(), n.outputs().end(), [](const Value *o) {
        return !o || (isEmpty(o) && o->dtype() == DType::Float32);
      })) {
    for (const Value *o : n.outputs())
      if (o) b.define(o, b.newMemory(plainDesc(o->dims())));
    return;
  }
  if (isWeightLayer(n))
    for (const Value *in : n.inputs())
      if (isEmpty(in))
        throw Error(cat(n.describe(), ": reads the empty tensor '", in->name(), "' ", shapeString(in->dims()),
                        " into a non-empty result; lowbit does not reduce over an empty dimension"));
  if (n.opType() == "QConv") return buildQConv(b, n);
  if (n.opType() == "QGemm") return buildQGemm(b, n);
  if (n.opType() == "QRescale") return buildQRescale(b, n);
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
  if (n.opType() == "DequantizeLinear" || n.opType() == "DynamicQuantizeLinear") return buildEvaluated(b, n);
  // Training-mode Dropout: its mask comes from a seeded generator, not from oneDNN.
  if (n.opType() == "Dropout" && dropoutDrops(n)) return buildEvaluated(b, n);
  // Ops with no oneDNN path (comparisons, Where, ArgMax, ...) and float-path ops given other
  // data: the reference evaluator, which reads and writes any element type.
  if (runsOnEvaluator(n)) return buildEvaluated(b, n);
  for (const Value *out : n.outputs())
    if (out && out->dtype() != DType::Float32)
      throw Error(cat(n.describe(), ": produces ", dtypeName(out->dtype()), " data at run time ('",
                      out->name(), "'); the float runner computes float32 tensors only"));
  for (const Value *in : n.inputs())
    if (in && !in->isConstant() && in->dtype() != DType::Float32)
      throw Error(cat(n.describe(), ": reads ", dtypeName(in->dtype()), " data at run time ('",
                      in->name(), "'); the float runner computes float32 tensors only"));
  if (n.opType() == "CodeConv") return buildCodeConv(b, n);
  const OpInfo *op = n.domain().empty() ? findOp(n.opType()) : nullptr;
  if (op && op->buildRunner) return op->buildRunner(b, n);
  throw Error(cat(n.describe(), ": the float runner cannot execute this op"));
}

}  // namespace lowbit
