// LowerToInteger (pass)
//   Requires: a QDQ graph (lowbit's exports or ONNX Runtime-style), shapes inferred, constants
//             not folded yet (weight DequantizeLinear nodes still present).
//   Produces: the integer form the int8 runner executes. A Conv / Gemm whose weight is a
//             symmetric int8 DequantizeLinear of a constant becomes a QConv / QGemm node:
//               inputs  x (integer codes; float in dynamic mode), w (int8 codes, quant params
//                       per channel), bias (float, model units, optional), residual operand
//                       (optional; integer codes or float)
//               attrs   the Conv/Gemm attributes, act_lo/act_hi (the fused Relu/Clip as one
//                       interval, model units), dynamic (1: activation scale per batch)
//               output  integer codes with quant params when every reader was a
//                       QuantizeLinear (requantization fused), float otherwise.
//             The following Add (residual) and Relu/Clip chain is absorbed. In static mode an
//             Add of two dequantized code tensors, or a Relu of one, read only by
//             QuantizeLinears of one set of parameters (ONNX Runtime's residual layout)
//             becomes a QRescale node:
//               inputs  one or two integer codes
//               attrs   in_scales, in_zero_points (per input, as the runner holds the codes),
//                       relu (1: clamp at 0 before quantizing)
//               output  integer codes with the QuantizeLinear's parameters.
//             Integer values keep
//             their code range in Value::quant; non-negative ones live in uint8 containers
//             (what oneDNN's int8 kernels take). Static mode keeps the calibrated activation
//             scales; dynamic mode drops activation QuantizeLinear/DequantizeLinear pairs and
//             quantizes inputs per batch.
//   Context: PassContext::integerTarget (required: the mode and what the target CPU multiplies
//             exactly) and loweringDecisions (one entry per Conv/Gemm/MatMul, graph order).
//   Leaves untouched (float, with the reason recorded): nodes whose input may be negative,
//             asymmetric activations, weights that are not symmetric int8 constants, MatMul.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"
#include "passes/IntegerTarget.h"

namespace lowbit {

/// Op types the int8 runner can execute on integer codes: Conv and Gemm (as QConv / QGemm),
/// Relu, Clip and Add (fused into them), the ops codes pass through unchanged, and the
/// QuantizeLinear / DequantizeLinear at the boundaries (sorted).
/// Every other op runs in float between a DequantizeLinear and a QuantizeLinear.
const std::vector<std::string> &integerOps();

/// True when every element of \p v is >= 0 by construction (Relu, Clip with min >= 0,
/// pooling/reshaping of such values, codes with a non-negative range).
bool isNonNegative(const Graph &g, const Value *v);

}  // namespace lowbit
