// Per-op plan builders (one file per op family) and what they share.
#pragma once

#include "ops/OpParams.h"
#include "runtime/PlanBuilder.h"

namespace lowbit {

/// Ops whose output is the input's buffer under new dims (no copy).
bool isAliasOp(const std::string &opType);
/// A Conv's geometry as oneDNN takes it: dilations counted from 0, grouped weights as
/// {G, OC/G, IC/G, k...}. Error naming \p n for ranks other than 1-D to 3-D convolutions.
struct ConvShape {
  Dims wDims;
  WindowGeometry geo;
  Dims dil;
};
ConvShape convShape(const Node &n);

/// True if \p writer may accumulate into \p other's buffer: no graph input/output/constant,
/// and nothing but \p sumReader (the node the sum stands for) reads it at or after \p writer.
bool canOverwrite(const Graph &g, const Node &writer, const Value *other, const Node *sumReader);
/// Appends the oneDNN eltwise post-op for a fused Relu or Clip node \p act.
void appendActivationPostOp(const PlanBuilder &b, const Node &act, dnnl::post_ops &po);
/// x * gate(x) for the gate op \p gateOp (Sigmoid: swish; HardSigmoid 1/6, 1/2: hardswish).
void appendSelfGatedPostOp(const std::string &gateOp, dnnl::post_ops &po);

void buildConv(PlanBuilder &b, const Node &n);
void buildConvTranspose(PlanBuilder &b, const Node &n);
/// CodeConv of ConvInCodeUnits: the convolution on centered input codes and weight codes.
void buildCodeConv(PlanBuilder &b, const Node &n);
void buildGemm(PlanBuilder &b, const Node &n);
void buildMatMul(PlanBuilder &b, const Node &n);
void buildEltwise(PlanBuilder &b, const Node &n);
void buildBinary(PlanBuilder &b, const Node &n);
void buildVariadic(PlanBuilder &b, const Node &n);  // Sum, Mean, Max, Min
void buildPool(PlanBuilder &b, const Node &n);
void buildBatchNorm(PlanBuilder &b, const Node &n);
void buildSoftmax(PlanBuilder &b, const Node &n);
void buildLrn(PlanBuilder &b, const Node &n);
void buildRowNormalization(PlanBuilder &b, const Node &n);  // LayerNormalization, InstanceNormalization
void buildReduce(PlanBuilder &b, const Node &n);  // ReduceMean, ReduceSum, ReduceMax, ...
void buildConcat(PlanBuilder &b, const Node &n);
void buildAlias(PlanBuilder &b, const Node &n);
/// A node computed at run time by the reference evaluator (evaluate()) on plain buffers:
/// Cast to other types, QuantizeLinear codes as graph outputs, DequantizeLinear with run-time
/// scales, and the ops with no oneDNN path (comparisons, Where, Expand, Tile, ArgMax, ...).
/// Non-float results may only be graph outputs or read by nodes that run on the evaluator too.
void buildEvaluated(PlanBuilder &b, const Node &n);
void buildPow(PlanBuilder &b, const Node &n);  // oneDNN eltwise_pow for a constant exponent, else evaluated
/// Whether \p n reads or writes data that is not float32 at run time (integer shape arithmetic,
/// masks, float64): the builders that have a oneDNN path for float32 run such a node on the
/// evaluator.
bool readsNonFloatData(const Node &n);
/// Whether the float runner computes \p n on the reference evaluator, which reads any element
/// type (so a value of another type may flow into it).
bool runsOnEvaluator(const Node &n);
/// QuantizeLinear: with its DequantizeLinear reader, one fake-quant step (quantize-dequantize
/// in float, the simulation of quantized execution); alone, a graph output of integer codes.
void buildQuantize(PlanBuilder &b, const Node &n);
/// Integer runner (nodes made by lowerToInteger): QConv, QGemm, QuantizeLinear to codes that
/// integer nodes read, DequantizeLinear of such codes.
void buildQConv(PlanBuilder &b, const Node &n);
void buildQGemm(PlanBuilder &b, const Node &n);
void buildQuantizeCodes(PlanBuilder &b, const Node &n);
void buildDequantizeCodes(PlanBuilder &b, const Node &n);
/// QRescale (LowerToInteger): codes of one or two operands dequantized, summed, through an
/// optional Relu and quantized to the output's codes, on the host (kernels/IntegerKernels).
void buildQRescale(PlanBuilder &b, const Node &n);
void buildDataMovement(PlanBuilder &b, const Node &n);  ///< Transpose, Slice, Pad, Gather, Split

}  // namespace lowbit
